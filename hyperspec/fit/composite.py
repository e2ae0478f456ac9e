"""Composite models: registry components summed into one model, described as data.

A spec is a mapping ``term name → term spec``; a term spec has

- ``shape``: a registry component (``"lorentzian"``, ``"espl"``, ``"lers"``, ``"polynomial2"`` …);
- ``init``: start values by parameter name (amplitudes may be omitted: the linear stage finds them);
- ``bounds``: ``{param: [low, high]}`` (defaults from the registry);
- ``prior``: ``{param: [mu, sigma]}``, the Tikhonov penalty ((p − μ)/σ)² of regularised least squares;
- ``fixed``: ``{param: value}`` held constant;
- ``tie``: ``{param: "other_term.param"}`` shares another term's parameter;
- ``window``: ``[low, high]`` in Raman shift (cm⁻¹): the term is zero outside it;
- ``seed``: ``"residual_peak"`` starts a line (center, hwhm, height) per pixel on the largest peak of
  the residual of a first fit without it (``decompose`` does the two passes): for lines at random
  positions, such as SBPL;
- ``shape: "freeform"`` with ``window``, ``nodes`` (K) and ``smoothness`` (λ): a non-negative continuum
  on K nodes whose second differences are penalised, λ·‖D₂c‖² added to χ² (parameters ``c0`` …).

Example, three Lorentzians and a linear baseline::

    spec = {
        "d": {"shape": "lorentzian", "init": {"center": 1360, "hwhm": 20}},
        "g": {"shape": "lorentzian", "init": {"center": 1590, "hwhm": 12}, "bounds": {"center": [1570, 1610]}},
        "2d": {"shape": "lorentzian", "init": {"center": 2720, "hwhm": 30}},
        "baseline": {"shape": "polynomial1"},
    }
"""

from __future__ import annotations

import copy
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperspec._backend import FUSED_NORMAL_VAR, get_namespace, kernel_engine
from hyperspec.bands.components import Component, freeform_component, get_component

__all__ = ["CompositeModel", "Term", "TERM_KEYS"]

TERM_KEYS = ("shape", "init", "bounds", "prior", "fixed", "tie", "window", "seed", "nodes", "smoothness", "description")


@dataclass
class Term:
    """One component of a composite model, with its parameter mapping.

    ``CompositeModel`` builds one per term of its spec (``model.terms``); the slots map the
    component's parameters, in ``component.param_names`` order, onto the free-parameter vector.

    Parameters
    ----------
    name : str
        The term's name in the spec (the prefix of its free parameters, ``"name.param"``).
    component : Component
        The registry component (``hyperspec.bands.components``) that gives the shape.
    window : (float, float) or None
        Closed Raman-shift interval (low, high), cm⁻¹, outside which the term is zero; None: everywhere.
    slots : list of (str, int or float), optional
        Per component parameter: ``("free", index into the free vector)`` or ``("fixed", value)``
        (value in the parameter's unit: cm⁻¹, eV, K or counts). A tied parameter holds the
        ``"free"`` index of its target. Default: empty (filled while the model is built).

    Examples
    --------
    >>> import numpy as np
    >>> spec = {
    ...     "a": {"shape": "lorentzian", "fixed": {"center": 90}},
    ...     "b": {"shape": "lorentzian", "tie": {"hwhm": "a.hwhm"}, "window": [95, 120]},
    ... }
    >>> model = CompositeModel(spec, np.linspace(80.0, 120.0, 5), fused=False)
    >>> model.free_names
    ['a.hwhm', 'a.height', 'b.center', 'b.height']
    >>> a, b = model.terms
    >>> a.name, a.component.name, a.window, a.slots
    ('a', 'lorentzian', None, [('fixed', 90.0), ('free', 0), ('free', 1)])
    >>> b.window, b.slots
    ((95.0, 120.0), [('free', 2), ('free', 0), ('free', 3)])
    """

    name: str
    component: Component
    window: tuple[float, float] | None
    #: per component parameter: ("free", index into the free vector) or ("fixed", value)
    slots: list[tuple[str, Any]] = field(default_factory=list)


def _spec_error(where: str, msg: str) -> ValueError:
    return ValueError(f"model spec, {where}: {msg}")


