"""The fused CUDA kernels (kernels/fused_model.cu) against their references: the ``xp`` path of
``CompositeModel`` on CuPy, the numba kernel on the CPU, and ``decompose`` on NumPy. They run on the
GPU where there is one, and everywhere else on the fake device (tests/fake_cupy.py), which compiles
the CUDA source as C++ and launches it thread by thread; the C++ harness tests at the end check the
kernels' arithmetic without CuPy at all."""

from __future__ import annotations

import numpy as np
import pytest

from hyperspec.bands.presets import PRESETS
from hyperspec.fit.composite import CompositeModel
from hyperspec.fit.decompose import build_model_spec


def _model_pair(spec, shift, energy, cp):
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


@pytest.mark.parametrize("include", [(), ("sbpl1", "sbpl2")])
def test_cuda_kernel_equals_the_xp_path_on_the_preset(gpu_xp, include):
    shift = np.linspace(-1800.0, 2200.0, 1024)
    energy = 1239.84198 / (1e7 / (1e7 / 633.0 - shift))
    spec = build_model_spec("cspbbr3-633", None, include=list(include))["terms"]
    cp, reference, kernel = _model_pair(spec, shift, energy, gpu_xp)
    p = cp.asarray(_params(reference, 300))
    f_ref, j_ref = reference.value_and_jacobian(None, p)
    f, j = kernel.value_and_jacobian(None, p)
    scale_f = float(cp.abs(f_ref).max())
    assert float(cp.abs(f - f_ref).max()) <= 1e-12 * scale_f
    err = cp.abs(j - j_ref).max(axis=(0, 1)) / cp.maximum(cp.abs(j_ref).max(axis=(0, 1)), 1e-300)
    assert float(err.max()) <= 1e-10
    np.testing.assert_allclose(cp.asnumpy(kernel.value(None, p)), cp.asnumpy(f_ref), rtol=1e-12, atol=1e-12 * scale_f)


@pytest.mark.parametrize("preset", ["cspbbr3-633", "cspbbr3-633-freeform"])
def test_cuda_normal_equations_equal_the_reference(gpu_xp, preset):
    from hyperspec.fit._cuda_fused import normal_equations_reference

    shift = np.linspace(-1800.0, 2200.0, 1024)
    energy = 1239.84198 / (1e7 / (1e7 / 633.0 - shift))
    spec = build_model_spec(preset, None)["terms"]
    cp, reference, kernel = _model_pair(spec, shift, energy, gpu_xp)
    p = cp.asarray(_params(reference, 64, seed=5))  # one thread block per pixel: 64 random pixels (the fake device runs each
    f = reference.value(None, p)  # block thread by thread on the CPU, ≈50 ms a pixel)
    noise = cp.asarray(np.random.default_rng(1).standard_normal(f.shape))
    y = f + 0.05 * cp.abs(f) * noise + 1.0
    sw = 1.0 / cp.sqrt(cp.maximum(cp.abs(y), 1.0))
    sw[:, 400:420] = 0.0
    a_ref, g_ref, c_ref = normal_equations_reference(reference.value_and_jacobian, p, y, sw)
    a, g, c = kernel.fused_normal_equations(p, y, sw)
    d = cp.sqrt(cp.einsum("nii->ni", a_ref))
    d = cp.where(d > 0, d, 1.0)
    assert float(cp.abs((a - a_ref) / (d[:, :, None] * d[:, None, :])).max()) <= 1e-11
    assert float(cp.abs((g - g_ref) / (d * cp.sqrt(c_ref)[:, None])).max()) <= 1e-11
    assert float(cp.abs(c / c_ref - 1.0).max()) <= 1e-12


