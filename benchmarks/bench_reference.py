"""The reference problem: 3 Lorentzians + a linear baseline per pixel, hyperspec against three careful peers.

Data (``make_problem``): a ``--size`` map (default 64×64) of ``--channels`` channels (default 1024) on
1000–3000 cm⁻¹, every pixel from one template with per-pixel jitter, Poisson noise, float32 counts:

============  =========  ==========  ===========  =====================================
line          centre     HWHM        height       per-pixel jitter (uniform, seed 0)
============  =========  ==========  ===========  =====================================
D             1350 cm⁻¹  20 cm⁻¹     300 counts   centre ±5 cm⁻¹, HWHM ×[0.85, 1.15],
G             1585 cm⁻¹  14 cm⁻¹     800 counts   height ×[0.5, 1.5]
2D            2700 cm⁻¹  30 cm⁻¹     500 counts
baseline      c0 = 100 counts, c1 = 80 counts (× Δν̃/4000 cm⁻¹); c0 ×[0.8, 1.2], c1 ×[0.5, 1.5]
============  =========  ==========  ===========  =====================================

11 parameters per pixel (per line centre, HWHM, height; c0, c1). Every contender fits the same
float32 array with **uniform weights** (the README's ``weights="uniform"`` example) from the same
starts: the README spec's centres and HWHMs (1360/15, 1590/15, 2720/25 cm⁻¹) with the heights and
baseline from linear least squares at those shapes (hyperspec computes this start itself, inside its
timed call, with its linear stage; the peers get it precomputed, outside theirs).

Contenders:

- ``hyperspec``: the public API, ``hyperspec.decompose(ds, model=spec, weights="uniform")`` with the
  README's spec (``ds`` from ``hyperspec.from_array``); on N > 1 threads the map is chunked in rows
  (Dask, threaded scheduler, N workers, BLAS single-threaded as its docs advise);
- ``hyperspec parity``: the same with ``tol=hyperspec.PARITY_TOL`` (1e-10), the option for ``curve_fit``-level χ²;
- ``curve_fit``: ``scipy.optimize.curve_fit`` looped over pixels, ``method="lm"``, the analytic
  Jacobian (``jac=``), ``ftol = xtol = --cf-tol`` (default 1e-10); on N > 1 threads the pixels are split
  over a thread pool;
- ``numpy LM``: ``peers/numpy_lm.py``, blocks of ``--numpy-batch`` pixels (default 64, the fastest
  here) at once, (n, P, P) normal equations (thread pool over pixel blocks on N > 1);
- ``numba LM``: ``peers/numba_lm.py``, ``@njit(parallel=True)`` per-pixel LM, analytic Jacobian,
  Cholesky (numba threads = N).

Measured: wall and CPU time, min and median over ``--rounds`` rotated rounds (``_harness.compare``),
pixels/s, peak RSS of one call, χ² parity per pixel against ``curve_fit`` (χ² recomputed from each
contender's parameters by one model function) and the error against the truth.

Usage: ``python benchmarks/bench_reference.py --out benchmarks/results/reference_cpu.md``
(``--size 16x16`` for a rehearsal).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dask  # noqa: E402
from _harness import compare, machine, markdown_table, peak_rss_mib, peak_traced_mib, publish, read_floor, threads  # noqa: E402
from peers import model as pm  # noqa: E402
from peers.numba_lm import lm_numba  # noqa: E402
from peers.numpy_lm import lm_batched  # noqa: E402

import hyperspec  # noqa: E402

TEMPLATE = np.array([1350.0, 20.0, 300.0, 1585.0, 14.0, 800.0, 2700.0, 30.0, 500.0, 100.0, 80.0])
SPEC = {
    "d": {"shape": "lorentzian", "init": {"center": 1360, "hwhm": 15}, "bounds": {"center": [1330, 1390]}},
    "g": {"shape": "lorentzian", "init": {"center": 1590, "hwhm": 15}, "bounds": {"center": [1570, 1610]}},
    "2d": {"shape": "lorentzian", "init": {"center": 2720, "hwhm": 25}},
    "baseline": {"shape": "polynomial1"},
}
PARAMS = [f"{t}_{q}" for t in ("d", "g", "2d") for q in ("center_cm", "hwhm_cm", "height")] + ["baseline_c0", "baseline_c1"]
LAMBDA_LIMIT = 1e16


def make_problem(ny: int, nx: int, m: int = 1024, seed: int = 0):
    """Channels (m,), float32 counts (ny, nx, m), the truth (n, 11) and the starts (n, 11); n = ny·nx."""
    rng = np.random.default_rng(seed)
    n = ny * nx
    x = np.linspace(1000.0, 3000.0, m)
    truth = np.tile(TEMPLATE, (n, 1))
    for i in range(3):
        truth[:, 3 * i] += rng.uniform(-5.0, 5.0, n)
        truth[:, 3 * i + 1] *= rng.uniform(0.85, 1.15, n)
        truth[:, 3 * i + 2] *= rng.uniform(0.5, 1.5, n)
    truth[:, 9] *= rng.uniform(0.8, 1.2, n)
    truth[:, 10] *= rng.uniform(0.5, 1.5, n)
    y = rng.poisson(pm.value(x, truth)).astype(np.float32)
    return x, y.reshape(ny, nx, m), truth, starts(x, y.reshape(n, m))


def starts(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The README spec's centres/HWHMs; heights and baseline by linear least squares at those shapes (n, 11)."""
    shape = np.array([1360.0, 15.0, 1.0, 1590.0, 15.0, 1.0, 2720.0, 25.0, 1.0, 0.0, 0.0])
    _, jac = pm.value_and_jacobian(x, shape[None])
    basis = jac[0][:, [2, 5, 8, 9, 10]]  # the linear columns: heights, c0, c1
    coef, *_ = np.linalg.lstsq(basis, np.asarray(y, dtype=np.float64).T, rcond=None)
    p0 = np.tile(shape, (y.shape[0], 1))
    p0[:, [2, 5, 8, 9, 10]] = coef.T
    p0[:, [2, 5, 8]] = np.maximum(p0[:, [2, 5, 8]], 0.0)
    return p0


