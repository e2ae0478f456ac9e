"""Physics-based synthetic maps with ground truth (tests, demo, benchmarks, napari samples).

Four kinds, each returning ``(ds, truth)`` — the map Dataset and a ground-truth Dataset on the
same grid (per-spectrum band parameters, band areas, regions, SBPL peaks, cosmic-ray mask,
defects, drift, blinking periods and power exponents):

- ``cspbbr3_map``: ``(y, x, spectral)`` CsPbBr₃ crystal, glass and their ≈2 µm interface;
- ``kinetic_line``: ``(t, x, spectral)`` a line recorded every 200 ms with blinking bands;
- ``kinetic_map``: ``(t, y, x, spectral)`` the same on an area;
- ``power_series``: ``(power, y, x, spectral)`` with aS-PL ∝ P^k, k = 1 (crystal) … 2 (glass).

Everything is lazy (dask): ``write`` streams a map of any size to a store chunk by chunk.
All scene parameters (``hyperspec.synthetic.Scene``) can be overridden by keyword.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from hyperspec.synthetic._generator import DEFECT_CODES, Generator, with_overrides
from hyperspec.synthetic._scene import COMPONENTS, RAMAN_LINES, Scene, notch_transmission, render

__all__ = [
    "Scene",
    "KINDS",
    "RAMAN_LINES",
    "COMPONENTS",
    "DEFECT_CODES",
    "cspbbr3_map",
    "kinetic_line",
    "kinetic_map",
    "power_series",
    "simulate",
    "write",
    "components",
]

KINDS = ("map", "kinetic-line", "kinetic-map", "power")
DEFAULT_POWERS_MW = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
_TARGET_CHUNK_SPECTRA = 4096


def _chunks(sizes: dict[str, int], n_spectral: int, chunks) -> dict[str, int]:
    if chunks is not None:
        return {d: int(chunks.get(d, s)) for d, s in sizes.items()}
    import dask.array as da  # noqa: PLC0415

    spec = tuple(["auto"] * len(sizes) + [-1])
    shape = (*sizes.values(), n_spectral)
    norm = da.core.normalize_chunks(spec, shape, limit=_TARGET_CHUNK_SPECTRA * n_spectral * 4, dtype=np.float32)
    return {d: int(c[0]) for d, c in zip(sizes, norm[:-1], strict=True)}


def _check_size(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer ≥ {minimum}; got {value!r}.")
    return int(value)


def _generator(
    kind: str,
    sizes: dict[str, int],
    *,
    n_spectral=1024,
    seed=0,
    noise=True,
    artefacts=True,
    chunks=None,
    scene=None,
    powers_mw=None,
    dtype=np.float32,
    **overrides,
):
    """Validate arguments and build the Generator and its chunking (the one place all kinds go through)."""
    for name, value in sizes.items():
        _check_size(f"size of {name!r}", value)
    _check_size("n_spectral", n_spectral, 16)
    sc = with_overrides(scene, overrides)
    gen = Generator(
        kind, sizes, n_spectral=n_spectral, seed=seed, noise=noise, artefacts=artefacts, scene=sc, powers_mw=powers_mw, dtype=dtype
    )
    return gen, _chunks(sizes, n_spectral, chunks)


def _sizes(kind: str, size) -> dict[str, int]:
    if kind not in KINDS:
        import difflib  # noqa: PLC0415

        close = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown synthetic kind {kind!r}; use one of {', '.join(KINDS)}.{hint}")
    dims = {"map": ("y", "x"), "kinetic-line": ("t", "x"), "kinetic-map": ("t", "y", "x"), "power": ("y", "x")}[kind]
    default = {"map": (64, 64), "kinetic-line": (150, 64), "kinetic-map": (150, 16, 16), "power": (32, 32)}[kind]
    size = tuple(default if size is None else size)
    if len(size) != len(dims):
        form = "x".join({"t": "FRAMES", "y": "NY", "x": "NX"}[d] for d in dims)
        raise ValueError(f"size {size!r} does not fit kind {kind!r}: give {len(dims)} numbers ({form}).")
    return dict(zip(dims, size, strict=True))


def _build(kind: str, size=None, *, powers_mw=DEFAULT_POWERS_MW, **kwargs):
    sizes = _sizes(kind, size)
    if kind == "power":
        powers = np.asarray(powers_mw, dtype=np.float64)
        if powers.ndim != 1 or powers.size < 1 or not np.all(np.isfinite(powers)) or np.any(powers <= 0):
            raise ValueError(f"`powers_mw` must be a 1-D list of positive pump powers in mW; got {powers_mw!r}.")
        sizes = {"power": powers.size, **sizes}
        kwargs["powers_mw"] = powers
    return _generator(kind, sizes, **kwargs)


def simulate(kind: str, size: tuple[int, ...] | None = None, **kwargs):
    """Simulate by kind name (``"map"``, ``"kinetic-line"``, ``"kinetic-map"``, ``"power"``); returns ``(ds, truth)``.

    Parameters
    ----------
    kind : {"map", "kinetic-line", "kinetic-map", "power"}
        What to simulate (``KINDS``).
    size : tuple of int, optional
        ``(ny, nx)`` for maps and power series, ``(n_frames, n_x)`` for a kinetic line and
        ``(n_frames, ny, nx)`` for a kinetic map. Default (64, 64), (150, 64), (150, 16, 16), (32, 32).
    **kwargs
        As in ``cspbbr3_map`` (``powers_mw``, mW, for ``"power"``), plus any ``Scene`` field.

    Returns
    -------
    ds : xarray.Dataset
        The map (``spectra`` in counts, lazy, Dask-backed; ``shift`` cm⁻¹, ``wavelength`` nm and
        ``energy`` eV coords; ``x``/``y`` in µm).
    truth : xarray.Dataset
        The ground truth on the same grid: band parameters, band areas (counts·cm⁻¹), ``region``,
        SBPL peaks, ``cosmic_ray`` mask, ``defect`` codes (``DEFECT_CODES``) and, for kinetic maps,
        the drift (µm); the scene in ``attrs["scene"]``.

    Raises
    ------
    ValueError
        An unknown kind (with the closest name), a ``size`` of the wrong length, a bad size,
        ``n_spectral`` below 16, or ``powers_mw`` not positive.
    TypeError
        An override is not a ``Scene`` field.

    Examples
    --------
    >>> from hyperspec import synthetic
    >>> ds, truth = synthetic.simulate("kinetic-line", (5, 8), n_spectral=32)
    >>> ds.spectra.dims, ds.spectra.shape
    (('t', 'x', 'spectral'), (5, 8, 32))
    >>> synthetic.simulate("kinetic", (5, 8))
    Traceback (most recent call last):
    ...
    ValueError: unknown synthetic kind 'kinetic'; use one of map, kinetic-line, kinetic-map, power. Did you mean 'kinetic-map'?
    """
    gen, chunks = _build(kind, size, **kwargs)
    return gen.datasets(chunks)


def cspbbr3_map(shape=(64, 64), **kwargs):
    """A ``(y, x, spectral)`` map of the CsPbBr₃ crystal / glass scene (500 nm pixels by default).

    Parameters
    ----------
    shape : (int, int), optional
        Pixels ``(ny, nx)``. Default (64, 64).
    n_spectral : int, optional
        Channels, linear in wavelength from −4500 to +3600 cm⁻¹ Raman shift at 632.8 nm (the
        scene's ``shift_min_cm`` … ``shift_max_cm``), at least 16. Default 1024.
    seed : int, optional
        Random seed; the same arguments always give the same map. Default 0.
    noise : bool, optional
        Shot (Poisson; EMCCD excess noise when ``emccd_gain`` is set) and read noise. Default True.
    artefacts : bool, optional
        Cosmic rays, dead and saturated pixels. Default True.
    chunks : dict of str to int, optional
        Chunk sizes of the leading dims (default: about 4096 spectra per chunk).
    scene : Scene, optional
        Base scene; keyword overrides of any ``Scene`` field (e.g. ``brightness=5``,
        ``emccd_gain=100``) apply on top.
    dtype : numpy dtype, optional
        dtype of the counts. Default float32.
    **overrides
        Any ``Scene`` field.

    Returns
    -------
    ds : xarray.Dataset
        The map (``spectra`` in counts, lazy, Dask-backed; ``shift`` cm⁻¹, ``wavelength`` nm and
        ``energy`` eV coords; ``x``/``y`` in µm).
    truth : xarray.Dataset
        The ground truth on the same grid: band parameters, band areas (counts·cm⁻¹), ``region``,
        SBPL peaks, ``cosmic_ray`` mask, ``defect`` codes (``DEFECT_CODES``) and, for kinetic maps,
        the drift (µm); the scene in ``attrs["scene"]``.

    Raises
    ------
    ValueError
        A size is not a positive integer, or ``n_spectral`` is below 16.
    TypeError
        An override is not a ``Scene`` field (the message suggests close names).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspec import synthetic
    >>> ds, truth = synthetic.cspbbr3_map((4, 6), n_spectral=64, seed=1)
    >>> ds.spectra.dims, ds.spectra.shape, ds.spectra.dtype
    (('y', 'x', 'spectral'), (4, 6, 64), dtype('float32'))
    >>> round(float(ds["shift"][0])), round(float(ds["shift"][-1])), ds.attrs["laser_nm"]
    (-4500, 3600, 632.8)
    >>> sorted(np.unique(truth["region"].values).tolist())  # crystal and interface on a 3 µm wide map
    [0, 1]
    """
    return simulate("map", tuple(shape), **kwargs)


def kinetic_line(n_frames=150, n_x=64, **kwargs):
    """A ``(t, x, spectral)`` kinetic line map: 200 ms frames, blinking bands, onset, decay, drift.

    Parameters
    ----------
    n_frames : int, optional
        Frames, ``frame_s`` (0.2 s) apart. Default 150.
    n_x : int, optional
        Pixels along the line, ``pixel_um`` (0.5 µm) apart. Default 64.
    **kwargs
        As in ``cspbbr3_map``: ``n_spectral``, ``seed``, ``noise``, ``artefacts``, ``chunks``, ``scene``,
        ``dtype`` and any ``Scene`` field.

    Returns
    -------
    ds, truth : xarray.Dataset
        The map (lazy) and its ground truth, as in ``cspbbr3_map``.

    Raises
    ------
    ValueError, TypeError
        As in ``cspbbr3_map``.

    Examples
    --------
    >>> from hyperspec import synthetic
    >>> ds, truth = synthetic.kinetic_line(5, 8, n_spectral=32)
    >>> ds.spectra.shape, ds["t"].values.round(1).tolist()
    ((5, 8, 32), [0.0, 0.2, 0.4, 0.6, 0.8])
    """
    return simulate("kinetic-line", (n_frames, n_x), **kwargs)


def kinetic_map(n_frames=150, shape=(16, 16), **kwargs):
    """A ``(t, y, x, spectral)`` kinetic area map (as ``kinetic_line``, on an area).

    Parameters
    ----------
    n_frames : int, optional
        Frames, ``frame_s`` (0.2 s) apart. Default 150.
    shape : (int, int), optional
        Pixels ``(ny, nx)``. Default (16, 16).
    **kwargs
        As in ``cspbbr3_map``: ``n_spectral``, ``seed``, ``noise``, ``artefacts``, ``chunks``, ``scene``,
        ``dtype`` and any ``Scene`` field.

    Returns
    -------
    ds, truth : xarray.Dataset
        The map (lazy) and its ground truth, as in ``cspbbr3_map``.

    Raises
    ------
    ValueError, TypeError
        As in ``cspbbr3_map``.

    Examples
    --------
    >>> from hyperspec import synthetic
    >>> ds, truth = synthetic.kinetic_map(3, (4, 4), n_spectral=32)
    >>> ds.spectra.dims, ds.spectra.shape, truth["drift_x_um"].dims
    (('t', 'y', 'x', 'spectral'), (3, 4, 4, 32), ('t',))
    """
    return simulate("kinetic-map", (n_frames, *shape), **kwargs)


def power_series(powers_mw=DEFAULT_POWERS_MW, shape=(32, 32), **kwargs):
    """A ``(power, y, x, spectral)`` pump-power series; aS-PL area ∝ P^k with k per region (truth ``aspl_exponent``).

    k goes from ``aspl_exponent_crystal`` (1) to ``aspl_exponent_glass`` (2) with the glass
    fraction; the other bands scale linearly with power (relative to ``reference_power_mw``).

    Parameters
    ----------
    powers_mw : sequence of float, optional
        Pump powers, mW, all positive. Default (0.1, 0.2, 0.5, 1, 2, 5, 10).
    shape : (int, int), optional
        Pixels ``(ny, nx)``. Default (32, 32).
    **kwargs
        As in ``cspbbr3_map``: ``n_spectral``, ``seed``, ``noise``, ``artefacts``, ``chunks``, ``scene``,
        ``dtype`` and any ``Scene`` field.

    Returns
    -------
    ds, truth : xarray.Dataset
        The map (lazy) and its ground truth, as in ``cspbbr3_map``.

    Raises
    ------
    ValueError
        ``powers_mw`` is not a 1-D list of positive finite powers, a bad size, or ``n_spectral`` below 16.
    TypeError
        An override is not a ``Scene`` field.

    Examples
    --------
    >>> from hyperspec import synthetic
    >>> ds, truth = synthetic.power_series((0.5, 1.0, 2.0), (4, 4), n_spectral=32)
    >>> ds.spectra.dims, ds["power"].values.tolist()
    (('power', 'y', 'x', 'spectral'), [0.5, 1.0, 2.0])
    """
    return simulate("power", tuple(shape), powers_mw=powers_mw, **kwargs)


def write(kind: str, path, size=None, *, overwrite=False, progress=True, **kwargs) -> Path:
    """Simulate a map and stream it to a store at ``path`` one block at a time (truth in group ``truth``).

    The map's quick-look images (``hyperspec.bands.windows.quicklook``) go into group ``quicklook``,
    computed from each block as it is written.

    Each block is rendered and written (spectra and every truth variable) by one task, so
    memory is bounded by the block size, not the map size: maps larger than RAM are fine.
    The store is marked complete only after the last block.

    Parameters
    ----------
    kind : {"map", "kinetic-line", "kinetic-map", "power"}
        What to simulate.
    path : str or Path
        The store directory.
    size : tuple of int, optional
        As in ``simulate``.
    overwrite : bool, optional
        Replace an existing store at ``path``. Default False.
    progress : bool, optional
        Print progress (pixels/s, ETA) to stderr. Default True.
    **kwargs
        As in ``simulate`` (``n_spectral``, ``seed``, ``chunks``, Scene overrides …).

    Returns
    -------
    Path
        ``path``; open it with ``hyperspec.open`` (``group="truth"`` for the ground truth).

    Raises
    ------
    StoreExistsError
        ``path`` exists and ``overwrite`` is False (or it is not a Zarr store).
    ValueError, TypeError
        As in ``simulate``.

    Examples
    --------
    >>> import tempfile
    >>> import hyperspec as hs
    >>> from hyperspec import synthetic
    >>> with tempfile.TemporaryDirectory() as tmp:  # doctest: +SKIP
    ...     path = synthetic.write("map", f"{tmp}/map.zarr", (4, 4), n_spectral=32, progress=False)
    ...     print(hs.open(path).spectra.shape, "aspl_area" in hs.open(path, group="truth"))
    (4, 4, 32) True
    """
    import dask  # noqa: PLC0415
    import dask.array as da  # noqa: PLC0415

    from hyperspec._progress import Progress  # noqa: PLC0415
    from hyperspec.bands.windows import QUICKLOOK_GROUP, quicklook_attrs, quicklook_windows  # noqa: PLC0415
    from hyperspec.io.zarr_ import create_store, mark_complete  # noqa: PLC0415
    from hyperspec.model import shift_axis  # noqa: PLC0415
    from hyperspec.synthetic._generator import _open_for_blocks  # noqa: PLC0415

    gen, chunks = _build(kind, size, **kwargs)
    ds, truth = gen.datasets(chunks, template=True)
    # the quick-look images (hyperspec.bands.windows.quicklook) are written with each block, from the rendered spectra
    shift = shift_axis(ds)
    windows = quicklook_windows(shift)
    ql_spec = (shift, np.asarray(ds["energy"].values, dtype=np.float64), windows)
    lead = ds["spectra"].dims[:-1]
    lead_chunks = ds["spectra"].data.chunks[:-1]
    blank = da.empty(ds["spectra"].shape[:-1], chunks=lead_chunks, dtype=np.float64)
    ql = xr.Dataset(
        {n: (lead, blank, attrs) for n, attrs in quicklook_attrs(windows).items()},
        coords={d: ds[d] for d in lead if d in ds.coords},
    )
    create_store(ds, path, groups={"truth": truth, QUICKLOOK_GROUP: ql}, overwrite=overwrite, chunks=chunks)
    write_block = dask.delayed(gen.write_block, pure=False)
    tasks = [write_block(str(path), starts, shape, ql_spec) for starts, shape in gen.blocks(chunks)]
    n_pix = int(np.prod(list(gen.sizes.values()), dtype=np.int64))
    _open_for_blocks.cache_clear()  # never reuse handles of an older store at the same path
    try:
        with Progress(f"simulate {Path(path).name}", n_pix, enabled=progress):
            dask.compute(*tasks)
    finally:
        _open_for_blocks.cache_clear()
    mark_complete(path)
    return Path(path)


def components(truth: xr.Dataset, ds: xr.Dataset | None = None, *, scene: Scene | None = None) -> xr.Dataset:
    """Evaluate the noiseless component spectra from a truth Dataset (small maps: it loads them).

    Parameters
    ----------
    truth : xarray.Dataset
        A ground-truth Dataset of the synthetic functions (computed or lazy).
    ds : xarray.Dataset, optional
        The map; not used (the channels come from the truth's ``shift``).
    scene : Scene, optional
        The scene; default: the one stored in ``truth.attrs["scene"]``.

    Returns
    -------
    xarray.Dataset
        One variable per component of ``COMPONENTS`` (counts, before the notch filter) on the
        truth's grid plus ``spectral``, and ``notch_transmission``; ``attrs["offset_counts"]`` is
        the camera offset. The noiseless measured spectrum is ``notch·Σ components + offset``.

    Examples
    --------
    >>> from hyperspec import synthetic
    >>> ds, truth = synthetic.cspbbr3_map((2, 3), n_spectral=64, noise=False, artefacts=False)
    >>> comps = synthetic.components(truth.compute())
    >>> model = comps["notch_transmission"] * sum(comps[c] for c in synthetic.COMPONENTS) + comps.attrs["offset_counts"]
    >>> bool(abs(model - ds.spectra).max() < 1e-2)  # float32 counts
    True
    """
    import hyperspec.axes as axes  # noqa: PLC0415

    sc = scene or Scene(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in truth.attrs["scene"].items()})
    shift = np.asarray(truth["shift"].values)
    energy = axes.nm2ev(axes.shift2nm(shift, sc.laser_nm))
    lead = [d for d in truth["aspl_height"].dims]
    stacked = truth.stack(_pix=lead) if lead else truth.expand_dims("_pix")
    names = [n for n, v in truth.data_vars.items() if v.dims == tuple(lead)]
    p = {n: np.asarray(stacked[n].values, dtype=np.float64) for n in names}
    for n in ("sbpl_center_ev", "sbpl_hwhm_ev", "sbpl_height"):
        p[n] = np.asarray(stacked[n].transpose("_pix", "sbpl").values)
    comps = render(p, shift, energy, sc)
    out = xr.Dataset(
        {c: (("_pix", "spectral"), comps[c]) for c in COMPONENTS}, coords={"_pix": stacked["_pix"], "shift": ("spectral", shift)}
    )
    out = out.unstack("_pix") if lead else out.isel(_pix=0)
    out = out.transpose(*lead, "spectral")
    out["notch_transmission"] = ("spectral", notch_transmission(shift, sc.notch_half_width_cm, sc.notch_floor))
    out.attrs["offset_counts"] = sc.offset_counts
    return out
