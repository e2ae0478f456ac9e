"""Run a recipe: chunks of pixels stream from the input store through every step to the output store.

- The map is cut into chunks of whole rows of its first pixel dim (spectra whole); the chunk size
  comes from ``[compute] chunk_pixels`` or from a memory budget (``memory_mb``, default 1024 MiB
  shared by the workers), so memory is bounded by the chunk, not by the map.
- Every chunk is one task: read its rows (plus a 2-row halo for steps that look at neighbours),
  run the preprocessing steps and the decomposition, write the results into the output store's
  region, then set that chunk's flag in ``run_chunk_done``. Tasks are independent and idempotent, so
  a killed run (even ``kill -9``) re-run with the same recipe computes only the chunks whose flag is
  missing, and a Dask cluster may retry a task on another worker.
- The store is marked complete only after the last chunk; it records the recipe, its hash, the
  versions, the backend and the timings. A different recipe into the same output is refused unless
  ``overwrite``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hyperspec._errors import RecipeError, RunCancelled, StoreExistsError
from hyperspec._paths import check_output_paths, resolved
from hyperspec._progress import PixelProgress, RunProgress, _fmt_time, format_rate
from hyperspec.pipeline import steps as _steps
from hyperspec.pipeline.lock import RunLock
from hyperspec.pipeline.recipe import _line_of, check_trusted, load_recipe, recipe_hash, validate_recipe

__all__ = ["run_recipe", "plan_chunks", "DONE", "RunProgress"]

DONE = "run_chunk_done"


_INPUTS: dict[tuple, xr.Dataset] = {}  # opened inputs of this process (tasks on one worker share them)


def _open_input(recipe: dict) -> xr.Dataset:
    """The recipe's input, opened once per process.

    An instrument file read lazily (a large text map is indexed in a full pass) must not be
    re-opened by every task.
    """
    import hyperspec  # noqa: PLC0415

    inp = recipe["input"]
    path = Path(inp["path"])
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size) if path.is_file() else None
    except OSError:
        stamp = None
    key = (str(path), stamp, inp.get("group"), inp.get("laser_nm"))
    if stamp is not None and key in _INPUTS:
        return _INPUTS[key]
    ds = hyperspec.open(inp["path"], group=inp.get("group"))
    if "laser_nm" in inp and "shift" not in ds.coords:
        ds = hyperspec.with_laser(ds, inp["laser_nm"])
    if stamp is not None:  # files only: a store is cheap to open and may still be growing
        _INPUTS.clear()
        _INPUTS[key] = ds
    return ds


def _bytes_per_pixel(m: int, steps: list[dict]) -> float:
    """Working memory per spectrum (bytes) of the heaviest step on a block.

    From the steps' declared ``bytes_per_channel``; at least the decomposition's (four float64
    copies of the spectra).
    """
    per_channel = [_steps.DEFAULT_BYTES_PER_CHANNEL] + [_steps.get_step(s["step"]).bytes_per_channel for s in steps]
    return float(m) * max(per_channel)


def _halo(steps: list[dict]) -> int:
    """Rows of neighbours a block needs on either side: the largest declared halo of its steps."""
    return max([_steps.get_step(s["step"]).halo for s in steps] + [0])


def plan_chunks(ds: xr.Dataset, compute: dict, steps: list[dict] | None = None) -> dict[str, Any]:
    """Tasks and blocks along the first pixel dim.

    A task covers whole row bands of the input store's chunks (each store chunk is decoded once)
    unless a band would take more than a quarter of the memory budget; on the GPU, blocks also fit
    ``device_memory_mb`` (default: half the free device memory) shared by the workers; maps with fewer bands than
    twice the workers are split further so every worker has work. Inside
    a task, ``block_rows`` rows at a time go through the steps, so a task's memory is its float32
    band plus one block's working set, from ``memory_mb`` (or ``chunk_pixels``) whatever the map size.

    Parameters
    ----------
    ds : xarray.Dataset
        The input map (lazy).
    compute : dict
        The recipe's ``[compute]`` table (``memory_mb`` MiB, ``chunk_pixels``, ``workers``, ``device_memory_mb`` MiB …).
    steps : list of dict, optional
        The per-chunk steps (their declared halo and memory per channel size the blocks).

    Returns
    -------
    dict
        ``dim``, ``rows`` (per task), ``block_rows``, ``n_rows``, ``n_chunks``, ``row_pixels`` and, on the
        GPU, ``device_memory_mb``.

    Raises
    ------
    RecipeError
        The input is a single spectrum.

    Examples
    --------
    >>> import hyperspec
    >>> ds, _ = hyperspec.synthetic.simulate("map", (8, 4), n_spectral=64, seed=0)
    >>> plan = plan_chunks(ds, {"workers": 2, "backend": "numpy"})
    >>> plan["dim"], plan["n_chunks"]
    ('y', 4)
    """
    spectra = ds["spectra"]
    dims = [d for d in spectra.dims if d != "spectral"]
    if not dims:
        raise RecipeError(
            "the input is a single spectrum; recipes run on maps, lines and series (use hyperspec.decompose for one spectrum)."
        )
    dim = dims[0]
    row_pixels = int(np.prod([spectra.sizes[d] for d in dims[1:]], dtype=np.int64)) if len(dims) > 1 else 1
    m = spectra.sizes["spectral"]
    n_rows = spectra.sizes[dim]
    workers = int(compute.get("workers", 0)) or (os.cpu_count() or 2)
    budget = float(compute.get("memory_mb", 1024)) * 2**20 / workers
    device_mb = _device_budget_mb(compute)
    if "chunk_pixels" in compute:
        block_pixels = int(compute["chunk_pixels"])
    else:
        block_pixels = int(budget / _bytes_per_pixel(m, steps or []))
        if device_mb is not None:  # a block's working set must also fit the GPU, shared by the workers on it
            block_pixels = min(block_pixels, int(device_mb * 2**20 / workers / _bytes_per_pixel(m, steps or [])))
    block_rows = max(1, min(n_rows, block_pixels // max(1, row_pixels)))
    store_rows = spectra.chunks[0][0] if spectra.chunks is not None else n_rows
    band_rows = max(1, int(budget / 4 // (4.0 * m * row_pixels)))  # the float32 band may take a quarter of the budget
    rows = max(block_rows, min(store_rows, band_rows)) if "chunk_pixels" not in compute else block_rows
    rows = max(1, min(rows, n_rows, math.ceil(n_rows / (2 * workers))))  # ≥ 2 tasks per worker
    plan = {"dim": dim, "rows": rows, "block_rows": min(block_rows, rows), "n_rows": n_rows,
            "n_chunks": math.ceil(n_rows / rows), "row_pixels": row_pixels}  # fmt: skip
    if device_mb is not None:
        plan["device_memory_mb"] = round(float(device_mb), 1)
    return plan


def _device_budget_mb(compute: dict) -> float | None:
    """The GPU memory a run may use (MiB).

    ``device_memory_mb`` when the recipe sets it, else half of device 0's free memory when the backend
    is CuPy; None on the CPU.
    """
    if "device_memory_mb" in compute:
        return float(compute["device_memory_mb"])
    from hyperspec._backend import resolve_backend  # noqa: PLC0415

    be = resolve_backend(compute.get("backend"))
    if not be.on_gpu:
        return None
    free, _total = be.xp.cuda.runtime.memGetInfo()
    return free / 2**20 / 2


def _pre_path(out: Path) -> Path:
    """The whole-map steps' intermediate store of the output ``out``: ``<output>_pre.zarr`` beside it."""
    return out.with_name(out.stem + "_pre.zarr")


