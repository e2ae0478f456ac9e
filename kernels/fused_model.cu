// Fused kernels of composite band models (hyperspec.fit.composite), the CUDA port of the numba kernel
// hyperspec/fit/_fused_kernel.py:
//   fused_model   value + Jacobian, one thread per (pixel, channel);
//   fused_normal  the Levenberg-Marquardt normal equations J'WJ, J'W r and chi2 = r'W r, one thread block
//                 per pixel (in the style of Gpufit): the block evaluates a tile of channels into shared
//                 memory, then each thread accumulates its entries of the augmented product [J r]'[J r];
//                 the Jacobian never reaches global memory.
// Generated at load time (hyperspec.fit._cuda_fused.kernel_source), so this file holds no copy of them:
//   KERNEL_<NAME>  the shape codes, one per kernel body, from the component registry
//                  (hyperspec.bands.components.kernel_codes); a code without a body here gives NaN;
//   HC_OVER_K, EXP_MAX, LN2  the constants of hyperspec.bands.constants;
//   TERM_TABLES    the parameter list of the term tables (codes ... node_start), in FusedModel.args order.
// Precision: REAL_T (double by default): the normal equations of Levenberg-Marquardt lose about
// twice the digits of the Jacobian, and band parameters span 1e-3 (Urbach slope) to 1e4 (counts).
// Parameters are read through the slot table (free index, or -1 for a fixed value), so ties and
// fixed values cost nothing. j_out has n_free + 1 rows per pixel (the last is scratch for fixed
// parameters) and must be zeroed by the caller: every thread owns its channel, so += has no race.

#ifndef REAL_T
#define REAL_T double
#endif

typedef REAL_T real;

