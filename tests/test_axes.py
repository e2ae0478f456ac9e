"""Unit conversions against hand-computed values, the Jacobian, and the axis validator."""

from __future__ import annotations

import numpy as np
import pytest

from hyperspec import axes
from hyperspec._errors import AxisError

LASER = 632.8


def test_laser_line_values():
    # 10⁷/632.8 = 15 802.78 cm⁻¹ ; 1239.842/632.8 = 1.95930 eV
    assert axes.laser_invcm(LASER) == pytest.approx(15802.781, abs=1e-3)
    assert axes.nm2ev(LASER) == pytest.approx(1.959295, abs=1e-6)


def test_reference_point_523nm():
    # 10⁷/632.8 − 10⁷/523.14 = 15 802.781 − 19 115.35 = −3312.57 cm⁻¹ (anti-Stokes, negative)
    assert axes.raman_shift(523.14, LASER) == pytest.approx(-3312.57, abs=0.01)
    assert axes.convert_axis(523.14, "nm", "cm-1", laser_nm=LASER) == pytest.approx(-3312.57, abs=0.01)
    assert axes.convert_axis(-3312.6, "cm-1", "nm", laser_nm=LASER) == pytest.approx(523.14, abs=2e-3)  # −3312.6 is rounded
    assert axes.nm2ev(523.14) == pytest.approx(2.370, abs=5e-4)
    assert axes.convert_axis(2.37, "eV", "nm") == pytest.approx(523.14, abs=0.05)
    assert axes.convert_axis(2.37, "eV", "cm-1", laser_nm=LASER) == pytest.approx(-3312.6, abs=0.5)
    # 1 meV = 8.06554 cm⁻¹
    assert axes.convert_axis(1.0, "eV", "cm-1-abs") / 1000 == pytest.approx(8.06554, abs=1e-5)


def test_stokes_is_positive():
    assert axes.raman_shift(650.0, LASER) > 0
    assert axes.raman_shift(600.0, LASER) < 0


@pytest.mark.parametrize("src", ["nm", "cm-1", "cm-1-abs", "eV"])
@pytest.mark.parametrize("dst", ["nm", "cm-1", "cm-1-abs", "eV"])
def test_round_trip_all_pairs_vectorised(src, dst):
    wavelength = np.linspace(480.0, 820.0, 257)
    values = axes.convert_axis(wavelength, "nm", src, laser_nm=LASER)
    there = axes.convert_axis(values, src, dst, laser_nm=LASER)
    back = axes.convert_axis(there, dst, src, laser_nm=LASER)
    np.testing.assert_allclose(back, values, rtol=1e-12, atol=1e-9)
    assert there.shape == values.shape  # order and shape kept, nothing sorted


def test_unit_aliases():
    assert axes.normalize_unit("1/cm") == "cm-1"
    assert axes.normalize_unit("Raman shift") == "cm-1"
    assert axes.normalize_unit("EV") == "eV"
    assert axes.normalize_unit("wavenumber") == "cm-1-abs"
    with pytest.raises(AxisError, match=r"'furlong'.*Use one of: 'nm'"):
        axes.normalize_unit("furlong")


def test_shift_conversion_needs_laser():
    with pytest.raises(AxisError, match="laser_nm="):
        axes.convert_axis(500.0, "nm", "cm-1")
    with pytest.raises(AxisError, match="positive, finite"):
        axes.convert_axis(500.0, "nm", "cm-1", laser_nm=-5)


def _band_nm(wavelength):
    return 1000.0 * np.exp(-0.5 * ((wavelength - 523.0) / 4.0) ** 2)


@pytest.mark.parametrize("dst", ["eV", "cm-1", "cm-1-abs"])
def test_jacobian_preserves_band_area(dst):
    wavelength = np.linspace(480.0, 570.0, 20001)
    intensity = _band_nm(wavelength)
    area_nm = np.trapezoid(intensity, wavelength)
    x = axes.convert_axis(wavelength, "nm", dst, laser_nm=LASER)
    converted = axes.convert_intensity(intensity, wavelength, "nm", dst, laser_nm=LASER)
    area_dst = abs(np.trapezoid(converted, x))
    assert area_dst == pytest.approx(area_nm, rel=1e-6)
    # without the Jacobian the area would be wrong by orders of magnitude
    assert abs(np.trapezoid(intensity, x)) != pytest.approx(area_nm, rel=0.1)


def test_jacobian_nm_to_ev_formula_and_inverse():
    lam = np.array([500.0, 523.14, 600.0])
    i_lam = np.array([1.0, 2.0, 3.0])
    i_e = axes.convert_intensity(i_lam, lam, "nm", "eV")
    np.testing.assert_allclose(i_e, i_lam * lam**2 / axes.HC_EV_NM)
    energy = axes.nm2ev(lam)
    np.testing.assert_allclose(axes.convert_intensity(i_e, energy, "eV", "nm"), i_lam)


class TestValidateAxis:
    def test_accepts_and_canonicalises(self):
        arr, unit = axes.validate_axis([3.0, 2.0, 1.0], "ev")
        assert unit == "eV" and arr.dtype == np.float64

    def test_non_finite_names_index(self):
        with pytest.raises(AxisError, match=r"non-finite.*nan at index 2"):
            axes.validate_axis([1.0, 2.0, np.nan, 4.0], "nm", source="scan.txt")

    def test_repeated_value(self):
        with pytest.raises(AxisError, match=r"not strictly monotonic: value 2\.0 at index 1 is followed by 2\.0 at index 2 \(repeated\)"):
            axes.validate_axis([1.0, 2.0, 2.0, 3.0], "nm")

    def test_out_of_order_names_source(self):
        with pytest.raises(AxisError, match=r"spectral axis in stitched\.spe is not strictly monotonic.*index 3.*out of order"):
            axes.validate_axis([1.0, 2.0, 3.0, 2.5, 4.0], "nm", source="stitched.spe")

    def test_shape_and_length(self):
        with pytest.raises(AxisError, match="one-dimensional"):
            axes.validate_axis(np.ones((2, 3)), "nm")
        with pytest.raises(AxisError, match="at least 2"):
            axes.validate_axis([1.0], "nm")

    def test_physical_range(self):
        with pytest.raises(AxisError, match="must be positive.*unit='cm-1'"):
            axes.validate_axis([-100.0, 0.0, 100.0], "nm")
        with pytest.raises(AxisError, match="not below the laser's wavenumber"):
            axes.validate_axis([0.0, 20000.0], "cm-1", laser_nm=LASER)

    def test_unknown_unit(self):
        with pytest.raises(AxisError, match="not a known spectral unit"):
            axes.validate_axis([1.0, 2.0], "Hz")
