"""What ``decompose`` returns, by name: the output variables of a model and the status codes.

Every name comes from the model's components (``hyperspec.bands.components``): per term its area,
every parameter (``<term>_<param>[_unit]``, :func:`param_output_name`, the one naming rule, also read
back by ``fitted_components``) and the component's derived values (``<term>_<suffix>``). No shape is
named here.
"""

from __future__ import annotations

from hyperspec.bands.components import Param
from hyperspec.fit.lm import FitStatus

__all__ = ["SATURATED", "FLAT", "STATUS_MEANINGS", "AREA_UNIT", "param_output_name", "result_names"]

#: Status codes set by the preflight of ``decompose`` (the engine's codes are 0–5).
SATURATED = 6
FLAT = 7
STATUS_MEANINGS = {
    **{int(s): s.name.lower() for s in FitStatus},
    SATURATED: "saturated (channels masked)",
    FLAT: "flat (no signal; not fitted)",
}
#: Unit of every band area (trapezoid over the Raman-shift axis).
AREA_UNIT = "counts*cm-1"
_UNIT_SUFFIX = {"cm-1": "_cm", "K": "_k", "eV": "_ev", "1/eV": "_per_ev", "counts": "", "": ""}


def param_output_name(term: str, param: Param) -> str:
    """The output variable of parameter ``param`` of term ``term``: ``<term>_<param>[_unit suffix]``.

    Parameters
    ----------
    term : str
        Term name in the model spec.
    param : Param
        The component parameter; its unit sets the suffix (cm-1 → ``_cm``, eV → ``_ev``, 1/eV →
        ``_per_ev``, K → ``_k``, counts and dimensionless → none).

    Returns
    -------
    str
        The variable name in ``decompose``'s result.

    Examples
    --------
    >>> from hyperspec.bands.components import get_component
    >>> param_output_name("lers", get_component("lers").params[1])
    'lers_temperature_k'
    """
    return f"{term}_{param.name}{_UNIT_SUFFIX.get(param.unit, '')}"


def result_names(model) -> list[tuple[str, str, str]]:
    """(variable name, units, meaning) of every per-pixel output of ``model``, in output order.

    Per term: ``<term>_area``, then every parameter (fixed and tied ones too), then the component's
    derived values. Each has a ``<name>_stderr`` twin in the result (not listed here).

    Parameters
    ----------
    model : CompositeModel
        The model ``decompose`` fits.

    Returns
    -------
    list of (str, str, str)
        Name, units and ``long_name`` of each output.

    Raises
    ------
    ValueError
        When two outputs of a term get the same name (e.g. a parameter called ``area``).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec.fit.composite import CompositeModel
    >>> model = CompositeModel({"g": {"shape": "lorentzian"}}, np.linspace(0.0, 100.0, 11))
    >>> [name for name, _, _ in result_names(model)]
    ['g_area', 'g_center_cm', 'g_hwhm_cm', 'g_height']
    """
    out = []
    for term in model.terms:
        comp = term.component
        out.append((f"{term.name}_area", AREA_UNIT, f"area of {term.name} over the Raman-shift axis"))
        for param in comp.params:
            out.append((param_output_name(term.name, param), param.unit, f"{term.name} {param.name}: {param.description or comp.name}"))
        for derived in comp.derived:
            out.append((f"{term.name}_{derived.suffix}", derived.unit, derived.meaning.format(term=term.name)))
    seen = set()
    for name, _, _ in out:
        if name in seen:
            raise ValueError(f"the model's outputs name {name!r} twice; rename the parameter or derived value of that component.")
        seen.add(name)
    return out
