"""What ``decompose`` returns, by name: the output variables of a model, the status codes and the bound flags.

Every name comes from the model's components (``hyperspec.bands.components``): per term its area,
every parameter (``<term>_<param>[_unit]``, :func:`param_output_name`, the one naming rule, also read
back by ``fitted_components``) and the component's derived values (``<term>_<suffix>``). No shape is
named here.

The per-pixel ``status`` codes are listed once, in ``STATUS_TABLE`` (code, name, fitted or not,
meaning): ``STATUS_MEANINGS`` (code → name) and ``STATUS_DESCRIPTIONS`` (code → meaning) are read
from it, the store gets it as CF ``flag_values`` / ``flag_meanings`` (:func:`status_attrs`) and
``attrs["status_codes"]`` (JSON code → name), and the README's table is :func:`status_table_markdown`.
Which parameter ended at a bound is in the companion variables ``at_bound`` and ``n_at_bound``
(:func:`at_bound_attrs`, :func:`at_bound_names`).
"""

from __future__ import annotations

import numpy as np

from hyperspec.bands.components import Param
from hyperspec.fit.lm import AT_BOUND_RTOL, FitStatus

__all__ = [
    "SATURATED",
    "DEAD",
    "FLAT",
    "NO_SIGNAL",
    "AT_BOUND",
    "ABSENT_SNR",
    "STATUS_TABLE",
    "STATUS_MEANINGS",
    "STATUS_DESCRIPTIONS",
    "FITTED_STATUSES",
    "AT_BOUND_RTOL",
    "AREA_UNIT",
    "param_output_name",
    "result_names",
    "status_attrs",
    "status_table_markdown",
    "at_bound_attrs",
    "at_bound_names",
    "at_bound_summary",
]

#: Status codes set by ``decompose`` on top of the engine's ``FitStatus`` codes (0–5).
SATURATED = 6
DEAD = 7
#: The former name of code 7 (``kinetics`` still calls a constant trace ``flat``).
FLAT = DEAD
NO_SIGNAL = 8
AT_BOUND = 9
#: A band whose amplitude is within this many standard errors of zero is absent for ``at_bound``: its
#: shape parameters (a width fitted to noise shrinks to its lower bound) do not count.
ABSENT_SNR = 3.0

#: Every status of ``decompose``: (code, name, fitted, what it means for the user). The one source of
#: ``STATUS_MEANINGS``, the store's CF flags and the README table. Where several apply, the first
#: of nonfinite, dead, the engine's failures (max_iter, singular, stalled, masked), saturated,
#: no_signal, at_bound is reported; ``at_bound`` / ``n_at_bound`` are filled whatever the status.
STATUS_TABLE: tuple[tuple[int, str, bool, str], ...] = (
    (int(FitStatus.CONVERGED), "converged", True, "a tolerance was met; no free parameter ended at a bound"),
    (int(FitStatus.MAX_ITER), "max_iter", True, "stopped at `max_iter` before converging: the values are the last iterate"),
    (int(FitStatus.SINGULAR), "singular", True, "the curvature matrix is singular: a parameter is undetermined, no standard errors"),
    (int(FitStatus.NONFINITE), "nonfinite", False, "NaN/inf in the data at a fitted channel; not fitted (outputs NaN)"),
    (int(FitStatus.MASKED), "masked", False, "fewer usable channels than free parameters; not fitted"),
    (int(FitStatus.STALLED), "stalled", True, "no step lowers χ² any more, but the gradient test is not met"),
    (SATURATED, "saturated", True, "clipped channels (at the detector's full scale) were masked; the rest fitted and converged"),
    (
        DEAD,
        "dead",
        False,
        "zero or constant counts, or nothing above the detector offset the map states (`offset_counts`): a dead "
        "readout or no light at all; not fitted (outputs NaN)",
    ),
    (
        NO_SIGNAL,
        "no_signal",
        True,
        "counts, but no structure above the noise (e.g. bare substrate): fitted and converged; a band there is "
        "weak or absent (compare its area with its error), the shapes of absent bands NaN",
    ),
    (
        AT_BOUND,
        "at_bound",
        True,
        "converged, but a free parameter ended at one of its bounds: that value is the bound, not an estimate "
        "(which one: `at_bound`, `n_at_bound`); widen the bound or fix the parameter",
    ),
)
#: Status code → name (the CF ``flag_meanings`` tokens; JSON in ``attrs["status_codes"]``).
STATUS_MEANINGS = {code: name for code, name, _, _ in STATUS_TABLE}
#: Status code → what it means for the user.
STATUS_DESCRIPTIONS = {code: text for code, _, _, text in STATUS_TABLE}
#: Codes of pixels that were fitted (their parameters are the fit's values).
FITTED_STATUSES = tuple(code for code, _, fitted, _ in STATUS_TABLE if fitted)
#: Unit of every band area (trapezoid over the Raman-shift axis).
AREA_UNIT = "counts*cm-1"
_UNIT_SUFFIX = {"cm-1": "_cm", "K": "_k", "eV": "_ev", "1/eV": "_per_ev", "counts": "", "": ""}


