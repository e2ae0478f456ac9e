"""Band-map layers of results and maps (``napari_hyperspec._layers``) in a real viewer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from napari_hyperspec._layers import band_maps_widget, find_map, main_variables, map_layers, results_layers, rgb_composite_layer
from napari_hyperspec._status import status_names

import hyperspec
from hyperspec.bands.windows import quicklook
from hyperspec.report import color_limits, plottable_variables, rgb_composite


def _add(viewer, tuples):
    out = []
    for data, kwargs, kind in tuples:
        out.append(getattr(viewer, f"add_{kind}")(data, **kwargs))
    return out


def test_results_layers_in_viewer(make_napari_viewer, small_results_ds, small_results_store, small_map_store):
    viewer = make_napari_viewer()
    layers = _add(viewer, results_layers(small_results_ds, small_results_store))
    by_var = {ly.metadata["hyperspec"]["variable"]: ly for ly in layers}
    # the main quantities, all visible
    assert list(by_var) == main_variables(small_results_ds) and all(ly.visible for ly in layers)
    area = by_var["aspl_area"]
    assert area.name == "aspl_area [counts·cm⁻¹]" and area.colormap.name == "magma"
    np.testing.assert_array_equal(area.data, small_results_ds["aspl_area"].values)
    # robust limits: the 1st and 99th percentiles of the finite values
    finite = small_results_ds["aspl_area"].values[np.isfinite(small_results_ds["aspl_area"].values)]
    np.testing.assert_allclose(area.contrast_limits, np.percentile(finite, [1, 99]))
    # scale in µm from the coordinates (the generator's 0.5 µm pixels), units set
    assert area.scale.tolist() == [0.5, 0.5] and [str(u) for u in area.units] == ["micrometer", "micrometer"]
    assert by_var["lers_temperature_k"].colormap.name == "turbo"
    assert by_var["chi2_red"].colormap.name == "gray" and by_var["aspl_peak_ev"].colormap.name == "viridis"
    meta = area.metadata["hyperspec"]
    assert meta["role"] == "band" and meta["spatial_dims"] == ("y", "x") and meta["extra_dims"] == ()
    assert meta["path"] == str(small_results_store) and meta["results"] is small_results_ds
    assert meta["map"] is not None and meta["map"].attrs["store"] == str(small_map_store)


def test_all_results_variables_rest_hidden(small_results_ds):
    tuples = results_layers(small_results_ds, variables="all")
    by_var = {kw["metadata"]["hyperspec"]["variable"]: kw for _, kw, _ in tuples}
    assert set(by_var) == set(plottable_variables(small_results_ds))  # every plottable variable, once
    main = set(main_variables(small_results_ds))
    assert all(kw["visible"] == (name in main) for name, kw in by_var.items())
    assert not by_var["cspbbr3_73_temperature_k"]["visible"] and not by_var["baseline_c0"]["visible"]  # tied, baseline
    beta = by_var["aspl_beta_per_ev"]  # a signed quantity: diverging map, symmetric limits
    lo, hi = color_limits(small_results_ds["aspl_beta_per_ev"])
    if lo < 0 < hi:
        assert beta["colormap"] == "coolwarm" and beta["contrast_limits"] == (-max(-lo, hi), max(-lo, hi))
    with pytest.raises(KeyError, match="no variable 'nope'"):
        results_layers(small_results_ds, variables=["nope"])
    with pytest.raises(ValueError, match="'main', 'all'"):
        results_layers(small_results_ds, variables="everything")


def test_band_maps_widget_adds_variables_and_rgb(make_napari_viewer, small_results_ds, small_results_store):
    viewer = make_napari_viewer()
    _add(viewer, results_layers(small_results_ds, small_results_store, variables=["aspl_area", "status"]))
    widget = band_maps_widget(viewer)
    assert widget.source.currentText() == str(small_results_store)
    offered = [widget.variables.item(i).text() for i in range(widget.variables.count())]
    assert "aspl_area" not in offered and "lers_width_cm" in offered and "status" not in offered
    for i in range(widget.variables.count()):
        item = widget.variables.item(i)
        item.setSelected(item.text() in ("lers_width_cm", "hers_peak_cm"))
    added = widget.add_selected()
    assert sorted(ly.metadata["hyperspec"]["variable"] for ly in added) == ["hers_peak_cm", "lers_width_cm"]
    assert all(ly.visible for ly in added) and added[0].name.endswith("[cm⁻¹]")
    np.testing.assert_array_equal(viewer.layers["lers_width_cm [cm⁻¹]"].data, small_results_ds["lers_width_cm"].values)
    offered = [widget.variables.item(i).text() for i in range(widget.variables.count())]
    assert "lers_width_cm" not in offered  # refreshed on insertion
    for combo, name in zip(widget.rgb, ("aspl_area", "lers_area", "hers_area"), strict=True):
        combo.setCurrentText(name)
    rgb = widget.add_rgb()
    assert rgb.rgb and rgb.metadata["hyperspec"]["role"] == "rgb"
    np.testing.assert_array_equal(rgb.data, rgb_composite(*(small_results_ds[b] for b in ("aspl_area", "lers_area", "hers_area"))))


def test_status_layer_names(make_napari_viewer, small_results_ds):
    viewer = make_napari_viewer()
    layers = _add(viewer, results_layers(small_results_ds, variables=["aspl_area", "status"]))
    status = layers[-1]
    assert status.metadata["hyperspec"]["role"] == "status" and status.name == "status"
    np.testing.assert_array_equal(status.data, small_results_ds["status"].values)
    names = status_names(small_results_ds)
    assert names[0] == "converged"
    table = dict(zip(status.features["index"], status.features["status"], strict=True))
    assert all(table[c] == n for c, n in names.items())
    # hovering a pixel shows its status name
    code = int(small_results_ds["status"].values[2, 3])
    status.visible = True
    info = status.get_status(position=(2 * 0.5, 3 * 0.5), world=True)
    text = json.dumps(info, ensure_ascii=False)
    assert names[code] in text


def test_kinetic_results_dims_slider(make_napari_viewer, kinetic_results_ds):
    viewer = make_napari_viewer()
    layers = _add(viewer, results_layers(kinetic_results_ds, variables=["aspl_area", "status"]))
    area = layers[0]
    assert area.data.shape == (12, 6, 8) and area.metadata["hyperspec"]["extra_dims"] == ("t",)
    assert area.scale.tolist() == pytest.approx([0.2, 0.5, 0.5]) and str(area.units[0]) == "second"
    viewer.dims.set_current_step(0, 5)  # frame 5 of the slider shows frame 5 of the results
    np.testing.assert_array_equal(np.asarray(area._slice.image.raw), kinetic_results_ds["aspl_area"].values[5])


def test_map_layers_quicklook_and_cube(make_napari_viewer, small_map_ds, small_map_store):
    viewer = make_napari_viewer()
    layers = _add(viewer, map_layers(small_map_ds, small_map_store))
    roles = [ly.metadata["hyperspec"]["role"] for ly in layers]
    assert roles[-1] == "cube" and set(roles[:-1]) == {"quicklook"}
    cube = layers[-1]
    assert not cube.visible and cube.data.shape == (256, 12, 16)
    assert cube.metadata["hyperspec"]["dims"] == ("spectral", "y", "x")
    ql = {ly.metadata["hyperspec"]["variable"]: ly for ly in layers[:-1]}
    expected = quicklook(small_map_ds, backend="numpy").compute()
    np.testing.assert_allclose(ql["total_counts"].data, small_map_ds["spectra"].values.astype(np.float64).sum(-1))
    np.testing.assert_allclose(ql["aspl_window_area"].data, expected["aspl_window_area"].values)
    assert ql["total_counts"].visible and not ql["aspl_window_area"].visible


def test_find_map(small_results_ds, small_results_store, small_map_store, tmp_path):
    found = find_map(small_results_ds, small_results_store)
    assert found is not None and found.attrs["store"] == str(small_map_store)
    moved = small_results_ds.copy()
    moved.attrs = {k: v for k, v in moved.attrs.items() if k != "store"}
    moved.attrs["recipe"] = json.dumps({"input": {"path": str(tmp_path / "gone.zarr")}})
    assert find_map(moved) is None  # the recorded map is gone
    # results of `hyperspec decompose` (no recipe): the map store it recorded
    from hyperspec.cli import main

    out = tmp_path / "dec.zarr"
    assert main(["decompose", str(small_map_store), str(out), "--backend", "numpy"]) == 0
    found = find_map(hyperspec.open(out), out)
    assert found is not None and found.attrs["store"] == str(small_map_store)


def test_rgb_composite_layer(small_results_ds):
    bands = ("aspl_area", "lers_area", "hers_area")
    data, kwargs, kind = rgb_composite_layer(small_results_ds, bands)
    assert kind == "image" and kwargs["rgb"] and data.shape == (12, 16, 3)
    np.testing.assert_array_equal(data, rgb_composite(*(small_results_ds[b] for b in bands)))
    lo, hi = color_limits(small_results_ds["lers_area"])
    np.testing.assert_allclose(
        data[..., 1], np.nan_to_num(np.clip((small_results_ds["lers_area"].values - lo) / (hi - lo), 0, 1)), rtol=1e-6
    )
    with pytest.raises(KeyError, match="no variable 'nope'"):
        rgb_composite_layer(small_results_ds, ("aspl_area", "nope", "hers_area"))


def test_main_variables_of_the_preset(small_results_ds):
    main = main_variables(small_results_ds)
    assert main[:3] == ["aspl_area", "aspl_peak_ev", "aspl_urbach_ev"]
    assert "lers_temperature_k" in main and "baseline_area" not in main and main[-2:] == ["chi2_red", "status"]
