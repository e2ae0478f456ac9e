"""A run's results store is laid out and filled exactly as xarray's ``to_zarr`` would do it.

``run_recipe`` creates the ~100 empty result arrays with zarr directly (``_create_result_arrays``) and writes
each chunk's region with zarr directly (``_write_region_direct``). The reference is the xarray path they
replace: ``create_store`` of the whole template (``to_zarr(compute=False)``) and ``to_zarr(region=…)``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

import hyperspec
from hyperspec.io.zarr_ import create_store, mark_complete, open_store
from hyperspec.pipeline import run_recipe, steps
from hyperspec.pipeline.recipe import validate_recipe
from hyperspec.pipeline.run import DONE, _chunk_results, _create_result_arrays, _open_input, _plain_result, _template, plan_chunks


@pytest.fixture(scope="module")
def small_map(tmp_path_factory):
    path = tmp_path_factory.mktemp("layout") / "map.zarr"
    hyperspec.synthetic.write("map", path, (4, 5), n_spectral=256, seed=11, progress=False)
    return path


@pytest.fixture
def float32_step():
    """A step adding a float32 and a (pixels, extra-dim) output: dtypes the presets do not declare."""
    steps.register_step(
        "peak32",
        lambda ds: ds,
        outputs=[
            steps.Output("peak32", "float32", "largest channel", lambda b: b["spectra"].max("spectral")),
            steps.Output("n_pos", "int64", "positive channels", lambda b: (b["spectra"] > 0).sum("spectral"), units="count"),
        ],
    )
    yield
    steps.unregister_step("peak32")


def _recipe(map_path, out, *pre):
    rec = {
        "input": {"path": str(map_path)},
        "preprocess": [{"step": "remove_spikes"}, *pre],
        "decompose": {"preset": "cspbbr3-633"},
        "output": {"path": str(out)},
        "compute": {"backend": "numpy", "chunk_pixels": 10},
    }
    return validate_recipe(rec)


def _metadata(path):
    """Every ``zarr.json`` under the store, parsed, by its path (the root's attributes aside)."""
    out = {}
    for f in sorted(path.rglob("zarr.json")):
        meta = json.loads(f.read_text())
        if f.parent == path:
            meta.pop("attributes", None)
        out[str(f.parent.relative_to(path))] = meta
    return out


@pytest.mark.parametrize("extra", [False, True], ids=["preset", "float32-step"])
def test_result_arrays_have_the_metadata_to_zarr_writes(small_map, tmp_path, request, extra):
    if extra:
        request.getfixturevalue("float32_step")
    recipe = _recipe(small_map, tmp_path / "o.zarr", *([{"step": "peak32"}] if extra else []))
    ds = _open_input(recipe)
    plan = plan_chunks(ds, recipe["compute"], recipe["preprocess"])
    template = _template(recipe, ds, plan)
    chunks = {plan["dim"]: plan["rows"], "run_chunk": 1}
    direct = [n for n in template.data_vars if n != DONE and _plain_result(template[n].variable)]
    assert len(direct) == len(template.data_vars) - 1  # every declared output takes the fast path
    dtypes = {str(template[n].dtype) for n in direct}
    assert {"float64", "int8", "int16", "int32", "bool"} <= dtypes
    if extra:
        assert {"float32", "int64"} <= dtypes

    create_store(template, tmp_path / "xarray.zarr", chunks=chunks)  # the reference: to_zarr(compute=False)
    create_store(template.drop_vars(direct), tmp_path / "direct.zarr", chunks=chunks)
    _create_result_arrays(template[direct], tmp_path / "direct.zarr")

    want, got = _metadata(tmp_path / "xarray.zarr"), _metadata(tmp_path / "direct.zarr")
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name
    back = open_store(tmp_path / "direct.zarr", allow_incomplete=True)
    assert back["status"].attrs["flag_meanings"] == template["status"].attrs["flag_meanings"]
    np.testing.assert_array_equal(back["status"].attrs["flag_values"], template["status"].attrs["flag_values"])


def test_chunks_written_directly_equal_to_zarr_region(small_map, tmp_path, float32_step):
    """A run's store holds, byte for byte in every array, what ``to_zarr(region=…)`` of each chunk's results writes."""
    recipe = _recipe(small_map, tmp_path / "run.zarr", {"step": "peak32"})
    out = run_recipe(recipe, progress=False)
    ds = _open_input(recipe)
    plan = plan_chunks(ds, recipe["compute"], recipe["preprocess"])
    assert plan["n_chunks"] > 1  # several regions, the last one the map's edge

    ref = tmp_path / "ref.zarr"
    create_store(_template(recipe, ds, plan), ref, chunks={plan["dim"]: plan["rows"], "run_chunk": 1})
    for k in range(plan["n_chunks"]):
        res = _chunk_results(recipe, plan, k)
        a = k * plan["rows"]
        region = {d: slice(None) for d in res.dims}
        region[plan["dim"]] = slice(a, a + res.sizes[plan["dim"]])
        res = res.drop_vars(list(res.coords))
        res.attrs = {}
        res.to_zarr(ref, region=region, mode="r+", zarr_format=3, consolidated=False)
    zarr.open_array(str(ref / DONE), mode="r+")[:] = True
    mark_complete(ref)

    got, want = hyperspec.open(out).compute(), hyperspec.open(ref).compute()
    names = [n for n in want.data_vars if n != DONE]
    assert set(got.data_vars) - {DONE} == set(names)
    for name in names:
        assert got[name].dtype == want[name].dtype, name
        np.testing.assert_array_equal(got[name].values, want[name].values, err_msg=name)
    assert np.isfinite(got["peak32"].values).all() and got["peak32"].dtype == np.float32
    assert got[DONE].values.all()
    for name in names:  # the chunk files themselves
        for chunk in sorted((ref / name / "c").rglob("*")):
            if chunk.is_file():
                rel = chunk.relative_to(ref)
                assert (out / rel).read_bytes() == chunk.read_bytes(), str(rel)
