"""Kinetics pictures: traces with fits, autocorrelations, periodograms, kymographs, lag, event and k maps.

PNGs through Matplotlib's Agg backend: a trace with its fit, the autocorrelation and the periodogram
with the periods marked, kymographs, lag maps, the SBPL event raster and k maps.

Every ``plot_*`` function takes the outputs of :mod:`hyperspec.kinetics` (or of
:func:`hyperspec.fit.curves.fit_curves`) as they are, and works for area maps ``(y, x)``, lines
``(x)`` and single traces alike; NaN-heavy results draw with colour scales from robust percentiles
(1st–99th) of the finite values. With ``path`` they write a PNG and return its path; without, they
return the :class:`matplotlib.figure.Figure` (not registered with pyplot: nothing to close) so that
its axes can be inspected or drawn on. :func:`write_kinetics_report` draws everything a set of
outputs allows (``hyperspec kinetics --png DIR``). Axes carry units: s for ``t`` and lags, Hz for
frequencies, µm for positions, mW for pump power, eV for energies, the variables' ``units`` attrs in
colour bars.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = [
    "plot_trace",
    "plot_autocorrelation",
    "plot_periodogram",
    "plot_kymograph",
    "plot_lag_map",
    "plot_event_raster",
    "plot_k_map",
    "write_kinetics_report",
]

#: Resolution of the PNGs, dots per inch.
DPI = 100
#: Units of the usual dims when their coordinate has no ``units`` attr.
DIM_UNITS = {"t": "s", "x": "µm", "y": "µm", "power": "mW", "lag": "s", "frequency": "Hz"}
#: Axis names of the usual dims.
DIM_NAMES = {"t": "t", "power": "pump power", "lag": "lag τ", "frequency": "frequency"}
#: Dims that are not pixels (series, lag, frequency and peak axes of the kinetics outputs).
NON_PIXEL_DIMS = ("t", "power", "lag", "frequency", "peak")
#: Largest number of period marks (groups of periods) drawn on one autocorrelation or periodogram.
MAX_MARKS = 4
#: Periods within this relative distance of each other are one mark (pooled over pixels and peaks).
PERIOD_GROUP_RTOL = 0.05
_MARK_COLOURS = ("C3", "C2", "C4", "C1")


# ---- small helpers ---------------------------------------------------------------------------
def _figure(nrows=1, ncols=1, *, figsize, **kw):
    """A Figure (not managed by pyplot) and its axes."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _finish(fig, path, dpi: int):
    """Save ``fig`` to ``path`` (creating folders) and return the path, or return ``fig`` when no path."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tight_layout's "not compatible" notes
        fig.tight_layout()
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def pretty_units(units: str) -> str:
    """Typeset a ``units`` attr for an axis label: ``counts*cm-1`` → ``counts·cm⁻¹``, ``um`` → ``µm``.

    Parameters
    ----------
    units : str
        Units as stored in attrs (``"counts*cm-1"``, ``"um"``, ``"1/eV"``, ``"s"``…).

    Returns
    -------
    str
        The same units with a middle dot for products, superscript exponents and ``µm``.

    Examples
    --------
    >>> pretty_units("counts*cm-1"), pretty_units("um"), pretty_units("s")
    ('counts·cm⁻¹', 'µm', 's')
    """
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    out = re.sub(r"\bum\b", "µm", str(units)).replace("*", "·")
    return re.sub(r"([A-Za-zµ])(-?\d+)\b", lambda m: m.group(1) + m.group(2).translate(sup), out)


def _label(name: str, units: str = "") -> str:
    units = pretty_units(units) if units and units != "1" else ""
    return f"{name} ({units})" if units else str(name)


def _dim_label(da, dim: str) -> str:
    units = da[dim].attrs.get("units", "") if dim in da.coords else ""
    units = units or (DIM_UNITS.get(dim, "") if dim in da.coords else "index")
    return _label(DIM_NAMES.get(dim, dim), units)


def _values(da) -> np.ndarray:
    return np.asarray(da.values, dtype=np.float64)


def _nanmean(a, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def _nanpercentile(a, q, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(a, q, axis=axis)


def _limits(values, symmetric: bool = False, q=(1.0, 99.0)) -> tuple[float, float]:
    """Robust colour limits of the finite values (a unit range when there are none or all are equal)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    if symmetric:
        m = float(np.percentile(np.abs(finite), q[1]))
        m = m if m > 0 else float(np.max(np.abs(finite))) or 1.0
        return -m, m
    lo, hi = (float(v) for v in np.percentile(finite, q))
    if not hi > lo:
        lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _pixel_dims(da, exclude=NON_PIXEL_DIMS) -> list[str]:
    return [d for d in da.dims if d not in exclude]


def _isel(obj, pixel: Mapping[str, int] | None):
    """``obj.isel`` on the dims of ``pixel`` that ``obj`` has (others ignored)."""
    if not pixel:
        return obj
    return obj.isel({d: i for d, i in pixel.items() if d in obj.dims})


def _check_pixel(pixel, da, func: str):
    if pixel is None:
        return None
    if not isinstance(pixel, Mapping):
        raise ValueError(f"{func}: `pixel` must be a dict of dim → index, e.g. {{'x': 10}}; got {pixel!r}.")
    for dim, index in pixel.items():
        if dim not in da.dims:
            raise ValueError(f"{func}: `pixel` names dim {dim!r}, which the data do not have (dims {list(da.dims)}).")
        if not isinstance(index, (int, np.integer)) or not -da.sizes[dim] <= index < da.sizes[dim]:
            raise ValueError(f"{func}: `pixel[{dim!r}]` must be an int index in [0, {da.sizes[dim]}); got {index!r}.")
    return dict(pixel)


def _pixel_text(da, pixel) -> str:
    parts = []
    for dim, index in pixel.items():
        if dim in da.coords and da[dim].ndim == 1:
            value = float(da[dim].values[index])
            units = pretty_units(da[dim].attrs.get("units", "") or DIM_UNITS.get(dim, ""))
            parts.append(f"{dim} = {value:g} {units}".rstrip())
        else:
            parts.append(f"{dim}[{index}]")
    return ", ".join(parts)


def _check_dataarray(obj, func: str, what: str, dim: str | None = None) -> xr.DataArray:
    if not isinstance(obj, xr.DataArray):
        raise ValueError(f"{func}: `{what}` must be an xarray.DataArray; got {type(obj).__name__}.")
    if dim is not None and dim not in obj.dims:
        raise ValueError(
            f"{func}: `{what}` has no {dim!r} dim (its dims are {list(obj.dims)}); pass the output of the matching kinetics function."
        )
    return obj


def _check_dataset(obj, func: str, what: str, needs: Sequence[str]) -> xr.Dataset:
    if not isinstance(obj, xr.Dataset):
        raise ValueError(f"{func}: `{what}` must be an xarray.Dataset with {list(needs)}; got {type(obj).__name__}.")
    missing = [n for n in needs if n not in obj.data_vars]
    if missing:
        raise ValueError(f"{func}: `{what}` lacks {missing} (it has {list(obj.data_vars)}).")
    return obj


