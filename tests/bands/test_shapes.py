"""Line shapes: areas, maxima, the l-ERS zero limit and detailed balance, against independent math."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize

from hyperspec.bands import shapes


def test_lorentzian_area_is_pi_gamma_height(xp):
    x = xp.linspace(-20000.0, 20000.0, 2_000_001)
    y = shapes.lorentzian(x, 3.0, 5.0, 2.0)
    area = float(xp.trapezoid(y, x)) if hasattr(xp, "trapezoid") else float(xp.trapz(y, x))
    # the tails beyond ±20000 hold 2·h·Γ²/20000 of the area
    assert area == pytest.approx(np.pi * 5.0 * 2.0 - 2 * 2.0 * 25.0 / 20000.0, rel=1e-6)


def test_gaussian_hwhm():
    assert shapes.gaussian(np.array([7.0]), 5.0, 2.0, 4.0)[0] == pytest.approx(2.0)


def test_pseudo_voigt_limits():
    x = np.linspace(-10, 10, 11)
    np.testing.assert_allclose(shapes.pseudo_voigt(x, 0.0, 2.0, 1.0), shapes.lorentzian(x, 0.0, 2.0))
    np.testing.assert_allclose(shapes.pseudo_voigt(x, 0.0, 2.0, 0.0), shapes.gaussian(x, 0.0, 2.0))


@pytest.mark.parametrize("beta", [-12.0, -3.0, 0.0, 4.0, 20.0])
def test_espl_peak_matches_numerical_maximum(beta):
    center, hwhm = 2.37, 0.035
    res = optimize.minimize_scalar(
        lambda e: -shapes.espl(np.array(e), center, hwhm, beta),
        bounds=(center - 0.2, center + 0.2),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert float(shapes.espl_peak(np.float64(center), hwhm, beta)) == pytest.approx(res.x, abs=1e-7)


def test_espl_window_and_overflow_guard():
    x = np.array([-1e6, 2.0, 2.37, 3.0, 1e6])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = shapes.espl(x, 2.37, 0.03, 20.0, window=(2.1, 2.6))
    assert np.all(np.isfinite(y))
    assert y[0] == 0 and y[3] == 0 and y[4] == 0 and y[2] == pytest.approx(1.0)


def test_lers_exact_zero_limit_and_continuity():
    width, temp, height = 80.0, 350.0, 3.0
    at_zero = shapes.lers(np.array([0.0]), width, temp, height)[0]
    assert at_zero == pytest.approx(shapes.lers_zero_limit(width, temp, height), rel=1e-12)
    assert at_zero == pytest.approx(height * temp / 1.438776877 / width, rel=1e-12)
    near = shapes.lers(np.array([-1e-4, 1e-4]), width, temp, height)
    np.testing.assert_allclose(near, at_zero, rtol=1e-5)


def test_lers_matches_bose_einstein_formula_and_detailed_balance():
    nu = np.array([15.0, 60.0, 200.0, 900.0])
    width, temp = 70.0, 420.0
    direct = (shapes.bose_einstein(nu, temp) + 1.0) * nu * width / (nu**2 + width**2)
    np.testing.assert_allclose(shapes.lers(nu, width, temp), direct, rtol=1e-12)
    ratio = shapes.lers(-nu, width, temp) / shapes.lers(nu, width, temp)
    np.testing.assert_allclose(ratio, np.exp(-1.438776877 * nu / temp), rtol=1e-12)


def test_hers_lognormal_peak_and_support():
    shift = np.array([-100.0, 0.0, 1800.0, 3600.0])
    y = shapes.hers_lognormal(shift, 1800.0, 0.5, 7.0)
    assert y[0] == 0 and y[1] == 0 and y[2] == pytest.approx(7.0)
    assert y[3] == pytest.approx(7.0 * np.exp(-(np.log(2.0) ** 2) / 0.5))
    # heavy tail: more weight above the peak than below
    above = integrate.quad(lambda s: shapes.hers_lognormal(np.array(s), 1800.0, 0.5), 1800, 1e5)[0]
    below = integrate.quad(lambda s: shapes.hers_lognormal(np.array(s), 1800.0, 0.5), 0, 1800)[0]
    assert above > 1.5 * below


def test_polynomial_matches_polyval():
    u = np.linspace(-1, 1, 9)
    coeffs = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    out = shapes.polynomial(u, coeffs)
    for row, c in zip(out, coeffs, strict=True):
        np.testing.assert_allclose(row, np.polyval(c[::-1], u))


@pytest.mark.gpu
def test_shapes_cupy_equals_numpy():
    import cupy

    x = np.linspace(-4500, 3600, 1024)
    p = np.random.default_rng(0).uniform(50, 150, (64, 1))
    for fn, args in [
        (shapes.lers, (p, 300.0 + p)),
        (shapes.hers_lognormal, (1800.0 + p, 0.5)),
        (shapes.lorentzian, (p, 5.0)),
    ]:
        ref = fn(x, *args)
        got = fn(cupy.asarray(x), *(cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args))
        np.testing.assert_allclose(cupy.asnumpy(got), ref, rtol=1e-12)
