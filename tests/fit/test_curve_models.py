"""Every registered curve model: analytic Jacobian vs finite differences, ``fit_curves`` vs ``scipy.optimize.curve_fit``
pixel by pixel, start values from the data, seed 002's multi-phonon recovery and a lifetime fit of the streak image."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hyperspec.fit import curve_models as cmod
from hyperspec.fit.curve_models import K_B_MEV_PER_K, sinusoids
from hyperspec.fit.curves import CurveModel, curve_models, fit_curves, get_curve_model
from tests.conftest import SHARED_DATA

scipy_optimize = pytest.importorskip("scipy.optimize")

# Per model: the abscissa, parameter points spanning its range, parameters held fixed, the relative noise
# (of the curve's largest value) and the start-value jitter used for the curve_fit comparison.
CASES = {
    "power_law": dict(
        x=np.geomspace(0.5, 8.0, 12),
        truths=[(1.0, 1.0), (250.0, 2.0), (3e3, 1.4), (0.02, 0.7)],
    ),
    "exp_decay": dict(
        x=np.linspace(0.0, 10.0, 40),
        truths=[(100.0, 1.5, 5.0), (2.0, 4.0, -1.0), (5e3, 0.4, 100.0), (-30.0, 2.5, 50.0)],
    ),
    "biexp_decay": dict(
        x=np.linspace(0.0, 20.0, 120),
        truths=[(100.0, 0.5, 40.0, 5.0, 2.0), (1e3, 1.0, 300.0, 8.0, 10.0), (10.0, 0.2, 10.0, 3.0, 0.0)],
        noise=0.005,
    ),
    "onset_exp": dict(
        x=np.arange(0.0, 20.0, 0.2) + 0.1,
        truths=[(1.0, 2.0, 7.03, 1.5), (5.0, -3.0, 4.07, 3.0), (100.0, 50.0, 10.05, 0.8)],
    ),
    "sinusoids": dict(
        x=np.arange(0.0, 30.0, 0.2),
        truths=[(10.0, 1.0, 1.9, 2.0, -1.0), (3.0, -0.5, 1.5, 0.5, 0.8), (50.0, 0.0, 3.0, -4.0, 3.0)],
        jitter=0.002,
    ),
    "varshni": dict(
        x=np.linspace(80.0, 300.0, 12),
        truths=[(2.33, -4e-4, 120.0), (2.40, 5e-4, 300.0), (1.52, 5.4e-4, 204.0)],
        noise=2e-4,
    ),
    "vsl_gain": dict(
        x=np.linspace(0.005, 0.1, 20),
        truths=[(1e4, 50.0), (300.0, -10.0), (2e3, 5.0), (1.0, 120.0)],
    ),
    "gain_saturation": dict(
        x=np.linspace(0.5, 20.0, 15),
        truths=[(2.0, 1.5, 5.0), (0.8, 3.0, 12.0), (4.0, 0.6, 2.5)],
    ),
    "multiphonon": dict(
        x=np.linspace(20.0, 102.0, 10),
        truths=[(1.0, 21.4, 5.17, 80.0), (1.0, 41.1, 23.4, 250.0), (3.0, 30.0, 12.0, 150.0)],
        fixed=("temperature_k",),
        noise=0.03,
    ),
    "aspl_efficiency_ratio": dict(
        x=np.linspace(170.0, 480.0, 8),
        truths=[(0.75, 0.84, 2400.0, 23.0), (0.32, 0.84, 2400.0, 102.0), (0.55, 0.6, 2450.0, 46.0)],
        fixed=("e_g_mev", "delta_e_mev"),
    ),
}
N_PIXELS = 24
TOL = float(__import__("os").environ.get("CF_TOL", "1e-12"))


def test_every_shipped_model_has_a_case():
    shipped = {name for name, m in curve_models().items() if m.function.__module__ == cmod.__name__}
    assert {v.name for v in vars(cmod).values() if isinstance(v, CurveModel)} <= shipped
    assert shipped == set(CASES), "add the new model to CASES"


def _model(name: str) -> CurveModel:
    return sinusoids(1, 1) if name == "sinusoids" else get_curve_model(name)


def _pixels(name: str, seed: int):
    """Noisy pixels of one model: (x, truth (n, P), y (n, m), sigma (n, m))."""
    case, cm = CASES[name], _model(name)
    rng = np.random.default_rng(seed)
    x = case["x"]
    truth = np.array(case["truths"], dtype=np.float64)
    truth = truth[np.arange(N_PIXELS) % len(truth)]
    y0 = cm.function(np, x, truth)
    scale = case.get("noise", 0.02) * np.abs(y0).max(axis=1, keepdims=True)
    sigma = scale * rng.uniform(0.5, 1.5, y0.shape)
    return x, truth, y0 + sigma * rng.standard_normal(y0.shape), sigma


# ---- analytic Jacobians -----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_jacobian_matches_central_differences(name):
    case, cm = CASES[name], _model(name)
    rng = np.random.default_rng(3)
    x = case["x"]
    base = np.array(case["truths"], dtype=np.float64)
    pts = np.concatenate([base * rng.uniform(0.8, 1.2, base.shape) for _ in range(3)])
    if name == "biexp_decay":
        pts = np.concatenate([pts, [[100.0, 2.0, 40.0, 2.0 * (1 + 1e-3), 1.0]]])  # nearly equal lifetimes too
    jac = cm.jacobian(np, x, pts)
    assert jac.shape == (len(pts), x.size, len(cm.params))
    for k in range(len(cm.params)):
        h = 1e-5 * np.maximum(np.abs(pts[:, k]), 0.05 * np.abs(pts[:, k]).max())
        up, dn = pts.copy(), pts.copy()
        up[:, k] += h
        dn[:, k] -= h
        fd = (cm.function(np, x, up) - cm.function(np, x, dn)) / (2 * h[:, None])
        scale = np.abs(jac[:, :, k]).max(axis=1, keepdims=True) + 1e-300
        np.testing.assert_array_less(np.abs(jac[:, :, k] - fd) / scale, 1e-5, err_msg=f"{name}: d/d{cm.params[k]}")


def test_vsl_gain_small_gain_limit():
    # (A/g)(e^{gl} − 1) → A·l as g → 0; no cancellation at tiny g, the derivative A·l²/2 there
    cm = get_curve_model("vsl_gain")
    x = np.array([0.01, 0.05, 0.1])
    p = np.array([[2.0, 1e-12], [2.0, 0.0], [2.0, 1e-4]])
    np.testing.assert_allclose(cm.function(np, x, p)[:2], [2 * x, 2 * x], rtol=1e-12)
    np.testing.assert_allclose(cm.function(np, x, p)[2], 2 * np.expm1(1e-4 * x) / 1e-4, rtol=1e-13)
    np.testing.assert_allclose(cm.jacobian(np, x, p)[1, :, 1], 2 * x**2 / 2, rtol=1e-12)


# ---- fit_curves == curve_fit ----------------------------------------------------------------------
def _curve_fit_rows(cm, x, y, p0, sigma, fixed_vals, free, absolute):
    def f(xx, *pf):
        full = fixed_vals.copy()
        full[free] = pf
        return cm.function(np, xx, full[None, :])[0]

    def jac(xx, *pf):
        full = fixed_vals.copy()
        full[free] = pf
        return cm.jacobian(np, xx, full[None, :])[0][:, free]

    out_p, out_c = [], []
    for i in range(y.shape[0]):
        popt, pcov = scipy_optimize.curve_fit(
            f, x, y[i], p0=p0[i, free], sigma=None if sigma is None else sigma[i], absolute_sigma=absolute,
            jac=jac, method="lm", ftol=1e-14, xtol=1e-14, gtol=0.0, maxfev=20000,
        )  # fmt: skip
        out_p.append(popt)
        out_c.append(pcov)
    return np.array(out_p), np.array(out_c)


@pytest.mark.parametrize("weighting", ["uniform", "relative", "absolute"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_curves_equals_curve_fit(name, weighting):
    case, cm = CASES[name], _model(name)
    x, truth, y, sigma = _pixels(name, seed=11)
    rng = np.random.default_rng(5)
    p0 = truth * (1 + case.get("jitter", 0.02) * rng.standard_normal(truth.shape))
    fixed_names = case.get("fixed", ())
    free = np.array([i for i, p in enumerate(cm.params) if p not in fixed_names])
    da = xr.DataArray(y, dims=("pixel", "x_"), coords={"x_": x})
    fixed = {p: float(truth[0, cm.params.index(p)]) for p in fixed_names}
    # one value of each fixed parameter per call: group the pixels that share it
    groups = {}
    for i in range(N_PIXELS):
        groups.setdefault(tuple(truth[i, cm.params.index(p)] for p in fixed_names), []).append(i)
    weights = None if weighting == "uniform" else xr.DataArray(1 / sigma**2, dims=("pixel", "x_"))
    for rows in groups.values():
        rows = np.array(rows)
        fixed = {p: float(truth[rows[0], cm.params.index(p)]) for p in fixed_names}
        p0_da = {p: xr.DataArray(p0[rows, i], dims="pixel") for i, p in enumerate(cm.params) if p not in fixed}
        res = fit_curves(
            da.isel(pixel=rows), cm, "x_", p0=p0_da, fixed=fixed,
            weights=None if weights is None else weights.isel(pixel=rows),
            absolute_weights=weighting == "absolute", covariance=True, tol=TOL, max_iter=500,
        )  # fmt: skip
        keep = np.ones(rows.size, dtype=bool)
        if name == "onset_exp":
            # χ² has a kink wherever the onset crosses a sample (∂f/∂onset jumps there); a minimum on a kink
            # has no gradient to agree on, so those pixels are left out of the comparison (a few at most)
            on = res["onset"].values
            keep = np.abs(on[:, None] - x[None, :]).min(axis=1) > 1e-6
            assert keep.sum() >= 0.8 * rows.size
        assert (res["status"].values[keep] == 0).all(), res["status"].values
        assert (res["n_points"].values == x.size).all()
        rows, res = rows[keep], res.isel(pixel=keep)
        fixed_vals = truth[rows[0]].copy()
        cf_p, cf_c = _curve_fit_rows(
            cm, x, y[rows], p0[rows], None if weights is None else sigma[rows], fixed_vals, free, weighting == "absolute"
        )
        lm_p = np.stack([res[cm.params[i]].values for i in free], axis=1)
        cf_s = np.sqrt(np.diagonal(cf_c, axis1=1, axis2=2))
        if name == "biexp_decay":  # both started near the truth, tau1 < tau2: the same order
            assert (cf_p[:, 1] < cf_p[:, 3]).all()
        z = np.abs(lm_p - cf_p) / cf_s
        assert z.max() < 1e-4, f"{name}: max |Δp|/σ = {z.max():.2e}"
        lm_c = res["covariance"].values
        norm = np.sqrt(np.abs(np.diagonal(cf_c, axis1=1, axis2=2)))
        rel = np.abs(lm_c - cf_c) / (norm[:, :, None] * norm[:, None, :])
        assert rel.max() < 1e-4, f"{name}: max covariance difference / (σ_i σ_j) = {rel.max():.2e}"
        np.testing.assert_allclose(np.stack([res[f"{cm.params[i]}_stderr"].values for i in free], axis=1), cf_s, rtol=1e-4)
        for p in fixed:
            assert np.isnan(res[f"{p}_stderr"].values).all()
            assert (res[p].values == fixed[p]).all()


# ---- start values from the data -----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_guess_reaches_the_truth(name):
    """No p0: the model's own start values lead every pixel to the generating parameters (within 4σ)."""
    if name == "sinusoids":
        pytest.importorskip("hyperspec.kinetics.periods")
    case, cm = CASES[name], _model(name)
    x, truth, y, sigma = _pixels(name, seed=21)
    fixed_names = case.get("fixed", ())
    zs = []
    for t in {tuple(r) for r in truth}:
        rows = np.flatnonzero((truth == np.array(t)).all(axis=1))
        da = xr.DataArray(y[rows], dims=("pixel", "x_"), coords={"x_": x})
        fixed = {p: t[cm.params.index(p)] for p in fixed_names}
        res = fit_curves(da, cm, "x_", fixed=fixed, weights=xr.DataArray(1 / sigma[rows] ** 2, dims=("pixel", "x_")), absolute_weights=True)
        assert (res["status"].values == 0).all(), (name, t, res["status"].values)
        for i, p in enumerate(cm.params):
            if p not in fixed:
                zs.append((res[p].values - t[i]) / res[f"{p}_stderr"].values)
    zs = np.concatenate(zs)
    assert np.abs(zs).max() < 4.5, f"{name}: worst |z| {np.abs(zs).max():.2f}"


