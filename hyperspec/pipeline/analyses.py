"""Analyses of a results store: one declared record per analysis, read by recipes, the CLI and the tables.

An analysis is a library function plus one :class:`Analysis` record (made by
:func:`register_analysis`) that says where its inputs come from and what happens to what it returns.
Its recipe schema is the function's signature, read as for pipeline steps
(:mod:`hyperspec.pipeline.steps`): names, types and defaults from ``inspect.signature`` and
``typing.get_type_hints``, descriptions from the numpydoc ``Parameters``. Parameters annotated as
``xarray.DataArray`` are written in a recipe as the *name* of a results variable
(``band = "aspl_area"``); the record's ``variables`` renames the function's trace parameter to its
recipe key (``trace`` → ``band``). ``input = "map"`` analyses (``sbpl_events``) get the spectra
store as their first argument.

Recipes write them as ``[[analysis]]`` tables::

    [[analysis]]
    step = "periods"              # canonical key; ``kind = "periods"`` is accepted too
    band = "aspl_area"
    max_periods = 2

What an analysis returns is written where it belongs:

- a Dataset (or DataArray) → a group of the results store, ``kinetics/<name>_<variables>`` by default
  (``kinetics/periods_aspl_area``, ``kinetics/cross_correlation_aspl_area_lers_area``,
  ``kinetics/fit_curves_hers_area_exp_decay``; a recipe's ``group = "..."`` chooses another). Read it
  back with ``hyperspec.open(store, group="kinetics/periods_aspl_area")``. Re-running replaces the
  group, and nothing else of the store is touched;
- a table (``pandas.DataFrame``, e.g. the SBPL events) → a CSV file ``<group's last part>.csv`` in
  the analysis folder, and the same table as a group on dim ``row``;
- the ``line_profile`` and ``filter_map`` analyses write files (CSV/TIFF + PNG) into the analysis
  folder, as before.

``hyperspec kinetics RESULTS.zarr`` runs :func:`kinetics_plan` (the standard set) through
:func:`run_analyses`; ``hyperspec analyses`` lists the records (``--markdown``: the README table).
"""

from __future__ import annotations

import csv
import inspect
import re
import sys
import time
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from hyperspec._errors import HyperspecError, RecipeError
from hyperspec.pipeline.steps import (
    AT_LEAST_ONE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    Param,
    Range,
    _accepted,
    _hint,
    _hint_name,
    _param_docs,
    _summary,
    _with_ranges,
    check_value,
)

__all__ = [
    "Analysis",
    "ANALYSIS_REGISTRY",
    "GROUP_PREFIX",
    "register_analysis",
    "unregister_analysis",
    "get_analysis",
    "analyses",
    "validate_analysis",
    "analysis_group",
    "run_analyses",
    "write_group",
    "kinetics_plan",
    "run_kinetics",
    "summarize",
    "describe_analyses",
    "markdown_table",
]

#: The results-store group the analyses write under (``kinetics/periods_aspl_area``).
GROUP_PREFIX = "kinetics"

_INPUTS = ("results", "map")
_OUTPUTS = {"dataset": "a group of the results store", "table": "a CSV table (and a group)", "files": "files in the analysis folder"}
#: Keys of an ``[[analysis]]`` table that are not parameters of the function.
RESERVED = ("step", "kind", "group")
_INJECTED = ("backend",)


class _ParamError(ValueError):
    """A check's complaint about one recipe key (so the message can give that key's line)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Analysis:
    """One analysis of a results store: its function, its inputs and where its outputs go (use :func:`register_analysis`).

    Parameters
    ----------
    name : str
        The analysis's name in recipes (``step = "..."``).
    function : callable
        The library function (or a small adapter whose signature is the recipe form).
    input : {"results", "map"}
        ``"results"``: its data are variables of the results store; ``"map"``: its first parameter is
        the spectra store (a map Dataset), e.g. ``sbpl_events``.
    variables : dict of str to str
        Function parameters filled with results variables, mapped to their recipe keys
        (``{"trace": "band"}``); a recipe gives the variable's name. Parameters annotated
        ``xarray.DataArray`` that are not listed keep their own name as the key.
    output : {"dataset", "table", "files"}
        What the function returns: a Dataset/DataArray (→ a results-store group), a table (a
        ``pandas.DataFrame``, or a tuple of tables and Datasets; → CSV and groups), or nothing to store
        (``writer`` writes files).
    group : str, optional
        The group's name, a format string over the recipe keys (``"{name}_{band}"``; ``name`` is the
        analysis's); prefixed with :data:`GROUP_PREFIX`. Default: the name and the variables' values.
    writer : callable, optional
        ``writer(product, entry, results, outdir, index) -> list[Path]`` for ``output = "files"``.
    plot : callable, optional
        ``plot(product, path, entry, results) -> Path`` drawing a PNG of a result (what the function
        returned; the entry and the results Dataset give the traces); None: no picture.
    check : callable, optional
        ``check(params)`` raising ``ValueError`` for values a type cannot express; run when a recipe is validated.
    ranges : mapping of str to Range
        The values numeric parameters may take (``hyperspec.pipeline.steps.Range``); a number without
        a declared range must still be finite. Checked when a recipe is validated, before any work.
    summary : tuple of str
        Result variables ``hyperspec kinetics`` summarises (median over pixels ± median stderr).
    doc : str
        One line for tables; default the first line of the function's docstring.

    Attributes
    ----------
    params : dict of str to Param
        The recipe parameters (variables first), from the function's signature.
    dataarray_params : tuple of str
        Recipe keys whose string value names a results variable (resolved when the analysis runs).
    string_values : tuple of str
        Those of them that also take a plain string (``weights = "poisson"``): a name that is not a
        results variable is passed on as it is.
    choices : dict of str to tuple
        Allowed values of ``Literal``-annotated parameters.

    Examples
    --------
    >>> a = get_analysis("line_profile")
    >>> a.input, a.output, list(a.params)
    ('results', 'files', ['variable', 'start', 'end', 'width'])
    """

    name: str
    function: Callable[..., Any]
    input: str = "results"
    variables: Mapping[str, str] = field(default_factory=dict)
    output: str = "dataset"
    group: str | None = None
    writer: Callable[..., list[Path]] | None = None
    plot: Callable[..., Path] | None = None
    check: Callable[[dict], None] | None = None
    summary: tuple[str, ...] = ()
    doc: str = ""
    ranges: Mapping[str, Range] = field(default_factory=dict)
    params: dict[str, Param] = field(init=False, repr=False, compare=False)
    dataarray_params: tuple[str, ...] = field(init=False, repr=False, compare=False)
    string_values: tuple[str, ...] = field(init=False, repr=False, compare=False)
    results_params: tuple[str, ...] = field(init=False, repr=False, compare=False)
    choices: dict[str, tuple] = field(init=False, repr=False, compare=False)
    takes_backend: bool = field(init=False, repr=False, compare=False)
    _arg_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.input not in _INPUTS:
            raise ValueError(f"analysis {self.name!r}: input must be 'results' or 'map'; got {self.input!r}.")
        if self.output not in _OUTPUTS:
            raise ValueError(f"analysis {self.name!r}: output must be one of {', '.join(_OUTPUTS)}; got {self.output!r}.")
        if self.output == "files" and self.writer is None:
            raise ValueError(f"analysis {self.name!r}: output 'files' needs a writer.")
        params, arrays, plain, given, choices, arg_of = _analysis_params(self.name, self.function, dict(self.variables), self.input)
        object.__setattr__(self, "variables", dict(self.variables))
        object.__setattr__(self, "summary", tuple(self.summary))
        object.__setattr__(self, "params", _with_ranges(self.name, params, self.ranges))
        object.__setattr__(self, "ranges", dict(self.ranges))
        object.__setattr__(self, "dataarray_params", arrays)
        object.__setattr__(self, "string_values", plain)
        object.__setattr__(self, "results_params", given)
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "_arg_of", arg_of)
        object.__setattr__(self, "takes_backend", "backend" in inspect.signature(self.function).parameters)
        if not self.doc:
            object.__setattr__(self, "doc", _summary(self.function))

    @property
    def required(self) -> tuple[str, ...]:
        """The recipe keys a recipe must give (those without a default)."""
        return tuple(k for k, p in self.params.items() if p.required)

    @property
    def variable_keys(self) -> tuple[str, ...]:
        """The recipe keys that name the results variables the analysis reads (``band``, ``a``, ``b`` …)."""
        return tuple(self.variables.values())


#: Every registered analysis by name, in registration order (read it through :func:`analyses` / :func:`get_analysis`).
ANALYSIS_REGISTRY: dict[str, Analysis] = {}


def register_analysis(
    name: str,
    function: Callable[..., Any],
    *,
    input: str = "results",  # noqa: A002
    variables: Mapping[str, str] | None = None,
    output: str = "dataset",
    group: str | None = None,
    writer: Callable[..., list[Path]] | None = None,
    plot: Callable[..., Path] | None = None,
    check: Callable[[dict], None] | None = None,
    summary: Sequence[str] = (),
    doc: str = "",
    ranges: Mapping[str, Range] | None = None,
    replace: bool = False,
) -> Analysis:
    """Declare an analysis; recipes' ``[[analysis]]``, ``hyperspec kinetics`` and the tables see it at once.

    Parameters
    ----------
    name : str
        The analysis's name in recipes (lower-case letters, digits, ``_``).
    function : callable
        The function; its annotated keyword parameters are the recipe schema (see :class:`Analysis`).
    input, variables, output, group, writer, plot, check, summary, doc, ranges
        As in :class:`Analysis`.
    replace : bool
        Replace an analysis of the same name instead of refusing it.

    Returns
    -------
    Analysis
        The record, now in :data:`ANALYSIS_REGISTRY`.

    Raises
    ------
    ValueError
        A bad name, an analysis of that name exists (and not ``replace``), or the record is inconsistent.
    TypeError
        A required parameter of ``function`` has an annotation a recipe cannot hold.

    Examples
    --------
    >>> import xarray as xr
    >>> def peak(trace: xr.DataArray, dim: str = "t") -> xr.Dataset:
    ...     '''The largest value of each trace.'''
    ...     return trace.max(dim).to_dataset(name="peak")
    >>> a = register_analysis("peak_example", peak, variables={"trace": "band"}, summary=("peak",))
    >>> list(a.params), a.params["band"].type_name
    (['band', 'dim'], 'str')
    >>> unregister_analysis("peak_example")
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"analysis name {name!r}: use lower-case letters, digits and '_' (a TOML bare key).")
    if name in ANALYSIS_REGISTRY and not replace:
        raise ValueError(f"an analysis {name!r} is registered already; pass replace=True to replace it.")
    rec = Analysis(name, function, input=input, variables=dict(variables or {}), output=output, group=group, writer=writer, plot=plot,
                   check=check, summary=tuple(summary), doc=doc, ranges=dict(ranges or {}))  # fmt: skip
    ANALYSIS_REGISTRY[name] = rec
    return rec


