"""Model-spec editing: a preset or a custom model, with the overrides of ``decompose`` applied.

A model spec is plain data, ``{"mask": [[lo, hi], ...], "terms": {term: term spec}}`` (term specs:
``hyperspec.fit.composite``); :func:`build_model_spec` makes one and never touches the caller's.

A model file is the same spec as TOML (:func:`load_model` reads one, :func:`model_to_toml` writes one)::

    description = "silicon line on a constant background"
    mask = [[-10.0, 10.0]]          # Raman-shift intervals left out of the fit, cm-1 (optional)

    [terms.si]
    shape = "lorentzian"            # a registry component: hyperspec presets lists them
    init = { center = 520.0, hwhm = 3.0 }
    bounds = { center = [510.0, 530.0], hwhm = [0.5, 15.0] }

    [terms.background]
    shape = "polynomial0"

The terms may also stand at the top level (``[si]``, ``[background]``), as the inline terms of a
recipe's ``[decompose.model]`` do.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
import tomllib

from hyperspec._errors import ModelFileError
from hyperspec.bands.presets import get_preset, preset_parameters
from hyperspec.fit.composite import TERM_KEYS

__all__ = ["build_model_spec", "load_model", "model_to_toml", "read_model", "MODEL_FILE_KEYS"]

_OPTION_KEYS = ("mask", "drop", "include")


def build_model_spec(
    preset: str | Mapping | None = "cspbbr3-633", model: Mapping | str | os.PathLike | None = None, *, data=None, **overrides
) -> dict:
    """The model spec ``{"mask": [...], "terms": {...}}`` from a preset or a custom model, with overrides.

    Parameters
    ----------
    preset : str or mapping, optional
        A preset name (``hyperspec.bands.presets.preset_names()``) or a preset-like mapping; ignored
        when ``model`` is given. Default ``"cspbbr3-633"``.
    model : mapping, str or path-like, optional
        A custom model: ``{term: term spec}``, a whole spec with ``"terms"`` (and ``"mask"``), or the
        path of a model file (TOML, read by :func:`load_model`).
    **overrides
        ``<term>={...}`` merges into that term's spec (``init``, ``bounds``, ``prior``, ``fixed``,
        ``tie``, ``window``) or adds a new term when it has a ``shape``; ``drop=[...]`` removes
        terms; ``include=[...]`` adds optional terms of the preset; ``mask=[[lo, hi], ...]`` replaces
        the masked Raman-shift intervals (cm⁻¹). A parametrised preset's parameters
        (``hyperspec.bands.presets.preset_parameters``, e.g. ``positions``, ``shape`` and
        ``baseline`` of ``"peaks"``) build the preset first; they are not read as term names.
    data : xarray.Dataset, optional
        The map, for parametrised presets that look at it (``"peaks"`` with ``positions="auto"``).

    Returns
    -------
    dict
        A new spec (deep copies throughout). A ``"peaks"`` preset found on the data keeps the line
        search in ``spec["autostart"]`` (``hyperspec.bands.autostart.LineSearch``); ``decompose``
        takes it out and records it in its result's attrs.

    Raises
    ------
    ValueError
        For an unknown term, key or optional term (with the closest valid names), or when no term is left.
    ModelFileError
        For a model file that cannot be read or holds a bad model (see :func:`load_model`).

    Examples
    --------
    >>> spec = build_model_spec(model={"g": {"shape": "gaussian"}}, mask=[[-10, 10]])
    >>> spec["mask"], list(spec["terms"])
    ([[-10.0, 10.0]], ['g'])
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if model is not None:
        spec = copy.deepcopy(dict(model))
        if "terms" not in spec:
            spec = {"mask": [], "terms": spec}
    elif isinstance(preset, Mapping):
        spec = copy.deepcopy(dict(preset))
    else:
        params = {k: overrides.pop(k) for k in preset_parameters(preset) if k in overrides}
        spec = get_preset(preset, data=data, **params)
    spec.setdefault("mask", [])
    terms = spec["terms"]
    optional = spec.pop("optional_terms", {})
    for name in overrides.pop("include", []) or []:  # first, so the included terms can be edited below
        if name not in optional:
            close = difflib.get_close_matches(str(name), list(optional), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"cannot include {name!r}: not an optional term of this model.{hint} Optional: {', '.join(optional) or 'none'}."
            )
        terms[name] = copy.deepcopy(optional[name])
    for key, value in overrides.items():
        if key == "drop":
            for name in value:
                if name not in terms:
                    raise ValueError(f"cannot drop term {name!r}: the model has {', '.join(terms)}.")
                del terms[name]
        elif key == "mask":
            spec["mask"] = [list(map(float, iv)) for iv in value]
        elif key in terms:
            if not isinstance(value, Mapping):
                raise ValueError(f"override for term {key!r} must be a mapping such as {{'bounds': {{...}}}}; got {value!r}.")
            for sub, content in value.items():
                if sub not in TERM_KEYS:
                    close = difflib.get_close_matches(sub, TERM_KEYS, n=1)
                    raise ValueError(
                        f"override {key}.{sub}: unknown key.{' Did you mean ' + repr(close[0]) + '?' if close else ''} "
                        f"Valid: {', '.join(TERM_KEYS)}."
                    )
                if isinstance(content, Mapping):
                    terms[key].setdefault(sub, {}).update(copy.deepcopy(dict(content)))
                else:
                    terms[key][sub] = copy.deepcopy(content)
        elif isinstance(value, Mapping) and "shape" in value:
            terms[key] = copy.deepcopy(dict(value))
        else:
            close = difflib.get_close_matches(key, [*terms, *_OPTION_KEYS], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown override {key!r}.{hint} Terms of this model: {', '.join(terms)}; options: drop, mask, include.")
    if not terms:
        raise ValueError("the model has no terms left; keep at least one.")
    return spec


# ---- model files ---------------------------------------------------------------------------------

#: The top-level keys of a model file (any other top-level table is read as a term).
MODEL_FILE_KEYS = ("description", "laser_nm", "mask", "terms", "optional_terms", "ratios")
#: The order a term's keys are written in (``hyperspec.fit.composite.TERM_KEYS``, scalars first).
_TERM_ORDER = ("shape", "description", "window", "nodes", "smoothness", "seed", "init", "bounds", "prior", "fixed", "tie")
_STAND_IN_SHIFT = (-4500.0, 4500.0, 91)  # an axis wide enough for every preset's terms (checks only names and values)


def _toml_line(text: str | None, table: str, key: str | None = None) -> str:
    """' (line N)' of ``key`` in the table ``[table]`` (or of its header), or of a top-level ``table = ...``; '' when not found."""
    if not text:
        return ""
    clean = [line.split("#", 1)[0].strip().replace(" ", "") for line in text.splitlines()]
    start = next((i for i, c in enumerate(clean) if c == f"[{table}]"), None)
    if start is None:  # a top-level key, or a term written inline
        name = table.rsplit(".", 1)[-1]
        hit = next((i for i, c in enumerate(clean) if c.startswith(f"{name}=")), None)
        return "" if hit is None else f" (line {hit + 1})"
    if key is not None:
        for i in range(start + 1, len(clean)):
            if clean[i].startswith("["):
                break
            if clean[i].startswith(f"{key}="):
                return f" (line {i + 1})"
    return f" (line {start + 1})"


def _intervals_ok(value: Any) -> bool:
    """Whether ``value`` is a list of [low, high] number pairs with low < high."""
    return isinstance(value, list) and all(
        isinstance(iv, list) and len(iv) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in iv) and iv[0] < iv[1]
        for iv in value
    )


