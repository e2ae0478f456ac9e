"""Spike removal on narrow SBPL lines of kinetic maps (issue 19 item 4).

Kinetic maps from the synthetic generator with SBPL lines of HWHM 6–25 cm⁻¹ lasting 1–5 frames,
channel spacings of 4, 8 and 12 cm⁻¹ at the aS-PL band and cosmic rays of 1–2 channels. Measured:
the SBPL area kept (of the lines that can be told from a ray: lasting ≥ 2 frames in the map, or
wider than 3 channels FWHM), the spectra with neither SBPL nor ray that are changed, and the rays
found. Before the fix (a padded last block of 32 channels, no persistence or tail test) up to 66 %
of the SBPL area was removed at 12 cm⁻¹ and up to 90 % of clean spectra were changed.
"""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec import axes
from hyperspec.axes import trapezoid_weights
from hyperspec.preprocess import remove_spikes

_LAM = 523.0  # nm, the aS-PL band
_SMIN, _SMAX = -4400.0, -1600.0  # cm-1: the aS-PL window only (small maps, fast)


def _n_channels(spacing_cm: float) -> int:
    lo, hi = axes.shift2nm(_SMIN, 632.8), axes.shift2nm(_SMAX, 632.8)
    return int(round((hi - lo) / (spacing_cm * _LAM**2 / 1e7))) + 1


def _map(spacing_cm, hwhm_cm, frames, seed, cosmic_counts=(600.0, 5000.0)):
    nm = tuple(h * _LAM**2 / 1e7 for h in hwhm_cm)
    ds, truth = hyperspec.synthetic.kinetic_map(
        10, (8, 8), n_spectral=_n_channels(spacing_cm), seed=seed, shift_min_cm=_SMIN, shift_max_cm=_SMAX,
        sbpl_probability=0.25, sbpl_hwhm_nm=nm, sbpl_frames=frames, cosmic_probability=0.1,
        cosmic_width_channels=(1, 2), cosmic_counts=cosmic_counts, dead_fraction=0.0, saturated_fraction=0.0,
    )  # fmt: skip
    return ds.compute(), truth.compute()


def _measure(ds, truth, out):
    """SBPL area kept (%, distinguishable lines), clean spectra touched (%), rays found (%) off and on SBPL."""
    cosmic = truth["cosmic_ray"].values
    mask = out["spike_mask"].values
    y, yc = ds["spectra"].values.astype(float), out["spectra"].values.astype(float)
    wings = cosmic.copy()
    for k in (-2, -1, 1, 2):
        wings |= np.roll(cosmic, k, -1)
    sb = truth["n_sbpl"].values > 0
    centre = truth["sbpl_center_ev"].values  # (t, y, x, slot)
    energy = axes.nm2ev(ds["wavelength"].values) if "wavelength" in ds.coords else ds["energy"].values
    step_ev = float(np.median(np.abs(np.diff(energy))))
    wide = truth["sbpl_hwhm_ev"].values / step_ev >= 1.5
    hwhm = truth["sbpl_hwhm_ev"].values
    # the same line in the previous or next frame: it follows its host band, so it may move by a fraction of a
    # channel (about half of the lines lasting several frames do; counting only unmoved ones left those out)
    persist = np.zeros(centre.shape, dtype=bool)
    for a, b in ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))):
        moved = np.abs(centre[a][..., :, None] - centre[b][..., None, :])
        rewidth = np.abs(hwhm[a][..., :, None] - hwhm[b][..., None, :]) / hwhm[a][..., :, None]
        persist[a] |= np.any((moved < step_ev) & (rewidth < 0.01), axis=-1)
    # every line of the spectrum can be told from a ray (a one-frame line of FWHM < 3 channels cannot),
    # and no ray landed on it (a ray's removal takes the line under it)
    told = sb & np.all(np.isnan(centre) | wide | persist, axis=-1) & ~cosmic.any(-1)
    trap = np.asarray(trapezoid_weights(ds["shift"].values))
    lost = (np.where(wings, 0.0, y - yc)[told] * trap).sum()
    kept = 100.0 * (1.0 - lost / truth["sbpl_area"].values[told].sum())
    clean = ~cosmic.any(-1) & ~sb
    touched = 100.0 * np.mean(np.any(yc[clean] != y[clean], axis=-1))
    off, on = [], []
    for idx in zip(*np.nonzero(cosmic.any(-1)), strict=True):
        c = np.flatnonzero(cosmic[idx])
        for g in np.split(c, np.flatnonzero(np.diff(c) > 1) + 1):
            (on if sb[idx] else off).append(bool(mask[idx][g].any()))
    return kept, touched, 100.0 * np.mean(off), (100.0 * np.mean(on) if on else 100.0), int(told.sum())


