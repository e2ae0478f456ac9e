"""Pictures: PNG band maps, line profiles and kymographs of any model's results, and spectra.

Uses Matplotlib's Agg backend (no display needed). What is drawn comes from the model the results
were fitted with (``attrs["model"]``) and the component registry (``hyperspec.bands.components``):
every term's area and every parameter that places or shapes it (centre, widths, temperature …)
and its derived values, titled and in units from the registry. Maps are drawn in µm with a colour
bar; line scans (one pixel dim) as profiles against position with ±1 standard-error bands; kinetic
lines ``(t, x)`` as kymographs (x vs t). The status map is categorical, with its legend read from
the results' own status table; a region map shows the region names. Every figure states the
percentiles its colour scales are clipped to.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

__all__ = [
    "write_band_maps",
    "write_figures",
    "model_variables",
    "status_meanings",
    "clip_note",
    "plot_spectra",
    "plot_fit",
    "plottable_variables",
    # kinetics pictures, defined in hyperspec.kinetics.plots (imported on first use: see __getattr__)
    "plot_trace",
    "plot_autocorrelation",
    "plot_periodogram",
    "plot_kymograph",
    "plot_lag_map",
    "plot_event_raster",
    "plot_k_map",
    "write_kinetics_report",
    # colour scales of band maps (napari layers, figures)
    "color_limits",
    "rgb_composite",
]
_KINETICS_PLOTS = frozenset(
    ("plot_trace", "plot_autocorrelation", "plot_periodogram", "plot_kymograph", "plot_lag_map", "plot_event_raster", "plot_k_map",
     "write_kinetics_report")
)  # fmt: skip

if TYPE_CHECKING:
    from hyperspec.kinetics.plots import (
        plot_autocorrelation,
        plot_event_raster,
        plot_k_map,
        plot_kymograph,
        plot_lag_map,
        plot_periodogram,
        plot_trace,
        write_kinetics_report,
    )


def __getattr__(name):
    """The kinetics plots, from ``hyperspec.kinetics.plots`` on first use (this module stays light)."""
    if name in _KINETICS_PLOTS:
        from hyperspec.kinetics import plots  # noqa: PLC0415

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Colour scales of maps and kymographs span these percentiles of each variable's finite values (stated on every figure).
CLIP_PERCENTILES = (1.0, 99.0)
_PRETTY_UNITS = {"cm-1": "cm⁻¹", "counts*cm-1": "counts·cm⁻¹", "1/eV": "eV⁻¹", "um": "µm", "1": ""}  # "1": CF's dimensionless
#: The group of :func:`model_variables` that holds the model's ratios (``spec["ratios"]``, e.g. I_D/I_G).
RATIOS = "ratios"
#: Colours of the status codes (by code, cycling), and of the region labels.
_CATEGORY_COLOURS = ("#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#1f77b4")


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _save(fig, path, dpi: int) -> Path:
    """Write ``fig`` to ``path`` (creating folders) and free it."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _pretty(units: str) -> str:
    """Units as printed on figures (cm⁻¹, counts·cm⁻¹ …)."""
    return _PRETTY_UNITS.get(units, units or "")


def _ordinal(p: float) -> str:
    n = int(p) if float(p).is_integer() else p
    if isinstance(n, int) and n % 100 not in (11, 12, 13):
        return f"{n}{({1: 'st', 2: 'nd', 3: 'rd'}).get(n % 10, 'th')}"
    return f"{n}th"


def clip_note(percentiles: Sequence[float] = CLIP_PERCENTILES) -> str:
    """The sentence every figure carries about its colour scales.

    Parameters
    ----------
    percentiles : (float, float), optional
        Low and high percentiles of the colour scale. Default :data:`CLIP_PERCENTILES`.

    Returns
    -------
    str
        E.g. ``"colour scales: 1st–99th percentile of each map"``.

    Examples
    --------
    >>> clip_note((2, 98))
    'colour scales: 2nd–98th percentile of each map (arrows: values beyond)'
    """
    lo, hi = percentiles
    return f"colour scales: {_ordinal(lo)}–{_ordinal(hi)} percentile of each map (arrows: values beyond)"


def status_meanings(results: xr.Dataset | xr.DataArray) -> dict[int, str]:
    """The status table of a results store: ``{code: name}``, read from the results themselves.

    Looks, in order, at the ``status`` variable's ``flag_values`` with ``flag_meanings`` (CF: names
    separated by spaces), its ``flag_meanings`` as a JSON ``{code: name}`` table, the results'
    ``attrs["status_codes"]``, and else ``hyperspec.fit.results.STATUS_MEANINGS``.

    Parameters
    ----------
    results : xarray.Dataset or DataArray
        Results with a ``status`` variable, or the ``status`` DataArray.

    Returns
    -------
    dict of int to str

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> st = xr.DataArray(np.zeros(3, np.int8), dims="x", attrs={"flag_values": [0, 7], "flag_meanings": "converged flat"})
    >>> status_meanings(st)
    {0: 'converged', 7: 'flat'}
    """
    var = results if isinstance(results, xr.DataArray) else results["status"] if "status" in results else None
    attrs = dict(var.attrs) if var is not None else {}
    meanings, values = attrs.get("flag_meanings"), attrs.get("flag_values")
    if values is not None and isinstance(meanings, str):
        names = meanings.split()
        codes = np.atleast_1d(np.asarray(values)).tolist()
        if len(names) == len(codes):
            return {int(c): n for c, n in zip(codes, names, strict=True)}
    for table in (meanings, getattr(results, "attrs", {}).get("status_codes") if isinstance(results, xr.Dataset) else None):
        if isinstance(table, str):
            try:
                table = json.loads(table)
            except ValueError:
                table = None
        if isinstance(table, Mapping):
            return {int(k): str(v) for k, v in table.items()}
    from hyperspec.fit.results import STATUS_MEANINGS  # noqa: PLC0415

    return dict(STATUS_MEANINGS)


