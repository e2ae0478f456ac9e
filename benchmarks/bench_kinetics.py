"""Kinetics: hyperspec (batched over pixels) against a per-pixel SciPy loop doing the same, same data, one process.

Data: band-area traces of a ``--size`` kinetic map (default 64×64 pixels, 300 frames of 0.2 s), made with
the generator's own physics (``hyperspec.synthetic``'s scene: aS-PL blinking at 1.9 s and 1.5 s with an
onset at 7 s, l-ERS at 1.5 s, h-ERS at 3.0 s decaying with τ = 12 s, per-pixel heights from 200 to 2000
counts·cm⁻¹ and Poisson-like noise), plus a 7-power series on the same pixels (aS-PL area ∝ Pᵏ, k from 1
to 2). Traces rather than spectra: the decomposition is benchmarked in ``bench_decompose.py``; this
measures the kinetics set alone.

The set, for both contenders: the aS-PL autocorrelation; periods of each band (two for aS-PL, one for
l-ERS and h-ERS); the cross-correlations of the three band pairs (lag and peak r); the aS-PL onset; the
power law of the series. The peer is what a careful user writes: ``scipy.signal.correlate`` per pixel,
``scipy.signal.periodogram`` for the candidates and ``curve_fit`` (``method="lm"``, analytic Jacobian) of
sinusoids on a cubic trend, parabolic peak interpolation for lags, ``curve_fit`` of the hinge with
its Jacobian for the onset and of A·Pᵏ (weighted by σ = √I) for the power law.

Fairness (``_harness.compare``): every import happens before timing; all contenders run in one process
on the same arrays, in rotated order over ``--rounds`` rounds (default 3), after one untimed warm-up
each on the same small slice; min and median of wall and CPU time are reported. The peer runs on ``--peer-pixels`` pixels spread over the map (its
rate is per pixel and does not depend on the map size); hyperspec runs on the whole map, and on the
peer's pixels for the accuracy comparison. Peak memory of one extra call of each: the RSS high-water
mark (every allocator) and ``tracemalloc``'s peak (Python + NumPy).
Usage: ``python benchmarks/bench_kinetics.py --out benchmarks/results/kinetics_cpu.md``
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.signal
import xarray as xr
from scipy.optimize import curve_fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, machine, markdown_table, peak_rss_mib, peak_traced_mib, publish, threads  # noqa: E402

import hyperspec  # noqa: E402
from hyperspec import kinetics  # noqa: E402

FRAME_S = 0.2
POWERS = np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0])
BANDS = {"aspl": ((1.9, 1.5), (0.25, 0.2)), "lers": ((1.5,), (0.3,)), "hers": ((3.0,), (0.3,))}


def make_data(ny: int, nx: int, n_t: int, seed: int = 0) -> tuple[xr.Dataset, xr.DataArray, np.ndarray]:
    """Band-area traces on (t, y, x), a power series on (power, y, x) and the true k per pixel."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_t) * FRAME_S
    height = rng.uniform(200.0, 2000.0, (ny, nx))
    glass = np.clip(np.linspace(-0.5, 1.5, nx)[None, :] + 0.1 * rng.normal(size=(ny, nx)), 0, 1)
    phases = rng.uniform(0, 2 * np.pi, 4)
    data = {}
    for j, (band, (per, depth)) in enumerate(BANDS.items()):
        blink = 1 + sum(d * np.sin(2 * np.pi * t / p + phases[(j + i) % 4]) for i, (p, d) in enumerate(zip(per, depth, strict=True)))
        shape = blink
        if band == "aspl":
            shape = shape * np.where(t > 7.0, 1 + -np.expm1(-(t - 7.0) / 4.0), 1.0)
        if band == "hers":
            shape = shape * np.exp(-t / 12.0)
        mean = height[None] * shape[:, None, None]
        data[f"{band}_area"] = (("t", "y", "x"), mean + rng.normal(size=mean.shape) * np.sqrt(mean) * 3.0)
    traces = xr.Dataset(data, coords={"t": ("t", t, {"units": "s"})})
    k = 1.0 + glass
    series = height[None] * 0.2 * POWERS[:, None, None] ** k[None]
    series = rng.poisson(series).astype(np.float64)
    power = xr.DataArray(series, dims=("power", "y", "x"), coords={"power": ("power", POWERS, {"units": "mW"})}, name="aspl_area")
    return traces, power, k


