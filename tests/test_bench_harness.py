"""The benchmark harness (benchmarks/_harness.py) and the reference benchmark's peers, on tiny problems."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba", reason="the numba peer and threads() need numba (the test extra has it)")
pytest.importorskip("scipy", reason="the curve_fit peer needs scipy")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _harness  # noqa: E402
from _harness import HarnessError, compare, markdown_table, peak_rss_mib, read_floor, threads  # noqa: E402


class FakeClock:
    """Two clocks (wall, cpu) that only the contenders advance."""

    def __init__(self):
        self.wall = 0.0
        self.cpu = 0.0

    def clocks(self):
        return (lambda: self.wall, lambda: self.cpu)


def _timed(clock, log, name, walls, cpus):
    """A contender that logs its calls and advances the fake clocks by the next (wall, cpu) of its list."""
    state = {"i": 0}

    def fn(*args):
        log.append((name, args))
        if args == ("warm",):
            return "warm"
        clock.wall += walls[state["i"]]
        clock.cpu += cpus[state["i"]]
        state["i"] += 1
        return f"{name}{state['i']}"

    return fn


def test_rotation_order_and_warmup():
    clock, log = FakeClock(), []
    cont = {n: _timed(clock, log, n, [1.0] * 5, [1.0] * 5) for n in "abc"}
    cmp = compare(cont, ("data",), rounds=4, warmup_args=("warm",), clock=clock.clocks())
    assert cmp.orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    # one untimed warm-up each, first, on the warm-up args; then the rounds on the same args
    assert log[:3] == [("a", ("warm",)), ("b", ("warm",)), ("c", ("warm",))]
    assert [n for n, _ in log[3:]] == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]
    assert all(args == ("data",) for _, args in log[3:])
    assert cmp.outputs == {"a": "a4", "b": "b4", "c": "c4"}  # the last round's output of each
    assert cmp.baseline == "a"


def test_min_median_and_ratios_on_fake_timings():
    clock, log = FakeClock(), []
    # wall: a [1, 3, 2] (min 1, median 2); b [2, 2, 8] (min 2, median 2). cpu: a [2, 2, 2]; b [1, 4, 6] (median 4).
    # rounds run a,b / b,a / a,b: each contender's own list is consumed in its own call order
    cont = {"a": _timed(clock, log, "a", [1.0, 3.0, 2.0], [2.0, 2.0, 2.0]), "b": _timed(clock, log, "b", [2.0, 2.0, 8.0], [1.0, 4.0, 6.0])}
    cmp = compare(cont, rounds=3, baseline="b", warmup_args=("warm",), clock=clock.clocks())
    ta, tb = cmp.timings["a"], cmp.timings["b"]
    assert ta.wall == [1.0, 3.0, 2.0] and tb.cpu == [1.0, 4.0, 6.0]
    assert (ta.stat("min"), ta.stat("median"), tb.stat("min"), tb.stat("median", "cpu")) == (1.0, 2.0, 2.0, 4.0)
    r = cmp.ratios("a")
    assert r == {"wall_min": 2.0, "wall_median": 1.0, "cpu_min": 0.5, "cpu_median": 2.0}
    assert cmp.ratios("b") == dict.fromkeys(r, 1.0)


def test_per_item_speedup_and_rate():
    clock, log = FakeClock(), []
    cont = {"a": _timed(clock, log, "a", [1.0] * 3, [1.0] * 3), "b": _timed(clock, log, "b", [1.0] * 3, [1.0] * 3)}
    cmp = compare(cont, rounds=3, baseline="b", warmup_args=("warm",), items={"a": 100, "b": 25}, clock=clock.clocks())
    assert cmp.speedup("a") == pytest.approx(4.0)  # same time, 4× the pixels
    assert cmp.timings["a"].rate() == pytest.approx(100.0)


def test_compare_rejects_bad_setups():
    with pytest.raises(HarnessError, match="baseline 'z' is not a contender"):
        compare({"a": lambda: None}, baseline="z")
    with pytest.raises(HarnessError, match="rounds"):
        compare({"a": lambda: None}, rounds=0)
    with pytest.raises(HarnessError, match="at least one contender"):
        compare({})


def test_read_floor_reads_the_array_given(monkeypatch):
    a = np.arange(4 * 5 * 64, dtype=np.float32).reshape(4, 5, 64)
    seen = []
    real = np.add.reduce

    def spy(arr, axis=0):
        seen.append((arr, axis))
        return real(arr, axis=axis)

    monkeypatch.setattr(_harness, "_reduce", spy)
    floor = read_floor(a, repeats=5)
    assert len(seen) == 5 and all(arr is a and axis is None for arr, axis in seen)  # no copy, no astype
    assert floor["seconds"] > 0 and floor["seconds"] <= floor["median_s"]
    assert floor["bytes"] == a.nbytes and floor["dtype"] == "float32"
    assert floor["gb_s"] == pytest.approx(a.nbytes / floor["seconds"] / 1e9)


def test_threads_pins_blas_and_numba():
    import numba
    from threadpoolctl import threadpool_info

    before = numba.get_num_threads()
    with threads(1):
        assert numba.get_num_threads() == 1
        assert all(d["num_threads"] == 1 for d in threadpool_info())
    assert numba.get_num_threads() == before
    n = numba.config.NUMBA_NUM_THREADS
    with threads(n, blas=1):  # a pool or Dask workers as the parallel unit: BLAS on one thread each
        assert numba.get_num_threads() == n
        assert all(d["num_threads"] == 1 for d in threadpool_info())
    with pytest.raises(HarnessError, match="NUMBA_NUM_THREADS"):
        with threads(numba.config.NUMBA_NUM_THREADS + 1):
            pass


def test_markdown_table_states_machine_date_command():
    rows = [{"contender": "a", "wall (s)": 0.5}]
    text = markdown_table(rows, title="T", command="python x.py --size 4x4", label="rehearsal, shared machine")
    lines = text.splitlines()
    assert lines[0] == "# T" and "**rehearsal, shared machine**" in lines
    assert any(line.startswith("Machine: ") and "cores" in line and "numpy" in line and "load average" in line for line in lines)
    assert any("Date: " in line and "UTC" in line and "`python x.py --size 4x4`" in line for line in lines)
    assert "| contender | wall (s) |" in lines and "| a | 0.5 |" in lines
    with pytest.raises(HarnessError):
        markdown_table([], title="T")


def test_peak_rss_counts_a_new_allocation():
    mib = peak_rss_mib(lambda: np.ones(48 * 2**20 // 8).sum())
    if np.isnan(mib):
        pytest.skip("no /proc/self/clear_refs here")
    assert 40.0 < mib < 200.0


def test_peak_traced_counts_numpy_allocations():
    from _harness import peak_traced_mib

    assert 40.0 < peak_traced_mib(lambda: np.ones(48 * 2**20 // 8).sum()) < 60.0


# ---- the reference benchmark's peers -----------------------------------------------------------
def _problem(noise: bool):
    from bench_reference import make_problem, starts

    x, y, truth, p0 = make_problem(2, 2, 256, seed=3)
    y = y.reshape(4, -1).astype(np.float64)
    if not noise:
        from peers import model as pm

        y = pm.value(x, truth)
        p0 = starts(x, y)
    return x, y, truth, p0


def _curve_fit(x, y, p0):
    from bench_reference import curve_fit_loop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return curve_fit_loop(1e-12)(x, y, p0)


@pytest.mark.parametrize("peer", ["numpy", "numba"])
def test_peers_recover_noiseless_truth_and_match_curve_fit(peer):
    from peers import model as pm
    from peers.numba_lm import lm_numba
    from peers.numpy_lm import lm_batched

    fit = {"numpy": lm_batched, "numba": lm_numba}[peer]
    x, y, truth, p0 = _problem(noise=False)
    p, chi2, n_iter = fit(x, y, p0, ftol=1e-14, xtol=1e-14)
    np.testing.assert_allclose(p, truth, rtol=1e-6)
    assert np.all(n_iter > 1) and np.all(chi2 < 1e-12 * np.sum(y * y, axis=1))
    # noisy: the same χ² minimum as curve_fit (method "lm", analytic Jacobian), per pixel, to 1e-9
    x, y, truth, p0 = _problem(noise=True)
    p, chi2, _ = fit(x, y, p0)
    ref = pm.chi2(x, y, _curve_fit(x, y, p0))
    np.testing.assert_allclose(chi2, pm.chi2(x, y, p), rtol=1e-12)  # the χ² it reports is the χ² of its parameters
    np.testing.assert_allclose(chi2, ref, rtol=1e-9)
    assert np.all(np.abs(p[:, 0:9:3] - truth[:, 0:9:3]) < 3.0)  # centres within 3 cm⁻¹ of the truth


def test_model_jacobian_matches_finite_differences():
    from bench_reference import TEMPLATE
    from peers import model as pm

    x = np.linspace(1000.0, 3000.0, 128)
    p = TEMPLATE[None].copy()
    f, jac = pm.value_and_jacobian(x, p)
    np.testing.assert_allclose(f, pm.value(x, p))
    for k in range(p.shape[1]):
        h = 1e-6 * max(abs(p[0, k]), 1.0)
        dp = np.zeros_like(p)
        dp[0, k] = h
        fd = (pm.value(x, p + dp) - pm.value(x, p - dp)) / (2 * h)
        np.testing.assert_allclose(jac[0, :, k], fd[0], rtol=1e-6, atol=1e-6 * np.abs(fd).max())


def test_hyperspec_contender_returns_the_peers_parameter_order():
    from bench_reference import hyperspec_contender
    from peers import model as pm

    import hyperspec

    x, _, truth, p0 = _problem(noise=False)
    y = pm.value(x, truth).astype(np.float32)
    ds = hyperspec.from_array(y.reshape(1, 4, -1), x, laser_nm=532.0)
    p = hyperspec_contender({(1, 4): ds}, 1)(x, y, p0)
    np.testing.assert_allclose(p, truth, rtol=2e-4)  # float32 data: the truth to its rounding


# ---- bench_decompose: the cspbbr3-633 preset against careful peers --------------------------------
@pytest.fixture(scope="module")
def decompose_problem():
    import bench_decompose as bd

    return bd.make_problem(4, 4, 256, peer_pixels=2)


def test_decompose_chi2_is_hyperspecs_objective(decompose_problem):
    """The shared χ² from decompose's own parameters: its data part is decompose's χ²_red · dof, to rounding."""
    import bench_decompose as bd

    import hyperspec

    prob = decompose_problem
    res = hyperspec.decompose(prob.ds, bd.PRESET, backend="numpy").compute()
    p = bd.free_params(res, prob.model)
    assert p.shape == (16, 34) and np.isfinite(p[:, prob.model.free_names.index("aspl.center")]).all()
    rows = np.arange(prob.n)
    chi2 = prob.chi2(p, rows)
    p_f = np.where(np.isfinite(p), p, prob.model.init)  # an absent band's shape parameters are NaN in the result
    prior = (((p_f - prob.mu) / prob.sigma) ** 2)[:, prob.hp].sum(axis=1)
    dof = (prob.w > 0).sum(axis=1) - prob.model.n_free
    np.testing.assert_allclose(chi2 - prior, res["chi2_red"].values.reshape(-1) * dof, rtol=1e-10)
    # the aS-PL areas from the parameters are decompose's own aspl_area
    np.testing.assert_allclose(prob.aspl_area(p), res["aspl_area"].values.reshape(-1), rtol=1e-9)
    # the subset map holds the subset's spectra, in order
    np.testing.assert_array_equal(prob.ds_sub["spectra"].values[0], prob.data32[prob.subset])


def test_decompose_peers_reach_hyperspecs_chi2(decompose_problem):
    """curve_fit (analytic J, trf, x_scale="jac") and lmfit (leastsq, tight tolerances), priors as rows: χ² within 1e-6."""
    import bench_decompose as bd

    prob = decompose_problem
    rows = prob.subset
    p_h, ok_h = bd.hyperspec_contender(1, "subset")(prob, rows)
    ref = prob.chi2(p_h, rows)
    p_c, ok_c = bd.curve_fit_contender(1e-10, 2000)(prob, rows)
    assert ok_h.all() and ok_c.all()
    assert np.all(np.abs(prob.chi2(p_c, rows) / ref - 1) < 1e-6)
    lo, hi = prob.model.lower, prob.model.upper
    assert np.all((p_c >= lo) & (p_c <= hi))
    inside = bd.inside_bounds(prob.p0[rows], lo, hi)
    assert np.all((inside > lo) & (inside < hi)) and np.allclose(inside, prob.p0[rows], rtol=1e-5, atol=1e-5 * np.abs(prob.p0).max())
    if bd.lmfit is not None:  # an optional peer; one pixel (finite differences over 34 parameters are slow)
        p_l, ok_l = bd.lmfit_contender(1e-10, 40000)(prob, rows[:1])
        assert ok_l.all() and abs(prob.chi2(p_l, rows[:1])[0] / ref[0] - 1) < 1e-6


def test_bench_decompose_end_to_end_tiny():
    """The whole script at 4×4×256, 2 peer pixels (curve_fit), 1 round: every row, parity columns filled, linear stage."""
    import bench_decompose as bd

    text = bd.main(
        ["--size", "4x4", "--n-spectral", "256", "--peer-pixels", "2", "--rounds", "1", "--threads", "1", "--peers", "curve_fit"]
    )
    table = [line for line in text.splitlines() if line.startswith("| 1 |")]
    assert [line.split(" | ")[1] for line in table] == ["hyperspec (map)", "hyperspec (subset)", "curve_fit"]
    header = [c.strip() for c in next(line for line in text.splitlines() if line.startswith("| threads")).strip("|").split("|")]
    for line in table:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        assert cells["χ² ≤1e-6"].endswith("%") and cells["χ² median rel"] not in ("", "–")
        assert float(cells["px/s (wall min)"].replace(",", "")) > 0
        if cells["contender"] == "curve_fit":  # the same objective minimised: at parity with hyperspec
            assert cells["χ² ≤1e-6"] == "100.0 %" and cells["converged"] == "100.0 %"
    assert "% of the read-once floor" in text and "Machine:" in text


def _table(text: str) -> list[dict[str, str]]:
    """The rows of a harness table as dicts (header → cell)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


