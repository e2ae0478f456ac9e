"""Kinetics plots: each writes a real PNG, draws the values it is given, labels axes with units, and
survives NaN-heavy, single-pixel and one-peak inputs."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hyperspec.fit.curves import fit_curves, get_curve_model
from hyperspec.kinetics import plots as P

FRAME_S = 0.2


def _check_png(path, min_std=0.02, max_bytes=150_000):
    """The file is a PNG of a sensible size with visible content (not a blank canvas)."""
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 150 and img.shape[1] > 300
    assert float(img[..., :3].std()) > min_std
    assert path.stat().st_size < max_bytes
    return img


def _line_traces(n_t=150, n_x=12, periods=(1.9, 1.5), seed=0, noise=0.05):
    """aS-PL-like traces on (t, x): blinking at ``periods`` (the same phases on every pixel) on a level that varies along x."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_t) * FRAME_S
    x = np.arange(n_x) * 0.5
    level = 100.0 + 20.0 * np.sin(x / 3.0)
    blink = sum(0.25 / (i + 1) * np.sin(2 * np.pi * t / p + 1.0 + i) for i, p in enumerate(periods))
    values = level[None, :] * (1 + blink[:, None]) + noise * 100 * rng.normal(size=(n_t, n_x))
    da = xr.DataArray(values, dims=("t", "x"), coords={"t": t, "x": x}, name="aspl_area", attrs={"units": "counts*cm-1"})
    da["t"].attrs["units"] = "s"
    da["x"].attrs["units"] = "um"
    return da


def _acf(trace):
    """Reference normalised autocorrelation per pixel (NumPy), on (x, lag) with lag up to a third of the trace."""
    y = trace.transpose("x", "t").values
    y = y - y.mean(axis=1, keepdims=True)
    n = y.shape[1]
    k_max = n // 3
    c = np.stack([np.sum(y[:, : n - k] * y[:, k:], axis=1) for k in range(k_max + 1)], axis=1)
    c /= c[:, :1]
    lag = np.arange(k_max + 1) * FRAME_S
    return xr.DataArray(
        c, dims=("x", "lag"), coords={"x": trace["x"], "lag": ("lag", lag, {"units": "s"})}, name="aspl_area_autocorrelation"
    )


def _periods(n_x=12, values=(1.9, 1.5), err=0.02, swap_every=0):
    p = np.tile(np.asarray(values, float), (n_x, 1))
    if swap_every:
        p[::swap_every] = p[::swap_every, ::-1]
    return xr.Dataset(
        {"period_s": (("x", "peak"), p), "period_s_stderr": (("x", "peak"), np.full_like(p, err))},
        coords={"peak": np.arange(1, p.shape[1] + 1)},
    )


# ---- units --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "pretty"), [("counts*cm-1", "counts·cm⁻¹"), ("um", "µm"), ("cm-1", "cm⁻¹"), ("1/eV", "1/eV"), ("m2", "m²"), ("s", "s")]
)
def test_pretty_units(raw, pretty):
    assert P.pretty_units(raw) == pretty


# ---- plot_trace -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trace_with_exp_decay_fit_draws_the_fitted_curve(tmp_path, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(100) * FRAME_S
    amp, tau, off = rng.uniform(50, 200, 6), rng.uniform(1, 6, 6), rng.uniform(5, 20, 6)
    clean = amp[:, None] * np.exp(-t[None, :] / tau[:, None]) + off[:, None]
    tr = xr.DataArray(clean + rng.normal(0, 1.0, clean.shape), dims=("x", "t"), coords={"t": t}, name="hers_area")
    fit = fit_curves(tr, "exp_decay", "t")
    fig = P.plot_trace(tr, fit, pixel={"x": 3})
    ax, axr = fig.axes
    data_line, fit_line = ax.lines[:2]
    np.testing.assert_allclose(data_line.get_ydata(), tr.isel(x=3).values)
    # the drawn curve is the model at the fitted parameters, and close to the noiseless truth
    p = np.array([[float(fit[n][3]) for n in ("amplitude", "tau", "offset")]])
    np.testing.assert_allclose(fit_line.get_ydata(), get_curve_model("exp_decay").function(np, t, p)[0])
    assert np.max(np.abs(fit_line.get_ydata() - clean[3])) < 2.0
    np.testing.assert_allclose(axr.lines[0].get_ydata(), tr.isel(x=3).values - fit_line.get_ydata())
    assert ax.get_ylabel() == "hers_area" and axr.get_xlabel() == "t (s)"
    assert ax.get_title().startswith("hers_area, x[3]\ny = amplitude")
    _check_png(P.plot_trace(tr, fit, path=tmp_path / "trace.png", dpi=60))


