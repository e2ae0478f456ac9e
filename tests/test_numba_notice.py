"""The first numba compile after an install is announced (issue 19 item 7), and only then.

Each case runs in a fresh interpreter with its own ``NUMBA_CACHE_DIR``: the first process compiles
(and says so on stderr, with the duration), the second loads the cached kernels and says nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba")

TOY = """
import numba


@numba.njit(cache=True)
def add_one(x):
    return x + 1.0
"""

CALL_TOY = """
from hyperspec._backend import numba_compile_notice
import toy_kernels

with numba_compile_notice("toy", toy_kernels.add_one) as announced:
    toy_kernels.add_one(1.0)
with numba_compile_notice("toy", toy_kernels.add_one) as again:
    toy_kernels.add_one(2.0)
print(announced, again)
"""

CALL_MODPOLY = """
import numpy as np
from hyperspec.preprocess.baselines import modpoly

y = np.random.default_rng(0).normal(100.0, 1.0, (4, 64))
base, info = modpoly(y, poly_order=2)
print(info["engine"])
"""


def _run(code: str, cwd, cache) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": os.pathsep.join([str(cwd), *sys.path])}
    env.pop("HYPERSPEC_KERNELS", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_first_compile_is_announced_with_its_duration_and_a_cached_one_is_not(tmp_path):
    (tmp_path / "toy_kernels.py").write_text(TOY)
    first = _run(CALL_TOY, tmp_path, tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["True", "False"]  # once per process
    assert "numba: compiling the toy kernels (first use after an install or upgrade" in first.stderr
    assert "numba: toy kernels compiled in" in first.stderr and str(tmp_path / "cache") in first.stderr
    second = _run(CALL_TOY, tmp_path, tmp_path / "cache")
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["False", "False"] and "numba" not in second.stderr


def test_the_baseline_kernels_announce_their_first_compile(tmp_path):
    first = _run(CALL_MODPOLY, tmp_path, tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "numba"
    assert "numba: compiling the modpoly baseline kernels" in first.stderr
    second = _run(CALL_MODPOLY, tmp_path, tmp_path / "cache")
    assert second.returncode == 0 and "numba:" not in second.stderr
