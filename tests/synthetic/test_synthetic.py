"""The synthetic generator's ground truth, checked against the data it produces."""

from __future__ import annotations

import tracemalloc

import dask
import numpy as np
import pytest

import hyperspec
from hyperspec import axes, synthetic
from hyperspec.bands import shapes


def test_reproducible_and_seeded():
    a, _ = synthetic.cspbbr3_map((8, 8), n_spectral=128, seed=5)
    b, _ = synthetic.cspbbr3_map((8, 8), n_spectral=128, seed=5)
    c, _ = synthetic.cspbbr3_map((8, 8), n_spectral=128, seed=6)
    np.testing.assert_array_equal(a["spectra"].values, b["spectra"].values)
    assert not np.array_equal(a["spectra"].values, c["spectra"].values)


def test_noiseless_data_does_not_depend_on_chunking():
    kw = dict(n_spectral=96, noise=False, artefacts=False, seed=2)
    whole, t1 = synthetic.cspbbr3_map((12, 10), **kw)
    parts, t2 = synthetic.cspbbr3_map((12, 10), chunks={"y": 5, "x": 4}, **kw)
    assert parts["spectra"].chunks[:2] == ((5, 5, 2), (4, 4, 2))
    np.testing.assert_array_equal(whole["spectra"].values, parts["spectra"].values)
    np.testing.assert_array_equal(t1["aspl_area"].values, t2["aspl_area"].values)


def test_axis_and_metadata(small_map):
    ds, truth = small_map
    hyperspec.validate_map(ds)
    assert ds.attrs["laser_nm"] == 632.8
    assert ds["shift"].values[0] == pytest.approx(-4500.0) and ds["shift"].values[-1] == pytest.approx(3600.0)
    assert np.allclose(np.diff(ds["wavelength"].values), np.diff(ds["wavelength"].values)[0])  # linear in λ like a grating
    np.testing.assert_allclose(ds["x"].values[:3], [0.0, 0.5, 1.0])  # 500 nm pixels
    assert truth["region"].dims == ("y", "x") and truth["sbpl_center_ev"].dims == ("y", "x", "sbpl")


@pytest.mark.parametrize("kind", ["map", "kinetic-line", "power"])
def test_noiseless_spectrum_is_sum_of_components(kind):
    size = {"map": (6, 7), "kinetic-line": (5, 6), "power": (4, 3)}[kind]
    ds, truth = synthetic.simulate(kind, size, n_spectral=200, noise=False, artefacts=False, seed=11, sbpl_probability=0.3)
    ds, truth = ds.compute(), truth.compute()
    comps = synthetic.components(truth)
    total = sum(comps[c] for c in synthetic.COMPONENTS)
    expected = comps["notch_transmission"] * total + comps.attrs["offset_counts"]
    expected = expected.clip(0, 65535)  # the 16-bit detector saturates at high pump power, as a real one does
    np.testing.assert_allclose(ds["spectra"].values, expected.transpose(*ds["spectra"].dims).values, rtol=2e-6)
    # the truth's band areas are the trapezoid integrals of those same components over Raman shift
    shift = ds["shift"].values
    for band in ("aspl", "lers", "hers", "sbpl"):
        np.testing.assert_allclose(truth[f"{band}_area"].values, np.trapezoid(comps[band].values, shift, axis=-1), rtol=1e-10)
    assert int(truth["n_sbpl"].sum()) > 0


def test_aspl_band_position_and_blue_shift_in_glass(small_map):
    ds, truth = small_map
    region = truth["region"].values
    peak = truth["aspl_peak_ev"].values
    crystal, glass = np.median(peak[region == 0]), np.median(peak[region == 2])
    # band gap emission near 2.37 eV ≈ 523 nm ≈ −3313 cm⁻¹; the peak sits slightly above x₀ for β > 0
    assert 2.37 < crystal < 2.38
    assert axes.convert_axis(crystal, "eV", "cm-1", laser_nm=632.8) == pytest.approx(-3313, abs=80)
    assert glass - crystal == pytest.approx(0.033, abs=0.005)  # ≈516 nm in glass
    # the data itself: energy of the maximum in the aS-PL window (noiseless spectra), per region
    window = (ds["shift"].values > -4400) & (ds["shift"].values < -1500)
    spectra = ds["spectra"].values[..., window] - (truth["background_c0"].values[..., None] + 100.0)
    e_max = ds["energy"].values[window][np.argmax(spectra, axis=-1)]
    step = np.abs(np.diff(ds["energy"].values[window])).max()
    no_sbpl = truth["n_sbpl"].values == 0
    assert np.all(np.abs(e_max - peak)[no_sbpl] < 2.5 * step)
    assert np.median(e_max[region == 2]) > np.median(e_max[region == 0]) + 0.02


