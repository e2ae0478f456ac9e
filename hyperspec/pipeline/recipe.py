"""Recipes: TOML files that say what to run (input, preprocessing, decomposition, outputs, compute).

The smallest recipe::

    [input]
    path = "map.zarr"
    [decompose]
    preset = "cspbbr3-633"
    [output]
    path = "result.zarr"

A custom model instead of a preset: ``model = "lines.toml"`` (a model file, relative to the recipe's
folder: ``hyperspec.fit.model_spec.load_model``) or inline terms, ``[decompose.model.<term>]`` tables
with the keys of a model file's ``[terms.<term>]``. A parametrised preset takes its parameters in
``params``: ``preset = "peaks"`` with ``params = { positions = [1001.4, 1031.8], shape = "voigt" }``
(lines found on the data, ``positions = "auto"``, are frozen first: ``hyperspec presets --show peaks
--data MAP > model.toml``).

A recipe is validated completely before any work starts: an unknown section, key or step, a wrong
type or a missing field gives a ``RecipeError`` naming the file, the line, the key and the closest
valid name. TOML is parsed with the standard library (``tomllib``); nothing is evaluated.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

import tomllib

from hyperspec._errors import ModelFileError, RecipeError
from hyperspec._paths import input_identity
from hyperspec.pipeline.steps import (
    ANY_NUMBER,
    AT_LEAST_ONE,
    POSITIVE,
    STEP_REGISTRY,
    Range,
    _hint,
    _ParamTable,
    decompose_model,
    get_step,
    resolve_paths,
    validate_step,
)

__all__ = ["load_recipe", "validate_recipe", "recipe_hash", "check_trusted", "untrusted_fields", "STEPS", "WHOLE_MAP_STEPS",
           "DEFAULT_RECIPE"]  # fmt: skip

_NUM = (int, float)

#: ``{step: {parameter: allowed types}}`` of the per-chunk steps, read live from the step registry
#: (``hyperspec.pipeline.steps``; kept for compatibility: the registry is the declaration).
STEPS: Mapping[str, dict[str, tuple]] = _ParamTable("chunk")

#: The same for the whole-map steps: they need every pixel at once, so they run first (before the
#: per-chunk steps) and stream their result into an intermediate store next to the output.
WHOLE_MAP_STEPS: Mapping[str, dict[str, tuple]] = _ParamTable("map")

_SECTIONS: dict[str, dict[str, tuple]] = {
    "input": {"path": (str,), "laser_nm": _NUM, "group": (str,)},
    "preprocess": {},  # an array of tables, each {step = "...", ...}
    "analysis": {},  # an array of tables, each {step = "<analysis>", ...} (hyperspec.pipeline.analyses; kind = is accepted)
    "decompose": {
        "preset": (str,), "model": (dict, str, Path), "params": (dict,), "drop": (list,), "include": (list,), "mask": (list,),
        "weights": (str,), "saturation": _NUM, "batch_size": (int,), "max_iter": (int,), "tol": _NUM,
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

#: The values the numbers of the sections may take (the steps' and analyses' ranges are declared with them,
#: ``hyperspec.pipeline.steps.register_step``); a number not listed must still be finite.
_RANGES: dict[str, dict[str, Range]] = {
    "input": {"laser_nm": POSITIVE},
    "decompose": {"saturation": POSITIVE, "batch_size": AT_LEAST_ONE, "max_iter": AT_LEAST_ONE, "tol": POSITIVE},
    "compute": {"chunk_pixels": AT_LEAST_ONE, "memory_mb": POSITIVE, "device_memory_mb": POSITIVE, "workers": AT_LEAST_ONE,
                "threads_per_worker": AT_LEAST_ONE},
    "compute.jobqueue": {"cores": AT_LEAST_ONE, "jobs": AT_LEAST_ONE, "processes": AT_LEAST_ONE},
}  # fmt: skip

#: ``[compute.jobqueue]`` values that go into the batch script as they are: one word, no shell syntax.
_JOB_WORD = re.compile(r"[A-Za-z0-9_.:@+,/=-]+")

#: Recipe fields that run code or reach other machines; read from a recipe file only with ``--trust-recipe``
#: (``trust_recipe=True``), else given on the command line (``--scheduler``, ``--job-directive``, ``--job-prologue``).
TRUSTED_FIELDS = {
    ("compute.jobqueue", "job_script_prologue"): "shell commands run on the cluster before each worker starts",
    ("compute.jobqueue", "job_extra_directives"): "lines copied verbatim into the batch script's header",
    ("compute", "scheduler"): "a remote Dask scheduler (it exchanges pickles: code) when tcp://, tls://, ws:// or wss://",
}
_REMOTE = ("tcp://", "tls://", "ws://", "wss://", "ucx://")
_FLAGS = {"job_script_prologue": "--job-prologue LINE", "job_extra_directives": "--job-directive LINE", "scheduler": "--scheduler URL"}

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


def _line_of(text: str | None, section: str, key: str | None = None, index: int = 0) -> str:
    """' (line N)' of a section header (the ``index``-th of an array of tables) or of ``key`` inside it."""
    if not text:
        return ""
    lines = text.splitlines()
    start, seen = 0, 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped in (f"[{section}]", f"[[{section}]]") or stripped.startswith((f"[{section}.", f"[[{section}.")):
            start = i
            seen += 1
            if seen <= index and stripped == f"[[{section}]]":
                continue
            if key is None:
                return f" (line {i + 1})"
            break
    for i in range(start, len(lines)):
        if lines[i].split("=", 1)[0].strip() == key:
            return f" (line {i + 1})"
    return ""


def _check_keys(table: Mapping, allowed: Mapping[str, tuple], where: str, src: str, text: str | None, section: str) -> None:
    ranges = _RANGES.get(section, {})
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
        problem = ranges.get(key, ANY_NUMBER).problem(value) if not isinstance(value, Mapping) else None
        if problem is not None:
            raise RecipeError(f"{src}{_line_of(text, section, key)}: {where}.{key} {problem}; got {value!r}.")


def validate_recipe(recipe: Mapping, *, source: str = "recipe", text: str | None = None, base: str | Path | None = None) -> dict:
    """Check a parsed recipe and return it with defaults filled in.

    Parameters
    ----------
    recipe : mapping
        The parsed TOML (sections ``input``, ``preprocess``, ``decompose``, ``output`` …).
    source : str
        The name used in messages (the recipe's file).
    text : str, optional
        The recipe's text, so messages can give line numbers.
    base : str or Path, optional
        The folder a model file named by ``[decompose] model = "file.toml"`` is relative to (the
        recipe's folder); default the working directory.

    Returns
    -------
    dict
        A copy with ``preprocess`` and ``analysis`` as lists and the defaults filled in (``preset``
        None with a custom model); a model file named in ``[decompose] model`` is read, its spec
        put in its place. Validating the result again gives the same recipe.

    Raises
    ------
    RecipeError
        An unknown section, key or step (with the closest name), a wrong type or a missing field.

    Examples
    --------
    >>> r = validate_recipe({"input": {"path": "m.zarr"}, "output": {"path": "o.zarr"}, "decompose": {}})
    >>> r["decompose"]["preset"], r["preprocess"]
    ('cspbbr3-633', [])
    """
    recipe = copy.deepcopy(dict(recipe))
    dec = recipe.get("decompose")
    if isinstance(dec, Mapping) and "preset" in dec and dec["preset"] is None and "model" in dec:
        dec = recipe["decompose"] = {k: v for k, v in dec.items() if k != "preset"}  # as older validations wrote it
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
        if not isinstance(step, Mapping):
            raise RecipeError(f'{source}: preprocess step {i + 1} must be a table [[preprocess]] with step = "...".')
        name = step.get("step")
        if name is None:
            raise RecipeError(
                f'{source}{_line_of(text, "preprocess")}: preprocess step {i + 1} needs step = "..." (one of {", ".join(STEP_REGISTRY)}).'
            )
        steps[i] = validate_step(step, where=lambda key, i=i: f"{source}{_line_of(text, 'preprocess', key, i)}")
        if get_step(name).scope == "map" and any(get_step(s["step"]).scope == "chunk" for s in steps[:i]):
            chunk = ", ".join(s.name for s in STEP_REGISTRY.values() if s.scope == "chunk")
            raise RecipeError(
                f"{source}{_line_of(text, 'preprocess', 'step', i)}: {name!r} needs the whole map, so it must come before the "
                f"per-chunk steps ({chunk}); move it up."
            )
    recipe["preprocess"] = steps
    recipe["analysis"] = _check_analyses(recipe.get("analysis", []), source, text)
    dec = recipe.setdefault("decompose", {}) if "decompose" in recipe else None
    if dec is not None:
        if "preset" in dec and "model" in dec:
            raise RecipeError(f"{source}{_line_of(text, 'decompose')}: [decompose] takes a preset or a model, not both.")
        if "model" in dec:
            spec = _read_model(dec["model"], source, text, base)
            if isinstance(dec["model"], (str, Path)):  # a model file: its content takes its place (and enters the recipe hash)
                dec["model"] = spec
            dec["preset"] = None
        else:
            dec.setdefault("preset", "cspbbr3-633")
            if "params" in dec:  # a parametrised preset (peaks, pl-band) is built now: the recipe holds the model it fits
                dec["model"] = _built_preset(dec["preset"], dec.pop("params"), source, text)
                dec["preset"] = None
        _check_model(dec, source, text)
    comp = recipe.setdefault("compute", {})
    if "jobqueue" in comp:
        _check_keys(comp["jobqueue"], _JOBQUEUE_KEYS, "[compute.jobqueue]", source, text, "compute.jobqueue")
        _check_job_words(comp["jobqueue"], source, text)
    out = recipe["output"]
    out.setdefault("png", False)
    out.setdefault("csv", False)
    return recipe


def _check_job_words(jobqueue: Mapping, source: str, text: str | None) -> None:
    """``[compute.jobqueue]`` strings that become batch-script words (queue, account, memory …): one word, no shell syntax."""
    for key, value in jobqueue.items():
        if isinstance(value, str) and not _JOB_WORD.fullmatch(value):
            raise RecipeError(
                f"{source}{_line_of(text, 'compute.jobqueue', key)}: [compute.jobqueue].{key} = {value!r} goes into the batch script as "
                "it is: give one word of letters, digits and _ . : @ + , / = - (no spaces, newlines, quotes or shell syntax)."
            )
        if key in ("job_script_prologue", "job_extra_directives") and not all(isinstance(v, str) for v in value):
            raise RecipeError(f"{source}{_line_of(text, 'compute.jobqueue', key)}: [compute.jobqueue].{key} is a list of strings.")


def untrusted_fields(recipe: Mapping) -> list[tuple[str, str, str]]:
    """The fields of a recipe that run code or reach other machines (:data:`TRUSTED_FIELDS`) and are set in it.

    Parameters
    ----------
    recipe : mapping
        A validated recipe.

    Returns
    -------
    list of (str, str, str)
        ``(section, key, what it does)`` of each such field present: a non-empty
        ``[compute.jobqueue] job_script_prologue`` / ``job_extra_directives``, or a ``[compute]
        scheduler`` that is a remote address (``tcp://``, ``tls://``, ``ws://``, ``wss://``, ``ucx://``).

    Examples
    --------
    >>> r = validate_recipe({"input": {"path": "m.zarr"}, "output": {"path": "o.zarr"}, "compute": {"scheduler": "tcp://10.0.0.1:8786"}})
    >>> [(s, k) for s, k, _ in untrusted_fields(r)]
    [('compute', 'scheduler')]
    >>> untrusted_fields(validate_recipe({"input": {"path": "m.zarr"}, "output": {"path": "o.zarr"}, "compute": {"scheduler": "slurm"}}))
    []
    """
    comp = recipe.get("compute", {}) or {}
    found = []
    for key in ("job_script_prologue", "job_extra_directives"):
        if (comp.get("jobqueue") or {}).get(key):
            found.append(("compute.jobqueue", key, TRUSTED_FIELDS[("compute.jobqueue", key)]))
    if str(comp.get("scheduler", "")).lower().startswith(_REMOTE):
        found.append(("compute", "scheduler", TRUSTED_FIELDS[("compute", "scheduler")]))
    return found


def check_trusted(recipe: Mapping, trust_recipe: bool = False) -> None:
    """Refuse a recipe file that sets fields which run code or reach other machines, unless it is trusted.

    A recipe is data: shared, downloaded or generated, it must not run shell commands on a cluster
    (``[compute.jobqueue] job_script_prologue``, ``job_extra_directives``) or send work to a Dask
    scheduler elsewhere (``[compute] scheduler = "tcp://…"``, which exchanges pickles). Give those
    on the command line (``--job-prologue``, ``--job-directive``, ``--scheduler``), or pass
    ``--trust-recipe`` (``trust_recipe=True``) for a recipe you wrote.

    Parameters
    ----------
    recipe : mapping
        A validated recipe; only a recipe read from a file (``load_recipe``: it has ``_source``) is
        checked, a dict built in Python is the caller's code already.
    trust_recipe : bool
        Accept those fields from the recipe file.

    Raises
    ------
    RecipeError
        Naming the recipe file and line, the field, what it does and the fix.

    Examples
    --------
    >>> r = validate_recipe({"input": {"path": "m.zarr"}, "output": {"path": "o.zarr"}, "compute": {"scheduler": "tcp://10.0.0.1:8786"}})
    >>> check_trusted(r)  # a dict built in Python: not checked
    >>> check_trusted({**r, "_source": "r.toml"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hyperspec._errors.RecipeError: r.toml: [compute] scheduler = 'tcp://10.0.0.1:8786' is refused in a recipe file: ...
    """
    source = recipe.get("_source")
    if trust_recipe or source is None:
        return
    text = recipe.get("_text")
    found = untrusted_fields(recipe)
    if not found:
        return
    section, key, what = found[0]
    value = (recipe["compute"].get("jobqueue") or {}).get(key) if section == "compute.jobqueue" else recipe["compute"].get(key)
    others = "".join(f"; also [{s}] {k}" for s, k, _ in found[1:])
    raise RecipeError(
        f"{source}{_line_of(text, section, key)}: [{section}] {key} = {value!r} is refused in a recipe file: it is {what}, "
        f"and a recipe is data{others}. Give it on the command line ({_FLAGS[key]}), or, if you wrote this recipe and trust it, "
        "pass --trust-recipe (run_recipe(..., trust_recipe=True))."
    )


def _check_analyses(analyses, source: str, text: str | None) -> list[dict]:
    """``[[analysis]]`` tables, through the analysis registry (``hyperspec.pipeline.analyses``): known analysis, keys, types."""
    from hyperspec.pipeline.analyses import _check_groups, validate_analysis  # noqa: PLC0415

    if isinstance(analyses, Mapping):
        analyses = [analyses]
    if not isinstance(analyses, list):
        raise RecipeError(f'{source}: analyses are written [[analysis]] with step = "..." (see hyperspec analyses).')

    def where(i: int):
        def at(key: str | None) -> str:
            line = _line_of(text, "analysis", key, i)
            if not line and key == "step":  # named with the older key
                line = _line_of(text, "analysis", "kind", i)
            return f"{source}{line or _line_of(text, 'analysis', None, i)}"

        return at

    out = [validate_analysis(a, where=where(i)) for i, a in enumerate(analyses)]
    _check_groups(out, lambda i: where(i)("step"))
    return out


def _built_preset(name: str, params: Mapping, source: str, text: str | None) -> dict:
    """``[decompose] params = {...}`` of a parametrised preset: the model it builds (lines found on the data are refused)."""
    from hyperspec.bands.presets import get_preset, preset_parameters  # noqa: PLC0415

    line = _line_of(text, "decompose", "params") or _line_of(text, "decompose.params")
    if not preset_parameters(name):
        raise RecipeError(f"{source}{line}: [decompose] params: preset {name!r} takes no parameters; only peaks and pl-band do.")
    try:
        spec = get_preset(name, **dict(params))
    except ValueError as exc:
        hint = ""
        if "data" in str(exc):
            hint = (
                f" A recipe fits the lines it names: find them once with hyperspec presets --show {name} --data MAP > model.toml, "
                'then set model = "model.toml" (or give the positions in params).'
            )
        raise RecipeError(f"{source}{line}: [decompose] params: {exc}{hint}") from None
    spec.pop("autostart", None)
    return spec


def _read_model(model, source: str, text: str | None, base: str | Path | None) -> dict:
    """``[decompose] model``: a model file (read, relative to ``base``) or inline terms, as a checked spec."""
    from hyperspec.fit.model_spec import load_model, read_model  # noqa: PLC0415

    line = _line_of(text, "decompose", "model") or _line_of(text, "decompose.model")
    try:
        if isinstance(model, (str, Path)):
            path = Path(model).expanduser()
            return load_model(path if path.is_absolute() or base is None else Path(base) / path)
        return read_model(model, source=f"{source} [decompose.model]")
    except ModelFileError as exc:
        raise RecipeError(f"{source}{line}: [decompose] model: {exc}") from None


def _check_model(dec: dict, source: str, text: str | None) -> None:
    """Build the decomposition model once, so a bad preset, term, shape or override fails before any work."""
    try:
        decompose_model(dec)
    except RecipeError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise RecipeError(f"{source}{_line_of(text, 'decompose')}: [decompose] {exc}") from None


def load_recipe(path: str | Path) -> dict:
    r"""Read and validate a TOML recipe; relative paths in it (input, output, png, csv, model) are taken relative to the recipe's folder.

    Parameters
    ----------
    path : str or Path
        The recipe file.

    Returns
    -------
    dict
        The validated recipe (as :func:`validate_recipe`), with absolute paths, plus ``_text`` and ``_source``.

    Raises
    ------
    RecipeError
        The file is missing, is not TOML, or the recipe is invalid (file, line, key and closest name).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "r.toml").write_text('[input]\npath = "m.zarr"\n[output]\npath = "o.zarr"\n')
    >>> load_recipe(folder / "r.toml")["input"]["path"] == str(folder / "m.zarr")
    True
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path} not found.")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}") from None
    recipe = validate_recipe(raw, source=str(path), text=text, base=path.parent)
    for section, key in (("input", "path"), ("output", "path"), ("output", "png"), ("output", "csv")):
        if not isinstance(recipe[section].get(key), str):  # png/csv = true: next to the output
            continue
        p = Path(recipe[section][key]).expanduser()
        recipe[section][key] = str(p if p.is_absolute() else (path.parent / p))
    recipe["preprocess"] = [
        resolve_paths(step, path.parent, where=lambda key, i=i: f"{path}{_line_of(text, 'preprocess', key, i)}")
        for i, step in enumerate(recipe["preprocess"])
    ]
    recipe["_text"] = text
    recipe["_source"] = str(path)
    return recipe


def recipe_hash(recipe: Mapping) -> str:
    """A digest of everything that changes the results (not the output path, analyses, scheduler or worker counts).

    The input enters by its identity (``hyperspec._paths.input_identity``): its resolved absolute
    path and a cheap content fingerprint (a store's root and ``spectra`` metadata and every file's
    size and modification time; a file's size, time and a hash of its first and last MiB). A run on
    another input, or on an input that changed since, therefore never passes for a finished one;
    moving or copying the input (new path or times) changes the hash too.

    Parameters
    ----------
    recipe : mapping
        A validated recipe.

    Returns
    -------
    str
        16 hex digits.

    Examples
    --------
    >>> r = validate_recipe({"input": {"path": "m.zarr"}, "output": {"path": "o.zarr"}})
    >>> len(recipe_hash(r))
    16
    """
    keep = {k: v for k, v in recipe.items() if not k.startswith("_") and k not in ("output", "analysis")}
    comp = dict(keep.get("compute", {}))
    for k in ("scheduler", "workers", "threads_per_worker", "jobqueue", "memory_mb", "device_memory_mb"):
        comp.pop(k, None)
    keep["compute"] = comp
    keep["input"] = {k: v for k, v in keep.get("input", {}).items() if k != "path"} | {"path": Path(recipe["input"]["path"]).name}
    keep["input_identity"] = input_identity(recipe["input"]["path"])
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]
