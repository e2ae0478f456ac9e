"""The step registry: one declared record per step, read by recipes, the runner, the CLI and the docs."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import RecipeError
from hyperspec.cli import main
from hyperspec.pipeline import run_recipe, steps
from hyperspec.pipeline.recipe import STEPS, WHOLE_MAP_STEPS, load_recipe, validate_recipe
from hyperspec.pipeline.run import _bytes_per_pixel, _chunk_results, _halo, _open_input, _result_variables, plan_chunks

README = Path(__file__).resolve().parents[2] / "README.md"


def scale(ds, factor: float = 2.0, *, offset: float = 0.0):
    """Multiply the spectra by ``factor`` and add ``offset``.

    Parameters
    ----------
    factor : float
        The multiplier.
    offset : float
        Counts added after scaling.
    """
    return ds.assign(spectra=ds["spectra"] * factor + offset)


@pytest.fixture
def toy_step():
    """A toy step registered at run time (registry only), removed afterwards."""
    rec = steps.register_step(
        "scale",
        scale,
        halo=3,
        bytes_per_channel=200.0,
        outputs=[steps.Output("peak_counts", "float32", "largest channel after scaling", lambda b: b["spectra"].max("spectral"))],
    )
    yield rec
    steps.unregister_step("scale")


@pytest.fixture(scope="module")
def small_map(tmp_path_factory):
    path = tmp_path_factory.mktemp("steps") / "map.zarr"
    hyperspec.synthetic.write("map", path, (6, 8), n_spectral=256, seed=3, progress=False)
    return path


def _recipe(map_path, out, *pre, decompose=False):
    rec = {"input": {"path": str(map_path)}, "preprocess": list(pre), "output": {"path": str(out)}, "compute": {"backend": "numpy"}}
    if decompose:
        rec["decompose"] = {"preset": "cspbbr3-633"}
    return rec


def test_toy_step_runs_through_a_recipe(toy_step, small_map, tmp_path):
    out = run_recipe(_recipe(small_map, tmp_path / "o.zarr", {"step": "scale", "factor": 3, "offset": 1.5}), progress=False)
    res = hyperspec.open(out).compute()
    raw = hyperspec.open(small_map).compute()
    assert res["peak_counts"].dtype == np.float32 and res["peak_counts"].dims == ("y", "x")
    assert res["peak_counts"].attrs["long_name"] == "largest channel after scaling"
    np.testing.assert_allclose(res["peak_counts"].values, raw["spectra"].max("spectral").values * 3 + 1.5, rtol=1e-6)


def test_toy_step_runs_like_hyperspec_preprocess(toy_step, small_map):
    """The command's runner (validate_step + apply_step on the whole lazy map) runs any registered step."""
    ds = hyperspec.open(small_map)
    step = steps.validate_step({"step": "scale", "factor": 0.5}, where=lambda key: "hyperspec preprocess")
    out = steps.apply_steps(ds, [step, {"step": "crop", "lo": 0.0, "hi": 2000.0}], "numpy")
    want = hyperspec.preprocess.crop(ds * 1, 0.0, 2000.0)["spectra"].values * 0.5
    np.testing.assert_allclose(out["spectra"].values, want, rtol=1e-6)


def test_toy_step_parameters_come_from_its_signature(toy_step, tmp_path):
    assert list(toy_step.params) == ["factor", "offset"]
    assert toy_step.params["factor"].default == 2.0 and toy_step.params["factor"].doc == "The multiplier."
    assert "scale" in STEPS and STEPS["scale"]["factor"] == (int, float) and "scale" not in WHOLE_MAP_STEPS
    base = '[input]\npath = "m.zarr"\n[output]\npath = "o.zarr"\n[[preprocess]]\nstep = "remove_spikes"\n[[preprocess]]\nstep = "scale"\n'
    path = tmp_path / "r.toml"
    path.write_text(base + "factor = 2.5\n")
    assert load_recipe(path)["preprocess"][1] == {"step": "scale", "factor": 2.5}
    for extra, match in [
        ('factor = "two"\n', r"line 9\): preprocess step 'scale'\.factor must be int or float; got 'two'"),
        ("factr = 2\n", r"line 9\): unknown key 'factr' in preprocess step 'scale'\. Did you mean 'factor'\?"),
        ("factor = true\n", r"must be int or float; got True"),
    ]:
        path.write_text(base + extra)
        with pytest.raises(RecipeError, match=match):
            load_recipe(path)
    path.write_text(base.replace('"scale"', '"scael"'))
    with pytest.raises(RecipeError, match=r"line 8\): unknown preprocess step 'scael'\. Did you mean 'scale'\?"):
        load_recipe(path)