def test_regions_and_interface_width(small_map):
    _, truth = small_map
    d = truth["distance_um"].values
    region = truth["region"].values
    assert set(np.unique(region)) == {0, 1, 2}
    assert np.all(np.abs(d[region == 1]) <= 1.0)
    assert np.all(d[region == 0] < -1.0) and np.all(d[region == 2] > 1.0)
    # ≈2 µm wide at 500 nm pixels: about 4 interface pixels in each row
    per_row = (region == 1).sum(axis=1)
    assert 3 <= per_row.mean() <= 5


def test_hers_absent_in_crystal_strong_in_glass(small_map):
    ds, truth = small_map
    region = truth["region"].values
    assert np.all(truth["hers_area"].values[region == 0] == 0)
    assert np.all(truth["hers_area"].values[region == 2] > 1e5)
    # in the data: Stokes side far from the Raman lines is flat in crystal, high in glass
    sel = (ds["shift"].values > 2000) & (ds["shift"].values < 2500)
    level = ds["spectra"].values[..., sel].mean(axis=-1)
    assert np.median(level[region == 2]) > np.median(level[region == 0]) + 300


def test_local_temperature_varies_and_obeys_detailed_balance(small_map):
    ds, truth = small_map
    temp = truth["lers_temperature_k"].values
    assert temp.min() >= 295 - 1e-9 and temp.max() > 330 and temp.std() > 5
    # anti-Stokes / Stokes ratio of the central peak in the data equals exp(−hcν/kT) of the truth temperature
    comps = synthetic.components(truth)
    shift = ds["shift"].values
    j = int(np.argmin(np.abs(shift - 150.0)))
    nu = shift[j]
    anti = shapes.lers(np.array(-nu), truth["lers_width_cm"].values, temp, truth["lers_height"].values)
    np.testing.assert_allclose(anti / comps["lers"].values[..., j], np.exp(-1.438776877 * nu / temp), rtol=1e-10)


def _band_trace(ds, lo, hi, pixels=None):
    sel = (ds["shift"].values > lo) & (ds["shift"].values < hi)
    per_pixel = ds["spectra"].values[..., sel].sum(axis=-1)  # (t, x)
    trace = per_pixel[:, pixels].mean(axis=1) if pixels is not None else per_pixel.mean(axis=1)
    t = ds["t"].values
    return trace - np.polyval(np.polyfit(t, trace, 4), t)  # remove onset growth / decay trends


def _fft_peaks(trace, dt, n=2, fmin=0.2):
    spec = np.abs(np.fft.rfft(trace * np.hanning(trace.size)))
    freq = np.fft.rfftfreq(trace.size, dt)
    spec[freq < fmin] = 0
    local = np.flatnonzero((spec[1:-1] > spec[:-2]) & (spec[1:-1] > spec[2:])) + 1
    best = local[np.argsort(spec[local])[::-1][:n]]
    return sorted(1.0 / freq[best])


def test_blinking_periods_recovered_by_plain_fft():
    ds, truth = synthetic.kinetic_line(300, 16, n_spectral=256, seed=1, artefacts=False)
    ds, truth = ds.compute(), truth.compute()
    assert truth.attrs["blink_periods_s"] == {"aspl": [1.9, 1.5], "lers": [1.5], "hers": [3.0]}
    dt = float(ds["t"].values[1] - ds["t"].values[0])
    assert dt == pytest.approx(0.2)
    crystal = truth["region"].values[0] == 0
    glass = truth["region"].values[0] == 2
    assert crystal.sum() >= 3 and glass.sum() >= 3
    aspl = _fft_peaks(_band_trace(ds, -3800, -3000, crystal), dt, n=2)
    assert aspl == pytest.approx([1.5, 1.9], abs=0.08)
    lers = _fft_peaks(_band_trace(ds, 20, 60, crystal), dt, n=1)
    assert lers == pytest.approx([1.5], abs=0.08)
    hers = _fft_peaks(_band_trace(ds, 1500, 2200, glass), dt, n=1, fmin=0.15)
    assert hers == pytest.approx([3.0], abs=0.2)


def test_onset_growth_and_hers_decay():
    kw = dict(n_spectral=64, seed=4, artefacts=False, noise=False)
    _, truth = synthetic.kinetic_line(150, 3, **kw)
    _, steady = synthetic.kinetic_line(150, 3, aspl_growth=0.0, hers_decay_tau_s=1e12, **kw)
    truth, steady = truth.compute(), steady.compute()
    t = truth["t"].values[:, None]
    growth = truth["aspl_height"].values / steady["aspl_height"].values
    expected = np.where(t > 7.0, 2.0 - np.exp(-(t - 7.0) / 4.0), 1.0)  # grows after the 7 s onset toward ×2
    np.testing.assert_allclose(growth, np.broadcast_to(expected, growth.shape), rtol=1e-12)
    glass_always = np.all(steady["hers_height"].values > 0, axis=0)  # pixels that stay in glass despite the drift
    assert glass_always.any()
    decay = truth["hers_height"].values[:, glass_always] / steady["hers_height"].values[:, glass_always]
    np.testing.assert_allclose(decay, np.broadcast_to(np.exp(-t / 12.0), decay.shape), rtol=1e-9)