# ---- hyperspec: the whole set, batched ---------------------------------------------------------
def run_hyperspec(traces: xr.Dataset, power: xr.DataArray, chunks: int = 0) -> dict:
    """The set on in-memory arrays (one core), or with ``chunks`` > 0 on Dask chunks of rows (threads)."""
    if chunks:
        traces = traces.chunk({"y": max(1, traces.sizes["y"] // chunks)})
        power = power.chunk({"y": max(1, power.sizes["y"] // chunks)})
    out = {"acf": kinetics.autocorrelation(traces["aspl_area"])}
    for band, (per, _) in BANDS.items():
        out[f"periods_{band}"] = kinetics.periods(traces[f"{band}_area"], max_periods=len(per))
    for a, b in (("aspl", "lers"), ("aspl", "hers"), ("lers", "hers")):
        out[f"xcorr_{a}_{b}"] = kinetics.cross_correlation(traces[f"{a}_area"], traces[f"{b}_area"], max_lag_s=1.0)
    out["onset"] = kinetics.onset(traces["aspl_area"])
    out["power"] = kinetics.power_law(power)
    if chunks:
        with hyperspec.single_threaded_blas():  # the chunks are the parallel unit
            out = {name: value.compute() for name, value in out.items()}
    return out


# ---- the peer: the same set, one pixel at a time -------------------------------------------------
def _sines(n: int):
    def f(t, *p):
        tau = t - 0.5 * (t[0] + t[-1])
        u = tau / (0.5 * (t[-1] - t[0]))
        y = p[0] + p[1] * u + p[2] * u**2 + p[3] * u**3
        for i in range(n):
            per, c, s = p[4 + 3 * i : 7 + 3 * i]
            ph = 2 * np.pi * tau / per
            y = y + c * np.cos(ph) + s * np.sin(ph)
        return y

    def jac(t, *p):
        tau = t - 0.5 * (t[0] + t[-1])
        u = tau / (0.5 * (t[-1] - t[0]))
        cols = [np.ones_like(t), u, u**2, u**3]
        for i in range(n):
            per, c, s = p[4 + 3 * i : 7 + 3 * i]
            ph = 2 * np.pi * tau / per
            cs, sn = np.cos(ph), np.sin(ph)
            cols += [(c * sn - s * cs) * 2 * np.pi * tau / per**2, cs, sn]
        return np.stack(cols, axis=1)

    return f, jac


def _hinge(t, base, amp, t0, tau):
    return base + amp * -np.expm1(-np.maximum(t - t0, 0.0) / tau)


def _hinge_jac(t, base, amp, t0, tau):
    dt = t - t0
    after = dt > 0
    dtp = np.where(after, dt, 0.0)
    e = np.exp(-dtp / tau)
    return np.stack([np.ones_like(t), 1 - e, np.where(after, -amp * e / tau, 0.0), -amp * e * dtp / tau**2], axis=1)


def _parabolic(c: np.ndarray, i: int) -> float:
    if 0 < i < c.size - 1:
        den = c[i - 1] - 2 * c[i] + c[i + 1]
        return i + (0.5 * (c[i - 1] - c[i + 1]) / den if den != 0 else 0.0)
    return float(i)


def peer_pixel(tr: dict[str, np.ndarray], pw: np.ndarray, t: np.ndarray) -> dict:
    out = {}
    a = tr["aspl_area"] - tr["aspl_area"].mean()
    acf = scipy.signal.correlate(a, a, mode="full", method="fft")[a.size - 1 :]
    out["acf1"] = acf[1] / acf[0]
    for band, (per, _) in BANDS.items():
        y = tr[f"{band}_area"]
        resid = y - np.polyval(np.polyfit(t, y, 3), t)
        f_, pxx = scipy.signal.periodogram(resid, fs=1 / FRAME_S, nfft=4 * y.size)
        ok = (f_ > 1 / 10.0) & (f_ < 1 / (3 * FRAME_S))
        peaks, _ = scipy.signal.find_peaks(np.where(ok, pxx, 0))
        top = peaks[np.argsort(pxx[peaks])[::-1][: len(per)]]
        f, jac = _sines(len(per))
        p0 = [y.mean(), 0, 0, 0]
        for fr in f_[top]:
            p0 += [1 / fr, resid.std(), 0.0]
        try:
            p, cov = curve_fit(f, t, y, p0=p0, jac=jac, method="lm", maxfev=2000)
            out[f"periods_{band}"] = sorted(p[4::3], reverse=True)
        except RuntimeError:
            out[f"periods_{band}"] = [np.nan] * len(per)
    for a_, b_ in (("aspl", "lers"), ("aspl", "hers"), ("lers", "hers")):
        x, y = tr[f"{a_}_area"], tr[f"{b_}_area"]
        x, y = (x - x.mean()) / x.std(), (y - y.mean()) / y.std()
        c = scipy.signal.correlate(y, x, mode="full", method="fft") / x.size
        lags = np.arange(-x.size + 1, x.size)
        keep = np.abs(lags) <= int(round(1.0 / FRAME_S))
        i = int(np.argmax(np.where(keep, c, -np.inf)))
        out[f"lag_{a_}_{b_}"] = (_parabolic(c, i) - (x.size - 1)) * FRAME_S
        out[f"r_{a_}_{b_}"] = c[i]
    y = tr["aspl_area"]
    try:
        p, _ = curve_fit(_hinge, t, y, p0=[y[:10].mean(), y[-10:].mean() - y[:10].mean(), t[t.size // 4], 3.0], jac=_hinge_jac, method="lm")
        out["onset"] = p[2]
    except RuntimeError:
        out["onset"] = np.nan
    try:
        p, _ = curve_fit(lambda P, A, k: A * P**k, POWERS, pw, p0=[max(pw[3], 1.0), 1.0], sigma=np.sqrt(np.maximum(pw, 1.0)), method="lm")
        out["k"] = p[1]
    except RuntimeError:
        out["k"] = np.nan
    return out


def run_peer(traces: xr.Dataset, power: xr.DataArray, pixels: np.ndarray) -> list[dict]:
    t = traces["t"].values
    flat = {k: traces[k].values.reshape(traces.sizes["t"], -1) for k in traces.data_vars}
    pflat = power.values.reshape(power.sizes["power"], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [peer_pixel({k: v[:, i] for k, v in flat.items()}, pflat[:, i], t) for i in pixels]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--peer-pixels", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the two extra calls that measure memory (quick checks)")
    parser.add_argument("--label", default=None, help='a status line for the table, e.g. "rehearsal, shared machine"')
    parser.add_argument("--out", default=None, help="write the Markdown table here")
    args = parser.parse_args(argv)
    ny, nx = (int(v) for v in args.size.split("x"))
    traces, power, k_true = make_data(ny, nx, args.frames)
    n_pix = ny * nx
    pixels = np.linspace(0, n_pix - 1, min(args.peer_pixels, n_pix)).astype(int)

    def subset(tr, pw, pix):
        iy, ix = np.unravel_index(pix, (tr.sizes["y"], tr.sizes["x"]))
        return tr.isel(y=xr.DataArray(iy, dims="p"), x=xr.DataArray(ix, dims="p")), pw.isel(
            y=xr.DataArray(iy, dims="p"), x=xr.DataArray(ix, dims="p")
        )

    sub_t, sub_p = subset(traces, power, pixels)
    # the untimed warm-up, the same for all: a 2-row slice of the map and 4 of its pixels
    warm_rows = min(2, ny)
    warm_t, warm_p = traces.isel(y=slice(0, warm_rows)), power.isel(y=slice(0, warm_rows))
    warm_pix = np.arange(min(4, warm_rows * nx))
    args_all = (traces, power, sub_t, sub_p, pixels)
    args_warm = (warm_t, warm_p, *subset(warm_t, warm_p, warm_pix), warm_pix)
    cores = os.cpu_count() or 1
    dask_name = f"hyperspec, Dask ({cores} threads)"
    contenders = {
        "hyperspec": lambda tr, pw, st, sp, pix: run_hyperspec(tr, pw),
        dask_name: lambda tr, pw, st, sp, pix: run_hyperspec(tr, pw, chunks=cores),
        "hyperspec (peer's pixels)": lambda tr, pw, st, sp, pix: run_hyperspec(st, sp),
        "scipy loop": lambda tr, pw, st, sp, pix: run_peer(tr, pw, pix),
    }
    n_of = {"hyperspec": n_pix, dask_name: n_pix, "hyperspec (peer's pixels)": len(pixels), "scipy loop": len(pixels)}
    m0 = machine()
    with threads(1):  # NumPy/BLAS and numba on one thread; the Dask contender's workers are its parallel unit (BLAS 1 each)
        cmp = compare(contenders, args_all, rounds=args.rounds, baseline="scipy loop", warmup_args=args_warm, items=n_of)
        nan = dict.fromkeys(contenders, float("nan"))
        rss = nan if args.no_memory else {name: peak_rss_mib(fn, *args_all) for name, fn in contenders.items()}
        traced = nan if args.no_memory else {name: peak_traced_mib(fn, *args_all) for name, fn in contenders.items()}

    # accuracy on the peer's pixels: median |error| of the periods (s), onset (s), k
    ours, peer = cmp.outputs["hyperspec (peer's pixels)"], cmp.outputs["scipy loop"]
    acc = {}
    for band, (per, _) in BANDS.items():
        mine = np.sort(ours[f"periods_{band}"]["period_s"].values[:, : len(per)], axis=1)[:, ::-1]
        theirs = np.array([p[f"periods_{band}"] for p in peer])
        truth = np.sort(np.array(per))[::-1]
        acc[f"{band} periods |err| (s)"] = (np.nanmedian(np.abs(mine - truth)), np.nanmedian(np.abs(theirs - truth)))
    acc["aS-PL onset |err| (s)"] = (
        np.nanmedian(np.abs(ours["onset"]["onset_s"].values - 7.0)),
        np.nanmedian(np.abs(np.array([p["onset"] for p in peer]) - 7.0)),
    )
    k_sub = k_true.reshape(-1)[pixels]
    acc["power-law k |err|"] = (
        np.nanmedian(np.abs(ours["power"]["k"].values - k_sub)),
        np.nanmedian(np.abs(np.array([p["k"] for p in peer]) - k_sub)),
    )
    rows = []
    for name, tm in cmp.timings.items():
        rows.append(
            {
                "contender": name,
                "pixels": tm.items,
                "wall min / med (s)": f"{tm.stat('min', 'wall'):.3g} / {tm.stat('median', 'wall'):.3g}",
                "CPU min / med (s)": f"{tm.stat('min', 'cpu'):.3g} / {tm.stat('median', 'cpu'):.3g}",
                "px/s (wall min)": tm.rate("min", "wall"),
                "× SciPy loop wall min/med": f"{cmp.speedup(name, 'min', 'wall'):.3g} / {cmp.speedup(name, 'median', 'wall'):.3g}",
                "× SciPy loop CPU min/med": f"{cmp.speedup(name, 'min', 'cpu'):.3g} / {cmp.speedup(name, 'median', 'cpu'):.3g}",
                "peak RSS / traced MiB": f"{rss[name]:.1f} / {traced[name]:.1f}",
            }
        )
    orders = "; ".join(" → ".join(o) for o in cmp.orders)
    load = "/".join(f"{v:.2f}" for v in cmp.load_before), "/".join(f"{v:.2f}" for v in cmp.load_after)
    notes = [
        f"{ny}×{nx} pixels, {args.frames} frames of {FRAME_S} s, 3 bands + a 7-power series. The set: aS-PL autocorrelation; periods of aS-PL (2), l-ERS, h-ERS (1 each); 3 band-pair cross-correlations; aS-PL onset; power law.",
        f"{args.rounds} rounds in rotated order (`_harness.compare`) after one untimed warm-up each on a {warm_rows}-row slice ({warm_pix.size} pixels for the loop); the SciPy loop on {len(pixels)} pixels spread over the map, speed-ups per pixel (> 1: faster than the loop).",
        f"Threads: BLAS {', '.join(cmp.threads['blas'])}; numba {cmp.threads['numba']}; the Dask contender runs {cores} worker threads (BLAS single-threaded). Load {load[0]} before, {load[1]} after; round orders: {orders}.",
        "Memory of one extra call: peak RSS (VmHWM after `malloc_trim` and a reset, minus the RSS before) / peak traced (`tracemalloc`, Python + NumPy).",
        "",
        "Accuracy on the peer's pixels (median absolute error against the truth): "
        + "; ".join(f"{key}: hyperspec {a:.4f}, SciPy loop {b:.4f}" for key, (a, b) in acc.items())
        + ".",
    ]
    text = markdown_table(
        rows,
        title=f"Kinetics set: hyperspec vs a per-pixel SciPy loop ({ny}×{nx} pixels, {args.frames} frames of {FRAME_S} s)",
        machine_info=m0,
        notes=notes,
        label=args.label,
    )
    return publish(text, args.out)


if __name__ == "__main__":
    main()
