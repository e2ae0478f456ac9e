"""The readers added for issue 6 on the real files of ../shared/data, each against an oracle:
the vendor's own text export, the same measurement in another format, or a second reader."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import HyperspecError, ReaderError
from tests.conftest import SHARED_DATA

SPE = SHARED_DATA / "spe_handler"
SPC = SHARED_DATA / "nirs4all-formats" / "galactic_spc"
TVF = SHARED_DATA / "rosettasciio" / "trivista"
CHADA = SHARED_DATA / "ramanchada2"


# ---- Princeton SPE ----------------------------------------------------------------------------------
def test_spe3_matches_lightfields_own_text_export():
    ds = hyperspec.open(SPE / "Testfile_Single_SPE3.spe")
    txt = np.loadtxt(SPE / "Result_Single_SPE3.txt", skiprows=13)
    assert dict(ds.sizes) == {"spectral": 512} and ds.attrs["spectral_unit"] == "nm"
    np.testing.assert_array_equal(ds["wavelength"].values, txt[:, 0])  # the export prints all 17 digits
    np.testing.assert_allclose(ds["spectra"].values, txt[:, 1], rtol=1e-6, atol=1e-3)
    assert ds.attrs["laser_nm"] == 532.0 and ds.attrs["exposure_s"] == pytest.approx(3.0)
    # the same export through the delimited-text reader lands on the same numbers
    as_text = hyperspec.open(SPE / "Result_Single_SPE3.txt")
    np.testing.assert_allclose(as_text["spectra"].values, ds["spectra"].values, rtol=1e-6, atol=1e-3)
    assert as_text.attrs["laser_nm"] == 532.0 and as_text.attrs["exposure_s"] == pytest.approx(3.0)


def test_spe3_kinetic_stack_and_uint32_spectrum():
    ds = hyperspec.open(SPE / "Test100.spe")
    assert dict(ds.sizes) == {"t": 100, "spectral": 512}
    assert ds["wavelength"].values[0] == 842.81013431978329 and ds["wavelength"].values[-1] == pytest.approx(950.1601763659685)
    assert ds["t"].values[1] == pytest.approx(1 / 0.99968330033045549)  # LightField's measured frame rate
    raw = np.frombuffer((SPE / "Test100.spe").read_bytes()[4100 : 4100 + 100 * 1024], "<u2").reshape(100, 512)
    np.testing.assert_array_equal(ds["spectra"].values, raw)
    si = hyperspec.open(CHADA / "PrincetonInstruments" / "S0N_50x.spe")
    assert si.attrs["laser_nm"] == 531.988 and si.attrs["exposure_s"] == pytest.approx(30.0)
    peak = float(si["shift"].values[int(np.argmax(si["spectra"].values))])
    assert peak == pytest.approx(520.7, abs=3.0)  # the silicon line the file was recorded for


def test_spe2_calibration_polynomial_from_pixel_one():
    path = SPE / "Testfile_Single_SPE2.SPE"
    ds = hyperspec.open(path)
    assert dict(ds.sizes) == {"t": 35, "spectral": 1340}
    head = path.read_bytes()[:4100]
    c = struct.unpack_from("<3d", head, 3263)
    assert ds["wavelength"].values[0] == pytest.approx(c[0] + c[1] + c[2])  # WinSpec counts pixels from 1
    assert ds["wavelength"].values[-1] == pytest.approx(c[0] + c[1] * 1340 + c[2] * 1340**2)
    assert ds.attrs["laser_nm"] == pytest.approx(636.3) and ds.attrs["exposure_s"] == 30.0
    assert ds.attrs["metadata"]["display_unit"] == "Raman shift [cm -1]"


def test_spe_image_mode_and_truncation_are_refused(tmp_path):
    raw = bytearray((SPE / "Testfile_Single_SPE2.SPE").read_bytes())
    raw[656:658] = struct.pack("<H", 4)  # four detector rows
    (tmp_path / "img.spe").write_bytes(bytes(raw))
    with pytest.raises(ReaderError, match="image, not spectra"):
        hyperspec.open(tmp_path / "img.spe")
    (tmp_path / "cut.spe").write_bytes((SPE / "Test100.spe").read_bytes()[:60000])
    with pytest.raises(ReaderError, match="truncated"):
        hyperspec.open(tmp_path / "cut.spe")


# ---- GRAMS SPC --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spc", "wdf"),
    [
        (SHARED_DATA / "py-wdf-reader" / "Spectrum_532nm_wdf_spc.spc", SHARED_DATA / "py-wdf-reader" / "Spectrum_532nm_wdf.wdf"),
        (CHADA / "Renishaw" / "nCal_Qontor785_z005H12_100_1x3s.spc", CHADA / "Renishaw" / "nCal_Qontor785_z005H12_100_1x3s.wdf"),
    ],
    ids=["532nm", "785nm"],
)
def test_spc_export_is_the_wdf_on_an_even_grid(spc, wdf):
    """WiRE writes SPC with evenly spaced x (first, last): the same spectrum linearly resampled."""
    a, b = hyperspec.open(spc), hyperspec.open(wdf)
    assert a.sizes["spectral"] == b.sizes["spectral"] and a.attrs["laser_nm"] == round(b.attrs["laser_nm"])
    assert a["shift"].values[0] == pytest.approx(b["shift"].values[0], abs=1e-3)
    assert a["shift"].values[-1] == pytest.approx(b["shift"].values[-1], abs=1e-3)
    resampled = np.interp(a["shift"].values, b["shift"].values, b["spectra"].values)
    assert np.max(np.abs(resampled - a["spectra"].values)) < 2e-5 * np.max(np.abs(a["spectra"].values))


def test_spc_map_export_scaled_integers_and_xvalues():
    sion = hyperspec.open(SPC / "raman-sion.spc")
    assert dict(sion.sizes) == {"point": 36, "spectral": 1015} and sion.attrs["laser_nm"] == 457.0
    assert sion["shift"].values[0] == pytest.approx(1218.43359375) and sion["shift"].values[-1] == pytest.approx(2801.458984375)
    assert sion.attrs["exposure_s"] == 60.0 and sion.attrs["metadata"]["Measurement_type"] == "AreaMap Rectangle"
    ft = hyperspec.open(SPC / "RAMAN.SPC")  # 32-bit integers × 2^(exp−32), FT-Raman at 1064 nm
    raw = (SPC / "RAMAN.SPC").read_bytes()
    ints = np.frombuffer(raw[544 : 544 + 4 * 3632], "<i4") * 2.0 ** (raw[3] - 32)
    np.testing.assert_array_equal(np.sort(ft["spectra"].values), np.sort(ints))
    assert ft.attrs["laser_nm"] == pytest.approx(1e7 / 9395)  # RAMANFREQ, not the 633 nm reference laser (LWN)
    assert ft["shift"].values[0] == pytest.approx(-3005.956, abs=1e-3) and ft["shift"].values[-1] == pytest.approx(3996.823, abs=1e-3)
    witec = hyperspec.open(CHADA / "Witec" / "PST_WITEcAlpha532_100x_075_10000ms_000_Spec.Data 1.spc")  # explicit x values
    assert witec.sizes["spectral"] == 1600 and witec["shift"].values[0] == pytest.approx(-37.8856, abs=1e-3)
    reflex = hyperspec.open(CHADA / "InViaReflex" / "PST_Reflex532_Z050_010_10000msx2.spc")
    txt = np.loadtxt(CHADA / "InViaReflex" / "PST_Reflex532_Z050_010_10000msx2.txt")[::-1]
    resampled = np.interp(reflex["shift"].values, txt[:, 0], txt[:, 1])  # WiRE's own text export, resampled
    assert np.max(np.abs(resampled - reflex["spectra"].values)) < 5e-4 * np.max(reflex["spectra"].values)


# ---- TriVista ---------------------------------------------------------------------------------------
def test_trivista_map_line_series_and_glued_spectrum():
    m = hyperspec.open(TVF / "map.tvf")
    assert dict(m.sizes) == {"y": 9, "x": 9, "spectral": 1024}
    np.testing.assert_array_equal(m["x"].values, np.arange(-100, 101, 25.0))  # µm, from each frame's position
    assert m["wavelength"].values[0] == pytest.approx(891.894470214844) and m.attrs["exposure_s"] == 1.0
    line = hyperspec.open(TVF / "linescan.tvf")
    assert dict(line.sizes) == {"x": 21, "spectral": 97} and line["x"].values[[0, -1]].tolist() == [-10.0, 10.0]
    series = hyperspec.open(TVF / "spec_timeseries_2x1s_delta3s.tvf")
    assert dict(series.sizes) == {"t": 2, "spectral": 1024} and series.attrs["laser_nm"] == 790.0
    assert series["t"].values[1] == pytest.approx(4.04, abs=0.01)  # 1 s exposure + 3 s delay
    glued = hyperspec.open(TVF / "spec_step_and_glue.tvf")
    assert dict(glued.sizes) == {"spectral": 18000} and glued["wavelength"].values[-1] == pytest.approx(1499.89233398)
    sat = hyperspec.open(TVF / "spec_multiple_spectrometers.tvf")
    assert float(sat["spectra"].max()) == 65535.0  # the saturated spectrum of the manifest, kept as recorded


def test_trivista_agrees_with_rosettasciio():
    trivista = pytest.importorskip("rsciio.trivista")
    for name in ("map.tvf", "linescan.tvf", "spec_timeseries_2x1s_delta3s.tvf", "spec_3s_2acc_1frame_average.tvf"):
        ours = hyperspec.open(TVF / name)
        theirs = trivista.file_reader(str(TVF / name))[0]
        np.testing.assert_array_equal(ours["spectra"].values, np.asarray(theirs["data"]))
        sig = next(a for a in theirs["axes"] if a.get("name") == "Wavelength")
        axis = sig["axis"] if "axis" in sig else sig["offset"] + sig["scale"] * np.arange(sig["size"])
        np.testing.assert_allclose(ours["wavelength"].values, np.asarray(axis), rtol=1e-6)
    # positions: RosettaSciIO labels the experiment's From/Step values µm (map step 0.025); the frames'
    # own ValuePosition read-backs are 1000× those (step 25), so hyperspec takes From/Step as mm and
    # positions as µm (see the README); the two readers agree on the grid up to that factor
    theirs = trivista.file_reader(str(TVF / "map.tvf"))[0]
    assert theirs["axes"][1]["scale"] * 1000 == pytest.approx(float(np.diff(hyperspec.open(TVF / "map.tvf")["x"].values)[0]))


# ---- delimited text ---------------------------------------------------------------------------------
def test_bwtek_semicolon_decimal_comma_export():
    path = CHADA / "BWTEK" / "PST10_iR532_Probe_100_3000msx7.txt"
    ds = hyperspec.open(path)
    assert ds.attrs["laser_nm"] == 532.02 and ds.attrs["exposure_s"] == 3.0 and ds.attrs["spectral_unit"] == "cm-1"
    rows = [line.split(";") for line in path.read_text(errors="replace").splitlines() if line[:1].isdigit() and line.count(";") > 8]
    table = np.array([(float(r[3].replace(",", ".")), float(r[7].replace(",", "."))) for r in rows if r[3].strip()])  # shift, dark-sub.
    assert ds.sizes["spectral"] == len(table) == 1801
    table = table[np.argsort(table[:, 0])]
    np.testing.assert_allclose(ds["shift"].values, table[:, 0], rtol=1e-12)
    np.testing.assert_allclose(ds["spectra"].values, table[:, 1], rtol=1e-6)


def test_neegala_lightnovo_rruff_andor_asc_and_csv():
    nee = hyperspec.open(CHADA / "Neegala" / "PST_532_SEX139.txt")
    assert nee.attrs["laser_nm"] == 532.0 and nee.attrs["exposure_s"] == 9.0 and nee.sizes["spectral"] == 2048
    raw = np.genfromtxt(CHADA / "Neegala" / "PST_532_SEX139.txt", delimiter=",", skip_header=12)
    order = np.argsort(raw[:, 3])
    np.testing.assert_array_equal(nee["spectra"].values, (raw[order, 4] - raw[order, 5]).astype(nee["spectra"].dtype))  # processed
    nov = hyperspec.open(CHADA / "LightNovo" / "polystyrene_aritficially_worsened.tsv")
    assert nov.attrs["laser_nm"] == 785.0 and nov.attrs["exposure_s"] == pytest.approx(0.111) and nov.sizes["spectral"] == 2290
    rruff = hyperspec.open(CHADA / "rruf" / "Anatase__R060277__Broad_Scan____0__unoriented__Raman_Data_RAW__21346.txt")
    assert rruff.sizes["spectral"] == 1753 and rruff.attrs["metadata"]["NAMES"] == "Anatase"
    assert rruff["shift"].values[-1] == pytest.approx(3458.524)
    sif = hyperspec.open(SHARED_DATA / "sif_parser" / "raman1.sif")
    asc = hyperspec.open(SHARED_DATA / "sif_parser" / "raman1.asc", unit="nm")  # Andor's export: data, then the header
    np.testing.assert_allclose(asc["spectra"].values, sif["spectra"].values, rtol=1e-5, atol=5)
    assert asc.attrs["metadata"]["Exposure Time (secs)"] == "0.1" and asc.attrs["exposure_s"] == 0.1
    csv = hyperspec.open(SHARED_DATA / "sif_parser" / "cli-0.csv")  # named columns "wavelength,counts"
    np.testing.assert_allclose(csv["spectra"].values, hyperspec.open(SHARED_DATA / "sif_parser" / "cli-0.sif")["spectra"].values)
    assert csv.attrs["spectral_unit"] == "nm"


def test_text_layouts_x_y_rows_and_long_format(tmp_path):
    rng = np.random.default_rng(1)
    cube = rng.random((3, 4, 6)).round(4)
    axis = np.linspace(200.0, 1800.0, 6)
    xs, ys = np.arange(4) * 0.5, np.arange(3) * 2.0
    rows = "\n".join(f"{x}\t{y}\t" + "\t".join(map(str, cube[j, i])) for j, y in enumerate(ys) for i, x in enumerate(xs))
    (tmp_path / "xy.txt").write_text("\t\t" + "\t".join(map(str, axis)) + "\n" + rows + "\n")
    ds = hyperspec.open(tmp_path / "xy.txt", unit="cm-1")
    np.testing.assert_array_equal(ds["spectra"].values, cube.astype(np.float32))
    np.testing.assert_array_equal(ds["x"].values, xs)
    long = [f"{x},{y},{a},{cube[j, i, k]}" for j, y in enumerate(ys) for i, x in enumerate(xs) for k, a in enumerate(axis)]
    (tmp_path / "long.csv").write_text("x,y,wavenumber,intensity\n" + "\n".join(long[::-1]) + "\n")  # any row order
    ds = hyperspec.open(tmp_path / "long.csv")
    np.testing.assert_array_equal(ds["spectra"].values, cube.astype(np.float32))
    assert ds.attrs["spectral_unit"] == "cm-1"
    (tmp_path / "bad.csv").write_text("x,y,wavenumber,intensity\n" + "\n".join(long[:-1]) + "\n")
    with pytest.raises(ReaderError, match="every position needs every channel"):
        hyperspec.open(tmp_path / "bad.csv")


# ---- RosettaSciIO-backed formats ----------------------------------------------------------------------
def test_digitalsurf_hamamatsu_delmic():
    pytest.importorskip("rsciio")
    root = SHARED_DATA / "rosettasciio"
    sur = hyperspec.open(root / "digitalsurf" / "test_spectral_map.sur")
    assert dict(sur.sizes) == {"y": 12, "x": 10, "spectral": 310} and sur.attrs["spectral_unit"] == "nm"
    assert sur["wavelength"].values[0] == pytest.approx(333.2748601678759, rel=1e-9)  # stored in mm
    assert sur["x"].values[1] - sur["x"].values[0] == pytest.approx(0.08252197585534304)  # µm from mm
    assert dict(hyperspec.open(root / "digitalsurf" / "test_spectral_map_compressed.sur").sizes) == {"y": 12, "x": 10, "spectral": 281}
    assert dict(hyperspec.open(root / "digitalsurf" / "test_spectra.pro").sizes) == {"x": 65, "spectral": 512}
    streak = hyperspec.open(root / "hamamatsu" / "operate_mode.img")
    assert dict(streak.sizes) == {"t": 512, "spectral": 672}
    assert streak["t"].values[-1] == pytest.approx(16.009396e-6, rel=1e-6)  # µs → s
    assert streak["wavelength"].values[[0, -1]] == pytest.approx([472.252, 526.8445], abs=1e-3)
    cl = hyperspec.open(root / "delmic" / "sparc-hyperspectral.h5")
    assert dict(cl.sizes) == {"y": 3, "x": 2, "spectral": 128} and cl.attrs["reader"] == "delmic-h5"


# ---- NT-MDT ------------------------------------------------------------------------------------------
def test_mdt_container_listing_and_spectral_frames(tmp_path, capsys):
    from hyperspec.cli import main
    from hyperspec.io.mdt import mdt_frames

    path = SHARED_DATA / "scifireaders" / "GaAs_map.mdt"
    frames = mdt_frames(path)
    assert [f["type"] for f in frames] == ["text", "MDA", "MDA", "curves"]
    assert frames[1]["title"] == "1F:Iprobe" and [d["unit"] for d in frames[1]["dimensions"]] == ["um", "um"]
    assert frames[1]["dimensions"][0]["scale"] == pytest.approx(0.011767974683082529)
    with pytest.raises(ReaderError, match=r"no spectral frame.*1: MDA '1F:Iprobe' 256×256"):
        hyperspec.open(path)
    assert main(["info", str(path)]) == 0 and "frame 1   MDA '1F:Iprobe' 256×256" in capsys.readouterr().out
    # the spectral path: the same frame with its first dimension relabelled as a wavelength axis (nm)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"umum", frames[1]["size"] // 100)
    raw[at + 2 : at + 4] = b"nm"
    (tmp_path / "spectral.mdt").write_bytes(bytes(raw))
    ds = hyperspec.open(tmp_path / "spectral.mdt")
    assert dict(ds.sizes) == {"x": 256, "spectral": 256} and ds.attrs["spectral_unit"] == "nm"
    offset = frames[1]["data_offset"]
    expected = np.frombuffer(bytes(raw[offset : offset + 256 * 256 * 8]), "<f8").reshape(256, 256)  # first dimension fastest
    np.testing.assert_array_equal(ds["spectra"].values, expected)


# ---- HDF5, .npy ----------------------------------------------------------------------------------------
def test_hdf5_nexus_matlab73_and_explicit_paths(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(2)
    cube, wn = rng.random((3, 4, 50)).astype("f4"), np.linspace(100, 3000, 50)
    with h5py.File(tmp_path / "m.nxs", "w") as f:
        d = f.create_group("entry/data")
        d.attrs.update({"NX_class": "NXdata", "signal": "intensity", "axes": ["y", "x", "raman_shift"]})
        d["intensity"], d["raman_shift"], d["x"], d["y"] = cube, wn, np.arange(4) * 0.5, np.arange(3) * 1e-3
        d["raman_shift"].attrs["units"], d["x"].attrs["units"], d["y"].attrs["units"] = "1/cm", "um", "mm"
    ds = hyperspec.open(tmp_path / "m.nxs")
    np.testing.assert_array_equal(ds["spectra"].values, cube)
    assert ds.attrs["spectral_unit"] == "cm-1" and ds["y"].values.tolist() == [0.0, 1.0, 2.0]
    # MATLAB v7.3 (HDF5 + user block): the RamanSPy map written column-major must read as the v5 file does
    v5 = hyperspec.open(SHARED_DATA / "ramanspy" / "3D THP1 map 001 L5 (B+R) (Sub BG).mat", unit="cm-1")
    flat = v5["spectra"].values.transpose(1, 0, 2).reshape(1600, 500)  # pixels in MATLAB column order
    with h5py.File(tmp_path / "m73.mat", "w", userblock_size=512) as f:
        f["data"], f["axisscale"], f["imagesize"] = flat.T, v5["shift"].values[None, :].T, np.array([[40.0], [40.0]])
    with open(tmp_path / "m73.mat", "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116))
    m73 = hyperspec.open(tmp_path / "m73.mat", unit="cm-1")
    np.testing.assert_array_equal(m73["spectra"].values, v5["spectra"].values)
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"], f["b"], f["axis1"], f["axis2"] = cube, cube, wn, wn
    with pytest.raises(ReaderError, match="dataset= and axis="):
        hyperspec.open(tmp_path / "two.h5")
    assert hyperspec.open(tmp_path / "two.h5", dataset="/b", axis="/axis2", unit="cm-1").sizes["x"] == 4


def test_npy_needs_an_axis(tmp_path):
    np.save(tmp_path / "m.npy", np.ones((2, 3, 20), "f4"))
    np.save(tmp_path / "ax.npy", np.linspace(100, 500, 20))
    with pytest.raises(ReaderError, match="axis="):
        hyperspec.open(tmp_path / "m.npy")
    assert dict(hyperspec.open(tmp_path / "m.npy", axis=str(tmp_path / "ax.npy"), unit="cm-1").sizes) == {"y": 2, "x": 3, "spectral": 20}
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(HyperspecError):
        hyperspec.open(tmp_path / "obj.npy", axis=[1.0], unit="cm-1")  # never unpickled


# ---- lazy reading ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_streamline.wdf",
        SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_map2.wdf",
        SHARED_DATA / "horiba-raman" / "Gd2O3_AlN_map_data.txt",
        SHARED_DATA / "horiba-raman" / "offgrid_3.txt",
    ],
    ids=lambda p: p.name,
)
def test_lazy_reading_equals_eager_reading(path):
    eager, lazy = hyperspec.open(path), hyperspec.open(path, lazy=True)
    assert hasattr(lazy["spectra"].data, "dask") and not hasattr(eager["spectra"].data, "dask")
    np.testing.assert_array_equal(lazy["spectra"].values, eager["spectra"].values)
    for c in ("x", "y"):
        np.testing.assert_array_equal(lazy[c].values, eager[c].values)


def test_large_binary_files_are_memory_mapped(monkeypatch, tmp_path):
    import hyperspec.io.registry as registry

    eager = {p: hyperspec.open(p) for p in (SPE / "Test100.spe", SPC / "raman-sion.spc")}
    monkeypatch.setattr(registry, "LAZY_BYTES", 0)
    for path, ds in eager.items():
        lazy = hyperspec.open(path)
        assert hasattr(lazy["spectra"].data, "dask")
        np.testing.assert_array_equal(lazy["spectra"].values, ds["spectra"].values)


def test_convert_streams_a_lazy_text_map_with_progress(tmp_path, capsys, monkeypatch):
    import hyperspec.io.text as text
    from hyperspec.cli import main

    monkeypatch.setattr(text, "LAZY_BYTES", 0)  # every LabSpec map is "large": the streaming path
    src = SHARED_DATA / "horiba-raman" / "Gd2O3_AlN_map_data.txt"
    assert main(["convert", str(src), str(tmp_path / "gd.zarr")]) == 0
    assert "px/s" in capsys.readouterr().err
    np.testing.assert_array_equal(hyperspec.open(tmp_path / "gd.zarr")["spectra"].values, hyperspec.open(src, lazy=False)["spectra"].values)


def test_renishaw_arbitrary_unit_needs_unit_and_keeps_both_spectra():
    path = SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_undefined.wdf"
    with pytest.raises(ReaderError, match=r"unit 'Arbitrary'.*pass unit='cm-1'"):
        hyperspec.open(path)
    ds = hyperspec.open(path, unit="cm-1")
    assert dict(ds.sizes) == {"t": 2, "spectral": 1015} and ds["shift"].values[0] == pytest.approx(1170.947265625)
    renishaw = pytest.importorskip("rsciio.renishaw")
    averaged = np.asarray(renishaw.file_reader(str(path))[0]["data"])  # RosettaSciIO averages the two spectra
    np.testing.assert_allclose(ds["spectra"].values.mean(axis=0), averaged, rtol=1e-6)


# ---- writers -------------------------------------------------------------------------------------------
def test_tiff_and_csv_writers_round_trip(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    from hyperspec.io.export import write_csv, write_spectra_csv, write_tiff

    rng = np.random.default_rng(3)
    area = rng.random((5, 7)).astype(np.float32)
    import xarray as xr

    res = xr.Dataset({"aspl_area": (("y", "x"), area, {"units": "counts·cm-1"}), "status": (("y", "x"), np.zeros((5, 7), np.int8))},
                     coords={"x": np.arange(7) * 0.25, "y": np.arange(5) * 0.5})  # fmt: skip
    paths = write_tiff(res, tmp_path / "tif", ["aspl_area"])
    with tifffile.TiffFile(paths[0]) as tif:
        np.testing.assert_array_equal(tif.asarray(), area)
        xres = tif.pages[0].tags["XResolution"].value
        assert xres[0] / xres[1] == pytest.approx(4.0)  # pixels per µm
        assert tif.imagej_metadata["unit"] == "um"
    path = write_csv(res, tmp_path / "t.csv")
    assert path.read_text().splitlines()[0] == "y,x,aspl_area [counts·cm-1],status"
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert table.shape == (35, 4)
    np.testing.assert_array_equal(table[:, 2].astype(np.float32), area.ravel())
    np.testing.assert_array_equal(table[:, 1], np.tile(np.arange(7) * 0.25, 5))
    ds = hyperspec.open(SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_map.wdf")
    spectra = np.genfromtxt(write_spectra_csv(ds, tmp_path / "s.csv"), delimiter=",", skip_header=1)
    np.testing.assert_allclose(spectra[:, 0], ds["wavelength"].values if "shift" not in ds.coords else ds["shift"].values)
    np.testing.assert_array_equal(spectra[:, 1:].T.astype(np.float32), ds["spectra"].values.reshape(9, -1))


def test_hyperspy_export_and_import(tmp_path):
    pytest.importorskip("hyperspy")
    from hyperspec.io.export import from_hyperspy, to_hyperspy

    ds = hyperspec.open(SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_map2.wdf")
    sig = to_hyperspy(ds)
    assert sig.axes_manager.navigation_shape == (20, 20) and sig.axes_manager.signal_axes[0].units == "nm"
    assert sig.metadata.Acquisition_instrument.Laser.wavelength == ds.attrs["laser_nm"]
    sig.save(tmp_path / "m.hspy")
    import hyperspy.api as hs

    back = from_hyperspy(hs.load(tmp_path / "m.hspy"))
    np.testing.assert_array_equal(back["spectra"].values, ds["spectra"].values)
    np.testing.assert_allclose(back["x"].values, ds["x"].values)
    np.testing.assert_allclose(back["shift"].values, ds["shift"].values, rtol=1e-12)
    assert back.attrs["laser_nm"] == ds.attrs["laser_nm"]
    lazy = to_hyperspy(hyperspec.open(SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_map2.wdf", lazy=True))
    assert lazy._lazy


def test_hyperspy_non_uniform_navigation_axis_and_lumispy_type(tmp_path):
    """A power series at 0.1, 1, 10 mW keeps its values (it came back 0.1, 1.0, 1.9 mW); LumiSpy's class is used."""
    pytest.importorskip("hyperspy")
    pytest.importorskip("lumispy")
    import hyperspy.api as hs

    from hyperspec.io.export import from_hyperspy, to_hyperspy

    rng = np.random.default_rng(1)
    ds = hyperspec.from_array(rng.poisson(50.0, (3, 32)).astype(np.float32), np.linspace(100.0, 700.0, 32), laser_nm=632.8,
                              dims=("power", "spectral"), coords={"power": [0.1, 1.0, 10.0]})  # fmt: skip
    sig = to_hyperspy(ds)
    nav = sig.axes_manager.navigation_axes[0]
    assert not nav.is_uniform
    np.testing.assert_array_equal(nav.axis, [0.1, 1.0, 10.0])
    assert sig.axes_manager.signal_axes[0].units == "cm⁻¹"  # the navigation axis's units stay its own
    assert sig.metadata.Signal.signal_type == "Luminescence" and type(sig).__module__.startswith("lumispy")
    sig.save(tmp_path / "p.hspy")
    back = from_hyperspy(hs.load(tmp_path / "p.hspy"))
    np.testing.assert_array_equal(back["power"].values, [0.1, 1.0, 10.0])
    np.testing.assert_array_equal(back["spectra"].values, ds["spectra"].values)
    # a PL spectrum in nm is LumiSpy's PL class, and LumiSpy's own nm -> eV conversion runs on it
    pl = hyperspec.from_array(rng.random((2, 2, 16)).astype(np.float32) + 1, np.linspace(500.0, 600.0, 16), unit="nm", laser_nm=405.0)
    pl_sig = to_hyperspy(pl)
    assert pl_sig.metadata.Signal.signal_type == "PL" and type(pl_sig).__name__ == "PLSpectrum"
    ev = pl_sig.to_eV(inplace=False).axes_manager.signal_axes[0].axis
    assert ev.min() == pytest.approx(1239.84198 / 600.0, rel=5e-4)  # LumiSpy's (air-corrected) conversion


