"""Sample data: synthetic CsPbBr₃ maps from ``hyperspec.synthetic``, with their decomposition, as napari layers.

Three samples (npe2 ``sample_data``): the map alone (``cspbbr3-map``), the map with its band
decomposition (``cspbbr3-decomposed``) and a kinetic map with its decomposition frame by frame
(``kinetic-map``). Every layer carries the plugin's ``metadata["hyperspec"]``; the generator's
true regions come as a labels layer (``role="regions"``: 1 crystal, 2 interface, 3 glass).
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_synthetic_map", "make_decomposed_map", "make_kinetic_map"]


def _regions_layer(ds, truth, path=None):
    from napari_hyperspec._layers import _axes, _meta, _order  # noqa: PLC0415

    region = truth["region"]
    extra, spatial = _order(region)
    if extra:  # the regions do not move: one frame is enough
        region = region.isel({d: 0 for d in extra})
    dims = spatial
    labels = np.asarray(region.transpose(*dims).values).astype(np.int32) + 1  # 0 is napari's background
    kwargs = {
        "name": "regions (truth: 1 crystal, 2 interface, 3 glass)",
        "opacity": 0.4,
        "visible": False,
        "metadata": _meta("regions", map_ds=ds, path=path, spatial=spatial, dims=dims),
        **_axes(region, dims),
    }
    return (labels, kwargs, "labels")


def _decompose(ds):
    """The default recipe's per-chunk steps on an in-memory map: spike removal, then the ``cspbbr3-633`` preset."""
    import hyperspec  # noqa: PLC0415

    return hyperspec.decompose(hyperspec.preprocess.remove_spikes(ds))


def make_synthetic_map(shape=(48, 48), n_spectral=512, seed=0):
    """A synthetic CsPbBr₃ map (``hyperspec.synthetic.cspbbr3_map``): quick-look images, the spectral cube and the true regions.

    Parameters
    ----------
    shape : (int, int), optional
        ``(y, x)`` pixels (0.5 µm each). Default (48, 48).
    n_spectral : int, optional
        Spectral channels. Default 512.
    seed : int, optional
        Random seed of the generator. Default 0.

    Returns
    -------
    list of (data, kwargs, layer_type)
        ``napari_hyperspec._layers.map_layers`` of the map and a labels layer of the true regions.
    """
    from hyperspec import synthetic  # noqa: PLC0415  (imported here so napari's plugin discovery stays light)
    from napari_hyperspec._layers import map_layers  # noqa: PLC0415

    ds, truth = synthetic.cspbbr3_map(shape, n_spectral=n_spectral, seed=seed)
    ds, truth = ds.compute(), truth.compute()
    return [*map_layers(ds), _regions_layer(ds, truth)]


def make_decomposed_map(shape=(16, 16), n_spectral=512, seed=0):
    """A small synthetic CsPbBr₃ map and its band decomposition (a few seconds on two cores).

    The map is decomposed in memory like the default recipe does chunk by chunk
    (``hyperspec.preprocess.remove_spikes``, then ``hyperspec.decompose`` with the ``cspbbr3-633`` preset).

    Parameters
    ----------
    shape : (int, int), optional
        ``(y, x)`` pixels (0.5 µm each). Default (16, 16).
    n_spectral : int, optional
        Spectral channels. Default 512.
    seed : int, optional
        Random seed of the generator. Default 0.

    Returns
    -------
    list of (data, kwargs, layer_type)
        The map's layers, its band maps and status (``results_layers``, metadata ``map`` set) and the true regions.
    """
    from hyperspec import synthetic  # noqa: PLC0415
    from napari_hyperspec._layers import map_layers, results_layers  # noqa: PLC0415

    ds, truth = synthetic.cspbbr3_map(shape, n_spectral=n_spectral, seed=seed)
    ds, truth = ds.compute(), truth.compute()
    res = _decompose(ds)
    return [*map_layers(ds), *results_layers(res, map_ds=ds), _regions_layer(ds, truth)]


def make_kinetic_map(n_frames=24, shape=(6, 6), n_spectral=256, seed=0):
    """A synthetic kinetic map (``hyperspec.synthetic.kinetic_map``, blinking bands) and its decomposition per frame.

    Browse the frames with napari's dims slider: band maps have axes ``(t, y, x)``, the cube
    ``(spectral, t, y, x)``.

    Parameters
    ----------
    n_frames : int, optional
        Frames, 0.2 s apart. Default 24.
    shape : (int, int), optional
        ``(y, x)`` pixels (0.5 µm each). Default (6, 6).
    n_spectral : int, optional
        Spectral channels. Default 256.
    seed : int, optional
        Random seed of the generator. Default 0.

    Returns
    -------
    list of (data, kwargs, layer_type)
        The map's layers, the band maps and status of every frame, and the true regions.
    """
    from hyperspec import synthetic  # noqa: PLC0415
    from napari_hyperspec._layers import map_layers, results_layers  # noqa: PLC0415

    ds, truth = synthetic.kinetic_map(n_frames, shape, n_spectral=n_spectral, seed=seed)
    ds, truth = ds.compute(), truth.compute()
    res = _decompose(ds)
    return [*map_layers(ds), *results_layers(res, map_ds=ds), _regions_layer(ds, truth)]
