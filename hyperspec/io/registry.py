"""The reader registry: one entry per instrument format family, dispatched by content and extension.

``hyperspec.open(path)`` opens a hyperspec Zarr store, or any file a registered reader recognises.
Each reader declares its extensions, whether it reads lazily, what it reads (maps, series, single
spectra) and a content sniffer; a file no reader recognises gives one error listing the formats.
Every reader returns the standard map Dataset (``hyperspec.from_array``), with the file's own
metadata kept in ``attrs["metadata"]``. Third-party failures on corrupt files become ``ReaderError``.
"""

from __future__ import annotations

import contextvars
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from hyperspec._errors import HyperspecError, ReaderError

__all__ = ["Reader", "register", "readers", "find_reader", "read", "supported_formats", "guess_unit", "file_unit", "reader_options",
           "binary_block", "parse_xml"]  # fmt: skip

LAZY_BYTES = 256 * 2**20  # binary data blocks larger than this are memory-mapped and read lazily (Dask)
#: Spatial units to µm, as files spell them.
LENGTH_TO_UM = {"m": 1e6, "mm": 1e3, "µm": 1.0, "um": 1.0, "micrometer": 1.0, "nm": 1e-3}


@dataclass(frozen=True)
class Reader:
    """A format family of the registry: how to recognise its files and how to read them.

    Parameters
    ----------
    name : str
        Short unique name (``"renishaw-wdf"``); registering a reader with a used name replaces it.
    extensions : tuple of str
        Lower-case file extensions with the dot (``(".wdf",)``); files with these are sniffed first.
    description : str
        One line for ``supported_formats`` and error messages.
    kinds : tuple of str
        What it reads, among ``"map"``, ``"line"``, ``"series"``, ``"spectrum"``.
    lazy : bool
        Whether large files are read lazily (memory-mapped, Dask-backed).
    sniff : callable
        ``sniff(path, head) -> bool``: whether the file is of this format; ``head`` holds its first
        4 KiB. An exception counts as False.
    read : callable
        ``read(path, *, laser_nm=None, **options) -> xarray.Dataset``: the standard map Dataset.
    requires : str, optional
        The pip package the reader needs (an optional extra), named in the error when it is missing.
    generic : bool, optional
        A catch-all layout (delimited text, HDF5): sniffed after the vendor formats. Default False.

    Examples
    --------
    >>> from hyperspec.io.registry import readers
    >>> wdf = next(r for r in readers() if r.name == "renishaw-wdf")
    >>> wdf.extensions, wdf.lazy
    (('.wdf',), True)
    """

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
    """The spectral unit of a file's axis: the unit given, else cm⁻¹ when the axis cannot be wavelengths.

    An axis with a negative value or one above 1200 is taken as Raman shift (cm⁻¹); an axis
    within 0–1200 is ambiguous (nm or Raman shift) and needs ``unit=``.

    Parameters
    ----------
    axis : numpy.ndarray, shape (N,)
        The channel positions as stored in the file.
    unit : str or None
        The unit the file or the caller gives (returned as is when not empty).
    path : Path, optional
        The file, for the error message.

    Returns
    -------
    str
        ``unit``, or ``"cm-1"``.

    Raises
    ------
    ReaderError
        No unit is given and the axis lies within 0–1200.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec.io.registry import guess_unit
    >>> guess_unit(np.array([-500.0, 3000.0]), None)
    'cm-1'
    >>> guess_unit(np.array([500.0, 700.0]), "nm")
    'nm'
    >>> guess_unit(np.array([500.0, 700.0]), None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.ReaderError: None: the axis runs 500…700 with no unit in the file: ... Pass unit='nm' or unit='cm-1' (CLI: --unit).
    """
    if unit:
        return unit
    lo, hi = float(np.min(axis)), float(np.max(axis))
    if lo < 0 or hi > 1200:
        return "cm-1"
    raise ReaderError(
        f"{path}: the axis runs {lo:g}…{hi:g} with no unit in the file: wavelength (nm) or Raman shift (cm-1)? "
        "Pass unit='nm' or unit='cm-1' (CLI: --unit)."
    )


