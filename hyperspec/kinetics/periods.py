"""Blinking periods of per-pixel traces, resolved below the FFT bin with honest standard errors.

:func:`periods` finds up to ``max_periods`` periodic components in every pixel's trace at once:

1. **Candidates** — a slow polynomial trend (degree ``trend`` in time scaled to [−1, 1]) is fitted by
   weighted least squares; the residual's zero-padded FFT periodogram gives the strongest peak in
   [``min_period_s``, ``max_period_s``] (parabolic interpolation between bins); that sinusoid is fitted
   jointly with the trend and removed (*prewhitening*) before the next peak is sought, so a strong
   line's side lobes are never taken for a second period.
2. **Refinement** — for k = 1 … ``max_periods`` the model with the first k candidates is fitted by the
   batched Levenberg–Marquardt engine (:func:`hyperspec.fit.lm.levenberg_marquardt`) with free periods,
   each held within one Rayleigh bin (1/span) of its candidate. By default the modulation is *relative*
   (:func:`modulated_sinusoids`: ``y = trend(t) · (1 + Σ sinusoids)``, how blinking multiplies a band's
   intensity while it grows or decays); ``modulation="additive"`` fits
   :func:`hyperspec.fit.curve_models.sinusoids` instead.
3. **Significance** — each added sinusoid's χ² reduction z = (χ²ₖ₋₁ − χ²ₖ)/χ²ₖ₋₁ is turned into a false-alarm
   probability with Baluev's (2008, MNRAS 385, 1279) bound for the maximum of a periodogram searched
   over the frequency range; candidates are accepted in order while their FAP is below ``fap``.
4. **Errors** — the engine's covariance (scaled by χ²_red) gives each period's standard error; where the
   residuals are not white (a trend the polynomial does not follow, an amplitude that varies, the model
   slightly wrong) the error is inflated by the ratio of the residual periodogram around the period to
   its mean (never deflated), because a frequency's error is set by the noise at that frequency.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, get_namespace
from hyperspec._errors import DataModelError
from hyperspec.fit.curve_models import _centre, sinusoid_param_names
from hyperspec.fit.curve_models import _sinusoid_fj as _fj
from hyperspec.fit.curve_models import _sinusoid_split as _split
from hyperspec.fit.curves import CurveModel
from hyperspec.fit.lm import FitStatus, levenberg_marquardt
from hyperspec.kinetics._traces import apply_series, series_axis, trace_name, uniform_step

__all__ = [
    "periods",
    "periodogram",
    "periodogram_guess",
    "modulated_sinusoids",
    "default_period_range",
    "PERIOD_STATUS_MEANINGS",
]

#: Status codes of :func:`periods` (stored as int8 with CF ``flag_values``/``flag_meanings``).
PERIOD_STATUS_MEANINGS = {0: "ok", 1: "flat", 2: "too_short", 3: "no_data", 4: "fit_failed"}
_OK, _FLAT, _SHORT, _NODATA, _FAILED = range(5)

#: Default lower end of the period search, in frames (Nyquist is 2 frames).
MIN_PERIOD_FRAMES = 2.5
#: Default upper end of the period search, as a fraction of the trace's span.
MAX_PERIOD_FRACTION = 1.0 / 3.0
#: A trace must span at least this many cycles of the longest period searched.
MIN_CYCLES = 2.0
#: Relative modulation is fitted where the trend never crosses below minus this fraction of its maximum (keeps its sign) …
REL_MIN_LEVEL = 0.05
#: … and the mean level is this many times the residual scatter; other pixels get the additive model.
REL_MIN_SNR = 3.0
#: Half-width of the band (in Rayleigh bins 1/span) around a period where the residual noise density is measured.
LOCAL_NOISE_BINS = 6.0
#: Relative step / gradient tolerance of the LM refinement (periods to ~1e-8 s at 1 s, far below their errors).
LM_TOL = 1e-8
#: Candidates whose preliminary (linear-fit) false-alarm probability exceeds this are not refined by LM.
PRE_FAP = 0.5
#: Floor on the local-noise ratio that scales z in the significance test (below 1 the FAP turns anti-conservative on white noise).
RHO_FLOOR = 1.0


# ---- the models ---------------------------------------------------------------------------------
def _modulated_f(xp, x, p, n, trend):
    return _fj(xp, x, p, n, trend, True, jac=False)[0]


def _modulated_j(xp, x, p, n, trend):
    return _fj(xp, x, p, n, trend, True)[1]


def modulated_sinusoids(n: int = 1, trend: int = 4) -> CurveModel:
    """``n`` sinusoids that modulate a slow polynomial trend: the default refinement model of :func:`periods`.

    y = T(u) · (1 + Σᵢ [cos_i·cos(2π τ/period_i) + sin_i·sin(2π τ/period_i)]), T(u) = Σⱼ trend_j·uʲ, with
    τ = t − t_mid (s) and u = τ / (half the span) — the same parameter names and phase origin as
    :func:`hyperspec.fit.curve_models.sinusoids`, but ``cos_i``/``sin_i`` are *relative* (fractions of
    the trend), as when blinking multiplies a band's intensity while it grows or decays.

    Parameters
    ----------
    n : int, optional
        Number of sinusoids (≥ 1). Default 1.
    trend : int, optional
        Degree of the trend polynomial (≥ 0). Default 4.

    Returns
    -------
    CurveModel
        Named ``"modulated_sinusoids"`` (not registered; pass the object to
        :func:`hyperspec.fit.curves.fit_curves`); its guess is the prewhitened periodogram.

    Raises
    ------
    ValueError
        ``n`` < 1 or ``trend`` < 0.

    Examples
    --------
    >>> import numpy as np
    >>> m = modulated_sinusoids(1, 0)
    >>> m.params
    ('trend_0', 'period_1', 'cos_1', 'sin_1')
    >>> t = np.array([0.0, 0.5, 1.0])
    >>> np.round(m.function(np, t, np.array([[10.0, 2.0, 0.5, 0.0]])), 3).tolist()
    [[10.0, 15.0, 10.0]]
    """
    if not (isinstance(n, int) and n >= 1 and isinstance(trend, int) and trend >= 0):
        raise ValueError(f"modulated_sinusoids: need n ≥ 1 and trend ≥ 0 (ints); got n={n!r}, trend={trend!r}.")
    names = sinusoid_param_names(n, trend)

    def guess(xp, x, y, w):
        return _guess(xp, x, y, w, n=n, trend=trend, relative=True)

    return CurveModel(
        "modulated_sinusoids",
        names,
        function=lambda xp, x, p: _modulated_f(xp, x, p, n, trend),
        jacobian=lambda xp, x, p: _modulated_j(xp, x, p, n, trend),
        guess=guess,
        defaults={nm: (1.0 if nm.startswith("period") else 0.0) for nm in names},
        bounds={f"period_{i}": (1e-12, np.inf) for i in range(1, n + 1)},
        units={nm: ("s" if nm.startswith("period") else ("signal" if nm.startswith("trend") else "")) for nm in names},
        x_units="s",
        equation="y = (Σ trend_j·u^j) · (1 + Σ [cos_i·cos(2π(t − t_mid)/period_i) + sin_i·sin(2π(t − t_mid)/period_i)])",
        description="relative (multiplicative) blinking of a slowly growing or decaying band",
    )


# ---- candidate stage: trend, prewhitened FFT periodogram ------------------------------------------
def _solve(xp, A, y, w):
    """Weighted least squares per row: A (m, q) shared or (n, q, m) per row, y and w (n, m) → coefficients (n, q)."""
    if A.ndim == 2:
        At = xp.broadcast_to(A.T[None, :, :], (y.shape[0], A.shape[1], A.shape[0]))
    else:
        At = A
    Aw = At * w[:, None, :]
    G = xp.matmul(Aw, xp.swapaxes(At, 1, 2))
    b = xp.matmul(Aw, y[:, :, None])
    q = G.shape[-1]
    # Jacobi scaling (columns of very different size: a constant and the trend times a sinusoid), then a tiny ridge
    d = xp.sqrt(xp.maximum(xp.diagonal(G, axis1=1, axis2=2), 1e-300))
    Gs = G / (d[:, :, None] * d[:, None, :]) + 1e-12 * xp.eye(q)[None, :, :]
    return xp.linalg.solve(Gs, b / d[:, :, None])[:, :, 0] / d


def _nfft(m: int, oversample: int) -> int:
    return 1 << int(math.ceil(math.log2(max(2, oversample * m))))


def _fft_power(xp, r, nfft):
    f = xp.fft.rfft(r, n=nfft, axis=-1)
    return f.real**2 + f.imag**2


def _peak(xp, power, freqs, allowed):
    """Strongest allowed bin per row, refined by a parabola through it and its neighbours → (n,) Hz."""
    p = xp.where(allowed, power, -xp.inf)
    i = xp.argmax(p, axis=1)
    nb = power.shape[1]
    rows = xp.arange(power.shape[0])
    lo, hi = xp.clip(i - 1, 0, nb - 1), xp.clip(i + 1, 0, nb - 1)
    p0, pl, ph = power[rows, i], power[rows, lo], power[rows, hi]
    den = pl - 2 * p0 + ph
    delta = xp.where((den < 0) & (lo != i) & (hi != i), 0.5 * (pl - ph) / xp.where(den < 0, den, -1.0), 0.0)
    delta = xp.clip(delta, -0.5, 0.5)
    df = freqs[1] - freqs[0]
    return freqs[i] + delta * df


def _candidates(xp, x, y, w, *, n, trend, relative, fmin, fmax, oversample=4):
    """Prewhitened periodogram candidates → per stage k = 0..n: trend coefficients, freqs, cos, sin, chi²."""
    tau, u = _centre(xp, x)
    m = x.shape[0]
    dt = float((x[-1] - x[0]) / (m - 1)) if m > 1 else 1.0
    span = m * dt
    powers = u[:, None] ** xp.arange(trend + 1, dtype=xp.float64)[None, :]  # (m, q)
    a = _solve(xp, powers, y, w)
    level = a @ powers.T
    env = level if relative else xp.ones_like(level)
    nfft = _nfft(m, oversample)
    freqs = xp.arange(nfft // 2 + 1, dtype=xp.float64) / (nfft * dt)
    in_range = (freqs >= fmin) & (freqs <= fmax)
    mask = w > 0
    fitted = level
    found = xp.zeros((y.shape[0], 0))
    stages = [(a, found, found, found, ((y - fitted) ** 2 * w).sum(axis=1))]
    for _ in range(n):
        r = xp.where(mask, y - fitted, 0.0)
        power = _fft_power(xp, r, nfft)
        allowed = xp.broadcast_to(in_range[None, :], power.shape)
        if found.shape[1]:
            near = (xp.abs(freqs[None, None, :] - found[:, :, None]) < 1.0 / span).any(axis=1)
            allowed = allowed & ~near
        f_new = _peak(xp, power, freqs, allowed)
        found = xp.concatenate([found, f_new[:, None]], axis=1)
        phase = 2 * np.pi * found[:, :, None] * tau[None, None, :]  # (n, k, m)
        At = xp.concatenate(
            [
                xp.broadcast_to(powers.T[None, :, :], (y.shape[0], trend + 1, m)),
                env[:, None, :] * xp.cos(phase),
                env[:, None, :] * xp.sin(phase),
            ],
            axis=1,
        )  # (n, q + 2k, m)
        coef = _solve(xp, At, y, w)
        fitted = xp.matmul(coef[:, None, :], At)[:, 0, :]
        k = found.shape[1]
        q = trend + 1
        stages.append((coef[:, :q], found, coef[:, q : q + k], coef[:, q + k :], ((y - fitted) ** 2 * w).sum(axis=1)))
    return stages


def _pack(a, f, c, s):
    """Stage arrays → parameter rows in the ``sinusoids`` order (trend…, then period, cos, sin per sinusoid)."""
    xp = get_namespace(a)
    k = f.shape[1]
    cols = [a]
    for i in range(k):
        cols += [1.0 / f[:, i : i + 1], c[:, i : i + 1], s[:, i : i + 1]]
    return xp.concatenate(cols, axis=1)


def default_period_range(step_s: float, n_frames: int) -> tuple[float, float]:
    """The default search range of :func:`periods`: 2.5 frames to a third of the trace's span.

    Parameters
    ----------
    step_s : float
        Frame step, s.
    n_frames : int
        Frames in the trace.

    Returns
    -------
    (float, float)
        ``(MIN_PERIOD_FRAMES · step_s, MAX_PERIOD_FRACTION · n_frames · step_s)``, s.

    Examples
    --------
    >>> [round(v, 3) for v in default_period_range(0.2, 150)]
    [0.5, 10.0]
    """
    return MIN_PERIOD_FRAMES * step_s, MAX_PERIOD_FRACTION * n_frames * step_s


def periodogram_guess(xp, x, y, w, *, n: int, trend: int):
    """Start values for :func:`hyperspec.fit.curve_models.sinusoids` ``(n, trend)`` from the prewhitened periodogram.

    The trend is fitted by weighted least squares, the strongest FFT peak of the residual in the
    default range (:func:`default_period_range`) is interpolated and fitted jointly with the trend,
    removed, and the next peak sought — ``n`` times (the ``guess`` of that curve model).

    Parameters
    ----------
    xp : module
        ``numpy`` or ``cupy``.
    x : array, shape (m,)
        Times, s (treated as uniform with the mean step).
    y : array, shape (rows, m)
        The traces, 0 at masked points.
    w : array, shape (rows, m)
        Weights, 0 at masked points.
    n : int
        Number of sinusoids.
    trend : int
        Degree of the trend polynomial.

    Returns
    -------
    array, shape (rows, P)
        ``trend_0 … trend_<trend>``, then ``period_i`` (s), ``cos_i``, ``sin_i`` (signal units, phase origin
        at the trace's middle) for i = 1 … n, strongest first.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(150) * 0.2
    >>> y = (5.0 + np.sin(2 * np.pi * t / 1.9))[None, :]
    >>> p = periodogram_guess(np, t, y, np.ones_like(y), n=1, trend=1)
    >>> round(float(p[0, 2]), 2)
    1.9
    """
    return _guess(xp, x, y, w, n=n, trend=trend, relative=False)


def _guess(xp, x, y, w, *, n, trend, relative):
    x = xp.asarray(x, dtype=xp.float64)
    m = x.shape[0]
    dt = float((x[-1] - x[0]) / max(m - 1, 1)) or 1.0
    fmin_p, fmax_p = default_period_range(dt, m)
    stages = _candidates(
        xp, x, xp.asarray(y, dtype=xp.float64), xp.asarray(w, dtype=xp.float64), n=n, trend=trend, relative=relative,
        fmin=1.0 / fmax_p, fmax=1.0 / fmin_p,
    )  # fmt: skip
    a, f, c, s, _ = stages[n]
    return _pack(a, f, c, s)


# ---- significance ---------------------------------------------------------------------------------
def _baluev_fap(xp, z, n_points, n_null, width):
    """Baluev (2008) false-alarm probability of a periodogram maximum z (standard normalisation)."""
    nh = n_points - n_null
    nk = nh - 2.0
    ok = nk > 2
    nh_s = xp.where(ok, nh, 10.0)
    nk_s = xp.where(ok, nk, 8.0)
    z = xp.clip(z, 0.0, 1.0 - 1e-15)
    # Γ(N/2)/Γ((N−1)/2)·√(2/N), by its asymptotic series (exact to < 1e-6 for N ≥ 10)
    n1 = nh_s - 1.0
    gamma = xp.sqrt(n1 / nh_s) * (1 - 1 / (4 * n1) + 1 / (32 * n1**2) + 5 / (128 * n1**3))
    tau = gamma * width * (1 - z) ** (0.5 * (nk_s - 1)) * xp.sqrt(0.5 * nh_s * z)
    single = (1 - z) ** (0.5 * nk_s)
    fap = 1 - (1 - single) * xp.exp(-tau)
    return xp.where(ok, xp.clip(fap, 0.0, 1.0), xp.nan)


def _search(xp, x, y, w, *, K, trend, relative, lo, hi, span, dt, max_iter, fap):
    """Candidates, nested LM fits (k = 0 … K), significance and selection for one group of rows."""
    npx, m = y.shape
    q = trend + 1
    _, u = _centre(xp, x)
    powers_t = u[None, :] ** xp.arange(q, dtype=xp.float64)[:, None]  # (q, m)
    n_w = w.sum(axis=1)
    nw = xp.maximum(n_w, 1)
    tm = (w * x[None, :]).sum(axis=1) / nw
    teff = xp.sqrt(4 * np.pi * (w * (x[None, :] - tm[:, None]) ** 2).sum(axis=1) / nw)  # Baluev's effective span
    width = (1.0 / lo - 1.0 / hi) * teff
    stages = _candidates(xp, x, y, w, n=K, trend=trend, relative=relative, fmin=1.0 / hi, fmax=1.0 / lo)
    # preliminary FAPs from the linear (prewhitening) fits: rows that cannot reach a significant k are not refined
    pre = xp.ones((npx, K))
    for k in range(1, K + 1):
        c0, c1 = stages[k - 1][4], stages[k][4]
        pre[:, k - 1] = _baluev_fap(xp, (c0 - c1) / xp.where(c0 > 0, c0, xp.nan), n_w, q + 3 * (k - 1), width)
    reach = xp.cumprod(xp.where(xp.isfinite(pre), pre < PRE_FAP, False), axis=1).astype(bool)
    per_k = xp.full((K + 1, npx, K), xp.nan)
    per_e = xp.full((K + 1, npx, K), xp.nan)
    amp = xp.full((K + 1, npx, K), xp.nan)
    amp_e = xp.full((K + 1, npx, K), xp.nan)
    rel_k = xp.full((K + 1, npx, K), xp.nan)
    chi2 = xp.stack([st[4] for st in stages])  # linear-stage χ², replaced where refined
    chi2r = xp.full((K + 1, npx), xp.nan)
    chi2r[0] = chi2[0] / xp.maximum(n_w - q, 1)
    lmstat = xp.zeros((K + 1, npx), dtype=xp.int8)
    refined = xp.zeros((K + 1, npx), dtype=bool)
    at_end = xp.zeros((npx, K), dtype=bool)
    refined[0] = True
    best = xp.zeros((npx, q + 3 * K))
    best[:, q::3] = 1.0
    best[:, :q] = stages[0][0]
    for k in range(1, K + 1):
        rows = xp.flatnonzero(reach[:, k - 1])
        if rows.size == 0:
            break
        a, f, c, s, _ = (st[rows] for st in stages[k])
        p0 = _pack(a, f, c, s)
        lower = xp.full_like(p0, -xp.inf)
        upper = xp.full_like(p0, xp.inf)
        lower[:, q::3] = xp.maximum(1.0 / (f + 1.0 / span), lo)
        upper[:, q::3] = xp.minimum(1.0 / xp.maximum(f - 1.0 / span, 0.5 / span), hi)
        p0 = xp.clip(xp.where(xp.isfinite(p0), p0, 0.0), lower, upper)

        def model(xx, p, k=k):
            return _fj(xp, xx, p, k, trend, relative, jac=False)[0]

        def jac(xx, p, k=k):
            return _fj(xp, xx, p, k, trend, relative)

        jac.returns_value = True
        with np.errstate(all="ignore"):
            res = levenberg_marquardt(
                model, x, y[rows], p0, jacobian=jac, weights=w[rows], bounds=(lower, upper), max_iter=max_iter,
                xtol=LM_TOL, ftol=LM_TOL * 1e-2, gtol=LM_TOL,
            )  # fmt: skip
        fine = xp.isfinite(res.chi2)
        chi2[k, rows] = xp.where(fine, res.chi2, chi2[k, rows])
        chi2r[k, rows], lmstat[k, rows] = res.chi2_red, res.status
        refined[k, rows] = fine
        upd = rows[fine]
        best[upd, : q + 3 * k] = res.params[fine]
        _, per, cc, ss = _split(res.params, k, trend)
        level = res.params[:, :q] @ powers_t
        mean_abs = ((xp.abs(level) * w[rows]).sum(axis=1) / nw[rows])[:, None]
        A = xp.sqrt(cc**2 + ss**2)
        cov = res.covariance
        ic, is_ = q + 1 + 3 * xp.arange(k), q + 2 + 3 * xp.arange(k)
        vcc, vss, vcs = cov[:, ic, ic], cov[:, is_, is_], cov[:, ic, is_]
        varA = (cc**2 * vcc + 2 * cc * ss * vcs + ss**2 * vss) / xp.where(A > 0, A**2, xp.nan)
        scale = mean_abs if relative else 1.0
        per_k[k, rows, :k] = per
        # a candidate that converged onto an end of the search range is not a resolved peak (trend leakage, or the
        # period lies outside the range): never accepted
        at_end[rows, k - 1] = (per[:, k - 1] >= hi * (1 - 1e-9)) | (per[:, k - 1] <= lo * (1 + 1e-9))
        per_e[k, rows, :k] = res.stderr[:, q::3]
        amp[k, rows, :k] = A * scale
        amp_e[k, rows, :k] = xp.sqrt(xp.maximum(varA, 0.0)) * scale
        rel_k[k, rows, :k] = A if relative else A / xp.where(mean_abs > 0, mean_abs, xp.nan)
    # residual periodogram of each row's largest refined fit: the noise density around each candidate
    # (1 … LOCAL_NOISE_BINS Rayleigh bins away, off the fitted lines) relative to its mean
    fitted = _fj(xp, x, best, K, trend, relative, jac=False)[0]
    resid = xp.where(w > 0, y - fitted, 0.0)
    nfft = _nfft(m, 4)
    freqs = xp.arange(nfft // 2 + 1, dtype=xp.float64) / (nfft * dt)
    power = _fft_power(xp, resid, nfft)
    mean_power = power[:, 1:].mean(axis=1)
    n_ref = refined[1:].sum(axis=0)  # sinusoids in each row's largest refined fit
    f_cand = xp.where(xp.arange(K)[None, :] < n_ref[:, None], 1.0 / best[:, q::3], stages[K][1])
    dist = xp.abs(freqs[None, None, :] - f_cand[:, :, None]) * span  # (npx, K, nf) in Rayleigh bins
    core = (dist < 1.0).any(axis=1)  # (npx, nf): the fitted lines' own notches
    band = (dist >= 1.0) & (dist <= LOCAL_NOISE_BINS) & ~core[:, None, :]
    local = (power[:, None, :] * band).sum(axis=2) / xp.maximum(band.sum(axis=2), 1)
    ratio = local / xp.where(mean_power > 0, mean_power, xp.nan)[:, None]
    ratio = xp.where(xp.isfinite(ratio), ratio, 1.0)
    rho = xp.maximum(1.0, ratio)  # errors: inflated where the residuals are red, never deflated
    rho_sig = xp.maximum(RHO_FLOOR, ratio)  # significance: z against the local noise density
    # significance of each added sinusoid (nested fits, z scaled by the local noise), accepted in order
    sig = xp.full((npx, K), xp.nan)
    for k in range(1, K + 1):
        z = (chi2[k - 1] - chi2[k]) / xp.where(chi2[k - 1] > 0, chi2[k - 1], xp.nan)
        sig[:, k - 1] = _baluev_fap(xp, z / rho_sig[:, k - 1], n_w, q + 3 * (k - 1), width)
    accept = xp.cumprod(xp.where(xp.isfinite(sig) & refined[1:].T & ~at_end, sig < fap, False), axis=1).astype(bool)
    n_sig = accept.sum(axis=1)
    rows = xp.arange(npx)
    per_sel, per_e_sel = per_k[n_sig, rows], per_e[n_sig, rows] * xp.sqrt(rho)
    amp_sel, amp_e_sel = amp[n_sig, rows], amp_e[n_sig, rows] * xp.sqrt(rho)
    rel_sel = rel_k[n_sig, rows]
    stat_sel = lmstat[n_sig, rows]
    failed = (n_sig > 0) & ((stat_sel == int(FitStatus.NONFINITE)) | (stat_sel == int(FitStatus.MASKED)))
    # strongest first: reported peaks by amplitude, then the others in candidate order
    key = xp.where(accept, -xp.where(xp.isfinite(amp_sel), amp_sel, 0.0), xp.inf)
    order = xp.argsort(key, axis=1, kind="stable")

    def o(a):
        return xp.take_along_axis(a, order, axis=1)

    sel = (per_sel, per_e_sel, amp_sel, amp_e_sel, rel_sel)
    per_sel, per_e_sel, amp_sel, amp_e_sel, rel_sel = (xp.where(accept, a, xp.nan) for a in sel)
    return (o(per_sel), o(per_e_sel), o(amp_sel), o(amp_e_sel), o(rel_sel), o(sig), n_sig, chi2r[n_sig, rows], failed)


# ---- the public functions -------------------------------------------------------------------------
def _check_int(value, name, lo):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"kinetics.periods: `{name}` must be an int ≥ {lo}; got {value!r}.")
    return int(value)


def _period_range(trace, dim, coord, min_period_s, max_period_s, func):
    dt = uniform_step(coord)
    m = coord.size
    span = m * dt
    dmin, dmax = default_period_range(dt, m)
    lo = dmin if min_period_s is None else min_period_s
    hi = dmax if max_period_s is None else max_period_s
    for nm, v in (("min_period_s", lo), ("max_period_s", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v) or v <= 0:
            raise ValueError(f"{func}: `{nm}` must be a positive number of seconds; got {v!r}.")
    lo, hi = float(lo), float(hi)
    if lo < 2 * dt * (1 - 1e-9):
        raise ValueError(
            f"{func}: `min_period_s`={lo:g} s is below the Nyquist limit of {trace_name(trace)} "
            f"(2 frames = {2 * dt:g} s at {dt:g} s per frame); pass min_period_s ≥ {2 * dt:g}."
        )
    if lo >= hi:
        raise ValueError(f"{func}: `min_period_s` ({lo:g} s) must be below `max_period_s` ({hi:g} s).")
    if span < MIN_CYCLES * hi * (1 - 1e-9):
        need = int(math.ceil(MIN_CYCLES * hi / dt))
        raise DataModelError(
            f"{func}: {trace_name(trace)} spans {span:g} s ({m} frames of {dt:g} s along {dim!r}), too short for periods up to "
            f"{hi:g} s: that needs at least {MIN_CYCLES:g} cycles = {MIN_CYCLES * hi:g} s ({need} frames). "
            f"Pass max_period_s ≤ {span / MIN_CYCLES:g} or record a longer trace."
        )
    return dt, lo, hi


def periodogram(
    trace: xr.DataArray,
    dim: str = "t",
    *,
    trend: int = 4,
    oversample: int = 4,
    min_period_s: float | None = None,
    max_period_s: float | None = None,
    backend: str | Backend | None = None,
) -> xr.DataArray:
    """The normalised periodogram of every pixel's detrended trace (FFT, zero-padded), for plots and peak picking.

    The trend (polynomial of degree ``trend``) is removed by weighted least squares; NaN frames are
    zero after detrending (ignored). The power is in the *standard* normalisation: the fraction of the
    detrended trace's sum of squares a sinusoid at that frequency removes, z(f) ≈ 2·|FFT(r)|²/(N·Σr²)
    (N finite frames), between 0 and about 1.

    Parameters
    ----------
    trace : xarray.DataArray
        Traces with a uniform ``dim`` coordinate (s) and any pixel dims.
    dim : str, optional
        The time dim. Default ``"t"``.
    trend : int, optional
        Degree of the trend polynomial removed first. Default 4.
    oversample : int, optional
        Zero-padding factor (frequency grid step 1/(oversample·span)). Default 4.
    min_period_s, max_period_s : float, optional
        Frequency range kept, as periods in s. Default :func:`default_period_range`.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where the numerics run. Default None: ``$HYPERSPEC_BACKEND``, else ``"auto"`` (CuPy when a GPU is usable);
        CuPy-backed data stay on the device.

    Returns
    -------
    xarray.DataArray
        ``periodogram`` on the pixel dims plus ``"frequency"`` (coordinate in Hz, ascending, and
        ``period_s`` = 1/frequency, s); all-NaN pixels give NaN.

    Raises
    ------
    hyperspec.DataModelError
        No ``dim`` or coordinate, non-uniform steps (resample first), too short a trace for the range.
    ValueError
        Bad ``trend``, ``oversample`` or period range.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(150) * 0.2
    >>> tr = xr.DataArray(5 + np.sin(2 * np.pi * t / 1.5), dims="t", coords={"t": t})
    >>> pg = periodogram(tr)
    >>> round(float(pg["period_s"][pg.argmax("frequency")]), 1), round(float(pg.max()), 1)
    (1.5, 1.0)
    """
    func = "kinetics.periodogram"
    coord = series_axis(trace, dim, func=func, uniform=True, min_points=8)
    trend = _check_int(trend, "trend", 0)
    oversample = _check_int(oversample, "oversample", 1)
    dt, lo, hi = _period_range(trace, dim, coord, min_period_s, max_period_s, func)
    m = coord.size
    nfft = _nfft(m, oversample)
    freqs = np.arange(nfft // 2 + 1) / (nfft * dt)
    keep = np.flatnonzero((freqs >= 1 / hi) & (freqs <= 1 / lo))
    x_host = coord - coord[0]

    def kernel(xp, block):
        shape = block.shape[:-1]
        y = xp.asarray(block, dtype=xp.float64).reshape(-1, m)
        ok = xp.isfinite(y)
        w = ok.astype(xp.float64)
        y = xp.where(ok, y, 0.0)
        x = xp.asarray(x_host)
        _, u = _centre(xp, x)
        powers = u[:, None] ** xp.arange(trend + 1, dtype=xp.float64)[None, :]
        a = _solve(xp, powers, y, w)
        r = xp.where(ok, y - a @ powers.T, 0.0)
        n_ok = ok.sum(axis=1)
        ss = (r**2).sum(axis=1)
        power = _fft_power(xp, r, nfft)[:, xp.asarray(keep)]
        z = 2 * power / xp.where((ss > 0) & (n_ok > 0), n_ok * ss, xp.nan)[:, None]
        return (z.reshape(*shape, keep.size),)

    (out,) = apply_series(kernel, trace, dim, [("periodogram", ("frequency",), {"frequency": keep.size})], backend=backend)
    out = out.assign_coords(frequency=("frequency", freqs[keep]), period_s=("frequency", 1.0 / freqs[keep]))
    out["frequency"].attrs = {"units": "Hz"}
    out["period_s"].attrs = {"units": "s"}
    out.attrs = {"long_name": "normalised periodogram (standard: fraction of variance)", "units": "1", "trend_degree": trend}
    return out


def periods(
    trace: xr.DataArray,
    dim: str = "t",
    *,
    max_periods: int = 3,
    min_period_s: float | None = None,
    max_period_s: float | None = None,
    fap: float = 0.01,
    trend: int = 4,
    modulation: str = "relative",
    max_iter: int = 100,
    batch_size: int = 2048,
    backend: str | Backend | None = None,
) -> xr.Dataset:
    """Blinking periods of every pixel's trace: prewhitened periodogram candidates refined by a joint LM fit.

    See the module docstring for the method. Periods are resolved well below the FFT bin (1/span);
    NaN frames are ignored (and counted in ``n_points``); each pixel keeps the candidates whose
    false-alarm probability is below ``fap`` (taken in order of strength, stopping at the first that
    is not), strongest (largest amplitude) first, NaN in the remaining ``peak`` slots. A candidate that
    converges onto an end of the search range is not reported (a trend's leakage, or a period outside
    the range: widen it).

    Parameters
    ----------
    trace : xarray.DataArray
        Traces (e.g. ``results["aspl_area"]``) with a uniform ``dim`` coordinate in s and any pixel dims;
        lazy (Dask) traces give lazy results.
    dim : str, optional
        The time dim. Default ``"t"``.
    max_periods : int, optional
        Most periods per pixel (the ``peak`` dim's size). Default 3.
    min_period_s, max_period_s : float, optional
        Search range, s. Default 2.5 frames to a third of the span (:func:`default_period_range`); the
        span must hold at least two cycles of ``max_period_s`` and ``min_period_s`` ≥ 2 frames.
    fap : float, optional
        False-alarm probability below which a period is reported (0 < fap < 1). Default 0.01.
    trend : int, optional
        Degree of the slow trend polynomial (time scaled to [−1, 1]). Default 4.
    modulation : {"relative", "additive"}, optional
        ``"relative"``: y = trend·(1 + Σ sinusoids) (:func:`modulated_sinusoids`); ``"additive"``:
        y = trend + Σ sinusoids (:func:`hyperspec.fit.curve_models.sinusoids`). Default ``"relative"``.
    max_iter : int, optional
        LM iterations per fit. Default 100.
    batch_size : int, optional
        Pixels fitted together (memory ∝ batch × frames × parameters). Default 2048.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where the numerics run. Default None: ``$HYPERSPEC_BACKEND``, else ``"auto"`` (CuPy when a GPU is usable);
        CuPy-backed data stay on the device.

    Returns
    -------
    xarray.Dataset
        On the pixel dims plus ``"peak"`` (1 … ``max_periods``): ``period_s`` (s) and ``period_s_stderr``
        (s); ``amplitude`` and ``amplitude_stderr`` (trace units: √(cos² + sin²), for relative modulation
        times the trend's mean over the trace); ``relative_amplitude`` (fraction of the trend's mean);
        ``significance`` (false-alarm probability of each candidate, also for the ones not reported —
        ≈ 1 on noise; Baluev's bound is slightly conservative: on white noise about 0.5 % of traces fall below
        0.01). On the pixel dims: ``n_periods``, ``relative_model`` (True where the relative model was fitted;
        pixels whose trend crosses zero or is within 3 × the scatter of it get the additive one),
        ``chi2_red`` of the kept fit, ``n_points``
        (finite frames used) and ``status`` (int8: 0 ok, 1 flat, 2 too_short — too few finite frames or
        too short a finite stretch, 3 no_data, 4 fit_failed; CF flag attrs).

    Raises
    ------
    hyperspec.DataModelError
        No ``dim`` or no coordinate on it, non-uniform steps (resample with
        :func:`hyperspec.kinetics.resample`), a trace too short for the period range (the minimum is named).
    ValueError
        Bad ``max_periods``, ``fap``, ``trend``, ``modulation`` or period range.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(150) * 0.2
    >>> rng = np.random.default_rng(0)
    >>> y = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 1.9)) + rng.normal(0, 2, (2, 150))
    >>> res = periods(xr.DataArray(y, dims=("x", "t"), coords={"t": t}), max_periods=2)
    >>> np.round(res["period_s"].values, 2).tolist()
    [[1.9, nan], [1.9, nan]]
    >>> np.round(res["period_s_stderr"].values[:, 0], 3).tolist()
    [0.001, 0.001]
    """
    func = "kinetics.periods"
    max_periods = _check_int(max_periods, "max_periods", 1)
    trend = _check_int(trend, "trend", 0)
    if modulation not in ("relative", "additive"):
        raise ValueError(f"{func}: `modulation` must be 'relative' or 'additive'; got {modulation!r}.")
    if isinstance(fap, bool) or not isinstance(fap, (int, float)) or not 0 < fap < 1:
        raise ValueError(f"{func}: `fap` must be a false-alarm probability between 0 and 1 (e.g. 0.01); got {fap!r}.")
    max_iter = _check_int(max_iter, "max_iter", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    n_par_max = trend + 1 + 3 * max_periods
    min_frames = n_par_max + 8
    coord = series_axis(trace, dim, func=func, uniform=True, min_points=min_frames)
    dt, lo, hi = _period_range(trace, dim, coord, min_period_s, max_period_s, func)
    relative = modulation == "relative"
    m = coord.size
    span = m * dt
    x_host = coord - coord[0]
    K = max_periods

    def kernel(xp, block):
        shape = block.shape[:-1]
        y = xp.asarray(block, dtype=xp.float64).reshape(-1, m)
        npx = y.shape[0]
        x = xp.asarray(x_host)
        ok = xp.isfinite(y)
        n_ok = ok.sum(axis=1)
        y0 = xp.where(ok, y, 0.0)
        mean = y0.sum(axis=1) / xp.maximum(n_ok, 1)
        var = (xp.where(ok, y0 - mean[:, None], 0.0) ** 2).sum(axis=1) / xp.maximum(n_ok, 1)
        idx = xp.arange(m)
        first = xp.where(ok, idx[None, :], m).min(axis=1)
        last = xp.where(ok, idx[None, :], -1).max(axis=1)
        status = xp.full(npx, _OK, dtype=xp.int8)
        status = xp.where((last - first + 1) * dt < MIN_CYCLES * hi * (1 - 1e-9), _SHORT, status)
        status = xp.where(n_ok < min_frames, _SHORT, status)
        status = xp.where((status == _OK) & (var <= (1e-12 * xp.abs(mean)) ** 2), _FLAT, status)
        status = xp.where(n_ok == 0, _NODATA, status)
        good = status == _OK
        w = xp.where(ok & good[:, None], 1.0, 0.0)
        y0 = xp.where(w > 0, y0, 0.0)
        # relative modulation only where the trend keeps one sign, well away from zero
        use_rel = xp.zeros(npx, dtype=bool)
        if relative:
            _, u = _centre(xp, x)
            powers = u[:, None] ** xp.arange(trend + 1, dtype=xp.float64)[None, :]
            level = _solve(xp, powers, y0, w) @ powers.T
            lv = xp.where(w > 0, level * xp.sign(mean)[:, None], xp.inf)
            lmax = xp.where(w > 0, xp.abs(level), 0.0).max(axis=1)
            rms = xp.sqrt(((y0 - level) ** 2 * w).sum(axis=1) / xp.maximum(w.sum(axis=1), 1))
            use_rel = good & (lv.min(axis=1) > -REL_MIN_LEVEL * lmax) & (xp.abs(mean) > REL_MIN_SNR * rms)
        outs = [xp.full((npx, K), xp.nan) for _ in range(6)] + [
            xp.zeros(npx, dtype=xp.int64),
            xp.full(npx, xp.nan),
            xp.zeros(npx, dtype=bool),
        ]
        for rel_group in (True, False):
            sel = xp.flatnonzero(use_rel == rel_group)
            for s0 in range(0, int(sel.size), batch_size):
                rows = sel[s0 : s0 + batch_size]
                got = _search(
                    xp, x, y0[rows], w[rows], K=K, trend=trend, relative=rel_group, lo=lo, hi=hi, span=span, dt=dt,
                    max_iter=max_iter, fap=fap,
                )  # fmt: skip
                for o_, g_ in zip(outs, got, strict=True):
                    o_[rows] = g_
        per, per_e, amp, amp_e, rel_amp, sig, n_sig, chi2r, failed = outs
        failed = failed & good
        status = xp.where(failed, _FAILED, status)
        keep = ~xp.isnan(per) & (good & ~failed)[:, None]
        per, per_e, amp, amp_e, rel_amp = (xp.where(keep, a, xp.nan) for a in (per, per_e, amp, amp_e, rel_amp))
        sig = xp.where(good[:, None], sig, xp.nan)
        n_out = keep.sum(axis=1).astype(xp.float64)
        chi2r = xp.where(good & ~failed, chi2r, xp.nan)

        def rs(a, core=True):
            return a.reshape(*shape, K) if core else a.reshape(shape)

        return (
            rs(per), rs(per_e), rs(amp), rs(amp_e), rs(rel_amp), rs(sig),
            rs(n_out, False), rs(chi2r, False), rs(n_ok.astype(xp.float64), False), rs(status.astype(xp.float64), False),
            rs(use_rel.astype(xp.float64), False),
        )  # fmt: skip

    core = {"peak": K}
    names = [
        ("period_s", ("peak",), core),
        ("period_s_stderr", ("peak",), core),
        ("amplitude", ("peak",), core),
        ("amplitude_stderr", ("peak",), core),
        ("relative_amplitude", ("peak",), core),
        ("significance", ("peak",), core),
        ("n_periods", (), {}),
        ("chi2_red", (), {}),
        ("n_points", (), {}),
        ("status", (), {}),
        ("relative_model", (), {}),
    ]
    outs = apply_series(kernel, trace, dim, names, backend=backend)
    ds = xr.Dataset({name: out for (name, _, _), out in zip(names, outs, strict=True)})
    ds = ds.assign_coords(peak=("peak", np.arange(1, K + 1)))
    units = trace.attrs.get("units", "trace units")
    ds["period_s"].attrs = {"units": "s", "long_name": "blinking period (strongest first)"}
    ds["period_s_stderr"].attrs = {"units": "s", "long_name": "standard error of the period"}
    ds["amplitude"].attrs = {"units": units, "long_name": "sinusoid amplitude (mean over the trace)"}
    ds["amplitude_stderr"].attrs = {"units": units, "long_name": "standard error of the amplitude"}
    ds["relative_amplitude"].attrs = {"units": "1", "long_name": "amplitude / mean trend level"}
    ds["significance"].attrs = {"units": "1", "long_name": "false-alarm probability (Baluev 2008)", "threshold": fap}
    ds["n_periods"] = ds["n_periods"].astype(np.int32).assign_attrs(long_name=f"periods with FAP < {fap:g}")
    ds["chi2_red"].attrs = {"long_name": "reduced chi-square of the kept fit (uniform weights, trace units squared)"}
    ds["n_points"] = ds["n_points"].astype(np.int32).assign_attrs(long_name=f"finite frames used along {dim!r}")
    ds["relative_model"] = (ds["relative_model"] > 0).assign_attrs(long_name="fitted with relative (multiplicative) modulation")
    ds["status"] = ds["status"].astype(np.int8)
    ds["status"].attrs = {
        "long_name": "period search status",
        "flag_values": np.array(sorted(PERIOD_STATUS_MEANINGS), dtype=np.int8),
        "flag_meanings": " ".join(PERIOD_STATUS_MEANINGS[k] for k in sorted(PERIOD_STATUS_MEANINGS)),
    }
    ds.attrs = {
        "method": "prewhitened FFT periodogram → joint Levenberg–Marquardt fit; FAP: Baluev (2008)",
        "modulation": modulation,
        "trend_degree": trend,
        "min_period_s": lo,
        "max_period_s": hi,
        "fap_threshold": fap,
        "dim": dim,
    }
    return ds
