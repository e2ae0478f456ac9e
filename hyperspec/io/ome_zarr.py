"""OME-Zarr export of results: the band maps as one multichannel image that OME-NGFF viewers open to scale.

napari-ome-zarr, Fiji (MoBIE) and other OME-NGFF viewers read it.

``write_ome_zarr(results, path)`` writes every per-pixel map (``(y, x)``; not ``status`` or other CF flag
variables, which are categories rather than intensities) as the channels of a ``(c, y, x)`` image with the
`ome-zarr` library's writer (OME-NGFF 0.5, Zarr v3): channel labels ``"name [units]"`` (``"name"`` for a
dimensionless one) in the ``omero`` metadata, the pixel size in µm as the ``scale`` coordinate
transformation and the map's origin as a ``translation``. Results with one series dim in front —
kinetic ``(t, y, x)`` or a power series ``(power, y, x)`` — become ``(t, c, y, x)`` / ``(power, c, y, x)``;
``t`` is a ``time`` axis in seconds, any other series dim a custom-typed axis (NGFF allows one). A series
axis that is not evenly spaced gets scale 1 and its values are kept in the ``hyperspec`` attrs, with each
channel's variable name, units and ``long_name``. Only full resolution is written (no pyramid: band
maps are small, and smoothing would mix NaN pixels into their neighbours).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from hyperspec._errors import HyperspecError, StoreExistsError

__all__ = ["write_ome_zarr", "channel_label"]

_SPACE_UNITS = {"um": "micrometer", "µm": "micrometer", "nm": "nanometer", "mm": "millimeter", "m": "meter"}
_TIME_UNITS = {"s": "second", "ms": "millisecond", "us": "microsecond", "min": "minute", "h": "hour"}
_OTHER_UNITS = {"mW": "milliwatt", "W": "watt", "uW": "microwatt", "K": "kelvin", "V": "volt"}
_COLORS = ("FFFFFF", "FF00FF", "00FFFF", "FFFF00", "FF0000", "00FF00", "0000FF")


def channel_label(name: str, units: str | None) -> str:
    """The channel label of a variable: ``"name [units]"``, or ``"name"`` when it is dimensionless (``"1"`` or none).

    Parameters
    ----------
    name : str
        The variable name.
    units : str or None
        Its ``units`` attr.

    Returns
    -------
    str

    Examples
    --------
    >>> channel_label("aspl_area", "counts*cm-1"), channel_label("chi2_red", "1")
    ('aspl_area [counts*cm-1]', 'chi2_red')
    """
    units = (units or "").strip()
    return f"{name} [{units}]" if units and units != "1" else name


def _image_name(path: Path) -> str:
    """The image name viewers show (napari-ome-zarr: ``"<name>: <channel>"``): the directory name without ``.ome.zarr``."""
    name = path.name
    for suffix in (".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _even_step(values: np.ndarray, dim: str) -> float | None:
    """The spacing of an evenly spaced, increasing coordinate; None when it is not evenly spaced."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return None
    d = np.diff(values)
    if not (np.all(np.isfinite(d)) and np.all(d > 0)):
        return None
    return float(d.mean()) if np.allclose(d, d.mean(), rtol=1e-6, atol=0) else None


def _space(results: xr.Dataset, dim: str) -> tuple[float, float, str]:
    """(step, origin, NGFF unit) of a spatial coordinate; 1 px, 0 and no unit when there is no coordinate."""
    if dim not in results.coords:
        return 1.0, 0.0, ""
    values = np.asarray(results[dim].values, dtype=np.float64)
    units = str(results[dim].attrs.get("units", "um"))
    if units not in _SPACE_UNITS:
        raise HyperspecError(f"coordinate {dim!r} has units {units!r}; OME-Zarr needs a length (um, nm, mm or m).")
    step = 1.0 if values.size < 2 else _even_step(values, dim)
    if step is None:
        raise HyperspecError(
            f"coordinate {dim!r} is not evenly spaced and increasing ({values[:4].tolist()} …); OME-Zarr stores one pixel "
            "size per axis. Export it as netCDF (--netcdf) or TIFF instead."
        )
    return step, float(values[0]), _SPACE_UNITS[units]


def _channels(results: xr.Dataset, variables: Sequence[str] | None) -> tuple[tuple[str, ...], list[str]]:
    from hyperspec.io.export import _pixel_variables  # noqa: PLC0415

    dims, names = _pixel_variables(results, variables)
    if variables is None:  # CF flag variables are categories, not intensities
        names = [n for n in names if results[n].attrs.get("flag_meanings") is None and results[n].dtype.kind in "fiu"]
    if tuple(dims[-2:]) != ("y", "x"):
        raise HyperspecError(
            f"OME-Zarr holds images on (y, x); these results are on {dims}. Export a line or scattered points "
            "as CSV (--csv) or netCDF (--netcdf)."
        )
    if len(dims) > 3:
        raise HyperspecError(f"OME-Zarr allows one series axis before (c, y, x); these results are on {dims}.")
    bad = [n for n in names if results[n].dims != dims]
    if bad:
        raise HyperspecError(f"{bad}: not on all the pixel dims {dims}; leave them out of the variables.")
    if not names:
        raise HyperspecError(f"no map variable on {dims} to write as OME-Zarr among {sorted(results.data_vars)}.")
    return tuple(dims), names


