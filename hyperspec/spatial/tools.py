"""Spatial tools on band maps and spectra: drift registration, line profiles, regions, filters.

- ``register_drift(ds)``: sub-pixel translation of every frame of a kinetic map against a reference
  frame, measured on an intensity image (the total counts, or a band window) by Gauss–Newton on
  I_t(r) ≈ a·I_ref(r − d) + b (gain and offset absorb blinking), started from scikit-image's phase
  correlation; then applied to the spectra (all channels at once, linear interpolation);
- ``line_profile(image, start, end, width)``: a profile with a width (scikit-image ``profile_line``),
  with its distance axis in µm;
- ``segment_regions(features)``: crystal / interface / glass labels from band maps (k-means on
  standardised features, then the boundary band between the two phases);
- ``region_spectra(ds, labels)``: mean spectrum per region; ``region_mean(data, labels)``: any variable's mean per
  region (e.g. a trace over ``t``); ``region_table(results, labels)``: n, mean, std, median of results per region;
- ``filter_map``: median/Gaussian filters.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hyperspec.model import SPECTRAL_DIM, add_history, shift_axis, validate_map

__all__ = ["register_drift", "line_profile", "segment_regions", "region_spectra", "region_mean", "region_table", "filter_map"]
__all__ += ["REGION_NAMES", "bad_pixels"]

REGION_NAMES = {0: "crystal", 1: "interface", 2: "glass"}


def bad_pixels(status) -> np.ndarray:
    """Pixels whose fit status is not a usable fit: not fitted (dead, nonfinite, masked) or saturated.

    Parameters
    ----------
    status : xarray.DataArray or array of int
        Per-pixel fit status codes (``hyperspec.fit.results.STATUS_TABLE``).

    Returns
    -------
    numpy.ndarray of bool
        True where the status is not in ``FITTED_STATUSES``, or is ``saturated`` (a clipped spectrum:
        its band areas are not comparable with its neighbours').

    Examples
    --------
    >>> bad_pixels(np.array([0, 6, 7, 8])).tolist()
    [False, True, True, False]
    """
    from hyperspec.fit.results import FITTED_STATUSES, SATURATED  # noqa: PLC0415

    code = np.asarray(status.values if isinstance(status, xr.DataArray) else status)
    return ~np.isin(code, [c for c in FITTED_STATUSES if c != SATURATED])


def _inpaint(img: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``img`` with the ``bad`` pixels replaced by the mean of their good 3 × 3 neighbours (grown until filled)."""
    from scipy import ndimage  # noqa: PLC0415

    out = np.where(bad, 0.0, img)
    good = ~bad
    if not good.any():
        return np.full_like(img, np.nan)
    k = np.ones((3, 3))
    while not good.all():
        num = ndimage.convolve(np.where(good, out, 0.0), k, mode="nearest")
        den = ndimage.convolve(good.astype(float), k, mode="nearest")
        fill = ~good & (den > 0)
        out[fill] = num[fill] / den[fill]
        good = good | fill
    return out


def _frame_images(ds: xr.Dataset, band, n_bands: int) -> np.ndarray:
    """Intensity images (t, K, y, x): the ``band`` window (K = 1), or the axis cut into ``n_bands`` windows."""
    spectra = ds["spectra"].transpose("t", "y", "x", SPECTRAL_DIM)
    if band is not None:
        shift = shift_axis(ds)
        sel = np.flatnonzero((shift >= min(band)) & (shift <= max(band)))
        if sel.size == 0:
            raise ValueError(f"the band window {band} cm⁻¹ holds no channels.")
        groups = [sel]
    else:
        groups = np.array_split(np.arange(spectra.sizes[SPECTRAL_DIM]), n_bands)
    data = np.asarray(spectra.values, dtype=np.float64)
    return np.stack([data[..., g].sum(-1) for g in groups], axis=1)


def _refine(ref: np.ndarray, img: np.ndarray, d0, border: int, n_iter: int = 30):
    """Two passes of ``_refine_pass``, the second weighing each band image by 1/σ² of its own residual.

    Bands the translation model explains poorly after the first pass (noise, region-dependent
    blinking) count less.
    """
    d, scale = _refine_pass(ref, img, d0, border, n_iter, None)
    return _refine_pass(ref, img, d, border, n_iter, scale)[0]


def _refine_pass(ref, img, d0, border, n_iter, scale):
    """Gauss–Newton for a shared shift d and per-image gain/offset (a_k, b_k): img_k(r) ≈ a_k·ref_k(r − d) + b_k.

    ``ref``, ``img``: (K, y, x). Each band image gets its own gain, so bands that blink differently
    (or differ by region) all contribute their structure to the one displacement.
    """
    from scipy import ndimage  # noqa: PLC0415

    K = ref.shape[0]
    inner = (slice(None), slice(border, -border or None), slice(border, -border or None))
    if scale is None:
        scale = np.maximum(img[inner].std(axis=(1, 2)), 1e-300)  # first pass: each image by its own contrast
    d = np.asarray(d0, dtype=np.float64)
    a, b = np.ones(K), np.zeros(K)
    for _ in range(n_iter):
        warped = np.stack([ndimage.shift(r, d, order=3, mode="nearest") for r in ref])
        gy, gx = np.gradient(warped, axis=(1, 2))
        w = warped[inner].reshape(K, -1) / scale[:, None]
        y = img[inner].reshape(K, -1) / scale[:, None]
        n = w.shape[1]
        J = np.zeros((K * n, 2 + 2 * K))
        J[:, 0] = (-a[:, None] * gy[inner].reshape(K, -1) / scale[:, None]).ravel()
        J[:, 1] = (-a[:, None] * gx[inner].reshape(K, -1) / scale[:, None]).ravel()
        for k in range(K):
            J[k * n : (k + 1) * n, 2 + k] = w[k]
            J[k * n : (k + 1) * n, 2 + K + k] = 1.0 / scale[k]
        r = (y - (a[:, None] * w + b[:, None] / scale[:, None])).ravel()
        step, *_ = np.linalg.lstsq(J, r, rcond=None)
        d = d + step[:2]
        a, b = a + step[2 : 2 + K], b + step[2 + K :]
        if np.max(np.abs(step[:2])) < 1e-5:
            break
    warped = np.stack([ndimage.shift(r, d, order=3, mode="nearest") for r in ref])
    resid = img[inner] - (a[:, None, None] * warped[inner] + b[:, None, None])
    return d, np.maximum(resid.std(axis=(1, 2)), 1e-300)


def register_drift(ds: xr.Dataset, *, band=None, n_bands: int = 8, reference: int = 0, border: int = 3, apply: bool = True) -> xr.Dataset:
    """Measure (and by default correct) the sample drift of a ``(t, y, x, spectral)`` map.

    Each frame is registered against the reference frame on intensity images (the ``band`` window,
    or the spectral axis cut into ``n_bands`` windows): scikit-image's phase correlation (1/10 pixel)
    gives a start, then Gauss–Newton refines a shared sub-pixel shift d with a gain and an offset
    per window image, I_t(r) ≈ a·I_ref(r − d) + b, so blinking does not bias it.

    Parameters
    ----------
    ds : xarray.Dataset
        A kinetic area map with dims ``t``, ``y``, ``x`` and ``spectral``.
    band : (float, float), optional
        A Raman-shift window (cm⁻¹) whose summed counts are the registration image; needs the
        ``shift`` axis. Default: the whole axis in ``n_bands`` windows.
    n_bands : int, optional
        Number of equal channel windows when ``band`` is None. Default 8.
    reference : int, optional
        Index of the reference frame (its drift is 0). Default 0.
    border : int, optional
        Pixels at each edge left out of the fit (interpolation edge effects). Default 3.
    apply : bool, optional
        Shift every frame's spectra back by −d (linear interpolation over y, x, all channels at
        once; edge pixels repeat the nearest). Default True.

    Returns
    -------
    xarray.Dataset
        A copy of ``ds`` with ``drift_px`` (``(t, drift_axis)``: dy, dx in pixels; the sample moved
        by +d between the reference and frame t), ``drift_um`` (µm, when ``x`` has a step) and, with
        ``apply``, the corrected ``spectra`` (float64) and ``drift_valid`` (``(t, y, x)``, True where
        the pixel stayed inside the field of view); a ``register_drift`` history entry.

    Raises
    ------
    ValueError
        The map lacks a ``t``, ``y`` or ``x`` dim, or ``band`` holds no channels.
    DataModelError
        ``ds`` is not a valid map.

    Examples
    --------
    >>> import numpy as np
    >>> import hyperspec as hs
    >>> from hyperspec.spatial import register_drift
    >>> yy, xx = np.mgrid[0:24, 0:24]
    >>> blob = [np.exp(-((yy - 10 - 0.5 * t) ** 2 + (xx - 12 + t) ** 2) / 8.0) for t in range(3)]  # (+0.5, −1) px per frame
    >>> ds = hs.from_array(np.stack(blob)[..., None] * np.ones(16), np.linspace(100.0, 400.0, 16),
    ...                    dims=("t", "y", "x", "spectral"), pixel_size_um=0.5)
    >>> out = register_drift(ds, n_bands=1)
    >>> np.round(out["drift_px"].values, 2).tolist()
    [[0.0, 0.0], [0.5, -1.0], [1.0, -2.0]]
    >>> np.round(out["drift_um"].values[-1], 2).tolist()
    [0.5, -1.0]
    """
    from scipy import ndimage  # noqa: PLC0415
    from skimage.registration import phase_cross_correlation  # noqa: PLC0415

    validate_map(ds)
    dims = ds["spectra"].dims
    if not {"t", "y", "x"} <= set(dims):
        raise ValueError(f"register_drift needs a kinetic area map with dims (t, y, x, spectral); this map has {dims}.")
    imgs = _frame_images(ds, band, n_bands)
    ref = imgs[reference]
    drift = np.zeros((imgs.shape[0], 2))
    for t in range(imgs.shape[0]):  # a loop over frames: each is one small 2-D registration
        coarse = phase_cross_correlation(imgs[t].sum(0), ref.sum(0), upsample_factor=10, normalization=None)[0]
        drift[t] = _refine(ref, imgs[t], coarse, border)
    drift -= drift[reference]
    out = ds.copy()
    attrs = {"long_name": "sample drift since the reference frame", "units": "pixel", "components": "dy, dx"}
    out["drift_px"] = xr.Variable(("t", "drift_axis"), drift, attrs)
    if "x" in ds.coords and ds.sizes["x"] > 1:
        step = float(ds["x"].values[1] - ds["x"].values[0])
        out["drift_um"] = xr.Variable(("t", "drift_axis"), drift * step, {"units": "um", "components": "dy, dx"})
    if apply:
        spectra = ds["spectra"].transpose("t", "y", "x", SPECTRAL_DIM)
        data = np.asarray(spectra.values)
        fixed = np.empty_like(data)
        valid = np.ones(data.shape[:3], dtype=bool)
        ny, nx = data.shape[1:3]
        for t in range(data.shape[0]):
            dy, dx = drift[t]
            fixed[t] = ndimage.shift(data[t].astype(np.float64), (-dy, -dx, 0.0), order=1, mode="nearest")
            yy, xx = np.meshgrid(np.arange(ny) + dy, np.arange(nx) + dx, indexing="ij")
            valid[t] = (yy >= 0) & (yy <= ny - 1) & (xx >= 0) & (xx <= nx - 1)
        out["spectra"] = xr.Variable(spectra.dims, fixed, ds["spectra"].attrs).transpose(*dims)
        out["drift_valid"] = xr.Variable(("t", "y", "x"), valid, {"long_name": "pixel stayed inside the field of view"})
    out.attrs = dict(ds.attrs)
    add_history(out.attrs, "register_drift", band=None if band is None else list(band), reference=reference, applied=apply,
                max_drift_px=float(np.abs(drift).max()))  # fmt: skip
    return out


def line_profile(image: xr.DataArray, start, end, *, width: int = 1, order: int = 1, status=None) -> xr.DataArray:
    """Values along the line ``start`` → ``end`` ((y, x) in pixels), averaged over ``width`` pixels across it.

    Uses scikit-image's ``profile_line`` (both end points included, ``reflect`` at the edges).

    Parameters
    ----------
    image : xarray.DataArray
        A map with dims ``y`` and ``x`` (e.g. a band area).
    start, end : (float, float)
        End points ``(row, column)`` in pixels.
    width : int, optional
        Pixels across the line that are averaged. Default 1.
    order : int, optional
        Spline interpolation order (0 nearest, 1 linear, 3 cubic). Default 1.
    status : xarray.DataArray or array of int, optional
        Per-pixel fit status on the image's ``(y, x)`` grid: pixels that are not a usable fit
        (``bad_pixels``) are in-painted like non-finite ones.

    Returns
    -------
    xarray.DataArray
        The profile along ``distance``: µm when ``image`` has an ``x`` coordinate (its step is used
        for both axes), else pixels (the ``units`` attr says which). Attrs: ``start``, ``end``,
        ``width`` and those of ``image``. Non-finite (and, with ``status``, badly fitted) pixels are
        in-painted from their fitted neighbours (mean of the good 3 × 3 neighbours) instead of
        leaving a gap; then attr ``n_inpainted`` counts them and the bool coordinate ``inpainted``
        marks the profile points they touch.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from hyperspec.spatial import line_profile
    >>> image = xr.DataArray(np.tile(np.arange(5.0), (5, 1)), dims=("y", "x"),
    ...                      coords={"y": np.arange(5) * 0.5, "x": np.arange(5) * 0.5})  # 0.5 µm pixels
    >>> profile = line_profile(image, (2, 0), (2, 4), width=3)
    >>> profile.values.tolist(), profile["distance"].values.tolist(), profile["distance"].attrs["units"]
    ([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 0.5, 1.0, 1.5, 2.0], 'um')
    """
    from skimage.measure import profile_line  # noqa: PLC0415

    img = np.asarray(image.transpose("y", "x").values, dtype=np.float64)
    bad = ~np.isfinite(img)
    if status is not None:
        st = status.transpose("y", "x") if isinstance(status, xr.DataArray) else status
        bad |= bad_pixels(st)
    n_bad = int(bad.sum())
    if n_bad:
        img = _inpaint(img, bad)
    prof = profile_line(img, start, end, linewidth=int(width), order=order, mode="reflect", reduce_func=np.mean)
    step = 1.0
    unit = "pixel"
    if "x" in image.coords and image.sizes["x"] > 1:
        step = float(image["x"].values[1] - image["x"].values[0])
        unit = "um"
    dist = np.linspace(0.0, np.hypot(end[0] - start[0], end[1] - start[1]) * step, prof.size)
    out = xr.DataArray(prof, dims=("distance",), coords={"distance": ("distance", dist, {"units": unit})},
                       attrs={"start": list(start), "end": list(end), "width": int(width), **image.attrs})  # fmt: skip
    if n_bad:
        touched = profile_line(bad.astype(float), start, end, linewidth=int(width), order=1, mode="reflect", reduce_func=np.max) > 0
        out = out.assign_coords(inpainted=("distance", touched, {"long_name": "profile point uses an in-painted (bad) pixel"}))
        out.attrs["n_inpainted"] = n_bad
    return out


def segment_regions(
    features: dict | xr.Dataset, *, interface_um: float = 2.0, interface_px: int | None = None, seed: int = 0, status=None
) -> xr.DataArray:
    """Label pixels crystal (0) / interface (1) / glass (2) from band maps.

    The pixels are split into two phases by k-means (SciPy ``kmeans2``) on the features,
    standardised (median, standard deviation); the phase with the larger ``hers_area`` (else the
    higher ``aspl_peak_ev``: the glass is blue-shifted; else the first feature) is glass; the
    interface is the band around the phase boundary.

    Parameters
    ----------
    features : dict or xarray.Dataset
        Maps on one ``(y, x)`` grid (DataArrays or arrays), e.g. ``{"aspl_peak_ev": …, "hers_area": …}``.
    interface_um : float, optional
        Width of the interface band, µm (half on each side of the boundary, at least one pixel;
        the pixel size is the step of the first map's ``x`` coordinate, else 1). Default 2.0.
    interface_px : int, optional
        Interface pixels on each side of the boundary; overrides ``interface_um``.
    seed : int, optional
        Seed of the k-means initialisation. Default 0.
    status : xarray.DataArray or array of int, optional
        Per-pixel fit status on the same grid; default the ``status`` variable of a ``features``
        Dataset (which is not used as a feature). Pixels that are not a usable fit (``bad_pixels``:
        dead, not fitted, saturated) are left out like non-finite ones.

    Returns
    -------
    xarray.DataArray
        ``region``, int8, dims ``(y, x)``: 0 crystal, 1 interface, 2 glass, −1 where a feature is
        not finite or the fit is bad (``flag_values`` / ``flag_meanings`` attrs; names in
        ``REGION_NAMES``). Left-out pixels take no part in the clustering, and take the phase of
        their nearest good pixel when the interface band is drawn (no interface ring around a dead
        pixel); attr ``n_excluded`` counts them.

    Raises
    ------
    ValueError
        ``features`` is empty.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from hyperspec.spatial import segment_regions
    >>> hers = np.where(np.arange(8) < 4, 0.0, 10.0) * np.ones((6, 1))  # glass on the right half
    >>> features = {"hers_area": xr.DataArray(hers, dims=("y", "x"), coords={"x": np.arange(8) * 0.5})}
    >>> segment_regions(features, interface_um=1.0).values[0].tolist()
    [0, 0, 0, 1, 1, 2, 2, 2]
    """
    from scipy import ndimage  # noqa: PLC0415
    from scipy.cluster.vq import kmeans2  # noqa: PLC0415

    maps = dict(features.data_vars) if isinstance(features, xr.Dataset) else dict(features)
    if status is None and "status" in maps:
        status = maps["status"]
    maps.pop("status", None)
    if not maps:
        raise ValueError("segment_regions needs at least one band map.")
    first = next(iter(maps.values()))
    grid = first.transpose("y", "x") if isinstance(first, xr.DataArray) else None
    arrays = [np.asarray(v.transpose("y", "x").values if isinstance(v, xr.DataArray) else v, dtype=np.float64) for v in maps.values()]
    X = np.stack([a.ravel() for a in arrays], axis=1)
    ok = np.all(np.isfinite(X), axis=1)
    if status is not None:
        st = status.transpose("y", "x") if isinstance(status, xr.DataArray) else status
        ok &= ~bad_pixels(st).ravel()
    if not ok.any():
        raise ValueError("segment_regions: no pixel has finite features and a usable fit status.")
    Z = (X[ok] - np.median(X[ok], axis=0)) / np.maximum(X[ok].std(axis=0), 1e-300)
    _, lab = kmeans2(Z, 2, seed=seed, minit="++")
    names = list(maps)
    key = names.index("hers_area") if "hers_area" in names else (names.index("aspl_peak_ev") if "aspl_peak_ev" in names else 0)
    glass_cluster = int(np.argmax([Z[lab == c, key].mean() if np.any(lab == c) else -np.inf for c in (0, 1)]))
    glass = np.zeros(X.shape[0], dtype=bool)
    glass[np.flatnonzero(ok)] = lab == glass_cluster
    glass = glass.reshape(arrays[0].shape)
    bad = ~ok.reshape(glass.shape)
    if bad.any():  # the phase of the nearest good pixel: a left-out pixel makes no boundary of its own
        near = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
        glass = glass[tuple(near)]
    if interface_px is None:
        step = 1.0
        if grid is not None and "x" in grid.coords and grid.sizes["x"] > 1:
            step = float(grid["x"].values[1] - grid["x"].values[0])
        interface_px = max(1, round(interface_um / (2.0 * step)))
    structure = np.ones((3, 3), dtype=bool)
    near_crystal = ndimage.binary_dilation(~glass, structure, iterations=interface_px)
    near_glass = ndimage.binary_dilation(glass, structure, iterations=interface_px)
    labels = np.where(glass, 2, 0).astype(np.int8)
    labels[(glass & near_crystal) | (~glass & near_glass)] = 1
    labels[~ok.reshape(labels.shape)] = -1
    coords = {} if grid is None else {k: v for k, v in grid.coords.items() if set(v.dims) <= {"y", "x"}}
    attrs = {"flag_values": [-1, 0, 1, 2], "flag_meanings": "unknown crystal interface glass", "n_excluded": int(bad.sum())}
    return xr.DataArray(labels, dims=("y", "x"), coords=coords, name="region", attrs=attrs)


def _region_ids(lab: np.ndarray, background) -> list[int]:
    """The region labels present: every value ≥ 0 except ``background``."""
    values = np.unique(lab[lab >= 0]) if lab.size else np.array([], dtype=np.int64)
    return [int(v) for v in values if background is None or int(v) != int(background)]


def _region_names(values, names) -> list[str]:
    table = REGION_NAMES if names is None else names
    return [str(table.get(v, v)) if isinstance(table, dict) else str(v) for v in values]


def _check_labels(labels, func: str) -> xr.DataArray:
    from hyperspec._errors import DataModelError  # noqa: PLC0415

    if not isinstance(labels, xr.DataArray):
        raise DataModelError(
            f"{func}: `labels` must be an xarray.DataArray of integer labels on the pixel dims (e.g. ('y', 'x')); "
            f"got {type(labels).__name__}."
        )
    if labels.dtype.kind not in "iub":
        raise DataModelError(
            f"{func}: `labels` must hold integers (region ids, negative = none); got dtype {labels.dtype}. Use labels.astype(int)."
        )
    return labels


def _drop_bad(labels: xr.DataArray, status) -> xr.DataArray:
    """``labels`` with the pixels of unusable fits (``bad_pixels(status)``) set to −1 (no region)."""
    if status is None:
        return labels
    st = status if isinstance(status, xr.DataArray) else xr.DataArray(np.asarray(status), dims=labels.dims)
    bad = xr.DataArray(bad_pixels(st), dims=st.dims, coords=st.coords)
    return labels.where(~bad.broadcast_like(labels).transpose(*labels.dims), -1).astype(labels.dtype)


def _bbox(lab: xr.DataArray, keep: np.ndarray) -> dict:
    """``{dim: slice}`` of the smallest box holding every ``keep`` pixel (whole dims when there is none)."""
    box = {}
    for axis, dim in enumerate(lab.dims):
        other = tuple(a for a in range(lab.ndim) if a != axis)
        hit = np.flatnonzero(keep.any(axis=other)) if lab.ndim > 1 else np.flatnonzero(keep)
        if hit.size:
            box[dim] = slice(int(hit[0]), int(hit[-1]) + 1)
    return box


def region_spectra(
    ds: xr.Dataset, labels: xr.DataArray, *, names: dict | None = None, background: int | None = None, status=None
) -> xr.DataArray:
    """Mean spectrum of every region label (≥ 0).

    Only the chunks of the labelled pixels' bounding box are read (a small region of a large lazy map
    reads a small part of the cube).

    Parameters
    ----------
    ds : xarray.Dataset
        A map with ``spectra``.
    labels : xarray.DataArray
        Integer labels on (some of) the map's leading dims, e.g. ``segment_regions`` output;
        negative labels are left out. Dims of the map that ``labels`` lacks (e.g. ``t``) are averaged too.
    names : dict of int to str, optional
        Region names by label. Default ``REGION_NAMES`` (crystal / interface / glass), else the label.
    background : int, optional
        A label that is no region either (e.g. 0 for napari Labels layers and ``Shapes.to_labels``).
    status : xarray.DataArray or array of int, optional
        Per-pixel fit status on the labels' dims: pixels that are not a usable fit (``bad_pixels``) are left out.

    Returns
    -------
    xarray.DataArray
        Dims ``(region, spectral)``, counts (NaN channels ignored); ``region`` holds the label
        values; attrs ``n_pixels`` (per region) and ``names``.

    Raises
    ------
    DataModelError
        ``ds`` is not a valid map, or ``labels`` is not an integer DataArray.
    ValueError
        No pixel carries a region label.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> import hyperspec as hs
    >>> from hyperspec.spatial import region_spectra
    >>> ds = hs.from_array(np.arange(2 * 3 * 4.0).reshape(2, 3, 4), [100.0, 200.0, 300.0, 400.0])
    >>> labels = xr.DataArray([[0, 0, 2], [0, -1, 2]], dims=("y", "x"))
    >>> means = region_spectra(ds, labels)
    >>> np.round(means.values, 2).tolist(), means.attrs["names"], means.attrs["n_pixels"]
    ([[5.33, 6.33, 7.33, 8.33], [14.0, 15.0, 16.0, 17.0]], ['crystal', 'glass'], [3, 2])
    >>> region_spectra(ds, labels + 1, background=0, names={1: "left"}).attrs["names"]
    ['left', '3']
    """
    validate_map(ds)
    labels = _check_labels(labels, "region_spectra")
    labels = _drop_bad(labels, status)
    spectra = ds["spectra"]
    lab_values = np.asarray(labels.values)
    values = _region_ids(lab_values, background)
    if not values:
        raise ValueError("region_spectra: no pixel carries a region label (all negative or background); draw or label a region first.")
    box = _bbox(labels, np.isin(lab_values, values))
    spectra = spectra.isel({d: s for d, s in box.items() if d in spectra.dims})
    lab = labels.isel(box).broadcast_like(spectra.isel({SPECTRAL_DIM: 0}, drop=True))
    means = [spectra.where(lab == v).mean([d for d in spectra.dims if d != SPECTRAL_DIM]) for v in values]
    out = xr.concat(means, dim="region").assign_coords(region=values)
    lab_np = np.asarray(lab.values)
    out.attrs = {"n_pixels": [int((lab_np == v).sum()) for v in values], "names": _region_names(values, names)}
    return out.compute() if hasattr(out.data, "dask") else out


def region_mean(
    data: xr.DataArray, labels: xr.DataArray, *, names: dict | None = None, background: int | None = None, status=None
) -> xr.DataArray:
    """Mean of ``data`` over each region's pixels, keeping its other dims (e.g. a band's trace over ``t``).

    Parameters
    ----------
    data : xarray.DataArray
        Values on the labels' dims and any others, e.g. ``results["aspl_area"]`` on ``(t, y, x)``.
    labels : xarray.DataArray
        Integer labels on some of ``data``'s dims (e.g. ``(y, x)``); negative labels are left out.
    names : dict of int to str, optional
        Region names by label (attr ``names``). Default ``REGION_NAMES``, else the label.
    background : int, optional
        A label that is no region either (e.g. 0 for napari Labels layers).
    status : xarray.DataArray or array of int, optional
        Per-pixel fit status on the labels' dims: pixels that are not a usable fit (``bad_pixels``) are left out.

    Returns
    -------
    xarray.DataArray
        Dims ``("region", *other dims of data)``, in ``data``'s units (NaN values ignored; NaN where a
        region has no finite value); attrs ``n_pixels`` (labelled pixels per region), ``names`` and
        those of ``data``.

    Raises
    ------
    DataModelError
        ``labels`` is not an integer DataArray, or has a dim ``data`` lacks.
    ValueError
        No pixel carries a region label.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from hyperspec.spatial import region_mean
    >>> area = xr.DataArray(np.arange(12.0).reshape(2, 2, 3), dims=("t", "y", "x"))
    >>> labels = xr.DataArray([[1, 1, 0], [0, 0, 2]], dims=("y", "x"))
    >>> out = region_mean(area, labels, background=0)
    >>> out.dims, out.values.tolist(), out.attrs["n_pixels"]
    (('region', 't'), [[0.5, 6.5], [5.0, 11.0]], [2, 1])
    """
    from hyperspec._errors import DataModelError  # noqa: PLC0415

    labels = _check_labels(labels, "region_mean")
    labels = _drop_bad(labels, status)
    missing = [d for d in labels.dims if d not in data.dims]
    if missing:
        raise DataModelError(f"region_mean: `labels` has dims {missing} that the data ({data.dims}) lack; label the data's own pixel dims.")
    lab_values = np.asarray(labels.values)
    values = _region_ids(lab_values, background)
    if not values:
        raise ValueError("region_mean: no pixel carries a region label (all negative or background); draw or label a region first.")
    box = _bbox(labels, np.isin(lab_values, values))
    sub, lab = data.isel(box), labels.isel(box)
    means = [sub.where(lab == v).mean(list(labels.dims)) for v in values]
    out = xr.concat(means, dim="region").assign_coords(region=values)
    out.attrs = {**data.attrs, "n_pixels": [int((lab_values == v).sum()) for v in values], "names": _region_names(values, names)}
    return out.compute() if hasattr(out.data, "dask") else out


def region_table(
    results: xr.Dataset,
    labels: xr.DataArray,
    *,
    variables=None,
    names: dict | None = None,
    background: int | None = None,
    converged_only: bool = True,
):
    """Statistics of results variables per region: n, mean, standard deviation and median of each.

    Parameters
    ----------
    results : xarray.Dataset
        Per-pixel results (e.g. ``hyperspec.open("results.zarr")``), with ``status`` (0 = converged)
        when ``converged_only``.
    labels : xarray.DataArray
        Integer labels on the results' pixel dims (e.g. ``(y, x)``); negative labels are left out.
        Variables with dims the labels lack (e.g. ``t``) pool those too.
    variables : list of str, optional
        The variables to tabulate. Default: every numeric variable on the labels' dims except
        ``status`` and ``run_*`` bookkeeping.
    names : dict of int to str, optional
        Region names by label. Default ``REGION_NAMES``, else the label.
    background : int, optional
        A label that is no region either (e.g. 0 for napari Labels layers).
    converged_only : bool, optional
        Use only pixels whose ``status`` is 0 (when the results have one on the variable's dims).
        Default True.

    Returns
    -------
    pandas.DataFrame
        One row per region and variable: ``region`` (label), ``name``, ``variable``, ``units``,
        ``n_pixels`` (labelled pixels), ``n`` (finite values used), ``mean``, ``std`` (sample standard
        deviation, ddof = 1; NaN below 2 values), ``median`` (variable units; NaN when ``n`` is 0).

    Raises
    ------
    DataModelError
        ``labels`` is not an integer DataArray, or a requested variable is missing or lacks the
        labels' dims.
    ValueError
        No pixel carries a region label.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from hyperspec.spatial import region_table
    >>> res = xr.Dataset({"a_area": (("y", "x"), [[1.0, 3.0], [5.0, 7.0]], {"units": "counts*cm-1"}),
    ...                   "status": (("y", "x"), np.array([[0, 0], [0, 1]], np.int8))})
    >>> labels = xr.DataArray([[1, 1], [2, 2]], dims=("y", "x"))
    >>> table = region_table(res, labels, names={1: "top", 2: "bottom"})
    >>> table[["name", "variable", "n", "mean", "std", "median"]].values.tolist()
    [['top', 'a_area', 2, 2.0, 1.4142135623730951, 2.0], ['bottom', 'a_area', 1, 5.0, nan, 5.0]]
    """
    import pandas as pd  # noqa: PLC0415

    from hyperspec._errors import DataModelError  # noqa: PLC0415

    labels = _check_labels(labels, "region_table")
    lab_values = np.asarray(labels.values)
    values = _region_ids(lab_values, background)
    if not values:
        raise ValueError("region_table: no pixel carries a region label (all negative or background); draw or label a region first.")
    if variables is None:
        variables = [
            n
            for n, v in results.data_vars.items()
            if set(labels.dims) <= set(v.dims) and v.dtype.kind in "fiu" and n != "status" and not n.startswith("run_")
        ]
    else:
        variables = list(variables)
        for n in variables:
            if n not in results.data_vars:
                choices = ", ".join(map(str, results.data_vars))
                raise DataModelError(f"region_table: no variable {n!r} in the results; choose from {choices}.")
            if not set(labels.dims) <= set(results[n].dims):
                raise DataModelError(
                    f"region_table: {n!r} has dims {results[n].dims}, without the labels' {labels.dims}; pick a per-pixel variable."
                )
    box = _bbox(labels, np.isin(lab_values, values))
    sub = results[variables + (["status"] if converged_only and "status" in results else [])].isel(
        {d: s for d, s in box.items() if d in results.dims})  # fmt: skip
    sub = sub.compute()  # one read of the bounding box for every variable
    lab = labels.isel(box)
    region_names = _region_names(values, names)
    rows = []
    for name in variables:
        var = sub[name]
        lab_b = np.asarray(lab.broadcast_like(var).transpose(*var.dims).values)
        v = np.asarray(var.values, dtype=np.float64)
        ok = np.isfinite(v)
        if converged_only and "status" in sub and set(sub["status"].dims) <= set(var.dims):
            ok &= np.asarray((sub["status"] == 0).broadcast_like(var).transpose(*var.dims).values)
        for region, rname in zip(values, region_names, strict=True):
            inside = lab_b == region
            x = v[inside & ok]
            n = int(x.size)
            rows.append({
                "region": region, "name": rname, "variable": name, "units": str(var.attrs.get("units", "") or ""),
                "n_pixels": int((lab_values == region).sum()), "n": n,
                "mean": float(x.mean()) if n else float("nan"),
                "std": float(x.std(ddof=1)) if n > 1 else float("nan"),
                "median": float(np.median(x)) if n else float("nan"),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=["region", "name", "variable", "units", "n_pixels", "n", "mean", "std", "median"])


def filter_map(image: xr.DataArray, kind: str = "median", size: float = 3, *, status=None) -> xr.DataArray:
    """Median (``size`` pixels) or Gaussian (σ = ``size`` pixels) filter of a parameter map over (y, x).

    Leading dims (e.g. ``t``) are filtered frame by frame; edges repeat the nearest pixel. The
    Gaussian filter is NaN-aware (a normalised convolution: NaN only where no finite neighbour
    weighs in); the median filter is not.

    Parameters
    ----------
    image : xarray.DataArray
        A map with dims ``y`` and ``x`` (and any others).
    kind : {"median", "gaussian"}, optional
        The filter. Default ``"median"``.
    size : float, optional
        Median window side in pixels (truncated to an integer), or the Gaussian σ in pixels. Default 3.
    status : xarray.DataArray, optional
        Per-pixel fit status (e.g. ``results["status"]``, dims among the image's). Pixels without a
        usable fit (:func:`bad_pixels`: dead, not fitted, saturated) take no part in the filter (the
        median sees them in-painted from their good neighbours, the Gaussian leaves them out) and are
        NaN in the result, so a dead or saturated pixel never spreads into its neighbours.

    Returns
    -------
    xarray.DataArray
        The filtered map, same dims, coords and attrs; float32 or wider (float64 for float64 input).

    Raises
    ------
    ValueError
        ``kind`` is not ``"median"`` or ``"gaussian"``.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from hyperspec.spatial import filter_map
    >>> spike = xr.DataArray(np.array([[1.0, 1, 1], [1, 100, 1], [1, 1, 1]]), dims=("y", "x"))
    >>> filter_map(spike).values.tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    >>> round(float(filter_map(spike, "gaussian", 1.0)[1, 1]), 2)
    16.76
    """
    from scipy import ndimage  # noqa: PLC0415

    img = np.asarray(image.transpose(..., "y", "x").values, dtype=np.float64)
    bad = None
    if status is not None:
        if not isinstance(status, xr.DataArray) or not set(status.dims) <= set(image.dims):
            got = getattr(status, "dims", type(status).__name__)
            raise ValueError(f"filter_map: status must be a DataArray whose dims are among the image's {image.dims}; got {got}.")
        flags = xr.DataArray(bad_pixels(status), dims=status.dims, coords={d: status[d] for d in status.dims if d in status.coords})
        bad = np.asarray(flags.broadcast_like(image).transpose(*image.transpose(..., "y", "x").dims).values, dtype=bool)
        img = np.where(bad, np.nan, img)
    if kind == "median":
        footprint = [1] * (img.ndim - 2) + [int(size), int(size)]
        src = img
        if bad is not None:  # in-paint the left-out pixels frame by frame, so the median window never sees them
            frames = img.reshape(-1, *img.shape[-2:])
            flags2 = bad.reshape(-1, *img.shape[-2:])
            src = np.stack([_inpaint(f, b) for f, b in zip(frames, flags2, strict=True)]).reshape(img.shape)
        out = ndimage.median_filter(src, size=footprint, mode="nearest")
    elif kind == "gaussian":
        sigma = [0.0] * (img.ndim - 2) + [float(size), float(size)]
        finite = np.isfinite(img)
        num = ndimage.gaussian_filter(np.where(finite, img, 0.0), sigma, mode="nearest")
        den = ndimage.gaussian_filter(finite.astype(float), sigma, mode="nearest")
        out = np.where(den > 1e-6, num / np.where(den > 1e-6, den, 1.0), np.nan)
    else:
        raise ValueError(f"unknown filter {kind!r}; use 'median' or 'gaussian'.")
    if bad is not None:
        out = np.where(bad, np.nan, out)
    res = image.transpose(..., "y", "x").copy(data=out.astype(np.result_type(image.dtype, np.float32)))
    if bad is not None:
        res.attrs["n_excluded"] = int(bad.sum())
    return res.transpose(*image.dims)
