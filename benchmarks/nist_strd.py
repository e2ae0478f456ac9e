"""Digits of agreement (LRE) of hyperspec's batched Levenberg–Marquardt with the NIST StRD certified values.

For each of the 27 nonlinear-regression data sets, both official start vectors are fitted in one
batched call (complex-step Jacobian, tight tolerances). Reported: the minimum LRE over parameters,
of the standard deviations and of the residual sum of squares, the status and the iterations.
Usage: ``python benchmarks/nist_strd.py --out benchmarks/results/nist_strd.md``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine, markdown_table, publish  # noqa: E402

from hyperspec.fit import FitStatus, levenberg_marquardt  # noqa: E402
from tests.fit.nist_strd import AVERAGE, HIGHER, LOWER, MODELS, load, lre  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for level, names in (("lower", LOWER), ("average", AVERAGE), ("higher", HIGHER)):
        for name in names:
            d = load(name)
            with np.errstate(all="ignore"):
                res = levenberg_marquardt(
                    MODELS[name], d.x, np.broadcast_to(d.y, (2, d.y.size)), d.starts, xtol=1e-15, ftol=1e-15, gtol=1e-15, max_iter=1000
                )
            par = [lre(res.params[i], d.certified).min() for i in range(2)]
            sd = [lre(res.stderr[i], d.certified_sd).min() for i in range(2)]
            rss = [float(lre(res.chi2[i], d.rss)) for i in range(2)]
            rows.append(
                {
                    "data set": name,
                    "difficulty": level,
                    "params LRE (start 1 / 2)": f"{par[0]:.1f} / {par[1]:.1f}",
                    "SD LRE": f"{sd[0]:.1f} / {sd[1]:.1f}",
                    "RSS LRE": f"{rss[0]:.1f} / {rss[1]:.1f}",
                    "status": " / ".join(FitStatus(int(s)).name.lower() for s in res.status),
                    "iterations": f"{res.n_iter[0]} / {res.n_iter[1]}",
                }
            )
    notes = [
        "LRE = −log10(|estimate − certified| / |certified|), clipped to 0…11; minimum over parameters.",
        "Both starts fitted in one batched call; complex-step Jacobian; xtol=ftol=gtol=1e-15.",
        "Lanczos1 is a zero-residual problem (certified RSS 1.4e-25), so its RSS and SD LREs are limited by float64 rounding of the "
        "residuals, not by the fit. BoxBOD and MGH10 from start 1 are the classic failures of Levenberg–Marquardt from far-off "
        "starts: both end on a flat stationary region far from the solution. 'stalled' elsewhere means no representable step "
        "lowers χ² any more: the float64 floor on exact, zero-residual data.",
    ]
    text = markdown_table(
        rows, title="NIST StRD nonlinear regression: hyperspec.fit.levenberg_marquardt", machine_info=machine(), notes=notes
    )
    publish(text, args.out)


if __name__ == "__main__":
    main()
