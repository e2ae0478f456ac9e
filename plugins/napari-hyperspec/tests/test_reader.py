"""The npe2 reader in a real viewer: map stores, results stores, instrument files; lazy opening."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from dask.callbacks import Callback
from napari_hyperspec import _layers
from napari_hyperspec._reader import get_reader, store_kind
from napari_hyperspec._status import status_names

import hyperspec
from hyperspec.bands.windows import quicklook
from hyperspec.report import color_limits

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
PLUGIN = "napari-hyperspec"


class _SpectraReads(Callback):
    """Counts the dask tasks that read a chunk of a store's ``spectra``."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _pretask(self, key, dask, state):
        name = key[0] if isinstance(key, tuple) else key
        if isinstance(name, str) and "open_dataset-spectra" in name:
            self.count += 1


def _by(layers, role):
    return [ly for ly in layers if ly.metadata["hyperspec"]["role"] == role]


def test_get_reader_accepts_hyperspec_and_declines_the_rest(small_map_store, small_results_store, tmp_path):
    assert store_kind(small_map_store) == "map" and store_kind(small_results_store) == "results"
    assert callable(get_reader(str(small_map_store))) and callable(get_reader([str(small_results_store)]))
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w", zarr_format=3)  # a Zarr store, not a hyperspec one
    (tmp_path / "noise.txt").write_text("this is not a spectrum\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    for path in (plain, tmp_path / "noise.txt", tmp_path / "image.png", tmp_path / "missing.zarr", tmp_path):
        assert get_reader(str(path)) is None, path
    assert get_reader([str(small_map_store), str(small_results_store)]) is None


def test_open_map_store_is_lazy(make_napari_viewer, small_map_store, small_map_ds):
    viewer = make_napari_viewer()
    with _SpectraReads() as reads:
        layers = viewer.open(str(small_map_store), plugin=PLUGIN)
        viewer.reset_view()
    assert reads.count == 0  # the stored quick-look is shown; no chunk of the spectra was read
    (cube,) = _by(layers, "cube")
    quick = {ly.metadata["hyperspec"]["variable"]: ly for ly in _by(layers, "quicklook")}
    assert not cube.visible and cube.data.shape == (256, 12, 16) and cube.scale.tolist() == [1.0, 0.5, 0.5]
    assert list(quick)[0] == "total_counts" and quick["total_counts"].visible
    assert quick["aspl_window_area"].name == "aspl_window_area [counts·cm⁻¹]" and not quick["aspl_window_area"].visible
    # the quick-look equals the library's integrals of the data
    data = small_map_ds["spectra"].values.astype(np.float64)
    np.testing.assert_allclose(quick["total_counts"].data, data.sum(-1), rtol=1e-12)
    expected = hyperspec.window_integrals(small_map_ds, backend="numpy")
    np.testing.assert_allclose(quick["aspl_window_area"].data, expected["aspl_window_area"].values, rtol=1e-12)
    assert quick["total_counts"].scale.tolist() == [0.5, 0.5] and str(quick["total_counts"].units[0]) == "micrometer"
    meta = cube.metadata["hyperspec"]
    assert meta["path"] == str(small_map_store) and meta["map"]["spectra"].shape == (12, 16, 256) and meta["results"] is None
    assert _layers.scale_bar_of(viewer).visible  # its unit comes from the layers' units (µm)


def test_open_results_store(make_napari_viewer, small_results_store, small_results_ds, small_map_store):
    viewer = make_napari_viewer()
    layers = viewer.open(str(small_results_store), plugin=PLUGIN)
    bands = {ly.metadata["hyperspec"]["variable"]: ly for ly in _by(layers, "band")}
    (status,) = _by(layers, "status")
    assert bands["aspl_area"].name == "aspl_area [counts·cm⁻¹]" and bands["aspl_area"].scale.tolist() == [0.5, 0.5]
    assert bands["lers_temperature_k"].name == "lers_temperature_k [K]" and bands["chi2_red"].name == "chi2_red"
    np.testing.assert_array_equal(bands["aspl_area"].data, small_results_ds["aspl_area"].values)
    assert bands["aspl_area"].contrast_limits == pytest.approx(color_limits(small_results_ds["aspl_area"]))
    np.testing.assert_array_equal(status.data, small_results_ds["status"].values)
    names = status_names(small_results_ds)
    assert dict(zip(status.features["index"], status.features["status"], strict=True))[0] == names[0] == "converged"
    assert bands["aspl_area"].metadata["hyperspec"]["map"].attrs["store"] == str(small_map_store)


def test_kinetic_results_open_on_the_dims_slider(make_napari_viewer, kinetic_results_store, kinetic_results_ds):
    viewer = make_napari_viewer()
    layers = viewer.open(str(kinetic_results_store), plugin=PLUGIN)
    area = next(ly for ly in layers if ly.metadata["hyperspec"]["variable"] == "aspl_area")
    assert area.ndim == 3 and area.metadata["hyperspec"]["extra_dims"] == ("t",) and viewer.dims.nsteps[0] == 12
    viewer.dims.set_current_step(0, 7)
    np.testing.assert_array_equal(np.asarray(area._slice.image.raw), kinetic_results_ds["aspl_area"].values[7])


def test_kinetic_map_cube_lines_up_with_its_results(make_napari_viewer, kinetic_map_store):
    viewer = make_napari_viewer()
    layers = viewer.open(str(kinetic_map_store), plugin=PLUGIN)
    (cube,) = _by(layers, "cube")
    quick = _by(layers, "quicklook")[0]
    assert cube.metadata["hyperspec"]["dims"] == ("spectral", "t", "y", "x") and cube.data.shape == (256, 12, 6, 8)
    assert quick.data.shape == (12, 6, 8) and quick.metadata["hyperspec"]["extra_dims"] == ("t",)


def test_map_without_stored_quicklook_fills_in_from_a_worker(
    make_napari_viewer, qtbot, small_map_store, small_map_ds, tmp_path, monkeypatch
):  # noqa: E501
    copy = tmp_path / "old.zarr"
    shutil.copytree(small_map_store, copy)
    shutil.rmtree(copy / "quicklook")
    zarr.open_group(str(copy), mode="r+", zarr_format=3).attrs["hyperspec_groups"] = ["truth"]
    monkeypatch.setattr(_layers, "SYNC_QUICKLOOK_BYTES", 0)  # treat the tiny map as a big one
    viewer = make_napari_viewer()
    layers = viewer.open(str(copy), plugin=PLUGIN)
    total = next(ly for ly in _by(layers, "quicklook") if ly.metadata["hyperspec"]["variable"] == "total_counts")
    qtbot.waitUntil(lambda: not total.metadata["hyperspec"]["pending"], timeout=20_000)
    expected = quicklook(small_map_ds, backend="numpy")["total_counts"].values
    np.testing.assert_allclose(total.data, expected, rtol=1e-12)
    assert total.contrast_limits == pytest.approx(color_limits(expected))


@pytest.mark.skipif(not (SHARED / "horiba-raman").is_dir(), reason="shared real data not available")
def test_real_instrument_files_open(make_napari_viewer):
    viewer = make_napari_viewer()
    path = SHARED / "horiba-raman" / "Gd2O3_AlN_map_data.txt"  # HORIBA LabSpec map text export, 12 × 6 × 498
    assert get_reader(str(path)) is not None
    layers = viewer.open(str(path), plugin=PLUGIN)
    (cube,) = _by(layers, "cube")
    ds = hyperspec.open(path)
    assert cube.data.shape == (498, 12, 6)
    total = _by(layers, "quicklook")[0]
    np.testing.assert_allclose(total.data, ds["spectra"].values.astype(np.float64).sum(-1), rtol=1e-12)
    step = float(ds["x"][1] - ds["x"][0])
    assert total.scale[1] == pytest.approx(step, rel=0.01)  # µm from the stage positions
    spec = SHARED / "rosettasciio" / "jobinyvon" / "jobinyvon_test_spec.xml"  # one spectrum: a 1 × 1 image
    if spec.is_file():
        one = viewer.open(str(spec), plugin=PLUGIN)
        assert _by(one, "cube")[0].data.shape[1:] == (1, 1)


def test_npe2_validate():
    res = subprocess.run([sys.executable, "-m", "npe2", "validate", "napari-hyperspec"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "valid" in res.stdout, res.stdout + res.stderr
