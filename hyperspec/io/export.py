"""Writers besides the native store: band maps as TIFF, tables as CSV, and HyperSpy ``Signal1D``.

- ``write_tiff(results, outdir)``: one float32 TIFF per map variable (``<name>.tif``; a kinetic map
  ``(t, y, x)`` becomes a multi-page stack), with the pixel size in the resolution tags (µm) and the
  variable's name and units in the ImageJ metadata, so Fiji and napari open them to scale.
- ``write_csv(results, path)``: one row per pixel (its coordinates, then every per-pixel variable in
  model order, ``result_groups``), the table people paste into Origin or pandas; bookkeeping arrays
  on other dims (a recipe's ``run_chunk_done``) are left out. ``write_spectra_csv`` writes spectra
  (axis, then one column per pixel) for a small selection.
- ``result_groups(names, model)``: result variables grouped by band in the model's order (what
  ``write_csv`` and ``hyperspec info`` use).
- ``to_hyperspy(ds)`` / ``from_hyperspy(signal)``: a map Dataset ⇄ ``Signal1D``, lossless both in memory and
  through ``.hspy`` (axes uniform or not, HyperSpy/LumiSpy metadata, every attr and coordinate as type-tagged
  JSON in ``original_metadata.hyperspec``; a signal cropped in HyperSpy is rebuilt from its axes).
  HyperSpy (GPL-3) is optional: ``pip install "hyperspec-maps[hyperspy]"``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from hyperspec._errors import HyperspecError
from hyperspec.io.netcdf import read_netcdf, write_netcdf  # noqa: F401  (netCDF export lives in hyperspec.io.netcdf)
from hyperspec.model import SPECTRAL_DIM, from_array

__all__ = ["write_tiff", "write_csv", "write_spectra_csv", "to_hyperspy", "from_hyperspy", "result_groups", "result_group_lines",
           "FIT_QUALITY"]  # fmt: skip

_AXES = {"cm-1": ("shift", "cm⁻¹", "Raman shift"), "nm": ("wavelength", "nm", "Wavelength"), "eV": ("energy", "eV", "Energy"),
         "cm-1-abs": ("wavenumber", "cm⁻¹", "Wavenumber")}  # fmt: skip


#: The fit-quality variables of ``decompose``, in the order they follow the bands.
FIT_QUALITY = ("chi2_red", "n_iter", "status", "at_bound", "n_at_bound")
_STDERR = "_stderr"


def _model_spec(model) -> dict | None:
    """The model spec recorded with results (``attrs["model"]``, JSON text or a mapping), or None."""
    if isinstance(model, str):
        try:
            model = json.loads(model)
        except ValueError:
            return None
    return dict(model) if isinstance(model, Mapping) and isinstance(model.get("terms"), Mapping) else None


def _term_outputs(term: str, spec: Mapping) -> list[str]:
    """``decompose``'s outputs of one term, in order: area, parameters, derived values (``result_names``)."""
    from hyperspec.bands.components import get_component  # noqa: PLC0415
    from hyperspec.fit.results import param_output_name  # noqa: PLC0415

    try:
        comp = get_component(spec["shape"])
    except Exception:  # a shape this installation does not know: its variables are found by prefix
        return [f"{term}_area"]
    return [f"{term}_area"] + [param_output_name(term, p) for p in comp.params] + [f"{term}_{d.suffix}" for d in comp.derived]


def _with_stderr(ordered: Sequence[str], names: set[str]) -> list[str]:
    out = []
    for n in ordered:
        if n in names and n not in out:
            out.append(n)
            if n + _STDERR in names:
                out.append(n + _STDERR)
    return out


def _by_name(names: set[str]) -> list[str]:
    """Sorted, each ``_stderr`` right after its value (an orphan ``_stderr`` where its value would be)."""
    return _with_stderr(sorted({n.removesuffix(_STDERR) if n.removesuffix(_STDERR) in names else n for n in names}), names)


def result_groups(names: Sequence[str], model=None) -> list[tuple[str, list[str]]]:
    """Result variables grouped by band, in model order: what ``write_csv`` and ``hyperspec info`` show.

    Order (the README's hardening section quotes it): one group per term of the model, in the model's
    order, holding ``<term>_area``, the term's parameters (the component's order), then its derived
    values, each value immediately followed by its ``<name>_stderr``; then ``"ratios"`` (the model's
    ``ratios``, same pairing); then ``"fit"`` (``FIT_QUALITY``: χ²_red, iterations, status, at_bound,
    n_at_bound); then ``"other"`` (anything else, sorted by name). Without a model (or for variables
    it does not name) a term is any ``<term>_area`` variable, its variables those named
    ``<term>_…`` (the longest matching term wins), sorted by name after the area.

    Parameters
    ----------
    names : sequence of str
        The variable names (e.g. ``list(results.data_vars)``, in any order).
    model : str or mapping, optional
        The model spec the results were fitted with (``results.attrs["model"]``, JSON text or a
        dict with ``terms``); default None: terms are inferred from the ``*_area`` variables.

    Returns
    -------
    list of (str, list of str)
        ``(group, names)`` pairs: term names, then ``"ratios"``, ``"fit"``, ``"other"``; empty
        groups are left out. Every name appears exactly once.

    Examples
    --------
    >>> from hyperspec.io.export import result_groups
    >>> model = {"terms": {"g": {"shape": "lorentzian"}, "d": {"shape": "lorentzian"}}}
    >>> names = ["status", "d_area", "g_height", "g_area_stderr", "g_area", "chi2_red", "g_center_cm", "d_height"]
    >>> for group, members in result_groups(names, model):
    ...     print(group, members)
    g ['g_area', 'g_area_stderr', 'g_center_cm', 'g_height']
    d ['d_area', 'd_height']
    fit ['chi2_red', 'status']
    """
    left = set(names)
    spec = _model_spec(model)
    groups: list[tuple[str, list[str]]] = []
    terms = list(spec["terms"]) if spec else []
    listed = {t: _with_stderr(_term_outputs(t, spec["terms"][t]), left) for t in terms}
    for t in terms:
        left -= set(listed[t])
    inferred = sorted({n[: -len("_area")] for n in left if n.endswith("_area")} - set(terms))
    prefixes = sorted(terms + inferred, key=len, reverse=True)
    extra: dict[str, set[str]] = {t: set() for t in prefixes}
    for n in sorted(left):
        owner = next((t for t in prefixes if n.startswith(t + "_")), None)
        if owner is not None and n not in FIT_QUALITY:
            extra[owner].add(n)
    for t in terms + inferred:
        members = listed.get(t, []) + _with_stderr([f"{t}_area"], extra[t]) + _by_name(extra[t] - {f"{t}_area", f"{t}_area{_STDERR}"})
        left -= set(members)
        if members:
            groups.append((t, members))
    ratios = _with_stderr(list((spec or {}).get("ratios") or {}), left)
    fit = [n for n in FIT_QUALITY if n in left]
    left -= set(ratios) | set(fit)
    groups += [(g, m) for g, m in (("ratios", ratios), ("fit", fit), ("other", _by_name(left))) if m]
    return groups


