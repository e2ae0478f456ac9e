"""Kinetics and series analysis of per-pixel traces: blinking periods, synchronisation and delay, onsets, SBPL events, power laws.

Every function takes traces — ``xarray.DataArray`` with a series dim (``t`` in s, ``power`` in mW) and
any pixel dims, e.g. ``results["aspl_area"]`` of a decomposed kinetic map — and runs batched over all
pixels through ``xp`` (NumPy or CuPy), lazily on Dask (the series dim in one chunk, pixels chunked).
"""

from __future__ import annotations

from hyperspec.kinetics._traces import resample
from hyperspec.kinetics.correlation import autocorrelation, cross_correlation, cross_correlation_curve
from hyperspec.kinetics.events import SBPLEvents, sbpl_events
from hyperspec.kinetics.onset import onset, onset_kind_names
from hyperspec.kinetics.periods import periodogram, periods
from hyperspec.kinetics.power import power_law

__all__ = ["resample", "onset", "onset_kind_names", "power_law", "autocorrelation", "cross_correlation", "SBPLEvents", "sbpl_events"]
__all__ += ["periods", "periodogram", "cross_correlation_curve"]
