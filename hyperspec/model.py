"""The map data model: an ``xarray.Dataset`` with a ``spectra`` variable.

- ``spectra`` has dims ``(..., "spectral")`` with the spectral dim last, e.g. ``("y", "x",
  "spectral")`` for a map, ``("x", "spectral")`` for a line, ``("t", "x", "spectral")`` or
  ``("t", "y", "x", "spectral")`` for kinetic maps, ``("power", "y", "x", "spectral")`` for a
  power series. Any other leading dim name is allowed (series of temperature, bias …).
- The spectral dim carries the coordinates ``wavelength`` (nm), ``energy`` (eV) and, when the
  laser is known, ``shift`` (Raman shift, cm⁻¹). Channels are stored in the canonical order:
  ascending wavelength, i.e. ascending Raman shift and descending energy. Input in another
  order is reversed *together with its axis* and the reversal is recorded in the history.
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
        unit); attrs ``laser_nm``, ``spectral_unit``, ``source`` and a ``history`` record (which says
        when the channels were reversed).

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
    if canonical == "cm-1" and laser is None:
        wavelength = energy = None
        shift = axis
        ascending = bool(axis[-1] > axis[0])
    else:
        wavelength = np.asarray(_axes._to_nm(axis, canonical, laser), dtype=np.float64)
        ascending = bool(wavelength[-1] > wavelength[0])
        energy = _axes.nm2ev(wavelength)
        shift = _axes.raman_shift(wavelength, laser) if laser is not None else None

    step_params = {"unit": canonical, "laser_nm": laser, "dims": list(dims), "shape": list(data.shape)}
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

    ds_attrs = dict(attrs or {})
    if laser is not None:
        ds_attrs["laser_nm"] = laser
    ds_attrs["spectral_unit"] = canonical
    if source:
        ds_attrs["source"] = str(source)
    add_history(ds_attrs, "from_array", **step_params)

    if hasattr(data, "chunks") and hasattr(data, "rechunk") and len(data.chunks[-1]) > 1:
        data = data.rechunk({data.ndim - 1: -1})
    spectra = xr.Variable(dims, data, attrs={"units": "counts", "long_name": "intensity"})
    ds = xr.Dataset({"spectra": spectra}, coords=coord_vars, attrs=ds_attrs)
    return ds


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


def with_laser(ds: xr.Dataset, laser_nm: float) -> xr.Dataset:
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

    Returns
    -------
    xarray.Dataset
        A copy with ``attrs["laser_nm"]``, the coordinates ``shift`` (cm⁻¹), ``wavelength`` (nm) and
        ``energy`` (eV), and a ``with_laser`` history record.

    Raises
    ------
    AxisError
        If ``laser_nm`` is not a positive, finite number, or differs from the recorded laser by more
        than 1e-9 nm.

    Examples
    --------
    >>> import numpy as np
    >>> ds = from_array(np.ones(3), [600.0, 610.0, 620.0], unit="nm")
    >>> "shift" in ds.coords
    False
    >>> np.round(with_laser(ds, 532.0)["shift"].values, 1)
    array([2130.3, 2403.5, 2668. ])
    """
    laser = _axes._check_laser(laser_nm)
    recorded = ds.attrs.get("laser_nm")
    if recorded is not None and not np.isclose(float(recorded), laser, rtol=0, atol=1e-9):
        raise AxisError(
            f"this map already records laser_nm={recorded}; refusing to change it to {laser}. "
            "Rebuild the map with hyperspec.from_array(..., laser_nm=...) if the file was wrong."
        )
    out = ds.copy()
    if "wavelength" in ds.coords:
        wavelength = np.asarray(ds["wavelength"].values, dtype=np.float64)
    else:
        wavelength = np.asarray(_axes.shift2nm(np.asarray(ds["shift"].values, dtype=np.float64), laser))
    out = out.assign_coords(
        shift=(SPECTRAL_DIM, _axes.raman_shift(wavelength, laser), {"units": "cm-1", "long_name": "Raman shift"}),
        wavelength=(SPECTRAL_DIM, wavelength, {"units": "nm", "long_name": "wavelength"}),
        energy=(SPECTRAL_DIM, _axes.nm2ev(wavelength), {"units": "eV", "long_name": "photon energy"}),
    )
    out.attrs = dict(ds.attrs)
    out.attrs["laser_nm"] = laser
    add_history(out.attrs, "with_laser", laser_nm=laser)
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