def result_group_lines(variables: Mapping[str, Sequence[str]], model=None) -> list[tuple[str, str]]:
    """One ``(label, text)`` line per group of ``result_groups``: what ``hyperspec info`` prints for results.

    A band's line lists its variables without the ``<term>_`` prefix; a value with a ``_stderr``
    twin is marked ``±`` (the twin is not listed again); a variable not on the most common dims
    shows its dims.

    Parameters
    ----------
    variables : mapping of str to sequence of str
        Each variable's dims (e.g. ``{name: v["dims"] for name, v in store_info(p)["variables"].items()}``).
    model : str or mapping, optional
        The results' model spec (``attrs["model"]``), as for ``result_groups``.

    Returns
    -------
    list of (str, str)
        ``(group, "name±, name±, …")`` in ``result_groups`` order.

    Examples
    --------
    >>> from hyperspec.io.export import result_group_lines
    >>> dims = {n: ("y", "x") for n in ["g_area", "g_area_stderr", "g_center_cm", "g_center_cm_stderr", "status", "chi2_red"]}
    >>> result_group_lines({**dims, "run_chunk_done": ("run_chunk",)}, {"terms": {"g": {"shape": "lorentzian"}}})
    [('g', 'area±, center_cm±'), ('fit', 'chi2_red, status'), ('other', 'run_chunk_done (run_chunk)')]
    """
    from collections import Counter  # noqa: PLC0415

    common = Counter(tuple(d) for d in variables.values()).most_common(1)
    common = common[0][0] if common else ()
    lines = []
    for group, members in result_groups(list(variables), model):
        is_term = group not in ("ratios", "fit", "other")
        shown = []
        for n in members:
            if n.endswith(_STDERR) and n.removesuffix(_STDERR) in members:
                continue
            label = n.removeprefix(f"{group}_") if is_term else n
            label += "±" if n + _STDERR in members else ""
            if tuple(variables[n]) != common:
                label += f" ({', '.join(variables[n])})"
            shown.append(label)
        lines.append((group, ", ".join(shown)))
    return lines


def _pixel_variables(results: xr.Dataset, variables: Sequence[str] | None) -> tuple[tuple[str, ...], list[str]]:
    """The pixel dims of ``results`` and its per-pixel variables on them, in model order."""
    numeric = [n for n, v in results.data_vars.items() if v.dtype.kind in "fiub" and SPECTRAL_DIM not in v.dims and v.ndim >= 1]
    if "status" in results.data_vars:
        dims = results["status"].dims
    elif "spectra" in results.data_vars:
        dims = tuple(d for d in results["spectra"].dims if d != SPECTRAL_DIM)
    elif numeric:  # the grid is the variable with the most values (bookkeeping arrays are smaller)
        dims = max((results[n] for n in sorted(numeric)), key=lambda v: (v.size, v.ndim)).dims
    else:
        dims = ()
    on_grid = [n for n in numeric if set(results[n].dims) <= set(dims)]
    if variables is None:
        names = on_grid
    else:
        names = list(variables)
        unknown = [n for n in names if n not in results.data_vars]
        if unknown:
            raise HyperspecError(f"no variable(s) {unknown} in the Dataset; available: {sorted(results.data_vars)}.")
        off = [f"{n} {results[n].dims}" for n in names if n not in on_grid]
        if off:
            raise HyperspecError(f"{', '.join(off)}: not a numeric variable on the pixels {dims}, so not a column of a per-pixel table; "
                                 "leave it out of the variables.")  # fmt: skip
    order = [n for _, members in result_groups(names, results.attrs.get("model")) for n in members]
    return tuple(dims), order


