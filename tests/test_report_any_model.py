"""Reports and pictures for any model: what is drawn comes from the results' own model, registry and status table.

Fitted results come from maps built here with known Lorentzian lines (``tests.test_model_files``), from
the real Renishaw line scan ``py-wdf-reader/ex2.wdf`` (skipped when absent), and from hand-made result
Datasets where only the drawing is under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import hyperspec  # noqa: E402
from hyperspec import report  # noqa: E402
from hyperspec.bands.presets import get_preset  # noqa: E402
from hyperspec.cli import main  # noqa: E402
from hyperspec.fit.composite import CompositeModel  # noqa: E402
from hyperspec.fit.results import result_names  # noqa: E402
from hyperspec.pipeline import run_recipe  # noqa: E402
from hyperspec.pipeline.steps import decompose_model  # noqa: E402
from tests.test_model_files import MODEL, SHIFT, _map  # noqa: E402

EX2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "py-wdf-reader" / "ex2.wdf"


def _png(path) -> np.ndarray:
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, path
    assert float(img[..., :3].std()) > 0.02, f"{path} is blank"
    return img


def _line_store(tmp_path, nx=10, seed=3):
    """A line scan (x only) of one Lorentzian whose centre moves 516 → 524 cm-1 on a constant background."""
    x = np.arange(nx)
    centre, height = 516.0 + 8.0 * x / (nx - 1), 400.0 + 30.0 * x
    clean = 30.0 + height[:, None] * 16.0 / ((SHIFT - centre[:, None]) ** 2 + 16.0)
    counts = np.random.default_rng(seed).poisson(clean).astype(np.float64)
    ds = hyperspec.from_array(counts, SHIFT, laser_nm=532.0, dims=("x", "spectral"), coords={"x": x * 0.25})
    hyperspec.save(ds, tmp_path / "line.zarr")
    (tmp_path / "si.toml").write_text(
        '[terms.si]\nshape = "lorentzian"\ninit = { center = 520.0, hwhm = 5.0 }\nbounds = { center = [505.0, 535.0] }\n'
        '[terms.bg]\nshape = "polynomial0"\n'
    )
    return tmp_path / "line.zarr", centre


def _results(spec: dict, dims: tuple[str, ...], shape: tuple[int, ...], seed: int = 0) -> xr.Dataset:
    """A results Dataset with every output of ``spec`` (random values), its status and the model in attrs."""
    rng = np.random.default_rng(seed)
    shift = np.linspace(-4500.0, 4500.0, 91)
    energy = hyperspec.axes.nm2ev(hyperspec.axes.shift2nm(shift, 632.8))
    model = CompositeModel(spec["terms"], shift, energy, fused=False)
    res = xr.Dataset(coords={d: np.arange(n) * 0.5 for d, n in zip(dims, shape, strict=True)})
    for name, units, meaning in result_names(model):
        res[name] = (dims, rng.normal(10.0, 1.0, shape), {"units": units, "long_name": meaning})
        res[f"{name}_stderr"] = (dims, np.full(shape, 0.5), {"units": units})
    res["chi2_red"] = (dims, rng.normal(1.0, 0.1, shape))
    res["status"] = (dims, rng.choice(np.array([0, 2, 7], np.int8), size=shape), {"flag_values": [0, 2, 7],
                     "flag_meanings": "converged singular dead"})  # fmt: skip
    res.attrs["model"] = json.dumps(spec)
    return res


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --- what is drawn ------------------------------------------------------------------------------------------------


def test_model_variables_follow_the_model_and_the_registry():
    spec = {"terms": {
        "pv": {"shape": "pseudo_voigt"},
        "g": {"shape": "gaussian", "fixed": {"center": 800.0}, "tie": {"hwhm": "pv.hwhm"}},
        "bg": {"shape": "polynomial1"},
    }}  # fmt: skip
    got = report.model_variables(_results(spec, ("y", "x"), (2, 3)))
    assert got == {
        "pv": [("pv_area", "pv area", "counts·cm⁻¹"), ("pv_center_cm", "pv center", "cm⁻¹"),
               ("pv_hwhm_cm", "pv hwhm", "cm⁻¹"), ("pv_eta", "pv eta: Lorentzian fraction", "")],
        "g": [("g_area", "g area", "counts·cm⁻¹")],  # height: the area says it; centre fixed, width tied
        "bg": [("bg_area", "bg area", "counts·cm⁻¹")],  # a baseline's coefficients are not maps of a band
    }  # fmt: skip
    assert report.model_variables(xr.Dataset({"a": ("x", np.ones(2))})) == {}
    # the model's ratios (a carbon model's I_D/I_G) come after the terms, titled by what they divide
    spec = {"terms": {"d": {"shape": "lorentzian"}, "g": {"shape": "lorentzian"}}, "ratios": {"id_ig": ["d.area", "g.area"]}}
    res = _results(spec, ("x",), (4,))
    res["id_ig"] = ("x", res["d_area"].values / res["g_area"].values, {"units": ""})
    got = report.model_variables(res)
    assert list(got) == ["d", "g", report.RATIOS] and got[report.RATIOS] == [("id_ig", "id_ig: d.area / g.area", "")]


def test_cspbbr3_output_keeps_every_map_it_had():
    spec = get_preset("cspbbr3-633")
    res = _results({"terms": spec["terms"]}, ("y", "x"), (2, 2))
    drawn = {name for rows in report.model_variables(res).values() for name, _, _ in rows}
    former_main_maps = {"aspl_area", "lers_area", "hers_area", "aspl_peak_ev", "lers_temperature_k", "aspl_urbach_ev", "lers_width_cm"}
    assert former_main_maps <= drawn
    assert {f"{t}_area" for t in spec["terms"]} <= drawn  # every band, not the CsPbBr3 three only
    assert "cspbbr3_73_temperature_k" not in drawn  # tied to lers.temperature: drawn once, there
    names = [n for n, _, _ in result_names(decompose_model({"preset": "cspbbr3-633"}))]
    assert drawn <= set(names)


def test_status_map_is_categorical_with_the_stores_own_names():
    res = _results({"terms": {"si": {"shape": "lorentzian"}}}, ("y", "x"), (4, 5))
    res["status"].values[0, 0] = 42  # a code only this store's table names
    res["status"].attrs.update(flag_values=[0, 2, 7, 42], flag_meanings="converged singular dead from_the_store")
    fig, ax = plt.subplots()
    report._draw(ax, res["status"], plt, meanings=report.status_meanings(res))
    codes = res["status"].values
    counts = {c: int((codes == c).sum()) for c in (0, 2, 7, 42) if (codes == c).any()}
    names = {0: "converged", 2: "singular", 7: "dead", 42: "from_the_store"}
    assert _legend(ax) == [f"{c} {names[c]} ({n})" for c, n in counts.items()]
    image = ax.images[0].get_array()
    assert image.shape == (4, 5) and len(np.unique(image.compressed())) == len(counts)  # one colour per code, not a ramp
    plt.close(fig)
    # the JSON table older stores carry, and the results' attrs when the variable has none
    st = res["status"].copy()
    st.attrs = {"flag_meanings": json.dumps({"0": "converged", "42": "json_name"})}
    assert report.status_meanings(st) == {0: "converged", 42: "json_name"}
    bare = xr.Dataset({"status": st.copy(data=st.values)}, attrs={"status_codes": json.dumps({"3": "nonfinite"})})
    bare["status"].attrs = {}
    assert report.status_meanings(bare) == {3: "nonfinite"}


def test_colour_clip_is_stated_and_used():
    res = _results({"terms": {"si": {"shape": "lorentzian"}}}, ("y", "x"), (10, 10))
    values = res["si_area"].values
    fig, ax = plt.subplots()
    report._draw(ax, res["si_area"], plt, percentiles=(5, 95))
    assert ax.images[0].get_clim() == pytest.approx(tuple(np.percentile(values, [5, 95])))
    assert "5th–95th percentile" in fig.axes[1].get_ylabel()  # the colour bar's label
    plt.close(fig)
    assert report.clip_note((1, 99)) == "colour scales: 1st–99th percentile of each map (arrows: values beyond)"


def test_region_map_names_the_regions(tmp_path):
    res = _results({"terms": {"si": {"shape": "lorentzian"}}}, ("y", "x"), (3, 4))
    labels = xr.DataArray(np.array([[0, 0, 1, 2]] * 3, np.int8), dims=("y", "x"), coords={"y": res.y, "x": res.x}, name="region",
                          attrs={"flag_values": [-1, 0, 1, 2], "flag_meanings": "unknown crystal interface glass"})  # fmt: skip
    paths = report.write_figures(res, tmp_path, regions=labels)
    assert paths[-1].name == "regions.png"
    _png(paths[-1])
    fig, ax = plt.subplots()
    report._draw(ax, labels, plt, meanings=report.status_meanings(labels))
    assert _legend(ax) == ["crystal (6)", "interface (3)", "glass (3)"]
    plt.close(fig)


def test_kinetic_line_is_a_kymograph(tmp_path):
    res = _results({"terms": {"si": {"shape": "lorentzian"}}}, ("t", "x"), (7, 5))
    fig, ax = plt.subplots()
    report._draw(ax, res["si_center_cm"], plt)
    assert ax.images[0].get_array().shape == (7, 5) and ax.get_aspect() == "auto"
    assert ax.get_ylabel() == "t (s)" and ax.get_xlabel() == "x (µm)"
    np.testing.assert_array_equal(ax.images[0].get_array(), res["si_center_cm"].values)
    plt.close(fig)
    names = [p.name for p in report.write_figures(res, tmp_path)]
    assert names == ["si_area.png", "si_center_cm.png", "si_hwhm_cm.png", "band_si.png", "chi2_red.png", "status.png", "band_maps.png"]
    for name in names:
        _png(tmp_path / name)


# --- fitted results, every interface ------------------------------------------------------------------------------


def test_report_draws_every_band_of_a_custom_model(tmp_path, capsys):
    hyperspec.save(_map(), tmp_path / "map.zarr")
    (tmp_path / "lines.toml").write_text(MODEL)
    assert main(["decompose", str(tmp_path / "map.zarr"), str(tmp_path / "res.zarr"), "--model", str(tmp_path / "lines.toml"),
                 "--backend", "numpy"]) == 0  # fmt: skip
    assert main(["report", str(tmp_path / "res.zarr"), "--out", str(tmp_path / "rep")]) == 0
    expected = {f"{v}.png" for v in ("si_area", "si_center_cm", "si_hwhm_cm", "ps_area", "ps_center_cm", "ps_hwhm_cm", "baseline_area",
                                     "chi2_red", "status")} | {"band_si.png", "band_ps.png", "band_maps.png"}  # fmt: skip
    assert expected <= {p.name for p in (tmp_path / "rep").glob("*.png")}
    for name in expected:
        _png(tmp_path / "rep" / name)
    overview = _png(tmp_path / "rep" / "band_maps.png")
    single = _png(tmp_path / "rep" / "si_area.png")
    assert overview.shape[1] > 2 * single.shape[1]  # a panel of five maps; each map also alone


def test_line_scan_gets_profiles_from_decompose_png_and_run(tmp_path, capsys):
    store, centre = _line_store(tmp_path)
    png = tmp_path / "png"
    assert (
        main(
            [
                "decompose",
                str(store),
                str(tmp_path / "res.zarr"),
                "--model",
                str(tmp_path / "si.toml"),
                "--backend",
                "numpy",
                "--png",
                str(png),
            ]
        )
        == 0
    )  # fmt: skip (was: a crash drawing 1-D variables as images)
    res = hyperspec.open(tmp_path / "res.zarr").compute()
    np.testing.assert_allclose(res["si_center_cm"].values, centre, atol=0.5)
    assert {"si_area.png", "si_center_cm.png", "si_hwhm_cm.png", "band_si.png", "bg_area.png", "status.png", "band_maps.png"} <= {
        p.name for p in png.glob("*.png")
    }
    fig, ax = plt.subplots()
    report._draw(ax, res["si_center_cm"], plt, stderr=res["si_center_cm_stderr"])
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), res["x"].values)  # a profile against position, µm
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), res["si_center_cm"].values)
    assert ax.get_xlabel() == "x (µm)" and len(ax.collections) == 1  # the ±1 standard-error band
    plt.close(fig)
    recipe = tmp_path / "line.toml"
    recipe.write_text('[input]\npath = "line.zarr"\n[decompose]\nmodel = "si.toml"\n[output]\npath = "run.zarr"\npng = "run_png"\n'
                      '[compute]\nbackend = "numpy"\n')  # fmt: skip
    run_recipe(recipe, progress=False)
    for name in ("si_center_cm.png", "band_si.png", "band_maps.png", "status.png"):
        _png(tmp_path / "run_png" / name)


@pytest.mark.skipif(not EX2.is_file(), reason="shared data py-wdf-reader/ex2.wdf not present")
def test_real_line_scan_carbon_film(tmp_path, capsys):
    (tmp_path / "carbon.toml").write_text(
        '[terms.d]\nshape = "lorentzian"\ninit = { center = 1350.0, hwhm = 40.0 }\nbounds = { center = [1300.0, 1400.0] }\n'
        '[terms.g]\nshape = "lorentzian"\ninit = { center = 1590.0, hwhm = 30.0 }\nbounds = { center = [1540.0, 1630.0] }\n'
        '[terms.baseline]\nshape = "polynomial1"\n'
    )
    png = tmp_path / "png"
    assert main(["decompose", str(EX2), str(tmp_path / "ex2.zarr"), "--model", str(tmp_path / "carbon.toml"), "--backend", "numpy",
                 "--png", str(png)]) == 0  # fmt: skip
    res = hyperspec.open(tmp_path / "ex2.zarr")
    assert res["d_area"].dims == ("x",) and res.sizes["x"] == 235
    g = res["g_center_cm"].values
    assert 1560 < np.nanmedian(g) < 1600  # the carbon G line
    for name in ("d_area", "d_center_cm", "g_area", "g_center_cm", "g_hwhm_cm", "status", "band_d", "band_g", "band_maps"):
        _png(png / f"{name}.png")


def test_single_spectrum_results_draw_nothing_and_do_not_fail(tmp_path):
    res = _results({"terms": {"si": {"shape": "lorentzian"}}}, (), ())
    assert report.model_variables(res)["si"][0][0] == "si_area"
    assert report.write_figures(res, tmp_path) == []
