"""User arguments that contradict the file, or that its reader does not take, are errors (issue 19 item 3).

Before the fix ``hyperspec.open(wdf, unit="nm")`` relabelled a cm⁻¹ WDF as nm (its Raman shift
became 924–1668 "nm") and ``dataset=`` / ``axis=`` / any other keyword were silently ignored by the
readers that do not take them; every test below except the "fine" ones failed then.
"""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import ReaderError, StoreError
from hyperspec.cli import main
from tests.conftest import SHARED_DATA

WDF = SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_streamline.wdf"  # records cm-1 (MANIFEST: 924–1668 cm⁻¹)
WITEC = SHARED_DATA / "nirs4all-formats" / "raman_witec" / "Si-wafer-Raman-Spectrum-1.txt"


@pytest.fixture(scope="module")
def wdf_shift():
    ds = hyperspec.open(WDF)
    assert ds.attrs["spectral_unit"] == "cm-1"
    return np.asarray(ds["shift"].values)


@pytest.fixture
def two_column(tmp_path):
    """The WITec silicon spectrum (530.8–661.8 nm) as a bare two-column text: no unit recorded."""
    witec = hyperspec.open(WITEC)  # the WITec header says nm
    values = np.column_stack([witec["wavelength"].values, witec["spectra"].values])
    path = tmp_path / "si.txt"
    np.savetxt(path, values, delimiter="\t", fmt="%.6f")
    return path, values


def test_a_unit_contradicting_the_file_is_an_error():
    with pytest.raises(ReaderError) as err:
        hyperspec.open(WDF, unit="nm")
    msg = str(err.value)
    assert str(WDF) in msg and "'cm-1'" in msg and "unit='nm'" in msg and "Drop unit=" in msg and "force=True" in msg


def test_force_relabels_with_a_warning(wdf_shift):
    with pytest.warns(UserWarning, match="records its spectral axis in 'cm-1'; relabelled as 'nm'"):
        ds = hyperspec.open(WDF, unit="nm", force=True)
    assert ds.attrs["spectral_unit"] == "nm"
    np.testing.assert_array_equal(ds["wavelength"].values, wdf_shift)  # the numbers kept, relabelled


def test_the_files_own_unit_is_fine(wdf_shift):
    ds = hyperspec.open(WDF, unit="cm-1")
    assert ds.attrs["spectral_unit"] == "cm-1"
    np.testing.assert_array_equal(ds["shift"].values, wdf_shift)


def test_unit_is_applied_to_a_file_that_records_none(two_column):
    path, values = two_column
    with pytest.raises(ReaderError, match="no unit in the file"):
        hyperspec.open(path)
    ds = hyperspec.open(path, unit="nm")
    assert ds.attrs["spectral_unit"] == "nm"
    np.testing.assert_allclose(ds["wavelength"].values, values[:, 0])
    np.testing.assert_allclose(ds["spectra"].values, values[:, 1], rtol=1e-6)


def test_an_argument_the_reader_does_not_take_names_the_reader_and_its_arguments():
    with pytest.raises(ReaderError) as err:
        hyperspec.open(WDF, dataset="/entry/data")
    msg = str(err.value)
    assert "renishaw-wdf reader" in msg and "takes no dataset=" in msg and "laser_nm=, lazy=, unit=" in msg
    with pytest.raises(ReaderError, match="takes no axis=, dataset="):
        hyperspec.open(WDF, axis="x", dataset="y")
    with pytest.raises(ReaderError, match="force= without unit="):
        hyperspec.open(WDF, force=True)


def test_a_store_refuses_reader_options(tmp_path):
    store = hyperspec.save(hyperspec.from_array(np.ones((2, 2, 8)), np.linspace(100.0, 800.0, 8)), tmp_path / "m.zarr", progress=False)
    with pytest.raises(StoreError, match="takes no unit="):
        hyperspec.open(store, unit="nm")


def test_cli_unit_and_force(capsys):
    assert main(["info", str(WDF), "--unit", "nm"]) == 2
    assert "records its spectral axis in 'cm-1'" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="relabelled as 'nm'"):
        assert main(["info", str(WDF), "--unit", "nm", "--force"]) == 0
    assert "axis unit as read  nm" in capsys.readouterr().out
    assert main(["info", str(WDF), "--dataset", "/x"]) == 2
    assert "takes no dataset=" in capsys.readouterr().err


def test_a_laser_contradicting_the_file_is_an_error_and_a_refinement_is_used(wdf_shift, tmp_path):
    """The StreamLine WDF records a 785 nm laser: 532 nm names another line (an error; force=True uses it with a
    warning), 785.0 refines it (used). Before, any laser_nm= silently replaced the file's, and a store ignored it."""
    recorded = hyperspec.open(WDF).attrs["laser_nm"]
    assert abs(recorded - 785.0) < 0.01
    with pytest.raises(ReaderError) as err:
        hyperspec.open(WDF, laser_nm=532.0)
    msg = str(err.value)
    assert WDF.name in msg and "784.997 nm laser" in msg and "laser_nm=532" in msg and "force=True" in msg
    with pytest.warns(UserWarning, match="532 nm used because force=True"):
        forced = hyperspec.open(WDF, laser_nm=532.0, force=True)
    assert forced.attrs["laser_nm"] == 532.0
    assert hyperspec.open(WDF, laser_nm=785.0).attrs["laser_nm"] == 785.0
    store = hyperspec.save(hyperspec.open(WDF).isel(x=slice(0, 2), y=slice(0, 2)), tmp_path / "s.zarr", progress=False)
    with pytest.raises(StoreError, match="records a 784.997 nm laser, but laser_nm=532"):
        hyperspec.open(store, laser_nm=532.0)
    assert abs(hyperspec.open(store, laser_nm=785.0).attrs["laser_nm"] - recorded) < 1e-9  # the store keeps its own