def _map_variables(results: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
    names = list(variables) if variables is not None else [
        n for n, v in results.data_vars.items() if v.dtype.kind in "fiub" and SPECTRAL_DIM not in v.dims and v.ndim >= 1
    ]  # fmt: skip
    unknown = [n for n in names if n not in results.data_vars]
    if unknown:
        raise HyperspecError(f"no variable(s) {unknown} in the Dataset; available: {sorted(results.data_vars)}.")
    return names


def _step(coord: np.ndarray) -> float | None:
    if coord.size < 2:
        return None
    d = np.diff(coord.astype(np.float64))
    return float(np.abs(np.median(d))) if np.all(np.isfinite(d)) and np.median(np.abs(d)) > 0 else None


def write_tiff(results: xr.Dataset, outdir: str | Path, variables: Sequence[str] | None = None) -> list[Path]:
    """One float32 ImageJ TIFF per map variable into ``outdir`` (µm pixel size in the resolution tags).

    Only image-shaped variables are written: dims ending ``(y, x)`` (a map; extra leading dims
    become pages), ``(t, x)`` or ``(power, x)`` (kymographs); others are skipped. The pixel size
    (µm, the median step of the ``x`` and ``y`` coords) is written only for ``(…, y, x)`` maps;
    the ImageJ ``Info`` holds ``name [units]``.

    Parameters
    ----------
    results : xarray.Dataset
        Band maps (e.g. ``decompose`` output) with ``x``/``y`` coords in µm.
    outdir : str or Path
        Output folder, created if missing; files are ``<name>.tif`` (existing ones are replaced).
    variables : sequence of str, optional
        The variables to write; default: every numeric variable without a ``spectral`` dim.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    HyperspecError
        A name in ``variables`` is not in ``results``, or no variable is image-shaped.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import tifffile
    >>> import xarray as xr
    >>> from hyperspec.io.export import write_tiff
    >>> um = {"units": "µm"}
    >>> res = xr.Dataset({"area": (("y", "x"), np.arange(6.0).reshape(2, 3), {"units": "counts·cm⁻¹"})},
    ...                  coords={"y": ("y", [0.0, 0.5], um), "x": ("x", [0.0, 0.5, 1.0], um)})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [path] = write_tiff(res, tmp)
    ...     print(path.name, tifffile.imread(path).dtype, tifffile.imread(path).shape)
    area.tif float32 (2, 3)
    """
    import tifffile  # noqa: PLC0415

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in _map_variables(results, variables):
        var = results[name]
        if var.ndim < 2 or var.dims[-2:] not in (("y", "x"), ("t", "x"), ("power", "x")):
            continue  # TIFF is for images: maps (…, y, x) and kymographs (t, x)
        data = np.asarray(var.values, dtype=np.float32)
        kw = {"metadata": {"axes": "TYX"[-data.ndim :] if data.ndim <= 3 else None, "Info": f"{name} [{var.attrs.get('units', '')}]"}}
        sx = _step(np.asarray(results["x"].values)) if "x" in results.coords else None
        sy = _step(np.asarray(results[var.dims[-2]].values)) if var.dims[-2] in results.coords else None
        if sx and sy and var.dims[-2] == "y":
            kw["resolution"] = (1.0 / sx, 1.0 / sy)
            kw["metadata"]["unit"] = "um"
        if data.ndim > 3:
            data = data.reshape(-1, *data.shape[-2:])
            kw["metadata"]["axes"] = "TYX"
        path = outdir / f"{name}.tif"
        tifffile.imwrite(path, data, imagej=True, **kw)
        paths.append(path)
    if not paths:
        raise HyperspecError(f"no map variable (…, y, x) to write as TIFF among {sorted(results.data_vars)}.")
    return paths


def write_csv(results: xr.Dataset, path: str | Path, variables: Sequence[str] | None = None) -> Path:
    """Write a CSV table with one row per pixel: its coordinates, then each per-pixel variable in model order.

    The pixels are the dims of ``status`` (else of ``spectra``, else of the largest variable), in C
    order; a variable on other dims (a recipe's ``run_chunk_done`` per run chunk) is not a column.
    Columns follow ``result_groups``: per band in the model's order its area, parameters and
    derived values, each followed by its ``_stderr``; then ratios, fit quality (``chi2_red``,
    ``n_iter``, ``status``, ``at_bound``, ``n_at_bound``), then the rest by name. The header is
    ``name [units]`` (just ``name`` without units); NaN becomes an empty cell.

    Parameters
    ----------
    results : xarray.Dataset
        Per-pixel results (band maps); a dim without a coordinate is written as its index.
    path : str or Path
        The CSV file (its folder is created; an existing file is replaced).
    variables : sequence of str, optional
        The columns (written in model order); default: every numeric variable on the pixels.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    HyperspecError
        A name in ``variables`` is not in ``results`` or not on the pixels, or there is no
        per-pixel variable.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import xarray as xr
    >>> from hyperspec.io.export import write_csv
    >>> res = xr.Dataset({"status": (("y", "x"), [[0, 0], [0, 3]]),
    ...                   "g_area": (("y", "x"), [[1.0, 2.0], [3.0, np.nan]], {"units": "counts"}),
    ...                   "run_chunk_done": ("run_chunk", [True, True])},
    ...                  coords={"y": ("y", [0.0, 0.5], {"units": "µm"}), "x": ("x", [0.0, 0.5], {"units": "µm"})})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(write_csv(res, f"{tmp}/bands.csv").read_text())
    y [µm],x [µm],g_area [counts],status
    0.0,0.0,1.0,0
    0.0,0.5,2.0,0
    0.5,0.0,3.0,0
    0.5,0.5,,3
    """
    dims, names = _pixel_variables(results, variables)
    if not names:
        raise HyperspecError(f"no per-pixel variable to tabulate among {sorted(results.data_vars)}.")
    table = results[names].compute()
    flat = {n: np.asarray(table[n].broadcast_like(table[list(names)]).transpose(*dims).values).reshape(-1) for n in names}
    index = np.indices([results.sizes[d] for d in dims]).reshape(len(dims), -1)
    coords = {d: (np.asarray(results[d].values)[index[i]] if d in results.coords else index[i]) for i, d in enumerate(dims)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        head = [f"{d} [{results[d].attrs.get('units', '')}]".replace(" []", "") if d in results.coords else d for d in dims]
        head += [f"{n} [{results[n].attrs.get('units', '')}]".replace(" []", "") for n in names]
        w.writerow(head)
        cols = [coords[d] for d in dims] + [flat[n] for n in names]
        for row in zip(*cols, strict=True):
            w.writerow([_cell(v) for v in row])
    return path


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v)) if np.isfinite(v) else ""
    return str(v.item() if isinstance(v, np.generic) else v)