#: Root attr marking a whole-map intermediate store; its value is the resolved output it was written for.
PRE_MARKER = "hyperspec_intermediate_for"


def _pre_is_ours(pre: Path, out: Path) -> bool:
    """Whether ``pre`` is a whole-map intermediate store that a run into ``out`` wrote (so it may be replaced)."""
    from hyperspec._errors import StoreError  # noqa: PLC0415
    from hyperspec.io.zarr_ import _read_root_attrs, is_store  # noqa: PLC0415

    if not is_store(pre):
        return False
    try:
        attrs = _read_root_attrs(pre)
    except StoreError:
        return False
    return attrs.get(PRE_MARKER) == str(resolved(out)) and "whole_map_hash" in attrs


def _whole_map_pass(recipe: dict, out: Path, overwrite: bool, say) -> None:
    """Run the whole-map steps (denoise, register_drift) into ``<output>_pre.zarr``.

    The recipe's input then points at it. A complete intermediate store written for the same steps
    is reused. An existing ``_pre.zarr`` is replaced only when it is ours (its root attr
    ``hyperspec_intermediate_for`` names this output) or ``overwrite`` (the user's ``--overwrite``) is
    given; anything else there is refused, never deleted.
    """
    import hashlib  # noqa: PLC0415

    import hyperspec  # noqa: PLC0415
    from hyperspec.io.zarr_ import _read_root_attrs, is_store  # noqa: PLC0415

    whole = [s for s in recipe["preprocess"] if _steps.get_step(s["step"]).scope == "map"]
    if not whole:
        return
    recipe["preprocess"] = [s for s in recipe["preprocess"] if _steps.get_step(s["step"]).scope != "map"]
    pre = _pre_path(out)
    from hyperspec._paths import input_identity  # noqa: PLC0415

    ident = input_identity(recipe["input"]["path"])
    key = {"input": recipe["input"], "identity": ident, "steps": whole, "backend": recipe["compute"].get("backend")}
    key = json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    if pre.exists() and is_store(pre) and not overwrite:
        attrs = _read_root_attrs(pre)
        if attrs.get("hyperspec_complete") and attrs.get("whole_map_hash") == digest:
            say(f"whole-map steps: reusing {pre}")
            recipe["input"] = {"path": str(pre)}
            return
    if pre.exists() and not overwrite and not _pre_is_ours(pre, out):
        raise StoreExistsError(
            f"{pre} is in the way: the whole-map steps ({', '.join(s['step'] for s in whole)}) write their intermediate "
            f"store there, and it was not written by a run into {out}. Move or rename it, choose another output path, "
            "or pass --overwrite (overwrite=True) to replace it."
        )
    ds = _open_input(recipe)
    for step in whole:
        say(f"whole-map step {step['step']}")
        ds = _steps.apply_step(ds, step, recipe["compute"].get("backend") or "auto")
    ds.attrs["whole_map_hash"] = digest
    ds.attrs[PRE_MARKER] = str(resolved(out))
    hyperspec.save(ds, pre, overwrite=True, progress=False)
    recipe["input"] = {"path": str(pre)}


