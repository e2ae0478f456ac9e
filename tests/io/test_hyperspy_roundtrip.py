"""hyperspec → HyperSpy (→ .hspy) → hyperspec is identical; HyperSpy/LumiSpy metadata conventions; crops rebuild.

Against the real HyperSpy 2.x and LumiSpy (optional GPL extras; skipped where they are not installed).
"""

from __future__ import annotations

import datetime

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

import hyperspec
from hyperspec._errors import HyperspecError
from tests.conftest import SHARED_DATA

hs = pytest.importorskip("hyperspy.api")
pytest.importorskip("lumispy")

from hyperspec.io.export import HYPERSPY_PAYLOAD, from_hyperspy, to_hyperspy  # noqa: E402

ATTRS = {
    "exposure_s": 2.0,
    "accumulations": 3,
    "saturation_counts": np.float64(65535.0),
    "laser_power_mw": 1.5,
    "instrument": {"model": "LabRAM", "grating": (1800, "gr/mm"), "slit_um": np.float32(100.0), "cal": {"offset": -0.25, "ok": True}},
    "tags": ["Si", "reference"],
    "binning": (1, 2),
    "operator": None,
    "n_frames": np.int64(7),
    "empty": [],
    "weights": np.array([0.25, 0.5, 0.25], np.float32),
}


def _map(kind: str, lazy: bool = False) -> xr.Dataset:
    rng = np.random.default_rng(3)
    axis = np.linspace(100.0, 700.0, 64)
    if kind == "map":
        data = rng.poisson(50.0, (4, 5, 64)).astype(np.float32)
        ds = hyperspec.from_array(data, axis, laser_nm=632.8, pixel_size_um=0.5, attrs=ATTRS, source="map.wdf")
        ds["mask"] = (("y", "x"), np.arange(20).reshape(4, 5) % 3 == 0, {"long_name": "pixels to skip"})  # a side variable
    elif kind == "kinetic":
        data = rng.poisson(50.0, (3, 2, 4, 64)).astype(np.float32)
        ds = hyperspec.from_array(data, axis, laser_nm=532.0, pixel_size_um=1.0, frame_s=0.5, attrs=ATTRS, source="kin.spe")
    elif kind == "power":  # a non-uniform navigation axis: 0.1, 1, 10 mW
        data = rng.poisson(50.0, (3, 64)).astype(np.float32)
        ds = hyperspec.from_array(data, axis, laser_nm=632.8, dims=("power", "spectral"), coords={"power": [0.1, 1.0, 10.0]}, attrs=ATTRS)
    elif kind == "ev":  # a PL map in eV: the axis runs backwards from the canonical order
        data = rng.random((2, 3, 32)).astype(np.float64) + 1.0
        ds = hyperspec.from_array(data, np.linspace(1.9, 2.4, 32), unit="eV", laser_nm=405.0, attrs=ATTRS)
    elif kind == "abs":  # absolute wavenumbers, no laser
        data = rng.random((3, 32)).astype(np.float32)
        ds = hyperspec.from_array(data, np.linspace(15000.0, 16000.0, 32), unit="cm-1-abs", attrs=ATTRS)
    else:  # a non-uniform spectral axis (nm), no laser
        data = rng.random((2, 2, 32)).astype(np.float32)
        ds = hyperspec.from_array(data, 500.0 + np.linspace(0.0, 1.0, 32) ** 1.5 * 100.0, unit="nm", attrs=ATTRS)
    for name in ("x", "power"):
        if name in ds.coords:  # ("ev", "nonuniform", "abs" have dims without coordinates)
            ds[name].attrs["comment"] = "stage"  # a coordinate attr of our own
    if lazy:
        ds = ds.copy(data={"spectra": da.from_array(ds["spectra"].values, chunks=(1,) * (ds["spectra"].ndim - 1) + (-1,))})
    return ds


