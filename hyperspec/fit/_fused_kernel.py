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

from hyperspec._vector_math import exp_expm1 as _exp_expm1
from hyperspec._vector_math import log as _log
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


@numba.njit(cache=True, nogil=True, fastmath={"contract", "arcp"}, error_model="numpy")
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
    # term over the whole axis (``assign``) are overwritten completely, so only ``zero_rows`` (tied parameters,
    # windowed terms, the scratch row) need clearing first. Each term's channel loop writes whole rows through
    # 1-D views with no branch inside (one division per channel, the rest multiplications), so LLVM vectorises
    # it; a term whose rows are not all its own clears its own assigned rows and accumulates.
    n, n_free = p.shape
    m = shift.shape[0]
    n_terms = codes.shape[0]
    width = 1
    for t in range(n_terms):
        width = max(width, counts[t])
    tp = np.empty(width)
    sl = np.empty(width, np.int64)
    ubuf = np.empty(m)
    pbuf = np.empty(m)
    abuf = np.empty(m)  # exponents, then e^x and expm1(x) (``_exp_expm1``) for the ESPL, l-ERS and h-ERS bodies
    ebuf = np.empty(m)
    m1buf = np.empty(m)
    bits = np.empty(m, np.int64)
    bits2 = np.empty(m, np.int64)
    for i in range(n):
        fo = f_out[i]
        fo[:] = 0.0
        if want_jac:
            for r in zero_rows:
                j_out[i, r, :] = 0.0
        for t in range(n_terms):
            k = counts[t]
            own = True  # every row of this term is assigned (written by it alone, whole axis)
            for q in range(k):
                s = slots[starts[t] + q]
                tp[q] = p[i, s] if s >= 0 else fixed[starts[t] + q]
                sl[q] = s if s >= 0 else n_free
                own = own and assign[sl[q]]
            code = codes[t]
            # The Lorentzian and polynomial bodies assign all their rows when they own them all; the Raman pair and
            # the l-ERS assign their own rows but the (usually tied) temperature's, the h-ERS all three. Every other
            # row a body writes is accumulated, so an assigned row it does not assign starts from zero.
            own = own and (code == KERNEL_LORENTZIAN or code == KERNEL_POLYNOMIAL or code == KERNEL_HERS_LOGNORMAL)
            if code == KERNEL_RAMAN_PAIR:  # rows 0-2 (centre, hwhm, height); row 3 is the temperature
                own = assign[sl[0]] and assign[sl[1]] and assign[sl[2]]
            elif code == KERNEL_LERS:  # rows 0 and 2 (width, height); row 1 is the temperature
                own = assign[sl[0]] and assign[sl[2]]
            if want_jac:
                for q in range(k):
                    temp_row = (code == KERNEL_RAMAN_PAIR and q == 3) or (code == KERNEL_LERS and q == 1)
                    if assign[sl[q]] and (not own or temp_row):
                        j_out[i, sl[q], :] = 0.0
            xs = energy if on_energy[t] else shift
            lo_, hi_ = j_lo[t], j_hi[t]
            if code == KERNEL_LORENTZIAN:
                c, g, h = tp[0], tp[1], tp[2]
                g2 = g * g
                ig = 1.0 / g
                xv, fv = xs[lo_:hi_], fo[lo_:hi_]  # 0-based views: no index wrap-around check, so the loops vectorise
                if not want_jac:
                    for j in range(xv.shape[0]):
                        dd = xv[j] - c
                        fv[j] += h * g2 / (dd * dd + g2)
                else:
                    r0, r1, r2 = j_out[i, sl[0], lo_:hi_], j_out[i, sl[1], lo_:hi_], j_out[i, sl[2], lo_:hi_]
                    if own:
                        for j in range(xv.shape[0]):
                            dd = xv[j] - c
                            inv = 1.0 / (dd * dd + g2)
                            sv = g2 * inv
                            v = h * sv
                            fd = 2.0 * v * dd * inv
                            fv[j] += v
                            r0[j] = fd
                            r1[j] = fd * dd * ig
                            r2[j] = sv
                    else:
                        for j in range(xv.shape[0]):
                            dd = xv[j] - c
                            inv = 1.0 / (dd * dd + g2)
                            sv = g2 * inv
                            v = h * sv
                            fd = 2.0 * v * dd * inv
                            fv[j] += v
                            r0[j] += fd
                            r1[j] += fd * dd * ig
                            r2[j] += sv
            elif code == KERNEL_RAMAN_PAIR:  # a Lorentzian with its anti-Stokes partner
                c, g, h, temp = tp[0], tp[1], tp[2], tp[3]
                g2 = g * g
                ig = 1.0 / g
                rr = math.exp(-_K * c / temp)
                hr = h * rr
                k_t = _K / temp
                xv, fv = xs[lo_:hi_], fo[lo_:hi_]  # 0-based views, as the Lorentzian's: the loops vectorise
                if not want_jac:
                    for j in range(xv.shape[0]):
                        x = xv[j]
                        dd = x - c
                        e2 = x + c
                        fv[j] += h * g2 / (dd * dd + g2) + hr * g2 / (e2 * e2 + g2)
                else:
                    r0, r1 = j_out[i, sl[0], lo_:hi_], j_out[i, sl[1], lo_:hi_]
                    r2, r3 = j_out[i, sl[2], lo_:hi_], j_out[i, sl[3], lo_:hi_]
                    kc_t = k_t * c / temp
                    if own:  # rows 0-2 assigned (no clearing pass, no read), the temperature's accumulated
                        for j in range(xv.shape[0]):
                            x = xv[j]
                            dd = x - c
                            inv = 1.0 / (dd * dd + g2)
                            sv = g2 * inv
                            v = h * sv
                            fd = 2.0 * v * dd * inv
                            e2 = x + c
                            inv2 = 1.0 / (e2 * e2 + g2)
                            s2 = g2 * inv2
                            v2 = hr * s2
                            fd2 = 2.0 * v2 * e2 * inv2
                            fv[j] += v + v2
                            r0[j] = fd - fd2 - v2 * k_t
                            r1[j] = (fd * dd + fd2 * e2) * ig
                            r2[j] = sv + s2 * rr
                            r3[j] += v2 * kc_t
                    else:
                        for j in range(xv.shape[0]):
                            x = xv[j]
                            dd = x - c
                            inv = 1.0 / (dd * dd + g2)
                            sv = g2 * inv
                            v = h * sv
                            fd = 2.0 * v * dd * inv
                            e2 = x + c
                            inv2 = 1.0 / (e2 * e2 + g2)
                            s2 = g2 * inv2
                            v2 = hr * s2
                            fd2 = 2.0 * v2 * e2 * inv2
                            fv[j] += v + v2
                            r0[j] += fd - fd2 - v2 * k_t
                            r1[j] += (fd * dd + fd2 * e2) * ig
                            r2[j] += sv + s2 * rr
                            r3[j] += v2 * kc_t
            elif code == KERNEL_GAUSSIAN or code == KERNEL_PSEUDO_VOIGT:
                c, g = tp[0], tp[1]
                eta = tp[2] if code == KERNEL_PSEUDO_VOIGT else 1.0
                h = tp[2] if code == KERNEL_GAUSSIAN else tp[3]
                g2 = g * g
                for j in range(lo_, hi_):
                    dd = xs[j] - c
                    e = math.exp(-_LN2 * dd * dd / g2)
                    fg = h * e
                    fdg = 2.0 * _LN2 * fg * dd / g2
                    if code == KERNEL_GAUSSIAN:
                        fo[j] += fg
                        if want_jac:
                            j_out[i, sl[0], j] += fdg
                            j_out[i, sl[1], j] += fdg * dd / g
                            j_out[i, sl[2], j] += e
                    else:
                        den = dd * dd + g2
                        slr = g2 / den
                        fl = h * slr
                        fdl = 2.0 * fl * dd / den
                        fo[j] += eta * fl + (1.0 - eta) * fg
                        if want_jac:
                            j_out[i, sl[0], j] += eta * fdl + (1.0 - eta) * fdg
                            j_out[i, sl[1], j] += (eta * fdl + (1.0 - eta) * fdg) * dd / g
                            j_out[i, sl[2], j] += fl - fg
                            j_out[i, sl[3], j] += eta * slr + (1.0 - eta) * e
            elif code == KERNEL_ESPL:
                c, g, beta, h = tp[0], tp[1], tp[2], tp[3]
                g2 = g * g
                nn = hi_ - lo_
                xv, fv, av, ev = xs[lo_:hi_], fo[lo_:hi_], abuf[:nn], ebuf[:nn]
                for j in range(nn):
                    av[j] = min(max(beta * (xv[j] - c), -_EXP_MAX), _EXP_MAX)
                _exp_expm1(av, ev, m1buf[:nn], bits[:nn])
                if not want_jac:
                    for j in range(nn):
                        dd = xv[j] - c
                        fv[j] += h * g2 / (dd * dd + g2) * ev[j]
                else:
                    r0, r1 = j_out[i, sl[0], lo_:hi_], j_out[i, sl[1], lo_:hi_]
                    r2, r3 = j_out[i, sl[2], lo_:hi_], j_out[i, sl[3], lo_:hi_]
                    for j in range(nn):
                        dd = xv[j] - c
                        inv = 1.0 / (dd * dd + g2)
                        sv = g2 * inv
                        arg = beta * dd
                        free = abs(arg) < _EXP_MAX  # where exp is clipped it is constant in β and x₀
                        ex = ev[j]
                        v = h * sv * ex
                        fv[j] += v
                        r0[j] += v * (2.0 * dd * inv - (beta if free else 0.0))
                        r1[j] += 2.0 * v * dd * dd * inv / g
                        r2[j] += v * dd if free else 0.0
                        r3[j] += sv * ex
            elif code == KERNEL_LERS:
                w, temp, h = tp[0], tp[1], tp[2]
                w2 = w * w
                k_t = _K / temp
                t_k = temp / _K
                nn = hi_ - lo_
                xv, fv, av, ev, uv = xs[lo_:hi_], fo[lo_:hi_], abuf[:nn], ebuf[:nn], m1buf[:nn]
                for j in range(nn):
                    av[j] = -min(max(k_t * xv[j], -_EXP_MAX), _EXP_MAX)  # −q, clipped
                _exp_expm1(av, ev, uv, bits[:nn])  # e^(−q) and expm1(−q) from one range reduction
                r0, r1, r2 = j_out[i, sl[0], lo_:hi_], j_out[i, sl[1], lo_:hi_], j_out[i, sl[2], lo_:hi_]
                lw, lh = ubuf[:nn], pbuf[:nn]
                if not want_jac:
                    for j in range(nn):
                        x = xv[j]
                        q_ = k_t * x
                        small = abs(q_) < 1e-6
                        ratio = 1.0 + q_ * (0.5 + q_ / 12.0) if small else av[j] / uv[j]  # q/(1 − e^(−q))
                        fv[j] += h * t_k * ratio * w / (x * x + w2)
                else:
                    for j in range(nn):  # two divisions per channel; the width and height rows assigned when own
                        x = xv[j]
                        q_ = k_t * x
                        qc = -av[j]
                        iu = 1.0 / uv[j]
                        small = abs(q_) < 1e-6
                        ratio = 1.0 + q_ * (0.5 + q_ / 12.0) if small else -qc * iu  # q/(1 − e^(−q))
                        a = t_k * ratio
                        inv = 1.0 / (x * x + w2)
                        lor = w * inv
                        fv[j] += h * a * lor
                        sh2 = 1.0 if small else qc * qc * ev[j] * iu * iu  # ((q/2)/sinh(q/2))² = q²e^(−q)/(e^(−q) − 1)²
                        r1[j] += h * lor * sh2 * (1.0 / _K)
                        lw[j] = h * a * (x * x - w2) * inv * inv
                        lh[j] = a * lor
                    if own:
                        for j in range(nn):
                            r0[j] = lw[j]
                            r2[j] = lh[j]
                    else:
                        for j in range(nn):
                            r0[j] += lw[j]
                            r2[j] += lh[j]
            elif code == KERNEL_HERS_LOGNORMAL:  # zero for shifts ≤ 0
                c, sw, h = tp[0], tp[1], tp[2]
                s2w = 2.0 * sw * sw
                isw2 = 1.0 / (sw * sw)
                nn = hi_ - lo_
                xv, fv, av, ev, lv = xs[lo_:hi_], fo[lo_:hi_], abuf[:nn], ebuf[:nn], ubuf[:nn]
                ic, i_s2w, isw = 1.0 / c, 1.0 / s2w, 1.0 / sw
                for j in range(nn):
                    x = xv[j]
                    av[j] = x * ic if x > 0.0 else 1.0
                _log(av, lv, bits[:nn], bits2[:nn])
                for j in range(nn):
                    ln = lv[j]
                    av[j] = -(ln * ln) * i_s2w
                _exp_expm1(av, ev, m1buf[:nn], bits[:nn])
                r0, r1, r2 = j_out[i, sl[0], lo_:hi_], j_out[i, sl[1], lo_:hi_], j_out[i, sl[2], lo_:hi_]
                if want_jac and own:  # the three rows assigned (two loops: a branch inside one is not unswitched; measured)
                    for j in range(nn):  # no division
                        e = ev[j] if xv[j] > 0.0 else 0.0
                        ln = lv[j]
                        v = h * e
                        fv[j] += v
                        fl = v * ln * isw2
                        r0[j] = fl * ic
                        r1[j] = fl * ln * isw
                        r2[j] = e
                else:
                    for j in range(nn):
                        e = ev[j] if xv[j] > 0.0 else 0.0
                        ln = lv[j]
                        v = h * e
                        fv[j] += v
                        if want_jac:
                            fl = v * ln * isw2
                            r0[j] += fl * ic
                            r1[j] += fl * ln * isw
                            r2[j] += e
            elif code == KERNEL_FREEFORM:  # linear interpolation between nodes (start, step)
                start, step = node_start[t], scale[t]
                for j in range(lo_, hi_):
                    u = (xs[j] - start) / step
                    kk = min(max(int(math.floor(u)), 0), k - 2)
                    frac = u - kk
                    fo[j] += tp[kk] * (1.0 - frac) + tp[kk + 1] * frac
                    if want_jac:
                        j_out[i, sl[kk], j] += 1.0 - frac
                        j_out[i, sl[kk + 1], j] += frac
            elif code == KERNEL_POLYNOMIAL:  # in x/scale: one power row at a time
                inv_s = 1.0 / scale[t]
                xv, fv, uv, pv = xs[lo_:hi_], fo[lo_:hi_], ubuf[lo_:hi_], pbuf[lo_:hi_]
                for j in range(xv.shape[0]):
                    uv[j] = xv[j] * inv_s
                    pv[j] = 1.0
                for q in range(k):
                    cq = tp[q]
                    if want_jac:
                        rq = j_out[i, sl[q], lo_:hi_]
                        if own:
                            for j in range(xv.shape[0]):
                                pw = pv[j]
                                fv[j] += cq * pw
                                rq[j] = pw
                                pv[j] = pw * uv[j]
                        else:
                            for j in range(xv.shape[0]):
                                pw = pv[j]
                                fv[j] += cq * pw
                                rq[j] += pw
                                pv[j] = pw * uv[j]
                    else:
                        for j in range(xv.shape[0]):
                            pw = pv[j]
                            fv[j] += cq * pw
                            pv[j] = pw * uv[j]
            else:  # a code without a body here: NaN, never a silent zero
                for j in range(lo_, hi_):
                    fo[j] = math.nan


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
    # Per pixel (``_pixel_normal``): the value and Jacobian rows into a scratch that stays in cache, weighted in
    # place, then the symmetric half of JᵀWJ, JᵀW r and Σ W r² — J never goes to memory as an (n, P, m) array and
    # no GEMM runs over its full square. Channels with sw ≤ 0 count as zero (as in the reference). Pixels are
    # independent: a pixel's sums never depend on the other rows of the batch.
    n, n_free = p.shape
    m = shift.shape[0]
    f = np.empty((1, m))
    jac = np.empty((1, n_free + 1, m))
    row_lo, row_hi = _row_windows(n_free, m, codes, starts, counts, slots, j_lo, j_hi)
    ws = np.empty(m)
    for i in range(n):
        c_out[i] = _pixel_normal(shift, energy, p[i : i + 1], codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale,
                                 node_start, zero_rows, assign, row_lo, row_hi, y[i], sw[i], f, jac, ws, a_out[i], g_out[i])  # fmt: skip


