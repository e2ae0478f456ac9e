"""Pictures: PNG band maps (one per variable and an overview panel) and mean spectra.

Uses Matplotlib's Agg backend (no display needed). Maps are drawn in µm with a colour bar
in the variable's units; kinetic line maps ``(t, x)`` are drawn as kymographs (x vs t).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

__all__ = [
    "write_band_maps",
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
]
_KINETICS_PLOTS = frozenset(__all__[4:])

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


#: The band maps drawn by default (demo, ``decompose --png``, recipe outputs), when present.
MAIN_MAPS = (
    "aspl_area",
    "lers_area",
    "hers_area",
    "aspl_peak_ev",
    "lers_temperature_k",
    "aspl_urbach_ev",
    "lers_width_cm",
    "chi2_red",
    "status",
)


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


def plottable_variables(results: xr.Dataset) -> list[str]:
    """List the variables that can be drawn as a map or a kymograph.

    Parameters
    ----------
    results : xarray.Dataset
        Band maps (e.g. what ``decompose`` or ``window_integrals`` returned).

    Returns
    -------
    list of str
        Numeric (float or integer) variables with at least two dims and no ``"spectral"`` dim, in
        order, skipping the ``*_stderr`` ones.

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
        if var.dtype.kind not in "fiu" or name.endswith("_stderr") or "spectral" in var.dims:
            continue
        if var.ndim >= 2:
            out.append(name)
    return out


def _as_image(var: xr.DataArray) -> tuple[np.ndarray, list[float] | None, str, str, str]:
    """2-D image, extent, x label, y label and a note on any reduction."""
    note = ""
    extra = [d for d in var.dims if d not in ("y", "x", "t")]
    if extra or (var.ndim > 2 and "t" in var.dims):
        reduce_dims = [d for d in var.dims if d not in ("y", "x")] if "y" in var.dims else extra
        var = var.mean(reduce_dims)
        note = f" (mean over {', '.join(reduce_dims)})"
    rows, cols = var.dims
    img = np.asarray(var.values, dtype=np.float64)

    def edges(dim):
        if dim in var.coords and var.sizes[dim] > 1:
            c = np.asarray(var[dim].values, dtype=np.float64)
            step = c[1] - c[0]
            return [c[0] - step / 2, c[-1] + step / 2]
        return [-0.5, var.sizes[dim] - 0.5]

    extent = [*edges(cols), *edges(rows)[::-1]]
    unit = {"x": "µm", "y": "µm", "t": "s"}

    def label(dim):
        return f"{dim} ({unit.get(dim, 'px')})" if dim in var.coords else f"{dim} (px)"

    return img, extent, label(cols), label(rows), note


def _draw(ax, var: xr.DataArray, plt):
    img, extent, xl, yl, note = _as_image(var)
    finite = img[np.isfinite(img)]
    vmin, vmax = np.percentile(finite, [1, 99]) if finite.size else (0, 1)
    im = ax.imshow(
        img,
        extent=extent,
        origin="upper",
        cmap="magma",
        vmin=vmin,
        vmax=vmax,
        aspect="auto" if "t" in var.dims else "equal",
        interpolation="nearest",
    )
    units = var.attrs.get("units", "")
    ax.set_title(f"{var.name}{note}", fontsize=9)
    ax.set_xlabel(xl, fontsize=8)
    ax.set_ylabel(yl, fontsize=8)
    ax.tick_params(labelsize=7)
    cb = plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.set_label(units, fontsize=8)
    cb.ax.tick_params(labelsize=7)


def write_band_maps(
    results: xr.Dataset, outdir: str | Path, variables: Sequence[str] | None = None, *, overview: str = "band_maps.png", dpi: int = 110
) -> list[Path]:
    """Write one PNG per map variable and an overview panel into ``outdir``.

    Each map is drawn in µm (s for ``t``) with a colour bar in the variable's ``units`` attr and a
    colour scale from the 1st to the 99th percentile; ``(t, x)`` maps are drawn as kymographs, and
    any other leading dims are averaged over (said in the title). Lazy results are computed.

    Parameters
    ----------
    results : xarray.Dataset
        Band maps (e.g. what ``decompose`` returned).
    outdir : str or path-like
        Folder to write into (created if missing).
    variables : sequence of str, optional
        The variables to draw. Default is ``plottable_variables(results)``.
    overview : str, optional
        File name of the panel with all maps (three per row); ``""`` for none. Default is
        ``"band_maps.png"``.
    dpi : int, optional
        Resolution, dots per inch. Default is 110.

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
    plt = _pyplot()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = list(variables) if variables is not None else plottable_variables(results)
    unknown = [n for n in names if n not in results.data_vars]
    if unknown:
        raise ValueError(f"no variable(s) {unknown} in the results; available: {plottable_variables(results)}.")
    loaded = results[names].compute()
    paths = []
    for name in names:
        fig, ax = plt.subplots(figsize=(4.6, 3.8))
        _draw(ax, loaded[name], plt)
        paths.append(_save(fig, outdir / f"{name}.png", dpi))
    if overview and names:
        ncol = min(3, len(names))
        nrow = math.ceil(len(names) / ncol)
        fig, axs = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 3.7 * nrow), squeeze=False)
        for ax, name in zip(axs.flat, names, strict=False):
            _draw(ax, loaded[name], plt)
        for ax in list(axs.flat)[len(names) :]:
            ax.axis("off")
        paths.append(_save(fig, outdir / overview, dpi))
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
            if "baseline" in after and any(h.get("params", {}).get("subtract") for h in after.attrs.get("history", []))
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
