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
]


class HyperspecError(Exception):
    """Base class of all errors raised by hyperspec on bad input."""


class AxisError(HyperspecError, ValueError):
    """A spectral axis or unit is invalid (non-finite, not monotonic, unknown unit …)."""


class DataModelError(HyperspecError, ValueError):
    """Data does not fit the map data model (dims, shapes, dtypes, coordinates)."""


class StoreError(HyperspecError, ValueError):
    """A hyperspec Zarr store is missing, incomplete, corrupt or of an unknown schema."""


class StoreExistsError(HyperspecError, FileExistsError):
    """Refusing to overwrite an existing store without ``overwrite=True``."""


class BackendError(HyperspecError, ValueError):
    """An unknown or unusable compute backend was requested."""


class StoreNotFoundError(HyperspecError, FileNotFoundError):
    """The path given does not exist."""


class RecipeError(HyperspecError, ValueError):
    """A recipe that cannot run: unknown section/key/step, wrong type, missing field (names the file, line and key)."""


class ReaderError(HyperspecError, ValueError):
    """An instrument file that cannot be read: unknown format, truncated or corrupt content (names the file)."""
