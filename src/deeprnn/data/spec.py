"""What a dataset is (``DatasetSpec``), its splits, and the error for a file not in its format: shared by the
registry of benchmarks (``deeprnn.data.registry``), the data directory (``deeprnn.data.datadir``) and the user's
corpora (``deeprnn.data.custom``), which the registry dispatches to; kept apart so that none of them imports
another to get these (no import cycle)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    family: str  # "music" | "text" | "tagged"
    tasks: tuple[str, ...]  # subset of ("music", "lm", "tagging")
    description: str
    licence: str
    citation: str
    files: tuple[str, ...] = ()  # paths relative to the data directory
    time_step: str | None = None  # music: "quarter" | "eighth" (one frame = this note value)
    level: str | None = None  # text: "word" | "char"


SPLITS = ("train", "valid", "test")


class DataFormatError(ValueError):
    """A data file that is truncated, corrupt or not in the expected format."""


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}': expected one of {', '.join(SPLITS)}")
    return split
