"""Regions and line profiles in a real napari viewer, against independent NumPy / library computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from napari.layers import Shapes
from napari_hyperspec._layers import main_variables, map_layers, results_layers
from napari_hyperspec._regions import LineProfileWidget, RegionsWidget

from hyperspec.spatial import line_profile

VARIABLES = ["aspl_area", "lers_area", "aspl_peak_ev", "chi2_red", "status"]


def _grid(ds):
    y, x = ds["y"].values, ds["x"].values
    return np.array([y[1] - y[0], x[1] - x[0]]), np.array([y[0], x[0]])


def _to_pixels(ds, world):
    """World (µm) → (row, column) pixels of the map, computed here from the map's coordinates."""
    scale, origin = _grid(ds)
    return (np.asarray(world, dtype=float) - origin) / scale


def _add(viewer, data, results, variables=VARIABLES):
    tuples = map_layers(data) if data is not None else []
    if results is not None:
        tuples += results_layers(results, map_ds=data, variables=variables)
    return {kw["name"]: getattr(viewer, f"add_{kind}")(array, **kw) for array, kw, kind in tuples}


def _layer_of(viewer, variable):
    return next(la for la in viewer.layers if la.metadata.get("hyperspec", {}).get("variable") == variable)


def _dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget("napari-hyperspec", name)
    return widget


# ---------------------------------------------------------------------------------------- line profiles
def test_line_profile_equals_library(make_napari_viewer, small_map_ds, small_results_ds):
    data, results = small_map_ds, small_results_ds
    viewer = make_napari_viewer()
    _add(viewer, data, results)
    (dy, dx), (y0, x0) = _grid(data)
    # a line across the glass–crystal boundary, in world coordinates (µm), not on pixel centres
    world = np.array([[1.3, 0.2], [4.1, 7.35]])
    # and a second one in a shapes layer with its own scale and translate (data → world through them)
    lines = viewer.add_shapes([world], shape_type="line", name="cut")
    other = viewer.add_shapes([(world[::-1] - [0.5, 1.0]) / 2.0], shape_type="line", scale=(2.0, 2.0), translate=(0.5, 1.0))
    viewer.add_shapes([[[0.0, 0.0], [2.0, 3.0]]], shape_type="rectangle", name="not a line")
    widget = _dock(viewer, "Line profile")
    assert isinstance(widget, LineProfileWidget)
    widget.band_combo.set_layer(_layer_of(viewer, "aspl_area"))
    for width in (1, 3):
        widget.lines_combo.set_layer(lines)
        widget.width_spin.setValue(width)
        widget.update_plots()
        start, end = _to_pixels(data, world)
        expected = line_profile(results["aspl_area"], tuple(start), tuple(end), width=width)
        ((x, y),) = widget.profile_panel.curves().values()
        np.testing.assert_allclose(y, expected.values, rtol=1e-6)  # napari transforms round at ~1e-7 px
        np.testing.assert_allclose(x, expected["distance"].values, rtol=1e-6)
        # distance in µm: the line's length in world units
        assert x[-1] == pytest.approx(np.hypot(*(world[1] - world[0])), rel=1e-6)
        assert expected["distance"].attrs["units"] == "um"
        assert (dy, dx) == (0.5, 0.5) and (y0, x0) == (0.0, 0.0)
        # the reversed line in the scaled/translated layer: the same profile backwards
        widget.lines_combo.set_layer(other)
        widget.update_plots()
        ((x2, y2),) = widget.profile_panel.curves().values()
        np.testing.assert_allclose(y2, expected.values[::-1], rtol=1e-6, atol=1e-6 * np.nanmax(np.abs(expected.values)))
    # CSV of the plotted profile
    assert widget.profile_panel.curves()["line 1"][0][-1] == pytest.approx(x[-1])


