"""Axis calibration on a real silicon spectrum; normalisation, notch mask, crop and resampling."""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import AxisError
from hyperspec.preprocess import calibrate as C
from tests.conftest import SHARED_DATA, SILICON_TXT, read_witec_ascii


@pytest.fixture(scope="module")
def silicon():
    """WITec ASCII export of a silicon wafer (nm axis, 1600 channels); the file does not record the laser: 532 nm."""
    data = read_witec_ascii(SILICON_TXT)
    return hyperspec.from_array(data[:, 1], data[:, 0], unit="nm", laser_nm=532.0, medium="vacuum", source=SILICON_TXT.name)


def test_silicon_line_found_with_a_small_error(silicon):
    r = C.find_line(silicon)
    assert int(r["status"]) == 0
    # the Si phonon sits at 530.88 cm⁻¹ on this file's axis with a 532.0 nm laser: offset −10.18 cm⁻¹
    assert float(r["center"]) == pytest.approx(530.883, abs=0.05)
    assert float(r["offset"]) == pytest.approx(C.SILICON_CM - float(r["center"]))
    assert float(r["center_stderr"]) < 0.1


@pytest.mark.parametrize("delta", [2.37, -5.0, 0.4, 1.3])
def test_known_offset_recovered_to_0p1_cm(silicon, delta):
    """Move the real spectrum by a known sub-channel amount (2.78 cm⁻¹ per channel here) and recover it."""
    shift = silicon["shift"].values
    moved = C.interp_rows(shift - delta, shift, silicon["spectra"].values.astype(float)[None])[0]
    ds = silicon.copy()
    ds["spectra"] = silicon["spectra"].copy(data=moved.astype(np.float32))
    ref, got = C.find_line(silicon), C.find_line(ds)
    assert float(got["center"] - ref["center"]) == pytest.approx(delta, abs=0.1)
    # and applying the offset puts the line at 520.7 cm⁻¹
    fixed = C.calibrate_shift(ds, float(got["offset"]))
    assert float(C.find_line(fixed)["center"]) == pytest.approx(C.SILICON_CM, abs=1e-3)
    # the wavelength and energy axes follow the corrected shift for the same laser
    np.testing.assert_allclose(fixed["shift"].values, hyperspec.axes.raman_shift(fixed["wavelength"].values, 532.0), atol=1e-8)


def test_per_frame_offsets_resample_each_frame():
    ds, _ = hyperspec.synthetic.kinetic_line(4, 3, n_spectral=512, noise=False, artefacts=False, seed=2)
    ds = ds.compute()
    offsets = np.array([0.0, 3.0, -2.0, 6.5])
    shift = ds["shift"].values
    y = ds["spectra"].values.astype(float)
    moved = np.stack([C.interp_rows(shift + offsets[t], shift, y[t]) for t in range(4)])  # frame t reads shift − offset
    bad = ds.copy()
    bad["spectra"] = ds["spectra"].copy(data=moved.astype(np.float32))
    fixed = C.calibrate_shift(bad, offsets, frame_dim="t")
    inner = (shift > shift[0] + 20) & (shift < shift[-1] - 20) & (np.abs(shift) > 60)  # the notch edge is too sharp to interpolate twice
    np.testing.assert_allclose(fixed["spectra"].values[..., inner], y[..., inner], rtol=0.02, atol=0.02 * y.max())


def test_normalise_exposure_and_band(small_map):
    ds, _ = small_map
    per_s = C.normalise(ds, "exposure")
    np.testing.assert_allclose(per_s["spectra"].values, ds["spectra"].values / ds.attrs["exposure_s"], rtol=1e-6)
    assert per_s["spectra"].attrs["units"] == "counts/s"
    band = C.normalise(ds, "band", window=(-4000, -2000))
    assert np.nanmax(np.abs(band["reference_area"].values)) > 0
    with pytest.raises(ValueError, match="exposure_s"):
        C.normalise(ds.assign_attrs(exposure_s=None).drop_attrs(), "exposure")
    with pytest.raises(ValueError, match="unknown normalisation"):
        C.normalise(ds, "exposre")


def test_notch_crop_and_resample(small_map):
    ds, _ = small_map
    masked = C.mask_notch(ds, 10.0, fill=np.nan)
    inside = np.abs(ds["shift"].values) <= 10
    assert masked["notch_mask"].values.sum() == inside.sum() > 0
    assert np.isnan(masked["spectra"].values[..., inside]).all()
    assert not np.isnan(masked["spectra"].values[..., ~inside]).any()
    cropped = C.crop(ds, -3000, 500)
    assert cropped["shift"].values.min() >= -3000 and cropped["shift"].values.max() <= 500
    common = np.linspace(-4000, 3000, 701)
    res = C.resample(ds, common)
    ref = np.interp(common, ds["shift"].values, ds["spectra"].values[3, 4].astype(float))
    np.testing.assert_allclose(res["spectra"].values[3, 4], ref, rtol=1e-5)
    np.testing.assert_allclose(res["wavelength"].values, hyperspec.axes.shift2nm(common, ds.attrs["laser_nm"]))
    with pytest.raises(AxisError, match="keeps 0 channels"):
        C.crop(ds, 9000, 9500)


