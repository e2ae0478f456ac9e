"""Exception types of hyperspec.

Every error a user can cause is a subclass of ``HyperspecError`` and of the matching
built-in (``ValueError``, ``FileExistsError`` …), so ``except ValueError`` keeps working.
Messages name the file or field, the rule that was broken and the fix.
"""

from __future__ import annotations

__all__ = [
    "HyperspecError",
    "AxisError",
    "DataModelError",
    "StoreError",
    "StoreExistsError",
    "StoreNotFoundError",
    "BackendError",
    "RecipeError",
    "ReaderError",
    "ModelFileError",
    "RunCancelled",
]


class HyperspecError(Exception):
    """Base class of all errors raised by hyperspec on bad input.

    Catch it to handle any hyperspec error; each subclass is also the matching built-in exception.

    Examples
    --------
    >>> import hyperspec
    >>> try:
    ...     hyperspec.axes.normalize_unit("furlong")
    ... except hyperspec.HyperspecError as exc:
    ...     print(type(exc).__name__)
    AxisError
    """


class AxisError(HyperspecError, ValueError):
    """A spectral axis or unit is invalid (non-finite, not monotonic, unknown unit …).

    Examples
    --------
    >>> issubclass(AxisError, ValueError)
    True
    """


class DataModelError(HyperspecError, ValueError):
    """Data does not fit the map data model (dims, shapes, dtypes, coordinates).

    Examples
    --------
    >>> issubclass(DataModelError, ValueError)
    True
    """


class StoreError(HyperspecError, ValueError):
    """A hyperspec Zarr store is missing, incomplete, corrupt or of an unknown schema.

    Examples
    --------
    >>> issubclass(StoreError, ValueError)
    True
    """


class StoreExistsError(HyperspecError, FileExistsError):
    """Refusing to overwrite an existing store without ``overwrite=True``.

    Examples
    --------
    >>> issubclass(StoreExistsError, FileExistsError)
    True
    """


class BackendError(HyperspecError, ValueError):
    """An unknown or unusable compute backend was requested.

    Examples
    --------
    >>> issubclass(BackendError, ValueError)
    True
    """


class StoreNotFoundError(HyperspecError, FileNotFoundError):
    """The path given does not exist.

    Examples
    --------
    >>> issubclass(StoreNotFoundError, FileNotFoundError)
    True
    """


class RecipeError(HyperspecError, ValueError):
    """A recipe that cannot run: unknown section/key/step, wrong type, missing field (names the file, line and key).

    Examples
    --------
    >>> issubclass(RecipeError, ValueError)
    True
    """


class ReaderError(HyperspecError, ValueError):
    """An instrument file that cannot be read: unknown format, truncated or corrupt content (names the file).

    Examples
    --------
    >>> issubclass(ReaderError, ValueError)
    True
    """


class ModelFileError(HyperspecError, ValueError):
    """A model file (TOML band model) that cannot be used: not TOML, an unknown key or shape, a wrong type (names the file, line and field).

    Examples
    --------
    >>> issubclass(ModelFileError, ValueError)
    True
    """


class RunCancelled(HyperspecError, RuntimeError):
    """A recipe run stopped on request (``run_recipe(..., cancel=event)``); its output store is partial and resumable.

    The chunks written before the stop keep their done flags: running the same recipe into the same
    output again computes only the others.

    Parameters
    ----------
    message : str
        The one-line message.
    output : str or Path, optional
        The partial results store.
    chunks_done, n_chunks : int, optional
        Chunks of the store written so far (this run and earlier ones), and in all.

    Examples
    --------
    >>> exc = RunCancelled("run cancelled", output="o.zarr", chunks_done=2, n_chunks=6)
    >>> issubclass(RunCancelled, RuntimeError), exc.chunks_done, exc.n_chunks
    (True, 2, 6)
    """

    def __init__(self, message: str, *, output=None, chunks_done: int = 0, n_chunks: int = 0):
        super().__init__(message)
        self.output = output
        self.chunks_done = int(chunks_done)
        self.n_chunks = int(n_chunks)
