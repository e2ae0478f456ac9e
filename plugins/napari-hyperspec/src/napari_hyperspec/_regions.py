"""Regions and line profiles: region-averaged spectra with a statistics table, and band-map profiles along lines.

Two dock widgets (npe2 ``widgets`` contributions):

- :class:`RegionsWidget` ("Regions"): the areas of a Shapes layer (rectangles, ellipses, polygons;
  rasterised by napari's ``Shapes.to_labels`` on the map's pixel grid) or the labels of a Labels
  layer become regions; it plots each region's mean spectrum (``hyperspec.spatial.region_spectra``)
  and tabulates n, mean, standard deviation and median of the results variables per region
  (``hyperspec.spatial.region_table``), exportable to CSV.
- :class:`LineProfileWidget` ("Line profile"): every line of a Shapes layer gives the profile of a
  chosen band map along it (``hyperspec.spatial.line_profile``), distance in µm, plotted and
  exportable (PNG/CSV of the plot).

Shapes are drawn in world coordinates (µm); their vertices go through the shapes layer's
transforms to world and through the map layer's inverse transforms to its pixel grid
(``layer.data_to_world`` / ``layer.world_to_data``), so any scale or translate of either layer is
honoured. Kinetic and series results use the viewer's current dims step for their leading dims.
No numerics here: means, statistics and profiles all come from ``hyperspec.spatial``.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import xarray as xr
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from hyperspec import HyperspecError
from hyperspec.spatial import line_profile, region_spectra, region_table
from napari_hyperspec._plots import PlotPanel

__all__ = ["RegionsWidget", "LineProfileWidget", "AREA_SHAPES", "LINE_SHAPES", "shapes_to_labels", "line_pixels", "layer_image"]

#: shape types of a Shapes layer that enclose an area (regions)
AREA_SHAPES = ("rectangle", "ellipse", "polygon")
#: shape types that are profiles (a path's first and last vertices are the profile's ends)
LINE_SHAPES = ("line",)
#: roles of the plugin's layers that lie on the map's pixel grid (the cube has a leading spectral axis)
GRID_ROLES = ("band", "quicklook", "status", "rgb")
#: roles whose image is a 2-D band map a profile can follow
PROFILE_ROLES = ("band", "quicklook")
#: map coordinates of the spectral axis, in the order they are preferred, with their axis labels
SPECTRAL_AXES = (("shift", "Raman shift (cm⁻¹)"), ("wavelength", "Wavelength (nm)"), ("energy", "Energy (eV)"))
#: delay (ms) between a drawing/painting event and the update it triggers
DEBOUNCE_MS = 150


def _hs(layer) -> dict | None:
    meta = getattr(layer, "metadata", None)
    hs = meta.get("hyperspec") if isinstance(meta, dict) else None
    return hs if isinstance(hs, dict) else None


def _is_shapes(layer) -> bool:
    return type(layer).__name__ == "Shapes"


def _is_labels(layer) -> bool:
    return type(layer).__name__ == "Labels"


def grid_layers(viewer) -> list:
    """The plugin's layers on a map's pixel grid (band, quick-look, status, RGB), bottom to top."""
    return [la for la in viewer.layers if (_hs(la) or {}).get("role") in GRID_ROLES]


def data_of(viewer, layer) -> tuple:
    """(map, results) of a plugin layer: its own, else those of another layer sharing one of them."""
    meta = _hs(layer) or {}
    data, results = meta.get("map"), meta.get("results")
    others = [_hs(la) for la in reversed(list(viewer.layers)) if _hs(la) is not None]
    if results is None and data is not None:
        results = next((m["results"] for m in others if m.get("map") is data and m.get("results") is not None), None)
    if data is None and results is not None:
        data = next((m["map"] for m in others if m.get("results") is results and m.get("map") is not None), None)
    return data, results


def spatial_shape(layer) -> tuple[int, int]:
    """(ny, nx) of a grid layer's last two (spatial) axes."""
    array = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    shape = array.shape[:-1] if getattr(layer, "rgb", False) else array.shape
    return int(shape[-2]), int(shape[-1])


