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

Every case runs through ``_harness.compare`` (one process, the same arrays, rotated rounds, min and median of
wall and CPU time; each contender synchronises the device before it returns, so the wall time is the GPU's).
The device pool column is one extra call each after the rounds (pool freed first).
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
from _harness import compare, machine, markdown_table, publish, rounds_note, timing_cells  # noqa: E402


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


def _decomposer(backend, kernels, dev):
    """A contender: ``decompose`` of the whole map on ``backend`` (CUDA kernels on or off), synchronised."""
    import hyperspec

    def run(ds):
        _kernels(kernels)
        with hyperspec.single_threaded_blas():
            data = ds.chunk({"y": 8}) if backend == "numpy" else ds
            res = hyperspec.decompose(data, "cspbbr3-633", backend=backend).compute()
        dev.sync()
        return res

    return run


def _pools(contenders, args, dev) -> dict:
    """CuPy's pool (MiB) after one extra call of each contender, the pool freed before."""
    out = {}
    for name, fn in contenders.items():
        dev.reset()
        fn(*args)
        out[name] = dev.pool_mib()
    return out


def _timing_row(cmp, name, n_px, pool, agreement) -> dict:
    return {
        "case": name,
        "pixels": n_px,
        **timing_cells(cmp, name, vs="NumPy"),
        "px/s (wall min)": n_px / cmp.timings[name].stat("min"),
        "device pool (MiB)": pool,
        "agreement with NumPy": agreement,
    }


def _agreement(res, ref) -> str:
    ok = (res["status"].values == 0) & (ref["status"].values == 0)
    a, b = res["aspl_area"].values[ok], ref["aspl_area"].values[ok]
    same_status = float(np.mean(res["status"].values == ref["status"].values))
    return f"median relative Δ aS-PL area {np.median(np.abs(a - b) / np.abs(b)):.1e}, status equal {100 * same_status:.1f} %"


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--n-spectral", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", default="2000x2000")
    parser.add_argument("--big-rows", type=int, default=2000, help="rows of the big map to run (0: skip it)")
    parser.add_argument("--band-rows", type=int, default=50)
    parser.add_argument("--fake-device", action="store_true")
    parser.add_argument("--label", default=None, help='a status line for the table, e.g. "rehearsal"')
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
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
    m0 = machine()
    ny, nx = (int(v) for v in args.size.split("x"))
    ds, _ = hyperspec.synthetic.cspbbr3_map((ny, nx), n_spectral=args.n_spectral, seed=0, artefacts=False)
    ds = ds.compute()
    warm = ds.isel(y=slice(0, 1))
    n_px = ny * nx
    rows, notes = [], []

    dec = {
        "decompose numpy (numba, all cores)": _decomposer("numpy", False, dev),
        "decompose cupy xp": _decomposer("cupy", False, dev),
        "decompose cupy kernels": _decomposer("cupy", True, dev),
    }
    cmp = compare(dec, (ds,), rounds=args.rounds, baseline="decompose numpy (numba, all cores)", warmup_args=(warm,))
    pools = _pools(dec, (ds,), dev)
    ref = cmp.outputs["decompose numpy (numba, all cores)"]
    for name in dec:
        agree = "reference" if name == cmp.baseline else _agreement(cmp.outputs[name], ref)
        rows.append(_timing_row(cmp, name, n_px, pools[name] if "cupy" in name else "—", agree))
    notes.append(rounds_note(cmp, "decompose"))
    _kernels(False)

    eng = _Decomposer(
        build_model_spec("cspbbr3-633"), ds["shift"].values, ds["energy"].values, cp, weights="poisson",
        saturation=None, batch_size=256, max_iter=10, tol=1e-8,
    )  # fmt: skip
    y_host = np.ascontiguousarray(ds["spectra"].values.reshape(n_px, -1))  # float32, as on the CPU
    y_dev = cp.asarray(y_host)
    B, w, c = eng.B, eng.base_w, eng.const

    def lin_dev(yh, yd):
        a = tikhonov(B, yd, weights=w, offset=c)
        dev.sync()
        return a

    def read_dev(yh, yd):
        s = yd.sum()  # one read of the float32 array (CuPy reduces it in one kernel, no conversion)
        dev.sync()
        return s

    lin = {"linear stage cupy (float32)": lin_dev, "read once on the device": read_dev}
    lcmp = compare(
        lin, (y_host, y_dev), rounds=max(args.rounds, 7), baseline="read once on the device", warmup_args=(y_host[:64], y_dev[:64])
    )
    a_np = tikhonov(np.asarray(cp.asnumpy(B)), y_host, weights=np.asarray(cp.asnumpy(w)), offset=np.asarray(cp.asnumpy(c)))
    a_dev = cp.asnumpy(lcmp.outputs["linear stage cupy (float32)"])
    lin_err = float(np.max(np.abs(a_dev - a_np)) / np.max(np.abs(a_np)))
    lt, rt = lcmp.timings["linear stage cupy (float32)"], lcmp.timings["read once on the device"]
    frac = 100 * rt.stat("min") / lt.stat("min")
    for name in lin:
        agree = f"{frac:.0f} % of the device read-once floor; max Δ {lin_err:.1e} of the max" if name.startswith("linear") else "the floor"
        rows.append(_timing_row(lcmp, name, n_px, "—", agree))
    notes.append(rounds_note(lcmp, "linear stage (speed-up columns: the read's time / the contender's)"))

    for method in ("asls", "arpls"):

        def base_np(d, method=method):
            return baseline(d, method, backend="numpy")["baseline"].values

        def base_cp(kernels, method=method):
            def run(d):
                _kernels(kernels)
                out = baseline(d, method, backend="cupy")
                dev.sync()
                return out

            return run

        bcont = {
            f"baseline {method} numpy (numba)": base_np,
            f"baseline {method} cupy xp": base_cp(False),
            f"baseline {method} cupy CUDA kernel": base_cp(True),
        }
        bcmp = compare(bcont, (ds,), rounds=args.rounds, warmup_args=(warm,))
        pools = _pools(dict(list(bcont.items())[1:]), (ds,), dev)
        ref_b = bcmp.outputs[f"baseline {method} numpy (numba)"]
        for name in bcont:
            if name == bcmp.baseline:
                agree, pool = "reference", "—"
            else:
                out = bcmp.outputs[name]
                err = float(np.max(np.abs(out["baseline"].values - ref_b)) / np.max(np.abs(ref_b)))
                agree, pool = f"max Δ {err:.1e} of the max ({out.attrs['baseline_engine']})", pools[name]
            rows.append(_timing_row(bcmp, name, n_px, pool, agree))
        notes.append(rounds_note(bcmp, f"baseline {method}"))
        _kernels(False)

    if args.big_rows:
        by, bx = (int(v) for v in args.big.split("x"))
        lazy, _ = hyperspec.synthetic.cspbbr3_map((by, bx), n_spectral=args.n_spectral, seed=1)
        n_rows = min(by, args.big_rows)
        stats = {}

        def big(lazy_map, rows_to_run):
            _kernels(True)
            t_gen = t_fit = 0.0
            ok = 0
            t0 = time.perf_counter()
            for a in range(0, rows_to_run, args.band_rows):
                b = min(rows_to_run, a + args.band_rows)
                t = time.perf_counter()
                band = lazy_map.isel(y=slice(a, b)).compute()  # the generator, on the CPU threads
                t_gen += time.perf_counter() - t
                t = time.perf_counter()
                res = hyperspec.decompose(band, "cspbbr3-633", backend="cupy")
                dev.sync()
                t_fit += time.perf_counter() - t
                ok += int((res["status"].values == 0).sum())
                px = b * lazy_map.sizes["x"]
                print(
                    f"big map: {b}/{rows_to_run} rows, fit {px / t_fit:,.0f} px/s, end-to-end {px / (time.perf_counter() - t0):,.0f} px/s",
                    flush=True,
                )
            stats.update(t_gen=t_gen, t_fit=t_fit, ok=ok, total=time.perf_counter() - t0)
            _kernels(False)

        dev.reset()
        gcmp = compare({"big": big}, (lazy, n_rows), rounds=1, warmup_args=(lazy, min(n_rows, 1)))
        px = n_rows * bx
        rows.append(
            {
                "case": f"big map {by}×{bx}×{args.n_spectral} float32, cupy kernels",
                "pixels": px,
                "wall min / med (s)": f"{gcmp.timings['big'].stat('min'):.3g} (1 run)",
                "CPU min / med (s)": f"{gcmp.timings['big'].stat('min', 'cpu'):.3g} (1 run)",
                "× NumPy wall min/med": "—",
                "× NumPy CPU min/med": "—",
                "px/s (wall min)": px / stats["t_fit"],
                "device pool (MiB)": dev.pool_mib(),
                "agreement with NumPy": f"fit only (px/s column); end-to-end {px / stats['total']:,.0f} px/s with generation "
                f"({stats['t_gen']:.0f} s on the CPU); {100 * stats['ok'] / px:.1f} % converged",
            }
        )
        notes.append(
            f"- Big map: one run (a streamed map, not repeated), {n_rows} of {by} rows, {args.band_rows} rows per band, generated lazily on the CPU; warm-up: 1 row."
        )

    device = dev.name() + (" — a dry run, numbers meaningless" if args.fake_device else "")
    head = [
        f"GPU: {device}. Every case through `_harness.compare`: {args.rounds} rounds (linear stage {max(args.rounds, 7)}) in rotated order after one "
        "untimed warm-up each on a one-row slice (imports, kernel compilation); every contender synchronises the device before it returns. "
        "Speed-ups: NumPy's time / the contender's (> 1: faster than NumPy), from the mins and medians. Device pool: CuPy's pool after one extra "
        f"call (freed before). Peak host RSS of the whole run: {_peak_rss_mib():,.0f} MiB.",
    ]
    text = markdown_table(
        rows, title=f"GPU benchmark: {ny}×{nx}×{args.n_spectral} synthetic CsPbBr3 map, preset cspbbr3-633", machine_info=m0,
        notes=head + notes, label=args.label,
    )  # fmt: skip
    return publish(text, args.out)


if __name__ == "__main__":
    main()
