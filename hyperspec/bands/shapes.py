"""Line shapes of the bands in a CsPbBr₃ spectrum (DOMAIN.md §3), written once against ``xp``.

Every function takes the spectral coordinate ``x`` (broadcastable, e.g. shape ``(N,)``) and
parameters broadcastable against it (e.g. shape ``(n_pixels, 1)`` for a batch), and works
unchanged on NumPy and CuPy arrays. Heights are peak heights unless stated.
"""

from __future__ import annotations

from hyperspec._backend import get_namespace
from hyperspec.bands.constants import EXP_MAX as _EXP_MAX
from hyperspec.bands.constants import HC_OVER_K_CM_K, LN2

__all__ = [
    "HC_OVER_K_CM_K",
    "lorentzian",
    "gaussian",
    "pseudo_voigt",
    "espl",
    "espl_peak",
    "bose_einstein",
    "lers",
    "lers_zero_limit",
    "hers_lognormal",
    "polynomial",
]

# HC_OVER_K_CM_K (hc/k, cm·K) and the exp clip live in hyperspec.bands.constants (one copy for the kernels too).


def lorentzian(x, center, hwhm, height=1.0):
    """Lorentzian in peak-height form: height · Γ² / ((x − x₀)² + Γ²); area = π·Γ·height."""
    d = x - center
    return height * hwhm**2 / (d * d + hwhm**2)


def gaussian(x, center, hwhm, height=1.0):
    """Gaussian with half width at half maximum ``hwhm``: height · exp(−ln2·(x − x₀)²/Γ²)."""
    xp = get_namespace(x)
    d = (x - center) / hwhm
    return height * xp.exp(-LN2 * d * d)


def pseudo_voigt(x, center, hwhm, eta, height=1.0):
    """Pseudo-Voigt: η·Lorentzian + (1 − η)·Gaussian, same centre and HWHM, 0 ≤ η ≤ 1."""
    return eta * lorentzian(x, center, hwhm, height) + (1.0 - eta) * gaussian(x, center, hwhm, height)


def espl(x, center, hwhm, beta, height=1.0, window=None):
    """ESPL band: height · L(x; x₀, Γ) · exp(β·(x − x₀)); zero outside ``window`` = (lo, hi).

    ``beta`` is the signed exponential slope (1/eV when x is in eV); the Urbach energy is
    1/|β|. The exponent is clipped so that nothing overflows far from the band.
    """
    xp = get_namespace(x)
    arg = xp.clip(beta * (x - center), -_EXP_MAX, _EXP_MAX)
    value = lorentzian(x, center, hwhm, height) * xp.exp(arg)
    if window is not None:
        lo, hi = window
        value = xp.where((x >= lo) & (x <= hi), value, 0.0)
    return value


def espl_peak(center, hwhm, beta):
    """Position of the maximum of the ESPL band: x₀ + (1 − √(1 − β²Γ²))/β for |βΓ| < 1 (x₀ at β = 0)."""
    xp = get_namespace(center)
    bg = beta * hwhm
    safe_beta = xp.where(beta == 0, 1.0, beta)
    root = xp.sqrt(xp.clip(1.0 - bg * bg, 0.0, None))
    # (1 − √(1 − b²))/β written as β·Γ²/(1 + √(1 − b²)): no cancellation near β = 0
    shift = xp.where(beta == 0, 0.0, safe_beta * hwhm * hwhm / (1.0 + root))
    return center + shift


def bose_einstein(shift, temperature):
    """Bose–Einstein occupation n(Δν̃, T) = 1/(exp(hcΔν̃/kT) − 1); Δν̃ in cm⁻¹, T in K (Δν̃ ≠ 0)."""
    xp = get_namespace(shift)
    return 1.0 / xp.expm1(HC_OVER_K_CM_K * shift / temperature)


def lers_zero_limit(width, temperature, height=1.0):
    """Limit of the l-ERS band at Δν̃ → 0: height · (kT/hc)/Γ."""
    return height * (temperature / HC_OVER_K_CM_K) / width


def lers(shift, width, temperature, height=1.0):
    """l-ERS central peak: A · [n(Δν̃, T) + 1] · Δν̃·Γ / (Δν̃² + Γ²), exact at Δν̃ = 0.

    With q = hcΔν̃/kT, (n + 1)·Δν̃ = (kT/hc) · q/(1 − e^(−q)), which is finite and smooth
    through 0, so the band is evaluated as A·(kT/hc)·q/(1 − e^(−q))·Γ/(Δν̃² + Γ²) and tends to
    A·(kT/hc)/Γ at Δν̃ = 0. Negative shifts give the anti-Stokes side, weaker than the Stokes
    side at the same |Δν̃| by exp(−hc|Δν̃|/kT) (detailed balance).
    """
    xp = get_namespace(shift)
    q = HC_OVER_K_CM_K * shift / temperature
    small = xp.abs(q) < 1e-6
    q_safe = xp.where(small, 1.0, q)
    # q/(1 − e^(−q)) with its series 1 + q/2 + q²/12 near 0
    ratio = xp.where(small, 1.0 + q / 2.0 + q * q / 12.0, q_safe / (-xp.expm1(-xp.clip(q_safe, -_EXP_MAX, _EXP_MAX))))
    return height * (temperature / HC_OVER_K_CM_K) * ratio * width / (shift * shift + width * width)


def hers_lognormal(shift, center, log_width, height=1.0):
    """h-ERS band: A · exp(−ln²(Δν̃/c)/(2s²)) for Δν̃ > 0, 0 otherwise; peak at Δν̃ = c."""
    xp = get_namespace(shift)
    positive = shift > 0
    safe = xp.where(positive, shift, center)
    ln = xp.log(safe / center)
    return xp.where(positive, height * xp.exp(-(ln * ln) / (2.0 * log_width * log_width)), 0.0)


def polynomial(u, coefficients):
    """Polynomial Σₖ cₖ·uᵏ with ``coefficients`` of shape (..., K) (lowest order first)."""
    xp = get_namespace(u, coefficients)
    out = xp.zeros(xp.broadcast_shapes(u.shape, coefficients.shape[:-1] + (1,)), dtype=u.dtype)
    for k in range(coefficients.shape[-1] - 1, -1, -1):  # Horner, loop over orders not pixels
        out = out * u + coefficients[..., k : k + 1]
    return out
