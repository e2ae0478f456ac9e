"""Shared fixtures: the ``xp`` backend fixture and clean skipping of ``gpu`` tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hyperspec._backend import gpu_available

GPU_OK, GPU_REASON = gpu_available()
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if GPU_OK:
        return
    skip = pytest.mark.skip(reason=f"gpu test skipped: {GPU_REASON}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["numpy", "fake-cupy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request, monkeypatch):
    """The array namespace under test: NumPy; CuPy's transfer rules over NumPy (tests/fake_cupy.py),
    which runs the CuPy code path everywhere; and CuPy itself when a GPU is usable."""
    if request.param == "numpy":
        return np
    if request.param == "fake-cupy":
        if GPU_OK:
            pytest.skip("a real GPU is here: the cupy case runs instead")
        from tests import fake_cupy

        return fake_cupy.install(monkeypatch)
    import cupy

    return cupy


@pytest.fixture
def gpu_xp(monkeypatch):
    """CuPy when a GPU is usable, else the fake device of tests/fake_cupy.py: the CuPy path runs everywhere."""
    if GPU_OK:
        import cupy

        return cupy
    from tests import fake_cupy as fake

    return fake.install(monkeypatch)


@pytest.fixture
def fake_cupy(monkeypatch):
    """``import cupy`` gives NumPy behind CuPy's transfer rules (tests/fake_cupy.py), with byte counters:
    the CuPy path runs on machines without a GPU."""
    from tests import fake_cupy as fake

    return fake.install(monkeypatch)


@pytest.fixture(scope="session")
def small_map():
    """A small noiseless, artefact-free synthetic map and its truth, computed once."""
    from hyperspec import synthetic

    ds, truth = synthetic.cspbbr3_map((16, 24), n_spectral=512, noise=False, artefacts=False, seed=3)
    return ds.compute(), truth.compute()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_witec_ascii(path: Path) -> np.ndarray:
    """(n, 2) axis and counts of a single-spectrum WITec ASCII export (comma-separated rows after a header)."""
    rows = [line.replace(",", " ").split() for line in path.read_text(errors="replace").splitlines()]
    return np.array([[float(r[0]), float(r[1])] for r in rows if len(r) >= 2 and _is_number(r[0]) and _is_number(r[1])])


SILICON_TXT = SHARED_DATA / "nirs4all-formats" / "raman_witec" / "Si-wafer-Raman-Spectrum-1.txt"


@pytest.fixture
def short_connect_timeout(monkeypatch):
    """``distributed.Client`` gives up on an unreachable scheduler after 0.5 s instead of the 5 s hyperspec asks
    for: the same refused connection and the same ``ClusterError``, 4.5 s sooner (tests of that error only)."""
    try:
        import distributed
    except ImportError:  # no dask.distributed: the library's own error is what the test sees
        return
    real = distributed.Client

    def client(address=None, *args, timeout=None, **kwargs):
        return real(address, *args, timeout="0.5s", **kwargs)

    monkeypatch.setattr(distributed, "Client", client)
