"""kinetics.periods / periodogram: periods below the FFT bin with honest errors, calibrated false alarms, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hyperspec import DataModelError
from hyperspec.fit.curve_models import sinusoids
from hyperspec.fit.curves import fit_curves
from hyperspec.kinetics.periods import (
    PERIOD_STATUS_MEANINGS,
    _fj,
    default_period_range,
    modulated_sinusoids,
    periodogram,
    periodogram_guess,
    periods,
)


def _traces(n_px, n_frames, periods_s, depths, *, seed, noise=0.02, frame_s=0.2, trend="growth", additive=False, phases=None):
    """Blinking traces of our own (independent of hyperspec.synthetic): level(t)·(1 + Σ d·sin) + noise (σ = noise·mean)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) * frame_s
    span = t[-1]
    if trend == "growth":  # flat, then a saturating rise from a third of the trace
        t0 = span / 3
        level = 100 * (1 + 0.8 * (t > t0) * -np.expm1(-np.maximum(t - t0, 0) / (span / 8)))
    elif trend == "decay":
        level = 100 * np.exp(-t / (span / 2.5))
    elif trend == "linear":
        level = 100 * (1 + 0.5 * t / span)
    else:
        level = np.full_like(t, 100.0)
    phases = rng.uniform(0, 2 * np.pi, len(periods_s)) if phases is None else phases
    mod = sum(d * np.sin(2 * np.pi * t / p + ph) for p, d, ph in zip(periods_s, depths, phases, strict=True))
    clean = level + 100 * mod if additive else level * (1 + mod)
    y = clean[None, :] + rng.normal(0, noise * level.mean(), (n_px, n_frames))
    return xr.DataArray(y, dims=("x", "t"), coords={"t": t}, name="demo_area")


def _match(res, truth):
    """For each true period: the nearest reported one (NaN if none within 10 %), its stderr, z."""
    P, E = res["period_s"].values.reshape(-1, res.sizes["peak"]), res["period_s_stderr"].values.reshape(-1, res.sizes["peak"])
    out = []
    for tp in truth:
        d = np.where(np.isfinite(P), np.abs(P - tp), np.inf)
        j = d.argmin(axis=1)
        p, e = P[np.arange(len(j)), j], E[np.arange(len(j)), j]
        p = np.where(np.abs(p / tp - 1) < 0.1, p, np.nan)
        out.append((p, e, (p - tp) / e))
    return out


# ---- the models -----------------------------------------------------------------------------------
@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize(("n", "trend"), [(1, 0), (2, 4), (3, 2)])
def test_jacobian_matches_finite_differences(relative, n, trend):
    rng = np.random.default_rng(3)
    x = np.arange(60) * 0.2
    blocks = [rng.normal(1, 0.3, (4, trend + 1))]
    blocks += [np.c_[rng.uniform(0.8, 4, 4), rng.normal(0, 0.3, (4, 2))] for _ in range(n)]
    p = np.concatenate(blocks, axis=1)
    f, J = _fj(np, x, p, n, trend, relative)
    h = 1e-6
    cols = []
    for i in range(p.shape[1]):
        step = h * np.eye(p.shape[1])[i]
        cols.append((_fj(np, x, p + step, n, trend, relative)[0] - _fj(np, x, p - step, n, trend, relative)[0]) / (2 * h))
    num = np.stack(cols, axis=-1)
    np.testing.assert_allclose(J, num, rtol=1e-6, atol=1e-7)
    m = modulated_sinusoids(n, trend) if relative else sinusoids(n, trend)
    np.testing.assert_allclose(m.function(np, x, p), f, rtol=1e-12)  # the same model as the registered ``sinusoids``


def test_modulated_sinusoids_through_fit_curves():
    da = _traces(6, 150, (1.9, 1.5), (0.25, 0.2), seed=1, noise=0.01)
    res = fit_curves(da, modulated_sinusoids(2, 4), "t")
    got = np.sort(np.c_[res["period_1"].values, res["period_2"].values], axis=1)
    np.testing.assert_allclose(got, np.broadcast_to([1.5, 1.9], got.shape), rtol=2e-3)
    assert (res["status"].values == 0).all()


