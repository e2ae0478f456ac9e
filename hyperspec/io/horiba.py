"""HORIBA LabSpec 6 XML exports (``<LSX_Data>``): spectra, lines and maps with their metadata.

The export is a tree of ``LSX`` nodes named by hashed IDs: the axes (intensity, spectral, X, Y) sit
under the data tree with their type, unit and values; the intensities are the root ``LSX_Matrix``
(all spectra, channel-fastest, Y-major); acquisition parameters are name/value pairs (``Laser (nm)``,
``Acq. time (s)``, …). Spectral units: nm, 1/cm (Raman shift), 1/cm abs (absolute wavenumber), eV.
Files with a DTD or entities are refused before parsing (nothing is ever expanded).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from hyperspec import axes as _axes
from hyperspec._errors import ReaderError
from hyperspec.io.registry import Reader, file_laser, register
from hyperspec.model import from_array

_TYPE, _UNIT, _VALUES = "0x6D707974", "0x7C696E75", "0x7D6CD4DB"
_NAME, _VALUE, _PRECISE = "0x6D6D616E", "0x7D6C61DB", "0x8736F70"
_UNITS = {"nm": "nm", "1/cm": "cm-1", "1/cm abs": "cm-1-abs", "ev": "eV"}


def _sniff(path: Path, head: bytes) -> bool:
    return b"<LSX_Data" in head


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _child(node, ident):
    for c in node:
        if c.get("ID") == ident:
            return c
    return None


def _read(path: Path, *, laser_nm: float | None = None, **_):
    raw = path.read_bytes()
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ReaderError(f"{path}: an XML file with a DTD or entities; LabSpec exports have none, so it is refused.")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ReaderError(f"{path}: not well-formed XML ({exc}); the export is truncated or corrupt.") from None
    tree = root.find("LSX_Tree")
    matrix = root.find("LSX_Matrix")
    if tree is None or matrix is None:
        raise ReaderError(f"{path}: a LabSpec XML export needs LSX_Tree and LSX_Matrix; one is missing (truncated?).")
    axes_node = tree.find("./LSX[@ID='0x7A74D9D6']/LSX[@ID='0x7B697861']")
    if axes_node is None:
        raise ReaderError(f"{path}: no axis block in the export.")
    axes = {}
    rotated = False
    for ax in axes_node:
        typ, unit, vals = _child(ax, _TYPE), _child(ax, _UNIT), _child(ax, _VALUES)
        if typ is not None and vals is not None:
            name = typ.text.strip()
            if name in ("XA", "YA"):  # a rotated map: the grid runs along the rotated stage axes
                name = name[0]
                rotated = True
            axes[name] = (np.array(vals.text.split(), dtype=np.float64), (unit.text or "").strip() if unit is not None else "")
    if "Spectr" not in axes:
        raise ReaderError(f"{path}: no spectral axis in the export.")
    axis, unit_text = axes["Spectr"]
    unit = _UNITS.get(unit_text.lower())
    if unit is None:
        raise ReaderError(f"{path}: spectral unit {unit_text!r} is not one hyperspec knows (nm, 1/cm, 1/cm abs, eV).")
    rows = list(matrix.iter("LSX_Row")) or [matrix]  # one LSX_Row per spectrum, or all values in the matrix itself
    values = np.array(" ".join(r.text or "" for r in rows).split(), dtype=np.float64)
    meta = {}
    for node in tree.iter("LSX"):
        name, value = _child(node, _NAME), _child(node, _VALUE)
        if name is not None and value is not None and name.text:
            precise = _child(node, _PRECISE)  # the full-precision number behind a displayed value (laser 633 → 632.817)
            text = value.text
            if precise is not None and precise.get("Format") == "5" and _is_number(text):
                text = precise.text
            meta[name.text.strip()] = text
    laser = file_laser(path, meta.get("Laser (nm)"), laser_nm)
    xs = axes.get("X", (np.zeros(1), ""))[0]
    ys = axes.get("Y", (np.zeros(1), ""))[0]
    m = axis.size
    if values.size != ys.size * xs.size * m:
        raise ReaderError(f"{path}: {values.size} intensities for {ys.size}×{xs.size} spectra of {m} channels: truncated or corrupt.")
    attrs = {"metadata": meta, "instrument": f"HORIBA {meta.get('Instrument', 'LabSpec')} (XML export)",
             "intensity_unit": axes.get("Intens", (None, ""))[1], "rotated_map": rotated}  # fmt: skip
    for key, dst in (("Acq. time (s)", "exposure_s"), ("Accumulations", "accumulations")):
        try:
            attrs[dst] = float(meta[key])
        except (KeyError, TypeError, ValueError):
            pass
    cube = values.reshape(ys.size, xs.size, m)
    # LabSpec's wavelengths are air (grating, neon-calibrated; the He-Ne reads 632.817 nm, its air value) and its
    # 1/cm exports are 10⁷/λ_air: the same spectrum exported in nm, 1/cm and abs 1/cm lands on one axis so
    medium = "air" if laser is not None or _axes.normalize_unit(unit) != "cm-1" else "vacuum"
    kw = {"unit": unit, "laser_nm": laser, "medium": medium, "laser_medium": "air", "source": path.name, "attrs": attrs}
    if ys.size > 1 and xs.size > 1:
        return from_array(cube, axis, dims=("y", "x", "spectral"), coords={"y": ys, "x": xs}, **kw)
    if ys.size > 1:
        return from_array(cube[:, 0], axis, dims=("y", "spectral"), coords={"y": ys}, **kw)
    if xs.size > 1:
        return from_array(cube[0], axis, dims=("x", "spectral"), coords={"x": xs}, **kw)
    return from_array(cube[0, 0], axis, **kw)


register(
    Reader(
        "labspec-xml", (".xml",), "HORIBA LabSpec 6 XML export (maps, lines, spectra)", ("map", "line", "spectrum"), False, _sniff, _read
    )
)
