"""Quick-look images of a map (``hyperspec.bands.windows.quicklook``) and their copy stored with the map."""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec.bands.windows import QUICKLOOK_GROUP, quicklook, quicklook_array, window_integrals
from hyperspec.report import color_limits, rgb_composite


def _gauss_map():
    shift = np.arange(-4600.0, 3600.0, 10.0)
    band = 100.0 * np.exp(-0.5 * ((shift - 1800.0) / 100.0) ** 2)  # area 100·100·√(2π) counts·cm⁻¹
    spectra = np.stack([band, 2 * band, 3 * band]).reshape(1, 3, -1) + 10.0
    return hyperspec.from_array(spectra, shift, laser_nm=632.8), shift


def test_quicklook_values_against_ground_truth(xp):
    ds, shift = _gauss_map()
    ql = quicklook(ds, backend="numpy")
    assert list(ql.data_vars) == ["total_counts", "max_counts", "aspl_window_area", "lers_window_area", "hers_window_area"]
    np.testing.assert_allclose(ql["hers_window_area"].values[0], np.array([1, 2, 3]) * 1e4 * np.sqrt(2 * np.pi), rtol=2e-3)
    np.testing.assert_allclose(ql["total_counts"].values[0], ds["spectra"].values[0].sum(-1))
    np.testing.assert_allclose(ql["max_counts"].values[0], [110.0, 210.0, 310.0])
    # the window areas are window_integrals' numbers
    wi = window_integrals(ds, backend="numpy")
    for b in ("aspl", "lers", "hers"):
        np.testing.assert_allclose(ql[f"{b}_window_area"].values, wi[f"{b}_window_area"].values)
    # the array core runs on the xp namespace
    spectra = xp.asarray(ds["spectra"].values[0])
    out = quicklook_array(spectra, xp.asarray(shift), xp.asarray(ds["energy"].values), {"hers": (600.0, 3500.0)})
    np.testing.assert_allclose(np.asarray(out.get() if hasattr(out, "get") else out)[:, 2], ql["hers_window_area"].values[0])


def test_quicklook_without_laser_and_nonfinite_channels():
    spectra = np.ones((2, 2, 16))
    spectra[0, 0, 3] = np.nan
    spectra[1, 1, :] = np.nan
    ds = hyperspec.from_array(spectra, np.linspace(500.0, 600.0, 16), unit="nm")
    ql = quicklook(ds, backend="numpy").compute()
    assert list(ql.data_vars) == ["total_counts", "max_counts"]
    np.testing.assert_array_equal(ql["total_counts"].values, [[15.0, 16.0], [16.0, 0.0]])
    assert np.isnan(ql["max_counts"].values[1, 1]) and ql["max_counts"].values[0, 0] == 1.0


def test_quicklook_of_a_shift_axis_without_energy():
    shift = np.arange(400.0, 3600.0, 10.0)
    ds = hyperspec.from_array(np.ones((1, 2, shift.size)), shift, unit="cm-1")  # no laser: no energy axis
    assert "energy" not in ds.coords
    ql = quicklook(ds, backend="numpy").compute()
    assert list(ql.data_vars) == ["total_counts", "max_counts", "hers_window_area"]
    np.testing.assert_allclose(ql["hers_window_area"].values, 0.0, atol=1e-9)  # flat: nothing above the baseline


def test_save_and_synthetic_write_store_the_quicklook(tmp_path):
    store = hyperspec.synthetic.write("map", tmp_path / "m.zarr", (5, 7), n_spectral=128, seed=1, chunks={"y": 2}, progress=False)
    stored = hyperspec.open(store, group=QUICKLOOK_GROUP).compute()
    expected = quicklook(hyperspec.open(store), backend="numpy").compute()
    assert set(stored.data_vars) == set(expected.data_vars)
    assert all(stored[n].attrs == expected[n].attrs for n in expected.data_vars)  # units too
    for name in expected.data_vars:
        np.testing.assert_allclose(stored[name].values, expected[name].values, rtol=1e-12)
    # hyperspec.save of a lazily read map writes the same images in its one pass
    copy = hyperspec.save(hyperspec.open(store), tmp_path / "copy.zarr", progress=False)
    again = hyperspec.open(copy, group=QUICKLOOK_GROUP).compute()
    for name in expected.data_vars:
        np.testing.assert_allclose(again[name].values, expected[name].values, rtol=1e-12)
    # the map itself is unchanged by the extra group; results (no spectra) get none
    assert list(hyperspec.open(copy).data_vars) == ["spectra"]
    res = hyperspec.save(expected, tmp_path / "r.zarr", progress=False)
    assert hyperspec.io.store_info(res)["groups"] == []


def test_color_limits_and_rgb_composite():
    values = np.r_[np.arange(101.0), np.nan, np.inf]
    assert color_limits(values) == pytest.approx(tuple(np.percentile(np.arange(101.0), [1, 99])))
    assert color_limits(np.array([-2.0, 1.0]), (0, 100), symmetric=True) == (-2.0, 2.0)
    assert color_limits(np.full(3, np.nan)) == (0.0, 1.0)
    big = np.random.default_rng(0).normal(size=3_000_000)  # subsampled: still the normal's ±2.326 σ
    lo, hi = color_limits(big)
    assert lo == pytest.approx(-2.326, abs=0.02) and hi == pytest.approx(2.326, abs=0.02)
    with pytest.raises(ValueError, match="percentiles"):
        color_limits(values, (99, 1))
    img = rgb_composite(np.arange(4.0), np.ones(4), np.arange(4.0)[::-1], (0, 100))
    np.testing.assert_allclose(img[:, 0], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)
    np.testing.assert_allclose(img[:, 1], 0.5) and np.testing.assert_allclose(img[:, 2], [1, 2 / 3, 1 / 3, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        rgb_composite(np.ones(2), np.ones(3), np.ones(2))
