"""The configs that travel with the package: training presets, sweep presets and recipe tables by name.

configs/ stays in the repository and is installed with the package as ``deeprnn.configs`` (pyproject.toml), so
``deeprnn train demo`` and ``deeprnn reproduce --list`` work from any folder. A name that is an existing path is
that file; any other is looked up in the packaged configs, with or without its ``configs/`` prefix and its
``.toml`` suffix: ``demo``, ``music/jsb``, ``configs/recipes/jsb/dots-rnn.toml``. A leaf module: no torch.
"""

from __future__ import annotations

from pathlib import Path

PREFIX = "configs/"


def configs_root() -> Path:
    """The packaged configs: beside this module when installed from a wheel, else the repository's configs/."""
    installed = Path(__file__).resolve().parent / "configs"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[2] / "configs"


def packaged(name: str | Path) -> Path | None:
    """The packaged config that ``name`` names (``demo``, ``music/jsb``, ``configs/demo.toml``), or None."""
    text = Path(name).as_posix()
    if Path(text).is_absolute() or ".." in Path(text).parts:
        return None
    relative = text[len(PREFIX):] if text.startswith(PREFIX) else text
    root = configs_root()
    for candidate in (root / relative, root / f"{relative}.toml"):
        if candidate.is_file():
            return candidate
    return None


def resolve(name: str | Path) -> Path:
    """``name`` itself when it exists (a file path keeps working), else the packaged config it names; a name that
    is neither is returned as given, for the caller's "not found"."""
    path = Path(name)
    if path.exists():
        return path
    return packaged(name) or path
