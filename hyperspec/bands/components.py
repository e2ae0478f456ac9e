"""The registry of band components: the one declaration of every line shape.

A component is data: a name, the spectral coordinate it lives on (``"shift"`` in cm⁻¹ or
``"energy"`` in eV), its parameters (name, unit, default bounds, description), a function
``columns(x, p, jac) → (f (n, m), [∂f/∂p_k (n, m)] or None)`` written once against ``xp`` and batched
over pixels (``p`` has shape (n, k)), and what ``decompose`` reports and checks for it:

- ``derived``: outputs computed from the fitted parameters (e.g. ESPL's ``peak_ev``, ``urbach_ev``),
  their standard errors by the delta method;
- ``support``: what the spectral axis must hold for the parameters to be determined;
- ``kernel``: its body in the fused kernels (numba and CUDA), or None for the ``xp`` path only.
  The kernels' shape codes are generated from these entries (:func:`kernel_codes`).

Every term's area is the trapezoid of its fitted component over the data's Raman-shift axis. The
CLI, recipes, presets, the fused kernels and the napari plugin all read the registry;
``get_component(name)`` fails with the closest valid names.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from hyperspec._backend import get_namespace
from hyperspec.bands.constants import EXP_MAX, HC_OVER_K_CM_K, LN2
from hyperspec.bands.shapes import espl_peak

__all__ = [
    "Param",
    "Derived",
    "Support",
    "Kernel",
    "Component",
    "COMPONENTS",
    "register",
    "unregister",
    "get_component",
    "component_names",
    "kernel_codes",
    "polynomial_component",
    "freeform_component",
    "faddeeva",
]


@dataclass(frozen=True)
class Param:
    """One parameter of a component: name, unit, default bounds and meaning.

    Parameters
    ----------
    name : str
        Parameter name, unique within its component (``"center"``, ``"hwhm"`` …).
    unit : str
        Its unit (``"cm-1"``, ``"eV"``, ``"1/eV"``, ``"K"``, ``"counts"`` or ``""``); it sets the
        suffix of the output name (``_cm``, ``_ev``, ``_per_ev``, ``_k``).
    lower, upper : float, optional
        Default bounds (in ``unit``). Default unbounded.
    description : str, optional
        Its meaning, shown in the outputs' ``long_name``.

    Examples
    --------
    >>> Param("hwhm", "cm-1", 1e-6, math.inf, "half width at half maximum").lower
    1e-06
    """

    name: str
    unit: str
    lower: float = -math.inf
    upper: float = math.inf
    description: str = ""


@dataclass(frozen=True)
class Derived:
    """A per-pixel output computed from a term's fitted parameters, reported as ``<term>_<suffix>``.

    Its standard error comes from the covariance of the fit by the delta method (central differences
    of ``function``), so a derived value needs no derivative of its own.

    Parameters
    ----------
    suffix : str
        Output name after ``<term>_``, with its unit suffix (``"peak_ev"``).
    unit : str
        Unit of the value.
    meaning : str
        Its ``long_name``; ``{term}`` is replaced by the term's name.
    function : callable
        ``function(*params) → value``: the term's parameters as (n,) arrays, in the component's
        parameter order, to the value (n,), through ``xp``.

    Examples
    --------
    >>> d = Derived("urbach_ev", "eV", "Urbach energy 1/|β| of {term}", lambda c, g, beta, h: 1.0 / abs(beta))
    >>> float(d.function(2.4, 0.03, -8.0, 100.0))
    0.125
    """

    suffix: str
    unit: str
    meaning: str
    function: Callable


@dataclass(frozen=True)
class Support:
    """What the spectral axis must hold for a component's parameters to be determined.

    ``decompose`` refuses a term whose support the data's axis lacks, before any work, naming it.

    Parameters
    ----------
    position : str, optional
        The parameter that places the band on the Raman-shift axis: its range (bounds, or its fixed
        value) must overlap the axis. Default None (no such check).
    mirrored : bool, optional
        The band also shows at −``position`` (a Raman line with its anti-Stokes partner). Default False.
    near_zero : float, optional
        Fitted channels are needed within ±``near_zero`` cm⁻¹ of zero shift (a central peak).
    what : str, optional
        What needs the channels near zero, for the message (``"central peak"``).

    Examples
    --------
    >>> Support("center", mirrored=True).mirrored
    True
    """

    position: str | None = None
    mirrored: bool = False
    near_zero: float | None = None
    what: str = ""


class Kernel(NamedTuple):
    """A component's body in the fused kernels: the identifier ``KERNEL_<NAME>`` and the code it stands for.

    Both kernels (``hyperspec/fit/_fused_kernel.py`` and ``kernels/fused_model.cu``) dispatch on
    ``code == KERNEL_<NAME>``; the identifiers' values are generated from the registry. Components
    made by one factory share a kernel (every ``polynomialK`` runs ``KERNEL_POLYNOMIAL``).

    Parameters
    ----------
    name : str
        Lower-case identifier of the body (``"lorentzian"``).
    code : int
        Its number, unique among kernels; kept stable (numba's cache holds compiled codes).

    Examples
    --------
    >>> Kernel("lorentzian", 0).code
    0
    """

    name: str
    code: int


@dataclass(frozen=True)
class Component:
    """A line shape as data: its parameters, value and analytic Jacobian, outputs and kernel.

    Parameters
    ----------
    name : str
        Registry name (lower case).
    axis : {"shift", "energy"}
        The spectral coordinate it is evaluated on: Raman shift (cm⁻¹) or photon energy (eV).
    params : tuple of Param
        Its parameters, in the order of the columns of ``p``.
    columns : callable
        ``columns(x, p, jac) → (f (n, m), [∂f/∂p_k (n, m) for each k] or None)``, through ``xp``.
    description : str
        One line: the formula.
    amplitude : str or None, optional
        The parameter the component is linear in (for the linear stage); None: linear in every
        parameter (polynomials, continua). Default ``"height"``.
    scale : float, optional
        Abscissa scale of polynomial components (cm⁻¹).
    nodes : tuple of float, optional
        Node positions of a free-form continuum (cm⁻¹, evenly spaced).
    derived : tuple of Derived, optional
        Outputs computed from its fitted parameters. Default none.
    support : Support, optional
        What the axis must hold. Default: its ``center`` (or ``peak``) parameter, when it lives on
        the Raman-shift axis, must reach the axis (see :attr:`axis_support`).
    kernel : Kernel, optional
        Its body in the fused kernels; None (default): evaluated through ``xp`` only.

    Examples
    --------
    >>> import numpy as np
    >>> lor = get_component("lorentzian")
    >>> lor.param_names
    ('center', 'hwhm', 'height')
    >>> f, jac = lor.value_and_jacobian(np.array([0.0, 1.0, 2.0]), np.array([[1.0, 1.0, 2.0]]))
    >>> f
    array([[1., 2., 1.]])
    >>> jac.shape
    (1, 3, 3)
    """

    name: str
    axis: str
    params: tuple[Param, ...]
    columns: Callable
    description: str
    amplitude: str | None = "height"
    scale: float | None = None
    nodes: tuple[float, ...] | None = None
    derived: tuple[Derived, ...] = ()
    support: Support | None = None
    kernel: Kernel | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameter names, in column order."""
        return tuple(p.name for p in self.params)

    @property
    def axis_support(self) -> Support:
        """The declared ``support``, or the default: the ``center`` or ``peak`` parameter on the shift axis."""
        if self.support is not None:
            return self.support
        position = next((k for k in ("center", "peak") if k in self.param_names), None) if self.axis == "shift" else None
        return Support(position)

    def value(self, x, p):
        """Values only, shape (n, m), of ``p`` (n, k) on ``x`` (m,)."""
        return self.columns(x, p, False)[0]

    def value_and_jacobian(self, x, p):
        """Values (n, m) and the Jacobian (n, m, k) with respect to the component's parameters."""
        xp = get_namespace(x, p)
        f, cols = self.columns(x, p, True)
        return f, xp.stack(cols, axis=-1)


COMPONENTS: dict[str, Component] = {}
#: Kernels of the components made by factories (not registered one by one).
POLYNOMIAL_KERNEL = Kernel("polynomial", 7)
FREEFORM_KERNEL = Kernel("freeform", 8)
_FAMILY_KERNELS = (POLYNOMIAL_KERNEL, FREEFORM_KERNEL)


def kernel_codes() -> dict[str, int]:
    """The fused kernels' shape codes, ``{kernel name: code}``, from the registry.

    The numba kernel reads them as module globals and the CUDA kernel gets them as ``#define
    KERNEL_<NAME> <code>`` prepended to its source, so neither holds a literal code.

    Returns
    -------
    dict of str to int
        Every kernel body a registered component (or a factory family) declares, by code.

    Examples
    --------
    >>> kernel_codes()["lorentzian"], kernel_codes()["freeform"]
    (0, 8)
    """
    kernels = [c.kernel for c in COMPONENTS.values() if c.kernel is not None] + list(_FAMILY_KERNELS)
    return {k.name: k.code for k in sorted(set(kernels), key=lambda k: k.code)}


def register(component: Component) -> Component:
    """Add a component to the registry.

    Parameters
    ----------
    component : Component
        The new line shape; its name must be new and its kernel (if any) consistent with the others'.

    Returns
    -------
    Component
        ``component`` itself.

    Raises
    ------
    ValueError
        For a name already registered, an unknown axis, an amplitude or support parameter it does
        not have, or a kernel name or code that another kernel uses.

    Examples
    --------
    >>> import numpy as np
    >>> step = Component("doc_step", "shift", (Param("height", "counts"),),
    ...                  lambda x, p, jac=True: (p[:, :1] * (x > 0), [x * 0.0 + (x > 0)] if jac else None), "step")
    >>> register(step).name
    'doc_step'
    >>> unregister("doc_step") is step
    True
    """
    if component.name in COMPONENTS:
        raise ValueError(f"component {component.name!r} is already registered.")
    if component.axis not in ("shift", "energy"):
        raise ValueError(f"component axis must be 'shift' or 'energy'; got {component.axis!r}.")
    names = component.param_names
    if component.amplitude is not None and component.amplitude not in names:
        raise ValueError(f"component {component.name!r}: amplitude {component.amplitude!r} is not one of its parameters {names}.")
    position = component.support.position if component.support is not None else None
    if position is not None and position not in names:
        raise ValueError(f"component {component.name!r}: support position {position!r} is not one of its parameters {names}.")
    if component.kernel is not None:
        for k in [c.kernel for c in COMPONENTS.values() if c.kernel is not None] + list(_FAMILY_KERNELS):
            if (k.name == component.kernel.name) != (k.code == component.kernel.code):
                raise ValueError(f"component {component.name!r}: kernel {component.kernel} clashes with kernel {k}.")
    COMPONENTS[component.name] = component
    return component


def unregister(name: str) -> Component:
    """Remove the component called ``name`` from the registry: the inverse of :func:`register`.

    Parameters
    ----------
    name : str
        Registry name of a registered component (one a test added, say); read as by :func:`get_component`,
        which raises ``ValueError`` with the closest names for an unknown one.

    Returns
    -------
    Component
        What was removed (register it again to restore it).

    Examples
    --------
    See :func:`register`.
    """
    component = get_component(name)
    return COMPONENTS.pop(component.name)


def component_names() -> list[str]:
    """The registered component names, sorted.

    Returns
    -------
    list of str
        Registry names.

    Examples
    --------
    >>> "espl" in component_names()
    True
    """
    return sorted(COMPONENTS)


def get_component(name: str) -> Component:
    """The registered component called ``name`` (case-insensitive, ``-`` read as ``_``).

    Parameters
    ----------
    name : str
        Registry name.

    Returns
    -------
    Component
        The registered component.

    Raises
    ------
    ValueError
        For an unknown name, with the closest valid names.

    Examples
    --------
    >>> get_component("Pseudo-Voigt").name
    'pseudo_voigt'
    """
    key = str(name).strip().lower().replace("-", "_")
    if key in COMPONENTS:
        return COMPONENTS[key]
    close = difflib.get_close_matches(key, component_names(), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown band component {name!r}.{hint} Known components: {', '.join(component_names())}.")


def _cols(p, k):
    return [p[:, i : i + 1] for i in range(k)]


# Parameters several shapes share (the same name, unit, bounds and meaning).
_HEIGHT = Param("height", "counts", 0.0, math.inf)
_CENTER = Param("center", "cm-1")
_HWHM = Param("hwhm", "cm-1", 1e-6, math.inf)


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
        kernel=Kernel("lorentzian", 0),
    )
)


