"""kinetics.onset: onsets within a frame across onset times, time constants, growths, blinking and decays."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hyperspec import DataModelError, synthetic
from hyperspec.kinetics import onset, onset_kind_names

FRAME = 0.2
T = 150


def hinge_traces(n, seed, *, kind="growth", blink=True, additive=False, noise=0.03, frames=T):
    """Hinge traces with random onsets 2–20 s, τ 0.5–10 s (log), growth 0.3–2, times multiplicative blinking."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) * FRAME
    t0 = rng.uniform(2.0, 20.0, n)
    tau = np.exp(rng.uniform(np.log(0.5), np.log(10.0), n))
    g = rng.uniform(0.3, 2.0, n)
    if kind == "decay":
        g = -rng.uniform(0.3, 0.9, n)
    elif kind == "none":
        g = np.zeros(n)
    base = rng.uniform(50.0, 200.0, n)
    shape = np.where(t > t0[:, None], -np.expm1(-(t - t0[:, None]) / tau[:, None]), 0.0)
    h = base[:, None] * (1 + g[:, None] * shape)
    ph = rng.uniform(0, 2 * np.pi, 2)
    b = 0.25 * np.sin(2 * np.pi * t / 1.9 + ph[0]) + 0.2 * np.sin(2 * np.pi * t / 1.5 + ph[1]) if blink else 0.0 * t
    y = (h + base[:, None] * b) if additive else h * (1 + b)
    y = y + rng.normal(0.0, noise, (n, frames)) * base[:, None]
    return xr.DataArray(y, dims=("x", "t"), coords={"t": t}, name="aspl_area"), t0, tau, g


def onset_stats(res, t0, want):
    sel = res["kind"].values == want
    err = res["onset_s"].values - t0
    z = err / res["onset_s_stderr"].values
    return sel.mean(), np.mean(np.abs(err[sel]) < FRAME), np.mean(np.abs(z[sel]) < 2), np.mean(err[sel])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_growth_without_blinking_within_a_frame(seed):
    tr, t0, tau, _ = hinge_traces(80, seed, blink=False)
    res = onset(tr)
    found, within, cover, bias = onset_stats(res, t0, 1)
    assert found == 1.0
    assert within >= 0.9
    assert 0.85 <= cover <= 1.0
    assert abs(bias) < 0.05
    zt = (res["tau_s"].values - tau) / res["tau_s_stderr"].values
    assert 0.85 <= np.mean(np.abs(zt) < 2) <= 1.0


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("periods", [(1.9, 1.5), (1.95, 1.46)])
def test_growth_under_blinking_with_periods(seed, periods):
    # the periods slightly off (1.95/1.46 for 1.9/1.5) are refined per pixel
    tr, t0, _, _ = hinge_traces(60, seed)
    res = onset(tr, periods=periods)
    found, within, cover, bias = onset_stats(res, t0, 1)
    assert found >= 0.98
    assert within >= 0.9
    assert 0.85 <= cover <= 1.0
    assert abs(bias) < 0.05
    assert np.nanmedian(np.abs(res["period_1"].values - 1.9)) < 0.01


def test_blinking_without_periods_is_worse_and_periods_fix_it():
    tr, t0, _, _ = hinge_traces(60, 6)
    bare = onset(tr)
    joint = onset(tr, periods=(1.9, 1.5))
    e_bare = np.nanmedian(np.abs(bare["onset_s"].values - t0))
    e_joint = np.nanmedian(np.abs(joint["onset_s"].values - t0))
    assert e_bare > FRAME / 2  # blinking pulls the bare hinge by a fraction of a period
    assert e_joint < FRAME / 4
    assert e_bare > 3 * e_joint


def test_additive_blinking_model_slightly_wrong():
    # blinking added rather than multiplied: the joint model is slightly wrong, onsets still within a frame
    tr, t0, _, _ = hinge_traces(60, 7, additive=True)
    found, within, cover, _ = onset_stats(onset(tr, periods=(1.9, 1.5)), t0, 1)
    assert found >= 0.98 and within >= 0.85 and cover >= 0.8


@pytest.mark.parametrize("seed", [8, 9])
def test_decays(seed):
    tr, t0, _, g = hinge_traces(60, seed, kind="decay")
    res = onset(tr, periods=(1.9, 1.5))
    found, within, cover, bias = onset_stats(res, t0, 2)
    assert found >= 0.98
    assert within >= 0.7  # shallow decays with τ up to 10 s: the kink is soft
    assert 0.85 <= cover <= 1.0
    assert abs(bias) < 0.05
    assert np.all(res["amplitude"].values[res["kind"].values == 2] < 0)


@pytest.mark.parametrize("periods", [None, (1.9, 1.5)])
@pytest.mark.parametrize("blink", [False, True])
def test_no_onset_is_none(periods, blink):
    tr, _, _, _ = hinge_traces(60, 10, kind="none", blink=blink)
    res = onset(tr, periods=periods)
    assert np.mean(res["kind"].values == 0) >= 0.97
    assert np.all(np.isnan(res["onset_s"].values[res["kind"].values == 0]))
    # baseline is then the (blinking-corrected) mean level
    base = tr.mean("t").values
    assert np.allclose(res["baseline"].values, base, rtol=0.05)


