"""The OME-Zarr export of a results store opens in a real viewer with the napari-ome-zarr plugin (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec.io.ome_zarr import write_ome_zarr

pytest.importorskip("napari_ome_zarr")

BANDS = ["aspl_area", "lers_temperature_k", "chi2_red"]


def test_napari_ome_zarr_opens_the_band_maps_to_scale(make_napari_viewer, small_results_store, tmp_path):
    results = hyperspec.open(small_results_store)
    path = write_ome_zarr(results, tmp_path / "results.ome.zarr", variables=BANDS)
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin="napari-ome-zarr")
    # one image layer per channel (napari-ome-zarr splits the c axis), named "<image>: <omero channel label>"
    assert [ly.name for ly in layers] == ["results: aspl_area [counts*cm-1]", "results: lers_temperature_k [K]", "results: chi2_red"]
    for ly, name in zip(layers, BANDS, strict=True):
        np.testing.assert_array_equal(np.asarray(ly.data), results[name].values)
        assert ly.scale.tolist() == [0.5, 0.5]  # the map's pixel size in µm (conftest: 0.5 µm steps)
        assert [str(u) for u in ly.units] == ["micrometer", "micrometer"]
        values = results[name].values
        assert ly.contrast_limits == [float(np.nanmin(values)), float(np.nanmax(values))]
    assert [ly.visible for ly in layers] == [True, False, False]  # omero "active": the first band shows


def test_kinetic_results_open_as_a_time_series(make_napari_viewer, tmp_path):
    import xarray as xr  # noqa: PLC0415

    um = {"units": "um", "long_name": "stage position"}
    area = np.arange(3 * 4 * 5, dtype=np.float64).reshape(3, 4, 5)
    res = xr.Dataset(
        {"g_area": (("t", "y", "x"), area, {"units": "counts*cm-1"}), "chi2_red": (("t", "y", "x"), area / 10, {"units": "1"})},
        coords={"t": ("t", [0.0, 2.0, 4.0], {"units": "s"}), "y": ("y", 10.0 + np.arange(4.0), um), "x": ("x", np.arange(5.0), um)},
    )
    path = write_ome_zarr(res, tmp_path / "kinetic.ome.zarr")
    layers = make_napari_viewer().open(str(path), plugin="napari-ome-zarr")
    assert [ly.name for ly in layers] == ["kinetic: g_area [counts*cm-1]", "kinetic: chi2_red"]
    np.testing.assert_array_equal(np.asarray(layers[0].data), area)  # (t, y, x) per channel
    assert layers[0].scale.tolist() == [2.0, 1.0, 1.0] and [str(u) for u in layers[0].units] == ["second", "micrometer", "micrometer"]
    # not checked here: the origin (y from 10 µm), the dataset's NGFF translation, which napari-ome-zarr 0.10 does
    # not apply (its reader keeps only the first transform, the scale); tests/io/test_ome_zarr.py reads it back
