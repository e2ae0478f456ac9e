"""Band presets: named model specs a user can copy into a recipe and edit.

``get_preset(name)`` returns a fresh deep copy: a dict with ``description``, ``mask`` (Raman-shift
intervals excluded from every fit, e.g. the notch) and ``terms`` (a composite-model spec, see
``hyperspec.fit.composite``).

Generic presets for everyday samples: ``silicon`` (the 520.7 cm⁻¹ calibration line), ``carbon`` (D,
G, D′, 2D and the I_D/I_G ratios), ``polystyrene`` (the ASTM E1840 bands) and two parametrised ones,
built from their parameters and, where asked, from the data: ``peaks`` (N lines of one shape at given
or automatically found positions on a polynomial baseline) and ``pl-band`` (one or two Gaussian or
ESPL bands on the photon-energy axis). ``decompose(ds, "peaks", positions=[1001, 1031])`` passes the
parameters (:func:`preset_parameters`) through; ``positions="auto"`` finds the lines with
``hyperspec.bands.autostart.find_lines``.
"""

from __future__ import annotations

import copy
import difflib
import math

__all__ = [
    "PRESETS",
    "BUILDERS",
    "POLYSTYRENE_ASTM_E1840",
    "POLYSTYRENE_OTHER",
    "get_preset",
    "preset_names",
    "preset_parameters",
    "peaks_terms",
    "line_shapes",
]


def _line(center, half_range, hwhm, hwhm_range, shape="lorentzian"):
    # Tikhonov priors hold a weak or absent line at its known position and width instead of letting it
    # wander to a bound to soak up noise (σ = a third of the allowed range): regularised least squares
    return {
        "shape": shape,
        "init": {"center": center, "hwhm": hwhm},
        "bounds": {"center": [center - half_range, center + half_range], "hwhm": list(hwhm_range)},
        "prior": {"center": [center, half_range / 3.0], "hwhm": [hwhm, (hwhm_range[1] - hwhm_range[0]) / 3.0]},
    }


def _pair(center, half_range, hwhm, hwhm_range):
    spec = _line(center, half_range, hwhm, hwhm_range, shape="raman_pair")
    spec["tie"] = {"temperature": "lers.temperature"}  # anti-Stokes/Stokes ratio from the local temperature
    return spec


#: Named model specs (name → dict; see ``get_preset`` for the keys), the defaults of ``decompose``.
PRESETS = {
    "cspbbr3-633": {
        "description": (
            "CsPbBr3 crystal/glass under a 632.8 nm pump (DOMAIN.md §3): aS-PL ESPL band on the anti-Stokes side, "
            "l-ERS central peak with Bose-Einstein asymmetry and local temperature, log-normal h-ERS, CsPbBr3 phonon "
            "lines (with anti-Stokes partners at the same temperature), carbon-nanotube D/G/2D lines, quadratic baseline; "
            "the notch (±10 cm-1) is masked"
        ),
        "laser_nm": 632.8,
        "mask": [[-10.0, 10.0]],
        "terms": {
            "aspl": {
                "shape": "espl",
                "window": [-4500.0, -1500.0],
                "init": {"center": 2.37, "hwhm": 0.03, "beta": 8.0},
                "bounds": {"center": [2.30, 2.46], "hwhm": [0.008, 0.09], "beta": [-25.0, 25.0]},
            },
            "lers": {
                "shape": "lers",
                "init": {"width": 80.0, "temperature": 320.0},
                "bounds": {"width": [15.0, 400.0], "temperature": [150.0, 900.0]},
            },
            "hers": {
                "shape": "hers_lognormal",
                "init": {"peak": 1800.0, "log_width": 0.5},
                "bounds": {"peak": [600.0, 3500.0], "log_width": [0.15, 1.2]},
                # where h-ERS is absent (crystal) its shape is undetermined; the priors keep it physical
                "prior": {"peak": [1800.0, 400.0], "log_width": [0.5, 0.15]},
            },
            "cspbbr3_73": _pair(73.0, 8.0, 6.0, (2.0, 15.0)),
            "cspbbr3_127": _pair(127.0, 8.0, 7.0, (2.0, 18.0)),
            "cspbbr3_160": _pair(160.0, 8.0, 8.0, (2.0, 20.0)),
            "cspbbr3_310": _pair(310.0, 15.0, 14.0, (4.0, 35.0)),
            "cnt_d": _line(1360.0, 30.0, 20.0, (5.0, 60.0)),
            "cnt_g": _line(1590.0, 20.0, 12.0, (4.0, 40.0)),
            "cnt_2d": _line(2720.0, 40.0, 30.0, (8.0, 80.0)),
            "baseline": {"shape": "polynomial2"},
        },
        # switched on with decompose(..., include=["sbpl1", "sbpl2"]): sporadic narrow SBPL peaks on the ESPL band
        # (Lorentzian in energy = Lorentzian in Raman shift, HWHM ≈ 1 nm ≈ 37 cm⁻¹), each started on the
        # largest residual peak of a first fit without them
        "optional_terms": {
            name: {
                "shape": "lorentzian",
                "seed": "residual_peak",
                "init": {"center": -3313.0, "hwhm": 40.0},
                "bounds": {"center": [-4300.0, -2300.0], "hwhm": [15.0, 90.0]},
                "prior": {"hwhm": [40.0, 20.0]},
            }
            for name in ("sbpl1", "sbpl2")
        },
    },
}