def test_halo_and_memory_are_read_from_the_records(toy_step, small_map):
    assert _halo([{"step": "crop"}]) == 0 and _halo([{"step": "remove_spikes"}]) == 2 and _halo([{"step": "scale"}]) == 3
    assert _bytes_per_pixel(100, []) == 3200.0 and _bytes_per_pixel(100, [{"step": "remove_spikes"}]) == 100 * 112.0
    assert _bytes_per_pixel(100, [{"step": "remove_spikes"}, {"step": "scale"}]) == 100 * 200.0
    ds = hyperspec.open(small_map)
    light = plan_chunks(ds, {"workers": 1, "memory_mb": 1}, [])
    heavy = plan_chunks(ds, {"workers": 1, "memory_mb": 1}, [{"step": "scale"}])
    assert heavy["block_rows"] < light["block_rows"]


def test_registration_is_checked():
    def untyped(ds, factor=2.0):
        return ds

    with pytest.raises(TypeError, match="'factor' of untyped needs a type annotation"):
        steps.register_step("untyped", untyped)
    with pytest.raises(ValueError, match="registered already"):
        steps.register_step("crop", hyperspec.preprocess.crop)
    with pytest.raises(ValueError, match="scope"):
        steps.register_step("odd", scale, scope="pixel")
    assert "untyped" not in steps.STEP_REGISTRY and "odd" not in steps.STEP_REGISTRY


@pytest.mark.parametrize(
    "pre",
    [[{"step": "remove_spikes"}, {"step": "baseline", "method": "arpls", "lam": 1e5}], [{"step": "crop", "lo": -4000, "hi": 3000}]],
)
def test_template_equals_a_real_block(small_map, tmp_path, pre):
    """The results template is built from the declarations alone; a real block has exactly those variables, dims, dtypes and attrs."""
    recipe = validate_recipe(_recipe(small_map, tmp_path / "o.zarr", *pre, decompose=True))
    ds = _open_input(recipe)
    plan = plan_chunks(ds, recipe["compute"], recipe["preprocess"])
    block = _chunk_results(recipe, {**plan, "rows": 1}, 0)
    declared = _result_variables(recipe, ds)
    assert list(block.data_vars) == list(declared)
    for name, (dims, dtype, attrs) in declared.items():
        assert block[name].dims == dims, name
        assert block[name].dtype == np.dtype(dtype), name
        got = block[name].attrs
        assert got.keys() == attrs.keys(), name
        assert all(np.array_equal(got[k], v) if isinstance(v, np.ndarray) else got[k] == v for k, v in attrs.items()), name  # flag_values


def test_a_run_records_the_results_attrs_without_a_pre_fit(small_map, tmp_path, monkeypatch):
    from hyperspec.pipeline import run as run_module

    calls = []
    real = run_module._chunk_results
    monkeypatch.setattr(run_module, "_chunk_results", lambda r, plan, k: calls.append(plan["rows"]) or real(r, plan, k))
    rec = _recipe(small_map, tmp_path / "o.zarr", {"step": "remove_spikes"}, decompose=True)
    rec["compute"]["chunk_pixels"] = 16
    out = run_recipe(rec, progress=False)
    plan = json.loads(json.dumps(hyperspec.open(out).attrs["chunk_plan"]))
    assert calls == [plan["rows"]] * plan["n_chunks"]  # every call is a real chunk: no one-row fit first
    attrs = hyperspec.open(out).attrs
    assert attrs["preset"] == "cspbbr3-633" and attrs["backend"] == "numpy" and "engine" in attrs and "model" in attrs


