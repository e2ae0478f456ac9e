"""Sample data: a synthetic CsPbBr₃ map from ``hyperspec.synthetic`` as napari layer tuples."""

from __future__ import annotations

import numpy as np


def make_synthetic_map(shape=(48, 48), n_spectral=512, seed=0):
    """Layer data tuples: the spectral cube ``(spectral, y, x)`` as an image and the true regions as labels.

    The spectral axis becomes napari's slider; pixel scale is in µm.
    """
    from hyperspec import synthetic  # noqa: PLC0415 (imported here so napari's plugin discovery stays light)

    ds, truth = synthetic.cspbbr3_map(shape, n_spectral=n_spectral, seed=seed)
    cube = np.moveaxis(np.asarray(ds["spectra"].values), -1, 0)
    pixel = float(ds["x"].values[1] - ds["x"].values[0])
    meta = {"shift_cm": np.asarray(ds["shift"].values), "laser_nm": ds.attrs["laser_nm"]}
    regions = np.asarray(truth["region"].values).astype(np.int32) + 1  # 0 is background in napari labels
    return [
        (cube, {"name": "synthetic CsPbBr3 map", "scale": (1.0, pixel, pixel), "metadata": meta, "colormap": "magma"}, "image"),
        (regions, {"name": "regions (truth: 1 crystal, 2 interface, 3 glass)", "scale": (pixel, pixel), "opacity": 0.4}, "labels"),
    ]