#: Set by ``read`` while a reader runs: (force, the relabel warnings to emit once the reader returns).
_OVERRIDE: contextvars.ContextVar[tuple[bool, list[str]] | None] = contextvars.ContextVar("hyperspec_unit_override", default=None)


def file_unit(path: Path, recorded: str | None, unit: str | None) -> str | None:
    """The spectral unit to use: the file's own (``recorded``), the caller's ``unit`` only where the file records none.

    A ``unit`` that contradicts the file's is an error, unless ``read`` runs with ``force=True``:
    then the axis is relabelled as ``unit`` and a ``UserWarning`` says so (emitted by ``read``).

    Parameters
    ----------
    path : Path
        The file, for the message.
    recorded : str or None
        The unit the file records (``"nm"``, ``"cm-1"``, ``"cm-1-abs"``, ``"eV"``), None when it records none.
    unit : str or None
        The caller's ``unit=``.

    Returns
    -------
    str or None
        ``recorded`` when given (or equal to ``unit``), else ``unit``; ``unit`` under ``force=True``.

    Raises
    ------
    ReaderError
        ``unit`` differs from ``recorded`` without ``force=True``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from hyperspec.io.registry import file_unit
    >>> file_unit(Path("a.wdf"), "cm-1", None), file_unit(Path("a.wdf"), "cm-1", "cm-1"), file_unit(Path("a.txt"), None, "nm")
    ('cm-1', 'cm-1', 'nm')
    >>> file_unit(Path("a.wdf"), "cm-1", "nm")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.ReaderError: a.wdf: the file records its spectral axis in 'cm-1', but unit='nm' was given. Drop unit= ...
    """
    if not unit or not recorded or str(unit).strip().lower() == str(recorded).strip().lower():
        return recorded or unit
    state = _OVERRIDE.get()
    if state is not None and state[0]:
        state[1].append(f"{path}: the file records its spectral axis in {recorded!r}; relabelled as {unit!r} because force=True was given.")
        return unit
    raise ReaderError(
        f"{path}: the file records its spectral axis in {recorded!r}, but unit={unit!r} was given. Drop unit= (CLI: --unit) "
        f"to use the file's unit, or pass force=True (CLI: --force) to relabel the axis as {unit!r} with a warning."
    )


#: A given laser_nm within this of the file's (nm) refines it (a calibrated line: 632.817 for a recorded 633); farther, it contradicts it
LASER_REFINE_NM = 0.5


def file_laser(path: Path, recorded: float | None, laser_nm: float | None) -> float | None:
    """The excitation wavelength to use (nm): the file's (``recorded``), or the caller's ``laser_nm`` where it agrees or the file has none.

    A ``laser_nm`` within ``LASER_REFINE_NM`` (0.5 nm) of the file's refines it (a calibrated value
    for a rounded one) and is used. Farther, it names another laser line than the file records
    (532 against 633 nm): an error, unless ``read`` runs with ``force=True``, where ``laser_nm`` is
    used and a ``UserWarning`` says so.

    Parameters
    ----------
    path : Path
        The file, for the message.
    recorded : float or None
        The laser wavelength the file records (nm), None (or not positive) when it records none.
    laser_nm : float or None
        The caller's ``laser_nm=`` (nm).

    Returns
    -------
    float or None
        The wavelength to use (nm).

    Raises
    ------
    ReaderError
        ``laser_nm`` contradicts the file's laser without ``force=True``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from hyperspec.io.registry import file_laser
    >>> file_laser(Path("a.wdf"), 632.8, None), file_laser(Path("a.wdf"), 633.0, 632.817), file_laser(Path("a.txt"), None, 532.0)
    (632.8, 632.817, 532.0)
    >>> file_laser(Path("a.wdf"), 632.8, 532.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.ReaderError: a.wdf: the file records a 632.8 nm laser, but laser_nm=532 was given. ...
    """
    try:
        recorded = float(recorded) if recorded is not None else None
    except (TypeError, ValueError):
        recorded = None
    if recorded is not None and not (np.isfinite(recorded) and recorded > 0):
        recorded = None
    if laser_nm is None or recorded is None:
        return recorded if laser_nm is None else float(laser_nm)
    if abs(float(laser_nm) - recorded) <= LASER_REFINE_NM:
        return float(laser_nm)
    state = _OVERRIDE.get()
    if state is not None and state[0]:
        state[1].append(f"{path}: the file records a {recorded:g} nm laser; {float(laser_nm):g} nm used because force=True was given.")
        return float(laser_nm)
    raise ReaderError(
        f"{path}: the file records a {recorded:g} nm laser, but laser_nm={float(laser_nm):g} was given. Drop laser_nm= "
        f"(CLI: --laser-nm) to use the file's, or pass force=True (CLI: --force) to use {float(laser_nm):g} nm with a warning."
    )


