"""Spectrum quality tests shared by preprocessing and fitting (no upward imports: NumPy/CuPy through ``xp``).

``flat_spectra`` finds dead pixels: ``preprocess.spikes`` leaves them alone and ``decompose`` does not
fit them (status ``FLAT``).
"""

from __future__ import annotations

import math

__all__ = ["boxcar", "flat_spectra"]


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


def flat_spectra(xp, y, smooth=None):
    """Rows with no structure above their noise (dead pixels).

    A row is flat when the 1–99 % span of its 9-channel boxcar is below 8 × its noise, estimated from
    channel-to-channel differences (robust, MAD).

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
    diff = xp.diff(y, axis=1)
    noise = 1.4826 * xp.median(xp.abs(diff - xp.median(diff, axis=1, keepdims=True)), axis=1) / math.sqrt(2)
    span = xp.percentile(smooth, 99, axis=1) - xp.percentile(smooth, 1, axis=1)
    return span < 8.0 * xp.maximum(noise, 1e-12)
