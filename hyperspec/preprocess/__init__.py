"""Preprocessing and spatial tools, batched over pixels on NumPy and CuPy (``xp``).

- ``remove_spikes`` cosmic rays judged against neighbouring pixels and frames; dead/saturated masks;
- ``baseline`` the asymmetric-least-squares family and (modified) polynomials, as in pybaselines;
- ``find_line`` / ``calibrate_shift`` axis calibration on a reference line (silicon 520.7 cm⁻¹);
  ``normalise``, ``mask_notch``, ``crop``, ``resample``;
- ``denoise`` PCA/SVD with an automatic rank;
- ``register_drift``, ``line_profile``, ``segment_regions``, ``region_spectra``, ``filter_map``: re-exported
  from ``hyperspec.spatial``.
"""

from hyperspec.preprocess.baselines import baseline
from hyperspec.preprocess.calibrate import calibrate_shift, crop, find_line, mask_notch, normalise, resample
from hyperspec.preprocess.denoise import denoise
from hyperspec.preprocess.spikes import remove_spikes
from hyperspec.spatial import filter_map, line_profile, region_spectra, register_drift, segment_regions

__all__ = [
    "remove_spikes",
    "baseline",
    "find_line",
    "calibrate_shift",
    "normalise",
    "mask_notch",
    "crop",
    "resample",
    "denoise",
    "register_drift",
    "line_profile",
    "segment_regions",
    "region_spectra",
    "filter_map",
]
