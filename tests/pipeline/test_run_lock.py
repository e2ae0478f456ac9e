"""One run per output store (issue 19): <output>.lock names its holder; a stale lock is taken over; --wait waits."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time

import pytest

import hyperspec
from hyperspec.cli import main
from hyperspec.pipeline import run_recipe
from hyperspec.pipeline.lock import RunLock, StoreLockedError, lock_path, read_lock


@pytest.fixture(scope="module")
def tiny_map(tmp_path_factory):
    path = tmp_path_factory.mktemp("lock") / "map.zarr"
    hyperspec.synthetic.write("map", path, (4, 5), n_spectral=128, seed=2, progress=False)
    return path


def _recipe(tmp_path, tiny_map):
    rec = tmp_path / "r.toml"
    rec.write_text(f'[input]\npath = "{tiny_map}"\n[[preprocess]]\nstep = "remove_spikes"\n[output]\npath = "o.zarr"\n')
    return rec


def _hold(path, pid: int, host: str | None = None) -> dict:
    info = {"pid": pid, "host": host or platform.node(), "started": "2026-01-01T00:00:00+00:00", "output": "o.zarr"}
    path.write_text(json.dumps(info))
    return info


def test_a_second_run_is_told_who_holds_the_store(tiny_map, tmp_path, capsys):
    rec = _recipe(tmp_path, tiny_map)
    _hold(lock_path(tmp_path / "o.zarr"), os.getpid())  # a live process holds it
    assert main(["run", str(rec), "--backend", "numpy"]) == 2
    err = capsys.readouterr().err
    assert f"its lock {tmp_path / 'o.zarr.lock'} is held by pid {os.getpid()} on {platform.node()} since 2026-01-01" in err, err
    assert "--wait" in err and not (tmp_path / "o.zarr").exists()
    _hold(lock_path(tmp_path / "o.zarr"), 1, host="elsewhere.example")  # another host: cannot be checked from here
    with pytest.raises(StoreLockedError, match=r"held from another host: if that run is gone, delete .*o\.zarr\.lock"):
        run_recipe(rec, progress=False, backend="numpy")


def test_a_stale_lock_is_taken_over(tiny_map, tmp_path, capsys):
    rec = _recipe(tmp_path, tiny_map)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _hold(lock_path(tmp_path / "o.zarr"), dead.pid)
    assert main(["run", str(rec), "--backend", "numpy"]) == 0
    err = capsys.readouterr().err
    assert f"taking over the stale lock {tmp_path / 'o.zarr.lock'} (pid {dead.pid} on {platform.node()}" in err, err
    assert hyperspec.io.zarr_.store_info(tmp_path / "o.zarr")["complete"]
    assert not lock_path(tmp_path / "o.zarr").exists()  # given back at the end


def test_wait_for_the_holder(tiny_map, tmp_path, capsys):
    rec = _recipe(tmp_path, tiny_map)
    lock = lock_path(tmp_path / "o.zarr")
    _hold(lock, os.getpid())
    threading.Timer(1.0, lock.unlink).start()  # the other run finishes after a second
    t0 = time.perf_counter()
    assert main(["run", str(rec), "--backend", "numpy", "--wait"]) == 0
    assert time.perf_counter() - t0 >= 0.9
    assert "run: waiting for" in capsys.readouterr().err
    _hold(lock, os.getpid())
    with pytest.raises(StoreLockedError):  # a bounded wait runs out
        run_recipe(rec, progress=False, backend="numpy", wait=0.3)
    lock.unlink()


def test_the_lock_is_given_back_after_a_failed_run(tmp_path):
    rec = {"input": {"path": str(tmp_path / "missing.zarr")}, "output": {"path": str(tmp_path / "o.zarr")}}
    with pytest.raises(FileNotFoundError):
        run_recipe(rec, progress=False, backend="numpy")
    assert not lock_path(tmp_path / "o.zarr").exists()


def test_run_lock_records_its_holder_and_refuses_a_second(tmp_path):
    out = tmp_path / "s" / "o.zarr"
    with RunLock(out) as held:
        info = read_lock(lock_path(out))
        assert info["pid"] == os.getpid() and info["host"] == platform.node() and info["token"] == held.info["token"]
        with pytest.raises(StoreLockedError, match=f"held by pid {os.getpid()}"):
            RunLock(out).acquire()
    assert not lock_path(out).exists()


@pytest.mark.parametrize("command", ["convert", "decompose"])
def test_convert_and_decompose_take_the_store_lock(command, tiny_map, tmp_path, capsys):
    """``convert``/``decompose --overwrite`` into a store another process is writing are refused (they deleted it before)."""
    out = tmp_path / "o.zarr"
    hyperspec.save(hyperspec.open(tiny_map), out, progress=False)  # a store being written by "another run"
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    _hold(lock_path(out), os.getpid())
    args = [command, str(tiny_map), str(out), "--overwrite"] + (["--backend", "numpy"] if command == "decompose" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"is held by pid {os.getpid()}" in err, err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # the other run's store is untouched
    lock_path(out).unlink()
    assert main(args) == 0  # free: it writes, and gives the lock back
    assert not lock_path(out).exists()
