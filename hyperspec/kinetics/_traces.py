"""Checks and the batched apply shared by every kinetics function (NumPy/CuPy through ``xp``, lazy on Dask).

A *trace* is an ``xarray.DataArray`` with a series dim (``t`` in s, ``power`` in mW, …) whose coordinate
holds the series values; every other dim is a pixel dim. :func:`series_axis` validates the series
coordinate (present, numeric, finite, strictly increasing, uniform where the method needs it, long
enough) with errors that name the trace, the dim and the fix; :func:`apply_series` runs a batched kernel
over all pixels at once — the whole array in memory, or chunk by chunk on Dask with the series dim in
one chunk — and returns one DataArray per kernel output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, get_namespace, on_device, resolve_backend, to_numpy
from hyperspec._errors import DataModelError

__all__ = ["series_axis", "uniform_step", "apply_series", "resample", "trace_name"]

#: Relative tolerance on the spread of the steps of a "uniform" series coordinate.
UNIFORM_RTOL = 1e-3


def trace_name(trace) -> str:
    """How a trace is named in messages: ``'aspl_area'`` or ``'the trace'``.

    Parameters
    ----------
    trace : xarray.DataArray
        Any DataArray.

    Returns
    -------
    str
        The quoted name, or ``"the trace"`` for an unnamed one.

    Examples
    --------
    >>> import xarray as xr
    >>> trace_name(xr.DataArray([1.0], name="aspl_area")), trace_name(xr.DataArray([1.0]))
    ("'aspl_area'", 'the trace')
    """
    name = getattr(trace, "name", None)
    return f"{name!r}" if name is not None else "the trace"


def series_axis(trace, dim: str, *, func: str, uniform: bool = True, min_points: int = 3, units: str = "s") -> np.ndarray:
    """Validate ``trace``'s series dim and return its coordinate (float64, host).

    Parameters
    ----------
    trace : xarray.DataArray
        The trace (e.g. ``results["aspl_area"]`` of a kinetic map).
    dim : str
        The series dim (``"t"``, ``"power"``, …).
    func : str
        The calling function's name, used in messages (e.g. ``"kinetics.periods"``).
    uniform : bool, optional
        Require equal steps (within ``UNIFORM_RTOL``); FFT-based methods need them. Default True.
    min_points : int, optional
        The fewest points along ``dim`` the method can use. Default 3.
    units : str, optional
        The coordinate's expected units, for messages only (``"s"`` for time). Default ``"s"``.

    Returns
    -------
    numpy.ndarray
        The coordinate values, float64, strictly increasing.

    Raises
    ------
    hyperspec.DataModelError
        Not a DataArray; ``dim`` missing (the dims are listed); no coordinate on ``dim`` (how to add
        one); a non-numeric, non-finite or not strictly increasing coordinate; unequal steps where
        ``uniform`` (how to resample); fewer than ``min_points`` points.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> tr = xr.DataArray(np.zeros((4, 2)), dims=("t", "x"), coords={"t": [0.0, 0.2, 0.4, 0.6]})
    >>> series_axis(tr, "t", func="demo").tolist()
    [0.0, 0.2, 0.4, 0.6]
    """
    name = trace_name(trace)
    if not isinstance(trace, xr.DataArray):
        raise DataModelError(
            f"{func}: expected an xarray.DataArray (e.g. results['aspl_area']); got {type(trace).__name__}. "
            "Wrap a NumPy array with xarray.DataArray(values, dims=(..., 't'), coords={'t': times_s})."
        )
    if dim not in trace.dims:
        raise DataModelError(f"{func}: {name} has no dim {dim!r} (its dims are {list(trace.dims)}); pass dim=<the series dim>.")
    if dim not in trace.coords:
        raise DataModelError(
            f"{func}: {name} has a {dim!r} dim but no {dim!r} coordinate in {units}; add one, e.g. "
            f"trace.assign_coords({dim}=np.arange(trace.sizes[{dim!r}]) * frame_s)."
        )
    values = trace[dim].values
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise DataModelError(f"{func}: the {dim!r} coordinate of {name} must be real numbers in {units}; got dtype {values.dtype}.")
    coord = np.asarray(values, dtype=np.float64)
    n = coord.size
    if n < min_points:
        raise DataModelError(f"{func}: {name} has {n} points along {dim!r}; this method needs at least {min_points}.")
    if not np.all(np.isfinite(coord)):
        raise DataModelError(f"{func}: the {dim!r} coordinate of {name} has NaN or inf values; drop or fix those points.")
    steps = np.diff(coord)
    if np.any(steps <= 0):
        i = int(np.flatnonzero(steps <= 0)[0])
        raise DataModelError(
            f"{func}: the {dim!r} coordinate of {name} is not strictly increasing (index {i}: {coord[i]:g} → {coord[i + 1]:g}); "
            f"sort it with trace.sortby({dim!r}) and merge duplicates."
        )
    if uniform:
        median = float(np.median(steps))
        spread = float(np.max(np.abs(steps - median)))
        if spread > UNIFORM_RTOL * median:
            raise DataModelError(
                f"{func}: the {dim!r} steps of {name} are not uniform (median {median:g} {units}, off by up to {spread:g} {units}); "
                f"resample first: hyperspec.kinetics.resample(trace, {dim!r}, step={median:g})."
            )
    return coord


def uniform_step(coord: np.ndarray) -> float:
    """The step of a uniform coordinate (its mean step, robust to rounding of the values).

    Parameters
    ----------
    coord : numpy.ndarray
        A coordinate that passed :func:`series_axis` with ``uniform=True``.

    Returns
    -------
    float
        ``(coord[-1] - coord[0]) / (n - 1)``, in the coordinate's units.

    Examples
    --------
    >>> uniform_step(np.array([0.0, 0.2, 0.4]))
    0.2
    """
    return float((coord[-1] - coord[0]) / (coord.size - 1))


def resample(trace: xr.DataArray, dim: str = "t", *, step: float | None = None) -> xr.DataArray:
    """A trace linearly interpolated onto a uniform series coordinate (for non-uniform time steps).

    Parameters
    ----------
    trace : xarray.DataArray
        The trace; its ``dim`` coordinate must be numeric and strictly increasing.
    dim : str, optional
        The series dim. Default ``"t"``.
    step : float, optional
        The new step, in the coordinate's units (s for time). Default: the median step.

    Returns
    -------
    xarray.DataArray
        The trace on ``coord[0], coord[0] + step, …`` up to the last original point.

    Raises
    ------
    hyperspec.DataModelError
        As :func:`series_axis` (without the uniformity test), or a step that is not positive.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> tr = xr.DataArray([0.0, 1.0, 3.0], dims="t", coords={"t": [0.0, 1.0, 3.0]})
    >>> resample(tr, "t", step=1.0).values.tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    coord = series_axis(trace, dim, func="kinetics.resample", uniform=False, min_points=2)
    step = float(np.median(np.diff(coord))) if step is None else step
    if not (isinstance(step, (int, float)) and np.isfinite(step) and step > 0):
        raise DataModelError(f"kinetics.resample: `step` must be a positive number in the {dim!r} coordinate's units; got {step!r}.")
    n = int(np.floor((coord[-1] - coord[0]) / step * (1 + 1e-12))) + 1
    new = coord[0] + step * np.arange(n)
    out = trace.interp({dim: new})
    out[dim].attrs = dict(trace[dim].attrs)
    return out


