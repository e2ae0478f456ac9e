"""Root pytest configuration: doctest collection of ``hyperspec/`` (``--doctest-modules``).

Collecting a module's doctests imports it. Modules that import an optional dependency at their top
(the numba kernels) are skipped when that dependency is missing, so a bare install still collects;
modules that import cupy, napari or dask_jobqueue at their top are a bug (tests/test_docs.py).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent / "hyperspec"
_OPTIONAL = {"numba", "cupy", "cupyx", "napari", "magicgui", "dask_jobqueue", "distributed", "hyperspy", "rsciio", "numcodecs_gpu"}


def _missing_top_level_imports(path: Path) -> set[str]:
    """Optional packages imported at the top of ``path`` that are not installed."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names & _OPTIONAL if importlib.util.find_spec(n) is None}


def pytest_ignore_collect(collection_path, config):
    """Skip the doctests of a hyperspec module whose optional top-level imports are missing."""
    path = Path(collection_path)
    if path.suffix == ".py" and _PACKAGE in path.parents and _missing_top_level_imports(path):
        return True
    return None
