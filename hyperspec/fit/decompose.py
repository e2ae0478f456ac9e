"""``hyperspec.decompose``: split every spectrum of a map into its bands by regularised least squares.

Per chunk of pixels (the spectral axis whole), on NumPy or CuPy:

1. preflight per pixel: non-finite data → ``nonfinite``; dead pixels (zero or constant counts, or
   only the stated detector offset) → ``dead``, not fitted; counts without structure above the noise
   (e.g. bare substrate) are fitted and flagged ``no_signal``; saturated channels are masked and the
   pixel flagged ``saturated``;
2. linear stage: with every shape at its start value, one shared design matrix and a batched
   non-negative least squares give all amplitudes (start values of the next stage);
3. nonlinear stage: batched Levenberg–Marquardt with analytic Jacobians, box bounds, priors,
   Poisson weights, the notch masked;
4. results: every parameter and its standard error, band areas (trapezoid of the fitted component
   over the data's Raman-shift axis, counts·cm⁻¹) with errors by the delta method, the derived
   values each component declares (ESPL: ``<term>_peak_ev``, ``<term>_urbach_ev``), ``chi2_red``,
   ``status``, ``n_iter``; a converged pixel with a free parameter on a bound is ``at_bound`` (which
   one: ``at_bound``, ``n_at_bound``).

The pieces live in their own modules and are re-exported here: model-spec editing
(``hyperspec.fit.model_spec``), the engine (``hyperspec.fit._decomposer``) and the output names and
status codes (``hyperspec.fit.results``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, resolve_backend, single_threaded_blas
from hyperspec._quality import boxcar as _boxcar  # noqa: F401 - re-exported (benchmarks)
from hyperspec._quality import flat_spectra  # noqa: F401 - re-exported (its former home)
from hyperspec.fit._decomposer import _GPU_BATCH_MAX, _check_support, _Decomposer, default_batch_size  # noqa: F401
from hyperspec.fit.composite import CompositeModel
from hyperspec.fit.model_spec import _OPTION_KEYS, build_model_spec  # noqa: F401
from hyperspec.fit.results import (  # noqa: F401
    _UNIT_SUFFIX,
    AT_BOUND,
    DEAD,
    FLAT,
    NO_SIGNAL,
    SATURATED,
    STATUS_MEANINGS,
    at_bound_attrs,
    param_output_name,
    result_names,
    status_attrs,
)
from hyperspec.model import HISTORY_RECORDS_ATTR, SPECTRAL_DIM, add_history, map_spectra, shift_axis, validate_map

__all__ = [
    "decompose",
    "PARITY_TOL",
    "fitted_components",
    "build_model_spec",
    "result_names",
    "default_batch_size",
    "STATUS_MEANINGS",
    "SATURATED",
    "FLAT",
    "DEAD",
    "NO_SIGNAL",
    "AT_BOUND",
]


#: ``decompose(..., tol=PARITY_TOL)``: χ² at parity with ``scipy.optimize.curve_fit`` (within 1e-9 relative on every
#: pixel of the reference problem, 6.0 iterations per pixel against 5.1 at the default 1e-7).
PARITY_TOL = 1e-10


def decompose(
    data: xr.Dataset,
    preset: str | Mapping | None = "cspbbr3-633",
    *,
    model: Mapping | str | os.PathLike | None = None,
    backend: str | Backend | None = None,
    weights: str | Any = "poisson",
    saturation: float | None = None,
    batch_size: int | None = None,
    device_memory_mb: float | None = None,
    max_iter: int = 200,
    tol: float = 1e-7,
    **overrides,
) -> xr.Dataset:
    """Decompose every spectrum of a map into its bands; return a results Dataset on the same grid.

    Parameters
    ----------
    data : xarray.Dataset
        A map (``spectra`` on ``(..., "spectral")`` with a Raman-shift axis); any leading dims
        (maps, kinetic maps, series). Lazy (Dask) input gives lazy output, chunk by chunk.
    preset : str or mapping
        A preset name (``hyperspec.bands.presets.preset_names()``) or a preset-like mapping.
    model : mapping, str or path-like, optional
        A custom model used instead of the preset: a spec (``term → {"shape", "init", "bounds", …}``,
        or ``{"mask": [...], "terms": {...}}``) or the path of a model file (TOML,
        ``hyperspec.fit.model_spec.load_model``).
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where the numerics run; float64 throughout (the normal equations need it). Default None:
        ``$HYPERSPEC_BACKEND`` when set, else ``"auto"`` (``hyperspec._backend.resolve_backend``).
    weights : "poisson", "uniform" or array (m,)
        Per-channel weights: Poisson (1/smoothed counts, default), uniform, or given 1/σ².
    saturation : float, optional
        Counts at or above which a channel is saturated (masked; pixel flagged). Default: the
        map's ``attrs["saturation_counts"]`` when present.
    batch_size : int, optional
        Pixels fitted together (bounds memory: the Jacobian is batch × channels × parameters).
        Default: 256 on NumPy (the working set stays in cache); on CuPy as many as ``device_memory_mb``
        holds, at most 65536 (a GPU needs thousands of pixels per launch).
    device_memory_mb : float, optional
        GPU memory (MiB) the fit's batches may take when ``batch_size`` is not given; default a quarter
        of the free device memory. Ignored on NumPy.
    max_iter : int
        Levenberg–Marquardt iterations per pixel. Default 200.
    tol : float
        Convergence: every parameter's Gauss–Newton step below ``tol`` relative, or a predicted χ² decrease
        below ``tol``·χ². Default 1e-7, measured to leave results within 0.03 σ of the exact optimum
        (1e-8: 0.008 σ, ≈20 % slower). ``tol=PARITY_TOL`` (1e-10) is the option for ``curve_fit``-level
        agreement: on the reference problem (``benchmarks/bench_reference.py``) every pixel's χ² is then
        within 1e-9 of ``curve_fit``'s (lm, analytic Jacobian, ftol = xtol = 1e-10), against 33 % at
        1e-7, for ≈15 % more iterations.
    **overrides
        Edits of the preset: ``lers={"bounds": {"temperature": [250, 600]}}``, ``drop=["cnt_d"]``,
        ``mask=[[-12, 12]]``, or a new term ``{"shape": …}``; and a parametrised preset's parameters
        (``hyperspec.bands.presets.preset_parameters``): ``decompose(ds, "peaks", positions=[1001,
        1031], shape="voigt", baseline="polynomial2")``, ``decompose(ds, "peaks", n=5)`` or
        ``positions="auto"`` (the lines found on the map by ``hyperspec.bands.autostart.find_lines``;
        the table in ``attrs["autostart"]``, a one-line summary in ``attrs["autostart_summary"]``).

    Returns
    -------
    xarray.Dataset
        The outputs of ``hyperspec.fit.results.result_names``: ``<term>_area`` (counts·cm⁻¹), every
        parameter ``<term>_<param>[_unit]`` and each component's derived values (ESPL terms:
        ``<term>_peak_ev``, ``<term>_urbach_ev``) and the model's ratios (``spec["ratios"]``, e.g. the
        carbon preset's ``id_ig_area_ratio``; delta-method errors with the full covariance), each with
        ``<name>_stderr``; ``chi2_red``,
        ``status`` (CF ``flag_values``/``flag_meanings``, also ``attrs["status_codes"]``; the codes:
        ``hyperspec.fit.results.STATUS_TABLE``), ``at_bound`` (int16: ±k, the 1-based index into
        ``attrs["at_bound_params"]`` of the first free parameter at its upper (+) or lower (−) bound, 0
        none), ``n_at_bound`` (int16) and ``n_iter``. Attrs record the model and the backend.

    Raises
    ------
    ValueError
        For a bad model spec or override, bad ``weights`` or ``device_memory_mb``, terms the spectral
        axis does not cover, or a mask that leaves too few channels.
    hyperspec.BackendError
        For an unknown backend, or ``"cupy"`` where no GPU is usable.

    Notes
    -----
    Lazy results compute fastest with BLAS on one thread per process (the chunks are the parallel
    unit): ``with hyperspec.single_threaded_blas(): res.compute()``.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec.model import from_array
    >>> shift = np.linspace(100.0, 900.0, 401)
    >>> line = 5.0 + 200.0 * 8.0**2 / ((shift - 520.0) ** 2 + 8.0**2)
    >>> ds = from_array(np.tile(line, (1, 2, 1)), shift, laser_nm=633.0)
    >>> model = {"si": {"shape": "lorentzian", "init": {"center": 510.0, "hwhm": 5.0}}, "base": {"shape": "polynomial0"}}
    >>> res = decompose(ds, model=model, backend="numpy")
    >>> res["si_center_cm"].values.round(3), res["si_hwhm_cm"].values.round(3)
    (array([[520., 520.]]), array([[8., 8.]]))
    """
    validate_map(data)
    shift = shift_axis(data)
    energy = np.asarray(data["energy"].values, dtype=np.float64) if "energy" in data.coords else None
    spec = build_model_spec(preset, model, data=data, **overrides)
    found = spec.pop("autostart", None)  # a "peaks" preset found on the data: what the line search found
    be = resolve_backend(backend)
    if weights not in ("poisson", "uniform"):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != shift.shape or np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError(f"`weights` must be 'poisson', 'uniform' or {shift.size} finite values ≥ 0.")
    if saturation is None:
        saturation = data.attrs.get("saturation_counts")
    offset = data.attrs.get("offset_counts")  # the detector's offset, when the map states it: the dead-pixel test
    if device_memory_mb is not None and not (isinstance(device_memory_mb, (int, float)) and device_memory_mb > 0):
        raise ValueError(f"`device_memory_mb` must be a positive number of MiB; got {device_memory_mb!r}.")
    engine = _Decomposer(
        spec, shift, energy, be.xp, weights=weights, saturation=saturation, batch_size=batch_size, max_iter=max_iter, tol=tol,
        device_bytes=None if device_memory_mb is None else float(device_memory_mb) * 2**20, backend=be,
        offset=None if offset is None else float(offset),
    )  # fmt: skip
    with single_threaded_blas():  # in-memory input is computed right here; lazy input when the caller computes
        out = map_spectra(engine, data["spectra"], engine.n_out)
    variables = {}  # one Dataset built from all of them: ~110 item assignments each merged and aligned cost ~0.2 s
    for i, (name, units, meaning) in enumerate(engine.names):
        variables[name] = out.isel(quantity=2 * i, drop=True).assign_attrs(units=units, long_name=meaning)
        stderr = out.isel(quantity=2 * i + 1, drop=True)
        variables[f"{name}_stderr"] = stderr.assign_attrs(units=units, long_name=f"standard error of {name}")
    ab_attrs, nab_attrs = at_bound_attrs(engine.bound_params)
    variables["at_bound"] = out.isel(quantity=-5, drop=True).astype(np.int16).assign_attrs(ab_attrs)
    variables["n_at_bound"] = out.isel(quantity=-4, drop=True).astype(np.int16).assign_attrs(nab_attrs)
    variables["chi2_red"] = out.isel(quantity=-3, drop=True).assign_attrs(long_name="reduced chi-square (weighted)", units="1")
    n_iter = out.isel(quantity=-2, drop=True).astype(np.int32)
    variables["n_iter"] = n_iter.assign_attrs(long_name="Levenberg-Marquardt iterations", units="1")
    variables["status"] = out.isel(quantity=-1, drop=True).astype(np.int8).assign_attrs(status_attrs())
    result = xr.Dataset(variables)
    kept = ("laser_nm", "source", "history", HISTORY_RECORDS_ATTR, "instrument", "sample", "store")
    result.attrs = {k: v for k, v in data.attrs.items() if k in kept}
    result.attrs.update(
        {
            "model": json.dumps(spec),
            "preset": preset if isinstance(preset, str) and model is None else "custom",
            "backend": be.name,
            "engine": engine.model.engine,
            "precision": "float64 (model, Jacobian and normal equations)",
            "status_codes": json.dumps(STATUS_MEANINGS),
            "at_bound_params": ab_attrs["at_bound_params"],
            "areas": "trapezoid of each fitted component over the data's Raman-shift axis, counts*cm-1",
        }
    )
    if found is not None:
        result.attrs["autostart"] = found.to_json()
        result.attrs["autostart_summary"] = found.summary()
    add_history(
        result.attrs,
        "decompose",
        preset=result.attrs["preset"],
        backend=be.name,
        weights=weights if isinstance(weights, str) else "array",
        batch_size=engine.batch_size,
        max_iter=max_iter,
    )
    return result


def fitted_components(results: xr.Dataset, data: xr.Dataset, **sel) -> xr.Dataset:
    """The fitted spectrum of every term (and their sum and the residual) at the pixels ``sel``.

    Parameters
    ----------
    results : xarray.Dataset
        What ``decompose`` returned for ``data`` (its ``attrs["model"]`` and parameter variables,
        named by ``hyperspec.fit.results.param_output_name``).
    data : xarray.Dataset
        The map that was decomposed.
    **sel
        Pixels by index (e.g. ``y=10, x=20``, or slices); default all.

    Returns
    -------
    xarray.Dataset
        One variable per term, ``model`` (their sum), ``data`` and ``residual`` (NaN in the mask), on
        the selected pixels × ``spectral``, in counts.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec.model import from_array
    >>> shift = np.linspace(100.0, 900.0, 401)
    >>> ds = from_array((5.0 + 200.0 * 8.0**2 / ((shift - 520.0) ** 2 + 8.0**2))[None, None, :], shift, laser_nm=633.0)
    >>> model = {"si": {"shape": "lorentzian", "init": {"center": 510.0, "hwhm": 5.0}}, "base": {"shape": "polynomial0"}}
    >>> comps = fitted_components(decompose(ds, model=model, backend="numpy"), ds, y=0, x=0)
    >>> sorted(comps.data_vars), float(abs(comps["residual"]).max()) < 1e-3
    (['base', 'data', 'model', 'residual', 'si'], True)
    """
    spec = json.loads(results.attrs["model"])
    sub_res = results.isel(**sel) if sel else results
    sub_data = data.isel(**sel) if sel else data
    shift = shift_axis(data)
    energy = np.asarray(data["energy"].values, dtype=np.float64) if "energy" in data.coords else None
    model = CompositeModel(spec["terms"], shift, energy)
    lead = [d for d in sub_res["status"].dims]
    stacked = sub_res.stack(_pix=lead) if lead else sub_res.expand_dims("_pix")
    p = np.empty((stacked.sizes["_pix"], model.n_free))
    for term in model.terms:
        for param, (kind, idx) in zip(term.component.params, term.slots, strict=True):
            if kind == "free":
                values = np.asarray(stacked[param_output_name(term.name, param)].values, dtype=np.float64)
                # unidentified shape parameters (NaN) belong to zero-amplitude bands: any value gives 0
                p[:, idx] = np.where(np.isfinite(values), values, model.init[idx])
    comps = model.components(p)
    spectra = sub_data["spectra"]
    y = np.asarray(
        (spectra.stack(_pix=lead) if lead else spectra.expand_dims("_pix")).transpose("_pix", SPECTRAL_DIM).values, dtype=np.float64
    )
    out = xr.Dataset({name: (("_pix", SPECTRAL_DIM), v) for name, v in comps.items()})
    out["model"] = (("_pix", SPECTRAL_DIM), sum(comps.values()))
    out["data"] = (("_pix", SPECTRAL_DIM), y)
    excluded = np.zeros(shift.size, dtype=bool)
    for lo, hi in spec.get("mask", []):
        excluded |= (shift >= lo) & (shift <= hi)
    out["residual"] = (out["data"] - out["model"]).where(~xr.DataArray(excluded, dims=SPECTRAL_DIM))  # NaN where not fitted
    out = out.assign_coords(_pix=stacked["_pix"]) if lead else out
    out = out.unstack("_pix") if lead else out.isel(_pix=0)
    out = out.assign_coords(shift=(SPECTRAL_DIM, shift))
    return out.transpose(*lead, SPECTRAL_DIM)
