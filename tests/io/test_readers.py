"""Instrument readers on the real files of ../shared/data: exact shapes, axes, lasers, values; corrupt input."""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import ReaderError
from tests.conftest import SHARED_DATA, SILICON_TXT, _is_number

pytest.importorskip("wdf")  # renishaw-wdf
pytest.importorskip("sif_parser")

RENISHAW = SHARED_DATA / "rosettasciio" / "renishaw"


@pytest.mark.parametrize(
    ("name", "sizes", "unit", "first", "last", "laser"),
    [
        ("renishaw_test_map2.wdf", {"y": 20, "x": 20, "spectral": 1015}, "nm", 326.17166, 412.4484, 325.0003),
        ("renishaw_test_streamline.wdf", {"y": 49, "x": 45, "spectral": 394}, "cm-1", 924.1953, 1667.6943, 784.9971),
        ("renishaw_test_timeseries.wdf", {"t": 3, "spectral": 1007}, "cm-1", -1069.9861, 1847.217, 532.2331),
        ("renishaw_test_zscan.wdf", {"z": 40, "spectral": 1015}, "cm-1", 1226.605, 2787.783, 532.25),
        ("renishaw_test_exptime1_acc1.wdf", {"spectral": 1015}, "cm-1", -789.916, 1662.6895, 325.0003),
        ("renishaw_test_map.wdf", {"y": 3, "x": 3, "spectral": 47}, "nm", None, None, 325.0003),
        ("renishaw_test_linescan.wdf", {"x": 5, "spectral": 40}, "nm", None, None, 325.0003),
        ("interrupted_acquisition.wdf", {"point": 12, "spectral": 1010}, "cm-1", -163.693, 1128.625, 532.161),
        ("renishaw_test_focustrack_invariant.wdf", {"t": 10, "spectral": 1010}, "cm-1", None, None, 532.161),
    ],
)
def test_renishaw_wdf(name, sizes, unit, first, last, laser):
    ds = hyperspec.open(RENISHAW / name)
    assert dict(ds.sizes) == sizes
    assert ds.attrs["spectral_unit"] == unit and ds.attrs["reader"] == "renishaw-wdf"
    assert ds.attrs["laser_nm"] == pytest.approx(laser, abs=1e-3)
    axis = ds["wavelength"].values if unit == "nm" else ds["shift"].values
    assert np.all(np.diff(axis) > 0)  # canonical order: ascending
    if first is not None:
        assert axis[0] == pytest.approx(first, abs=1e-3) and axis[-1] == pytest.approx(last, abs=1e-3)
    assert np.isfinite(ds["spectra"].values).all()


def test_renishaw_series_keeps_its_time_stamps():
    ds = hyperspec.open(RENISHAW / "renishaw_test_timeseries.wdf")
    t = ds["t"].values
    assert t[0] == 0.0 and np.all(np.diff(t) > 0) and ds["t"].attrs["units"] == "s"


