"""The engine of ``decompose``: per chunk of pixels, preflight, linear stage, Levenberg–Marquardt, outputs.

``_Decomposer`` holds the model and the per-chunk recipe and maps spectra (..., m) to outputs
(..., n_out), on NumPy or CuPy. Its outputs follow ``hyperspec.fit.results.result_names``: areas,
parameters and the components' derived values, each with its standard error, then ``at_bound``,
``n_at_bound``, ``chi2_red``, ``n_iter`` and ``status`` (codes: ``hyperspec.fit.results.STATUS_TABLE``).
Nothing here names a line shape: what a component needs of the axis and what it derives are read
from the registry.
"""

from __future__ import annotations

import copy
import difflib
import math

import numpy as np

from hyperspec._backend import to_numpy
from hyperspec._quality import boxcar as _boxcar
from hyperspec._quality import dead_spectra, flat_spectra, flat_top_saturation
from hyperspec.axes import trapezoid_weights
from hyperspec.bands.shapes import lorentzian
from hyperspec.fit.composite import CompositeModel
from hyperspec.fit.linear import nnls
from hyperspec.fit.lm import FitStatus, LMResult, bound_hits, first_at_bound, levenberg_marquardt
from hyperspec.fit.results import ABSENT_SNR, AT_BOUND, DEAD, NO_SIGNAL, SATURATED, param_output_name, result_names

__all__ = ["default_batch_size", "bound_parameters"]

#: Relative step of the central differences of derived values (delta method).
_DERIVED_STEP = 1e-6


def _check_support(model: CompositeModel, shift: np.ndarray, mask_w: np.ndarray) -> None:
    """Refuse terms this spectral axis cannot see, before any work, naming them and the fix.

    A windowed term needs fitted channels in its window; a band needs the range of the parameter
    that places it (its component's ``axis_support.position``) on the axis, at ±position for a
    mirrored one; a central peak needs fitted channels near 0 cm⁻¹. Otherwise its parameters are
    undetermined and every pixel would come back singular.
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
        support = term.component.axis_support
        if support.position is not None and term.component.axis == "shift":
            kind, idx = term.slots[names.index(support.position)]
            lo, hi = (model.lower[idx], model.upper[idx]) if kind == "free" else (idx, idx)
            if support.mirrored:
                lo, hi = -hi, hi
            if hi < lo_ax or lo > hi_ax:
                problems.append(f"{term.name} ({support.position} {lo:g}…{hi:g} cm⁻¹)")
        if support.near_zero is not None and not np.any(np.abs(used) < support.near_zero):
            problems.append(f"{term.name} ({support.what}: no fitted channel within ±{support.near_zero:g} cm⁻¹)")
    if problems:
        raise ValueError(
            f"the spectral axis ({lo_ax:.6g} … {hi_ax:.6g} cm⁻¹) does not cover these terms: {'; '.join(problems)}. "
            f"Leave them out with drop={[p.split(' ')[0] for p in problems]!r}, or use a model for this range."
        )


def _ratio_plan(ratios, model, names) -> list:
    """Check a spec's ``ratios`` (``name: [numerator, denominator]``, each ``"<term>.area"`` or ``"<term>.<param>"``)."""
    plan = []
    params = {t.name: t.component.param_names for t in model.terms}
    for name, pair in ratios.items():
        if name in names:
            raise ValueError(f"ratios: {name!r} is already an output of the model; choose another name.")
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ValueError(f'ratios.{name} must be [numerator, denominator] such as ["d.area", "g.area"]; got {pair!r}.')
        ops = []
        for q in pair:
            term, _, what = str(q).partition(".")
            if term not in params or (what != "area" and what not in params[term]):
                valid = [f"{t}.area" for t in params] + [f"{t}.{k}" for t, ks in params.items() for k in ks]
                close = difflib.get_close_matches(str(q), valid, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"ratios.{name}: {q!r} is not a term's area or parameter of this model.{hint}")
            ops.append((term, what))
        plan.append((str(name), ops[0], ops[1]))
    return plan


def bound_parameters(model: CompositeModel) -> tuple[list[int], list[str]]:
    """The free parameters of ``model`` that can end at a bound, and their output variable names.

    Free parameters with a finite bound and room between the bounds, in free-parameter order; a tied
    parameter is named by the output variable of its first term. ``at_bound`` indexes these (1-based).

    Parameters
    ----------
    model : CompositeModel
        The model ``decompose`` fits.

    Returns
    -------
    (list of int, list of str)
        Free-parameter indices and output names (``hyperspec.fit.results.param_output_name``).

    Examples
    --------
    >>> model = CompositeModel({"g": {"shape": "lorentzian", "bounds": {"center": [500, 520]}}}, np.linspace(400.0, 600.0, 11))
    >>> bound_parameters(model)[1]
    ['g_center_cm', 'g_hwhm_cm', 'g_height']
    """
    out_name = {}
    for term in model.terms:
        for param, (kind, idx) in zip(term.component.params, term.slots, strict=True):
            if kind == "free" and idx not in out_name:
                out_name[idx] = param_output_name(term.name, param)
    lo, hi = np.asarray(model.lower), np.asarray(model.upper)
    bounded = [i for i in range(model.n_free) if (np.isfinite(lo[i]) or np.isfinite(hi[i])) and hi[i] > lo[i]]
    return bounded, [out_name[i] for i in bounded]


