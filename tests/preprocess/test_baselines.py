"""Baselines against pybaselines on real spectra, per pixel and batched, on both solver engines."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hyperspec
from hyperspec.model import history_records
from hyperspec.preprocess import baselines as B
from hyperspec.preprocess._banded import difference_penalty, solve
from tests.conftest import SHARED_DATA, SILICON_TXT, read_witec_ascii

pybaselines = pytest.importorskip("pybaselines")

CASES = [
    ("asls", {}),
    ("asls", {"lam": 1e4, "p": 0.05, "diff_order": 1}),
    ("arpls", {}),
    ("arpls", {"lam": 1e6, "diff_order": 3}),
    ("airpls", {}),
    ("airpls", {"lam": 1e5, "normalize_weights": True}),
    ("poly", {"poly_order": 3}),
    ("modpoly", {"poly_order": 3}),
    ("modpoly", {"poly_order": 2, "mask_initial_peaks": True, "use_original": True}),
]


@pytest.fixture(scope="module")
def real_spectra():
    """Thin-film absorber Raman spectra (spectrapepper, 196 × 1024, normalised) and the WITec Si wafer spectrum."""
    d = np.loadtxt(SHARED_DATA / "spectrapepper" / "spectras.txt")
    return d[0], d[1:41]


@pytest.fixture(scope="module")
def silicon():
    data = read_witec_ascii(SILICON_TXT)
    return data[:, 0], data[:, 1]


def _reference(name, x, Y, kw):
    fitter = pybaselines.Baseline(x_data=x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = [getattr(fitter, name)(y, **kw) for y in Y]
    iters = np.array([len(o[1].get("tol_history", [0])) for o in out])
    return np.stack([o[0] for o in out]), iters


# every iterative method on both engines; poly is one matrix product
RUNS = [(n, kw, e) for n, kw in CASES for e in (("numba", "xp") if n != "poly" else ("xp",))]


@pytest.mark.parametrize(("name", "kw", "engine"), RUNS, ids=[f"{n}-{i}-{e}" for i, (n, _, e) in enumerate(RUNS)])
def test_equals_pybaselines_on_real_spectra(real_spectra, name, kw, engine):
    x, Y = real_spectra
    ref, ref_iters = _reference(name, x, Y, kw)
    args = dict(kw, x=x) if name == "poly" else dict(kw, engine=engine)
    if name == "modpoly":
        args["x"] = x
        if kw.get("mask_initial_peaks") and engine == "numba":  # per-pixel weights: the xp path only
            with pytest.raises(ValueError, match="shared weights"):
                getattr(B, name)(Y, **args)
            return
    ours, info = getattr(B, name)(Y, **args)
    scale = np.abs(ref).max(axis=1, keepdims=True)
    assert np.max(np.abs(ours - ref) / scale) < 1e-6
    # the same stopping point per spectrum: iterations as pybaselines counts them (its tol_history length)
    n_iter = np.asarray(info["n_iter"])
    if name in ("asls", "arpls", "airpls", "modpoly"):
        np.testing.assert_array_equal(n_iter, ref_iters)


def test_equals_pybaselines_on_silicon_wafer(silicon):
    x, y = silicon
    ref = pybaselines.Baseline(x_data=x).arpls(y, lam=1e5)[0]
    ours, _ = B.arpls(y, lam=1e5)
    assert np.max(np.abs(ours[0] - ref)) / np.abs(ref).max() < 1e-6


def test_whittaker_smooth_matches_dense_solution():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(3, 150)).cumsum(axis=1)
    D = np.diff(np.eye(150), n=2, axis=0)
    ref = np.stack([np.linalg.solve(np.eye(150) + 1e2 * D.T @ D, row) for row in y])
    for engine in ("numba", "xp"):
        z, used = B.whittaker_smooth(y, lam=1e2, engine=engine)
        assert used == engine
        np.testing.assert_allclose(z, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_banded_solver_against_dense(order, xp):
    m = 120
    rng = np.random.default_rng(order)
    w, b = rng.random((4, m)), rng.normal(size=(4, m))
    D = np.diff(np.eye(m), n=order, axis=0)
    P = 1e3 * D.T @ D
    ref = np.stack([np.linalg.solve(np.diag(w[i]) + P, b[i]) for i in range(4)])
    z, _ = solve(xp.asarray(w), xp.asarray(b), difference_penalty(m, order, 1e3), engine="xp")
    np.testing.assert_allclose(hyperspec.to_numpy(z), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_nonfinite_pixel_gets_nan_and_others_are_untouched(real_spectra):
    x, Y = real_spectra
    Y = Y[:4].copy()
    clean, _ = B.asls(Y)
    Y[2, 100] = np.nan
    out, info = B.asls(Y)
    assert np.all(np.isnan(out[2]))
    np.testing.assert_array_equal(out[[0, 1, 3]], clean[[0, 1, 3]])
    assert not info["converged"][2]


def test_dataset_baseline_lazy_and_subtracted(real_spectra):
    x, Y = real_spectra
    ds = hyperspec.from_array(Y[:24].reshape(4, 6, -1), x, unit="cm-1", laser_nm=633.0).chunk({"y": 2})
    out = hyperspec.preprocess.baseline(ds, "arpls", lam=1e5, subtract=True)
    assert out["baseline"].chunks is not None  # still lazy
    out = out.compute()
    ref, _ = _reference("arpls", None, ds["spectra"].values.reshape(24, -1).astype(np.float64), {"lam": 1e5})
    got = out["baseline"].values.reshape(24, -1)
    assert np.max(np.abs(got - ref)) / np.abs(ref).max() < 1e-6
    np.testing.assert_allclose(out["spectra"].values, ds["spectra"].values - out["baseline"].values, rtol=1e-6, atol=1e-6)
    # one spectrum needs more than 50 reweightings at this λ, in pybaselines too (51 solves, tol not met)
    _, iters = _reference("arpls", None, ds["spectra"].values.reshape(24, -1).astype(np.float64), {"lam": 1e5})
    np.testing.assert_array_equal(out["baseline_n_iter"].values.reshape(-1), iters)
    np.testing.assert_array_equal(out["baseline_converged"].values.reshape(-1), iters < 51)
    assert history_records(out.attrs)[-1]["step"] == "baseline"
    assert out.attrs["baseline_engine"] == "numba"


def test_typos_name_the_closest_valid_name(real_spectra):
    x, Y = real_spectra
    ds = hyperspec.from_array(Y[:4].reshape(2, 2, -1), x, unit="cm-1", laser_nm=633.0)
    with pytest.raises(ValueError, match="Did you mean 'arpls'"):
        hyperspec.preprocess.baseline(ds, "arpsl")
    with pytest.raises(ValueError, match="Did you mean 'lam'"):
        hyperspec.preprocess.baseline(ds, "asls", lamda=1e5)
    with pytest.raises(ValueError, match="p must be between 0 and 1"):
        B.asls(Y[:2], p=1.5)


REFS = SHARED_DATA / "pybaselines_refdata" / "pybaselines_tests_reference_arrays.npz"


@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9])
def test_quant_reg_equals_statsmodels_reference_arrays(quantile):
    """pybaselines' own reference: statsmodels QuantReg on a line (x = linspace(−1000, 1000, 200))."""
    refs = np.load(REFS)
    x = np.linspace(-1000, 1000, 200)
    ours, info = B.quant_reg(refs["QUANTILE_Y"], x, poly_order=1, quantile=quantile, tol=1e-9, eps=1e-12)
    np.testing.assert_allclose(ours[0], refs[f"STATSMODELS_QUANTILES__{quantile}"], rtol=1e-6)
    assert info["converged"][0]