def current_index(viewer, layer) -> dict:
    """The leading (extra) dims of a plugin layer at the viewer's current dims step, e.g. ``{"t": 4}``.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer.
    layer : napari.layers.Layer
        A layer with ``metadata["hyperspec"]["extra_dims"]``.

    Returns
    -------
    dict of str to int
        Index of each extra dim (clipped to the layer's shape); empty for 2-D layers.
    """
    meta = _hs(layer) or {}
    extra = tuple(meta.get("extra_dims") or ())
    if not extra:
        return {}
    coords = np.asarray(layer.world_to_data(np.asarray(viewer.dims.point, dtype=float)), dtype=float)
    array = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    out = {}
    for k, dim in enumerate(extra):
        out[dim] = int(np.clip(np.floor(coords[k] + 0.5), 0, array.shape[k] - 1))
    return out


def _to_grid(source, vertices, grid_layer) -> np.ndarray:
    """Vertices of ``source`` (its data coordinates) → (row, column) on ``grid_layer``'s spatial axes (pixels)."""
    out = []
    for v in np.asarray(vertices, dtype=float):
        world = np.asarray(source.data_to_world(v), dtype=float)
        out.append(np.asarray(grid_layer.world_to_data(world), dtype=float)[-2:])
    return np.asarray(out, dtype=float).reshape(-1, 2)


def shapes_to_labels(shapes, grid_layer, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, dict[int, str]]:
    """Rasterise the area shapes of a Shapes layer on a map layer's pixel grid (``Shapes.to_labels``).

    Parameters
    ----------
    shapes : napari.layers.Shapes
        Shapes drawn anywhere (world coordinates; any ndim, only the last two axes are used).
    grid_layer : napari.layers.Layer
        A layer on the map's pixel grid (e.g. a band or quick-look image).
    shape : (int, int), optional
        (ny, nx) of the label image; default the grid layer's spatial shape.

    Returns
    -------
    labels : numpy.ndarray
        int32 (ny, nx): 0 outside every shape, else ``k + 1`` for the shape at index ``k`` of the
        layer (later shapes on top where they overlap); lines and paths are left out.
    names : dict of int to str
        ``{k + 1: "shape <k + 1>"}`` for the area shapes.
    """
    from napari.layers import Shapes  # noqa: PLC0415

    ny, nx = shape if shape is not None else spatial_shape(grid_layer)
    index, data, types = [], [], []
    for k, (verts, kind) in enumerate(zip(shapes.data, shapes.shape_type, strict=True)):
        if kind in AREA_SHAPES:
            index.append(k)
            data.append(_to_grid(shapes, verts, grid_layer))
            types.append(kind)
    labels = np.zeros((ny, nx), dtype=np.int32)
    if not data:
        return labels, {}
    raster = np.asarray(Shapes(data, shape_type=types).to_labels(labels_shape=(ny, nx)))
    lut = np.asarray([0, *(k + 1 for k in index)], dtype=np.int32)  # temporary layer's ids → the source layer's
    labels = lut[raster]
    return labels, {k + 1: f"shape {k + 1}" for k in index}


def labels_on_grid(viewer, labels_layer, grid_layer) -> tuple[np.ndarray, dict[int, str]]:
    """A Labels layer's labels on a map layer's pixel grid (its current 2-D slice).

    Raises
    ------
    HyperspecError
        The labels layer's grid (last two axes, scale, translate) differs from the map layer's.
    """
    ny, nx = spatial_shape(grid_layer)
    data = labels_layer.data[0] if getattr(labels_layer, "multiscale", False) else labels_layer.data
    same = (
        tuple(data.shape[-2:]) == (ny, nx)
        and np.allclose(labels_layer.scale[-2:], grid_layer.scale[-2:])
        and np.allclose(labels_layer.translate[-2:], grid_layer.translate[-2:])
    )
    if not same:
        raise HyperspecError(
            f"the labels layer {labels_layer.name!r} ({data.shape[-2]}×{data.shape[-1]} pixels) is not on the map's grid "
            f"({ny}×{nx} pixels, same scale and translate): make the labels layer from the map layer (napari's 'new labels' "
            "button with the map selected) or draw the regions in a Shapes layer."
        )
    if data.ndim > 2:
        coords = np.asarray(labels_layer.world_to_data(np.asarray(viewer.dims.point, dtype=float)), dtype=float)
        lead = tuple(int(np.clip(np.floor(c + 0.5), 0, n - 1)) for c, n in zip(coords[:-2], data.shape[:-2], strict=True))
        data = data[lead]
    labels = np.asarray(data).astype(np.int64)
    ids = [int(v) for v in np.unique(labels) if v > 0]
    return labels, {v: f"label {v}" for v in ids}


