"""The Run widget: decompose the current map with a preset, a model file or a recipe file, in a worker thread.

A dock widget (npe2 ``widgets`` contribution "Run decomposition"). It lists the map layers of the
viewer (``layer.metadata["hyperspec"]["role"]`` ``"quicklook"`` or ``"cube"``; never layer names),
builds a recipe and runs ``hyperspec.pipeline.run_recipe`` in a napari worker thread
(``napari.qt.threading.create_worker``), so the viewer never waits for it:

- the input is the map's ``metadata["hyperspec"]["path"]``; a map known only in memory
  (``"map"`` without a path) is first saved to a temporary store with ``hyperspec.save`` (once per
  map, so a cancelled run on it resumes);
- the recipe is a preset (``hyperspec.bands.presets.preset_names``), a model file
  (``[decompose] model = "file.toml"``, read by ``hyperspec.fit.model_spec.load_model``) or a
  recipe file (``hyperspec.pipeline.load_recipe``; its ``[input]`` and ``[output]`` paths are
  replaced by the chosen map and output store); backend, chunk size (``[compute] chunk_pixels``) and
  workers override the recipe's ``[compute]`` when set;
- ``run_recipe``'s ``on_progress`` hook drives a progress bar with pixels/s and the ETA
  (``RunProgress.describe``), and its ``cancel`` event is the Cancel button: queued chunks are
  dropped, running ones finish, and the partial store resumes when the same run is started again;
- the results layers of the main quantities (``napari_hyperspec._layers.results_layers`` of
  ``main_variables``: areas, peak and Urbach energies, temperatures, χ²_red, status) appear after the
  first chunk and are refreshed from the store as chunks finish (read in the worker thread, at most
  once per ``refresh_interval`` seconds, and when the run ends or is cancelled); every other result
  is in the store (open it with the hyperspec reader for all of them as hidden layers);
- a failed run shows the library's one-line message (``hyperspec.HyperspecError``) in the widget and
  as a napari error notification, never a traceback.

No numerics here: the run, the progress figures and the layers' contents all come from hyperspec.
"""

from __future__ import annotations

import tempfile
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import hyperspec
from hyperspec import BACKENDS, HyperspecError, RunCancelled
from hyperspec.bands.presets import preset_names
from hyperspec.pipeline import load_recipe, run_recipe

__all__ = ["RunWidget", "RunRequest", "RunOutcome", "SOURCES", "MAP_ROLES", "build_recipe", "results_layer_data", "one_line"]

#: What the run decomposes with (the "Source" choices).
SOURCES = ("Preset", "Model file", "Recipe file")
#: Layer roles (``metadata["hyperspec"]["role"]``) that stand for a map the widget can run on.
MAP_ROLES = ("quicklook", "cube")
#: The preset chosen at first (a recipe's ``[decompose]`` default).
DEFAULT_PRESET = "cspbbr3-633"
#: Resolution of the progress bar (steps from 0 to 100 %).
BAR_STEPS = 1000

_SAVED_MAPS: dict[int, tuple[Any, str]] = {}  # id(map Dataset) -> (weak ref to it, its temporary store): saved once
_SAVE_LOCK = threading.Lock()


def model_files_supported() -> bool:
    """Whether this hyperspec reads model files (``hyperspec.fit.model_spec.load_model``) named in recipes."""
    from hyperspec.pipeline import recipe  # noqa: PLC0415

    model_types = getattr(recipe, "_SECTIONS", {}).get("decompose", {}).get("model", ())
    try:
        from hyperspec.fit.model_spec import load_model  # noqa: F401, PLC0415
    except ImportError:
        return False
    return str in model_types


