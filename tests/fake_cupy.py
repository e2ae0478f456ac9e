"""A stand-in for CuPy on machines without a GPU: NumPy arrays behind CuPy's transfer rules.

The CuPy path is written once against ``xp``, but on a machine without a GPU it never runs. This
module lets the CPU test suite run it anyway with the rules that break code on a real device:

- no implicit device → host conversion: ``np.asarray(device_array)`` raises, as in CuPy;
- a NumPy array passed to a device function or ufunc, or assigned into a device array, raises
  (CuPy refuses them: transfers must be explicit); NumPy index arrays are accepted, as in CuPy;
- a device array has no ``__index__`` (CuPy has none: it would hide a transfer);
- every explicit transfer is counted in bytes (``transfers``), so tests can check what crosses the bus;
- ``RawModule`` kernels run for real: the CUDA source is compiled as C++ (g++) and every launch runs
  the whole grid on the CPU, one host thread per CUDA thread with a barrier for ``__syncthreads`` when
  the kernel synchronises. Arguments are checked against the kernel's signature (dtype, contiguity,
  count), so the launch code of the CUDA path is tested too.

Numerics are NumPy's, so results must equal the NumPy backend's. What it cannot catch: functions
NumPy has and CuPy lacks, races and CUDA-only behaviour inside kernels, device memory limits. Install with ``install(monkeypatch)``.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import re
import shutil
import subprocess
import tempfile
import types
from pathlib import Path

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

__all__ = ["install", "ndarray"]


class Transfers:
    """Bytes and calls host → device (``h2d``) and device → host (``d2h``)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.h2d_bytes = self.d2h_bytes = self.h2d_calls = self.d2h_calls = 0

    def __repr__(self):
        return f"Transfers(h2d={self.h2d_bytes} B in {self.h2d_calls}, d2h={self.d2h_bytes} B in {self.d2h_calls})"


transfers = Transfers()


def _refuse(what: str):
    raise TypeError(f"fake CuPy: {what}; move data explicitly (cupy.asarray / .get()), as CuPy requires.")


