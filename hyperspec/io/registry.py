"""The reader registry: one entry per instrument format family, dispatched by content and extension.

``hyperspec.open(path)`` opens a hyperspec Zarr store, or any file a registered reader recognises.
Each reader declares its extensions, whether it reads lazily, what it reads (maps, series, single
spectra) and a content sniffer; a file no reader recognises gives one error listing the formats.
Every reader returns the standard map Dataset (``hyperspec.from_array``), with the file's own
metadata kept in ``attrs["metadata"]``. Third-party failures on corrupt files become ``ReaderError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from hyperspec._errors import HyperspecError, ReaderError

__all__ = ["Reader", "register", "readers", "find_reader", "read", "supported_formats", "guess_unit", "binary_block", "parse_xml"]

LAZY_BYTES = 256 * 2**20  # binary data blocks larger than this are memory-mapped and read lazily (Dask)
#: Spatial units to µm, as files spell them.
LENGTH_TO_UM = {"m": 1e6, "mm": 1e3, "µm": 1.0, "um": 1.0, "micrometer": 1.0, "nm": 1e-3}


@dataclass(frozen=True)
class Reader:
    """A format family: ``sniff(path, head)`` says whether the file is ours (``head``: its first 4 KiB)."""

    name: str
    extensions: tuple[str, ...]
    description: str
    kinds: tuple[str, ...]
    lazy: bool
    sniff: Callable[[Path, bytes], bool]
    read: Callable[..., xr.Dataset]
    requires: str | None = None  # a pip package the reader needs (an optional extra)
    generic: bool = False  # a catch-all layout (delimited text, HDF5): tried after the vendor formats


_READERS: list[Reader] = []


def guess_unit(axis: np.ndarray, unit: str | None, path: Path | None = None) -> str:
    """The unit given, else cm⁻¹ when the axis cannot be wavelengths (negative, or above 1200);
    an axis within 0–1200 is ambiguous (nm or Raman shift) and needs ``unit=``."""
    if unit:
        return unit
    lo, hi = float(np.min(axis)), float(np.max(axis))
    if lo < 0 or hi > 1200:
        return "cm-1"
    raise ReaderError(
        f"{path}: the axis runs {lo:g}…{hi:g} with no unit in the file: wavelength (nm) or Raman shift (cm-1)? "
        "Pass unit='nm' or unit='cm-1' (CLI: --unit)."
    )


def binary_block(path: Path, dtype, offset: int, shape: tuple[int, ...], *, stride: int | None = None, lazy: bool | None = None):
    """The array of ``shape`` stored at byte ``offset`` (frames ``stride`` bytes apart when given).

    Checked against the file size first (a truncated file is a ``ReaderError``, not a short read).
    Small blocks are read into memory; blocks above ``LAZY_BYTES`` (or ``lazy=True``) are memory-mapped
    and returned as a Dask array of whole spectra, so nothing is read until a chunk is used.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    frame = int(np.prod(shape[1:])) * dtype.itemsize if len(shape) > 1 else dtype.itemsize
    step = int(stride) if stride else frame
    if any(n <= 0 for n in shape) or step < frame:
        raise ReaderError(f"{path}: the header declares an impossible data shape {shape} (stride {step} bytes): corrupt header.")
    need = offset + (shape[0] - 1) * step + frame if len(shape) > 1 else offset + shape[0] * dtype.itemsize
    size = path.stat().st_size
    if need > size:
        raise ReaderError(f"{path}: the header declares {shape} values of {dtype} from byte {offset} ({need} bytes), "
                          f"but the file has {size} bytes: truncated or corrupt.")  # fmt: skip
    if len(shape) > 1 and step != frame:
        raw = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(need - offset,))
        mm = np.lib.stride_tricks.as_strided(raw, shape=(shape[0], frame), strides=(step, 1), writeable=False)
        mm = mm.view(dtype).reshape(shape)
    else:
        mm = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if not (lazy or (lazy is None and nbytes > LAZY_BYTES)):
        return np.array(mm)
    return dask_rows(mm, name=f"read-{path.name}-{offset}-{size}")


def dask_rows(array, *, name: str | None = None, chunk_bytes: int = 64 * 2**20):
    """An on-disk (memory-mapped) array as a Dask array of whole rows, about ``chunk_bytes`` per chunk."""
    import dask.array as da  # noqa: PLC0415

    row_bytes = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize)
    rows = max(1, min(array.shape[0], chunk_bytes // row_bytes))
    return da.from_array(array, chunks=(rows,) + tuple(array.shape[1:]), asarray=True, **({"name": name} if name else {}))


def parse_xml(path: Path, raw: bytes):
    """An ElementTree root from ``raw``; a DTD or entity declaration is refused (nothing is expanded)."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ReaderError(f"{path}: XML with a DTD or entity declarations; instrument files have none, so it is refused.")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ReaderError(f"{path}: broken XML ({exc}); the file is truncated or corrupt.") from None


def register(reader: Reader) -> Reader:
    """Add a reader (later registrations with the same name replace earlier ones)."""
    _READERS[:] = [r for r in _READERS if r.name != reader.name] + [reader]
    return reader


def readers() -> list[Reader]:
    _load_builtin()
    return list(_READERS)


def supported_formats() -> str:
    """One line per reader: name, extensions, what it reads."""
    return "\n".join(f"  {r.name:<12} {', '.join(r.extensions):<22} {r.description}" for r in readers())


def find_reader(path: str | Path) -> Reader:
    """The reader for ``path``: content first (among readers claiming its extension, then all)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ReaderError(f"{path}: cannot read the file ({exc}).") from None
    ext = path.suffix.lower()
    ordered = sorted(readers(), key=lambda r: r.generic)  # vendor formats win over generic layouts
    candidates = [r for r in ordered if ext in r.extensions] + [r for r in ordered if ext not in r.extensions]
    for r in candidates:
        try:
            if r.sniff(path, head):
                return r
        except Exception:  # a sniffer never decides by crashing
            continue
    raise ReaderError(f"{path}: no reader recognises this file (extension {ext or 'none'!r}). Supported formats:\n{supported_formats()}")


def read(path: str | Path, *, laser_nm: float | None = None, **options) -> xr.Dataset:
    """Read an instrument file into the standard map Dataset (see ``hyperspec.open``)."""
    path = Path(path)
    if not path.exists():
        from hyperspec._errors import StoreNotFoundError  # noqa: PLC0415

        raise StoreNotFoundError(f"{path} does not exist.")
    reader = find_reader(path)
    try:
        ds = reader.read(path, laser_nm=laser_nm, **options)
    except HyperspecError:
        raise
    except ImportError as exc:
        raise ReaderError(
            f"{path}: the {reader.name} reader needs {reader.requires or exc.name}: pip install {reader.requires or exc.name}."
        ) from None
    except MemoryError:
        raise ReaderError(f"{path}: the file claims more data than fits in memory; it is probably corrupt.") from None
    except Exception as exc:  # corrupt or truncated content: one typed error, never a deep traceback
        raise ReaderError(f"{path}: not a readable {reader.description} ({type(exc).__name__}: {exc}).") from None
    if laser_nm is not None and "laser_nm" not in ds.attrs:
        from hyperspec.model import with_laser  # noqa: PLC0415

        ds = with_laser(ds, laser_nm)
    ds.attrs.setdefault("reader", reader.name)
    return ds


_LOADED = False


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from hyperspec.io import andor, hdf5, horiba, matlab, mdt, numpy_, princeton, renishaw, rosetta, spc, table, text, trivista  # noqa: F401, PLC0415  (each module registers its readers)
