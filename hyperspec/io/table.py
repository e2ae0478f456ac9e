"""Delimited text: the layouts spectrometer software writes when no vendor format applies.

One parser for every separator (tab, comma, semicolon, spaces; a decimal comma when ``;`` or tabs
separate) and every place a header can sit (before, after, ``key;value``, ``key: value``,
``##KEY=value``, ``key<TAB>value``). The data block is the longest run of numeric rows with one
column count; the text row right above it names the columns. Layouts:

- named columns (BWTEK, Neegala, Andor ``.asc``, LightField text, CSV): the axis is the Raman-shift
  column if there is one, else wavenumber, else wavelength; the intensity is the processed or
  dark-subtracted column, else the first counts-like one; several ``Frame k`` / ``… #k`` columns
  become a series ``t``; rows without an axis value (uncalibrated pixels) are dropped;
- two unnamed columns: axis, intensity;
- an axis row then one spectrum per row (``(point, spectral)``), or with one/two leading empty
  fields then ``x [y] I…`` rows: a line or a map on the ``x``/``y`` grid (µm);
- long format, four columns ``x y axis intensity`` (named or not): a map.
The laser wavelength and exposure come from the header where it records them.
"""

from __future__ import annotations

import io
import re
from array import array
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, file_laser, guess_unit, register
from hyperspec.io.registry import file_unit as recorded_unit
from hyperspec.model import from_array

EXTENSIONS = (".txt", ".csv", ".tsv", ".dat", ".asc", ".prn")

_AXIS_NAMES = (  # (pattern, unit); first match wins
    (r"raman.?shift|^shift|rel\. ?1/cm|cm-1.*shift", "cm-1"),
    (r"wavenumber", "cm-1-abs?"),
    (r"wavelength|\bnm\b|\(nm\)", "nm"),
    (r"energy|\bev\b", "eV"),
    (r"^#?wave$|^x$|^axis$", None),
)
_INTENSITY_NAMES = (r"processed", r"dark.?subtracted", r"^#?intensity|counts|signal", r"^frame ?\d+", r"raw.?data", r"^y$")
_EOL = re.compile(r"\r\n|\r|\n")  # line ends: only these (str.splitlines also splits at \x0b, \x1c … a flipped bit makes)
_LASER_KEYS = re.compile(r"laser.?wave|laser_?nm|laserwavelength|^wl$|excitation|raman ex", re.I)


def split_lines(text: str) -> list[str]:
    r"""The lines of ``text``, split at ``\n``, ``\r\n`` and ``\r`` only (not at the other code points ``str.splitlines`` takes).

    A bit flipped in a line end gives ``\x0b`` or ``\x1d``, which ``splitlines`` would take for a
    line break and so cut the data block in two (a silently shorter spectrum).

    Parameters
    ----------
    text : str
        The file's text.

    Returns
    -------
    list of str
        The lines without their ends (no empty last line for a final line end).

    Examples
    --------
    >>> from hyperspec.io.table import split_lines
    >>> split_lines("1\t2\r\n3\t4\x0b\n5\t6\n")
    ['1\t2', '3\t4\x0b', '5\t6']
    """
    lines = _EOL.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def ends_cleanly(text: str) -> bool:
    r"""Whether ``text`` ends with a whole line end of the file's own style (``\r\n`` when it uses those).

    Parameters
    ----------
    text : str
        The file's text.

    Returns
    -------
    bool
        False for a file cut before its final line end (or inside a ``\r\n``).

    Examples
    --------
    >>> from hyperspec.io.table import ends_cleanly
    >>> ends_cleanly("1\t2\r\n3\t4\r\n"), ends_cleanly("1\t2\r\n3\t4\r"), ends_cleanly("1 2\n3 4")
    (True, False, False)
    """
    if "\r\n" in text[:65536]:
        return text.endswith("\r\n")
    return text.endswith(("\n", "\r"))