def test_line_outside_the_axis_is_a_clear_error(small_map):
    ds, _ = small_map
    with pytest.raises(AxisError, match="reference line"):
        C.find_line(ds, expected=9000.0)


def _neon_lamp(offset_nm=0.4, stretch=3e-4, seed=0):
    """A synthetic neon lamp on a 785 nm system: Gaussian lines at the NIST wavelengths on a continuum,
    Poisson noise; the file's axis is the true one moved by ``offset_nm`` and stretched."""
    from hyperspec.preprocess.calibrate import NEON_LINES_NIR_NM

    rng = np.random.default_rng(seed)
    px = np.arange(1340)
    true = 780 + 0.135 * px - 2e-6 * px**2
    lines = np.array(NEON_LINES_NIR_NM)
    amp = rng.uniform(0.2, 1.0, lines.size) * 5000
    y = rng.poisson(300 + 0.05 * px + (amp[:, None] * np.exp(-0.5 * ((true[None] - lines[:, None]) / 0.12) ** 2)).sum(0))
    axis = true + offset_nm + stretch * (true - 870)
    return hyperspec.from_array(y.astype(float), axis, unit="nm", laser_nm=785.0, medium="air", laser_medium="air"), true


@pytest.mark.parametrize(("offset_nm", "stretch"), [(0.4, 3e-4), (-1.2, -2e-4), (0.0, 0.0)])
def test_neon_lamp_calibration_recovers_the_axis(offset_nm, stretch):
    from hyperspec.preprocess import apply_wavelength_calibration, calibrate_wavelength

    lamp, true = _neon_lamp(offset_nm, stretch)
    cal = calibrate_wavelength(lamp)
    assert cal.attrs["n_lines"] >= 18 and cal.attrs["rms_nm"] < 0.005
    fixed = apply_wavelength_calibration(lamp, cal)
    assert np.max(np.abs(fixed["wavelength"].values - true)) < 0.005  # nm
    # the axis is in air (as the NIST line list): shifts are between vacuum wavenumbers of line and laser
    a2v = hyperspec.axes.air_to_vacuum
    shift_err = np.abs(fixed["shift"].values - hyperspec.axes.raman_shift(a2v(true), a2v(785.0)))
    assert np.max(shift_err) < 0.1  # cm-1, over 780–958 nm
    np.testing.assert_array_equal(fixed["spectra"].values, lamp["spectra"].values)  # only the axis moves


def test_neon_calibration_explains_a_lamp_too_weak_to_use():
    """The BWTEK lamp file of ramanchada2 (0 % lamp power): its neon lines sit 4–5σ above the noise."""
    from hyperspec.preprocess import calibrate_wavelength

    lamp = hyperspec.open(SHARED_DATA / "ramanchada2" / "BWTEK" / "lamp Ne 20 ms 0%.txt")
    with pytest.raises(ValueError, match="lamp lines"):
        calibrate_wavelength(lamp)


def test_calibrate_wavelength_recipe_step_and_cli(tmp_path):
    from hyperspec._errors import RecipeError
    from hyperspec.cli import main
    from hyperspec.pipeline.recipe import load_recipe

    lamp, true = _neon_lamp()
    hyperspec.save(lamp, tmp_path / "lamp.zarr")
    m = hyperspec.from_array(np.ones((2, 3, lamp.sizes["spectral"])), lamp["wavelength"].values, unit="nm", laser_nm=785.0)
    hyperspec.save(m, tmp_path / "map.zarr")
    assert main(["preprocess", str(tmp_path / "map.zarr"), str(tmp_path / "out.zarr"), "--neon", str(tmp_path / "lamp.zarr")]) == 0
    out = hyperspec.open(tmp_path / "out.zarr")
    assert np.max(np.abs(out["wavelength"].values - true)) < 0.005
    (tmp_path / "r.toml").write_text('[input]\npath = "map.zarr"\n[[preprocess]]\nstep = "calibrate_wavelength"\nlamp = "nope.zarr"\n'
                                     '[output]\npath = "res.zarr"\n')  # fmt: skip
    with pytest.raises(RecipeError, match="lamp file .*nope.zarr not found"):
        load_recipe(tmp_path / "r.toml")
