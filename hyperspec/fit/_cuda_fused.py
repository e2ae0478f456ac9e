"""Fused GPU evaluation of composite models: the CUDA port (``kernels/fused_model.cu``) of the numba
kernel, in float64.

- ``fused_model``: value and Jacobian in one pass, one thread per (pixel, channel);
- ``fused_normal``: the Levenberg–Marquardt normal equations (JᵀWJ, JᵀW r, χ²) straight from the
  model, one thread block per pixel; the Jacobian lives only in shared memory, one tile of channels
  at a time (the (n, m, P) Jacobian is the largest array of a fit: it never reaches device memory).

References: the ``xp`` path of ``CompositeModel`` on CuPy (and the numba kernel on the CPU), and
``normal_equations_reference``; the ``gpu`` tests compare them, and a CPU test runs the source as C++
(threads and a barrier standing in for a thread block). **Opt-in until it has run on a GPU**: ``HYPERSPEC_CUDA_KERNELS=1`` (or
``CompositeModel(..., fused=True)`` on CuPy) selects it; otherwise CuPy runs the ``xp`` path.

The source is completed at load time by :func:`kernel_source`: the shape codes (``#define
KERNEL_<NAME>``) from the component registry, the constants from ``hyperspec.bands.constants`` and
the term tables' parameter list (``TERM_TABLES``), so ``kernels/fused_model.cu`` holds no copy of them.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from hyperspec.bands.components import kernel_codes
from hyperspec.bands.constants import KERNEL_CONSTANTS
from hyperspec.fit._fused import FusedModel

__all__ = ["CudaFusedModel", "kernel_source", "normal_equations_reference", "normal_tile", "normal_pairs"]

_THREADS = 128
_MAX_GRID_Y = 65535
_SHARED_BYTES = 48 * 1024  # shared memory a block may use without opting in to more


def normal_pairs(n_free: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (int32) of the upper triangle of [J r]ᵀ[J r] in ``fused_normal``'s shared tile.

    Jacobian rows are 0…P−1, then the residual is row P + 1 (row P is the fixed parameters'
    scratch). The pairs come in the order of the outputs: the upper triangle (i ≤ j) of JᵀWJ
    row by row, then (i, P + 1) for JᵀW r, then (P + 1, P + 1) for χ²; (P + 1)(P + 2)/2 in all.

    Parameters
    ----------
    n_free : int
        Number of free parameters P.

    Returns
    -------
    a, b : ndarray of int32, shape ((P + 1)(P + 2)/2,)
        First and second tile row of each pair.

    Examples
    --------
    >>> a, b = normal_pairs(2)
    >>> a.tolist(), b.tolist()
    ([0, 0, 1, 0, 1, 3], [0, 1, 1, 3, 3, 3])
    """
    resid = n_free + 1
    a = [i for i in range(n_free) for _ in range(i, n_free)] + list(range(n_free)) + [resid]
    b = [j for i in range(n_free) for j in range(i, n_free)] + [resid] * n_free + [resid]
    return np.asarray(a, np.int32), np.asarray(b, np.int32)


def normal_tile(n_free: int, itemsize: int = 8) -> int | None:
    """Channels per shared-memory tile of ``fused_normal`` (a multiple of 32, at most 128), or None.

    The largest of 128, 96, 64 and 32 channels for which the tile, ((P + 2)·tile + (P + 1)(P + 2)/2)
    values, fits in 48 KiB of shared memory; None when even 32 channels do not fit (then the
    Jacobian path serves).

    Parameters
    ----------
    n_free : int
        Number of free parameters P.
    itemsize : int, optional
        Bytes per value (default 8, float64).

    Returns
    -------
    int or None
        Channels per tile, or None.

    Examples
    --------
    >>> normal_tile(3), normal_tile(60), normal_tile(100)
    (128, 64, None)
    """
    n_pairs = (n_free + 1) * (n_free + 2) // 2
    for tile in (128, 96, 64, 32):
        if ((n_free + 2) * tile + n_pairs) * itemsize <= _SHARED_BYTES:
            return tile
    return None