@numba.njit(cache=True, nogil=True, fastmath={"contract", "arcp", "reassoc"}, error_model="numpy")
def _gram(rows, n_free, a_out, g_out, row_lo, row_hi):
    """``rows @ rows.T`` for ``rows`` (P + 1, m) = [J; r], its upper triangle only: JᵀJ into ``a_out`` (both
    halves) and Jᵀr into ``g_out``; row k is zero outside channels [row_lo[k], row_hi[k]).

    Register tiles of 4 × 2 rows: each channel loads 6 values for 8 fused multiply-adds (a row-pair loop loads 3
    for 2); 8 accumulators of 4 lanes fit AVX2's 16 registers. A tile sums only where both of its row groups can
    be nonzero (a windowed band's rows, e.g. the aS-PL's 268 of 1024 channels, cost their window). The tiles'
    sums go to a local buffer and are scattered at the end: storing into ``a_out`` inside the tile loop costs ≈ 25 %
    more (measured: 53 against 42 µs at P = 34, m = 1024), and channel blocking for L1 did not pay either. Rows past
    the end are clamped to the last one (recomputed, never stored).
    """
    nr = n_free + 1
    last = nr - 1
    n_ab, n_bb = (nr + 3) // 4, (nr + 1) // 2
    acc = np.zeros((n_ab, n_bb, 8))
    for a0 in range(0, nr, 4):
        ia1, ia2, ia3 = min(a0 + 1, last), min(a0 + 2, last), min(a0 + 3, last)
        a_lo = min(min(row_lo[a0], row_lo[ia1]), min(row_lo[ia2], row_lo[ia3]))
        a_hi = max(max(row_hi[a0], row_hi[ia1]), max(row_hi[ia2], row_hi[ia3]))
        x0, x1, x2, x3 = rows[a0], rows[ia1], rows[ia2], rows[ia3]
        for b0 in range(a0, nr, 2):
            ib1 = min(b0 + 1, last)
            lo_ = max(a_lo, min(row_lo[b0], row_lo[ib1]))  # ≥ 0
            hi_ = min(a_hi, max(row_hi[b0], row_hi[ib1]))
            if lo_ >= hi_:
                continue
            y0, y1 = rows[b0], rows[ib1]
            s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = 0.0
            for j in range(np.uint64(lo_), np.uint64(hi_)):  # unsigned: no wrap-around check, so it vectorises
                u0, u1, u2, u3, v0, v1 = x0[j], x1[j], x2[j], x3[j], y0[j], y1[j]
                s00 += u0 * v0
                s01 += u0 * v1
                s10 += u1 * v0
                s11 += u1 * v1
                s20 += u2 * v0
                s21 += u2 * v1
                s30 += u3 * v0
                s31 += u3 * v1
            t = acc[a0 // 4, b0 // 2]
            t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7] = s00, s01, s10, s11, s20, s21, s30, s31
    for ab in range(n_ab):
        for bb in range(2 * ab, n_bb):
            t = acc[ab, bb]
            for k in range(8):
                a, b = 4 * ab + k // 2, 2 * bb + k % 2
                if a > b or b > n_free:
                    continue
                if b < n_free:
                    a_out[a, b] = t[k]
                    a_out[b, a] = t[k]
                elif a < n_free:
                    g_out[a] = t[k]


