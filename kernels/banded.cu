// Batched band Cholesky solves (diag(w_i) + P) z_i = b_i, one thread per pixel i: the CUDA port of
// banded_cholesky_solve in hyperspec/preprocess/_banded_kernel.py (reference: the xp loop of
// hyperspec/preprocess/_banded.py). P is a banded penalty shared by all pixels (lambda * D'D of the
// Whittaker smoother and the asymmetric-least-squares baselines), stored "lower": bands[q * m + j] =
// P[j + q, j], q = 0..d.
// Layout: w, b, out and the factor L are channel-major ((m, n) and (d + 1, m, n)), so neighbouring
// threads (pixels) read neighbouring addresses at every step of their recurrences (coalesced).
// Precision: REAL_T (double): lambda reaches 1e9 against weights of 1, and the factor of an
// ill-conditioned band matrix loses about half of the digits it is given.
// A non-positive pivot gives NaN (sqrt), caught by the caller as a non-finite solution, like the CPU.

#ifndef REAL_T
#define REAL_T double
#endif

typedef REAL_T real;

extern "C" __global__ void banded_solve(
    const real* __restrict__ w, const real* __restrict__ b, const real* __restrict__ bands,
    const int n, const int m, const int d, real* __restrict__ L, real* __restrict__ out)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const long long nn = n;
#define AT(a, j) a[(long long)(j) * nn + i]
#define LF(q, j) L[((long long)(q) * m + (j)) * nn + i]
    for (int j = 0; j < m; ++j) {  // factor: L L' = diag(w) + P
        real s = bands[j] + AT(w, j);
        for (int k = 1; k <= d && k <= j; ++k) s -= LF(k, j - k) * LF(k, j - k);
        const real ljj = sqrt(s);
        LF(0, j) = ljj;
        for (int q = 1; q <= d && q <= m - 1 - j; ++q) {
            real t = bands[q * m + j];
            for (int k = 1; k <= d - q && k <= j; ++k) t -= LF(q + k, j - k) * LF(k, j - k);
            LF(q, j) = t / ljj;
        }
    }
    for (int j = 0; j < m; ++j) {  // forward: L y = b
        real z = AT(b, j);
        for (int k = 1; k <= d && k <= j; ++k) z -= LF(k, j - k) * AT(out, j - k);
        AT(out, j) = z / LF(0, j);
    }
    for (int j = m - 1; j >= 0; --j) {  // backward: L' z = y
        real z = AT(out, j);
        for (int k = 1; k <= d && k <= m - 1 - j; ++k) z -= LF(k, j) * AT(out, j + k);
        AT(out, j) = z / LF(0, j);
    }
#undef AT
#undef LF
}
