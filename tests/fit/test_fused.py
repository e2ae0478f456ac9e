"""The fused numba evaluation equals the NumPy path (its reference) for every built-in component."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from hyperspec import synthetic  # noqa: E402
from hyperspec.fit.composite import CompositeModel  # noqa: E402
from hyperspec.fit.decompose import build_model_spec, decompose  # noqa: E402

SPEC = {
    "espl": {"shape": "espl", "window": [-4500, -1500], "init": {"center": 2.37, "hwhm": 0.03, "beta": 8.0}},
    "lers": {"shape": "lers", "init": {"width": 80.0, "temperature": 350.0}},
    "hers": {"shape": "hers_lognormal", "init": {"peak": 1800.0, "log_width": 0.5}},
    "pair": {"shape": "raman_pair", "init": {"center": 127.0, "hwhm": 7.0}, "tie": {"temperature": "lers.temperature"}},
    "lor": {"shape": "lorentzian", "init": {"center": 1590.0, "hwhm": 12.0}},
    "gau": {"shape": "gaussian", "init": {"center": 900.0, "hwhm": 30.0}, "fixed": {"hwhm": 30.0}},
    "pv": {"shape": "pseudo_voigt", "init": {"center": 500.0, "hwhm": 20.0, "eta": 0.4}, "window": [300, 700]},
    "base": {"shape": "polynomial3"},
    "cont": {"shape": "freeform", "window": [300, 3500], "nodes": 12, "smoothness": 0.1, "fixed": {"c0": 0.0}},
}


def _random_params(model, n, seed):
    """``n`` parameter rows near the model's start values, inside its bounds."""
    rng = np.random.default_rng(seed)
    return np.clip(model.init * rng.uniform(0.8, 1.2, (n, model.n_free)) + rng.normal(0, 1, (n, model.n_free)), model.lower, model.upper)


def _assert_fused_equals_reference(ref, fused, p):
    """Value and Jacobian of the fused kernel against the NumPy path to 1e-12 (the Jacobian per column scale)."""
    f_ref, j_ref = ref.value_and_jacobian(None, p)
    f_fus, j_fus = fused.value_and_jacobian(None, p)
    np.testing.assert_allclose(f_fus, f_ref, rtol=1e-12, atol=1e-12 * np.abs(f_ref).max())
    scale = np.abs(j_ref).max(axis=1, keepdims=True) + 1e-300
    np.testing.assert_allclose(j_fus / scale, j_ref / scale, atol=1e-12)
    np.testing.assert_allclose(fused.value(None, p), f_ref, rtol=1e-12, atol=1e-12 * np.abs(f_ref).max())


def test_value_and_jacobian_equal_the_numpy_reference():
    ds, _ = synthetic.cspbbr3_map((2, 2), n_spectral=777, noise=False)
    shift, energy = ds["shift"].values, ds["energy"].values
    ref = CompositeModel(SPEC, shift, energy, fused=False)
    fused = CompositeModel(SPEC, shift, energy)
    assert fused.engine == "numba-fused" and ref.engine == "numpy"
    _assert_fused_equals_reference(ref, fused, _random_params(ref, 40, seed=3))


def test_decompose_is_the_same_with_and_without_the_fused_path(monkeypatch, small_map):
    ds, _ = small_map
    sub = ds.isel(y=slice(0, 4), x=slice(0, 6))
    fused = decompose(sub, backend="numpy")
    monkeypatch.setenv("HYPERSPEC_FUSED", "0")
    plain = decompose(sub, backend="numpy")
    assert fused.attrs["engine"] == "numba-fused" and plain.attrs["engine"] == "numpy"
    for name in ("aspl_area", "lers_area", "hers_area", "lers_temperature_k", "aspl_peak_ev"):
        np.testing.assert_allclose(fused[name].values, plain[name].values, rtol=1e-6)
    np.testing.assert_array_equal(fused["status"].values, plain["status"].values)


def test_custom_components_fall_back_to_numpy():
    from hyperspec.bands.components import COMPONENTS, Component, Param, register

    register(
        Component(
            "test_step",
            "shift",
            (Param("height", "counts"),),
            lambda x, p, jac=True: (p[:, :1] * (x > 0), [x * 0 + (x > 0)] if jac else None),
            "step",
        )
    )
    try:
        assert CompositeModel({"s": {"shape": "test_step"}}, np.linspace(-10, 10, 21)).engine == "numpy"
    finally:
        COMPONENTS.pop("test_step")  # leave the registry as the other tests expect it
    spec = build_model_spec("cspbbr3-633")
    assert CompositeModel(spec["terms"], np.linspace(-4500, 3600, 100), np.linspace(2.5, 1.5, 100)).engine == "numba-fused"


