"""The analysis registry: recipes' [[analysis]] entries, their validation, results-store groups and CSV tables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hyperspec
from hyperspec._errors import HyperspecError, RecipeError
from hyperspec.pipeline import analyses as A
from hyperspec.pipeline.recipe import load_recipe, validate_recipe
from hyperspec.pipeline.run import run_recipe

README = Path(__file__).resolve().parents[2] / "README.md"
BANDS = ("aspl_area", "lers_area", "hers_area")


def _noisy_truth(seed: int, n_frames: int = 60, n_x: int = 6, rel_noise: float = 0.02) -> xr.Dataset:
    """The generator's true band areas on (t, x) with Gaussian noise (rel_noise of each band's mean): a stand-in results store."""
    _, truth = hyperspec.synthetic.kinetic_line(n_frames, n_x, n_spectral=32, seed=seed)
    rng = np.random.default_rng(seed + 100)
    res = truth[list(BANDS)].compute()
    for b in BANDS:
        v = res[b].values
        res[b] = (res[b].dims, v + rng.normal(0.0, rel_noise * np.abs(v).mean(), v.shape), res[b].attrs)
        res[f"{b}_stderr"] = (res[b].dims, np.full(v.shape, rel_noise * np.abs(v).mean()))
    res.attrs = {"blink_periods_s": truth.attrs["blink_periods_s"]}
    return res


@pytest.fixture(scope="module")
def truth_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("truth") / "res.zarr"
    hyperspec.save(_noisy_truth(0), path, progress=False)
    return path


@pytest.fixture(scope="module")
def kinetic_run(tmp_path_factory):
    """A decomposed kinetic line through a recipe with kinetics [[analysis]] entries (the one real decomposition here)."""
    d = tmp_path_factory.mktemp("kin")
    hyperspec.synthetic.write("kinetic-line", d / "map.zarr", (60, 3), n_spectral=128, seed=0, progress=False)
    text = """\
[input]
path = "map.zarr"
[decompose]
preset = "cspbbr3-633"
[output]
path = "res.zarr"
[compute]
backend = "numpy"

[[analysis]]
step = "periods"
band = "lers_area"
max_periods = 2

[[analysis]]
step = "cross_correlation"
a = "lers_area"
b = "aspl_area"

[[analysis]]
kind = "autocorrelation"
band = "hers_area"
max_lag_s = 4.0