def unregister_analysis(name: str) -> None:
    """Remove an analysis from the registry (one registered for a test or a session).

    Parameters
    ----------
    name : str
        A registered analysis.

    Raises
    ------
    RecipeError
        No analysis has that name.

    Examples
    --------
    >>> def noop(trace):
    ...     '''Return the trace.'''
    ...     return trace
    >>> _ = register_analysis("noop_example", noop, variables={"trace": "band"})
    >>> unregister_analysis("noop_example"); "noop_example" in ANALYSIS_REGISTRY
    False
    """
    get_analysis(name)
    del ANALYSIS_REGISTRY[name]


def get_analysis(name: str) -> Analysis:
    """The registered analysis ``name``.

    Parameters
    ----------
    name : str
        An analysis name.

    Returns
    -------
    Analysis

    Raises
    ------
    RecipeError
        Unknown name; the message names the closest analysis ("Did you mean …?") and lists them all.

    Examples
    --------
    >>> get_analysis("filter_map").output
    'files'
    >>> get_analysis("line_profil")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.RecipeError: unknown analysis 'line_profil'. Did you mean 'line_profile'? Analyses: ...
    """
    try:
        return ANALYSIS_REGISTRY[name]
    except (KeyError, TypeError):
        raise RecipeError(f"unknown analysis {name!r}.{_hint(name, ANALYSIS_REGISTRY)} Analyses: {', '.join(ANALYSIS_REGISTRY)}.") from None


def analyses(input: str | None = None) -> list[Analysis]:  # noqa: A002
    """The registered analyses, in registration order; only those reading ``input`` when given.

    Parameters
    ----------
    input : {"results", "map"}, optional
        Keep the analyses of results variables, or those of the spectra store.

    Returns
    -------
    list of Analysis

    Examples
    --------
    >>> [a.name for a in analyses()][:2]
    ['line_profile', 'filter_map']
    """
    return [a for a in ANALYSIS_REGISTRY.values() if input is None or a.input == input]


# --- signatures → recipe parameters ----------------------------------------------------------------------------


def _is(hint: Any, cls: type) -> bool:
    return isinstance(hint, type) and issubclass(hint, cls)


def _recipe_hint(hint: Any) -> tuple[Any, bool]:
    """The annotation as a recipe type, and whether it names a variable (DataArray → str; Mapping → dict; Sequence → list).

    Returns ``(None, False)`` for annotations a recipe cannot hold (a Dataset, a callable, a model object).
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts, named = [], False
        for arg in typing.get_args(hint):
            h, n = _recipe_hint(arg)
            named |= n
            if h is not None and h not in parts:
                parts.append(h)
        if not parts or parts == [type(None)]:
            return None, False
        return (parts[0] if len(parts) == 1 else typing.Union[tuple(parts)]), named  # noqa: UP007  (built at run time)
    if origin is typing.Literal or hint in (bool, int, float, str, type(None)):
        return hint, False
    if _is(hint, xr.Dataset):  # a Mapping, but never written in a recipe
        return None, False
    if _is(hint, xr.DataArray):
        return str, True
    base = origin or hint
    if base in (dict, Mapping) or _is(base, Mapping):
        return dict, False
    if base in (list, tuple, Sequence) or (isinstance(base, type) and issubclass(base, Sequence) and base is not str):
        args = tuple(a for a in (_recipe_hint(a)[0] for a in typing.get_args(hint) if a is not Ellipsis) if a is not None)
        kind = tuple if base is tuple else list
        return (kind[args] if args else kind), False
    return None, False


def _takes_dataset(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is(a, xr.Dataset) for a in typing.get_args(hint))
    return _is(hint, xr.Dataset)


def _no_arrays(hint: Any) -> Any:
    """The annotation without its DataArray members (None when nothing is left)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = tuple(a for a in typing.get_args(hint) if not _is(a, xr.DataArray))
        return typing.Union[rest] if rest else None  # noqa: UP007  (built at run time)
    return None if _is(hint, xr.DataArray) else hint