@pytest.mark.parametrize(("seed", "onset_s", "tau_s", "growth"), [(3, 7.0, 4.0, 1.0), (11, 3.0, 1.0, 0.5), (12, 14.0, 8.0, 2.0)])
def test_generator_bands(seed, onset_s, tau_s, growth):
    # the project's generator: aS-PL grows after `aspl_onset_s`, h-ERS decays from t = 0, l-ERS has no onset
    _, truth = synthetic.kinetic_line(
        T, 6, seed=seed, n_spectral=32, noise=False, artefacts=False, aspl_onset_s=onset_s, aspl_growth_tau_s=tau_s, aspl_growth=growth,
        drift_um_per_s=(0.0, 0.0), drift_jitter_um=0.0,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    per = truth.attrs["blink_periods_s"]

    def noisy(band):
        a = truth[f"{band}_area"].transpose("x", "t")
        return a + 0.02 * float(np.abs(a).mean()) * rng.standard_normal(a.shape)

    a = onset(noisy("aspl"), periods=per["aspl"])
    assert onset_kind_names(a["kind"]).values.tolist() == ["growth"] * 6
    assert np.all(np.abs(a["onset_s"].values - onset_s) < FRAME)
    assert np.all(np.abs(a["tau_s"].values - tau_s) < 0.25 * tau_s)
    h = onset(noisy("hers"), periods=per["hers"])
    glass = truth["glass_fraction"].isel(t=0).values > 0.5
    assert np.all(h["kind"].values[glass] == 2)
    assert np.all(h["onset_s"].values[glass] < 2 * FRAME)
    assert np.all(np.abs(h["tau_s"].values[glass] - 12.0) < 2.0)
    ler = onset(noisy("lers"), periods=per["lers"])
    assert np.all(ler["kind"].values == 0)


# ---- bad input ---------------------------------------------------------------------------------
def test_errors_name_the_fix():
    tr, _, _, _ = hinge_traces(2, 0, frames=40)
    with pytest.raises(DataModelError, match="no 't' coordinate"):
        onset(tr.drop_vars("t"))
    t = tr["t"].values.copy()
    t[5:] += 0.05
    with pytest.raises(DataModelError, match="resample"):
        onset(tr.assign_coords(t=t))
    with pytest.raises(DataModelError, match="at least 8"):
        onset(tr.isel(t=slice(0, 7)))
    with pytest.raises(DataModelError, match="at least 14"):
        onset(tr.isel(t=slice(0, 12)), periods=(1.9, 1.5))
    with pytest.raises(ValueError, match="positive"):
        onset(tr, periods=(1.9, -1.0))
    with pytest.raises(ValueError, match="weights"):
        onset(tr, weights="chi")
    with pytest.raises(DataModelError, match="no dim 'time'"):
        onset(tr, "time")


def test_nan_frames_ignored_and_counted_flat_flagged():
    tr, t0, _, _ = hinge_traces(40, 12, blink=False)
    clean = onset(tr)
    holed = tr.copy()
    holed[:, [3, 50, 51, 120]] = np.nan
    holed[5, :] = 42.0  # a constant trace
    res = onset(holed)
    assert res["n_points"].values[0] == T - 4 and res["n_points"].values[5] == T
    assert res["n_masked"].values[0] == 4 and res["n_masked"].values[5] == 0
    assert res["status"].values[5] == 7 and res["kind"].values[5] == 0
    keep = np.arange(40) != 5
    err = np.abs(res["onset_s"].values[keep] - t0[keep])
    assert np.mean(err < FRAME) >= 0.85
    assert np.nanmedian(np.abs(res["onset_s"].values[keep] - clean["onset_s"].values[keep])) < 0.05
    flags = dict(zip(res["status"].attrs["flag_values"].tolist(), res["status"].attrs["flag_meanings"].split(), strict=True))
    assert flags[7] == "flat"


def test_lazy_dask_matches_eager_and_stderr_weights():
    tr, t0, _, _ = hinge_traces(24, 13)
    se = xr.full_like(tr, 0.03) * tr.mean("t")
    eager = onset(tr, periods=(1.9, 1.5), stderr=se)
    lazy = onset(tr.chunk({"x": 8, "t": 50}), periods=(1.9, 1.5), stderr=se.chunk({"x": 8}))
    assert lazy["onset_s"].chunks is not None
    computed = lazy.compute()
    np.testing.assert_allclose(computed["onset_s"].values, eager["onset_s"].values, rtol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(computed["kind"].values, eager["kind"].values)
    found, within, cover, _ = onset_stats(eager, t0, 1)
    assert found >= 0.95 and within >= 0.85 and cover >= 0.8


def test_kind_names_and_pixel_dims():
    tr, _, _, _ = hinge_traces(6, 14, blink=False)
    flat = 100.0 + np.random.default_rng(15).normal(0.0, 3.0, tr.shape)
    tr2 = xr.concat([tr, -tr + 400.0, 0 * tr + flat], dim="y").transpose("y", "x", "t")
    res = onset(tr2)
    assert res["kind"].dims == ("y", "x")
    names = onset_kind_names(res["kind"]).values
    assert set(names[0]) == {"growth"} and set(names[1]) == {"decay"} and set(names[2]) == {"none"}


def test_cupy_path_matches_numpy(gpu_xp):
    # the CuPy code path (the fake device without a GPU): the same numbers as NumPy
    tr, _, _, _ = hinge_traces(6, 16)
    host = onset(tr, periods=(1.9, 1.5), backend="numpy")
    dev = onset(tr, periods=(1.9, 1.5), backend="cupy")
    np.testing.assert_allclose(np.asarray(dev["onset_s"].values), host["onset_s"].values, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(np.asarray(dev["kind"].values), host["kind"].values)
