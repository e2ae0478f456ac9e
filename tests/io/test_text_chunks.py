"""Lazy text maps (``hyperspec.io.table.lazy_rows``): a chunked parse equals the whole-file parse.

Each Dask chunk parses its rows ``read_bytes`` of text at a time into a preallocated block; with
tiny chunks and one-row reads every boundary case is crossed, and the result must equal the eager
reader's (one ``loadtxt`` of the whole file) and the numbers written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import ReaderError
from hyperspec.io.table import lazy_rows

AXIS = np.linspace(100.0, 400.0, 64)


def _values(ny: int, nx: int, seed: int = 0) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(0, 5000, (ny, nx, AXIS.size)), 2).astype(np.float32)


def _write(path: Path, cube: np.ndarray, *, x_outer: bool = False, descending: bool = False, sep: str = "\t",
           comma: bool = False, blank: bool = False) -> int:  # fmt: skip
    """A LabSpec-style map ``x y I…`` (µm, 0.5 µm steps) after a header and the axis row; returns the first row's byte offset."""
    ny, nx, _ = cube.shape

    def num(v: float) -> str:
        return (f"{v:g}").replace(".", ",") if comma else f"{v:g}"

    head = "#Acq. time (s)=\t1\n#Laser (nm)=\t532.17\n"
    head += sep + sep + sep.join(num(v) for v in AXIS) + "\n"
    outer, inner = (range(nx), range(ny)) if x_outer else (range(ny), range(nx))
    outer = reversed(outer) if descending else outer
    rows = []
    for o in outer:
        for i in inner:
            iy, ix = (i, o) if x_outer else (o, i)
            rows.append(sep.join([num(ix * 0.5), num(iy * 0.5), *(num(v) for v in cube[iy, ix])]) + "\n")
            if blank and (iy + ix) % 3 == 0:
                rows.append("\n")
    path.write_text(head + "".join(rows))
    return len(head.encode())


@pytest.mark.parametrize(
    ("x_outer", "descending"), [(False, False), (False, True), (True, False), (True, True)], ids=["y-outer", "y-desc", "x-outer", "x-desc"]
)
def test_chunked_parse_equals_whole_file_parse(tmp_path, x_outer, descending):
    cube = _values(5, 4)
    path = tmp_path / "map.txt"
    start = _write(path, cube, x_outer=x_outer, descending=descending, blank=True)
    eager = hyperspec.open(path, lazy=False)  # one parse of the whole file
    for chunk_bytes, read_bytes in ((1, 1), (AXIS.size * 4 * 4, 700), (16 * 2**20, 2**20)):  # one row per read … one read per chunk
        lazy, xs, ys = lazy_rows(path, start, 2, AXIS, chunk_bytes=chunk_bytes, read_bytes=read_bytes)
        np.testing.assert_array_equal(xs, np.arange(4) * 0.5)
        np.testing.assert_array_equal(ys, np.arange(5) * 0.5)
        values = lazy.compute()
        assert values.dtype == np.float32 and values.shape == (5, 4, AXIS.size)
        np.testing.assert_array_equal(values, cube)  # the numbers written
        np.testing.assert_array_equal(values, eager["spectra"].values)
    opened = hyperspec.open(path, lazy=True)
    assert opened["spectra"].chunks is not None
    np.testing.assert_array_equal(opened["spectra"].values, eager["spectra"].values)


def test_decimal_commas_and_semicolons_in_small_reads(tmp_path):
    cube = _values(3, 3, seed=1)
    path = tmp_path / "comma.txt"
    start = _write(path, cube, sep=";", comma=True)
    lazy, _, _ = lazy_rows(path, start, 2, AXIS, sep=b";", comma=True, chunk_bytes=1, read_bytes=1)
    np.testing.assert_array_equal(lazy.compute(), cube)


def test_a_corrupt_row_is_named_by_its_row_number(tmp_path):
    cube = _values(4, 3)
    path = tmp_path / "bad.txt"
    start = _write(path, cube)
    lines = path.read_text().splitlines(keepends=True)
    row = 7  # file row 7 of 12 (0-based), after the 3 header lines
    fields = lines[3 + row].split("\t")
    lines[3 + row] = "\t".join([*fields[:5], "12x", *fields[6:]])
    path.write_text("".join(lines))
    lazy, _, _ = lazy_rows(path, start, 2, AXIS, chunk_bytes=1, read_bytes=1)
    np.testing.assert_array_equal(lazy[:2].compute(), cube[:2])  # the chunks before it read fine
    with pytest.raises(ReaderError, match=r"bad\.txt: rows 7…7 are not numeric"):
        lazy.compute()
    lines[3 + row] = "\t".join(fields[:-1]) + "\n"  # one number short
    path.write_text("".join(lines))
    lazy, _, _ = lazy_rows(path, start, 2, AXIS, chunk_bytes=1, read_bytes=1)
    with pytest.raises(ReaderError, match=r"bad\.txt: rows 7…7 hold \(1, 65\) numbers, expected \(1, 66\) \(corrupt rows\)"):
        lazy.compute()
