"""Pipeline steps: one declared record per step, read by everything that runs or describes steps.

A step is a function ``f(ds, **params) -> ds`` on a map Dataset plus one :class:`Step` record (made
by :func:`register_step`) that says how the pipeline runs it: on each chunk or on the whole map,
with how many rows of neighbours (its halo), how much working memory per spectral channel, which
parameters name files, and which variables it adds to a run's results. The recipe schema is the
function's signature: parameter names, types and defaults come from ``inspect.signature`` and
``typing.get_type_hints``, so they cannot drift from the code. A step whose recipe form differs from
the library function (a lamp *file* rather than a calibration Dataset, a baseline ``method`` plus
its parameters) is registered with a small adapter whose signature is the recipe schema.

Readers of the registry: recipe validation (``hyperspec.pipeline.recipe``), the chunked runner,
halo and memory sizing and the results template (``hyperspec.pipeline.run``), ``hyperspec
preprocess`` (``hyperspec.cli``), the README's step table (``hyperspec steps --markdown``) and
:func:`describe_steps` (JSON for user interfaces).
"""

from __future__ import annotations

import difflib
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hyperspec import preprocess
from hyperspec._errors import RecipeError

__all__ = [
    "Step",
    "Param",
    "Range",
    "POSITIVE",
    "NON_NEGATIVE",
    "AT_LEAST_ONE",
    "FRACTION",
    "ANY_NUMBER",
    "check_value",
    "Output",
    "PIXELS",
    "STEP_REGISTRY",
    "register_step",
    "unregister_step",
    "get_step",
    "steps",
    "apply_step",
    "apply_steps",
    "validate_step",
    "step_outputs",
    "decompose_outputs",
    "describe_steps",
    "markdown_table",
]

#: Stands, in :attr:`Output.dims`, for the map's pixel dims (every dim of ``spectra`` but ``spectral``).
PIXELS = "<pixels>"

#: Working memory per spectral channel of a pixel (bytes) of a step that declares none: four float64
#: copies of the spectra, which is also what the decomposition's Jacobian needs on a block.
DEFAULT_BYTES_PER_CHANNEL = 32.0

_REQUIRED = inspect.Parameter.empty
_INJECTED = ("backend",)  # filled in by the runner, never written in a recipe
_SCOPES = {"chunk": "each chunk", "map": "the whole map"}


@dataclass(frozen=True)
class Range:
    """The values a numeric recipe parameter may take (declared with the step, checked before any work).

    Every number a recipe gives is checked: NaN and ±inf are refused unless ``finite=False``, then
    the number (or each number of a list) must lie in ``[lo, hi]`` (``lo_open`` / ``hi_open``
    exclude an end; None: unbounded).

    Parameters
    ----------
    lo, hi : float, optional
        The smallest / largest allowed value (None: no bound).
    lo_open, hi_open : bool
        Exclude ``lo`` / ``hi`` themselves (``> 0`` rather than ``≥ 0``).
    finite : bool
        Refuse NaN and ±inf (default True; False for a fill value that may be NaN).

    Examples
    --------
    >>> str(POSITIVE), str(AT_LEAST_ONE), str(FRACTION)
    ('> 0', '≥ 1', 'in (0, 1)')
    >>> POSITIVE.problem(-1), POSITIVE.problem(2.5), POSITIVE.problem(float("nan"))
    ('must be > 0', None, 'must be a finite number (not nan or inf)')
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    finite: bool = True

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '≥'} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '≤'} {self.hi:g}"
        return "a finite number" if self.finite else "any number"

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (None when it is allowed); lists are checked number by number.

        Parameters
        ----------
        value : object
            A value from a recipe (numbers, and lists or tuples of them, are checked; anything else passes).

        Returns
        -------
        str or None
            ``"must be > 0"``, ``"must be a finite number (not nan or inf)"`` …, or None.

        Examples
        --------
        >>> Range(0, 1).problem([0.2, 1.5])
        'must be in [0, 1] (item 2 is 1.5)'
        """
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                msg = self.problem(item)
                if msg is not None:
                    return f"{msg} (item {i + 1} is {item!r})"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if not np.isfinite(value):
            return None if not self.finite else "must be a finite number (not nan or inf)"
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return f"must be {self}"
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return f"must be {self}"
        return None


#: Common ranges: ``> 0``, ``≥ 0``, ``≥ 1`` (counts, sizes, iterations), ``(0, 1)``, and any finite number.
POSITIVE = Range(0.0, lo_open=True)
NON_NEGATIVE = Range(0.0)
AT_LEAST_ONE = Range(1.0)
FRACTION = Range(0.0, 1.0, lo_open=True, hi_open=True)
ANY_NUMBER = Range()


def check_value(param: Param, value: Any) -> str | None:
    """What is wrong with ``value`` for ``param`` beyond its type: its declared range (default: any finite number).

    Parameters
    ----------
    param : Param
        The parameter (its ``range``, or :data:`ANY_NUMBER` when it declares none).
    value : object
        The recipe's value (already of one of the parameter's types).

    Returns
    -------
    str or None
        The problem (``"must be > 0"`` …), or None.

    Examples
    --------
    >>> check_value(get_step("remove_spikes").params["threshold"], -1)
    'must be > 0'
    >>> check_value(get_step("crop").params["lo"], float("inf"))
    'must be a finite number (not nan or inf)'
    """
    if value is None:
        return None
    return (param.range or ANY_NUMBER).problem(value)


