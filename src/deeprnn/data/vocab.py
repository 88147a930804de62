"""Vocabularies: token <-> id maps built on the training split only.

Ordering is deterministic: special tokens first, then tokens by descending training frequency with
ties broken alphabetically (so the "top 10,000" cut is well defined).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

EOS = "<eos>"
UNK = "<unk>"
PAD = "<pad>"
MAX_WORDS = 10_000  # open-vocabulary word corpora keep their 10,000 most frequent training words


class Vocabulary:
    """A list of distinct tokens; the index of a token is its id."""

    def __init__(self, itos: Iterable[str]):
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            duplicates = sorted(t for t, n in Counter(self.itos).items() if n > 1)
            raise ValueError(f"vocabulary has duplicate tokens: {duplicates[:10]}")

    @classmethod
    def from_counts(
        cls, counts: Counter, specials: Iterable[str] = (), max_size: int | None = None
    ) -> Vocabulary:
        """``specials`` then the ``max_size`` most frequent tokens (ties alphabetical)."""
        specials = list(specials)
        ranked = sorted((t for t in counts if t not in specials), key=lambda t: (-counts[t], t))
        return cls(specials + ranked[:max_size])

    @classmethod
    def from_list(cls, itos: list[str]) -> Vocabulary:
        return cls(itos)

    def to_list(self) -> list[str]:
        return list(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens: {self.itos[:5]}...)"

    @property
    def eos_id(self) -> int | None:
        return self.stoi.get(EOS)

    @property
    def unk_id(self) -> int | None:
        return self.stoi.get(UNK)

    @property
    def pad_id(self) -> int | None:
        return self.stoi.get(PAD)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids; a token not in the vocabulary becomes ``<unk>``, or raises ValueError without one."""
        stoi, unk = self.stoi, self.unk_id
        if unk is not None:
            return [stoi.get(token, unk) for token in tokens]
        ids = []
        for token in tokens:
            if token not in stoi:
                raise ValueError(f"token {token!r} is not in the vocabulary (which has no {UNK})")
            ids.append(stoi[token])
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]


def build_lm_vocab(train_lines: list[list[str]], closed: bool, char_level: bool) -> Vocabulary:
    """The language-model vocabulary of a training split.

    closed (PTB word and char): every training token plus ``<eos>``, which stands for the line end.
    open, word level: ``<eos>``, ``<unk>``, then the 10,000 most frequent training words.
    open, char level: ``<eos>``, ``<unk>``, then every training symbol.
    """
    counts = Counter(token for line in train_lines for token in line)
    if closed:
        return Vocabulary.from_counts(counts, specials=[EOS])
    return Vocabulary.from_counts(counts, specials=[EOS, UNK], max_size=None if char_level else MAX_WORDS)


def build_tagging_vocabs(
    train: list[list[tuple[str, str]]], lowercase: bool = True, max_words: int | None = MAX_WORDS, min_count: int = 1
) -> tuple[Vocabulary, Vocabulary]:
    """Words: ``<pad>``, ``<unk>`` and the ``max_words`` most frequent training words (None: all of them) seen
    at least ``min_count`` times, lower-cased unless ``lowercase`` is False. The defaults are the vocabulary
    of every tagging run made before these options existed.

    Tags: ``<unk>`` then every training tag. A tag seen only in valid/test (3 tokens of Brown's valid
    split) maps to ``<unk>``, which no model is trained to predict, so it counts as an error.
    """
    words = Counter(word.lower() if lowercase else word for sentence in train for word, _ in sentence)
    if min_count > 1:
        words = Counter({word: n for word, n in words.items() if n >= min_count})
    tags = Counter(tag for sentence in train for _, tag in sentence)
    return (
        Vocabulary.from_counts(words, specials=[PAD, UNK], max_size=max_words),
        Vocabulary.from_counts(tags, specials=[UNK]),
    )


def encode_tagged(
    sentences: list[list[tuple[str, str]]], words: Vocabulary, tags: Vocabulary
) -> tuple[list[list[int]], list[list[int]]]:
    """Word ids (words lower-cased, as in ``build_tagging_vocabs``) and tag ids per sentence."""
    token_ids = [words.encode(word.lower() for word, _ in sentence) for sentence in sentences]
    tag_ids = [tags.encode(tag for _, tag in sentence) for sentence in sentences]
    return token_ids, tag_ids
