"""Text map → Zarr store conversion: bounded memory as the file grows, against pandas in memory.

For each size a HORIBA LabSpec-style text map (``#key=value`` header, axis row, rows ``x y I…``;
1024 channels, one decimal) is written, then converted by ``hyperspec.open(path, lazy=True)`` +
``hyperspec.save`` (the path ``hyperspec convert`` takes above 256 MiB) and by the usual in-memory route
(``pandas.read_csv`` with the C parser → grid → ``xarray`` ``to_zarr``), both in this process through
``_harness.compare`` (rotated rounds, the same file, one untimed warm-up each on a 1 MiB map). Peak RSS:
one extra call each (``_harness.peak_rss_mib``, VmHWM after a reset minus the RSS before); both stores
are checked equal. Usage: ``python benchmarks/bench_convert.py --sizes 64 256 1024 --out benchmarks/results/convert_cpu.md``
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, machine, markdown_table, peak_rss_mib, publish, rounds_note, threads, timing_cells  # noqa: E402

import hyperspec  # noqa: E402


def convert_hyperspec(src: Path, dst: Path) -> Path:
    """hyperspec's streaming conversion: a lazy open and a block-by-block save."""
    return hyperspec.save(hyperspec.open(src, lazy=True), dst, progress=False)


def convert_pandas(src: Path, dst: Path) -> Path:
    """The in-memory route: ``pandas.read_csv`` (C parser, float32) → a (y, x, spectral) grid → ``xarray.to_zarr``."""
    n_head = 0
    with open(src, "rb") as fh:
        for line in fh:
            if not line.startswith(b"#"):
                break
            n_head += 1
    table = pd.read_csv(src, sep="\t", header=None, skiprows=n_head + 1, engine="c", dtype=np.float32).to_numpy()
    xs, ys = np.unique(table[:, 0]), np.unique(table[:, 1])
    cube = np.empty((len(ys), len(xs), table.shape[1] - 2), np.float32)
    cube[np.searchsorted(ys, table[:, 1]), np.searchsorted(xs, table[:, 0])] = table[:, 2:]
    del table
    with warnings.catch_warnings():  # xarray's default: consolidated metadata, which zarr v3 warns is outside its spec
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        xr.Dataset({"spectra": (("y", "x", "spectral"), cube)}, coords={"x": xs, "y": ys}).to_zarr(dst, mode="w")
    return dst


def write_map(path: Path, mib: float, m: int = 1024, seed: int = 0) -> tuple[int, int]:
    """A LabSpec-style text map of about ``mib`` MiB; returns (ny, nx)."""
    rng = np.random.default_rng(seed)
    axis = np.linspace(100, 1200, m)
    line_bytes = m * 6 + 20
    n_px = max(4, int(mib * 2**20 / line_bytes))
    nx = int(np.sqrt(n_px))
    ny = max(1, n_px // nx)
    base = 300 + 2000 * np.exp(-0.5 * ((axis - 520) / 4) ** 2) + 500 * np.exp(-0.5 * ((axis - 900) / 60) ** 2)
    payloads = ["\t".join(f"{v:.1f}" for v in base * rng.uniform(0.5, 1.5) + rng.normal(0, 20, m)) for _ in range(97)]
    with path.open("w") as fh:
        fh.write("#Acq. time (s)=\t1\n#Accumulations=\t2\n#Laser (nm)=\t532.17\n#Instrument=\tLabRAM HR Evolution\n")
        fh.write("\t\t" + "\t".join(f"{v:.4f}" for v in axis) + "\n")
        for iy in range(ny):  # LabSpec order: x outer, y inner is also handled; this is the raster order
            y = f"{iy * 0.5:.3f}"
            fh.write("".join(f"{ix * 0.5:.3f}\t{y}\t{payloads[(iy * 31 + ix) % 97]}\n" for ix in range(nx)))
    return ny, nx


def _contender(fn, work: Path, name: str):
    """``fn(src, dst)`` writing a fresh store per call, after removing its own previous one (the same for both)."""
    count, last = itertools.count(), []

    def call(src):
        if last:
            shutil.rmtree(last.pop(), ignore_errors=True)
        dst = work / f"{name}-{next(count)}.zarr"
        last.append(dst)
        return fn(src, dst)

    return call


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[64, 256, 1024], help="text file sizes in MiB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the extra calls that measure peak RSS")
    parser.add_argument("--label", default=None, help='a status line for the table, e.g. "rehearsal, shared machine"')
    parser.add_argument("--out", default=None)
    parser.add_argument("--tmp", default=None, help="scratch directory (needs ≈2.5× the largest size)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-convert-", dir=args.tmp))
    m0 = machine()
    rows, notes = [], []
    try:
        warm = tmp / "warm.txt"
        write_map(warm, 1)
        for mib in args.sizes:
            src = tmp / f"map_{mib:g}.txt"
            t = time.perf_counter()
            ny, nx = write_map(src, mib)
            print(f"wrote {src.stat().st_size / 2**20:.0f} MiB ({ny}×{nx}) in {time.perf_counter() - t:.1f} s", flush=True)
            work = tmp / f"out_{mib:g}"
            work.mkdir()
            cont = {
                "hyperspec": _contender(convert_hyperspec, work, "hyperspec"),
                "pandas + xarray": _contender(convert_pandas, work, "pandas"),
            }
            with threads(1):
                cmp = compare(cont, (src,), rounds=args.rounds, baseline="pandas + xarray", warmup_args=(warm,))
            a = hyperspec.open(cmp.outputs["hyperspec"])["spectra"]
            b = xr.open_zarr(cmp.outputs["pandas + xarray"])["spectra"]
            same = a.shape == b.shape and all(np.array_equal(a[i : i + 64].values, b[i : i + 64].values) for i in range(0, a.shape[0], 64))
            with threads(1):  # one extra call each, after the check (it replaces the outputs)
                rss = dict.fromkeys(cont, float("nan")) if args.no_memory else {n: peak_rss_mib(f, src) for n, f in cont.items()}
            size = src.stat().st_size
            for name in cont:
                t = cmp.timings[name]
                rows.append(
                    {
                        "text file": f"{size / 2**20:.0f} MiB",
                        "pixels": f"{ny * nx:,}",
                        "contender": name,
                        **timing_cells(cmp, name, vs="pandas"),
                        "MB/s (wall min)": size / 1e6 / t.stat("min"),
                        "peak RSS (MiB)": rss[name],
                        "equal": "yes" if same else "NO",
                    }
                )
            notes.append(rounds_note(cmp, f"{size / 2**20:.0f} MiB"))
            shutil.rmtree(work, ignore_errors=True)
            src.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    head = [
        "LabSpec-style text maps (1024 channels, one decimal). hyperspec: `hyperspec.open(path, lazy=True)` + `hyperspec.save` "
        "(what `hyperspec convert` does above 256 MiB). Peer: `pandas.read_csv` (C parser, float32) → grid → `xarray.to_zarr`, in memory. "
        "Both in one process on the same file, each call writing a fresh store after removing its previous one; the untimed warm-up "
        "is a 1 MiB map. BLAS/numba 1 thread (zarr's codec threads as they come). Speed-ups: pandas time / contender time (> 1: faster "
        "than pandas). Peak RSS: one extra call each, VmHWM after a reset minus the RSS before. Stores compared array-equal.",
    ]
    text = markdown_table(
        rows, title="Text map → Zarr conversion (benchmarks/bench_convert.py)", machine_info=m0, notes=head + notes, label=args.label
    )
    return publish(text, args.out)


if __name__ == "__main__":
    main()