def ratio_names(spec, model) -> list[tuple[str, str, str]]:
    """(name, units, meaning) of a spec's model-level ratios (``spec["ratios"]``), in output order, after the terms' outputs.

    Parameters
    ----------
    spec : mapping
        The model spec (``hyperspec.fit.model_spec.build_model_spec``); ``ratios`` maps a name to
        ``[numerator, denominator]``, each ``"<term>.area"`` or ``"<term>.<param>"``.
    model : CompositeModel
        The model built from ``spec["terms"]``.

    Returns
    -------
    list of (str, str, str)
        One entry per ratio (dimensionless); each has a ``<name>_stderr`` twin in the result.

    Raises
    ------
    ValueError
        For an operand that is not a term's area or parameter, or a name that is already an output.
    """
    plan = _ratio_plan(spec.get("ratios") or {}, model, {n for n, _, _ in result_names(model)})
    return [(name, "1", f"ratio {num[0]}.{num[1]} / {den[0]}.{den[1]}") for name, num, den in plan]


class _Decomposer:
    """Holds the model and the per-chunk recipe; ``__call__`` maps (..., m) → (..., n_out)."""

    def __init__(
        self, spec, shift, energy, xp, *, weights, saturation, batch_size, max_iter, tol, device_bytes=None, backend=None, offset=None
    ):
        self.xp = xp
        self.backend = backend  # the resolved Backend context (its engine choice), or None: the current settings
        self.tol = float(tol)
        self.spec = spec
        fused = None if backend is None else backend.engine_for(xp) != "xp"
        self.model = CompositeModel(spec["terms"], xp.asarray(shift), None if energy is None else xp.asarray(energy), fused=fused)
        self.shift = np.asarray(shift)
        self.weights = weights
        self.saturation = saturation
        self.offset = offset  # the detector's offset (counts with no light), for the dead-pixel test; None: unknown
        if batch_size is None:
            batch_size = default_batch_size(backend or ("numpy" if xp is np else "cupy"), self.shift.size, self.model.n_free, device_bytes)
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
        self.ratios = _ratio_plan(spec.get("ratios") or {}, self.model, {n for n, _, _ in self.names})
        self.names += ratio_names(spec, self.model)
        self.n_out = 2 * len(self.names) + 5  # + at_bound, n_at_bound, chi2_red, n_iter, status
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
        # parameters that can end at a bound; linear ones at a zero bound are absent bands, not at a bound
        bounded, self.bound_params = bound_parameters(self.model)
        lo_np, hi_np = np.asarray(self.model.lower), np.asarray(self.model.upper)
        self._bounded = xp.asarray(np.array(bounded, dtype=np.int64))
        linear = np.zeros(self.model.n_free, dtype=bool)
        linear[self.amp_idx] = True
        self._zero_ok_lo = xp.asarray(linear[bounded] & (lo_np[bounded] == 0.0))
        self._zero_ok_hi = xp.asarray(linear[bounded] & (hi_np[bounded] == 0.0))
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
                base_spec, shift, energy, xp, weights=weights, saturation=saturation, batch_size=self.batch_size,
                max_iter=max_iter, tol=tol, backend=backend, offset=offset,
            )  # fmt: skip

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
        """Status flags, finite/dead/no-signal rows, cleaned data and per-channel weights of a batch (n, m).

        Dead rows (zero or constant counts, or only the stated offset) are not fitted; flat rows that are
        not dead (counts without structure above the noise, e.g. substrate) are fitted and flagged.
        """
        xp = self.xp
        n, m = y.shape
        status = xp.full(n, -1, dtype=xp.int8)
        finite = xp.all(xp.isfinite(y) | (self.base_w[None, :] == 0), axis=1)
        y_clean = xp.where(xp.isfinite(y), y, 0.0)
        w = xp.broadcast_to(self.base_w, (n, m)).copy()
        # saturated channels: at or above the known full scale, else flat tops at the data's ceiling
        sat = (y_clean >= self.saturation) if self.saturation is not None else flat_top_saturation(xp, y)
        w = xp.where(sat, 0.0, w)
        status[xp.any(sat & (self.base_w[None, :] > 0), axis=1)] = SATURATED
        smooth = _boxcar(xp, y_clean, 9)
        flat = finite & flat_spectra(xp, y_clean, smooth)
        used = self.base_w > 0  # the fitted channels decide: a dead pixel may read anything in the mask
        dead = finite & dead_spectra(xp, y_clean[:, used], offset=self.offset, flat=flat)
        no_signal = flat & ~dead
        if self.weights == "poisson":
            w = w / xp.maximum(smooth, 1.0)
        elif self.weights != "uniform":
            w = w * xp.asarray(self.weights)[None, :]
        return status, finite, dead, no_signal, y_clean, w

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
        """Outputs (n, n_out) of a batch of spectra (n, m): preflight, fit of the fitted rows, status.

        A converged pixel is reported, in this order, ``saturated``, ``no_signal`` or ``at_bound`` when
        that applies; the engine's failures (max_iter, singular, stalled, masked) stand as they are.
        """
        xp = self.xp
        status, finite, dead, no_signal, y_clean, w = self._preflight(y)
        fit_rows = xp.flatnonzero(finite & ~dead)
        out = xp.full((y.shape[0], self.n_out), xp.nan)
        out[:, -5:-3] = 0  # at_bound, n_at_bound of pixels that are not fitted
        out[:, -2] = 0  # n_iter of pixels that are not fitted
        if fit_rows.size:
            every = fit_rows.size == y.shape[0]  # the usual case: no (n, m) copies by fancy indexing
            res = self.fit_rows(y_clean if every else y_clean[fit_rows], w if every else w[fit_rows])
            block = self._outputs(res)
            out[fit_rows] = block
            engine = res.status
            ok = engine == FitStatus.CONVERGED
            flag = xp.where(block[:, -4] > 0, AT_BOUND, FitStatus.CONVERGED)
            flag = xp.where(no_signal[fit_rows], NO_SIGNAL, flag)
            flag = xp.where(status[fit_rows] == SATURATED, SATURATED, flag)
            status[fit_rows] = xp.where(ok, flag, engine).astype(xp.int8)
        status[~finite] = FitStatus.NONFINITE
        status[dead] = DEAD
        out[:, -1] = status
        return out

    def _at_bound(self, p, stderr, keep):
        """Per row: the signed 1-based index into ``bound_params`` of the first parameter at a bound, and the count.

        Absent bands do not count: amplitudes at a zero bound, and the shape parameters of a band whose
        amplitude is zero (``keep`` False) or within ``ABSENT_SNR`` standard errors of zero (a line
        fitted to noise narrows to its lower width bound; that says nothing about the data).
        """
        xp = self.xp
        n = p.shape[0]
        if not self.bound_params:
            return xp.zeros(n), xp.zeros(n)
        keep = keep.copy()
        for a_idx, shape_idx in self._shapes_of:  # one band at a time, not one pixel
            weak = p[:, a_idx] <= ABSENT_SNR * stderr[:, a_idx]  # NaN stderr (undetermined): counted
            for idx in shape_idx:
                keep[:, idx] &= ~weak
        idx = self._bounded
        hits = bound_hits(p[:, idx], self.lower[idx], self.upper[idx])
        include = keep[:, idx] & ~((hits < 0) & self._zero_ok_lo[None, :]) & ~((hits > 0) & self._zero_ok_hi[None, :])
        first, count = first_at_bound(hits, include)
        return first.astype(xp.float64), count.astype(xp.float64)

    def _outputs(self, res):
        """Per row: every output of ``result_names`` and its standard error, then at_bound, n_at_bound, χ²_red, n_iter, status."""
        xp = self.xp
        p, cov = res.params, res.covariance
        keep = self._identifiable(p)
        n = p.shape[0]
        cov0 = xp.where(xp.isnan(cov), 0.0, cov)  # NaN marks excluded parameters; they carry no variance
        vals, errs = [], []
        areas = {}  # term → (area, its gradient over the free parameters), for the model-level ratios
        fused = self.model.fused_term_integrals  # the numba kernel: no (n, m) arrays per term
        if fused is not None:
            fused_areas, fused_grads = fused(p, self.trapz)
        for t, term in enumerate(self.model.terms):
            if fused is not None:
                vals.append(fused_areas[:, t])
                grad = fused_grads[:, t, :]
            else:
                f, cols = self.model.term_columns(term, p, True)  # the Jacobian's columns, not stacked: (n, m) each
                vals.append(xp.einsum("nm,m->n", f, self.trapz))  # per row, whatever the batch (no BLAS gemv blocking)
                grad = xp.zeros((n, self.model.n_free))
                for k, (kind, idx) in enumerate(term.slots):
                    if kind == "free":
                        grad[:, idx] += xp.einsum("nm,m->n", cols[k], self.trapz)
            areas[term.name] = (vals[-1], grad)
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
            for derived in term.component.derived:
                value, err = self._derived(term, derived, tp, keep, cov0)
                vals.append(value)
                errs.append(err)
        for _, num, den in self.ratios:  # ratio r = a/b, ∇r = (∇a − r∇b)/b, var = ∇rᵀ C ∇r (delta method, with the covariance)
            (a, ga), (b, gb) = (self._quantity(q, p, areas) for q in (num, den))
            ok = (b != 0) & xp.isfinite(a) & xp.isfinite(b)
            bs = xp.where(ok, b, 1.0)
            r = a / bs
            g = (ga - r[:, None] * gb) / bs[:, None]
            var = xp.einsum("ni,nij,nj->n", g, cov0, g)
            vals.append(xp.where(ok, r, xp.nan))
            errs.append(xp.where(ok, xp.sqrt(xp.maximum(var, 0.0)), xp.nan))
        cols = []
        for v, e in zip(vals, errs, strict=True):
            cols += [v, e]
        cols += [*self._at_bound(p, res.stderr, keep), res.chi2_red, res.n_iter.astype(xp.float64), res.status.astype(xp.float64)]
        return xp.stack(cols, axis=1)

    def _quantity(self, q, p, areas):
        """A ratio's operand ``(term, "area" | param)``: its value (n,) and gradient (n, n_free); NaN where unidentified."""
        xp = self.xp
        name, what = q
        if what == "area":
            return areas[name]
        term = next(t for t in self.model.terms if t.name == name)
        k = term.component.param_names.index(what)
        kind, idx = term.slots[k]
        grad = xp.zeros((p.shape[0], self.model.n_free))
        if kind != "free":
            return self.model.term_params(term, p)[:, k], grad
        grad[:, idx] = 1.0
        return xp.where(self._identifiable(p)[:, idx], p[:, idx], xp.nan), grad

    def _derived(self, term, derived, tp, keep, cov0):
        """A derived value of ``term`` and its standard error by the delta method (central differences).

        NaN where a free parameter of the term is unidentified (its band's amplitude is zero).
        """
        xp = self.xp
        n = tp.shape[0]
        cols = [tp[:, k] for k in range(tp.shape[1])]
        value = derived.function(*cols)
        grad = xp.zeros((n, self.model.n_free))
        free = [(k, idx) for k, (kind, idx) in enumerate(term.slots) if kind == "free"]
        for k, idx in free:  # one parameter at a time: a loop over parameters, not pixels
            h = _DERIVED_STEP * xp.maximum(xp.abs(cols[k]), 1e-6)
            up = [c + h if i == k else c for i, c in enumerate(cols)]
            down = [c - h if i == k else c for i, c in enumerate(cols)]
            grad[:, idx] += (derived.function(*up) - derived.function(*down)) / (2 * h)
        var = xp.einsum("ni,nij,nj->n", grad, cov0, grad)
        ok = keep[:, [idx for _, idx in free]].all(axis=1)
        return xp.where(ok, value, xp.nan), xp.where(ok, xp.sqrt(xp.maximum(var, 0.0)), xp.nan)

    def __call__(self, block):
        xp = self.xp
        lead = block.shape[:-1]
        flat = xp.asarray(block.reshape(-1, block.shape[-1]), dtype=xp.float64)
        outs = [self.fit_batch(flat[i : i + self.batch_size]) for i in range(0, flat.shape[0], self.batch_size)]  # batches, not pixels
        out = xp.concatenate(outs, axis=0) if outs else xp.zeros((0, self.n_out))
        return to_numpy(out).reshape(*lead, self.n_out)


