"""Pump-power dependence per pixel: ``I = amplitude · Pᵏ`` fitted in linear space with the batched LM engine.

A log–log straight line (``np.polyfit(log P, log I, 1)``) is biased at low counts (the log of a Poisson
count is biased low, zeros cannot be taken at all, and the low-power points get the same weight as the
high ones). :func:`power_law` instead fits ``amplitude · Pᵏ`` to the intensities themselves with
:func:`hyperspec.fit.curves.fit_curves` (the registered ``power_law`` model), weighted by the trace's
standard errors or, for counts, by Poisson weights taken from the *model* (iteratively re-weighted
least squares, which converges to the Poisson maximum-likelihood estimate) rather than from the data.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hyperspec._backend import Backend
from hyperspec._errors import DataModelError
from hyperspec.fit.curves import CURVE_STATUS_MEANINGS, fit_curves
from hyperspec.fit.results import FLAT
from hyperspec.kinetics._traces import series_axis, trace_name

__all__ = ["power_law", "POWER_STATUS_MEANINGS"]

#: Status codes of :func:`power_law`: the engine's ``FitStatus`` codes and ``FLAT`` (7, not fitted).
POWER_STATUS_MEANINGS = {**CURVE_STATUS_MEANINGS, FLAT: "flat"}

_FUNC = "kinetics.power_law"
#: The fewest finite points a power law needs (two parameters and one degree of freedom).
MIN_POINTS = 3


def _flat(trace: xr.DataArray, dim: str) -> xr.DataArray:
    """True where every finite point of a pixel has the same value (a dead pixel or a constant)."""
    hi = trace.max(dim, skipna=True)
    lo = trace.min(dim, skipna=True)
    scale = np.abs(trace).max(dim, skipna=True)
    return (hi - lo) <= 1e-12 * scale


def power_law(
    trace: xr.DataArray,
    dim: str = "power",
    *,
    stderr: xr.DataArray | None = None,
    weights: str | xr.DataArray = "auto",
    absolute_weights: bool | None = None,
    n_reweight: int = 4,
    backend: str | Backend | None = None,
) -> xr.Dataset:
    """Fit ``I = amplitude · Pᵏ`` to every pixel of ``trace`` along ``dim`` (weighted, in linear space).

    Parameters
    ----------
    trace : xarray.DataArray
        Intensities (counts, or band areas in counts·cm⁻¹) with the power dim ``dim`` — its coordinate
        the pump powers, mW, all > 0 — and any pixel dims; NaN/inf points are ignored and counted.
        Lazy (Dask) input gives lazy output.
    dim : str, optional
        The power dim. Default ``"power"``.
    stderr : xarray.DataArray, optional
        Standard errors of ``trace`` (same units, broadcastable), e.g. ``results["aspl_area_stderr"]``
        of ``decompose``; points whose stderr is NaN, inf or ≤ 0 are ignored.
    weights : {"auto", "poisson", "uniform"} or xarray.DataArray, optional
        ``"auto"`` (default): 1/stderr² when ``stderr`` is given, else ``"poisson"``. ``"poisson"``:
        variance ∝ the fitted intensity, re-weighted from the model ``n_reweight`` times (not from the
        data, which biases k at low counts). ``"uniform"``: equal weights. A DataArray: weights 1/σ²
        (units 1/trace²).
    absolute_weights : bool, optional
        True: the weights are exact 1/σ² (standard errors not rescaled by χ²_red); False: relative weights
        (standard errors scaled by √χ²_red). Default None: with ``stderr``, exact but widened by
        √max(χ²_red, 1) (a misfit widens the errors, a small χ²_red never narrows them); otherwise False.
        Pass True for raw photon counts, whose Poisson variance is known.
    n_reweight : int, optional
        Re-weighting passes of the ``"poisson"`` weights (each one LM fit). Default 4.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where the numerics run. Default None: ``$HYPERSPEC_BACKEND``, else ``"auto"`` (CuPy when a GPU is usable);
        CuPy-backed data stay on the device.

    Returns
    -------
    xarray.Dataset
        On the pixel dims: ``k`` (dimensionless) and ``k_stderr``, ``amplitude`` (the trace's units at
        P = 1 mW) and ``amplitude_stderr``, ``chi2_red`` (weighted), ``status`` (int8: the engine's codes,
        0 converged, and 7 ``flat`` — a constant trace, not fitted; CF ``flag_values``/``flag_meanings``),
        ``n_points`` (points used) and ``n_masked`` (NaN/inf points ignored).

    Raises
    ------
    hyperspec.DataModelError
        ``trace`` is not a DataArray, lacks ``dim`` or its coordinate, the powers are not finite, not
        strictly increasing or not all > 0, or there are fewer than 3 powers.
    ValueError
        An unknown ``weights``, a ``stderr`` that is not a DataArray, or a bad ``n_reweight``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> p = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    >>> tr = xr.DataArray([200.0 * p, 50.0 * p**2], dims=("x", "power"), coords={"power": p})
    >>> res = power_law(tr)
    >>> res["k"].values.round(4).tolist(), res["status"].values.tolist()
    ([1.0, 2.0], [0, 0])
    """
    coord = series_axis(trace, dim, func=_FUNC, uniform=False, min_points=MIN_POINTS, units="mW")
    name = trace_name(trace)
    if np.any(coord <= 0):
        raise DataModelError(
            f"{_FUNC}: the {dim!r} coordinate of {name} must be positive pump powers in mW (a power law needs P > 0); "
            f"got {coord.min():g}. Drop the zero-power points, e.g. trace.where(trace[{dim!r}] > 0, drop=True)."
        )
    if not isinstance(n_reweight, int) or n_reweight < 0:
        raise ValueError(f"{_FUNC}: `n_reweight` must be an int ≥ 0; got {n_reweight!r}.")
    if stderr is not None and not isinstance(stderr, xr.DataArray):
        raise ValueError(f"{_FUNC}: `stderr` must be an xarray.DataArray like the trace (e.g. results['aspl_area_stderr']).")
    if isinstance(weights, str):
        if weights not in ("auto", "poisson", "uniform"):
            raise ValueError(f"{_FUNC}: `weights` must be 'auto', 'poisson', 'uniform' or a DataArray of 1/σ²; got {weights!r}.")
        mode = ("stderr" if stderr is not None else "poisson") if weights == "auto" else weights
    elif isinstance(weights, xr.DataArray):
        mode = "given"
    else:
        raise ValueError(f"{_FUNC}: `weights` must be 'auto', 'poisson', 'uniform' or a DataArray of 1/σ²; got {type(weights).__name__}.")
    if mode == "stderr" and stderr is None:
        raise ValueError(f"{_FUNC}: weights='stderr' needs `stderr`.")
    inflate = absolute_weights is None and mode == "stderr"
    if absolute_weights is None:
        absolute_weights = mode == "stderr"
    trace = trace.astype(np.float64)
    flat = _flat(trace, dim)
    n_finite = np.isfinite(trace).sum(dim)
    trace = trace.where(~flat)  # constant (dead) pixels are not fitted: status flat

    def fit(w, p0=None, absolute=absolute_weights):
        return fit_curves(trace, "power_law", dim, weights=w, absolute_weights=absolute, p0=p0, backend=backend)

    if mode == "stderr":
        s = stderr.astype(np.float64)
        w = xr.where(np.isfinite(s) & (s > 0), 1.0 / s**2, 0.0)
        res = fit(w)
    elif mode == "given":
        res = fit(weights)
    elif mode == "uniform":
        res = fit(None)
    else:
        # start: data weights with a floor (start values only), then weights from the model
        floor = 0.05 * np.abs(trace).max(dim, skipna=True)
        res = fit(1.0 / np.maximum(np.abs(trace), np.maximum(floor, 1e-300)), absolute=False)
        for _ in range(n_reweight):
            mu = res["amplitude"] * trace[dim] ** res["k"]
            mu_floor = 1e-6 * np.abs(mu).max(dim)
            w = 1.0 / np.maximum(np.abs(mu), np.maximum(mu_floor, 1e-300))
            w = w.fillna(0.0).transpose(*trace.dims)
            res = fit(w, p0={"amplitude": res["amplitude"].fillna(1.0), "k": res["k"].fillna(1.0)})
    if inflate:
        # the given errors set the weights; a misfit (χ²_red > 1) widens the errors, never narrows them
        scale = np.sqrt(np.maximum(res["chi2_red"].fillna(1.0), 1.0))
        res["k_stderr"] = res["k_stderr"] * scale
        res["amplitude_stderr"] = res["amplitude_stderr"] * scale
    out = xr.Dataset()
    for var in ("k", "k_stderr", "amplitude", "amplitude_stderr", "chi2_red"):
        out[var] = res[var].where(~flat)
        out[var].attrs = dict(res[var].attrs)
    out["k"].attrs.update(units="1", long_name="power-law exponent k (I ∝ P^k)")
    out["amplitude"].attrs.update(units=trace.attrs.get("units", "trace units") + " at 1 mW", long_name="power-law amplitude")
    status = xr.where(flat, np.int8(FLAT), res["status"]).astype(np.int8)
    out["status"] = status.assign_attrs(
        long_name="power-law fit status",
        flag_values=np.array(sorted(POWER_STATUS_MEANINGS), dtype=np.int8),
        flag_meanings=" ".join(POWER_STATUS_MEANINGS[k] for k in sorted(POWER_STATUS_MEANINGS)),
    )
    out["n_points"] = xr.where(flat, n_finite, res["n_points"]).astype(np.int32).assign_attrs(res["n_points"].attrs)
    out["n_masked"] = (trace.sizes[dim] - out["n_points"]).astype(np.int32).assign_attrs(long_name=f"NaN/inf points along {dim!r} ignored")
    out.attrs = {
        "model": "power_law",
        "equation": "I = amplitude · P^k",
        "dim": dim,
        "weights": mode if mode != "poisson" else f"poisson (from the model, {n_reweight} re-weightings)",
        "absolute_weights": int(bool(absolute_weights)),
        "stderr_widened_by_chi2": int(inflate),
    }
    return out
