"""Baselines, batched over pixels: least squares (asls, arpls, airpls), polynomials, quantiles, LOESS.

Definitions, defaults and stopping rules are those of pybaselines 1.2 (``Baseline.asls``, ``arpls``,
``airpls``, ``poly``, ``modpoly``, ``quant_reg``, ``loess``), so a user can switch without surprises; every pixel stops on its
own criterion, exactly where pybaselines would stop for that spectrum alone. The Whittaker systems
``(W + λDᵀD) z = W y`` are solved per pixel by band Cholesky (``hyperspec.preprocess._banded``): a
compiled numba kernel on the CPU when installed, else a loop over channels vectorised over pixels
through ``xp`` (NumPy or CuPy). ``info["engine"]`` says which ran.

Array functions take ``y`` of shape (n, m) (or (m,)) and return ``(baseline, info)``; ``baseline(ds,
method, ...)`` applies one to a map Dataset, chunk by chunk.
"""

from __future__ import annotations

import difflib
import inspect

import numpy as np
import xarray as xr

from hyperspec._backend import Backend, get_namespace, kernel_engine, like, numba_available, numba_compile_notice, resolve_backend, to_numpy
from hyperspec.model import SPECTRAL_DIM, add_history, validate_map
from hyperspec.preprocess import _banded

__all__ = ["asls", "arpls", "airpls", "poly", "modpoly", "quant_reg", "loess", "whittaker_smooth", "baseline", "METHODS"]

_EPS = float(np.finfo(float).eps)


def _rows(y, xp):
    y = xp.asarray(y, dtype=xp.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2:
        raise ValueError(f"spectra must have shape (n, m) or (m,); got {tuple(y.shape)}.")
    return y


def _initial_weights(weights, n, m, xp):
    if weights is None:
        return xp.ones((n, m))
    w = xp.asarray(weights, dtype=xp.float64)
    if w.shape not in ((m,), (n, m)):
        raise ValueError(f"weights must have shape ({m},) or ({n}, {m}); got {tuple(w.shape)}.")
    return xp.array(xp.broadcast_to(w, (n, m)), copy=True)


def _relative_difference(old, new, xp):
    """‖new − old‖₂ / max(‖old‖₂, ε) per row (pybaselines' ``relative_difference``)."""
    return xp.linalg.norm(new - old, axis=1) / xp.maximum(xp.linalg.norm(old, axis=1), _EPS)


def _neg_stats(r, xp):
    """Per row: count, mean and sample std (ddof 1) of the negative residuals."""
    neg = r < 0
    cnt = neg.sum(axis=1)
    mean = xp.where(neg, r, 0.0).sum(axis=1) / xp.maximum(cnt, 1)
    var = xp.where(neg, (r - mean[:, None]) ** 2, 0.0).sum(axis=1) / xp.maximum(cnt - 1, 1)
    std = xp.sqrt(var)
    std = xp.where((cnt < 2) | (std == 0), _EPS, std)
    return cnt, mean, std


_KERNEL_CODE = {"asls": 0, "arpls": 1, "airpls": 2}


def _whittaker_loop(y, w, lam, diff_order, rounds, update, engine, kernel=None):
    """Iterate solve → ``update`` per row until each row finishes; pybaselines' loop, batched.

    ``update(y_rows, z_rows, w_rows, round)`` → ``(new_w, finish, converged)``: rows that ``finish``
    keep this round's baseline and their current weights. On NumPy with numba, ``kernel = (method,
    p, normalize, tol)`` runs the whole loop compiled, a block of pixels at a time in cache.
    """
    xp = get_namespace(y)
    n, m = y.shape
    bands = _banded.difference_penalty(m, diff_order, lam)
    if engine not in _banded.ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, _banded.ENGINES))}; got {engine!r}.")
    if engine == "numba" and not (xp is np and numba_available()):
        raise ValueError("engine='numba' needs NumPy arrays and numba (pip install 'hyperspec-maps[fast]').")
    if engine == "auto":  # the engine the backend settings allow for these arrays (the solves below follow it)
        engine = kernel_engine(xp)
    if kernel is not None and xp is np and engine == "numba":
        from hyperspec.preprocess._banded_kernel import reweighted_whittaker_blocked  # noqa: PLC0415

        method, p, normalize, tol = kernel
        base = np.empty((n, m))
        n_iter = np.zeros(n, dtype=np.int32)
        converged = np.zeros(n, dtype=bool)
        w = np.ascontiguousarray(w)
        with numba_compile_notice("baseline", reweighted_whittaker_blocked):
            reweighted_whittaker_blocked(
                _KERNEL_CODE[method],
                np.ascontiguousarray(y),
                w,
                bands,
                rounds - 1,
                float(tol),
                float(p),
                bool(normalize),
                base,
                n_iter,
                converged,
            )
        return base, {"weights": w, "n_iter": n_iter, "converged": converged, "engine": "numba"}
    base = xp.full((n, m), xp.nan)
    n_iter = xp.zeros(n, dtype=xp.int32)
    converged = xp.zeros(n, dtype=bool)
    ok = xp.all(xp.isfinite(y), axis=1) & xp.all(xp.isfinite(w), axis=1)
    active = xp.flatnonzero(ok)
    used = "xp"
    for rnd in range(rounds):
        if active.size == 0:
            break
        ya, wa = y[active], w[active]
        z, used = _banded.solve(wa, wa * ya, bands, engine=engine)
        base[active] = z
        n_iter[active] = rnd + 1
        new_w, finish, conv = update(ya, z, wa, rnd)
        finish = finish | ~xp.all(xp.isfinite(z), axis=1)
        converged[active[finish]] = conv[finish]
        keep = ~finish
        w[active[keep]] = new_w[keep]
        active = active[keep]
    return base, {"weights": w, "n_iter": n_iter, "converged": converged, "engine": used}


