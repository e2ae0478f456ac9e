"""Text map → Zarr store conversion: bounded memory as the file grows, against pandas in memory, one run.

For each size a HORIBA LabSpec-style text map (``#key=value`` header, axis row, rows ``x y I…``;
1024 channels, one decimal) is written, then converted in a fresh process by
``hyperspec.open(path, lazy=True)`` + ``hyperspec.save`` (the path ``hyperspec convert`` takes above
256 MiB) and by the usual in-memory route (``pandas.read_csv`` with the C parser → grid → ``xarray``
``to_zarr``). Peak RSS is each process's own ``VmHWM``; both stores are checked equal.
Usage: ``python benchmarks/bench_convert.py --sizes 64 256 1024 --out benchmarks/results/convert_cpu.md``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import PEAK_RSS_CODE, _machine, write_table  # noqa: E402

OURS = (
    PEAK_RSS_CODE
    + r"""
import json, sys, time
import hyperspec
t = time.perf_counter()
ds = hyperspec.open(sys.argv[1], lazy=True)
hyperspec.save(ds, sys.argv[2], progress=False)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "rss": peak_rss(), "shape": list(ds.spectra.shape)}))
"""
)

PANDAS = (
    PEAK_RSS_CODE
    + r"""
import json, sys, time
import numpy as np, pandas as pd, xarray as xr
t = time.perf_counter()
n_head = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        if not line.startswith(b"#"):
            break
        n_head += 1
table = pd.read_csv(sys.argv[1], sep="\t", header=None, skiprows=n_head + 1, engine="c", dtype=np.float32).to_numpy()
xs, ys = np.unique(table[:, 0]), np.unique(table[:, 1])
cube = np.empty((len(ys), len(xs), table.shape[1] - 2), np.float32)
cube[np.searchsorted(ys, table[:, 1]), np.searchsorted(xs, table[:, 0])] = table[:, 2:]
del table
xr.Dataset({"spectra": (("y", "x", "spectral"), cube)}, coords={"x": xs, "y": ys}).to_zarr(sys.argv[2], mode="w")
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "rss": peak_rss()}))
"""
)


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


def run(code: str, src: Path, dst: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", code, str(src), str(dst)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[64, 256, 1024], help="text file sizes in MiB")
    parser.add_argument("--out", default=None)
    parser.add_argument("--tmp", default=None, help="scratch directory (needs ≈2.5× the largest size)")
    args = parser.parse_args()
    import hyperspec

    tmp = Path(tempfile.mkdtemp(prefix="bench-convert-", dir=args.tmp))
    rows = []
    try:
        for mib in args.sizes:
            src = tmp / f"map_{int(mib)}.txt"
            t = time.perf_counter()
            ny, nx = write_map(src, mib)
            print(f"wrote {src.stat().st_size / 2**20:.0f} MiB ({ny}×{nx}) in {time.perf_counter() - t:.1f} s", flush=True)
            ours = run(OURS, src, tmp / "ours.zarr")
            peer = run(PANDAS, src, tmp / "peer.zarr")
            import xarray as xr

            a, b = hyperspec.open(tmp / "ours.zarr")["spectra"], xr.open_zarr(tmp / "peer.zarr")["spectra"]
            same = all(np.array_equal(a[i : i + 64].values, b[i : i + 64].values) for i in range(0, a.shape[0], 64))
            size = src.stat().st_size
            rows.append((size, ny * nx, ours, peer, same))
            print(rows[-1], flush=True)
            for p in (src, tmp / "ours.zarr", tmp / "peer.zarr"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# Text map → Zarr conversion (benchmarks/bench_convert.py)",
        "",
        f"Machine: {_machine()}.",
        "LabSpec-style text maps (1024 channels). hyperspec: `hyperspec.open(path, lazy=True)` + `hyperspec.save` "
        "(what `hyperspec convert` does above 256 MiB). Peer: `pandas.read_csv` (C parser, float32) → grid → `xarray.to_zarr`, "
        "in memory. Peak RSS = each process's own VmHWM; stores compared array-equal.",
        "",
        "| text file | pixels | hyperspec s | hyperspec MB/s | hyperspec peak RSS | pandas s | pandas peak RSS | speed ratio | equal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, n, ours, peer, same in rows:
        lines.append(
            f"| {size / 2**20:.0f} MiB | {n:,} | {ours['seconds']:.1f} | {size / 1e6 / ours['seconds']:.0f} | {ours['rss'] / 2**20:.0f} MiB "
            f"| {peer['seconds']:.1f} | {peer['rss'] / 2**20:.0f} MiB | {peer['seconds'] / ours['seconds']:.2f}× | {'yes' if same else 'NO'} |"
        )
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