def status_attrs(long_name: str = "fit status") -> dict:
    """CF attributes of a ``status`` variable: ``flag_values`` (int8 codes) and ``flag_meanings`` (their names).

    Parameters
    ----------
    long_name : str, optional
        The variable's ``long_name``.

    Returns
    -------
    dict
        ``long_name``, ``flag_values`` (int8 array, ascending) and ``flag_meanings`` (space-separated names
        in the same order), from ``STATUS_TABLE``.

    Examples
    --------
    >>> attrs = status_attrs()
    >>> attrs["flag_values"][-2:].tolist(), attrs["flag_meanings"].split()[-2:]
    ([8, 9], ['no_signal', 'at_bound'])
    """
    codes = sorted(STATUS_MEANINGS)
    return {
        "long_name": long_name,
        "flag_values": np.array(codes, dtype=np.int8),
        "flag_meanings": " ".join(STATUS_MEANINGS[c] for c in codes),
    }


def status_table_markdown() -> str:
    """The README's table of statuses (Markdown), generated from ``STATUS_TABLE``.

    Returns
    -------
    str
        A Markdown table: code, status, fitted, meaning; one row per code, ending in a newline.

    Examples
    --------
    >>> status_table_markdown().splitlines()[2]
    '| 0 | `converged` | yes | a tolerance was met; no free parameter ended at a bound |'
    """
    rows = ["| code | status | fitted | meaning |", "|---|---|---|---|"]
    for code, name, fitted, text in sorted(STATUS_TABLE):
        rows.append(f"| {code} | `{name}` | {'yes' if fitted else 'no'} | {text} |")
    return "\n".join(rows) + "\n"


def at_bound_attrs(params: list[str]) -> tuple[dict, dict]:
    """Attributes of the ``at_bound`` and ``n_at_bound`` variables for the candidate parameters ``params``.

    Parameters
    ----------
    params : list of str
        Output variable names of the parameters that can be at a bound, in the order ``at_bound``
        indexes them (1-based).

    Returns
    -------
    (dict, dict)
        The attrs of ``at_bound`` (``long_name``, ``at_bound_params``: the names space-separated,
        ``rtol``, ``comment``) and of ``n_at_bound``.

    Examples
    --------
    >>> a, n = at_bound_attrs(["g_center_cm", "g_hwhm_cm"])
    >>> a["at_bound_params"], n["long_name"]
    ('g_center_cm g_hwhm_cm', 'number of free parameters at a bound')
    """
    a = {
        "long_name": "first free parameter at a bound (+k: upper, -k: lower, 0: none)",
        "units": "1",
        "at_bound_params": " ".join(params),
        "rtol": AT_BOUND_RTOL,
        "comment": (
            "k is the 1-based index into at_bound_params (space-separated output variable names). A parameter is at a "
            f"bound within {AT_BOUND_RTOL:g} of its bound range (of max(|bound|, |value|) for a one-sided bound). "
            "Absent bands are not at a bound: an amplitude at a zero bound, and the shape parameters of a band "
            f"whose amplitude is within {ABSENT_SNR:g} standard errors of zero, do not count."
        ),
    }
    return a, {"long_name": "number of free parameters at a bound", "units": "1"}


def at_bound_names(results) -> np.ndarray:
    """Per pixel, the name of the first parameter at a bound with its side (``"g_center_cm<lower>"``), ``""`` where none.

    Parameters
    ----------
    results : xarray.Dataset
        What ``decompose`` returned (its ``at_bound`` variable and ``attrs["at_bound_params"]``).

    Returns
    -------
    numpy.ndarray of str
        On the pixel grid of ``results["at_bound"]``: ``"<name> (lower)"``, ``"<name> (upper)"`` or ``""``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> res = xr.Dataset({"at_bound": ("x", np.array([0, -2, 1], np.int16))}, attrs={"at_bound_params": "a b"})
    >>> at_bound_names(res).tolist()
    ['', 'b (lower)', 'a (upper)']
    """
    names = str(results["at_bound"].attrs.get("at_bound_params", results.attrs.get("at_bound_params", ""))).split()
    k = np.asarray(results["at_bound"].values, dtype=np.int64)
    labels = np.array([""] + [f"{n} (upper)" for n in names] + [f"{n} (lower)" for n in names], dtype=object)
    idx = np.where(k > 0, k, np.where(k < 0, len(names) - k, 0))
    return labels[idx].astype(str)


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
        Name, units (CF: ``"1"`` for a dimensionless one) and ``long_name`` of each output.

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
            meaning = f"{term.name} {param.name}: {param.description or comp.name}"
            out.append((param_output_name(term.name, param), param.unit or "1", meaning))
        for derived in comp.derived:
            out.append((f"{term.name}_{derived.suffix}", derived.unit or "1", derived.meaning.format(term=term.name)))
    seen = set()
    for name, _, _ in out:
        if name in seen:
            raise ValueError(f"the model's outputs name {name!r} twice; rename the parameter or derived value of that component.")
        seen.add(name)
    return out


def at_bound_summary(results) -> str:
    """One line: how many pixels have each parameter as their first at a bound, most first (``""`` when none).

    Parameters
    ----------
    results : xarray.Dataset
        What ``decompose`` returned (``at_bound`` and its ``at_bound_params``).

    Returns
    -------
    str
        E.g. ``"at a bound: g_center_cm (lower) 35, d_center_cm (upper) 1"``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> res = xr.Dataset({"at_bound": ("x", np.array([0, -2, -2, 1], np.int16))}, attrs={"at_bound_params": "a b"})
    >>> at_bound_summary(res)
    'at a bound: b (lower) 2, a (upper) 1'
    """
    if "at_bound" not in results:
        return ""
    names, counts = np.unique(at_bound_names(results), return_counts=True)
    pairs = sorted(((int(c), str(n)) for n, c in zip(names, counts, strict=True) if n), key=lambda t: (-t[0], t[1]))
    return ("at a bound: " + ", ".join(f"{n} {c}" for c, n in pairs)) if pairs else ""