def test_renishaw_map_positions_and_values():
    ds = hyperspec.open(RENISHAW / "renishaw_test_map2.wdf")
    np.testing.assert_allclose(np.diff(ds["x"].values), 1.0, atol=1e-3)  # 1 µm steps (MANIFEST)
    np.testing.assert_allclose(np.diff(ds["y"].values), 1.0, atol=1e-3)
    from renishawWiRE import WDFReader

    for name in ("renishaw_test_map2.wdf", "renishaw_test_streamline.wdf"):
        ds = hyperspec.open(RENISHAW / name)
        raw = WDFReader(str(RENISHAW / name))
        try:  # each spectrum sits at its recorded stage position
            flat = np.asarray(raw.spectra).reshape(-1, ds.sizes["spectral"])
            xpos, ypos = np.asarray(raw.xpos), np.asarray(raw.ypos)
        finally:
            raw.close()
        for i in (0, 5, len(flat) // 2, len(flat) - 1):
            iy = int(np.argmin(np.abs(ds["y"].values - ypos[i])))
            ix = int(np.argmin(np.abs(ds["x"].values - xpos[i])))
            order = slice(None, None, -1) if name.endswith("map2.wdf") else slice(None)  # map2 is stored in descending wavelength
            np.testing.assert_array_equal(ds["spectra"].values[iy, ix], flat[i][order])
    np.testing.assert_allclose(np.diff(ds["x"].values), 2.6, atol=0.01)  # StreamLine: 2.6 µm steps (MANIFEST)
    np.testing.assert_allclose(np.diff(ds["y"].values), 2.6, atol=0.01)


def test_andor_sif_matches_andors_own_ascii_export():
    ds = hyperspec.open(SHARED_DATA / "sif_parser" / "raman1.sif")
    rows = [line.split() for line in (SHARED_DATA / "sif_parser" / "raman1.asc").read_text(errors="replace").splitlines()]
    asc = np.array([[float(a), float(b)] for a, b in (r for r in rows if len(r) == 2 and _is_number(r[0]) and _is_number(r[1]))])
    assert ds.sizes["spectral"] == 1024 == len(asc)
    np.testing.assert_allclose(ds["wavelength"].values, asc[:, 0], atol=5e-5)  # the export has 5 decimals
    np.testing.assert_allclose(ds["spectra"].values, asc[:, 1], rtol=1e-5, atol=5)
    assert ds.attrs["laser_nm"] == 422.0  # RamanExWavelength as recorded in the file


def test_andor_kinetic_series_and_image_mode():
    ds = hyperspec.open(SHARED_DATA / "sif_parser" / "measurement.sif")
    assert dict(ds.sizes) == {"t": 20, "spectral": 1024}
    assert ds["t"].values[1] == pytest.approx(3.0221, abs=1e-4)  # the cycle time (3 s exposures)
    assert ds["wavelength"].values[0] == pytest.approx(529.99984, abs=1e-4) and ds["wavelength"].values[-1] == pytest.approx(
        592.84125, abs=1e-4
    )
    with pytest.raises(ReaderError, match="image-mode"):
        hyperspec.open(SHARED_DATA / "sif_parser" / "test.sif")


def test_witec_ascii_and_horiba_text():
    si = hyperspec.open(SILICON_TXT)
    assert dict(si.sizes) == {"spectral": 1600} and si.attrs["spectral_unit"] == "nm"
    assert si["wavelength"].values[0] == pytest.approx(530.7816803) and si["wavelength"].values[-1] == pytest.approx(661.8723782)
    assert "laser_nm" not in si.attrs and si.attrs["metadata"]["XAxisUnit"] == "nm"
    # a grating spectrometer's air wavelengths (and the laser in air): the shift is between vacuum wavenumbers
    a2v = hyperspec.axes.air_to_vacuum
    assert hyperspec.open(SILICON_TXT, laser_nm=532.0)["shift"].values[-1] == pytest.approx(1e7 / a2v(532) - 1e7 / a2v(661.8723782))
    gd = hyperspec.open(SHARED_DATA / "horiba-raman" / "Gd2O3_AlN_map_data.txt")
    assert dict(gd.sizes) == {"y": 12, "x": 6, "spectral": 498}
    assert gd.attrs["laser_nm"] == 473.0 and gd.attrs["exposure_s"] == 3.0 and gd.attrs["accumulations"] == 2.0
    assert gd["shift"].values[0] == pytest.approx(100.166, abs=1e-3) and gd["shift"].values[-1] == pytest.approx(1198.54, abs=1e-2)
    assert gd["x"].values[0] == pytest.approx(-209.871)
    assert gd["spectra"].values[gd["y"].values.tolist().index(-204.081), 0, :3].tolist() == [57.0, 53.0, 54.0]


def test_plain_text_needs_a_unit_when_ambiguous(tmp_path):
    path = SHARED_DATA / "spectrapepper" / "spectras.txt"
    with pytest.raises(ReaderError, match="unit='nm' or unit='cm-1'"):
        hyperspec.open(path)
    ds = hyperspec.open(path, unit="cm-1")
    assert dict(ds.sizes) == {"point": 196, "spectral": 1024}
    two = tmp_path / "s.csv"
    np.savetxt(two, np.column_stack([np.linspace(-100, 3000, 50), np.arange(50.0)]), delimiter=",")
    assert hyperspec.open(two, laser_nm=633.0)["spectra"].values[-1] == 49.0


def test_npz_round_trip_and_no_pickle(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, spectra=np.arange(24.0).reshape(2, 3, 4), shift=np.array([100.0, 200, 300, 400]), laser_nm=633.0)
    ds = hyperspec.open(path)
    assert dict(ds.sizes) == {"y": 2, "x": 3, "spectral": 4} and ds.attrs["laser_nm"] == 633.0
    bad = tmp_path / "o.npz"
    np.savez(bad, spectra=np.array([{"a": 1}], dtype=object), shift=np.arange(1.0))
    with pytest.raises(ReaderError, match="pickle|not a readable"):
        hyperspec.open(bad)


def test_unknown_format_lists_the_readers(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x01\x02garbage" * 100)
    with pytest.raises(ReaderError, match="no reader recognises") as err:
        hyperspec.open(path)
    assert "renishaw-wdf" in str(err.value) and "andor-sif" in str(err.value)


JOBINYVON = SHARED_DATA / "rosettasciio" / "jobinyvon"


@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        ("jobinyvon_test_map_x3-y2.xml", {"y": 2, "x": 3, "spectral": 34}),
        ("jobinyvon_test_map_x2-y2_rotated.xml", {"y": 2, "x": 3, "spectral": 34}),
        ("jobinyvon_test_linescan.xml", {"y": 3, "spectral": 34}),
        ("jobinyvon_test_spec.xml", {"spectral": 34}),
        ("jobinyvon_test_spec_range.xml", {"spectral": 105}),
    ],
)
def test_labspec_xml(name, sizes):
    ds = hyperspec.open(JOBINYVON / name)
    assert dict(ds.sizes) == sizes and ds.attrs["reader"] == "labspec-xml"
    assert ds.attrs["laser_nm"] == 632.817  # the precise value, not the displayed 633
    assert ds.attrs["metadata"]["Instrument"] == "LabRAM HR Evol"


