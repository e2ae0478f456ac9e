"""Onsets of growth or decay per pixel: a hinge (constant, then an exponential rise or decay) fitted with the engine.

:func:`onset` fits ``H(t) = baseline + amplitude · (1 − exp(−max(t − onset, 0)/tau))`` to every pixel's
trace in two stages, both batched over pixels through ``xp``:

1. a global profile search: for every candidate onset (each frame) and time constant (a log grid) the
   model is linear in its amplitudes, so one batched weighted least-squares solve per candidate gives
   the χ² of all of them at once, and the best one is the start — no local minimum of the kinked
   hinge can trap the fit, and the constant model's χ² comes out of the same sums;
2. the refinement by :func:`hyperspec.fit.curves.fit_curves` (the registered ``onset_exp`` model, or with
   ``periods`` the hinge times blinking, ``H(t) · (1 + Σᵢ cᵢ cos 2πt/Pᵢ + sᵢ sin 2πt/Pᵢ)``) whose
   covariance gives the standard errors.

Blinking is a large, correlated residual for a bare hinge: pass the blinking periods (from
``hyperspec.kinetics.periods`` or known) so that the hinge and the blinking are fitted jointly; then
onsets come out within a frame. ``kind`` is ``"none"`` when the constant (plus the same blinking) has the
lower BIC, or when the onset is not identifiable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, resolve_backend
from hyperspec.fit.curves import CURVE_STATUS_MEANINGS, CurveModel, fit_curves
from hyperspec.fit.results import FLAT
from hyperspec.kinetics._traces import apply_series, series_axis

__all__ = ["onset", "onset_kind_names", "KIND_MEANINGS", "ONSET_STATUS_MEANINGS"]

_FUNC = "kinetics.onset"
#: Codes of ``kind``: 0 no onset (a constant is preferred or the onset is not identifiable), 1 growth, 2 decay.
KIND_MEANINGS = {0: "none", 1: "growth", 2: "decay"}
#: Status codes of :func:`onset`: ``fit_curves``' codes (the engine's ``FitStatus`` and 9 ``at_bound``) plus
#: ``FLAT`` (7, a constant trace).
ONSET_STATUS_MEANINGS = {**CURVE_STATUS_MEANINGS, FLAT: "flat"}
#: Fewest points a trace needs: the hinge's 4 parameters, 3 per blinking period, and 4 to spare.
MIN_POINTS = 8


def _centre(x):
    return x - 0.5 * (x[0] + x[-1])


@functools.lru_cache(maxsize=8)
def _hinge_blink(n: int) -> CurveModel:
    """The hinge times ``1 + n`` free sinusoids (phase origin at the trace's middle)."""
    names = ["baseline", "amplitude", "onset", "tau"]
    for i in range(1, n + 1):
        names += [f"period_{i}", f"cos_{i}", f"sin_{i}"]

    def parts(xp, x, p):
        base, amp, t0, tau = (p[:, i : i + 1] for i in range(4))
        dt = x[None, :] - t0
        after = dt > 0
        dtp = xp.where(after, dt, 0.0)
        e = xp.exp(-dtp / tau)
        h = base + amp * (1.0 - e)
        tc = _centre(x)[None, :]
        s = xp.ones_like(h)
        trig = []
        for i in range(n):
            period, c, sn = (p[:, 4 + 3 * i + k : 5 + 3 * i + k] for k in range(3))
            ph = 2 * np.pi * tc / period
            cs, si = xp.cos(ph), xp.sin(ph)
            s = s + c * cs + sn * si
            trig.append((period, c, sn, cs, si))
        return h, s, (amp, tau, e, after, dtp), trig, tc

    def function(xp, x, p):
        h, s, _, _, _ = parts(xp, x, p)
        return h * s

    def jacobian(xp, x, p):
        h, s, (amp, tau, e, after, dtp), trig, tc = parts(xp, x, p)
        cols = [s, (1.0 - e) * s, xp.where(after, -amp * e / tau, 0.0) * s, -amp * e * dtp / tau**2 * s]
        for period, c, sn, cs, si in trig:
            cols += [h * (c * si - sn * cs) * 2 * np.pi * tc / period**2, h * cs, h * si]
        return xp.stack(cols, axis=-1)

    return CurveModel(
        f"onset_blink_{n}",
        tuple(names),
        function=function,
        jacobian=jacobian,
        bounds={"tau": (1e-9, np.inf), **{f"period_{i}": (1e-9, np.inf) for i in range(1, n + 1)}},
        units={"baseline": "signal", "amplitude": "signal", "onset": "s", "tau": "s"},
        x_units="s",
        equation="y = (baseline + amplitude·(1 − exp(−max(t − onset, 0)/tau))) · (1 + Σ cos_i·cos(2π(t−t_mid)/period_i) + sin_i·sin(…))",
        description="onset of growth or decay under multiplicative blinking",
    )


def _grid(xp, x_host, y, w, periods, n_onsets, n_taus, budget):
    """Profile search over (onset, tau) and the constant model for rows ``y`` (n, m), weights ``w``."""
    m = y.shape[-1]
    n = y.shape[0]
    x = xp.asarray(x_host)
    step = float(x_host[1] - x_host[0])
    span = float(x_host[-1] - x_host[0])
    # candidates: onsets on the frames (leaving ≥ 3 points after), taus on a log grid
    t0s = x_host[: m - 3]
    if t0s.size > n_onsets:
        t0s = t0s[np.unique(np.round(np.linspace(0, t0s.size - 1, n_onsets)).astype(int))]
    taus = np.geomspace(0.5 * step, 2.0 * span, n_taus)
    T0, TAU = (a.ravel() for a in np.meshgrid(t0s, taus, indexing="ij"))
    T0x, TAUx = xp.asarray(T0), xp.asarray(TAU)
    G = -xp.expm1(-xp.maximum(x[None, :] - T0x[:, None], 0.0) / TAUx[:, None])  # (C, m)
    tc = xp.asarray(_centre(x_host))
    Q = [xp.ones(m)]
    for per in periods:
        Q += [xp.cos(2 * np.pi * tc / per), xp.sin(2 * np.pi * tc / per)]
    Q = xp.stack(Q)  # (q0, m)
    q0 = Q.shape[0]
    q = q0 + 1
    C = T0.size
    ok = w > 0
    y = xp.where(ok, y, 0.0)
    out = {k: xp.full(n, xp.nan) for k in ("baseline", "amplitude", "onset", "tau", "chi2_const", "mean_const")}
    trig = xp.full((n, 2 * len(periods)), xp.nan)
    wyy = (w * y * y).sum(axis=1)
    batch = max(1, budget // (C * q * q))
    eye = xp.eye(q)
    for s in range(0, n, batch):
        sl = slice(s, min(n, s + batch))
        wb, yb = w[sl], y[sl]
        wyb = wb * yb
        A0 = xp.einsum("bm,jm,km->bjk", wb, Q, Q)
        r0 = wyb @ Q.T
        # constant (+ blinking at the given periods)
        ridge0 = 1e-12 * xp.trace(A0, axis1=1, axis2=2)[:, None, None] * xp.eye(q0) + 1e-300 * xp.eye(q0)
        beta0 = xp.linalg.solve(A0 + ridge0, r0[:, :, None])[:, :, 0]
        out["chi2_const"][sl] = wyy[sl] - (beta0 * r0).sum(axis=1)
        out["mean_const"][sl] = beta0[:, 0]
        b = wb.shape[0]
        A = xp.empty((b, C, q, q))
        A[:, :, :q0, :q0] = A0[:, None]
        wgq = xp.stack([(wb * Q[j]) @ G.T for j in range(q0)], axis=-1)  # (b, C, q0)
        A[:, :, :q0, q0] = wgq
        A[:, :, q0, :q0] = wgq
        A[:, :, q0, q0] = wb @ (G * G).T
        rhs = xp.empty((b, C, q))
        rhs[:, :, :q0] = r0[:, None, :]
        rhs[:, :, q0] = wyb @ G.T
        diag = xp.trace(A, axis1=2, axis2=3)[..., None, None]
        beta = xp.linalg.solve(A + (1e-12 * diag + 1e-300) * eye, rhs[..., None])[..., 0]
        chi2 = wyy[sl, None] - (beta * rhs).sum(axis=-1)
        chi2 = xp.where(xp.isfinite(chi2), chi2, xp.inf)
        best = xp.argmin(chi2, axis=1)
        rows = xp.arange(b)
        bb = beta[rows, best]  # (b, q)
        base, amp = bb[:, 0], bb[:, q0]
        out["baseline"][sl], out["amplitude"][sl] = base, amp
        out["onset"][sl], out["tau"][sl] = T0x[best], TAUx[best]
        if periods:
            # additive blinking amplitudes → relative (multiplicative) ones, over the mean of the hinge
            h = base[:, None] + amp[:, None] * G[best]
            hbar = (wb * h).sum(axis=1) / xp.maximum(wb.sum(axis=1), 1e-300)
            trig[sl] = bb[:, 1:q0] / xp.where(hbar == 0, 1.0, hbar)[:, None]
    n_ok = ok.sum(axis=1).astype(xp.float64)
    spread = xp.max(xp.where(ok, y, -xp.inf), axis=1) - xp.min(xp.where(ok, y, xp.inf), axis=1)
    scale = xp.max(xp.abs(y), axis=1)
    out["flat"] = (n_ok > 0) & (spread <= 1e-12 * scale)
    out["trig"] = trig
    return out


def _onset_kernel(xp, y, *rest, x_host, dim, periods, free_periods, weighted, poisson, min_z, n_onsets, n_taus, max_iter):
    """Start search, LM refinement, BIC and kind for a block (..., T) of traces; one array per output."""
    shape = y.shape[:-1]
    m = y.shape[-1]
    y = xp.asarray(y, dtype=xp.float64).reshape(-1, m)
    n = y.shape[0]
    if weighted:
        w = xp.broadcast_to(xp.asarray(rest[0], dtype=xp.float64).reshape(-1, m), (n, m))
    elif poisson:
        w = 1.0 / xp.maximum(y, 1.0)
    else:
        w = xp.ones((n, m))
    w = xp.where(xp.isfinite(y) & xp.isfinite(w) & (w > 0), w, 0.0)
    g = _grid(xp, x_host, y, w, periods, n_onsets, n_taus, 4_000_000)
    n_per = len(periods)
    step = float(x_host[1] - x_host[0])
    span = float(x_host[-1] - x_host[0])

    def pix(v):
        return xr.DataArray(v, dims=("pixel",))

    p0 = {
        k: pix(xp.where(xp.isfinite(g[k]), g[k], d))
        for k, d in (("baseline", 0.0), ("amplitude", 0.0), ("onset", x_host[0]), ("tau", step))
    }
    fixed, bounds = None, {}
    if n_per:
        model = _hinge_blink(n_per)
        trig = xp.where(xp.isfinite(g["trig"]), g["trig"], 0.0)
        for i, per in enumerate(periods, start=1):
            p0[f"cos_{i}"], p0[f"sin_{i}"] = pix(trig[:, 2 * i - 2]), pix(trig[:, 2 * i - 1])
            p0[f"period_{i}"] = per
            bounds[f"period_{i}"] = (0.5 * per, 2.0 * per)
        if not free_periods:
            fixed = {f"period_{i}": per for i, per in enumerate(periods, start=1)}
            p0 = {k: v for k, v in p0.items() if k not in fixed}
    else:
        model = "onset_exp"
    bounds.update(onset=(float(x_host[0]), float(x_host[-4])), tau=(0.05 * step, 20.0 * span))
    da = xr.DataArray(xp.where(w > 0, y, xp.nan), dims=("pixel", dim), coords={dim: x_host})
    wda = xr.DataArray(w, dims=("pixel", dim), coords={dim: x_host}) if weighted else ("poisson" if poisson else None)
    # degenerate (no-onset) rows can overflow the engine's gain ratio: harmless, not a user warning
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        # the block is already where it runs: a NumPy Backend moves nothing (a device block stays on the device)
        res = fit_curves(da, model, dim, p0=p0, bounds=bounds, fixed=fixed, weights=wda, absolute_weights=weighted, max_iter=max_iter,
                         backend=resolve_backend("numpy"))  # fmt: skip
    r = {k: xp.asarray(v.data) for k, v in res.data_vars.items()}
    if weighted:
        # the given errors set the weights; a misfit (χ²_red > 1) widens the errors, never narrows them
        inflate = xp.sqrt(xp.maximum(xp.where(xp.isfinite(r["chi2_red"]), r["chi2_red"], 1.0), 1.0))
        for k in list(r):
            if k.endswith("_stderr"):
                r[k] = r[k] * inflate
    n_pts = r["n_points"].astype(xp.float64)
    n_free = 4 + 3 * n_per - (0 if free_periods else n_per)
    n_const = 1 + 2 * n_per
    with np.errstate(divide="ignore", invalid="ignore"):
        rss_h = r["chi2_red"] * xp.maximum(n_pts - n_free, 1.0)
        rss_c = xp.maximum(g["chi2_const"], 0.0)
        npos = xp.maximum(n_pts, 1.0)
        bic_h = n_pts * xp.log(xp.maximum(rss_h, 1e-300) / npos) + n_free * xp.log(npos)
        bic_c = n_pts * xp.log(xp.maximum(rss_c, 1e-300) / npos) + n_const * xp.log(npos)
        delta = bic_c - bic_h
        amp, amp_se, on_se = r["amplitude"], r["amplitude_stderr"], r["onset_stderr"]
        status = r["status"]
        good = (status == 0) | (status == 1) | (status == 5) | (status == 9)  # at_bound: judged by ident and BIC as before
        ident = xp.isfinite(on_se) & (on_se < 0.25 * span) & xp.isfinite(amp_se) & (xp.abs(amp) >= min_z * amp_se)
        has = good & ident & (delta > 0) & ~g["flat"]
    kind = xp.where(has, xp.where(amp > 0, 1.0, 2.0), 0.0)
    nan = xp.nan
    outs = []
    for src in ("onset", "tau", "amplitude", "baseline"):
        val = xp.where(has, r[src], g["mean_const"] if src == "baseline" else nan)
        outs += [val, xp.where(has, r[f"{src}_stderr"], nan)]
    outs += [xp.where(g["flat"], nan, r[f"period_{i}"]) for i in range(1, n_per + 1)]
    outs += [kind, xp.where(g["flat"], nan, delta), xp.where(g["flat"], nan, r["chi2_red"])]
    outs += [xp.where(g["flat"], float(FLAT), status.astype(xp.float64)), n_pts]
    return tuple(o.reshape(shape) for o in outs)


def onset_kind_names(kind: xr.DataArray) -> xr.DataArray:
    """The string view of ``kind`` codes: ``"none"``, ``"growth"`` or ``"decay"`` per pixel.

    Parameters
    ----------
    kind : xarray.DataArray
        The ``kind`` variable of :func:`onset` (int8 codes, see ``KIND_MEANINGS``).

    Returns
    -------
    xarray.DataArray
        Strings (dtype ``<U6``) on the same dims (computed: a lazy ``kind`` is evaluated).

    Examples
    --------
    >>> import xarray as xr, numpy as np
    >>> onset_kind_names(xr.DataArray(np.array([0, 1, 2], dtype=np.int8), dims="x")).values.tolist()
    ['none', 'growth', 'decay']
    """
    codes = np.asarray(kind.values)
    names = np.array([KIND_MEANINGS[k] for k in sorted(KIND_MEANINGS)])
    return xr.DataArray(names[codes.astype(int)], dims=kind.dims, coords=kind.coords, name="kind_name")


def onset(
    trace: xr.DataArray,
    dim: str = "t",
    *,
    periods: Sequence[float] | None = None,
    free_periods: bool = True,
    stderr: xr.DataArray | None = None,
    weights: str | None = None,
    min_z: float = 3.0,
    n_onsets: int = 200,
    n_taus: int = 12,
    max_iter: int = 200,
    backend: str | Backend | None = None,
) -> xr.Dataset:
    """Onset time, time constant and kind (growth, decay, none) of every pixel's trace along ``dim``.

    Parameters
    ----------
    trace : xarray.DataArray
        Intensities (e.g. ``results["aspl_area"]`` of a kinetic map) with the time dim ``dim`` — a
        uniform coordinate in s (resample others with ``hyperspec.kinetics.resample``) — and any pixel
        dims. NaN/inf frames are ignored and counted (``n_points``). Lazy (Dask) input gives lazy output.
    dim : str, optional
        The time dim. Default ``"t"``.
    periods : sequence of float, optional
        Blinking periods, s (e.g. ``(1.9, 1.5)``, from ``kinetics.periods``): the hinge is fitted times
        ``1 + Σ`` sinusoids at these periods (their amplitudes and phases free per pixel). Default None:
        the bare hinge (onsets under strong blinking are then off by a fraction of a blinking period).
    free_periods : bool, optional
        Refine the periods per pixel (start at ``periods``). Default True; False holds them.
    stderr : xarray.DataArray, optional
        Standard errors of ``trace`` (same units, broadcastable): weights 1/stderr²; the standard errors of
        the results are scaled by √max(χ²_red, 1) (a misfit widens them, a small χ²_red never narrows
        them).
    weights : {None, "poisson"}, optional
        Without ``stderr``: None (uniform, default) or ``"poisson"`` (1/max(y, 1), counts). The
        standard errors are then scaled by χ²_red.
    min_z : float, optional
        An onset counts only when ``|amplitude| ≥ min_z · amplitude_stderr`` (and its onset has a finite
        error below a quarter of the trace's span); otherwise ``kind`` is none. Default 3.
    n_onsets, n_taus : int, optional
        Candidate onsets (frames, thinned to ``n_onsets``) and time constants (log-spaced from half a
        frame to twice the span) of the start search. Defaults 200 and 12.
    max_iter : int, optional
        Levenberg–Marquardt iterations per pixel. Default 200.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where the numerics run. Default None: ``$HYPERSPEC_BACKEND``, else ``"auto"`` (CuPy when a GPU is usable);
        CuPy-backed data stay on the device.

    Returns
    -------
    xarray.Dataset
        On the pixel dims: ``onset_s`` and ``onset_s_stderr`` (s), ``tau_s`` and ``tau_s_stderr`` (s),
        ``amplitude`` and ``amplitude_stderr`` (trace units; > 0 growth, < 0 decay), ``baseline`` and
        ``baseline_stderr`` (trace units, the level before the onset); these are NaN where ``kind`` is
        none, except ``baseline``, then the trace's (blinking-corrected) mean. ``kind`` (int8: 0 none,
        1 growth, 2 decay; CF ``flag_values``/``flag_meanings``; :func:`onset_kind_names` gives strings),
        ``delta_bic`` (BIC of the constant minus BIC of the hinge: > 0 favours the onset), ``chi2_red``,
        ``status`` (int8: the engine's codes, 7 flat — a constant trace, not fitted), ``n_points``
        (frames used), ``n_masked`` (NaN/inf frames ignored) and, with ``periods``, the fitted ``period_i`` (s).

    Raises
    ------
    hyperspec.DataModelError
        ``trace`` is not a DataArray, has no ``dim`` or no coordinate on it, its times are not numeric,
        finite, strictly increasing and uniform, or there are fewer than 8 frames (plus 3 per period).
    ValueError
        Bad ``periods`` (not positive numbers), ``weights``, ``stderr``, ``min_z``, ``n_onsets``,
        ``n_taus`` or ``max_iter``.

    Examples
    --------
    A growth from 3 s (τ = 1.5 s) and a constant, 0.2 s frames:

    >>> import numpy as np, xarray as xr
    >>> t = np.arange(60) * 0.2
    >>> grow = 10 + 5 * np.where(t > 3, -np.expm1(-(t - 3) / 1.5), 0)
    >>> noise = np.random.default_rng(0).normal(0, 0.05, (2, 60))
    >>> tr = xr.DataArray(np.stack([grow, np.full(60, 10.0)]) + noise, dims=("x", "t"), coords={"t": t})
    >>> res = onset(tr)
    >>> res["onset_s"].values.round(1).tolist(), onset_kind_names(res["kind"]).values.tolist()
    ([3.0, nan], ['growth', 'none'])
    """
    if periods is not None:
        try:
            periods = tuple(float(p) for p in periods)
        except (TypeError, ValueError):
            raise ValueError(f"{_FUNC}: `periods` must be a sequence of blinking periods in s, e.g. (1.9, 1.5); got {periods!r}.") from None
        if not periods or not all(math.isfinite(p) and p > 0 for p in periods):
            raise ValueError(f"{_FUNC}: `periods` must be positive, finite periods in s; got {periods!r}.")
    else:
        periods = ()
    n_per = len(periods)
    coord = series_axis(trace, dim, func=_FUNC, uniform=True, min_points=MIN_POINTS + 3 * n_per, units="s")
    if weights not in (None, "poisson"):
        raise ValueError(f"{_FUNC}: `weights` must be None or 'poisson' (pass standard errors as `stderr=`); got {weights!r}.")
    if stderr is not None and not isinstance(stderr, xr.DataArray):
        raise ValueError(f"{_FUNC}: `stderr` must be an xarray.DataArray like the trace (e.g. results['aspl_area_stderr']).")
    if not (isinstance(min_z, (int, float)) and min_z >= 0):
        raise ValueError(f"{_FUNC}: `min_z` must be a number ≥ 0; got {min_z!r}.")
    for nm, v, lo in (("n_onsets", n_onsets, 2), ("n_taus", n_taus, 1), ("max_iter", max_iter, 1)):
        if not isinstance(v, int) or v < lo:
            raise ValueError(f"{_FUNC}: `{nm}` must be an int ≥ {lo}; got {v!r}.")
    trace = trace.astype(np.float64)
    w_da = None
    if stderr is not None:
        se = stderr.astype(np.float64)
        w_da = xr.where(np.isfinite(se) & (se > 0), 1.0 / se**2, 0.0).broadcast_like(trace).transpose(*trace.dims)
    kern = functools.partial(
        _onset_kernel, x_host=coord, dim=dim, periods=periods, free_periods=bool(free_periods), weighted=w_da is not None,
        poisson=weights == "poisson" and w_da is None, min_z=float(min_z), n_onsets=n_onsets, n_taus=n_taus, max_iter=max_iter,
    )  # fmt: skip
    names = [n for v in ("onset_s", "tau_s", "amplitude", "baseline") for n in (v, f"{v}_stderr")]
    names += [f"period_{i}" for i in range(1, n_per + 1)] + ["kind", "delta_bic", "chi2_red", "status", "n_points"]
    outs = apply_series(kern, trace, dim, [(k, (), {}) for k in names], others=[w_da] if w_da is not None else [], backend=backend)
    out = xr.Dataset(dict(zip(names, outs, strict=True)))
    units = trace.attrs.get("units", "trace units")
    for v, u, what in (
        ("onset_s", "s", "onset time"),
        ("tau_s", "s", "time constant"),
        ("amplitude", units, "amplitude"),
        ("baseline", units, "level before the onset"),
    ):
        out[v].attrs = {"units": u, "long_name": f"hinge {what}"}
        out[f"{v}_stderr"].attrs = {"units": u, "long_name": f"standard error of {v}"}
    for i in range(1, n_per + 1):
        out[f"period_{i}"].attrs = {"units": "s", "long_name": f"blinking period {i}"}
    out["kind"] = (
        out["kind"]
        .astype(np.int8)
        .assign_attrs(
            long_name="onset kind",
            flag_values=np.array(sorted(KIND_MEANINGS), dtype=np.int8),
            flag_meanings=" ".join(KIND_MEANINGS[k] for k in sorted(KIND_MEANINGS)),
        )
    )
    out["delta_bic"].attrs = {"long_name": "BIC(constant) − BIC(hinge); > 0 favours an onset"}
    out["chi2_red"].attrs = {"long_name": "reduced chi-square of the hinge (weighted)", "units": "1"}
    out["status"] = (
        out["status"]
        .astype(np.int8)
        .assign_attrs(
            long_name="onset fit status",
            flag_values=np.array(sorted(ONSET_STATUS_MEANINGS), dtype=np.int8),
            flag_meanings=" ".join(ONSET_STATUS_MEANINGS[k] for k in sorted(ONSET_STATUS_MEANINGS)),
        )
    )
    out["n_points"] = out["n_points"].astype(np.int32).assign_attrs(long_name=f"finite frames used along {dim!r}")
    out["n_masked"] = (trace.sizes[dim] - out["n_points"]).astype(np.int32).assign_attrs(long_name=f"NaN/inf frames along {dim!r} ignored")
    out.attrs = {
        "model": "hinge" if not n_per else f"hinge x (1 + {n_per} sinusoids)",
        "equation": "y = baseline + amplitude · (1 − exp(−max(t − onset, 0)/tau))" + (" · (1 + Σ blinking)" if n_per else ""),
        "dim": dim,
        "periods_s": list(periods),
        "free_periods": int(bool(free_periods)),
        "weights": "1/stderr^2 (absolute)" if w_da is not None else (weights or "uniform"),
    }
    return out