# ---- Gaussian ---------------------------------------------------------------------------------
def _gaussian(x, p, jac=True):
    xp = get_namespace(x, p)
    center, hwhm, height = _cols(p, 3)
    d = x - center
    e = xp.exp(-LN2 * d * d / (hwhm * hwhm))
    f = height * e
    if not jac:
        return f, None
    fd = 2.0 * LN2 * f * d / hwhm**2
    return f, [fd, fd * d / hwhm, e]


register(
    Component(
        "gaussian",
        "shift",
        (_CENTER, _HWHM, _HEIGHT),
        _gaussian,
        "Gaussian with half width at half maximum Γ: h·exp(−ln2·(x − x₀)²/Γ²)",
        kernel=Kernel("gaussian", 1),
    )
)


# ---- pseudo-Voigt -----------------------------------------------------------------------------
def _pseudo_voigt(x, p, jac=True):
    center, hwhm, eta, height = _cols(p, 4)
    lp = get_namespace(x, p).concatenate([center, hwhm, height], axis=1)  # the shared line parameters
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
        (_CENTER, _HWHM, Param("eta", "", 0.0, 1.0, "Lorentzian fraction"), _HEIGHT),
        _pseudo_voigt,
        "pseudo-Voigt: η·Lorentzian + (1 − η)·Gaussian with a shared centre and HWHM",
        kernel=Kernel("pseudo_voigt", 2),
    )
)


