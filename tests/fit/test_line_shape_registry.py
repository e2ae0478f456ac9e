"""One source per line shape: the component registry drives the fused kernels' codes, ``decompose``'s outputs
and its axis checks. A toy shape added at run time (registry only) runs through ``decompose`` on NumPy and on
the fake device, and through a recipe; the kernels' dispatch cannot drift from the registry."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import hyperspec
from hyperspec.bands.components import (
    COMPONENTS,
    Component,
    Derived,
    Param,
    Support,
    get_component,
    kernel_codes,
    register,
    unregister,
)
from hyperspec.bands.constants import KERNEL_CONSTANTS
from hyperspec.fit.composite import CompositeModel
from hyperspec.fit.results import result_names
from hyperspec.model import from_array

ROOT = Path(__file__).resolve().parents[2]
NUMBA_KERNEL = ROOT / "hyperspec" / "fit" / "_fused_kernel.py"
CUDA_KERNEL = ROOT / "kernels" / "fused_model.cu"


# ---- the kernels cannot drift from the registry -------------------------------------------------
def _dispatched(text: str) -> set[str]:
    return set(re.findall(r"code == KERNEL_(\w+)", text))


def test_every_kernel_of_the_registry_is_dispatched_by_both_kernels_and_nothing_else():
    wanted = {name.upper() for name in kernel_codes()}
    assert {c.kernel.name for c in COMPONENTS.values() if c.kernel is not None} <= set(kernel_codes())
    assert _dispatched(NUMBA_KERNEL.read_text()) == wanted
    assert _dispatched(CUDA_KERNEL.read_text()) == wanted
    codes = list(kernel_codes().values())
    assert len(codes) == len(set(codes)), "two kernels share a code"


def test_the_kernels_hold_no_literal_codes_or_constants():
    cu = CUDA_KERNEL.read_text()
    numba_src = NUMBA_KERNEL.read_text()
    for src in (cu, numba_src):
        assert not re.search(r"code\s*==\s*\d", src), "a literal shape code"
        for value in KERNEL_CONSTANTS.values():
            assert repr(value) not in src and f"{value:.6g}" not in src, f"a literal copy of {value}"
    assert not re.search(r"#define\s+(?!REAL_T\b)\w+\s+\(*\s*(\(real\))?\s*[-\d.]", cu), "a numeric #define in the .cu"
    assert not re.search(r"KERNEL_\w+\s*=\s*\d", numba_src), "a literal numba code"


def test_the_generated_cuda_source_defines_every_code_and_constant():
    from hyperspec.fit import _cuda_fused

    src = _cuda_fused.kernel_source()
    for name, code in kernel_codes().items():
        assert f"#define KERNEL_{name.upper()} {code}\n" in src
    for name, value in KERNEL_CONSTANTS.items():
        assert f"#define {name} ((real){value!r})" in src
    assert "TERM_TABLES," not in src  # the term tables' parameters are written in
    for ctype, name in _cuda_fused._TERM_TABLES:
        assert src.count(f"const {ctype}* __restrict__ {name}") == 3  # channel_value, fused_model, fused_normal


def test_the_numba_kernel_reads_its_codes_from_the_registry():
    pytest.importorskip("numba")
    from hyperspec.fit import _fused_kernel

    for name, code in kernel_codes().items():
        assert getattr(_fused_kernel, f"KERNEL_{name.upper()}") == code


def test_kernel_clashes_are_refused():
    from hyperspec.bands.components import Kernel

    base = get_component("lorentzian")
    for bad in (Kernel("lorentzian", 99), Kernel("my_shape", 0)):
        with pytest.raises(ValueError, match="clashes"):
            register(Component("clash", "shift", base.params, base.columns, "x", kernel=bad))
    assert "clash" not in COMPONENTS


def test_no_shape_name_is_branched_on_in_fit():
    for path in (ROOT / "hyperspec" / "fit").glob("*.py"):
        assert "component.name ==" not in path.read_text(), path.name


# ---- a toy shape, registered at run time ---------------------------------------------------------
def _lorentzian_area(x, p, jac=True):
    """Area-normalised Lorentzian A/π·Γ/((x − x₀)² + Γ²): the area is a parameter."""
    center, hwhm, area = (p[:, k : k + 1] for k in range(3))
    d = x - center
    den = d * d + hwhm * hwhm
    unit = hwhm / (math.pi * den)  # ∂f/∂A
    f = area * unit
    if not jac:
        return f, None
    return f, [f * 2.0 * d / den, f * (1.0 / hwhm - 2.0 * hwhm / den), unit]


TOY = Component(
    "lorentzian_area",
    "shift",
    (
        Param("center", "cm-1", description="line position"),
        Param("hwhm", "cm-1", 1e-3, math.inf, "half width at half maximum"),
        Param("intensity", "counts*cm-1", 0.0, math.inf, "integrated intensity (the area)"),
    ),
    _lorentzian_area,
    "area-normalised Lorentzian A/π·Γ/((x − x₀)² + Γ²)",
    amplitude="intensity",
    derived=(
        Derived("fwhm_cm", "cm-1", "full width at half maximum of {term}", lambda c, g, a: 2.0 * g),
        Derived("peak_height", "counts", "height of the maximum of {term}", lambda c, g, a: a / (math.pi * g)),
    ),
    support=Support("center"),
)
TRUTH = {"center": (515.0, 525.0), "hwhm": (6.0, 9.0), "intensity": (4000.0, 9000.0)}
MODEL = {
    "si": {"shape": "lorentzian_area", "init": {"center": 518.0, "hwhm": 5.0}, "bounds": {"center": [490.0, 550.0]}},
    "base": {"shape": "polynomial1"},
}


@pytest.fixture
def toy_shape():
    before = set(COMPONENTS)
    register(TOY)
    try:
        yield TOY
    finally:
        unregister(TOY.name)
    assert set(COMPONENTS) == before  # unregistered cleanly


def _toy_map():
    """A 3 × 4 map of the toy line on a sloped baseline, noiseless, and its truth."""
    rng = np.random.default_rng(11)
    shift = np.linspace(300.0, 800.0, 501)
    truth = {k: rng.uniform(lo, hi, (3, 4)) for k, (lo, hi) in TRUTH.items()}
    p = np.stack([truth[k].ravel() for k in ("center", "hwhm", "intensity")], axis=1)
    line = TOY.value(shift, p).reshape(3, 4, -1)
    ds = from_array(line + 50.0 + 0.02 * shift, shift, laser_nm=633.0, dims=("y", "x", "spectral"))
    return ds, truth


def test_toy_jacobian_matches_central_differences(toy_shape):
    x = np.linspace(400.0, 650.0, 300)
    p = np.array([[520.0, 7.0, 5000.0], [530.0, 3.0, 800.0]])
    _, jac = toy_shape.value_and_jacobian(x, p)
    for k in range(3):
        h = 1e-6 * np.abs(p[:, k : k + 1])
        up, down = p.copy(), p.copy()
        up[:, k : k + 1] += h
        down[:, k : k + 1] -= h
        numeric = (toy_shape.value(x, up) - toy_shape.value(x, down)) / (2 * h)
        scale = np.abs(numeric).max(axis=1, keepdims=True)
        np.testing.assert_allclose(jac[..., k] / scale, numeric / scale, atol=1e-7)


def test_toy_output_names_come_from_the_registry(toy_shape):
    model = CompositeModel(MODEL, np.linspace(300.0, 800.0, 50))
    names = [n for n, _, _ in result_names(model)]
    assert names[:6] == ["si_area", "si_center_cm", "si_hwhm_cm", "si_intensity", "si_fwhm_cm", "si_peak_height"]
    meanings = {n: m for n, _, m in result_names(model)}
    assert meanings["si_fwhm_cm"] == "full width at half maximum of si"
    assert model.engine == "numpy"  # no kernel declared: the xp path, also where numba is installed


def test_output_names_that_collide_are_refused(toy_shape):
    clash = Component("clash_shape", "shift", (Param("area", "counts*cm-1"),), toy_shape.columns, "x", amplitude="area")
    register(clash)
    try:
        with pytest.raises(ValueError, match="'t_area' twice"):
            result_names(CompositeModel({"t": {"shape": "clash_shape"}}, np.linspace(0.0, 1.0, 5)))
    finally:
        unregister("clash_shape")


def test_toy_shape_through_decompose(toy_shape, xp):
    ds, truth = _toy_map()
    backend = "numpy" if xp is np else "cupy"
    res = hyperspec.decompose(ds, model=MODEL, backend=backend, weights="uniform")
    assert res.attrs["backend"] == backend
    assert (res["status"].values == 0).all()
    np.testing.assert_allclose(res["si_center_cm"].values, truth["center"], rtol=1e-6)
    np.testing.assert_allclose(res["si_hwhm_cm"].values, truth["hwhm"], rtol=1e-5)
    np.testing.assert_allclose(res["si_fwhm_cm"].values, 2.0 * truth["hwhm"], rtol=1e-5)
    np.testing.assert_allclose(res["si_peak_height"].values, truth["intensity"] / (math.pi * truth["hwhm"]), rtol=1e-5)
    # the delta method of a derived value: 2·Γ has twice Γ's standard error
    np.testing.assert_allclose(res["si_fwhm_cm_stderr"].values, 2.0 * res["si_hwhm_cm_stderr"].values, rtol=1e-6)
    for name, units, meaning in result_names(CompositeModel(MODEL, np.asarray(ds["shift"].values))):
        assert res[name].attrs["units"] == units and res[name].attrs["long_name"] == meaning
        assert f"{name}_stderr" in res
    comps = hyperspec.fit.decompose.fitted_components(res, ds, y=1, x=2)
    assert float(np.abs(comps["residual"]).max()) < 1e-3 * float(comps["data"].max())


def test_toy_shape_support_is_checked(toy_shape):
    ds, _ = _toy_map()
    far = {**MODEL, "si": {**MODEL["si"], "init": {"center": 1500.0}, "bounds": {"center": [1400.0, 1600.0]}}}
    with pytest.raises(ValueError, match=r"does not cover these terms: si \(center 1400…1600 cm⁻¹\)"):
        hyperspec.decompose(ds, model=far, backend="numpy")


def test_toy_shape_through_a_recipe(toy_shape, tmp_path):
    ds, truth = _toy_map()
    store = hyperspec.io.zarr_.save(ds, tmp_path / "toy.zarr", progress=False)
    recipe = {
        "input": {"path": str(store)},
        "decompose": {"model": MODEL, "weights": "uniform"},
        "output": {"path": str(tmp_path / "out.zarr")},
        "compute": {"backend": "numpy"},
    }
    from hyperspec.pipeline import run_recipe

    out = hyperspec.open(run_recipe(recipe, progress=False)).compute()
    np.testing.assert_allclose(out["si_center_cm"].values, truth["center"], rtol=1e-6)
    np.testing.assert_allclose(out["si_fwhm_cm"].values, 2.0 * truth["hwhm"], rtol=1e-5)


# ---- the backend: argument > $HYPERSPEC_BACKEND > auto ------------------------------------------
def test_decompose_honours_the_backend_variable(monkeypatch, fake_cupy, small_map):
    from hyperspec._errors import BackendError

    ds, _ = small_map
    sub = ds.isel(y=slice(0, 1), x=slice(0, 2))
    monkeypatch.setenv("HYPERSPEC_BACKEND", "cupy")
    assert hyperspec.decompose(sub).attrs["backend"] == "cupy"  # the variable, not "auto"
    assert hyperspec.decompose(sub, backend="numpy").attrs["backend"] == "numpy"  # the argument wins
    monkeypatch.setenv("HYPERSPEC_BACKEND", "numpy")
    assert hyperspec.decompose(sub).attrs["backend"] == "numpy"
    monkeypatch.setenv("HYPERSPEC_BACKEND", "tpu")
    with pytest.raises(BackendError, match="HYPERSPEC_BACKEND"):
        hyperspec.decompose(sub)


def test_moved_names_still_import_from_decompose():
    from hyperspec._quality import flat_spectra
    from hyperspec.fit import decompose as dec
    from hyperspec.fit._decomposer import _Decomposer, default_batch_size
    from hyperspec.fit.model_spec import build_model_spec
    from hyperspec.fit.results import FLAT, SATURATED, STATUS_MEANINGS

    assert dec.flat_spectra is flat_spectra and dec._Decomposer is _Decomposer and dec.build_model_spec is build_model_spec
    assert dec.default_batch_size is default_batch_size and (dec.FLAT, dec.SATURATED) == (FLAT, SATURATED)
    assert dec.STATUS_MEANINGS is STATUS_MEANINGS and callable(dec._boxcar)
