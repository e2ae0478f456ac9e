"""Corrupt and crafted hyperspec Zarr stores are refused with a clear ``StoreError`` (issue 19, "Then" item 1).

Every damage here gave, before the fix, a bare ``RuntimeError`` from the Blosc decoder, a silent
NaN (a missing chunk reads as Zarr's fill value), a map without ``spectra`` or absurd dims. Now
each is a ``hyperspec.StoreError`` naming the store, the array and (for a chunk) the chunk, at
``open`` or at the latest when the chunk is loaded. ``craft_store`` is shared with the fuzz corpus
(``tests/test_fuzz_corpus.py``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import hyperspec as hs
from hyperspec._errors import StoreError

#: Every kind of damage ``craft_store`` makes.
STORE_KINDS = (
    "chunk-missing",
    "chunk-truncated",
    "chunk-zeroed",
    "chunk-symlink-outside",
    "chunk-symlink-sibling",
    "coord-chunk-missing",
    "spectra-meta-missing",
    "spectra-dir-missing",
    "spectra-meta-garbage",
    "chunk-shape-absurd",
    "dtype-impossible",
    "shape-huge-no-coords",
    "quicklook-chunk-missing",
    "results-flag-false",
)


def small_map(ny: int = 4, nx: int = 6, n: int = 32) -> xr.Dataset:
    """A small map with a known ramp (value = pixel index + channel / 100), 2 × 3 pixel chunks."""
    values = (np.arange(ny * nx, dtype=np.float32)[:, None] + np.arange(n, dtype=np.float32)[None] / 100).reshape(ny, nx, n)
    return hs.from_array(values, np.linspace(100.0, 1600.0, n), laser_nm=532.0)


def save_map(path: Path) -> Path:
    """``small_map`` saved with 2 × 3-pixel chunks (four chunks of ``spectra``)."""
    return hs.save(small_map(), path, chunks={"y": 2, "x": 3}, progress=False)


def save_results(path: Path) -> Path:
    """A complete results-like store: a band variable and the run's per-chunk flags (all written)."""
    ds = xr.Dataset(
        {"area": (("y", "x"), np.arange(24.0).reshape(4, 6)), "run_chunk_done": (("run_chunk",), np.ones(2, dtype=bool))},
        coords={"y": np.arange(4.0), "x": np.arange(6.0)},
    )
    return hs.save(ds, path, chunks={"y": 2, "x": 6, "run_chunk": 1}, progress=False)


def _meta(path: Path) -> dict:
    return json.loads(path.read_text())


def _write_meta(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc))


def craft_store(tmp: Path, kind: str) -> tuple[Path, str]:
    """Write a damaged store of ``kind`` under ``tmp``; return it and the array name an error must mention."""
    tmp.mkdir(parents=True, exist_ok=True)
    store = tmp / f"{kind}.zarr"
    if kind == "results-flag-false":
        save_results(store)
        import zarr

        zarr.open_array(str(store / "run_chunk_done"), mode="r+")[1] = False
        return store, "run_chunk_done"
    save_map(store)
    chunk = store / "spectra" / "c" / "0" / "1" / "0"
    if kind == "chunk-missing":
        chunk.unlink()
    elif kind == "chunk-truncated":
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    elif kind == "chunk-zeroed":
        chunk.write_bytes(bytes(chunk.stat().st_size))
    elif kind == "chunk-symlink-outside":
        outside = tmp / f"{kind}-outside.bin"
        outside.write_bytes(os.urandom(256))
        chunk.unlink()
        chunk.symlink_to(outside)
    elif kind == "chunk-symlink-sibling":  # decodes fine: the data of another chunk, silently
        chunk.unlink()
        chunk.symlink_to(store / "spectra" / "c" / "0" / "0" / "0")
    elif kind == "coord-chunk-missing":
        (store / "shift" / "c" / "0").unlink()
        return store, "shift"
    elif kind == "spectra-meta-missing":
        (store / "spectra" / "zarr.json").unlink()
    elif kind == "spectra-dir-missing":
        shutil.rmtree(store / "spectra")
    elif kind == "spectra-meta-garbage":
        (store / "spectra" / "zarr.json").write_bytes(b'{"zarr_format": 3, "node_type": "array", "shape": [4, 6')
    elif kind == "chunk-shape-absurd":
        doc = _meta(store / "spectra" / "zarr.json")
        doc["chunk_grid"]["configuration"]["chunk_shape"] = [1_000_000, 1_000_000, 32]
        _write_meta(store / "spectra" / "zarr.json", doc)
    elif kind == "dtype-impossible":
        doc = _meta(store / "spectra" / "zarr.json")
        doc["data_type"] = "float1024"
        _write_meta(store / "spectra" / "zarr.json", doc)
    elif kind == "shape-huge-no-coords":
        doc = _meta(store / "spectra" / "zarr.json")
        doc["shape"] = [100_000, 100_000, 32]
        _write_meta(store / "spectra" / "zarr.json", doc)
        for coord in ("x", "y"):
            if (store / coord).exists():
                shutil.rmtree(store / coord)
    elif kind == "quicklook-chunk-missing":
        ql = store / "quicklook"
        if not ql.exists():
            return craft_store(tmp, "chunk-missing")
        files = sorted(p for p in ql.rglob("*") if p.is_file() and p.parent.name != ql.name and "c" in p.relative_to(ql).parts)
        files[0].unlink()
        return store, files[0].relative_to(ql).parts[0]
    else:
        raise ValueError(kind)
    return store, "spectra"


