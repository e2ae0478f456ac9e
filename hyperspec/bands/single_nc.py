"""Single-nanocrystal PL (seed 004): Huang–Rhys factors, a start for the preset, and a test spectrum.

The preset ``cspbbr3-single-nc`` (``hyperspec.bands.presets``) models the low-temperature PL of one
CsPbBr₃ nanocrystal on the photon-energy axis with three registry components
(``hyperspec.bands.components``):

- ``nc_exciton``: the bright-exciton fine structure (lines A, B, C at c, c + s₁, c + s₁ + s₂, heights
  1 : w₂ : w₃, one HWHM Γ) and four one-phonon LO replicas of exactly that shape at c − ωᵢ, each with
  its Huang–Rhys factor Sᵢ = replica area / zero-phonon area as a fitted parameter
  (``exciton_s_lo1`` … with their standard errors straight from the fit's covariance);
- ``nc_trion``: one Lorentzian at E_A − Δ_T (``trion_binding_ev``);
- ``nc_biexciton``: the exciton multiplet mirrored below E_A − Δ_XX (the cascade XX → Xₖ → 0), widths
  of its own (``biexciton_binding_ev``).

This module adds what the fit itself does not: :func:`huang_rhys` (S with its error from any two fitted
areas, for models whose replicas have free amplitudes, or for higher orders of a progression),
:func:`single_nc_start` (start values from the data: ``decompose`` starts every pixel from one value
and a 0.3 meV line must be started within a few widths), and :func:`simulate_single_nc` (a Poisson-noisy
test map rendered independently of the components, optionally with a pseudo-Voigt line shape to test
the model slightly wrong).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import xarray as xr

from hyperspec._errors import DataModelError

__all__ = ["huang_rhys", "single_nc_start", "render_single_nc", "simulate_single_nc", "SINGLE_NC_TRUTH"]

_MEV = 1e-3

#: Default truth of :func:`simulate_single_nc` (energies in eV, heights in counts): a ~9 nm CsPbBr₃ NC at 5.5 K.
SINGLE_NC_TRUTH = {
    "exciton_ev": 2.45,
    "split_1_ev": 1.0 * _MEV,
    "split_2_ev": 0.8 * _MEV,
    "weight_2": 0.8,
    "weight_3": 0.5,
    "hwhm_ev": 0.3 * _MEV,
    "phonons_ev": (3.0 * _MEV, 4.3 * _MEV, 5.9 * _MEV, 18.5 * _MEV),
    "huang_rhys": (0.1, 0.1, 0.1, 0.1),
    "height": 2000.0,
    "trion_binding_ev": 12.0 * _MEV,
    "trion_hwhm_ev": 0.4 * _MEV,
    "trion_height": 400.0,
    "biexciton_binding_ev": 21.0 * _MEV,
    "biexciton_hwhm_ev": 0.4 * _MEV,
    "biexciton_height": 250.0,
    "background": 20.0,
}


def _area_var(results: xr.Dataset, name: str, arg: str) -> tuple[xr.DataArray, xr.DataArray]:
    key = name if name.endswith("_area") else f"{name}_area"
    if key not in results or f"{key}_stderr" not in results:
        have = sorted(v for v in results.data_vars if str(v).endswith("_area"))
        raise DataModelError(
            f"huang_rhys: {arg}={name!r} needs the variables {key!r} and {key + '_stderr'!r} in the results; "
            f"the results have the areas {have}. Pass a term (or area variable) of the fit."
        )
    return results[key], results[f"{key}_stderr"]


def huang_rhys(
    results: xr.Dataset,
    replica: str = "exciton_lo1",
    zero_phonon: str = "exciton_zpl",
    *,
    order: int = 1,
    correlation: float = 0.0,
) -> xr.Dataset:
    """Huang–Rhys factor per pixel from a replica's and the zero-phonon line's fitted areas.

    For a Poisson progression the n-phonon replica has I_n/I_0 = Sⁿ/n!, so
    S = (n!·A_n/A_0)^(1/n) (n = 1: S = A_1/A_0). The error is propagated to first order from the two
    areas' standard errors and their correlation ρ:
    σ_S/S = (1/n)·√(ε_n² + ε_0² − 2ρ·ε_n·ε_0), εₓ = σₓ/Aₓ.

    With the ``cspbbr3-single-nc`` preset S of each LO mode is a fitted parameter (``exciton_s_lo1`` …):
    its standard error comes from the full covariance and is the one to quote. This function serves
    models whose replicas have free amplitudes (separate terms) and higher orders of a progression;
    on the preset's derived areas (``exciton_lo1_area``, ``exciton_zpl_area``) it returns the same S
    and, with ρ = 0, an error that ignores the areas' correlation (shared width and height; within a
    few per cent of the fitted one on the synthetic tests, but not the one to quote).

    Parameters
    ----------
    results : xarray.Dataset
        Output of ``hyperspec.decompose``, with ``<name>_area`` and ``<name>_area_stderr``
        (counts·cm⁻¹; the ratio is unit-free).
    replica : str, optional
        The replica's term or area variable (``"lo1"`` → ``lo1_area``). Default ``"exciton_lo1"``.
    zero_phonon : str, optional
        The zero-phonon line's term or area variable. Default ``"exciton_zpl"``.
    order : int, optional
        Number n of phonons in the replica (≥ 1). Default 1.
    correlation : float, optional
        Correlation coefficient ρ of the two areas' errors, in [−1, 1]. Default 0.

    Returns
    -------
    xarray.Dataset
        ``huang_rhys`` (S, dimensionless) and ``huang_rhys_stderr`` on the results' grid; NaN where
        an area is NaN or the zero-phonon area is not positive (a negative replica area gives NaN
        for even n).

    Raises
    ------
    DataModelError
        If an area or its ``_stderr`` is missing from ``results`` (the message lists the areas there).
    ValueError
        If ``order`` is not an integer ≥ 1 or ``correlation`` is outside [−1, 1].

    Examples
    --------
    >>> import xarray as xr
    >>> res = xr.Dataset({"zpl_area": ("x", [1000.0]), "zpl_area_stderr": ("x", [10.0]),
    ...                   "lo_area": ("x", [200.0]), "lo_area_stderr": ("x", [8.0])})
    >>> out = huang_rhys(res, "lo", "zpl")
    >>> round(float(out["huang_rhys"][0]), 3), round(float(out["huang_rhys_stderr"][0]), 4)
    (0.2, 0.0082)
    """
    if isinstance(order, bool) or int(order) != order or order < 1:
        raise ValueError(f"huang_rhys: order must be an integer ≥ 1 (phonons in the replica); got {order!r}.")
    if not -1.0 <= float(correlation) <= 1.0:
        raise ValueError(f"huang_rhys: correlation must lie in [-1, 1]; got {correlation!r}.")
    n = int(order)
    a_n, e_n = _area_var(results, replica, "replica")
    a_0, e_0 = _area_var(results, zero_phonon, "zero_phonon")
    ok = a_0 > 0
    ratio = (math.factorial(n) * a_n / a_0.where(ok)).astype(np.float64)
    s = np.sign(ratio) * np.abs(ratio) ** (1.0 / n) if n % 2 else ratio.where(ratio >= 0) ** (1.0 / n)
    r_n = e_n / abs(a_n)
    r_0 = e_0 / a_0.where(ok)
    rel = np.sqrt(np.maximum(r_n**2 + r_0**2 - 2.0 * float(correlation) * r_n * r_0, 0.0)) / n
    out = xr.Dataset({"huang_rhys": s, "huang_rhys_stderr": abs(s) * rel})
    out["huang_rhys"].attrs = {"long_name": f"Huang-Rhys factor from {replica} (n = {n}) over {zero_phonon}", "units": "1"}
    out["huang_rhys_stderr"].attrs = {"long_name": "standard error of the Huang-Rhys factor (first-order propagation)", "units": "1"}
    return out


def _mean_spectrum(data: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    if "spectra" not in data or "energy" not in data.coords:
        raise DataModelError(
            "single_nc_start: the map needs 'spectra' with an 'energy' coordinate (eV); build it with "
            "hyperspec.from_array(spectra, energy_ev, unit='eV', laser_nm=<excitation nm>)."
        )
    spectra = data["spectra"]
    lead = [d for d in spectra.dims if d != "spectral"]
    mean = np.asarray(spectra.mean(lead) if lead else spectra, dtype=np.float64)
    energy = np.asarray(data["energy"].values, dtype=np.float64)
    order = np.argsort(energy)
    return energy[order], np.nan_to_num(mean[order])


def _local_maxima(y: np.ndarray) -> np.ndarray:
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])
    return np.flatnonzero(inner) + 1


def single_nc_start(
    data: xr.Dataset,
    *,
    lines: int | None = None,
    refine: bool = True,
    window_mev: float = 1.5,
    min_fraction: float = 0.5,
    detect_fraction: float = 0.03,
) -> dict:
    """Overrides that start the ``cspbbr3-single-nc`` preset where a map's exciton, trion and biexciton are.

    ``decompose`` starts every pixel from one set of values; lines 0.3 meV wide must start within a
    few widths. From the mean spectrum over all pixels this finds the exciton's lowest bright line A
    (of the local maxima above ``min_fraction`` of the brightest, the lowest-energy one within
    2.5 meV of the highest-energy one: no replica lies above the zero-phonon lines) and, among the
    local maxima 6–40 meV below A that are not on the LO₄ replica (16–21 meV) and reach
    ``detect_fraction`` of the brightest, the two brightest: the upper one starts the trion, the
    lower one the biexciton (the biexciton binding energy exceeds the trion's in CsPbBr₃ NCs, seed
    004 §4). A line not found is dropped from the model (``drop=[...]``): with one, the biexciton;
    with none, both.

    Parameters
    ----------
    data : xarray.Dataset
        A map with ``spectra`` and an ``energy`` coordinate (eV), e.g. from
        ``hyperspec.from_array(..., unit="eV", laser_nm=...)``; every pixel is the same NC.
    lines : {1, 2, 3} or None, optional
        Number of exciton fine-structure lines (two or three, by the NC's orientation, seed 004
        §3). Absent lines are fixed at zero height, with their splittings at 1 meV, in the exciton
        and the biexciton (free, a missing line's splitting is undetermined and lines can swap).
        Default None: chosen by the fits of the mean spectrum (see ``refine``).
    refine : bool, optional
        Fit the mean spectrum (one pixel) from these starts and start every pixel at that fit;
        with ``lines=None`` the number of lines is chosen there: 3, then 2, then 1, keeping fewer
        while the extra line lowers χ² by less than 25 (in units of the mean fit's χ²_red).
        Default True. False: the peak positions only (and ``lines=None`` is read as 3).
    window_mev : float, optional
        Half width of the exciton centre's bounds around its start, meV. Default 1.5.
    min_fraction : float, optional
        Smallest height, as a fraction of the brightest channel above the background, of a line
        taken for exciton A. Default 0.5.
    detect_fraction : float, optional
        Smallest height, as a fraction of the brightest channel, of a trion or biexciton line.
        Default 0.03.

    Returns
    -------
    dict
        ``{"exciton": {...}, "trion": {...}, "biexciton": {...}}`` term overrides for
        ``hyperspec.decompose(ds, "cspbbr3-single-nc", **overrides)``: ``init`` (every free shape
        parameter, eV or dimensionless, with ``refine``; else the positions), the exciton centre's
        ``bounds`` (eV), ``fixed`` for absent fine-structure lines, and ``"drop"`` for a trion or
        biexciton not found.

    Raises
    ------
    DataModelError
        If the map has no ``spectra`` or no ``energy`` coordinate.
    ValueError
        If ``lines`` is not 1, 2, 3 or None.

    Examples
    --------
    >>> ds, truth = simulate_single_nc(4, seed=1)
    >>> start = single_nc_start(ds, refine=False)  # the peak positions only (refine=True also fits the mean)
    >>> round(start["exciton"]["init"]["center"], 4), round(start["trion"]["init"]["binding"], 4)
    (2.45, 0.012)
    >>> sorted(start), [round(b, 4) for b in start["exciton"]["bounds"]["center"]]
    (['biexciton', 'exciton', 'trion'], [2.4485, 2.4515])
    """
    if lines is not None and lines not in (1, 2, 3):
        raise ValueError(f"single_nc_start: lines must be 1, 2 or 3 (exciton fine-structure lines) or None; got {lines!r}.")
    energy, y = _mean_spectrum(data)
    y = y - np.percentile(y, 10.0)
    top = int(np.argmax(y))
    peaks = _local_maxima(y)
    bright = peaks[y[peaks] >= min_fraction * y[top]]
    high = float(energy[bright].max()) if bright.size else float(energy[top])  # the multiplet's top: no replica above
    near = bright[energy[bright] >= high - 2.5 * _MEV]
    a = float(energy[near].min()) if near.size else float(energy[top])
    lo4 = a - 18.5 * _MEV
    below = (energy[peaks] <= a - 6.0 * _MEV) & (energy[peaks] >= a - 40.0 * _MEV)
    cand = peaks[below & (np.abs(energy[peaks] - lo4) > 2.5 * _MEV) & (y[peaks] >= detect_fraction * y[top])]
    cand = cand[np.argsort(y[cand])[::-1][:2]]
    found = {
        name: float(a - energy[idx]) for name, idx in zip(("trion", "biexciton"), sorted(cand, key=lambda i: -energy[i]), strict=False)
    }
    center = {"init": {"center": a}, "bounds": {"center": [a - window_mev * _MEV, a + window_mev * _MEV]}}
    if not refine:
        return _start_overrides(center, found, lines or 3)
    # refine: fit the mean spectrum (one pixel) and start every pixel there; with lines=None, for 3, 2, 1
    # lines in turn, keep fewer while the extra line does not pay for itself (χ² gain < 25 in units of χ²_red)
    mean = _mean_dataset(data)
    best = None
    for n in (3, 2, 1) if lines is None else (lines,):
        overrides = _start_overrides(center, found, n)
        res = _fit_one(mean, overrides)
        chi2 = float(res["chi2_red"].values.ravel()[0])
        if best is not None and not (np.isfinite(chi2) and (chi2 - best[1]) * energy.size / best[1] < 25.0):
            break
        best = (overrides, chi2, res)
    overrides, _, res = best
    return _refined(overrides, res)


def _start_overrides(center: dict, found: Mapping, lines: int) -> dict:
    exciton = {"init": dict(center["init"]), "bounds": dict(center["bounds"])}
    fixed = {}
    if lines < 3:  # absent lines are fixed at zero height: their splittings would be undetermined (and could swap)
        fixed = {"weight_3": 0.0, "split_2": 1.0 * _MEV}
        if lines == 1:
            fixed.update({"weight_2": 0.0, "split_1": 1.0 * _MEV})
        exciton["fixed"] = fixed
    overrides: dict = {"exciton": exciton}
    for name, binding in found.items():
        overrides[name] = {"init": {"binding": binding}}
    if "biexciton" in found and fixed:  # the biexciton shares the exciton's multiplet: the same lines are absent
        overrides["biexciton"]["fixed"] = dict(fixed)
    missing = [name for name in ("trion", "biexciton") if name not in found]
    if missing:
        overrides["drop"] = missing  # last: the terms it names get no other override
    return overrides


def _mean_dataset(data: xr.Dataset) -> xr.Dataset:
    spectra = data["spectra"]
    lead = [d for d in spectra.dims if d != "spectral"]
    mean = spectra.mean(lead) if lead else spectra
    return data.drop_vars("spectra").drop_dims(lead, errors="ignore").assign(spectra=mean.expand_dims("x", 0))


def _fit_one(mean: xr.Dataset, overrides: dict) -> xr.Dataset:
    from hyperspec.fit.decompose import decompose  # noqa: PLC0415  (the engine imports the bands, not back)

    return decompose(mean, "cspbbr3-single-nc", backend="numpy", **overrides).compute()


def _refined(overrides: dict, res: xr.Dataset) -> dict:
    """The overrides with every free parameter of the NC terms started at the mean spectrum's fit."""
    from hyperspec.bands.components import get_component  # noqa: PLC0415
    from hyperspec.bands.presets import get_preset  # noqa: PLC0415
    from hyperspec.fit.results import param_output_name  # noqa: PLC0415

    terms = get_preset("cspbbr3-single-nc")["terms"]
    for name in ("exciton", "trion", "biexciton"):
        if name not in overrides:
            continue
        spec, over = terms[name], overrides[name]
        skip = set(spec.get("tie", {})) | set(over.get("fixed", {}))
        for param in get_component(spec["shape"]).params:
            value = float(res[param_output_name(name, param)].values.ravel()[0]) if param.name not in skip else math.nan
            if math.isfinite(value) and param.name != "height":
                lo, hi = (over.get("bounds") or {}).get(param.name, (spec.get("bounds") or {}).get(param.name, (-math.inf, math.inf)))
                over.setdefault("init", {})[param.name] = min(max(value, lo), hi)
    return overrides


def _line(x, center, hwhm, eta):
    lor = hwhm * hwhm / ((x - center) ** 2 + hwhm * hwhm)
    if eta >= 1.0:
        return lor
    gau = np.exp(-math.log(2.0) * (x - center) ** 2 / (hwhm * hwhm))
    return eta * lor + (1.0 - eta) * gau


def render_single_nc(energy_ev, *, eta: float = 1.0, two_phonon: bool = False, **truth) -> np.ndarray:
    """The noiseless single-NC spectrum of a truth, written out line by line (independent of the components).

    Parameters
    ----------
    energy_ev : array, shape (M,)
        Photon energies, eV.
    eta : float, optional
        Lorentzian fraction of every line (pseudo-Voigt η·L + (1 − η)·G with the same HWHM and
        height); 1 (default) is the preset's Lorentzian model, less tests it slightly wrong.
    two_phonon : bool, optional
        Add the two-phonon replicas of each mode at c − 2ωᵢ with area S²/2 (a Poisson progression),
        which the preset does not model. Default False.
    **truth
        Keys of :data:`SINGLE_NC_TRUTH` (energies eV, heights counts), overriding its values.

    Returns
    -------
    numpy.ndarray, shape (M,)
        Expected counts per channel.

    Raises
    ------
    ValueError
        For a key that is not in :data:`SINGLE_NC_TRUTH`.

    Examples
    --------
    >>> e = np.array([2.45, 2.4510, 2.4518])
    >>> np.round(render_single_nc(e, background=0.0), 1)
    array([2176.6, 1896.9, 1257.1])
    """
    t = _truth(truth)
    x = np.asarray(energy_ev, dtype=np.float64)
    offsets = (0.0, t["split_1_ev"], t["split_1_ev"] + t["split_2_ev"])
    weights = (1.0, t["weight_2"], t["weight_3"])
    c, g = t["exciton_ev"], t["hwhm_ev"]
    copies = [(1.0, 0.0)] + list(zip(t["huang_rhys"], t["phonons_ev"], strict=True))
    if two_phonon:
        copies += [(s * s / 2.0, 2.0 * w) for s, w in zip(t["huang_rhys"], t["phonons_ev"], strict=True)]
    y = np.full(x.shape, float(t["background"]))
    for amp, w in copies:
        for o, k in zip(offsets, weights, strict=True):
            y += t["height"] * amp * k * _line(x, c - w + o, g, eta)
    y += t["trion_height"] * _line(x, c - t["trion_binding_ev"], t["trion_hwhm_ev"], eta)
    for o, k in zip(offsets, weights, strict=True):
        y += t["biexciton_height"] * k * _line(x, c - t["biexciton_binding_ev"] - o, t["biexciton_hwhm_ev"], eta)
    return y


def _truth(truth: Mapping) -> dict:
    unknown = sorted(set(truth) - set(SINGLE_NC_TRUTH))
    if unknown:
        raise ValueError(f"unknown single-NC truth keys {unknown}; valid: {', '.join(SINGLE_NC_TRUTH)}.")
    return {**SINGLE_NC_TRUTH, **truth}


def simulate_single_nc(
    n_pixels: int = 64,
    *,
    energy_ev=None,
    seed: int = 0,
    laser_nm: float = 405.0,
    eta: float = 1.0,
    two_phonon: bool = False,
    **truth,
) -> tuple[xr.Dataset, dict]:
    """A map of repeated single-NC spectra with Poisson noise, and the truth that made it.

    Parameters
    ----------
    n_pixels : int, optional
        Number of spectra (dim ``x``), each an independent Poisson draw of the same NC. Default 64.
    energy_ev : array, shape (M,), optional
        Photon energies, eV. Default: 0.1 meV steps from 42 meV below to 6 meV above the exciton.
    seed : int, optional
        Seed of the noise. Default 0.
    laser_nm : float, optional
        Excitation wavelength, nm (sets the ``shift`` coordinate the engine needs). Default 405.
    eta, two_phonon : optional
        Line shape and extra replicas, see :func:`render_single_nc`.
    **truth
        Keys of :data:`SINGLE_NC_TRUTH` overriding its values (energies eV, heights counts).

    Returns
    -------
    ds : xarray.Dataset
        The map, from ``hyperspec.from_array(counts, energy_ev, unit="eV", laser_nm=laser_nm)``.
    truth : dict
        The full truth (:data:`SINGLE_NC_TRUTH` with the overrides).

    Raises
    ------
    ValueError
        For an unknown truth key or ``n_pixels`` < 1.

    Examples
    --------
    >>> ds, truth = simulate_single_nc(3, seed=0)
    >>> ds["spectra"].shape, truth["exciton_ev"]
    ((3, 481), 2.45)
    """
    from hyperspec.model import from_array  # noqa: PLC0415  (bands stays importable without the data model)

    if int(n_pixels) != n_pixels or n_pixels < 1:
        raise ValueError(f"simulate_single_nc: n_pixels must be an integer ≥ 1; got {n_pixels!r}.")
    t = _truth(truth)
    if energy_ev is None:
        energy_ev = t["exciton_ev"] + np.arange(-420, 61) * 0.1 * _MEV
    expected = render_single_nc(energy_ev, eta=eta, two_phonon=two_phonon, **truth)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(np.broadcast_to(expected, (int(n_pixels), expected.size))).astype(np.float64)
    ds = from_array(counts, np.asarray(energy_ev, dtype=np.float64), unit="eV", laser_nm=laser_nm)
    return ds, t
