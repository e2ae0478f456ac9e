"""The CUDA band-Cholesky kernel (kernels/banded.cu) against the xp reference of hyperspec/preprocess/_banded.py:
launched directly on the CPU (the source compiled as C++ by tests/fake_cupy.py), and through the CuPy
wrapper: on the GPU where there is one, elsewhere on the fake device."""

from __future__ import annotations

import numpy as np
import pytest

from hyperspec.preprocess import _banded


def _problem(n, m, d, lam, seed):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.0, 1.0, (n, m))
    w[:, ::7] = 0.0  # masked channels: only the penalty holds them
    b = w * (100.0 + 10.0 * rng.standard_normal((n, m)))
    return w, b, _banded.difference_penalty(m, d, lam)


def _run(w, b, bands, d):
    """``banded_solve`` on the CPU (the source compiled as C++ by the fake device), channel-major as the wrapper lays it out."""
    from hyperspec import _kernels
    from tests import fake_cupy

    n, m = w.shape
    kernel = fake_cupy.RawModule(code="#define REAL_T double\n" + _kernels.source("banded")).get_function("banded_solve")
    wt, bt = fake_cupy.ndarray(np.ascontiguousarray(w.T)), fake_cupy.ndarray(np.ascontiguousarray(b.T))
    factor, zt = fake_cupy.ndarray(np.zeros((d + 1, m, n))), fake_cupy.ndarray(np.zeros((m, n)))
    bands = fake_cupy.ndarray(np.ascontiguousarray(bands))
    kernel(((n + 127) // 128,), (128,), (wt, bt, bands, np.int32(n), np.int32(m), np.int32(d), factor, zt))
    return zt._a.T


def test_banded_kernel_run_as_cpp_equals_the_xp_loop(tmp_path):
    from tests.fit.test_cuda_fused import ptx_compiles

    ptx_compiles(tmp_path, "banded")
    for d, lam in ((1, 1e2), (2, 1e5), (2, 1e8), (3, 1e6)):
        n, m = 37, 300  # n not a multiple of the 128-thread block: the last block's spare threads leave
        w, b, bands = _problem(n, m, d, lam, seed=d)
        ref = _banded.solve(w, b, bands, engine="xp")[0]
        np.testing.assert_allclose(_run(w, b, bands, d), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max(), err_msg=f"d={d}, lam={lam}")
    w, b, bands = _problem(3, 50, 2, 1e3, seed=9)
    w[1, 10] = -1e9  # a non-positive pivot: NaN, which the callers catch as a failed solve
    z = _run(w, b, bands, 2)
    assert np.isnan(z[1]).any() and np.all(np.isfinite(z[[0, 2]]))


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