def test_adapters_follow_the_library_signatures():
    """Adapters are the recipe schema; they must not drift from the functions they call."""
    from hyperspec.preprocess.baselines import METHODS
    from hyperspec.spatial import register_drift

    method_params = {p for f in METHODS.values() for p in inspect.signature(f).parameters} - {"y", "x", "engine", "weights"}
    assert set(steps.get_step("baseline").params) == method_params | {"method", "subtract"}
    lib = inspect.signature(hyperspec.preprocess.calibrate_wavelength).parameters
    cw = steps.get_step("calibrate_wavelength").params
    for name in ("order", "tolerance_nm", "max_offset_nm", "min_snr"):
        assert cw[name].default == lib[name].default, name
    assert set(cw) == {*lib} - {"lamp"} | {"lamp", "lamp_laser_nm", "lamp_unit"}
    drift = inspect.signature(register_drift).parameters
    rd = steps.get_step("register_drift").params
    assert set(rd) == set(drift) - {"ds"} and all(rd[k].default == drift[k].default for k in rd)


def test_baseline_method_parameters_are_checked_when_the_recipe_is():
    ok = validate_recipe(_recipe("m.zarr", "o.zarr", {"step": "baseline", "method": "poly", "poly_order": 3}))
    assert ok["preprocess"][0]["poly_order"] == 3
    with pytest.raises(RecipeError, match=r"baseline method 'asls' has no parameter 'poly_order'"):
        validate_recipe(_recipe("m.zarr", "o.zarr", {"step": "baseline", "method": "asls", "poly_order": 3}))
    with pytest.raises(RecipeError, match=r"Did you mean 'arpls'"):
        validate_recipe(_recipe("m.zarr", "o.zarr", {"step": "baseline", "method": "arpsl"}))


def test_path_parameters_are_resolved_and_checked(tmp_path):
    text = '[input]\npath = "m.zarr"\n[output]\npath = "o.zarr"\n[[preprocess]]\nstep = "calibrate_wavelength"\nlamp = "neon.txt"\n'
    (tmp_path / "r.toml").write_text(text)
    with pytest.raises(RecipeError, match=r"line 7\): calibrate_wavelength lamp file .*neon.txt not found"):
        load_recipe(tmp_path / "r.toml")
    (tmp_path / "neon.txt").write_text("1 2\n")
    assert load_recipe(tmp_path / "r.toml")["preprocess"][0]["lamp"] == str(tmp_path / "neon.txt")


def test_describe_steps_is_json():
    desc = json.loads(json.dumps(steps.describe_steps()))
    by_name = {d["name"]: d for d in desc}
    assert set(by_name) == set(steps.STEP_REGISTRY)
    assert by_name["denoise"]["scope"] == "map" and by_name["remove_spikes"]["halo"] == 2
    assert [o["name"] for o in by_name["remove_spikes"]["outputs"]] == ["n_spikes", "dead_pixel", "saturated"]
    assert {"name": "lamp", "type": "str", "default": None, "required": True} == {
        k: v for k, v in by_name["calibrate_wavelength"]["params"][0].items() if k != "doc"
    }
    assert by_name["calibrate_wavelength"]["paths"] == ["lamp"]


def test_readme_step_table_is_the_generated_one():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- step-table: .*? -->\n(.*?)<!-- /step-table -->", text, flags=re.S)
    assert m, "README.md has no <!-- step-table --> block"
    assert m.group(1) == steps.markdown_table(), "regenerate it: hyperspec steps --markdown"


def test_steps_command(capsys):
    assert main(["steps", "--markdown"]) == 0
    assert capsys.readouterr().out == steps.markdown_table()
    assert main(["steps", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(steps.describe_steps()))
    assert main(["steps"]) == 0
    assert "  crop (per chunk): lo, hi, unit?" in capsys.readouterr().out
