"""The one place where the compute backend (NumPy or CuPy) is chosen.

Order of precedence: an explicit ``backend=`` argument (CLI ``--backend``, recipe
``compute.backend``), then the environment variable ``HYPERSPEC_BACKEND``, then ``"auto"``.
``"auto"`` picks CuPy when it imports *and* a CUDA device is usable, NumPy otherwise.
Algorithms never branch on a flag: they call ``get_namespace(array)`` and use ``xp``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from hyperspec._errors import BackendError

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "Backend",
    "resolve_backend",
    "gpu_available",
    "get_namespace",
    "to_numpy",
    "like",
    "host_to_like",
    "on_device",
    "cuda_kernels_enabled",
    "single_threaded_blas",
]

BACKENDS = ("auto", "numpy", "cupy")
ENV_VAR = "HYPERSPEC_BACKEND"
_log = logging.getLogger("hyperspec")


@dataclass(frozen=True)
class Backend:
    """A resolved backend: its name, its array namespace and why it was chosen."""

    name: str
    xp: ModuleType
    reason: str

    @property
    def notice(self) -> str:
        """One line saying which backend runs and why (printed by the CLI)."""
        return f"hyperspec: backend {self.name} ({self.reason})"


@functools.lru_cache(maxsize=1)
def numba_available() -> bool:
    """True when numba imports (the ``fast`` extra): the compiled CPU kernels can run."""
    try:
        import numba  # noqa: F401, PLC0415
    except Exception:  # a broken numba must not break hyperspec
        return False
    return True


@functools.lru_cache(maxsize=1)
def gpu_available() -> tuple[bool, str]:
    """Return ``(usable, reason)``: whether CuPy imports and sees a CUDA device."""
    try:
        import cupy  # noqa: PLC0415
    except ImportError:
        return False, "CuPy is not installed; install hyperspec[gpu] for GPU support"
    except Exception as exc:  # a broken CUDA install must not break import hyperspec
        return False, f"CuPy failed to import: {exc}"
    try:
        if not cupy.cuda.is_available():
            return False, "CuPy is installed but no CUDA device is usable"
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:
        return False, f"CuPy is installed but the CUDA device failed: {exc}"
    return True, f"CUDA device 0: {name}"


def resolve_backend(backend: str | None = None) -> Backend:
    """Resolve ``"auto"``/``"numpy"``/``"cupy"`` (or ``None`` → env var → auto) to a ``Backend``.

    Raises
    ------
    BackendError
        For an unknown name, or ``"cupy"`` requested where no GPU is usable.
    """
    source = "argument"
    if backend is None:
        backend = os.environ.get(ENV_VAR) or "auto"
        source = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "default"
    name = str(backend).strip().lower()
    if name not in BACKENDS:
        raise BackendError(f"backend {backend!r} (from {source}) is not known; use one of {', '.join(BACKENDS)}.")
    if name == "numpy":
        chosen = Backend("numpy", np, f"requested by {source}")
    else:
        ok, why = gpu_available()
        if ok:
            import cupy  # noqa: PLC0415

            chosen = Backend("cupy", cupy, why)
        elif name == "cupy":
            raise BackendError(
                f"backend 'cupy' was requested by {source} but cannot be used: {why}. Use backend='auto' or 'numpy' on this machine."
            )
        else:
            chosen = Backend("numpy", np, f"auto: {why}")
    _log.info(chosen.notice)
    return chosen


def get_namespace(*arrays) -> ModuleType:
    """Return the array namespace (``numpy`` or ``cupy``) of the given arrays.

    Raises ``TypeError`` when NumPy and CuPy arrays are mixed.
    """
    names = {type(a).__module__.split(".")[0] for a in arrays if hasattr(a, "__array_namespace__") or isinstance(a, np.ndarray)}
    names.discard("numpy")
    if not names:
        return np
    if names == {"cupy"}:
        if any(isinstance(a, np.ndarray) for a in arrays):
            raise TypeError("NumPy and CuPy arrays are mixed; move them to one device first (hyperspec.to_numpy or cupy.asarray).")
        import cupy  # noqa: PLC0415

        return cupy
    return np


def to_numpy(array) -> np.ndarray:
    """Return a NumPy array from a NumPy or CuPy array (copying from the device if needed)."""
    return array.get() if on_device(array) else np.asarray(array)


CUDA_KERNELS_VAR = "HYPERSPEC_CUDA_KERNELS"


def cuda_kernels_enabled() -> bool:
    """True when ``HYPERSPEC_CUDA_KERNELS=1``: the CUDA kernels of ``kernels/`` replace the ``xp`` paths on
    CuPy. Opt-in until their GPU tests have run on a GPU (they are checked on the CPU as C++)."""
    return os.environ.get(CUDA_KERNELS_VAR) == "1"


def on_device(array) -> bool:
    """True for a CuPy (device) array."""
    return type(array).__module__.split(".")[0] == "cupy"


def like(array, reference):
    """``array`` where ``reference`` lives: left on the device when ``reference`` is a device array,
    copied to the host otherwise. A step given device data returns device data, so a chain of steps
    moves each block to the GPU once (the pipeline) while host callers still get NumPy."""
    return array if on_device(reference) else to_numpy(array)


def host_to_like(array, reference):
    """A host array (e.g. a mask or weights along the spectral axis) moved to where ``reference`` lives,
    so that it can meet ``reference`` in one operation (CuPy refuses NumPy operands)."""
    if not on_device(reference):
        return array
    import cupy  # noqa: PLC0415

    return cupy.asarray(array)


@contextlib.contextmanager
def single_threaded_blas():
    """Compute the block with BLAS on one thread; use it around ``compute()`` in the calling thread.

    The batched engines issue many small matrix products (P × m by m × P per pixel) from several
    dask threads at once; a multi-threaded BLAS inside each oversubscribes the cores (measured on
    2 cores: ``decompose`` 132 → 202 px/s). The limit is process-wide and must be set and restored by
    the thread that starts the computation: OpenBLAS does not raise its thread count again from a
    worker thread. ``hyperspec.decompose`` does this itself for in-memory input, the CLI for every run::

        with hyperspec.single_threaded_blas():
            results = hyperspec.decompose(lazy_map).compute()
    """
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    with threadpool_limits(limits=1, user_api="blas"):
        yield