def read_model(doc: Mapping, *, source: str = "model", text: str | None = None, laser_nm: float | None = None) -> dict:
    """Check a parsed model (a model file's content, or a recipe's inline terms) and return its spec.

    Parameters
    ----------
    doc : mapping
        ``{"mask": [...], "terms": {term: term spec}}`` (plus ``description``, ``laser_nm``,
        ``optional_terms``), or the terms alone, ``{term: term spec}``.
    source : str, optional
        The name used in messages (the model file). Default ``"model"``.
    text : str, optional
        The file's text, so messages can give line numbers.
    laser_nm : float, optional
        The laser wavelength (nm) of the stand-in axis on which terms on the energy axis (ESPL) are
        checked; default the model's own ``laser_nm``, else 632.8.

    Returns
    -------
    dict
        A new spec ``{"mask": [...], "terms": {...}}`` (with ``description``, ``laser_nm`` and
        ``optional_terms`` when the model has them), ready for :func:`build_model_spec`.

    Raises
    ------
    ModelFileError
        An unknown top-level key, a term that is not a table or has no ``shape``, an unknown shape
        (with the closest names), an unknown term key or parameter, bounds or start values out of
        order, a bad mask: the message names the source, line, table and field, and the fix.

    Examples
    --------
    >>> spec = read_model({"si": {"shape": "lorentzian", "init": {"center": 520.0}}})
    >>> spec["mask"], list(spec["terms"])
    ([], ['si'])
    >>> read_model({"si": {"shape": "lorenzian"}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.ModelFileError: model: [terms.si] shape: unknown band component 'lorenzian'. Did you mean 'lorentzian'? ...
    """
    from hyperspec.bands.components import get_component  # noqa: PLC0415
    from hyperspec.fit.composite import TERM_KEYS  # noqa: PLC0415

    if not isinstance(doc, Mapping):
        raise ModelFileError(f'{source}: a model is a table of terms, e.g. [terms.peak] shape = "lorentzian"; got {type(doc).__name__}.')
    doc = copy.deepcopy(dict(doc))
    prefix = "terms."
    if "terms" not in doc:  # the terms at the top level (a recipe's inline [decompose.model.<term>] tables)
        top = {k: v for k, v in doc.items() if k in MODEL_FILE_KEYS}
        doc = {**top, "terms": {k: v for k, v in doc.items() if k not in MODEL_FILE_KEYS}}
        prefix = ""

    for key in doc:
        if key not in MODEL_FILE_KEYS:
            close = difflib.get_close_matches(str(key), MODEL_FILE_KEYS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ModelFileError(
                f"{source}{_toml_line(text, key)}: unknown top-level key {key!r}.{hint} A model file has {', '.join(MODEL_FILE_KEYS)} "
                "(terms as [terms.<name>] tables)."
            )
    spec: dict[str, Any] = {}
    if "description" in doc:
        if not isinstance(doc["description"], str):
            raise ModelFileError(f"{source}{_toml_line(text, 'description')}: description must be a string; got {doc['description']!r}.")
        spec["description"] = doc["description"]
    if "laser_nm" in doc:
        lnm = doc["laser_nm"]
        if not isinstance(lnm, (int, float)) or isinstance(lnm, bool) or not lnm > 0:
            raise ModelFileError(f"{source}{_toml_line(text, 'laser_nm')}: laser_nm must be a positive number (nm); got {lnm!r}.")
        spec["laser_nm"] = float(lnm)
    mask = doc.get("mask", [])
    if not _intervals_ok(mask):
        raise ModelFileError(
            f"{source}{_toml_line(text, 'mask')}: mask must be a list of [low, high] Raman-shift intervals in cm-1 with low < high, "
            f"e.g. [[-10.0, 10.0]]; got {mask!r}."
        )
    spec["mask"] = [[float(lo), float(hi)] for lo, hi in mask]
    if "ratios" in doc:  # model-level outputs: name = [numerator, denominator], each "<term>.area" or "<term>.<param>"
        ratios = doc["ratios"]
        if not isinstance(ratios, Mapping) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(q, str) and "." in q for q in v) for v in ratios.values()
        ):
            raise ModelFileError(
                f"{source}{_toml_line(text, 'ratios')}: ratios must be a table of name = [numerator, denominator], each "
                f'"<term>.area" or "<term>.<param>", e.g. ratios = {{ id_ig = ["d.area", "g.area"] }}; got {ratios!r}.'
            )
        spec["ratios"] = {str(k): list(v) for k, v in ratios.items()}
    for group in ("terms", "optional_terms"):
        terms = doc.get(group)
        if terms is None:
            continue
        if not isinstance(terms, Mapping) or not all(isinstance(t, Mapping) for t in terms.values()):
            bad = next((k for k, t in terms.items() if not isinstance(t, Mapping)), None) if isinstance(terms, Mapping) else None
            what = f"term {bad!r} must be a table [{group}.{bad}] with a shape" if bad else f"{group} must be tables [{group}.<name>]"
            raise ModelFileError(f'{source}{_toml_line(text, f"{prefix}{bad}" if bad else group)}: {what}, e.g. shape = "lorentzian".')
        for name, term in terms.items():
            table = f"{prefix if group == 'terms' else 'optional_terms.'}{name}"
            shown = f"{group}.{name}"
            for key in term:
                if key not in TERM_KEYS:
                    close = difflib.get_close_matches(str(key), TERM_KEYS, n=1)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise ModelFileError(
                        f"{source}{_toml_line(text, table, key)}: [{shown}] unknown key {key!r}.{hint} A term takes {', '.join(TERM_KEYS)}."
                    )
            if "shape" not in term:
                raise ModelFileError(
                    f'{source}{_toml_line(text, table)}: [{shown}] has no shape; add shape = "lorentzian" (or gaussian, pseudo_voigt, '
                    "polynomial1, ...: hyperspec presets lists the components)."
                )
            if not isinstance(term["shape"], str):
                raise ModelFileError(f"{source}{_toml_line(text, table, 'shape')}: [{shown}] shape must be a string; got {term['shape']!r}")
            if term["shape"].strip().lower() != "freeform":
                try:
                    get_component(term["shape"])
                except ValueError as exc:
                    raise ModelFileError(f"{source}{_toml_line(text, table, 'shape')}: [{shown}] shape: {exc}") from None
            if "window" in term and not _intervals_ok([term["window"]]):
                raise ModelFileError(
                    f"{source}{_toml_line(text, table, 'window')}: [{shown}] window must be [low, high] in cm-1, low < high; "
                    f"got {term['window']!r}."
                )
        spec[group] = terms
    if not spec.get("terms"):
        raise ModelFileError(f'{source}: the model has no terms; add at least one, e.g. [terms.peak] with shape = "lorentzian".')
    _check_terms(spec, source, text, prefix, laser_nm)
    return spec


