"""The numba kernel behind ``hyperspec.fit.linear`` (imported only when numba is installed).

Every row goes through the same instructions whatever its batch: rows in pairs through one loop (the caller
sends an odd last row with a zero row, through this same function), each result a dot product over the
channels that LLVM vectorises into a fixed set of partial sums (the vector width and unroll of this compiled
code, then a fixed horizontal sum and a scalar remainder over the last channels). The order depends on ``m``
and the compiled code only, never on the number of rows, a row's slot in its pair or its alignment (LLVM
does not peel loops for alignment on x86), and one compiled specialisation serves every call
(``SIGNATURES``, read-only inputs, so writable and read-only arrays share it). A BLAS GEMM gives no such
promise: OpenBLAS 0.3.31's Haswell/Zen float32 kernel (AVX2) sums rows 6–11 of every 12 of a 16-column
product in another order than rows 0–5.
"""

import numba
from numba import types

#: The only specialisations (the dispatcher compiles these and no others): float32 and float64, the data
#: and operator read-only C-contiguous arrays, the output writable, the zero of the dtype.
SIGNATURES = [
    types.void(types.Array(t, 2, "C", readonly=True), types.Array(t, 2, "C", readonly=True), types.Array(t, 2, "C"), t)
    for t in (types.float32, types.float64)
]


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def rowwise_product(a, mt, out, zero):
    """``out[i] = a[i] @ mt.T`` for every row, in float32 or float64 as the arrays are.

    ``a`` (n, m) with n even and ``mt`` (k, m), C-contiguous, one dtype; ``out`` (n, k); ``zero`` is 0 in
    that dtype (so the sums keep it). Two rows at a time, four columns per pass over them: 8 partial sums,
    one load of each operator column serving both rows, the rows' 2 × 4 kB (float32, 1024 channels)
    staying in L1; the last ``k mod 4`` columns one at a time. Both rows of a pair run the same arithmetic.
    """
    n, m = a.shape
    k = mt.shape[0]
    k4 = k - k % 4
    for i in range(0, n, 2):
        x = a[i]
        y = a[i + 1]
        for c in range(0, k4, 4):
            m0 = mt[c]
            m1 = mt[c + 1]
            m2 = mt[c + 2]
            m3 = mt[c + 3]
            s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = zero
            for j in range(m):
                v = x[j]
                u = y[j]
                w0 = m0[j]
                w1 = m1[j]
                w2 = m2[j]
                w3 = m3[j]
                s0 += v * w0
                s1 += v * w1
                s2 += v * w2
                s3 += v * w3
                t0 += u * w0
                t1 += u * w1
                t2 += u * w2
                t3 += u * w3
            out[i, c] = s0
            out[i, c + 1] = s1
            out[i, c + 2] = s2
            out[i, c + 3] = s3
            out[i + 1, c] = t0
            out[i + 1, c + 1] = t1
            out[i + 1, c + 2] = t2
            out[i + 1, c + 3] = t3
        for c in range(k4, k):
            m0 = mt[c]
            s0 = t0 = zero
            for j in range(m):
                w0 = m0[j]
                s0 += x[j] * w0
                t0 += y[j] * w0
            out[i, c] = s0
            out[i + 1, c] = t0
