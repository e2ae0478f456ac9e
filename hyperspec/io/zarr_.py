"""The native hyperspec store: Zarr v3, chunked over pixels, spectra whole, Blosc/Zstd.

Layout of a store (a directory):

- root group: the Dataset (``spectra`` and coords for a map; band variables for results);
- optional sub-groups (e.g. ``truth`` for the synthetic generator's ground truth);
- root attrs: ``hyperspec_schema`` (int), ``hyperspec_version``, ``hyperspec_complete``
  (False while writing, True only once every chunk of every group is written),
  ``hyperspec_groups`` and the Dataset's own attrs (``laser_nm``, ``history`` …).

A store whose ``hyperspec_complete`` is False was interrupted: ``open`` refuses it unless
asked (``allow_incomplete=True``) so a half-written store never passes for a complete one.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr

from hyperspec._errors import StoreError, StoreExistsError, StoreNotFoundError
from hyperspec._progress import Progress
from hyperspec.model import SPECTRAL_DIM, history_records, validate_map

__all__ = ["SCHEMA_VERSION", "save", "create_store", "mark_complete", "open_store", "store_info", "is_store", "default_chunks",
           "verify_store"]  # fmt: skip

#: Version of the on-disk layout; bump on incompatible changes and keep readers for old ones.
SCHEMA_VERSION = 1
DEFAULT_CHUNK_BYTES = 16 * 2**20
# every chunk is written, an all-NaN (fill-value) one too, so a chunk missing from a complete store is damage (verify_store)
zarr.config.set({"array.write_empty_chunks": True})
_COMPLETE = "hyperspec_complete"
_SCHEMA = "hyperspec_schema"


def _version() -> str:
    from hyperspec import __version__  # noqa: PLC0415

    return __version__


def is_store(path: str | Path) -> bool:
    """Tell whether ``path`` is a Zarr v3 directory store (it holds a ``zarr.json``).

    Parameters
    ----------
    path : str or Path
        Any path; it need not exist.

    Returns
    -------
    bool
        True when ``path`` is a directory with a ``zarr.json`` file. The file is not read: a
        Zarr v3 store that is not a hyperspec one also gives True (``open_store`` tells them apart).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.zarr_ import is_store, save
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(is_store(save(ds, f"{tmp}/map.zarr", progress=False)), is_store(tmp))
    True False
    """
    p = Path(path)
    return p.is_dir() and (p / "zarr.json").is_file()


def default_chunks(ds: xr.Dataset, *, target_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[str, int]:
    """Pixel chunking for ``ds``: the spectral dim whole, leading dims split so one chunk ≈ ``target_bytes``.

    The reference variable is ``spectra`` when present, else the largest data variable; its
    leading dims get Dask's ``"auto"`` chunking under the byte limit.

    Parameters
    ----------
    ds : xarray.Dataset
        A map or results Dataset (needs at least one data variable).
    target_bytes : int, optional
        Bytes per chunk of the reference variable. Default ``DEFAULT_CHUNK_BYTES`` (16 MiB).

    Returns
    -------
    dict of str to int
        Chunk size of every dim of ``ds``: ``spectral`` (and every dim the reference
        variable lacks) whole.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.zarr_ import default_chunks
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> default_chunks(ds)
    {'y': 2, 'x': 3, 'spectral': 16}
    >>> default_chunks(ds, target_bytes=64)  # one 16-channel float32 spectrum per chunk
    {'y': 1, 'x': 1, 'spectral': 16}
    """
    if "spectra" in ds.data_vars:
        ref = ds["spectra"]
    else:
        ref = max(ds.data_vars.values(), key=lambda v: v.size * v.dtype.itemsize)
    dims = list(ref.dims)
    chunks_spec = tuple(-1 if d == SPECTRAL_DIM else "auto" for d in dims)
    chunks = da.core.normalize_chunks(chunks_spec, ref.shape, limit=target_bytes, dtype=ref.dtype)
    out = {d: int(c[0]) for d, c in zip(dims, chunks, strict=True)}
    for name, size in ds.sizes.items():
        if name not in out:
            out[name] = int(size)
    return out


def _prepare(ds: xr.Dataset, chunks: Mapping[str, int] | None) -> tuple[xr.Dataset, dict[str, tuple[int, ...]]]:
    """Align ``ds`` with the store's chunking (spectral whole); return it and each variable's zarr chunks.

    Dask-backed variables are rechunked so dask chunks equal zarr chunks (they are written
    lazily, chunk by chunk); NumPy-backed ones stay in memory and are written when the store is
    created (coordinates, small truth arrays, in-memory maps).
    """
    if chunks is None:
        if any(v.chunks is not None for v in ds.data_vars.values()):
            ds = ds.unify_chunks()
            chunks = {d: int(c[0]) for d, c in ds.chunks.items()}
        else:
            chunks = default_chunks(ds)
    chunks = {d: int(c) for d, c in chunks.items() if d in ds.dims and d != SPECTRAL_DIM}
    out = ds.copy()
    zchunks: dict[str, tuple[int, ...]] = {}
    for name, var in ds.variables.items():
        if name in ds.dims or var.ndim == 0:
            continue  # index coordinates are written whole
        target = tuple(max(1, min(chunks.get(d, size), size)) for d, size in zip(var.dims, var.shape, strict=True))
        if var.chunks is not None:
            out[name] = var.chunk(dict(zip(var.dims, target, strict=True)))
        zchunks[name] = target
    for name in out.variables:  # variables loaded from a store carry their old encoding; drop it
        out[name].encoding = {}
    return out, zchunks


def _encoding(ds: xr.Dataset, clevel: int, zchunks: Mapping[str, tuple[int, ...]]) -> dict[str, dict[str, Any]]:
    from zarr.codecs import BloscCodec  # noqa: PLC0415

    enc: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        if var.dtype.kind in "fiub":
            enc[name] = {"compressors": (BloscCodec(cname="zstd", clevel=clevel, shuffle="bitshuffle"),)}
        if name in zchunks:
            inner = _inner_chunks(var.dims, zchunks[name])
            if inner is None:
                enc.setdefault(name, {})["chunks"] = zchunks[name]
            else:  # a shard per (Dask) chunk, read one inner chunk at a time
                enc.setdefault(name, {}).update(chunks=inner, shards=zchunks[name])
    return enc


#: Pixels per side of the inner chunks of a sharded spectral array (16 x 16 x 1024 float32 spectra = 1 MiB).
INNER_PIXELS = 16


def _inner_chunks(dims: tuple[str, ...], chunks: tuple[int, ...]) -> tuple[int, ...] | None:
    """The inner chunks of a sharded spectral variable, or None to store it unsharded.

    A variable with the spectral dim last is stored as one Zarr shard per chunk (the unit Dask reads and
    writes, so writes never share a shard), split into inner chunks of at most ``INNER_PIXELS`` along the two
    innermost leading dims (1 along any other), whole spectra. One spectrum then reads one inner chunk: on the
    1000x1000x1024 map a pixel took 28-48 ms unsharded (the whole 16 MiB chunk decoded) and 1.7-3.2 ms sharded,
    a whole chunk 58-71 ms against 17-29 ms, at the same size on disk (measured 2026-12-03, 2-core Xeon, warm cache).
    """
    if len(dims) < 2 or dims[-1] != SPECTRAL_DIM:
        return None
    lead = list(chunks[:-1])
    inner = []
    for i, c in enumerate(lead):
        if i < len(lead) - 2:
            inner.append(1)
            continue
        best = max(k for k in range(1, min(INNER_PIXELS, c) + 1) if c % k == 0)
        if c > INNER_PIXELS and best < INNER_PIXELS // 4:
            return None  # a chunk side with no useful divisor: tiny inner chunks would cost more than they save
        inner.append(best)
    inner.append(chunks[-1])
    if tuple(inner) == tuple(chunks):
        return None
    return tuple(inner)


def _check_target(path: Path, overwrite: bool) -> None:
    if not path.exists():
        return
    if not overwrite:
        raise StoreExistsError(
            f"{path} already exists; refusing to overwrite it. Pass overwrite=True "
            "(CLI: --overwrite) to replace it, or choose another output path."
        )
    if not is_store(path):
        raise StoreExistsError(
            f"{path} exists and is not a Zarr store; refusing to delete it even with overwrite=True. "
            "Remove it yourself or choose another output path."
        )
    shutil.rmtree(path)


def _check_not_source(path: Path, datasets: list[xr.Dataset]) -> None:
    """Refuse writing ``path`` when a lazily loaded Dataset still reads from a store at, in or around it."""
    from hyperspec._paths import check_output_paths  # noqa: PLC0415

    sources = [d.attrs.get("store") for d in datasets if any(v.chunks is not None for v in d.variables.values())]
    check_output_paths(path, [s for s in sources if isinstance(s, (str, Path))], what="output store")


def create_store(
    ds: xr.Dataset,
    path: str | Path,
    *,
    overwrite: bool = False,
    groups: Mapping[str, xr.Dataset] | None = None,
    chunks: Mapping[str, int] | None = None,
    clevel: int = 1,
) -> list:
    """Create the store's metadata and coordinates (marked incomplete); return the lazy data writes.

    Computing every returned ``dask.delayed`` write and then calling ``mark_complete(path)``
    finishes the store; a writer may instead fill the chunks itself (the synthetic generator
    does, one block at a time) before ``mark_complete``.

    Parameters
    ----------
    ds : xarray.Dataset
        The root Dataset: a map (validated with ``validate_map`` when it has ``spectra``) or
        results on a map's grid.
    path : str or Path
        The store directory to create.
    overwrite : bool, optional
        Replace an existing Zarr store at ``path`` (a non-store path is never deleted). Default False.
    groups : mapping of str to xarray.Dataset, optional
        Sub-group Datasets (e.g. ``{"truth": truth}``), chunked like the root's ``spectra``.
    chunks : mapping of str to int, optional
        Chunk sizes of the leading dims; default: the data's Dask chunks, else ``default_chunks``
        (≈16 MiB). The spectral dim is never split.
    clevel : int, optional
        Blosc/Zstd compression level (bit-shuffled). Default 1.

    Returns
    -------
    list of dask.delayed.Delayed
        One lazy write per group (root first); NumPy-backed variables are already written.

    Raises
    ------
    StoreExistsError
        ``path`` exists and ``overwrite`` is False, or it exists and is not a Zarr store, or
        ``ds`` (or a group) is still lazily read from a store (``attrs["store"]``) that is, contains
        or lies inside ``path`` (checked before anything is deleted).
    StoreError
        A group name is empty, contains ``/`` or starts with ``.``.
    DataModelError, AxisError
        ``ds`` has ``spectra`` but is not a valid map (see ``hyperspec.validate_map``).

    Examples
    --------
    >>> import tempfile
    >>> import dask
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.zarr_ import create_store, mark_complete, open_store
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     writes = create_store(ds, f"{tmp}/map.zarr")
    ...     _ = dask.compute(*writes)
    ...     mark_complete(f"{tmp}/map.zarr")
    ...     print(len(writes), dict(open_store(f"{tmp}/map.zarr").sizes))
    1 {'y': 2, 'x': 3, 'spectral': 16}
    """
    path = Path(path)
    if "spectra" in ds.data_vars:
        validate_map(ds, source="the Dataset to save")
    groups = dict(groups or {})
    for name in groups:
        if not name or "/" in name or name.startswith("."):
            raise StoreError(f"group name {name!r} is invalid; use a plain name such as 'truth'.")
    _check_not_source(path, [ds, *groups.values()])
    _check_target(path, overwrite)

    root, zchunks = _prepare(ds, chunks)
    attrs = dict(ds.attrs)
    attrs[_SCHEMA] = SCHEMA_VERSION
    attrs["hyperspec_version"] = _version()
    attrs[_COMPLETE] = False
    attrs["hyperspec_groups"] = sorted(groups)
    root.attrs = attrs
    writes = [root.to_zarr(path, mode="w-", zarr_format=3, consolidated=False, encoding=_encoding(root, clevel, zchunks), compute=False)]
    used = {d: zchunks["spectra"][i] for i, d in enumerate(ds["spectra"].dims)} if "spectra" in zchunks else dict(chunks or {})
    for name, gds in groups.items():
        g, gz = _prepare(gds, {d: c for d, c in used.items() if d in gds.dims} or None)
        g.attrs = dict(gds.attrs)
        writes.append(
            g.to_zarr(path, group=name, mode="w-", zarr_format=3, consolidated=False, encoding=_encoding(g, clevel, gz), compute=False)
        )
    return writes


def _with_quicklook(ds: xr.Dataset, groups: Mapping[str, xr.Dataset] | None) -> dict[str, xr.Dataset]:
    """``groups`` plus a map's quick-look images (``hyperspec.bands.windows.quicklook``) as group ``quicklook``.

    They are lazy on the same Dask graph as ``spectra``, so ``save`` computes them in its one
    streaming pass (each chunk is read once); a viewer then opens a big map without reading its spectra.
    Results (no ``spectra``), an explicit ``quicklook`` group and invalid maps are left as they are.
    """
    from hyperspec._errors import HyperspecError  # noqa: PLC0415
    from hyperspec.bands.windows import QUICKLOOK_GROUP, quicklook  # noqa: PLC0415

    groups = dict(groups or {})
    if "spectra" not in ds.data_vars or QUICKLOOK_GROUP in groups:
        return groups
    try:
        groups[QUICKLOOK_GROUP] = quicklook(ds, backend="numpy")
    except HyperspecError:  # not a valid map: create_store says why
        pass
    return groups


def save(
    ds: xr.Dataset,
    path: str | Path,
    *,
    overwrite: bool = False,
    groups: Mapping[str, xr.Dataset] | None = None,
    chunks: Mapping[str, int] | None = None,
    clevel: int = 1,
    progress: bool = True,
    label: str = "save",
) -> Path:
    """Write a map (or results) Dataset to a hyperspec Zarr v3 store, chunk by chunk.

    Parameters
    ----------
    ds : xarray.Dataset
        A map (``spectra`` on ``(..., "spectral")``) or any Dataset on a map's grid.
        Dask-backed data streams to disk one chunk at a time.
    path : str or Path
        The store directory. An existing path is refused unless ``overwrite=True``
        (and even then only a Zarr store is ever deleted).
    groups : mapping of str to Dataset, optional
        Extra Datasets written as sub-groups in the same pass (e.g. ``{"truth": truth}``). A map
        also gets its quick-look images (``hyperspec.bands.windows.quicklook``: total and peak counts,
        band-window integrals) in group ``quicklook``, computed in the same pass.
    chunks : mapping of dim to int, optional
        Chunk sizes of the leading dims; default: the data's dask chunks, else ~16 MiB chunks.
        The spectral dim is never split.
    overwrite : bool, optional
        Replace an existing Zarr store at ``path``. Default False.
    clevel : int, optional
        Blosc/Zstd level (bit-shuffled); 1 writes ~3× faster than 5 at the same ratio on noisy
        spectra. Default 1.
    progress : bool, optional
        Print progress (pixels/s, ETA) to stderr. Default True.
    label : str, optional
        The progress line's prefix. Default ``"save"``.

    Returns
    -------
    Path
        The store's path. Its ``hyperspec_complete`` attr turns True only after every chunk.

    Raises
    ------
    StoreExistsError
        ``path`` exists and ``overwrite`` is False, or it exists and is not a Zarr store, or
        ``ds`` (or a group) is still lazily read from a store (``attrs["store"]``) that is, contains
        or lies inside ``path`` (checked before anything is deleted).
    StoreError
        A group name is empty, contains ``/`` or starts with ``.``.
    DataModelError, AxisError
        ``ds`` has ``spectra`` but is not a valid map (see ``hyperspec.validate_map``).

    See Also
    --------
    open_store : open it again, lazily.
    create_store : the same in two steps (metadata now, data writes later).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = hs.save(ds, f"{tmp}/map.zarr", progress=False)
    ...     print(path.name, hs.open(path).spectra.shape)
    map.zarr (2, 3, 16)
    """
    path = Path(path)
    groups = _with_quicklook(ds, groups)
    writes = create_store(ds, path, overwrite=overwrite, groups=groups, chunks=chunks, clevel=clevel)
    lead = [d for d in ds.dims if d != SPECTRAL_DIM]
    n_pix = int(np.prod([ds.sizes[d] for d in lead], dtype=np.int64))
    with Progress(f"{label} {path.name}", n_pix, enabled=progress):
        dask.compute(*writes)
    mark_complete(path)
    return path


def mark_complete(path: str | Path) -> None:
    """Mark a store complete (every chunk of every group written).

    Sets the root attrs ``hyperspec_complete = True`` and ``hyperspec_completed`` (the UTC time,
    ISO 8601). Call it only once every write of ``create_store`` has been computed.

    Parameters
    ----------
    path : str or Path
        A store made by ``create_store``.

    Examples
    --------
    >>> import tempfile
    >>> import dask
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.zarr_ import create_store, mark_complete, store_info
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = dask.compute(*create_store(ds, f"{tmp}/map.zarr"))
    ...     before = store_info(f"{tmp}/map.zarr")["complete"]
    ...     mark_complete(f"{tmp}/map.zarr")
    ...     print(before, store_info(f"{tmp}/map.zarr")["complete"])
    False True
    """
    import zarr  # noqa: PLC0415

    group = zarr.open_group(str(path), mode="r+", zarr_format=3)
    group.attrs.update({_COMPLETE: True, "hyperspec_completed": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})


def _read_root_attrs(path: Path) -> dict[str, Any]:
    meta = path / "zarr.json"
    try:
        doc = json.loads(meta.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{meta} is unreadable or not valid JSON ({exc}); the store is corrupt.") from None
    if not isinstance(doc, dict) or doc.get("node_type") != "group":
        raise StoreError(f"{path} is a Zarr array, not a group; a hyperspec store is a group with a 'spectra' variable.")
    if doc.get("zarr_format") != 3:
        raise StoreError(f"{path} is Zarr format {doc.get('zarr_format')!r}; hyperspec stores are Zarr v3.")
    attrs = doc.get("attributes", {})
    return attrs if isinstance(attrs, dict) else {}


#: One chunk's decoded size above this is refused at open (a crafted chunk shape would allocate it), bytes.
MAX_CHUNK_BYTES = 2**31
#: The results store's per-chunk flags (hyperspec.pipeline.run.DONE).
_RUN_DONE = "run_chunk_done"


def _node_doc(store: Path, node: Path) -> dict[str, Any]:
    meta = node / "zarr.json"
    try:
        doc = json.loads(meta.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{store}: the metadata of {_rel(store, node)!r} ({meta.name}) is unreadable or not valid JSON ({exc}); "
                         "the store could not be opened (it is corrupt): re-create it from its source.") from None  # fmt: skip
    if not isinstance(doc, dict):
        raise StoreError(f"{store}: the metadata of {_rel(store, node)!r} is not a JSON object; the store is corrupt.")
    return doc


def _rel(store: Path, node: Path) -> str:
    rel = node.relative_to(store).as_posix()
    return "/" if rel == "." else rel


def _chunk_files(store: Path, node: Path) -> set[str]:
    """The chunk files of the array at ``node`` (keys relative to it, ``c/0/1/0``); a symlink is refused."""
    found = set()
    for top, dirs, files in os.walk(node):
        for name in dirs + files:
            full = Path(top) / name
            if full.is_symlink():
                raise StoreError(f"{store}: {_rel(store, full)} is a symbolic link (to {os.readlink(full)}); a hyperspec store "
                                 "holds none (a chunk from elsewhere would read as this array's data): re-create it.")  # fmt: skip
        found.update((Path(top) / f).relative_to(node).as_posix() for f in files if f != "zarr.json")
    return found


def _check_array(store: Path, node: Path, doc: dict[str, Any], complete: bool) -> None:
    """One array's metadata (shape, dtype, chunk grid) and, for a complete store, every chunk file."""
    from zarr.core.metadata.v3 import ArrayV3Metadata  # noqa: PLC0415

    name = _rel(store, node)
    try:
        meta = ArrayV3Metadata.from_dict(dict(doc))
        chunk = tuple(int(c) for c in meta.chunk_grid.chunk_shape)
        itemsize = int(meta.dtype.to_native_dtype().itemsize)
    except Exception as exc:  # zarr raises many types for crafted metadata
        raise StoreError(f"{store}: array {name!r} has impossible metadata ({type(exc).__name__}: {exc}); "
                         "the store is corrupt.") from None  # fmt: skip
    shape = tuple(int(n) for n in meta.shape)
    if len(chunk) != len(shape) or any(c <= 0 for c in chunk) or any(n < 0 for n in shape):
        raise StoreError(f"{store}: array {name!r} declares shape {shape} with chunks {chunk}: corrupt metadata.")
    nbytes = math.prod(min(c, max(n, 1)) for c, n in zip(chunk, shape, strict=True)) * max(itemsize, 1)
    if nbytes > MAX_CHUNK_BYTES:
        raise StoreError(f"{store}: array {name!r} declares chunks of {chunk} ({nbytes / 2**30:.3g} GiB each, more than "
                         f"{MAX_CHUNK_BYTES / 2**30:g} GiB): crafted or corrupt metadata; hyperspec writes chunks of ~16 MiB.")  # fmt: skip
    found = _chunk_files(store, node)
    if not complete:
        return
    grid = tuple(math.ceil(n / c) for n, c in zip(shape, chunk, strict=True))
    n_expected = math.prod(grid)
    keys = {meta.encode_chunk_key(idx) for idx in np.ndindex(grid)} if n_expected <= len(found) + 1 else None
    if keys is not None and keys <= found:
        return
    missing = next((idx for idx in np.ndindex(grid) if meta.encode_chunk_key(idx) not in found), None)
    if missing is None:
        return
    n_there = len(keys & found) if keys is not None else len(found)
    raise StoreError(f"{store}: array {name!r} is missing chunk {missing} (file {name}/{meta.encode_chunk_key(missing)}); "
                     f"{n_there} of the {n_expected} chunks of its shape {shape} are on disk. A missing chunk would read as "
                     "NaN: the store is damaged (or its shape forged); re-create it from its source.")  # fmt: skip