# (channel spacing cm-1, SBPL HWHM range cm-1, durations in frames)
GRID = [
    (spacing, hwhm, frames)
    for spacing in (4, 8, 12)
    for hwhm, frames in (((10, 18), (2, 4)), ((6, 10), (2, 5)), ((6, 25), (1, 5)), ((max(1.5 * spacing, 6), 25), (1, 1)))
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("spacing", "hwhm", "frames"), GRID)
def test_narrow_sbpl_kept_rays_found_clean_untouched(spacing, hwhm, frames, seed):
    ds, truth = _map(spacing, hwhm, frames, seed)
    kept, touched, found, found_on_sbpl, n_told = _measure(ds, truth, remove_spikes(ds, backend="numpy"))
    assert n_told > 25
    assert kept >= 99.0, f"SBPL area kept {kept:.2f} %"
    assert touched <= 1.0, f"clean spectra touched {touched:.2f} %"
    assert found == 100.0, f"rays found {found:.2f} %"
    assert found_on_sbpl >= 80.0  # a ray weaker than a persistent line it lands on stays with the line


def _default_rays_map(spacing_cm, hwhm_cm, frames, seed):
    """A kinetic map with the generator's default rays (300–5000 counts, 1–3 channels)."""
    nm = tuple(h * _LAM**2 / 1e7 for h in hwhm_cm)
    ds, truth = hyperspec.synthetic.kinetic_map(
        10, (8, 8), n_spectral=_n_channels(spacing_cm), seed=seed, shift_min_cm=_SMIN, shift_max_cm=_SMAX,
        sbpl_probability=0.25, sbpl_hwhm_nm=nm, sbpl_frames=frames, cosmic_probability=0.1, dead_fraction=0.0,
        saturated_fraction=0.0,
    )  # fmt: skip
    return ds.compute(), truth.compute()


def test_rays_of_the_default_amplitudes_are_found():
    # the generator's default rays (300–5000 counts, 1–3 channels) on the narrow-SBPL settings
    for seed in (0, 1, 2):
        ds, truth = _default_rays_map(8, (10, 18), (2, 4), seed)
        kept, touched, found, _, _ = _measure(ds, truth, remove_spikes(ds, backend="numpy"))
        assert kept >= 99.0 and touched <= 1.0
        assert found == 100.0  # was 98.6 % for seed 0 before the persistence test looked at the candidate's own channel


# the maps of the 36-map grid (default rays, seeds 0-5) where rays above 6 sigma were missed before
_MISSED_BEFORE = [
    (4, (10, 18), (2, 4), 4),  # a ray at the pixel and channels of the previous frame's ray (persistent)
    (12, (10, 18), (2, 4), 3),  # two rays in the frame before an SBPL line at their channel (persistent)
    (8, (10, 18), (2, 4), 5),  # neighbours of different band shape: the median left 2-3 sigma "tails" beside a ray
    (12, (10, 18), (2, 4), 2),  # a ray at 6.98 sigma beside such a structure
    (12, (6, 25), (1, 5), 0),  # a ray at 6.5 sigma
]


@pytest.mark.parametrize(("spacing", "hwhm", "frames", "seed"), _MISSED_BEFORE)
def test_rays_missed_before_are_found(spacing, hwhm, frames, seed):
    """Before: 9 misses in 1954 rays off SBPL on the 36 maps, 7 of them on these 5 maps; now none there."""
    ds, truth = _default_rays_map(spacing, hwhm, frames, seed)
    kept, touched, found, _, n_told = _measure(ds, truth, remove_spikes(ds, backend="numpy"))
    assert n_told > 25
    assert found == 100.0, f"rays found {found:.2f} %"
    assert kept >= 99.5, f"SBPL area kept {kept:.2f} %"
    assert touched == 0.0


def test_spectrum_end_is_not_a_spike():
    # 365 channels = 11 blocks of 32 + 13: the last block was padded with copies and its noise was zero
    ds, _ = hyperspec.synthetic.kinetic_map(
        6, (6, 6), n_spectral=365, seed=3, shift_min_cm=_SMIN, shift_max_cm=_SMAX, sbpl_probability=0.0, cosmic_probability=0.0,
        dead_fraction=0.0, saturated_fraction=0.0,
    )  # fmt: skip
    out = remove_spikes(ds.compute(), backend="numpy")
    assert int(out["spike_mask"].values.sum()) == 0


def test_lazy_kinetic_map_gives_the_same_result():
    ds, _ = _map(8, (10, 18), (2, 4), 5)
    eager = remove_spikes(ds, backend="numpy")
    lazy = remove_spikes(ds.chunk({"t": 3, "y": 4}), backend="numpy").compute()
    np.testing.assert_array_equal(lazy["spike_mask"].values, eager["spike_mask"].values)
    np.testing.assert_array_equal(lazy["spectra"].values, eager["spectra"].values)


def test_generator_knobs_durations_and_ray_widths():
    ds, truth = _map(8, (10, 18), (3, 3), 0)
    sb = truth["n_sbpl"].values > 0  # (t, y, x)
    runs = []
    for iy, ix in zip(*np.nonzero(sb.any(0)), strict=True):
        col = np.r_[False, sb[:, iy, ix], False].astype(int)
        d = np.diff(col)
        runs += list(np.flatnonzero(d == -1) - np.flatnonzero(d == 1))
    starts_inside = [r for r in runs]
    assert max(starts_inside) <= 6 and 3 in starts_inside  # 3-frame events (overlaps merge, the map's ends cut)
    widths = truth["cosmic_ray"].values.sum(-1)
    assert widths.max() <= 2 * 2 and set(np.unique(truth["cosmic_ray"].values.sum(-1))) >= {1, 2}


