"""Recipes: TOML files that say what to run (input, preprocessing, decomposition, outputs, compute).

The smallest recipe::

    [input]
    path = "map.zarr"
    [decompose]
    preset = "cspbbr3-633"
    [output]
    path = "result.zarr"

A recipe is validated completely before any work starts: an unknown section, key or step, a wrong
type or a missing field gives a ``RecipeError`` naming the file, the line, the key and the closest
valid name. TOML is parsed with the standard library (``tomllib``); nothing is evaluated.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import tomllib

from hyperspec._errors import RecipeError

__all__ = ["load_recipe", "validate_recipe", "recipe_hash", "STEPS", "WHOLE_MAP_STEPS", "DEFAULT_RECIPE"]

_NUM = (int, float)

#: Streamable preprocessing steps: name → {parameter: allowed types}. Each runs on one chunk of pixels.
STEPS: dict[str, dict[str, tuple]] = {
    "remove_spikes": {"threshold": _NUM, "max_width": _NUM, "grow": _NUM, "saturation": _NUM},
    "calibrate_shift": {"offset": _NUM},
    "calibrate_wavelength": {"lamp": (str,), "order": (int,), "tolerance_nm": _NUM, "max_offset_nm": _NUM, "min_snr": _NUM,
                             "lines": (list,), "lamp_laser_nm": _NUM, "lamp_unit": (str,)},
    "mask_notch": {"half_width": _NUM},
    "crop": {"lo": _NUM, "hi": _NUM},
    "normalise": {"by": (str,), "window": (list,)},
    "baseline": {
        "method": (str,), "subtract": (bool,), "lam": _NUM, "p": _NUM, "diff_order": (int,), "max_iter": (int,),
        "tol": _NUM, "poly_order": (int,), "use_original": (bool,), "mask_initial_peaks": (bool,), "normalize_weights": (bool,),
        "quantile": _NUM, "eps": _NUM, "fraction": _NUM, "total_points": (int,), "scale": _NUM, "symmetric_weights": (bool,),
        "use_threshold": (bool,), "num_std": _NUM, "delta": _NUM,
    },
}  # fmt: skip

_STEP_REQUIRED = {"calibrate_shift": ("offset",), "calibrate_wavelength": ("lamp",), "crop": ("lo", "hi")}

#: Whole-map steps: they need every pixel at once, so they run first (before the per-chunk steps) and
#: stream their result into an intermediate store next to the output.
WHOLE_MAP_STEPS: dict[str, dict[str, tuple]] = {
    "denoise": {"n_components": (int, str), "max_components": (int,)},
    "register_drift": {"band": (list,), "n_bands": (int,), "reference": (int,)},
}

_SECTIONS: dict[str, dict[str, tuple]] = {
    "input": {"path": (str,), "laser_nm": _NUM, "group": (str,)},
    "preprocess": {},  # an array of tables, each {step = "...", ...}
    "analysis": {},  # an array of tables, each {kind = "line_profile" | "filter_map", ...}
    "decompose": {
        "preset": (str,), "model": (dict,), "drop": (list,), "include": (list,), "mask": (list,), "weights": (str,),
        "saturation": _NUM, "batch_size": (int,), "max_iter": (int,), "tol": _NUM,
    },
    "output": {"path": (str,), "png": (bool, str), "csv": (bool, str), "spectra": (bool,)},
    "compute": {
        "backend": (str,), "chunk_pixels": (int,), "memory_mb": _NUM, "device_memory_mb": _NUM, "scheduler": (str,), "workers": (int,),
        "threads_per_worker": (int,), "jobqueue": (dict,),
    },
}  # fmt: skip
_REQUIRED = {"input": ("path",), "output": ("path",)}
_JOBQUEUE_KEYS = {"system": (str,), "cores": (int,), "memory": (str,), "walltime": (str,), "queue": (str,), "account": (str,),
                  "jobs": (int,), "processes": (int,), "job_extra_directives": (list,), "job_script_prologue": (list,)}  # fmt: skip

#: The embedded default recipe (``hyperspec demo`` runs it on a synthetic map).
DEFAULT_RECIPE = """\
# hyperspec recipe: the embedded default that `hyperspec demo` runs on a synthetic map
[input]
path = "map.zarr"

[[preprocess]]
step = "remove_spikes"

[decompose]
preset = "cspbbr3-633"

[output]
path = "results.zarr"
png = true
csv = true

