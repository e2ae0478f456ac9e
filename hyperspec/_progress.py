"""Progress reporting in pixels: one in-place ``tqdm`` bar on a terminal, sparse plain lines in logs.

Every long computation (``hyperspec run`` chunk by chunk, ``save`` / ``decompose`` / ``convert`` through
Dask) reports through ``PixelProgress``: pixels done of the total, px/s and ETA, in one of three modes:

``"bar"``
    a ``tqdm`` bar redrawn in place (carriage returns); at the end it is replaced by one summary line.
``"plain"``
    a line per 10 % of the pixels (or every 30 s when that is slower), none for work shorter than a second,
    then the summary line: for logs, batch jobs and pipes.
``"none"``
    nothing (``elapsed`` is still measured).

The default is ``"bar"`` when the stream is a terminal, else ``"plain"``; ``set_mode`` (the CLI's
``--progress`` / ``--quiet``) or ``$HYPERSPEC_PROGRESS`` change it for the whole process. Used around
Dask computations as a context manager::

    with progress("simulate", ds):
        ds.to_zarr(...)
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

import numpy as np
from dask.callbacks import Callback
from tqdm import tqdm

__all__ = ["MODES", "PixelProgress", "Progress", "RunProgress", "format_rate", "get_mode", "progress", "set_mode"]

MODES = ("bar", "plain", "none")
_mode: str | None = None  # set_mode's choice; None: $HYPERSPEC_PROGRESS, else by the stream
_PLAIN_FORMAT = "{desc}: {percentage:3.0f}% | {n_fmt}/{total_fmt} px | {rate_fmt} | ETA {remaining}"


def set_mode(mode: str | None) -> str | None:
    """Choose how progress is shown for the rest of the process; returns the previous choice.

    Parameters
    ----------
    mode : {"bar", "plain", "none"} or None
        ``"bar"``: an in-place tqdm bar; ``"plain"``: sparse lines; ``"none"``: nothing. None goes back to
        the default (``$HYPERSPEC_PROGRESS``, else a bar on a terminal and plain lines otherwise).

    Returns
    -------
    str or None
        The mode set before (None: the default).

    Raises
    ------
    HyperspecError
        An unknown mode.

    Examples
    --------
    >>> old = set_mode("none")
    >>> get_mode(sys.stderr)
    'none'
    >>> _ = set_mode(old)
    """
    global _mode  # noqa: PLW0603
    if mode is not None and mode not in MODES:
        from hyperspec._errors import HyperspecError  # noqa: PLC0415

        raise HyperspecError(f"progress mode {mode!r} is not one of {', '.join(MODES)} (e.g. --progress=plain for logs).")
    old, _mode = _mode, mode
    return old


def get_mode(stream: TextIO | None = None) -> str:
    """The progress mode in force for ``stream``: ``set_mode``'s, else ``$HYPERSPEC_PROGRESS``, else by the stream.

    Parameters
    ----------
    stream : file-like, optional
        Where progress would go. Default ``sys.stderr``.

    Returns
    -------
    str
        ``"bar"``, ``"plain"`` or ``"none"``.

    Raises
    ------
    HyperspecError
        ``$HYPERSPEC_PROGRESS`` holds an unknown mode.

    Examples
    --------
    >>> import io
    >>> get_mode(io.StringIO()) in ("plain", "none", "bar")
    True
    """
    mode = _mode or os.environ.get("HYPERSPEC_PROGRESS") or None
    if mode is not None:
        if mode not in MODES:
            from hyperspec._errors import HyperspecError  # noqa: PLC0415

            raise HyperspecError(f"$HYPERSPEC_PROGRESS={mode!r} is not one of {', '.join(MODES)}; unset it or pick one.")
        return mode
    stream = stream if stream is not None else sys.stderr
    try:
        return "bar" if stream.isatty() else "plain"
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return "plain"


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


def _columns(stream) -> int:
    """The terminal's width in columns for ``stream``, 0 when it reports none."""
    try:
        return max(0, os.get_terminal_size(stream.fileno()).columns)
    except (AttributeError, OSError, ValueError):
        return 0


class _TqdmHandler(logging.Handler):
    """Log records written above the bar (``tqdm.write``) instead of through it."""

    def __init__(self, stream):
        super().__init__(logging.WARNING)
        self.stream = stream

    def emit(self, record):
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 -- logging must never break the computation
            self.handleError(record)


