"""The Kinetics panel: a pixel's or a region's band traces over time, their autocorrelation with the blinking
periods marked, and the cross-correlation of two bands with its peak lag.

A dock widget (npe2 ``widgets`` contribution "Kinetics") for kinetic results — a decomposition of a
kinetic map, variables on ``(t, y, x)`` or ``(t, x)`` with ``t`` in s (the sample
``napari_hyperspec._sample_data:make_kinetic_map`` gives one). The trace source is

- a pixel: a click (without dragging) on the map, the selected (else the last) point of a Points
  layer — e.g. the inspector's pinned pixels — or :meth:`KineticsPanel.pick` /
  :meth:`KineticsPanel.set_pixel` from code;
- or a region: an area shape of a Shapes layer or a label of a Labels layer on the map's grid, whose
  spatial mean trace comes from ``hyperspec.spatial.region_mean``.

For band variable A (and optionally B) it plots the traces over t (s); their autocorrelations over
the lag (s) (``hyperspec.kinetics.autocorrelation``) with the periods of
``hyperspec.kinetics.periods`` marked at P, 2P, … (``hyperspec.kinetics.plots.period_marks``) and
listed with their standard errors; and the cross-correlation r(τ) of B after A
(``hyperspec.kinetics.cross_correlation_curve``) with the peak lag of
``hyperspec.kinetics.cross_correlation`` marked and written out. Every plot has PNG and CSV export
(:class:`napari_hyperspec._plots.PlotPanel`).

The numerics run in a worker thread (``napari.qt.threading.create_worker``); library errors show as
one line in the status label. No numerics here: everything comes from ``hyperspec.kinetics`` and
``hyperspec.spatial``.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import pyqtgraph as pg
import xarray as xr
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from hyperspec import HyperspecError
from napari_hyperspec._inspector import PINS_METADATA_KEY
from napari_hyperspec._plots import PlotPanel
from napari_hyperspec._regions import (
    GRID_ROLES,
    _hs,
    _is_labels,
    _is_shapes,
    _LayerCombo,
    _Wired,
    data_of,
    labels_on_grid,
    shapes_to_labels,
)
from napari_hyperspec._run_widget import one_line

__all__ = ["KineticsPanel", "SERIES_DIM", "TRACE_COLORS", "kinetics_of", "series_variables"]

#: the series dim the panel analyses (time, s)
SERIES_DIM = "t"
#: colours of the traces of band A and band B (curves and period marks)
TRACE_COLORS = ("#1f77b4", "#d62728")
#: the most multiples of a period marked on the autocorrelation
MAX_MULTIPLES = 12
#: results variables that are flags or counters, never band traces
_NOT_TRACES = ("status", "at_bound", "n_at_bound", "n_iter")
_NONE = "(none)"
_PIXEL, _REGION = "Pixel (click or point)", "Region (shapes or labels)"


def _is_points(layer) -> bool:
    return type(layer).__name__ == "Points"


def series_variables(results, spatial_dims=("y", "x")) -> list[str]:
    """The results variables that are traces over the series dim: on ``t`` and spatial dims only, real numbers.

    Parameters
    ----------
    results : xarray.Dataset
        Results of a kinetic map (variables on ``(t, y, x)`` or ``(t, x)``).
    spatial_dims : tuple of str, optional
        The results' spatial dims. Default ``("y", "x")``.

    Returns
    -------
    list of str
        The band areas first (``*_area``, in the model's order), then the other main quantities,
        then every other such variable (standard errors last); flags and counters are left out.
        Empty when no variable has the ``t`` dim.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> z = np.zeros((3, 2, 2))
    >>> res = xr.Dataset({v: (("t", "y", "x"), z) for v in ("chi2_red", "lers_area", "aspl_area_stderr", "status")})
    >>> series_variables(res)
    ['lers_area', 'chi2_red', 'aspl_area_stderr']
    """
    from napari_hyperspec._layers import main_variables  # noqa: PLC0415

    allowed = {SERIES_DIM, *spatial_dims}

    def ok(name):
        var = results[name]
        return (
            SERIES_DIM in var.dims
            and set(var.dims) <= allowed
            and name not in _NOT_TRACES
            and np.issubdtype(var.dtype, np.number)
            and not np.issubdtype(var.dtype, np.complexfloating)
        )

    names = [str(n) for n in results.data_vars if ok(n)]
    main = [n for n in main_variables(results) if n in names]
    order = [n for n in main if n.endswith("_area")] + [n for n in main if not n.endswith("_area")]
    rest = [n for n in names if n not in order]
    return order + [n for n in rest if not n.endswith("_stderr")] + [n for n in rest if n.endswith("_stderr")]


def kinetics_of(traces: dict) -> dict:
    """Autocorrelation, periods and (for two traces) the cross-correlation of one pixel's or region's traces.

    Runs in the panel's worker thread; every number comes from ``hyperspec.kinetics``. A step that
    fails leaves its entry out and adds its one-line message to ``errors``.

    Parameters
    ----------
    traces : dict of str to xarray.DataArray
        One or two 1-D traces over ``t`` (s), by variable name (A first); lazy ones are loaded.

    Returns
    -------
    dict
        ``traces`` (the loaded DataArrays), ``acf`` (``kinetics.autocorrelation`` per name), ``periods``
        (``kinetics.periods`` per name), ``marks`` (``period_marks`` per name: (period s, error s,
        1)), with two traces ``xcorr`` (``kinetics.cross_correlation(A, B)``) and ``xcurve``
        (``kinetics.cross_correlation_curve(A, B)``), and ``errors`` (list of str).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(60) * 0.2
    >>> tr = xr.DataArray(100 + 20 * np.sin(2 * np.pi * t / 1.5), dims="t", coords={"t": t}, name="lers_area")
    >>> out = kinetics_of({"lers_area": tr})
    >>> round(out["marks"]["lers_area"][0][0], 2), out["errors"]
    (1.5, [])
    """
    from hyperspec.kinetics import autocorrelation, cross_correlation, cross_correlation_curve, periods  # noqa: PLC0415
    from hyperspec.kinetics.plots import period_marks  # noqa: PLC0415

    out = {"traces": {}, "acf": {}, "periods": {}, "marks": {}, "errors": []}
    for name, trace in traces.items():
        try:
            trace = trace.load()
            out["traces"][name] = trace
            out["acf"][name] = autocorrelation(trace, SERIES_DIM)
        except (HyperspecError, ValueError, TypeError, KeyError) as exc:
            out["errors"].append(f"{name}: {one_line(exc)}")
            continue
        try:
            out["periods"][name] = per = periods(trace, SERIES_DIM)
            out["marks"][name] = period_marks(per)
        except (HyperspecError, ValueError, TypeError) as exc:
            out["errors"].append(f"{name} periods: {one_line(exc)}")
    if len(out["acf"]) == 2:
        a, b = (out["traces"][n] for n in traces)
        try:
            out["xcorr"] = cross_correlation(a, b, SERIES_DIM)
            out["xcurve"] = cross_correlation_curve(a, b, SERIES_DIM)
        except (HyperspecError, ValueError, TypeError) as exc:
            out["errors"].append(f"cross-correlation: {one_line(exc)}")
    return out


def _read_traces(request: dict) -> dict:
    """Worker thread: the traces of the request (a pixel's or a region mean), then their kinetics."""
    from hyperspec.spatial import region_mean  # noqa: PLC0415

    results = request["results"]
    traces = {}
    for name in request["variables"]:
        var = results[name]
        if request["kind"] == "pixel":
            trace = var.isel({d: i for d, i in request["pixel"].items() if d in var.dims})
        else:
            lab = xr.DataArray(request["labels"], dims=request["spatial"])
            means = region_mean(var, lab, names=request["names"], background=0)
            trace = means.sel(region=request["region"]).drop_vars("region")
        traces[name] = trace.rename(name)
    return kinetics_of(traces)


def _work(request: dict) -> dict:
    try:
        out = _read_traces(request)
    except (HyperspecError, ValueError, TypeError, KeyError, IndexError, OSError) as exc:
        out = {"traces": {}, "acf": {}, "periods": {}, "marks": {}, "errors": [one_line(exc)]}
    out["generation"] = request["generation"]
    out["where"] = request["where"]
    return out


def _fmt(value: float, err: float) -> str:
    """``value ± err`` with the error's first significant figure (two when it starts with 1)."""
    if not math.isfinite(value):
        return "nan"
    if not (math.isfinite(err) and err > 0):
        return f"{value:.3g}"
    digits = max(0, min(6, -int(math.floor(math.log10(err))) + (err * 10.0 ** -math.floor(math.log10(err)) < 2)))
    return f"{value:.{digits}f} ± {err:.{digits}f}"


class KineticsPanel(_Wired):
    """Dock widget: traces over time, autocorrelation with the detected periods, cross-correlation and lag.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer (injected by napari; ``KineticsPanel(viewer)`` docks it from a script too).

    Attributes
    ----------
    trace_panel : PlotPanel
        The traces of A and B (curves named by the variables) against t (s).
    acf_panel : PlotPanel
        Their autocorrelations C(τ) against the lag (s); the periods are vertical lines (:attr:`period_lines`).
    xcorr_panel : PlotPanel
        The cross-correlation r(τ) of B after A against the lag (s), its peak lag a vertical line.
    periods_table : QTableWidget
        One row per detected period: variable, period (s), standard error (s), relative amplitude,
        false-alarm probability.
    xcorr_label : QLabel
        The peak lag of B after A (s, positive when B follows A) with its standard error and r.
    result : dict or None
        What :func:`kinetics_of` returned for the shown traces (plus ``where``), None before the first.
    period_lines : list of (str, float, pyqtgraph.InfiniteLine)
        (variable, position in s, line) of every period mark (P, 2P, … up to the largest lag).
    pixel : dict or None
        The picked pixel, e.g. ``{"y": 2, "x": 3}``.
    updated : Signal
        Emitted after the plots show a new result (or an error message).
    """

    updated = Signal()

    def __init__(self, napari_viewer):
        viewer = getattr(napari_viewer, "__wrapped__", napari_viewer)  # plain layers and Datasets (as the inspector)
        super().__init__(viewer)
        self.pixel: dict | None = None
        self.result: dict | None = None
        self.period_lines: list = []
        self.lag_line = None
        self._generation = 0
        self._workers: set = set()
        self._points_seen = None

        self.grid_combo = _LayerCombo(
            viewer,
            lambda la: (_hs(la) or {}).get("role") in GRID_ROLES and data_of(viewer, la)[1] is not None,
            prefer=lambda la: (_hs(la) or {}).get("role") == "band" and SERIES_DIM in ((_hs(la) or {}).get("extra_dims") or ()),
        )
        self.mode_combo = QComboBox()
        self.mode_combo.addItems([_PIXEL, _REGION])
        self.points_combo = _LayerCombo(viewer, _is_points, prefer=lambda la: bool(la.metadata.get(PINS_METADATA_KEY)))
        self.regions_combo = _LayerCombo(viewer, lambda la: _is_shapes(la) or _is_labels(la), prefer=lambda la: _hs(la) is None)
        self.region_combo = QComboBox()
        self.a_combo = QComboBox()
        self.b_combo = QComboBox()
        self.a_combo.setToolTip("Band variable A (a trace over t)")
        self.b_combo.setToolTip("Optional band variable B: its trace, autocorrelation and its cross-correlation with A")

        self.trace_panel = PlotPanel(title="Traces", height=150)
        self.trace_panel.set_labels(x="t (s)")
        self.acf_panel = PlotPanel(title="Autocorrelation", height=150)
        self.acf_panel.set_labels(x="lag τ (s)", y="C(τ)")
        self.xcorr_panel = PlotPanel(title="Cross-correlation", height=130)
        self.xcorr_panel.set_labels(x="lag τ of B after A (s)", y="r(τ)")
        for panel in (self.trace_panel, self.acf_panel, self.xcorr_panel):  # plain numbers (no "×0.001" on the axis)
            panel.plot_item.getAxis("left").enableAutoSIPrefix(False)
        self.periods_table = QTableWidget(0, 5)
        self.periods_table.setHorizontalHeaderLabels(["variable", "period (s)", "± stderr (s)", "rel. amplitude", "FAP"])
        self.periods_table.verticalHeader().setVisible(False)
        self.periods_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.periods_table.setMaximumHeight(110)
        self.xcorr_label = QLabel("")
        self.xcorr_label.setWordWrap(True)
        self.xcorr_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("Results of layer", self.grid_combo)
        form.addRow("Trace from", self.mode_combo)
        form.addRow("Points", self.points_combo)
        form.addRow("Regions layer", self.regions_combo)
        form.addRow("Region", self.region_combo)
        form.addRow("Band A", self.a_combo)
        form.addRow("Band B", self.b_combo)
        options = QHBoxLayout()
        options.addWidget(self.auto_check)
        options.addStretch(1)
        options.addWidget(self.update_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(form)
        layout.addLayout(options)
        layout.addWidget(self.trace_panel, 2)
        layout.addWidget(self.acf_panel, 2)
        layout.addWidget(self.periods_table)
        layout.addWidget(self.xcorr_panel, 2)
        layout.addWidget(self.xcorr_label)

        self.grid_combo.currentIndexChanged.connect(lambda _: (self._fill_variables(), self._timer.start()))
        self.mode_combo.currentIndexChanged.connect(lambda _: (self._watch(), self._timer.start()))
        for combo in (self.points_combo, self.regions_combo):
            combo.currentIndexChanged.connect(lambda _: (self._watch(), self._timer.start()))
        for combo in (self.region_combo, self.a_combo, self.b_combo):
            combo.currentIndexChanged.connect(lambda _: self._timer.start())
        self._connect((self.grid_combo, self.points_combo, self.regions_combo))
        self._connect_clicks()
        self._fill_variables()
        self._watch()
        self.update_plots()

    # ------------------------------------------------------------------ wiring
    def _connect_clicks(self) -> None:
        ref = weakref.ref(self)
        viewer = self.viewer

        def on_drag(_viewer, event):
            widget = ref()
            if widget is None:
                viewer.mouse_drag_callbacks.remove(on_drag)
                return
            if event.type != "mouse_press" or event.button != 1:
                return
            press = np.asarray(event.position, dtype=float)
            dragged = False
            yield
            while event.type == "mouse_move":
                dragged = True
                yield
            widget = ref()
            if widget is not None and not dragged and widget.mode == "pixel":
                widget.pick(press)

        self._click_callback = on_drag
        viewer.mouse_drag_callbacks.append(on_drag)

    def _source_layer(self):
        return self.points_combo.layer() if self.mode == "pixel" else self.regions_combo.layer()

    def _fill_variables(self) -> None:
        """The A and B combos: the series variables of the chosen results (choices kept where possible)."""
        grid = self.grid_combo.layer()
        results = data_of(self.viewer, grid)[1] if grid is not None else None
        spatial = tuple((_hs(grid) or {}).get("spatial_dims") or ("y", "x")) if grid is not None else ("y", "x")
        names = series_variables(results, spatial) if results is not None else []
        areas = [n for n in names if n.endswith("_area")]
        for combo, options, default in (
            (self.a_combo, names, names[0] if names else None),
            (self.b_combo, [_NONE, *names], areas[1] if len(areas) > 1 else _NONE),
        ):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(options)
            keep = current if current in options else default
            if keep is not None:
                combo.setCurrentIndex(options.index(keep))
            combo.blockSignals(False)

    # ------------------------------------------------------------------ public
    @property
    def mode(self) -> str:
        """The trace source: ``"pixel"`` or ``"region"``."""
        return "pixel" if self.mode_combo.currentText() == _PIXEL else "region"

    def set_mode(self, mode: str) -> None:
        """Take the traces from a ``"pixel"`` or a ``"region"``."""
        if mode not in ("pixel", "region"):
            raise ValueError(f"KineticsPanel.set_mode: mode must be 'pixel' or 'region'; got {mode!r}")
        self.mode_combo.setCurrentText(_PIXEL if mode == "pixel" else _REGION)

    def set_variables(self, a: str, b: str | None = None) -> None:
        """Choose band variable A and optional B (None: A only).

        Raises
        ------
        ValueError
            A variable that is not a trace of the chosen results (the available ones are listed).
        """
        options = [self.a_combo.itemText(k) for k in range(self.a_combo.count())]
        for name in (a, b):
            if name is not None and name not in options:
                raise ValueError(f"KineticsPanel.set_variables: {name!r} is not a trace of these results; choose one of {options}")
        self.a_combo.setCurrentText(a)
        self.b_combo.setCurrentText(b if b is not None else _NONE)

    def pixel_of(self, world) -> dict | None:
        """The results pixel under a world position (µm; any leading viewer dims), or None outside the map.

        Parameters
        ----------
        world : sequence of float
            World coordinates: all the viewer's dims, or only the last (spatial) ones.

        Returns
        -------
        dict or None
            ``{"y": i, "x": j}`` (the spatial dims of the results layer).
        """
        grid = self.grid_combo.layer()
        if grid is None:
            return None
        meta = _hs(grid) or {}
        spatial = tuple(meta.get("spatial_dims") or ("y", "x"))
        dims = tuple(meta.get("dims") or ())
        point = np.asarray(self.viewer.dims.point, dtype=float)
        world = np.asarray(world, dtype=float)
        if world.size < point.size:  # only the spatial axes: the others at the current dims point
            point[point.size - world.size :] = world
            world = point
        coords = np.asarray(grid.world_to_data(world), dtype=float)
        array = grid.data[0] if getattr(grid, "multiscale", False) else grid.data
        shape = array.shape[:-1] if getattr(grid, "rgb", False) else array.shape
        names = list(dims) if len(dims) == len(coords) else [None] * (len(coords) - len(spatial)) + list(spatial)
        index = {}
        for name, c, n in zip(names, coords, shape, strict=False):
            if name in spatial:
                k = int(np.floor(c + 0.5))
                if not 0 <= k < n:
                    return None
                index[name] = k
        return index if len(index) == len(spatial) else None

    def pick(self, world) -> dict | None:
        """Show the traces of the pixel under a world position (a click); returns the pixel or None."""
        index = self.pixel_of(world)
        if index is not None:
            self.set_pixel(index)
        return index

    def set_pixel(self, pixel: dict) -> None:
        """Show the traces of one pixel, e.g. ``{"y": 2, "x": 3}`` (switches to pixel mode)."""
        self.pixel = {str(d): int(i) for d, i in pixel.items()}
        layer = self.points_combo.layer()
        if layer is not None and len(layer.data):  # the points as they are now do not override this pixel
            self._points_seen = self._points_state(layer)[1]
        self.mode_combo.blockSignals(True)
        self.set_mode("pixel")
        self.mode_combo.blockSignals(False)
        self._watch()
        self.update_plots()

    def regions(self) -> tuple[np.ndarray, dict[int, str]] | None:
        """The regions of the regions layer on the results' grid: (labels (y, x), names), or None."""
        grid, layer = self.grid_combo.layer(), self.regions_combo.layer()
        if grid is None or layer is None:
            return None
        if _is_shapes(layer):
            return shapes_to_labels(layer, grid)
        return labels_on_grid(self.viewer, layer, grid)

    # ------------------------------------------------------------------ updating
    @staticmethod
    def _points_state(layer) -> tuple:
        """(index of the point to follow, a key that changes when the points or the selection change)."""
        selected = sorted(layer.selected_data)
        k = selected[-1] if selected else len(layer.data) - 1
        return k, (id(layer), len(layer.data), k, tuple(np.asarray(layer.data[k], dtype=float)))

    def _point_pixel(self) -> None:
        """Pixel mode: follow the points layer when its points changed (the selected point, else the last)."""
        layer = self.points_combo.layer()
        if layer is None or not len(layer.data):
            self._points_seen = None
            return
        k, seen = self._points_state(layer)
        if seen == self._points_seen:
            return
        self._points_seen = seen
        index = self.pixel_of(np.asarray(layer.data_to_world(layer.data[k]), dtype=float))
        if index is not None:
            self.pixel = index

    def _fill_regions(self, names: dict[int, str]) -> None:
        current = self.region_combo.currentData()
        self.region_combo.blockSignals(True)
        self.region_combo.clear()
        for value, name in names.items():
            self.region_combo.addItem(name, value)
        k = self.region_combo.findData(current)
        self.region_combo.setCurrentIndex(k if k >= 0 else 0)
        self.region_combo.blockSignals(False)

    def _request(self) -> dict | str:
        """What the worker needs (read on the GUI thread), or the message saying what is missing."""
        grid = self.grid_combo.layer()
        if grid is None:
            return "Open a kinetic results store or the sample (File ▸ Open Sample ▸ Synthetic kinetic map) to see traces over time."
        results = data_of(self.viewer, grid)[1]
        spatial = tuple((_hs(grid) or {}).get("spatial_dims") or ("y", "x"))
        if SERIES_DIM not in results.dims:
            return (
                f"these results ({grid.name}) have no {SERIES_DIM!r} dim (their dims: {', '.join(map(str, results.dims))}): "
                "the Kinetics panel needs a kinetic results store, variables on (t, y, x) or (t, x) with t in s."
            )
        a, b = self.a_combo.currentText(), self.b_combo.currentText()
        if not a:
            return f"these results have no variable on ({SERIES_DIM}, {', '.join(spatial)}) to follow over time."
        variables = [a] + ([b] if b and b != _NONE and b != a else [])
        request = {"results": results, "variables": variables, "generation": self._generation, "spatial": spatial}
        if self.mode == "pixel":
            self._point_pixel()
            if self.pixel is None or any(d not in self.pixel for d in spatial):
                return "Click a pixel of the map (or pin one in the Spectrum inspector) to see its traces."
            request.update(kind="pixel", pixel=dict(self.pixel), where=", ".join(f"{d}={i}" for d, i in self.pixel.items()))
            return request
        if len(spatial) != 2:
            return f"regions need an area map (y, x); these results are on ({', '.join(spatial)}): pick a pixel instead."
        got = self.regions()
        if got is None:
            return "Add a Shapes layer and draw a rectangle or polygon (or a Labels layer and paint) to average a region."
        labels, names = got
        names = {v: n for v, n in names.items() if np.any(labels == v)}
        self._fill_regions(names)
        if not names:
            return "No region on the map yet: draw a rectangle, ellipse or polygon over it."
        value = self.region_combo.currentData()
        request.update(kind="region", labels=labels, names=names, region=value, where=f"{names[value]} (mean of its pixels)")
        return request

    def update_plots(self) -> None:
        """Read the traces of the current source and compute their kinetics in a worker thread."""
        from napari.qt.threading import create_worker  # noqa: PLC0415

        self._generation += 1
        try:
            request = self._request()
        except HyperspecError as exc:
            request = one_line(exc)
        if isinstance(request, str):
            self._show({"traces": {}, "acf": {}, "periods": {}, "marks": {}, "errors": [request], "generation": self._generation})
            return
        self.message.setText(f"computing {request['where']}…")
        worker = create_worker(_work, request, _start_thread=False)
        worker.returned.connect(self._show)
        worker.errored.connect(lambda exc, g=self._generation: self._show({"errors": [one_line(exc)], "generation": g}))
        self._workers.add(worker)
        worker.finished.connect(lambda w=worker: self._workers.discard(w))
        worker.start()

    def is_busy(self) -> bool:
        """Whether a computation is running."""
        return bool(self._workers)

    # ------------------------------------------------------------------ drawing
    def _show(self, out: dict) -> None:
        if out.get("generation") != self._generation:  # a newer request is on its way
            return
        for panel in (self.trace_panel, self.acf_panel, self.xcorr_panel):
            panel.clear()
        for _, _, line in self.period_lines:
            self.acf_panel.plot_item.removeItem(line)
        self.period_lines = []
        if self.lag_line is not None:
            self.xcorr_panel.plot_item.removeItem(self.lag_line)
            self.lag_line = None
        self.xcorr_label.setText("")
        traces = out.get("traces", {})
        self.result = out if traces else None
        where = out.get("where", "")
        colors = dict(zip(traces, TRACE_COLORS, strict=False))
        units = {str(tr.attrs.get("units", "") or "") for tr in traces.values()}
        for name, tr in traces.items():
            self.trace_panel.plot(tr[SERIES_DIM].values, tr.values, name=name, color=colors[name], width=1.5)
        from napari_hyperspec._layers import _pretty  # noqa: PLC0415

        self.trace_panel.set_labels(y=f"value ({_pretty(units.pop())})" if len(units) == 1 and "" not in units else "value")
        self.trace_panel.plot_item.setTitle(f"Traces at {where}" if where else "Traces", color="k")
        for name, acf in out.get("acf", {}).items():
            lag = np.asarray(acf["lag"].values, dtype=float)
            self.acf_panel.plot(lag, acf.values, name=name, color=colors[name], width=1.5)
            lag_max = float(lag[-1]) if lag.size else 0.0
            for period, _err, _n in out.get("marks", {}).get(name, []):
                for m in range(1, MAX_MULTIPLES + 1):
                    if m * period > lag_max:
                        break
                    pen = pg.mkPen(
                        colors[name], width=1.5 if m == 1 else 1, style=Qt.PenStyle.SolidLine if m == 1 else Qt.PenStyle.DashLine
                    )
                    line = pg.InfiniteLine(pos=m * period, angle=90, pen=pen)
                    self.acf_panel.plot_item.addItem(line)
                    self.period_lines.append((name, m * period, line))
        self._fill_periods_table(out.get("periods", {}))
        xcurve, xcorr = out.get("xcurve"), out.get("xcorr")
        if xcurve is not None and xcorr is not None:
            a, b = list(traces)
            self.xcorr_panel.plot(xcurve["lag"].values, xcurve.values, name=f"{b} after {a}", color="k", width=1.5)
            lag = float(xcorr["lag_s"].values)
            if math.isfinite(lag):
                self.lag_line = pg.InfiniteLine(pos=lag, angle=90, pen=pg.mkPen("#2ca02c", width=1.5))
                self.xcorr_panel.plot_item.addItem(self.lag_line)
            text = (
                f"{b} after {a}: lag {_fmt(lag, float(xcorr['lag_s_stderr'].values))} s (positive: {b} follows {a}), "
                f"r = {_fmt(float(xcorr['r'].values), float(xcorr['r_stderr'].values))}"
            )
            if bool(xcorr["at_edge"].values):
                text += f"; still rising at ±{xcorr.attrs['max_lag_s']:g} s: the peak may lie beyond"
            self.xcorr_label.setText(text)
        errors = out.get("errors", [])
        self.message.setText("; ".join(errors) if errors else (f"{', '.join(traces)} at {where}" if traces else ""))
        self.updated.emit()

    def _fill_periods_table(self, found: dict) -> None:
        rows = []
        for name, per in found.items():
            for k in range(per.sizes.get("peak", 0)):
                p = per.isel(peak=k)
                value = float(p["period_s"].values)
                if math.isfinite(value):
                    rows.append(
                        (
                            name,
                            value,
                            float(p["period_s_stderr"].values),
                            float(p["relative_amplitude"].values),
                            float(p["significance"].values),
                        )
                    )
        self.periods_table.setRowCount(max(len(rows), 1) if found else 0)
        if found and not rows:
            self.periods_table.setItem(0, 0, QTableWidgetItem("no significant period"))
            for c in range(1, 5):
                self.periods_table.setItem(0, c, QTableWidgetItem(""))
        for r, (name, value, err, rel, fap) in enumerate(rows):
            cells = (name, f"{value:.4g}", f"{err:.2g}", f"{rel:.3g}", f"{fap:.2g}")
            for c, cell in enumerate(cells):
                item = QTableWidgetItem(cell)
                if c:
                    item.setData(Qt.ItemDataRole.UserRole, (value, err, rel, fap)[c - 1])
                self.periods_table.setItem(r, c, item)
        self.periods_table.resizeColumnsToContents()
