"""The CuPy code path on every machine: each capability run with ``backend="cupy"`` must equal the
NumPy backend. On a machine with a GPU this runs on CuPy itself; without one, over the fake device
of ``tests/fake_cupy.py`` (NumPy behind CuPy's transfer rules, CUDA sources run as C++).

A failure on the fake device is a GPU bug found without a GPU: an implicit device → host conversion,
a NumPy array handed to a device function, a device array pickled or indexed as an int, a kernel
launched with the wrong arguments. The fake cannot see races, CUDA-only behaviour or functions CuPy
lacks: the GPU run has the last word. Transfer counts are checked on the fake device only.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("gpu_xp")


@pytest.fixture(scope="module")
def noisy_map():
    from hyperspec import synthetic

    ds, truth = synthetic.cspbbr3_map((6, 8), n_spectral=512, seed=11)
    return ds.compute(), truth.compute()


def test_the_fake_device_enforces_cupys_rules(fake_cupy):
    import cupy

    from hyperspec._backend import get_namespace, resolve_backend, to_numpy

    assert cupy is fake_cupy and resolve_backend("cupy").xp is cupy
    a = cupy.arange(4.0)
    assert get_namespace(a) is cupy and fake_cupy.transfers.h2d_bytes == 0  # made on the device
    with pytest.raises(TypeError, match="implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        a + np.ones(4)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        cupy.where(a > 1, a, np.zeros(4))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        a[:2] = np.zeros(2)
    with pytest.raises(TypeError):
        range(cupy.asarray(3))  # no __index__
    assert float(a.sum()) == 6.0 and isinstance(a.sum(), cupy.ndarray)  # reductions stay on the device
    np.testing.assert_array_equal(to_numpy(a[np.array([1, 3])]), [1.0, 3.0])  # NumPy index arrays are accepted
    assert fake_cupy.transfers.d2h_bytes == 16 and fake_cupy.transfers.h2d_bytes == 8


def _same(a, b, names, rtol=1e-6):
    for name in names:
        np.testing.assert_allclose(np.asarray(a[name].values, float), np.asarray(b[name].values, float), rtol=rtol, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("preset", ["cspbbr3-633", "cspbbr3-633-freeform"])
def test_decompose(noisy_map, gpu_xp, preset):
    from hyperspec.fit.decompose import decompose

    ds, _ = noisy_map
    ds = ds.copy()
    spectra = ds["spectra"].values.copy()
    spectra[0, 0] = np.nan  # a non-finite pixel: a status, not an exception
    spectra[0, 1] = 0.0  # an empty one
    ds["spectra"] = ds["spectra"].copy(data=spectra)
    cpu = decompose(ds, preset, backend="numpy")
    gpu = decompose(ds, preset, backend="cupy")
    assert gpu.attrs["backend"] == "cupy"
    np.testing.assert_array_equal(gpu["status"].values, cpu["status"].values)
    _same(gpu, cpu, ["aspl_area", "aspl_peak_ev", "lers_temperature_k", "hers_area", "chi2_red", "aspl_area_stderr"], rtol=1e-5)
    if hasattr(gpu_xp, "transfers"):  # the fake device counts transfers
        assert gpu_xp.transfers.d2h_bytes < 2 * gpu["aspl_area"].size * 8 * len(gpu.data_vars)  # results come back once


def test_window_integrals(small_map):
    from hyperspec.bands.windows import window_integrals

    ds, _ = small_map
    cpu = window_integrals(ds, backend="numpy").compute()
    gpu = window_integrals(ds, backend="cupy").compute()
    _same(gpu, cpu, list(cpu.data_vars), rtol=1e-10)


@pytest.mark.parametrize(
    ("method", "params"),
    [("asls", {"lam": 1e5}), ("arpls", {}), ("airpls", {}), ("modpoly", {"poly_order": 3}), ("poly", {}), ("quant_reg", {}),
     ("loess", {})],
)  # fmt: skip
def test_baselines(noisy_map, gpu_xp, method, params):
    from hyperspec.preprocess import baseline

    ds, _ = noisy_map
    cpu = baseline(ds, method, backend="numpy", **params)
    gpu = baseline(ds, method, backend="cupy", **params)
    if hasattr(gpu_xp, "transfers"):  # the fake device counts transfers
        assert gpu_xp.transfers.h2d_bytes >= ds["spectra"].size * 8  # the spectra did go to the device
    _same(gpu, cpu, ["baseline", "baseline_n_iter"], rtol=1e-6)


def test_remove_spikes(noisy_map, gpu_xp):
    from hyperspec.preprocess import remove_spikes

    ds, _ = noisy_map
    ds = ds.copy()
    spectra = ds["spectra"].values.copy()
    spectra[2, 3, 100] += 20 * spectra[2, 3].max()  # cosmic rays, one channel wide
    spectra[4, 5, 300:302] += 10 * spectra[4, 5].max()
    ds["spectra"] = ds["spectra"].copy(data=spectra)
    cpu = remove_spikes(ds, backend="numpy")
    gpu = remove_spikes(ds, backend="cupy")
    if hasattr(gpu_xp, "transfers"):  # the fake device counts transfers
        assert gpu_xp.transfers.h2d_bytes >= ds["spectra"].size * ds["spectra"].dtype.itemsize
    assert bool(cpu["spike_mask"][2, 3, 100]) and bool(cpu["spike_mask"][4, 5, 301])
    np.testing.assert_array_equal(gpu["spike_mask"].values, cpu["spike_mask"].values)
    np.testing.assert_array_equal(gpu["spectra"].values, cpu["spectra"].values)


def test_denoise(noisy_map):
    from hyperspec.preprocess import denoise

    ds, _ = noisy_map
    cpu = denoise(ds, 4, backend="numpy")
    gpu = denoise(ds, 4, backend="cupy")
    np.testing.assert_allclose(gpu["spectra"].values, cpu["spectra"].values, rtol=1e-6, atol=1e-6 * float(np.abs(cpu["spectra"]).max()))


def test_linear_and_lm():
    import cupy

    from hyperspec.fit.linear import nnls, tikhonov
    from hyperspec.fit.lm import levenberg_marquardt

    rng = np.random.default_rng(0)
    B = rng.uniform(0, 1, (60, 4))
    y = rng.uniform(0, 1, (9, 4)) @ B.T + 0.01 * rng.standard_normal((9, 60))
    np.testing.assert_allclose(cupy.asnumpy(tikhonov(cupy.asarray(B), cupy.asarray(y))), tikhonov(B, y), rtol=1e-9)
    got, _ = nnls(cupy.asarray(B), cupy.asarray(y), lower=0.0)
    np.testing.assert_allclose(cupy.asnumpy(got), nnls(B, y, lower=0.0)[0], rtol=1e-7, atol=1e-7)

    x = np.linspace(0, 5, 50)

    def model(xx, p):
        xp = cupy if isinstance(p, cupy.ndarray) else np
        return p[:, :1] * xp.exp(-p[:, 1:2] * xx[None, :])

    p_true = np.column_stack([rng.uniform(1, 3, 9), rng.uniform(0.2, 1, 9)])
    yy = model(x, p_true) + 0.01 * rng.standard_normal((9, 50))
    ref = levenberg_marquardt(model, x, yy, [1.0, 0.5])
    res = levenberg_marquardt(model, cupy.asarray(x), cupy.asarray(yy), cupy.asarray([1.0, 0.5]))
    np.testing.assert_allclose(cupy.asnumpy(res.params), ref.params, rtol=1e-8)
    np.testing.assert_array_equal(cupy.asnumpy(res.status), ref.status)


def test_pipeline_run(tmp_path, gpu_xp):
    import hyperspec
    from hyperspec.pipeline import run_recipe

    store = tmp_path / "map.zarr"
    hyperspec.synthetic.write("map", store, (6, 8), n_spectral=512, seed=4, progress=False)
    steps = [{"step": "remove_spikes"}, {"step": "baseline", "method": "asls", "lam": 1e6}, {"step": "mask_notch"}]
    outs = {}
    for backend in ("numpy", "cupy"):
        recipe = {
            "input": {"path": str(store)},
            "preprocess": steps,
            "decompose": {"preset": "cspbbr3-633"},
            "output": {"path": str(tmp_path / f"{backend}.zarr")},
            "compute": {"backend": backend, "workers": 1, "chunk_pixels": 16},
        }
        if hasattr(gpu_xp, "transfers"):
            gpu_xp.transfers.reset()
        outs[backend] = hyperspec.open(run_recipe(recipe, progress=False)).compute()
    gpu, cpu = outs["cupy"], outs["numpy"]
    # the blocks stay on the device through spikes, baseline, notch and the fit: only results come back
    # (before, every step copied its block back: 4.9 float64 maps here), not a single copy of the map
    map_bytes = gpu["aspl_area"].size * 512 * 8
    if hasattr(gpu_xp, "transfers"):  # the fake device counts transfers
        assert 0 < gpu_xp.transfers.d2h_bytes < 0.5 * map_bytes
    assert gpu.attrs["backend"] == "cupy"
    np.testing.assert_array_equal(gpu["status"].values, cpu["status"].values)
    _same(gpu, cpu, ["aspl_area", "lers_temperature_k", "hers_area", "n_spikes", "chi2_red"], rtol=1e-6)


@pytest.mark.parametrize(
    ("step", "params"),
    [("remove_spikes", {}), ("baseline", {"method": "arpls", "subtract": True}), ("mask_notch", {"fill": float("nan")}),
     ("crop", {"lo": -1500.0, "hi": 2000.0}), ("normalise", {"by": "band", "window": [200.0, 600.0]}),
     ("calibrate_shift", {"offset": 1.5})],
)  # fmt: skip
def test_steps_keep_device_data_on_the_device(noisy_map, gpu_xp, step, params):
    """A pipeline block's spectra go to the device once; every step hands device data on, and equals
    the step on host data."""
    from hyperspec._backend import on_device, to_numpy
    from hyperspec.pipeline.run import _apply_steps, _to_device

    ds, _ = noisy_map
    steps = [{"step": step, **params}]
    cpu = _apply_steps(ds, steps, "numpy")
    if hasattr(gpu_xp, "transfers"):
        gpu_xp.transfers.reset()
    gpu = _apply_steps(_to_device(ds, "cupy"), steps, "cupy")
    assert on_device(gpu["spectra"].data)
    if hasattr(gpu_xp, "transfers"):  # the fake device counts transfers
        assert gpu_xp.transfers.d2h_bytes == 0
    for name in cpu.data_vars:  # NumPy runs the numba baselines, CuPy the xp path; float32 spectra round apart by an ulp
        want = np.asarray(cpu[name].values, dtype=float)
        scale = float(np.nanmax(np.abs(ds["spectra"].values))) if name in ("spectra", "baseline") else 0.0
        np.testing.assert_allclose(to_numpy(gpu[name].data), want, rtol=1e-6, atol=1e-6 * scale, equal_nan=True, err_msg=name)
    for name in cpu.coords:
        np.testing.assert_array_equal(np.asarray(gpu[name].values), cpu[name].values)


def test_gpu_batches_are_sized_to_the_device(fake_cupy):
    from hyperspec.fit.decompose import default_batch_size

    assert default_batch_size("numpy", 1024, 34) == 256
    free = fake_cupy.cuda.runtime.memGetInfo()[0]
    assert default_batch_size("cupy", 1024, 34) == int(free / 4 // (8.0 * 1024 * 42))  # a quarter of the free memory
    assert default_batch_size("cupy", 16, 2) == 65536  # capped


@pytest.mark.parametrize("preset", ["cspbbr3-633", "cspbbr3-633-freeform"])
def test_decompose_with_the_cuda_kernels(gpu_xp, monkeypatch, preset):
    """HYPERSPEC_CUDA_KERNELS=1: fused_model and fused_normal (the real CUDA source, compiled as C++ by
    the fake device and launched thread by thread) give NumPy's decomposition. This covers the launch
    code: grid, block, shared memory, argument order, dtypes and contiguity."""
    import hyperspec

    monkeypatch.setenv("HYPERSPEC_CUDA_KERNELS", "1")
    ds, _ = hyperspec.synthetic.cspbbr3_map((3, 4), n_spectral=256, seed=1)
    ds = ds.compute()
    gpu = hyperspec.decompose(ds, preset, backend="cupy")
    cpu = hyperspec.decompose(ds, preset, backend="numpy")
    assert gpu.attrs["engine"] == "cuda-fused"
    np.testing.assert_array_equal(gpu["status"].values, cpu["status"].values)
    _same(gpu, cpu, ["aspl_area", "aspl_peak_ev", "lers_temperature_k", "hers_area", "chi2_red", "aspl_area_stderr"], rtol=1e-6)


def test_baselines_with_the_cuda_kernel(noisy_map, gpu_xp, monkeypatch):
    from hyperspec.preprocess import baseline

    monkeypatch.setenv("HYPERSPEC_CUDA_KERNELS", "1")
    ds, _ = noisy_map
    for method in ("asls", "arpls", "airpls"):
        cpu = baseline(ds, method, backend="numpy")
        gpu = baseline(ds, method, backend="cupy")
        assert gpu.attrs["baseline_engine"] == "cuda"
        _same(gpu, cpu, ["baseline", "baseline_n_iter"], rtol=1e-6)


def test_pipeline_fit_batches_fit_the_device_budget(tmp_path, fake_cupy, monkeypatch):
    """On the GPU, a recipe without batch_size sizes the fit's batches to [compute] device_memory_mb per worker."""
    import hyperspec
    from hyperspec.fit import decompose as dec_module
    from hyperspec.pipeline import run_recipe

    store = tmp_path / "map.zarr"
    hyperspec.synthetic.write("map", store, (4, 6), n_spectral=512, seed=4, progress=False)
    seen = []
    real_init = dec_module._Decomposer.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        seen.append(self.batch_size)

    monkeypatch.setattr(dec_module._Decomposer, "__init__", spy)
    recipe = {
        "input": {"path": str(store)},
        "decompose": {"preset": "cspbbr3-633"},
        "output": {"path": str(tmp_path / "out.zarr")},
        "compute": {"backend": "cupy", "workers": 2, "device_memory_mb": 400},
    }
    run_recipe(recipe, progress=False)
    expected = dec_module.default_batch_size("cupy", 512, 34, budget_bytes=200 * 2**20)
    assert expected == 200 * 2**20 // (8 * 512 * 42)  # (34 parameters + 8) float64 spectra per pixel, 200 MiB per worker
    assert seen and set(seen) == {expected}


def test_device_memory_must_be_a_positive_number(small_map):
    import hyperspec

    ds, _ = small_map
    for bad in (0, -5, "lots"):
        with pytest.raises(ValueError, match="`device_memory_mb` must be a positive number of MiB"):
            hyperspec.decompose(ds.isel(y=slice(0, 1), x=slice(0, 2)), device_memory_mb=bad)
