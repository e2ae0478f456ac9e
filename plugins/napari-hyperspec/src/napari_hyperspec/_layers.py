"""napari layers of hyperspec maps and results (LayerDataTuples with the plugin's layer metadata).

Every layer made here carries ``layer.metadata["hyperspec"]``, a dict with ``role`` (``"quicklook"``,
``"cube"``, ``"band"``, ``"status"`` or ``"rgb"``), ``map`` and ``results`` (the lazy Datasets or
None), ``variable``, ``path``, ``spatial_dims`` (e.g. ``("y", "x")``), ``extra_dims`` (the leading
non-spatial dims on napari's dims slider, in the layer's axis order) and ``dims`` (every axis of the
layer, in order). Scale and translate are in µm from the ``y``/``x`` coordinates (``units`` set).

Numbers (colour limits, quick-looks, RGB normalisation) come from hyperspec; nothing here computes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from napari_hyperspec._status import status_names

__all__ = [
    "map_layers",
    "results_layers",
    "rgb_composite_layer",
    "find_map",
    "as_image_map",
    "quicklook_for",
    "layer_name",
    "main_variables",
    "show_scale_bar",
    "band_maps_widget",
]

SPATIAL = ("y", "x")
SPECTRAL = "spectral"
_PRETTY_UNITS = {"cm-1": "cm⁻¹", "counts*cm-1": "counts·cm⁻¹", "1/eV": "eV⁻¹", "um": "µm", "K": "K", "eV": "eV"}
_AXIS_UNITS = {"y": "µm", "x": "µm", "t": "s"}
#: Above this many bytes of spectra a map without a stored quick-look gets it from a worker thread.
SYNC_QUICKLOOK_BYTES = 256 * 2**20


def _pretty(units: str | None) -> str:
    return _PRETTY_UNITS.get(units or "", units or "")


def layer_name(name: str, units: str | None) -> str:
    """A layer name with its units, e.g. ``aspl_area [counts·cm⁻¹]`` (no brackets without units).

    Parameters
    ----------
    name : str
        The variable's name.
    units : str or None
        Its ``units`` attr (CF-like, e.g. ``counts*cm-1``).

    Returns
    -------
    str
        The name, and the units in brackets in readable form.

    Examples
    --------
    >>> layer_name("aspl_area", "counts*cm-1"), layer_name("chi2_red", "1")
    ('aspl_area [counts·cm⁻¹]', 'chi2_red')
    """
    pretty = _pretty(None if units == "1" else units)  # CF's "1" (dimensionless): no brackets
    return f"{name} [{pretty}]" if pretty else name


def _axes(obj, dims) -> dict:
    """scale, translate, units and axis_labels of a layer whose axes are ``dims`` (µm for y/x, s for t)."""
    scale, translate, units = [], [], []
    for d in dims:
        step, start, unit = 1.0, 0.0, "pixel"
        if d in obj.coords and obj.sizes[d] > 1 and d != SPECTRAL:
            c = np.asarray(obj[d].values, dtype=np.float64)
            mean = (c[-1] - c[0]) / (c.size - 1)
            # an even grid (to 1 % of a step: instrument files round their stage positions)
            if np.isfinite(mean) and mean > 0 and np.all(np.abs(np.diff(c) - mean) <= 0.01 * mean):
                step, start = float(mean), float(c[0])
                unit = _AXIS_UNITS.get(d, "pixel")
        elif d in obj.coords and obj.sizes[d] == 1 and d in SPATIAL:
            start, unit = float(np.asarray(obj[d].values, dtype=np.float64)[0]), "µm"
        scale.append(step)
        translate.append(start)
        units.append(unit)
    return {"scale": tuple(scale), "translate": tuple(translate), "units": tuple(units), "axis_labels": tuple(dims)}


def _order(var) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(extra, spatial) dims of a variable: the layer's axes are ``(*extra, *spatial)``."""
    spatial = tuple(d for d in SPATIAL if d in var.dims)
    extra = tuple(d for d in var.dims if d not in spatial and d != SPECTRAL)
    return extra, spatial


def _meta(role, *, map_ds=None, results=None, variable=None, path=None, extra=(), spatial=SPATIAL, dims=()) -> dict:
    return {
        "hyperspec": {
            "role": role,
            "map": map_ds,
            "results": results,
            "variable": variable,
            "path": None if path is None else str(path),
            "spatial_dims": tuple(spatial),
            "extra_dims": tuple(extra),
            "dims": tuple(dims),
        }
    }


