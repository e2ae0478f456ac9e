"""Spectrum quality tests shared by preprocessing and fitting (no upward imports: NumPy/CuPy through ``xp``).

``flat_spectra`` finds spectra with no structure above their noise; ``dead_spectra`` the dead ones
among all spectra: zero or constant counts, or (when the detector's offset is stated) nothing above
that offset. A dim substrate pixel (hundreds of counts, no band) is flat but not dead: ``decompose``
fits it and flags it ``no_signal``, while dead pixels are not fitted (status ``dead``) and
``preprocess.remove_spikes`` flags them in ``dead_pixel``. ``flat_top_saturation`` finds clipped
(saturated) spectra when the detector's full scale is not known: ``decompose`` masks those channels
(status ``saturated``).
"""

from __future__ import annotations

import math

__all__ = ["ADC_FULL_SCALE", "boxcar", "channel_noise", "flat_spectra", "dead_spectra", "flat_top_saturation"]

#: Full scale (counts) of 12-, 14-, 15-, 16-, 18-, 20-, 24- and 32-bit ADCs, 2**b − 1.
ADC_FULL_SCALE = tuple(float(2**b - 1) for b in (12, 14, 15, 16, 18, 20, 24, 32))


def boxcar(xp, y, width: int):
    """Running mean of ``width`` channels along the last axis of ``y`` (n, m), edges padded with the edge value.

    Parameters
    ----------
    xp : module
        The array namespace of ``y`` (``numpy`` or ``cupy``).
    y : array, shape (n, m)
        Spectra (counts).
    width : int
        Window length (channels), odd.

    Returns
    -------
    array, shape (n, m)
        The smoothed spectra (counts).

    Examples
    --------
    >>> import numpy as np
    >>> boxcar(np, np.array([[0.0, 0.0, 3.0, 0.0, 0.0]]), 3)
    array([[0., 1., 1., 1., 0.]])
    """
    c = xp.cumsum(xp.pad(y, ((0, 0), (width // 2 + 1, width // 2)), mode="edge"), axis=1)
    return (c[:, width:] - c[:, :-width]) / width


def channel_noise(xp, y):
    """Per row, the noise (counts) from channel-to-channel differences: 1.4826 · MAD(diff) / √2 (robust to bands and spikes).

    Parameters
    ----------
    xp : module
        The array namespace of ``y`` (``numpy`` or ``cupy``).
    y : array, shape (n, m)
        Spectra (counts), finite.

    Returns
    -------
    array, shape (n,)
        The noise σ per row, counts (0 for constant rows).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).normal(500.0, 8.0, (1, 4000))
    >>> round(float(channel_noise(np, y)[0]), 1)
    8.0
    """
    if y.dtype.kind != "f":  # integer counts (unsigned would wrap around in the differences)
        y = y.astype(xp.float64)
    diff = xp.diff(y, axis=1)
    nan = xp.any(xp.isnan(diff), axis=1)
    diff -= _row_median(xp, diff)[:, None]
    xp.abs(diff, out=diff)
    return xp.where(nan, xp.nan, 1.4826 * _row_median(xp, diff) / math.sqrt(2))


def _row_percentiles(xp, a, q_lo: float, q_hi: float):
    """Per row of ``a`` (n, m), finite: ``xp.percentile(a, [q_lo, q_hi], axis=1)`` (method "linear"), bitwise.

    One sort of the rows (SIMD-sorted in NumPy ≥ 2) instead of ``percentile``'s partition at four indices,
    which is ≈3× slower on (256, 1024) rows (0.8 vs 2.4–2.8 ms); NumPy's virtual index and ``_lerp``.
    """
    m = a.shape[1]
    ordered = xp.sort(a, axis=1)
    out = []
    for q in (q_lo, q_hi):
        virtual = (m - 1) * (q / 100.0)
        below = min(max(int(math.floor(virtual)), 0), m - 1)
        t = virtual - below
        lower, upper = ordered[:, below], ordered[:, min(below + 1, m - 1)]
        diff = upper - lower
        out.append(upper - diff * (1.0 - t) if t >= 0.5 else lower + diff * t)
    return out[0], out[1]


def _surely_wider(xp, a, q_lo: float, q_hi: float, gap):
    """Rows of ``a`` (n, m), finite, whose ``q_hi`` − ``q_lo`` percentile span is surely ≥ ``gap`` (n,), without a sort.

    With μ the row mean: when at least as many values as lie at or above the ``q_hi`` percentile's lower order
    statistic are ≥ μ + ``gap``/2·1.02, that statistic is too (and the percentile, interpolated above it); the
    same below for ``q_lo``. Two comparisons per value instead of a sort; rows it cannot settle (flat or
    constant ones, the ones the tests look for) are left to :func:`_row_percentiles`. False is "not settled".
    """
    n, m = a.shape
    if m < 2:
        return xp.zeros(n, dtype=bool)
    half = 0.51 * gap  # 2 % margin over the rounding of μ ± gap/2
    mu = xp.mean(a, axis=1)
    k_hi = min(max(int(math.floor((m - 1) * (q_hi / 100.0))), 0), m - 1)  # the percentile lies at or above a[k_hi]
    k_lo = min(max(int(math.floor((m - 1) * (q_lo / 100.0))), 0), m - 1) + 1  # … and at or below a[min(k_lo, m − 1)]
    above = xp.count_nonzero(a >= (mu + half)[:, None], axis=1) >= m - k_hi
    below = xp.count_nonzero(a <= (mu - half)[:, None], axis=1) >= min(k_lo, m - 1) + 1
    return above & below & (gap > 0)


def _row_median(xp, a):
    """Per row of ``a`` (n, m): ``xp.median(a, axis=1)`` for finite rows, through one partition.

    The same order statistics and the same mean of the middle two (bitwise equal); ``median`` itself
    partitions once more for its NaN check, which made it ≈4× slower on (256, 1023) rows (2.5 vs 0.6 ms).
    """
    m = a.shape[1]
    k = m // 2
    if m % 2:
        return xp.partition(a, k, axis=1)[:, k]
    part = xp.partition(a, k, axis=1)  # one index (SIMD-selected); the lower middle is the maximum below it
    return (xp.max(part[:, :k], axis=1) + part[:, k]) / 2.0


def flat_spectra(xp, y, smooth=None):
    """Rows with no structure above their noise (bare substrate, no light, a dead pixel).

    A row is flat when the 1–99 % span of its 9-channel boxcar is below 8 × its noise
    (:func:`channel_noise`). Flat is not dead: see :func:`dead_spectra`.

    Parameters
    ----------
    xp : module
        The array namespace of ``y`` (``numpy`` or ``cupy``).
    y : array, shape (n, m)
        Spectra (counts), finite.
    smooth : array, shape (n, m), optional
        Their 9-channel boxcar, when the caller has it already.

    Returns
    -------
    array of bool, shape (n,)
        True for flat rows.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(100.0, 1.0, (2, 200))
    >>> noise[1] += 50.0 * np.exp(-0.5 * ((np.arange(200) - 100) / 5.0) ** 2)  # a band
    >>> flat_spectra(np, noise)
    array([ True, False])
    """
    if smooth is None:
        smooth = boxcar(xp, y, 9)
    threshold = 8.0 * xp.maximum(channel_noise(xp, y), 1e-12)
    flat = ~_surely_wider(xp, smooth, 1.0, 99.0, threshold)  # rows with a band settle without a sort
    rows = xp.flatnonzero(flat)
    if rows.size:
        lo, hi = _row_percentiles(xp, smooth[rows], 1.0, 99.0)
        flat[rows] = hi - lo < threshold[rows]
    return flat


def dead_spectra(xp, y, *, offset=None, flat=None):
    """Rows of a dead detector pixel: zero or constant counts, or nothing above the stated detector offset.

    A row is dead when its 5–95 % range is zero (every channel but a few equal, e.g. all zero or a
    fill value; a cosmic ray on it does not count), or, when the detector's offset (bias, counts) is
    known, when it is flat (:func:`flat_spectra`) and its median lies within one noise level of that
    offset: only read noise, no light. Without an offset a flat row with noise is not dead: a dim
    substrate pixel (e.g. 500 counts, no band) looks the same as an unlit one offset by a bias.

    Parameters
    ----------
    xp : module
        The array namespace of ``y`` (``numpy`` or ``cupy``).
    y : array, shape (n, m)
        Spectra (counts), finite.
    offset : float, optional
        The detector's offset (counts a pixel reads with no light), e.g. ``attrs["offset_counts"]``.
    flat : array of bool, shape (n,), optional
        :func:`flat_spectra` of ``y``, when the caller has it already.

    Returns
    -------
    array of bool, shape (n,)
        True for dead rows.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.stack([np.zeros(200), np.full(200, 7.0), rng.normal(500.0, 8.0, 200), rng.normal(100.0, 5.0, 200)])
    >>> dead_spectra(np, y), dead_spectra(np, y, offset=100.0)
    (array([ True,  True, False, False]), array([ True,  True, False,  True]))
    """
    # spread rows settle without a sort: a 5–95 % span of at least 2e-9·max(|y|, 1) exceeds the tolerance below
    tol = 2e-9 * xp.maximum(xp.max(xp.abs(y), axis=1), 1.0) if y.shape[1] else xp.zeros(y.shape[0])
    constant = ~_surely_wider(xp, y, 5.0, 95.0, tol)
    rows = xp.flatnonzero(constant)
    if rows.size:
        lo, hi = _row_percentiles(xp, y[rows], 5.0, 95.0)
        constant[rows] = hi - lo <= 1e-9 * xp.maximum(xp.maximum(xp.abs(lo), xp.abs(hi)), 1.0)
    if offset is None:
        return constant
    if flat is None:
        flat = flat_spectra(xp, y)
    unlit = flat & (xp.abs(xp.median(y, axis=1) - float(offset)) <= channel_noise(xp, y))
    return constant | unlit


def flat_top_saturation(xp, y, *, min_run: int = 3, guard: float = 20.0):
    """Channels of clipped spectra: a flat top of ``min_run``+ channels at the data's ceiling.

    A row is clipped when at least ``min_run`` channels equal its maximum and that maximum is a
    detector ceiling: within one count of an ADC's full scale (``ADC_FULL_SCALE``: 4095, 16383,
    32767, 65535, …; the channels need not be adjacent), or the largest value of all rows of ``y``
    (the map or batch, for float data rescaled or offset after the ADC) standing more than
    ``guard`` × its noise above the row's median (then ``min_run`` consecutive channels). Noisy
    spectra do not repeat their maximum, so bright unclipped peaks (sharp maxima) are not flagged;
    the guard keeps dim integer-valued data, which can repeat small values, out.

    Parameters
    ----------
    xp : module
        The array namespace of ``y`` (``numpy`` or ``cupy``).
    y : array, shape (n, m)
        Spectra (counts); non-finite channels are ignored.
    min_run : int, optional
        Consecutive channels at the maximum that make a flat top (default 3).
    guard : float, optional
        For the all-rows ceiling: how many noise levels (MAD of channel differences) the top must stand
        above the row's median (default 20).

    Returns
    -------
    array of bool, shape (n, m)
        The channels at the maximum of the clipped rows (all False elsewhere).

    Examples
    --------
    >>> import numpy as np
    >>> y = 1000.0 + np.random.default_rng(0).normal(0.0, 5.0, (2, 40))
    >>> y[0, 18:23] = 65535.0  # clipped at the 16-bit full scale
    >>> y[1, 20] = 60000.0  # a bright, sharp (unclipped) maximum
    >>> mask = flat_top_saturation(np, y)
    >>> mask.sum(axis=1), bool(mask[0, 18:23].all())
    (array([5, 0]), True)
    """
    n, m = y.shape
    fin = xp.isfinite(y)
    if m < min_run or n == 0:
        return xp.zeros((n, m), dtype=bool)
    top = xp.max(xp.where(fin, y, -xp.inf), axis=1)
    at = fin & (y == top[:, None])
    run = at[:, : m - min_run + 1]
    for k in range(1, min_run):
        run = run & at[:, k : m - min_run + 1 + k]
    flat_top = xp.any(run, axis=1)
    adc = xp.min(xp.abs(top[:, None] - xp.asarray(ADC_FULL_SCALE)[None, :]), axis=1) <= 1.0
    adc = adc & (flat_top | (xp.sum(at, axis=1) >= min_run))  # at full scale, clipped channels need not be adjacent
    ceiling = xp.max(xp.where(xp.isfinite(top), top, -xp.inf))
    clipped = xp.isfinite(top) & adc
    candidate = xp.flatnonzero(xp.isfinite(top) & flat_top & (top >= ceiling) & ~adc)
    if candidate.size:  # the noise test only where a flat top at the ceiling is not an ADC's full scale (usually no row)
        yc, tc = y[candidate], top[candidate]
        y0 = xp.where(fin[candidate], yc, tc[:, None])
        noise = channel_noise(xp, y0)
        clipped[candidate] = tc - xp.median(y0, axis=1) > guard * xp.maximum(noise, 1e-12 * xp.maximum(xp.abs(tc), 1.0))
    return at & clipped[:, None]