@dataclass
class RunRequest:
    """What the Run button starts (read from the widget on the GUI thread; used in the worker thread).

    Attributes
    ----------
    map_path : str or None
        The map's file or store; None for a map known only in memory (``map_ds``).
    map_ds : xarray.Dataset or None
        The map (lazy), saved to a temporary store when ``map_path`` is None.
    source : str
        One of ``SOURCES``.
    preset : str
        The preset name (``source == "Preset"``).
    file : str
        The model or recipe file (the other sources).
    output : str
        The results store; empty: ``<map>_results.zarr`` beside the map.
    backend : str
        ``"auto"``, ``"numpy"`` or ``"cupy"``; empty keeps the recipe's.
    chunk_pixels, workers : int
        ``[compute] chunk_pixels`` / ``workers``; 0 keeps the recipe's (or the library's default).
    overwrite : bool
        Replace an output written by another recipe.
    """

    map_path: str | None
    map_ds: Any = None
    source: str = "Preset"
    preset: str = DEFAULT_PRESET
    file: str = ""
    output: str = ""
    backend: str = "auto"
    chunk_pixels: int = 0
    workers: int = 0
    overwrite: bool = False


@dataclass
class RunOutcome:
    """How a run ended (what the worker returns to the GUI thread).

    Attributes
    ----------
    status : str
        ``"done"``, ``"cancelled"`` or ``"error"``.
    message : str
        One line for the widget (the library's message for errors and cancels).
    output : str or None
        The results store, once known.
    layers : list
        Layer data tuples of the results (empty on an error before the first chunk).
    """

    status: str
    message: str
    output: str | None = None
    layers: list = field(default_factory=list)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line: a ``HyperspecError``'s own text, else ``'TypeName: text'``.

    Parameters
    ----------
    exc : BaseException
        The error a run raised.

    Returns
    -------
    str
        Its lines joined by spaces (no traceback).

    Examples
    --------
    >>> one_line(hyperspec.RecipeError("recipe r.toml, line 3: unknown key\\n  did you mean 'preset'?"))
    "recipe r.toml, line 3: unknown key did you mean 'preset'?"
    >>> one_line(KeyError("spectra"))
    "KeyError: 'spectra'"
    """
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    if isinstance(exc, HyperspecError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _input_path(request: RunRequest) -> str:
    """The map's path; a map known only in memory is saved once to a temporary store (``hyperspec.save``)."""
    if request.map_path:
        return str(request.map_path)
    ds = request.map_ds
    if ds is None:
        raise HyperspecError("the chosen layer carries neither a map path nor a map Dataset; open the map with the hyperspec reader.")
    with _SAVE_LOCK:
        if id(ds) in _SAVED_MAPS and _SAVED_MAPS[id(ds)][0]() is ds:
            return _SAVED_MAPS[id(ds)][1]
        path = Path(tempfile.mkdtemp(prefix="napari-hyperspec-")) / "map.zarr"
        hyperspec.save(ds, path, progress=False)
        _SAVED_MAPS[id(ds)] = (weakref.ref(ds), str(path))
        weakref.finalize(ds, _SAVED_MAPS.pop, id(ds), None)  # the map is gone: forget it (its id may be reused)
        return str(path)


def default_output(map_path: str) -> str:
    """The results store beside the map: ``<folder>/<name>_results.zarr``.

    Parameters
    ----------
    map_path : str
        The map's file or store.

    Returns
    -------
    str
        The output path.

    Examples
    --------
    >>> default_output("/data/scan.zarr")
    '/data/scan_results.zarr'
    """
    p = Path(map_path)
    return str(p.with_name(f"{p.stem}_results.zarr"))


