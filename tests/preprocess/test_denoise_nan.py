"""denoise with non-finite pixels: they stay out of the PCA and come back as they were (issue 19)."""

import numpy as np
import pytest

import hyperspec
from hyperspec.preprocess.denoise import denoise, optimal_rank


def _map(seed, shape=(6, 8), m=96):
    ds, _ = hyperspec.synthetic.cspbbr3_map(shape, n_spectral=m, seed=seed)
    return ds.compute()


def _reference(X, ok, k):
    """Rank-k PCA reconstruction of the finite rows by NumPy's SVD."""
    Xo = X[ok]
    mean = Xo.mean(axis=0)
    _, S, Vt = np.linalg.svd(Xo - mean, full_matrices=False)
    return (Xo - mean) @ Vt[:k].T @ Vt[:k] + mean, S


def _spoil(ds, rng, n_bad, value):
    ds = ds.copy(deep=True)
    y = ds["spectra"].values
    ny, nx, m = y.shape
    flat = rng.choice(ny * nx, n_bad, replace=False)
    for f in flat:
        y[f // nx, f % nx, rng.integers(0, m)] = value
    ds["spectra"].values[...] = y
    bad = np.zeros(ny * nx, bool)
    bad[flat] = True
    return ds, bad.reshape(ny, nx)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("lazy", [False, True])
def test_non_finite_pixels_are_skipped(seed, value, lazy):
    rng = np.random.default_rng(seed)
    ds, bad = _spoil(_map(seed), rng, 1 + seed, value)
    src = ds.chunk({"y": 2}) if lazy else ds
    out = denoise(src, 3, backend="numpy")
    y_in = ds["spectra"].values
    y_out = out["spectra"].values
    assert np.isfinite(y_out[~bad]).all()
    np.testing.assert_array_equal(y_out[bad], y_in[bad])  # as they were, NaN/inf included
    np.testing.assert_array_equal(out["denoise_skipped"].values, bad)
    assert out.attrs["denoise_n_skipped"] == bad.sum()
    assert np.isnan(out["pca_scores"].values[bad]).all() and np.isfinite(out["pca_scores"].values[~bad]).all()
    m = y_in.shape[-1]
    X = y_in.reshape(-1, m).astype(np.float64)
    ref, _ = _reference(X, ~bad.reshape(-1), 3)
    rtol = 2e-3 if lazy else 1e-6  # float32 spectra; lazy maps: randomised SVD
    assert np.abs(y_out.reshape(-1, m)[~bad.reshape(-1)] - ref).max() < rtol * np.abs(ref).max()


@pytest.mark.parametrize("lazy", [False, True])
def test_auto_rank_and_noise_use_the_finite_pixels(lazy):
    ds = _map(3, shape=(8, 8))
    clean = denoise(ds, backend="numpy")
    rng = np.random.default_rng(3)
    spoiled, bad = _spoil(ds, rng, 4, np.nan)
    out = denoise(spoiled.chunk({"y": 4}) if lazy else spoiled, backend="numpy")
    # the noise level is that of the finite pixels, within a few %, and the rank follows Gavish–Donoho on them
    assert out.attrs["pca_noise_sigma"] == pytest.approx(clean.attrs["pca_noise_sigma"], rel=0.05)
    X = spoiled["spectra"].values.reshape(64, -1).astype(np.float64)
    _, S = _reference(X, ~bad.reshape(-1), 1)
    assert out.attrs["pca_n_components"] == optimal_rank(S, (60, X.shape[1]), out.attrs["pca_noise_sigma"])


def test_map_without_bad_pixels_is_unchanged_by_the_fix():
    ds = _map(4)
    out = denoise(ds, 3, backend="numpy")
    assert not out["denoise_skipped"].values.any() and out.attrs["denoise_n_skipped"] == 0
    X = ds["spectra"].values.reshape(-1, ds.sizes["spectral"]).astype(np.float64)
    ref, _ = _reference(X, np.ones(X.shape[0], bool), 3)
    np.testing.assert_allclose(out["spectra"].values.reshape(X.shape), ref, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("lazy", [False, True])
def test_too_few_finite_pixels_is_a_clear_error(lazy):
    ds = _map(5, shape=(2, 2))
    ds["spectra"].values[0, :, 5] = np.nan
    with pytest.raises(ValueError, match="three spectra without NaN"):
        denoise(ds.chunk({"y": 1}) if lazy else ds, 2, backend="numpy")
