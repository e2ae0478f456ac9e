"""The curve models shipped with hyperspec, registered for :func:`hyperspec.fit.curves.fit_curves`.

Each is one :class:`~hyperspec.fit.curves.CurveModel` declaration: function and analytic Jacobian on
``xp`` (batched over pixels, rows of ``p``), start values from the data, default bounds and units.
``tests/fit/test_curve_models.py`` checks every Jacobian against finite differences and every model
against ``scipy.optimize.curve_fit`` pixel by pixel.
"""

from __future__ import annotations

import numpy as np

from hyperspec.fit.curves import CurveModel, register_curve_model

__all__ = ["power_law", "exp_decay", "onset_exp", "sinusoids", "sinusoid_param_names"]


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
        equation="y = amplitude · x^k",
        description="excitation-power dependence (k ≈ 1 single photon, k ≈ 2 bimolecular)",
    )
)


# ---- single exponential decay: y = A·exp(−x/τ) + c -------------------------------------------
def _exp_f(xp, x, p):
    return p[:, :1] * xp.exp(-x[None, :] / p[:, 1:2]) + p[:, 2:3]


def _exp_j(xp, x, p):
    e = xp.exp(-x[None, :] / p[:, 1:2])
    return xp.stack([e, p[:, :1] * e * x[None, :] / p[:, 1:2] ** 2, xp.ones_like(e)], axis=-1)


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
    t0 = xp.maximum(x[idx] - 0.05 * span, x[0])
    tau = xp.full_like(base, span / 5)
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
    n_trend = trend + 1

    def function(xp, x, p):
        tau, u = _centre(xp, x)
        out = xp.zeros((p.shape[0], x.shape[0]), dtype=p.dtype)
        for j in range(n_trend):
            out = out + p[:, j : j + 1] * u[None, :] ** j
        for i in range(n):
            period, c, s = (p[:, n_trend + 3 * i + k : n_trend + 3 * i + k + 1] for k in range(3))
            phase = 2 * np.pi * tau[None, :] / period
            out = out + c * xp.cos(phase) + s * xp.sin(phase)
        return out

    def jacobian(xp, x, p):
        tau, u = _centre(xp, x)
        k = p.shape[0]
        cols = [xp.broadcast_to(u[None, :] ** j, (k, x.shape[0])) for j in range(n_trend)]
        for i in range(n):
            period, c, s = (p[:, n_trend + 3 * i + q : n_trend + 3 * i + q + 1] for q in range(3))
            phase = 2 * np.pi * tau[None, :] / period
            cs, sn = xp.cos(phase), xp.sin(phase)
            cols += [(c * sn - s * cs) * 2 * np.pi * tau[None, :] / period**2, cs, sn]
        return xp.stack(cols, axis=-1)

    def guess(xp, x, y, w):
        from hyperspec.kinetics.periods import periodogram_guess

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
