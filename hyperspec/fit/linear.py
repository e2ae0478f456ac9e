"""The linear stage: batched Tikhonov least squares and non-negative least squares over pixels.

All pixels share one design matrix ``B`` (m, K) (components with fixed shapes) and one channel
mask, so one factorisation and one matrix product serve the whole chunk:
``a = (BᵀMB + λI)⁻¹ BᵀM (y − c)`` for every row of ``y`` at once.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading

from hyperspec._backend import get_namespace, numba_compile_notice

__all__ = ["tikhonov", "nnls"]


#: Rows per BLAS call of the batched products when the numba kernel is not used (numba not installed, or
#: ``HYPERSPEC_KERNELS=xp``). Every call multiplies exactly this many rows (the last block zero-padded): a BLAS
#: GEMM over a ragged batch picks its blocking and kernels by the batch size, and then the last bits differ
#: (measured, OpenBLAS 0.3.31: 33 of 45 slices of a 4096-row product differed unblocked, 0 of 85 blocked).
#: 48 rows keep OpenBLAS on its unpacked small-matrix kernels for thin products on AVX-512 (it takes them up
#: to M·N·K = 10⁶). Measured, 4096 × 1024 float32 rows times a 1024 × 16 operator, 1 thread, Xeon, rotated
#: rounds: 0.98–1.15 ms at 48 rows, 1.26–1.34 at 32, 1.5–1.6 ms at 64 and more, 1.6 ms as one 4096-row GEMM.
#: Equal shapes are not enough everywhere: a GEMM may still sum a row in an order set by its position in the
#: block (see ``_blas_layout``).
ROW_BLOCK = 48

#: BLAS path: an operator with more than ``COL_PAD // 2`` columns is zero-padded to a multiple of ``COL_PAD``
#: (one AVX-512 register of float32) when the inner dimension is at least ``PAD_MIN_INNER``: with 13 columns
#: OpenBLAS runs its 8-, 4- and 1-column edge kernels, with 16 only full ones (Xeon, 4096 × 1024, 48-row
#: blocks, 1 thread: float32 0.98–1.15 ms for 16 columns against 1.25 ms for 13; float64 1.94 against 2.42 ms).
#: Used only where this BLAS sums every row of a padded block in one order (``_blas_layout``).
COL_PAD = 16
PAD_MIN_INNER = 64

#: float32, BLAS path only (the numba kernel, the default where numba is installed, ignores it). ``True``:
#: the operator passed column-major and unpadded, so BLAS takes its dot-product kernel (16 SIMD lanes per
#: result on AVX-512: max 2.1e-7 of the amplitude scale from float64 arithmetic in
#: ``tests/fit/test_linear.py``; 2.4e-6 on AVX2, OpenBLAS's Haswell kernels). ``False`` (default): the
#: row-major operator and BLAS's broadcast kernel, which sums each result in one float32 chain (2.3e-6 there),
#: ~20 % faster on AVX-512.
ACCURATE_FLOAT32 = False


_KERNEL_LOCK = threading.Lock()
_KERNEL_READY = []  # the kernel once its specialisations are in place (one process-wide entry)


def _kernel():
    """The numba row-product kernel, or None where the compiled CPU kernels are off or numba is missing.

    On first use its two specialisations (``SIGNATURES``) are compiled or loaded from numba's disk cache, and
    the dispatcher then compiles nothing else: every call, whatever its arrays' flags, runs the same code.
    """
    from hyperspec._backend import kernel_engine  # noqa: PLC0415

    if kernel_engine() != "numba":
        return None
    from hyperspec.fit import _linear_kernel  # noqa: PLC0415

    with _KERNEL_LOCK:
        if not _KERNEL_READY:
            kernel = _linear_kernel.rowwise_product
            with numba_compile_notice("linear-stage", kernel):
                for sig in _linear_kernel.SIGNATURES:
                    kernel.compile(sig)
            kernel.disable_compile()
            _KERNEL_READY.append(kernel)
    return _KERNEL_READY[0]


#: Rows per thread of the numba kernel, at least (below that, one thread: a part costs ~0.3 ms).
ROWS_PER_THREAD = 1024
_BLAS = []  # threadpoolctl's controller of the loaded BLAS libraries, made on first use
_POOL = []  # the worker threads of the numba kernel, made on first use
if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads: it makes its own pool
    os.register_at_fork(after_in_child=_POOL.clear)


def _threads(n: int) -> int:
    """Threads for ``n`` rows of the numba kernel: as many as BLAS may use now, one per ``ROWS_PER_THREAD`` rows.

    The kernel follows BLAS's limit, so it is serial where the batched engines run (``single_threaded_blas``:
    dask chunks are the parallel unit) and uses the cores BLAS would for a direct call. A row's result does
    not depend on the split: every part runs the same compiled code.
    """
    if n < 2 * ROWS_PER_THREAD:
        return 1
    with _KERNEL_LOCK:
        if not _BLAS:
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415

            _BLAS.append(ThreadpoolController().select(user_api="blas"))
    limit = min((lib.num_threads for lib in _BLAS[0].lib_controllers), default=1)
    return max(1, min(limit, os.cpu_count() or 1, n // ROWS_PER_THREAD))


def _executor():
    """The shared pool the numba kernel's extra parts run on (one thread per core)."""
    with _KERNEL_LOCK:
        if not _POOL:
            _POOL.append(concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="hyperspec-linear"))
    return _POOL[0]


