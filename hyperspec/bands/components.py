"""The registry of band components: line shapes with analytic Jacobians, parameters, units, bounds.

A component is data: a name, the spectral coordinate it lives on (``"shift"`` in cm⁻¹ or
``"energy"`` in eV), its parameters (name, unit, default bounds, description) and a function
``value_and_jacobian(x, p) → (f (n, m), J (n, m, k))`` written once against ``xp``, batched over
pixels (``p`` has shape (n, k)). The CLI, recipes, presets and the napari plugin all read the
registry; ``get_component(name)`` fails with the closest valid names.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

from hyperspec._backend import get_namespace
from hyperspec.bands.shapes import _EXP_MAX, HC_OVER_K_CM_K

__all__ = ["Param", "Component", "COMPONENTS", "register", "get_component", "component_names", "freeform_component"]

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class Param:
    """One parameter of a component: name, unit, default bounds and meaning."""

    name: str
    unit: str
    lower: float = -math.inf
    upper: float = math.inf
    description: str = ""


@dataclass(frozen=True)
class Component:
    """A line shape as data. ``axis`` is the spectral coordinate it is evaluated on."""

    name: str
    axis: str
    params: tuple[Param, ...]
    columns: Callable  #: columns(x, p, jac) → (f (n, m), [∂f/∂p_k (n, m) for each k] or None)
    description: str
    amplitude: str | None = "height"  #: the parameter the component is linear in (for the linear stage)
    scale: float | None = None  #: abscissa scale of polynomial components (cm⁻¹)
    nodes: tuple[float, ...] | None = None  #: node positions of a free-form continuum (cm⁻¹, evenly spaced)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def value(self, x, p):
        """Values only, shape (n, m)."""
        return self.columns(x, p, False)[0]

    def value_and_jacobian(self, x, p):
        """Values (n, m) and the Jacobian (n, m, k) with respect to the component's parameters."""
        xp = get_namespace(x, p)
        f, cols = self.columns(x, p, True)
        return f, xp.stack(cols, axis=-1)


COMPONENTS: dict[str, Component] = {}


def register(component: Component) -> Component:
    """Add a component to the registry (names are unique, lower-case)."""
    if component.name in COMPONENTS:
        raise ValueError(f"component {component.name!r} is already registered.")
    if component.axis not in ("shift", "energy"):
        raise ValueError(f"component axis must be 'shift' or 'energy'; got {component.axis!r}.")
    COMPONENTS[component.name] = component
    return component


def component_names() -> list[str]:
    return sorted(COMPONENTS)


