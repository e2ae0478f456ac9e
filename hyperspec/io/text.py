"""Text exports: WITec ASCII, HORIBA LabSpec map/spectrum text, and plain text/CSV layouts.

- WITec ASCII: ``[Header]`` (``XAxisUnit``, ``SizeX``/``SizeY``, …) then ``[Data]``: axis, intensity rows;
- HORIBA LabSpec 6 text: ``#key=value`` header (``Laser (nm)``, ``Acq. time (s)``, …), then a row with
  the spectral axis (two leading empty fields for maps) and rows ``X Y I…`` (maps on a grid become
  ``(y, x, spectral)``; points off a grid become ``(point, spectral)`` with x/y coordinates);
(other delimited layouts: ``hyperspec.io.table``).
The spectral unit comes from the file where it says so, else from ``unit=`` (default: cm⁻¹ when the
axis spans negative and positive values or stays below 5000, nm for 150–1200 otherwise).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import LAZY_BYTES, Reader, file_laser, guess_unit, register
from hyperspec.io.registry import file_unit as recorded_unit
from hyperspec.model import from_array

_UNIT_WORDS = {"nm": "nm", "1/cm": "cm-1", "cm-1": "cm-1", "cm-¹": "cm-1", "rel. 1/cm": "cm-1", "ev": "eV", "cm-1-abs": "cm-1-abs"}


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise ReaderError(f"{path}: binary content in a text export; the file is corrupt or not text.")
    return raw.decode("utf-8", errors="replace")


def _floats(line: str) -> list[float] | None:
    parts = [p for p in re.split(r"[\t,; ]+", line.strip()) if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        return None


# ---- WITec ASCII -------------------------------------------------------------------------------
def _witec_sniff(path: Path, head: bytes) -> bool:
    return b"[Header]" in head and b"[Data]" in head or head.startswith(b"//Exported ASCII-File")


def _witec_read(path: Path, *, unit: str | None = None, laser_nm: float | None = None, **_):
    text = _text(path)
    header, _, data = text.partition("[Data]")
    meta = {}
    from hyperspec.io.table import split_lines  # noqa: PLC0415  (line ends only: a flipped bit must not split a row)

    for line in split_lines(header):
        if "=" in line:
            k, _, v = line.partition("=")
            meta[k.strip()] = v.strip()
    rows = [r for r in (_floats(line) for line in split_lines(data)) if r]
    if not rows:
        raise ReaderError(f"{path}: the [Data] section holds no numbers (truncated export?).")
    width = len(rows[0])
    arr = np.array([r for r in rows if len(r) == width])
    if len(arr) < len(rows):
        raise ReaderError(f"{path}: {len(rows) - len(arr)} data rows have a different number of columns (truncated export?).")
    try:
        declared = int(meta.get("SizeGraph", len(arr)))
    except ValueError:
        declared = len(arr)
    if declared != len(arr):
        raise ReaderError(f"{path}: the header declares {declared} channels (SizeGraph) but the data hold {len(arr)}: truncated export.")
    file_unit = _UNIT_WORDS.get(meta.get("XAxisUnit", "").strip().lower())
    ds = from_array(arr[:, 1:].T.squeeze(), arr[:, 0], unit=recorded_unit(path, file_unit, unit) or guess_unit(arr[:, 0], None, path),
                    laser_nm=laser_nm, dims=("spectral",) if width == 2 else ("point", "spectral"), source=path.name,
                    attrs={"metadata": meta, "instrument": "WITec (ASCII export)"})  # fmt: skip
    return ds


# ---- HORIBA LabSpec text -----------------------------------------------------------------------
def _horiba_sniff(path: Path, head: bytes) -> bool:
    text = head.decode("latin-1")
    return text.startswith("#") and ("#Acq. time" in text or "#Laser" in text or "#Instrument" in text or "#AxisType" in text)


def _horiba_head(path: Path) -> tuple[dict[str, str], str, int]:
    """The ``#key=value`` header, the axis row and the byte offset of the first spectrum row."""
    meta, at = {}, 0
    with path.open("rb") as fh:
        for raw in fh:
            at += len(raw)
            if b"\x00" in raw:
                raise ReaderError(f"{path}: binary content in a text export; the file is corrupt or not text.")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.startswith("#"):
                k, _, v = line[1:].partition("=")
                meta[k.strip()] = v.strip()
            elif line.strip():
                return meta, line, at
    raise ReaderError(f"{path}: no data after the header (truncated export?).")


