"""The plugin's samples, loaded in a real viewer through npe2, against the generator's ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from hyperspec import synthetic

PLUGIN = "napari-hyperspec"


def _meta(layer):
    return layer.metadata["hyperspec"]


def _band(layers, name):
    return next(ly for ly in layers if _meta(ly)["role"] == "band" and _meta(ly)["variable"] == name)


def test_map_sample_keeps_its_key(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "cspbbr3-map")
    roles = [_meta(ly)["role"] for ly in viewer.layers]
    assert roles.count("cube") == 1 and "quicklook" in roles and roles[-1] == "regions"
    ds, truth = synthetic.cspbbr3_map((48, 48), n_spectral=512, seed=0)
    cube = next(ly for ly in viewer.layers if _meta(ly)["role"] == "cube")
    assert cube.data.shape == (512, 48, 48) and cube.scale.tolist() == [1.0, 0.5, 0.5]
    np.testing.assert_array_equal(viewer.layers[-1].data, truth["region"].values + 1)  # 1 crystal, 2 interface, 3 glass
    total = next(ly for ly in viewer.layers if _meta(ly)["variable"] == "total_counts")
    np.testing.assert_allclose(total.data, ds["spectra"].values.astype(np.float64).sum(-1), rtol=1e-12)


def test_decomposed_sample_recovers_the_truth(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "cspbbr3-decomposed")
    layers = list(viewer.layers)
    _, truth = synthetic.cspbbr3_map((16, 16), n_spectral=512, seed=0)
    status = next(ly for ly in layers if _meta(ly)["role"] == "status")
    ok = status.data == 0
    assert ok.mean() > 0.9
    area = _band(layers, "aspl_area")
    assert area.name == "aspl_area [counts·cm⁻¹]" and _meta(area)["map"] is not None
    rel = area.data[ok] / truth["aspl_area"].values[ok] - 1
    assert np.median(np.abs(rel)) < 0.05  # the fitted aS-PL areas are the generator's
    temp = _band(layers, "lers_temperature_k").data[ok]
    assert np.median(np.abs(temp - truth["lers_temperature_k"].values[ok])) < 40.0  # K


def test_kinetic_sample_browses_frames(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "kinetic-map")
    layers = list(viewer.layers)
    area = _band(layers, "aspl_area")
    assert area.data.shape == (24, 6, 6) and _meta(area)["extra_dims"] == ("t",)
    assert area.scale[0] == pytest.approx(0.2) and str(area.units[0]) == "second"
    cube = next(ly for ly in layers if _meta(ly)["role"] == "cube")
    assert cube.data.shape == (256, 24, 6, 6)
    _, truth = synthetic.kinetic_map(24, (6, 6), n_spectral=256, seed=0)
    status = next(ly for ly in layers if _meta(ly)["role"] == "status")
    ok = np.asarray(status.data) == 0
    fitted = np.asarray(area.data)
    rel = fitted[ok] / truth["aspl_area"].values[ok] - 1
    assert np.median(np.abs(rel)) < 0.1
    # the blinking is in the fitted trace: its frame-to-frame changes follow the truth's
    tr_fit, tr_true = np.nanmean(np.where(ok, fitted, np.nan), axis=(1, 2)), truth["aspl_area"].values.mean(axis=(1, 2))
    assert np.corrcoef(tr_fit, tr_true)[0, 1] > 0.8
