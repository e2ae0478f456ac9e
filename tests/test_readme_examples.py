"""Every Python example of the README runs as written (issue 19: "the README tells the truth").

The ```python blocks of README.md run in order, in one namespace and one scratch folder, the way a
reader pastes them into a session: a later block may use what an earlier one made (``ds``,
``hyperspec``, ``map.zarr``). The instrument files the *Instrument files* block opens by made-up
names (``map.wdf``, ``export.txt``, ``scan.h5``, ``big_map.txt``) are put in the folder first: real
files of ``../shared/data`` where the README means a real instrument's file, small written ones
otherwise. A failing block is reported with its README line and the exception.
"""

from __future__ import annotations

import re
import shutil
import traceback
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: the real files the README's made-up names stand for
STAND_INS = {
    "map.wdf": SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_map2.wdf",
    "big_map.txt": SHARED_DATA / "horiba-raman" / "Gd2O3_AlN_map_data.txt",
}


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown text: ``(line of the opening fence, code)``, in order."""
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if re.fullmatch(r"```python\s*", lines[i]):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append((start, "\n".join(body) + "\n"))
        i += 1
    return blocks


def _instrument_files(folder: Path) -> None:
    for name, source in STAND_INS.items():
        shutil.copyfile(source, folder / name)
    wl = np.linspace(540.0, 600.0, 300)
    counts = 100.0 + 1000.0 * np.exp(-(((wl - 547.0) / 0.6) ** 2))  # the 520 cm-1 silicon line at 532 nm
    np.savetxt(folder / "export.txt", np.column_stack([wl, counts]), fmt="%.6f", delimiter="\t")
    import h5py

    shift = np.linspace(100.0, 1800.0, 256)
    with h5py.File(folder / "scan.h5", "w") as f:
        f["entry/data/counts"] = np.random.default_rng(0).poisson(200.0, (3, 4, shift.size)).astype("float32")
        f["entry/data/wavenumber"] = shift


def test_readme_has_python_examples():
    assert len(python_blocks(README.read_text(encoding="utf-8"))) >= 8


@pytest.mark.skipif(not all(p.is_file() for p in STAND_INS.values()), reason="../shared/data is not beside the checkout")
def test_every_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _instrument_files(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for line, code in python_blocks(README.read_text(encoding="utf-8")):
        try:
            exec(compile(code, f"README.md:{line}", "exec"), namespace)  # noqa: S102 - the README's own examples
        except Exception as exc:  # noqa: BLE001 - report any failure with the block's README line
            where = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("README.md")]
            at = f"README.md line {line + where[-1].lineno}" if where else f"the block at README.md line {line}"
            pytest.fail(f"{at}: {type(exc).__name__}: {exc}")
