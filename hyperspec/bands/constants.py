"""Physical and numerical constants of the line shapes: the one copy.

The NumPy shapes (``hyperspec.bands.shapes``, ``hyperspec.bands.components``), the numba kernel
(``hyperspec.fit._fused_kernel``) and the CUDA kernel (``kernels/fused_model.cu``, whose ``#define`` lines
are generated from :data:`KERNEL_CONSTANTS` when it is loaded) all read them from here.
"""

from __future__ import annotations

import math

__all__ = ["HC_OVER_K_CM_K", "EXP_MAX", "LN2", "KERNEL_CONSTANTS"]

#: hc/k in cm·K (second radiation constant): hc·Δν̃/kT = 1.438777·Δν̃[cm⁻¹]/T[K].
HC_OVER_K_CM_K = 1.438776877
#: Largest argument passed to exp (float64 overflows past ~709).
EXP_MAX = 700.0
#: ln 2 (a Gaussian's half width at half maximum Γ: exp(−ln2·(x − x₀)²/Γ²)).
LN2 = math.log(2.0)

#: The constants the fused kernels use, by the name they have there (``#define HC_OVER_K …`` in CUDA).
KERNEL_CONSTANTS = {"HC_OVER_K": HC_OVER_K_CM_K, "EXP_MAX": EXP_MAX, "LN2": LN2}