def test_cuda_kernel_equals_the_numba_kernel_with_ties_windows_and_freeform(gpu_xp):
    pytest.importorskip("numba")
    shift = np.linspace(100.0, 1900.0, 700)
    spec = {
        "line1": {"shape": "lorentzian", "init": {"center": 520.0, "hwhm": 4.0, "height": 100.0}, "window": [400.0, 700.0]},
        "line2": {"shape": "pseudo_voigt", "init": {"center": 1590.0, "hwhm": 15.0, "eta": 0.5, "height": 50.0}},
        "line3": {"shape": "gaussian", "init": {"center": 1350.0, "hwhm": 30.0, "height": 20.0}},
        "base": {"shape": "polynomial2"},
    }
    cp, reference, kernel = _model_pair(spec, shift, shift, gpu_xp)
    cpu = CompositeModel(spec, shift, shift, fused=True)
    assert cpu.engine == "numba-fused"
    p = _params(cpu, 64, seed=3)
    f_cpu, j_cpu = cpu.value_and_jacobian(None, p)
    f, j = kernel.value_and_jacobian(None, cp.asarray(p))
    np.testing.assert_allclose(cp.asnumpy(f), f_cpu, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(cp.asnumpy(j), j_cpu, rtol=1e-10, atol=1e-9)


def test_decompose_with_the_cuda_kernel_equals_numpy(gpu_xp, small_map, monkeypatch):
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


def _launch(kernel: str, grid, block, args, shared_mem=0):
    """Launch ``kernel`` of kernels/fused_model.cu (float64) on the CPU through the fake device's C++ build;
    NumPy arguments are wrapped as device arrays in place (the kernel writes into them)."""
    from hyperspec.fit._cuda_fused import kernel_source
    from tests import fake_cupy

    module = fake_cupy.RawModule(code="#define REAL_T double\n" + kernel_source())
    wrapped = [fake_cupy.ndarray(a) if isinstance(a, np.ndarray) else a for a in args]
    module.get_function(kernel)(grid, block, wrapped, shared_mem=shared_mem)


def ptx_compiles(tmp_path, name: str, code: str | None = None) -> None:
    """The CUDA compiler accepts kernel source ``name`` (or its completed ``code``) in double and float (PTX,
    no GPU needed), when nvcc is here."""
    import shutil
    import subprocess

    from hyperspec import _kernels

    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return
    (tmp_path / f"{name}.cu").write_text(_kernels.source(name) if code is None else code)
    for real in ("double", "float"):
        cmd = [nvcc, "-ptx", f"-DREAL_T={real}", str(tmp_path / f"{name}.cu"), "-o", str(tmp_path / f"{name}_{real}.ptx")]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)


def _tables(tables, p):
    codes, on_energy, starts, counts, slots, fixed, lo, hi, scale, node_start = tables.args
    arrays = [tables.shift, tables.energy, np.ascontiguousarray(p), codes, on_energy.astype(np.uint8), starts, counts, slots, fixed,
              lo, hi, scale, node_start]  # fmt: skip
    return arrays, np.int32(codes.size)