def cut_at_end(text: str, rows: list[str]) -> bool:
    r"""Whether a text export was cut at its end: inside a ``\r\n``, or (no final line end) inside its last number.

    Parameters
    ----------
    text : str
        The file's text.
    rows : list of str
        Its data rows, in file order (see ``last_row_cut``).

    Returns
    -------
    bool
        True when the file is truncated at its end.

    Examples
    --------
    >>> from hyperspec.io.table import cut_at_end
    >>> rows = ["100\t1027.82", "101\t1026.21", "102\t1024.38"]
    >>> cut_at_end("\r\n".join(rows) + "\r", rows), cut_at_end("\r\n".join(rows) + "\r\n", rows)
    (True, False)
    """
    if ends_cleanly(text):
        return False
    return text.endswith("\r") or last_row_cut(rows)


_LAST_FIELD = re.compile(r"[^\s,;]*\s*$")


def _shape(line: str) -> str:
    return re.sub(r"\d", "d", _LAST_FIELD.search(line).group(0).strip())


def last_row_cut(rows: list[str]) -> bool:
    r"""Whether the last of ``rows`` (a file without a final line end) was cut inside its last number.

    Its last field must be written like the last fields of the 50 rows above (same digits before and
    after the point, same exponent form): ``1027.8`` under ``1027.82`` rows, or ``9.06e-0`` under
    ``9.06e-05`` rows, is a cut number.

    Parameters
    ----------
    rows : list of str
        The data rows, in file order (at least three to judge).

    Returns
    -------
    bool
        True when the last row's last field is written unlike every one above it.

    Examples
    --------
    >>> from hyperspec.io.table import last_row_cut
    >>> last_row_cut(["100\t1027.82", "101\t1026.21", "102\t1024.3"]), last_row_cut(["1\t0.5", "2\t0.25", "3\t0.75"])
    (True, False)
    """
    if len(rows) < 3:
        return False
    above = {_shape(line) for line in rows[-51:-1]}
    return _shape(rows[-1]) not in above


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise ReaderError(f"{path}: binary content in a text file; the file is corrupt or not text.")
    return raw.decode("utf-8", errors="replace")


def _separator(lines: list[str]) -> tuple[str, bool]:
    """The field separator (regex) and whether a decimal comma is used."""
    sample = [line for line in lines if line.strip() and line.lstrip()[:1] in "-+.0123456789"][:200]
    text = "\n".join(sample)
    if ";" in text:
        return ";", True
    if "\t" in text:
        return "\t", bool(re.search(r"\d,\d", text)) and "." not in text.replace("\t", "")
    if "," in text:
        return ",", False
    return r"\s+", False


def _fields(line: str, sep: str, comma: bool) -> list[str]:
    parts = re.split(sep, line.strip()) if sep == r"\s+" else [p.strip() for p in line.rstrip("\r\n").split(sep)]
    while parts and parts[-1] == "":  # a trailing separator
        parts.pop()
    return [p.replace(",", ".") for p in parts] if comma else parts


def _numeric(parts: list[str]) -> list[float] | None:
    if not parts:
        return None
    out, filled = [], 0
    for p in parts:
        if p == "":
            out.append(np.nan)
            continue
        try:
            out.append(float(p))
        except ValueError:
            return None
        filled += 1
    return out if filled else None