def test_line_profile_of_a_kinetic_frame(make_napari_viewer, kinetic_results_ds):
    results = kinetic_results_ds
    viewer = make_napari_viewer()
    _add(viewer, None, results, variables=["aspl_area"])
    world = [[0.4, 0.1], [2.2, 3.3]]
    viewer.add_shapes([[[5.0, *world[0]], [5.0, *world[1]]]], shape_type="line")
    viewer.dims.set_current_step(0, 5)
    widget = _dock(viewer, "Line profile")
    widget.update_plots()
    start, end = _to_pixels(results, world)
    expected = line_profile(results["aspl_area"].isel(t=5), tuple(start), tuple(end))
    ((x, y),) = widget.profile_panel.curves().values()
    np.testing.assert_allclose(y, expected.values, rtol=1e-6)  # napari transforms round at ~1e-7 px
    np.testing.assert_allclose(x, expected["distance"].values, rtol=1e-6)
    assert not np.allclose(y, line_profile(results["aspl_area"].isel(t=0), tuple(start), tuple(end)).values)


# ---------------------------------------------------------------------------------------- regions
def _masks(data, shapes_world, types, shape):
    """The regions' masks, independently: the world vertices in map pixels, rasterised by ``Shapes.to_labels``."""
    labels = Shapes([_to_pixels(data, v) for v in shapes_world], shape_type=types).to_labels(labels_shape=shape)
    return [labels == k + 1 for k in range(len(shapes_world))]


def test_region_spectra_and_table(make_napari_viewer, small_map_ds, small_results_ds, tmp_path):
    data, results = small_map_ds, small_results_ds
    viewer = make_napari_viewer()
    _add(viewer, data, results)
    rect = np.array([[0.6, 0.4], [0.6, 3.1], [3.4, 3.1], [3.4, 0.4]])  # µm
    poly = np.array([[2.0, 4.3], [5.4, 5.0], [4.1, 7.6], [1.2, 6.9]])
    shapes_world = [rect, poly]
    shapes = viewer.add_shapes(shapes_world, shape_type=["rectangle", "polygon"], name="regions")
    shapes.add_lines([[[0.0, 0.0], [5.0, 7.0]]])  # a line is a profile, not a region
    widget = _dock(viewer, "Regions")
    assert isinstance(widget, RegionsWidget)
    assert widget.regions_combo.layer() is shapes
    widget.update_plots()
    shape = (data.sizes["y"], data.sizes["x"])
    masks = _masks(data, shapes_world, ["rectangle", "polygon"], shape)
    assert all(m.sum() >= 6 for m in masks)
    np.testing.assert_array_equal(widget.labels, masks[0] * 1 + masks[1] * 2)
    spectra = np.asarray(data["spectra"].values, dtype=float)
    curves = widget.spectrum_curves = widget.spectra_panel.curves()
    assert list(curves) == ["shape 1", "shape 2"]
    for name, mask in zip(curves, masks, strict=True):
        x, y = curves[name]
        np.testing.assert_array_equal(x, data["shift"].values)
        np.testing.assert_allclose(y, np.nanmean(spectra[mask], axis=0), rtol=1e-6)
    # the table: n, mean, std, median of the converged pixels of each region
    frame = widget.table_frame
    ok = np.asarray(results["status"].values) == 0
    assert list(dict.fromkeys(frame["variable"])) == [v for v in main_variables(results) if v != "status"]
    assert {"aspl_area", "lers_area", "aspl_peak_ev", "chi2_red"} <= set(frame["variable"])
    for name, mask in zip(["shape 1", "shape 2"], masks, strict=True):
        for var in ("aspl_area", "aspl_peak_ev", "chi2_red"):
            row = frame[(frame["name"] == name) & (frame["variable"] == var)].iloc[0]
            v = np.asarray(results[var].values, dtype=float)[mask & ok]
            v = v[np.isfinite(v)]
            assert row["n"] == v.size and row["n_pixels"] == mask.sum()
            assert row["mean"] == pytest.approx(v.mean(), rel=1e-12)
            assert row["median"] == pytest.approx(np.median(v), rel=1e-12)
            assert row["std"] == pytest.approx(v.std(ddof=1), rel=1e-9)
            assert row["units"] == results[var].attrs.get("units", "")
    assert widget.table.rowCount() == len(frame)
    # CSV round trip: every value back at full precision
    path = widget.export_table_csv(tmp_path / "regions.csv")
    back = pd.read_csv(path, keep_default_na=False, na_values=["nan"])
    back["units"] = back["units"].astype(str)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    # all pixels (not only converged): n equals the region's pixel count where the values are finite
    widget.converged_check.setChecked(False)
    row = widget.table_frame.query("name == 'shape 1' and variable == 'aspl_area'").iloc[0]
    assert row["n"] == np.isfinite(np.asarray(results["aspl_area"].values)[masks[0]]).sum()