def open_and_load(store: Path):
    """``hyperspec.open`` + load of every variable."""
    ds = hs.open(store)
    return ds.load()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_corrupt_store_is_a_store_error_naming_store_and_array(tmp_path, kind):
    store, array = craft_store(tmp_path, kind)
    with pytest.raises(StoreError) as err:
        open_and_load(store)
    message = str(err.value)
    assert store.name in message and array in message, message


@pytest.mark.parametrize("kind", ["chunk-missing", "chunk-truncated", "chunk-zeroed", "chunk-symlink-outside", "chunk-symlink-sibling"])
def test_damaged_chunk_is_named(tmp_path, kind):
    store, _ = craft_store(tmp_path, kind)
    with pytest.raises(StoreError, match=r"spectra.*c/0/1/0|c/0/1/0.*spectra"):
        open_and_load(store)


def test_damaged_chunk_found_at_load_names_the_chunk(tmp_path):
    """A chunk damaged after open (the store was fine when opened) is named when it is read."""
    store = save_map(tmp_path / "late.zarr")
    ds = hs.open(store)
    chunk = store / "spectra" / "c" / "0" / "1" / "0"
    chunk.write_bytes(bytes(chunk.stat().st_size))
    with pytest.raises(StoreError, match=r"late\.zarr.*spectra.*\(0, 1, 0\)"):
        ds.spectra.values  # noqa: B018
    assert float(ds.spectra.isel(y=0, x=0, spectral=1)) == pytest.approx(0.01)  # the good chunks still read


def test_intact_store_reads_exactly(tmp_path):
    """The checks do not change what an intact store reads (all chunks, the ramp values)."""
    store = save_map(tmp_path / "ok.zarr")
    back = hs.open(store)
    np.testing.assert_array_equal(back.spectra.values, small_map().spectra.values)
    assert back.spectra.chunks == ((2, 2), (3, 3), (32,))


def test_all_nan_chunk_is_written_and_not_taken_for_missing(tmp_path):
    """A chunk that is all NaN (fill value) is stored, so the missing-chunk check does not refuse it."""
    ds = small_map()
    ds["spectra"][:2, :3] = np.nan
    store = hs.save(ds, tmp_path / "nan.zarr", chunks={"y": 2, "x": 3}, progress=False)
    assert (store / "spectra" / "c" / "0" / "0" / "0").is_file()
    back = hs.open(store).load()
    assert int(np.isnan(back.spectra.values).sum()) == 2 * 3 * 32


def test_incomplete_store_may_lack_chunks(tmp_path):
    """An interrupted store opened with allow_incomplete=True is not refused for chunks it never wrote."""
    from hyperspec.io.zarr_ import create_store

    store = tmp_path / "partial.zarr"
    create_store(small_map(), store, chunks={"y": 2, "x": 3})  # metadata only: no spectra chunk written
    ds = hs.open(store, allow_incomplete=True)
    assert ds.spectra.shape == (4, 6, 32)


def test_info_on_corrupt_store_is_one_line(tmp_path, capsys):
    from hyperspec.cli import main

    store, _ = craft_store(tmp_path, "chunk-missing")
    assert main(["info", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hyperspec: error:") and "c/0/1/0" in err and "spectra" in err
