"""Exports of a recipe's results store (issue 19 item 6): one CSV row per pixel, columns in model order, ``info`` by band.

Before the fix a store written in several run chunks gave one row per pixel *per run chunk* (the
``run_chunk_done`` flags were broadcast into the table: 144 rows for 48 pixels here, 8 821 for 2 205
in the issue), the columns and ``info``'s variable list came in the store's listing order.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import hyperspec
from hyperspec.cli import main
from hyperspec.fit.composite import CompositeModel
from hyperspec.fit.results import result_names
from hyperspec.io.export import FIT_QUALITY, result_groups, write_csv
from hyperspec.pipeline import run_recipe
from hyperspec.pipeline.run import DONE

NY, NX = 6, 8


@pytest.fixture(scope="module")
def results_store(tmp_path_factory):
    """A recipe's results store of a 6 × 8 map written in 3 run chunks of 16 pixels (~3 s)."""
    folder = tmp_path_factory.mktemp("export")
    hyperspec.synthetic.write("map", folder / "map.zarr", (NY, NX), n_spectral=256, seed=4, progress=False)
    recipe = {
        "input": {"path": str(folder / "map.zarr")},
        "decompose": {"preset": "cspbbr3-633"},
        "output": {"path": str(folder / "res.zarr")},
        "compute": {"backend": "numpy", "chunk_pixels": 16},
    }
    return run_recipe(recipe, progress=False)


def _model_order(store) -> list[str]:
    """The expected columns from decompose's own naming (result_names): each output then its stderr, then fit quality."""
    res = hyperspec.open(store)
    spec = json.loads(res.attrs["model"])
    n = 64
    model = CompositeModel(spec["terms"], np.linspace(-4500.0, 3000.0, n), np.linspace(2.0, 2.6, n))
    order = [v for name, _, _ in result_names(model) for v in (name, f"{name}_stderr")]
    return order + [f for f in FIT_QUALITY if f in res.data_vars]


def _read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return [h.split(" [")[0] for h in rows[0]], rows[1:]


def test_the_store_has_several_run_chunks(results_store):
    res = hyperspec.open(results_store)
    assert res[DONE].sizes["run_chunk"] == 3 and res.attrs["chunk_plan"]["n_chunks"] == 3


def test_cli_csv_has_one_row_per_pixel_with_the_stores_values(results_store, tmp_path, capsys):
    out = tmp_path / "bands.csv"
    assert main(["export", str(results_store), "--csv", str(out)]) == 0
    head, rows = _read_csv(out)
    assert len(rows) == NY * NX  # was NY * NX * 3 (once per run chunk)
    assert head[:2] == ["y", "x"] and "run_chunk" not in head and DONE not in head
    res = hyperspec.open(results_store).compute()
    pairs = {(float(r[0]), float(r[1])) for r in rows}
    assert len(pairs) == NY * NX  # every pixel exactly once
    for iy, ix in [(0, 0), (2, 5), (NY - 1, NX - 1)]:
        row = rows[iy * NX + ix]
        assert float(row[0]) == float(res["y"][iy]) and float(row[1]) == float(res["x"][ix])
        for col, name in enumerate(head[2:], start=2):
            want = res[name].values[iy, ix]
            if np.isnan(want):
                assert row[col] == "", name
            else:
                assert float(row[col]) == float(want), name  # repr round-trips float64 exactly


def test_csv_columns_are_in_model_order(results_store, tmp_path):
    head, _ = _read_csv(write_csv(hyperspec.open(results_store), tmp_path / "t.csv"))
    expected = _model_order(results_store)
    assert head[2:] == expected
    assert head[2:5] == ["aspl_area", "aspl_area_stderr", "aspl_center_ev"]
    assert head[-5:] == ["chi2_red", "n_iter", "status", "at_bound", "n_at_bound"]


def test_chosen_variables_come_in_model_order_and_off_grid_ones_are_refused(results_store, tmp_path):
    res = hyperspec.open(results_store)
    head, rows = _read_csv(write_csv(res, tmp_path / "s.csv", ["status", "cnt_g_area", "aspl_area"]))
    assert head == ["y", "x", "aspl_area", "cnt_g_area", "status"] and len(rows) == NY * NX
    with pytest.raises(hyperspec.HyperspecError, match="run_chunk_done.*not a numeric variable on the pixels"):
        write_csv(res, tmp_path / "bad.csv", ["aspl_area", DONE])


def test_info_lists_one_line_per_band_then_fit_quality(results_store, capsys):
    assert main(["info", str(results_store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("variables"))
    assert lines[start].split()[1] == str(len(hyperspec.open(results_store).data_vars))
    groups = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        groups.append(line.split(None, 1))
    terms = list(json.loads(hyperspec.open(results_store).attrs["model"])["terms"])
    assert [g for g, _ in groups] == [*terms, "fit", "other"]
    bands = dict(groups)
    assert bands["aspl"] == "area±, center_ev±, hwhm_ev±, beta_per_ev±, height±, peak_ev±, urbach_ev±"
    assert bands["cnt_g"] == "area±, center_cm±, hwhm_cm±, height±"
    assert bands["fit"] == "chi2_red, n_iter, status, at_bound, n_at_bound"
    assert bands["other"] == "run_chunk_done (run_chunk)"


def test_result_groups_cover_every_name_once_and_infer_terms_without_a_model():
    names = ["z_ratio", "b_area", "b_x", "a_area", "a_area_stderr", "a_height", "status", "chi2_red", "b_x_stderr", "misc"]
    groups = result_groups(names)
    assert groups == [
        ("a", ["a_area", "a_area_stderr", "a_height"]),
        ("b", ["b_area", "b_x", "b_x_stderr"]),
        ("fit", ["chi2_red", "status"]),
        ("other", ["misc", "z_ratio"]),
    ]
    model = {"terms": {"b": {"shape": "lorentzian"}, "a": {"shape": "gaussian"}}, "ratios": {"z_ratio": ["a.area", "b.area"]}}
    grouped = result_groups(names, json.dumps(model))
    assert [g for g, _ in grouped] == ["b", "a", "ratios", "fit", "other"]
    assert sorted(n for _, m in grouped for n in m) == sorted(names)
