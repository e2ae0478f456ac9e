"""Teledyne Princeton Instruments TriVista ``.tvf`` (an XML document; no library needed).

The top-level ``Document`` holds the spectral calibration (``xDim/Calibration``: ``ValueArray``
"N|v1|…|vN" in ``Unit``, ``LaserWave`` in nm when set) and one ``Frame`` per spectrum (values
separated by ``;``). Frames of ``Type="Position"`` carry ``ValuePosition`` "x;y;z" (µm): a map or a
line on that grid. Other frames are a time series when they have time stamps (.NET ticks, 100 ns),
a line scan when the experiment says ``Stage Mode = LineScanX/Y`` (positions from its From/To, mm),
else a list of points. Step-and-glue files give the glued spectrum (the child documents hold the
windows). The experiment settings (a serialised XML inside an attribute) become ``attrs["metadata"]``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, file_laser, parse_xml, register
from hyperspec.io.registry import file_unit as recorded_unit
from hyperspec.io.table import place_positions
from hyperspec.model import from_array

_UNITS = {"nanometer": "nm", "wavenumber": "cm-1-abs", "ramanshift": "cm-1", "relativewavenumber": "cm-1", "electronvolt": "eV"}


def _sniff(path: Path, head: bytes) -> bool:
    return b"TriVista-File" in head or b"<XmlMain" in head


def _info(doc) -> dict[str, str]:
    """The experiment settings serialised inside ``InfoSerialized`` (name/value items), flattened."""
    text = doc.get("InfoSerialized") or ""
    meta: dict[str, str] = {}
    for name, value in re.findall(r"<Name>([^<]*)</Name>\s*<Value>([^<]*)</Value>", text):
        key, k = name.strip(), 2
        while key in meta:  # repeated names (From/To per stage axis) keep their order
            key, k = f"{name.strip()} {k}", k + 1
        meta[key] = value.strip()
    return meta


def _read(path: Path, *, laser_nm: float | None = None, unit: str | None = None, **_):
    root = parse_xml(path, path.read_bytes())
    doc = root.find("Documents/Document")
    if doc is None:
        raise ReaderError(f"{path}: no <Documents><Document> in the TriVista file; truncated or not a spectrum document.")
    cal = doc.find("xDim/Calibration")
    frames = doc.findall("Data/Frame")
    if cal is None or not frames:
        raise ReaderError(f"{path}: the document has no x calibration or no frames; truncated file?")
    values = (cal.get("ValueArray") or "").split("|")
    try:
        n = int(values[0])
        axis = np.array(values[1 : n + 1], dtype=np.float64)
    except ValueError:
        raise ReaderError(f"{path}: the x calibration ValueArray is not numeric (corrupt file).") from None
    if len(axis) != n:
        raise ReaderError(f"{path}: the x calibration declares {n} values but holds {len(axis)} (truncated).")
    file_unit = _UNITS.get((cal.get("Unit") or "").replace(" ", "").lower())
    if file_unit is None and unit is None:
        raise ReaderError(f"{path}: x unit {cal.get('Unit')!r} is not a spectral unit hyperspec knows; pass unit='nm' or 'cm-1'.")
    spectra = []
    for i, fr in enumerate(frames):
        row = np.array([v for v in (fr.text or "").split(";") if v.strip()], dtype=np.float64)
        if len(row) != n:
            raise ReaderError(f"{path}: frame {i} holds {len(row)} values, the calibration {n} (truncated or corrupt).")
        spectra.append(row)
    data = np.array(spectra)
    meta = _info(doc)
    recorded = None
    for candidate in (cal.get("LaserWave"), meta.get("Laser_Wavelength")):
        try:
            value = float(candidate)
        except (TypeError, ValueError):
            continue
        if value > 0:
            recorded = value
            break
    laser = file_laser(path, recorded, laser_nm)
    attrs = {"metadata": meta, "instrument": "TriVista"}
    try:
        attrs["exposure_s"] = float(meta["Exposure_Time_(ms)"]) / 1000
    except (KeyError, ValueError):
        pass
    unit = recorded_unit(path, file_unit, unit)
    if len(frames) == 1:
        return from_array(data[0], axis, unit=unit, laser_nm=laser, source=path.name, attrs=attrs)
    if all(fr.get("Type") == "Position" and fr.get("ValuePosition") for fr in frames):
        pos = np.array([[float(v) for v in fr.get("ValuePosition").split(";")[:2]] for fr in frames])
        return place_positions(path, pos, data, axis, unit, laser, attrs)
    ticks = np.array([int(fr.get("TimeStamp") or 0) for fr in frames], dtype=np.int64)
    if np.all(ticks > 0) and np.all(np.diff(ticks) > 0):
        ds = from_array(data, axis, unit=unit, laser_nm=laser, dims=("t", "spectral"), source=path.name, attrs=attrs)
        return ds.assign_coords(t=("t", (ticks - ticks[0]) / 1e7, {"units": "s"}))
    mode = meta.get("Stage Mode", "")
    if mode.startswith("LineScan") and int(float(meta.get("Points", 0))) == len(frames):
        x = np.linspace(float(meta["From"]), float(meta["To"]), len(frames)) * 1000.0  # mm → µm
        return from_array(data, axis, unit=unit, laser_nm=laser, dims=("x", "spectral"), coords={"x": x}, source=path.name, attrs=attrs)
    return from_array(data, axis, unit=unit, laser_nm=laser, dims=("point", "spectral"), source=path.name, attrs=attrs)


register(Reader("trivista", (".tvf",), "TriVista .tvf (maps, lines, series, spectra)", ("map", "line", "series", "spectrum"), False,
                _sniff, _read))  # fmt: skip
