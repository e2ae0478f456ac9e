"""Band presets: named model specs a user can copy into a recipe and edit.

``get_preset(name)`` returns a fresh deep copy: a dict with ``description``, ``mask`` (Raman-shift
intervals excluded from every fit, e.g. the notch) and ``terms`` (a composite-model spec, see
``hyperspec.fit.composite``).
"""

from __future__ import annotations

import copy
import difflib

__all__ = ["PRESETS", "get_preset", "preset_names"]


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


def preset_names() -> list[str]:
    """List the names of the band presets.

    Returns
    -------
    list of str
        The keys of ``PRESETS``, sorted.

    Examples
    --------
    >>> preset_names()
    ['cspbbr3-633', 'cspbbr3-633-freeform', 'cspbbr3-single-nc']
    """
    return sorted(PRESETS)


def get_preset(name: str) -> dict:
    """Return a deep copy of a band preset, to edit freely.

    Parameters
    ----------
    name : str
        Preset name, without regard to case or surrounding spaces (see ``preset_names``).

    Returns
    -------
    dict
        ``description``, ``laser_nm`` (nm), ``mask`` (Raman-shift intervals excluded from every fit,
        cm⁻¹), ``terms`` (a composite-model spec, see ``hyperspec.fit.composite``; windows and
        positions in cm⁻¹, the ESPL centre and width in eV) and, where the preset has them,
        ``optional_terms`` switched on by ``decompose(..., include=[...])``.

    Raises
    ------
    ValueError
        If there is no preset of that name; the message suggests the closest one and lists them all.

    Examples
    --------
    >>> preset = get_preset(" CsPbBr3-633 ")
    >>> preset["laser_nm"], preset["mask"], preset["terms"]["lers"]["shape"]
    (632.8, [[-10.0, 10.0]], 'lers')
    >>> get_preset("cspbbr3")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: unknown preset 'cspbbr3'. Did you mean 'cspbbr3-633'? Available presets: ...
    """
    key = str(name).strip().lower()
    if key not in PRESETS:
        close = difflib.get_close_matches(key, preset_names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown preset {name!r}.{hint} Available presets: {', '.join(preset_names())}.")
    return copy.deepcopy(PRESETS[key])