def test_periodogram_guess_is_the_sinusoids_guess():
    da = _traces(5, 150, (2.3, 1.1), (0.3, 0.15), seed=2, noise=0.01, trend="linear", additive=True)
    y = da.values
    p0 = periodogram_guess(np, da["t"].values, y, np.ones_like(y), n=2, trend=1)
    assert p0.shape == (5, len(sinusoids(2, 1).params))
    np.testing.assert_allclose(p0[:, [2, 5]], np.broadcast_to([2.3, 1.1], (5, 2)), rtol=0.01)  # strongest first, < 1 % off
    res = fit_curves(da, sinusoids(2, 1), "t")  # the registered model's guess is periodogram_guess
    np.testing.assert_allclose(res["period_1"].values, 2.3, rtol=3e-3)
    np.testing.assert_allclose(res["period_2"].values, 1.1, rtol=3e-3)
    amp = np.hypot(res["cos_1"].values, res["sin_1"].values)
    np.testing.assert_allclose(amp, 30.0, rtol=0.05)  # additive amplitude 0.3·100 in trace units


# ---- accuracy and coverage ------------------------------------------------------------------------
def test_two_close_periods_below_the_bin_with_covering_errors():
    # the paper's aS-PL: 1.9 s and 1.5 s in 30 s of 200 ms frames (4 Rayleigh bins apart), growing ×1.8
    zs, errs = [], []
    for seed in range(4):
        res = periods(_traces(100, 150, (1.9, 1.5), (0.25, 0.2), seed=seed, noise=0.03))
        for tp, (p, _e, z) in zip((1.9, 1.5), _match(res, (1.9, 1.5)), strict=True):
            assert np.isfinite(p).all()
            assert np.abs(p / tp - 1).max() < 0.02
            zs.append(z)
            errs.append(np.abs(p - tp))
        assert (res["n_periods"].values == 2).mean() > 0.95
    z = np.concatenate(zs)
    assert np.mean(np.abs(z) < 2) >= 0.9
    assert abs(np.mean(z)) < 0.2  # unbiased
    fft_bin = 1.9**2 / 30.0  # the period step of the raw FFT grid near 1.9 s
    assert np.median(np.concatenate(errs)) < fft_bin / 50


@pytest.mark.parametrize(
    ("truth", "depths", "n_frames", "noise", "trend", "additive"),
    [
        ((0.8,), (0.1,), 100, 0.02, "decay", False),
        ((6.0,), (0.4,), 300, 0.05, "growth", False),
        ((3.0, 1.2, 0.9), (0.3, 0.2, 0.15), 300, 0.02, "linear", False),
        ((2.5, 4.1), (0.2, 0.3), 200, 0.03, "flat", True),
        ((1.5,), (0.3,), 150, 0.05, "decay", True),
    ],
)
def test_parameter_ranges(truth, depths, n_frames, noise, trend, additive):
    res = periods(_traces(120, n_frames, truth, depths, seed=n_frames, noise=noise, trend=trend, additive=additive))
    z = []
    for tp, (p, _e, zz) in zip(truth, _match(res, truth), strict=True):
        assert np.isfinite(p).mean() > 0.95, tp
        assert np.nanmax(np.abs(p / tp - 1)) < 0.02, tp
        z.append(zz[np.isfinite(zz)])
    assert np.mean(np.abs(np.concatenate(z)) < 2) >= 0.88
    assert (res["n_periods"].values == len(truth)).mean() > 0.9
    assert (res["status"].values == 0).all()
    # strongest first
    amp = res["amplitude"].values
    assert (np.diff(amp, axis=1)[np.isfinite(np.diff(amp, axis=1))] <= 0).all()


