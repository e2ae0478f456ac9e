"""Regenerate the README's kinetics pictures, ``docs/images/kinetics_*.png``, from synthetic data.

A kinetic line map (150 frames of 0.2 s × 64 pixels of 0.5 µm, seed 1) is decomposed with the
``cspbbr3-633`` preset; the kinetics functions run on its band areas and the plots of
``hyperspec.kinetics.plots`` draw them. A pump-power series (7 powers, 16 × 16 pixels, seed 2) gives
the k map. Deterministic: the same seeds give the same pictures. Takes a few minutes on two cores
(the decompositions); ``--cache FILE`` keeps their results between runs.

Usage::

    .venv/bin/python docs/make_kinetics_figures.py [--out docs/images] [--cache /tmp/kinetics_cache.pkl]
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import hyperspec
from hyperspec import kinetics, synthetic
from hyperspec.kinetics import plots
from hyperspec.kinetics.periods import periodogram, periods

ROOT = Path(__file__).resolve().parents[1]


def _inputs(cache: Path | None):
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)
    ds, _ = synthetic.kinetic_line(150, 64, seed=1)
    ds = ds.compute()
    res = hyperspec.decompose(ds, "cspbbr3-633").compute()
    pw, _ = synthetic.power_series(shape=(16, 16), seed=2)
    pres = hyperspec.decompose(pw.compute(), "cspbbr3-633").compute()
    keep = [v for v in res.data_vars if v.split("_")[0] in ("aspl", "lers", "hers")] + ["status"]
    out = (res[keep], pres[["aspl_area", "aspl_area_stderr"]], ds)
    if cache is not None:
        with cache.open("wb") as f:
            pickle.dump(out, f)
    return out


def main(argv=None) -> list[Path]:
    """Write the pictures; return their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    res, pres, ds = _inputs(args.cache)
    out = args.out
    aspl, lers = res["aspl_area"], res["lers_area"]
    # blinking after the onset (t ≥ 10 s): the slow trend of `periods` does not follow the 7 s step
    late = aspl.sel(t=slice(10.0, None))
    per = periods(late, max_periods=3)
    acf = kinetics.autocorrelation(late, max_lag_s=8.0)
    pg = periodogram(late)
    on = kinetics.onset(aspl, periods=[1.9, 1.5])
    xc = kinetics.cross_correlation(aspl, lers, max_lag_s=1.0)
    ev = kinetics.sbpl_events(ds, results=res)
    k = kinetics.power_law(pres["aspl_area"], stderr=pres["aspl_area_stderr"])
    extent = (*plots._edges(res, "t"), *plots._edges(res, "x"))
    paths = [
        plots.plot_trace(aspl, on, pixel={"x": 40}, path=out / "kinetics_trace.png"),
        plots.plot_autocorrelation(
            acf,
            per,
            path=out / "kinetics_autocorrelation.png",
            title="aspl_area after the onset (t ≥ 10 s): autocorrelation, mean of 64 pixels",
        ),
        plots.plot_periodogram(
            pg, per, path=out / "kinetics_periodogram.png", title="aspl_area after the onset (t ≥ 10 s): periodogram, mean of 64 pixels"
        ),
        plots.plot_kymograph(res, ["aspl", "lers", "hers"], path=out / "kinetics_kymograph.png"),
        plots.plot_lag_map(xc, path=out / "kinetics_lag.png"),
        plots.plot_event_raster(ev.events, extent=extent, path=out / "kinetics_sbpl_events.png"),
        plots.plot_k_map(k, path=out / "kinetics_k_map.png"),
    ]
    for p in paths:
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p, f"{p.stat().st_size / 1024:.0f} kB")
    return paths


if __name__ == "__main__":
    main()
