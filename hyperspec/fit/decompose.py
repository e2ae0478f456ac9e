"""``hyperspec.decompose``: split every spectrum of a map into its bands by regularised least squares.

Per chunk of pixels (the spectral axis whole), on NumPy or CuPy:

1. preflight per pixel: non-finite data → ``NONFINITE``; flat spectra (dead pixels: no structure
   above the noise) → ``FLAT``; saturated channels are masked and the pixel flagged ``SATURATED``;
2. linear stage: with every shape at its start value, one shared design matrix and a batched
   non-negative least squares give all amplitudes (start values of the next stage);
3. nonlinear stage: batched Levenberg–Marquardt with analytic Jacobians, box bounds, priors,
   Poisson weights, the notch masked;
4. results: every parameter and its standard error, band areas (trapezoid of the fitted component
   over the data's Raman-shift axis, counts·cm⁻¹) with errors by the delta method, derived values
   (``<espl term>_peak_ev``, ``<espl term>_urbach_ev``), ``chi2_red``, ``status``, ``n_iter``.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from hyperspec._backend import resolve_backend, single_threaded_blas, to_numpy
from hyperspec.axes import trapezoid_weights
from hyperspec.bands.presets import get_preset
from hyperspec.bands.shapes import espl_peak, lorentzian
from hyperspec.fit.composite import TERM_KEYS, CompositeModel
from hyperspec.fit.linear import nnls
from hyperspec.fit.lm import FitStatus, LMResult, levenberg_marquardt
from hyperspec.model import SPECTRAL_DIM, add_history, map_spectra, shift_axis, validate_map

__all__ = ["decompose", "build_model_spec", "result_names", "fitted_components"]

#: Status codes set by the preflight of ``decompose`` (the engine's codes are 0–5).
SATURATED = 6
FLAT = 7
STATUS_MEANINGS = {
    **{int(s): s.name.lower() for s in FitStatus},
    SATURATED: "saturated (channels masked)",
    FLAT: "flat (no signal; not fitted)",
}

_UNIT_SUFFIX = {"cm-1": "_cm", "K": "_k", "eV": "_ev", "1/eV": "_per_ev", "counts": "", "": ""}
_OPTION_KEYS = ("mask", "drop", "include")


def build_model_spec(preset: str | Mapping | None = "cspbbr3-633", model: Mapping | None = None, **overrides) -> dict:
    """The model spec ``{"mask": [...], "terms": {...}}`` from a preset or a custom model, with overrides.

    Overrides: ``<term>={...}`` merges into that term's spec (``init``, ``bounds``, ``prior``,
    ``fixed``, ``tie``, ``window``) or adds a new term when it has a ``shape``; ``drop=[...]``
    removes terms; ``mask=[[lo, hi], ...]`` replaces the masked Raman-shift intervals.
    """
    if model is not None:
        spec = copy.deepcopy(dict(model))
        if "terms" not in spec:
            spec = {"mask": [], "terms": spec}
    elif isinstance(preset, Mapping):
        spec = copy.deepcopy(dict(preset))
    else:
        spec = get_preset(preset)
    spec.setdefault("mask", [])
    terms = spec["terms"]
    optional = spec.pop("optional_terms", {})
    for name in overrides.pop("include", []) or []:  # first, so the included terms can be edited below
        if name not in optional:
            close = difflib.get_close_matches(str(name), list(optional), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"cannot include {name!r}: not an optional term of this model.{hint} Optional: {', '.join(optional) or 'none'}."
            )
        terms[name] = copy.deepcopy(optional[name])
    for key, value in overrides.items():
        if key == "drop":
            for name in value:
                if name not in terms:
                    raise ValueError(f"cannot drop term {name!r}: the model has {', '.join(terms)}.")
                del terms[name]
        elif key == "mask":
            spec["mask"] = [list(map(float, iv)) for iv in value]
        elif key in terms:
            if not isinstance(value, Mapping):
                raise ValueError(f"override for term {key!r} must be a mapping such as {{'bounds': {{...}}}}; got {value!r}.")
            for sub, content in value.items():
                if sub not in TERM_KEYS:
                    close = difflib.get_close_matches(sub, TERM_KEYS, n=1)
                    raise ValueError(
                        f"override {key}.{sub}: unknown key.{' Did you mean ' + repr(close[0]) + '?' if close else ''} "
                        f"Valid: {', '.join(TERM_KEYS)}."
                    )
                if isinstance(content, Mapping):
                    terms[key].setdefault(sub, {}).update(copy.deepcopy(dict(content)))
                else:
                    terms[key][sub] = copy.deepcopy(content)
        elif isinstance(value, Mapping) and "shape" in value:
            terms[key] = copy.deepcopy(dict(value))
        else:
            close = difflib.get_close_matches(key, [*terms, *_OPTION_KEYS], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown override {key!r}.{hint} Terms of this model: {', '.join(terms)}; options: drop, mask, include.")
    if not terms:
        raise ValueError("the model has no terms left; keep at least one.")
    return spec


def result_names(model: CompositeModel) -> list[tuple[str, str, str]]:
    """(variable name, units, meaning) of every per-pixel output, in output order (without ``_stderr``)."""
    out = []
    for term in model.terms:
        out.append((f"{term.name}_area", "counts*cm-1", f"area of {term.name} over the Raman-shift axis"))
        for param in term.component.params:  # fixed and tied parameters are reported too
            out.append(
                (
                    f"{term.name}_{param.name}{_UNIT_SUFFIX.get(param.unit, '')}",
                    param.unit,
                    f"{term.name} {param.name}: {param.description or term.component.name}",
                )
            )
        if term.component.name == "espl":
            out.append((f"{term.name}_peak_ev", "eV", f"energy of the maximum of the fitted {term.name} band"))
            out.append((f"{term.name}_urbach_ev", "eV", f"Urbach energy 1/|β| of {term.name}"))
    return out


def _check_support(model: CompositeModel, shift: np.ndarray, mask_w: np.ndarray) -> None:
    """Refuse terms this spectral axis cannot see, before any work, naming them and the fix.

    A windowed term needs fitted channels in its window; a line needs its centre range on the axis; the
    l-ERS central peak needs channels around 0 cm⁻¹. Otherwise its parameters are undetermined and
    every pixel would come back singular.
    """
    lo_ax, hi_ax = float(shift.min()), float(shift.max())
    used = shift[mask_w > 0]
    problems = []
    for term in model.terms:
        names = term.component.param_names
        if term.window is not None:
            inside = int(((used >= term.window[0]) & (used <= term.window[1])).sum())
            if inside < len(names):
                problems.append(f"{term.name} (window {term.window[0]:g}…{term.window[1]:g} cm⁻¹ holds {inside} fitted channels)")
                continue
        for key in ("center", "peak"):
            if key in names and term.component.axis == "shift":
                kind, idx = term.slots[names.index(key)]
                lo, hi = (model.lower[idx], model.upper[idx]) if kind == "free" else (idx, idx)
                if term.component.name == "raman_pair":  # the line shows at +ν and at −ν
                    lo, hi = -hi, hi
                if hi < lo_ax or lo > hi_ax:
                    problems.append(f"{term.name} ({key} {lo:g}…{hi:g} cm⁻¹)")
        if term.component.name == "lers" and not np.any(np.abs(used) < 300.0):
            problems.append(f"{term.name} (central peak: no fitted channel within ±300 cm⁻¹)")
    if problems:
        raise ValueError(
            f"the spectral axis ({lo_ax:.6g} … {hi_ax:.6g} cm⁻¹) does not cover these terms: {'; '.join(problems)}. "
            f"Leave them out with drop={[p.split(' ')[0] for p in problems]!r}, or use a model for this range."
        )


def _boxcar(xp, y, width: int):
    c = xp.cumsum(xp.pad(y, ((0, 0), (width // 2 + 1, width // 2)), mode="edge"), axis=1)
    return (c[:, width:] - c[:, :-width]) / width


def flat_spectra(xp, y, smooth=None):
    """Rows (n, m) with no structure above their noise (dead pixels): the 1–99 % span of the 9-channel
    boxcar is below 8 × the noise from channel-to-channel differences (robust, MAD)."""
    if smooth is None:
        smooth = _boxcar(xp, y, 9)
    diff = xp.diff(y, axis=1)
    noise = 1.4826 * xp.median(xp.abs(diff - xp.median(diff, axis=1, keepdims=True)), axis=1) / math.sqrt(2)
    span = xp.percentile(smooth, 99, axis=1) - xp.percentile(smooth, 1, axis=1)
    return span < 8.0 * xp.maximum(noise, 1e-12)


class _Decomposer:
    """Holds the model and the per-chunk recipe; ``__call__`` maps (..., m) → (..., n_out)."""

    def __init__(self, spec, shift, energy, xp, *, weights, saturation, batch_size, max_iter, tol, device_bytes=None):
        self.xp = xp
        self.tol = float(tol)
        self.spec = spec
        self.model = CompositeModel(spec["terms"], xp.asarray(shift), None if energy is None else xp.asarray(energy))
        self.shift = np.asarray(shift)
        self.weights = weights
        self.saturation = saturation
        if batch_size is None:
            batch_size = default_batch_size("numpy" if xp is np else "cupy", self.shift.size, self.model.n_free, device_bytes)
        self.batch_size = int(batch_size)
        self.max_iter = int(max_iter)
        base = np.ones(self.shift.size)
        for lo, hi in spec.get("mask", []):
            base[(self.shift >= lo) & (self.shift <= hi)] = 0.0
        _check_support(self.model, self.shift, base)
        if base.sum() <= self.model.n_free:
            raise ValueError(
                f"the mask leaves {int(base.sum())} channels for {self.model.n_free} free parameters; widen the axis or mask less."
            )
        self.base_w = xp.asarray(base)
        self.trapz = xp.asarray(trapezoid_weights(self.shift))
        # linear stage: the Jacobian columns of the amplitudes at the start values are the basis
        p0 = xp.asarray(self.model.init[None, :])
        f0, j0 = self.model.value_and_jacobian(None, p0)
        slots = self.model.amplitude_slots()
        self.amp_idx = [idx for _, _, idx in slots]
        self.B = j0[0][:, self.amp_idx]
        self.const = f0[0] - self.B @ p0[0, self.amp_idx]
        self.amp_lower = xp.asarray(self.model.lower[self.amp_idx])
        self.penalty = None if self.model.penalty is None else xp.asarray(self.model.penalty)
        self.amp_penalty = None if self.model.penalty is None else xp.asarray(self.model.penalty[:, self.amp_idx])
        self.names = result_names(self.model)
        self.n_out = 2 * len(self.names) + 3
        # each free amplitude with the free shape parameters only its band determines (tied ones are shared)
        owners: dict[int, int] = {}
        for term in self.model.terms:
            for kind, idx in term.slots:
                if kind == "free":
                    owners[idx] = owners.get(idx, 0) + 1
        self._shapes_of = []
        for term in self.model.terms:
            comp = term.component
            if not comp.amplitude:
                continue
            a_pos = comp.param_names.index(comp.amplitude)
            kind, a_idx = term.slots[a_pos]
            if kind == "free":
                shapes_ = [idx for k, (kd, idx) in enumerate(term.slots) if kd == "free" and k != a_pos and owners[idx] == 1]
                self._shapes_of.append((a_idx, shapes_))
        self.lower = xp.asarray(self.model.lower)
        self.upper = xp.asarray(self.model.upper)
        self.prior = (xp.asarray(self.model.prior_mu), xp.asarray(self.model.prior_sigma))
        # terms started from the data ("seed": "residual_peak") are added one per pass: this engine adds the
        # last one on the residual of its base engine (the same model without it), which adds the others
        seeded = [t for t in self.model.terms if spec["terms"][t.name].get("seed")]
        self.seeded = seeded[-1:]
        self.earlier_seeded = seeded[:-1]  # decided by earlier passes: a rejected one stays at zero height
        self.base = None
        if seeded:
            for t in self.seeded:  # the base engines check the earlier ones
                seed = spec["terms"][t.name]["seed"]
                if seed != "residual_peak" or not {"center", "hwhm", "height"} <= set(t.component.param_names):
                    raise ValueError(
                        f"term {t.name!r}: 'seed' must be 'residual_peak' on a line with center, hwhm and height; got {seed!r}."
                    )
                if any(t.slots[t.component.param_names.index(k)][0] != "free" for k in ("center", "hwhm", "height")):
                    raise ValueError(f"term {t.name!r}: a seeded line needs a free center, hwhm and height.")
            base_spec = copy.deepcopy(spec)
            base_spec["terms"] = {k: v for k, v in spec["terms"].items() if k != seeded[-1].name}
            self.base = _Decomposer(
                base_spec, shift, energy, xp, weights=weights, saturation=saturation, batch_size=self.batch_size, max_iter=max_iter, tol=tol
            )

    def _identifiable(self, p):
        """Shape parameters of a band whose amplitude is (numerically) zero cannot be determined."""
        xp = self.xp
        keep = xp.ones(p.shape, dtype=bool)
        scale = xp.maximum(xp.max(xp.abs(p), axis=1), 1.0)
        for a_idx, shape_idx in self._shapes_of:
            zero = p[:, a_idx] <= 1e-9 * scale
            for idx in shape_idx:
                keep[:, idx] &= ~zero
        return keep

    def _preflight(self, y):
        """Status flags, cleaned data and per-channel weights of a batch (n, m)."""
        xp = self.xp
        n, m = y.shape
        status = xp.full(n, -1, dtype=xp.int8)
        finite = xp.all(xp.isfinite(y) | (self.base_w[None, :] == 0), axis=1)
        y_clean = xp.where(xp.isfinite(y), y, 0.0)
        w = xp.broadcast_to(self.base_w, (n, m)).copy()
        if self.saturation is not None:
            sat = y_clean >= self.saturation
            w = xp.where(sat, 0.0, w)
            status[xp.any(sat & (self.base_w[None, :] > 0), axis=1)] = SATURATED
        smooth = _boxcar(xp, y_clean, 9)
        flat = finite & flat_spectra(xp, y_clean, smooth)
        if self.weights == "poisson":
            w = w / xp.maximum(smooth, 1.0)
        elif self.weights != "uniform":
            w = w * xp.asarray(self.weights)[None, :]
        return status, finite, flat, y_clean, w

    def start_values(self, y, w):
        """Start values (n, P) and, for models with seeded terms, the first fit without them (else None).

        Amplitudes come from the linear stage; seeded lines sit on the residual peaks of the first fit.
        """
        xp = self.xp
        p0 = xp.broadcast_to(xp.asarray(self.model.init), (y.shape[0], self.model.n_free)).copy()
        amps, _ = nnls(
            self.B, y - self.const[None, :], weights=self.base_w, lower=self.amp_lower, penalty=self.amp_penalty, max_iter=300, tol=1e-8
        )
        p0[:, self.amp_idx] = xp.clip(amps, self.lower[self.amp_idx], self.upper[self.amp_idx])
        if self.base is None:
            return p0, None
        first = self.base.fit_rows(y, w)
        pb = xp.where(xp.isfinite(first.params), first.params, xp.asarray(self.base.model.init)[None, :])
        names = self.model.free_names
        for k, name in enumerate(self.base.model.free_names):
            p0[:, names.index(name)] = pb[:, k]
        residual = _boxcar(xp, (y - self.base.model.value(None, pb)) * (self.base_w > 0)[None, :], 5)
        shift = xp.asarray(self.shift)
        for term in self.seeded:  # place each seeded line on the largest remaining residual peak in its range
            slot = dict(zip(term.component.param_names, term.slots, strict=True))
            c_idx, h_idx, w_idx = slot["center"][1], slot["height"][1], slot["hwhm"][1]
            inside = (shift >= self.model.lower[c_idx]) & (shift <= self.model.upper[c_idx]) & (self.base_w > 0)
            masked = xp.where(inside[None, :], residual, -xp.inf)
            j = xp.argmax(masked, axis=1)
            center = shift[j]
            height = xp.take_along_axis(residual, j[:, None], axis=1)[:, 0]
            p0[:, c_idx] = center
            p0[:, h_idx] = xp.clip(height, self.lower[h_idx], self.upper[h_idx])
            residual = residual - lorentzian(shift[None, :], center[:, None], p0[:, w_idx : w_idx + 1], xp.maximum(height, 0.0)[:, None])
        return p0, first

    def fit_rows(self, y, w):
        """Fit rows that passed the preflight; with a seeded line, keep it only where it pays for itself."""
        p0, first = self.start_values(y, w)
        if first is None:
            return self.solve(y, w, p0)
        upper = self.xp.broadcast_to(self.upper, p0.shape).copy()
        for term in self.earlier_seeded:  # a line an earlier pass rejected (height 0) is not revived here
            h_idx = term.slots[term.component.param_names.index("height")][1]
            upper[:, h_idx] = self.xp.where(p0[:, h_idx] <= 0, 0.0, upper[:, h_idx])
        return self._select(self.solve(y, w, p0, upper), first)

    def _select(self, full, first):
        """Per pixel, keep the fit with the new seeded line only where it pays for itself (BIC), else the base fit.

        A seeded line adds 3 parameters; it is kept when the χ² it removes, in units of the pixel's
        χ²_red, exceeds 3·ln(m) (m: fitted channels). Otherwise a free line fits noise and biases the
        bands it overlaps.
        """
        xp = self.xp
        m_used = float((self.base_w > 0).sum())
        bic = 3.0 * math.log(m_used) * len(self.seeded)
        gain = (first.chi2 - full.chi2) / xp.maximum(full.chi2_red, 1e-12)
        keep = xp.isfinite(gain) & (gain > bic) & (full.status != FitStatus.NONFINITE)
        names = self.model.free_names
        idx = xp.asarray([names.index(n) for n in self.base.model.free_names])
        n, P = full.params.shape
        seeded_free = [i for i in range(P) if names[i] not in self.base.model.free_names]
        p = xp.asarray(self.model.init)[None, :].repeat(n, axis=0)
        p[:, idx] = first.params
        for term in self.seeded:  # not detected: zero height (shape parameters are then reported NaN)
            p[:, term.slots[term.component.param_names.index("height")][1]] = 0.0
        cov = xp.full((n, P, P), xp.nan)
        cov[:, idx[:, None], idx[None, :]] = first.covariance
        stderr = xp.full((n, P), xp.nan)
        stderr[:, idx] = first.stderr
        stderr[:, seeded_free] = xp.nan

        def pick(a, b):
            shape = (n,) + (1,) * (a.ndim - 1)
            return xp.where(keep.reshape(shape), a, b)

        return LMResult(
            params=pick(full.params, p),
            stderr=pick(full.stderr, stderr),
            covariance=pick(full.covariance, cov),
            chi2=pick(full.chi2, first.chi2),
            chi2_red=pick(full.chi2_red, first.chi2_red),
            dof=pick(full.dof, first.dof),
            n_iter=full.n_iter + first.n_iter,
            status=pick(full.status, first.status),
        )

    def solve(self, y, w, p0, upper=None):
        """Batched Levenberg–Marquardt of this model on rows ``y`` with weights ``w`` from ``p0`` (per-row ``upper``)."""
        return levenberg_marquardt(
            self.model.value,
            None,
            y,
            p0,
            jacobian=self.model.value_and_jacobian,
            weights=w,
            bounds=(self.lower, self.upper if upper is None else upper),
            prior=self.prior,
            penalty=self.penalty,
            covariance_mask=self._identifiable,
            normal_equations=self.model.fused_normal_equations,
            max_iter=self.max_iter,
            xtol=self.tol,
            ftol=self.tol,
            gtol=self.tol,
        )

    def fit_batch(self, y):
        xp = self.xp
        status, finite, flat, y_clean, w = self._preflight(y)
        fit_rows = xp.flatnonzero(finite & ~flat)
        out = xp.full((y.shape[0], self.n_out), xp.nan)
        out[:, -2] = 0  # n_iter of pixels that are not fitted
        if fit_rows.size:
            res = self.fit_rows(y_clean[fit_rows], w[fit_rows])
            out[fit_rows] = self._outputs(res)
            engine = res.status
            prior_flag = status[fit_rows]
            status[fit_rows] = xp.where((prior_flag == SATURATED) & (engine == FitStatus.CONVERGED), SATURATED, engine)
        status[~finite] = FitStatus.NONFINITE
        status[flat] = FLAT
        out[:, -1] = status
        return out

    def _outputs(self, res):
        xp = self.xp
        p, cov = res.params, res.covariance
        keep = self._identifiable(p)
        n = p.shape[0]
        cov0 = xp.where(xp.isnan(cov), 0.0, cov)  # NaN marks excluded parameters; they carry no variance
        vals, errs = [], []
        for term in self.model.terms:
            f, j = self.model.term_value_and_jacobian(term, p)
            vals.append(xp.einsum("nm,m->n", f, self.trapz))  # per row, whatever the batch (no BLAS gemv blocking)
            grad = xp.zeros((n, self.model.n_free))
            gterm = xp.einsum("nmk,m->nk", j, self.trapz)
            for k, (kind, idx) in enumerate(term.slots):
                if kind == "free":
                    grad[:, idx] += gterm[:, k]
            var = xp.einsum("ni,nij,nj->n", grad, cov0, grad)
            bad = xp.any(xp.isnan(cov) & (grad[:, :, None] != 0) & (grad[:, None, :] != 0), axis=(1, 2))
            errs.append(xp.where(bad, xp.nan, xp.sqrt(xp.maximum(var, 0.0))))
            tp = self.model.term_params(term, p)
            for k, (kind, idx) in enumerate(term.slots):
                if kind == "free":
                    vals.append(xp.where(keep[:, idx], p[:, idx], xp.nan))
                    errs.append(xp.where(keep[:, idx], res.stderr[:, idx], xp.nan))
                else:
                    vals.append(tp[:, k])
                    errs.append(xp.zeros(n))
            if term.component.name == "espl":
                c, g, b = tp[:, 0], tp[:, 1], tp[:, 2]
                peak = espl_peak(c, g, b)
                # delta method by central differences of the closed form (3 parameters)
                idxs = [term.slots[k] for k in range(3)]
                grad = xp.zeros((n, self.model.n_free))
                for k, (kind, idx) in enumerate(idxs):
                    if kind != "free":
                        continue
                    h = 1e-6 * xp.maximum(xp.abs(tp[:, k]), 1e-6)
                    up, down = [c, g, b], [c, g, b]
                    up = [v + h if i == k else v for i, v in enumerate(up)]
                    down = [v - h if i == k else v for i, v in enumerate(down)]
                    grad[:, idx] = (espl_peak(*up) - espl_peak(*down)) / (2 * h)
                var = xp.einsum("ni,nij,nj->n", grad, cov0, grad)
                ok = keep[:, [i for kind, i in idxs if kind == "free"]].all(axis=1)
                vals.append(xp.where(ok, peak, xp.nan))
                errs.append(xp.where(ok, xp.sqrt(xp.maximum(var, 0.0)), xp.nan))
                kind_b, idx_b = term.slots[2]
                urbach = 1.0 / xp.abs(b)
                vals.append(xp.where(ok, urbach, xp.nan))
                errs.append(xp.where(ok, (res.stderr[:, idx_b] if kind_b == "free" else 0.0) / (b * b), xp.nan))
        cols = []
        for v, e in zip(vals, errs, strict=True):
            cols += [v, e]
        cols += [res.chi2_red, res.n_iter.astype(xp.float64), res.status.astype(xp.float64)]
        return xp.stack(cols, axis=1)

    def __call__(self, block):
        xp = self.xp
        lead = block.shape[:-1]
        flat = xp.asarray(block.reshape(-1, block.shape[-1]), dtype=xp.float64)
        outs = [self.fit_batch(flat[i : i + self.batch_size]) for i in range(0, flat.shape[0], self.batch_size)]  # batches, not pixels
        out = xp.concatenate(outs, axis=0) if outs else xp.zeros((0, self.n_out))
        return to_numpy(out).reshape(*lead, self.n_out)


_GPU_BATCH_MAX = 65536


def default_batch_size(backend: str, m: int, n_free: int, budget_bytes: float | None = None) -> int:
    """Pixels per Levenberg–Marquardt batch: 256 on NumPy; on CuPy what ``budget_bytes`` (default a quarter
    of the free device memory) holds at (parameters + 8) float64 spectra per pixel (Jacobian, residuals,
    weights, copies), between 256 and 65536."""
    if backend != "cupy":
        return 256
    if budget_bytes is None:
        import cupy  # noqa: PLC0415

        budget_bytes = cupy.cuda.runtime.memGetInfo()[0] / 4
    return int(max(256, min(_GPU_BATCH_MAX, budget_bytes // (8.0 * m * (n_free + 8)))))


def decompose(
    data: xr.Dataset,
    preset: str | Mapping | None = "cspbbr3-633",
    *,
    model: Mapping | None = None,
    backend: str | None = "auto",
    weights: str | Any = "poisson",
    saturation: float | None = None,
    batch_size: int | None = None,
    device_memory_mb: float | None = None,
    max_iter: int = 200,
    tol: float = 1e-7,
    **overrides,
) -> xr.Dataset:
    """Decompose every spectrum of a map into its bands; return a results Dataset on the same grid.

    Parameters
    ----------
    data : xarray.Dataset
        A map (``spectra`` on ``(..., "spectral")`` with a Raman-shift axis); any leading dims
        (maps, kinetic maps, series). Lazy (Dask) input gives lazy output, chunk by chunk.
    preset : str or mapping
        A preset name (``hyperspec.bands.presets.preset_names()``) or a preset-like mapping.
    model : mapping, optional
        A custom model spec (``term → {"shape", "init", "bounds", …}``) used instead of the preset.
    backend : {"auto", "numpy", "cupy"}
        Where the numerics run; float64 throughout (the normal equations need it).
    weights : "poisson", "uniform" or array (m,)
        Per-channel weights: Poisson (1/smoothed counts, default), uniform, or given 1/σ².
    saturation : float, optional
        Counts at or above which a channel is saturated (masked; pixel flagged). Default: the
        map's ``attrs["saturation_counts"]`` when present.
    batch_size : int, optional
        Pixels fitted together (bounds memory: the Jacobian is batch × channels × parameters).
        Default: 256 on NumPy (the working set stays in cache); on CuPy as many as ``device_memory_mb``
        holds, at most 65536 (a GPU needs thousands of pixels per launch).
    device_memory_mb : float, optional
        GPU memory (MiB) the fit's batches may take when ``batch_size`` is not given; default a quarter
        of the free device memory. Ignored on NumPy.
    max_iter : int
        Levenberg–Marquardt iterations per pixel. Default 200.
    tol : float
        Convergence: every parameter's Gauss–Newton step below ``tol`` relative, or a predicted χ² decrease
        below ``tol``·χ². Default 1e-7, measured to leave results within 0.03 σ of the exact optimum
        (1e-8: 0.008 σ, ≈20 % slower).
    **overrides
        Edits of the preset: ``lers={"bounds": {"temperature": [250, 600]}}``, ``drop=["cnt_d"]``,
        ``mask=[[-12, 12]]``, or a new term ``{"shape": …}``.

    Notes
    -----
    Lazy results compute fastest with BLAS on one thread per process (the chunks are the parallel
    unit): ``with hyperspec.single_threaded_blas(): res.compute()``.

    Returns
    -------
    xarray.Dataset
        ``<term>_area`` (counts·cm⁻¹), every parameter ``<term>_<param>[_unit]``, ``aspl_peak_ev``,
        ``aspl_urbach_ev`` (for ESPL terms), each with ``<name>_stderr``; ``chi2_red``, ``status``
        (see ``attrs["status_codes"]``) and ``n_iter``. Attrs record the model and the backend.
    """
    validate_map(data)
    shift = shift_axis(data)
    energy = np.asarray(data["energy"].values, dtype=np.float64) if "energy" in data.coords else None
    spec = build_model_spec(preset, model, **overrides)
    be = resolve_backend(backend)
    if weights not in ("poisson", "uniform"):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != shift.shape or np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError(f"`weights` must be 'poisson', 'uniform' or {shift.size} finite values ≥ 0.")
    if saturation is None:
        saturation = data.attrs.get("saturation_counts")
    if device_memory_mb is not None and not (isinstance(device_memory_mb, (int, float)) and device_memory_mb > 0):
        raise ValueError(f"`device_memory_mb` must be a positive number of MiB; got {device_memory_mb!r}.")
    engine = _Decomposer(
        spec, shift, energy, be.xp, weights=weights, saturation=saturation, batch_size=batch_size, max_iter=max_iter, tol=tol,
        device_bytes=None if device_memory_mb is None else float(device_memory_mb) * 2**20,
    )  # fmt: skip
    with single_threaded_blas():  # in-memory input is computed right here; lazy input when the caller computes
        out = map_spectra(engine, data["spectra"], engine.n_out)
    result = xr.Dataset()
    for i, (name, units, meaning) in enumerate(engine.names):
        result[name] = out.isel(quantity=2 * i, drop=True).assign_attrs(units=units, long_name=meaning)
        result[f"{name}_stderr"] = out.isel(quantity=2 * i + 1, drop=True).assign_attrs(units=units, long_name=f"standard error of {name}")
    result["chi2_red"] = out.isel(quantity=-3, drop=True).assign_attrs(long_name="reduced chi-square (weighted)")
    result["n_iter"] = out.isel(quantity=-2, drop=True).astype(np.int32).assign_attrs(long_name="Levenberg-Marquardt iterations")
    result["status"] = (
        out.isel(quantity=-1, drop=True).astype(np.int8).assign_attrs(long_name="fit status", flag_meanings=json.dumps(STATUS_MEANINGS))
    )
    result.attrs = {k: v for k, v in data.attrs.items() if k in ("laser_nm", "source", "history", "instrument", "sample", "store")}
    result.attrs.update(
        {
            "model": json.dumps(spec),
            "preset": preset if isinstance(preset, str) and model is None else "custom",
            "backend": be.name,
            "engine": engine.model.engine,
            "precision": "float64 (model, Jacobian and normal equations)",
            "status_codes": json.dumps(STATUS_MEANINGS),
            "areas": "trapezoid of each fitted component over the data's Raman-shift axis, counts*cm-1",
        }
    )
    add_history(
        result.attrs,
        "decompose",
        preset=result.attrs["preset"],
        backend=be.name,
        weights=weights if isinstance(weights, str) else "array",
        batch_size=engine.batch_size,
        max_iter=max_iter,
    )
    return result


def fitted_components(results: xr.Dataset, data: xr.Dataset, **sel) -> xr.Dataset:
    """The fitted spectrum of every term (and their sum and the residual) at the pixels ``sel``.

    ``results`` is what ``decompose`` returned for ``data``; ``sel`` picks pixels by index
    (e.g. ``y=10, x=20``, or slices). Returns a Dataset with one variable per term, ``model``
    (their sum), ``data`` and ``residual``, on the selected pixels × ``spectral``.
    """
    spec = json.loads(results.attrs["model"])
    sub_res = results.isel(**sel) if sel else results
    sub_data = data.isel(**sel) if sel else data
    shift = shift_axis(data)
    energy = np.asarray(data["energy"].values, dtype=np.float64) if "energy" in data.coords else None
    model = CompositeModel(spec["terms"], shift, energy)
    lead = [d for d in sub_res["status"].dims]
    stacked = sub_res.stack(_pix=lead) if lead else sub_res.expand_dims("_pix")
    p = np.empty((stacked.sizes["_pix"], model.n_free))
    for term in model.terms:
        for param, (kind, idx) in zip(term.component.params, term.slots, strict=True):
            if kind == "free":
                name = f"{term.name}_{param.name}{_UNIT_SUFFIX.get(param.unit, '')}"
                values = np.asarray(stacked[name].values, dtype=np.float64)
                # unidentified shape parameters (NaN) belong to zero-amplitude bands: any value gives 0
                p[:, idx] = np.where(np.isfinite(values), values, model.init[idx])
    comps = model.components(p)
    spectra = sub_data["spectra"]
    y = np.asarray(
        (spectra.stack(_pix=lead) if lead else spectra.expand_dims("_pix")).transpose("_pix", SPECTRAL_DIM).values, dtype=np.float64
    )
    out = xr.Dataset({name: (("_pix", SPECTRAL_DIM), v) for name, v in comps.items()})
    out["model"] = (("_pix", SPECTRAL_DIM), sum(comps.values()))
    out["data"] = (("_pix", SPECTRAL_DIM), y)
    excluded = np.zeros(shift.size, dtype=bool)
    for lo, hi in spec.get("mask", []):
        excluded |= (shift >= lo) & (shift <= hi)
    out["residual"] = (out["data"] - out["model"]).where(~xr.DataArray(excluded, dims=SPECTRAL_DIM))  # NaN where not fitted
    out = out.assign_coords(_pix=stacked["_pix"]) if lead else out
    out = out.unstack("_pix") if lead else out.isel(_pix=0)
    out = out.assign_coords(shift=(SPECTRAL_DIM, shift))
    return out.transpose(*lead, SPECTRAL_DIM)
