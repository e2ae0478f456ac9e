"""Spectrum inspector in a real napari viewer: plotted curves and table against the engine at a pixel."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
from napari_hyperspec._inspector import PIN_COLORS, PINS_METADATA_KEY, SpectrumInspector
from napari_hyperspec._layers import find_map, map_layers, results_layers

from hyperspec.axes import convert_axis
from hyperspec.fit.decompose import fitted_components

RTOL = 1e-9


def _grid(ds):
    """Scale and translate (µm) of the y/x grid."""
    y, x = ds["y"].values, ds["x"].values
    return (float(y[1] - y[0]), float(x[1] - x[0])), (float(y[0]), float(x[0]))


def _add_layers(viewer, data, results):
    """The plugin's own layers (N1's ``map_layers``/``results_layers``, metadata per the contract)."""
    tuples = map_layers(data) if data is not None else []
    if results is not None:
        tuples += results_layers(results, map_ds=data, variables=["chi2_red", "status"])
    return [getattr(viewer, f"add_{kind}")(array, **kwargs) for array, kwargs, kind in tuples]


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _open_inspector(viewer) -> SpectrumInspector:
    _, widget = viewer.window.add_plugin_dock_widget("napari-hyperspec", "Spectrum inspector")
    assert isinstance(widget, SpectrumInspector)
    return widget


def _world(ds, i, j, viewer):
    """A world point inside pixel (i, j), a bit off its centre (µm); leading axes at 0 (the dims step rules)."""
    (dy, dx), _ = _grid(ds)
    lead = (0.0,) * (viewer.dims.ndim - 2)
    return (*lead, float(ds["y"].values[i]) + 0.3 * dy, float(ds["x"].values[j]) - 0.2 * dx)


def _assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * np.nanmax(np.abs(expected)), equal_nan=True)


def _check_curves(widget, comps, prefix=""):
    curves = widget.spectrum_panel.curves()
    shift = comps["shift"].values
    terms = json.loads(widget._source.results.attrs["model"])["terms"]
    for name in ("data", "model", *terms):
        x, y = curves[f"{prefix}{name}"]
        np.testing.assert_array_equal(x, shift)
        _assert_close(y, comps[name].values)
    x, y = widget.residual_panel.curves()[f"{prefix}residual"]
    np.testing.assert_array_equal(x, shift)
    _assert_close(y, comps["residual"].values)


@pytest.fixture
def map_and_results(small_map_ds, small_results_ds):
    return small_map_ds, small_results_ds


def test_cursor_pixel_matches_engine(make_napari_viewer, map_and_results, qtbot):
    data, results = map_and_results
    viewer = make_napari_viewer()
    _add_layers(viewer, data, results)
    widget = _open_inspector(viewer)
    i, j = 7, 11
    viewer.cursor.position = _world(data, i, j, viewer)
    assert widget.inspect() == {"y": i, "x": j}
    comps = fitted_components(results, data, y=i, x=j)
    terms = json.loads(results.attrs["model"])["terms"]
    assert {"aspl", "lers", "hers", "baseline"} <= set(terms)
    _check_curves(widget, comps)
    assert list(widget.spectrum_panel.curves()) == ["data", "model", *terms]
    # the table: status name, χ²_red and every fitted value with its standard error
    px = results.isel(y=i, x=j).compute()
    names = json.loads(results.attrs["status_codes"])
    table = widget.table_values
    assert table["status"][0] == names[str(int(px["status"]))]
    assert table["chi2_red"][0] == pytest.approx(float(px["chi2_red"]), rel=1e-12)
    assert table["n_iter"][0] == int(px["n_iter"])
    for name in ("aspl_area", "aspl_peak_ev", "lers_temperature_k", "hers_area", "baseline_c0"):
        value, err, unit = table[name]
        assert value == float(px[name]) or (np.isnan(value) and np.isnan(float(px[name])))
        assert err == float(px[f"{name}_stderr"]) or (np.isnan(err) and np.isnan(float(px[f"{name}_stderr"])))
        assert unit == px[name].attrs.get("units", "")
    assert not any(k.endswith("_stderr") for k in table)
    assert widget.table.rowCount() == len(table)
    assert widget.table.item(0, 1).text() == table["status"][0]
    # the spectral axis: nm / cm-1 / eV through convert_axis, for the cursor pixel and a pin
    viewer.cursor.position = _world(data, 4, 6, viewer)
    widget.inspect()
    widget.pin(_world(data, 0, 0, viewer))
    shift = data["shift"].values
    laser = data.attrs["laser_nm"]
    for unit in ("eV", "nm", "cm-1"):
        widget.set_axis_unit(unit)
        expected = convert_axis(shift, "cm-1", unit, laser_nm=laser)
        for name, (x, _) in (*widget.spectrum_panel.curves().items(), *widget.residual_panel.curves().items()):
            np.testing.assert_array_equal(x, expected, err_msg=f"{unit}: {name}")
    widget.set_axis_unit("eV")
    np.testing.assert_allclose(widget.spectrum_panel.curves()["model"][0], data["energy"].values, rtol=1e-9)
    assert widget.spectrum_panel.plot_item.getAxis("bottom").labelText == "Energy (eV)"
    with pytest.raises(ValueError, match="'Hz'"):
        widget.set_axis_unit("Hz")
    widget.clear_pins()
    widget.set_axis_unit("cm-1")
    # hover: a burst of mouse moves gives one update after the throttle interval; row 10's results
    # block is not read yet: the worker thread reads it, then the fit is drawn
    assert widget._results_pixel(widget._source, {"y": 10, "x": 4}, read=False) is None
    for j in range(5):
        viewer.cursor.position = _world(data, 10, j, viewer)
        widget._on_mouse_move(SimpleNamespace(position=viewer.cursor.position))
    qtbot.waitUntil(lambda: widget.shown == {"y": 10, "x": 4} and "model" in widget.spectrum_panel.curves(), timeout=10000)
    assert widget.current == {"y": 10, "x": 4}
    _check_curves(widget, fitted_components(results, data, y=10, x=4))
    # outside the map: nothing of the cursor pixel is drawn
    viewer.cursor.position = tuple(0.0 for _ in viewer.cursor.position[:-2]) + (-50.0, -50.0)
    assert widget.inspect() is None
    assert widget.spectrum_panel.curves() == {} and widget.table_values == {}


def test_pins_overlay_points_layer_and_removal(make_napari_viewer, map_and_results, tmp_path):
    data, results = map_and_results
    viewer = make_napari_viewer()
    _add_layers(viewer, data, results)
    widget = _open_inspector(viewer)
    widget.inspect(_world(data, 3, 3, viewer))
    widget.hover_check.setChecked(False)  # the cursor pixel goes, pins stay
    assert widget.current is None and widget.spectrum_panel.curves() == {}
    assert widget.pin(_world(data, 1, 2, viewer)) == {"y": 1, "x": 2}
    # a click without dragging pins through the viewer's mouse callback; a drag does not
    on_drag = widget._callbacks[1]
    event = SimpleNamespace(type="mouse_press", button=1, position=_world(data, 9, 14, viewer))
    gen = on_drag(viewer, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    event = SimpleNamespace(type="mouse_press", button=1, position=_world(data, 5, 5, viewer))
    gen = on_drag(viewer, event)
    next(gen)
    event.type = "mouse_move"
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert [p.spatial for p in widget.pins] == [{"y": 1, "x": 2}, {"y": 9, "x": 14}]
    curves = widget.spectrum_panel.curves()
    assert list(curves) == ["P1 data", "P1 model", "P2 data", "P2 model"]
    for label, (i, j) in (("P1", (1, 2)), ("P2", (9, 14))):
        comps = fitted_components(results, data, y=i, x=j)
        _assert_close(curves[f"{label} data"][1], comps["data"].values)
        _assert_close(curves[f"{label} model"][1], comps["model"].values)
        _assert_close(widget.residual_panel.curves()[f"{label} residual"][1], comps["residual"].values)
    items = {item.name(): item for item in widget.spectrum_panel.plot_item.listDataItems()}
    assert items["P1 data"].opts["pen"].color().name() == PIN_COLORS[0]
    assert items["P2 model"].opts["pen"].color().name() == PIN_COLORS[1]
    # the table shows the last pinned pixel when the cursor is not followed
    assert widget.table_values["chi2_red"][0] == pytest.approx(float(results["chi2_red"][9, 14]), rel=1e-12)
    # pins as a Points layer at the pixel centres (µm)
    pins = [layer for layer in viewer.layers if layer.metadata.get(PINS_METADATA_KEY)]
    assert len(pins) == 1
    expected = [[data["y"].values[1], data["x"].values[2]], [data["y"].values[9], data["x"].values[14]]]
    np.testing.assert_allclose(pins[0].data, expected)
    assert list(pins[0].features["label"]) == ["P1", "P2"]
    # exports: the plotted data as CSV (shared shift column), the table as CSV
    header, *rows = _read_csv(widget.spectrum_panel.export_csv(tmp_path / "spectra.csv"))
    assert header == ["Raman shift (cm⁻¹)", "P1 data", "P1 model", "P2 data", "P2 model"]
    columns = np.array(rows, dtype=float).T
    np.testing.assert_array_equal(columns[0], data["shift"].values)
    np.testing.assert_array_equal(columns[3], curves["P2 data"][1])
    header, *rows = _read_csv(widget.export_table_csv(tmp_path / "table.csv"))
    assert header == ["quantity", "value", "stderr", "unit"]
    table = {r[0]: r for r in rows}
    assert table["status"][1] == widget.table_values["status"][0]
    assert float(table["aspl_area"][1]) == float(results["aspl_area"][9, 14])
    assert float(table["aspl_area"][2]) == float(results["aspl_area_stderr"][9, 14])
    widget.remove_pin("P1")
    assert list(widget.spectrum_panel.curves()) == ["P2 data", "P2 model"]
    np.testing.assert_allclose(pins[0].data, expected[1:])
    widget.clear_pins()
    assert widget.spectrum_panel.curves() == {} and len(pins[0].data) == 0


def test_map_alone_and_results_alone(make_napari_viewer, map_and_results):
    data, results = map_and_results
    viewer = make_napari_viewer()
    _add_layers(viewer, data, None)
    widget = _open_inspector(viewer)
    assert "No results" in widget.message.text()
    viewer.cursor.position = _world(data, 3, 3, viewer)
    widget.inspect()
    curves = widget.spectrum_panel.curves()
    assert list(curves) == ["data"] and widget.residual_panel.curves() == {}
    np.testing.assert_array_equal(curves["data"][0], data["shift"].values)
    np.testing.assert_array_equal(curves["data"][1], data["spectra"].values[3, 3].astype(float))
    viewer.layers.clear()
    assert "Open a hyperspec map" in widget.message.text()
    results = results.copy()
    results.attrs = {k: v for k, v in results.attrs.items() if k not in ("recipe", "source", "input")}
    assert find_map(results) is None
    _add_layers(viewer, None, results)
    assert "map of these results was not found" in widget.message.text()
    widget.inspect(_world(results, 3, 3, viewer))
    assert widget.spectrum_panel.curves() == {}
    assert widget.table_values["aspl_area"][0] == float(results["aspl_area"][3, 3])


def test_kinetic_results_follow_dims_step(make_napari_viewer, kinetic_map_ds, kinetic_results_ds):
    data, results = kinetic_map_ds, kinetic_results_ds
    assert results["status"].dims == ("t", "y", "x")
    viewer = make_napari_viewer()
    layers = _add_layers(viewer, data, results)
    widget = _open_inspector(viewer)
    t_axis = viewer.dims.ndim - 3  # world axes: (spectral, t, y, x) with the hidden cube
    viewer.dims.set_current_step(t_axis, 5)
    viewer.cursor.position = _world(data, 2, 3, viewer)  # t comes from the dims step
    assert widget.inspect() == {"t": 5, "y": 2, "x": 3}
    _check_curves(widget, fitted_components(results, data, t=5, y=2, x=3))
    widget.pin(_world(data, 4, 1, viewer))
    viewer.dims.set_current_step(t_axis, 9)  # a dims step re-reads the cursor pixel and the pins
    assert widget.current == {"t": 9, "y": 2, "x": 3}
    _check_curves(widget, fitted_components(results, data, t=9, y=2, x=3))
    comps = fitted_components(results, data, t=9, y=4, x=1)
    _assert_close(widget.spectrum_panel.curves()["P1 model"][1], comps["model"].values)
    assert widget.table_values["chi2_red"][0] == pytest.approx(float(results["chi2_red"][9, 2, 3]), rel=1e-12)
    # the hidden cube (spectral, t, y, x) as the reference layer maps the cursor to the same pixel
    cube = next(layer for layer in layers if layer.metadata["hyperspec"]["role"] == "cube")
    viewer.layers.selection.active = cube
    assert widget.inspect(_world(data, 5, 7, viewer)) == {"t": 9, "y": 5, "x": 7}
    assert widget._source.layer is cube
    _check_curves(widget, fitted_components(results, data, t=9, y=5, x=7))


def test_hover_draws_the_spectrum_first_from_a_sharded_store(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """A hovered pixel of a store-backed map: its one spectrum is read alone (one inner chunk of a shard) and drawn,
    the chunk block follows in the background; a slow read clears the old pixel's curves after SLOW_READ_MS."""
    import time  # noqa: PLC0415

    from napari_hyperspec import _inspector  # noqa: PLC0415

    import hyperspec  # noqa: PLC0415

    rng = np.random.default_rng(3)
    values = rng.poisson(400, (64, 32, 48)).astype(np.float32)
    path = hyperspec.save(
        hyperspec.from_array(values, np.linspace(-150, 2400, 48), laser_nm=532.0, pixel_size_um=0.5),
        tmp_path / "m.zarr",
        chunks={"y": 32, "x": 32},
        progress=False,
    )
    data = hyperspec.open(path)
    viewer = make_napari_viewer()
    _add_layers(viewer, data, None)
    widget = _open_inspector(viewer)
    src = widget._source
    assert src.map is not None and src.results is None

    def hover(i, j):
        viewer.cursor.position = _world(data, i, j, viewer)
        widget._on_mouse_move(SimpleNamespace(position=viewer.cursor.position))

    def shows(i, j):
        c = widget.spectrum_panel.curves()
        return "data" in c and np.array_equal(c["data"][1], values[i, j].astype(float))

    # the read-ahead of the chunk block held back (it races the spectrum thread): the spectrum alone is drawn
    monkeypatch.setattr(widget, "_prefetch", lambda *a: None)
    hover(40, 7)
    qtbot.waitUntil(lambda: shows(40, 7), timeout=10000)
    assert (("x", 7), ("y", 40)) in src.map_pixels  # read on its own
    assert widget._map_block(src, {"y": 40, "x": 7}, read=False) is None  # its 32×32 chunk block not read
    monkeypatch.undo()
    widget._prefetch(src, {"y": 40, "x": 7}, widget._wanted)  # the read-ahead then reads the block
    np.testing.assert_array_equal(widget._map_block(src, {"y": 40, "x": 7}, read=False)["spectra"].values, values[40, 7])
    # a slow read: the previous pixel's curves go once SLOW_READ_MS has passed, the new spectrum follows
    slow = widget._map_spectrum

    def slow_read(*args):
        time.sleep(3 * _inspector.SLOW_READ_MS / 1e3)
        return slow(*args)

    monkeypatch.setattr(widget, "_map_spectrum", slow_read)
    monkeypatch.setattr(widget, "_prefetch", lambda *a: None)  # no chunk block read ahead to draw from meanwhile
    hover(3, 30)
    qtbot.waitUntil(lambda: "data" not in widget.spectrum_panel.curves(), timeout=10000)
    assert widget.current == {"y": 3, "x": 30} and widget.shown is None
    qtbot.waitUntil(lambda: shows(3, 30), timeout=10000)