def _analysis_params(name: str, function: Callable, variables: dict[str, str], input_: str):
    sig = inspect.signature(function)
    docs = _param_docs(function)
    try:  # string annotations (``from __future__ import annotations``) evaluated in the function's module
        hints = typing.get_type_hints(function)
    except Exception as exc:  # noqa: BLE001  (say which analysis's annotations do not evaluate)
        raise TypeError(f"analysis {name!r}: the annotations of {function.__name__} do not evaluate ({exc}).") from None
    plist = list(sig.parameters.values())
    for key in variables:
        if key not in sig.parameters:
            raise ValueError(f"analysis {name!r}: variable parameter {key!r} is not a parameter of {function.__name__}.")
    params: dict[str, Param] = {}
    arrays: list[str] = []
    choices: dict[str, tuple] = {}
    arg_of: dict[str, str] = {}
    plain: list[str] = []
    results_params: list[str] = []
    for key, p in variables.items():  # the variables first, under their recipe keys
        params[p] = Param(p, (str,), "str", sig.parameters[key].default, docs.get(key, f"results variable ({key})"))
        arrays.append(p)
        arg_of[p] = key
    for i, p in enumerate(plist):
        if p.name in variables or p.name in _INJECTED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if i == 0 and input_ == "map":
            continue  # the spectra store
        if p.name in RESERVED:
            raise ValueError(f"analysis {name!r}: parameter {p.name!r} of {function.__name__} clashes with the recipe key {p.name!r}.")
        if p.name in hints and _takes_dataset(hints[p.name]):
            results_params.append(p.name)  # the results store's Dataset is handed in (sbpl_events' results=)
            continue
        if p.name in hints:
            hint, named = _recipe_hint(hints[p.name])
        elif p.default is not inspect.Parameter.empty and p.default is not None:
            hint, named = type(p.default), False  # unannotated: the default's type
        else:
            hint, named = None, False
        if hint is None:
            if p.default is inspect.Parameter.empty:
                raise TypeError(
                    f"analysis {name!r}: parameter {p.name!r} of {function.__name__} needs an annotation a recipe can hold "
                    "(bool, int, float, str, list, dict or a DataArray named by a variable); or register an adapter."
                )
            continue  # a keyword a recipe cannot give (a callable, a model object): left to its default
        types_ = _accepted(hint, name, p.name)
        params[p.name] = Param(p.name, types_, _hint_name(hint), p.default, docs.get(p.name, ""))
        if named:
            arrays.append(p.name)
            if str in _accepted(_recipe_hint(_no_arrays(hints[p.name]))[0] or type(None), name, p.name):
                plain.append(p.name)  # a plain string is a value too (weights = "poisson")
        if typing.get_origin(hint) is typing.Literal:
            choices[p.name] = typing.get_args(hint)
        arg_of[p.name] = p.name
    return params, tuple(arrays), tuple(plain), tuple(results_params), choices, arg_of


# --- validation ------------------------------------------------------------------------------------------------


def analysis_group(entry: Mapping[str, Any]) -> str | None:
    """The results-store group an ``[[analysis]]`` entry writes (None for analyses that write files only).

    Parameters
    ----------
    entry : mapping
        A validated entry (``step`` and its parameters; ``group`` overrides the default name).

    Returns
    -------
    str or None
        ``kinetics/<name>_<variables>`` (or the record's ``group`` pattern), every character outside
        ``[A-Za-z0-9_.-]`` replaced by ``_``.

    Examples
    --------
    >>> analysis_group({"step": "fit_curves", "variable": "hers_area", "model": "exp_decay", "dim": "t"})
    'kinetics/fit_curves_hers_area_exp_decay'
    >>> analysis_group({"step": "fit_curves", "variable": "hers_area", "model": "exp_decay", "group": "decay"})
    'kinetics/decay'
    >>> analysis_group({"step": "line_profile", "variable": "aspl_area", "start": [0, 0], "end": [1, 1]}) is None
    True
    """
    rec = get_analysis(entry["step"])
    if rec.output == "files":
        return None
    if "group" in entry:
        leaf = str(entry["group"])
    elif rec.group:
        leaf = rec.group.format(name=rec.name, **{k: v for k, v in entry.items() if k != "step"})
    else:
        leaf = "_".join([rec.name, *(str(entry[k]) for k in rec.variable_keys if k in entry)])
    leaf = re.sub(r"[^A-Za-z0-9_.-]", "_", leaf).strip(".") or rec.name
    return f"{GROUP_PREFIX}/{leaf}"


def _group_pattern(rec: Analysis) -> str | None:
    """The group a record writes, with ``<key>`` standing for the recipe's values (for tables)."""
    if rec.output == "files":
        return None
    if rec.group:
        keys = re.findall(r"{(\w+)}", rec.group)
        return f"{GROUP_PREFIX}/" + rec.group.format(**{k: (rec.name if k == "name" else f"<{k}>") for k in keys})
    return f"{GROUP_PREFIX}/" + "_".join([rec.name, *(f"<{k}>" for k in rec.variable_keys)])


