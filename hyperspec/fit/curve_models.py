"""The curve models shipped with hyperspec, registered for :func:`hyperspec.fit.curves.fit_curves`.

Each is one :class:`~hyperspec.fit.curves.CurveModel` declaration: function and analytic Jacobian on
``xp`` (batched over pixels, rows of ``p``), start values from the data, default bounds and units.
``tests/fit/test_curve_models.py`` checks every Jacobian against finite differences and every model
against ``scipy.optimize.curve_fit`` pixel by pixel.
"""

from __future__ import annotations

import numpy as np

from hyperspec._backend import to_numpy
from hyperspec.fit.curves import CurveModel, register_curve_model

__all__ = [
    "power_law",
    "exp_decay",
    "biexp_decay",
    "onset_exp",
    "sinusoids",
    "sinusoid_param_names",
    "varshni",
    "vsl_gain",
    "gain_saturation",
    "multiphonon",
    "aspl_efficiency_ratio",
    "K_B_MEV_PER_K",
]

#: Boltzmann constant, meV/K (CODATA 2018: 8.617 333 262e-5 eV/K).
K_B_MEV_PER_K = 8.617333262e-2


def _weighted_mean(xp, y, w):
    return (w * y).sum(axis=1) / xp.maximum(w.sum(axis=1), 1e-300)


# ---- power law: I = A·xᵏ ---------------------------------------------------------------------
def _power_f(xp, x, p):
    return p[:, :1] * x[None, :] ** p[:, 1:2]


def _power_j(xp, x, p):
    xk = x[None, :] ** p[:, 1:2]
    return xp.stack([xk, p[:, :1] * xk * xp.log(x)[None, :]], axis=-1)


def _power_guess(xp, x, y, w):
    # log–log least squares on the positive, weighted points (start values only: the fit is in linear space)
    ok = (w > 0) & (y > 0)
    lx = xp.log(x)[None, :] * ok
    ly = xp.where(ok, xp.log(xp.where(ok, y, 1.0)), 0.0)
    n = ok.sum(axis=1)
    sx, sy = lx.sum(axis=1), ly.sum(axis=1)
    sxx, sxy = (lx * lx).sum(axis=1), (lx * ly).sum(axis=1)
    den = n * sxx - sx**2
    k = xp.where((n >= 2) & (den > 0), (n * sxy - sx * sy) / xp.where(den > 0, den, 1.0), 1.0)
    a = xp.exp((sy - k * sx) / xp.maximum(n, 1))
    return xp.stack([a, k], axis=1)


power_law = register_curve_model(
    CurveModel(
        "power_law",
        ("amplitude", "k"),
        function=_power_f,
        jacobian=_power_j,
        guess=_power_guess,
        defaults={"amplitude": 1.0, "k": 1.0},
        bounds={"k": (-10.0, 10.0)},
        units={"amplitude": "signal at x = 1", "k": ""},
        x_units="mW (any positive pump power or intensity)",
        x_positive=True,
        equation="y = amplitude · x^k",
        description="excitation-power dependence (k ≈ 1 single photon, k ≈ 2 bimolecular)",
    )
)


# ---- single exponential decay: y = A·exp(−x/τ) + c -------------------------------------------
def _exp_f(xp, x, p):
    return p[:, :1] * xp.exp(-x[None, :] / p[:, 1:2]) + p[:, 2:3]


def _decay_terms(xp, x, amp, tau):
    """exp(−x/τ) and ∂/∂τ of amp·exp(−x/τ), finite for τ → 0 (x/τ capped where the exponential is 0)."""
    u = xp.minimum(x[None, :] / tau, 800.0)
    e = xp.exp(-u)
    return e, amp * e * u / tau


def _exp_j(xp, x, p):
    e, d_tau = _decay_terms(xp, x, p[:, :1], p[:, 1:2])
    return xp.stack([e, d_tau, xp.ones_like(e)], axis=-1)