def test_trace_mean_over_pixels_and_mean_of_fitted_curves():
    tr = _line_traces(n_x=5)
    fig = P.plot_trace(tr)
    (line,) = fig.axes[0].lines
    np.testing.assert_allclose(line.get_ydata(), tr.mean("x").values)
    assert fig.axes[0].get_ylabel() == "aspl_area (counts·cm⁻¹)"
    assert "mean of 5 pixels" in fig.axes[0].get_title()


def test_trace_with_onset_result_and_its_label():
    t = np.arange(150) * FRAME_S
    base, amp, t0, tau = 100.0, 80.0, 7.0, 4.0
    y = base + amp * -np.expm1(-np.maximum(t - t0, 0) / tau)
    tr = xr.DataArray(y, dims=("t",), coords={"t": t}, name="aspl_area")
    on = xr.Dataset({"onset_s": t0, "onset_s_stderr": 0.12, "tau_s": tau, "amplitude": amp, "baseline": base, "kind": np.int8(1)})
    fig = P.plot_trace(tr, on)
    fit_line = fig.axes[0].lines[1]
    np.testing.assert_allclose(fit_line.get_ydata(), y, atol=1e-9)
    assert "onset 7.00 ± 0.12 s" in fit_line.get_label()
    # residual of the exact model is zero
    assert np.max(np.abs(fig.axes[1].lines[0].get_ydata())) < 1e-9


def test_trace_onset_kind_none_draws_no_curve():
    t = np.arange(40) * FRAME_S
    tr = xr.DataArray(np.ones((3, 40)), dims=("x", "t"), coords={"t": t}, name="lers_area")
    nan = np.full(3, np.nan)
    on = xr.Dataset({"onset_s": ("x", nan), "tau_s": ("x", nan), "amplitude": ("x", nan), "baseline": ("x", np.ones(3))})
    fig = P.plot_trace(tr, on)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 1


def test_power_law_trace_is_log_log():
    p = np.array([0.1, 0.2, 0.5, 1, 2, 5, 10.0])
    tr = xr.DataArray(np.stack([30 * p, 8 * p**2]), dims=("x", "power"), coords={"power": ("power", p, {"units": "mW"})}, name="aspl_area")
    res = xr.Dataset({"k": ("x", [1.0, 2.0]), "k_stderr": ("x", [0.01, 0.02]), "amplitude": ("x", [30.0, 8.0])})
    fig = P.plot_trace(tr, res, pixel={"x": 1})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "" and fig.axes[1].get_xlabel() == "pump power (mW)"
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 8 * p**2)
    assert "k = 2.00 ± 0.02" in ax.lines[1].get_label()


def test_trace_sinusoids_fit_with_two_periods():
    t = np.arange(150) * FRAME_S
    tau = t - 0.5 * (t[0] + t[-1])
    y = 10 + 2 * np.cos(2 * np.pi * tau / 1.9) + np.sin(2 * np.pi * tau / 1.5)
    tr = xr.DataArray(y, dims=("t",), coords={"t": t}, name="aspl_area")
    fit = xr.Dataset(
        {"trend_0": 10.0, "trend_1": 0.0, "period_1": 1.9, "cos_1": 2.0, "sin_1": 0.0, "period_2": 1.5, "cos_2": 0.0, "sin_2": 1.0},
        attrs={"curve_model": "sinusoids", "dim": "t"},
    )
    fig = P.plot_trace(tr, fit)
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), y, atol=1e-9)


