"""MATLAB ``.mat`` exports of maps: Eigenvector DataSet objects, read with ``scipy.io.loadmat``.

WITec Project exports them for PLS_Toolbox / RamanSPy; ``loadmat`` executes no code.

An ``image`` DataSet holds ``data`` (pixels × channels), ``imagesize`` (rows, columns; pixels in
MATLAB column order), ``axisscale{2,1}`` (the spectral axis) and ``imageaxisscale`` (the spatial
axes). The spectral unit is not stored in these files; give ``unit=`` when the axis could be either
(e.g. ``unit="cm-1"``). MATLAB v7.3 files (HDF5) are not read yet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, guess_unit, register
from hyperspec.model import from_array


def _sniff(path: Path, head: bytes) -> bool:
    return head.startswith(b"MATLAB 5.0 MAT-file")


def _cell(obj, i, j):
    try:
        v = np.asarray(obj[i, j], dtype=np.float64).ravel()
    except (IndexError, TypeError, ValueError):
        return None
    return v if v.size else None


def _read(path: Path, *, unit: str | None = None, laser_nm: float | None = None, **_):
    from scipy.io import loadmat  # noqa: PLC0415

    mat = loadmat(str(path))
    keys = [k for k in mat if not k.startswith("__")]
    for key in keys:
        obj = mat[key]
        if obj.dtype.names and "data" in obj.dtype.names and "imagesize" in obj.dtype.names:
            o = obj[0, 0]
            data = np.asarray(o["data"])
            axis = _cell(o["axisscale"], 1, 0)
            if axis is None or data.ndim != 2 or axis.size != data.shape[1]:
                raise ReaderError(f"{path}: the DataSet {key!r} has no spectral axis matching its {data.shape} data.")
            unit = guess_unit(axis, unit, path)  # these files do not store the spectral unit
            ny, nx = (int(v) for v in np.asarray(o["imagesize"]).ravel()[:2])
            if ny * nx != data.shape[0]:
                raise ReaderError(f"{path}: imagesize {ny}×{nx} does not match {data.shape[0]} spectra.")
            cube = data.reshape(nx, ny, -1).transpose(1, 0, 2)  # MATLAB stores the pixels column by column
            coords = {}
            ys, xs = _cell(o["imageaxisscale"], 0, 0), _cell(o["imageaxisscale"], 1, 0)
            if ys is not None and ys.size == ny:
                coords["y"] = ys
            if xs is not None and xs.size == nx:
                coords["x"] = xs
            name = str(np.asarray(o["name"]).ravel()[0]) if np.asarray(o["name"]).size else key
            return from_array(cube, axis, unit=unit, laser_nm=laser_nm, dims=("y", "x", "spectral"), coords=coords or None,
                              source=path.name, attrs={"instrument": "MATLAB DataSet export (e.g. WITec)", "title": name})  # fmt: skip
    raise ReaderError(f"{path}: no map DataSet (data + imagesize) among the variables {keys}.")


register(Reader("matlab-dataset", (".mat",), "MATLAB DataSet map export (WITec / PLS_Toolbox)", ("map",), False, _sniff, _read))