def _reduce_to(da, keep: Sequence[str], pixel) -> tuple[xr.DataArray, str]:
    """``da`` at ``pixel``, other dims outside ``keep`` averaged; a note saying what was done."""
    notes = [_pixel_text(da, pixel)] if pixel else []
    da = _isel(da, pixel)
    extra = [d for d in da.dims if d not in keep]
    if extra:
        n = int(np.prod([da.sizes[d] for d in extra]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            da = da.mean(extra, skipna=True, keep_attrs=True)
        notes.append(f"mean of {n} pixels")
    note = ", ".join(notes)
    return da, note


# ---- fitted curves ---------------------------------------------------------------------------
def _fit_model(fit: xr.Dataset):
    """The curve model of a fit result and the names of its parameter variables (in model order)."""
    from hyperspec.fit.curve_models import sinusoids  # noqa: PLC0415
    from hyperspec.fit.curves import get_curve_model  # noqa: PLC0415

    name = fit.attrs.get("curve_model")
    if name == "sinusoids":
        n = sum(1 for v in fit.data_vars if re.fullmatch(r"period_\d+", str(v)))
        trend = sum(1 for v in fit.data_vars if re.fullmatch(r"trend_\d+", str(v))) - 1
        cm = sinusoids(max(n, 1), max(trend, 0))
        return cm, list(cm.params)
    if name:
        cm = get_curve_model(name)
        return cm, list(cm.params)
    names = set(fit.data_vars)
    if {"onset_s", "tau_s", "amplitude", "baseline"} <= names:
        return get_curve_model("onset_exp"), ["baseline", "amplitude", "onset_s", "tau_s"]
    if {"k", "amplitude"} <= names:
        return get_curve_model("power_law"), ["amplitude", "k"]
    return None, []


def _fitted_curve(fit: xr.Dataset, x: np.ndarray, pixel) -> tuple[np.ndarray | None, str, str]:
    """The fitted curve at ``pixel`` on ``x`` (the mean of the pixels' curves without one), its label, equation."""
    cm, names = _fit_model(fit)
    if cm is None:
        raise ValueError(
            "plot_trace: `fit` is not a result this function can draw: expected the output of fit_curves "
            f"(attrs 'curve_model'), kinetics.onset (onset_s, tau_s, amplitude, baseline) or kinetics.power_law "
            f"(k, amplitude); got variables {list(fit.data_vars)}."
        )
    missing = [n for n in names if n not in fit.data_vars]
    if missing:
        raise ValueError(f"plot_trace: `fit` lacks the parameters {missing} of the {cm.name!r} model.")
    sub = _isel(fit, pixel)
    p = np.stack([_values(sub[n]).reshape(-1) for n in names], axis=1)
    curves = np.asarray(cm.function(np, np.asarray(x, dtype=np.float64), p), dtype=np.float64)
    ok = np.all(np.isfinite(p), axis=1)
    if not ok.any():
        return None, cm.name, cm.equation
    n_ok = int(ok.sum())
    label = f"{cm.name} fit" if p.shape[0] == 1 else f"{cm.name} fits, mean of {n_ok} pixels"
    if cm.name == "onset_exp" and p.shape[0] == 1:
        err = float(_values(sub["onset_s_stderr"])) if "onset_s_stderr" in sub else math.nan
        label += f": onset {p[0, 2]:.2f}" + (f" ± {err:.2f}" if math.isfinite(err) else "") + " s"
    if cm.name == "power_law" and p.shape[0] == 1:
        err = float(_values(sub["k_stderr"])) if "k_stderr" in sub else math.nan
        label += f": k = {p[0, 1]:.2f}" + (f" ± {err:.2f}" if math.isfinite(err) else "")
    if cm.name == "onset_exp" and fit.attrs.get("periods_s"):
        label += " (the hinge; blinking not drawn)"
    return _nanmean(curves[ok], axis=0), label, cm.equation


def plot_trace(
    trace: xr.DataArray,
    fit: xr.Dataset | None = None,
    *,
    path: str | Path | None = None,
    pixel: Mapping[str, int] | None = None,
    dim: str | None = None,
    title: str = "",
    dpi: int = DPI,
):
    """Plot a trace (one pixel, or the mean over all pixels) with its fitted curve and the residual.

    Parameters
    ----------
    trace : xarray.DataArray
        A trace with a series dim and any pixel dims, e.g. ``results["aspl_area"]`` on ``(t, x)``
        (counts·cm⁻¹ over s) or a power series on ``(power, y, x)`` (mW).
    fit : xarray.Dataset, optional
        The fit to draw: a :func:`hyperspec.fit.curves.fit_curves` result (its ``curve_model`` attr
        names the model), a ``kinetics.onset`` result (``onset_s``, ``tau_s``, ``amplitude``,
        ``baseline``) or a ``kinetics.power_law`` result (``k``, ``amplitude``), on the trace's pixel
        dims (or none, for a fit of the mean trace). Without ``pixel`` the mean of the pixels' fitted
        curves is drawn. Default None: the trace alone.
    path : str or path-like, optional
        The PNG to write (folders are created). Default None: return the Figure.
    pixel : dict of str to int, optional
        The pixel by index, e.g. ``{"x": 10}`` or ``{"y": 3, "x": 5}``; dims not given are averaged
        over. Default None: the mean over all pixels.
    dim : str, optional
        The series dim. Default: the fit's ``dim`` attr, else ``"t"`` or ``"power"``, whichever the
        trace has.
    title : str, optional
        Title. Default: the trace's name and the pixel (or "mean of N pixels").
    dpi : int, optional
        Resolution of the PNG, dots per inch. Default 100.

    Returns
    -------
    pathlib.Path or matplotlib.figure.Figure
        ``path``, or the Figure when no ``path`` is given. A power-law fit is drawn on log–log axes.

    Raises
    ------
    ValueError
        ``trace`` is not a DataArray or has no series dim; a bad ``pixel``; a ``fit`` of a kind this
        function cannot evaluate.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(50) * 0.2
    >>> tr = xr.DataArray(np.sin(t)[:, None] * [1.0, 2.0], dims=("t", "x"), coords={"t": t}, name="aspl_area")
    >>> fig = plot_trace(tr.assign_attrs(units="counts*cm-1"), pixel={"x": 1})
    >>> fig.axes[0].get_ylabel(), fig.axes[-1].get_xlabel()
    ('aspl_area (counts·cm⁻¹)', 't (s)')
    """
    func = "plot_trace"
    _check_dataarray(trace, func, "trace")
    if dim is None:
        dim = (fit.attrs.get("dim") if isinstance(fit, xr.Dataset) else None) or next((d for d in ("t", "power") if d in trace.dims), None)
    if dim is None or dim not in trace.dims:
        raise ValueError(
            f"{func}: `trace` has no series dim {dim or 't/power'!r} (its dims are {list(trace.dims)}); pass dim=<the series dim>."
        )
    if fit is not None and not isinstance(fit, xr.Dataset):
        raise ValueError(f"{func}: `fit` must be an xarray.Dataset (a fit_curves, onset or power_law result); got {type(fit).__name__}.")
    pixel = _check_pixel(pixel, trace, func)
    sel, note = _reduce_to(trace, [dim], pixel)
    x = np.asarray(sel[dim].values, dtype=np.float64) if dim in sel.coords else np.arange(sel.sizes[dim], dtype=np.float64)
    y = _values(sel)
    curve, label, equation = (None, "", "")
    if fit is not None:
        curve, label, equation = _fitted_curve(fit, x, pixel)
    loglog = fit is not None and label.startswith("power_law") and np.all(x > 0)
    units = trace.attrs.get("units", "")
    ylabel = _label(str(trace.name) if trace.name is not None else "signal", units)
    if curve is not None:
        fig, axes = _figure(2, 1, figsize=(7.5, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        ax, axr = axes[0, 0], axes[1, 0]
    else:
        fig, axes = _figure(1, 1, figsize=(7.5, 3.4))
        ax, axr = axes[0, 0], None
    ax.plot(x, y, "o-" if x.size <= 30 else "-", color="0.35", lw=0.9, ms=3, label="data")
    if curve is not None:
        ax.plot(x, curve, color="C3", lw=1.6, label=label)
        resid = y - curve
        axr.plot(x, resid, "o-" if x.size <= 30 else "-", color="0.35", lw=0.7, ms=2.5)
        axr.axhline(0.0, color="C3", lw=0.8)
        axr.set_ylabel(_label("residual", units), fontsize=8)
        axr.set_xlabel(_dim_label(trace, dim))
        ax.legend(fontsize=8, loc="best")
    else:
        ax.set_xlabel(_dim_label(trace, dim))
    if loglog:
        ax.set_xscale("log")
        if np.any(y > 0):
            ax.set_yscale("log")
        axr.set_xscale("log")
    if not np.isfinite(y).any():
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center", color="C3")
    ax.set_ylabel(ylabel)
    name = str(trace.name) if trace.name is not None else "trace"
    head = title or (f"{name}, {note}" if note else name)
    ax.set_title(f"{head}\n{equation}" if equation else head, fontsize=8.5)
    return _finish(fig, path, dpi)


# ---- periods: autocorrelation and periodogram ------------------------------------------------
def period_marks(periods: xr.Dataset, pixel: Mapping[str, int] | None = None) -> list[tuple[float, float, int]]:
    """The periods to mark on a plot: ``(period_s, error_s, n_pixels)``, most common first.

    One pixel's periods are returned as they are (error: ``period_s_stderr``). Over many pixels the
    finite periods of all pixels and peaks are pooled and split into groups at relative gaps above
    ``PERIOD_GROUP_RTOL`` (5 %), so a period counts whichever peak index it has in each pixel
    (groups found in more pixels come first, then those at lower peak indices, i.e. stronger); each
    group gives its median and, as its error, the larger of the typical (median) ``period_s_stderr``
    and the pixel-to-pixel spread (1.4826 × MAD, from three pixels on). Groups found in fewer than
    10 % of the pixels are dropped; at most ``MAX_MARKS`` (4) are kept.

    Parameters
    ----------
    periods : xarray.Dataset
        A ``kinetics.periods`` result: ``period_s`` on ``(..., "peak")`` (s, NaN for no peak) and
        optionally ``period_s_stderr`` (s).
    pixel : dict of str to int, optional
        One pixel by index (dims it does not have are ignored). Default None: all pixels.

    Returns
    -------
    list of (float, float, int)
        Period (s), its error (s; NaN when unknown) and the number of pixels it was found in.

    Raises
    ------
    ValueError
        ``periods`` is not a Dataset with ``period_s``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> p = xr.Dataset({"period_s": (("x", "peak"), [[1.9, 1.5], [1.5, 1.91], [1.89, np.nan]])})
    >>> [(round(v, 2), n) for v, _, n in period_marks(p)]
    [(1.9, 3), (1.5, 2)]
    """
    _check_dataset(periods, "period_marks", "periods", ["period_s"])
    sub = _isel(periods, pixel)
    per = sub["period_s"]
    peak_dims = [d for d in per.dims if d == "peak"]
    pix_dims = [d for d in per.dims if d not in peak_dims]
    per = per.transpose(*pix_dims, *peak_dims)
    err = sub["period_s_stderr"].transpose(*pix_dims, *peak_dims) if "period_s_stderr" in sub else xr.full_like(per, np.nan)
    n_peak = int(np.prod([per.sizes[d] for d in peak_dims])) if peak_dims else 1
    p = _values(per).reshape(-1, n_peak)
    e = _values(err).reshape(-1, n_peak)
    n_pix = p.shape[0]
    pix_index = np.repeat(np.arange(n_pix), n_peak)
    peak_index = np.tile(np.arange(n_peak), n_pix)
    p, e = p.reshape(-1), e.reshape(-1)
    ok = np.isfinite(p) & (p > 0)
    if n_pix == 1:
        return [(float(v), float(s), 1) for v, s in zip(p[ok], e[ok], strict=True)][:MAX_MARKS]
    p, e, pix_index, peak_index = p[ok], e[ok], pix_index[ok], peak_index[ok]
    if not p.size:
        return []
    order = np.argsort(p)
    p, e, pix_index, peak_index = p[order], e[order], pix_index[order], peak_index[order]
    cuts = np.flatnonzero(p[1:] / p[:-1] - 1.0 > PERIOD_GROUP_RTOL) + 1
    marks = []
    for idx in np.split(np.arange(p.size), cuts):
        n = int(np.unique(pix_index[idx]).size)
        if n < max(1, 0.1 * n_pix):
            continue
        med = float(np.median(p[idx]))
        typical = float(np.nanmedian(e[idx])) if np.isfinite(e[idx]).any() else math.nan
        spread = 1.4826 * float(np.median(np.abs(p[idx] - med))) if n >= 3 else math.nan
        err = float(np.nanmax([typical, spread])) if math.isfinite(typical) or math.isfinite(spread) else math.nan
        marks.append((med, err, n, float(np.mean(peak_index[idx]))))
    marks.sort(key=lambda m: (-m[2], m[3]))
    return [m[:3] for m in marks[:MAX_MARKS]]


def _mark_text(period: float, err: float, n: int, n_total: int) -> str:
    digits = 2
    if math.isfinite(err) and err > 0:  # one significant figure of the error, two when it starts with 1
        digits = -int(math.floor(math.log10(err)))
        digits = max(0, min(4, digits + (err * 10.0**digits < 2)))
    text = f"{period:.{digits}f}" + (f" ± {err:.{digits}f}" if math.isfinite(err) else "") + " s"
    return text + (f" ({n}/{n_total} px)" if n_total > 1 else "")


def _n_pixels(ds, exclude=NON_PIXEL_DIMS) -> int:
    dims = {d: s for d, s in ds.sizes.items() if d not in exclude}
    return int(np.prod(list(dims.values()))) if dims else 1


def _curve_with_spread(ax, x, block, colour="k", label=""):
    """The mean curve of ``block`` (pixels × points) with its 10–90 % band when there are pixels."""
    mean = _nanmean(block, axis=0)
    if block.shape[0] > 1:
        lo, hi = _nanpercentile(block, [10, 90], axis=0)
        ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0, label="10–90 % of pixels")
    ax.plot(x, mean, color=colour, lw=1.3, label=label)
    return mean


def _series_block(da, dim, pixel) -> tuple[np.ndarray, np.ndarray, int]:
    sub = _isel(da, pixel)
    others = [d for d in sub.dims if d != dim]
    sub = sub.transpose(*others, dim)
    x = np.asarray(sub[dim].values, dtype=np.float64) if dim in sub.coords else np.arange(sub.sizes[dim], dtype=np.float64)
    block = _values(sub).reshape(-1, sub.sizes[dim])
    return x, block, block.shape[0]


def plot_autocorrelation(
    acf: xr.DataArray,
    periods: xr.Dataset | None = None,
    *,
    path: str | Path | None = None,
    pixel: Mapping[str, int] | None = None,
    title: str = "",
    dpi: int = DPI,
):
    """Plot an autocorrelation C(τ) with the detected periods marked at their multiples.

    Parameters
    ----------
    acf : xarray.DataArray
        A ``kinetics.autocorrelation`` result on ``(..., "lag")`` (lag coordinate in s). Over many
        pixels the mean is drawn with the 10–90 % band of the pixels.
    periods : xarray.Dataset, optional
        A ``kinetics.periods`` result of the same trace: each period P (see :func:`period_marks`) is
        marked by lines at P, 2P, 3P… and labelled "P ± error s (n/N px)". Default None.
    path : str or path-like, optional
        The PNG to write (folders are created). Default None: return the Figure.
    pixel : dict of str to int, optional
        One pixel by index (applied to ``periods`` too). Default None: all pixels.
    title : str, optional
        Title. Default: the name of the autocorrelation and the pixel.
    dpi : int, optional
        Resolution of the PNG, dots per inch. Default 100.

    Returns
    -------
    pathlib.Path or matplotlib.figure.Figure
        ``path``, or the Figure when no ``path`` is given.

    Raises
    ------
    ValueError
        ``acf`` is not a DataArray with a ``lag`` dim; ``periods`` is not a Dataset with ``period_s``;
        a bad ``pixel``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> lag = np.arange(40) * 0.2
    >>> acf = xr.DataArray(np.cos(2 * np.pi * lag / 1.5), dims=("lag",), coords={"lag": lag})
    >>> per = xr.Dataset({"period_s": (("peak",), [1.5]), "period_s_stderr": (("peak",), [0.02])})
    >>> fig = plot_autocorrelation(acf, per)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_legend().get_texts()[-1].get_text()
    ('lag τ (s)', 'period 1.50 ± 0.02 s')
    """
    func = "plot_autocorrelation"
    _check_dataarray(acf, func, "acf", "lag")
    if periods is not None:
        _check_dataset(periods, func, "periods", ["period_s"])
    pixel = _check_pixel(pixel, acf, func)
    lag, block, n = _series_block(acf, "lag", pixel)
    fig, axes = _figure(1, 1, figsize=(7.5, 3.6))
    ax = axes[0, 0]
    _curve_with_spread(ax, lag, block, label="mean C(τ)" if n > 1 else "C(τ)")
    ax.axhline(0.0, color="0.5", lw=0.6)
    finite = block[np.isfinite(block)]
    if not finite.size:
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center", color="C3")
    lag_max = float(lag[-1]) if lag.size else 1.0
    if periods is not None:
        n_total = _n_pixels(_isel(periods, pixel))
        for i, (period, err, count) in enumerate(period_marks(periods, pixel)):
            colour = _MARK_COLOURS[i % len(_MARK_COLOURS)]
            multiples = np.arange(1, max(1, min(12, int(lag_max // period))) + 1) * period
            for m, pos in enumerate(multiples):
                if pos > lag_max:
                    break
                ax.axvline(pos, color=colour, lw=1.2 if m == 0 else 0.8, ls="-" if m == 0 else "--", alpha=0.9 if m == 0 else 0.55,
                           label=f"period {_mark_text(period, err, count, n_total)}" if m == 0 else None)  # fmt: skip
            if math.isfinite(err) and err > 0 and period <= lag_max:
                ax.axvspan(period - err, period + err, color=colour, alpha=0.15, lw=0)
    units = acf.attrs.get("units", "")
    ax.set_xlabel(_dim_label(acf, "lag"))
    ax.set_ylabel(_label("autocorrelation C(τ)", units) if units and units != "1" else "autocorrelation C(τ)")
    if lag.size > 1:
        ax.set_xlim(float(lag[0]), lag_max)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, loc="upper right")
    note = _pixel_text(acf, pixel) if pixel else (f"mean of {n} pixels" if n > 1 else "")
    name = str(acf.name) if acf.name is not None else "autocorrelation"
    ax.set_title(title or (f"{name}, {note}" if note else name), fontsize=9)
    return _finish(fig, path, dpi)


def plot_periodogram(
    pg: xr.DataArray,
    periods: xr.Dataset | None = None,
    *,
    path: str | Path | None = None,
    pixel: Mapping[str, int] | None = None,
    title: str = "",
    dpi: int = DPI,
):
    """Plot a periodogram against frequency (Hz, with the period in s on the top axis), periods marked.

    Parameters
    ----------
    pg : xarray.DataArray
        A ``kinetics.periodogram`` result on ``(..., "frequency")`` (Hz); the zero frequency is not
        drawn. Over many pixels the mean is drawn with the 10–90 % band of the pixels.
    periods : xarray.Dataset, optional
        A ``kinetics.periods`` result: each period P (see :func:`period_marks`) is marked at 1/P.
        Default None.
    path : str or path-like, optional
        The PNG to write (folders are created). Default None: return the Figure.
    pixel : dict of str to int, optional
        One pixel by index (applied to ``periods`` too). Default None: all pixels.
    title : str, optional
        Title. Default: the name of the periodogram and the pixel.
    dpi : int, optional
        Resolution of the PNG, dots per inch. Default 100.

    Returns
    -------
    pathlib.Path or matplotlib.figure.Figure
        ``path``, or the Figure when no ``path`` is given.

    Raises
    ------
    ValueError
        ``pg`` is not a DataArray with a ``frequency`` dim; ``periods`` is not a Dataset with
        ``period_s``; a bad ``pixel``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = np.linspace(0, 2.5, 76)
    >>> pg = xr.DataArray(np.exp(-(((f - 1 / 1.9) / 0.03) ** 2)), dims=("frequency",), coords={"frequency": f})
    >>> fig = plot_periodogram(pg, xr.Dataset({"period_s": (("peak",), [1.9])}))
    >>> fig.axes[0].get_xlabel()
    'frequency (Hz)'
    """
    func = "plot_periodogram"
    _check_dataarray(pg, func, "pg", "frequency")
    if periods is not None:
        _check_dataset(periods, func, "periods", ["period_s"])
    pixel = _check_pixel(pixel, pg, func)
    freq, block, n = _series_block(pg, "frequency", pixel)
    keep = freq > 0
    freq, block = freq[keep], block[:, keep]
    fig, axes = _figure(1, 1, figsize=(7.5, 3.6))
    ax = axes[0, 0]
    _curve_with_spread(ax, freq, block, label="mean periodogram" if n > 1 else "periodogram")
    if not np.isfinite(block).any():
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center", color="C3")
    if periods is not None:
        n_total = _n_pixels(_isel(periods, pixel))
        for i, (period, err, count) in enumerate(period_marks(periods, pixel)):
            colour = _MARK_COLOURS[i % len(_MARK_COLOURS)]
            ax.axvline(1.0 / period, color=colour, lw=1.1, ls="--", label=f"period {_mark_text(period, err, count, n_total)}")
    if freq.size > 1:
        ax.set_xlim(float(freq[0]), float(freq[-1]))
        top = ax.secondary_xaxis("top", functions=(_inverse, _inverse))
        top.set_xlabel("period (s)", fontsize=8)
        top.tick_params(labelsize=7)
        ticks = [p for p in (0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50) if freq[0] <= 1 / p <= freq[-1]]
        top.set_xticks(ticks, [f"{p:g}" for p in ticks])
    units = pg.attrs.get("units", "")
    ax.set_xlabel(_dim_label(pg, "frequency"))
    ax.set_ylabel(_label("power", units) if units and units != "1" else "power (normalised)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, loc="upper right")
    note = _pixel_text(pg, pixel) if pixel else (f"mean of {n} pixels" if n > 1 else "")
    name = str(pg.name) if pg.name is not None else "periodogram"
    ax.set_title(title or (f"{name}, {note}" if note else name), fontsize=9)
    return _finish(fig, path, dpi)


def _inverse(v):
    v = np.asarray(v, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, 1.0 / np.where(v > 0, v, 1.0), np.inf)


# ---- maps ------------------------------------------------------------------------------------
def _edges(da, dim) -> list[float]:
    if dim in da.coords and da.sizes[dim] > 1:
        c = np.asarray(da[dim].values, dtype=np.float64)
        step = (c[-1] - c[0]) / (c.size - 1)
        return [float(c[0] - step / 2), float(c[-1] + step / 2)]
    if dim in da.coords and da.sizes[dim] == 1:
        c = float(np.asarray(da[dim].values, dtype=np.float64)[0])
        return [c - 0.5, c + 0.5]
    return [-0.5, da.sizes[dim] - 0.5]


def _band_variable(results: xr.Dataset, band: str) -> str:
    for name in (band, f"{band}_area"):
        if name in results.data_vars:
            return name
    raise ValueError(f"plot_kymograph: no variable {band!r} or {band + '_area'!r} in the results; it has {list(results.data_vars)}.")


def plot_kymograph(
    results: xr.Dataset,
    bands: Sequence[str] | str | None = None,
    *,
    path: str | Path | None = None,
    y: int | None = None,
    mask_status: bool = True,
    dpi: int = DPI,
):
    """Plot kymographs (position x against time t) of band intensities, one panel per band.

    Parameters
    ----------
    results : xarray.Dataset
        Per-frame band results on ``(t, x)`` or ``(t, y, x)`` (e.g. ``decompose`` of a kinetic map,
        t in s, x in µm); other dims are averaged over.
    bands : sequence of str or str, optional
        Bands (``"aspl"``, meaning ``aspl_area``) or variable names. Default: every ``*_area``
        variable with ``t`` and ``x`` dims.
    path : str or path-like, optional
        The PNG to write (folders are created). Default None: return the Figure.
    y : int, optional
        For ``(t, y, x)`` maps, the row to draw by index. Default None: the mean over y.
    mask_status : bool, optional
        Leave out (grey) the spectra whose ``status`` in ``results`` is not 0 (converged) — saturated,
        flat or failed fits — and count them in the title. Default True.
    dpi : int, optional
        Resolution of the PNG, dots per inch. Default 100.

    Returns
    -------
    pathlib.Path or matplotlib.figure.Figure
        ``path``, or the Figure when no ``path`` is given; each panel has a colour bar in the
        variable's units with limits at its 1st and 99th percentiles (arrows where values go beyond).

    Raises
    ------
    ValueError
        ``results`` is not a Dataset; no such band; a band without ``t`` and ``x`` dims; a bad ``y``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t, x = np.arange(20) * 0.2, np.arange(8) * 0.5
    >>> res = xr.Dataset({"aspl_area": (("t", "x"), np.random.default_rng(0).random((20, 8)), {"units": "counts*cm-1"})},
    ...                  coords={"t": t, "x": x})
    >>> fig = plot_kymograph(res, ["aspl"])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel(), fig.axes[1].get_ylabel()
    ('t (s)', 'x (µm)', 'aspl_area (counts·cm⁻¹)')
    """
    func = "plot_kymograph"
    if not isinstance(results, xr.Dataset):
        raise ValueError(
            f"{func}: `results` must be an xarray.Dataset of band results on (t, x) or (t, y, x); got {type(results).__name__}."
        )
    if bands is None:
        names = [str(v) for v in results.data_vars if str(v).endswith("_area") and {"t", "x"} <= set(results[v].dims)]
        if not names:
            raise ValueError(f"{func}: no '*_area' variable on (t, x) in the results ({list(results.data_vars)}); pass bands=[...].")
    else:
        names = [_band_variable(results, b) for b in ([bands] if isinstance(bands, str) else bands)]
    for name in names:
        if not {"t", "x"} <= set(results[name].dims):
            raise ValueError(f"{func}: {name!r} has dims {list(results[name].dims)}; a kymograph needs 't' and 'x'.")
    ny = results.sizes.get("y", 0)
    if y is not None and ("y" not in results.dims or not isinstance(y, (int, np.integer)) or not -ny <= y < ny):
        raise ValueError(f"{func}: `y` must be a row index of the map's 'y' dim (size {results.sizes.get('y', 0)}); got {y!r}.")
    fig, axes = _figure(len(names), 1, figsize=(8.0, 1.0 + 2.1 * len(names)), sharex=True)
    status = results["status"] if mask_status and "status" in results.data_vars else None
    for ax, name in zip(axes[:, 0], names, strict=True):
        var = results[name]
        note = ""
        if status is not None and set(status.dims) <= set(var.dims):
            bad = (status != 0) & np.isfinite(var)
            n_bad = int(bad.sum())
            if n_bad:
                var = var.where(~bad)
                note = f" ({n_bad} spectra not converged: grey)"
        if "y" in var.dims:
            if y is None:
                note = f" (mean over y, {var.sizes['y']} rows)"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    var = var.mean("y", skipna=True, keep_attrs=True)
            else:
                var = var.isel(y=y)
                note = f" ({_pixel_text(results[name], {'y': int(y)})})"
        extra = [d for d in var.dims if d not in ("t", "x")]
        if extra:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                var = var.mean(extra, skipna=True, keep_attrs=True)
            note += f" (mean over {', '.join(extra)})"
        img = _values(var.transpose("x", "t"))
        vmin, vmax = _limits(img)
        im = ax.imshow(img, extent=[*_edges(var, "t"), *_edges(var, "x")], origin="lower", aspect="auto",
                       cmap=_cmap("magma"), vmin=vmin, vmax=vmax, interpolation="nearest")  # fmt: skip
        ax.set_ylabel(_dim_label(results, "x"), fontsize=8)
        ax.set_title(f"{name}{note}", fontsize=9)
        ax.tick_params(labelsize=7)
        _colorbar(fig, im, ax, _label(name, results[name].attrs.get("units", "")), img, fraction=0.04, pad=0.02)
        if not np.isfinite(img).any():
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center", color="C3")
    axes[-1, 0].set_xlabel(_dim_label(results, "t"), fontsize=8)
    return _finish(fig, path, dpi)


def _colorbar(fig, im, ax, label: str, values, **kw):
    """A colour bar labelled ``label``, with arrows at the ends where ``values`` go beyond the colour limits."""
    vmin, vmax = im.get_clim()
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    low, high = bool(finite.size and finite.min() < vmin), bool(finite.size and finite.max() > vmax)
    extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get((low, high), "neither")
    cb = fig.colorbar(im, ax=ax, extend=extend, **({"fraction": 0.046, "pad": 0.04} | kw))
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return cb


def _cmap(name: str):
    """The named colormap with NaN drawn light grey."""
    import matplotlib  # noqa: PLC0415

    return matplotlib.colormaps[name].with_extremes(bad="0.82")


def _map_panel(fig, ax, da, *, cmap, vmin, vmax, label, title):
    im = ax.imshow(_values(da.transpose("y", "x")), extent=[*_edges(da, "x"), *_edges(da, "y")[::-1]], origin="upper",
                   cmap=_cmap(cmap), vmin=vmin, vmax=vmax, interpolation="nearest", aspect="equal")  # fmt: skip
    ax.set_xlabel(_dim_label(da, "x"), fontsize=8)
    ax.set_ylabel(_dim_label(da, "y"), fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    _colorbar(fig, im, ax, label, _values(da))
    if not np.isfinite(_values(da)).any():
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center", color="C3")
    return im


def _spatial(da: xr.DataArray) -> tuple[xr.DataArray, str]:
    """``da`` reduced to its (y, x), (x) or () pixel dims: other dims averaged; the layout's name."""
    extra = [d for d in da.dims if d not in ("y", "x")]
    if extra:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            da = da.mean(extra, skipna=True, keep_attrs=True)
    if "y" in da.dims and "x" in da.dims:
        return da, "map"
    if da.ndim == 1:
        return da, "line"
    return da, "point"


def _line_axis(da):
    dim = da.dims[0]
    x = np.asarray(da[dim].values, dtype=np.float64) if dim in da.coords else np.arange(da.sizes[dim], dtype=np.float64)
    return dim, x


def _window_image(fig, ax, da, *, cmap, vmin, vmax, label, title):
    """A (window, x) image: window centre (s) across, x (µm) up."""
    tdim = "window_center" if "window_center" in da.coords else "window"
    t = np.asarray(da[tdim].values, dtype=np.float64) if tdim in da.coords else np.arange(da.sizes["window"], dtype=np.float64)
    step = (t[-1] - t[0]) / (t.size - 1) if t.size > 1 else 1.0
    im = ax.imshow(_values(da.transpose("x", "window")), extent=[t[0] - step / 2, t[-1] + step / 2, *_edges(da, "x")],
                   origin="lower", aspect="auto", cmap=_cmap(cmap), vmin=vmin, vmax=vmax, interpolation="nearest")  # fmt: skip
    ax.set_ylabel(_dim_label(da, "x"), fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    _colorbar(fig, im, ax, label, _values(da), fraction=0.04, pad=0.02)
    return "window centre (s)" if tdim == "window_center" else "window start (s)"


def plot_lag_map(xcorr: xr.Dataset, *, path: str | Path | None = None, title: str = "", dpi: int = DPI):
    """Plot the delay between two bands per pixel (diverging colours centred on 0 s) beside its correlation r.

    Lags marked ``at_edge`` (the peak may lie beyond ``max_lag_s``) are left blank and counted in the
    title.

    Parameters
    ----------
    xcorr : xarray.Dataset
        A ``kinetics.cross_correlation`` result: ``lag_s`` (s, positive when b follows a), optionally
        ``lag_s_stderr`` (s), ``r`` (the peak correlation) and ``at_edge``, on ``(y, x)`` (two maps),
        ``(x)`` (lag ± stderr and r against x) or no pixel dims (one point). With a ``window`` dim
        (sliding windows): lag and r images over window centre (s) × x for a line (an area map is
        averaged over y), or lag ± stderr against the window centre for a single trace.
    path : str or path-like, optional
        The PNG to write (folders are created). Default None: return the Figure.
    title : str, optional
        Title of the lag panel. Default: "delay of b after a" from the attrs ``a`` and ``b`` when
        present, else "lag".
    dpi : int, optional
        Resolution of the PNG, dots per inch. Default 100.

    Returns
    -------
    pathlib.Path or matplotlib.figure.Figure
        ``path``, or the Figure when no ``path`` is given.

    Raises
    ------
    ValueError
        ``xcorr`` is not a Dataset with ``lag_s``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> xc = xr.Dataset({"lag_s": (("x",), [0.1, -0.2, 0.0]), "lag_s_stderr": (("x",), [0.05] * 3),
    ...                  "r": (("x",), [0.9, 0.8, 0.7])}, coords={"x": [0.0, 0.5, 1.0]})
    >>> fig = plot_lag_map(xc)
    >>> fig.axes[0].get_ylabel(), fig.axes[1].get_xlabel()
    ('lag (s)', 'x (µm)')
    """
    func = "plot_lag_map"
    _check_dataset(xcorr, func, "xcorr", ["lag_s"])
    lag_da = xcorr["lag_s"]
    err_da = xcorr["lag_s_stderr"] if "lag_s_stderr" in xcorr else None
    n_edge = 0
    if "at_edge" in xcorr:
        edge = xcorr["at_edge"].astype(bool) & np.isfinite(lag_da)
        n_edge = int(edge.sum())
        lag_da = lag_da.where(~edge)
        err_da = err_da.where(~edge) if err_da is not None else None
    a, b = xcorr.attrs.get("a"), xcorr.attrs.get("b")
    lag_title = title or (f"delay of {b} after {a}" if a and b else "lag")
    if n_edge:
        lag_title += f" ({n_edge} at ±max lag: blank)"
    units = pretty_units(xcorr["lag_s"].attrs.get("units", "") or "s")
    has_r = "r" in xcorr
    if "window" in lag_da.dims:
        keep = ("window", "x")
        lag = _mean_except(lag_da, keep)
        r = _mean_except(xcorr["r"], keep) if has_r else None
        if "x" in lag.dims:
            nrow = 2 if has_r else 1
            fig, axes = _figure(nrow, 1, figsize=(8.0, 1.2 + 2.3 * nrow), sharex=True)
            vmin, vmax = _limits(_values(lag), symmetric=True)
            note = " (mean over y)" if "y" in lag_da.dims else ""
            xl = _window_image(fig, axes[0, 0], lag, cmap="RdBu_r", vmin=vmin, vmax=vmax, label=f"lag ({units})", title=lag_title + note)
            if has_r:
                _window_image(fig, axes[1, 0], r, cmap="viridis", vmin=max(-1.0, min(0.0, _limits(_values(r))[0])), vmax=1.0,
                              label="r", title="peak correlation r")  # fmt: skip
            axes[-1, 0].set_xlabel(xl, fontsize=8)
            return _finish(fig, path, dpi)
        coord = xcorr["window_center"].values if "window_center" in xcorr.coords else xcorr["window"].values
        x, xlabel, layout = np.asarray(coord, dtype=np.float64), "window centre (s)", "series"
        err = _mean_except(err_da, keep) if err_da is not None else None
    else:
        lag, layout = _spatial(lag_da)
        err = _spatial(err_da)[0] if err_da is not None else None
        r = _spatial(xcorr["r"])[0] if has_r else None
    if layout == "map":
        ncol = 2 if r is not None else 1
        fig, axes = _figure(1, ncol, figsize=(4.8 * ncol, 4.0))
        vmin, vmax = _limits(_values(lag), symmetric=True)
        _map_panel(fig, axes[0, 0], lag, cmap="RdBu_r", vmin=vmin, vmax=vmax, label=f"lag ({units})", title=lag_title)
        if r is not None:
            lo = min(0.0, _limits(_values(r))[0])
            _map_panel(fig, axes[0, 1], r, cmap="viridis", vmin=max(-1.0, lo), vmax=1.0, label="r", title="peak correlation r")
        return _finish(fig, path, dpi)
    nrow = 2 if r is not None else 1
    fig, axes = _figure(nrow, 1, figsize=(7.5, 2.0 + 1.7 * nrow), sharex=True)
    ax = axes[0, 0]
    if layout == "line":
        dim, x = _line_axis(lag)
        xlabel = _dim_label(lag, dim)
    elif layout == "point":
        x, xlabel = np.zeros(1), "region"
    lag_v = _values(lag).reshape(-1)
    yerr = _values(err).reshape(-1) if err is not None else None
    ax.errorbar(x, lag_v, yerr=yerr, fmt="o", ms=3, lw=0.8, color="C0", ecolor="0.6", capsize=0)
    ax.axhline(0.0, color="0.4", lw=0.7)
    ax.set_ylabel(f"lag ({units})")
    ax.set_title(lag_title, fontsize=9)
    if not np.isfinite(lag_v).any():
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center", color="C3")
    if r is not None:
        rv = _values(r).reshape(-1)
        axes[1, 0].plot(x, rv, "o-" if x.size > 1 else "o", ms=3, lw=0.8, color="C2")
        axes[1, 0].set_ylabel("peak correlation r")
        axes[1, 0].set_ylim(min(-0.05, float(np.nanmin(rv)) - 0.05) if np.isfinite(rv).any() else -1.0, 1.05)
    axes[-1, 0].set_xlabel(xlabel)
    if layout == "point":
        axes[-1, 0].set_xticks([])
    return _finish(fig, path, dpi)


def _mean_except(da: xr.DataArray, keep: Sequence[str]) -> xr.DataArray:
    extra = [d for d in da.dims if d not in keep]
    if not extra:
        return da
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return da.mean(extra, skipna=True, keep_attrs=True)


def plot_k_map(power_result: xr.Dataset, *, path: str | Path | None = None, title: str = "", dpi: int = DPI):
    """Plot the power-law exponent k per pixel (I ∝ Pᵏ), with its standard error.

    Pixels whose ``status`` is not 0 (converged) are left blank (grey on maps) and counted in the title.

    Parameters
    ----------
    power_result : xarray.Dataset
        A ``kinetics.power_law`` result: ``k`` (dimensionless), optionally ``k_stderr`` and ``status``,
        on ``(y, x)`` (a k map and a k_stderr map), ``(x)`` (k ± stderr against x, with the k = 1 and
        k = 2 references) or no pixel dims.
    path : str or path-like, optional
        The PNG to write (folders are created). Default None: return the Figure.
    title : str, optional
        Title of the k panel. Default "power-law exponent k".
    dpi : int, optional
        Resolution of the PNG, dots per inch. Default 100.

    Returns
    -------
    pathlib.Path or matplotlib.figure.Figure
        ``path``, or the Figure when no ``path`` is given.

    Raises
    ------
    ValueError
        ``power_result`` is not a Dataset with ``k``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> res = xr.Dataset({"k": (("y", "x"), [[1.0, 1.5], [2.0, np.nan]]), "k_stderr": (("y", "x"), np.full((2, 2), 0.05))})
    >>> fig = plot_k_map(res)
    >>> fig.axes[0].get_xlabel(), fig.axes[1].get_title()
    ('x (index)', 'standard error of k')
    """
    func = "plot_k_map"
    _check_dataset(power_result, func, "power_result", ["k"])
    k, layout = _spatial(power_result["k"])
    err = _spatial(power_result["k_stderr"])[0] if "k_stderr" in power_result else None
    n_bad = 0
    if "status" in power_result:
        status = _spatial(power_result["status"].astype(np.float64))[0]
        bad = (status != 0) & np.isfinite(k)
        n_bad = int(bad.sum())
        k = k.where(~bad)
        err = err.where(~bad) if err is not None else None
    k_title = title or "power-law exponent k" + (f" ({n_bad} px not converged, blank)" if n_bad else "")
    if layout == "map":
        ncol = 2 if err is not None else 1
        fig, axes = _figure(1, ncol, figsize=(4.8 * ncol, 4.0))
        lo, hi = _limits(_values(k))
        _map_panel(fig, axes[0, 0], k, cmap="viridis", vmin=lo, vmax=hi, label="k (I ∝ Pᵏ)", title=k_title)
        if err is not None:
            lo, hi = _limits(_values(err))
            _map_panel(
                fig,
                axes[0, 1],
                err,
                cmap="magma",
                vmin=max(0.0, lo),
                vmax=hi,
                label="k_stderr (dimensionless)",
                title="standard error of k",
            )
        return _finish(fig, path, dpi)
    fig, axes = _figure(1, 1, figsize=(7.5, 3.4))
    ax = axes[0, 0]
    if layout == "line":
        dim, x = _line_axis(k)
        xlabel = _dim_label(k, dim)
    else:
        x, xlabel = np.zeros(1), "region"
    kv = _values(k).reshape(-1)
    yerr = _values(err).reshape(-1) if err is not None else None
    ax.errorbar(x, kv, yerr=yerr, fmt="o", ms=3, lw=0.8, color="C0", ecolor="0.6", label="k ± stderr")
    ax.axhline(1.0, color="C2", lw=0.8, ls="--", label="k = 1 (linear)")
    ax.axhline(2.0, color="C3", lw=0.8, ls="--", label="k = 2 (quadratic)")
    ax.set_ylabel("k (I ∝ Pᵏ)")
    ax.set_xlabel(xlabel)
    if layout == "point":
        ax.set_xticks([])
    if not np.isfinite(kv).any():
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center", color="C3")
    ax.legend(fontsize=7.5, loc="best")
    ax.set_title(k_title, fontsize=9)
    return _finish(fig, path, dpi)


# ---- SBPL events -----------------------------------------------------------------------------
def _column(table, name):
    try:
        return np.asarray(table[name], dtype=np.float64)
    except (KeyError, ValueError, TypeError):
        return None


def plot_event_raster(
    events_table,
    *,
    path: str | Path | None = None,
    extent: Sequence[float] | None = None,
    position: str | None = None,
    title: str = "",
    dpi: int = DPI,
):
    """Plot SBPL events as a raster: time (s) against position (µm), coloured by energy (eV), sized by amplitude.

    Parameters
    ----------
    events_table : pandas.DataFrame or mapping of str to array
        One row per event (``kinetics.sbpl_events``): columns ``t_s`` (s), ``x_um`` and/or ``y_um``
        (µm), ``energy_ev`` (eV) and optionally ``amplitude`` (counts; marker area ∝ √amplitude).
    path : str or path-like, optional
        The PNG to write (folders are created). Default None: return the Figure.
    extent : (float, float, float, float), optional
        ``(t_min, t_max, pos_min, pos_max)`` in s and µm: the scanned ranges, so that an empty stretch
        shows as empty. Default: the events' own range.
    position : {"x_um", "y_um"}, optional
        The position column. Default ``x_um`` when present, else ``y_um``.
    title : str, optional
        Title. Default: the number of events.
    dpi : int, optional
        Resolution of the PNG, dots per inch. Default 100.

    Returns
    -------
    pathlib.Path or matplotlib.figure.Figure
        ``path``, or the Figure when no ``path`` is given (an empty table draws empty axes saying so).

    Raises
    ------
    ValueError
        The table lacks ``t_s``, ``energy_ev`` or a position column, or ``extent`` is not four numbers.

    Examples
    --------
    >>> events = {"t_s": [1.0, 2.4, 5.0], "x_um": [3.0, 3.5, 10.0], "energy_ev": [2.31, 2.33, 2.30], "amplitude": [50.0, 80.0, 20.0]}
    >>> fig = plot_event_raster(events, extent=(0, 30, 0, 31.5))
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel(), fig.axes[1].get_ylabel()
    ('t (s)', 'x (µm)', 'SBPL energy (eV)')
    """
    func = "plot_event_raster"
    if position is None:
        position = next((c for c in ("x_um", "y_um") if _column(events_table, c) is not None), None)
    t = _column(events_table, "t_s")
    pos = _column(events_table, position) if position else None
    energy = _column(events_table, "energy_ev")
    if t is None or pos is None or energy is None:
        cols = list(events_table.columns if hasattr(events_table, "columns") else getattr(events_table, "keys", list)())
        raise ValueError(
            f"{func}: the events table needs columns 't_s', 'energy_ev' and 'x_um' or 'y_um' (a kinetics.sbpl_events table); it has {cols}."
        )
    amp = _column(events_table, "amplitude")
    if extent is not None:
        extent = [float(v) for v in extent]
        if len(extent) != 4 or not all(math.isfinite(v) for v in extent) or extent[1] <= extent[0] or extent[3] <= extent[2]:
            raise ValueError(f"{func}: `extent` must be (t_min, t_max, pos_min, pos_max) in s and µm, increasing; got {extent!r}.")
    ok = np.isfinite(t) & np.isfinite(pos) & np.isfinite(energy)
    t, pos, energy = t[ok], pos[ok], energy[ok]
    fig, axes = _figure(1, 1, figsize=(8.0, 3.6))
    ax = axes[0, 0]
    if amp is not None:
        a = np.abs(amp[ok])
        a_max = float(np.nanmax(a)) if a.size and np.isfinite(a).any() and np.nanmax(a) > 0 else 1.0
        sizes = 6.0 + 60.0 * np.sqrt(np.nan_to_num(a, nan=0.0) / a_max)
    else:
        sizes = np.full(t.size, 16.0)
    lo, hi = _limits(energy, q=(2.0, 98.0))
    sc = ax.scatter(t, pos, c=energy, s=sizes, cmap="viridis", vmin=lo, vmax=hi, edgecolors="k", linewidths=0.25, alpha=0.85)
    cb = fig.colorbar(sc, ax=ax, fraction=0.04, pad=0.02)
    cb.set_label("SBPL energy (eV)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    if amp is not None and t.size:
        for i, frac in enumerate((0.25, 1.0)):
            size = 6.0 + 60.0 * math.sqrt(frac)
            value = frac * a_max
            text = f"{value:.0f}" if value >= 100 else f"{value:.3g}"
            ax.scatter([], [], s=size, color="0.6", edgecolors="k", linewidths=0.25, label=f"{'amplitude ' if i == 0 else ''}{text} counts")
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, borderaxespad=0.1,
                  columnspacing=0.8, handletextpad=0.1)  # fmt: skip
    if extent is not None:
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
    if not t.size:
        ax.text(0.5, 0.5, "no SBPL events", transform=ax.transAxes, ha="center", va="center", color="0.3")
    ax.set_xlabel("t (s)")
    ax.set_ylabel(f"{position[0]} (µm)" if position else "position (µm)")
    duration = (extent[1] - extent[0]) if extent is not None else (float(t.max() - t.min()) if t.size > 1 else 0.0)
    rate = f", {t.size / duration:.2g} per s" if duration > 0 else ""
    head = f"SBPL: {t.size} detections{rate}"
    ids = _column(events_table, "event_id")
    if ids is not None and t.size:
        n_events = int(np.unique(ids[ok][np.isfinite(ids[ok])]).size)
        head = f"SBPL: {t.size} detections in {n_events} events{rate}"
    ax.set_title(title or head, fontsize=9, loc="left")
    return _finish(fig, path, dpi)


# ---- everything at once ----------------------------------------------------------------------
def _safe_name(key) -> str:
    text = "_".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "band"


def _trace_of(traces: xr.Dataset | None, band: str) -> xr.DataArray | None:
    if traces is None:
        return None
    for name in (band, f"{band}_area"):
        if name in traces.data_vars:
            return traces[name]
    return None


def _lookup(table: Mapping, band):
    """``table[band]``, also under ``band`` without or with its ``_area`` suffix; None when absent."""
    band = str(band)
    for key in (band, band.removesuffix("_area"), f"{band}_area"):
        if key in table:
            return table[key]
    return None


def write_kinetics_report(outputs: Mapping, outdir: str | Path, *, dpi: int = DPI) -> list[Path]:
    """Write every kinetics PNG that ``outputs`` allow into ``outdir`` (used by ``hyperspec kinetics --png``).

    Parameters
    ----------
    outputs : mapping
        Any of these keys (others are ignored):

        - ``"traces"``: a results Dataset with ``<band>_area`` on ``(t, x)`` or ``(t, y, x)`` →
          ``kymograph.png`` (all ``*_area`` bands) and, per band with an onset or a fit below,
          ``trace_<band>.png`` (the mean trace with the fitted curve);
        - ``"autocorrelation"``: ``{band: DataArray}`` → ``autocorrelation_<band>.png`` (with
          ``"periods"[band]`` marked when given);
        - ``"periodogram"``: ``{band: DataArray}`` → ``periodogram_<band>.png`` (same marks);
        - ``"periods"``: ``{band: Dataset}``, marks for the two above;
        - ``"cross_correlation"``: ``{(a, b): Dataset}`` → ``lag_<a>_<b>.png``;
        - ``"onset"``: ``{band: Dataset}`` (with ``"traces"``) → ``trace_<band>.png``;
        - ``"fits"``: ``{band: Dataset}`` of ``fit_curves`` (with ``"traces"``) → ``fit_<band>.png``;
        - ``"power_law"``: ``{band: Dataset}`` → ``k_map_<band>.png``;
        - ``"sbpl_events"``: ``(table, rate)`` or a table → ``sbpl_events.png``, over the t and x
          ranges of ``"traces"`` when given.

        A band key may be the band (``"aspl"``) or the variable (``"aspl_area"``).
    outdir : str or path-like
        Folder to write into (created if missing).
    dpi : int, optional
        Resolution, dots per inch. Default 100.

    Returns
    -------
    list of pathlib.Path
        The PNGs written, in the order above.

    Raises
    ------
    ValueError
        ``outputs`` is not a mapping, or one of its entries is not of the documented form.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> lag = np.arange(30) * 0.2
    >>> acf = xr.DataArray(np.cos(2 * np.pi * lag / 3.0), dims=("lag",), coords={"lag": lag})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in write_kinetics_report({"autocorrelation": {"hers": acf}}, d)]
    ['autocorrelation_hers.png']
    """
    if not isinstance(outputs, Mapping):
        raise ValueError(
            f"write_kinetics_report: `outputs` must be a dict (keys 'traces', 'autocorrelation', …); got {type(outputs).__name__}."
        )

    def table(key):
        value = outputs.get(key)
        value = {} if value is None else value
        if not isinstance(value, Mapping):
            raise ValueError(f"write_kinetics_report: outputs[{key!r}] must be a dict of band → result; got {type(value).__name__}.")
        return value

    outdir = Path(outdir)
    traces = outputs.get("traces")
    if traces is not None and not isinstance(traces, xr.Dataset):
        raise ValueError(f"write_kinetics_report: outputs['traces'] must be a results Dataset; got {type(traces).__name__}.")
    periods = {str(k): v for k, v in table("periods").items()}
    paths: list[Path] = []
    if traces is not None and any(str(v).endswith("_area") and {"t", "x"} <= set(traces[v].dims) for v in traces.data_vars):
        paths.append(plot_kymograph(traces, path=outdir / "kymograph.png", dpi=dpi))
    for kind, prefix in (("onset", "trace"), ("fits", "fit")):
        for band, fit in table(kind).items():
            tr = _trace_of(traces, str(band))
            if tr is not None:
                paths.append(plot_trace(tr, fit, path=outdir / f"{prefix}_{_safe_name(band)}.png", dpi=dpi))
    for band, acf in table("autocorrelation").items():
        per = _lookup(periods, band)
        paths.append(plot_autocorrelation(acf.compute(), per, path=outdir / f"autocorrelation_{_safe_name(band)}.png", dpi=dpi))
    for band, pg in table("periodogram").items():
        per = _lookup(periods, band)
        paths.append(plot_periodogram(pg.compute(), per, path=outdir / f"periodogram_{_safe_name(band)}.png", dpi=dpi))
    for pair, xc in table("cross_correlation").items():
        paths.append(plot_lag_map(xc.compute(), path=outdir / f"lag_{_safe_name(pair)}.png", dpi=dpi))
    for band, res in table("power_law").items():
        paths.append(plot_k_map(res.compute(), path=outdir / f"k_map_{_safe_name(band)}.png", dpi=dpi))
    events = outputs.get("sbpl_events")
    if events is not None:
        events_table = events[0] if isinstance(events, tuple) else events
        extent = None
        if traces is not None and all(d in traces.coords and traces.sizes.get(d, 0) > 1 for d in ("t", "x")):
            extent = (*_edges(traces, "t"), *_edges(traces, "x"))
        paths.append(plot_event_raster(events_table, path=outdir / "sbpl_events.png", extent=extent, dpi=dpi))
    return paths
