"""Spatial tools on band maps and spectra (scikit-image, SciPy).

Drift registration, line profiles, segmentation into regions, region-averaged spectra, region means and
statistics tables, and filters
of parameter maps (``hyperspec.spatial.tools``).
"""

from hyperspec.spatial.tools import (
    REGION_NAMES,
    bad_pixels,
    filter_map,
    line_profile,
    region_mean,
    region_spectra,
    region_table,
    register_drift,
    segment_regions,
)

__all__ = ["register_drift", "line_profile", "segment_regions", "region_spectra", "region_mean", "region_table", "filter_map"]
__all__ += ["REGION_NAMES", "bad_pixels"]