def test_biexp_sorted_with_consistent_errors():
    # start with the lifetimes swapped: the result is sorted tau1 < tau2 and a1, the errors and covariance follow
    cm = get_curve_model("biexp_decay")
    x, truth, y, sigma = _pixels("biexp_decay", seed=4)
    truth, y, sigma = truth[:3], y[:3], sigma[:3]
    da = xr.DataArray(y, dims=("pixel", "t"), coords={"t": x})
    w = xr.DataArray(1 / sigma**2, dims=("pixel", "t"))
    right = {p: xr.DataArray(truth[:, i], dims="pixel") for i, p in enumerate(cm.params)}
    swapped = dict(right, a1=right["a2"], tau1=right["tau2"], a2=right["a1"], tau2=right["tau1"])
    a = fit_curves(da, cm, "t", p0=right, weights=w, covariance=True)
    b = fit_curves(da, cm, "t", p0=swapped, weights=w, covariance=True)
    assert (b["tau1"] < b["tau2"]).all()
    for p in cm.params:
        np.testing.assert_allclose(b[p], a[p], rtol=1e-7)
        np.testing.assert_allclose(b[f"{p}_stderr"], a[f"{p}_stderr"], rtol=1e-5)
    np.testing.assert_allclose(b["covariance"], a["covariance"], rtol=1e-5, atol=1e-12 * float(np.abs(a["covariance"]).max()))
    # with tau2 fixed the order is left alone (a swap would move the fixed value)
    c = fit_curves(da, cm, "t", p0={k: v for k, v in swapped.items() if k != "tau2"}, fixed={"tau2": 0.3})
    assert (c["tau2"].values == 0.3).all()


