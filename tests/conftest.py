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


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array namespace under test: NumPy always, CuPy when a GPU is usable."""
    if request.param == "numpy":
        return np
    import cupy

    return cupy


@pytest.fixture(scope="session")
def small_map():
    """A small noiseless, artefact-free synthetic map and its truth, computed once."""
    from hyperspec import synthetic

    ds, truth = synthetic.cspbbr3_map((16, 24), n_spectral=512, noise=False, artefacts=False, seed=3)
    return ds.compute(), truth.compute()
