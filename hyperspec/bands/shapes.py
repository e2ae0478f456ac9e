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
    """Lorentzian in peak-height form: height · Γ² / ((x − x₀)² + Γ²); area = π·Γ·height.

    Parameters
    ----------
    x : array
        Spectral coordinate: Raman shift in cm⁻¹ or photon energy in eV.
    center : float or array
        Peak position x₀, same unit as ``x``.
    hwhm : float or array
        Half width at half maximum Γ (> 0), same unit as ``x``.
    height : float or array, optional
        Peak height, counts (default 1).

    Returns
    -------
    array
        The band at ``x``, counts, broadcast shape of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> lorentzian(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), 0.0, 1.0).round(3)
    array([0.2, 0.5, 1. , 0.5, 0.2])
    """
    d = x - center
    return height * hwhm**2 / (d * d + hwhm**2)


def gaussian(x, center, hwhm, height=1.0):
    """Gaussian with half width at half maximum ``hwhm``: height · exp(−ln2·(x − x₀)²/Γ²).

    Parameters
    ----------
    x : array
        Spectral coordinate: Raman shift in cm⁻¹ or photon energy in eV.
    center : float or array
        Peak position x₀, same unit as ``x``.
    hwhm : float or array
        Half width at half maximum Γ (> 0), same unit as ``x``.
    height : float or array, optional
        Peak height, counts (default 1).

    Returns
    -------
    array
        The band at ``x``, counts, broadcast shape of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> gaussian(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), 0.0, 1.0).round(3)
    array([0.062, 0.5  , 1.   , 0.5  , 0.062])
    """
    xp = get_namespace(x)
    d = (x - center) / hwhm
    return height * xp.exp(-LN2 * d * d)


def pseudo_voigt(x, center, hwhm, eta, height=1.0):
    """Pseudo-Voigt: η·Lorentzian + (1 − η)·Gaussian, same centre and HWHM, 0 ≤ η ≤ 1.

    Parameters
    ----------
    x : array
        Spectral coordinate: Raman shift in cm⁻¹ or photon energy in eV.
    center : float or array
        Peak position x₀, same unit as ``x``.
    hwhm : float or array
        Half width at half maximum Γ (> 0) of both parts, same unit as ``x``.
    eta : float or array
        Lorentzian fraction η, dimensionless, 0 ≤ η ≤ 1 (not checked).
    height : float or array, optional
        Peak height, counts (default 1).

    Returns
    -------
    array
        The band at ``x``, counts, broadcast shape of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> pseudo_voigt(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), 0.0, 1.0, 0.5).round(3)
    array([0.131, 0.5  , 1.   , 0.5  , 0.131])
    """
    return eta * lorentzian(x, center, hwhm, height) + (1.0 - eta) * gaussian(x, center, hwhm, height)


def espl(x, center, hwhm, beta, height=1.0, window=None):
    """ESPL band: height · L(x; x₀, Γ) · exp(β·(x − x₀)); zero outside ``window`` = (lo, hi).

    ``beta`` is the signed exponential slope (1/eV when x is in eV); the Urbach energy is
    1/|β|. The exponent is clipped to ±700 so that nothing overflows far from the band.
    ``L`` is :func:`lorentzian` (peak-height form), so ``height`` is the value at x₀, which is
    not the maximum when β ≠ 0 (see :func:`espl_peak`).

    Parameters
    ----------
    x : array
        Photon energy, eV.
    center : float or array
        Lorentzian centre x₀, eV.
    hwhm : float or array
        Lorentzian half width at half maximum Γ (> 0), eV.
    beta : float or array
        Exponential slope β, 1/eV (signed).
    height : float or array, optional
        Value at x₀, counts (default 1).
    window : (float, float), optional
        Closed interval (lo, hi) in eV outside which the band is 0; None (default): everywhere.

    Returns
    -------
    array
        The band at ``x``, counts, broadcast shape of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.array([2.30, 2.35, 2.40, 2.45, 2.50])
    >>> espl(e, 2.40, 0.05, 10.0, height=2.0).round(3)
    array([0.147, 0.607, 2.   , 1.649, 1.087])
    >>> espl(e, 2.40, 0.05, 10.0, height=2.0, window=(2.32, 2.48)).round(3)
    array([0.   , 0.607, 2.   , 1.649, 0.   ])
    """
    xp = get_namespace(x)
    arg = xp.clip(beta * (x - center), -_EXP_MAX, _EXP_MAX)
    value = lorentzian(x, center, hwhm, height) * xp.exp(arg)
    if window is not None:
        lo, hi = window
        value = xp.where((x >= lo) & (x <= hi), value, 0.0)
    return value


