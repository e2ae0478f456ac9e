"""Spectral axes: units, conversions and validation.

Conventions (DOMAIN.md §2)
--------------------------
- Raman shift  Δν̃ [cm⁻¹] = 10⁷/λ_laser[nm] − 10⁷/λ[nm]; Stokes (red of the laser) is
  positive, anti-Stokes (blue of the laser) negative.
- Absolute wavenumber ν̃ [cm⁻¹] = 10⁷/λ[nm].
- Photon energy E [eV] = hc/λ = 1239.84198 / λ[nm].

Every conversion is vectorised (NumPy or CuPy arrays, or scalars) and works in both
directions. Intensity conversions between axes multiply by the Jacobian |dx_from/dx_to| so
that band areas are preserved (``convert_intensity``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperspec._errors import AxisError

__all__ = [
    "HC_EV_NM",
    "UNITS",
    "nm2invcm",
    "invcm2nm",
    "nm2ev",
    "ev2nm",
    "raman_shift",
    "shift2nm",
    "convert_axis",
    "convert_intensity",
    "normalize_unit",
    "validate_axis",
    "laser_invcm",
    "trapezoid_weights",
]

#: hc in eV·nm (CODATA 2018: h = 4.135667696e-15 eV·s, c = 299792458 m/s).
HC_EV_NM = 1239.8419843320026
#: 10⁷ nm·cm⁻¹: converts nm to absolute wavenumbers.
NM_INVCM = 1.0e7

#: Canonical unit names and what they mean.
UNITS = {
    "nm": "wavelength in nanometres",
    "cm-1": "Raman shift in cm⁻¹ relative to the laser (Stokes positive)",
    "cm-1-abs": "absolute wavenumber in cm⁻¹ (10⁷/λ[nm])",
    "eV": "photon energy in electronvolts",
}

_UNIT_ALIASES = {
    "nm": "nm",
    "nanometer": "nm",
    "nanometers": "nm",
    "nanometre": "nm",
    "nanometres": "nm",
    "wavelength": "nm",
    "cm-1": "cm-1",
    "cm^-1": "cm-1",
    "1/cm": "cm-1",
    "cm⁻¹": "cm-1",
    "rel. 1/cm": "cm-1",
    "rel 1/cm": "cm-1",
    "raman shift": "cm-1",
    "shift": "cm-1",
    "raman": "cm-1",
    "cm-1-abs": "cm-1-abs",
    "abs cm-1": "cm-1-abs",
    "absolute cm-1": "cm-1-abs",
    "cm-1 abs": "cm-1-abs",
    "wavenumber": "cm-1-abs",
    "ev": "eV",
    "electronvolt": "eV",
    "electronvolts": "eV",
    "energy": "eV",
}


def normalize_unit(unit: str, *, field: str = "unit") -> str:
    """Return the canonical name of a spectral unit (``"nm"``, ``"cm-1"``, ``"cm-1-abs"``, ``"eV"``).

    Raises
    ------
    AxisError
        If the unit is not known; the message lists the accepted names.
    """
    if not isinstance(unit, str):
        raise AxisError(f"`{field}` must be a string such as 'cm-1', 'nm' or 'eV'; got {unit!r}.")
    key = unit.strip().lower()
    canonical = _UNIT_ALIASES.get(key)
    if canonical is None:
        valid = ", ".join(f"'{u}' ({d})" for u, d in UNITS.items())
        raise AxisError(f"`{field}` {unit!r} is not a known spectral unit. Use one of: {valid}.")
    return canonical


def _check_laser(laser_nm: Any) -> float:
    if laser_nm is None:
        raise AxisError(
            "a laser wavelength is needed to convert to or from Raman shift; pass `laser_nm=` (e.g. laser_nm=632.8 for a He-Ne laser)."
        )
    try:
        value = float(laser_nm)
    except (TypeError, ValueError):
        raise AxisError(f"`laser_nm` must be a number in nm; got {laser_nm!r}.") from None
    if not np.isfinite(value) or value <= 0:
        raise AxisError(f"`laser_nm` must be a positive, finite wavelength in nm; got {laser_nm!r}.")
    return value


def laser_invcm(laser_nm: float) -> float:
    """Absolute wavenumber of the laser line, cm⁻¹ (632.8 nm → 15 802.8 cm⁻¹)."""
    return NM_INVCM / _check_laser(laser_nm)


def nm2invcm(wavelength_nm):
    """Wavelength [nm] → absolute wavenumber [cm⁻¹]."""
    return NM_INVCM / wavelength_nm


def invcm2nm(wavenumber_invcm):
    """Absolute wavenumber [cm⁻¹] → wavelength [nm]."""
    return NM_INVCM / wavenumber_invcm


def nm2ev(wavelength_nm):
    """Wavelength [nm] → photon energy [eV]."""
    return HC_EV_NM / wavelength_nm


def ev2nm(energy_ev):
    """Photon energy [eV] → wavelength [nm]."""
    return HC_EV_NM / energy_ev


def raman_shift(wavelength_nm, laser_nm: float):
    """Wavelength [nm] → Raman shift [cm⁻¹] (Stokes positive) for a laser at ``laser_nm``."""
    return laser_invcm(laser_nm) - NM_INVCM / wavelength_nm


def shift2nm(shift_invcm, laser_nm: float):
    """Raman shift [cm⁻¹] → wavelength [nm] for a laser at ``laser_nm``."""
    return NM_INVCM / (laser_invcm(laser_nm) - shift_invcm)


def _to_nm(values, unit: str, laser_nm):
    if unit == "nm":
        return values
    if unit == "cm-1-abs":
        return invcm2nm(values)
    if unit == "eV":
        return ev2nm(values)
    return shift2nm(values, laser_nm)  # "cm-1"


def _from_nm(wavelength, unit: str, laser_nm):
    if unit == "nm":
        return wavelength
    if unit == "cm-1-abs":
        return nm2invcm(wavelength)
    if unit == "eV":
        return nm2ev(wavelength)
    return raman_shift(wavelength, laser_nm)


def convert_axis(values, from_unit: str, to_unit: str, *, laser_nm: float | None = None):
    """Convert spectral-axis values between ``nm``, ``cm-1`` (shift), ``cm-1-abs`` and ``eV``.

    ``laser_nm`` is required only when one side is a Raman shift. Works on scalars and on
    NumPy/CuPy arrays of any shape; the order of the values is kept (no sorting).

    Examples
    --------
    >>> round(float(convert_axis(523.14, "nm", "cm-1", laser_nm=632.8)), 1)
    -3312.6
    """
    src = normalize_unit(from_unit, field="from_unit")
    dst = normalize_unit(to_unit, field="to_unit")
    if src == dst:
        return values
    if "cm-1" in (src, dst):
        _check_laser(laser_nm)
    return _from_nm(_to_nm(values, src, laser_nm), dst, laser_nm)


def _dnm_dunit(wavelength_nm, unit: str):
    """|dλ/dx| for x in ``unit`` evaluated at λ (nm); shift and absolute wavenumber share it."""
    if unit == "nm":
        return 1.0 + 0.0 * wavelength_nm
    if unit in ("cm-1", "cm-1-abs"):
        return wavelength_nm**2 / NM_INVCM
    return wavelength_nm**2 / HC_EV_NM  # eV


def convert_intensity(intensity, axis, from_unit: str, to_unit: str, *, laser_nm: float | None = None):
    """Convert spectral densities between axis units, preserving band areas.

    ``intensity`` is a density per unit of ``from_unit`` (e.g. counts/nm) sampled at ``axis``
    (in ``from_unit``) along its last dimension; the result is the density per unit of
    ``to_unit`` (e.g. counts/eV): I_to = I_from · |dx_from/dx_to|. For nm → eV this is
    I_E = I_λ · λ²/hc. The sample order is kept; convert the axis with ``convert_axis``.
    """
    src = normalize_unit(from_unit, field="from_unit")
    dst = normalize_unit(to_unit, field="to_unit")
    if src == dst:
        return intensity
    wavelength = _to_nm(axis, src, laser_nm if src == "cm-1" else None)
    # |dx_src/dx_dst| = |dλ/dx_dst| / |dλ/dx_src|
    factor = _dnm_dunit(wavelength, dst) / _dnm_dunit(wavelength, src)
    return intensity * factor


def validate_axis(
    values,
    unit: str,
    *,
    laser_nm: float | None = None,
    name: str = "spectral axis",
    source: str | None = None,
) -> tuple[np.ndarray, str]:
    """Check a spectral axis and return it as a float64 NumPy array with its canonical unit.

    The axis must be one-dimensional, have at least two values, be finite and strictly
    monotonic (ascending or descending), and lie in the physical range of its unit
    (positive wavelengths and energies; Raman shifts below the laser's wavenumber).

    Raises
    ------
    AxisError
        Naming the problem (with index and values where it applies) and the fix.
    """
    where = f" in {source}" if source else ""
    canonical = normalize_unit(unit, field=f"unit of the {name}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise AxisError(f"{name}{where} must be numeric; got values of type {type(values).__name__}.") from None
    if arr.ndim != 1:
        raise AxisError(f"{name}{where} must be one-dimensional; got shape {arr.shape}. Pass one value per spectral channel.")
    if arr.size < 2:
        raise AxisError(f"{name}{where} needs at least 2 values; got {arr.size}.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise AxisError(
            f"{name}{where} has {bad.size} non-finite value(s); the first is {float(arr[i])} at index {i}. "
            "Fix the calibration or crop those channels before loading."
        )
    step = np.diff(arr)
    if not (np.all(step > 0) or np.all(step < 0)):
        direction = 1.0 if np.sum(step > 0) >= np.sum(step < 0) else -1.0
        j = int(np.flatnonzero(step * direction <= 0)[0])
        kind = "repeated" if step[j] == 0 else "out of order"
        raise AxisError(
            f"{name}{where} is not strictly monotonic: value {float(arr[j])} at index {j} is followed by "
            f"{float(arr[j + 1])} at index {j + 1} ({kind}). A spectral axis must strictly increase or "
            "decrease: drop duplicate channels, or for stitched (step-and-glue) spectra sort the "
            "channels together with the data."
        )
    if canonical in ("nm", "eV", "cm-1-abs") and arr.min() <= 0:
        raise AxisError(
            f"{name}{where} in {canonical} must be positive; the smallest value is {float(arr.min())}. "
            "If these are Raman shifts, pass unit='cm-1' and the laser wavelength."
        )
    if canonical == "cm-1" and laser_nm is not None:
        limit = laser_invcm(laser_nm)
        if arr.max() >= limit:
            raise AxisError(
                f"{name}{where}: Raman shift {float(arr.max())} cm⁻¹ is not below the laser's wavenumber "
                f"{limit:.1f} cm⁻¹ (laser {float(laser_nm)} nm), so it maps to no wavelength. "
                "Check the unit (absolute cm⁻¹ is unit='cm-1-abs') and `laser_nm`."
            )
    return arr, canonical


def trapezoid_weights(axis) -> np.ndarray:
    """Weights w (N,) with ``f @ w`` = trapezoid integral of f over ``axis`` (one dot product per spectrum)."""
    step = np.diff(np.asarray(axis, dtype=np.float64))
    return np.r_[step, 0.0] / 2 + np.r_[0.0, step] / 2
