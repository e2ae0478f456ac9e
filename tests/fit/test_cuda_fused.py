"""The fused CUDA kernel (kernels/fused_model.cu) against its references: the ``xp`` path of
``CompositeModel`` on CuPy, the numba kernel on the CPU, and ``decompose`` on NumPy. GPU only."""

from __future__ import annotations

import numpy as np
import pytest

from hyperspec.bands.presets import PRESETS
from hyperspec.fit.composite import CompositeModel
from hyperspec.fit.decompose import build_model_spec


def _model_pair(spec, shift, energy):
    cp = pytest.importorskip("cupy")
    reference = CompositeModel(spec, cp.asarray(shift), cp.asarray(energy), fused=False)
    kernel = CompositeModel(spec, cp.asarray(shift), cp.asarray(energy), fused=True)
    assert reference.engine == "cupy" and kernel.engine == "cuda-fused"
    return cp, reference, kernel


def _params(model, n, seed=0):
    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(model.lower, float), np.asarray(model.upper, float)
    init = np.asarray(model.init, float)
    lo = np.where(np.isfinite(lo), lo, init - 1.0 - np.abs(init))
    hi = np.where(np.isfinite(hi), hi, init + 1.0 + np.abs(init))
    return lo + (hi - lo) * rng.uniform(0.05, 0.95, (n, init.size))


@pytest.mark.gpu
@pytest.mark.parametrize("include", [(), ("sbpl1", "sbpl2")])
def test_cuda_kernel_equals_the_xp_path_on_the_preset(include):
    shift = np.linspace(-1800.0, 2200.0, 1024)
    energy = 1239.84198 / (1e7 / (1e7 / 633.0 - shift))
    spec = build_model_spec("cspbbr3-633", None, include=list(include))["terms"]
    cp, reference, kernel = _model_pair(spec, shift, energy)
    p = cp.asarray(_params(reference, 300))
    f_ref, j_ref = reference.value_and_jacobian(None, p)
    f, j = kernel.value_and_jacobian(None, p)
    scale_f = float(cp.abs(f_ref).max())
    assert float(cp.abs(f - f_ref).max()) <= 1e-12 * scale_f
    err = cp.abs(j - j_ref).max(axis=(0, 1)) / cp.maximum(cp.abs(j_ref).max(axis=(0, 1)), 1e-300)
    assert float(err.max()) <= 1e-10
    np.testing.assert_allclose(cp.asnumpy(kernel.value(None, p)), cp.asnumpy(f_ref), rtol=1e-12, atol=1e-12 * scale_f)


@pytest.mark.gpu
def test_cuda_kernel_equals_the_numba_kernel_with_ties_windows_and_freeform():
    pytest.importorskip("numba")
    shift = np.linspace(100.0, 1900.0, 700)
    spec = {
        "line1": {"shape": "lorentzian", "init": {"center": 520.0, "hwhm": 4.0, "height": 100.0}, "window": [400.0, 700.0]},
        "line2": {"shape": "pseudo_voigt", "init": {"center": 1590.0, "hwhm": 15.0, "eta": 0.5, "height": 50.0}},
        "line3": {"shape": "gaussian", "init": {"center": 1350.0, "hwhm": 30.0, "height": 20.0}},
        "base": {"shape": "polynomial2"},
    }
    cp, reference, kernel = _model_pair(spec, shift, shift)
    cpu = CompositeModel(spec, shift, shift, fused=True)
    assert cpu.engine == "numba-fused"
    p = _params(cpu, 64, seed=3)
    f_cpu, j_cpu = cpu.value_and_jacobian(None, p)
    f, j = kernel.value_and_jacobian(None, cp.asarray(p))
    np.testing.assert_allclose(cp.asnumpy(f), f_cpu, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(cp.asnumpy(j), j_cpu, rtol=1e-10, atol=1e-9)


@pytest.mark.gpu
def test_decompose_with_the_cuda_kernel_equals_numpy(small_map, monkeypatch):
    from hyperspec.fit.decompose import decompose

    monkeypatch.setenv("HYPERSPEC_CUDA_KERNELS", "1")
    ds, _ = small_map
    sub = ds.isel(y=slice(0, 4), x=slice(0, 6))
    cpu = decompose(sub, backend="numpy")
    gpu = decompose(sub, backend="cupy")
    assert gpu.attrs["engine"] == "cuda-fused"
    for name in ("aspl_area", "lers_temperature_k", "hers_area", "status"):
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-6)


