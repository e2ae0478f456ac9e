"""Path safety: an output never destroys an input, and an input's identity for recipe hashes.

- ``check_output_paths`` refuses an output that is, contains or lies inside one of the inputs
  (symlinks, ``..`` and relative paths resolved), before anything is deleted or written.
- ``input_identity`` is a cheap fingerprint of an input (resolved absolute path plus its
  metadata, sizes and modification times, and a hash of a file's first and last MiB), so a
  recipe run on another input, or on an input that changed, is not taken for a finished one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from hyperspec._errors import StoreExistsError

__all__ = ["check_output_paths", "input_identity", "resolved"]

_MIB = 2**20


def resolved(path: str | os.PathLike) -> Path:
    """The absolute path with ``~``, ``..`` and symlinks resolved (the path need not exist).

    Parameters
    ----------
    path : str or PathLike
        Any path, relative to the working directory when not absolute.

    Returns
    -------
    Path
        The resolved absolute path.

    Examples
    --------
    >>> from pathlib import Path
    >>> resolved("a/../b.zarr") == Path.cwd().resolve() / "b.zarr"
    True
    """
    return Path(os.path.expanduser(os.fspath(path))).resolve()


def check_output_paths(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], *, what: str = "output") -> None:
    """Refuse an output that is, contains or lies inside an input; call it before deleting anything.

    Parameters
    ----------
    output : str or PathLike
        The path about to be written (and, with overwrite, deleted first).
    inputs : iterable of str or PathLike or None
        The paths being read; None entries are skipped.
    what : str, optional
        How the error names the output (e.g. ``"output store"``). Default ``"output"``.

    Raises
    ------
    StoreExistsError
        The output and an input are the same path after resolving symlinks, ``..`` and relative
        parts, or one lies inside the other. The message names both paths.

    Examples
    --------
    >>> check_output_paths("out.zarr", ["map.zarr"])  # different paths: fine
    >>> try:
    ...     check_output_paths("./data/../map.zarr", ["map.zarr"])
    ... except FileExistsError as exc:
    ...     print(str(exc).split(";")[0].endswith("is the input map.zarr"))
    True
    """
    out = resolved(output)
    for inp in inputs:
        if inp is None:
            continue
        src = resolved(inp)
        if out == src:
            relation = "is the input"
        elif src in out.parents:
            relation = "lies inside the input"
        elif out in src.parents:
            relation = "contains the input"
        else:
            continue
        alt = src.with_name(src.stem + "_out" + (out.suffix or src.suffix))
        raise StoreExistsError(
            f"the {what} {output} {relation} {inp}; refusing to write it (it would destroy or alter the input, "
            f"even with --overwrite). Choose an output path outside the input, e.g. {alt}."
        )


def input_identity(path: str | os.PathLike) -> dict:
    """A cheap fingerprint of an input: its resolved path and what says its content changed.

    For a Zarr store (a directory with ``zarr.json``): a hash of the root and ``spectra`` metadata
    (which hold the ``hyperspec_complete`` record and its time) and of every file's relative name,
    size and modification time (no chunk is read). For a file: its size, modification time and a
    SHA-256 of its first and last MiB. For any other directory: the names, sizes and times of its
    files. A missing path gives its resolved name only.

    Parameters
    ----------
    path : str or PathLike
        The input (a store, a directory or an instrument file).

    Returns
    -------
    dict
        ``{"path": <resolved absolute path>, "kind": "store" | "file" | "dir" | "missing",
        "content": <16 hex digits>}`` (no ``content`` when missing).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     f = pathlib.Path(tmp) / "m.txt"
    ...     _ = f.write_text("1 2 3")
    ...     a = input_identity(f)
    ...     _ = f.write_text("1 2 3 4")
    ...     print(a["kind"], a == input_identity(f))
    file False
    """
    p = resolved(path)
    if p.is_file():
        st = p.stat()
        h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode())
        with p.open("rb") as fh:
            h.update(fh.read(_MIB))
            if st.st_size > 2 * _MIB:
                fh.seek(-_MIB, os.SEEK_END)
                h.update(fh.read(_MIB))
        return {"path": str(p), "kind": "file", "content": h.hexdigest()[:16]}
    if p.is_dir():
        kind = "store" if (p / "zarr.json").is_file() else "dir"
        h = hashlib.sha256()
        for meta in (p / "zarr.json", p / "spectra" / "zarr.json"):
            if meta.is_file():
                h.update(meta.read_bytes())
        for root, dirs, files in os.walk(p):
            dirs.sort()
            for name in sorted(files):
                f = Path(root) / name
                try:
                    st = f.stat()
                except OSError:
                    continue
                h.update(f"{f.relative_to(p).as_posix()}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return {"path": str(p), "kind": kind, "content": h.hexdigest()[:16]}
    return {"path": str(p), "kind": "missing"}
