"""The plugin's manifest: every command resolves, the manifest validates (npe2)."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml


def test_manifest_commands_resolve():
    import napari_hyperspec

    manifest = yaml.safe_load((Path(napari_hyperspec.__file__).parent / "napari.yaml").read_text())
    assert manifest["name"] == "napari-hyperspec"
    for cmd in manifest["contributions"]["commands"]:
        module, func = cmd["python_name"].split(":")
        assert callable(getattr(importlib.import_module(module), func))
    ids = {c["id"] for c in manifest["contributions"]["commands"]}
    assert {s["command"] for s in manifest["contributions"]["sample_data"]} <= ids
    assert {r["command"] for r in manifest["contributions"]["readers"]} <= ids
    keys = {s["key"] for s in manifest["contributions"]["sample_data"]}
    assert {"cspbbr3-map", "cspbbr3-decomposed", "kinetic-map"} <= keys


def test_manifest_validates_with_npe2():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("napari-hyperspec")
    manifest.validate_imports()  # every python_name imports
    assert manifest.name == "napari-hyperspec" and manifest.contributions.readers


def test_kernel_sources_loader():
    from hyperspec import _kernels

    assert isinstance(_kernels.available(), list)
    try:
        _kernels.source("no_such_kernel")
    except ValueError as exc:
        assert "no GPU kernel source 'no_such_kernel'" in str(exc)
    else:
        raise AssertionError("expected a ValueError")
