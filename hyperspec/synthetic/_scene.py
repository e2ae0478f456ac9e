"""The simulated sample: a CsPbBr₃ crystal next to a perovskite glass, seen under a 633 nm pump.

``Scene`` holds every physical and instrumental parameter (all overridable). Its parameter
fields are smooth, deterministic functions of the *sample* coordinates (µm), so a drifting
stage only shifts where they are evaluated. ``render`` turns per-spectrum parameters into
component spectra, batched over spectra (shape ``(n, N)``), through ``xp``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from hyperspec import axes
from hyperspec._backend import get_namespace
from hyperspec.bands import shapes

__all__ = ["Scene", "RAMAN_LINES", "render", "notch_transmission", "COMPONENTS"]

#: Raman lines: name → (Stokes shift cm⁻¹, HWHM cm⁻¹ incl. instrument broadening, where).
#: CsPbBr₃ phonons in the crystal (73, 127, 160 cm⁻¹ and the 2LO at 310 cm⁻¹), weaker in
#: the glass; D, G and 2D lines of the carbon-nanotube electrode strip.
RAMAN_LINES = {
    "cspbbr3_73": (73.0, 6.0, "perovskite"),
    "cspbbr3_127": (127.0, 7.0, "perovskite"),
    "cspbbr3_160": (160.0, 8.0, "perovskite"),
    "cspbbr3_310": (310.0, 14.0, "perovskite"),
    "cnt_d": (1360.0, 20.0, "electrode"),
    "cnt_g": (1590.0, 12.0, "electrode"),
    "cnt_2d": (2720.0, 30.0, "electrode"),
}
_LINE_HEIGHTS = {  # counts at brightness 1: (crystal, glass, electrode)
    "cspbbr3_73": (260.0, 60.0),
    "cspbbr3_127": (220.0, 50.0),
    "cspbbr3_160": (150.0, 40.0),
    "cspbbr3_310": (70.0, 15.0),
    "cnt_d": (250.0,),
    "cnt_g": (700.0,),
    "cnt_2d": (300.0,),
}

#: Component spectra returned by ``render`` (each without the notch filter applied).
COMPONENTS = ("aspl", "sbpl", "lers", "hers", "raman", "background")


@dataclass(frozen=True)
class Scene:
    """Parameters of the simulated sample and instrument (frozen; units in the names).

    Every field is a keyword of the synthetic functions (``cspbbr3_map(..., brightness=5)``).
    Crystal/glass pairs are mixed by each pixel's glass fraction; heights are counts at
    ``brightness`` 1 before the notch filter.

    Parameters
    ----------
    laser_nm : float
        Laser wavelength, nm. Default 632.8.
    pixel_um : float
        Pixel size along x and y, µm. Default 0.5.
    frame_s : float
        Frame time of kinetic maps (and the maps' ``exposure_s``), s. Default 0.2.
    shift_min_cm, shift_max_cm : float
        Raman-shift range of the channels (linear in wavelength), cm⁻¹. Default −4500, 3600.
    brightness : float
        Factor on every band height and the background (not on the camera offset). Default 1.
    aspl_center_crystal_ev, aspl_center_glass_ev, aspl_hwhm_crystal_ev, aspl_hwhm_glass_ev : float
        Centre and half width of the anti-Stokes PL (ESPL) band, eV.
    aspl_urbach_crystal_ev, aspl_urbach_glass_ev : float
        Urbach energy of its low-energy tail, eV.
    aspl_height_crystal, aspl_height_glass : float
        Its height, counts (times a ±12 % texture).
    aspl_window_cm : (float, float)
        Raman-shift window where the aS-PL band is rendered (zero outside), cm⁻¹.
    sbpl_probability : float
        Expected sharp-band PL events per spectrum (kinetic maps: per ``sbpl_mean_frames`` frames).
    sbpl_max_per_spectrum : int
        SBPL slots per spectrum (the truth's ``sbpl`` dim).
    sbpl_hwhm_nm, sbpl_rel_height : (float, float)
        Ranges of the SBPL half width (nm) and of its height relative to the aS-PL height.
    sbpl_mean_frames : float
        Mean duration of an SBPL event, frames (kinetic maps).
    sbpl_frames : (int, int) or None
        Range (inclusive) of SBPL durations, frames, drawn uniformly (kinetic maps); the event rate is
        then per mean duration of that range. Default None: geometric durations of mean ``sbpl_mean_frames``.
    lers_height_crystal, lers_height_glass : float
        Height of the low-energy electronic Raman scattering (l-ERS) central peak, counts.
    lers_height_interface_boost : float
        Relative extra l-ERS height at the interface (× (1 + boost · interface profile)).
    lers_width_crystal_cm, lers_width_glass_cm : float
        l-ERS width, cm⁻¹.
    temperature_base_k, interface_heating_k : float
        Sample temperature, and its rise at the interface, K (sets the anti-Stokes/Stokes ratio).
    hotspots_k : tuple of float
        Temperature rise of each hot spot (random positions), K.
    hotspot_sigma_um : float
        Gaussian radius of the hot spots, µm.
    hers_height_glass, hers_center_cm, hers_log_width : float
        High-energy ERS (log-normal band): height in the glass (counts, ∝ glass fraction; none in the
        crystal), peak position (cm⁻¹) and log width (dimensionless).
    background_coeffs : (float, float, float)
        Background polynomial c₀ + c₁u + c₂u², u = shift / 4000 cm⁻¹, counts.
    background_glass_extra : float
        Counts added to c₀ in proportion to the glass fraction.
    offset_counts, read_noise_counts : float
        Camera offset and Gaussian read-noise rms, counts.
    emccd_gain : float or None
        EMCCD gain (adds the multiplication excess noise); None: a plain CCD (Poisson noise).
    saturation_counts : float
        Detector full scale, counts (the output is clipped to it).
    notch_half_width_cm, notch_floor : float
        Laser-blocking notch: half width (transmission 0.5), cm⁻¹, and transmission at 0 cm⁻¹.
    cosmic_probability : float
        Probability of a cosmic ray per spectrum (1–3 channels wide).
    cosmic_counts : (float, float)
        Range of cosmic-ray amplitudes (log-uniform), counts.
    cosmic_width_channels : (int, int)
        Range (inclusive) of cosmic-ray widths, channels (at most 3). Default (1, 3).
    dead_fraction, saturated_fraction : float
        Fractions of spatial pixels that are dead (zero signal) or saturated (maps of 64 pixels or more).
    saturated_overdrive : float
        A saturated pixel's peak, in units of full scale, before clipping.
    boundary_position : float
        Position of the glass–crystal boundary as a fraction of the map width (crystal left).
    boundary_wave_um, interface_width_um : float
        Amplitude of the boundary's waviness and width of the interface region, µm.
    electrode_strip_um : float
        Width of the carbon-nanotube electrode strip along the top edge, µm (maps taller than four widths).
    aspl_periods_s, lers_periods_s, hers_periods_s : tuple of float
        Blinking periods of each band, s.
    aspl_depths, lers_depths, hers_depths : tuple of float
        Their relative modulation depths.
    aspl_onset_s, aspl_growth, aspl_growth_tau_s : float
        After ``aspl_onset_s`` (s) the aS-PL grows towards × (1 + ``aspl_growth``) with time constant
        ``aspl_growth_tau_s`` (s).
    hers_decay_tau_s : float
        h-ERS decay time, s.
    drift_um_per_s : (float, float)
        Stage drift along x and y, µm/s.
    drift_jitter_um : float
        Random-walk step of the drift per frame, µm.
    reference_power_mw : float
        Pump power at which the heights above hold, mW (power series).
    aspl_exponent_crystal, aspl_exponent_glass : float
        aS-PL area ∝ P^k exponents (other bands scale linearly with power).
    extra : dict
        Free-form notes; not used by the generator nor stored.

    Examples
    --------
    >>> from hyperspec.synthetic import Scene
    >>> scene = Scene(brightness=2.0, emccd_gain=100)
    >>> scene.laser_nm, scene.brightness, scene.to_attrs()["emccd_gain"]
    (632.8, 2.0, 100)
    """

    laser_nm: float = 632.8
    pixel_um: float = 0.5
    frame_s: float = 0.2
    shift_min_cm: float = -4500.0
    shift_max_cm: float = 3600.0
    brightness: float = 1.0
    # aS-PL (ESPL band, in photon energy)
    aspl_center_crystal_ev: float = 2.370
    aspl_center_glass_ev: float = 2.403
    aspl_hwhm_crystal_ev: float = 0.030
    aspl_hwhm_glass_ev: float = 0.032
    aspl_urbach_crystal_ev: float = 0.12
    aspl_urbach_glass_ev: float = 0.15
    aspl_height_crystal: float = 1500.0
    aspl_height_glass: float = 900.0
    aspl_window_cm: tuple[float, float] = (-4500.0, -1500.0)
    # SBPL narrow peaks on the ESPL band
    sbpl_probability: float = 0.05
    sbpl_max_per_spectrum: int = 2
    sbpl_hwhm_nm: tuple[float, float] = (0.8, 1.5)
    sbpl_rel_height: tuple[float, float] = (0.3, 1.0)
    sbpl_mean_frames: float = 2.0
    sbpl_frames: tuple[int, int] | None = None
    # l-ERS central peak
    lers_height_crystal: float = 250.0
    lers_height_glass: float = 350.0
    lers_height_interface_boost: float = 1.0
    lers_width_crystal_cm: float = 60.0
    lers_width_glass_cm: float = 120.0
    temperature_base_k: float = 295.0
    hotspots_k: tuple[float, ...] = (140.0, 70.0)
    hotspot_sigma_um: float = 2.0
    interface_heating_k: float = 30.0
    # h-ERS (log-normal band in Raman shift): strong in glass, absent in crystal
    hers_height_glass: float = 500.0
    hers_center_cm: float = 1800.0
    hers_log_width: float = 0.55
    # background and camera
    background_coeffs: tuple[float, float, float] = (40.0, 10.0, -6.0)
    background_glass_extra: float = 25.0
    offset_counts: float = 100.0
    read_noise_counts: float = 5.0
    emccd_gain: float | None = None
    saturation_counts: float = 65535.0
    notch_half_width_cm: float = 10.0
    notch_floor: float = 1e-3
    # artefacts
    cosmic_probability: float = 0.003
    cosmic_counts: tuple[float, float] = (300.0, 5000.0)
    cosmic_width_channels: tuple[int, int] = (1, 3)
    dead_fraction: float = 0.001
    saturated_fraction: float = 0.001
    saturated_overdrive: float = 2.0  # a saturated pixel's peak is this many times full scale
    # geometry: glass–crystal boundary (wavy, near-vertical) and the interface width
    boundary_position: float = 0.45
    boundary_wave_um: float = 0.6
    interface_width_um: float = 2.0
    electrode_strip_um: float = 1.5
    # kinetics: blinking periods (s), modulation depths, onset growth, decay
    aspl_periods_s: tuple[float, ...] = (1.9, 1.5)
    aspl_depths: tuple[float, ...] = (0.25, 0.2)
    lers_periods_s: tuple[float, ...] = (1.5,)
    lers_depths: tuple[float, ...] = (0.3,)
    hers_periods_s: tuple[float, ...] = (3.0,)
    hers_depths: tuple[float, ...] = (0.3,)
    aspl_onset_s: float = 7.0
    aspl_growth: float = 1.0
    aspl_growth_tau_s: float = 4.0
    hers_decay_tau_s: float = 12.0
    drift_um_per_s: tuple[float, float] = (0.05, 0.02)
    drift_jitter_um: float = 0.01
    # power series: aS-PL ∝ P^k, k = 1 (single photon) in crystal → 2 (bimolecular) in glass
    reference_power_mw: float = 1.0
    aspl_exponent_crystal: float = 1.0
    aspl_exponent_glass: float = 2.0
    extra: dict = field(default_factory=dict)

    def to_attrs(self) -> dict:
        """JSON-friendly dict of every parameter (stored in the truth's attrs).

        Returns
        -------
        dict
            Every field but ``extra``, tuples as lists.

        Examples
        --------
        >>> from hyperspec.synthetic import Scene
        >>> Scene().to_attrs()["drift_um_per_s"]
        [0.05, 0.02]
        """
        out = asdict(self)
        out.pop("extra")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


def notch_transmission(shift, half_width_cm: float, floor: float):
    """Transmission of the laser-blocking filter: a super-Gaussian notch, 0.5 at ±half_width, ``floor`` at 0.

    T(ν̃) = 1 − (1 − floor)·exp(−ln 2 · (ν̃ / half_width)¹⁰).

    Parameters
    ----------
    shift : array-like, shape (N,)
        Raman shift, cm⁻¹ (NumPy or CuPy; the result is in the same namespace).
    half_width_cm : float
        Shift where the transmission is 0.5, cm⁻¹.
    floor : float
        Transmission at the laser line (0 cm⁻¹).

    Returns
    -------
    array, shape (N,)
        Transmission, between ``floor`` and 1.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec.synthetic import notch_transmission
    >>> np.round(notch_transmission(np.array([-20.0, -10.0, 0.0, 10.0, 20.0]), 10.0, 1e-3), 3).tolist()
    [1.0, 0.5, 0.001, 0.5, 1.0]
    """
    xp = get_namespace(shift)
    z = (shift / half_width_cm) ** 10
    return 1.0 - (1.0 - floor) * xp.exp(-0.6931471805599453 * z)


def _smoothstep(u):
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class Fields:
    """Smooth parameter fields of the sample, functions of sample coordinates in µm."""

    def __init__(self, scene: Scene, width_um: float, height_um: float, seed: int):
        rng = np.random.default_rng([seed, 101])
        self.scene = scene
        self.width_um, self.height_um = width_um, height_um
        self.boundary_x0 = scene.boundary_position * width_um
        self.wave_k = 2 * np.pi / max(6.0, height_um)
        self.wave_phase = rng.uniform(0, 2 * np.pi)
        self.tilt = rng.uniform(-0.15, 0.15)
        n_hot = len(scene.hotspots_k)
        self.hot_xy = np.column_stack([rng.uniform(0, max(width_um, 1e-9), n_hot), rng.uniform(0, max(height_um, 1e-9), n_hot)])
        wavelengths = rng.uniform(3.0, 8.0, 3)
        angles = rng.uniform(0, 2 * np.pi, 3)
        self.tex_k = np.column_stack([np.cos(angles), np.sin(angles)]) * (2 * np.pi / wavelengths)[:, None]
        self.tex_phase = rng.uniform(0, 2 * np.pi, 3)
        self.electrode_y = height_um - scene.electrode_strip_um if height_um > 4 * scene.electrode_strip_um else None

    def __call__(self, xs: np.ndarray, ys: np.ndarray) -> dict[str, np.ndarray]:
        sc = self.scene
        xb = self.boundary_x0 + sc.boundary_wave_um * np.sin(self.wave_k * ys + self.wave_phase) + self.tilt * (ys - self.height_um / 2)
        d = xs - xb
        w = sc.interface_width_um
        glass = _smoothstep((d + w / 2) / w)
        region = np.where(d < -w / 2, 0, np.where(d > w / 2, 2, 1)).astype(np.int8)
        iface = np.exp(-(d * d) / (2 * (w / 4) ** 2))
        phase = xs[:, None] * self.tex_k[:, 0] + ys[:, None] * self.tex_k[:, 1] + self.tex_phase
        texture = 1.0 + 0.12 * np.sin(phase).mean(axis=1)
        temp = np.full(xs.shape, sc.temperature_base_k) + sc.interface_heating_k * iface
        for (hx, hy), dt in zip(self.hot_xy, sc.hotspots_k, strict=True):
            temp += dt * np.exp(-((xs - hx) ** 2 + (ys - hy) ** 2) / (2 * sc.hotspot_sigma_um**2))
        if self.electrode_y is None:
            electrode = np.zeros_like(xs)
        else:
            electrode = _smoothstep((ys - self.electrode_y) / 0.5)
        return {
            "distance_um": d,
            "glass_fraction": glass,
            "region": region,
            "interface": iface,
            "texture": texture,
            "temperature": temp,
            "electrode": electrode,
        }


def _blink(t, periods, depths, phases):
    out = np.ones_like(t)
    for period, depth, phase in zip(periods, depths, phases, strict=True):
        out = out + depth * np.sin(2 * np.pi * t / period + phase)
    return out


def parameters(scene: Scene, f: dict, *, t_s=None, power_mw=None, phases=None) -> dict[str, np.ndarray]:
    """Per-spectrum band parameters (shape ``(n,)``) from field values, time and pump power."""
    g = f["glass_fraction"]
    c = 1.0 - g
    b = scene.brightness

    def lerp(crystal, glass):
        return c * crystal + g * glass

    urbach = lerp(scene.aspl_urbach_crystal_ev, scene.aspl_urbach_glass_ev)
    p = {
        "aspl_center_ev": lerp(scene.aspl_center_crystal_ev, scene.aspl_center_glass_ev),
        "aspl_hwhm_ev": lerp(scene.aspl_hwhm_crystal_ev, scene.aspl_hwhm_glass_ev),
        "aspl_urbach_ev": urbach,
        "aspl_beta_per_ev": 1.0 / urbach,
        "aspl_height": b * lerp(scene.aspl_height_crystal, scene.aspl_height_glass) * f["texture"],
        "lers_width_cm": lerp(scene.lers_width_crystal_cm, scene.lers_width_glass_cm),
        "lers_temperature_k": f["temperature"].copy(),
        "lers_height": b
        * lerp(scene.lers_height_crystal, scene.lers_height_glass)
        * (1 + scene.lers_height_interface_boost * f["interface"])
        * f["texture"],
        "hers_height": b * scene.hers_height_glass * g,
        "hers_peak_cm": np.full_like(g, scene.hers_center_cm),
        "hers_log_width": np.full_like(g, scene.hers_log_width),
        "background_c0": b * (scene.background_coeffs[0] + scene.background_glass_extra * g),
        "background_c1": np.full_like(g, b * scene.background_coeffs[1]),
        "background_c2": np.full_like(g, b * scene.background_coeffs[2]),
    }
    for name, (_, _, where) in RAMAN_LINES.items():
        heights = _LINE_HEIGHTS[name]
        p[f"{name}_height"] = b * (lerp(heights[0], heights[1]) if where == "perovskite" else heights[0] * f["electrode"])
    if t_s is not None:
        ph = phases or {}
        growth = np.where(
            t_s > scene.aspl_onset_s, 1.0 + scene.aspl_growth * -np.expm1(-(t_s - scene.aspl_onset_s) / scene.aspl_growth_tau_s), 1.0
        )
        p["aspl_height"] = (
            p["aspl_height"]
            * _blink(t_s, scene.aspl_periods_s, scene.aspl_depths, ph.get("aspl", [0.0] * len(scene.aspl_periods_s)))
            * growth
        )
        p["lers_height"] = p["lers_height"] * _blink(
            t_s, scene.lers_periods_s, scene.lers_depths, ph.get("lers", [0.0] * len(scene.lers_periods_s))
        )
        p["hers_height"] = (
            p["hers_height"]
            * _blink(t_s, scene.hers_periods_s, scene.hers_depths, ph.get("hers", [0.0] * len(scene.hers_periods_s)))
            * np.exp(-t_s / scene.hers_decay_tau_s)
        )
    if power_mw is not None:
        rel = power_mw / scene.reference_power_mw
        k = lerp(scene.aspl_exponent_crystal, scene.aspl_exponent_glass)
        p["aspl_exponent"] = k
        p["aspl_height"] = p["aspl_height"] * rel**k
        for name in ["lers_height", "hers_height", "background_c0", "background_c1", "background_c2"] + [
            f"{n}_height" for n in RAMAN_LINES
        ]:
            p[name] = p[name] * rel
        base = scene.temperature_base_k
        p["lers_temperature_k"] = base + (p["lers_temperature_k"] - base) * rel
    return p


def render(p: dict, shift, energy, scene: Scene, *, lines: bool = False) -> dict:
    """Component spectra, shape ``(n, N)``, of spectra with parameters ``p`` (arrays ``(n,)``, SBPL ``(n, K)``).

    Components are physical band intensities (counts) before the notch filter: ``aspl``
    (ESPL band in energy, zero outside ``scene.aspl_window_cm``), ``sbpl`` (Lorentzians in
    energy), ``lers``, ``hers`` (log-normal), ``raman`` (every line of ``RAMAN_LINES``, Stokes and
    anti-Stokes with the Boltzmann factor at ``lers_temperature_k``) and ``background``.

    Parameters
    ----------
    p : dict of str to array
        Per-spectrum parameters as in a truth Dataset (``aspl_center_ev``, ``lers_width_cm``,
        ``<line>_height``, ``background_c0`` …), each shape ``(n,)``; optional ``sbpl_center_ev``,
        ``sbpl_hwhm_ev``, ``sbpl_height`` of shape ``(n, K)`` (NaN: empty slot).
    shift : array, shape (N,)
        Channel Raman shifts, cm⁻¹, NumPy or CuPy (parameters are moved to the same namespace).
    energy : array, shape (N,)
        The same channels as photon energies, eV.
    scene : Scene
        The scene (its aS-PL window).
    lines : bool, optional
        Also return each Raman line (Stokes + anti-Stokes) as ``line:<name>``. Default False.

    Returns
    -------
    dict of str to array
        One ``(n, N)`` float64 array per name of ``COMPONENTS`` (and per line with ``lines``).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec import axes, synthetic
    >>> from hyperspec.synthetic import COMPONENTS, Scene, render
    >>> _, truth = synthetic.cspbbr3_map((1, 2), n_spectral=32, noise=False, artefacts=False)
    >>> truth = truth.compute()
    >>> p = {k: truth[k].values.ravel() for k in truth.data_vars if truth[k].dims == ("y", "x")}
    >>> shift = np.linspace(-3000.0, 3000.0, 64)
    >>> energy = axes.nm2ev(axes.shift2nm(shift, 632.8))
    >>> comps = render(p, shift, energy, Scene())
    >>> sorted(comps) == sorted(COMPONENTS), comps["raman"].shape
    (True, (2, 64))
    """
    xp = get_namespace(shift)

    def col(name):
        return xp.asarray(p[name], dtype=xp.float64)[:, None]

    lo, hi = scene.aspl_window_cm
    in_window = (shift >= lo) & (shift <= hi)
    out = {}
    aspl = shapes.espl(energy, col("aspl_center_ev"), col("aspl_hwhm_ev"), col("aspl_beta_per_ev"), col("aspl_height"))
    out["aspl"] = xp.where(in_window, aspl, 0.0)
    sbpl = xp.zeros_like(out["aspl"])
    if "sbpl_center_ev" in p:
        centers = xp.asarray(p["sbpl_center_ev"], dtype=xp.float64)
        present = xp.isfinite(centers)
        centers = xp.where(present, centers, 2.0)
        widths = xp.where(present, xp.asarray(p["sbpl_hwhm_ev"], dtype=xp.float64), 1.0)
        heights = xp.where(present, xp.asarray(p["sbpl_height"], dtype=xp.float64), 0.0)
        for k in range(centers.shape[1]):  # loop over the few SBPL slots, not pixels
            sbpl = sbpl + shapes.lorentzian(energy, centers[:, k : k + 1], widths[:, k : k + 1], heights[:, k : k + 1])
    out["sbpl"] = sbpl
    temperature = col("lers_temperature_k")
    out["lers"] = shapes.lers(shift, col("lers_width_cm"), temperature, col("lers_height"))
    out["hers"] = shapes.hers_lognormal(shift, col("hers_peak_cm"), col("hers_log_width"), col("hers_height"))
    raman = xp.zeros_like(out["aspl"])
    for name, (nu, hwhm, _) in RAMAN_LINES.items():  # loop over lines, not pixels
        height = col(f"{name}_height")
        stokes = shapes.lorentzian(shift, nu, hwhm, height)
        anti = shapes.lorentzian(shift, -nu, hwhm, height * xp.exp(-shapes.HC_OVER_K_CM_K * nu / temperature))
        raman = raman + stokes + anti
        if lines:
            out[f"line:{name}"] = stokes + anti  # a line's area counts its anti-Stokes partner (one physical line)
    out["raman"] = raman
    coeffs = xp.concatenate([col("background_c0"), col("background_c1"), col("background_c2")], axis=1)
    out["background"] = shapes.polynomial(shift / 4000.0, coeffs)
    return out


def channel_axes(scene: Scene, n_spectral: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel wavelengths (nm, linear like a grating spectrometer), shifts (cm⁻¹) and energies (eV)."""
    lam_lo = axes.shift2nm(scene.shift_min_cm, scene.laser_nm)
    lam_hi = axes.shift2nm(scene.shift_max_cm, scene.laser_nm)
    wavelength = np.linspace(lam_lo, lam_hi, n_spectral)
    return wavelength, axes.raman_shift(wavelength, scene.laser_nm), axes.nm2ev(wavelength)