class _Computes(Callback):
    """Counts Dask computations (any graph run by a local scheduler)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


@pytest.mark.parametrize("kind", ["map", "kinetic", "power", "ev", "nonuniform", "abs"])
def test_round_trip_is_identical_in_memory_and_through_hspy(kind, tmp_path):
    ds = _map(kind)
    sig = to_hyperspy(ds)
    back = from_hyperspy(sig)
    xr.testing.assert_identical(back, ds)
    sig.save(tmp_path / "m.hspy")
    loaded = from_hyperspy(hs.load(tmp_path / "m.hspy"))
    xr.testing.assert_identical(loaded, ds)
    for got in (back, loaded):  # the types == does not see
        a = got.attrs
        assert type(a["instrument"]["grating"]) is tuple and type(a["binning"]) is tuple and type(a["tags"]) is list
        assert type(a["instrument"]["slit_um"]) is np.float32 and type(a["n_frames"]) is np.int64
        assert a["operator"] is None and a["empty"] == [] and a["weights"].dtype == np.float32
        assert a["history"] == ds.attrs["history"] and got["spectra"].dtype == ds["spectra"].dtype
        assert set(got.coords) == set(ds.coords)
        assert all(got[n].attrs["comment"] == "stage" for n in ("x", "power") if n in ds.coords)
    if kind == "power":
        nav = sig.axes_manager.navigation_axes[0]
        assert not nav.is_uniform and list(nav.axis) == [0.1, 1.0, 10.0]


def test_lazy_stays_lazy_both_ways(tmp_path):
    ds = _map("kinetic", lazy=True)
    with _Computes() as c:
        sig = to_hyperspy(ds)
        back = from_hyperspy(sig)
    assert c.n == 0, "a Dask computation ran during the conversion"
    assert sig._lazy and isinstance(back["spectra"].data, da.Array)
    xr.testing.assert_identical(back, ds)
    sig.save(tmp_path / "k.hspy")
    lazy_sig = hs.load(tmp_path / "k.hspy", lazy=True)
    with _Computes() as c:
        loaded = from_hyperspy(lazy_sig)
    assert c.n == 0 and isinstance(loaded["spectra"].data, da.Array)
    assert len(loaded["spectra"].data.chunks[-1]) == 1  # one chunk along the spectra, as the data model wants
    xr.testing.assert_identical(loaded, ds)


def test_hyperspy_and_lumispy_metadata_conventions():
    ds = _map("map")
    sig = to_hyperspy(ds)
    md = sig.metadata
    assert md.Acquisition_instrument.Laser.wavelength == 632.8 and md.Acquisition_instrument.Laser.power == 1.5
    assert md.Acquisition_instrument.Detector.integration_time == 6.0  # total: 2 s × 3 accumulations (LumiSpy's definition)
    assert md.Acquisition_instrument.Detector.frames == 3
    assert md.Signal.quantity == "Intensity (counts)" and md.Signal.signal_type == "Luminescence"
    assert md.General.title == "map.wdf" and md.General.original_filename == "map.wdf"
    assert type(sig).__name__ == "LumiSpectrum"
    assert not md.has_item("Acquisition_instrument.Detector.saturation_counts")  # saturation: original_metadata only
    assert '"saturation_counts":{"__npscalar__":"<f8","value":65535.0}' in sig.original_metadata.get_item(HYPERSPY_PAYLOAD)


def test_lumispy_scale_by_exposure_divides_by_the_total_exposure():
    ds = _map("map")
    scaled = to_hyperspy(ds).scale_by_exposure()
    np.testing.assert_allclose(scaled.data, ds["spectra"].values / 6.0, rtol=1e-6)
    expected = hyperspec.preprocess.calibrate.normalise(ds, by="exposure")  # hyperspec's own counts/s
    np.testing.assert_allclose(scaled.data, expected["spectra"].values, rtol=1e-6)
    back = from_hyperspy(scaled)  # axes unchanged: the exact path, and the units follow LumiSpy's quantity
    assert scaled.metadata.Signal.quantity == "Intensity (counts/s)" and back["spectra"].attrs["units"] == "counts/s"
    xr.testing.assert_identical(back.coords.to_dataset(), ds.coords.to_dataset())


def test_crop_in_hyperspy_rebuilds_from_the_axes_and_keeps_attrs():
    ds = _map("map")
    sig = to_hyperspy(ds)
    by_value = sig.isig[200.0:500.0]  # HyperSpy picks the channels nearest 200 and 500 cm⁻¹
    i0 = int(np.argmin(np.abs(ds["shift"].values - by_value.axes_manager.signal_axes[0].axis[0])))
    for cropped, expected in (
        (sig.isig[4:20], ds.isel(spectral=slice(4, 20))),
        (by_value, ds.isel(spectral=slice(i0, i0 + by_value.data.shape[-1]))),
        (sig.inav[1:4, 0:2], ds.isel(x=slice(1, 4), y=slice(0, 2))),
    ):
        back = from_hyperspy(cropped)
        hist = ("history", "hyperspec_history")
        xr.testing.assert_identical(back.drop_attrs(deep=False), expected.drop_attrs(deep=False))  # data, coords + their attrs
        assert {k: v for k, v in back.attrs.items() if k not in hist}.keys() == {k for k in ds.attrs if k not in hist}
        assert back.attrs["instrument"]["grating"] == (1800, "gr/mm") and back.attrs["exposure_s"] == 2.0
        assert back.attrs["history"].startswith(ds.attrs["history"]) and "from_hyperspy" in back.attrs["history"].splitlines()[-1]
    # another laser set in HyperSpy: the shift is kept (it is the axis), the wavelengths are recomputed for 633.0 nm
    sig2 = to_hyperspy(ds)
    sig2.metadata.Acquisition_instrument.Laser.wavelength = 633.0
    back = from_hyperspy(sig2)
    ref = hyperspec.from_array(ds["spectra"].values, ds["shift"].values, laser_nm=633.0)
    np.testing.assert_allclose(back["shift"].values, ds["shift"].values, rtol=1e-13)  # from_array re-derives it via nm
    np.testing.assert_allclose(back["wavelength"].values, ref["wavelength"].values, rtol=1e-12)
    assert back.attrs["laser_nm"] == 633.0 and back.attrs["saturation_counts"] == 65535.0


def test_signal_made_in_hyperspy_converts_from_axes_and_metadata():
    axes = [{"name": "x", "size": 3, "offset": 0.0, "scale": 2.0, "units": "µm", "navigate": True},
            {"name": "Wavelength", "size": 16, "offset": 640.0, "scale": 0.5, "units": "nm", "navigate": False}]  # fmt: skip
    sig = hs.signals.Signal1D(np.arange(48, dtype=np.float32).reshape(3, 16) + 1, axes=axes)
    sig.metadata.set_item("Acquisition_instrument.Laser.wavelength", 632.8)
    sig.metadata.set_item("Acquisition_instrument.Laser.power", 0.8)
    sig.metadata.set_item("Acquisition_instrument.Detector.integration_time", 10.0)
    sig.metadata.set_item("Acquisition_instrument.Detector.frames", 5)
    ds = from_hyperspy(sig)
    assert ds["spectra"].dims == ("x", "spectral") and list(ds["x"].values) == [0.0, 2.0, 4.0]
    np.testing.assert_allclose(ds["wavelength"].values, 640.0 + 0.5 * np.arange(16))
    assert ds.attrs["laser_nm"] == 632.8 and ds.attrs["exposure_s"] == 2.0 and ds.attrs["accumulations"] == 5
    assert ds.attrs["laser_power_mw"] == 0.8
    assert from_hyperspy(to_hyperspy(ds)).identical(ds)  # and from there on it is lossless


def test_cli_export_hspy_round_trip(tmp_path, capsys):
    from hyperspec.cli import main

    ds = _map("power").assign_attrs(
        saturation_counts=65535.0,
        instrument={"model": "LabRAM", "grating": [1800, "gr/mm"]},
        n_frames=7,
        slit_um=100.0,
        weights=[0.25, 0.5, 0.25],
    )  # what a Zarr store holds: JSON types
    ds.attrs.pop("binning")
    store = hyperspec.save(ds, tmp_path / "p.zarr", progress=False)
    assert main(["export", str(store), "--hspy", str(tmp_path / "p.hspy")]) == 0
    assert "LumiSpectrum, signal_type 'Luminescence'" in capsys.readouterr().out
    back = from_hyperspy(hs.load(tmp_path / "p.hspy"))
    opened = hyperspec.open(store)
    xr.testing.assert_identical(back, opened.load())
    np.testing.assert_array_equal(back["power"].values, [0.1, 1.0, 10.0])


def test_values_json_cannot_carry_and_a_damaged_payload_are_refused():
    ds = _map("map")
    ds.attrs["acquired"] = datetime.datetime(2026, 1, 1)
    with pytest.raises(HyperspecError, match=r"map\.wdf: attrs\['acquired'\].*datetime.*number, string"):
        to_hyperspy(ds)
    lazy_side = _map("map").assign(mask=lambda d: d["mask"].chunk())
    with pytest.raises(HyperspecError, match=r"map\.wdf: the variable 'mask' is lazy.*\.load\(\).*drop_vars"):
        to_hyperspy(lazy_side)
    sig = to_hyperspy(_map("map"))
    sig.original_metadata.set_item(HYPERSPY_PAYLOAD, '{"version": 1, "dims": [')
    with pytest.raises(HyperspecError, match=r"original_metadata\.hyperspec.*not valid JSON.*edited or truncated"):
        from_hyperspy(sig)
    sig.original_metadata.set_item(HYPERSPY_PAYLOAD, '{"version": 99}')
    with pytest.raises(HyperspecError, match=r"not a version-1 hyperspec description; delete it"):
        from_hyperspy(sig)


def test_lumispy_axis_conversions_and_a_rebin_come_back_rebuilt():
    data = np.random.default_rng(5).random((2, 3, 32)) + 1.0
    pl = hyperspec.from_array(data, np.linspace(520.0, 650.0, 32), unit="nm", laser_nm=405.0, attrs=ATTRS)
    ev = to_hyperspy(pl).to_eV(inplace=False)  # LumiSpy: non-uniform eV axis (air-corrected), Jacobian applied
    back = from_hyperspy(ev)
    assert back.attrs["spectral_unit"] == "eV" and back.attrs["exposure_s"] == 2.0 and back.attrs["laser_nm"] == 405.0
    np.testing.assert_allclose(back["energy"].values, ev.axes_manager.signal_axes[0].axis[::-1], rtol=1e-14)  # canonical order
    np.testing.assert_array_equal(back["spectra"].values, ev.data[..., ::-1])
    shifted = from_hyperspy(to_hyperspy(pl).to_raman_shift(inplace=False))  # cm$^{-1}$, "Raman Shift"
    assert shifted.attrs["spectral_unit"] == "cm-1" and shifted["shift"].values[0] > 4000.0
    absolute = from_hyperspy(to_hyperspy(pl).to_invcm(inplace=False))  # "Wavenumber": absolute
    assert absolute.attrs["spectral_unit"] == "cm-1-abs" and "wavenumber" in absolute.coords
    rebinned = from_hyperspy(to_hyperspy(pl).rebin(scale=(1, 1, 2)))
    assert rebinned.sizes["spectral"] == 16 and rebinned.attrs["instrument"] == ATTRS["instrument"]
    np.testing.assert_allclose(rebinned["spectra"].values, pl["spectra"].values.reshape(2, 3, 16, 2).sum(-1), rtol=1e-6)


JY = SHARED_DATA / "rosettasciio" / "jobinyvon"


@pytest.mark.parametrize("name", ["jobinyvon_test_spec.xml", "jobinyvon_test_map_x3-y2.xml"])
def test_metadata_and_conversion_agree_with_rosettasciio_reader(name):
    """RosettaSciIO's own JobinYvon reader is the reference for the Detector/Laser fields, both ways."""
    ref = hs.load(JY / name, file_format="JobinYvon")
    ds = hyperspec.open(JY / name)
    ours = to_hyperspy(ds).metadata.Acquisition_instrument
    theirs = ref.metadata.Acquisition_instrument
    for key in ("Detector.integration_time", "Detector.frames", "Detector.exposure_per_frame", "Laser.wavelength"):
        assert ours.get_item(key) == pytest.approx(theirs.get_item(key)), key
    back = from_hyperspy(ref)  # a signal made by RosettaSciIO: no original_metadata.hyperspec, converted from its metadata
    np.testing.assert_array_equal(back["spectra"].values, ds["spectra"].values)
    np.testing.assert_array_equal(back["wavelength"].values, ds["wavelength"].values)
    for key in ("exposure_s", "accumulations", "laser_nm"):
        assert back.attrs[key] == ds.attrs[key], key


def test_real_renishaw_map_round_trip_is_identical_and_lazy(tmp_path):
    path = SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_map2.wdf"
    ds = hyperspec.open(path, lazy=True)
    sig = to_hyperspy(ds)
    sig.save(tmp_path / "r.hspy")
    with _Computes() as c:
        back = from_hyperspy(hs.load(tmp_path / "r.hspy", lazy=True))
    assert c.n == 0 and isinstance(back["spectra"].data, da.Array)
    xr.testing.assert_identical(back, ds)