# ---- the compiled Levenberg–Marquardt (one pixel at a time, every step of ``lm.levenberg_marquardt``) ----------
# Status codes of ``hyperspec.fit.lm.FitStatus`` (numba compiles them in as constants).
_CONVERGED = 0
_MAX_ITER = 1
_NONFINITE = 3
_STALLED = 5


@numba.njit(cache=True, nogil=True)
def _row_windows(n_free, m, codes, starts, counts, slots, j_lo, j_hi):
    """Each row of [J; r] (P + 1) is zero outside channels [row_lo, row_hi): the union of its terms' windows (the
    residual's row, P, whole; a row no term writes, empty). Fixed for a model: the kernels compute it once per call."""
    row_lo = np.full(n_free + 1, m, np.int64)
    row_hi = np.zeros(n_free + 1, np.int64)
    for t in range(codes.shape[0]):
        for q in range(counts[t]):
            s_ = slots[starts[t] + q]
            if s_ >= 0:
                row_lo[s_] = min(row_lo[s_], j_lo[t])
                row_hi[s_] = max(row_hi[s_], j_hi[t])
    row_lo[n_free] = 0
    row_hi[n_free] = m
    for a in range(n_free + 1):
        if row_lo[a] >= row_hi[a]:
            row_lo[a] = 0
            row_hi[a] = 0
    return row_lo, row_hi