def _model_of(results: xr.Dataset):
    """The composite model of ``attrs["model"]`` on a stand-in axis (names and parameters only), or None."""
    text = results.attrs.get("model")
    if not text:
        return None, None
    try:
        spec = json.loads(text) if isinstance(text, str) else dict(text)
        from hyperspec import axes  # noqa: PLC0415
        from hyperspec.fit.composite import CompositeModel  # noqa: PLC0415

        shift = np.linspace(-4500.0, 4500.0, 91)
        energy = axes.nm2ev(axes.shift2nm(shift, float(results.attrs.get("laser_nm") or spec.get("laser_nm") or 632.8)))
        return CompositeModel(spec["terms"], shift, energy, fused=False), spec
    except (ValueError, KeyError, TypeError):
        return None, None


def model_variables(results: xr.Dataset) -> dict[str, list[tuple[str, str, str]]]:
    """What to draw of each term of the results' model: ``{term: [(variable, title, units), ...]}``.

    Read from ``attrs["model"]`` and the component registry: per term its area, then every free
    parameter of a band that places or shapes it (centre, widths, Lorentzian fraction, temperature …;
    not its height, which the area says, nor fixed or tied parameters, nor a baseline's or
    continuum's coefficients), then the component's derived values; then the model's ratios
    (``spec["ratios"]``, e.g. I_D/I_G) under the key :data:`RATIOS`. Only variables present in
    ``results`` are listed.

    Parameters
    ----------
    results : xarray.Dataset
        What ``decompose`` (or ``hyperspec run``) wrote, with ``attrs["model"]``.

    Returns
    -------
    dict of str to list of (str, str, str)
        Term (or :data:`RATIOS`) → (variable name, title, units as printed), in the model's order;
        empty without a model.

    Examples
    --------
    >>> import json, numpy as np, xarray as xr
    >>> spec = {"terms": {"si": {"shape": "lorentzian"}, "bg": {"shape": "polynomial1"}}}
    >>> names = ["si_area", "si_center_cm", "si_hwhm_cm", "si_height", "bg_area", "bg_c0", "bg_c1"]
    >>> res = xr.Dataset({n: ("x", np.ones(3)) for n in names}, attrs={"model": json.dumps(spec)})
    >>> for row in model_variables(res)["si"]:
    ...     print(row)
    ('si_area', 'si area', 'counts·cm⁻¹')
    ('si_center_cm', 'si center: peak position', 'cm⁻¹')
    ('si_hwhm_cm', 'si hwhm: half width at half maximum', 'cm⁻¹')
    >>> model_variables(res)["bg"]
    [('bg_area', 'bg area', 'counts·cm⁻¹')]
    """
    from hyperspec.fit.results import AREA_UNIT, param_output_name  # noqa: PLC0415

    model, spec = _model_of(results)
    if model is None:
        return {}
    out: dict[str, list[tuple[str, str, str]]] = {}
    for term in model.terms:
        comp = term.component
        rows = [(f"{term.name}_area", f"{term.name} area", _pretty(AREA_UNIT))]
        tspec = spec["terms"].get(term.name, {})
        held = set(tspec.get("fixed") or {}) | set(tspec.get("tie") or {})
        if comp.amplitude is not None:  # a band (not a polynomial or a free-form continuum)
            for param in comp.params:
                if param.name == comp.amplitude or param.name in held:
                    continue
                title = f"{term.name} {param.name}" + (f": {_short(param.description)}" if param.description else "")
                rows.append((param_output_name(term.name, param), title, _pretty(param.unit)))
        for derived in comp.derived:
            rows.append((f"{term.name}_{derived.suffix}", derived.meaning.format(term=term.name), _pretty(derived.unit)))
        rows = [r for r in rows if r[0] in results.data_vars]
        if rows:
            out[term.name] = rows
    ratios = [(name, f"{name}: {' / '.join(parts)}", _pretty(results[name].attrs.get("units", "")))
              for name, parts in (spec.get("ratios") or {}).items() if name in results.data_vars]  # fmt: skip
    if ratios:  # model-level outputs (e.g. I_D/I_G), after the terms
        out[RATIOS if RATIOS not in out else f"model {RATIOS}"] = ratios
    return out


def _short(text: str, limit: int = 34) -> str:
    """A registry description cut for a panel title: before any parenthesis or semicolon, at most ``limit`` characters."""
    for sep in (" (", "; ", ": "):
        text = text.split(sep, 1)[0]
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def plottable_variables(results: xr.Dataset) -> list[str]:
    """List the variables that can be drawn as a map, a kymograph or a line profile.

    Parameters
    ----------
    results : xarray.Dataset
        Band maps (e.g. what ``decompose`` or ``window_integrals`` returned).

    Returns
    -------
    list of str
        Numeric (float or integer) variables with at least one dim and no ``"spectral"`` or
        ``run_chunk`` dim, in order, skipping the ``*_stderr`` ones.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> maps = xr.Dataset(
    ...     {
    ...         "aspl_area": (("y", "x"), np.ones((2, 3))),
    ...         "aspl_area_stderr": (("y", "x"), np.ones((2, 3))),
    ...         "status": (("y", "x"), np.zeros((2, 3), dtype=np.int8)),
    ...         "n_iter_total": ((), 10),
    ...     }
    ... )
    >>> plottable_variables(maps)
    ['aspl_area', 'status']
    """
    out = []
    for name, var in results.data_vars.items():
        if var.dtype.kind not in "fiu" or name.endswith("_stderr") or "spectral" in var.dims or "run_chunk" in var.dims:
            continue
        if var.ndim >= 1:
            out.append(name)
    return out


