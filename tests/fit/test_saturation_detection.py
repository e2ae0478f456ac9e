"""Saturation found from the data when no ``saturation_counts`` is given (issue 19).

Clipped spectra have a flat top at the detector's ceiling; ``decompose`` masks those channels and
flags the pixel ``SATURATED``. Bright unclipped spectra (sharp maxima) are never flagged.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

import hyperspec
from hyperspec._quality import flat_top_saturation
from hyperspec.fit.decompose import decompose
from hyperspec.fit.results import SATURATED


def _map(seed, shape=(8, 8), m=256, **kw):
    ds, truth = hyperspec.synthetic.cspbbr3_map(shape, n_spectral=m, seed=seed, **kw)
    ds = ds.compute()
    ds.attrs.pop("saturation_counts", None)  # as a reader leaves it: the detector range is unknown
    return ds, truth


def _rows(ds):
    return ds["spectra"].values.reshape(-1, ds.sizes["spectral"]).astype(np.float64)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("brightness", [1.0, 5.0, 20.0])
def test_generator_clipped_pixels_are_found_and_no_others(seed, brightness):
    ds, truth = _map(seed, saturated_fraction=0.5, brightness=brightness)
    defect = truth["defect"].values.reshape(-1)
    found = flat_top_saturation(np, _rows(ds)).any(axis=1)
    assert (defect == 2).sum() >= 16
    assert found[defect == 2].mean() >= 0.95
    assert not found[defect != 2].any()  # clean and dead pixels untouched


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decompose_flags_clipped_pixels_saturated(seed):
    ds, truth = _map(seed, saturated_fraction=0.75)
    defect = truth["defect"].values
    res = decompose(ds, backend="numpy")
    status = res["status"].values
    assert (status[defect == 2] == SATURATED).mean() >= 0.95  # was 0: fitted as converged
    assert not (status[defect == 0] == SATURATED).any()
    # with the flat top masked, the PL line's shape comes from its flanks: unbiased, honest errors
    # (the clipped top fitted as data: −3.3 meV bias, |z| < 2 for 15–19 %)
    sat = defect == 2
    z = (res["aspl_center_ev"].values[sat] - truth["aspl_center_ev"].values[sat]) / res["aspl_center_ev_stderr"].values[sat]
    assert np.abs(np.median(res["aspl_center_ev"].values[sat] - truth["aspl_center_ev"].values[sat])) < 2e-4
    assert np.mean(np.abs(z) < 2) >= 0.8
    # an explicit full scale still decides alone (nothing reaches 1e9 counts)
    res_hi = decompose(ds, backend="numpy", saturation=1e9)
    assert not (res_hi["status"].values == SATURATED).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("full_scale", [4095.0, 16383.0, 32767.0, 65535.0])
@pytest.mark.parametrize("integer", [False, True])
def test_hand_clipped_map_at_adc_full_scale(seed, full_scale, integer):
    ds, _ = _map(seed, artefacts=False)
    y = _rows(ds)
    gain = np.linspace(0.5, 3.0, y.shape[0])[:, None] * full_scale / y.max(axis=1, keepdims=True)
    y = y * gain  # the peak from half to three times full scale: some rows overdriven
    if integer:
        y = np.round(y)
    clipped = np.minimum(y, full_scale)
    over = y >= full_scale  # a value that rounds to full scale reads as clipped too
    run3 = over.sum(axis=1) >= 3  # at full scale: three clipped channels (a flat top, or several clipped bands)
    assert 5 <= run3.sum() < y.shape[0]
    mask = flat_top_saturation(np, clipped)
    np.testing.assert_array_equal(mask.any(axis=1), run3)  # all clipped rows found, no unclipped row
    np.testing.assert_array_equal(mask[run3], over[run3])  # exactly the clipped channels


def test_real_trivista_spectrum_at_16_bit_full_scale():
    from hyperspec.io import open_any

    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "rosettasciio" / "trivista"
    if not root.is_dir():
        pytest.skip("shared real data not available")
    found = {}
    for name in ("spec_multiple_spectrometers", "spec_1s_1acc_1frame_average", "spec_3s_2acc_1frame_no_average", "map"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = open_any(root / f"{name}.tvf")
        y = _rows(ds)
        found[name] = (int(flat_top_saturation(np, y).any(axis=1).sum()), int((y >= 65535).sum()))
    # MANIFEST: one spectrum saturates at 65535 (166 of its channels sit there); the others peak below
    # 16-bit full scale or are sums of accumulations (130772 counts), each maximum on a single channel
    assert found == {
        "spec_multiple_spectrometers": (1, 166),
        "spec_1s_1acc_1frame_average": (0, 0),
        "spec_3s_2acc_1frame_no_average": (0, 729),  # summed: above 65535 is no ceiling
        "map": (0, 0),
    }


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_bright_sharp_peaks_below_full_scale_are_not_flagged(seed):
    ds, _ = _map(seed, artefacts=False, brightness=20.0)
    y = _rows(ds)
    for peak in (65000.0, 65534.0 - 1e-3, 4094.0, 1e6):  # sharp maxima near (but below) a ceiling, and far above
        scaled = y * (peak / y.max(axis=1, keepdims=True))
        assert not flat_top_saturation(np, scaled).any()
        assert not flat_top_saturation(np, np.round(scaled)).any()


def test_dim_integer_counts_do_not_pass_for_a_flat_top():
    rng = np.random.default_rng(7)
    y = rng.poisson(2.0, (400, 256)).astype(np.float64)  # max repeats often at a few counts
    assert not flat_top_saturation(np, y).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_float_data_clipped_below_an_adc_value_use_the_map_ceiling(seed):
    ds, truth = _map(seed, saturated_fraction=0.5)
    defect = truth["defect"].values.reshape(-1)
    y = _rows(ds) * 0.37 - 512.0  # rescaled and offset after the ADC: the ceiling is no 2**b − 1
    found = flat_top_saturation(np, y).any(axis=1)
    assert found[defect == 2].mean() >= 0.95 and not found[defect != 2].any()
    # non-finite channels are ignored, not fatal
    y[0, :5] = np.nan
    assert flat_top_saturation(np, y).any(axis=1)[1:].tolist() == found[1:].tolist()


def test_masks_only_the_flat_top_and_leaves_the_fit_the_rest():
    ds, truth = _map(0, saturated_fraction=0.5)
    defect = truth["defect"].values.reshape(-1)
    y = _rows(ds)
    mask = flat_top_saturation(np, y)
    assert (y[mask] == 65535.0).all()
    assert mask[defect == 2].sum(axis=1).min() >= 3
    assert (mask[defect == 2].mean(axis=1) < 0.5).all()  # the flanks stay to fit


def test_lightfield_reader_states_the_adc_full_scale():
    from hyperspec.io import open_any

    root = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not (root / "spe_handler").is_dir():
        pytest.skip("shared real data not available")
    raw16 = open_any(root / "spe_handler" / "Test1.spe")  # uint16 frames, <Adc><BitDepth>16
    assert raw16.attrs["saturation_counts"] == 65535.0
    # float32 (processed) and 32-bit (summed) frames can exceed the ADC's range: no ceiling is claimed
    for name in (
        "spe_handler/Testfile_Single_SPE3.spe",
        "ramanchada2/PrincetonInstruments/S0N_50x.spe",
        "spe_handler/Testfile_Single_SPE2.SPE",
    ):
        assert "saturation_counts" not in open_any(root / name).attrs


@pytest.mark.parametrize("lazy", [False, True])
def test_remove_spikes_flags_the_same_saturated_channels(lazy):
    from hyperspec.preprocess.spikes import remove_spikes

    ds, _ = _map(1, artefacts=False)
    y = ds["spectra"].values.astype(np.float64)
    gain = np.linspace(0.5, 3.0, y.shape[0] * y.shape[1]).reshape(y.shape[:2] + (1,))
    clipped = np.minimum(y * gain * 4095.0 / y.max(axis=-1, keepdims=True), 4095.0)  # a 12-bit camera
    ds["spectra"].values[...] = clipped
    expected = flat_top_saturation(np, clipped.reshape(-1, clipped.shape[-1])).reshape(clipped.shape)
    assert expected.any(axis=-1).sum() >= 5
    out = remove_spikes(ds.chunk({"y": 3}) if lazy else ds, backend="numpy")
    np.testing.assert_array_equal(out["saturated_mask"].values, expected)
    # a stated full scale decides alone, as before
    ds.attrs["saturation_counts"] = 65535.0
    assert not remove_spikes(ds, backend="numpy")["saturated_mask"].values.any()