@numba.njit(cache=True, nogil=True, fastmath={"contract", "arcp", "reassoc"}, error_model="numpy")
def _pixel_normal(shift, energy, pt, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale, node_start, zero_rows,
                  assign, row_lo, row_hi, y, sw, f, jac, ws, a_out, g_out):  # fmt: skip
    """JᵀWJ (full square), JᵀW r and Σ W r² of one pixel (``pt``: (1, P)); ``normal_equations`` and the LM call it.

    ``row_lo``, ``row_hi``: the rows' channel windows (``_row_windows``).

    ``jac`` (1, P + 1, m) is overwritten: √W·J, then the residual in row P, so that one register-tiled pass
    (``_gram``) over the rows [√W·J; √W·r] gives JᵀWJ and JᵀW r together.
    """
    n_free = pt.shape[1]
    m = shift.shape[0]
    evaluate(shift, energy, pt, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale, node_start, zero_rows,
             assign, True, f, jac)  # fmt: skip
    c = 0.0
    fv = f[0]
    rr = jac[0, n_free]  # the scratch row (fixed parameters' derivatives) is free now: the residual goes there
    dev = 0.0  # Σ|√W − 1|: zero for uniform weights with nothing masked, when J needs no weighting
    for j in range(m):
        s = sw[j]
        ok = s > 0.0
        rj = s * (y[j] - fv[j]) if ok else 0.0
        ws[j] = s if ok else 0.0
        rr[j] = rj
        c += rj * rj
        dev += abs(s - 1.0)
    for a in range(0 if dev == 0.0 else n_free):  # unsigned channel indices: no wrap-around checks, so LLVM vectorises them
        ja = jac[0, a]
        for j in range(np.uint64(row_lo[a]), np.uint64(row_hi[a])):
            ja[j] = ja[j] * ws[j] if ws[j] > 0.0 else 0.0
    _gram(jac[0], n_free, a_out, g_out, row_lo, row_hi)
    return c