def color_limits(values, percentiles=(1.0, 99.0), *, symmetric: bool = False) -> tuple[float, float]:
    """Robust colour-scale limits of an image: percentiles of its finite values.

    Parameters
    ----------
    values : array-like
        Any array (NumPy, Dask, xarray); NaN and ±inf are left out. Large arrays are subsampled
        evenly to at most 2**20 values (the percentiles of a band map do not need more).
    percentiles : (float, float), optional
        Lower and upper percentiles, 0–100. Default (1, 99).
    symmetric : bool, optional
        Centre the limits on zero, ``(-m, m)`` with ``m`` the larger magnitude (signed quantities
        on a diverging colour map). Default False.

    Returns
    -------
    (float, float)
        ``(low, high)`` in the values' units, always ``low < high``: a constant image gives
        ``(v - 0.5, v + 0.5)``, an image without finite values ``(0, 1)``.

    Raises
    ------
    ValueError
        If ``percentiles`` is not an increasing pair within 0–100.

    Examples
    --------
    >>> import numpy as np
    >>> color_limits(np.r_[np.arange(101.0), np.nan, 1e9])
    (1.01, 99.99)
    >>> color_limits(np.array([-1.0, 0.5, 3.0]), (0, 100), symmetric=True)
    (-3.0, 3.0)
    >>> color_limits(np.full((2, 2), 7.0))
    (6.5, 7.5)
    """
    try:
        lo_p, hi_p = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise ValueError(f"`percentiles` must be a pair (low, high) in 0–100; got {percentiles!r}.") from None
    if not 0.0 <= lo_p < hi_p <= 100.0:
        raise ValueError(f"`percentiles` must be increasing within 0–100; got {percentiles!r}.")
    arr = values.data if isinstance(values, xr.DataArray) else values
    size = int(np.prod(np.shape(arr), dtype=np.int64))
    if size > 2**20:  # an even subsample along the flattened array: every chunk's share, no full sort
        step = int(math.ceil(size / 2**20))
        arr = arr.reshape(-1)[::step] if hasattr(arr, "reshape") else np.ravel(arr)[::step]
    flat = np.asarray(arr, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(flat, [lo_p, hi_p]))
    if symmetric:
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
    if not lo < hi:
        return lo - 0.5, hi + 0.5
    return lo, hi


def rgb_composite(red, green, blue, percentiles=(1.0, 99.0)) -> np.ndarray:
    """An RGB image of three band maps, each scaled to 0–1 between its ``color_limits``.

    Parameters
    ----------
    red, green, blue : array-like
        Band maps of one shape (any leading dims), e.g. three ``*_area`` variables.
    percentiles : (float, float), optional
        Percentiles of each band mapped to 0 and 1 (values beyond are clipped). Default (1, 99).

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(*shape, 3)`` in 0–1; non-finite values become 0.

    Raises
    ------
    ValueError
        If the three maps differ in shape, or ``percentiles`` is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> img = rgb_composite(np.array([0.0, 10.0]), np.array([5.0, 5.0]), np.array([np.nan, 1.0]), (0, 100))
    >>> img.round(2).tolist()
    [[0.0, 0.5, 0.0], [1.0, 0.5, 0.5]]
    """
    bands = [np.asarray(b.values if isinstance(b, xr.DataArray) else b, dtype=np.float64) for b in (red, green, blue)]
    if len({b.shape for b in bands}) != 1:
        raise ValueError(f"the red, green and blue maps must have one shape; got {[b.shape for b in bands]}.")
    out = []
    for b in bands:
        lo, hi = color_limits(b, percentiles)
        out.append(np.nan_to_num(np.clip((b - lo) / (hi - lo), 0.0, 1.0), nan=0.0))
    return np.stack(out, axis=-1).astype(np.float32)


def _label(var: xr.DataArray, dim: str) -> str:
    unit = {"x": "µm", "y": "µm", "t": "s"}
    if dim in var.coords:
        return f"{dim} ({_pretty(var[dim].attrs.get('units', '')) or unit.get(dim, 'px')})"
    return f"{dim} (px)"


def _reduce(var: xr.DataArray, categorical: bool = False) -> tuple[xr.DataArray, str]:
    """``var`` on at most two drawable dims ((y, x), (t, x) or one dim), and a note on what was reduced."""
    if "y" in var.dims and "x" in var.dims:
        keep = ["y", "x"]
    elif "t" in var.dims and var.ndim >= 2:
        keep = ["t", next(d for d in var.dims if d != "t")]
    else:
        keep = list(var.dims[-2:]) if var.ndim >= 2 else list(var.dims)
    extra = [d for d in var.dims if d not in keep]
    if not extra:
        return var.transpose(*keep), ""
    if categorical:  # the largest code over the reduced dims (codes are not averaged)
        return var.max(extra).transpose(*keep), f" (largest code over {', '.join(extra)})"
    return var.mean(extra).transpose(*keep), f" (mean over {', '.join(extra)})"


def _as_image(var: xr.DataArray) -> tuple[np.ndarray, list[float] | None, str, str, str]:
    """2-D image, extent, x label, y label and a note on any reduction."""
    var, note = _reduce(var)
    rows, cols = var.dims
    img = np.asarray(var.values, dtype=np.float64)
    return img, _extent(var), _label(var, cols), _label(var, rows), note