def _colormap(name: str, units: str, limits: tuple[float, float]) -> str:
    """Colour map of a quantity: areas magma, heights inferno, temperatures turbo, χ² gray, signed coolwarm, else viridis."""
    if name.startswith("chi2"):
        return "gray"
    if limits[0] < 0 < limits[1] and not name.endswith(("_center_cm", "_peak_cm")):
        return "coolwarm"
    if units == "K" or "temperature" in name:
        return "turbo"
    if name.endswith("_area") or units == "counts*cm-1":
        return "magma"
    if units == "counts":
        return "inferno"
    return "viridis"


def main_variables(results) -> list[str]:
    """The main band-map quantities of any model's results (shown by default; the rest start hidden).

    Every term's area (not the baseline's), every derived peak energy (``*_peak_ev``), Urbach energy
    (``*_urbach_ev``) and temperature that is a free parameter of its term (tied copies are left
    out), χ²_red and the status.

    Parameters
    ----------
    results : xarray.Dataset
        Results of ``hyperspec.decompose`` / a run; its ``attrs["model"]`` (JSON) names the terms.

    Returns
    -------
    list of str
        Variable names present in ``results``, in the order of the model's terms.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> import xarray as xr
    >>> lines = {"shape": "raman_pair", "tie": {"temperature": "aspl.temperature"}}
    >>> model = {"terms": {"aspl": {"shape": "espl"}, "lines": lines, "baseline": {"shape": "poly"}}}
    >>> names = ["aspl_area", "aspl_peak_ev", "lines_area", "lines_temperature_k", "baseline_area", "chi2_red", "status"]
    >>> res = xr.Dataset({n: (("y", "x"), np.zeros((1, 1))) for n in names}, attrs={"model": json.dumps(model)})
    >>> main_variables(res)
    ['aspl_area', 'aspl_peak_ev', 'lines_area', 'chi2_red', 'status']
    """
    try:
        terms = json.loads(results.attrs.get("model", "{}")).get("terms", {})
    except (TypeError, ValueError, AttributeError):
        terms = {}
    names: list[str] = []
    for term, spec in terms.items():
        spec = spec if isinstance(spec, dict) else {}
        if term == "baseline" or spec.get("shape") in ("poly", "polynomial", "baseline"):
            continue
        tied = set((spec.get("tie") or {}).keys())
        candidates = [f"{term}_area", f"{term}_peak_ev", f"{term}_urbach_ev"]
        if "temperature" not in tied:
            candidates.append(f"{term}_temperature_k")
        names.extend(c for c in candidates if c in results.data_vars)
    if not terms:  # results without a model record (e.g. window integrals): every area
        names.extend(n for n in results.data_vars if n.endswith("_area"))
    names.extend(n for n in ("chi2_red", "status") if n in results.data_vars)
    return list(dict.fromkeys(names))


def _eager_view(results, path=None, group=None):
    """The results' store opened without Dask (``chunks=None``, uncached), for reading whole 2-D maps fast, or None.

    Reading a 1000×1000 map through Dask costs ~1 s of task overhead for its few hundred small chunks;
    zarr reads them directly in ~0.1 s. Uncached, so a store being written (a run in progress) reads fresh.
    """
    import xarray as xr  # noqa: PLC0415

    store = path if path is not None else getattr(results, "attrs", {}).get("store")
    if store is None or not Path(str(store), "zarr.json").is_file():
        return None
    try:
        return xr.open_dataset(str(store), group=group, engine="zarr", chunks=None, cache=False, consolidated=False, zarr_format=3)
    except Exception:  # noqa: BLE001  (any trouble: read through the lazy Dataset instead)
        return None


def _values(var, eager, name, dims):
    """In-memory values of a 2-D variable: from the eager view of its store when it matches, else computed."""
    if eager is not None and name in eager.variables and eager[name].sizes == var.sizes:
        return np.asarray(eager[name].transpose(*dims).values)
    return np.asarray(var.values)