@numba.njit(cache=True, nogil=True)
def _regularised(p, a, g, c, mu, inv_var, rtr, has_rtr):
    """Add the priors and the quadratic penalty to (A, g) in place; return χ² = c + Σ inv_var (p − μ)² + pᵀ RᵀR p."""
    n_free = p.shape[0]
    reg = 0.0
    for k in range(n_free):
        dp = p[k] - mu[k]
        a[k, k] += inv_var[k]
        g[k] -= inv_var[k] * dp
        if inv_var[k] > 0.0:
            reg += inv_var[k] * dp * dp
    if has_rtr:
        for k in range(n_free):
            pr = 0.0
            for q in range(n_free):
                pr += p[q] * rtr[q, k]
                a[k, q] += rtr[k, q]
            g[k] -= pr
            reg += p[k] * pr
    return c + reg


_DBL_MAX = 1.7976931348623157e308


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _solve_small(mat, rhs, chol, out):
    """``mat x = rhs`` into ``out`` for a symmetric ``mat``: Cholesky in place of ``chol`` (no allocation), LAPACK's
    LU (as NumPy's batched solve) where ``mat`` is not numerically positive definite, the minimum-norm solution
    where it is singular, NaN where it is not finite (as NumPy gives)."""
    n = rhs.shape[0]
    finite = True
    for i in range(n):  # no short-circuit: |x| ≤ max is False for NaN and ±inf, and the loop over a row vectorises
        mi = mat[i, : i + 1]
        row_ok = abs(rhs[i]) <= _DBL_MAX
        for j in range(i + 1):
            row_ok &= abs(mi[j]) <= _DBL_MAX
        finite &= row_ok
    if not finite:
        out[:] = np.nan
        return out
    spd = True
    for j in range(n):  # lower Cholesky factor of mat, column by column; the dot products over row views vectorise
        cj = chol[j, :j]
        d = 0.0
        for k in range(j):
            d += cj[k] * cj[k]
        d = mat[j, j] - d
        if not d > 1e-14 * abs(mat[j, j]) or not d > 0.0:  # not (well enough) positive definite
            spd = False
            break
        d = math.sqrt(d)
        chol[j, j] = d
        inv_d = 1.0 / d
        for i in range(j + 1, n):
            ci = chol[i, :j]
            t = 0.0
            for k in range(j):
                t += ci[k] * cj[k]
            chol[i, j] = (mat[i, j] - t) * inv_d
    if spd:
        for i in range(n):  # L z = rhs, then Lᵀ x = z
            t = rhs[i]
            for k in range(i):
                t -= chol[i, k] * out[k]
            out[i] = t / chol[i, i]
        for i in range(n - 1, -1, -1):
            t = out[i]
            for k in range(i + 1, n):
                t -= chol[k, i] * out[k]
            out[i] = t / chol[i, i]
        return out
    try:
        out[:] = np.linalg.solve(mat, rhs)
    except Exception:  # noqa: BLE001 — numba raises a plain exception for a singular matrix
        out[:] = np.linalg.pinv(mat) @ rhs
    return out