// Value of the model at channel j of the pixel with free parameters pi; with want_jac, its derivatives
// are added to ji[slot * stride] (slot n_free collects the fixed parameters' and is ignored).
__device__ __forceinline__ real channel_value(
    const int j, const real* __restrict__ pi, const real* __restrict__ shift, const real* __restrict__ energy, TERM_TABLES,
    const int n_free, const int n_terms, const int want_jac, real* ji, const long long stride)
{
    real fv = 0.0;

#define PARAM(q) (slots[st + (q)] >= 0 ? pi[slots[st + (q)]] : fixed[st + (q)])
#define SLOT(q) (slots[st + (q)] >= 0 ? (int)slots[st + (q)] : n_free)
#define ACC(q, v) do { if (want_jac) ji[(long long)SLOT(q) * stride] += (v); } while (0)

    for (int t = 0; t < n_terms; ++t) {
        if (j < j_lo[t] || j >= j_hi[t]) continue;
        const int st = (int)starts[t];
        const int k = (int)counts[t];
        const int code = (int)codes[t];
        const real x = on_energy[t] ? energy[j] : shift[j];
        if (code == KERNEL_LORENTZIAN || code == KERNEL_RAMAN_PAIR) {  // Raman pair: with its anti-Stokes partner at −center
            const real c = PARAM(0), g = PARAM(1), h = PARAM(2);
            const real g2 = g * g, dd = x - c, den = dd * dd + g2, sv = g2 / den;
            real v = h * sv;
            const real fd = 2.0 * v * dd / den;
            real d0 = fd, d1 = fd * dd / g, d2 = sv;
            if (code == KERNEL_RAMAN_PAIR) {
                const real temp = PARAM(3), r = exp(-HC_OVER_K * c / temp);
                const real e2 = x + c, den2 = e2 * e2 + g2, s2 = g2 / den2, v2 = h * r * s2;
                const real fd2 = 2.0 * v2 * e2 / den2;
                v += v2;
                d0 += -fd2 - s2 * h * r * HC_OVER_K / temp;
                d1 += fd2 * e2 / g;
                d2 += s2 * r;
                ACC(3, s2 * h * r * HC_OVER_K * c / (temp * temp));
            }
            fv += v;
            ACC(0, d0); ACC(1, d1); ACC(2, d2);
        } else if (code == KERNEL_GAUSSIAN || code == KERNEL_PSEUDO_VOIGT) {
            const real c = PARAM(0), g = PARAM(1);
            const real eta = code == KERNEL_PSEUDO_VOIGT ? PARAM(2) : 1.0, h = code == KERNEL_GAUSSIAN ? PARAM(2) : PARAM(3);
            const real g2 = g * g, dd = x - c, e = exp(-LN2 * dd * dd / g2), fg = h * e, fdg = 2.0 * LN2 * fg * dd / g2;
            if (code == KERNEL_GAUSSIAN) {
                fv += fg;
                ACC(0, fdg); ACC(1, fdg * dd / g); ACC(2, e);
            } else {
                const real den = dd * dd + g2, slr = g2 / den, fl = h * slr, fdl = 2.0 * fl * dd / den;
                const real fdm = eta * fdl + (1.0 - eta) * fdg;
                fv += eta * fl + (1.0 - eta) * fg;
                ACC(0, fdm); ACC(1, fdm * dd / g); ACC(2, fl - fg); ACC(3, eta * slr + (1.0 - eta) * e);
            }
        } else if (code == KERNEL_ESPL) {  // Lorentzian × exp(beta (x − center))
            const real c = PARAM(0), g = PARAM(1), beta = PARAM(2), h = PARAM(3);
            const real g2 = g * g, dd = x - c, den = dd * dd + g2, sv = g2 / den, arg = beta * dd;
            const bool inside = fabs(arg) < EXP_MAX;
            const real ex = exp(fmin(fmax(arg, -EXP_MAX), EXP_MAX)), v = h * sv * ex;
            fv += v;
            ACC(0, v * (2.0 * dd / den - (inside ? beta : 0.0)));
            ACC(1, 2.0 * v * dd * dd / (g * den));
            ACC(2, inside ? v * dd : 0.0);
            ACC(3, sv * ex);
        } else if (code == KERNEL_LERS) {  // Lorentzian central peak × Bose-Einstein factor, exact at x → 0
            const real w = PARAM(0), temp = PARAM(1), h = PARAM(2);
            const real q = HC_OVER_K * x / temp;
            const bool small = fabs(q) < 1e-6;
            const real qc = fmin(fmax(q, -EXP_MAX), EXP_MAX);
            const real ratio = small ? 1.0 + q / 2.0 + q * q / 12.0 : qc / (-expm1(-qc));
            const real a = (temp / HC_OVER_K) * ratio, w2 = w * w, den = x * x + w2, lor = w / den;
            fv += h * a * lor;
            const real half = qc / 2.0, sh = small ? 1.0 : half / sinh(half);
            ACC(0, h * a * (x * x - w2) / (den * den));
            ACC(1, h * lor * sh * sh / HC_OVER_K);
            ACC(2, a * lor);
        } else if (code == KERNEL_HERS_LOGNORMAL) {  // zero for shifts ≤ 0
            if (x > 0.0) {
                const real c = PARAM(0), sw = PARAM(1), h = PARAM(2);
                const real ln = log(x / c), e = exp(-(ln * ln) / (2.0 * sw * sw)), v = h * e, fl = v * ln / (sw * sw);
                fv += v;
                ACC(0, fl / c); ACC(1, fl * ln / sw); ACC(2, e);
            }
        } else if (code == KERNEL_FREEFORM) {  // linear between nodes (start, step = scale)
            const real u = (x - node_start[t]) / scale[t];
            int kk = (int)floor(u);
            kk = kk < 0 ? 0 : (kk > k - 2 ? k - 2 : kk);
            const real frac = u - kk;
            fv += PARAM(kk) * (1.0 - frac) + PARAM(kk + 1) * frac;
            ACC(kk, 1.0 - frac); ACC(kk + 1, frac);
        } else if (code == KERNEL_POLYNOMIAL) {  // in x/scale
            const real u = x / scale[t];
            real pw = 1.0, v = 0.0;
            for (int q = 0; q < k; ++q) {
                v += PARAM(q) * pw;
                ACC(q, pw);
                pw *= u;
            }
            fv += v;
        } else {  // a code without a body here: NaN, never a silent zero
            fv += sqrt((real)-1.0);
        }
    }
    return fv;
#undef PARAM
#undef SLOT
#undef ACC
}

