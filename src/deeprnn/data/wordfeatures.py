"""What a tagger reads of each word: its id in the word vocabulary and, optionally, features of its spelling.

The word vocabulary (``build_tagging_vocabs``) is built on the training split: by default the 10,000 most
frequent lower-cased words (``data.tagging_max_words``, ``data.tagging_lowercase``); words seen fewer than
``data.tagging_min_count`` times are left out, so ``<unk>`` is learned from the rare training words instead of
never being seen in training.

Spelling features (``model.word_features``), built on the training split too, one vocabulary of feature
strings with ``<pad>`` = 0 (a feature never seen in training is read as 0, i.e. absent):

- ``"affix"``: the lower-cased suffixes of 1, 2 and 3 characters (``suffix3:ing``; a shorter word gives
  ``suffix3:^at``) and the word's shape, its characters mapped to X (upper case), x (lower case), d (digit)
  or kept (anything else), runs collapsed (``Pascanu`` -> ``Xx``, ``1,000`` -> ``d,d``, ``U.S.`` -> ``X.X.``);
- ``"chars"``: the word's characters, case kept (the first and last ``MAX_CHARS // 2`` of a longer word).

A word is *known* if its exact form occurs in the training split; taggers are scored on known and on unknown
words apart (``deeprnn.training.metrics.TaggingMetrics``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import torch

from deeprnn.data.batching import collate_tagged
from deeprnn.data.vocab import PAD, Vocabulary

FEATURE_KINDS = ("affix", "chars")
SUFFIX_LENGTHS = (1, 2, 3)
MAX_CHARS = 20


def word_shape(word: str) -> str:
    """X for upper case, x for lower case, d for digits, other characters kept; runs collapsed."""
    classes = ("X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in word)
    return "".join(key for key, _ in itertools.groupby(classes))


def spelling_features(kind: str, word: str) -> list[str]:
    """The feature strings of ``word`` for ``kind`` "affix" or "chars" (see the module docstring)."""
    if kind == "affix":
        lower = word.lower()
        suffixes = [f"suffix{n}:{lower[-n:] if len(lower) >= n else '^' + lower}" for n in SUFFIX_LENGTHS]
        return suffixes + [f"shape:{word_shape(word)}"]
    if kind == "chars":
        return list(word if len(word) <= MAX_CHARS else word[: MAX_CHARS // 2] + word[-(MAX_CHARS // 2) :])
    raise ValueError(f"word_features must be one of {', '.join(FEATURE_KINDS)}; got {kind!r}")


def build_feature_vocab(kind: str, train_words: list[str]) -> Vocabulary:
    """``<pad>`` then every feature string of the training tokens, most frequent first."""
    counts = Counter()
    for word, n in Counter(train_words).items():  # each distinct word's features once, weighted by its count
        for feature in spelling_features(kind, word):
            counts[feature] += n
    return Vocabulary.from_counts(counts, specials=[PAD])


@dataclass
class TaggerInputs:
    """Turns words into what a tagger reads: word ids (``<unk>`` for words not in ``words``) and, with a
    feature ``kind`` ("affix" or "chars"; None: no features), (N, K) feature ids per word (0 = absent). Built
    from the training split by the tagging task, and from a checkpoint by ``deeprnn tag``."""

    words: Vocabulary
    lowercase: bool = True
    kind: str | None = None
    features: Vocabulary | None = None

    def normalise(self, word: str) -> str:
        return word.lower() if self.lowercase else word

    def word_ids(self, words: list[str]) -> list[int]:
        return self.words.encode(self.normalise(word) for word in words)

    def unknown(self, words: list[str]) -> list[str]:
        """The words read as ``<unk>``, sorted, without repeats."""
        return sorted({word for word in words if self.normalise(word) not in self.words})

    def feature_ids(self, words: list[str]) -> torch.Tensor:
        """(len(words), K) feature ids, padded with 0; K is the longest word's feature count (0 without a kind)."""
        if self.kind is None:
            return torch.zeros(len(words), 0, dtype=torch.long)
        stoi = self.features.stoi
        rows = [[stoi.get(f, 0) for f in spelling_features(self.kind, word)] for word in words]
        table = torch.zeros(len(rows), max((len(r) for r in rows), default=0), dtype=torch.long)
        for i, row in enumerate(rows):
            table[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return table


class TaggedSplit(NamedTuple):
    """One split, encoded: per sentence its word ids, tag ids and spelling ids (indices into ``features`` and
    ``known``, one row per distinct word form of the split)."""

    token_ids: list[list[int]]
    tag_ids: list[list[int]]
    spelling_ids: list[list[int]]
    features: torch.Tensor  # (distinct forms, K) feature ids
    known: torch.Tensor  # (distinct forms,) bool: the exact form occurs in the training split


def encode_split(sentences: list[list[tuple[str, str]]], inputs: TaggerInputs, tags: Vocabulary,
                 train_forms: set[str]) -> TaggedSplit:
    forms: dict[str, int] = {}
    spelling_ids = [[forms.setdefault(word, len(forms)) for word, _ in sentence] for sentence in sentences]
    distinct = list(forms)
    return TaggedSplit(
        token_ids=[inputs.word_ids([word for word, _ in sentence]) for sentence in sentences],
        tag_ids=[tags.encode(tag for _, tag in sentence) for sentence in sentences],
        spelling_ids=spelling_ids,
        features=inputs.feature_ids(distinct),
        known=torch.tensor([form in train_forms for form in distinct], dtype=torch.bool),
    )


class TaggedBatch(NamedTuple):
    """A padded batch of a ``TaggedSplit``: ``TagBatch``'s tensors, plus each token's feature ids (B, T, K;
    K cut to the batch's longest word) and whether its form is known (B, T; False on padding)."""

    tokens: torch.Tensor
    tags: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    features: torch.Tensor
    known: torch.Tensor


def collate_split(split: TaggedSplit, indices) -> TaggedBatch:
    batch = collate_tagged(split.token_ids, split.tag_ids, indices)
    spelling = torch.zeros(batch.tokens.shape, dtype=torch.long)
    spelling[batch.mask] = torch.tensor(list(itertools.chain.from_iterable(split.spelling_ids[i] for i in indices)),
                                        dtype=torch.long)
    features = split.features[spelling] * batch.mask.unsqueeze(-1)  # padding reads no features
    used = features.ne(0).flatten(0, 1).any(0).nonzero()
    features = features[:, :, : int(used.max()) + 1 if len(used) else 0]
    return TaggedBatch(*batch, features, split.known[spelling] & batch.mask)
