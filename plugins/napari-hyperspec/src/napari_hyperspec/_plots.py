"""The plot panel every napari-hyperspec widget uses (pyqtgraph in Qt; no numerics).

`PlotPanel` wraps a :class:`pyqtgraph.PlotWidget` with a legend, keeps the data
of every curve it draws (:meth:`PlotPanel.curves`, what tests compare to the
engine) and exports the figure as PNG and its data as CSV, from code
(:meth:`PlotPanel.export_png`, :meth:`PlotPanel.export_csv`) or from its two
"PNG…"/"CSV…" buttons.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["PlotPanel", "STYLES"]

#: line styles accepted by :meth:`PlotPanel.plot`
STYLES = {
    "solid": Qt.PenStyle.SolidLine,
    "dash": Qt.PenStyle.DashLine,
    "dot": Qt.PenStyle.DotLine,
    "dashdot": Qt.PenStyle.DashDotLine,
}


class PlotPanel(QWidget):
    """A pyqtgraph plot with a legend, curve bookkeeping and PNG/CSV export.

    Parameters
    ----------
    title : str, optional
        Title drawn above the plot.
    parent : QWidget, optional
        Qt parent.
    height : int, optional
        Minimum height of the plot in pixels.

    Notes
    -----
    Curves are keyed by name: plotting a second curve under a name already
    in use appends `` (2)``, `` (3)``… so that :meth:`curves` and the CSV keep
    every curve.
    """

    def __init__(self, title: str | None = None, parent: QWidget | None = None, height: int = 200):
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot_widget.setMinimumHeight(height)
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        for side in ("left", "bottom"):
            axis = self.plot_item.getAxis(side)
            axis.setPen("k")
            axis.setTextPen("k")
        self.legend = self.plot_item.addLegend(offset=(-10, 10), labelTextColor="k")
        if title:
            self.plot_item.setTitle(title, color="k")
        self._items: dict[str, tuple[pg.PlotDataItem, np.ndarray, np.ndarray]] = {}
        self._labels = {"x": "x", "y": "y"}
        self._n_auto = 0

        self.png_button = QPushButton("PNG…")
        self.csv_button = QPushButton("CSV…")
        for button, tip in (
            (self.png_button, "Save this plot as a PNG image"),
            (self.csv_button, "Save the plotted data as CSV"),
        ):
            button.setToolTip(tip)
            button.setMaximumWidth(60)
        self.png_button.clicked.connect(self._on_png)
        self.csv_button.clicked.connect(self._on_csv)
        self.message = QLabel("")

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.png_button)
        buttons.addWidget(self.csv_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addLayout(buttons)

    # ------------------------------------------------------------------ drawing
    def clear(self) -> None:
        """Remove every curve (the labels and title stay)."""
        for item, _, _ in self._items.values():
            self.plot_item.removeItem(item)
        self._items.clear()
        self.legend.clear()
        self._n_auto = 0

    def plot(
        self,
        x,
        y,
        name: str | None = None,
        color=None,
        width: float = 1,
        style: str = "solid",
    ) -> pg.PlotDataItem:
        """Draw one curve and remember its data.

        Parameters
        ----------
        x, y : array_like
            1-D coordinates of the same length (x in the units of the x label,
            e.g. nm; non-finite values leave gaps).
        name : str, optional
            Legend entry and key in :meth:`curves` (default ``"curve <n>"``).
        color : optional
            Any colour pyqtgraph accepts (``"r"``, ``(255, 0, 0)``, ``"#ff0000"``,
            a ``QColor``); default: the next colour of pyqtgraph's hue cycle.
        width : float, optional
            Line width in pixels.
        style : {"solid", "dash", "dot", "dashdot"}, optional
            Line style.

        Returns
        -------
        pyqtgraph.PlotDataItem
            The curve item (its ``name()`` is the key used by :meth:`curves`).

        Raises
        ------
        ValueError
            If `x` and `y` are not 1-D of the same length, or `style` is unknown.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
            raise ValueError(f"PlotPanel.plot: x and y must be 1-D of the same length, got shapes {x.shape} and {y.shape}")
        if style not in STYLES:
            raise ValueError(f"PlotPanel.plot: style={style!r} is not one of {sorted(STYLES)}")
        if color is None:
            color = pg.intColor(self._n_auto, hues=9, values=1, maxValue=200)
            self._n_auto += 1
        base = name if name else f"curve {len(self._items) + 1}"
        key, k = base, 2
        while key in self._items:
            key, k = f"{base} ({k})", k + 1
        pen = pg.mkPen(color=color, width=width, style=STYLES[style])
        item = self.plot_item.plot(x, y, pen=pen, name=key, connect="finite")
        self._items[key] = (item, x.copy(), y.copy())
        return item

    def set_curves(self, specs) -> None:
        """Show exactly these curves, reusing the items of curves already drawn under the same name.

        Faster than :meth:`clear` then :meth:`plot` for interactive updates (no legend rebuild
        when the same curves come back with new data).

        Parameters
        ----------
        specs : iterable of dict
            One dict per curve with keys ``name``, ``x``, ``y`` and optionally ``color``, ``width``
            and ``style`` (as in :meth:`plot`; ``color`` is required to keep a reused curve's colour
            stable). Curves not named here are removed; :meth:`curves` follows the order of `specs`.
        """
        specs = list(specs)
        wanted = {s["name"] for s in specs}
        previous = {n: (x, y) for n, (_, x, y) in self._items.items()}
        for name in [n for n in self._items if n not in wanted]:
            self.remove(name)
        items = {}
        for s in specs:
            name = s["name"]
            if name in self._items:
                item = self._items.pop(name)[0]
                x = np.asarray(s["x"], dtype=float)
                y = np.asarray(s["y"], dtype=float)
                if x.ndim != 1 or x.shape != y.shape:
                    raise ValueError(f"PlotPanel.set_curves: {name!r}: x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
                color = s.get("color")
                pen = pg.mkPen(
                    color=color if color is not None else item.opts["pen"].color(),
                    width=s.get("width", 1),
                    style=STYLES[s.get("style", "solid")],
                )
                old = previous.get(name)
                if old is not None and pen == item.opts["pen"] and np.array_equal(old[0], x) and np.array_equal(old[1], y, equal_nan=True):
                    items[name] = (item, old[0], old[1])  # unchanged (a pinned spectrum): no repaint of it
                    continue
                item.setData(x, y, pen=pen, connect="finite")
                items[name] = (item, x.copy(), y.copy())
            else:
                self.plot(s["x"], s["y"], name=name, color=s.get("color"), width=s.get("width", 1), style=s.get("style", "solid"))
                items[name] = self._items.pop(name)
        self._items = items

    def remove(self, name: str) -> None:
        """Remove the curve called `name` (no error if there is none)."""
        entry = self._items.pop(name, None)
        if entry is not None:
            self.plot_item.removeItem(entry[0])
            self.legend.removeItem(entry[0])

    def set_labels(self, x: str | None = None, y: str | None = None) -> None:
        """Set the axis labels (with units, e.g. ``"Raman shift (cm⁻¹)"``)."""
        if x is not None:
            self._labels["x"] = x
            self.plot_item.setLabel("bottom", x, color="k")
        if y is not None:
            self._labels["y"] = y
            self.plot_item.setLabel("left", y, color="k")

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Return the plotted data.

        Returns
        -------
        dict of str to (numpy.ndarray, numpy.ndarray)
            ``{name: (x, y)}`` for every curve, in plotting order (copies of
            what was passed to :meth:`plot`).
        """
        return {k: (x.copy(), y.copy()) for k, (_, x, y) in self._items.items()}

    # ------------------------------------------------------------------ export
    def export_png(self, path, width: int | None = None) -> Path:
        """Save the plot (curves, axes, legend) as a PNG image.

        Parameters
        ----------
        path : str or os.PathLike
            Output file (``.png`` is appended if it has another suffix).
        width : int, optional
            Image width in pixels (default: the widget's width, at least 800).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        exporter = pg.exporters.ImageExporter(self.plot_item)
        exporter.parameters()["width"] = int(width or max(800, self.plot_widget.width()))
        exporter.export(str(path))
        return path

    def export_csv(self, path) -> Path:
        """Save the data of every plotted curve as CSV.

        Curves that share the same x values get one x column followed by one
        column per curve; otherwise each curve gets its own ``<name>: x`` and
        ``<name>: y`` columns (shorter curves padded with empty cells).  Values
        are written with full float precision (``repr``), NaN as ``nan``.

        Parameters
        ----------
        path : str or os.PathLike
            Output file.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        path = Path(path)
        items = list(self._items.items())
        xs = [x for _, (_, x, _) in items]
        shared = bool(items) and all(x.shape == xs[0].shape and np.array_equal(x, xs[0], equal_nan=True) for x in xs)
        if shared:
            header = [self._labels["x"]] + [name for name, _ in items]
            columns = [xs[0]] + [y for _, (_, _, y) in items]
        else:
            header, columns = [], []
            for name, (_, x, y) in items:
                header += [f"{name}: {self._labels['x']}", f"{name}: {self._labels['y']}"]
                columns += [x, y]
        n_rows = max((len(c) for c in columns), default=0)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for r in range(n_rows):
                writer.writerow([repr(float(c[r])) if r < len(c) else "" for c in columns])
        return path

    # ------------------------------------------------------------------ buttons
    def _ask_path(self, caption: str, filt: str) -> str:
        """Ask for an output file (a separate method so that tests can replace it)."""
        path, _ = QFileDialog.getSaveFileName(self, caption, "", filt)
        return path

    def _on_png(self) -> None:
        path = self._ask_path("Save plot as PNG", "PNG image (*.png)")
        if path:
            self.message.setText(f"saved {self.export_png(path).name}")

    def _on_csv(self) -> None:
        path = self._ask_path("Save plot data as CSV", "CSV (*.csv)")
        if path:
            self.message.setText(f"saved {self.export_csv(path).name}")
