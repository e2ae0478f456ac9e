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


def test_every_widget_docks_the_way_napari_menu_builds_it(make_napari_viewer):
    """napari builds a widget contribution from its ``__init__`` signature (a ``napari_viewer`` parameter or a
    Viewer annotation): what Plugins ▸ hyperspec and ``napari -w napari-hyperspec NAME`` do. A plain factory
    function fails there with "missing 1 required positional argument" although calling it directly works."""
    import napari_hyperspec

    manifest = yaml.safe_load((Path(napari_hyperspec.__file__).parent / "napari.yaml").read_text())
    names = [w["display_name"] for w in manifest["contributions"]["widgets"]]
    assert len(names) >= 6
    viewer = make_napari_viewer()
    for name in names:
        dock, widget = viewer.window.add_plugin_dock_widget("napari-hyperspec", name)
        assert widget is not None and dock is not None, name
        assert getattr(widget, "viewer", None) is not None, f"{name}: the widget did not get the viewer"
