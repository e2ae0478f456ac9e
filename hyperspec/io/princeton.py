"""Princeton Instruments / Teledyne ``.spe``: WinSpec SPE 2.x and LightField SPE 3.0 (no library needed).

Both start with the 4100-byte WinSpec header (little-endian): width at byte 42, data type at 108,
height at 656, frame count at 1446, version at 1992; the frames follow from byte 4100.

- SPE 3.0: an XML footer (its offset at byte 678) describes the frames (pixel format, size and
  stride, which may include per-frame metadata), the regions of interest and the wavelength of
  every sensor column (``<Wavelength>``, nm); the laser line is the mapping's ``laserLine`` or the
  experiment's ``WavelengthLaserLine``; the exposure (ms) and the frame rate come from the experiment.
  Raw 16-bit frames get ``attrs["saturation_counts"]`` = 2**BitDepth − 1 from the camera's ``<Adc>``.
- SPE 2.x: the x calibration polynomial (6 coefficients at byte 3263, order at 3101) is evaluated at
  pixel numbers 1…width (WinSpec counts from 1) in the polynomial's unit (byte 3100: nm, cm⁻¹ or
  Raman shift); the laser is ``laser_position`` (byte 3311) when set; the exposure ``exp_sec`` (byte 10).
Several frames become a series ``t`` (frame period 1/frame rate, s); several detector rows are refused
(an image, not spectra). Large files are memory-mapped and read lazily.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, binary_block, file_laser, parse_xml, register
from hyperspec.io.registry import file_unit as recorded_unit
from hyperspec.model import from_array

HEADER = 4100
_SPE2_TYPES = {0: "<f4", 1: "<i4", 2: "<i2", 3: "<u2", 5: "<f8", 6: "u1", 8: "<u4"}
_SPE3_TYPES = {"MonochromeUnsigned16": "<u2", "MonochromeUnsigned32": "<u4", "MonochromeFloating32": "<f4"}
_POLY_UNITS = {3: "nm", 4: "nm", 5: "cm-1-abs", 6: "cm-1"}  # WinSpec unit codes of the polynomial


def _sniff(path: Path, head: bytes) -> bool:
    if len(head) < 2000 or path.suffix.lower() != ".spe":
        return False
    dtype = struct.unpack_from("<h", head, 108)[0]
    version = struct.unpack_from("<f", head, 1992)[0]
    return dtype in _SPE2_TYPES and 1.0 <= version <= 3.5


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _spe3(path: Path, footer: int):
    size = path.stat().st_size
    if footer >= size:
        raise ReaderError(f"{path}: the SPE 3.0 XML footer offset ({footer}) lies beyond the end of the file ({size} bytes): truncated.")
    with path.open("rb") as fh:
        fh.seek(footer)
        xml = fh.read()
    root = parse_xml(path, xml)
    nodes = {}
    for el in root.iter():
        nodes.setdefault(_local(el.tag), el)
    frame = nodes.get("DataBlock")
    if frame is None:
        raise ReaderError(f"{path}: the XML footer has no <DataBlock>; not a LightField SPE 3.0 file.")
    regions = [el for el in frame if _local(el.tag) == "DataBlock" and el.get("type") == "Region"]
    if len(regions) != 1:
        raise ReaderError(f"{path}: {len(regions)} regions of interest per frame; hyperspec reads files with one region.")
    fmt = frame.get("pixelFormat")
    if fmt not in _SPE3_TYPES:
        raise ReaderError(f"{path}: pixel format {fmt!r} is not one SPE 3.0 defines ({', '.join(_SPE3_TYPES)}).")
    n_frames, stride = int(frame.get("count")), int(frame.get("stride"))
    width, height = int(regions[0].get("width")), int(regions[0].get("height"))
    if height != 1:
        raise ReaderError(f"{path}: {height} detector rows per frame: an image, not spectra (bin the rows in LightField).")
    data = binary_block(path, _SPE3_TYPES[fmt], HEADER, (n_frames, width), stride=stride)
    axis = None
    wl = nodes.get("Wavelength") if nodes.get("WavelengthMapping") is not None else None
    mapping = nodes.get("WavelengthMapping")
    if wl is not None and wl.text and "," in wl.text:
        axis = np.array([float(v) for v in wl.text.split(",")])
        sensor = nodes.get("SensorMapping")
        if sensor is not None and len(axis) != width:  # the mapping covers the sensor; the region is a window
            x0, xb = int(sensor.get("x", 0)), int(sensor.get("xBinning", 1))
            axis = axis[x0 : x0 + width * xb].reshape(width, xb).mean(1)
    if axis is None or len(axis) != width:
        raise ReaderError(f"{path}: no wavelength calibration for the {width} columns in the XML footer; calibrate in LightField.")
    laser = None
    if mapping is not None and mapping.get("laserLine"):
        laser = float(mapping.get("laserLine"))
    elif nodes.get("WavelengthLaserLine") is not None:
        laser = float(nodes["WavelengthLaserLine"].text)
    attrs = {"instrument": "Princeton Instruments LightField (SPE 3.0)", "metadata": {"spe_version": "3.0", "pixel_format": fmt}}
    exposure = nodes.get("ExposureTime")
    if exposure is not None and exposure.text:
        attrs["exposure_s"] = float(exposure.text) / 1000
    rate = next((el for el in root.iter() if _local(el.tag) == "FrameRate" and el.text and float(el.text) > 0), None)
    frame_s = 1.0 / float(rate.text) if rate is not None else None
    for key in ("Camera", "Spectrometer"):
        el = nodes.get(key)
        if el is not None and el.get("model"):
            attrs["metadata"][key.lower()] = el.get("model")
    bits = nodes.get("BitDepth")  # the camera's ADC (<Adc><BitDepth>): its full scale bounds raw 16-bit frames only
    if fmt == "MonochromeUnsigned16" and bits is not None and (bits.text or "").strip().isdigit() and 1 <= int(bits.text) <= 16:
        attrs["saturation_counts"] = float(2 ** int(bits.text) - 1)
    return data, axis, "nm", laser, frame_s, attrs


def _spe2(path: Path, head: bytes, width: int):
    order = head[3101]
    if not (head[3098] and 0 <= order <= 5):
        raise ReaderError(f"{path}: no valid x calibration in the SPE 2.x header; calibrate the file in WinSpec first.")
    coeffs = struct.unpack_from("<6d", head, 3263)[: order + 1]
    pixels = np.arange(1, width + 1, dtype=np.float64)
    axis = sum(c * pixels**i for i, c in enumerate(coeffs))
    unit = _POLY_UNITS.get(head[3100])
    laser = struct.unpack_from("<d", head, 3311)[0]
    attrs = {
        "instrument": "Princeton Instruments WinSpec (SPE 2.x)",
        "exposure_s": float(struct.unpack_from("<f", head, 10)[0]),
        "metadata": {"spe_version": f"{struct.unpack_from('<f', head, 1992)[0]:.1f}", "calibration_coefficients": list(coeffs),
                     "display_unit": head[3018:3058].split(b"\0")[0].decode("latin-1")},
    }  # fmt: skip
    return axis, unit, (laser if 150 < laser < 2000 else None), attrs


def _read(path: Path, *, laser_nm: float | None = None, unit: str | None = None, **_):
    with path.open("rb") as fh:
        head = fh.read(HEADER)
    if len(head) < HEADER:
        raise ReaderError(f"{path}: {len(head)} bytes, shorter than the 4100-byte SPE header: truncated.")
    width, dtype_code = struct.unpack_from("<H", head, 42)[0], struct.unpack_from("<h", head, 108)[0]
    height, n_frames = struct.unpack_from("<H", head, 656)[0], struct.unpack_from("<i", head, 1446)[0]
    version = struct.unpack_from("<f", head, 1992)[0]
    footer = struct.unpack_from("<Q", head, 678)[0]
    if version >= 3.0 and footer:
        data, axis, file_unit, laser, frame_s, attrs = _spe3(path, footer)
    else:
        if height != 1:
            raise ReaderError(f"{path}: {height} detector rows per frame: an image, not spectra (bin the rows in WinSpec).")
        if dtype_code not in _SPE2_TYPES or n_frames <= 0:
            raise ReaderError(f"{path}: data type code {dtype_code} / {n_frames} frames in the header: corrupt header.")
        data = binary_block(path, _SPE2_TYPES[dtype_code], HEADER, (n_frames, width))
        axis, file_unit, laser, attrs = _spe2(path, head, width)
        frame_s = None
    laser = file_laser(path, laser, laser_nm)
    unit = recorded_unit(path, file_unit, unit)
    if unit is None:
        raise ReaderError(f"{path}: the calibration polynomial's unit code {head[3100]} is unknown; pass unit='nm' or unit='cm-1'.")
    if not np.all(np.isfinite(axis)) or not (np.all(np.diff(axis) > 0) or np.all(np.diff(axis) < 0)):
        raise ReaderError(f"{path}: the wavelength calibration is not strictly monotonic (corrupt calibration).")
    if data.shape[0] == 1:
        return from_array(data[0], axis, unit=unit, laser_nm=laser, source=path.name, attrs=attrs)
    return from_array(data, axis, unit=unit, laser_nm=laser, dims=("t", "spectral"), frame_s=frame_s, source=path.name, attrs=attrs)


def spe_xml(path: str | Path) -> str:
    r"""The SPE 3.0 XML footer as text (all LightField experiment settings), for inspection.

    Parameters
    ----------
    path : str or Path
        A Princeton Instruments ``.spe`` file.

    Returns
    -------
    str
        The footer from the offset stored at byte 678 of the 4100-byte header to the end of the
        file, trailing whitespace removed; ``""`` for SPE 2.x files (offset 0).

    Examples
    --------
    >>> import struct
    >>> import tempfile
    >>> from pathlib import Path
    >>> from hyperspec.io.princeton import HEADER, spe_xml
    >>> header = bytearray(HEADER)
    >>> struct.pack_into("<Q", header, 678, HEADER + 8)  # the footer follows 8 bytes of data
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "spectrum.spe"
    ...     _ = path.write_bytes(bytes(header) + bytes(8) + b"<SpeFormat version='3.0'/>\n")
    ...     print(spe_xml(path))
    <SpeFormat version='3.0'/>
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(HEADER)
        footer = struct.unpack_from("<Q", head, 678)[0]
        fh.seek(footer)
        return re.sub(rb"\s+$", b"", fh.read()).decode("utf-8", errors="replace") if footer else ""


register(Reader("princeton-spe", (".spe",), "Princeton Instruments SPE 2.x / 3.0 (spectra, kinetic series)", ("spectrum", "series"),
                True, _sniff, _read))  # fmt: skip
