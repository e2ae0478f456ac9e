"""One engine for every per-pixel curve: ``fit_curves`` and the registry of curve models.

A *curve model* is data: its parameters, its function and analytic Jacobian written once against
``xp`` (NumPy or CuPy), start values from the data, default bounds and units — a :class:`CurveModel`.
:func:`fit_curves` fits one to every pixel of a DataArray along one dim (``t``, ``power``,
``temperature``, …) through the batched Levenberg–Marquardt engine of the decomposition
(:func:`hyperspec.fit.lm.levenberg_marquardt`: bounds, priors, weights, covariance and per-pixel
statuses; nothing re-implemented), in memory or chunk by chunk on Dask.

The models shipped are registered in :mod:`hyperspec.fit.curve_models`; users add their own with
:func:`register_curve_model`, and :func:`curve_models` lists them all.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, get_namespace
from hyperspec.fit.lm import FitStatus, bound_hits, first_at_bound, levenberg_marquardt
from hyperspec.fit.results import AT_BOUND, STATUS_MEANINGS, at_bound_attrs

__all__ = [
    "CurveModel",
    "register_curve_model",
    "unregister_curve_model",
    "get_curve_model",
    "curve_models",
    "fit_curves",
    "CURVE_STATUS_MEANINGS",
]

#: Status codes of ``fit_curves`` as stored in ``status``'s attrs: the engine's ``FitStatus`` and ``at_bound`` (9, a
#: converged fit with a free parameter on a bound; which one: ``at_bound``), the codes and names of ``decompose``.
CURVE_STATUS_MEANINGS = {**{int(s): s.name.lower() for s in FitStatus}, AT_BOUND: STATUS_MEANINGS[AT_BOUND]}


@dataclass(frozen=True)
class CurveModel:
    """A per-pixel curve model: ``y = function(x, p)`` with its Jacobian, start values, bounds and units.

    Parameters
    ----------
    name : str
        Registry name (``"power_law"``); lower case, no spaces.
    params : tuple of str
        Parameter names, in the order of the columns of ``p``; they become the output variables of
        :func:`fit_curves`, so avoid ``status``, ``chi2_red``, ``n_iter``, ``n_points``, ``at_bound``,
        ``n_at_bound``.
    function : callable
        ``function(xp, x, p)`` → (k, m): ``x`` the shared abscissa (m,) float64, ``p`` (k, P) float64,
        on ``xp`` (NumPy or CuPy). Batched over rows; no Python loop over rows.
    jacobian : callable, optional
        ``jacobian(xp, x, p)`` → (k, m, P), analytic. None: complex step (``function`` must then be
        complex-safe). Every shipped model has an analytic one, checked against finite differences.
    guess : callable, optional
        ``guess(xp, x, y, w)`` → (n, P) start values from the data ``y`` (n, m) (0 where ``w`` is 0) and
        the weights ``w`` (n, m) (0 at masked points). None: ``defaults`` for every row.
    defaults : mapping, optional
        Fallback start value per parameter (used where ``guess`` is None or returns NaN). Missing: 1.0.
    bounds : mapping, optional
        Default ``(lower, upper)`` per parameter; missing ones are unbounded.
    units : mapping, optional
        Units per parameter (``"s"``, ``"meV"``, ``""``), stored in the outputs' attrs.
    x_units : str, optional
        Units the abscissa is expected in (``"s"``, ``"mW"``, ``"K"``, ``"meV"``), for docs and attrs.
    equation : str, optional
        The model as a formula, for ``hyperspec curves`` and the outputs' attrs.
    description : str, optional
        One line on what it is for.
    held : tuple of str, optional
        Parameters the data along ``x`` cannot determine together with the others (the temperature of
        ``multiphonon``, the gap of ``aspl_efficiency_ratio``): :func:`fit_curves` asks for their values in
        ``fixed``. To free one anyway, register a copy: ``dataclasses.replace(model, held=())``.
    x_positive : bool, optional
        The model needs x > 0 (a logarithm or a square root of x): :func:`fit_curves` checks it up front.
        Default False.
    canonical : callable, optional
        ``canonical(xp, p)`` → int (n, P): a per-row permutation of the parameters that puts equivalent
        solutions in one order (``biexp_decay``: tau1 < tau2); :func:`fit_curves` applies it to the
        parameters, standard errors and covariance (rows where it would move a fixed parameter keep
        their order).

    Examples
    --------
    >>> import numpy as np
    >>> line = CurveModel(
    ...     "line2", ("a", "b"),
    ...     function=lambda xp, x, p: p[:, :1] + p[:, 1:2] * x,
    ...     jacobian=lambda xp, x, p: xp.stack(xp.broadcast_arrays(xp.ones_like(p[:, :1] * x), p[:, :1] * 0 + x), axis=-1),
    ...     equation="y = a + b·x",
    ... )
    >>> line.function(np, np.array([0.0, 1.0]), np.array([[1.0, 2.0]]))
    array([[1., 3.]])
    """

    name: str
    params: tuple[str, ...]
    function: Callable
    jacobian: Callable | None = None
    guess: Callable | None = None
    defaults: Mapping[str, float] = field(default_factory=dict)
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    x_units: str = ""
    equation: str = ""
    description: str = ""
    held: tuple[str, ...] = ()
    x_positive: bool = False
    canonical: Callable | None = None

    def __post_init__(self):
        """Check the declaration (names, unique parameters, known keys in the mappings)."""
        if not isinstance(self.name, str) or not self.name or " " in self.name:
            raise ValueError(f"CurveModel: `name` must be a non-empty string without spaces; got {self.name!r}.")
        params = tuple(self.params)
        object.__setattr__(self, "params", params)
        if not params or len(set(params)) != len(params) or not all(isinstance(p, str) and p for p in params):
            raise ValueError(f"CurveModel {self.name!r}: `params` must be unique non-empty names; got {params!r}.")
        reserved = {"status", "chi2_red", "n_iter", "n_points", "at_bound", "n_at_bound"} & set(params)
        if reserved:
            raise ValueError(f"CurveModel {self.name!r}: parameter names {sorted(reserved)} are reserved for fit outputs.")
        object.__setattr__(self, "held", tuple(self.held))
        for what in ("defaults", "bounds", "units", "held"):
            unknown = set(getattr(self, what)) - set(params)
            if unknown:
                raise ValueError(
                    f"CurveModel {self.name!r}: `{what}` names unknown parameters {sorted(unknown)}; the parameters are {list(params)}."
                )
        if not callable(self.function) or any(f is not None and not callable(f) for f in (self.jacobian, self.guess, self.canonical)):
            raise TypeError(f"CurveModel {self.name!r}: `function` (and `jacobian`, `guess`, `canonical`, when given) must be callables.")

    def start(self, xp, x, y, w, fixed=None):
        """Start values for rows ``y`` (n, m): ``guess`` where finite, else ``defaults`` (else 1.0).

        Parameters
        ----------
        xp : module
            ``numpy`` or ``cupy``.
        x : array, shape (m,)
            The abscissa.
        y : array, shape (n, m)
            The data, 0 at masked points.
        w : array, shape (n, m)
            The weights, 0 at masked points.
        fixed : mapping, optional
            Values of the parameters held fixed, by name (passed on to a ``guess`` that takes a
            ``fixed`` keyword, e.g. one that needs the temperature to place the others).

        Returns
        -------
        array, shape (n, P)
            float64 start values (fixed parameters not yet filled in).

        Examples
        --------
        >>> import numpy as np
        >>> m = CurveModel("c", ("a",), function=lambda xp, x, p: p[:, :1] + 0 * x, defaults={"a": 2.0})
        >>> m.start(np, np.zeros(3), np.zeros((1, 3)), np.ones((1, 3)))
        array([[2.]])
        """
        fallback = xp.asarray([float(self.defaults.get(p, 1.0)) for p in self.params], dtype=xp.float64)
        n = y.shape[0]
        if self.guess is None:
            return xp.broadcast_to(fallback, (n, len(self.params))).copy()
        kwargs = {"fixed": dict(fixed or {})} if "fixed" in inspect.signature(self.guess).parameters else {}
        p0 = xp.asarray(self.guess(xp, x, y, w, **kwargs), dtype=xp.float64).reshape(n, len(self.params))
        return xp.where(xp.isfinite(p0), p0, fallback[None, :])


_REGISTRY: dict[str, CurveModel] = {}


def register_curve_model(model: CurveModel, *, replace: bool = False) -> CurveModel:
    """Add a curve model to the registry (``fit_curves(da, "<name>", …)`` then finds it).

    Parameters
    ----------
    model : CurveModel
        The model.
    replace : bool, optional
        Allow replacing a registered model of the same name. Default False.

    Returns
    -------
    CurveModel
        ``model`` (so the call can be used as an expression).

    Raises
    ------
    TypeError
        ``model`` is not a ``CurveModel``.
    ValueError
        The name is taken and ``replace`` is False.

    Examples
    --------
    >>> m = CurveModel("demo_const", ("c",), function=lambda xp, x, p: p[:, :1] + 0 * x)
    >>> register_curve_model(m).name in curve_models()
    True
    >>> unregister_curve_model("demo_const")
    """
    if not isinstance(model, CurveModel):
        raise TypeError(f"register_curve_model: expected a CurveModel; got {type(model).__name__}.")
    if model.name in _REGISTRY and not replace:
        raise ValueError(f"a curve model named {model.name!r} is registered already; pass replace=True to replace it.")
    _REGISTRY[model.name] = model
    return model


def unregister_curve_model(name: str) -> None:
    """Remove a curve model from the registry (no error when it is not there).

    Parameters
    ----------
    name : str
        The model's name.

    Examples
    --------
    >>> unregister_curve_model("no-such-model")
    """
    _REGISTRY.pop(name, None)


def _load_builtin() -> None:
    import hyperspec.fit.curve_models  # noqa: F401, PLC0415  (registers the shipped models; imports this module)


def curve_models() -> dict[str, CurveModel]:
    """Every registered curve model, by name (sorted).

    Returns
    -------
    dict of str to CurveModel
        A copy; editing it does not change the registry.

    Examples
    --------
    >>> "power_law" in curve_models()
    True
    """
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


def get_curve_model(model: str | CurveModel) -> CurveModel:
    """The registered model named ``model`` (a ``CurveModel`` passes through).

    Parameters
    ----------
    model : str or CurveModel
        A registry name or a model.

    Returns
    -------
    CurveModel
        The model.

    Raises
    ------
    ValueError
        Unknown name: the message lists the known ones (and the closest match).
    TypeError
        Neither a string nor a ``CurveModel``.

    Examples
    --------
    >>> get_curve_model("power_law").params
    ('amplitude', 'k')
    """
    if isinstance(model, CurveModel):
        return model
    if not isinstance(model, str):
        raise TypeError(f"fit_curves: `model` must be a registered name or a CurveModel; got {type(model).__name__}.")
    _load_builtin()
    if model not in _REGISTRY:
        close = difflib.get_close_matches(model, list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown curve model {model!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))} (hyperspec.curve_models()).")
    return _REGISTRY[model]


def _param_values(arg, name: str, model: CurveModel, *, pairs: bool = False) -> dict[str, Any]:
    """Check a per-parameter mapping argument (``p0``, ``bounds``, ``fixed``, ``priors``)."""
    if arg is None:
        return {}
    if not isinstance(arg, Mapping):
        raise TypeError(f"fit_curves: `{name}` must be a mapping of parameter name → value; got {type(arg).__name__}.")
    out = {}
    for key, value in arg.items():
        if key not in model.params:
            close = difflib.get_close_matches(str(key), model.params, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"fit_curves: `{name}` names {key!r}, not a parameter of {model.name!r}.{hint} Its parameters: {list(model.params)}."
            )
        if pairs:
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"fit_curves: `{name}[{key!r}]` must be a pair of numbers; got {value!r}.") from None
            if np.isnan(lo) or np.isnan(hi):
                raise ValueError(f"fit_curves: `{name}[{key!r}]` has NaN; use ±inf for no bound.")
            out[key] = (lo, hi)
        elif isinstance(value, xr.DataArray):
            out[key] = value
        else:
            try:
                out[key] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"fit_curves: `{name}[{key!r}]` must be a number or a DataArray; got {value!r}.") from None
    return out


def _canonical_order(xp, cm: CurveModel, params, stderr, cov, free, fixed_idx):
    """Apply the model's per-row parameter permutation to parameters, standard errors and covariance."""
    n, P = params.shape
    ident = xp.broadcast_to(xp.arange(P), (n, P))
    safe = xp.where(xp.isfinite(params), params, 1.0)
    perm = xp.asarray(cm.canonical(xp, safe), dtype=xp.int64).reshape(n, P)
    ok = xp.all(xp.sort(perm, axis=1) == ident, axis=1) & xp.all(xp.isfinite(params), axis=1)
    if fixed_idx:
        fi = xp.asarray(fixed_idx)
        ok &= xp.all(perm[:, fi] == fi[None, :], axis=1)
    perm = xp.where(ok[:, None], perm, ident)
    params = xp.take_along_axis(params, perm, axis=1)
    stderr = xp.take_along_axis(stderr, perm, axis=1)
    fidx = xp.asarray(free)
    full = xp.full((n, P, P), xp.nan)
    full[:, fidx[:, None], fidx[None, :]] = cov
    full = xp.take_along_axis(full, perm[:, :, None], axis=1)
    full = xp.take_along_axis(full, perm[:, None, :], axis=2)
    return params, stderr, full[:, fidx[:, None], fidx[None, :]]


