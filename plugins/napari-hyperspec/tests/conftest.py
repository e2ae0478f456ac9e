"""Shared fixtures of the plugin tests: tiny synthetic map and results stores, made once per session.

Every store is written by the library (``hyperspec.synthetic.write``) and decomposed by the default
recipe path (``hyperspec.pipeline.run_recipe`` with the embedded ``DEFAULT_RECIPE``: remove_spikes,
then the ``cspbbr3-633`` preset) on the NumPy backend, so results are the same on every machine.
The stores are read-only for the tests: copy one (``shutil.copytree``) before changing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

MAP_SHAPE = (12, 16)  # (y, x)
KINETIC_SIZE = (12, 6, 8)  # (t, y, x)
N_SPECTRAL = 256


def _run_default(map_store: Path, out: Path) -> Path:
    """Decompose ``map_store`` into ``out`` with the embedded default recipe (no PNG/CSV reports)."""
    from hyperspec.pipeline import run_recipe  # noqa: PLC0415
    from hyperspec.pipeline.recipe import DEFAULT_RECIPE  # noqa: PLC0415

    recipe = tomllib.loads(DEFAULT_RECIPE)
    recipe["input"]["path"] = str(map_store)
    recipe["output"] = {"path": str(out)}
    return Path(run_recipe(recipe, backend="numpy", progress=False))


@pytest.fixture(scope="session")
def small_map_store(tmp_path_factory) -> Path:
    """A 12×16×256 synthetic CsPbBr₃ map store (``hyperspec.synthetic.write("map", ...)``, seed 0)."""
    from hyperspec import synthetic  # noqa: PLC0415

    path = tmp_path_factory.mktemp("hyperspec_map") / "map.zarr"
    return Path(synthetic.write("map", path, MAP_SHAPE, n_spectral=N_SPECTRAL, seed=0, progress=False))


@pytest.fixture(scope="session")
def small_results_store(small_map_store, tmp_path_factory) -> Path:
    """The results store of ``small_map_store`` from the default recipe (``run_recipe``, NumPy backend)."""
    return _run_default(small_map_store, tmp_path_factory.mktemp("hyperspec_results") / "results.zarr")


@pytest.fixture(scope="session")
def small_map_ds(small_map_store):
    """``hyperspec.open(small_map_store)``: the lazy map Dataset (``spectra`` on (y, x, spectral))."""
    import hyperspec  # noqa: PLC0415

    return hyperspec.open(small_map_store)


@pytest.fixture(scope="session")
def small_results_ds(small_results_store):
    """``hyperspec.open(small_results_store)``: the lazy results Dataset (variables on (y, x))."""
    import hyperspec  # noqa: PLC0415

    return hyperspec.open(small_results_store)


@pytest.fixture(scope="session")
def kinetic_map_store(tmp_path_factory) -> Path:
    """A 12-frame 6×8×256 synthetic kinetic map store (``spectra`` on (t, y, x, spectral)), seed 0."""
    from hyperspec import synthetic  # noqa: PLC0415

    path = tmp_path_factory.mktemp("hyperspec_kinetic") / "kinetic.zarr"
    return Path(synthetic.write("kinetic-map", path, KINETIC_SIZE, n_spectral=N_SPECTRAL, seed=0, progress=False))


@pytest.fixture(scope="session")
def kinetic_results_store(kinetic_map_store, tmp_path_factory) -> Path:
    """The results store of ``kinetic_map_store`` from the default recipe (variables on (t, y, x))."""
    return _run_default(kinetic_map_store, tmp_path_factory.mktemp("hyperspec_kinetic_results") / "results.zarr")


@pytest.fixture(scope="session")
def kinetic_map_ds(kinetic_map_store):
    """``hyperspec.open(kinetic_map_store)``: the lazy kinetic map Dataset."""
    import hyperspec  # noqa: PLC0415

    return hyperspec.open(kinetic_map_store)


@pytest.fixture(scope="session")
def kinetic_results_ds(kinetic_results_store):
    """``hyperspec.open(kinetic_results_store)``: the lazy kinetic results Dataset."""
    import hyperspec  # noqa: PLC0415

    return hyperspec.open(kinetic_results_store)