# ---- seed 002: the multi-phonon constants recovered --------------------------------------------------
PAPER_002 = {80.0: (21.4, 0.34, 5.17, 0.27), 250.0: (41.1, 0.58, 23.4, 2.2)}  # g ± σ, ω_p ± σ (meV)
DELTA_E = np.linspace(20.0, 102.0, 10)  # the paper's anti-Stokes detunings, meV


def multiphonon_recovery(temperature_k: float, n_seeds: int = 40, rel_noise: float = 0.03):
    """Fit η(ΔE) curves drawn from the model with the paper's constants and 3 % relative noise.

    Returns (fitted g, ω_p and their errors (n_seeds, 4), the true g, ω_p).
    """
    g, _, om, _ = PAPER_002[temperature_k]
    cm = get_curve_model("multiphonon")
    p = np.array([[1.0, g, om, temperature_k]])
    eta0 = cm.function(np, DELTA_E, p)[0]
    eta0 = eta0 * 0.75 / eta0[0]  # η_ASPL ≈ 0.75 at the smallest detuning, as reported
    rng = np.random.default_rng(2002)
    y = eta0 * (1 + rel_noise * rng.standard_normal((n_seeds, DELTA_E.size)))
    da = xr.DataArray(y, dims=("seed", "delta_e"), coords={"delta_e": DELTA_E})
    w = 1 / (rel_noise * da) ** 2  # weighted by the relative error, as measured
    res = fit_curves(da, "multiphonon", "delta_e", fixed={"temperature_k": temperature_k}, weights=w, absolute_weights=True)
    assert (res["status"].values == 0).all()
    out = np.stack([res["g_mev"], res["g_mev_stderr"], res["omega_p_mev"], res["omega_p_mev_stderr"]], axis=1)
    return out, (g, om)