def fit_curves(
    da: xr.DataArray,
    model: str | CurveModel,
    dim: str,
    *,
    p0: Mapping[str, float | xr.DataArray] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    priors: Mapping[str, tuple[float, float]] | None = None,
    weights: str | xr.DataArray | None = None,
    absolute_weights: bool = False,
    covariance: bool = False,
    max_iter: int = 200,
    tol: float = 1e-10,
    batch_size: int = 4096,
    backend: str | Backend | None = None,
) -> xr.Dataset:
    """Fit a curve model to every pixel of ``da`` along ``dim`` with the batched LM engine.

    Parameters
    ----------
    da : xarray.DataArray
        The data, with ``dim`` (whose coordinate is the abscissa ``x``) and any pixel dims. NaN or inf
        points are masked (weight 0) and counted in ``n_points``. Lazy (Dask) input gives lazy output.
    model : str or CurveModel
        A registered name (``hyperspec.curve_models()``) or a model.
    dim : str
        The dim to fit along.
    p0 : mapping, optional
        Start values per parameter: a number (all pixels) or a DataArray on the pixel dims. Others come
        from the model's ``guess`` from the data.
    bounds : mapping, optional
        ``(lower, upper)`` per parameter, replacing the model's defaults (±inf: unbounded), one pair for
        every pixel. A pair with ``lower == upper`` holds the parameter there, exactly like ``fixed``.
    fixed : mapping, optional
        Parameters held at the given value (a number, the same for every pixel; per-pixel values are not
        supported): they are left out of the fit, the degrees of freedom and the covariance, and reported
        with NaN stderr. Models with ``held`` parameters (``multiphonon``'s temperature) need them here.
    priors : mapping, optional
        ``(mean, sigma)`` per parameter: a Gaussian prior (Tikhonov penalty ((p − mean)/sigma)²).
    weights : {"poisson", None} or DataArray, optional
        Per-point weights 1/σ²: None (uniform, the default, like ``curve_fit`` without ``sigma``),
        ``"poisson"`` (1/max(y, 1), counts) or a DataArray broadcastable to ``da`` (e.g. ``1 / stderr**2``).
    absolute_weights : bool, optional
        Weights are exact 1/σ²: do not rescale the covariance by χ²_red (``curve_fit(absolute_sigma=True)``).
        Default False.
    covariance : bool, optional
        Also return ``covariance`` on ``(..., "param", "param_")`` over the free parameters. Default False.
    max_iter : int, optional
        LM iterations per pixel. Default 200.
    tol : float, optional
        Convergence tolerance of the engine: relative Gauss–Newton step and scaled gradient below ``tol``,
        or predicted χ² decrease below ``tol``/100 of χ². Default 1e-10.
    batch_size : int, optional
        Pixels fitted together (bounds the Jacobian's memory, batch × points × parameters). Default 4096.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where the numerics run. Default None: ``$HYPERSPEC_BACKEND``, else ``"auto"`` (CuPy when a GPU is usable);
        CuPy-backed data stay on the device.

    Returns
    -------
    xarray.Dataset
        On the pixel dims: each parameter (units in attrs) and ``<param>_stderr``; ``chi2_red``,
        ``status`` (int8, ``CURVE_STATUS_MEANINGS``: ``FitStatus`` codes and 9 ``at_bound``, CF
        ``flag_values``/``flag_meanings``), ``n_iter``, ``n_points`` (points used), ``at_bound`` (int16:
        ±k, the 1-based index into ``attrs["at_bound_params"]`` of the first free parameter at its upper
        (+) or lower (−) bound, 0 none) and ``n_at_bound``; ``covariance`` when asked. Attrs name the model, its equation, the
        dim, the fixed parameters and the weighting.

    Raises
    ------
    hyperspec.DataModelError
        ``dim`` is missing or its coordinate is not numeric, finite and strictly increasing.
    ValueError
        Unknown model (the known ones are listed) or parameter names in ``p0``/``bounds``/``fixed``/
        ``priors``; bad bounds, weights or sizes; a ``held`` parameter of the model missing from
        ``fixed``; x ≤ 0 for a model that needs x > 0.
    TypeError
        ``model`` is neither a name nor a ``CurveModel``, or a mapping argument is not a mapping.

    Examples
    --------
    Two pixels of ``I = A·Pᵏ`` (k = 1 and 2) over five pump powers (mW):

    >>> import numpy as np, xarray as xr
    >>> power = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    >>> da = xr.DataArray([3.0 * power, 3.0 * power**2], dims=("x", "power"), coords={"power": power})
    >>> res = fit_curves(da, "power_law", "power")
    >>> res["k"].values.round(6).tolist(), res["status"].values.tolist()
    ([1.0, 2.0], [0, 0])
    """
    # imported here: hyperspec.kinetics' modules fit curves with this one (an import cycle at the top)
    from hyperspec.kinetics._traces import apply_series, series_axis  # noqa: PLC0415

    cm = get_curve_model(model)
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"fit_curves: `max_iter` must be a positive int; got {max_iter!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"fit_curves: `batch_size` must be a positive int; got {batch_size!r}.")
    x_host = series_axis(da, dim, func="fit_curves", uniform=False, min_points=1, units=cm.x_units or "its units")
    starts = _param_values(p0, "p0", cm)
    box = _param_values(bounds, "bounds", cm, pairs=True)
    held = _param_values(fixed, "fixed", cm)
    prior_args = _param_values(priors, "priors", cm, pairs=True)
    if any(isinstance(v, xr.DataArray) for v in held.values()):
        raise ValueError(
            "fit_curves: `fixed` values must be numbers, one value for every pixel; per-pixel fixed values are not "
            "supported (fit the pixel groups that share a value separately)."
        )
    for key, (_, sigma) in prior_args.items():
        if not sigma > 0:
            raise ValueError(f"fit_curves: `priors[{key!r}]` sigma must be > 0; got {sigma}.")
    for key, (lo, hi) in box.items():
        if lo == hi and key not in held:
            held[key] = lo  # a box of zero width is a fixed parameter (not a free one with zero room)
    missing = [p for p in cm.held if p not in held]
    if missing:
        units = ", ".join(f"{p} ({cm.units.get(p, '')})" for p in missing)
        raise ValueError(
            f"fit_curves: model {cm.name!r} needs fixed values for {missing}: the data along {dim!r} cannot determine "
            f"them together with the other parameters. Pass fixed={{{', '.join(repr(p) + ': <value>' for p in missing)}}} "
            f"in {units}."
        )
    if cm.x_positive and not np.all(x_host > 0):
        raise ValueError(
            f"fit_curves: model {cm.name!r} needs {dim!r} > 0 (it takes a log or a root of x); the coordinate has "
            f"min {float(np.min(x_host))!r}. Select the positive points, e.g. da.sel({dim}=da[{dim!r}] > 0)."
        )
    P = len(cm.params)
    free = [i for i, p in enumerate(cm.params) if p not in held]
    if not free:
        raise ValueError(f"fit_curves: every parameter of {cm.name!r} is fixed; nothing to fit.")
    lower = np.array([cm.bounds.get(p, (-np.inf, np.inf))[0] for p in cm.params], dtype=np.float64)
    upper = np.array([cm.bounds.get(p, (-np.inf, np.inf))[1] for p in cm.params], dtype=np.float64)
    for key, (lo, hi) in box.items():
        i = cm.params.index(key)
        lower[i], upper[i] = lo, hi
    bad = [cm.params[i] for i in free if lower[i] > upper[i]]
    if bad:
        raise ValueError(f"fit_curves: lower bound above upper bound for {bad}.")
    mu = np.zeros(P)
    sig = np.full(P, np.inf)
    for key, (m_, s_) in prior_args.items():
        mu[cm.params.index(key)], sig[cm.params.index(key)] = m_, s_
    fixed_idx = [cm.params.index(k) for k in held]
    fixed_val = np.array([held[k] for k in held], dtype=np.float64)
    pixel_sizes = {d: n for d, n in da.sizes.items() if d != dim}
    for key, v in starts.items():
        if isinstance(v, xr.DataArray) and (set(v.dims) - set(pixel_sizes) or any(v.sizes[d] != pixel_sizes[d] for d in v.dims)):
            raise ValueError(
                f"fit_curves: `p0[{key!r}]` has sizes {dict(v.sizes)}; a per-pixel start value must be on the data's pixel "
                f"dims {pixel_sizes} (or a subset of them), or a number."
            )
    scalar_p0 = {k: v for k, v in starts.items() if not isinstance(v, xr.DataArray)}
    array_p0 = [k for k, v in starts.items() if isinstance(v, xr.DataArray)]

    if isinstance(weights, str):
        if weights != "poisson":
            raise ValueError(f"fit_curves: `weights` must be None, 'poisson' or a DataArray of 1/σ²; got {weights!r}.")
        weight_da = None
    elif weights is None:
        weight_da = None
    elif isinstance(weights, xr.DataArray):
        if set(weights.dims) - set(da.dims) or any(weights.sizes[d] != da.sizes[d] for d in weights.dims):
            raise ValueError(
                f"fit_curves: `weights` has sizes {dict(weights.sizes)}; it must be on the data's dims {dict(da.sizes)} "
                f"(or a subset of them, e.g. one weight per {dim!r} point)."
            )
        if weights.chunks is None and bool(get_namespace(weights.data).any(weights.data < 0)):  # on the device for CuPy data
            raise ValueError("fit_curves: `weights` must be ≥ 0 (1/σ²; 0 or NaN masks a point).")
        if dim not in weights.dims:
            weights = weights.expand_dims({dim: da.sizes[dim]})
        weight_da = weights.broadcast_like(da).assign_coords({dim: da[dim]})
    else:
        raise ValueError("fit_curves: `weights` must be None, 'poisson' or an xarray.DataArray of 1/σ² (broadcastable to the data).")

    others = []
    if weight_da is not None:
        others.append(weight_da)
    if array_p0:
        pixel = da.isel({dim: 0}, drop=True)
        stack = xr.concat([starts[k].broadcast_like(pixel) for k in array_p0], dim="_p0").transpose(..., "_p0")
        others.append((stack, ("_p0",)))
    n_free = len(free)
    bounded = [i for i in free if (np.isfinite(lower[i]) or np.isfinite(upper[i])) and upper[i] > lower[i]]

    def kernel(xp, y, *rest):
        shape = y.shape[:-1]
        m = y.shape[-1]
        y = xp.asarray(y, dtype=xp.float64).reshape(-1, m)
        n = y.shape[0]
        rest = list(rest)
        if weight_da is not None:
            w = xp.broadcast_to(xp.asarray(rest.pop(0), dtype=xp.float64).reshape(-1, m), (n, m))
        elif weights == "poisson":
            w = 1.0 / xp.maximum(y, 1.0)
        else:
            w = xp.ones((n, m))
        pblock = rest.pop(0).reshape(n, -1) if array_p0 else None
        x = xp.asarray(x_host)
        ok = xp.isfinite(y) & xp.isfinite(w) & (w > 0)
        w = xp.where(ok, w, 0.0)
        y = xp.where(ok, y, 0.0)
        full0 = cm.start(xp, x, y, w, fixed=held)
        for k, v in scalar_p0.items():
            full0[:, cm.params.index(k)] = v
        for j, k in enumerate(array_p0):
            full0[:, cm.params.index(k)] = pblock[:, j]
        for i, v in zip(fixed_idx, fixed_val, strict=True):
            full0[:, i] = v
        lo, hi = xp.asarray(lower), xp.asarray(upper)
        full0 = xp.clip(full0, lo, hi)
        fixed_row = xp.asarray(fixed_val)
        free_idx = xp.asarray(free)

        def expand(pf):
            full = xp.empty((pf.shape[0], P), dtype=pf.dtype)
            full[:, free_idx] = pf
            if fixed_idx:
                full[:, xp.asarray(fixed_idx)] = fixed_row.astype(pf.dtype)[None, :]
            return full

        def f(xx, pf):
            return cm.function(xp, xx, expand(pf))

        jac = (lambda xx, pf: cm.jacobian(xp, xx, expand(pf))[:, :, free_idx]) if cm.jacobian is not None else "complex-step"
        prior = None
        if np.isfinite(sig).any():
            prior = (xp.asarray(mu[free]), xp.asarray(sig[free]))
        params = xp.full((n, P), xp.nan)
        stderr = xp.full((n, P), xp.nan)
        cov = xp.full((n, n_free, n_free), xp.nan)
        chi2_red = xp.full(n, xp.nan)
        status = xp.full(n, int(FitStatus.MASKED), dtype=xp.int8)
        n_iter = xp.zeros(n, dtype=xp.int32)
        for s in range(0, n, batch_size):
            sl = slice(s, min(n, s + batch_size))
            res = levenberg_marquardt(
                f, x, y[sl], full0[sl][:, free_idx], jacobian=jac, weights=w[sl],
                bounds=(lo[free_idx], hi[free_idx]), prior=prior, absolute_weights=absolute_weights,
                max_iter=max_iter, xtol=tol, ftol=tol * 1e-2, gtol=tol,
            )  # fmt: skip
            params[sl] = expand(res.params)
            stderr[sl, free_idx] = res.stderr
            cov[sl] = res.covariance
            chi2_red[sl], status[sl], n_iter[sl] = res.chi2_red, res.status, res.n_iter
        if cm.canonical is not None:
            params, stderr, cov = _canonical_order(xp, cm, params, stderr, cov, free, fixed_idx)
        if bounded:  # a converged fit with a parameter on its bound is at_bound (as in decompose)
            b_idx = xp.asarray(bounded)
            first, count = first_at_bound(bound_hits(params[:, b_idx], lo[b_idx], hi[b_idx]))
        else:
            first = count = xp.zeros(n, dtype=xp.int16)
        status = xp.where((status == int(FitStatus.CONVERGED)) & (count > 0), AT_BOUND, status).astype(xp.int8)
        n_points = (w > 0).sum(axis=1)
        outs = [params[:, i].reshape(shape) for i in range(P)] + [stderr[:, i].reshape(shape) for i in range(P)]
        outs += [chi2_red.reshape(shape), status.astype(xp.float64).reshape(shape), n_iter.astype(xp.float64).reshape(shape)]
        outs += [n_points.astype(xp.float64).reshape(shape)]
        outs += [first.astype(xp.float64).reshape(shape), count.astype(xp.float64).reshape(shape)]
        if covariance:
            outs.append(cov.reshape(*shape, n_free, n_free))
        return tuple(outs)

    names = [(p, (), {}) for p in cm.params] + [(f"{p}_stderr", (), {}) for p in cm.params]
    names += [("chi2_red", (), {}), ("status", (), {}), ("n_iter", (), {}), ("n_points", (), {})]
    names += [("at_bound", (), {}), ("n_at_bound", (), {})]
    if covariance:
        names.append(("covariance", ("param", "param_"), {"param": n_free, "param_": n_free}))
    outs = apply_series(kernel, da, dim, names, others=others, backend=backend)
    ds = xr.Dataset()
    for (name, _, _), out in zip(names, outs, strict=True):
        ds[name] = out
    for p in cm.params:
        units = cm.units.get(p, "") or "1"  # CF: "1" for a dimensionless parameter
        ds[p].attrs = {"units": units, "long_name": f"{cm.name} {p}"}
        ds[f"{p}_stderr"].attrs = {"units": units, "long_name": f"standard error of {p}"}
    ds["chi2_red"].attrs = {"long_name": "reduced chi-square (weighted)", "units": "1"}
    ds["status"] = ds["status"].astype(np.int8)
    ds["status"].attrs = {
        "long_name": "fit status",
        "flag_values": np.array(sorted(CURVE_STATUS_MEANINGS), dtype=np.int8),
        "flag_meanings": " ".join(CURVE_STATUS_MEANINGS[k] for k in sorted(CURVE_STATUS_MEANINGS)),
    }
    ds["n_iter"] = ds["n_iter"].astype(np.int32).assign_attrs(long_name="Levenberg-Marquardt iterations", units="1")
    ds["n_points"] = ds["n_points"].astype(np.int32).assign_attrs(long_name=f"finite, weighted points along {dim!r}", units="1")
    ab_attrs, nab_attrs = at_bound_attrs([cm.params[i] for i in bounded])
    ab_attrs["comment"] = ab_attrs["comment"].split(" Absent bands")[0]  # curves have no bands
    ds["at_bound"] = ds["at_bound"].astype(np.int16).assign_attrs(ab_attrs)
    ds["n_at_bound"] = ds["n_at_bound"].astype(np.int16).assign_attrs(nab_attrs)
    if covariance:
        names_free = [cm.params[i] for i in free]
        ds = ds.assign_coords(param=("param", names_free), param_=("param_", names_free))
    ds.attrs = {
        "curve_model": cm.name,
        "equation": cm.equation,
        "dim": dim,
        "x_units": cm.x_units,
        "fixed": json.dumps(held),
        "weights": "uniform" if weights is None else ("poisson" if isinstance(weights, str) else "given (1/sigma^2)"),
        "absolute_weights": int(bool(absolute_weights)),
        "status_codes": json.dumps(CURVE_STATUS_MEANINGS),
        "at_bound_params": ab_attrs["at_bound_params"],
    }
    return ds
