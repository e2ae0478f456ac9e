"""One run per output store: a lock file ``<output>.lock`` beside the store.

A run takes the lock before it looks at, creates, resumes or replaces its output (and the
``<output>_pre.zarr`` intermediate) and gives it back when it ends, whether it finished, failed
or was cancelled. The file holds JSON: the holder's ``pid``, ``host``, start time (``started``,
UTC), the process's start time on Linux (``pid_start``, so a reused pid is not taken for the
holder), the ``output`` and the ``command``. A second run into the same store is refused with the
holder's pid, host and start time, or waits for it (``wait``). A lock whose process is gone (a
dead pid on this host, e.g. a run killed with ``kill -9``) is stale: it is taken over, with a
message. A lock held from another host cannot be checked from here: the message says which host
and how to remove the file when that run is known to be gone.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperspec._errors import HyperspecError

__all__ = ["StoreLockedError", "RunLock", "lock_path", "read_lock"]


class StoreLockedError(HyperspecError, FileExistsError):
    """Another run holds the output store's lock (``<output>.lock``).

    Examples
    --------
    >>> issubclass(StoreLockedError, FileExistsError)
    True
    """


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of an output store: ``<output>.lock`` in the store's parent folder.

    Parameters
    ----------
    output : str or PathLike
        The output store.

    Returns
    -------
    Path

    Examples
    --------
    >>> lock_path("runs/result.zarr").as_posix()
    'runs/result.zarr.lock'
    """
    out = Path(output)
    return out.with_name(out.name + ".lock")


def read_lock(path: str | os.PathLike) -> dict[str, Any] | None:
    """The holder recorded in a lock file (None when the file is missing or unreadable).

    Parameters
    ----------
    path : str or PathLike
        A lock file (:func:`lock_path`).

    Returns
    -------
    dict or None
        ``pid``, ``host``, ``started``, ``output`` … as written by :class:`RunLock`.

    Examples
    --------
    >>> read_lock("no-such.lock") is None
    True
    """
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``; None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22: starttime (fields after the command name)


def _alive(info: dict[str, Any]) -> bool:
    """Whether the process a lock names (on this host) still runs; a reused pid (another start time) does not count."""
    try:
        pid = int(info["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    except OSError:
        return False
    recorded, now = info.get("pid_start"), _process_start(pid)
    return not (recorded and now and str(recorded) != now)


def _holder(info: dict[str, Any] | None, path: Path) -> str:
    if info is None:
        return f"{path} exists but cannot be read"
    return f"held by pid {info.get('pid')} on {info.get('host')} since {info.get('started')}" + (
        f" ({info['command']})" if info.get("command") else ""
    )


class RunLock:
    """The lock of one output store, taken for the length of a run (a context manager).

    Parameters
    ----------
    output : str or PathLike
        The output store; the lock is ``<output>.lock`` beside it (its folder is created).
    wait : bool or float
        False (default): refuse at once when another run holds the lock. True: wait until it is
        given back. A number: wait at most that many seconds.
    say : callable, optional
        ``say(message)`` for the messages (waiting, a stale lock taken over); default stderr.
    poll : float
        Seconds between checks while waiting.

    Raises
    ------
    StoreLockedError
        On entry: the lock is held by a running process (or from another host), and ``wait`` is
        False or its time ran out. The message names the holder (pid, host, start time) and the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.zarr"
    >>> with RunLock(out):
    ...     read_lock(lock_path(out))["pid"] == os.getpid()
    True
    >>> lock_path(out).exists()
    False
    """

    def __init__(
        self, output: str | os.PathLike, *, wait: bool | float = False, say: Callable[[str], None] | None = None, poll: float = 0.5
    ) -> None:
        self.output = Path(output)
        self.path = lock_path(self.output)
        self.wait = wait
        self.poll = poll
        self.say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.info: dict[str, Any] | None = None

    def _record(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": platform.node(),
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "pid_start": _process_start(os.getpid()),
            "output": str(self.output.resolve()),
            "command": " ".join(sys.argv)[:300],
            "token": uuid.uuid4().hex,
        }

    def _try_create(self, record: dict[str, Any]) -> bool:
        """Create the lock file with ``record`` in one step (a hard link of a written file); False if it exists."""
        tmp = self.path.with_name(f".{self.path.name}.{record['token']}.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive create
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(record))
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def acquire(self) -> RunLock:
        """Take the lock (see the class); returns self."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = self._record()
        deadline = None if self.wait is True or self.wait is False else time.monotonic() + float(self.wait)
        waiting_said = False
        unreadable_since: float | None = None
        while True:
            if self._try_create(record):
                self.info = record
                return self
            info = read_lock(self.path)
            if info is None:  # being written by another run's exclusive create, or damaged: give it a moment
                unreadable_since = unreadable_since or time.monotonic()
                if time.monotonic() - unreadable_since > 2.0:
                    self.say(f"run: {self.path} is unreadable (damaged); taking it over")
                    self.path.unlink(missing_ok=True)
                    continue
            else:
                unreadable_since = None
                if info.get("host") == platform.node() and not _alive(info):
                    self.say(f"run: taking over the stale lock {self.path} (pid {info.get('pid')} on {info.get('host')}, "
                             f"since {info.get('started')}, is no longer running)")  # fmt: skip
                    if read_lock(self.path) == info:  # still that stale lock (not one another run just took)
                        self.path.unlink(missing_ok=True)
                    continue
            if self.wait is False or (deadline is not None and time.monotonic() >= deadline):
                other = "" if info is None or info.get("host") == platform.node() else (
                    f" It is held from another host: if that run is gone, delete {self.path}."
                )  # fmt: skip
                raise StoreLockedError(
                    f"{self.output} is being written by another run: its lock {self.path} is {_holder(info, self.path)}.{other} "
                    "Wait for that run to finish (hyperspec run --wait, run_recipe(..., wait=True)), or choose another output."
                )
            if not waiting_said:
                self.say(f"run: waiting for {self.output}: its lock {self.path} is {_holder(info, self.path)}")
                waiting_said = True
            time.sleep(self.poll if deadline is None else max(0.0, min(self.poll, deadline - time.monotonic())))

    def release(self) -> None:
        """Give the lock back (only if this run still holds it)."""
        if self.info is not None and (read_lock(self.path) or {}).get("token") == self.info["token"]:
            self.path.unlink(missing_ok=True)
        self.info = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
