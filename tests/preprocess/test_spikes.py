"""Spike removal on the synthetic generator's ground truth: rays removed, SBPL kept, clean spectra untouched."""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec.axes import trapezoid_weights
from hyperspec.model import history_records
from hyperspec.preprocess import remove_spikes
from hyperspec.preprocess.spikes import find_spikes


def _rays(cosmic):
    """(pixel index tuple, channels) of every injected ray (runs of the truth mask)."""
    out = []
    for idx in zip(*np.nonzero(cosmic.any(-1)), strict=True):
        c = np.flatnonzero(cosmic[idx])
        out += [(idx, g) for g in np.split(c, np.flatnonzero(np.diff(c) > 1) + 1)]
    return out


@pytest.fixture(scope="module", params=[11, 12])
def spiky_map(request):
    ds, truth = hyperspec.synthetic.cspbbr3_map((32, 32), n_spectral=1024, seed=request.param, sbpl_probability=0.3, cosmic_probability=0.3)
    ds, truth = ds.compute(), truth.compute()
    return ds, truth, remove_spikes(ds)


def test_rays_removed_sbpl_kept_clean_spectra_unchanged(spiky_map):
    ds, truth, out = spiky_map
    cosmic = truth["cosmic_ray"].values
    defect = truth["defect"].values > 0
    mask = out["spike_mask"].values
    rays = [(idx, g) for idx, g in _rays(cosmic) if not defect[idx]]
    assert len(rays) > 250
    caught = np.mean([mask[idx][g].any() for idx, g in rays])
    assert caught >= 0.99
    # every flagged ray channel is brought back to the neighbours' level: the injected counts are gone
    y, yc = ds["spectra"].values.astype(float), out["spectra"].values.astype(float)
    injected = np.where(cosmic & mask, y, 0).sum() - np.where(cosmic & mask, yc, 0).sum()
    assert injected > 0
    # spectra without rays (and not dead/saturated) are unchanged, bit for bit
    clean = ~cosmic.any(-1) & ~defect
    np.testing.assert_array_equal(yc[clean], y[clean])
    # SBPL: the counts removed from SBPL pixels outside ray channels and their wings, against the SBPL area
    wings = cosmic.copy()
    for k in (-2, -1, 1, 2):
        wings |= np.roll(cosmic, k, -1)
    sb = (truth["n_sbpl"].values > 0) & ~defect
    trap = np.asarray(trapezoid_weights(ds["shift"].values))
    lost = (np.where(wings, 0.0, y - yc)[sb] * trap).sum()
    assert sb.sum() > 200
    assert abs(lost) <= 0.01 * truth["sbpl_area"].values[sb].sum()


def test_dead_and_saturated_are_masked_not_repaired(spiky_map):
    ds, truth, out = spiky_map
    defect = truth["defect"].values
    np.testing.assert_array_equal(out["dead_pixel"].values, defect == 1)
    sat_px = out["saturated_mask"].values.any(-1)
    np.testing.assert_array_equal(sat_px, defect == 2)
    # dead and saturated pixels are flagged and left exactly as they are
    y, yc = ds["spectra"].values, out["spectra"].values
    assert out["saturated_mask"].values.sum() > 0
    np.testing.assert_array_equal(yc[defect > 0], y[defect > 0])
    assert not out["spike_mask"].values[defect > 0].any()
    assert history_records(out.attrs)[-1]["step"] == "remove_spikes"


def test_lazy_map_gives_the_same_result(spiky_map):
    ds, _, out = spiky_map
    lazy = remove_spikes(ds.chunk({"y": 8, "x": 16}))
    assert lazy["spectra"].chunks is not None
    lazy = lazy.compute()
    np.testing.assert_array_equal(lazy["spike_mask"].values, out["spike_mask"].values)
    np.testing.assert_array_equal(lazy["spectra"].values, out["spectra"].values)


def test_kinetic_map_uses_neighbouring_frames():
    # 1024 channels, as the instrument: SBPL lines are then ≥ 2.5 channels HWHM (at 512 they would be as narrow as rays)
    ds, truth = hyperspec.synthetic.kinetic_map(12, (10, 10), n_spectral=1024, seed=4, cosmic_probability=0.2)
    ds, truth = ds.compute(), truth.compute()
    out = remove_spikes(ds)
    cosmic = truth["cosmic_ray"].values
    defect = np.broadcast_to(truth["defect"].values > 0, cosmic.shape[:-1]) if truth["defect"].ndim else None
    rays = [(idx, g) for idx, g in _rays(cosmic) if defect is None or not defect[idx]]
    assert np.mean([out["spike_mask"].values[idx][g].any() for idx, g in rays]) >= 0.99
    clean = ~cosmic.any(-1) if defect is None else ~cosmic.any(-1) & ~defect
    np.testing.assert_array_equal(out["spectra"].values[clean], ds["spectra"].values[clean])


def test_single_spectrum_falls_back_to_a_running_median():
    rng = np.random.default_rng(0)
    x = np.arange(600.0)
    y = 1000 * np.exp(-0.5 * ((x - 300) / 12) ** 2) + 200 + rng.normal(0, 5, x.size)
    y[[100, 450, 451]] += [900, 700, 400]
    mask, ref = find_spikes(y[None, :], ("x",))
    assert set(np.flatnonzero(mask[0])) >= {100, 450, 451}
    assert not mask[0, 250:350].any()  # the band is kept


def test_spike_mask_lives_on_the_spectra_grid(spiky_map):
    ds, _, out = spiky_map
    assert out["spike_mask"].dims == ds["spectra"].dims
    assert out["spike_mask"].dtype == bool
    assert out["dead_pixel"].dims == ("y", "x")