# ---- Voigt ------------------------------------------------------------------------------------
def _weideman_coefficients(n_terms: int = 36):
    """Coefficients of Weideman's rational approximation of the Faddeeva function (SIAM J. Numer. Anal. 31, 1497 (1994))."""
    import numpy as np  # noqa: PLC0415

    m = 2 * n_terms
    k = np.arange(-m + 1, m)
    big_l = math.sqrt(n_terms / math.sqrt(2.0))
    t = big_l * np.tan(k * math.pi / (2.0 * m))
    f = np.concatenate([[0.0], np.exp(-t * t) * (big_l * big_l + t * t)])
    a = np.real(np.fft.fft(np.fft.fftshift(f))) / (2 * m)
    return big_l, tuple(np.flipud(a[1 : n_terms + 1]).tolist())


_WEIDEMAN_L, _WEIDEMAN_A = _weideman_coefficients()


def faddeeva(z):
    """The Faddeeva function w(z) = exp(−z²)·erfc(−iz) for Im z ≥ 0, through ``xp`` (NumPy or CuPy).

    Weideman's rational approximation with 36 terms (relative error below 1e-12 on the upper half
    plane, checked against ``scipy.special.wofz``); used by the Voigt line, whose argument has Im z ≥ 0.

    Parameters
    ----------
    z : complex array
        Arguments with non-negative imaginary part.

    Returns
    -------
    complex array
        w(z), same shape.

    Examples
    --------
    >>> import numpy as np
    >>> complex(faddeeva(np.array([1.0 + 1.0j]))[0])  # scipy.special.wofz(1+1j) = 0.30474+0.20821j
    (0.3047442052569126+0.2082189382028316j)
    """
    big_l = _WEIDEMAN_L
    iz = 1j * z
    den = big_l - iz
    zz = (big_l + iz) / den
    p = 0.0 * zz
    for a in _WEIDEMAN_A:  # Horner over the 36 coefficients, not over pixels
        p = p * zz + a
    return 2.0 * p / (den * den) + (1.0 / math.sqrt(math.pi)) / den