def normal_equations_reference(value_and_jacobian, p, y, sw):
    """The reference of ``fused_normal`` through ``xp``: (JᵀWJ, JᵀW r, Σ W r²) with r = y − f and √W = ``sw``.

    Channels with ``sw`` ≤ 0 are left out (their residual and Jacobian rows count as zero, even
    where ``y`` or ``f`` is not finite).

    Parameters
    ----------
    value_and_jacobian : callable
        ``value_and_jacobian(None, p)`` → (f (n, m), J (n, m, P)), e.g.
        ``CompositeModel.value_and_jacobian``.
    p : array, shape (n, P)
        Free parameters, one row per pixel (units of the parameters: cm⁻¹, eV, K, counts).
    y : array, shape (n, m)
        Measured spectra, counts.
    sw : array, shape (n, m)
        Square roots of the weights √W, 1/counts (e.g. 1/σ); ≤ 0 masks a channel.

    Returns
    -------
    jtwj : array, shape (n, P, P)
        JᵀWJ.
    jtwr : array, shape (n, P)
        JᵀW r.
    chi2 : array, shape (n,)
        Σ W r², dimensionless.

    Examples
    --------
    A straight line f = p₀ + p₁·x on three channels, the last one masked:

    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0])
    >>> def line(_x, p):
    ...     f = p[:, :1] + p[:, 1:] * x
    ...     return f, np.stack([np.ones_like(f), np.broadcast_to(x, f.shape)], axis=-1)
    >>> y, sw = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 1.0, 0.0]])
    >>> jtwj, jtwr, chi2 = normal_equations_reference(line, np.zeros((1, 2)), y, sw)
    >>> jtwj.tolist(), jtwr.tolist(), chi2.tolist()
    ([[[2.0, 1.0], [1.0, 1.0]]], [[3.0, 2.0]], [5.0])
    """
    from hyperspec._backend import get_namespace  # noqa: PLC0415

    xp = get_namespace(p)
    f, jac = value_and_jacobian(None, p)
    used = sw > 0
    r = xp.where(used, sw * (y - f), 0.0)
    jw = xp.where(used[:, None, :], xp.swapaxes(jac, 1, 2) * sw[:, None, :], 0.0)
    return xp.matmul(jw, xp.swapaxes(jw, 1, 2)), xp.matmul(jw, r[:, :, None])[:, :, 0], xp.sum(r * r, axis=1)


#: The term tables of ``FusedModel.args`` as CUDA parameters (after the axes and ``p``), in that order.
_TERM_TABLES = (
    ("long long", "codes"),
    ("unsigned char", "on_energy"),
    ("long long", "starts"),
    ("long long", "counts"),
    ("long long", "slots"),
    ("real", "fixed"),
    ("long long", "j_lo"),
    ("long long", "j_hi"),
    ("real", "scale"),
    ("real", "node_start"),
)


def kernel_source() -> str:
    """The CUDA source of the fused kernels, completed from the registry (without ``REAL_T``, which the builder adds).

    Prepends ``#define KERNEL_<NAME> <code>`` for every kernel of ``kernel_codes()`` and the constants
    of ``KERNEL_CONSTANTS``, and writes the term tables' parameters where ``TERM_TABLES`` stands.
    Reads ``kernels/fused_model.cu`` (cached per set of codes); needs neither CuPy nor a GPU.

    Returns
    -------
    str
        The completed source, with the kernels ``fused_model`` and ``fused_normal``.

    Examples
    --------
    >>> src = kernel_source()
    >>> src.splitlines()[0]
    '#define KERNEL_LORENTZIAN 0'
    >>> "#define LN2 ((real)0.6931471805599453)" in src, "TERM_TABLES," in src
    (True, False)
    """
    return _kernel_source(tuple(kernel_codes().items()))


@functools.lru_cache(maxsize=8)
def _kernel_source(codes: tuple[tuple[str, int], ...]) -> str:
    from hyperspec import _kernels  # noqa: PLC0415

    defines = [f"#define KERNEL_{name.upper()} {code}" for name, code in codes]
    defines += [f"#define {name} ((real){value!r})" for name, value in KERNEL_CONSTANTS.items()]
    tables = ", ".join(f"const {ctype}* __restrict__ {name}" for ctype, name in _TERM_TABLES)
    return "\n".join(defines) + "\n" + re.sub(r"\bTERM_TABLES,", tables + ",", _kernels.source("fused_model"))


def _kernel(name: str = "fused_model"):
    from hyperspec import _kernels  # noqa: PLC0415

    return _kernels.function("fused_model", name, code=kernel_source())


