"""One benchmark harness: every contender in one process, on the same inputs, in rotated order.

The rules it enforces (issue 18):

- the inputs are prepared by the caller *before* :func:`compare` and handed to every contender
  unchanged; every import happens at module import, outside the timed region;
- each contender gets one untimed warm-up call (on ``warmup_args``, e.g. a small slice: numba
  compilation, caches, BLAS start-up), the same for all;
- ``rounds`` rounds in rotated order (round ``r`` starts with contender ``r mod k``), so a slow
  first round or a neighbour's cache pollution does not fall on one contender only;
- per contender, min and median over rounds of the wall time (``time.perf_counter``) and the CPU
  time of the process (``time.process_time``, all threads), and the speed-ups against a named
  baseline from the mins and from the medians, wall and CPU;
- the machine stated: CPU model, cores, BLAS and numba threads, load average before and after.

:func:`read_floor` is the true read-once floor: ``np.add.reduce`` over the array already in memory
(no conversion, no copy), its minimum over several repeats.

Usage::

    from _harness import compare, machine, markdown_table, threads
    with threads(1):
        cmp = compare({"a": f, "b": g}, args=(y, p0), warmup_args=(y[:4], p0[:4]), baseline="b")
    print(cmp.speedup("a", stat="min", clock="wall"))
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import os
import platform
import shlex
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_reduce = np.add.reduce  # the read: one pass over the array, no conversion (a name, so tests can watch it)

__all__ = [
    "Comparison",
    "Timing",
    "compare",
    "machine",
    "machine_line",
    "markdown_table",
    "peak_rss_mib",
    "peak_traced_mib",
    "publish",
    "read_floor",
    "rounds_note",
    "threads",
    "timing_cells",
]


class HarnessError(ValueError):
    """A benchmark was set up wrongly (no contenders, an unknown baseline, too few rounds …)."""


@dataclass
class Timing:
    """Wall and CPU seconds of one contender, one value per round (in round order)."""

    name: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    items: int | None = None  # pixels (or other units) one call processes; None: per call

    def stat(self, stat: str = "min", clock: str = "wall") -> float:
        """``min`` or ``median`` of the ``wall`` or ``cpu`` seconds over rounds."""
        values = {"wall": self.wall, "cpu": self.cpu}[clock]
        return {"min": min, "median": statistics.median}[stat](values)

    def rate(self, stat: str = "min", clock: str = "wall") -> float:
        """Items per second (from the chosen statistic); NaN without ``items``."""
        return float("nan") if self.items is None else self.items / self.stat(stat, clock)


@dataclass
class Comparison:
    """What :func:`compare` measured: timings, round orders, last outputs, load and threads."""

    timings: dict[str, Timing]
    orders: list[list[str]]
    baseline: str
    outputs: dict[str, Any]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    threads: dict[str, Any]

    def speedup(self, name: str, stat: str = "min", clock: str = "wall") -> float:
        """Baseline time / contender time (per item when both state ``items``): > 1 means faster than the baseline."""
        base, this = self.timings[self.baseline], self.timings[name]
        tb, tc = base.stat(stat, clock), this.stat(stat, clock)
        if base.items is not None and this.items is not None:
            tb, tc = tb / base.items, tc / this.items
        return tb / tc

    def ratios(self, name: str) -> dict[str, float]:
        """All four speed-ups of ``name`` against the baseline: ``{"wall_min", "wall_median", "cpu_min", "cpu_median"}``."""
        return {f"{c}_{s}": self.speedup(name, s, c) for c in ("wall", "cpu") for s in ("min", "median")}


def _clocks(clock):
    return (time.perf_counter, time.process_time) if clock is None else clock


def compare(
    contenders: Mapping[str, Callable[..., Any]],
    args: Sequence[Any] = (),
    *,
    rounds: int = 3,
    baseline: str | None = None,
    warmup_args: Sequence[Any] | None = None,
    items: Mapping[str, int] | int | None = None,
    clock: tuple[Callable[[], float], Callable[[], float]] | None = None,
) -> Comparison:
    """Time every contender on the same ``args``, ``rounds`` times in rotated order.

    Parameters
    ----------
    contenders : mapping of str to callable
        Name → ``f(*args)``. Insertion order is the order of round 0.
    args : sequence
        The inputs, prepared beforehand, passed to every contender unchanged.
    rounds : int
        Rounds (≥ 1; use ≥ 3 for a table). Round ``r`` runs the contenders starting at index ``r mod k``.
    baseline : str, optional
        The contender the speed-ups are relative to. Default: the first.
    warmup_args : sequence, optional
        Inputs of the one untimed warm-up call of each contender (a small slice). Default ``args``.
    items : int or mapping of str to int, optional
        Items (pixels) one call processes, for rates and per-item speed-ups.
    clock : (wall, cpu) callables, optional
        The clocks (seconds). Default ``(time.perf_counter, time.process_time)``.

    Returns
    -------
    Comparison
        Timings per contender, the order of each round, each contender's output of its last round,
        the load average before and after, and the thread settings in force.
    """
    names = list(contenders)
    if not names:
        raise HarnessError("compare() needs at least one contender.")
    if not isinstance(rounds, int) or rounds < 1:
        raise HarnessError(f"`rounds` must be an integer ≥ 1; got {rounds!r}.")
    baseline = names[0] if baseline is None else baseline
    if baseline not in contenders:
        raise HarnessError(f"baseline {baseline!r} is not a contender; choose one of {names}.")
    wall, cpu = _clocks(clock)
    per_items = items if isinstance(items, Mapping) else dict.fromkeys(names, items)
    timings = {n: Timing(n, items=per_items.get(n)) for n in names}
    load_before = os.getloadavg()
    warm = tuple(args if warmup_args is None else warmup_args)
    for n in names:  # the same untimed warm-up for everyone
        contenders[n](*warm)
    outputs: dict[str, Any] = {}
    orders = []
    k = len(names)
    for r in range(rounds):
        order = names[r % k :] + names[: r % k]
        orders.append(order)
        for n in order:
            w0, c0 = wall(), cpu()
            out = contenders[n](*args)
            w1, c1 = wall(), cpu()
            timings[n].wall.append(w1 - w0)
            timings[n].cpu.append(c1 - c0)
            outputs[n] = out
    return Comparison(timings, orders, baseline, outputs, load_before, os.getloadavg(), thread_info())


def read_floor(array: np.ndarray, repeats: int = 7) -> dict[str, float]:
    """The read-once floor of an in-memory array: the fastest ``np.add.reduce(array, axis=None)``.

    Parameters
    ----------
    array : numpy.ndarray
        The data as the contenders get it (e.g. float32 spectra, already in memory, contiguous).
    repeats : int
        Repeats; the minimum is the floor.

    Returns
    -------
    dict
        ``seconds`` (min), ``median_s``, ``bytes``, ``gb_s`` (10⁹ bytes/s at the min) and ``dtype``.
    """
    a = np.asarray(array)
    times = []
    for _ in range(max(int(repeats), 1)):
        t0 = time.perf_counter()
        _reduce(a, axis=None)
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"seconds": best, "median_s": statistics.median(times), "bytes": a.nbytes, "gb_s": a.nbytes / best / 1e9, "dtype": str(a.dtype)}


def thread_info() -> dict[str, Any]:
    """The threads in force: BLAS libraries (threadpoolctl) and numba."""
    info: dict[str, Any] = {}
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)" for d in threadpool_info()]
    except ImportError:  # pragma: no cover - threadpoolctl comes with scipy/scikit stacks
        info["blas"] = ["threadpoolctl not installed"]
    try:
        import numba

        info["numba"] = numba.get_num_threads()
        info["numba_layer"] = numba.config.THREADING_LAYER
    except ImportError:  # pragma: no cover
        info["numba"] = None
    return info


@contextlib.contextmanager
def threads(n: int, blas: int | None = None) -> Iterator[None]:
    """Pin numba to ``n`` threads and BLAS (threadpoolctl) to ``blas`` (default ``n``) inside the block; restore after.

    ``blas=1`` with ``n`` > 1 is for contenders whose own threads (a pool, Dask workers) are the parallel unit.
    """
    import numba
    from threadpoolctl import threadpool_limits

    if n > numba.config.NUMBA_NUM_THREADS:
        raise HarnessError(f"{n} threads asked, numba was started with {numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS).")
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with threadpool_limits(limits=n if blas is None else blas):
            yield
    finally:
        numba.set_num_threads(old)


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc), so a later allocation shows up in the RSS again."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_rss_mib(fn: Callable[..., Any], *args) -> float:
    """Peak resident memory (MiB) added by one call ``fn(*args)``: VmHWM after a reset, minus the RSS before.

    Frees what the heap holds (``malloc_trim``), resets the high-water mark through
    ``/proc/self/clear_refs`` (Linux), calls ``fn`` and reads ``VmHWM``; NaN where that is unavailable.
    Counts every allocator (NumPy, numba's runtime, BLAS), unlike ``tracemalloc``.
    """

    def status(key):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
        raise KeyError(key)

    gc.collect()
    _malloc_trim()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = status("VmRSS:")
    except OSError:
        fn(*args)
        return float("nan")
    fn(*args)
    return max(status("VmHWM:") - before, 0.0)


def peak_traced_mib(fn: Callable[..., Any], *args) -> float:
    """Peak of Python + NumPy allocations (MiB, ``tracemalloc``) during one call ``fn(*args)``.

    Misses allocations made inside compiled code (numba's runtime, BLAS work space); see :func:`peak_rss_mib`.
    """
    gc.collect()
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def machine() -> dict[str, Any]:
    """CPU model, cores (and those this process may use), memory, versions, threads and the current load."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("scipy", "numba", "hyperspec"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = "absent"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable": usable,
        "mem_gib": mem,
        "os": platform.system(),
        "versions": versions,
        "load": os.getloadavg(),
        **thread_info(),
    }


def machine_line(info: Mapping[str, Any] | None = None) -> str:
    """One line for a table header: ``CPU, N cores (M usable), X GiB, versions, load``."""
    m = machine() if info is None else info
    v = ", ".join(f"{k} {val}" for k, val in m["versions"].items())
    load = "/".join(f"{x:.2f}" for x in m["load"])
    return f"{m['cpu']}, {m['cores']} cores ({m['usable']} usable), {m['mem_gib']:.0f} GiB RAM, {m['os']}; {v}; load average {load}"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "–"
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}" if abs(v) < 10 else f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"
        return f"{v:.2e}"
    return str(v)


