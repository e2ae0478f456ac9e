"""Denoising by truncated SVD / PCA, in memory (NumPy/CuPy) or out of core (Dask).

The map is a matrix X (pixels × channels). With the mean spectrum removed, X = U S Vᵀ; keeping the
first k components, X̂ = mean + U_k S_k V_kᵀ. The rank k is chosen automatically unless given: the
optimal hard threshold of Gavish & Donoho (2014) for white noise of level σ,
τ = λ*(β)·√n_large·σ with β the aspect ratio, where σ is estimated from the data themselves
(channel-to-channel differences, robust to bands). The user can override k. Dask maps use the
randomised, out-of-core ``dask.array.linalg.svd_compressed``; in memory, an exact SVD of the
smaller Gram matrix (m × m) is used. Outputs keep the scores (component maps) and loadings.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, resolve_backend, to_numpy
from hyperspec.model import SPECTRAL_DIM, add_history, validate_map

__all__ = ["denoise", "optimal_rank"]


def _lambda_star(beta: float) -> float:
    """Gavish–Donoho optimal threshold coefficient for known noise, aspect ratio β ≤ 1."""
    return math.sqrt(2 * (beta + 1) + 8 * beta / ((beta + 1) + math.sqrt(beta * beta + 14 * beta + 1)))


def optimal_rank(singular_values, shape: tuple[int, int], sigma: float) -> int:
    """How many singular values exceed the optimal hard threshold τ = λ*(β)·√max(shape)·σ (Gavish & Donoho 2014).

    Parameters
    ----------
    singular_values : array
        Singular values of the centred (n, m) data matrix (counts).
    shape : tuple of int
        ``(n, m)``, the matrix's shape; β is its aspect ratio min/max.
    sigma : float
        The white-noise level per entry (counts).

    Returns
    -------
    int
        The rank k to keep.

    Examples
    --------
    >>> optimal_rank([500.0, 200.0, 12.0, 11.0], (100, 50), 1.0)
    2
    """
    n_small, n_large = sorted(shape)
    tau = _lambda_star(n_small / n_large) * math.sqrt(n_large) * sigma
    return int(np.sum(np.asarray(singular_values) > tau))


def _noise_sigma(X, xp) -> float:
    """RMS white-noise level of the rows, from second differences: var(Δ²y) = 6σ² for white noise.

    The mean (not a median) over channels, so shot noise that is larger on bright bands counts with
    its full weight, as it does in the singular values; smooth bands contribute little to Δ²y.
    """
    d2 = X[:, 2:] - 2.0 * X[:, 1:-1] + X[:, :-2]
    return float(xp.sqrt(xp.mean(d2 * d2) / 6.0))


def denoise(
    ds: xr.Dataset,
    n_components: int | str = "auto",
    *,
    max_components: int = 64,
    backend: str | Backend | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """The map with its spectra replaced by a rank-k PCA reconstruction, plus the PCA itself.

    Parameters
    ----------
    ds : xarray.Dataset
        A map with ``spectra`` (counts) of at least three pixels.
    n_components : int or "auto", optional
        The rank k (≥ 1), or ``"auto"`` (default): the optimal hard threshold of the singular values
        for the estimated noise level.
    max_components : int, optional
        The most components computed (default 64).
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Compute backend for in-memory maps; default ``$HYPERSPEC_BACKEND``, else ``"auto"`` (see
        ``resolve_backend``). Lazy (Dask) maps use a randomised SVD on the host (history: ``dask``); the
        backend is still resolved, so a bad name is an error there too.
    seed : int, optional
        Seed of the randomised SVD of lazy maps (default 0).

    Returns
    -------
    xarray.Dataset
        ``ds`` with reconstructed ``spectra`` plus ``pca_scores`` (pixel dims × component),
        ``pca_loadings`` (component × spectral), ``pca_mean`` (spectral, counts) and
        ``pca_explained_variance_ratio``; ``attrs["pca_n_components"]`` is the rank used and
        ``attrs["pca_noise_sigma"]`` the noise level (counts) behind the automatic choice. Pixels with
        any non-finite value are left out of the PCA (basis, mean and noise level come from the
        others) and returned unchanged, NaN scores: ``denoise_skipped`` (bool, pixel dims) marks
        them and ``attrs["denoise_n_skipped"]`` counts them.

    Raises
    ------
    ValueError
        For fewer than three finite spectra or a bad ``n_components``.
    BackendError
        For an unknown or unusable backend.

    Examples
    --------
    >>> import hyperspec
    >>> ds, _ = hyperspec.synthetic.cspbbr3_map((4, 4), n_spectral=128, seed=0)
    >>> out = denoise(ds.compute(), 3, backend="numpy")
    >>> out.attrs["pca_n_components"]
    3
    """
    validate_map(ds)
    spectra = ds["spectra"]
    dims = spectra.dims[:-1]
    m = spectra.sizes[SPECTRAL_DIM]
    n = int(np.prod([spectra.sizes[d] for d in dims])) if dims else 1
    if n < 3:
        raise ValueError(f"denoise needs a map of several spectra; this one has {n}.")
    if n_components != "auto" and not (isinstance(n_components, (int, np.integer)) and n_components >= 1):
        raise ValueError(f"n_components must be 'auto' or an integer ≥ 1; got {n_components!r}.")
    k_max = int(min(max_components if n_components == "auto" else max(max_components, n_components), n - 1, m))
    be = resolve_backend(backend)
    data = spectra.data
    lazy = hasattr(data, "dask")
    if lazy:
        import dask.array as da  # noqa: PLC0415

        X = data.reshape(n, m).astype(np.float64).rechunk({1: -1})
        ok = da.isfinite(X).all(axis=1)  # pixels with a non-finite value stay out of the PCA
        X0 = da.where(ok[:, None], X, 0.0)
        n_ok = ok.sum()
        mean = X0.sum(axis=0) / da.maximum(n_ok, 1)
        Xc = da.where(ok[:, None], X0 - mean, 0.0)  # skipped rows are zero: they add nothing to the SVD
        U, S, Vt = da.linalg.svd_compressed(Xc, k=k_max, n_power_iter=3, seed=seed)
        noise_sum = da.map_blocks(_row_noise_sum, X0, ok[:, None], drop_axis=1, dtype=float, chunks=(1,))
        mean, S, Vt, total, noise_sum, n_ok = da.compute(mean, S, Vt, (Xc**2).sum(), noise_sum, n_ok)  # one pass over the store
        n_ok = int(n_ok)
        _check_enough(n_ok, n)
        mean, S, Vt = np.asarray(mean), np.asarray(S), np.asarray(Vt)
        total = float(total)
        sigma = float(np.sqrt(np.sum(noise_sum) / (6.0 * n_ok * max(m - 2, 1))))
        backend_name = "dask"
        xp = np
    else:
        xp = be.xp
        backend_name = be.name
        X = xp.asarray(np.asarray(data).reshape(n, m), dtype=xp.float64)
        ok = xp.all(xp.isfinite(X), axis=1)  # pixels with a non-finite value stay out of the PCA
        n_ok = int(ok.sum())
        _check_enough(n_ok, n)
        Xok = X[ok]
        mean = Xok.mean(axis=0)
        Xc = Xok - mean
        # exact SVD through the m × m Gram matrix (m ≪ n for maps): eigenvectors are the loadings
        G = Xc.T @ Xc
        evals, evecs = xp.linalg.eigh(G)
        order = xp.argsort(evals)[::-1][: min(k_max, n_ok - 1)]
        S = xp.sqrt(xp.maximum(evals[order], 0.0))
        Vt = evecs[:, order].T
        total = float(xp.sum(Xc * Xc))
        sigma = _noise_sigma(Xok, xp)
        mean, S, Vt = to_numpy(mean), to_numpy(S), to_numpy(Vt)
    k = optimal_rank(S, (n_ok, m), sigma) if n_components == "auto" else int(n_components)
    k = max(1, min(k, S.size))
    ratio = S**2 / max(total, 1e-300)
    V = Vt[:k]
    if lazy:
        sc = Xc @ V.T
        recon = da.where(ok[:, None], sc @ V + mean, X).astype(spectra.dtype).reshape(spectra.shape)
        scores = da.where(ok[:, None], sc, np.nan).reshape(*spectra.shape[:-1], k)
        skipped = (~ok).reshape(spectra.shape[:-1])
    else:
        Vx = xp.asarray(V)
        sc = xp.full((n, k), xp.nan)
        sc[ok] = Xc @ Vx.T
        rec = X.copy()  # skipped pixels come back as they were (NaN stays NaN)
        rec[ok] = sc[ok] @ Vx + xp.asarray(mean)
        recon = to_numpy(rec).astype(spectra.dtype).reshape(spectra.shape)
        scores = to_numpy(sc).reshape(*spectra.shape[:-1], k)
        skipped = to_numpy(~ok).reshape(spectra.shape[:-1])
    out = ds.copy()
    out["spectra"] = spectra.copy(data=recon)
    out["pca_scores"] = xr.Variable(
        (*dims, "component"), scores, {"long_name": "PCA scores (component maps)", "units": spectra.attrs.get("units", "counts")}
    )
    out["pca_loadings"] = xr.Variable(("component", SPECTRAL_DIM), V, {"long_name": "PCA loadings (unit vectors)", "units": "1"})
    out["denoise_skipped"] = xr.Variable(dims, skipped, {"long_name": "pixels left out of the PCA (non-finite), unchanged", "units": "1"})
    out["pca_mean"] = xr.Variable(
        (SPECTRAL_DIM,), mean.astype(np.float64), {"long_name": "mean spectrum", "units": spectra.attrs.get("units", "counts")}
    )
    out["pca_explained_variance_ratio"] = xr.Variable(
        ("pca_rank",), ratio, {"long_name": "fraction of the centred variance per component", "units": "1"}
    )
    out.attrs = dict(ds.attrs)
    out.attrs["pca_n_components"] = int(k)
    out.attrs["pca_noise_sigma"] = float(sigma)
    out.attrs["denoise_n_skipped"] = int(n - n_ok)
    add_history(out.attrs, "denoise", n_components=int(k), requested=str(n_components), noise_sigma=float(sigma), backend=backend_name,
                skipped=int(n - n_ok), explained=float(ratio[:k].sum()))  # fmt: skip
    return out


def _check_enough(n_ok: int, n: int) -> None:
    """Refuse a map with fewer than three finite spectra, naming how many were left out."""
    if n_ok < 3:
        raise ValueError(
            f"denoise needs at least three spectra without NaN/inf values; {n - n_ok} of {n} have non-finite values. "
            "Mask or interpolate them first."
        )


def _row_noise_sum(block, ok):
    """Sum of squared second differences over the finite rows of a block (NumPy; for the Dask path)."""
    b = block[ok[:, 0]]
    d2 = b[:, 2:] - 2.0 * b[:, 1:-1] + b[:, :-2]
    return np.atleast_1d(np.sum(d2 * d2))
