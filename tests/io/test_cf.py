"""CF-complete stores (issue 16): history as CF text, units/long_name everywhere, netCDF export that equals the store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import hyperspec
from hyperspec._errors import DataModelError, HyperspecError, StoreExistsError
from hyperspec.cli import main
from hyperspec.io import store_info
from hyperspec.io.export import write_netcdf
from hyperspec.io.netcdf import CF_VERSION, JSON_ATTRS, cf_problems, netcdf_attrs, read_netcdf
from hyperspec.model import HISTORY_RECORDS_ATTR, add_history, history_records
from hyperspec.pipeline import run_recipe


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A 4x5x128 synthetic map store and the results store a recipe (spikes, baseline, decompose) writes from it."""
    tmp = tmp_path_factory.mktemp("cf")
    ds = hyperspec.synthetic.simulate("map", (4, 5), n_spectral=128, seed=3)[0].compute()
    hyperspec.save(ds, tmp / "m.zarr", progress=False)
    recipe = tmp / "r.toml"
    steps = '[[preprocess]]\nstep = "remove_spikes"\n[[preprocess]]\nstep = "baseline"\nmethod = "asls"\nlam = 1e4\n'
    recipe.write_text(f'[input]\npath = "{tmp / "m.zarr"}"\n{steps}[decompose]\npreset = "cspbbr3-633"\n[output]\npath = "o.zarr"\n')
    run_recipe(recipe, progress=False, backend="numpy")
    return tmp, tmp / "m.zarr", tmp / "o.zarr"


def test_history_is_cf_text_one_line_per_step_with_json_records():
    attrs = {}
    add_history(attrs, "crop", lo=np.float64(100.0), hi=3500, unit="cm-1")
    add_history(attrs, "baseline", method="asls", window=[1, 2])
    lines = attrs["history"].split("\n")
    assert len(lines) == 2
    # "<ISO time>Z hyperspec <step> key=value …", values that are not a plain word as compact JSON
    assert lines[0].endswith(" hyperspec crop lo=100.0 hi=3500 unit=cm-1") and lines[0][:20].endswith("Z")
    assert lines[1].endswith(" hyperspec baseline method=asls window=[1,2]")
    records = json.loads(attrs[HISTORY_RECORDS_ATTR])
    assert records == history_records(attrs)
    assert [r["step"] for r in records] == ["crop", "baseline"] and records[0]["params"] == {"lo": 100.0, "hi": 3500, "unit": "cm-1"}
    assert records[0]["time"] == lines[0].split(" ")[0]


def test_foreign_text_history_is_appended_to():
    attrs = {"history": "Mon Dec  1 10:00:00 2026: ncks -v spectra in.nc out.nc"}
    add_history(attrs, "crop", lo=1)
    assert attrs["history"].startswith("Mon Dec  1 10:00:00 2026: ncks") and attrs["history"].count("\n") == 1
    assert [r["step"] for r in history_records(attrs)] == ["crop"]


def test_old_list_history_still_reads_and_shows_in_info(tmp_path):
    ds = hyperspec.synthetic.simulate("map", (2, 3), n_spectral=64, seed=1)[0].compute()
    path = hyperspec.save(ds, tmp_path / "old.zarr", progress=False)
    group = zarr.open_group(str(path), mode="r+")  # rewrite the attrs as stores before CF history had them
    old = history_records(group.attrs)
    group.attrs["history"] = old
    del group.attrs[HISTORY_RECORDS_ATTR]
    back = hyperspec.open(path)
    assert isinstance(back.attrs["history"], list) and history_records(back.attrs) == old
    assert store_info(path)["history"] == ["from_array"]
    add_history(back.attrs, "crop", lo=1)  # the next step rewrites the old list as CF text lines
    assert back.attrs["history"].count("\n") == 1 and [r["step"] for r in history_records(back.attrs)] == ["from_array", "crop"]


