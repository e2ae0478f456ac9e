"""Automatic start: find the lines of a map on its mean (or percentile) spectrum and seed a model.

``find_lines(ds)`` reduces the map to one spectrum (the mean, or a high percentile that keeps lines
present in a few pixels only), removes its baseline with ``hyperspec.preprocess.baselines.arpls``,
estimates the noise robustly (the MAD of the first difference, so neither the lines nor a slow
baseline inflate it) and finds the lines with :func:`scipy.signal.find_peaks` (prominence above
``min_snr`` noise units), their widths with :func:`scipy.signal.peak_widths`. It returns a
:class:`LineSearch`: the table of what it found (position, height, width, prominence, SNR) and, from
it, a model spec for ``decompose`` (``LineSearch.model_spec``). ``decompose(ds, "peaks",
positions="auto")`` (or ``n=...``) runs it and records the table in the result's attrs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy.signal import find_peaks, peak_widths, savgol_filter

from hyperspec.model import shift_axis, validate_map

__all__ = ["LineSearch", "find_lines", "reference_spectrum", "robust_noise"]

#: The first difference of white noise of rms σ has rms σ·√2; MAD → σ for a normal distribution.
_MAD_TO_SIGMA = 1.4826


def robust_noise(y) -> float:
    """Noise rms of a spectrum from the median absolute deviation of its first difference.

    Lines and a slow baseline change the first difference in few channels, so its MAD measures the
    channel-to-channel noise alone.

    Parameters
    ----------
    y : array, shape (m,)
        A spectrum (counts). NaN channels are ignored.

    Returns
    -------
    float
        Estimated noise rms per channel (counts); 0 for a noiseless spectrum.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = 100.0 * np.exp(-(((np.arange(2000) - 1000) / 30.0) ** 2)) + rng.normal(0.0, 2.0, 2000)
    >>> round(robust_noise(y), 1)
    2.0
    """
    d = np.diff(np.asarray(y, dtype=np.float64))
    d = d[np.isfinite(d)]
    if d.size == 0:
        return 0.0
    return float(_MAD_TO_SIGMA * np.median(np.abs(d - np.median(d))) / math.sqrt(2.0))


def reference_spectrum(data: xr.Dataset, percentile: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The map reduced to one spectrum: the mean of its finite pixels, or a percentile per channel.

    Parameters
    ----------
    data : xarray.Dataset
        A map (``spectra`` on ``(..., "spectral")`` with a Raman-shift axis).
    percentile : float, optional
        Per-channel percentile (0–100) instead of the mean, e.g. 95 for lines present in a few
        pixels only. Default None (the mean).

    Returns
    -------
    shift : numpy.ndarray, shape (m,)
        Raman shift, cm⁻¹ (ascending).
    spectrum : numpy.ndarray, shape (m,)
        The reduced spectrum, counts.

    Raises
    ------
    ValueError
        For a percentile outside 0–100, or a map without one finite spectrum.

    Examples
    --------
    >>> from hyperspec.model import from_array
    >>> ds = from_array(np.arange(12.0).reshape(1, 3, 4), np.array([100.0, 200.0, 300.0, 400.0]), laser_nm=532.0)
    >>> reference_spectrum(ds)[1]
    array([4., 5., 6., 7.])
    """
    validate_map(data)
    shift = shift_axis(data)
    spectra = data["spectra"]
    y = np.asarray(spectra.values, dtype=np.float64).reshape(-1, shift.size)
    good = np.all(np.isfinite(y), axis=1)
    if not good.any():
        raise ValueError("the map has no finite spectrum to find lines on.")
    y = y[good]
    if percentile is None:
        return shift, y.mean(axis=0)
    if not 0.0 <= float(percentile) <= 100.0:
        raise ValueError(f"`percentile` must lie in 0-100; got {percentile!r}.")
    return shift, np.percentile(y, float(percentile), axis=0)