def _horiba_read(path: Path, *, unit: str | None = None, laser_nm: float | None = None, lazy: bool | None = None, **_):
    meta, axis_line, data_start = _horiba_head(path)
    laser = None
    for key, value in meta.items():
        if key.lower().startswith("laser"):
            try:
                laser = float(value.split()[0])
            except (ValueError, IndexError):
                laser = None
    laser = file_laser(path, laser, laser_nm)
    file_unit = None
    for key, value in meta.items():
        if key.startswith("AxisUnit[1]") or key.startswith("AxisUnit"):
            file_unit = _UNIT_WORDS.get(value.strip().lower(), file_unit)
    unit = recorded_unit(path, file_unit, unit) or "cm-1"
    attrs = {"metadata": meta, "instrument": f"HORIBA {meta.get('Instrument', 'LabSpec')} (text export)"}
    for k_src, k_dst in (("Acq. time (s)", "exposure_s"), ("Accumulations", "accumulations")):
        try:
            attrs[k_dst] = float(meta[k_src])
        except (KeyError, ValueError):
            pass
    n_lead = len(axis_line) - len(axis_line.lstrip("\t"))
    first = _floats(axis_line)
    if first is None:
        raise ReaderError(f"{path}: the axis row is not numeric (corrupt export?).")
    if lazy or (lazy is None and n_lead == 2 and path.stat().st_size > LAZY_BYTES):
        from hyperspec.io.table import lazy_rows  # noqa: PLC0415

        cube, xs, ys = lazy_rows(path, data_start, n_lead, np.array(first))
        return from_array(cube, np.array(first), unit=unit, laser_nm=laser, dims=("y", "x", "spectral"), coords={"x": xs, "y": ys},
                          source=path.name, attrs=attrs)  # fmt: skip
    with path.open("rb") as fh:
        fh.seek(data_start)
        rest = fh.read()
    if b"\x00" in rest[:65536]:
        raise ReaderError(f"{path}: binary content in a text export; the file is corrupt or not text.")
    from hyperspec.io.table import cut_at_end, split_lines  # noqa: PLC0415

    text = rest.decode("utf-8", errors="replace")
    body = [axis_line] + [line for line in split_lines(text) if line.strip() and not line.startswith("#")]
    rows = [_floats(line) for line in body[1:]]
    if any(r is None for r in rows):
        raise ReaderError(f"{path}: non-numeric data rows (corrupt export?).")
    axis = np.array(first)
    if not rows:  # no spectra rows: a two-column single spectrum was exported instead
        raise ReaderError(f"{path}: only an axis row; no spectra.")
    if cut_at_end(text, body[1:]):
        raise ReaderError(f"{path}: the file ends inside the last number of its last row (no final newline, written unlike "
                          "the rows above): truncated export.")  # fmt: skip
    arr = np.array([r for r in rows if len(r) == len(axis) + n_lead])
    if len(arr) != len(rows):
        raise ReaderError(f"{path}: {len(rows) - len(arr)} rows do not have {len(axis) + n_lead} values (truncated export?).")
    if n_lead == 0:  # a series of spectra without positions
        return from_array(arr, axis, unit=unit, laser_nm=laser, dims=("point", "spectral"), source=path.name, attrs=attrs)
    from hyperspec.io.table import place_positions  # noqa: PLC0415  (x [y] rows: a line, a grid or points)

    return place_positions(path, arr[:, :n_lead], arr[:, n_lead:], axis, unit, laser, attrs)


register(Reader("witec-ascii", (".txt", ".dat"), "WITec ASCII export", ("spectrum", "series"), False, _witec_sniff, _witec_read))
register(Reader("labspec-txt", (".txt",), "HORIBA LabSpec text export (maps, lines, spectra)", ("map", "line", "spectrum"), True,
                _horiba_sniff, _horiba_read))  # fmt: skip
