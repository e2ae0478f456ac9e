"""Compile hyperspec's cached numba kernels once, before the test run (``make test`` runs it).

On a fresh clone numba compiles the fit and baseline kernels the first time they are called. Under
pytest-xdist both workers would compile the same kernels at the same time (about 16 s of CPU each on
the 2-core CI box); run first, two processes compile one half each and numba's ``cache=True`` writes
them to disk, so every worker (and every subprocess a test starts) loads them instead.

Usage: ``python -m tests.warm_kernels fit`` and ``python -m tests.warm_kernels baseline`` (in parallel).
Nothing is checked here: the tests check the kernels' results. A failure is reported and the process
exits 0, so the tests still run (and compile what this did not).
"""

from __future__ import annotations

import sys
import time
import traceback


def fit() -> None:
    """The band-model kernels: a preset's fit on a tiny synthetic map (float32 spectra, as the tests use)."""
    import hyperspec  # noqa: PLC0415

    ds, _ = hyperspec.synthetic.cspbbr3_map((2, 4), n_spectral=512, seed=0)
    hyperspec.decompose(ds, preset="cspbbr3-633", backend="numpy")


def baseline() -> None:
    """The Whittaker, reweighted-Whittaker and modpoly kernels, on float32 and float64 spectra."""
    import numpy as np  # noqa: PLC0415

    from hyperspec.preprocess import baselines  # noqa: PLC0415

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        y = (100.0 + rng.normal(0.0, 1.0, (3, 64))).astype(dtype)
        baselines.asls(y, lam=1e4, max_iter=3, engine="numba")
        baselines.arpls(y, lam=1e4, max_iter=3, engine="numba")
        baselines.airpls(y, lam=1e4, max_iter=3, engine="numba")
        baselines.whittaker_smooth(y, lam=1e4, engine="numba")
        baselines.modpoly(y, poly_order=2, max_iter=3, engine="numba")


def main(argv: list[str]) -> int:
    parts = {"fit": fit, "baseline": baseline}
    for name in argv or list(parts):
        t0 = time.perf_counter()
        try:
            parts[name]()
        except Exception:  # noqa: BLE001 - reported; the test run compiles whatever this did not
            print(f"warm_kernels: {name} failed (the tests will compile it):\n{traceback.format_exc()}", file=sys.stderr)
            continue
        print(f"warm_kernels: {name} kernels ready in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