def test_trace_all_nan_and_single_point_pixel(tmp_path):
    t = np.arange(30) * FRAME_S
    tr = xr.DataArray(np.full((30, 2), np.nan), dims=("t", "x"), coords={"t": t}, name="aspl_area")
    fig = P.plot_trace(tr)
    assert any("no finite values" in txt.get_text() for txt in fig.axes[0].texts)
    _check_png(P.plot_trace(tr, path=tmp_path / "nan.png", dpi=60), min_std=0.005)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"trace": np.ones(5)}, "must be an xarray.DataArray"),
        ({"pixel": {"y": 0}}, "names dim 'y'"),
        ({"pixel": {"x": 99}}, r"int index in \[0, 12\)"),
        ({"pixel": 3}, "dict of dim"),
        ({"fit": xr.Dataset({"foo": 1.0})}, "not a result this function can draw"),
        ({"dim": "power"}, "no series dim 'power'"),
    ],
)
def test_trace_bad_input_errors(kwargs, match):
    kw = {"trace": _line_traces()} | kwargs
    with pytest.raises(ValueError, match=match):
        P.plot_trace(kw.pop("trace"), kw.pop("fit", None), **kw)


# ---- period marks ---------------------------------------------------------------------------------
def test_period_marks_pool_pixels_whatever_the_peak_index():
    per = _periods(n_x=20, swap_every=3)  # peak 1 is 1.5 s in every third pixel
    marks = P.period_marks(per)
    # both in every pixel: the one that is mostly peak 1 (the stronger) first
    assert [(round(v, 3), n) for v, _, n in marks] == [(1.9, 20), (1.5, 20)]
    one = P.period_marks(per, {"x": 0})
    assert [round(v, 2) for v, _, _ in one] == [1.5, 1.9] and one[0][1] == pytest.approx(0.02)


def test_period_marks_spread_minority_and_nan():
    rng = np.random.default_rng(4)
    p = np.full((40, 2), np.nan)
    p[:, 0] = 1.9 + rng.normal(0, 0.02, 40)
    p[:2, 1] = 5.0  # found in 2 of 40 pixels: dropped
    per = xr.Dataset({"period_s": (("x", "peak"), p)})
    (mark,) = P.period_marks(per)
    assert mark[0] == pytest.approx(1.9, abs=0.01) and mark[1] == pytest.approx(0.02, rel=0.35) and mark[2] == 40
    assert P.period_marks(per.where(False)) == []


