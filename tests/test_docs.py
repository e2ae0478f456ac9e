"""Documentation checks of the public API: ruff's docstring rules, numpydoc sections, light imports.

The doctests themselves (every ``Examples`` section of ``hyperspec/``) run as ordinary test items:
``hyperspec`` is in the pytest ``testpaths`` with ``--doctest-modules`` (pyproject.toml).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hyperspec

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL_HEAVY = ("cupy", "napari", "dask_jobqueue")


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(hyperspec.__path__, "hyperspec."))


def _is_private_module(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def public_objects() -> dict[str, object]:
    """Every public function and class: ``qualified name -> object``.

    Public means: no leading underscore and defined in a module none of whose dotted parts starts
    with an underscore, or listed in the ``__all__`` of any hyperspec module (which brings in the
    re-exported names of private modules, e.g. ``hyperspec.synthetic.Scene``).
    """
    found: dict[str, object] = {}

    def add(obj):
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", "").startswith("hyperspec"):
            found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)

    for name in _modules():
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", ()):
            add(getattr(mod, attr, None))
        if not _is_private_module(name):
            for attr, obj in vars(mod).items():
                if not attr.startswith("_") and getattr(obj, "__module__", None) == name:
                    add(obj)
    return found


def _section(doc: str, title: str) -> bool:
    return re.search(rf"^{title}\n-{{{len(title)}}}\s*$", doc, re.M) is not None


def _documented_parameters(obj) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters if p not in ("self", "cls")]


def _returns_value(func) -> bool:
    """Whether ``func``'s own body has a ``return <value>`` (not nested functions) or a ``yield``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return False
    body = tree.body[0]
    todo, found = list(ast.iter_child_nodes(body)), False
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                found = True
        todo.extend(ast.iter_child_nodes(node))
    return found


def missing_sections(obj) -> list[str]:
    """The numpydoc sections ``obj``'s docstring lacks (Parameters, Returns/Yields, Examples)."""
    doc = inspect.getdoc(obj) or ""
    if not doc:
        return ["docstring"]
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return []  # an exception class: its summary says when it is raised
    missing = []
    if _documented_parameters(obj) and not (_section(doc, "Parameters") or _section(doc, "Attributes")):
        missing.append("Parameters")
    if inspect.isfunction(obj) and _returns_value(obj) and not (_section(doc, "Returns") or _section(doc, "Yields")):
        missing.append("Returns")
    if not _section(doc, "Examples"):
        missing.append("Examples")
    return missing


def test_ruff_docstring_rules():
    """``ruff check --select D hyperspec`` with the project's configuration (numpy convention)."""
    ruff_main = pytest.importorskip("ruff.__main__", reason="ruff is in the `test` extra: pip install -e '.[test]'")
    cmd = [ruff_main.find_ruff_bin(), "check", "--select", "D", "--no-cache", "--output-format", "concise", "hyperspec"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}{proc.stderr}"


def test_public_api_has_numpydoc_sections():
    """Every public function and class has Parameters (if it takes any), Returns (if it returns) and Examples."""
    problems = [f"{name}: missing {', '.join(miss)}" for name, obj in public_objects().items() if (miss := missing_sections(obj))]
    assert not problems, f"{len(problems)} public objects lack numpydoc sections:\n" + "\n".join(problems)


def test_importing_every_module_loads_no_heavy_optional_dependency():
    """Doctest collection imports every module of hyperspec/: none may import cupy, napari or dask_jobqueue."""
    code = (
        "import importlib, pkgutil, sys, hyperspec\n"
        "for m in pkgutil.walk_packages(hyperspec.__path__, 'hyperspec.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(' '.join(n for n in {OPTIONAL_HEAVY!r} if n in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"imported at module level: {proc.stdout.strip()}"


def test_missing_sections_detects_an_undocumented_function():
    def documented(a):
        """Add one.

        Parameters
        ----------
        a : int
            A number.

        Returns
        -------
        int
            ``a + 1``.

        Examples
        --------
        >>> 1 + 1
        2
        """
        return a + 1

    def bare(a):
        """Add one."""
        return a + 1

    assert missing_sections(documented) == []
    assert missing_sections(bare) == ["Parameters", "Returns", "Examples"]


def test_the_wheel_lists_every_subpackage():
    """pyproject's explicit ``packages`` list must name every package folder (a missing one is absent from the wheel)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hyperspec").rglob("__init__.py")}
    assert on_disk - listed == set(), f"add {sorted(on_disk - listed)} to [tool.setuptools] packages in pyproject.toml"


def test_the_distribution_name_and_version(tmp_path):
    """The wheel is ``hyperspec-maps`` (``hyperspec`` on PyPI is another project) and installs the import package ``hyperspec``.

    The wheel is built from this tree and installed into a fresh venv (no dependencies, no index); the venv's
    ``importlib.metadata`` must name it, and its ``hyperspec`` package must be this project's (``HyperspecError``).
    """
    import venv
    import zipfile

    assert importlib.metadata.version("hyperspec-maps") == hyperspec.__version__
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith("hyperspec_maps-")
    with zipfile.ZipFile(wheel) as zf:
        tops = {n.split("/")[0] for n in zf.namelist() if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"hyperspec"}
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    site = subprocess.run(
        [env_dir / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)  # what pip does for a pure wheel, without reaching the index
    probe = (
        "import importlib.metadata as m, importlib.util as u; d = m.distribution('hyperspec-maps'); "
        "print(d.metadata['Name'], d.version, u.find_spec('hyperspec').origin)"
    )
    out = subprocess.run([env_dir / "bin/python", "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path).stdout.split()
    assert out[0] == "hyperspec-maps" and out[1] == hyperspec.__version__
    assert out[2].startswith(site)


def test_install_instructions_use_the_distribution_name():
    """No install line anywhere in the docs names the PyPI project ``hyperspec`` (someone else's code)."""
    old = re.compile(r"pip install [\"']?hyperspec(\[|[\"'\s]|$)")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "hyperspec").rglob("*.py"))]:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not old.search(line), f"{path.relative_to(ROOT)}:{i} installs the wrong project: {line.strip()}"
