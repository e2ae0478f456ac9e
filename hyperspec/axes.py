"""Spectral axes: units, conversions and validation.

Conventions (DOMAIN.md §2)
--------------------------
- Raman shift  Δν̃ [cm⁻¹] = 10⁷/λ_laser[nm] − 10⁷/λ[nm]; Stokes (red of the laser) is
  positive, anti-Stokes (blue of the laser) negative.
- Absolute wavenumber ν̃ [cm⁻¹] = 10⁷/λ[nm].
- Photon energy E [eV] = hc/λ = 1239.84198 / λ[nm].
- Every formula above takes the *vacuum* wavelength. Grating spectrometers and line lists
  (neon, mercury …) usually quote wavelengths in standard air, shorter by the refractive
  index n ≈ 1.00028; ``air_to_vacuum`` / ``vacuum_to_air`` convert (IAU standard, Morton 2000).

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
    "MEDIA",
    "AIR_MIN_NM",
    "normalize_medium",
    "refractive_index_air",
    "air_to_vacuum",
    "vacuum_to_air",
    "to_vacuum",
    "from_vacuum",
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
    """Return the canonical name of a spectral unit.

    Parameters
    ----------
    unit : str
        A unit name or alias, without regard to case or surrounding spaces: ``"nm"``, ``"wavelength"``,
        ``"cm-1"``, ``"1/cm"``, ``"Raman shift"`` (Raman shift, cm⁻¹), ``"cm-1-abs"``, ``"wavenumber"``
        (absolute wavenumber, cm⁻¹), ``"eV"``, ``"energy"`` …
    field : str, optional
        Name of the value in error messages. Default is ``"unit"``.

    Returns
    -------
    str
        One of ``"nm"``, ``"cm-1"`` (Raman shift), ``"cm-1-abs"`` (absolute wavenumber) or ``"eV"``.

    Raises
    ------
    AxisError
        If ``unit`` is not a string or not a known unit; the message lists the accepted names.

    Examples
    --------
    >>> normalize_unit(" Raman Shift ")
    'cm-1'
    >>> normalize_unit("wavenumber")
    'cm-1-abs'
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
    """Return the absolute wavenumber of the laser line.

    Parameters
    ----------
    laser_nm : float
        Laser wavelength, nm.

    Returns
    -------
    float
        10⁷ / ``laser_nm``, cm⁻¹ (632.8 nm → 15 802.8 cm⁻¹).

    Raises
    ------
    AxisError
        If ``laser_nm`` is None, not a number, not finite or not positive.

    Examples
    --------
    >>> round(laser_invcm(632.8), 1)
    15802.8
    """
    return NM_INVCM / _check_laser(laser_nm)


def nm2invcm(wavelength_nm):
    """Convert wavelength to absolute wavenumber.

    Parameters
    ----------
    wavelength_nm : float or array
        Wavelength, nm (a scalar or a NumPy/CuPy array of any shape).

    Returns
    -------
    float or array
        Absolute wavenumber 10⁷ / λ, cm⁻¹, of the same shape.

    Examples
    --------
    >>> nm2invcm(500.0)
    20000.0
    """
    return NM_INVCM / wavelength_nm


def invcm2nm(wavenumber_invcm):
    """Convert absolute wavenumber to wavelength.

    Parameters
    ----------
    wavenumber_invcm : float or array
        Absolute wavenumber, cm⁻¹ (a scalar or a NumPy/CuPy array of any shape).

    Returns
    -------
    float or array
        Wavelength 10⁷ / ν̃, nm, of the same shape.

    Examples
    --------
    >>> invcm2nm(20000.0)
    500.0
    """
    return NM_INVCM / wavenumber_invcm


def nm2ev(wavelength_nm):
    """Convert wavelength to photon energy.

    Parameters
    ----------
    wavelength_nm : float or array
        Wavelength, nm (a scalar or a NumPy/CuPy array of any shape).

    Returns
    -------
    float or array
        Photon energy hc / λ, eV, of the same shape (``HC_EV_NM`` = 1239.84 eV·nm).

    Examples
    --------
    >>> round(nm2ev(500.0), 4)
    2.4797
    """
    return HC_EV_NM / wavelength_nm


