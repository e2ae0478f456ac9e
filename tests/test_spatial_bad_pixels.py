"""Dead and saturated pixels in the spatial tools (issue 19 item 5).

A demo-like 48 × 48 map (the demo's size and seed): the truth's aS-PL peak and h-ERS area are the
band maps, with dead pixels (NaN maps, status ``dead``) and saturated ones (areas × 40, status
``saturated``) injected in the crystal, in the glass and at the interface. Before: each bad pixel
made an interface ring around it (263 interface pixels, 259 with the maps masked to status 0 as the
pipeline does, against 212 without the bad pixels and 192 in the truth); after: 211. A dead pixel
left a NaN gap in a line profile across the interface.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import hyperspec
from hyperspec.fit.results import DEAD, SATURATED
from hyperspec.spatial import bad_pixels, line_profile, segment_regions


@pytest.fixture(scope="module")
def demo_maps():
    _, truth = hyperspec.synthetic.cspbbr3_map((48, 48), n_spectral=64, seed=0)
    truth = truth.compute()
    peak, hers = truth["aspl_peak_ev"].copy(), truth["hers_area"].copy()
    region = truth["region"].values
    status = np.zeros(region.shape, np.int8)
    # bad pixels away from the boundary (crystal, glass) and one at the interface
    picks = {"dead": [(10, 5), (30, 40), (24, int(np.flatnonzero(region[24] == 1)[0]))], "saturated": [(40, 8), (15, 38)]}
    for iy, ix in picks["dead"]:
        peak[iy, ix] = hers[iy, ix] = np.nan
        status[iy, ix] = DEAD
    for iy, ix in picks["saturated"]:
        hers[iy, ix] = hers[iy, ix] * 40 + 1e6
        peak[iy, ix] = peak[iy, ix] + 0.2
        status[iy, ix] = SATURATED
    clean = segment_regions({"aspl_peak_ev": truth["aspl_peak_ev"], "hers_area": truth["hers_area"]})
    st = xr.DataArray(status, dims=("y", "x"))
    return truth, {"aspl_peak_ev": peak, "hers_area": hers}, st, clean, picks


def test_bad_pixels_follow_the_status_table():
    expected = [False, False, False, True, True, False, True, True, False, False]  # nonfinite, masked, saturated, dead
    assert bad_pixels(np.arange(10)).tolist() == expected


def test_no_ring_around_bad_pixels(demo_maps):
    truth, feats, status, clean, picks = demo_maps
    n_truth = int((truth["region"].values == 1).sum())
    n_clean = int((clean.values == 1).sum())
    before = segment_regions(feats)  # NaN-aware but without the status: the saturated pixels make rings
    after = segment_regions(feats, status=status)
    n_after = int((after.values == 1).sum())
    assert int((before.values == 1).sum()) > n_clean + 20  # the rings (the failure, still there without status)
    assert abs(n_after - n_clean) <= 1  # only the bad interface pixel itself is missing
    assert abs(n_after - n_truth) <= 0.15 * n_truth
    assert after.attrs["n_excluded"] == 5
    for iy, ix in picks["dead"] + picks["saturated"]:
        assert after.values[iy, ix] == -1
        around = after.values[max(0, iy - 2) : iy + 3, max(0, ix - 2) : ix + 3]
        ring = clean.values[max(0, iy - 2) : iy + 3, max(0, ix - 2) : ix + 3]
        np.testing.assert_array_equal(around[around >= 0], ring[around >= 0])
    # a Dataset's own status is used (not as a feature)
    ds = xr.Dataset({**feats, "status": status})
    np.testing.assert_array_equal(segment_regions(ds).values, after.values)


def test_nan_pixels_make_no_ring_even_without_status(demo_maps):
    truth, feats, status, clean, picks = demo_maps
    dead_only = {k: v.where(status != SATURATED, np.nan) for k, v in feats.items()}
    lab = segment_regions(dead_only)
    assert abs(int((lab.values == 1).sum()) - int((clean.values == 1).sum())) <= 1


def test_profile_has_no_gap_at_the_interface(demo_maps):
    truth, feats, status, clean, picks = demo_maps
    iy, ix = picks["dead"][2]
    image = feats["hers_area"]
    prof = line_profile(image, (iy, ix - 6), (iy, ix + 6), status=status)
    assert np.isfinite(prof.values).all()
    assert prof.attrs["n_inpainted"] == 5
    assert prof["inpainted"].values.sum() >= 1 and prof["inpainted"].values[6]
    # the in-painted value is the mean of the good 3 x 3 neighbours
    img = image.values
    nb = img[iy - 1 : iy + 2, ix - 1 : ix + 2]
    good = np.isfinite(nb) & (status.values[iy - 1 : iy + 2, ix - 1 : ix + 2] == 0)
    assert prof.values[6] == pytest.approx(nb[good].mean())
    # before (scikit-image's profile_line on the map as it is): NaN at the interface pixel
    from skimage.measure import profile_line

    assert np.isnan(profile_line(img, (iy, ix - 6), (iy, ix + 6), order=1, mode="reflect")[6])
    # without bad pixels on the line, the profile is unchanged and carries no in-painting record
    plain = line_profile(truth["hers_area"], (iy, ix - 6), (iy, ix + 6))
    assert "n_inpainted" not in plain.attrs
    np.testing.assert_allclose(prof.values[:5], plain.values[:5])


def test_region_means_leave_bad_pixels_out(demo_maps):
    from hyperspec.spatial import region_mean

    truth, feats, status, clean, picks = demo_maps
    hers = feats["hers_area"]
    lab = xr.DataArray(truth["region"].values.astype(np.int64), dims=("y", "x"))
    out = region_mean(hers, lab, status=status)
    good = status.values == 0
    for k, region in enumerate(out["region"].values):
        sel = (lab.values == region) & good
        assert float(out.values[k]) == pytest.approx(float(np.mean(hers.values[sel])))
    assert not np.isclose(float(region_mean(hers, lab).sel(region=0)), float(out.sel(region=0)))  # a saturated pixel weighs in


@pytest.mark.parametrize("kind", ["median", "gaussian"])
def test_filter_map_keeps_bad_pixels_out_of_their_neighbours(kind):
    """A saturated pixel (area 100x its neighbours') spread into every neighbour of a Gaussian filter, and a dead one
    (status 'dead', value 0) into the median of its window; with status= they take no part and are NaN."""
    from hyperspec.spatial import filter_map

    rng = np.random.default_rng(4)
    area = xr.DataArray(100.0 + rng.normal(0.0, 1.0, (3, 12, 12)), dims=("t", "y", "x"))
    status = xr.DataArray(np.zeros((12, 12), np.int8), dims=("y", "x"))
    area[:, 5, 5], status[5, 5] = 1e4, SATURATED
    area[:, 2, 8], status[2, 8] = 0.0, DEAD
    clean = area.copy()
    clean[:, 5, 5] = clean[:, 2, 8] = np.nan
    ref = filter_map(clean, "gaussian", 1.0)  # NaN-aware reference: the bad pixels simply absent
    out = filter_map(area, kind, 1.0 if kind == "gaussian" else 3, status=status)
    assert np.isnan(out[:, 5, 5]).all() and np.isnan(out[:, 2, 8]).all() and out.attrs["n_excluded"] == 6
    near = out.isel(y=slice(4, 7), x=slice(4, 7)).values
    assert np.nanmax(np.abs(near - 100.0)) < 4.0  # no trace of the 1e4 pixel
    if kind == "gaussian":
        np.testing.assert_allclose(out.values[np.isfinite(out.values)], ref.values[np.isfinite(out.values)], rtol=1e-6)
    if kind == "gaussian":  # without status= the saturated pixel spreads (the median is robust to one pixel)
        before = filter_map(area, kind, 1.0)
        assert np.abs(before.isel(y=slice(4, 7), x=slice(4, 7)).values - 100.0).max() > 50.0
