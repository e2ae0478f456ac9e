"""Quick-look window integrals: exact on known bands, lazy on dask maps, equal on CPU and GPU."""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import AxisError, DataModelError
from hyperspec.bands import shapes
from hyperspec.bands.windows import window_integrals
from hyperspec.model import history_records

LASER = 632.8


def _map_with_known_bands(n_pix=12):
    shift = np.linspace(-4500, 3600, 4096)
    rng = np.random.default_rng(0)
    heights = rng.uniform(100, 1000, (n_pix, 1))
    slope = rng.uniform(-0.01, 0.01, (n_pix, 1))
    base = 100 + slope * shift  # any straight baseline is removed exactly
    gauss = shapes.gaussian(shift, -3300.0, 150.0, heights)  # fully inside the aS-PL window
    lor = shapes.gaussian(shift, 2000.0, 200.0, 2 * heights)  # inside the h-ERS window
    data = (base + gauss + lor).reshape(3, n_pix // 3, -1)
    ds = hyperspec.from_array(data, shift, laser_nm=LASER)
    area = np.sqrt(np.pi / np.log(2)) * 150.0 * heights.reshape(3, -1)  # analytic Gaussian area, HWHM form
    return ds, area


def test_areas_against_analytic_gaussian():
    ds, area = _map_with_known_bands()
    res = window_integrals(ds).compute()
    np.testing.assert_allclose(res["aspl_window_area"].values, area, rtol=1e-4)
    np.testing.assert_allclose(res["hers_window_area"].values, 2 * area * 200 / 150, rtol=2e-3)
    np.testing.assert_allclose(res["lers_window_area"].values, 0.0, atol=1e-6 * area.max())
    e_expected = hyperspec.axes.convert_axis(-3300.0, "cm-1", "eV", laser_nm=LASER)
    np.testing.assert_allclose(res["aspl_centroid_ev"].values, e_expected, atol=2e-4)
    assert res["aspl_window_area"].attrs["units"] == "counts*cm-1"
    assert history_records(res.attrs)[-1]["step"] == "window_integrals"


def test_lazy_on_dask_and_equal_to_eager(small_map):
    ds, truth = small_map
    lazy = window_integrals(ds.chunk({"y": 5}))
    assert lazy["aspl_window_area"].chunks is not None
    np.testing.assert_allclose(lazy.compute()["lers_window_area"].values, window_integrals(ds)["lers_window_area"].values)


def test_synthetic_contrast(small_map):
    ds, truth = small_map
    res = window_integrals(ds).compute()
    region = truth["region"].values
    hers = res["hers_window_area"].values
    assert np.median(hers[region == 2]) > 20 * abs(np.median(hers[region == 0]))
    cen = res["aspl_centroid_ev"].values
    assert np.median(cen[region == 2]) - np.median(cen[region == 0]) > 0.02
    # the window area tracks the true aS-PL area (same ranking of pixels), though bands overlap
    r = np.corrcoef(res["aspl_window_area"].values.ravel(), truth["aspl_area"].values.ravel())[0, 1]
    assert r > 0.95


def test_errors_up_front():
    ds, _ = _map_with_known_bands()
    with pytest.raises(DataModelError, match=r"window .lers. = \(-1, 1\) cm⁻¹ holds 1 channels.*needs at least 4"):
        window_integrals(ds, {"lers": (-1.0, 1.0)})
    with pytest.raises(DataModelError, match="low edge must be below"):
        window_integrals(ds, {"aspl": (-1500.0, -4500.0)})
    nm_only = hyperspec.from_array(np.ones((2, 50)), np.linspace(500, 700, 50), unit="nm")
    with pytest.raises(AxisError, match="laser wavelength is unknown"):
        window_integrals(nm_only)


@pytest.mark.gpu
def test_cupy_equals_numpy(small_map):
    ds, _ = small_map
    cpu = window_integrals(ds, backend="numpy").compute()
    gpu = window_integrals(ds, backend="cupy").compute()
    assert gpu.attrs["backend"] == "cupy"
    for name in cpu.data_vars:
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-10)
