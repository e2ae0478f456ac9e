"""kinetics.power_law: linear-space weighted power laws, unbiased at low counts, k = 1 / 2 on the generator."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.optimize import curve_fit

import hyperspec
from hyperspec import DataModelError, synthetic
from hyperspec.fit.curves import fit_curves
from hyperspec.kinetics import power_law

POWERS = np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0])


def poisson_traces(n, seed, amplitude, k, powers=POWERS):
    rng = np.random.default_rng(seed)
    y = rng.poisson(amplitude * powers**k, size=(n, powers.size)).astype(float)
    return xr.DataArray(y, dims=("x", "power"), coords={"power": powers}, name="counts")


def loglog_polyfit(tr):
    """The naive estimate: a straight line through log I vs log P (zero counts dropped)."""
    lp = np.log(tr["power"].values)
    out = []
    for row in tr.values:
        ok = row > 0
        out.append(np.polyfit(lp[ok], np.log(row[ok]), 1)[0] if ok.sum() >= 2 else np.nan)
    return np.array(out)


def test_exact_curves_and_scipy_reference():
    rng = np.random.default_rng(0)
    k = np.array([1.0, 2.0, 1.37, 0.5])
    a = np.array([200.0, 50.0, 80.0, 30.0])
    clean = a[:, None] * POWERS ** k[:, None]
    res = power_law(xr.DataArray(clean, dims=("x", "power"), coords={"power": POWERS}))
    np.testing.assert_allclose(res["k"].values, k, atol=1e-7)
    np.testing.assert_allclose(res["amplitude"].values, a, rtol=1e-7)
    # with noise and given errors: the same numbers as scipy's curve_fit(absolute_sigma=True)
    sigma = 0.05 * clean + 0.5
    noisy = clean + rng.normal(0, 1, clean.shape) * sigma
    tr = xr.DataArray(noisy, dims=("x", "power"), coords={"power": POWERS})
    se = xr.DataArray(sigma, dims=("x", "power"), coords={"power": POWERS})
    ours = power_law(tr, stderr=se, absolute_weights=True)
    for i in range(4):
        popt, pcov = curve_fit(lambda p, aa, kk: aa * p**kk, POWERS, noisy[i], p0=(a[i], k[i]), sigma=sigma[i], absolute_sigma=True)
        assert ours["k"].values[i] == pytest.approx(popt[1], rel=1e-6)
        assert ours["k_stderr"].values[i] == pytest.approx(np.sqrt(pcov[1, 1]), rel=1e-4)


@pytest.mark.parametrize(("amplitude", "k", "seed"), [(5.0, 1.0, 1), (5.0, 2.0, 2), (2.0, 1.5, 3), (50.0, 1.0, 4)])
def test_low_counts_unbiased_where_loglog_is_not(amplitude, k, seed):
    # 0.2–500 counts per point; a log–log line is biased low, model-based Poisson weights are not
    tr = poisson_traces(1500, seed, amplitude, k)
    res = power_law(tr, absolute_weights=True)  # raw counts: the Poisson variance is known
    kk, se = res["k"].values, res["k_stderr"].values
    bias = np.mean(kk) - k
    assert abs(bias) < 0.015 + 0.5 * np.std(kk) / np.sqrt(kk.size) * 4
    cover = np.mean(np.abs((kk - k) / se) < 2)
    assert 0.92 <= cover <= 0.98
    assert np.all(res["status"].values == 0)
    if amplitude <= 5:
        poly_bias = np.nanmean(loglog_polyfit(tr)) - k
        assert poly_bias < -0.05
        assert abs(poly_bias) > 4 * abs(bias)
        # Poisson weights from the data (1/max(y, 1)) are biased too: the model's are what fixes it
        data_w = fit_curves(tr, "power_law", "power", weights="poisson")["k"].values
        assert abs(np.mean(data_w) - k) > 2 * abs(bias)


def test_relative_weights_default_coverage():
    # the default (variance ∝ the model, scale from χ²_red) covers somewhat less with 7 points (5 dof)
    tr = poisson_traces(1500, 5, 20.0, 1.0)
    res = power_law(tr)
    z = (res["k"].values - 1.0) / res["k_stderr"].values
    assert 0.85 <= np.mean(np.abs(z) < 2) <= 0.97
    assert abs(np.mean(res["k"].values) - 1.0) < 0.01


@pytest.mark.slow
def test_generator_power_series_end_to_end():
    # decompose → aspl_area ± stderr → power_law: k = 1 in the crystal, 2 in the glass, mixed between
    ds, truth = synthetic.power_series(shape=(2, 12), seed=1, n_spectral=128)
    k_true = truth["aspl_exponent"].isel(power=0)
    exact = power_law(truth["aspl_area"])
    np.testing.assert_allclose(exact["k"].values, k_true.values, atol=1e-6)
    res = hyperspec.decompose(ds, "cspbbr3-633").compute()
    fit = power_law(res["aspl_area"], stderr=res["aspl_area_stderr"])
    err = (fit["k"] - k_true).values
    assert np.all(np.abs(err) < 0.05)
    assert np.mean(np.abs(err / fit["k_stderr"].values) < 2) >= 0.75
    crystal = truth["glass_fraction"].isel(power=0).values < 0.05
    glass = truth["glass_fraction"].isel(power=0).values > 0.95
    assert crystal.any() and glass.any()
    assert np.all(np.abs(fit["k"].values[crystal] - 1.0) < 0.05)
    assert np.all(np.abs(fit["k"].values[glass] - 2.0) < 0.05)


def test_selection_on_time_then_two_calls():
    # a kinetic power series: k goes 1 → 2 between 3 s and 30 s; select t, fit twice
    rng = np.random.default_rng(7)
    t = np.arange(0.0, 31.0, 1.0)
    k_t = 1.0 + (t >= 20)
    mu = 40.0 * POWERS[None, :, None] ** k_t[:, None, None] * np.ones((1, 1, 50))
    area = xr.DataArray(rng.poisson(mu).astype(float), dims=("t", "power", "x"), coords={"t": t, "power": POWERS})
    early = power_law(area.sel(t=3, method="nearest"), absolute_weights=True)
    late = power_law(area.sel(t=30, method="nearest"), absolute_weights=True)
    assert early["k"].dims == ("x",)
    assert abs(float(early["k"].mean()) - 1.0) < 0.02 and abs(float(late["k"].mean()) - 2.0) < 0.02


# ---- bad input ---------------------------------------------------------------------------------
def test_errors_name_the_fix():
    tr = poisson_traces(3, 0, 50.0, 1.0)
    with pytest.raises(DataModelError, match="positive pump powers"):
        power_law(tr.assign_coords(power=np.r_[0.0, POWERS[1:]]))
    with pytest.raises(DataModelError, match="at least 3"):
        power_law(tr.isel(power=slice(0, 2)))
    with pytest.raises(DataModelError, match="no 'power' coordinate"):
        power_law(tr.drop_vars("power"))
    with pytest.raises(DataModelError, match="not strictly increasing"):
        power_law(tr.isel(power=[0, 2, 1, 3]))
    with pytest.raises(ValueError, match="weights"):
        power_law(tr, weights="chi2")
    with pytest.raises(ValueError, match="stderr"):
        power_law(tr, stderr=np.ones(7))


def test_nan_points_counted_flat_flagged_non_uniform_ok():
    powers = np.array([0.1, 0.3, 0.35, 1.0, 4.0, 9.0])  # any increasing powers
    clean = 30.0 * powers**1.5
    y = np.tile(clean, (4, 1))
    y[1, [0, 4]] = np.nan
    y[2] = 17.0  # a constant: flat
    y[3] = 0.0  # a dead pixel: flat
    res = power_law(xr.DataArray(y, dims=("x", "power"), coords={"power": powers}))
    assert res["n_masked"].values.tolist() == [0, 2, 0, 0]
    assert res["n_points"].values.tolist() == [6, 4, 6, 6]
    np.testing.assert_allclose(res["k"].values[:2], 1.5, atol=1e-6)
    assert res["status"].values.tolist()[2:] == [7, 7]
    assert np.all(np.isnan(res["k"].values[2:]))
    assert "flat" in res["status"].attrs["flag_meanings"].split()


def test_lazy_matches_eager():
    tr = poisson_traces(40, 9, 10.0, 2.0)
    eager = power_law(tr)
    lazy = power_law(tr.chunk({"x": 10}))
    assert lazy["k"].chunks is not None
    np.testing.assert_allclose(lazy["k"].compute().values, eager["k"].values, rtol=1e-10)


def test_cupy_path_matches_numpy(gpu_xp):
    # the CuPy code path (the fake device without a GPU): the same numbers as NumPy
    tr = poisson_traces(12, 10, 20.0, 1.5)
    host = power_law(tr, backend="numpy")
    dev = power_law(tr, backend="cupy")
    np.testing.assert_allclose(np.asarray(dev["k"].values), host["k"].values, rtol=1e-8)
