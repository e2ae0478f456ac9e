"""Linear stage: batched Tikhonov and NNLS against SciPy on the same problems."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg, optimize

from hyperspec.bands import shapes
from hyperspec.fit.linear import nnls, tikhonov


def _problem(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(-500, 3500, 600)
    centers = [73, 127, 160, 310, 1360, 1590, 2720]
    B = np.column_stack([shapes.lorentzian(x, c, 12.0) for c in centers] + [np.ones_like(x), x / 4000])
    a = np.column_stack([rng.uniform(0, 500, (n, len(centers))), rng.uniform(50, 150, n), rng.uniform(-20, 20, n)])
    a[:, 2] = 0.0  # some amplitudes truly zero
    y = a @ B.T + rng.normal(0, 5, (n, x.size))
    return B, y, a


def test_tikhonov_equals_lstsq_and_ridge():
    B, y, _ = _problem()
    w = np.ones(B.shape[0])
    w[100:110] = 0.0  # a masked band (e.g. the notch)
    got = tikhonov(B, y, weights=w)
    keep = w > 0
    ref = linalg.lstsq(B[keep], y[:, keep].T)[0].T
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8)
    lam = 1e3
    ridge = tikhonov(B, y, lam=lam)
    ref = np.linalg.solve(B.T @ B + lam * np.eye(B.shape[1]), B.T @ y.T).T
    np.testing.assert_allclose(ridge, ref, rtol=1e-10)


def test_smoothness_penalty_matches_augmented_system():
    rng = np.random.default_rng(1)
    B = rng.normal(size=(80, 12))
    y = rng.normal(size=(3, 80))
    D = np.diff(np.eye(12), n=2, axis=0)
    got = tikhonov(B, y, smoothness=10.0)
    ref = linalg.lstsq(np.vstack([B, np.sqrt(10.0) * D]), np.vstack([y.T, np.zeros((10, 3))]))[0].T
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_nnls_equals_scipy_nnls():
    B, y, _ = _problem(n=30)
    lower = np.r_[np.zeros(7), -np.inf, -np.inf]  # line heights ≥ 0, baseline free
    got, n_iter = nnls(B, y, lower=lower, tol=1e-13, max_iter=5000)
    assert n_iter < 5000
    for i in range(y.shape[0]):
        # scipy's nnls bounds every variable; free the baseline by splitting it into ± parts
        Bs = np.column_stack([B, -B[:, 7:]])
        ref = optimize.nnls(Bs, y[i])[0]
        ref = np.r_[ref[:7], ref[7:9] - ref[9:]]
        np.testing.assert_allclose(got[i], ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    assert np.all(got[:, :7] >= 0)


@pytest.mark.gpu
def test_cupy_equals_numpy():
    import cupy

    B, y, _ = _problem(n=64)
    np.testing.assert_allclose(cupy.asnumpy(tikhonov(cupy.asarray(B), cupy.asarray(y))), tikhonov(B, y), rtol=1e-9)
    ref, _ = nnls(B, y, lower=0.0)
    got, _ = nnls(cupy.asarray(B), cupy.asarray(y), lower=0.0)
    np.testing.assert_allclose(cupy.asnumpy(got), ref, rtol=1e-7, atol=1e-7)


def test_nnls_with_a_penalty_equals_the_augmented_problem():
    B, y, _ = _problem(n=5)
    R = np.zeros((3, B.shape[1]))
    R[:, :5] = 3.0 * np.diff(np.eye(5), n=2, axis=0)  # smoothness across the first five amplitudes
    got, _ = nnls(B, y, lower=np.r_[np.zeros(7), -np.inf, -np.inf], penalty=R, tol=1e-13, max_iter=5000)
    for i in range(y.shape[0]):
        Ba = np.vstack([np.column_stack([B, -B[:, 7:]]), np.column_stack([R, -R[:, 7:]])])
        ref = optimize.nnls(Ba, np.r_[y[i], np.zeros(3)])[0]
        ref = np.r_[ref[:7], ref[7:9] - ref[9:]]
        np.testing.assert_allclose(got[i], ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