def write_spectra_csv(ds: xr.Dataset, path: str | Path, *, axis: str | None = None) -> Path:
    """Write spectra as CSV columns: the spectral axis, then one column per pixel.

    Pixel columns are named after their indices (``y0_x1``; ``intensity`` for a single spectrum).
    Meant for a small selection: select pixels first.

    Parameters
    ----------
    ds : xarray.Dataset
        A map with ``spectra``.
    path : str or Path
        The CSV file (replaced if it exists).
    axis : str, optional
        The first column's coordinate; default: the first of ``shift`` (cm⁻¹), ``wavelength``
        (nm), ``energy`` (eV) present, else the channel index.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    HyperspecError
        More than 10 000 spectra.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.export import write_spectra_csv
    >>> ds = hs.from_array(np.arange(8.0).reshape(2, 4), [100.0, 200.0, 300.0, 400.0], laser_nm=632.8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(write_spectra_csv(ds, f"{tmp}/spectra.csv").read_text())
    shift,x0,x1
    100.0,0.0,4.0
    200.0,1.0,5.0
    300.0,2.0,6.0
    400.0,3.0,7.0
    """
    axis = axis or next(c for c in ("shift", "wavelength", "energy", SPECTRAL_DIM) if c in ds.coords or c == SPECTRAL_DIM)
    spectra = ds["spectra"]
    lead = [d for d in spectra.dims if d != SPECTRAL_DIM]
    flat = np.asarray(spectra.transpose(*lead, SPECTRAL_DIM).values).reshape(-1, spectra.sizes[SPECTRAL_DIM])
    if flat.shape[0] > 10_000:
        raise HyperspecError(f"{flat.shape[0]} spectra is too many for a CSV table; select pixels first (ds.isel(...)) or use the store.")
    index = np.indices([spectra.sizes[d] for d in lead]).reshape(len(lead), -1) if lead else np.zeros((0, 1), int)
    names = ["_".join(f"{d}{index[i, k]}" for i, d in enumerate(lead)) or "intensity" for k in range(flat.shape[0])]
    x = np.asarray(ds[axis].values) if axis in ds.coords else np.arange(flat.shape[1])
    path = Path(path)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([axis, *names])
        for j in range(flat.shape[1]):
            w.writerow([_cell(x[j]), *(_cell(v) for v in flat[:, j])])
    return path


def _uniform(values: np.ndarray) -> bool:
    """Whether an axis is evenly spaced (to 1e-9 of its step), so HyperSpy's offset/scale describes it exactly."""
    d = np.diff(values)
    return values.size < 2 or bool(np.allclose(d, d[0], rtol=1e-9, atol=0))


def refuse_unwritable_hyperspy_file(path: str | Path) -> None:
    """Refuse, before any work, a HyperSpy file this installation cannot write (``.zspy`` on Zarr 3).

    Parameters
    ----------
    path : str or Path
        The ``.hspy`` or ``.zspy`` file to write.

    Raises
    ------
    HyperspecError
        The suffix is neither ``.hspy`` nor ``.zspy``, or it is ``.zspy`` and RosettaSciIO's zspy writer
        needs the Zarr 2 API (``zarr.storage.NestedDirectoryStore``), which the installed Zarr 3 does not have.

    Examples
    --------
    >>> from hyperspec.io.export import refuse_unwritable_hyperspy_file
    >>> refuse_unwritable_hyperspy_file("map.hspy")  # fine: HDF5
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".hspy", ".zspy"):
        raise HyperspecError(f"{path}: a HyperSpy file ends in .hspy (HDF5) or .zspy (Zarr); got {suffix or 'no suffix'!r}.")
    if suffix == ".zspy" and not hasattr(zarr.storage, "NestedDirectoryStore"):
        raise HyperspecError(
            f"{path}: HyperSpy's .zspy writer (RosettaSciIO) needs the Zarr 2 API (zarr.storage.NestedDirectoryStore), "
            f"and this installation has Zarr {zarr.__version__}; write .hspy (HDF5) instead, or read the hyperspec "
            "store itself, which is Zarr."
        )


#: Where ``to_hyperspy`` keeps the whole map description (type-tagged JSON text) in ``original_metadata``.
HYPERSPY_PAYLOAD = "hyperspec"
_PAYLOAD_VERSION = 1
_QUANTITY = "Intensity (counts)"


def _accumulations(attrs: Mapping) -> int | None:
    n = attrs.get("accumulations", attrs.get("accumulation_count"))
    try:
        return int(n) if n is not None and int(n) >= 1 else None
    except (TypeError, ValueError):
        return None


def _payload(ds: xr.Dataset) -> str:
    """The Dataset's dims, shape, every coordinate, other variables and every attr as one type-tagged JSON string."""
    from hyperspec.io import _tagged_json  # noqa: PLC0415

    where = ds.attrs.get("source", "the map")
    spectra = ds["spectra"]
    coords = {
        str(name): {"dims": list(c.dims), "values": _tagged_json.encode(np.asarray(c.values), f"{where}: coordinate {name!r}"),
                    "attrs": _tagged_json.encode(dict(c.attrs), f"{where}: coordinate {name!r} attrs")}
        for name, c in ds.coords.items()
    }  # fmt: skip
    variables = {}
    for name, v in ds.data_vars.items():
        if name == "spectra":
            continue
        if v.chunks is not None:  # a lazy side variable is not read just to describe it
            raise HyperspecError(
                f"{where}: the variable {name!r} is lazy (Dask); HyperSpy gets the spectra only. "
                f"Load it first (ds[{name!r}] = ds[{name!r}].load()) or drop it (ds.drop_vars({name!r}))."
            )
        variables[str(name)] = {"dims": list(v.dims), "values": _tagged_json.encode(np.asarray(v.values), f"{where}: variable {name!r}"),
                                "attrs": _tagged_json.encode(dict(v.attrs), f"{where}: variable {name!r} attrs")}  # fmt: skip
    payload = {
        "version": _PAYLOAD_VERSION,
        "dims": list(spectra.dims),
        "shape": list(spectra.shape),
        "spectra_attrs": _tagged_json.encode(dict(spectra.attrs), f"{where}: spectra attrs"),
        "coords": coords,
        "data_vars": variables,
        "attrs": _tagged_json.encode(dict(ds.attrs), f"{where}: attrs"),
        "quantity": _QUANTITY,
    }
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":"))


