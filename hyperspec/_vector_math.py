"""Vectorisable elementwise math for the numba kernels (imported only when numba is installed).

pip's llvmlite has no SVML, so a numba loop that calls ``math.exp`` or ``math.log`` stays scalar (libm, ≈17 µs per
1024 values on one core); the same range reductions and polynomials written out in arithmetic vectorise (≈2 µs per
1024 for both e^x and expm1(x); ``log`` ≈4 against ≈8). One Taylor tail (``_taylor_tail``) serves ``vexp`` (the
baselines' reweighting) and ``exp_expm1`` (the fused band-model kernel); each function keeps its own range handling
(see its docstring). Tested against NumPy in ``tests/fit/test_fused.py::test_vector_exp_log_match_numpy`` and
``tests/preprocess/test_baselines.py``.

Numba's disk cache of a caller is keyed on the caller's own file: after editing this module, clear the callers'
caches (``hyperspec/fit/__pycache__``, ``hyperspec/preprocess/__pycache__``) or they keep the old code (an install
or upgrade rewrites every file, so users are not affected).
"""

import math

import numba
import numpy as np

_LOG2E = float.fromhex("0x1.71547652b82fep+0")  # 1/ln 2
# ln 2 split in two (Cody–Waite, fdlibm's constants): _LN2_HI has its 32 low mantissa bits zero, so k·_LN2_HI is exact for
# every |k| ≤ 1022 used here, and _LN2_LO carries the next 53 bits of ln 2 (so ln 2 to ≈ 1e-26 in all)
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
_SHIFTER = 6755399441055744.0  # 1.5·2⁵²: x·log₂e + _SHIFTER rounds to the nearest integer k, held in the low bits
_SHIFTER_BITS = int(np.float64(_SHIFTER).view(np.int64))


@numba.njit(inline="always")
def _taylor_tail(r):
    """Σ_{k=2}^{13} r^(k−2)/k! by Horner (e^r = 1 + r + r²·tail, expm1(r) = r + r²·tail); |r| ≤ ln 2/2 leaves a
    truncation below 1e-17. Inlined, so each caller's fastmath flags decide how it is rounded."""
    s = 1.0 / 6227020800.0
    s = s * r + 1.0 / 479001600.0
    s = s * r + 1.0 / 39916800.0
    s = s * r + 1.0 / 3628800.0
    s = s * r + 1.0 / 362880.0
    s = s * r + 1.0 / 40320.0
    s = s * r + 1.0 / 5040.0
    s = s * r + 1.0 / 720.0
    s = s * r + 1.0 / 120.0
    s = s * r + 1.0 / 24.0
    s = s * r + 1.0 / 6.0
    return s * r + 0.5


@numba.njit(inline="always")
def vexp(x, out, k_bits):
    """``out = exp(x)`` elementwise for 1-D arrays, written so LLVM vectorises it (no SVML here: the
    libm ``exp`` runs one value at a time). Cody–Waite reduction to |r| ≤ ln2/2, a degree-13 Taylor
    polynomial (truncation < 1e-18), then 2^k built in the exponent bits in two halves (so exp(709.78)
    does not overflow the construction). Within 1 ulp of libm; inputs below −708 give 3.3e-308, not 0.
    ``k_bits`` is int64 scratch of the same size."""
    for i in range(x.size):
        v = min(max(x[i], -708.0), 709.782712893384)
        k = math.floor(v * _LOG2E + 0.5)
        r = (v - k * _LN2_HI) - k * _LN2_LO
        p = _taylor_tail(r) * r + 1.0
        out[i] = p * r + 1.0
        k_bits[i] = np.int64(k)
    scale = k_bits.view(np.float64)
    for i in range(x.size):
        k = k_bits[i]
        h = k >> 1
        k_bits[i] = (h + 1023) << 52
        out[i] *= scale[i]
        k_bits[i] = (k - h + 1023) << 52
        out[i] *= scale[i]


@numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def exp_expm1(x, e_out, m1_out, bits):
    """e^x and expm1(x) of a 1-D array at once (``bits``: int64 scratch of the same length), each within 1 ulp.

    x = k·ln 2 + r with |r| ≤ ln 2 / 2; expm1(r) by its Taylor series to r¹³ (truncation < 1e-17 relative);
    2^k from the exponent bits. e^x = 2^k·(1 + s), expm1(x) = 2^k·s + (2^k − 1): neither cancels, so e^(−q)
    stays exact for large q where 1 + expm1(−q) would not. Saturates beyond |x| > 708 (inf, or 0 and −1); NaN
    stays NaN. Three branch-free loops (LLVM vectorises each).
    """
    n = x.shape[0]
    fb = bits.view(np.float64)
    for j in range(n):
        xv = min(max(x[j], -708.0), 708.0)
        t = xv * _LOG2E + _SHIFTER
        kf = t - _SHIFTER
        r = (xv - kf * _LN2_HI) - kf * _LN2_LO
        s = _taylor_tail(r)
        fb[j] = t
        m1_out[j] = (s * r) * r + r  # expm1(r)
    for j in range(n):  # the integer k in t's low bits → the bits of 2^k
        bits[j] = (bits[j] - _SHIFTER_BITS + 1023) << 52
    for j in range(n):
        two = fb[j]
        s = m1_out[j]
        xj = x[j]
        e = two * s + two
        m1 = two * s + (two - 1.0)
        e = math.inf if xj > 708.0 else (0.0 if xj < -708.0 else e)
        m1 = math.inf if xj > 708.0 else (-1.0 if xj < -708.0 else m1)
        e_out[j] = e if xj == xj else xj
        m1_out[j] = m1 if xj == xj else xj


_SQRT2 = math.sqrt(2.0)
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000  # the exponent bits of 1.0
_TINY = 2.2250738585072014e-308  # the smallest normal double


@numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def log(y, out, bits, ebits):
    """ln y of a 1-D array (``bits``, ``ebits``: int64 scratch of the same length), within 2 ulp of NumPy's.

    y = 2^e·m with m in (√2/2, √2]; ln m = 2·atanh((m − 1)/(m + 1)) by its series to f²⁵ (truncation < 1e-17);
    the exponent and mantissa from the bits, e converted through ``_SHIFTER`` (AVX2 has no int64 → double). 0 gives
    −inf, a negative y or NaN gives NaN, +inf gives +inf; subnormals are scaled by 2⁵⁴ first.
    """
    n = y.shape[0]
    fb = bits.view(np.float64)
    eb = ebits.view(np.float64)
    for j in range(n):
        yj = y[j]
        fb[j] = yj * 18014398509481984.0 if yj < _TINY else yj
    ub = bits.view(np.uint64)  # unsigned: AVX2 has a logical 64-bit right shift, not an arithmetic one
    for j in range(n):
        b = ub[j]
        ebits[j] = np.int64((b >> np.uint64(52)) & np.uint64(0x7FF)) + (_SHIFTER_BITS - 1023)
        ub[j] = (b & np.uint64(_MANTISSA)) | np.uint64(_ONE_BITS)
    for j in range(n):
        yj = y[j]
        m = fb[j]
        e = eb[j] - _SHIFTER - (54.0 if yj < _TINY else 0.0)
        big = m > _SQRT2
        m = m * 0.5 if big else m
        e = e + 1.0 if big else e
        f = (m - 1.0) / (m + 1.0)
        f2 = f * f
        s = 1.0 / 25.0  # Horner over 1/(2k + 1), k = 12 … 1
        s = s * f2 + 1.0 / 23.0
        s = s * f2 + 1.0 / 21.0
        s = s * f2 + 1.0 / 19.0
        s = s * f2 + 1.0 / 17.0
        s = s * f2 + 1.0 / 15.0
        s = s * f2 + 1.0 / 13.0
        s = s * f2 + 1.0 / 11.0
        s = s * f2 + 1.0 / 9.0
        s = s * f2 + 1.0 / 7.0
        s = s * f2 + 1.0 / 5.0
        s = s * f2 + 1.0 / 3.0
        r = e * _LN2_HI + ((2.0 * f + 2.0 * f * f2 * s) + e * _LN2_LO)
        r = r if yj > 0.0 else (-math.inf if yj == 0.0 else math.nan)
        r = math.inf if yj == math.inf else r
        out[j] = r if yj == yj else yj
