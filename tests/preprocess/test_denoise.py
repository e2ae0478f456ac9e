"""PCA denoising against the generator's noiseless truth; in memory and out of core agree."""

from __future__ import annotations

import numpy as np
import pytest

import hyperspec
from hyperspec.preprocess import denoise
from hyperspec.preprocess.denoise import optimal_rank


@pytest.fixture(scope="module")
def noisy_and_clean():
    kw = {"n_spectral": 1024, "seed": 5, "artefacts": False}
    ds, _ = hyperspec.synthetic.cspbbr3_map((32, 40), **kw)
    clean, _ = hyperspec.synthetic.cspbbr3_map((32, 40), noise=False, **kw)
    return ds.compute(), clean["spectra"].values.astype(float)


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a, dtype=float) - b) ** 2)))


def test_auto_rank_reduces_the_error_to_truth(noisy_and_clean):
    ds, clean = noisy_and_clean
    out = denoise(ds)
    k = out.attrs["pca_n_components"]
    assert 8 <= k <= 40
    before, after = _rmse(ds["spectra"].values, clean), _rmse(out["spectra"].values, clean)
    assert after < before / 2.5
    # the automatic rank is close to the best rank in hindsight (oracle: the truth is known here)
    errors = {kk: _rmse(denoise(ds, kk)["spectra"].values, clean) for kk in (k // 2, k, 2 * k)}
    assert errors[k] <= 1.15 * min(errors.values())
    ratio = out["pca_explained_variance_ratio"].values
    assert np.all(np.diff(ratio) <= 1e-12) and 0.9 < ratio.sum() <= 1.0 + 1e-9
    assert out["pca_scores"].dims == ("y", "x", "component") and out["pca_scores"].sizes["component"] == k
    # scores × loadings + mean is the reconstruction
    recon = out["pca_scores"].values @ out["pca_loadings"].values + out["pca_mean"].values
    np.testing.assert_allclose(recon, out["spectra"].values, rtol=1e-4, atol=1e-2)


def test_out_of_core_matches_in_memory(noisy_and_clean):
    ds, clean = noisy_and_clean
    eager = denoise(ds, 12)
    lazy = denoise(ds.chunk({"y": 8}), 12)
    assert lazy["spectra"].chunks is not None
    lazy = lazy.compute()
    np.testing.assert_allclose(lazy["spectra"].values, eager["spectra"].values, rtol=1e-3, atol=0.05 * _rmse(ds["spectra"].values, clean))
    assert denoise(ds.chunk({"y": 8})).attrs["pca_n_components"] == denoise(ds).attrs["pca_n_components"]


def test_optimal_rank_on_pure_noise_is_zero():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 2.0, (400, 200))
    s = np.linalg.svd(X, compute_uv=False)
    assert optimal_rank(s, X.shape, 2.0) == 0
    X[:, :] += 30 * np.outer(rng.normal(size=400), rng.normal(size=200)) / 10
    assert optimal_rank(np.linalg.svd(X, compute_uv=False), X.shape, 2.0) == 1


def test_bad_arguments(noisy_and_clean):
    ds, _ = noisy_and_clean
    with pytest.raises(ValueError, match="n_components"):
        denoise(ds, "many")
    with pytest.raises(ValueError, match="several spectra"):
        denoise(ds.isel(y=[0], x=[0]))