@dataclass
class LineSearch:
    """What :func:`find_lines` found on a map's reference spectrum.

    Attributes
    ----------
    position : numpy.ndarray
        Line positions, cm⁻¹ (the channel of the maximum, refined by a parabola through its neighbours).
    height : numpy.ndarray
        Heights above the baseline, counts.
    hwhm : numpy.ndarray
        Half widths at half maximum, cm⁻¹ (``scipy.signal.peak_widths`` at half prominence).
    prominence : numpy.ndarray
        ``scipy.signal`` prominences, counts.
    snr : numpy.ndarray
        Prominence over the noise rms.
    noise : float
        Noise rms of the reference spectrum, counts (:func:`robust_noise`).
    reduction : str
        ``"mean"``, ``"percentile <p>"`` (of a map) or ``"given"`` (a spectrum passed in).
    shift : numpy.ndarray
        The Raman-shift axis, cm⁻¹.
    corrected : numpy.ndarray
        The baseline-corrected reference spectrum, counts.

    Examples
    --------
    >>> shift = np.linspace(900.0, 1700.0, 801)
    >>> y = 50.0 + 1000.0 / (1 + ((shift - 1001.4) / 4.0) ** 2)
    >>> found = find_lines((shift, np.random.default_rng(1).poisson(y).astype(float)))
    >>> len(found), found.reduction
    (1, 'given')
    """

    position: np.ndarray
    height: np.ndarray
    hwhm: np.ndarray
    prominence: np.ndarray
    snr: np.ndarray
    noise: float
    reduction: str
    shift: np.ndarray = field(repr=False)
    corrected: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        """Number of lines found."""
        return int(self.position.size)

    def table(self):
        """The lines as a ``pandas.DataFrame`` (position_cm, height, hwhm_cm, prominence, snr), by position."""
        import pandas as pd  # noqa: PLC0415 - xarray's dependency

        return pd.DataFrame(
            {"position_cm": self.position, "height": self.height, "hwhm_cm": self.hwhm, "prominence": self.prominence, "snr": self.snr}
        )

    def records(self) -> list[dict]:
        """The lines as a list of dicts (JSON-ready, rounded), as ``decompose`` stores them in ``attrs["autostart"]``."""
        return [
            {"position_cm": round(float(p), 3), "height": round(float(h), 4), "hwhm_cm": round(float(w), 3), "snr": round(float(s), 1)}
            for p, h, w, s in zip(self.position, self.height, self.hwhm, self.snr, strict=True)
        ]

    def to_json(self) -> str:
        """``records()``, the noise and the reduction as one JSON string."""
        return json.dumps({"reduction": self.reduction, "noise": round(self.noise, 6), "lines": self.records()})

    def summary(self) -> str:
        """One line: how many lines, where (cm⁻¹) and their SNR."""
        if not len(self):
            return f"autostart: no line above the noise on the {self.reduction} spectrum (noise rms {self.noise:.3g} counts)"
        where = ", ".join(f"{p:.1f}" for p in self.position)
        return (
            f"autostart: {len(self)} lines on the {self.reduction} spectrum at {where} cm-1 (SNR {self.snr.min():.0f}-{self.snr.max():.0f})"
        )

    def model_spec(self, shape: str = "lorentzian", baseline: str | None = "polynomial2", *, prefix: str = "line") -> dict:
        """A model spec ``{"mask": [], "terms": {...}}`` with one line per position found.

        See :func:`hyperspec.bands.presets.peaks_terms` for the bounds and priors.

        Parameters
        ----------
        shape : str, optional
            Line shape: ``"lorentzian"``, ``"gaussian"``, ``"pseudo_voigt"`` or ``"voigt"``. Default Lorentzian.
        baseline : str or None, optional
            A baseline component (``"polynomial0"`` … ``"polynomial5"``) or None. Default ``"polynomial2"``.
        prefix : str, optional
            Term names are ``<prefix>_<position rounded to cm⁻¹>``. Default ``"line"``.

        Returns
        -------
        dict
            The spec.
        """
        from hyperspec.bands.presets import peaks_terms  # noqa: PLC0415 - presets import this module

        step = float(np.median(np.abs(np.diff(self.shift))))
        terms = peaks_terms(self.position, self.hwhm, shape=shape, baseline=baseline, step=step, prefix=prefix)
        return {"mask": [], "terms": terms}


