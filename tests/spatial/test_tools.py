"""Spatial tools against the generator's truth (drift, regions) and against SciPy / direct computation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

import hyperspec
from hyperspec.spatial import filter_map, line_profile, region_spectra, register_drift, segment_regions


@pytest.mark.parametrize("seed", [3, 5])
def test_drift_recovered_to_a_tenth_of_a_pixel(seed):
    ds, truth = hyperspec.synthetic.kinetic_map(40, (32, 32), n_spectral=256, seed=seed, artefacts=False)
    ds, truth = ds.compute(), truth.compute()
    out = register_drift(ds)
    pixel = float(ds["x"].values[1] - ds["x"].values[0])
    true_px = np.stack([truth["drift_y_um"].values, truth["drift_x_um"].values], axis=1) / pixel
    true_px -= true_px[0]
    err = out["drift_px"].values - true_px
    assert np.sqrt(np.mean(err**2, axis=0)).max() <= 0.1
    assert np.abs(err).max() <= 0.15
    np.testing.assert_allclose(out["drift_um"].values, out["drift_px"].values * pixel)
    # applying it: the last frame, shifted back, lines up with the first better than before
    # (on the l-ERS image, whose temperature hot spots give structure in both directions)
    lers = np.abs(ds["shift"]) < 300
    first = ds["spectra"].isel(t=0).where(lers).sum("spectral").values
    before = ds["spectra"].isel(t=-1).where(lers).sum("spectral").values
    after = out["spectra"].isel(t=-1).where(lers).sum("spectral").values
    inner = (slice(3, -3), slice(3, -3))
    corr = [np.corrcoef(first[inner].ravel(), img[inner].ravel())[0, 1] for img in (before, after)]
    assert corr[1] > corr[0]
    assert out["drift_valid"].dims == ("t", "y", "x")
    assert out["drift_valid"].values[0].all() and not out["drift_valid"].values[-1].all()


def test_segmentation_recovers_the_generator_regions():
    # 512 channels: half the fit of 1024, the same segmentation (98.8 % of pixels right; 98.6 % at 1024)
    ds, truth = hyperspec.synthetic.cspbbr3_map((32, 48), n_spectral=512, seed=2)
    with hyperspec.single_threaded_blas():
        res = hyperspec.decompose(ds.compute()).compute()
    labels = segment_regions({"aspl_peak_ev": res["aspl_peak_ev"], "hers_area": res["hers_area"]})
    true = truth["region"].values
    assert (labels.values == true).mean() >= 0.95
    for k in (0, 1, 2):  # every region found, each mostly right
        assert ((labels.values == k) & (true == k)).sum() >= 0.8 * (true == k).sum()


def test_region_spectra_are_the_means(small_map):
    ds, truth = small_map
    labels = xr.DataArray(truth["region"].values, dims=("y", "x"))
    spec = region_spectra(ds, labels)
    for k in np.unique(truth["region"].values):
        manual = ds["spectra"].values[truth["region"].values == k].mean(0)
        np.testing.assert_allclose(spec.sel(region=int(k)).values, manual, rtol=1e-5)
    assert spec.attrs["names"][0] == "crystal"


def test_line_profile_with_width_and_filters(small_map):
    ds, truth = small_map
    img = truth["aspl_area"]
    prof = line_profile(img, (5, 2), (5, 20), width=3)
    manual = img.values[4:7, 2:21].mean(0)
    np.testing.assert_allclose(prof.values, manual, rtol=1e-10)
    assert prof["distance"].attrs["units"] == "um"
    assert prof["distance"].values[-1] == pytest.approx(18 * float(ds["x"].values[1] - ds["x"].values[0]))
    med = filter_map(img, "median", 3)
    np.testing.assert_allclose(med.values, ndimage.median_filter(img.values, 3, mode="nearest"), rtol=1e-6)
    gau = filter_map(img, "gaussian", 1.5)
    np.testing.assert_allclose(gau.values, ndimage.gaussian_filter(img.values.astype(float), 1.5, mode="nearest"), rtol=1e-5)
    with pytest.raises(ValueError, match="unknown filter"):
        filter_map(img, "mean")
