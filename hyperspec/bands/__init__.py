"""Bands: line shapes and band windows (presets and the fitting engine build on these)."""

from hyperspec.bands import shapes
from hyperspec.bands.windows import DEFAULT_WINDOWS, window_integrals

__all__ = ["shapes", "DEFAULT_WINDOWS", "window_integrals"]