def timing_cells(cmp: Comparison, name: str, *, vs: str | None = None) -> dict[str, Any]:
    """The standard timing columns of one contender: wall and CPU min / median (s) and its speed-ups.

    ``vs`` names the baseline in the column titles (default: the comparison's baseline). The speed-ups are
    baseline time / contender time (per item when both state ``items``), from the mins and the medians.
    """
    t = cmp.timings[name]
    base = vs or cmp.baseline
    return {
        "wall min / med (s)": f"{t.stat('min', 'wall'):.3g} / {t.stat('median', 'wall'):.3g}",
        "CPU min / med (s)": f"{t.stat('min', 'cpu'):.3g} / {t.stat('median', 'cpu'):.3g}",
        f"× {base} wall min/med": f"{cmp.speedup(name, 'min', 'wall'):.3g} / {cmp.speedup(name, 'median', 'wall'):.3g}",
        f"× {base} CPU min/med": f"{cmp.speedup(name, 'min', 'cpu'):.3g} / {cmp.speedup(name, 'median', 'cpu'):.3g}",
    }


def rounds_note(cmp: Comparison, what: str = "") -> str:
    """One line for a table's notes: the rounds, their orders, the BLAS / numba threads and the load before and after."""
    orders = "; ".join(" → ".join(o) for o in cmp.orders)
    load = "/".join(f"{v:.2f}" for v in cmp.load_before), "/".join(f"{v:.2f}" for v in cmp.load_after)
    blas = ", ".join(cmp.threads.get("blas", []))
    head = f"{what}: " if what else ""
    return (
        f"- {head}{len(cmp.orders)} rounds in rotated order after one untimed warm-up each; round orders: {orders}; "
        f"BLAS {blas}; numba {cmp.threads.get('numba')} threads; load {load[0]} before, {load[1]} after."
    )