def _freeform_variant(name: str) -> dict:
    preset = copy.deepcopy(PRESETS[name])
    preset["description"] = preset["description"].replace(
        "log-normal h-ERS", "free-form h-ERS continuum (24 nodes over 300-3600 cm-1, second-difference smoothness)"
    )
    # no agreed h-ERS line shape: a smooth non-negative continuum, zero at its low end (it falls toward the laser)
    preset["terms"]["hers"] = {"shape": "freeform", "window": [300.0, 3600.0], "nodes": 24, "smoothness": 0.1, "fixed": {"c0": 0.0}}
    return preset


PRESETS["cspbbr3-633-freeform"] = _freeform_variant("cspbbr3-633")


def _single_nc() -> dict:
    # Single CsPbBr3 nanocrystal at 5.5 K (seed 004, Cho & Kanemitsu, Nanoscale 2026, and its refs 85, 87, 88).
    # Energies in eV (meV in the comments). The seed's text gives: exciton fine structure of two or three lines
    # split by ≈ 1 meV (§3); positive trion and biexciton below the exciton by their binding energies, both
    # growing as the NC shrinks (§4, Fig. 4: numbers in the figure only); four LO-phonon replicas LO1…LO4 that
    # mirror the exciton's shape, LO1-3 near FAPbBr3's 4.5 meV mode and LO4 the Pb-Br stretch, with
    # size-independent energies (§5); Huang-Rhys factors S from replica/exciton areas, larger in smaller NCs.
    # The starting values below (phonons ≈ 3.0, 4.3, 5.9, 18.5 meV; trion ≈ 12 meV; biexciton ≈ 20 meV;
    # exciton 2.38-2.55 eV for 15-5 nm NCs, Fig. 1) are approximate literature values, not the seed's: every one
    # is fitted per pixel within its bounds. Start the exciton where the data put it:
    # ``hyperspec.bands.single_nc.single_nc_start(ds)`` returns the overrides.
    mev = 1e-3
    phonons = (3.0, 4.3, 5.9, 18.5)  # meV; bounds keep the four modes apart (no label switching)
    halves = (0.6, 0.6, 0.8, 1.5)
    exciton = {
        "shape": "nc_exciton",
        "init": {"center": 2.45, "split_1": 1.0 * mev, "split_2": 0.8 * mev, "weight_2": 0.8, "weight_3": 0.5, "hwhm": 0.3 * mev},
        "bounds": {
            "center": [2.30, 2.60],
            "split_1": [0.1 * mev, 3.0 * mev],  # ≈ 1 meV (seed 004 §3); a doublet's C line has weight_3 → 0
            "split_2": [0.1 * mev, 3.0 * mev],
            "weight_2": [0.0, 5.0],
            "weight_3": [0.0, 5.0],
            "hwhm": [0.02 * mev, 3.0 * mev],
        },
        # a missing C line (doublet) leaves split_2 undetermined: the prior holds it near 1 meV
        "prior": {"split_2": [1.0 * mev, 1.0 * mev]},
    }
    for i, (w, h) in enumerate(zip(phonons, halves, strict=True), start=1):
        exciton["init"][f"lo{i}"] = w * mev
        exciton["bounds"][f"lo{i}"] = [(w - h) * mev, (w + h) * mev]
        exciton["prior"][f"lo{i}"] = [w * mev, h * mev / 2.0]  # a weak replica stays at its mode's energy
        exciton["init"][f"s_lo{i}"] = 0.1
        exciton["bounds"][f"s_lo{i}"] = [0.0, 3.0]
    ties = {"reference": "exciton.center"}
    multiplet = {k: f"exciton.{k}" for k in ("split_1", "split_2", "weight_2", "weight_3")}
    return {
        "description": (
            "single CsPbBr3 nanocrystal PL at low temperature (seed 004), on the photon-energy axis: bright-exciton "
            "fine structure (up to three Lorentzians, one width) with four LO-phonon replicas of the same shape and "
            "their Huang-Rhys factors, trion (binding energy), biexciton (mirrored cascade, binding energy), linear "
            "baseline; build the map with from_array(..., unit='eV', laser_nm=<excitation>)"
        ),
        "laser_nm": 405.0,
        "mask": [],
        "terms": {
            "exciton": exciton,
            "trion": {
                "shape": "nc_trion",
                "tie": dict(ties),
                "init": {"binding": 12.0 * mev, "hwhm": 0.4 * mev},
                "bounds": {"binding": [4.0 * mev, 35.0 * mev], "hwhm": [0.02 * mev, 3.0 * mev]},
            },
            "biexciton": {
                "shape": "nc_biexciton",
                "tie": {**ties, **multiplet},
                "init": {"binding": 20.0 * mev, "hwhm": 0.4 * mev},
                "bounds": {"binding": [6.0 * mev, 45.0 * mev], "hwhm": [0.02 * mev, 3.0 * mev]},
                "prior": {"hwhm": [0.4 * mev, 0.5 * mev]},  # an absent biexciton keeps a physical width
            },
            "baseline": {"shape": "polynomial1"},
        },
    }


