"""Automatic start (hyperspec.bands.autostart): lines found on generator maps, controlled synthetic maps and polystyrene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hyperspec import synthetic
from hyperspec.bands.autostart import find_lines, robust_noise
from hyperspec.bands.components import get_component
from hyperspec.fit.decompose import decompose
from hyperspec.model import from_array

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
POLYSTYRENE = DATA / "rosettasciio" / "renishaw" / "renishaw_test_streamline.wdf"
# polystyrene's Raman bands in 924-1668 cm-1: the ASTM E1840 ones and the weaker literature bands (1068, 1181, 1197/1202,
# 1328, 1493); a found line farther than 6 cm-1 from all of them is spurious
PS_BANDS = (1001.4, 1031.8, 1068.0, 1155.3, 1181.0, 1200.0, 1328.0, 1450.5, 1493.0, 1583.1, 1602.3)


def _match(found, truth, tol):
    """(recall, precision) of found positions against true ones within ``tol``."""
    found, truth = np.asarray(found), np.asarray(truth)
    hit_t = [bool(found.size) and np.min(np.abs(found - t)) <= tol for t in truth]
    hit_f = [bool(truth.size) and np.min(np.abs(truth - f)) <= tol for f in found]
    return (np.mean(hit_t) if truth.size else 1.0), (np.mean(hit_f) if found.size else 1.0)


def _lines_map(centres, hwhms, heights, *, shape="lorentzian", n_pix=64, background=300.0, seed=0):
    """A (8, n_pix/8) map of lines on a sloped background, Poisson noise; centres/HWHMs cm⁻¹, heights counts."""
    shift = np.linspace(800.0, 1800.0, 1001)
    comp = get_component(shape)
    p = np.array([[c, w, h] for c, w, h in zip(centres, hwhms, heights, strict=True)])
    clean = background + 0.1 * (shift - 800.0) + comp.value(shift, p).sum(axis=0) if p.size else background + 0.1 * (shift - 800.0)
    rng = np.random.default_rng(seed)
    y = rng.poisson(np.broadcast_to(clean, (n_pix, shift.size))).astype(float)
    return from_array(y.reshape(8, n_pix // 8, shift.size), shift, laser_nm=532.0)


def test_robust_noise_matches_the_generating_sigma():
    rng = np.random.default_rng(3)
    x = np.arange(4000.0)
    y = 500.0 * np.exp(-(((x - 2000.0) / 40.0) ** 2)) + 0.01 * x + rng.normal(0.0, 3.0, x.size)
    assert robust_noise(y) == pytest.approx(3.0, rel=0.05)


def test_generator_cnt_lines_found_with_their_widths():
    # the generator's electrode strip carries D/G/2D lines at 1360/1590/2720 cm-1, HWHM 20/12/30 (RAMAN_LINES)
    ds, _ = synthetic.cspbbr3_map((40, 8), n_spectral=600, shift_min_cm=1200.0, shift_max_cm=3000.0, artefacts=False, seed=3)
    found = find_lines(ds.compute())
    truth = [synthetic.RAMAN_LINES[k][:2] for k in ("cnt_d", "cnt_g", "cnt_2d")]
    assert len(found) == 3
    np.testing.assert_allclose(found.position, [c for c, _ in truth], atol=4.0)
    np.testing.assert_allclose(found.hwhm, [w for _, w in truth], rtol=0.15)


def test_generator_phonon_lines_on_the_central_peak():
    # CsPbBr3 phonons 73/127/160/310 cm-1 on the l-ERS continuum and the background: the arPLS baseline takes the continuum
    ds, _ = synthetic.cspbbr3_map((8, 8), n_spectral=400, shift_min_cm=40.0, shift_max_cm=420.0, artefacts=False, seed=3)
    found = find_lines(ds.compute())
    truth = [synthetic.RAMAN_LINES[k][0] for k in ("cspbbr3_73", "cspbbr3_127", "cspbbr3_160", "cspbbr3_310")]
    assert _match(found.position, truth, 5.0) == (1.0, 1.0)


def test_generator_map_without_lines_finds_none():
    # a map too small for the electrode strip has no line in 1200-3000 cm-1: nothing may be found
    ds, _ = synthetic.cspbbr3_map((8, 8), n_spectral=600, shift_min_cm=1200.0, shift_max_cm=3000.0, artefacts=False, seed=3)
    found = find_lines(ds.compute())
    assert len(found) == 0
    assert "no line" in found.summary()


@pytest.mark.parametrize("seed", range(6))
def test_random_lines_with_weak_and_overlapping_ones(seed):
    # several parameter ranges: 2-6 lines, HWHM 3-15 cm-1, heights 5-100 % of the strongest (a weak one at 5 %), one
    # overlapping pair 2.5 HWHM apart; Lorentzian or Gaussian; every line must be found, nothing else
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 7))
    hwhm = float(rng.uniform(3.0, 15.0))
    centres = list(np.sort(rng.choice(slots := np.arange(900.0, 1700.0, 12.0 * hwhm), size=min(n, slots.size), replace=False)))
    n = len(centres)
    heights = list(rng.uniform(0.05, 1.0, n) * 2000.0)
    heights[int(np.argmax(heights))] = 2000.0
    heights[int(rng.integers(0, n))] = 100.0  # 5 % of the strongest
    centres.append(centres[0] + 2.5 * hwhm)  # an overlapping partner at 40 % of its neighbour (often a shoulder)
    heights.append(max(0.4 * heights[0], 100.0))  # never below 5 % of the strongest
    shape = ("lorentzian", "gaussian")[seed % 2]
    ds = _lines_map(centres, [hwhm] * len(centres), heights, shape=shape, seed=seed)
    found = find_lines(ds)
    recall, precision = _match(found.position, centres, max(2.0, 0.5 * hwhm))
    assert (recall, precision) == (1.0, 1.0), (centres, found.position)


def test_n_keeps_the_most_prominent():
    ds = _lines_map([1000.0, 1300.0, 1600.0], [5.0] * 3, [2000.0, 300.0, 900.0])
    found = find_lines(ds, n=2)
    np.testing.assert_allclose(found.position, [1000.0, 1600.0], atol=1.0)


def test_decompose_auto_records_what_it_found_and_recovers_the_lines():
    truth = [1001.4, 1031.8, 1602.3]
    ds = _lines_map(truth, [4.0, 5.0, 6.0], [2000.0, 400.0, 600.0])
    res = decompose(ds, "peaks", positions="auto", backend="numpy")
    table = json.loads(res.attrs["autostart"])
    assert [round(r["position_cm"]) for r in table["lines"]] == [1001, 1032, 1602]
    assert res.attrs["autostart_summary"].startswith("autostart: 3 lines")
    centres = [float(res[f"{name}_center_cm"].mean()) for name in ("line_1001", "line_1032", "line_1602")]
    np.testing.assert_allclose(centres, truth, atol=0.1)
    np.testing.assert_allclose(float(res["line_1602_hwhm_cm"].mean()), 6.0, rtol=0.03)


def test_bad_arguments_are_clear():
    ds = _lines_map([1000.0], [5.0], [1000.0])
    with pytest.raises(ValueError, match="`n` must be a positive integer"):
        find_lines(ds, n=0)
    with pytest.raises(ValueError, match="`percentile` must lie in 0-100"):
        find_lines(ds, percentile=120)


@pytest.mark.skipif(not POLYSTYRENE.is_file(), reason="shared real data not present")
def test_polystyrene_map_every_band_above_5_percent_and_no_spurious_line():
    import hyperspec

    ds = hyperspec.open(POLYSTYRENE)
    # the polystyrene bead covers ~11 % of the map: its lines stand out on the 95th-percentile spectrum (the mean also
    # carries the substrate's bands at ~1302 and ~1440 cm-1)
    found = find_lines(ds, percentile=95)
    corrected, shift = found.corrected, found.shift
    strongest = corrected[np.abs(shift - 1001.4) <= 3].max()
    above = [b for b in PS_BANDS if corrected[np.abs(shift - b) <= 3].max() >= 0.05 * strongest]
    assert {1001.4, 1031.8, 1155.3, 1450.5, 1602.3} <= set(above)
    recall, _ = _match(found.position, above, 6.0)
    _, precision = _match(found.position, PS_BANDS, 6.0)
    assert recall == 1.0, (above, found.position)
    assert precision == 1.0, found.position
    assert abs(found.position[np.argmin(np.abs(found.position - 1001.4))] - 1001.4) <= 1.0


@pytest.mark.parametrize("background", [30.0, 3000.0])
def test_line_free_maps_give_no_line(background):
    # Poisson noise at low and high counts on a sloped background: no line may be found (the prominence and the height
    # above the arPLS baseline must both pass 8 noise rms; measured: 0 of 100 maps at 30, 300 and 3000 counts)
    assert sum(len(find_lines(_lines_map([], [], [], background=background, seed=s))) for s in range(4)) == 0