# ---- autocorrelation / periodogram ------------------------------------------------------------
@pytest.mark.parametrize("periods", [(1.9, 1.5), (3.0,)])
def test_autocorrelation_marks_multiples_of_each_period(tmp_path, periods):
    tr = _line_traces(periods=periods)
    acf = _acf(tr)
    per = _periods(values=periods)
    fig = P.plot_autocorrelation(acf, per)
    ax = fig.axes[0]
    lag_max = float(acf["lag"][-1])
    marks = sorted(float(ln.get_xdata()[0]) for ln in ax.lines if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1])
    expected = sorted(m * p for p in periods for m in range(1, int(lag_max // p) + 1))
    np.testing.assert_allclose(marks, expected)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lbl.startswith(f"period {periods[0]:.2f} ± 0.02 s") and "(12/12 px)" in lbl for lbl in labels)
    assert ax.get_xlabel() == "lag τ (s)" and ax.get_ylabel() == "autocorrelation C(τ)"
    mean_line = next(ln for ln in ax.lines if ln.get_label() == "mean C(τ)")
    np.testing.assert_allclose(mean_line.get_ydata(), acf.mean("x").values)
    _check_png(P.plot_autocorrelation(acf, per, path=tmp_path / "acf.png", dpi=60))


def test_autocorrelation_on_a_map_one_pixel_and_all_nan(tmp_path):
    acf = _acf(_line_traces(n_x=6))
    acf2 = xr.concat([acf, acf], dim="y").transpose("y", "x", "lag")
    per = xr.Dataset({"period_s": (("y", "x", "peak"), np.full((2, 6, 1), 1.9))})
    fig = P.plot_autocorrelation(acf2, per, pixel={"y": 1, "x": 2})
    assert "x = 1 µm" in fig.axes[0].get_title() and "y[1]" in fig.axes[0].get_title()
    blank = P.plot_autocorrelation(acf.where(False), per.isel(y=0, drop=True), path=tmp_path / "nan.png", dpi=60)
    _check_png(blank, min_std=0.005)


def test_periodogram_marks_frequencies_and_skips_zero(tmp_path):
    f = np.linspace(0, 2.5, 200)
    pg = xr.DataArray(
        np.exp(-(((f - 1 / 1.9) / 0.02) ** 2))[None].repeat(3, 0),
        dims=("x", "frequency"),
        coords={"frequency": ("frequency", f, {"units": "Hz"})},
    )
    fig = P.plot_periodogram(pg, _periods(n_x=3, values=(1.9,)))
    ax = fig.axes[0]
    curve = next(ln for ln in ax.lines if ln.get_label() == "mean periodogram")
    assert curve.get_xdata()[0] > 0 and len(curve.get_xdata()) == 199
    vlines = [ln for ln in ax.lines if ln.get_label().startswith("period")]
    assert len(vlines) == 1 and vlines[0].get_xdata()[0] == pytest.approx(1 / 1.9)
    assert ax.get_xlabel() == "frequency (Hz)"
    assert any(child.get_xlabel() == "period (s)" for child in ax.child_axes)
    _check_png(P.plot_periodogram(pg, path=tmp_path / "pg.png", dpi=60))


def test_acf_and_periodogram_reject_wrong_inputs():
    with pytest.raises(ValueError, match="no 'lag' dim"):
        P.plot_autocorrelation(xr.DataArray(np.ones(4), dims="t"))
    with pytest.raises(ValueError, match="lacks \\['period_s'\\]"):
        P.plot_periodogram(xr.DataArray(np.ones(4), dims="frequency"), xr.Dataset({"p": 1.0}))


# ---- kymograph -----------------------------------------------------------------------------------
def test_kymograph_line_and_map(tmp_path):
    tr = _line_traces()
    res = xr.Dataset({"aspl_area": tr, "lers_area": 0.5 * tr.assign_attrs(units="counts*cm-1"), "chi2_red": tr * 0 + 1})
    fig = P.plot_kymograph(res)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["aspl_area", "lers_area"]
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), tr.transpose("x", "t").values)
    lo, hi = fig.axes[0].images[0].get_clim()
    assert (lo, hi) == pytest.approx(tuple(np.percentile(tr.values, [1, 99])))
    assert fig.axes[1].get_xlabel() == "t (s)" and fig.axes[0].get_ylabel() == "x (µm)"
    assert fig.axes[2].get_ylabel() == "aspl_area (counts·cm⁻¹)"
    _check_png(P.plot_kymograph(res, ["aspl"], path=tmp_path / "k1.png", dpi=60))
    cube = xr.concat([tr, 2 * tr], dim="y").transpose("t", "y", "x")
    res3 = xr.Dataset({"aspl_area": cube})
    fig = P.plot_kymograph(res3, "aspl")
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), 1.5 * tr.transpose("x", "t").values)
    assert "mean over y" in fig.axes[0].get_title()
    fig = P.plot_kymograph(res3, "aspl", y=1)
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), 2 * tr.transpose("x", "t").values)


def test_kymograph_nan_heavy_and_errors(tmp_path):
    tr = _line_traces()
    rng = np.random.default_rng(0)
    holey = tr.where(rng.random(tr.shape) > 0.9)
    holey[0, 0] = 1e9  # one wild value does not set the scale
    fig = P.plot_kymograph(xr.Dataset({"aspl_area": holey}))
    assert fig.axes[0].images[0].get_clim()[1] < 1e3
    _check_png(P.plot_kymograph(xr.Dataset({"aspl_area": tr.where(False)}), path=tmp_path / "nan.png", dpi=60), min_std=0.005)
    with pytest.raises(ValueError, match="no variable 'hers'"):
        P.plot_kymograph(xr.Dataset({"aspl_area": tr}), ["hers"])
    with pytest.raises(ValueError, match="row index"):
        P.plot_kymograph(xr.Dataset({"aspl_area": tr}), y=0)
    with pytest.raises(ValueError, match="needs 't' and 'x'"):
        P.plot_kymograph(xr.Dataset({"aspl_area": tr.isel(x=0)}), ["aspl"])