PRESETS["cspbbr3-single-nc"] = _single_nc()


# ---- generic presets ------------------------------------------------------------------------------
#: hc in eV·nm (wavelength ↔ photon energy).
_HC_EV_NM = 1239.841984


def line_shapes() -> tuple[str, ...]:
    """The line shapes the ``peaks`` preset takes (registry components with a centre, a width and a height).

    Returns
    -------
    tuple of str
        ``("lorentzian", "gaussian", "pseudo_voigt", "voigt")``, those registered.

    Examples
    --------
    >>> line_shapes()[:3]
    ('lorentzian', 'gaussian', 'pseudo_voigt')
    """
    from hyperspec.bands.components import component_names  # noqa: PLC0415

    return tuple(s for s in ("lorentzian", "gaussian", "pseudo_voigt", "voigt") if s in component_names())


def _shape_term(shape: str, center: float, half_range: float, hwhm: float, hwhm_range: tuple[float, float]) -> dict:
    """A line of ``shape`` at ``center`` ± ``half_range`` (cm⁻¹) with a start HWHM and its range, priors as ``_line``."""
    if shape == "voigt":
        # equal Gaussian and Lorentzian parts give a Voigt HWHM ≈ 1.64 × each (Olivero & Longbothum 1977)
        part = round(hwhm / 1.64, 3)
        lo, hi = round(hwhm_range[0] / 1.64, 3), hwhm_range[1]
        return {
            "shape": "voigt",
            "init": {"center": center, "hwhm_g": part, "hwhm_l": part},
            "bounds": {"center": [center - half_range, center + half_range], "hwhm_g": [lo, hi], "hwhm_l": [lo, hi]},
            "prior": {"center": [center, round(half_range / 3.0, 3)]},
        }
    spec = _line(center, half_range, hwhm, hwhm_range, shape=shape)
    if shape == "pseudo_voigt":
        spec["init"]["eta"] = 0.5
    return spec


