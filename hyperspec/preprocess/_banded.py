"""Batched solves of symmetric positive-definite banded systems ``(diag(w) + P) z = b``, one per pixel.

``P`` is a banded penalty shared by all pixels (e.g. λ·DᵀD of the Whittaker smoother), ``w`` and ``b``
are per pixel. Band Cholesky, written twice:

- through ``xp`` (NumPy or CuPy): a loop over the channels, vectorised over the pixels (every
  operation acts on all pixels at once; ≈ 3·(d+1)² array operations per channel);
- a compiled CPU kernel (numba, the ``fast`` extra): the same recurrence per pixel, serial, GIL
  released (dask chunks are the parallel unit);
- a CUDA kernel (``kernels/banded.cu``, CuPy): the same recurrence, one thread per pixel, channel-major
  so that neighbouring threads read neighbouring addresses. The ``xp`` loop launches ≈ 10 kernels per
  channel; this is one launch per solve. Opt-in (``HYPERSPEC_KERNELS=cuda``) until run on a GPU.

Which one runs is ``engine=``; ``"auto"`` asks ``hyperspec._backend.kernel_engine`` (the one place engines are chosen).

Bands are stored "lower": ``bands[q, j] = P[j + q, j]`` for ``q = 0..d``, like
``scipy.linalg.solveh_banded(lower=True)``.
"""

from __future__ import annotations

import math

import numpy as np

from hyperspec._backend import get_namespace, kernel_engine, numba_available, numba_compile_notice

__all__ = ["difference_penalty", "solve", "numba_available", "ENGINES"]

ENGINES = ("auto", "numba", "cuda", "xp")
_CUDA_PIXELS = 16384  # pixels per kernel launch: bounds the factor's scratch ((d+1)·m·pixels doubles)


def difference_penalty(m: int, diff_order: int, lam: float) -> np.ndarray:
    """The lower bands (d+1, m) of λ·DᵀD, D the (m−d, m) matrix of ``diff_order``-th differences.

    Parameters
    ----------
    m : int
        Number of channels.
    diff_order : int
        Order d ≥ 1 of the differences.
    lam : float
        The smoothness λ.

    Returns
    -------
    numpy.ndarray, shape (d+1, m)
        ``bands[q, j] = (λ·DᵀD)[j + q, j]``.

    Raises
    ------
    ValueError
        For ``diff_order`` < 1 or ``m`` ≤ ``diff_order``.

    Examples
    --------
    >>> difference_penalty(4, 1, 1.0)
    array([[ 1.,  2.,  2.,  1.],
           [-1., -1., -1.,  0.]])
    """
    d = int(diff_order)
    if d < 1:
        raise ValueError(f"diff_order must be ≥ 1; got {diff_order}.")
    if m <= d:
        raise ValueError(f"need more than diff_order = {d} channels; got {m}.")
    coef = np.array([(-1.0) ** (d - k) * math.comb(d, k) for k in range(d + 1)])
    bands = np.zeros((d + 1, m))
    for q in range(d + 1):  # P[j+q, j] = Σ_rows D[r, j+q]·D[r, j]
        for r_off in range(d + 1 - q):  # D[r, r + k] = coef[k]; j = r + r_off, j + q = r + r_off + q
            prod = coef[r_off] * coef[r_off + q]
            # rows r with 0 ≤ r ≤ m−d−1, so j = r + r_off runs over r_off .. m−d−1+r_off
            bands[q, r_off : m - d + r_off] += prod
    return lam * bands


def _solve_xp(w, b, bands, xp):
    n, m = w.shape
    d = bands.shape[0] - 1
    A0 = (xp.asarray(bands[0])[:, None] + w.T).copy()  # (m, n): one contiguous row of pixels per channel
    Ab = [xp.asarray(bands[q]) for q in range(d + 1)]
    L = xp.zeros((d + 1, m, n))
    for j in range(m):
        s = A0[j].copy()
        for k in range(1, min(d, j) + 1):
            s -= L[k, j - k] ** 2
        ljj = xp.sqrt(s)
        L[0, j] = ljj
        for q in range(1, min(d, m - 1 - j) + 1):
            t = xp.full(n, float(Ab[q][j])) if xp is np else Ab[q][j] + xp.zeros(n)
            for k in range(1, min(d - q, j) + 1):
                t -= L[q + k, j - k] * L[k, j - k]
            L[q, j] = t / ljj
    z = b.T.copy()
    for j in range(m):
        for k in range(1, min(d, j) + 1):
            z[j] -= L[k, j - k] * z[j - k]
        z[j] /= L[0, j]
    for j in range(m - 1, -1, -1):
        for k in range(1, min(d, m - 1 - j) + 1):
            z[j] -= L[k, j] * z[j + k]
        z[j] /= L[0, j]
    return z.T


