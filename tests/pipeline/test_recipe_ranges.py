"""Recipe values are range-checked before any work (issue 19): the declared ranges of steps, analyses and sections."""

from __future__ import annotations

import pytest

import hyperspec
from hyperspec.cli import main
from hyperspec.pipeline import steps


@pytest.fixture(scope="module")
def tiny_map(tmp_path_factory):
    path = tmp_path_factory.mktemp("ranges") / "map.zarr"
    hyperspec.synthetic.write("map", path, (4, 5), n_spectral=128, seed=1, progress=False)
    return path


def _write(tmp_path, tiny_map, body: str, name: str = "r.toml"):
    rec = tmp_path / name
    rec.write_text(f'[input]\npath = "{tiny_map}"\n[output]\npath = "o.zarr"\n{body}', encoding="utf-8")
    return rec


CASES = [
    ("[compute]\nmemory_mb = inf\n", "[compute].memory_mb must be a finite number", "line 6"),
    ("[compute]\nworkers = -1\n", "[compute].workers must be ≥ 1", "line 6"),
    ("[compute]\nchunk_pixels = -5\n", "[compute].chunk_pixels must be ≥ 1", "line 6"),
    ('[[preprocess]]\nstep = "baseline"\nlam = -1.0\n', "preprocess step 'baseline'.lam must be > 0", "line 7"),
    ('[[preprocess]]\nstep = "remove_spikes"\nthreshold = -1\n', "preprocess step 'remove_spikes'.threshold must be > 0", "line 7"),
    ('[[preprocess]]\nstep = "baseline"\ntol = nan\n', "'baseline'.tol must be a finite number", "line 7"),
    ('[[preprocess]]\nstep = "baseline"\nmax_iter = -1\n', "'baseline'.max_iter must be ≥ 1", "line 7"),
    ('[decompose]\npreset = "cspbbr3-633"\ntol = nan\n', "[decompose].tol must be a finite number", "line 7"),
    ('[decompose]\npreset = "cspbbr3-633"\nbatch_size = -4\n', "[decompose].batch_size must be ≥ 1", "line 7"),
    ('[[analysis]]\nstep = "filter_map"\nvariable = "n_spikes"\nsize = -3\n', "analysis 'filter_map'.size must be > 0", "line 8"),
]


@pytest.mark.parametrize(("body", "message", "line"), CASES, ids=[c[1].split(" must")[0] for c in CASES])
def test_out_of_range_values_are_refused_before_any_work(tiny_map, tmp_path, capsys, body, message, line):
    rec = _write(tmp_path, tiny_map, body)
    assert main(["run", str(rec), "--backend", "numpy"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(rec) in err and f"({line})" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "o.zarr").exists()  # refused before the store was created


def test_declared_ranges_and_finite_numbers():
    thr = steps.get_step("remove_spikes").params["threshold"]
    assert steps.check_value(thr, 0) == "must be > 0" and steps.check_value(thr, 7) is None
    fill = steps.get_step("mask_notch").params["fill"]
    assert steps.check_value(fill, float("nan")) is None  # a NaN fill is a legitimate value
    assert steps.check_value(steps.get_step("crop").params["lo"], float("-inf")).startswith("must be a finite number")
    assert steps.Range(0, 1).problem([0.5, 2]) == "must be in [0, 1] (item 2 is 2)"
    assert steps.get_step("baseline").params["p"].range == steps.FRACTION

    def scale(ds, a: float = 1.0):
        """Return the map."""
        return ds

    with pytest.raises(ValueError, match="not one of its parameters"):
        steps.register_step("bad_range_example", scale, ranges={"b": steps.POSITIVE})
    assert "bad_range_example" not in steps.STEP_REGISTRY


def test_analysis_variables_are_checked_before_the_run(tiny_map, tmp_path, capsys):
    rec = _write(tmp_path, tiny_map, '[[preprocess]]\nstep = "remove_spikes"\n[[analysis]]\nstep = "filter_map"\nvariable = "n_spike"\n')
    assert main(["run", str(rec), "--backend", "numpy"]) == 2
    err = capsys.readouterr().err
    assert "variable = 'n_spike' names no variable this run writes. Did you mean 'n_spikes'?" in err and "(line 9)" in err, err
    assert not (tmp_path / "o.zarr").exists()  # before: the whole run, then the error


def test_output_outside_the_recipe_folder_is_reported(tiny_map, tmp_path, capsys):
    (tmp_path / "recipes").mkdir()
    rec = tmp_path / "recipes" / "r.toml"
    rec.write_text(f'[input]\npath = "{tiny_map}"\n[[preprocess]]\nstep = "remove_spikes"\n[output]\npath = "../elsewhere/o.zarr"\n')
    assert main(["run", str(rec), "--backend", "numpy"]) == 0
    err = capsys.readouterr().err
    where = (tmp_path / "elsewhere" / "o.zarr").resolve()
    assert f"output: {where}" in err
    assert f"[output] path leads outside the recipe's folder {(tmp_path / 'recipes').resolve()}: writing {where}" in err
    assert hyperspec.open(where)["n_spikes"].shape == (4, 5)