def test_export_zspy_is_refused_up_front(tmp_path, capsys):
    """``--hspy x.zspy`` said it worked and died in RosettaSciIO's Zarr-2 writer; now refused before reading the map."""
    pytest.importorskip("hyperspy")
    import zarr

    from hyperspec.cli import main

    if hasattr(zarr.storage, "NestedDirectoryStore"):
        pytest.skip("a Zarr 2 installation: the zspy writer works there")
    ds = hyperspec.from_array(np.ones((2, 2, 8), np.float32), np.linspace(100.0, 400.0, 8), laser_nm=632.8)
    store = hyperspec.save(ds, tmp_path / "m.zarr", progress=False)
    assert main(["export", str(store), "--hspy", str(tmp_path / "m.zspy")]) == 2
    err = capsys.readouterr().err
    assert "Zarr 2 API" in err and ".hspy" in err
    assert not (tmp_path / "m.zspy").exists()
    assert main(["export", str(store), "--hspy", str(tmp_path / "m.hspy")]) == 0
    assert (tmp_path / "m.hspy").is_file()


# ---- corrupt files, every reader -------------------------------------------------------------------------
FUZZ = [
    SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_map.wdf",
    SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_spectrum.wdf",
    SHARED_DATA / "sif_parser" / "raman1.sif",
    SHARED_DATA / "nirs4all-formats" / "raman_witec" / "Si-wafer-Raman-Spectrum-1.txt",
    SHARED_DATA / "horiba-raman" / "offgrid_3.txt",
    SHARED_DATA / "rosettasciio" / "jobinyvon" / "jobinyvon_test_map_x3-y2.xml",
    SPE / "Testfile_Single_SPE3.spe",
    SPE / "Testfile_Single_SPE2.SPE",
    SPC / "raman-sion.spc",
    SPC / "RAMAN.SPC",
    TVF / "linescan.tvf",
    SHARED_DATA / "scifireaders" / "GaAs_map.mdt",
    CHADA / "BWTEK" / "PST10_iR532_Probe_100_3000msx7.txt",
    CHADA / "Neegala" / "PST_532_SEX139.txt",
    SHARED_DATA / "rosettasciio" / "digitalsurf" / "test_spectrum.pro",
    SHARED_DATA / "rosettasciio" / "hamamatsu" / "operate_mode.img",
    SHARED_DATA / "rosettasciio" / "delmic" / "sparc-hyperspectral.h5",
    SHARED_DATA / "ramanspy" / "3D THP1 map 001 L5 (B+R) (Sub BG).mat",
    SHARED_DATA / "sif_parser" / "measurement.sif",
    SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_streamline.wdf",
]


