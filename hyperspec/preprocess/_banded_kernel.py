"""The numba kernel behind ``hyperspec.preprocess._banded`` (imported only when numba is installed)."""

import math

import numba
import numpy as np

from hyperspec._vector_math import vexp


@numba.njit(cache=True, nogil=True)
def vexp_array(x):
    """``exp`` of a 1-D float64 array through ``vexp`` (for tests)."""
    out = np.empty_like(x)
    vexp(x, out, np.empty(x.size, dtype=np.int64))
    return out


@numba.njit(cache=True, nogil=True)
def banded_cholesky_solve(w, b, bands, out):
    """``out[i] = (diag(w[i]) + P)⁻¹ b[i]`` by band Cholesky; ``bands`` (d+1, m) lower bands of P."""
    n, m = w.shape
    d = bands.shape[0] - 1
    L = np.empty((d + 1, m))
    for i in range(n):
        for j in range(m):
            s = bands[0, j] + w[i, j]
            for k in range(1, min(d, j) + 1):
                s -= L[k, j - k] * L[k, j - k]
            ljj = math.sqrt(s) if s > 0.0 else math.nan
            L[0, j] = ljj
            for q in range(1, min(d, m - 1 - j) + 1):
                t = bands[q, j]
                for k in range(1, min(d - q, j) + 1):
                    t -= L[q + k, j - k] * L[k, j - k]
                L[q, j] = t / ljj
        for j in range(m):
            z = b[i, j]
            for k in range(1, min(d, j) + 1):
                z -= L[k, j - k] * out[i, j - k]
            out[i, j] = z / L[0, j]
        for j in range(m - 1, -1, -1):
            z = out[i, j]
            for k in range(1, min(d, m - 1 - j) + 1):
                z -= L[k, j] * out[i, j + k]
            out[i, j] = z / L[0, j]


_BLOCK = 16  # pixels solved together: their independent recurrences fill the SIMD lanes and hide latency


@numba.njit(inline="always")
def _factor_solve_block(W, Y, bands, L, Z, s):
    """``Z[:, b] = (diag(W[:, b]) + P)⁻¹ (W[:, b]·Y[:, b])`` for the B pixels of a block (channel-major).

    Lanes innermost in every loop, so the B independent recurrences run side by side in SIMD registers.
    """
    m, nb = W.shape
    d = bands.shape[0] - 1
    for j in range(m):
        for b in range(nb):
            s[b] = bands[0, j] + W[j, b]
        for k in range(1, min(d, j) + 1):
            for b in range(nb):
                s[b] -= L[k, j - k, b] * L[k, j - k, b]
        for b in range(nb):
            L[0, j, b] = math.sqrt(s[b])  # NaN for a non-positive pivot (caught as a non-finite solution)
        for q in range(1, min(d, m - 1 - j) + 1):
            for b in range(nb):
                s[b] = bands[q, j]
            for k in range(1, min(d - q, j) + 1):
                for b in range(nb):
                    s[b] -= L[q + k, j - k, b] * L[k, j - k, b]
            for b in range(nb):
                L[q, j, b] = s[b] / L[0, j, b]
        for b in range(nb):
            s[b] = W[j, b] * Y[j, b]
        for k in range(1, min(d, j) + 1):
            for b in range(nb):
                s[b] -= L[k, j - k, b] * Z[j - k, b]
        for b in range(nb):
            Z[j, b] = s[b] / L[0, j, b]
    for j in range(m - 1, -1, -1):
        for k in range(1, min(d, m - 1 - j) + 1):
            for b in range(nb):
                Z[j, b] -= L[k, j, b] * Z[j + k, b]
        for b in range(nb):
            Z[j, b] /= L[0, j, b]