def test_kernel_source_run_as_cpp_equals_the_numba_kernel(tmp_path):
    """The CUDA source compiled as plain C++ (the whole thread grid, thread by thread) gives what the
    xp path gives, on every preset: the port's arithmetic is checked without a GPU or CuPy."""
    from hyperspec.fit._cuda_fused import kernel_source
    from hyperspec.fit._fused import FusedModel

    ptx_compiles(tmp_path, "fused_model", kernel_source())
    shift = np.linspace(-1800.0, 2200.0, 400)
    energy = 1239.84198 / (1e7 / (1e7 / 633.0 - shift))
    for name in PRESETS:
        spec = build_model_spec(name, None, include=["sbpl1", "sbpl2"] if name == "cspbbr3-633" else [])["terms"]
        model = CompositeModel(spec, shift, energy, fused=False)
        if any(t.component.kernel is None for t in model.terms):
            continue  # a preset of xp-only shapes (cspbbr3-single-nc) has no fused body to compare
        p = _params(model, 16, seed=1)
        f_ref, j_ref = model.value_and_jacobian(None, p)
        n, m = p.shape[0], shift.size
        f = np.empty((n, m))
        jac = np.zeros((n, model.n_free + 1, m))
        arrays, n_terms = _tables(FusedModel(model), p)
        scalars = (np.int32(n), np.int32(m), np.int32(model.n_free), n_terms, np.int32(1))
        _launch("fused_model", ((m + 127) // 128, n), (128,), [*arrays, *scalars, f, jac])
        scale_f = np.abs(f_ref).max()
        np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-12 * scale_f, err_msg=name)
        j = np.swapaxes(jac[:, : model.n_free, :], 1, 2)
        col = np.maximum(np.abs(j_ref).max(axis=(0, 1)), 1e-300)
        assert np.max(np.abs(j - j_ref).max(axis=(0, 1)) / col) < 1e-9, name


@pytest.mark.parametrize(("threads", "tile"), [(32, 64), (128, 32), (128, None)])
def test_normal_equation_kernel_run_as_cpp_equals_the_reference(threads, tile):
    """``fused_normal`` (one block per pixel, shared-memory tiles, barriers) run as C++ threads gives the
    normal equations of the xp reference on every preset, with masked channels and NaN data under them;
    more threads than tile channels and the reverse both run."""
    from hyperspec.fit._cuda_fused import normal_equations_reference, normal_pairs, normal_tile
    from hyperspec.fit._fused import FusedModel

    rng = np.random.default_rng(7)
    shift = np.linspace(-1800.0, 2200.0, 300)  # not a multiple of the tile: the last tile is partial
    energy = 1239.84198 / (1e7 / (1e7 / 633.0 - shift))
    for name in PRESETS:
        spec = build_model_spec(name, None, include=["sbpl1", "sbpl2"] if name == "cspbbr3-633" else [])["terms"]
        model = CompositeModel(spec, shift, energy, fused=False)
        if any(t.component.kernel is None for t in model.terms):
            continue  # a preset of xp-only shapes (cspbbr3-single-nc) has no fused body to compare
        n, m, n_free = 5, shift.size, model.n_free
        p = _params(model, n, seed=2)
        f0 = model.value(None, p)
        y = f0 * (1.0 + 0.05 * rng.standard_normal(f0.shape)) + 3.0
        sw = 1.0 / np.sqrt(np.maximum(np.abs(y), 1.0))
        sw[:, 140:150] = 0.0  # a masked window (the notch), its data NaN
        y[:, 140:150] = np.nan
        a_ref, g_ref, c_ref = normal_equations_reference(model.value_and_jacobian, p, np.nan_to_num(y), sw)
        pair_a, pair_b = normal_pairs(n_free)
        t = normal_tile(n_free) if tile is None else tile
        a = np.full((n, n_free, n_free), np.nan)
        g = np.full((n, n_free), np.nan)
        c = np.full(n, np.nan)
        arrays, n_terms = _tables(FusedModel(model), p)
        scalars = (np.int32(n), np.int32(m), np.int32(n_free), n_terms, np.int32(pair_a.size), np.int32(t))
        shared = ((n_free + 2) * t + pair_a.size) * 8  # shared memory starts as NaN bytes on the fake device
        _launch("fused_normal", (n,), (threads,), [*arrays, np.ascontiguousarray(y), sw, pair_a, pair_b, *scalars, a, g, c], shared)
        d = np.sqrt(np.einsum("nii->ni", a_ref))
        d = np.where(d > 0, d, 1.0)  # a parameter without support here (e.g. a window outside this axis)
        np.testing.assert_allclose(a / (d[:, :, None] * d[:, None, :]), a_ref / (d[:, :, None] * d[:, None, :]), atol=1e-12, err_msg=name)
        np.testing.assert_allclose(g / (d * np.sqrt(c_ref)[:, None]), g_ref / (d * np.sqrt(c_ref)[:, None]), atol=1e-12, err_msg=name)
        np.testing.assert_allclose(c, c_ref, rtol=1e-12, err_msg=name)


def test_normal_equation_tiles_fit_shared_memory():
    from hyperspec.fit._cuda_fused import normal_pairs, normal_tile

    a, b = normal_pairs(3)
    expected = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2), (0, 4), (1, 4), (2, 4), (4, 4)]  # row 4: the residual
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == expected
    assert normal_tile(20) == 128 and normal_tile(40) == 96
    for n_free in (1, 20, 40, 60, 70):
        t = normal_tile(n_free)
        n_pairs = (n_free + 1) * (n_free + 2) // 2
        assert ((n_free + 2) * t + n_pairs) * 8 <= 48 * 1024 < ((n_free + 2) * (t + 32) + n_pairs) * 8 or t == 128
    assert normal_tile(200) is None  # the Jacobian path serves


@pytest.mark.parametrize("preset", ["cspbbr3-633", "cspbbr3-633-freeform"])
def test_lm_on_normal_equations_equals_the_jacobian_path(small_map, monkeypatch, preset):
    """The Levenberg–Marquardt path that takes the normal equations from a callable (the fused GPU kernel's
    route) gives the Jacobian path's results, priors, bounds and the free-form penalty included: here the
    callable is the xp reference, so the CPU checks the plumbing the GPU kernel plugs into."""
    from hyperspec.fit._cuda_fused import normal_equations_reference
    from hyperspec.fit.decompose import decompose

    ds, _ = small_map
    sub = ds.isel(y=slice(0, 3), x=slice(0, 5))
    plain = decompose(sub, preset, backend="numpy")
    calls = []

    def fused(self):
        def normal(p, y, sw):
            calls.append(p.shape[0])
            return normal_equations_reference(self.value_and_jacobian, p, y, sw)

        return normal

    monkeypatch.setattr(CompositeModel, "fused_normal_equations", property(fused))
    via_normal = decompose(sub, preset, backend="numpy")
    assert len(calls) > 3 and sum(calls) > sub.sizes["y"] * sub.sizes["x"]
    np.testing.assert_array_equal(via_normal["status"].values, plain["status"].values)
    for name in ("aspl_area", "aspl_peak_ev", "lers_temperature_k", "hers_area", "chi2_red", "aspl_area_stderr"):
        np.testing.assert_allclose(via_normal[name].values, plain[name].values, rtol=1e-6, err_msg=name)