def parse(path: Path, text: str | None = None) -> tuple[np.ndarray, list[str] | None, dict[str, str]]:
    r"""Split a delimited text export into its data block, column names and header fields.

    The separator is guessed (``;`` with a decimal comma, tab, comma, else whitespace); the data
    block is the longest run of numeric rows with one column count; the text row right above it
    (or the one above a blank line) names the columns; every other ``key<sep>value`` line
    (``=``, ``:``, ``;``, tab, comma) is a header field.

    Parameters
    ----------
    path : Path
        The file (read when ``text`` is None; named in errors).
    text : str, optional
        The file's text, when already read.

    Returns
    -------
    block : numpy.ndarray, shape (n_rows, n_columns)
        The numbers, float64, NaN for empty fields.
    names : list of str or None
        The column names, when a header row names them.
    meta : dict of str to str
        Header fields.

    Raises
    ------
    ReaderError
        Fewer than two numeric rows, a broken row splitting the data block, or a file that ends
        in the middle of a data row.

    Examples
    --------
    >>> from pathlib import Path
    >>> from hyperspec.io.table import parse
    >>> text = "Laser Wavelength: 532 nm\nExposure (s)\t1.5\n\nRaman Shift\tIntensity\n100\t5\n200\t7\n300\t6\n"
    >>> block, names, meta = parse(Path("spectrum.txt"), text)
    >>> block.tolist(), names
    ([[100.0, 5.0], [200.0, 7.0], [300.0, 6.0]], ['Raman Shift', 'Intensity'])
    >>> meta
    {'Laser Wavelength': '532 nm', 'Exposure (s)': '1.5'}
    """
    text = text if text is not None else _decode(path)
    lines = split_lines(text)
    sep, comma = _separator(lines)
    rows = [_numeric(_fields(line, sep, comma)) if line.strip() else None for line in lines]
    best, start = (0, 0, 0), None  # (length, start, stop)
    for i in range(len(rows) + 1):
        r = rows[i] if i < len(rows) else None
        if start is not None and (r is None or len(r) != len(rows[start])):
            if i - start > best[0]:
                best = (i - start, start, i)
            start = None
        if r is not None and start is None:
            start = i
    n, a, b = best
    if n < 2:
        raise ReaderError(f"{path}: no block of numeric rows (a spectrum needs at least two); not a spectrum export.")
    width = len(rows[a])
    for j, k in ((a - 1, a - 2), (b, b + 1)):  # a corrupt row splitting the data: never a silently shorter spectrum
        if 0 <= j and k < len(rows) and 0 <= k and lines[j].strip() and rows[k] is not None and len(rows[k]) == width:
            if rows[j] is None or len(rows[j]) != width:
                raise ReaderError(f"{path}: line {j + 1} breaks the data block ({lines[j][:40]!r}); the file is corrupt.")
    last = len(lines) - 1
    if b == last and not text.endswith(("\n", "\r")) and (rows[last] is None or len(rows[last]) != width):
        raise ReaderError(f"{path}: the file ends in the middle of data row {last + 1} (no final newline): truncated.")
    if b == last + 1 and cut_at_end(text, lines[a:b]):
        raise ReaderError(f"{path}: the file ends inside the last number of data row {b} ({lines[b - 1][-30:]!r}, no final newline, "
                          "written unlike the rows above): truncated.")  # fmt: skip
    block = np.array(rows[a:b], dtype=np.float64)
    names = None
    meta: dict[str, str] = {}
    for j, line in enumerate(lines):
        if a <= j < b or not line.strip():
            continue
        parts = _fields(line, sep, False)
        if j == a - 1 or (j == a - 2 and not lines[a - 1].strip()):
            if len(parts) >= block.shape[1] and names is None and rows[j] is None:
                names = [p.strip() for p in parts[: block.shape[1]]]
                continue
        m = re.match(r"^\s*#*\s*([^=:;\t,]+?)\s*(?:=|:|;|\t|,)\s*(.*)$", line)
        if m and m.group(1):
            meta[m.group(1).strip()] = m.group(2).strip()
    return block, names, meta


def _first_float(value: str) -> float | None:
    m = re.search(r"[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?", value or "")
    return float(m.group(0).replace(",", ".")) if m else None


def _header_laser(meta: dict[str, str]) -> float | None:
    for key, value in meta.items():
        if _LASER_KEYS.search(key):
            v = _first_float(value)
            if v is not None and 150 < v < 2000:
                return v
    return None


def _header_exposure(meta: dict[str, str]) -> float | None:
    for key, value in meta.items():
        k = key.lower()
        if re.search(r"exposure|integ|intigration", k) and "cycle" not in k:
            v = _first_float(value)
            if v is None:
                continue
            unit = meta.get("integ_unit") if "integ_time" in k else k
            if unit is None:  # a bare number of unknown unit
                continue
            return v / 1000 if re.search(r"ms|\(ms\)|_ms", unit) else v
    return None


