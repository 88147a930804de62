"""Where the data lives: the data-directory resolution order, file lookup and SHA-256 checks.

Resolution order: an explicit ``data_dir`` (``--data-dir``) > ``$DEEPRNN_DATA`` > a per-user cache
(``$XDG_CACHE_HOME/deeprnn/data``, default ``~/.cache/deeprnn/data``). Commands on a trained run put the
directory the run recorded in its env.json between the last two (``deeprnn.training.run_data_dir``).
Nothing here guesses other paths or writes anything; only ``deeprnn.data.fetch`` writes, and only into
the resolved directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from deeprnn.data.registry import BUILT_FROM, FILE_URLS

ENV_VAR = "DEEPRNN_DATA"
ELSEWHERE_HINT = f"If the data is elsewhere, pass --data-dir DIR or set ${ENV_VAR}=DIR"  # in every 'not found'

# relative path -> SHA-256 of the canonical file (the verified copies in ../shared/data).
EXPECTED_SHA256: dict[str, str] = json.loads(
    resources.files("deeprnn.data").joinpath("checksums.json").read_text()
)


class ChecksumError(ValueError):
    """A data file whose SHA-256 differs from the one kept in the package."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deeprnn" / "data"


class DataDirChoice(str):
    """A data directory passed on with the words saying where it came from, for the messages about files
    missing there (e.g. "recorded in runs/demo/env.json"); otherwise an ordinary ``str`` path."""

    origin: str

    def __new__(cls, path: str | os.PathLike, origin: str) -> DataDirChoice:
        choice = super().__new__(cls, os.fspath(path))
        choice.origin = origin
        return choice


def resolve_data_dir_with_origin(data_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The data directory and a few words saying which rule chose it (for error messages)."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), getattr(data_dir, "origin", "given explicitly (--data-dir)")
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"from ${ENV_VAR}"
    return _cache_dir(), f"the per-user cache (no --data-dir, ${ENV_VAR} unset)"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else ``$DEEPRNN_DATA``, else ``$XDG_CACHE_HOME/deeprnn/data`` (~/.cache)."""
    return resolve_data_dir_with_origin(data_dir)[0]


@contextmanager
def data_dir_in_environment(data_dir: str | os.PathLike | None) -> Iterator[None]:
    """Within the block, ``$DEEPRNN_DATA`` is ``data_dir`` (absolute; None: left as it is), for this process
    and the workers it starts. How ``train``, ``sweep`` and ``reproduce`` take ``--data-dir`` without
    writing it into the runs' configs, whose identity must not depend on where a machine keeps its data."""
    if data_dir is None:
        yield
        return
    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = os.path.abspath(Path(data_dir).expanduser())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# (path, size, mtime) -> checked; a file is hashed once per process unless it changes.
_verified: set[tuple[str, int, int]] = set()


def check_sha256(path: Path, relpath: str) -> None:
    """Raise ChecksumError unless ``path`` has the SHA-256 kept in the package for ``relpath``."""
    expected = EXPECTED_SHA256.get(relpath)
    if expected is None:
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"SHA-256 mismatch for {path}: expected {expected}, actual {actual}; refusing to use it "
            f"(not the canonical file, or damaged). Move it away and run `deeprnn data fetch`."
        )
    _verified.add(key)


def source_hint(relpath: str) -> str:
    """How to get a file by hand: its download URL, or what it is built from."""
    if relpath in FILE_URLS:
        return FILE_URLS[relpath]
    if relpath in BUILT_FROM:
        word_file = BUILT_FROM[relpath]
        return f"built locally from {word_file} ({FILE_URLS[word_file]})"
    return "no download known"


def find_file(dataset: str, relpaths: tuple[str, ...] | list[str], data_dir=None) -> tuple[Path, str]:
    """The first of ``relpaths`` present under the data directory, SHA-checked when its sum is known.

    Returns ``(path, relpath)``; raises FileNotFoundError naming the dataset, the file, every path looked
    at and how to get it.
    """
    root, origin = resolve_data_dir_with_origin(data_dir)
    for relpath in relpaths:
        path = root / relpath
        if path.is_file():
            check_sha256(path, relpath)
            return path, relpath
    looked = ", ".join(str(root / r) for r in relpaths)
    wanted = relpaths[0]
    raise FileNotFoundError(
        f"dataset '{dataset}': file {wanted} not found; looked for {looked} (data directory {root}, "
        f"{origin}; order: --data-dir, ${ENV_VAR}, then for a trained run the directory it recorded, then "
        f"{_cache_dir()}). {ELSEWHERE_HINT}; to get it, `deeprnn data fetch {dataset} --data-dir "
        f"{root}` or download {source_hint(wanted)}"
    )
