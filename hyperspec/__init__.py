"""hyperspec: fast, scalable processing of hyperspectral Raman / photoluminescence maps.

The public API (importable without a GPU, CuPy, Qt or a cluster):

- ``from_array`` build a validated map Dataset from an array and its spectral axis;
- ``save`` / ``open`` the native Zarr v3 store (lazy, Dask-backed); ``open`` also reads instrument files;
- ``synthetic`` physics-based maps with ground truth;
- ``axes`` unit conversions (nm, Raman shift, absolute cm⁻¹, eV) and the axis validator;
- ``decompose`` every spectrum split into its bands by regularised least squares (presets or custom models);
- ``window_integrals`` quick-look band maps;
- ``fit_curves`` / ``curve_models`` / ``register_curve_model`` one batched engine for every per-pixel curve
  (power laws, decays, onsets, sinusoids, Varshni, gain, multi-phonon, …);
- ``kinetics`` blinking periods, correlations and delays, onsets, SBPL events, power laws over ``t``/``power``;
- ``resolve_backend`` the NumPy/CuPy switch (``HYPERSPEC_BACKEND``).
"""

from __future__ import annotations

import importlib
import importlib.metadata

from hyperspec import _errors
from hyperspec._backend import BACKENDS, gpu_available, resolve_backend, single_threaded_blas, to_numpy
from hyperspec._errors import *  # noqa: F403  (HyperspecError and its subclasses, exactly _errors.__all__)
from hyperspec._progress import progress
from hyperspec.io import open_any as open  # noqa: A001  (hyperspec.open, like xarray.open_dataset)
from hyperspec.io.zarr_ import save
from hyperspec.model import from_array, to_medium, validate_map, with_laser

#: The installed distribution's version (``hyperspec-maps`` on PyPI; pyproject.toml is its one source).
DISTRIBUTION = "hyperspec-maps"
try:
    __version__ = importlib.metadata.version(DISTRIBUTION)
except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
    __version__ = "0+unknown"

_LAZY_SUBMODULES = {
    "axes",
    "bands",
    "fit",
    "preprocess",
    "spatial",
    "pipeline",
    "cluster",
    "synthetic",
    "io",
    "model",
    "report",
    "cli",
    "kinetics",
}
#: Functions imported on first use (name → its module): they pull in the fitting and band modules.
_LAZY_FUNCTIONS = {
    "decompose": "hyperspec.fit.decompose",
    "PARITY_TOL": "hyperspec.fit.decompose",
    "window_integrals": "hyperspec.bands.windows",
    "fit_curves": "hyperspec.fit.curves",
    "curve_models": "hyperspec.fit.curves",
    "register_curve_model": "hyperspec.fit.curves",
    "load_model": "hyperspec.fit.model_spec",
    "model_to_toml": "hyperspec.fit.model_spec",
}

__all__ = [
    "__version__",
    "from_array",
    "validate_map",
    "with_laser",
    "to_medium",
    "save",
    "open",
    *_LAZY_FUNCTIONS,
    "resolve_backend",
    "BACKENDS",
    "gpu_available",
    "single_threaded_blas",
    "progress",
    "to_numpy",
    *_errors.__all__,
    *sorted(_LAZY_SUBMODULES),
]


def __getattr__(name: str):
    """Import a subpackage or a lazily loaded function on first access (PEP 562)."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"hyperspec.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'hyperspec' has no attribute {name!r}")


def __dir__():
    """List the public names (``__all__``), sorted."""
    return sorted(__all__)
