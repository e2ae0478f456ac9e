"""Quick-look band maps: baseline-corrected window integrals, batched over pixels through ``xp``.

This is what instrument software calls "signal-to-baseline integration": for each band a
Raman-shift window, a straight baseline through the mean of the first and last ``edge``
channels of the window, and the trapezoid integral of what lies above it. The notch channels
(|Δν̃| < ``notch_cm``) are left out. It is fast and model-free, but overlapping bands leak
into each other; the band decomposition (``hyperspec.decompose``) separates them properly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, get_namespace, resolve_backend, to_numpy
from hyperspec._errors import DataModelError
from hyperspec.model import HISTORY_RECORDS_ATTR, add_history, map_spectra, shift_axis, validate_map

__all__ = [
    "DEFAULT_WINDOWS",
    "window_integrals",
    "integrate_windows_array",
    "QUICKLOOK_GROUP",
    "quicklook",
    "quicklook_array",
    "quicklook_attrs",
    "quicklook_names",
    "quicklook_windows",
]

#: Band windows in Raman shift (cm⁻¹), DOMAIN.md §3 defaults: band name → (low, high).
DEFAULT_WINDOWS: dict[str, tuple[float, float]] = {
    "aspl": (-4500.0, -1500.0),
    "lers": (-300.0, 300.0),
    "hers": (600.0, 3500.0),
}


def _window_slices(shift: np.ndarray, windows: Mapping[str, tuple[float, float]]) -> dict[str, slice]:
    out = {}
    for name, win in windows.items():
        try:
            lo, hi = (float(v) for v in win)
        except (TypeError, ValueError):
            raise DataModelError(f"window {name!r} must be a pair (low, high) in cm⁻¹; got {win!r}.") from None
        if not lo < hi:
            raise DataModelError(f"window {name!r} = {win!r}: the low edge must be below the high edge.")
        i0, i1 = np.searchsorted(shift, lo, "left"), np.searchsorted(shift, hi, "right")
        if i1 - i0 < 4:
            raise DataModelError(
                f"window {name!r} = ({lo:g}, {hi:g}) cm⁻¹ holds {i1 - i0} channels of the axis "
                f"({shift[0]:.1f} … {shift[-1]:.1f} cm⁻¹); it needs at least 4. Widen it or drop it."
            )
        out[name] = slice(int(i0), int(i1))
    return out


def integrate_windows_array(spectra, shift, energy, windows: Mapping[str, tuple[float, float]], *, edge: int = 3, notch_cm: float = 10.0):
    """Integrate baseline-corrected windows of every spectrum; the array core of ``window_integrals``.

    For each window: a straight baseline through the means of its first and last ``edge`` channels,
    and the trapezoid integral of what lies above it, leaving out the notch channels. Batched over
    the rows through ``xp`` (NumPy or CuPy, following ``spectra``).

    Parameters
    ----------
    spectra : array, shape (n, N)
        Spectra (counts), one row per pixel.
    shift : array, shape (N,)
        Raman-shift axis, cm⁻¹, ascending, on the same device as ``spectra``.
    energy : array, shape (N,)
        Photon-energy axis, eV, on the same device (used for the ``aspl`` centroid).
    windows : mapping of str to (float, float)
        Band name → (low, high) Raman-shift range, cm⁻¹; each must hold at least 4 channels.
    edge : int, optional
        Channels averaged at each end of a window for its baseline (at most a quarter of the
        window's channels, at least 1). Default is 3.
    notch_cm : float, optional
        Channels with |shift| < ``notch_cm`` (cm⁻¹) are left out of the integrals. Default is 10.

    Returns
    -------
    array, shape (n, len(windows) + 1)
        float64: one area per window (counts·cm⁻¹), in the order of ``windows``, then the aS-PL
        centroid energy (eV) of the positive signal in the ``aspl`` window; the centroid is NaN when
        there is no ``aspl`` window or no positive signal in it.

    Raises
    ------
    DataModelError
        If a window is not a pair of numbers, its low edge is not below its high edge, or it holds
        fewer than 4 channels.

    Examples
    --------
    A triangle 40 cm⁻¹ wide and 10 counts high on a flat background of 5 counts:

    >>> import numpy as np
    >>> shift = np.linspace(0.0, 100.0, 11)
    >>> y = 5.0 + np.interp(shift, [0.0, 30.0, 50.0, 70.0, 100.0], [0.0, 0.0, 10.0, 0.0, 0.0])
    >>> energy = np.linspace(1.96, 1.95, 11)
    >>> integrate_windows_array(y[None, :], shift, energy, {"band": (0.0, 100.0)})
    array([[200.,  nan]])
    """
    xp = get_namespace(spectra)
    slices = _window_slices(to_numpy(shift), windows)
    spectra = xp.asarray(spectra, dtype=xp.float64)
    outs = []
    centroid = xp.full(spectra.shape[0], xp.nan)
    for name, sl in slices.items():
        y = spectra[:, sl]
        x = shift[sl]
        e = min(edge, max(1, (sl.stop - sl.start) // 4))
        y0, y1 = y[:, :e].mean(axis=1), y[:, -e:].mean(axis=1)
        x0, x1 = x[:e].mean(), x[-e:].mean()
        base = y0[:, None] + (y1 - y0)[:, None] * ((x - x0) / (x1 - x0))[None, :]
        above = (y - base) * (xp.abs(x) >= notch_cm)[None, :]
        outs.append(xp.sum(0.5 * (above[:, 1:] + above[:, :-1]) * xp.diff(x)[None, :], axis=1))
        if name == "aspl":
            w = xp.clip(above, 0.0, None)
            total = w.sum(axis=1)
            centroid = xp.where(total > 0, (w * energy[sl][None, :]).sum(axis=1) / xp.where(total > 0, total, 1.0), xp.nan)
    return xp.stack(outs + [centroid], axis=1)


def window_integrals(
    ds: xr.Dataset,
    windows: Mapping[str, tuple[float, float]] | None = None,
    *,
    edge: int = 3,
    notch_cm: float = 10.0,
    backend: str | Backend | None = None,
) -> xr.Dataset:
    """Quick-look band maps of a map Dataset: ``<band>_window_area`` (counts·cm⁻¹) and ``aspl_centroid_ev``.

    Lazy for dask-backed maps (computed chunk by chunk). Any leading dims are kept. See
    ``integrate_windows_array`` for the arithmetic.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset with a known laser (it needs the ``shift`` and ``energy`` coordinates).
    windows : mapping of str to (float, float), optional
        Band name → (low, high) Raman-shift range, cm⁻¹, each holding at least 4 channels. Default is
        ``DEFAULT_WINDOWS`` (aS-PL −4500…−1500, l-ERS −300…300, h-ERS 600…3500 cm⁻¹).
    edge : int, optional
        Channels averaged at each end of a window for its straight baseline. Default is 3.
    notch_cm : float, optional
        Channels with |shift| < ``notch_cm`` (cm⁻¹) are left out. Default is 10.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where to compute (see ``hyperspec.resolve_backend``). Default: ``$HYPERSPEC_BACKEND``, else auto.

    Returns
    -------
    xarray.Dataset
        ``<band>_window_area`` for each window (units ``counts*cm-1``) and ``aspl_centroid_ev`` (eV;
        NaN without an ``aspl`` window or positive signal in it), on the map's leading dims; attrs
        ``laser_nm``, ``source``, ``history``, ``instrument``, ``sample`` (where present), ``backend``
        and a ``window_integrals`` history record.

    Raises
    ------
    DataModelError
        If ``ds`` is not a valid map or a window is malformed or holds fewer than 4 channels.
    AxisError
        If the map has no Raman-shift axis (unknown laser).
    BackendError
        If ``backend`` is unknown or unusable.

    See Also
    --------
    hyperspec.decompose : separates overlapping bands properly.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> shift = np.arange(-4600.0, 3600.0, 10.0)
    >>> band = 100.0 * np.exp(-0.5 * ((shift - 1800.0) / 100.0) ** 2)  # area 100·100·√(2π) counts·cm⁻¹
    >>> ds = hyperspec.from_array(np.stack([band, 2 * band]) + 10.0, shift, laser_nm=632.8)
    >>> maps = window_integrals(ds, backend="numpy")
    >>> list(maps.data_vars)
    ['aspl_window_area', 'lers_window_area', 'hers_window_area', 'aspl_centroid_ev']
    >>> np.round(maps["hers_window_area"].values), maps["hers_window_area"].attrs["units"]
    (array([25066., 50133.]), 'counts*cm-1')
    """
    validate_map(ds)
    windows = dict(DEFAULT_WINDOWS if windows is None else windows)
    shift = shift_axis(ds)
    _window_slices(shift, windows)  # validate up front, before any work
    energy = np.asarray(ds["energy"].values, dtype=np.float64)
    be = resolve_backend(backend)
    xp = be.xp
    n_out = len(windows) + 1

    def block(arr):
        lead = arr.shape[:-1]
        flat = xp.asarray(arr.reshape(-1, arr.shape[-1]))
        res = integrate_windows_array(flat, xp.asarray(shift), xp.asarray(energy), windows, edge=edge, notch_cm=notch_cm)
        return to_numpy(res).reshape(*lead, n_out)

    out = map_spectra(block, ds["spectra"], n_out)
    names = [f"{b}_window_area" for b in windows] + ["aspl_centroid_ev"]
    result = xr.Dataset({n: out.isel(quantity=i, drop=True) for i, n in enumerate(names)})
    for n in names[:-1]:
        result[n].attrs = {"units": "counts*cm-1", "long_name": f"{n.split('_')[0]} window integral above a linear baseline"}
    result["aspl_centroid_ev"].attrs = {"units": "eV", "long_name": "aS-PL centroid energy"}
    kept = ("laser_nm", "source", "history", HISTORY_RECORDS_ATTR, "instrument", "sample")
    result.attrs = {k: v for k, v in ds.attrs.items() if k in kept}
    result.attrs["backend"] = be.name
    add_history(
        result.attrs, "window_integrals", windows={k: list(v) for k, v in windows.items()}, edge=edge, notch_cm=notch_cm, backend=be.name
    )
    return result


#: Name of the store sub-group holding a map's quick-look images (written with the map: ``hyperspec.save``, ``synthetic.write``).
QUICKLOOK_GROUP = "quicklook"


def quicklook_windows(shift) -> dict[str, tuple[float, float]]:
    """The ``DEFAULT_WINDOWS`` that hold at least 4 channels of a Raman-shift axis (none without an axis).

    Parameters
    ----------
    shift : array-like of float or None
        The map's Raman-shift axis, cm⁻¹ (``None`` when the laser is unknown).

    Returns
    -------
    dict of str to (float, float)
        Band name → (low, high), cm⁻¹, in the order of ``DEFAULT_WINDOWS``.

    Examples
    --------
    >>> import numpy as np
    >>> list(quicklook_windows(np.arange(-500.0, 3600.0, 10.0)))
    ['lers', 'hers']
    >>> quicklook_windows(None)
    {}
    """
    if shift is None:
        return {}
    shift = np.asarray(shift, dtype=np.float64)
    out = {}
    for name, (lo, hi) in DEFAULT_WINDOWS.items():
        if np.searchsorted(shift, hi, "right") - np.searchsorted(shift, lo, "left") >= 4:
            out[name] = (lo, hi)
    return out


def quicklook_names(windows: Mapping[str, tuple[float, float]]) -> list[str]:
    """Variable names of a quick-look with these windows: ``total_counts``, ``max_counts``, ``<band>_window_area``.

    Parameters
    ----------
    windows : mapping of str to (float, float)
        As returned by ``quicklook_windows``.

    Returns
    -------
    list of str
        In the order of the columns of ``quicklook_array``.

    Examples
    --------
    >>> quicklook_names({"aspl": (-4500.0, -1500.0)})
    ['total_counts', 'max_counts', 'aspl_window_area']
    """
    return ["total_counts", "max_counts", *(f"{b}_window_area" for b in windows)]


def quicklook_attrs(windows: Mapping[str, tuple[float, float]]) -> dict[str, dict[str, str]]:
    """The ``units`` and ``long_name`` of each quick-look variable (as named by ``quicklook_names``).

    Parameters
    ----------
    windows : mapping of str to (float, float)
        As returned by ``quicklook_windows``.

    Returns
    -------
    dict of str to dict
        Variable name → attrs.

    Examples
    --------
    >>> quicklook_attrs({"hers": (600.0, 3500.0)})["hers_window_area"]["units"]
    'counts*cm-1'
    """
    out = {
        "total_counts": {"units": "counts", "long_name": "total counts (sum over the finite channels)"},
        "max_counts": {"units": "counts", "long_name": "peak counts (maximum over the channels)"},
    }
    for b in windows:
        out[f"{b}_window_area"] = {"units": "counts*cm-1", "long_name": f"{b} window integral above a linear baseline"}
    return out


def quicklook_array(spectra, shift, energy, windows: Mapping[str, tuple[float, float]]):
    """Quick-look values of every spectrum: total and peak counts and the window integrals.

    The array core of ``quicklook`` (and of the writers that store it), batched over rows through
    ``xp``. Non-finite channels are left out of the total and the maximum.

    Parameters
    ----------
    spectra : array, shape (n, N)
        Spectra (counts), one row per pixel.
    shift, energy : array, shape (N,) or None
        Raman-shift (cm⁻¹, ascending) and photon-energy (eV) axes; only used with ``windows``.
    windows : mapping of str to (float, float)
        Windows for ``integrate_windows_array`` (may be empty), e.g. from ``quicklook_windows``.

    Returns
    -------
    array, shape (n, 2 + len(windows))
        float64 columns as named by ``quicklook_names``: ``total_counts`` (sum over channels,
        counts), ``max_counts`` (counts; NaN for a spectrum without a finite channel) and one
        baseline-corrected window area per window (counts·cm⁻¹).

    Examples
    --------
    >>> import numpy as np
    >>> quicklook_array(np.array([[1.0, np.nan, 3.0]]), None, None, {})
    array([[4., 3.]])
    """
    xp = get_namespace(spectra)
    spectra = xp.asarray(spectra, dtype=xp.float64)
    finite = xp.isfinite(spectra)
    total = xp.where(finite, spectra, 0.0).sum(axis=1)
    peak = xp.where(finite.any(axis=1), xp.where(finite, spectra, -xp.inf).max(axis=1), xp.nan)
    cols = [total, peak]
    if windows:
        areas = integrate_windows_array(spectra, xp.asarray(shift), xp.asarray(energy), windows)
        cols.extend(areas[:, i] for i in range(len(windows)))
    return xp.stack(cols, axis=1)


def quicklook(ds: xr.Dataset, *, backend: str | Backend | None = None) -> xr.Dataset:
    """Quick-look images of a map: total counts, peak counts and the default band-window integrals.

    What a viewer shows first (napari-hyperspec's quick-look layers) and what ``hyperspec.save``
    stores with a map in the ``quicklook`` sub-group, computed in the same streaming pass, so a big
    map opens without reading its spectra again. Lazy for dask-backed maps.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset. Without a laser (no ``shift`` coordinate) only the counts are computed.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Where to compute (see ``hyperspec.resolve_backend``). Default: ``$HYPERSPEC_BACKEND``, else auto.

    Returns
    -------
    xarray.Dataset
        On the map's leading dims: ``total_counts`` (counts, summed over the finite channels),
        ``max_counts`` (counts) and ``<band>_window_area`` (counts·cm⁻¹, as ``window_integrals``) for
        each of ``DEFAULT_WINDOWS`` that holds at least 4 channels; attrs ``windows`` (JSON) and
        ``laser_nm`` where known.

    Raises
    ------
    DataModelError
        If ``ds`` is not a valid map.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> shift = np.arange(-4600.0, 3600.0, 10.0)
    >>> ds = hyperspec.from_array(np.ones((2, 3, shift.size)), shift, laser_nm=632.8)
    >>> ql = quicklook(ds, backend="numpy")
    >>> list(ql.data_vars), float(ql["total_counts"][0, 0]), float(ql["hers_window_area"][0, 0])
    (['total_counts', 'max_counts', 'aspl_window_area', 'lers_window_area', 'hers_window_area'], 820.0, 0.0)
    """
    import json  # noqa: PLC0415

    validate_map(ds)
    shift = shift_axis(ds) if "shift" in ds.coords else None
    windows = quicklook_windows(shift)
    energy = None
    if windows:  # the energy axis only serves integrate_windows_array's centroid, not kept here
        energy = np.asarray(ds["energy"].values, dtype=np.float64) if "energy" in ds.coords else np.full(shift.size, np.nan)
    names = quicklook_names(windows)
    xp = resolve_backend(backend).xp

    def block(arr):
        lead = arr.shape[:-1]
        flat = xp.asarray(arr.reshape(-1, arr.shape[-1]))
        res = quicklook_array(flat, None if shift is None else xp.asarray(shift), None if energy is None else xp.asarray(energy), windows)
        return to_numpy(res).reshape(*lead, len(names))

    out = map_spectra(block, ds["spectra"], len(names))
    result = xr.Dataset({n: out.isel(quantity=i, drop=True) for i, n in enumerate(names)})
    for name, attrs in quicklook_attrs(windows).items():
        result[name].attrs = attrs
    result.attrs = {"windows": json.dumps({k: list(v) for k, v in windows.items()})}
    if "laser_nm" in ds.attrs:
        result.attrs["laser_nm"] = ds.attrs["laser_nm"]
    return result
