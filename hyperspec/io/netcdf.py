"""netCDF-4 export of maps and results, and a CF metadata check.

Zarr stores keep their attrs as JSON (lists, dicts, booleans); netCDF attributes can only be text,
numbers or 1-D numeric arrays. ``write_netcdf`` writes a netCDF-safe view of the attrs, leaving the
Dataset (and any store) as it is:

- a dict, or a list that is not all numbers, becomes its JSON text, and its name is listed in the
  ``hyperspec_json_attrs`` attr of the same variable (or of the file), so :func:`read_netcdf` (or
  any reader: ``json.loads``) turns it back;
- a list of numbers becomes a numeric array (``flag_values``, ``flag_masks``, ``valid_range``,
  ``valid_min`` and ``valid_max`` take the variable's own dtype, as CF asks);
- ``True`` / ``False`` become ``1`` / ``0`` and ``None`` is left out.

The file declares ``Conventions = "CF-1.8"`` (the CF checker, cfchecker 4.1, finds no error or warning in a map or
results file). It is written with ``h5netcdf`` (netCDF-4/HDF5) and opens with
``xarray.open_dataset(path, engine="h5netcdf")``, ``ncdump`` or any CF tool.
Variables of 64 KiB or more are zlib-compressed (level 4).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from hyperspec._errors import HyperspecError, StoreExistsError

__all__ = ["write_netcdf", "read_netcdf", "netcdf_attrs", "decode_netcdf_attrs", "cf_problems", "JSON_ATTRS", "CF_VERSION"]

#: The CF version the files declare (``Conventions``): what the CF checker (cfchecker 4.1) passes them against.
CF_VERSION = "CF-1.8"

#: The attr that names (space-separated) the attrs of the same variable, or of the file, stored as JSON text.
JSON_ATTRS = "hyperspec_json_attrs"

#: Variables at least this big are written zlib-compressed (smaller ones: HDF5's chunk index would outweigh the saving).
_COMPRESS_BYTES = 64 * 2**10

#: CF attrs whose values must have the data variable's own type.
_TYPED_LIKE_DATA = ("flag_values", "flag_masks", "valid_range", "valid_min", "valid_max")


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Number, np.number)) and not isinstance(v, (bool, np.bool_))


def netcdf_attrs(attrs: Mapping, *, dtype=None, where: str = "the Dataset") -> dict:
    """A netCDF-safe copy of ``attrs`` (see the module notes); the JSON-encoded names in ``hyperspec_json_attrs``.

    Parameters
    ----------
    attrs : mapping
        The attrs of a Dataset or of one variable.
    dtype : numpy dtype, optional
        The variable's dtype: CF's ``flag_values`` (and ``valid_range`` …) are cast to it.
    where : str, optional
        What the attrs belong to, for the error message.

    Returns
    -------
    dict
        Attrs holding only text, numbers and 1-D numeric arrays.

    Raises
    ------
    HyperspecError
        For a value that is none of text, number, boolean, list, dict or array (naming the attr).

    Examples
    --------
    >>> out = netcdf_attrs({"plan": {"rows": 2}, "ok": True, "gone": None, "flag_values": [0, 1]}, dtype="int8")
    >>> out["plan"], out["ok"], "gone" in out, out["flag_values"].dtype.name, out["hyperspec_json_attrs"]
    ('{"rows": 2}', 1, False, 'int8', 'plan')
    """
    out, encoded = {}, []
    for key, value in attrs.items():
        if key == JSON_ATTRS or value is None:
            continue
        if isinstance(value, (bool, np.bool_)):
            out[key] = int(value)
        elif isinstance(value, (str, bytes)) or _is_number(value):
            out[key] = value
        elif isinstance(value, np.ndarray) and value.ndim <= 1 and value.dtype.kind in "biuf":
            out[key] = value.astype(np.int8) if value.dtype.kind == "b" else value
        elif isinstance(value, (list, tuple)) and value and all(_is_number(v) for v in value):
            out[key] = np.asarray(value)
        elif isinstance(value, (Mapping, list, tuple, np.ndarray)):
            try:
                out[key] = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, ensure_ascii=False)
            except TypeError as err:
                raise HyperspecError(f"{where}: attr {key!r} cannot be written to netCDF ({err}); store it as text or numbers.") from None
            encoded.append(key)
        else:
            raise HyperspecError(
                f"{where}: attr {key!r} is a {type(value).__name__}, which netCDF cannot hold; store it as text or numbers."
            )
        if key in _TYPED_LIKE_DATA and dtype is not None and key not in encoded:
            out[key] = np.asarray(out[key]).astype(dtype)
    if encoded:
        out[JSON_ATTRS] = " ".join(encoded)
    return out


def decode_netcdf_attrs(ds: xr.Dataset) -> xr.Dataset:
    """Turn the attrs listed in ``hyperspec_json_attrs`` (file and variables) back into lists and dicts.

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset opened from a file :func:`write_netcdf` wrote.

    Returns
    -------
    xarray.Dataset
        The same Dataset with those attrs decoded and ``hyperspec_json_attrs`` removed (in place too).

    Raises
    ------
    HyperspecError
        When a listed attr is missing or not JSON (naming the variable and the attr).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset(attrs={"plan": '{"rows": 2}', "hyperspec_json_attrs": "plan"})
    >>> decode_netcdf_attrs(ds).attrs
    {'plan': {'rows': 2}}
    """
    for where, obj in (("the file", ds), *((f"variable {n!r}", ds[n]) for n in ds.variables)):
        names = obj.attrs.pop(JSON_ATTRS, None)
        for key in str(names or "").split():
            try:
                obj.attrs[key] = json.loads(obj.attrs[key])
            except (KeyError, TypeError, ValueError) as err:
                raise HyperspecError(
                    f"{where}: attr {key!r} is listed in {JSON_ATTRS!r} but is not JSON text ({err!r}); "
                    f"remove it from {JSON_ATTRS!r} to read it as it is."
                ) from None
    return ds


def write_netcdf(ds: xr.Dataset, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a map or a results Dataset to a netCDF-4 file, with netCDF-safe attrs.

    Values, coordinates and dims are written as they are (lazy data are computed chunk by chunk);
    the attrs follow the module notes (JSON text for dicts and mixed lists, numeric arrays for
    number lists, 1/0 for booleans). The Dataset itself is not changed.

    Parameters
    ----------
    ds : xarray.Dataset
        A map (``spectra`` and its coords) or results (band maps, ``status`` …), e.g. from ``hyperspec.open``.
    path : str or Path
        The ``.nc`` file to write.
    overwrite : bool, optional
        Replace an existing file. Default False.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    StoreExistsError
        When ``path`` exists and ``overwrite`` is False.
    HyperspecError
        When an attr cannot be written (naming it), or when h5netcdf is not installed.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> ds = xr.Dataset({"a": ("x", np.arange(3.0), {"units": "1", "long_name": "a"})}, attrs={"plan": {"rows": 1}})
    >>> path = write_netcdf(ds, tempfile.mkdtemp() + "/a.nc")
    >>> read_netcdf(path).attrs["plan"]
    {'rows': 1}
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise StoreExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    try:
        import h5netcdf  # noqa: F401, PLC0415
    except ImportError:
        raise HyperspecError("netCDF export needs h5netcdf: pip install h5netcdf") from None
    out = ds.copy(deep=False)
    out.attrs = {"Conventions": CF_VERSION, **netcdf_attrs(ds.attrs)}  # a file's own Conventions, when it has one, wins
    encoding = {}
    for name in out.variables:
        var = out.variables[name]
        var.attrs = netcdf_attrs(ds[name].attrs, dtype=var.dtype, where=f"variable {name!r}")
        var.encoding = {}  # the store's Zarr encoding (chunks, codecs) means nothing to netCDF
        if name in out.data_vars and var.dtype.kind in "biuf" and var.nbytes >= _COMPRESS_BYTES:
            encoding[name] = {"zlib": True, "complevel": 4}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    out.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
    tmp.replace(path)  # a failed write leaves no half file under the name asked for
    return path


def read_netcdf(path: str | Path) -> xr.Dataset:
    """Open a netCDF file :func:`write_netcdf` wrote, with its JSON attrs decoded (lazily; values load on use).

    Parameters
    ----------
    path : str or Path
        The ``.nc`` file.

    Returns
    -------
    xarray.Dataset
        As ``xarray.open_dataset(path, engine="h5netcdf")``, the attrs listed in ``hyperspec_json_attrs`` decoded.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> ds = xr.Dataset({"a": ("x", np.arange(2.0))}, attrs={"runs": [{"pixels": 2}]})
    >>> read_netcdf(write_netcdf(ds, tempfile.mkdtemp() + "/a.nc")).attrs["runs"]
    [{'pixels': 2}]
    """
    return decode_netcdf_attrs(xr.open_dataset(path, engine="h5netcdf"))


def cf_problems(ds: xr.Dataset) -> list[str]:
    """What keeps a Dataset from being CF-complete: a variable or coordinate without ``units`` / ``long_name``.

    Flag variables (``flag_values`` with ``flag_meanings``) need no ``units``; coordinate-less dims
    (``run_chunk``) have nothing to describe. ``history`` must be text, as CF says.

    Parameters
    ----------
    ds : xarray.Dataset
        A map or results.

    Returns
    -------
    list of str
        One line per problem; empty when there is none.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> cf_problems(xr.Dataset({"a": ("x", np.zeros(2), {"units": "1"})}))
    ["variable 'a' has no long_name"]
    """
    out = []
    if "history" in ds.attrs and not isinstance(ds.attrs["history"], str):
        out.append(f"attrs['history'] is a {type(ds.attrs['history']).__name__}, not CF text")
    for name in ds.variables:
        attrs = ds[name].attrs
        is_flags = attrs.get("flag_meanings") is not None and attrs.get("flag_values") is not None
        if not is_flags and not isinstance(attrs.get("units"), str):
            out.append(f"variable {name!r} has no units")
        if not (isinstance(attrs.get("long_name"), str) and attrs["long_name"].strip()):
            out.append(f"variable {name!r} has no long_name")
    return out