def _exp_guess(xp, x, y, w):
    m = y.shape[1]
    tail = max(1, m // 10)
    c = _weighted_mean(xp, y[:, -tail:], w[:, -tail:])
    a = y[:, 0] - c
    # τ from the 1/e crossing of the baseline-subtracted trace
    rel = (y - c[:, None]) / xp.where(a == 0, 1.0, a)[:, None]
    below = (rel < np.exp(-1.0)) & (w > 0)
    first = xp.where(below.any(axis=1), xp.argmax(below, axis=1), m - 1)
    tau = xp.maximum(x[first] - x[0], (x[-1] - x[0]) / m)
    return xp.stack([a, tau, c], axis=1)


exp_decay = register_curve_model(
    CurveModel(
        "exp_decay",
        ("amplitude", "tau", "offset"),
        function=_exp_f,
        jacobian=_exp_j,
        guess=_exp_guess,
        defaults={"amplitude": 1.0, "tau": 1.0, "offset": 0.0},
        bounds={"tau": (1e-300, np.inf)},
        units={"amplitude": "signal", "tau": "x units (s, ns)", "offset": "signal"},
        x_units="s (or ns: any time unit; tau comes out in it)",
        equation="y = amplitude · exp(−x/tau) + offset",
        description="mono-exponential decay (PL lifetime)",
    )
)


# ---- hinge: constant, then exponential rise or decay from t0 ---------------------------------
def _onset_f(xp, x, p):
    base, amp, t0, tau = (p[:, i : i + 1] for i in range(4))
    dt = xp.maximum(x[None, :] - t0, 0.0)
    return base + amp * -xp.expm1(-dt / tau)


def _onset_j(xp, x, p):
    amp, t0, tau = p[:, 1:2], p[:, 2:3], p[:, 3:4]
    dt = x[None, :] - t0
    after = dt > 0
    dtp = xp.where(after, dt, 0.0)
    e = xp.exp(-dtp / tau)
    one = xp.ones_like(e)
    d_amp = 1.0 - e
    d_t0 = xp.where(after, -amp * e / tau, 0.0)
    d_tau = -amp * e * dtp / tau**2
    return xp.stack([one, d_amp, d_t0, d_tau], axis=-1)


def _onset_guess(xp, x, y, w):
    m = y.shape[1]
    head = max(2, m // 10)
    base = _weighted_mean(xp, y[:, :head], w[:, :head])
    end = _weighted_mean(xp, y[:, -head:], w[:, -head:])
    amp = end - base
    # onset where the trace first leaves the start level by a quarter of the total change
    rel = (y - base[:, None]) / xp.where(amp == 0, 1.0, amp)[:, None]
    crossed = (rel > 0.25) & (w > 0)
    idx = xp.where(crossed.any(axis=1), xp.argmax(crossed, axis=1), m // 2)
    span = x[-1] - x[0]
    # the 25 % and 75 % crossings of 1 − exp(−(t − onset)/tau) are ln 3·tau apart
    crossed75 = (rel > 0.75) & (w > 0)
    idx75 = xp.argmax(crossed75, axis=1)
    both = crossed.any(axis=1) & crossed75.any(axis=1) & (idx75 > idx)
    step = span / max(m - 1, 1)
    tau_q = xp.maximum((x[idx75] - x[idx]) / np.log(3.0), 0.5 * step)
    tau = xp.where(both, tau_q, span / 5)
    t0 = xp.where(both, xp.maximum(x[idx] - tau * np.log(4.0 / 3.0), x[0]), xp.maximum(x[idx] - 0.05 * span, x[0]))
    return xp.stack([base, amp, t0, tau], axis=1)


onset_exp = register_curve_model(
    CurveModel(
        "onset_exp",
        ("baseline", "amplitude", "onset", "tau"),
        function=_onset_f,
        jacobian=_onset_j,
        guess=_onset_guess,
        defaults={"baseline": 0.0, "amplitude": 0.0, "onset": 0.0, "tau": 1.0},
        bounds={"tau": (1e-9, np.inf)},
        units={"baseline": "signal", "amplitude": "signal", "onset": "s", "tau": "s"},
        x_units="s",
        equation="y = baseline + amplitude · (1 − exp(−max(t − onset, 0)/tau))",
        description="onset of growth (amplitude > 0) or decay (amplitude < 0) after a constant start",
    )
)


# ---- sinusoids plus a slow polynomial trend ---------------------------------------------------
def sinusoid_param_names(n: int, trend: int) -> tuple[str, ...]:
    """Parameter names of ``sinusoids(n, trend)``: ``trend_0…trend_<trend>``, then ``period_i, cos_i, sin_i``.

    Parameters
    ----------
    n : int
        Number of sinusoids.
    trend : int
        Degree of the trend polynomial (in time scaled to [−1, 1] over the trace).

    Returns
    -------
    tuple of str
        The names.

    Examples
    --------
    >>> sinusoid_param_names(1, 1)
    ('trend_0', 'trend_1', 'period_1', 'cos_1', 'sin_1')
    """
    names = [f"trend_{j}" for j in range(trend + 1)]
    for i in range(1, n + 1):
        names += [f"period_{i}", f"cos_{i}", f"sin_{i}"]
    return tuple(names)


def _centre(xp, x):
    mid = 0.5 * (x[0] + x[-1])
    half = 0.5 * (x[-1] - x[0])
    return x - mid, (x - mid) / (half if half > 0 else 1.0)


def _sinusoid_split(p, n: int, trend: int):
    q = trend + 1
    a = p[:, :q]
    per = p[:, q::3][:, :n]
    c = p[:, q + 1 :: 3][:, :n]
    s = p[:, q + 2 :: 3][:, :n]
    return a, per, c, s


def _sinusoid_fj(xp, x, p, n, trend, relative, jac=True):
    """Value (k, m) and Jacobian (k, m, P) — a view of a parameter-major (k, P, m) array — of the sinusoids models.

    ``relative=False``: :func:`sinusoids` (trend + Σ sinusoids); ``relative=True``: trend · (1 + Σ sinusoids),
    ``kinetics.periods.modulated_sinusoids``. One kernel for both, so the two models cannot drift apart.
    """
    tau, u = _centre(xp, x)
    a, per, c, s = _sinusoid_split(p, n, trend)
    q = trend + 1
    powers = u[None, :] ** xp.arange(q, dtype=xp.float64)[:, None]  # (q, m)
    level = a @ powers  # (k, m)
    arg = (2 * np.pi) * tau[None, None, :] / per[:, :, None]  # (k, n, m)
    cs, sn = xp.cos(arg), xp.sin(arg)
    mod = (c[:, :, None] * cs + s[:, :, None] * sn).sum(axis=1)
    f = level * (1.0 + mod) if relative else level + mod
    if not jac:
        return f, None
    k, m = p.shape[0], x.shape[0]
    jt = xp.empty((k, p.shape[1], m), dtype=p.dtype)
    jt[:, :q, :] = powers[None, :, :] * (1.0 + mod)[:, None, :] if relative else powers[None, :, :]
    d_per = (c[:, :, None] * sn - s[:, :, None] * cs) * (arg / per[:, :, None])
    if relative:
        d_per *= level[:, None, :]
        cs *= level[:, None, :]
        sn *= level[:, None, :]
    jt[:, q::3, :] = d_per
    jt[:, q + 1 :: 3, :] = cs
    jt[:, q + 2 :: 3, :] = sn
    return f, xp.swapaxes(jt, 1, 2)


def sinusoids(n: int = 1, trend: int = 1) -> CurveModel:
    """``n`` sinusoids with free periods on a polynomial trend: the refinement model of ``kinetics.periods``.

    y = Σⱼ trend_j·uʲ + Σᵢ [cos_i·cos(2π τ/period_i) + sin_i·sin(2π τ/period_i)], with τ = t − t_mid (s) and
    u = τ / (half the span): the phase origin at the trace's middle decorrelates periods and phases.

    Parameters
    ----------
    n : int, optional
        Number of sinusoids (≥ 1). Default 1.
    trend : int, optional
        Degree of the trend polynomial (≥ 0). Default 1.

    Returns
    -------
    CurveModel
        Named ``"sinusoids"`` (the registered one is ``sinusoids(1, 1)``); start values need periods
        (``p0``); the guess takes the strongest periodogram peaks.

    Raises
    ------
    ValueError
        ``n`` < 1 or ``trend`` < 0.

    Examples
    --------
    >>> sinusoids(2, 0).params
    ('trend_0', 'period_1', 'cos_1', 'sin_1', 'period_2', 'cos_2', 'sin_2')
    """
    if not (isinstance(n, int) and n >= 1 and isinstance(trend, int) and trend >= 0):
        raise ValueError(f"sinusoids: need n ≥ 1 and trend ≥ 0 (ints); got n={n!r}, trend={trend!r}.")

    def function(xp, x, p):
        return _sinusoid_fj(xp, x, p, n, trend, False, jac=False)[0]

    def jacobian(xp, x, p):
        return _sinusoid_fj(xp, x, p, n, trend, False)[1]

    def guess(xp, x, y, w):
        from hyperspec.kinetics.periods import periodogram_guess  # noqa: PLC0415  (kinetics imports this module)

        return periodogram_guess(xp, x, y, w, n=n, trend=trend)

    names = sinusoid_param_names(n, trend)
    units = {nm: ("s" if nm.startswith("period") else "signal") for nm in names}
    return CurveModel(
        "sinusoids",
        names,
        function=function,
        jacobian=jacobian,
        guess=guess,
        defaults={nm: (1.0 if nm.startswith("period") else 0.0) for nm in names},
        bounds={f"period_{i}": (1e-12, np.inf) for i in range(1, n + 1)},
        units=units,
        x_units="s",
        equation="y = Σ trend_j·u^j + Σ [cos_i·cos(2π(t − t_mid)/period_i) + sin_i·sin(2π(t − t_mid)/period_i)]",
        description="periodic blinking: n sinusoids with free periods on a slow polynomial trend",
    )


register_curve_model(sinusoids(1, 1))


# ---- shared start-value helpers (batched over rows) -------------------------------------------
def _wls(xp, design, y, w):
    """Weighted linear least squares per row: ``design`` (n or 1, m, q), ``y``/``w`` (n, m) → (coef (n, q), χ² (n,))."""
    design = xp.broadcast_to(design, (y.shape[0],) + tuple(design.shape[1:]))
    dw = design * w[:, :, None]
    a = xp.matmul(xp.swapaxes(dw, 1, 2), design)
    b = xp.matmul(xp.swapaxes(dw, 1, 2), y[:, :, None])
    q = a.shape[-1]
    ridge = 1e-12 * xp.maximum(xp.max(xp.abs(xp.diagonal(a, axis1=1, axis2=2)), axis=1), 1e-300)
    coef = xp.linalg.solve(a + ridge[:, None, None] * xp.eye(q), b)[:, :, 0]
    r = y - xp.matmul(design, coef[:, :, None])[:, :, 0]
    return coef, (w * r * r).sum(axis=1)


def _profile(xp, columns, grid, y, w):
    """Grid search over one nonlinear parameter whose other parameters enter linearly.

    ``columns(v)`` → design (1, m, q) at the grid value ``v``; returns the best value per row (n,) and its
    linear coefficients (n, q).
    """
    best_chi2 = best_v = best_c = None
    for v in grid:
        coef, chi2 = _wls(xp, columns(v), y, w)
        chi2 = xp.where(xp.isfinite(chi2), chi2, xp.inf)
        if best_chi2 is None:
            best_chi2, best_v, best_c = chi2, xp.full_like(chi2, v), coef
            continue
        better = chi2 < best_chi2
        best_chi2 = xp.where(better, chi2, best_chi2)
        best_v = xp.where(better, v, best_v)
        best_c = xp.where(better[:, None], coef, best_c)
    return best_v, best_c


def _loglin(xp, x, z, w, mask):
    """Fit ln z ≈ c0 + c1·x on ``mask`` (weights w·z², the variance of ln z being σ²/z²) → (c0, c1) per row."""
    ok = mask & (z > 0) & (w > 0)
    lz = xp.where(ok, xp.log(xp.where(ok, z, 1.0)), 0.0)
    ww = xp.where(ok, w * z * z, 0.0)
    design = xp.stack([xp.ones_like(x), x], axis=-1)[None, :, :]
    coef, _ = _wls(xp, design, lz, ww)
    enough = ok.sum(axis=1) >= 2
    return xp.where(enough, coef[:, 0], xp.nan), xp.where(enough, coef[:, 1], xp.nan)


# ---- bi-exponential decay: y = a1·exp(−x/tau1) + a2·exp(−x/tau2) + c, tau1 < tau2 ------------
def _biexp_f(xp, x, p):
    a1, t1, a2, t2, c = (p[:, i : i + 1] for i in range(5))
    return a1 * xp.exp(-x[None, :] / t1) + a2 * xp.exp(-x[None, :] / t2) + c


def _biexp_j(xp, x, p):
    a1, t1, a2, t2 = (p[:, i : i + 1] for i in range(4))
    e1, d1 = _decay_terms(xp, x, a1, t1)
    e2, d2 = _decay_terms(xp, x, a2, t2)
    return xp.stack([e1, d1, e2, d2, xp.ones_like(e1)], axis=-1)


def _biexp_guess(xp, x, y, w):
    # for given lifetimes the model is linear in (a1, a2, offset): profile the pair over a log grid
    # from the sampling step to twice the span (batched linear solves; no pixel loop)
    xh = to_numpy(x)
    span = float(xh[-1] - xh[0]) or 1.0
    step = float(np.min(np.diff(xh))) if xh.size > 1 else span
    taus = np.geomspace(max(step, span * 1e-4), 2 * span, 14)
    pairs = [(t1, t2) for i, t1 in enumerate(taus) for t2 in taus[i + 1 :]]
    one = xp.ones_like(x)
    best, coef = _profile(
        xp, lambda k: xp.stack([xp.exp(-x / pairs[k][0]), xp.exp(-x / pairs[k][1]), one], axis=-1)[None, :, :], range(len(pairs)), y, w
    )
    idx = to_numpy(best).astype(np.int64)
    t1 = xp.asarray(np.array([pairs[k][0] for k in idx]))
    t2 = xp.asarray(np.array([pairs[k][1] for k in idx]))
    return xp.stack([coef[:, 0], t1, coef[:, 1], t2, coef[:, 2]], axis=1)


def _biexp_order(xp, p):
    swap = p[:, 1] > p[:, 3]
    ident = xp.arange(5)
    swapped = xp.asarray([2, 3, 0, 1, 4])
    return xp.where(swap[:, None], swapped[None, :], ident[None, :])


biexp_decay = register_curve_model(
    CurveModel(
        "biexp_decay",
        ("a1", "tau1", "a2", "tau2", "offset"),
        function=_biexp_f,
        jacobian=_biexp_j,
        guess=_biexp_guess,
        defaults={"a1": 1.0, "tau1": 0.5, "a2": 1.0, "tau2": 2.0, "offset": 0.0},
        bounds={"tau1": (1e-300, np.inf), "tau2": (1e-300, np.inf)},
        units={"a1": "signal at x = 0", "tau1": "x units (s, ns)", "a2": "signal at x = 0", "tau2": "x units (s, ns)", "offset": "signal"},
        x_units="s (or ns: any time unit, zero at the excitation; the lifetimes come out in it)",
        equation="y = a1 · exp(−x/tau1) + a2 · exp(−x/tau2) + offset, tau1 < tau2",
        description="bi-exponential decay (fast and slow PL lifetimes); the pair is sorted so that tau1 < tau2",
        canonical=_biexp_order,
    )
)


# ---- Varshni: E(T) = E0 − α·T²/(T + β) ----------------------------------------------------------
def _varshni_f(xp, x, p):
    e0, a, b = (p[:, i : i + 1] for i in range(3))
    t = x[None, :]
    return e0 - a * t * t / (t + b)


def _varshni_j(xp, x, p):
    a, b = p[:, 1:2], p[:, 2:3]
    t = x[None, :]
    q = t * t / (t + b)
    return xp.stack([xp.ones_like(q), -q, a * q / (t + b)], axis=-1)


def _varshni_guess(xp, x, y, w):
    # for a given β the model is linear in (E0, α): profile β over a log grid
    grid = [float(v) for v in np.geomspace(1.0, 3000.0, 25)]
    beta, coef = _profile(xp, lambda b: xp.stack([xp.ones_like(x), -(x * x) / (x + b)], axis=-1)[None, :, :], grid, y, w)
    return xp.stack([coef[:, 0], coef[:, 1], beta], axis=1)


varshni = register_curve_model(
    CurveModel(
        "varshni",
        ("e0_ev", "alpha_ev_per_k", "beta_k"),
        function=_varshni_f,
        jacobian=_varshni_j,
        guess=_varshni_guess,
        defaults={"e0_ev": 2.4, "alpha_ev_per_k": 0.0, "beta_k": 100.0},
        bounds={"beta_k": (1e-6, np.inf)},
        units={"e0_ev": "eV", "alpha_ev_per_k": "eV/K", "beta_k": "K"},
        x_units="K",
        equation="E = e0_ev − alpha_ev_per_k · T² / (T + beta_k)",
        description="band-gap or peak energy versus temperature (alpha < 0: the gap opens on heating, as in CsPbBr₃)",
    )
)


# ---- variable stripe length: I(l) = (A/g)·(exp(g·l) − 1) -----------------------------------------
def _phi(xp, u):
    """(e^u − 1)/u and its derivative, series near 0 (no cancellation), u clipped below overflow."""
    u = xp.minimum(u, 700.0)
    small = xp.abs(u) < 1e-2
    us = xp.where(small, u, 0.0)
    ub = xp.where(small, 1.0, u)
    phi = xp.where(small, 1 + us * (1 / 2 + us * (1 / 6 + us * (1 / 24 + us * (1 / 120 + us / 720)))), xp.expm1(ub) / ub)
    dphi_series = 1 / 2 + us * (1 / 3 + us * (1 / 8 + us * (1 / 30 + us * (1 / 144 + us / 840))))
    dphi = xp.where(small, dphi_series, (ub * xp.exp(ub) - xp.expm1(ub)) / (ub * ub))
    return phi, dphi


def _vsl_f(xp, x, p):
    a, g = p[:, :1], p[:, 1:2]
    phi, _ = _phi(xp, g * x[None, :])
    return a * x[None, :] * phi


def _vsl_j(xp, x, p):
    a, g = p[:, :1], p[:, 1:2]
    xx = x[None, :]
    phi, dphi = _phi(xp, g * xx)
    return xp.stack([xx * phi, a * xx * xx * dphi], axis=-1)


def _vsl_guess(xp, x, y, w):
    lmax = float(np.max(np.abs(to_numpy(x))))
    lmax = lmax if lmax > 0 else 1.0
    grid = [u / lmax for u in (-3.0, -1.5, -0.5, 0.01, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.5, 8.0, 10.0, 13.0, 16.0, 20.0)]
    g, coef = _profile(xp, lambda v: (x * _phi(xp, v * x)[0])[None, :, None], grid, y, w)
    return xp.stack([coef[:, 0], g], axis=1)


vsl_gain = register_curve_model(
    CurveModel(
        "vsl_gain",
        ("amplitude", "g_per_cm"),
        function=_vsl_f,
        jacobian=_vsl_j,
        guess=_vsl_guess,
        defaults={"amplitude": 1.0, "g_per_cm": 0.0},
        units={"amplitude": "signal/cm (spontaneous emission per stripe length)", "g_per_cm": "cm-1"},
        x_units="cm (stripe length l)",
        equation="I = (amplitude / g_per_cm) · (exp(g_per_cm · l) − 1)  (→ amplitude · l as g → 0)",
        description="variable-stripe-length (VSL) optical gain: net modal gain g (negative: loss), seed 003",
    )
)


# ---- gain saturation: g(N) = σ·(N − N_th)/(1 + N/N_s) ---------------------------------------------
def _gsat_f(xp, x, p):
    sig, nth, ns = (p[:, i : i + 1] for i in range(3))
    n = x[None, :]
    return sig * (n - nth) / (1 + n / ns)


def _gsat_j(xp, x, p):
    sig, nth, ns = (p[:, i : i + 1] for i in range(3))
    n = x[None, :]
    q = 1 + n / ns
    return xp.stack([(n - nth) / q, -sig / q * xp.ones_like(n), sig * (n - nth) * n / (ns * ns * q * q)], axis=-1)


def _gsat_guess(xp, x, y, w):
    # for a given N_s the model is linear in (σ, σ·N_th): profile N_s over multiples of the largest N
    nmax = float(np.max(np.abs(to_numpy(x))))
    nmax = nmax if nmax > 0 else 1.0
    grid = [nmax * f for f in np.geomspace(0.05, 100.0, 25)]
    ns, coef = _profile(xp, lambda v: xp.stack([x / (1 + x / v), -1 / (1 + x / v)], axis=-1)[None, :, :], grid, y, w)
    sig = coef[:, 0]
    nth = coef[:, 1] / xp.where(sig == 0, 1.0, sig)
    return xp.stack([sig, nth, ns], axis=1)


gain_saturation = register_curve_model(
    CurveModel(
        "gain_saturation",
        ("sigma", "n_th", "n_s"),
        function=_gsat_f,
        jacobian=_gsat_j,
        guess=_gsat_guess,
        defaults={"sigma": 1.0, "n_th": 0.0, "n_s": 1.0},
        bounds={"n_s": (1e-300, np.inf)},
        units={"sigma": "g units per x unit (cm² for g in cm⁻¹ and N in cm⁻³)", "n_th": "x units", "n_s": "x units"},
        x_units="carrier density N (e.g. 1e19 cm-3; n_th and n_s come out in it)",
        equation="g = sigma · (N − n_th) / (1 + N / n_s)",
        description="material gain versus carrier density: cross-section, transparency and saturation densities, seed 003",
    )
)


# ---- resonant multi-phonon up-conversion (seed 002, Eq. 9) ---------------------------------------
def _mp_log(xp, x, p):
    g, om, t = p[:, 1:2], p[:, 2:3], p[:, 3:4]
    e = x[None, :]
    ln_ratio = xp.log(e) + xp.log(om) - 2 * xp.log(g)  # ln(ΔE·ω_p/g²)
    return -e / (K_B_MEV_PER_K * t) - 0.5 * xp.log(e) + (e / om) * (1 - ln_ratio), ln_ratio


def _mp_f(xp, x, p):
    lw, _ = _mp_log(xp, x, p)
    return p[:, :1] * xp.exp(xp.minimum(lw, 700.0))


def _mp_j(xp, x, p):
    a, g, om, t = (p[:, i : i + 1] for i in range(4))
    e = x[None, :]
    lw, ln_ratio = _mp_log(xp, x, p)
    u = xp.exp(xp.minimum(lw, 700.0))
    f = a * u
    return xp.stack(
        [u, f * 2 * e / (om * g), -f * (e / om**2) * (2 - ln_ratio), f * e / (K_B_MEV_PER_K * t * t)],
        axis=-1,
    )


def _mp_guess(xp, x, y, w, fixed):
    # ln W + ½ ln ΔE = ln A + c1·ΔE + c2·ΔE ln ΔE: c2 = −1/ω_p, c1 = −1/kT + (1 − ln ω_p + 2 ln g)/ω_p
    t = float(fixed.get("temperature_k", 300.0))
    lx = xp.log(x)
    ok = (w > 0) & (y > 0)
    z = xp.where(ok, xp.log(xp.where(ok, y, 1.0)), 0.0) + 0.5 * lx[None, :]
    ww = xp.where(ok, w * y * y, 0.0)
    design = xp.stack([xp.ones_like(x), x, x * lx], axis=-1)[None, :, :]
    coef, _ = _wls(xp, design, z, ww)
    om = xp.where(coef[:, 2] < 0, -1.0 / xp.where(coef[:, 2] < 0, coef[:, 2], -1.0), float(np.mean(to_numpy(x))) / 4)
    ln_g = 0.5 * (om * (coef[:, 1] + 1.0 / (K_B_MEV_PER_K * t)) - 1 + xp.log(om))
    g = xp.exp(xp.clip(ln_g, -50, 50))
    pp = xp.stack([xp.ones_like(g), g, om, xp.full_like(g, t)], axis=1)
    shape = _mp_f(xp, x, pp)  # amplitude by linear least squares on the shape
    a = (w * y * shape).sum(axis=1) / xp.maximum((w * shape * shape).sum(axis=1), 1e-300)
    return xp.stack([a, g, om, xp.full_like(g, t)], axis=1)


multiphonon = register_curve_model(
    CurveModel(
        "multiphonon",
        ("amplitude", "g_mev", "omega_p_mev", "temperature_k"),
        function=_mp_f,
        jacobian=_mp_j,
        guess=_mp_guess,
        defaults={"amplitude": 1.0, "g_mev": 20.0, "omega_p_mev": 10.0, "temperature_k": 300.0},
        bounds={"g_mev": (1e-6, np.inf), "omega_p_mev": (1e-6, np.inf), "temperature_k": (1e-6, np.inf)},
        units={"amplitude": "signal · meV^½", "g_mev": "meV", "omega_p_mev": "meV", "temperature_k": "K"},
        x_units="meV (anti-Stokes detuning ΔE > 0)",
        equation="W = amplitude · exp(−ΔE/k_BT)/√ΔE · exp[(ΔE/omega_p)(1 − ln(ΔE·omega_p/g²))]",
        description="resonant multi-phonon absorption by polarons: anti-Stokes PL efficiency versus detuning (seed 002)",
        held=("temperature_k",),
        x_positive=True,
    )
)


# ---- anti-Stokes efficiency ratio R (seed 002, Eq. 5) ---------------------------------------------
def _ratio_parts(p, x):
    eta, qy, eg, de = (p[:, i : i + 1] for i in range(4))
    num = eg * (1 - qy) + x[None, :]
    den = eg * (1 - eta * qy) - de
    return eta, qy, eg, de, num, den


def _ratio_f(xp, x, p):
    eta, _, _, _, num, den = _ratio_parts(p, x)
    return eta * num / den


def _ratio_j(xp, x, p):
    eta, qy, eg, _, num, den = _ratio_parts(p, x)
    r = eta * num / den
    return xp.stack(
        [
            num / den * (1 + eta * eg * qy / den),
            eta * eg / den * (r - 1),
            eta * (1 - qy) / den - r * (1 - eta * qy) / den,
            r / den,
        ],
        axis=-1,
    )


def _ratio_guess(xp, x, y, w, fixed):
    # R is linear in ΔE_S: R = a + b·ΔE_S with b = η/D, a/b = E_g(1 − QY), D = E_g(1 − η·QY) − ΔE
    eg = float(fixed.get("e_g_mev", 2400.0))
    de = float(fixed.get("delta_e_mev", 0.0))
    coef, _ = _wls(xp, xp.stack([xp.ones_like(x), x], axis=-1)[None, :, :], y, w)
    a, b = coef[:, 0], coef[:, 1]
    bb = xp.where(b != 0, b, 1e-300)
    qy = 1 - a / (bb * eg)
    eta = (eg - de) / (1 / bb + eg * qy)
    good = (b > 0) & xp.isfinite(eta) & xp.isfinite(qy)
    return xp.stack([xp.where(good, eta, 0.5), xp.where(good, qy, 0.8), xp.full_like(a, eg), xp.full_like(a, de)], axis=1)


aspl_efficiency_ratio = register_curve_model(
    CurveModel(
        "aspl_efficiency_ratio",
        ("eta", "qy", "e_g_mev", "delta_e_mev"),
        function=_ratio_f,
        jacobian=_ratio_j,
        guess=_ratio_guess,
        defaults={"eta": 0.5, "qy": 0.8, "e_g_mev": 2400.0, "delta_e_mev": 0.0},
        units={"eta": "", "qy": "", "e_g_mev": "meV", "delta_e_mev": "meV"},
        x_units="meV (Stokes detuning ΔE_S above the emitting state)",
        equation="R = eta · [E_g·(1 − qy) + ΔE_S] / [E_g·(1 − eta·qy) − ΔE]",
        description=(
            "ratio of anti-Stokes to Stokes PL per absorbed heat (I_AS/PA_AS)/(I_S/PA_S) versus ΔE_S at one "
            "anti-Stokes detuning ΔE: ASPL efficiency eta and quantum yield qy (seed 002); E_g and ΔE held"
        ),
        held=("e_g_mev", "delta_e_mev"),
    )
)
