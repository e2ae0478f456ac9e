"""Store and generator throughput: hyperspec's Zarr v3 store against its peers, on the same map.

Contenders, all in one process through ``_harness.compare`` (the same in-memory array, rotated rounds,
min and median of wall and CPU time):

- write: ``hyperspec.save`` (Blosc/Zstd level 1, bit-shuffle, pixel chunks) vs ``xarray.Dataset.to_zarr``
  with zarr's default codec (what a user gets without hyperspec) vs ``numpy.save`` (the uncompressed floor);
- read back whole into memory: ``hyperspec.open(...)["spectra"].values`` vs ``xarray.open_zarr`` vs
  ``numpy.load``, each checked equal to the input;
- ``hyperspec.synthetic.write`` (rendering the physics and streaming it to a store; no peer).

Peak RSS: one extra call per contender after the rounds (``_harness.peak_rss_mib``: VmHWM after a reset,
minus the RSS before, so the input array already in memory is not counted). Usage::

    python benchmarks/bench_store.py --size 256x256 --n-spectral 1024 --out benchmarks/results/store_cpu.md
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    compare,
    machine,
    markdown_table,
    peak_rss_mib,
    publish,
    rounds_note,
    threads,
    timing_cells,
)

import hyperspec  # noqa: E402
from hyperspec import synthetic  # noqa: E402

WRITERS = ("hyperspec", "xarray-default", "numpy-raw")


def _disk(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


class Writers:
    """The three writers; each call writes a fresh path and first removes that writer's previous output."""

    def __init__(self, work: Path):
        self.work, self.last, self.count = work, {}, itertools.count()

    def _fresh(self, name: str, suffix: str) -> Path:
        if name in self.last:
            _remove(self.last[name])
        self.last[name] = self.work / f"{name}-{next(self.count)}{suffix}"
        return self.last[name]

    def hyperspec(self, ds, arr):
        return hyperspec.save(ds, self._fresh("hyperspec", ".zarr"), progress=False)

    def xarray(self, ds, arr):
        path = self._fresh("xarray-default", ".zarr")
        xr.Dataset({"spectra": (("y", "x", "spectral"), arr)}).to_zarr(path, zarr_format=3, consolidated=False)
        return path

    def numpy(self, ds, arr):
        path = self._fresh("numpy-raw", ".npy")
        np.save(path, arr)
        return path


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--n-spectral", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the extra calls that measure peak RSS")
    parser.add_argument("--label", default=None, help='a status line for the table, e.g. "rehearsal, shared machine"')
    parser.add_argument("--out", default=None, help="write the Markdown table here")
    args = parser.parse_args(argv)
    ny, nx = (int(v) for v in args.size.split("x"))
    m = args.n_spectral
    ds, _ = synthetic.cspbbr3_map((ny, nx), n_spectral=m, seed=0)
    arr = np.ascontiguousarray(ds["spectra"].values)
    ds_h = hyperspec.from_array(arr, np.linspace(-4500, 3600, m), laser_nm=632.8)
    warm_arr = np.ascontiguousarray(arr[:1])
    warm_h = hyperspec.from_array(warm_arr, np.linspace(-4500, 3600, m), laser_nm=632.8)
    n_pix, mib = ny * nx, arr.nbytes / 2**20
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    m0 = machine()
    nan = float("nan")
    try:
        w = Writers(work)
        writers = dict(zip(WRITERS, (w.hyperspec, w.xarray, w.numpy), strict=True))
        with threads(1):
            wcmp = compare(writers, (ds_h, arr), rounds=args.rounds, baseline="hyperspec", warmup_args=(warm_h, warm_arr))
            paths = dict(w.last)  # the last round's outputs: the stores the readers read
            disk = {name: _disk(p) for name, p in paths.items()}
            readers = {
                "hyperspec": lambda: hyperspec.open(paths["hyperspec"])["spectra"].values,
                "xarray-default": lambda: xr.open_zarr(paths["xarray-default"], consolidated=False)["spectra"].values,
                "numpy-raw": lambda: np.load(paths["numpy-raw"]),
            }
            rcmp = compare(readers, (), rounds=args.rounds, baseline="hyperspec")
            same = {name: bool(np.array_equal(out, arr)) for name, out in rcmp.outputs.items()}
            read_rss = dict.fromkeys(WRITERS, nan) if args.no_memory else {n: peak_rss_mib(f) for n, f in readers.items()}
            write_rss = dict.fromkeys(WRITERS, nan) if args.no_memory else {n: peak_rss_mib(f, ds_h, arr) for n, f in writers.items()}
            gen_dir = work / "generate"
            gen_dir.mkdir()
            gen_count = itertools.count()

            def generate(shape):
                return synthetic.write("map", gen_dir / f"g{next(gen_count)}.zarr", shape, n_spectral=m, overwrite=True, progress=False)

            gcmp = compare({"generate": generate}, ((ny, nx),), rounds=args.rounds, warmup_args=((1, 2),))
            gen_disk = _disk(gcmp.outputs["generate"])
            gen_rss = nan if args.no_memory else peak_rss_mib(generate, (ny, nx))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for name in WRITERS:
        wt, rt = wcmp.timings[name], rcmp.timings[name]
        cells = timing_cells(wcmp, name)
        rows.append(
            {
                "case": name,
                "write MiB/s (min)": mib / wt.stat("min"),
                "write px/s (min)": n_pix / wt.stat("min"),
                "write wall min / med (s)": cells["wall min / med (s)"],
                "write CPU min / med (s)": cells["CPU min / med (s)"],
                "write × hyperspec wall min/med": cells["× hyperspec wall min/med"],
                "read MiB/s (min)": mib / rt.stat("min"),
                "read wall min / med (s)": timing_cells(rcmp, name)["wall min / med (s)"],
                "read × hyperspec wall min/med": timing_cells(rcmp, name)["× hyperspec wall min/med"],
                "on disk (MiB)": disk[name] / 2**20,
                "ratio": arr.nbytes / disk[name],
                "peak RSS write / read (MiB)": f"{write_rss[name]:.0f} / {read_rss[name]:.0f}",
                "equal": "yes" if same[name] else "NO",
            }
        )
    gt = gcmp.timings["generate"]
    rows.append(
        {
            "case": "generate",
            "write MiB/s (min)": mib / gt.stat("min"),
            "write px/s (min)": n_pix / gt.stat("min"),
            "write wall min / med (s)": f"{gt.stat('min', 'wall'):.3g} / {gt.stat('median', 'wall'):.3g}",
            "write CPU min / med (s)": f"{gt.stat('min', 'cpu'):.3g} / {gt.stat('median', 'cpu'):.3g}",
            "write × hyperspec wall min/med": f"{wcmp.timings['hyperspec'].stat('min') / gt.stat('min'):.3g} / "
            f"{wcmp.timings['hyperspec'].stat('median') / gt.stat('median'):.3g}",
            "read MiB/s (min)": "—",
            "read wall min / med (s)": "—",
            "read × hyperspec wall min/med": "—",
            "on disk (MiB)": gen_disk / 2**20,
            "ratio": arr.nbytes / gen_disk,
            "peak RSS write / read (MiB)": f"{gen_rss:.0f} / —",
            "equal": "—",
        }
    )
    notes = [
        f"{ny}×{nx}×{m} float32 synthetic CsPbBr3 map ({mib:.0f} MiB, seed 0), in memory before the rounds and handed to every writer unchanged; "
        "BLAS and numba on 1 thread (zarr's codecs use their own threads, the same for hyperspec and xarray).",
        "Writers: `hyperspec.save` (Blosc/Zstd 1, bit-shuffle, pixel chunks), `xarray.Dataset.to_zarr` (zarr v3 default codec), `numpy.save`; "
        "each call writes a fresh path and first removes that writer's previous output (inside its timed call, the same for all). "
        "Warm-up: one 1×nx row. Readers: the last round's outputs read whole into memory (`hyperspec.open(...)['spectra'].values`, "
        "`xarray.open_zarr(...)['spectra'].values`, `numpy.load`), each checked array-equal to the input.",
        "`generate` is `hyperspec.synthetic.write`: rendering the physics (all bands, noise, artefacts, ground truth) and streaming it "
        "to a store block by block (warm-up: a 1×2 map); its on-disk size includes the truth group; its × column is hyperspec's write time / its time.",
        "`× hyperspec` columns: hyperspec's time / this case's, from the mins and the medians (> 1: faster than hyperspec).",
        "`hyperspec.save` also computes and stores the quicklook band images the viewer opens with (`bands.windows.quicklook`): "
        "0.15 of its 0.24 s on a 64×64×1024 map (cProfile, 2026-12-03); xarray and NumPy write the array only.",
        "Peak RSS: one extra call each after the rounds, VmHWM after a reset minus the RSS before (the input array, already resident, is not counted).",
        rounds_note(wcmp, "write"),
        rounds_note(rcmp, "read"),
        rounds_note(gcmp, "generate"),
    ]
    text = markdown_table(
        rows, title=f"Store benchmark: {ny}×{nx}×{m} float32 synthetic map ({mib:.0f} MiB)", machine_info=m0, notes=notes, label=args.label
    )
    return publish(text, args.out)


if __name__ == "__main__":
    main()
