"""The NLTK corpora, read straight from their zips (no nltk needed): Brown, CoNLL-2000, the PTB sample.

Splits (fixed, documented in docs/data.md, stable across versions):

- Brown has no official split. Files are split by category: within each of the 15 categories (cats.txt),
  files sorted by id, the file at position k (0-based) goes to valid if k % 10 == 8, to test if
  k % 10 == 9, else to train (414 / 45 / 41 files).
- CoNLL-2000 has train (WSJ 15-18) and test (WSJ 20); validation is the last 1,000 sentences of
  train.txt, so train is its first 7,936 sentences.
- The treebank sample (wsj_0001..wsj_0199) uses the Brown rule over its sorted file ids.

Brown tags are the corpus tags with the title, headline, cited-word and foreign-word affixes removed
(``brown_tag``); CoNLL-2000 uses its POS tags as given; the treebank sample uses the ``.mrg``
pre-terminal tags without the ``-NONE-`` empty elements.
"""

from __future__ import annotations

import re
import zipfile
from collections import defaultdict
from functools import cache
from pathlib import Path

from deeprnn.data.datadir import find_file
from deeprnn.data.spec import DataFormatError, check_split

CONLL_VALID_SENTENCES = 1000  # the last 1,000 sentences of CoNLL-2000's train.txt are the validation split

# Removed from Brown tags: -tl (title), -hl (headline), -nc (cited word), and the truncated -t / -n that
# occur as typos in two tags (fw-in+at-t, ppss+ber-n); the prefix fw- (foreign word) is removed too.
BROWN_TAG_SUFFIXES = ("-tl", "-hl", "-nc", "-t", "-n")
BROWN_FOREIGN_PREFIX = "fw-"


@cache  # 472 distinct raw tags, 1.16 million tokens
def brown_tag(raw: str) -> str:
    """A Brown tag without its affixes: ``nn-tl`` -> ``nn``, ``fw-in+nn-tl`` -> ``in+nn``, ``np$`` kept."""
    tag = raw[len(BROWN_FOREIGN_PREFIX) :] if raw.startswith(BROWN_FOREIGN_PREFIX) else raw
    stripped = True
    while stripped:
        stripped = False
        for suffix in BROWN_TAG_SUFFIXES:
            if tag.endswith(suffix) and len(tag) > len(suffix):
                tag, stripped = tag[: -len(suffix)], True
                break
    return tag


def split_by_position(file_ids: list[str]) -> dict[str, str]:
    """Position k in sorted order -> valid if k % 10 == 8, test if k % 10 == 9, else train."""
    return {
        file_id: "valid" if k % 10 == 8 else "test" if k % 10 == 9 else "train"
        for k, file_id in enumerate(sorted(file_ids))
    }


def read_zip_texts(path: Path, wanted) -> dict[str, str]:
    """The ASCII members of a zip for which ``wanted(member_name)`` is true, by name."""
    texts = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if wanted(member):
                    texts[member] = archive.read(member).decode("ascii")
    except Exception as exc:  # zipfile/zlib raise many types on damaged input; report them all as one line
        raise DataFormatError(f"{path}: truncated or corrupt zip ({type(exc).__name__}: {exc})") from None
    return texts


def _member(texts: dict[str, str], path: Path, name: str) -> str:
    if name not in texts:
        raise DataFormatError(f"{path}: the zip has no {name}")
    return texts[name]


# ---------------------------------------------------------------------------------------------- Brown


def brown_file_splits(cats_txt: str) -> dict[str, str]:
    """file id -> split, stratified by category (see the module docstring)."""
    by_category = defaultdict(list)
    for line in cats_txt.splitlines():
        if line.strip():
            file_id, category = line.split()
            by_category[category].append(file_id)
    splits = {}
    for file_ids in by_category.values():
        splits.update(split_by_position(file_ids))
    return splits