def verify_store(path: str | Path, *, complete: bool = True) -> None:
    """Check a store's structure before it is read: metadata, chunk files, symlinks, recorded variables and run flags.

    Every array of every group is checked: its ``zarr.json`` parses and is possible (a known dtype,
    a chunk shape of one ``MAX_CHUNK_BYTES`` at most); no file or folder is a symbolic link; each
    variable named in an array's ``coordinates`` exists; a map store (root ``spectral_unit``) has
    ``spectra`` and every group in ``hyperspec_groups`` exists. For a complete store every chunk
    file of the chunk grid must be on disk (hyperspec writes all-NaN chunks too, so a missing one
    is damage, not fill value), and a results store's ``run_chunk_done`` flags must all be set.
    Only directory listings and metadata are read, never chunk data.

    Parameters
    ----------
    path : str or Path
        The store directory.
    complete : bool, optional
        The store is marked complete: check chunk files and run flags too. Default True.

    Raises
    ------
    StoreError
        The first problem found, naming the store, the array and the chunk.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.zarr_ import verify_store
    >>> ds = hs.from_array(np.ones((2, 4, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=532.0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     store = hs.save(ds, Path(tmp) / "map.zarr", chunks={"y": 1, "x": 4}, progress=False)
    ...     verify_store(store)  # intact: no error
    ...     (store / "spectra" / "c" / "1" / "0" / "0").unlink()
    ...     verify_store(store)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.StoreError: .../map.zarr: array 'spectra' is missing chunk (1, 0, 0) (file spectra/c/1/0/0); 1 of the 2 chunks ...
    """
    store = Path(path)
    root = _node_doc(store, store)
    arrays: dict[str, dict[str, Any]] = {}
    groups = {"/"}
    for top, dirs, _files in os.walk(store):
        node = Path(top)
        if node != store and node.is_symlink():
            raise StoreError(f"{store}: {_rel(store, node)} is a symbolic link; a hyperspec store holds none: re-create the store.")
        if not (node / "zarr.json").exists():
            continue
        if (node / "zarr.json").is_symlink():
            raise StoreError(f"{store}: {_rel(store, node)}/zarr.json is a symbolic link; a hyperspec store holds none.")
        doc = root if node == store else _node_doc(store, node)
        if doc.get("node_type") == "array":
            arrays[_rel(store, node)] = doc
            _check_array(store, node, doc, complete)
            dirs[:] = []  # the array's chunks were walked by _check_array
        else:
            groups.add(_rel(store, node))
            for d in dirs:
                sub = node / d
                if not sub.is_symlink() and not (sub / "zarr.json").exists() and d != "c" and not d.startswith("."):
                    raise StoreError(f"{store}: {_rel(store, sub)!r} has no metadata (zarr.json): the array's metadata is missing; "
                                     "the store is damaged: re-create it from its source.")  # fmt: skip
    attrs = root.get("attributes") if isinstance(root.get("attributes"), dict) else {}
    if "spectral_unit" in attrs and "spectra" not in arrays:
        raise StoreError(f"{store}: a map store (it records a spectral unit) without its 'spectra' array: the store is damaged.")
    for g in attrs.get("hyperspec_groups", []) or []:
        if str(g) not in groups:
            raise StoreError(f"{store}: group {g!r} is recorded but missing (or has no zarr.json): the store is damaged.")
    for name, doc in arrays.items():
        coords = str((doc.get("attributes") or {}).get("coordinates", "")).split()
        parent = name.rpartition("/")[0]
        for c in coords:
            if (f"{parent}/{c}" if parent else c) not in arrays:
                raise StoreError(f"{store}: array {name!r} names coordinate {c!r}, which is missing: the store is damaged.")
    if complete and _RUN_DONE in arrays:
        import zarr  # noqa: PLC0415

        try:
            flags = np.asarray(zarr.open_array(str(store / _RUN_DONE), mode="r")[...], dtype=bool)
        except Exception as exc:  # a damaged flag chunk
            raise StoreError(f"{store}: array {_RUN_DONE!r} cannot be read ({type(exc).__name__}: {exc}); the store is damaged.") from None
        if not flags.all():
            todo = np.flatnonzero(~flags)
            raise StoreError(f"{store}: marked complete, but run chunks {todo[:8].tolist()}{' …' if todo.size > 8 else ''} of "
                             f"{flags.size} are not flagged written in {_RUN_DONE!r}: the results are incomplete; "
                             "re-run the recipe into this output (it computes only those chunks).")  # fmt: skip