@numba.njit(inline="always")
def _penta_solve_block(W, Y, bands, L0, L1, L2, Z):
    """The second-difference case (d = 2) of ``_factor_solve_block`` with the recurrence unrolled
    (≈3× faster: four scalar streams per lane, no inner loops). ``L0`` holds 1/L[j, j]."""
    m, nb = W.shape
    for j in range(m):
        p0 = bands[0, j]
        p1 = bands[1, j] if j + 1 < m else 0.0
        p2 = bands[2, j] if j + 2 < m else 0.0
        for b in range(nb):
            s = p0 + W[j, b]
            t1 = p1
            z = W[j, b] * Y[j, b]
            if j >= 1:
                s -= L1[j - 1, b] * L1[j - 1, b]
                z -= L1[j - 1, b] * Z[j - 1, b]
                t1 -= L2[j - 1, b] * L1[j - 1, b]
            if j >= 2:
                s -= L2[j - 2, b] * L2[j - 2, b]
                z -= L2[j - 2, b] * Z[j - 2, b]
            inv = 1.0 / math.sqrt(s)  # NaN for a non-positive pivot (caught as a non-finite solution)
            L0[j, b] = inv
            L1[j, b] = t1 * inv
            L2[j, b] = p2 * inv
            Z[j, b] = z * inv
    for j in range(m - 1, -1, -1):
        for b in range(nb):
            z = Z[j, b]
            if j + 1 < m:
                z -= L1[j, b] * Z[j + 1, b]
            if j + 2 < m:
                z -= L2[j, b] * Z[j + 2, b]
            Z[j, b] = z * L0[j, b]


