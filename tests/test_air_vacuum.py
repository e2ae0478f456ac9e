"""Air vs vacuum wavelengths: the IAU conversion against published pairs, and every map carrying its medium.

References used here (none computed with hyperspec's own formula):

- Ne I lines: air wavelengths of Sansonetti et al. (2004) and their vacuum values (Peck & Reeder 1972),
  given to 1e-4 Å (1e-5 nm).
- Kr 6056.125 Å (air) → 6057.8019 Å and 2000 Å (vacuum) → 1999.353 Å: the examples of the IDL Astronomy
  Library's AIRTOVAC / VACTOAIR (Ciddor 1996); Hβ 4861.363 Å → 4862.721 Å: astrolibR ``airtovac``. Given to
  1e-4 Å / 1e-3 Å, i.e. ±5e-6 nm / ±5e-5 nm rounding.
- Ciddor (1996), Appl. Opt. 35, 1566, eq. 1: the standard-air index (15 °C, 101 325 Pa, dry, 450 ppm CO₂),
  written out below from the paper's constants, over the whole 200–1100 nm range.
- LumiSpy's own air index (Peck & Reeder 1972, ``lumispy.utils.axes``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hyperspec
from hyperspec import axes
from hyperspec._errors import AxisError, HyperspecError
from hyperspec.model import laser_vacuum_nm, to_medium, wavelength_medium

#: (air nm, vacuum nm, reference precision nm, source)
PUBLISHED = [
    (849.53595, 849.76937, 1e-5, "Ne I, Sansonetti 2004 / Peck & Reeder 1972"),
    (865.43828, 865.67600, 1e-5, "Ne I, Sansonetti 2004 / Peck & Reeder 1972"),
    (859.12585, 859.36186, 1e-5, "Ne I, Sansonetti 2004 / Peck & Reeder 1972"),
    (605.6125, 605.78019, 1e-5, "Kr, IDL astrolib AIRTOVAC (Ciddor 1996)"),
    (486.1363, 486.2721, 5e-5, "H beta, astrolibR airtovac (Ciddor 1996)"),
    (199.9353, 200.0, 5e-5, "2000 A vacuum, IDL astrolib VACTOAIR (Ciddor 1996)"),
]

GRID = np.linspace(200.0, 1100.0, 9001)


def _n_ciddor(vacuum_nm):
    """Ciddor (1996) eq. 1, standard air: 10⁸(n − 1) = k1/(k0 − σ²) + k3/(k2 − σ²), σ in µm⁻¹ (vacuum)."""
    s2 = (1e3 / np.asarray(vacuum_nm, dtype=float)) ** 2
    return 1.0 + 5792105e-8 / (238.0185 - s2) + 167917e-8 / (57.362 - s2)


def _ciddor_air_to_vacuum(air_nm):
    vac = np.asarray(air_nm, dtype=float)
    for _ in range(6):
        vac = air_nm * _n_ciddor(vac)
    return vac


@pytest.mark.parametrize(("air", "vac", "precision", "source"), PUBLISHED, ids=[f"{p[0]}nm" for p in PUBLISHED])
def test_published_pairs_to_1e4_nm(air, vac, precision, source):
    assert abs(axes.air_to_vacuum(air) - vac) < 1e-4, source
    assert abs(axes.vacuum_to_air(vac) - air) < 1e-4, source
    if precision <= 1e-5:  # the pairs quoted to 1e-4 Å agree to better than 2e-5 nm
        assert abs(axes.air_to_vacuum(air) - vac) < 2e-5, source


def test_ciddor_1996_over_200_to_1100_nm():
    ours = axes.air_to_vacuum(GRID)
    assert np.max(np.abs(ours - _ciddor_air_to_vacuum(GRID))) < 1e-4  # 5.9e-5 nm at 200 nm, < 1e-5 nm above 300 nm
    assert np.max(np.abs(axes.vacuum_to_air(GRID) - GRID / _n_ciddor(GRID))) < 1e-4
    # the 250–550 nm and 900–1100 nm stretches named in the issue, tighter
    band = (GRID >= 250) & (GRID <= 550) | (GRID >= 900)
    assert np.max(np.abs(ours - _ciddor_air_to_vacuum(GRID))[band]) < 3e-5


def test_lumispy_air_index_agrees_to_1e3_nm():
    lumispy_axes = pytest.importorskip("lumispy.utils.axes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside LumiSpy's 185–1700 nm range: no clamping warning
        lumi_vac = lumispy_axes._n_air(GRID.copy()) * GRID  # LumiSpy: n evaluated at the air wavelength
        lumi_ev = lumispy_axes.nm2eV(GRID.copy())
    assert np.max(np.abs(lumi_vac - axes.air_to_vacuum(GRID))) < 1e-3  # measured 1.8e-5 nm
    # LumiSpy's nm → eV for air wavelengths is ours through the vacuum wavelength (its CODATA hc differs < 1e-9)
    np.testing.assert_allclose(axes.nm2ev(axes.air_to_vacuum(GRID)), lumi_ev, rtol=3e-8)


def test_round_trip_and_shapes():
    for grid in (GRID, GRID.reshape(9001, 1)[::7]):
        np.testing.assert_allclose(axes.vacuum_to_air(axes.air_to_vacuum(grid)), grid, rtol=0, atol=1e-9)
        np.testing.assert_allclose(axes.air_to_vacuum(axes.vacuum_to_air(grid)), grid, rtol=0, atol=1e-9)
        assert axes.air_to_vacuum(grid).shape == grid.shape
    assert isinstance(axes.air_to_vacuum(500.0), float) and isinstance(axes.vacuum_to_air(500.0), float)
    assert axes.air_to_vacuum(np.float32(500.0)) == pytest.approx(500.13948, abs=1e-5)  # float64 result
    out = axes.air_to_vacuum(np.array([500.0, np.nan]))  # NaN passes through
    assert np.isnan(out[1]) and np.isfinite(out[0])
    assert axes.air_to_vacuum(500.0, xp=np) == axes.air_to_vacuum(500.0)
    assert axes.to_vacuum(500.0, "vacuum") == 500.0
    assert axes.from_vacuum(axes.to_vacuum(500.0, "air"), "air") == pytest.approx(500.0, abs=1e-12)


def test_below_185_nm_and_unknown_media_are_clear_errors():
    for fn in (axes.air_to_vacuum, axes.vacuum_to_air):
        with pytest.raises(AxisError, match=r"150 nm is below 185 nm, where air is opaque.*medium='vacuum'"):
            fn(np.array([150.0, 300.0]))
    with pytest.raises(AxisError, match=r"`medium` must be 'air'.*or 'vacuum'.*got 'water'"):
        axes.normalize_medium("water")
    with pytest.raises(HyperspecError, match="medium"):
        hyperspec.from_array(np.ones(3), [500.0, 501.0, 502.0], unit="nm", medium="glass")
    with pytest.raises(AxisError, match=r"reaches 150 nm.*cannot be an air wavelength; pass medium='vacuum'"):
        hyperspec.from_array(np.ones(3), [150.0, 200.0, 250.0], unit="nm", medium="air")
    # a UV axis without a stated medium is vacuum (the only medium there)
    uv = hyperspec.from_array(np.ones(3), [150.0, 200.0, 250.0], unit="nm")
    assert uv.attrs["wavelength_medium"] == "vacuum"
    np.testing.assert_array_equal(uv["energy"].values, axes.nm2ev(uv["wavelength"].values))


def test_air_map_energy_is_0p66_mev_below_the_naive_value_at_520_nm():
    nm = np.linspace(515.0, 525.0, 101)
    air = hyperspec.from_array(np.ones((4, 5, 101)), nm, unit="nm", medium="air", laser_nm=632.8)
    naive = axes.nm2ev(nm)  # what hyperspec computed before: λ taken as vacuum
    expected = axes.HC_EV_NM / (_n_ciddor(_ciddor_air_to_vacuum(nm)) * nm)  # E = hc/(n λ_air), Ciddor's n
    np.testing.assert_allclose(air["energy"].values, expected, rtol=0, atol=2e-7)  # eV; 0.2 µeV
    k = int(np.argmin(np.abs(nm - 520.0)))
    assert (naive[k] - air["energy"].values[k]) * 1e3 == pytest.approx(0.664, abs=0.002)  # meV
    # Raman shift between the vacuum wavenumbers of line and laser (both given in air)
    laser_vac = _ciddor_air_to_vacuum(632.8)
    expected_shift = 1e7 / laser_vac - 1e7 / _ciddor_air_to_vacuum(nm)
    np.testing.assert_allclose(air["shift"].values, expected_shift, rtol=0, atol=2e-3)  # cm⁻¹
    assert air.attrs["wavelength_medium"] == "air" and air.attrs["laser_medium"] == "air"
    np.testing.assert_array_equal(air["wavelength"].values, nm)  # the wavelengths stay as measured


def test_defaults_and_other_units():
    nm = np.linspace(600.0, 700.0, 64)
    ds = hyperspec.from_array(np.ones(64), nm, unit="nm", laser_nm=532.0)  # no medium: a grating spectrometer, air
    assert ds.attrs["wavelength_medium"] == "air" and ds.attrs["laser_medium"] == "air"
    vac = hyperspec.from_array(np.ones(64), nm, unit="nm", laser_nm=532.0, medium="vacuum")
    np.testing.assert_array_equal(vac["energy"].values, axes.nm2ev(nm))
    np.testing.assert_allclose(vac["shift"].values, axes.raman_shift(nm, 532.0), rtol=1e-12)
    # the laser medium follows the axis unless given
    mixed = hyperspec.from_array(np.ones(64), nm, unit="nm", laser_nm=532.0, medium="air", laser_medium="vacuum")
    np.testing.assert_allclose(mixed["shift"].values, 1e7 / 532.0 - 1e7 / axes.air_to_vacuum(nm), rtol=1e-12)
    # a Raman-shift axis is by default the physical (vacuum) shift: kept exactly, the wavelengths in vacuum
    shift = np.linspace(100.0, 3000.0, 64)
    raman = hyperspec.from_array(np.ones(64), shift, laser_nm=632.816, laser_medium="air")
    assert raman.attrs["wavelength_medium"] == "vacuum" and raman.attrs["laser_medium"] == "air"
    np.testing.assert_array_equal(raman["shift"].values, shift)
    vac_wl = 1e7 / (1e7 / _ciddor_air_to_vacuum(632.816) - shift)
    np.testing.assert_allclose(raman["wavelength"].values, vac_wl, rtol=0, atol=2e-5)
    np.testing.assert_allclose(raman["energy"].values, axes.HC_EV_NM / vac_wl, rtol=1e-7)
    assert laser_vacuum_nm(raman) == pytest.approx(632.991, abs=1e-3)  # the He-Ne line in vacuum
    # shifts an instrument computed from its air wavelengths (10⁷/λ_L,air − 10⁷/λ_air, as HORIBA LabSpec exports)
    labspec = hyperspec.from_array(np.ones(64), shift, laser_nm=632.816, medium="air")
    air_wl = 1e7 / (1e7 / 632.816 - shift)  # what the instrument measured
    np.testing.assert_allclose(labspec["wavelength"].values, air_wl, rtol=1e-13)
    true_shift = 1e7 / _ciddor_air_to_vacuum(632.816) - 1e7 / _ciddor_air_to_vacuum(air_wl)
    np.testing.assert_allclose(labspec["shift"].values, true_shift, rtol=0, atol=2e-3)
    assert 0.1 < shift[-1] - labspec["shift"].values[-1] < 1.5  # cm⁻¹: the air numbers are 0.03 % off
    with pytest.raises(AxisError, match=r"computed from air wavelengths.*needs its laser"):
        hyperspec.from_array(np.ones(64), shift, medium="air")
    # an energy axis is by default the physical energy: kept exactly
    ev = np.linspace(1.8, 2.6, 64)
    pl = hyperspec.from_array(np.ones(64), ev, unit="eV")
    np.testing.assert_array_equal(pl["energy"].values, ev[::-1])
    np.testing.assert_allclose(pl["wavelength"].values, axes.HC_EV_NM / ev[::-1], rtol=1e-15)
    # energies computed from air wavelengths (hc/λ_air, as instrument software does): corrected
    pl_air = hyperspec.from_array(np.ones(64), ev, unit="eV", medium="air")
    air_wl = axes.HC_EV_NM / ev[::-1]
    np.testing.assert_allclose(pl_air["wavelength"].values, air_wl, rtol=1e-13)
    np.testing.assert_allclose(pl_air["energy"].values, axes.HC_EV_NM / _ciddor_air_to_vacuum(air_wl), rtol=0, atol=2e-7)
    # the medium can also come in the attrs (a reader's metadata)
    assert hyperspec.from_array(np.ones(64), nm, unit="nm", attrs={"wavelength_medium": "vacuum"}).attrs["wavelength_medium"] == "vacuum"


def test_old_store_without_the_attr_is_vacuum_and_with_laser_follows(tmp_path):
    ds = hyperspec.from_array(np.ones((4, 5, 64)), np.linspace(600.0, 700.0, 64), unit="nm", medium="vacuum")
    old = ds.copy()
    old.attrs = {k: v for k, v in ds.attrs.items() if k not in ("wavelength_medium", "laser_medium")}
    assert wavelength_medium(old) == "vacuum"
    lit = hyperspec.with_laser(old, 532.0)
    np.testing.assert_allclose(lit["shift"].values, axes.raman_shift(np.linspace(600.0, 700.0, 64), 532.0), rtol=1e-12)
    assert lit.attrs["laser_medium"] == "vacuum"
    # the medium survives a store round trip
    air = hyperspec.from_array(np.ones((4, 5, 64), np.float32), np.linspace(600.0, 700.0, 64), unit="nm", laser_nm=532.0)
    back = hyperspec.open(hyperspec.save(air, tmp_path / "a.zarr", progress=False))
    assert back.attrs["wavelength_medium"] == "air" and back.attrs["laser_medium"] == "air"
    np.testing.assert_array_equal(back["energy"].values, air["energy"].values)


def test_open_takes_the_files_medium():
    from tests.conftest import SILICON_TXT

    if not SILICON_TXT.exists():
        pytest.skip("shared test data not present")
    air = hyperspec.open(SILICON_TXT, laser_nm=532.0)  # WITec ASCII: a grating spectrometer, air by default
    vac = hyperspec.open(SILICON_TXT, laser_nm=532.0, medium="vacuum")
    assert air.attrs["wavelength_medium"] == "air" and vac.attrs["wavelength_medium"] == "vacuum"
    np.testing.assert_array_equal(vac["wavelength"].values, air["wavelength"].values)
    np.testing.assert_allclose(vac["energy"].values, axes.nm2ev(vac["wavelength"].values), rtol=1e-15)
    np.testing.assert_allclose(air["energy"].values, axes.HC_EV_NM / _ciddor_air_to_vacuum(air["wavelength"].values), atol=2e-7)


def test_with_laser_compares_lasers_in_one_medium():
    ds = hyperspec.from_array(np.ones(64), np.linspace(100.0, 3000.0, 64), laser_nm=632.816, laser_medium="air")
    same = hyperspec.with_laser(ds, axes.air_to_vacuum(632.816), medium="vacuum")  # the same line, in vacuum
    assert same.attrs["laser_nm"] == 632.816 and same.attrs["laser_medium"] == "air"
    np.testing.assert_array_equal(same["shift"].values, ds["shift"].values)
    with pytest.raises(AxisError, match=r"632.816 \(air\); refusing to change it to 632.816 \(vacuum\)"):
        hyperspec.with_laser(ds, 632.816, medium="vacuum")
    nm_map = hyperspec.from_array(np.ones(64), np.linspace(600.0, 700.0, 64), unit="nm", medium="air")
    lit = hyperspec.with_laser(nm_map, 532.0)  # the laser in the axis medium by default
    np.testing.assert_allclose(lit["shift"].values, 1e7 / axes.air_to_vacuum(532.0) - 1e7 / axes.air_to_vacuum(nm_map["wavelength"].values))


def test_to_medium_converts_and_reinterprets():
    nm = np.linspace(500.0, 900.0, 128)
    air = hyperspec.from_array(np.ones((4, 5, 128)), nm, unit="nm", laser_nm=632.816)
    vac = to_medium(air, "vacuum")
    assert vac.attrs["wavelength_medium"] == "vacuum" and vac.attrs["laser_medium"] == "vacuum"
    np.testing.assert_allclose(vac["wavelength"].values, _ciddor_air_to_vacuum(nm), rtol=0, atol=1e-4)
    assert vac.attrs["laser_nm"] == pytest.approx(632.991, abs=1e-3)
    for name in ("energy", "shift"):  # physical quantities: unchanged
        np.testing.assert_array_equal(vac[name].values, air[name].values)
    back = to_medium(vac, "air")
    np.testing.assert_allclose(back["wavelength"].values, nm, rtol=0, atol=1e-9)
    assert back.attrs["laser_nm"] == pytest.approx(632.816, abs=1e-9)
    np.testing.assert_array_equal(back["spectra"].values, air["spectra"].values)
    assert hyperspec.model.history_records(back.attrs)[-1]["step"] == "to_medium"
    # an old store that holds air wavelengths but was read as vacuum: relabel and recompute
    old = hyperspec.from_array(np.ones((4, 5, 128)), nm, unit="nm", laser_nm=632.816, medium="vacuum")
    fixed = to_medium(old, "air", reinterpret=True)
    np.testing.assert_array_equal(fixed["wavelength"].values, nm)
    np.testing.assert_allclose(fixed["energy"].values, air["energy"].values, rtol=1e-14)
    np.testing.assert_allclose(fixed["shift"].values, air["shift"].values, rtol=1e-12)
    with pytest.raises(AxisError, match="`medium` must be 'air'"):
        to_medium(air, "helium")


def _lamp(medium, n=1340):
    """A neon lamp on a 785 nm system, its axis in ``medium``; lines at the NIST (air) wavelengths."""
    from hyperspec.preprocess.calibrate import NEON_LINES_NIR_NM

    rng = np.random.default_rng(1)
    true_air = 780 + 0.135 * np.arange(n) - 2e-6 * np.arange(n) ** 2
    lines = np.array(NEON_LINES_NIR_NM)
    y = rng.poisson(300 + (3000 * np.exp(-0.5 * ((true_air[None] - lines[:, None]) / 0.12) ** 2)).sum(0)).astype(float)
    axis = true_air if medium == "air" else axes.air_to_vacuum(true_air)
    return hyperspec.from_array(y, axis, unit="nm", laser_nm=785.0, medium=medium, laser_medium="air"), axis


@pytest.mark.parametrize("medium", ["air", "vacuum"])
def test_neon_calibration_compares_in_the_lamps_medium(medium):
    from hyperspec.preprocess import apply_wavelength_calibration, calibrate_wavelength
    from hyperspec.preprocess.calibrate import LINES_MEDIUM, NEON_LINES_NIR_NM

    assert LINES_MEDIUM == "air"
    lamp, true = _lamp(medium)
    cal = calibrate_wavelength(lamp, order=1)
    assert cal.attrs["medium"] == medium and cal.attrs["rms_nm"] < 0.003
    ref = np.asarray(NEON_LINES_NIR_NM)
    expected = ref if medium == "air" else _ciddor_air_to_vacuum(ref)
    got = cal["reference_nm"].values
    assert got.size >= 15 and np.max(np.min(np.abs(got[:, None] - expected[None]), axis=1)) < 1e-5  # each one a listed line
    fixed = apply_wavelength_calibration(lamp, cal)
    assert np.max(np.abs(fixed["wavelength"].values - true)) < 0.005
    if medium == "vacuum":  # taking the air list for vacuum moves the axis by the air–vacuum difference, 0.21–0.26 nm
        wrong = apply_wavelength_calibration(lamp, calibrate_wavelength(lamp, order=1, lines_medium="vacuum"))
        assert 0.2 < np.median(np.abs(wrong["wavelength"].values - true)) < 0.3
    # a calibration made in air applied to the same lamp in vacuum gives the same light
    if medium == "air":
        other = to_medium(lamp, "vacuum")
        moved = apply_wavelength_calibration(other, cal)
        np.testing.assert_allclose(moved["wavelength"].values, axes.air_to_vacuum(fixed["wavelength"].values), atol=1e-9)
        np.testing.assert_allclose(moved["energy"].values, fixed["energy"].values, rtol=1e-12)


def test_calibrate_shift_and_resample_keep_the_medium():
    from hyperspec.preprocess import calibrate as C

    shift = np.linspace(-500.0, 3000.0, 128)
    ds = hyperspec.from_array(np.ones((4, 5, 128)), shift, laser_nm=532.0, medium="air")
    moved = C.calibrate_shift(ds, 2.5)
    np.testing.assert_allclose(moved["shift"].values, ds["shift"].values + 2.5, rtol=1e-15)
    vac = axes.shift2nm(ds["shift"].values + 2.5, axes.air_to_vacuum(532.0))
    np.testing.assert_allclose(moved["wavelength"].values, axes.vacuum_to_air(vac), rtol=1e-13)
    np.testing.assert_allclose(moved["energy"].values, axes.nm2ev(vac), rtol=1e-13)
    res = C.resample(ds, ds["shift"].values[::2])
    np.testing.assert_allclose(res["wavelength"].values, ds["wavelength"].values[::2], rtol=1e-13)
    np.testing.assert_allclose(res["energy"].values, ds["energy"].values[::2], rtol=1e-13)


def test_synthetic_maps_are_vacuum_and_their_truth_consistent():
    ds, truth = hyperspec.synthetic.cspbbr3_map((4, 5), n_spectral=64, noise=False, artefacts=False, seed=1)
    assert ds.attrs["wavelength_medium"] == "vacuum" and ds.attrs["laser_medium"] == "vacuum"
    np.testing.assert_array_equal(ds["energy"].values, axes.nm2ev(ds["wavelength"].values))
    np.testing.assert_allclose(ds["shift"].values, axes.raman_shift(ds["wavelength"].values, ds.attrs["laser_nm"]), rtol=1e-12)


def test_labspec_exports_of_one_spectrum_agree_only_as_air_numbers():
    """HORIBA LabSpec exported one spectrum in nm and in 1/cm: its 1/cm are 10⁷/λ_L,air − 10⁷/λ_air."""
    from tests.io.test_readers import JOBINYVON

    if not JOBINYVON.exists():
        pytest.skip("shared test data not present")
    nm_file = hyperspec.open(JOBINYVON / "jobinyvon_test_spec_3s_counts.xml")
    cm_file = hyperspec.open(JOBINYVON / "jobinyvon_test_spec_3s_cm-1.xml")
    assert nm_file.attrs["wavelength_medium"] == cm_file.attrs["wavelength_medium"] == "air"
    np.testing.assert_allclose(nm_file["shift"].values, cm_file["shift"].values, atol=0.02)  # 6-digit export
    np.testing.assert_allclose(nm_file["wavelength"].values, cm_file["wavelength"].values, atol=1e-3)
    # read as vacuum shifts, the 1/cm file would sit up to 0.8 cm⁻¹ off the nm file
    as_vacuum = hyperspec.open(JOBINYVON / "jobinyvon_test_spec_3s_cm-1.xml", medium="vacuum")
    off = np.abs(as_vacuum["shift"].values - nm_file["shift"].values)
    assert 0.5 < off.max() < 1.0


def test_device_arrays_stay_on_the_device(xp):
    from hyperspec._backend import to_numpy

    dev = xp.asarray(GRID)
    vac = axes.air_to_vacuum(dev)
    assert type(vac) is type(dev) and vac.shape == GRID.shape
    np.testing.assert_allclose(to_numpy(vac), axes.air_to_vacuum(GRID), rtol=1e-15)
    np.testing.assert_allclose(to_numpy(axes.vacuum_to_air(vac)), GRID, rtol=0, atol=1e-9)
    assert type(axes.refractive_index_air(dev, xp=xp)) is type(dev)
    with pytest.raises(AxisError, match="below 185 nm"):
        axes.air_to_vacuum(xp.asarray([150.0, 300.0]))


def test_cli_info_shows_and_convert_takes_the_medium(tmp_path, capsys):
    from hyperspec.cli import main
    from tests.conftest import SILICON_TXT

    if not SILICON_TXT.exists():
        pytest.skip("shared test data not present")
    assert main(["info", str(SILICON_TXT)]) == 0
    assert "wavelengths in air (energy and shift from vacuum wavelengths)" in capsys.readouterr().out
    store = tmp_path / "si.zarr"
    assert main(["convert", str(SILICON_TXT), str(store), "--laser-nm", "532", "--medium", "vacuum", "-q"]) == 0
    back = hyperspec.open(store)
    assert back.attrs["wavelength_medium"] == "vacuum" and back.attrs["laser_medium"] == "vacuum"
    np.testing.assert_allclose(back["energy"].values, axes.nm2ev(back["wavelength"].values), rtol=1e-15)
