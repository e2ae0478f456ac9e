"""Input/output: the native Zarr v3 store and the instrument-file readers (``hyperspec.io.registry``)."""

from pathlib import Path

from hyperspec.io.zarr_ import SCHEMA_VERSION, is_store, open_store, save, store_info

__all__ = ["SCHEMA_VERSION", "is_store", "open_store", "open_any", "save", "store_info"]


def open_any(path, *, group=None, allow_incomplete=False, chunks=None, laser_nm=None, force=False, **options):
    """Open a hyperspec Zarr store (lazily) or an instrument file through its reader (``hyperspec.open``).

    Parameters
    ----------
    path : str or Path
        A store directory (or any directory with a ``zarr.json``) or an instrument file.
    group : str, optional
        Stores only: a sub-group to open (e.g. ``"truth"``).
    allow_incomplete : bool, optional
        Stores only: open a store whose writing was interrupted. Default False.
    chunks : mapping of str to int, or str, optional
        Stores only: Dask chunks (default: the store's own).
    laser_nm : float, optional
        Laser wavelength, nm. For a store it is filled in only when the store has none; for a
        file it overrides the file's.
    force : bool, optional
        Files only, with ``unit=``: relabel the axis of a file that records another unit (with a
        ``UserWarning``). Default False: a ``unit=`` contradicting the file is an error.
    **options
        Reader options for files, e.g. ``unit="nm"`` for a plain text file without a unit; an
        option the file's reader does not take (or any option for a store) is an error.

    Returns
    -------
    xarray.Dataset
        The map (or results) Dataset; Dask-backed for a store and for lazily read files.

    Raises
    ------
    StoreNotFoundError
        No such path.
    StoreError
        A directory that is not a complete hyperspec store.
    ReaderError
        A file no reader recognises, or a corrupt one; an option its reader does not take; a
        ``unit=`` that contradicts the file's without ``force=True``.

    See Also
    --------
    hyperspec.io.zarr_.open_store, hyperspec.io.registry.read

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> ds = hs.from_array(np.ones((2, 3, 16), np.float32), np.linspace(100.0, 400.0, 16))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = hs.open(hs.save(ds, f"{tmp}/map.zarr", progress=False), laser_nm=632.8)
    ...     print(back.spectra.shape, back.attrs["laser_nm"])
    (2, 3, 16) 632.8
    """
    p = Path(path)
    if p.is_dir() or is_store(p):
        if options or force:
            from hyperspec._errors import StoreError  # noqa: PLC0415

            given = ", ".join(f"{k}=" for k in (*options, *(["force"] if force else [])))
            raise StoreError(f"{p}: a hyperspec store records its own axis and unit, so it takes no {given}; it takes group=, "
                             "allow_incomplete=, chunks=, laser_nm= (filled in only when it has none). Drop the others.")  # fmt: skip
        ds = open_store(p, group=group, allow_incomplete=allow_incomplete, chunks=chunks)
        if laser_nm is not None and "laser_nm" not in ds.attrs:
            from hyperspec.model import with_laser  # noqa: PLC0415

            ds = with_laser(ds, laser_nm)
        elif laser_nm is not None:
            from hyperspec.io.registry import LASER_REFINE_NM  # noqa: PLC0415

            if abs(float(laser_nm) - float(ds.attrs["laser_nm"])) > LASER_REFINE_NM:
                from hyperspec._errors import StoreError  # noqa: PLC0415

                raise StoreError(f"{p}: the store records a {float(ds.attrs['laser_nm']):g} nm laser, but laser_nm={float(laser_nm):g} "
                                 "was given; a store's axes were computed with its own laser. Drop laser_nm=, or re-convert the "
                                 "source file with the right laser.")  # fmt: skip
        return ds
    from hyperspec.io.registry import read  # noqa: PLC0415  (readers load on first use)

    return read(p, laser_nm=laser_nm, force=force, **options)
