"""Linear stage: batched Tikhonov and NNLS against SciPy on the same problems."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg, optimize

from hyperspec.bands import shapes
from hyperspec.fit import linear
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


ENGINES = [pytest.param("numba", id="numba-kernel"), pytest.param("xp", id="blas")]


def _engine(name, monkeypatch):
    """Run the linear stage on the numba kernel or on BLAS (``HYPERSPEC_KERNELS``)."""
    if name == "numba":
        pytest.importorskip("numba")
    monkeypatch.setenv("HYPERSPEC_KERNELS", name)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_rows_amplitudes_do_not_depend_on_its_batch(engine, monkeypatch):
    """Bitwise: the same pixel fitted alone, in a ragged batch or in the whole chunk gives the same amplitudes."""
    _engine(engine, monkeypatch)
    B, y, _ = _problem(n=300)
    lower = np.r_[np.zeros(7), -np.inf, -np.inf]
    for data in (y, y.astype(np.float32)):
        whole = tikhonov(B, data)
        whole_nnls, _ = nnls(B, data, lower=lower, max_iter=300, tol=1e-8)
        for start, n in ((0, 1), (5, 3), (17, 64), (63, 65), (100, 200)):
            np.testing.assert_array_equal(tikhonov(B, data[start : start + n]), whole[start : start + n])
            part, _ = nnls(B, data[start : start + n], lower=lower, max_iter=300, tol=1e-8)
            np.testing.assert_array_equal(part, whole_nnls[start : start + n])


def test_float32_product_is_far_below_the_poisson_error_and_offset_equals_subtraction():
    rng = np.random.default_rng(4)
    x = np.linspace(-500, 3500, 1024)
    B = np.column_stack([shapes.lorentzian(x, c, 15.0) for c in (300, 1360, 1590, 2720)] + [np.ones_like(x), x / 4000])
    truth = np.column_stack([rng.uniform(50, 3000, (256, 4)), rng.uniform(100, 400, 256), rng.uniform(-50, 50, 256)])
    mean = truth @ B.T
    y32 = rng.poisson(mean).astype(np.float32)
    w = 1.0 / np.maximum(y32.mean(axis=0), 1.0)
    a64 = tikhonov(B, y32, weights=w, precision="float64")
    a32 = tikhonov(B, y32, weights=w)  # float32 product (the default for float32 data)
    # the standard error of each amplitude under Poisson noise: sqrt(diag((BᵀWB)⁻¹ BᵀW Σ W B (BᵀWB)⁻¹)), Σ = mean
    G = B.T @ (B * w[:, None])
    P = np.linalg.solve(G, (B * w[:, None]).T).T
    stderr = np.sqrt(np.einsum("mk,nm,mk->nk", P, mean, P))
    accurate = linear.ACCURATE_FLOAT32  # the default broadcast kernel sums in one float32 chain: 10× the rounding
    assert np.max(np.abs(a32 - a64) / stderr) < (1e-4 if accurate else 2e-3)
    assert np.max(np.abs(a32 - a64)) <= (2e-6 if accurate else 5e-6) * np.max(np.abs(a64))
    c = 0.1 * mean[0]
    by_offset = tikhonov(B, y32, weights=w, offset=c, precision="float64")
    np.testing.assert_allclose(by_offset, tikhonov(B, y32.astype(np.float64) - c, weights=w), rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="precision must be"):
        tikhonov(B, y32, precision="half")


@pytest.mark.parametrize(
    ("engine", "accurate"),
    [
        pytest.param("numba", False, id="numba-kernel"),
        pytest.param("xp", False, id="blas-broadcast"),
        pytest.param("xp", True, id="blas-dot"),
    ],
)
def test_wide_operator_paths_are_bitwise_batch_independent_and_accurate(engine, accurate, monkeypatch):
    """1024 channels × 13 components: the numba kernel and the BLAS layouts (float32 and float64).

    Bitwise the same row in batches of 1, 7, 48, 96 and 4096 rows, and equal to a float64 lstsq reference
    (float32 product: 1e-6 of the scale with the numba kernel, 5e-6 through BLAS; float64: 1e-8, the normal
    equations square the condition number); the float32 product against float64 arithmetic in standard errors.
    """
    _engine(engine, monkeypatch)
    monkeypatch.setattr(linear, "ACCURATE_FLOAT32", accurate)
    rng = np.random.default_rng(7)
    x = np.linspace(-500, 3500, 1024)
    centers = np.linspace(0, 3000, 11)
    B = np.column_stack([shapes.lorentzian(x, c, 20.0) for c in centers] + [np.ones_like(x), x / 4000])
    a = np.column_stack([rng.uniform(0, 800, (4096, 11)), rng.uniform(50, 150, 4096), rng.uniform(-20, 20, 4096)])
    y32 = rng.poisson(a @ B.T).astype(np.float32)
    w = 1.0 / np.maximum(y32.mean(axis=0), 1.0)
    c = 0.05 * (a[0] @ B.T)
    ref = linalg.lstsq(B * np.sqrt(w)[:, None], ((y32.astype(np.float64) - c) * np.sqrt(w)).T)[0].T
    # measured: numba 2.2e-7 (AVX2); BLAS 2.3e-6 broadcast, dot 2.1e-7 on AVX-512 but 2.4e-6 on AVX2 (no dot kernel)
    f32 = 1e-6 if engine == "numba" else 5e-6
    for data, prec, rtol in ((y32, "data", f32), (y32, "float64", 1e-8), (y32.astype(np.float64), "data", 1e-8)):
        whole = tikhonov(B, data, weights=w, offset=c, precision=prec)
        assert whole.dtype == np.float64 and whole.shape == (4096, 13) and whole.flags.c_contiguous
        assert np.max(np.abs(whole - ref)) <= rtol * np.max(np.abs(ref))
        for start, n in ((5, 1), (100, 7), (48, 48), (1000, 48), (4000, 96)):
            part = tikhonov(B, data[start : start + n], weights=w, offset=c, precision=prec)
            np.testing.assert_array_equal(part, whole[start : start + n])
    # the float32 product against float64 arithmetic, in units of each amplitude's Poisson standard error
    a64 = tikhonov(B, y32, weights=w, offset=c, precision="float64")
    a32 = tikhonov(B, y32, weights=w, offset=c)
    G = B.T @ (B * w[:, None])
    P = np.linalg.solve(G, (B * w[:, None]).T).T
    stderr = np.sqrt(np.maximum(y32[:256], 1.0) @ (P * P))
    err = np.max(np.abs(a32[:256] - a64[:256]) / stderr)
    assert err < (1e-4 if engine == "numba" else 2e-3)  # measured: numba 2.8e-5; BLAS 1.5e-4 (AVX2), 5.5e-4 (AVX-512)
    assert np.max(np.abs(a32 - a64)) <= f32 * np.max(np.abs(a64))


def test_blas_path_falls_back_to_a_layout_that_sums_every_row_alike(monkeypatch):
    """Without numba: a layout whose GEMM sums a row by its position in the block is not used; with none left,
    one identical GEMV per row. Either way bitwise batch-independent and equal to float64 arithmetic."""
    monkeypatch.setenv("HYPERSPEC_KERNELS", "xp")
    rng = np.random.default_rng(3)
    y = rng.normal(100.0, 10.0, (101, 200)).astype(np.float32)
    M = rng.normal(size=(200, 13))
    ref = y.astype(np.float64) @ M
    assert linear._blas_layout(200, 13, np.dtype(np.float32), dot=False) in ((16, "C"), (13, "C"), None)  # this CPU's probe
    monkeypatch.setattr(linear, "_blas_rows_agree", lambda m, k, dtype, order: k == 13)  # the padded layout "fails"
    assert linear._blas_layout(200, 13, np.dtype(np.float32), dot=False) == (13, "C")
    for agree in (lambda m, k, dtype, order: k == 13, lambda m, k, dtype, order: False):  # then none passes
        monkeypatch.setattr(linear, "_blas_rows_agree", agree)
        for dt in (np.float32, np.float64):
            whole = linear._rowwise(y.astype(dt), M.astype(dt), np)
            assert np.max(np.abs(whole - ref)) <= (1e-6 if dt == np.float32 else 1e-13) * np.max(np.abs(ref))
            for start, n in ((0, 1), (7, 3), (50, 51)):
                np.testing.assert_array_equal(linear._rowwise(y[start : start + n].astype(dt), M.astype(dt), np), whole[start : start + n])
    assert linear._blas_layout(200, 13, np.dtype(np.float32), dot=False) is None


def test_numba_kernel_has_one_specialisation_per_dtype(monkeypatch):
    """Read-only, writable, odd and even batches, one thread or several, all run the two compiled specialisations."""
    pytest.importorskip("numba")
    monkeypatch.setenv("HYPERSPEC_KERNELS", "numba")
    from hyperspec.fit._linear_kernel import SIGNATURES

    rng = np.random.default_rng(5)
    y = rng.normal(size=(9, 64)).astype(np.float32)
    M = rng.normal(size=(64, 6)).astype(np.float32)
    frozen = y.copy()
    frozen.setflags(write=False)
    got = linear._rowwise(frozen, M, np)
    np.testing.assert_array_equal(linear._rowwise(y, M, np), got)
    np.testing.assert_array_equal(linear._rowwise(y[3:4], M, np), got[3:4])
    linear._rowwise(y.astype(np.float64), M.astype(np.float64), np)
    assert len(linear._kernel().signatures) == len(SIGNATURES) == 2
    np.testing.assert_allclose(got, y.astype(np.float64) @ M, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(linear, "_threads", lambda n: 3)  # rows split over threads: the same bits
    np.testing.assert_array_equal(linear._rowwise(y, M, np), got)
