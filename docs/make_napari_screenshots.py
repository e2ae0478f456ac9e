"""Screenshots of the napari plugin's dock widgets for the README: ``docs/images/napari_<widget>.png``.

Opens a real napari viewer (a Qt window; under ``xvfb-run -a`` when there is no ``DISPLAY``: the
script re-executes itself), loads the decomposed sample (``napari_hyperspec._sample_data``), docks
each widget of the plugin's ``napari.yaml`` in turn with some state to show (two pinned pixels in
the Spectrum inspector, a drawn rectangle for Regions, a drawn line for Line profile, a picked pixel
for Kinetics on the kinetic sample; Kinetics is skipped when ``napari_hyperspec._kinetics_panel`` is
absent) and saves the main window (``QWidget.grab``), at most 1600 px wide and under 400 KB. Usage::

    python docs/make_napari_screenshots.py            # all widgets
    python docs/make_napari_screenshots.py --only inspector regions
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
OUT = HERE.parent / "images"
MAX_WIDTH = 1600
MAX_BYTES = 400 * 1024
PLUGIN = "napari-hyperspec"


def _pump(qapp, seconds=0.3):
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        qapp.processEvents()
        time.sleep(0.01)


def _save(window, path: Path, qapp, viewer=None) -> tuple[int, int, int]:
    """Grab the main window and save it as PNG (scaled down until it is ≤ MAX_WIDTH px and < MAX_BYTES)."""
    from qtpy.QtCore import Qt  # noqa: PLC0415

    _pump(qapp, 0.5)
    if viewer is not None:  # fit the map into the canvas that the dock left
        viewer.reset_view()
        _pump(qapp, 0.5)
    image = window.grab().toImage()
    width = min(MAX_WIDTH, image.width())
    while True:
        scaled = image if width == image.width() else image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        scaled.save(str(path), "PNG", 0)  # quality 0: the strongest zlib compression
        size = path.stat().st_size
        if size < MAX_BYTES or width < 600:
            return scaled.width(), scaled.height(), size
        width = int(width * 0.85)


def _world(viewer, layer, i, j):
    """World coordinates of the centre of pixel (i, j) of a 2-D (or leading-dims) layer."""
    import numpy as np  # noqa: PLC0415

    data_pos = np.zeros(layer.ndim)
    data_pos[-2:] = (i, j)
    world = layer.data_to_world(data_pos)
    return tuple(float(v) for v in world)


def _hs(layer):
    meta = getattr(layer, "metadata", None)
    return meta.get("hyperspec", {}) if isinstance(meta, dict) else {}


def _band_layer(viewer):
    return next(la for la in viewer.layers if _hs(la).get("role") == "band" and la.visible)


def _dock(viewer, name):
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return dock, widget


def _undock(viewer, dock):
    viewer.window.remove_dock_widget(dock)


def shoot(only: set[str] | None) -> list[tuple[str, Path, tuple]]:
    import napari  # noqa: PLC0415
    from napari.settings import get_settings  # noqa: PLC0415
    from qtpy.QtWidgets import QApplication  # noqa: PLC0415

    get_settings().application.gui_notification_level = "error"  # no warning toasts over the canvas
    viewer = napari.Viewer(title="napari-hyperspec")
    qapp = QApplication.instance()
    window = viewer.window._qt_window  # the main window, for the grab (docks included)
    window.resize(1500, 900)
    viewer.open_sample(PLUGIN, "cspbbr3-decomposed")
    _pump(qapp, 1.0)
    band = _band_layer(viewer)
    for la in viewer.layers:  # one band map on screen, the quick-look under it hidden
        la.visible = la is band or _hs(la).get("role") == "status" and False
    viewer.layers.selection.active = band
    viewer.reset_view()
    done = []

    def want(key):
        return only is None or key in only

    OUT.mkdir(parents=True, exist_ok=True)
    if want("band_maps"):
        dock, widget = _dock(viewer, "Band maps")
        if getattr(widget, "variables", None) is not None and widget.variables.count():
            widget.variables.item(0).setSelected(True)
        path = OUT / "napari_band_maps.png"
        done.append(("Band maps", path, _save(window, path, qapp, viewer)))
        _undock(viewer, dock)
    if want("inspector"):
        dock, widget = _dock(viewer, "Spectrum inspector")
        widget.pin(_world(viewer, band, 3, 4))
        widget.pin(_world(viewer, band, 12, 11))
        widget.inspect(_world(viewer, band, 8, 8))
        _pump(qapp, 1.0)
        path = OUT / "napari_spectrum_inspector.png"
        done.append(("Spectrum inspector", path, _save(window, path, qapp, viewer)))
        _undock(viewer, dock)
        for la in list(viewer.layers):  # the pins' points layer
            if la.metadata.get("hyperspec_inspector_pins"):
                viewer.layers.remove(la)
    if want("run"):
        dock, widget = _dock(viewer, "Run decomposition")
        path = OUT / "napari_run_decomposition.png"
        done.append(("Run decomposition", path, _save(window, path, qapp, viewer)))
        _undock(viewer, dock)
    if want("regions"):
        import numpy as np  # noqa: PLC0415

        (y0, x0), (y1, x1) = _world(viewer, band, 2, 2)[-2:], _world(viewer, band, 8, 9)[-2:]
        shapes = viewer.add_shapes(
            [np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])],
            shape_type="rectangle",
            name="regions",
            edge_color="cyan",
            face_color="transparent",
            edge_width=0.15,
        )
        dock, widget = _dock(viewer, "Regions")
        widget.regions_combo.set_layer(shapes)
        widget.update_plots()
        _pump(qapp, 1.0)
        path = OUT / "napari_regions.png"
        done.append(("Regions", path, _save(window, path, qapp, viewer)))
        _undock(viewer, dock)
        viewer.layers.remove(shapes)
    if want("line_profile"):
        import numpy as np  # noqa: PLC0415

        a, b = _world(viewer, band, 1, 1)[-2:], _world(viewer, band, 14, 13)[-2:]
        lines = viewer.add_shapes(
            [np.array([a, b])], shape_type="line", name="lines", edge_color="yellow", edge_width=0.15, units=band.units[-2:]
        )
        viewer.layers.selection.active = band
        dock, widget = _dock(viewer, "Line profile")
        widget.band_combo.set_layer(band)
        widget.lines_combo.set_layer(lines)
        widget.update_plots()
        _pump(qapp, 1.0)
        path = OUT / "napari_line_profile.png"
        done.append(("Line profile", path, _save(window, path, qapp, viewer)))
        _undock(viewer, dock)
        viewer.layers.remove(lines)
    if want("kinetics"):
        if importlib.util.find_spec("napari_hyperspec._kinetics_panel") is None:
            print("skipped Kinetics: napari_hyperspec._kinetics_panel is not there yet", file=sys.stderr)
        else:
            viewer.layers.clear()
            viewer.open_sample(PLUGIN, "kinetic-map")
            _pump(qapp, 1.0)
            band = _band_layer(viewer)
            for la in viewer.layers:
                la.visible = la is band
            viewer.reset_view()
            dock, widget = _dock(viewer, "Kinetics")
            widget.pick(_world(viewer, band, 2, 3))
            t_end = time.perf_counter() + 30
            while widget.is_busy() and time.perf_counter() < t_end:
                _pump(qapp, 0.1)
            _pump(qapp, 1.0)
            path = OUT / "napari_kinetics.png"
            done.append(("Kinetics", path, _save(window, path, qapp, viewer)))
            _undock(viewer, dock)
    viewer.close()
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="band_maps inspector run regions line_profile kinetics")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        if shutil.which("xvfb-run") is None:
            raise SystemExit("make_napari_screenshots needs a display: install Xvfb (xvfb-run) or run it in a desktop session.")
        os.execvp("xvfb-run", ["xvfb-run", "-a", "-s", "-screen 0 1920x1200x24", sys.executable, str(HERE), *sys.argv[1:]])
    for name, path, (w, h, size) in shoot(set(args.only) if args.only else None):
        print(f"{name}: {path.relative_to(HERE.parent.parent)} {w}×{h} px, {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
