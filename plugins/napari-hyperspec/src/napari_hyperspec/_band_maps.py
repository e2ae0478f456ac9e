"""The *Band maps* dock widget: any results variable as a layer, or an RGB composite of three bands.

A class with an ``napari_viewer`` parameter, so that napari's dock-widget menu (and ``napari -w``)
can build it. The layers come from :func:`napari_hyperspec._layers.results_layers` and
:func:`napari_hyperspec._layers.rgb_composite_layer`; nothing here computes.
"""

from __future__ import annotations

from qtpy.QtWidgets import QAbstractItemView, QComboBox, QFormLayout, QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from hyperspec.report import plottable_variables
from napari_hyperspec._layers import _shown, _sources, results_layers, rgb_composite_layer


class BandMapsWidget(QWidget):
    """The *Band maps* dock widget: add any results variable as a layer, or an RGB composite of three.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (napari passes it by this parameter name).

    Attributes
    ----------
    source : QComboBox
        The results stores of the viewer's layers.
    variables : QListWidget
        The results variables not shown yet (multi-selection).
    add_button, rgb_button : QPushButton
        Add the selected band maps / the RGB composite of the three ``rgb`` combo boxes.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        viewer = napari_viewer
        self.viewer = viewer
        layout = QVBoxLayout(self)
        self.source = QComboBox()
        self.variables = QListWidget()
        self.variables.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.add_button = QPushButton("Add band maps")
        self.rgb = [QComboBox() for _ in range(3)]
        self.rgb_button = QPushButton("Add RGB composite")
        layout.addWidget(QLabel("Results"))
        layout.addWidget(self.source)
        layout.addWidget(QLabel("Variables not shown yet"))
        layout.addWidget(self.variables)
        layout.addWidget(self.add_button)
        form = QFormLayout()
        for label, combo in zip(("red", "green", "blue"), self.rgb, strict=True):
            form.addRow(label, combo)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.rgb_button)
        layout.addLayout(row)
        self.source.currentIndexChanged.connect(self.refresh_variables)
        self.add_button.clicked.connect(self.add_selected)
        self.rgb_button.clicked.connect(self.add_rgb)
        viewer.layers.events.inserted.connect(self.refresh)
        viewer.layers.events.removed.connect(self.refresh)
        self.refresh()

    def _current(self):
        return _sources(self.viewer).get(self.source.currentText())

    def refresh(self, event=None):
        labels = list(_sources(self.viewer))
        current = self.source.currentText()
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItems(labels)
        if current in labels:
            self.source.setCurrentText(current)
        self.source.blockSignals(False)
        self.refresh_variables()

    def refresh_variables(self, *args):
        self.variables.clear()
        for combo in self.rgb:
            combo.clear()
        src = self._current()
        if src is None:
            return
        res = src[0]
        names = plottable_variables(res)
        shown = _shown(self.viewer, res)
        self.variables.addItems([n for n in names if n not in shown])
        areas = [n for n in names if n.endswith("_area")] or names
        for i, combo in enumerate(self.rgb):
            combo.addItems(names)
            if areas:
                combo.setCurrentText(areas[min(i, len(areas) - 1)])

    def add_selected(self):
        src = self._current()
        names = [item.text() for item in self.variables.selectedItems()]
        if src is None or not names:
            return []
        res, path, map_ds = src
        added = []
        for data, kwargs, kind in results_layers(res, path, map_ds=map_ds, variables=names):
            kwargs["visible"] = True
            added.append(getattr(self.viewer, f"add_{kind}")(data, **kwargs))
        return added

    def add_rgb(self):
        src = self._current()
        if src is None:
            return None
        res, path, map_ds = src
        data, kwargs, _ = rgb_composite_layer(res, tuple(c.currentText() for c in self.rgb), path, map_ds=map_ds)
        return self.viewer.add_image(data, **kwargs)