# ---- lag map -------------------------------------------------------------------------------------
def test_lag_map_on_an_area_is_diverging_and_centred(tmp_path):
    rng = np.random.default_rng(1)
    lag = rng.normal(0.3, 0.2, (8, 10))
    lag[0, :4] = np.nan
    edge = np.zeros((8, 10), bool)
    edge[7, 9] = True
    xc = xr.Dataset(
        {"lag_s": (("y", "x"), lag, {"units": "s"}), "lag_s_stderr": (("y", "x"), np.full((8, 10), 0.05)),
         "r": (("y", "x"), rng.uniform(0.3, 0.9, (8, 10))), "at_edge": (("y", "x"), edge)},
        coords={"y": np.arange(8) * 0.5, "x": np.arange(10) * 0.5}, attrs={"a": "aspl_area", "b": "lers_area"},
    )  # fmt: skip
    fig = P.plot_lag_map(xc)
    im = fig.axes[0].images[0]
    lo, hi = im.get_clim()
    assert lo == pytest.approx(-hi) and hi > 0 and im.get_cmap().name.startswith("RdBu_r")
    assert np.isnan(np.asarray(im.get_array().filled(np.nan))[7, 9])
    assert fig.axes[0].get_title() == "delay of lers_area after aspl_area (1 at ±max lag: blank)"
    assert fig.axes[0].get_xlabel() == "x (µm)" and fig.axes[0].get_ylabel() == "y (µm)"
    _check_png(P.plot_lag_map(xc, path=tmp_path / "lag.png", dpi=60))


def test_lag_map_line_point_window_and_nan(tmp_path):
    x = np.arange(12) * 0.5
    xc = xr.Dataset(
        {"lag_s": ("x", np.linspace(-0.2, 0.4, 12)), "lag_s_stderr": ("x", np.full(12, 0.03)), "r": ("x", np.full(12, 0.8))},
        coords={"x": x},
    )
    fig = P.plot_lag_map(xc)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), xc["lag_s"].values)
    assert fig.axes[1].get_xlabel() == "x (µm)" and fig.axes[0].get_ylabel() == "lag (s)"
    fig = P.plot_lag_map(xc.isel(x=0))
    assert fig.axes[-1].get_xlabel() == "region"
    w = xr.Dataset(
        {"lag_s": (("x", "window"), np.ones((12, 5))), "r": (("x", "window"), np.full((12, 5), 0.7))},
        coords={"x": x, "window": np.arange(5) * 4.0, "window_center": ("window", np.arange(5) * 4.0 + 3.0)},
    )
    fig = P.plot_lag_map(w)
    assert fig.axes[1].get_xlabel() == "window centre (s)" and fig.axes[0].images[0].get_array().shape == (12, 5)
    fig = P.plot_lag_map(w.isel(x=0))
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), np.arange(5) * 4.0 + 3.0)
    _check_png(P.plot_lag_map(xc.where(False), path=tmp_path / "nan.png", dpi=60), min_std=0.005)
    with pytest.raises(ValueError, match="lacks \\['lag_s'\\]"):
        P.plot_lag_map(xr.Dataset({"r": 1.0}))


# ---- SBPL events --------------------------------------------------------------------------------
def _events(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"t_s": rng.uniform(0, 30, n), "x_um": rng.uniform(0, 31.5, n), "energy_ev": rng.normal(2.33, 0.02, n),
         "fwhm_mev": rng.uniform(3, 6, n), "amplitude": rng.uniform(20, 400, n)}
    )  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1])
