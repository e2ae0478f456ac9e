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


def preset_names() -> list[str]:
    """List the names of the band presets.

    Returns
    -------
    list of str
        The keys of ``PRESETS``, sorted.

    Examples
    --------
    >>> preset_names()
    ['cspbbr3-633', 'cspbbr3-633-freeform']
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