def test_a_broken_structured_history_names_the_attr():
    with pytest.raises(DataModelError, match="hyperspec_history.*not valid JSON"):
        history_records({HISTORY_RECORDS_ATTR: "[{oops"})
    with pytest.raises(DataModelError, match="hyperspec_history.*JSON list of records"):
        history_records({HISTORY_RECORDS_ATTR: '{"step": "crop"}'})


def _units_problems(ds):
    """Every units string that UDUNITS-2 (cf-units, the CF reference implementation) cannot parse."""
    cf_units = pytest.importorskip("cf_units")
    bad = []
    for name in ds.variables:
        units = ds[name].attrs.get("units")
        if units is None:
            continue
        try:
            if cf_units.Unit(units).is_unknown():
                bad.append((name, units))
        except ValueError:
            bad.append((name, units))
    return bad


def test_every_variable_and_coord_has_units_and_long_name(stores):
    _, map_path, res_path = stores
    m, r = hyperspec.open(map_path), hyperspec.open(res_path)
    assert cf_problems(m) == [] and cf_problems(r) == []
    assert _units_problems(m) == [] and _units_problems(r) == []
    # the gaps the issue found, now filled
    assert m["x"].attrs == {"units": "um", "long_name": "stage position x"} and m["y"].attrs["long_name"] == "stage position y"
    assert r["hers_log_width"].attrs["units"] == "1" and r["hers_log_width_stderr"].attrs["units"] == "1"
    for name in ("at_bound", "n_at_bound", "run_chunk_done", "chi2_red", "n_iter", "n_spikes", "dead_pixel", "baseline_converged"):
        assert r[name].attrs["units"] == "1", name
    assert "units" not in r["status"].attrs and r["status"].attrs["flag_meanings"].split()[0] == "converged"
    # the checker does find what is missing
    bare = r[["chi2_red"]].assign_coords(x=("x", r["x"].values))
    assert cf_problems(bare) == ["variable 'x' has no units", "variable 'x' has no long_name"]


def test_absolute_wavenumber_axis_has_a_udunits_unit():
    ds = hyperspec.from_array(np.ones((2, 8)), np.linspace(15000.0, 15500.0, 8), unit="cm-1-abs", laser_nm=632.8)
    assert ds["wavenumber"].attrs == {"units": "cm-1", "long_name": "absolute wavenumber (not a Raman shift)"}
    assert _units_problems(ds) == [] and cf_problems(ds) == []


def _assert_equals_store(nc, store):
    """The netCDF file read by plain xarray equals the store: values, coords, dims, and every variable's attrs."""
    plain = xr.open_dataset(nc, engine="h5netcdf")
    xr.testing.assert_equal(plain, store)
    assert set(plain.variables) == set(store.variables)
    for name in store.variables:
        assert plain[name].dtype == store[name].dtype, name
        for key in ("units", "long_name"):
            assert plain[name].attrs.get(key) == store[name].attrs.get(key), (name, key)
    decoded = read_netcdf(nc)  # the JSON-encoded attrs come back as lists and dicts
    assert decoded.attrs.pop("Conventions") == CF_VERSION and decoded.attrs == store.attrs
    for name in store.variables:
        assert decoded[name].attrs.keys() == store[name].attrs.keys(), name
        for key, value in store[name].attrs.items():
            np.testing.assert_array_equal(decoded[name].attrs[key], value, err_msg=f"{name}.{key}")
    return plain


def test_netcdf_of_a_map_equals_the_store(stores):
    tmp, map_path, _ = stores
    store = hyperspec.open(map_path)
    plain = _assert_equals_store(write_netcdf(store, tmp / "map.nc", overwrite=True), store)
    assert plain.attrs["history"] == store.attrs["history"] and plain.attrs["history"].startswith(store.attrs["history"][:20])
    np.testing.assert_array_equal(plain["spectra"].values, store["spectra"].values)
    assert plain["spectra"].dtype == np.float32 and plain["spectra"].attrs["units"] == "counts"
    assert isinstance(store.attrs["hyperspec_history"], str)  # the store keeps its own attrs as they were