def _band_layer(results, name, *, path=None, map_ds=None, visible=True, eager=None):
    from hyperspec.report import color_limits  # noqa: PLC0415

    var = results[name]
    extra, spatial = _order(var)
    dims = (*extra, *spatial)
    var = var.transpose(*dims)
    units = str(var.attrs.get("units", "") or "")
    data = var.data if extra else _values(var, eager, name, dims)  # extra dims: lazy, sliced by napari
    limits = color_limits(data)
    cmap = _colormap(name, units, limits)
    if cmap == "coolwarm":
        limits = color_limits(data, symmetric=True)
    kwargs = {
        "name": layer_name(name, units),
        "colormap": cmap,
        "contrast_limits": limits,
        "visible": visible,
        "blending": "translucent",
        "metadata": _meta("band", map_ds=map_ds, results=results, variable=name, path=path, extra=extra, spatial=spatial, dims=dims),
        **_axes(var, dims),
    }
    return (data, kwargs, "image")


def _status_layer(results, *, path=None, map_ds=None, visible=True, eager=None):
    import pandas as pd  # noqa: PLC0415

    var = results["status"]
    extra, spatial = _order(var)
    dims = (*extra, *spatial)
    var = var.transpose(*dims)
    names = status_names(results)
    data = var.data.astype(np.int32) if extra else _values(var, eager, "status", dims).astype(np.int32)
    codes = sorted(set(names) | {0})
    features = pd.DataFrame({"index": codes, "status": [names.get(c, f"code {c}") for c in codes]})
    kwargs = {
        "name": "status",
        "features": features,
        "opacity": 0.6,
        "visible": visible,
        "metadata": _meta("status", map_ds=map_ds, results=results, variable="status", path=path, extra=extra, spatial=spatial, dims=dims),
        **_axes(var, dims),
    }
    return (data, kwargs, "labels")


def results_layers(res, path=None, *, map_ds=None, variables="main") -> list[tuple]:
    """Band-map layers of a results Dataset: images of its variables and the status labels.

    By default the main quantities (``main_variables``: every term's area, peak and Urbach energies,
    free temperatures, χ²_red, status), visible. ``variables="all"`` adds every other plottable
    variable (``hyperspec.report.plottable_variables``: centres, widths, heights, baseline
    coefficients …), hidden (napari spends ~0.2 s per layer, so a full CsPbBr₃ result, 55 maps,
    is not loaded unasked; the *Band maps* widget adds any of them). Colour limits are the 1–99 %
    percentiles (``hyperspec.report.color_limits``; symmetric for signed quantities), colour maps by
    quantity, layer names with units. Results with leading dims (kinetic ``(t, y, x)``, power
    series) keep them first, browsable with napari's dims slider.

    Parameters
    ----------
    res : xarray.Dataset
        Results (lazy, e.g. ``hyperspec.open("results.zarr")``).
    path : str or Path, optional
        Where they came from (recorded in the metadata).
    map_ds : xarray.Dataset, optional
        The map they were fitted from; default ``find_map(res, path)``.
    variables : "main", "all" or list of str, optional
        Which variables: the main ones (default), every plottable one (the non-main hidden), or
        these (main ones visible, the others hidden).

    Returns
    -------
    list of (data, kwargs, layer_type)
        napari LayerDataTuples, images first, the status labels last.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> area = (("y", "x"), np.arange(6.0).reshape(2, 3), {"units": "counts*cm-1"})
    >>> res = xr.Dataset({"a_area": area}, coords={"y": [0.0, 0.5], "x": [0.0, 0.5, 1.0]})
    >>> ((data, kw, kind),) = results_layers(res)
    >>> kind, kw["name"], kw["scale"], kw["metadata"]["hyperspec"]["role"]
    ('image', 'a_area [counts·cm⁻¹]', (0.5, 0.5), 'band')
    """
    from hyperspec.report import plottable_variables  # noqa: PLC0415

    if map_ds is None:
        map_ds = find_map(res, path)
    main_list = main_variables(res)
    main = set(main_list)
    if isinstance(variables, str):
        if variables not in ("main", "all"):
            raise ValueError(f"`variables` must be 'main', 'all' or a list of variable names; got {variables!r}.")
        names = main_list if variables == "main" else plottable_variables(res)
    else:
        names = list(variables)
        unknown = [n for n in names if n not in res.data_vars]
        if unknown:
            raise KeyError(f"no variable {unknown[0]!r} in the results; choose from {', '.join(plottable_variables(res))}.")
    names = [n for n in names if any(d in res[n].dims for d in SPATIAL)]
    order = [n for n in main_list if n in names] + [n for n in names if n not in main]
    eager = _eager_view(res, path)
    layers = []
    for name in order:
        if name == "status":
            continue
        layers.append(_band_layer(res, name, path=path, map_ds=map_ds, visible=name in main, eager=eager))
    if "status" in names:
        layers.append(_status_layer(res, path=path, map_ds=map_ds, visible=True, eager=eager))
    return layers