def _baseline(y: np.ndarray, lam: float | None) -> np.ndarray:
    from hyperspec.preprocess.baselines import arpls  # noqa: PLC0415

    m = y.size
    if lam is None:
        # a second-difference Whittaker smoother follows periods longer than ≈ 2π·λ^(1/4) channels: keep it
        # stiffer than a tenth of the axis, so it follows the background but not a line
        lam = (m / (10.0 * 2.0 * math.pi)) ** 4 * 10.0
    base, _ = arpls(y, lam=lam, engine="xp")
    return np.asarray(base[0])


def _shoulders(corrected, peaks, widths, min_height, d2_snr):
    """Lines without a maximum of their own (a shoulder on a stronger neighbour): peaks of −y″.

    The second derivative (Savitzky–Golay, ``scipy.signal.savgol_filter``, window about a line's
    FWHM) has a minimum at every line, shoulders included. A candidate counts when −y″ stands
    ``d2_snr`` robust σ (MAD of y″) above zero, the spectrum ``min_height`` above its baseline,
    and it lies more than one HWHM from a line found already. Returns channel indices and FWHMs (channels).
    """
    fwhm = float(np.median(widths)) if widths.size else 5.0
    win = max(5, int(round(fwhm)) | 1)
    d2 = -savgol_filter(corrected, win, 3, deriv=2)
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(d2 - np.median(d2))))
    if sigma <= 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    cand, _ = find_peaks(d2, height=d2_snr * sigma, distance=max(2, win // 2))
    cand = cand[corrected[cand] >= min_height]
    if peaks.size:
        near = np.abs(cand[:, None] - peaks[None, :]) <= np.maximum(0.5 * widths[None, :], 2.0)
        cand = cand[~near.any(axis=1)]
    return cand, np.full(cand.size, fwhm)


def find_lines(
    data: xr.Dataset | tuple,
    *,
    n: int | None = None,
    min_snr: float = 8.0,
    percentile: float | None = None,
    min_separation_cm: float | None = None,
    baseline_lam: float | None = None,
    window: tuple[float, float] | None = None,
    shoulders: bool = True,
) -> LineSearch:
    """Find the lines of a map on its mean (or percentile) spectrum after baseline correction.

    Parameters
    ----------
    data : xarray.Dataset or (shift, spectrum)
        A map, or a Raman-shift axis (cm⁻¹) and one spectrum (counts).
    n : int, optional
        Keep at most the ``n`` most prominent lines. Default: every line above ``min_snr``.
    min_snr : float, optional
        Least prominence, in units of the noise rms of the reference spectrum. Default 8.
    percentile : float, optional
        Reduce the map by this per-channel percentile instead of the mean (``reference_spectrum``).
    min_separation_cm : float, optional
        Least distance between two lines, cm⁻¹. Default: two channels.
    baseline_lam : float, optional
        Smoothness λ of the arPLS baseline. Default: a baseline stiffer than a tenth of the axis.
    window : (float, float), optional
        Look for lines in this Raman-shift interval only, cm⁻¹.
    shoulders : bool, optional
        Also find lines that make no maximum of their own (a shoulder on a stronger neighbour) from
        the minima of the second derivative. Default True.

    Returns
    -------
    LineSearch
        The lines found, sorted by position; its ``table()``, ``summary()`` and ``model_spec()``.

    Raises
    ------
    ValueError
        For a spectrum with fewer than 16 finite channels or a bad ``n`` / ``min_snr``.

    Examples
    --------
    >>> shift = np.linspace(900.0, 1700.0, 801)
    >>> y = 50.0 + 0.01 * shift + 1000.0 / (1 + ((shift - 1001.4) / 4.0) ** 2) + 300.0 / (1 + ((shift - 1602.3) / 5.0) ** 2)
    >>> y = np.random.default_rng(1).poisson(y).astype(float)
    >>> found = find_lines((shift, y))
    >>> found.position.round(0), found.hwhm.round(0)
    (array([1001., 1602.]), array([4., 5.]))
    """
    if isinstance(data, xr.Dataset):
        shift, y = reference_spectrum(data, percentile)
        reduction = "mean" if percentile is None else f"percentile {percentile:g}"
    else:
        shift, y = (np.asarray(a, dtype=np.float64) for a in data)
        reduction = "given"
        if shift.shape != y.shape or shift.ndim != 1:
            raise ValueError(f"`data` must be a map or (shift, spectrum) of one shape; got {shift.shape} and {y.shape}.")
        order = np.argsort(shift)
        shift, y = shift[order], y[order]
    if n is not None and (int(n) != n or n < 1):
        raise ValueError(f"`n` must be a positive integer (the most lines to keep); got {n!r}.")
    if not (isinstance(min_snr, (int, float)) and min_snr > 0):
        raise ValueError(f"`min_snr` must be a positive number of noise rms; got {min_snr!r}.")
    finite = np.isfinite(y)
    if finite.sum() < 16:
        raise ValueError(f"the reference spectrum has {int(finite.sum())} finite channels; at least 16 are needed to find lines.")
    if not finite.all():
        y = np.interp(shift, shift[finite], y[finite])
    noise = robust_noise(y)
    corrected = y - _baseline(y, baseline_lam)
    step = float(np.median(np.diff(shift)))
    distance = 2 if min_separation_cm is None else max(1, int(round(min_separation_cm / step)))
    scale = noise if noise > 0 else max(float(np.abs(corrected).max()) * 1e-9, 1e-300)
    # prominence and height above the baseline both: a noise blip next to a noise dip has the prominence, not the height
    peaks, props = find_peaks(corrected, prominence=min_snr * scale, height=min_snr * scale, distance=distance)
    if window is not None:
        keep = (shift[peaks] >= min(window)) & (shift[peaks] <= max(window))
        peaks = peaks[keep]
        props = {k: v[keep] for k, v in props.items()}
    # a line needs at least three channels above half its prominence: narrower "lines" are spikes or noise
    widths, _, left, right = peak_widths(
        corrected, peaks, rel_height=0.5, prominence_data=(props["prominences"], props["left_bases"], props["right_bases"])
    )
    ok = widths >= 1.5
    peaks, prom, widths, left, right = peaks[ok], props["prominences"][ok], widths[ok], left[ok], right[ok]
    if shoulders:
        extra, extra_w = _shoulders(corrected, peaks, widths, min_snr * scale, 3.0)
        if extra.size:
            order = np.argsort(np.concatenate([peaks, extra]))
            peaks = np.concatenate([peaks, extra])[order]
            prom = np.concatenate([prom, corrected[extra]])[order]
            left = np.concatenate([left, extra - extra_w / 2.0])[order]
            right = np.concatenate([right, extra + extra_w / 2.0])[order]
    if n is not None and peaks.size > n:
        top = np.sort(np.argsort(prom)[::-1][: int(n)])
        peaks, prom, widths, left, right = peaks[top], prom[top], widths[top], left[top], right[top]
    # sub-channel position: the vertex of the parabola through the maximum and its neighbours
    pos = shift[peaks].astype(np.float64)
    inner = (peaks > 0) & (peaks < shift.size - 1)
    i = peaks[inner]
    a, b, c = corrected[i - 1], corrected[i], corrected[i + 1]
    den = a - 2.0 * b + c
    frac = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    pos[inner] = shift[i] + np.clip(frac, -0.5, 0.5) * step
    idx = np.arange(shift.size, dtype=np.float64)
    hwhm = 0.5 * (np.interp(right, idx, shift) - np.interp(left, idx, shift))
    return LineSearch(
        position=pos,
        height=corrected[peaks],
        hwhm=hwhm,
        prominence=prom,
        snr=prom / scale,
        noise=noise,
        reduction=reduction,
        shift=shift,
        corrected=corrected,
    )