@numba.njit(cache=True, nogil=True)
def _active(a, g, p, lo, hi, frozen, a_free, g_free):
    """``lm._active_set`` for one pixel: frozen parameters (on a bound, descent pointing out) decoupled."""
    n_free = p.shape[0]
    for k in range(n_free):
        frozen[k] = (p[k] <= lo[k] and g[k] < 0.0) or (p[k] >= hi[k] and g[k] > 0.0)
    for k in range(n_free):
        g_free[k] = 0.0 if frozen[k] else g[k]
        for q in range(n_free):
            a_free[k, q] = 0.0 if (frozen[k] or frozen[q]) else a[k, q]
        if frozen[k]:
            a_free[k, k] = 1.0


@numba.njit(cache=True, nogil=True)
def levenberg_marquardt_rows(shift, energy, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale, node_start,
                             zero_rows, assign, y, sw, p, lo, hi, mu, inv_var, rtr, has_rtr, max_iter, xtol, ftol, gtol,
                             lambda0, status, n_iter, a_out, chi2_out):  # fmt: skip
    # Every row with status < 0 is fitted in place (p, status, n_iter; a_out: the final curvature matrix with the
    # priors, chi2_out: the data's χ² at the solution), by the same steps, in the same order, as the batched NumPy
    # loop of ``lm.levenberg_marquardt`` (Marquardt scaling with MINPACK's running diagonal, Nielsen's damping,
    # the active set of the bounds, the λ-independent convergence tests); one pixel at a time, so a converged
    # pixel costs nothing more and no (n, P, P) stack is built per iteration.
    n, n_free = p.shape
    m = shift.shape[0]
    f = np.empty((1, m))
    jac = np.empty((1, n_free + 1, m))
    row_lo, row_hi = _row_windows(n_free, m, codes, starts, counts, slots, j_lo, j_hi)
    ws = np.empty(m)
    pt = np.empty((1, n_free))
    a = np.empty((n_free, n_free))
    g = np.empty(n_free)
    a_new = np.empty((n_free, n_free))
    g_new = np.empty(n_free)
    a_free = np.empty((n_free, n_free))
    g_free = np.empty(n_free)
    frozen = np.empty(n_free, np.bool_)
    dscale = np.empty(n_free)
    p_new = np.empty(n_free)
    step = np.empty(n_free)
    chol = np.zeros((n_free, n_free))
    dp_buf = np.empty(n_free)
    gn_buf = np.empty(n_free)
    for i in range(n):
        if status[i] >= 0:
            continue
        pi = p[i]
        for k in range(n_free):
            pt[0, k] = pi[k]
        c_data = _pixel_normal(shift, energy, pt, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale,
                               node_start, zero_rows, assign, row_lo, row_hi, y[i], sw[i], f, jac, ws, a, g)  # fmt: skip
        chi2 = _regularised(pi, a, g, c_data, mu[i], inv_var[i], rtr, has_rtr)
        ok = np.isfinite(chi2)
        for k in range(n_free):
            ok = ok and np.isfinite(g[k])
        if not ok:
            status[i] = _NONFINITE
            for k in range(n_free):
                for q in range(n_free):
                    a_out[i, k, q] = a[k, q]
            chi2_out[i] = c_data
            continue
        dmax = -np.inf
        for k in range(n_free):
            dmax = max(dmax, a[k, k])
        for k in range(n_free):
            dscale[k] = max(a[k, k], 1e-12 * dmax + 1e-300)
        lam = lambda0
        nu = 2.0
        done_status = _MAX_ITER
        tested = False  # whether the convergence test has run at the current point
        for _ in range(max_iter):
            _active(a, g, pi, lo[i], hi[i], frozen, a_free, g_free)
            for k in range(n_free):
                a_free[k, k] += lam * (1.0 if frozen[k] else dscale[k])
            dp = _solve_small(a_free, g_free, chol, dp_buf)
            predicted = 0.0
            for k in range(n_free):
                p_new[k] = min(max(pi[k] + dp[k], lo[i, k]), hi[i, k])
                step[k] = p_new[k] - pi[k]
                dk = 1.0 if frozen[k] else dscale[k]
                predicted += step[k] * (lam * dk * step[k] + g_free[k])
            predicted *= 0.5
            n_iter[i] += 1
            for k in range(n_free):
                pt[0, k] = p_new[k]
            c_new = _pixel_normal(shift, energy, pt, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale,
                                  node_start, zero_rows, assign, row_lo, row_hi, y[i], sw[i], f, jac, ws, a_new, g_new)  # fmt: skip
            chi2_new = _regularised(p_new, a_new, g_new, c_new, mu[i], inv_var[i], rtr, has_rtr)
            accept = np.isfinite(chi2_new) and chi2_new <= chi2 and predicted > 0.0
            if accept:
                rho = 0.5 * (chi2 - chi2_new) / predicted
                t = 2.0 * min(max(rho, 0.0), 1.0) - 1.0
                lam *= max(1.0 / 3.0, 1.0 - t * t * t)
                nu = 2.0
                for k in range(n_free):
                    pi[k] = p_new[k]
                a, a_new = a_new, a  # the trial point's curvature and gradient become the current ones (no copy)
                g, g_new = g_new, g
                for k in range(n_free):
                    dscale[k] = max(dscale[k], a[k, k])
                chi2 = chi2_new
                c_data = c_new
                tested = False
            else:
                lam *= nu
                nu *= 2.0
            # convergence at the current point, on the directions the bounds leave open
            # (λ-independent, so after a rejected step at a point already tested it would say "not converged" again)
            if not tested:
                tested = True
                _active(a, g, pi, lo[i], hi[i], frozen, a_free, g_free)
                small_grad = True
                for k in range(n_free):
                    curv = max(a[k, k], 1e-300)
                    gk = abs(g_free[k]) / np.sqrt(curv * max(chi2, 1e-300))
                    if not gk <= gtol:  # NaN (a zero-curvature direction) is not converged either
                        small_grad = False
                dmax = -np.inf
                for k in range(n_free):
                    dmax = max(dmax, a_free[k, k])
                for k in range(n_free):
                    a_free[k, k] += 1e-12 * max(a_free[k, k], 1e-12 * dmax + 1e-300)
                gn = _solve_small(a_free, g_free, chol, gn_buf)
                decrease = 0.0
                gn_small = True
                for k in range(n_free):
                    decrease += g_free[k] * gn[k]
                    if not abs(gn[k]) <= xtol * (abs(pi[k]) + xtol):
                        gn_small = False
                floor_reached = 0.5 * decrease <= ftol * chi2
                if floor_reached or gn_small or small_grad:
                    done_status = _CONVERGED
                    break
            if (not accept) and lam > 1e16:
                done_status = _STALLED
                break
        status[i] = done_status
        for k in range(n_free):
            for q in range(n_free):
                a_out[i, k, q] = a[k, q]
        chi2_out[i] = c_data


