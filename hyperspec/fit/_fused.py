"""Fused CPU evaluation of composite models (numba): value and Jacobian in one pass over the data.

The NumPy path (``CompositeModel`` through ``xp``) evaluates every term as whole-array operations —
some 200 passes over an (n, m) array per evaluation. This kernel walks each pixel's channels once
and keeps every intermediate in registers. It is an optional accelerator: used when numba imports
and every term is a built-in component; the NumPy path is its reference (tests compare the two)
and the fallback. The kernel is serial and releases the GIL: dask chunks are the parallel unit.

A term runs fused when its component declares a ``kernel`` (``hyperspec.bands.components.Kernel``):
its code (``kernel_codes()``, from the registry) selects the body in both kernels. ``scale`` and
``node_start`` carry a polynomial's abscissa scale or a free-form continuum's node start and spacing.
"""

from __future__ import annotations

import functools

import numpy as np

from hyperspec._backend import numba_available, to_numpy
from hyperspec.bands.components import kernel_codes

__all__ = ["available", "FusedModel"]


def available() -> bool:
    """True when numba imports (the ``fast`` extra)."""
    return numba_available()


@functools.lru_cache(maxsize=1)
def _kernel():
    from hyperspec.fit._fused_kernel import evaluate  # noqa: PLC0415

    return evaluate


class FusedModel:
    """The fused evaluation of a ``CompositeModel`` whose terms are all built-in components."""

    def __init__(self, model):
        codes, on_energy, starts, counts, slots, fixed, lo, hi, scale, node_start = [], [], [], [], [], [], [], [], [], []
        shift = to_numpy(model.shift).astype(np.float64)
        kernel_code = kernel_codes()
        for term in model.terms:
            comp = term.component
            if comp.kernel is None or kernel_code.get(comp.kernel.name) != comp.kernel.code:
                raise NotImplementedError(f"component {comp.name!r} has no fused kernel")
            code = comp.kernel.code
            if comp.nodes is not None:  # free-form continuum: node spacing
                poly_scale = comp.nodes[1] - comp.nodes[0]
            else:
                poly_scale = 1.0 if comp.scale is None else float(comp.scale)
            codes.append(code)
            on_energy.append(term.component.axis == "energy")
            starts.append(len(slots))
            counts.append(len(term.slots))
            for kind, value in term.slots:
                slots.append(value if kind == "free" else -1)
                fixed.append(0.0 if kind == "free" else float(value))
            if term.window is None:
                lo.append(0)
                hi.append(shift.size)
            else:  # the axis is ascending: the window is one run of channels
                lo.append(int(np.searchsorted(shift, term.window[0], "left")))
                hi.append(int(np.searchsorted(shift, term.window[1], "right")))
            scale.append(poly_scale)
            node_start.append(term.component.nodes[0] if term.component.nodes is not None else 0.0)
        self.n_free = model.n_free
        m = shift.size
        writers = np.zeros(model.n_free + 1, dtype=np.int64)
        covers = np.ones(model.n_free + 1, dtype=bool)
        for t_lo, t_hi, start, count in zip(lo, hi, starts, counts, strict=True):
            for s_ in slots[start : start + count]:
                row = s_ if s_ >= 0 else model.n_free
                writers[row] += 1
                covers[row] &= t_lo == 0 and t_hi == m
        assign = (writers == 1) & covers
        assign[model.n_free] = False  # the scratch row is cleared and accumulated
        self.zero_rows = np.flatnonzero(~assign).astype(np.int64)
        self.assign = assign
        self.shift = np.ascontiguousarray(shift)
        self.energy = np.ascontiguousarray(to_numpy(model.energy if model.energy is not None else model.shift).astype(np.float64))
        self.args = (
            np.asarray(codes, np.int64),
            np.asarray(on_energy, np.bool_),
            np.asarray(starts, np.int64),
            np.asarray(counts, np.int64),
            np.asarray(slots, np.int64),
            np.asarray(fixed, np.float64),
            np.asarray(lo, np.int64),
            np.asarray(hi, np.int64),
            np.asarray(scale, np.float64),
            np.asarray(node_start, np.float64),
        )

    def __call__(self, p, want_jac: bool):
        p = np.ascontiguousarray(p, dtype=np.float64)
        n, m = p.shape[0], self.shift.shape[0]
        f = np.empty((n, m))
        jac = np.empty((n, self.n_free + 1, m)) if want_jac else np.empty((1, 1, 1))  # +1: scratch row
        _kernel()(self.shift, self.energy, p, *self.args, self.zero_rows, self.assign, want_jac, f, jac)
        return f, (np.swapaxes(jac[:, : self.n_free, :], 1, 2) if want_jac else None)