def _check_keys(given, valid, where):
    for key in given:
        if key not in valid:
            close = difflib.get_close_matches(str(key), list(valid), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _spec_error(where, f"unknown key {key!r}.{hint} Valid: {', '.join(valid)}.")


class CompositeModel:
    """Sum of registry components on a spectral axis; batched value and analytic Jacobian.

    Parameters
    ----------
    spec : mapping
        Term name → term spec (see the module docstring).
    shift : array, shape (m,)
        Raman shift of the channels, cm⁻¹ (NumPy or CuPy).
    energy : array, shape (m,), optional
        Photon energy of the channels, eV; needed by components on the energy axis (ESPL).
    fused : bool, optional
        Use the fused numba kernel on NumPy (value and Jacobian in one pass) when every term is a
        built-in component. Default: when numba is installed, unless ``HYPERSPEC_FUSED=0``. On CuPy
        the fused CUDA kernel (``kernels/fused_model.cu``) runs only with ``fused=True`` or
        ``HYPERSPEC_CUDA_KERNELS=1`` until it has been validated on a GPU.

    Examples
    --------
    A Lorentzian (centre and HWHM in cm⁻¹, height in counts) on a constant baseline; the free
    parameters are ordered term by term, ``p`` holds one row per pixel:

    >>> import numpy as np
    >>> spec = {
    ...     "peak": {"shape": "lorentzian", "init": {"center": 100, "hwhm": 10}},
    ...     "bg": {"shape": "polynomial1"},
    ... }
    >>> model = CompositeModel(spec, np.linspace(80.0, 120.0, 5), fused=False)
    >>> model.engine, model.n_free
    ('numpy', 5)
    >>> model.free_names
    ['peak.center', 'peak.hwhm', 'peak.height', 'bg.c0', 'bg.c1']
    >>> p = np.array([[100.0, 10.0, 5.0, 1.0, 0.0]])
    >>> model.value(None, p).round(2)
    array([[2. , 3.5, 6. , 3.5, 2. ]])
    >>> f, jac = model.value_and_jacobian(None, p)
    >>> jac.shape
    (1, 5, 5)
    >>> model.components(p)["peak"].round(2)
    array([[1. , 2.5, 5. , 2.5, 1. ]])
    """

    def __init__(self, spec: Mapping[str, Mapping[str, Any]], shift, energy=None, *, fused: bool | None = None):
        if not isinstance(spec, Mapping) or not spec:
            raise _spec_error("top level", "a model needs at least one term, e.g. {'peak': {'shape': 'lorentzian'}}.")
        self.spec = copy.deepcopy(dict(spec))
        xp = get_namespace(shift)
        self.xp = xp
        self.shift = xp.asarray(shift, dtype=xp.float64)
        self.energy = None if energy is None else xp.asarray(energy, dtype=xp.float64)
        self.terms: list[Term] = []
        self.free_names: list[str] = []
        init, lower, upper, mu, sigma = [], [], [], [], []
        ties = []
        smoothness_of: dict[int, tuple[str, float]] = {}
        for name, tspec in self.spec.items():
            where = f"term {name!r}"
            if not isinstance(tspec, Mapping):
                raise _spec_error(where, f"must be a mapping with a 'shape'; got {tspec!r}.")
            _check_keys(tspec, TERM_KEYS, where)
            if "shape" not in tspec:
                raise _spec_error(where, "has no 'shape' (a registry component such as 'lorentzian').")
            if str(tspec["shape"]).lower() == "freeform":
                if "window" not in tspec or "nodes" not in tspec:
                    raise _spec_error(where, "a 'freeform' continuum needs a 'window' [low, high] in cm⁻¹ and 'nodes' (how many).")
                try:
                    comp = freeform_component(tspec["nodes"], *tspec["window"])
                except (TypeError, ValueError) as exc:
                    raise _spec_error(where, str(exc)) from None
                smooth = float(tspec.get("smoothness", 0.0))
                if not smooth >= 0:
                    raise _spec_error(where, f"'smoothness' must be ≥ 0; got {tspec.get('smoothness')!r}.")
            else:
                comp = get_component(tspec["shape"])
                if "nodes" in tspec or "smoothness" in tspec:
                    raise _spec_error(where, "'nodes' and 'smoothness' belong to a 'freeform' continuum only.")
            if comp.axis == "energy" and self.energy is None:
                raise _spec_error(where, f"component {comp.name!r} lives on the energy axis; the data needs a laser wavelength.")
            pnames = comp.param_names
            for key in ("init", "bounds", "prior", "fixed", "tie"):
                sub = tspec.get(key, {}) or {}
                if not isinstance(sub, Mapping):
                    raise _spec_error(where, f"'{key}' must be a mapping of parameter names; got {sub!r}.")
                _check_keys(sub, pnames, f"{where}, '{key}'")
            window = tspec.get("window")
            if window is not None:
                if len(window) != 2 or not float(window[0]) < float(window[1]):
                    raise _spec_error(where, f"'window' must be [low, high] in cm⁻¹ with low < high; got {window!r}.")
                window = (float(window[0]), float(window[1]))
            term = Term(name, comp, window)
            for param in comp.params:
                if param.name in (tspec.get("fixed") or {}):
                    term.slots.append(("fixed", float(tspec["fixed"][param.name])))
                    continue
                if param.name in (tspec.get("tie") or {}):
                    term.slots.append(("tie", str(tspec["tie"][param.name])))
                    ties.append((term, len(term.slots) - 1, where))
                    continue
                lo, hi = (tspec.get("bounds") or {}).get(param.name, (param.lower, param.upper))
                lo, hi = float(lo), float(hi)
                if not lo <= hi:
                    raise _spec_error(where, f"bounds of {param.name!r} = [{lo}, {hi}]: low must be ≤ high.")
                start = (tspec.get("init") or {}).get(param.name)
                if start is None:
                    start = 1.0 if param.name == comp.amplitude else _default_start(lo, hi)
                start = float(start)
                if not lo <= start <= hi:
                    raise _spec_error(where, f"start value of {param.name!r} = {start} lies outside its bounds [{lo}, {hi}].")
                m, s = (tspec.get("prior") or {}).get(param.name, (0.0, math.inf))
                if not float(s) > 0:
                    raise _spec_error(where, f"prior sigma of {param.name!r} must be > 0 (inf for none); got {s!r}.")
                term.slots.append(("free", len(self.free_names)))
                self.free_names.append(f"{name}.{param.name}")
                if str(tspec["shape"]).lower() == "freeform":
                    smoothness_of[len(self.free_names) - 1] = (name, float(tspec.get("smoothness", 0.0)))
                init.append(start)
                lower.append(lo)
                upper.append(hi)
                mu.append(float(m))
                sigma.append(float(s))
            self.terms.append(term)
        for term, k, where in ties:
            target = term.slots[k][1]
            if target not in self.free_names:
                close = difflib.get_close_matches(target, self.free_names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise _spec_error(where, f"tie target {target!r} is not a free parameter.{hint}")
            term.slots[k] = ("free", self.free_names.index(target))
        # second-difference penalty rows of free-form continua: √λ·(c[k−1] − 2c[k] + c[k+1]) over free nodes
        rows = []
        for tname in dict.fromkeys(n for n, _ in smoothness_of.values()):
            idx = [i for i, (n, _) in smoothness_of.items() if n == tname]
            lam = smoothness_of[idx[0]][1]
            for a, b, c in zip(idx, idx[1:], idx[2:], strict=False):  # consecutive triples
                row = np.zeros(len(self.free_names))
                row[[a, b, c]] = np.sqrt(lam) * np.array([1.0, -2.0, 1.0])
                rows.append(row)
        self.penalty = np.array(rows) if rows and np.any(rows) else None
        self.init = np.array(init)
        self.lower = np.array(lower)
        self.upper = np.array(upper)
        self.prior_mu = np.array(mu)
        self.prior_sigma = np.array(sigma)
        self._windows = {
            t.name: (None if t.window is None else ((self.shift >= t.window[0]) & (self.shift <= t.window[1]))) for t in self.terms
        }
        self._fused = None
        if fused is None:  # the backend settings decide ($HYPERSPEC_KERNELS; the CUDA kernel is opt-in until run on a GPU)
            kind = kernel_engine(xp)
        else:
            kind = ("numba" if xp is np else "cuda") if fused else "xp"
        if kind == "numba":
            from hyperspec.fit import _fused  # noqa: PLC0415

            if _fused.available():
                try:
                    self._fused = _fused.FusedModel(self)
                except NotImplementedError:  # a custom component: the NumPy path serves
                    self._fused = None
        elif kind == "cuda":
            from hyperspec.fit._cuda_fused import CudaFusedModel  # noqa: PLC0415

            try:
                self._fused = CudaFusedModel(self)
            except NotImplementedError:
                self._fused = None

    @property
    def engine(self) -> str:
        """Which evaluation runs: ``"numba-fused"``, ``"cuda-fused"`` or the array namespace (``"numpy"``, ``"cupy"``)."""
        if self._fused is None:
            return self.xp.__name__
        return "numba-fused" if self.xp is np else "cuda-fused"

    @property
    def fused_normal_equations(self):
        """The fused kernel's ``normal_equations(p, y, sw)`` (for ``levenberg_marquardt``), or None without one.

        On the GPU the CUDA kernel's; on the CPU the numba kernel's (JᵀWJ summed per pixel over its symmetric
        half, the Jacobian kept in cache), unless ``$HYPERSPEC_FUSED_NORMAL=0``.
        """
        if self._fused is None:
            return None
        if self.xp is np and os.environ.get(FUSED_NORMAL_VAR, "1") == "0":
            return None
        return getattr(self._fused, "normal_equations", None)

    @property
    def fused_term_integrals(self):
        """The numba kernel's ``term_integrals(p, weights)`` (each term's Σ w f and its gradient), or None without it."""
        return getattr(self._fused, "term_integrals", None) if self.xp is np else None

    # ---- evaluation ---------------------------------------------------------------------------
    @property
    def n_free(self) -> int:
        """Number of free parameters (the columns of ``p``)."""
        return len(self.free_names)

    def _axis(self, term: Term):
        return self.energy if term.component.axis == "energy" else self.shift

    def term_params(self, term: Term, p):
        """The term's full parameter matrix (n, k) from the free parameters ``p`` (n, P)."""
        xp = self.xp
        cols = [p[:, idx : idx + 1] if kind == "free" else xp.full((p.shape[0], 1), idx, dtype=p.dtype) for kind, idx in term.slots]
        return xp.concatenate(cols, axis=1)

    def term_value_and_jacobian(self, term: Term, p):
        """One term's value (n, m) and Jacobian w.r.t. its own parameters (n, m, k), window applied."""
        f, cols = self.term_columns(term, p, True)
        return f, self.xp.stack(cols, axis=-1)

    def term_columns(self, term: Term, p, jac: bool = True):
        """One term's value (n, m) and its Jacobian columns [(n, m) per parameter] (or None), window applied."""
        f, cols = term.component.columns(self._axis(term), self.term_params(term, p), jac)
        win = self._windows[term.name]
        if win is not None:
            f = f * win
            cols = None if cols is None else [c * win for c in cols]
        return f, cols

    def value(self, x, p):
        """Model spectra (n, m); ``x`` is ignored (the axes are bound at construction)."""
        if self._fused is not None:
            return self._fused(p, False)[0]
        total = None
        for term in self.terms:
            f = self.term_columns(term, p, False)[0]
            total = f if total is None else total + f
        return total

    def value_and_jacobian(self, x, p):
        """Model spectra (n, m) and the Jacobian w.r.t. the free parameters (n, m, P); ties add up.

        The Jacobian is built parameter-major, (n, P, m) in memory, and returned as a transposed
        view: each column is one contiguous write, and JᵀJ maps onto a single batched GEMM.
        """
        if self._fused is not None:
            return self._fused(p, True)
        xp = self.xp
        n, m = p.shape[0], self.shift.shape[0]
        total = xp.zeros((n, m), dtype=p.dtype)
        jac = xp.zeros((n, self.n_free, m), dtype=p.dtype)
        for term in self.terms:
            f, cols = self.term_columns(term, p, True)
            total += f
            for col, (kind, idx) in zip(cols, term.slots, strict=True):
                if kind == "free":
                    jac[:, idx, :] += col
        return total, xp.swapaxes(jac, 1, 2)

    value_and_jacobian.returns_value = True  # tells the LM engine it gets (f, J) in one call

    def components(self, p) -> dict[str, Any]:
        """Each term's fitted spectrum (n, m), by term name."""
        return {term.name: self.term_columns(term, p, False)[0] for term in self.terms}

    # ---- linear stage ---------------------------------------------------------------------------
    def amplitude_slots(self) -> list[tuple[Term, int, int]]:
        """(term, parameter position, free index) of every free amplitude (the linear parameters)."""
        out = []
        for term in self.terms:
            comp = term.component
            names = comp.param_names
            linear = [names.index(comp.amplitude)] if comp.amplitude else list(range(len(names)))
            for k in linear:
                kind, idx = term.slots[k]
                if kind == "free":
                    out.append((term, k, idx))
        return out


def _default_start(lo: float, hi: float) -> float:
    if math.isfinite(lo) and math.isfinite(hi):
        return 0.5 * (lo + hi)
    if math.isfinite(lo):
        return max(lo, 0.0) + 1.0 if lo >= 0 else 0.0
    if math.isfinite(hi):
        return min(hi, 0.0) - 1.0 if hi <= 0 else 0.0
    return 0.0
