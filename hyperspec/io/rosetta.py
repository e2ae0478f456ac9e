"""Formats read through RosettaSciIO (GPL-3, an optional extra: ``pip install "hyperspec-maps[formats]"``).

- Digital Surf MountainsMap ``.sur``/``.pro`` (CL/PL/Raman maps, profiles, spectra; zlib-compressed too);
- Hamamatsu streak camera ``.img`` (time × wavelength image → a series ``t`` in s);
- Delmic SPARC / ODEMIS HDF5 ``.h5`` (hyperspectral CL maps).
RosettaSciIO returns HyperSpy-style dicts (data, axes with name/units/scale/offset or an axis array,
original metadata); this module maps them onto the standard map Dataset: the spectral axis to nm/eV/cm⁻¹,
spatial axes to µm, time axes to s, and the file's own metadata to ``attrs["metadata"]``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import LENGTH_TO_UM, Reader, file_unit, register
from hyperspec.model import from_array

_SPECTRAL = {"nm": ("nm", 1.0), "mm": ("nm", 1e6), "µm": ("nm", 1e3), "um": ("nm", 1e3), "m": ("nm", 1e9), "ev": ("eV", 1.0),
             "cm-1": ("cm-1", 1.0), "1/cm": ("cm-1", 1.0), "cm⁻¹": ("cm-1", 1.0)}  # fmt: skip
_TIME_S = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9, "ps": 1e-12}
_DIM_NAMES = {"x": "x", "width": "x", "y": "y", "height": "y", "z": "z", "depth": "z", "time": "t", "t": "t"}


def _values(axis: dict) -> np.ndarray:
    if axis.get("axis") is not None:
        return np.asarray(axis["axis"], dtype=np.float64)
    return axis.get("offset", 0.0) + axis.get("scale", 1.0) * np.arange(int(axis["size"]), dtype=np.float64)


def _plain(obj):
    """Metadata reduced to JSON-able values (nested dicts kept, arrays as short lists)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return obj.tolist() if obj.size <= 64 else f"array{obj.shape}"
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj[:64]]
    return obj if isinstance(obj, (int, float, str, bool)) or obj is None else str(obj)


def to_dataset(path: Path, signal: dict, *, unit: str | None, laser_nm: float | None, instrument: str):
    """One RosettaSciIO signal dict → the standard map Dataset.

    The spectral axis is the last signal (non-navigation) axis whose units are a length (converted
    to nm), eV or cm⁻¹, or whose name says wavelength. Other axes become dims by name (``x``/``width``,
    ``y``/``height``, ``z``/``depth``, ``t``/``time``; a time unit gives ``t``), lengths in µm and
    times in s; an axis with no such name is ``point``.

    Parameters
    ----------
    path : Path
        The file the signal came from (its name is the ``source``).
    signal : dict
        A RosettaSciIO signal: ``data``, ``axes`` (``name``, ``units``, ``navigate``,
        ``index_in_array``, and ``axis`` or ``size``/``offset``/``scale``) and ``original_metadata``.
    unit : str or None
        The spectral unit to use when the axis units are not recognised (and to override them).
    laser_nm : float or None
        Laser wavelength, nm.
    instrument : str
        Stored as ``attrs["instrument"]``.

    Returns
    -------
    xarray.Dataset
        The standard map Dataset; the original metadata, reduced to JSON-able values, in
        ``attrs["metadata"]``.

    Raises
    ------
    ReaderError
        No spectral axis, or a spectral axis in unknown units without ``unit``.

    Examples
    --------
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from hyperspec.io.rosetta import to_dataset
    >>> signal = {"data": np.ones((2, 5), np.float32), "original_metadata": {"Instrument": "demo"}, "axes": [
    ...     {"name": "x", "units": "µm", "size": 2, "scale": 0.5, "offset": 0.0, "navigate": True, "index_in_array": 0},
    ...     {"name": "Wavelength", "units": "nm", "size": 5, "scale": 1.0, "offset": 500.0, "navigate": False, "index_in_array": 1}]}
    >>> ds = to_dataset(Path("line.sur"), signal, unit=None, laser_nm=None, instrument="Digital Surf MountainsMap")
    >>> ds.spectra.dims, ds["x"].values.tolist(), ds["wavelength"].values.tolist()
    (('x', 'spectral'), [0.0, 0.5], [500.0, 501.0, 502.0, 503.0, 504.0])
    """
    axes = sorted(signal["axes"], key=lambda a: a.get("index_in_array", 0))
    data = signal["data"]
    if len(axes) != data.ndim:
        axes = list(signal["axes"])
    spectral = None
    for i in reversed(range(len(axes))):
        a = axes[i]
        u = str(a.get("units") or "").strip().lower()
        if not a.get("navigate", True) and (u in _SPECTRAL or "wavelength" in str(a.get("name", "")).lower()):
            spectral = i
            break
    if spectral is None:
        raise ReaderError(f"{path}: no spectral axis among {[a.get('name') for a in axes]}; not a spectrum, map or series.")
    a = axes[spectral]
    spec_unit, factor = _SPECTRAL.get(str(a.get("units") or "").strip().lower(), (None, 1.0))
    spec_unit = file_unit(path, spec_unit, unit)
    if spec_unit is None:
        raise ReaderError(f"{path}: the spectral axis is in {a.get('units')!r}; pass unit='nm' or unit='cm-1'.")
    axis_values = _values(a) * factor
    dims, coords = [], {}
    for i, ax in enumerate(axes):
        if i == spectral:
            dims.append("spectral")
            continue
        name = str(ax.get("name") or "").strip().lower()
        u = str(ax.get("units") or "").strip()
        dim = _DIM_NAMES.get(name) or ("t" if u in _TIME_S else "x" if "position" in name or name.startswith("spectrum") else None)
        if dim is None or dim in dims:
            dim = "point" if "point" not in dims else f"axis{i}"
        dims.append(dim)
        vals = _values(ax)
        if dim == "t" and u in _TIME_S:
            coords[dim] = vals * _TIME_S[u]
        elif dim in ("x", "y", "z") and u in LENGTH_TO_UM:
            coords[dim] = vals * LENGTH_TO_UM[u]
    attrs = {"metadata": _plain(signal.get("original_metadata", {})), "instrument": instrument}
    return from_array(data, axis_values, unit=spec_unit, laser_nm=laser_nm, dims=tuple(dims), coords=coords or None,
                      source=path.name, attrs=attrs)  # fmt: skip


