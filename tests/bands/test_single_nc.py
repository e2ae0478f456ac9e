"""Single-nanocrystal preset (seed 004): recovery of the exciton, trion, biexciton and Huang–Rhys factors.

Every scenario is 60 independent Poisson draws of one NC rendered by ``render_single_nc`` (line by
line, independent of the registry components), fitted by ``decompose(ds, "cspbbr3-single-nc")``
from the starts of ``single_nc_start``. Checked per parameter: the mean bias is within 4.5 standard
errors of the mean, and the fraction of pixels with |z| < 2 (z = (fit − truth)/stderr).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

import hyperspec
from hyperspec.bands.presets import get_preset, preset_names
from hyperspec.bands.single_nc import SINGLE_NC_TRUTH, huang_rhys, render_single_nc, simulate_single_nc, single_nc_start
from hyperspec.cli import main
from hyperspec.fit.composite import CompositeModel
from hyperspec.fit.lm import FitStatus

N_PIXELS = 60
MEV = 1e-3

SCENARIOS = {
    "triplet": ({}, 3),
    "small_s": ({"huang_rhys": (0.05, 0.05, 0.05, 0.05)}, 11),
    "large_s_doublet": ({"huang_rhys": (0.5, 0.3, 0.2, 0.5), "weight_3": 0.0}, 5),
    "small_nc": (
        {"exciton_ev": 2.52, "hwhm_ev": 0.5 * MEV, "height": 800.0, "trion_binding_ev": 14 * MEV, "biexciton_binding_ev": 27 * MEV},
        7,
    ),
    "large_nc": (
        {"exciton_ev": 2.40, "split_1_ev": 0.6 * MEV, "weight_2": 1.3, "trion_binding_ev": 9 * MEV, "biexciton_binding_ev": 14 * MEV},
        13,
    ),
    "no_biexciton": ({"biexciton_height": 0.0}, 17),
    # the model slightly wrong: pseudo-Voigt lines (20 % Gaussian), and two-phonon replicas it lacks
    "voigt": ({"eta": 0.8}, 19),
    "two_phonon": ({"two_phonon": True, "huang_rhys": (0.2, 0.2, 0.2, 0.2)}, 23),
}


def _expected(truth):
    out = {
        "exciton_center_ev": truth["exciton_ev"],
        "exciton_hwhm_ev": truth["hwhm_ev"],
        "trion_binding_ev": truth["trion_binding_ev"],
        "trion_hwhm_ev": truth["trion_hwhm_ev"],
    }
    if truth["weight_2"] > 0:
        out["exciton_split_1_ev"] = truth["split_1_ev"]
    if truth["weight_3"] > 0:
        out["exciton_split_2_ev"] = truth["split_2_ev"]
    for i in range(4):
        out[f"exciton_lo{i + 1}_ev"] = truth["phonons_ev"][i]
        out[f"exciton_s_lo{i + 1}"] = truth["huang_rhys"][i]
    if truth["biexciton_height"] > 0:
        out["biexciton_binding_ev"] = truth["biexciton_binding_ev"]
        out["biexciton_hwhm_ev"] = truth["biexciton_hwhm_ev"]
    return out


_CACHE: dict = {}


def _run(name):
    if name not in _CACHE:
        kw, seed = SCENARIOS[name]
        ds, truth = simulate_single_nc(N_PIXELS, seed=seed, **kw)
        start = single_nc_start(ds)
        res = hyperspec.decompose(ds, "cspbbr3-single-nc", backend="numpy", **start)
        _CACHE[name] = (ds, truth, start, res)
    return _CACHE[name]


def _stats(res, name, true):
    v, e = res[name].values, res[f"{name}_stderr"].values
    z = (v - true) / e
    sd = np.std(v)
    return {
        "bias": float(np.mean(v) - true),
        "bias_in_sem": float((np.mean(v) - true) / (sd / math.sqrt(v.size))),
        "coverage": float(np.mean(np.abs(z) < 2.0)),
        "err_over_sd": float(np.mean(e) / sd),
    }


@pytest.mark.parametrize("name", ["triplet", "small_s", "large_s_doublet", "small_nc", "large_nc", "no_biexciton"])
def test_recovers_truth_within_errors(name):
    _, truth, _, res = _run(name)
    assert np.all(res["status"].values == 0), name
    assert 0.8 < float(res["chi2_red"].mean()) < 1.25
    cover = []
    for var, true in _expected(truth).items():
        s = _stats(res, var, true)
        assert abs(s["bias_in_sem"]) < 4.5, (name, var, s)
        assert s["coverage"] >= 0.75, (name, var, s)
        assert 0.6 < s["err_over_sd"] < 1.6, (name, var, s)  # the errors are the scatter's, not just covering
        cover.append(s["coverage"])
    assert np.mean(cover) >= 0.88, (name, np.mean(cover))


def test_energies_and_huang_rhys_are_accurate_in_absolute_terms():
    _, truth, _, res = _run("triplet")
    assert abs(float(res["exciton_center_ev"].mean()) - truth["exciton_ev"]) < 2e-6  # eV: 2 µeV
    assert abs(float(res["trion_binding_ev"].mean()) - truth["trion_binding_ev"]) < 5e-6
    assert abs(float(res["biexciton_binding_ev"].mean()) - truth["biexciton_binding_ev"]) < 5e-6
    for i in range(4):
        assert float(res[f"exciton_s_lo{i + 1}"].mean()) == pytest.approx(truth["huang_rhys"][i], rel=0.03)
        assert float(res[f"exciton_s_lo{i + 1}_stderr"].mean()) < 0.01


def test_start_finds_the_lines_and_drops_a_missing_biexciton():
    _, truth, start, _ = _run("triplet")
    assert start["exciton"]["init"]["center"] == pytest.approx(truth["exciton_ev"], abs=0.15 * MEV)
    assert start["trion"]["init"]["binding"] == pytest.approx(truth["trion_binding_ev"], abs=0.3 * MEV)
    assert start["biexciton"]["init"]["binding"] == pytest.approx(truth["biexciton_binding_ev"], abs=1.5 * MEV)
    assert "fixed" not in start["exciton"]  # three lines seen: the triplet stays free
    _, _, start, res = _run("no_biexciton")
    assert start["drop"] == ["biexciton"] and "biexciton_area" not in res
    _, _, start, res = _run("large_s_doublet")  # two lines: the C line is fixed absent in exciton and biexciton
    assert start["exciton"]["fixed"]["weight_3"] == 0.0 and start["biexciton"]["fixed"]["weight_3"] == 0.0
    assert np.all(res["exciton_weight_3"].values == 0.0)


def test_misspecified_line_shape_biases_widths_not_energies():
    # Lorentzian fits of pseudo-Voigt lines (η = 0.8): the HWHM comes out ≈ 6 % narrow and S within a few %;
    # line energies (centre, binding energies, phonon energies) stay unbiased at the 1 µeV level
    _, truth, _, res = _run("voigt")
    exp = _expected(truth)
    hwhm_bias = float(res["exciton_hwhm_ev"].mean()) / truth["hwhm_ev"] - 1.0
    assert -0.10 < hwhm_bias < -0.02
    for var in ("exciton_center_ev", "trion_binding_ev", "biexciton_binding_ev", "exciton_lo4_ev"):
        assert abs(float(res[var].mean()) - exp[var]) < 6e-6, var
    for i in range(4):
        assert float(res[f"exciton_s_lo{i + 1}"].mean()) == pytest.approx(truth["huang_rhys"][i], rel=0.08)


def test_unmodelled_two_phonon_replicas_bias_only_the_modes_they_overlap():
    # 2·LO1 (6.0 meV) falls on LO3 (5.9 meV): S(LO3) absorbs S(LO1)²/2 relative area; the others stay near truth
    _, truth, _, res = _run("two_phonon")
    s = [float(res[f"exciton_s_lo{i + 1}"].mean()) for i in range(4)]
    assert s[2] == pytest.approx(0.2 + 0.2**2 / 2, rel=0.1)
    for i in (0, 1, 3):
        assert s[i] == pytest.approx(0.2, rel=0.05)
    assert abs(float(res["exciton_center_ev"].mean()) - truth["exciton_ev"]) < 3e-6


def test_component_model_equals_the_independent_rendering():
    truth = dict(SINGLE_NC_TRUTH)
    energy = truth["exciton_ev"] + np.arange(-420, 61) * 0.1 * MEV
    ds = hyperspec.from_array(render_single_nc(energy)[None, :], energy, unit="eV", laser_nm=405.0)
    spec = get_preset("cspbbr3-single-nc")["terms"]
    model = CompositeModel(spec, ds["shift"].values, ds["energy"].values, fused=False)
    values = {
        "exciton.center": truth["exciton_ev"],
        "exciton.split_1": truth["split_1_ev"],
        "exciton.split_2": truth["split_2_ev"],
        "exciton.weight_2": truth["weight_2"],
        "exciton.weight_3": truth["weight_3"],
        "exciton.hwhm": truth["hwhm_ev"],
        "exciton.height": truth["height"],
        "trion.binding": truth["trion_binding_ev"],
        "trion.hwhm": truth["trion_hwhm_ev"],
        "trion.height": truth["trion_height"],
        "biexciton.binding": truth["biexciton_binding_ev"],
        "biexciton.hwhm": truth["biexciton_hwhm_ev"],
        "biexciton.height": truth["biexciton_height"],
        "baseline.c0": truth["background"],
        "baseline.c1": 0.0,
    }
    for i in range(4):
        values[f"exciton.lo{i + 1}"] = truth["phonons_ev"][i]
        values[f"exciton.s_lo{i + 1}"] = truth["huang_rhys"][i]
    p = np.array([[values[n] for n in model.free_names]])
    np.testing.assert_allclose(model.value(None, p)[0], ds["spectra"].values[0], rtol=1e-6)


def test_derived_areas_add_up_and_huang_rhys_of_them_equals_the_fitted_factor():
    _, truth, _, res = _run("triplet")
    parts = res["exciton_zpl_area"] + sum(res[f"exciton_lo{i + 1}_area"] for i in range(4))
    # analytic (untruncated) Lorentzian areas vs the trapezoid over a 48 meV axis: the tails outside cost < 2 %
    ratio = (res["exciton_area"] / parts).values
    assert np.all((ratio > 0.98) & (ratio < 1.0))
    hr = huang_rhys(res, "exciton_lo1", "exciton_zpl")
    np.testing.assert_allclose(hr["huang_rhys"].values, res["exciton_s_lo1"].values, rtol=1e-9)
    # the propagation without the areas' correlation (shared width, height) is conservative here
    assert np.all(hr["huang_rhys_stderr"].values >= 0.9 * res["exciton_s_lo1_stderr"].values)


def test_huang_rhys_propagation_matches_monte_carlo():
    rng = np.random.default_rng(0)
    a0, s0, a1, s1, rho = 5000.0, 120.0, 900.0, 60.0, 0.3
    cov = [[s1**2, rho * s1 * s0], [rho * s1 * s0, s0**2]]
    draws = rng.multivariate_normal([a1, a0], cov, size=400_000)
    res = xr.Dataset({"zpl_area": ("x", [a0]), "zpl_area_stderr": ("x", [s0]), "r_area": ("x", [a1]), "r_area_stderr": ("x", [s1])})
    for order in (1, 2):
        mc = (math.factorial(order) * draws[:, 0] / draws[:, 1]) ** (1.0 / order)
        out = huang_rhys(res, "r", "zpl", order=order, correlation=rho)
        assert float(out["huang_rhys"][0]) == pytest.approx((math.factorial(order) * a1 / a0) ** (1 / order), rel=1e-12)
        assert float(out["huang_rhys_stderr"][0]) == pytest.approx(np.std(mc), rel=0.02)
    nonpositive = res.assign(zpl_area=("x", [0.0]))
    assert np.isnan(huang_rhys(nonpositive, "r", "zpl")["huang_rhys"].values[0])


def test_bad_input_is_named():
    res = xr.Dataset({"zpl_area": ("x", [1.0]), "zpl_area_stderr": ("x", [0.1])})
    with pytest.raises(hyperspec.DataModelError, match=r"replica='lo1' needs the variables 'lo1_area'.*\['zpl_area'\]"):
        huang_rhys(res, "lo1", "zpl")
    with pytest.raises(ValueError, match="order must be an integer"):
        huang_rhys(res, "zpl", "zpl", order=0)
    with pytest.raises(ValueError, match="correlation must lie"):
        huang_rhys(res, "zpl", "zpl", correlation=2.0)
    shift_only = hyperspec.from_array(np.ones((2, 5)), np.linspace(100.0, 500.0, 5))
    with pytest.raises(hyperspec.DataModelError, match="energy"):
        single_nc_start(shift_only)
    ds, _ = simulate_single_nc(2)
    with pytest.raises(ValueError, match="lines must be 1, 2 or 3"):
        single_nc_start(ds, lines=4)
    with pytest.raises(ValueError, match="unknown single-NC truth keys"):
        simulate_single_nc(2, exciton=2.4)


def test_preset_is_listed_and_a_bad_pixel_is_flagged_not_fatal(capsys):
    assert "cspbbr3-single-nc" in preset_names()
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert "cspbbr3-single-nc:" in text and "nc_exciton (energy)" in text
    ds, _ = simulate_single_nc(4, seed=2)
    start = single_nc_start(ds)
    spectra = ds["spectra"].values.copy()
    spectra[1, 10] = np.nan
    res = hyperspec.decompose(ds.assign(spectra=(ds["spectra"].dims, spectra)), "cspbbr3-single-nc", backend="numpy", **start)
    status = res["status"].values
    assert status[1] == FitStatus.NONFINITE
    assert np.all(status[[0, 2, 3]] == 0)


def test_device_path_equals_numpy(gpu_xp):
    """The NC components through the CuPy code path (the fake device without a GPU) give NumPy's values and Jacobians."""
    from hyperspec._backend import to_numpy
    from hyperspec.bands.components import get_component

    x = np.linspace(2.40, 2.46, 300)
    cases = {
        "nc_exciton": [2.45, 1e-3, 0.8e-3, 0.8, 0.5, 0.3e-3, 3e-3, 4.3e-3, 5.9e-3, 18.5e-3, 0.1, 0.2, 0.05, 0.3, 1000.0],
        "nc_trion": [2.45, 0.012, 0.4e-3, 300.0],
        "nc_biexciton": [2.45, 1e-3, 0.8e-3, 0.8, 0.5, 0.021, 0.4e-3, 200.0],
    }
    for name, row in cases.items():
        comp = get_component(name)
        p = np.array([row, row])
        f_ref, j_ref = comp.value_and_jacobian(x, p)
        f, j = comp.value_and_jacobian(gpu_xp.asarray(x), gpu_xp.asarray(p))
        np.testing.assert_allclose(to_numpy(f), f_ref, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(to_numpy(j), j_ref, rtol=1e-12, atol=1e-12 * np.abs(j_ref).max(), err_msg=name)