def _apply_steps(ds: xr.Dataset, steps: list[dict], backend: str) -> xr.Dataset:
    """The steps on a block (the registry's step runner, ``hyperspec.pipeline.steps.apply_steps``)."""
    return _steps.apply_steps(ds, steps, backend)


def _decompose(ds: xr.Dataset, dec: dict, backend: str, device_bytes: float | None = None) -> xr.Dataset:
    """The recipe's decomposition of a block.

    On the GPU, without a ``batch_size`` in the recipe, the fit's batches fit the run's device
    budget per worker (``device_bytes``).
    """
    from hyperspec.fit.decompose import decompose  # noqa: PLC0415

    kw = {k: v for k, v in dec.items() if k not in ("preset", "model")}
    if device_bytes:
        kw["device_memory_mb"] = device_bytes / 2**20
    return decompose(ds, dec.get("preset"), model=dec.get("model"), backend=backend, **kw)


def _to_device(ds: xr.Dataset, backend) -> xr.Dataset:
    """``ds`` with its spectra on the GPU when the backend is CuPy; unchanged on NumPy.

    One host → device copy per block: the steps hand device data on to each other.
    """
    from hyperspec._backend import resolve_backend  # noqa: PLC0415

    be = resolve_backend(backend)
    if not be.on_gpu:
        return ds
    out = ds.copy()
    out["spectra"] = ds["spectra"].copy(data=be.xp.asarray(ds["spectra"].data))
    return out


def _to_host(ds: xr.Dataset) -> xr.Dataset:
    """Every variable of ``ds`` as NumPy (the results of a block, before they are written)."""
    from hyperspec._backend import on_device, to_numpy  # noqa: PLC0415

    moved = {name: var.copy(data=to_numpy(var.data)) for name, var in ds.data_vars.items() if on_device(var.data)}
    return ds.assign(moved) if moved else ds


def _block_results(recipe: dict, band: xr.Dataset, dim: str, a: int, b: int, device_bytes: float | None = None) -> xr.Dataset:
    """Steps and decomposition for rows [a, b) of ``band`` (which holds their halo), in memory.

    On the GPU the block's spectra cross to the device once and stay there through the steps and the
    decomposition; only the results come back.
    """
    backend = recipe["compute"]["backend"]
    sub = _apply_steps(_to_device(band, backend), recipe["preprocess"], backend).isel({dim: slice(a, b)})
    out = _decompose(sub, recipe["decompose"], backend, device_bytes) if "decompose" in recipe else xr.Dataset(coords=sub.coords)
    out = out.assign(_steps.block_outputs(sub, recipe["preprocess"]))  # what the steps declare they add
    return _to_host(out.drop_vars([c for c in out.coords if "spectral" in out[c].dims]))


def _chunk_results(recipe: dict, plan: dict, k: int) -> xr.Dataset:
    """Everything a task produces (results on its rows).

    Its band is read once (float32, with the halo), then ``block_rows`` rows at a time go through
    the steps.
    """
    from hyperspec._backend import single_threaded_blas  # noqa: PLC0415

    ds = _open_input(recipe)
    dim, rows, n_rows = plan["dim"], plan["rows"], plan["n_rows"]
    block = plan.get("block_rows", rows)
    a, b = k * rows, min(n_rows, (k + 1) * rows)
    halo = _halo(recipe["preprocess"])
    workers = int(recipe["compute"].get("workers", 0)) or 1  # on the GPU: the workers sharing it (one by default)
    device_bytes = plan["device_memory_mb"] * 2**20 / workers if plan.get("device_memory_mb") else None
    lo, hi = max(0, a - halo), min(n_rows, b + halo)
    outs = []
    with single_threaded_blas():
        band = ds.isel({dim: slice(lo, hi)}).compute()
        for s0 in range(a, b, block):
            s1 = min(b, s0 + block)
            l0, l1 = max(lo, s0 - halo), min(hi, s1 + halo)
            outs.append(_block_results(recipe, band.isel({dim: slice(l0 - lo, l1 - lo)}), dim, s0 - l0, s1 - l0, device_bytes))
    return outs[0] if len(outs) == 1 else xr.concat(outs, dim=dim, data_vars="all", coords="minimal", compat="override", join="override")


def _process_chunk(recipe: dict, plan: dict, k: int, out_path: str) -> dict:
    """One task: compute chunk ``k``, write its region, then its done flag. Safe to run twice."""
    t0 = time.perf_counter()
    res = _chunk_results(recipe, plan, k)
    info = _write_chunk(res, plan, k, out_path)
    info["seconds"] = time.perf_counter() - t0
    info["attrs"] = dict(res.attrs)  # the results' attrs (model, engine, history …): the main process records them once
    return info


def _unless_cancelled(cancel, fn, *args):
    """``fn(*args)``, or None when ``cancel`` is already set (a threads task not started when the run was cancelled)."""
    return None if cancel.is_set() else fn(*args)


