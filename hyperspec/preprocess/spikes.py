"""Cosmic-ray (spike) removal that uses the map, and masks for dead and saturated pixels.

A spike is judged against the **same channel in neighbouring pixels and frames**: the 8 spatial
neighbours in (y, x) and the same pixel in the previous and next frame (``t``), whichever the map
has. For a single spectrum (no neighbours) the reference is a running median along the spectrum.
A channel is a spike when

1. its excess over the neighbours' median (each neighbour first scaled to the pixel, 32-channel block
   by block) is above ``threshold`` × the local noise (a robust scale of the excess in 32-channel
   blocks, pooled over the pixel and its neighbours; on the map's edge never below 0.7 × the pixel's
   own), and is a local maximum;
2. the excess is **spectrally narrow**: its equivalent width Σ_{|k|≤3} e[c+k] / e[c] is below
   ``max_width`` channels and it has no line-shape tails, Σ_{2≤|k|≤3} e[c+k] / e[c] < 0.5. Cosmic
   rays hit 1–3 camera pixels (equivalent width ≤ 2.4, no tails); real emission such as a Lorentzian
   SBPL line has tails (HWHM 1.5 channels: width 3.5, tails 1.1) and is kept;
3. on kinetic maps (a ``t`` dim) the excess is **not persistent**: a ray hits one frame, while an SBPL
   line lasts one frame or more. A candidate whose pixel shows, in the previous or next frame within
   one channel, an excess above 0.4 × ``threshold`` × noise and above half the candidate's, **of the
   same shape** (centroid within 0.6 channel, second moment within 0.25 channel², beyond the noise),
   is kept, however narrow (an SBPL line of HWHM below one channel that lasts two frames and moves by
   a fraction of a channel is kept; a ray in the frame before a wider line, or beside another ray, is not).

What cannot be told apart is left as a spike: a one-frame line narrower than about 3 channels
(FWHM) looks like a ray. A ray that lands on a persistent line, weaker than the line, is kept with it,
and so is a ray at the pixel and channels of a ray of the frame before or after with the same shape
(that is what a narrow line lasting two frames looks like).
A spectrum's last block of channels overlaps the one before it when the channels are not a multiple
of 32 (never padded: copies of one value would make its noise scale zero and its end a "spike").

Flagged channels grow to their neighbours while the excess stays above ``grow`` × noise, are
replaced by the neighbours' median, and are recorded in ``spike_mask``. Saturated and dead (flat)
pixels are never "repaired": they are flagged in ``saturated_mask`` and ``dead_pixel`` and left as
they are (a clipped spectrum cannot be compared with its neighbours).
Everything is written against ``xp`` (NumPy or CuPy) and batched over pixels; lazy maps are processed
chunk by chunk with a one-pixel overlap.
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, get_namespace, like, resolve_backend
from hyperspec.model import SPECTRAL_DIM, add_history, validate_map

__all__ = ["find_spikes", "remove_spikes"]

_SPATIAL = ("y", "x")
_TIME = ("t",)
_BLOCK = 32


def _neighbour_offsets(dims: tuple[str, ...], shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Offsets (one per pixel dim) of the neighbours a pixel is compared with."""
    spatial = [i for i, d in enumerate(dims) if d in _SPATIAL and shape[i] > 1]
    if not spatial and len(dims) == 1 and dims[0] not in _TIME and shape[0] > 1:
        spatial = [0]  # a line scan with a non-standard dim name
    timelike = [i for i, d in enumerate(dims) if d in _TIME and shape[i] > 1]
    offsets = []
    for combo in itertools.product((-1, 0, 1), repeat=len(spatial)):
        if any(combo):
            off = [0] * len(dims)
            for i, c in zip(spatial, combo, strict=True):
                off[i] = c
            offsets.append(tuple(off))
    for i in timelike:
        for c in (-1, 1):
            off = [0] * len(dims)
            off[i] = c
            offsets.append(tuple(off))
    return offsets