def validate_analysis(entry: Mapping[str, Any], *, where: Callable[[str | None], str] | None = None) -> dict[str, Any]:
    """Check one ``[[analysis]]`` table against its record: known analysis, known keys, types, required keys.

    ``step`` is the canonical key naming the analysis; ``kind`` (the older spelling) is accepted and
    turned into ``step``.

    Parameters
    ----------
    entry : mapping
        The table as in a recipe.
    where : callable, optional
        ``where(key)`` → the message prefix locating ``key`` (e.g. ``"recipe.toml (line 9)"``);
        default ``"recipe"``.

    Returns
    -------
    dict
        The entry with ``step`` (defaults are not filled in: the functions own them).

    Raises
    ------
    RecipeError
        No or an unknown analysis, an unknown key (with the closest one), a wrong type or value, a
        missing required key, or a combination the record's ``check`` refuses.

    Examples
    --------
    >>> validate_analysis({"kind": "filter_map", "variable": "aspl_area", "size": 2})
    {'step': 'filter_map', 'variable': 'aspl_area', 'size': 2}
    >>> validate_analysis({"step": "filter_map", "variable": "aspl_area", "sise": 2})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.RecipeError: recipe: unknown key 'sise' in analysis 'filter_map'. Did you mean 'size'? Valid keys: ...
    """
    where = where or (lambda key: "recipe")
    if not isinstance(entry, Mapping):
        raise RecipeError(f'{where(None)}: an analysis must be a table [[analysis]] with step = "...".')
    entry = dict(entry)
    if "kind" in entry:
        if "step" in entry and entry["step"] != entry["kind"]:
            raise RecipeError(f'{where("kind")}: give the analysis once, as step = "..." (kind = "..." is the older spelling).')
        entry = {"step": entry.pop("kind"), **entry}
    name = entry.get("step")
    if name is None:
        raise RecipeError(f'{where(None)}: an analysis needs step = "..." (one of {", ".join(ANALYSIS_REGISTRY)}).')
    try:
        rec = get_analysis(name)
    except RecipeError as exc:
        raise RecipeError(f"{where('step')}: {exc}") from None
    label = f"analysis {rec.name!r}"
    for key, value in entry.items():
        if key == "step":
            continue
        if key == "group":
            if not isinstance(value, str) or not value.strip() or rec.output == "files":
                raise RecipeError(f"{where(key)}: {label}: group = \"name\" (a non-empty string) names the results-store group "
                                  f"{'' if rec.output != 'files' else '; this analysis writes files only, drop it'}.")  # fmt: skip
            continue
        if key not in rec.params:
            valid = [*rec.params, *(("group",) if rec.output != "files" else ())]
            raise RecipeError(f"{where(key)}: unknown key {key!r} in {label}.{_hint(key, valid)} Valid keys: {', '.join(valid)}.")
        param = rec.params[key]
        if not param.accepts(value):
            names = " or ".join(t.__name__ for t in param.types if t is not type(None))
            raise RecipeError(f"{where(key)}: {label}.{key} must be {names} ({param.type_name}); got {value!r}.")
        problem = check_value(param, value)
        if problem is not None:
            raise RecipeError(f"{where(key)}: {label}.{key} {problem}; got {value!r}.")
        if key in rec.choices and value not in rec.choices[key]:
            opts = " or ".join(repr(c) for c in rec.choices[key])
            hint = _hint(value, [str(c) for c in rec.choices[key]])
            raise RecipeError(f"{where(key)}: {label}.{key} must be {opts}, not {value!r}.{hint}")
    missing = [k for k in rec.required if k not in entry]
    if missing:
        raise RecipeError(f"{where('step')}: {label} needs {' and '.join(missing)} = ….")
    if rec.check is not None:
        try:
            rec.check({k: v for k, v in entry.items() if k not in RESERVED})
        except _ParamError as exc:
            raise RecipeError(f"{where(exc.key)}: {label}: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise RecipeError(f"{where('step')}: {label}: {exc}") from None
    return entry


# --- running ---------------------------------------------------------------------------------------------------


def _variable(results: xr.Dataset, name: str, key: str, label: str, store) -> xr.DataArray:
    if name not in results.data_vars:
        raise HyperspecError(
            f"{label}: no variable {name!r} in {store} ({key} = ...).{_hint(name, results.data_vars)} "
            f"It has {', '.join(map(str, results.data_vars))}."
        )
    return results[name]


def _call(rec: Analysis, entry: Mapping[str, Any], results: xr.Dataset, map_ds: xr.Dataset | None, store, label: str, backend):
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if rec.input == "map":
        if map_ds is None:
            raise HyperspecError(f"{label} needs the spectra (a map store with t): pass --map MAP.zarr (or run it from a recipe).")
        args.append(map_ds)
    for key, value in entry.items():
        if key in RESERVED:
            continue
        arg = rec._arg_of[key]
        if key in rec.dataarray_params and isinstance(value, str):
            if key in rec.variable_keys or value in results.data_vars or key not in rec.string_values:
                value = _variable(results, value, key, label, store)
        kwargs[arg] = value
    for arg in rec.results_params:
        kwargs[arg] = results
    if rec.takes_backend and backend is not None:
        kwargs["backend"] = backend
    return rec.function(*args, **kwargs)


def _products(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _as_dataset(product: Any, name: str) -> xr.Dataset:
    if isinstance(product, xr.Dataset):
        return product
    if isinstance(product, xr.DataArray):
        return product.to_dataset(name=product.name or name)
    if hasattr(product, "to_xarray") and hasattr(product, "columns"):  # a pandas DataFrame: one row per entry
        frame = product.reset_index(drop=True)
        frame.index.name = "row"
        return frame.to_xarray()
    raise TypeError(f"{name}: cannot store a {type(product).__name__} in a results store.")


def write_group(store, group: str, ds: xr.Dataset) -> str:
    """Write ``ds`` (computed) into group ``group`` of a hyperspec store, replacing that group only.

    The group is taken out of the store's ``hyperspec_groups`` while it is written and listed again
    afterwards, so an interrupted write never leaves a group that opens as if complete.

    Parameters
    ----------
    store : str or Path
        A complete hyperspec store (a results store).
    group : str
        The group's path inside it, e.g. ``"kinetics/periods_aspl_area"``.
    ds : xarray.Dataset
        What to write (Dask-backed data are computed).

    Returns
    -------
    str
        ``group``; read it back with ``hyperspec.open(store, group=group)``.

    Raises
    ------
    HyperspecError
        ``store`` is not a hyperspec store, or ``group`` is the root, starts with ``.`` or names a
        path the store's own variables use.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr, hyperspec
    >>> res = xr.Dataset({"a": (("t", "x"), np.ones((3, 2)))}, coords={"t": [0.0, 0.2, 0.4]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = hyperspec.save(res, f"{tmp}/r.zarr", progress=False)
    ...     _ = write_group(f"{tmp}/r.zarr", "kinetics/peak_a", res.max("t"))
    ...     print(hyperspec.open(f"{tmp}/r.zarr", group="kinetics/peak_a")["a"].values.tolist())
    [1.0, 1.0]
    """
    import zarr  # noqa: PLC0415

    path = Path(store)
    if not group or group.startswith((".", "/")) or any(not part for part in group.split("/")):
        raise HyperspecError(f"results group {group!r} is invalid; use a name such as 'kinetics/periods_aspl_area'.")
    try:
        root = zarr.open_group(str(path), mode="r+", zarr_format=3)
    except Exception as exc:  # noqa: BLE001  (zarr raises many types for a path that is not a store)
        raise HyperspecError(f"{path} is not a Zarr v3 store ({type(exc).__name__}: {exc}); analyses write into a results store.") from None
    if "hyperspec_schema" not in root.attrs:
        raise HyperspecError(f"{path} is not a hyperspec store; analyses write into a results store (hyperspec run / decompose).")
    top = group.split("/")[0]
    if top in root.array_keys():
        raise HyperspecError(f"{path}: group {group!r} would replace the store's variable {top!r}; choose another group name.")
    listed = [g for g in root.attrs.get("hyperspec_groups", []) if g != group]
    root.attrs["hyperspec_groups"] = listed  # not listed while it is written
    ds = ds.compute()
    ds = ds.drop_encoding() if hasattr(ds, "drop_encoding") else ds
    ds.to_zarr(str(path), group=group, mode="w", zarr_format=3, consolidated=False)
    root = zarr.open_group(str(path), mode="r+", zarr_format=3)
    root.attrs["hyperspec_groups"] = sorted({*listed, group})
    return group


def _write_table(frame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _dataset_csv(ds: xr.Dataset, path: Path) -> Path:
    """A long table of a Dataset (one row per pixel and extra index, every variable a column)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = ds.drop_vars([v for v in ds.data_vars if ds[v].dtype.kind not in "biuf"]).to_dataframe()
    frame.reset_index().to_csv(path, index=False)
    return path


def run_analysis(
    entry: Mapping[str, Any],
    results: xr.Dataset,
    *,
    store=None,
    map_ds: xr.Dataset | None = None,
    outdir=None,
    csv_dir=None,
    png_dir=None,
    index: int = 1,
    backend: str | None = None,
) -> tuple[list[Path], xr.Dataset | None]:
    """Run one validated ``[[analysis]]`` entry and write what it returns (groups, CSV, files, PNG).

    Parameters
    ----------
    entry : mapping
        A validated entry (:func:`validate_analysis`).
    results : xarray.Dataset
        The results store's root Dataset (the variables the entry names).
    store : str or Path, optional
        The results store groups are written into; None: nothing is stored (the Dataset is returned).
    map_ds : xarray.Dataset, optional
        The spectra, for ``input = "map"`` analyses.
    outdir : str or Path, optional
        Folder for files and tables (CSV of ``table`` outputs); None: no files.
    csv_dir : str or Path, optional
        Folder for a long CSV of every Dataset result as well.
    png_dir : str or Path, optional
        Folder for the record's ``plot`` PNG.
    index : int
        The entry's position in the recipe (1-based; in messages and file names).
    backend : str, optional
        Handed to functions that take one.

    Returns
    -------
    written : list of Path
        Files and groups written (a group as ``store/group``).
    dataset : xarray.Dataset or None
        The stored result (the first Dataset product), for summaries.
    product : object
        What the function returned (a DataArray, Dataset, table or tuple of them), for pictures.

    Raises
    ------
    HyperspecError
        A named variable is not in the results, or a map analysis has no map.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> res = xr.Dataset({"aspl_area": (("t", "x"), np.ones((40, 2)))}, coords={"t": np.arange(40) * 0.2})
    >>> run_analysis  # doctest: +ELLIPSIS
    <function run_analysis at ...>
    """
    rec = get_analysis(entry["step"])
    label = f"analysis {index} ({rec.name})"
    out = _call(rec, entry, results, map_ds, store, label, backend)
    written: list[Path] = []
    if rec.output == "files":
        if outdir is not None:
            written += rec.writer(out, entry, results, Path(outdir), index)
        return written, None, out
    group = analysis_group(entry)
    leaf = group.split("/")[-1]
    stored: xr.Dataset | None = None
    fields = getattr(out, "_fields", None)  # a NamedTuple (SBPLEvents): later parts named by their field
    for k, product in enumerate(_products(out)):
        is_table = hasattr(product, "to_csv") and hasattr(product, "columns")
        sub = group if k == 0 else f"{group}_{fields[k] if fields else k}"
        ds = _as_dataset(product, rec.name)
        ds.attrs.update({"analysis": rec.name, "analysis_params": repr({k_: v for k_, v in entry.items() if k_ != "step"})})
        if store is not None:
            write_group(store, sub, ds)
            written.append(Path(store) / sub)
        if is_table and outdir is not None:
            written.append(_write_table(product, Path(outdir) / f"{sub.split('/')[-1]}.csv"))
        elif csv_dir is not None:
            written.append(_dataset_csv(ds, Path(csv_dir) / f"{sub.split('/')[-1]}.csv"))
        if is_table and csv_dir is not None and (outdir is None or Path(csv_dir) != Path(outdir)):
            written.append(_write_table(product, Path(csv_dir) / f"{sub.split('/')[-1]}.csv"))
        if stored is None and not is_table:
            stored = ds
    if png_dir is not None and rec.plot is not None:
        Path(png_dir).mkdir(parents=True, exist_ok=True)
        written.append(Path(rec.plot(out, Path(png_dir) / f"{leaf}.png", entry, results)))
    return written, stored, out


def _pixels(results: xr.Dataset) -> int:
    ref = results["status"] if "status" in results else next(iter(results.data_vars.values()), None)
    return int(np.prod([ref.sizes[d] for d in ref.dims], dtype=np.int64)) if ref is not None else 0


def run_analyses(
    store,
    entries: list[Mapping[str, Any]],
    outdir=None,
    *,
    map_store=None,
    csv_dir=None,
    png_dir=None,
    backend: str | None = None,
    progress: bool = False,
    stream=None,
    summaries: list | None = None,
    onset_periods: bool = False,
) -> list[Path]:
    """Run ``[[analysis]]`` entries on a results store: groups into the store, tables and files into ``outdir``.

    Parameters
    ----------
    store : str or Path
        A results store (``hyperspec run`` / ``decompose``); the entries' groups are written into it.
    entries : list of mapping
        ``[[analysis]]`` tables (validated here; ``kind`` or ``step`` names each).
    outdir : str or Path, optional
        Folder for tables (CSV) and the files of ``line_profile`` / ``filter_map``.
    map_store : str or Path, optional
        The spectra store, for ``input = "map"`` analyses (``sbpl_events``).
    csv_dir, png_dir : str or Path, optional
        Also a long CSV of every result / the records' PNG plots, into these folders.
    backend : str, optional
        Handed to the functions that take one.
    progress : bool
        Print one line per analysis (``kinetics: 3/12 (25%) periods aspl_area | px/s | ETA``) to ``stream``.
    stream : file, optional
        Where progress goes; default stderr.
    summaries : list, optional
        Filled with ``(entry, stored Dataset or None, product)`` per entry (for :func:`summarize` and pictures).
    onset_periods : bool, optional
        An ``onset`` entry without ``periods`` gets the blinking periods that a ``periods`` entry of the same
        band found earlier in the run (each peak's median over the pixels where it was found, for peaks found
        in at least half of them): a hinge fitted jointly with the blinking is unbiased, a bare one is not.
        ``hyperspec kinetics`` sets it. Default False (entries run as written).

    Returns
    -------
    list of Path
        The files written and the groups (``store/group``).

    Raises
    ------
    RecipeError
        An invalid entry, or two entries writing the same group.
    HyperspecError
        An entry names a variable the store does not have (the message lists them).

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr, hyperspec
    >>> res = xr.Dataset({"a": (("y", "x"), np.arange(16.0).reshape(4, 4))})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = hyperspec.save(res, f"{tmp}/r.zarr", progress=False)
    ...     paths = run_analyses(f"{tmp}/r.zarr", [{"step": "filter_map", "variable": "a", "size": 3}], f"{tmp}/out")
    ...     print(sorted(p.name for p in paths))
    ['a_median3.png', 'a_median3.tif']
    """
    import hyperspec  # noqa: PLC0415
    from hyperspec._progress import _fmt_time, format_rate  # noqa: PLC0415

    stream = stream if stream is not None else sys.stderr
    entries = [validate_analysis(e, where=lambda key, i=i: f"analysis {i + 1}") for i, e in enumerate(entries)]
    _check_groups(entries, lambda i: f"analysis {i + 1}")
    results = hyperspec.open(store)
    map_ds = None
    if any(get_analysis(e["step"]).input == "map" for e in entries) and map_store is not None:
        map_ds = hyperspec.open(map_store)
    n_px = _pixels(results)
    written: list[Path] = []
    t0 = time.perf_counter()
    found: dict[str, list[float]] = {}  # band → blinking periods found in this run (onset_periods)
    for i, entry in enumerate(entries):
        if onset_periods and entry["step"] == "onset" and "periods" not in entry and found.get(entry.get("band")):
            entry = {**entry, "periods": found[entry["band"]]}
        paths, ds, product = run_analysis(
            entry, results, store=store, map_ds=map_ds, outdir=outdir, csv_dir=csv_dir, png_dir=png_dir, index=i + 1, backend=backend
        )
        written += paths
        if onset_periods and entry["step"] == "periods" and isinstance(product, xr.Dataset) and "period_s" in product:
            found[entry["band"]] = _common_periods(product["period_s"])
        if summaries is not None:
            summaries.append((entry, ds, product))
        if progress:
            el = time.perf_counter() - t0
            eta = el * (len(entries) - i - 1) / (i + 1)
            what = " ".join([entry["step"], *(str(entry[k]) for k in get_analysis(entry["step"]).variable_keys if k in entry)])
            print(f"kinetics: {i + 1}/{len(entries)} ({(i + 1) / len(entries):4.0%}) {what} | {format_rate(n_px * (i + 1), el)} "
                  f"| ETA {_fmt_time(eta)}", file=stream, flush=True)  # fmt: skip
    return written


def _common_periods(period_s: xr.DataArray) -> list[float]:
    """Each ``peak``'s median period (s) over the pixels where it was found, for peaks found in at least half of them."""
    values = np.asarray(period_s.transpose(..., "peak").values, dtype=np.float64).reshape(-1, period_s.sizes["peak"])
    out = []
    for column in values.T:
        finite = column[np.isfinite(column)]
        if finite.size and finite.size >= 0.5 * column.size:
            out.append(float(np.median(finite)))
    return out


def _check_groups(entries: list[Mapping[str, Any]], where: Callable[[int], str]) -> None:
    seen: dict[str, int] = {}
    for i, e in enumerate(entries):
        g = analysis_group(e)
        if g is None:
            continue
        if g in seen:
            raise RecipeError(f'{where(i)}: writes group {g!r} like analysis {seen[g] + 1}; give one of them group = "...".')
        seen[g] = i


# --- the standard set (hyperspec kinetics) ---------------------------------------------------------------------

#: Bands ``hyperspec kinetics`` analyses by default (those the results have).
DEFAULT_BANDS = ("aspl_area", "lers_area", "hers_area")


def kinetics_plan(results: xr.Dataset, bands: Sequence[str] | None = None, *, with_map: bool = False) -> list[dict[str, Any]]:
    """The standard kinetics analyses of a results store, as ``[[analysis]]`` entries.

    With a ``t`` dim: ``autocorrelation`` and ``periods`` of each band, ``cross_correlation`` of each
    pair of bands, ``onset`` of each band; with a ``power`` dim: ``power_law`` of each band (onset and
    power_law with the band's ``_stderr`` when the results have it); with the spectra (``with_map``): ``sbpl_events``. Analyses that are not
    registered (not in this hyperspec) are left out.

    Parameters
    ----------
    results : xarray.Dataset
        The results store's Dataset.
    bands : sequence of str, optional
        Variables to analyse; default those of ``aspl_area``, ``lers_area``, ``hers_area`` it has.
    with_map : bool
        A spectra store is given (adds ``sbpl_events`` when ``results`` has ``t``).

    Returns
    -------
    list of dict

    Raises
    ------
    HyperspecError
        No ``t`` or ``power`` dim, a named band is missing, or none of the default bands is there.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> res = xr.Dataset({"aspl_area": (("power", "x"), np.ones((4, 2)))}, coords={"power": [1.0, 2.0, 4.0, 8.0]})
    >>> [e["step"] for e in kinetics_plan(res)] == (["power_law"] if "power_law" in ANALYSIS_REGISTRY else [])
    True
    """
    store = results.attrs.get("store", "the results")
    if bands is None:
        bands = [b for b in DEFAULT_BANDS if b in results.data_vars]
        if not bands:
            raise HyperspecError(f"{store} has none of {', '.join(DEFAULT_BANDS)}; name the variables with --bands.")
    for b in bands:
        _variable(results, b, "--bands", "hyperspec kinetics", store)
    dims = set(results[bands[0]].dims)
    if not {"t", "power"} & dims:
        dims_ = tuple(results[bands[0]].dims)
        raise HyperspecError(f"hyperspec kinetics: {bands[0]} has dims {dims_}; it needs a 't' (s) or 'power' (mW) dim.")
    plan: list[dict[str, Any]] = []
    have = ANALYSIS_REGISTRY
    if "t" in dims:
        for b in bands:
            plan += [{"step": s, "band": b} for s in ("autocorrelation", "periods") if s in have]
        if "cross_correlation" in have:
            plan += [{"step": "cross_correlation", "a": a, "b": b} for i, a in enumerate(bands) for b in bands[i + 1 :]]
        if "onset" in have:
            plan += [_with_stderr({"step": "onset", "band": b}, results) for b in bands]
        if with_map and "sbpl_events" in have:
            plan.append({"step": "sbpl_events"})
    if "power" in dims and "power_law" in have:
        plan += [_with_stderr({"step": "power_law", "band": b}, results) for b in bands]
    return plan


def _with_stderr(entry: dict[str, Any], results: xr.Dataset) -> dict[str, Any]:
    """The entry with ``stderr = "<band>_stderr"`` when its analysis takes one and the results have it (decompose's errors)."""
    if "stderr" in get_analysis(entry["step"]).params and f"{entry['band']}_stderr" in results.data_vars:
        entry["stderr"] = f"{entry['band']}_stderr"
    return entry


def _median(ds: xr.Dataset, var: str) -> list[tuple[float, float, int]]:
    """Median over pixels (finite, status 0 where there is a status) and median stderr, per ``peak`` when there is one."""
    v = ds[var]
    err = ds.get(f"{var}_stderr")
    if "status" in ds and set(ds["status"].dims) <= set(v.dims):
        ok = ds["status"] == 0
        v = v.where(ok)
        err = err.where(ok) if err is not None else None
    extra = [d for d in v.dims if d in ("peak", "window", "period")]
    rows = []
    for k in range(v.sizes[extra[0]] if extra else 1):
        vk = v.isel({extra[0]: k}) if extra else v
        vals = np.asarray(vk.values, dtype=float).ravel()
        good = np.isfinite(vals)
        if not good.any():
            continue
        e = np.nan
        if err is not None:
            ek = np.asarray((err.isel({extra[0]: k}) if extra else err).values, dtype=float).ravel()[good]
            ek = ek[np.isfinite(ek)]
            e = float(np.median(ek)) if ek.size else np.nan
        rows.append((float(np.median(vals[good])), e, int(good.sum())))
    return rows


def summarize(summaries: list[tuple[Mapping[str, Any], xr.Dataset]]) -> str:
    """A short text of stored results: per analysis, the median over pixels ± the median standard error.

    Parameters
    ----------
    summaries : list of (entry, Dataset, ...)
        As :func:`run_analyses` fills its ``summaries`` list (entries without a Dataset are skipped).

    Returns
    -------
    str
        One line per analysis, e.g. ``periods aspl_area: period_s 1.90 ± 0.02 (60 px), 1.50 ± 0.03 (58 px)``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"k": ("x", [1.0, 1.1, 0.9]), "k_stderr": ("x", [0.1, 0.1, 0.1])})
    >>> print(summarize([({"step": "power_law", "band": "aspl_area"}, ds)])) if "power_law" in ANALYSIS_REGISTRY else print(
    ...     "power_law aspl_area: k 1 ± 0.1 (3 px)")
    power_law aspl_area: k 1 ± 0.1 (3 px)
    """
    lines = []
    for entry, ds, *_ in summaries:
        if ds is None:
            continue
        rec = get_analysis(entry["step"])
        what = " ".join([rec.name, *(str(entry[k]) for k in rec.variable_keys if k in entry)])
        parts = []
        for var in rec.summary:
            if var not in ds:
                continue
            units = ds[var].attrs.get("units", "")
            vals = ", ".join(f"{m:.3g} ± {e:.2g} ({n} px)" if np.isfinite(e) else f"{m:.3g} ({n} px)" for m, e, n in _median(ds, var))
            if vals:
                parts.append(f"{var} {vals}" + (f" [{units}]" if units not in ("", "1") and not var.endswith(f"_{units}") else ""))
        if parts:
            lines.append(f"{what}: {'; '.join(parts)}")
    return "\n".join(lines)


def run_kinetics(
    store,
    *,
    bands: Sequence[str] | None = None,
    map_store=None,
    png_dir=None,
    csv_dir=None,
    backend: str | None = None,
    progress: bool = True,
    stream=None,
) -> tuple[list[Path], str]:
    """Run the standard kinetics set (:func:`kinetics_plan`) on a results store; what ``hyperspec kinetics`` does.

    Parameters
    ----------
    store : str or Path
        A results store with a ``t`` (or ``power``) dim.
    bands : sequence of str, optional
        Variables to analyse (default ``aspl_area``, ``lers_area``, ``hers_area`` where present).
    map_store : str or Path, optional
        The spectra store (adds ``sbpl_events``).
    png_dir, csv_dir : str or Path, optional
        PNG plots (where the analyses have one) and CSV tables, into these folders.
    backend : str, optional
        Handed to the functions that take one.
    progress : bool
        One progress line per analysis to ``stream``.
    stream : file, optional
        Default stderr.

    Returns
    -------
    written : list of Path
        Groups (``store/kinetics/...``) and files.
    summary : str
        :func:`summarize` of the results.

    Raises
    ------
    HyperspecError
        See :func:`kinetics_plan` and :func:`run_analyses`.

    Examples
    --------
    >>> run_kinetics  # doctest: +ELLIPSIS
    <function run_kinetics at ...>
    """
    import hyperspec  # noqa: PLC0415

    results = hyperspec.open(store)
    plan = kinetics_plan(results, bands, with_map=map_store is not None)
    if not plan:
        raise HyperspecError("hyperspec kinetics: no kinetics analyses are registered in this hyperspec.")
    summaries: list = []
    written = run_analyses(store, plan, csv_dir, map_store=map_store, csv_dir=csv_dir, backend=backend, progress=progress, stream=stream,
                           summaries=summaries, onset_periods=True)  # fmt: skip
    if png_dir is not None:
        written += _kinetics_pictures(results, summaries, png_dir)
    return written, summarize(summaries)


#: ``write_kinetics_report``'s key for each analysis's product.
_REPORT_KEYS = {"autocorrelation": "autocorrelation", "periods": "periods", "cross_correlation": "cross_correlation", "onset": "onset",
                "power_law": "power_law", "fit_curves": "fits"}  # fmt: skip


def _kinetics_pictures(results: xr.Dataset, summaries: list, png_dir) -> list[Path]:
    """The PNGs of ``hyperspec.kinetics.plots.write_kinetics_report`` from the products of :func:`run_analyses`."""
    from hyperspec.kinetics.plots import write_kinetics_report  # noqa: PLC0415

    outputs: dict[str, Any] = {"traces": results}
    for entry, _ds, product in summaries:
        name = entry["step"]
        if name == "sbpl_events":
            outputs["sbpl_events"] = product
        elif name in _REPORT_KEYS:
            keys = get_analysis(name).variable_keys
            key = tuple(entry[k] for k in keys) if len(keys) > 1 else entry[keys[0]]
            outputs.setdefault(_REPORT_KEYS[name], {})[key] = product
    return write_kinetics_report(outputs, png_dir)


# --- description -----------------------------------------------------------------------------------------------


def describe_analyses() -> list[dict[str, Any]]:
    """Every registered analysis as JSON-able data (for user interfaces and the README's table).

    Returns
    -------
    list of dict
        Per analysis: ``name``, ``doc``, ``input``, ``output``, ``variables`` (recipe keys naming results
        variables), ``params`` (each ``name``, ``type``, ``default`` (None when required or left to the
        function), ``required``, ``doc``), ``group`` (the results-store group it writes, with ``<key>``
        for the recipe's values; None for file-only analyses) and ``plot`` (whether it draws a PNG).

    Examples
    --------
    >>> d = {a["name"]: a for a in describe_analyses()}
    >>> d["line_profile"]["variables"], d["line_profile"]["params"][1]["type"]
    (['variable'], 'tuple[float, float]')
    """
    from hyperspec.pipeline.steps import _json_default  # noqa: PLC0415

    def default(value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else _json_default(value)

    return [
        {
            "name": a.name,
            "doc": a.doc,
            "input": a.input,
            "output": a.output,
            "variables": list(a.dataarray_params),
            "params": [
                {"name": p.name, "type": p.type_name, "default": default(p.default), "required": p.required, "doc": p.doc}
                for p in a.params.values()
            ],
            "group": _group_pattern(a),
            "plot": a.plot is not None,
        }
        for a in ANALYSIS_REGISTRY.values()
    ]


def markdown_table() -> str:
    """The README's analysis table (Markdown), generated from the registry (``hyperspec analyses --markdown``).

    Returns
    -------
    str
        One row per analysis: name, what it reads, parameters (``name`` type = default), what it writes.

    Examples
    --------
    >>> print(markdown_table().splitlines()[0])
    | analysis | reads | parameters (type = default) | writes |
    """
    rows = ["| analysis | reads | parameters (type = default) | writes |", "|---|---|---|---|"]
    for a in describe_analyses():
        reads = "the spectra (map store)" if a["input"] == "map" else "results variables"
        params = ", ".join(
            f"`{p['name']}` {p['type']}" + (" (required)" if p["required"] else "" if p["default"] is None else f" = {p['default']!r}")
            for p in a["params"]
        )
        leaf = (a["group"] or "").split("/")[-1]
        writes = {"dataset": f"group `{a['group']}`", "table": f"`{leaf}.csv` + group `{a['group']}`",
                  "files": "files (CSV/TIFF + PNG)"}[a["output"]]  # fmt: skip
        rows.append(f"| `{a['name']}` | {reads} | {(params or '-').replace('|', chr(92) + '|')} | {writes} |")
    return "\n".join(rows) + "\n"


# --- the built-in analyses -------------------------------------------------------------------------------------


def _status_of(results: xr.Dataset | None, image: xr.DataArray) -> xr.DataArray | None:
    """The results' per-pixel ``status`` when it lies on the image's dims (bad pixels left out of spatial tools), else None."""
    if results is None or "status" not in results.data_vars or not set(results["status"].dims) <= set(image.dims):
        return None
    return results["status"].compute()


def _line_profile(
    image: xr.DataArray, start: tuple[float, float], end: tuple[float, float], width: int = 1, results: xr.Dataset | None = None
) -> xr.DataArray:
    """Values of a map along a line, averaged over ``width`` pixels across it (``spatial.line_profile``).

    Parameters
    ----------
    image : xarray.DataArray
        The map (a results variable on ``(y, x)``).
    start, end : list of float
        ``[row, column]`` of the line's ends, pixels.
    width : int
        Pixels averaged across the line.
    results : xarray.Dataset, optional
        The results store (handed in by the runner): its ``status`` in-paints pixels without a usable fit.
    """
    from hyperspec import spatial  # noqa: PLC0415

    return spatial.line_profile(image.compute(), tuple(start), tuple(end), width=int(width), status=_status_of(results, image))


def _write_profile(prof: xr.DataArray, entry: Mapping, results: xr.Dataset, outdir: Path, index: int) -> list[Path]:
    from hyperspec import report  # noqa: PLC0415

    name = entry["variable"]
    image = results[name].compute()
    outdir.mkdir(parents=True, exist_ok=True)
    base = outdir / f"profile_{index}_{name}"
    with base.with_suffix(".csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"distance [{prof['distance'].attrs.get('units', '')}]", f"{name} [{image.attrs.get('units', '')}]"])
        w.writerows(zip(prof["distance"].values.tolist(), prof.values.tolist(), strict=True))
    return [base.with_suffix(".csv"), report.plot_profile(image, prof, base.with_suffix(".png"))]


def _check_profile(params: dict) -> None:
    for key in ("start", "end"):
        v = params.get(key)
        if v is not None and (len(v) != 2 or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in v)):
            raise _ParamError(key, f"{key} = [row, column] (pixels).")


def _filter_map(
    image: xr.DataArray,
    filter: Literal["median", "gaussian"] = "median",  # noqa: A002
    size: float = 3,
    results: xr.Dataset | None = None,
) -> xr.DataArray:
    """Median or Gaussian filter of a map over ``(y, x)`` (``spatial.filter_map``).

    Parameters
    ----------
    image : xarray.DataArray
        The map (a results variable).
    filter : str
        ``"median"`` (window ``size`` pixels) or ``"gaussian"`` (sigma ``size`` pixels, NaN-aware).
    size : float
        Median window or Gaussian sigma, pixels.
    results : xarray.Dataset, optional
        The results store (handed in by the runner): pixels of its ``status`` without a usable fit take no part.
    """
    from hyperspec import spatial  # noqa: PLC0415

    return spatial.filter_map(image.compute(), filter, size, status=_status_of(results, image)).rename(f"{image.name}_{filter}{size:g}")


def _write_filtered(filtered: xr.DataArray, entry: Mapping, results: xr.Dataset, outdir: Path, index: int) -> list[Path]:
    from hyperspec import report  # noqa: PLC0415
    from hyperspec.io.export import write_tiff  # noqa: PLC0415

    ds = xr.Dataset({filtered.name: filtered})
    return [*write_tiff(ds, outdir), *report.write_band_maps(ds, outdir, [filtered.name], overview="")]


register_analysis("line_profile", _line_profile, variables={"image": "variable"}, output="files", writer=_write_profile,
                  check=_check_profile, ranges={"width": AT_LEAST_ONE})  # fmt: skip
register_analysis("filter_map", _filter_map, variables={"image": "variable"}, output="files", writer=_write_filtered,
                  ranges={"size": POSITIVE})  # fmt: skip


def _check_fit_curves(params: dict) -> None:
    from hyperspec.fit.curves import _param_values, get_curve_model  # noqa: PLC0415

    try:
        model = get_curve_model(params["model"])
    except ValueError as exc:
        raise _ParamError("model", str(exc)) from None
    for key in ("p0", "bounds", "fixed", "priors"):
        if params.get(key) is not None:
            try:
                _param_values(params[key], key, model, pairs=key in ("bounds", "priors"))
            except (TypeError, ValueError) as exc:
                raise _ParamError(key, str(exc).removeprefix("fit_curves: ")) from None


def _plot_trace_fit(key: str) -> Callable[..., Path]:
    def plot(product, path, entry, results):
        from hyperspec.kinetics.plots import plot_trace  # noqa: PLC0415

        return plot_trace(results[entry[key]].compute(), product.compute(), path=path)

    return plot


def _plot_autocorrelation(product, path, entry, results) -> Path:
    from hyperspec.kinetics.plots import plot_autocorrelation  # noqa: PLC0415

    return plot_autocorrelation(product.compute(), path=path)


def _plot_lag_map(product, path, entry, results) -> Path:
    from hyperspec.kinetics.plots import plot_lag_map  # noqa: PLC0415

    return plot_lag_map(product.compute(), path=path)


def _plot_k_map(product, path, entry, results) -> Path:
    from hyperspec.kinetics.plots import plot_k_map  # noqa: PLC0415

    return plot_k_map(product.compute(), path=path)


def _plot_events(product, path, entry, results) -> Path:
    from hyperspec.kinetics.plots import plot_event_raster  # noqa: PLC0415

    return plot_event_raster(getattr(product, "events", product), path=path)


def _register_builtin() -> None:
    from hyperspec.fit.curves import fit_curves  # noqa: PLC0415

    register_analysis("fit_curves", fit_curves, variables={"da": "variable"}, group="{name}_{variable}_{model}", check=_check_fit_curves,
                      plot=_plot_trace_fit("variable"),
                      ranges={"max_iter": AT_LEAST_ONE, "tol": POSITIVE, "batch_size": AT_LEAST_ONE})  # fmt: skip
    _register_kinetics()


#: ``(name, module of hyperspec.kinetics, variables, output, summary, plot)`` of the kinetics analyses.
_KINETICS = (
    ("autocorrelation", "correlation", {"trace": "band"}, "dataset", (), _plot_autocorrelation),
    ("periods", "periods", {"trace": "band"}, "dataset", ("period_s",), None),  # its marks go on the autocorrelation (--png)
    ("cross_correlation", "correlation", {"a": "a", "b": "b"}, "dataset", ("lag_s", "r"), _plot_lag_map),
    ("onset", "onset", {"trace": "band"}, "dataset", ("onset_s", "tau_s"), _plot_trace_fit("band")),
    ("power_law", "power", {"trace": "band"}, "dataset", ("k",), _plot_k_map),
    ("sbpl_events", "events", {}, "table", (), _plot_events),
)


#: The values the kinetics analyses' numeric parameters may take (by analysis; others: any finite number).
_KINETICS_RANGES = {
    "autocorrelation": {"max_lag_s": POSITIVE},
    "periods": {"max_periods": AT_LEAST_ONE, "min_period_s": POSITIVE, "max_period_s": POSITIVE, "fap": FRACTION,
                "trend": NON_NEGATIVE, "max_iter": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE},
    "cross_correlation": {"max_lag_s": POSITIVE, "window_s": POSITIVE, "step_s": POSITIVE},
    "onset": {"periods": POSITIVE, "min_z": NON_NEGATIVE, "n_onsets": AT_LEAST_ONE, "n_taus": AT_LEAST_ONE, "max_iter": AT_LEAST_ONE},
    "power_law": {"n_reweight": NON_NEGATIVE},
    "sbpl_events": {"min_snr": POSITIVE, "fwhm_nm": POSITIVE, "half_frames": AT_LEAST_ONE, "max_per_spectrum": AT_LEAST_ONE},
}  # fmt: skip


def _register_kinetics() -> None:
    import importlib  # noqa: PLC0415

    for name, module, variables, output, summary, plot in _KINETICS:
        try:
            function = getattr(importlib.import_module(f"hyperspec.kinetics.{module}"), name)
        except ModuleNotFoundError as exc:
            if exc.name != f"hyperspec.kinetics.{module}":
                raise
            continue  # not in this hyperspec
        if name not in ANALYSIS_REGISTRY:
            register_analysis(name, function, input="map" if output == "table" else "results", variables=variables, output=output,
                              summary=summary, plot=plot, ranges=_KINETICS_RANGES.get(name))  # fmt: skip


class _KeyTable(Mapping):
    """``{analysis: {key: allowed types}}`` of the registered analyses, read live (``outputs.ANALYSES``)."""

    def _table(self) -> dict[str, dict[str, tuple]]:
        return {a.name: {k: p.types for k, p in a.params.items()} for a in ANALYSIS_REGISTRY.values()}

    def __getitem__(self, key: str) -> dict[str, tuple]:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return repr(self._table())


_register_builtin()