def ev2nm(energy_ev):
    """Convert photon energy to wavelength.

    Parameters
    ----------
    energy_ev : float or array
        Photon energy, eV (a scalar or a NumPy/CuPy array of any shape).

    Returns
    -------
    float or array
        Wavelength hc / E, nm, of the same shape.

    Examples
    --------
    >>> round(ev2nm(2.0), 3)
    619.921
    """
    return HC_EV_NM / energy_ev


def raman_shift(wavelength_nm, laser_nm: float):
    """Convert wavelength to Raman shift.

    Parameters
    ----------
    wavelength_nm : float or array
        Wavelength of the scattered light, nm (a scalar or a NumPy/CuPy array of any shape).
    laser_nm : float
        Laser wavelength, nm.

    Returns
    -------
    float or array
        Raman shift 10⁷/λ_laser − 10⁷/λ, cm⁻¹, of the same shape: positive on the Stokes side
        (red of the laser), negative on the anti-Stokes side.

    Raises
    ------
    AxisError
        If ``laser_nm`` is missing, not a number, not finite or not positive.

    Examples
    --------
    >>> round(raman_shift(650.0, 632.8), 1)
    418.2
    """
    return laser_invcm(laser_nm) - NM_INVCM / wavelength_nm


def shift2nm(shift_invcm, laser_nm: float):
    """Convert Raman shift to wavelength.

    Parameters
    ----------
    shift_invcm : float or array
        Raman shift, cm⁻¹, Stokes positive (a scalar or a NumPy/CuPy array of any shape).
    laser_nm : float
        Laser wavelength, nm.

    Returns
    -------
    float or array
        Wavelength 10⁷ / (10⁷/λ_laser − Δν̃), nm, of the same shape.

    Raises
    ------
    AxisError
        If ``laser_nm`` is missing, not a number, not finite or not positive.

    Examples
    --------
    >>> round(shift2nm(520.7, 532.0), 2)
    547.16
    """
    return NM_INVCM / (laser_invcm(laser_nm) - shift_invcm)


#: Canonical unit → (to nm, from nm), each ``f(values, laser_nm)``; only the Raman shift uses the laser.
_VIA_NM = {
    "nm": (lambda values, _laser: values, lambda wavelength, _laser: wavelength),
    "cm-1-abs": (lambda values, _laser: invcm2nm(values), lambda wavelength, _laser: nm2invcm(wavelength)),
    "eV": (lambda values, _laser: ev2nm(values), lambda wavelength, _laser: nm2ev(wavelength)),
    "cm-1": (shift2nm, raman_shift),
}


def _to_nm(values, unit: str, laser_nm):
    """Values in the canonical ``unit`` → wavelength (nm)."""
    return _VIA_NM[unit][0](values, laser_nm)


def _from_nm(wavelength, unit: str, laser_nm):
    """Wavelength (nm) → values in the canonical ``unit``."""
    return _VIA_NM[unit][1](wavelength, laser_nm)