@pytest.mark.parametrize("temperature_k", [80.0, 250.0])
def test_multiphonon_seed002_recovery(temperature_k):
    out, (g, om) = multiphonon_recovery(temperature_k)
    zg = (out[:, 0] - g) / out[:, 1]
    zo = (out[:, 2] - om) / out[:, 3]
    assert np.abs(zg).max() < 3 and np.abs(zo).max() < 3  # every seed within 3σ
    coverage = np.mean(np.abs(np.concatenate([zg, zo])) < 2)
    assert 0.85 <= coverage <= 1.0, coverage
    # bias well inside the error bar
    assert abs(np.mean(zg)) < 0.6 and abs(np.mean(zo)) < 0.6
    assert np.isclose(K_B_MEV_PER_K * temperature_k, 6.894 if temperature_k == 80 else 21.54, atol=5e-3)


def test_multiphonon_wrong_temperature_moves_only_g():
    # ln W = ln A − ΔE/kT − ½ ln ΔE + (ΔE/ω)(1 − ln ΔE − ln ω + 2 ln g): a wrong T is absorbed exactly by
    # g' = g·exp(ω/2·(1/kT' − 1/kT)), with the same ω, amplitude and χ²
    out, (g, om) = multiphonon_recovery(80.0, n_seeds=1)
    cm = get_curve_model("multiphonon")
    y = cm.function(np, DELTA_E, np.array([[1.0, g, om, 80.0]]))
    da = xr.DataArray(y * (1 + 0.03 * np.random.default_rng(1).standard_normal(y.shape)), dims=("s", "de"), coords={"de": DELTA_E})
    w = 1 / (0.03 * da) ** 2
    right = fit_curves(da, cm, "de", fixed={"temperature_k": 80.0}, weights=w, tol=1e-12)
    wrong = fit_curves(da, cm, "de", fixed={"temperature_k": 88.0}, weights=w, tol=1e-12)
    assert (right["status"] == 0).all() and (wrong["status"] == 0).all()
    np.testing.assert_allclose(wrong["omega_p_mev"], right["omega_p_mev"], rtol=1e-6)
    np.testing.assert_allclose(wrong["amplitude"], right["amplitude"], rtol=1e-5)
    np.testing.assert_allclose(wrong["chi2_red"], right["chi2_red"], rtol=1e-8)
    shift = np.exp(right["omega_p_mev"] / 2 * (1 / (K_B_MEV_PER_K * 88.0) - 1 / (K_B_MEV_PER_K * 80.0)))
    np.testing.assert_allclose(wrong["g_mev"], right["g_mev"] * shift, rtol=1e-6)
    assert float(wrong["g_mev"][0]) < float(right["g_mev"][0])


