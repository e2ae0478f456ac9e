"""Recipe validation: every mistake is caught before any work, naming the file, line, key and closest name."""

from __future__ import annotations

import pytest

from hyperspec._errors import RecipeError
from hyperspec.pipeline import DEFAULT_RECIPE, load_recipe, recipe_hash

SMALLEST = """[input]
path = "map.zarr"
[decompose]
preset = "cspbbr3-633"
[output]
path = "result.zarr"
"""


def _write(tmp_path, text):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_smallest_recipe_is_valid_and_paths_are_relative_to_it(tmp_path):
    r = load_recipe(_write(tmp_path, SMALLEST))
    assert r["input"]["path"] == str(tmp_path / "map.zarr")
    assert r["output"]["path"] == str(tmp_path / "result.zarr")
    assert r["decompose"]["preset"] == "cspbbr3-633"
    assert r["preprocess"] == []
    load_recipe(_write(tmp_path, DEFAULT_RECIPE))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (SMALLEST.replace("[output]", "[outptu]"), r"line 5\): unknown section \[outptu\]\. Did you mean 'output'"),
        (SMALLEST.replace("preset =", "presett ="), r"line 4\): unknown key 'presett' in \[decompose\]\. Did you mean 'preset'"),
        (
            SMALLEST + '[[preprocess]]\nstep = "remove_spike"\n',
            r"line 8\): unknown preprocess step 'remove_spike'\. Did you mean 'remove_spikes'",
        ),
        (
            SMALLEST + '[[preprocess]]\nstep = "baseline"\nlamda = 3\n',
            r"line 9\): unknown key 'lamda' in preprocess step 'baseline'\. Did you mean 'lam'",
        ),
        (SMALLEST + '[[preprocess]]\nstep = "remove_spikes"\n[[preprocess]]\nstep = "denoise"\n', r"'denoise' needs the whole map"),
        (SMALLEST.replace('"cspbbr3-633"', '"cspbbr3-632"'), r"cspbbr3-633"),
        (SMALLEST + '[compute]\nchunk_pixels = "many"\n', r"line 8\): \[compute\]\.chunk_pixels must be int"),
        (SMALLEST.replace('path = "result.zarr"\n', ""), r"\[output\] needs path"),
        ("[input\npath=1", r"not valid TOML"),
        (SMALLEST + '[decompose.model.peak]\nshape = "lorenzian"\n', r"both|lorenzian"),
    ],
)
def test_mistakes_are_named(tmp_path, text, match):
    with pytest.raises(RecipeError, match=match) as err:
        load_recipe(_write(tmp_path, text))
    assert str(tmp_path / "recipe.toml") in str(err.value) or "not found" in str(err.value)


def test_custom_model_recipe_is_checked(tmp_path):
    text = """[input]
path = "m.zarr"
[decompose.model.g]
shape = "lorentzian"
init = {center = 1590, hwhm = 15}
[decompose.model.base]
shape = "polynomial1"
[output]
path = "o.zarr"
"""
    r = load_recipe(_write(tmp_path, text))
    assert r["decompose"]["preset"] is None and set(r["decompose"]["model"]) == {"g", "base"}
    bad = text.replace('shape = "lorentzian"', 'shape = "lorenztian"')
    with pytest.raises(RecipeError, match="lorentzian"):
        load_recipe(_write(tmp_path, bad))


def test_hash_ignores_where_it_runs_but_not_what_it_computes(tmp_path):
    base = load_recipe(_write(tmp_path, SMALLEST))
    moved = load_recipe(_write(tmp_path, SMALLEST.replace("result.zarr", "elsewhere.zarr") + "[compute]\nworkers = 7\n"))
    assert recipe_hash(base) == recipe_hash(moved)
    changed = load_recipe(_write(tmp_path, SMALLEST + '[[preprocess]]\nstep = "remove_spikes"\n'))
    assert recipe_hash(base) != recipe_hash(changed)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "nope.toml")