def rgb_composite_layer(results, bands, path=None, *, percentiles=(1.0, 99.0), map_ds=None) -> tuple:
    """An RGB image layer of three band maps, each scaled between its percentiles (``hyperspec.report.rgb_composite``).

    Parameters
    ----------
    results : xarray.Dataset
        Results holding the three variables.
    bands : (str, str, str)
        Variables shown in red, green and blue, e.g. ``("aspl_area", "lers_area", "hers_area")``.
    path : str or Path, optional
        Where the results came from.
    percentiles : (float, float), optional
        Mapped to 0 and 1 in each channel. Default (1, 99).
    map_ds : xarray.Dataset, optional
        The map (for the metadata); default ``find_map(results, path)``.

    Returns
    -------
    (data, kwargs, "image")
        ``data`` of shape ``(*extra, y, x, 3)`` in 0–1 with ``rgb=True``.

    Raises
    ------
    KeyError
        A band is not a variable of ``results`` (the message lists the plottable ones).

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> res = xr.Dataset({n: (("y", "x"), np.arange(6.0).reshape(2, 3)) for n in "abc"})
    >>> data, kw, kind = rgb_composite_layer(res, ("a", "b", "c"))
    >>> data.shape, kw["rgb"], kw["name"]
    ((2, 3, 3), True, 'RGB a / b / c')
    """
    from hyperspec.report import plottable_variables, rgb_composite  # noqa: PLC0415

    bands = tuple(bands)
    if len(bands) != 3:
        raise ValueError(f"`bands` must name three variables (red, green, blue); got {bands!r}.")
    missing = [b for b in bands if b not in results.data_vars]
    if missing:
        raise KeyError(f"no variable {missing[0]!r} in the results; choose from {', '.join(plottable_variables(results))}.")
    if map_ds is None:
        map_ds = find_map(results, path)
    var = results[bands[0]]
    extra, spatial = _order(var)
    dims = (*extra, *spatial)
    data = rgb_composite(*(results[b].transpose(*dims) for b in bands), percentiles=percentiles)
    axes = _axes(var, dims)
    kwargs = {
        "name": f"RGB {' / '.join(bands)}",
        "rgb": True,
        "metadata": _meta("rgb", map_ds=map_ds, results=results, variable=list(bands), path=path, extra=extra, spatial=spatial, dims=dims),
        **axes,
    }
    return (data, kwargs, "image")


def as_image_map(ds):
    """The map with size-1 ``y``/``x`` dims added where it has none (a spectrum, a line, a series), so it shows as images.

    Parameters
    ----------
    ds : xarray.Dataset
        A map (``spectra`` on ``(..., spectral)``).

    Returns
    -------
    xarray.Dataset
        ``ds`` itself when ``spectra`` has both ``y`` and ``x``, else with the missing ones added
        (length 1) before the spectral dim.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> as_image_map(hyperspec.from_array(np.ones(8), np.arange(8.0)))["spectra"].dims
    ('y', 'x', 'spectral')
    """
    dims = ds["spectra"].dims
    missing = [d for d in SPATIAL if d not in dims]
    if not missing:
        return ds
    out = ds.expand_dims(missing)
    lead = [d for d in out["spectra"].dims if d not in SPATIAL and d != SPECTRAL]
    order = (*lead, *(d for d in SPATIAL if d in out["spectra"].dims), SPECTRAL)
    return out.assign(spectra=out["spectra"].transpose(*order))


def _quicklook_dataset(ds, path):
    """The stored quick-look of a map store (``quicklook`` group), or None."""
    import hyperspec  # noqa: PLC0415
    from hyperspec.bands.windows import QUICKLOOK_GROUP  # noqa: PLC0415

    store = path if path is not None else ds.attrs.get("store")
    if store is None or not Path(store, "zarr.json").is_file():
        return None
    try:
        groups = json.loads(Path(store, "zarr.json").read_text()).get("attributes", {}).get("hyperspec_groups", [])
    except (OSError, ValueError):
        return None
    if QUICKLOOK_GROUP not in groups:
        return None
    ql = _eager_view(None, store, group=QUICKLOOK_GROUP)  # small 2-D images: read without Dask's per-chunk overhead
    if ql is None:
        ql = hyperspec.open(store, group=QUICKLOOK_GROUP)
    lead = [d for d in ds["spectra"].dims if d != SPECTRAL]
    if any(ql.sizes.get(d) != ds.sizes[d] for d in lead):
        return None
    return ql.assign_coords({d: ds[d] for d in lead if d in ds.coords})