def _match(names: list[str], patterns) -> list[int]:
    for pat in patterns:
        hits = [i for i, name in enumerate(names) if re.search(pat, name.strip().lower())]
        if hits:
            return hits
    return []


def _axis_column(names: list[str], block: np.ndarray) -> tuple[int, str | None]:
    for pat, unit in _AXIS_NAMES:
        for i, name in enumerate(names):
            if re.search(pat, name.strip().lower()) and np.isfinite(block[:, i]).sum() >= 2:
                if unit == "cm-1-abs?":  # absolute unless the values are clearly a shift
                    col = block[:, i][np.isfinite(block[:, i])]
                    unit = "cm-1" if col.min() < 0 or col.max() < 5000 else "cm-1-abs"
                return i, unit
    return 0, None


def _read(path: Path, *, unit: str | None = None, laser_nm: float | None = None, **_):
    block, names, meta = parse(path)
    laser = file_laser(path, _header_laser(meta), laser_nm)
    attrs = {"metadata": meta, "instrument": "delimited text"}
    exposure = _header_exposure(meta)
    if exposure is not None:
        attrs["exposure_s"] = exposure
    width = block.shape[1]

    def build(data, axis, file_unit, dims, coords=None):
        good = np.isfinite(axis)
        use = recorded_unit(path, file_unit, unit) or guess_unit(axis[good], None, path)
        return from_array(data[..., good], axis[good], unit=use, laser_nm=laser, dims=dims, coords=coords, source=path.name, attrs=attrs)

    if names is not None and width >= 2:
        lower = [n.lower() for n in names]
        if width == 4 and {"x", "y"} <= {n.strip("# ").split(" ")[0] for n in lower}:
            return _long(path, block, unit, laser, attrs)
        ia, file_unit = _axis_column(names, block)
        cols = [i for i in _match(names, _INTENSITY_NAMES) if i != ia] or [i for i in range(width) if i != ia][-1:]
        if len(cols) > 1:  # Frame 1, Frame 2 … or Raw data #1, #2 …
            return build(block[:, cols].T, block[:, ia], file_unit, ("t", "spectral"))
        keep = np.isfinite(block[:, ia])  # a row without an axis value is an uncalibrated pixel; a NaN intensity stays NaN
        return build(block[keep, cols[0]], block[keep, ia], file_unit, ("spectral",))
    if width == 2:
        return build(block[:, 1], block[:, 0], None, ("spectral",))
    first = block[0]
    n_lead = int(np.argmax(np.isfinite(first))) if not np.isfinite(first[0]) else 0
    axis = first[n_lead:]
    if len(block) > 1 and np.all(np.isfinite(axis)) and (np.all(np.diff(axis) > 0) or np.all(np.diff(axis) < 0)):
        body = block[1:]
        if n_lead == 0:
            return build(body, axis, None, ("point", "spectral"))
        return place_positions(path, body[:, :n_lead], body[:, n_lead:], axis, unit, laser, attrs)
    if width == 4:
        return _long(path, block, unit, laser, attrs)
    raise ReaderError(f"{path}: {width} numeric columns without names and no axis row; expected axis,intensity columns, "
                      "an axis row then spectra rows, or x,y,axis,intensity rows.")  # fmt: skip