def _reader(module: str, instrument: str):
    def read(path: Path, *, laser_nm: float | None = None, unit: str | None = None, lazy: bool = False, **_):
        import importlib  # noqa: PLC0415

        logging.getLogger("rsciio").setLevel(logging.ERROR)  # "lumispy not installed" warnings are not ours
        if module == "delmic":  # HDF5: refuse datasets whose data live outside the file (issue 19)
            from hyperspec.io.hdf5 import check_local_storage  # noqa: PLC0415

            check_local_storage(path)
        file_reader = importlib.import_module(f"rsciio.{module}").file_reader
        kwargs = {"lazy": lazy} if module != "digitalsurf" else {}
        signals = [s for s in file_reader(str(path), **kwargs) if np.ndim(s["data"]) >= 1]
        if not signals:
            raise ReaderError(f"{path}: the file holds no spectra.")
        spectral = []
        for s in signals:
            try:
                spectral.append(to_dataset(path, s, unit=unit, laser_nm=laser_nm, instrument=instrument))
            except ReaderError:
                continue
        if not spectral:
            return to_dataset(path, signals[0], unit=unit, laser_nm=laser_nm, instrument=instrument)  # raises the clear error
        return spectral[0]

    return read


def _sniff_sur(path: Path, head: bytes) -> bool:
    return head.startswith((b"DIGITAL SURF", b"DSCOMPRESSED"))


def _sniff_img(path: Path, head: bytes) -> bool:
    return head.startswith(b"IM") and path.suffix.lower() == ".img"


def _sniff_delmic(path: Path, head: bytes) -> bool:
    if not head.startswith(b"\x89HDF\r\n\x1a\n"):
        return False
    import h5py  # noqa: PLC0415

    with h5py.File(path, "r") as f:
        return any(k.startswith("Acquisition") for k in f) and any("ImageData" in f[k] for k in f if k.startswith("Acquisition"))


_SUR = "Digital Surf MountainsMap .sur/.pro (maps, profiles, spectra)"
register(Reader("digitalsurf", (".sur", ".pro"), _SUR, ("map", "line", "spectrum"), False, _sniff_sur,
                _reader("digitalsurf", "Digital Surf MountainsMap"), "rosettasciio"))  # fmt: skip
register(Reader("hamamatsu-img", (".img",), "Hamamatsu streak camera .img (time-resolved spectra)", ("series",), False, _sniff_img,
                _reader("hamamatsu", "Hamamatsu streak camera"), "rosettasciio"))  # fmt: skip
register(Reader("delmic-h5", (".h5", ".hdf5"), "Delmic SPARC HDF5 (CL/PL maps)", ("map",), True, _sniff_delmic,
                _reader("delmic", "Delmic SPARC"), "rosettasciio"))  # fmt: skip