@pytest.mark.parametrize("src", FUZZ, ids=lambda p: p.name)
def test_every_reader_survives_truncation_and_bit_flips(src, tmp_path):
    """A typed HyperspecError or a valid map with the same channels; never a crash or an untyped error."""
    if src.suffix in (".pro", ".img", ".h5"):
        pytest.importorskip("rsciio")
    raw = src.read_bytes()
    opts = {"unit": "cm-1"} if src.suffix == ".mat" else {}
    try:
        good = hyperspec.open(src, **opts)
    except ReaderError:
        good = None  # GaAs_map.mdt holds no spectra: every variant must still fail cleanly
    rng = np.random.default_rng(7)
    cases = [raw[: int(len(raw) * f)] for f in (0.0, 0.01, 0.2, 0.5, 0.9, 0.999)]
    for _ in range(10):
        flipped = bytearray(raw)
        for pos in rng.integers(0, len(raw), 6):
            flipped[pos] ^= 0xFF
        cases.append(bytes(flipped))
    header = bytearray(raw)
    for pos in rng.integers(0, min(len(raw), 4200), 12):  # the header, where sizes and offsets live
        header[pos] ^= 0x5A
    cases.append(bytes(header))
    for i, content in enumerate(cases):
        path = tmp_path / f"case{i}{src.suffix}"
        path.write_bytes(content)
        try:
            ds = hyperspec.open(path, **opts)
        except HyperspecError:
            continue
        hyperspec.validate_map(ds)
        if good is not None:
            assert ds["spectra"].shape[-1] == good["spectra"].shape[-1]