def test_labspec_xml_same_spectrum_in_four_units_lands_on_one_axis():
    """The oracle of the issue: one spectrum exported in nm (counts), cm-1, absolute cm-1 and eV (counts/s)."""
    files = {u: hyperspec.open(JOBINYVON / f"jobinyvon_test_spec_3s_{u}.xml") for u in ("counts", "cm-1", "abs-cm-1", "eV")}
    assert [files[u].attrs["spectral_unit"] for u in files] == ["nm", "cm-1", "cm-1-abs", "eV"]
    ref = files["cm-1"]
    common = np.linspace(ref["shift"].values[1], ref["shift"].values[-2], 20)
    on_common = {u: hyperspec.preprocess.resample(ds, common)["spectra"].values for u, ds in files.items()}
    # the nm file is in counts over a 3 s exposure; the others are counts per second
    np.testing.assert_allclose(on_common["counts"] / 3.0, on_common["cm-1"], rtol=0.02)
    np.testing.assert_allclose(on_common["abs-cm-1"], on_common["cm-1"], rtol=1e-3)
    np.testing.assert_allclose(files["abs-cm-1"]["shift"].values, ref["shift"].values, atol=0.1)  # 6-digit export
    # LabSpec's eV axis differs from hc/λ (CODATA) by 1.4e-4 relative: ≤ 2 cm-1 here
    np.testing.assert_allclose(files["eV"]["shift"].values, ref["shift"].values, atol=2.0)
    np.testing.assert_array_equal(files["eV"]["spectra"].values, ref["spectra"].values)


def test_matlab_dataset_map_export():
    """RamanSPy's WITec map exported to MATLAB: 40 × 40 × 500, 501–1802 cm⁻¹, 0.625 µm pixels (MANIFEST)."""
    from scipy.io import loadmat

    path = SHARED_DATA / "ramanspy" / "3D THP1 map 001 L5 (B+R) (Sub BG).mat"
    ds = hyperspec.open(path)
    assert dict(ds.sizes) == {"y": 40, "x": 40, "spectral": 500} and ds.attrs["reader"] == "matlab-dataset"
    assert ds["shift"].values[0] == pytest.approx(501.265, abs=1e-3) and ds["shift"].values[-1] == pytest.approx(1802.466, abs=1e-3)
    np.testing.assert_allclose(np.diff(ds["x"].values), 0.625)
    raw = loadmat(str(path))
    data = next(v for k, v in raw.items() if not k.startswith("__"))[0, 0]["data"]
    for k in (0, 137, 1599):  # MATLAB's column order: pixel k sits at row k % 40, column k // 40
        np.testing.assert_array_equal(ds["spectra"].values[k % 40, k // 40], data[k])