def place_positions(path, pos, spectra, axis, unit, laser, attrs):
    """Build the map Dataset of rows ``x [y] I…``: a line (one position column) or a map on the grid of positions.

    Positions are rounded to 1e-6 µm (stage read-back noise must not split a grid column). Two
    position columns that fill a regular grid give a ``(y, x, spectral)`` float32 map (pixels
    missing from the file are NaN); positions that do not fill one give ``(point, spectral)``
    with ``x``/``y`` coords on ``point``.

    Parameters
    ----------
    path : Path
        The file (its name becomes the ``source``).
    pos : numpy.ndarray, shape (n, 1) or (n, 2)
        Stage positions ``x`` (and ``y``), µm.
    spectra : numpy.ndarray, shape (n, N)
        One spectrum per row, counts.
    axis : numpy.ndarray, shape (N,)
        The spectral axis, in ``unit``.
    unit : str or None
        Axis unit; None: guessed (``guess_unit``).
    laser : float or None
        Laser wavelength, nm.
    attrs : dict
        Extra attrs of the Dataset (``metadata``, ``instrument`` …).

    Returns
    -------
    xarray.Dataset
        The map Dataset: ``(x, spectral)``, ``(y, x, spectral)`` or ``(point, spectral)``.

    Raises
    ------
    ReaderError
        ``unit`` is None and the axis unit cannot be guessed.

    Examples
    --------
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from hyperspec.io.table import place_positions
    >>> pos = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # x, y in µm
    >>> ds = place_positions(Path("map.txt"), pos, np.arange(12.0).reshape(4, 3), np.array([100.0, 200.0, 300.0]),
    ...                      "cm-1", 532.0, {})
    >>> ds.spectra.dims, ds.spectra.shape, ds.spectra.values[1, 0].tolist()
    (('y', 'x', 'spectral'), (2, 2, 3), [6.0, 7.0, 8.0])
    """
    unit = unit or guess_unit(axis, None, path)
    pos = np.round(pos, 6) + 0.0  # stage read-back noise (-6.9e-15 for 0) must not split a grid column
    if pos.shape[1] == 2:
        _refuse_duplicates(path, pos)
    if pos.shape[1] == 1:
        return from_array(spectra, axis, unit=unit, laser_nm=laser, dims=("x", "spectral"), coords={"x": pos[:, 0]},
                          source=path.name, attrs=attrs)  # fmt: skip
    xs, ys = np.unique(pos[:, 0]), np.unique(pos[:, 1])
    if len(xs) * len(ys) != len(pos):
        ds = from_array(spectra, axis, unit=unit, laser_nm=laser, dims=("point", "spectral"), source=path.name, attrs=attrs)
        return ds.assign_coords(x=("point", pos[:, 0], {"units": "um"}), y=("point", pos[:, 1], {"units": "um"}))
    cube = np.full((len(ys), len(xs), spectra.shape[1]), np.nan, dtype=np.float32)
    cube[np.searchsorted(ys, pos[:, 1]), np.searchsorted(xs, pos[:, 0])] = spectra
    return from_array(cube, axis, unit=unit, laser_nm=laser, dims=("y", "x", "spectral"), coords={"x": xs, "y": ys},
                      source=path.name, attrs=attrs)  # fmt: skip


def _refuse_duplicates(path, pos: np.ndarray) -> None:
    """A map's positions must be distinct: two spectra at one position would leave a grid cell NaN (the export is corrupt)."""
    keys, inverse, counts = np.unique(pos, axis=0, return_inverse=True, return_counts=True)
    if np.all(counts == 1):
        return
    inverse = np.asarray(inverse).ravel()
    dup = np.flatnonzero(counts > 1)
    where = "; ".join(f"x={keys[k, 0]:g}, y={keys[k, 1]:g} on spectrum rows {(np.flatnonzero(inverse == k) + 1).tolist()}" for k in dup[:3])
    raise ReaderError(f"{path}: {dup.size} map position{'s' if dup.size > 1 else ''} occur more than once ({where}"
                      f"{' …' if dup.size > 3 else ''}); a map has one spectrum per position: the export is corrupt "
                      "(or several maps were joined).")  # fmt: skip


def _long(path, block, unit, laser, attrs):
    """Long format ``x y axis intensity``: one row per (pixel, channel)."""
    x, y, ax, val = block.T
    axis = np.unique(ax)
    pixels = np.unique(np.stack([y, x], 1), axis=0)
    if len(axis) * len(pixels) != len(block):
        raise ReaderError(f"{path}: long format with {len(pixels)} positions × {len(axis)} axis values ≠ {len(block)} rows; "
                          "every position needs every channel.")  # fmt: skip
    order = np.lexsort((ax, x, y))
    spectra = val[order].reshape(len(pixels), len(axis))
    return place_positions(path, pixels[:, ::-1], spectra, axis, unit, laser, attrs)


