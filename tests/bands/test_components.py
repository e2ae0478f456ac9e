"""Registry components: values equal the reference shapes, analytic Jacobians equal finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import voigt_profile

from hyperspec.bands import shapes
from hyperspec.bands.components import COMPONENTS, get_component

X_SHIFT = np.concatenate([np.linspace(-4500, -30, 200), np.linspace(-30, 30, 61), np.linspace(30, 3600, 200)])
X_ENERGY = np.linspace(2.15, 2.52, 300)
X_NC = np.linspace(2.38, 2.47, 600)

CASES = {
    "lorentzian": (X_SHIFT, [[127.0, 7.0, 200.0], [-73.0, 4.0, 50.0]]),
    "gaussian": (X_SHIFT, [[1590.0, 12.0, 700.0], [300.0, 40.0, 10.0]]),
    "pseudo_voigt": (X_SHIFT, [[1360.0, 20.0, 0.3, 250.0], [160.0, 8.0, 0.9, 100.0]]),
    "espl": (X_ENERGY, [[2.37, 0.03, 8.3, 1500.0], [2.40, 0.032, -6.7, 900.0]]),
    "lers": (X_SHIFT, [[60.0, 295.0, 250.0], [120.0, 430.0, 600.0]]),
    "hers_lognormal": (X_SHIFT, [[1800.0, 0.55, 500.0], [900.0, 0.3, 80.0]]),
    "polynomial2": (X_SHIFT, [[40.0, 10.0, -6.0], [100.0, -3.0, 1.0]]),
    "raman_pair": (X_SHIFT, [[73.0, 6.0, 260.0, 300.0], [310.0, 14.0, 70.0, 420.0]]),
    # single-NC shapes (eV): lines a few meV wide so that central differences of the eV-sized centre stay exact
    "nc_exciton": (
        X_NC,
        [
            [2.45, 3e-3, 2e-3, 0.8, 0.5, 4e-3, 6e-3, 12e-3, 20e-3, 30e-3, 0.1, 0.2, 0.05, 0.3, 1000.0],
            [2.44, 2e-3, 4e-3, 1.2, 0.0, 3e-3, 5e-3, 10e-3, 25e-3, 35e-3, 0.4, 0.0, 0.5, 0.1, 300.0],
        ],
    ),
    "nc_trion": (X_NC, [[2.45, 0.012, 4e-3, 300.0], [2.44, 0.02, 3e-3, 80.0]]),
    "voigt": (X_SHIFT, [[1001.4, 3.0, 2.0, 900.0], [1602.3, 0.5, 6.0, 150.0]]),
    "gaussian_ev": (X_ENERGY, [[2.37, 0.03, 1500.0], [2.40, 0.05, 90.0]]),
    "nc_biexciton": (X_NC, [[2.45, 3e-3, 2e-3, 0.8, 0.5, 0.022, 4e-3, 200.0], [2.44, 2e-3, 4e-3, 1.2, 0.0, 0.03, 3e-3, 50.0]]),
}


def _nc_multiplet(x, base, s1, s2, w2, w3, hwhm, sign=1.0):
    return sum(w * shapes.lorentzian(x, base + sign * o, hwhm, 1.0) for o, w in ((0.0, 1.0), (s1, w2), (s1 + s2, w3)))


def _nc_exciton_reference(x, p):
    c, s1, s2, w2, w3, g = (p[:, k : k + 1] for k in range(6))
    zpl = _nc_multiplet(x, c, s1, s2, w2, w3, g)
    replicas = sum(p[:, 10 + i : 11 + i] * _nc_multiplet(x, c - p[:, 6 + i : 7 + i], s1, s2, w2, w3, g) for i in range(4))
    return p[:, 14:15] * (zpl + replicas)


def _nc_biexciton_reference(x, p):
    return p[:, 7:8] * _nc_multiplet(x, p[:, 0:1] - p[:, 5:6], *(p[:, k : k + 1] for k in (1, 2, 3, 4, 6)), sign=-1.0)


REFERENCE = {
    "lorentzian": lambda x, p: shapes.lorentzian(x, p[:, 0:1], p[:, 1:2], p[:, 2:3]),
    "gaussian": lambda x, p: shapes.gaussian(x, p[:, 0:1], p[:, 1:2], p[:, 2:3]),
    "pseudo_voigt": lambda x, p: shapes.pseudo_voigt(x, p[:, 0:1], p[:, 1:2], p[:, 2:3], p[:, 3:4]),
    "espl": lambda x, p: shapes.espl(x, p[:, 0:1], p[:, 1:2], p[:, 2:3], p[:, 3:4]),
    "lers": lambda x, p: shapes.lers(x, p[:, 0:1], p[:, 1:2], p[:, 2:3]),
    "hers_lognormal": lambda x, p: shapes.hers_lognormal(x, p[:, 0:1], p[:, 1:2], p[:, 2:3]),
    "polynomial2": lambda x, p: shapes.polynomial(x / 4000.0, p),
    "raman_pair": lambda x, p: (
        shapes.lorentzian(x, p[:, 0:1], p[:, 1:2], p[:, 2:3])
        + shapes.lorentzian(x, -p[:, 0:1], p[:, 1:2], p[:, 2:3] * np.exp(-1.438776877 * p[:, 0:1] / p[:, 3:4]))
    ),
    "nc_exciton": _nc_exciton_reference,
    "nc_trion": lambda x, p: shapes.lorentzian(x, p[:, 0:1] - p[:, 1:2], p[:, 2:3], p[:, 3:4]),
    # SciPy's area-normalised Voigt profile (σ = Γ_G/√(2 ln 2)), scaled to its value at the centre
    "voigt": lambda x, p: p[:, 3:4]
    * voigt_profile(x - p[:, 0:1], p[:, 1:2] / np.sqrt(2 * np.log(2)), p[:, 2:3])
    / voigt_profile(0.0, p[:, 1:2] / np.sqrt(2 * np.log(2)), p[:, 2:3]),
    "gaussian_ev": lambda x, p: shapes.gaussian(x, p[:, 0:1], p[:, 1:2], p[:, 2:3]),
    "nc_biexciton": _nc_biexciton_reference,
}


def test_every_case_covers_the_registry_minus_extra_polynomials():
    assert set(CASES) | {f"polynomial{k}" for k in (0, 1, 3, 4, 5)} == set(COMPONENTS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_equals_reference_shape(name):
    x, p = CASES[name]
    p = np.asarray(p)
    f, jac = get_component(name).value_and_jacobian(x, p)
    np.testing.assert_allclose(f, REFERENCE[name](x, p), rtol=1e-12, atol=1e-12)
    assert jac.shape == (*f.shape, p.shape[1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_jacobian_matches_central_differences(name):
    x, p = CASES[name]
    p = np.asarray(p, dtype=np.float64)
    comp = get_component(name)
    _, jac = comp.value_and_jacobian(x, p)
    for k in range(p.shape[1]):
        h = 1e-6 * np.maximum(np.abs(p[:, k : k + 1]), 1e-3)
        up, down = p.copy(), p.copy()
        up[:, k : k + 1] += h
        down[:, k : k + 1] -= h
        numeric = (comp.value(x, up) - comp.value(x, down)) / (2 * h)
        scale = np.abs(numeric).max(axis=1, keepdims=True) + 1e-12
        np.testing.assert_allclose(jac[..., k] / scale, numeric / scale, atol=2e-6, err_msg=f"{name}: ∂f/∂{comp.param_names[k]}")


def test_lers_jacobian_finite_through_zero_shift():
    _, jac = get_component("lers").value_and_jacobian(np.array([-1e-9, 0.0, 1e-9]), np.array([[80.0, 300.0, 2.0]]))
    assert np.all(np.isfinite(jac))
    np.testing.assert_allclose(jac[0, 1, 1], 2.0 / 80.0 / 1.438776877)  # ∂/∂T of A·(kT/hc)/Γ at 0


def test_unknown_component_names_close_matches():
    with pytest.raises(ValueError, match="unknown band component 'lorenzian'. Did you mean 'lorentzian'"):
        get_component("lorenzian")
    assert get_component("Pseudo-Voigt").name == "pseudo_voigt"


def test_metadata():
    lers = get_component("lers")
    assert lers.param_names == ("width", "temperature", "height") and lers.params[1].unit == "K"
    assert get_component("espl").axis == "energy" and get_component("polynomial3").amplitude is None
