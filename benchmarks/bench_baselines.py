"""Baselines: hyperspec (batched over pixels) against a pybaselines loop (with pentapy), same data, one run.

Data: a synthetic CsPbBr3 map (``--size``, 1024 channels), the spectra as float64. For every method the
peer is ``pybaselines.Baseline`` called once per spectrum, as a user's script would (pentapy solves its
pentadiagonal systems when installed); hyperspec runs the same method on the whole map through
``hyperspec.preprocess.baseline`` (dask chunks of rows on the machine's cores) and, in a second row,
the array function on one core. Each case runs in its own subprocess so peak RSS is the case's own.
The largest relative difference to pybaselines is reported too.
Usage: ``python benchmarks/bench_baselines.py --size 64x64 --out benchmarks/results/baselines_cpu.md``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import _machine, write_table  # noqa: E402

CASE = r"""
import json, resource, sys, time, warnings
import numpy as np
import hyperspec
method, case, path, n_peer = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ds = hyperspec.open(path).compute()
Y = ds["spectra"].values.reshape(-1, ds.sizes["spectral"]).astype(np.float64)
x = ds["shift"].values
kw = {"modpoly": {"poly_order": 3}}.get(method, {})
out = {}
PEER = lambda n, k: np.arange(0, n, max(1, n // k))[:k]  # the peer's pixels: spread over the whole map
if case == "pybaselines":
    import pybaselines
    fitter = pybaselines.Baseline(x_data=x)
    warnings.simplefilter("ignore")
    sub = Y[PEER(len(Y), n_peer)]
    times = []
    for _ in range(3):  # best of three
        t = time.perf_counter()
        ref = np.stack([getattr(fitter, method)(y, **kw)[0] for y in sub])
        times.append(time.perf_counter() - t)
    out = {"pixels": len(sub), "seconds": min(times)}
    np.save(sys.argv[5], ref)
elif case == "hyperspec-1core":
    from hyperspec.preprocess import baselines
    args = dict(kw, x=x) if method == "modpoly" else kw
    getattr(baselines, method)(Y[:8], **args)  # warm-up: numba's cache load
    times = []
    for _ in range(3):
        t = time.perf_counter()
        base, info = getattr(baselines, method)(Y, **args)
        times.append(time.perf_counter() - t)
    out = {"pixels": len(Y), "seconds": min(times), "engine": info["engine"]}
    ref = np.load(sys.argv[5])
    mine = base[PEER(len(Y), n_peer)]
    out["maxrel"] = float(np.max(np.abs(mine - ref) / np.abs(ref).max(axis=1, keepdims=True)))
else:
    dsc = ds.chunk({"y": max(1, ds.sizes["y"] // 8)})
    hyperspec.preprocess.baseline(dsc.isel(y=slice(0, 1)), method, **kw).compute()  # warm-up
    times = []
    for _ in range(3):
        t = time.perf_counter()
        with hyperspec.single_threaded_blas():
            res = hyperspec.preprocess.baseline(dsc, method, **kw).compute()
        times.append(time.perf_counter() - t)
    out = {"pixels": len(Y), "seconds": min(times), "engine": res.attrs["baseline_engine"]}
out["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""

METHODS = ("asls", "arpls", "airpls", "modpoly")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--peer-pixels", type=int, default=256)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    ny, nx = (int(v) for v in args.size.split("x"))
    from hyperspec import synthetic

    tmp = Path(tempfile.mkdtemp(prefix="bench-baselines-"))
    path = synthetic.write("map", tmp / "map.zarr", (ny, nx), n_spectral=1024, seed=0, artefacts=False, progress=False)
    lines = [
        f"# Baselines benchmark: {ny}×{nx}×1024 synthetic CsPbBr3 map, pybaselines defaults (modpoly: poly_order 3)",
        "",
        f"Machine: {_machine()}, NumPy backend. {time.strftime('%Y-%m-%d')}.",
        f"Run: `python benchmarks/bench_baselines.py --size {args.size} --peer-pixels {args.peer_pixels}`.",
        f"pybaselines loops over {args.peer_pixels} spectra spread evenly over the map (pentapy installed); hyperspec does every pixel;",
        "each time is the best of three runs. 'max rel. diff.'",
        "is max |hyperspec − pybaselines| / max |pybaselines| over those spectra.",
        "",
        "| method | case | engine | pixels | seconds | pixels/s | speed-up | max rel. diff. | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        ref_path = tmp / f"{method}.npy"
        rows = {}
        for case in ("pybaselines", "hyperspec-1core", "hyperspec"):
            cmd = [sys.executable, "-c", CASE, method, case, str(path), str(args.peer_pixels), str(ref_path)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise SystemExit(f"{method}/{case} failed:\n{res.stderr}")
            rows[case] = json.loads(res.stdout.strip().splitlines()[-1])
            print(method, case, rows[case], flush=True)
        peer = rows["pybaselines"]["pixels"] / rows["pybaselines"]["seconds"]
        for case, r in rows.items():
            rate = r["pixels"] / r["seconds"]
            label = {
                "pybaselines": "pybaselines loop",
                "hyperspec-1core": "hyperspec, 1 core",
                "hyperspec": "hyperspec.preprocess.baseline",
            }[case]
            diff = f"{rows['hyperspec-1core']['maxrel']:.1e}" if case != "pybaselines" else "—"
            lines.append(
                f"| {method} | {label} | {r.get('engine', 'pentapy' if method != 'modpoly' else 'numpy')} | {r['pixels']} | {r['seconds']:.2f} | "
                f"{rate:,.0f} | {rate / peer:.1f}× | {diff} | {r['rss'] / 2**20:.0f} |"
            )
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
