"""The peers of the reference benchmark: the model with its analytic Jacobian, a NumPy batched LM and a numba per-pixel LM.

The model is K Lorentzians (peak-height form, as ``hyperspec``'s ``lorentzian``) on a linear baseline
in Δν̃/4000 cm⁻¹ (``hyperspec``'s ``polynomial1``); parameters per pixel, in this order:
``[center_1, hwhm_1, height_1, …, center_K, hwhm_K, height_K, c0, c1]`` (cm⁻¹, cm⁻¹, counts; counts).
"""