_GPU_BATCH_MAX = 65536


def default_batch_size(backend, m: int, n_free: int, budget_bytes: float | None = None) -> int:
    """Pixels per Levenberg–Marquardt batch.

    256 on NumPy (the working set stays in cache); on CuPy what ``budget_bytes`` holds at
    (parameters + 8) float64 spectra per pixel (Jacobian, residuals, weights, copies), between 256
    and 65536 (a GPU needs thousands of pixels per launch).

    Parameters
    ----------
    backend : {"numpy", "cupy"} or Backend
        The resolved backend (its name or the ``Backend`` context).
    m : int
        Channels per spectrum.
    n_free : int
        Free parameters of the model.
    budget_bytes : float, optional
        Device memory (bytes) the batches may take; default a quarter of the free device memory.

    Returns
    -------
    int
        Pixels per batch.

    Examples
    --------
    >>> default_batch_size("numpy", 1024, 34)
    256
    >>> default_batch_size("cupy", 1024, 34, budget_bytes=2**30)
    3120
    """
    if getattr(backend, "name", backend) != "cupy":
        return 256
    if budget_bytes is None:
        import cupy  # noqa: PLC0415

        budget_bytes = cupy.cuda.runtime.memGetInfo()[0] / 4
    return int(max(256, min(_GPU_BATCH_MAX, budget_bytes // (8.0 * m * (n_free + 8)))))
