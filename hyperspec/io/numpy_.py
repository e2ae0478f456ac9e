"""NumPy ``.npz`` archives (never with pickle): ``spectra`` plus one axis array.

Keys: ``spectra`` (…, m), and one of ``shift`` (cm⁻¹), ``wavelength`` (nm), ``energy`` (eV) or
``axis`` with a string ``unit``; optional ``laser_nm``, ``dims`` (strings), ``x``, ``y``, ``t``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, register
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


register(Reader("npz", (".npz",), "NumPy .npz archive (spectra + axis; no pickle)", ("map", "series", "spectrum"), False, _sniff, _read))
