"""Batched Levenberg–Marquardt: NIST StRD certified values, SciPy agreement, bounds, priors, statuses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from hyperspec.fit import FitStatus, levenberg_marquardt
from tests.fit.nist_strd import AVERAGE, HIGHER, LOWER, MODELS, NIST_DIR, load, lre

pytestmark = pytest.mark.skipif(not NIST_DIR.is_dir(), reason=f"NIST StRD data not found at {NIST_DIR}")
TIGHT = dict(xtol=1e-15, ftol=1e-15, gtol=1e-15, max_iter=1000)
PRECISE = dict(xtol=1e-13, ftol=1e-13, gtol=1e-13)  # the SciPy peers below run at 1e-14


def _fit_nist(name):
    d = load(name)
    with np.errstate(all="ignore"):  # far-off starts overflow exp() on the way; rows must not crash
        res = levenberg_marquardt(MODELS[name], d.x, np.broadcast_to(d.y, (2, d.y.size)), d.starts, **TIGHT)
    return d, res


@pytest.mark.parametrize("name", LOWER + AVERAGE)
def test_nist_lower_and_average_from_both_starts(name):
    d, res = _fit_nist(name)
    for start in range(2):
        digits = lre(res.params[start], d.certified)
        assert digits.min() >= 6.0, f"{name} start {start + 1}: {digits.round(1)}"
        # STALLED: no representable step lowers χ² (the float64 floor, met on the exact, zero-residual Lanczos data)
        assert res.status[start] in (FitStatus.CONVERGED, FitStatus.STALLED)
        assert lre(res.chi2[start], d.rss) >= (2.5 if name == "Lanczos1" else 6.0)
        # Lanczos1 is a zero-residual problem (RSS 1.4e-25): its certified SDs rest on that RSS's rounding
        if name != "Lanczos1":
            assert lre(res.stderr[start], d.certified_sd).min() >= 6.0


def test_nist_higher_difficulty():
    ok = 0
    for name in HIGHER:
        d, res = _fit_nist(name)
        for start in range(2):
            ok += lre(res.params[start], d.certified).min() >= 6.0
    assert ok >= 14, f"only {ok} of 16 higher-difficulty runs reached 6 digits"


def _gauss_batch(n=40, m=200, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(-10, 10, m)
    true = np.column_stack(
        [rng.uniform(50, 200, n), rng.uniform(-3, 3, n), rng.uniform(0.8, 2.5, n), rng.uniform(5, 20, n), rng.uniform(-0.5, 0.5, n)]
    )

    def model(xx, p):
        return p[:, 0:1] * np.exp(-0.5 * ((xx - p[:, 1:2]) / p[:, 2:3]) ** 2) + p[:, 3:4] + p[:, 4:5] * xx

    y = model(x, true) + rng.normal(0, 2.0, (n, m))
    p0 = true * rng.uniform(0.8, 1.2, true.shape)
    return x, y, p0, true, model


def test_agrees_with_scipy_least_squares_row_by_row():
    x, y, p0, _, model = _gauss_batch()
    res = levenberg_marquardt(model, x, y, p0, **PRECISE)
    assert np.all(res.status == FitStatus.CONVERGED)
    for i in range(y.shape[0]):
        ref = optimize.least_squares(lambda p, i=i: model(x, p[None])[0] - y[i], p0[i], method="lm", xtol=1e-14, ftol=1e-14)
        # the same minimum: agreement to 1e-4 of a standard error (flat directions leave ~1e-8 of play)
        assert np.all(np.abs(res.params[i] - ref.x) <= 1e-4 * res.stderr[i])
        np.testing.assert_allclose(res.chi2[i], np.sum(ref.fun**2), rtol=1e-10)


def test_weights_and_covariance_match_curve_fit():
    x, y, p0, _, model = _gauss_batch(n=5)
    sigma = 1.0 + 0.05 * np.abs(x)
    for absolute in (False, True):
        res = levenberg_marquardt(model, x, y, p0, weights=1 / sigma**2, absolute_weights=absolute, **PRECISE)
        for i in range(5):
            popt, pcov = optimize.curve_fit(
                lambda xx, *p: model(xx, np.array(p)[None])[0],
                x,
                y[i],
                p0=p0[i],
                sigma=sigma,
                absolute_sigma=absolute,
                xtol=1e-14,
                ftol=1e-14,
            )
            assert np.all(np.abs(res.params[i] - popt) <= 1e-4 * res.stderr[i])
            np.testing.assert_allclose(res.covariance[i], pcov, rtol=1e-5, atol=1e-12)
            np.testing.assert_allclose(res.stderr[i], np.sqrt(np.diag(pcov)), rtol=1e-5)


def test_jacobian_methods_agree():
    x, y, p0, _, model = _gauss_batch(n=8)

    def jac(xx, p):
        a, c, s, _, _ = (p[:, k : k + 1] for k in range(5))
        g = np.exp(-0.5 * ((xx - c) / s) ** 2)
        return np.stack([g, a * g * (xx - c) / s**2, a * g * (xx - c) ** 2 / s**3, np.ones_like(g), np.broadcast_to(xx, g.shape)], axis=-1)

    ref = levenberg_marquardt(model, x, y, p0, jacobian=jac)
    for method in ("complex-step", "forward"):
        res = levenberg_marquardt(model, x, y, p0, jacobian=method)
        np.testing.assert_allclose(res.params, ref.params, rtol=1e-6)


def test_bounds_are_respected_and_active():
    x, y, p0, true, model = _gauss_batch(n=6)
    upper = np.full(5, np.inf)
    upper[2] = 0.7  # below every true width (≥ 0.8): the solution sits on the bound
    res = levenberg_marquardt(model, x, y, p0, bounds=(np.full(5, -np.inf), upper))
    np.testing.assert_allclose(res.params[:, 2], 0.7)
    assert np.all(res.params[:, 2] <= 0.7)


def test_prior_equals_augmented_least_squares():
    x, y, p0, true, model = _gauss_batch(n=4)
    mu = true * 1.1
    sigma = np.array([np.inf, 0.05, 0.05, np.inf, np.inf])  # pull centre and width toward the prior
    res = levenberg_marquardt(model, x, y, p0, prior=(mu, sigma), **PRECISE)
    finite = np.isfinite(sigma)
    for i in range(4):
        ref = optimize.least_squares(
            lambda p, i=i: np.r_[model(x, p[None])[0] - y[i], ((p - mu[i]) / sigma)[finite]], p0[i], method="lm", xtol=1e-14, ftol=1e-14
        )
        assert np.all(np.abs(res.params[i] - ref.x) <= 1e-4 * res.stderr[i])
    # a tight prior wins over the data
    tight = levenberg_marquardt(model, x, y, p0, prior=(mu, np.where(finite, 1e-9, np.inf)))
    np.testing.assert_allclose(tight.params[:, finite], mu[:, finite], rtol=1e-8)


def test_status_codes_per_row_without_exceptions():
    x, y, p0, _, model = _gauss_batch(n=6)
    y = y.copy()
    y[1, 17] = np.nan  # non-finite data at a weighted point
    p0 = p0.copy()
    p0[2, 0] = np.inf  # non-finite start
    w = np.ones_like(y)
    w[3, 3:] = 0.0  # only 3 usable points for 5 parameters
    y[4, 50] = np.nan
    w[4, 50] = 0.0  # masked NaN is fine
    res = levenberg_marquardt(model, x, y, p0, weights=w)
    assert res.status.tolist() == [
        FitStatus.CONVERGED,
        FitStatus.NONFINITE,
        FitStatus.NONFINITE,
        FitStatus.MASKED,
        FitStatus.CONVERGED,
        FitStatus.CONVERGED,
    ]
    assert np.all(np.isnan(res.params[[1, 2, 3]])) and np.all(np.isfinite(res.params[[0, 4, 5]]))
    short = levenberg_marquardt(model, x, y[[0]], p0[[0]] * 1.5, max_iter=2)
    assert short.status[0] == FitStatus.MAX_ITER and short.n_iter[0] == 2


def test_singular_model_is_flagged():
    x = np.linspace(0, 1, 30)
    y = 3.0 * x + np.random.default_rng(0).normal(0, 0.01, 30)
    res = levenberg_marquardt(lambda xx, p: p[:, 0:1] * p[:, 1:2] * xx, x, y, np.array([1.0, 2.0]))  # only a·b is determined
    assert res.status[0] == FitStatus.SINGULAR
    assert np.prod(res.params[0]) == pytest.approx(3.0, rel=1e-2)
    assert np.all(np.isnan(res.stderr[0]))


def test_bad_arguments():
    x, y, p0, _, model = _gauss_batch(n=2)
    with pytest.raises(ValueError, match="`weights` must be finite and ≥ 0"):
        levenberg_marquardt(model, x, y, p0, weights=-np.ones_like(y))
    with pytest.raises(ValueError, match="lower bound must be ≤"):
        levenberg_marquardt(model, x, y, p0, bounds=(np.ones(5), np.zeros(5)))
    with pytest.raises(ValueError, match="`p0` must have shape"):
        levenberg_marquardt(model, x, y, np.ones((3, 5)))
    with pytest.raises(ValueError, match="'complex-step' or 'forward'"):
        levenberg_marquardt(model, x, y, p0, jacobian="autodiff")


@pytest.mark.gpu
def test_cupy_equals_numpy():
    import cupy

    x, y, p0, _, model = _gauss_batch(n=64)
    ref = levenberg_marquardt(model, x, y, p0)
    res = levenberg_marquardt(lambda xx, p: model(xx, p), cupy.asarray(x), cupy.asarray(y), cupy.asarray(p0))
    np.testing.assert_allclose(cupy.asnumpy(res.params), ref.params, rtol=1e-8)
    np.testing.assert_array_equal(cupy.asnumpy(res.status), ref.status)


def test_quadratic_penalty_equals_augmented_least_squares():
    x, y, p0, _, model = _gauss_batch(n=3)
    R = np.array([[0.0, 2.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 0.5]])  # couples parameters
    res = levenberg_marquardt(model, x, y, p0, penalty=R, **PRECISE)
    for i in range(3):
        ref = optimize.least_squares(lambda p, i=i: np.r_[model(x, p[None])[0] - y[i], R @ p], p0[i], method="lm", xtol=1e-14, ftol=1e-14)
        assert np.all(np.abs(res.params[i] - ref.x) <= 1e-4 * res.stderr[i])
    with pytest.raises(ValueError, match=r"`penalty` must have shape \(r, 5\)"):
        levenberg_marquardt(model, x, y, p0, penalty=np.ones((2, 4)))


def test_covariance_inverse_matches_the_eigendecomposition():
    """``_unit_scaled_inverse`` (Cholesky + trace bound under numba, eigh for what that cannot decide) gives the
    eigendecomposition's inverse and the same singular flags: well-conditioned, exactly singular, not positive
    definite, just above and far below the λ_min threshold."""
    pytest.importorskip("numba")
    from hyperspec.fit import lm as lm_mod  # noqa: PLC0415

    rng = np.random.default_rng(4)
    n_par = 12
    mats = []
    for lam_min in (0.5, 1e-3, 1e-9, 1e-11, 1e-12, 1e-14, 0.0, -1e-3):
        q, _ = np.linalg.qr(rng.normal(size=(n_par, n_par)))
        ev = np.concatenate([[lam_min], rng.uniform(0.5, 3.0, n_par - 1)])
        a = (q * ev) @ q.T
        d = np.sqrt(np.abs(np.diag(a)))
        mats.append(a / np.outer(d, d))
    As = np.stack(mats)
    threshold = 1e-13 * n_par
    inv, singular = lm_mod._unit_scaled_inverse(As, threshold, np)
    evals, evecs = np.linalg.eigh(As)
    ref_singular = ~(evals.min(axis=1) > threshold)
    np.testing.assert_array_equal(singular, ref_singular)
    assert singular.tolist() == [False, False, False, False, True, True, True, True]
    ok = ~ref_singular
    ref = np.einsum("nij,nj,nkj->nik", evecs[ok], 1.0 / evals[ok], evecs[ok])
    scale = np.abs(ref).max(axis=(1, 2), keepdims=True)
    err = np.max(np.abs(inv[ok] - ref) / scale, axis=(1, 2))
    assert np.all(err < 1e-13 / evals[ok].min(axis=1))  # rounding grows with the condition number (1/λ_min here)