def build_recipe(request: RunRequest, input_path: str) -> dict:
    """The recipe a request runs (validated again by ``run_recipe``).

    Parameters
    ----------
    request : RunRequest
        The widget's choices.
    input_path : str
        The map's file or store.

    Returns
    -------
    dict
        A recipe: ``[decompose] preset`` or ``model`` (a model file) on the map, or the recipe file's
        with its input and output replaced; ``[compute]`` overrides from the request. The map's
        ``laser_nm`` (an instrument file opened with a laser wavelength) goes into ``[input]`` unless
        the recipe sets one.

    Raises
    ------
    RecipeError
        No file was chosen, or the recipe file is invalid (the library's message).
    """
    from hyperspec._errors import RecipeError  # noqa: PLC0415
    from hyperspec.io.zarr_ import is_store  # noqa: PLC0415

    output = request.output or default_output(input_path)
    if request.source == "Recipe file":
        if not request.file:
            raise RecipeError("choose a recipe file (TOML) first.")
        recipe = load_recipe(request.file)
    else:
        if request.source == "Model file":
            if not request.file:
                raise RecipeError("choose a model file (TOML) first.")
            decompose = {"model": str(Path(request.file).expanduser().resolve())}
        else:
            decompose = {"preset": request.preset}
        recipe = {"input": {"path": input_path}, "decompose": decompose, "output": {"path": output}, "compute": {}}
    recipe["input"] = {**{k: v for k, v in recipe["input"].items() if k != "path"}, "path": str(input_path)}
    laser = getattr(request.map_ds, "attrs", {}).get("laser_nm")
    if laser is not None and "laser_nm" not in recipe["input"] and request.map_path and not is_store(request.map_path):
        # an instrument file the viewer's map was opened from with a laser wavelength
        recipe["input"]["laser_nm"] = float(laser)
    recipe["output"] = {**recipe["output"], "path": str(output)}
    compute = recipe.setdefault("compute", {})
    if request.backend:
        compute["backend"] = request.backend
    if request.chunk_pixels > 0:
        compute["chunk_pixels"] = int(request.chunk_pixels)
    if request.workers > 0:
        compute["workers"] = int(request.workers)
    return recipe


def results_layer_data(output: str | Path, *, main_only: bool = False, also=()) -> list:
    """Layer data tuples of a (possibly partial) results store, their data read into memory.

    Through ``napari_hyperspec._layers.results_layers`` (band maps, the status labels …); lazy arrays
    are read here, in the worker thread, so the GUI thread only swaps the data in.

    Parameters
    ----------
    output : str or Path
        The results store (its unwritten chunks read as the store's fill value).
    main_only : bool, optional
        Only the main quantities (``napari_hyperspec._layers.main_variables``: the visible layers), as
        during a run; default every plottable variable.
    also : iterable of str, optional
        With ``main_only``, these variables too (those already shown: a partial store has no model
        record yet, so its main quantities are guessed and may be more than the final ones).

    Returns
    -------
    list of tuple
        ``(data, kwargs, layer_type)`` with NumPy data.
    """
    import numpy as np  # noqa: PLC0415

    from napari_hyperspec._layers import main_variables, results_layers  # noqa: PLC0415

    results = hyperspec.open(output, allow_incomplete=True)
    variables = list(dict.fromkeys([*main_variables(results), *(v for v in also if v in results.data_vars)])) if main_only else "all"
    out = []
    for data, meta, kind in results_layers(results, path=str(output), variables=variables):
        data = [np.asarray(level) for level in data] if isinstance(data, list) else np.asarray(data)
        out.append((data, dict(meta), kind))
    return out


class _Relay(QObject):
    """Carries progress from the worker thread to the GUI thread (a queued Qt signal)."""

    progress = Signal(object)


