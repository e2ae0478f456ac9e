"""Thermo Galactic GRAMS ``.spc`` (new format, little-endian); no library needed.

Written by WiRE, GRAMS, OMNIC, BWTEK, WITec and many others.

A 512-byte header (flags, exponent, point and sub-file counts, first/last x, x/y/z types, log offset),
an optional shared x array (``TXVALS``), then sub-files (32-byte sub-header + y values: float32 when
the exponent is -128, else integers scaled by 2^(exp−32), or 2^(exp−16) for 16-bit ``TSPREC``), then
an optional log block whose text (``key=value`` lines) is kept in ``attrs["metadata"]``.
Several sub-files become ``(point, spectral)`` (a WiRE map export carries no positions), or a series
``t`` when their z values (``subtime``) are times. The x type gives the unit (Raman shift, wavenumber,
nm, µm, eV); the laser comes from the log (WiRE ``Laser: 532 nm``; FT-Raman ``RAMANFREQ`` in cm⁻¹).
The old 0x4D format and per-sub-file x arrays that differ are refused with a clear message.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, binary_block, file_laser, register
from hyperspec.io.registry import file_unit as recorded_unit
from hyperspec.model import from_array

TSPREC, TMULTI, TXYXYS, TXVALS = 0x01, 0x04, 0x40, 0x80
_X_UNITS = {1: ("cm-1-abs", 1.0), 2: ("nm", 1000.0), 3: ("nm", 1.0), 13: ("cm-1", 1.0), 14: ("eV", 1.0)}
_X_NAMES = {0: "arbitrary", 4: "seconds", 5: "minutes", 6: "Hz", 16: "diode number", 17: "channel", 22: "data points"}
_Z_SECONDS = {4: 1.0, 5: 60.0, 23: 1e-3, 24: 1e-6, 25: 1e-9, 30: 3600.0}


def _sniff(path: Path, head: bytes) -> bool:
    return len(head) >= 2 and head[1] in (0x4B, 0x4C, 0x4D) and path.suffix.lower() == ".spc"


def _log(path: Path, raw_log_offset: int) -> dict[str, str]:
    size = path.stat().st_size
    if raw_log_offset <= 0 or raw_log_offset + 64 > size:
        return {}
    with path.open("rb") as fh:
        fh.seek(raw_log_offset)
        block = fh.read(min(64 + (1 << 20), size - raw_log_offset))
    sizd, _sizm, txto = struct.unpack_from("<iii", block, 0)
    if not (64 <= txto <= sizd <= len(block)):
        return {}
    meta = {}
    for line in block[txto:sizd].split(b"\0")[0].decode("latin-1").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            meta[key.strip()] = value.strip()
    return meta


def _laser(meta: dict[str, str]) -> float | None:
    m = re.search(r"(\d+(?:\.\d+)?)\s*nm", meta.get("Laser", ""))
    if m:
        return float(m.group(1))
    try:
        freq = float(meta.get("RAMANFREQ", ""))  # FT-Raman excitation, cm⁻¹
    except ValueError:
        return None
    return 1e7 / freq if freq > 0 else None


def _check_layout(path: Path, size: int, npts: int, nsub: int, end: int, logoff: int, itemsize: int) -> None:
    """The declared points and sub-files must end where the file's next part starts (the log block, else the file's end).

    ``end`` is the byte after the last sub-file; ``itemsize`` the bytes of one value.

    Writers put the log block right after the last sub-file; a header count off by one or by half
    (a bit flip, a damaged copy) would otherwise read a shorter or a shifted axis without a word.
    """
    nxt, what = (logoff, f"the log block starts at byte {logoff}") if logoff > 0 else (size, f"the file ends at byte {size}")
    if not (end <= nxt < end + itemsize):  # every real file ends its data exactly there
        raise ReaderError(f"{path}: the header declares {nsub} sub-file{'s' if nsub > 1 else ''} of {npts} points, ending at byte {end}, "
                          f"but {what}: the file is truncated or its header corrupt.")  # fmt: skip


def _read(path: Path, *, laser_nm: float | None = None, unit: str | None = None, **_):
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(512)
    if len(head) < 512:
        raise ReaderError(f"{path}: {len(head)} bytes, shorter than the 512-byte SPC header: truncated.")
    flags, version = head[0], head[1]
    if version == 0x4D:
        raise ReaderError(f"{path}: an old-format (pre-1996, 0x4D) SPC file; re-save it from GRAMS or the instrument software.")
    if version == 0x4C:
        raise ReaderError(f"{path}: a big-endian (0x4C) SPC file; hyperspec reads the little-endian (0x4B) layout.")
    fexp = struct.unpack_from("<b", head, 3)[0]
    npts, first, last, nsub = struct.unpack_from("<iddi", head, 4)
    xtype, ztype, logoff = head[28], head[30], struct.unpack_from("<i", head, 248)[0]
    nsub = nsub if flags & TMULTI else 1
    if not (0 < npts <= size // 2 and 0 < nsub <= size // 32):
        raise ReaderError(f"{path}: the header declares {nsub} sub-files of {npts} points in {size} bytes: corrupt header.")
    if flags & TXYXYS:
        raise ReaderError(f"{path}: every sub-file has its own x axis (XYXY layout); hyperspec needs one axis for all spectra.")
    if xtype not in _X_UNITS and unit is None:
        name = _X_NAMES.get(xtype, f"code {xtype}")
        raise ReaderError(f"{path}: the x axis is in {name}, not a spectral unit; pass unit='nm' or unit='cm-1' if it is one.")
    file_unit, scale = _X_UNITS.get(xtype, (unit, 1.0))
    offset = 512
    if flags & TXVALS:
        axis = binary_block(path, "<f4", offset, (npts,)).astype(np.float64)
        offset += 4 * npts
    else:
        axis = np.linspace(first, last, npts)
    axis = axis * scale
    itemsize = 2 if flags & TSPREC and fexp != -128 else 4
    stride = 32 + itemsize * npts
    _check_layout(path, size, npts, nsub, offset + nsub * stride, logoff, itemsize)
    subs = binary_block(path, np.uint8, offset, (nsub, 32), stride=stride)
    sub_exp = subs[:, 1].view(np.int8).astype(np.int64)
    sub_npts = subs[:, 16:20].copy().view("<i4").ravel()
    if np.any((sub_npts != 0) & (sub_npts != npts)):
        raise ReaderError(f"{path}: sub-files with {sorted(set(sub_npts.tolist()))} points where the header says {npts}.")
    exps = sub_exp if flags & TMULTI else np.full(nsub, fexp)
    if np.all(exps == -128):
        data = binary_block(path, "<f4", offset + 32, (nsub, npts), stride=stride)
    else:
        ints = binary_block(path, "<i2" if itemsize == 2 else "<i4", offset + 32, (nsub, npts), stride=stride)
        data = ints * (2.0 ** (exps - 8 * itemsize))[:, None]
    meta = _log(path, logoff)
    meta.update({"spc_flags": int(flags), "x_type": int(xtype), "comment": head[88:218].split(b"\0")[0].decode("latin-1").strip()})
    laser = file_laser(path, _laser(meta), laser_nm)
    attrs = {"metadata": meta, "instrument": "GRAMS SPC"}
    m = re.search(r"(\d+(?:\.\d+)?)\s*(ms|s)?\b", meta.get("Exposure_time", ""))
    if m:  # WiRE: "Time: 3000" (ms) or "Time: 10s"
        attrs["exposure_s"] = float(m.group(1)) / (1.0 if m.group(2) == "s" else 1000.0)
    unit = recorded_unit(path, file_unit, unit)
    if nsub == 1:
        return from_array(data[0], axis, unit=unit, laser_nm=laser, source=path.name, attrs=attrs)
    z = subs[:, 4:8].copy().view("<f4").ravel().astype(np.float64)
    if ztype in _Z_SECONDS and np.all(np.diff(z) > 0):
        ds = from_array(data, axis, unit=unit, laser_nm=laser, dims=("t", "spectral"), source=path.name, attrs=attrs)
        return ds.assign_coords(t=("t", (z - z[0]) * _Z_SECONDS[ztype], {"units": "s"}))
    return from_array(data, axis, unit=unit, laser_nm=laser, dims=("point", "spectral"), source=path.name, attrs=attrs)


register(Reader("grams-spc", (".spc",), "GRAMS/Galactic SPC (spectra, multi-spectrum files)", ("spectrum", "series"), True, _sniff, _read))
