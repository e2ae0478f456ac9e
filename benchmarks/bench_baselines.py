"""Baselines: hyperspec (batched over pixels) against a pybaselines loop (with pentapy), through the one harness.

Data: a synthetic CsPbBr3 map (``--size``, ``--n-spectral`` channels, default 1024), held in memory; the
spectra as float64. For every method the peer is ``pybaselines.Baseline`` called once per spectrum, as a
user's script would (pentapy solves its pentadiagonal systems when installed), on ``--peer-pixels``
spectra spread evenly over the map. hyperspec runs the same method on the whole map twice: the array
function ``hyperspec.preprocess.baselines.<method>`` on one core, and ``hyperspec.preprocess.baseline``
on Dask chunks of rows (the machine's cores as threads, BLAS single-threaded).

Per method, the three contenders run in one process through ``_harness.compare``: one untimed warm-up
each on the same 8 spectra (numba's cache load, pentapy's and pybaselines' set-up alike), ``--rounds``
rounds in rotated order, min and median of wall and CPU time, speed-ups per pixel against the
pybaselines loop. The largest relative difference to pybaselines on the peer's spectra is reported, and
the peak RSS and traced memory of one extra call of each.
Usage: ``python benchmarks/bench_baselines.py --size 64x64 --out benchmarks/results/baselines_cpu.md``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pybaselines  # noqa: E402
from _harness import compare, machine, markdown_table, peak_rss_mib, peak_traced_mib, publish, threads  # noqa: E402

import hyperspec  # noqa: E402
from hyperspec import synthetic  # noqa: E402
from hyperspec.preprocess import baselines  # noqa: E402

METHODS = ("asls", "arpls", "airpls", "modpoly")
KWARGS = {"modpoly": {"poly_order": 3}}


def peer_pixels(n: int, k: int) -> np.ndarray:
    """The peer's pixels: ``k`` spread evenly over ``n``."""
    return np.arange(0, n, max(1, n // k))[:k]


def contenders(method: str, x: np.ndarray, cores: int) -> dict:
    """The three contenders of one method; each takes (ds, Y (n, m) float64, peer rows) and returns baselines."""
    kw = KWARGS.get(method, {})
    fitter = pybaselines.Baseline(x_data=x)
    array_kw = dict(kw, x=x) if method == "modpoly" else kw

    def loop(ds, Y, rows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.stack([getattr(fitter, method)(y, **kw)[0] for y in Y[rows]])

    def one_core(ds, Y, rows):
        return getattr(baselines, method)(Y, **array_kw)

    def dask_map(ds, Y, rows):
        dsc = ds.chunk({"y": max(1, ds.sizes["y"] // (4 * cores))})
        with hyperspec.single_threaded_blas():
            res = hyperspec.preprocess.baseline(dsc, method, **kw).compute()
        return res

    return {"pybaselines loop": loop, "hyperspec, 1 core": one_core, f"hyperspec.preprocess.baseline ({cores} threads)": dask_map}


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--n-spectral", type=int, default=1024)
    parser.add_argument("--peer-pixels", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated (default {','.join(METHODS)})")
    parser.add_argument("--label", default=None, help='a status line for the table, e.g. "rehearsal, shared machine"')
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    ny, nx = (int(v) for v in args.size.split("x"))
    methods = args.methods.split(",")
    if set(methods) - set(METHODS):
        raise SystemExit(f"--methods: unknown {sorted(set(methods) - set(METHODS))}; choose from {', '.join(METHODS)}.")
    tmp = Path(tempfile.mkdtemp(prefix="bench-baselines-"))
    path = synthetic.write("map", tmp / "map.zarr", (ny, nx), n_spectral=args.n_spectral, seed=0, artefacts=False, progress=False)
    ds = hyperspec.open(path).compute()
    Y = ds["spectra"].values.reshape(-1, ds.sizes["spectral"]).astype(np.float64)
    x = ds["shift"].values
    rows_peer = peer_pixels(len(Y), args.peer_pixels)
    warm_rows = min(8, nx)
    warm = (ds.isel(y=slice(0, 1), x=slice(0, warm_rows)), Y[:warm_rows], np.arange(warm_rows))
    cores = os.cpu_count() or 1
    m0 = machine()
    rows, notes_cmp = [], []
    for method in methods:
        cont = contenders(method, x, cores)
        items = dict.fromkeys(cont, len(Y))
        items["pybaselines loop"] = rows_peer.size
        with threads(1):  # one core, except the Dask contender's worker threads (BLAS single-threaded)
            cmp = compare(cont, (ds, Y, rows_peer), rounds=args.rounds, baseline="pybaselines loop", warmup_args=warm, items=items)
            rss = {name: peak_rss_mib(fn, ds, Y, rows_peer) for name, fn in cont.items()}
            traced = {name: peak_traced_mib(fn, ds, Y, rows_peer) for name, fn in cont.items()}
        ref = cmp.outputs["pybaselines loop"]
        scale = np.abs(ref).max(axis=1, keepdims=True)
        for name, out in cmp.outputs.items():
            if name == "pybaselines loop":
                engine, arr = "pentapy" if method != "modpoly" else "numpy", None
            elif isinstance(out, tuple):  # the array function: (baselines, info)
                engine, arr = out[1].get("engine", "?"), out[0]
            else:  # the Dataset function
                engine, arr = out.attrs.get("baseline_engine", "?"), out["baseline"].values.reshape(len(Y), -1)
            diff = float(np.max(np.abs(arr[rows_peer] - ref) / scale)) if arr is not None else float("nan")
            tm = cmp.timings[name]
            rows.append(
                {
                    "method": method,
                    "contender": name,
                    "engine": engine,
                    "pixels": tm.items,
                    "wall min / med (s)": f"{tm.stat('min', 'wall'):.3g} / {tm.stat('median', 'wall'):.3g}",
                    "CPU min / med (s)": f"{tm.stat('min', 'cpu'):.3g} / {tm.stat('median', 'cpu'):.3g}",
                    "px/s (wall min)": tm.rate("min", "wall"),
                    "× pybaselines wall min/med": f"{cmp.speedup(name, 'min', 'wall'):.3g} / {cmp.speedup(name, 'median', 'wall'):.3g}",
                    "× pybaselines CPU min/med": f"{cmp.speedup(name, 'min', 'cpu'):.3g} / {cmp.speedup(name, 'median', 'cpu'):.3g}",
                    "max rel. diff.": diff,
                    "peak RSS / traced MiB": f"{rss[name]:.1f} / {traced[name]:.1f}",
                }
            )
        load = "/".join(f"{v:.2f}" for v in cmp.load_before), "/".join(f"{v:.2f}" for v in cmp.load_after)
        notes_cmp.append(
            f"- {method}: load {load[0]} before, {load[1]} after; round orders: {'; '.join(' → '.join(o) for o in cmp.orders)}."
        )
    notes = [
        f"{ny}×{nx}×{args.n_spectral} synthetic CsPbBr3 map (seed 0, no artefacts), float64; pybaselines {pybaselines.__version__} defaults (modpoly: poly_order 3), called once per spectrum on {rows_peer.size} spectra spread evenly over the map; hyperspec does every pixel.",
        f"{args.rounds} rounds in rotated order (`_harness.compare`) after one untimed warm-up each on the same {warm_rows} spectra; speed-ups per pixel against the pybaselines loop (> 1: faster). BLAS and numba on 1 thread; the Dask contender runs {cores} worker threads (BLAS single-threaded).",
        "'max rel. diff.': max |hyperspec − pybaselines| / max |pybaselines| over the peer's spectra. Memory of one extra call: peak RSS (VmHWM after `malloc_trim` and a reset, minus the RSS before) / peak traced (`tracemalloc`).",
        *notes_cmp,
    ]
    text = markdown_table(
        rows,
        title=f"Baselines: {ny}×{nx}×{args.n_spectral} synthetic CsPbBr3 map, hyperspec vs a pybaselines loop",
        machine_info=m0,
        notes=notes,
        label=args.label,
    )
    return publish(text, args.out)


if __name__ == "__main__":
    main()