@dataclass(frozen=True)
class Param:
    """One recipe parameter of a step, read from the step function's signature.

    Parameters
    ----------
    name : str
        The keyword, as written in a recipe.
    types : tuple of type
        The Python (TOML) types a value may have; ``bool`` is never accepted as a number.
    type_name : str
        The annotation as shown to users (``"float"``, ``"int | str"``, ``"list[float]"``).
    default : object
        The default, or ``inspect.Parameter.empty`` when the parameter is required.
    doc : str
        Its description from the function's numpydoc ``Parameters`` section ("" when there is none).
    range : Range, optional
        The values it may take (declared with ``register_step(..., ranges=...)``); None: any finite number.

    Examples
    --------
    >>> p = get_step("crop").params["lo"]
    >>> p.type_name, p.required
    ('float', True)
    """

    name: str
    types: tuple[type, ...]
    type_name: str
    default: Any = _REQUIRED
    doc: str = ""
    range: Range | None = None

    @property
    def required(self) -> bool:
        """True when the parameter has no default (a recipe must give it)."""
        return self.default is _REQUIRED

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has one of the parameter's types (``True`` is not a number).

        Parameters
        ----------
        value : object
            A value from a recipe.

        Returns
        -------
        bool

        Examples
        --------
        >>> p = get_step("remove_spikes").params["threshold"]
        >>> p.accepts(7), p.accepts(6.5), p.accepts(True), p.accepts("7")
        (True, True, False, False)
        """
        return isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)


@dataclass(frozen=True)
class Output:
    """A per-pixel variable a step adds to a run's results.

    Parameters
    ----------
    name : str
        The results variable.
    dtype : str
        Its NumPy dtype (``"int32"``, ``"bool"``, ``"float64"`` …); the computed values are cast to it.
    long_name : str
        Its description (the variable's ``long_name`` attr).
    compute : callable
        ``compute(block) -> DataArray`` from the processed block (the map Dataset after every step
        of the chunk), e.g. ``lambda b: b["spike_mask"].sum("spectral")``.
    dims : tuple of str
        Its dims; :data:`PIXELS` stands for the map's pixel dims. Default: the pixel dims.
    units : str, optional
        Its ``units`` attr. Default ``"1"`` (dimensionless: a count or a flag).

    Examples
    --------
    >>> [o.name for o in get_step("remove_spikes").outputs]
    ['n_spikes', 'dead_pixel', 'saturated']
    """

    name: str
    dtype: str
    long_name: str
    compute: Callable[[xr.Dataset], xr.DataArray] | None = None
    dims: tuple[str, ...] = (PIXELS,)
    units: str | None = None

    @property
    def attrs(self) -> dict[str, str]:
        """The variable's attrs: ``long_name`` and ``units`` (``"1"`` unless declared: CF's dimensionless, for counts and flags)."""
        return {"long_name": self.long_name, "units": self.units or "1"}

    def dims_for(self, pixel_dims: tuple[str, ...]) -> tuple[str, ...]:
        """The dims on a map whose pixel dims are ``pixel_dims``.

        Parameters
        ----------
        pixel_dims : tuple of str
            The map's dims but ``spectral``, in order.

        Returns
        -------
        tuple of str

        Examples
        --------
        >>> Output("n", "int32", "a count").dims_for(("y", "x"))
        ('y', 'x')
        """
        return tuple(d for dim in self.dims for d in (pixel_dims if dim == PIXELS else (dim,)))


@dataclass(frozen=True)
class Step:
    """One pipeline step: its function and how the pipeline runs it (use :func:`register_step`).

    Parameters
    ----------
    name : str
        The step's name in recipes (``step = "..."``).
    function : callable
        ``function(ds, **params) -> Dataset``. Its first parameter is the map; the others are the
        recipe parameters, every one annotated (the annotation is the recipe type). A ``backend``
        parameter is filled in by the runner and is not a recipe parameter.
    scope : {"chunk", "map"}
        ``"chunk"``: runs on each chunk of rows; ``"map"``: needs every pixel at once, runs first,
        into an intermediate store.
    halo : int
        Rows of neighbours (along the first pixel dim) each block needs on either side.
    bytes_per_channel : float
        Working memory per spectral channel of one pixel while the step runs (bytes); sizes the
        blocks. Default 32 (four float64 copies of the spectra, as the decomposition needs).
    outputs : tuple of Output
        Variables the step adds to a run's results (chunk steps only).
    paths : tuple of str
        Parameters that name files: resolved against the recipe's folder and checked to exist.
    check : callable, optional
        ``check(params)`` raising ``ValueError`` for combinations a type cannot express (a
        baseline parameter that its method does not take); run when a recipe is validated.
    ranges : mapping of str to Range
        The values numeric parameters may take (``{"threshold": POSITIVE}``); a number without a
        declared range must still be finite. Checked when a recipe is validated, before any work.
    doc : str
        One line for tables; default the first line of the function's docstring.

    Attributes
    ----------
    params : dict of str to Param
        The recipe parameters, from the function's signature.

    Examples
    --------
    >>> s = get_step("remove_spikes")
    >>> s.scope, s.halo, list(s.params)[:2]
    ('chunk', 2, ['threshold', 'max_width'])
    """

    name: str
    function: Callable[..., xr.Dataset]
    scope: str = "chunk"
    halo: int = 0
    bytes_per_channel: float = DEFAULT_BYTES_PER_CHANNEL
    outputs: tuple[Output, ...] = ()
    paths: tuple[str, ...] = ()
    check: Callable[[dict], None] | None = None
    ranges: Mapping[str, Range] = field(default_factory=dict)
    doc: str = ""
    params: dict[str, Param] = field(init=False, repr=False, compare=False)
    takes_backend: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scope not in _SCOPES:
            raise ValueError(f"step {self.name!r}: scope must be 'chunk' or 'map'; got {self.scope!r}.")
        if self.scope == "map" and self.outputs:
            raise ValueError(f"step {self.name!r}: whole-map steps write an intermediate map, not results variables; drop its outputs.")
        params = _signature_params(self.name, self.function)
        for key in self.paths:
            if key not in params:
                raise ValueError(f"step {self.name!r}: path parameter {key!r} is not a parameter of {self.function.__name__}.")
        params = _with_ranges(self.name, params, self.ranges)
        object.__setattr__(self, "ranges", dict(self.ranges))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "paths", tuple(self.paths))
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "takes_backend", "backend" in inspect.signature(self.function).parameters)
        if not self.doc:
            object.__setattr__(self, "doc", _summary(self.function))

    @property
    def required(self) -> tuple[str, ...]:
        """The parameters a recipe must give (those without a default)."""
        return tuple(k for k, p in self.params.items() if p.required)


#: Every registered step by name, in registration order (read it through :func:`steps` / :func:`get_step`).
STEP_REGISTRY: dict[str, Step] = {}


def register_step(
    name: str,
    function: Callable[..., xr.Dataset],
    *,
    scope: str = "chunk",
    halo: int = 0,
    bytes_per_channel: float = DEFAULT_BYTES_PER_CHANNEL,
    outputs: tuple[Output, ...] | list[Output] = (),
    paths: tuple[str, ...] = (),
    check: Callable[[dict], None] | None = None,
    ranges: Mapping[str, Range] | None = None,
    doc: str = "",
    replace: bool = False,
) -> Step:
    """Declare a pipeline step; recipes, ``hyperspec preprocess`` and the step tables see it at once.

    Parameters
    ----------
    name : str
        The step's name in recipes.
    function : callable
        ``function(ds, **params) -> Dataset`` with annotated parameters (see :class:`Step`).
    scope, halo, bytes_per_channel, outputs, paths, check, ranges, doc
        As in :class:`Step`.
    replace : bool
        Replace a step of the same name instead of refusing it.

    Returns
    -------
    Step
        The record, now in :data:`STEP_REGISTRY`.

    Raises
    ------
    ValueError
        A step of that name exists (and not ``replace``), or the record is inconsistent.
    TypeError
        A recipe parameter of ``function`` has no annotation or one that a recipe cannot hold.

    Examples
    --------
    >>> def scale(ds, factor: float = 2.0):
    ...     '''Multiply the spectra by ``factor``.'''
    ...     return ds.assign(spectra=ds["spectra"] * factor)
    >>> register_step("scale_example", scale).params["factor"].default
    2.0
    >>> unregister_step("scale_example")
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"step name {name!r}: use lower-case letters, digits and '_' (a TOML bare key).")
    if name in STEP_REGISTRY and not replace:
        raise ValueError(f"a step {name!r} is registered already; pass replace=True to replace it.")
    step = Step(name, function, scope=scope, halo=halo, bytes_per_channel=bytes_per_channel, outputs=tuple(outputs), paths=paths,
                check=check, ranges=dict(ranges or {}), doc=doc)  # fmt: skip
    STEP_REGISTRY[name] = step
    return step