def _voigt(x, p, jac=True):
    center, hwhm_g, hwhm_l, height = _cols(p, 4)
    sqln2 = math.sqrt(LN2)
    s = hwhm_g / sqln2  # σ·√2
    z = ((x - center) + 1j * hwhm_l) / s
    z0 = (1j * hwhm_l) / s + 0.0 * z[..., :1]
    w = faddeeva(z)
    w0 = faddeeva(z0)
    u, u0 = w.real, w0.real
    r = u / u0
    f = height * r
    if not jac:
        return f, None
    two_i = 2j / math.sqrt(math.pi)
    dw = -2.0 * z * w + two_i  # w'(z)
    dw0 = -2.0 * z0 * w0 + two_i
    g = height / u0
    d_center = g * (dw * (-1.0 / s)).real
    d_g = g * ((dw * (-z / hwhm_g)).real - r * (dw0 * (-z0 / hwhm_g)).real)
    d_l = g * ((dw * (1j / s)).real - r * (dw0 * (1j / s)).real)
    return f, [d_center, d_g, d_l, r]


register(
    Component(
        "voigt",
        "shift",
        (
            _CENTER,
            Param("hwhm_g", "cm-1", 1e-6, math.inf, "Gaussian half width at half maximum"),
            Param("hwhm_l", "cm-1", 1e-9, math.inf, "Lorentzian half width at half maximum"),
            _HEIGHT,
        ),
        _voigt,
        "Voigt (Gaussian ⊗ Lorentzian), peak-height form: h·Re w(z)/Re w(z₀), z = (x − x₀ + iΓ_L)·√ln2/Γ_G; Faddeeva w",
    )
)


