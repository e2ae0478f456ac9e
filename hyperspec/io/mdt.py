"""NT-MDT ``.mdt`` (Nova / Nova Px): the frame container and its MDA spectral frames (no library needed).

The file is a 33-byte header (magic ``01 b0 93 ff``, size, last frame index) and a chain of frames,
each with a 22-byte header (size, type, version, date). ``mdt_frames(path)`` lists every frame:
text (3), scanned 2-D (0), spectroscopy (1), curves (190/201) and MDA (106), the multi-dimensional
arrays Nova Px writes for images and for Raman/PL spectra and spectral maps. An MDA frame carries its
title, an XML comment (UTF-16), one calibration per dimension and per measurand (name, unit, bias,
scale, index range, data type) and the offset of its data.

Supported: MDA frames with a spectral dimension (unit nm, cm⁻¹ or eV) — single spectra, lines and
maps (spatial dimensions in µm). Not supported: the legacy spectroscopy/curve frames (I(V), force
curves: not spectra), images, and the compressed ``.mdt`` variants; a file without a spectral frame
gets an error listing what its frames hold. Validated on ``GaAs_map.mdt`` (no public Raman ``.mdt``
exists: the spectral path is checked on that file with a dimension relabelled as wavelength).
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import LENGTH_TO_UM, Reader, binary_block, register
from hyperspec.model import from_array

MAGIC = b"\x01\xb0\x93\xff"
FRAME_TYPES = {0: "scanned image", 1: "spectroscopy", 3: "text", 105: "old MDA", 106: "MDA", 107: "palette", 190: "curves", 201: "curves"}
_MDA_TYPES = {-1: "i1", 1: "u1", -2: "<i2", 2: "<u2", -4: "<i4", 4: "<u4", -8: "<i8", 8: "<u8", -5892: "<f4", -13320: "<f8"}
_SPECTRAL_UNITS = {"nm": "nm", "cm-1": "cm-1", "1/cm": "cm-1", "cm^-1": "cm-1", "ev": "eV"}


def _sniff(path: Path, head: bytes) -> bool:
    return head.startswith(MAGIC)


def _calibration(b: bytes, p: int) -> tuple[int, dict]:
    total, struct_len = struct.unpack_from("<II", b, p)
    q = p + 8
    n_name, n_comment, n_unit = struct.unpack_from("<III", b, q)
    bias, scale = struct.unpack_from("<dd", b, q + 12 + 16 + 8)
    lo, hi = struct.unpack_from("<QQ", b, q + 12 + 16 + 8 + 16)
    dtype = struct.unpack_from("<i", b, q + 12 + 16 + 8 + 32)[0]
    r = q + struct_len
    name = b[r : r + n_name].decode("latin-1")
    unit = b[r + n_name + n_comment : r + n_name + n_comment + n_unit].decode("latin-1")
    if total < 8 or r + n_name + n_comment + n_unit > p + total:
        raise ValueError("calibration record overruns its length")
    return p + total, {"name": name, "unit": unit, "bias": bias, "scale": scale, "min": lo, "max": hi, "dtype": dtype}


def _mda(b: bytes, start: int) -> dict:
    p = start + 22 + 8 + 32 + 4
    sizes = struct.unpack_from("<8I", b, p)
    p += 32
    title = b[p : p + sizes[0]].decode("utf-8", errors="replace")
    xml = b[p + sizes[0] : p + sizes[0] + sizes[1]].decode("utf-16", errors="replace")
    p += sum(sizes[:5]) + 4
    struct_len = struct.unpack_from("<I", b, p)[0]
    _array_size, _cell, n_dims, n_meas = struct.unpack_from("<QIII", b, p + 4)
    if n_dims > 8 or n_meas > 64:
        raise ValueError(f"{n_dims} dimensions / {n_meas} measurands")
    p += 4 + struct_len
    dims, meas = [], []
    for _ in range(n_dims):
        p, c = _calibration(b, p)
        dims.append(c)
    for _ in range(n_meas):
        p, c = _calibration(b, p)
        meas.append(c)
    return {"title": title, "xml": xml, "dimensions": dims, "measurands": meas, "data_offset": sizes[6], "data_size": sizes[7]}


def mdt_frames(path: str | Path) -> list[dict]:
    """List every frame of an NT-MDT ``.mdt`` file, reading only the headers (memory-mapped).

    Parameters
    ----------
    path : str or Path
        The ``.mdt`` file.

    Returns
    -------
    list of dict
        One dict per frame: ``index``, ``type`` (``"text"``, ``"MDA"``, ``"scanned image"`` …, see
        ``FRAME_TYPES``), ``type_code``, ``size`` (bytes, header included) and ``date``
        (``"YYYY-MM-DD hh:mm:ss"``). MDA frames add ``title``, ``xml`` (the UTF-16 comment),
        ``dimensions`` and ``measurands`` (each a calibration dict: ``name``, ``unit``, ``bias``,
        ``scale``, ``min``, ``max``, ``dtype`` code) and ``data_offset`` / ``data_size`` (bytes).

    Raises
    ------
    ReaderError
        Not an ``.mdt`` file (magic bytes), a truncated file, or a corrupt MDA frame.

    Examples
    --------
    >>> import struct
    >>> import tempfile
    >>> from pathlib import Path
    >>> from hyperspec.io.mdt import MAGIC, mdt_frames
    >>> header = MAGIC + bytes(8) + struct.pack("<H", 0) + bytes(19)  # 33 bytes, one frame
    >>> text_frame = struct.pack("<IH", 22, 3) + bytes(2) + struct.pack("<6H", 2024, 5, 17, 12, 30, 0) + bytes(2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "scan.mdt"
    ...     _ = path.write_bytes(header + text_frame)
    ...     print(mdt_frames(path))
    [{'index': 0, 'type': 'text', 'type_code': 3, 'size': 22, 'date': '2024-05-17 12:30:00'}]
    """
    path = Path(path)
    with path.open("rb") as fh:
        if path.stat().st_size < 33:
            raise ReaderError(f"{path}: shorter than the 33-byte .mdt header: truncated.")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as b:  # headers only are touched
            return _frames(path, b)


def _frames(path: Path, b) -> list[dict]:
    if not b[:4] == MAGIC:
        raise ReaderError(f"{path}: not an NT-MDT .mdt file (magic bytes missing or file shorter than its header).")
    n = struct.unpack_from("<H", b, 12)[0] + 1
    frames, off = [], 33
    for i in range(n):
        if off + 22 > len(b):
            raise ReaderError(f"{path}: the header lists {n} frames but the file ends inside frame {i}: truncated.")
        size, kind = struct.unpack_from("<IH", b, off)
        if size < 22 or off + size > len(b):
            raise ReaderError(f"{path}: frame {i} declares {size} bytes at offset {off}; the file has {len(b)}: truncated or corrupt.")
        year, month, day, hour, minute, sec = struct.unpack_from("<6H", b, off + 8)
        if (year, month, day) != (0, 0, 0) and not (1980 <= year <= 2200 and 1 <= month <= 12 and 1 <= day <= 31
                                                    and hour < 24 and minute < 60 and sec < 61):  # fmt: skip
            where = f"the size of frame {i - 1} ({frames[-1]['size']} bytes) is corrupt" if frames else "the file header is corrupt"
            raise ReaderError(f"{path}: frame {i} at offset {off} has an impossible header (type {kind}, date "
                              f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{sec:02d}): {where}.")  # fmt: skip
        frame = {"index": i, "type": FRAME_TYPES.get(kind, f"type {kind}"), "type_code": kind, "size": size,
                 "date": f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{sec:02d}"}  # fmt: skip
        if kind == 106:
            try:
                frame.update(_mda(b, off))
            except (struct.error, ValueError, UnicodeDecodeError) as exc:
                raise ReaderError(f"{path}: MDA frame {i} is corrupt ({exc}).") from None
            _check_mda(path, frame, off, size)
        frames.append(frame)
        off += size
    return frames


def _check_mda(path: Path, frame: dict, off: int, size: int) -> None:
    """An MDA frame's dimensions and data block must be possible and lie inside the frame (a forged size reads the next frame)."""
    i, dims = frame["index"], frame["dimensions"]
    if not dims:
        raise ReaderError(f"{path}: MDA frame {i} declares no dimensions: the frame is corrupt.")
    shape = [d["max"] - d["min"] + 1 for d in dims]
    if any(n <= 0 or n > 1 << 31 for n in shape):
        raise ReaderError(f"{path}: MDA frame {i} declares dimensions {shape}: the frame is corrupt.")
    start, nbytes = frame["data_offset"], frame["data_size"]
    if not (off + 22 <= start and start + nbytes <= off + size):
        raise ReaderError(f"{path}: MDA frame {i} (bytes {off}…{off + size}) declares its data at bytes {start}…{start + nbytes}, "
                          "outside the frame: the frame size or header is corrupt.")  # fmt: skip
    itemsize = sum(np.dtype(_MDA_TYPES[m["dtype"]]).itemsize for m in frame["measurands"] if m["dtype"] in _MDA_TYPES)
    need = int(np.prod(shape, dtype=np.float64)) * itemsize
    if need > nbytes:
        raise ReaderError(f"{path}: MDA frame {i} declares {'×'.join(map(str, shape))} values ({need} bytes) in a data block of "
                          f"{nbytes} bytes: the frame is corrupt.")  # fmt: skip


def _describe(frames: list[dict]) -> str:
    parts = []
    for f in frames:
        if f["type_code"] == 106:
            shape = "×".join(str(d["max"] - d["min"] + 1) for d in f["dimensions"])
            units = ", ".join(d["unit"] for d in f["dimensions"])
            parts.append(f"{f['index']}: MDA '{f['title']}' {shape} ({units})")
        else:
            parts.append(f"{f['index']}: {f['type']}")
    return "; ".join(parts)


def _read(path: Path, *, laser_nm: float | None = None, frame: int | None = None, **_):
    frames = mdt_frames(path)
    spectral = [f for f in frames if f["type_code"] == 106 and any(d["unit"].strip().lower() in _SPECTRAL_UNITS for d in f["dimensions"])]
    if frame is not None:
        spectral = [f for f in spectral if f["index"] == frame]
    if not spectral:
        raise ReaderError(f"{path}: no spectral frame (an MDA frame with a wavelength, cm⁻¹ or eV dimension); "
                          f"its frames: {_describe(frames)}. Images and I(V)/force curves are not read.")  # fmt: skip
    f = spectral[0]
    dims = f["dimensions"]
    if len(f["measurands"]) != 1 or f["measurands"][0]["dtype"] not in _MDA_TYPES:
        raise ReaderError(f"{path}: frame {f['index']} has {len(f['measurands'])} measurands; hyperspec reads one intensity.")
    shape = [d["max"] - d["min"] + 1 for d in dims]
    if any(n <= 0 or n > 1 << 31 for n in shape):
        raise ReaderError(f"{path}: frame {f['index']} declares dimensions {shape}: corrupt.")
    # the first dimension varies fastest (Fortran order): read C-ordered reversed, then put dims in file order
    data = binary_block(path, _MDA_TYPES[f["measurands"][0]["dtype"]], f["data_offset"], tuple(shape[::-1]))
    data = np.asarray(data).transpose(tuple(range(len(shape)))[::-1])
    s = next(i for i, d in enumerate(dims) if d["unit"].strip().lower() in _SPECTRAL_UNITS)
    axis = dims[s]["bias"] + dims[s]["scale"] * np.arange(shape[s])
    unit = _SPECTRAL_UNITS[dims[s]["unit"].strip().lower()]
    data = np.moveaxis(data, s, -1)
    others = [d for i, d in enumerate(dims) if i != s]
    names = ["x", "y", "z"][: len(others)]
    coords = {}
    for name, d in zip(names, others, strict=True):
        factor = LENGTH_TO_UM.get(d["unit"].strip().lower())
        if factor is not None:
            coords[name] = (d["bias"] + d["scale"] * np.arange(d["max"] - d["min"] + 1)) * factor
    data = data.transpose(tuple(range(len(others)))[::-1] + (len(others),))  # (… y, x, spectral)
    attrs = {"instrument": "NT-MDT", "metadata": {"frame": f["index"], "title": f["title"], "frames": _describe(frames)}}
    dims_out = tuple(names[::-1]) + ("spectral",)
    return from_array(data, axis, unit=unit, laser_nm=laser_nm, dims=dims_out, coords=coords or None, source=path.name, attrs=attrs)


register(Reader("nt-mdt", (".mdt",), "NT-MDT .mdt (MDA spectral frames: spectra, lines, maps)", ("map", "line", "spectrum"), False,
                _sniff, _read))  # fmt: skip