def _solve_cuda(w, b, bands):
    """The CUDA kernel on CuPy rows ``w``, ``b`` (n, m): transposed to channel-major, solved, transposed back."""
    import cupy  # noqa: PLC0415

    from hyperspec import _kernels  # noqa: PLC0415

    n, m = w.shape
    d = bands.shape[0] - 1
    kernel = _kernels.function("banded", "banded_solve")
    bands_dev = cupy.asarray(np.ascontiguousarray(bands, dtype=np.float64))
    out = cupy.empty((n, m), dtype=cupy.float64)
    for a in range(0, n, _CUDA_PIXELS):
        k = min(n, a + _CUDA_PIXELS) - a
        wt = cupy.ascontiguousarray(w[a : a + k].T)
        bt = cupy.ascontiguousarray(b[a : a + k].T)
        factor = cupy.empty((d + 1, m, k), dtype=cupy.float64)
        zt = cupy.empty((m, k), dtype=cupy.float64)
        kernel(((k + 127) // 128,), (128,), (wt, bt, bands_dev, np.int32(k), np.int32(m), np.int32(d), factor, zt))
        out[a : a + k] = zt.T
    return out


def solve(w, b, bands, *, engine: str = "auto"):
    """Solve ``(diag(w_i) + P) z_i = b_i`` for every row i; returns ``(z, engine_used)``.

    Parameters
    ----------
    w, b : array, shape (n, m)
        Per-row weights and right-hand sides (NumPy or CuPy, converted to float64).
    bands : numpy.ndarray, shape (d+1, m)
        The lower bands of the shared penalty ``P`` (``difference_penalty``).
    engine : {"auto", "numba", "cuda", "xp"}, optional
        ``"auto"``: what ``hyperspec._backend.kernel_engine`` allows for these arrays (numba on NumPy
        when installed; the CUDA kernel on CuPy with ``HYPERSPEC_KERNELS=cuda``; else the ``xp``
        loop). The others force that engine.

    Returns
    -------
    z : array, shape (n, m)
        The solutions, float64, in the namespace of ``w``.
    engine_used : str
        ``"numba"``, ``"cuda"`` or ``"xp"``.

    Raises
    ------
    ValueError
        For an unknown engine, or one these arrays cannot use.

    Examples
    --------
    >>> import numpy as np
    >>> w, b = np.ones((2, 5)), np.arange(10.0).reshape(2, 5)
    >>> z, used = solve(w, b, difference_penalty(5, 2, 0.0), engine="xp")
    >>> bool(np.allclose(z, b)), used
    (True, 'xp')
    """
    xp = get_namespace(w, b)
    w = xp.asarray(w, dtype=xp.float64)
    b = xp.asarray(b, dtype=xp.float64)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}.")
    chosen = kernel_engine(xp) if engine == "auto" else engine
    use_numba = xp is np and numba_available() and chosen == "numba"
    if engine == "numba" and not use_numba:
        raise ValueError("engine='numba' needs NumPy arrays and numba (pip install 'hyperspec-maps[fast]').")
    if engine == "cuda" and xp is np:
        raise ValueError("engine='cuda' needs CuPy arrays (a GPU and pip install 'hyperspec-maps[gpu]').")
    if xp is not np and chosen == "cuda":
        return _solve_cuda(w, b, bands), "cuda"
    if use_numba:
        from hyperspec.preprocess._banded_kernel import banded_cholesky_solve  # noqa: PLC0415

        out = np.empty_like(b)

        with numba_compile_notice("Whittaker solve", banded_cholesky_solve):
            banded_cholesky_solve(np.ascontiguousarray(w), np.ascontiguousarray(b), np.ascontiguousarray(bands, dtype=np.float64), out)
        return out, "numba"
    return _solve_xp(w, b, bands, xp), "xp"