def quicklook_for(ds, path=None):
    """The map's quick-look Dataset: the stored one if any, else computed lazily by ``hyperspec.bands.windows.quicklook``.

    Parameters
    ----------
    ds : xarray.Dataset
        The map.
    path : str or Path, optional
        Its store.

    Returns
    -------
    (xarray.Dataset, bool)
        The quick-look and whether it was stored (True: reading it is cheap).
    """
    from hyperspec.bands.windows import quicklook  # noqa: PLC0415

    stored = _quicklook_dataset(ds, path)
    if stored is not None:
        return stored, True
    return quicklook(ds, backend="numpy"), False


def map_layers(ds, path=None, *, quicklook=None) -> list[tuple]:
    """Layers of a map: quick-look images (``role="quicklook"``) and the hidden lazy spectral cube (``role="cube"``).

    The quick-look is the store's ``quicklook`` group when it has one (written with the map), else
    ``hyperspec.bands.windows.quicklook`` of the data: ``total_counts`` (visible), ``max_counts`` and
    the band-window integrals (hidden). The cube is the Dask array of ``spectra`` with axes
    ``(spectral, *extra, y, x)``: hidden, so nothing is read until it is shown (the spectral axis
    leads so that the extra dims line up with results layers of the same map).

    Parameters
    ----------
    ds : xarray.Dataset
        A map (lazy, from ``hyperspec.open``).
    path : str or Path, optional
        Its source path (store or file).
    quicklook : xarray.Dataset, optional
        Quick-look images to show; default ``quicklook_for(ds, path)``. Computed now unless lazy
        data are wanted: pass a Dataset whose variables are placeholders to fill in later.

    Returns
    -------
    list of (data, kwargs, layer_type)
        napari LayerDataTuples: quick-look images, then the cube.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> ds = hyperspec.from_array(np.ones((2, 3, 64)), np.linspace(-4600.0, 3600.0, 64), laser_nm=632.8)
    >>> layers = map_layers(ds)
    >>> [(kw["name"], kw["visible"], kw["metadata"]["hyperspec"]["role"]) for _, kw, _ in (layers[0], layers[-1])]
    [('total_counts [counts]', True, 'quicklook'), ('spectra', False, 'cube')]
    """
    from hyperspec.report import color_limits  # noqa: PLC0415

    ds = as_image_map(ds)
    if quicklook is None:
        quicklook, _ = quicklook_for(ds, path)
    missing = [d for d in SPATIAL if d not in quicklook.dims]
    if missing:
        quicklook = quicklook.expand_dims(missing)
    names = [n for n in quicklook.data_vars if n != "max_counts"]  # max_counts only sets the cube's contrast
    names = sorted(names, key=lambda n: (n != "total_counts", names.index(n)))
    layers = []
    for i, name in enumerate(names):
        var = quicklook[name]
        extra, spatial = _order(var)
        dims = (*extra, *spatial)
        var = var.transpose(*dims)
        values = np.asarray(var.values)
        units = str(var.attrs.get("units", "") or "")
        kwargs = {
            "name": layer_name(name, units),
            "colormap": "magma" if name.endswith("_area") else "gray",
            "contrast_limits": color_limits(values),
            "visible": i == 0,
            "metadata": _meta("quicklook", map_ds=ds, variable=name, path=path, extra=extra, spatial=spatial, dims=dims),
            **_axes(var, dims),
        }
        layers.append((values, kwargs, "image"))
    spectra = ds["spectra"]
    extra, spatial = _order(spectra)
    dims = (SPECTRAL, *extra, *spatial)
    cube = spectra.transpose(*dims)
    peak = quicklook["max_counts"] if "max_counts" in quicklook else None
    hi = color_limits(peak)[1] if peak is not None else 1.0
    layers.append(
        (
            cube.data,
            {
                "name": "spectra",
                "colormap": "gray",
                "contrast_limits": (min(0.0, hi - 1.0), hi),
                "visible": False,
                "metadata": _meta("cube", map_ds=ds, path=path, extra=extra, spatial=spatial, dims=dims),
                **_axes(cube, dims),
            },
            "image",
        )
    )
    return layers