def to_hyperspy(ds: xr.Dataset):
    """The map as a HyperSpy ``Signal1D`` (navigation: the map's dims; signal: the spectral axis as read), losslessly.

    The signal axis is the coordinate of ``attrs["spectral_unit"]`` (``shift`` cm⁻¹,
    ``wavelength`` nm or ``energy`` eV), uniform (offset/scale) when evenly spaced, else a
    non-uniform ``DataAxis`` with its values; navigation axes likewise (a power series at 0.1, 1,
    10 mW keeps those values). A Dask-backed map gives a lazy signal (nothing is computed).

    HyperSpy/LumiSpy conventions in ``metadata``: ``General.title`` (the source),
    ``General.original_filename``, ``Signal.quantity = "Intensity (counts)"``, ``Signal.signal_type``
    (LumiSpy's ``Luminescence`` for a Raman-shift axis, ``PL`` for nm / eV),
    ``Acquisition_instrument.Laser.wavelength`` (nm, ``attrs["laser_nm"]``), ``Laser.power`` (mW,
    ``attrs["laser_power_mw"]``), ``Acquisition_instrument.Detector.integration_time`` (s, the total
    exposure ``exposure_s`` × ``accumulations``, as LumiSpy defines it and ``scale_by_exposure``
    divides by), ``Detector.exposure_per_frame`` (s, ``exposure_s``) and ``Detector.frames``
    (``accumulations``), as RosettaSciIO's JobinYvon reader writes them. Everything else (saturation, instrument,
    ``history``, nested dicts …) and the exact coordinates travel in
    ``original_metadata.hyperspec``: type-tagged JSON text that :func:`from_hyperspy` reads back, so
    hyperspec → HyperSpy (→ ``.hspy``) → hyperspec gives an identical Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A map with ``spectra``.

    Returns
    -------
    hyperspy.signals.Signal1D
        The signal (LumiSpy's class when LumiSpy is installed; lazy for Dask data).

    Raises
    ------
    HyperspecError
        HyperSpy is not installed (``pip install "hyperspec-maps[hyperspy]"``), an attr or coordinate holds
        a value JSON cannot carry (a ``datetime``, a class instance; the message names it), or a variable
        besides ``spectra`` is lazy.

    See Also
    --------
    from_hyperspy : the way back.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.export import to_hyperspy
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> signal = to_hyperspy(ds)
    >>> signal.data.shape, signal.axes_manager.signal_axes[0].units
    ((2, 3, 16), 'cm⁻¹')
    """
    try:
        import hyperspy.api as hs  # noqa: PLC0415
    except ImportError:
        raise HyperspecError('HyperSpy export needs hyperspy: pip install "hyperspec-maps[hyperspy]".') from None
    payload = _payload(ds)  # first: an attr JSON cannot carry is said before any work
    unit = ds.attrs.get("spectral_unit", "cm-1")
    coord, units, label = _AXES.get(unit, (SPECTRAL_DIM, "", "Spectral"))
    spectra = ds["spectra"]
    lead = [d for d in spectra.dims if d != SPECTRAL_DIM]
    x = np.asarray(ds[coord].values if coord in ds.coords else ds[SPECTRAL_DIM].values, dtype=np.float64)
    axes = []
    for d in lead:
        c = np.asarray(ds[d].values, dtype=np.float64) if d in ds.coords else np.arange(ds.sizes[d], dtype=np.float64)
        nav_units = ds[d].attrs.get("units", "") if d in ds.coords else ""
        if _uniform(c):
            step = float(c[1] - c[0]) if c.size > 1 else 1.0
            axes.append({"name": d, "size": c.size, "offset": float(c[0]), "scale": step, "navigate": True, "units": nav_units})
        else:  # a power series at 0.1, 1, 10 mW: HyperSpy's DataAxis with its values, not offset/scale
            axes.append({"name": d, "axis": c, "navigate": True, "units": nav_units})
    d = np.diff(x)
    if _uniform(x) and x.size > 1:
        axes.append({"name": label, "size": x.size, "offset": float(x[0]), "scale": float(d[0]), "units": units, "navigate": False})
    else:
        axes.append({"name": label, "axis": x, "units": units, "navigate": False})
    data = spectra.transpose(*lead, SPECTRAL_DIM).data
    signal = hs.signals.Signal1D(data, axes=axes)
    if not isinstance(data, np.ndarray) and hasattr(data, "dask"):
        signal = signal.as_lazy()
    attrs = ds.attrs
    md = signal.metadata
    md.General.title = str(attrs.get("source", attrs.get("title", "hyperspec map")))
    if attrs.get("source"):
        md.set_item("General.original_filename", Path(str(attrs["source"])).name)
    md.Signal.quantity = _QUANTITY
    if "laser_nm" in attrs:
        md.set_item("Acquisition_instrument.Laser.wavelength", float(attrs["laser_nm"]))
    if attrs.get("laser_power_mw") is not None:
        md.set_item("Acquisition_instrument.Laser.power", float(attrs["laser_power_mw"]))
    frames = _accumulations(attrs)
    exposure = attrs.get("exposure_s")
    if exposure is not None and np.isfinite(float(exposure)) and float(exposure) > 0:
        md.set_item("Acquisition_instrument.Detector.integration_time", float(exposure) * (frames or 1))  # total, s
        md.set_item("Acquisition_instrument.Detector.exposure_per_frame", float(exposure))  # RosettaSciIO's readers write it too
    if frames is not None:
        md.set_item("Acquisition_instrument.Detector.frames", frames)
    md.set_item("hyperspec.spectral_unit", unit)
    signal.original_metadata.set_item(HYPERSPY_PAYLOAD, payload)
    # LumiSpy's signal types (it registers Luminescence, PL, CL, EL, ... but no Raman type: its Raman-shift tools
    # live on Luminescence): a Raman-shift map is Luminescence, a laser-excited nm / eV spectrum PL.
    signal_type = "Luminescence" if unit in ("cm-1", "cm-1-abs") else "PL"
    if signal_type in _known_signal_types():
        signal.set_signal_type(signal_type)  # LumiSpy's class (its to_eV, to_raman_shift, ... work on it)
    else:
        signal.metadata.set_item("Signal.signal_type", signal_type)  # LumiSpy, once installed, picks it up on load
    return signal