def _write_chunk(res: xr.Dataset, plan: dict, k: int, out_path: str) -> dict:
    """Write a chunk's results into its region of the store, then set its done flag."""
    import zarr  # noqa: PLC0415

    dim, rows = plan["dim"], plan["rows"]
    a = k * rows
    b = min(a + rows, plan["n_rows"])
    if not res.data_vars:  # a recipe with neither a fit nor a step that adds variables (e.g. denoise only): flags only
        zarr.open_array(str(Path(out_path) / DONE), mode="r+")[k] = True
        return {"k": k, "pixels": int((b - a) * plan["row_pixels"])}
    b = a + res.sizes[dim]
    region = {d: slice(None) for d in res.dims}
    region[dim] = slice(a, b)
    res = res.drop_vars(list(res.coords))
    res.attrs = {}
    rest = _write_region_direct(res, region, out_path)
    if rest:  # variables whose on-disk encoding is not the identity (none of the declared outputs today)
        res = res[rest]
        for name in res.variables:
            res[name].encoding = {}
        res.to_zarr(out_path, region=region, mode="r+", zarr_format=3, consolidated=False)
    zarr.open_array(str(Path(out_path) / DONE), mode="r+")[k] = True
    return {"k": k, "pixels": int((b - a) * plan["row_pixels"])}


def _identity_encoded(var: xr.Variable, arr_dtype: np.dtype, attrs: dict) -> bool:
    """True when xarray would write ``var`` into an array of ``arr_dtype`` with ``attrs`` unchanged (no CF coding)."""
    if var.dtype.kind not in "biuf" or not np.can_cast(var.dtype, arr_dtype, "same_kind"):
        return False
    if any(key in attrs for key in ("scale_factor", "add_offset", "calendar", "dtype", "missing_value")):
        return False
    fill = attrs.get("_FillValue")
    if fill is None:
        return True
    if isinstance(fill, str) and arr_dtype.kind == "f":  # xarray writes a float _FillValue as base64 of its bytes
        import base64  # noqa: PLC0415
        import binascii  # noqa: PLC0415

        try:
            raw = base64.b64decode(fill, validate=True)
        except (binascii.Error, ValueError):
            return False
        return len(raw) == arr_dtype.itemsize and bool(np.isnan(np.frombuffer(raw, dtype=arr_dtype)[0]))
    return isinstance(fill, float) and math.isnan(fill)


def _write_region_direct(res: xr.Dataset, region: dict[str, slice], out_path: str) -> list[str]:
    """Write ``res``'s variables into their ``region`` of the store with zarr directly; return the names left over.

    One pass on zarr's event loop opens every array and writes its region concurrently (``to_zarr(region=…)``
    opens and writes the ~100 result arrays one after another: about 0.2 s a chunk on a small map). The
    bytes on disk are the same: the arrays, their chunks and codecs were laid out by ``create_store``, and a
    variable goes this way only when its encoding is the identity (integers, booleans, floats with a NaN or
    no ``_FillValue``); any other is left to xarray.
    """
    import asyncio  # noqa: PLC0415

    import zarr.api.asynchronous as zasync  # noqa: PLC0415
    from zarr.core.sync import sync  # noqa: PLC0415

    names = list(res.data_vars)
    left: list[str] = []

    async def write_all() -> None:
        group = await zasync.open_group(store=str(out_path), mode="r+", zarr_format=3)
        arrays = await asyncio.gather(*(group.getitem(name) for name in names))
        writes = []
        for name, arr in zip(names, arrays, strict=True):
            var = res[name].variable
            dims = tuple(arr.metadata.dimension_names or ())
            if set(dims) != set(var.dims) or not _identity_encoded(var, arr.dtype, dict(arr.attrs)):
                left.append(name)
                continue
            values = np.ascontiguousarray(var.transpose(*dims).values, dtype=arr.dtype)
            writes.append(arr.setitem(tuple(region.get(d, slice(None)) for d in dims), values))
        await asyncio.gather(*writes)

    sync(write_all())
    return left


def _result_variables(recipe: dict, ds: xr.Dataset) -> dict[str, tuple[tuple[str, ...], str, dict]]:
    """Every variable a run writes, ``name → (dims, dtype, attrs)``, from the declarations alone (no fit).

    The decomposition's outputs (``steps.decompose_outputs``) and those of the per-chunk steps.
    """
    pixel_dims = tuple(d for d in ds["spectra"].dims if d != "spectral")
    out = {}
    if "decompose" in recipe:
        out = {name: (pixel_dims, dtype, attrs) for name, dtype, attrs in _steps.decompose_outputs(recipe["decompose"])}
    for o in _steps.step_outputs(recipe["preprocess"]):
        out[o.name] = (o.dims_for(pixel_dims), o.dtype, o.attrs)
    return out


def _template(recipe: dict, ds: xr.Dataset, plan: dict) -> xr.Dataset:
    """The full-size results Dataset (lazy zeros) of the declared variables, plus the chunk flags."""
    import dask.array as da  # noqa: PLC0415

    dim = plan["dim"]
    variables = _result_variables(recipe, ds)
    used = {d for dims, _, _ in variables.values() for d in dims}
    coords = {d: ds.coords[d] for d in ds["spectra"].dims if d in used and d in ds.coords}
    data_vars = {}
    for name, (dims, dtype, attrs) in variables.items():
        shape = tuple(ds.sizes[d] for d in dims)
        chunks = tuple(plan["rows"] if d == dim else ds.sizes[d] for d in dims)
        data_vars[name] = xr.Variable(dims, da.zeros(shape, dtype=dtype, chunks=chunks), attrs)
    done_attrs = {"long_name": "chunk written", "units": "1"}
    data_vars[DONE] = xr.Variable(("run_chunk",), da.zeros(plan["n_chunks"], dtype=bool, chunks=1), done_attrs)
    return xr.Dataset(data_vars, coords=coords)