def test_quant_reg_equals_pybaselines_where_the_iteration_is_stable():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 100, 400)
    Y = 50 + 0.3 * x - 1e-3 * x**2 + rng.normal(0, 1.0, (6, x.size)) + 20 * np.exp(-0.5 * ((x - 60) / 3) ** 2)
    ref, iters = _reference("quant_reg", x, Y, {"poly_order": 2, "quantile": 0.2, "tol": 1e-8})
    ours, info = B.quant_reg(Y, x, poly_order=2, quantile=0.2, tol=1e-8)
    assert np.max(np.abs(ours - ref) / np.abs(ref).max(axis=1, keepdims=True)) < 1e-6
    with pytest.raises(ValueError, match="quantile"):
        B.quant_reg(Y, x, quantile=1.0)


@pytest.mark.parametrize("iterations", [0, 1, 2, 3])
def test_loess_equals_statsmodels_reference_arrays(iterations):
    """pybaselines' reference: statsmodels lowess (10-point windows, symmetric Tukey weights, 6·MAD scale)."""
    refs = np.load(REFS)
    ours, _ = B.loess(
        refs["LOESS_Y"], refs["LOESS_X"], total_points=10, max_iter=iterations, tol=-1, scale=4.0469385011764905,
        symmetric_weights=True, delta=0.0,
    )  # fmt: skip
    np.testing.assert_allclose(ours[0], refs[f"STATSMODELS_LOESS_ITER__{iterations}"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("delta", [0.01, 0.3])
def test_loess_skipping_equals_statsmodels_delta_references(delta):
    refs = np.load(REFS)
    x = refs["LOESS_X"]
    ours, _ = B.loess(refs["LOESS_Y"], x, total_points=10, max_iter=0, scale=4.0469385011764905, symmetric_weights=True,
                      delta=delta * (x.max() - x.min()))  # fmt: skip
    np.testing.assert_allclose(ours[0], refs[f"STATSMODELS_LOESS_DELTA__{delta}"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"use_threshold": True}, {"fraction": 0.1, "poly_order": 2}])
def test_loess_equals_pybaselines_on_real_spectra(real_spectra, kw):
    x, Y = real_spectra
    ref, iters = _reference("loess", x, Y[:16], kw)
    ours, info = B.loess(Y[:16], x, **kw)
    assert np.max(np.abs(ours - ref) / np.abs(ref).max(axis=1, keepdims=True)) < 1e-6
    np.testing.assert_array_equal(info["n_iter"], iters)


def test_vectorised_exp_is_within_one_ulp_of_libm():
    pytest.importorskip("numba")
    from hyperspec.preprocess._banded_kernel import vexp_array

    x = np.concatenate([np.random.default_rng(0).uniform(-700, 709, 20000), [-708.0, -1e-300, 0.0, 1e-12, 0.5, 709.78]])
    got, want = vexp_array(x), np.exp(x)
    assert np.all(np.abs(got - want) <= np.spacing(want))
    assert vexp_array(np.array([-1000.0]))[0] < 4e-308  # clamped at −708: far below anything a weight can see