@pytest.mark.parametrize("which", ["every component", "cspbbr3-633", "cspbbr3-633-freeform"])
def test_normal_equations_equal_the_reference(which):
    """The numba kernel's JᵀWJ / JᵀW r / Σ W r² (one pass, symmetric half) against ``normal_equations_reference``."""
    from hyperspec.fit._cuda_fused import normal_equations_reference

    ds, _ = synthetic.cspbbr3_map((2, 2), n_spectral=777, noise=False)
    shift, energy = ds["shift"].values, ds["energy"].values
    spec = SPEC if which == "every component" else build_model_spec(which, None)["terms"]
    ref = CompositeModel(spec, shift, energy, fused=False)
    fused = CompositeModel(spec, shift, energy)
    rng = np.random.default_rng(5)
    p = np.clip(ref.init * rng.uniform(0.8, 1.2, (30, ref.n_free)) + rng.normal(0, 1, (30, ref.n_free)), ref.lower, ref.upper)
    f = ref.value(None, p)
    y = f + 0.05 * np.abs(f) * rng.standard_normal(f.shape) + 1.0
    sw = 1.0 / np.sqrt(np.maximum(np.abs(y), 1.0))
    sw[:, 300:320] = 0.0  # masked channels count as zero
    y[:, 305] = np.nan  # … even where the data are not finite
    a_ref, g_ref, c_ref = normal_equations_reference(ref.value_and_jacobian, p, np.nan_to_num(y), sw)
    a, g, c = fused.fused_normal_equations(p, y, sw)
    d = np.sqrt(np.einsum("nii->ni", a_ref))
    d = np.where(d > 0, d, 1.0)
    assert np.abs((a - a_ref) / (d[:, :, None] * d[:, None, :])).max() <= 1e-11  # the two Jacobians agree to 1e-12
    np.testing.assert_array_equal(a, np.swapaxes(a, 1, 2))  # symmetric by construction
    assert np.abs((g - g_ref) / (d * np.sqrt(c_ref)[:, None])).max() <= 1e-11
    np.testing.assert_allclose(c, c_ref, rtol=1e-12)
    # a pixel's sums do not depend on the other rows of the batch
    a1, g1, c1 = fused.fused_normal_equations(p[7:8], y[7:8], sw[7:8])
    np.testing.assert_array_equal(a1[0], a[7])
    np.testing.assert_array_equal(g1[0], g[7])


def test_decompose_is_the_same_with_and_without_the_fused_normal_equations(monkeypatch, small_map):
    ds, _ = small_map
    sub = ds.isel(y=slice(0, 4), x=slice(0, 6))
    fused = decompose(sub, backend="numpy")
    monkeypatch.setenv("HYPERSPEC_FUSED_NORMAL", "0")
    plain = decompose(sub, backend="numpy")
    for name in ("aspl_area", "lers_area", "hers_area", "lers_temperature_k", "aspl_peak_ev", "aspl_area_stderr"):
        np.testing.assert_allclose(fused[name].values, plain[name].values, rtol=1e-8)
    np.testing.assert_array_equal(fused["status"].values, plain["status"].values)
    np.testing.assert_array_equal(fused["n_iter"].values, plain["n_iter"].values)


def test_windowed_and_tied_lorentzians_and_polynomials_equal_the_numpy_reference():
    # the bodies with an assigning loop (Lorentzian, polynomial) also run accumulating: windowed, tied, fixed
    spec = {
        "a": {"shape": "lorentzian", "init": {"center": 1400.0, "hwhm": 15.0}, "window": [1200, 1700]},
        "b": {"shape": "lorentzian", "init": {"center": 1600.0, "hwhm": 15.0}, "tie": {"hwhm": "a.hwhm"}},
        "c": {"shape": "lorentzian", "init": {"center": 2700.0, "hwhm": 25.0}, "fixed": {"center": 2700.0}},
        "bg": {"shape": "polynomial2", "window": [1000, 2500]},
        "bg2": {"shape": "polynomial1"},
    }
    shift = np.linspace(1000.0, 3000.0, 513)
    ref = CompositeModel(spec, shift, fused=False)
    fused = CompositeModel(spec, shift)
    assert fused.engine == "numba-fused"
    _assert_fused_equals_reference(ref, fused, _random_params(ref, 9, seed=5))


def test_the_compiled_lm_takes_the_same_steps_as_the_batched_numpy_lm(monkeypatch, small_map):
    # the preset has bounds, priors and a penalty: every branch of the compiled loop, against lm.py's NumPy loop
    ds, _ = small_map
    sub = ds.isel(y=slice(0, 4), x=slice(0, 6))
    compiled = decompose(sub, backend="numpy")
    monkeypatch.setenv("HYPERSPEC_COMPILED_LM", "0")
    batched = decompose(sub, backend="numpy")
    for name in ("aspl_area", "lers_area", "hers_area", "lers_temperature_k", "aspl_peak_ev", "aspl_area_stderr", "chi2_red"):
        np.testing.assert_allclose(compiled[name].values, batched[name].values, rtol=1e-8)
    np.testing.assert_array_equal(compiled["status"].values, batched["status"].values)
    np.testing.assert_array_equal(compiled["n_iter"].values, batched["n_iter"].values)