def _input_candidates(results, path) -> list[Path]:
    out = []
    raw = results.attrs.get("recipe")
    try:
        recipe = json.loads(raw) if isinstance(raw, str) else (raw or {})
        inp = recipe.get("input", {}).get("path")
    except (TypeError, ValueError, AttributeError):
        inp = None
    recorded = None  # ``hyperspec decompose`` keeps the map's ``store`` attr; opening the results replaces it by their own path
    store = path  # only for a store named by the caller (the reader), not guessed from the Dataset's attrs
    if store is not None and Path(str(store), "zarr.json").is_file():
        try:
            recorded = json.loads(Path(str(store), "zarr.json").read_text()).get("attributes", {}).get("store")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded and Path(str(recorded)).expanduser().resolve() == Path(str(store)).resolve():
            recorded = None
    for cand in (inp, results.attrs.get("input"), recorded, results.attrs.get("source")):
        if not cand:
            continue
        p = Path(str(cand)).expanduser()
        if p.is_absolute():
            out.append(p)
        else:
            if path is not None:
                out.append(Path(path).parent / p)
            out.append(Path.cwd() / p)
    return out


def find_map(results, path=None):
    """The map a results store was fitted from (lazy), or None when it cannot be found.

    Read from the run's record (``attrs["recipe"]["input"]["path"]``), else (given ``path``) the map
    store that ``hyperspec decompose`` recorded in the results store's attrs, else ``attrs["source"]``;
    relative paths are tried next to the results store and in the working folder. A map whose
    pixel grid differs from the results' is not returned.

    Parameters
    ----------
    results : xarray.Dataset
        Results (e.g. ``hyperspec.open("results.zarr")``).
    path : str or Path, optional
        The results store's path.

    Returns
    -------
    xarray.Dataset or None
        ``hyperspec.open`` of the map.

    Examples
    --------
    >>> import xarray as xr
    >>> find_map(xr.Dataset()) is None
    True
    """
    import hyperspec  # noqa: PLC0415

    for cand in _input_candidates(results, path):
        if not cand.exists():
            continue
        try:
            ds = hyperspec.open(cand)
        except hyperspec.HyperspecError:
            continue
        if "spectra" not in ds.data_vars:
            continue
        if all(ds.sizes.get(d) == n for d, n in results.sizes.items() if d in ds["spectra"].dims):
            return ds
    return None


def show_scale_bar(viewer) -> None:
    """Switch the viewer's scale bar on (napari ≥ 0.6 takes its unit, µm, from the layers' ``units``).

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer.
    """
    scale_bar_of(viewer).visible = True


def scale_bar_of(viewer):
    """The viewer's scale-bar overlay (``viewer.canvas.overlays.scale_bar`` in napari ≥ 0.9, else ``viewer.scale_bar``).

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer.

    Returns
    -------
    napari.components.overlays.ScaleBarOverlay
        Its scale bar.
    """
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    bar = getattr(overlays, "scale_bar", None) if overlays is not None else None
    return bar if bar is not None else viewer.scale_bar


def _sources(viewer) -> dict[str, tuple]:
    """The results shown in ``viewer``: label → (results, path, map) from the layers' metadata."""
    out: dict[str, tuple] = {}
    for layer in viewer.layers:
        meta = layer.metadata.get("hyperspec") if isinstance(layer.metadata, dict) else None
        if not meta or meta.get("results") is None:
            continue
        res = meta["results"]
        label = meta.get("path") or f"results {id(res):x}"
        out.setdefault(label, (res, meta.get("path"), meta.get("map")))
    return out


def _shown(viewer, res) -> set[str]:
    names = set()
    for layer in viewer.layers:
        meta = layer.metadata.get("hyperspec") if isinstance(layer.metadata, dict) else None
        if meta and meta.get("results") is res and meta.get("role") in ("band", "status") and meta.get("variable"):
            names.add(meta["variable"])
    return names


def band_maps_widget(napari_viewer):
    """The *Band maps* dock widget (:class:`napari_hyperspec._band_maps.BandMapsWidget`).

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer.

    Returns
    -------
    napari_hyperspec._band_maps.BandMapsWidget
        The widget; ``.source`` (results combo box), ``.variables`` (list, multi-selection),
        ``.add_button``, ``.rgb`` (three combo boxes) and ``.rgb_button``.
    """
    from napari_hyperspec._band_maps import BandMapsWidget  # noqa: PLC0415 - Qt only when a widget is made

    return BandMapsWidget(napari_viewer)
