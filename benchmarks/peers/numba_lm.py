"""A numba per-pixel Levenberg–Marquardt: ``@njit(parallel=True)`` over pixels with ``prange``.

What a careful numba user writes for K Lorentzians + a linear baseline: per pixel, one pass over
the channels evaluates the model and its analytic Jacobian row and accumulates the lower half of JᵀWJ
and JᵀWr on the fly (no m × P Jacobian is stored); Marquardt's scaled damping
``(JᵀWJ + λ·diag(JᵀWJ)) δ = JᵀWr`` is solved by an in-place Cholesky factorisation; λ ÷10 on an
accepted step, ×10 on a rejected one. The same stopping rule as :mod:`numpy_lm` (relative χ²
decrease ≤ ``ftol`` or every relative parameter change ≤ ``xtol`` on an accepted step, or λ > 1e16).
Compiled once and cached on disk (``cache=True``); threads: ``numba.set_num_threads``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .model import SCALE_CM


@njit(cache=True, fastmath=False)
def _normal(x, y, w, p, A, g):
    """Fill the lower half of A = JᵀWJ and g = JᵀWr at ``p``; return χ²."""
    P = p.size
    k = (P - 2) // 3
    A[:, :] = 0.0
    g[:] = 0.0
    jr = np.empty(P)
    c2 = 0.0
    for j in range(x.size):
        xj = x[j]
        u = xj / SCALE_CM
        f = p[P - 2] + p[P - 1] * u
        for i in range(k):
            d = xj - p[3 * i]
            gg = p[3 * i + 1]
            inv = 1.0 / (d * d + gg * gg)
            s = gg * gg * inv
            fi = p[3 * i + 2] * s
            f += fi
            fd = 2.0 * fi * d * inv
            jr[3 * i] = fd
            jr[3 * i + 1] = fd * d / gg
            jr[3 * i + 2] = s
        jr[P - 2] = 1.0
        jr[P - 1] = u
        r = y[j] - f
        wj = w[j]
        c2 += wj * r * r
        for a in range(P):
            wa = wj * jr[a]
            g[a] += wa * r
            for b in range(a + 1):
                A[a, b] += wa * jr[b]
    return c2


@njit(cache=True)
def _chi2(x, y, w, p):
    P = p.size
    k = (P - 2) // 3
    c2 = 0.0
    for j in range(x.size):
        xj = x[j]
        f = p[P - 2] + p[P - 1] * (xj / SCALE_CM)
        for i in range(k):
            d = xj - p[3 * i]
            gg = p[3 * i + 1] * p[3 * i + 1]
            f += p[3 * i + 2] * gg / (d * d + gg)
        r = y[j] - f
        c2 += w[j] * r * r
    return c2


@njit(cache=True)
def _solve_damped(A, g, lam, L, dp):
    """Solve (A + λ·diag A) δ = g by Cholesky (lower half of A used); False if not positive definite."""
    P = g.size
    for a in range(P):
        for b in range(a + 1):
            L[a, b] = A[a, b]
        L[a, a] += lam * A[a, a]
    for j in range(P):
        s = L[j, j]
        for q in range(j):
            s -= L[j, q] * L[j, q]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, P):
            t = L[i, j]
            for q in range(j):
                t -= L[i, q] * L[j, q]
            L[i, j] = t / d
    for i in range(P):  # forward: L z = g
        t = g[i]
        for q in range(i):
            t -= L[i, q] * dp[q]
        dp[i] = t / L[i, i]
    for i in range(P - 1, -1, -1):  # back: Lᵀ δ = z
        t = dp[i]
        for q in range(i + 1, P):
            t -= L[q, i] * dp[q]
        dp[i] = t / L[i, i]
    return True


@njit(cache=True)
def _fit_one(x, y, w, p, max_iter, ftol, xtol, lam0):
    P = p.size
    A = np.empty((P, P))
    L = np.empty((P, P))
    g = np.empty(P)
    dp = np.empty(P)
    pn = np.empty(P)
    c2 = _normal(x, y, w, p, A, g)
    lam = lam0
    it = 0
    while it < max_iter:
        it += 1
        if _solve_damped(A, g, lam, L, dp):
            for a in range(P):
                pn[a] = p[a] + dp[a]
            c2n = _chi2(x, y, w, pn)
        else:
            c2n = np.inf
        if np.isfinite(c2n) and c2n <= c2:
            small_f = (c2 - c2n) <= ftol * c2
            small_x = True
            for a in range(P):
                if abs(dp[a]) > xtol * (abs(p[a]) + xtol):
                    small_x = False
            p[:] = pn
            c2 = c2n
            lam *= 0.1
            if small_f or small_x:
                break
            _normal(x, y, w, p, A, g)
        else:
            lam *= 10.0
            if lam > 1e16:
                break
    return c2, it


@njit(parallel=True, cache=True)
def _fit_all(x, y, w, p, max_iter, ftol, xtol, lam0, chi2, n_iter):
    for i in prange(y.shape[0]):
        c2, it = _fit_one(x, y[i], w[i], p[i], max_iter, ftol, xtol, lam0)
        chi2[i] = c2
        n_iter[i] = it


def lm_numba(
    x: np.ndarray,
    y: np.ndarray,
    p0: np.ndarray,
    w: np.ndarray | None = None,
    *,
    max_iter: int = 200,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    lam0: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit every row of ``y`` (n, m) from ``p0`` (n, P) with weights ``w`` (n, m) (None: uniform).

    Returns ``(params (n, P), chi2 (n,), n_iter (n,))``; the pixels run in parallel on numba's threads.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y64 = np.ascontiguousarray(y, dtype=np.float64)
    w64 = np.ones_like(y64) if w is None else np.ascontiguousarray(w, dtype=np.float64)
    p = np.array(p0, dtype=np.float64, order="C")
    chi2 = np.empty(y64.shape[0])
    n_iter = np.zeros(y64.shape[0], dtype=np.int64)
    _fit_all(x, y64, w64, p, int(max_iter), float(ftol), float(xtol), float(lam0), chi2, n_iter)
    return p, chi2, n_iter