@numba.njit(cache=True, nogil=True)
def reweighted_whittaker_blocked(method, y, w, bands, max_iter, tol, p, normalize, base, n_iter, converged):
    """The asls (0) / arpls (1) / airpls (2) loop of pybaselines for every row of ``y``, in place, ``_BLOCK``
    pixels at a time (their recurrences side by side).

    ``w`` (n, m) holds the initial weights and returns the final ones; ``base`` the baselines,
    ``n_iter`` the solves per row, ``converged`` whether the row met ``tol``.
    """
    n, m = y.shape
    d = bands.shape[0] - 1
    nb = _BLOCK
    L = np.empty((d + 1, m, nb))
    Y = np.empty((m, nb))
    W = np.empty((m, nb))
    Z = np.empty((m, nb))
    NEW = np.empty((m, nb))
    ARG = np.empty((m, nb))  # exponents of the arpls / airpls weights, exponentiated in one vectorised pass
    EXP = np.empty((m, nb))
    KB = np.empty(m * nb, dtype=np.int64)
    svec = np.empty(nb)
    live = np.zeros(nb, dtype=np.bool_)
    bad = np.zeros(nb, dtype=np.bool_)
    cnt = np.zeros(nb, dtype=np.int64)
    acc = np.zeros((9, nb))
    y_l1, num, den, s_neg, mean, var, std, scl, vmax = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7], acc[8]
    eps = 2.220446049250313e-16
    log_max = math.log(1.7976931348623157e308)
    cap = log_max - 1.4210854715202004e-14  # log_max − spacing(log_max)
    for i0 in range(0, n, nb):
        for b in range(nb):
            i = i0 + b
            live[b] = False
            y_l1[b] = 0.0
            if i < n:
                finite = True
                for j in range(m):
                    Y[j, b] = y[i, j]
                    W[j, b] = w[i, j]
                    if not (math.isfinite(y[i, j]) and math.isfinite(w[i, j])):
                        finite = False
                    y_l1[b] += abs(y[i, j])
                live[b] = finite
                if not finite:
                    base[i, :] = math.nan
                    n_iter[i] = 0
                    converged[i] = False
            if not live[b]:  # a harmless system for an empty or non-finite lane
                for j in range(m):
                    Y[j, b] = 0.0
                    W[j, b] = 1.0
        for rnd in range(max_iter + 1):
            any_live = False
            for b in range(nb):
                any_live = any_live or live[b]
            if not any_live:
                break
            if d == 2:
                _penta_solve_block(W, Y, bands, L[0], L[1], L[2], Z)
            else:
                _factor_solve_block(W, Y, bands, L, Z, svec)
            # the reweighting of all lanes at once (channel-major, lanes inner: vectorisable)
            bad[:] = False
            num[:] = 0.0
            den[:] = 0.0
            cnt[:] = 0
            s_neg[:] = 0.0
            for j in range(m):
                for b in range(nb):
                    r = Y[j, b] - Z[j, b]
                    bad[b] |= not math.isfinite(r)
                    if r < 0.0:
                        cnt[b] += 1
                        s_neg[b] += r
            if method == 0:
                for j in range(m):
                    for b in range(nb):
                        v = p if Y[j, b] > Z[j, b] else 1.0 - p
                        NEW[j, b] = v
                        num[b] += (v - W[j, b]) ** 2
                        den[b] += W[j, b] * W[j, b]
            elif method == 1:
                for b in range(nb):
                    mean[b] = s_neg[b] / max(cnt[b], 1)
                    var[b] = 0.0
                for j in range(m):
                    for b in range(nb):
                        r = Y[j, b] - Z[j, b]
                        if r < 0.0:
                            var[b] += (r - mean[b]) ** 2
                for b in range(nb):
                    sd = math.sqrt(var[b] / max(cnt[b] - 1, 1))
                    std[b] = sd if (sd > 0.0 and cnt[b] >= 2) else eps
                for j in range(m):
                    for b in range(nb):
                        ARG[j, b] = min((2.0 / std[b]) * ((Y[j, b] - Z[j, b]) - (2.0 * std[b] - mean[b])), 700.0)
                vexp(ARG.reshape(m * nb), EXP.reshape(m * nb), KB)
                for j in range(m):
                    for b in range(nb):
                        v = 1.0 / (1.0 + EXP[j, b])  # expit(−a)
                        NEW[j, b] = v
                        num[b] += (v - W[j, b]) ** 2
                        den[b] += W[j, b] * W[j, b]
            else:
                for b in range(nb):
                    scl[b] = min(rnd + 1, 50) / (s_neg[b] if s_neg[b] < 0.0 else -1.0)
                    vmax[b] = 0.0
                for j in range(m):
                    for b in range(nb):
                        ARG[j, b] = min(max(scl[b] * (Y[j, b] - Z[j, b]), 0.0), cap)
                vexp(ARG.reshape(m * nb), EXP.reshape(m * nb), KB)
                for j in range(m):
                    for b in range(nb):
                        v = EXP[j, b] if Y[j, b] - Z[j, b] < 0.0 else 0.0
                        NEW[j, b] = v
                        vmax[b] = max(vmax[b], v)
                if normalize:
                    for j in range(m):
                        for b in range(nb):
                            NEW[j, b] /= max(vmax[b], eps)
            for b in range(nb):
                if not live[b]:
                    continue
                i = i0 + b
                finish = False
                conv = False
                if bad[b]:
                    finish = True
                else:
                    if method == 0:
                        crit = math.sqrt(num[b]) / max(math.sqrt(den[b]), eps)
                        early = False
                    elif method == 1:
                        crit = math.sqrt(num[b]) / max(math.sqrt(den[b]), eps)
                        early = cnt[b] < 2
                    else:
                        crit = abs(s_neg[b]) / max(y_l1[b], eps)
                        early = cnt[b] < 2
                    if early:
                        finish = True
                    elif crit < tol:
                        finish = True
                        conv = True
                    elif rnd == max_iter:
                        finish = True
                    else:
                        for j in range(m):
                            W[j, b] = NEW[j, b]
                if finish:
                    for j in range(m):
                        base[i, j] = Z[j, b]
                        w[i, j] = W[j, b]
                    n_iter[i] = rnd + 1
                    converged[i] = conv
                    live[b] = False


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def modpoly_loop(y, y0, V, pinv, sw, max_iter, tol, use_original, base, n_iter, converged):
    """pybaselines' modpoly iterations for every row (shared weights): ``base`` holds the start fit.

    ``reassoc`` lets LLVM split the channel sums over SIMD lanes (≈2× here); a pixel's result still
    depends only on its own spectrum (no NaN/inf assumptions: non-finite rows are caught first)."""
    n, m = y.shape
    k = V.shape[1]
    coef = np.empty(k)
    cur = np.empty(m)
    eps = 2.220446049250313e-16
    P = np.empty_like(pinv)  # pinv·diag(sw), once
    for q in range(k):
        for j in range(m):
            P[q, j] = pinv[q, j] * sw[j]
    for i in range(n):
        finite = True
        for j in range(m):
            cur[j] = y[i, j]
            if not math.isfinite(cur[j]):
                finite = False
        if not finite:
            base[i, :] = math.nan
            continue
        for it in range(max_iter):
            for j in range(m):
                cur[j] = min(y0[i, j] if use_original else cur[j], base[i, j])
            for q in range(k):  # k separate sums: each one vectorises over the channels
                c = 0.0
                for j in range(m):
                    c += P[q, j] * cur[j]
                coef[q] = c
            num, den = 0.0, 0.0
            for j in range(m):
                v = 0.0
                for q in range(k):
                    v += V[j, q] * coef[q]
                num += (v - base[i, j]) ** 2
                den += base[i, j] * base[i, j]
                base[i, j] = v
            n_iter[i] = it + 1
            if math.sqrt(num) / max(math.sqrt(den), eps) < tol:
                converged[i] = True
                break
