"""Progress reporting for long dask computations: percent done, pixels/s and ETA.

Used as a context manager around ``dask.compute`` / ``to_zarr``::

    with Progress("simulate", n_pixels=ds_npix):
        ds.to_zarr(...)

On a terminal it redraws one line; in logs (not a TTY) it prints a line every 10 %.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import TextIO

import numpy as np
from dask.callbacks import Callback

__all__ = ["Progress", "RunProgress", "format_rate", "progress"]


def format_rate(n_pixels: float, seconds: float) -> str:
    """Format a processing rate as ``'12,345 px/s'``.

    Parameters
    ----------
    n_pixels : float
        Number of pixels (spectra) processed.
    seconds : float
        Time taken, s; zero or negative gives ``'∞ px/s'``.

    Returns
    -------
    str
        The rate in pixels per second, rounded to an integer with thousands separators.

    Examples
    --------
    >>> format_rate(12345, 1.0)
    '12,345 px/s'
    >>> format_rate(10, 0.0)
    '∞ px/s'
    """
    rate = n_pixels / seconds if seconds > 0 else float("inf")
    return f"{rate:,.0f} px/s" if rate != float("inf") else "∞ px/s"


def _fmt_time(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{sec:02d}s" if hours else f"{minutes}m{sec:02d}s"


class Progress(Callback):
    """A dask callback printing ``label: 42% | 12,345 px/s | ETA 3.1 s`` to ``stream``.

    Progress is the fraction of dask tasks finished. On a terminal the line is redrawn at most
    every ``min_interval`` seconds; otherwise (logs) one line is written per 10 %, none for work
    shorter than a second. A final line gives the total time and the mean rate.

    Parameters
    ----------
    label : str
        Name of the computation, printed at the start of each line.
    n_pixels : int
        Number of pixels (spectra) the computation covers, for the px/s rate.
    stream : file-like, optional
        Where to write. Default is ``sys.stderr``.
    enabled : bool, optional
        If False, nothing is printed (``elapsed`` is still measured). Default is True.
    min_interval : float, optional
        Least time between two redraws on a terminal, s. Default is 0.5.

    Attributes
    ----------
    elapsed : float
        Wall time of the last computation run inside the block, s (0.0 before any).

    See Also
    --------
    progress : builds one from a pixel count or a map Dataset.

    Examples
    --------
    >>> import io
    >>> import dask.array as da
    >>> log = io.StringIO()
    >>> with Progress("sum", n_pixels=100, stream=log):
    ...     total = da.ones(100, chunks=10).sum().compute()
    >>> log.getvalue().startswith("sum: done, 100 px in")
    True
    """

    def __init__(self, label: str, n_pixels: int, *, stream: TextIO | None = None, enabled: bool = True, min_interval: float = 0.5):
        super().__init__()
        self.label = label
        self.n_pixels = int(n_pixels)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.min_interval = min_interval
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.elapsed = 0.0

    def _start(self, dsk):
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._last_decile = -1
        self._done = 0
        self._total = max(1, len(dsk))

    def _pretask(self, key, dsk, state):
        pass

    def _posttask(self, key, result, dsk, state, worker_id):
        self._done += 1
        if not self.enabled:
            return
        now = time.perf_counter()
        frac = min(1.0, self._done / self._total)
        decile = int(frac * 10)
        if self._tty and now - self._last < self.min_interval:
            return
        if not self._tty and (decile <= self._last_decile or now - self._t0 < 1.0):
            return  # in logs: one line per 10 %, and none for work shorter than a second
        self._last, self._last_decile = now, decile
        elapsed = now - self._t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        line = f"{self.label}: {frac:4.0%} | {format_rate(frac * self.n_pixels, elapsed)} | ETA {_fmt_time(eta)}"
        self.stream.write(("\r" + line) if self._tty else line + "\n")
        self.stream.flush()

    def _finish(self, dsk, state, errored):
        self.elapsed = time.perf_counter() - self._t0
        if not self.enabled:
            return
        status = "failed" if errored else "done"
        line = f"{self.label}: {status}, {self.n_pixels:,} px in {_fmt_time(self.elapsed)} ({format_rate(self.n_pixels, self.elapsed)})"
        self.stream.write(("\r" + line + " " * 10 + "\n") if self._tty else line + "\n")
        self.stream.flush()


def progress(label: str, pixels) -> Progress:
    """Report progress (percent, pixels/s, ETA) of the dask computations run inside a ``with`` block.

    Parameters
    ----------
    label : str
        Name of the computation, printed at the start of each line.
    pixels : int or xarray.Dataset
        A pixel count, or a map Dataset: the number of spectra of its ``spectra`` variable (or of its
        first variable) is used, i.e. the product of its non-``"spectral"`` dims.

    Returns
    -------
    Progress
        A dask callback writing to ``sys.stderr``; use it as a context manager.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec
    >>> ds = hyperspec.from_array(np.ones((2, 3, 4)), [100.0, 200.0, 300.0, 400.0])
    >>> progress("decompose", ds).n_pixels
    6
    >>> with hyperspec.progress("decompose", ds):  # doctest: +SKIP
    ...     res = hyperspec.decompose(ds).compute()
    """
    if hasattr(pixels, "data_vars"):
        ref = pixels["spectra"] if "spectra" in pixels.data_vars else next(iter(pixels.data_vars.values()))
        pixels = int(np.prod([ref.sizes[d] for d in ref.dims if d != "spectral"], dtype=np.int64))
    return Progress(label, int(pixels))


@dataclass(frozen=True)
class RunProgress:
    """One chunk of a recipe run written: what ``run_recipe(..., on_progress=callback)`` passes after each chunk.

    Counts cover the whole output store (chunks written by an earlier, interrupted run included), so
    ``pixels_done / pixels_total`` is the store's completion; the rate and the ETA are this run's.

    Attributes
    ----------
    chunk : int
        Index of the chunk just written (its rows are ``chunk * rows`` onwards along the first pixel dim).
    chunks_done, n_chunks : int
        Chunks of the store written so far, and in all.
    pixels_done, pixels_total : int
        Pixels (spectra) of the store written so far, and in all.
    pixels_per_s : float
        This run's mean rate since its chunks were submitted, pixels/s.
    eta_s : float
        Estimated time to the last chunk at that rate, s (0.0 once every chunk is written).
    elapsed_s : float
        Time since this run's chunks were submitted, s.
    output : str
        The results store.

    Examples
    --------
    >>> ev = RunProgress(chunk=0, chunks_done=1, n_chunks=4, pixels_done=8, pixels_total=32,
    ...                  pixels_per_s=16.0, eta_s=1.5, elapsed_s=0.5, output="o.zarr")
    >>> ev.fraction, ev.describe()
    (0.25, '25% | 16 px/s | ETA 1.5 s')
    """

    chunk: int
    chunks_done: int
    n_chunks: int
    pixels_done: int
    pixels_total: int
    pixels_per_s: float
    eta_s: float
    elapsed_s: float
    output: str

    @property
    def fraction(self) -> float:
        """Fraction of the store's pixels written, 0 to 1."""
        return self.pixels_done / self.pixels_total if self.pixels_total else 1.0

    def describe(self) -> str:
        """The progress line ``'42% | 1,234 px/s | ETA 3.1 s'`` (the same as the run's own log lines)."""
        rate = f"{self.pixels_per_s:,.0f} px/s" if math.isfinite(self.pixels_per_s) else "∞ px/s"
        return f"{self.fraction:.0%} | {rate} | ETA {_fmt_time(self.eta_s)}"
