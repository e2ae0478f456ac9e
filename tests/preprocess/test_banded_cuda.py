"""The CUDA band-Cholesky kernel (kernels/banded.cu) against the xp reference of hyperspec/preprocess/_banded.py:
run as C++ on the CPU (one loop over the thread grid), and through CuPy: on the GPU where there is one,
elsewhere on the fake device (tests/fake_cupy.py), which runs the same source as C++ behind CuPy's launch API."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from hyperspec.preprocess import _banded

_HARNESS = r"""
#include <cmath>
using std::sqrt;
#define __global__
struct dim3_ { int x, y, z; };
static dim3_ blockIdx, threadIdx, blockDim;
#include "KERNEL"
extern "C" void run(const double* w, const double* b, const double* bands, int n, int m, int d, double* L, double* out) {
    blockDim.x = 128;
    for (int g = 0; g < (n + 127) / 128; ++g) for (int t = 0; t < 128; ++t) {  // the whole grid, thread by thread
        blockIdx.x = g; threadIdx.x = t;
        banded_solve(w, b, bands, n, m, d, L, out);
    }
}
"""


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def _problem(n, m, d, lam, seed):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.0, 1.0, (n, m))
    w[:, ::7] = 0.0  # masked channels: only the penalty holds them
    b = w * (100.0 + 10.0 * rng.standard_normal((n, m)))
    return w, b, _banded.difference_penalty(m, d, lam)


def test_banded_kernel_run_as_cpp_equals_the_xp_loop(tmp_path):
    from hyperspec import _kernels

    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    src = tmp_path / "banded.cu"
    src.write_text(_kernels.source("banded"))
    if shutil.which("nvcc"):
        subprocess.run(["nvcc", "-ptx", str(src), "-o", str(tmp_path / "banded.ptx")], check=True, capture_output=True, timeout=300)
    (tmp_path / "h.cpp").write_text(_HARNESS.replace("KERNEL", str(src)))
    subprocess.run([cxx, "-O1", "-shared", "-fPIC", str(tmp_path / "h.cpp"), "-o", str(tmp_path / "h.so")], check=True)
    run = ctypes.CDLL(str(tmp_path / "h.so")).run
    for d, lam in ((1, 1e2), (2, 1e5), (2, 1e8), (3, 1e6)):
        n, m = 37, 300  # n not a multiple of the 128-thread block: the last block's spare threads leave
        w, b, bands = _problem(n, m, d, lam, seed=d)
        ref = _banded.solve(w, b, bands, engine="xp")[0]
        wt, bt = np.ascontiguousarray(w.T), np.ascontiguousarray(b.T)
        factor, zt = np.zeros((d + 1, m, n)), np.zeros((m, n))
        run(_ptr(wt), _ptr(bt), _ptr(np.ascontiguousarray(bands)), n, m, d, _ptr(factor), _ptr(zt))
        np.testing.assert_allclose(zt.T, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max(), err_msg=f"d={d}, lam={lam}")
    w, b, bands = _problem(3, 50, 2, 1e3, seed=9)
    w[1, 10] = -1e9  # a non-positive pivot: NaN, which the callers catch as a failed solve
    wt, bt = np.ascontiguousarray(w.T), np.ascontiguousarray(b.T)
    factor, zt = np.zeros((3, 50, 3)), np.zeros((50, 3))
    run(_ptr(wt), _ptr(bt), _ptr(np.ascontiguousarray(bands)), 3, 50, 2, _ptr(factor), _ptr(zt))
    assert np.isnan(zt[:, 1]).any() and np.all(np.isfinite(zt[:, [0, 2]]))


def test_cuda_engine_needs_cupy():
    w, b, bands = _problem(2, 20, 2, 1e3, seed=0)
    with pytest.raises(ValueError, match="engine='cuda' needs CuPy arrays"):
        _banded.solve(w, b, bands, engine="cuda")
    with pytest.raises(ValueError, match="engine must be one of 'auto', 'numba', 'cuda', 'xp'"):
        _banded.solve(w, b, bands, engine="gpu")


def test_banded_kernel_through_cupy_equals_numpy(gpu_xp):
    cupy = gpu_xp
    for d, lam in ((1, 1e2), (2, 1e6), (3, 1e4)):
        w, b, bands = _problem(300, 1000, d, lam, seed=d)
        z, used = _banded.solve(cupy.asarray(w), cupy.asarray(b), bands, engine="cuda")
        assert used == "cuda"
        ref = _banded.solve(w, b, bands, engine="xp")[0]
        np.testing.assert_allclose(cupy.asnumpy(z), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