class PixelProgress:
    """Pixels done of a total, with px/s and ETA: a ``tqdm`` bar, sparse plain lines, or nothing.

    Thread-safe: ``update`` may be called from worker threads (the Dask callback) or the run loop.
    At the end (``close`` or leaving the ``with`` block) one summary line
    ``label: done, 1,234 px in 2.0 s (617 px/s)`` is written (``failed`` after an exception); on a
    terminal it replaces the bar, so a finished computation leaves exactly one line.

    Parameters
    ----------
    label : str
        Name of the computation, at the start of each line.
    total : int
        Pixels (spectra) the computation covers.
    initial : int, optional
        Pixels already done before (a resumed run): the bar starts there; rate and ETA are this run's.
    stream : file-like, optional
        Where to write. Default ``sys.stderr``.
    mode : {"bar", "plain", "none"}, optional
        Default: ``get_mode(stream)``.
    plain_step : float, optional
        Plain mode: a line each time this fraction more is done. Default 0.1 (10 %).
    plain_interval : float, optional
        Plain mode: also a line when this many seconds passed since the last one. Default 30.
    min_time : float, optional
        Plain mode: no intermediate line before this many seconds. Default 1.

    Attributes
    ----------
    n : int
        Pixels counted so far (``initial`` included).
    elapsed : float
        Seconds since the start (final once closed).

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()
    >>> with PixelProgress("fit", 100, stream=log, mode="plain") as bar:
    ...     bar.update(60)
    ...     bar.update(40)
    >>> log.getvalue().startswith("fit: done, 100 px in")
    True
    """

    def __init__(self, label: str, total: int, *, initial: int = 0, stream: TextIO | None = None, mode: str | None = None,
                 plain_step: float = 0.1, plain_interval: float = 30.0, min_time: float = 1.0):  # fmt: skip
        self.label = label
        self.total = max(0, int(total))
        self.initial = int(initial)
        self.n = self.initial
        self.stream = stream if stream is not None else sys.stderr
        self.mode = mode if mode is not None else get_mode(self.stream)
        if self.mode not in MODES:
            set_mode(self.mode)  # raises the clear error
        self.plain_step, self.plain_interval, self.min_time = plain_step, plain_interval, min_time
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._last_line = self._t0
        self._last_step = int(self.initial / self.total / plain_step) if self.total else 0
        self.elapsed = 0.0
        self._closed = False
        self._bar = None
        self._handler = None
        if self.mode == "bar":
            cols = _columns(self.stream)  # a terminal that reports no size (0 x 0 pty): tqdm would trim the bar to nothing
            self._bar = tqdm(total=self.total, initial=self.initial, desc=self.label, unit="px", file=self.stream, leave=False,
                             ncols=cols or 80, nrows=None if cols else 24, dynamic_ncols=bool(cols), mininterval=0.2,
                             smoothing=0.1)  # fmt: skip
            log = logging.getLogger("hyperspec")
            if not log.handlers and not logging.getLogger().handlers:  # the default (last-resort) handler would break the bar
                self._handler = _TqdmHandler(self.stream)
                log.addHandler(self._handler)

    def update(self, n: int) -> None:
        """Count ``n`` more pixels done (redraws the bar, or writes a plain line when one is due).

        Parameters
        ----------
        n : int
            Pixels just finished.
        """
        with self._lock:
            if self._closed:
                return
            self.n += int(n)
            if self._bar is not None:
                self._bar.update(int(n))
                if self.n >= self.total:
                    self._bar.refresh()  # the 100 % frame is drawn before close replaces the bar by its summary line
            elif self.mode == "plain" and self.total:
                now = time.perf_counter()
                step = int(min(self.n, self.total) / self.total / self.plain_step + 1e-9)
                due = step > self._last_step or now - self._last_line >= self.plain_interval
                if due and now - self._t0 >= self.min_time and self.n < self.total:
                    self._last_step, self._last_line = step, now
                    line = tqdm.format_meter(min(self.n, self.total), self.total, now - self._t0, prefix=self.label,
                                             unit="px", bar_format=_PLAIN_FORMAT, initial=self.initial)  # fmt: skip
                    self.stream.write(line + "\n")
                    self.stream.flush()
                elif due:
                    self._last_step = step

    def write(self, message: str) -> None:
        """Write a message line without breaking the bar (above it on a terminal).

        Parameters
        ----------
        message : str
            The line, without its newline.
        """
        if self._bar is not None:
            tqdm.write(message, file=self.stream)
        elif self.mode != "none":
            self.stream.write(message + "\n")
            self.stream.flush()

    def close(self, status: str = "done") -> None:
        """Stop: the bar goes, and one summary line says ``status``, the pixels, the time and the mean rate.

        Parameters
        ----------
        status : str
            ``"done"``, ``"failed"``, ``"cancelled"`` …; an empty string writes no summary line.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.elapsed = time.perf_counter() - self._t0
            if self._bar is not None:
                self._bar.close()
            if self._handler is not None:
                logging.getLogger("hyperspec").removeHandler(self._handler)
            if self.mode == "none" or not status:
                return
            done = self.n - self.initial
            shown = self.total - self.initial if status == "done" else done
            line = f"{self.label}: {status}, {shown:,} px in {_fmt_time(self.elapsed)} ({format_rate(shown, self.elapsed)})"
            self.stream.write(line + "\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close("failed" if exc_type is not None else "done")
        return False


class Progress(Callback):
    """A Dask callback reporting a computation's progress in pixels (``PixelProgress``) to ``stream``.

    Under Dask's local schedulers (threads, processes, synchronous) pixels are counted as the
    chunks are written: the ``store-map`` tasks of ``to_zarr`` writes (each a block of every pixel
    chunk of a variable), or, for a plain ``compute``, the graph's tasks, scaled to the pixel count.
    Dask callbacks do not run under ``dask.distributed``: there, ``hyperspec run`` counts the chunks
    its futures complete (``distributed.as_completed``).

    Parameters
    ----------
    label : str
        Name of the computation, printed at the start of each line.
    n_pixels : int
        Number of pixels (spectra) the computation covers.
    stream : file-like, optional
        Where to write. Default is ``sys.stderr``.
    enabled : bool, optional
        If False, nothing is printed (``elapsed`` is still measured). Default is True.
    mode : {"bar", "plain", "none"}, optional
        Default ``get_mode(stream)``.

    Attributes
    ----------
    elapsed : float
        Wall time of the last computation run inside the block, s (0.0 before any).

    See Also
    --------
    progress : builds one from a pixel count or a map Dataset.
    PixelProgress : the display.

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

    def __init__(self, label: str, n_pixels: int, *, stream: TextIO | None = None, enabled: bool = True, mode: str | None = None):
        super().__init__()
        self.label = label
        self.n_pixels = int(n_pixels)
        self.stream = stream if stream is not None else sys.stderr
        self.mode = "none" if not enabled else mode
        self.elapsed = 0.0
        self._bar: PixelProgress | None = None

    def _start(self, dsk):
        keys = list(dsk.keys()) if hasattr(dsk, "keys") else list(dsk)
        stores = {k for k in keys if isinstance(k, tuple) and str(k[0]).startswith("store-map")}
        self._counted = stores or None  # None: every task counts
        self._n_tasks = max(1, len(stores) if stores else len(keys))
        self._done = 0
        self._shown = 0
        self._bar = PixelProgress(self.label, self.n_pixels, stream=self.stream, mode=self.mode)

    def _pretask(self, key, dsk, state):
        pass

    def _posttask(self, key, result, dsk, state, worker_id):
        if self._counted is not None and key not in self._counted:
            return
        self._done += 1
        px = min(self.n_pixels, self.n_pixels * self._done // self._n_tasks)
        if px > self._shown:
            self._bar.update(px - self._shown)
            self._shown = px

    def _finish(self, dsk, state, errored):
        if not errored and self._shown < self.n_pixels:
            self._bar.update(self.n_pixels - self._shown)
            self._shown = self.n_pixels
        self._bar.close("failed" if errored else "done")
        self.elapsed = self._bar.elapsed


def progress(label: str, pixels) -> Progress:
    """Report progress (pixels, px/s, ETA) of the dask computations run inside a ``with`` block.

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
        A dask callback writing to ``sys.stderr`` (a bar on a terminal, sparse lines otherwise;
        ``set_mode`` changes that); use it as a context manager.

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