@numba.njit(cache=True, nogil=True, fastmath={"contract", "arcp", "reassoc"})
def term_integrals(shift, energy, p, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale, node_start, weights,
                   areas, grads):  # fmt: skip
    # Per pixel and term: Σ_j weights_j f_t(x_j) (areas, (n, T)) and its gradient over the free parameters
    # (grads, (n, T, P); zero outside the term's own slots), one term at a time through ``evaluate``, without
    # an (n, m) value or (n, m, P) Jacobian per term in memory.
    n, n_free = p.shape
    m = shift.shape[0]
    n_terms = codes.shape[0]
    f = np.empty((1, m))
    jac = np.empty((1, n_free + 1, m))
    assign = np.zeros(n_free + 1, np.bool_)
    width = 1
    for t in range(n_terms):
        width = max(width, counts[t])
    term_rows = np.empty((n_terms, width), np.int64)  # the rows each term writes (the scratch row for fixed ones)
    for t in range(n_terms):
        for q in range(counts[t]):
            s_ = slots[starts[t] + q]
            term_rows[t, q] = s_ if s_ >= 0 else n_free
    for i in range(n):
        for t in range(n_terms):
            evaluate(shift, energy, p[i : i + 1], codes[t : t + 1], on_energy[t : t + 1], starts[t : t + 1], counts[t : t + 1],
                     slots, fixed, j_lo[t : t + 1], j_hi[t : t + 1], scale[t : t + 1], node_start[t : t + 1],
                     term_rows[t, : counts[t]], assign, True, f, jac)  # fmt: skip
            s = 0.0
            for j in range(m):
                s += f[0, j] * weights[j]
            areas[i, t] = s
            for a in range(n_free):
                grads[i, t, a] = 0.0
            for q in range(counts[t]):
                row = slots[starts[t] + q]
                if row < 0 or grads[i, t, row] != 0.0:  # fixed, or a slot this term holds twice (already summed)
                    continue
                s = 0.0
                for j in range(m):
                    s += jac[0, row, j] * weights[j]
                grads[i, t, row] = s