def test_stage_drift_moves_the_boundary():
    ds, truth = synthetic.kinetic_line(100, 40, n_spectral=160, seed=7, noise=False, artefacts=False)
    truth = truth.compute()
    drift = truth["drift_x_um"].values
    assert drift[-1] == pytest.approx(0.05 * truth["t"].values[-1], abs=0.3)
    # the glass edge (glass fraction 0.5) on the grid moves by the drift, to a fraction of a pixel
    frac = truth["glass_fraction"].values
    x = truth["x"].values
    edge = np.array([np.interp(0.5, row, x) for row in frac])  # per frame (not per pixel)
    np.testing.assert_allclose(edge - edge[0], drift - drift[0], atol=0.05)


def test_power_exponents_per_region():
    powers = (0.25, 0.5, 1.0, 2.0, 4.0)
    ds, truth = synthetic.power_series(powers, (6, 10), n_spectral=256, seed=3, noise=False, artefacts=False)
    truth = truth.compute()
    comps = synthetic.components(truth)
    area = np.trapezoid(comps["aspl"].values, truth["shift"].values, axis=-1)  # (power, y, x)
    slope = np.polyfit(np.log(powers), np.log(area.reshape(len(powers), -1)), 1)[0].reshape(6, 10)
    k = truth["aspl_exponent"].values[0]
    np.testing.assert_allclose(slope, k, atol=1e-9)
    region = truth["region"].values[0]
    assert np.all(k[region == 0] == 1.0) and np.all(k[region == 2] == 2.0)


def test_artefacts_cosmic_rays_dead_and_saturated():
    ds, truth = synthetic.cspbbr3_map((32, 32), n_spectral=256, seed=8, cosmic_probability=0.02)
    clean, _ = synthetic.cspbbr3_map((32, 32), n_spectral=256, seed=8, noise=False, artefacts=False)
    ds, truth, clean = ds.compute(), truth.compute(), clean.compute()
    data, ref = ds["spectra"].values, clean["spectra"].values
    cosmic = truth["cosmic_ray"].values
    defect = truth["defect"].values
    ok = defect == 0
    hit = cosmic & ok[..., None]
    assert 5 <= int(truth["n_cosmic"].values.sum()) <= 60
    assert np.all(data[hit] - ref[hit] > 100)  # rays stand far above the noise (read 5, shot ≲ 45 counts)
    assert np.all(cosmic.sum(axis=-1)[truth["n_cosmic"].values == 1] <= 3)  # 1–3 camera pixels
    dead = defect == 1
    sat = defect == 2
    assert dead.sum() == 1 and sat.sum() == 1
    dead_spec = data[dead & ~cosmic.any(-1)]
    if dead_spec.size:
        assert abs(dead_spec.mean() - 100.0) < 2 and 3 < dead_spec.std() < 7
    assert (data[sat] == 65535).sum() > 10
    assert data.max() <= 65535 and data.min() >= 0


def test_emccd_excess_noise_factor():
    from hyperspec.synthetic._generator import Generator
    from hyperspec.synthetic._scene import Scene

    gen = Generator("map", {"y": 8, "x": 8}, n_spectral=32, scene=Scene(emccd_gain=200.0, read_noise_counts=0.0))
    signal = np.full((200, 2000), 5000.0)
    counts = gen._add_noise(signal, np.random.default_rng(0))
    assert counts.mean() == pytest.approx(5000, rel=0.01)
    # EM multiplication doubles the shot-noise variance: var = 2·G·mean
    assert counts.var() / (200.0 * 5000) == pytest.approx(2.0, rel=0.05)
    plain = Generator("map", {"y": 8, "x": 8}, n_spectral=32, scene=Scene(read_noise_counts=0.0))._add_noise(
        signal, np.random.default_rng(0)
    )
    assert plain.var() / 5000 == pytest.approx(1.0, rel=0.05)


