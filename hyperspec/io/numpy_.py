"""NumPy ``.npz`` archives and ``.npy`` arrays (never with pickle).

``.npz``: ``spectra`` plus one axis array.

Keys: ``spectra`` (…, m), and one of ``shift`` (cm⁻¹), ``wavelength`` (nm), ``energy`` (eV) or
``axis`` with a string ``unit``; optional ``laser_nm``, ``dims`` (strings), ``x``, ``y``, ``t``.
``.npy``: the intensities only (memory-mapped, so a large array is read lazily); the axis comes from
``axis=`` (an array or a ``.npy``/text file) with ``unit=``.
Members are checked from their headers before anything is inflated: a compressed member larger
than ``inflate_limit()`` (``MAX_INFLATED_BYTES``, 2 GiB, or half the available memory), a header
declaring more data than the member holds, and object (pickle) members are refused; uncompressed
spectra above 256 MiB are memory-mapped from the archive.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import LAZY_BYTES, Reader, file_laser, register
from hyperspec.model import from_array

_AXES = {"shift": "cm-1", "wavelength": "nm", "energy": "eV"}

MAX_INFLATED_BYTES = 2 * 2**30
"""Largest compressed member (``.npz``, MATLAB v5 compressed variable) inflated into memory, in bytes.

The limit used is the smaller of this and half the memory available now; a member declaring more
is refused before anything is inflated (a decompression bomb is a few MB on disk). Uncompressed
members are not limited: they are read from disk, and large ``.npz`` spectra are memory-mapped.
"""


def inflate_limit() -> int:
    """Bytes that one compressed member may inflate to: ``MAX_INFLATED_BYTES`` or half the available memory.

    Returns
    -------
    int
        The limit in bytes (at least 1 MiB).

    Examples
    --------
    >>> 2**20 <= inflate_limit() <= MAX_INFLATED_BYTES
    True
    """
    available = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            available = MAX_INFLATED_BYTES * 2
    return max(2**20, min(int(MAX_INFLATED_BYTES), available // 2))


def _npz_members(path: Path) -> dict[str, tuple]:
    """Each ``.npy`` member's (shape, dtype, fortran, data offset or None if compressed), from the headers only.

    Refuses, before inflating anything, a member whose declared size exceeds ``inflate_limit()``
    (compressed) or the bytes the archive holds for it, and object (pickle) members.
    """
    limit = inflate_limit()
    out = {}
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReaderError(f"{path}: not a readable .npz (zip) archive: {exc}.") from None
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            member = info.filename
            compressed = info.compress_type != zipfile.ZIP_STORED
            try:
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, fortran, dtype = read_header(fh)
                    header_len = fh.tell()
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
                raise ReaderError(f"{path}: the member {member} is not a valid .npy array: {exc}.") from None
            if dtype.hasobject:
                raise ReaderError(f"{path}: the member {member} holds Python objects (pickle), which hyperspec never loads.")
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if declared > info.file_size - header_len:
                raise ReaderError(f"{path}: the member {member} declares {tuple(shape)} {dtype} ({declared} bytes) but holds only "
                                  f"{info.file_size - header_len} bytes of data; the archive is truncated or forged.")  # fmt: skip
            if compressed and declared > limit:
                raise ReaderError(f"{path}: the member {member} declares {tuple(shape)} {dtype} ({declared} bytes), more than the "
                                  f"{limit}-byte limit for inflating into memory (hyperspec.io.numpy_.MAX_INFLATED_BYTES, "
                                  "or half the available memory); save it uncompressed (np.savez, read lazily from disk).")  # fmt: skip
            if compressed and info.file_size > limit:
                raise ReaderError(f"{path}: the member {member} is {info.file_size} bytes uncompressed, more than the "
                                  f"{limit}-byte limit for inflating into memory (hyperspec.io.numpy_.MAX_INFLATED_BYTES, "
                                  "or half the available memory); save it uncompressed (np.savez, read lazily from disk).")  # fmt: skip
            offset = None
            if not compressed:
                with path.open("rb") as raw:  # the local file header: 30 bytes, then the name and the extra field
                    raw.seek(info.header_offset)
                    local = raw.read(30)
                    if len(local) == 30 and local[:4] == b"PK\x03\x04":
                        offset = info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                        offset += int.from_bytes(local[28:30], "little") + header_len
            out[member[:-4]] = (tuple(shape), dtype, fortran, offset)
    return out


def _read(path: Path, *, laser_nm: float | None = None, **_):
    members = _npz_members(path)
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        if "spectra" not in keys:
            raise ReaderError(f"{path}: an .npz map needs a 'spectra' array; it has {sorted(keys)}.")
        shape, dtype, fortran, offset = members.get("spectra", ((), None, False, None))
        nbytes = int(np.prod(shape, dtype=object)) * (dtype.itemsize if dtype is not None else 0)
        if offset is not None and nbytes > LAZY_BYTES:  # stored uncompressed: memory-map it, read lazily
            import dask.array as da  # noqa: PLC0415

            mm = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
            data = da.from_array(mm, chunks="auto")
        else:
            data = z["spectra"]
        axis_key = next((k for k in _AXES if k in keys), "axis" if "axis" in keys else None)
        if axis_key is None:
            raise ReaderError(f"{path}: no spectral axis; add one of {', '.join(_AXES)} (or 'axis' with 'unit') to the archive.")
        if axis_key in _AXES:
            unit = _AXES[axis_key]
        elif "unit" in keys:
            unit = str(z["unit"])
        else:
            raise ReaderError(f"{path}: 'axis' needs a 'unit' entry (nm, cm-1, cm-1-abs or eV).")
        laser = file_laser(path, float(z["laser_nm"]) if "laser_nm" in keys else None, laser_nm)
        dims = [str(d) for d in z["dims"]] if "dims" in keys else None
        coords = {k: z[k] for k in ("x", "y", "t", "z") if k in keys and (dims is None or k in dims)}
        return from_array(data, z[axis_key], unit=unit, laser_nm=laser, dims=dims, coords=coords or None, source=path.name)


def _sniff(path: Path, head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04" and path.suffix.lower() == ".npz"


def _read_npy(path: Path, *, axis=None, unit: str | None = None, laser_nm: float | None = None, dims=None, **_):
    if axis is None or unit is None:
        raise ReaderError(f"{path}: a .npy file holds only the intensities; pass axis= (an array or a .npy/.txt file) and unit= "
                          "(CLI: --axis FILE --unit cm-1), or save an .npz with 'spectra' and 'shift'/'wavelength'.")  # fmt: skip
    data = np.load(path, allow_pickle=False, mmap_mode="r")
    if isinstance(axis, (str, Path)):
        axis_path = Path(axis)
        axis = np.load(axis_path, allow_pickle=False) if axis_path.suffix == ".npy" else np.loadtxt(axis_path, ndmin=1)
    axis = np.asarray(axis, dtype=np.float64).ravel()
    if data.shape[-1] != axis.size:
        raise ReaderError(f"{path}: the array has {data.shape[-1]} channels (last dimension) but the axis {axis.size} values.")
    if data.nbytes > LAZY_BYTES:
        import dask.array as da  # noqa: PLC0415

        data = da.from_array(data, chunks="auto")
    else:
        data = np.array(data)
    return from_array(data, axis, unit=unit, laser_nm=laser_nm, dims=dims, source=path.name)


register(Reader("npy", (".npy",), "NumPy .npy array (+ axis= and unit=; no pickle)", ("map", "series", "spectrum"), True,
                lambda path, head: head.startswith(b"\x93NUMPY"), _read_npy))  # fmt: skip
register(Reader("npz", (".npz",), "NumPy .npz archive (spectra + axis; no pickle)", ("map", "series", "spectrum"), False, _sniff, _read))
