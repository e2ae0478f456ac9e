"""The map data model: from_array, canonical order, dims, dtypes, validation errors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import hyperspec
from hyperspec import axes
from hyperspec._errors import AxisError, DataModelError
from hyperspec.model import history_records, n_pixels, pixel_dims, shift_axis

LASER = 632.8


def _cube(shape, n):
    return np.random.default_rng(1).uniform(0, 100, (*shape, n)).astype(np.float32)


def test_descending_nm_is_reversed_with_its_axis():
    nm = np.linspace(700.0, 500.0, 50)  # descending, as many spectrometers write it
    data = _cube((3, 4), 50)
    ds = hyperspec.from_array(data, nm, unit="nm", laser_nm=LASER, medium="vacuum")  # the vacuum formulas; air: test_air_vacuum.py
    assert ds["spectra"].dims == ("y", "x", "spectral")
    wl = ds["wavelength"].values
    assert np.all(np.diff(wl) > 0) and np.all(np.diff(ds["shift"].values) > 0) and np.all(np.diff(ds["energy"].values) < 0)
    # every intensity stays attached to its own wavelength
    for j in (0, 17, 49):
        k = int(np.flatnonzero(np.isclose(wl, nm[j]))[0])
        np.testing.assert_array_equal(ds["spectra"].values[..., k], data[..., j])
    np.testing.assert_allclose(ds["shift"].values, axes.raman_shift(wl, LASER))
    assert history_records(ds.attrs)[-1]["params"]["reversed_spectral_axis"] is True
    assert ds.attrs["spectral_unit"] == "nm" and ds.attrs["laser_nm"] == LASER


def test_ev_axis_gets_all_coords():
    ev = np.linspace(1.6, 2.5, 40)  # ascending energy = descending wavelength
    ds = hyperspec.from_array(_cube((5,), 40), ev, unit="eV", laser_nm=LASER, medium="vacuum")
    assert ds["spectra"].dims == ("x", "spectral")
    np.testing.assert_allclose(ds["energy"].values, ev[::-1])
    np.testing.assert_allclose(ds["wavelength"].values, axes.HC_EV_NM / ev[::-1])


def test_absolute_wavenumber_kept_as_coordinate():
    nu = np.linspace(19000.0, 15000.0, 30)
    ds = hyperspec.from_array(_cube((), 30), nu, unit="cm-1-abs", laser_nm=LASER, medium="vacuum")
    assert ds["spectra"].dims == ("spectral",)
    np.testing.assert_allclose(ds["wavenumber"].values, nu)
    np.testing.assert_allclose(ds["shift"].values, axes.laser_invcm(LASER) - nu)


def test_shift_without_laser_and_with_laser_later():
    shift = np.linspace(-500, 3000, 64)
    ds = hyperspec.from_array(_cube((2, 2), 64), shift, medium="vacuum")
    assert "wavelength" not in ds.coords and "laser_nm" not in ds.attrs
    np.testing.assert_array_equal(shift_axis(ds), shift)
    with_l = hyperspec.with_laser(ds, LASER)
    np.testing.assert_allclose(with_l["wavelength"].values, axes.shift2nm(shift, LASER))
    with pytest.raises(AxisError, match="refusing to change it"):
        hyperspec.with_laser(with_l, 532.0)


def test_nm_without_laser_has_no_shift_and_says_how_to_fix():
    ds = hyperspec.from_array(_cube((2,), 20), np.linspace(500, 600, 20), unit="nm", medium="vacuum")
    assert "shift" not in ds.coords
    with pytest.raises(AxisError, match=r"laser wavelength is unknown.*with_laser"):
        shift_axis(ds)
    np.testing.assert_allclose(shift_axis(hyperspec.with_laser(ds, LASER)), axes.raman_shift(np.linspace(500, 600, 20), LASER))


@pytest.mark.parametrize(
    ("shape", "dims", "coords"),
    [
        ((6, 4, 32), ("t", "x", "spectral"), {"t": np.arange(6) * 0.2}),
        ((6, 3, 4, 32), ("t", "y", "x", "spectral"), {}),
        ((5, 3, 4, 32), ("power", "y", "x", "spectral"), {"power": np.geomspace(0.1, 10, 5)}),
        ((2, 5, 3, 4, 32), ("temperature", "t", "y", "x", "spectral"), {"temperature": [80.0, 250.0]}),
    ],
)
def test_kinetic_and_series_dims(shape, dims, coords):
    ds = hyperspec.from_array(
        np.ones(shape, np.float32), np.linspace(-100, 3000, 32), laser_nm=LASER, dims=dims, coords=coords, pixel_size_um=0.5, frame_s=0.2
    )
    assert ds["spectra"].dims == dims
    assert pixel_dims(ds) == dims[:-1]
    assert n_pixels(ds) == int(np.prod(shape[:-1]))
    if "t" in dims:
        np.testing.assert_allclose(ds["t"].values, np.arange(shape[dims.index("t")]) * 0.2)
        assert ds["t"].attrs["units"] == "s"
    np.testing.assert_allclose(ds["x"].values, np.arange(4) * 0.5)
    assert ds["x"].attrs["units"] == "um"


def test_spectral_dim_moved_last():
    data = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)  # (y, spectral, x)
    ds = hyperspec.from_array(data, np.arange(10.0), laser_nm=LASER, dims=("y", "spectral", "x"))
    assert ds["spectra"].dims == ("y", "x", "spectral")
    np.testing.assert_array_equal(ds["spectra"].values, data.transpose(0, 2, 1))


@pytest.mark.parametrize(
    ("dtype", "expected"), [(np.uint16, np.float32), (np.int32, np.float64), (np.float16, np.float32), (np.float64, np.float64)]
)
def test_dtype_policy(dtype, expected):
    ds = hyperspec.from_array(np.ones((2, 8), dtype), np.arange(8.0))
    assert ds["spectra"].dtype == expected


def test_complex_rejected():
    with pytest.raises(DataModelError, match="complex"):
        hyperspec.from_array(np.ones((2, 8), complex), np.arange(8.0))


def test_dask_input_stays_lazy_and_spectral_whole():
    data = da.ones((8, 8, 64), chunks=(4, 4, 16), dtype=np.float32)
    ds = hyperspec.from_array(data, np.arange(64.0))
    assert ds["spectra"].chunks[-1] == (64,)
    assert ds["spectra"].chunks[0] == (4, 4)
    assert isinstance(ds["spectra"].data, da.Array)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dims": ("y", "x")}, r"names 2 dimension\(s\) but the data has 3"),
        ({"dims": ("y", "x", "z")}, "must contain 'spectral' exactly once"),
        ({"dims": ("y", "y", "spectral")}, "repeats a name"),
        ({"coords": {"x": np.arange(3)}}, r"coordinate 'x' has shape \(3,\)"),
        ({"coords": {"q": np.arange(3)}}, "not one of the leading dims"),
        ({"pixel_size_um": -1.0}, "must be positive"),
    ],
)
def test_bad_dims_and_coords(kwargs, message):
    with pytest.raises(DataModelError, match=message):
        hyperspec.from_array(np.ones((2, 4, 8)), np.arange(8.0), **kwargs)


def test_axis_length_mismatch_names_source():
    with pytest.raises(DataModelError, match=r"from map\.txt has 7 values but the data's 'spectral' dim has 8"):
        hyperspec.from_array(np.ones((2, 8)), np.arange(7.0), source="map.txt")


def test_bad_axis_from_file_is_reported_with_file():
    with pytest.raises(AxisError, match=r"in bad\.csv is not strictly monotonic"):
        hyperspec.from_array(np.ones((2, 4)), [1.0, 3.0, 2.0, 4.0], source="bad.csv")


def test_validate_map_errors():
    ds = hyperspec.from_array(np.ones((2, 3, 8)), np.arange(8.0))
    with pytest.raises(DataModelError, match="no 'spectra' variable"):
        hyperspec.validate_map(ds.rename({"spectra": "counts"}))
    with pytest.raises(DataModelError, match="last dim"):
        hyperspec.validate_map(ds.transpose("spectral", ...))
    with pytest.raises(DataModelError, match=r"chunked along 'spectral'.*ds.chunk"):
        hyperspec.validate_map(ds.chunk({"spectral": 4}))
    with pytest.raises(AxisError, match="strictly ascending"):
        hyperspec.validate_map(ds.isel(spectral=slice(None, None, -1)))