# ---- the covariance at the solution ----------------------------------------------------------------------------
#: ``unit_scaled_inverse`` decisions per row.
INVERSE_UNDECIDED = 0  # not positive definite to Cholesky, or near the singularity threshold: the caller decides (eigh)
INVERSE_DONE = 1  # the inverse is in ``out``; the smallest eigenvalue is surely above the threshold
INVERSE_SINGULAR = 2  # surely singular: the smallest eigenvalue is at or below the threshold


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def unit_scaled_inverse(mats, threshold, out, decision):
    """Inverse of each unit-diagonal symmetric matrix of ``mats`` (n, P, P) by Cholesky, with the eigenvalue test
    of ``lm.levenberg_marquardt`` (singular unless λ_min > ``threshold``) decided from the inverse's trace.

    With L Lᵀ = A and M = L⁻¹, A⁻¹ = Mᵀ M and tr A⁻¹ = ‖M‖²_F; since 1/λ_min lies in [tr/P, tr], tr < 1/threshold
    proves λ_min > threshold (``INVERSE_DONE``: ``out`` holds A⁻¹) and tr/P ≥ 1/threshold proves it is not
    (``INVERSE_SINGULAR``). Anything else (Cholesky fails, or the trace falls between the two) is left
    ``INVERSE_UNDECIDED`` for the caller's eigendecomposition. ≈ P³/2 multiply-adds a row, against ≈ 9P³ for
    LAPACK's symmetric eigensolver with vectors.
    """
    n, n_par, _ = mats.shape
    chol = np.zeros((n_par, n_par))
    inv_l = np.zeros((n_par, n_par))
    for i in range(n):
        a = mats[i]
        ok = True
        for j in range(n_par):
            cj = chol[j, :j]
            d = 0.0
            for k in range(j):
                d += cj[k] * cj[k]
            d = a[j, j] - d
            if not d > 0.0:
                ok = False
                break
            d = math.sqrt(d)
            chol[j, j] = d
            inv_d = 1.0 / d
            for r in range(j + 1, n_par):
                cr = chol[r, :j]
                t = 0.0
                for k in range(j):
                    t += cr[k] * cj[k]
                chol[r, j] = (a[r, j] - t) * inv_d
        if not ok:
            decision[i] = INVERSE_UNDECIDED
            continue
        trace = 0.0
        for c in range(n_par):  # M = L⁻¹ (lower), held transposed (row c of ``inv_l`` = column c of M): contiguous dots
            mc = inv_l[c]
            for r in range(c):
                mc[r] = 0.0
            mc[c] = 1.0 / chol[c, c]
            for r in range(c + 1, n_par):
                lr = chol[r]
                t = 0.0
                for k in range(c, r):
                    t += lr[k] * mc[k]
                mc[r] = -t / chol[r, r]
            for r in range(c, n_par):
                trace += mc[r] * mc[r]
        if not np.isfinite(trace) or trace / n_par * threshold >= 1.0:
            decision[i] = INVERSE_SINGULAR if np.isfinite(trace) else INVERSE_UNDECIDED
            continue
        if trace * threshold >= 1.0:
            decision[i] = INVERSE_UNDECIDED
            continue
        o = out[i]
        for p_ in range(n_par):  # (Mᵀ M)[p, q] = Σ_{k ≥ max(p, q)} M[k, p] M[k, q]
            mp = inv_l[p_]
            for q in range(p_, n_par):
                mq = inv_l[q]
                t = 0.0
                for k in range(q, n_par):
                    t += mp[k] * mq[k]
                o[p_, q] = t
                o[q, p_] = t
        decision[i] = INVERSE_DONE
