"""A NumPy batched Levenberg–Marquardt: every pixel at once, (n, P, P) normal equations.

What a careful NumPy user writes for a map (no compiled code): the analytic Jacobian of all pixels
as one (n, m, P) array, JᵀWJ and JᵀWr by ``matmul``, Marquardt's scaled damping
``(JᵀWJ + λ·diag(JᵀWJ)) δ = JᵀWr`` solved by ``np.linalg.solve`` on the stack, λ ÷10 on an accepted
step and ×10 on a rejected one, per pixel; converged pixels leave the active set. The stopping rule
is MINPACK's in spirit: an accepted step whose relative χ² decrease is ≤ ``ftol`` or whose relative
parameter change is ≤ ``xtol`` (for every parameter) ends that pixel; λ above 1e16 (no step reduces
χ² any more) also ends it. Unbounded, as ``curve_fit(method="lm")``.
"""

from __future__ import annotations

import numpy as np

from .model import value, value_and_jacobian


def _normal(jac, r, w):
    """JᵀWJ (n, P, P) and JᵀWr (n, P)."""
    jw = jac if w is None else jac * w[:, :, None]
    jwt = jw.transpose(0, 2, 1)
    return np.matmul(jwt, jac), np.matmul(jwt, r[:, :, None])[:, :, 0]


def lm_batched(
    x: np.ndarray,
    y: np.ndarray,
    p0: np.ndarray,
    w: np.ndarray | None = None,
    *,
    max_iter: int = 200,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    lam0: float = 1e-3,
    batch: int = 64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit every row of ``y`` (n, m) from ``p0`` (n, P); weights ``w`` (n, m) = 1/σ², None: uniform.

    Parameters
    ----------
    x : ndarray (m,)
        Channels (cm⁻¹).
    y : ndarray (n, m)
        Spectra (counts), any float dtype (computed in float64).
    p0 : ndarray (n, P)
        Start values.
    w : ndarray (n, m), optional
        Weights 1/σ²; None: uniform.
    max_iter, ftol, xtol, lam0 : see the module docstring.
    batch : int
        Pixels per block (bounds the (batch, m, P) Jacobian's memory). Default 64: on a 2-core Xeon with
        1024 channels, 32–64 ran fastest (the block's Jacobian stays in cache); 1024 was 1.9× slower.

    Returns
    -------
    params : ndarray (n, P)
    chi2 : ndarray (n,)
    n_iter : ndarray (n,) of int
    """
    x = np.asarray(x, dtype=np.float64)
    n = y.shape[0]
    params = np.empty(p0.shape)
    chi2 = np.empty(n)
    n_iter = np.zeros(n, dtype=np.int64)
    for s in range(0, n, batch):
        sl = slice(s, min(s + batch, n))
        params[sl], chi2[sl], n_iter[sl] = _lm_block(
            x, np.asarray(y[sl], dtype=np.float64), np.array(p0[sl], dtype=np.float64), None if w is None else np.asarray(w[sl], dtype=np.float64),
            max_iter, ftol, xtol, lam0,
        )  # fmt: skip
    return params, chi2, n_iter


def _lm_block(x, y, p, w, max_iter, ftol, xtol, lam0):
    n, P = p.shape
    f, jac = value_and_jacobian(x, p)
    r = y - f
    c2 = np.sum(r * r if w is None else w * r * r, axis=1)
    A, g = _normal(jac, r, w)
    lam = np.full(n, lam0)
    n_iter = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    eye = np.eye(P, dtype=bool)
    for _ in range(max_iter):
        if active.size == 0:
            break
        Aa, ga, pa = A[active], g[active], p[active]
        diag = np.where(eye, Aa, 0.0)
        dp = np.linalg.solve(Aa + lam[active, None, None] * diag, ga[:, :, None])[:, :, 0]
        pn = pa + dp
        ya = y[active]
        wa = None if w is None else w[active]
        rn = ya - value(x, pn)
        c2n = np.sum(rn * rn if wa is None else wa * rn * rn, axis=1)
        n_iter[active] += 1
        ok = np.isfinite(c2n) & (c2n <= c2[active])
        acc = active[ok]
        small_f = (c2[acc] - c2n[ok]) <= ftol * c2[acc]
        small_x = np.all(np.abs(dp[ok]) <= xtol * (np.abs(pa[ok]) + xtol), axis=1)
        p[acc] = pn[ok]
        c2[acc] = c2n[ok]
        lam[acc] *= 0.1
        lam[active[~ok]] *= 10.0
        done = np.zeros(active.size, dtype=bool)
        done[ok] = small_f | small_x
        done |= lam[active] > 1e16
        # the Jacobian and normal equations at the accepted new points (only those still running)
        upd = ok & ~done
        if np.any(upd):
            idx = active[upd]
            fu, ju = value_and_jacobian(x, p[idx])
            A[idx], g[idx] = _normal(ju, y[idx] - fu, None if w is None else w[idx])
        active = active[~done]
    return p, c2, n_iter