def _known_signal_types() -> set[str]:
    """The signal types HyperSpy's installed extensions register (LumiSpy's among them when it is installed)."""
    try:
        from hyperspy.extensions import ALL_EXTENSIONS  # noqa: PLC0415
    except ImportError:
        return set()
    return {spec.get("signal_type") for spec in ALL_EXTENSIONS.get("signals", {}).values()} - {None}


def _read_payload(signal) -> dict | None:
    """``to_hyperspy``'s description in ``original_metadata.hyperspec`` (decoded), or None for a signal made elsewhere."""
    from hyperspec.io import _tagged_json  # noqa: PLC0415

    om = signal.original_metadata
    if not om.has_item(HYPERSPY_PAYLOAD):
        return None
    text = om.get_item(HYPERSPY_PAYLOAD)
    where = f"original_metadata.{HYPERSPY_PAYLOAD} of the HyperSpy signal {signal.metadata.General.title!r}"
    if not isinstance(text, str):
        raise HyperspecError(f"{where} is not hyperspec's JSON text (got a {type(text).__name__}); delete it to convert from the axes.")
    payload = _tagged_json.loads(text, where)
    if not isinstance(payload, dict) or payload.get("version") != _PAYLOAD_VERSION or "dims" not in payload:
        raise HyperspecError(f"{where} is not a version-{_PAYLOAD_VERSION} hyperspec description; delete it to convert from the axes.")
    return payload


def _axis_values(coords: Mapping, unit: str, dim: str, size: int) -> np.ndarray:
    """The values ``to_hyperspy`` gave the axis of ``dim`` (its coordinate, the unit's one for the spectral dim)."""
    name = _AXES.get(unit, (SPECTRAL_DIM,))[0] if dim == SPECTRAL_DIM else dim
    if name not in coords and dim == SPECTRAL_DIM:
        name = SPECTRAL_DIM
    c = coords.get(name)
    return np.asarray(c["values"], dtype=np.float64) if c is not None and list(c["dims"]) == [dim] else np.arange(size, dtype=np.float64)