class RunWidget(QWidget):
    """Run a preset, a model file or a recipe file on a map layer, with progress, ETA and cancel.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose map layers are listed and where the results layers appear.

    Attributes
    ----------
    run_finished : Signal(RunOutcome)
        Emitted on the GUI thread when a run ends (done, cancelled or failed).
    progressed : Signal(RunProgress)
        Emitted on the GUI thread after each chunk's progress is shown.
    refresh_interval : float
        Least time between two refreshes of the results layers during a run, s (the first chunk always
        refreshes them, and the end of the run).
    """

    run_finished = Signal(object)
    progressed = Signal(object)

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.refresh_interval = 1.0
        self.worker = None
        self._cancel: threading.Event | None = None
        self._layers: dict[tuple, Any] = {}  # (output, role, variable) -> layer made by this widget
        self._ops: deque = deque()  # GUI-thread work of the progress events, done a little per event-loop turn
        self._draining = False
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)

        self.map_combo = QComboBox()
        self.source_combo = QComboBox()
        self.source_combo.addItems([s for s in SOURCES if s != "Model file" or model_files_supported()])
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(preset_names())
        self.preset_combo.setCurrentText(DEFAULT_PRESET)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("model or recipe file (.toml)")
        self.file_button = QPushButton("…")
        self.file_button.clicked.connect(self._browse_file)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("default: <map>_results.zarr beside the map")
        self.output_button = QPushButton("…")
        self.output_button.clicked.connect(self._browse_output)
        self.backend_combo = QComboBox()
        self.backend_combo.addItems(list(BACKENDS))
        self.chunk_spin = QSpinBox()
        self.chunk_spin.setRange(0, 100_000_000)
        self.chunk_spin.setSpecialValueText("auto (memory budget)")
        self.chunk_spin.setSuffix(" px")
        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(0, 1024)
        self.workers_spin.setSpecialValueText("auto")
        self.overwrite_check = QCheckBox("start over: replace the output (else a partial one resumes)")
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, BAR_STEPS)
        self.progress_bar.setValue(0)
        self.rate_label = QLabel("")
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Map", self.map_combo)
        form.addRow("Source", self.source_combo)
        form.addRow("Preset", self.preset_combo)
        row = QHBoxLayout()
        row.addWidget(self.file_edit)
        row.addWidget(self.file_button)
        form.addRow("File", row)
        row = QHBoxLayout()
        row.addWidget(self.output_edit)
        row.addWidget(self.output_button)
        form.addRow("Output", row)
        form.addRow("Backend", self.backend_combo)
        form.addRow("Chunk size", self.chunk_spin)
        form.addRow("Workers", self.workers_spin)
        form.addRow("", self.overwrite_check)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.rate_label)
        layout.addWidget(self.message_label)
        layout.addStretch(1)

        self.source_combo.currentTextChanged.connect(self._source_changed)
        self._source_changed(self.source_combo.currentText())
        for event in (napari_viewer.layers.events.inserted, napari_viewer.layers.events.removed, napari_viewer.layers.events.reordered):
            event.connect(self._refresh_maps)
        self._refresh_maps()

    # ---- the map layers -------------------------------------------------------------------------

    def map_layers(self) -> list:
        """The viewer's map layers (role quicklook or cube), one per map: a quick-look layer before its cube."""
        found, seen = [], set()
        layers = [la for la in self.viewer.layers if _meta(la).get("role") in MAP_ROLES]
        layers.sort(key=lambda la: MAP_ROLES.index(_meta(la)["role"]))
        for layer in layers:
            md = _meta(layer)
            key = md.get("path") or id(md.get("map"))
            if key in seen:
                continue
            seen.add(key)
            found.append(layer)
        return found

    def _refresh_maps(self, event=None) -> None:
        current = self.map_combo.currentText()
        names = [la.name for la in self.map_layers()]
        self.map_combo.blockSignals(True)
        self.map_combo.clear()
        self.map_combo.addItems(names)
        if current in names:
            self.map_combo.setCurrentText(current)
        self.map_combo.blockSignals(False)

    def selected_map(self):
        """The chosen map layer, or None."""
        name = self.map_combo.currentText()
        return next((la for la in self.map_layers() if la.name == name), None)

    # ---- inputs ---------------------------------------------------------------------------------

    def _source_changed(self, source: str) -> None:
        self.preset_combo.setEnabled(source == "Preset")
        self.file_edit.setEnabled(source != "Preset")
        self.file_button.setEnabled(source != "Preset")

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"{self.source_combo.currentText()}", "", "TOML (*.toml);;All files (*)")
        if path:
            self.file_edit.setText(path)

    def _browse_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Results store (an existing one resumes)", "", "Zarr store (*.zarr)", options=QFileDialog.Option.DontConfirmOverwrite
        )
        if path:
            self.output_edit.setText(path)

    def request(self) -> RunRequest:
        """The run the widget's fields describe (raises ``HyperspecError`` without a map layer)."""
        layer = self.selected_map()
        if layer is None:
            raise HyperspecError("no map layer: open a map (hyperspec reader or sample) and choose it under Map.")
        md = _meta(layer)
        return RunRequest(
            map_path=md.get("path"),
            map_ds=md.get("map"),
            source=self.source_combo.currentText(),
            preset=self.preset_combo.currentText(),
            file=self.file_edit.text().strip(),
            output=self.output_edit.text().strip(),
            backend=self.backend_combo.currentText(),
            chunk_pixels=self.chunk_spin.value(),
            workers=self.workers_spin.value(),
            overwrite=self.overwrite_check.isChecked(),
        )

    # ---- running --------------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether a run is in progress (its worker thread not finished)."""
        return self.worker is not None

    def start(self) -> None:
        """Start a run in a worker thread (the Run button); a failure to start shows its one-line error."""
        from napari.qt.threading import create_worker  # noqa: PLC0415

        if self.is_running():
            return
        try:
            request = self.request()
        except HyperspecError as exc:
            self._report(RunOutcome("error", one_line(exc)))
            return
        self._cancel = cancel = threading.Event()
        self.destroyed.connect(lambda *_: cancel.set())  # the widget (or its viewer) closes: the run stops
        self.progress_bar.setValue(0)
        self.rate_label.setText("")
        self.message_label.setText("starting…")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        target = request.output or (default_output(request.map_path) if request.map_path else "")
        shown = tuple(key[2] for key, layer in self._layers.items() if key[0] == target and key[2] and layer in self.viewer.layers)
        self.worker = create_worker(_run, request, self._cancel, self._relay, self.refresh_interval, shown, _start_thread=False)
        self.worker.returned.connect(self._show_outcome)
        self.worker.errored.connect(lambda exc: self._show_outcome(RunOutcome("error", one_line(exc))))
        self.worker.finished.connect(self._finished)
        self.worker.start()

    def cancel(self) -> None:
        """Stop the run after its running chunks (the Cancel button); the store stays resumable."""
        if self._cancel is not None and self.is_running():
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.message_label.setText("cancelling: the running chunks finish, then the run stops…")

    def _finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_progress(self, payload) -> None:
        event, layers = payload
        self.progress_bar.setValue(round(BAR_STEPS * event.fraction))
        self.rate_label.setText(f"{event.chunks_done}/{event.n_chunks} chunks | {event.describe()}")
        if not self.output_edit.text().strip():
            self.output_edit.setText(event.output)
        if self.message_label.text() == "starting…":
            self.message_label.setText(f"running into {event.output}")
        ops = [partial(self._show_layer, event.output, t) for t in layers or []]
        self._queue([*ops, partial(self.progressed.emit, event)])

    def _show_outcome(self, outcome: RunOutcome) -> None:
        if outcome.output and not self.output_edit.text().strip():
            self.output_edit.setText(outcome.output)
        ops = [partial(self._show_layer, outcome.output, t) for t in outcome.layers]
        order = partial(self._order_layers, outcome.output, outcome.layers) if outcome.layers else None
        self._queue([*ops, *([order] if order else []), partial(self._report, outcome)])

    def _order_layers(self, output: str, layers: list) -> None:
        """Stack this output's results layers in the order of ``layers`` on top (as the reader adds them)."""
        for layer_data in layers:
            layer = self._layers.get(self._key(output, layer_data))
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.move(self.viewer.layers.index(layer), len(self.viewer.layers))

    @staticmethod
    def _key(output: str, layer_data: tuple) -> tuple:
        _, meta, _ = layer_data
        md = meta.get("metadata", {}).get("hyperspec", {})
        return (str(output), md.get("role"), md.get("variable"), meta.get("name") if md.get("variable") is None else None)

    def _report(self, outcome: RunOutcome) -> None:
        from napari.utils.notifications import show_error, show_info  # noqa: PLC0415

        self.message_label.setText(outcome.message)
        self.message_label.setStyleSheet("color: #e05050;" if outcome.status == "error" else "")
        if outcome.status == "done":
            self.progress_bar.setValue(BAR_STEPS)
            show_info(outcome.message)
        elif outcome.status == "error":
            show_error(outcome.message)
        self.run_finished.emit(outcome)

    def _queue(self, ops: list) -> None:
        """Run ``ops`` on the GUI thread in order, a few per event-loop turn (adding a napari layer takes a while)."""
        self._ops.extend(ops)
        if not self._draining:
            self._draining = True
            QTimer.singleShot(0, self._drain)

    def _drain(self) -> None:
        start = time.perf_counter()
        while self._ops and time.perf_counter() - start < 0.04:  # then let the event loop breathe
            self._ops.popleft()()
        if self._ops:
            QTimer.singleShot(0, self._drain)
        else:
            self._draining = False

    def show_layers(self, output: str, layers: list) -> list:
        """Add the results layers of ``output``, or swap fresh data into the ones this widget added (now).

        During a run the widget does the same one layer per event-loop turn, so the viewer stays responsive.

        Parameters
        ----------
        output : str
            The results store the layers show.
        layers : list of tuple
            Layer data tuples (``results_layer_data``).

        Returns
        -------
        list of napari.layers.Layer
            The layers, in the order given.
        """
        return [self._show_layer(output, t) for t in layers]

    def _show_layer(self, output: str, layer_data: tuple):
        from napari.layers import Layer  # noqa: PLC0415

        data, meta, kind = layer_data
        md = meta.get("metadata", {}).get("hyperspec", {})
        key = self._key(output, layer_data)
        layer = self._layers.get(key)
        if layer is not None and layer in self.viewer.layers:
            layer.data = data
            if "contrast_limits" in meta and kind == "image":
                layer.contrast_limits = meta["contrast_limits"]
            layer.metadata["hyperspec"] = md
        else:
            layer = Layer.create(data, meta, kind)
            self.viewer.add_layer(layer)
            self._layers[key] = layer
        return layer

    def closeEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        """Cancel a running run when the widget closes."""
        self.cancel()
        super().closeEvent(event)