def test_relative_amplitude_and_amplitude():
    res = periods(_traces(50, 200, (1.9,), (0.3,), seed=7, noise=0.02, trend="decay"), max_periods=2)
    np.testing.assert_allclose(np.nanmedian(res["relative_amplitude"].values[:, 0]), 0.3, rtol=0.03)
    assert bool(res["relative_model"].all())
    z = (res["relative_amplitude"][:, 0] * 0 + res["amplitude"][:, 0] - np.nanmean(res["amplitude"][:, 0])) / res["amplitude_stderr"][:, 0]
    assert np.mean(np.abs(z.values) < 2.5) > 0.85  # amplitude errors of the right size


def test_generator_truth_areas_several_seeds():
    # the project's generator (band areas without spectral noise, plus white noise): aS-PL 1.9 + 1.5 s, l-ERS 1.5 s, h-ERS 3 s
    synthetic = pytest.importorskip("hyperspec.synthetic")
    found, z_all = {}, []
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        _, truth = synthetic.kinetic_line(150, 12, seed=seed)
        areas = truth[["aspl_area", "lers_area", "hers_area"]].compute()
        for band, tps in truth.attrs["blink_periods_s"].items():
            a = areas[f"{band}_area"]
            level = np.abs(a).mean("t").values
            a = a + rng.normal(0, 0.03 * level.max(), a.shape)
            present = level > 0.3 * level.max()
            res = periods(a)
            for tp, (p, _e, z) in zip(tps, _match(res, tps), strict=True):
                p, z = p[present], z[present]
                assert np.nanmax(np.abs(p / tp - 1)) < 0.02, (band, tp)
                found.setdefault((band, tp), []).append(np.isfinite(p))
                z_all.append(z[np.isfinite(z)])
            absent = level < 0.01 * level.max()
            assert (res["n_periods"].values[absent] == 0).all()  # no h-ERS in the crystal: nothing reported
    for key, f in found.items():
        assert np.concatenate(f).mean() >= 0.9, key
    assert np.mean(np.abs(np.concatenate(z_all)) < 2) >= 0.9


# ---- significance ---------------------------------------------------------------------------------
def test_false_alarm_rate_on_noise():
    rng = np.random.default_rng(11)
    t = np.arange(150) * 0.2
    y = 50 + rng.normal(0, 2, (1500, 150))
    res = periods(xr.DataArray(y, dims=("x", "t"), coords={"t": t}), max_periods=1, fap=0.01)
    sig = res["significance"].values[:, 0]
    assert np.isfinite(sig).all()
    rate = np.mean(res["n_periods"].values > 0)
    assert rate <= 0.02  # false detections at FAP < 0.01: about 1 % (Baluev's bound is slightly conservative)
    assert 0.02 <= np.mean(sig < 0.1) <= 0.13  # the FAP tracks the nominal rate further out too
    assert np.median(sig) > 0.3
    assert np.isnan(res["period_s"].values).all() or rate > 0


def test_no_period_gives_nan_and_high_fap_with_a_trend():
    res = periods(_traces(300, 150, (), (), seed=4, noise=0.02, trend="growth"), max_periods=2)
    assert np.mean(res["n_periods"].values > 0) <= 0.03
    # the kinked trend leaks into the long-period end: FAPs skew low (median ≈ 0.3, 0.62 on white noise) but stay rare below 0.01
    assert np.nanmedian(res["significance"].values[:, 0]) > 0.2
    assert np.isnan(res["period_s"].values[res["n_periods"].values == 0]).all()


def test_weak_period_is_found_when_it_should_be():
    # depth 0.05 at 3 % noise over 150 frames: z ≈ N·d²/(4σ²) ≈ 100, clearly significant
    res = periods(_traces(100, 150, (2.2,), (0.05,), seed=5, noise=0.03, trend="flat"), max_periods=1)
    assert np.mean(res["n_periods"].values == 1) > 0.95
    assert (res["significance"].values[:, 0] < 1e-6).mean() > 0.9