# ---- Gaussian on the photon-energy axis (PL bands) ---------------------------------------------
def _hc_over(e):
    return 1239.841984 / e


register(
    Component(
        "gaussian_ev",
        "energy",
        (
            Param("center", "eV", description="band centre (photon energy)"),
            Param("hwhm", "eV", 1e-6, math.inf, "half width at half maximum"),
            _HEIGHT,
        ),
        _gaussian,
        "Gaussian in photon energy (PL band): h·exp(−ln2·(E − E₀)²/Γ²)",
        derived=(Derived("center_nm", "nm", "vacuum wavelength hc/E₀ of the {term} band centre", lambda c, g, h: _hc_over(c)),),
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
    free = xp.abs(arg) < EXP_MAX  # where exp is clipped it is constant in β and x₀
    ex = xp.exp(xp.clip(arg, -EXP_MAX, EXP_MAX))
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
            _HEIGHT,
        ),
        _espl,
        "ESPL band (aS-PL): h·L(x; x₀, Γ)·exp(β·(x − x₀)), evaluated on its window only",
        derived=(
            Derived("peak_ev", "eV", "energy of the maximum of the fitted {term} band", lambda c, g, b, h: espl_peak(c, g, b)),
            Derived("urbach_ev", "eV", "Urbach energy 1/|β| of {term}", lambda c, g, b, h: 1.0 / abs(b)),
        ),
        kernel=Kernel("espl", 3),
    )
)


