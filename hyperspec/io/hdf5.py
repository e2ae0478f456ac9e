"""HDF5 files of any layout (NeXus, MATLAB v7.3, instrument exports), read lazily with h5py.

How the spectra and their axis are found, in order:
1. ``dataset=`` and ``axis=`` (paths inside the file) when given;
2. NeXus: the ``NXdata`` group's ``signal`` attribute names the spectra, its ``axes`` attribute the
   axes (the last one spectral; the others become ``y``/``x`` coordinates in µm when their units say so);
3. otherwise the largest numeric dataset is the spectra and the one 1-D dataset whose length equals
   its last dimension (or, for MATLAB, its first) is the axis.
The unit comes from ``unit=``, else the axis' ``units``/``unit`` attribute, else its name
(wavelength → nm, wavenumber/shift → cm⁻¹, energy → eV). MATLAB v7.3 files (HDF5 with a 512-byte
``MATLAB 7.3`` user block) store arrays column-major: they are transposed, pixels in MATLAB order.
Anything ambiguous gets an error listing the datasets (path, shape) and asking for ``dataset=``/``axis=``.
Datasets larger than 256 MiB stay on disk as Dask arrays (the file stays open while they are used).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import LAZY_BYTES, LENGTH_TO_UM, Reader, file_unit, guess_unit, register
from hyperspec.model import from_array

_UNITS = {"nm": "nm", "nanometer": "nm", "cm-1": "cm-1", "1/cm": "cm-1", "cm^-1": "cm-1", "ev": "eV", "cm-1-abs": "cm-1-abs"}
_NAME_UNITS = (("wavelength", "nm"), ("shift", "cm-1"), ("wavenumber", "cm-1"), ("energy", "eV"))


def _sniff(path: Path, head: bytes) -> bool:
    return head.startswith(b"\x89HDF\r\n\x1a\n") or (head.startswith(b"MATLAB 7.3 MAT-file") and head[512:520] == b"\x89HDF\r\n\x1a\n")


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return ",".join(_text(v) for v in value.ravel())
    return str(value)


def _datasets(f, path: Path | None = None) -> dict[str, object]:
    import h5py  # noqa: PLC0415

    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            _refuse_foreign_storage(obj, "/" + name, path)
            if obj.dtype.kind in "iuf" and obj.size > 0:
                found["/" + name] = obj

    f.visititems(visit)  # hard links only: external and soft links are not followed, so never read
    return found


def check_local_storage(path: str | Path) -> None:
    """Refuse an HDF5 file any of whose datasets keeps its data outside the file (external storage, virtual).

    Such a dataset can map any local file (``/etc/passwd``) into what reads as spectra; readers of
    HDF5-based formats (NeXus, MATLAB v7.3, Delmic) call this before reading. External links are not
    followed by the readers, so they are not checked here.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.

    Raises
    ------
    ReaderError
        Naming the file, the dataset and where its data would come from.

    Examples
    --------
    >>> import h5py, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.h5")
    >>> with h5py.File(p, "w") as f:
    ...     _ = f.create_dataset("s", shape=(4,), dtype="u1", external=[(p + ".raw", 0, 4)])
    >>> check_local_storage(p)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    hyperspec._errors.ReaderError: ...: the dataset /s uses HDF5 external storage ...
    """
    import h5py  # noqa: PLC0415

    path = Path(path)
    with h5py.File(path, "r") as f:
        _datasets(f, path)


def _refuse_foreign_storage(obj, name: str, path: Path | None) -> None:
    """Refuse a dataset whose bytes live outside this file (they could be any local file, e.g. /etc/passwd)."""
    if obj.external is not None:
        files = ", ".join(sorted({_text(e[0]) for e in obj.external}))
        raise ReaderError(f"{path}: the dataset {name} uses HDF5 external storage (its data is read from {files}, "
                          "not from this file); hyperspec refuses it, as it could expose any local file. "
                          "Copy the data into the file (e.g. h5repack) and read that.")  # fmt: skip
    if obj.is_virtual:
        raise ReaderError(f"{path}: the dataset {name} is an HDF5 virtual dataset (its data is mapped from other files); "
                          "hyperspec refuses it, as it could expose any local file. Copy the data into the file "
                          "(e.g. h5repack) and read that.")  # fmt: skip


def _listing(found: dict) -> str:
    return ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(found.items(), key=lambda kv: -kv[1].size)[:12])


def _array(ds, transpose: bool):
    if ds.size * ds.dtype.itemsize > LAZY_BYTES:
        import dask.array as da  # noqa: PLC0415

        arr = da.from_array(ds, chunks="auto")
    else:
        arr = ds[()]
    return arr.T if transpose else arr


def _unit_of(ds, name: str) -> str | None:
    for key in ("units", "unit", "Units"):
        if key in ds.attrs:
            u = _UNITS.get(_text(ds.attrs[key]).strip().lower())
            if u:
                return u
    low = name.rsplit("/", 1)[-1].lower()
    return next((u for word, u in _NAME_UNITS if word in low), None)


def _nexus(f):
    """(signal path, [axis paths]) of the first NXdata group with a signal, else None."""
    import h5py  # noqa: PLC0415

    hit = []

    def visit(name, obj):
        if hit or not isinstance(obj, h5py.Group):
            return
        if _text(obj.attrs.get("NX_class", "")) == "NXdata" and "signal" in obj.attrs:
            axes = obj.attrs.get("axes", [])
            axes = [_text(a) for a in (axes if isinstance(axes, (list, np.ndarray)) else [axes])]
            axes = [a for part in axes for a in part.split(",") if a and a != "."]
            hit.append((f"/{name}/{_text(obj.attrs['signal'])}", [f"/{name}/{a}" for a in axes]))

    f.visititems(visit)
    return hit[0] if hit else None


def _read(path: Path, *, dataset: str | None = None, axis: str | None = None, unit: str | None = None, laser_nm: float | None = None, **_):
    import h5py  # noqa: PLC0415

    with path.open("rb") as fh:
        matlab = fh.read(19) == b"MATLAB 7.3 MAT-file"
    f = h5py.File(path, "r")
    try:
        ds = _from_file(path, f, matlab, dataset, axis, unit, laser_nm)
    except BaseException:
        f.close()
        raise
    if not hasattr(ds["spectra"].data, "dask"):
        f.close()  # everything was read; a lazy map keeps the file open while it is used
    return ds


def _from_file(path: Path, f, matlab: bool, dataset, axis, unit, laser_nm):
    found = _datasets(f, path)
    nexus = _nexus(f) if dataset is None else None
    spatial_axes: list[str] = []
    if dataset is None and nexus is not None:
        dataset, axes = nexus
        if axes:
            axis = axis or axes[-1]
            spatial_axes = axes[:-1]
    if dataset is None:
        if not found:
            raise ReaderError(f"{path}: an HDF5 file without numeric datasets.")
        dataset = max(found, key=lambda k: found[k].size)
    if dataset not in found:
        raise ReaderError(f"{path}: no numeric dataset {dataset!r}; the file has: {_listing(found)}.")
    spectra = found[dataset]
    n = spectra.shape[0] if matlab else spectra.shape[-1]
    if axis is None:
        matches = [k for k, v in found.items() if k != dataset and v.size == n and (v.ndim == 1 or (v.ndim == 2 and min(v.shape) == 1))]
        if len(matches) != 1:
            raise ReaderError(f"{path}: cannot tell which dataset is the spectral axis of {dataset} {tuple(spectra.shape)} "
                              f"({len(matches)} candidates). Pass dataset= and axis= (and unit=); "
                              f"the file has: {_listing(found)}.")  # fmt: skip
        axis = matches[0]
    if axis not in found:
        raise ReaderError(f"{path}: no numeric dataset {axis!r} for the axis; the file has: {_listing(found)}.")
    axis_values = np.asarray(found[axis][()], dtype=np.float64).ravel()
    data = _array(spectra, matlab)
    if data.shape[-1] != axis_values.size:
        raise ReaderError(f"{path}: {dataset} has {data.shape[-1]} channels but the axis {axis} has {axis_values.size} values.")
    unit = file_unit(path, _unit_of(found[axis], axis), unit) or guess_unit(axis_values, None, path)
    size = next((v for k, v in found.items() if k.rsplit("/", 1)[-1].lower() == "imagesize" and v.size == 2), None)
    if matlab and data.ndim == 2 and size is not None:  # a map's pixels in MATLAB column order
        ny, nx = (int(v) for v in np.asarray(size[()]).ravel())
        if ny * nx == data.shape[0]:
            data = data.reshape(nx, ny, -1).transpose(1, 0, 2)
    dims = {1: ("spectral",), 2: ("point", "spectral"), 3: ("y", "x", "spectral"), 4: ("t", "y", "x", "spectral")}.get(data.ndim)
    if dims is None:
        raise ReaderError(f"{path}: {dataset} has {data.ndim} dimensions; hyperspec reads 1–4 (…, y, x, spectral).")
    coords = {}
    for name, ap in zip(("y", "x"), spatial_axes[-2:] if len(spatial_axes) >= 2 else [], strict=False):
        if ap in found and name in dims:
            factor = LENGTH_TO_UM.get(_text(found[ap].attrs.get("units", "um")).strip().lower(), 1.0)
            coords[name] = np.asarray(found[ap][()], dtype=np.float64).ravel() * factor
    meta = {k: _text(v)[:200] for k, v in f.attrs.items()}
    meta.update({"dataset": dataset, "axis": axis})
    kind = "MATLAB v7.3" if matlab else "NeXus" if nexus else "HDF5"
    return from_array(data, axis_values, unit=unit, laser_nm=laser_nm, dims=dims, coords=coords or None, source=path.name,
                      attrs={"instrument": kind, "metadata": meta})  # fmt: skip


register(Reader("hdf5", (".h5", ".hdf5", ".hdf", ".nxs", ".he5", ".mat"), "HDF5: NeXus NXdata, MATLAB v7.3, or dataset=/axis= paths",
                ("map", "series", "spectrum"), True, _sniff, _read, "h5py", generic=True))  # fmt: skip
