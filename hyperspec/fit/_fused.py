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

from hyperspec._backend import numba_available, numba_compile_notice, to_numpy
from hyperspec.bands.components import kernel_codes

__all__ = ["available", "FusedModel"]


def available() -> bool:
    """True when numba imports (the ``fast`` extra).

    Returns
    -------
    bool
        Whether the numba kernel can run (``hyperspec._backend.numba_available``).

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    return numba_available()


@functools.lru_cache(maxsize=1)
def _kernel():
    from hyperspec.fit._fused_kernel import evaluate  # noqa: PLC0415

    return evaluate


@functools.lru_cache(maxsize=1)
def _lm_kernel():
    from hyperspec.fit._fused_kernel import levenberg_marquardt_rows  # noqa: PLC0415

    return levenberg_marquardt_rows


@functools.lru_cache(maxsize=1)
def _integrals_kernel():
    from hyperspec.fit._fused_kernel import term_integrals  # noqa: PLC0415

    return term_integrals


@functools.lru_cache(maxsize=1)
def _normal_kernel():
    from hyperspec.fit._fused_kernel import normal_equations  # noqa: PLC0415

    return normal_equations


class FusedModel:
    """The fused evaluation of a ``CompositeModel`` whose terms are all built-in components.

    The constructor flattens the model into term tables on the host (``args``: kernel codes,
    energy-axis flags, slot starts and counts, slots (free index or −1), fixed values, window
    channel runs ``[lo, hi)``, polynomial scales and free-form node starts); calling the object,
    ``fused(p, want_jac)``, runs the numba kernel and returns ``(f, J)``: the model spectra
    (n, m) and, when ``want_jac``, the Jacobian (n, m, P) as a transposed view, else None.
    Jacobian rows written by exactly one term covering the whole axis are assigned
    (``assign``); the others (``zero_rows``, plus the scratch row P of fixed parameters) are
    cleared and accumulated.

    Parameters
    ----------
    model : CompositeModel
        The model; its Raman-shift axis (cm⁻¹) must be ascending (windows become one run of
        channels), and its energy axis (eV) is used by energy-axis terms.

    Raises
    ------
    NotImplementedError
        When a term's component declares no fused kernel (a custom component).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec.fit.composite import CompositeModel
    >>> spec = {"peak": {"shape": "lorentzian"}, "bg": {"shape": "polynomial1", "window": [90, 120]}}
    >>> model = CompositeModel(spec, np.linspace(80.0, 120.0, 5), fused=False)
    >>> fused = FusedModel(model)
    >>> fused.n_free
    5
    >>> codes, on_energy, starts, counts, slots, fixed, lo, hi, scale, node_start = fused.args
    >>> codes, slots, lo, hi
    (array([0, 7]), array([0, 1, 2, 3, 4]), array([0, 1]), array([5, 5]))
    >>> fused.zero_rows
    array([3, 4, 5])
    """

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
        kernel = _kernel()
        with numba_compile_notice("band-model", kernel):
            kernel(self.shift, self.energy, p, *self.args, self.zero_rows, self.assign, want_jac, f, jac)
        return f, (np.swapaxes(jac[:, : self.n_free, :], 1, 2) if want_jac else None)

    def normal_equations(self, p, y, sw):
        """(JᵀWJ (n, P, P), JᵀW r (n, P), Σ W r² (n,)) at ``p`` for data ``y`` and √W ``sw`` (n, m), in one pass.

        The CPU twin of the CUDA kernel's ``fused_normal`` (reference:
        ``hyperspec.fit._cuda_fused.normal_equations_reference``): per pixel the Jacobian stays in a
        cache-sized scratch and only the symmetric half of JᵀWJ is summed.
        """
        p = np.ascontiguousarray(p, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        sw = np.ascontiguousarray(np.broadcast_to(sw, y.shape), dtype=np.float64)
        n, n_free = p.shape
        a = np.empty((n, n_free, n_free))
        g = np.empty((n, n_free))
        c = np.empty(n)
        kernel = _normal_kernel()
        with numba_compile_notice("band-model normal equations", kernel):
            kernel(self.shift, self.energy, p, *self.args, self.zero_rows, self.assign, y, sw, a, g, c)
        return a, g, c

    def levenberg_marquardt_rows(
        self, y, sw, p, lower, upper, mu, inv_var, penalty_gram, status, n_iter, *, max_iter, xtol, ftol, gtol, lambda0
    ):
        """The whole Levenberg–Marquardt loop of ``lm.levenberg_marquardt`` compiled, one pixel at a time.

        Rows with ``status < 0`` are fitted; ``p`` (n, P), ``status`` (n,) and ``n_iter`` (n,) are updated
        in place. ``y`` and ``sw`` (n, m) are the cleaned data and √W (0 masks a channel); ``lower``,
        ``upper``, ``mu`` and ``inv_var`` (n, P) the bounds and the priors' centres and 1/σ²;
        ``penalty_gram`` the (P, P) RᵀR of the quadratic penalty, or None.

        Returns
        -------
        curvature : ndarray, shape (n, P, P)
            JᵀWJ with the priors and penalty at each row's solution (for the covariance).
        chi2 : ndarray, shape (n,)
            The data's Σ W r² at the solution (without priors).
        """
        n, n_free = p.shape
        has_rtr = penalty_gram is not None
        rtr = np.ascontiguousarray(penalty_gram, dtype=np.float64) if has_rtr else np.zeros((n_free, n_free))
        a = np.full((n, n_free, n_free), np.nan)
        chi2 = np.full(n, np.nan)
        arrays = [np.ascontiguousarray(v, dtype=np.float64) for v in (y, sw, lower, upper, mu, inv_var)]
        kernel = _lm_kernel()
        with numba_compile_notice("band-model Levenberg-Marquardt", kernel):
            kernel(self.shift, self.energy, *self.args, self.zero_rows, self.assign, arrays[0], arrays[1], p, *arrays[2:], rtr, has_rtr,
                   int(max_iter), float(xtol), float(ftol), float(gtol), float(lambda0), status, n_iter, a, chi2)  # fmt: skip
        return a, chi2

    def term_integrals(self, p, weights):
        """Per term, Σ_j weights_j f_t(x_j) and its gradient over the free parameters, in one pass per pixel.

        Parameters
        ----------
        p : ndarray, shape (n, P)
            Free parameters.
        weights : ndarray, shape (m,)
            Quadrature weights over the channels (e.g. trapezoid weights in cm⁻¹).

        Returns
        -------
        areas : ndarray, shape (n, T)
            One column per term, in the model's order (counts · the weights' unit).
        gradients : ndarray, shape (n, T, P)
            ∂area/∂p (zero for the parameters a term does not use).
        """
        p = np.ascontiguousarray(p, dtype=np.float64)
        n, n_terms = p.shape[0], self.args[0].shape[0]
        areas = np.empty((n, n_terms))
        grads = np.empty((n, n_terms, self.n_free))
        kernel = _integrals_kernel()
        with numba_compile_notice("band-model areas", kernel):
            kernel(self.shift, self.energy, p, *self.args, np.ascontiguousarray(weights, dtype=np.float64), areas, grads)
        return areas, grads