def test_term_integrals_equal_the_numpy_areas_and_gradients():
    # every built-in shape (tied, fixed, windowed): Σ w f_t and ∂/∂p of it, against the NumPy columns
    ds, _ = synthetic.cspbbr3_map((2, 2), n_spectral=777, noise=False)
    shift, energy = ds["shift"].values, ds["energy"].values
    ref = CompositeModel(SPEC, shift, energy, fused=False)
    fused = CompositeModel(SPEC, shift, energy)
    p = _random_params(ref, 7, seed=8)
    w = np.gradient(shift)  # any quadrature weights
    areas, grads = fused._fused.term_integrals(p, w)
    for t, term in enumerate(ref.terms):
        f, cols = ref.term_columns(term, p, True)
        np.testing.assert_allclose(areas[:, t], f @ w, rtol=1e-11, atol=1e-11 * np.abs(f @ w).max())
        grad = np.zeros((p.shape[0], ref.n_free))
        for k, (kind, idx) in enumerate(term.slots):
            if kind == "free":
                grad[:, idx] += cols[k] @ w
        scale = np.abs(grad).max() + 1e-300
        np.testing.assert_allclose(grads[:, t, :] / scale, grad / scale, atol=1e-11)


def test_vector_exp_log_match_numpy():
    """The kernel's branch-free exp/expm1 and log (written out so that LLVM vectorises them) agree with NumPy to
    1–2 ulp over their whole range, and keep NaN, ±inf, 0 and subnormals as NumPy does (saturating past |x| > 708)."""
    from hyperspec._vector_math import exp_expm1 as _exp_expm1  # noqa: PLC0415
    from hyperspec._vector_math import log as _log  # noqa: PLC0415

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1e-9, 1e-9, 2000), rng.uniform(-0.5, 0.5, 4000), rng.uniform(-708, 708, 20000), [0.0, -0.0, 1.0]])
    e, m1, bits = np.empty_like(x), np.empty_like(x), np.empty(x.size, np.int64)
    _exp_expm1(x, e, m1, bits)
    assert np.max(np.abs(e - np.exp(x)) / np.spacing(np.exp(x))) <= 2.0
    assert np.max(np.abs(m1 - np.expm1(x)) / np.spacing(np.abs(np.expm1(x)))) <= 2.0
    special = np.array([np.nan, np.inf, -np.inf, 709.0, -709.0])
    e, m1, bits = np.empty(5), np.empty(5), np.empty(5, np.int64)
    _exp_expm1(special, e, m1, bits)
    np.testing.assert_array_equal(e, [np.nan, np.inf, 0.0, np.inf, 0.0])
    np.testing.assert_array_equal(m1, [np.nan, np.inf, -1.0, np.inf, -1.0])

    y = np.concatenate([np.exp(rng.uniform(-700, 700, 20000)), rng.uniform(0.999, 1.001, 4000), [1.0, 2.0, 5e-324, 1e-310]])
    out, b1, b2 = np.empty_like(y), np.empty(y.size, np.int64), np.empty(y.size, np.int64)
    _log(y, out, b1, b2)
    ref = np.log(y)
    assert np.max(np.abs(out - ref) / np.spacing(np.maximum(np.abs(ref), 1e-300))) <= 2.0
    special = np.array([0.0, -1.0, np.nan, np.inf])
    out, b1, b2 = np.empty(4), np.empty(4, np.int64), np.empty(4, np.int64)
    _log(special, out, b1, b2)
    np.testing.assert_array_equal(out, [-np.inf, np.nan, np.nan, np.inf])


@pytest.mark.parametrize("n_free", [1, 2, 3, 5, 34])
def test_register_tiled_gram_equals_matmul(n_free):
    """``_gram`` (4 × 2 register tiles over [J; r], channel blocks, each row's nonzero window) gives JᵀJ (both
    halves) and Jᵀr as a matmul does, for row counts that do not fill the last tile, a channel count that does not
    fill the last block, and rows zero outside windows of their own (one of them empty)."""
    from hyperspec.fit._fused_kernel import _gram  # noqa: PLC0415

    rng = np.random.default_rng(n_free)
    m = 1100
    rows = rng.normal(size=(n_free + 1, m))
    lo = rng.integers(0, m // 2, n_free + 1)
    hi = lo + rng.integers(1, m // 2, n_free + 1)
    lo[-1], hi[-1] = 0, m  # the residual's row is whole
    if n_free > 2:
        lo[1], hi[1] = 0, 0  # an empty row
    for k in range(n_free + 1):
        rows[k, : lo[k]] = 0.0
        rows[k, hi[k] :] = 0.0
    a, g = np.full((n_free, n_free), np.nan), np.full(n_free, np.nan)
    _gram(rows, n_free, a, g, lo.astype(np.int64), hi.astype(np.int64))
    np.testing.assert_allclose(a, rows[:n_free] @ rows[:n_free].T, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(g, rows[:n_free] @ rows[n_free], rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(a, a.T)
