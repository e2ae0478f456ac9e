"""The backend switch: argument > $HYPERSPEC_BACKEND > auto, clear errors, namespace helpers."""

from __future__ import annotations

import numpy as np
import pytest

from hyperspec import _backend
from hyperspec._errors import BackendError
from tests.conftest import GPU_OK


def test_numpy_requested():
    be = _backend.resolve_backend("numpy")
    assert be.name == "numpy" and be.xp is np
    assert be.notice == "hyperspec: backend numpy (requested by argument)"


def test_auto_picks_what_is_usable(monkeypatch):
    monkeypatch.delenv(_backend.ENV_VAR, raising=False)
    be = _backend.resolve_backend()
    assert be.name == ("cupy" if GPU_OK else "numpy")
    assert be.reason.startswith("auto") or GPU_OK


def test_env_var_is_used_and_named(monkeypatch):
    monkeypatch.setenv(_backend.ENV_VAR, "NumPy")
    assert _backend.resolve_backend().reason == "requested by $HYPERSPEC_BACKEND"
    monkeypatch.setenv(_backend.ENV_VAR, "cuda")
    with pytest.raises(BackendError, match=r"backend 'cuda' \(from \$HYPERSPEC_BACKEND\) is not known; use one of auto, numpy, cupy"):
        _backend.resolve_backend()
    # an explicit argument wins over the environment
    assert _backend.resolve_backend("numpy").name == "numpy"


@pytest.mark.skipif(GPU_OK, reason="a GPU is usable here")
def test_cupy_without_gpu_is_a_clear_error():
    with pytest.raises(BackendError, match="backend 'cupy' was requested by argument but cannot be used.*'auto' or 'numpy'"):
        _backend.resolve_backend("cupy")


def test_namespace_helpers():
    a = np.arange(3.0)
    assert _backend.get_namespace(a) is np
    assert _backend.get_namespace(a, 1.0) is np
    assert _backend.to_numpy(a) is a


@pytest.mark.gpu
def test_cupy_namespace_and_mixing():
    import cupy

    g = cupy.arange(3.0)
    assert _backend.get_namespace(g) is cupy
    np.testing.assert_array_equal(_backend.to_numpy(g), [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="mixed"):
        _backend.get_namespace(g, np.arange(3.0))
    assert _backend.resolve_backend("cupy").xp is cupy


def test_import_needs_no_gpu_qt_or_cluster():
    import subprocess
    import sys

    code = "import sys, hyperspec; bad = [m for m in ('cupy', 'PyQt6', 'PySide6', 'napari', 'distributed') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_single_threaded_blas_limits_workers_and_restores():
    import threading

    import numpy as np
    from threadpoolctl import threadpool_info

    from hyperspec import single_threaded_blas

    np.linalg.inv(np.eye(3))  # load BLAS

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    seen = []
    with single_threaded_blas():
        t = threading.Thread(target=lambda: seen.append(blas_threads()))  # a dask worker thread sees the limit
        t.start()
        t.join(5)
        assert all(n == 1 for n in blas_threads())
    assert seen and all(n == 1 for n in seen[0])
    assert blas_threads() == before


def test_progress_reports_pixels_per_second(small_map, capsys):
    import hyperspec

    ds, _ = small_map
    with hyperspec.progress("quick look", ds.chunk({"y": 4})) as prog:
        hyperspec.window_integrals(ds.chunk({"y": 4})).compute()
    err = capsys.readouterr().err
    assert "quick look: done, 384 px in" in err and "px/s" in err
    assert prog.n_pixels == 16 * 24 and prog.elapsed > 0
