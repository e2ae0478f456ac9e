"""Input/output: the native Zarr v3 store (readers for instrument formats plug in here)."""

from hyperspec.io.zarr_ import SCHEMA_VERSION, is_store, open_store, save, store_info

__all__ = ["SCHEMA_VERSION", "is_store", "open_store", "save", "store_info"]
