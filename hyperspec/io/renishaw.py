"""Renishaw WiRE ``.wdf`` (maps, lines, series, single spectra), read with renishawWiRE (MIT, optional).

Maps become ``(y, x, spectral)`` with positions in µm; series become ``(t, spectral)`` (time series),
``(z, spectral)`` (depth series) or ``(point, spectral)``; the axis keeps its unit (Raman shift or
nm) and the laser wavelength comes from the file.
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import LAZY_BYTES, Reader, dask_rows, file_laser, file_unit, register
from hyperspec.model import from_array

_ESSENTIAL = {b"WDF1", b"DATA", b"XLST", b"YLST", b"ORGN", b"WMAP"}
_UNITS = {"1/cm": "cm-1", "nm": "nm", "ev": "eV", "rel. 1/cm": "cm-1"}


def _sniff(path: Path, head: bytes) -> bool:
    return head.startswith(b"WDF1")


def _check_blocks(path: Path) -> dict[bytes, int]:
    """Walk the WDF block chain (name, uid, 64-bit size) before the library does.

    A corrupt size would make it loop forever or read past the end, so such a file is refused here
    with the offset.
    """
    size = path.stat().st_size
    offset = 0
    seen: dict[bytes, int] = {}
    with path.open("rb") as fh:
        while offset < size:
            fh.seek(offset)
            head = fh.read(16)
            if len(head) < 16:
                raise ReaderError(f"{path}: truncated block header at byte {offset} (file ends at {size}).")
            block = int.from_bytes(head[8:16], "little")
            if block < 16:
                raise ReaderError(f"{path}: corrupt WDF block {head[:4]!r} at byte {offset} (size {block}).")
            if offset + block > size:
                if head[:4] in _ESSENTIAL:
                    raise ReaderError(f"{path}: the {head[:4].decode(errors='replace')} block at byte {offset} is cut short "
                                      f"({block} bytes declared, {size - offset} left): the file is truncated.")  # fmt: skip
                break  # a short trailing metadata block: the library reads what is there (or fails, typed)
            seen.setdefault(head[:4], block)
            offset += block
    missing = [b.decode() for b in (b"WDF1", b"DATA", b"XLST") if b not in seen]
    if missing:
        raise ReaderError(f"{path}: no {', '.join(missing)} block: the file is truncated or not a complete WDF file.")
    return seen


def _check_header(path: Path, blocks: dict[bytes, int]) -> None:
    """Bound every count of the WDF1 header by the blocks that must hold it (renishawWiRE trusts them).

    A forged origin count makes the library loop for hours, a forged point or spectrum count makes
    ``numpy.fromfile`` read silently short; each is refused here, naming the field.
    """
    with path.open("rb") as fh:
        fh.seek(0x3C)  # renishawWiRE Offsets.measurement_info
        head = fh.read(36)
    if len(head) < 36:
        raise ReaderError(f"{path}: the WDF1 header is cut short: the file is truncated.")
    points, capacity, count, _acc, ylen, xlen, origins = struct.unpack("<iqqiiii", head)
    data = blocks.get(b"DATA", 0) - 16
    fields = {"points per spectrum": points, "capacity": capacity, "count": count, "y-list length": ylen,
              "x-list length": xlen, "origin-list count": origins}  # fmt: skip
    bad = [k for k, v in fields.items() if v < 0] or [k for k in ("points per spectrum", "count") if fields[k] == 0]
    if bad:
        raise ReaderError(f"{path}: the WDF1 header's {bad[0]} is {fields[bad[0]]}: corrupt header.")
    if count > capacity:
        raise ReaderError(f"{path}: the WDF1 header declares {count} spectra but room for {capacity}: corrupt header.")
    if 4 * points * count > data:
        raise ReaderError(f"{path}: the WDF1 header declares {count} spectra of {points} points ({4 * points * count} bytes) but "
                          f"the DATA block holds {max(data, 0)} bytes: the file is truncated or its header corrupt.")  # fmt: skip
    for name, length, block in (("x-list", xlen, b"XLST"), ("y-list", ylen, b"YLST")):
        if block in blocks and 24 + 4 * length > blocks[block]:
            raise ReaderError(f"{path}: the WDF1 header's {name} length {length} does not fit its {block.decode()} block "
                              f"({blocks[block]} bytes): corrupt header.")  # fmt: skip
    if xlen != points:
        raise ReaderError(f"{path}: the WDF1 header declares {points} points per spectrum but an x-list of {xlen}: corrupt header.")
    orgn = blocks.get(b"ORGN", 0)
    if origins and 20 + origins * (24 + 8 * capacity) > orgn:  # each list: 24-byte header + one 8-byte value per spectrum
        raise ReaderError(f"{path}: the WDF1 header declares {origins} origin lists of {capacity} values "
                          f"({20 + origins * (24 + 8 * capacity)} bytes) but the ORGN block holds {orgn}: corrupt header.")  # fmt: skip


def _lazy_reader_class():
    """The renishawWiRE reader, with the DATA block memory-mapped instead of read (for maps larger than memory)."""
    from renishawWiRE import WDFReader  # noqa: PLC0415

    class LazyWDFReader(WDFReader):
        def _parse_spectra(self, start=0, end=-1):
            _uid, pos, _size = self.block_info["DATA"]
            n = int(self.count) * int(self.point_per_spectrum)
            self.spectra = np.memmap(self.file_obj.name, dtype="<f4", mode="r", offset=pos + 16, shape=(n,))

    return LazyWDFReader


def _read(path: Path, *, laser_nm: float | None = None, lazy: bool | None = None, unit: str | None = None, **_):
    from renishawWiRE import WDFReader  # noqa: PLC0415

    blocks = _check_blocks(path)
    _check_header(path, blocks)
    lazy = bool(lazy) if lazy is not None else blocks.get(b"DATA", 0) > LAZY_BYTES
    if lazy:
        WDFReader = _lazy_reader_class()  # noqa: N806
    r = WDFReader.__new__(WDFReader)  # so the file it opens can be closed even when parsing fails
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the library prints while it parses
            warnings.simplefilter("ignore")
            WDFReader.__init__(r, str(path))
        return _dataset(r, path, laser_nm, lazy, unit)
    finally:
        fh = getattr(r, "file_obj", None)
        if fh is not None:
            fh.close()


def _dataset(r, path: Path, laser_nm, lazy: bool = False, unit: str | None = None):
    unit = file_unit(path, _UNITS.get(str(r.xlist_unit).strip().lower()), unit)
    if unit is None:
        x, name = np.asarray(r.xdata, dtype=np.float64), getattr(r.xlist_unit, "name", r.xlist_unit)
        raise ReaderError(f"{path}: the file gives its spectral axis ({x.min():g}…{x.max():g}) in unit {name!r}, "
                          "not nm, 1/cm or eV; pass unit='cm-1' (or 'nm') if you know it (CLI: --unit).")  # fmt: skip
    laser = file_laser(path, r.laser_length, laser_nm)
    axis = np.asarray(r.xdata, dtype=np.float64)
    spectra = np.asarray(r.spectra)
    meta = {"laser_nm": laser, "count": int(r.count), "accumulation_count": int(getattr(r, "accumulation_count", 1) or 1)}
    attrs = {
        "instrument": "Renishaw WiRE",
        "measurement_type": str(r.measurement_type),
        "title": str(getattr(r, "title", "")),
        "metadata": meta,
    }
    kind = str(r.measurement_type)
    if spectra.ndim == 1:
        return from_array(spectra, axis, unit=unit, laser_nm=laser, source=path.name, attrs=attrs)
    if kind == "Mapping" and spectra.ndim == 3:
        # place every spectrum by its recorded stage position (acquisition order differs between
        # raster, serpentine and StreamLine maps), not by the library's reshape
        flat = spectra.reshape(-1, axis.size)
        n = flat.shape[0]
        xpos, ypos = np.asarray(r.xpos, dtype=float)[:n], np.asarray(r.ypos, dtype=float)[:n]
        xs, ys = np.unique(np.round(xpos, 6)), np.unique(np.round(ypos, 6))
        if lazy and xpos.size == n and len(xs) * len(ys) == n:
            cell = np.searchsorted(ys, np.round(ypos, 6)) * len(xs) + np.searchsorted(xs, np.round(xpos, 6))
            if len(np.unique(cell)) == n:
                order = np.empty(n, dtype=np.int64)
                order[cell] = np.arange(n)
                rows = dask_rows(flat)
                cube = (rows if np.array_equal(order, np.arange(n)) else rows[order]).reshape(len(ys), len(xs), axis.size)
                return from_array(cube, axis, unit=unit, laser_nm=laser, dims=("y", "x", "spectral"), coords={"x": xs, "y": ys},
                                  source=path.name, attrs=attrs)  # fmt: skip
        if xpos.size == n and len(xs) * len(ys) == n:
            cube = np.full((len(ys), len(xs), axis.size), np.nan, dtype=flat.dtype)
            cube[np.searchsorted(ys, np.round(ypos, 6)), np.searchsorted(xs, np.round(xpos, 6))] = flat
            return from_array(cube, axis, unit=unit, laser_nm=laser, dims=("y", "x", "spectral"), coords={"x": xs, "y": ys},
                              source=path.name, attrs=attrs)  # fmt: skip
        return from_array(spectra, axis, unit=unit, laser_nm=laser, dims=("y", "x", "spectral"), source=path.name, attrs=attrs)
    if kind == "Mapping":
        if not r.block_info.get("WMAP"):
            raise ReaderError(f"{path}: a map without its map-area (WMAP) block: the file is truncated or corrupt.")
        flat = spectra.reshape(-1, axis.size)
        n = flat.shape[0]
        xpos, ypos = np.asarray(r.xpos, dtype=float)[:n], np.asarray(r.ypos, dtype=float)[:n]
        centred = np.column_stack([xpos - xpos.mean(), ypos - ypos.mean()])
        line = n > 1 and np.linalg.matrix_rank(centred, tol=1e-6 * max(1.0, np.abs(centred).max())) <= 1
        if line and attrs["metadata"]["count"] == n:  # a line scan: distance along the line (µm)
            d = np.hypot(xpos - xpos[0], ypos - ypos[0])
            ds = from_array(flat, axis, unit=unit, laser_nm=laser, dims=("x", "spectral"), source=path.name, attrs=attrs)
            return ds.assign_coords(x=("x", d, {"units": "um", "long_name": "distance along the line"}))
        # an interrupted map (fewer spectra than the map area): the spectra as points with their positions
        ds = from_array(flat, axis, unit=unit, laser_nm=laser, dims=("point", "spectral"), source=path.name, attrs=attrs)
        return ds.assign_coords(x=("point", xpos, {"units": "um"}), y=("point", ypos, {"units": "um"}))
    flat = spectra.reshape(-1, axis.size)
    n = flat.shape[0]
    zpos = np.asarray(getattr(r, "zpos", np.zeros(n)), dtype=float)[:n]
    xpos = np.asarray(getattr(r, "xpos", np.zeros(n)), dtype=float)[:n]
    ypos = np.asarray(getattr(r, "ypos", np.zeros(n)), dtype=float)[:n]
    if zpos.size == n and np.ptp(zpos) > 0 and np.ptp(xpos) == 0 and np.ptp(ypos) == 0:
        return from_array(flat, axis, unit=unit, laser_nm=laser, dims=("z", "spectral"), coords={"z": zpos}, source=path.name, attrs=attrs)
    if xpos.size == n and (np.ptp(xpos) > 0 or np.ptp(ypos) > 0) and kind != "Series":
        d = np.hypot(xpos - xpos[0], ypos - ypos[0])
        ds = from_array(flat, axis, unit=unit, laser_nm=laser, dims=("x", "spectral"), source=path.name, attrs=attrs)
        return ds.assign_coords(x=("x", d, {"units": "um", "long_name": "distance along the line"}))
    coords = {}
    for entry in getattr(r, "origin_list_header", None) or []:  # the per-spectrum time stamps, when recorded
        if str(entry[3]).lower() == "time" and np.size(entry[4]) == n and np.all(np.diff(entry[4]) > 0):
            coords["t"] = np.asarray(entry[4], dtype=float)  # seconds since the first spectrum (renishawWiRE's FileTime / 1e7)
    return from_array(flat, axis, unit=unit, laser_nm=laser, dims=("t", "spectral"), coords=coords or None, source=path.name, attrs=attrs)


_KINDS = ("map", "line", "series", "spectrum")
register(
    Reader("renishaw-wdf", (".wdf",), "Renishaw WiRE .wdf (maps, lines, series, spectra)", _KINDS, True, _sniff, _read, "renishawWiRE")
)