class _CheckedChunks:
    """A lazily indexed store variable whose read errors name the store, the array and the chunk."""

    def __init__(self, inner, store: Path, name: str, chunks: tuple[int, ...], shape, dtype):
        self.inner, self.store, self.name, self.zchunks = inner, store, name, chunks
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __getitem__(self, key):
        try:
            return np.asarray(self.inner[key])
        except Exception as exc:  # noqa: BLE001  (the decoder's RuntimeError, a short read …)
            keys = key if isinstance(key, tuple) else (key,)
            idx = tuple(int((k.start or 0) // c) if isinstance(k, slice) else 0 for k, c in zip(keys, self.zchunks, strict=False))
            raise StoreError(f"{self.store}: array {self.name!r}, chunk {idx} (file {self.name}/c/{'/'.join(map(str, idx))}) "
                             f"cannot be read ({type(exc).__name__}: {exc}); the chunk is truncated or corrupt: re-create the "
                             "store from its source.") from None  # fmt: skip


def _checked(ds: xr.Dataset, store: Path, group: str | None) -> xr.Dataset:
    """``ds`` opened without Dask (``chunks=None``) with every data variable Dask-backed through ``_CheckedChunks``."""
    from dask.base import tokenize  # noqa: PLC0415
    from xarray.core import indexing  # noqa: PLC0415

    stamp = (store / "zarr.json").stat().st_mtime_ns
    for name in list(ds.data_vars):
        var = ds[name].variable
        zchunks = tuple(var.encoding.get("shards") or var.encoding.get("chunks") or var.shape)  # a shard is the unit to read
        label = f"{group}/{name}" if group else name
        inner = indexing.ImplicitToExplicitIndexingAdapter(var._data, indexing.OuterIndexer)
        wrapped = _CheckedChunks(inner, store, label, zchunks, var.shape, var.dtype)
        data = da.from_array(wrapped, chunks=zchunks, asarray=False, name=f"open-{name}-{tokenize(str(store), label, stamp)}")
        ds[name] = xr.Variable(var.dims, data, var.attrs, var.encoding)
    return ds


def open_store(
    path: str | Path,
    *,
    group: str | None = None,
    allow_incomplete: bool = False,
    chunks: Mapping[str, int] | str | None = None,
) -> xr.Dataset:
    """Open a hyperspec Zarr store lazily (Dask-backed); coords are loaded into memory.

    Parameters
    ----------
    path : str or Path
        The store directory.
    group : str, optional
        A sub-group to open (e.g. ``"truth"``) instead of the root.
    allow_incomplete : bool, optional
        Open a store whose writing was interrupted (``hyperspec_complete`` False). Default False.
    chunks : mapping of str to int, or str, optional
        Dask chunks, as for ``xarray.open_zarr``; default: the store's own chunks.

    Returns
    -------
    xarray.Dataset
        The stored Dataset, data variables Dask-backed. For the root group the bookkeeping attrs
        (``hyperspec_complete``, ``hyperspec_groups``) are dropped and ``attrs["store"]`` is the path.

    Raises
    ------
    StoreNotFoundError
        No such path.
    StoreError
        Not a (complete) hyperspec store, a newer schema, no such group, or a corrupt store.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.zarr_ import open_store, save
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = open_store(save(ds, f"{tmp}/map.zarr", progress=False))
    ...     print(back.spectra.dims, back.spectra.chunks is not None, back.attrs["laser_nm"])
    ('y', 'x', 'spectral') True 632.8
    """
    path = Path(path)
    if not path.exists():
        raise StoreNotFoundError(f"{path} does not exist.")
    if not is_store(path):
        raise StoreError(f"{path} is not a hyperspec Zarr store (no zarr.json); instrument files are read by hyperspec.open(path).")
    attrs = _read_root_attrs(path)
    schema = attrs.get(_SCHEMA)
    if schema is None:
        raise StoreError(f"{path} is a Zarr store but not a hyperspec one (no '{_SCHEMA}' attribute); open it with xarray.open_zarr.")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema {schema!r}, newer than this hyperspec ({_version()}, schema "
            f"{SCHEMA_VERSION}) understands; upgrade hyperspec."
        )
    if not attrs.get(_COMPLETE, False) and not allow_incomplete:
        raise StoreError(
            f"{path} is incomplete: its writing was interrupted before every chunk was saved. "
            "Re-run the command that wrote it, or pass allow_incomplete=True to inspect it."
        )
    if group is not None and group not in attrs.get("hyperspec_groups", []):
        raise StoreError(f"{path} has no group {group!r}; it has {attrs.get('hyperspec_groups', [])}.")
    verify_store(path, complete=bool(attrs.get(_COMPLETE, False)))  # metadata, chunk files, symlinks, run flags
    try:
        ds = xr.open_zarr(path, group=group, consolidated=False, zarr_format=3, chunks=None)
        ds = _checked(ds, path, group)  # a chunk that cannot be decoded is a StoreError naming it
        if chunks:
            ds = ds.chunk(chunks)
    except StoreError:
        raise
    except Exception as exc:  # zarr/xarray raise many types for damaged stores
        raise StoreError(
            f"{path}{'/' + group if group else ''} could not be opened as a Zarr v3 store: {type(exc).__name__}: {exc}"
        ) from None
    ds = ds.set_coords([c for c in ds.coords])
    loaded = {}
    for name in ds.coords:
        try:
            loaded[name] = ds[name].load()
        except StoreError:
            raise
        except Exception as exc:  # a damaged coordinate chunk
            raise StoreError(f"{path}: coordinate {name!r} cannot be read ({type(exc).__name__}: {exc}); the store is damaged.") from None
    ds = ds.assign_coords(loaded)
    if group is None:
        for key in (_COMPLETE, "hyperspec_groups"):
            ds.attrs.pop(key, None)
        ds.attrs["store"] = str(path)
    return ds


def store_info(path: str | Path) -> dict[str, Any]:
    """Summary of a store for ``hyperspec info``: dims, sizes, axis, laser, chunks, schema, completeness.

    Incomplete stores are summarised too (``"complete": False``).

    Parameters
    ----------
    path : str or Path
        The store directory.

    Returns
    -------
    dict
        Keys ``path``, ``schema``, ``written_by``, ``complete``, ``groups``, ``dims`` (sizes),
        ``variables`` (dims, dtype, chunks of each), ``laser_nm`` (nm), ``spectral_unit``,
        ``history`` (step names), ``bytes_on_disk``, ``compression_ratio`` (in-memory bytes /
        bytes on disk); and ``(first, last, units)`` under each spectral coordinate present
        (``shift`` cm⁻¹, ``wavelength`` nm, ``energy`` eV) and under ``x_range``, ``y_range``,
        ``t_range``, ``power_range`` for those dims longer than 1.

    Raises
    ------
    StoreNotFoundError
        No such path.
    StoreError
        Not a hyperspec store, a newer schema, or a corrupt store.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.io.zarr_ import save, store_info
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16), laser_nm=632.8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     info = store_info(save(ds, f"{tmp}/map.zarr", progress=False))
    >>> info["complete"], info["dims"], info["laser_nm"]
    (True, {'y': 2, 'x': 3, 'spectral': 16}, 632.8)
    >>> [round(v, 1) if isinstance(v, float) else v for v in info["shift"]]
    [100.0, 400.0, 'cm-1']
    """
    path = Path(path)
    ds = open_store(path, allow_incomplete=True)
    attrs = _read_root_attrs(path)
    info: dict[str, Any] = {
        "path": str(path),
        "schema": attrs.get(_SCHEMA),
        "written_by": f"hyperspec {attrs.get('hyperspec_version', '?')}",
        "complete": bool(attrs.get(_COMPLETE, False)),
        "groups": attrs.get("hyperspec_groups", []),
        "dims": dict(ds.sizes),
        "variables": {},
    }
    for name, var in ds.data_vars.items():
        chunk = tuple(int(c[0]) for c in var.chunks) if var.chunks else None
        info["variables"][name] = {"dims": var.dims, "dtype": str(var.dtype), "chunks": chunk}
    for coord in ("shift", "wavelength", "energy"):
        if coord in ds.coords:
            v = ds[coord].values
            info[coord] = (float(v[0]), float(v[-1]), ds[coord].attrs.get("units", ""))
    info["laser_nm"] = ds.attrs.get("laser_nm")
    info["spectral_unit"] = ds.attrs.get("spectral_unit")
    for dim in ("x", "y", "t", "power"):
        if dim in ds.coords and ds.sizes.get(dim, 0) > 1:
            v = ds[dim].values
            info[f"{dim}_range"] = (float(v[0]), float(v[-1]), ds[dim].attrs.get("units", ""))
    info["history"] = [str(h.get("step", "?")) for h in history_records(ds.attrs)]
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    info["bytes_on_disk"] = size
    nbytes = sum(v.size * v.dtype.itemsize for v in ds.data_vars.values())
    info["compression_ratio"] = (nbytes / size) if size else math.nan
    return info