# ---- l-ERS central peak -----------------------------------------------------------------------
def _lers(x, p, jac=True):
    xp = get_namespace(x, p)
    width, temperature, height = _cols(p, 3)
    q = HC_OVER_K_CM_K * x / temperature
    small = xp.abs(q) < 1e-6
    qs = xp.where(small, 1.0, xp.clip(q, -EXP_MAX, EXP_MAX))
    ratio = xp.where(small, 1.0 + q / 2.0 + q * q / 12.0, qs / (-xp.expm1(-qs)))  # q/(1 − e^(−q))
    a = (temperature / HC_OVER_K_CM_K) * ratio  # (n + 1)·Δν̃, finite at 0
    den = x * x + width * width
    lor = width / den
    f = height * a * lor
    if not jac:
        return f, None
    half = xp.clip(q, -EXP_MAX, EXP_MAX) / 2.0
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
            _HEIGHT,
        ),
        _lers,
        "l-ERS central peak: A·[n(Δν̃, T) + 1]·Δν̃·Γ/(Δν̃² + Γ²), exact at Δν̃ = 0; Bose–Einstein asymmetry",
        support=Support(near_zero=300.0, what="central peak"),
        kernel=Kernel("lers", 4),
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
            _HEIGHT,
        ),
        _hers,
        "h-ERS band: A·exp(−ln²(Δν̃/c)/(2s²)) for Δν̃ > 0, 0 otherwise; heavy tail to large shifts",
        kernel=Kernel("hers_lognormal", 5),
    )
)


# ---- polynomial baseline ----------------------------------------------------------------------
def polynomial_component(order: int, scale_cm: float = 4000.0) -> Component:
    """A polynomial baseline Σ cₖ·(Δν̃/scale)ᵏ, k = 0 … order, linear in every coefficient.

    Parameters
    ----------
    order : int
        Highest power, ≥ 0.
    scale_cm : float, optional
        Abscissa scale (cm⁻¹). Default 4000.

    Returns
    -------
    Component
        ``polynomial<order>`` with coefficients ``c0`` … (counts), run by ``KERNEL_POLYNOMIAL``.

    Raises
    ------
    ValueError
        For a negative or non-integer order.

    Examples
    --------
    >>> polynomial_component(2).param_names
    ('c0', 'c1', 'c2')
    """
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
        kernel=POLYNOMIAL_KERNEL,
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
        support=Support("center", mirrored=True),  # the line shows at +ν and at −ν
        kernel=Kernel("raman_pair", 6),
    )
)