def parse_brown_file(text: str, path: Path, file_id: str) -> list[list[tuple[str, str]]]:
    """Sentences (one per non-blank line) of ``word/tag`` tokens, raw tags; split on the last '/'."""
    sentences = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        sentence = []
        for token in tokens:
            word, slash, tag = token.rpartition("/")
            if not slash or not word or not tag:
                raise DataFormatError(f"{path}: {file_id}: token '{token}' is not word/tag")
            sentence.append((word, tag))
        sentences.append(sentence)
    return sentences


def load_brown(split: str, data_dir=None) -> list[list[tuple[str, str]]]:
    """Brown sentences of one split as (word, raw tag) pairs, files in id order."""
    check_split(split)
    path, _ = find_file("brown", ("brown/brown.zip",), data_dir)
    cats = read_zip_texts(path, lambda m: m == "brown/cats.txt")
    splits = brown_file_splits(_member(cats, path, "brown/cats.txt"))
    wanted = {f"brown/{file_id}" for file_id, s in splits.items() if s == split}
    texts = read_zip_texts(path, wanted.__contains__)
    sentences = []
    for member in sorted(wanted):
        sentences.extend(parse_brown_file(_member(texts, path, member), path, member))
    return sentences


# ------------------------------------------------------------------------------------------ CoNLL-2000


def parse_conll(text: str, path: Path, member: str) -> list[list[tuple[str, str, str]]]:
    """``word POS chunk`` lines, a blank line after each sentence -> sentences of triples."""
    if text and not text.endswith("\n"):
        raise DataFormatError(f"{path}: {member} is truncated (does not end with a line end)")
    sentences, sentence = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            if sentence:
                sentences.append(sentence)
            sentence = []
        elif len(fields) == 3:
            sentence.append((fields[0], fields[1], fields[2]))
        else:
            raise DataFormatError(f"{path}: {member} line {number} is not 'word POS chunk'")
    if sentence:
        sentences.append(sentence)
    return sentences


def load_conll2000_chunks(split: str, data_dir=None) -> list[list[tuple[str, str, str]]]:
    """CoNLL-2000 sentences of one split as (word, POS, chunk) triples."""
    check_split(split)
    path, _ = find_file("conll2000", ("conll2000/conll2000.zip",), data_dir)
    member = "conll2000/test.txt" if split == "test" else "conll2000/train.txt"
    texts = read_zip_texts(path, lambda m: m == member)
    sentences = parse_conll(_member(texts, path, member), path, member)
    if split == "train":
        return sentences[:-CONLL_VALID_SENTENCES]
    if split == "valid":
        return sentences[-CONLL_VALID_SENTENCES:]
    return sentences


# -------------------------------------------------------------------------------------- PTB sample

_PRETERMINAL = re.compile(r"\(([^\s()]+) ([^\s()]+)\)")
_MRG_MEMBER = re.compile(r"treebank/combined/(wsj_\d{4})\.mrg")


def parse_mrg(text: str, path: Path, member: str) -> list[list[tuple[str, str]]]:
    """Top-level bracketed trees -> sentences of (word, tag) pre-terminals, ``-NONE-`` elements dropped."""
    sentences, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            if depth == 0:
                start = i
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise DataFormatError(f"{path}: {member} has an unbalanced ')' at offset {i}")
            if depth == 0:
                tree = text[start : i + 1]
                sentences.append([(w, t) for t, w in _PRETERMINAL.findall(tree) if t != "-NONE-"])
    if depth != 0:
        raise DataFormatError(f"{path}: {member} is truncated (unbalanced brackets)")
    return sentences


def load_treebank(split: str, data_dir=None) -> list[list[tuple[str, str]]]:
    check_split(split)
    path, _ = find_file("treebank", ("treebank/treebank.zip",), data_dir)
    texts = read_zip_texts(path, lambda m: _MRG_MEMBER.fullmatch(m) is not None)
    if not texts:
        raise DataFormatError(f"{path}: the zip has no treebank/combined/wsj_*.mrg files")
    splits = split_by_position(list(texts))
    sentences = []
    for member in sorted(texts):
        if splits[member] == split:
            sentences.extend(parse_mrg(texts[member], path, member))
    return sentences
