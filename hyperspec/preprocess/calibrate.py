"""Axis calibration, intensity normalisation, the notch mask, cropping and resampling.

- ``find_line(ds, expected)``: the fitted centre of a reference line (Lorentzian + linear
  background, batched Levenberg–Marquardt) and the offset that moves it to ``expected``;
  ``SILICON_CM = 520.7``; ``neon_lines_nm`` the neon lamp lines for wavelength checks;
- ``calibrate_wavelength(lamp)``: a wavelength-axis correction from a neon (or any) lamp spectrum and a
  line list (peaks found, matched, a polynomial fitted with outlier rejection, residuals reported);
  ``apply_wavelength_calibration(ds, cal)`` moves a map's axis with it;
- ``calibrate_shift(ds, offset)``: one offset for the map (the axis coordinates move; wavelength and
  energy follow, the laser stays), or one per frame (each frame resampled onto the common axis);
- ``normalise(ds, by=...)``: counts per second (exposure, accumulations) or per reference-band area;
- ``mask_notch``, ``crop``, ``resample`` (batched linear interpolation onto any axis, e.g. a
  common axis for files that disagree).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hyperspec import axes as _axes
from hyperspec._backend import get_namespace, host_to_like
from hyperspec._errors import AxisError
from hyperspec.model import (
    SPECTRAL_DIM,
    _coords_from_shift,
    _coords_from_wavelength,
    add_history,
    shift_axis,
    validate_map,
    wavelength_medium,
)

__all__ = [
    "SILICON_CM",
    "NEON_LINES_NM",
    "NEON_LINES_NIR_NM",
    "LINES_MEDIUM",
    "find_line",
    "calibrate_shift",
    "calibrate_wavelength",
    "apply_wavelength_calibration",
    "normalise",
    "mask_notch",
    "crop",
    "resample",
    "interp_rows",
]

#: The first-order silicon phonon at room temperature (cm⁻¹), the usual Raman shift reference.
SILICON_CM = 520.7
#: The medium of the lamp line lists below: standard air, as NIST ASD tabulates lines above 200 nm
#: (``calibrate_wavelength`` converts them when the lamp's axis is in vacuum).
LINES_MEDIUM = "air"
#: Strong neon lamp lines (nm, air), 585–754 nm: the range of 633 nm Stokes Raman spectrometers.
NEON_LINES_NM = (
    585.249, 588.190, 594.483, 597.553, 602.000, 607.434, 609.616, 614.306, 616.359, 621.728, 626.650,
    630.479, 633.443, 638.299, 640.225, 650.653, 653.288, 659.895, 667.828, 671.704, 692.947, 703.241,
    717.394, 724.517, 743.890, 747.244, 748.887, 753.577,
)  # fmt: skip
#: Strong Ne I lines (nm, air), 794–967 nm: the range of 785 nm Stokes Raman spectrometers (NIST ASD;
#: close pairs that blend at ≈0.1 nm/pixel, e.g. 878.375 and 886.531, are left out).
NEON_LINES_NIR_NM = (
    794.318, 808.246, 811.855, 813.641, 826.608, 830.033, 837.761, 841.843, 849.536, 859.126, 863.465,
    865.438, 878.062, 885.387, 891.950, 914.867, 920.176, 930.085, 932.651, 942.538, 953.416, 966.542,
)  # fmt: skip


def interp_rows(x_new, x, y):
    """Interpolate every row of ``y`` linearly from the ascending axis ``x`` onto ``x_new``.

    Batched through ``xp`` (NumPy or CuPy, following ``y``): one ``searchsorted`` serves all rows.

    Parameters
    ----------
    x_new : array-like, shape (k,)
        Where to evaluate, in the units of ``x`` (any order).
    x : array-like, shape (m,)
        Strictly ascending sample positions (m ≥ 2).
    y : array, shape (..., m)
        Values sampled at ``x`` along the last axis.

    Returns
    -------
    array, shape (..., k)
        The interpolated values; NaN where ``x_new`` lies outside [x[0], x[-1]].

    Examples
    --------
    >>> import numpy as np
    >>> interp_rows([0.5, 1.5, 3.0], [0.0, 1.0, 2.0], np.array([[0.0, 10.0, 20.0]]))
    array([[ 5., 15., nan]])
    """
    xp = get_namespace(y)
    x = xp.asarray(x, dtype=xp.float64)
    x_new = xp.asarray(x_new, dtype=xp.float64)
    j = xp.clip(xp.searchsorted(x, x_new) - 1, 0, x.size - 2)
    t = (x_new - x[j]) / (x[j + 1] - x[j])
    out = y[..., j] * (1.0 - t) + y[..., j + 1] * t
    outside = (x_new < x[0]) | (x_new > x[-1])
    return xp.where(outside, xp.nan, out)


def find_line(
    ds: xr.Dataset, expected: float = SILICON_CM, *, window: float = 20.0, search: float = 60.0, unit: str = "cm-1"
) -> xr.Dataset:
    """Fit the reference line near ``expected`` in every spectrum: pseudo-Voigt + linear background.

    The line is first located as the maximum (above a straight line between the ends) of the mean
    spectrum within ±``search`` of ``expected``; every pixel is then fitted (batched
    Levenberg–Marquardt) within ±``window`` around that maximum, so the result does not depend on
    how far off the axis is.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.
    expected : float, optional
        Where the line should be, in ``unit``. Default is ``SILICON_CM`` (520.7 cm⁻¹).
    window : float, optional
        Half-width of the fitted range around the line, in ``unit``; also the largest HWHM allowed.
        Default is 20.
    search : float, optional
        Half-width of the range around ``expected`` searched for the line, in ``unit``. Default is 60.
    unit : str, optional
        Axis to work on: ``"cm-1"`` (Raman shift), ``"nm"``, ``"eV"`` or ``"cm-1-abs"``. Default is
        ``"cm-1"``.

    Returns
    -------
    xarray.Dataset
        On the map's pixel grid: ``center``, ``center_stderr``, ``hwhm`` and ``offset``
        (= expected − center: add it to the axis), all in ``unit``, and ``status`` (``FitStatus``
        codes); attrs ``expected``, ``unit`` and the fitted ``window`` [low, high].

    Raises
    ------
    AxisError
        If fewer than 8 channels lie within ±``search`` of ``expected`` or within ±``window`` of the
        line, the unit is unknown, or the map lacks that axis (e.g. a Raman shift without a laser).
    DataModelError
        If ``ds`` is not a valid map.

    See Also
    --------
    calibrate_shift : applies the offset.

    Examples
    --------
    A silicon line measured at 518.7 cm⁻¹ on two pixels:

    >>> import numpy as np
    >>> import hyperspec
    >>> shift = np.arange(440.0, 601.0, 2.0)
    >>> noise = np.random.default_rng(0).normal(0.0, 1.0, (2, shift.size))
    >>> line = 1000.0 / (1 + ((shift - 518.7) / 3.0) ** 2) + 50.0 + noise
    >>> res = find_line(hyperspec.from_array(line, shift, laser_nm=532.0))
    >>> np.round(res["center"].values, 1), np.round(res["offset"].values, 1), res["status"].values
    (array([518.7, 518.7]), array([2., 2.]), array([0, 0], dtype=int8))
    """
    from hyperspec.fit.lm import levenberg_marquardt  # noqa: PLC0415

    validate_map(ds)
    axis = _axis_values(ds, unit)
    order = np.argsort(axis)
    if not np.array_equal(order, np.arange(axis.size)):  # energy descends on the canonical axis
        axis = axis[order]
    spectra = ds["spectra"]
    y_all = np.asarray(spectra.values, dtype=np.float64).reshape(-1, axis.size)[:, order]
    near = np.abs(axis - expected) <= search
    if near.sum() < 8:
        raise AxisError(
            f"only {int(near.sum())} channels within ±{search} {unit} of the reference line at {expected} {unit}; "
            f"the axis covers {axis.min():.1f}…{axis.max():.1f}. Check the unit and the laser, or widen `search`."
        )
    # one window for all pixels, centred on the mean spectrum's maximum
    mean = np.nanmean(y_all[:, near], axis=0)
    peak = axis[near][np.nanargmax(mean - np.linspace(mean[0], mean[-1], mean.size))]
    sel = np.flatnonzero(np.abs(axis - peak) <= window)
    if sel.size < 8:
        raise AxisError(f"only {sel.size} channels within ±{window} {unit} of the line at {peak:.1f} {unit}; widen `window`.")
    x = axis[sel]
    y = y_all[:, sel]
    bg0, bg1 = y[:, :3].mean(1), y[:, -3:].mean(1)
    slope = (bg1 - bg0) / (x[-1] - x[0])
    above = y - (bg0[:, None] + slope[:, None] * (x - x[0]))
    k = np.argmax(above, axis=1)
    step = float(np.median(np.diff(x)))
    p0 = np.stack([x[k], np.full(len(y), 2.0 * abs(step) + 1.0), above[np.arange(len(y)), k], np.full(len(y), 0.5), bg0, slope], axis=1)
    ln2 = np.log(2.0)

    def model(xx, p):
        c, g, h, eta, b0, b1 = (p[:, i : i + 1] for i in range(6))
        d2 = (xx - c) ** 2
        return h * (eta * g * g / (d2 + g * g) + (1 - eta) * np.exp(-ln2 * d2 / (g * g))) + b0 + b1 * (xx - xx[0])

    lo = [x[0], 0.1 * abs(step), 0.0, 0.0, -np.inf, -np.inf]
    hi = [x[-1], window, np.inf, 1.0, np.inf, np.inf]
    res = levenberg_marquardt(model, x, y, p0, bounds=(lo, hi), jacobian="forward")
    shape = spectra.shape[:-1]
    dims = spectra.dims[:-1]
    return xr.Dataset(
        {
            "center": (dims, res.params[:, 0].reshape(shape), {"units": unit}),
            "center_stderr": (dims, res.stderr[:, 0].reshape(shape), {"units": unit}),
            "hwhm": (dims, res.params[:, 1].reshape(shape), {"units": unit}),
            "offset": (dims, (expected - res.params[:, 0]).reshape(shape), {"units": unit, "long_name": "add to the axis"}),
            "status": (dims, np.asarray(res.status).reshape(shape)),
        },
        coords={d: ds.coords[d] for d in dims if d in ds.coords},
        attrs={"expected": expected, "unit": unit, "window": [float(x[0]), float(x[-1])]},
    )


def _axis_values(ds, unit):
    unit = _axes.normalize_unit(unit)
    if unit == "cm-1":
        return shift_axis(ds)
    if unit == "nm":
        return np.asarray(ds["wavelength"].values, dtype=np.float64)
    if unit == "eV":
        return np.asarray(ds["energy"].values, dtype=np.float64)
    return _axes.nm2invcm(_axes.to_vacuum(np.asarray(ds["wavelength"].values, dtype=np.float64), wavelength_medium(ds)))


def calibrate_shift(ds: xr.Dataset, offset, *, frame_dim: str = "t") -> xr.Dataset:
    """Correct the Raman-shift axis by ``offset`` cm⁻¹ (corrected shift = shift + offset).

    A scalar moves the axis coordinates (``shift``, and ``wavelength``/``energy`` consistently, for the
    same laser); the data are untouched. An array along ``frame_dim`` (one offset per frame, e.g. from
    ``find_line`` on a reference in every frame) resamples each frame onto the map's axis instead, so all
    frames share one axis (channels that move beyond the axis ends become NaN).

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset with a Raman-shift axis.
    offset : float or array-like, shape (n_frames,)
        Offset(s) in cm⁻¹, added to the axis.
    frame_dim : str, optional
        The dim along which per-frame offsets are given. Default is ``"t"``.

    Returns
    -------
    xarray.Dataset
        The corrected map, with a ``calibrate_shift`` history record; lazy data stay lazy.

    Raises
    ------
    ValueError
        If a scalar offset is not finite, or per-frame offsets do not have one value per frame of
        ``frame_dim``.
    AxisError
        If the map has no Raman-shift axis (unknown laser).

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> ds = hyperspec.from_array(np.ones(4), [100.0, 200.0, 300.0, 400.0], laser_nm=532.0)
    >>> calibrate_shift(ds, 2.5)["shift"].values
    array([102.5, 202.5, 302.5, 402.5])
    """
    validate_map(ds)
    shift = shift_axis(ds)
    off = np.asarray(offset, dtype=np.float64)
    if off.ndim == 0:
        if not np.isfinite(off):
            raise ValueError(f"calibration offset must be finite; got {offset!r}.")
        new_shift = shift + float(off)
        out = ds.assign_coords(shift=(SPECTRAL_DIM, new_shift, ds["shift"].attrs))
        laser = ds.attrs.get("laser_nm")
        if laser is not None and "wavelength" in ds.coords:
            wl, energy = _coords_from_shift(ds, new_shift)  # through the vacuum wavelengths, in the map's medium
            out = out.assign_coords(
                wavelength=(SPECTRAL_DIM, wl, ds["wavelength"].attrs),
                energy=(SPECTRAL_DIM, energy, ds["energy"].attrs),
            )
        out.attrs = dict(ds.attrs)
        add_history(out.attrs, "calibrate_shift", offset_cm=float(off))
        return out
    if frame_dim not in ds["spectra"].dims or off.shape != (ds.sizes[frame_dim],):
        raise ValueError(f"per-frame offsets must have one value per {frame_dim!r} frame; got shape {off.shape}.")
    spectra = ds["spectra"]
    frames = []
    for i, o in enumerate(off):  # a loop over frames (few), each frame batched over its pixels
        frames.append(
            xr.apply_ufunc(
                lambda a, o=float(o): interp_rows(shift, shift + o, a).astype(a.dtype),
                spectra.isel({frame_dim: i}),
                input_core_dims=[[SPECTRAL_DIM]],
                output_core_dims=[[SPECTRAL_DIM]],
                dask="parallelized",
                output_dtypes=[spectra.dtype],
            )
        )
    moved = xr.concat(frames, dim=frame_dim)
    out = ds.copy()
    out["spectra"] = moved.transpose(*spectra.dims).assign_attrs(spectra.attrs)
    out.attrs = dict(ds.attrs)
    add_history(out.attrs, "calibrate_shift", per_frame=frame_dim, offsets_cm=off.tolist())
    return out


def _lamp_peaks(x: np.ndarray, y: np.ndarray, min_snr: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the sub-channel centres (axis units) and signal-to-noise of the lamp lines.

    A running median removes the continuum, lines are local maxima ``min_snr`` × the noise above it,
    and each centre is the vertex of the parabola through the log of its three top channels (exact
    for a Gaussian line).
    """
    from scipy.ndimage import median_filter  # noqa: PLC0415
    from scipy.signal import find_peaks  # noqa: PLC0415

    b = y - median_filter(y, size=min(41, 2 * (y.size // 4) + 1), mode="nearest")
    noise = 1.4826 * np.median(np.abs(np.diff(b))) / np.sqrt(2.0)
    noise = noise if noise > 0 else max(float(np.std(b)), 1e-12)
    peaks, _ = find_peaks(b, height=min_snr * noise, distance=2)
    peaks = peaks[(peaks > 0) & (peaks < y.size - 1)]
    top = np.log(np.maximum(np.stack([b[peaks - 1], b[peaks], b[peaks + 1]]), 1e-300))
    curv = top[0] - 2 * top[1] + top[2]
    frac = np.where(curv < 0, 0.5 * (top[0] - top[2]) / np.where(curv < 0, curv, -1.0), 0.0)
    frac = np.clip(frac, -0.5, 0.5)
    centres = np.interp(peaks + frac, np.arange(x.size), x)
    return centres, b[peaks] / noise


def calibrate_wavelength(
    lamp: xr.Dataset,
    lines=None,
    *,
    order: int = 2,
    tolerance_nm: float = 0.3,
    max_offset_nm: float = 3.0,
    min_snr: float = 8.0,
    lines_medium: str = LINES_MEDIUM,
) -> xr.Dataset:
    """Wavelength-axis correction from a lamp spectrum (neon by default) and its line list.

    The lamp's spectra are averaged; lines are found and centred to a fraction of a channel; the best
    overall offset (within ±``max_offset_nm``) pairs them with ``lines``; pairs closer than
    ``tolerance_nm`` after that offset are kept; a polynomial of ``order`` maps the file's wavelengths
    onto the reference ones, refitted once without pairs beyond 3× the RMS residual.
    Lamp and lines are compared in one medium, the lamp's (``attrs["wavelength_medium"]``): an air line
    list is converted to vacuum for a vacuum axis (≈0.17 nm at 633 nm), and vice versa.
    Returns the matched lines (``measured_nm``, ``reference_nm``, ``residual_nm`` on dim ``line``) with
    attrs ``coefficients`` (powers of (λ − ``center_nm``)/``scale_nm``), ``rms_nm``, ``rms_cm``
    (at the lamp's mid-range), ``offset_nm`` and ``order``. Apply it with ``apply_wavelength_calibration``.

    Parameters
    ----------
    lamp : xarray.Dataset
        A map Dataset of the lamp with a wavelength axis (all its spectra are averaged).
    lines : array-like, optional
        Reference line wavelengths, nm, in ``lines_medium``. Default is ``NEON_LINES_NM + NEON_LINES_NIR_NM``.
    order : int, optional
        Degree of the correction polynomial. Default is 2.
    tolerance_nm : float, optional
        Largest distance, nm, between a lamp line (after the overall offset) and its reference line.
        Default is 0.3.
    max_offset_nm : float, optional
        Largest overall offset searched, nm. Default is 3.0.
    min_snr : float, optional
        Least height of a lamp line above the continuum, in units of the noise. Default is 8.0.
    lines_medium : {"air", "vacuum"}, optional
        The medium of ``lines``. Default is ``LINES_MEDIUM`` ("air", as the neon lists here and NIST's
        tables above 200 nm).

    Returns
    -------
    xarray.Dataset
        On dim ``line``: ``measured_nm``, ``reference_nm``, ``residual_nm`` (nm), ``used`` (kept in the
        final fit) and ``snr``; attrs ``coefficients``, ``center_nm``, ``scale_nm`` (nm), ``order``,
        ``offset_nm``, ``rms_nm`` (nm), ``rms_cm`` (cm⁻¹), ``n_lines`` and ``medium`` (the lamp's
        wavelength medium: the one ``measured_nm``, ``reference_nm`` and the polynomial are in).

    Raises
    ------
    AxisError
        If the lamp has no wavelength axis.
    ValueError
        If fewer than ``order + 2`` lamp lines are found, reference lines lie in range, or pairs match.
    DataModelError
        If ``lamp`` is not a valid map.

    Examples
    --------
    A neon lamp read 0.4 nm too blue:

    >>> import numpy as np
    >>> import hyperspec
    >>> wl = np.arange(600.0, 645.0, 0.05)
    >>> noise = np.random.default_rng(0).normal(0.0, 1.0, wl.size)
    >>> y = 10 + sum(1000 * np.exp(-0.5 * ((wl - (c - 0.4)) / 0.08) ** 2) for c in NEON_LINES_NM) + noise
    >>> lamp = hyperspec.from_array(y, wl, unit="nm", medium="air")
    >>> cal = calibrate_wavelength(lamp, order=1)
    >>> cal.attrs["n_lines"], cal.attrs["rms_nm"] < 0.01
    (11, True)
    >>> np.round(apply_wavelength_calibration(lamp, cal)["wavelength"].values[:2], 3)
    array([600.4 , 600.45])
    """
    validate_map(lamp)
    if "wavelength" not in lamp.coords:
        raise AxisError("the lamp spectrum has no wavelength axis: read it with unit='nm', or give laser_nm for a Raman-shift file.")
    x = np.asarray(lamp["wavelength"].values, dtype=np.float64)
    spectra = lamp["spectra"]
    y = np.asarray(
        spectra.mean([d for d in spectra.dims if d != SPECTRAL_DIM]).values if spectra.ndim > 1 else spectra.values, dtype=np.float64
    )
    o = np.argsort(x)
    x, y = x[o], y[o]
    if lines is None:
        lines = NEON_LINES_NM + NEON_LINES_NIR_NM
    medium = wavelength_medium(lamp)
    lines_medium = _axes.normalize_medium(lines_medium, field="lines_medium")
    ref = _axes.from_vacuum(_axes.to_vacuum(np.asarray(lines, dtype=np.float64), lines_medium), medium)
    ref = np.sort(np.atleast_1d(np.asarray(ref, dtype=np.float64)))
    ref = ref[(ref > x[0] - max_offset_nm) & (ref < x[-1] + max_offset_nm)]
    centres, snr = _lamp_peaks(x, y, min_snr)
    if len(centres) < order + 2 or len(ref) < order + 2:
        raise ValueError(f"{len(centres)} lamp lines found and {len(ref)} reference lines in {x[0]:.1f}–{x[-1]:.1f} nm; "
                         f"an order-{order} correction needs at least {order + 2} of each (lower min_snr or order).")  # fmt: skip

    def pairs(offset: float, tol: float):
        j = np.clip(np.searchsorted(ref, centres + offset), 1, len(ref) - 1)
        near = np.where(np.abs(ref[j - 1] - centres - offset) < np.abs(ref[j] - centres - offset), j - 1, j)
        keep = np.abs(ref[near] - centres - offset) < tol
        return keep, near

    step = min(0.02, tolerance_nm / 4)
    trial = np.arange(-max_offset_nm, max_offset_nm + step / 2, step)
    score = [float(np.sum(np.log1p(snr[pairs(t, tolerance_nm / 2)[0]]))) for t in trial]
    offset = float(trial[int(np.argmax(score))])
    keep, near = pairs(offset, tolerance_nm)
    keep &= np.bincount(near, weights=keep, minlength=len(ref))[near] == 1  # one lamp line per reference line
    meas, refl = centres[keep], ref[near[keep]]
    if len(meas) < order + 2:
        raise ValueError(f"only {len(meas)} lamp lines match the reference list within {tolerance_nm} nm; "
                         "check the line list, the laser or widen tolerance_nm / max_offset_nm.")  # fmt: skip
    center, scale = float(np.mean(x)), float(np.ptp(x) / 2 or 1.0)
    use = np.ones(len(meas), dtype=bool)
    for _ in range(2):  # fit, reject pairs beyond 3× the RMS, refit
        coef = np.polynomial.polynomial.polyfit((meas[use] - center) / scale, refl[use], order)
        resid = refl - np.polynomial.polynomial.polyval((meas - center) / scale, coef)
        rms = float(np.sqrt(np.mean(resid[use] ** 2)))
        new_use = np.abs(resid) <= max(3 * rms, 1e-6)
        if new_use.sum() < order + 2 or np.array_equal(new_use, use):
            break
        use = new_use
    mid = float(np.mean(refl))
    out = xr.Dataset(
        {
            "measured_nm": ("line", meas, {"long_name": "lamp line centre on the file's axis", "units": "nm"}),
            "reference_nm": ("line", refl, {"units": "nm"}),
            "residual_nm": ("line", resid, {"long_name": "reference − calibrated centre", "units": "nm"}),
            "used": ("line", use, {"long_name": "kept in the final fit"}),
            "snr": ("line", snr[keep]),
        },
        attrs={
            "coefficients": coef.tolist(),
            "center_nm": center,
            "scale_nm": scale,
            "order": order,
            "offset_nm": offset,
            "rms_nm": rms,
            "rms_cm": rms * 1e7 / mid**2,
            "n_lines": int(use.sum()),
            "medium": medium,
        },  # fmt: skip
    )
    return out


def apply_wavelength_calibration(ds: xr.Dataset, cal: xr.Dataset) -> xr.Dataset:
    """Correct a map's wavelength axis with the polynomial of ``calibrate_wavelength``.

    Raman shift and energy follow (same laser, through the vacuum wavelengths). The data are untouched:
    only the axis moves. A calibration made in one medium (``cal.attrs["medium"]``) is applied to a map
    in the other by converting the map's wavelengths to that medium and back.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset with a wavelength axis.
    cal : xarray.Dataset
        The result of ``calibrate_wavelength`` (its attrs ``coefficients``, ``center_nm``,
        ``scale_nm`` and ``rms_nm`` are used).

    Returns
    -------
    xarray.Dataset
        The map with corrected ``wavelength`` (nm), ``energy`` (eV) and ``shift`` (cm⁻¹) coordinates
        and an ``apply_wavelength_calibration`` history record.

    Raises
    ------
    AxisError
        If the map has no wavelength axis (a Raman-shift map without a laser).

    Examples
    --------
    See ``calibrate_wavelength``.
    """
    validate_map(ds)
    if "wavelength" not in ds.coords:
        raise AxisError("the map has no wavelength axis to correct; give it a laser (with_laser) first.")
    coef = np.asarray(cal.attrs["coefficients"], dtype=np.float64)
    medium = wavelength_medium(ds)
    cal_medium = _axes.normalize_medium(cal.attrs.get("medium", medium), field='cal.attrs["medium"]')
    wl = _axes.from_vacuum(_axes.to_vacuum(np.asarray(ds["wavelength"].values, np.float64), medium), cal_medium)
    wl = np.polynomial.polynomial.polyval((wl - cal.attrs["center_nm"]) / cal.attrs["scale_nm"], coef)
    wl = np.asarray(_axes.from_vacuum(_axes.to_vacuum(wl, cal_medium), medium), dtype=np.float64)
    out = ds.assign_coords(wavelength=(SPECTRAL_DIM, wl, ds["wavelength"].attrs))
    energy, shift = _coords_from_wavelength(ds, wl)
    if "energy" in ds.coords:
        out = out.assign_coords(energy=(SPECTRAL_DIM, energy, ds["energy"].attrs))
    if shift is not None and "shift" in ds.coords:
        out = out.assign_coords(shift=(SPECTRAL_DIM, shift, ds["shift"].attrs))
    out.attrs = dict(ds.attrs)
    add_history(out.attrs, "apply_wavelength_calibration", coefficients=cal.attrs["coefficients"], rms_nm=cal.attrs["rms_nm"])
    return out


def normalise(ds: xr.Dataset, by: str = "exposure", *, window: tuple[float, float] | None = None) -> xr.Dataset:
    """Normalise intensities by the exposure time or by a reference band's area.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.
    by : {"exposure", "band"}, optional
        ``"exposure"``: divide by ``attrs["exposure_s"]`` (s per accumulation) × ``attrs["accumulations"]``
        (default 1), giving counts/s. ``"band"``: divide each spectrum by its trapezoid area over
        ``window`` (counts·cm⁻¹), e.g. a reference line. Default is ``"exposure"``.
    window : (float, float), optional
        The band's Raman-shift range, cm⁻¹; required for ``by="band"``.

    Returns
    -------
    xarray.Dataset
        The normalised map (same dtype; units ``counts/s`` or ``1/cm-1``) with a ``normalise`` history
        record; for ``"band"`` also ``reference_area`` (counts·cm⁻¹; pixels with area ≤ 0 become NaN).

    Raises
    ------
    ValueError
        If ``by`` is unknown, ``exposure_s`` is missing or the total exposure is not positive, or
        ``window`` is missing for ``by="band"``.
    AxisError
        If the band window holds fewer than 2 channels or the map has no Raman-shift axis.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> exposure = {"exposure_s": 2.0, "accumulations": 5}
    >>> ds = hyperspec.from_array(np.full((2, 4), 20.0), [-20.0, -5.0, 5.0, 20.0], laser_nm=632.8, attrs=exposure)
    >>> out = normalise(ds)
    >>> out["spectra"].values[0], out["spectra"].attrs["units"]
    (array([2., 2., 2., 2.]), 'counts/s')
    >>> normalise(ds, "band", window=(-25.0, 25.0))["reference_area"].values
    array([800., 800.])
    """
    validate_map(ds)
    spectra = ds["spectra"]
    if by == "exposure":
        if "exposure_s" not in ds.attrs:
            raise ValueError("normalise(by='exposure') needs the attr 'exposure_s' (seconds per accumulation); set ds.attrs['exposure_s'].")
        total = float(ds.attrs["exposure_s"]) * float(ds.attrs.get("accumulations", 1))
        if not total > 0:
            raise ValueError(f"exposure_s × accumulations must be > 0; got {total}.")
        out = ds.copy()
        out["spectra"] = (spectra / total).astype(spectra.dtype).assign_attrs(spectra.attrs, units="counts/s")
        out.attrs = dict(ds.attrs)
        add_history(out.attrs, "normalise", by=by, divisor_s=total)
        return out
    if by == "band":
        if window is None:
            raise ValueError("normalise(by='band') needs window=(lo, hi) in cm⁻¹.")
        shift = shift_axis(ds)
        sel = (shift >= min(window)) & (shift <= max(window))
        if sel.sum() < 2:
            raise AxisError(
                f"the band window {window} cm⁻¹ holds {int(sel.sum())} channels; the axis covers {shift.min():.0f}…{shift.max():.0f}."
            )
        w = np.zeros(shift.size)
        w[sel] = _axes.trapezoid_weights(shift[sel])
        area = spectra.dot(xr.DataArray(host_to_like(w, spectra.data), dims=(SPECTRAL_DIM,)))
        out = ds.copy()
        out["spectra"] = (spectra / area.where(area > 0)).astype(spectra.dtype).assign_attrs(spectra.attrs, units="1/cm-1")
        out["reference_area"] = area.assign_attrs(units="counts·cm-1", window=list(window))
        out.attrs = dict(ds.attrs)
        add_history(out.attrs, "normalise", by=by, window=list(window))
        return out
    raise ValueError(f"unknown normalisation {by!r}; use 'exposure' or 'band'.")


def mask_notch(ds: xr.Dataset, half_width: float = 10.0, *, fill: float | None = None) -> xr.Dataset:
    """Mark the laser-blocking region |shift| ≤ ``half_width`` cm⁻¹ in a ``notch_mask`` coordinate.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset with a Raman-shift axis.
    half_width : float, optional
        Half-width of the notch around 0 cm⁻¹, cm⁻¹. Default is 10.
    fill : float, optional
        If given (e.g. ``np.nan``), also replace those channels' values with it.

    Returns
    -------
    xarray.Dataset
        The map with the boolean ``notch_mask`` coordinate on ``"spectral"`` and a ``mask_notch``
        history record.

    Raises
    ------
    AxisError
        If the map has no Raman-shift axis (unknown laser).

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> out = mask_notch(hyperspec.from_array(np.full(4, 20.0), [-20.0, -5.0, 5.0, 20.0], laser_nm=632.8), fill=np.nan)
    >>> out["notch_mask"].values, out["spectra"].values
    (array([False,  True,  True, False]), array([20., nan, nan, 20.]))
    """
    validate_map(ds)
    shift = shift_axis(ds)
    mask = np.abs(shift) <= half_width
    out = ds.assign_coords(notch_mask=(SPECTRAL_DIM, mask, {"long_name": f"|shift| ≤ {half_width} cm-1 (laser notch)", "units": "1"}))
    if fill is not None:
        keep = xr.DataArray(host_to_like(~mask, ds["spectra"].data), dims=(SPECTRAL_DIM,))  # on the spectra's device
        out["spectra"] = ds["spectra"].where(keep, fill).astype(ds["spectra"].dtype)
    out.attrs = dict(ds.attrs)
    add_history(out.attrs, "mask_notch", half_width_cm=half_width, fill=fill)
    return out


def crop(ds: xr.Dataset, lo: float, hi: float, *, unit: str = "cm-1") -> xr.Dataset:
    """Keep the channels with ``lo ≤ axis ≤ hi`` in ``unit``.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset.
    lo, hi : float
        The range to keep, in ``unit`` (either order).
    unit : str, optional
        The axis the range refers to: ``"cm-1"`` (Raman shift), ``"nm"``, ``"eV"`` or ``"cm-1-abs"``.
        Default is ``"cm-1"``.

    Returns
    -------
    xarray.Dataset
        The cropped map with a ``crop`` history record.

    Raises
    ------
    AxisError
        If fewer than 2 channels are kept, the unit is unknown or the map lacks that axis.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> cube = hyperspec.from_array(np.zeros((3, 2, 4)), [-20.0, -5.0, 5.0, 20.0], laser_nm=785.0)
    >>> crop(cube, -10.0, 30.0)["shift"].values
    array([-5.,  5., 20.])
    """
    validate_map(ds)
    axis = _axis_values(ds, unit)
    keep = np.flatnonzero((axis >= min(lo, hi)) & (axis <= max(lo, hi)))
    if keep.size < 2:
        raise AxisError(f"crop({lo}, {hi}, unit={unit!r}) keeps {keep.size} channels; the axis covers {axis.min():.4g}…{axis.max():.4g}.")
    out = ds.isel({SPECTRAL_DIM: keep})
    out.attrs = dict(ds.attrs)
    add_history(out.attrs, "crop", lo=lo, hi=hi, unit=unit)
    return out


def resample(ds: xr.Dataset, shift) -> xr.Dataset:
    """Interpolate every spectrum linearly onto a new Raman-shift axis.

    E.g. a common axis for maps whose axes disagree. Batched over pixels (``interp_rows``); lazy
    data stay lazy.

    Parameters
    ----------
    ds : xarray.Dataset
        A map Dataset with a Raman-shift axis.
    shift : array-like, shape (k,)
        The new axis, cm⁻¹, strictly ascending. Channels outside the map's range are NaN.

    Returns
    -------
    xarray.Dataset
        The map on the new axis (with ``wavelength``/``energy`` when the laser is known; variables
        with a spectral dim other than ``spectra`` are dropped) and a ``resample`` history record.

    Raises
    ------
    AxisError
        If ``shift`` is not a valid axis, or the map has no Raman-shift axis.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> ds = hyperspec.from_array(np.full((2, 4), 20.0), [-20.0, -5.0, 5.0, 20.0], laser_nm=632.8)
    >>> resample(ds, [-10.0, 0.0, 10.0, 30.0])["spectra"].values[0]
    array([20., 20., 20., nan])
    """
    validate_map(ds)
    old = shift_axis(ds)
    new = np.asarray(shift, dtype=np.float64)
    _axes.validate_axis(new, "cm-1", source="resample(shift=...)")
    spectra = ds["spectra"]
    data = xr.apply_ufunc(
        lambda a: interp_rows(new, old, a).astype(a.dtype),
        spectra,
        input_core_dims=[[SPECTRAL_DIM]],
        output_core_dims=[["_new"]],
        dask="parallelized",
        output_dtypes=[spectra.dtype],
        dask_gufunc_kwargs={"output_sizes": {"_new": new.size}},
    ).rename({"_new": SPECTRAL_DIM})
    coords = {"shift": (SPECTRAL_DIM, new, {"units": "cm-1", "long_name": "Raman shift"})}
    laser = ds.attrs.get("laser_nm")
    if laser is not None:
        wl, energy = _coords_from_shift(ds, new)
        coords["wavelength"] = (SPECTRAL_DIM, wl, {"units": "nm", "long_name": "wavelength"})
        coords["energy"] = (SPECTRAL_DIM, energy, {"units": "eV", "long_name": "photon energy"})
    others = {k: v for k, v in ds.data_vars.items() if k != "spectra" and SPECTRAL_DIM not in v.dims}
    out = xr.Dataset({"spectra": data.transpose(*spectra.dims).assign_attrs(spectra.attrs), **others}, coords=coords)
    out = out.assign_coords({k: v for k, v in ds.coords.items() if SPECTRAL_DIM not in v.dims})
    out.attrs = dict(ds.attrs)
    add_history(out.attrs, "resample", n_channels=int(new.size), lo=float(new[0]), hi=float(new[-1]))
    return out
