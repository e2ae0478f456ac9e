"""Model files (TOML band models): read, written, checked, and accepted by every interface with one result.

Ground truth: a map of two Lorentzian lines on a linear baseline with Poisson noise, built here with
known centres, widths and heights per pixel.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tomllib

import hyperspec
from hyperspec._errors import ModelFileError, RecipeError
from hyperspec.bands.presets import get_preset, preset_names, preset_parameters
from hyperspec.cli import main
from hyperspec.fit.model_spec import build_model_spec, load_model, model_to_toml, read_model
from hyperspec.pipeline import load_recipe, run_recipe

MODEL = """\
description = "two Lorentzian lines on a linear baseline"

[terms.si]
shape = "lorentzian"
init = { center = 518.0, hwhm = 5.0 }
bounds = { center = [505.0, 535.0], hwhm = [1.0, 20.0] }

[terms.ps]
shape = "lorentzian"
init = { center = 1000.0, hwhm = 5.0 }
bounds = { center = [990.0, 1010.0], hwhm = [1.0, 20.0] }

[terms.baseline]
shape = "polynomial1"
"""

SHIFT = np.linspace(300.0, 1200.0, 451)


def _truth(ny=3, nx=4):
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    return {"si_center": 520.0 + 0.5 * xx, "si_hwhm": 4.0 + 0.2 * yy, "si_height": 300.0 + 40.0 * xx, "ps_center": 1001.0 - 0.3 * yy,
            "ps_height": 100.0 + 20.0 * yy}  # fmt: skip


def _map(ny=3, nx=4, seed=1):
    t = _truth(ny, nx)

    def lor(c, w, h):
        return h[..., None] * w[..., None] ** 2 / ((SHIFT - c[..., None]) ** 2 + w[..., None] ** 2)

    clean = (
        20.0
        + 0.01 * SHIFT
        + lor(t["si_center"], t["si_hwhm"], t["si_height"])
        + lor(t["ps_center"], np.full((ny, nx), 6.0), t["ps_height"])
    )
    counts = np.random.default_rng(seed).poisson(clean).astype(np.float64)
    return hyperspec.from_array(counts, SHIFT, laser_nm=532.0, pixel_size_um=0.5)


@pytest.fixture
def folder(tmp_path):
    hyperspec.save(_map(), tmp_path / "map.zarr")
    (tmp_path / "lines.toml").write_text(MODEL)
    return tmp_path


# --- reading and writing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips_through_a_model_file(name):
    params = {"positions": [520.0, 1000.0], "center_ev": 2.4, "hwhm_ev": 0.05}  # parametrised presets without data: lines given
    preset = get_preset(name, **{k: v for k, v in params.items() if k in preset_parameters(name)})
    text = model_to_toml(preset)
    back = read_model(tomllib.loads(text))
    preset["mask"] = [[float(lo), float(hi)] for lo, hi in preset.get("mask", [])]
    assert json.dumps(back, sort_keys=True) == json.dumps(preset, sort_keys=True)
    assert text.startswith("# hyperspec model file")


def test_writer_keeps_strings_infinities_and_quoted_keys():
    spec = {
        "description": 'a "quoted" word\nand a second line',
        "mask": [[-10, 10.5]],
        "terms": {
            "a": {"shape": "lorentzian", "bounds": {"hwhm": [0.5, math.inf]}, "prior": {"center": [100.0, 2.5e-3]}},
            "b": {"shape": "gaussian", "tie": {"hwhm": "a.hwhm"}, "window": [50.0, 150.0], "fixed": {"center": -1e-12}},
        },
    }
    back = tomllib.loads(model_to_toml(spec))
    assert back["description"] == spec["description"]
    assert back["terms"]["a"]["bounds"]["hwhm"] == [0.5, math.inf]
    assert back["terms"]["a"]["prior"]["center"] == [100.0, 2.5e-3]
    assert back["terms"]["b"] == spec["terms"]["b"]
    assert back["mask"] == [[-10, 10.5]]
    assert tomllib.loads(model_to_toml({"terms": {"x y": {"shape": "lorentzian"}}}))["terms"]["x y"] == {"shape": "lorentzian"}
    with pytest.raises(ModelFileError, match=r"\[terms.a\] init = None"):
        model_to_toml({"terms": {"a": {"shape": "lorentzian", "init": None}}})


def test_load_model_reads_terms_at_the_top_level_too(tmp_path):
    (tmp_path / "top.toml").write_text('mask = [[-5, 5]]\n[si]\nshape = "lorentzian"\n[bg]\nshape = "polynomial0"\n')
    spec = load_model(tmp_path / "top.toml")
    assert spec == {"mask": [[-5.0, 5.0]], "terms": {"si": {"shape": "lorentzian"}, "bg": {"shape": "polynomial0"}}}
    assert build_model_spec(model=str(tmp_path / "top.toml"))["terms"] == spec["terms"]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            ('shape = "lorentzian"', 'shape = "lorenzian"', 1),
            r"line 4\): \[terms.si\] shape: unknown band component 'lorenzian'\. Did you mean 'lorentzian'",
        ),
        (("[terms.ps]", "[terms.ps]\nshap = 1", 1), r"line 9\): \[terms.ps\] unknown key 'shap'\. Did you mean 'shape'"),
        (("center = 518.0", "centre = 518.0", 1), r"line 5\): \[terms.si\] 'init': unknown key 'centre'\. Did you mean 'center'"),
        (("[505.0, 535.0]", "[530.0, 535.0]", 1), r"line 6\): \[terms.si\] start value of 'center' = 518.0 lies outside its bounds"),
        (("description", "descripton", 1), r"line 1\): unknown top-level key 'descripton'\. Did you mean 'description'"),
        (('shape = "polynomial1"', "", 1), r"\[terms.baseline\] has no shape; add shape = "),
        (("description", "mask = [[10, -10]]\ndescription", 1), r"line 1\): mask must be a list of \[low, high\]"),
        (("[terms.si]", "[terms.si", 1), r"not valid TOML"),
    ],
)
def test_bad_model_files_name_the_file_line_table_and_fix(tmp_path, edit, match):
    path = tmp_path / "bad.toml"
    path.write_text(MODEL.replace(*edit))
    with pytest.raises(ModelFileError, match=match) as err:
        load_model(path)
    assert str(path) in str(err.value)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.toml")


# --- every interface, one result ----------------------------------------------------------------------------------


def test_decompose_takes_the_file_and_recovers_the_lines(folder):
    ds = hyperspec.open(folder / "map.zarr")
    by_path = hyperspec.decompose(ds, model=folder / "lines.toml", backend="numpy").compute()
    by_spec = hyperspec.decompose(ds, model=load_model(folder / "lines.toml"), backend="numpy").compute()
    for name in by_spec.data_vars:
        np.testing.assert_array_equal(by_path[name].values, by_spec[name].values)
    truth = _truth()
    for name, true in (("si_center_cm", "si_center"), ("ps_center_cm", "ps_center"), ("si_hwhm_cm", "si_hwhm")):
        z = (by_path[name].values - truth[true]) / by_path[f"{name}_stderr"].values
        assert np.all(np.abs(z) < 4.5), (name, z)  # honest errors: within 4.5 sigma of the truth at 12 pixels
    np.testing.assert_allclose(by_path["si_center_cm"].values, truth["si_center"], atol=0.3)
    np.testing.assert_allclose(by_path["si_hwhm_cm"].values, truth["si_hwhm"], atol=0.4)
    np.testing.assert_allclose(by_path["ps_center_cm"].values, truth["ps_center"], atol=1.0)
    w, c, h = truth["si_hwhm"][..., None], truth["si_center"][..., None], truth["si_height"][..., None]
    area = np.trapezoid(h * w**2 / ((SHIFT - c) ** 2 + w**2), SHIFT, axis=-1)  # counts*cm-1 over the axis, as decompose reports
    np.testing.assert_allclose(by_path["si_area"].values, area, rtol=0.04)
    assert np.all(np.abs(by_path["si_area"].values - area) < 4.5 * by_path["si_area_stderr"].values)
    assert by_path.attrs["preset"] == "custom"
    assert json.loads(by_path.attrs["model"])["description"] == "two Lorentzian lines on a linear baseline"


def test_run_decompose_cli_and_python_give_identical_stores(folder, capsys):
    recipe = folder / "recipe.toml"
    recipe.write_text(
        '[input]\npath = "map.zarr"\n[decompose]\nmodel = "lines.toml"\n[output]\npath = "run.zarr"\n[compute]\nbackend = "numpy"\n'
    )
    assert main(["run", str(recipe)]) == 0  # validated twice (load_recipe, then run_recipe): was "preset must be str; got None"
    assert main(["decompose", str(folder / "map.zarr"), str(folder / "cli.zarr"), "--model", str(folder / "lines.toml"),
                 "--backend", "numpy"]) == 0  # fmt: skip
    inline = folder / "inline.toml"
    terms = MODEL.split("\n", 2)[2].replace("[terms.", "[decompose.model.")
    inline.write_text(f'[input]\npath = "map.zarr"\n{terms}[output]\npath = "inline.zarr"\n[compute]\nbackend = "numpy"\n')
    run_recipe(inline, progress=False)
    py = hyperspec.decompose(hyperspec.open(folder / "map.zarr"), model=folder / "lines.toml", backend="numpy").compute()
    stores = {k: hyperspec.open(folder / f"{k}.zarr") for k in ("run", "cli", "inline")}
    for key, store in stores.items():
        fitted = {n for n in store.data_vars if not n.startswith("run_")}
        assert fitted == set(py.data_vars), key
        for name in py.data_vars:
            np.testing.assert_array_equal(store[name].values, py[name].values, err_msg=f"{key}: {name}")
    assert json.loads(stores["run"].attrs["model"])["terms"] == json.loads(py.attrs["model"])["terms"]


def test_recipe_model_file_is_relative_to_the_recipe_and_enters_the_hash(folder):
    sub = folder / "recipes"
    sub.mkdir()
    (sub / "m.toml").write_text(MODEL)
    (sub / "r.toml").write_text('[input]\npath = "../map.zarr"\n[decompose]\nmodel = "m.toml"\n[output]\npath = "o.zarr"\n')
    r = load_recipe(sub / "r.toml")
    assert r["decompose"]["preset"] is None and list(r["decompose"]["model"]["terms"]) == ["si", "ps", "baseline"]
    from hyperspec.pipeline import recipe_hash, validate_recipe

    again = validate_recipe({k: v for k, v in r.items() if not k.startswith("_")})
    assert again["decompose"] == r["decompose"]  # validating twice gives the same recipe
    before = recipe_hash(r)
    (sub / "m.toml").write_text(MODEL.replace("518.0", "519.0"))
    assert recipe_hash(load_recipe(sub / "r.toml")) != before
    (sub / "m.toml").write_text(MODEL.replace('"lorentzian"', '"lorenzian"', 1))
    with pytest.raises(
        RecipeError, match=r"r\.toml \(line 4\): \[decompose\] model: .*m\.toml \(line 4\): \[terms\.si\] shape: .*'lorentzian'"
    ):
        load_recipe(sub / "r.toml")
    (sub / "r.toml").write_text('[input]\npath = "../map.zarr"\n[decompose]\nmodel = "nope.toml"\n[output]\npath = "o.zarr"\n')
    with pytest.raises(RecipeError, match=r"nope\.toml not found"):
        load_recipe(sub / "r.toml")


def test_cli_model_errors_are_one_line(folder, capsys):
    src, out = str(folder / "map.zarr"), str(folder / "x.zarr")
    assert main(["decompose", src, out, "--model", str(folder / "lines.toml"), "--preset", "cspbbr3-633"]) == 2
    assert "--preset or --model" in capsys.readouterr().err
    (folder / "bad.toml").write_text(MODEL.replace('"lorentzian"', '"lorenzian"', 1))
    assert main(["decompose", src, out, "--model", str(folder / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert "bad.toml (line 4): [terms.si] shape" in err and "Traceback" not in err