# ---- periodogram ----------------------------------------------------------------------------------
def test_periodogram_matches_lomb_scargle_on_fourier_frequencies():
    signal = pytest.importorskip("scipy.signal")
    da = _traces(3, 128, (1.7,), (0.3,), seed=6, noise=0.05, trend="flat")
    pg = periodogram(da, trend=0, oversample=4)
    assert pg.dims == ("x", "frequency")
    assert np.allclose(1 / pg["frequency"], pg["period_s"])
    t = da["t"].values
    m, dt = t.size, t[1] - t[0]
    cycles = pg["frequency"].values * m * dt
    on_grid = np.isclose(cycles, np.round(cycles), atol=1e-9)
    f = pg["frequency"].values[on_grid]
    for i in range(3):
        y = da.values[i] - da.values[i].mean()
        ls = signal.lombscargle(t, y, 2 * np.pi * f)  # half the sum-of-squares reduction
        np.testing.assert_allclose(pg.values[i, on_grid], 2 * ls / (y @ y), rtol=1e-6, atol=1e-9)
    best = pg["period_s"].values[pg.values.argmax(axis=1)]
    np.testing.assert_allclose(best, 1.7, rtol=0.03)


def test_periodogram_nan_frames_and_range():
    da = _traces(2, 150, (1.5,), (0.3,), seed=8, noise=0.02)
    da[:, 10:14] = np.nan
    pg = periodogram(da, min_period_s=1.0, max_period_s=5.0)
    assert np.isfinite(pg.values).all()
    assert pg["period_s"].min() >= 1.0 and pg["period_s"].max() <= 5.0
    np.testing.assert_allclose(pg["period_s"].values[pg.values.argmax(axis=1)], 1.5, rtol=0.02)


# ---- bad input, per-pixel status, lazy input ------------------------------------------------------
def test_nan_frames_ignored_and_counted():
    da = _traces(40, 150, (1.9, 1.5), (0.25, 0.2), seed=9, noise=0.02)
    clean = periods(da)
    da = da.copy()
    da[:, 30:33] = np.nan
    da[::2, 100] = np.nan
    res = periods(da)
    assert (res["n_points"].values == 150 - 3 - (np.arange(40) % 2 == 0)).all()
    assert (res["status"].values == 0).all()
    for (p, _, z), (p0, _, _) in zip(_match(res, (1.9, 1.5)), _match(clean, (1.9, 1.5)), strict=True):
        assert np.isfinite(p).all()
        np.testing.assert_allclose(p, p0, rtol=2e-3)
        assert np.mean(np.abs(z) < 2) >= 0.85


def test_status_flat_no_data_too_short():
    da = _traces(5, 150, (1.9,), (0.3,), seed=10, noise=0.02)
    da = da.copy()
    da[1] = 7.0  # constant
    da[2] = np.nan  # nothing
    da[3, 40:] = np.nan  # 40 finite frames: 8 s, too short for periods up to 10 s
    res = periods(da, max_periods=1)
    status = res["status"].values.tolist()
    assert status == [0, 1, 3, 2, 0]
    names = res["status"].attrs["flag_meanings"].split()
    assert [names[s] for s in status] == ["ok", "flat", "no_data", "too_short", "ok"]
    assert PERIOD_STATUS_MEANINGS[1] == "flat"
    assert np.isnan(res["period_s"].values[1:4]).all() and np.isnan(res["significance"].values[1:4]).all()
    np.testing.assert_allclose(res["period_s"].values[[0, 4], 0], 1.9, rtol=0.01)