def test_sbpl_peaks_sit_on_the_espl_band(small_map):
    ds, truth = synthetic.cspbbr3_map((10, 10), n_spectral=1024, noise=False, artefacts=False, seed=4, sbpl_probability=0.5)
    truth = truth.compute()
    comps = synthetic.components(truth)
    n = truth["n_sbpl"].values
    assert n.max() <= 2 and (n > 0).sum() > 20
    centers = truth["sbpl_center_ev"].values
    present = np.isfinite(centers)
    assert np.array_equal(present.sum(axis=-1), n)
    e0 = truth["aspl_center_ev"].values[..., None]
    g = truth["aspl_hwhm_ev"].values[..., None]
    rel = ((centers - e0) / g)[present]
    assert rel.min() >= -1.5 and rel.max() <= 2.5
    widths_nm = (truth["sbpl_hwhm_ev"].values * axes.HC_EV_NM / centers**2)[present]
    assert widths_nm.min() >= 0.8 - 1e-9 and widths_nm.max() <= 1.5 + 1e-9  # ≈1 nm: wider than a camera pixel
    assert np.all(comps["sbpl"].values.max(axis=-1)[n > 0] > 0.25 * truth["aspl_height"].values[n > 0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown synthetic kind 'kinetic'.*Did you mean 'kinetic-map'"):
        synthetic.simulate("kinetic", (4, 4))
    with pytest.raises(ValueError, match="does not fit kind 'kinetic-map'.*FRAMESxNYxNX"):
        synthetic.simulate("kinetic-map", (4, 4))
    with pytest.raises(TypeError, match="'brigthness'.*Did you mean brightness"):
        synthetic.cspbbr3_map((4, 4), brigthness=2)
    with pytest.raises(ValueError, match="n_spectral"):
        synthetic.cspbbr3_map((4, 4), n_spectral=3)
    with pytest.raises(ValueError, match="powers_mw"):
        synthetic.power_series((1.0, -2.0))


def _peak_write_mib(path, shape, n_spectral, chunks):
    tracemalloc.start()
    with dask.config.set(scheduler="threads", num_workers=2):
        synthetic.write("map", path, shape, n_spectral=n_spectral, chunks=chunks, progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def test_write_streams_chunk_by_chunk_with_bounded_memory(tmp_path):
    chunks = {"y": 32, "x": 32}
    # 4 blocks vs 32 blocks (8× more pixels, 16 MiB of spectra): two threads hold two or three blocks
    # (the scheduler may start a third while a write finishes), never a number that grows with the map
    small = _peak_write_mib(tmp_path / "s.zarr", (64, 64), 128, chunks)
    big = _peak_write_mib(tmp_path / "b.zarr", (128, 256), 128, chunks)
    assert big < 1.8 * small + 2, f"peak memory grew with map size: {small:.1f} MiB → {big:.1f} MiB"
    # both peaks sit on ~39 MiB of per-call overhead, so the ratio alone would miss a leak of the smaller map's
    # 16 MiB (the 256×256 map it replaces had 64): the growth itself stays under a quarter of the big spectra
    # (measured: +0.4 MiB after a warm-up; a write holding every block would add 16 MiB and its truth)
    spectra_mib = 128 * 256 * 128 * 4 / 2**20
    assert big - small < 2 + 0.25 * spectra_mib, f"peak memory grew with map size: {small:.1f} MiB → {big:.1f} MiB"
    back = hyperspec.open(tmp_path / "b.zarr")
    assert back["spectra"].shape == (128, 256, 128) and back["spectra"].chunks[0][0] == 32
    truth = hyperspec.open(tmp_path / "b.zarr", group="truth")
    assert truth["cosmic_ray"].shape == (128, 256, 128)
    ref, ref_truth = synthetic.cspbbr3_map((128, 256), n_spectral=128, chunks=chunks)  # the lazy API gives the same
    sub = dict(y=slice(40, 60), x=slice(90, 100))
    np.testing.assert_array_equal(back["spectra"][sub].values, ref["spectra"][sub].values)
    np.testing.assert_array_equal(truth["aspl_area"][sub].values, ref_truth["aspl_area"][sub].values)
    np.testing.assert_array_equal(truth["region"][sub].values, ref_truth["region"][sub].values)
    np.testing.assert_array_equal(truth["sbpl_center_ev"][sub].values, ref_truth["sbpl_center_ev"][sub].values)


def test_written_store_equals_lazy_api_including_coords(tmp_path):
    path = synthetic.write("kinetic-line", tmp_path / "k.zarr", (12, 6), n_spectral=64, seed=2, progress=False)
    ds, truth = synthetic.kinetic_line(12, 6, n_spectral=64, seed=2)
    back, back_truth = hyperspec.open(path), hyperspec.open(path, group="truth")
    for name in ("shift", "wavelength", "energy", "t", "x"):
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    np.testing.assert_array_equal(back["spectra"].values, ds["spectra"].values)
    for name in ("notch_transmission", "drift_x_um", "drift_y_um", "lers_temperature_k", "cosmic_ray", "defect"):
        np.testing.assert_array_equal(back_truth[name].values, truth[name].values)
    assert back_truth.attrs["blink_periods_s"]["aspl"] == [1.9, 1.5]