def test_bench_kinetics_end_to_end_tiny():
    """bench_kinetics through compare() at 4×4 pixels, 4 peer pixels, 1 round: the four rows, speed-ups against the loop."""
    import bench_kinetics as bk

    text = bk.main(["--size", "4x4", "--peer-pixels", "4", "--rounds", "1", "--no-memory"])
    rows = _table(text)
    assert [r["contender"] for r in rows][2:] == ["hyperspec (peer's pixels)", "scipy loop"] and len(rows) == 4
    assert rows[-1]["× SciPy loop wall min/med"] == "1 / 1" and all(float(r["px/s (wall min)"].replace(",", "")) > 0 for r in rows)
    assert "Accuracy on the peer's pixels" in text and "round orders" in text


def test_bench_baselines_end_to_end_tiny():
    """bench_baselines through compare() at 4×4×256, one method: hyperspec's baselines equal pybaselines' on the peer's spectra."""
    pytest.importorskip("pybaselines", reason="the pybaselines peer")
    import bench_baselines as bb

    text = bb.main(["--size", "4x4", "--n-spectral", "256", "--peer-pixels", "4", "--rounds", "1", "--methods", "asls"])
    rows = _table(text)
    assert [r["contender"] for r in rows][:2] == ["pybaselines loop", "hyperspec, 1 core"] and len(rows) == 3
    for r in rows[1:]:
        assert float(r["max rel. diff."]) < 1e-6  # float32 data through the Dataset function: ≈ 6e-8