def publish(text: str, out: str | Path | None) -> str:
    """Print a benchmark's table and, when ``out`` is given, write it there (parents created); return ``text``."""
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    return text


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    machine_info: Mapping[str, Any] | None = None,
    command: str | None = None,
    notes: Sequence[str] = (),
    label: str | None = None,
) -> str:
    """A Markdown table (columns: the keys of the first row) headed by the title, machine, date and command.

    Parameters
    ----------
    rows : sequence of mappings
        One mapping per row; every row has the first row's keys.
    title : str
        The heading.
    machine_info : mapping, optional
        :func:`machine`'s output (default: measured now).
    command : str, optional
        The command line that made the table (default: this process's ``sys.argv``).
    notes : sequence of str
        Lines printed under the header.
    label : str, optional
        A status shown in bold under the title (e.g. ``"rehearsal, shared machine"``).
    """
    if not rows:
        raise HarnessError("markdown_table() needs at least one row.")
    cols = list(rows[0])
    cmd = command if command is not None else "python " + shlex.join(sys.argv)
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", ""]
    if label:
        lines += [f"**{label}**", ""]
    lines += [f"Machine: {machine_line(machine_info)}.", f"Date: {date}. Command: `{cmd}`.", ""]
    lines += [*notes, ""] if notes else []
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"
