"""PlotPanel: curves bookkeeping, legend, PNG and CSV export (real Qt widgets under Xvfb)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from napari_hyperspec._plots import PlotPanel
from qtpy.QtGui import QImage


@pytest.fixture
def panel(qtbot):
    widget = PlotPanel(title="test")
    qtbot.addWidget(widget)
    widget.resize(640, 360)
    widget.show()
    return widget


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_curves_and_legend(panel):
    x = np.linspace(500.0, 700.0, 50)
    item = panel.plot(x, np.sin(x), name="data", color="k", width=2)
    panel.plot(x, np.cos(x), name="model", style="dash")
    panel.plot(x, np.cos(x) + 1, name="model")  # duplicate name kept as "model (2)"
    curves = panel.curves()
    assert list(curves) == ["data", "model", "model (2)"]
    np.testing.assert_array_equal(curves["data"][1], np.sin(x))
    np.testing.assert_array_equal(curves["model (2)"][1], np.cos(x) + 1)
    np.testing.assert_array_equal(item.getData()[1], np.sin(x))
    assert [label.text for _, label in panel.legend.items] == ["data", "model", "model (2)"]
    panel.remove("model")
    assert list(panel.curves()) == ["data", "model (2)"]
    assert len(panel.legend.items) == 2
    panel.clear()
    assert panel.curves() == {} and panel.legend.items == []
    assert panel.plot_item.listDataItems() == []


def test_plot_rejects_bad_input(panel):
    with pytest.raises(ValueError, match="same length"):
        panel.plot([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="style='wavy'"):
        panel.plot([1, 2], [1, 2], style="wavy")


def test_export_csv_shared_x(panel, tmp_path):
    x = np.linspace(1.9, 2.6, 33)
    y1 = np.exp(-((x - 2.3) ** 2) / 0.01) * 1234.5678
    y2 = np.full_like(x, np.nan)
    y2[::2] = 1 / 3
    panel.set_labels(x="Energy (eV)", y="Counts")
    panel.plot(x, y1, name="spectrum")
    panel.plot(x, y2, name="model")
    header, rows = _read_csv(panel.export_csv(tmp_path / "a.csv"))
    assert header == ["Energy (eV)", "spectrum", "model"]
    data = np.array(rows, dtype=float)
    assert data.shape == (33, 3)
    np.testing.assert_array_equal(data[:, 0], x)  # full precision: exact round trip
    np.testing.assert_array_equal(data[:, 1], y1)
    np.testing.assert_array_equal(data[:, 2], y2)  # NaN gaps kept


def test_export_csv_separate_x(panel, tmp_path):
    panel.set_labels(x="nm", y="I")
    panel.plot([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], name="a")
    panel.plot([10.0, 20.0], [0.5, 0.25], name="b")
    header, rows = _read_csv(panel.export_csv(tmp_path / "b.csv"))
    assert header == ["a: nm", "a: I", "b: nm", "b: I"]
    assert rows == [
        ["1.0", "4.0", "10.0", "0.5"],
        ["2.0", "5.0", "20.0", "0.25"],
        ["3.0", "6.0", "", ""],
    ]


def test_export_png_readable(panel, tmp_path):
    x = np.linspace(0, 10, 200)
    panel.plot(x, np.sin(x), name="sin", color="r", width=3)
    out = panel.export_png(tmp_path / "plot", width=700)
    assert out.name == "plot.png" and out.stat().st_size > 1000
    image = QImage(str(out))
    assert not image.isNull() and image.width() == 700
    # the red curve is in the picture (white background elsewhere)
    arr = np.array([[image.pixelColor(i, j).getRgb()[:3] for i in range(0, 700, 2)] for j in range(0, image.height(), 2)])
    red = (arr[..., 0] > 200) & (arr[..., 1] < 80) & (arr[..., 2] < 80)
    assert red.sum() > 50
    assert (arr.min(axis=-1) > 240).mean() > 0.5


def test_buttons_export(panel, tmp_path, monkeypatch):
    panel.plot([0.0, 1.0], [2.0, 3.0], name="c")
    target = {"png": str(tmp_path / "btn.png"), "csv": str(tmp_path / "btn.csv")}
    monkeypatch.setattr(panel, "_ask_path", lambda caption, filt: target["png" if "PNG" in caption else "csv"])
    panel.png_button.click()
    panel.csv_button.click()
    assert not QImage(target["png"]).isNull()
    assert _read_csv(target["csv"]) == (["x", "c"], [["0.0", "2.0"], ["1.0", "3.0"]])
    assert panel.message.text() == "saved btn.csv"
    monkeypatch.setattr(panel, "_ask_path", lambda caption, filt: "")  # dialog cancelled
    panel.csv_button.click()
    assert panel.message.text() == "saved btn.csv"


def test_set_curves_reuses_items(panel, tmp_path):
    x = np.linspace(0.0, 1.0, 11)
    panel.set_curves([{"name": "a", "x": x, "y": x, "color": "k"}, {"name": "b", "x": x, "y": 2 * x, "color": "r"}])
    item_a = panel.curves() and panel.plot_item.listDataItems()[0]
    panel.set_curves([{"name": "c", "x": x, "y": 3 * x, "color": "b"}, {"name": "a", "x": x[:5], "y": -x[:5], "color": "g", "width": 2}])
    assert list(panel.curves()) == ["c", "a"]
    np.testing.assert_array_equal(panel.curves()["a"][1], -x[:5])
    assert item_a in panel.plot_item.listDataItems() and len(panel.plot_item.listDataItems()) == 2
    np.testing.assert_array_equal(item_a.getData()[1], -x[:5])
    assert item_a.opts["pen"].color().name() == "#00ff00"
    assert sorted(label.text for _, label in panel.legend.items) == ["a", "c"]
    header, rows = _read_csv(panel.export_csv(tmp_path / "c.csv"))
    assert header == ["c: x", "c: y", "a: x", "a: y"] and len(rows) == 11
    with pytest.raises(ValueError, match="'a'"):
        panel.set_curves([{"name": "a", "x": x, "y": x[:3]}])
