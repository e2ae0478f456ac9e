"""Generic presets (peaks, silicon, carbon, polystyrene, pl-band): synthetic ground truth and the shared real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import hyperspec
from hyperspec.bands.components import get_component
from hyperspec.bands.presets import get_preset, preset_names, preset_parameters
from hyperspec.fit.decompose import decompose
from hyperspec.fit.model_spec import build_model_spec
from hyperspec.model import from_array

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HC_EV_NM = 1239.841984


def _real(*parts):
    path = DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"shared real data not present: {path}")
    return hyperspec.open(path)


def _synthetic(shift, terms, n_pix=40, seed=0, scale=None):
    """Poisson map of registry components ``[(shape, params, spread)]``; params varied per pixel by ``spread`` (relative)."""
    rng = np.random.default_rng(seed)
    clean = np.zeros((n_pix, shift.size))
    truth = []
    for shape, params, spread in terms:
        p = np.array(params, dtype=float)[None, :] * (1.0 + spread * rng.uniform(-1.0, 1.0, (n_pix, len(params))))
        clean += get_component(shape).value(shift, p)
        truth.append(p)
    y = rng.poisson(clean).astype(float)
    return from_array(y.reshape(4, n_pix // 4, shift.size), shift, laser_nm=532.0), truth


def _at_bound(res, spec, fitted):
    """Per parameter with bounds: how many fitted pixels end within 1e-6 of the range at a bound."""
    counts = {}
    for term, ts in spec["terms"].items():
        for param, (lo, hi) in ts.get("bounds", {}).items():
            name = next(v for v in res.data_vars if v.startswith(f"{term}_{param}") and not v.endswith("_stderr"))
            a = res[name].values
            tol = 1e-6 * (hi - lo)
            counts[f"{term}.{param}"] = int(np.sum(fitted & ((a <= lo + tol) | (a >= hi - tol))))
    return counts


def test_preset_names_and_parameters():
    assert {"peaks", "silicon", "carbon", "polystyrene", "pl-band"} <= set(preset_names())
    assert preset_parameters("peaks")[:2] == ("positions", "n")
    assert preset_parameters("carbon") == ()


def test_peaks_parameters_are_not_term_names():
    spec = build_model_spec(
        "peaks", positions=[1001.4, 1031.8], shape="gaussian", baseline="polynomial1", line_1001={"fixed": {"hwhm": 3.0}}
    )
    assert list(spec["terms"]) == ["line_1001", "line_1032", "baseline"]
    assert spec["terms"]["line_1001"]["shape"] == "gaussian" and spec["terms"]["line_1001"]["fixed"] == {"hwhm": 3.0}
    # the centres' ranges stop short of the midpoint between the two lines: they cannot swap
    assert spec["terms"]["line_1001"]["bounds"]["center"][1] < 0.5 * (1001.4 + 1031.8) < spec["terms"]["line_1032"]["bounds"]["center"][0]
    with pytest.raises(ValueError, match="finds the lines on the data"):
        build_model_spec("peaks")
    with pytest.raises(ValueError, match="takes no parameter 'positons'"):
        get_preset("peaks", positons=[1000.0])
    with pytest.raises(ValueError, match="unknown shape 'voight'. Did you mean 'voigt'"):
        build_model_spec("peaks", positions=[1000.0], shape="voight")
    with pytest.raises(ValueError, match="takes no parameters"):
        get_preset("silicon", positions=[520.0])


def test_peaks_voigt_recovers_the_generating_lines():
    shift = np.linspace(900.0, 1100.0, 401)
    lines = [("voigt", [1001.4, 3.0, 2.0, 3000.0], 0.0), ("voigt", [1031.8, 4.0, 1.0, 800.0], 0.0), ("polynomial1", [200.0, 400.0], 0.0)]
    ds, _ = _synthetic(shift, lines, n_pix=8)
    res = decompose(ds, "peaks", positions=[1000.0, 1030.0], shape="voigt", baseline="polynomial1", hwhm=4.0, backend="numpy")
    assert set(np.unique(res["status"].values)) == {0}
    for name, (c, g, lor, h) in (("line_1000", lines[0][1]), ("line_1030", lines[1][1])):
        for var, true in ((f"{name}_center_cm", c), (f"{name}_hwhm_g_cm", g), (f"{name}_hwhm_l_cm", lor), (f"{name}_height", h)):
            est, err = res[var].values.ravel(), res[f"{var}_stderr"].values.ravel()
            assert np.all(np.abs(est - true) < 4.5 * err), (var, est, err, true)  # each pixel within its own error


def test_ratio_and_its_error_by_error_propagation():
    # D and G lines whose areas keep a fixed ratio; every pixel the same truth: the scatter of the fitted ratio across
    # pixels is its real error, the delta-method stderr (with the D/G/baseline covariance) must match it
    shift = np.linspace(1100.0, 1800.0, 701)
    d, g = [1350.0, 60.0, 150.0], [1580.0, 25.0, 400.0]
    ds, _ = _synthetic(shift, [("lorentzian", d, 0.0), ("lorentzian", g, 0.0), ("polynomial1", [60.0, 40.0], 0.0)], n_pix=400, seed=4)
    res = decompose(ds, "carbon", backend="numpy", drop=["d2"])
    ratio, err = res["id_ig_area_ratio"].values.ravel(), res["id_ig_area_ratio_stderr"].values.ravel()
    true = (d[1] * d[2]) / (g[1] * g[2])  # Lorentzian area π·Γ·h, over an axis wide enough for both (trapezoid)
    assert abs(np.mean(ratio) - true) < 0.1 * true  # the lines' tails beyond the axis make the trapezoid ratio a little off
    assert np.std(ratio) == pytest.approx(np.median(err), rel=0.15)
    h_ratio = res["id_ig_height_ratio"].values.ravel()
    assert np.mean(h_ratio) == pytest.approx(d[2] / g[2], rel=0.03)
    assert np.std(h_ratio) == pytest.approx(np.median(res["id_ig_height_ratio_stderr"].values), rel=0.15)
    assert res["id_ig_area_ratio"].attrs["long_name"].startswith("ratio d.area / g.area")


def test_bad_ratio_names_the_fix():
    shift = np.linspace(1100.0, 1800.0, 201)
    ds, _ = _synthetic(shift, [("lorentzian", [1350.0, 30.0, 100.0], 0.0)], n_pix=4)
    model = {"terms": {"d": {"shape": "lorentzian", "init": {"center": 1350.0, "hwhm": 30.0}}}, "ratios": {"r": ["d.area", "g.area"]}}
    with pytest.raises(ValueError, match="ratios.r: 'g.area' is not a term's area or parameter"):
        decompose(ds, model=model, backend="numpy")


def test_polystyrene_on_the_renishaw_streamline_map():
    ds = _real("rosettasciio", "renishaw", "renishaw_test_streamline.wdf")
    y = np.asarray(ds["spectra"].values, dtype=float).reshape(-1, ds.sizes["spectral"])
    shift = ds["shift"].values
    band = y[:, np.argmin(np.abs(shift - 1001.4))] - y[:, np.argmin(np.abs(shift - 985.0))]
    strong = np.argsort(band)[-48:]  # the polystyrene pixels with the strongest 1001 band
    sub = from_array(y[strong].reshape(6, 8, -1), shift, laser_nm=ds.attrs["laser_nm"])
    drop = [t for t in get_preset("polystyrene")["terms"] if t.startswith("ps_") and not 900 < int(t[3:]) < 1700]
    res = decompose(sub, "polystyrene", drop=drop, backend="numpy")
    ok = res["status"].values == 0
    assert ok.mean() > 0.7
    for term, astm, tol in (("ps_1001", 1001.4, 1.0), ("ps_1032", 1031.8, 1.0), ("ps_1602", 1602.3, 1.0), ("ps_1155", 1155.3, 1.5)):
        c, e = res[f"{term}_center_cm"].values[ok], res[f"{term}_center_cm_stderr"].values[ok]
        mean = np.sum(c / e**2) / np.sum(1 / e**2)
        assert abs(mean - astm) <= tol, (term, mean)


def test_silicon_line_before_and_after_calibration():
    from hyperspec.preprocess.calibrate import calibrate_shift, find_line

    ds = hyperspec.with_laser(_real("nirs4all-formats", "raman_witec", "Si-wafer-Raman-Spectrum-1.txt"), 532.0)  # nominal laser
    before = decompose(ds, "silicon", backend="numpy")
    assert int(before["status"]) == 0
    assert float(before["si_center_cm"]) == pytest.approx(530.97, abs=0.2)  # the nominal 532 nm axis is ~10 cm-1 off
    offset = float(find_line(ds)["offset"])
    after = decompose(calibrate_shift(ds, offset), "silicon", backend="numpy")
    assert int(after["status"]) == 0
    assert abs(float(after["si_center_cm"]) - 520.7) < 0.2
    assert float(after["si_center_cm_stderr"]) < 0.1
    assert 3.0 < float(after["si_hwhm_cm"]) < 8.0


def test_carbon_on_the_ex2_line():
    ds = _real("py-wdf-reader", "ex2.wdf")
    sub = ds.isel(x=slice(0, None, 5))  # every fifth of the 235 pixels
    res = decompose(sub, "carbon", backend="numpy")
    status = res["status"].values
    fitted = np.isin(status, [0, 9])
    assert fitted.sum() >= 25
    spec = json.loads(res.attrs["model"])
    counts = _at_bound(res, spec, fitted)
    # D, G and 2D positions and the D/G widths never end at a bound; D' (absent from most pixels) may sit at its width floor
    for key in ("d.center", "g.center", "d2.center", "d.hwhm", "g.hwhm", "d3.hwhm"):
        assert counts[key] == 0, counts
    assert sum(counts.values()) <= 6, counts
    strong = fitted & (res["g_area"].values > 10 * res["g_area_stderr"].values)
    assert 1560 < np.median(res["g_center_cm"].values[strong]) < 1590
    assert 2630 < np.median(res["d2_center_cm"].values[strong]) < 2670
    ratio = res["id_ig_area_ratio"].values[strong]
    assert np.all(np.isfinite(ratio)) and 0.3 < np.median(ratio) < 5.0


def test_pl_band_on_the_uv_pl_map():
    ds = _real("rosettasciio", "renishaw", "renishaw_test_map2.wdf")
    res = decompose(ds, "pl-band", backend="numpy")
    ok = res["status"].values == 0
    assert ok.mean() > 0.95
    centre_ev = np.median(res["band_center_ev"].values[ok])
    centre_nm = np.median(res["band_center_nm"].values[ok])
    assert centre_nm == pytest.approx(357.2, abs=0.3)
    assert centre_nm == pytest.approx(HC_EV_NM / centre_ev, rel=1e-9)
    assert np.median(res["band_center_nm_stderr"].values[ok]) < 0.05
    two = decompose(ds, "pl-band", n_bands=2, backend="numpy")  # a broad companion takes the tails: χ² halves
    assert np.median(two["chi2_red"].values) < 0.6 * np.median(res["chi2_red"].values)


def test_presets_show_round_trips_through_a_model_file(tmp_path, capsys):
    from hyperspec.cli import main
    from hyperspec.fit.model_spec import load_model

    for name in ("carbon", "polystyrene", "silicon"):
        assert main(["presets", "--show", name]) == 0
        path = tmp_path / f"{name}.toml"
        path.write_text(capsys.readouterr().out)
        loaded = load_model(path)
        preset = get_preset(name)
        assert loaded["terms"] == preset["terms"] and loaded.get("ratios") == preset.get("ratios")
    assert main(["presets", "--show", "peaks", "--set", "positions=1001.4,1031.8", "--set", "shape=voigt"]) == 0
    text = capsys.readouterr().out
    assert '[terms.line_1001]\nshape = "voigt"' in text and "[terms.baseline]" in text


def test_cli_decompose_with_preset_parameters_prints_what_autostart_found(tmp_path, capsys):
    from hyperspec.cli import main

    shift = np.linspace(900.0, 1100.0, 401)
    ds, _ = _synthetic(shift, [("lorentzian", [1001.4, 4.0, 2000.0], 0.0), ("lorentzian", [1031.8, 5.0, 500.0], 0.0)], n_pix=8)
    hyperspec.save(ds, tmp_path / "m.zarr")
    out = tmp_path / "r.zarr"
    assert (
        main(["decompose", str(tmp_path / "m.zarr"), str(out), "--preset", "peaks", "--set", "positions=auto", "--backend", "numpy"]) == 0
    )
    printed = capsys.readouterr().out
    found = re.search(r"autostart: 2 lines on the mean spectrum at ([\d.]+), ([\d.]+) cm-1", printed)
    assert found and abs(float(found.group(1)) - 1001.4) < 0.5 and abs(float(found.group(2)) - 1031.8) < 0.5, printed
    res = hyperspec.open(out)
    np.testing.assert_allclose(res["line_1001_center_cm"].values, 1001.4, atol=0.05)


def test_peaks_n_keeps_the_strongest_lines_and_records_them():
    shift = np.linspace(900.0, 1700.0, 801)
    lines = [
        ("lorentzian", [1001.4, 4.0, 3000.0], 0.0),
        ("lorentzian", [1200.0, 6.0, 300.0], 0.0),
        ("lorentzian", [1602.3, 6.0, 900.0], 0.0),
    ]
    ds, _ = _synthetic(shift, [*lines, ("polynomial1", [100.0, 50.0], 0.0)], n_pix=8)
    res = decompose(ds, "peaks", n=2, shape="gaussian", backend="numpy")
    assert [k for k in res.data_vars if k.endswith("_center_cm")] == ["line_1001_center_cm", "line_1602_center_cm"]
    assert json.loads(res.attrs["model"])["terms"]["line_1001"]["shape"] == "gaussian"
    assert len(json.loads(res.attrs["autostart"])["lines"]) == 2


def test_voigt_energy_gaussian_and_ratios_on_the_fake_device(fake_cupy):
    # the CuPy path (NumPy behind CuPy's transfer rules): the new components and the ratio outputs give the NumPy results
    shift = np.linspace(900.0, 1100.0, 401)
    lines = [("voigt", [1001.4, 3.0, 2.0, 3000.0], 0.1), ("voigt", [1031.8, 4.0, 1.0, 800.0], 0.1), ("polynomial1", [200.0, 400.0], 0.0)]
    ds, _ = _synthetic(shift, lines, n_pix=8)
    model = get_preset("peaks", positions=[1000.0, 1030.0], shape="voigt", baseline="polynomial1", hwhm=4.0)
    model["ratios"] = {"r_area": ["line_1030.area", "line_1000.area"], "r_height": ["line_1030.height", "line_1000.height"]}
    model["terms"]["pl"] = {"shape": "gaussian_ev", "init": {"center": 2.19, "hwhm": 0.02}, "bounds": {"center": [2.15, 2.25]}}
    cpu = decompose(ds, model=model, backend="numpy")
    gpu = decompose(ds, model=model, backend="cupy")
    assert gpu.attrs["backend"] == "cupy"
    np.testing.assert_array_equal(gpu["status"].values, cpu["status"].values)
    for name in ("line_1000_center_cm", "line_1030_hwhm_l_cm", "r_area", "r_height", "pl_center_nm"):
        # the same optimum within a hundredth of its standard error (the stopping point differs in the last digits)
        diff = np.abs(gpu[name].values - cpu[name].values)
        assert np.all((diff <= 0.01 * cpu[f"{name}_stderr"].values) | (np.isnan(diff) & np.isnan(cpu[name].values))), name
        np.testing.assert_allclose(gpu[f"{name}_stderr"].values, cpu[f"{name}_stderr"].values, rtol=1e-2, equal_nan=True)


def test_a_recipe_writes_the_model_level_ratios(tmp_path):
    # hyperspec run's results template declares the ratios too (decompose_outputs): the store equals decompose's result
    from hyperspec.pipeline import run_recipe

    shift = np.linspace(1100.0, 1800.0, 351)
    ds, _ = _synthetic(shift, [("lorentzian", [1350.0, 60.0, 150.0], 0.0), ("lorentzian", [1580.0, 25.0, 400.0], 0.0)], n_pix=8)
    hyperspec.save(ds, tmp_path / "m.zarr")
    recipe = {
        "input": {"path": str(tmp_path / "m.zarr")},
        "decompose": {"preset": "carbon", "drop": ["d2"]},
        "output": {"path": str(tmp_path / "out.zarr")},
        "compute": {"backend": "numpy"},
    }
    out = hyperspec.open(run_recipe(recipe, progress=False)).compute()
    direct = decompose(ds, "carbon", drop=["d2"], backend="numpy")
    for name in ("id_ig_area_ratio", "id_ig_area_ratio_stderr", "id_ig_height_ratio"):
        np.testing.assert_allclose(out[name].values, direct[name].values, rtol=1e-9)


def test_a_recipe_takes_preset_parameters_and_refuses_auto(tmp_path):
    from hyperspec._errors import RecipeError
    from hyperspec.pipeline import run_recipe
    from hyperspec.pipeline.recipe import validate_recipe

    shift = np.linspace(900.0, 1100.0, 401)
    ds, _ = _synthetic(shift, [("lorentzian", [1001.4, 4.0, 2000.0], 0.0), ("lorentzian", [1031.8, 5.0, 500.0], 0.0)], n_pix=8)
    hyperspec.save(ds, tmp_path / "m.zarr")
    params = {"positions": [1000.0, 1030.0], "shape": "voigt", "baseline": "polynomial0"}
    recipe = {
        "input": {"path": str(tmp_path / "m.zarr")},
        "decompose": {"preset": "peaks", "params": params},
        "output": {"path": str(tmp_path / "out.zarr")},
        "compute": {"backend": "numpy"},
    }
    out = hyperspec.open(run_recipe(recipe, progress=False)).compute()
    direct = decompose(ds, "peaks", backend="numpy", **params)
    np.testing.assert_allclose(out["line_1000_center_cm"].values, direct["line_1000_center_cm"].values, rtol=1e-9)
    assert abs(float(out["line_1000_center_cm"].mean()) - 1001.4) < 0.05
    with pytest.raises(RecipeError, match=r"params: peaks: positions='auto'.*hyperspec presets --show peaks --data MAP"):
        validate_recipe({**recipe, "decompose": {"preset": "peaks", "params": {"positions": "auto"}}})
    with pytest.raises(RecipeError, match="preset 'carbon' takes no parameters"):
        validate_recipe({**recipe, "decompose": {"preset": "carbon", "params": {"n": 3}}})
