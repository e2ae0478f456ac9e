"""Andor Solis ``.sif`` (single spectra and kinetic series), read with sif_parser (BSD-3, optional).

The wavelength axis comes from the file's calibration polynomial (nm); frames become ``t`` with the
cycle time (s) as spacing; the Raman excitation wavelength is the laser when the file records one.
Image-mode files (several detector rows) are refused: they are images, not spectra.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, file_laser, register
from hyperspec.model import from_array


def _sniff(path: Path, head: bytes) -> bool:
    return head.startswith(b"Andor Technology Multi-Channel File")


class _Guarded(io.RawIOBase):
    """A file whose reads past the end raise ``ReaderError``.

    sif_parser's header parser would otherwise loop forever on a truncated or corrupt file.
    """

    def __init__(self, path: Path):
        self.path, self.fh = path, path.open("rb")

    def read(self, n=-1):
        out = self.fh.read(n)
        if n and n > 0 and not out:
            raise ReaderError(f"{self.path}: the file ends inside its header or data (truncated or corrupt).")
        return out

    def seek(self, *args):
        return self.fh.seek(*args)

    def tell(self):
        return self.fh.tell()

    def readable(self):
        return True

    def close(self):
        self.fh.close()
        super().close()


def _read(path: Path, *, laser_nm: float | None = None, **_):
    import sif_parser  # noqa: PLC0415
    from sif_parser._sif_open import _open  # noqa: PLC0415
    from sif_parser.utils import extract_calibration  # noqa: PLC0415

    with _Guarded(path) as fh:  # check the declared size against the file before anything is allocated
        _tile, size, n_images, _info = _open(fh)
    declared = int(size[0]) * int(size[1]) * int(n_images) * 4
    if declared <= 0 or declared > path.stat().st_size:
        raise ReaderError(f"{path}: the header declares {n_images} frames of {size[1]}×{size[0]} values ({declared} bytes), "
                          f"more than the file holds ({path.stat().st_size} bytes): truncated or corrupt.")  # fmt: skip
    data, info = sif_parser.np_open(str(path))  # the header was parsed safely above
    data = np.asarray(data)
    if data.ndim != 3:
        raise ReaderError(f"{path}: unexpected data shape {data.shape} (frames, rows, channels expected).")
    frames, rows, m = data.shape
    if rows != 1:
        raise ReaderError(f"{path}: an image-mode acquisition ({rows} detector rows × {m} columns), not spectra; hyperspec reads spectra.")
    cal = extract_calibration(info)
    if cal is None:
        raise ReaderError(f"{path}: no wavelength calibration in the file; export it calibrated from Solis.")
    axis = np.asarray(cal, dtype=np.float64).reshape(-1)[:m]
    raman_ex = float(info.get("RamanExWavelength", 0) or 0)
    laser = file_laser(path, raman_ex if raman_ex > 0 else None, laser_nm)
    meta = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in info.items() if not k.startswith("timestamp_of_")}
    meta = {k: v for k, v in meta.items() if isinstance(v, (int, float, str, list, bool)) or v is None}
    attrs = {
        "metadata": meta,
        "instrument": f"Andor {info.get('DetectorType', '')}".strip(),
        "exposure_s": float(info.get("ExposureTime", 0) or 0),
    }
    if frames == 1:
        return from_array(data[0, 0], axis, unit="nm", laser_nm=laser, source=path.name, attrs=attrs)
    cycle = float(info.get("CycleTime", 0) or 0)
    return from_array(data[:, 0, :], axis, unit="nm", laser_nm=laser, dims=("t", "spectral"), frame_s=cycle if cycle > 0 else None,
                      source=path.name, attrs=attrs)  # fmt: skip


register(
    Reader("andor-sif", (".sif",), "Andor Solis .sif (spectra, kinetic series)", ("spectrum", "series"), False, _sniff, _read, "sif_parser")
)
