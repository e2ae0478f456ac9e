"""GPU kernel sources (CUDA C++), installed as the private package ``hyperspec._kernels``.

Each ``<name>.cu`` here is compiled lazily by CuPy on first use (never at import) and has a
NumPy reference in ``hyperspec``; ``source(name)`` returns its text for ``cupy.RawModule``.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["available", "source", "function"]


def available() -> list[str]:
    """Names of the kernel sources shipped with this installation (without ``.cu``)."""
    return sorted(p.name[:-3] for p in resources.files(__name__).iterdir() if p.name.endswith(".cu"))


def source(name: str) -> str:
    """The CUDA C++ source of kernel ``name``; a clear error listing the shipped ones otherwise."""
    path = resources.files(__name__) / f"{name}.cu"
    if not path.is_file():
        raise ValueError(f"no GPU kernel source {name!r}; shipped kernels: {available() or 'none yet'}.")
    return path.read_text()


@functools.lru_cache(maxsize=1)
def _builder():
    """``build(name, real, code)`` → the compiled ``cupy.RawModule``, memoized per device (created on first use, never at import)."""
    import cupy  # noqa: PLC0415

    @cupy.memoize(for_each_device=True)
    def build(name: str, real: str, code: str | None):
        return cupy.RawModule(code=f"#define REAL_T {real}\n" + (source(name) if code is None else code))

    return build


def function(name: str, kernel: str, real: str = "double", code: str | None = None):
    """The CUDA function ``kernel`` of source ``name``, compiled with ``REAL_T = real`` on first use per device.

    ``code`` is the source to compile when its loader generates part of it (e.g. ``fused_model``'s
    shape codes, from the component registry); default ``source(name)``. Each distinct source
    compiles once per device.
    """
    return _builder()(name, real, code).get_function(kernel)
