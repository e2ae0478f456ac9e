"""Fused GPU evaluation of composite models: the CUDA port (``kernels/fused_model.cu``) of the numba
kernel, value and Jacobian in one pass, one thread per (pixel, channel), float64.

Reference: the ``xp`` path of ``CompositeModel`` on CuPy (and the numba kernel on the CPU); the
``gpu`` tests compare them. **Opt-in until it has run on a GPU**: ``HYPERSPEC_CUDA_KERNELS=1`` (or
``CompositeModel(..., fused=True)`` on CuPy) selects it; otherwise CuPy runs the ``xp`` path.
"""

from __future__ import annotations

import functools

import numpy as np

from hyperspec.fit._fused import FusedModel

__all__ = ["CudaFusedModel"]

_THREADS = 128
_MAX_GRID_Y = 65535


@functools.lru_cache(maxsize=1)
def _builder():
    """``build(real)`` memoized per device by CuPy (created once, on first use: never at import)."""
    import cupy  # noqa: PLC0415

    @cupy.memoize(for_each_device=True)
    def build(real: str):
        from hyperspec import _kernels  # noqa: PLC0415

        src = f"#define REAL_T {real}\n" + _kernels.source("fused_model")
        return cupy.RawKernel(src, "fused_model")

    return build


def _kernel():
    return _builder()("double")


class CudaFusedModel:
    """``(f, J)`` of a ``CompositeModel`` on the GPU; the same tables as the numba ``FusedModel``."""

    def __init__(self, model):
        import cupy  # noqa: PLC0415

        cpu = FusedModel(model)  # the term tables (codes, slots, windows…), built once on the host
        self.n_free = cpu.n_free
        self.shift = cupy.asarray(cpu.shift)
        self.energy = cupy.asarray(cpu.energy)
        codes, on_energy, starts, counts, slots, fixed, lo, hi, scale, node_start = cpu.args
        self.n_terms = int(codes.size)
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