def get_component(name: str) -> Component:
    """The registered component called ``name`` (case-insensitive); a clear error otherwise."""
    key = str(name).strip().lower().replace("-", "_")
    if key in COMPONENTS:
        return COMPONENTS[key]
    close = difflib.get_close_matches(key, component_names(), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown band component {name!r}.{hint} Known components: {', '.join(component_names())}.")


def _cols(p, k):
    return [p[:, i : i + 1] for i in range(k)]


# ---- Lorentzian -------------------------------------------------------------------------------
def _lorentzian(x, p, jac=True):
    center, hwhm, height = _cols(p, 3)
    d = x - center
    den = d * d + hwhm * hwhm
    s = hwhm * hwhm / den
    f = height * s
    if not jac:
        return f, None
    fd = 2.0 * f * d / den
    return f, [fd, fd * d / hwhm, s]


register(
    Component(
        "lorentzian",
        "shift",
        (
            Param("center", "cm-1", description="peak position"),
            Param("hwhm", "cm-1", 1e-6, math.inf, "half width at half maximum"),
            Param("height", "counts", 0.0, math.inf, "peak height"),
        ),
        _lorentzian,
        "Lorentzian, peak-height form: h·Γ²/((x − x₀)² + Γ²); area π·Γ·h",
    )
)


# ---- Gaussian ---------------------------------------------------------------------------------
def _gaussian(x, p, jac=True):
    xp = get_namespace(x, p)
    center, hwhm, height = _cols(p, 3)
    d = x - center
    e = xp.exp(-_LN2 * d * d / (hwhm * hwhm))
    f = height * e
    if not jac:
        return f, None
    fd = 2.0 * _LN2 * f * d / hwhm**2
    return f, [fd, fd * d / hwhm, e]


register(
    Component(
        "gaussian",
        "shift",
        (Param("center", "cm-1"), Param("hwhm", "cm-1", 1e-6, math.inf), Param("height", "counts", 0.0, math.inf)),
        _gaussian,
        "Gaussian with half width at half maximum Γ: h·exp(−ln2·(x − x₀)²/Γ²)",
    )
)


# ---- pseudo-Voigt -----------------------------------------------------------------------------
def _pseudo_voigt(x, p, jac=True):
    xp = get_namespace(x, p)
    center, hwhm, eta, height = _cols(p, 4)
    lp = xp.concatenate([center, hwhm, height], axis=1)
    fl, jl = _lorentzian(x, lp, jac)
    fg, jg = _gaussian(x, lp, jac)
    f = eta * fl + (1.0 - eta) * fg
    if not jac:
        return f, None
    mix = [eta * a + (1.0 - eta) * b for a, b in zip(jl, jg, strict=True)]
    return f, [mix[0], mix[1], fl - fg, mix[2]]


register(
    Component(
        "pseudo_voigt",
        "shift",
        (
            Param("center", "cm-1"),
            Param("hwhm", "cm-1", 1e-6, math.inf),
            Param("eta", "", 0.0, 1.0, "Lorentzian fraction"),
            Param("height", "counts", 0.0, math.inf),
        ),
        _pseudo_voigt,
        "pseudo-Voigt: η·Lorentzian + (1 − η)·Gaussian with a shared centre and HWHM",
    )
)


# ---- ESPL (aS-PL main band) -------------------------------------------------------------------
def _espl(x, p, jac=True):
    xp = get_namespace(x, p)
    center, hwhm, beta, height = _cols(p, 4)
    d = x - center
    den = d * d + hwhm * hwhm
    s = hwhm * hwhm / den
    arg = beta * d
    free = xp.abs(arg) < _EXP_MAX  # where exp is clipped it is constant in β and x₀
    ex = xp.exp(xp.clip(arg, -_EXP_MAX, _EXP_MAX))
    f = height * s * ex
    if not jac:
        return f, None
    return f, [f * (2.0 * d / den - xp.where(free, beta, 0.0)), 2.0 * f * d * d / (hwhm * den), xp.where(free, f * d, 0.0), s * ex]


register(
    Component(
        "espl",
        "energy",
        (
            Param("center", "eV", description="Lorentzian centre x₀ (the maximum sits at x₀ + (1 − √(1 − β²Γ²))/β)"),
            Param("hwhm", "eV", 1e-6, math.inf),
            Param("beta", "1/eV", -math.inf, math.inf, "signed Urbach slope; Urbach energy = 1/|β|"),
            Param("height", "counts", 0.0, math.inf),
        ),
        _espl,
        "ESPL band (aS-PL): h·L(x; x₀, Γ)·exp(β·(x − x₀)), evaluated on its window only",
    )
)


# ---- l-ERS central peak -----------------------------------------------------------------------
def _lers(x, p, jac=True):
    xp = get_namespace(x, p)
    width, temperature, height = _cols(p, 3)
    q = HC_OVER_K_CM_K * x / temperature
    small = xp.abs(q) < 1e-6
    qs = xp.where(small, 1.0, xp.clip(q, -_EXP_MAX, _EXP_MAX))
    ratio = xp.where(small, 1.0 + q / 2.0 + q * q / 12.0, qs / (-xp.expm1(-qs)))  # q/(1 − e^(−q))
    a = (temperature / HC_OVER_K_CM_K) * ratio  # (n + 1)·Δν̃, finite at 0
    den = x * x + width * width
    lor = width / den
    f = height * a * lor
    if not jac:
        return f, None
    half = xp.clip(q, -_EXP_MAX, _EXP_MAX) / 2.0
    sh = xp.where(small, 1.0, half / xp.where(small, 1.0, xp.sinh(half)))  # (q/2)/sinh(q/2)
    da_dt = sh * sh / HC_OVER_K_CM_K  # ∂a/∂T = (q/(2 sinh(q/2)))²·k/hc
    return f, [height * a * (x * x - width * width) / (den * den), height * lor * da_dt, a * lor]


register(
    Component(
        "lers",
        "shift",
        (
            Param("width", "cm-1", 1e-3, math.inf, "relaxation width Γ (the 'Urbach energy' of the central peak)"),
            Param("temperature", "K", 1.0, 5000.0, "local temperature"),
            Param("height", "counts", 0.0, math.inf),
        ),
        _lers,
        "l-ERS central peak: A·[n(Δν̃, T) + 1]·Δν̃·Γ/(Δν̃² + Γ²), exact at Δν̃ = 0; Bose–Einstein asymmetry",
    )
)


# ---- h-ERS log-normal band --------------------------------------------------------------------
def _hers(x, p, jac=True):
    xp = get_namespace(x, p)
    peak, log_width, height = _cols(p, 3)
    positive = x > 0
    ln = xp.log(xp.where(positive, x, peak) / peak)
    e = xp.where(positive, xp.exp(-(ln * ln) / (2.0 * log_width * log_width)), 0.0)
    f = height * e
    if not jac:
        return f, None
    fl = f * ln / (log_width * log_width)
    return f, [fl / peak, fl * ln / log_width, e]


register(
    Component(
        "hers_lognormal",
        "shift",
        (
            Param("peak", "cm-1", 1e-3, math.inf, "position of the maximum c"),
            Param("log_width", "", 1e-3, 10.0, "width s in ln(Δν̃)"),
            Param("height", "counts", 0.0, math.inf),
        ),
        _hers,
        "h-ERS band: A·exp(−ln²(Δν̃/c)/(2s²)) for Δν̃ > 0, 0 otherwise; heavy tail to large shifts",
    )
)


# ---- polynomial baseline ----------------------------------------------------------------------
def polynomial_component(order: int, scale_cm: float = 4000.0) -> Component:
    """A polynomial baseline Σ cₖ·(Δν̃/scale)ᵏ, k = 0 … order (linear in every coefficient)."""
    if order < 0 or int(order) != order:
        raise ValueError(f"polynomial order must be an integer ≥ 0; got {order!r}.")
    order = int(order)

    def columns(x, p, jac=True):
        xp = get_namespace(x, p)
        u = x / scale_cm
        powers = xp.stack([u**k for k in range(order + 1)], axis=-1)  # (m, K), loop over orders
        f = p @ powers.T
        if not jac:
            return f, None
        return f, [xp.broadcast_to(powers[:, k], f.shape) for k in range(order + 1)]

    params = tuple(Param(f"c{k}", "counts", description=f"coefficient of (Δν̃/{scale_cm:g})^{k}") for k in range(order + 1))
    return Component(
        f"polynomial{order}",
        "shift",
        params,
        columns,
        f"polynomial baseline of order {order} in Δν̃/{scale_cm:g} cm⁻¹",
        amplitude=None,
        scale=scale_cm,
    )


for _order in range(0, 6):
    register(polynomial_component(_order))


# ---- Raman line with its anti-Stokes partner ---------------------------------------------------
def _raman_pair(x, p, jac=True):
    xp = get_namespace(x, p)
    center, hwhm, height, temperature = _cols(p, 4)
    ratio = xp.exp(-HC_OVER_K_CM_K * center / temperature)  # anti-Stokes/Stokes = n/(n + 1)
    f1, j1 = _lorentzian(x, xp.concatenate([center, hwhm, height], axis=1), jac)
    f2, j2 = _lorentzian(x, xp.concatenate([-center, hwhm, height * ratio], axis=1), jac)
    if not jac:
        return f1 + f2, None
    s2 = j2[2]  # ∂L₂/∂h₂
    dh2_dc = -height * ratio * HC_OVER_K_CM_K / temperature
    dh2_dt = height * ratio * HC_OVER_K_CM_K * center / temperature**2
    return f1 + f2, [j1[0] - j2[0] + s2 * dh2_dc, j1[1] + j2[1], j1[2] + s2 * ratio, s2 * dh2_dt]


register(
    Component(
        "raman_pair",
        "shift",
        (
            Param("center", "cm-1", 1e-3, math.inf, "Stokes shift ν of the line"),
            Param("hwhm", "cm-1", 1e-3, math.inf),
            Param("height", "counts", 0.0, math.inf, "Stokes peak height"),
            Param("temperature", "K", 1.0, 5000.0, "sets the anti-Stokes height h·exp(−hcν/kT); tie it to the l-ERS temperature"),
        ),
        _raman_pair,
        "Raman line at +ν with its anti-Stokes partner at −ν, heights in the Bose–Einstein ratio exp(−hcν/kT)",
    )
)


def freeform_component(n_nodes: int, low: float, high: float) -> Component:
    """A free-form continuum: amplitudes c₀ … c_{K−1} ≥ 0 on K evenly spaced nodes over [low, high] (cm⁻¹).

    The continuum is the piecewise-linear interpolation of the node amplitudes (hat functions), zero
    outside the window, and linear in every amplitude. Its smoothness comes from a second-difference
    penalty on the amplitudes that the model adds to χ² (the ``smoothness`` of a ``freeform`` term):
    a Whittaker/P-spline-style regularised reconstruction for bands without an agreed line shape (h-ERS).
    """
    if int(n_nodes) != n_nodes or n_nodes < 3:
        raise ValueError(f"a free-form continuum needs an integer number of nodes ≥ 3; got {n_nodes!r}.")
    if not float(low) < float(high):
        raise ValueError(f"a free-form continuum needs a window low < high; got [{low}, {high}].")
    n_nodes = int(n_nodes)
    nodes = [float(low) + k * (float(high) - float(low)) / (n_nodes - 1) for k in range(n_nodes)]
    spacing = nodes[1] - nodes[0]

    def columns(x, p, jac=True):
        xp = get_namespace(x, p)
        z = xp.asarray(nodes)
        basis = xp.clip(1.0 - xp.abs(x[:, None] - z[None, :]) / spacing, 0.0, None)  # (m, K) hat functions
        basis = basis * ((x >= low) & (x <= high))[:, None]
        f = p @ basis.T
        if not jac:
            return f, None
        return f, [xp.broadcast_to(basis[:, k], f.shape) for k in range(n_nodes)]

    params = tuple(Param(f"c{k}", "counts", 0.0, math.inf, f"continuum at {nodes[k]:.0f} cm⁻¹") for k in range(n_nodes))
    return Component(
        f"freeform{n_nodes}",
        "shift",
        params,
        columns,
        f"free-form continuum on {n_nodes} nodes over {low:g}…{high:g} cm⁻¹",
        amplitude=None,
        nodes=tuple(nodes),
    )
