"""The spectrum inspector: the spectrum under the cursor with its fitted model, components and residual.

A dock widget (npe2 ``widgets`` contribution "Spectrum inspector"). It finds the map and the results
through ``layer.metadata["hyperspec"]`` (never layer names), maps the cursor to a pixel with
``layer.world_to_data``, and shows

- the measured spectrum of that pixel (``map["spectra"].isel(y=i, x=j)``: one chunk of the lazy map),
- the fitted model, one curve per model term and the residual, all from
  ``hyperspec.fit.decompose.fitted_components``,
- a table of the pixel's fitted parameters with their standard errors (``<name>_stderr``), χ²_red,
  the iteration count and the status name,

on a spectral axis switchable between Raman shift (cm⁻¹), wavelength (nm) and energy (eV)
(``hyperspec.axes.convert_axis``). Hovering updates it (throttled); a click pins the pixel: pinned
pixels stay overlaid, each in its own colour, are listed (removable) and drawn as a napari Points
layer. Kinetic and series results use the viewer's current dims step for their leading dims.

No numerics here: the model, components, residual and axis conversions all come from hyperspec.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import xarray as xr
from qtpy.QtCore import QObject, Qt, QTimer, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from hyperspec import HyperspecError
from hyperspec.axes import convert_axis
from hyperspec.fit.decompose import fitted_components
from napari_hyperspec._layers import _eager_view
from napari_hyperspec._plots import PlotPanel
from napari_hyperspec._status import status_names

__all__ = ["SpectrumInspector", "AXIS_UNITS", "PIN_COLORS"]

#: spectral-axis choices: unit name for ``convert_axis`` → axis label
AXIS_UNITS = {
    "cm-1": "Raman shift (cm⁻¹)",
    "nm": "Wavelength (nm)",
    "eV": "Energy (eV)",
}
#: colours of pinned pixels, in pinning order (cycled)
PIN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
#: the map's own spectral coordinates, in the order they are preferred, with their units
_NATIVE_AXES = (("shift", "cm-1"), ("wavelength", "nm"), ("energy", "eV"))
#: per-pixel results variables shown in the table's first rows (not as parameters)
_FIT_QUALITY = ("status", "chi2_red", "n_iter")
#: hover updates at most this often (ms)
THROTTLE_MS = 40
#: ms a hover waits for the pixel's spectrum before drawing what is in memory (the previous pixel's plot stays till then)
SLOW_READ_MS = 150
#: chunk blocks of the map and of the results kept in memory (each: one chunk of every variable)
BLOCKS_KEPT = 6
PINS_METADATA_KEY = "hyperspec_inspector_pins"


@dataclass
class _Source:
    """What the inspector reads: the reference layer (cursor → pixel), the map and the results."""

    layer: object
    map: object = None
    results: object = None
    spatial_dims: tuple = ("y", "x")
    extra_dims: tuple = ()
    note: str = ""
    dims: tuple = ()  # every axis of the reference layer (N1's metadata), e.g. ("spectral", "t", "y", "x")
    blocks: OrderedDict = field(default_factory=OrderedDict)  # results chunk blocks read so far
    map_blocks: OrderedDict = field(default_factory=OrderedDict)  # map chunks read so far
    map_pixels: OrderedDict = field(default_factory=OrderedDict)  # single spectra read before their chunk (hover)
    fits: OrderedDict = field(default_factory=OrderedDict)  # evaluated pixels (LRU)
    eager: dict = field(default_factory=dict)  # "map" / "results" -> the store opened without Dask (or None)

    def eager_view(self, which: str):
        """The map's or the results' store opened without Dask (``_layers._eager_view``; None when not a store)."""
        if which not in self.eager:
            self.eager[which] = _eager_view(getattr(self, which))
        return self.eager[which]


@dataclass
class _Pin:
    spatial: dict  # {"y": i, "x": j}
    world: tuple  # the pixel centre in world coordinates (spatial axes)
    color: str
    label: str


def _grid_var(results, spatial_dims=("y", "x")):
    """The results variable that defines the per-pixel grid: ``status``, else the first on the spatial dims."""
    if "status" in results:
        return results["status"]
    return next((results[v] for v in results.data_vars if set(spatial_dims) <= set(results[v].dims)), None)


class _Signals(QObject):
    """Signals from the reading thread to the widget (queued into the GUI thread)."""

    read = Signal(object)
    failed = Signal(str)


def _hs(layer) -> dict | None:
    meta = getattr(layer, "metadata", None)
    hs = meta.get("hyperspec") if isinstance(meta, dict) else None
    return hs if isinstance(hs, dict) else None


class SpectrumInspector(QWidget):
    """Dock widget: spectrum, fitted model, components and residual at the cursor or pinned pixels.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (injected by napari).

    Attributes
    ----------
    spectrum_panel, residual_panel : PlotPanel
        The two plots (curves of the cursor pixel: ``data``, ``model``, one per model term; pinned
        pixels: ``P<n> data``, ``P<n> model``; residuals: ``residual``, ``P<n> residual``).
    table : QTableWidget
        The parameters of the shown pixel (quantity, value, standard error, unit).
    last_update_ms : float
        Wall time of the last update (read, evaluation and plotting), ms.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        # napari hands plugins a PublicOnlyProxy of the viewer, whose layers and metadata come back as
        # new proxies at each access: the inspector needs the layers' identity and the plain lazy
        # Datasets of their metadata (caches, one-chunk reads), so it keeps the viewer itself. Only
        # public napari API is used through it.
        self.viewer = getattr(napari_viewer, "__wrapped__", napari_viewer)
        self.pins: list[_Pin] = []
        self.current: dict | None = None  # the hovered pixel's full index, or None
        self.table_values: dict[str, tuple] = {}  # quantity → (value, stderr or None, unit)
        self.last_update_ms = float("nan")
        self._source: _Source | None = None
        self._pending = None
        self._pins_layer = None
        self._n_pinned = 0
        self._table_source = None
        self._table_sized = False
        self.shown = None  # the index drawn for the cursor pixel (None while it is being read)

        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.axis_combo = QComboBox()
        for unit, label in AXIS_UNITS.items():
            self.axis_combo.addItem(label, unit)
        self.axis_combo.setToolTip("Spectral axis of the plots (intensities are not rescaled)")
        self.hover_check = QCheckBox("Follow cursor")
        self.hover_check.setChecked(True)
        self.pin_check = QCheckBox("Click pins")
        self.pin_check.setChecked(True)
        self.pin_check.setToolTip("A click (without dragging) on the map pins that pixel")
        self.components_check = QCheckBox("Components")
        self.components_check.setChecked(True)
        self.residual_check = QCheckBox("Residual")
        self.residual_check.setChecked(True)

        self.spectrum_panel = PlotPanel(title="Spectrum", height=220)
        self.residual_panel = PlotPanel(title="Residual", height=110)
        self.spectrum_panel.set_labels(y="Intensity (counts)")
        self.residual_panel.set_labels(y="Data − model (counts)")
        self.residual_panel.plot_widget.setXLink(self.spectrum_panel.plot_widget)
        for panel in (self.spectrum_panel, self.residual_panel):  # a compact legend that lets the curves show through
            panel.legend.setColumnCount(2)
            panel.legend.setBrush(pg.mkBrush(255, 255, 255, 170))

        self.pin_list = QListWidget()
        self.pin_list.setMaximumHeight(80)
        self.pin_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.remove_button = QPushButton("Remove pin")
        self.clear_button = QPushButton("Clear pins")
        self.table_csv_button = QPushButton("Table CSV…")
        self.table_csv_button.setToolTip("Save the parameter table of the shown pixel as CSV")
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["quantity", "value", "± stderr", "unit"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.timing = QLabel("")

        options = QHBoxLayout()
        options.addWidget(QLabel("Axis"))
        options.addWidget(self.axis_combo)
        for box in (self.hover_check, self.pin_check, self.components_check, self.residual_check):
            options.addWidget(box)
        options.addStretch(1)
        pins = QHBoxLayout()
        pins.addWidget(self.pin_list, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.table_csv_button)
        buttons.addStretch(1)
        pins.addLayout(buttons)
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.spectrum_panel)
        plots.addWidget(self.residual_panel)
        plots.addWidget(self.table)
        plots.setStretchFactor(0, 3)
        plots.setStretchFactor(1, 1)
        plots.setStretchFactor(2, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(options)
        layout.addWidget(plots, 1)
        layout.addLayout(pins)
        layout.addWidget(self.timing)

        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hyperspec-inspector")
        # neighbours are read ahead on a thread of their own: a block being prefetched (~200 ms of 110 zarr reads on a
        # 1000x1000 store) must not delay the read of the pixel the cursor is on now
        self._prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hyperspec-inspector-prefetch")
        # and the hovered spectrum (one inner chunk, ~5 ms) on a thread of its own: it must not queue behind the
        # previous pixel's results block (~120-220 ms), which the cursor has left
        self._spectra = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hyperspec-inspector-spectrum")
        self._job = None
        self._wanted = None
        self._signals = _Signals()
        self._signals.read.connect(self._on_read)
        self._signals.failed.connect(self._on_read_failed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(THROTTLE_MS)
        self._timer.timeout.connect(self._on_timer)
        self._slow_read = QTimer(self)  # a hovered pixel whose spectrum is not read by then is drawn as it is
        self._slow_read.setSingleShot(True)
        self._slow_read.setInterval(SLOW_READ_MS)
        self._slow_read.timeout.connect(self._on_slow_read)
        self.axis_combo.currentIndexChanged.connect(lambda _: self.redraw())
        self.components_check.toggled.connect(lambda _: self.redraw())
        self.residual_check.toggled.connect(self._on_residual_toggled)
        self.hover_check.toggled.connect(self._on_hover_toggled)
        self.remove_button.clicked.connect(self._remove_selected_pins)
        self.clear_button.clicked.connect(self.clear_pins)
        self.table_csv_button.clicked.connect(self._on_table_csv)
        self._connect_viewer()
        self._reset_source()

    # ------------------------------------------------------------------ viewer wiring
    def _connect_viewer(self) -> None:
        ref = weakref.ref(self)
        viewer = self.viewer

        def on_move(_viewer, event):
            widget = ref()
            if widget is None:
                viewer.mouse_move_callbacks.remove(on_move)
                return
            widget._on_mouse_move(event)

        def on_drag(_viewer, event):
            widget = ref()
            if widget is None:
                viewer.mouse_drag_callbacks.remove(on_drag)
                return
            if event.type != "mouse_press" or event.button != 1 or not widget.pin_check.isChecked():
                return
            press = np.asarray(event.position, dtype=float)
            dragged = False
            yield
            while event.type == "mouse_move":
                dragged = True
                yield
            widget = ref()
            if widget is not None and not dragged:
                widget.pin(press)

        def on_layers(event=None):
            widget = ref()
            if widget is not None:
                widget._reset_source()

        def on_dims(event=None):
            widget = ref()
            if widget is not None and widget._source is not None and widget._source.extra_dims:
                widget.refresh()

        self._callbacks = (on_move, on_drag, on_layers, on_dims)
        viewer.mouse_move_callbacks.append(on_move)
        viewer.mouse_drag_callbacks.append(on_drag)
        viewer.layers.events.inserted.connect(on_layers)
        viewer.layers.events.removed.connect(on_layers)
        viewer.layers.selection.events.active.connect(on_layers)
        viewer.dims.events.current_step.connect(on_dims)

    def _on_mouse_move(self, event) -> None:
        if not self.hover_check.isChecked():
            return
        self._pending = np.asarray(event.position, dtype=float)
        if not self._timer.isActive():
            self._timer.start()

    def _on_timer(self) -> None:
        """Hover: draw what is in memory now, read the missing chunk blocks in a worker thread."""
        if self._pending is None:
            return
        index = self.pixel_at(self._pending)
        if index == self.current and (index is None or self.shown == index):
            return
        self.current = index
        src = self._source
        if index is not None and src is not None and not self._is_read(src, index):
            self._wanted = (src, index)
            if self._job is None or self._job.done():
                self._job = self._executor.submit(self._read_job)
            if src.map is None or self._map_pixel(src, index, read=False) is None:
                # the spectrum comes in a few ms (one inner chunk of a sharded store): draw it then, not an empty
                # plot now (a repaint costs 20-60 ms under software OpenGL); show what is there if the read is slow
                if src.map is not None:
                    self._spectra.submit(self._spectrum_job, self._wanted)
                self._slow_read.start()
                return
        self._draw(partial=True)

    def _read_job(self) -> None:
        """Worker thread: read the chunk blocks of the latest hovered pixel (no Qt calls but the signal)."""
        while True:
            src, index = wanted = self._wanted
            try:
                if src.results is not None:  # a map alone: nothing to read here (the spectrum has a thread of its own)
                    self._results_pixel(src, index)
                    self._signals.read.emit(index)
            except (HyperspecError, KeyError, ValueError, IndexError, OSError) as exc:
                self._signals.failed.emit(f"{type(exc).__name__}: {exc}")
            if self._wanted is wanted:  # a source has a map or results (or both): something to read ahead
                self._prefetcher.submit(self._prefetch, src, index, wanted)
                return

    def _spectrum_job(self, wanted) -> None:
        """Worker thread: read the hovered pixel's spectrum alone, unless the cursor has moved on."""
        if self._wanted is not wanted:
            return
        src, index = wanted
        try:
            if self._map_pixel(src, index, read=False) is None:
                self._map_spectrum(src, index)  # one inner chunk of a sharded store
            self._signals.read.emit(index)  # the spectrum can be drawn
        except (HyperspecError, KeyError, ValueError, IndexError, OSError) as exc:
            self._signals.failed.emit(f"{type(exc).__name__}: {exc}")

    def _prefetch(self, src: _Source, index: dict, wanted) -> None:
        """Worker thread: read the pixel's map block, then the results blocks next to it (the cursor is likely to go there)."""
        if src.map is not None and self._wanted is wanted:
            if self._map_block(src, index, read=False) is None:
                self._map_block(src, index)
                if self._wanted is wanted:
                    self._signals.read.emit(index)  # drawn from the block if it came before the spectrum alone
        if src.results is None:
            return
        grid = _grid_var(src.results, src.spatial_dims)
        if grid is None or grid.chunks is None:
            return
        for d, sizes in zip(grid.dims, grid.chunks, strict=True):
            if len(sizes) < 2 or d not in src.spatial_dims:
                continue
            step = int(max(sizes))
            for k in (index[d] + step, index[d] - step):
                if self._wanted is not wanted:  # the cursor moved on: read for it first
                    return
                if 0 <= k < grid.sizes[d]:
                    self._results_pixel(src, {**index, d: k})

    def _on_read(self, index) -> None:
        if index == self.current:
            self._slow_read.stop()
            self._draw(partial=True)

    def _on_slow_read(self) -> None:
        if self.current is not None and self.shown != self.current:
            self._draw(partial=True)

    def _on_read_failed(self, message: str) -> None:
        self._set_message(message)

    def _on_hover_toggled(self, on: bool) -> None:
        if not on:
            self.current = None
            self.redraw()

    def _on_residual_toggled(self, on: bool) -> None:
        self.residual_panel.setVisible(on)
        self.redraw()

    # ------------------------------------------------------------------ sources
    def _reset_source(self) -> None:
        """Find the map and results among the layers (``layer.metadata["hyperspec"]``)."""
        layers = [layer for layer in self.viewer.layers if _hs(layer) is not None]
        old = self._source
        if not layers:
            self._source = None
            self.current = None
            self._set_message("Open a hyperspec map or results store (File ▸ Open) to inspect spectra.")
            self.redraw()
            return
        active = self.viewer.layers.selection.active
        ref = active if active in layers else layers[-1]  # the selected hyperspec layer, else the topmost
        meta = _hs(ref)
        results = meta.get("results")
        if results is None:
            results = next((_hs(la)["results"] for la in reversed(layers) if _hs(la).get("results") is not None), None)
        data = meta.get("map")
        if data is None and results is not None:  # the map these results were loaded with
            data = next(
                (_hs(la)["map"] for la in reversed(layers) if _hs(la).get("results") is results and _hs(la).get("map") is not None), None
            )
        if data is None:
            data = next((_hs(la)["map"] for la in reversed(layers) if _hs(la).get("map") is not None), None)
        spatial = tuple(meta.get("spatial_dims") or ("y", "x"))
        extra = tuple(meta.get("extra_dims") or ())
        dims = tuple(meta.get("dims") or ())
        note = ""
        if data is not None and results is not None:
            ref_var = _grid_var(results, spatial)
            grid = dict(ref_var.sizes) if ref_var is not None else {}
            sizes = dict(data["spectra"].sizes)
            clash = {d: (n, sizes[d]) for d, n in grid.items() if d in sizes and sizes[d] != n}
            if clash:
                note = (
                    "the results' grid does not match the map's ("
                    + ", ".join(f"{d}: {a} vs {b}" for d, (a, b) in clash.items())
                    + "): showing the spectrum only."
                )
                results = None
        if data is None and results is not None:
            note = (
                "The map of these results was not found: showing the fitted parameters only (open the map to see the spectrum and model)."
            )
        elif data is not None and results is None and not note:
            note = "No results for this map: showing the measured spectrum only."
        elif results is not None and "model" not in results.attrs:
            note = "These results hold no fitted model: showing the spectrum and the per-pixel values only."
        if old is not None and old.map is data and old.results is results:  # same data: keep the caches
            old.layer, old.spatial_dims, old.extra_dims, old.dims, old.note = ref, spatial, extra, dims, note
            return
        self._source = _Source(ref, data, results, spatial, extra, note, dims)
        self._set_message(note)
        self.refresh()

    def _set_message(self, text: str) -> None:
        self.message.setText(text)

    # ------------------------------------------------------------------ cursor → pixel
    def _position(self, position=None) -> np.ndarray:
        """World position (default: the cursor) with the non-displayed axes at the current dims point."""
        dims = self.viewer.dims
        point = np.asarray(dims.point, dtype=float)
        pos = np.array(self.viewer.cursor.position if position is None else position, dtype=float)
        if pos.size == point.size:
            hidden = [ax for ax in range(point.size) if ax not in dims.displayed]
            pos[hidden] = point[hidden]
        return pos

    def pixel_at(self, position=None) -> dict | None:
        """The pixel index under a world position (default: the cursor), or None outside the map.

        Parameters
        ----------
        position : sequence of float, optional
            World coordinates (µm for the spatial axes) of the viewer's dims; non-displayed axes
            take the viewer's current dims point.

        Returns
        -------
        dict or None
            ``{"y": i, "x": j}`` plus the leading dims (e.g. ``"t"``) of the reference layer.
        """
        active = self.viewer.layers.selection.active
        if self._source is not None and active is not self._source.layer and _hs(active) is not None:
            self._reset_source()  # the selection changed without (or before) its event
        src = self._source
        if src is None:
            return None
        layer = src.layer
        coords = np.asarray(layer.world_to_data(self._position(position)), dtype=float)
        array = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
        shape = array.shape[:-1] if getattr(layer, "rgb", False) else array.shape
        names = self._axis_names(len(coords))
        index = {}
        for name, c, n in zip(names, coords, shape, strict=False):
            if name is None or name == "spectral":
                continue
            k = int(np.floor(c + 0.5))
            if not 0 <= k < n:
                return None
            index[name] = k
        return index if all(d in index for d in src.spatial_dims) else None

    def _axis_names(self, ndim: int) -> list:
        """The dim name of each axis of the reference layer (``metadata["hyperspec"]["dims"]``, else
        ``(*extra_dims, *spatial_dims)`` with unnamed axes in between)."""
        src = self._source
        if src.dims and len(src.dims) == ndim:
            return list(src.dims)
        n_free = max(0, ndim - len(src.extra_dims) - len(src.spatial_dims))
        return (list(src.extra_dims) + [None] * n_free + list(src.spatial_dims))[-ndim:]

    def _full_index(self, spatial: dict) -> dict:
        """A pinned pixel's index with the leading dims at the viewer's current dims step."""
        here = self.pixel_at(self._world_of(spatial)) if self._source is not None else None
        out = {d: here[d] for d in (self._source.extra_dims if self._source else ()) if here and d in here}
        out.update(spatial)
        return out

    def _world_of(self, spatial: dict) -> np.ndarray:
        """World position (all viewer dims) of a pixel centre, other dims at the current dims point."""
        src = self._source
        layer = src.layer
        data_pos = np.asarray(layer.world_to_data(self._position(np.asarray(self.viewer.dims.point, dtype=float))), dtype=float)
        for k, name in enumerate(self._axis_names(len(data_pos))):
            if name in spatial:
                data_pos[k] = spatial[name]
        world_layer = np.asarray(layer.data_to_world(data_pos), dtype=float)
        point = np.asarray(self.viewer.dims.point, dtype=float)
        if point.size < world_layer.size:  # the viewer's dims are not updated yet (layer being inserted)
            return world_layer
        point[point.size - world_layer.size :] = world_layer
        return point

    # ------------------------------------------------------------------ reading and evaluating
    def _cached_block(self, src: _Source, cache: OrderedDict, var, index: dict, load, read: bool):
        """The pixel ``index`` of the in-memory chunk block of ``var`` that holds it (read once, LRU).

        ``load(slices)`` reads a block; with ``read=False`` a block not read yet gives None.
        """
        sel = {d: index[d] for d in var.dims if d != "spectral"}
        chunks = var.chunks
        if chunks is None:  # in memory already
            return load(sel)
        key, slices, local = [], {}, {}
        for d, sizes in zip(var.dims, chunks, strict=True):
            if d == "spectral":
                continue
            edges = np.cumsum((0, *sizes))
            b = int(np.searchsorted(edges, sel[d], side="right") - 1)
            key.append(b)
            slices[d] = slice(int(edges[b]), int(edges[b + 1]))
            local[d] = sel[d] - int(edges[b])
        key = tuple(key)
        with self._lock:
            block = cache.get(key)
            if block is not None:
                cache.move_to_end(key)
        if block is None:
            if not read:
                return None
            block = load(slices)
            with self._lock:
                cache[key] = block
                while len(cache) > BLOCKS_KEPT:
                    cache.popitem(last=False)
        return block.isel(local)

    def _block(self, src: _Source, which: str, names: list, slices: dict):
        """A block of the map's or the results' variables ``names`` in memory, read straight through zarr when possible.

        Reading through Dask costs a task graph per variable: 220 ms for the 110 results variables of a
        32×1000-pixel block against 125 ms straight through zarr (the same store opened without Dask),
        a 64×64×1024 map chunk 85 against 50 ms (1000×1000×1024 store, 2 cores). On any trouble there
        (a damaged chunk, a Dataset not backed by a store) the block is read through the lazy Dataset,
        whose errors name the store, the array and the chunk.
        """
        ds = getattr(src, which)
        eager = src.eager_view(which)
        if eager is not None:
            try:
                coords = ds[names].coords.to_dataset().isel({d: s for d, s in slices.items() if d in ds.dims}).load()
                out = {}
                for n in names:
                    values = np.asarray(eager[n].isel(slices).transpose(*ds[n].dims).values)
                    if values.shape != tuple(coords.sizes.get(d, ds.sizes[d]) for d in ds[n].dims):
                        raise ValueError(n)
                    out[n] = (ds[n].dims, values, ds[n].attrs)
                return xr.Dataset(out, coords=coords.coords, attrs=ds.attrs)
            except Exception:  # noqa: BLE001 - the lazy read below says what is wrong
                pass
        return ds[names].isel(slices).compute()

    def _map_block(self, src: _Source, index: dict, read: bool = True):
        """The map at one pixel from its chunk block in memory: one chunk of the lazy map is read (and kept) per block."""
        data = src.map
        return self._cached_block(src, src.map_blocks, data["spectra"], index, lambda sl: self._block(src, "map", ["spectra"], sl), read)

    def _map_pixel(self, src: _Source, index: dict, read: bool = True):
        """The map at one pixel, in memory: from its chunk block, else from a spectrum read alone, else (``read``) the block."""
        got = self._map_block(src, index, read=False)
        if got is not None:
            return got
        key = tuple(sorted((d, index[d]) for d in src.map["spectra"].dims if d != "spectral"))
        with self._lock:
            got = src.map_pixels.get(key)
        if got is not None or not read:
            return got
        return self._map_block(src, index)

    def _map_spectrum(self, src: _Source, index: dict):
        """Read the spectrum at one pixel alone (kept until its block is read): a hover draws it before the chunk is in.

        On a sharded store (hyperspec's default) that is one inner chunk of 16×16 spectra, not the whole 64×64 chunk.
        """
        var = src.map["spectra"]
        sel = {d: index[d] for d in var.dims if d != "spectral"}
        one = self._block(src, "map", ["spectra"], {d: slice(i, i + 1) for d, i in sel.items()}).isel({d: 0 for d in sel})
        key = tuple(sorted(sel.items()))
        with self._lock:
            src.map_pixels[key] = one
            while len(src.map_pixels) > 64:
                src.map_pixels.popitem(last=False)
        return one

    def _results_pixel(self, src: _Source, index: dict, read: bool = True):
        """The results at one pixel, in memory: every per-pixel variable's chunk block is read once."""
        res = src.results
        grid = _grid_var(res, src.spatial_dims)
        names = [v for v in res.data_vars if res[v].dims == grid.dims]
        return self._cached_block(src, src.blocks, grid, index, lambda sl: self._block(src, "results", names, sl), read)

    def _is_read(self, src: _Source, index: dict) -> bool:
        """Whether the map and results blocks of a pixel are in memory."""
        return (src.map is None or self._map_pixel(src, index, read=False) is not None) and (
            src.results is None or self._results_pixel(src, index, read=False) is not None
        )

    def _evaluate(self, index: dict, partial: bool = False) -> dict | None:
        """Curves (native axis) and table values at a pixel; cached.

        With ``partial``, nothing is read: what is in memory is shown (the measured spectrum while
        the results block is still being read; None when nothing is there yet).
        """
        src = self._source
        key = tuple(sorted(index.items()))
        if key in src.fits:
            src.fits.move_to_end(key)
            return src.fits[key]
        data, res = src.map, src.results
        res_px = self._results_pixel(src, index, read=not partial) if res is not None else None
        data_px = self._map_pixel(src, index, read=not partial) if data is not None else None
        complete = (res is None or res_px is not None) and (data is None or data_px is not None)
        if not complete and data_px is None:
            return None
        out = {"index": index, "curves": {}, "values": {}, "terms": []}
        if data_px is not None:
            native = next(((c, u) for c, u in _NATIVE_AXES if c in data.coords), None)
            out["native"] = native
            out["laser_nm"] = data.attrs.get("laser_nm", res.attrs.get("laser_nm") if res is not None else None)
            if res_px is not None and "model" in res.attrs and native is not None and native[0] == "shift":
                comps = fitted_components(res_px, data_px)
                out["x"] = np.asarray(comps["shift"].values, dtype=float)
                out["terms"] = [t for t in json.loads(res.attrs["model"])["terms"] if t in comps]
                for name in ("data", "model", *out["terms"], "residual"):
                    out["curves"][name] = np.asarray(comps[name].values, dtype=float)
            else:
                out["x"] = np.asarray(data[native[0]].values, dtype=float) if native else np.arange(data.sizes["spectral"], dtype=float)
                out["curves"]["data"] = np.asarray(data_px["spectra"].values, dtype=float)
        if res_px is not None:
            out["values"] = self._table_values(res_px)
        if complete:
            src.fits[key] = out
            while len(src.fits) > 64:
                src.fits.popitem(last=False)
        return out

    def _table_values(self, res_px) -> dict:
        """quantity → (value, stderr, unit), fit quality first, then the terms' values in model order."""
        values = {}
        names = status_names(self._source.results)
        if "status" in res_px:
            code = int(res_px["status"].values)
            values["status"] = (names.get(code, f"code {code}"), None, "")
        for q in ("chi2_red", "n_iter"):
            if q in res_px:
                values[q] = (float(res_px[q].values), None, res_px[q].attrs.get("units", ""))
        terms = list(json.loads(self._source.results.attrs["model"])["terms"]) if "model" in self._source.results.attrs else []
        params = [v for v in res_px.data_vars if v not in _FIT_QUALITY and not v.endswith("_stderr") and res_px[v].ndim == 0]

        def order(v):
            owners = [k for k, t in enumerate(terms) if v.startswith(t + "_")]
            k = max(owners, key=lambda k: len(terms[k])) if owners else len(terms)
            return (k, not v.endswith("_area"), v)

        for v in sorted(params, key=order):
            err = res_px[v + "_stderr"] if v + "_stderr" in res_px else None
            values[v] = (
                float(res_px[v].values),
                float(err.values) if err is not None else None,
                res_px[v].attrs.get("units", ""),
            )
        return values

    # ------------------------------------------------------------------ public actions
    @property
    def axis_unit(self) -> str:
        """The spectral unit of the plots: ``"cm-1"``, ``"nm"`` or ``"eV"``."""
        return self.axis_combo.currentData()

    def set_axis_unit(self, unit: str) -> None:
        """Switch the spectral axis (``"cm-1"``, ``"nm"`` or ``"eV"``)."""
        k = self.axis_combo.findData(unit)
        if k < 0:
            raise ValueError(f"axis unit {unit!r} is not one of {list(AXIS_UNITS)}")
        self.axis_combo.setCurrentIndex(k)

    def inspect(self, position=None) -> dict | None:
        """Show the pixel under a world position (default: the cursor); returns its index or None."""
        index = self.pixel_at(position)
        if index != self.current:
            self.current = index
            self.redraw()
        return index

    def pin(self, position=None) -> dict | None:
        """Pin the pixel under a world position (default: the cursor); returns its spatial index."""
        index = self.pixel_at(position)
        if index is None:
            return None
        spatial = {d: index[d] for d in self._source.spatial_dims}
        if any(p.spatial == spatial for p in self.pins):
            return spatial
        color = PIN_COLORS[self._n_pinned % len(PIN_COLORS)]
        self._n_pinned += 1
        where = ", ".join(f"{d}={i}" for d, i in spatial.items())
        pin = _Pin(spatial, tuple(self._world_of(spatial)[-len(spatial) :]), color, f"P{self._n_pinned}")
        self.pins.append(pin)
        item = QListWidgetItem(f"{pin.label}  ({where})")
        item.setForeground(QColor(color))
        self.pin_list.addItem(item)
        self._sync_pins_layer()
        self.redraw()
        return spatial

    def remove_pin(self, label: str) -> None:
        """Remove the pinned pixel called `label` (e.g. ``"P1"``)."""
        for k, pin in enumerate(self.pins):
            if pin.label == label:
                del self.pins[k]
                self.pin_list.takeItem(k)
                break
        self._sync_pins_layer()
        self.redraw()

    def clear_pins(self) -> None:
        """Remove every pinned pixel."""
        self.pins.clear()
        self.pin_list.clear()
        self._sync_pins_layer()
        self.redraw()

    def _remove_selected_pins(self) -> None:
        rows = sorted({self.pin_list.row(item) for item in self.pin_list.selectedItems()}, reverse=True)
        for r in rows:
            del self.pins[r]
            self.pin_list.takeItem(r)
        self._sync_pins_layer()
        self.redraw()

    def refresh(self) -> None:
        """Re-read the pixel under the cursor and the pins (after a dims step or new layers)."""
        if self._source is not None and self.current is not None:
            self.current = self.pixel_at(self._world_of({d: self.current[d] for d in self._source.spatial_dims}))
        self.redraw()

    def _sync_pins_layer(self) -> None:
        """Show the pins as a napari Points layer (created on the first pin, emptied with the last)."""
        layer = self._pins_layer
        if layer is not None and layer not in self.viewer.layers:
            layer = self._pins_layer = None
        if not self.pins and layer is None:
            return
        coords = np.array([p.world for p in self.pins], dtype=float) if self.pins else np.empty((0, layer.ndim))
        features = {"label": [p.label for p in self.pins]}
        if layer is None:
            active = self.viewer.layers.selection.active
            pixel = float(np.min(np.abs(self._source.layer.scale[-2:]))) if self._source is not None else 1.0
            layer = self.viewer.add_points(
                coords,
                name="pinned spectra",
                features=features,
                face_color=[p.color for p in self.pins],
                border_color="white",
                size=1.2 * pixel,
                text={"string": "{label}", "color": "white", "anchor": "upper_left", "size": 10},
                metadata={PINS_METADATA_KEY: True},
            )
            self._pins_layer = layer
            if active is not None:
                self.viewer.layers.selection.active = active
        else:
            layer.data = coords
            layer.features = features
            if len(coords):
                layer.face_color = [p.color for p in self.pins]
            layer.refresh()

    # ------------------------------------------------------------------ drawing
    def _x(self, fit: dict) -> np.ndarray:
        native = fit.get("native")
        x = fit["x"]
        if native is None or native[1] == self.axis_unit:
            return x
        return np.asarray(convert_axis(x, native[1], self.axis_unit, laser_nm=fit.get("laser_nm")), dtype=float)

    def redraw(self) -> None:
        """Redraw the plots and the table from the current pixel and the pins (reads what is missing)."""
        self._draw(partial=False)

    def _draw(self, partial: bool) -> None:
        """Draw the pins and the current pixel; ``partial``: only from what is already read (hover)."""
        t0 = time.perf_counter()
        sp, rp = self.spectrum_panel, self.residual_panel
        unit = self.axis_unit
        sp.set_labels(x=AXIS_UNITS[unit])
        rp.set_labels(x=AXIS_UNITS[unit])
        src = self._source
        specs, rspecs = [], []
        shown, errors = None, []
        self.shown = None
        if src is not None:
            try:
                for pin in self.pins:
                    fit = self._evaluate(self._full_index(pin.spatial), partial=partial)
                    if fit is None or "x" not in fit:
                        continue
                    x = self._x(fit)
                    specs.append({"name": f"{pin.label} data", "x": x, "y": fit["curves"]["data"], "color": pin.color})
                    if "model" in fit["curves"]:
                        specs.append(
                            {
                                "name": f"{pin.label} model",
                                "x": x,
                                "y": fit["curves"]["model"],
                                "color": pin.color,
                                "width": 2,
                                "style": "dash",
                            }
                        )
                        if self.residual_check.isChecked():
                            rspecs.append({"name": f"{pin.label} residual", "x": x, "y": fit["curves"]["residual"], "color": pin.color})
                    shown = fit
                if self.current is not None:
                    fit = self._evaluate(self.current, partial=partial)
                    if fit is not None:
                        shown = fit
                        self.shown = fit["index"]
                    if fit is not None and "x" in fit:
                        x = self._x(fit)
                        specs.append({"name": "data", "x": x, "y": fit["curves"]["data"], "color": "k"})
                        if "model" in fit["curves"]:
                            specs.append({"name": "model", "x": x, "y": fit["curves"]["model"], "color": "r", "width": 2})
                            if self.components_check.isChecked():
                                n = max(9, len(fit["terms"]))
                                for k, term in enumerate(fit["terms"]):
                                    style = "dot" if term == "baseline" else "dash"
                                    specs.append(
                                        {
                                            "name": term,
                                            "x": x,
                                            "y": fit["curves"][term],
                                            "color": pg.intColor(k, n, maxValue=200),
                                            "style": style,
                                        }
                                    )
                            if self.residual_check.isChecked():
                                rspecs.append({"name": "residual", "x": x, "y": fit["curves"]["residual"], "color": "k"})
            except (HyperspecError, KeyError, ValueError, IndexError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        sp.set_curves(specs)
        rp.set_curves(rspecs)
        title = "Spectrum"
        if shown is not None:
            title = "Spectrum at " + ", ".join(f"{d}={i}" for d, i in shown["index"].items())
            if partial and "model" not in shown["curves"] and src.results is not None and src.map is not None:
                title += " (reading the fit…)"
        sp.plot_item.setTitle(title, color="k")
        self._fill_table(shown["values"] if shown is not None else {})
        if src is not None:
            self._set_message("; ".join([src.note, *errors]).strip("; "))
        self.last_update_ms = (time.perf_counter() - t0) * 1e3
        self.timing.setText(f"updated in {self.last_update_ms:.0f} ms")

    def export_table_csv(self, path) -> Path:
        """Save the parameter table (quantity, value, stderr, unit) of the shown pixel as CSV.

        Parameters
        ----------
        path : str or os.PathLike
            Output file.

        Returns
        -------
        pathlib.Path
            The file written (values with full float precision).
        """
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["quantity", "value", "stderr", "unit"])
            for q, (value, err, unit) in self.table_values.items():
                writer.writerow([q, value if isinstance(value, str) else repr(float(value)), "" if err is None else repr(float(err)), unit])
        return path

    def _on_table_csv(self) -> None:
        path = self.spectrum_panel._ask_path("Save parameter table as CSV", "CSV (*.csv)")
        if path:
            self.timing.setText(f"saved {self.export_table_csv(path).name}")

    def _fill_table(self, values: dict) -> None:
        if values is self._table_source:
            return
        self._table_source = values
        self.table_values = dict(values)
        self.table.setRowCount(len(values))
        names = {"chi2_red": "χ²_red", "n_iter": "iterations"}
        for r, (q, (value, err, unit)) in enumerate(values.items()):
            text = value if isinstance(value, str) else f"{value:.6g}"
            cells = (names.get(q, q), text, "" if err is None else f"{err:.3g}", unit or "")
            for c, cell in enumerate(cells):
                item = QTableWidgetItem(cell)
                if c in (1, 2) and not isinstance(value, str):
                    item.setData(Qt.ItemDataRole.UserRole, value if c == 1 else err)
                self.table.setItem(r, c, item)
        if values and not self._table_sized:  # sizing every update costs more than the rest of it
            self.table.resizeColumnsToContents()
            self._table_sized = True