def test_errors_name_the_problem_and_the_fix():
    da = _traces(2, 150, (1.9,), (0.3,), seed=0)
    with pytest.raises(DataModelError, match="no 't' coordinate"):
        periods(da.drop_vars("t"))
    with pytest.raises(DataModelError, match="no dim 'time'"):
        periods(da, "time")
    uneven = da.assign_coords(t=da["t"].values + np.r_[0, 0.05, np.zeros(148)])
    with pytest.raises(DataModelError, match="resample"):
        periods(uneven)
    with pytest.raises(DataModelError, match=r"too short for periods up to 20 s.*40 s \(200 frames\).*max_period_s ≤ 15 "):
        periods(da, max_period_s=20.0)
    with pytest.raises(ValueError, match="Nyquist.*min_period_s ≥ 0.4"):
        periods(da, min_period_s=0.3)
    with pytest.raises(ValueError, match="must be below"):
        periods(da, min_period_s=3.0, max_period_s=2.0)
    with pytest.raises(ValueError, match="`fap`"):
        periods(da, fap=1.5)
    with pytest.raises(ValueError, match="`max_periods`"):
        periods(da, max_periods=0)
    with pytest.raises(ValueError, match="`modulation`"):
        periods(da, modulation="multiply")
    with pytest.raises(DataModelError, match="at least"):
        periods(da.isel(t=slice(0, 12)))
    with pytest.raises(DataModelError, match="DataArray"):
        periods(da.values)


def test_lazy_input_gives_the_same_answer():
    pytest.importorskip("dask")
    da = _traces(12, 150, (1.9, 1.5), (0.25, 0.2), seed=12, noise=0.02)
    eager = periods(da)
    lazy = periods(da.chunk({"x": 5}))
    assert lazy["period_s"].chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager)


def test_default_range_and_pixel_dims():
    assert default_period_range(0.2, 150) == pytest.approx((0.5, 10.0))
    da = _traces(6, 150, (2.0,), (0.3,), seed=13, noise=0.02)
    grid = da.assign_coords(x=np.arange(6)).coarsen(x=3).construct(x=("y", "x")).transpose("t", "y", "x")  # (t, y, x)
    res = periods(grid, max_periods=1)
    assert res["period_s"].dims == ("y", "x", "peak")
    np.testing.assert_allclose(res["period_s"].values[..., 0], 2.0, rtol=0.01)
    assert res.attrs["min_period_s"] == pytest.approx(0.5) and res.attrs["max_period_s"] == pytest.approx(10.0)


def test_cupy_path_matches_numpy(gpu_xp):
    # the CuPy code path (the fake device without a GPU): the same numbers as NumPy
    da = _traces(10, 150, (1.9, 1.5), (0.25, 0.2), seed=14, noise=0.02)
    da[3, 20:22] = np.nan
    host = periods(da, backend="numpy")
    dev = periods(da, backend="cupy")
    for name in ("period_s", "period_s_stderr", "amplitude", "significance"):
        np.testing.assert_allclose(np.asarray(dev[name].values), host[name].values, rtol=1e-7, atol=1e-12)
    assert (np.asarray(dev["status"].values) == host["status"].values).all()
    pg_host, pg_dev = periodogram(da, backend="numpy"), periodogram(da, backend="cupy")
    np.testing.assert_allclose(np.asarray(pg_dev.values), pg_host.values, rtol=1e-9)


@pytest.mark.slow
def test_end_to_end_kinetic_line_remove_spikes_decompose_periods():
    # synthetic.kinetic_line → remove_spikes → decompose → periods of each band's area: the generator's periods within 3 %
    hyperspec = pytest.importorskip("hyperspec")
    from hyperspec import synthetic
    from hyperspec.preprocess.spikes import remove_spikes

    # 4 pixels 3 µm apart: crystal and glass; 512 channels (default 1024): every period within 0.4 % either way
    ds, truth = synthetic.kinetic_line(150, 4, seed=1, pixel_um=3.0, n_spectral=512)
    res = hyperspec.decompose(remove_spikes(ds), "cspbbr3-633").compute()
    areas = truth[["aspl_area", "lers_area", "hers_area"]].compute()
    for band, tps in truth.attrs["blink_periods_s"].items():
        level = np.abs(areas[f"{band}_area"]).mean("t").values
        present = level > 0.3 * level.max()
        assert present.any()
        pr = periods(res[f"{band}_area"])
        assert (pr["status"].values == 0).all()
        for tp, (p, _e, _z) in zip(tps, _match(pr, tps), strict=True):
            got = p[present]
            assert np.isfinite(got).mean() >= 0.5, (band, tp)
            assert abs(np.nanmedian(got) / tp - 1) < 0.03, (band, tp)
