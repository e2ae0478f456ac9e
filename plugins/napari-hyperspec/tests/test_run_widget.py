"""The Run widget in a real viewer: a run's layers equal its results store; errors are one line; cancel keeps the viewer
responsive and leaves a partial store that the next run resumes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import zarr
from napari.layers import Layer
from napari_hyperspec._layers import map_layers
from napari_hyperspec._run_widget import RunWidget, model_files_supported, one_line
from qtpy.QtCore import Qt, QTimer

import hyperspec
from hyperspec.io.zarr_ import store_info
from hyperspec.pipeline import load_recipe
from hyperspec.pipeline import run as run_module
from hyperspec.pipeline.run import DONE

SHAPE = (4, 6)  # 4 chunks of one 6-pixel row with chunk_pixels = 6
RUN_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def tiny_map_store(tmp_path_factory):
    """A 4×6×256 synthetic map (seed 1): small enough for several runs from the widget."""
    path = tmp_path_factory.mktemp("run_widget") / "map.zarr"
    return hyperspec.synthetic.write("map", path, SHAPE, n_spectral=256, seed=1, progress=False)


@pytest.fixture(scope="module")
def reference_results(tiny_map_store, tmp_path_factory):
    """An uninterrupted library run of the default preset on the tiny map (the widget must give the same)."""
    out = tmp_path_factory.mktemp("run_widget_ref") / "ref.zarr"
    rec = {"input": {"path": str(tiny_map_store)}, "decompose": {"preset": "cspbbr3-633"}, "output": {"path": str(out)}}
    return hyperspec.open(hyperspec.pipeline.run_recipe(rec, backend="numpy", progress=False)).compute()


def _assert_same_results(res, expected):
    for name in ("aspl_area", "aspl_peak_ev", "lers_temperature_k", "chi2_red", "status"):
        np.testing.assert_array_equal(res[name].values, expected[name].values, err_msg=name)


def _add_map(viewer, ds, path):
    layers = [viewer.add_layer(Layer.create(*t)) for t in map_layers(ds, path)]
    return layers[0]  # the visible quick-look


def _widget(make_napari_viewer, qtbot, map_store, *, in_memory=False):
    viewer = make_napari_viewer()
    if in_memory:  # a map known only as a Dataset (no path)
        quicklook = _add_map(viewer, hyperspec.open(map_store).compute(), None)
    else:  # through the plugin's reader, as a user opens it
        quicklook = viewer.open(str(map_store), plugin="napari-hyperspec")[0]
        assert quicklook.metadata["hyperspec"]["role"] == "quicklook"
    widget = RunWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Run decomposition")
    assert widget.map_combo.count() == 1 and widget.selected_map() is quicklook  # one entry per map (not per quick-look)
    widget.backend_combo.setCurrentText("numpy")
    widget.chunk_spin.setValue(SHAPE[1])
    widget.workers_spin.setValue(1)
    return viewer, widget


def _run(qtbot, widget):
    with qtbot.waitSignal(widget.run_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(widget.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.is_running(), timeout=RUN_TIMEOUT_MS)
    return blocker.args[0]


def _assert_layers_equal_store(viewer, out):
    res = hyperspec.open(out).compute()
    made = [la for la in viewer.layers if la.metadata.get("hyperspec", {}).get("role") in ("band", "status")]
    assert made, "no results layers"
    names = set()
    for layer in made:
        md = layer.metadata["hyperspec"]
        assert md["path"] == str(out)
        var = res[md["variable"]].transpose(*md["dims"])
        np.testing.assert_array_equal(np.asarray(layer.data), var.values, err_msg=md["variable"])
        names.add(md["variable"])
    assert {"aspl_area", "chi2_red", "status"} <= names
    return res


def test_run_a_preset_and_its_layers_equal_the_results_store(make_napari_viewer, qtbot, tiny_map_store, tmp_path, reference_results):
    viewer, widget = _widget(make_napari_viewer, qtbot, tiny_map_store)
    out = tmp_path / "results.zarr"
    widget.output_edit.setText(str(out))
    seen = []
    bands = lambda: sum(la.metadata["hyperspec"].get("role") == "band" for la in viewer.layers)  # noqa: E731
    widget.progressed.connect(lambda ev: seen.append((ev, bands())))
    outcome = _run(qtbot, widget)
    assert outcome.status == "done" and outcome.output == str(out), outcome.message
    assert widget.message_label.text().startswith(f"done: {out} (24 px in ")
    assert widget.progress_bar.value() == widget.progress_bar.maximum()
    assert "4/4 chunks | 100% |" in widget.rate_label.text() and "px/s | ETA 0.0 s" in widget.rate_label.text()
    # one progress event per chunk, in order, and the results layers were there from the first chunk on
    assert [ev.chunks_done for ev, _ in seen] == [1, 2, 3, 4]
    assert [ev.pixels_done for ev, _ in seen] == [6, 12, 18, 24]
    assert seen[0][1] >= 3 and [n for _, n in seen] == [seen[0][1]] * 4  # the same layers, refreshed
    assert store_info(out)["complete"]
    res = _assert_layers_equal_store(viewer, out)
    _assert_same_results(res, reference_results)
    # stacked as the reader stacks them: the outcome's order, the status labels on top
    stacked = [la.metadata["hyperspec"]["variable"] for la in viewer.layers if la.metadata["hyperspec"]["role"] in ("band", "status")]
    assert stacked[-len(outcome.layers) :] == [meta["metadata"]["hyperspec"]["variable"] for _, meta, _ in outcome.layers]
    assert stacked[-1] == "status" and viewer.layers[-1].metadata["hyperspec"]["variable"] == "status"
    assert res.attrs["runs"][-1]["pixels"] == 24 and res.attrs["runs"][-1]["backend"] == "numpy"
    # a second click on a complete store changes nothing (the library's "nothing to do") and keeps the same layers
    n_layers = len(viewer.layers)
    again = _run(qtbot, widget)
    assert again.status == "done" and len(viewer.layers) == n_layers
    assert len(hyperspec.open(out).attrs["runs"]) == 1


def test_a_bad_recipe_or_map_shows_the_librarys_one_line_error(make_napari_viewer, qtbot, tiny_map_store, tmp_path, monkeypatch):
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    viewer, widget = _widget(make_napari_viewer, qtbot, tiny_map_store)
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[input]\npath = "{tiny_map_store}"\n[decompose]\npreset = "cspbbr3-633"\nmax_iters = 5\n[output]\npath = "o.zarr"\n')
    with pytest.raises(hyperspec.RecipeError) as info:
        load_recipe(bad)
    expected = one_line(info.value)
    assert "max_iters" in expected and "max_iter" in expected
    widget.source_combo.setCurrentText("Recipe file")
    widget.file_edit.setText(str(bad))
    widget.output_edit.setText(str(tmp_path / "o.zarr"))
    outcome = _run(qtbot, widget)
    assert outcome.status == "error" and outcome.message == expected
    assert widget.message_label.text() == expected and "\n" not in expected and "Traceback" not in expected
    assert shown == [expected]
    assert widget.run_button.isEnabled() and not widget.cancel_button.isEnabled()
    assert not (tmp_path / "o.zarr").exists()

    # an unreadable map: the layer's path is gone
    gone = tmp_path / "gone.zarr"
    _add_map(viewer, hyperspec.open(tiny_map_store), gone)
    widget.map_combo.setCurrentIndex(1)
    assert widget.selected_map().metadata["hyperspec"]["path"] == str(gone)
    widget.source_combo.setCurrentText("Preset")
    outcome = _run(qtbot, widget)
    assert outcome.status == "error" and str(gone) in outcome.message and "\n" not in outcome.message
    assert shown[-1] == outcome.message == widget.message_label.text()

    # no map layer at all
    viewer.layers.clear()
    widget.run_button.click()
    assert widget.message_label.text().startswith("no map layer") and not widget.is_running()


def test_a_model_file_on_a_map_in_memory_gives_the_presets_results(make_napari_viewer, qtbot, tiny_map_store, tmp_path, reference_results):
    from hyperspec.fit.model_spec import build_model_spec, model_to_toml

    assert model_files_supported()
    viewer, widget = _widget(make_napari_viewer, qtbot, tiny_map_store, in_memory=True)
    widget.chunk_spin.setValue(0)  # the library's chunking
    model = tmp_path / "model.toml"
    model.write_text(model_to_toml(build_model_spec("cspbbr3-633")))  # the preset as a model file
    widget.source_combo.setCurrentText("Model file")
    widget.file_edit.setText(str(model))
    outcome = _run(qtbot, widget)
    assert outcome.status == "done", outcome.message
    # the map was saved to a temporary store first; the default output is beside it, shown for the next run
    saved = hyperspec.open(outcome.output).attrs["recipe"]
    assert "napari-hyperspec-" in outcome.output and "napari-hyperspec-" in saved and outcome.output.endswith("results.zarr")
    assert widget.output_edit.text() == outcome.output
    _assert_same_results(_assert_layers_equal_store(viewer, outcome.output), reference_results)


def test_cancel_midway_keeps_the_viewer_responsive_and_the_next_run_resumes(
    make_napari_viewer, qtbot, tiny_map_store, tmp_path, monkeypatch, reference_results
):
    viewer, widget = _widget(make_napari_viewer, qtbot, tiny_map_store)
    out = tmp_path / "results.zarr"
    widget.output_edit.setText(str(out))
    # the second chunk waits until the test lets it go, so the run is still cancelling while the GUI is checked
    entered, release = threading.Event(), threading.Event()
    original = run_module._process_chunk

    def gated(recipe, plan, k, out_path):
        if k >= 1:
            entered.set()
            assert release.wait(RUN_TIMEOUT_MS / 1000)
        return original(recipe, plan, k, out_path)

    monkeypatch.setattr(run_module, "_process_chunk", gated)
    events = []

    def cancel_on_first(ev):
        events.append(ev)
        if len(events) == 1:
            assert entered.wait(60)  # the second chunk is running
            widget.cancel_button.click()  # from the first chunk's progress

    widget.progressed.connect(cancel_on_first)
    qtbot.mouseClick(widget.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(events) == 1, timeout=RUN_TIMEOUT_MS)
    assert widget.is_running() and not widget.cancel_button.isEnabled() and widget.message_label.text().startswith("cancelling")
    # the first chunk's layers are already shown
    first = next(la for la in viewer.layers if la.metadata["hyperspec"].get("variable") == "aspl_area")
    # the viewer stays responsive while the run is cancelling: a timer fires, a click toggles a box, a layer is added
    fired = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: fired == [True], timeout=5000)
    qtbot.mouseClick(widget.overwrite_check, Qt.MouseButton.LeftButton)
    assert widget.overwrite_check.isChecked()
    qtbot.mouseClick(widget.overwrite_check, Qt.MouseButton.LeftButton)
    assert not widget.overwrite_check.isChecked()
    viewer.add_points(np.zeros((1, 2)), name="click")
    assert widget.is_running()  # all of it while the run was still cancelling

    with qtbot.waitSignal(widget.run_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        release.set()
    qtbot.waitUntil(lambda: not widget.is_running(), timeout=RUN_TIMEOUT_MS)
    outcome = blocker.args[0]
    assert outcome.status == "cancelled"
    assert outcome.message.startswith(f"run cancelled: 2 of 4 chunks of {out} written") and widget.message_label.text() == outcome.message
    flags = np.asarray(zarr.open_array(str(out / DONE), mode="r")[:], dtype=bool)
    assert flags.tolist() == [True, True, False, False]  # the running chunk finished; the queued ones never started
    assert not store_info(out)["complete"]
    partial = hyperspec.open(out, allow_incomplete=True).compute()
    np.testing.assert_array_equal(np.asarray(first.data)[:2], partial["aspl_area"].values[:2])

    resumed = _run(qtbot, widget)  # the same settings: the library resumes the partial store
    assert resumed.status == "done", resumed.message
    runs = hyperspec.open(out).attrs["runs"]
    assert runs[-1]["resumed"] is True and runs[-1]["pixels"] == 2 * SHAPE[1]
    assert [e.chunks_done for e in events[-2:]] == [3, 4]
    res = _assert_layers_equal_store(viewer, out)
    np.testing.assert_array_equal(res["aspl_area"].values[:2], partial["aspl_area"].values[:2])
    _assert_same_results(res, reference_results)  # cancelled + resumed = one uninterrupted run
    assert first in viewer.layers and np.isfinite(np.asarray(first.data)).all()  # the same layer, filled in


def test_build_recipe_from_the_widgets_choices(tiny_map_store, tmp_path):
    from napari_hyperspec._run_widget import RunRequest, build_recipe, default_output

    ds = hyperspec.open(tiny_map_store)
    preset = build_recipe(RunRequest(str(tiny_map_store), ds, preset="carbon", backend="numpy", chunk_pixels=64), str(tiny_map_store))
    assert preset["decompose"] == {"preset": "carbon"}
    assert preset["output"]["path"] == default_output(str(tiny_map_store)) == str(tiny_map_store.parent / "map_results.zarr")
    assert preset["compute"] == {"backend": "numpy", "chunk_pixels": 64}  # workers 0: the library's default
    assert preset["input"] == {"path": str(tiny_map_store)}  # a store knows its laser
    # a recipe file: its steps and compute settings stay, its input and output are the widget's
    text = '[input]\npath = "elsewhere.zarr"\n[[preprocess]]\nstep = "remove_spikes"\n[decompose]\npreset = "cspbbr3-633"\n'
    text += '[output]\npath = "there.zarr"\n[compute]\nworkers = 3\n'
    (tmp_path / "r.toml").write_text(text)
    out = str(tmp_path / "o.zarr")
    req = RunRequest(str(tiny_map_store), ds, source="Recipe file", file=str(tmp_path / "r.toml"), output=out, backend="")
    rec = build_recipe(req, str(tiny_map_store))
    assert rec["input"]["path"] == str(tiny_map_store) and rec["output"]["path"] == str(tmp_path / "o.zarr")
    assert rec["preprocess"] == [{"step": "remove_spikes"}] and rec["compute"]["workers"] == 3 and "backend" not in rec["compute"]
    # a model file by its absolute path; an instrument file's map brings the laser it was opened with
    model = build_recipe(RunRequest("scan.txt", ds, source="Model file", file="m.toml"), "scan.txt")
    assert model["decompose"] == {"model": str((Path.cwd() / "m.toml").resolve())}
    assert model["input"] == {"path": "scan.txt", "laser_nm": float(ds.attrs["laser_nm"])}
    with pytest.raises(hyperspec.RecipeError, match="choose a recipe file"):
        build_recipe(RunRequest(str(tiny_map_store), ds, source="Recipe file"), str(tiny_map_store))
