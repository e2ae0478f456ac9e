"""OME-Zarr export of results (issue 16): read back with the ``ome-zarr`` library's own reader, equal to the band maps."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr

import hyperspec
from hyperspec._errors import HyperspecError, StoreExistsError
from hyperspec.cli import main
from hyperspec.io.ome_zarr import write_ome_zarr

pytest.importorskip("ome_zarr")
from ome_zarr.io import parse_url  # noqa: E402
from ome_zarr.reader import Multiscales, Reader  # noqa: E402

UM = {"units": "um", "long_name": "stage position"}


def _results(shape=(4, 5), lead=None, seed=0):
    """Small synthetic results: two bands with units, a dimensionless chi2_red and a CF status (flags)."""
    rng = np.random.default_rng(seed)
    dims = ("y", "x") if lead is None else (lead[0], "y", "x")
    full = shape if lead is None else (len(lead[1]), *shape)
    coords = {"y": ("y", 2.0 + 0.25 * np.arange(shape[0]), UM), "x": ("x", -1.0 + 0.25 * np.arange(shape[1]), UM)}
    if lead is not None:
        coords[lead[0]] = (lead[0], np.asarray(lead[1], dtype=float), {"units": lead[2], "long_name": lead[0]})
    area = rng.uniform(1e3, 2e3, full)
    area.flat[3] = np.nan  # a masked pixel stays NaN
    data = {
        "g_area": (dims, area, {"units": "counts*cm-1", "long_name": "area of g"}),
        "g_center_cm": (dims, rng.normal(1580, 2, full), {"units": "cm-1", "long_name": "g center"}),
        "chi2_red": (dims, rng.uniform(0.8, 1.2, full), {"units": "1", "long_name": "reduced chi-square"}),
        "status": (dims, np.zeros(full, np.int8), {"long_name": "fit status", "flag_values": [0, 1], "flag_meanings": "ok bad"}),
    }
    return xr.Dataset(data, coords=coords)


def _read(path):
    """The image node as the ``ome-zarr`` reader sees it, after ``ome-zarr-models`` validated the NGFF 0.5 metadata."""
    models = pytest.importorskip("ome_zarr_models.v05.image")
    image = models.Image.from_zarr(zarr.open_group(str(path), mode="r"))  # raises on metadata that breaks the spec
    assert image.ome_attributes.omero is not None
    [node] = [n for n in Reader(parse_url(str(path)))() if n.load(Multiscales)]
    return node


def test_band_maps_read_back_equal_with_labels_and_pixel_size(tmp_path):
    res = _results()
    path = write_ome_zarr(res, tmp_path / "r.ome.zarr")
    node = _read(path)
    [data] = node.data  # one resolution level, (c, y, x)
    assert [a["name"] for a in node.metadata["axes"]] == ["c", "y", "x"]
    assert [a.get("unit") for a in node.metadata["axes"]] == [None, "micrometer", "micrometer"]
    np.testing.assert_array_equal(np.asarray(data), np.stack([res[n].values for n in ("g_area", "g_center_cm", "chi2_red")]))
    assert node.metadata["channel_names"] == ["g_area [counts*cm-1]", "g_center_cm [cm-1]", "chi2_red"]  # status left out
    [transforms] = node.metadata["coordinateTransformations"]
    assert transforms == [{"type": "scale", "scale": [1.0, 0.25, 0.25]}, {"type": "translation", "translation": [0.0, 2.0, -1.0]}]
    lo, hi = node.metadata["contrast_limits"][0]
    assert (lo, hi) == (np.nanmin(res["g_area"].values), np.nanmax(res["g_area"].values))
    attrs = zarr.open_group(str(path), mode="r").attrs["hyperspec"]
    assert attrs["variables"] == ["g_area", "g_center_cm", "chi2_red"] and attrs["units"] == ["counts*cm-1", "cm-1", "1"]


def test_a_results_store_exports_every_band_map_through_the_cli(tmp_path, capsys):
    ds = hyperspec.synthetic.simulate("map", (3, 4), n_spectral=128, seed=2)[0].compute()
    res = hyperspec.decompose(ds, "cspbbr3-633", backend="numpy")
    store = hyperspec.save(res, tmp_path / "res.zarr", progress=False)
    out = tmp_path / "res.ome.zarr"
    assert main(["export", str(store), "--ome-zarr", str(out)]) == 0
    back = hyperspec.open(store)
    node = _read(out)
    names = zarr.open_group(str(out), mode="r").attrs["hyperspec"]["variables"]
    assert "status" not in names and "aspl_area" in names and "chi2_red" in names
    np.testing.assert_array_equal(np.asarray(node.data[0]), np.stack([back[n].values.astype(np.float64) for n in names]))
    assert node.metadata["channel_names"][names.index("aspl_area")] == "aspl_area [counts*cm-1]"
    assert main(["export", str(store), "--ome-zarr", str(out)]) == 2  # exists: refused without --overwrite
    assert main(["export", str(store), "--ome-zarr", str(store), "--overwrite"]) == 2  # never over the store it reads
    xr.testing.assert_equal(hyperspec.open(store), back)


def test_kinetic_results_become_tcyx_with_the_frame_time(tmp_path):
    res = _results(lead=("t", [0.0, 0.5, 1.0], "s"))
    node = _read(write_ome_zarr(res, tmp_path / "k.ome.zarr"))
    assert [(a["name"], a["type"]) for a in node.metadata["axes"]] == [("t", "time"), ("c", "channel"), ("y", "space"), ("x", "space")]
    assert node.metadata["axes"][0]["unit"] == "second"
    assert node.metadata["coordinateTransformations"][0][0]["scale"] == [0.5, 1.0, 0.25, 0.25]
    np.testing.assert_array_equal(np.asarray(node.data[0])[:, 1], res["g_center_cm"].values)


def test_uneven_power_series_keeps_its_values(tmp_path):
    res = _results(lead=("power", [0.1, 1.0, 10.0], "mW"))
    path = write_ome_zarr(res, tmp_path / "p.ome.zarr")
    node = _read(path)
    assert node.metadata["axes"][0] == {"name": "power", "type": "custom"}  # NGFF allows one custom-typed axis
    assert node.metadata["coordinateTransformations"][0][0]["scale"][0] == 1.0  # not evenly spaced: index scale, no unit …
    series = zarr.open_group(str(path), mode="r").attrs["hyperspec"]["series"]
    assert series == {"dim": "power", "values": [0.1, 1.0, 10.0], "units": "mW", "evenly_spaced": False}  # … and the values
    np.testing.assert_array_equal(np.asarray(node.data[0])[:, 0], res["g_area"].values)


def test_refusals_name_the_problem(tmp_path):
    res = _results()
    write_ome_zarr(res, tmp_path / "a.ome.zarr")
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        write_ome_zarr(res, tmp_path / "a.ome.zarr")
    write_ome_zarr(res, tmp_path / "a.ome.zarr", overwrite=True, variables=["g_area"])
    assert _read(tmp_path / "a.ome.zarr").metadata["channel_names"] == ["g_area [counts*cm-1]"]
    line = xr.Dataset({"g_area": ("x", np.ones(4), {"units": "counts"})})
    with pytest.raises(HyperspecError, match=r"images on \(y, x\).*--csv"):
        write_ome_zarr(line, tmp_path / "l.ome.zarr")
    two = _results(lead=("t", [0.0, 1.0], "s")).expand_dims(power=2)
    with pytest.raises(HyperspecError, match="one series axis"):
        write_ome_zarr(two.transpose("power", "t", "y", "x"), tmp_path / "2.ome.zarr")
    uneven = res.assign_coords(x=("x", [0.0, 0.25, 0.5, 1.0, 1.25], UM))
    with pytest.raises(HyperspecError, match="'x' is not evenly spaced"):
        write_ome_zarr(uneven, tmp_path / "u.ome.zarr")
    with pytest.raises(HyperspecError, match="no variable"):
        write_ome_zarr(res, tmp_path / "v.ome.zarr", variables=["nope"])
    assert not (tmp_path / "l.ome.zarr").exists() and not (tmp_path / "u.ome.zarr").exists()