def _plain_result(var: xr.Variable) -> bool:
    """True when ``_create_result_arrays`` lays ``var`` out exactly as xarray would: a number or bool, no encoding."""
    return var.dtype.kind in "biuf" and not var.encoding and "_FillValue" not in var.attrs


def _create_result_arrays(template: xr.Dataset, out: Path, clevel: int = 1) -> None:
    """Create the (empty) arrays of the lazy ``template``'s variables in the store ``out``, all at once.

    The same metadata as ``create_store`` (``to_zarr(compute=False)``) writes for them: the dtype, one chunk
    per task's rows (the template's Dask chunks), Blosc/Zstd bit-shuffled at ``clevel``, a NaN fill value and
    ``_FillValue`` attribute for floats, the dimension names and the attrs (NumPy values as JSON lists). Only the
    metadata is written; each chunk is written by its task. xarray creates and annotates the ~100 result
    arrays one after another and builds a Dask graph of writes that a run discards (about 1 s on a 12 x 16
    map); here one pass on zarr's event loop writes every ``zarr.json``.
    """
    import asyncio  # noqa: PLC0415

    import zarr.api.asynchronous as zasync  # noqa: PLC0415
    from xarray.backends.zarr import FillValueCoder, encode_zarr_attr_value  # noqa: PLC0415
    from zarr.codecs import BloscCodec  # noqa: PLC0415
    from zarr.core.sync import sync  # noqa: PLC0415

    async def create_all() -> None:
        group = await zasync.open_group(store=str(out), mode="r+", zarr_format=3)
        jobs = []
        for name, var in template.data_vars.items():
            attrs = {k: encode_zarr_attr_value(v) for k, v in var.attrs.items()}
            fill = None
            if var.dtype.kind == "f":
                fill = np.nan
                attrs["_FillValue"] = FillValueCoder.encode(np.nan, var.dtype)
            jobs.append(
                group.create_array(
                    name,
                    shape=var.shape,
                    dtype=var.dtype,
                    chunks=tuple(int(c[0]) for c in var.chunks),
                    fill_value=fill,
                    compressors=(BloscCodec(cname="zstd", clevel=clevel, shuffle="bitshuffle"),),
                    dimension_names=var.dims,
                    attributes=attrs,
                )
            )
        await asyncio.gather(*jobs)

    sync(create_all())


