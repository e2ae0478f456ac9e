"""K Lorentzians + a linear baseline, batched over pixels, with the analytic Jacobian (NumPy)."""

from __future__ import annotations

import numpy as np

SCALE_CM = 4000.0  # hyperspec's polynomial abscissa scale: c0 + c1·(x / 4000)


def value(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Model values (n, m) at channels ``x`` (m,) for parameters ``p`` (n, P), P = 3K + 2."""
    p = np.atleast_2d(p)
    k = (p.shape[1] - 2) // 3
    f = p[:, -2:-1] + p[:, -1:] * (x[None, :] / SCALE_CM)
    for i in range(k):
        c, g, h = p[:, 3 * i : 3 * i + 1], p[:, 3 * i + 1 : 3 * i + 2], p[:, 3 * i + 2 : 3 * i + 3]
        d = x[None, :] - c
        f = f + h * g * g / (d * d + g * g)
    return f


def value_and_jacobian(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model values (n, m) and the Jacobian (n, m, P) ∂f/∂p, analytic."""
    p = np.atleast_2d(p)
    n, P = p.shape
    k = (P - 2) // 3
    u = x / SCALE_CM
    jac = np.empty((n, x.size, P))
    f = p[:, -2:-1] + p[:, -1:] * u[None, :]
    for i in range(k):
        c, g, h = p[:, 3 * i : 3 * i + 1], p[:, 3 * i + 1 : 3 * i + 2], p[:, 3 * i + 2 : 3 * i + 3]
        d = x[None, :] - c
        den = d * d + g * g
        s = g * g / den
        fi = h * s
        f = f + fi
        fd = 2.0 * fi * d / den
        jac[:, :, 3 * i] = fd
        jac[:, :, 3 * i + 1] = fd * d / g
        jac[:, :, 3 * i + 2] = s
    jac[:, :, -2] = 1.0
    jac[:, :, -1] = u[None, :]
    return f, jac


def chi2(x: np.ndarray, y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """χ² per pixel (n,): Σ w·(y − f)², uniform weights when ``w`` is None."""
    r = y - value(x, p)
    return np.sum(r * r if w is None else w * r * r, axis=-1)


def area(p: np.ndarray) -> np.ndarray:
    """Line areas (n, K): π·HWHM·height (counts·cm⁻¹; the analytic area of the Lorentzian)."""
    k = (p.shape[1] - 2) // 3
    return np.pi * p[:, 1 : 3 * k : 3] * p[:, 2 : 3 * k : 3]
