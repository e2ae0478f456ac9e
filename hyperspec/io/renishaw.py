"""Renishaw WiRE ``.wdf`` (maps, lines, series, single spectra), read with Renishaw's ``renishaw-wdf`` (Apache-2.0).

Maps become ``(y, x, spectral)`` with positions in µm; series become ``(t, spectral)`` (time series),
``(z, spectral)`` (depth series) or ``(point, spectral)``; the axis keeps its unit (Raman shift or
nm) and the laser wavelength comes from the file. The acquisition settings the file records become
attrs: ``exposure_s`` (per accumulation), ``accumulations``, ``objective``, ``objective_magnification``,
``grating``, ``grating_lines_per_mm``, ``laser`` (WiRE's name for it), ``nd_transmission_percent``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import LAZY_BYTES, Reader, dask_rows, file_laser, file_unit, register
from hyperspec.model import from_array

_ESSENTIAL = {b"WDF1", b"DATA", b"XLST", b"YLST", b"ORGN", b"WMAP"}
# renishaw-wdf WdfDataUnit names; "Wavenumber" is left out: renishaw-wdf documents it as nm, renishawWiRE read it as nm,
# WiRE shows it as absolute cm-1 and no file here has one, so such a file asks for unit= instead of being guessed
_UNITS = {"RamanShift": "cm-1", "Nanometre": "nm", "ElectronVolt": "eV"}


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
    """Bound every count of the WDF1 header by the blocks that must hold it (renishaw-wdf trusts them).

    A forged origin or spectrum count makes the library read past its block, a forged point or spectrum
    count makes ``numpy.fromfile`` read silently short; each is refused here, naming the field.
    """
    with path.open("rb") as fh:
        fh.seek(0x3C)  # npoints … origincount of the WDF1 header (renishaw-wdf WdfHeader)
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


_KIND = {"Unspecified": "Unspecified", "Single": "Single", "Series": "Series", "Map": "Mapping"}  # renishaw-wdf WdfType → WiRE's words
_TIME_S = {"FileTime": 1.0, "Seconds": 1.0, "Milliseconds": 1e-3, "Microseconds": 1e-6}


class _Wdf:
    """What the reader needs of a WDF file, from renishaw-wdf's public API plus the DATA block read (or mapped) directly.

    renishaw-wdf (Renishaw's own accessor, Apache-2.0) parses the header, x-list, origin lists, map
    area and property sets; its ``spectrum()`` unpacks each spectrum into a tuple of Python floats
    (≈ 65 µs per spectrum: a 1000×1000 map would take ≈ 65 s and tens of GB), so the DATA block,
    whose offset ``Wdf.find_section`` reports, is read with ``numpy.fromfile`` or memory-mapped.
    """

    def __init__(self, path: Path, lazy: bool):
        from wdf import Wdf, WdfBlockId, WdfDataType  # noqa: PLC0415

        with Wdf(str(path)) as w:
            hdr = w.hdr
            self.count, self.capacity, m = int(hdr.ncollected), int(hdr.nspectra), int(hdr.npoints)
            self.accumulation_count = int(hdr.naccum)
            self.title = hdr.title
            self.measurement_type = _KIND.get(hdr.type.name, hdr.type.name)
            self.laser_length = 1e7 / hdr.laser_wavenumber if hdr.laser_wavenumber else float("nan")  # nm
            xlist = w.xlist()
            self.xlist_unit, self.xdata = xlist.units.name, np.asarray(xlist, dtype=np.float64)
            ids = {block.id for block in w.sections()}
            self.has_wmap = WdfBlockId.MAPAREA in ids
            area = w.map_area if self.has_wmap else None
            n = self.count
            self.xpos, self.ypos, self.zpos, self.time = np.zeros(n), np.zeros(n), np.zeros(n), None
            if hdr.origincount and WdfBlockId.ORIGIN in ids:
                for kind, origin in w.origins.items():
                    if kind in (WdfDataType.Spatial_X, WdfDataType.Spatial_Y, WdfDataType.Spatial_Z):
                        values = np.asarray(origin[0:n], dtype=np.float64)
                        setattr(self, {WdfDataType.Spatial_X: "xpos", WdfDataType.Spatial_Y: "ypos"}.get(kind, "zpos"), values)
                    elif (kind == WdfDataType.Time and self.measurement_type != "Mapping" and origin.label.lower() == "time"
                          and origin.dataunit.name in _TIME_S):  # fmt: skip
                        values = origin[0:n]  # FileTime: datetimes (≈ 3 µs each to build, ≈ 2 µs rounding)
                        if n and hasattr(values[0], "timestamp"):
                            self.time = np.array([(v - values[0]).total_seconds() for v in values])
                        else:
                            self.time = (np.asarray(values, dtype=np.float64) - values[0]) * _TIME_S[origin.dataunit.name]
            _block, pos = w.find_section(WdfBlockId.DATA)
            self.meta = _properties(w)
        offset = pos + 16  # after the block header
        if lazy:
            flat = np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=(n * m,))
        else:
            flat = np.fromfile(path, dtype="<f4", count=n * m, offset=offset)
        # the shapes renishawWiRE gives: (h, w, m) for a complete 2-D map, else (count, m); one spectrum 1-D
        if n == self.capacity and area is not None and area.count.x > 1 and area.count.y > 1 and area.count.x * area.count.y == n:
            self.spectra = flat.reshape(area.count.y, area.count.x, m)
        elif n > 1 or n != self.capacity:
            self.spectra = flat.reshape(n, m)
        else:
            self.spectra = flat


def _find(pset, name: str):
    """The first value named ``name`` in a renishaw-wdf property set, depth first (None when absent)."""
    from wdf import PsetType  # noqa: PLC0415

    if pset is None:
        return None
    nested = []
    for key, item in pset:
        if key == name and item.type != PsetType.Pset:
            return item.value
        if item.type == PsetType.Pset:
            nested.append(item)
    for item in nested:
        found = _find(item.value, name)
        if found is not None:
            return found
    return None


def _properties(w) -> dict:
    """Acquisition settings from the WXDM (measurement), WXIS (instrument) and WXCS (calibration) property sets.

    Exposure per accumulation (ms in the file → ``exposure_s``), ``accumulations`` (without the two
    extra cosmic-ray frames the header counts), objective, grating, neutral-density transmission.
    A set that renishaw-wdf cannot parse is skipped: these are descriptive, the spectra do not need them.
    """
    from wdf import WdfBlockId  # noqa: PLC0415

    sets = {}
    for block in (WdfBlockId.MEASUREMENT, WdfBlockId.INSTRUMENT, WdfBlockId.CALIBRATION):
        try:
            section, _ = w.find_section(block)
            sets[block] = w.get_section_properties(block, section.uid)
        except Exception:  # noqa: BLE001 - absent (EOFError) or unparsable (PsetParseError, KeyError, struct.error …)
            sets[block] = None
    measurement, instrument, calibration = sets[WdfBlockId.MEASUREMENT], sets[WdfBlockId.INSTRUMENT], sets[WdfBlockId.CALIBRATION]
    out = {}
    exposure, accumulations = _find(measurement, "Exposure Time"), _find(measurement, "Accumulations")
    if isinstance(exposure, (int, float)) and exposure > 0:
        out["exposure_s"] = float(exposure) / 1000.0
    if isinstance(accumulations, int) and accumulations > 0:
        out["accumulations"] = int(accumulations)
    for key, name, kind in (("objective", "Objective name", str), ("objective_magnification", "Objective magnification", float),
                            ("grating", "Grating", str), ("laser", "Laser", str)):  # fmt: skip
        value = _find(instrument, name)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            out[key] = kind(value.strip() if isinstance(value, str) else value)
    nd = _find(instrument, "ND Transmission %")
    try:
        out["nd_transmission_percent"] = float(nd)
    except (TypeError, ValueError):
        pass
    grooves = _find(calibration, "Groove Density (lines/mm)")
    if isinstance(grooves, (int, float)) and grooves > 0:
        out["grating_lines_per_mm"] = float(grooves)
    return out


def _read(path: Path, *, laser_nm: float | None = None, lazy: bool | None = None, unit: str | None = None, **_):
    blocks = _check_blocks(path)
    _check_header(path, blocks)
    lazy = bool(lazy) if lazy is not None else blocks.get(b"DATA", 0) > LAZY_BYTES
    return _dataset(_Wdf(path, lazy), path, laser_nm, lazy, unit)


def _dataset(r, path: Path, laser_nm, lazy: bool = False, unit: str | None = None):
    unit = file_unit(path, _UNITS.get(r.xlist_unit), unit)
    if unit is None:
        x, name = r.xdata, r.xlist_unit
        raise ReaderError(f"{path}: the file gives its spectral axis ({x.min():g}…{x.max():g}) in unit {name!r}, "
                          "not nm, 1/cm or eV; pass unit='cm-1' (or 'nm') if you know it (CLI: --unit).")  # fmt: skip
    laser = file_laser(path, r.laser_length, laser_nm)
    axis = r.xdata
    spectra = r.spectra
    meta = {"laser_nm": laser, "count": int(r.count), "accumulation_count": int(getattr(r, "accumulation_count", 1) or 1)}
    attrs = {
        "instrument": "Renishaw WiRE",
        "measurement_type": str(r.measurement_type),
        "title": str(getattr(r, "title", "")),
        "metadata": meta,
        **r.meta,
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
        if not r.has_wmap:
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
    zpos, xpos, ypos = r.zpos[:n], r.xpos[:n], r.ypos[:n]
    if zpos.size == n and np.ptp(zpos) > 0 and np.ptp(xpos) == 0 and np.ptp(ypos) == 0:
        return from_array(flat, axis, unit=unit, laser_nm=laser, dims=("z", "spectral"), coords={"z": zpos}, source=path.name, attrs=attrs)
    if xpos.size == n and (np.ptp(xpos) > 0 or np.ptp(ypos) > 0) and kind != "Series":
        d = np.hypot(xpos - xpos[0], ypos - ypos[0])
        ds = from_array(flat, axis, unit=unit, laser_nm=laser, dims=("x", "spectral"), source=path.name, attrs=attrs)
        return ds.assign_coords(x=("x", d, {"units": "um", "long_name": "distance along the line"}))
    coords = {}
    if r.time is not None and r.time.size == n and np.all(np.diff(r.time) > 0):  # the per-spectrum time stamps, when recorded
        coords["t"] = r.time  # seconds since the first spectrum
    return from_array(flat, axis, unit=unit, laser_nm=laser, dims=("t", "spectral"), coords=coords or None, source=path.name, attrs=attrs)


_KINDS = ("map", "line", "series", "spectrum")
register(
    Reader("renishaw-wdf", (".wdf",), "Renishaw WiRE .wdf (maps, lines, series, spectra)", _KINDS, True, _sniff, _read, "renishaw-wdf")
)