# ---- contenders: each takes (x, y (n, m) float32, p0 (n, P)) and returns params (n, P) ----------
def _split(fn, n_threads):
    """Run ``fn(x, y, p0)`` over ``n_threads`` contiguous pixel blocks in a thread pool (1: in line)."""
    if n_threads == 1:
        return fn
    pool = ThreadPoolExecutor(n_threads)

    def run(x, y, p0):
        bounds = np.linspace(0, y.shape[0], n_threads + 1).astype(int)
        futs = [pool.submit(fn, x, y[a:b], p0[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return np.concatenate([f.result() for f in futs])

    return run


def curve_fit_loop(tol: float, method: str = "lm"):
    """``curve_fit`` per pixel, analytic Jacobian, ftol = xtol = ``tol``; ``method="trf"`` adds ``x_scale="jac"`` and gtol = ``tol``."""

    def f(xx, *p):
        return pm.value(xx, np.asarray(p)[None])[0]

    def jac(xx, *p):
        return pm.value_and_jacobian(xx, np.asarray(p)[None])[1][0]

    extra = {"method": "lm", "maxfev": 4000} if method == "lm" else {"method": "trf", "x_scale": "jac", "gtol": tol, "max_nfev": 4000}

    def run(x, y, p0):
        out = np.empty(p0.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(y.shape[0]):
                out[i] = curve_fit(f, x, y[i].astype(np.float64), p0=p0[i], jac=jac, ftol=tol, xtol=tol, **extra)[0]
        return out

    return run


NUMPY_BATCH = [64]  # pixels per block of the NumPy LM (``--numpy-batch``)


def numpy_lm(x, y, p0):
    return lm_batched(x, y, p0, batch=NUMPY_BATCH[0])[0]


def numba_lm(x, y, p0):
    return lm_numba(x, y, p0)[0]


def hyperspec_contender(ds_by_threads, n_threads, tol=None):
    """``decompose`` through the public API on the prepared Dataset; the parameters in the peers' order.

    ``tol``: ``decompose``'s tolerance (None: its default; ``hyperspec.PARITY_TOL`` for ``curve_fit``-level χ²).
    """
    kwargs = {} if tol is None else {"tol": tol}

    def run(x, y, p0):
        ds = ds_by_threads[(n_threads, y.shape[0])]
        res = hyperspec.decompose(ds, model=SPEC, weights="uniform", **kwargs)
        if n_threads > 1:
            with hyperspec.single_threaded_blas(), dask.config.set(scheduler="threads", num_workers=n_threads):
                res = res.compute()
        return np.stack([res[v].values.reshape(-1) for v in PARAMS], axis=1)

    return run


def parity(chi2: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Relative χ² difference to the reference per pixel: fractions within 1e-6, 1e-9; median; fraction lower."""
    rel = np.abs(chi2 - ref) / ref
    return {
        "≤1e-6": float(np.mean(rel <= 1e-6)),
        "≤1e-9": float(np.mean(rel <= 1e-9)),
        "median rel": float(np.median(rel)),
        "lower": float(np.mean(chi2 < ref * (1 - 1e-12))),
    }


def accuracy(p: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Median |Δcentre| (cm⁻¹) and median |Δarea|/area over the 3 lines and every pixel."""
    dc = np.abs(p[:, 0:9:3] - truth[:, 0:9:3])
    da = np.abs(pm.area(p) - pm.area(truth)) / pm.area(truth)
    return {"centre": float(np.median(dc)), "area": float(np.median(da))}


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="64x64", help="pixels, NYxNX (default 64x64; 16x16 for a rehearsal)")
    ap.add_argument("--channels", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--cf-tol", type=float, default=1e-10, help="curve_fit's ftol and xtol (default 1e-10)")
    ap.add_argument("--trf", action="store_true", help='add curve_fit with method "trf", x_scale="jac" as a contender')
    ap.add_argument("--numpy-batch", type=int, default=64, help="pixels per block of the NumPy LM (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default=None, help='a status line for the table, e.g. "rehearsal, shared machine"')
    ap.add_argument("--out", default=None, help="write the Markdown table here")
    args = ap.parse_args(argv)
    ny, nx = (int(v) for v in args.size.lower().split("x"))
    NUMPY_BATCH[0] = args.numpy_batch
    thread_counts = [int(t) for t in args.threads.split(",")]
    x, y3, truth, p0 = make_problem(ny, nx, args.channels, args.seed)
    n = ny * nx
    y = y3.reshape(n, -1)
    m0 = machine()
    floor = read_floor(y3)
    # the Datasets hyperspec gets (built outside the timed region), for the full map and the warm-up slice
    warm = min(n, 4)
    ds_by = {}
    for t in thread_counts:
        ds = hyperspec.from_array(y3, x, laser_nm=532.0)
        ds_w = hyperspec.from_array(y[:warm].reshape(1, warm, -1), x, laser_nm=532.0)
        if t > 1:
            rows = max(1, ny // (4 * t))
            ds, ds_w = ds.chunk({"y": rows}), ds_w.chunk({"x": 1})
        ds_by[(t, n)], ds_by[(t, warm)] = ds, ds_w
    rows, notes_cmp, outputs = [], [], {}
    for t in thread_counts:
        contenders = {
            "hyperspec": hyperspec_contender(ds_by, t),
            "hyperspec parity": hyperspec_contender(ds_by, t, tol=hyperspec.PARITY_TOL),
            "curve_fit": _split(curve_fit_loop(args.cf_tol), t),
            "numpy LM": _split(numpy_lm, t),
            "numba LM": numba_lm,
        }
        if args.trf:
            contenders["curve_fit trf"] = _split(curve_fit_loop(args.cf_tol, "trf"), t)
        with threads(t, blas=1 if t > 1 else t):
            cmp = compare(contenders, (x, y, p0), rounds=args.rounds, baseline="curve_fit", warmup_args=(x, y[:warm], p0[:warm]), items=n)
            mem = {name: peak_rss_mib(fn, x, y, p0) for name, fn in contenders.items()}
            traced = {name: peak_traced_mib(fn, x, y, p0) for name, fn in contenders.items()}
        ref = pm.chi2(x, y.astype(np.float64), cmp.outputs["curve_fit"])
        for name, tm in cmp.timings.items():
            p = cmp.outputs[name]
            outputs[(t, name)] = p
            par = parity(pm.chi2(x, y.astype(np.float64), p), ref)
            acc = accuracy(p, truth)
            rows.append(
                {
                    "threads": t,
                    "contender": name,
                    "wall min (s)": tm.stat("min", "wall"),
                    "wall med (s)": tm.stat("median", "wall"),
                    "CPU min (s)": tm.stat("min", "cpu"),
                    "CPU med (s)": tm.stat("median", "cpu"),
                    "px/s (wall)": tm.rate("min", "wall"),
                    "× curve_fit wall min/med": f"{cmp.speedup(name, 'min', 'wall'):.3g} / {cmp.speedup(name, 'median', 'wall'):.3g}",
                    "× curve_fit CPU min/med": f"{cmp.speedup(name, 'min', 'cpu'):.3g} / {cmp.speedup(name, 'median', 'cpu'):.3g}",
                    "× numba LM (wall min)": cmp.timings["numba LM"].stat("min", "wall") / tm.stat("min", "wall"),
                    "peak RSS / traced MiB": f"{mem[name]:.1f} / {traced[name]:.1f}",
                    "χ² ≤1e-6": f"{100 * par['≤1e-6']:.1f} %",
                    "χ² ≤1e-9": f"{100 * par['≤1e-9']:.1f} %",
                    "χ² median rel": par["median rel"],
                    "χ² lower": f"{100 * par['lower']:.1f} %",
                    "med |Δcentre| cm⁻¹": acc["centre"],
                    "med |Δarea|/area": acc["area"],
                }
            )
        orders = "; ".join(" → ".join(o) for o in cmp.orders)
        load = "/".join(f"{v:.2f}" for v in cmp.load_before), "/".join(f"{v:.2f}" for v in cmp.load_after)
        blas = ", ".join(cmp.threads["blas"])
        notes_cmp.append(
            f"- {t} thread(s): BLAS {blas}; numba {cmp.threads['numba']} ({cmp.threads['numba_layer']}); load {load[0]} before, {load[1]} after; round orders: {orders}."
        )
    notes = [
        f"{ny}×{nx} pixels × {args.channels} channels (float32, {y3.nbytes / 2**20:.1f} MiB), 3 Lorentzians + linear baseline, 11 parameters, Poisson noise, seed {args.seed}; uniform weights; the same starts for all (see the script's docstring).",
        f'{args.rounds} rounds in rotated order after one untimed warm-up each on {warm} pixels; speed-ups are baseline time / contender time (> 1: faster than `curve_fit`); `curve_fit`: method "lm", analytic Jacobian, ftol = xtol = {args.cf_tol:g}.',
        "χ² columns: per pixel |χ² − χ²_curve_fit| / χ²_curve_fit from each contender's parameters (one model function); \"lower\": the share of pixels where the contender's χ² is below `curve_fit`'s. Errors: against the generator's truth, over the 3 lines.",
        f"Read-once floor of the map (np.add.reduce over the float32 array, min of 7): {floor['seconds'] * 1e3:.3f} ms ({floor['gb_s']:.1f} GB/s). Memory of one extra call after the rounds: peak RSS (VmHWM after `malloc_trim` and a reset, minus the RSS before; every allocator) / peak traced (`tracemalloc`: Python + NumPy only, not numba's runtime).",
        *notes_cmp,
    ]
    text = markdown_table(
        rows,
        title=f"Reference problem: 3 Lorentzians + linear baseline, {ny}×{nx}×{args.channels}",
        machine_info=m0,
        notes=notes,
        label=args.label,
    )
    return publish(text, args.out)


if __name__ == "__main__":
    main()
