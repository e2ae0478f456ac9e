"""The Zarr v3 store: round trips, laziness, chunking/compression, refusal to overwrite, completeness."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

import hyperspec
from hyperspec._errors import StoreError, StoreExistsError, StoreNotFoundError
from hyperspec.io import store_info
from hyperspec.model import history_records

LASER = 632.8


def _map(shape=(6, 5), n=40, seed=0):
    data = np.random.default_rng(seed).poisson(200, (*shape, n)).astype(np.float32)
    return hyperspec.from_array(data, np.linspace(-300, 3000, n), laser_nm=LASER, pixel_size_um=0.5, attrs={"instrument": "test rig"})


def test_round_trip_map(tmp_path):
    ds = _map()
    path = hyperspec.save(ds, tmp_path / "m.zarr", progress=False)
    back = hyperspec.open(path)
    assert isinstance(back["spectra"].data, da.Array)  # lazy
    xr.testing.assert_identical(back["spectra"].compute().reset_coords(drop=True), ds["spectra"].reset_coords(drop=True))
    for c in ("shift", "wavelength", "energy", "x", "y"):
        np.testing.assert_array_equal(back[c].values, ds[c].values)
        assert back[c].attrs["units"] == ds[c].attrs["units"]
    assert back.attrs["laser_nm"] == LASER and back.attrs["instrument"] == "test rig"
    assert history_records(back.attrs)[0]["step"] == "from_array"
    hyperspec.validate_map(back)


def test_store_layout_chunks_and_codec(tmp_path):
    ds = _map((40, 30), 64)
    path = hyperspec.save(ds, tmp_path / "m.zarr", chunks={"y": 16, "x": 10}, progress=False)
    arr = zarr.open_group(str(path), mode="r")["spectra"]
    assert arr.metadata.zarr_format == 3
    assert arr.chunks == (16, 10, 64)  # spectral axis whole
    blosc = [c for c in arr.metadata.codecs if type(c).__name__ == "BloscCodec"]
    assert blosc and blosc[0].cname.value == "zstd" and blosc[0].shuffle.value == "bitshuffle"
    root = json.loads((path / "zarr.json").read_text())["attributes"]
    assert root["hyperspec_schema"] == 1 and root["hyperspec_complete"] is True


def test_round_trip_kinetic_dask(tmp_path):
    data = da.random.default_rng(2).poisson(50.0, (20, 16, 48), chunks=(5, 16, 48)).astype(np.float32)
    ds = hyperspec.from_array(
        data, np.linspace(500, 700, 48), unit="nm", laser_nm=LASER, dims=("t", "x", "spectral"), frame_s=0.2, pixel_size_um=0.5
    )
    path = hyperspec.save(ds, tmp_path / "k.zarr", progress=False)
    back = hyperspec.open(path)
    assert back["spectra"].dims == ("t", "x", "spectral")
    assert back["spectra"].chunks == ((5, 5, 5, 5), (16,), (48,))
    np.testing.assert_array_equal(back["spectra"].values, ds["spectra"].values)
    np.testing.assert_allclose(back["t"].values, np.arange(20) * 0.2)


def test_round_trip_descending_nm(tmp_path):
    nm = np.linspace(720.0, 480.0, 64)
    raw = np.random.default_rng(3).uniform(0, 1000, (4, 5, 64)).astype(np.float32)
    ds = hyperspec.from_array(raw, nm, unit="nm", laser_nm=LASER, medium="vacuum")  # plain 10⁷/λ below
    back = hyperspec.open(hyperspec.save(ds, tmp_path / "d.zarr", progress=False))
    np.testing.assert_allclose(back["wavelength"].values, nm[::-1])
    np.testing.assert_array_equal(back["spectra"].values, raw[..., ::-1])
    # the intensity recorded at 480 nm is the one at the smallest wavelength (most anti-Stokes)
    np.testing.assert_array_equal(back["spectra"].sel(spectral=0).values, raw[..., -1])
    assert back["shift"].values[0] == pytest.approx(hyperspec.axes.raman_shift(480.0, LASER))


def test_refuses_to_overwrite(tmp_path):
    ds = _map()
    path = hyperspec.save(ds, tmp_path / "m.zarr", progress=False)
    with pytest.raises(StoreExistsError, match="refusing to overwrite.*overwrite=True"):
        hyperspec.save(ds, path, progress=False)
    ds2 = _map(seed=9)
    hyperspec.save(ds2, path, overwrite=True, progress=False)
    np.testing.assert_array_equal(hyperspec.open(path)["spectra"].values, ds2["spectra"].values)


def test_overwrite_never_deletes_a_non_store(tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    with pytest.raises(StoreExistsError, match="not a Zarr store"):
        hyperspec.save(_map(), precious, overwrite=True, progress=False)
    assert (precious / "chapter1.tex").read_text() == "years of work"


def test_interrupted_write_is_marked_incomplete(tmp_path):
    ds = _map((8, 8), 32).chunk({"y": 2})

    def boom(block, block_info=None):
        if block_info[0]["chunk-location"][0] == 3:
            raise RuntimeError("power cut")
        return block

    broken = ds.copy()
    broken["spectra"] = (ds["spectra"].dims, ds["spectra"].data.map_blocks(boom, dtype=np.float32))
    path = tmp_path / "cut.zarr"
    with pytest.raises(RuntimeError, match="power cut"):
        hyperspec.save(broken, path, progress=False)
    with pytest.raises(StoreError, match="incomplete.*allow_incomplete=True"):
        hyperspec.open(path)
    assert hyperspec.open(path, allow_incomplete=True)["spectra"].shape == (8, 8, 32)
    assert store_info(path)["complete"] is False


def test_groups_round_trip(tmp_path):
    ds = _map()
    truth = xr.Dataset({"region": (("y", "x"), np.arange(30).reshape(6, 5) % 3)}, coords={"y": ds["y"], "x": ds["x"]})
    path = hyperspec.save(ds, tmp_path / "g.zarr", groups={"truth": truth}, progress=False)
    back = hyperspec.open(path, group="truth")
    np.testing.assert_array_equal(back["region"].values, truth["region"].values)
    with pytest.raises(StoreError, match="no group 'fit'"):
        hyperspec.open(path, group="fit")


def test_open_errors(tmp_path):
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        hyperspec.open(tmp_path / "nope.zarr")
    (tmp_path / "file.txt").write_text("x y spectrum")  # not a store: the readers are asked, and none knows it
    with pytest.raises(hyperspec.HyperspecError, match="no reader recognises this file"):
        hyperspec.open(tmp_path / "file.txt")
    with pytest.raises(StoreError, match="not a hyperspec Zarr store"):
        hyperspec.io.open_store(tmp_path / "file.txt")
    plain = tmp_path / "plain.zarr"
    xr.Dataset({"a": ("x", np.arange(3))}).to_zarr(plain, zarr_format=3, consolidated=False)
    with pytest.raises(StoreError, match="not a hyperspec one"):
        hyperspec.open(plain)


def test_corrupt_and_future_stores(tmp_path):
    path = hyperspec.save(_map(), tmp_path / "m.zarr", progress=False)
    meta = path / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["hyperspec_schema"] = 99
    meta.write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="schema 99, newer.*upgrade hyperspec"):
        hyperspec.open(path)
    meta.write_text('{"zarr_format": 3, "node_type": "gro')  # truncated
    with pytest.raises(StoreError, match="corrupt"):
        hyperspec.open(path)
    path2 = hyperspec.save(_map(), tmp_path / "m2.zarr", progress=False)
    (path2 / "spectra" / "zarr.json").write_text("{ not json")
    with pytest.raises(StoreError, match="could not be opened"):
        hyperspec.open(path2)


def test_info_reports_axis_laser_chunks(tmp_path):
    path = hyperspec.save(_map((10, 12), 40), tmp_path / "m.zarr", chunks={"y": 5, "x": 12}, progress=False)
    info = store_info(path)
    assert info["dims"] == {"y": 10, "x": 12, "spectral": 40}
    assert info["shift"][:2] == pytest.approx((-300.0, 3000.0))
    assert info["laser_nm"] == LASER
    assert info["variables"]["spectra"]["chunks"] == (5, 12, 40)
    assert info["complete"] is True and info["schema"] == 1
