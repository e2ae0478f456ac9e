"""Honest statuses of decompose: at_bound (and which parameter), dead vs no_signal, one table of codes (CF flags, README)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import hyperspec
from hyperspec import synthetic
from hyperspec._quality import boxcar, channel_noise, dead_spectra, flat_spectra
from hyperspec.fit.decompose import decompose
from hyperspec.fit.lm import AT_BOUND_RTOL, FitStatus, bound_hits, first_at_bound
from hyperspec.fit.results import (
    AT_BOUND,
    DEAD,
    FITTED_STATUSES,
    FLAT,
    NO_SIGNAL,
    SATURATED,
    STATUS_DESCRIPTIONS,
    STATUS_MEANINGS,
    STATUS_TABLE,
    at_bound_names,
    status_attrs,
    status_table_markdown,
)
from hyperspec.model import from_array

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SHIFT = np.linspace(400.0, 650.0, 501)


def _line(center, hwhm=6.0, height=400.0, base=50.0):
    return base + height * hwhm**2 / ((SHIFT - center) ** 2 + hwhm**2)


def _map(rows, seed=0, **attrs):
    """A (1, n) map of Poisson draws of the noiseless ``rows``."""
    y = np.random.default_rng(seed).poisson(np.asarray(rows, dtype=float)).astype(float)
    return from_array(y[None], SHIFT, laser_nm=633.0, attrs=attrs or None)


def _model(center_bounds, hwhm_bounds=(1.0, 30.0)):
    return {
        "line": {
            "shape": "lorentzian",
            "init": {"center": 510.0, "hwhm": 5.0},
            "bounds": {"center": list(center_bounds), "hwhm": list(hwhm_bounds)},
        },
        "base": {"shape": "polynomial0"},
    }


# --- at_bound ---------------------------------------------------------------------------------------------------


def test_line_beyond_its_bound_is_at_bound_and_names_the_parameter():
    ds = _map([_line(525.0)] * 3 + [_line(495.0)] * 3, seed=1)
    res = decompose(ds, model=_model([500.0, 520.0]), backend="numpy")
    status = res["status"].values[0]
    assert np.all(status == AT_BOUND)  # was: converged
    names = res.attrs["at_bound_params"].split()
    k = names.index("line_center_cm") + 1
    np.testing.assert_array_equal(res["at_bound"].values[0], [k, k, k, -k, -k, -k])  # upper, then lower
    np.testing.assert_array_equal(res["n_at_bound"].values[0], 1)
    np.testing.assert_allclose(res["line_center_cm"].values[0], [520.0] * 3 + [500.0] * 3)
    assert at_bound_names(res)[0].tolist() == ["line_center_cm (upper)"] * 3 + ["line_center_cm (lower)"] * 3
    assert res["at_bound"].dtype == np.int16 and res["at_bound"].attrs["at_bound_params"] == res.attrs["at_bound_params"]


def test_line_inside_its_bounds_stays_converged():
    ds = _map([_line(525.0)] * 4, seed=2)
    res = decompose(ds, model=_model([500.0, 540.0]), backend="numpy")
    assert np.all(res["status"].values == FitStatus.CONVERGED)
    assert np.all(res["at_bound"].values == 0) and np.all(res["n_at_bound"].values == 0)
    z = (res["line_center_cm"].values - 525.0) / res["line_center_cm_stderr"].values
    assert np.all(np.abs(z) < 4)  # and it found the true centre


def test_absent_band_is_not_at_bound():
    # a second line the data do not have: its height ends on its zero bound and its width anywhere
    model = _model([500.0, 540.0]) | {
        "ghost": {"shape": "lorentzian", "init": {"center": 600.0, "hwhm": 5.0}, "bounds": {"center": [590.0, 610.0], "hwhm": [2.0, 20.0]}}
    }
    ds = _map([_line(525.0)] * 6, seed=3)
    res = decompose(ds, model=model, backend="numpy")
    assert "ghost_height" in res.attrs["at_bound_params"].split()  # a candidate, but not when it is an absent band
    assert np.all(res["status"].values == FitStatus.CONVERGED)
    assert np.all(res["at_bound"].values == 0)
    assert np.all(np.abs(res["ghost_area"].values) < 4 * res["ghost_area_stderr"].values)


def test_width_forced_against_its_bound_counts_with_the_centre():
    ds = _map([_line(525.0, hwhm=12.0)] * 2, seed=4)
    res = decompose(ds, model=_model([500.0, 520.0], hwhm_bounds=(1.0, 6.0)), backend="numpy")
    names = res.attrs["at_bound_params"].split()
    assert np.all(res["status"].values == AT_BOUND) and np.all(res["n_at_bound"].values == 2)
    assert np.all(res["at_bound"].values == names.index("line_center_cm") + 1)  # the first of the two
    np.testing.assert_allclose(res["line_hwhm_cm"].values, 6.0)


def test_bound_hits_tolerance_is_relative_to_the_bound_range():
    lo, hi = np.array([500.0, 0.5, 0.0, 3.0]), np.array([520.0, np.inf, 1.0, 3.0])
    tol = AT_BOUND_RTOL * 20.0
    p = np.array(
        [
            [520.0 - 0.5 * tol, 0.5, 0.5, 3.0],  # within tol of the upper bound; one-sided at its bound; held (lo == hi)
            [520.0 - 2.0 * tol, 0.5 * (1 + 2 * AT_BOUND_RTOL), np.nan, 3.0],  # outside tol; above 0.5 by 2 rtol; NaN
            [500.0, 1e6, 1.0, 3.0],
        ]
    )
    np.testing.assert_array_equal(bound_hits(p, lo, hi), [[1, -1, 0, 0], [0, 0, 0, 0], [-1, 0, 1, 0]])
    first, count = first_at_bound(bound_hits(p, lo, hi), include=np.array([False, True, True, True]))
    np.testing.assert_array_equal(first, [-2, 0, 3])
    np.testing.assert_array_equal(count, [1, 0, 1])


# --- dead, no_signal --------------------------------------------------------------------------------------------


def test_dead_constant_substrate_and_band_pixels_are_told_apart():
    rng = np.random.default_rng(5)
    band = rng.poisson(_line(525.0, height=300.0, base=500.0)).astype(float)
    substrate = rng.poisson(np.full(SHIFT.size, 500.0)).astype(float)  # ~500 counts, no band
    unlit = 100.0 + rng.normal(0.0, 5.0, SHIFT.size)  # a detector offset of 100 and read noise: no light
    zero = np.zeros(SHIFT.size)
    zero_ray = zero.copy()
    zero_ray[200:202] = 3000.0  # a cosmic ray on a dead pixel does not bring it to life
    constant = np.full(SHIFT.size, 321.0)
    y = np.stack([band, substrate, unlit, zero, zero_ray, constant])
    model = _model([500.0, 540.0])
    stated = decompose(from_array(y[None], SHIFT, laser_nm=633.0, attrs={"offset_counts": 100.0}), model=model, backend="numpy")
    unstated = decompose(from_array(y[None], SHIFT, laser_nm=633.0), model=model, backend="numpy")
    s = stated["status"].values[0]
    assert s.tolist() == [FitStatus.CONVERGED, NO_SIGNAL, DEAD, DEAD, DEAD, DEAD]
    # without the offset, an unlit pixel cannot be told from a dim substrate: it is fitted, not called dead
    assert unstated["status"].values[0].tolist() == [FitStatus.CONVERGED, NO_SIGNAL, NO_SIGNAL, DEAD, DEAD, DEAD]
    # dead pixels are not fitted; substrate pixels are, and their band is consistent with absent
    dead = s == DEAD
    assert np.all(np.isnan(stated["line_area"].values[0][dead])) and np.all(stated["n_iter"].values[0][dead] == 0)
    area, err = stated["line_area"].values[0, 1], stated["line_area_stderr"].values[0, 1]
    assert np.isfinite(area) and abs(area) < 4 * err
    np.testing.assert_allclose(stated["base_c0"].values[0, 1], 500.0, atol=3.0)
    assert stated["status"].values[0, 0] in FITTED_STATUSES and DEAD not in FITTED_STATUSES


def test_quality_tests_directly():
    rng = np.random.default_rng(6)
    substrate = rng.normal(500.0, 8.0, (3, 400))
    assert flat_spectra(np, substrate).all() and not dead_spectra(np, substrate).any()
    assert not dead_spectra(np, substrate, offset=100.0).any()
    np.testing.assert_allclose(channel_noise(np, substrate), 8.0, rtol=0.15)
    photon_counting = rng.poisson(0.3, (1, 400)).astype(float)  # mostly zeros, but light
    assert not dead_spectra(np, photon_counting).any()


def test_generator_dead_pixels_are_dead_and_no_other():
    ds, truth = synthetic.cspbbr3_map((8, 8), n_spectral=256, seed=7)
    ds, truth = ds.compute(), truth.compute()
    assert ds.attrs["offset_counts"] == 100.0
    y = np.asarray(ds["spectra"].values, dtype=float).reshape(-1, 256)
    dead = dead_spectra(np, y, offset=ds.attrs["offset_counts"])
    np.testing.assert_array_equal(dead, truth["defect"].values.ravel() == 1)
    out = hyperspec.preprocess.remove_spikes(ds, backend="numpy")
    np.testing.assert_array_equal(out["dead_pixel"].values, truth["defect"].values == 1)


@pytest.mark.skipif(not (DATA / "rosettasciio/renishaw/renishaw_test_streamline.wdf").exists(), reason="shared data absent")
def test_real_substrate_pixels_are_no_signal_not_dead():
    # the polystyrene StreamLine map: ~490 counts of substrate around the polystyrene, no band there
    ds = hyperspec.open(DATA / "rosettasciio/renishaw/renishaw_test_streamline.wdf")
    y = np.asarray(ds["spectra"].values, dtype=float).reshape(-1, ds.sizes["spectral"])
    flat = flat_spectra(np, y)
    assert flat.sum() > 1500 and not dead_spectra(np, y).any()  # 1758 flat of 2205, none dead (were: all "dead", flat)
    sub = ds.isel(y=21, x=slice(0, 45, 3)).expand_dims("y").compute()
    model = {
        "ps": {"shape": "lorentzian", "init": {"center": 1001.0, "hwhm": 3.0}, "bounds": {"center": [995.0, 1008.0], "hwhm": [0.5, 15.0]}},
        "base": {"shape": "polynomial1"},
    }
    res = decompose(sub, model=model, backend="numpy")
    status = res["status"].values[0]
    flat_here = flat_spectra(np, np.asarray(sub["spectra"].values[0], dtype=float))
    assert flat_here.any() and (~flat_here).any()
    assert np.all(status[flat_here] == NO_SIGNAL) and not np.any(status == DEAD)
    strong = ~flat_here & (status == FitStatus.CONVERGED)
    np.testing.assert_allclose(res["ps_center_cm"].values[0][strong], 1001.4, atol=2.5)  # one line, no 1031 neighbour
    # fitted: at most a weak band (a bead's edge), under a tenth of the beads' and < 5 standard errors
    area, err = res["ps_area"].values[0][flat_here], res["ps_area_stderr"].values[0][flat_here]
    assert np.all(np.isfinite(area)) and np.all(area < 5 * err)
    assert area.max() < 0.1 * np.median(res["ps_area"].values[0][strong])


# --- one table --------------------------------------------------------------------------------------------------


def test_one_table_of_codes_in_the_store_as_cf_flags():
    codes = [c for c, _, _, _ in STATUS_TABLE]
    assert codes == sorted(codes) == list(range(len(codes)))
    assert all(STATUS_MEANINGS[int(s)] == s.name.lower() for s in FitStatus)  # the engine's codes keep their names
    assert (SATURATED, DEAD, NO_SIGNAL, AT_BOUND, FLAT) == (6, 7, 8, 9, DEAD)
    assert set(STATUS_DESCRIPTIONS) == set(STATUS_MEANINGS)
    assert all(re.fullmatch(r"[a-z_]+", name) for name in STATUS_MEANINGS.values())  # CF flag_meanings tokens
    res = decompose(_map([_line(525.0)], seed=8), model=_model([500.0, 540.0]), backend="numpy")
    attrs = res["status"].attrs
    np.testing.assert_array_equal(attrs["flag_values"], codes)
    assert attrs["flag_values"].dtype == np.int8 == res["status"].dtype
    assert attrs["flag_meanings"].split() == [STATUS_MEANINGS[c] for c in codes]
    assert json.loads(res.attrs["status_codes"]) == {str(c): n for c, n in STATUS_MEANINGS.items()}  # kept for compatibility


def test_store_and_recipe_template_carry_the_same_flags(tmp_path):
    from hyperspec.pipeline.steps import decompose_outputs

    model = _model([500.0, 520.0])
    res = decompose(_map([_line(525.0)], seed=9), model=model, backend="numpy")
    template = {name: (dtype, attrs) for name, dtype, attrs in decompose_outputs({"model": model})}
    for name in ("status", "at_bound", "n_at_bound"):
        dtype, attrs = template[name]
        assert np.dtype(dtype) == res[name].dtype
        assert attrs.keys() == res[name].attrs.keys()
        for key, value in attrs.items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(res[name].attrs[key]))
    path = hyperspec.save(res, tmp_path / "res.zarr")
    back = hyperspec.open(path)
    np.testing.assert_array_equal(back["status"].attrs["flag_values"], status_attrs()["flag_values"])
    assert back["status"].attrs["flag_meanings"] == status_attrs()["flag_meanings"]
    assert back["at_bound"].attrs["at_bound_params"] == res.attrs["at_bound_params"]
    np.testing.assert_array_equal(back["at_bound"].values, res["at_bound"].values)


def test_readme_status_table_matches_the_code():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = "<!-- status-table -->"
    assert text.count(marker) == 2, "README.md must hold the status table between two <!-- status-table --> markers"
    table = text.split(marker)[1].strip()
    assert table == status_table_markdown().strip()


def test_cli_decompose_says_which_parameter_is_at_a_bound(tmp_path, capsys):
    from hyperspec.cli import main
    from hyperspec.fit.model_spec import model_to_toml

    store = hyperspec.save(_map([_line(525.0)] * 3, seed=10), tmp_path / "map.zarr")
    model = tmp_path / "model.toml"
    model.write_text(model_to_toml({"terms": _model([500.0, 520.0])}), encoding="utf-8")
    assert main(["decompose", str(store), str(tmp_path / "res.zarr"), "--model", str(model), "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "status: 3 at_bound" in out and "at a bound: line_center_cm (upper) 3" in out


def test_fit_curves_flags_at_bound_with_the_same_code():
    import xarray as xr

    from hyperspec.fit.curves import CURVE_STATUS_MEANINGS, fit_curves

    t = np.linspace(0.0, 10.0, 60)
    rng = np.random.default_rng(11)
    y = 40.0 * np.exp(-t / 1.2)[None, :] + 5.0 + rng.normal(0.0, 0.3, (4, t.size))
    da = xr.DataArray(y, dims=("x", "t"), coords={"t": t})
    inside = fit_curves(da, "exp_decay", "t")
    assert np.all(inside["status"].values == FitStatus.CONVERGED) and np.all(inside["at_bound"].values == 0)
    np.testing.assert_allclose(inside["tau"].values, 1.2, rtol=0.05)
    forced = fit_curves(da, "exp_decay", "t", bounds={"tau": (0.1, 0.8)})
    k = forced.attrs["at_bound_params"].split().index("tau") + 1
    assert np.all(forced["status"].values == AT_BOUND) and np.all(forced["at_bound"].values == k)
    np.testing.assert_allclose(forced["tau"].values, 0.8)
    assert CURVE_STATUS_MEANINGS[AT_BOUND] == STATUS_MEANINGS[AT_BOUND]
    assert all(CURVE_STATUS_MEANINGS[c] == STATUS_MEANINGS[c] for c in CURVE_STATUS_MEANINGS)  # one meaning per code


def test_flat_and_dead_tests_equal_their_percentile_definitions():
    """The sort-free shortcut (rows whose percentile span is surely wide) gives exactly the flags of the plain
    definitions (``numpy.percentile``), on flat, banded, constant, nearly constant, spiky and tiny rows."""
    rng = np.random.default_rng(11)
    m = 1024
    x = np.arange(m)
    rows = [rng.poisson(500.0, m), np.zeros(m), np.full(m, 7.0), rng.normal(100.0, 5.0, m)]
    for h in (0.5, 2.0, 5.0, 10.0, 40.0, 400.0):  # bands from below the noise to far above it
        rows.append(rng.poisson(300.0 + h * 8.0 * np.exp(-0.5 * ((x - 500) / rng.uniform(3, 60)) ** 2)).astype(float))
    spiky = np.full(m, 3.0)
    spiky[[10, 400, 401, 900]] = 5000.0  # a constant row with cosmic rays: dead
    nearly = np.full(m, 1e4)
    nearly[: int(0.06 * m)] += 1e-4  # a span just above/below the tolerance at the 5 % point
    rows += [spiky, nearly, nearly[::-1].copy(), rng.normal(0.0, 1e-13, m)]
    for d in np.linspace(3.0, 13.0, 41):  # a step of d·σ over half the channels: flat below ≈ 8σ, the shortcut's edge
        rows.append(rng.normal(200.0, 1.0, m) + d * (x >= m // 2))
    y = np.stack([np.asarray(r, dtype=np.float64) for r in rows])
    smooth = boxcar(np, y, 9)
    lo, hi = np.percentile(smooth, [1.0, 99.0], axis=1)
    expected_flat = hi - lo < 8.0 * np.maximum(channel_noise(np, y), 1e-12)
    np.testing.assert_array_equal(flat_spectra(np, y, smooth), expected_flat)
    lo, hi = np.percentile(y, [5.0, 95.0], axis=1)
    expected_dead = hi - lo <= 1e-9 * np.maximum(np.maximum(np.abs(lo), np.abs(hi)), 1.0)
    np.testing.assert_array_equal(dead_spectra(np, y), expected_dead)
    assert expected_flat.any() and not expected_flat.all() and expected_dead.sum() >= 3  # both outcomes occur
