"""Progress reporting for long dask computations: percent done, pixels/s and ETA.

Used as a context manager around ``dask.compute`` / ``to_zarr``::

    with Progress("simulate", n_pixels=ds_npix):
        ds.to_zarr(...)

On a terminal it redraws one line; in logs (not a TTY) it prints a line every 10 %.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import numpy as np
from dask.callbacks import Callback

__all__ = ["Progress", "format_rate", "progress"]


def format_rate(n_pixels: float, seconds: float) -> str:
    """'12 345 px/s' style rate; robust to zero time."""
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
    """A dask callback printing ``label: 42% | 12,345 px/s | ETA 3.1 s`` to ``stream``."""

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
    """Progress (percent, pixels/s, ETA) for the dask computations run inside the ``with`` block.

    ``pixels`` is a pixel count or a map Dataset (its spectra count is used)::

        with hyperspec.progress("decompose", ds):
            res = hyperspec.decompose(ds).compute()
    """
    if hasattr(pixels, "data_vars"):
        ref = pixels["spectra"] if "spectra" in pixels.data_vars else next(iter(pixels.data_vars.values()))
        pixels = int(np.prod([ref.sizes[d] for d in ref.dims if d != "spectral"], dtype=np.int64))
    return Progress(label, int(pixels))
