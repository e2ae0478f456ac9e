"""The npe2 reader: hyperspec map stores, results stores and every instrument format ``hyperspec.open`` reads.

``get_reader(path)`` answers quickly (a store's ``zarr.json`` or a file's first 4 KiB, through
``hyperspec.io.registry.find_reader``) and returns None for anything hyperspec cannot read, so napari
falls back to its other readers. Opening is lazy: a map shows its quick-look images (stored with the
map by ``hyperspec.save`` / ``synthetic.write``; without them computed here, for a big map in a
worker thread while a blank image is shown) and a hidden Dask cube; a results store shows its band
maps (``napari_hyperspec._layers.results_layers``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from napari_hyperspec import _layers

__all__ = ["get_reader", "read_hyperspec", "store_kind"]

#: The quick-look worker of a map without a stored quick-look starts this long after the reader returns.
WORKER_DELAY_MS = 300


def store_kind(path) -> str | None:
    """``"map"``, ``"results"`` or None (not a hyperspec store) from a store's ``zarr.json`` alone.

    Parameters
    ----------
    path : str or Path
        Any path.

    Returns
    -------
    str or None
        ``"map"`` when the root holds ``spectra``, ``"results"`` for any other hyperspec store.

    Examples
    --------
    >>> store_kind("/no/such/store.zarr") is None
    True
    """
    p = Path(path)
    meta = p / "zarr.json"
    if not meta.is_file():
        return None
    try:
        doc = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or "hyperspec_schema" not in (doc.get("attributes") or {}):
        return None
    return "map" if (p / "spectra" / "zarr.json").is_file() else "results"


def _readable_file(path: Path) -> bool:
    from hyperspec._errors import HyperspecError  # noqa: PLC0415
    from hyperspec.io.registry import find_reader  # noqa: PLC0415

    try:
        find_reader(path)
    except HyperspecError:
        return False
    return True


def get_reader(path):
    """npe2 reader hook: the reading function for ``path``, or None when hyperspec cannot read it.

    Parameters
    ----------
    path : str or list of str
        What napari was asked to open (one path; a list is accepted when it holds one).

    Returns
    -------
    callable or None
        ``read_hyperspec`` for a hyperspec store or an instrument file a hyperspec reader recognises.

    Examples
    --------
    >>> get_reader("/no/such/file.xyz") is None
    True
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(str(path))
    if p.is_dir():
        return read_hyperspec if store_kind(p) is not None else None
    if p.is_file() and _readable_file(p):
        return read_hyperspec
    return None


def _start_quicklook_worker(ds, path, placeholder_names):
    """Compute the quick-look in a napari worker thread and fill the placeholder layers when it is done."""
    import napari  # noqa: PLC0415
    from napari.qt.threading import thread_worker  # noqa: PLC0415

    from hyperspec.bands.windows import quicklook  # noqa: PLC0415
    from hyperspec.report import color_limits  # noqa: PLC0415

    @thread_worker
    def compute():
        import os  # noqa: PLC0415

        import dask  # noqa: PLC0415

        # leave a core to the viewer: it stays responsive while every chunk is read
        with dask.config.set(scheduler="threads", num_workers=max(1, (os.cpu_count() or 2) - 1)):
            return quicklook(ds, backend="numpy").compute()

    def fill(ql):
        viewer = napari.current_viewer()
        if viewer is None:
            return
        for layer in viewer.layers:
            meta = layer.metadata.get("hyperspec", {})
            if meta.get("role") != "quicklook" or meta.get("path") != (None if path is None else str(path)):
                continue
            name = meta.get("variable")
            if name in placeholder_names and name in ql:
                values = np.asarray(ql[name].transpose(*meta["dims"]).values)
                layer.data = values
                layer.contrast_limits = color_limits(values)
                meta["pending"] = False

    from qtpy.QtCore import QTimer  # noqa: PLC0415

    worker = compute()
    worker.returned.connect(fill)
    QTimer.singleShot(WORKER_DELAY_MS, worker.start)  # after napari has added and drawn the blank layers
    return worker


def read_hyperspec(path):
    """Open a hyperspec store or instrument file as napari layers (LayerDataTuples).

    Parameters
    ----------
    path : str or list of str
        A map store, a results store or an instrument file (a list of one).

    Returns
    -------
    list of (data, kwargs, layer_type)
        Map: quick-look images (``role="quicklook"``) and the hidden spectral cube (``role="cube"``).
        Results: band maps (``role="band"``) and the status labels (``role="status"``).
        Every layer carries ``metadata["hyperspec"]`` (see ``napari_hyperspec._layers``).
    """
    import hyperspec  # noqa: PLC0415

    if isinstance(path, (list, tuple)):
        path = path[0]
    path = str(path)
    ds = hyperspec.open(path)
    if "spectra" in ds.data_vars:
        ds = _layers.as_image_map(ds)
    if "spectra" not in ds.data_vars:
        layers = _layers.results_layers(ds, path)
    else:
        ql, stored = _layers.quicklook_for(ds, path)
        pending = []
        if not stored and ds["spectra"].nbytes > _layers.SYNC_QUICKLOOK_BYTES:
            # a big map without a stored quick-look: blank images now, the worker fills them in
            ql = ql.map(lambda v: v.copy(data=np.full(v.shape, np.nan)))
            pending = list(ql.data_vars)
        layers = _layers.map_layers(ds, path, quicklook=ql)
        for _, kwargs, _ in layers:
            meta = kwargs["metadata"]["hyperspec"]
            if meta["role"] == "quicklook":
                meta["pending"] = meta["variable"] in pending
        if pending:
            _start_quicklook_worker(ds, path, pending)
    _scale_bar()
    return layers


def _scale_bar():
    try:
        import napari  # noqa: PLC0415

        viewer = napari.current_viewer()
    except ImportError:  # pragma: no cover (napari is a dependency)
        return
    if viewer is not None:
        _layers.show_scale_bar(viewer)
