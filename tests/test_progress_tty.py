"""Progress in pixels (tqdm): one updating bar on a terminal, sparse lines in logs, none with --quiet, 100 % under dask.distributed."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

import hyperspec
from hyperspec._progress import PixelProgress, Progress, get_mode, set_mode
from hyperspec.cli import main
from hyperspec.pipeline import run_recipe

SHAPE = (4, 5)  # 4 chunks of one 5-pixel row (chunk_pixels = 5)
N_PIX = SHAPE[0] * SHAPE[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def map_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("tty") / "m.zarr"
    hyperspec.synthetic.write("map", path, SHAPE, n_spectral=128, seed=0, progress=False)
    return path


@pytest.fixture(autouse=True)
def _default_mode(monkeypatch):
    monkeypatch.delenv("HYPERSPEC_PROGRESS", raising=False)
    old = set_mode(None)
    yield
    set_mode(old)


def _recipe(map_store, out, **compute):
    return {
        "input": {"path": str(map_store)},
        "preprocess": [{"step": "remove_spikes"}],
        "output": {"path": str(out)},
        "compute": {"backend": "numpy", "chunk_pixels": SHAPE[1], **compute},
    }


def _recipe_file(map_store, tmp_path):
    text = (
        f'[input]\npath = "{map_store}"\n[[preprocess]]\nstep = "remove_spikes"\n'
        f'[output]\npath = "{tmp_path / "o.zarr"}"\n[compute]\nbackend = "numpy"\nchunk_pixels = {SHAPE[1]}\n'
    )
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("HYPERSPEC_PROGRESS", "COLUMNS", "LINES")}
    return {**env, "HYPERSPEC_BACKEND": "numpy"}


def _run_on_pty(args, cwd, cols=100):
    """Run ``python -m hyperspec.cli ARGS`` with a pseudo-terminal (``cols`` wide, 0: no size) as stdout and stderr."""
    master, slave = os.openpty()
    if cols:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "hyperspec.cli", *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            cwd=cwd, env=_env())  # fmt: skip
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal (EIO)
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(30) == 0, out.decode(errors="replace")
    return ANSI.sub("", out.decode()).replace("\r\n", "\n")  # the tty's ONLCR turns each \n into \r\n


def _frames(text, label):
    """The bar's frames (between carriage returns) showing ``label: NN%|``, with their pixel counts."""
    return [(int(m.group(1)), int(m.group(2))) for m in re.finditer(rf"{re.escape(label)}:\s+(\d+)%\|[^\r\n]*?\| (\d+)/{N_PIX} ", text)]


@pytest.mark.parametrize("cols", [100, 0], ids=["100-columns", "no-size"])
def test_run_on_a_terminal_shows_one_updating_bar(map_store, tmp_path, cols):
    text = _run_on_pty(["run", str(_recipe_file(map_store, tmp_path))], tmp_path, cols=cols)
    lines = text.split("\n")
    run_lines = [line for line in lines if "run:" in line]
    assert len(run_lines) == 1, text  # the bar's frames and the summary share one terminal line: no stream of new lines
    frames = _frames(run_lines[0], "run")
    assert "\r" in run_lines[0] and len(frames) >= 2, text  # redrawn in place
    assert frames[0] == (0, 0) and frames[-1] == (100, N_PIX)  # in pixels, to 100 %
    assert all(b[1] >= a[1] for a, b in zip(frames, frames[1:], strict=False))
    assert "px/s" in run_lines[0] and "<" in run_lines[0]  # rate and ETA (tqdm's elapsed<remaining)
    final = run_lines[0].split("\r")[-1]
    assert final.startswith(f"run: done, {N_PIX} px in ") and final.rstrip().endswith("o.zarr")
    assert text.endswith("\n") and len([line for line in lines if line.strip()]) == 3  # output:, hyperspec: backend, run: done


def test_run_in_a_log_writes_sparse_plain_lines(map_store, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hyperspec.cli", "run", str(_recipe_file(map_store, tmp_path))], cwd=tmp_path,
                          capture_output=True, text=True, env=_env(), timeout=120, check=True)  # fmt: skip
    assert "\r" not in proc.stderr
    run_lines = [line for line in proc.stderr.splitlines() if line.startswith("run:")]
    assert 1 <= len(run_lines) <= 11 and run_lines[-1].startswith(f"run: done, {N_PIX} px in ")  # < 1 s of work: the summary only


def test_plain_lines_come_every_tenth_and_every_interval():
    log = io.StringIO()
    with PixelProgress("fit", 200, stream=log, mode="plain", min_time=0.0) as bar:
        for _ in range(200):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert [int(re.match(r"fit:\s+(\d+)%", s).group(1)) for s in lines[:-1]] == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert all(f"| {20 * (i + 1)}/200 px | " in s and "px/s" in s and "ETA" in s for i, s in enumerate(lines[:-1]))
    assert lines[-1].startswith("fit: done, 200 px in ") and "\r" not in log.getvalue()
    log = io.StringIO()  # slow work: a line per interval even without a new tenth
    with PixelProgress("slow", 1000, stream=log, mode="plain", min_time=0.0, plain_interval=0.05) as bar:
        for _ in range(3):
            time.sleep(0.06)
            bar.update(1)
    assert [s.split("|")[1].strip() for s in log.getvalue().splitlines()[:-1]] == ["1/1000 px", "2/1000 px", "3/1000 px"]


def test_quiet_prints_nothing_and_progress_none_only_the_messages(map_store, tmp_path, capsys):
    recipe = _recipe_file(map_store, tmp_path)
    assert main(["run", str(recipe), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert hyperspec.open(tmp_path / "o.zarr")["n_spikes"].shape == SHAPE  # the work was done
    assert main(["simulate", "map", str(tmp_path / "s.zarr"), "--size", "4x5", "--n-spectral", "64", "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["run", str(recipe), "--overwrite", "--progress", "none"]) == 0
    err = capsys.readouterr().err
    assert "hyperspec: backend numpy" in err and "%" not in err and "run: done" in err
    assert get_mode(io.StringIO()) == "plain"  # main restored the mode


def test_dask_callback_counts_pixels_of_the_written_chunks(tmp_path):
    ds = hyperspec.open(hyperspec.synthetic.write("map", tmp_path / "m.zarr", SHAPE, n_spectral=64, seed=1, progress=False))
    log = io.StringIO()
    with Progress("save", N_PIX, stream=log, mode="bar") as prog:
        hyperspec.save(ds.chunk({"y": 1}), tmp_path / "c.zarr", progress=False)
    frames = _frames(log.getvalue(), "save")
    assert frames[-1] == (100, N_PIX) and all(n % SHAPE[1] == 0 for _, n in frames)  # whole 5-pixel rows, not tasks
    assert log.getvalue().split("\r")[-1].startswith(f"save: done, {N_PIX} px in ") and prog.elapsed > 0


def test_under_dask_distributed_the_bar_reaches_every_pixel(map_store, tmp_path):
    distributed = pytest.importorskip("distributed")
    log = io.StringIO()
    set_mode("bar")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        run_recipe(_recipe(map_store, tmp_path / "o.zarr", scheduler=cluster.scheduler_address), stream=log)
    text = log.getvalue()
    frames = _frames(text, "run")
    assert frames[0] == (0, 0) and frames[-1] == (100, N_PIX), text
    assert "dask" in text.lower() and re.search(rf"\rrun: done, {N_PIX} px in ", text)
