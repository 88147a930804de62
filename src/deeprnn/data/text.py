"""Penn Treebank, Mikolov's language-modelling version: word level and character level.

Word files (``ptb.<split>.txt``): one sentence per line, tokens separated by spaces; ``<eos>`` is not in
the file, the line end stands for it. Character files (``ptb.char.<split>.txt``) are derived from the word
files by a fixed rule (``char_file_from_word_file``): words joined by ``_``, a newline after each line,
then every character (newline included) followed by one space.
"""

from __future__ import annotations

from pathlib import Path

from deeprnn.data.datadir import find_file
from deeprnn.data.spec import DataFormatError, check_split

WORD_SEPARATOR = "_"  # the symbol between words in the character-level files


def _ascii_text(path: Path, data: bytes) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{path}: not an ASCII text file (byte {exc.start} is {data[exc.start]:#x})"
        ) from None


def parse_word_lines(path: Path, data: bytes) -> list[list[str]]:
    """The token lists of a word-level PTB file (its lines, split on whitespace)."""
    text = _ascii_text(path, data)
    if not text.endswith("\n"):
        raise DataFormatError(f"{path}: truncated (does not end with a line end)")
    lines = [line.split() for line in text.splitlines()]
    for number, tokens in enumerate(lines, start=1):
        if not tokens:
            raise DataFormatError(f"{path}: line {number} is empty; PTB files have one sentence per line")
    return lines


def parse_char_lines(path: Path, data: bytes) -> list[list[str]]:
    """The symbol lists of a character-level PTB file (each line's symbols, without the line end)."""
    spaced = _ascii_text(path, data)
    # Every symbol is followed by exactly one space, so the symbols sit at even offsets.
    symbols, gaps = spaced[0::2], spaced[1::2]
    if len(spaced) % 2 or gaps.strip(" ") or " " in symbols:
        raise DataFormatError(f"{path}: not in the 'symbol space symbol space' layout of ptb.char files")
    if not symbols.endswith("\n"):
        raise DataFormatError(f"{path}: truncated (does not end with a line end)")
    return [list(line) for line in symbols[:-1].split("\n")]


def char_file_from_word_file(word_data: bytes) -> bytes:
    """Build ``ptb.char.<split>.txt`` from ``ptb.<split>.txt`` (gives the canonical files byte for byte)."""
    text = "".join(
        WORD_SEPARATOR.join(line.split()) + "\n" for line in word_data.decode("ascii").splitlines()
    )
    return (" ".join(text) + " ").encode("ascii")


def load_ptb(name: str, split: str, data_dir=None) -> list[list[str]]:
    """Lines of ``ptb`` (words) or ``ptb-char`` (symbols) as token lists, without ``<eos>``."""
    check_split(split)
    if name == "ptb":
        relpath = f"ptb/ptb.{split}.txt"
        path, _ = find_file(name, (relpath,), data_dir)
        return parse_word_lines(path, path.read_bytes())
    relpath = f"ptb/ptb.char.{split}.txt"
    path, _ = find_file(name, (relpath,), data_dir)
    return parse_char_lines(path, path.read_bytes())