def _check_terms(spec: dict, source: str, text: str | None, prefix: str, laser_nm: float | None) -> None:
    """Build the model on a stand-in axis, so a bad parameter name, bound, start value or tie fails now, naming its term."""
    from hyperspec import axes  # noqa: PLC0415
    from hyperspec.fit.composite import CompositeModel  # noqa: PLC0415

    shift = np.linspace(*_STAND_IN_SHIFT)
    lnm = laser_nm or spec.get("laser_nm") or 632.8
    energy = axes.nm2ev(axes.shift2nm(shift, lnm))
    for group in ("terms", "optional_terms"):
        if group not in spec:
            continue
        terms = spec[group] if group == "terms" else {**spec["terms"], **spec[group]}  # optional terms may tie to the main ones
        try:
            CompositeModel(terms, shift, energy, fused=False)
        except (ValueError, TypeError) as exc:
            msg = str(exc)
            found = re.match(r"model spec, term '([^']+)'(?:, )?(.*)", msg, flags=re.S)
            if found:
                name, rest = found.group(1), found.group(2).lstrip(": ")
                table = f"{prefix}{name}" if name in spec["terms"] else f"optional_terms.{name}"
                shown = f"terms.{name}" if name in spec["terms"] else f"optional_terms.{name}"
                keys = ("init", "bounds", "prior", "fixed", "tie", "window", "nodes", "smoothness")
                key = next((k for k in keys if f"'{k}'" in rest), None)
                if key is None and ("bounds of" in rest or "start value" in rest):
                    key = "bounds"
                raise ModelFileError(f"{source}{_toml_line(text, table, key)}: [{shown}] {rest}") from None
            raise ModelFileError(f"{source}: {msg}") from None


