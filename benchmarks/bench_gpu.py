"""GPU benchmark: hyperspec on CuPy against hyperspec on NumPy (numba, every core), same data, one run.

Cases, on one synthetic CsPbBr3 map (``--size``, default 64×64×1024); the GPU results are compared to
NumPy's on the same pixels:

- ``decompose numpy``: preset cspbbr3-633, numba kernel, dask chunks of 8 rows on every core;
- ``decompose cupy xp``: the same through ``xp`` on CuPy;
- ``decompose cupy kernels``: ``HYPERSPEC_CUDA_KERNELS=1`` (fused_model + fused_normal);
- ``linear``: the linear stage on CuPy against the time to read the array once on the device;
- ``baseline asls/arpls``: numba on NumPy, ``xp`` on CuPy, the CUDA band-Cholesky kernel;
- ``--big NYxNX`` (default 2000×2000×1024 float32): the generator's lazy map, ``--band-rows`` rows at a
  time: generated on the CPU, decomposed on the GPU with the kernels; fit and end-to-end pixels/s,
  peak device pool and host RSS. ``--big-rows`` caps the rows (a time limit); 0 skips it.

``--fake-device`` runs everything over tests/fake_cupy.py (NumPy behind CuPy's rules): a dry run of
this script on a machine without a GPU; its numbers mean nothing.
Usage: ``python benchmarks/bench_gpu.py --out benchmarks/results/gpu_h100.md``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import _machine, write_table  # noqa: E402


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Device:
    """Synchronise, time and read the memory pool (no-ops on the fake device)."""

    def __init__(self, cp):
        self.cp = cp
        self.pool = cp.get_default_memory_pool() if hasattr(cp, "get_default_memory_pool") else None

    def sync(self):
        if hasattr(self.cp.cuda, "Device"):
            self.cp.cuda.Device().synchronize()

    def reset(self):
        if self.pool is not None:
            self.pool.free_all_blocks()

    def pool_mib(self) -> str:
        return f"{self.pool.total_bytes() / 2**20:,.0f}" if self.pool is not None else "—"

    def name(self) -> str:
        props = self.cp.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)


def _kernels(on: bool):
    if on:
        os.environ["HYPERSPEC_CUDA_KERNELS"] = "1"
    else:
        os.environ.pop("HYPERSPEC_CUDA_KERNELS", None)


def _decompose(ds, backend, kernels, dev):
    import hyperspec

    _kernels(kernels)
    with hyperspec.single_threaded_blas():
        hyperspec.decompose(ds.isel(y=slice(0, 1)), "cspbbr3-633", backend=backend)  # warm-up: imports, compilation
    dev.reset()
    t = time.perf_counter()
    with hyperspec.single_threaded_blas():
        data = ds.chunk({"y": 8}) if backend == "numpy" else ds
        res = hyperspec.decompose(data, "cspbbr3-633", backend=backend).compute()
    dev.sync()
    return res, time.perf_counter() - t, dev.pool_mib()


def _agreement(res, ref) -> str:
    ok = (res["status"].values == 0) & (ref["status"].values == 0)
    a, b = res["aspl_area"].values[ok], ref["aspl_area"].values[ok]
    same_status = float(np.mean(res["status"].values == ref["status"].values))
    return f"median relative Δ aS-PL area {np.median(np.abs(a - b) / np.abs(b)):.1e}, status equal {100 * same_status:.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--n-spectral", type=int, default=1024)
    parser.add_argument("--big", default="2000x2000")
    parser.add_argument("--big-rows", type=int, default=2000, help="rows of the big map to run (0: skip it)")
    parser.add_argument("--band-rows", type=int, default=50)
    parser.add_argument("--fake-device", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.fake_device:
        sys.path.insert(0, str(ROOT))
        from tests import fake_cupy

        class _Patch:
            def setitem(self, d, k, v):
                d[k] = v

            def setattr(self, o, k, v):
                setattr(o, k, v)

        fake_cupy.install(_Patch())
    import cupy as cp

    import hyperspec
    from hyperspec.fit.decompose import _Decomposer, build_model_spec
    from hyperspec.fit.linear import tikhonov
    from hyperspec.preprocess import baseline

    dev = _Device(cp)
    ny, nx = (int(v) for v in args.size.split("x"))
    ds, _ = hyperspec.synthetic.cspbbr3_map((ny, nx), n_spectral=args.n_spectral, seed=0, artefacts=False)
    ds = ds.compute()
    n_px = ny * nx
    rows = []

    ref, t_np, _ = _decompose(ds, "numpy", False, dev)
    rows.append(["decompose numpy (numba, all cores)", f"{n_px}", f"{t_np:.2f}", f"{n_px / t_np:,.0f}", "1.0×", "—", "reference"])
    for label, kernels in (("decompose cupy xp", False), ("decompose cupy kernels", True)):
        res, t, pool = _decompose(ds, "cupy", kernels, dev)
        rows.append([label, f"{n_px}", f"{t:.2f}", f"{n_px / t:,.0f}", f"{t_np / t:.1f}×", pool, _agreement(res, ref)])
        print(rows[-1], flush=True)

    eng = _Decomposer(
        build_model_spec("cspbbr3-633"), ds["shift"].values, ds["energy"].values, cp, weights="poisson",
        saturation=None, batch_size=256, max_iter=10, tol=1e-8,
    )  # fmt: skip
    y = cp.asarray(ds["spectra"].values.reshape(n_px, -1).astype(np.float64))
    dev.sync()
    t = time.perf_counter()
    float(y.sum())
    floor = time.perf_counter() - t
    tikhonov(eng.B, y - eng.const, weights=eng.base_w)  # warm-up
    dev.sync()
    t = time.perf_counter()
    tikhonov(eng.B, y - eng.const, weights=eng.base_w)
    dev.sync()
    t_lin = time.perf_counter() - t
    rows.append(
        [
            "linear stage cupy",
            f"{n_px}",
            f"{t_lin:.4f}",
            f"{n_px / t_lin:,.0f}",
            "—",
            "—",
            f"{100 * floor / t_lin:.0f} % of the bandwidth floor",
        ]
    )

    for method in ("asls", "arpls"):
        t = time.perf_counter()
        base_np = baseline(ds, method, backend="numpy")["baseline"].values
        t_b = time.perf_counter() - t
        rows.append([f"baseline {method} numpy (numba)", f"{n_px}", f"{t_b:.2f}", f"{n_px / t_b:,.0f}", "1.0×", "—", "reference"])
        for label, kernels in (("xp", False), ("CUDA kernel", True)):
            _kernels(kernels)
            baseline(ds.isel(y=slice(0, 1)), method, backend="cupy")  # warm-up
            dev.reset()
            t = time.perf_counter()
            out = baseline(ds, method, backend="cupy")
            dev.sync()
            t_g = time.perf_counter() - t
            err = float(np.max(np.abs(out["baseline"].values - base_np)) / np.max(np.abs(base_np)))
            rows.append([f"baseline {method} cupy {label}", f"{n_px}", f"{t_g:.2f}", f"{n_px / t_g:,.0f}", f"{t_b / t_g:.1f}×", dev.pool_mib(),
                         f"max Δ {err:.1e} of the max ({out.attrs['baseline_engine']})"])  # fmt: skip
            print(rows[-1], flush=True)
    _kernels(False)

    big_note = []
    if args.big_rows:
        by, bx = (int(v) for v in args.big.split("x"))
        lazy, _ = hyperspec.synthetic.cspbbr3_map((by, bx), n_spectral=args.n_spectral, seed=1)
        n_rows = min(by, args.big_rows)
        _kernels(True)
        dev.reset()
        t_gen = t_fit = 0.0
        status_ok = 0
        t0 = time.perf_counter()
        for a in range(0, n_rows, args.band_rows):
            b = min(n_rows, a + args.band_rows)
            t = time.perf_counter()
            band = lazy.isel(y=slice(a, b)).compute()  # the generator, on the CPU threads
            t_gen += time.perf_counter() - t
            t = time.perf_counter()
            res = hyperspec.decompose(band, "cspbbr3-633", backend="cupy")
            dev.sync()
            t_fit += time.perf_counter() - t
            status_ok += int((res["status"].values == 0).sum())
            px = b * bx
            print(
                f"big map: {b}/{n_rows} rows, fit {px / t_fit:,.0f} px/s, end-to-end {px / (time.perf_counter() - t0):,.0f} px/s",
                flush=True,
            )
        _kernels(False)
        px = n_rows * bx
        total = time.perf_counter() - t0
        rows.append([f"big map {by}×{bx}×{args.n_spectral} float32, cupy kernels", f"{px}", f"{t_fit:.1f}", f"{px / t_fit:,.0f}", "—", dev.pool_mib(),
                     f"end-to-end {px / total:,.0f} px/s with generation ({t_gen:.0f} s on the CPU); {100 * status_ok / px:.1f} % converged"])  # fmt: skip
        big_note = [
            f"Big map: {n_rows} of {by} rows run, {args.band_rows} rows per band; generated lazily by the synthetic generator on the CPU."
        ]

    device = dev.name() + (" — a dry run, numbers meaningless" if args.fake_device else "")
    lines = [
        f"# GPU benchmark: {ny}×{nx}×{args.n_spectral} synthetic CsPbBr3 map, preset cspbbr3-633",
        "",
        f"Machine: {_machine()}; GPU: {device}. {time.strftime('%Y-%m-%d')}.",
        f"Run: `python benchmarks/bench_gpu.py --size {args.size} --n-spectral {args.n_spectral} --big {args.big} --big-rows {args.big_rows}`.",
        "Timed after a one-row warm-up (imports, kernel compilation). Device pool: CuPy's memory pool after the case.",
        f"Peak host RSS of the whole run: {_peak_rss_mib():,.0f} MiB.",
        *big_note,
        "",
        "| case | pixels | seconds | pixels/s | vs NumPy | device pool (MiB) | agreement with NumPy |",
        "|---|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    write_table(lines, args.out)


if __name__ == "__main__":
    main()