def asls(y, lam=1e6, p=1e-2, diff_order=2, max_iter=50, tol=1e-3, weights=None, *, engine="auto"):
    """Asymmetric least squares (Eilers & Boelens 2005): weights ``p`` above the baseline, ``1 − p`` below.

    Parameters
    ----------
    y : array, shape (n, m) or (m,)
        Spectra, one per row (counts; NumPy or CuPy).
    lam : float, optional
        Smoothness λ of the penalty λ·‖Dᵈz‖² (default 1e6).
    diff_order : int, optional
        Order d of the differences D (default 2).
    max_iter : int, optional
        Reweighting rounds after the first solve (default 50).
    tol : float, optional
        A row stops when the relative change of its weights falls below ``tol`` (default 1e-3).
    weights : array, shape (m,) or (n, m), optional
        Initial weights (default 1).
    p : float, optional
        Weight of points above the baseline, 0 < p < 1 (default 0.01).
    engine : {"auto", "numba", "cuda", "xp"}, optional
        ``"auto"``: what ``hyperspec._backend.kernel_engine`` allows for these arrays (``HYPERSPEC_KERNELS``);
        the others force that engine.

    Returns
    -------
    baseline : array, shape (n, m)
        The baselines (float64, the namespace of ``y``; NaN for rows with NaN/inf).
    info : dict
        ``weights``, ``n_iter`` and ``converged`` per row, and ``engine`` (which ran).

    Raises
    ------
    ValueError
        For p outside (0, 1), an unknown engine, or one these arrays cannot use.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 200)
    >>> y = 10.0 + 5.0 * x + 50.0 * np.exp(-(((x - 0.5) / 0.01) ** 2))
    >>> base, info = asls(y, lam=1e5, p=0.01)
    >>> base.shape, bool(abs(base[0, 20] - y[20]) < 1.0)
    ((1, 200), True)
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be between 0 and 1; got {p}.")
    xp = get_namespace(y)
    y = _rows(y, xp)
    w = _initial_weights(weights, *y.shape, xp)

    def update(ya, z, wa, rnd):
        new = xp.where(ya > z, p, 1.0 - p)
        crit = _relative_difference(wa, new, xp)
        return new, crit < tol, crit < tol

    return _whittaker_loop(y, w, lam, diff_order, max_iter + 1, update, engine, kernel=("asls", p, False, tol))


def arpls(y, lam=1e5, diff_order=2, max_iter=50, tol=1e-3, weights=None, *, engine="auto"):
    """Asymmetrically reweighted penalised least squares (Baek et al. 2015): logistic weights from negative residuals.

    Parameters
    ----------
    y : array, shape (n, m) or (m,)
        Spectra, one per row (counts; NumPy or CuPy).
    lam : float, optional
        Smoothness λ of the penalty λ·‖Dᵈz‖² (default 1e5).
    diff_order : int, optional
        Order d of the differences D (default 2).
    max_iter : int, optional
        Reweighting rounds after the first solve (default 50).
    tol : float, optional
        A row stops when the relative change of its weights falls below ``tol`` (default 1e-3).
    weights : array, shape (m,) or (n, m), optional
        Initial weights (default 1).
    engine : {"auto", "numba", "cuda", "xp"}, optional
        ``"auto"``: what ``hyperspec._backend.kernel_engine`` allows for these arrays (``HYPERSPEC_KERNELS``);
        the others force that engine.

    Returns
    -------
    baseline : array, shape (n, m)
        The baselines (float64, the namespace of ``y``; NaN for rows with NaN/inf).
    info : dict
        ``weights``, ``n_iter`` and ``converged`` per row, and ``engine`` (which ran).

    Raises
    ------
    ValueError
        For an unknown engine, or one these arrays cannot use.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 200)
    >>> y = 10.0 + 5.0 * x + 50.0 * np.exp(-(((x - 0.5) / 0.01) ** 2))
    >>> base, info = arpls(y, lam=1e5)
    >>> base.shape, bool(abs(base[0, 20] - y[20]) < 1.0)
    ((1, 200), True)
    """
    xp = get_namespace(y)
    y = _rows(y, xp)
    w = _initial_weights(weights, *y.shape, xp)

    def update(ya, z, wa, rnd):
        r = ya - z
        cnt, mean, std = _neg_stats(r, xp)
        early = cnt < 2  # almost all points below the baseline: stop with the current weights
        arg = (2.0 / std)[:, None] * (r - (2.0 * std - mean)[:, None])
        new = 0.5 * (1.0 + xp.tanh(-0.5 * arg))  # expit(−arg), overflow-free
        crit = _relative_difference(wa, new, xp)
        return new, early | (crit < tol), ~early & (crit < tol)

    return _whittaker_loop(y, w, lam, diff_order, max_iter + 1, update, engine, kernel=("arpls", 0.0, False, tol))


def airpls(y, lam=1e6, diff_order=2, max_iter=50, tol=1e-3, weights=None, normalize_weights=False, *, engine="auto"):
    """Adaptive iteratively reweighted penalised least squares (Zhang et al. 2010).

    Parameters
    ----------
    y : array, shape (n, m) or (m,)
        Spectra, one per row (counts; NumPy or CuPy).
    lam : float, optional
        Smoothness λ of the penalty λ·‖Dᵈz‖² (default 1e6).
    diff_order : int, optional
        Order d of the differences D (default 2).
    max_iter : int, optional
        Reweighting rounds after the first solve (default 50).
    tol : float, optional
        A row stops when its negative residuals, ‖r⁻‖₁ / ‖y‖₁, fall below ``tol`` (default 1e-3).
    weights : array, shape (m,) or (n, m), optional
        Initial weights (default 1).
    normalize_weights : bool, optional
        Scale the weights to at most 1 each round, as pybaselines' option (default False).
    engine : {"auto", "numba", "cuda", "xp"}, optional
        ``"auto"``: what ``hyperspec._backend.kernel_engine`` allows for these arrays (``HYPERSPEC_KERNELS``);
        the others force that engine.

    Returns
    -------
    baseline : array, shape (n, m)
        The baselines (float64, the namespace of ``y``; NaN for rows with NaN/inf).
    info : dict
        ``weights``, ``n_iter`` and ``converged`` per row, and ``engine`` (which ran).

    Raises
    ------
    ValueError
        For an unknown engine, or one these arrays cannot use.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 200)
    >>> y = 10.0 + 5.0 * x + 50.0 * np.exp(-(((x - 0.5) / 0.01) ** 2))
    >>> base, info = airpls(y, lam=1e5)
    >>> base.shape, bool(abs(base[0, 20] - y[20]) < 1.0)
    ((1, 200), True)
    """
    xp = get_namespace(y)
    y = _rows(y, xp)
    w = _initial_weights(weights, *y.shape, xp)
    log_max = float(np.log(np.finfo(np.float64).max))
    cap = log_max - float(np.spacing(log_max))

    def update(ya, z, wa, rnd):
        r = ya - z
        neg = r < 0
        early = neg.sum(axis=1) < 2  # almost all points below the baseline: stop with the current weights
        l1_neg = xp.where(neg, r, 0.0).sum(axis=1)  # ≤ 0
        safe = xp.where(l1_neg == 0, -1.0, l1_neg)
        inner = xp.clip((min(rnd + 1, 50) / safe)[:, None] * r, 0.0, cap)
        new = xp.where(neg, xp.exp(inner), 0.0)
        if normalize_weights:
            new = new / xp.maximum(xp.max(new, axis=1, keepdims=True), _EPS)
        crit = xp.abs(l1_neg) / xp.maximum(xp.abs(ya).sum(axis=1), _EPS)
        done = ~early & (crit < tol)
        return new, early | done, done

    return _whittaker_loop(y, w, lam, diff_order, max_iter + 1, update, engine, kernel=("airpls", 0.0, normalize_weights, tol))


def whittaker_smooth(y, lam=1e6, diff_order=2, weights=None, *, engine="auto"):
    """The Whittaker smoother (Eilers 2003): ``(W + λDᵀD)⁻¹ W y`` per row.

    Parameters
    ----------
    y : array, shape (n, m) or (m,)
        Spectra, one per row (counts; NumPy or CuPy).
    lam : float, optional
        Smoothness λ (default 1e6).
    diff_order : int, optional
        Order d of the differences D (default 2).
    weights : array, shape (m,) or (n, m), optional
        Weights W (default 1).
    engine : {"auto", "numba", "cuda", "xp"}, optional
        ``"auto"``: what ``hyperspec._backend.kernel_engine`` allows for these arrays (``HYPERSPEC_KERNELS``);
        the others force that engine.

    Returns
    -------
    smooth : array, shape (n, m)
        The smoothed rows (float64, the namespace of ``y``).
    engine : str
        Which engine ran (``"numba"``, ``"cuda"`` or ``"xp"``).

    Raises
    ------
    ValueError
        For an unknown engine, or one these arrays cannot use.

    Examples
    --------
    >>> import numpy as np
    >>> z, engine = whittaker_smooth(np.arange(10.0), lam=1e3, engine="xp")
    >>> bool(np.allclose(z, np.arange(10.0))), engine
    (True, 'xp')
    """
    xp = get_namespace(y)
    y = _rows(y, xp)
    w = _initial_weights(weights, *y.shape, xp)
    z, used = _banded.solve(w, w * y, _banded.difference_penalty(y.shape[1], diff_order, lam), engine=engine)
    return z, used


def _vandermonde(x, m, poly_order, xp):
    if x is None:
        u = np.linspace(-1.0, 1.0, m)
    else:
        x = np.asarray(to_numpy(x), dtype=np.float64)
        if x.shape != (m,):
            raise ValueError(f"x must have shape ({m},); got {x.shape}.")
        lo, hi = x.min(), x.max()
        u = 2.0 * (x - lo) / (hi - lo) - 1.0  # pybaselines maps x_domain onto [−1, 1]
    return xp.asarray(np.polynomial.polynomial.polyvander(u, int(poly_order)))


def _poly_solver(V, w, xp):
    """Weighted least-squares operator: per-row pseudo-inverses of √w·V (shared when w is shared)."""
    sw = xp.sqrt(w)
    if w.ndim == 1:
        return sw, xp.linalg.pinv(sw[:, None] * V)
    return sw, xp.linalg.pinv(sw[:, :, None] * V[None])


def _poly_fit(V, pinv, sw, y, xp):
    if pinv.ndim == 2:
        coef = (sw * y) @ pinv.T
    else:
        coef = xp.matmul(pinv, (sw * y)[:, :, None])[:, :, 0]
    return coef @ V.T


def poly(y, x=None, poly_order=2, weights=None):
    """Weighted least-squares polynomial of ``poly_order`` (x mapped onto [−1, 1]).

    Parameters
    ----------
    y : array, shape (n, m) or (m,)
        Spectra, one per row (counts; NumPy or CuPy).
    x : array, shape (m,), optional
        The spectral axis (e.g. Raman shift, cm⁻¹), mapped onto [−1, 1]; default evenly spaced.
    poly_order : int, optional
        Degree of the polynomial (default 2).
    weights : array, shape (m,), optional
        Weights of the channels (default 1).

    Returns
    -------
    baseline : array, shape (n, m)
        The baselines (float64, the namespace of ``y``; NaN for rows with NaN/inf).
    info : dict
        ``weights``, ``n_iter`` and ``converged`` per row, and ``engine`` (which ran).

    Raises
    ------
    ValueError
        For an ``x`` whose shape is not (m,).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 200)
    >>> y = 10.0 + 5.0 * x + 50.0 * np.exp(-(((x - 0.5) / 0.01) ** 2))
    >>> base, info = poly(y, x, poly_order=1)
    >>> base.shape, bool(base[0, 20] > y[20])
    ((1, 200), True)
    """
    xp = get_namespace(y)
    y = _rows(y, xp)
    V = _vandermonde(x, y.shape[1], poly_order, xp)
    w = xp.ones(y.shape[1]) if weights is None else xp.asarray(weights, dtype=xp.float64)
    sw, pinv = _poly_solver(V, w, xp)
    base = _poly_fit(V, pinv, sw, y, xp)
    n = y.shape[0]
    return base, {"weights": w, "n_iter": xp.ones(n, dtype=xp.int32), "converged": xp.ones(n, dtype=bool), "engine": "xp"}


def modpoly(y, x=None, poly_order=2, tol=1e-3, max_iter=250, weights=None, use_original=False, mask_initial_peaks=False, *, engine="auto"):
    """Modified polynomial (Lieber & Mahadevan-Jansen 2003): refit to min(y, baseline) until it settles.

    Parameters
    ----------
    y : array, shape (n, m) or (m,)
        Spectra, one per row (counts; NumPy or CuPy).
    x : array, shape (m,), optional
        The spectral axis (e.g. Raman shift, cm⁻¹), mapped onto [−1, 1]; default evenly spaced.
    poly_order : int, optional
        Degree of the polynomial (default 2).
    tol : float, optional
        A row stops when the relative change of its baseline falls below ``tol`` (default 1e-3).
    max_iter : int, optional
        The most refits per row (default 250).
    weights : array, shape (m,), optional
        Weights of the channels (default 1).
    use_original : bool, optional
        Clip against the original spectrum rather than the previous iterate (default False).
    mask_initial_peaks : bool, optional
        Give zero weight to channels above the first fit + one standard deviation (per-pixel
        weights: the ``xp`` path only; default False).
    engine : {"auto", "numba", "xp"}, optional
        ``"auto"``: what ``hyperspec._backend.kernel_engine`` allows for these arrays (``HYPERSPEC_KERNELS``);
        the others force that engine.

    Returns
    -------
    baseline : array, shape (n, m)
        The baselines (float64, the namespace of ``y``; NaN for rows with NaN/inf).
    info : dict
        ``weights``, ``n_iter`` and ``converged`` per row, and ``engine`` (which ran).

    Raises
    ------
    ValueError
        For an ``x`` of the wrong shape, an unknown engine, or one these arrays cannot use.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 200)
    >>> y = 10.0 + 5.0 * x + 50.0 * np.exp(-(((x - 0.5) / 0.01) ** 2))
    >>> base, info = modpoly(y, x, poly_order=1)
    >>> base.shape, bool(abs(base[0, 20] - y[20]) < 1.0)
    ((1, 200), True)
    """
    xp = get_namespace(y)
    y = _rows(y, xp)
    n, m = y.shape
    V = _vandermonde(x, m, poly_order, xp)
    w = xp.ones(m) if weights is None else xp.array(xp.asarray(weights, dtype=xp.float64), copy=True)
    sw, pinv = _poly_solver(V, w, xp)
    y0 = y
    base = _poly_fit(V, pinv, sw, y, xp)
    if mask_initial_peaks:
        w = xp.array(xp.broadcast_to(w, (n, m)), copy=True)
        std = xp.std(y - base, axis=1, keepdims=True)
        w[base + std < y] = 0.0
        sw, pinv = _poly_solver(V, w, xp)
    n_iter = xp.zeros(n, dtype=xp.int32)
    converged = xp.zeros(n, dtype=bool)
    if engine == "numba" and not (xp is np and pinv.ndim == 2 and numba_available()):
        raise ValueError("engine='numba' needs NumPy arrays, shared weights and numba (pip install 'hyperspec-maps[fast]').")
    want = kernel_engine(xp) if engine == "auto" else engine
    if want == "numba" and xp is np and pinv.ndim == 2 and numba_available():  # compiled: each row stays in cache
        from hyperspec.preprocess._banded_kernel import modpoly_loop  # noqa: PLC0415

        base = np.ascontiguousarray(base)
        with numba_compile_notice("modpoly baseline", modpoly_loop):
            modpoly_loop(
                np.ascontiguousarray(y),
                np.ascontiguousarray(y0),
                np.ascontiguousarray(V),
                np.ascontiguousarray(pinv),
                np.ascontiguousarray(sw),
                int(max_iter),
                float(tol),
                bool(use_original),
                base,
                n_iter,
                converged,
            )
        return base, {"weights": w, "n_iter": n_iter, "converged": converged, "engine": "numba"}
    cur = y.copy()
    active = xp.flatnonzero(xp.all(xp.isfinite(y), axis=1))
    base[~xp.all(xp.isfinite(y), axis=1)] = xp.nan
    for i in range(int(max_iter)):
        if active.size == 0:
            break
        old = base[active]
        cur[active] = xp.minimum(y0[active] if use_original else cur[active], old)
        swa = sw if sw.ndim == 1 else sw[active]
        pa = pinv if pinv.ndim == 2 else pinv[active]
        new = _poly_fit(V, pa, swa, cur[active], xp)
        base[active] = new
        n_iter[active] = i + 1
        done = _relative_difference(old, new, xp) < tol
        converged[active[done]] = True
        active = active[~done]
    return base, {"weights": w, "n_iter": n_iter, "converged": converged, "engine": "xp"}


def quant_reg(y, x=None, poly_order=2, quantile=0.05, tol=1e-6, max_iter=250, weights=None, eps=None):
    """Quantile regression of a polynomial (pybaselines' ``quant_reg``).

    Iteratively reweighted least squares with weights q/|r| above and (1 − q)/|r| below the fit
    (|r| smoothed by ``eps``).

    Parameters
    ----------
    y : array, shape (n, m) or (m,)
        Spectra, one per row (counts; NumPy or CuPy).
    x : array, shape (m,), optional
        The spectral axis (e.g. Raman shift, cm⁻¹), mapped onto [−1, 1]; default evenly spaced.
    poly_order : int, optional
        Degree of the polynomial (default 2).
    quantile : float, optional
        The quantile q fitted, 0 < q < 1 (default 0.05).
    tol : float, optional
        A row stops when the relative change of its coefficients falls below ``tol`` (default 1e-6).
    max_iter : int, optional
        The most reweighting rounds (default 250).
    weights : array, shape (m,), optional
        Weights of the channels (default 1).
    eps : float, optional
        Smoothing of |r| (counts²); default (1e-6 × the row's largest |baseline|)², as pybaselines.

    Returns
    -------
    baseline : array, shape (n, m)
        The baselines (float64, the namespace of ``y``; NaN for rows with NaN/inf).
    info : dict
        ``weights``, ``n_iter`` and ``converged`` per row, and ``engine`` (which ran).

    Raises
    ------
    ValueError
        For ``quantile`` outside (0, 1) or an ``x`` of the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 200)
    >>> y = 10.0 + 5.0 * x + 50.0 * np.exp(-(((x - 0.5) / 0.01) ** 2))
    >>> base, info = quant_reg(y, x, poly_order=1)
    >>> base.shape, bool(abs(base[0, 20] - y[20]) < 1.0)
    ((1, 200), True)
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be between 0 and 1; got {quantile}.")
    xp = get_namespace(y)
    y = _rows(y, xp)
    n, m = y.shape
    V = _vandermonde(x, m, poly_order, xp)
    w0 = xp.ones(m) if weights is None else xp.asarray(weights, dtype=xp.float64)
    sw = xp.array(xp.broadcast_to(xp.sqrt(w0), (n, m)), copy=True)
    base = xp.full((n, m), xp.nan)
    old = y.copy()
    n_iter = xp.zeros(n, dtype=xp.int32)
    converged = xp.zeros(n, dtype=bool)
    active = xp.flatnonzero(xp.all(xp.isfinite(y), axis=1))
    for i in range(int(max_iter) + 1):
        if active.size == 0:
            break
        swa, ya = sw[active], y[active]
        A = swa[:, :, None] * V[None]  # (n, m, k): each row's weighted design, solved by QR (as lstsq, not normal equations)
        Q, R = xp.linalg.qr(A)
        coef = xp.linalg.solve(R, xp.einsum("nmk,nm->nk", Q, swa * ya)[:, :, None])[:, :, 0]
        new = xp.einsum("mk,nk->nm", V, coef)
        base[active] = new
        n_iter[active] = i + 1
        done = _relative_difference(old[active], new, xp) < tol
        converged[active[done]] = True
        keep = ~done
        r = ya[keep] - new[keep]
        e = (xp.max(xp.abs(new[keep]), axis=1, keepdims=True) * 1e-6) ** 2 if eps is None else xp.full((int(keep.sum()), 1), float(eps))
        wq = xp.where(r > 0, quantile, 1.0 - quantile) / xp.sqrt(r * r + xp.maximum(e, _EPS))
        sw[active[keep]] = xp.sqrt(wq)
        old[active[keep]] = new[keep]
        active = active[keep]
    return base, {"weights": sw**2, "n_iter": n_iter, "converged": converged, "engine": "xp"}


def _loess_plan(x, total_points: int, delta: float):
    """Which channels get a local fit (``fits``), their windows [left, right), and the skipped runs.

    The skipped runs are filled by interpolation: pybaselines' ``_determine_fits`` (shared by every
    pixel; x ascending).
    """
    m = x.size
    fits, windows, skips = [0], [(0, total_points)], []
    check = delta > 0
    skip_start, skip_range = 0, x[0] + delta
    left, right = 0, total_points
    for i in range(1, m - 1):  # a loop over channels, once per map: every pixel shares the plan
        if check:
            if x[i + 1] < skip_range:
                if not skip_start:
                    skip_start = i
                continue
            skip_range = x[i] + delta
            fits.append(i)
            if skip_start:
                skips.append((skip_start - 1, i + 1))
                skip_start = 0
        else:
            fits.append(i)
        while right < m and x[i] - x[left] > x[right] - x[i]:
            left += 1
            right += 1
        windows.append((left, right))
    if skip_start:
        fits.append(m - 2)
        if x[-1] - x[-2] < x[-2] - x[m - total_points]:
            windows.append((m - total_points, m))
        else:
            windows.append((m - total_points - 1, m - 1))
        skips.append((skip_start - 1, m - 1))
    fits.append(m - 1)
    windows.append((m - total_points, m))
    return np.asarray(windows), np.asarray(fits), skips


def loess(
    y, x=None, fraction=0.2, total_points=None, poly_order=1, scale=3.0, tol=1e-3, max_iter=10, symmetric_weights=False,
    use_threshold=False, num_std=1, use_original=False, weights=None, delta=None,
):  # fmt: skip
    """Locally weighted polynomial regression with robustness reweighting (pybaselines' ``loess``).

    Tricube windows of ``total_points`` channels, Tukey weights on the residual scaled by its median
    absolute value (one-sided unless ``symmetric_weights``), or thresholding (``use_threshold``);
    local fits every ``delta`` with linear interpolation between.

    Parameters
    ----------
    y : array, shape (n, m) or (m,)
        Spectra, one per row (counts; NumPy or CuPy).
    x : array, shape (m,), optional
        The spectral axis (e.g. Raman shift, cm⁻¹), ascending; default evenly spaced on [−1, 1].
    fraction : float, optional
        Window as a fraction of the channels (default 0.2), used when ``total_points`` is None.
    total_points : int, optional
        Window length in channels (default ⌈fraction·m⌉).
    poly_order : int, optional
        Degree of the local polynomials (default 1).
    scale : float, optional
        Residual scale of the Tukey weights, × the median absolute residual (default 3).
    tol : float, optional
        A row stops when the relative change of its baseline falls below ``tol`` (default 1e-3).
    max_iter : int, optional
        The most robustness rounds (default 10).
    symmetric_weights : bool, optional
        Down-weight residuals on both sides, not only above the fit (default False).
    use_threshold : bool, optional
        Clip the spectrum at fit + ``num_std`` standard deviations instead of reweighting (default False).
    num_std : float, optional
        Standard deviations of the threshold (default 1).
    use_original : bool, optional
        Threshold against the original spectrum rather than the previous iterate (default False).
    weights : array, shape (m,), optional
        Weights of the channels (default 1).
    delta : float, optional
        Spacing of the local fits, in x units (default 1 % of the x range).

    Returns
    -------
    baseline : array, shape (n, m)
        The baselines (float64, the namespace of ``y``; NaN for rows with NaN/inf).
    info : dict
        ``weights``, ``n_iter`` and ``converged`` per row, and ``engine`` (which ran).

    Raises
    ------
    ValueError
        For an ``x`` that is not ascending of shape (m,), or a window shorter than ``poly_order`` + 1
        or longer than the spectrum.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 200)
    >>> y = 10.0 + 5.0 * x + 50.0 * np.exp(-(((x - 0.5) / 0.01) ** 2))
    >>> base, info = loess(y, x, fraction=0.3)
    >>> base.shape, bool(abs(base[0, 20] - y[20]) < 1.0)
    ((1, 200), True)
    """
    xp = get_namespace(y)
    y = _rows(y, xp)
    n, m = y.shape
    x_np = np.linspace(-1.0, 1.0, m) if x is None else np.asarray(to_numpy(x), dtype=np.float64)
    if x_np.shape != (m,) or np.any(np.diff(x_np) <= 0):
        raise ValueError(f"loess needs an ascending x of shape ({m},).")
    if total_points is None:
        total_points = int(np.ceil(fraction * m))
    if total_points < poly_order + 1:
        raise ValueError("total points must be greater than polynomial order + 1")
    if total_points > m:
        raise ValueError("points per window is higher than the number of points; lower fraction or total_points")
    if delta is None:
        delta = 0.01 * (x_np[-1] - x_np[0])
    windows, fits, skips = _loess_plan(x_np, int(total_points), float(delta))
    u = 2.0 * (x_np - x_np[0]) / (x_np[-1] - x_np[0]) - 1.0
    V = np.polynomial.polynomial.polyvander(u, int(poly_order))
    idx = windows[:, :1] + np.arange(total_points)[None, :]  # (F, w)
    dist = np.abs(u[idx] - u[fits][:, None])
    dist = dist / np.maximum(dist[:, :1], dist[:, -1:])
    kernel = np.sqrt((1.0 - dist**3) ** 3)
    idx_x, kernel_x, Vw, Vf = xp.asarray(idx), xp.asarray(kernel), xp.asarray(V[idx]), xp.asarray(V[fits])
    fits_x = xp.asarray(fits)
    u_x = xp.asarray(u)
    sw = xp.array(xp.broadcast_to(xp.sqrt(xp.asarray(1.0 if weights is None else weights, dtype=xp.float64)), (n, m)), copy=True)
    y0 = y
    cur = y.copy()
    base = y.copy()
    n_iter = xp.zeros(n, dtype=xp.int32)
    converged = xp.zeros(n, dtype=bool)
    ok = xp.all(xp.isfinite(y), axis=1)
    base[~ok] = xp.nan
    active = xp.flatnonzero(ok)
    F, w = idx.shape
    block = max(1, (1 << 24) // (F * w * V.shape[1]))
    for i in range(int(max_iter) + 1):
        if active.size == 0:
            break
        old = base[active]
        new = xp.empty((active.size, m))
        for b0 in range(0, active.size, block):  # blocks of pixels bound the (pixels, fits, window, k) stack
            rows = active[b0 : b0 + block]
            kw = kernel_x[None] * sw[rows][:, idx_x]  # (nb, F, w)
            A = kw[..., None] * Vw[None]
            G = xp.einsum("nfwk,nfwl->nfkl", A, A)
            h = xp.einsum("nfwk,nfw->nfk", A, kw * cur[rows][:, idx_x])
            coef = xp.linalg.solve(G, h[..., None])[..., 0]
            blk = xp.empty((rows.size, m))
            blk[:, fits_x] = xp.einsum("fk,nfk->nf", Vf, coef)
            for left, right in skips:  # linear interpolation over the skipped channels
                t = (u_x[left + 1 : right - 1] - u[left]) / (u[right - 1] - u[left])
                blk[:, left + 1 : right - 1] = blk[:, left : left + 1] + t[None] * (blk[:, right - 1 : right] - blk[:, left : left + 1])
            new[b0 : b0 + rows.size] = blk
        base[active] = new
        n_iter[active] = i + 1
        done = _relative_difference(old, new, xp) < tol
        converged[active[done]] = True
        keep = ~done
        ra, newk = active[keep], new[keep]
        if use_threshold:
            src = y0[ra] if use_original else cur[ra]
            cur[ra] = xp.minimum(src, newk + num_std * xp.std(cur[ra] - newk, axis=1, keepdims=True))
        else:
            r = cur[ra] - newk
            mav = xp.median(xp.abs(r), axis=1, keepdims=True) / 0.6744897501960817
            inner = r / xp.where(mav > 0, mav, 1.0) / scale
            tukey = xp.maximum(0.0, 1.0 - inner * inner)
            sw[ra] = tukey if symmetric_weights else xp.where(r > 0, tukey, 1.0)
        active = ra
    return base, {"weights": sw**2, "n_iter": n_iter, "converged": converged, "engine": "xp"}


#: The compiled engines of each method: the Whittaker family has a numba loop and a CUDA banded solve,
#: modpoly a numba loop (shared weights only); the others run through ``xp``.
_ENGINE_OF = {"asls": ("numba", "cuda"), "arpls": ("numba", "cuda"), "airpls": ("numba", "cuda"), "modpoly": ("numba",)}

METHODS = {"asls": asls, "arpls": arpls, "airpls": airpls, "poly": poly, "modpoly": modpoly, "quant_reg": quant_reg, "loess": loess}
_USES_X = {"poly", "modpoly", "quant_reg", "loess"}


def _check_params(method: str, params: dict) -> None:
    if method not in METHODS:
        close = difflib.get_close_matches(str(method), list(METHODS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown baseline method {method!r}.{hint} Methods: {', '.join(METHODS)}.")
    allowed = [p for p in inspect.signature(METHODS[method]).parameters if p not in ("y", "x", "engine")]
    for key in params:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"baseline method {method!r} has no parameter {key!r}.{hint} Parameters: {', '.join(allowed)}.")


def baseline(ds: xr.Dataset, method: str = "asls", *, subtract: bool = False, backend: str | Backend | None = None, **params) -> xr.Dataset:
    """The map with a ``baseline`` variable (same grid as ``spectra``), optionally subtracted.

    ``method`` and ``params`` as in pybaselines; the polynomial methods use the Raman-shift axis (else
    the wavelength) as x. Pixels with NaN/inf get a NaN baseline; ``baseline_n_iter`` and
    ``baseline_converged`` are kept per pixel. Lazy (Dask) maps stay lazy, chunk by chunk.

    Parameters
    ----------
    ds : xarray.Dataset
        A map with ``spectra`` (counts) and a ``shift`` (cm⁻¹) or ``wavelength`` (nm) coordinate.
    method : {"asls", "arpls", "airpls", "poly", "modpoly", "quant_reg", "loess"}, optional
        The baseline method (default ``"asls"``).
    subtract : bool, optional
        Replace ``spectra`` by spectra − baseline (recorded in the history). Default False.
    backend : {"auto", "numpy", "cupy"} or Backend, optional
        Compute backend; default ``$HYPERSPEC_BACKEND``, else ``"auto"`` (see ``resolve_backend``). Its
        engines decide whether the numba or CUDA kernels run (``attrs["baseline_engine"]``).
    **params
        The method's parameters (e.g. ``lam``, ``p``, ``poly_order``); unknown names are refused.

    Returns
    -------
    xarray.Dataset
        ``ds`` plus ``baseline`` (the spectra's units), ``baseline_n_iter`` and ``baseline_converged``.

    Raises
    ------
    ValueError
        For an unknown method or parameter (with the nearest valid name).
    BackendError
        For an unknown or unusable backend.

    Examples
    --------
    >>> import hyperspec
    >>> ds, _ = hyperspec.synthetic.cspbbr3_map((2, 2), n_spectral=128, seed=0)
    >>> out = baseline(ds, "poly", poly_order=1, backend="numpy")
    >>> out["baseline"].dims == ds["spectra"].dims
    True
    """
    validate_map(ds)
    _check_params(method, params)
    be = resolve_backend(backend)
    func = METHODS[method]
    x = None
    if method in _USES_X:
        x = ds["shift"].values if "shift" in ds.coords else ds["wavelength"].values
    spectra = ds["spectra"]
    out_dtype = np.result_type(spectra.dtype, np.float32)
    m = spectra.sizes[SPECTRAL_DIM]

    engine = be.engine_for(be.xp)  # "numba" | "cuda" | "xp", from the backend's engines ...
    per_pixel_weights = method == "modpoly" and (params.get("mask_initial_peaks") or np.ndim(params.get("weights", 0)) > 1)
    if engine not in _ENGINE_OF.get(method, ()) or per_pixel_weights:
        engine = "xp"  # ... where this method (with these parameters) has that kernel

    def block(arr):
        xp = be.xp
        lead = arr.shape[:-1]
        yb = xp.asarray(arr.reshape(-1, m), dtype=xp.float64)
        kw = dict(params)
        if method in _USES_X:
            kw["x"] = x
        if method in _ENGINE_OF:
            kw["engine"] = engine
        base, info = func(yb, **kw)
        xb = get_namespace(base)
        extra = xb.stack([xb.asarray(info["n_iter"]), xb.asarray(info["converged"])], axis=1).astype(xb.float64)
        packed = xb.concatenate([base, extra], axis=1).reshape(*lead, m + 2)
        return like(packed, arr)  # device data stays on the device (a pipeline block)

    packed = xr.apply_ufunc(
        block,
        spectra,
        input_core_dims=[[SPECTRAL_DIM]],
        output_core_dims=[["_packed"]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"_packed": m + 2}},
    )
    base = packed.isel(_packed=slice(0, m)).rename({"_packed": SPECTRAL_DIM}).astype(out_dtype)
    base = base.assign_coords({k: v for k, v in spectra.coords.items() if SPECTRAL_DIM in v.dims})
    out = ds.copy()
    out["baseline"] = base.transpose(*spectra.dims)
    out["baseline"].attrs = {"units": spectra.attrs.get("units", "counts"), "long_name": f"{method} baseline", "method": method,
                             "params": repr(params)}  # fmt: skip
    out["baseline_n_iter"] = packed.isel(_packed=m).astype(np.int32).assign_attrs(long_name="baseline iterations", units="1")
    out["baseline_converged"] = packed.isel(_packed=m + 1).astype(bool).assign_attrs(long_name="baseline iterations converged", units="1")
    if subtract:
        out["spectra"] = (spectra - out["baseline"]).astype(spectra.dtype)
        out["spectra"].attrs = spectra.attrs
    out.attrs = dict(ds.attrs, baseline_engine=engine)
    scalars = {k: v for k, v in params.items() if np.isscalar(v)}
    add_history(out.attrs, "baseline", method=method, subtract=subtract, engine=engine, backend=be.name, **scalars)
    return out