def peaks_terms(positions, hwhm=None, *, shape="lorentzian", baseline="polynomial2", step=None, prefix="line", half_range=None) -> dict:
    """The terms of N lines of one shape on a polynomial baseline, with bounds that keep them apart.

    Each centre may move by ``half_range`` (default: twice its start HWHM, at least three channels)
    but never past the midpoint to a neighbour, so two lines cannot swap; each HWHM stays within
    a fifth to five times its start (at least a quarter channel). Tikhonov priors (σ a third of the
    allowed range, as in the CsPbBr₃ preset) hold a line that a pixel lacks at its position and width.

    Parameters
    ----------
    positions : sequence of float
        Line centres, cm⁻¹.
    hwhm : float or sequence of float, optional
        Start HWHM per line, cm⁻¹. Default 5 cm⁻¹ (or three channels when ``step`` is larger).
    shape : {"lorentzian", "gaussian", "pseudo_voigt", "voigt"}, optional
        Line shape (see :func:`line_shapes`). Default Lorentzian.
    baseline : str or None, optional
        A baseline component fitted with the lines: ``"polynomial0"`` … ``"polynomial5"``, or None.
        Default ``"polynomial2"``.
    step : float, optional
        Channel spacing, cm⁻¹ (sets the least centre range and width). Default 1.
    prefix : str, optional
        Term names ``<prefix>_<centre rounded to cm⁻¹>``. Default ``"line"``.
    half_range : float, optional
        How far each centre may move, cm⁻¹.

    Returns
    -------
    dict
        Term name → term spec (``hyperspec.fit.composite``), the baseline last as ``"baseline"``.

    Raises
    ------
    ValueError
        For an unknown shape or baseline, no position, or positions that are not finite numbers.

    Examples
    --------
    >>> terms = peaks_terms([1001.4, 1031.8], 3.0, step=2.0)
    >>> list(terms), terms["line_1001"]["bounds"]
    (['line_1001', 'line_1032', 'baseline'], {'center': [995.4, 1007.4], 'hwhm': [0.6, 15.0]})
    """
    from hyperspec.bands.components import get_component  # noqa: PLC0415

    if shape not in line_shapes():
        close = difflib.get_close_matches(str(shape), line_shapes(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"peaks: unknown shape {shape!r}.{hint} Use one of {', '.join(line_shapes())}.")
    if baseline is not None and not (str(baseline).startswith("polynomial") and get_component(str(baseline)).amplitude is None):
        raise ValueError(f"peaks: baseline must be 'polynomial0' … 'polynomial5' or None; got {baseline!r}.")
    try:
        pos = [float(p) for p in positions]
    except (TypeError, ValueError):
        raise ValueError(f"peaks: positions must be numbers (cm-1) or 'auto'; got {positions!r}.") from None
    if not pos or not all(math.isfinite(p) for p in pos):
        raise ValueError(f"peaks: give at least one finite position (cm-1), or positions='auto'; got {positions!r}.")
    step = 1.0 if step is None else abs(float(step))
    if hwhm is None:
        hwhm = max(5.0, 3.0 * step)
    widths = [float(hwhm)] * len(pos) if isinstance(hwhm, (int, float)) else [float(w) for w in hwhm]
    if len(widths) != len(pos):
        raise ValueError(f"peaks: {len(widths)} widths for {len(pos)} positions.")
    order = sorted(range(len(pos)), key=lambda i: pos[i])
    pos, widths = [pos[i] for i in order], [max(widths[i], step) for i in order]
    terms: dict = {}
    for i, (c, w) in enumerate(zip(pos, widths, strict=True)):
        half = float(half_range) if half_range is not None else max(2.0 * w, 3.0 * step)
        if i > 0:  # never past the midpoint to a neighbour
            half = min(half, 0.5 * (c - pos[i - 1]) * 0.98)
        if i < len(pos) - 1:
            half = min(half, 0.5 * (pos[i + 1] - c) * 0.98)
        name = f"{prefix}_{round(c)}"
        while name in terms:
            name += "b"
        terms[name] = _shape_term(shape, round(c, 3), round(half, 3), round(w, 3), (round(max(w / 5.0, step / 4.0), 3), round(5.0 * w, 3)))
    if baseline is not None:
        terms["baseline"] = {"shape": str(baseline)}
    return terms


def _peaks(data=None, *, positions="auto", n=None, shape="lorentzian", baseline="polynomial2", hwhm=None, half_range=None,
           min_snr=8.0, percentile=None) -> dict:  # fmt: skip
    """N Lorentzian, Gaussian, pseudo-Voigt or Voigt lines at given or automatically found positions on a polynomial baseline."""
    found = None
    auto = isinstance(positions, str) or n is not None
    if isinstance(positions, str) and positions != "auto":
        raise ValueError(f"peaks: positions must be a list of centres (cm-1) or 'auto'; got {positions!r}.")
    if auto and not isinstance(positions, str):
        raise ValueError("peaks: give either positions=[...] or n=... / positions='auto', not both.")
    step = None
    if data is not None:
        from hyperspec.model import shift_axis  # noqa: PLC0415

        step = float(abs(__import__("numpy").median(__import__("numpy").diff(shift_axis(data)))))
    if auto:
        if data is None:
            raise ValueError(
                "peaks: positions='auto' (or n=...) finds the lines on the data: call decompose(ds, 'peaks', ...) "
                "or get_preset('peaks', data=ds, ...), or give positions=[...] (cm-1)."
            )
        from hyperspec.bands.autostart import find_lines  # noqa: PLC0415

        found = find_lines(data, n=n, min_snr=min_snr, percentile=percentile)
        if not len(found):
            raise ValueError(f"peaks: {found.summary()}; lower min_snr (now {min_snr}) or give positions=[...] (cm-1).")
        positions = found.position
        hwhm = found.hwhm if hwhm is None else hwhm
    desc = f"{len(positions)} {shape} lines on a {baseline or 'zero'} baseline"
    preset = {
        "description": desc + (f", found automatically ({found.summary()})" if found is not None else ""),
        "mask": [],
        "terms": peaks_terms(positions, hwhm, shape=shape, baseline=baseline, step=step, half_range=half_range),
    }
    if found is not None:
        preset["autostart"] = found
    return preset


def _pl_band(data=None, *, center_ev=None, n_bands=1, shape="gaussian", baseline="polynomial2", hwhm_ev=None) -> dict:
    """One or two Gaussian or ESPL PL bands on the photon-energy axis, started on the band of the map's mean spectrum."""
    import numpy as np  # noqa: PLC0415

    if shape not in ("gaussian", "espl"):
        raise ValueError(f"pl-band: shape must be 'gaussian' or 'espl'; got {shape!r}.")
    if n_bands not in (1, 2):
        raise ValueError(f"pl-band: n_bands must be 1 or 2; got {n_bands!r}.")
    if center_ev is None or hwhm_ev is None:
        if data is None:
            raise ValueError("pl-band: give center_ev= (eV), or the data (decompose(ds, 'pl-band') finds the band on the map).")
        if "energy" not in data.coords:
            raise ValueError("pl-band: the map has no photon-energy axis; set the laser first (hyperspec.with_laser(ds, laser_nm=...)).")
        from hyperspec.bands.autostart import find_lines  # noqa: PLC0415

        energy = np.asarray(data["energy"].values, dtype=np.float64)
        y = np.asarray(data["spectra"].values, dtype=np.float64).reshape(-1, energy.size)
        y = y[np.all(np.isfinite(y), axis=1)].mean(axis=0)
        found = find_lines((energy, y), n=1, min_snr=5.0)
        if not len(found):
            raise ValueError(f"pl-band: no band above the noise on the mean spectrum ({found.summary()}); give center_ev=.")
        center_ev = float(found.position[0]) if center_ev is None else center_ev
        hwhm_ev = float(found.hwhm[0]) if hwhm_ev is None else hwhm_ev
    c, w = float(center_ev), float(hwhm_ev)
    half = max(3.0 * w, 0.02)

    def band(width, hi_factor):
        if shape == "espl":
            return {
                "shape": "espl",
                "init": {"center": c, "hwhm": width, "beta": 0.0},
                "bounds": {"center": [c - half, c + half], "hwhm": [width / 5.0, width * hi_factor], "beta": [-200.0, 200.0]},
                "prior": {"beta": [0.0, 100.0]},
            }
        return {
            "shape": "gaussian_ev",
            "init": {"center": c, "hwhm": width},
            "bounds": {"center": [c - half, c + half], "hwhm": [width / 5.0, width * hi_factor]},
        }

    terms = {"band": band(w, 5.0)}
    if n_bands == 2:  # a broad companion under the main band (tails, a second emitter)
        terms["band2"] = band(3.0 * w, 20.0)
        terms["band2"]["bounds"]["hwhm"][0] = w
    if baseline is not None:
        terms["baseline"] = {"shape": str(baseline)}
    return {
        "description": (
            f"{n_bands} {shape} PL band(s) on the photon-energy axis (centre {c:.4f} eV = {_HC_EV_NM / c:.2f} nm at the start) "
            f"on a {baseline or 'zero'} baseline"
        ),
        "mask": [],
        "terms": terms,
    }


#: Parametrised presets: name → (builder(data=None, **params) → preset dict, the parameter names).
BUILDERS = {
    "peaks": (_peaks, ("positions", "n", "shape", "baseline", "hwhm", "half_range", "min_snr", "percentile")),
    "pl-band": (_pl_band, ("center_ev", "n_bands", "shape", "baseline", "hwhm_ev")),
}

#: The ASTM E1840 Raman-shift standard of polystyrene (cm⁻¹; ASTM E1840-96 (2022), Table 1).
POLYSTYRENE_ASTM_E1840 = (620.9, 795.8, 1001.4, 1031.8, 1155.3, 1450.5, 1583.1, 1602.3, 2852.4, 2904.5, 3054.3)


#: Polystyrene bands outside the standard, in its 924-1668 cm⁻¹ range: C-H in-plane bends at 1181 and 1197 cm⁻¹
#: (weaker, between the 1155 and 1450 standard bands; without them the 1155 line widens to take their area).
POLYSTYRENE_OTHER = (1181.0, 1197.0)


def _polystyrene() -> dict:
    # Lorentzian lines (on the Renishaw StreamLine map χ²_red 0.88 with these, vs 1.9 without the 1181/1197 bands; a
    # pseudo-Voigt's η and a Voigt's Lorentzian width end at their bounds (pure Gaussian or Lorentzian) in most
    # pixels). Each centre may move ±6 cm⁻¹; HWHMs start at 4 cm⁻¹ (the narrow ring modes) or 6 cm⁻¹ and stay within
    # ×1/5…×5. decompose's support check names the bands the axis does not reach: drop them.
    bands = sorted((*POLYSTYRENE_ASTM_E1840, *POLYSTYRENE_OTHER))
    terms = {}
    for c in bands:
        hwhm = 4.0 if c in (620.9, 1001.4, 1031.8) else 6.0
        terms[f"ps_{round(c)}"] = peaks_terms([c], hwhm, baseline=None, half_range=6.0)[f"line_{round(c)}"]
    terms["baseline"] = {"shape": "polynomial3"}
    return {
        "description": (
            "polystyrene: Lorentzian lines at the ASTM E1840 Raman-shift standard's 620.9, 795.8, 1001.4, 1031.8, 1155.3, "
            "1450.5, 1583.1, 1602.3, 2852.4, 2904.5, 3054.3 cm-1 and the weaker 1181 and 1197 cm-1 bands (each within "
            "±6 cm-1), cubic baseline; drop the bands your axis does not reach (decompose names them)"
        ),
        "mask": [],
        "terms": terms,
    }


PRESETS["polystyrene"] = _polystyrene()

PRESETS["silicon"] = {
    "description": (
        "crystalline silicon: the 520.7 cm-1 optical phonon (pseudo-Voigt, centre allowed ±20 cm-1 so an uncalibrated "
        "axis still fits: its offset is what calibration corrects) on a linear baseline; only 400-650 cm-1 is fitted"
    ),
    "mask": [[-1.0e5, 400.0], [650.0, 1.0e5]],
    "terms": {
        "si": {
            "shape": "pseudo_voigt",
            "init": {"center": 520.7, "hwhm": 3.0, "eta": 0.5},
            "bounds": {"center": [500.7, 540.7], "hwhm": [0.3, 15.0]},
        },
        "baseline": {"shape": "polynomial1"},
    },
}

# Graphitic and disordered carbon (Ferrari & Robertson, PRB 61, 14095 (2000); Ferrari & Basko, Nat. Nanotechnol. 8,
# 235 (2013); Sadezky et al., Carbon 43, 1731 (2005)). Ranges cover visible excitation (457-633 nm; D and 2D disperse
# by ≈ 50 and ≈ 100 cm⁻¹/eV) and order from graphene/nanotubes to nanocrystalline and amorphous carbon:
# - D 1290-1410 cm⁻¹, HWHM 5-200 (FWHM up to ≈ 400 in amorphous carbon);
# - G 1500-1605 (amorphous carbon down to ≈ 1510, the nanotube G⁻ at 1550-1575), HWHM 4-80;
# - D′ ≈ 1620 on G's high side, kept above 1605 so the two never swap; HWHM from 4 (no line is narrower than the
#   spectrometer's resolution, a few cm⁻¹) to 30;
# - 2D 2550-2800 (graphene ≈ 2680 at 532 nm, nanotubes ≈ 2640), HWHM 8-120;
# - D3 (Sadezky's amorphous-carbon band between D and G, Gaussian, ≈ 1500, FWHM up to ≈ 400): without it a Lorentzian
#   D grows to soak up the amorphous background under D and G (on py-wdf-reader/ex2.wdf 45 of 161 fitted pixels then
#   end at D's HWHM bound, I_D/I_G doubles); where a sample has no amorphous carbon its height goes to zero;
# - D4 (≈ 1200, disordered/ionic impurities) optional: include=["d4"] where the axis reaches it.
PRESETS["carbon"] = {
    "description": (
        "graphitic and disordered carbon: D (1290-1410 cm-1), G (1500-1605), D' (1605-1640) and 2D (2550-2800) Lorentzians "
        "and the amorphous-carbon D3 band (1460-1540, Gaussian) on a cubic baseline; I_D/I_G as id_ig_area_ratio and "
        "id_ig_height_ratio with standard errors; include=['d4'] adds the D4 band (~1200)"
    ),
    "mask": [],
    "terms": {
        "d": _line(1350.0, 60.0, 30.0, (5.0, 200.0)),
        "g": {
            "shape": "lorentzian",
            "init": {"center": 1585.0, "hwhm": 15.0},
            "bounds": {"center": [1500.0, 1605.0], "hwhm": [4.0, 80.0]},
            "prior": {"center": [1580.0, 35.0], "hwhm": [15.0, 25.0]},
        },
        "d_prime": {
            "shape": "lorentzian",
            "init": {"center": 1620.0, "hwhm": 8.0},
            "bounds": {"center": [1605.0, 1640.0], "hwhm": [4.0, 30.0]},
            "prior": {"center": [1620.0, 5.0], "hwhm": [8.0, 8.0]},
        },
        "d2": {
            "shape": "lorentzian",
            "init": {"center": 2690.0, "hwhm": 30.0},
            "bounds": {"center": [2550.0, 2800.0], "hwhm": [8.0, 120.0]},
            "prior": {"center": [2690.0, 50.0], "hwhm": [30.0, 37.0]},
        },
        "d3": _line(1500.0, 40.0, 60.0, (20.0, 200.0), shape="gaussian"),
        "baseline": {"shape": "polynomial3"},
    },
    "optional_terms": {"d4": _line(1200.0, 50.0, 80.0, (20.0, 150.0))},
    "ratios": {
        "id_ig_area_ratio": ["d.area", "g.area"],
        "id_ig_height_ratio": ["d.height", "g.height"],
    },
}


def preset_parameters(name: str) -> tuple[str, ...]:
    """The parameters a preset is built from (empty for a fixed preset).

    Parameters
    ----------
    name : str
        Preset name (see :func:`preset_names`).

    Returns
    -------
    tuple of str
        Keyword names ``decompose(ds, name, **params)`` and ``get_preset(name, **params)`` take.

    Examples
    --------
    >>> preset_parameters("peaks")[:3]
    ('positions', 'n', 'shape')
    >>> preset_parameters("silicon")
    ()
    """
    key = str(name).strip().lower()
    return BUILDERS[key][1] if key in BUILDERS else ()


def preset_names() -> list[str]:
    """List the names of the band presets.

    Returns
    -------
    list of str
        The keys of ``PRESETS`` and ``BUILDERS`` (the parametrised presets), sorted.

    Examples
    --------
    >>> preset_names()
    ['carbon', 'cspbbr3-633', 'cspbbr3-633-freeform', 'cspbbr3-single-nc', 'peaks', 'pl-band', 'polystyrene', 'silicon']
    """
    return sorted([*PRESETS, *BUILDERS])


def get_preset(name: str, data=None, **params) -> dict:
    """Return a deep copy of a band preset, to edit freely; a parametrised preset is built from ``params``.

    Parameters
    ----------
    name : str
        Preset name, without regard to case or surrounding spaces (see ``preset_names``).
    data : xarray.Dataset, optional
        The map, for the parametrised presets that look at it (``peaks`` with ``positions="auto"``
        or ``n``; ``pl-band`` without ``center_ev``).
    **params
        The preset's parameters (:func:`preset_parameters`). ``peaks``: ``positions`` (list of
        cm⁻¹, or ``"auto"``, the default), ``n`` (keep the ``n`` most prominent lines found), ``shape``
        (:func:`line_shapes`, default ``"lorentzian"``), ``baseline`` (``"polynomial0"`` …
        ``"polynomial5"`` or None, default ``"polynomial2"``), ``hwhm`` (start HWHM, cm⁻¹),
        ``half_range`` (how far a centre may move, cm⁻¹), ``min_snr`` and ``percentile`` (of the line
        search, ``hyperspec.bands.autostart.find_lines``). ``pl-band``: ``center_ev`` and ``hwhm_ev``
        (eV; default: the band found on the mean spectrum), ``n_bands`` (1 or 2), ``shape``
        (``"gaussian"`` or ``"espl"``), ``baseline``.

    Returns
    -------
    dict
        ``description``, ``laser_nm`` (nm, where the preset is for one laser), ``mask`` (Raman-shift
        intervals excluded from every fit, cm⁻¹), ``terms`` (a composite-model spec, see
        ``hyperspec.fit.composite``; windows and positions in cm⁻¹, energy-axis centres and widths
        in eV), where the preset has them ``optional_terms`` switched on by ``decompose(...,
        include=[...])`` and ``ratios`` (model-level outputs ``name: [numerator, denominator]``, each
        ``"<term>.area"`` or ``"<term>.<param>"``), and for ``peaks`` found automatically
        ``autostart`` (the ``hyperspec.bands.autostart.LineSearch``).

    Raises
    ------
    ValueError
        If there is no preset of that name (the message suggests the closest one and lists them all),
        for a parameter the preset does not take, or a bad parameter value.

    Examples
    --------
    >>> preset = get_preset(" CsPbBr3-633 ")
    >>> preset["laser_nm"], preset["mask"], preset["terms"]["lers"]["shape"]
    (632.8, [[-10.0, 10.0]], 'lers')
    >>> list(get_preset("peaks", positions=[1001.4, 1602.3], shape="gaussian")["terms"])
    ['line_1001', 'line_1602', 'baseline']
    >>> get_preset("cspbbr3")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: unknown preset 'cspbbr3'. Did you mean 'cspbbr3-633'? Available presets: ...
    """
    key = str(name).strip().lower()
    if key in BUILDERS:
        builder, names = BUILDERS[key]
        unknown = [k for k in params if k not in names]
        if unknown:
            raise ValueError(f"preset {key!r} takes no parameter {unknown[0]!r}; its parameters: {', '.join(names)}.")
        return builder(data, **params)
    if key not in PRESETS:
        close = difflib.get_close_matches(key, preset_names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown preset {name!r}.{hint} Available presets: {', '.join(preset_names())}.")
    if params:
        raise ValueError(f"preset {key!r} takes no parameters (got {', '.join(params)}); parametrised presets: {', '.join(BUILDERS)}.")
    return copy.deepcopy(PRESETS[key])