def line_pixels(shapes, grid_layer) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """The lines of a Shapes layer as (index, start, end) in (row, column) pixels of a map layer.

    Parameters
    ----------
    shapes : napari.layers.Shapes
        Shapes in world coordinates; ``line`` shapes are profiles.
    grid_layer : napari.layers.Layer
        A layer on the map's pixel grid.

    Returns
    -------
    list of (int, numpy.ndarray, numpy.ndarray)
        Shape index in the layer, start and end (row, column) in the map's pixels (floats).
    """
    out = []
    for k, (verts, kind) in enumerate(zip(shapes.data, shapes.shape_type, strict=True)):
        if kind in LINE_SHAPES:
            px = _to_grid(shapes, verts, grid_layer)
            out.append((k, px[0], px[-1]))
    return out


def layer_image(viewer, layer) -> xr.DataArray:
    """The 2-D band map a layer shows now, as a DataArray on (y, x) with µm coordinates.

    A band layer gives its results variable (at the current step of its leading dims), so values,
    units and coordinates are the library's; any other image layer gives its current slice with
    ``y``/``x`` coordinates from the layer's scale and translate.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer.
    layer : napari.layers.Image
        A band or quick-look layer (or any 2-D image layer).

    Returns
    -------
    xarray.DataArray
        Dims ``("y", "x")``.
    """
    meta = _hs(layer) or {}
    results, name = meta.get("results"), meta.get("variable")
    if meta.get("role") == "band" and results is not None and isinstance(name, str) and name in results:
        var = results[name]
        return var.isel({d: k for d, k in current_index(viewer, layer).items() if d in var.dims}).transpose("y", "x")
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    if data.ndim > 2:
        coords = np.asarray(layer.world_to_data(np.asarray(viewer.dims.point, dtype=float)), dtype=float)
        lead = tuple(int(np.clip(np.floor(c + 0.5), 0, n - 1)) for c, n in zip(coords[:-2], data.shape[:-2], strict=True))
        data = data[lead]
    ny, nx = data.shape[-2:]
    (sy, sx), (ty, tx) = layer.scale[-2:], layer.translate[-2:]
    coords = {"y": ("y", ty + sy * np.arange(ny), {"units": "um"}), "x": ("x", tx + sx * np.arange(nx), {"units": "um"})}
    return xr.DataArray(np.asarray(data), dims=("y", "x"), coords=coords, name=meta.get("variable") or layer.name)


class _LayerCombo(QComboBox):
    """A combo box of viewer layers (by name) that keeps its choice when the layer list changes."""

    def __init__(self, viewer, accept, prefer=None):
        super().__init__()
        self._viewer, self._accept, self._prefer = viewer, accept, prefer
        self.refresh()

    def layers(self) -> list:
        return [la for la in self._viewer.layers if self._accept(la)]

    def refresh(self) -> None:
        current = self.layer()
        layers = self.layers()
        self.blockSignals(True)
        self.clear()
        for la in layers:
            self.addItem(la.name, la)
        self.blockSignals(False)
        if current is not None and current in layers:
            self.setCurrentIndex(layers.index(current))
        elif layers:
            preferred = [la for la in layers if self._prefer is not None and self._prefer(la)]
            pick = preferred[-1] if preferred else layers[-1]
            self.setCurrentIndex(layers.index(pick))
            self.currentIndexChanged.emit(self.currentIndex())

    def layer(self):
        i = self.currentIndex()
        return self.itemData(i) if i >= 0 else None

    def set_layer(self, layer) -> None:
        self.refresh()
        layers = self.layers()
        if layer in layers:
            self.setCurrentIndex(layers.index(layer))


