"""The ``fit_curves`` framework: argument checks, fixed parameters, priors, start values, weights, masking,
Dask, user models and status codes. (The shipped models are tested in test_curve_models.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import hyperspec
from hyperspec import DataModelError
from hyperspec.fit.curves import (
    CURVE_STATUS_MEANINGS,
    CurveModel,
    curve_models,
    fit_curves,
    get_curve_model,
    register_curve_model,
    unregister_curve_model,
)
from hyperspec.fit.lm import FitStatus

scipy_optimize = pytest.importorskip("scipy.optimize")

T = np.linspace(0.0, 8.0, 30)


def _decays(n=6, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    amp = rng.uniform(20, 100, n)
    tau = rng.uniform(0.8, 3.0, n)
    off = rng.uniform(-2, 5, n)
    y0 = amp[:, None] * np.exp(-T[None, :] / tau[:, None]) + off[:, None]
    y = y0 + noise * rng.standard_normal(y0.shape)
    da = xr.DataArray(y, dims=("x", "t"), coords={"t": T, "x": np.arange(n) * 0.5})
    return da, np.stack([amp, tau, off], axis=1)


def _line_model(name="test_line", guess=None):
    def f(xp, x, p):
        return p[:, :1] + p[:, 1:2] * x[None, :]

    def j(xp, x, p):
        one = xp.ones((p.shape[0], x.shape[0]))
        return xp.stack([one, one * x[None, :]], axis=-1)

    return CurveModel(name, ("a", "b"), function=f, jacobian=j, guess=guess, equation="y = a + b·x", units={"a": "counts", "b": "counts/s"})


# ---- names and arguments -----------------------------------------------------------------------
def test_public_names_are_exported():
    assert hyperspec.fit_curves is fit_curves
    assert hyperspec.curve_models is curve_models
    assert hyperspec.register_curve_model is register_curve_model
    names = set(curve_models())
    assert {"power_law", "exp_decay", "biexp_decay", "onset_exp", "sinusoids", "varshni", "vsl_gain"} <= names
    assert {"gain_saturation", "multiphonon", "aspl_efficiency_ratio"} <= names
    for m in curve_models().values():
        assert m.equation and m.jacobian is not None and m.guess is not None


def test_unknown_model_lists_the_known_ones():
    da, _ = _decays()
    with pytest.raises(ValueError, match=r"unknown curve model 'exp_decy'\. Did you mean 'exp_decay'\? Known models: .*power_law"):
        fit_curves(da, "exp_decy", "t")
    with pytest.raises(ValueError, match="Known models: aspl_efficiency_ratio, biexp_decay"):
        get_curve_model("zzz")
    with pytest.raises(TypeError, match="registered name or a CurveModel"):
        fit_curves(da, 3, "t")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"p0": {"tua": 1.0}}, r"`p0` names 'tua'.*Did you mean 'tau'\?.*\['amplitude', 'tau', 'offset'\]"),
        ({"bounds": {"offest": (0, 1)}}, r"`bounds` names 'offest'.*Did you mean 'offset'"),
        ({"fixed": {"k": 1.0}}, r"`fixed` names 'k', not a parameter of 'exp_decay'"),
        ({"priors": {"amplitud": (1, 2)}}, r"`priors` names 'amplitud'.*Did you mean 'amplitude'"),
        ({"p0": [1.0, 2.0]}, "mapping of parameter name"),
        ({"bounds": {"tau": 3.0}}, r"`bounds\['tau'\]` must be a pair of numbers"),
        ({"bounds": {"tau": (np.nan, 1.0)}}, "NaN; use ±inf"),
        ({"bounds": {"tau": (2.0, 1.0)}}, r"lower bound above upper bound for \['tau'\]"),
        ({"priors": {"tau": (1.0, 0.0)}}, r"`priors\['tau'\]` sigma must be > 0"),
        ({"p0": {"tau": "abc"}}, r"`p0\['tau'\]` must be a number or a DataArray"),
        ({"fixed": {"tau": xr.DataArray([1.0] * 6, dims="x")}}, "per-pixel fixed values are not supported"),
        ({"fixed": {"amplitude": 1.0, "tau": 1.0, "offset": 0.0}}, "every parameter of 'exp_decay' is fixed"),
        ({"weights": "counts"}, "'poisson' or a DataArray"),
        ({"weights": np.ones(30)}, "xarray.DataArray of 1/σ²"),
        ({"max_iter": 0}, "`max_iter` must be a positive int"),
        ({"p0": {"tau": xr.DataArray([1.0, 2.0], dims="foo")}}, r"`p0\['tau'\]` has sizes \{'foo': 2\}.*pixel dims \{'x': 6\}"),
        ({"p0": {"tau": xr.DataArray([1.0, 2.0], dims="x")}}, r"`p0\['tau'\]` has sizes \{'x': 2\}"),
        ({"weights": xr.DataArray(np.ones(5), dims="t")}, r"`weights` has sizes \{'t': 5\}; it must be on the data's dims"),
        ({"weights": xr.DataArray(np.ones(3), dims="z")}, r"`weights` has sizes \{'z': 3\}"),
        ({"weights": xr.DataArray(-np.ones(30), dims="t")}, "`weights` must be ≥ 0"),
        ({"batch_size": 1.5}, "`batch_size` must be a positive int"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    da, _ = _decays()
    with pytest.raises((ValueError, TypeError), match=match):
        fit_curves(da, "exp_decay", "t", **kwargs)


def test_bad_series_dim_is_a_data_model_error():
    da, _ = _decays()
    with pytest.raises(DataModelError, match="no dim 'time'"):
        fit_curves(da, "exp_decay", "time")
    with pytest.raises(DataModelError):
        fit_curves(da.isel(t=slice(None, None, -1)), "exp_decay", "t")  # decreasing coordinate
    with pytest.raises(ValueError, match="needs 'power' > 0"):
        fit_curves(xr.DataArray([1.0, 2.0, 3.0], dims="power", coords={"power": [0.0, 1.0, 2.0]}), "power_law", "power")


# ---- against curve_fit: weights and their meaning ------------------------------------------------------
def _curve_fit_exp(y, sigma=None, absolute=False, fixed_offset=None):
    out, err = [], []
    for row, s in zip(y, [None] * len(y) if sigma is None else sigma, strict=True):
        if fixed_offset is None:
            f = lambda t, a, tau, c: a * np.exp(-t / tau) + c  # noqa: E731
            p0 = (50.0, 1.5, 0.0)
        else:
            f = lambda t, a, tau: a * np.exp(-t / tau) + fixed_offset  # noqa: E731
            p0 = (50.0, 1.5)
        p, c = scipy_optimize.curve_fit(f, T, row, p0=p0, sigma=s, absolute_sigma=absolute, ftol=1e-14, xtol=1e-14)
        out.append(p)
        err.append(np.sqrt(np.diag(c)))
    return np.array(out), np.array(err)


@pytest.mark.parametrize("weighting", ["uniform", "poisson", "array", "array-absolute"])
def test_weights_mean_what_curve_fit_means(weighting):
    da, _ = _decays(seed=1)
    sigma = None
    kwargs = {}
    if weighting == "poisson":
        kwargs["weights"] = "poisson"
        sigma = np.sqrt(np.maximum(da.values, 1.0))
    elif weighting.startswith("array"):
        s = 0.2 + 0.05 * T  # one σ per time point, broadcast to every pixel
        kwargs["weights"] = xr.DataArray(1 / s**2, dims="t")
        sigma = np.broadcast_to(s, da.shape)
        kwargs["absolute_weights"] = weighting.endswith("absolute")
    res = fit_curves(da, "exp_decay", "t", tol=1e-12, **kwargs)
    ref, ref_err = _curve_fit_exp(da.values, sigma, absolute=kwargs.get("absolute_weights", False))
    got = np.stack([res[p].values for p in ("amplitude", "tau", "offset")], axis=1)
    got_err = np.stack([res[f"{p}_stderr"].values for p in ("amplitude", "tau", "offset")], axis=1)
    assert (np.abs(got - ref) / ref_err).max() < 1e-4  # within 1e-4 σ
    np.testing.assert_allclose(got_err, ref_err, rtol=1e-4)
    assert res.attrs["weights"] == {"uniform": "uniform", "poisson": "poisson"}.get(weighting, "given (1/sigma^2)")


def test_absolute_weights_scale_the_errors_by_sqrt_chi2_red():
    da, _ = _decays(seed=2)
    w = xr.DataArray(np.full(T.size, 4.0), dims="t")
    rel = fit_curves(da, "exp_decay", "t", weights=w)
    ab = fit_curves(da, "exp_decay", "t", weights=w, absolute_weights=True)
    np.testing.assert_allclose(rel["tau"], ab["tau"], rtol=1e-12)
    np.testing.assert_allclose(rel["tau_stderr"], ab["tau_stderr"] * np.sqrt(rel["chi2_red"]), rtol=1e-9)
    assert ab.attrs["absolute_weights"] == 1


# ---- fixed, bounds, priors, start values ---------------------------------------------------------------------
def test_fixed_parameter_is_left_out_of_fit_dof_and_errors():
    da, truth = _decays(seed=3)
    res = fit_curves(da, "exp_decay", "t", fixed={"offset": 1.0}, covariance=True, tol=1e-12)
    ref, ref_err = _curve_fit_exp(da.values, fixed_offset=1.0)
    assert (np.abs(np.stack([res["amplitude"], res["tau"]], axis=1) - ref) / ref_err).max() < 1e-4
    np.testing.assert_allclose(np.stack([res["amplitude_stderr"], res["tau_stderr"]], axis=1), ref_err, rtol=1e-4)
    assert (res["offset"] == 1.0).all() and res["offset_stderr"].isnull().all()
    assert list(res["param"].values) == ["amplitude", "tau"] and res["covariance"].shape == (6, 2, 2)
    # χ²_red over n − 2 degrees of freedom
    fit = res["amplitude"].values[:, None] * np.exp(-T / res["tau"].values[:, None]) + 1.0
    np.testing.assert_allclose(res["chi2_red"], ((da.values - fit) ** 2).sum(axis=1) / (T.size - 2), rtol=1e-10)
    assert res.attrs["fixed"] == '{"offset": 1.0}'
    # a box of zero width is the same as fixed
    box = fit_curves(da, "exp_decay", "t", bounds={"offset": (1.0, 1.0)}, covariance=True, tol=1e-12)
    for v in ("amplitude", "tau", "amplitude_stderr", "tau_stderr", "chi2_red", "covariance"):
        np.testing.assert_allclose(box[v], res[v], rtol=1e-12)
    assert box["offset_stderr"].isnull().all()


def test_bounds_are_respected():
    da, _ = _decays(seed=4)
    res = fit_curves(da, "exp_decay", "t", bounds={"tau": (0.1, 1.0)})
    assert (res["tau"] <= 1.0).all() and (res["tau"] >= 0.1).all()
    assert np.isclose(res["tau"].values, 1.0).any()  # the truth lies above 1 for some pixels: they sit on the bound


def test_priors_are_the_gaussian_penalty():
    # a line with a Gaussian prior on the slope: the closed form of ridge regression toward the prior mean
    rng = np.random.default_rng(5)
    x = np.linspace(0, 1, 12)
    y = 2.0 + 3.0 * x + 0.3 * rng.standard_normal((4, x.size))
    da = xr.DataArray(y, dims=("px", "s"), coords={"s": x})
    mu, sig = 1.0, 0.2
    res = fit_curves(da, _line_model(), "s", priors={"b": (mu, sig)}, tol=1e-13)
    X = np.stack([np.ones_like(x), x], axis=1)
    A = X.T @ X + np.diag([0.0, 1 / sig**2])
    ref = np.linalg.solve(A, X.T @ y.T + np.array([[0.0], [mu / sig**2]])).T
    np.testing.assert_allclose(np.stack([res["a"], res["b"]], axis=1), ref, rtol=1e-9)
    assert (np.abs(res["b"] - mu) < np.abs(res["b"] - 3.0)).all()  # pulled toward the prior


def test_per_pixel_p0_selects_the_minimum():
    # y = a²·x has two minima, ±a: each pixel lands on the side its own start value is on
    def f(xp, x, p):
        return p[:, :1] ** 2 * x[None, :]

    def j(xp, x, p):
        return (2 * p[:, :1] * x[None, :])[:, :, None]

    m = CurveModel("test_square", ("a",), function=f, jacobian=j)
    x = np.linspace(0.1, 1.0, 8)
    da = xr.DataArray(np.broadcast_to(4.0 * x, (4, x.size)), dims=("px", "s"), coords={"s": x})
    start = xr.DataArray([1.0, -1.0, 3.0, -0.5], dims="px")
    res = fit_curves(da, m, "s", p0={"a": start})
    np.testing.assert_allclose(res["a"], [2.0, -2.0, 2.0, -2.0], rtol=1e-8)
    res = fit_curves(da, m, "s", p0={"a": -1.0})  # a number: every pixel
    np.testing.assert_allclose(res["a"], -2.0, rtol=1e-8)


def test_guess_gets_the_fixed_values():
    seen = {}

    def guess(xp, x, y, w, fixed):
        seen.update(fixed)
        return xp.stack([y[:, 0], xp.zeros(y.shape[0])], axis=1)

    x = np.linspace(0, 1, 5)
    da = xr.DataArray(np.stack([1 + x, 2 + x]), dims=("px", "s"), coords={"s": x})
    res = fit_curves(da, _line_model(guess=guess), "s", fixed={"b": 1.0})
    assert seen == {"b": 1.0}
    np.testing.assert_allclose(res["a"], [1.0, 2.0], rtol=1e-10)


# ---- masking and statuses -------------------------------------------------------------------------------------
def test_nan_points_are_masked_and_counted():
    da, _ = _decays(seed=6)
    holey = da.copy()
    holey[0, [3, 10, 11]] = np.nan
    holey[1, 5] = np.inf
    holey[2, :] = np.nan  # nothing left
    holey[3, 2:] = np.nan  # two points for three parameters
    res = fit_curves(holey, "exp_decay", "t")
    assert res["n_points"].values.tolist() == [27, 29, 0, 2, 30, 30]
    assert res["status"].values.tolist() == [0, 0, int(FitStatus.MASKED), int(FitStatus.MASKED), 0, 0]
    assert res["tau"][2:4].isnull().all()
    # a masked point is the same as a dropped one
    keep = np.isfinite(holey[0].values)
    alone = fit_curves(da[0:1, keep], "exp_decay", "t")
    np.testing.assert_allclose(res["tau"][0], alone["tau"][0], rtol=1e-10)
    np.testing.assert_allclose(res["tau_stderr"][0], alone["tau_stderr"][0], rtol=1e-8)


def test_status_codes():
    da, _ = _decays(seed=7)
    res = fit_curves(da, "exp_decay", "t", max_iter=1, p0={"tau": 1.2, "amplitude": 40.0})
    assert (res["status"] == int(FitStatus.MAX_ITER)).all() and (res["n_iter"] == 1).all()
    # two parameters the data cannot tell apart: singular, no errors
    redundant = CurveModel(
        "test_redundant", ("a", "b"), function=lambda xp, x, p: (p[:, :1] + p[:, 1:2]) + 0 * x[None, :],
        jacobian=lambda xp, x, p: xp.ones((p.shape[0], x.shape[0], 2)),
    )  # fmt: skip
    res = fit_curves(da, redundant, "t")
    assert (res["status"] == int(FitStatus.SINGULAR)).all() and res["a_stderr"].isnull().all()
    # a non-finite start value: not fitted
    res = fit_curves(da, "exp_decay", "t", p0={"tau": xr.DataArray([np.nan, 1, 1, 1, 1, 1.0], dims="x")})
    assert res["status"].values[0] == int(FitStatus.NONFINITE) and (res["status"].values[1:] == 0).all()
    st = res["status"]
    assert st.dtype == np.int8 and st.attrs["flag_meanings"].split() == [CURVE_STATUS_MEANINGS[k] for k in sorted(CURVE_STATUS_MEANINGS)]
    assert CURVE_STATUS_MEANINGS[int(FitStatus.CONVERGED)] == "converged"


# ---- Dask ------------------------------------------------------------------------------------------------------------
def test_dask_gives_the_same_result_lazily():
    pytest.importorskip("dask")
    da, _ = _decays(n=10, seed=8)
    da = da.expand_dims(y=[0.0, 1.0]).copy()
    da[1, 3, 4] = np.nan
    w = xr.DataArray(1 / (0.3 + 0.02 * T) ** 2, dims="t")
    p0 = {"tau": xr.DataArray(np.linspace(1, 2, 10), dims="x"), "offset": 0.0}
    ref = fit_curves(da, "exp_decay", "t", weights=w, p0=p0, covariance=True)
    lazy = fit_curves(da.chunk({"x": 3, "t": 10}), "exp_decay", "t", weights=w, p0=p0, covariance=True)
    assert lazy["tau"].chunks is not None
    out = lazy.compute()
    for v in ref.data_vars:
        np.testing.assert_array_equal(out[v].values, ref[v].values)
        assert out[v].dtype == ref[v].dtype
    assert out["tau"].dims == ("y", "x")


# ---- user models ---------------------------------------------------------------------------------------------------------
def test_user_model_round_trip():
    m = _line_model("test_user_line")
    try:
        assert register_curve_model(m) is m
        assert "test_user_line" in curve_models() and get_curve_model("test_user_line") is m
        with pytest.raises(ValueError, match="registered already; pass replace=True"):
            register_curve_model(m)
        register_curve_model(m, replace=True)
        x = np.linspace(0, 2, 6)
        da = xr.DataArray([1 + 2 * x, -x], dims=("px", "s"), coords={"s": x})
        res = fit_curves(da, "test_user_line", "s")  # no guess: defaults (1.0) as start values
        np.testing.assert_allclose(np.stack([res["a"], res["b"]], axis=1), [[1, 2], [0, -1]], atol=1e-10)
        assert res["a"].attrs["units"] == "counts" and res.attrs["equation"] == "y = a + b·x"
        assert res.attrs["curve_model"] == "test_user_line"
    finally:
        unregister_curve_model("test_user_line")
    assert "test_user_line" not in curve_models()
    with pytest.raises(TypeError, match="expected a CurveModel"):
        register_curve_model("line")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "two words"}, "without spaces"),
        ({"params": ("a", "a")}, "unique non-empty names"),
        ({"params": ("a", "status")}, "reserved for fit outputs"),
        ({"bounds": {"c": (0, 1)}}, r"`bounds` names unknown parameters \['c'\]"),
        ({"held": ("c",)}, r"`held` names unknown parameters \['c'\]"),
        ({"function": 3}, "must be callables"),
    ],
)
def test_model_declaration_errors(kwargs, match):
    base = dict(name="test_bad", params=("a", "b"), function=lambda xp, x, p: p[:, :1] + 0 * x)
    with pytest.raises((ValueError, TypeError), match=match):
        CurveModel(**{**base, **kwargs})


def test_held_parameters_must_be_fixed():
    m = CurveModel("test_held", ("a", "b"), function=lambda xp, x, p: p[:, :1] + p[:, 1:2] * x, held=("b",), units={"b": "K"})
    da = xr.DataArray(np.ones((2, 4)), dims=("px", "s"), coords={"s": np.arange(4.0)})
    with pytest.raises(ValueError, match=r"needs fixed values for \['b'\].*fixed=\{'b': <value>\} in b \(K\)"):
        fit_curves(da, m, "s")
    res = fit_curves(da, m, "s", fixed={"b": 0.0})
    np.testing.assert_allclose(res["a"], 1.0)


def test_device_backed_data_and_weights_are_checked_and_fitted_on_the_device(fake_cupy):
    """CuPy-backed data and weights (fake device): the weights' sign is checked there, not by an implicit host copy."""
    import cupy

    p = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    y = np.outer([2.0, 3.0], p**1.5)
    da = xr.DataArray(cupy.asarray(y), dims=("x", "power"), coords={"power": p})
    w = xr.DataArray(cupy.asarray(np.ones_like(y)), dims=("x", "power"), coords={"power": p})
    res = fit_curves(da, "power_law", "power", weights=w)
    k = res["k"].data
    assert hasattr(k, "get") and np.allclose(k.get(), 1.5)  # results stay on the device, exact on noiseless data
    with pytest.raises(ValueError, match="must be ≥ 0"):
        fit_curves(da, "power_law", "power", weights=-w)