[compute]
backend = "auto"
"""


def _line_of(text: str | None, section: str, key: str | None = None) -> str:
    """' (line N)' of a section header or of ``key`` inside it, found in the recipe text."""
    if not text:
        return ""
    lines = text.splitlines()
    start = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped in (f"[{section}]", f"[[{section}]]") or stripped.startswith((f"[{section}.", f"[[{section}.")):
            start = i
            if key is None:
                return f" (line {i + 1})"
            break
    for i in range(start, len(lines)):
        if lines[i].split("=", 1)[0].strip() == key:
            return f" (line {i + 1})"
    return ""


def _hint(name: str, valid) -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_keys(table: Mapping, allowed: Mapping[str, tuple], where: str, src: str, text: str | None, section: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise RecipeError(
                f"{src}{_line_of(text, section, key)}: unknown key {key!r} in {where}.{_hint(key, allowed)} "
                f"Valid keys: {', '.join(allowed)}."
            )
        types = allowed[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            names = " or ".join(t.__name__ for t in types)
            raise RecipeError(f"{src}{_line_of(text, section, key)}: {where}.{key} must be {names}; got {value!r}.")


def validate_recipe(recipe: Mapping, *, source: str = "recipe", text: str | None = None) -> dict:
    """Check a parsed recipe and return it with defaults filled in; raise ``RecipeError`` on any problem."""
    recipe = copy.deepcopy(dict(recipe))
    for section in recipe:
        if section not in _SECTIONS:
            raise RecipeError(
                f"{source}{_line_of(text, section)}: unknown section [{section}].{_hint(section, _SECTIONS)} "
                f"Sections: {', '.join(f'[{s}]' for s in _SECTIONS)}."
            )
    for section, keys in _REQUIRED.items():
        if section not in recipe:
            raise RecipeError(f"{source}: the recipe needs a [{section}] section with {', '.join(keys)} = ...")
        for key in keys:
            if key not in recipe[section]:
                raise RecipeError(f"{source}{_line_of(text, section)}: [{section}] needs {key} = ...")
    for section, allowed in _SECTIONS.items():
        if section in ("preprocess", "analysis") or section not in recipe:
            continue
        if not isinstance(recipe[section], Mapping):
            raise RecipeError(f"{source}: [{section}] must be a table.")
        _check_keys(recipe[section], allowed, f"[{section}]", source, text, section)
    steps = recipe.get("preprocess", [])
    if isinstance(steps, Mapping):
        steps = [steps]
    if not isinstance(steps, list):
        raise RecipeError(f'{source}: preprocess steps are written [[preprocess]] with step = "...".')
    for i, step in enumerate(steps):
        name = step.get("step")
        if name is None:
            raise RecipeError(
                f'{source}{_line_of(text, "preprocess")}: preprocess step {i + 1} needs step = "..." (one of {", ".join(STEPS)}).'
            )
        known = {**WHOLE_MAP_STEPS, **STEPS}
        if name not in known:
            raise RecipeError(
                f"{source}{_line_of(text, 'preprocess', 'step')}: unknown preprocess step {name!r}.{_hint(name, known)} "
                f"Steps: {', '.join(known)}."
            )
        if name in WHOLE_MAP_STEPS and any(s.get("step") in STEPS for s in steps[:i]):
            raise RecipeError(
                f"{source}{_line_of(text, 'preprocess', 'step')}: {name!r} needs the whole map, so it must come before the "
                f"per-chunk steps ({', '.join(STEPS)}); move it up."
            )
        where = f"preprocess step {name!r}"
        _check_keys({k: v for k, v in step.items() if k != "step"}, known[name], where, source, text, "preprocess")
        missing = [k for k in _STEP_REQUIRED.get(name, ()) if k not in step]
        if missing:
            raise RecipeError(f"{source}{_line_of(text, 'preprocess', 'step')}: {where} needs {' and '.join(missing)} = ….")
    recipe["preprocess"] = steps
    recipe["analysis"] = _check_analyses(recipe.get("analysis", []), source, text)
    dec = recipe.setdefault("decompose", {}) if "decompose" in recipe else None
    if dec is not None:
        if "preset" in dec and "model" in dec:
            raise RecipeError(f"{source}{_line_of(text, 'decompose')}: [decompose] takes a preset or a model, not both.")
        dec.setdefault("preset", None if "model" in dec else "cspbbr3-633")
        _check_model(dec, source, text)
    comp = recipe.setdefault("compute", {})
    if "jobqueue" in comp:
        _check_keys(comp["jobqueue"], _JOBQUEUE_KEYS, "[compute.jobqueue]", source, text, "compute.jobqueue")
    out = recipe["output"]
    out.setdefault("png", False)
    out.setdefault("csv", False)
    return recipe


def _check_analyses(analyses, source: str, text: str | None) -> list[dict]:
    """``[[analysis]]`` tables: a known kind, known keys, the required ones present."""
    from hyperspec.pipeline.outputs import ANALYSES  # noqa: PLC0415

    if isinstance(analyses, Mapping):
        analyses = [analyses]
    if not isinstance(analyses, list):
        raise RecipeError(f'{source}: analyses are written [[analysis]] with kind = "line_profile" or "filter_map".')
    required = {"line_profile": ("variable", "start", "end"), "filter_map": ("variable",)}
    for i, a in enumerate(analyses):
        kind = a.get("kind")
        if kind not in ANALYSES:
            raise RecipeError(f"{source}{_line_of(text, 'analysis', 'kind')}: analysis {i + 1} has kind = {kind!r}."
                              f"{_hint(str(kind), ANALYSES)} Kinds: {', '.join(ANALYSES)}.")  # fmt: skip
        _check_keys({k: v for k, v in a.items() if k != "kind"}, ANALYSES[kind], f"analysis {kind!r}", source, text, "analysis")
        missing = [k for k in required[kind] if k not in a]
        if missing:
            raise RecipeError(f"{source}{_line_of(text, 'analysis', 'kind')}: analysis {kind!r} needs {' and '.join(missing)} = ….")
        for key in ("start", "end"):
            if key in a and (len(a[key]) != 2 or not all(isinstance(v, (int, float)) for v in a[key])):
                raise RecipeError(f"{source}{_line_of(text, 'analysis', key)}: {key} = [row, column] (pixels) in analysis {kind!r}.")
        if kind == "filter_map" and a.get("filter", "median") not in ("median", "gaussian"):
            raise RecipeError(f"{source}{_line_of(text, 'analysis', 'filter')}: filter = 'median' or 'gaussian', not {a['filter']!r}.")
    return analyses


def _check_model(dec: dict, source: str, text: str | None) -> None:
    """Build the decomposition model once, so a bad preset, term, shape or override fails before any work."""
    from hyperspec.fit.composite import CompositeModel  # noqa: PLC0415
    from hyperspec.fit.decompose import build_model_spec  # noqa: PLC0415

    overrides = {k: dec[k] for k in ("drop", "include", "mask") if k in dec}
    try:
        spec = build_model_spec(dec.get("preset"), dec.get("model"), **overrides)
        import numpy as np  # noqa: PLC0415

        from hyperspec import axes  # noqa: PLC0415

        shift = np.linspace(-4500.0, 3600.0, 64)
        CompositeModel(spec["terms"], shift, axes.nm2ev(axes.shift2nm(shift, 632.8)), fused=False)
    except RecipeError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise RecipeError(f"{source}{_line_of(text, 'decompose')}: [decompose] {exc}") from None


def load_recipe(path: str | Path) -> dict:
    """Read and validate a TOML recipe; relative paths in it are taken relative to the recipe's folder."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path} not found.")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}") from None
    recipe = validate_recipe(raw, source=str(path), text=text)
    for section in ("input", "output"):
        p = Path(recipe[section]["path"]).expanduser()
        recipe[section]["path"] = str(p if p.is_absolute() else (path.parent / p))
    for step in recipe.get("preprocess", []):
        if "lamp" in step:
            p = Path(step["lamp"]).expanduser()
            step["lamp"] = str(p if p.is_absolute() else (path.parent / p))
            if not Path(step["lamp"]).is_file():
                raise RecipeError(f"{path}{_line_of(text, 'preprocess', 'lamp')}: calibrate_wavelength lamp file {step['lamp']} not found.")
    recipe["_text"] = text
    recipe["_source"] = str(path)
    return recipe


def recipe_hash(recipe: Mapping) -> str:
    """A digest of everything that changes the results (not the output path, analyses, scheduler or worker counts)."""
    keep = {k: v for k, v in recipe.items() if not k.startswith("_") and k not in ("output", "analysis")}
    comp = dict(keep.get("compute", {}))
    for k in ("scheduler", "workers", "threads_per_worker", "jobqueue", "memory_mb", "device_memory_mb"):
        comp.pop(k, None)
    keep["compute"] = comp
    keep["input"] = {k: v for k, v in keep.get("input", {}).items() if k != "path"} | {"path": Path(recipe["input"]["path"]).name}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]
