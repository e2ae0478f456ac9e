"""``hyperspec.kinetics.sbpl_events`` against the generator's ground truth (its SBPL lines and cosmic rays).

A detection matches a true line in the same spectrum when their energies differ by less than 2 true
HWHM. Recall is over the true lines of non-defective spectra, precision over the detections.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hyperspec import DataModelError, synthetic
from hyperspec.kinetics import SBPLEvents, sbpl_events


def _line(n_frames, n_x, **kw):
    """A computed kinetic line on the aS-PL side only (322 channels at the default 0.32 nm spacing: faster)."""
    ds, truth = synthetic.kinetic_line(n_frames, n_x, n_spectral=322, shift_max_cm=-1000.0, **kw)
    return ds.compute(), truth.compute()


def _match(events: pd.DataFrame, truth: xr.Dataset, tol: float = 2.0):
    """Per-detection match to the truth → (recall, precision, hit mask, matched truth index tuple)."""
    c = truth["sbpl_center_ev"].values
    g = truth["sbpl_hwhm_ev"].values
    ok = np.isfinite(c) & (truth["defect"].values == 0)[..., None]
    if len(events) == 0:
        return 0.0 if ok.sum() else 1.0, 1.0, np.zeros(0, bool), None
    ti = np.searchsorted(truth["t"].values, events["t_s"].to_numpy() - 1e-9)
    pix = [np.searchsorted(truth[d].values, events[f"{d}_um"].to_numpy() - 1e-9) for d in ("y", "x") if d in truth.dims]
    cc, gg = c[(ti, *pix)], g[(ti, *pix)]
    d = np.abs(events["energy_ev"].to_numpy()[:, None] - cc) / gg
    d = np.where(np.isfinite(d), d, np.inf)
    hit = d.min(axis=1) < tol
    k = d.argmin(axis=1)
    matched = np.zeros(c.shape, bool)
    idx = (ti[hit], *(p[hit] for p in pix), k[hit])
    matched[idx] = True
    recall = (matched & ok).sum() / max(ok.sum(), 1)
    return recall, float(hit.mean()), hit, idx


@pytest.fixture(scope="module")
def runs():
    """Default scene, four seeds: (ds, truth, result) each (computed once for the module)."""
    out = {}
    for seed in (0, 1, 2, 3):
        ds, truth = _line(60, 24, seed=seed)
        out[seed] = (ds, truth, sbpl_events(ds, backend="numpy"))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_recall_and_precision_at_default_brightness(runs, seed):
    ds, truth, res = runs[seed]
    assert abs(float(np.median(np.diff(ds["wavelength"].values))) - 0.3196) < 0.002  # the default channel spacing, nm
    assert isinstance(res, SBPLEvents)
    recall, precision, hit, _ = _match(res.events, truth)
    n_true = int(np.isfinite(truth["sbpl_center_ev"].values).sum())
    print(f"seed {seed}: {n_true} true lines, {len(res.events)} detections, recall {recall:.3f}, precision {precision:.3f}")
    assert n_true > 30
    assert recall >= 0.95 and precision >= 0.95


def test_energy_width_amplitude_against_truth(runs):
    dE, zE, dF, zF, dA, zA = ([] for _ in range(6))
    for _, truth, res in runs.values():
        _, _, hit, idx = _match(res.events, truth)
        ev = res.events[hit]
        e0 = truth["sbpl_center_ev"].values[idx]
        f0 = 2e3 * truth["sbpl_hwhm_ev"].values[idx]
        a0 = truth["sbpl_height"].values[idx]
        dE.append(ev["energy_ev"] - e0)
        zE.append((ev["energy_ev"] - e0) / ev["energy_ev_stderr"])
        dF.append(ev["fwhm_mev"] - f0)
        zF.append((ev["fwhm_mev"] - f0) / ev["fwhm_mev_stderr"])
        dA.append((ev["amplitude"] - a0) / a0)
        zA.append((ev["amplitude"] - a0) / ev["amplitude_stderr"])
        # area = π·HWHM·height (counts·eV), the Lorentzian's integral
        np.testing.assert_allclose(ev["area"], np.pi * ev["fwhm_mev"] / 2e3 * ev["amplitude"], rtol=1e-9)
    dE, zE, dF, zF, dA, zA = (np.concatenate(v) for v in (dE, zE, dF, zF, dA, zA))
    cover = [float(np.mean(np.abs(z) < 2)) for z in (zE, zF, zA)]
    print(
        f"energy bias {np.median(dE) * 1e3:.3f} meV, spread {np.std(dE) * 1e3:.3f} meV; FWHM bias {np.median(dF):.3f} meV, "
        f"spread {np.std(dF):.3f} meV; amplitude bias {np.median(dA):.3%}, spread {np.std(dA):.3%}; |z|<2: {cover}"
    )
    assert abs(np.median(dE)) < 0.05e-3 and np.std(dE) < 0.5e-3  # eV
    assert abs(np.median(dF)) < 0.4 and np.std(dF) < 1.5  # meV (true FWHM 7–14 meV)
    assert abs(np.median(dA)) < 0.02 and np.std(dA) < 0.08
    assert min(cover) > 0.85


def test_event_ids_and_rate(runs):
    ds, truth, res = runs[1]
    ev = res.events
    for _, grp in ev.groupby("event_id"):
        assert grp["x_um"].nunique() == 1
        frames = np.round(grp["t_s"].to_numpy() / 0.2).astype(int)
        np.testing.assert_array_equal(np.diff(frames), 1)  # consecutive frames, one row each
    # the true events: runs of the same line (same centre) in consecutive frames at one pixel
    c = truth["sbpl_center_ev"].values
    present = np.isfinite(c[..., 0])
    same = present[1:] & present[:-1] & np.isclose(c[1:, :, 0], c[:-1, :, 0])
    n_true_events = int(present.sum() - same.sum())
    n_ids = ev["event_id"].nunique()
    print(f"{n_ids} detected events, {n_true_events} true (single-line spectra runs)")
    assert abs(n_ids - n_true_events) <= 0.1 * n_true_events
    duration = ds.sizes["t"] * 0.2
    assert res.event_rate.dims == ("x",) and res.event_rate.attrs["units"] == "1/s"
    np.testing.assert_allclose(float(res.event_rate.sum()) * duration, n_ids)
    counts = ev.groupby("x_um")["event_id"].nunique()
    np.testing.assert_allclose(res.event_rate.sel(x=counts.index).values * duration, counts.values)


def test_long_events_do_not_hide_in_the_reference():
    """Lines lasting ~5 frames on average (some > 10 of the 20 reference frames): the low percentile keeps them."""
    ds, truth = _line(60, 24, seed=1, sbpl_mean_frames=5.0)
    recall, precision, _, _ = _match(sbpl_events(ds, backend="numpy").events, truth)
    print(f"mean 5 frames per event: recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.95 and precision >= 0.95


def test_no_cosmic_ray_is_an_event():
    n_cosmic = 0
    for seed in (5, 6):
        ds, truth = _line(40, 16, seed=seed, cosmic_probability=0.08)
        res = sbpl_events(ds, backend="numpy")
        recall, precision, hit, _ = _match(res.events, truth)
        false = res.events[~hit]
        ti = np.searchsorted(truth["t"].values, false["t_s"].to_numpy() - 1e-9)
        xi = np.searchsorted(truth["x"].values, false["x_um"].to_numpy() - 1e-9)
        n_cosmic += int(truth["n_cosmic"].sum())
        assert int(truth["n_cosmic"].values[ti, xi].sum()) == 0, "a false detection sits on a cosmic ray"
        assert recall >= 0.9 and precision >= 0.95
    assert n_cosmic > 80
    # and with no SBPL at all: many rays, no event
    ds, truth = _line(30, 16, seed=7, cosmic_probability=0.1, sbpl_probability=0.0)
    res = sbpl_events(ds, backend="numpy")
    assert int(truth["n_cosmic"].sum()) > 30 and len(res.events) == 0
    assert float(res.event_rate.max()) == 0.0


def test_absent_sbpl_gives_no_event():
    ds, _ = _line(40, 16, seed=8, sbpl_probability=0.0)
    res = sbpl_events(ds, backend="numpy")
    assert len(res.events) == 0 and list(res.events.columns)[:3] == ["t_s", "x_um", "energy_ev"]
    assert res.event_rate.shape == (16,) and np.all(res.event_rate.values == 0)


@pytest.mark.parametrize("brightness, noise, min_recall", [(0.5, 5.0, 0.85), (1.0, 40.0, 0.85), (3.0, 5.0, 0.95)])
def test_other_brightness_and_noise_reported(brightness, noise, min_recall):
    """Lower brightness / higher read noise: reported (recall bounds are loose), precision stays high."""
    rec, prec = [], []
    for seed in (10, 11):
        ds, truth = _line(40, 20, seed=seed, brightness=brightness, read_noise_counts=noise)
        r, p, _, _ = _match(sbpl_events(ds, backend="numpy").events, truth)
        rec.append(r)
        prec.append(p)
    print(f"brightness {brightness}, read noise {noise}: recall {np.round(rec, 3)}, precision {np.round(prec, 3)}")
    assert min(rec) >= min_recall and min(prec) >= 0.9


def test_area_map_and_chunked_equal_in_memory():
    ds, truth = synthetic.kinetic_map(
        30, (6, 8), seed=4, sbpl_probability=0.1, chunks={"y": 3, "x": 4}, n_spectral=322, shift_max_cm=-1000.0
    )
    lazy = sbpl_events(ds, backend="numpy")  # Dask, chunked over pixels
    eager = sbpl_events(ds.compute(), backend="numpy")
    assert list(lazy.events.columns[:3]) == ["t_s", "y_um", "x_um"]
    pd.testing.assert_frame_equal(lazy.events, eager.events, rtol=1e-9)
    xr.testing.assert_allclose(lazy.event_rate, eager.event_rate)
    assert lazy.event_rate.dims == ("y", "x")
    recall, precision, _, _ = _match(eager.events, truth.compute())
    assert recall >= 0.9 and precision >= 0.95


def test_results_window_and_explicit_window():
    ds, truth = _line(30, 12, seed=9, sbpl_probability=0.1)
    default = sbpl_events(ds, backend="numpy")
    via_results = sbpl_events(ds, results=xr.Dataset({"aspl_peak_ev": truth["aspl_peak_ev"]}), backend="numpy")
    assert abs(len(default.events) - len(via_results.events)) <= 1
    narrow = sbpl_events(ds, window=(2.30, 2.40), backend="numpy")
    assert len(narrow.events) and narrow.events["energy_ev"].between(2.30, 2.40).all()
    assert len(narrow.events) <= len(default.events)


def test_nan_and_saturated_spectra_are_skipped():
    ds, truth = _line(30, 12, seed=12, sbpl_probability=0.1)
    spectra = ds["spectra"].values.copy()
    spectra[5, 3] = np.nan  # one non-finite spectrum
    spectra[:, 7] = np.nan  # a pixel with no usable frame
    spectra[9, 2, 100] = 70000.0  # a saturated channel
    bad = ds.copy()
    bad["spectra"] = ds["spectra"].copy(data=spectra)
    res = sbpl_events(bad, backend="numpy")
    pairs = set(zip(np.round(res.events["t_s"], 6), res.events["x_um"], strict=True))
    assert (1.0, 1.5) not in pairs and (1.8, 1.0) not in pairs and not (res.events["x_um"] == 3.5).any()
    assert np.isnan(res.event_rate.values[7]) and np.isfinite(np.delete(res.event_rate.values, 7)).all()
    assert len(res.events) > 10


def test_bad_input_errors():
    ds, _ = synthetic.kinetic_line(12, 4, seed=0, n_spectral=512)
    ds = ds.compute()
    with pytest.raises(DataModelError, match="time dim 't'"):
        sbpl_events(ds.isel(t=0), backend="numpy")
    with pytest.raises(DataModelError, match="no coordinate"):
        sbpl_events(ds.drop_vars("t"), backend="numpy")
    with pytest.raises(DataModelError, match="≥ 3"):
        sbpl_events(ds.isel(t=slice(0, 2)), backend="numpy")
    with pytest.raises(DataModelError, match="`energy`"):
        sbpl_events(ds.drop_vars(["energy", "wavelength"]), backend="numpy")
    with pytest.raises(DataModelError, match="widen `window`"):
        sbpl_events(ds, window=(2.36, 2.37), backend="numpy")
    with pytest.raises(ValueError, match="`window`"):
        sbpl_events(ds, window=(2.4, 2.3), backend="numpy")
    with pytest.raises(ValueError, match="`min_snr`"):
        sbpl_events(ds, min_snr=-1, backend="numpy")
    with pytest.raises(ValueError, match="`fwhm_nm`"):
        sbpl_events(ds, fwhm_nm=(3.0, 1.0), backend="numpy")
    with pytest.raises(ValueError, match="`half_frames`"):
        sbpl_events(ds, half_frames=0, backend="numpy")
    with pytest.raises(DataModelError, match="spectra"):
        sbpl_events(ds.drop_vars("spectra"), backend="numpy")


def test_cupy_path_equals_numpy(gpu_xp):
    ds, _ = _line(24, 8, seed=2, sbpl_probability=0.15)
    cpu = sbpl_events(ds, backend="numpy")
    gpu = sbpl_events(ds, backend="cupy")
    assert len(cpu.events) > 5
    pd.testing.assert_frame_equal(gpu.events, cpu.events, rtol=1e-7)
    xr.testing.assert_allclose(gpu.event_rate, cpu.event_rate)