def test_event_raster_positions_colours_and_sizes(tmp_path, seed):
    ev = _events(seed=seed)
    fig = P.plot_event_raster(ev, extent=(0, 30, 0, 31.5))
    ax = fig.axes[0]
    sc = ax.collections[0]
    np.testing.assert_allclose(sc.get_offsets(), ev[["t_s", "x_um"]].to_numpy())
    np.testing.assert_allclose(sc.get_array(), ev["energy_ev"].to_numpy())
    sizes = sc.get_sizes()
    assert np.all(np.diff(sizes[np.argsort(ev["amplitude"].to_numpy())]) >= 0)
    assert ax.get_xlim() == (0, 30) and ax.get_ylim() == (0, 31.5)
    assert ax.get_xlabel() == "t (s)" and ax.get_ylabel() == "x (µm)" and fig.axes[1].get_ylabel() == "SBPL energy (eV)"
    assert ax.get_title(loc="left") == f"SBPL: {len(ev)} detections, 1.3 per s"
    _check_png(P.plot_event_raster(ev, extent=(0, 30, 0, 31.5), path=tmp_path / "ev.png", dpi=60))


def test_event_raster_empty_y_only_dict_and_errors(tmp_path):
    empty = _events().iloc[:0]
    fig = P.plot_event_raster(empty, extent=(0, 30, 0, 31.5))
    assert any("no SBPL events" in t.get_text() for t in fig.axes[0].texts)
    _check_png(P.plot_event_raster(empty, path=tmp_path / "empty.png", dpi=60), min_std=0.005)
    ev = _events(n=6).assign(event_id=[0, 0, 1, 2, 2, 2])
    assert P.plot_event_raster(ev).axes[0].get_title(loc="left").startswith("SBPL: 6 detections in 3 events")
    d = {"t_s": [1.0], "y_um": [2.0], "energy_ev": [2.3]}
    assert P.plot_event_raster(d).axes[0].get_ylabel() == "y (µm)"
    with pytest.raises(ValueError, match="needs columns 't_s'"):
        P.plot_event_raster({"t_s": [1.0]})
    with pytest.raises(ValueError, match="`extent`"):
        P.plot_event_raster(d, extent=(1, 0, 0, 1))


# ---- k map ---------------------------------------------------------------------------------------
def test_k_map_area_line_and_status(tmp_path):
    rng = np.random.default_rng(2)
    k = rng.uniform(1, 2, (6, 7))
    status = np.zeros((6, 7), np.int8)
    status[0, 0] = 1
    res = xr.Dataset(
        {"k": (("y", "x"), k), "k_stderr": (("y", "x"), np.full((6, 7), 0.03)), "status": (("y", "x"), status)},
        coords={"y": np.arange(6) * 1.0, "x": np.arange(7) * 1.0},
    )
    fig = P.plot_k_map(res)
    arr = np.asarray(fig.axes[0].images[0].get_array().filled(np.nan))
    assert np.isnan(arr[0, 0]) and np.allclose(arr[1:], k[1:])
    assert "1 px not converged" in fig.axes[0].get_title() and fig.axes[0].get_xlabel() == "x (µm)"
    _check_png(P.plot_k_map(res, path=tmp_path / "k.png", dpi=60))
    line = res.isel(y=2)
    fig = P.plot_k_map(line)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), k[2])
    refs = sorted(float(ln.get_ydata()[0]) for ln in ax.lines[1:])
    assert refs == [1.0, 2.0] and ax.get_ylabel() == "k (I ∝ Pᵏ)"
    _check_png(P.plot_k_map(line.where(False), path=tmp_path / "knan.png", dpi=60), min_std=0.005)
    assert P.plot_k_map(res.isel(y=0, x=1)).axes[0].get_xlabel() == "region"
    with pytest.raises(ValueError, match="lacks \\['k'\\]"):
        P.plot_k_map(xr.Dataset({"kk": 1.0}))


