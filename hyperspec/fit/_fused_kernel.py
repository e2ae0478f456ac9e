"""The numba kernel behind ``hyperspec.fit._fused`` (imported only when numba is installed).

Module-level functions, so that numba's on-disk cache holds across processes (a closure recompiles
in every new process, ≈2.5 s).

The shape codes (``KERNEL_<NAME>``) and constants are module globals read from the component
registry (``hyperspec.bands.components.kernel_codes``) and ``hyperspec.bands.constants``; numba
compiles them in as constants. A code without a body here evaluates to NaN, never to a silent zero.
"""

import math

import numba
import numpy as np

from hyperspec.bands.components import kernel_codes
from hyperspec.bands.constants import EXP_MAX as _EXP_MAX
from hyperspec.bands.constants import HC_OVER_K_CM_K as _K
from hyperspec.bands.constants import LN2 as _LN2

_CODES = kernel_codes()
KERNEL_LORENTZIAN = _CODES["lorentzian"]
KERNEL_GAUSSIAN = _CODES["gaussian"]
KERNEL_PSEUDO_VOIGT = _CODES["pseudo_voigt"]
KERNEL_ESPL = _CODES["espl"]
KERNEL_LERS = _CODES["lers"]
KERNEL_HERS_LOGNORMAL = _CODES["hers_lognormal"]
KERNEL_RAMAN_PAIR = _CODES["raman_pair"]
KERNEL_POLYNOMIAL = _CODES["polynomial"]
KERNEL_FREEFORM = _CODES["freeform"]


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
            if code == KERNEL_LORENTZIAN or code == KERNEL_RAMAN_PAIR:  # with its anti-Stokes partner
                c, g, h = tp[0], tp[1], tp[2]
                g2 = g * g
                r = 0.0
                temp = 1.0
                if code == KERNEL_RAMAN_PAIR:
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
                    if code == KERNEL_RAMAN_PAIR:
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
            elif code == KERNEL_GAUSSIAN or code == KERNEL_PSEUDO_VOIGT:
                c, g = tp[0], tp[1]
                eta = tp[2] if code == KERNEL_PSEUDO_VOIGT else 1.0
                h = tp[2] if code == KERNEL_GAUSSIAN else tp[3]
                g2 = g * g
                for j in range(j_lo[t], j_hi[t]):
                    dd = xs[j] - c
                    e = math.exp(-_LN2 * dd * dd / g2)
                    fg = h * e
                    fdg = 2.0 * _LN2 * fg * dd / g2
                    if code == KERNEL_GAUSSIAN:
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
            elif code == KERNEL_ESPL:
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
            elif code == KERNEL_LERS:
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
            elif code == KERNEL_HERS_LOGNORMAL:  # zero for shifts ≤ 0
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
            elif code == KERNEL_FREEFORM:  # linear interpolation between nodes (start, step)
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
            elif code == KERNEL_POLYNOMIAL:  # in x/scale
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
            else:  # a code without a body here: NaN, never a silent zero
                for j in range(j_lo[t], j_hi[t]):
                    f_out[i, j] = math.nan


@numba.njit(cache=True, nogil=True, fastmath={"contract", "arcp", "reassoc"})
def normal_equations(
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
    y,
    sw,
    a_out,
    g_out,
    c_out,
):
    # Per pixel: the value and Jacobian rows into a scratch that stays in cache, weighted in place, then the
    # symmetric half of JᵀWJ, JᵀW r and Σ W r² — J never goes to memory as an (n, P, m) array and no GEMM
    # runs over its full square. Channels with sw ≤ 0 count as zero (as in the reference). Pixels are
    # independent: a pixel's sums never depend on the other rows of the batch.
    n, n_free = p.shape
    m = shift.shape[0]
    f = np.empty((1, m))
    jac = np.empty((1, n_free + 1, m))
    r = np.empty(m)
    ws = np.empty(m)
    for i in range(n):
        evaluate(shift, energy, p[i : i + 1], codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale, node_start,
                 zero_rows, assign, True, f, jac)  # fmt: skip
        c = 0.0
        for j in range(m):
            s = sw[i, j]
            if s > 0.0:
                rj = s * (y[i, j] - f[0, j])
                ws[j] = s
            else:
                rj = 0.0
                ws[j] = 0.0
            r[j] = rj
            c += rj * rj
        c_out[i] = c
        for a in range(n_free):
            for j in range(m):
                jac[0, a, j] = jac[0, a, j] * ws[j] if ws[j] > 0.0 else 0.0
        for a in range(n_free):
            ga = 0.0
            for j in range(m):
                ga += jac[0, a, j] * r[j]
            g_out[i, a] = ga
            b = a
            while b + 1 < n_free:  # two columns at a time: each load of row a serves two sums
                s0 = 0.0
                s1 = 0.0
                for j in range(m):
                    ja = jac[0, a, j]
                    s0 += ja * jac[0, b, j]
                    s1 += ja * jac[0, b + 1, j]
                a_out[i, a, b] = s0
                a_out[i, b, a] = s0
                a_out[i, a, b + 1] = s1
                a_out[i, b + 1, a] = s1
                b += 2
            if b < n_free:
                s0 = 0.0
                for j in range(m):
                    s0 += jac[0, a, j] * jac[0, b, j]
                a_out[i, a, b] = s0
                a_out[i, b, a] = s0