def _neighbour_views(y, dims, xp, include_self: bool = False):
    """Each neighbour's spectra moved onto the pixel (edges: mirrored): a list of arrays of ``y``'s shape, or None."""
    pix_shape = y.shape[:-1]
    offsets = _neighbour_offsets(dims, pix_shape)
    if len(offsets) < 2:
        return None
    if include_self:
        offsets = [(0,) * len(pix_shape), *offsets]
    yp = y
    for axis, n in enumerate(pix_shape):  # mirror (not replicate): an edge pixel must never be its own neighbour
        pad = [(0, 0)] * y.ndim
        pad[axis] = (1, 1)
        yp = xp.pad(yp, pad, mode="reflect" if n > 1 else "edge")
    views = []
    for off in offsets:
        sl = tuple(slice(1 + o, 1 + o + n) for o, n in zip(off, pix_shape, strict=True)) + (slice(None),)
        views.append(yp[sl])
    return views


def _reference(y, dims, xp, include_self: bool = False):
    """The median of each channel over the neighbours (edges: mirrored), shape of ``y``."""
    views = _neighbour_views(y, dims, xp, include_self)
    return None if views is None else xp.median(xp.stack(views), axis=0)


def _running_median(y, xp, width: int = 7):
    h = width // 2
    yp = xp.pad(y, [(0, 0)] * (y.ndim - 1) + [(h, h)], mode="edge")
    m = y.shape[-1]
    return xp.median(xp.stack([yp[..., k : k + m] for k in range(width)]), axis=0)