@functools.lru_cache(maxsize=64)
def _blas_rows_agree(m: int, k: int, dtype: str, order: str) -> bool:
    """Whether this BLAS gives a row of a ``ROW_BLOCK``-row product the same bits at every position in the block.

    Not a given: OpenBLAS 0.3.31's Haswell/Zen float32 GEMM (AVX2) sums rows 6–11 of every 12 of a 16-column
    operator in another order than rows 0–5 (13 columns, or the column-major operator, it does not); AVX-512's
    small-matrix kernels sum every row alike. Probed once per shape, dtype and layout (``ROW_BLOCK`` GEMMs of
    random rows, each row moved through every position: a few ms).
    """
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(0)
    M = np.asarray(rng.standard_normal((m, k)), dtype=dtype, order=order)
    rows = rng.standard_normal((ROW_BLOCK, m)).astype(dtype)
    ref = rows @ M
    return all(np.array_equal(np.roll(rows, s, axis=0) @ M, np.roll(ref, s, axis=0)) for s in range(1, ROW_BLOCK))


def _blas_layout(m: int, k: int, dt, dot: bool):
    """``(columns, order)`` of the BLAS operator: the fastest layout this BLAS computes row by row alike, else None.

    Candidates, fastest first (AVX-512 timings above): column-major unpadded (``dot``), else row-major padded
    to ``COL_PAD`` (wide operators), then row-major unpadded. None: no layout passes ``_blas_rows_agree``; the
    caller then multiplies row by row (one identical GEMV call per row, in one ``np.matmul`` call).
    """
    pad = -(-k // COL_PAD) * COL_PAD if m >= PAD_MIN_INNER and k > COL_PAD // 2 else k
    candidates = [(k, "F")] if dot else []
    candidates += [(pad, "C"), (k, "C")] if pad != k else [(k, "C")]
    for cols, order in candidates:
        if _blas_rows_agree(m, cols, dt.str, order):
            return cols, order
    return None


def _rowwise(a, M, xp):
    """Compute ``a @ M`` so that each row's result does not depend on the other rows, bit for bit.

    On the CPU, where numba is installed (and ``HYPERSPEC_KERNELS`` allows it): the compiled kernel of
    ``hyperspec.fit._linear_kernel``, every row through the same instructions, each result summed in an order
    fixed by ``m`` alone, on every CPU; on as many threads as BLAS may use (``_threads``). ``tikhonov`` on
    4096 × 1024 float32 rows, 13 components, 1 thread (AMD EPYC, AVX2, shared 2-core machine, min of 40 in
    separate processes): 2.7–2.9 ms against 3.0 ms for 48-row OpenBLAS GEMMs, 2.2e-7 of the scale from
    float64 arithmetic against 2.3e-6; on 2 threads 2.7–3.3 ms against 1.7–2.2 ms (min; medians 3.1–7.7
    against 10–83 ms under the same load). Otherwise through BLAS: ``ROW_BLOCK``-row GEMMs, all in one stacked ``np.matmul`` call
    (NumPy runs one BLAS GEMM per block, with no Python loop), the last block zero-padded, in the fastest
    operator layout that this BLAS computes alike at every row position (``_blas_layout``; float32: see
    ``ACCURATE_FLOAT32``). The result has the dtype of ``a`` and ``M`` promoted; it may be a view of a wider
    array (its first ``M.shape[1]`` columns).
    """
    if xp.__name__ != "numpy":
        return a @ M
    import numpy as np  # noqa: PLC0415

    dt = np.result_type(a.dtype, M.dtype)
    n, m = a.shape
    k = M.shape[1]
    kernel = _kernel() if dt in (np.float32, np.float64) else None
    if kernel is not None:
        # C-contiguous and aligned, as the kernel's one specialisation takes them (a copy only for other layouts)
        a = np.require(a, dtype=dt, requirements="CA")
        mt = np.require(np.asarray(M, dtype=dt).T, requirements="CA")
        out = np.empty((n, k), dtype=dt)
        even = n - n % 2
        parts = _threads(even)
        cuts = [even * p // parts // 2 * 2 for p in range(parts + 1)]  # even cuts: rows of a part are even
        later = [_executor().submit(kernel, a[s:e], mt, out[s:e], dt.type(0)) for s, e in zip(cuts[1:-1], cuts[2:], strict=True)]
        if even:
            kernel(a[: cuts[1]], mt, out[: cuts[1]], dt.type(0))
        for part in later:
            part.result()
        if even < n:  # the odd last row with a zero row: through the same code as every other row
            pair = np.zeros((2, m), dtype=dt)
            pair[0] = a[even]
            res = np.empty((2, k), dtype=dt)
            kernel(pair, mt, res, dt.type(0))
            out[even] = res[0]
        return out
    a = np.asarray(a, dtype=dt)
    if a.ndim != 2 or a.strides[1] != a.itemsize or a.strides[0] % a.itemsize:
        a = np.ascontiguousarray(a)  # BLAS needs unit stride along the rows
    layout = _blas_layout(m, k, dt, ACCURATE_FLOAT32 and dt == np.float32)
    if layout is None:  # no GEMM layout sums every row alike here: one identical GEMV per row
        return np.matmul(a[:, None, :], np.asarray(M, dtype=dt))[:, 0]
    kp, order = layout
    Mp = np.zeros((m, kp), dtype=dt, order=order)
    Mp[:, :k] = M
    out = np.empty((n, kp), dtype=dt)
    full = n - n % ROW_BLOCK
    if full:
        np.matmul(a[:full].reshape(-1, ROW_BLOCK, m), Mp, out=out[:full].reshape(-1, ROW_BLOCK, kp))
    if full < n:
        pad = np.zeros((ROW_BLOCK, m), dtype=dt)
        pad[: n - full] = a[full:]
        out[full:] = (pad @ Mp)[: n - full]
    return out if kp == k else out[:, :k]


def _normal_matrix(B, weights, lam, penalty=None):
    """Shared normal matrix G = BᵀWB + λI + RᵀR (K, K), the float64 design B and weights w."""
    xp = get_namespace(B)
    B = xp.asarray(B, dtype=xp.float64)
    w = xp.ones(B.shape[0]) if weights is None else xp.asarray(weights, dtype=xp.float64)
    G = B.T @ (B * w[:, None])
    if lam:
        G = G + lam * xp.eye(B.shape[1])
    if penalty is not None:
        R = xp.asarray(penalty, dtype=xp.float64)
        G = G + R.T @ R
    return xp, G, B, w


def _normal(B, y, weights, lam, penalty=None):
    """Shared normal matrix G (K, K) and right-hand sides h = (W y)·B (n, K), in float64."""
    xp, G, B, w = _normal_matrix(B, weights, lam, penalty)
    y = xp.asarray(y, dtype=xp.float64)
    return xp, G, _rowwise(y, B * w[:, None], xp)


def tikhonov(B, y, *, weights=None, lam: float = 0.0, smoothness: float = 0.0, offset=None, precision: str = "data"):
    """Solve the ridge-regularised linear least-squares problem for every row of ``y`` at once.

    Each row's amplitudes minimise ‖√w·(y − c − a·Bᵀ)‖² + λ‖a‖² + s‖D₂a‖², with D₂ the second-difference
    operator on consecutive amplitudes. The normal equations are solved once, in float64, for the
    operator P = W·B·G⁻¹ (m, K); the amplitudes are then one matrix product ``a = (y − c)·P`` for the
    whole batch, read once (NumPy or CuPy, following ``y``).

    Parameters
    ----------
    B : array, shape (m, K)
        Design matrix: the K components sampled on the m channels (units of ``y`` per unit amplitude).
    y : array, shape (n, m)
        Data, one row per pixel (e.g. counts).
    weights : array, shape (m,), optional
        Per-channel weights shared by all rows (e.g. 1/σ²); 0 masks a channel. Default is all ones.
    lam : float, optional
        Ridge penalty λ on every amplitude. Default is 0.
    smoothness : float, optional
        Penalty s on the second differences of consecutive amplitudes (a free-form continuum sampled
        on K nodes); used only when K ≥ 3. Default is 0.
    offset : array, shape (m,), optional
        A fixed part c of every spectrum subtracted before the fit (e.g. components with fixed
        amplitudes), applied as ``c·P`` once instead of a copy of ``y``. Default: none.
    precision : {"data", "float64"}, optional
        Arithmetic of the product with the data. ``"data"`` (default): float32 data are multiplied in
        float32 (the operator rounded to float32; the normal equations stay float64), about 2× faster
        and no float64 copy of the map; the amplitudes then differ from float64 arithmetic by ≤ 1e-6 of
        their scale with the numba kernel (measured: 2.2e-7, and 2.8e-5 of their Poisson standard error,
        ``tests/fit/test_linear.py``), ≤ 5e-6 through BLAS (without numba: 2.3e-6, ≤ 2e-3 of the
        standard error). Either way a row's amplitudes are bitwise the same whatever its batch.
        ``"float64"``: float64 throughout. float64 data are always multiplied in float64.

    Returns
    -------
    array, shape (n, K)
        float64 amplitudes, on the device of the inputs.

    See Also
    --------
    nnls : the same problem with lower bounds on the amplitudes.

    Examples
    --------
    A constant and a slope fitted to y = 2 + 3x:

    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0])
    >>> B = np.stack([np.ones(3), x], axis=1)
    >>> tikhonov(B, (2 + 3 * x)[None, :])
    array([[2., 3.]])
    >>> np.round(tikhonov(B, (2 + 3 * x)[None, :], lam=1.0), 3)
    array([[1.8, 2.6]])
    """
    if precision not in ("data", "float64"):
        raise ValueError(f"tikhonov: precision must be 'data' or 'float64', got {precision!r}")
    xp, G, B64, w = _normal_matrix(B, weights, lam)
    K = G.shape[0]
    if smoothness and K >= 3:
        D = xp.diff(xp.eye(K), n=2, axis=0)
        G = G + smoothness * (D.T @ D)
    # (m, K): a = (y − c) · P. G is K × K (K small): its inverse and one (m, K)·(K, K) product cost 0.02 ms
    # where a solve with m right-hand sides costs 0.19 ms (m = 1024, K = 13); P agrees to 2e-16.
    P = (B64 * w[:, None]) @ xp.linalg.inv(G)
    y = xp.asarray(y)
    if precision == "data" and y.dtype == xp.float32:
        a = _rowwise(y, P.astype(xp.float32), xp)
    else:
        a = _rowwise(xp.asarray(y, dtype=xp.float64), P, xp)
    if offset is None:
        return xp.asarray(a, dtype=xp.float64)
    # c·P once (float64), subtracted while the product is widened to float64: one pass, no extra copy
    return xp.subtract(a, xp.asarray(offset, dtype=xp.float64) @ P, dtype=xp.float64)


def nnls(B, y, *, weights=None, lower=0.0, lam: float = 0.0, penalty=None, max_iter: int = 500, tol: float = 1e-10):
    """Solve bounded linear least squares, a ≥ ``lower``, for every row of ``y`` by accelerated projected gradient.

    Each row minimises ‖√w·(y − a·Bᵀ)‖² + λ‖a‖² + ‖R·a‖² subject to a ≥ ``lower`` (FISTA on the
    Jacobi-preconditioned normal equations). The iteration works on the shared normal matrix (K, K),
    so each step is one (n, K)·(K, K) product for the whole chunk; each row stops on its own
    criterion (largest change ≤ ``tol`` × largest amplitude), so its result does not depend on the
    other rows of the batch.

    Parameters
    ----------
    B : array, shape (m, K)
        Design matrix: the K components sampled on the m channels.
    y : array, shape (n, m)
        Data, one row per pixel (e.g. counts).
    weights : array, shape (m,), optional
        Per-channel weights shared by all rows; 0 masks a channel. Default is all ones.
    lower : float or array, shape (K,), optional
        Lower bound of each amplitude; -inf for an unbounded one (e.g. baseline coefficients).
        Default is 0 (non-negative least squares).
    lam : float, optional
        Ridge penalty λ on every amplitude. Default is 0.
    penalty : array, shape (r, K), optional
        Matrix R of a general quadratic penalty ‖R·a‖² (e.g. smoothness of a free-form continuum).
    max_iter : int, optional
        Iteration limit. Default is 500.
    tol : float, optional
        Relative change below which a row has converged. Default is 1e-10.

    Returns
    -------
    a : array, shape (n, K)
        float64 amplitudes, on the device of the inputs.
    n_iter : int
        Number of iterations run (that of the slowest row).

    See Also
    --------
    tikhonov : the unbounded problem, solved directly.

    Examples
    --------
    y = x − 1 with a non-negative constant: the constant sits on its bound and the slope takes the rest.

    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0])
    >>> B = np.stack([np.ones(3), x], axis=1)
    >>> a, n_iter = nnls(B, (x - 1)[None, :])
    >>> np.round(a, 6)
    array([[0. , 0.4]])
    >>> a, _ = nnls(B, (x - 1)[None, :], lower=-np.inf)
    >>> np.round(a, 6)
    array([[-1.,  1.]])
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