extern "C" __global__ void fused_model(
    const real* __restrict__ shift, const real* __restrict__ energy, const real* __restrict__ p, TERM_TABLES,
    const int n, const int m, const int n_free, const int n_terms, const int want_jac,
    real* __restrict__ f_out, real* __restrict__ j_out)
{
    const int i = blockIdx.y;
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || j >= m) return;
    const real* pi = p + (long long)i * n_free;
    real* ji = j_out + (long long)i * (n_free + 1) * m + j;
    f_out[(long long)i * m + j] = channel_value(j, pi, shift, energy, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi,
                                                scale, node_start, n_free, n_terms, want_jac, ji, m);
}

// Shared memory of fused_normal (dynamic): (n_free + 2) rows of `tile` channels (Jacobian rows scaled by
// sqrt(w), the fixed-parameter scratch row n_free, the weighted residual row n_free + 1), then n_pairs
// accumulators. pair_a/pair_b list the upper triangle of [J r]'[J r] as row indices (r is row n_free + 1).
extern __shared__ real normal_smem[];

extern "C" __global__ void fused_normal(
    const real* __restrict__ shift, const real* __restrict__ energy, const real* __restrict__ p, TERM_TABLES,
    const real* __restrict__ y, const real* __restrict__ sw, const int* __restrict__ pair_a, const int* __restrict__ pair_b,
    const int n, const int m, const int n_free, const int n_terms, const int n_pairs, const int tile,
    real* __restrict__ a_out, real* __restrict__ g_out, real* __restrict__ chi2_out)
{
    const int i = blockIdx.x;
    if (i >= n) return;  // the whole block leaves together
    const int tid = threadIdx.x, nt = blockDim.x, resid = n_free + 1;
    real* rows = normal_smem;
    real* acc = normal_smem + (long long)(n_free + 2) * tile;
    const real* pi = p + (long long)i * n_free;
    const real* yi = y + (long long)i * m;
    const real* wi = sw + (long long)i * m;
    for (int e = tid; e < n_pairs; e += nt) acc[e] = 0.0;
    for (int j0 = 0; j0 < m; j0 += tile) {
        for (int c = tid; c < tile; c += nt) {
            for (int q = 0; q <= n_free; ++q) rows[q * tile + c] = 0.0;
            const int j = j0 + c;
            real r = 0.0;
            if (j < m && wi[j] > 0.0) {  // a masked channel (weight 0) adds nothing, whatever its data
                const real w = wi[j];
                const real fv = channel_value(j, pi, shift, energy, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi,
                                              scale, node_start, n_free, n_terms, 1, rows + c, tile);
                r = w * (yi[j] - fv);
                for (int q = 0; q < n_free; ++q) rows[q * tile + c] *= w;
            }
            rows[resid * tile + c] = r;
        }
        __syncthreads();
        for (int e = tid; e < n_pairs; e += nt) {
            const real* ra = rows + pair_a[e] * tile;
            const real* rb = rows + pair_b[e] * tile;
            real s = 0.0;
            for (int c = 0; c < tile; ++c) s += ra[c] * rb[c];
            acc[e] += s;
        }
        __syncthreads();
    }
    for (int e = tid; e < n_pairs; e += nt) {
        const int a = pair_a[e], b = pair_b[e];
        if (a == resid) chi2_out[i] = acc[e];
        else if (b == resid) g_out[(long long)i * n_free + a] = acc[e];
        else {
            a_out[((long long)i * n_free + a) * n_free + b] = acc[e];
            a_out[((long long)i * n_free + b) * n_free + a] = acc[e];
        }
    }
}
