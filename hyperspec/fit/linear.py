"""The linear stage: batched Tikhonov least squares and non-negative least squares over pixels.

All pixels share one design matrix ``B`` (m, K) (components with fixed shapes) and one channel
mask, so one factorisation and one matrix product serve the whole chunk:
``a = (BᵀMB + λI)⁻¹ BᵀM (y − c)`` for every row of ``y`` at once.
"""

from __future__ import annotations

from hyperspec._backend import get_namespace

__all__ = ["tikhonov", "nnls"]


def _rowwise(a, M, xp):
    """``a @ M`` computed so that each row's result does not depend on the other rows (no BLAS blocking
    over the batch on the CPU): a pixel's amplitudes are then the same whatever chunk it is fitted in."""
    return xp.einsum("nk,kj->nj", a, M) if xp.__name__ == "numpy" else a @ M


def _normal(B, y, weights, lam, penalty=None):
    """Shared normal matrix G = BᵀWB + λI + RᵀR (K, K) and right-hand sides h = (W y)·B (n, K), in float64."""
    xp = get_namespace(B, y)
    B = xp.asarray(B, dtype=xp.float64)
    y = xp.asarray(y, dtype=xp.float64)
    w = xp.ones(B.shape[0]) if weights is None else xp.asarray(weights, dtype=xp.float64)
    G = B.T @ (B * w[:, None])
    if lam:
        G = G + lam * xp.eye(B.shape[1])
    if penalty is not None:
        R = xp.asarray(penalty, dtype=xp.float64)
        G = G + R.T @ R
    return xp, G, _rowwise(y * w[None, :], B, xp)


def tikhonov(B, y, *, weights=None, lam: float = 0.0, smoothness: float = 0.0):
    """Amplitudes (n, K) minimising ‖√w·(y − a·Bᵀ)‖² + λ‖a‖² + s‖D₂a‖² for every row of ``y`` (n, m).

    ``weights`` (m,) are shared per-channel weights (0 masks a channel). ``lam`` is the ridge
    penalty; ``smoothness`` penalises second differences of consecutive amplitudes (a free-form
    continuum sampled on K nodes). Solved with one Cholesky-free symmetric solve for all rows.
    """
    xp, G, h = _normal(B, y, weights, lam)
    K = G.shape[0]
    if smoothness and K >= 3:
        D = xp.diff(xp.eye(K), n=2, axis=0)
        G = G + smoothness * (D.T @ D)
    return xp.linalg.solve(G, h.T).T


def nnls(B, y, *, weights=None, lower=0.0, lam: float = 0.0, penalty=None, max_iter: int = 500, tol: float = 1e-10):
    """Bounded least squares a ≥ ``lower`` for every row of ``y``, by accelerated projected gradient (FISTA).

    ``lower`` is a scalar or (K,) (use -inf for unbounded amplitudes, e.g. baseline coefficients).
    The iteration works on the shared normal matrix (K, K), so each step is one (n, K)·(K, K)
    product for the whole chunk. ``penalty`` (r, K) adds ‖R·a‖² (e.g. smoothness of a free-form
    continuum). Returns ``(a, n_iter)``.
    """
    xp, G, h = _normal(B, y, weights, lam, penalty)
    K = G.shape[0]
    lo = xp.broadcast_to(xp.asarray(lower, dtype=xp.float64), (K,))
    # Jacobi preconditioning: iterate on b = s·a so the scaled normal matrix has a unit diagonal
    s = xp.sqrt(xp.maximum(xp.diagonal(G), 1e-300))
    Gs = G / (s[:, None] * s[None, :])
    hs = h / s[None, :]
    los = lo * s
    L = float(xp.linalg.eigvalsh(Gs)[-1])
    inv = xp.linalg.inv(Gs + 1e-12 * xp.eye(K))  # start: clipped unconstrained solution, row by row
    b = xp.maximum(_rowwise(hs, inv.T, xp), los)
    z = b.copy()
    t = 1.0
    n_iter = 0
    # each row stops on its own criterion, so a pixel's amplitudes never depend on the other pixels of
    # its batch (chunking does not change results); the momentum sequence t is the same for every row
    active = xp.arange(b.shape[0])
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (reported after the loop); iterations over the batch, not pixels
        if active.size == 0:
            break
        za, ba = z[active], b[active]
        b_new = xp.maximum(za - (_rowwise(za, Gs, xp) - hs[active]) / L, los)
        t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
        z[active] = b_new + ((t - 1.0) / t_new) * (b_new - ba)
        change = xp.max(xp.abs(b_new - ba), axis=1)
        scale = xp.maximum(xp.max(xp.abs(b_new), axis=1), 1e-300)
        b[active] = b_new
        t = t_new
        active = active[~(change <= tol * scale)]
    return b / s[None, :], n_iter