[[analysis]]
step = "fit_curves"
variable = "lers_area"
model = "sinusoids"
dim = "t"
p0 = {period_1 = 1.45}
bounds = {period_1 = [1.0, 2.0]}
group = "lers_blink_fit"
"""
    (d / "recipe.toml").write_text(text)
    out = run_recipe(d / "recipe.toml", progress=False)
    return d, out


# --- the registry -----------------------------------------------------------------------------------------------


def test_parameters_come_from_the_signature_and_run_through_a_recipe(truth_store, tmp_path):
    def band_stats(
        trace: xr.DataArray, dim: str = "t", *, reference: xr.DataArray | None = None, how: Literal["max", "mean"] = "max",
        scale: float = 1.0, options: dict | None = None,
    ) -> xr.Dataset:  # fmt: skip
        """Peak (or mean) of each trace, divided by a reference trace's.

        Parameters
        ----------
        trace : xarray.DataArray
            The band.
        how : str
            ``"max"`` or ``"mean"``.
        """
        f = getattr(trace, how)(dim) * scale
        if reference is not None:
            f = f / getattr(reference, how)(dim)
        return f.to_dataset(name="value")

    rec = A.register_analysis("band_stats_test", band_stats, variables={"trace": "band"}, summary=("value",))
    try:
        assert list(rec.params) == ["band", "dim", "reference", "how", "scale", "options"]
        assert rec.params["band"].required and rec.params["band"].doc == "The band."
        assert str in rec.params["reference"].types and rec.dataarray_params == ("band", "reference")
        assert rec.params["how"].type_name == "'max' | 'mean'" and rec.choices["how"] == ("max", "mean")
        assert rec.params["scale"].types == (int, float) and dict in rec.params["options"].types
        with pytest.raises(RecipeError, match=r"'band_stats_test'\.how must be 'max' or 'mean', not 'maxx'\. Did you mean 'max'\?"):
            A.validate_analysis({"step": "band_stats_test", "band": "aspl_area", "how": "maxx"})
        entries = [{"step": "band_stats_test", "band": "lers_area", "reference": "aspl_area", "how": "mean", "scale": 2}]
        summaries: list = []
        written = A.run_analyses(truth_store, entries, tmp_path / "out", summaries=summaries)
        assert written == [truth_store / "kinetics" / "band_stats_test_lers_area"]
        got = hyperspec.open(truth_store, group="kinetics/band_stats_test_lers_area")["value"].values
        res = hyperspec.open(truth_store).compute()
        np.testing.assert_allclose(got, 2 * res["lers_area"].mean("t").values / res["aspl_area"].mean("t").values, rtol=1e-12)
        text = A.summarize(summaries)
        assert text.startswith("band_stats_test lers_area: value ") and f"{np.median(got):.3g}" in text
    finally:
        A.unregister_analysis("band_stats_test")
    with pytest.raises(RecipeError, match="unknown analysis 'band_stats_test'"):
        A.get_analysis("band_stats_test")


def test_registration_refuses_bad_records():
    def f(trace: xr.DataArray, model) -> xr.Dataset:
        """No annotation on a required parameter."""

    with pytest.raises(TypeError, match="parameter 'model' of f needs an annotation"):
        A.register_analysis("bad_one", f, variables={"trace": "band"})
    with pytest.raises(ValueError, match="variable parameter 'trac' is not a parameter"):
        A.register_analysis("bad_two", f, variables={"trac": "band"})
    with pytest.raises(ValueError, match="registered already"):
        A.register_analysis("periods", f)
    with pytest.raises(ValueError, match="output 'files' needs a writer"):
        A.register_analysis("bad_three", lambda trace: trace, output="files")
    assert not {"bad_one", "bad_two", "bad_three"} & set(A.ANALYSIS_REGISTRY)


def test_every_kinetics_analysis_is_registered_with_its_recipe_keys():
    keys = {a.name: list(a.variable_keys) for a in A.analyses()}
    assert keys["periods"] == ["band"] and keys["onset"] == ["band"] and keys["autocorrelation"] == ["band"]
    assert keys["cross_correlation"] == ["a", "b"] and keys["power_law"] == ["band"] and keys["fit_curves"] == ["variable"]
    assert A.get_analysis("sbpl_events").input == "map" and A.get_analysis("sbpl_events").results_params == ("results",)
    assert "weights" in A.get_analysis("power_law").string_values  # "auto" or a variable
    assert A.get_analysis("line_profile").output == "files" and A.get_analysis("periods").output == "dataset"
    assert A.get_analysis("periods").params["max_periods"].default == 3


# --- recipe validation --------------------------------------------------------------------------------------------

_BASE = '[input]\npath = "m.zarr"\n[output]\npath = "o.zarr"\n'


def _load(tmp_path, text: str):
    path = tmp_path / "recipe.toml"
    path.write_text(_BASE + text)
    return load_recipe(path), path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[analysis]]\nstep = "period"\nband = "aspl_area"\n',
         r"\(line 6\): unknown analysis 'period'\. Did you mean 'periods'\? Analyses: line_profile"),
        ('[[analysis]]\nstep = "periods"\nband = "aspl_area"\n\n[[analysis]]\nstep = "periods"\nbnad = "lers_area"\n',
         r"\(line 11\): unknown key 'bnad' in analysis 'periods'\. Did you mean 'band'\?"),
        ('[[analysis]]\nstep = "periods"\nband = "aspl_area"\nmax_periods = "two"\n',
         r"\(line 8\): analysis 'periods'\.max_periods must be int \(int\); got 'two'"),
        ('[[analysis]]\nstep = "periods"\nband = "aspl_area"\nmax_periods = true\n',
         r"\(line 8\): analysis 'periods'\.max_periods must be int"),
        ('[[analysis]]\nstep = "cross_correlation"\na = "aspl_area"\n', r"\(line 6\): analysis 'cross_correlation' needs b = "),
        ('[[analysis]]\nband = "aspl_area"\n', r"\(line 5\): an analysis needs step = \"...\" \(one of line_profile"),
        ('[[analysis]]\nstep = "fit_curves"\nvariable = "hers_area"\ndim = "t"\nmodel = "exp_decy"\n',
         r"\(line 9\): analysis 'fit_curves': unknown curve model 'exp_decy'\. Did you mean 'exp_decay'\?"),
        ('[[analysis]]\nstep = "fit_curves"\nvariable = "hers_area"\ndim = "t"\nmodel = "exp_decay"\np0 = {tua = 3.0}\n',
         r"\(line 10\): analysis 'fit_curves': `p0` names 'tua', not a parameter of 'exp_decay'\. Did you mean 'tau'\?"),
        ('[[analysis]]\nstep = "fit_curves"\nvariable = "hers_area"\ndim = "t"\nmodel = "exp_decay"\nbounds = {tau = 3.0}\n',
         r"\(line 10\): analysis 'fit_curves': `bounds\['tau'\]` must be a pair of numbers"),
        ('[[analysis]]\nkind = "periods"\nstep = "onset"\nband = "aspl_area"\n', r"\(line 6\): give the analysis once"),
        ('[[analysis]]\nstep = "periods"\nband = "aspl_area"\n[[analysis]]\nstep = "periods"\nband = "aspl_area"\nfap = 0.1\n',
         r"\(line 9\): writes group 'kinetics/periods_aspl_area' like analysis 1; give one of them group = "),
        ('[[analysis]]\nstep = "line_profile"\nvariable = "a"\nstart = [1, 2, 3]\nend = [4, 5]\n',
         r"\(line 8\): analysis 'line_profile': start = \[row, column\] \(pixels\)"),
        ('[[analysis]]\nstep = "line_profile"\nvariable = "a"\nstart = [1, 2]\nend = [4, 5]\ngroup = "x"\n',
         r"\(line 10\): analysis 'line_profile': group = .*writes files only"),
        ('[[analysis]]\nstep = "filter_map"\nvariable = "a"\nfilter = "medain"\n',
         r"\(line 8\): .*must be 'median' or 'gaussian', not 'medain'\. Did you mean 'median'\?"),
    ],
)  # fmt: skip
def test_recipe_errors_name_the_file_the_line_the_field_and_the_fix(tmp_path, text, message):
    with pytest.raises(RecipeError, match=message) as err:
        _load(tmp_path, text)
    assert str(err.value).startswith(str(tmp_path / "recipe.toml"))


def test_kind_and_step_are_one_key_and_entries_come_back_with_step(tmp_path):
    rec, _ = _load(tmp_path, '[[analysis]]\nkind = "line_profile"\nvariable = "a"\nstart = [0, 0]\nend = [1, 1]\n'
                             '[[analysis]]\nstep = "periods"\nband = "aspl_area"\ngroup = "p"\n')  # fmt: skip
    assert rec["analysis"] == [
        {"step": "line_profile", "variable": "a", "start": [0, 0], "end": [1, 1]},
        {"step": "periods", "band": "aspl_area", "group": "p"},
    ]
    assert validate_recipe({"input": {"path": "m"}, "output": {"path": "o"}, "analysis": {"kind": "periods", "band": "x"}})["analysis"] == [
        {"step": "periods", "band": "x"}
    ]
    assert A.analysis_group(rec["analysis"][1]) == "kinetics/p"
    group = A.analysis_group({"step": "cross_correlation", "a": "aspl_area", "b": "lers area"})
    assert group == "kinetics/cross_correlation_aspl_area_lers_area"


# --- running: groups, CSV, errors --------------------------------------------------------------------------------


def test_recipe_analyses_write_groups_with_the_generator_periods(kinetic_run):
    d, out = kinetic_run
    import zarr

    groups = zarr.open_group(str(out), mode="r").attrs["hyperspec_groups"]
    assert set(groups) >= {"kinetics/periods_lers_area", "kinetics/cross_correlation_lers_area_aspl_area",
                           "kinetics/autocorrelation_hers_area", "kinetics/lers_blink_fit"}  # fmt: skip
    per = hyperspec.open(out, group="kinetics/periods_lers_area").compute()
    same = xr.open_zarr(out, group="kinetics/periods_lers_area", consolidated=False, zarr_format=3).compute()
    xr.testing.assert_identical(per.drop_attrs(), same.drop_attrs())
    first = per["period_s"].isel(peak=0)
    z = (first - 1.5) / per["period_s_stderr"].isel(peak=0)
    assert np.all(np.abs(first - 1.5) < 0.03 * 1.5), first.values  # the generator's l-ERS period
    assert float(np.mean(np.abs(z) < 3)) >= 2 / 3, z.values
    assert per.attrs["analysis"] == "periods" and "max_periods" in per.attrs["analysis_params"]
    fit = hyperspec.open(out, group="kinetics/lers_blink_fit")
    np.testing.assert_allclose(fit["period_1"].values, 1.5, rtol=0.03)
    acf = hyperspec.open(out, group="kinetics/autocorrelation_hers_area")
    assert float(acf["lag"].max()) == pytest.approx(4.0, abs=0.2) and np.allclose(acf["hers_area_autocorrelation"].isel(lag=0), 1.0)
    xc = hyperspec.open(out, group="kinetics/cross_correlation_lers_area_aspl_area")
    assert xc.attrs["a"] == "lers_area" and np.all(np.abs(xc["r"].values) <= 1.0)
    root = hyperspec.open(out)
    assert "period_s" not in root and root["lers_area"].dims == ("t", "x")  # the root is untouched
    pictures = {p.name for p in (d / "res_analysis").iterdir()}
    assert {"cross_correlation_lers_area_aspl_area.png", "autocorrelation_hers_area.png", "lers_blink_fit.png"} <= pictures


def test_a_finished_run_still_runs_an_added_analysis(kinetic_run):
    d, out = kinetic_run
    text = (d / "recipe.toml").read_text() + '\n[[analysis]]\nstep = "onset"\nband = "hers_area"\nstderr = "hers_area_stderr"\n'
    (d / "recipe2.toml").write_text(text)
    before = hyperspec.open(out).compute()
    assert run_recipe(d / "recipe2.toml", progress=False) == out
    onset = hyperspec.open(out, group="kinetics/onset_hers_area").compute()
    assert onset.sizes == {"x": 3} and set(onset["kind"].values.tolist()) <= {0, 1, 2}
    xr.testing.assert_identical(hyperspec.open(out).compute(), before)  # the results themselves were not recomputed


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_periods_through_the_registry_on_several_seeds(seed, tmp_path):
    """The l-ERS (1.5 s) and aS-PL (1.9 s, 1.5 s) periods of the generator, from [[analysis]] entries on noisy true areas."""
    hyperspec.save(_noisy_truth(seed, n_x=4), tmp_path / "r.zarr", progress=False)
    entries = [{"step": "periods", "band": "lers_area", "max_periods": 1}, {"step": "periods", "band": "aspl_area"}]
    A.run_analyses(tmp_path / "r.zarr", entries)
    lers = hyperspec.open(tmp_path / "r.zarr", group="kinetics/periods_lers_area").compute()
    p, e = lers["period_s"].isel(peak=0).values, lers["period_s_stderr"].isel(peak=0).values
    assert np.all(np.abs(p - 1.5) < 0.02 * 1.5), p
    assert np.mean(np.abs((p - 1.5) / e) < 3) >= 0.75, (p - 1.5) / e
    aspl = hyperspec.open(tmp_path / "r.zarr", group="kinetics/periods_aspl_area").compute()["period_s"].values
    found = [np.min(np.where(np.isfinite(aspl), np.abs(aspl - truth), np.inf), axis=1) < 0.03 * truth for truth in (1.9, 1.5)]
    assert np.mean(found[0] & found[1]) >= 0.5  # both; the onset at 7 s leaves short traces: not every pixel shows them


def test_the_standard_set_follows_the_bands_there_are():
    res = _noisy_truth(1, n_frames=20, n_x=2).drop_vars(["hers_area", "hers_area_stderr"])
    res["extra_area"] = res["aspl_area"] * 0 + 1.0  # an extra variable is not analysed unless named
    plan = A.kinetics_plan(res)
    assert plan == [
        {"step": "autocorrelation", "band": "aspl_area"}, {"step": "periods", "band": "aspl_area"},
        {"step": "autocorrelation", "band": "lers_area"}, {"step": "periods", "band": "lers_area"},
        {"step": "cross_correlation", "a": "aspl_area", "b": "lers_area"},
        {"step": "onset", "band": "aspl_area", "stderr": "aspl_area_stderr"},
        {"step": "onset", "band": "lers_area", "stderr": "lers_area_stderr"},
    ]  # fmt: skip
    assert [e["step"] for e in A.kinetics_plan(res, ["extra_area"], with_map=True)] == [
        "autocorrelation",
        "periods",
        "onset",
        "sbpl_events",
    ]
    with pytest.raises(HyperspecError, match="has none of aspl_area, lers_area, hers_area; name the variables with --bands"):
        A.kinetics_plan(res[["extra_area"]])


def test_rerunning_replaces_the_group_and_nothing_else(truth_store, tmp_path):
    import zarr

    before = hyperspec.open(truth_store).compute()
    A.run_analyses(truth_store, [{"step": "autocorrelation", "band": "aspl_area", "max_lag_s": 2.0}], tmp_path)
    A.run_analyses(truth_store, [{"step": "autocorrelation", "band": "aspl_area", "max_lag_s": 1.0}], tmp_path)
    acf = hyperspec.open(truth_store, group="kinetics/autocorrelation_aspl_area")
    assert acf.sizes["lag"] == 6  # 0 … 1.0 s in 0.2 s frames: the second run's
    xr.testing.assert_identical(hyperspec.open(truth_store).compute(), before)
    groups = zarr.open_group(str(truth_store), mode="r").attrs["hyperspec_groups"]
    assert groups.count("kinetics/autocorrelation_aspl_area") == 1


def test_sbpl_event_table_round_trips_through_csv_and_the_store(tmp_path):
    ds, truth = hyperspec.synthetic.kinetic_line(30, 4, n_spectral=512, seed=1, sbpl_probability=0.2)
    hyperspec.save(ds, tmp_path / "map.zarr", progress=False)
    res = truth[["aspl_area", "aspl_peak_ev"]].compute()
    res.attrs = {}
    hyperspec.save(res, tmp_path / "res.zarr", progress=False)
    entries = [{"step": "sbpl_events", "min_snr": 5.0}]
    written = A.run_analyses(tmp_path / "res.zarr", entries, tmp_path / "out", map_store=tmp_path / "map.zarr")
    assert tmp_path / "out" / "sbpl_events.csv" in written
    table = pd.read_csv(tmp_path / "out" / "sbpl_events.csv")
    ref = hyperspec.kinetics.sbpl_events(hyperspec.open(tmp_path / "map.zarr"), min_snr=5.0, results=hyperspec.open(tmp_path / "res.zarr"))
    assert len(table) == len(ref.events) > 0
    pd.testing.assert_frame_equal(table, ref.events.reset_index(drop=True), check_dtype=False, rtol=1e-12)
    stored = hyperspec.open(tmp_path / "res.zarr", group="kinetics/sbpl_events").compute()
    np.testing.assert_allclose(stored["energy_ev"].values, ref.events["energy_ev"].values, rtol=1e-12)
    rate = hyperspec.open(tmp_path / "res.zarr", group="kinetics/sbpl_events_event_rate")
    np.testing.assert_allclose(rate[ref.event_rate.name].values, ref.event_rate.values, rtol=1e-12)
    assert int(truth["n_sbpl"].sum()) > 0 and len(set(table["event_id"])) <= 2 * int(truth["n_sbpl"].sum())


def test_bad_variables_and_stores_are_named(truth_store, tmp_path):
    with pytest.raises(HyperspecError, match=r"analysis 1 \(periods\): no variable 'lers_are' in .*Did you mean 'lers_area'\? It has "):
        A.run_analyses(truth_store, [{"step": "periods", "band": "lers_are"}], tmp_path)
    with pytest.raises(HyperspecError, match=r"needs the spectra .*--map MAP\.zarr"):
        A.run_analyses(truth_store, [{"step": "sbpl_events"}], tmp_path)
    with pytest.raises(HyperspecError, match="would replace the store's variable 'aspl_area'"):
        A.write_group(truth_store, "aspl_area/x", xr.Dataset({"v": ("x", [1.0])}))
    with pytest.raises(HyperspecError, match="is invalid"):
        A.write_group(truth_store, "kinetics//x", xr.Dataset({"v": ("x", [1.0])}))
    xr.Dataset({"v": ("x", [1.0])}).to_zarr(tmp_path / "plain.zarr", zarr_format=3, consolidated=False)
    with pytest.raises(HyperspecError, match="not a hyperspec store"):
        A.write_group(tmp_path / "plain.zarr", "kinetics/x", xr.Dataset({"v": ("x", [1.0])}))


def test_an_interrupted_group_write_is_not_listed(truth_store, monkeypatch):
    import zarr

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    A.write_group(truth_store, "kinetics/demo", xr.Dataset({"v": ("x", [1.0, 2.0])}))
    monkeypatch.setattr(xr.Dataset, "to_zarr", boom)
    with pytest.raises(KeyboardInterrupt):
        A.write_group(truth_store, "kinetics/demo", xr.Dataset({"v": ("x", [3.0, 4.0])}))
    assert "kinetics/demo" not in zarr.open_group(str(truth_store), mode="r").attrs["hyperspec_groups"]
    with pytest.raises(HyperspecError, match="has no group 'kinetics/demo'"):
        hyperspec.open(truth_store, group="kinetics/demo")


# --- tables ------------------------------------------------------------------------------------------------------


def test_describe_and_markdown_follow_the_registry():
    d = {a["name"]: a for a in A.describe_analyses()}
    assert d["cross_correlation"]["variables"] == ["a", "b"] and d["sbpl_events"]["input"] == "map"
    table = A.markdown_table()
    assert table.count("\n") == len(A.ANALYSIS_REGISTRY) + 2
    assert "| `periods` | results variables | `band` str (required), `dim` str = 't', `max_periods` int = 3" in table


def test_readme_analysis_table_is_the_generated_one():
    m = re.search(r"<!-- analysis-table: .*? -->\n(.*?)<!-- /analysis-table -->", README.read_text(encoding="utf-8"), flags=re.S)
    if m is None:
        pytest.skip("README.md has no <!-- analysis-table --> block yet (hyperspec analyses --markdown)")
    assert m.group(1) == A.markdown_table(), "regenerate it: hyperspec analyses --markdown"