def convert_axis(values, from_unit: str, to_unit: str, *, laser_nm: float | None = None):
    """Convert spectral-axis values between ``nm``, ``cm-1`` (shift), ``cm-1-abs`` and ``eV``.

    Works on scalars and on NumPy/CuPy arrays of any shape; the order of the values is kept
    (no sorting). Intensities need their own conversion (``convert_intensity``).

    Parameters
    ----------
    values : float or array
        Axis values in ``from_unit``.
    from_unit, to_unit : str
        Units (any alias ``normalize_unit`` accepts): ``"nm"`` (wavelength, nm), ``"cm-1"`` (Raman
        shift, cm⁻¹, Stokes positive), ``"cm-1-abs"`` (absolute wavenumber, cm⁻¹) or ``"eV"``.
    laser_nm : float, optional
        Laser wavelength, nm; required only when one side is a Raman shift.

    Returns
    -------
    float or array
        The values in ``to_unit``, same shape; ``values`` itself when both units are the same.

    Raises
    ------
    AxisError
        If a unit is unknown, or a Raman shift is involved and ``laser_nm`` is missing or invalid.

    See Also
    --------
    convert_intensity : the matching conversion of spectral densities.

    Examples
    --------
    >>> round(float(convert_axis(523.14, "nm", "cm-1", laser_nm=632.8)), 1)
    -3312.6
    >>> round(float(convert_axis(2.0, "eV", "nm")), 2)
    619.92
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

    The result is the density per unit of ``to_unit``: I_to = I_from · |dx_from/dx_to|. For
    nm → eV this is I_E = I_λ · λ²/hc. The sample order is kept; convert the axis itself with
    ``convert_axis``.

    Parameters
    ----------
    intensity : array, shape (..., N)
        Density per unit of ``from_unit`` (e.g. counts/nm) along the last dimension (NumPy or CuPy).
    axis : array, shape (N,)
        Where ``intensity`` is sampled, in ``from_unit``.
    from_unit, to_unit : str
        Units (any alias ``normalize_unit`` accepts): ``"nm"``, ``"cm-1"`` (Raman shift, cm⁻¹),
        ``"cm-1-abs"`` (absolute wavenumber, cm⁻¹) or ``"eV"``.
    laser_nm : float, optional
        Laser wavelength, nm; required only when ``from_unit`` is a Raman shift (a shift and the
        absolute wavenumber share the Jacobian, so the laser is not needed the other way).

    Returns
    -------
    array, shape (..., N)
        Density per unit of ``to_unit`` (e.g. counts/eV); ``intensity`` itself when the units match.

    Raises
    ------
    AxisError
        If a unit is unknown, or ``from_unit`` is a Raman shift and ``laser_nm`` is missing or invalid.

    See Also
    --------
    convert_axis : the conversion of the axis values.

    Examples
    --------
    One count/nm at 500 nm is λ²/hc ≈ 201.6 counts/eV:

    >>> import numpy as np
    >>> np.round(convert_intensity(np.array([1.0, 1.0]), np.array([500.0, 600.0]), "nm", "eV"), 1)
    array([201.6, 290.4])
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
    (positive wavelengths, energies and absolute wavenumbers; Raman shifts below the laser's
    wavenumber when ``laser_nm`` is given). The order of the values is kept.

    Parameters
    ----------
    values : array-like, shape (N,)
        The channel positions in ``unit`` (NumPy or any sequence; CuPy arrays must be moved to the host).
    unit : str
        The axis unit, any alias ``normalize_unit`` accepts (nm, cm⁻¹ shift, absolute cm⁻¹, eV).
    laser_nm : float, optional
        Laser wavelength, nm; when given, a Raman-shift axis must stay below the laser's wavenumber.
    name : str, optional
        What to call the axis in error messages. Default is ``"spectral axis"``.
    source : str, optional
        Where the axis came from (a file path), for error messages.

    Returns
    -------
    axis : numpy.ndarray, shape (N,)
        The values as float64.
    unit : str
        The canonical unit: ``"nm"``, ``"cm-1"``, ``"cm-1-abs"`` or ``"eV"``.

    Raises
    ------
    AxisError
        Naming the problem (with index and values where it applies) and the fix.

    Examples
    --------
    >>> axis, unit = validate_axis([300, 200, 100], "Raman shift", laser_nm=632.8)
    >>> axis, unit
    (array([300., 200., 100.]), 'cm-1')
    >>> validate_axis([500.0, 501.0, 501.0], "nm")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    hyperspec._errors.AxisError: spectral axis is not strictly monotonic: value 501.0 at index 1 is followed by 501.0 ...
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
    """Return trapezoid-rule weights for an axis, so that an integral is one dot product per spectrum.

    Parameters
    ----------
    axis : array-like, shape (N,)
        Sample positions (any unit, ascending or descending; a descending axis gives negative weights).

    Returns
    -------
    numpy.ndarray, shape (N,)
        Weights w, in the axis unit, with ``f @ w`` = the trapezoid integral of f over ``axis``
        (e.g. counts·cm⁻¹ for counts on a Raman-shift axis).

    Examples
    --------
    >>> w = trapezoid_weights([0.0, 1.0, 3.0])
    >>> w
    array([0.5, 1.5, 1. ])
    >>> float(w @ [1.0, 1.0, 1.0])
    3.0
    """
    step = np.diff(np.asarray(axis, dtype=np.float64))
    return np.r_[step, 0.0] / 2 + np.r_[0.0, step] / 2


#: The media a wavelength can be quoted in.
MEDIA = ("air", "vacuum")
#: Shortest wavelength (nm) accepted in air: below ≈185 nm (the O₂ Schumann–Runge bands) air is opaque,
#: no spectrometer measures in it and wavelengths there are always quoted in vacuum.
AIR_MIN_NM = 185.0

_MEDIUM_ALIASES = {"air": "air", "std air": "air", "standard air": "air", "vacuum": "vacuum", "vac": "vacuum", "vac.": "vacuum"}


def normalize_medium(medium: str, *, field: str = "medium") -> str:
    """Return the canonical name of the medium a wavelength is quoted in.

    Parameters
    ----------
    medium : str
        ``"air"`` (standard air: 15 °C, 101 325 Pa, dry, 450 ppm CO₂) or ``"vacuum"`` (also ``"vac"``),
        without regard to case or surrounding spaces.
    field : str, optional
        Name of the value in error messages. Default is ``"medium"``.

    Returns
    -------
    str
        ``"air"`` or ``"vacuum"``.

    Raises
    ------
    AxisError
        If ``medium`` is not one of the accepted names; the message lists them.

    Examples
    --------
    >>> normalize_medium(" Vac ")
    'vacuum'
    """
    key = medium.strip().lower() if isinstance(medium, str) else None
    if key not in _MEDIUM_ALIASES:
        raise AxisError(
            f"`{field}` must be 'air' (wavelengths as a grating spectrometer or a lamp line list reports them) "
            f"or 'vacuum' (the wavelengths hc/E uses); got {medium!r}."
        )
    return _MEDIUM_ALIASES[key]


def _xp_of(nm, xp):
    if xp is not None:
        return xp
    from hyperspec._backend import get_namespace  # noqa: PLC0415

    return get_namespace(nm)


def _check_air_range(nm, xp, what: str) -> None:
    low = xp.asarray(nm) < AIR_MIN_NM  # NaN compares False and passes through
    if bool(xp.any(low)):
        first = float(xp.asarray(nm)[low].ravel()[0]) if xp.asarray(nm).ndim else float(nm)
        raise AxisError(
            f"{what} {first:g} nm is below {AIR_MIN_NM:g} nm, where air is opaque and wavelengths are always "
            "quoted in vacuum; nothing to convert. Pass medium='vacuum' for such an axis (or check the unit: "
            "Å would be 10× larger than nm)."
        )


def refractive_index_air(vacuum_nm, *, xp=None):
    """Refractive index of standard air at a vacuum wavelength (IAU standard; Morton 2000).

    n = 1 + 8.34254·10⁻⁵ + 2.406147·10⁻²/(130 − s²) + 1.5998·10⁻⁴/(38.9 − s²), with s = 10³/λ_vac[nm]
    the vacuum wavenumber in µm⁻¹: the formula of Birch & Downs (1994) for dry air at 15 °C,
    101 325 Pa and 450 ppm CO₂, as adopted by the IAU and given by Morton (2000).

    Parameters
    ----------
    vacuum_nm : float or array
        Vacuum wavelength, nm (a scalar or a NumPy/CuPy array of any shape), ≥ ``AIR_MIN_NM`` (185 nm).
    xp : module, optional
        Array namespace (``numpy`` or ``cupy``); default follows ``vacuum_nm``.

    Returns
    -------
    float or array
        The refractive index n (dimensionless, ≈ 1.000278 at 633 nm), same shape.

    References
    ----------
    .. [1] D. C. Morton, "Atomic data for resonance absorption lines. II. Wavelengths longward of the
       Lyman limit for heavy elements", ApJS 130, 403 (2000), eq. 8.
    .. [2] K. P. Birch and M. J. Downs, "Correction to the updated Edlén equation for the refractive
       index of air", Metrologia 31, 315 (1994).

    Examples
    --------
    >>> round(float(refractive_index_air(633.0)), 7)
    1.0002765
    """
    xp = _xp_of(vacuum_nm, xp)
    s2 = (1.0e3 / xp.asarray(vacuum_nm, dtype=xp.float64)) ** 2
    n = 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)
    return float(n) if n.ndim == 0 else n


def vacuum_to_air(vacuum_nm, *, xp=None):
    """Convert vacuum wavelengths to standard-air wavelengths: λ_air = λ_vac / n(λ_vac).

    Parameters
    ----------
    vacuum_nm : float or array
        Vacuum wavelength, nm (a scalar or a NumPy/CuPy array of any shape); NaN passes through.
    xp : module, optional
        Array namespace (``numpy`` or ``cupy``); default follows ``vacuum_nm``.

    Returns
    -------
    float or array
        Wavelength in standard air, nm, same shape (float64).

    Raises
    ------
    AxisError
        If a wavelength is below ``AIR_MIN_NM`` (185 nm), where air is opaque.

    Notes
    -----
    The refractive index is ``refractive_index_air`` (IAU standard, Morton 2000 = Birch & Downs 1994).
    Checked against published pairs from 200 to 1100 nm (``tests/test_air_vacuum.py``) to 1e-4 nm;
    above 1100 nm it is the same dispersion formula, untested here.

    See Also
    --------
    air_to_vacuum : the inverse.

    Examples
    --------
    >>> round(vacuum_to_air(200.0), 4)  # IDL astrolib VACTOAIR (Ciddor 1996): 1999.353 Å
    199.9352
    """
    xp = _xp_of(vacuum_nm, xp)
    lam = xp.asarray(vacuum_nm, dtype=xp.float64)
    _check_air_range(lam, xp, "vacuum wavelength")
    out = lam / refractive_index_air(lam, xp=xp)
    return float(out) if out.ndim == 0 else out


def air_to_vacuum(air_nm, *, xp=None):
    """Convert standard-air wavelengths to vacuum wavelengths: λ_vac = n(λ_vac) · λ_air.

    The index depends on the vacuum wavelength, so λ_vac is found by fixed-point iteration from
    λ_vac = λ_air; each pass gains ≈5 digits (|dn/dλ|·λ ≈ 10⁻⁵), and the 4 fixed passes (no
    data-dependent loop, the same on NumPy and CuPy) leave it exact to float64 round-off:
    ``vacuum_to_air(air_to_vacuum(x))`` returns x to < 1e-12 nm.

    Parameters
    ----------
    air_nm : float or array
        Wavelength in standard air, nm (a scalar or a NumPy/CuPy array of any shape); NaN passes through.
    xp : module, optional
        Array namespace (``numpy`` or ``cupy``); default follows ``air_nm``.

    Returns
    -------
    float or array
        Vacuum wavelength, nm, same shape (float64).

    Raises
    ------
    AxisError
        If a wavelength is below ``AIR_MIN_NM`` (185 nm), where air is opaque.

    References
    ----------
    .. [1] D. C. Morton, ApJS 130, 403 (2000); K. P. Birch and M. J. Downs, Metrologia 31, 315 (1994).

    See Also
    --------
    vacuum_to_air : the inverse; refractive_index_air : the index used.

    Examples
    --------
    >>> round(air_to_vacuum(605.6125), 5)  # Kr line; IDL astrolib AIRTOVAC: 6057.8019 Å
    605.78019
    """
    xp = _xp_of(air_nm, xp)
    air = xp.asarray(air_nm, dtype=xp.float64)
    _check_air_range(air, xp, "air wavelength")
    vac = air
    for _ in range(4):
        vac = air * refractive_index_air(vac, xp=xp)
    return float(vac) if vac.ndim == 0 else vac


def to_vacuum(nm, medium: str, *, xp=None):
    """Return vacuum wavelengths from wavelengths quoted in ``medium``.

    Parameters
    ----------
    nm : float or array
        Wavelengths, nm, in ``medium`` (NumPy/CuPy array or scalar).
    medium : {"air", "vacuum"}
        The medium of ``nm``.
    xp : module, optional
        Array namespace; default follows ``nm``.

    Returns
    -------
    float or array
        Vacuum wavelengths, nm: ``nm`` itself for ``"vacuum"``, ``air_to_vacuum(nm)`` for ``"air"``.

    Examples
    --------
    >>> to_vacuum(500.0, "vacuum"), round(to_vacuum(500.0, "air"), 4)
    (500.0, 500.1395)
    """
    return air_to_vacuum(nm, xp=xp) if normalize_medium(medium) == "air" else nm


def from_vacuum(vacuum_nm, medium: str, *, xp=None):
    """Return wavelengths in ``medium`` from vacuum wavelengths (the inverse of ``to_vacuum``).

    Parameters
    ----------
    vacuum_nm : float or array
        Vacuum wavelengths, nm (NumPy/CuPy array or scalar).
    medium : {"air", "vacuum"}
        The medium wanted.
    xp : module, optional
        Array namespace; default follows ``vacuum_nm``.

    Returns
    -------
    float or array
        Wavelengths in ``medium``, nm.

    Examples
    --------
    >>> round(from_vacuum(500.1395, "air"), 4)
    500.0
    """
    return vacuum_to_air(vacuum_nm, xp=xp) if normalize_medium(medium) == "air" else vacuum_nm
