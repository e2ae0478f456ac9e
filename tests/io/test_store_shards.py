"""Sharded spectra: one Zarr shard per Dask chunk, whole spectra in 16x16-pixel inner chunks."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr

import hyperspec
from hyperspec.io.zarr_ import INNER_PIXELS, _inner_chunks


def _map(shape=(64, 48), n=32, seed=1):
    data = np.random.default_rng(seed).poisson(300, (*shape, n)).astype(np.float32)
    return hyperspec.from_array(data, np.linspace(-200, 2500, n), laser_nm=532.0, pixel_size_um=0.5)


def test_spectra_are_sharded_per_chunk_and_read_back_exactly(tmp_path):
    ds = _map()
    path = hyperspec.save(ds, tmp_path / "m.zarr", chunks={"y": 32, "x": 48}, progress=False)
    arr = zarr.open_group(str(path), mode="r")["spectra"]
    assert arr.shards == (32, 48, 32)  # the unit Dask reads and writes
    assert arr.chunks == (16, 16, 32)  # one inner chunk: 16x16 whole spectra
    back = hyperspec.open(path)
    assert back["spectra"].data.chunksize == (32, 48, 32)  # Dask follows the shards, not the inner chunks
    xr.testing.assert_identical(back["spectra"].compute().reset_coords(drop=True), ds["spectra"].reset_coords(drop=True))
    # one spectrum read straight through zarr touches one inner chunk: the same values as the map
    np.testing.assert_array_equal(arr[37, 21, :], ds["spectra"].values[37, 21])


def test_a_pixel_read_decodes_one_inner_chunk_not_the_shard(tmp_path):
    ds = _map()
    path = hyperspec.save(ds, tmp_path / "m.zarr", chunks={"y": 64, "x": 48}, progress=False)
    store = zarr.storage.LocalStore(str(path), read_only=True)
    got = []
    original = store.get

    async def counting_get(key, prototype, byte_range=None):
        out = await original(key, prototype, byte_range)
        if key.startswith("spectra/c") and out is not None:
            got.append(len(out))
        return out

    store.get = counting_get
    arr = zarr.open_group(store, mode="r")["spectra"]
    np.testing.assert_array_equal(arr[5, 40, :], ds["spectra"].values[5, 40])
    shard_bytes = sum(f.stat().st_size for f in (path / "spectra").rglob("*") if f.is_file() and f.name != "zarr.json")
    assert got and sum(got) < shard_bytes / 6  # the index and one of 12 inner chunks, not the 64x48-pixel shard


@pytest.mark.parametrize(
    ("dims", "chunks", "inner"),
    [
        (("y", "x", "spectral"), (64, 64, 1024), (16, 16, 1024)),
        (("y", "x", "spectral"), (16, 10, 64), None),  # a chunk already as small as an inner chunk: unsharded
        (("y", "x", "spectral"), (37, 64, 256), None),  # 37 rows have no useful divisor: unsharded
        (("t", "y", "x", "spectral"), (2, 64, 64, 256), (1, 16, 16, 256)),
        (("y", "x"), (64, 64), None),  # no spectral axis (a band map): unsharded
    ],
)
def test_inner_chunks_rule(dims, chunks, inner):
    assert INNER_PIXELS == 16
    assert _inner_chunks(dims, chunks) == inner


def test_an_opened_sharded_store_saves_again_sharded(tmp_path):
    """The opened map's encoding (inner chunks and shards) does not leak into a new store's layout."""
    ds = _map((64, 32), 32)
    pre = hyperspec.save(ds, tmp_path / "m.zarr", chunks={"y": 32, "x": 32}, progress=False)
    back = hyperspec.open(pre)
    again = hyperspec.save(back.isel(y=slice(0, 64)), tmp_path / "copy.zarr", progress=False)
    arr = zarr.open_group(str(again), mode="r")["spectra"]
    assert arr.shards == (32, 32, 32) and arr.chunks == (16, 16, 32)
    np.testing.assert_array_equal(arr[...], ds["spectra"].values)


def test_a_damaged_or_missing_shard_names_the_file(tmp_path):
    ds = _map()
    path = hyperspec.save(ds, tmp_path / "m.zarr", chunks={"y": 32, "x": 48}, progress=False)
    shard = path / "spectra" / "c" / "0" / "0" / "0"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(hyperspec.HyperspecError, match=r"chunk \(0, 0, 0\) \(file spectra/c/0/0/0\) cannot be read"):
        _ = hyperspec.open(path)["spectra"].values
    (path / "spectra" / "c" / "1" / "0" / "0").unlink()
    with pytest.raises(hyperspec.HyperspecError, match=r"missing chunk \(1, 0, 0\)"):
        _ = hyperspec.open(path)["spectra"].isel(y=slice(32, 64)).values