def apply_series(
    kernel: Callable,
    trace: xr.DataArray,
    dim: str,
    outputs: Sequence[tuple[str, Sequence[str], dict[str, int]]],
    *,
    others: Sequence[xr.DataArray] = (),
    backend: str | Backend | None = None,
) -> list[xr.DataArray]:
    """Run ``kernel`` over every pixel of ``trace`` at once; one DataArray per declared output.

    Parameters
    ----------
    kernel : callable
        ``kernel(xp, block, *other_blocks)`` with ``block`` of shape (..., T) — the series dim last, the
        pixel dims leading (the whole array in memory, one chunk on Dask) — on ``xp`` (NumPy or CuPy),
        returning a tuple with one array per output, each shaped ``(..., *core)``.
    trace : xarray.DataArray
        The trace (its series dim may be chunked: it is joined into one chunk).
    dim : str
        The series dim (the core input dim).
    outputs : sequence of (name, core_dims, core_sizes)
        Each output's name, its new core dims (``()`` for one value per pixel) and their sizes.
    others : sequence of xarray.DataArray or (xarray.DataArray, core_dims), optional
        Further inputs, broadcast against ``trace``'s pixel dims: a DataArray has the series dim as its
        core dim (e.g. the second trace of a cross-correlation, or per-point weights); a pair names
        other core dims (e.g. per-pixel start values on ``("param",)``), passed last in the block.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where the kernel runs. Default None: ``$HYPERSPEC_BACKEND``, else ``"auto"`` (CuPy when a GPU is
        usable), resolved once by ``resolve_backend``. On CuPy, host blocks move to the GPU and the results
        come back to the host; a CuPy-backed trace runs on the device whatever the backend.

    Returns
    -------
    list of xarray.DataArray
        float64 (or the kernel's dtype) outputs on the trace's pixel dims plus each output's core dims;
        lazy when the trace is.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> tr = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("x", "t"), coords={"t": [0.0, 1.0, 2.0]})
    >>> (mean,) = apply_series(lambda xp, b: (b.mean(-1),), tr, "t", [("mean", (), {})])
    >>> mean.dims, mean.values.tolist()
    (('x',), [1.0, 4.0])
    """
    be = resolve_backend(backend)

    def run(*blocks):
        host = not any(on_device(b) for b in blocks)
        if be.on_gpu and host:
            blocks = tuple(be.xp.asarray(b) for b in blocks)
        xp = get_namespace(*blocks)
        result = kernel(xp, *blocks)
        if host:
            result = tuple(to_numpy(r) for r in result)
        return result if len(outputs) > 1 else result[0]

    arrays, core_dims = [trace], [[dim]]
    for other in others:
        array, core = (other, [dim]) if isinstance(other, xr.DataArray) else (other[0], list(other[1]))
        arrays.append(array)
        core_dims.append(core)
    if any(a.chunks is not None for a in arrays):
        arrays = [a.chunk(dict.fromkeys(core, -1)) if a.chunks is not None else a for a, core in zip(arrays, core_dims, strict=True)]
    sizes: dict[str, int] = {}
    for _, _, core_sizes in outputs:
        sizes.update(core_sizes)
    out = xr.apply_ufunc(
        run,
        *arrays,
        input_core_dims=core_dims,
        output_core_dims=[list(core) for _, core, _ in outputs],
        dask="parallelized",
        output_dtypes=[np.float64] * len(outputs),
        dask_gufunc_kwargs={"output_sizes": sizes, "allow_rechunk": True} if sizes else {"allow_rechunk": True},
        vectorize=False,
    )
    out = list(out) if len(outputs) > 1 else [out]
    return [o.rename(name) for o, (name, _, _) in zip(out, outputs, strict=True)]