def reader_options(reader: Reader) -> tuple[str, ...]:
    """The keyword arguments a reader takes (besides ``laser_nm``, which every reader takes), from its signature.

    Parameters
    ----------
    reader : Reader
        A registered reader.

    Returns
    -------
    tuple of str
        Its named keyword-only parameters other than ``laser_nm``, in signature order.

    Examples
    --------
    >>> from hyperspec.io.registry import reader_options, readers
    >>> reader_options(next(r for r in readers() if r.name == "hdf5"))
    ('dataset', 'axis', 'unit')
    """
    try:
        params = inspect.signature(reader.read).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "laser_nm")


def binary_block(path: Path, dtype, offset: int, shape: tuple[int, ...], *, stride: int | None = None, lazy: bool | None = None):
    """The array of ``shape`` stored at byte ``offset`` (frames ``stride`` bytes apart when given).

    Checked against the file size first (a truncated file is a ``ReaderError``, not a short read).
    Small blocks are read into memory; blocks above ``LAZY_BYTES`` (256 MiB, or ``lazy=True``) are
    memory-mapped and returned as a Dask array of whole rows (``dask_rows``), so nothing is read
    until a chunk is used.

    Parameters
    ----------
    path : Path
        The binary file.
    dtype : numpy dtype or str
        Element type with its byte order (``"<f4"``).
    offset : int
        Byte offset of the first element.
    shape : tuple of int
        Shape of the block, rows first (frames or spectra), every size positive.
    stride : int, optional
        Bytes from the start of one row to the next when rows are padded (≥ one row's bytes);
        default: rows are contiguous.
    lazy : bool, optional
        True: always memory-map (Dask); False: always read into memory; default None: lazy above
        ``LAZY_BYTES``.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        The block, of ``shape`` and ``dtype``.

    Raises
    ------
    ReaderError
        An impossible shape or stride, or a file shorter than the block.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from hyperspec.io.registry import binary_block
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "frames.bin"
    ...     np.arange(24, dtype="<f4").tofile(path)
    ...     print(binary_block(path, "<f4", 8, (2, 4)))  # skip a two-value header
    ...     print(binary_block(path, "<f4", 0, (2, 2), stride=16))  # 2 of every 4 values
    ...     print(type(binary_block(path, "<f4", 0, (2, 4), lazy=True)).__name__)
    [[2. 3. 4. 5.]
     [6. 7. 8. 9.]]
    [[0. 1.]
     [4. 5.]]
    Array
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
    """An on-disk (memory-mapped) array as a Dask array of whole rows, about ``chunk_bytes`` per chunk.

    Parameters
    ----------
    array : numpy.ndarray or numpy.memmap, shape (n_rows, ...)
        The array; only its first axis is split.
    name : str, optional
        The Dask array's name (a stable name lets Dask reuse the graph); default: a token.
    chunk_bytes : int, optional
        Target bytes per chunk (at least one row). Default 64 MiB.

    Returns
    -------
    dask.array.Array
        Same shape and dtype, chunked along the first axis only.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec.io.registry import dask_rows
    >>> rows = dask_rows(np.zeros((10, 64), np.float32), chunk_bytes=1024)  # 256 bytes per row
    >>> rows.chunks
    ((4, 4, 2), (64,))
    """
    import dask.array as da  # noqa: PLC0415

    row_bytes = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize)
    rows = max(1, min(array.shape[0], chunk_bytes // row_bytes))
    return da.from_array(array, chunks=(rows,) + tuple(array.shape[1:]), asarray=True, **({"name": name} if name else {}))


def parse_xml(path: Path, raw: bytes):
    """An ElementTree root from ``raw``; a DTD or entity declaration is refused (nothing is expanded).

    Parameters
    ----------
    path : Path
        The file ``raw`` comes from, for error messages.
    raw : bytes
        The XML document.

    Returns
    -------
    xml.etree.ElementTree.Element
        The root element.

    Raises
    ------
    ReaderError
        ``raw`` holds ``<!DOCTYPE`` or ``<!ENTITY``, or is not well-formed XML.

    Examples
    --------
    >>> from pathlib import Path
    >>> from hyperspec.io.registry import parse_xml
    >>> root = parse_xml(Path("export.xml"), b"<map><spectrum x='1.5'/></map>")
    >>> root.tag, root[0].attrib
    ('map', {'x': '1.5'})
    >>> parse_xml(Path("evil.xml"), b"<!DOCTYPE m [<!ENTITY e 'x'>]><m>&e;</m>")
    Traceback (most recent call last):
    ...
    hyperspec._errors.ReaderError: evil.xml: XML with a DTD or entity declarations; instrument files have none, so it is refused.
    """
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ReaderError(f"{path}: XML with a DTD or entity declarations; instrument files have none, so it is refused.")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ReaderError(f"{path}: broken XML ({exc}); the file is truncated or corrupt.") from None


def register(reader: Reader) -> Reader:
    """Add a reader to the registry (a later registration with the same name replaces the earlier one).

    Parameters
    ----------
    reader : Reader
        The format family to add; it is tried last among readers of its kind (vendor or generic).

    Returns
    -------
    Reader
        ``reader`` itself.

    Examples
    --------
    >>> from hyperspec.io import registry
    >>> def sniff(path, head):
    ...     return head.startswith(b"TOY1")
    >>> toy = registry.Reader("toy", (".toy",), "A toy format", ("spectrum",), False, sniff, read=None)
    >>> registry.register(toy) is toy, "toy" in [r.name for r in registry.readers()]
    (True, True)
    >>> registry._READERS.remove(toy)  # unregister (tests only)
    """
    _READERS[:] = [r for r in _READERS if r.name != reader.name] + [reader]
    return reader


def readers() -> list[Reader]:
    """Every registered reader, the built-in ones loaded on first use, in registration order.

    Returns
    -------
    list of Reader
        A copy of the registry.

    Examples
    --------
    >>> from hyperspec.io.registry import readers
    >>> names = [r.name for r in readers()]
    >>> "renishaw-wdf" in names and "table" in names
    True
    """
    _load_builtin()
    return list(_READERS)


def supported_formats() -> str:
    """The formats hyperspec reads, one line per reader (sorted by name): name, extensions, description.

    Returns
    -------
    str
        Lines indented by two spaces (``hyperspec formats`` prints them).

    Examples
    --------
    >>> from hyperspec.io.registry import supported_formats
    >>> print(supported_formats().splitlines()[0])
      andor-sif    .sif                   Andor Solis .sif (spectra, kinetic series)
    """
    return "\n".join(f"  {r.name:<12} {', '.join(r.extensions):<22} {r.description}" for r in sorted(readers(), key=lambda r: r.name))


def find_reader(path: str | Path) -> Reader:
    r"""The reader for ``path``, chosen by content: readers claiming its extension are sniffed first, then all.

    Vendor formats are sniffed before the generic layouts (delimited text, HDF5).

    Parameters
    ----------
    path : str or Path
        An instrument file (its first 4 KiB are read).

    Returns
    -------
    Reader
        The first reader whose ``sniff`` accepts the file.

    Raises
    ------
    ReaderError
        The file cannot be read, or no reader recognises it (the message lists the formats).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from hyperspec.io.registry import find_reader
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "spectrum.txt"
    ...     _ = path.write_text("100\t5\n200\t7\n300\t6\n")
    ...     print(find_reader(path).name)
    table
    """
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


def read(path: str | Path, *, laser_nm: float | None = None, force: bool = False, medium: str | None = None, **options) -> xr.Dataset:
    r"""Read an instrument file into the standard map Dataset (see ``hyperspec.open``).

    Parameters
    ----------
    path : str or Path
        The instrument file.
    laser_nm : float, optional
        Laser wavelength, nm: passed to the reader (it overrides the file's) and set on the
        result when the reader left none.
    force : bool, optional
        With ``unit=``: relabel the axis of a file that records another unit (a ``UserWarning``
        says so). Default False: such a ``unit=`` is an error.
    medium : {"air", "vacuum"}, optional
        The medium the file's axis (and laser) was measured in, where the reader's default (air for
        wavelengths from grating spectrometers, vacuum for wavenumbers and energies) does not fit:
        the numbers are kept and ``energy``/``shift`` recomputed
        (``hyperspec.model.to_medium(..., reinterpret=True)``).
    **options
        Reader options, e.g. ``unit="nm"`` for a text file without a unit, ``dataset=`` /
        ``axis=`` for HDF5; an option the reader does not take is an error naming those it
        takes (``reader_options``).

    Returns
    -------
    xarray.Dataset
        The standard map Dataset (``hyperspec.from_array``); ``attrs["reader"]`` names the reader,
        ``attrs["metadata"]`` holds the file's own metadata.

    Raises
    ------
    StoreNotFoundError
        No such file.
    ReaderError
        No reader recognises the file, a reader's optional dependency is missing (with the pip
        command), the file is corrupt or truncated, an option the reader does not take, or a
        ``unit=`` that contradicts the file's without ``force=True``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from hyperspec.io.registry import read
    >>> shift = np.arange(400.0, 640.0, 2.0)  # a silicon line at 520 cm⁻¹
    >>> rows = [f"{s:.1f}\t{100 + 900 * np.exp(-(((s - 520.0) / 4) ** 2)):.1f}\n" for s in shift]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "si.txt"
    ...     _ = path.write_text("".join(rows))
    ...     ds = read(path, laser_nm=532.0, unit="cm-1")
    >>> ds.spectra.shape, ds.attrs["reader"], float(ds["shift"][int(np.argmax(ds.spectra.values))])
    ((120,), 'table', 520.0)
    """
    path = Path(path)
    if not path.exists():
        from hyperspec._errors import StoreNotFoundError  # noqa: PLC0415

        raise StoreNotFoundError(f"{path} does not exist.")
    reader = find_reader(path)
    takes = reader_options(reader)
    unknown = sorted(k for k in options if k not in takes)
    if unknown or (force and "unit" not in options and laser_nm is None):
        what = ", ".join(f"{k}=" for k in unknown) if unknown else "force= without unit= or laser_nm="
        hint = ", ".join(f"{k}=" for k in takes) + (" (force= with unit= or laser_nm=)" if "unit" in takes else " (force= with laser_nm=)")
        takes_text = "laser_nm=" + (f", {hint}" if hint else "")
        raise ReaderError(f"{path}: the {reader.name} reader ({reader.description}) takes no {what}; it takes {takes_text}. "
                          "Drop the others (CLI: --unit/--axis/--dataset/--frame).")  # fmt: skip
    token = _OVERRIDE.set((bool(force), relabelled := []))
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
    finally:
        _OVERRIDE.reset(token)
    for message in relabelled:
        warnings.warn(message, UserWarning, stacklevel=3)
    if medium is not None:
        from hyperspec.model import to_medium  # noqa: PLC0415

        ds = to_medium(ds, medium, reinterpret=True)
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
    from hyperspec.io import (  # noqa: F401, PLC0415  (each module registers its readers)
        andor,
        hdf5,
        horiba,
        matlab,
        mdt,
        numpy_,
        princeton,
        renishaw,
        rosetta,
        spc,
        table,
        text,
        trivista,
    )