def write_ome_zarr(results: xr.Dataset, path: str | Path, *, variables: Sequence[str] | None = None, overwrite: bool = False) -> Path:
    """Write the band maps of a results Dataset as an OME-Zarr image (see the module notes).

    Parameters
    ----------
    results : xarray.Dataset
        Results (``decompose``, a recipe's store, ``window_integrals`` …) on ``(y, x)``, or on
        ``(t, y, x)`` / ``(power, y, x)`` for a series.
    path : str or Path
        The OME-Zarr directory to write (by convention ``*.ome.zarr``).
    variables : sequence of str, optional
        The variables to write as channels, in this order. Default: every numeric per-pixel variable in
        model order (band values, their ``_stderr``, fit quality), except CF flag variables (``status``).
    overwrite : bool, optional
        Replace an existing directory. Default False.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    StoreExistsError
        When ``path`` exists and ``overwrite`` is False.
    HyperspecError
        For results not on ``(…, y, x)``, more than one series dim, x/y not evenly spaced, an unknown
        variable, or when ``ome-zarr`` is not installed.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> um = {"units": "um", "long_name": "stage position"}
    >>> res = xr.Dataset({"g_area": (("y", "x"), np.ones((2, 3)), {"units": "counts*cm-1", "long_name": "area"})},
    ...                  coords={"y": ("y", [0.0, 0.5], um), "x": ("x", [0.0, 0.5, 1.0], um)})
    >>> out = write_ome_zarr(res, tempfile.mkdtemp() + "/r.ome.zarr")
    >>> out.name
    'r.ome.zarr'
    """
    try:
        import dask.array as da  # noqa: PLC0415
        import zarr  # noqa: PLC0415

        with warnings.catch_warnings():  # ome-zarr 0.18's own default argument Scaler() warns at import time
            warnings.simplefilter("ignore", DeprecationWarning)
            from ome_zarr.writer import write_image  # noqa: PLC0415
    except ImportError:
        raise HyperspecError('OME-Zarr export needs ome-zarr: pip install "ome-zarr>=0.18"') from None
    path = Path(path)
    if path.exists() and not overwrite:
        raise StoreExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it.")
    dims, names = _channels(results, variables)
    (dy, y0, yu), (dx, x0, xu) = _space(results, "y"), _space(results, "x")
    axes, units = ["c", "y", "x"], {d: u for d, u in (("y", yu), ("x", xu)) if u}
    scale, origin, extra = {"c": 1.0, "y": dy, "x": dx}, [0.0, y0, x0], {}
    if len(dims) == 3:
        series = dims[0]  # t: NGFF's time axis; any other (power …): the one custom-typed axis NGFF allows
        coord = np.asarray(results[series].values, dtype=np.float64) if series in results.coords else None
        unit = str(results[series].attrs.get("units", "")) if coord is not None else ""
        step = _even_step(coord, series) if coord is not None else None
        ngff_unit = (_TIME_UNITS if series == "t" else _OTHER_UNITS).get(unit)
        if ngff_unit and step is not None:
            units[series] = ngff_unit
        axes.insert(0, series)
        scale = {series: step or 1.0, **scale}
        origin.insert(0, float(coord[0]) if step is not None else 0.0)
        if coord is not None:
            extra["series"] = {"dim": series, "values": coord.tolist(), "units": unit, "evenly_spaced": step is not None}
    # (…, c, y, x): the channel axis just before the pixels; chunks: one channel (and frame), ≤ 1024 × 1024 pixels
    loaded = results[names].load()  # the band maps, read from the store once (they are small next to the spectra)
    values = {n: np.asarray(loaded[n].values, dtype=np.float64) for n in names}
    stack = da.from_array(np.stack([values[n] for n in names], axis=len(dims) - 2))
    stack = stack.rechunk((*(1,) * (stack.ndim - 2), *(min(n, 1024) for n in stack.shape[-2:])))  # ≤ 8 MiB chunks

    channels = []
    for i, n in enumerate(names):
        finite = values[n][np.isfinite(values[n])]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1.0
        window = {"min": lo, "max": hi, "start": lo, "end": hi}
        label = channel_label(n, results[n].attrs.get("units"))
        channels.append({"label": label, "color": _COLORS[i % len(_COLORS)], "window": window, "active": i == 0})
    omero = {"name": str(results.attrs.get("preset", "hyperspec results")), "channels": channels,
             "rdefs": {"model": "greyscale", "defaultZ": 0}}  # fmt: skip

    tmp = path.with_name(f".{path.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    group = zarr.open_group(str(tmp), mode="w")
    try:
        write_image(stack, group, scale_factors=[], axes=axes, axes_units=units, scale=scale, name=_image_name(path), omero=omero,
                    storage_options={"chunks": stack.chunksize})  # fmt: skip
        ome = dict(group.attrs["ome"])  # add the map's origin (NGFF: scale, then translation)
        for ms in ome["multiscales"]:
            for ds in ms["datasets"]:
                kept = [t for t in ds["coordinateTransformations"] if t.get("type") != "translation"]
                ds["coordinateTransformations"] = [*kept, {"type": "translation", "translation": origin}]
        ome.setdefault("omero", omero)
        group.attrs["ome"] = ome
        group.attrs["hyperspec"] = {
            "variables": names,
            "units": [str(results[n].attrs.get("units", "")) for n in names],
            "long_names": [str(results[n].attrs.get("long_name", "")) for n in names],
            **extra,
        }
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    return path