def unregister_step(name: str) -> None:
    """Remove a step from the registry (a step registered for a test or a session).

    Parameters
    ----------
    name : str
        A registered step.

    Raises
    ------
    RecipeError
        No step has that name.

    Examples
    --------
    >>> def noop(ds):
    ...     '''Return the map unchanged.'''
    ...     return ds
    >>> _ = register_step("noop_example", noop)
    >>> unregister_step("noop_example"); "noop_example" in STEP_REGISTRY
    False
    """
    get_step(name)
    del STEP_REGISTRY[name]


def get_step(name: str) -> Step:
    """The registered step ``name``.

    Parameters
    ----------
    name : str
        A step name.

    Returns
    -------
    Step

    Raises
    ------
    RecipeError
        Unknown name; the message names the closest step ("Did you mean …?") and lists them all.

    Examples
    --------
    >>> get_step("baseline").scope
    'chunk'
    >>> get_step("remove_spike")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.RecipeError: unknown preprocess step 'remove_spike'. Did you mean 'remove_spikes'? Steps: ...
    """
    try:
        return STEP_REGISTRY[name]
    except (KeyError, TypeError):
        raise RecipeError(f"unknown preprocess step {name!r}.{_hint(name, STEP_REGISTRY)} Steps: {', '.join(STEP_REGISTRY)}.") from None


def steps(scope: str | None = None) -> list[Step]:
    """The registered steps, in registration order; only those of ``scope`` when given.

    Parameters
    ----------
    scope : {"chunk", "map"}, optional
        Keep the per-chunk or the whole-map steps only.

    Returns
    -------
    list of Step

    Examples
    --------
    >>> [s.name for s in steps("map")]
    ['denoise', 'register_drift']
    """
    return [s for s in STEP_REGISTRY.values() if scope is None or s.scope == scope]


# --- running ---------------------------------------------------------------------------------------------------