def _flat_kinetic(n_t=5, n=6, m=128, level=800.0, seed=11):
    rng = np.random.default_rng(seed)
    y = rng.poisson(level, (n_t, n, n, m)).astype(np.float64)
    ds = hyperspec.from_array(y, np.linspace(-4400.0, -1600.0, m), laser_nm=632.8, dims=("t", "y", "x", "spectral"))
    return ds, y


def test_two_rays_in_consecutive_frames_one_channel_apart_are_both_found():
    """Before: a ray in the next frame one channel over made this one 'persistent' (kept as a line)."""
    ds, y = _flat_kinetic()
    y[0, 2, 3, 60] += 1500.0  # frame 0, channel 60
    y[1, 2, 3, 58:60] += (1800.0, 900.0)  # frame 1, channels 58-59: the ray next door in time and channel
    mask = remove_spikes(ds.copy(data={"spectra": ds["spectra"].copy(data=y)}), backend="numpy")["spike_mask"].values
    assert mask[0, 2, 3, 60] and mask[1, 2, 3, 58]
    assert mask.sum() <= 8  # the rays and their wings only


def test_a_ray_on_a_pixel_brighter_than_its_neighbours_is_found():
    """Before: the unscaled-neighbour narrow test took the pixel's brightness step on a band's flank for line tails
    (missed in 4 of these 6 cases)."""
    c = np.arange(128)
    level = 300 + 1400 * np.exp(-(((c - 64) / 14.0) ** 2))  # a band; the ray sits on its flank
    for factor in (1.2, 1.3):
        for seed in range(3):
            rng = np.random.default_rng(seed)
            y = rng.poisson(level, (5, 6, 6, 128)).astype(float)
            y[2, 3, 1] = rng.poisson(factor * level)  # this pixel 20-30 % brighter than its neighbours
            y[2, 3, 1, 56:58] += (780.0, 390.0)
            ds = hyperspec.from_array(y, np.linspace(-4400.0, -1600.0, 128), laser_nm=632.8, dims=("t", "y", "x", "spectral"))
            mask = remove_spikes(ds, backend="numpy")["spike_mask"].values
            assert mask[2, 3, 1, 56], (factor, seed)
            assert mask.sum() <= 4


def _lorentzian(c, centre, hwhm):
    return 1.0 / (1.0 + ((c - centre) / hwhm) ** 2)


def _spikes(y):
    ds = hyperspec.from_array(y, np.linspace(-4400.0, -1600.0, y.shape[-1]), laser_nm=632.8, dims=("t", "y", "x", "spectral"))
    return remove_spikes(ds, backend="numpy")["spike_mask"].values


def test_a_ray_in_the_frame_before_a_line_at_its_channel_is_found():
    """Before: the next frame's line (HWHM 1.3 channels) at the ray's channel made the ray 'persistent'."""
    c = np.arange(128)
    for seed in range(3):
        ds, y = _flat_kinetic(seed=seed)
        line = 1200.0 * _lorentzian(c, 60.4, 1.3)
        y[2:4, 2, 3] += line  # a line in frames 2 and 3
        y[1, 2, 3, 60] += 900.0  # a one-channel ray in frame 1, at the line's channel
        mask = _spikes(y)
        assert mask[1, 2, 3, 60], seed
        assert not mask[2:4, 2, 3].any(), seed  # the line is kept
        assert mask.sum() <= 3


def test_rays_at_the_same_pixel_and_channel_in_consecutive_frames_are_found():
    """Before: the second ray (one channel, a channel beside the first one's peak) was taken for the first persisting.

    Its centroid is 0.96 channel from the first's; a second ray whose centroid is within about 0.7 channel
    of the first's, and as wide, looks like a narrow line that moves and is kept (README).
    """
    ds, y = _flat_kinetic()
    y[1, 2, 3, 58:61] += (2000.0, 4200.0, 1700.0)
    y[2, 2, 3, 58] += 1800.0
    mask = _spikes(y)
    assert mask[1, 2, 3, 59] and mask[2, 2, 3, 58]
    assert mask.sum() <= 8


def test_a_narrow_line_that_moves_between_frames_is_kept():
    """The shape test must not take a persistent narrow line (HWHM 0.6 channel) moving 0.4 channel a frame for rays."""
    c = np.arange(128)
    for seed in range(3):
        ds, y = _flat_kinetic(seed=seed)
        for k, t in enumerate((1, 2, 3)):
            y[t, 2, 3] += 2500.0 * _lorentzian(c, 60.0 + 0.4 * k, 0.6)
        mask = _spikes(y)
        assert not mask[1:4, 2, 3].any(), seed
        assert mask.sum() == 0