def _extent(var: xr.DataArray) -> list[float]:
    def edges(dim):
        if dim in var.coords and var.sizes[dim] > 1:
            c = np.asarray(var[dim].values, dtype=np.float64)
            step = c[1] - c[0]
            return [c[0] - step / 2, c[-1] + step / 2]
        return [-0.5, var.sizes[dim] - 0.5]

    rows, cols = var.dims
    return [*edges(cols), *edges(rows)[::-1]]


def _positions(var: xr.DataArray) -> np.ndarray:
    dim = var.dims[0]
    return np.asarray(var[dim].values, dtype=np.float64) if dim in var.coords else np.arange(var.sizes[dim], dtype=np.float64)


def _title(var: xr.DataArray, title: str | None, note: str = "") -> str:
    text = title or str(var.name)
    return (text if len(text) <= 52 else text[:50] + "…") + note


def _draw(ax, var: xr.DataArray, plt, *, title: str | None = None, units: str | None = None, stderr: xr.DataArray | None = None,
          percentiles: Sequence[float] = CLIP_PERCENTILES, meanings: Mapping[int, str] | None = None) -> None:  # fmt: skip
    """One variable on ``ax``: a map or kymograph (2-D), or a profile (1-D); categorical when ``meanings`` is given."""
    units = _pretty(var.attrs.get("units", "")) if units is None else units
    if meanings is not None:
        _draw_categorical(ax, var, plt, meanings, title=title, codes_shown=var.name == "status")
        return
    if var.ndim == 1 or (var.ndim >= 1 and _reduce(var)[0].ndim == 1):
        line, note = _reduce(var)
        x = _positions(line)
        y = np.asarray(line.values, dtype=np.float64)
        ax.plot(x, y, color="k", lw=1.0)
        if stderr is not None:
            err = np.asarray(_reduce(stderr)[0].values, dtype=np.float64)
            ax.fill_between(x, y - err, y + err, color="C0", alpha=0.3, lw=0, label="±1 standard error")
            ax.legend(fontsize=7, loc="best")
        ax.set_xlabel(_label(line, line.dims[0]), fontsize=8)
        ax.set_ylabel(units, fontsize=8)
        ax.set_title(_title(var, title, note), fontsize=9)
        ax.tick_params(labelsize=7)
        half = abs(x[1] - x[0]) / 2 if x.size > 1 else 0.5
        ax.set_xlim(x.min() - half, x.max() + half)  # pixel edges, as the status strip below
        return
    img, extent, xl, yl, note = _as_image(var)
    vmin, vmax = color_limits(img, percentiles)
    im = ax.imshow(
        img,
        extent=extent,
        origin="upper",
        cmap="magma",
        vmin=vmin,
        vmax=vmax,
        aspect="auto" if "t" in var.dims or "y" not in var.dims else "equal",
        interpolation="nearest",
    )
    ax.set_title(_title(var, title, note), fontsize=9)
    ax.set_xlabel(xl, fontsize=8)
    ax.set_ylabel(yl, fontsize=8)
    ax.tick_params(labelsize=7)
    finite = img[np.isfinite(img)]
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
        (bool(finite.size and finite.min() < vmin), bool(finite.size and finite.max() > vmax))
    ]
    cb = plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04, extend=extend)
    clip = f"{_ordinal(percentiles[0])}–{_ordinal(percentiles[1])} percentile"  # the clip, stated on every map
    cb.set_label(f"{units}   (colour: {clip})" if units else f"colour: {clip}", fontsize=7)
    cb.ax.tick_params(labelsize=7)


def _draw_categorical(
    ax, var: xr.DataArray, plt, meanings: Mapping[int, str], *, title: str | None = None, codes_shown: bool = True
) -> None:
    """Integer codes as categories: one colour per code present, a legend with the names and pixel counts."""
    from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    red, note = _reduce(var, categorical=True)
    codes = np.asarray(red.values)
    valid = np.isfinite(codes) if codes.dtype.kind == "f" else np.ones(codes.shape, bool)
    present = sorted({int(c) for c in np.unique(codes[valid])})
    if not present:
        present = [0]
    index = np.full(codes.shape, np.nan)
    for i, c in enumerate(present):
        index[valid & (codes == c)] = i
    # colours by code (the same in every figure); "unknown"/"none" light grey
    colours = ["#d9d9d9" if meanings.get(c) in ("unknown", "none") else _CATEGORY_COLOURS[c % len(_CATEGORY_COLOURS)] for c in present]
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(len(present) + 1) - 0.5, len(present))
    if red.ndim == 1:
        img = index[None, :]
        x = _positions(red)
        step = x[1] - x[0] if x.size > 1 else 1.0
        ax.imshow(img, extent=[x[0] - step / 2, x[-1] + step / 2, 0, 1], aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_yticks([])
        ax.set_xlabel(_label(red, red.dims[0]), fontsize=8)
    else:
        ax.imshow(index, extent=_extent(red), origin="upper", cmap=cmap, norm=norm, interpolation="nearest",
                  aspect="auto" if "t" in red.dims or "y" not in red.dims else "equal")  # fmt: skip
        ax.set_xlabel(_label(red, red.dims[1]), fontsize=8)
        ax.set_ylabel(_label(red, red.dims[0]), fontsize=8)
    counts = {c: int(np.sum(valid & (codes == c))) for c in present}
    handles = [
        Patch(color=col, label=f"{str(c) + ' ' if codes_shown else ''}{meanings.get(c, 'unknown code')} ({counts[c]})")
        for c, col in zip(present, colours, strict=True)
    ]
    heading = "code name (pixels)" if codes_shown else f"{var.name} (pixels)"
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, title=heading,
              title_fontsize=7, frameon=False)  # fmt: skip
    ax.set_title(_title(var, title, note), fontsize=9)
    ax.tick_params(labelsize=7)