def apply_step(ds: xr.Dataset, step: Mapping[str, Any], backend: str | None = "auto") -> xr.Dataset:
    """Run one step (``{"step": name, **params}``, as in a recipe) on a map.

    Parameters
    ----------
    ds : xarray.Dataset
        A map (a chunk of one, or a whole one).
    step : mapping
        ``step`` (the name) and the step's parameters.
    backend : str, optional
        The compute backend handed to steps that take one (``"auto"``, ``"numpy"``, ``"cupy"``).

    Returns
    -------
    xarray.Dataset
        The map after the step.

    Examples
    --------
    >>> import hyperspec
    >>> ds, _ = hyperspec.synthetic.simulate("map", (2, 3), n_spectral=64, seed=0)
    >>> apply_step(ds, {"step": "crop", "lo": 0.0, "hi": 1000.0}).sizes["spectral"] < 64
    True
    """
    rec = get_step(step["step"])
    params = {k: v for k, v in step.items() if k != "step"}
    if rec.takes_backend:
        params["backend"] = backend
    return rec.function(ds, **params)


def apply_steps(ds: xr.Dataset, step_list: list[Mapping[str, Any]], backend: str | None = "auto") -> xr.Dataset:
    """Run steps in order (the step runner of recipe chunks, whole-map passes and ``hyperspec preprocess``).

    Parameters
    ----------
    ds : xarray.Dataset
        A map.
    step_list : list of mapping
        Steps as in a recipe's ``[[preprocess]]`` tables.
    backend : str, optional
        As in :func:`apply_step`.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import hyperspec
    >>> ds, _ = hyperspec.synthetic.simulate("map", (2, 3), n_spectral=64, seed=0)
    >>> out = apply_steps(ds, [{"step": "mask_notch", "half_width": 20.0}, {"step": "calibrate_shift", "offset": 1.0}])
    >>> "notch_mask" in out.coords
    True
    """
    for step in step_list:
        ds = apply_step(ds, step, backend)
    return ds


def step_outputs(step_list: list[Mapping[str, Any]]) -> list[Output]:
    """The results variables that chunk steps declare, in step order (a later one replaces an earlier one of the same name).

    Parameters
    ----------
    step_list : list of mapping
        Steps as in a recipe.

    Returns
    -------
    list of Output

    Examples
    --------
    >>> [o.name for o in step_outputs([{"step": "crop", "lo": 0, "hi": 1}, {"step": "baseline"}])]
    ['baseline_converged']
    """
    outs: dict[str, Output] = {}
    for step in step_list:
        for out in get_step(step["step"]).outputs:
            outs[out.name] = out
    return list(outs.values())


def block_outputs(block: xr.Dataset, step_list: list[Mapping[str, Any]]) -> dict[str, xr.DataArray]:
    """The declared outputs of ``step_list`` computed from a processed block, cast and labelled as declared.

    Parameters
    ----------
    block : xarray.Dataset
        The block after the steps.
    step_list : list of mapping
        The steps it went through.

    Returns
    -------
    dict of str to xarray.DataArray

    Examples
    --------
    >>> import hyperspec
    >>> ds, _ = hyperspec.synthetic.simulate("map", (3, 3), n_spectral=64, seed=0)
    >>> block_outputs(apply_step(ds, {"step": "remove_spikes"}), [{"step": "remove_spikes"}])["n_spikes"].dtype
    dtype('int32')
    """
    out = {}
    for o in step_outputs(step_list):
        var = o.compute(block).astype(o.dtype)
        var.attrs = dict(o.attrs)  # exactly the declared attrs (the results template has those)
        out[o.name] = var
    return out


_DECOMPOSE_TAIL = (
    ("chi2_red", "float64", {"long_name": "reduced chi-square (weighted)", "units": "1"}),
    ("n_iter", "int32", {"long_name": "Levenberg-Marquardt iterations", "units": "1"}),
)


def decompose_model(dec: Mapping[str, Any]):
    """The composite model of a recipe's ``[decompose]`` table, on a stand-in axis (terms and names only).

    Parameters
    ----------
    dec : mapping
        ``preset`` or ``model``, and optionally ``drop``, ``include``, ``mask``.

    Returns
    -------
    hyperspec.fit.composite.CompositeModel

    Raises
    ------
    ValueError, KeyError, TypeError
        A bad preset, term, shape or override.

    Examples
    --------
    >>> [t.name for t in decompose_model({"preset": "cspbbr3-633"}).terms][:2]
    ['aspl', 'lers']
    """
    from hyperspec import axes  # noqa: PLC0415
    from hyperspec.fit.composite import CompositeModel  # noqa: PLC0415
    from hyperspec.fit.decompose import build_model_spec  # noqa: PLC0415

    overrides = {k: dec[k] for k in ("drop", "include", "mask") if k in dec}
    spec = build_model_spec(dec.get("preset"), dec.get("model"), **overrides)
    shift = np.linspace(-4500.0, 3600.0, 64)
    return CompositeModel(spec["terms"], shift, axes.nm2ev(axes.shift2nm(shift, 632.8)), fused=False)