def test_labels_layer_regions(make_napari_viewer, small_map_ds, small_results_ds):
    data, results = small_map_ds, small_results_ds
    viewer = make_napari_viewer()
    layers = _add(viewer, data, results)
    ref = next(iter(layers.values()))
    paint = np.zeros((data.sizes["y"], data.sizes["x"]), dtype=np.int32)
    paint[2:6, 3:9] = 1
    paint[8:, 12:] = 4
    labels = viewer.add_labels(paint, scale=ref.scale, translate=ref.translate, name="painted")
    widget = _dock(viewer, "Regions")
    widget.regions_combo.set_layer(labels)
    widget.update_plots()
    spectra = np.asarray(data["spectra"].values, dtype=float)
    curves = widget.spectra_panel.curves()
    assert list(curves) == ["label 1", "label 4"]
    for name, value in (("label 1", 1), ("label 4", 4)):
        np.testing.assert_allclose(curves[name][1], np.nanmean(spectra[paint == value], axis=0), rtol=1e-6)
    # painting updates the regions (debounced)
    labels.data[0:2, 0:2] = 2
    labels.events.paint()
    widget.update_plots()
    assert list(widget.spectra_panel.curves()) == ["label 1", "label 2", "label 4"]
    # a labels layer on another grid: one clear message, nothing plotted
    viewer.add_labels(np.ones((3, 3), dtype=np.int32), name="coarse")
    widget.regions_combo.set_layer(viewer.layers["coarse"])
    widget.update_plots()
    assert "not on the map's grid" in widget.message.text() and widget.spectra_panel.curves() == {}


def test_kinetic_region_uses_the_current_frame(make_napari_viewer, kinetic_map_ds, kinetic_results_ds):
    data, results = kinetic_map_ds, kinetic_results_ds
    viewer = make_napari_viewer()
    _add(viewer, data, results, variables=["aspl_area", "status"])
    rect = np.array([[0.4, 0.6], [0.4, 2.6], [1.9, 2.6], [1.9, 0.6]])
    viewer.add_shapes([rect], shape_type="rectangle")
    viewer.dims.set_current_step(viewer.dims.ndim - 3, 7)  # the t axis (the hidden cube leads with its spectral axis)
    widget = _dock(viewer, "Regions")
    widget.update_plots()
    (mask,) = _masks(data, [rect], ["rectangle"], (data.sizes["y"], data.sizes["x"]))
    spectra = np.asarray(data["spectra"].isel(t=7).values, dtype=float)
    ((x, y),) = widget.spectra_panel.curves().values()
    np.testing.assert_allclose(y, np.nanmean(spectra[mask], axis=0), rtol=1e-6)
    row = widget.table_frame.query("variable == 'aspl_area'").iloc[0]
    v = np.asarray(results["aspl_area"].isel(t=7).values)[mask & (np.asarray(results["status"].isel(t=7).values) == 0)]
    assert row["mean"] == pytest.approx(np.nanmean(v), rel=1e-12)
