"""Preprocessing and spatial tools, batched over pixels on NumPy and CuPy (``xp``).

- ``baseline`` the asymmetric-least-squares family and (modified) polynomials, as in pybaselines;
"""

from hyperspec.preprocess.baselines import baseline

__all__ = ["baseline"]