def decompose_outputs(dec: Mapping[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """The results variables of a recipe's decomposition: ``(name, dtype, attrs)`` in the order ``decompose`` writes them.

    Every name of ``hyperspec.fit.decompose.result_names(model)`` and of the model's ratios
    (``hyperspec.fit._decomposer.ratio_names``; float64) and its ``_stderr``, then
    ``at_bound`` and ``n_at_bound`` (int16), ``chi2_red`` (float64), ``n_iter`` (int32) and ``status``
    (int8, CF ``flag_values``/``flag_meanings``), all on the pixel dims.

    Parameters
    ----------
    dec : mapping
        A validated ``[decompose]`` table.

    Returns
    -------
    list of (str, str, dict)

    Examples
    --------
    >>> names = [n for n, _, _ in decompose_outputs({"preset": "cspbbr3-633"})]
    >>> names[:2], names[-3:]
    (['aspl_area', 'aspl_area_stderr'], ['chi2_red', 'n_iter', 'status'])
    """
    from hyperspec.fit._decomposer import bound_parameters, ratio_names  # noqa: PLC0415
    from hyperspec.fit.decompose import result_names  # noqa: PLC0415
    from hyperspec.fit.model_spec import build_model_spec  # noqa: PLC0415
    from hyperspec.fit.results import at_bound_attrs, status_attrs  # noqa: PLC0415

    model = decompose_model(dec)
    spec = build_model_spec(dec.get("preset"), dec.get("model"), **{k: dec[k] for k in ("drop", "include", "mask") if k in dec})
    out = []
    for name, units, meaning in [*result_names(model), *ratio_names(spec, model)]:  # the model-level ratios last, as decompose
        out.append((name, "float64", {"units": units, "long_name": meaning}))
        out.append((f"{name}_stderr", "float64", {"units": units, "long_name": f"standard error of {name}"}))
    ab_attrs, nab_attrs = at_bound_attrs(bound_parameters(model)[1])
    at_bound = [("at_bound", "int16", ab_attrs), ("n_at_bound", "int16", nab_attrs)]
    return [*out, *at_bound, *_DECOMPOSE_TAIL, ("status", "int8", status_attrs())]


# --- validation ------------------------------------------------------------------------------------------------


def validate_step(step: Mapping[str, Any], *, where: Callable[[str | None], str] | None = None) -> dict[str, Any]:
    """Check one ``{"step": name, **params}`` table against its record: known step, known keys, types, required keys.

    Parameters
    ----------
    step : mapping
        A step table as in a recipe.
    where : callable, optional
        ``where(key)`` → the message prefix locating ``key`` (None: the step itself), e.g.
        ``"recipe.toml (line 9)"``; default ``"recipe"``.

    Returns
    -------
    dict
        The step table (a copy; defaults are not filled in: the functions own them).

    Raises
    ------
    RecipeError
        Unknown step or key (with the closest name), a wrong type, a value outside its declared
        range (or NaN/inf), a missing required key, or a combination the step's ``check`` refuses.

    Examples
    --------
    >>> validate_step({"step": "baseline", "method": "arpls", "lam": 1e5})["lam"]
    100000.0
    >>> validate_step({"step": "baseline", "lamda": 3})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.RecipeError: recipe: unknown key 'lamda' in preprocess step 'baseline'. Did you mean 'lam'? Valid keys: ...
    """
    where = where or (lambda key: "recipe")
    name = step.get("step")
    try:
        rec = get_step(name)
    except RecipeError as exc:
        raise RecipeError(f"{where('step')}: {exc}") from None
    label = f"preprocess step {name!r}"
    for key, value in step.items():
        if key == "step":
            continue
        if key not in rec.params:
            raise RecipeError(f"{where(key)}: unknown key {key!r} in {label}.{_hint(key, rec.params)} Valid keys: {', '.join(rec.params)}.")
        param = rec.params[key]
        if not param.accepts(value):
            names = " or ".join(t.__name__ for t in param.types if t is not type(None))
            raise RecipeError(f"{where(key)}: {label}.{key} must be {names}; got {value!r}.")
        problem = check_value(param, value)
        if problem is not None:
            raise RecipeError(f"{where(key)}: {label}.{key} {problem}; got {value!r}.")
    missing = [k for k in rec.required if k not in step]
    if missing:
        raise RecipeError(f"{where('step')}: {label} needs {' and '.join(missing)} = ….")
    if rec.check is not None:
        try:
            rec.check({k: v for k, v in step.items() if k != "step"})
        except ValueError as exc:
            raise RecipeError(f"{where('step')}: {label}: {exc}") from None
    return dict(step)


def resolve_paths(step: Mapping[str, Any], base: str | Path, *, where: Callable[[str | None], str] | None = None) -> dict[str, Any]:
    """The step with its path parameters taken relative to ``base`` (a recipe's folder), each checked to exist.

    Parameters
    ----------
    step : mapping
        A validated step table.
    base : str or Path
        The folder relative paths are taken from.
    where : callable, optional
        As in :func:`validate_step`.

    Returns
    -------
    dict

    Raises
    ------
    RecipeError
        A named file does not exist.

    Examples
    --------
    >>> resolve_paths({"step": "crop", "lo": 0, "hi": 1}, ".")["hi"]
    1
    """
    where = where or (lambda key: "recipe")
    out = dict(step)
    rec = get_step(step["step"])
    for key in rec.paths:
        if key not in out:
            continue
        p = Path(out[key]).expanduser()
        out[key] = str(p if p.is_absolute() else Path(base) / p)
        if not Path(out[key]).is_file():
            raise RecipeError(f"{where(key)}: {rec.name} {key} file {out[key]} not found.")
    return out


# --- signatures → parameters -----------------------------------------------------------------------------------


def _with_ranges(name: str, params: dict[str, Param], ranges: Mapping[str, Range]) -> dict[str, Param]:
    """``params`` with their declared ranges attached (a range for an unknown parameter is an error)."""
    out = dict(params)
    for key, rng in ranges.items():
        if key not in out:
            raise ValueError(f"step or analysis {name!r}: a range is declared for {key!r}, which is not one of its parameters.")
        if not isinstance(rng, Range):
            raise TypeError(f"step or analysis {name!r}: the range of {key!r} must be a Range; got {rng!r}.")
        p = out[key]
        out[key] = Param(p.name, p.types, p.type_name, p.default, p.doc, rng)
    return out


def _signature_params(name: str, function: Callable) -> dict[str, Param]:
    sig = inspect.signature(function)
    docs = _param_docs(function)
    try:  # string annotations (``from __future__ import annotations``) evaluated in the function's module
        hints = typing.get_type_hints(function)
    except Exception as exc:  # noqa: BLE001  (say which step's annotations do not evaluate)
        raise TypeError(f"step {name!r}: the annotations of {function.__name__} do not evaluate ({exc}).") from None
    params: dict[str, Param] = {}
    for i, p in enumerate(sig.parameters.values()):
        if i == 0 or p.name in _INJECTED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue  # the map; the runner's backend; *args/**kwargs cannot be declared (write an adapter)
        if p.name not in hints:
            raise TypeError(f"step {name!r}: parameter {p.name!r} of {function.__name__} needs a type annotation (the recipe type).")
        hint = hints[p.name]
        params[p.name] = Param(p.name, _accepted(hint, name, p.name), _hint_name(hint), p.default, docs.get(p.name, ""))
    return params


_SIMPLE = {bool: (bool,), int: (int,), float: (int, float), str: (str,), list: (list, tuple), tuple: (list, tuple), dict: (dict,),
           type(None): (type(None),)}  # fmt: skip


def _accepted(hint: Any, step: str, param: str) -> tuple[type, ...]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        out: tuple[type, ...] = ()
        for arg in typing.get_args(hint):
            out += tuple(t for t in _accepted(arg, step, param) if t not in out)
        return out
    if origin is typing.Literal:
        return tuple(dict.fromkeys(type(v) for v in typing.get_args(hint)))
    base = origin or hint
    if base in _SIMPLE:
        return _SIMPLE[base]
    raise TypeError(f"step {step!r}: parameter {param!r} is annotated {hint!r}; a recipe holds bool, int, float, str, list or dict.")


def _hint_name(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_hint_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_hint_name(a) for a in args)}]"
    return getattr(hint, "__name__", str(hint))


