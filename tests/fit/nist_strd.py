"""The NIST StRD nonlinear-regression data sets: parser, models (written against xp) and LRE scoring."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "nist-strd"

LOWER = ["Misra1a", "Chwirut2", "Chwirut1", "Lanczos3", "Gauss1", "Gauss2", "DanWood", "Misra1b"]
AVERAGE = ["Kirby2", "Hahn1", "Nelson", "MGH17", "Lanczos1", "Lanczos2", "Gauss3", "Misra1c", "Misra1d", "Roszman1", "ENSO"]
HIGHER = ["MGH09", "Thurber", "BoxBOD", "Rat42", "MGH10", "Eckerle4", "Rat43", "Bennett5"]


def _x(x, k=0):
    return x[:, k] if x.ndim == 2 else x


def _c(p, i):
    return p[:, i : i + 1]


def _exp(v):
    return np.exp(v)


# Every model: f(x, p) with p of shape (n, P) → (n, m). Complex-safe (no abs/where), for the complex-step Jacobian.
MODELS = {
    "Misra1a": lambda x, p: _c(p, 0) * (1 - _exp(-_c(p, 1) * x)),
    "BoxBOD": lambda x, p: _c(p, 0) * (1 - _exp(-_c(p, 1) * x)),
    "Chwirut1": lambda x, p: _exp(-_c(p, 0) * x) / (_c(p, 1) + _c(p, 2) * x),
    "Chwirut2": lambda x, p: _exp(-_c(p, 0) * x) / (_c(p, 1) + _c(p, 2) * x),
    "DanWood": lambda x, p: _c(p, 0) * x ** _c(p, 1),
    "Lanczos1": lambda x, p: _c(p, 0) * _exp(-_c(p, 1) * x) + _c(p, 2) * _exp(-_c(p, 3) * x) + _c(p, 4) * _exp(-_c(p, 5) * x),
    "Lanczos2": lambda x, p: _c(p, 0) * _exp(-_c(p, 1) * x) + _c(p, 2) * _exp(-_c(p, 3) * x) + _c(p, 4) * _exp(-_c(p, 5) * x),
    "Lanczos3": lambda x, p: _c(p, 0) * _exp(-_c(p, 1) * x) + _c(p, 2) * _exp(-_c(p, 3) * x) + _c(p, 4) * _exp(-_c(p, 5) * x),
    "Gauss1": lambda x, p: (
        _c(p, 0) * _exp(-_c(p, 1) * x)
        + _c(p, 2) * _exp(-((x - _c(p, 3)) ** 2) / _c(p, 4) ** 2)
        + _c(p, 5) * _exp(-((x - _c(p, 6)) ** 2) / _c(p, 7) ** 2)
    ),
    "Misra1b": lambda x, p: _c(p, 0) * (1 - (1 + _c(p, 1) * x / 2) ** (-2)),
    "Kirby2": lambda x, p: (_c(p, 0) + _c(p, 1) * x + _c(p, 2) * x**2) / (1 + _c(p, 3) * x + _c(p, 4) * x**2),
    "Hahn1": lambda x, p: (
        (_c(p, 0) + _c(p, 1) * x + _c(p, 2) * x**2 + _c(p, 3) * x**3) / (1 + _c(p, 4) * x + _c(p, 5) * x**2 + _c(p, 6) * x**3)
    ),
    "Nelson": lambda x, p: _c(p, 0) - _c(p, 1) * _x(x, 0) * _exp(-_c(p, 2) * _x(x, 1)),
    "MGH17": lambda x, p: _c(p, 0) + _c(p, 1) * _exp(-x * _c(p, 3)) + _c(p, 2) * _exp(-x * _c(p, 4)),
    "Misra1c": lambda x, p: _c(p, 0) * (1 - (1 + 2 * _c(p, 1) * x) ** (-0.5)),
    "Misra1d": lambda x, p: _c(p, 0) * _c(p, 1) * x * ((1 + _c(p, 1) * x) ** (-1)),
    "Roszman1": lambda x, p: _c(p, 0) - _c(p, 1) * x - np.arctan(_c(p, 2) / (x - _c(p, 3))) / np.pi,
    "ENSO": lambda x, p: (
        _c(p, 0)
        + _c(p, 1) * np.cos(2 * np.pi * x / 12)
        + _c(p, 2) * np.sin(2 * np.pi * x / 12)
        + _c(p, 4) * np.cos(2 * np.pi * x / _c(p, 3))
        + _c(p, 5) * np.sin(2 * np.pi * x / _c(p, 3))
        + _c(p, 7) * np.cos(2 * np.pi * x / _c(p, 6))
        + _c(p, 8) * np.sin(2 * np.pi * x / _c(p, 6))
    ),
    "MGH09": lambda x, p: _c(p, 0) * (x**2 + x * _c(p, 1)) / (x**2 + x * _c(p, 2) + _c(p, 3)),
    "Thurber": lambda x, p: (
        (_c(p, 0) + _c(p, 1) * x + _c(p, 2) * x**2 + _c(p, 3) * x**3) / (1 + _c(p, 4) * x + _c(p, 5) * x**2 + _c(p, 6) * x**3)
    ),
    "Rat42": lambda x, p: _c(p, 0) / (1 + _exp(_c(p, 1) - _c(p, 2) * x)),
    "MGH10": lambda x, p: _c(p, 0) * _exp(_c(p, 1) / (x + _c(p, 2))),
    "Eckerle4": lambda x, p: (_c(p, 0) / _c(p, 1)) * _exp(-0.5 * ((x - _c(p, 2)) / _c(p, 1)) ** 2),
    "Rat43": lambda x, p: _c(p, 0) / ((1 + _exp(_c(p, 1) - _c(p, 2) * x)) ** (1 / _c(p, 3))),
    "Bennett5": lambda x, p: _c(p, 0) * (_c(p, 1) + x) ** (-1 / _c(p, 2)),
}
MODELS["Gauss2"] = MODELS["Gauss3"] = MODELS["Gauss1"]


@dataclass
class Dataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    starts: np.ndarray  # (2, P)
    certified: np.ndarray  # (P,)
    certified_sd: np.ndarray  # (P,)
    rss: float


def load(name: str) -> Dataset:
    """Parse one StRD ``.dat`` file (start vectors, certified values, data)."""
    lines = (NIST_DIR / f"{name}.dat").read_text().splitlines()
    rows = []
    for line in lines:
        match = re.match(r"^\s*b(\d+)\s*=\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", line)
        if match:
            rows.append([float(v) for v in match.groups()[1:]])
    table = np.array(rows)
    rss = float(next(line.split(":")[1] for line in lines if line.strip().startswith("Residual Sum of Squares")))
    start = next(i for i, line in enumerate(lines) if re.match(r"^\s*Data:\s+y\s", line))
    data = np.array([[float(v) for v in line.split()] for line in lines[start + 1 :] if line.strip()])
    y = data[:, 0]
    x = data[:, 1] if data.shape[1] == 2 else data[:, 1:]
    if name == "Nelson":  # the certified model is for log(y)
        y = np.log(y)
    return Dataset(name, x, y, table[:, :2].T.copy(), table[:, 2].copy(), table[:, 3].copy(), rss)


def lre(estimate, certified):
    """Log relative error: digits of agreement, capped at 11 (the certified precision)."""
    estimate, certified = np.asarray(estimate, float), np.asarray(certified, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(estimate - certified) / np.abs(certified)
        out = np.where(err == 0, 11.0, -np.log10(err))
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 11.0)  # conventional: 0 (no agreement) … 11 (certified digits)