def test_biexp_with_an_absent_component():
    # single-exponential data: the second component is not there; no crash, no warning, each pixel flagged
    cm = get_curve_model("biexp_decay")
    x = np.linspace(0.0, 20.0, 120)
    rng = np.random.default_rng(9)
    y0 = 100 * np.exp(-x / 3.0) + 2.0
    y = y0 + 0.5 * rng.standard_normal((12, x.size))
    res = fit_curves(xr.DataArray(y, dims=("p", "t"), coords={"t": x}), cm, "t", weights=xr.DataArray(np.full(x.size, 4.0), dims="t"))
    assert set(np.unique(res["status"])) <= {0, 2, 5}
    # whatever the split, the curve is the data's: χ²_red ≈ 1, and the slow lifetime near 3 where both are used
    assert float(res["chi2_red"].max()) < 1.5
    fit = cm.function(np, x, np.stack([res[p].values for p in cm.params], axis=1))
    assert np.abs(fit - y0).max() < 1.0


def test_exp_decay_on_two_lifetimes():
    # the model slightly wrong: a weak fast component on top; the single lifetime lies between the two
    x = np.linspace(0.0, 20.0, 120)
    y0 = 100 * np.exp(-x / 4.0) + 15 * np.exp(-x / 0.5) + 1.0
    y = y0 + 0.5 * np.random.default_rng(10).standard_normal((8, x.size))
    res = fit_curves(
        xr.DataArray(y, dims=("p", "t"), coords={"t": x}), "exp_decay", "t", weights=xr.DataArray(np.full(x.size, 4.0), dims="t")
    )
    assert (res["status"] == 0).all()
    assert (res["tau"] > 0.5).all() and (res["tau"] < 4.0).all()
    assert float(res["chi2_red"].min()) > 2  # the misfit shows in χ²_red
    bi = fit_curves(
        xr.DataArray(y, dims=("p", "t"), coords={"t": x}), "biexp_decay", "t", weights=xr.DataArray(np.full(x.size, 4.0), dims="t")
    )
    assert (bi["status"] == 0).all() and float(bi["chi2_red"].max()) < 1.5
    assert (np.abs(bi["tau2"] - 4.0) < 4 * bi["tau2_stderr"]).all()


def test_multiphonon_needs_the_temperature():
    da = xr.DataArray(np.ones((2, 5)), dims=("p", "de"), coords={"de": np.linspace(20, 60, 5)})
    with pytest.raises(ValueError, match=r"temperature_k.*fixed="):
        fit_curves(da, "multiphonon", "de")
    with pytest.raises(ValueError, match="needs 'de' > 0"):
        fit_curves(da.assign_coords(de=np.linspace(-1, 3, 5)), "multiphonon", "de", fixed={"temperature_k": 80})