# ---- the store, convert, pipeline and GPU scripts through the harness -------------------------------


def test_timing_cells_and_rounds_note_on_fake_timings():
    """The shared columns: min / median of wall and CPU, speed-ups against the baseline; the note names orders, threads, load."""
    walls = iter([0.0, 2.0, 2.0, 3.0, 3.0, 7.0, 7.0, 8.0])  # a: 2, b: 1 (round 0); b: 4, a: 1 (round 1)
    cpus = iter([0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 5.0])
    cmp = compare({"a": lambda: None, "b": lambda: None}, rounds=2, baseline="b", clock=(lambda: next(walls), lambda: next(cpus)))
    cells = _harness.timing_cells(cmp, "a")
    assert cells["wall min / med (s)"] == "1 / 1.5" and cells["CPU min / med (s)"] == "1 / 1.5"
    assert cells["× b wall min/med"] == "1 / 1.67"  # b: min 1, median 2.5; a: min 1, median 1.5
    note = _harness.rounds_note(cmp, "x")
    assert note.startswith("- x: 2 rounds") and "a → b; b → a" in note and "load" in note and "numba" in note


def test_bench_store_end_to_end_tiny():
    """bench_store at 4×5×64, 1 round: three writers and the generator, every round trip equal, rates positive."""
    import bench_store as bs

    text = bs.main(["--size", "4x5", "--n-spectral", "64", "--rounds", "1", "--no-memory"])
    rows = _table(text)
    assert [r["case"] for r in rows] == ["hyperspec", "xarray-default", "numpy-raw", "generate"]
    assert [r["equal"] for r in rows] == ["yes", "yes", "yes", "—"]
    assert rows[0]["write × hyperspec wall min/med"] == "1 / 1"
    assert all(float(r["write MiB/s (min)"].replace(",", "")) > 0 for r in rows)
    assert 0.9 < float(rows[2]["ratio"]) <= 1.0  # numpy.save: the raw bytes plus a 128-byte header
    assert "- write: 1 rounds" in text and "load" in text and "Machine:" in text


