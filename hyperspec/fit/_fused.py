"""Fused CPU evaluation of composite models (numba): value and Jacobian in one pass over the data.

The NumPy path (``CompositeModel`` through ``xp``) evaluates every term as whole-array operations —
some 200 passes over an (n, m) array per evaluation. This kernel walks each pixel's channels once
and keeps every intermediate in registers. It is an optional accelerator: used when numba imports
and every term is a built-in component; the NumPy path is its reference (tests compare the two)
and the fallback. The kernel is serial and releases the GIL: dask chunks are the parallel unit.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["available", "FusedModel"]

_CODES = {"lorentzian": 0, "gaussian": 1, "pseudo_voigt": 2, "espl": 3, "lers": 4, "hers_lognormal": 5, "raman_pair": 6}
_POLY = 7
_FREEFORM = 8
_K = 1.438776877  # hc/k, cm·K
_EXP_MAX = 700.0
_LN2 = math.log(2.0)


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when numba imports (the ``fast`` extra)."""
    try:
        import numba  # noqa: F401, PLC0415
    except Exception:  # a broken numba must not break hyperspec
        return False
    return True


@functools.lru_cache(maxsize=1)
def _kernel():
    import numba  # noqa: PLC0415

    @numba.njit(inline="always")
    def _put(j_out, i, row, j, value, assign):
        if assign[row]:  # the only writer of this row over the whole axis: no need to clear it first
            j_out[i, row, j] = value
        else:
            j_out[i, row, j] += value

    @numba.njit(cache=True, nogil=True, fastmath={"contract", "arcp"})
    def evaluate(
        shift,
        energy,
        p,
        codes,
        on_energy,
        starts,
        counts,
        slots,
        fixed,
        j_lo,
        j_hi,
        scale,
        node_start,
        zero_rows,
        assign,
        want_jac,
        f_out,
        j_out,
    ):
        # j_out has one extra row (index n_free) for the derivatives of fixed parameters. Rows written by one
        # term over the whole axis are overwritten completely, so only ``zero_rows`` (tied parameters,
        # windowed terms, the scratch row) need clearing first.
        n, n_free = p.shape
        n_terms = codes.shape[0]
        width = 1
        for t in range(n_terms):
            width = max(width, counts[t])
        tp = np.empty(width)
        sl = np.empty(width, np.int64)
        for i in range(n):
            f_out[i, :] = 0.0
            if want_jac:
                for r in zero_rows:
                    j_out[i, r, :] = 0.0
            for t in range(n_terms):
                k = counts[t]
                for q in range(k):
                    s = slots[starts[t] + q]
                    tp[q] = p[i, s] if s >= 0 else fixed[starts[t] + q]
                    sl[q] = s if s >= 0 else n_free
                code = codes[t]
                xs = energy if on_energy[t] else shift
                if code == 0 or code == 6:  # Lorentzian; 6: with its anti-Stokes partner
                    c, g, h = tp[0], tp[1], tp[2]
                    g2 = g * g
                    r = 0.0
                    temp = 1.0
                    if code == 6:
                        temp = tp[3]
                        r = math.exp(-_K * c / temp)
                    for j in range(j_lo[t], j_hi[t]):
                        x = xs[j]
                        dd = x - c
                        den = dd * dd + g2
                        sv = g2 / den
                        v = h * sv
                        fd = 2.0 * v * dd / den
                        d0, d1, d2 = fd, fd * dd / g, sv
                        if code == 6:
                            e2 = x + c
                            den2 = e2 * e2 + g2
                            s2 = g2 / den2
                            v2 = h * r * s2
                            fd2 = 2.0 * v2 * e2 / den2
                            v += v2
                            d0 += -fd2 - s2 * h * r * _K / temp
                            d1 += fd2 * e2 / g
                            d2 += s2 * r
                            if want_jac:
                                _put(j_out, i, sl[3], j, s2 * h * r * _K * c / (temp * temp), assign)
                        f_out[i, j] += v
                        if want_jac:
                            _put(j_out, i, sl[0], j, d0, assign)
                            _put(j_out, i, sl[1], j, d1, assign)
                            _put(j_out, i, sl[2], j, d2, assign)
                elif code == 1 or code == 2:  # Gaussian / pseudo-Voigt
                    c, g = tp[0], tp[1]
                    eta = tp[2] if code == 2 else 1.0
                    h = tp[2] if code == 1 else tp[3]
                    g2 = g * g
                    for j in range(j_lo[t], j_hi[t]):
                        dd = xs[j] - c
                        e = math.exp(-_LN2 * dd * dd / g2)
                        fg = h * e
                        fdg = 2.0 * _LN2 * fg * dd / g2
                        if code == 1:
                            f_out[i, j] += fg
                            if want_jac:
                                _put(j_out, i, sl[0], j, fdg, assign)
                                _put(j_out, i, sl[1], j, fdg * dd / g, assign)
                                _put(j_out, i, sl[2], j, e, assign)
                        else:
                            den = dd * dd + g2
                            slr = g2 / den
                            fl = h * slr
                            fdl = 2.0 * fl * dd / den
                            f_out[i, j] += eta * fl + (1.0 - eta) * fg
                            if want_jac:
                                _put(j_out, i, sl[0], j, eta * fdl + (1.0 - eta) * fdg, assign)
                                _put(j_out, i, sl[1], j, (eta * fdl + (1.0 - eta) * fdg) * dd / g, assign)
                                _put(j_out, i, sl[2], j, fl - fg, assign)
                                _put(j_out, i, sl[3], j, eta * slr + (1.0 - eta) * e, assign)
                elif code == 3:  # ESPL
                    c, g, beta, h = tp[0], tp[1], tp[2], tp[3]
                    g2 = g * g
                    for j in range(j_lo[t], j_hi[t]):
                        dd = xs[j] - c
                        den = dd * dd + g2
                        sv = g2 / den
                        arg = beta * dd
                        free = abs(arg) < _EXP_MAX
                        ex = math.exp(min(max(arg, -_EXP_MAX), _EXP_MAX))
                        v = h * sv * ex
                        f_out[i, j] += v
                        if want_jac:
                            _put(j_out, i, sl[0], j, v * (2.0 * dd / den - (beta if free else 0.0)), assign)
                            _put(j_out, i, sl[1], j, 2.0 * v * dd * dd / (g * den), assign)
                            _put(j_out, i, sl[2], j, v * dd if free else 0.0, assign)
                            _put(j_out, i, sl[3], j, sv * ex, assign)
                elif code == 4:  # l-ERS
                    w, temp, h = tp[0], tp[1], tp[2]
                    w2 = w * w
                    for j in range(j_lo[t], j_hi[t]):
                        x = xs[j]
                        q_ = _K * x / temp
                        small = abs(q_) < 1e-6
                        qc = min(max(q_, -_EXP_MAX), _EXP_MAX)
                        ratio = 1.0 + q_ / 2.0 + q_ * q_ / 12.0 if small else qc / (-math.expm1(-qc))
                        a = (temp / _K) * ratio
                        den = x * x + w2
                        lor = w / den
                        f_out[i, j] += h * a * lor
                        if want_jac:
                            half = qc / 2.0
                            sh = 1.0 if small else half / math.sinh(half)
                            _put(j_out, i, sl[0], j, h * a * (x * x - w2) / (den * den), assign)
                            _put(j_out, i, sl[1], j, h * lor * sh * sh / _K, assign)
                            _put(j_out, i, sl[2], j, a * lor, assign)
                elif code == 5:  # h-ERS log-normal (zero for shifts ≤ 0)
                    c, sw, h = tp[0], tp[1], tp[2]
                    s2w = 2.0 * sw * sw
                    for j in range(j_lo[t], j_hi[t]):
                        x = xs[j]
                        if x <= 0.0:  # zero there, but the Jacobian rows must still be written
                            if want_jac:
                                _put(j_out, i, sl[0], j, 0.0, assign)
                                _put(j_out, i, sl[1], j, 0.0, assign)
                                _put(j_out, i, sl[2], j, 0.0, assign)
                            continue
                        ln = math.log(x / c)
                        e = math.exp(-(ln * ln) / s2w)
                        v = h * e
                        f_out[i, j] += v
                        if want_jac:
                            fl = v * ln / (sw * sw)
                            _put(j_out, i, sl[0], j, fl / c, assign)
                            _put(j_out, i, sl[1], j, fl * ln / sw, assign)
                            _put(j_out, i, sl[2], j, e, assign)
                elif code == 8:  # free-form continuum: linear interpolation between nodes (start, step)
                    start, step = node_start[t], scale[t]
                    for j in range(j_lo[t], j_hi[t]):
                        u = (xs[j] - start) / step
                        kk = min(max(int(math.floor(u)), 0), k - 2)
                        frac = u - kk
                        f_out[i, j] += tp[kk] * (1.0 - frac) + tp[kk + 1] * frac
                        if want_jac:
                            for q in range(k):  # every node row is written (assign mode needs full rows)
                                _put(j_out, i, sl[q], j, 0.0, assign)
                            _put(j_out, i, sl[kk], j, 1.0 - frac, assign)
                            _put(j_out, i, sl[kk + 1], j, frac, assign)
                else:  # polynomial in x/scale
                    for j in range(j_lo[t], j_hi[t]):
                        u = xs[j] / scale[t]
                        pw = 1.0
                        v = 0.0
                        for q in range(k):
                            v += tp[q] * pw
                            if want_jac:
                                _put(j_out, i, sl[q], j, pw, assign)
                            pw *= u
                        f_out[i, j] += v

    return evaluate


class FusedModel:
    """The fused evaluation of a ``CompositeModel`` whose terms are all built-in components."""

    def __init__(self, model):
        codes, on_energy, starts, counts, slots, fixed, lo, hi, scale, node_start = [], [], [], [], [], [], [], [], [], []
        shift = np.asarray(model.shift, dtype=np.float64)
        for term in model.terms:
            name = term.component.name
            if name in _CODES:
                code = _CODES[name]
                poly_scale = 1.0
            elif term.component.scale is not None and term.component.amplitude is None:
                code = _POLY
                poly_scale = float(term.component.scale)
            elif term.component.nodes is not None:
                code = _FREEFORM
                poly_scale = term.component.nodes[1] - term.component.nodes[0]  # node spacing
            else:
                raise NotImplementedError(f"component {name!r} has no fused kernel")
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
        m = np.asarray(model.shift).size
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
        self.shift = np.ascontiguousarray(np.asarray(model.shift, dtype=np.float64))
        self.energy = np.ascontiguousarray(np.asarray(model.energy if model.energy is not None else model.shift, dtype=np.float64))
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
