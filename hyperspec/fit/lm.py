"""Batched Levenberg–Marquardt: every pixel of a chunk fitted at once, through ``xp``.

One call fits ``n`` independent problems (pixels) that share the abscissa ``x``:

- per-pixel damping (Marquardt scaling, Nielsen's λ update) and convergence; pixels that are done
  leave the active set, so the work shrinks as the chunk converges;
- box bounds (projected steps), an optional Tikhonov penalty pulling parameters toward priors
  (``prior=(mu, sigma)``: adds Σ((p − μ)/σ)² to χ²), optional per-point weights (1/σ², e.g. Poisson);
- Jacobians analytic (``jacobian=``), by complex step (machine-precision for analytic models) or
  by forward differences;
- covariance → standard errors; a per-pixel ``status`` instead of exceptions.

The normal equations are formed and solved in float64 (they square the condition number).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from hyperspec._backend import COMPILED_LM_VAR, get_namespace, numba_available

__all__ = [
    "FitStatus",
    "LMResult",
    "levenberg_marquardt",
    "complex_step_jacobian",
    "forward_jacobian",
    "bound_hits",
    "first_at_bound",
    "AT_BOUND_RTOL",
]


class FitStatus(IntEnum):
    """Per-pixel outcome of a fit (stored as int8 in result maps).

    Attributes
    ----------
    CONVERGED : 0
        A tolerance was met.
    MAX_ITER : 1
        Stopped at ``max_iter`` before converging.
    SINGULAR : 2
        Converged or stopped, but the curvature matrix is singular: no standard errors.
    NONFINITE : 3
        NaN/inf in the data (at a weighted point) or in the start values; not fitted.
    MASKED : 4
        Fewer usable points than parameters; not fitted.
    STALLED : 5
        No step lowers χ² any more, but the gradient test is not met.

    Examples
    --------
    >>> FitStatus(3).name, int(FitStatus.MASKED)
    ('NONFINITE', 4)
    """

    CONVERGED = 0
    MAX_ITER = 1
    SINGULAR = 2
    NONFINITE = 3
    MASKED = 4
    STALLED = 5


@dataclass
class LMResult:
    """Result of ``levenberg_marquardt``: arrays on the input's device, one row per pixel.

    Parameters and standard errors are in the units of the model's parameters; χ² is in units of
    the weighted squared residuals (dimensionless for weights 1/σ²).

    Attributes
    ----------
    params : array, shape (n, P)
        Fitted parameters (float64); NaN for rows that were not fitted (``NONFINITE``, ``MASKED``).
    stderr : array, shape (n, P)
        Standard errors, √diag(covariance); NaN where the covariance is undetermined.
    covariance : array, shape (n, P, P)
        Parameter covariance, scaled by χ²_red unless ``absolute_weights``; NaN for singular rows.
    chi2 : array, shape (n,)
        Weighted sum of squared residuals of the data alone (priors and penalty not included).
    chi2_red : array, shape (n,)
        ``chi2 / dof``; NaN when dof ≤ 0.
    dof : array, shape (n,)
        Degrees of freedom: points with weight > 0 minus the number of parameters.
    n_iter : array, shape (n,)
        Iterations run per row (int32).
    status : array, shape (n,)
        ``FitStatus`` codes (int8).

    Examples
    --------
    >>> import numpy as np
    >>> res = levenberg_marquardt(lambda x, p: p[:, :1] * x, np.arange(3.0), np.arange(3.0) * 2, [1.0])
    >>> res.params, res.status
    (array([[2.]]), array([0], dtype=int8))
    """

    params: Any
    stderr: Any
    covariance: Any
    chi2: Any
    chi2_red: Any
    dof: Any
    n_iter: Any
    status: Any


def complex_step_jacobian(model: Callable, x, p, h: float = 1e-30):
    """Compute the Jacobian ∂f/∂p by the complex step, Im f(p + i·h·e_k)/h (exact to rounding for analytic f).

    Parameters
    ----------
    model : callable
        ``model(x, p)`` with ``p`` of shape (k, P) returning (k, m); it must accept complex ``p``
        (no ``abs``, comparisons or ``clip`` on the parameters).
    x : array
        Abscissa shared by all rows.
    p : array, shape (n, P)
        Parameters at which to differentiate.
    h : float, optional
        Imaginary step. Default is 1e-30 (no subtraction, so no cancellation).

    Returns
    -------
    array, shape (n, m, P)
        Derivatives, in units of f per unit of each parameter.

    See Also
    --------
    forward_jacobian : for models that are not complex-safe.

    Examples
    --------
    >>> import numpy as np
    >>> line = lambda x, p: p[:, :1] * x + p[:, 1:2]
    >>> complex_step_jacobian(line, np.array([0.0, 1.0, 2.0]), np.array([[2.0, 1.0]]))[0]
    array([[0., 1.],
           [1., 1.],
           [2., 1.]])
    """
    xp = get_namespace(p)
    n, n_par = p.shape
    pc = p[:, None, :].astype(xp.complex128) + 1j * h * xp.eye(n_par)[None, :, :]
    f = model(x, pc.reshape(n * n_par, n_par))
    return xp.moveaxis(f.imag.reshape(n, n_par, -1) / h, 1, 2)


def forward_jacobian(model: Callable, x, p, f0=None):
    """Compute the Jacobian ∂f/∂p by forward differences, with step √ε·max(|p|, 1) per parameter.

    Parameters
    ----------
    model : callable
        ``model(x, p)`` with ``p`` of shape (k, P) returning (k, m).
    x : array
        Abscissa shared by all rows.
    p : array, shape (n, P)
        Parameters at which to differentiate.
    f0 : array, shape (n, m), optional
        ``model(x, p)`` when already evaluated (saves one call).

    Returns
    -------
    array, shape (n, m, P)
        Derivatives, in units of f per unit of each parameter (about 8 significant digits).

    See Also
    --------
    complex_step_jacobian : exact to rounding for complex-safe models.

    Examples
    --------
    >>> import numpy as np
    >>> line = lambda x, p: p[:, :1] * x + p[:, 1:2]
    >>> np.round(forward_jacobian(line, np.array([0.0, 1.0, 2.0]), np.array([[2.0, 1.0]]))[0], 6)
    array([[0., 1.],
           [1., 1.],
           [2., 1.]])
    """
    xp = get_namespace(p)
    n, n_par = p.shape
    if f0 is None:
        f0 = model(x, p)
    step = 1.4901161193847656e-08 * xp.maximum(xp.abs(p), 1.0)
    pp = p[:, None, :] + step[:, None, :] * xp.eye(n_par)[None, :, :]
    f = model(x, pp.reshape(n * n_par, n_par)).reshape(n, n_par, -1)
    return xp.moveaxis((f - f0[:, None, :]) / step[:, :, None], 1, 2)


def _broadcast_rows(value, n: int, width: int, xp, name: str, fill: float | None = None, copy: bool = True):
    """``value`` as (n, width) float64 rows: a (width,) row repeated, an (n, width) array, or ``fill`` when None.

    ``copy=False`` for an array that is only read: then a float64 (n, width) input comes back as it is and a
    (width,) one as a read-only broadcast view (the weights of a 256 × 1024 batch: a 2 MiB copy saved).
    """
    if value is None:
        return xp.full((n, width), fill, dtype=xp.float64)
    arr = xp.asarray(value, dtype=xp.float64)
    if arr.ndim == 1:
        arr = xp.broadcast_to(arr, (n, width))
    if arr.shape != (n, width):
        raise ValueError(f"`{name}` must have shape ({width},) or ({n}, {width}); got {tuple(arr.shape)}.")
    return xp.array(arr, copy=True) if copy else arr


def _solve(a, b, xp):
    """Solve the batch ``a x = b``, through the pseudo-inverse where a matrix is singular to working precision.

    NumPy raises for the whole batch when one matrix is singular (collinear Jacobian columns once the
    damping has shrunk, e.g. a lifetime running to infinity against an offset); that row then gets the
    minimum-norm step instead of the batch an exception.
    """
    try:
        return xp.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return xp.matmul(xp.linalg.pinv(a), b)


def _active_set(A, g, p, lo, hi, eye, xp):
    """Freeze parameters on a bound whose descent direction points out of the box.

    Returns the curvature matrix with the frozen rows/columns decoupled (identity), the gradient with
    their entries zeroed, and the frozen mask: the step and the convergence tests then see only the
    directions the box leaves open.
    """
    frozen = ((p <= lo) & (g < 0)) | ((p >= hi) & (g > 0))
    free = ~frozen
    A_free = xp.where(free[:, :, None] & free[:, None, :], A, 0.0) + frozen[:, :, None] * eye
    return A_free, xp.where(frozen, 0.0, g), frozen


def levenberg_marquardt(
    model: Callable,
    x,
    y,
    p0,
    *,
    jacobian: Callable | str = "complex-step",
    weights=None,
    bounds=None,
    prior=None,
    penalty=None,
    absolute_weights: bool = False,
    covariance_mask: Callable | None = None,
    normal_equations: Callable | None = None,
    max_iter: int = 200,
    xtol: float = 1e-10,
    ftol: float = 1e-12,
    gtol: float = 1e-10,
    lambda0: float = 1e-3,
) -> LMResult:
    """Fit ``y ≈ model(x, p)`` for every row of ``y`` at once.

    Each row has its own damping (Marquardt scaling, Nielsen's update) and convergence test; rows
    that are done leave the active set. The normal equations are formed and solved in float64.
    Units: ``x`` and ``y`` in whatever units the model uses (e.g. cm⁻¹ and counts), parameters,
    bounds and priors in the parameters' own units.

    Parameters
    ----------
    model : callable
        ``model(x, p)`` with ``p`` of shape (k, P) returns (k, m); written against ``xp`` (and
        complex-safe for the complex-step Jacobian).
    x : array
        Abscissa shared by all rows (any shape the model understands).
    y : array, shape (n, m) or (m,)
        Data, one row per pixel.
    p0 : array, shape (P,) or (n, P)
        Start values.
    jacobian : callable or {"complex-step", "forward"}
        ``jacobian(x, p)`` → (k, m, P), or a numerical method. Default ``"complex-step"``.
        A callable with the attribute ``returns_value = True`` returns ``(f, J)`` in one call.
    weights : array, shape (m,) or (n, m), optional
        Per-point weights 1/σ²; 0 masks a point (its data may then be NaN).
    bounds : (lower, upper), optional
        Box bounds, each (P,) or (n, P); ±inf for none. Steps are projected onto the box.
    prior : (mu, sigma), optional
        Tikhonov penalty Σ((p − μ)/σ)² added to χ²; ``sigma = inf`` switches it off per parameter.
    penalty : array, shape (r, P), optional
        A general quadratic penalty ‖R·p‖² shared by all rows (e.g. √λ times second differences of
        the node amplitudes of a free-form continuum), added to χ².
    absolute_weights : bool
        If True, ``weights`` are exact 1/σ² and the covariance is not rescaled by χ²_red
        (like ``curve_fit(absolute_sigma=True)``). Default False.
    covariance_mask : callable, optional
        ``covariance_mask(p)`` → bool (n, P): parameters to include in the covariance. Excluded
        ones (e.g. the shape of a band whose amplitude fitted to zero, which the data cannot
        determine) get NaN errors instead of making the whole row singular.
    normal_equations : callable, optional
        ``normal_equations(p, y, sw)`` → (JᵀWJ (k, P, P), JᵀW r (k, P), Σ W r² (k,)) of the data alone
        for rows ``y`` (k, m) with √weights ``sw`` and r = y − f; used instead of ``jacobian`` in the
        iterations (e.g. the fused GPU kernel, which never stores the Jacobian). Masked points
        (``sw = 0``) must add nothing.
    max_iter, xtol, ftol, gtol, lambda0
        Iteration limit; convergence when every parameter's undamped Gauss–Newton step is below
        ``xtol`` relative, or that step predicts a χ² decrease below ``ftol``·χ², or the scaled
        gradient is below ``gtol`` (all on the directions the bounds leave open); initial damping.
        Defaults are 200, 1e-10, 1e-12, 1e-10 and 1e-3.

    Returns
    -------
    LMResult
        With per-row ``status`` (``FitStatus``) — rows never raise: NaN data at a weighted point or
        NaN start values give ``NONFINITE``, fewer weighted points than parameters ``MASKED``.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or 2-D, ``p0``, ``weights``, ``bounds``, ``prior`` or ``penalty`` has the
        wrong shape, a weight is negative or not finite, a lower bound exceeds its upper bound, or
        ``jacobian`` is an unknown method name.

    Examples
    --------
    Two exponential decays (amplitude in counts, lifetime in ns) fitted at once; the second pixel has
    a NaN point, which is masked by a zero weight:

    >>> import numpy as np
    >>> t = np.linspace(0.0, 4.0, 9)
    >>> def decay(t, p):
    ...     return p[:, :1] * np.exp(-t / p[:, 1:2])
    >>> y = decay(t, np.array([[100.0, 1.5], [50.0, 0.8]]))
    >>> y[1, 3] = np.nan
    >>> w = np.where(np.isfinite(y), 1.0, 0.0)
    >>> res = levenberg_marquardt(decay, t, y, [80.0, 1.0], weights=w, bounds=([0.0, 0.1], [np.inf, 10.0]))
    >>> np.round(res.params, 6)
    array([[100. ,   1.5],
           [ 50. ,   0.8]])
    >>> [FitStatus(s).name for s in res.status], res.dof
    (['CONVERGED', 'CONVERGED'], array([7, 6]))
    """
    xp = get_namespace(y, p0)
    y = xp.asarray(y, dtype=xp.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2:
        raise ValueError(f"`y` must have shape (n, m) or (m,); got {tuple(y.shape)}.")
    n, m = y.shape
    p = xp.asarray(p0, dtype=xp.float64)
    n_par = p.shape[-1]
    p = _broadcast_rows(p, n, n_par, xp, "p0")
    w = _broadcast_rows(weights, n, m, xp, "weights", fill=1.0, copy=False)  # only read below
    w_min, w_max = (xp.min(w), xp.max(w)) if w.size else (0.0, 0.0)
    if not (bool(w_min >= 0) and bool(w_max < np.inf)):  # NaN fails both comparisons
        raise ValueError("`weights` must be finite and ≥ 0 (use 0 to mask a point).")
    lo = _broadcast_rows(None if bounds is None else bounds[0], n, n_par, xp, "bounds[0]", fill=-np.inf)
    hi = _broadcast_rows(None if bounds is None else bounds[1], n, n_par, xp, "bounds[1]", fill=np.inf)
    if bool(xp.any(lo > hi)):
        raise ValueError("`bounds`: every lower bound must be ≤ its upper bound.")
    mu = _broadcast_rows(None if prior is None else prior[0], n, n_par, xp, "prior mu", fill=0.0)
    inv_var = 1.0 / _broadcast_rows(None if prior is None else prior[1], n, n_par, xp, "prior sigma", fill=np.inf) ** 2
    if penalty is not None:
        R = xp.asarray(penalty, dtype=xp.float64)
        if R.ndim != 2 or R.shape[1] != n_par:
            raise ValueError(f"`penalty` must have shape (r, {n_par}); got {tuple(R.shape)}.")
        RtR = R.T @ R
    else:
        RtR = None

    if normal_equations is not None:
        method = "normal"  # normal_equations(p, y, sw) → (JᵀWJ, JᵀWr, χ²): no Jacobian in sight
    elif callable(jacobian) and getattr(jacobian, "returns_value", False):
        method = "combined"  # jacobian(x, p) → (f, J) in one evaluation
    elif isinstance(jacobian, str):
        if jacobian not in ("complex-step", "forward"):
            raise ValueError(f"`jacobian` must be a callable, 'complex-step' or 'forward'; got {jacobian!r}.")
        method = jacobian
    else:
        method = "analytic"

    def evaluate(xx, pp):
        if method == "combined":
            return jacobian(xx, pp)
        if method == "analytic":
            return model(xx, pp), jacobian(xx, pp)
        if method == "complex-step":
            return model(xx, pp), complex_step_jacobian(model, xx, pp)
        f = model(xx, pp)
        return f, forward_jacobian(model, xx, pp, f)

    # Input validation per row: non-finite weighted data or start values, too few points.
    status = xp.full(n, -1, dtype=xp.int8)
    used = w > 0
    bad_data = xp.any(used & ~xp.isfinite(y), axis=1) | ~xp.all(xp.isfinite(p), axis=1)
    dof = used.sum(axis=1) - n_par
    status[bad_data] = FitStatus.NONFINITE
    status[(dof <= 0) & ~bad_data] = FitStatus.MASKED
    y = xp.where(used, y, 0.0)
    sw = xp.sqrt(w)
    p = xp.clip(p, lo, hi)

    # Per-row state.
    chi2 = xp.full(n, xp.nan)
    A = xp.zeros((n, n_par, n_par))
    g = xp.zeros((n, n_par))
    lam = xp.full(n, float(lambda0))
    nu = xp.full(n, 2.0)
    n_iter = xp.zeros(n, dtype=xp.int32)
    eye = xp.eye(n_par)

    def regularisation(idx, pp):
        """Return the χ² added by the priors and the quadratic penalty for rows ``idx`` at ``pp``."""
        dp = pp - mu[idx]
        out = xp.sum(xp.where(inv_var[idx] > 0, inv_var[idx] * dp * dp, 0.0), axis=1)
        return out if RtR is None else out + xp.sum(pp * (pp @ RtR), axis=1)

    # With a combined value-and-Jacobian callable the Jacobian costs little more than the value, so the
    # trial point is evaluated with it: an accepted step needs no second evaluation. The callable then
    # owns fresh arrays, so the weighting may overwrite them. On the CPU the rows go through in blocks
    # whose Jacobian (≈4 MiB) stays in cache between its evaluation and the normal-equation product.
    jacobian_at_trial = method in ("combined", "normal")
    block = n
    if method == "combined" and xp is np:
        block = max(8, (4 << 20) // (8 * m * (n_par + 1)))

    def data_normal(idx, pp):
        """Return the data's (JᵀWJ, JᵀWr, χ²) at ``pp`` for rows ``idx``, from the caller's ``normal_equations``."""
        return normal_equations(pp, y[idx], sw[idx])

    def system(idx, pp, fJ=None):
        """Return (A, g, χ²) with priors and penalty for rows ``idx`` at ``pp``.

        ``fJ``: their (f, J) or, with ``normal_equations``, their data normal equations, when already
        evaluated.
        """
        if method == "normal":
            AA, gg, c = data_normal(idx, pp) if fJ is None else fJ
            AA = AA + inv_var[idx][:, :, None] * eye
            gg = gg - inv_var[idx] * (pp - mu[idx])
            if RtR is not None:
                AA = AA + RtR
                gg = gg - pp @ RtR
            return AA, gg, c + regularisation(idx, pp)
        f, J = evaluate(x, pp) if fJ is None else fJ
        r = sw[idx] * (y[idx] - f)
        if jacobian_at_trial:
            JwT = xp.swapaxes(J, 1, 2)  # (n, P, m): contiguous rows when J is a parameter-major view
            JwT *= sw[idx][:, None, :]
        else:
            JwT = xp.swapaxes(J, 1, 2) * sw[idx][:, None, :]
        AA = xp.matmul(JwT, xp.swapaxes(JwT, 1, 2)) + inv_var[idx][:, :, None] * eye  # batched GEMM
        gg = xp.matmul(JwT, r[:, :, None])[:, :, 0] - inv_var[idx] * (pp - mu[idx])
        if RtR is not None:
            AA = AA + RtR
            gg = gg - pp @ RtR
        return AA, gg, xp.sum(r * r, axis=1) + regularisation(idx, pp)

    # The CPU's fused kernel runs the whole loop below compiled, pixel by pixel (same steps, same order).
    compiled = getattr(getattr(normal_equations, "__self__", None), "levenberg_marquardt_rows", None) if xp is np else None
    if compiled is not None and os.environ.get(COMPILED_LM_VAR, "1") == "0":
        compiled = None
    compiled_chi2 = None
    if compiled is not None:
        A, compiled_chi2 = compiled(y, sw, p, lo, hi, mu, inv_var, RtR, status, n_iter,
                                    max_iter=max_iter, xtol=xtol, ftol=ftol, gtol=gtol, lambda0=lambda0)  # fmt: skip

    active = xp.flatnonzero(status < 0)
    for b0 in range(0, active.size, block):
        rows = active[b0 : b0 + block]
        A[rows], g[rows], chi2[rows] = system(rows, p[rows])
    if active.size:
        nonfinite = active[~xp.isfinite(chi2[active]) | ~xp.all(xp.isfinite(g[active]), axis=1)]
        status[nonfinite] = FitStatus.NONFINITE
        active = xp.flatnonzero(status < 0)

    # Damping scale (MINPACK): the running maximum of the curvature diagonal, floored so no
    # parameter is left undamped; it never shrinks, which keeps far-off starts from running away.
    diag0 = xp.diagonal(A, axis1=1, axis2=2)
    scale = xp.maximum(diag0, 1e-12 * xp.max(diag0, axis=1, keepdims=True) + 1e-300)

    for _ in range(int(max_iter)):
        if active.size == 0:
            break
        pa, la = p[active], lam[active]
        # a parameter on a bound whose descent direction points out of the box is frozen for this step,
        # instead of being clipped after a step that assumed it moved
        Aa, ga, frozen = _active_set(A[active], g[active], pa, lo[active], hi[active], eye, xp)
        D = xp.where(frozen, 1.0, scale[active])
        step = _solve(Aa + (la[:, None] * D)[:, :, None] * eye, ga[:, :, None], xp)[:, :, 0]
        p_new = xp.clip(pa + step, lo[active], hi[active])
        step = p_new - pa
        n_iter[active] += 1
        old = chi2[active]
        predicted = 0.5 * xp.sum(step * (la[:, None] * D * step + ga), axis=1)
        chi2_new = xp.empty(active.size)
        accept = xp.zeros(active.size, dtype=bool)
        for b0 in range(0, active.size, block):
            sl = slice(b0, b0 + block)
            rows, p_b = active[sl], p_new[sl]
            if method == "normal":
                ne_b = data_normal(rows, p_b)
                c_b = ne_b[2] + regularisation(rows, p_b)
            else:
                if jacobian_at_trial:
                    f_b, J_b = evaluate(x, p_b)
                else:
                    f_b = model(x, p_b)
                r_b = sw[rows] * (y[rows] - f_b)
                c_b = xp.sum(r_b * r_b, axis=1) + regularisation(rows, p_b)
            a_b = xp.isfinite(c_b) & (c_b <= old[sl]) & (predicted[sl] > 0)
            chi2_new[sl], accept[sl] = c_b, a_b
            if method == "normal" and bool(a_b.any()):
                ra = rows[a_b]
                A[ra], g[ra], chi2[ra] = system(ra, p_b[a_b], tuple(v[a_b] for v in ne_b))
            elif jacobian_at_trial and bool(a_b.any()):  # the normal equations of the accepted rows, J still hot
                if not bool(a_b.all()):  # keep J parameter-major (rows contiguous) for the GEMM
                    f_b, J_b = f_b[a_b], xp.swapaxes(xp.swapaxes(J_b, 1, 2)[a_b], 1, 2)
                ra = rows[a_b]
                A[ra], g[ra], chi2[ra] = system(ra, p_b[a_b], (f_b, J_b))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # degenerate rows: inf/NaN, rejected below
            rho = 0.5 * (old - chi2_new) / xp.where(predicted > 0, predicted, 1e-300)
        # damping update (Nielsen): shrink on success, grow geometrically on failure
        shrink = xp.maximum(1.0 / 3.0, 1.0 - (2.0 * xp.clip(rho, 0.0, 1.0) - 1.0) ** 3)
        lam[active] = xp.where(accept, la * shrink, la * nu[active])
        nu[active] = xp.where(accept, 2.0, nu[active] * 2.0)
        acc = active[accept]
        if acc.size:
            p[acc] = p_new[accept]
            if not jacobian_at_trial:
                A[acc], g[acc], chi2[acc] = system(acc, p[acc])
            scale[acc] = xp.maximum(scale[acc], xp.diagonal(A[acc], axis1=1, axis2=2))
        # convergence at the current point, on the directions the bounds leave open
        pa_now = p[active]
        A_now, g_free, _ = _active_set(A[active], g[active], pa_now, lo[active], hi[active], eye, xp)
        curvature = xp.maximum(xp.diagonal(A[active], axis1=1, axis2=2), 1e-300)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a zero-curvature direction: inf, not converged
            grad = xp.abs(g_free) / xp.sqrt(curvature * xp.maximum(chi2[active], 1e-300)[:, None])
        small_grad = xp.max(grad, axis=1) <= gtol
        # at the floor: even the undamped Gauss–Newton model predicts no decrease worth ftol·χ²
        diag_now = xp.diagonal(A_now, axis1=1, axis2=2)
        d_now = xp.maximum(diag_now, 1e-12 * xp.max(diag_now, axis=1, keepdims=True) + 1e-300)  # no all-zero rows
        gn = _solve(A_now + (1e-12 * d_now)[:, :, None] * eye, g_free[:, :, None], xp)[:, :, 0]
        floor_reached = 0.5 * xp.sum(g_free * gn, axis=1) <= ftol * chi2[active]
        # per parameter, so that no parameter's units hide behind another's (heights ~1e3, energies ~1e-4 σ)
        gn_small = xp.all(xp.abs(gn) <= xtol * (xp.abs(pa_now) + xtol), axis=1)
        # judged at the current point, independent of the damping λ: a heavily damped step is small and
        # lowers χ² little however far the minimum is, so step size and χ² drop alone stop too early
        done = floor_reached | gn_small
        stalled = ~accept & (lam[active] > 1e16)
        status[active[done | small_grad]] = FitStatus.CONVERGED
        status[active[stalled & ~(done | small_grad)]] = FitStatus.STALLED
        active = xp.flatnonzero(status < 0)
    status[active] = FitStatus.MAX_ITER

    # Covariance from the curvature matrix at the solution (eigen-decomposition: robust, batched).
    fitted = xp.flatnonzero((status != FitStatus.NONFINITE) & (status != FitStatus.MASKED))
    cov = xp.full((n, n_par, n_par), xp.nan)
    data_chi2 = xp.full(n, xp.nan)
    if fitted.size:
        if compiled_chi2 is not None:
            data_chi2[fitted] = compiled_chi2[fitted]
        else:
            f = model(x, p[fitted])
            r = sw[fitted] * (y[fitted] - f)
            data_chi2[fitted] = xp.sum(r * r, axis=1)
        # scale to unit diagonal first, so the singularity test does not depend on parameter units
        Af = A[fitted]
        include = None
        if covariance_mask is not None:
            include = xp.asarray(covariance_mask(p[fitted]), dtype=bool)
            keep = include[:, :, None] & include[:, None, :]
            Af = xp.where(keep, Af, 0.0) + (~include)[:, :, None] * eye  # decouple excluded parameters
        d = xp.sqrt(xp.maximum(xp.diagonal(Af, axis1=1, axis2=2), 1e-300))
        As = Af / (d[:, :, None] * d[:, None, :])
        c, singular = _unit_scaled_inverse(As, 1e-13 * n_par, xp)
        c = c / (d[:, :, None] * d[:, None, :])
        if not absolute_weights:
            c = c * (data_chi2[fitted] / xp.maximum(dof[fitted], 1))[:, None, None]
        c[singular] = xp.nan
        if include is not None:
            c = xp.where(include[:, :, None] & include[:, None, :], c, xp.nan)
        cov[fitted] = c
        sing_rows = fitted[singular]
        status[sing_rows] = FitStatus.SINGULAR
    not_fitted = (status == FitStatus.NONFINITE) | (status == FitStatus.MASKED)
    p[not_fitted] = xp.nan
    stderr = xp.sqrt(xp.diagonal(cov, axis1=1, axis2=2))
    dof_f = dof.astype(xp.float64)
    chi2_red = xp.where(dof_f > 0, data_chi2 / xp.where(dof_f > 0, dof_f, 1.0), xp.nan)
    return LMResult(params=p, stderr=stderr, covariance=cov, chi2=data_chi2, chi2_red=chi2_red, dof=dof, n_iter=n_iter, status=status)


def _unit_scaled_inverse(As, threshold: float, xp):
    """Inverse of each unit-diagonal curvature matrix ``As`` (n, P, P) and its singularity flag (λ_min ≤ ``threshold``).

    The eigendecomposition decides and inverts (zero for a singular row; NaN is set by the caller). With numba
    on the CPU, ``_fused_kernel.unit_scaled_inverse`` does it by Cholesky and the inverse's trace (≈7× faster at
    P = 34, the same decision wherever the trace bound settles it) and leaves only the undecided rows to eigh.
    """
    n = As.shape[0]
    inv = None
    todo = xp.arange(n)
    singular = xp.zeros(n, dtype=bool)
    if xp is np and numba_available() and n:
        from hyperspec.fit import _fused_kernel as kernel  # noqa: PLC0415

        inv = np.empty_like(As)
        decision = np.empty(n, np.int64)
        kernel.unit_scaled_inverse(np.ascontiguousarray(As), float(threshold), inv, decision)
        singular = decision == kernel.INVERSE_SINGULAR
        inv[singular] = 0.0
        todo = np.flatnonzero(decision == kernel.INVERSE_UNDECIDED)
    if todo.size:
        evals, evecs = xp.linalg.eigh(As[todo])
        sing = ~(xp.min(evals, axis=1) > threshold)
        e_inv = xp.where(evals > 0, 1.0 / xp.where(evals > 0, evals, 1.0), 0.0)
        e_inv = xp.where(sing[:, None], 0.0, e_inv)  # NaN later anyway; no overflow from a zero column's scale
        part = xp.einsum("nij,nj,nkj->nik", evecs, e_inv, evecs)
        if inv is None:
            return part, sing
        inv[todo] = part
        singular[todo] = sing
    return inv, singular


#: Relative tolerance of :func:`bound_hits`: a parameter is at a bound within this fraction of its bound range.
AT_BOUND_RTOL = 1e-4


def bound_hits(p, lower, upper, *, rtol: float = AT_BOUND_RTOL):
    """Which parameters ended at a bound: −1 at the lower, +1 at the upper, 0 inside (per row and parameter).

    A parameter is at a bound when it lies within ``rtol`` × its bound range ``upper − lower`` of it;
    with one side infinite the range is ``max(|bound|, |p|)`` instead (a relative tolerance). A
    parameter with ``lower == upper`` (held by its bounds) or a NaN value is never at a bound.
    The Levenberg–Marquardt steps are projected onto the box, so a parameter the data push past
    a bound sits on it exactly; the tolerance covers a fit that stopped just short of it.

    Parameters
    ----------
    p : array, shape (n, P)
        Fitted parameters, in the units of the bounds.
    lower, upper : array, shape (P,) or (n, P)
        Box bounds (±inf for none), same units.
    rtol : float, optional
        Tolerance as a fraction of the bound range (default ``AT_BOUND_RTOL`` = 1e-4).

    Returns
    -------
    array of int8, shape (n, P)
        −1, 0 or +1.

    Examples
    --------
    >>> import numpy as np
    >>> bound_hits(np.array([[520.0, 510.0, 2.0]]), np.array([500.0, 500.0, 0.5]), np.array([520.0, 520.0, np.inf]))
    array([[1, 0, 0]], dtype=int8)
    """
    xp = get_namespace(p)
    p = xp.asarray(p, dtype=xp.float64)
    lo = xp.broadcast_to(xp.asarray(lower, dtype=xp.float64), p.shape)
    hi = xp.broadcast_to(xp.asarray(upper, dtype=xp.float64), p.shape)
    both = xp.isfinite(lo) & xp.isfinite(hi)
    with np.errstate(invalid="ignore"):  # inf − inf where a side is open: replaced below
        span = xp.where(both, hi - lo, 0.0)
        tol_lo = rtol * xp.where(both, span, xp.maximum(xp.abs(xp.where(xp.isfinite(lo), lo, 0.0)), xp.abs(p)))
        tol_hi = rtol * xp.where(both, span, xp.maximum(xp.abs(xp.where(xp.isfinite(hi), hi, 0.0)), xp.abs(p)))
        ok = xp.isfinite(p) & (hi > lo)
        at_lo = ok & xp.isfinite(lo) & (p - lo <= tol_lo)
        at_hi = ok & xp.isfinite(hi) & (hi - p <= tol_hi) & ~at_lo
    return (at_hi.astype(xp.int8) - at_lo.astype(xp.int8)).astype(xp.int8)


def first_at_bound(hits, include=None):
    """Per row: the signed 1-based index of the first parameter at a bound (+k upper, −k lower, 0 none) and their count.

    Parameters
    ----------
    hits : array of int8, shape (n, P)
        What :func:`bound_hits` returned.
    include : array of bool, shape (n, P) or (P,), optional
        The parameters that may count (default all).

    Returns
    -------
    index : array of int16, shape (n,)
        ±(k + 1) for the first parameter ``k`` at a bound (sign: which bound), 0 where none is.
    count : array of int16, shape (n,)
        How many parameters of the row are at a bound.

    Examples
    --------
    >>> import numpy as np
    >>> first_at_bound(np.array([[0, -1, 1], [0, 0, 0]], dtype=np.int8))
    (array([-2,  0], dtype=int16), array([2, 0], dtype=int16))
    """
    xp = get_namespace(hits)
    if include is not None:
        hits = xp.where(xp.asarray(include, dtype=bool), hits, 0)
    on = hits != 0
    count = on.sum(axis=1).astype(xp.int16)
    if hits.shape[1] == 0:
        return xp.zeros(hits.shape[0], dtype=xp.int16), count
    k = xp.argmax(on, axis=1)
    sign = xp.take_along_axis(hits, k[:, None], axis=1)[:, 0].astype(xp.int16)
    return (sign * (k.astype(xp.int16) + 1)).astype(xp.int16), count
