"""Band decomposition (preset ``cspbbr3-633``): hyperspec against careful peers, through the one harness.

Data: ``synthetic.write("map", …)`` (CsPbBr3 crystal/glass map, seed 0, no artefacts), ``--size`` pixels
(default 64×64) × ``--n-spectral`` channels (default 1024), float32 counts, held in memory; the truth
is the generator's. The model is the preset's 34-parameter composite (ESPL aS-PL, l-ERS, h-ERS, four
Raman pairs, three CNT lines, quadratic baseline) with its bounds and Gaussian priors, Poisson
weights (hyperspec's: ``1/max(boxcar₉(y), 1)``, the notch masked) and hyperspec's linear-stage starts.
Every contender minimises the same objective, χ² = Σ w·(y − f)² + Σ((p − μ)/σ)².

Contenders (all in one process, through ``_harness.compare``: one untimed warm-up each on a small
slice, ``--rounds`` rounds in rotated order, wall and CPU time):

- ``hyperspec (map)``: ``hyperspec.decompose(ds, "cspbbr3-633", backend="numpy")`` on the whole map
  (on N > 1 threads: Dask row chunks, N workers, BLAS single-threaded);
- ``hyperspec (subset)``: the same call on the peers' pixels only (a 1 × k map), the like-for-like row;
- ``curve_fit``: ``scipy.optimize.curve_fit`` per pixel with the **analytic Jacobian** (``jac=``, the
  composite model's ``value_and_jacobian``), ``method="trf"`` (the bounds need it), ``x_scale="jac"``,
  ftol = xtol = gtol = ``--cf-tol``; the priors as extra residual rows (data ``μ``, model ``p``, σ);
- ``lmfit``: ``lmfit.minimize(method="leastsq")`` per pixel (MINPACK, its finite-difference Jacobian:
  with bounds lmfit fits transformed parameters, so an analytic one does not apply), priors as
  residual rows, ftol = xtol = ``--lmfit-tol`` and ``max_nfev`` = ``--lmfit-nfev``, tightened until
  its χ² reaches hyperspec's;
- ``HyperSpy multifit`` (when HyperSpy is installed and ``--hyperspy``): ``Model1D.multifit``
  (``optimizer="lm"``, bounded) with the model as one custom component, the same weights (as the
  noise variance), bounds and starts; HyperSpy has no priors, so it minimises the data χ² alone.

The peers fit ``--peer-pixels`` random pixels (seed 0) and their pixels/s comes from that subset;
on N > 1 threads the pixels are split over a thread pool. All contenders use the same model function
(hyperspec's composite model, its fused numba kernel where numba is installed).

Reported: wall and CPU min/median, pixels/s, hyperspec's speed-ups (per pixel), peak RSS of one extra
call, the aS-PL area error against the truth and the converged share, and χ² parity per pixel
against ``hyperspec (subset)`` (χ² recomputed from each contender's parameters by one function).
The linear stage — ``tikhonov(B, data32, weights, offset)`` on the float32 map — is compared with
the read-once floor (``np.add.reduce`` over the same array) through ``compare`` as well.

Usage: ``python benchmarks/bench_decompose.py --out benchmarks/results/decompose_cpu.md``
(``--size 16x16 --peer-pixels 4 --label "rehearsal, shared machine"`` for a rehearsal).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.optimize import curve_fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dask  # noqa: E402
from _harness import compare, machine, markdown_table, peak_rss_mib, publish, read_floor, threads  # noqa: E402

import hyperspec  # noqa: E402
from hyperspec import synthetic  # noqa: E402
from hyperspec.fit.decompose import _Decomposer, build_model_spec  # noqa: E402
from hyperspec.fit.linear import tikhonov  # noqa: E402
from hyperspec.fit.results import param_output_name  # noqa: E402

try:
    import lmfit
except ImportError:  # pragma: no cover - optional peer
    lmfit = None
try:
    import hyperspy.api as hs
    from hyperspy.component import Component
except ImportError:  # pragma: no cover - optional peer (GPL-3, not one of our extras)
    hs = None

PRESET = "cspbbr3-633"
ENGINE_CONVERGED = (0, 6, 8, 9)  # decompose's status codes of a converged fit (attrs["status_codes"])


class Problem:
    """The map, the model and what every contender shares: weights, starts, priors, the peers' subset."""

    def __init__(self, ds, truth, peer_pixels: int, seed: int = 0):
        self.ds = ds
        self.data32 = np.ascontiguousarray(ds["spectra"].values.reshape(-1, ds.sizes["spectral"]))
        self.n, self.m = self.data32.shape
        self.eng = _Decomposer(
            build_model_spec(PRESET), ds["shift"].values, ds["energy"].values, np, weights="poisson", saturation=None,
            batch_size=256, max_iter=200, tol=1e-8,
        )  # fmt: skip
        self.model = self.eng.model
        rng = np.random.default_rng(seed)
        self.subset = np.sort(rng.choice(self.n, min(peer_pixels, self.n), replace=False))
        y = self.data32.astype(np.float64)
        _, _, _, _, _, w = self.eng._preflight(y)
        self.y, self.w = y, w  # hyperspec's own weights (Poisson, notch masked)
        self.p0 = self.eng.start_values(y, w)[0]  # hyperspec's linear-stage starts
        self.mu, self.sigma = np.asarray(self.model.prior_mu), np.asarray(self.model.prior_sigma)
        self.hp = np.isfinite(self.sigma)
        self.true_area = truth["aspl_area"].values.reshape(-1)
        ny, nx = ds.sizes["y"], ds.sizes["x"]
        iy, ix = np.unravel_index(self.subset, (ny, nx))
        # the peers' pixels as a 1 × k map (same spectra, spectral coordinates and attributes; x on the map's step)
        sub = ds.isel(y=xr.DataArray(iy, dims="px"), x=xr.DataArray(ix, dims="px")).drop_vars(["x", "y"])
        step = float(ds["x"][1] - ds["x"][0]) if nx > 1 else 1.0
        sub = sub.rename({"px": "x"}).expand_dims("y").transpose("y", "x", "spectral")
        self.ds_sub = sub.assign_coords(y=ds["y"].values[:1], x=ds["x"].values[0] + step * np.arange(iy.size))

    def chi2(self, p: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The shared objective per pixel: Σ w·(y − f)² + Σ((p − μ)/σ)² (float64), for ``rows`` of the map."""
        p = np.where(np.isfinite(p), p, np.asarray(self.model.init)[None, :])  # an absent band's shapes (NaN) do not matter
        r = self.y[rows] - np.asarray(self.model.value(None, p))
        prior = (((p - self.mu) / np.where(self.hp, self.sigma, 1.0)) ** 2)[:, self.hp].sum(axis=1)
        return (self.w[rows] * r * r).sum(axis=1) + prior

    def aspl_area(self, p: np.ndarray) -> np.ndarray:
        """aS-PL areas (counts·cm⁻¹) from parameters (n, P)."""
        p = np.where(np.isfinite(p), p, np.asarray(self.model.init)[None, :])
        return np.asarray(self.model.term_columns(self.model.terms[0], p, False)[0]) @ np.asarray(self.eng.trapz)


def free_params(res, model) -> np.ndarray:
    """The free parameters (n, P) in the model's order from ``decompose``'s result Dataset."""
    out = np.full((res.sizes["y"] * res.sizes["x"], model.n_free), np.nan)
    for term in model.terms:
        for param, (kind, idx) in zip(term.component.params, term.slots, strict=True):
            if kind == "free":
                out[:, idx] = res[param_output_name(term.name, param)].values.reshape(-1)
    return out


# ---- contenders: each takes (prob, rows) and returns (params (k, P), converged (k,) bool) --------------------
def _split(fn, n_threads):
    """Run ``fn(prob, rows)`` over ``n_threads`` blocks of ``rows`` in a thread pool (1: in line)."""
    if n_threads == 1:
        return fn
    pool = ThreadPoolExecutor(n_threads)

    def run(prob, rows):
        parts = [r for r in np.array_split(rows, n_threads) if r.size]
        outs = [f.result() for f in [pool.submit(fn, prob, r) for r in parts]]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

    return run


#: The map contender's mean Levenberg–Marquardt iterations per pixel (its last full-map call), for the compute floor.
MAP_STATS: dict[str, float] = {}


def dgemm_peak(n: int = 2048, repeats: int = 5) -> float:
    """Measured DGEMM rate (FLOP/s) of one ``n × n`` product on the current BLAS threads, best of ``repeats``."""
    a = np.random.default_rng(0).normal(size=(n, n))
    b = a.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n**3 / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def hyperspec_contender(n_threads: int, which: str):
    """``decompose`` on the whole map (``which="map"``; ``rows`` sets only the warm-up slice) or on the subset map."""

    def run(prob, rows):
        if which == "map":
            ds = prob.ds if rows.size == prob.n else prob.ds.isel(y=slice(0, 1))
            dim, size = "y", max(1, ds.sizes["y"] // (4 * n_threads))
        else:
            ds = prob.ds_sub if rows.size == prob.subset.size else prob.ds_sub.isel(x=slice(0, rows.size))
            dim, size = "x", max(1, ds.sizes["x"] // (4 * n_threads))
        if n_threads > 1:
            ds = ds.chunk({dim: size})
        with hyperspec.single_threaded_blas(), dask.config.set(scheduler="threads", num_workers=n_threads):
            res = hyperspec.decompose(ds, PRESET, backend="numpy").compute()
        if which == "map" and rows.size == prob.n:
            MAP_STATS["n_iter"] = float(res["n_iter"].mean())
        # the engine converged: "converged", or converged and flagged "saturated", "no_signal" or "at_bound"
        return free_params(res, prob.model), np.isin(res["status"].values.reshape(-1), ENGINE_CONVERGED)

    return run


def curve_fit_contender(tol: float, max_nfev: int):
    """``curve_fit`` per pixel: analytic Jacobian, trf with bounds, ``x_scale="jac"``, priors as residual rows."""

    def run(prob, rows):
        model, hp = prob.model, prob.hp
        n_hp = int(hp.sum())
        eye = np.eye(model.n_free)[hp]
        out, ok = np.empty((rows.size, model.n_free)), np.zeros(rows.size, dtype=bool)
        for k, i in enumerate(rows):
            keep = prob.w[i] > 0

            def f(_x, *p, keep=keep):
                p = np.asarray(p)
                return np.r_[np.asarray(model.value(None, p[None]))[0][keep], p[hp]]

            def jac(_x, *p, keep=keep):
                j = np.asarray(model.value_and_jacobian(None, np.asarray(p)[None])[1])[0]
                return np.vstack([j[keep], eye])

            ydata = np.r_[prob.y[i][keep], prob.mu[hp]]
            sigma = np.r_[1.0 / np.sqrt(prob.w[i][keep]), prob.sigma[hp]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    out[k] = curve_fit(
                        f, np.arange(keep.sum() + n_hp), ydata, p0=prob.p0[i], sigma=sigma, jac=jac, bounds=(model.lower, model.upper),
                        method="trf", x_scale="jac", ftol=tol, xtol=tol, gtol=tol, max_nfev=max_nfev,
                    )[0]  # fmt: skip
                    ok[k] = True
                except RuntimeError:  # max_nfev reached
                    out[k] = np.nan
        return out, ok

    return run


def inside_bounds(p0: np.ndarray, lower: np.ndarray, upper: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """Starts moved ``rel`` of the bound span (of the starts' scale where a bound is infinite) inside the bounds.

    lmfit fits bounded parameters through a sine transform whose derivative is zero at a bound: a start on a
    bound (an amplitude the linear stage put at 0) never leaves it. A careful lmfit user starts inside.
    """
    scale = np.maximum(np.abs(p0).max(axis=0), 1.0)
    span = np.where(np.isfinite(upper - lower), upper - lower, scale)
    return np.clip(p0, lower + rel * span, upper - rel * span)


def lmfit_contender(tol: float, max_nfev: int):
    """``lmfit.minimize`` (leastsq) per pixel, bounds, priors as residual rows, ftol = xtol = ``tol``, starts inside the bounds."""

    def run(prob, rows):
        model, hp = prob.model, prob.hp
        names = [n.replace(".", "__") for n in model.free_names]
        p0 = inside_bounds(prob.p0[rows], model.lower, model.upper)
        out, ok = np.empty((rows.size, model.n_free)), np.zeros(rows.size, dtype=bool)
        for k, i in enumerate(rows):
            params = lmfit.Parameters()
            for j, name in enumerate(names):
                params.add(name, value=p0[k, j], min=model.lower[j], max=model.upper[j])
            sw = np.sqrt(prob.w[i])

            def resid(pars, i=i, sw=sw):
                p = np.array([pars[n].value for n in names])
                return np.r_[sw * (prob.y[i] - np.asarray(model.value(None, p[None]))[0]), ((p - prob.mu) / prob.sigma)[hp]]

            r = lmfit.minimize(resid, params, method="leastsq", max_nfev=max_nfev, ftol=tol, xtol=tol)
            out[k] = [r.params[n].value for n in names]
            ok[k] = bool(r.success)
        return out, ok

    return run


def hyperspy_contender():
    """``Model1D.multifit`` over the pixels: the model as one custom component, same weights, bounds and starts."""
    logging.getLogger("hyperspy").setLevel(logging.ERROR)

    def run(prob, rows):
        model = prob.model
        names = [n.replace(".", "__") for n in model.free_names]

        class WholeModel(Component):  # the same model function, as one HyperSpy component
            def __init__(self):
                Component.__init__(self, names)

            def function(self, x):
                return np.asarray(model.value(None, np.array([getattr(self, n).value for n in names])[None]))[0]

        sig = hs.signals.Signal1D(prob.y[rows])
        sig.axes_manager.signal_axes[0].axis = prob.ds["shift"].values
        w = prob.w[rows]
        var = np.where(w > 0, 1 / np.where(w > 0, w, 1), 1e30)  # the notch (w = 0) gets no weight
        sig.metadata.set_item("Signal.Noise_properties.variance", hs.signals.Signal1D(var))
        hm = sig.create_model()
        comp = WholeModel()
        hm.append(comp)
        for j, n in enumerate(names):
            par = getattr(comp, n)
            par.bmin, par.bmax = model.lower[j], model.upper[j]
            par.map["values"][:] = prob.p0[rows, j]
            par.map["is_set"][:] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hm.multifit(optimizer="lm", bounded=True, show_progressbar=False)
        p = np.stack([getattr(comp, n).map["values"] for n in names], axis=1)
        return p, np.isfinite(p).all(axis=1)  # multifit reports no per-pixel status: finite parameters count

    return run


def parity(chi2: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Relative χ² difference to the reference per pixel: shares within 1e-6 and 1e-9, median, share lower."""
    rel = np.abs(chi2 - ref) / ref
    return {
        "≤1e-6": float(np.mean(rel <= 1e-6)),
        "≤1e-9": float(np.mean(rel <= 1e-9)),
        "median rel": float(np.median(rel)),
        "lower": float(np.mean(chi2 < ref * (1 - 1e-12))),
    }


def make_problem(ny: int, nx: int, m: int, peer_pixels: int, seed: int = 0) -> Problem:
    """Write the synthetic map (seed ``seed``) to a temporary store and load it and its truth into memory."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-decompose-"))
    path = synthetic.write("map", tmp / "map.zarr", (ny, nx), n_spectral=m, seed=seed, artefacts=False, progress=False)
    return Problem(hyperspec.open(path).compute(), hyperspec.open(path, group="truth").compute(), peer_pixels)


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="64x64", help="pixels NYxNX (default 64x64; 16x16 for a rehearsal)")
    ap.add_argument("--n-spectral", type=int, default=1024)
    ap.add_argument("--peer-pixels", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--cf-tol", type=float, default=1e-10, help="curve_fit's ftol, xtol and gtol (default 1e-10)")
    ap.add_argument("--cf-nfev", type=int, default=2000, help="curve_fit's max_nfev (default 2000)")
    ap.add_argument("--lmfit-tol", type=float, default=1e-10, help="lmfit's ftol and xtol (default 1e-10; its own 1.5e-8)")
    ap.add_argument("--lmfit-nfev", type=int, default=40000, help="lmfit's max_nfev (default 40000)")
    ap.add_argument("--peers", default="curve_fit,lmfit,hyperspy", help="comma-separated peers (default curve_fit,lmfit,hyperspy)")
    ap.add_argument("--label", default=None, help='a status line for the table, e.g. "rehearsal, shared machine"')
    ap.add_argument("--out", default=None, help="write the Markdown table here")
    args = ap.parse_args(argv)
    ny, nx = (int(v) for v in args.size.lower().split("x"))
    peers = set(args.peers.split(",")) if args.peers else set()
    if peers - {"curve_fit", "lmfit", "hyperspy"}:
        raise SystemExit(f"--peers: unknown {sorted(peers - {'curve_fit', 'lmfit', 'hyperspy'})}; choose from curve_fit, lmfit, hyperspy.")
    prob = make_problem(ny, nx, args.n_spectral, args.peer_pixels)
    m0 = machine()
    everything, sub = np.arange(prob.n), prob.subset
    warm = sub[: min(2, sub.size)]
    k = sub.size
    rows, notes_cmp = [], []
    map_cpu_px = None  # the map contender's CPU seconds per pixel on 1 thread
    for t in (int(v) for v in args.threads.split(",")):
        contenders = {
            "hyperspec (map)": hyperspec_contender(t, "map"),
            "hyperspec (subset)": hyperspec_contender(t, "subset"),
        }
        if "curve_fit" in peers:
            contenders["curve_fit"] = _split(curve_fit_contender(args.cf_tol, args.cf_nfev), t)
        if lmfit is not None and "lmfit" in peers:
            contenders["lmfit"] = _split(lmfit_contender(args.lmfit_tol, args.lmfit_nfev), t)
        if hs is not None and "hyperspy" in peers:
            contenders["HyperSpy multifit"] = hyperspy_contender()
        rows_of = {name: (everything if name == "hyperspec (map)" else sub) for name in contenders}
        # every contender gets the same arguments: the problem and "all" (timed: the map contender all pixels, the
        # others the subset) or "warm" (the untimed warm-up: the first pixels of the subset)
        timed = {name: _on(fn, rows_of[name], warm) for name, fn in contenders.items()}
        with threads(t, blas=1 if t > 1 else t):
            cmp = compare(
                timed, (prob, "all"), rounds=args.rounds, baseline="hyperspec (map)", warmup_args=(prob, "warm"),
                items={name: rows_of[name].size for name in contenders},
            )  # fmt: skip
            mem = {name: peak_rss_mib(fn, prob, "all") for name, fn in timed.items()}
        p_ref, _ = cmp.outputs["hyperspec (subset)"]
        ref = prob.chi2(p_ref, sub)
        for name, tm in cmp.timings.items():
            p, ok = cmp.outputs[name]
            p_s = p[sub] if name == "hyperspec (map)" else p
            par = parity(prob.chi2(p_s, sub), ref)
            area = prob.aspl_area(p)
            truth = prob.true_area[rows_of[name]]
            err = np.abs(area - truth) / truth
            like = cmp.timings["hyperspec (subset)"]
            rows.append(
                {
                    "threads": t,
                    "contender": name,
                    "pixels": rows_of[name].size,
                    "wall min / med (s)": f"{tm.stat('min', 'wall'):.3g} / {tm.stat('median', 'wall'):.3g}",
                    "CPU min / med (s)": f"{tm.stat('min', 'cpu'):.3g} / {tm.stat('median', 'cpu'):.3g}",
                    "px/s (wall min)": tm.rate("min", "wall"),
                    "hyperspec (map) × wall min/med": f"{1 / cmp.speedup(name, 'min', 'wall'):.3g} / {1 / cmp.speedup(name, 'median', 'wall'):.3g}",
                    "hyperspec (map) × CPU min/med": f"{1 / cmp.speedup(name, 'min', 'cpu'):.3g} / {1 / cmp.speedup(name, 'median', 'cpu'):.3g}",
                    "hyperspec (subset) × wall min": tm.stat("min", "wall") / like.stat("min", "wall") * like.items / tm.items,
                    "peak RSS MiB": mem[name],
                    "aS-PL area error": f"{100 * float(np.median(err[ok])) if ok.any() else float('nan'):.2f} %",
                    "converged": f"{100 * float(np.mean(ok)):.1f} %",
                    "χ² ≤1e-6": f"{100 * par['≤1e-6']:.1f} %",
                    "χ² ≤1e-9": f"{100 * par['≤1e-9']:.1f} %",
                    "χ² median rel": par["median rel"],
                    "χ² lower": f"{100 * par['lower']:.1f} %",
                }
            )
        orders = "; ".join(" → ".join(o) for o in cmp.orders)
        load = "/".join(f"{v:.2f}" for v in cmp.load_before), "/".join(f"{v:.2f}" for v in cmp.load_after)
        if t == 1:
            map_cpu_px = cmp.timings["hyperspec (map)"].stat("min", "cpu") / prob.n
        notes_cmp.append(
            f"- {t} thread(s): BLAS {', '.join(cmp.threads['blas'])}; numba {cmp.threads['numba']} ({cmp.threads['numba_layer']}); "
            f"load {load[0]} before, {load[1]} after; round orders: {orders}."
        )
    lin = linear_stage(prob, max(args.rounds, 7))
    with threads(1):
        peak = dgemm_peak()
    n_par, m_used = prob.model.n_free, float(np.mean(np.sum(prob.w > 0, axis=1)))
    evals = MAP_STATS.get("n_iter", float("nan")) + 1.0  # the start, then one trial point per iteration
    flops_px = evals * m_used * (n_par * (n_par + 1) + 2 * n_par)  # the symmetric half of JᵀWJ and JᵀWr, per evaluation
    floor_note = (
        f"Symmetric compute floor (1 thread): {evals:.2f} evaluations per pixel (the start + {evals - 1:.2f} iterations) × {m_used:.0f} "
        f"weighted channels × (P(P+1) + 2P) with P = {n_par} = {flops_px / 1e6:.1f} MFLOP per pixel for JᵀWJ (its symmetric half) and "
        f"JᵀWr alone; measured DGEMM peak (2048² product, 1 thread) {peak / 1e9:.1f} GFLOP/s, so the floor is "
        f"{flops_px / peak * 1e3:.3f} ms per pixel; `hyperspec (map)` takes {map_cpu_px * 1e3:.3f} ms of CPU per pixel: "
        f"**{100 * flops_px / peak / map_cpu_px:.0f} % of the symmetric compute floor**."
        if map_cpu_px is not None
        else "Symmetric compute floor: not measured (no 1-thread run)."
    )
    notes = [
        f"{ny}×{nx} pixels × {args.n_spectral} channels (float32, {prob.data32.nbytes / 2**20:.1f} MiB), synthetic CsPbBr3 map (seed 0, no artefacts); preset {PRESET}, {prob.model.n_free} free parameters, {int(prob.hp.sum())} priors; Poisson weights, notch masked; hyperspec's linear-stage starts for all.",
        f"{args.rounds} rounds in rotated order after one untimed warm-up each on {warm.size} pixels (the map contender: one row). The peers and `hyperspec (subset)` fit the same {k} random pixels; `hyperspec (map)` all {prob.n}. Speed-ups are per pixel: peer time per pixel / hyperspec (map) time per pixel (> 1: hyperspec faster); the last speed-up column is against `hyperspec (subset)` (like for like).",
        f'curve_fit: analytic Jacobian, method "trf", x_scale="jac", ftol = xtol = gtol = {args.cf_tol:g}, max_nfev {args.cf_nfev}, priors as residual rows. lmfit {getattr(lmfit, "__version__", "absent")}: leastsq (finite differences), ftol = xtol = {args.lmfit_tol:g}, max_nfev {args.lmfit_nfev}, priors as residual rows, starts moved 1e-6 of the bound span inside the bounds (lmfit\'s bound transform cannot leave a start on a bound). '
        + (
            "HyperSpy absent or left out."
            if hs is None or "hyperspy" not in peers
            else f"HyperSpy {hs.__version__}: multifit, optimizer lm, bounded, no priors (it has no place for them), so its χ² is not at parity by construction; its converged share counts finite parameters (multifit reports no status per pixel)."
        ),
        f"Every contender evaluates the same model function, hyperspec's composite model ({'its fused numba kernel' if prob.model._fused is not None else 'NumPy'}, value and analytic Jacobian). On 2 threads the peers split their pixels over a thread pool (BLAS 1 thread each); HyperSpy runs its own loop on one thread; hyperspec runs Dask row chunks (columns for the subset map) with N workers. hyperspec's converged share counts its engine's converged fits (status converged, saturated, no_signal or at_bound); a peer's counts fits that ended before max_nfev.",
        "χ² columns: per pixel |χ² − χ²_ref| / χ²_ref with χ² = Σ w·(y − f)² + Σ((p − μ)/σ)² recomputed from each contender's parameters, ref = `hyperspec (subset)`; \"lower\": the share of pixels where the contender's χ² is below hyperspec's. aS-PL area error: median |fit − truth| / truth over the converged pixels of each contender.",
        f"Linear stage (`tikhonov(B, data32, weights, offset)`, float32 product, all {prob.n} pixels) against the read-once floor (`np.add.reduce` over the same float32 array), {lin['rounds']} rotated rounds through `compare`: "
        f"{lin['lin_s'] * 1e3:.3f} ms vs {lin['read_s'] * 1e3:.3f} ms (min; medians {lin['lin_med'] * 1e3:.3f} / {lin['read_med'] * 1e3:.3f} ms), so the linear stage runs at **{100 * lin['read_s'] / lin['lin_s']:.0f} % of the read-once floor**; "
        f"`read_floor` (min of 7): {lin['floor']['seconds'] * 1e3:.3f} ms, {lin['floor']['gb_s']:.1f} GB/s; {prob.n / lin['lin_s']:,.0f} px/s (1 thread).",
        floor_note,
        "Peak RSS: one extra call after the rounds (VmHWM after `malloc_trim` and a reset, minus the RSS before).",
        *notes_cmp,
    ]
    text = markdown_table(
        rows,
        title=f"Band decomposition, preset {PRESET}: {ny}×{nx}×{args.n_spectral} synthetic CsPbBr3 map",
        machine_info=m0,
        notes=notes,
        label=args.label,
    )
    return publish(text, args.out)


def _on(fn, rows, warm):
    """A contender for ``compare``: ``fn(prob, rows)`` for ``"all"``, ``fn(prob, warm)`` for the warm-up."""

    def run(prob, part):
        return fn(prob, rows if part == "all" else warm)

    return run


def linear_stage(prob: Problem, rounds: int) -> dict:
    """The linear stage against the read-once floor on the float32 map, both through ``compare`` (1 thread)."""
    eng, data32 = prob.eng, prob.data32
    cont = {
        "linear": lambda y: tikhonov(eng.B, y, weights=eng.base_w, offset=eng.const),
        "read": lambda y: np.add.reduce(y, axis=None),
    }
    with threads(1):
        cmp = compare(cont, (data32,), rounds=rounds, baseline="read", warmup_args=(data32[:64],))
        floor = read_floor(data32)
    lt, rt = cmp.timings["linear"], cmp.timings["read"]
    return {
        "rounds": rounds,
        "lin_s": lt.stat("min"),
        "lin_med": lt.stat("median"),
        "read_s": rt.stat("min"),
        "read_med": rt.stat("median"),
        "floor": floor,
    }


if __name__ == "__main__":
    main()
