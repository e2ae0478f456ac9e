"""Running recipes: same results as hyperspec.decompose, resume after kill -9, a real Dask cluster losing a worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import zarr

import hyperspec
from hyperspec._errors import StoreExistsError
from hyperspec.cli import main
from hyperspec.pipeline import run_recipe
from hyperspec.pipeline.recipe import validate_recipe
from hyperspec.pipeline.run import DONE
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def map_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "map.zarr"
    hyperspec.synthetic.write("map", path, (12, 16), n_spectral=512, seed=4, progress=False)
    return path


@pytest.fixture(scope="module")
def ref_store(map_store, tmp_path_factory):
    """The map's results in 12 one-row chunks (spikes with a halo across every chunk boundary), computed once:
    the uninterrupted reference of the chunking, kill -9 and killed-worker tests."""
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run_recipe(_recipe(map_store, out, chunk_pixels=16), progress=False)
    return out


def _analysis_recipe(map_store, out):
    rec = _recipe(map_store, out)
    rec["analysis"] = [
        {"kind": "line_profile", "variable": "aspl_area", "start": [2, 1], "end": [9, 14], "width": 3},
        {"kind": "filter_map", "variable": "lers_temperature_k", "filter": "median", "size": 3},
    ]
    return rec


@pytest.fixture(scope="module")
def analysed_store(map_store, tmp_path_factory):
    """The map's results with a line profile and a filtered map run from the recipe, computed once
    (the analysis test reads its files, the report test reports on the store)."""
    out = tmp_path_factory.mktemp("analysed") / "res.zarr"
    assert run_recipe(validate_recipe(_analysis_recipe(map_store, out)), progress=False) == out
    return out


def _recipe(map_store, out, **compute):
    return {
        "input": {"path": str(map_store)},
        "preprocess": [{"step": "remove_spikes"}],
        "decompose": {"preset": "cspbbr3-633"},
        "output": {"path": str(out)},
        "compute": {"backend": "numpy", **compute},
    }


def _assert_same(a_path, b_path):
    a, b = hyperspec.open(a_path).compute(), hyperspec.open(b_path).compute()
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        if name == DONE:  # the chunk flags follow each run's chunking
            continue
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_smallest_recipe_equals_decompose(map_store, tmp_path):
    text = f'[input]\npath = "{map_store}"\n[decompose]\npreset = "cspbbr3-633"\n[output]\npath = "result.zarr"\n'
    (tmp_path / "r.toml").write_text(text)
    out = run_recipe(tmp_path / "r.toml", progress=False)
    assert out == tmp_path / "result.zarr"
    res = hyperspec.open(out).compute()
    ds = hyperspec.open(map_store).compute()
    with hyperspec.single_threaded_blas():
        ref = hyperspec.decompose(ds, backend="numpy").compute()
    for name in ("aspl_area", "aspl_area_stderr", "lers_temperature_k", "hers_area", "aspl_peak_ev", "chi2_red", "status", "n_iter"):
        np.testing.assert_array_equal(res[name].values, ref[name].values, err_msg=name)
    assert res["aspl_area"].dims == ("y", "x")
    info = hyperspec.io.zarr_.store_info(out)
    assert info["complete"]
    attrs = res.attrs
    assert attrs["recipe_text"] == text and len(attrs["recipe_hash"]) == 16
    assert "numpy" in attrs["versions"] and attrs["runs"][-1]["pixels"] == 12 * 16
    assert json.loads(attrs["recipe"])["decompose"]["preset"] == "cspbbr3-633"


def test_rerun_changed_recipe_and_overwrite(map_store, tmp_path):
    out = tmp_path / "o.zarr"
    run_recipe(_recipe(map_store, out, chunk_pixels=64), progress=False)
    before = (out / DONE / "zarr.json").stat().st_mtime_ns
    run_recipe(_recipe(map_store, out, chunk_pixels=64), progress=False)  # complete: nothing to do
    assert (out / DONE / "zarr.json").stat().st_mtime_ns == before
    changed = _recipe(map_store, out, chunk_pixels=64)
    changed["decompose"]["drop"] = ["cnt_d"]
    with pytest.raises(StoreExistsError, match="different recipe"):
        run_recipe(changed, progress=False)
    run_recipe(changed, overwrite=True, progress=False)
    assert "cnt_d_area" not in hyperspec.open(out)


def test_chunking_does_not_change_results(map_store, ref_store, tmp_path):
    a = ref_store  # 1 row per chunk, spikes with a halo
    assert hyperspec.open(a).attrs["chunk_plan"]["n_chunks"] == 12
    run_recipe(_recipe(map_store, tmp_path / "b.zarr", chunk_pixels=10_000), progress=False)
    _assert_same(a, tmp_path / "b.zarr")
    # a tiny memory budget: tasks go through their rows in blocks of 1–2 rows (each with its halo)
    small = run_recipe(_recipe(map_store, tmp_path / "c.zarr", memory_mb=2, workers=1), progress=False)
    plan = hyperspec.open(small).attrs["chunk_plan"]
    assert plan["block_rows"] < plan["rows"]
    _assert_same(a, small)


def _run_cli_in_background(recipe_path, log):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "hyperspec.cli", "run", str(recipe_path)], stdout=log, stderr=log, env=env)


def _done_count(out):
    try:
        return int(np.asarray(zarr.open_array(str(out / DONE), mode="r")[:]).sum())
    except Exception:
        return 0


def test_kill_9_then_rerun_gives_the_same_store(map_store, ref_store, tmp_path):
    out = tmp_path / "killed.zarr"  # 6 chunks of 2 rows, killed after 2 (the uninterrupted reference: ref_store)
    rec = _recipe(map_store, out, chunk_pixels=32, workers=1)
    lines = [
        f'[input]\npath = "{map_store}"',
        '[[preprocess]]\nstep = "remove_spikes"',
        '[decompose]\npreset = "cspbbr3-633"',
        f'[output]\npath = "{out}"',
        '[compute]\nbackend = "numpy"\nchunk_pixels = 32\nworkers = 1',
    ]
    (tmp_path / "r.toml").write_text("\n".join(lines) + "\n")
    assert rec["compute"]["chunk_pixels"] == 32
    with open(tmp_path / "log.txt", "w") as log:
        proc = _run_cli_in_background(tmp_path / "r.toml", log)
        deadline = time.time() + 120
        while _done_count(out) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    n_done = _done_count(out)
    assert zarr.open_group(str(out), mode="r", zarr_format=3).attrs["chunk_plan"]["n_chunks"] == 6
    assert 2 <= n_done < 6, (n_done, (tmp_path / "log.txt").read_text())
    assert not hyperspec.io.zarr_.store_info(out)["complete"]
    with pytest.raises(hyperspec.StoreError):
        hyperspec.open(out)  # an interrupted store never looks complete
    assert main(["run", str(tmp_path / "r.toml")]) == 0
    assert hyperspec.open(out).attrs["runs"][-1]["resumed"] is True
    assert hyperspec.open(out).attrs["runs"][-1]["pixels"] == (6 - n_done) * 32
    _assert_same(out, ref_store)


def test_dask_cluster_survives_a_killed_worker(map_store, ref_store, tmp_path):
    pytest.importorskip("distributed")
    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False", PYTHONUNBUFFERED="1")
    logs = open(tmp_path / "cluster.log", "w")  # noqa: SIM115
    dask_cli = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask_cli, "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
                              stdout=logs, stderr=logs, env=env)]  # fmt: skip
    try:
        # the workers start with the scheduler (their imports overlap its start) and wait for its file
        worker_cli = [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(sched_file),
                      "--nthreads", "1", "--no-nanny", "--no-dashboard"]  # fmt: skip
        workers = [subprocess.Popen(worker_cli, stdout=logs, stderr=logs, env=env) for _ in range(2)]
        procs += workers
        from distributed.utils import json_load_robust

        address = json_load_robust(str(sched_file), timeout=60)["address"]  # waits for the file, retries a half-written one
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        out = tmp_path / "cluster.zarr"  # 6 chunks of 2 rows; a worker dies after 2, holding one of the other 4
        result = {}
        thread = threading.Thread(
            target=lambda: result.setdefault(
                "path", run_recipe(_recipe(map_store, out, chunk_pixels=32), scheduler=address, progress=False)
            )
        )
        thread.start()
        deadline = time.time() + 120
        while _done_count(out) < 2 and time.time() < deadline:
            time.sleep(0.02)
        workers[0].kill()  # one worker dies mid-run; its tasks are retried on the other
        thread.join(timeout=300)
        assert result.get("path") == out
        assert hyperspec.io.zarr_.store_info(out)["complete"]
        _assert_same(out, ref_store)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        logs.close()


def test_cli_errors_are_one_line(map_store, tmp_path, capsys, short_connect_timeout):
    (tmp_path / "bad.toml").write_text(f'[input]\npath = "{map_store}"\n[decompse]\npreset = "cspbbr3-633"\n[output]\npath = "o.zarr"\n')
    assert main(["run", str(tmp_path / "bad.toml")]) == 2
    assert "Did you mean 'decompose'" in capsys.readouterr().err
    (tmp_path / "missing.toml").write_text('[input]\npath = "nowhere.zarr"\n[output]\npath = "o.zarr"\n')
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "nowhere.zarr" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text(f'[input]\npath = "{map_store}"\n[decompose]\npreset = "cspbbr3-633"\n[output]\npath = "o.zarr"\n')
    assert main(["run", str(good), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_job_script_and_report(map_store, analysed_store, tmp_path, capsys):
    pytest.importorskip("dask_jobqueue")
    rec = tmp_path / "slurm.toml"
    rec.write_text(
        f'[input]\npath = "{map_store}"\n[decompose]\npreset = "cspbbr3-633"\n[output]\npath = "o.zarr"\n'
        '[compute]\nscheduler = "slurm"\n[compute.jobqueue]\ncores = 8\nmemory = "16GB"\nwalltime = "01:00:00"\nqueue = "gpu"\n'
    )
    assert main(["run", str(rec), "--show-job-script"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH" in script and "-p gpu" in script and "01:00:00" in script
    out = analysed_store  # the default recipe's results (with its analyses)
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "band_maps.png").stat().st_size > 10_000
    rows = (tmp_path / "rep" / "regions.csv").read_text().splitlines()
    assert rows[0] == "region,variable,n,mean,median,std,p05,p95" and len(rows) > 20
    assert {r.split(",")[0] for r in rows[1:]} <= {"crystal", "interface", "glass", "all"}


def test_whole_map_steps_run_first_into_an_intermediate_store(map_store, tmp_path):
    out = tmp_path / "d.zarr"
    rec = _recipe(map_store, out)
    rec["preprocess"] = [{"step": "denoise", "n_components": 6}, {"step": "remove_spikes"}]
    run_recipe(rec, progress=False)
    pre = tmp_path / "d_pre.zarr"
    assert hyperspec.io.zarr_.store_info(pre)["complete"]
    # the same steps by hand: denoise the (lazy) map, then spikes and decomposition on the whole map
    den = hyperspec.preprocess.denoise(hyperspec.open(map_store), 6).compute()
    np.testing.assert_array_equal(hyperspec.open(pre)["spectra"].values, den["spectra"].values)
    with hyperspec.single_threaded_blas():
        ref = hyperspec.decompose(hyperspec.preprocess.remove_spikes(den), backend="numpy").compute()
    res = hyperspec.open(out).compute()
    for name in ("aspl_area", "lers_temperature_k", "status"):
        np.testing.assert_array_equal(res[name].values, ref[name].values, err_msg=name)
    # a whole-map step after a per-chunk one is a recipe error
    bad = _recipe(map_store, tmp_path / "e.zarr")
    bad["preprocess"] = [{"step": "remove_spikes"}, {"step": "denoise"}]
    with pytest.raises(hyperspec.HyperspecError, match="must come before"):
        run_recipe(bad, progress=False)


def test_a_recipe_of_whole_map_steps_only_completes_with_its_intermediate_store(map_store, tmp_path):
    """No fit and no step that adds variables: the denoised map is the product, the results store holds the flags only."""
    out = tmp_path / "only.zarr"
    rec = {"input": {"path": str(map_store)}, "preprocess": [{"step": "denoise", "n_components": 6}], "output": {"path": str(out)}}
    run_recipe(rec, progress=False)  # was: ValueError "all keys in region are not in Dataset dimensions"
    assert hyperspec.io.zarr_.store_info(out)["complete"]
    assert zarr.open_array(str(out / DONE), mode="r")[:].all()
    den = hyperspec.preprocess.denoise(hyperspec.open(map_store), 6).compute()
    np.testing.assert_array_equal(hyperspec.open(tmp_path / "only_pre.zarr")["spectra"].values, den["spectra"].values)


def test_analyses_line_profile_and_filter_from_recipe_and_cli(map_store, analysed_store, tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    from hyperspec import spatial
    from hyperspec._errors import RecipeError

    rec = _analysis_recipe(map_store, analysed_store)
    out = analysed_store  # run_recipe(validate_recipe(rec)), once for the module
    res = hyperspec.open(out).compute()
    folder = out.parent / "res_analysis"
    table = np.loadtxt(folder / "profile_1_aspl_area.csv", delimiter=",", skiprows=1)
    expected = spatial.line_profile(res["aspl_area"], (2, 1), (9, 14), width=3, status=res["status"])  # bad pixels in-painted
    np.testing.assert_allclose(table[:, 1], expected.values, rtol=1e-12)
    np.testing.assert_allclose(table[:, 0], expected["distance"].values)
    assert (folder / "profile_1_aspl_area.png").stat().st_size > 10_000
    filtered = tifffile.imread(folder / "lers_temperature_k_median3.tif")
    reference = spatial.filter_map(res["lers_temperature_k"], "median", 3, status=res["status"])  # bad pixels left out, NaN
    assert reference.attrs["n_excluded"] > 0  # the map's dead/saturated pixels
    np.testing.assert_allclose(filtered, reference.values.astype(np.float32))
    assert main(["profile", str(out), "hers_area", "--start", "0", "0", "--end", "11", "15", "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "profile_1_hers_area.csv").exists()
    assert main(["filter", str(out), "aspl_area", "--kind", "gaussian", "--size", "1.5", "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "aspl_area_gaussian1.5.tif").exists()
    assert main(["profile", str(out), "nope", "--start", "0", "0", "--end", "1", "1", "--out", str(tmp_path / "p")]) == 2
    assert "no variable 'nope'" in capsys.readouterr().err
    with pytest.raises(RecipeError, match="line_profile"):
        validate_recipe({**rec, "analysis": [{"kind": "line_profil", "variable": "aspl_area"}]})
    with pytest.raises(RecipeError, match="needs start and end"):
        validate_recipe({**rec, "analysis": [{"kind": "line_profile", "variable": "aspl_area"}]})


def test_a_lazy_instrument_file_is_indexed_once_per_process(tmp_path, monkeypatch):
    """A recipe reading a large text map directly: every task shares one lazy opening of the file."""
    import hyperspec.io.table as table
    import hyperspec.io.text as text
    from hyperspec.pipeline import run as run_module

    src = tmp_path / "map.txt"
    src.write_bytes((SHARED_DATA / "horiba-raman" / "Gd2O3_AlN_map_data.txt").read_bytes())
    monkeypatch.setattr(text, "LAZY_BYTES", 0)  # the file counts as large: read lazily
    calls = []
    real = table.lazy_rows
    monkeypatch.setattr(table, "lazy_rows", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(run_module, "_INPUTS", {})
    rec = {"input": {"path": str(src)}, "preprocess": [{"step": "baseline", "method": "asls", "subtract": True}],
           "output": {"path": str(tmp_path / "out.zarr")}, "compute": {"backend": "numpy", "chunk_pixels": 12}}  # fmt: skip
    out = run_recipe(validate_recipe(rec), progress=False)
    assert len(calls) == 1 and hyperspec.open(out).sizes["run_chunk"] > 2  # several tasks, one index pass
    assert bool(hyperspec.open(out)["baseline_converged"].all())


def test_gpu_blocks_fit_the_device_memory_budget(map_store):
    from hyperspec.pipeline.run import _bytes_per_pixel, plan_chunks

    ds = hyperspec.open(map_store)
    host = plan_chunks(ds, {"backend": "numpy", "workers": 1, "memory_mb": 1024})
    assert "device_memory_mb" not in host and host["block_rows"] == 6  # two tasks of 6 rows; memory is no limit
    per_px = _bytes_per_pixel(ds.sizes["spectral"], [])
    device_mb = 3 * 16 * per_px / 2**20  # room for three 16-pixel rows on the GPU
    gpu = plan_chunks(ds, {"backend": "cupy", "workers": 1, "memory_mb": 1024, "device_memory_mb": device_mb})
    assert gpu["block_rows"] == 3 and gpu["device_memory_mb"] == round(device_mb, 1)
    two = plan_chunks(ds, {"backend": "cupy", "workers": 3, "memory_mb": 1024, "device_memory_mb": device_mb})
    assert two["block_rows"] == 1  # three workers share the device