# ---- everything ------------------------------------------------------------------------------------
def test_write_kinetics_report_writes_what_the_outputs_allow(tmp_path):
    tr = _line_traces()
    res = xr.Dataset({"aspl_area": tr, "hers_area": 0.3 * tr})
    acf = _acf(tr)
    per = _periods()
    f = np.linspace(0, 2.5, 100)
    pg = xr.DataArray(np.exp(-(((f - 1 / 1.9) / 0.03) ** 2)), dims=("frequency",), coords={"frequency": f})
    on = xr.Dataset({"onset_s": 7.0, "tau_s": 4.0, "amplitude": 10.0, "baseline": 100.0})
    xc = xr.Dataset({"lag_s": ("x", np.zeros(12)), "r": ("x", np.ones(12))}, coords={"x": tr["x"]})
    kres = xr.Dataset({"k": ("x", np.ones(12))})
    outputs = {
        "traces": res, "autocorrelation": {"aspl": acf}, "periodogram": {"aspl_area": pg}, "periods": {"aspl": per},
        "onset": {"aspl": on}, "fits": {"hers": fit_curves(res["hers_area"], "exp_decay", "t")},
        "cross_correlation": {("aspl", "lers"): xc}, "power_law": {"aspl": kres}, "sbpl_events": (_events(), None),
    }  # fmt: skip
    paths = P.write_kinetics_report(outputs, tmp_path / "png", dpi=60)
    assert [p.name for p in paths] == [
        "kymograph.png", "trace_aspl.png", "fit_hers.png", "autocorrelation_aspl.png", "periodogram_aspl_area.png",
        "lag_aspl_lers.png", "k_map_aspl.png", "sbpl_events.png",
    ]  # fmt: skip
    for p in paths:
        _check_png(p)
    assert P.write_kinetics_report({}, tmp_path / "none") == []
    with pytest.raises(ValueError, match="must be a dict"):
        P.write_kinetics_report([acf], tmp_path)
    with pytest.raises(ValueError, match=r"outputs\['autocorrelation'\] must be a dict"):
        P.write_kinetics_report({"autocorrelation": acf}, tmp_path)


def test_report_module_re_exports_the_plots():
    from hyperspec import report

    assert report.plot_autocorrelation is P.plot_autocorrelation
    assert "write_kinetics_report" in report.__all__


def test_report_from_the_real_kinetics_functions_on_generator_truth(tmp_path):
    """End to end on the generator's band areas: the periods marked are the generator's blinking periods."""
    correlation = pytest.importorskip("hyperspec.kinetics.correlation")
    periods_mod = pytest.importorskip("hyperspec.kinetics.periods")
    onset_mod = pytest.importorskip("hyperspec.kinetics.onset")
    from hyperspec import synthetic

    _, truth = synthetic.kinetic_line(150, 4, n_spectral=32, seed=5)
    res = truth[["aspl_area", "lers_area", "hers_area"]].compute()
    late = res["lers_area"]
    per = periods_mod.periods(late, max_periods=2)
    acf = correlation.autocorrelation(late, max_lag_s=6.0)
    outputs = {
        "traces": res,
        "autocorrelation": {"lers": acf},
        "periods": {"lers": per},
        "cross_correlation": {("aspl", "lers"): correlation.cross_correlation(res["aspl_area"], res["lers_area"], max_lag_s=1.0)},
        "onset": {"aspl": onset_mod.onset(res["aspl_area"], n_onsets=40, n_taus=6)},
    }
    paths = P.write_kinetics_report(outputs, tmp_path, dpi=60)
    assert [p.name for p in paths] == ["kymograph.png", "trace_aspl.png", "autocorrelation_lers.png", "lag_aspl_lers.png"]
    for p in paths:
        _check_png(p)
    (lers_period,) = truth.attrs["blink_periods_s"]["lers"]
    marks = P.period_marks(per)
    assert marks and abs(marks[0][0] - lers_period) < 0.02 and marks[0][2] == 4
    fig = P.plot_autocorrelation(acf, per)
    first = [ln.get_xdata()[0] for ln in fig.axes[0].lines if ln.get_label().startswith("period")]
    assert first == [pytest.approx(marks[0][0])]