def _blocks(a, xp):
    """(…, m) → (…, n_blocks, 32): consecutive blocks, the last one the spectrum's last 32 channels.

    A short last block is not padded (copies of one value would shrink its robust noise scale to
    nothing and flag the spectrum's end as spikes): it overlaps the block before it. Spectra of fewer
    than 32 channels are one block.
    """
    m = a.shape[-1]
    if m <= _BLOCK:
        return a[..., None, :]
    nb = -(-m // _BLOCK)
    full = a[..., : (nb - 1) * _BLOCK].reshape(*a.shape[:-1], nb - 1, _BLOCK)
    return xp.concatenate([full, a[..., None, m - _BLOCK :]], axis=-2)


def _unblock(b, m, xp):
    """Per-block values (…, n_blocks, 1) broadcast back to channels (…, m)."""
    full = xp.broadcast_to(b, (*b.shape[:-1], _BLOCK))
    return full.reshape(*b.shape[:-2], b.shape[-2] * _BLOCK)[..., :m]


_OWN_NOISE = 0.7  # at the edge the pooled noise scale is at least this × the pixel's own (a MAD of 32 scatters by ±20 %)


def _edge_pixels(shape, dims, xp):
    """Pixels on the first or last row of a spatial dim (``y``, ``x``) that has neighbours: bool, ``shape``."""
    edge = xp.zeros(shape, dtype=bool)
    for axis, (d, n) in enumerate(zip(dims, shape, strict=True)):
        if d in _SPATIAL and n > 1:
            idx = xp.arange(n)
            at = (idx == 0) | (idx == n - 1)
            edge = edge | at.reshape((1,) * axis + (n,) + (1,) * (len(shape) - axis - 1))
    return edge


def _block_noise(e, level, xp, dims=None):
    """Noise of the excess per channel: a robust (MAD) scale per pixel and 32-channel block.

    The shot noise is scaled by √level within the block (so a bright band does not pass for a spike).
    With ``dims``, the scale is pooled (median) over the pixel and its neighbours: 9 × 32 samples, not 32;
    on the map's spatial edge it is never below 0.7 × the pixel's own scale (its mirrored neighbours
    repeat, so its excess can be clearly noisier than its neighbours': a 7 σ noise peak there in a corner
    pixel passed for a ray).
    """
    m = e.shape[-1]
    root = xp.sqrt(xp.maximum(level, 1.0))
    eb = _blocks(e, xp)
    med = xp.median(eb, axis=-1, keepdims=True)
    k = 1.4826 * xp.median(xp.abs(eb - med) / _blocks(root, xp), axis=-1, keepdims=True)
    pooled = None if dims is None else _reference(k[..., 0], dims, xp, include_self=True)
    if pooled is not None:  # at the map's edge, never far below the pixel's own scale: its reference, from
        edge = _edge_pixels(k.shape[:-2], dims, xp)[..., None, None]  # mirrored neighbours, is noisier
        k = xp.where(edge, xp.maximum(pooled[..., None], _OWN_NOISE * k), pooled[..., None])
    else:  # no neighbours: pool over the spectrum's own blocks (a single noise scale per spectrum)
        k = xp.broadcast_to(xp.median(k, axis=-2, keepdims=True), k.shape)
    return _unblock(k, m, xp) * root, _unblock(med, m, xp)


def _block_medians(a, xp):
    """Median of each 32-channel block (``_blocks``), shape (…, n_blocks)."""
    return xp.median(_blocks(a, xp), axis=-1)


def _scaled(ref, y, xp, num=None, den=None):
    """The spectra ``ref`` scaled to the pixel per 32-channel block (ratio of block medians).

    A band that is brighter here than next door (e.g. behind the steep notch edge) leaves no narrow
    excess. ``num``, ``den``: the block medians (``_block_medians``) of ``y`` and ``ref``, when at hand.
    """
    m = y.shape[-1]
    num = _block_medians(y, xp) if num is None else num
    den = _block_medians(ref, xp) if den is None else den
    ok = (den > 0) & (num > 0)
    scale = xp.where(ok, num / xp.where(ok, den, 1.0), 1.0)  # (…, n_blocks)
    nb = scale.shape[-1]
    if nb == 1:
        return ref * scale
    # linear between block centres, so the scaled reference has no steps at block edges
    u = np.clip((np.arange(m) + 0.5) / _BLOCK - 0.5, 0.0, nb - 1.0)
    lo = np.minimum(np.floor(u).astype(np.int64), nb - 2)
    frac = xp.asarray(u - lo)
    lo = xp.asarray(lo)
    return ref * (scale[..., lo] * (1.0 - frac) + scale[..., lo + 1] * frac)


def _scaled_reference(y, dims, xp):
    """The median over the neighbours of each neighbour scaled to the pixel (``_scaled``, block by block).

    Scaling each neighbour before the median, not the median after it: neighbours whose band differs
    in height (a band that blinks between the frames, a brightness gradient across the map) all follow
    the pixel, so the median no longer jumps between neighbours of different shape from channel to
    channel (that left a structured excess of 2–3 σ beside a ray, which the narrow test took for tails).
    Returns the scaled reference and the unscaled one (the plain median), or ``(None, None)`` without neighbours.
    """
    views = _neighbour_views(y, dims, xp)
    if views is None:
        return None, None
    num = _block_medians(y, xp)
    dens = _neighbour_views(num, dims, xp)  # a neighbour's block medians are the map's, moved like its spectra
    ref = xp.median(xp.stack([_scaled(v, y, xp, num, d) for v, d in zip(views, dens, strict=True)]), axis=0)
    return ref, xp.median(xp.stack(views), axis=0)


def _shift(a, k, xp, fill=0.0):
    """``a`` moved by ``k`` channels along the last axis: out[..., j] = a[..., j − k] (``fill`` outside)."""
    out = xp.full_like(a, fill)
    if k > 0:
        out[..., k:] = a[..., :-k]
    elif k < 0:
        out[..., :k] = a[..., -k:]
    else:
        out[...] = a
    return out


def find_spikes(y, dims: tuple[str, ...], *, threshold: float = 7.0, max_width: float = 3.2, grow: float = 3.0, valid=None):
    """Spike mask and replacement values for spectra ``y`` (…pixel dims…, m) named by ``dims``.

    Parameters
    ----------
    y : array, shape (..., m)
        Spectra (counts; NumPy or CuPy), the spectral axis last.
    dims : tuple of str
        Names of ``y``'s leading (pixel) dims, e.g. ``("y", "x")``: the neighbours come from the spatial
        (``y``, ``x``) and time (``t``) dims.
    threshold : float, optional
        An excess above this many times the local noise is a spike candidate (default 7).
    max_width : float, optional
        Equivalent width (channels) below which an excess counts as a spike (default 3.2); it must
        also have no line-shape tails and, on a ``t`` dim, not persist into the next or previous frame.
    grow : float, optional
        Neighbouring channels above this many times the noise join the spike (default 3).
    valid : array of bool, shape (...), optional
        Pixels that take part in detection (default all); dead or non-finite pixels are excluded.

    Returns
    -------
    mask : array of bool, shape (..., m)
        The spike channels.
    reference : array, shape (..., m)
        The values that replace them (the neighbours' median scaled to the pixel), float64.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).poisson(100.0, (3, 3, 64)).astype(float)
    >>> y[1, 1, 30] += 5000.0  # a cosmic ray
    >>> mask, ref = find_spikes(y, ("y", "x"))
    >>> bool(mask[1, 1, 30]), int(mask.sum()) < 4
    (True, True)
    """
    xp = get_namespace(y)
    y = xp.asarray(y, dtype=xp.float64)
    finite = xp.isfinite(y)
    yc = xp.where(finite, y, 0.0)
    level = _running_median(yc, xp)
    ref, raw = _scaled_reference(yc, dims, xp)
    ref = level if ref is None else ref
    e = yc - ref
    sig, base = _block_noise(e, level, xp, dims)
    sig = xp.maximum(sig, 1e-9 + 1e-6 * xp.abs(ref))
    z = (e - base) / sig
    peak = (z > threshold) & (e >= _shift(e, 1, xp, -np.inf)) & (e >= _shift(e, -1, xp, -np.inf)) & finite
    narrow = _narrow(e - base, max_width, xp)
    if raw is not None:  # narrow against the unscaled neighbours too: scaling a block with a band in it
        raw_e = yc - raw  # must not carve a narrow excess out of that band
        raw_base = _unblock(xp.median(_blocks(raw_e, xp), axis=-1, keepdims=True), raw_e.shape[-1], xp)
        narrow &= _narrow(_minus_local(raw_e - raw_base, xp), max_width, xp)
    mask = peak & narrow
    mask &= ~_persistent(e - base, sig, dims, threshold, xp)
    if valid is not None:
        mask = mask & xp.asarray(valid)[..., None]
    above = (z > grow) & finite
    for _ in range(2):  # grow to the ray's wings (rays are ≤ 3 channels; allow 2 each side)
        mask = mask | ((_shift(mask, 1, xp, False) | _shift(mask, -1, xp, False)) & above)
    return mask, ref


_PERSIST_Z = 0.4  # a neighbouring frame's excess above this × threshold × noise …
_PERSIST_FRAC = 0.5  # … and above this fraction of the candidate's excess makes the candidate persistent
_PERSIST_SUPPORT = 0.25  # a neighbour's excess one channel off counts if its excess at the candidate's channel is above this fraction
_MAX_TAIL = 0.5  # Σ_{2≤|k|≤3} e[c+k] / e[c] below this: no line-shape tails (a ray is ≤ 3 channels)


def _persistent(e, sig, dims, threshold, xp):
    """Where the same pixel shows the same excess in the previous or next frame too (``t``): real emission.

    A cosmic ray hits one frame; an SBPL line lasts one frame or more, with the same centre and width.
    A candidate at channel c is persistent when a neighbouring frame has, within c ± 1, an excess above
    ``0.4 × threshold`` × noise and above half the candidate's excess (at c ± 1 only if its excess at c
    is above a quarter of the candidate's too: two rays in consecutive frames one channel apart are both
    rays), **and** that excess can be the same emission (``_same_emission``): a ray that lands on the pixel
    in the frame before an SBPL line, or where the frame before had a ray of its own at the same channel,
    differs from it in shape and is still a ray.
    """
    z = e / sig
    mom = None
    out = xp.zeros(e.shape, dtype=bool)
    for axis, d in enumerate(dims):
        if d not in _TIME or e.shape[axis] < 2:
            continue
        if mom is None:  # area, centroid, second moment, noise: the neighbour frame's are these, moved
            mom = (*_moments(e, xp), sig)
        for step in (-1, 1):
            n = e.shape[axis]
            src = [slice(None)] * e.ndim
            dst = [slice(None)] * e.ndim
            src[axis] = slice(max(0, step), n + min(0, step))
            dst[axis] = slice(max(0, -step), n - max(0, step))
            e_nb = xp.full_like(e, -np.inf)
            z_nb = xp.full_like(z, -np.inf)
            e_nb[tuple(dst)] = e[tuple(src)]
            z_nb[tuple(dst)] = z[tuple(src)]
            mom_nb = []
            for q in mom:
                q_nb = xp.ones_like(q)  # no frame there: `seen` is False
                q_nb[tuple(dst)] = q[tuple(src)]
                mom_nb.append(q_nb)
            seen = [
                (_shift(z_nb, k, xp, -np.inf) > _PERSIST_Z * threshold) & (_shift(e_nb, k, xp, -np.inf) > _PERSIST_FRAC * e)
                for k in (-1, 0, 1)
            ]
            # one channel off only where the neighbour's excess also covers c: the same line, its peak moved by the
            # noise; a ray of the next frame one channel over (its excess at c ≈ 0) does not make this one persistent
            seen = seen[1] | ((seen[0] | seen[2]) & (e_nb > _PERSIST_SUPPORT * e))
            out |= seen & _same_emission(mom, mom_nb, xp)
    return out


_SHAPE_HALF = 2  # the excesses are compared over c ± 2 (a ray is ≤ 3 channels)
_SHAPE_MOVE = 0.6  # channels: a line's centroid moves less than this between frames …
_SHAPE_WIDEN = 0.25  # channels²: … and its second moment changes less than this (sub-channel moves of a Lorentzian)
_SHAPE_SIGMA = 3.0  # beyond the noise of the two moments, in its standard deviations
_SHAPE_MIN_AREA = 12.0  # both excesses' areas over c ± 2 above this × σ (area S/N > 5), else they count as the same


def _moments(e, xp):
    """Area, centroid and second central moment (channels, channels²) of ``e`` over c ± 2, at every channel c."""
    ks = range(-_SHAPE_HALF, _SHAPE_HALF + 1)
    s0 = sum(_shift(e, -k, xp) for k in ks)  # _shift(e, -k)[..., c] = e[..., c + k]
    s1 = sum(k * _shift(e, -k, xp) for k in ks if k)
    s2 = sum(k * k * _shift(e, -k, xp) for k in ks if k)
    area = xp.where(xp.abs(s0) > 1.0, s0, 1.0)  # below one count the moments are never judged (_same_emission)
    mu = s1 / area
    return s0, mu, s2 / area - mu * mu


def _same_emission(mom, mom_nb, xp):
    """Where another frame's excess around each channel c can be the same emission as this frame's there.

    A persistent SBPL line keeps its width from frame to frame and moves by less than a channel (it
    follows its host band). Over c ± 2, the centroid μ and the second central moment w of the two
    excesses are compared: they differ when |Δμ| > 0.6 channel or |Δw| > 0.25 channel² beyond 3 × their
    noise (σ_μ ≈ σ √10 / area, σ_w ≈ σ √34 / area). A sub-channel move of a Lorentzian of any width
    changes μ by less than the move and w by less than 0.2 channel²; a ray in the frame before a line
    (the line is wider: w differs), or one channel beside another ray (μ differs), is not the same.
    Weak excesses (an area over c ± 2 below 12 σ, S/N < 5) always count as the same: the candidate stays persistent.

    Parameters
    ----------
    mom, mom_nb : tuple of 4 arrays, shape (..., m)
        ``(area, centroid, second moment, noise)`` of the excess (``_moments``; counts, channels,
        channels², counts per channel) in the candidate's frame and, moved onto it, the neighbouring frame's.

    Returns
    -------
    array of bool, shape (..., m)
    """
    a, mu, w, sig = mom
    a_nb, mu_nb, w_nb, sig_nb = mom_nb
    rel = (sig / xp.maximum(a, sig)) ** 2 + (sig_nb / xp.maximum(a_nb, sig_nb)) ** 2  # (σ/area)², both frames; area ≥ σ
    moved = xp.abs(mu - mu_nb) > _SHAPE_MOVE + _SHAPE_SIGMA * xp.sqrt(10.0 * rel)
    widened = xp.abs(w - w_nb) > _SHAPE_WIDEN + _SHAPE_SIGMA * xp.sqrt(34.0 * rel)
    judged = (a > _SHAPE_MIN_AREA * sig) & (a_nb > _SHAPE_MIN_AREA * sig_nb)  # moments of a weak excess are noise
    return ~(judged & (moved | widened))


def _minus_local(e, xp):
    """``e`` less its local level: the mean over the channels 4–7 either side of each channel.

    The unscaled neighbours differ from a pixel by a broad brightness step that a block's median does
    not take out where the step varies within the block; the narrow test of an excess then sees that
    step as line tails (a 778-count ray on a pixel 80 counts brighter than its neighbours failed it).
    """
    local = xp.zeros_like(e)
    for k in (4, 5, 6, 7):
        local = local + _shift(e, k, xp) + _shift(e, -k, xp)
    return e - local / 8.0


def _narrow(e, max_width, xp):
    """Where the excess ``e`` is spectrally narrow: Σ_{|k|≤3} e[c+k] < max_width · e[c], without tails.

    Tails: Σ_{2≤|k|≤3} e[c+k] < 0.5 · e[c] (a Lorentzian of HWHM 1.5 channels has 1.1, a ray of ≤ 3 channels 0).
    """
    width = xp.zeros_like(e)
    for k in range(-3, 4):
        width = width + _shift(e, k, xp)
    tail = _shift(e, 2, xp) + _shift(e, -2, xp) + _shift(e, 3, xp) + _shift(e, -3, xp)
    scale = xp.maximum(e, 1e-300)
    return (width < max_width * scale) & (tail < _MAX_TAIL * scale)


def _dead_pixels(y, xp, offset=None):
    """Dead pixels: zero or constant counts, or only the detector's ``offset`` (the decompose preflight's ``dead``).

    A dim pixel without a band (substrate) is not dead: it is searched for spikes like any other.
    """
    from hyperspec._quality import dead_spectra  # noqa: PLC0415

    return dead_spectra(xp, y.reshape(-1, y.shape[-1]), offset=offset).reshape(y.shape[:-1])


def remove_spikes(
    ds: xr.Dataset,
    *,
    threshold: float = 7.0,
    max_width: float = 3.2,
    grow: float = 3.0,
    saturation: float | None = None,
    backend: str | Backend | None = None,
) -> xr.Dataset:
    """The map with spikes replaced from neighbouring pixels/frames, plus the masks to inspect.

    Spectra without spikes are returned unchanged, bit for bit. Lazy (Dask) maps stay lazy, each
    block read with a one-pixel halo (three frames along ``t``: the persistence test needs its neighbours' noise).

    Parameters
    ----------
    ds : xarray.Dataset
        A map with ``spectra`` (counts).
    threshold : float, optional
        An excess above this many times the local noise is a spike candidate (default 7).
    max_width : float, optional
        Equivalent width (channels) below which an excess counts as a spike (default 3.2).
    grow : float, optional
        Neighbouring channels above this many times the noise join the spike (its wings; default 3).
    saturation : float, optional
        Counts at or above which a channel is saturated; default the ``saturation_counts`` attr, else
        65535 together with the flat tops ``hyperspec._quality.flat_top_saturation`` finds.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Compute backend; default ``$HYPERSPEC_BACKEND``, else ``"auto"`` (see ``resolve_backend``).

    Returns
    -------
    xarray.Dataset
        ``ds`` with repaired ``spectra`` plus ``spike_mask`` (bool, the spectra's grid),
        ``saturated_mask`` (bool, channels at or above ``saturation``) and ``dead_pixel`` (bool per pixel).

    Raises
    ------
    BackendError
        For an unknown or unusable backend.

    Examples
    --------
    >>> import hyperspec
    >>> ds, _ = hyperspec.synthetic.cspbbr3_map((4, 4), n_spectral=128, seed=0)
    >>> out = remove_spikes(ds, backend="numpy")
    >>> out["spike_mask"].dims == ds["spectra"].dims
    True
    """
    validate_map(ds)
    be = resolve_backend(backend)
    spectra = ds["spectra"]
    dims = tuple(d for d in spectra.dims if d != SPECTRAL_DIM)
    detect = saturation is None and "saturation_counts" not in ds.attrs  # no stated full scale: also look for flat tops
    if saturation is None:
        saturation = float(ds.attrs.get("saturation_counts", 65535.0))

    def block(arr):
        xp = be.xp
        y = xp.asarray(arr)
        finite_px = xp.all(xp.isfinite(y), axis=-1)
        dead = _dead_pixels(xp.where(xp.isfinite(y), y, 0.0), xp, ds.attrs.get("offset_counts")) & finite_px
        sat = xp.isfinite(y) & (y >= saturation)
        if detect:  # the decompose preflight's test (hyperspec._quality), so both flag the same pixels
            from hyperspec._quality import flat_top_saturation  # noqa: PLC0415

            rows = xp.asarray(y, dtype=xp.float64).reshape(-1, y.shape[-1])
            sat = sat | flat_top_saturation(xp, rows).reshape(y.shape)
        # a saturated spectrum is clipped: its shape no longer matches its neighbours', so it is only flagged
        mask, ref = find_spikes(y, dims, threshold=threshold, max_width=max_width, grow=grow, valid=~dead & ~xp.any(sat, axis=-1))
        cleaned = xp.where(mask, ref.astype(y.dtype), y)
        flags = (mask.astype(xp.uint8) | (sat.astype(xp.uint8) << 1)) | (dead[..., None].astype(xp.uint8) << 2)
        return like(cleaned, arr), like(flags, arr)  # device data stays on the device (a pipeline block)

    data = spectra.data
    if hasattr(data, "dask"):
        import dask.array as da  # noqa: PLC0415

        depth = {i: (1 if d in _SPATIAL else 3 if d in _TIME else 0) for i, d in enumerate(spectra.dims)}  # t: persistence
        depth[spectra.ndim - 1] = 0
        m = spectra.shape[-1]
        packed_dtype = np.result_type(data.dtype, np.float32)  # flags (0–7) are exact in any float

        def packed(a):  # one detection per block: spectra and flags side by side along the spectral axis
            c, f = block(a)
            return np.concatenate([c.astype(packed_dtype), f.astype(packed_dtype)], axis=-1)

        grown = da.overlap.overlap(data, depth=depth, boundary="none")
        out_chunks = grown.chunks[:-1] + ((2 * m,),)
        both = da.overlap.trim_internal(grown.map_blocks(packed, dtype=packed_dtype, chunks=out_chunks), depth, boundary="none")
        cleaned = both[..., :m].astype(data.dtype)
        flags = both[..., m:].astype(np.uint8)
    else:
        cleaned, flags = block(data)
    out = ds.copy()
    out["spectra"] = spectra.copy(data=cleaned)
    flags = spectra.copy(data=flags)
    out["spike_mask"] = (flags & 1).astype(bool)
    out["saturated_mask"] = (flags & 2).astype(bool)
    out["dead_pixel"] = ((flags & 4) > 0).any(SPECTRAL_DIM)
    for name, text in (
        ("spike_mask", "channels replaced as spikes"),
        ("saturated_mask", f"channels at or above {saturation:g} counts (not repaired)"),
        ("dead_pixel", "dead pixels: zero or constant counts, or only the detector offset (not repaired)"),
    ):
        out[name].attrs = {"long_name": text, "units": "1"}
    out.attrs = dict(ds.attrs)
    add_history(out.attrs, "remove_spikes", threshold=threshold, max_width=max_width, grow=grow, saturation=saturation, backend=be.name)
    return out
