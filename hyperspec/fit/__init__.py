"""Fitting engines: batched nonlinear least squares (Levenberg–Marquardt) over pixels, through ``xp``."""

from hyperspec.fit.lm import FitStatus, LMResult, complex_step_jacobian, forward_jacobian, levenberg_marquardt

__all__ = ["FitStatus", "LMResult", "levenberg_marquardt", "complex_step_jacobian", "forward_jacobian"]
