"""The .wdf reader on renishaw-wdf (Renishaw's accessor) against two independent readers of the same files.

renishawWiRE (the reader this one replaced) gives the reference arrays: every spectrum at its
recorded stage position, the x-list, the origin lists, the laser; RosettaSciIO's Renishaw reader
gives the reference acquisition settings (its ``metadata`` / ``original_metadata``).
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import ReaderError
from tests.conftest import SHARED_DATA

pytest.importorskip("wdf")  # renishaw-wdf

WDFS = sorted(SHARED_DATA.glob("**/*.wdf"))
RENISHAW = SHARED_DATA / "rosettasciio" / "renishaw"
READABLE = [p for p in WDFS if p.name != "renishaw_test_undefined.wdf"]  # that one records no spectral unit


def _wire(path):
    """renishawWiRE's reading of ``path``: spectra (count, m), x-list, x/y/z positions, time origin, laser (nm)."""
    from renishawWiRE import WDFReader  # noqa: PLC0415

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        raw = WDFReader(str(path))
    try:
        m = int(raw.point_per_spectrum)
        time = None
        for entry in getattr(raw, "origin_list_header", None) or []:
            if str(entry[3]).lower() == "time":
                time = np.asarray(entry[4], dtype=float)
        return (np.asarray(raw.spectra).reshape(-1, m), np.asarray(raw.xdata, dtype=float), np.asarray(raw.xpos, dtype=float),
                np.asarray(raw.ypos, dtype=float), np.asarray(raw.zpos, dtype=float), time, float(raw.laser_length))  # fmt: skip
    finally:
        raw.close()


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("path", READABLE, ids=[p.name for p in READABLE])
def test_every_wdf_reads_what_renishawwire_reads(path, lazy):
    pytest.importorskip("renishawWiRE")
    ds = hyperspec.open(path, lazy=lazy)
    flat, xdata, xpos, ypos, zpos, time, laser = _wire(path)
    n, m = flat.shape
    order = slice(None, None, -1) if xdata[0] > xdata[-1] else slice(None)  # the store's spectral axis ascends
    axis_name = {"cm-1": "shift", "nm": "wavelength", "eV": "energy"}[ds.attrs["spectral_unit"]]
    np.testing.assert_array_equal(ds[axis_name].values, xdata[order])  # the x-list, float32 as stored
    if np.isfinite(laser):  # 1e7 / the header's laser wavenumber (0 where the file records none)
        np.testing.assert_allclose(ds.attrs["laser_nm"], laser, rtol=1e-12)
    else:
        assert "laser_nm" not in ds.attrs
    spectra = ds["spectra"].values
    assert spectra.dtype == np.float32
    if {"y", "x"} <= set(ds["spectra"].dims):  # a map: each spectrum at its recorded stage position
        for i in range(n):
            iy = int(np.argmin(np.abs(ds["y"].values - ypos[i])))
            ix = int(np.argmin(np.abs(ds["x"].values - xpos[i])))
            np.testing.assert_array_equal(spectra[iy, ix], flat[i][order])
        assert ds.sizes["y"] * ds.sizes["x"] == n
    else:
        np.testing.assert_array_equal(spectra.reshape(-1, m), flat[:, order])
        if "z" in ds.dims:
            np.testing.assert_array_equal(ds["z"].values, zpos)
        if "point" in ds.dims:  # an interrupted map: every collected spectrum with its position
            np.testing.assert_array_equal(ds["x"].values, xpos[:n])
            np.testing.assert_array_equal(ds["y"].values, ypos[:n])
        if "t" in ds.coords and time is not None:  # FileTime stamps, 100 ns ticks: renishaw-wdf keeps them to ~2 µs
            np.testing.assert_allclose(ds["t"].values, time, rtol=0, atol=5e-6)


def test_lazy_maps_the_data_block_without_reading_it():
    path = RENISHAW / "renishaw_test_streamline.wdf"
    lazy, eager = hyperspec.open(path, lazy=True), hyperspec.open(path, lazy=False)
    assert lazy["spectra"].chunks is not None and eager["spectra"].chunks is None
    np.testing.assert_array_equal(lazy["spectra"].values, eager["spectra"].values)


