"""Chunk-wise generation of synthetic maps with their ground truth.

A ``Generator`` knows the whole map (dims, sizes, scene, seed) and renders any block of
pixels on demand; the public functions wrap its blocks into lazy dask arrays, so maps larger
than memory are produced and written chunk by chunk.

Reproducibility: the same call gives the same data. Parameter fields, SBPL events, drift and
defects do not depend on chunking; the noise and cosmic-ray draws are seeded per block, so
they change if the chunking changes.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace

import dask
import dask.array as da
import numpy as np
import xarray as xr

from hyperspec import axes
from hyperspec.bands.shapes import espl_peak
from hyperspec.model import SPECTRAL_DIM, from_array
from hyperspec.synthetic._scene import RAMAN_LINES, Fields, Scene, channel_axes, notch_transmission, parameters, render

__all__ = ["Generator"]

DEFECT_CODES = {0: "ok", 1: "dead", 2: "saturated"}
_AREA_COMPONENTS = ("aspl", "sbpl", "lers", "hers")
_RENDER_BATCH = 1024


class Generator:
    """Renders blocks of a synthetic map of ``kind`` in ``{"map", "kinetic-line", "kinetic-map", "power"}``.

    The engine behind ``hyperspec.synthetic``: it draws the chunking-independent structure once
    (parameter fields, SBPL events, drift, defects) and renders any block of pixels on demand
    (``block``); ``datasets`` wraps the blocks into lazy Dask arrays. Arguments are not
    validated here (the public functions do it).

    Parameters
    ----------
    kind : str
        ``"map"``, ``"kinetic-line"``, ``"kinetic-map"`` or ``"power"``.
    sizes : dict of str to int
        Leading dims in order, among ``t``/``power``, ``y``, ``x`` (``x`` required).
    n_spectral : int, optional
        Channels. Default 1024.
    seed : int, optional
        Random seed. Default 0.
    noise : bool, optional
        Shot and read noise. Default True.
    artefacts : bool, optional
        Cosmic rays, dead and saturated pixels. Default True.
    scene : Scene, optional
        The scene (default ``Scene()``).
    powers_mw : array-like, optional
        Pump powers, mW, one per entry of the ``power`` dim.
    dtype : numpy dtype, optional
        dtype of the counts. Default float32.

    Examples
    --------
    >>> from hyperspec.synthetic import Generator
    >>> gen = Generator("map", {"y": 2, "x": 3}, n_spectral=32, noise=False, artefacts=False)
    >>> list(gen.blocks({"y": 1, "x": 2}))
    [((0, 0), (1, 2)), ((0, 2), (1, 1)), ((1, 0), (1, 2)), ((1, 2), (1, 1))]
    >>> {name: array.shape for name, array in gen.block((0, 0), (2, 3)).items()}
    {'spectra': (2, 3, 32), 'cosmic_ray': (2, 3, 32), 'params': (2, 3, 39), 'sbpl': (2, 3, 2, 3)}
    """

    def __init__(
        self,
        kind: str,
        sizes: dict[str, int],
        *,
        n_spectral: int = 1024,
        seed: int = 0,
        noise: bool = True,
        artefacts: bool = True,
        scene: Scene | None = None,
        powers_mw=None,
        dtype=np.float32,
    ):
        self.kind = kind
        self.sizes = dict(sizes)
        self.dims = tuple(self.sizes)
        self.n_spectral = int(n_spectral)
        self.seed = int(seed)
        self.noise = bool(noise)
        self.artefacts = bool(artefacts)
        self.scene = scene or Scene()
        self.dtype = np.dtype(dtype)
        sc = self.scene
        self.nx = self.sizes["x"]
        self.ny = self.sizes.get("y", 1)
        self.frame_dim = "t" if "t" in self.sizes else ("power" if "power" in self.sizes else None)
        self.n_frames = self.sizes.get(self.frame_dim, 1) if self.frame_dim else 1
        self.wavelength, self.shift, self.energy = channel_axes(sc, self.n_spectral)
        self.notch = notch_transmission(self.shift, sc.notch_half_width_cm, sc.notch_floor)
        self._trapz_weights = axes.trapezoid_weights(self.shift)
        width_um = self.nx * sc.pixel_um
        height_um = self.ny * sc.pixel_um if "y" in self.sizes else 0.0
        self.fields = Fields(sc, width_um, height_um, self.seed)
        self.y_line_um = height_um / 2 if "y" in self.sizes else 0.5 * self.fields.height_um
        rng = np.random.default_rng([self.seed, 202])
        self.phases = {
            "aspl": list(rng.uniform(0, 2 * np.pi, len(sc.aspl_periods_s))),
            "lers": list(rng.uniform(0, 2 * np.pi, len(sc.lers_periods_s))),
            "hers": list(rng.uniform(0, 2 * np.pi, len(sc.hers_periods_s))),
        }
        self.t_s = np.arange(self.n_frames) * sc.frame_s if self.frame_dim == "t" else None
        self.powers_mw = np.asarray(powers_mw, dtype=np.float64) if self.frame_dim == "power" else None
        self.drift_x_um, self.drift_y_um = self._drift()
        self._defects = self._make_defects()
        self._events = self._make_sbpl_events()
        self.param_names = self._param_names()

    # ---- global random structure (independent of chunking) -------------------------------
    def _drift(self):
        zeros = np.zeros(self.n_frames)
        if self.frame_dim != "t":
            return zeros, zeros.copy()
        sc = self.scene
        rng = np.random.default_rng([self.seed, 404])
        walk = np.cumsum(rng.normal(0, sc.drift_jitter_um, (2, self.n_frames)), axis=1)
        walk -= walk[:, :1]
        dx = sc.drift_um_per_s[0] * self.t_s + walk[0]
        dy = (sc.drift_um_per_s[1] * self.t_s + walk[1]) if "y" in self.sizes else zeros
        return dx, dy

    def _make_defects(self) -> np.ndarray:
        n_spatial = self.nx * self.ny
        codes = np.zeros(n_spatial, dtype=np.int8)
        if not self.artefacts or n_spatial < 64:
            return codes
        sc = self.scene
        n_dead = max(1, round(sc.dead_fraction * n_spatial)) if sc.dead_fraction > 0 else 0
        n_sat = max(1, round(sc.saturated_fraction * n_spatial)) if sc.saturated_fraction > 0 else 0
        picks = np.random.default_rng([self.seed, 303]).choice(n_spatial, n_dead + n_sat, replace=False)
        codes[picks[:n_dead]] = 1
        codes[picks[n_dead:]] = 2
        return codes

    def _make_sbpl_events(self) -> dict[str, np.ndarray]:
        sc = self.scene
        n_spatial = self.nx * self.ny
        rng = np.random.default_rng([self.seed, 505])
        fixed = sc.sbpl_frames is not None and self.frame_dim == "t"
        if fixed:
            f_lo, f_hi = max(1, int(sc.sbpl_frames[0])), max(1, int(sc.sbpl_frames[1]))
            mean_frames = 0.5 * (f_lo + f_hi)
        else:
            mean_frames = max(1.0, sc.sbpl_mean_frames) if self.frame_dim == "t" else 1.0
        n_ev = rng.poisson(sc.sbpl_probability * n_spatial * self.n_frames / mean_frames) if sc.sbpl_probability > 0 else 0
        if fixed:
            duration = rng.integers(f_lo, max(f_lo, f_hi) + 1, n_ev)
        else:
            duration = rng.geometric(1.0 / mean_frames, n_ev) if mean_frames > 1 else np.ones(n_ev, dtype=np.int64)
        return {
            "spatial": rng.integers(0, n_spatial, n_ev),
            "start": rng.integers(0, self.n_frames, n_ev),
            "duration": duration,
            "offset_hwhm": rng.uniform(-1.5, 2.5, n_ev),
            "hwhm_nm": rng.uniform(*sc.sbpl_hwhm_nm, n_ev),
            "rel_height": rng.uniform(*sc.sbpl_rel_height, n_ev),
        }

    def _param_names(self) -> list[str]:
        probe = {k: np.zeros(1) for k in ("glass_fraction", "interface", "texture", "temperature", "electrode")}
        names = list(
            parameters(
                self.scene,
                probe,
                t_s=np.zeros(1) if self.t_s is not None else None,
                power_mw=np.ones(1) if self.powers_mw is not None else None,
            )
        )
        extra = ["region", "glass_fraction", "distance_um", "aspl_peak_ev", "n_sbpl", "n_cosmic", "defect"]
        areas = [f"{c}_area" for c in _AREA_COMPONENTS] + [f"{n}_area" for n in RAMAN_LINES]
        return names + extra + areas

    # ---- one block -------------------------------------------------------------------------
    def block(self, starts: tuple[int, ...], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Render the block of leading-dim ``shape`` starting at ``starts`` (one per leading dim)."""
        sc = self.scene
        grids = np.indices(shape).reshape(len(shape), -1) + np.asarray(starts)[:, None]
        idx = dict(zip(self.dims, grids, strict=True))
        n = grids.shape[1]
        x_i = idx["x"]
        y_i = idx.get("y", np.zeros(n, dtype=np.int64))
        f_i = idx.get(self.frame_dim, np.zeros(n, dtype=np.int64)) if self.frame_dim else np.zeros(n, dtype=np.int64)
        xs = x_i * sc.pixel_um - self.drift_x_um[f_i]
        ys = (y_i * sc.pixel_um if "y" in self.sizes else np.full(n, self.y_line_um)) - self.drift_y_um[f_i]
        fields = self.fields(xs, ys)
        p = parameters(
            sc,
            fields,
            t_s=None if self.t_s is None else self.t_s[f_i],
            power_mw=None if self.powers_mw is None else self.powers_mw[f_i],
            phases=self.phases,
        )
        sbpl = self._block_sbpl(starts, shape, idx, p)
        p.update(sbpl)
        defect = self._defects[y_i * self.nx + x_i]
        rng = np.random.default_rng([self.seed, 606, *starts])
        counts = np.empty((n, self.n_spectral), dtype=self.dtype)
        cosmic = np.zeros((n, self.n_spectral), dtype=bool)
        areas = np.empty((n, len(_AREA_COMPONENTS) + len(RAMAN_LINES)))
        for lo in range(0, n, _RENDER_BATCH):  # batches of spectra keep temporaries small (no page-fault storms)
            rows = slice(lo, min(n, lo + _RENDER_BATCH))
            counts[rows], areas[rows] = self._render_rows({k: v[rows] for k, v in p.items()}, defect[rows], cosmic[rows], rng)

        truth = dict(p)
        truth.update({k: fields[k] for k in ("region", "glass_fraction", "distance_um")})
        truth["aspl_peak_ev"] = espl_peak(p["aspl_center_ev"], p["aspl_hwhm_ev"], p["aspl_beta_per_ev"])
        truth["n_sbpl"] = np.isfinite(sbpl["sbpl_center_ev"]).sum(axis=1)
        truth["n_cosmic"] = _count_runs(cosmic)
        truth["defect"] = defect
        for j, name in enumerate([*_AREA_COMPONENTS, *RAMAN_LINES]):
            truth[f"{name}_area"] = areas[:, j]
        params = np.stack([np.asarray(truth[k], dtype=np.float64) for k in self.param_names], axis=-1)
        sb = np.stack([sbpl["sbpl_center_ev"], sbpl["sbpl_hwhm_ev"], sbpl["sbpl_height"]], axis=-1)
        return {
            "spectra": counts.reshape(*shape, self.n_spectral),
            "cosmic_ray": cosmic.reshape(*shape, self.n_spectral),
            "params": params.reshape(*shape, len(self.param_names)),
            "sbpl": sb.reshape(*shape, sb.shape[1], 3),
        }

    def _render_rows(self, p: dict, defect: np.ndarray, cosmic: np.ndarray, rng: np.random.Generator):
        """Counts (detector output) and true band areas of a batch of spectra; marks cosmic rays in ``cosmic``."""
        sc = self.scene
        comps = render(p, self.shift, self.energy, sc, lines=True)
        areas = np.stack(
            [comps[c] @ self._trapz_weights for c in _AREA_COMPONENTS] + [comps[f"line:{n}"] @ self._trapz_weights for n in RAMAN_LINES],
            axis=1,
        )
        signal = comps["aspl"]
        for c in ("sbpl", "lers", "hers", "raman", "background"):
            signal += comps[c]
        signal *= self.notch
        del comps
        peak = np.maximum(signal.max(axis=1, keepdims=True), 1e-9)
        signal = np.where((defect == 2)[:, None], signal * (sc.saturated_overdrive * sc.saturation_counts / peak), signal)
        signal[defect == 1] = 0.0
        counts = self._add_noise(signal, rng) + sc.offset_counts
        if self.artefacts and sc.cosmic_probability > 0:
            self._add_cosmic_rays(counts, cosmic, rng)
        return np.clip(counts, 0.0, sc.saturation_counts), areas

    def _block_sbpl(self, starts, shape, idx, p) -> dict[str, np.ndarray]:
        sc = self.scene
        k_max = max(1, sc.sbpl_max_per_spectrum)
        n = int(np.prod(shape))
        out = {k: np.full((n, k_max), np.nan) for k in ("sbpl_center_ev", "sbpl_hwhm_ev", "sbpl_height")}
        ev = self._events
        if ev["spatial"].size == 0:
            return out
        lo = dict(zip(self.dims, starts, strict=True))
        hi = {d: s + w for d, s, w in zip(self.dims, starts, shape, strict=True)}
        ey, ex = np.divmod(ev["spatial"], self.nx)
        fa, fb = (lo[self.frame_dim], hi[self.frame_dim]) if self.frame_dim else (0, 1)
        first = np.maximum(ev["start"], fa)
        last = np.minimum(ev["start"] + ev["duration"], fb)
        sel = (ex >= lo["x"]) & (ex < hi["x"]) & (last > first)
        if "y" in self.sizes:
            sel &= (ey >= lo["y"]) & (ey < hi["y"])
        sel = np.flatnonzero(sel)
        if sel.size == 0:
            return out
        counts = last[sel] - first[sel]
        ev_idx = np.repeat(sel, counts)
        frame = np.repeat(first[sel], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        local = []
        for d in self.dims:  # build block-local multi-index per leading dim (≤ 3 dims)
            if d == "x":
                local.append(ex[ev_idx] - lo["x"])
            elif d == "y":
                local.append(ey[ev_idx] - lo["y"])
            else:
                local.append(frame - lo[d])
        row = np.ravel_multi_index(tuple(local), shape)
        order = np.argsort(row, kind="stable")
        row, ev_idx = row[order], ev_idx[order]
        first_of_row = np.r_[True, row[1:] != row[:-1]]
        group_start = np.maximum.accumulate(np.where(first_of_row, np.arange(row.size), 0))
        rank = np.arange(row.size) - group_start
        keep = rank < k_max
        row, ev_idx, rank = row[keep], ev_idx[keep], rank[keep]
        center = p["aspl_center_ev"][row] + ev["offset_hwhm"][ev_idx] * p["aspl_hwhm_ev"][row]
        lam = axes.ev2nm(center)
        out["sbpl_center_ev"][row, rank] = center
        out["sbpl_hwhm_ev"][row, rank] = axes.HC_EV_NM / lam**2 * ev["hwhm_nm"][ev_idx]
        out["sbpl_height"][row, rank] = ev["rel_height"][ev_idx] * p["aspl_height"][row]
        return out

    def _add_noise(self, signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sc = self.scene
        if not self.noise:
            return signal
        mean = np.clip(signal, 0.0, None)
        if sc.emccd_gain and sc.emccd_gain > 1:
            electrons = rng.poisson(mean / sc.emccd_gain)
            amplified = np.where(electrons > 0, rng.gamma(np.maximum(electrons, 1), sc.emccd_gain), 0.0)
        else:
            amplified = rng.poisson(mean).astype(np.float64)
        return amplified + rng.normal(0.0, sc.read_noise_counts, signal.shape)

    def _add_cosmic_rays(self, counts: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
        sc = self.scene
        n, n_ch = counts.shape
        hits = np.flatnonzero(rng.random(n) < sc.cosmic_probability)
        if hits.size == 0:
            return
        w_lo, w_hi = (min(3, max(1, int(w))) for w in sc.cosmic_width_channels)
        width = rng.integers(w_lo, max(w_lo, w_hi) + 1, hits.size)
        centre = rng.integers(0, n_ch, hits.size)
        lo, hi = np.log(sc.cosmic_counts[0]), np.log(sc.cosmic_counts[1])
        amp = np.exp(rng.uniform(lo, hi, hits.size))
        for j in range(3):  # up to 3 camera pixels per ray: loop over the ray's width, not pixels
            use = width > j
            ch = centre[use] + j - (width[use] - 1) // 2
            ok = (ch >= 0) & (ch < n_ch)
            rows, ch = hits[use][ok], ch[ok]
            scale = np.where(j == (width[use][ok] - 1) // 2, 1.0, rng.uniform(0.3, 0.7, ok.sum()))
            counts[rows, ch] += amp[use][ok] * scale
            mask[rows, ch] = True

    # ---- lazy assembly -------------------------------------------------------------------------
    def to_dask(self, chunks: dict[str, int]) -> dict[str, da.Array]:
        """Lazy arrays ``spectra``, ``cosmic_ray``, ``params`` and ``sbpl`` assembled from blocks."""
        blocks = list(self.blocks(chunks))
        token = dask.base.tokenize(
            self.kind,
            self.sizes,
            self.n_spectral,
            self.seed,
            self.noise,
            self.artefacts,
            self.scene,
            blocks,
            None if self.powers_mw is None else self.powers_mw.tolist(),
            str(self.dtype),
        )
        grid_shape = tuple(len(set(starts[d] for starts, _ in blocks)) for d in range(len(self.dims)))
        k_max = max(1, self.scene.sbpl_max_per_spectrum)
        pieces = {name: np.empty(grid_shape, dtype=object) for name in ("spectra", "cosmic_ray", "params", "sbpl")}
        render_block = dask.delayed(self.block, pure=True)
        for gi, (starts, shape) in zip(np.ndindex(*grid_shape), blocks, strict=True):
            blk = render_block(starts, shape, dask_key_name=f"synthetic-{token}-{'-'.join(map(str, gi))}")
            pieces["spectra"][gi] = da.from_delayed(blk["spectra"], (*shape, self.n_spectral), dtype=self.dtype)
            pieces["cosmic_ray"][gi] = da.from_delayed(blk["cosmic_ray"], (*shape, self.n_spectral), dtype=bool)
            pieces["params"][gi] = da.from_delayed(blk["params"], (*shape, len(self.param_names)), dtype=np.float64)
            pieces["sbpl"][gi] = da.from_delayed(blk["sbpl"], (*shape, k_max, 3), dtype=np.float64)
        return {name: _assemble(arr) for name, arr in pieces.items()}

    def blocks(self, chunks: dict[str, int]):
        """Yield ``(starts, shape)`` of every block for the given leading-dim chunk sizes."""
        chunk_lists = [da.core.normalize_chunks((chunks.get(d, self.sizes[d]),), (self.sizes[d],))[0] for d in self.dims]
        offsets = [np.r_[0, np.cumsum(c)[:-1]] for c in chunk_lists]
        for gi in itertools.product(*(range(len(c)) for c in chunk_lists)):
            yield tuple(int(offsets[d][i]) for d, i in enumerate(gi)), tuple(int(chunk_lists[d][i]) for d, i in enumerate(gi))

    def write_block(self, path: str, starts: tuple[int, ...], shape: tuple[int, ...], quicklook=None) -> int:
        """Render one block and write it, and its truth, into the store at ``path``; return its spectra count.

        ``quicklook = (shift, energy, windows)`` also writes the block's quick-look images
        (``hyperspec.bands.windows.quicklook_array``) into the store's ``quicklook`` group.
        """
        res = self.block(starts, shape)
        sl = tuple(slice(s, s + w) for s, w in zip(starts, shape, strict=True))
        root, truth = _open_for_blocks(path)
        root["spectra"][sl] = res["spectra"]
        truth["cosmic_ray"][sl] = res["cosmic_ray"]
        for i, name in enumerate(self.param_names):
            arr = truth[name]
            arr[sl] = res["params"][..., i].astype(arr.dtype)
        for j, name in enumerate(("sbpl_center_ev", "sbpl_hwhm_ev", "sbpl_height")):
            truth[name][sl] = res["sbpl"][..., j]
        if quicklook is not None:
            from hyperspec.bands.windows import QUICKLOOK_GROUP, quicklook_array, quicklook_names  # noqa: PLC0415

            shift, energy, windows = quicklook
            values = quicklook_array(res["spectra"].reshape(-1, self.n_spectral), shift, energy, windows).reshape(*shape, -1)
            for k, name in enumerate(quicklook_names(windows)):
                root[f"{QUICKLOOK_GROUP}/{name}"][sl] = values[..., k]
        return int(np.prod(shape))

    def leading_coords(self) -> dict[str, np.ndarray]:
        """Coordinates of the leading dims: ``x``/``y`` (µm), ``t`` (s), ``power`` (mW)."""
        sc = self.scene
        coords = {"x": np.arange(self.nx) * sc.pixel_um}
        if "y" in self.sizes:
            coords["y"] = np.arange(self.ny) * sc.pixel_um
        if self.frame_dim == "t":
            coords["t"] = self.t_s
        if self.frame_dim == "power":
            coords["power"] = self.powers_mw
        return coords

    def _template_arrays(self, chunks: dict[str, int]) -> dict[str, da.Array]:
        """Placeholder arrays of the right shapes, dtypes and chunks (metadata for a store, no work)."""
        lead_shape = tuple(self.sizes[d] for d in self.dims)
        lead_chunks = tuple(chunks.get(d, self.sizes[d]) for d in self.dims)
        k_max = max(1, self.scene.sbpl_max_per_spectrum)
        return {
            "spectra": da.empty((*lead_shape, self.n_spectral), chunks=(*lead_chunks, -1), dtype=self.dtype),
            "cosmic_ray": da.empty((*lead_shape, self.n_spectral), chunks=(*lead_chunks, -1), dtype=bool),
            "params": [da.empty(lead_shape, chunks=lead_chunks, dtype=np.float64) for _ in self.param_names],
            "sbpl": [da.empty((*lead_shape, k_max), chunks=(*lead_chunks, -1), dtype=np.float64) for _ in range(3)],
        }

    def datasets(self, chunks: dict[str, int], *, template: bool = False) -> tuple[xr.Dataset, xr.Dataset]:
        """The map Dataset and its ground-truth Dataset, both lazy.

        With ``template=True`` the data are uncomputed placeholders (``write`` creates the
        store from them, then fills it block by block with ``write_block``).
        """
        if template:
            arrays = self._template_arrays(chunks)
        else:
            arrays = self.to_dask(chunks)
            arrays["params"] = [arrays["params"][..., i] for i in range(len(self.param_names))]
            arrays["sbpl"] = [arrays["sbpl"][..., j] for j in range(3)]
        coords = self.leading_coords()
        attrs = {
            "instrument": "hyperspec.synthetic (simulated confocal Raman/PL microscope, EMCCD)",
            "sample": "CsPbBr3 crystal / perovskite glass with a glass–crystal interface",
            "synthetic_kind": self.kind,
            "synthetic_seed": self.seed,
            "exposure_s": self.scene.frame_s,
            "saturation_counts": float(self.scene.saturation_counts),
            "offset_counts": float(self.scene.offset_counts),  # the detector's bias: what a pixel reads with no light
        }
        ds = from_array(
            arrays["spectra"],
            self.wavelength,
            unit="nm",
            laser_nm=self.scene.laser_nm,
            medium="vacuum",  # the ground truth uses plain hc/λ and 10⁷/λ: vacuum wavelengths
            laser_medium="vacuum",
            dims=(*self.dims, SPECTRAL_DIM),
            coords=coords,
            attrs=attrs,
        )
        tcoords = {k: ds[k].variable for k in coords}  # the map's own coords, with their units and long_name
        tcoords["shift"] = ds["shift"].variable
        truth_vars = {}
        for i, name in enumerate(self.param_names):
            data = arrays["params"][i]
            if name in ("region", "defect", "n_sbpl", "n_cosmic"):
                data = data.astype(np.int16 if name.startswith("n_") else np.int8)
            truth_vars[name] = (self.dims, data, {"units": _UNITS.get(name, "")})
        for j, name in enumerate(("sbpl_center_ev", "sbpl_hwhm_ev", "sbpl_height")):
            truth_vars[name] = ((*self.dims, "sbpl"), arrays["sbpl"][j], {"units": _UNITS.get(name, "")})
        truth_vars["cosmic_ray"] = ((*self.dims, SPECTRAL_DIM), arrays["cosmic_ray"], {"description": "channels hit by a cosmic ray"})
        truth_vars["notch_transmission"] = ((SPECTRAL_DIM,), self.notch, {"description": "laser-blocking filter transmission"})
        if self.frame_dim == "t":
            truth_vars["drift_x_um"] = (("t",), self.drift_x_um, {"units": "um", "description": "stage drift: sample displacement along x"})
            truth_vars["drift_y_um"] = (("t",), self.drift_y_um, {"units": "um", "description": "stage drift: sample displacement along y"})
        tattrs = {
            "synthetic_kind": self.kind,
            "synthetic_seed": self.seed,
            "noise": self.noise,
            "artefacts": self.artefacts,
            "scene": self.scene.to_attrs(),
            "blink_periods_s": {
                "aspl": list(self.scene.aspl_periods_s),
                "lers": list(self.scene.lers_periods_s),
                "hers": list(self.scene.hers_periods_s),
            },
            "blink_phases_rad": {k: [float(x) for x in v] for k, v in self.phases.items()},
            "region_codes": {"0": "crystal", "1": "interface", "2": "glass"},
            "defect_codes": {str(k): v for k, v in DEFECT_CODES.items()},
            "areas": (
                "band areas: trapezoid of the noiseless component over the data's Raman-shift axis, counts·cm⁻¹, before the notch filter"
            ),
        }
        truth = xr.Dataset(_cf_truth(truth_vars), coords=tcoords, attrs=tattrs)
        return ds, truth


def _cf_truth(truth_vars: dict) -> dict:
    """The truth variables with CF attrs: a ``long_name`` each, ``units`` ``"1"`` when dimensionless, and the
    ``region`` / ``defect`` codes as CF flags (``flag_values`` / ``flag_meanings``)."""
    flags = {"region": {0: "crystal", 1: "interface", 2: "glass"}, "defect": DEFECT_CODES}
    out = {}
    for name, (dims, data, attrs) in truth_vars.items():
        attrs = dict(attrs)
        attrs["long_name"] = attrs.pop("description", None) or f"ground truth: {name}"
        if name in flags:
            attrs.pop("units", None)
            attrs["flag_values"] = np.array(sorted(flags[name]), dtype=np.asarray(data).dtype)
            attrs["flag_meanings"] = " ".join(flags[name][k] for k in sorted(flags[name]))
        elif not attrs.get("units"):
            attrs["units"] = "1"
        out[name] = (dims, data, attrs)
    return out


@functools.lru_cache(maxsize=8)
def _open_for_blocks(path: str):
    """Zarr group handles of a store being filled block by block (opened once per process)."""
    import zarr  # noqa: PLC0415

    root = zarr.open_group(path, mode="r+", zarr_format=3)
    truth = root["truth"]
    return _ArrayCache(root), _ArrayCache(truth)


class _ArrayCache:
    """Caches ``group[name]`` lookups (each one otherwise re-reads the array's metadata)."""

    def __init__(self, group):
        self._group = group
        self._arrays = {}

    def __getitem__(self, name):
        if name not in self._arrays:
            self._arrays[name] = self._group[name]
        return self._arrays[name]


def _assemble(grid, axis: int = 0):
    """Concatenate an object array of dask blocks along the leading axes 0, 1, … (spectral untouched)."""
    if not isinstance(grid, np.ndarray):
        return grid
    return da.concatenate([_assemble(grid[i], axis + 1) for i in range(grid.shape[0])], axis=axis)


def _count_runs(mask: np.ndarray) -> np.ndarray:
    """Number of contiguous True runs per row (= cosmic rays per spectrum, adjacent rays merge)."""
    starts = mask & ~np.pad(mask, ((0, 0), (1, 0)))[:, :-1]
    return starts.sum(axis=1)


_UNITS = {
    "aspl_center_ev": "eV",
    "aspl_hwhm_ev": "eV",
    "aspl_urbach_ev": "eV",
    "aspl_beta_per_ev": "1/eV",
    "aspl_peak_ev": "eV",
    "aspl_height": "counts",
    "lers_width_cm": "cm-1",
    "lers_temperature_k": "K",
    "lers_height": "counts",
    "hers_height": "counts",
    "hers_peak_cm": "cm-1",
    "hers_log_width": "",
    "distance_um": "um",
    "sbpl_center_ev": "eV",
    "sbpl_hwhm_ev": "eV",
    "sbpl_height": "counts",
    **{f"{c}_area": "counts*cm-1" for c in _AREA_COMPONENTS},
    **{f"{n}_area": "counts*cm-1" for n in RAMAN_LINES},
    **{f"{n}_height": "counts" for n in RAMAN_LINES},
}


def with_overrides(scene: Scene | None, overrides: dict) -> Scene:
    """A Scene with ``overrides`` applied; unknown names get an error listing close matches."""
    import difflib  # noqa: PLC0415

    scene = scene or Scene()
    valid = set(Scene.__dataclass_fields__) - {"extra"}
    for key in overrides:
        if key not in valid:
            close = difflib.get_close_matches(key, sorted(valid), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise TypeError(f"unknown scene parameter {key!r}.{hint} See hyperspec.synthetic.Scene for all of them.")
    return replace(scene, **overrides)
