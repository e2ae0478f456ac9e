"""The napari plugin's sample data and manifest wiring (no napari needed)."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import yaml
from napari_hyperspec import make_synthetic_map


def test_sample_data_layers():
    layers = make_synthetic_map(shape=(8, 10), n_spectral=64)
    (cube, meta, kind), (labels, lmeta, lkind) = layers
    assert kind == "image" and lkind == "labels"
    assert cube.shape == (64, 8, 10) and cube.dtype == np.float32
    assert meta["scale"] == (1.0, 0.5, 0.5) and meta["metadata"]["laser_nm"] == 632.8
    assert labels.shape == (8, 10) and set(np.unique(labels)) <= {1, 2, 3}


def test_manifest_commands_resolve():
    import napari_hyperspec

    manifest = yaml.safe_load((Path(napari_hyperspec.__file__).parent / "napari.yaml").read_text())
    assert manifest["name"] == "napari-hyperspec"
    for cmd in manifest["contributions"]["commands"]:
        module, func = cmd["python_name"].split(":")
        assert callable(getattr(importlib.import_module(module), func))
    ids = {c["id"] for c in manifest["contributions"]["commands"]}
    assert {s["command"] for s in manifest["contributions"]["sample_data"]} <= ids


def test_kernel_sources_loader():
    from hyperspec import _kernels

    assert isinstance(_kernels.available(), list)
    try:
        _kernels.source("no_such_kernel")
    except ValueError as exc:
        assert "no GPU kernel source 'no_such_kernel'" in str(exc)
    else:
        raise AssertionError("expected a ValueError")