def freeform_component(n_nodes: int, low: float, high: float) -> Component:
    """A free-form continuum: amplitudes c₀ … c_{K−1} ≥ 0 on K evenly spaced nodes over [low, high].

    The continuum is the piecewise-linear interpolation of the node amplitudes (hat functions), zero
    outside the window, and linear in every amplitude. Its smoothness comes from a second-difference
    penalty on the amplitudes that the model adds to χ² (the ``smoothness`` of a ``freeform`` term):
    a Whittaker/P-spline-style regularised reconstruction for bands without an agreed line shape (h-ERS).

    Parameters
    ----------
    n_nodes : int
        Number of nodes K, ≥ 3.
    low, high : float
        The window (cm⁻¹), low < high.

    Returns
    -------
    Component
        ``freeform<K>`` with amplitudes ``c0`` … (counts), run by ``KERNEL_FREEFORM``.

    Raises
    ------
    ValueError
        For fewer than 3 nodes or an empty window.

    Examples
    --------
    >>> freeform_component(5, 0.0, 400.0).nodes
    (0.0, 100.0, 200.0, 300.0, 400.0)
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
        kernel=FREEFORM_KERNEL,
    )


# ---- single-nanocrystal PL (seed 004): exciton fine structure with LO-phonon replicas, trion, biexciton --
# All three live on the photon-energy axis (eV) and use the peak-height Lorentzian L(x; e, Γ) = Γ²/((x − e)² + Γ²).
# The bright-exciton fine structure is up to three lines at c, c + s₁, c + s₁ + s₂ (c: the lowest line, "A")
# with heights 1 : w₂ : w₃ (relative to A) and one shared HWHM Γ. The NC parts are built from one helper,
# `_nc_lines`, that evaluates such a multiplet (mirrored for the biexciton cascade) and its derivatives.
_EV_TO_CM = 1.0e7 / 1239.8419843320026  # 1 eV in cm⁻¹ (the areas are reported over the Raman-shift axis)
NC_REPLICAS = 4  # LO-phonon replicas of the CsPbBr₃ exciton (LO₁ … LO₄, seed 004 §5)


def _nc_lines(x, base, s1, s2, w2, w3, hwhm, sign, jac):
    """Multiplet Σₖ wₖ·L(x; base + sign·oₖ, Γ), o = (0, s₁, s₁ + s₂), w = (1, w₂, w₃).

    Returns the value M, the per-line values [L₁, L₂, L₃] and the derivatives of M with respect to
    ``base``, s₁, s₂ and Γ (None without ``jac``).
    """
    offsets = (0.0, s1, s1 + s2)
    weights = (1.0, w2, w3)
    total, lines = 0.0, []
    d_base = d_s1 = d_s2 = d_g = 0.0
    for k in range(3):  # three lines: a loop over the fine structure, not over pixels
        u = x - (base + sign * offsets[k])
        den = u * u + hwhm * hwhm
        line = hwhm * hwhm / den
        lines.append(line)
        total = total + weights[k] * line
        if jac:
            ld = 2.0 * line * u / den  # ∂L/∂(line position)
            d_base = d_base + weights[k] * ld
            if k >= 1:
                d_s1 = d_s1 + sign * weights[k] * ld
            if k == 2:
                d_s2 = d_s2 + sign * weights[k] * ld
            d_g = d_g + weights[k] * ld * u / hwhm
    return total, lines, (d_base, d_s1, d_s2, d_g) if jac else None


def _nc_exciton(x, p, jac=True):
    xp = get_namespace(x, p)
    center, s1, s2, w2, w3, hwhm = _cols(p, 6)
    omega = [p[:, 6 + i : 7 + i] for i in range(NC_REPLICAS)]
    hr = [p[:, 6 + NC_REPLICAS + i : 7 + NC_REPLICAS + i] for i in range(NC_REPLICAS)]
    height = p[:, 6 + 2 * NC_REPLICAS : 7 + 2 * NC_REPLICAS]
    copies = [(1.0, 0.0)] + [(hr[i], omega[i]) for i in range(NC_REPLICAS)]  # (relative area, phonon energy)
    shape = 0.0
    d = [0.0] * 6  # ∂(shape)/∂ centre, s₁, s₂, w₂, w₃, Γ
    d_omega, per_copy = [], []
    for a, w in copies:  # the zero-phonon line, then one replica per LO mode at c − ω
        m, lines, dm = _nc_lines(x, center - w, s1, s2, w2, w3, hwhm, 1.0, jac)
        shape = shape + a * m
        per_copy.append(m)
        if jac:
            for k, g in zip((0, 1, 2, 5), dm, strict=True):
                d[k] = d[k] + a * g
            d[3] = d[3] + a * lines[1]
            d[4] = d[4] + a * lines[2]
            d_omega.append(-a * dm[0])
    shape = xp.broadcast_to(shape, (p.shape[0], x.shape[-1]))
    f = height * shape
    if not jac:
        return f, None
    cols = [height * g for g in d] + [height * g for g in d_omega[1:]] + [height * m for m in per_copy[1:]] + [shape]
    return f, [xp.broadcast_to(c, f.shape) for c in cols]


def _nc_zpl_area(center, s1, s2, w2, w3, hwhm, *rest):
    return math.pi * hwhm * rest[-1] * (1.0 + w2 + w3) * _EV_TO_CM


def _nc_replica_area(i):
    return lambda *q: q[6 + NC_REPLICAS + i] * _nc_zpl_area(*q)


register(
    Component(
        "nc_exciton",
        "energy",
        (
            Param("center", "eV", description="zero-phonon line A: the lowest bright fine-structure line"),
            Param("split_1", "eV", 0.0, math.inf, "fine-structure splitting B − A"),
            Param("split_2", "eV", 0.0, math.inf, "fine-structure splitting C − B"),
            Param("weight_2", "", 0.0, math.inf, "height of line B relative to A"),
            Param("weight_3", "", 0.0, math.inf, "height of line C relative to A (0: a doublet)"),
            Param("hwhm", "eV", 1e-6, math.inf, "half width at half maximum shared by every line"),
            *(
                Param(f"lo{i + 1}", "eV", 0.0, math.inf, f"LO{i + 1} phonon energy (replica at centre − lo{i + 1})")
                for i in range(NC_REPLICAS)
            ),
            *(Param(f"s_lo{i + 1}", "", 0.0, math.inf, f"Huang-Rhys factor of LO{i + 1} (replica/ZPL area)") for i in range(NC_REPLICAS)),
            Param("height", "counts", 0.0, math.inf, "height of the zero-phonon line A"),
        ),
        _nc_exciton,
        "single-NC exciton: h·[M(x) + Σᵢ Sᵢ·M(x + ωᵢ)], M = fine-structure multiplet of Lorentzians "
        "(lines at c, c + s₁, c + s₁ + s₂, heights 1 : w₂ : w₃, one HWHM); one-phonon LO replicas of the same shape",
        derived=(
            Derived("zpl_area", "counts*cm-1", "zero-phonon (fine-structure multiplet) area of {term}", _nc_zpl_area),
            *(
                Derived(f"lo{i + 1}_area", "counts*cm-1", f"LO{i + 1} replica area of {{term}}", _nc_replica_area(i))
                for i in range(NC_REPLICAS)
            ),
        ),
    )
)


def _nc_trion(x, p, jac=True):
    reference, binding, hwhm, height = _cols(p, 4)
    m, _, dm = _nc_lines(x, reference - binding, 0.0, 0.0, 0.0, 0.0, hwhm, 1.0, jac)
    f = height * m
    if not jac:
        return f, None
    return f, [height * dm[0], -height * dm[0], height * dm[3], m]


register(
    Component(
        "nc_trion",
        "energy",
        (
            Param("reference", "eV", description="exciton line it is bound below (tie it to the exciton's centre)"),
            Param("binding", "eV", 0.0, math.inf, "trion binding energy: reference − trion line"),
            Param("hwhm", "eV", 1e-6, math.inf),
            _HEIGHT,
        ),
        _nc_trion,
        "single-NC trion: one Lorentzian h·L(x; E_ref − Δ_T, Γ) (no fine structure)",
        derived=(Derived("peak_ev", "eV", "energy of the {term} line", lambda r, b, g, h: r - b),),
    )
)


def _nc_biexciton(x, p, jac=True):
    reference, s1, s2, w2, w3, binding, hwhm, height = _cols(p, 8)
    m, lines, dm = _nc_lines(x, reference - binding, s1, s2, w2, w3, hwhm, -1.0, jac)
    f = height * m
    if not jac:
        return f, None
    db = height * dm[0]
    return f, [db, height * dm[1], height * dm[2], height * lines[1], height * lines[2], -db, height * dm[3], m]


register(
    Component(
        "nc_biexciton",
        "energy",
        (
            Param("reference", "eV", description="exciton line A (tie it to the exciton's centre)"),
            Param("split_1", "eV", 0.0, math.inf, "exciton splitting B − A (tie it)"),
            Param("split_2", "eV", 0.0, math.inf, "exciton splitting C − B (tie it)"),
            Param("weight_2", "", 0.0, math.inf, "relative height of the cascade through B (tie it)"),
            Param("weight_3", "", 0.0, math.inf, "relative height of the cascade through C (tie it)"),
            Param("binding", "eV", 0.0, math.inf, "biexciton binding energy 2·E_A − E_XX: exciton A − biexciton line A'"),
            Param("hwhm", "eV", 1e-6, math.inf),
            _HEIGHT,
        ),
        _nc_biexciton,
        "single-NC biexciton: the exciton multiplet mirrored below E_ref − Δ_XX (cascade XX → Xₖ: lines at "
        "E_ref − Δ_XX − oₖ, heights 1 : w₂ : w₃)",
        derived=(Derived("peak_ev", "eV", "energy of the {term} line A' (partner of exciton A)", lambda r, a, b, c, d, e, g, h: r - e),),
    )
)
