"""The map data model: an ``xarray.Dataset`` with a ``spectra`` variable.

- ``spectra`` has dims ``(..., "spectral")`` with the spectral dim last, e.g. ``("y", "x",
  "spectral")`` for a map, ``("x", "spectral")`` for a line, ``("t", "x", "spectral")`` or
  ``("t", "y", "x", "spectral")`` for kinetic maps, ``("power", "y", "x", "spectral")`` for a
  power series. Any other leading dim name is allowed (series of temperature, bias …).
- The spectral dim carries the coordinates ``wavelength`` (nm), ``energy`` (eV) and, when the
  laser is known, ``shift`` (Raman shift, cm⁻¹). Channels are stored in the canonical order:
  ascending wavelength, i.e. ascending Raman shift and descending energy. Input in another
  order is reversed *together with its axis* and the reversal is recorded in the history.
- Wavelengths carry their medium: ``attrs["wavelength_medium"]`` and ``attrs["laser_medium"]``
  (``"air"`` or ``"vacuum"``; a store without them is vacuum). ``energy`` and ``shift`` are always
  computed from vacuum wavelengths; ``to_medium`` re-expresses a map in the other medium.
- Spatial coords are in µm (``x``, ``y``), time in s (``t``).
- ``attrs``: ``laser_nm`` (absent when unknown), ``spectral_unit`` (the unit the axis came
  in), ``source``, ``history`` (CF text, one line per processing step) and ``hyperspec_history``
  (the same steps as a JSON list of records; read them with :func:`history_records`).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from hyperspec import axes as _axes
from hyperspec._errors import AxisError, DataModelError

__all__ = [
    "SPECTRAL_DIM",
    "COORD_UNITS",
    "COORD_LONG_NAMES",
    "from_array",
    "validate_map",
    "pixel_dims",
    "n_pixels",
    "add_history",
    "history_records",
    "history_line",
    "HISTORY_RECORDS_ATTR",
    "shift_axis",
    "with_laser",
    "to_medium",
    "wavelength_medium",
    "laser_medium",
    "laser_vacuum_nm",
    "map_spectra",
]

SPECTRAL_DIM = "spectral"

#: Units of the coordinates hyperspec knows about (stored in each coordinate's ``units`` attr).
COORD_UNITS = {
    "shift": "cm-1",
    "wavelength": "nm",
    "energy": "eV",
    "wavenumber": "cm-1",
    "x": "um",
    "y": "um",
    "z": "um",
    "t": "s",
    "power": "mW",
    "temperature": "K",
}

#: CF ``long_name`` of those coordinates.
COORD_LONG_NAMES = {
    "shift": "Raman shift",
    "wavelength": "wavelength",
    "energy": "photon energy",
    "wavenumber": "absolute wavenumber",
    "x": "stage position x",
    "y": "stage position y",
    "z": "stage position z",
    "t": "time",
    "power": "excitation power",
    "temperature": "temperature",
}

_DEFAULT_DIMS = {
    1: ("spectral",),
    2: ("x", "spectral"),
    3: ("y", "x", "spectral"),
    4: ("t", "y", "x", "spectral"),
}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The attr that holds the structured processing records (a JSON list of ``{"step", "time", "params"}``);
#: ``attrs["history"]`` holds the same steps as CF text, one line per step.
HISTORY_RECORDS_ATTR = "hyperspec_history"


def _history_value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '="' for c in value):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def history_line(record: Mapping) -> str:
    """One CF ``history`` line for a processing record: ``"<time> hyperspec <step> key=value …"``.

    Parameters
    ----------
    record : mapping
        A record as :func:`history_records` returns it (``step``, ``time``, ``params``).

    Returns
    -------
    str
        The line, without a newline; values that are not a plain word are written as compact JSON.

    Examples
    --------
    >>> history_line({"step": "crop", "time": "2026-12-03T09:00:00Z", "params": {"lo": 100.0, "hi": 3500, "unit": "cm-1"}})
    '2026-12-03T09:00:00Z hyperspec crop lo=100.0 hi=3500 unit=cm-1'
    """
    params = record.get("params") or {}
    words = [str(record.get("time", "?")), "hyperspec", str(record.get("step", "?"))]
    words += [f"{k}={_history_value(v)}" for k, v in params.items()] if isinstance(params, Mapping) else [_history_value(params)]
    return " ".join(words)


def history_records(attrs: Mapping) -> list[dict]:
    """The processing records of a map's or results' attrs, oldest first.

    Reads ``attrs["hyperspec_history"]`` (a JSON list, as :func:`add_history` writes it) or, for
    stores written before it existed, the old form: ``attrs["history"]`` as a list of records. A
    ``history`` that is CF text only (a file another tool wrote) has no records: ``[]``.

    Parameters
    ----------
    attrs : mapping
        A Dataset's attrs.

    Returns
    -------
    list of dict
        Copies of the records, each with ``step``, ``time`` and ``params``.

    Raises
    ------
    DataModelError
        When ``attrs["hyperspec_history"]`` is not a JSON list of records.

    Examples
    --------
    >>> attrs = {}
    >>> add_history(attrs, "crop", lo=100.0, hi=3500)
    >>> [r["step"] for r in history_records(attrs)], history_records({"history": [{"step": "old"}]})[0]["step"]
    (['crop'], 'old')
    """
    raw = attrs.get(HISTORY_RECORDS_ATTR)
    if raw is not None:
        try:
            records = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        except ValueError as err:
            raise DataModelError(
                f"attrs[{HISTORY_RECORDS_ATTR!r}] is not valid JSON ({err}); delete the attr to drop the structured history."
            ) from None
        if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
            raise DataModelError(f"attrs[{HISTORY_RECORDS_ATTR!r}] must be a JSON list of records; got {type(records).__name__}.")
        return [dict(r) for r in records]
    old = attrs.get("history")
    if isinstance(old, (list, tuple)):
        return [dict(r) for r in old if isinstance(r, Mapping)]
    return []


def add_history(attrs: dict, step: str, **params: Any) -> None:
    """Append a processing record to ``attrs`` in place: a CF ``history`` line and a structured record.

    ``attrs["history"]`` becomes CF text, one line per step (``"2026-12-03T09:00:00Z hyperspec crop
    lo=100.0 hi=3500"``), appended to what was there (a foreign file's text history is kept; the old
    list form is rewritten as lines). ``attrs["hyperspec_history"]`` holds every record as a JSON
    string; read it with :func:`history_records`.

    Parameters
    ----------
    attrs : dict
        A Dataset's (or any) attrs; both attrs are replaced by new values.
    step : str
        Name of the processing step.
    **params
        The step's parameters; NumPy scalars and arrays become Python numbers and lists, anything else
        not JSON-like becomes its ``repr`` (the history survives a Zarr and a netCDF round trip).

    Examples
    --------
    >>> import numpy as np
    >>> attrs = {}
    >>> add_history(attrs, "crop", lo=np.float64(100.0), hi=3500)
    >>> record = history_records(attrs)[-1]
    >>> record["step"], record["params"], sorted(record)
    ('crop', {'lo': 100.0, 'hi': 3500}, ['params', 'step', 'time'])
    >>> attrs["history"].split(" ", 1)[1]
    'hyperspec crop lo=100.0 hi=3500'
    """
    records = history_records(attrs)
    record = {"step": step, "time": _now(), "params": _jsonable(params)}
    old = attrs.get("history")
    text = old.rstrip("\n") if isinstance(old, str) else "\n".join(history_line(r) for r in records)
    attrs["history"] = f"{text}\n{history_line(record)}" if text else history_line(record)
    attrs[HISTORY_RECORDS_ATTR] = json.dumps([*records, record], ensure_ascii=False)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _float_dtype(dtype: np.dtype, *, source: str) -> np.dtype:
    """Dtype policy: float32/float64 kept, float16 and ≤16-bit integers → float32, wider ints → float64."""
    if dtype.kind == "f":
        return np.dtype(np.float32) if dtype.itemsize <= 4 else np.dtype(dtype)
    if dtype.kind in "iu":
        return np.dtype(np.float32) if dtype.itemsize <= 2 else np.dtype(np.float64)
    if dtype.kind == "c":
        raise DataModelError(f"spectra{source} are complex ({dtype}); pass real intensities (e.g. np.abs(data)).")
    raise DataModelError(f"spectra{source} must be numeric intensities; got dtype {dtype}.")


def _check_dims(dims: Sequence[str], ndim: int, *, source: str) -> tuple[str, ...]:
    dims = tuple(str(d) for d in dims)
    if len(dims) != ndim:
        raise DataModelError(
            f"`dims` {dims} names {len(dims)} dimension(s) but the data{source} has {ndim}; "
            f"name one dim per axis, with {SPECTRAL_DIM!r} for the spectral one."
        )
    if len(set(dims)) != len(dims):
        raise DataModelError(f"`dims` {dims} repeats a name; every dimension needs its own name.")
    if dims.count(SPECTRAL_DIM) != 1:
        raise DataModelError(
            f"`dims` {dims} must contain {SPECTRAL_DIM!r} exactly once (the spectral axis), e.g. dims=('y', 'x', 'spectral')."
        )
    return dims


def from_array(
    data,
    spectral_axis,
    *,
    unit: str = "cm-1",
    laser_nm: float | None = None,
    medium: str | None = None,
    laser_medium: str | None = None,
    dims: Sequence[str] | None = None,
    coords: Mapping[str, Any] | None = None,
    pixel_size_um: float | None = None,
    frame_s: float | None = None,
    attrs: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> xr.Dataset:
    """Build a validated map Dataset from an array and its spectral axis.

    Parameters
    ----------
    data : array-like (NumPy, Dask or CuPy), shape (..., N)
        Intensities (counts). float32/float64 are kept; float16 and ≤16-bit integer counts become
        float32, wider integers float64. A Dask array chunked along the spectral dim is rechunked
        to one chunk there.
    spectral_axis : array-like, shape (N,)
        The channel positions, in ``unit``, ascending or descending (a CuPy array is moved to the host).
    unit : {"cm-1", "nm", "eV", "cm-1-abs"}
        ``"cm-1"`` is Raman shift (Stokes positive), ``"cm-1-abs"`` absolute wavenumber.
        Default is ``"cm-1"``.
    laser_nm : float, optional
        Excitation wavelength in nm. Required for ``unit="cm-1"`` to get wavelength and
        energy coordinates; without it a map in nm or eV has no ``shift`` coordinate.
    medium : {"air", "vacuum"}, optional
        The medium of the axis' wavelengths, recorded as ``attrs["wavelength_medium"]`` (the ``wavelength``
        coordinate is in it): ``"air"`` (standard air) or ``"vacuum"``. ``energy`` (eV) and ``shift``
        (cm⁻¹) are always computed from the *vacuum* wavelengths: E = hc/λ_vac and
        Δν̃ = 10⁷/λ_laser,vac − 10⁷/λ_vac. Default for a ``unit="nm"`` axis: ``attrs["wavelength_medium"]``
        when given; otherwise by unit:

        - ``"nm"``: ``"air"`` — grating spectrometers (Renishaw, HORIBA, WITec, Andor, Princeton …) are
          calibrated with lamp lines tabulated in air and report air wavelengths; an axis reaching below
          185 nm (``hyperspec.axes.AIR_MIN_NM``), where air is opaque, is ``"vacuum"``.
        - ``"cm-1"``, ``"cm-1-abs"``, ``"eV"``: ``"vacuum"`` — physical wavenumbers and energies, kept
          exactly. With ``"air"`` they are 10⁷/λ_air and hc/λ_air, what instrument software computes
          from its air wavelengths (HORIBA LabSpec exports so): the air wavelengths are rebuilt from
          them and ``shift``/``energy`` recomputed from the vacuum ones (the file's numbers are 0.03 %
          off: 0.15 cm⁻¹ at 520 cm⁻¹, 0.66 meV at 2.4 eV).
    laser_medium : {"air", "vacuum"}, optional
        The medium of ``laser_nm`` (a He-Ne is 632.816 nm in air, 632.991 nm in vacuum). Default:
        ``attrs["laser_medium"]`` when given, else the same as ``medium``.
    dims : sequence of str, optional
        Names of the data's dims, one of them ``"spectral"`` (moved last if elsewhere).
        Default by ndim: 1 → spectrum, 2 → ``(x, spectral)``, 3 → ``(y, x, spectral)``,
        4 → ``(t, y, x, spectral)``.
    coords : mapping, optional
        1-D coordinates for the leading dims (``x``/``y`` in µm, ``t`` in s, ``power`` in mW …), one
        value per entry of the dim.
    pixel_size_um, frame_s : float, optional
        Shortcuts for evenly spaced ``x``/``y`` (µm) and ``t`` (s) coordinates from 0; ignored for a
        dim that ``coords`` already gives.
    attrs : mapping, optional
        Extra metadata (instrument, sample …) kept in ``ds.attrs``.
    source : str, optional
        Where the data came from (a file path); used in error messages and attrs.

    Returns
    -------
    xarray.Dataset
        With ``spectra`` (counts) on dims ``(..., "spectral")`` in canonical (ascending-wavelength)
        order; the coordinates ``shift`` (cm⁻¹, when known), ``wavelength`` (nm) and ``energy`` (eV)
        (when the laser is known or the axis is not a shift), ``wavenumber`` (absolute cm⁻¹, for that
        unit); attrs ``laser_nm``, ``laser_medium`` (with the laser), ``wavelength_medium``,
        ``spectral_unit``, ``source`` and a ``history`` record (which says when the channels were reversed).

    Raises
    ------
    AxisError
        If the spectral axis or the laser is invalid (see ``hyperspec.axes.validate_axis``).
    DataModelError
        If the data are a scalar, complex or not numeric, ``dims`` do not fit the data, the axis
        length differs from the spectral dim, a coordinate does not fit its dim, or
        ``pixel_size_um``/``frame_s`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> counts = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    >>> ds = from_array(counts, [400.0, 300.0, 200.0, 100.0], laser_nm=632.8, pixel_size_um=0.5)
    >>> ds["spectra"].dims, ds["spectra"].dtype
    (('y', 'x', 'spectral'), dtype('float32'))
    >>> ds["shift"].values, ds["spectra"].values[0, 0]
    (array([100., 200., 300., 400.]), array([3., 2., 1., 0.], dtype=float32))
    >>> np.round(ds["wavelength"].values, 2), ds["x"].values
    (array([636.83, 640.91, 645.05, 649.23]), array([0. , 0.5, 1. ]))
    """
    where = f" from {source}" if source else ""
    if not hasattr(data, "shape") or not hasattr(data, "dtype"):
        data = np.asarray(data)
    if data.ndim == 0:
        raise DataModelError(f"spectra{where} must have at least one dimension (the spectral one); got a scalar.")
    if dims is None:
        if data.ndim not in _DEFAULT_DIMS:
            raise DataModelError(f"data{where} has {data.ndim} dims; pass `dims=` naming each, e.g. ('power', 't', 'y', 'x', 'spectral').")
        dims = _DEFAULT_DIMS[data.ndim]
    dims = _check_dims(dims, data.ndim, source=where)
    dtype = _float_dtype(np.dtype(data.dtype), source=where)
    if data.dtype != dtype:
        data = data.astype(dtype)
    if dims[-1] != SPECTRAL_DIM:
        order = [i for i, d in enumerate(dims) if d != SPECTRAL_DIM] + [dims.index(SPECTRAL_DIM)]
        data = data.transpose(order)
        dims = tuple(dims[i] for i in order)

    from hyperspec._backend import on_device, to_numpy  # noqa: PLC0415

    axis_values = to_numpy(spectral_axis) if on_device(spectral_axis) else spectral_axis
    laser = None if laser_nm is None else _axes._check_laser(laser_nm)
    axis, canonical = _axes.validate_axis(axis_values, unit, laser_nm=laser, source=source)
    if axis.size != data.shape[-1]:
        raise DataModelError(
            f"spectral axis{where} has {axis.size} values but the data's {SPECTRAL_DIM!r} dim has "
            f"{data.shape[-1]} channels; they must match (is `dims` in the right order?)."
        )
    extra = dict(attrs or {})
    if medium is None and canonical == "nm":  # attrs of a map being rebuilt describe its wavelengths, not another unit
        medium = extra.get("wavelength_medium")
    if laser_medium is None:
        laser_medium = extra.get("laser_medium")
    if canonical == "nm":
        medium = _default_medium(medium, axis, source=where)  # None: air (a grating spectrometer), vacuum below 185 nm
    else:  # a photon energy is physical; a wavenumber axis is 10⁷/λ on the scale of its medium (None: vacuum)
        medium = _axes.normalize_medium(medium or "vacuum", field="medium")
    if laser is not None:
        laser_medium = _axes.normalize_medium(laser_medium or medium, field="laser_medium")
    if canonical == "cm-1" and laser is None:
        if medium == "air":
            raise AxisError(
                f"a Raman-shift axis{where} computed from air wavelengths (medium='air') needs its laser to be "
                "converted to vacuum shifts; pass laser_nm=, or medium='vacuum' if the shifts are vacuum values."
            )
        wavelength = energy = None
        shift = axis
        ascending = bool(axis[-1] > axis[0])
    else:
        laser_vac = None if laser is None else float(_axes.to_vacuum(laser, laser_medium))
        laser_scale = None if laser is None else float(_axes.from_vacuum(laser_vac, medium))  # the laser on the axis' scale
        # the wavelengths on the axis' scale: hc/E, 10⁷/ν̃ and 10⁷/(10⁷/λ_laser − Δν̃) in ``medium``
        wavelength = axis if canonical == "nm" else np.asarray(_axes._to_nm(axis, canonical, laser_scale), dtype=np.float64)
        _default_medium(medium, wavelength, source=where)  # refuses air below 185 nm
        vacuum = np.asarray(_axes.to_vacuum(wavelength, medium), dtype=np.float64)
        ascending = bool(wavelength[-1] > wavelength[0])
        energy = axis if canonical == "eV" and medium == "vacuum" else _axes.nm2ev(vacuum)  # a vacuum energy is kept as given
        shift = None
        if laser is not None:
            exact = canonical == "cm-1" and medium == "vacuum"  # a vacuum shift is kept as given
            shift = axis if exact else _axes.raman_shift(vacuum, laser_vac)

    step_params = {"unit": canonical, "laser_nm": laser, "dims": list(dims), "shape": list(data.shape), "medium": medium}
    if laser is not None:
        step_params["laser_medium"] = laser_medium
    if not ascending:
        data = data[..., ::-1]
        axis, shift, wavelength, energy = (None if a is None else a[::-1].copy() for a in (axis, shift, wavelength, energy))
        step_params["reversed_spectral_axis"] = True

    coord_vars: dict[str, Any] = {}
    if shift is not None:
        coord_vars["shift"] = (SPECTRAL_DIM, shift, {"units": "cm-1", "long_name": "Raman shift"})
    if wavelength is not None:
        coord_vars["wavelength"] = (SPECTRAL_DIM, wavelength, {"units": "nm", "long_name": "wavelength"})
        coord_vars["energy"] = (SPECTRAL_DIM, energy, {"units": "eV", "long_name": "photon energy"})
    if canonical == "cm-1-abs":
        coord_vars["wavenumber"] = (SPECTRAL_DIM, axis, {"units": "cm-1", "long_name": "absolute wavenumber (not a Raman shift)"})

    coords = dict(coords or {})
    for dim, step, name in (("x", pixel_size_um, "pixel_size_um"), ("y", pixel_size_um, "pixel_size_um"), ("t", frame_s, "frame_s")):
        if step is not None and dim in dims and dim not in coords:
            if not np.isfinite(step) or step <= 0:
                raise DataModelError(f"`{name}` must be positive and finite; got {step!r}.")
            coords[dim] = np.arange(data.shape[dims.index(dim)]) * float(step)
    for key, values in coords.items():
        if key not in dims or key == SPECTRAL_DIM:
            raise DataModelError(
                f"coordinate {key!r} is not one of the leading dims {dims[:-1]}; coords here are for "
                "spatial/time/series dims (the spectral axis is `spectral_axis`)."
            )
        values = np.asarray(values)
        size = data.shape[dims.index(key)]
        if values.shape != (size,):
            raise DataModelError(f"coordinate {key!r} has shape {values.shape}; the {key!r} dim has {size} entries.")
        coord_vars[key] = (key, values, {"units": COORD_UNITS.get(key, ""), "long_name": COORD_LONG_NAMES.get(key, key)})

    ds_attrs = extra
    if laser is not None:
        ds_attrs["laser_nm"] = laser
        ds_attrs["laser_medium"] = laser_medium
    else:
        ds_attrs.pop("laser_medium", None)
    ds_attrs["wavelength_medium"] = medium
    ds_attrs["spectral_unit"] = canonical
    if source:
        ds_attrs["source"] = str(source)
    add_history(ds_attrs, "from_array", **step_params)

    if hasattr(data, "chunks") and hasattr(data, "rechunk") and len(data.chunks[-1]) > 1:
        data = data.rechunk({data.ndim - 1: -1})
    spectra = xr.Variable(dims, data, attrs={"units": "counts", "long_name": "intensity"})
    ds = xr.Dataset({"spectra": spectra}, coords=coord_vars, attrs=ds_attrs)
    return ds


def _default_medium(medium, wavelength, *, source: str) -> str:
    """The medium of ``wavelength`` (nm): as given, else air — vacuum for an axis below ``AIR_MIN_NM``."""
    if medium is None:
        low = np.asarray(wavelength, dtype=np.float64)
        return "vacuum" if np.nanmin(low) < _axes.AIR_MIN_NM else "air"
    medium = _axes.normalize_medium(medium, field="medium")
    if medium == "air" and np.nanmin(np.asarray(wavelength, dtype=np.float64)) < _axes.AIR_MIN_NM:
        raise AxisError(
            f"the spectral axis{source} reaches {float(np.nanmin(wavelength)):g} nm, below {_axes.AIR_MIN_NM:g} nm where "
            "air is opaque, so it cannot be an air wavelength; pass medium='vacuum'."
        )
    return medium


def wavelength_medium(ds: xr.Dataset) -> str:
    """Return the medium of a map's ``wavelength`` coordinate: ``attrs["wavelength_medium"]``.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.

    Returns
    -------
    str
        ``"air"`` or ``"vacuum"``. A map without the attribute (a store written before hyperspec
        recorded it) is ``"vacuum"``: that is how its ``energy`` and ``shift`` were computed.

    Raises
    ------
    AxisError
        If the attribute holds something other than ``"air"`` or ``"vacuum"``.

    Examples
    --------
    >>> import numpy as np
    >>> wavelength_medium(from_array(np.ones(3), [600.0, 610.0, 620.0], unit="nm"))
    'air'
    """
    return _axes.normalize_medium(ds.attrs.get("wavelength_medium", "vacuum"), field='attrs["wavelength_medium"]')


def laser_medium(ds: xr.Dataset) -> str:
    """Return the medium of ``attrs["laser_nm"]``: ``attrs["laser_medium"]``, else the wavelength medium.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.

    Returns
    -------
    str
        ``"air"`` or ``"vacuum"`` (``"vacuum"`` for a store written before hyperspec recorded media).

    Examples
    --------
    >>> import numpy as np
    >>> laser_medium(from_array(np.ones(3), [100.0, 200.0, 300.0], laser_nm=632.8, laser_medium="air"))
    'air'
    """
    if "laser_medium" in ds.attrs:
        return _axes.normalize_medium(ds.attrs["laser_medium"], field='attrs["laser_medium"]')
    return wavelength_medium(ds)


def laser_vacuum_nm(ds: xr.Dataset) -> float | None:
    """Return the map's laser wavelength in vacuum, nm (what Raman shifts are computed from), or None.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.

    Returns
    -------
    float or None
        ``attrs["laser_nm"]`` converted from ``laser_medium(ds)`` to vacuum; None without a laser.

    Examples
    --------
    >>> import numpy as np
    >>> ds = from_array(np.ones(3), [100.0, 200.0, 300.0], laser_nm=632.816, laser_medium="air")
    >>> round(laser_vacuum_nm(ds), 3)
    632.991
    """
    laser = ds.attrs.get("laser_nm")
    if laser is None:
        return None
    return float(_axes.to_vacuum(float(laser), laser_medium(ds)))


def _coords_from_shift(ds: xr.Dataset, shift) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength in the map's medium, energy) for Raman shifts of a map with a laser."""
    vacuum = np.asarray(_axes.shift2nm(np.asarray(shift, dtype=np.float64), laser_vacuum_nm(ds)), dtype=np.float64)
    return np.asarray(_axes.from_vacuum(vacuum, wavelength_medium(ds)), dtype=np.float64), _axes.nm2ev(vacuum)


def _coords_from_wavelength(ds: xr.Dataset, wavelength) -> tuple[np.ndarray, np.ndarray | None]:
    """(energy, shift or None) for wavelengths in the map's medium."""
    vacuum = np.asarray(_axes.to_vacuum(np.asarray(wavelength, dtype=np.float64), wavelength_medium(ds)), dtype=np.float64)
    laser_vac = laser_vacuum_nm(ds)
    return _axes.nm2ev(vacuum), None if laser_vac is None else _axes.raman_shift(vacuum, laser_vac)


def validate_map(ds: xr.Dataset, *, source: str | None = None) -> xr.Dataset:
    """Check that a Dataset follows the map data model; return it unchanged.

    Parameters
    ----------
    ds : xarray.Dataset
        The map to check.
    source : str, optional
        Where it came from (a file path), for error messages.

    Returns
    -------
    xarray.Dataset
        ``ds`` itself.

    Raises
    ------
    DataModelError
        If ``ds`` is not a Dataset, has no ``spectra`` variable, ``"spectral"`` is not its last dim, it
        has neither a ``shift`` nor a ``wavelength`` coordinate, such a coordinate has the wrong length,
        or the spectra are chunked along ``"spectral"``.
    AxisError
        If the ``shift`` or ``wavelength`` coordinate is not finite and strictly ascending.

    Examples
    --------
    >>> import numpy as np
    >>> ds = from_array(np.ones((2, 3)), [100.0, 200.0, 300.0], laser_nm=632.8)
    >>> validate_map(ds) is ds
    True
    >>> validate_map(ds.drop_vars("spectra"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    hyperspec._errors.DataModelError: Dataset has no 'spectra' variable (found: []); build it with hyperspec.from_array.
    """
    where = f" in {source}" if source else ""
    if not isinstance(ds, xr.Dataset):
        raise DataModelError(f"expected an xarray.Dataset{where}; got {type(ds).__name__}. Use hyperspec.from_array(...) to build one.")
    if "spectra" not in ds.data_vars:
        raise DataModelError(f"Dataset{where} has no 'spectra' variable (found: {list(ds.data_vars)}); build it with hyperspec.from_array.")
    spectra = ds["spectra"]
    if spectra.dims[-1] != SPECTRAL_DIM:
        raise DataModelError(
            f"'spectra'{where} must have {SPECTRAL_DIM!r} as its last dim; got {spectra.dims}. Use ds.transpose(..., {SPECTRAL_DIM!r})."
        )
    if not any(c in ds.coords for c in ("shift", "wavelength")):
        raise DataModelError(f"Dataset{where} has neither a 'shift' nor a 'wavelength' coordinate on {SPECTRAL_DIM!r}.")
    for name in ("shift", "wavelength"):
        if name in ds.coords:
            values = np.asarray(ds[name].values, dtype=np.float64)
            if values.shape != (spectra.sizes[SPECTRAL_DIM],):
                raise DataModelError(f"coordinate {name!r}{where} has shape {values.shape}; expected ({spectra.sizes[SPECTRAL_DIM]},).")
            if not np.all(np.isfinite(values)) or not np.all(np.diff(values) > 0):
                raise AxisError(f"coordinate {name!r}{where} must be finite and strictly ascending (canonical order); it is not.")
    chunks = spectra.chunks
    if chunks is not None and len(chunks[-1]) > 1:
        raise DataModelError(
            f"'spectra'{where} is chunked along {SPECTRAL_DIM!r} ({len(chunks[-1])} chunks); spectra must stay "
            f"whole. Rechunk with ds.chunk({{{SPECTRAL_DIM!r}: -1}})."
        )
    return ds


def pixel_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """Return the leading (non-spectral) dims of ``ds.spectra``: the pixel batch dims.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.

    Returns
    -------
    tuple of str
        The dims of ``spectra`` other than ``"spectral"``, in order.

    Examples
    --------
    >>> import numpy as np
    >>> pixel_dims(from_array(np.ones((2, 3, 4)), [100.0, 200.0, 300.0, 400.0]))
    ('y', 'x')
    """
    return tuple(d for d in ds["spectra"].dims if d != SPECTRAL_DIM)


def n_pixels(ds: xr.Dataset) -> int:
    """Return the number of spectra in the map (the product of the leading dims' sizes).

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.

    Returns
    -------
    int
        Number of pixels (1 for a single spectrum).

    Examples
    --------
    >>> import numpy as np
    >>> n_pixels(from_array(np.ones((2, 3, 4)), [100.0, 200.0, 300.0, 400.0]))
    6
    """
    return int(np.prod([ds["spectra"].sizes[d] for d in pixel_dims(ds)], dtype=np.int64))


def shift_axis(ds: xr.Dataset) -> np.ndarray:
    """Return the Raman-shift axis of a map as a NumPy array.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.

    Returns
    -------
    numpy.ndarray, shape (N,)
        The ``shift`` coordinate, cm⁻¹, float64, ascending.

    Raises
    ------
    AxisError
        If the map has no ``shift`` coordinate (the laser wavelength is unknown); the message says how
        to set it (``with_laser``).

    Examples
    --------
    >>> import numpy as np
    >>> shift_axis(from_array(np.ones(3), [300.0, 200.0, 100.0]))
    array([100., 200., 300.])
    """
    if "shift" in ds.coords:
        return np.asarray(ds["shift"].values, dtype=np.float64)
    src = ds.attrs.get("source", "this map")
    raise AxisError(
        f"{src} has no Raman-shift axis because the laser wavelength is unknown; "
        "set it with ds = hyperspec.with_laser(ds, laser_nm=...) (e.g. 632.8)."
    )


def with_laser(ds: xr.Dataset, laser_nm: float, *, medium: str | None = None) -> xr.Dataset:
    """Return ``ds`` with the laser wavelength set and the ``shift``/``wavelength``/``energy`` coords filled in.

    A map that came without a laser (an axis in nm or eV) gains its Raman-shift axis; a map
    in Raman shift without a laser gains wavelength and energy. A different laser than the
    one recorded is refused: that would silently change every shift.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset (not modified).
    laser_nm : float
        Laser wavelength, nm. Setting the laser a map already records is allowed (a no-op on the axes).
    medium : {"air", "vacuum"}, optional
        The medium of ``laser_nm``. Default: the map's ``attrs["laser_medium"]``, else its wavelength
        medium (``wavelength_medium``). Shifts are computed from the vacuum wavelengths of both.

    Returns
    -------
    xarray.Dataset
        A copy with ``attrs["laser_nm"]`` and ``attrs["laser_medium"]``, the coordinates ``shift``
        (cm⁻¹), ``wavelength`` (nm, in the map's ``wavelength_medium``) and ``energy`` (eV), and a
        ``with_laser`` history record.

    Raises
    ------
    AxisError
        If ``laser_nm`` is not a positive, finite number, ``medium`` is not "air" or "vacuum", or the
        laser differs from the recorded one by more than 1e-9 nm (compared in one medium).

    Examples
    --------
    >>> import numpy as np
    >>> ds = from_array(np.ones(3), [600.0, 610.0, 620.0], unit="nm")
    >>> "shift" in ds.coords
    False
    >>> np.round(with_laser(ds, 532.0)["shift"].values, 1)  # air wavelengths, laser 532.0 nm in air
    array([2129.7, 2402.9, 2667.2])
    """
    laser = _axes._check_laser(laser_nm)
    wl_medium = wavelength_medium(ds)
    l_medium = laser_medium(ds) if medium is None else _axes.normalize_medium(medium, field="medium")
    laser_vac = float(_axes.to_vacuum(laser, l_medium))
    recorded = laser_vacuum_nm(ds)
    if recorded is not None and not np.isclose(recorded, laser_vac, rtol=0, atol=1e-9):
        raise AxisError(
            f"this map already records laser_nm={ds.attrs['laser_nm']} ({laser_medium(ds)}); refusing to change it to "
            f"{laser} ({l_medium}). Rebuild the map with hyperspec.from_array(..., laser_nm=...) if the file was wrong."
        )
    if recorded is not None:  # the same laser: keep it as recorded
        laser, l_medium = float(ds.attrs["laser_nm"]), laser_medium(ds)
    out = ds.copy()
    if recorded is not None and all(c in ds.coords for c in ("shift", "wavelength", "energy")):
        shift, wavelength, energy = (ds[c].values for c in ("shift", "wavelength", "energy"))  # the same laser: axes stay
    elif "wavelength" in ds.coords:
        wavelength = np.asarray(ds["wavelength"].values, dtype=np.float64)
        vacuum = np.asarray(_axes.to_vacuum(wavelength, wl_medium), dtype=np.float64)
        shift, energy = _axes.raman_shift(vacuum, laser_vac), _axes.nm2ev(vacuum)
    else:
        shift = np.asarray(ds["shift"].values, dtype=np.float64)
        vacuum = np.asarray(_axes.shift2nm(shift, laser_vac), dtype=np.float64)
        wavelength = np.asarray(_axes.from_vacuum(vacuum, wl_medium), dtype=np.float64)
        energy = _axes.nm2ev(vacuum)
    out = out.assign_coords(
        shift=(SPECTRAL_DIM, shift, {"units": "cm-1", "long_name": "Raman shift"}),
        wavelength=(SPECTRAL_DIM, wavelength, {"units": "nm", "long_name": "wavelength"}),
        energy=(SPECTRAL_DIM, energy, {"units": "eV", "long_name": "photon energy"}),
    )
    out.attrs = dict(ds.attrs)
    out.attrs["laser_nm"] = laser
    out.attrs["laser_medium"] = l_medium
    out.attrs["wavelength_medium"] = wl_medium
    add_history(out.attrs, "with_laser", laser_nm=laser, laser_medium=l_medium)
    return out


def to_medium(ds: xr.Dataset, medium: str, *, laser: bool = True, reinterpret: bool = False) -> xr.Dataset:
    """Return ``ds`` with its wavelengths expressed in ``medium`` ("air" or "vacuum").

    By default the same light is re-expressed: the ``wavelength`` coordinate (and, with ``laser``,
    ``attrs["laser_nm"]``) is converted with ``hyperspec.axes.air_to_vacuum`` / ``vacuum_to_air``, while
    ``energy`` and ``shift`` — physical, medium-free quantities — stay exactly as they are. With
    ``reinterpret=True`` the numbers stay and their meaning changes instead: the wavelengths (and the
    laser) are declared to *be* in ``medium`` and ``energy``/``shift`` are recomputed from them — the fix
    for a map whose medium was recorded wrongly, e.g. a store written before hyperspec recorded media
    (read as vacuum) that actually holds a spectrometer's air wavelengths.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset (not modified). Without ``attrs["wavelength_medium"]`` it is taken as vacuum.
    medium : {"air", "vacuum"}
        The medium wanted.
    laser : bool, optional
        Also express (or declare) ``attrs["laser_nm"]`` in ``medium``. Default is True.
    reinterpret : bool, optional
        Relabel instead of convert (see above). Default is False.

    Returns
    -------
    xarray.Dataset
        A copy with ``attrs["wavelength_medium"]`` (and ``attrs["laser_medium"]``) set to ``medium``,
        the coordinates converted or recomputed, and a ``to_medium`` history record. The data are
        untouched.

    Raises
    ------
    AxisError
        If ``medium`` is not "air" or "vacuum", or a wavelength to express in air lies below 185 nm.

    Examples
    --------
    >>> import numpy as np
    >>> ds = from_array(np.ones(3), [600.0, 610.0, 620.0], unit="nm", medium="air")
    >>> vac = to_medium(ds, "vacuum")
    >>> np.round(vac["wavelength"].values, 4), vac.attrs["wavelength_medium"]
    (array([600.1662, 610.1689, 620.1716]), 'vacuum')
    >>> bool(np.array_equal(vac["energy"].values, ds["energy"].values))
    True
    """
    target = _axes.normalize_medium(medium, field="medium")
    old_wl, old_laser = wavelength_medium(ds), laser_medium(ds)
    out = ds.copy()
    out.attrs = dict(ds.attrs)
    laser_nm = ds.attrs.get("laser_nm")
    new_laser_medium = target if laser else old_laser
    if reinterpret:
        out.attrs["wavelength_medium"] = target
        if laser_nm is not None:
            out.attrs["laser_medium"] = new_laser_medium
        laser_vac = laser_vacuum_nm(out)
        if "wavelength" in ds.coords:
            vacuum = np.asarray(_axes.to_vacuum(np.asarray(ds["wavelength"].values, dtype=np.float64), target), dtype=np.float64)
            out = out.assign_coords(energy=(SPECTRAL_DIM, _axes.nm2ev(vacuum), ds["energy"].attrs))
            if laser_vac is not None and "shift" in ds.coords:
                out = out.assign_coords(shift=(SPECTRAL_DIM, _axes.raman_shift(vacuum, laser_vac), ds["shift"].attrs))
    else:
        if "wavelength" in ds.coords:
            wl = np.asarray(ds["wavelength"].values, dtype=np.float64)
            new = _axes.from_vacuum(_axes.to_vacuum(wl, old_wl), target)
            out = out.assign_coords(wavelength=(SPECTRAL_DIM, np.asarray(new, dtype=np.float64), ds["wavelength"].attrs))
        out.attrs["wavelength_medium"] = target
        if laser_nm is not None:
            out.attrs["laser_nm"] = float(_axes.from_vacuum(_axes.to_vacuum(float(laser_nm), old_laser), new_laser_medium))
            out.attrs["laser_medium"] = new_laser_medium
    add_history(out.attrs, "to_medium", medium=target, laser=bool(laser), reinterpret=bool(reinterpret), was=old_wl)
    return out


def map_spectra(func, spectra: xr.DataArray, n_out: int) -> xr.DataArray:
    """Apply ``func`` — (..., N) spectra block → (..., n_out) values — to every pixel, chunk by chunk.

    Lazy (Dask) input stays lazy; the leading dims are kept and a new last dim ``"quantity"`` holds
    the ``n_out`` values. The spectra's attrs are not carried over (the outputs have their own units).

    Parameters
    ----------
    func : callable
        ``func(block)`` with ``block`` an array of shape (..., N) (the whole array for in-memory
        spectra, one chunk at a time for Dask) returning float64 values of shape (..., n_out).
    spectra : xarray.DataArray, shape (..., N)
        Spectra with ``"spectral"`` as the core dim (whole along it).
    n_out : int
        Number of values ``func`` returns per pixel.

    Returns
    -------
    xarray.DataArray, shape (..., n_out)
        float64, dims ``(..., "quantity")``, empty attrs; lazy when ``spectra`` is.

    Examples
    --------
    >>> import numpy as np
    >>> ds = from_array(np.arange(24.0).reshape(2, 3, 4), [100.0, 200.0, 300.0, 400.0])
    >>> out = map_spectra(lambda a: np.stack([a.sum(-1), a.max(-1)], axis=-1), ds["spectra"], 2)
    >>> out.dims, out.values[0, 0]
    (('y', 'x', 'quantity'), array([6., 3.]))
    """
    out = xr.apply_ufunc(
        func,
        spectra,
        input_core_dims=[[SPECTRAL_DIM]],
        output_core_dims=[["quantity"]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"quantity": n_out}},
    )
    out.attrs = {}
    return out
