"""One writer per run directory: the lock that training, resuming, ``--overwrite`` and sampling into a run take.

The lock is an OS lock (``flock``) on a small file beside the run directory, ``.NAME.lock``: beside it rather than
inside, so that it also guards a directory that does not exist yet (a new run) and one whose files are being
replaced (``--overwrite``). The operating system releases it when its process ends in any way, a ``kill -9`` or a
crash included, so a lock is never left behind to block the next ``--resume``. The file itself stays (deleting a
lock file races with the next process opening it); it holds the last holder's process id, host, start time and
sub-command (never its arguments), which a second writer is shown. Readers (``deeprnn report``, ``deeprnn
evaluate``) never take it. On network file systems ``flock`` is only as good as the server's lock support (NFSv4
passes it on; some older mounts ignore it). No torch here: the command line and reports use it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs there are not guarded
    fcntl = None


class RunInUse(RuntimeError):
    """Another process is writing the run directory; the message names it. Nothing was written."""


def lock_path(run_dir: str | Path) -> Path:
    """The lock file of ``run_dir``: ``.NAME.lock`` in the folder that holds it."""
    resolved = Path(run_dir).resolve()
    return resolved.parent / f".{resolved.name}.lock"


def _holder(path: Path) -> str:
    """Who holds the lock, from what it wrote into the lock file."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process (it has not said which yet)"
    return (f"process {info.get('pid')} on host {info.get('host')} since {info.get('since')}"
            f" ({info.get('command')})")


def _command_name() -> str:
    """"deeprnn train", "deeprnn sweep", ...: the sub-command only, never its arguments, which may hold a secret
    (a PostgreSQL storage URL's password) and the lock file is readable by anyone who can read the runs."""
    words = [arg for arg in sys.argv[1:2] if arg.isidentifier()]
    return " ".join(["deeprnn", *words])


@contextmanager
def run_lock(run_dir: str | Path, command: str | None = None) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block; raises ``RunInUse`` at once, naming the holder, if another process
    has it (a second writer never waits, so a forgotten run is noticed rather than queued behind)."""
    path = lock_path(run_dir)
    if fcntl is None:  # pragma: no cover
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInUse(f"{run_dir} is being written by {_holder(path)}; wait for it to end or stop it, "
                           "then try again (nothing was written)") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now().isoformat(timespec="seconds"),
                  "command": command or _command_name()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
