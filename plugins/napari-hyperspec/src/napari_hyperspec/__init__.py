"""napari-hyperspec: a thin napari layer over hyperspec's public API (no numerics here)."""

from napari_hyperspec._sample_data import make_synthetic_map

__all__ = ["make_synthetic_map"]
