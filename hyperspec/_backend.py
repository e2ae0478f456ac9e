"""The one place where the compute backend (NumPy or CuPy) and the compiled engines are chosen.

``resolve_backend`` turns two settings into one context object, a :class:`Backend`:

- the **backend**, the array namespace ``xp``: an explicit ``backend=`` argument (CLI ``--backend``,
  recipe ``compute.backend``), then ``$HYPERSPEC_BACKEND``, then ``"auto"`` (CuPy when it imports *and*
  a CUDA device is usable, NumPy otherwise);
- the **kernels**, which compiled engines may replace the ``xp`` paths: an explicit ``kernels=``
  argument, then ``$HYPERSPEC_KERNELS``, then the deprecated aliases ``HYPERSPEC_FUSED=0`` (≡ ``xp``)
  and ``HYPERSPEC_CUDA_KERNELS=1`` (≡ ``cuda``), then ``"auto"``.

Public functions take ``backend: str | Backend | None = None`` and call ``resolve_backend(backend)``
once; a resolved ``Backend`` passes through unchanged. Algorithms never branch on a name: they use
``be.xp`` (or ``get_namespace(array)``), ``be.on_gpu`` and ``be.engine_for(xp)``. Code that gets
arrays but no context (a model built inside an engine, a banded solve) asks ``kernel_engine(xp)``,
which reads the same settings through the same resolution.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from hyperspec._errors import BackendError

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "KERNELS",
    "KERNELS_VAR",
    "Backend",
    "resolve_backend",
    "kernel_engine",
    "gpu_available",
    "numba_available",
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
#: Which compiled engines may run: ``auto`` (numba on the CPU when installed; the CUDA kernels stay
#: opt-in until validated on a GPU), ``xp`` (none: the array-namespace reference paths), ``numba``
#: (numba required on the CPU, CUDA kernels off), ``cuda`` (as ``auto``, plus the CUDA kernels on CuPy).
KERNELS = ("auto", "xp", "numba", "cuda")
KERNELS_VAR = "HYPERSPEC_KERNELS"
FUSED_VAR = "HYPERSPEC_FUSED"  # deprecated: "0" is HYPERSPEC_KERNELS=xp
CUDA_KERNELS_VAR = "HYPERSPEC_CUDA_KERNELS"  # deprecated: "1" is HYPERSPEC_KERNELS=cuda
#: "0": on the CPU the LM forms its normal equations from the fused kernel's (f, J) with a batched GEMM
#: instead of the numba normal-equation kernel (an A/B switch; the results agree to 1e-8 and the same n_iter)
FUSED_NORMAL_VAR = "HYPERSPEC_FUSED_NORMAL"
#: "0": on the CPU the LM iterates in NumPy over (n, P, P) stacks (batched) instead of the compiled per-pixel loop
#: of the numba kernel (an A/B switch; the same steps, results within rounding)
COMPILED_LM_VAR = "HYPERSPEC_COMPILED_LM"
_log = logging.getLogger("hyperspec")
_NOTICED: set[str] = set()  # notices already logged: one per distinct choice, not one per call
_ENGINE_WORDS = {"numba": "numba kernels", "cuda": "CUDA kernels"}


@dataclass(frozen=True)
class Backend:
    """A resolved backend: the array namespace, why it was chosen, and which compiled engines may run.

    Returned by :func:`resolve_backend`; public functions accept it as ``backend=`` and use it as it is.

    Parameters
    ----------
    name : {"numpy", "cupy"}
        The backend.
    xp : module
        Its array namespace (``numpy`` or ``cupy``).
    reason : str
        Why this backend was chosen (e.g. ``"requested by $HYPERSPEC_BACKEND"``).
    cpu_kernels : bool, optional
        The compiled CPU kernels (numba: fused composite models, the Whittaker and modpoly loops) replace
        the NumPy paths on host arrays. Default False (the ``xp`` reference paths).
    cuda_kernels : bool, optional
        The CUDA kernels of ``kernels/`` (fused models, banded solves) replace the CuPy paths on device
        arrays. Default False.
    kernels_reason : str, optional
        Why these engines were chosen (``"auto"`` or e.g. ``"requested by $HYPERSPEC_KERNELS"``).

    Examples
    --------
    >>> be = resolve_backend("numpy", kernels="xp")
    >>> be.name, be.on_gpu, be.engine_for(be.xp), be.engine
    ('numpy', False, 'xp', 'numpy array paths')
    >>> resolve_backend(be) is be
    True
    """

    name: str
    xp: ModuleType
    reason: str
    cpu_kernels: bool = False
    cuda_kernels: bool = False
    kernels_reason: str = "default"

    @property
    def on_gpu(self) -> bool:
        """True when the backend computes on a CUDA device (CuPy)."""
        return self.name == "cupy"

    def engine_for(self, xp: ModuleType | None = None) -> str:
        """The compiled engine for arrays of namespace ``xp`` (default this backend's).

        Parameters
        ----------
        xp : module, optional
            ``numpy`` or ``cupy`` (``get_namespace`` of the arrays at hand).

        Returns
        -------
        str
            ``"numba"`` (host arrays, CPU kernels on), ``"cuda"`` (device arrays, CUDA kernels on) or
            ``"xp"`` (the array-namespace path).

        Examples
        --------
        >>> import numpy as np
        >>> Backend("numpy", np, "example", cpu_kernels=True).engine_for(np)
        'numba'
        """
        return _engine(self.xp if xp is None else xp, self.cpu_kernels, self.cuda_kernels)

    @property
    def engine(self) -> str:
        """A readable description of what computes on this backend's arrays, e.g. ``"numba kernels"``."""
        kind = self.engine_for()
        return _ENGINE_WORDS.get(kind, f"{self.xp.__name__} array paths")

    @property
    def notice(self) -> str:
        """One line saying which backend and engine run and why (printed by the CLI, logged once)."""
        why = self.kernels_reason
        if why == "auto":
            why += ": CUDA kernels opt-in" if self.on_gpu else ("" if self.cpu_kernels else ": numba not installed")
        return f"hyperspec: backend {self.name} ({self.reason}); engine {self.engine} ({why})"


def _engine(xp: ModuleType, cpu_kernels: bool, cuda_kernels: bool) -> str:
    if xp is np:
        return "numba" if cpu_kernels else "xp"
    return "cuda" if cuda_kernels else "xp"


def _kernel_setting(kernels: str | None) -> tuple[str, str]:
    """``(setting, source)``: the kernels argument, else ``$HYPERSPEC_KERNELS``, else the deprecated aliases, else auto."""
    if kernels is not None:
        return str(kernels), "argument"
    if os.environ.get(KERNELS_VAR):
        return os.environ[KERNELS_VAR], f"${KERNELS_VAR}"
    if os.environ.get(FUSED_VAR, "1") == "0":
        return "xp", f"{FUSED_VAR}=0, a deprecated alias of {KERNELS_VAR}=xp"
    if os.environ.get(CUDA_KERNELS_VAR) == "1":
        return "cuda", f"{CUDA_KERNELS_VAR}=1, a deprecated alias of {KERNELS_VAR}=cuda"
    return "auto", "default"


def _resolve_kernels(kernels: str | None = None) -> tuple[bool, bool, str]:
    """``(cpu_kernels, cuda_kernels, reason)`` for a kernels setting (None: from the environment)."""
    setting, source = _kernel_setting(kernels)
    name = setting.strip().lower()
    if name not in KERNELS:
        raise BackendError(f"kernels {setting!r} (from {source}) is not known; use one of {', '.join(KERNELS)}.")
    if name == "xp":
        return False, False, f"requested by {source}"
    if name == "numba" and not numba_available():
        raise BackendError(
            f"kernels 'numba' were requested by {source} but numba does not import; pip install 'hyperspec-maps[fast]' or use 'auto'."
        )
    cpu = numba_available()
    return cpu, name == "cuda", "auto" if name == "auto" else f"requested by {source}"


def kernel_engine(xp: ModuleType = np, kernels: str | None = None) -> str:
    """The compiled engine the current settings allow for arrays of namespace ``xp``.

    For code that holds arrays but no :class:`Backend` (a model built inside an engine, a banded solve
    called directly); it reads the same settings as :func:`resolve_backend`.

    Parameters
    ----------
    xp : module, optional
        ``numpy`` (default) or ``cupy``.
    kernels : {"auto", "xp", "numba", "cuda"}, optional
        The setting; default ``$HYPERSPEC_KERNELS`` (or its deprecated aliases), else ``"auto"``.

    Returns
    -------
    str
        ``"numba"``, ``"cuda"`` or ``"xp"``.

    Raises
    ------
    BackendError
        For an unknown setting, or ``"numba"`` where numba does not import.

    Examples
    --------
    >>> import numpy as np
    >>> kernel_engine(np, kernels="xp")
    'xp'
    """
    cpu, cuda, _ = _resolve_kernels(kernels)
    return _engine(xp, cpu, cuda)


@functools.lru_cache(maxsize=1)
def numba_available() -> bool:
    """True when numba imports (the ``fast`` extra): the compiled CPU kernels can run.

    Returns
    -------
    bool
        Whether ``import numba`` succeeds (cached).

    Examples
    --------
    >>> isinstance(numba_available(), bool)
    True
    """
    try:
        import numba  # noqa: F401, PLC0415
    except Exception:  # a broken numba must not break hyperspec
        return False
    return True


@functools.lru_cache(maxsize=1)
def gpu_available() -> tuple[bool, str]:
    """Return ``(usable, reason)``: whether CuPy imports and sees a CUDA device.

    Returns
    -------
    usable : bool
        CuPy imports and CUDA device 0 answers (cached).
    reason : str
        The device's name, or why it cannot be used.

    Examples
    --------
    >>> ok, why = gpu_available()
    >>> isinstance(ok, bool) and isinstance(why, str)
    True
    """
    try:
        import cupy  # noqa: PLC0415
    except ImportError:
        return False, "CuPy is not installed; install hyperspec-maps[gpu] for GPU support"
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


def resolve_backend(backend: str | Backend | None = None, *, kernels: str | None = None) -> Backend:
    """Resolve the backend and the compiled engines into one :class:`Backend` context.

    The backend: ``backend`` if given, else ``$HYPERSPEC_BACKEND``, else ``"auto"`` (CuPy when a CUDA
    device is usable, NumPy otherwise). The engines: ``kernels`` if given, else ``$HYPERSPEC_KERNELS``
    (deprecated aliases ``HYPERSPEC_FUSED=0`` → ``xp``, ``HYPERSPEC_CUDA_KERNELS=1`` → ``cuda``), else
    ``"auto"``. The notice (``Backend.notice``) is logged once per distinct choice.

    Parameters
    ----------
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        The backend (case-insensitive). A ``Backend`` is returned unchanged (unless ``kernels`` is
        given: then its backend is kept and the engines are resolved anew).
    kernels : {"auto", "xp", "numba", "cuda"}, optional
        Which compiled engines may replace the ``xp`` paths (see ``KERNELS``).

    Returns
    -------
    Backend
        The context: ``name``, ``xp``, ``reason``, ``cpu_kernels``, ``cuda_kernels``, ``engine``.

    Raises
    ------
    BackendError
        For an unknown name (saying whether it came from the argument or the environment variable),
        ``"cupy"`` requested where no GPU is usable, or ``kernels="numba"`` without numba.

    Examples
    --------
    >>> be = resolve_backend("numpy")
    >>> be.name, be.xp.__name__, be.reason
    ('numpy', 'numpy', 'requested by argument')
    >>> resolve_backend(be) is be
    True
    """
    if isinstance(backend, Backend):
        if kernels is None:
            return backend
        backend = backend.name
    source = "argument"
    if backend is None:
        env = os.environ.get(ENV_VAR)
        backend, source = (env, f"${ENV_VAR}") if env else ("auto", "default")
    name = str(backend).strip().lower()
    if name not in BACKENDS:
        raise BackendError(f"backend {backend!r} (from {source}) is not known; use one of {', '.join(BACKENDS)}.")
    cpu, cuda, why_kernels = _resolve_kernels(kernels)
    if name == "numpy":
        chosen = Backend("numpy", np, f"requested by {source}", cpu, cuda, why_kernels)
    else:
        ok, why = gpu_available()
        if ok:
            import cupy  # noqa: PLC0415

            chosen = Backend("cupy", cupy, why if name == "auto" else f"requested by {source}; {why}", cpu, cuda, why_kernels)
        elif name == "cupy":
            raise BackendError(
                f"backend 'cupy' was requested by {source} but cannot be used: {why}. Use backend='auto' or 'numpy' on this machine."
            )
        else:
            chosen = Backend("numpy", np, f"auto: {why}", cpu, cuda, why_kernels)
    if chosen.notice not in _NOTICED:
        _NOTICED.add(chosen.notice)
        _log.info(chosen.notice)
    return chosen


def get_namespace(*arrays) -> ModuleType:
    """Return the array namespace (``numpy`` or ``cupy``) of the given arrays.

    Parameters
    ----------
    *arrays
        Arrays (NumPy or CuPy) and scalars; anything that is not an array is ignored.

    Returns
    -------
    module
        ``cupy`` when any argument is a CuPy array, ``numpy`` otherwise.

    Raises
    ------
    TypeError
        When NumPy and CuPy arrays are mixed.

    Examples
    --------
    >>> import numpy as np
    >>> get_namespace(np.arange(3.0), 1.0).__name__
    'numpy'
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
    """Return a NumPy array from a NumPy or CuPy array (copying from the device if needed).

    Parameters
    ----------
    array : array_like
        A NumPy or CuPy array (or anything ``numpy.asarray`` takes).

    Returns
    -------
    numpy.ndarray
        The same array on the host (not copied when it is already one).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(3.0)
    >>> to_numpy(a) is a
    True
    """
    return array.get() if on_device(array) else np.asarray(array)


def cuda_kernels_enabled() -> bool:
    """True when the current settings let the CUDA kernels of ``kernels/`` replace the ``xp`` paths on CuPy.

    Deprecated: use ``resolve_backend(...).cuda_kernels`` or ``kernel_engine(cupy) == "cuda"``. Kept
    for callers of the old ``HYPERSPEC_CUDA_KERNELS=1`` switch (now an alias of ``HYPERSPEC_KERNELS=cuda``).

    Returns
    -------
    bool
        True for ``HYPERSPEC_KERNELS=cuda`` (or ``HYPERSPEC_CUDA_KERNELS=1``).

    Examples
    --------
    >>> isinstance(cuda_kernels_enabled(), bool)
    True
    """
    return _resolve_kernels()[1]


def on_device(array) -> bool:
    """True for a CuPy (device) array.

    Parameters
    ----------
    array : object
        Any object.

    Returns
    -------
    bool
        Whether it is a CuPy array.

    Examples
    --------
    >>> import numpy as np
    >>> on_device(np.zeros(2))
    False
    """
    return type(array).__module__.split(".")[0] == "cupy"


def like(array, reference):
    """``array`` where ``reference`` lives: on the device when ``reference`` is a device array, else on the host.

    A step given device data returns device data, so a chain of steps moves each block to the GPU
    once (the pipeline) while host callers still get NumPy.

    Parameters
    ----------
    array : array
        A NumPy or CuPy array (a step's result).
    reference : array
        The step's input.

    Returns
    -------
    array
        ``array`` unchanged when ``reference`` is on the device, else ``to_numpy(array)``.

    Examples
    --------
    >>> import numpy as np
    >>> like(np.ones(2), np.zeros(2))
    array([1., 1.])
    """
    return array if on_device(reference) else to_numpy(array)


def host_to_like(array, reference):
    """A host array (e.g. a mask or weights along the spectral axis) moved to where ``reference`` lives.

    So that it can meet ``reference`` in one operation (CuPy refuses NumPy operands).

    Parameters
    ----------
    array : numpy.ndarray
        A host array.
    reference : array
        A NumPy or CuPy array.

    Returns
    -------
    array
        ``array`` itself for a host ``reference``, ``cupy.asarray(array)`` for a device one.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.ones(3, dtype=bool)
    >>> host_to_like(m, np.zeros(3)) is m
    True
    """
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
    worker thread. ``hyperspec.decompose`` does this itself for in-memory input, the CLI for every run.

    Yields
    ------
    None
        BLAS runs on one thread inside the ``with`` block; the previous limits are restored after it.

    Examples
    --------
    >>> import numpy as np
    >>> with single_threaded_blas():
    ...     float(np.linalg.inv(np.eye(2) * 2.0)[0, 0])
    0.5
    """
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    with threadpool_limits(limits=1, user_api="blas"):
        yield


_compile_lock = threading.Lock()
_compile_seen: set[str] = set()


def _needs_compile(kernel) -> bool:
    """True when the numba dispatcher ``kernel`` has compiled nothing in this process and its disk cache is empty."""
    if getattr(kernel, "signatures", None):
        return False
    index = getattr(getattr(getattr(kernel, "_cache", None), "_cache_file", None), "_index_path", None)
    return index is not None and not os.path.exists(index)  # numba's private cache layout: when unknown, say nothing


@contextlib.contextmanager
def numba_compile_notice(what: str, *kernels):
    """Announce, once per process, that numba compiles ``what`` now because its on-disk cache holds none.

    The first use of the compiled kernels after an install or an upgrade compiles them (tens of
    seconds on 2 cores; the ``cache=True`` files make every later process load them in ~1 s). The
    ``hyperspec`` logger gets one line (WARNING, so Python's default handler prints it on stderr)
    before the compile and one with its duration after; when the cache holds the kernels, nothing
    is said.

    Parameters
    ----------
    what : str
        What the kernels do, for the message (e.g. ``"baseline"``).
    *kernels : numba dispatcher
        The ``numba.njit(cache=True)`` functions about to be called.

    Yields
    ------
    bool
        Whether a compile was announced.

    Examples
    --------
    >>> with numba_compile_notice("example") as announced:
    ...     pass
    >>> announced
    False
    """
    with _compile_lock:
        first = what not in _compile_seen
        _compile_seen.add(what)
    if not (first and kernels and any(_needs_compile(k) for k in kernels)):
        yield False
        return
    where = os.path.dirname(kernels[0]._cache._cache_file._index_path)
    _log.warning("numba: compiling the %s kernels (first use after an install or upgrade; once, then cached on disk)", what)
    start = time.perf_counter()
    yield True
    _log.warning("numba: %s kernels compiled in %.0f s, cached in %s", what, time.perf_counter() - start, where)