def _versions() -> dict[str, str]:
    import importlib.metadata as md  # noqa: PLC0415

    out = {"python": platform.python_version()}
    for pkg in ("hyperspec-maps", "numpy", "scipy", "xarray", "dask", "zarr", "numba", "cupy-cuda12x", "distributed"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def _existing(out: Path, digest: str, overwrite: bool) -> str:
    """'new', 'resume' or 'done' for the output path; refuse a store written by another recipe."""
    from hyperspec.io.zarr_ import _read_root_attrs, is_store  # noqa: PLC0415

    if not out.exists() or overwrite:
        return "new"
    if not is_store(out):
        raise StoreExistsError(f"{out} exists and is not a hyperspec store; choose another output path.")
    attrs = _read_root_attrs(out)
    if attrs.get("recipe_hash") is None and not attrs.get("hyperspec_complete") and (out / DONE).exists():
        return "new"  # killed while the run was creating this store: start it again
    if attrs.get("recipe_hash") != digest:
        raise StoreExistsError(
            f"{out} was written by a different recipe or from another (or since changed) input "
            f"(hash {attrs.get('recipe_hash')}, this one {digest}); "
            "re-running into it is refused. Pass --overwrite (overwrite=True) to replace it, or choose another output."
        )
    return "done" if attrs.get("hyperspec_complete") else "resume"


def run_recipe(
    recipe,
    *,
    input: str | None = None,  # noqa: A002
    output: str | None = None,
    backend: str | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    stream=None,
    on_progress=None,
    cancel=None,
    trust_recipe: bool = False,
    jobqueue: dict | None = None,
    wait: bool | float = False,
) -> Path:
    """Run a recipe (a path to a TOML file or a dict); returns the output store's path.

    ``input``, ``output``, ``backend``, ``scheduler`` and ``jobqueue`` override the recipe. Re-running an
    interrupted run with the same recipe resumes it; a finished one is left as it is.

    Everything is checked before any work: the recipe's values against their declared types and
    ranges, and the variables its ``[[analysis]]`` entries name against those the run writes. A
    recipe file is data: fields that run code or reach other machines (``[compute.jobqueue]
    job_script_prologue`` / ``job_extra_directives``, a remote ``[compute] scheduler``) are refused
    in it unless ``trust_recipe`` (give them as ``scheduler`` / ``jobqueue`` here instead). One run
    at a time writes an output: the run holds ``<output>.lock`` (``hyperspec.pipeline.lock``).

    Parameters
    ----------
    recipe : str, Path or dict
        A TOML recipe file or a parsed recipe.
    input, output : str, optional
        Override ``[input] path`` / ``[output] path``.
    backend, scheduler : str, optional
        Override ``[compute] backend`` / ``scheduler``.
    overwrite : bool
        Replace an output written by another recipe.
    progress : bool
        Report progress (%, px/s, ETA) to ``stream``.
    stream : file, optional
        Where progress goes; default stderr.
    on_progress : callable, optional
        Called as ``on_progress(event)`` with a ``RunProgress`` (chunk index just written, chunks and
        pixels of the store written so far and in all, pixels/s, ETA s) after every chunk written, in
        the thread that called ``run_recipe``; an exception it raises stops the run like a cancel
        (the store stays resumable) and propagates.
    cancel : threading.Event, optional
        Checked between chunks: once set, no further chunk starts (chunks not yet started are
        dropped; running ones finish and keep their flags, or on a Dask cluster are abandoned: their
        futures are cancelled, a task may still complete its region and flag), and ``RunCancelled``
        is raised. The store is left partial: running the same recipe into it again resumes it.
    trust_recipe : bool
        Accept, from a recipe file, the fields that run shell commands on a cluster or send work to
        a remote scheduler (``hyperspec.pipeline.recipe.check_trusted``). Default False.
    jobqueue : dict, optional
        Keys merged into ``[compute.jobqueue]`` (the caller's, so trusted: ``job_script_prologue``,
        ``job_extra_directives`` …).
    wait : bool or float
        When another run holds the output's lock: False (default) refuse at once, True wait for it,
        a number wait at most that many seconds.

    Returns
    -------
    Path
        The results store.

    Raises
    ------
    RecipeError
        An invalid recipe.
    StoreExistsError
        The output was written by a different recipe (and not ``overwrite``).
    StoreLockedError
        Another run is writing the output (its lock names its pid, host and start time), and
        ``wait`` is False or ran out.
    RunCancelled
        ``cancel`` was set before every chunk was written (its ``chunks_done`` and ``n_chunks`` say how far).

    Examples
    --------
    >>> import tempfile, pathlib, hyperspec
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = hyperspec.synthetic.write("map", d / "m.zarr", (2, 3), n_spectral=64, seed=0, progress=False)
    >>> rec = {"input": {"path": str(d / "m.zarr")}, "preprocess": [{"step": "remove_spikes"}], "output": {"path": str(d / "o.zarr")}}
    >>> int(hyperspec.open(run_recipe(rec, backend="numpy", progress=False))["n_spikes"].sum()) >= 0
    True
    """
    import zarr  # noqa: PLC0415

    from hyperspec import cluster  # noqa: PLC0415
    from hyperspec._backend import resolve_backend  # noqa: PLC0415
    from hyperspec.io.zarr_ import create_store, mark_complete  # noqa: PLC0415
    from hyperspec.model import shift_axis  # noqa: PLC0415

    stream = stream if stream is not None else sys.stderr
    if isinstance(recipe, (str, Path)):
        recipe = load_recipe(recipe)
    else:
        text = recipe.get("_text") if isinstance(recipe, dict) else None
        private = {k: recipe[k] for k in ("_text", "_source") if recipe.get(k)}
        recipe = {**validate_recipe({k: v for k, v in recipe.items() if not k.startswith("_")}, text=text), **private}
    check_trusted(recipe, trust_recipe)  # the recipe's own fields, before the caller's overrides
    if jobqueue:
        recipe["compute"]["jobqueue"] = {**recipe["compute"].get("jobqueue", {}), **jobqueue}
    if input is not None:
        recipe["input"]["path"] = str(input)
    if output is not None:
        recipe["output"]["path"] = str(output)
    if backend is not None:
        recipe["compute"]["backend"] = backend
    if scheduler is not None:
        recipe["compute"]["scheduler"] = scheduler
    be = resolve_backend(recipe["compute"].get("backend"))  # unset: $HYPERSPEC_BACKEND, else auto
    recipe["compute"]["backend"] = be.name
    out = Path(recipe["output"]["path"])
    say = (lambda msg: print(msg, file=stream, flush=True)) if progress else (lambda msg: None)
    inp = recipe["input"]["path"]
    check_output_paths(out, [inp], what="output store")  # before anything is deleted
    check_output_paths(_pre_path(out), [inp], what="whole-map intermediate store")
    for key in ("png", "csv"):  # report paths named in [output]
        if isinstance(recipe["output"].get(key), str):
            check_output_paths(recipe["output"][key], [inp], what=f"[output] {key}")
    _check_analysis_variables(recipe)
    _say_output_paths(recipe, out, say, overridden=output is not None)
    with RunLock(out, wait=wait, say=say):
        digest = recipe_hash(recipe)  # of the recipe as written (before whole-map steps redirect the input), input identity included
        state = _existing(out, digest, overwrite)
        if state == "done":
            say(
                f"{out} is complete for this recipe (hash {digest}); nothing to do"
                + (" but its analyses." if recipe.get("analysis") else ".")
            )
            if recipe.get("analysis"):  # not in the hash: an added or edited [[analysis]] runs (its groups are replaced)
                _run_analyses(recipe, out, say)
            return out
        asked = overwrite  # the user's word: only it may replace a _pre.zarr that is not ours
        if state == "new" and out.exists():
            overwrite = True  # ours, interrupted before its recipe was recorded (or overwrite was asked)
        _whole_map_pass(recipe, out, asked, say)
        ds = _open_input(recipe)
        if "decompose" in recipe:
            shift_axis(ds)  # a clear error now if the laser is unknown
        plan = plan_chunks(ds, recipe["compute"], recipe["preprocess"])
        n_pix = plan["n_rows"] * plan["row_pixels"]
        t0 = time.perf_counter()
        todo = list(range(plan["n_chunks"]))
        rows_of = {k: min(plan["rows"], plan["n_rows"] - k * plan["rows"]) for k in todo}
        run_px = n_pix
        if state == "new":
            template = _template(recipe, ds, plan)
            direct = [n for n in template.data_vars if n != DONE and _plain_result(template[n].variable)]
            # the coordinates, the flags and any unusual variable through xarray; the rest created concurrently below
            writes = create_store(template.drop_vars(direct), out, overwrite=overwrite, chunks={plan["dim"]: plan["rows"], "run_chunk": 1})
            del writes  # metadata only: every chunk is written by its task
            _create_result_arrays(template[direct], out)
            group = zarr.open_group(str(out), mode="r+", zarr_format=3)
            public = {k: v for k, v in recipe.items() if not k.startswith("_")}
            group.attrs.update(
                {
                    "recipe_hash": digest,
                    "recipe": json.dumps(public, default=str),
                    "recipe_text": recipe.get("_text", ""),
                    "chunk_plan": plan,
                }
            )
        else:
            plan = dict(zarr.open_group(str(out), mode="r", zarr_format=3).attrs["chunk_plan"])  # the chunks the store was laid out in
            rows_of = {k: min(plan["rows"], plan["n_rows"] - k * plan["rows"]) for k in range(plan["n_chunks"])}
            todo = list(range(plan["n_chunks"]))
            done = np.asarray(zarr.open_array(str(out / DONE), mode="r")[:], dtype=bool)
            todo = [k for k in todo if not done[k]]
            run_px = sum(rows_of[k] for k in todo) * plan["row_pixels"]
            say(f"resuming {out}: {plan['n_chunks'] - len(todo)} of {plan['n_chunks']} chunks already written")
        ex = cluster.executor(recipe["compute"], be.name)
        chunks = f"{plan['n_chunks']} chunks of {plan['rows']} {plan['dim']} rows ({n_pix:,} px)"
        say(f"hyperspec: backend {be.name} ({be.reason}); {ex.description}; {chunks}")
        n_done_px, t_run = 0, time.perf_counter()
        todo_px = sum(rows_of[k] for k in todo) * plan["row_pixels"]
        store_px = plan["n_rows"] * plan["row_pixels"]
        before_px = store_px - todo_px  # written by an earlier, interrupted run
        written: list[int] = []
        stopping, result_attrs = False, None
        # pixels of the store, counted as each chunk's future completes (threads and dask.distributed alike)
        bar = PixelProgress("run", store_px, initial=before_px, stream=stream, mode=None if progress else "none")
        try:
            if cancel is not None and cancel.is_set():
                futures = []
            elif cancel is not None and ex.name == "threads":  # a task still queued when the run is cancelled returns at once
                futures = [ex.submit(_unless_cancelled, cancel, _process_chunk, recipe, plan, k, str(out)) for k in todo]
            else:
                futures = [ex.submit(_process_chunk, recipe, plan, k, str(out)) for k in todo]
            for fut in ex.as_completed(futures):
                if fut.cancelled():
                    continue
                info = fut.result()
                if info is None:  # not started: the run was cancelled
                    continue
                written.append(info["k"])
                if result_attrs is None:  # the results' own attrs (model, engine, history), as the first finished chunk reports them
                    result_attrs = info["attrs"]
                n_done_px += info["pixels"]
                now = time.perf_counter()
                el = now - t_run
                eta = el * (todo_px - n_done_px) / max(n_done_px, 1)
                bar.update(info["pixels"])
                if on_progress is not None:
                    on_progress(
                        RunProgress(chunk=int(info["k"]), chunks_done=plan["n_chunks"] - len(todo) + len(written),
                                    n_chunks=plan["n_chunks"], pixels_done=before_px + n_done_px, pixels_total=store_px,
                                    pixels_per_s=n_done_px / max(el, 1e-9),
                                    eta_s=eta, elapsed_s=el, output=str(out))
                    )  # fmt: skip
                if cancel is not None and cancel.is_set() and not stopping:
                    stopping = True
                    for f in futures:  # the queued ones; running ones finish (and are counted above)
                        f.cancel()
        finally:
            bar.close("")  # the bar goes; the "run: done" / "run: cancelled" line below is the last one
            ex.close()
        if len(written) < len(todo):  # cancelled (a failed chunk raises above)
            _record_cancelled(out, result_attrs, n_done_px, time.perf_counter() - t0, state, be.name, ex.description)
            # from the flags: a Dask task already running when its future was cancelled may have finished (abandoned)
            n_written = int(np.count_nonzero(zarr.open_array(str(out / DONE), mode="r")[:]))
            say(f"run: cancelled, {n_written} of {plan['n_chunks']} chunks of {out} written")
            raise RunCancelled(
                f"run cancelled: {n_written} of {plan['n_chunks']} chunks of {out} written; run the same recipe into it again to resume.",
                output=out, chunks_done=n_written, n_chunks=plan["n_chunks"],
            )  # fmt: skip
        elapsed = time.perf_counter() - t0
        group = zarr.open_group(str(out), mode="r+", zarr_format=3)
        runs = list(group.attrs.get("runs", []))
        runs.append(
            {
                "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "pixels": run_px,
                "seconds": round(elapsed, 3),
                "pixels_per_s": round(run_px / max(elapsed, 1e-9), 1),
                "resumed": state == "resume",
                "backend": be.name,
                "executor": ex.description,
                "host": platform.node(),
            }
        )
        # written here, after every chunk: rewriting the root zarr.json while tasks write their regions lets a
        # task's group listing see the half-written metadata file (a zarr warning, an error under pytest)
        group.attrs.update({**(result_attrs or {}), "runs": runs, "versions": _versions(), "backend": be.name})
        mark_complete(out)
        say(f"run: done, {run_px:,} px in {_fmt_time(elapsed)} ({format_rate(run_px, elapsed)}) -> {out}")
        _write_outputs(recipe, out, say)
        return out


def _result_names(recipe: dict) -> list[str]:
    """The variables a run of ``recipe`` writes into its results store, from the declarations alone."""
    names = [name for name, _, _ in _steps.decompose_outputs(recipe["decompose"])] if "decompose" in recipe else []
    return names + [o.name for o in _steps.step_outputs(recipe["preprocess"]) if o.name not in names]


def _check_analysis_variables(recipe: dict) -> None:
    """Refuse, before any work, an ``[[analysis]]`` entry naming a results variable the run does not write."""
    from hyperspec.pipeline.analyses import get_analysis  # noqa: PLC0415

    if not recipe.get("analysis"):
        return
    names = _result_names(recipe)
    source, text = recipe.get("_source", "recipe"), recipe.get("_text")
    for i, entry in enumerate(recipe["analysis"]):
        rec = get_analysis(entry["step"])
        if rec.input != "results":
            continue
        for key in rec.dataarray_params:
            value = entry.get(key)
            if not isinstance(value, str) or value in names or (key in rec.string_values and key not in rec.variable_keys):
                continue
            line = _line_of(text, "analysis", key, i) or _line_of(text, "analysis", None, i)
            raise RecipeError(
                f"{source}{line}: analysis {i + 1} ({rec.name!r}): {key} = {value!r} names no variable this run writes."
                f"{_steps._hint(value, names)} It writes {', '.join(names) or 'no variables'}."
            )


def _say_output_paths(recipe: dict, out: Path, say, *, overridden: bool) -> None:
    """Print where the run writes; note paths of a recipe file that lead outside its folder (``..``, absolute)."""
    say(f"output: {resolved(out)}")
    source = recipe.get("_source")
    if source is None:
        return
    folder = resolved(Path(source).parent)
    named = [("path", out)] if not overridden else []
    named += [(k, Path(recipe["output"][k])) for k in ("png", "csv") if isinstance(recipe["output"].get(k), str)]
    for key, path in named:
        where = resolved(path)
        if where != folder and folder not in where.parents:
            say(f"note: {source}: [output] {key} leads outside the recipe's folder {folder}: writing {where}")


def _record_cancelled(out: Path, result_attrs: dict | None, pixels: int, seconds: float, state: str, backend: str, executor: str) -> None:
    """Note a cancelled run in the partial store's ``runs`` attr (and the results' attrs, so a viewer can read it); not complete."""
    import zarr  # noqa: PLC0415

    group = zarr.open_group(str(out), mode="r+", zarr_format=3)
    runs = list(group.attrs.get("runs", []))
    runs.append(
        {
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "pixels": pixels,
            "seconds": round(seconds, 3),
            "cancelled": True,
            "resumed": state == "resume",
            "backend": backend,
            "executor": executor,
            "host": platform.node(),
        }
    )
    group.attrs.update({**(result_attrs or {}), "runs": runs})


def _write_outputs(recipe: dict, out: Path, say) -> None:
    from hyperspec.pipeline.outputs import write_report  # noqa: PLC0415

    opts = recipe["output"]
    if recipe.get("analysis"):
        _run_analyses(recipe, out, say)
    if not opts.get("png") and not opts.get("csv"):
        return
    png = None if not opts.get("png") else Path(opts["png"]) if isinstance(opts["png"], str) else out.with_name(out.stem + "_png")
    csv = None if not opts.get("csv") else Path(opts["csv"]) if isinstance(opts["csv"], str) else out.with_name(out.stem + "_regions.csv")
    for path in write_report(out, png_dir=png, csv_path=csv):
        say(f"wrote {path}")


def _run_analyses(recipe: dict, out: Path, say) -> None:
    """The recipe's ``[[analysis]]`` entries on its results: groups into ``out``, files into ``<out>_analysis``."""
    from hyperspec.pipeline.outputs import run_analyses  # noqa: PLC0415

    for path in run_analyses(out, recipe["analysis"], out.with_name(out.stem + "_analysis"), map_store=recipe["input"]["path"]):
        say(f"wrote {path}")
