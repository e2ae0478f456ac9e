"""region_spectra / region_mean / region_table against SciPy's labelled statistics and NumPy masks."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

import hyperspec as hs
from hyperspec import DataModelError
from hyperspec.spatial import region_mean, region_spectra, region_table


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(3)
    ny, nx, nt = 9, 11, 5
    labels = np.zeros((ny, nx), dtype=np.int32)
    labels[1:4, 2:7] = 1
    labels[5:9, 6:11] = 3
    labels[6, 1] = 7  # a one-pixel region
    labels[0, 0] = -1
    area = rng.normal(100.0, 10.0, (nt, ny, nx))
    area[2, 2, 3] = np.nan  # a NaN inside region 1
    status = np.zeros((nt, ny, nx), dtype=np.int8)
    status[:, 5, 6] = 2  # a failed pixel inside region 3
    coords = {"t": np.arange(nt) * 0.2, "y": np.arange(ny) * 0.5, "x": np.arange(nx) * 0.5}
    res = xr.Dataset(
        {
            "a_area": (("t", "y", "x"), area, {"units": "counts*cm-1"}),
            "b_peak_ev": (("y", "x"), rng.normal(2.4, 0.01, (ny, nx)), {"units": "eV"}),
            "status": (("t", "y", "x"), status),
        },
        coords=coords,
    )
    return res, xr.DataArray(labels, dims=("y", "x"))


def test_region_table_equals_scipy_labelled_statistics(scene):
    res, labels = scene
    frame = res.isel(t=1)
    table = region_table(frame, labels, background=0, names={1: "left", 3: "right"})
    assert table["region"].tolist() == [1, 3, 7] * 2 and table["variable"].tolist() == ["a_area"] * 3 + ["b_peak_ev"] * 3
    assert table["name"].tolist()[:3] == ["left", "right", "7"]
    lab = labels.values
    for var in ("a_area", "b_peak_ev"):
        v = np.asarray(frame[var].values, dtype=float)
        good = (frame["status"].values == 0) & np.isfinite(v)
        ids = [1, 3, 7]
        lab_good = np.where(good, lab, 0)
        n = ndimage.sum_labels(np.ones_like(v), lab_good, ids)
        mean = ndimage.mean(v, lab_good, ids)
        median = ndimage.median(v, lab_good, ids)
        std0 = ndimage.standard_deviation(v, lab_good, ids)  # ddof 0
        rows = table[table["variable"] == var]
        np.testing.assert_array_equal(rows["n"], n)
        np.testing.assert_allclose(rows["mean"], mean, rtol=1e-12)
        np.testing.assert_allclose(rows["median"], median, rtol=1e-12)
        ok = n > 1
        np.testing.assert_allclose(rows["std"][ok], std0[ok] * np.sqrt(n[ok] / (n[ok] - 1)), rtol=1e-10)
        assert np.isnan(rows["std"][~ok]).all()
        np.testing.assert_array_equal(rows["n_pixels"], [(lab == i).sum() for i in ids])
    assert table.loc[table["variable"] == "b_peak_ev", "units"].unique().tolist() == ["eV"]
    # the failed pixel counts when converged_only is off
    every = region_table(frame, labels, background=0, variables=["b_peak_ev"], converged_only=False)
    assert every["n"].tolist() == [15, 20, 1]


def test_region_table_pools_the_dims_the_labels_lack(scene):
    res, labels = scene
    table = region_table(res, labels, variables=["a_area"], background=0, converged_only=False)
    v = res["a_area"].values
    mask = np.broadcast_to(labels.values == 1, v.shape)
    x = v[mask & np.isfinite(v)]
    row = table.iloc[0]
    assert row["n"] == x.size == 5 * 15 - 1
    assert row["mean"] == pytest.approx(x.mean(), rel=1e-12) and row["median"] == pytest.approx(np.median(x), rel=1e-12)


def test_region_mean_keeps_time(scene):
    res, labels = scene
    out = region_mean(res["a_area"], labels, background=0)
    assert out.dims == ("region", "t") and out["region"].values.tolist() == [1, 3, 7]
    v = res["a_area"].values
    for k, i in enumerate([1, 3, 7]):
        np.testing.assert_allclose(out.values[k], np.nanmean(v[:, labels.values == i], axis=1), rtol=1e-12)
    assert out.attrs["units"] == "counts*cm-1" and out.attrs["n_pixels"] == [15, 20, 1]
    lazy = region_mean(res["a_area"].chunk({"y": 3}), labels, background=0)
    np.testing.assert_allclose(lazy.values, out.values, rtol=1e-12)


def test_region_spectra_background_and_names(scene):
    rng = np.random.default_rng(0)
    spectra = rng.poisson(50.0, (9, 11, 16)).astype(float)
    ds = hs.from_array(spectra, np.linspace(100.0, 400.0, 16)).chunk({"y": 1, "x": 1})
    _, labels = scene
    lab = labels.where(labels != 7, 0).astype(np.int32)
    lab[0, 0] = 0
    out = region_spectra(ds, lab, background=0, names={1: "left"})
    assert out["region"].values.tolist() == [1, 3] and out.attrs["names"] == ["left", "3"]
    for k, i in enumerate([1, 3]):
        np.testing.assert_allclose(out.values[k], spectra[lab.values == i].mean(axis=0), rtol=1e-12)
    # the default names are the segmentation's (0 crystal, 1 interface, 2 glass): unchanged behaviour
    assert region_spectra(ds, lab - 1).attrs["names"] == ["crystal", "glass"]


@pytest.mark.parametrize("func", [region_table, region_mean])
def test_bad_labels_are_named(scene, func):
    res, labels = scene
    first = res if func is region_table else res["a_area"]
    with pytest.raises(DataModelError, match="`labels` must hold integers"):
        func(first, labels.astype(float))
    with pytest.raises(DataModelError, match="must be an xarray.DataArray"):
        func(first, labels.values)
    with pytest.raises(ValueError, match="no pixel carries a region label"):
        func(first, xr.zeros_like(labels), background=0)


def test_region_table_unknown_variable(scene):
    res, labels = scene
    with pytest.raises(DataModelError, match="no variable 'c_area'.*choose from"):
        region_table(res, labels, variables=["c_area"])
