"""Spatial tools on band maps and spectra (scikit-image, SciPy).

Drift registration, line profiles, segmentation into regions, region-averaged spectra and filters
of parameter maps (``hyperspec.spatial.tools``).
"""

from hyperspec.spatial.tools import REGION_NAMES, filter_map, line_profile, region_spectra, register_drift, segment_regions

__all__ = ["register_drift", "line_profile", "segment_regions", "region_spectra", "filter_map", "REGION_NAMES"]