def test_bench_convert_end_to_end_tiny():
    """bench_convert on a 0.2 MiB text map, 1 round: both routes give the same store; rows for both contenders."""
    import bench_convert as bc

    text = bc.main(["--sizes", "0.2", "--rounds", "1", "--no-memory"])
    rows = _table(text)
    assert [r["contender"] for r in rows] == ["hyperspec", "pandas + xarray"]
    assert all(r["equal"] == "yes" for r in rows) and rows[1]["× pandas wall min/med"] == "1 / 1"
    assert all(float(r["MB/s (wall min)"].replace(",", "")) > 0 for r in rows)


def test_bench_pipeline_end_to_end_tiny():
    """bench_pipeline on a 2×2×256 store, 1 round: the streamed run and the in-memory decompose agree exactly."""
    import bench_pipeline as bp

    text = bp.main(["--sizes", "0.004", "--n-spectral", "256", "--rounds", "1", "--no-memory"])
    rows = _table(text)
    assert [r["contender"] for r in rows] == ["hyperspec run (store → store)", "decompose (in memory)"]
    assert rows[0]["same results"].startswith("max rel. diff. 0.0e+00") and rows[1]["× in-memory wall min/med"] == "1 / 1"


def test_bench_gpu_dry_run_on_the_fake_device():
    """bench_gpu --fake-device at 2×4×256, 1 round: every case through compare, the GPU paths agree with NumPy."""
    import bench_gpu as bg

    text = bg.main(
        ["--fake-device", "--size", "2x4", "--n-spectral", "256", "--rounds", "1", "--big", "2x4", "--big-rows", "2", "--band-rows", "1"]
    )
    rows = {r["case"]: r for r in _table(text)}
    assert rows["decompose numpy (numba, all cores)"]["agreement with NumPy"] == "reference"
    assert "status equal 100.0 %" in rows["decompose cupy kernels"]["agreement with NumPy"]
    assert "% of the device read-once floor" in rows["linear stage cupy (float32)"]["agreement with NumPy"]
    assert float(rows["baseline asls cupy CUDA kernel"]["agreement with NumPy"].split()[2]) < 1e-6
    assert any(c.startswith("big map") for c in rows) and "a dry run, numbers meaningless" in text
