"""The loading API: one function per view of a dataset, dispatching on the dataset name.

Names containing ':' (``midi:PATH``, ``text:PATH``, ``chars:PATH``, ``conll:PATH``) are user corpora,
handled by ``deeprnn.data.custom``. Loaders read from the resolved data directory and never download;
a missing file raises FileNotFoundError saying how to get it (``deeprnn data fetch NAME``).
"""

from __future__ import annotations

from functools import lru_cache, wraps

import numpy as np
import torch

from deeprnn.data import music, tagged, text
from deeprnn.data.batching import make_lm_stream
from deeprnn.data.datadir import resolve_data_dir
from deeprnn.data.registry import get_dataset, is_custom
from deeprnn.data.spec import check_split
from deeprnn.data.vocab import Vocabulary, build_lm_vocab, build_tagging_vocabs


def _custom():
    from deeprnn.data import custom

    return custom


def _file_stamps(name: str, data_dir) -> tuple:
    """Identify the dataset's files by path, size and modification time: a changed file is re-read."""
    root = resolve_data_dir(data_dir)
    stamps = []
    for relative in get_dataset(name).files:
        try:
            stat = (root / relative).stat()
            stamps.append((relative, stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append((relative, None, None))
    return str(root), tuple(stamps)


def _cached_per_file_version(load):
    """Parse each benchmark split once per process (parsing Brown or PTB takes about a second).

    The returned lists are shared between callers: treat them as read-only.
    """

    @lru_cache(maxsize=64)
    def cached(name, split, data_dir, stamps):
        return load(name, split, data_dir)

    @wraps(load)
    def wrapper(name: str, split: str, data_dir=None):
        if is_custom(name):
            return load(name, split, data_dir)  # user corpora keep their own cache
        check_split(split)
        get_dataset(name)  # unknown names fail here, with the list of valid ones
        return cached(name, split, data_dir, _file_stamps(name, data_dir))

    return wrapper


def _require(name: str, family: tuple[str, ...], use: str) -> None:
    spec = get_dataset(name)
    if spec.family not in family:
        raise ValueError(
            f"dataset '{name}' is a {spec.family} dataset; {use} needs one of: {', '.join(family)}"
        )


@_cached_per_file_version
def load_music(name: str, split: str, data_dir=None) -> list[np.ndarray]:
    """Piano-rolls of one split: each a (T, 88) 0/1 uint8 array, column j = MIDI pitch 21 + j."""
    check_split(split)
    if is_custom(name):
        return _custom().load_music(name, split)
    _require(name, ("music",), "load_music")
    return music.load_benchmark_music(name, split, data_dir)


@_cached_per_file_version
def load_tagged(name: str, split: str, data_dir=None) -> list[list[tuple[str, str]]]:
    """Sentences of (word, tag) pairs: Brown (affixes stripped), CoNLL-2000 POS, the treebank sample."""
    check_split(split)
    if is_custom(name):
        return _custom().load_tagged(name, split)
    _require(name, ("tagged",), "load_tagged")
    if name == "brown":
        return [
            [(word, tagged.brown_tag(tag)) for word, tag in s] for s in tagged.load_brown(split, data_dir)
        ]
    if name == "conll2000":
        return [[(word, pos) for word, pos, _ in s] for s in tagged.load_conll2000_chunks(split, data_dir)]
    return tagged.load_treebank(split, data_dir)


@_cached_per_file_version
def load_text(name: str, split: str, data_dir=None) -> list[list[str]]:
    """Lines (sentences) as the token lists a language model sees, without ``<eos>``.

    PTB: the file's tokens; ``ptb-char``: each line's symbols (``_`` between words); Brown, CoNLL-2000
    and the treebank sample: the sentence's words, lower-cased.
    """
    check_split(split)
    if is_custom(name):
        return _custom().load_text(name, split)
    _require(name, ("text", "tagged"), "load_text")
    if name in ("ptb", "ptb-char"):
        return text.load_ptb(name, split, data_dir)
    return [[word.lower() for word, _ in sentence] for sentence in load_tagged(name, split, data_dir)]


def lm_vocab_from_lines(name: str, train_lines: list[list[str]]) -> Vocabulary:
    spec = get_dataset(name)
    return build_lm_vocab(train_lines, closed=name in ("ptb", "ptb-char"), char_level=spec.level == "char")


def lm_vocab(name: str, data_dir=None) -> Vocabulary:
    """The language-model vocabulary, built on the training split only.

    ptb: the 10,000 training types incl. ``<eos>`` (closed); ptb-char: ``<eos>`` (the line end) plus the 49
    training symbols; brown / conll2000 / ``text:``: ``<eos>``, ``<unk>`` and the 10,000 most frequent
    training words (ties alphabetical); ``chars:``: ``<eos>``, ``<unk>`` and every training symbol.
    """
    return lm_vocab_from_lines(name, load_text(name, "train", data_dir))


def lm_stream(name: str, split: str, vocab: Vocabulary, data_dir=None) -> torch.Tensor:
    """``[<eos>, line 1..., <eos>, line 2..., <eos>, ...]`` as a LongTensor (see ``LMBatches``)."""
    return make_lm_stream(load_text(name, split, data_dir), vocab)


def tagging_vocabs(name: str, data_dir=None, **options) -> tuple[Vocabulary, Vocabulary]:
    """(words, tags) of the training split: <pad>, <unk>, the top-10k lower-cased words; <unk>, the tags.
    ``options``: those of ``build_tagging_vocabs`` (case, size, minimum count)."""
    return build_tagging_vocabs(load_tagged(name, "train", data_dir), **options)
