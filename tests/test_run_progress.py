"""run_recipe's hooks: a progress callback after every chunk, and cancellation between chunks that leaves a resumable store."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import zarr

import hyperspec
from hyperspec.pipeline import run_recipe
from hyperspec.pipeline.run import DONE, RunProgress

SHAPE = (4, 4)  # 4 chunks of one 4-pixel row with chunk_pixels = 4
N = SHAPE[0]  # chunks
ROW = SHAPE[1]  # pixels per chunk


@pytest.fixture(scope="module")
def map_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "map.zarr"
    # cosmic rays in half the spectra (the default, 0.003 per spectrum, puts none on 16 pixels: the spike counts
    # compared below would then only be false positives, which the detector no longer makes here)
    hyperspec.synthetic.write("map", path, SHAPE, n_spectral=128, seed=3, progress=False, cosmic_probability=0.5)
    return path


@pytest.fixture(scope="module")
def reference(map_store, tmp_path_factory):
    """An uninterrupted run of the same recipe, with its progress events."""
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    events: list[RunProgress] = []
    run_recipe(_recipe(map_store, out), progress=False, on_progress=events.append)
    return out, events


@pytest.fixture(scope="module")
def spikes_reference(map_store, tmp_path_factory):
    """An uninterrupted run of a cheap recipe (spike removal only: its per-pixel counts and flags), for the cancel mechanics."""
    out = tmp_path_factory.mktemp("ref") / "spikes.zarr"
    run_recipe(_recipe(map_store, out, spikes=True), progress=False)
    assert int(hyperspec.open(out)["n_spikes"].sum()) > 0  # the generator's cosmic rays: something to compare
    return out


def _recipe(map_store, out, workers=1, spikes=False):
    steps = {"preprocess": [{"step": "remove_spikes"}]} if spikes else {"decompose": {"preset": "cspbbr3-633"}}
    return {
        "input": {"path": str(map_store)},
        **steps,
        "output": {"path": str(out)},
        "compute": {"backend": "numpy", "chunk_pixels": SHAPE[1], "workers": workers},
    }


def _flags(out):
    return np.asarray(zarr.open_array(str(out / DONE), mode="r")[:], dtype=bool)


def _assert_same(a_path, b_path):
    a, b = hyperspec.open(a_path).compute(), hyperspec.open(b_path).compute()
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_progress_is_called_after_every_chunk(reference):
    out, events = reference
    n_px = SHAPE[0] * SHAPE[1]
    assert len(events) == N  # one per chunk
    assert sorted(e.chunk for e in events) == list(range(N))
    assert [e.chunks_done for e in events] == list(range(1, N + 1))
    assert [e.pixels_done for e in events] == [ROW * (i + 1) for i in range(N)]  # monotonic, one row per chunk
    assert {e.pixels_total for e in events} == {n_px} and {e.n_chunks for e in events} == {N}
    assert events[-1].fraction == 1.0 and events[-1].eta_s == 0.0
    assert all(e.pixels_per_s > 0 and e.eta_s >= 0 for e in events)
    assert [e.elapsed_s for e in events] == sorted(e.elapsed_s for e in events)
    # the rate and ETA follow from the counts and the elapsed time
    for e in events:
        assert e.pixels_per_s == pytest.approx(e.pixels_done / e.elapsed_s)
        assert e.eta_s == pytest.approx(e.elapsed_s * (n_px - e.pixels_done) / e.pixels_done)
    assert {e.output for e in events} == {str(out)}
    assert _flags(out).all() and hyperspec.io.zarr_.store_info(out)["complete"]


def test_cancel_after_the_first_chunk_then_resume_gives_the_same_store(map_store, reference, tmp_path):
    out = tmp_path / "o.zarr"
    cancel = threading.Event()
    events: list[RunProgress] = []

    def on_progress(ev):
        events.append(ev)
        cancel.set()  # from the first chunk's callback

    with pytest.raises(hyperspec.RunCancelled, match=r"run cancelled: [12] of 4 chunks .* again to resume") as info:
        run_recipe(_recipe(map_store, out), progress=False, on_progress=on_progress, cancel=cancel)
    # one worker: the second chunk may have started before the first one's callback ran (it then finishes and
    # reports); the others never start
    flags = _flags(out)
    done = np.flatnonzero(flags).tolist()
    assert done in ([0], [0, 1]) and sorted(e.chunk for e in events) == done
    assert [e.pixels_done for e in events] == [ROW * (i + 1) for i in range(len(done))]
    exc = info.value
    assert isinstance(exc, hyperspec.HyperspecError) and (exc.chunks_done, exc.n_chunks, exc.output) == (len(done), N, out)
    assert not hyperspec.io.zarr_.store_info(out)["complete"]
    with pytest.raises(hyperspec.StoreError, match="incomplete"):
        hyperspec.open(out)
    partial = hyperspec.open(out, allow_incomplete=True)
    assert partial.attrs["runs"][-1]["cancelled"] is True and partial.attrs["runs"][-1]["pixels"] == ROW * len(done)
    assert "status_codes" in partial.attrs  # the results' attrs are there for a viewer of the partial store
    ref = hyperspec.open(reference[0]).compute()
    np.testing.assert_array_equal(partial["aspl_area"].values[0], ref["aspl_area"].values[0])  # the first row is final

    resumed: list[RunProgress] = []
    run_recipe(_recipe(map_store, out), progress=False, on_progress=resumed.append)
    assert sorted(e.chunk for e in resumed) == list(range(len(done), N))  # only the missing chunks
    assert [e.pixels_done for e in resumed] == [ROW * (k + 1) for k in range(len(done), N)]  # counts cover the whole store
    assert [e.chunks_done for e in resumed] == list(range(len(done) + 1, N + 1))
    runs = hyperspec.open(out).attrs["runs"]
    assert runs[-1]["resumed"] is True and runs[-1]["pixels"] == ROW * (N - len(done))
    _assert_same(out, reference[0])


def test_cancel_set_before_the_run_writes_nothing_and_resumes(map_store, spikes_reference, tmp_path):
    out = tmp_path / "o.zarr"
    cancel = threading.Event()
    cancel.set()
    calls = []
    with pytest.raises(hyperspec.RunCancelled, match="0 of 4 chunks"):
        run_recipe(_recipe(map_store, out, workers=2, spikes=True), progress=False, on_progress=calls.append, cancel=cancel)
    assert calls == [] and not _flags(out).any()
    run_recipe(_recipe(map_store, out, workers=2, spikes=True), progress=False, cancel=threading.Event())  # an unset event: a normal run
    _assert_same(out, spikes_reference)


def test_cancel_with_two_workers_stops_early_and_keeps_the_running_chunks(tmp_path):
    # 16 chunks of one 2-pixel row: how many chunks finish between the first event and the moment the
    # runner sees the cancel depends on the machine's load (with 4 chunks a loaded CI node finished all
    # of them); the invariants do not: every reported chunk is flagged, queued chunks never start
    rows = hyperspec.synthetic.write("map", tmp_path / "rows.zarr", (16, 2), n_spectral=128, seed=3, progress=False)
    n, row = 16, 2

    def recipe(out):
        return {**_recipe(rows, out, spikes=True), "compute": {"backend": "numpy", "chunk_pixels": row, "workers": 2}}

    run_recipe(recipe(tmp_path / "ref.zarr"), progress=False)
    out = tmp_path / "o.zarr"
    cancel = threading.Event()
    events: list[RunProgress] = []

    def on_progress(ev):
        events.append(ev)
        cancel.set()

    with pytest.raises(hyperspec.RunCancelled) as info:
        run_recipe(recipe(out), progress=False, on_progress=on_progress, cancel=cancel)
    flags = _flags(out)
    assert sorted(e.chunk for e in events) == sorted(np.flatnonzero(flags).tolist())
    assert 1 <= flags.sum() < n and info.value.chunks_done == flags.sum()
    assert [e.pixels_done for e in events] == [row * (i + 1) for i in range(len(events))]
    run_recipe(recipe(out), progress=False)
    _assert_same(out, tmp_path / "ref.zarr")


def test_an_error_in_the_callback_stops_the_run_and_the_store_resumes(map_store, spikes_reference, tmp_path):
    out = tmp_path / "o.zarr"

    def on_progress(ev):
        raise KeyError("viewer closed")

    with pytest.raises(KeyError, match="viewer closed"):
        run_recipe(_recipe(map_store, out, spikes=True), progress=False, on_progress=on_progress)
    assert 1 <= _flags(out).sum() < N
    run_recipe(_recipe(map_store, out, spikes=True), progress=False)
    _assert_same(out, spikes_reference)


def test_cancel_on_a_dask_cluster_drops_the_queued_tasks_and_resumes(tmp_path):
    distributed = pytest.importorskip("distributed")
    map_store = hyperspec.synthetic.write("map", tmp_path / "rows.zarr", (16, 2), n_spectral=128, seed=5, progress=False)
    n = 16  # chunks of one 2-pixel row
    threads = {"backend": "numpy", "chunk_pixels": 2}
    ref = run_recipe({**_recipe(map_store, tmp_path / "ref.zarr", spikes=True), "compute": threads}, progress=False)
    out = tmp_path / "o.zarr"
    cancel = threading.Event()
    events: list[RunProgress] = []

    def on_progress(ev):
        events.append(ev)
        cancel.set()

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        rec = _recipe(map_store, out, spikes=True)
        rec["compute"] = {"backend": "numpy", "chunk_pixels": 2, "scheduler": cluster.scheduler_address}
        with pytest.raises(hyperspec.RunCancelled) as info:
            run_recipe(rec, progress=False, on_progress=on_progress, cancel=cancel)
        reported = info.value.chunks_done
    flags = _flags(out)
    # the chunks that reported are written; the task running at the cancel may have been abandoned after it wrote
    # its flag (counted from the flags); the queued tasks were dropped
    assert set(e.chunk for e in events) <= set(np.flatnonzero(flags).tolist()) and len(events) >= 1
    assert len(events) <= reported <= flags.sum() < n // 2
    run_recipe({**rec, "compute": threads}, progress=False)  # resumed on threads
    _assert_same(out, ref)
