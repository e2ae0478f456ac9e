"""NumPy ``.npz`` archives and ``.npy`` arrays (never with pickle).

``.npz``: ``spectra`` plus one axis array.

Keys: ``spectra`` (…, m), and one of ``shift`` (cm⁻¹), ``wavelength`` (nm), ``energy`` (eV) or
``axis`` with a string ``unit``; optional ``laser_nm``, ``dims`` (strings), ``x``, ``y``, ``t``.
``.npy``: the intensities only (memory-mapped, so a large array is read lazily); the axis comes from
``axis=`` (an array or a ``.npy``/text file) with ``unit=``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import LAZY_BYTES, Reader, register
from hyperspec.model import from_array

_AXES = {"shift": "cm-1", "wavelength": "nm", "energy": "eV"}


def _read(path: Path, *, laser_nm: float | None = None, **_):
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        if "spectra" not in keys:
            raise ReaderError(f"{path}: an .npz map needs a 'spectra' array; it has {sorted(keys)}.")
        data = z["spectra"]
        axis_key = next((k for k in _AXES if k in keys), "axis" if "axis" in keys else None)
        if axis_key is None:
            raise ReaderError(f"{path}: no spectral axis; add one of {', '.join(_AXES)} (or 'axis' with 'unit') to the archive.")
        if axis_key in _AXES:
            unit = _AXES[axis_key]
        elif "unit" in keys:
            unit = str(z["unit"])
        else:
            raise ReaderError(f"{path}: 'axis' needs a 'unit' entry (nm, cm-1, cm-1-abs or eV).")
        laser = laser_nm if laser_nm is not None else (float(z["laser_nm"]) if "laser_nm" in keys else None)
        dims = [str(d) for d in z["dims"]] if "dims" in keys else None
        coords = {k: z[k] for k in ("x", "y", "t", "z") if k in keys and (dims is None or k in dims)}
        return from_array(data, z[axis_key], unit=unit, laser_nm=laser, dims=dims, coords=coords or None, source=path.name)


def _sniff(path: Path, head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04" and path.suffix.lower() == ".npz"


def _read_npy(path: Path, *, axis=None, unit: str | None = None, laser_nm: float | None = None, dims=None, **_):
    if axis is None or unit is None:
        raise ReaderError(f"{path}: a .npy file holds only the intensities; pass axis= (an array or a .npy/.txt file) and unit= "
                          "(CLI: --axis FILE --unit cm-1), or save an .npz with 'spectra' and 'shift'/'wavelength'.")  # fmt: skip
    data = np.load(path, allow_pickle=False, mmap_mode="r")
    if isinstance(axis, (str, Path)):
        axis_path = Path(axis)
        axis = np.load(axis_path, allow_pickle=False) if axis_path.suffix == ".npy" else np.loadtxt(axis_path, ndmin=1)
    axis = np.asarray(axis, dtype=np.float64).ravel()
    if data.shape[-1] != axis.size:
        raise ReaderError(f"{path}: the array has {data.shape[-1]} channels (last dimension) but the axis {axis.size} values.")
    if data.nbytes > LAZY_BYTES:
        import dask.array as da  # noqa: PLC0415

        data = da.from_array(data, chunks="auto")
    else:
        data = np.array(data)
    return from_array(data, axis, unit=unit, laser_nm=laser_nm, dims=dims, source=path.name)


register(Reader("npy", (".npy",), "NumPy .npy array (+ axis= and unit=; no pickle)", ("map", "series", "spectrum"), True,
                lambda path, head: head.startswith(b"\x93NUMPY"), _read_npy))  # fmt: skip
register(Reader("npz", (".npz",), "NumPy .npz archive (spectra + axis; no pickle)", ("map", "series", "spectrum"), False, _sniff, _read))