def test_kernel_source_ships_and_the_cuda_path_is_opt_in():
    from hyperspec import _kernels

    assert "fused_model" in _kernels.available()
    src = _kernels.source("fused_model")
    assert 'extern "C" __global__ void fused_model(' in src and "REAL_T" in src
    shift = np.linspace(-1800.0, 2200.0, 64)
    model = CompositeModel(build_model_spec("cspbbr3-633", None)["terms"], shift, 1239.84198 / (1e7 / (1e7 / 633.0 - shift)))
    assert model.engine in ("numba-fused", "numpy")  # NumPy never picks the CUDA kernel


_HARNESS = r"""
#include <cmath>
#include <cstddef>
using std::exp; using std::expm1; using std::sinh; using std::log; using std::floor; using std::fabs; using std::fmin; using std::fmax;
#define __global__
struct dim3_ { int x, y, z; };
static dim3_ blockIdx, threadIdx, blockDim;
#include "KERNEL"
extern "C" void run_all(const double* shift, const double* energy, const double* p, const long long* codes,
                        const unsigned char* on_energy, const long long* starts, const long long* counts, const long long* slots,
                        const double* fixed, const long long* j_lo, const long long* j_hi, const double* scale,
                        const double* node_start, int n, int m, int n_free, int n_terms, int want_jac, double* f, double* jac) {
    blockDim.x = 1; threadIdx.x = 0;
    for (int i = 0; i < n; ++i) for (int j = 0; j < m; ++j) {
        blockIdx.y = i; blockIdx.x = j;
        fused_model(shift, energy, p, codes, on_energy, starts, counts, slots, fixed, j_lo, j_hi, scale, node_start,
                    n, m, n_free, n_terms, want_jac, f, jac);
    }
}
"""


def test_kernel_source_run_as_cpp_equals_the_numba_kernel(tmp_path):
    """The CUDA source compiled as plain C++ (one loop over (pixel, channel) for the thread grid) gives
    what the numba kernel gives, on every preset: the port's arithmetic is checked without a GPU."""
    import ctypes
    import shutil
    import subprocess

    from hyperspec import _kernels
    from hyperspec.fit._fused import FusedModel

    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    (tmp_path / "fused_model.cu").write_text(_kernels.source("fused_model"))
    nvcc = shutil.which("nvcc")
    if nvcc is not None:  # the CUDA compiler accepts it too (PTX, no GPU needed)
        for real in ("double", "float"):
            cmd = [nvcc, "-ptx", f"-DREAL_T={real}", str(tmp_path / "fused_model.cu"), "-o", str(tmp_path / f"k_{real}.ptx")]
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    (tmp_path / "harness.cpp").write_text(_HARNESS.replace("KERNEL", str(tmp_path / "fused_model.cu")))
    lib = tmp_path / "harness.so"
    subprocess.run([cxx, "-O1", "-std=c++14", "-shared", "-fPIC", str(tmp_path / "harness.cpp"), "-o", str(lib)], check=True)
    run_all = ctypes.CDLL(str(lib)).run_all
    shift = np.linspace(-1800.0, 2200.0, 400)
    energy = 1239.84198 / (1e7 / (1e7 / 633.0 - shift))
    for name in PRESETS:
        spec = build_model_spec(name, None, include=["sbpl1", "sbpl2"] if name == "cspbbr3-633" else [])["terms"]
        model = CompositeModel(spec, shift, energy, fused=False)
        tables = FusedModel(model)
        p = _params(model, 16, seed=1)
        f_ref, j_ref = model.value_and_jacobian(None, p)
        n, m = p.shape[0], shift.size
        f = np.empty((n, m))
        jac = np.zeros((n, model.n_free + 1, m))
        codes, on_energy, starts, counts, slots, fixed, lo, hi, scale, node_start = tables.args
        arrays = [tables.shift, tables.energy, np.ascontiguousarray(p), codes, on_energy.astype(np.uint8), starts, counts, slots, fixed,
                  lo, hi, scale, node_start]  # fmt: skip
        ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in arrays]
        run_all(*ptrs, n, m, model.n_free, codes.size, 1, f.ctypes.data_as(ctypes.c_void_p), jac.ctypes.data_as(ctypes.c_void_p))
        scale_f = np.abs(f_ref).max()
        np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-12 * scale_f, err_msg=name)
        j = np.swapaxes(jac[:, : model.n_free, :], 1, 2)
        col = np.maximum(np.abs(j_ref).max(axis=(0, 1)), 1e-300)
        assert np.max(np.abs(j - j_ref).max(axis=(0, 1)) / col) < 1e-9, name