def _param_docs(function: Callable) -> dict[str, str]:
    """Descriptions from the numpydoc ``Parameters`` section (``name : type`` then indented text)."""
    doc = inspect.getdoc(function) or ""
    m = re.search(r"^Parameters\n-+\n(.*?)(?:^\S[^\n]*\n-+\n|\Z)", doc, flags=re.M | re.S)
    if not m:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    for line in m.group(1).splitlines():
        if line and not line[0].isspace():
            names = [n.strip().lstrip("*") for n in line.split(":")[0].split(",")]
            for n in names:
                out[n] = ""
        elif line.strip() and names:
            for n in names:
                out[n] = f"{out[n]} {line.strip()}".strip()
    return out


def _summary(function: Callable) -> str:
    doc = inspect.getdoc(function) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _hint(name: Any, valid) -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


# --- description -----------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if value is _REQUIRED:
        return None
    return value if isinstance(value, (bool, int, float, str, type(None), list, dict)) else repr(value)


def describe_steps() -> list[dict[str, Any]]:
    """Every registered step as JSON-able data (for user interfaces and the README's table).

    Returns
    -------
    list of dict
        Per step: ``name``, ``scope`` (``"chunk"`` / ``"map"``), ``doc``, ``halo`` (rows),
        ``bytes_per_channel``, ``paths``, ``ranges`` (parameter → allowed values, e.g. ``"> 0"``),
        ``params`` (each ``name``, ``type``, ``default`` (None when
        required or left to the method), ``required``, ``doc``) and ``outputs`` (each ``name``,
        ``dtype``, ``dims``, ``long_name``).

    Examples
    --------
    >>> import json
    >>> d = {s["name"]: s for s in describe_steps()}
    >>> {k: d["crop"]["params"][0][k] for k in ("name", "type", "default", "required")}
    {'name': 'lo', 'type': 'float', 'default': None, 'required': True}
    >>> len(json.dumps(describe_steps())) > 1000
    True
    """
    out = []
    for s in STEP_REGISTRY.values():
        out.append(
            {
                "name": s.name,
                "scope": s.scope,
                "doc": s.doc,
                "halo": s.halo,
                "bytes_per_channel": s.bytes_per_channel,
                "paths": list(s.paths),
                "ranges": {p.name: str(p.range) for p in s.params.values() if p.range is not None},
                "params": [
                    {"name": p.name, "type": p.type_name, "default": _json_default(p.default), "required": p.required, "doc": p.doc}
                    for p in s.params.values()
                ],  # fmt: skip
                "outputs": [
                    {"name": o.name, "dtype": o.dtype, "dims": ["pixels" if d == PIXELS else d for d in o.dims], "long_name": o.long_name}
                    for o in s.outputs
                ],  # fmt: skip
            }
        )
    return out


def markdown_table() -> str:
    """The README's step table (Markdown), generated from the registry (``hyperspec steps --markdown``).

    Returns
    -------
    str
        One row per step: name, where it runs, parameters (``name`` type = default), what it adds.

    Examples
    --------
    >>> print(markdown_table().splitlines()[0])
    | step | runs on | parameters (type = default) | adds to the results |
    """
    rows = ["| step | runs on | parameters (type = default) | adds to the results |", "|---|---|---|---|"]
    for s in describe_steps():
        runs = _SCOPES[s["scope"]] + (f" (±{s['halo']} rows)" if s["halo"] else "")
        params = ", ".join(
            f"`{p['name']}` {p['type']}" + (" (required)" if p["required"] else "" if p["default"] is None else f" = {p['default']!r}")
            for p in s["params"]
        )
        adds = ", ".join(f"`{o['name']}` ({o['dtype']})" for o in s["outputs"]) or "-"
        rows.append(f"| `{s['name']}` | {runs} | {(params or '-').replace('|', chr(92) + '|')} | {adds} |")
    return "\n".join(rows) + "\n"


