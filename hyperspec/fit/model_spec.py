"""Model-spec editing: a preset or a custom model, with the overrides of ``decompose`` applied.

A model spec is plain data, ``{"mask": [[lo, hi], ...], "terms": {term: term spec}}`` (term specs:
``hyperspec.fit.composite``); :func:`build_model_spec` makes one and never touches the caller's.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping

from hyperspec.bands.presets import get_preset
from hyperspec.fit.composite import TERM_KEYS

__all__ = ["build_model_spec"]

_OPTION_KEYS = ("mask", "drop", "include")


def build_model_spec(preset: str | Mapping | None = "cspbbr3-633", model: Mapping | None = None, **overrides) -> dict:
    """The model spec ``{"mask": [...], "terms": {...}}`` from a preset or a custom model, with overrides.

    Parameters
    ----------
    preset : str or mapping, optional
        A preset name (``hyperspec.bands.presets.preset_names()``) or a preset-like mapping; ignored
        when ``model`` is given. Default ``"cspbbr3-633"``.
    model : mapping, optional
        A custom model: ``{term: term spec}``, or a whole spec with ``"terms"`` (and ``"mask"``).
    **overrides
        ``<term>={...}`` merges into that term's spec (``init``, ``bounds``, ``prior``, ``fixed``,
        ``tie``, ``window``) or adds a new term when it has a ``shape``; ``drop=[...]`` removes
        terms; ``include=[...]`` adds optional terms of the preset; ``mask=[[lo, hi], ...]`` replaces
        the masked Raman-shift intervals (cm⁻¹).

    Returns
    -------
    dict
        A new spec (deep copies throughout).

    Raises
    ------
    ValueError
        For an unknown term, key or optional term (with the closest valid names), or when no term is left.

    Examples
    --------
    >>> spec = build_model_spec(model={"g": {"shape": "gaussian"}}, mask=[[-10, 10]])
    >>> spec["mask"], list(spec["terms"])
    ([[-10.0, 10.0]], ['g'])
    """
    if model is not None:
        spec = copy.deepcopy(dict(model))
        if "terms" not in spec:
            spec = {"mask": [], "terms": spec}
    elif isinstance(preset, Mapping):
        spec = copy.deepcopy(dict(preset))
    else:
        spec = get_preset(preset)
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