class _Wired(QWidget):
    """Base of the dock widgets: layer combos refreshed on layer-list changes, updates debounced."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self._watched = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.update_plots)
        self.auto_check = QCheckBox("Auto update")
        self.auto_check.setChecked(True)
        self.auto_check.setToolTip("Update while drawing, painting or moving the dims slider")
        self.update_button = QPushButton("Update")
        self.update_button.clicked.connect(self.update_plots)

    def _connect(self, combos) -> None:
        ref = weakref.ref(self)
        viewer = self.viewer

        def on_layers(event=None):
            widget = ref()
            if widget is None:
                return
            for combo in combos:
                combo.refresh()
            widget._watch()

        def on_dims(event=None):
            widget = ref()
            if widget is not None and widget.auto_check.isChecked():
                widget._timer.start()

        self._callbacks = (on_layers, on_dims)
        viewer.layers.events.inserted.connect(on_layers)
        viewer.layers.events.removed.connect(on_layers)
        viewer.dims.events.current_step.connect(on_dims)

    def _source_layer(self):  # the layer whose edits trigger an update
        return None

    def _watch(self) -> None:
        """Follow the data events of the current regions/lines layer."""
        layer = self._source_layer()
        if layer is self._watched:
            return
        ref = weakref.ref(self)

        def on_change(event=None):
            widget = ref()
            if widget is not None and widget.auto_check.isChecked():
                widget._timer.start()

        if self._watched is not None:
            for name in ("data", "paint", "set_data"):
                emitter = getattr(self._watched.events, name, None)
                if emitter is not None:
                    emitter.disconnect(self._on_change)
        self._watched, self._on_change = layer, on_change
        if layer is not None:
            for name in ("data", "paint", "set_data"):
                emitter = getattr(layer.events, name, None)
                if emitter is not None:
                    emitter.connect(on_change)

    def update_plots(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class RegionsWidget(_Wired):
    """Dock widget: mean spectrum of each region and a table of the results' statistics per region.

    Regions are the area shapes (rectangle, ellipse, polygon) of a Shapes layer, or the labels (> 0)
    of a Labels layer on the map's grid. Kinetic and series maps use the viewer's current dims step.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (injected by napari).

    Attributes
    ----------
    spectra_panel : PlotPanel
        One curve per region (its name: ``shape <n>`` or ``label <n>``): the mean spectrum in counts
        against the map's Raman shift (cm⁻¹; else wavelength or energy).
    table : QTableWidget
        The rows of :attr:`table_frame`.
    table_frame : pandas.DataFrame or None
        ``hyperspec.spatial.region_table`` of the shown regions (name, variable, units, n, mean, std,
        median, …), what "Table CSV…" writes.
    labels : numpy.ndarray or None
        The (y, x) region labels used last (0: no region).
    """

    COLUMNS = ("name", "variable", "units", "n", "mean", "std", "median")

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        self.labels = None
        self.region_names: dict[int, str] = {}
        self.spectra = None
        self.table_frame = None
        self.grid_combo = _LayerCombo(napari_viewer, lambda la: (_hs(la) or {}).get("role") in GRID_ROLES)
        self.regions_combo = _LayerCombo(napari_viewer, lambda la: _is_shapes(la) or _is_labels(la), prefer=lambda la: _hs(la) is None)
        self.converged_check = QCheckBox("Converged pixels only")
        self.converged_check.setChecked(True)
        self.converged_check.setToolTip("Table statistics over pixels whose fit status is 0 (converged)")
        self.all_check = QCheckBox("All variables")
        self.all_check.setToolTip("Tabulate every per-pixel results variable (default: the main band quantities)")
        self.spectra_panel = PlotPanel(title="Region mean spectra", height=220)
        self.spectra_panel.set_labels(y="Mean intensity (counts)")
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table_csv_button = QPushButton("Table CSV…")
        self.table_csv_button.setToolTip("Save the region statistics table as CSV")
        self.table_csv_button.clicked.connect(self._on_table_csv)

        form = QFormLayout()
        form.addRow("Map / results", self.grid_combo)
        form.addRow("Regions (shapes or labels)", self.regions_combo)
        options = QHBoxLayout()
        for w in (self.converged_check, self.all_check, self.auto_check):
            options.addWidget(w)
        options.addStretch(1)
        options.addWidget(self.update_button)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.table_csv_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(form)
        layout.addLayout(options)
        layout.addWidget(self.spectra_panel, 3)
        layout.addWidget(self.table, 2)
        layout.addLayout(buttons)

        for combo in (self.grid_combo, self.regions_combo):
            combo.currentIndexChanged.connect(lambda _: (self._watch(), self._timer.start()))
        self.converged_check.toggled.connect(lambda _: self.update_plots())
        self.all_check.toggled.connect(lambda _: self.update_plots())
        self._connect((self.grid_combo, self.regions_combo))
        self._watch()

    def _source_layer(self):
        return self.regions_combo.layer()

    # ------------------------------------------------------------------ computing
    def region_labels(self) -> tuple[np.ndarray, dict[int, str]] | None:
        """The current regions on the map grid: (labels (y, x), names), or None without a grid or regions layer."""
        grid, regions = self.grid_combo.layer(), self.regions_combo.layer()
        if grid is None or regions is None:
            return None
        if _is_shapes(regions):
            return shapes_to_labels(regions, grid)
        return labels_on_grid(self.viewer, regions, grid)

    def _variables(self, results) -> list[str] | None:
        from napari_hyperspec._layers import main_variables  # noqa: PLC0415

        if self.all_check.isChecked():
            return None
        names = [n for n in main_variables(results) if n != "status"]
        return names or None

    def update_plots(self) -> None:
        """Recompute the region spectra and the table from the current layers."""
        self.spectra_panel.clear()
        self.table_frame, self.spectra, self.labels = None, None, None
        self._fill_table()
        grid = self.grid_combo.layer()
        if grid is None:
            self.message.setText("Open a hyperspec map or results store (File ▸ Open), then draw regions in a Shapes layer.")
            return
        if self.regions_combo.layer() is None:
            self.message.setText("Add a Shapes layer and draw rectangles or polygons (or a Labels layer and paint) to define regions.")
            return
        try:
            got = self.region_labels()
        except HyperspecError as err:
            self.message.setText(str(err))
            return
        labels, names = got
        if not names or not np.any(labels > 0):
            self.message.setText("No region on the map yet: draw a rectangle, ellipse or polygon over it (lines are profiles).")
            return
        self.labels, self.region_names = labels, names
        data, results = data_of(self.viewer, grid)
        index = current_index(self.viewer, grid)
        spatial = tuple((_hs(grid) or {}).get("spatial_dims") or ("y", "x"))
        lab = xr.DataArray(labels, dims=spatial)
        notes = []
        if data is not None:
            try:
                ds = data.isel({d: k for d, k in index.items() if d in data["spectra"].dims})
                self.spectra = region_spectra(ds, lab, names=names, background=0)
                self._plot_spectra(ds)
            except (HyperspecError, ValueError) as err:
                notes.append(f"spectra: {err}")
        else:
            notes.append("no map for these layers: region spectra need the map (open it too).")
        if results is not None:
            try:
                res = results.isel({d: k for d, k in index.items() if d in results.dims})
                self.table_frame = region_table(
                    res, lab, variables=self._variables(res), names=names, background=0, converged_only=self.converged_check.isChecked()
                )
            except (HyperspecError, ValueError) as err:
                notes.append(f"table: {err}")
            self._fill_table()
        else:
            notes.append("no results for this map: the statistics table needs a results store.")
        where = ", ".join(f"{d} = {k}" for d, k in index.items())
        self.message.setText("; ".join(notes) or (f"{len(names)} regions" + (f" at {where}" if where else "")))

    def _plot_spectra(self, ds) -> None:
        axis = next(((c, label) for c, label in SPECTRAL_AXES if c in ds.coords), (None, "Channel"))
        x = np.asarray(ds[axis[0]].values, dtype=float) if axis[0] else np.arange(self.spectra.sizes["spectral"], dtype=float)
        self.spectra_panel.set_labels(x=axis[1])
        for k, (value, name) in enumerate(zip(self.spectra["region"].values, self.spectra.attrs["names"], strict=True)):
            self.spectra_panel.plot(x, self.spectra.sel(region=value).values, name=name, color=k)

    def _fill_table(self) -> None:
        frame = self.table_frame
        rows = 0 if frame is None else len(frame)
        self.table.setRowCount(rows)
        for r in range(rows):
            for c, col in enumerate(self.COLUMNS):
                value = frame[col].iloc[r]
                text = f"{value:.6g}" if isinstance(value, float) else str(value)
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()

    # ------------------------------------------------------------------ export
    def export_table_csv(self, path) -> Path:
        """Write :attr:`table_frame` (every column, full precision) as CSV.

        Parameters
        ----------
        path : str or os.PathLike
            Output file.

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        HyperspecError
            There is no table yet (no regions or no results).
        """
        if self.table_frame is None:
            raise HyperspecError("no region table yet: draw regions over a map with results, then export.")
        path = Path(path)
        self.table_frame.to_csv(path, index=False, float_format="%.17g", na_rep="nan")
        return path

    def _on_table_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save region statistics as CSV", "", "CSV (*.csv)")
        if path:
            try:
                self.message.setText(f"saved {self.export_table_csv(path).name}")
            except HyperspecError as err:
                self.message.setText(str(err))


class LineProfileWidget(_Wired):
    """Dock widget: the profile of a band map along each line of a Shapes layer, distance in µm.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (injected by napari).

    Attributes
    ----------
    profile_panel : PlotPanel
        One curve per line (``line <n>``, n the shape's index + 1): ``hyperspec.spatial.line_profile``
        of the chosen band map, against the distance along the line (µm).
    profiles : dict of str to xarray.DataArray
        The profiles plotted, by curve name.
    """

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
        self.profiles: dict[str, xr.DataArray] = {}
        self.band_combo = _LayerCombo(
            napari_viewer,
            lambda la: (_hs(la) or {}).get("role") in PROFILE_ROLES,
            prefer=lambda la: getattr(la, "visible", False) and (_hs(la) or {}).get("role") == "band",
        )
        self.lines_combo = _LayerCombo(napari_viewer, _is_shapes, prefer=lambda la: any(t in LINE_SHAPES for t in la.shape_type))
        self.width_spin = QSpinBox()
        self.width_spin.setRange(1, 99)
        self.width_spin.setValue(1)
        self.width_spin.setSuffix(" px")
        self.width_spin.setToolTip("Pixels across the line that are averaged")
        self.profile_panel = PlotPanel(title="Line profile", height=220)
        self.profile_panel.set_labels(x="Distance (µm)")

        form = QFormLayout()
        form.addRow("Band map", self.band_combo)
        form.addRow("Lines (shapes)", self.lines_combo)
        form.addRow("Width", self.width_spin)
        options = QHBoxLayout()
        options.addWidget(self.auto_check)
        options.addStretch(1)
        options.addWidget(self.update_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(form)
        layout.addLayout(options)
        layout.addWidget(self.profile_panel, 1)

        for combo in (self.band_combo, self.lines_combo):
            combo.currentIndexChanged.connect(lambda _: (self._watch(), self._timer.start()))
        self.width_spin.valueChanged.connect(lambda _: self._timer.start())
        self._connect((self.band_combo, self.lines_combo))
        self._watch()

    def _source_layer(self):
        return self.lines_combo.layer()

    def _status(self, band, image):
        """The results' status at the current dims step on the band map's grid (bad pixels are in-painted), or None."""
        _, results = data_of(self.viewer, band)
        if results is None or "status" not in results.data_vars:
            return None
        status = results["status"]
        index = current_index(self.viewer, band)
        status = status.isel({d: k for d, k in index.items() if d in status.dims})
        return status.compute() if set(status.dims) <= set(image.dims) else None

    def update_plots(self) -> None:
        """Recompute and plot the profiles of the chosen band map along every line (pixels without a usable fit in-painted)."""
        self.profile_panel.clear()
        self.profiles = {}
        band, lines = self.band_combo.layer(), self.lines_combo.layer()
        if band is None:
            self.message.setText("Open a hyperspec results or map store: profiles follow its band maps.")
            return
        found = line_pixels(lines, band) if lines is not None else []
        if not found:
            self.message.setText("Add a Shapes layer and draw a line (the line tool) across the map.")
            return
        image = layer_image(self.viewer, band)
        units = str(image.attrs.get("units", "") or "")
        from napari_hyperspec._layers import layer_name  # noqa: PLC0415

        self.profile_panel.set_labels(y=layer_name(str(image.name), units))
        status = self._status(band, image)
        for k, (index, start, end) in enumerate(found):
            prof = line_profile(image, tuple(start), tuple(end), width=self.width_spin.value(), status=status)
            name = f"line {index + 1}"
            self.profiles[name] = prof
            self.profile_panel.plot(prof["distance"].values, prof.values, name=name, color=k)
        dist_units = found and self.profiles[f"line {found[0][0] + 1}"]["distance"].attrs.get("units", "pixel")
        self.profile_panel.set_labels(x="Distance (µm)" if dist_units == "um" else "Distance (pixels)")
        self.message.setText(f"{len(found)} line(s) across {band.name}")