def _is_categorical(results: xr.Dataset, name: str) -> Mapping[int, str] | None:
    """The category names of variable ``name`` when it holds codes (``status``, a region map), else None."""
    var = results[name]
    if name == "status":
        return status_meanings(results)
    if var.dtype.kind in "iu" and isinstance(var.attrs.get("flag_meanings"), str) and var.attrs.get("flag_values") is not None:
        return status_meanings(var)
    params = var.attrs.get("at_bound_params", results.attrs.get("at_bound_params"))
    if name == "at_bound" and var.dtype.kind in "iu" and isinstance(params, str):  # +k upper / -k lower bound of parameter k
        names = params.split()
        return {0: "none", **{k: f"{n} (upper)" for k, n in enumerate(names, 1)}, **{-k: f"{n} (lower)" for k, n in enumerate(names, 1)}}
    return None


def _note(fig, percentiles: Sequence[float]) -> None:
    fig.text(0.005, 0.003, clip_note(percentiles), fontsize=6.5, color="0.35", ha="left", va="bottom")


def _figure(plt, n: int, line: bool, ncol: int = 3, strips: Sequence[bool] = ()):
    """A figure of ``n`` panels: maps three per row (4.6 x 3.8 in each), profiles one per row (category strips lower)."""
    if line:
        ratios = [0.45 if (strips[i] if i < len(strips) else False) else 1.0 for i in range(n)]
        fig, axs = plt.subplots(n, 1, figsize=(8.0, 2.4 * sum(ratios) + 0.5), squeeze=False, gridspec_kw={"height_ratios": ratios})
        ncol = 1
    else:
        ncol = min(ncol, n)
        nrow = math.ceil(n / ncol)
        fig, axs = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.8 * nrow), squeeze=False)
    return fig, list(axs.flat), ncol


def _panel(
    results: xr.Dataset,
    names: Sequence[str],
    path: Path | None,
    dpi: int,
    percentiles,
    titles=None,
    units=None,
    crops: Mapping[str, Path] | None = None,
) -> list[Path]:
    """One figure with a panel per variable (maps in a grid, profiles stacked), the clip note at the foot.

    The figure goes to ``path`` (None: not written); each variable named in ``crops`` is also written
    alone, cut from the same drawing (its axes, colour bar and legend), so a band's single-variable
    PNGs cost one drawing.
    """
    plt = _pyplot()
    titles, units, crops = titles or {}, units or {}, crops or {}
    line = all(_reduce(results[n])[0].ndim == 1 for n in names)
    categories = {n: _is_categorical(results, n) for n in names}
    fig, axs, ncol = _figure(plt, len(names), line, strips=[categories[n] is not None for n in names])
    owned: dict[str, list] = {}
    for ax, name in zip(axs, names, strict=False):
        before = set(fig.axes)
        stderr = results.get(f"{name}_stderr")
        _draw(ax, results[name], plt, title=titles.get(name), units=units.get(name), stderr=stderr, percentiles=percentiles,
              meanings=categories[name])  # fmt: skip
        owned[name] = [ax, *(a for a in fig.axes if a not in before)]  # its colour bar
    for ax in axs[len(names) :]:
        ax.axis("off")
    if not line and any(c is None for c in categories.values()):  # a colour scale was drawn (profiles and categories have none)
        _note(fig, percentiles)
    fig.set_dpi(dpi)
    if line or any(c is not None for c in categories.values()):
        fig.tight_layout()  # stacked profiles, legends beside their maps: measured
    else:  # a grid of maps with colour bars: fixed margins in inches (tight_layout's measuring costs a third of a drawing)
        width, height = fig.get_size_inches()
        nrow = math.ceil(len(names) / ncol)
        left, right, gap, top, bottom, vgap = 0.7, 0.95, 1.25, 0.4, 0.55, 0.95  # the colour bar's ticks and label right of each map
        ax_w = (width - left - right - (ncol - 1) * gap) / ncol
        ax_h = (height - top - bottom - (nrow - 1) * vgap) / nrow
        fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                            wspace=gap / ax_w, hspace=vgap / ax_h)  # fmt: skip
    fig.canvas.draw()
    written = _write_crops(fig, owned, crops, dpi) if crops else []
    if path is not None:  # the drawing already made (the same pixels savefig would render again)
        from matplotlib.image import imsave  # noqa: PLC0415

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        imsave(path, np.asarray(fig.canvas.buffer_rgba()), dpi=dpi)
        written.append(path)
    plt.close(fig)
    return written


def _write_crops(fig, owned: Mapping[str, list], crops: Mapping[str, Path], dpi: int) -> list[Path]:
    """Write the drawn region of each variable's axes (with colour bar, legend, labels) as its own PNG."""
    from matplotlib.image import imsave  # noqa: PLC0415
    from matplotlib.transforms import Bbox  # noqa: PLC0415

    renderer = fig.canvas.get_renderer()
    buf = np.asarray(fig.canvas.buffer_rgba())
    height, width = buf.shape[:2]
    pad = 0.06 * dpi
    out = []
    for name, path in crops.items():
        box = Bbox.union([a.get_tightbbox(renderer) for a in owned[name]])
        x0, x1 = max(int(box.x0 - pad), 0), min(int(math.ceil(box.x1 + pad)), width)
        y0, y1 = max(int(height - box.y1 - pad), 0), min(int(math.ceil(height - box.y0 + pad)), height)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        imsave(path, buf[y0:y1, x0:x1], dpi=dpi)
        out.append(path)
    return out


