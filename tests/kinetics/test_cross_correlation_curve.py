"""kinetics.cross_correlation_curve: r(τ) against a NumPy reference, and its peak against cross_correlation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hyperspec import DataModelError
from hyperspec.kinetics import cross_correlation, cross_correlation_curve

DT = 0.2


def _reference(a, b, k_max):
    """Pearson r of the linearly detrended traces' valid pairs (a(t), b(t + k)), k = -K..K, by NumPy loops."""

    def detrend(x):
        t = np.arange(x.size, dtype=float)
        ok = np.isfinite(x)
        slope, icpt = np.polyfit(t[ok], x[ok], 1)
        return np.where(ok, x - (slope * t + icpt), np.nan)

    a, b = detrend(a), detrend(b)
    n = a.size
    out = []
    for k in range(-k_max, k_max + 1):
        x = a[max(0, -k) : n - max(0, k)]
        y = b[max(0, k) : n - max(0, -k)]
        ok = np.isfinite(x) & np.isfinite(y)
        out.append(np.corrcoef(x[ok], y[ok])[0, 1] if ok.sum() >= 3 else np.nan)
    return np.asarray(out)


def _traces(seed=0, n_pix=4, n_t=80, delay_frames=3, noise=0.3):
    rng = np.random.default_rng(seed)
    s = np.stack([np.convolve(rng.normal(size=n_t + 20), np.ones(5) / 5, "same") for _ in range(n_pix)])
    trend = 0.02 * np.arange(n_t)  # a slow drift the detrending removes
    a = s[:, 10 : 10 + n_t] + trend + noise * 0.2 * rng.normal(size=(n_pix, n_t))
    b = s[:, 10 - delay_frames : 10 - delay_frames + n_t] - 0.5 * trend + noise * 0.2 * rng.normal(size=(n_pix, n_t))
    t = np.arange(n_t) * DT
    da = lambda v, name: xr.DataArray(v, dims=("x", "t"), coords={"t": t, "x": np.arange(n_pix) * 0.5}, name=name)  # noqa: E731
    return da(a, "lers_area"), da(b, "aspl_area")


def test_curve_equals_numpy_reference_and_peaks_at_the_reported_lag():
    a, b = _traces()
    a[1, [4, 17, 40]] = np.nan  # missing frames are left out of the pairs
    r = cross_correlation_curve(a, b, backend="numpy")
    k_max = (a.sizes["t"] - 1) // 4
    assert r.dims == ("x", "lag") and r.sizes["lag"] == 2 * k_max + 1
    np.testing.assert_allclose(r["lag"].values, np.arange(-k_max, k_max + 1) * DT)
    assert r["lag"].attrs["units"] == "s" and r.attrs["units"] == "1" and r.name == "lers_area_aspl_area_cross_correlation"
    for i in range(a.sizes["x"]):
        np.testing.assert_allclose(r.values[i], _reference(a.values[i], b.values[i], k_max), rtol=1e-9, atol=1e-12)
    # the peak cross_correlation reports lies at the curve's maximum (within the sub-frame refinement)
    xc = cross_correlation(a, b, backend="numpy")
    peak = r["lag"].values[np.nanargmax(r.values, axis=1)]
    np.testing.assert_allclose(xc["lag_s"].values, peak, atol=0.5 * DT)
    np.testing.assert_allclose(xc["lag_s"].values, 3 * DT, atol=0.5 * DT)  # b(t) = a(t - 3 frames)
    assert np.all(xc["r"].values >= np.nanmax(r.values, axis=1) - 1e-12)


def test_max_lag_flat_and_errors():
    a, b = _traces(n_pix=2)
    r = cross_correlation_curve(a, b, max_lag_s=1.0, backend="numpy")
    np.testing.assert_allclose(r["lag"].values, np.arange(-5, 6) * DT)
    np.testing.assert_allclose(r.values[0], _reference(a.values[0], b.values[0], 5), rtol=1e-9, atol=1e-12)
    flat = a.copy(data=np.ones(a.shape))
    assert np.isnan(cross_correlation_curve(flat, b, backend="numpy").values).all()
    with pytest.raises(DataModelError, match="different 't' coordinates"):
        cross_correlation_curve(a, b.isel(t=slice(0, 60)))
    with pytest.raises(DataModelError, match="max_lag_s"):
        cross_correlation_curve(a, b, max_lag_s=0.05)
    with pytest.raises(DataModelError, match="no dim 't'"):
        cross_correlation_curve(a.rename(t="frame"), b)
