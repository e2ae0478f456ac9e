"""Store and generator throughput: hyperspec's Zarr v3 store against its peers, on the same map.

Cases (each in a fresh subprocess, so peak RSS is the case's own):

- ``hyperspec.save`` / ``hyperspec.open(...).compute()`` (Blosc/Zstd level 1, bit-shuffle, pixel chunks)
- ``xarray.Dataset.to_zarr`` with zarr's default codec (peer: what a user gets without hyperspec)
- ``numpy.save`` / ``numpy.load`` of the raw array (peer: the uncompressed floor)
- ``hyperspec.synthetic.write`` (generator streaming to a store; no peer)

Reports MiB/s, pixels/s, the ratio to hyperspec, bytes on disk and peak RSS, as a Markdown table
with the machine it ran on. Usage::

    python benchmarks/bench_store.py --size 256x256 --n-spectral 1024 --out benchmarks/results/store_cpu.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASE_CODE = r"""
import json, resource, sys, time, shutil
from pathlib import Path
import numpy as np
case, src, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
data = None
if case != "generate":
    data = np.load(src / "map.npy", mmap_mode="r")
    data = np.ascontiguousarray(data)
t0 = time.perf_counter()
if case == "hyperspec":
    import hyperspec
    ds = hyperspec.from_array(data, np.linspace(-4500, 3600, data.shape[-1]), laser_nm=632.8)
    hyperspec.save(ds, work / "out.zarr", progress=False)
    t1 = time.perf_counter()
    back = hyperspec.open(work / "out.zarr")["spectra"].values
elif case == "xarray-default":
    import xarray as xr
    ds = xr.Dataset({"spectra": (("y", "x", "spectral"), data)})
    ds.to_zarr(work / "out.zarr", zarr_format=3, consolidated=False)
    t1 = time.perf_counter()
    back = xr.open_zarr(work / "out.zarr", consolidated=False)["spectra"].values
elif case == "numpy-raw":
    np.save(work / "out.npy", data)
    t1 = time.perf_counter()
    back = np.load(work / "out.npy")
elif case == "generate":
    from hyperspec import synthetic
    ny, nx, n = (int(v) for v in src.name.split("_"))
    synthetic.write("map", work / "out.zarr", (ny, nx), n_spectral=n, progress=False)
    t1 = time.perf_counter()
    back = None
t2 = time.perf_counter()
if back is not None:
    assert np.array_equal(back, data), "round trip changed the data"
size = sum(f.stat().st_size for f in work.rglob("*") if f.is_file())
print(json.dumps({"write_s": t1 - t0, "read_s": t2 - t1, "disk": size, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


# Code for a benchmark's child process: its own peak RSS. VmHWM is per process image; ru_maxrss would
# also count the parent's pages at fork time.
PEAK_RSS_CODE = r"""
def peak_rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
"""


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def write_table(lines: list[str], out: str | None) -> None:
    """Print a result table and, with ``out``, write it there (the committed copy)."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)


def run_case(case: str, src: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-{case}-"))
    try:
        out = subprocess.run([sys.executable, "-c", CASE_CODE, case, str(src), str(work)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--n-spectral", type=int, default=1024)
    parser.add_argument("--out", default=None, help="write the Markdown table here")
    args = parser.parse_args()
    ny, nx = (int(v) for v in args.size.split("x"))
    import numpy as np

    from hyperspec import synthetic

    tmp = Path(tempfile.mkdtemp(prefix="bench-src-"))
    ds, _ = synthetic.cspbbr3_map((ny, nx), n_spectral=args.n_spectral, seed=0)
    np.save(tmp / "map.npy", ds["spectra"].values)
    gen_dir = tmp / f"{ny}_{nx}_{args.n_spectral}"
    gen_dir.mkdir()
    n_pix = ny * nx
    mib = ny * nx * args.n_spectral * 4 / 2**20
    rows = {
        case: run_case(case, gen_dir if case == "generate" else tmp) for case in ("hyperspec", "xarray-default", "numpy-raw", "generate")
    }
    shutil.rmtree(tmp, ignore_errors=True)
    ref = rows["hyperspec"]
    lines = [
        f"# Store benchmark: {ny}×{nx}×{args.n_spectral} float32 synthetic map ({mib:.0f} MiB)",
        "",
        f"Machine: {_machine()}. Run: `python benchmarks/bench_store.py --size {args.size} --n-spectral {args.n_spectral}`,",
        f"{time.strftime('%Y-%m-%d')}. Each case in its own process; peak RSS includes the {mib:.0f} MiB input array.",
        "",
        "| case | write MiB/s | write px/s | read MiB/s | write time vs hyperspec | on disk (MiB) | ratio | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, r in rows.items():
        read = f"{mib / r['read_s']:.0f}" if case != "generate" else "—"
        lines.append(
            f"| {case} | {mib / r['write_s']:.0f} | {n_pix / r['write_s']:,.0f} | {read} | {r['write_s'] / ref['write_s']:.2f}× "
            f"| {r['disk'] / 2**20:.1f} | {mib * 2**20 / r['disk']:.2f} | {r['rss'] / 2**20:.0f} |"
        )
    lines += [
        "",
        "`generate` is `hyperspec.synthetic.write`: rendering the physics (all bands, noise, artefacts,",
        "ground truth) and streaming it to a store block by block; its on-disk size includes the truth group.",
    ]
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