def _dev(x, where: str):
    """Unwrap arguments of a device function: device arrays → NumPy, NumPy arrays refused, containers walked."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        _refuse(f"a numpy.ndarray of shape {x.shape} was passed to {where}")
    if isinstance(x, (list, tuple)):
        return type(x)(_dev(v, where) for v in x)
    if isinstance(x, dict):
        return {k: _dev(v, where) for k, v in x.items()}
    return x


def _index(key):
    """Index keys: device arrays, NumPy arrays (CuPy converts them), slices, ints, None, Ellipsis."""
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, list):
        return [_index(k) for k in key]
    return key


def _wrap(x):
    if isinstance(x, np.ndarray):
        return ndarray(x)
    if isinstance(x, np.generic):  # CuPy reductions return 0-d device arrays, not host scalars
        return ndarray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


class ndarray(NDArrayOperatorsMixin):  # noqa: N801 - CuPy's name
    """A device array: NumPy data that refuses implicit transfers."""

    __array_priority__ = 100
    __module__ = "cupy"  # how hyperspec._backend recognises CuPy arrays

    def __init__(self, a):
        self._a = a

    # -- the protocols that make it a device array ------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        _refuse(f"implicit conversion of a device array of shape {self._a.shape} to a NumPy array")

    def __array_namespace__(self, api_version=None):
        return module

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"ufunc {ufunc.__name__}"
        out = kwargs.get("out")
        res = getattr(ufunc, method)(*_dev(inputs, where), **_dev(kwargs, where))
        return out[0] if out is not None and len(out) == 1 else _wrap(res)  # in place: the same device array

    def __array_function__(self, func, types_, args, kwargs):
        where = f"numpy.{func.__name__}"
        return _wrap(func(*_dev(args, where), **_dev(kwargs, where)))

    def get(self, stream=None):
        transfers.d2h_bytes += self._a.nbytes
        transfers.d2h_calls += 1
        return self._a.copy()

    # -- ndarray surface ----------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    real = property(lambda self: ndarray(self._a.real))
    imag = property(lambda self: ndarray(self._a.imag))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            where = f"ndarray.{name}"
            return lambda *a, **k: _wrap(attr(*_dev(a, where), **_dev(k, where)))
        return _wrap(attr)

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        self._a[_index(key)] = _dev(value, "ndarray.__setitem__")

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __bool__(self):  # CuPy allows these, with a synchronising copy
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __repr__(self):
        return f"fake_cupy.ndarray(shape={self._a.shape}, dtype={self._a.dtype})"

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):
        _refuse("pickling a device array (a task result must be moved to the host first)")


def _to_device(x, dtype=None, copy=None, order=None, **kw):
    if isinstance(x, ndarray):
        a = x._a if dtype is None else x._a.astype(dtype, copy=False)
        if order == "C":
            a = np.ascontiguousarray(a)
        return ndarray(a.copy() if copy else a)
    a = np.array(x, dtype=dtype, copy=True, order=order or "K")
    transfers.h2d_bytes += a.nbytes
    transfers.h2d_calls += 1
    return ndarray(a)


def _asnumpy(x, stream=None):
    return x.get() if isinstance(x, ndarray) else np.asarray(x)


def _wrapped(func, where):
    def call(*args, **kwargs):
        return _wrap(func(*_dev(args, where), **_dev(kwargs, where)))

    call.__name__ = getattr(func, "__name__", where)
    return call


def _namespace(name: str, source) -> types.ModuleType:
    ns = types.ModuleType(name)

    def getattr_(attr):
        value = getattr(source, attr)
        if callable(value) and not isinstance(value, type):
            return _wrapped(value, f"{name}.{attr}")
        return value

    ns.__getattr__ = getattr_
    return ns


module = _namespace("cupy", np)
module.ndarray = ndarray
module.asarray = module.array = _to_device
module.ascontiguousarray = lambda x, dtype=None: _to_device(x, dtype=dtype, order="C")
module.asnumpy = _asnumpy
module.get_array_module = lambda *arrays: module if any(isinstance(a, ndarray) for a in arrays) else np
module.linalg = _namespace("cupy.linalg", np.linalg)
module.fft = _namespace("cupy.fft", np.fft)
module.random = _namespace("cupy.random", np.random)
module.transfers = transfers
module.__version__ = "0.0.0"  # a fake: no real CuPy version


_PRELUDE = r"""
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>
using std::exp; using std::expm1; using std::sinh; using std::log; using std::floor; using std::fabs; using std::fmin;
using std::fmax; using std::sqrt;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__
struct dim3_ { int x, y, z; };
static dim3_ blockIdx, blockDim, gridDim;
static thread_local dim3_ threadIdx;
static std::barrier<>* block_barrier = nullptr;
#define __syncthreads() block_barrier->arrive_and_wait()
"""

_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\((.*?)\)\s*\{', re.S)
_SHARED = re.compile(r"extern\s+__shared__\s+(\w+)\s+(\w+)\s*\[\s*\]\s*;")
_CTYPES = {"double": np.float64, "float": np.float32, "long long": np.int64, "int": np.int32, "unsigned char": np.uint8}


def _parse_params(text: str, real: str) -> list[tuple[str, bool, type]]:
    """(C type for the cast, is_pointer, NumPy dtype) per kernel parameter."""
    out = []
    for raw in text.split(","):
        decl = " ".join(raw.replace("__restrict__", " ").split())
        pointer = "*" in decl
        base = decl.split("*")[0] if pointer else decl.rsplit(" ", 1)[0]
        base = base.replace("const ", "").strip()
        dtype = _CTYPES[real if base == "real" else base]
        out.append(((("const " if "const" in decl else "") + base + "*") if pointer else base, pointer, dtype))
    return out


@functools.cache
def _compile(code: str):
    """The module compiled as C++ once per source: (library, {kernel: (params, synchronises)})."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        import pytest

        pytest.skip("fake CuPy: running CUDA sources on the CPU needs a C++ compiler (g++)")
    real = re.search(r"#define\s+REAL_T\s+(\w+)", code).group(1)
    kernels, wrappers = {}, []
    shared_vars = sorted(set(_SHARED.findall(code)))
    # shared memory is poisoned (NaN bytes) before every block: a read of what no thread wrote shows up
    poison = "".join(f"std::memset({var}, 0xFF, std::min((size_t)shared, sizeof({var})));" for _, var in shared_vars)
    bodies = _SIGNATURE.split(code)
    for name, params in _SIGNATURE.findall(code):
        body = bodies[bodies.index(name) + 2]
        parsed = _parse_params(params, real)
        sync = "__syncthreads" in body.split('extern "C"')[0]
        kernels[name] = (parsed, sync)
        call = f"{name}(" + ", ".join(f"*({t}*)a[{k}]" for k, (t, _, _) in enumerate(parsed)) + ")"
        # a kernel with __syncthreads: one thread per threadIdx for the whole launch (not per block), which walks
        # the blocks in step with the others; thread 0 sets the block and poisons shared memory between two
        # barriers (every thread has left the previous block, and sees the new index and memory); threads
        # started per block cost most of a launch on a busy machine. Without barriers: a thread after another.
        blocks = "for (int by = 0; by < gy; ++by) for (int b = 0; b < gx; ++b)"
        launch = (
            f"std::barrier<> bar(bx); block_barrier = &bar; std::vector<std::thread> pool;"
            f"for (int t = 0; t < bx; ++t) pool.emplace_back([=] {{ threadIdx.x = t; {blocks} {{"
            f"block_barrier->arrive_and_wait(); if (t == 0) {{ blockIdx.x = b; blockIdx.y = by; {poison} }}"
            f"block_barrier->arrive_and_wait();"
            f"{call}; }} }});"
            f"for (auto& th : pool) th.join();"
            if sync
            else f"{blocks} {{ blockIdx.x = b; blockIdx.y = by; {poison} for (int t = 0; t < bx; ++t) {{ threadIdx.x = t; {call}; }} }}"
        )
        wrappers.append(
            f'extern "C" void launch_{name}(int gx, int gy, int bx, int shared, void** a) {{'
            f"blockDim.x = bx; blockDim.y = 1; gridDim.x = gx; gridDim.y = gy; {launch} }}"
        )
    shared = "".join(f"{typ} {var}[1 << 17];\n" for typ, var in shared_vars)
    text = _PRELUDE + code + "\n" + shared + "\n".join(wrappers) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]  # of the whole generated source: a changed harness rebuilds
    folder = Path(tempfile.gettempdir()) / f"fake-cupy-{digest}"
    folder.mkdir(exist_ok=True)
    src, lib = folder / "module.cpp", folder / "module.so"
    src.write_text(text)
    if not lib.exists():
        tmp = folder / f"module.{id(code)}.so"
        cmd = [cxx, "-O1", "-std=c++20", "-pthread", "-shared", "-fPIC", str(src), "-o", str(tmp)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 and "<barrier>" in done.stderr:
            import pytest

            pytest.skip("fake CuPy: the C++ compiler has no C++20 <barrier>")
        if done.returncode != 0:
            raise RuntimeError(f"fake CuPy: the CUDA source does not compile as C++:\n{done.stderr[-3000:]}")
        tmp.replace(lib)
    return ctypes.CDLL(str(lib)), kernels


class RawModule:
    """``cupy.RawModule(code=...)``: its kernels run on the CPU, compiled as C++."""

    def __init__(self, code: str, **_):
        self.code = code

    def get_function(self, name: str):
        lib, kernels = _compile(self.code)
        if name not in kernels:
            raise AttributeError(f"fake CuPy: the module has no kernel {name!r} (it has {sorted(kernels)})")
        return _Kernel(lib, name, *kernels[name])


class _Kernel:
    def __init__(self, lib, name, params, sync):
        self.launch, self.name, self.params, self.sync = getattr(lib, f"launch_{name}"), name, params, sync

    def __call__(self, grid, block, args, shared_mem=0, **_):
        if len(args) != len(self.params):
            raise TypeError(f"fake CuPy: kernel {self.name} takes {len(self.params)} arguments; got {len(args)}.")
        if shared_mem > 48 * 1024:
            raise ValueError(f"fake CuPy: kernel {self.name} asks for {shared_mem} B of shared memory (> 48 KiB without opt-in).")
        holders = []
        for k, (arg, (ctype, pointer, dtype)) in enumerate(zip(args, self.params, strict=True)):
            if pointer:
                if not isinstance(arg, ndarray):
                    raise TypeError(f"fake CuPy: argument {k} of {self.name} must be a device array ({ctype}); got {type(arg).__name__}.")
                if arg.dtype != dtype or not arg._a.flags.c_contiguous:
                    raise TypeError(f"fake CuPy: argument {k} of {self.name} must be C-contiguous {np.dtype(dtype)}; got {arg.dtype}, "
                                    f"contiguous={arg._a.flags.c_contiguous}.")  # fmt: skip
                holders.append(ctypes.c_void_p(arg._a.ctypes.data))
            else:
                if isinstance(arg, (ndarray, np.ndarray)) or np.asarray(arg).dtype != dtype:
                    raise TypeError(f"fake CuPy: argument {k} of {self.name} must be a {np.dtype(dtype)} scalar; got {arg!r}.")
                holders.append(np.ctypeslib.as_ctypes_type(dtype)(arg))
        ptrs = (ctypes.c_void_p * len(holders))(*[ctypes.addressof(h) for h in holders])
        grid = tuple(grid) + (1,) * (2 - len(tuple(grid)))
        self.launch(int(grid[0]), int(grid[1]), int(tuple(block)[0]), int(shared_mem), ptrs)


def _memoize(for_each_device=False):
    return functools.cache


class _Runtime:
    @staticmethod
    def getDeviceProperties(i):  # noqa: N802 - CUDA's name
        return {"name": b"fake device (NumPy behind CuPy's transfer rules)", "totalGlobalMem": 8 << 30}

    @staticmethod
    def memGetInfo():  # noqa: N802
        return 6 << 30, 8 << 30


module.RawModule = RawModule
module.memoize = _memoize
module.cuda = types.SimpleNamespace(is_available=lambda: True, runtime=_Runtime())


def install(monkeypatch) -> types.ModuleType:
    """Make ``import cupy`` return this module for one test (and reset the transfer counters)."""
    import sys

    from hyperspec import _backend, _kernels

    monkeypatch.setitem(sys.modules, "cupy", module)
    # a fresh kernel-builder cache for this test: the real CuPy's builds never mix with the fake's
    monkeypatch.setattr(_kernels, "_builder", functools.lru_cache(maxsize=1)(_kernels._builder.__wrapped__))
    monkeypatch.setattr(_backend, "gpu_available", lambda: (True, "CUDA device 0: fake (NumPy behind CuPy's transfer rules)"))
    transfers.reset()
    return module