def espl_peak(center, hwhm, beta):
    """Position of the maximum of the ESPL band: x₀ + (1 − √(1 − β²Γ²))/β for |βΓ| < 1 (x₀ at β = 0).

    Computed as x₀ + β·Γ²/(1 + √(1 − β²Γ²)), which has no cancellation near β = 0; for
    |βΓ| ≥ 1 the square root is clipped at 0, giving x₀ + βΓ².

    Parameters
    ----------
    center : float or array
        Lorentzian centre x₀, eV (a NumPy or CuPy scalar or array: it selects the namespace).
    hwhm : float or array
        Lorentzian half width at half maximum Γ, eV.
    beta : float or array
        Exponential slope β, 1/eV.

    Returns
    -------
    array
        Photon energy of the maximum, eV, broadcast shape of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> espl_peak(np.array([2.40, 2.40]), 0.05, np.array([0.0, 10.0])).round(4)
    array([2.4   , 2.4134])
    """
    xp = get_namespace(center)
    bg = beta * hwhm
    safe_beta = xp.where(beta == 0, 1.0, beta)
    root = xp.sqrt(xp.clip(1.0 - bg * bg, 0.0, None))
    # (1 − √(1 − b²))/β written as β·Γ²/(1 + √(1 − b²)): no cancellation near β = 0
    shift = xp.where(beta == 0, 0.0, safe_beta * hwhm * hwhm / (1.0 + root))
    return center + shift


def bose_einstein(shift, temperature):
    """Bose–Einstein occupation n(Δν̃, T) = 1/(exp(hcΔν̃/kT) − 1); Δν̃ in cm⁻¹, T in K (Δν̃ ≠ 0).

    Parameters
    ----------
    shift : array
        Raman shift Δν̃, cm⁻¹ (non-zero: n diverges at 0; negative gives n < −1, the anti-Stokes form).
    temperature : float or array
        Temperature T, K.

    Returns
    -------
    array
        Occupation number n, dimensionless, broadcast shape of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> bose_einstein(np.array([50.0, 100.0, 500.0]), 300.0).round(3)
    array([3.69 , 1.625, 0.1  ])
    """
    xp = get_namespace(shift)
    return 1.0 / xp.expm1(HC_OVER_K_CM_K * shift / temperature)


def lers_zero_limit(width, temperature, height=1.0):
    """Limit of the l-ERS band at Δν̃ → 0: height · (kT/hc)/Γ.

    Parameters
    ----------
    width : float or array
        Width Γ of the l-ERS band, cm⁻¹.
    temperature : float or array
        Temperature T, K.
    height : float or array, optional
        Amplitude A, counts (default 1).

    Returns
    -------
    float or array
        :func:`lers` at Δν̃ = 0, counts.

    Examples
    --------
    >>> round(float(lers_zero_limit(10.0, 300.0)), 2)
    20.85
    """
    return height * (temperature / HC_OVER_K_CM_K) / width


