"""Pictures and tables from a results store: PNG band maps and a CSV of region statistics.

``write_report(store)`` is what ``hyperspec report STORE`` and a recipe's ``[output] png/csv`` run.
Regions: crystal / interface / glass from ``aspl_peak_ev`` and ``hers_area`` when the results have
both (``hyperspec.spatial.segment_regions``), else the whole map as one region.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from hyperspec.pipeline.analyses import _KeyTable

__all__ = ["write_report", "region_statistics", "run_analyses"]

#: Analyses a recipe's ``[[analysis]]`` tables may ask for, with their keys: ``{analysis: {key: types}}``, read live
#: from the analysis registry (``hyperspec.pipeline.analyses``; kept for compatibility: the registry is the declaration).
ANALYSES = _KeyTable()


def run_analyses(store, analyses: list[dict], outdir, *, map_store=None) -> list[Path]:
    """Run ``[[analysis]]`` tables on a results store (``hyperspec.pipeline.analyses.run_analyses``).

    Parameters
    ----------
    store : str or Path
        A results store; kinetics analyses write their groups into it (``kinetics/<name>_<band>``).
    analyses : list of dict
        ``[[analysis]]`` tables (``step`` or ``kind`` names each; positions in pixels).
    outdir : str or Path
        The folder files and tables are written into (line profiles: CSV + PNG; filtered maps: TIFF +
        PNG; tables: CSV; the kinetics analyses' PNGs).
    map_store : str or Path, optional
        The spectra store, for analyses of the spectra (``sbpl_events``).

    Returns
    -------
    list of Path
        The files written (and the groups, as ``store/group``).

    Raises
    ------
    HyperspecError
        An analysis names a variable the store does not have.
    RecipeError
        An invalid table.

    Examples
    --------
    >>> run_analyses  # doctest: +ELLIPSIS
    <function run_analyses at ...>
    """
    from hyperspec.pipeline.analyses import run_analyses as _run  # noqa: PLC0415

    return _run(store, analyses, outdir, map_store=map_store, png_dir=outdir)


def region_statistics(results: xr.Dataset) -> tuple[list[dict], xr.DataArray | None]:
    """Rows ``{region, variable, n, mean, median, std, p05, p95}`` over converged pixels, and the labels used.

    Parameters
    ----------
    results : xarray.Dataset
        Results in memory (``status`` 0 marks converged pixels).

    Returns
    -------
    rows : list of dict
        One row per region and numeric per-pixel variable (values in the variable's units).
    labels : xarray.DataArray or None
        Crystal / interface / glass labels when the results allow them, else None (one region "all").

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> res = xr.Dataset({"a": (("y", "x"), np.arange(4.0).reshape(2, 2)), "status": (("y", "x"), np.zeros((2, 2), np.int8))})
    >>> rows, labels = region_statistics(res)
    >>> rows[0]["region"], rows[0]["n"], rows[0]["mean"], labels
    ('all', 4, 1.5, None)
    """
    from hyperspec.spatial import REGION_NAMES, segment_regions  # noqa: PLC0415

    pix = [d for d in ("y", "x") if d in results.dims]
    labels = None
    grid = results["status"].dims if "status" in results else ()
    if tuple(grid) == ("y", "x") and pix == ["y", "x"] and {"aspl_peak_ev", "hers_area"} <= set(results.data_vars):
        ok = results["status"] == 0 if "status" in results else True
        feats = {k: results[k].where(ok) for k in ("aspl_peak_ev", "hers_area")}
        try:
            labels = segment_regions(feats)
        except ValueError:
            labels = None
    good = (results["status"].values == 0) if "status" in results else np.ones(results[next(iter(results.data_vars))].shape, bool)
    if labels is None:
        groups = {"all": np.ones_like(good)}
    else:
        groups = {REGION_NAMES[k]: labels.values == k for k in (0, 1, 2) if np.any(labels.values == k)}
    rows = []
    for region, mask in groups.items():
        sel = mask & good
        for name, var in results.data_vars.items():
            if "status" in results and var.dims != results["status"].dims:
                continue
            if var.dtype.kind not in "fi" or name == "status" or name.startswith("run_"):
                continue
            v = np.asarray(var.values, dtype=float)[sel]
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            rows.append({"region": region, "variable": name, "n": int(v.size), "mean": float(v.mean()), "median": float(np.median(v)),
                         "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "p05": float(np.percentile(v, 5)),
                         "p95": float(np.percentile(v, 95))})  # fmt: skip
    return rows, labels


def write_report(store, *, png_dir=None, csv_path=None) -> list[Path]:
    """Write PNG band maps into ``png_dir`` and the region statistics to ``csv_path`` (either may be None).

    Parameters
    ----------
    store : str or Path
        A results store.
    png_dir : str or Path, optional
        Folder for the PNGs of ``hyperspec.report.write_figures``: every band's maps (profiles for a
        line scan, kymographs for a kinetic line) from the results' model, the status and region maps.
    csv_path : str or Path, optional
        The region-statistics CSV.

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> write_report  # doctest: +ELLIPSIS
    <function write_report at ...>
    """
    import hyperspec  # noqa: PLC0415
    from hyperspec import report  # noqa: PLC0415

    results = hyperspec.open(store).compute()
    written: list[Path] = []
    rows, labels = region_statistics(results) if csv_path is not None or png_dir is not None else ([], None)
    if png_dir is not None:  # every band of the results' own model (report.write_figures), the status and region maps
        written += report.write_figures(results, Path(png_dir), regions=labels)
    if csv_path is not None:
        csv_path = Path(csv_path)
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with csv_path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["region", "variable", "n", "mean", "median", "std", "p05", "p95"])
            writer.writeheader()
            writer.writerows(rows)
        written.append(csv_path)
    return written