def _sniff(path: Path, head: bytes) -> bool:
    if path.suffix.lower() not in EXTENSIONS or b"\x00" in head:
        return False
    lines = head.decode("latin-1").splitlines()[:-1] or head.decode("latin-1").splitlines()
    sep, comma = _separator(lines)
    numeric = sum(_numeric(_fields(line, sep, comma)) is not None for line in lines if line.strip())
    return numeric >= 2 or len(head) == 4096  # a long header: parse decides


register(Reader("table", EXTENSIONS, "delimited text: named columns, axis,intensity, axis row + spectra, x y rows, long format",
                ("map", "line", "series", "spectrum"), False, _sniff, _read, generic=True))  # fmt: skip


# ---- large text maps, read lazily -----------------------------------------------------------------
def lazy_rows(path: Path, start: int, n_lead: int, axis: np.ndarray, *, sep: bytes = b"\t", comma: bool = False,
              chunk_bytes: int = 16 * 2**20, read_bytes: int = 2**20):  # fmt: skip
    r"""A text map with rows ``x y I…`` from byte ``start`` as a Dask array, without reading the intensities.

    One pass reads only each row's positions and byte offset; every Dask chunk then parses whole
    lines of the grid straight from the file, ``read_bytes`` of text at a time (NumPy's C text
    parser) into its preallocated float32 block, so converting a map larger than memory needs
    memory for one chunk per thread plus one small read. Rows must be grouped by ``y`` or by ``x``
    (raster order, as WITec and LabSpec export), in ascending or descending order of the outer position.

    Parameters
    ----------
    path : Path
        The text file.
    start : int
        Byte offset of the first spectrum row (after the axis row).
    n_lead : int
        Position columns per row; must be 2 (``x y``).
    axis : numpy.ndarray, shape (m,)
        The spectral axis (from the axis row).
    sep : bytes, optional
        Field separator. Default tab.
    comma : bool, optional
        Decimal commas. Default False.
    chunk_bytes : int, optional
        Target float32 bytes per Dask chunk. Default 16 MiB.
    read_bytes : int, optional
        Text bytes parsed at a time within a chunk (whole rows; at least one row). Default 1 MiB.

    Returns
    -------
    cube : dask.array.Array, shape (ny, nx, m)
        float32 intensities, counts.
    xs, ys : numpy.ndarray
        The sorted unique ``x`` and ``y`` positions, µm.

    Raises
    ------
    ReaderError
        ``n_lead`` is not 2, a position is not numeric, there are no rows, the rows do not fill
        a grid or are not grouped by one position; on compute, a row that is not numeric or has
        the wrong number of fields.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from hyperspec.io.table import lazy_rows
    >>> head = "\t\t100\t200\t300\n"  # the axis row, cm⁻¹
    >>> rows = "".join(f"{x}\t{y}\t{x + y}\t{2 * x}\t{3 * y}\n" for y in (0.0, 0.5) for x in (0.0, 0.5, 1.0))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "map.txt"
    ...     _ = path.write_text(head + rows)
    ...     cube, xs, ys = lazy_rows(path, len(head), 2, np.array([100.0, 200.0, 300.0]))
    ...     print(cube.shape, xs.tolist(), ys.tolist(), cube[1, 2].compute().tolist())
    (2, 3, 3) [0.0, 0.5, 1.0] [0.0, 0.5] [1.5, 2.0, 1.5]
    """
    import dask.array as da  # noqa: PLC0415
    from dask import delayed  # noqa: PLC0415

    if n_lead != 2:
        raise ReaderError(f"{path}: lazy reading needs map rows 'x y I…' ({n_lead} position columns found).")
    offsets, px, py = array("q"), array("d"), array("d")  # 24 bytes per spectrum
    with path.open("rb") as fh:
        fh.seek(start)
        at = start
        for line in fh:
            if line.strip():
                fields = line.replace(b",", b".").split(sep, 2) if comma else line.split(sep, 2)
                try:
                    px.append(float(fields[0]))
                    py.append(float(fields[1]))
                except (ValueError, IndexError):
                    raise ReaderError(f"{path}: non-numeric position on the row starting at byte {at} (corrupt export?).") from None
                offsets.append(at)
            at += len(line)
    offsets.append(at)
    if not px:
        raise ReaderError(f"{path}: no spectra rows after the axis row (truncated export?).")
    pos = np.column_stack([np.frombuffer(px, dtype=np.float64), np.frombuffer(py, dtype=np.float64)])
    offsets = np.frombuffer(offsets, dtype=np.int64)
    m = axis.size
    xs, ys = np.unique(pos[:, 0]), np.unique(pos[:, 1])
    iy = np.searchsorted(ys, pos[:, 1])
    ix = np.searchsorted(xs, pos[:, 0])
    if len(xs) * len(ys) != len(pos) or len(np.unique(iy * len(xs) + ix)) != len(pos):
        raise ReaderError(f"{path}: {len(pos)} rows do not fill a {len(ys)}×{len(xs)} grid; read it with lazy=False (it fits in memory?).")
    # the outer (slow) position: constant over runs of rows (y for raster exports, x for LabSpec's)
    outer_is_y = int(np.count_nonzero(np.diff(iy))) == len(ys) - 1
    outer, inner = (iy, ix) if outer_is_y else (ix, iy)
    n_outer, n_inner = (len(ys), len(xs)) if outer_is_y else (len(xs), len(ys))
    starts = np.r_[0, np.flatnonzero(np.diff(outer) != 0) + 1]  # file row where each outer line starts
    steps = np.diff(outer[starts])
    if len(starts) != n_outer or np.any(np.diff(np.r_[starts, len(pos)]) != n_inner) or not (np.all(steps > 0) or np.all(steps < 0)):
        raise ReaderError(f"{path}: rows are neither grouped by y nor by x in order; read it with lazy=False (it fits in memory?).")
    descending = bool(len(steps) and steps[0] < 0)
    per_chunk = max(1, chunk_bytes // max(1, n_inner * m * 4))

    delimiter = None if sep in (b"\t", b" ") else sep.decode()

    def load(k0: int, k1: int) -> np.ndarray:
        # whole rows, about read_bytes of text at a time, parsed into the block: no text or row list
        # the size of the chunk is ever held (measured: the peak stays one block per thread)
        r0, r1 = int(starts[k0]), int(starts[k1]) if k1 < len(starts) else len(pos)
        block = np.empty((k1 - k0, n_inner, m), dtype=np.float32)
        with path.open("rb") as fh:
            a = r0
            while a < r1:
                b = min(r1, max(a + 1, int(np.searchsorted(offsets, offsets[a] + read_bytes, side="right")) - 1))
                fh.seek(offsets[a])
                raw = fh.read(offsets[b] - offsets[a])
                if comma:
                    raw = raw.replace(b",", b".")
                try:  # NumPy's C parser, correctly rounded like float()
                    values = np.loadtxt(io.BytesIO(raw), dtype=np.float32, delimiter=delimiter, ndmin=2)
                except ValueError as exc:
                    raise ReaderError(f"{path}: rows {a}…{b - 1} are not numeric ({exc}); the file is corrupt.") from None
                if values.shape != (want := (b - a, n_lead + m)):
                    raise ReaderError(f"{path}: rows {a}…{b - 1} hold {values.shape} numbers, expected {want} (corrupt rows).")
                o = outer[a:b] - outer[r0] if not descending else outer[r0] - outer[a:b]
                block[o, inner[a:b]] = values[:, n_lead:]
                a = b
        return block

    bounds = [*range(0, len(starts), per_chunk), len(starts)]
    parts = [da.from_delayed(delayed(load, pure=True)(a, b), shape=(b - a, n_inner, m), dtype=np.float32)
             for a, b in zip(bounds[:-1], bounds[1:], strict=True)]  # fmt: skip
    cube = da.concatenate(parts, axis=0)
    if descending:
        cube = cube[::-1]
    if not outer_is_y:
        cube = cube.transpose(1, 0, 2)
    return cube, xs, ys