def write_band_maps(
    results: xr.Dataset,
    outdir: str | Path,
    variables: Sequence[str] | None = None,
    *,
    overview: str = "band_maps.png",
    dpi: int = 110,
    percentiles: Sequence[float] = CLIP_PERCENTILES,
) -> list[Path]:
    """Write one PNG per variable and an overview panel into ``outdir``.

    Maps are drawn in µm (s for ``t``) with a colour bar in the variable's ``units`` attr and a colour
    scale clipped to ``percentiles`` (said on the figure); ``(t, x)`` maps are drawn as kymographs, any
    other leading dims are averaged over (said in the title); one-dim variables (a line scan) are drawn
    as profiles with ±1 standard error when ``<name>_stderr`` is there. ``status`` and other code
    variables (``flag_values``/``flag_meanings``) are drawn as categories with a legend. Titles and
    units come from the model's component registry entries (:func:`model_variables`) when the
    results have ``attrs["model"]``. Lazy results are computed.

    Parameters
    ----------
    results : xarray.Dataset
        Band maps (e.g. what ``decompose`` returned).
    outdir : str or path-like
        Folder to write into (created if missing).
    variables : sequence of str, optional
        The variables to draw. Default is ``plottable_variables(results)``.
    overview : str, optional
        File name of the panel with all of them (three maps per row, or stacked profiles); ``""`` for
        none. Default is ``"band_maps.png"``.
    dpi : int, optional
        Resolution, dots per inch. Default is 110.
    percentiles : (float, float), optional
        The colour-scale clip. Default :data:`CLIP_PERCENTILES` (1st–99th).

    Returns
    -------
    list of pathlib.Path
        ``outdir/<variable>.png`` for each variable, then the overview.

    Raises
    ------
    ValueError
        If a requested variable is not in ``results``; the message lists the plottable ones.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> maps = xr.Dataset({"aspl_area": (("y", "x"), np.random.default_rng(0).random((4, 5)))})
    >>> [p.name for p in write_band_maps(maps, "figures")]  # doctest: +SKIP
    ['aspl_area.png', 'band_maps.png']
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = list(variables) if variables is not None else plottable_variables(results)
    unknown = [n for n in names if n not in results.data_vars]
    if unknown:
        raise ValueError(f"no variable(s) {unknown} in the results; available: {plottable_variables(results)}.")
    keep = [n for n in names] + [f"{n}_stderr" for n in names if f"{n}_stderr" in results.data_vars]
    loaded = results[keep].compute()
    loaded.attrs = dict(results.attrs)
    titles, units = {}, {}
    for rows in model_variables(loaded).values():
        for name, title, unit in rows:
            titles[name], units[name] = title, unit
    if not names:
        return []
    crops = {name: outdir / f"{name}.png" for name in names}
    paths = _panel(loaded, names, outdir / overview if overview else None, dpi, percentiles, titles, units, crops)
    return [*paths[: len(names)], *paths[len(names) :]]


def write_figures(
    results: xr.Dataset,
    outdir: str | Path,
    *,
    regions: xr.DataArray | None = None,
    dpi: int = 110,
    percentiles: Sequence[float] = CLIP_PERCENTILES,
) -> list[Path]:
    """Every picture of a results store, for any model: band maps (or profiles, or kymographs), status, regions.

    From the model the results were fitted with (``attrs["model"]``, :func:`model_variables`):

    - ``<variable>.png`` for every term's area, position, widths, other shape parameters and derived
      values, and ``chi2_red.png``, ``status.png`` (categorical, legend from the results' status table)
      and ``at_bound.png`` when the results have it (which parameter ended at which bound, named from
      its ``at_bound_params``);
    - ``band_<term>.png``: each term's variables side by side (stacked profiles for a line scan), and
      ``band_ratios.png`` for the model's ratios (I_D/I_G …) when it has several;
    - ``band_maps.png``: the overview, every term's area, every ratio, ``chi2_red``, ``status`` and ``at_bound``;
    - ``regions.png`` when ``regions`` is given (a label map with ``flag_values``/``flag_meanings``).

    Results without a model (e.g. window integrals) get ``write_band_maps`` of their plottable
    variables. A map is drawn as an image, a line scan (one pixel dim) as profiles with ±1 standard
    error, a kinetic line ``(t, x)`` as a kymograph; the colour-clip percentiles are stated on each figure.

    Parameters
    ----------
    results : xarray.Dataset
        What ``decompose`` or ``hyperspec run`` wrote (lazy is fine: the drawn variables are computed).
    outdir : str or path-like
        Folder to write into (created if missing).
    regions : xarray.DataArray, optional
        Region labels on the results' grid (``hyperspec.spatial.segment_regions``).
    dpi : int, optional
        Resolution, dots per inch. Default is 110.
    percentiles : (float, float), optional
        The colour-scale clip. Default :data:`CLIP_PERCENTILES` (1st–99th).

    Returns
    -------
    list of pathlib.Path
        The PNG files written.

    Examples
    --------
    >>> import json, numpy as np, xarray as xr
    >>> spec = {"terms": {"si": {"shape": "lorentzian"}}}
    >>> res = xr.Dataset({n: ("x", np.arange(5.0)) for n in ["si_area", "si_center_cm", "si_hwhm_cm", "chi2_red"]},
    ...                  coords={"x": np.arange(5) * 0.5}, attrs={"model": json.dumps(spec)})
    >>> [p.name for p in write_figures(res, "figures")]  # doctest: +SKIP
    ['si_area.png', 'si_center_cm.png', 'si_hwhm_cm.png', 'band_si.png', 'chi2_red.png', 'band_maps.png']
    """
    outdir = Path(outdir)
    drawable = {n for n in plottable_variables(results) if results[n].ndim >= 1}  # a single spectrum's results have no map
    groups = {t: kept for t, rows in model_variables(results).items() if (kept := [r for r in rows if r[0] in drawable])}
    if not groups:
        paths = write_band_maps(results, outdir, dpi=dpi, percentiles=percentiles)
    else:
        tail = [n for n in ("chi2_red", "status", "at_bound") if n in drawable]
        every = [name for rows in groups.values() for name, _, _ in rows] + tail
        keep = every + [f"{n}_stderr" for n in every if f"{n}_stderr" in results.data_vars]
        loaded = results[keep].compute()
        loaded.attrs = dict(results.attrs)
        titles = {name: title for rows in groups.values() for name, title, _ in rows}
        units = {name: unit for rows in groups.values() for name, _, unit in rows}
        titles.update({"chi2_red": "reduced χ² of the fit", "status": "fit status", "at_bound": "parameter at a bound (first one)"})
        outdir.mkdir(parents=True, exist_ok=True)
        paths = []
        for term, rows in groups.items():  # one drawing per term: its panel, and each variable cut from it
            names = [r[0] for r in rows]
            panel = outdir / f"band_{term}.png" if len(names) > 1 else None
            paths += _panel(loaded, names, panel, dpi, percentiles, titles, units, {n: outdir / f"{n}.png" for n in names})
        if tail:
            paths += _panel(loaded, tail, None, dpi, percentiles, titles, units, {n: outdir / f"{n}.png" for n in tail})
        overview = [r[0] for term, rows in groups.items() for r in (rows if term.endswith(RATIOS) else rows[:1])] + tail  # areas, ratios
        paths += _panel(loaded, overview, outdir / "band_maps.png", dpi, percentiles, titles, units)
    if regions is not None:
        ds = xr.Dataset({"region": regions})
        paths += _panel(ds, ["region"], outdir / "regions.png", dpi, percentiles, {"region": "regions"})
    return paths


def plot_spectra(ds: xr.Dataset, path: str | Path, groups: dict[str, np.ndarray] | None = None, *, dpi: int = 110) -> Path:
    """Plot the median spectrum of a map, or of each group of pixels, against Raman shift.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset (loaded into memory); drawn against ``shift`` (cm⁻¹), or ``wavelength`` (nm)
        when the laser is unknown.
    path : str or path-like
        The PNG to write (folders are created).
    groups : dict of str to array of bool, optional
        Label → pixel mask (any shape with one entry per pixel, in the order of the leading dims);
        each non-empty group gets its own median spectrum. Default is one group of all pixels.
    dpi : int, optional
        Resolution, dots per inch. Default is 110.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> ds = hyperspec.from_array(np.ones((2, 3, 4)), [100.0, 200.0, 300.0, 400.0], laser_nm=632.8)
    >>> plot_spectra(ds, "figures/spectra.png", {"left": [True, True, False] * 2})  # doctest: +SKIP
    PosixPath('figures/spectra.png')
    """
    plt = _pyplot()
    spectra = ds["spectra"]
    lead = [d for d in spectra.dims if d != "spectral"]
    flat = np.asarray(spectra.stack(_pix=lead).transpose("_pix", "spectral").values, dtype=np.float64)
    x = np.asarray(ds["shift"].values) if "shift" in ds.coords else np.asarray(ds["wavelength"].values)
    xlabel = "Raman shift (cm⁻¹)" if "shift" in ds.coords else "wavelength (nm)"
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for label, mask in (groups or {"all pixels": np.ones(flat.shape[0], bool)}).items():
        mask = np.asarray(mask).reshape(-1)
        if mask.any():
            ax.plot(x, np.nanmedian(flat[mask], axis=0), lw=1, label=f"{label} ({int(mask.sum())} px)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("counts (median)")
    ax.legend(fontsize=8)
    return _save(fig, path, dpi)


def plot_fit(components: xr.Dataset, path: str | Path, *, title: str = "", dpi: int = 110) -> Path:
    """Plot the data, the fitted model, each component and the residual of one pixel.

    Parameters
    ----------
    components : xarray.Dataset
        ``hyperspec.fit.decompose.fitted_components`` for one pixel: ``data``, ``model`` and
        ``residual`` (counts) and one variable per term on the ``shift`` (cm⁻¹) axis. Terms below
        10⁻³ × the model's maximum are not drawn.
    path : str or path-like
        The PNG to write (folders are created).
    title : str, optional
        Title of the upper panel. Default is none.
    dpi : int, optional
        Resolution, dots per inch. Default is 110.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> from hyperspec.fit.decompose import fitted_components
    >>> plot_fit(fitted_components(results, ds, y=3, x=5), "fit.png", title="y=3, x=5")  # doctest: +SKIP
    PosixPath('fit.png')
    """
    plt = _pyplot()
    x = np.asarray(components["shift"].values)
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(x, components["data"].values, color="0.6", lw=0.8, label="data")
    ax.plot(x, components["model"].values, color="k", lw=1.2, label="fit")
    skip = {"data", "model", "residual"}
    for name in components.data_vars:
        if name in skip:
            continue
        values = np.asarray(components[name].values)
        if np.nanmax(np.abs(values)) > 1e-3 * np.nanmax(np.abs(components["model"].values)):
            ax.plot(x, values, lw=1, label=name)
    ax.set_ylabel("counts")
    ax.legend(fontsize=7, ncol=3)
    if title:
        ax.set_title(title, fontsize=9)
    axr.plot(x, components["residual"].values, color="0.3", lw=0.6)
    axr.axhline(0, color="k", lw=0.5)
    axr.set_xlabel("Raman shift (cm⁻¹)")
    axr.set_ylabel("residual")
    return _save(fig, path, dpi)


def plot_preprocess(before: xr.Dataset, after: xr.Dataset, path: str | Path, pixels: Sequence[dict], *, dpi: int = 110) -> Path:
    """Plot before/after spectra of chosen pixels, one panel per pixel.

    Each panel shows the raw spectrum, the processed one (labelled "baseline subtracted" when the
    history records a subtracted baseline), the ``baseline`` variable when there is one, and the
    channels flagged in ``spike_mask`` when it is on the raw spectra's channels.

    Parameters
    ----------
    before, after : xarray.Dataset
        The map before and after preprocessing (loaded into memory); drawn against ``shift`` (cm⁻¹),
        or ``wavelength`` (nm) when the laser is unknown.
    path : str or path-like
        The PNG to write (folders are created).
    pixels : sequence of dict
        Pixels by index, e.g. ``[{"y": 3, "x": 5}, {"y": 0, "x": 0}]``.
    dpi : int, optional
        Resolution, dots per inch. Default is 110.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> plot_preprocess(raw, cleaned, "preprocess.png", [{"y": 3, "x": 5}])  # doctest: +SKIP
    PosixPath('preprocess.png')
    """
    from hyperspec.model import history_records  # noqa: PLC0415

    plt = _pyplot()
    x = np.asarray(after["shift"].values) if "shift" in after.coords else np.asarray(after["wavelength"].values)
    xb = np.asarray(before["shift"].values) if "shift" in before.coords else np.asarray(before["wavelength"].values)
    fig, axes = plt.subplots(len(pixels), 1, figsize=(9, 2.8 * len(pixels)), squeeze=False, sharex=True)
    for ax, sel in zip(axes[:, 0], pixels, strict=True):
        raw = np.asarray(before["spectra"].isel(sel).values, dtype=float)
        ax.plot(xb, raw, color="0.65", lw=0.8, label="raw")
        cleaned = np.asarray(after["spectra"].isel(sel).values, dtype=float)
        label = (
            "after (baseline subtracted)"
            if "baseline" in after and any((h.get("params") or {}).get("subtract") for h in history_records(after.attrs))
            else "after"
        )
        ax.plot(x, cleaned, color="C0", lw=1.0, label=label)
        if "baseline" in after:
            ax.plot(x, np.asarray(after["baseline"].isel(sel).values, dtype=float), color="C3", lw=1.0, ls="--", label="baseline")
        if "spike_mask" in after and after["spike_mask"].sizes.get("spectral") == xb.size:
            m = np.asarray(after["spike_mask"].isel(sel).values)
            if m.any():
                ax.plot(xb[m], raw[m], "x", color="C1", ms=6, label=f"spikes ({int(m.sum())} channels)")
        ax.set_title(", ".join(f"{k}={v}" for k, v in sel.items()), fontsize=9)
        ax.set_ylabel("counts")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("Raman shift (cm⁻¹)" if "shift" in after.coords else "wavelength (nm)")
    return _save(fig, path, dpi)


def plot_profile(image: xr.DataArray, profile: xr.DataArray, path: str | Path, *, dpi: int = 110) -> Path:
    """Plot a map with a profile's line drawn on it, beside the values along the line.

    Parameters
    ----------
    image : xarray.DataArray
        A 2-D map on ``(y, x)`` (µm coordinates, or pixels without them).
    profile : xarray.DataArray
        ``hyperspec.spatial.line_profile(image, ...)``: values along ``distance`` (µm or pixels), with
        attrs ``start`` and ``end`` ((y, x) in pixels) and ``width`` (pixels).
    path : str or path-like
        The PNG to write (folders are created).
    dpi : int, optional
        Resolution, dots per inch. Default is 110.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> from hyperspec.spatial import line_profile
    >>> prof = line_profile(results["aspl_area"], (0, 0), (10, 20), width=3)  # doctest: +SKIP
    >>> plot_profile(results["aspl_area"], prof, "profile.png")  # doctest: +SKIP
    PosixPath('profile.png')
    """
    plt = _pyplot()
    fig, (ax_map, ax_prof) = plt.subplots(1, 2, figsize=(9.2, 3.8))
    _draw(ax_map, image, plt)
    (y0, x0), (y1, x1) = profile.attrs["start"], profile.attrs["end"]
    if "x" in image.coords and "y" in image.coords and image.sizes["x"] > 1:
        xs, ys = image["x"].values, image["y"].values
        x0, x1 = np.interp([x0, x1], np.arange(xs.size), xs)
        y0, y1 = np.interp([y0, y1], np.arange(ys.size), ys)
    ax_map.plot([x0, x1], [y0, y1], color="cyan", lw=1.5)
    ax_prof.plot(profile["distance"].values, profile.values, color="k", lw=1.2)
    ax_prof.set_xlabel(f"distance ({profile['distance'].attrs.get('units', 'pixel').replace('um', 'µm')})")
    units = image.attrs.get("units", "")
    ax_prof.set_ylabel(f"{image.name} ({units})" if units else str(image.name))
    ax_prof.set_title(f"profile, {profile.attrs.get('width', 1)} px wide", fontsize=9)
    return _save(fig, path, dpi)