# --- adapters: steps whose recipe form differs from the library function -----------------------------------------


def _calibrate_shift(ds: xr.Dataset, offset: float) -> xr.Dataset:
    """Add ``offset`` cm⁻¹ to the Raman-shift axis (``preprocess.calibrate_shift``).

    Parameters
    ----------
    offset : float
        cm⁻¹ added to every shift (corrected shift = shift + offset).
    """
    return preprocess.calibrate_shift(ds, offset)


_LAMPS: dict[str, xr.Dataset] = {}  # lamp calibrations of this process, by step parameters and lamp file state


def lamp_calibration(params: Mapping[str, Any]) -> xr.Dataset:
    """The lamp-line calibration of a ``calibrate_wavelength`` step, computed once per process (not per chunk).

    Parameters
    ----------
    params : mapping
        The step's parameters (``lamp`` and the optional ones of :func:`hyperspec.preprocess.calibrate_wavelength`).

    Returns
    -------
    xarray.Dataset
        The calibration (``hyperspec.preprocess.calibrate_wavelength``'s result).

    Examples
    --------
    >>> lamp_calibration  # doctest: +ELLIPSIS
    <function lamp_calibration at ...>
    """
    import hyperspec  # noqa: PLC0415

    defaults = {k: p.default for k, p in get_step("calibrate_wavelength").params.items() if not p.required}
    params = {k: v for k, v in {**defaults, **params}.items() if v is not None}  # one key however the step was written
    lamp = Path(params["lamp"])
    st = lamp.stat() if lamp.is_file() else None
    key = json.dumps([params, st and (st.st_mtime_ns, st.st_size)], sort_keys=True, default=str)
    if key in _LAMPS:
        return _LAMPS[key]
    kw = {k: params[k] for k in ("order", "tolerance_nm", "max_offset_nm", "min_snr", "lines", "lines_medium") if params.get(k) is not None}
    opts = {"unit": params["lamp_unit"]} if params.get("lamp_unit") is not None else {}
    cal = preprocess.calibrate_wavelength(hyperspec.open(lamp, laser_nm=params.get("lamp_laser_nm"), **opts), **kw)
    _LAMPS[key] = cal
    return cal


def _calibrate_wavelength(
    ds: xr.Dataset,
    lamp: str,
    *,
    order: int = 2,
    tolerance_nm: float = 0.3,
    max_offset_nm: float = 3.0,
    min_snr: float = 8.0,
    lines: list[float] | None = None,
    lines_medium: str = "air",
    lamp_laser_nm: float | None = None,
    lamp_unit: str | None = None,
) -> xr.Dataset:
    """Correct the wavelength axis with the lines of a lamp spectrum (calibrate once, apply to every chunk).

    Parameters
    ----------
    lamp : str
        The lamp spectrum's file (neon by default), relative to the recipe.
    order : int
        Polynomial order of the axis correction.
    tolerance_nm : float
        Pairs of measured and reference lines closer than this (nm) are kept.
    max_offset_nm : float
        Largest overall offset searched (nm).
    min_snr : float
        Lamp peaks below this signal-to-noise ratio are ignored.
    lines : list of float, optional
        Reference lines (nm, in ``lines_medium``); default the neon lines.
    lines_medium : str
        "air" (as NIST tabulates lines above 200 nm) or "vacuum": the medium of ``lines``; they are
        compared with the lamp in the lamp's medium.
    lamp_laser_nm : float, optional
        Laser (nm) for a lamp file on a Raman-shift axis.
    lamp_unit : str, optional
        The lamp file's spectral unit when it does not say.
    """
    params = {"lamp": lamp, "order": order, "tolerance_nm": tolerance_nm, "max_offset_nm": max_offset_nm, "min_snr": min_snr,
              "lines": lines, "lines_medium": lines_medium, "lamp_laser_nm": lamp_laser_nm, "lamp_unit": lamp_unit}  # fmt: skip
    return preprocess.apply_wavelength_calibration(ds, lamp_calibration(params))


def _baseline_methods() -> dict[str, Callable]:
    from hyperspec.preprocess.baselines import METHODS  # noqa: PLC0415

    return METHODS