def test_aspl_ratio_recovers_eta_and_qy():
    # seed 002 Fig. 2b: R linear in ΔE_S at fixed ΔE; QY = 0.84, η = 0.75 (ΔE = 23 meV)
    cm = get_curve_model("aspl_efficiency_ratio")
    des = np.linspace(170.0, 480.0, 8)
    r0 = cm.function(np, des, np.array([[0.75, 0.84, 2400.0, 23.0]]))[0]
    slope = np.diff(r0) / np.diff(des)
    np.testing.assert_allclose(slope, slope[0], rtol=1e-12)  # linear in ΔE_S
    rng = np.random.default_rng(7)
    y = r0 * (1 + 0.01 * rng.standard_normal((30, des.size)))
    da = xr.DataArray(y, dims=("rep", "des"), coords={"des": des})
    res = fit_curves(da, cm, "des", fixed={"e_g_mev": 2400.0, "delta_e_mev": 23.0}, weights=1 / (0.01 * da) ** 2, absolute_weights=True)
    assert (res["status"] == 0).all()
    z = np.concatenate([(res["eta"] - 0.75) / res["eta_stderr"], (res["qy"] - 0.84) / res["qy_stderr"]])
    assert np.mean(np.abs(z) < 2) >= 0.85 and np.abs(z).max() < 4


# ---- real data: the Hamamatsu streak image (time × wavelength) ------------------------------------------
STREAK = SHARED_DATA / "rosettasciio" / "hamamatsu" / "operate_mode.img"


@pytest.fixture(scope="module")
def streak():
    if not STREAK.exists():
        pytest.skip(f"shared data not present: {STREAK}")
    pytest.importorskip("rsciio")
    import logging

    import hyperspec

    logging.getLogger("rsciio").setLevel(logging.ERROR)
    ds = hyperspec.open(STREAK)
    spectra = ds["spectra"]
    # 16 wavelength bands (42 camera columns each) as pixels; the decay from 10 frames (0.3 µs) after the
    # peak on (the instrument response has passed), t from there, in µs
    bands = spectra.coarsen(spectral=42).sum()
    peak = int(bands.sum("spectral").argmax("t"))
    tr = bands.isel(t=slice(peak + 10, None))
    return tr.assign_coords(t=(tr["t"] - tr["t"][0]) * 1e6).transpose("spectral", "t")


def test_streak_lifetimes_per_wavelength(streak):
    mono = fit_curves(streak, "exp_decay", "t", weights="poisson")
    bi = fit_curves(streak, "biexp_decay", "t", weights="poisson")
    assert (mono["status"] == 0).all()
    assert set(np.unique(bi["status"])) <= {0, 2}  # singular: a weak edge band whose slow part is a flat drift
    ok = bi["status"] == 0
    assert int(ok.sum()) >= 12
    # lifetimes in the file's time units (µs here): inside the 15.7 µs window, fast < mono < slow
    assert 0.3 < float(mono["tau"].min()) and float(mono["tau"].max()) < 1.2
    b = bi.where(ok, drop=True)
    assert (b["tau1"] < b["tau2"]).all()
    assert 0.1 < float(b["tau1"].min()) and float(b["tau1"].max()) < 0.7
    assert 0.8 < float(b["tau2"].min()) and float(b["tau2"].max()) < 6
    assert (b["tau1"] < mono["tau"].where(ok, drop=True)).all() and (mono["tau"].where(ok, drop=True) < b["tau2"]).all()
    # two exponentials describe the decay much better than one
    assert float(bi["chi2_red"].median()) < 0.6 * float(mono["chi2_red"].median())


# ---- the CuPy path (the fake device without a GPU) ------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_cupy_path_equals_numpy(gpu_xp, name):
    case, cm = CASES[name], _model(name)
    x, truth, y, sigma = _pixels(name, seed=31)
    rows = np.flatnonzero((truth == truth[0]).all(axis=1))
    da = xr.DataArray(y[rows], dims=("pixel", "x_"), coords={"x_": x})
    w = xr.DataArray(1 / sigma[rows] ** 2, dims=("pixel", "x_"))
    fixed = {p: float(truth[0, cm.params.index(p)]) for p in case.get("fixed", ())}
    kwargs = dict(fixed=fixed, weights=w, covariance=True)
    if name == "sinusoids":  # its guess lives in hyperspec.kinetics.periods (tested there)
        kwargs["p0"] = {"period_1": float(truth[0, 2])}
    ref = fit_curves(da, cm, "x_", **kwargs)
    dev = fit_curves(da, cm, "x_", backend="cupy", **kwargs)
    for v in ref.data_vars:
        np.testing.assert_allclose(np.asarray(dev[v].values, float), np.asarray(ref[v].values, float), rtol=1e-6, atol=0, err_msg=v)
