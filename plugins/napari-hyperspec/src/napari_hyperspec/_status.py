"""Fit-status names of a results Dataset (what the status labels layer shows on hover)."""

from __future__ import annotations

import json

__all__ = ["status_names"]


def _parse_flags(attrs) -> dict[int, str] | None:
    """The ``{code: name}`` table in a status variable's attrs: CF ``flag_values``/``flag_meanings`` or a JSON table."""
    meanings = attrs.get("flag_meanings")
    if meanings is None:
        return None
    if isinstance(meanings, str) and meanings.lstrip().startswith("{"):
        try:
            return {int(k): str(v) for k, v in json.loads(meanings).items()}
        except (ValueError, TypeError, AttributeError):
            return None
    names = meanings.split() if isinstance(meanings, str) else [str(m) for m in meanings]
    values = attrs.get("flag_values")
    if values is None:
        return None
    try:
        codes = [int(v) for v in (values if hasattr(values, "__iter__") and not isinstance(values, str) else str(values).split())]
    except (TypeError, ValueError):
        return None
    if len(codes) != len(names):
        return None
    return dict(zip(codes, names, strict=True))


def status_names(results) -> dict[int, str]:
    """Map each fit-status code of ``results`` to its name.

    Read from the ``status`` variable's CF attrs (``flag_values`` with space-separated
    ``flag_meanings``, or a JSON ``{code: name}`` table in ``flag_meanings``) when present, else
    from the results' ``attrs["status_codes"]`` (JSON, written by ``decompose``).

    Parameters
    ----------
    results : xarray.Dataset
        Results of ``hyperspec.decompose`` / a run (a results store opened with ``hyperspec.open``).

    Returns
    -------
    dict of int to str
        ``{0: "converged", 1: "max_iter", ...}``, sorted by code; empty when the results carry no table.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> import xarray as xr
    >>> codes = json.dumps({"0": "converged", "2": "singular"})
    >>> res = xr.Dataset({"status": (("y", "x"), np.zeros((1, 2), np.int8))}, attrs={"status_codes": codes})
    >>> status_names(res)
    {0: 'converged', 2: 'singular'}
    >>> res["status"].attrs = {"flag_values": [0, 1], "flag_meanings": "converged max_iter"}
    >>> status_names(res)
    {0: 'converged', 1: 'max_iter'}
    """
    table = None
    if "status" in getattr(results, "variables", {}):
        table = _parse_flags(results["status"].attrs)
    if table is None:
        raw = results.attrs.get("status_codes")
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = None
        table = {int(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return dict(sorted(table.items()))