def load_model(path: str | os.PathLike) -> dict:
    r"""Read a model file (TOML) and return its model spec, checked.

    Parameters
    ----------
    path : str or path-like
        The model file: ``description``, ``mask`` (cm⁻¹ intervals) and ``[terms.<name>]`` tables
        with the keys of ``hyperspec.fit.composite`` (``shape``, ``init``, ``bounds``, ``prior``,
        ``fixed``, ``tie``, ``window`` …); the terms may also stand at the top level.

    Returns
    -------
    dict
        The spec ``{"mask": [...], "terms": {...}}`` (see :func:`read_model`), for
        ``decompose(ds, model=spec)`` (which also takes the path itself).

    Raises
    ------
    ModelFileError
        The file is missing or not TOML, or its model is bad (file, line, table, field and fix).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "si.toml"
    >>> _ = path.write_text('[terms.si]\nshape = "lorentzian"\ninit = { center = 520.0, hwhm = 3.0 }\n')
    >>> load_model(path)["terms"]
    {'si': {'shape': 'lorentzian', 'init': {'center': 520.0, 'hwhm': 3.0}}}
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(
            f"model file {path} not found (a TOML file with [terms.<name>] tables; hyperspec presets --show NAME writes one)."
        )
    text = path.read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelFileError(f"{path}: not valid TOML: {exc}") from None
    return read_model(doc, source=str(path), text=text)


def _literal(value: Any) -> str:
    """One TOML value on one line: scalars through ``tomli_w``, lists and tables inline."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_literal(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{value:.1f}"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _key(key: str) -> str:
    """A bare TOML key when it can be one, else a quoted one."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else tomli_w.dumps({key: 0}).rsplit("=", 1)[0].strip()


def _to_plain(value: Any) -> Any:
    """NumPy scalars and arrays, tuples and paths as TOML-able Python values."""
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0):
        return [_to_plain(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def model_to_toml(spec: Mapping, *, header: str | None = None) -> str:
    """Write a model spec (a preset, or what :func:`load_model` read) as a model file's text.

    Parameters
    ----------
    spec : mapping
        ``{"mask": [...], "terms": {...}}`` with optionally ``description``, ``laser_nm`` and
        ``optional_terms`` (``hyperspec.bands.presets.get_preset`` gives one), or the terms alone.
    header : str, optional
        Comment lines put at the top (each gets ``# ``). Default: a line naming the format.

    Returns
    -------
    str
        TOML that :func:`load_model` reads back to the same spec (``tomllib`` parses it; each term a
        ``[terms.<name>]`` table with inline ``init``/``bounds``/``prior`` tables).

    Raises
    ------
    ModelFileError
        For a value TOML cannot hold (None, an object), naming the term and key.

    Examples
    --------
    >>> print(model_to_toml({"mask": [[-10, 10]], "terms": {"si": {"shape": "lorentzian", "init": {"center": 520.7}}}}, header=""))
    mask = [[-10, 10]]
    <BLANKLINE>
    [terms.si]
    shape = "lorentzian"
    init = { center = 520.7 }
    <BLANKLINE>
    """
    spec = _to_plain(dict(spec))
    if "terms" not in spec:
        top = {k: v for k, v in spec.items() if k in MODEL_FILE_KEYS}
        spec = {"terms": {k: v for k, v in spec.items() if k not in MODEL_FILE_KEYS}, **top}
    if header is None:
        header = "hyperspec model file: edit, then decompose(ds, model=PATH), hyperspec decompose --model PATH, or model = PATH in a recipe"
    lines = [f"# {h}".rstrip() for h in header.splitlines()] if header else []

    def put(key: str, value: Any, where: str) -> None:
        try:
            lines.append(f"{_key(key)} = {_literal(value)}")
        except TypeError:
            raise ModelFileError(
                f"model_to_toml: {where}{key} = {value!r} cannot be written to TOML (use numbers, strings, lists, tables)."
            ) from None

    for key in ("description", "laser_nm", "mask", "ratios"):
        if key in spec:
            put(key, spec[key], "")
    unknown = [k for k in spec if k not in MODEL_FILE_KEYS]
    if unknown:
        raise ModelFileError(f"model_to_toml: unknown top-level key(s) {unknown}; a model has {', '.join(MODEL_FILE_KEYS)}.")
    for group in ("terms", "optional_terms"):
        for name, term in (spec.get(group) or {}).items():
            lines += ["", f"[{group}.{_key(name)}]"]
            for key in sorted(term, key=lambda k: _TERM_ORDER.index(k) if k in _TERM_ORDER else len(_TERM_ORDER)):
                put(key, term[key], f"[{group}.{name}] ")
    return "\n".join(lines).lstrip("\n") + "\n"