def _meta(layer) -> dict:
    md = getattr(layer, "metadata", None) or {}
    return md.get("hyperspec") or {}


def _run(request: RunRequest, cancel: threading.Event, relay: _Relay, refresh_interval: float, shown=()) -> RunOutcome:
    """The worker thread's job: prepare the input, run the recipe with progress and cancel, read the layers.

    ``shown``: the variables whose layers the widget already shows for this output (refreshed too).
    Never raises: every failure becomes a ``RunOutcome("error", <one line>)``.
    """
    output = None
    last_refresh = [None]
    shown = set(shown)

    def read(path) -> list:
        layers = results_layer_data(path, main_only=True, also=sorted(shown))
        shown.update(meta["metadata"]["hyperspec"]["variable"] for _, meta, _ in layers)
        return layers

    def on_progress(event) -> None:
        now = time.perf_counter()
        layers = None
        due = last_refresh[0] is None or now - last_refresh[0] >= refresh_interval
        if due and event.chunks_done < event.n_chunks:  # after the last chunk, the outcome brings them
            layers = read(event.output)
            last_refresh[0] = time.perf_counter()
        relay.progress.emit((event, layers))

    try:
        input_path = _input_path(request)
        recipe = build_recipe(request, input_path)
        output = recipe["output"]["path"]
        out = run_recipe(recipe, overwrite=request.overwrite, progress=False, on_progress=on_progress, cancel=cancel)
        runs = hyperspec.open(out).attrs.get("runs", [])
        last = runs[-1] if runs else {}
        message = f"done: {out}" + (f" ({last['pixels']:,} px in {last['seconds']:.1f} s)" if "pixels" in last else "")
        return RunOutcome("done", message, str(out), read(out))
    except RunCancelled as exc:
        layers = read(exc.output) if exc.chunks_done else []
        return RunOutcome("cancelled", one_line(exc), str(exc.output), layers)
    except Exception as exc:  # noqa: BLE001  (a widget shows every failure as one line, never a traceback)
        return RunOutcome("error", one_line(exc), output)
