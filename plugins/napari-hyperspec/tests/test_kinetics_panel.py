"""The Kinetics panel in a real napari viewer, against hyperspec.kinetics and hyperspec.spatial computed here."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Shapes
from napari_hyperspec._kinetics_panel import KineticsPanel, series_variables
from napari_hyperspec._layers import results_layers
from napari_hyperspec._sample_data import make_kinetic_map

from hyperspec import kinetics, synthetic
from hyperspec.spatial import region_mean

SAMPLE = {"n_frames": 24, "shape": (6, 6), "n_spectral": 256, "seed": 0}  # make_kinetic_map's defaults
WAIT_MS = 20000


@pytest.fixture(scope="module")
def kinetic_sample():
    """The kinetic sample's layer tuples, its results Dataset and the generator's true blinking periods (s)."""
    tuples = make_kinetic_map(**SAMPLE)
    results = next(kw["metadata"]["hyperspec"]["results"] for _, kw, _ in tuples if kw["metadata"]["hyperspec"].get("results") is not None)
    _, truth = synthetic.kinetic_map(SAMPLE["n_frames"], SAMPLE["shape"], n_spectral=SAMPLE["n_spectral"], seed=SAMPLE["seed"])
    return tuples, results, truth.attrs["blink_periods_s"]


def _add(viewer, tuples):
    for data, kwargs, kind in tuples:
        getattr(viewer, f"add_{kind}")(data, **kwargs)


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-hyperspec", "Kinetics")
    return widget


def _update(qtbot, widget):
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget.update_plots()
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=WAIT_MS)


def _world(results, pixel):
    """A pixel's centre in world coordinates (µm), from the results' own coordinates."""
    return np.array([float(results["y"][pixel["y"]]), float(results["x"][pixel["x"]])])


def test_pixel_traces_autocorrelation_periods_and_lag(make_napari_viewer, qtbot, kinetic_sample):
    tuples, results, true_periods = kinetic_sample
    viewer = make_napari_viewer()
    _add(viewer, tuples)
    widget = _dock(viewer)
    assert isinstance(widget, KineticsPanel)
    assert widget.grid_combo.layer() is not None and "lers_area" in series_variables(results)
    assert "computing" not in widget.message.text() and "Click a pixel" in widget.message.text()
    widget.set_variables("lers_area", "aspl_area")
    pixel = {"y": 2, "x": 3}
    # a point (e.g. the inspector's pins) picks the pixel under it
    viewer.add_points([_world(results, pixel) + 0.1], name="pins")
    widget.points_combo.set_layer(viewer.layers["pins"])
    _update(qtbot, widget)
    assert widget.pixel == pixel

    a = results["lers_area"].isel(pixel)
    b = results["aspl_area"].isel(pixel)
    curves = widget.trace_panel.curves()
    assert list(curves) == ["lers_area", "aspl_area"]
    np.testing.assert_array_equal(curves["lers_area"][0], results["t"].values)
    np.testing.assert_array_equal(curves["lers_area"][1], a.values)
    np.testing.assert_array_equal(curves["aspl_area"][1], b.values)

    acf = kinetics.autocorrelation(a)
    x, y = widget.acf_panel.curves()["lers_area"]
    np.testing.assert_array_equal(x, acf["lag"].values)
    np.testing.assert_allclose(y, acf.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(widget.acf_panel.curves()["aspl_area"][1], kinetics.autocorrelation(b).values, rtol=1e-12, atol=1e-12)

    per = kinetics.periods(a)
    expected = per["period_s"].values[np.isfinite(per["period_s"].values)]
    assert expected.size >= 1
    marked = [pos for name, pos, _ in widget.period_lines if name == "lers_area"]
    assert marked[0] == pytest.approx(expected[0], rel=1e-12)  # the first mark: the strongest period itself
    assert [line.value() for _, _, line in widget.period_lines] == pytest.approx([pos for _, pos, _ in widget.period_lines])
    assert expected[0] == pytest.approx(true_periods["lers"][0], abs=0.05)  # the generator's lers blinking period, 1.5 s
    table = widget.periods_table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "lers_area")
    assert table.item(row, 1).data(256) == pytest.approx(expected[0], rel=1e-12)  # Qt.UserRole: the full-precision value
    assert table.item(row, 2).data(256) == pytest.approx(float(per["period_s_stderr"].values[0]), rel=1e-12)

    xc = kinetics.cross_correlation(a, b)
    curve = kinetics.cross_correlation_curve(a, b)
    ((xx, xy),) = widget.xcorr_panel.curves().values()
    np.testing.assert_array_equal(xx, curve["lag"].values)
    np.testing.assert_allclose(xy, curve.values, rtol=1e-12, atol=1e-12)
    assert widget.lag_line.value() == pytest.approx(float(xc["lag_s"].values), rel=1e-12)
    assert f"lag {float(xc['lag_s'].values):.2f}"[:8] in widget.xcorr_label.text()
    assert "aspl_area after lers_area" in widget.xcorr_label.text()

    # a click position picks another pixel; B off: one trace, no cross-correlation
    other = {"y": 4, "x": 1}
    widget.b_combo.setCurrentText("(none)")
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        assert widget.pick(_world(results, other)) == other
    qtbot.waitUntil(lambda: not widget.is_busy(), timeout=WAIT_MS)
    _update(qtbot, widget)  # (the combo's debounced update may land after the pick's: this one is the last)
    assert widget.pixel == other
    assert list(widget.trace_panel.curves()) == ["lers_area"]
    np.testing.assert_array_equal(widget.trace_panel.curves()["lers_area"][1], results["lers_area"].isel(other).values)
    assert widget.xcorr_panel.curves() == {} and widget.xcorr_label.text() == ""
    assert widget.pick([100.0, 100.0]) is None  # outside the map


def test_region_mean_trace(make_napari_viewer, qtbot, kinetic_sample):
    _, results, _ = kinetic_sample
    viewer = make_napari_viewer()
    _add(viewer, results_layers(results, variables=["aspl_area"]))  # one band map is enough for the grid
    rect = np.array([[0.4, 0.6], [0.4, 2.1], [1.9, 2.1], [1.9, 0.6]])  # µm
    shapes = viewer.add_shapes([rect], shape_type="rectangle", name="roi")
    widget = KineticsPanel(viewer)  # constructible from a script, as docked
    widget.set_variables("aspl_area", "lers_area")
    widget.set_mode("region")
    widget.regions_combo.set_layer(shapes)
    _update(qtbot, widget)
    # the region's mask, independently: the rectangle in the results' pixels, rasterised by Shapes.to_labels
    (dy, dx), (y0, x0) = (0.5, 0.5), (float(results["y"][0]), float(results["x"][0]))
    mask = Shapes([(rect - [y0, x0]) / [dy, dx]], shape_type="rectangle").to_labels(labels_shape=(6, 6)) == 1
    assert 4 <= mask.sum() < 36
    values = np.asarray(results["aspl_area"].values, dtype=float)
    np.testing.assert_allclose(widget.trace_panel.curves()["aspl_area"][1], np.nanmean(values[:, mask], axis=1), rtol=1e-12)
    mean = region_mean(results["lers_area"], results["status"].isel(t=0).copy(data=mask.astype(int)), background=0).isel(region=0)
    np.testing.assert_allclose(widget.trace_panel.curves()["lers_area"][1], mean.values, rtol=1e-12)
    np.testing.assert_allclose(
        widget.acf_panel.curves()["lers_area"][1], kinetics.autocorrelation(mean.drop_vars("region")).values, rtol=1e-12, atol=1e-12
    )
    assert widget.region_combo.currentText() == "shape 1" and "shape 1" in widget.trace_panel.plot_item.titleLabel.text


def test_results_without_a_time_dim_show_a_message(make_napari_viewer, qtbot, kinetic_sample):
    _, results, _ = kinetic_sample
    frame = results.isel(t=0).drop_vars("t")  # a single frame: no series dim
    viewer = make_napari_viewer()
    _add(viewer, results_layers(frame, variables=["aspl_area"]))
    widget = _dock(viewer)
    _update(qtbot, widget)
    assert "no 't' dim" in widget.message.text() and "\n" not in widget.message.text()
    assert widget.trace_panel.curves() == {} and widget.result is None
    # a library error (a trace too short for a period search) is one line too, the rest still shown
    short = results.isel(t=slice(0, 10))
    viewer.layers.clear()
    _add(viewer, results_layers(short, variables=["aspl_area"]))
    widget.set_pixel({"y": 1, "x": 1})
    qtbot.waitUntil(lambda: not widget.is_busy() and widget.result is not None, timeout=WAIT_MS)
    _update(qtbot, widget)
    text = widget.message.text()
    assert "periods" in text and "Traceback" not in text and "\n" not in text
    assert widget.trace_panel.curves()["aspl_area"][1].size == 10 and "aspl_area" in widget.acf_panel.curves()