_RSCIIO_FILES = ["renishaw_test_exptime10_acc1.wdf", "renishaw_test_exptime1_acc2.wdf", "renishaw_test_streamline.wdf",
                 "renishaw_test_timeseries.wdf", "renishaw_test_zscan.wdf", "renishaw_test_map2.wdf"]  # fmt: skip


@pytest.mark.parametrize("name", _RSCIIO_FILES)
def test_acquisition_settings_match_rosettasciio(name):
    rsciio = pytest.importorskip("rsciio.renishaw")
    ds = hyperspec.open(RENISHAW / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = rsciio.file_reader(str(RENISHAW / name))[0]
    md, om = ref["metadata"]["Acquisition_instrument"], ref["original_metadata"]
    detector = md["Detector"]
    assert ds.attrs["accumulations"] == detector["frames"]
    np.testing.assert_allclose(ds.attrs["exposure_s"] * ds.attrs["accumulations"], detector["integration_time"], rtol=1e-12)
    assert ds.attrs["grating_lines_per_mm"] == md["Spectrometer"]["Grating"]["groove_density"]
    np.testing.assert_allclose(ds.attrs["laser_nm"], md["Laser"]["wavelength"], rtol=1e-6)  # header vs calibration (WXCS)
    wxis = om["WXIS_0"]
    assert ds.attrs["grating"] == wxis["System Configuration"]["Grating"]
    assert ds.attrs["nd_transmission_percent"] == float(wxis["ND Transmission %"])
    # RosettaSciIO drops the objective and the laser's name; the instrument (WXIS) block's bytes hold them
    block = _block(RENISHAW / name, b"WXIS")
    assert ds.attrs["objective"].encode() in block and ds.attrs["laser"].encode() in block
    assert struct.pack("<d", ds.attrs["objective_magnification"]) in block and ds.attrs["objective"].startswith("x")


def test_exposure_and_accumulations_of_the_named_files():
    """The RosettaSciIO test files say their settings in their names: exptime10_acc1, exptime1_acc2."""
    a = hyperspec.open(RENISHAW / "renishaw_test_exptime10_acc1.wdf")
    b = hyperspec.open(RENISHAW / "renishaw_test_exptime1_acc2.wdf")
    assert (a.attrs["exposure_s"], a.attrs["accumulations"]) == (10.0, 1)
    assert (b.attrs["exposure_s"], b.attrs["accumulations"]) == (1.0, 2)
    assert a.attrs["metadata"]["accumulation_count"] == 3  # the header's count includes the two cosmic-ray frames


def _offset(path, name: bytes) -> int:
    """Byte offset of the first block called ``name`` (walking the 16-byte block headers)."""
    data, at = path.read_bytes(), 0
    while data[at : at + 4] != name:
        at += struct.unpack_from("<Q", data, at + 8)[0]
    return at


def _block(path, name: bytes) -> bytes:
    at = _offset(path, name)
    data = path.read_bytes()
    return data[at : at + struct.unpack_from("<Q", data, at + 8)[0]]


def test_an_absolute_wavenumber_axis_asks_for_its_unit(tmp_path):
    src = RENISHAW / "renishaw_test_exptime1_acc1.wdf"
    path = tmp_path / "wavenumber.wdf"
    raw = bytearray(src.read_bytes())  # the unit field follows the 16-byte header and the 4-byte data type
    struct.pack_into("<I", raw, _offset(src, b"XLST") + 20, 2)  # WdfDataUnit.Wavenumber
    path.write_bytes(bytes(raw))
    with pytest.raises(ReaderError, match=r"wavenumber\.wdf: the file gives its spectral axis .* in unit 'Wavenumber'.*unit="):
        hyperspec.open(path)
    ds = hyperspec.open(path, unit="cm-1")
    np.testing.assert_array_equal(ds["spectra"].values, hyperspec.open(src)["spectra"].values)
