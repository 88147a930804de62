"""Writing files so that a failure (a full disk, a kill) never leaves a torn one, and reading them back.

Whole files (config.json, checkpoints, reports) are written to a temporary file beside them and renamed into
place: a failed write leaves the old file as it was and raises OSError naming it; a killed process leaves
its ``.NAME.*.tmp``, which ``remove_stale_temporaries`` deletes. Files of JSON records, one per line (a run's
``metrics.jsonl``), are appended to: an append that fails part-way is cut back to the file's previous
length. A process killed in the middle of an append can still leave a torn last line: ``read_records``
drops that one record with a warning (the run that wrote it replays its epoch on resume); a damaged line
anywhere else is an error naming the file and line. No torch here: reports use these too.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, write) -> None:
    """Write through a temporary file in the same directory, then rename: a crash never leaves a torn file.

    A write that fails (a full disk) leaves ``path`` as it was and raises OSError naming it. A process killed
    meanwhile leaves its ``.NAME.*.tmp`` behind: ``remove_stale_temporaries`` clears those.
    """
    path = Path(path)
    # a fresh hidden name in the same folder (so os.replace is atomic); "xb" keeps the user's umask, which
    # tempfile.mkstemp would narrow to 0600
    tmp_name = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise _cannot_write(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(exc, path) from None
        raise


def atomic_save(path: Path, save) -> None:
    """``save(temporary_path)`` for a writer that takes a path and reads the format from its suffix (a figure), then
    rename it to ``path``: as ``atomic_write_bytes``, a failure leaves no torn file and raises OSError naming
    ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(exc, path) from None
        raise


def _cannot_write(exc: OSError, path: Path) -> OSError:
    return OSError(exc.errno, f"cannot write it: {exc.strerror or exc}", str(path))


def remove_stale_temporaries(directory: Path, names: tuple[str, ...]) -> list[Path]:
    """Delete the temporary files that ``atomic_write_bytes`` left for ``names`` when killed; returns them."""
    stale = [tmp for name in names for tmp in Path(directory).glob(f".{name}.*.tmp")]
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda handle: handle.write(text.encode()))


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line; on failure the file is left as it was and OSError names ``path``."""
    line = memoryview((json.dumps(record) + "\n").encode())
    with open(path, "ab", buffering=0) as handle:  # unbuffered: a failed write is not retried by close()
        size = handle.seek(0, os.SEEK_END)
        try:
            while line:
                line = line[handle.write(line):]  # a write may take part of the bytes
            os.fsync(handle.fileno())
        except OSError as exc:
            try:
                handle.truncate(size)  # frees what was written, so it works on a full disk too
            except OSError:
                pass  # the torn line is then dropped when the file is read
            raise OSError(exc.errno, f"cannot append to it: {exc.strerror or exc}", str(path)) from None


def read_records(path: Path, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The records of ``path`` (none when it does not exist); a torn last line is dropped with a warning."""
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if number == len(lines):  # no line end after it: the write was cut off
                (warn or warnings.warn)(
                    f"warning: {path}: dropped its torn last record (line {number}: {len(line)} bytes without a "
                    "line end, cut off while it was written)"
                )
                break
            raise ValueError(f"{path}:{number}: damaged record, not a torn last line ({exc})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested JSON object as one level of dotted keys: {"valid": {"nll": 8.4}} -> {"valid.nll": 8.4}."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
