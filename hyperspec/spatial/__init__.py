"""Spatial tools on band maps and spectra (scikit-image, SciPy): drift registration, line profiles,
segmentation into regions, region-averaged spectra, filters of parameter maps."""

from hyperspec.spatial.tools import REGION_NAMES, filter_map, line_profile, region_spectra, register_drift, segment_regions

__all__ = ["register_drift", "line_profile", "segment_regions", "region_spectra", "filter_map", "REGION_NAMES"]
