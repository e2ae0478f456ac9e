"""Input/output: the native Zarr v3 store and the instrument-file readers (``hyperspec.io.registry``)."""

from pathlib import Path

from hyperspec.io.zarr_ import SCHEMA_VERSION, is_store, open_store, save, store_info

__all__ = ["SCHEMA_VERSION", "is_store", "open_store", "open_any", "save", "store_info"]


def open_any(path, *, group=None, allow_incomplete=False, chunks=None, laser_nm=None, **options):
    """``hyperspec.open``: a hyperspec Zarr store (lazy), or an instrument file through its reader.

    ``laser_nm`` fills in (or, for files, overrides) the laser wavelength; ``options`` go to the
    reader (e.g. ``unit="nm"`` for a plain text file without a unit).
    """
    p = Path(path)
    if p.is_dir() or is_store(p):
        ds = open_store(p, group=group, allow_incomplete=allow_incomplete, chunks=chunks)
        if laser_nm is not None and "laser_nm" not in ds.attrs:
            from hyperspec.model import with_laser  # noqa: PLC0415

            ds = with_laser(ds, laser_nm)
        return ds
    from hyperspec.io.registry import read  # noqa: PLC0415  (readers load on first use)

    return read(p, laser_nm=laser_nm, **options)