class CudaFusedModel:
    """``(f, J)`` of a ``CompositeModel`` on the GPU; the same tables as the numba ``FusedModel``.

    The term tables are built once on the host by ``FusedModel`` and copied to the device.
    Calling the object, ``cuda_fused(p, want_jac)``, runs ``fused_model`` (one thread per pixel and
    channel, at most 65535 pixels per launch) and returns the model spectra (n, m) and, when
    ``want_jac``, the Jacobian (n, m, P) as a transposed view, else None; all CuPy float64.

    Parameters
    ----------
    model : CompositeModel
        The model (axes in cm⁻¹ and eV); every term must be a built-in component. Needs CuPy.

    Raises
    ------
    NotImplementedError
        When a term's component declares no fused kernel (a custom component).

    Examples
    --------
    Needs CuPy and a GPU (the kernel is compiled on first use):

    >>> import cupy  # doctest: +SKIP
    >>> from hyperspec.fit.composite import CompositeModel
    >>> model = CompositeModel({"peak": {"shape": "lorentzian"}}, cupy.linspace(80.0, 120.0, 5))  # doctest: +SKIP
    >>> cuda_fused = CudaFusedModel(model)  # doctest: +SKIP
    >>> p = cupy.array([[100.0, 10.0, 5.0]])  # doctest: +SKIP
    >>> f, jac = cuda_fused(p, True)  # doctest: +SKIP
    >>> f.get().round(2), jac.shape  # doctest: +SKIP
    (array([[1. , 2.5, 5. , 2.5, 1. ]]), (1, 5, 3))
    >>> a, g, chi2 = cuda_fused.normal_equations(p, f, cupy.ones_like(f))  # doctest: +SKIP
    >>> float(chi2[0])  # doctest: +SKIP
    0.0
    """

    def __init__(self, model):
        import cupy  # noqa: PLC0415

        cpu = FusedModel(model)  # the term tables (codes, slots, windows…), built once on the host
        self.n_free = cpu.n_free
        self.shift = cupy.asarray(cpu.shift)
        self.energy = cupy.asarray(cpu.energy)
        codes, on_energy, starts, counts, slots, fixed, lo, hi, scale, node_start = cpu.args
        self.n_terms = int(codes.size)
        self.tile = normal_tile(self.n_free)
        self.pairs = tuple(cupy.asarray(a) for a in normal_pairs(self.n_free))
        self.args = tuple(
            cupy.asarray(a) for a in (codes, on_energy.astype(np.uint8), starts, counts, slots, fixed, lo, hi, scale, node_start)
        )

    def __call__(self, p, want_jac: bool):
        import cupy  # noqa: PLC0415

        p = cupy.ascontiguousarray(p, dtype=cupy.float64)
        n, m = int(p.shape[0]), int(self.shift.shape[0])
        f = cupy.empty((n, m), dtype=cupy.float64)
        jac = cupy.zeros((n, self.n_free + 1, m) if want_jac else (1, 1, 1), dtype=cupy.float64)
        for a in range(0, n, _MAX_GRID_Y):  # pixels run along the grid's y, at most 65535 per launch
            b = min(n, a + _MAX_GRID_Y)
            grid = ((m + _THREADS - 1) // _THREADS, b - a)
            scalars = (np.int32(b - a), np.int32(m), np.int32(self.n_free), np.int32(self.n_terms), np.int32(bool(want_jac)))
            out_j = jac[a:b] if want_jac else jac
            _kernel()(grid, (_THREADS,), (self.shift, self.energy, p[a:b], *self.args, *scalars, f[a:b], out_j))
        return f, (cupy.swapaxes(jac[:, : self.n_free, :], 1, 2) if want_jac else None)

    def normal_equations(self, p, y, sw):
        """(JᵀWJ (n, P, P), JᵀW r (n, P), Σ W r² (n,)) of rows ``y`` (n, m) with √weights ``sw`` at ``p`` (n, P),
        by ``fused_normal``; through the Jacobian when the parameters do not fit a shared-memory tile."""
        import cupy  # noqa: PLC0415

        p = cupy.ascontiguousarray(p, dtype=cupy.float64)
        y = cupy.ascontiguousarray(y, dtype=cupy.float64)
        sw = cupy.ascontiguousarray(sw, dtype=cupy.float64)
        if self.tile is None:
            return normal_equations_reference(lambda _x, q: self(q, True), p, y, sw)
        n, m, n_free = int(p.shape[0]), int(self.shift.shape[0]), self.n_free
        a = cupy.empty((n, n_free, n_free), dtype=cupy.float64)
        g = cupy.empty((n, n_free), dtype=cupy.float64)
        chi2 = cupy.empty(n, dtype=cupy.float64)
        if n == 0:
            return a, g, chi2
        n_pairs = int(self.pairs[0].size)
        shared = ((n_free + 2) * self.tile + n_pairs) * 8
        scalars = (np.int32(n), np.int32(m), np.int32(n_free), np.int32(self.n_terms), np.int32(n_pairs), np.int32(self.tile))
        args = (self.shift, self.energy, p, *self.args, y, sw, *self.pairs, *scalars, a, g, chi2)
        _kernel("fused_normal")((n,), (_THREADS,), args, shared_mem=shared)
        return a, g, chi2
