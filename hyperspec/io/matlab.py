"""MATLAB ``.mat`` exports of maps: Eigenvector DataSet objects, read with ``scipy.io.loadmat``.

WITec Project exports them for PLS_Toolbox / RamanSPy; ``loadmat`` executes no code.

An ``image`` DataSet holds ``data`` (pixels × channels), ``imagesize`` (rows, columns; pixels in
MATLAB column order), ``axisscale{2,1}`` (the spectral axis) and ``imageaxisscale`` (the spatial
axes). The spectral unit is not stored in these files; give ``unit=`` when the axis could be either
(e.g. ``unit="cm-1"``). MATLAB v7.3 files are HDF5 and read by ``hyperspec.io.hdf5``.
Compressed variables are checked before ``loadmat`` inflates them: one declaring, or inflating to,
more than ``hyperspec.io.numpy_.inflate_limit()`` bytes is refused (the inflated bytes are counted
in 1 MiB steps and not kept), so a decompression bomb costs no memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, guess_unit, register
from hyperspec.model import from_array

_ITEMSIZE = {6: 8, 7: 4, 8: 1, 9: 1, 10: 2, 11: 2, 12: 4, 13: 4, 14: 8, 15: 8}  # mxCLASS → bytes per element


def _sniff(path: Path, head: bytes) -> bool:
    return head.startswith(b"MATLAB 5.0 MAT-file")


def _matrix_header(head: bytes, order: str) -> tuple[str, tuple[int, ...], int]:
    """(name, dims, declared data bytes) of a v5 miMATRIX element from its first bytes; best effort."""
    u32 = np.dtype(order + "u4")

    def tag(at):
        t, n = (int(v) for v in np.frombuffer(head, u32, 2, at))
        if t >> 16:  # the small data element format: the data are in the tag's second word
            return t & 0xFFFF, t >> 16, at + 4, at + 8
        return t, n, at + 8, at + 8 + (n + 7) // 8 * 8

    try:
        _, _, flags_at, at = tag(8)
        flags = int(np.frombuffer(head, u32, 1, flags_at)[0])
        _, n, dims_at, at = tag(at)
        dims = tuple(int(v) for v in np.frombuffer(head, np.dtype(order + "i4"), n // 4, dims_at))
        _, n, name_at, _ = tag(at)
        name = head[name_at : name_at + n].decode("latin-1")
    except (ValueError, IndexError):
        return "?", (), 0
    itemsize = _ITEMSIZE.get(flags & 0xFF, 0) * (2 if flags & 0x800 else 1)
    return name or "?", dims, int(np.prod(dims, dtype=object)) * itemsize


def _check_inflation(path: Path) -> None:
    """Refuse a compressed variable that declares, or inflates to, more than ``inflate_limit()`` bytes.

    Reads the variables' headers (and counts the inflated bytes in 1 MiB steps, keeping none of
    them) before ``loadmat`` inflates anything, so a decompression bomb costs no memory.
    """
    from hyperspec.io.numpy_ import inflate_limit  # noqa: PLC0415

    limit = inflate_limit()
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(128)
        order = "<" if header[126:128] == b"IM" else ">"
        u32 = np.dtype(order + "u4")
        pos = 128
        while pos + 8 <= size:
            fh.seek(pos)
            mdtype, nbytes = (int(v) for v in np.frombuffer(fh.read(8), u32, 2))
            if mdtype == 15:  # miCOMPRESSED: a zlib stream holding one miMATRIX element
                _check_compressed(path, fh, nbytes, order, limit)
            pos += 8 + nbytes


def _check_compressed(path: Path, fh, nbytes: int, order: str, limit: int) -> None:
    import zlib  # noqa: PLC0415

    d = zlib.decompressobj()
    head, total, left, declared, name = b"", 0, nbytes, None, "?"
    pending = b""
    while True:
        if not pending:
            if left <= 0:
                break
            pending = fh.read(min(left, 2**20))
            left -= len(pending)
            if not pending:
                break
        try:
            out = d.decompress(pending, 2**20)
        except zlib.error as exc:
            raise ReaderError(f"{path}: a compressed variable is corrupt ({exc}).") from None
        pending = d.unconsumed_tail
        total += len(out)
        if len(head) < 4096:
            head += out[: 4096 - len(head)]
            if declared is None and len(head) >= min(4096, total) and len(head) >= 8:
                element = int(np.frombuffer(head, np.dtype(order + "u4"), 1, 4)[0]) + 8
                name, dims, data_bytes = _matrix_header(head, order)
                declared = max(element, data_bytes)
                if declared > limit:
                    what = f"{data_bytes} bytes of data" if data_bytes > limit else f"{element} bytes uncompressed"
                    raise ReaderError(f"{path}: the compressed variable {name!r} {dims} declares {what}, "
                                      f"more than the {limit}-byte limit for inflating into memory "
                                      "(hyperspec.io.numpy_.MAX_INFLATED_BYTES, or half the available memory); "
                                      "save it without compression (savemat(..., do_compression=False) or MATLAB -v6).")  # fmt: skip
        if total > limit or (declared is not None and total > declared + 2**20):
            raise ReaderError(f"{path}: the compressed variable {name!r} inflates to more than "
                              f"{min(limit, (declared or limit) + 2**20)} bytes (it declares {declared}); "
                              "the file is forged or corrupt.")  # fmt: skip
        if d.eof:
            break


def _cell(obj, i, j):
    try:
        v = np.asarray(obj[i, j], dtype=np.float64).ravel()
    except (IndexError, TypeError, ValueError):
        return None
    return v if v.size else None


def _read(path: Path, *, unit: str | None = None, laser_nm: float | None = None, **_):
    from scipy.io import loadmat  # noqa: PLC0415

    _check_inflation(path)
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
