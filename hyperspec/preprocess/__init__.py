"""Preprocessing and spatial tools, batched over pixels on NumPy and CuPy (``xp``).

- ``remove_spikes`` cosmic rays judged against neighbouring pixels and frames; dead/saturated masks;
- ``baseline`` the asymmetric-least-squares family and (modified) polynomials, as in pybaselines;
- ``find_line`` / ``calibrate_shift`` axis calibration on a reference line (silicon 520.7 cm⁻¹);
  ``calibrate_wavelength`` / ``apply_wavelength_calibration`` from a neon (or any) lamp's line list;
  ``normalise``, ``mask_notch``, ``crop``, ``resample``; also ``interp_rows``, ``SILICON_CM`` and the neon
  line lists (every name in ``hyperspec.preprocess.calibrate.__all__``);
- ``denoise`` PCA/SVD with an automatic rank;
- ``register_drift``, ``line_profile``, ``segment_regions``, ``region_spectra``, ``filter_map``: re-exported
  from ``hyperspec.spatial``.
"""

from hyperspec.preprocess import calibrate as _calibrate
from hyperspec.preprocess.baselines import baseline
from hyperspec.preprocess.calibrate import *  # noqa: F403  (exactly calibrate.__all__)
from hyperspec.preprocess.denoise import denoise
from hyperspec.preprocess.spikes import remove_spikes
from hyperspec.spatial import filter_map, line_profile, region_spectra, register_drift, segment_regions

__all__ = [
    "remove_spikes",
    "baseline",
    *_calibrate.__all__,
    "denoise",
    "register_drift",
    "line_profile",
    "segment_regions",
    "region_spectra",
    "filter_map",
]
