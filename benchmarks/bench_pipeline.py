"""Pipeline at scale: the smallest recipe streamed store → store against the in-memory engine, same map.

For each map size a synthetic store is written (block by block); then, in this process through
``_harness.compare`` (rotated rounds, one untimed warm-up each on a 2×8-pixel store):

- ``hyperspec run`` (``run_recipe``: recipe ``cspbbr3-633`` from the store to a fresh output store);
- ``hyperspec.decompose`` on the same map loaded whole into memory beforehand (Dask row chunks).

Both on the NumPy backend with the threads scheduler, numba on every core and BLAS on 1 thread (the
Dask workers are the parallel unit). Peak RSS: one extra call each (``_harness.peak_rss_mib``: VmHWM after
a reset minus the RSS before; the in-memory map, already resident, is not counted). Sizes are float32
store sizes (1024 channels). Usage:
``python benchmarks/bench_pipeline.py --sizes 16 64 256 --out benchmarks/results/pipeline_cpu.md``
(16 MiB is 4096 spectra, ≈ 10 s a call on 2 cores; 1 GiB is ≈ 8 min a call).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, machine, markdown_table, peak_rss_mib, publish, rounds_note, threads, timing_cells  # noqa: E402

import hyperspec  # noqa: E402
from hyperspec import synthetic  # noqa: E402
from hyperspec.pipeline import run_recipe  # noqa: E402

PRESET = "cspbbr3-633"


def pipeline_contender(work: Path):
    """``run_recipe`` store → a fresh output store per call (its previous output removed first)."""
    count, last = itertools.count(), []

    def call(store, ds):
        if last:
            shutil.rmtree(last.pop(), ignore_errors=True)
        out = work / f"run-{next(count)}.zarr"
        last.append(out)
        recipe = {
            "input": {"path": str(store)},
            "decompose": {"preset": PRESET},
            "output": {"path": str(out)},
            "compute": {"backend": "numpy"},
        }
        return run_recipe(recipe, progress=False)

    return call


def memory_contender(store, ds):
    """``hyperspec.decompose`` on the map already in memory, in Dask row chunks (8 per map)."""
    return hyperspec.decompose(ds.chunk({"y": max(1, ds.sizes["y"] // 8)}), preset=PRESET, backend="numpy").compute()


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[16, 64, 256], help="store sizes in MiB")
    parser.add_argument("--n-spectral", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the extra calls that measure peak RSS")
    parser.add_argument("--label", default=None, help='a status line for the table, e.g. "rehearsal, shared machine"')
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    m = args.n_spectral
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    cores = os.cpu_count() or 1
    m0 = machine()
    rows, notes = [], []
    try:
        warm_store = synthetic.write("map", tmp / "warm.zarr", (2, 8), n_spectral=m, seed=1, progress=False)
        warm_ds = hyperspec.open(warm_store).compute()
        for mib in args.sizes:
            n_px = max(1, int(mib * 2**20 / (m * 4)))
            side = max(1, int(math.sqrt(n_px)))
            ny, nx = side, max(1, n_px // side)
            store = synthetic.write("map", tmp / f"map{mib:g}.zarr", (ny, nx), n_spectral=m, seed=0, progress=False)
            ds = hyperspec.open(store).compute()
            work = tmp / f"out{mib:g}"
            work.mkdir()
            cont = {"hyperspec run (store → store)": pipeline_contender(work), "decompose (in memory)": memory_contender}
            with threads(cores, blas=1):
                cmp = compare(
                    cont,
                    (store, ds),
                    rounds=args.rounds,
                    baseline="decompose (in memory)",
                    warmup_args=(warm_store, warm_ds),
                    items=ny * nx,
                )
                out = cmp.outputs["hyperspec run (store → store)"]
                ref = cmp.outputs["decompose (in memory)"]
                got = hyperspec.open(out).compute()
                rss = dict.fromkeys(cont, float("nan")) if args.no_memory else {n: peak_rss_mib(f, store, ds) for n, f in cont.items()}
            agree = _agreement(got, ref)
            for name in cont:
                t = cmp.timings[name]
                rows.append(
                    {
                        "store (MiB)": f"{mib:g}",
                        "map": f"{ny}×{nx}",
                        "contender": name,
                        **timing_cells(cmp, name, vs="in-memory"),
                        "px/s (wall min)": t.rate("min", "wall"),
                        "peak RSS (MiB)": rss[name],
                        "same results": agree,
                    }
                )
            notes.append(rounds_note(cmp, f"{mib:g} MiB"))
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(store, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    head = [
        f"Recipe `{PRESET}` (the smallest), NumPy backend, threads scheduler; numba {cores} threads, BLAS 1 thread (the Dask workers are "
        "the parallel unit). `hyperspec run`: `run_recipe` from the synthetic store (seed 0) to a fresh output store per call (its "
        "previous output removed first, inside the call). `decompose (in memory)`: `hyperspec.decompose` on the same map loaded "
        "whole before the rounds, 8 Dask row chunks. Warm-up: a 2×8-pixel store (seed 1), the same for both. Speed-ups: in-memory "
        "time / contender time (> 1: faster than in memory). Peak RSS: one extra call each, VmHWM after a reset minus the RSS "
        "before (the in-memory map is already resident). `same results`: the run's stored amplitudes against the in-memory ones.",
    ]
    text = markdown_table(
        rows, title=f"Pipeline benchmark: the smallest recipe ({PRESET}) streamed from store to store", machine_info=m0,
        notes=head + notes, label=args.label,
    )  # fmt: skip
    return publish(text, args.out)


def _agreement(got, ref) -> str:
    """Largest relative difference of the shared float variables of the run's result and the in-memory one."""
    worst, n = 0.0, 0
    import numpy as np

    for name in ref.data_vars:
        if name in got.data_vars and np.issubdtype(ref[name].dtype, np.floating) and ref[name].shape == got[name].shape:
            a, b = np.asarray(got[name].values, float), np.asarray(ref[name].values, float)
            ok = np.isfinite(a) & np.isfinite(b)
            n += 1
            if ok.any():
                worst = max(worst, float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-12))))
    return f"max rel. diff. {worst:.1e} ({n} variables)"


if __name__ == "__main__":
    main()