def lers(shift, width, temperature, height=1.0):
    """l-ERS central peak: A · [n(Δν̃, T) + 1] · Δν̃·Γ / (Δν̃² + Γ²), exact at Δν̃ = 0.

    With q = hcΔν̃/kT, (n + 1)·Δν̃ = (kT/hc) · q/(1 − e^(−q)), which is finite and smooth
    through 0, so the band is evaluated as A·(kT/hc)·q/(1 − e^(−q))·Γ/(Δν̃² + Γ²) and tends to
    A·(kT/hc)/Γ at Δν̃ = 0. Negative shifts give the anti-Stokes side, weaker than the Stokes
    side at the same |Δν̃| by exp(−hc|Δν̃|/kT) (detailed balance). Below |q| = 1e-6 the
    series 1 + q/2 + q²/12 replaces q/(1 − e^(−q)).

    Parameters
    ----------
    shift : array
        Raman shift Δν̃, cm⁻¹ (Stokes > 0, anti-Stokes < 0; 0 allowed).
    width : float or array
        Width Γ, cm⁻¹.
    temperature : float or array
        Temperature T, K.
    height : float or array, optional
        Amplitude A, counts (default 1); not the peak height: the value at Δν̃ = 0 is
        :func:`lers_zero_limit`, and the maximum lies slightly on the Stokes side.

    Returns
    -------
    array
        The band at ``shift``, counts, broadcast shape of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> lers(np.array([-20.0, 0.0, 20.0]), 10.0, 300.0).round(2)
    array([ 3.97, 20.85,  4.37])
    """
    xp = get_namespace(shift)
    q = HC_OVER_K_CM_K * shift / temperature
    small = xp.abs(q) < 1e-6
    q_safe = xp.where(small, 1.0, q)
    # q/(1 − e^(−q)) with its series 1 + q/2 + q²/12 near 0
    ratio = xp.where(small, 1.0 + q / 2.0 + q * q / 12.0, q_safe / (-xp.expm1(-xp.clip(q_safe, -_EXP_MAX, _EXP_MAX))))
    return height * (temperature / HC_OVER_K_CM_K) * ratio * width / (shift * shift + width * width)


def hers_lognormal(shift, center, log_width, height=1.0):
    """h-ERS band: A · exp(−ln²(Δν̃/c)/(2s²)) for Δν̃ > 0, 0 otherwise; peak at Δν̃ = c.

    Parameters
    ----------
    shift : array
        Raman shift Δν̃, cm⁻¹.
    center : float or array
        Peak position c (> 0), cm⁻¹.
    log_width : float or array
        Width s on the log axis, dimensionless (> 0).
    height : float or array, optional
        Peak height A, counts (default 1).

    Returns
    -------
    array
        The band at ``shift``, counts, broadcast shape of the inputs; 0 where Δν̃ ≤ 0.

    Examples
    --------
    >>> import numpy as np
    >>> hers_lognormal(np.array([-100.0, 0.0, 250.0, 500.0, 1000.0]), 500.0, 0.3).round(3)
    array([0.   , 0.   , 0.069, 1.   , 0.069])
    """
    xp = get_namespace(shift)
    positive = shift > 0
    safe = xp.where(positive, shift, center)
    ln = xp.log(safe / center)
    return xp.where(positive, height * xp.exp(-(ln * ln) / (2.0 * log_width * log_width)), 0.0)


def polynomial(u, coefficients):
    """Polynomial Σₖ cₖ·uᵏ with ``coefficients`` of shape (..., K) (lowest order first).

    Evaluated by Horner's rule, one loop step per order (never per pixel).

    Parameters
    ----------
    u : array, shape (m,)
        Abscissa, dimensionless (e.g. a scaled Raman shift); needs ``.shape`` and ``.dtype``.
    coefficients : array, shape (..., K)
        Coefficients c₀ … c_{K−1}, lowest order first, counts per unit of uᵏ; one row per pixel.

    Returns
    -------
    array, shape broadcast of ``u.shape`` and ``coefficients.shape[:-1] + (1,)``
        The polynomial, counts, in ``u``'s dtype.

    Examples
    --------
    >>> import numpy as np
    >>> u = np.array([-1.0, 0.0, 1.0])
    >>> polynomial(u, np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]))
    array([[ 2.,  1.,  6.],
           [-1.,  0.,  1.]])
    """
    xp = get_namespace(u, coefficients)
    out = xp.zeros(xp.broadcast_shapes(u.shape, coefficients.shape[:-1] + (1,)), dtype=u.dtype)
    for k in range(coefficients.shape[-1] - 1, -1, -1):  # Horner, loop over orders not pixels
        out = out * u + coefficients[..., k : k + 1]
    return out