def _same_axis(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal to a millionth of a step (HyperSpy recomputes a uniform axis as offset + scale·i)."""
    if a.shape != b.shape:
        return False
    step = float(np.median(np.abs(np.diff(b)))) if b.size > 1 else max(abs(float(b[0])), 1.0) if b.size else 1.0
    return bool(np.allclose(a, b, rtol=0, atol=1e-6 * step))


def _slice_of(old: np.ndarray, new: np.ndarray) -> slice | None:
    """The contiguous run of ``old`` equal (to a millionth of a step) to ``new``: how a crop in HyperSpy cut it."""
    if new.size == 0 or new.size > old.size:
        return None
    step = float(np.median(np.abs(np.diff(old)))) if old.size > 1 else 1.0
    for i0 in np.flatnonzero(np.abs(old - new[0]) <= 1e-6 * step):
        if i0 + new.size <= old.size and _same_axis(new, old[i0 : i0 + new.size]):
            return slice(int(i0), int(i0) + new.size)
    return None


def _exact(signal, payload: dict, unit: str, laser_nm: float | None) -> xr.Dataset | None:
    """The Dataset exactly as exported, when the signal's shape, axes, unit and laser are still the exported ones."""
    attrs = payload["attrs"]
    dims = list(payload["dims"])
    if list(signal.data.shape) != list(payload["shape"]) or unit != attrs.get("spectral_unit", "cm-1"):
        return None
    stored_laser = attrs.get("laser_nm")
    if (laser_nm is None) != (stored_laser is None) or (laser_nm is not None and float(laser_nm) != float(stored_laser)):
        return None
    ax = signal.axes_manager
    axes = [*list(ax.navigation_axes)[::-1], ax.signal_axes[0]]
    if len(axes) != len(dims):
        return None
    for a, dim, size in zip(axes, dims, payload["shape"], strict=True):
        if not _same_axis(np.asarray(a.axis, dtype=np.float64), _axis_values(payload["coords"], unit, dim, size)):
            return None
    data = signal.data
    if hasattr(data, "rechunk") and data.chunks and len(data.chunks[-1]) > 1:  # a .hspy's chunks may cut the spectra
        data = data.rechunk({data.ndim - 1: -1})
    spectra_attrs = dict(payload["spectra_attrs"])
    _quantity_units(signal, payload, spectra_attrs)
    variables = {"spectra": xr.Variable(dims, data, attrs=spectra_attrs)}
    variables |= {k: xr.Variable(v["dims"], v["values"], attrs=v["attrs"]) for k, v in payload["data_vars"].items()}
    coords = {k: xr.Variable(c["dims"], c["values"], attrs=c["attrs"]) for k, c in payload["coords"].items()}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _quantity_units(signal, payload: dict, spectra_attrs: dict) -> None:
    """A quantity changed in HyperSpy (LumiSpy's ``scale_by_exposure``: ``Intensity (counts/s)``) becomes the units."""
    quantity = signal.metadata.get_item("Signal.quantity") if signal.metadata.has_item("Signal.quantity") else None
    if quantity and quantity != payload.get("quantity") and "(" in quantity and quantity.endswith(")"):
        spectra_attrs["units"] = quantity[quantity.rindex("(") + 1 : -1]


def _signal_unit(sig, exported: str | None) -> str | None:
    """The hyperspec unit of a signal axis: the exported one while the axis units are still its, else from the units.

    LumiSpy's ``to_eV`` / ``to_invcm`` / ``to_raman_shift`` change the axis (units ``eV`` / ``cm$^{-1}$``, names
    ``Energy`` / ``Wavenumber`` / ``Raman Shift``); a ``Wavenumber`` axis in cm⁻¹ is absolute (``cm-1-abs``), as in
    RosettaSciIO's readers, any other cm⁻¹ axis a Raman shift.
    """
    units = str(sig.units or "").strip()
    if exported in _AXES and units == _AXES[exported][1]:
        return exported
    u = units.lower().replace("$", "").replace("{", "").replace("}", "").replace(" ", "")
    if u in ("cm⁻¹", "cm-1", "1/cm", "cm^-1"):
        return "cm-1-abs" if str(sig.name).strip().lower().startswith("wavenumber") else "cm-1"
    return {"nm": "nm", "ev": "eV"}.get(u)


def _foreign_attrs(md) -> dict:
    """The hyperspec attrs of a HyperSpy signal's own metadata (exposure, accumulations, laser power)."""
    attrs: dict = {}
    frames = md.get_item("Acquisition_instrument.Detector.frames") if md.has_item("Acquisition_instrument.Detector.frames") else None
    if frames is not None:
        attrs["accumulations"] = int(frames)
    if md.has_item("Acquisition_instrument.Detector.exposure_per_frame"):
        attrs["exposure_s"] = float(md.get_item("Acquisition_instrument.Detector.exposure_per_frame"))
    elif md.has_item("Acquisition_instrument.Detector.integration_time"):  # LumiSpy: the total over the frames
        attrs["exposure_s"] = float(md.get_item("Acquisition_instrument.Detector.integration_time")) / (int(frames) if frames else 1)
    if md.has_item("Acquisition_instrument.Laser.power"):
        attrs["laser_power_mw"] = float(md.get_item("Acquisition_instrument.Laser.power"))
    return attrs


def from_hyperspy(signal, *, laser_nm: float | None = None, unit: str | None = None) -> xr.Dataset:
    """A HyperSpy ``Signal1D`` as the standard map Dataset; a ``to_hyperspy`` signal comes back identical.

    A signal from :func:`to_hyperspy` (in memory or through ``.hspy``) carries the exported Dataset in
    ``original_metadata.hyperspec``: while its shape, axes, spectral unit and laser are still the
    exported ones, the Dataset comes back identical (data, dims, every coordinate with its attrs,
    every attr with its type, ``history``). When the signal was cropped or rebinned in HyperSpy, or its
    laser or unit changed, the map is rebuilt from the axes (``hyperspec.from_array``): the attrs are
    kept, coordinates follow the crop (sliced from the stored ones where the axes are a contiguous run
    of them), and ``history`` records the step. A signal made elsewhere converts from its axes and
    metadata: navigation axes named ``x``, ``y``, ``t``, ``z``, ``point`` or ``power`` keep their names,
    others get the default names by count (``x``; ``y, x``; ``t, y, x``); ``Detector.exposure_per_frame``
    (else ``integration_time`` / ``frames``), ``frames`` and ``Laser.power`` become ``exposure_s``,
    ``accumulations`` and ``laser_power_mw``. Lazy signals give Dask-backed maps (nothing is computed).

    Parameters
    ----------
    signal : hyperspy.signals.Signal1D
        The signal (lazy or not).
    laser_nm : float, optional
        Laser wavelength, nm; default: ``Acquisition_instrument.Laser.wavelength`` of the metadata.
    unit : {"cm-1", "nm", "eV", "cm-1-abs"}, optional
        The signal axis unit; default: from ``to_hyperspy``'s metadata, else the axis units
        (nm, cm⁻¹, 1/cm, eV).

    Returns
    -------
    xarray.Dataset
        The standard map Dataset.

    Raises
    ------
    HyperspecError
        The unit is not given and the axis units are not nm, cm⁻¹ or eV, or
        ``original_metadata.hyperspec`` is there but is not hyperspec's JSON text.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> import hyperspec as hs
    >>> from hyperspec.io.export import from_hyperspy, to_hyperspy
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> back = from_hyperspy(to_hyperspy(ds))
    >>> xr.testing.assert_identical(back, ds)
    >>> back.spectra.dims, back.attrs["laser_nm"], round(float(back["shift"][-1]), 1)
    (('y', 'x', 'spectral'), 632.8, 400.0)
    """
    from hyperspec.model import add_history  # noqa: PLC0415

    ax = signal.axes_manager
    sig = ax.signal_axes[0]
    axis = np.asarray(sig.axis, dtype=np.float64)
    md = signal.metadata
    payload = _read_payload(signal)
    stored = dict(payload["attrs"]) if payload else {}
    if unit is None:
        exported = stored.get("spectral_unit")
        if exported is None and md.has_item("hyperspec.spectral_unit"):
            exported = md.get_item("hyperspec.spectral_unit")
        unit = _signal_unit(sig, exported)
    if unit is None:
        raise HyperspecError(f"the signal axis unit {sig.units!r} is not nm, cm⁻¹ or eV; pass unit=.")
    if laser_nm is None and md.has_item("Acquisition_instrument.Laser.wavelength"):
        laser_nm = float(md.get_item("Acquisition_instrument.Laser.wavelength"))
    if payload is not None:
        exact = _exact(signal, payload, unit, laser_nm)
        if exact is not None:
            return exact
    nav = list(ax.navigation_axes)[::-1]  # HyperSpy lists navigation axes fastest first; the array is slowest first
    if payload is not None and len(payload["dims"]) == len(nav) + 1:
        names = list(payload["dims"][:-1])
    else:
        defaults = {0: [], 1: ["x"], 2: ["y", "x"], 3: ["t", "y", "x"]}.get(len(nav), [f"n{i}" for i in range(len(nav))])
        names = []
        for a, default in zip(nav, defaults, strict=True):
            name = str(a.name).lower()
            names.append(name if name in ("x", "y", "t", "z", "point", "power") and name not in names else default)
    coords = {name: np.asarray(a.axis, dtype=np.float64) for name, a in zip(names, nav, strict=True)}
    if payload is None:
        return from_array(signal.data, axis, unit=unit, laser_nm=laser_nm, dims=(*names, SPECTRAL_DIM), coords=coords or None,
                          attrs=_foreign_attrs(md), source=str(md.General.title or "hyperspy"))  # fmt: skip
    # coordinates (and side variables) follow a crop: where an axis is a contiguous run of the exported one, the
    # stored values are sliced (exact, not HyperSpy's offset + scale·i); the spectral axis also when the laser changed
    old_sizes = dict(zip(payload["dims"], payload["shape"], strict=True))
    cuts: dict[str, slice | None] = {}
    for dim in names:
        old = _axis_values(payload["coords"], unit, dim, old_sizes[dim]) if dim in old_sizes else None
        cuts[dim] = None if old is None else _slice_of(old, coords[dim])
        if cuts[dim] is not None:
            coords[dim] = old[cuts[dim]]
    spectral_cut = None
    if SPECTRAL_DIM in old_sizes and unit == stored.get("spectral_unit", "cm-1"):
        old = _axis_values(payload["coords"], unit, SPECTRAL_DIM, old_sizes[SPECTRAL_DIM])
        spectral_cut = _slice_of(old, axis)
        if spectral_cut is not None:
            axis = old[spectral_cut]
    same_laser = laser_nm == stored.get("laser_nm")
    cuts[SPECTRAL_DIM] = spectral_cut if same_laser else None  # another laser: shift / wavelength are recomputed
    attrs = {k: v for k, v in stored.items() if k not in ("laser_nm", "spectral_unit", "source")}
    ds = from_array(signal.data, axis, unit=unit, laser_nm=laser_nm, dims=(*names, SPECTRAL_DIM), coords=coords or None,
                    attrs=attrs, source=stored.get("source"))  # fmt: skip
    if "source" in stored:
        ds.attrs["source"] = stored["source"]  # its stored type (from_array writes str)
    shape = [int(n) for n in signal.data.shape]
    add_history(ds.attrs, "from_hyperspy", rebuilt_from_axes=True, shape=shape, exported_shape=payload["shape"])
    spectra_attrs = dict(payload["spectra_attrs"])
    _quantity_units(signal, payload, spectra_attrs)
    ds["spectra"].attrs = spectra_attrs
    for group, target in (("coords", "coord"), ("data_vars", "var")):
        for name, c in payload[group].items():
            if not all(cuts.get(d) is not None for d in c["dims"]):
                if name in ds.coords and target == "coord":  # recomputed (another laser, a rebinned axis): keep its attrs
                    ds[name].attrs = {**ds[name].attrs, **c["attrs"]}
                continue
            values = np.asarray(c["values"])[tuple(cuts[d] for d in c["dims"])] if c["dims"] else c["values"]
            var = xr.Variable(c["dims"], values, attrs=c["attrs"])
            ds = ds.assign_coords({name: var}) if target == "coord" else ds.assign({name: var})
    return ds