def _baseline(
    ds: xr.Dataset,
    method: str = "asls",
    *,
    subtract: bool = False,
    backend: str = "auto",
    lam: float | None = None,
    p: float | None = None,
    diff_order: int | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
    poly_order: int | None = None,
    use_original: bool | None = None,
    mask_initial_peaks: bool | None = None,
    normalize_weights: bool | None = None,
    quantile: float | None = None,
    eps: float | None = None,
    fraction: float | None = None,
    total_points: int | None = None,
    scale: float | None = None,
    symmetric_weights: bool | None = None,
    use_threshold: bool | None = None,
    num_std: float | None = None,
    delta: float | None = None,
) -> xr.Dataset:
    """Fit (and optionally subtract) a baseline per pixel, pybaselines' methods and defaults.

    Parameters
    ----------
    method : str
        ``asls``, ``arpls``, ``airpls``, ``poly``, ``modpoly``, ``quant_reg`` or ``loess``.
    subtract : bool
        Subtract the baseline from the spectra.
    lam, p, diff_order, max_iter, tol
        Whittaker smoothing and iteration parameters (``asls``, ``arpls``, ``airpls``; ``max_iter`` and ``tol`` all methods).
    poly_order, use_original, mask_initial_peaks
        Polynomial methods (``poly``, ``modpoly``, ``quant_reg``, ``loess``).
    normalize_weights
        ``airpls``.
    quantile, eps
        ``quant_reg``.
    fraction, total_points, scale, symmetric_weights, use_threshold, num_std, delta
        ``loess``.

    Notes
    -----
    Each method takes some of the parameters, as in pybaselines; those left unset take the method's default.
    """
    params = {k: v for k, v in locals().items() if k not in ("ds", "method", "subtract", "backend") and v is not None}
    return preprocess.baseline(ds, method, subtract=subtract, backend=backend, **params)


def _check_baseline(params: dict) -> None:
    from hyperspec.preprocess.baselines import _check_params  # noqa: PLC0415

    _check_params(params.get("method", "asls"), {k: v for k, v in params.items() if k not in ("method", "subtract")})


def _register_drift(
    ds: xr.Dataset, *, band: list[float] | None = None, n_bands: int = 8, reference: int = 0, border: int = 3, apply: bool = True
) -> xr.Dataset:
    """Measure and correct the stage drift between the frames of a ``(t, y, x)`` map (``spatial.register_drift``; the map is loaded).

    Parameters
    ----------
    band : list of float, optional
        ``[lo, hi]`` (cm⁻¹) of the band whose images are registered; default the brightest ``n_bands``.
    n_bands : int
        Bands tried when ``band`` is not given.
    reference : int
        The frame the others are registered to.
    border : int
        Pixels left out at the image border.
    apply : bool
        Correct the spectra (else only measure ``drift_px``).
    """
    return preprocess.register_drift(ds.compute(), band=band, n_bands=n_bands, reference=reference, border=border, apply=apply)


def _check_pair(*keys: str) -> Callable[[dict], None]:
    """A ``check`` refusing a ``[lo, hi]`` parameter that is not two numbers (either order: the steps sort them)."""

    def check(params: dict) -> None:
        for key in keys:
            v = params.get(key)
            if v is not None and len(v) != 2:
                raise ValueError(f"{key} = [lo, hi] takes two numbers; got {v!r}.")

    return check


# --- the built-in steps ----------------------------------------------------------------------------------------

register_step(
    "remove_spikes", preprocess.remove_spikes, halo=2, bytes_per_channel=112.0,  # its stack of neighbours: 14 float64 copies
    outputs=(
        Output("n_spikes", "int32", "spectral channels replaced as spikes", lambda b: b["spike_mask"].sum("spectral")),
        Output("dead_pixel", "bool", "dead: zero or constant counts or only the detector offset (not repaired)", lambda b: b["dead_pixel"]),
        Output("saturated", "bool", "pixel has saturated channels", lambda b: b["saturated_mask"].any("spectral")),
    ),
    ranges={"threshold": POSITIVE, "max_width": POSITIVE, "grow": POSITIVE, "saturation": POSITIVE},
)  # fmt: skip
register_step("calibrate_shift", _calibrate_shift)
register_step("calibrate_wavelength", _calibrate_wavelength, paths=("lamp",),
              ranges={"order": NON_NEGATIVE, "tolerance_nm": POSITIVE, "max_offset_nm": NON_NEGATIVE, "min_snr": POSITIVE,
                      "lines": POSITIVE, "lamp_laser_nm": POSITIVE})  # fmt: skip
register_step("mask_notch", preprocess.mask_notch, ranges={"half_width": POSITIVE, "fill": Range(finite=False)})
register_step("crop", preprocess.crop)
register_step("normalise", preprocess.normalise, check=_check_pair("window"))
register_step(
    "baseline", _baseline, check=_check_baseline,
    outputs=(Output("baseline_converged", "bool", "baseline iterations converged", lambda b: b["baseline_converged"]),),
    ranges={"lam": POSITIVE, "p": FRACTION, "diff_order": AT_LEAST_ONE, "max_iter": AT_LEAST_ONE, "tol": POSITIVE,
            "poly_order": NON_NEGATIVE, "quantile": FRACTION, "eps": POSITIVE, "fraction": Range(0.0, 1.0, lo_open=True),
            "total_points": Range(2), "scale": POSITIVE, "num_std": POSITIVE, "delta": NON_NEGATIVE},
)  # fmt: skip
register_step("denoise", preprocess.denoise, scope="map",
              ranges={"n_components": AT_LEAST_ONE, "max_components": AT_LEAST_ONE, "seed": NON_NEGATIVE})  # fmt: skip
register_step("register_drift", _register_drift, scope="map", check=_check_pair("band"),
              ranges={"n_bands": AT_LEAST_ONE, "reference": NON_NEGATIVE, "border": NON_NEGATIVE})  # fmt: skip


class _ParamTable(Mapping):
    """``{step: {parameter: allowed types}}`` of the registered steps of one scope, read live (``recipe.STEPS``)."""

    def __init__(self, scope: str) -> None:
        self._scope = scope

    def _table(self) -> dict[str, dict[str, tuple]]:
        return {s.name: {k: p.types for k, p in s.params.items()} for s in steps(self._scope)}

    def __getitem__(self, key: str) -> dict[str, tuple]:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return repr(self._table())
