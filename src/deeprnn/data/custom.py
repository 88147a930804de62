"""The user's own corpora, selected by a dataset name with a prefix (see docs/own-data.md).

- ``midi:PATH`` or ``midi:PATH#STEP``: a folder of ``*.mid`` / ``*.midi`` files (searched
  recursively) -> music. STEP is the time step (default "eighth"; "quarter", "sixteenth" or
  a number of beats), see ``deeprnn.midi`` for the quantisation rule; without #STEP, files that
  ``deeprnn sample`` wrote on another step (a JSB run's quarter notes) are read with a warning.
  The split is made from the file paths, see ``split_files``.
- ``text:PATH``: a folder with ``train.txt``, ``valid.txt``, ``test.txt``; one sentence per
  line, tokens separated by whitespace -> word-level language modelling.
- ``chars:PATH``: the same files at character level: a sentence is the characters of a line
  after its whitespace is normalised (ends stripped, each run of spaces/tabs -> one space);
  the space is kept as the symbol " " (not "_" as in ptb-char). The line end is not a symbol.
- ``conll:PATH``: a folder with ``train.txt``, ``valid.txt``, ``test.txt`` in CoNLL format:
  ``word tag`` per line (tag = 2nd column, further columns ignored), a blank line between
  sentences, ``-DOCSTART-`` lines skipped -> tagging, and language modelling on the words.

Blank lines are not sentences. Text files are read one line at a time (a line ends with \n): reading
takes the corpus's tokens (one pointer each, each distinct token stored once) and, transiently, a few
times the longest line (docs/own-data.md gives the measured multiple). A line longer than
$DEEPRNN_MAX_LINE_BYTES (default 16 MiB) is an error, as is text that is not UTF-8; both name the
file and line. Parsed corpora are cached in memory per dataset name; the cached arrays and lists are
shared between callers, so do not modify them in place.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from deeprnn import midi
from deeprnn.data.spec import SPLITS, DataFormatError, DatasetSpec, check_split

# Each file's hash value u in [0, 1) falls in one band: train 80 %, valid 10 %, test 10 %.
SPLIT_BANDS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}
MIDI_SUFFIXES = (".mid", ".midi")
DEFAULT_STEP = "eighth"
MAX_LINE_ENV = "DEEPRNN_MAX_LINE_BYTES"  # the longest line a text file may have, in bytes (without its end)
DEFAULT_MAX_LINE_BYTES = 16 << 20

SPEC_FIELDS = {  # prefix -> (family, tasks, level, what it is)
    "midi": ("music", ("music",), None, "MIDI folder"),
    "text": ("text", ("lm",), "word", "word-level text folder"),
    "chars": ("text", ("lm",), "char", "character-level text folder"),
    "conll": ("tagged", ("lm", "tagging"), "word", "CoNLL tagged-text folder"),
}


def parse_name(name: str) -> tuple[str, Path, str | None]:
    """Split ``prefix:PATH[#STEP]`` into (prefix, folder, step); step is None unless prefix is midi."""
    prefix, colon, rest = name.partition(":")
    if not colon or prefix not in SPEC_FIELDS:
        forms = ", ".join(f"{p}:PATH" for p in SPEC_FIELDS)
        raise ValueError(f"unknown custom dataset {name!r}: use one of {forms}")
    step = None
    if prefix == "midi":
        rest, hash_sign, step = rest.rpartition("#")
        if not hash_sign:
            rest, step = step, DEFAULT_STEP
        midi.step_beats(step)  # reject an unknown step early
    if not rest:
        raise ValueError(f"custom dataset {name!r} names no folder")
    return prefix, Path(rest).expanduser(), step


def get_spec(name: str) -> DatasetSpec:
    prefix, folder, step = parse_name(name)
    family, tasks, level, what = SPEC_FIELDS[prefix]
    return DatasetSpec(
        name=name,
        family=family,
        tasks=tasks,
        description=f"your own {what}: {folder}",
        licence="your own data",
        citation="",
        time_step=step,
        level=level,
    )


def _require(name: str, wanted_prefixes: tuple[str, ...], loader: str) -> tuple[str, Path, str | None]:
    prefix, folder, step = parse_name(name)
    if prefix not in wanted_prefixes:
        raise ValueError(f"{loader} cannot load {name!r}: it needs a {' or '.join(wanted_prefixes)}: dataset")
    return prefix, folder, step


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise FileNotFoundError(f"dataset folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"dataset path is not a folder: {folder}")


# ---------------------------------------------------------------------------------------------
# MIDI folders


def hash_unit(relative_path: str) -> float:
    """A stable number in [0, 1) for a file: the first 32 bits of sha1(path as UTF-8) / 2**32."""
    return int(hashlib.sha1(relative_path.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def split_files(relative_paths: list[str]) -> dict[str, list[str]]:
    """Assign the usable files of a MIDI folder to train/valid/test by their relative paths.

    1. With fewer than 3 files, all are train.
    2. Otherwise each file goes to the split whose band holds ``hash_unit(path)``
       (train [0, 0.8), valid [0.8, 0.9), test [0.9, 1)).
    3. Then, in the order train, valid, test, an empty split takes the file whose hash is
       closest to its band (ties: smallest path) from the splits that hold 2 or more files.
    A file's split thus depends only on its own path, unless step 3 moved files.
    """
    paths = sorted(relative_paths)
    if len(paths) < 3:
        return {"train": paths, "valid": [], "test": []}
    u = {path: hash_unit(path) for path in paths}
    split_of = {path: next(s for s, (lo, hi) in SPLIT_BANDS.items() if lo <= u[path] < hi) for path in paths}
    for split in SPLITS:
        if split in split_of.values():
            continue
        sizes = {s: list(split_of.values()).count(s) for s in SPLITS}
        donors = [path for path in paths if sizes[split_of[path]] >= 2]
        lo, hi = SPLIT_BANDS[split]
        split_of[min(donors, key=lambda path: (max(lo - u[path], u[path] - hi, 0.0), path))] = split
    return {split: [path for path in paths if split_of[path] == split] for split in SPLITS}


@lru_cache(maxsize=16)
def _read_midi_folder(name: str) -> dict[str, tuple[tuple[str, np.ndarray], ...]]:
    """split -> ((relative path, piano-roll), ...) for every readable MIDI file of the folder."""
    _, folder, step = _require(name, ("midi",), "load_music")
    _check_folder(folder)
    files = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.suffix.lower() in MIDI_SUFFIXES and path.is_file()
    )
    if "#" not in name.partition(":")[2]:  # the default step, not one the user chose
        _warn_about_sampled_steps(folder, files, step)
    rolls = {}
    for relative_path in files:
        try:
            rolls[relative_path] = midi.midi_to_pianoroll(folder / relative_path, step=step)
        except ValueError as exc:  # unreadable, or no notes: one bad file should not stop the corpus
            warnings.warn(f"skipping {exc}", stacklevel=2)
    if not rolls:
        raise ValueError(f"no usable MIDI files (*.mid, *.midi, with notes) in {folder}")
    return {split: tuple((p, rolls[p]) for p in paths) for split, paths in split_files(list(rolls)).items()}


def _warn_about_sampled_steps(folder: Path, files: list[str], step: str) -> None:
    """Warn when files that ``deeprnn sample`` wrote on another grid (its X.json beside X.mid says which, e.g.
    a JSB run's quarter notes) are read on the default one, which would stretch or squeeze them."""
    steps = {}
    for relative_path in files:
        try:
            steps[relative_path] = json.loads((folder / relative_path).with_suffix(".json").read_text())["time_step"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no sidecar: nothing known about the file's grid
    other = sorted({value for value in steps.values() if value != step})
    if other:
        count = sum(value != step for value in steps.values())
        warnings.warn(f"{folder}: {count} file(s) were sampled by deeprnn on {' and '.join(other)}-note frames "
                      f"(their .json sidecars say so) but are read on the default {step}-note frames, which changes "
                      f"their length; name the folder midi:{folder}#{other[0]} to keep it", stacklevel=3)


def midi_split_files(name: str, split: str) -> list[str]:
    """The relative paths of the files in one split of a ``midi:`` dataset, in load order."""
    check_split(split)
    return [path for path, _ in _read_midi_folder(name)[split]]


def load_music(name: str, split: str) -> list[np.ndarray]:
    """The (T, 88) uint8 piano-rolls of one split of a ``midi:`` dataset, files in path order."""
    check_split(split)
    return [roll for _, roll in _read_midi_folder(name)[split]]


# ---------------------------------------------------------------------------------------------
# Text and CoNLL folders


def max_line_bytes() -> int:
    """The line-length limit: $DEEPRNN_MAX_LINE_BYTES, else DEFAULT_MAX_LINE_BYTES."""
    text = os.environ.get(MAX_LINE_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_LINE_BYTES
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"${MAX_LINE_ENV} must be a number of bytes >= 1, got {text!r}")
    return int(text)


def _split_lines(folder: Path, split: str) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) of ``SPLIT.txt``, read one line at a time."""
    _check_folder(folder)
    path = folder / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    limit, has_text = max_line_bytes(), False
    with open(path, "rb") as handle:
        for number, raw in enumerate(iter(lambda: handle.readline(limit + 2), b""), start=1):
            if len(raw.rstrip(b"\r\n")) > limit:
                raise DataFormatError(f"{path}:{number}: line longer than {limit:,} bytes; raise ${MAX_LINE_ENV} "
                                      "to read it (reading needs a few times the longest line in memory)")
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(f"{path}:{number}: not UTF-8 text (byte {exc.start + 1} of the line is "
                                      f"{raw[exc.start]:#04x})") from None
            for piece in line.splitlines():  # other line ends (\r, \u2028, ...) split a line too, as always
                has_text = has_text or _has_text(piece)
                yield number, piece
    if not has_text:
        raise ValueError(f"split file is empty: {path}")


def _has_text(line: str) -> bool:
    return bool(line) and not line.isspace()  # line.strip() would copy the line


_WORD = re.compile(r"\S+")  # str.split()'s words, found one at a time instead of as a list of them all


def _tokens(line: str, shared: dict[str, str]) -> list[str]:
    """The line's words; each distinct word is one string object (``shared``), however often it occurs."""
    return [shared.setdefault(word, word) for word in map(re.Match.group, _WORD.finditer(line))]


def _symbols(line: str, shared: dict[str, str]) -> list[str]:
    """The characters of " ".join(line.split()) (whitespace normalised), without that string or its words."""
    symbols = []
    for match in _WORD.finditer(line):
        if symbols:
            symbols.append(" ")
        word = match.group()
        symbols.extend(map(shared.setdefault, word, word))  # one object per distinct character
    return symbols


@lru_cache(maxsize=32)
def _read_tagged(name: str, split: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    _, folder, _ = _require(name, ("conll",), "load_tagged")
    sentences, sentence, shared = [], [], {}
    for number, line in _split_lines(folder, split):
        columns = _tokens(line, shared)
        if not columns or columns[0] == "-DOCSTART-":
            if sentence:
                sentences.append(tuple(sentence))
            sentence = []
        elif len(columns) < 2:
            raise ValueError(f"{folder / f'{split}.txt'}:{number}: expected 'word tag', got {line.strip()!r}")
        else:
            sentence.append((columns[0], columns[1]))
    if sentence:
        sentences.append(tuple(sentence))
    return tuple(sentences)


@lru_cache(maxsize=32)
def _read_text(name: str, split: str) -> list[list[str]]:
    prefix, folder, _ = _require(name, ("text", "chars", "conll"), "load_text")
    if prefix == "conll":
        return [[word for word, _ in sentence] for sentence in _read_tagged(name, split)]
    parse, shared = (_symbols if prefix == "chars" else _tokens), {}
    return [parse(line, shared) for _, line in _split_lines(folder, split) if _has_text(line)]


def load_text(name: str, split: str) -> list[list[str]]:
    """Sentences of tokens (words, or characters for ``chars:``); ``conll:`` gives its words. The sentences are
    the cached ones (one copy in memory, however many callers): do not change them."""
    check_split(split)
    return list(_read_text(name, split))


def load_tagged(name: str, split: str) -> list[list[tuple[str, str]]]:
    """Sentences of (word, tag) pairs from a ``conll:`` dataset."""
    check_split(split)
    return [list(sentence) for sentence in _read_tagged(name, split)]


# ---------------------------------------------------------------------------------------------
# Summary for ``deeprnn data info``


def _music_summary(rolls: list[np.ndarray]) -> dict[str, int]:
    onsets = [np.diff(roll.astype(np.int8), axis=0, prepend=0) == 1 for roll in rolls]
    return {
        "sequences": len(rolls),
        "steps": sum(len(roll) for roll in rolls),
        "notes": sum(int(onset.sum()) for onset in onsets),
        "max_polyphony": max((int(roll.sum(axis=1).max()) for roll in rolls if len(roll)), default=0),
    }


def _text_summary(sentences: list[list[str]]) -> dict[str, int]:
    return {
        "sentences": len(sentences),
        "tokens": sum(len(sentence) for sentence in sentences),
        "vocabulary": len({token for sentence in sentences for token in sentence}),
    }


def info(name: str) -> dict[str, dict[str, int]]:
    """Per split: sequences, steps, notes (note onsets), max_polyphony for music;
    sentences, tokens, vocabulary (distinct tokens) and, for ``conll:``, tags for text."""
    prefix, _, _ = parse_name(name)
    summary = {}
    for split in SPLITS:
        if prefix == "midi":
            summary[split] = _music_summary(load_music(name, split))
        else:
            summary[split] = _text_summary(load_text(name, split))
        if prefix == "conll":
            tags = {tag for sentence in load_tagged(name, split) for _, tag in sentence}
            summary[split]["tags"] = len(tags)
    return summary
