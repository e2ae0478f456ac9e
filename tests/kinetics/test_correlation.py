"""kinetics.autocorrelation and kinetics.cross_correlation: references, delays, coverage, windows, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hyperspec import DataModelError
from hyperspec.kinetics import autocorrelation, cross_correlation
from hyperspec.kinetics.correlation import PEAK_FRACTION

DT = 0.2


def _da(values, dims=("x", "t"), name=None):
    t = np.arange(values.shape[-1]) * DT
    return xr.DataArray(values, dims=dims, coords={"t": t}, name=name)


def _smooth_signal(rng, n_pix, t_eval_list, width_s=0.3):
    """Aperiodic band-limited random signals evaluated at arbitrary times (one row per pixel)."""
    knots = np.arange(-12.0, 60.0, 0.1)
    white = rng.normal(size=(n_pix, knots.size))
    kern = np.exp(-0.5 * (np.arange(-40, 41) * 0.1 / width_s) ** 2)
    sig = np.stack([np.convolve(w, kern, "same") for w in white])
    sig /= sig.std()
    return [np.stack([np.interp(te[i], knots, sig[i]) for i in range(n_pix)]) for te in t_eval_list]


def _delayed_pairs(kind, seed, noise, n_pix=300, n_t=150, period=1.5):
    rng = np.random.default_rng(seed)
    t = np.arange(n_t) * DT
    if kind == "periodic":
        d = rng.uniform(-0.6, 0.6, n_pix)  # within ±P/2 (nearest-zero peak), away from the ambiguous ±P/2
        ph = rng.uniform(0, 2 * np.pi, n_pix)[:, None]
        a = np.sin(2 * np.pi * t / period + ph)
        b = np.sin(2 * np.pi * (t - d[:, None]) / period + ph)
    else:
        d = rng.uniform(-1.5, 1.5, n_pix)
        a, b = _smooth_signal(rng, n_pix, [np.broadcast_to(t, (n_pix, n_t)), t[None, :] - d[:, None]])
    scale = a.std()
    a = a + noise * scale * rng.normal(size=a.shape)
    b = b + noise * scale * rng.normal(size=b.shape)
    return _da(a, name="a"), _da(b, name="b"), d


# ------------------------------------------------------------------------------------------ autocorrelation
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_autocorrelation_equals_numpy_correlate(seed):
    rng = np.random.default_rng(seed)
    n_t = int(rng.integers(20, 90))
    x = rng.normal(size=(3, 4, n_t)).cumsum(-1) + 5.0 * rng.normal(size=(3, 4, 1))
    tr = xr.DataArray(x, dims=("y", "x", "t"), coords={"t": 1.5 + np.arange(n_t) * DT}, name="lers_area")
    acf = autocorrelation(tr)
    k_max = (n_t - 1) // 2
    assert acf.dims == ("y", "x", "lag") and acf.name == "lers_area_autocorrelation"
    np.testing.assert_allclose(acf["lag"].values, np.arange(k_max + 1) * DT, atol=1e-12)
    assert acf["lag"].attrs["units"] == "s"
    xc = x - x.mean(-1, keepdims=True)
    for iy in range(3):
        for ix in range(4):
            v = xc[iy, ix]
            ref = np.correlate(v, v, "full")[n_t - 1 : n_t + k_max] / (v @ v)
            np.testing.assert_allclose(acf.values[iy, ix], ref, rtol=0, atol=1e-12)
    assert np.all(acf.values[..., 0] == 1.0) and not acf["flat"].any() and int(acf["n_missing"].sum()) == 0


def test_autocorrelation_nan_frames_are_missing_values():
    rng = np.random.default_rng(4)
    n_t = 120
    x = np.sin(2 * np.pi * np.arange(n_t) * DT / 1.9) + 0.3 * rng.normal(size=(5, n_t))
    full = autocorrelation(_da(x), max_lag_s=4.0).values
    gaps = rng.random((5, n_t)) < 0.15
    xg = np.where(gaps, np.nan, x)
    acf = autocorrelation(_da(xg), max_lag_s=4.0)
    assert acf["n_missing"].values.tolist() == gaps.sum(1).tolist()
    k_max = 20
    for i in range(5):  # reference: explicit pair loop with the documented rescaling
        m = ~gaps[i]
        v = np.where(m, x[i] - x[i][m].mean(), 0.0)
        ref = []
        for k in range(k_max + 1):
            pairs = (m[: n_t - k] & m[k:]).sum()
            ref.append((v[: n_t - k] @ v[k:]) * m.sum() * (n_t - k) / n_t / pairs)
        np.testing.assert_allclose(acf.values[i], np.array(ref) / ref[0], atol=1e-12)
    # and the gappy estimate stays close to the complete trace's
    assert np.max(np.abs(acf.values - full)) < 0.15


def test_autocorrelation_finds_the_generator_blink_period():
    from hyperspec import synthetic

    _, truth = synthetic.kinetic_line(150, 4, n_spectral=32, seed=5, artefacts=False, noise=False)
    acf = autocorrelation(truth["lers_area"].compute(), max_lag_s=2.4)  # l-ERS blinks at 1.5 s
    c = acf.values
    inner = (c[:, 1:-1] > c[:, :-2]) & (c[:, 1:-1] >= c[:, 2:])
    first = np.argmax(inner, axis=1) + 1
    assert np.all(np.abs(acf["lag"].values[first] - 1.5) <= DT / 2), acf["lag"].values[first]


def test_autocorrelation_flat_and_all_nan_traces_are_flagged():
    x = np.random.default_rng(1).normal(size=(4, 30))
    x[1] = 3.7
    x[2] = np.nan
    acf = autocorrelation(_da(x))
    assert acf["flat"].values.tolist() == [False, True, True, False]
    assert np.all(np.isnan(acf.values[1:3])) and np.all(np.isfinite(acf.values[[0, 3]]))
    assert acf["n_missing"].values.tolist() == [0, 0, 30, 0]


def test_autocorrelation_lazy_on_dask_equals_eager():
    x = np.random.default_rng(2).normal(size=(6, 50))
    tr = _da(x).chunk({"x": 2, "t": 10})
    lazy = autocorrelation(tr, max_lag_s=2.0)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.compute().values, autocorrelation(_da(x), max_lag_s=2.0).values, atol=1e-14)


def test_autocorrelation_on_the_device_path_equals_numpy(gpu_xp):
    x = np.random.default_rng(3).normal(size=(5, 40))
    dev = autocorrelation(_da(x), max_lag_s=2.0, backend="cupy")
    np.testing.assert_allclose(dev.values, autocorrelation(_da(x), max_lag_s=2.0).values, atol=1e-12)


# ------------------------------------------------------------------------------------------ cross-correlation
def _reference_xcorr(a, b, k_max):
    """Per-pixel loop: detrend, Pearson of overlapping valid pairs per lag (np.corrcoef), peak rule, cosine fit."""
    n_t = a.size
    s = np.arange(n_t)

    def detrend(v):
        m = np.isfinite(v)
        coef = np.polyfit(s[m], v[m], 1)
        return np.where(m, v - np.polyval(coef, s), np.nan)

    a, b = detrend(a), detrend(b)
    r = []
    for k in range(-k_max, k_max + 1):
        x, y = (a[: n_t - k], b[k:]) if k >= 0 else (a[-k:], b[: n_t + k])
        m = np.isfinite(x) & np.isfinite(y)
        r.append(np.corrcoef(x[m], y[m])[0, 1])
    r = np.array(r)
    inner = np.arange(1, 2 * k_max)
    loc = [i for i in inner if r[i] > r[i - 1] and r[i] >= r[i + 1]]
    top = max(r[i] for i in loc)
    cand = [i for i in loc if r[i] >= PEAK_FRACTION * top]
    i = min(cand, key=lambda j: (abs(j - k_max), -r[j]))
    rm, r0, rp = r[i - 1], r[i], r[i + 1]
    omega = np.arccos((rm + rp) / (2 * r0))  # cosine through the three points (every peak here has r0 > 0)
    delta = np.clip(np.arctan((rp - rm) / (2 * r0 * np.sin(omega))) / omega, -0.5, 0.5)
    return (i - k_max + delta) * DT, r0 / np.cos(omega * delta)


@pytest.mark.parametrize("seed", [0, 1])
def test_cross_correlation_equals_a_per_pixel_reference(seed):
    a, b, _ = _delayed_pairs("aperiodic", seed, 0.3, n_pix=6, n_t=80)
    av, bv = a.values.copy(), b.values.copy()
    rng = np.random.default_rng(seed)
    av[rng.random(av.shape) < 0.1] = np.nan  # NaN frames too
    bv[rng.random(bv.shape) < 0.1] = np.nan
    out = cross_correlation(_da(av), _da(bv), max_lag_s=3.0)
    for i in range(6):
        lag, r = _reference_xcorr(av[i], bv[i], 15)
        assert out.lag_s.values[i] == pytest.approx(lag, abs=1e-10)
        assert out.r.values[i] == pytest.approx(r, abs=1e-10)
    assert out["n_missing"].values.tolist() == (np.isnan(av) | np.isnan(bv)).sum(1).tolist()


def test_sign_convention_b_following_a_is_positive():
    t = np.arange(100) * DT
    pulse = np.exp(-0.5 * ((t - 8.0) / 0.5) ** 2)
    later = np.exp(-0.5 * ((t - 8.7) / 0.5) ** 2)  # b(t) = a(t - 0.7 s)
    out = cross_correlation(_da(pulse[None]), _da(later[None]))
    assert out.lag_s.values[0] == pytest.approx(0.7, abs=0.02)
    assert cross_correlation(_da(later[None]), _da(pulse[None])).lag_s.values[0] == pytest.approx(-0.7, abs=0.02)
    assert out.lag_s.attrs["units"] == "s" and out.lag_s_stderr.attrs["units"] == "s"


@pytest.mark.parametrize("kind", ["periodic", "aperiodic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("noise", [0.05, 0.2, 0.4])
def test_delays_within_half_a_frame_and_honest_errors(kind, seed, noise):
    a, b, d = _delayed_pairs(kind, seed, noise)
    out = cross_correlation(a, b)
    err = out.lag_s.values - d
    se = out.lag_s_stderr.values
    assert np.all(np.isfinite(err)) and np.all(se > 0) and not out.at_edge.any()
    assert np.mean(np.abs(err) < DT / 2) >= 0.99, np.abs(err).max()
    assert abs(err.mean()) < 3 * se.mean() / np.sqrt(err.size) + 0.005  # no bias beyond the interpolation's
    z = err / se
    assert np.mean(np.abs(z) < 2) >= 0.9, np.mean(np.abs(z) < 2)
    assert 0.5 < np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(se**2)) < 1.6


def test_model_slightly_wrong_extra_component_scaling_and_trend():
    a, b, d = _delayed_pairs("periodic", 7, 0.2, n_pix=200)
    t = a["t"].values
    rng = np.random.default_rng(7)
    # b: scaled, offset, an extra unrelated blink at 3 s, a linear decay and different noise
    bb = 0.4 * b.values + 10.0 + 0.3 * np.sin(2 * np.pi * t / 3.0 + rng.uniform(0, 6, (200, 1))) - 0.05 * t
    out = cross_correlation(a, _da(bb))
    err = out.lag_s.values - d
    assert np.mean(np.abs(err) < DT / 2) >= 0.99
    assert np.mean(np.abs(err / out.lag_s_stderr.values) < 2) >= 0.85


def test_unrelated_traces_have_low_correlation():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 200, 150))
    out = cross_correlation(_da(a), _da(b))
    assert np.mean(out.r.values < 0.4) >= 0.95  # the best of 2K+1 lags of independent noise
    c = cross_correlation(_da(a), _da(a + 0.1 * rng.normal(size=a.shape)))
    assert np.all(c.r.values > 0.98) and np.all(np.abs(c.lag_s.values) < 0.01)


def test_generator_blinking_delay_between_bands():
    from hyperspec import synthetic

    rng = np.random.default_rng(0)
    for seed in (1, 3, 5):
        _, truth = synthetic.kinetic_line(150, 8, n_spectral=32, seed=seed, aspl_periods_s=(1.5,), aspl_depths=(0.3,), aspl_growth=0.0)
        truth = truth.compute()
        ph = truth.attrs["blink_phases_rad"]
        d = (ph["lers"][0] - ph["aspl"][0]) * 1.5 / (2 * np.pi)
        d = (d + 0.75) % 1.5 - 0.75  # aS-PL(t) = l-ERS(t - d), modulo the 1.5 s period
        lers, aspl = truth["lers_area"], truth["aspl_area"]
        lers = lers + 0.1 * float(lers.std()) * rng.normal(size=lers.shape)
        aspl = aspl + 0.1 * float(aspl.std()) * rng.normal(size=aspl.shape)
        out = cross_correlation(lers, aspl)
        assert out.lag_s.dims == ("x",)
        assert np.all(np.abs(out.lag_s.values - d) < DT / 2), (out.lag_s.values, d)


def test_nan_frames_ignored_and_counted():
    a, b, d = _delayed_pairs("aperiodic", 5, 0.1, n_pix=50)
    av, bv = a.values.copy(), b.values.copy()
    av[:, 10:14] = np.nan
    bv[:, 70] = np.nan
    out = cross_correlation(_da(av), _da(bv))
    assert out.n_missing.values.tolist() == [5] * 50
    assert np.all(np.abs(out.lag_s.values - d) < DT / 2)


def test_flat_traces_are_flagged_not_crashing():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 60))
    b = rng.normal(size=(3, 60))
    a[1] = 2.0
    b[2] = np.nan
    out = cross_correlation(_da(a), _da(b))
    assert out.flat.values.tolist() == [False, True, True]
    assert np.isnan(out.lag_s.values[1:]).all() and np.isnan(out.r.values[1:]).all() and np.isfinite(out.r.values[0])


def test_windows_show_synchronisation_after_an_event():
    rng = np.random.default_rng(2)
    n_pix, n_t = 40, 200
    t = np.arange(n_t) * DT
    ph = rng.uniform(0, 2 * np.pi, (n_pix, 1))
    a = np.sin(2 * np.pi * t / 1.5 + ph) + 0.2 * rng.normal(size=(n_pix, n_t))
    unsync = np.sin(2 * np.pi * t / 1.9 + rng.uniform(0, 6, (n_pix, 1)))
    locked = np.sin(2 * np.pi * (t - 0.4) / 1.5 + ph)
    b = np.where(t >= 20.0, locked, unsync) + 0.2 * rng.normal(size=(n_pix, n_t))
    out = cross_correlation(_da(a), _da(b), window_s=8.0)
    starts = out["window"].values
    np.testing.assert_allclose(starts, np.arange(0, 32.01, 4.0), atol=1e-9)  # step = window/2
    assert out.r.dims == ("x", "window") and out["window"].attrs["units"] == "s"
    before, after = starts + 8.0 <= 20.0, starts >= 20.0
    assert np.all(out.r.values[:, after] > 0.8)
    assert np.median(out.r.values[:, before]) < 0.6
    assert np.all(np.abs(out.lag_s.values[:, after] - 0.4) < DT / 2)
    out2 = cross_correlation(_da(a), _da(b), window_s=8.0, step_s=2.0, max_lag_s=1.0)
    assert out2.sizes["window"] == 17 and out2.attrs["max_lag_s"] == pytest.approx(1.0)
    np.testing.assert_allclose(out2.r.values[:, ::2], cross_correlation(_da(a), _da(b), window_s=8.0, max_lag_s=1.0).r.values, atol=1e-12)


def test_cross_correlation_lazy_broadcast_and_device_path(gpu_xp):
    a, b, d = _delayed_pairs("aperiodic", 9, 0.1, n_pix=12)
    eager = cross_correlation(a, b)
    lazy = cross_correlation(a.chunk({"x": 5}), b.chunk({"x": 4, "t": 50}))
    assert lazy.lag_s.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager)
    dev = cross_correlation(a, b, backend="cupy")
    xr.testing.assert_allclose(dev, eager)
    one = cross_correlation(a, b.isel(x=0))  # b without the pixel dim broadcasts
    assert one.lag_s.dims == ("x",) and one.lag_s.values[0] == pytest.approx(eager.lag_s.values[0])


# ------------------------------------------------------------------------------------------ bad input
def test_bad_input_messages():
    x = np.random.default_rng(0).normal(size=(2, 30))
    no_coord = xr.DataArray(x, dims=("x", "t"), name="aspl_area")
    for f in (autocorrelation, lambda tr: cross_correlation(tr, tr)):
        with pytest.raises(DataModelError, match=r"no 't' coordinate.*assign_coords"):
            f(no_coord)
        uneven = no_coord.assign_coords(t=np.r_[np.arange(29) * DT, 10.0])
        with pytest.raises(DataModelError, match=r"not uniform.*hyperspec\.kinetics\.resample"):
            f(uneven)
        with pytest.raises(DataModelError, match="real numbers"):
            f(_da(x + 1j))
    with pytest.raises(DataModelError, match="no dim 'time'"):
        autocorrelation(_da(x), "time")
    with pytest.raises(DataModelError, match="no dim 'time'"):
        cross_correlation(_da(x), _da(x), "time")
    with pytest.raises(DataModelError, match="expected an xarray.DataArray"):
        cross_correlation(x, _da(x))
    with pytest.raises(DataModelError, match="shorter than one frame"):
        autocorrelation(_da(x), max_lag_s=0.1)
    with pytest.raises(DataModelError, match="pass at most"):
        autocorrelation(_da(x), max_lag_s=100.0)
    with pytest.raises(DataModelError, match="positive number of seconds"):
        cross_correlation(_da(x), _da(x), max_lag_s=-1)
    with pytest.raises(DataModelError, match="different 't' coordinates.*interp"):
        cross_correlation(_da(x), _da(x).assign_coords(t=_da(x)["t"] + 0.1))
    with pytest.raises(DataModelError, match="different pixel coordinates.*align"):
        cross_correlation(_da(x).assign_coords(x=[0.0, 1.0]), _da(x).assign_coords(x=[0.0, 2.0]))
    with pytest.raises(DataModelError, match="pass `window_s` too"):
        cross_correlation(_da(x), _da(x), step_s=1.0)
    with pytest.raises(DataModelError, match="must cover 8"):
        cross_correlation(_da(x), _da(x), window_s=0.6)
    with pytest.raises(DataModelError, match="must cover 8"):
        cross_correlation(_da(x), _da(x), window_s=60.0)
    with pytest.raises(DataModelError, match="step_s"):
        cross_correlation(_da(x), _da(x), window_s=2.0, step_s=0.05)


def test_a_delay_beyond_max_lag_is_flagged_at_edge():
    a, b, _ = _delayed_pairs("aperiodic", 11, 0.05, n_pix=20)
    t = a["t"].values
    pulse = np.exp(-0.5 * ((t - 10.0) / 1.0) ** 2)
    late = np.exp(-0.5 * ((t - 13.0) / 1.0) ** 2)  # 3 s later, searched only to ±1 s
    out = cross_correlation(_da(pulse[None]), _da(late[None]), max_lag_s=1.0)
    assert bool(out.at_edge[0]) and out.lag_s.values[0] == pytest.approx(1.0) and np.isnan(out.lag_s_stderr.values[0])
    assert not cross_correlation(a, b).at_edge.any()


def test_r_stderr_covers_the_correlation_of_independent_realisations():
    a, b, _ = _delayed_pairs("periodic", 12, 0.5, n_pix=400)
    out = cross_correlation(a, b)
    truth_r = 1.0 / (1.0 + 0.5**2)  # signal variance over signal + noise variance, both traces
    z = (out.r.values - truth_r) / out.r_stderr.values
    assert abs(np.median(out.r.values) - truth_r) < 0.02
    assert np.mean(np.abs(z) < 2) >= 0.85