def test_netcdf_of_results_equals_the_store(stores):
    tmp, _, res_path = stores
    store = hyperspec.open(res_path).load()  # the store read once (108 small variables)
    assert isinstance(store.attrs["chunk_plan"], dict) and isinstance(store.attrs["runs"], list)  # what netCDF cannot hold
    plain = _assert_equals_store(write_netcdf(store, tmp / "res.nc", overwrite=True), store)
    # CF flags: flag_values an int8 array like the variable, the meanings as text
    assert plain["status"].attrs["flag_values"].dtype == np.int8
    np.testing.assert_array_equal(plain["status"].attrs["flag_values"], store["status"].attrs["flag_values"])
    assert plain["status"].attrs["flag_meanings"] == store["status"].attrs["flag_meanings"]
    # dicts and mixed lists are JSON text a plain reader can decode, and say so
    assert set(plain.attrs[JSON_ATTRS].split()) >= {"chunk_plan", "runs", "versions"}
    assert json.loads(plain.attrs["chunk_plan"]) == store.attrs["chunk_plan"]
    assert plain["run_chunk_done"].dtype == bool and bool(plain["run_chunk_done"].all())
    assert isinstance(store.attrs["chunk_plan"], dict)  # the store is untouched


def test_cli_export_netcdf_refuses_to_overwrite(stores, capsys):
    tmp, map_path, _ = stores
    out = tmp / "cli.nc"
    assert main(["export", str(map_path), "--netcdf", str(out)]) == 0
    assert "cli.nc" in capsys.readouterr().out
    xr.testing.assert_equal(xr.open_dataset(out, engine="h5netcdf"), hyperspec.open(map_path))
    assert main(["export", str(map_path), "--netcdf", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", str(map_path), "--netcdf", str(out), "--overwrite"]) == 0
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        write_netcdf(hyperspec.open(map_path), out)
    assert main(["export", str(map_path), "--netcdf", str(map_path / "m.nc")]) == 2  # never into the store it reads
    assert "refusing" in capsys.readouterr().err and not (map_path / "m.nc").exists()


def test_netcdf_safe_attrs_and_clear_errors(tmp_path):
    out = netcdf_attrs({"plan": {"a": 1}, "words": ["a", "b"], "nums": [1, 2.5], "flag": False, "none": None, "text": "x"})
    assert out["plan"] == '{"a": 1}' and out["words"] == '["a", "b"]' and out["flag"] == 0 and "none" not in out
    np.testing.assert_array_equal(out["nums"], [1.0, 2.5])
    assert out[JSON_ATTRS] == "plan words" and out["text"] == "x"
    with pytest.raises(HyperspecError, match=r"variable 's'.*attr 'odd' is a set"):
        netcdf_attrs({"odd": {1, 2}}, where="variable 's'")
    ds = xr.Dataset({"a": ("x", np.zeros(2), {"units": "1", "long_name": "a", "meta": "{not json", JSON_ATTRS: "meta"})})
    ds.to_netcdf(tmp_path / "bad.nc", engine="h5netcdf")
    with pytest.raises(HyperspecError, match=r"variable 'a': attr 'meta' is listed in 'hyperspec_json_attrs'"):
        read_netcdf(tmp_path / "bad.nc")


def test_preprocessed_maps_stay_cf_complete():
    ds = hyperspec.synthetic.simulate("map", (3, 4), n_spectral=64, seed=5)[0].compute()
    out = hyperspec.preprocess.denoise(hyperspec.preprocess.baseline(hyperspec.preprocess.remove_spikes(ds), "asls", lam=1e4), 2)
    assert {"spike_mask", "dead_pixel", "baseline", "baseline_converged", "pca_scores", "pca_mean"} <= set(out.variables)
    assert cf_problems(out) == [] and _units_problems(out) == []
    assert out["pca_scores"].attrs["units"] == out["spectra"].attrs["units"] == "counts"
    assert [r["step"] for r in history_records(out.attrs)] == ["from_array", "remove_spikes", "baseline", "denoise"]
    assert out.attrs["history"].count("\n") == 3


def test_synthetic_ground_truth_is_cf_complete():
    _, truth = hyperspec.synthetic.simulate("kinetic-line", (4, 3), n_spectral=64, seed=2)[:2]
    assert cf_problems(truth) == [] and _units_problems(truth) == []
    assert truth["region"].attrs["flag_meanings"] == "crystal interface glass" and list(truth["region"].attrs["flag_values"]) == [0, 1, 2]
    assert truth["hers_log_width"].attrs["units"] == "1" and truth["t"].attrs == {"units": "s", "long_name": "time"}


_TABLES = {  # cfchecker downloads these; the files here use no standard_name, area type or region, so empty tables do
    "sn.xml": "<standard_name_table><version_number>0</version_number><last_modified>-</last_modified></standard_name_table>",
    "area.xml": "<area_type_table><version_number>0</version_number><date>-</date></area_type_table>",
    "region.xml": "<standardized_region_list><version_number>0</version_number><date>-</date></standardized_region_list>",
}


def _cfchecks(path, tmp):
    """Run the CF checker (cfchecker, with UDUNITS-2 from cf-units' wheel); its ERRORS / WARNINGS counts and output."""
    beside = Path(sys.executable).parent / "cfchecks"  # the venv's script: make runs its python, the venv is not on PATH
    exe = str(beside) if beside.is_file() else shutil.which("cfchecks") or pytest.skip("cfchecker is not installed")
    cf_units = pytest.importorskip("cf_units")
    libs = Path(cf_units.__file__).parent.parent / "cf_units.libs"
    lib = next(libs.glob("libudunits2*"), None) if libs.is_dir() else None
    env = dict(os.environ)
    if lib is not None:  # cfunits finds the library by name: offer cf-units' bundled copy under the plain name
        (tmp / "lib").mkdir(exist_ok=True)
        for name in ("libudunits2.so", lib.name):
            if not (tmp / "lib" / name).exists():
                (tmp / "lib" / name).symlink_to(lib)
        env["LD_LIBRARY_PATH"] = os.pathsep.join([str(tmp / "lib"), str(libs), env.get("LD_LIBRARY_PATH", "")])
        env["UDUNITS2_XML_PATH"] = str(Path(cf_units.__file__).parent / "etc" / "share" / "udunits2.xml")
    for name, text in _TABLES.items():
        (tmp / name).write_text(text)
    args = [exe, "-v", CF_VERSION.removeprefix("CF-"), "-s", str(tmp / "sn.xml"), "-a", str(tmp / "area.xml")]
    run = subprocess.run([*args, "-r", str(tmp / "region.xml"), str(path)], capture_output=True, text=True, env=env, timeout=120)
    out = run.stdout + run.stderr
    if "ERRORS detected" not in out:
        pytest.skip(f"cfchecks did not run here: {out.strip().splitlines()[-1:]}")
    count = {k: int(out.split(f"{k}:")[1].split()[0]) for k in ("ERRORS detected", "WARNINGS given")}
    return count, out


def test_the_cf_checker_passes_the_netcdf_of_a_map_and_of_results(stores, tmp_path):
    tmp, map_path, res_path = stores
    for name, path in (("map", map_path), ("results", res_path)):
        nc = write_netcdf(hyperspec.open(path), tmp_path / f"{name}.nc")
        count, out = _cfchecks(nc, tmp_path)
        assert count == {"ERRORS detected": 0, "WARNINGS given": 0}, out
    # and it does object to what the stores used to hold: a unit UDUNITS does not know
    bad = hyperspec.open(map_path).assign_coords(wavenumber=("spectral", np.arange(128.0), {"units": "cm-1-abs", "long_name": "w"}))
    count, out = _cfchecks(write_netcdf(bad, tmp_path / "bad.nc"), tmp_path)
    assert count["ERRORS detected"] >= 1 and "cm-1-abs" in out
