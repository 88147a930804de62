"""The most-frequent-tag baseline of a tagging dataset: the number a tagger has to beat.

Each word form seen in the training split gets the tag it has most often there (exact case: ``The`` and
``the`` are two words; ties go to the tag first in alphabetical order); every other word gets the most
frequent tag of the whole training split. Scored like the taggers (``TaggingMetrics``): accuracy on all
tokens, on the known ones (exact form seen in training) and on the unknown ones.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from deeprnn import data
from deeprnn import metric_keys as keys

BASELINE = "most-frequent-tag"


def most_frequent_tags(train: list[list[tuple[str, str]]]) -> tuple[dict[str, str], str]:
    """(word form -> its most frequent training tag, the most frequent tag of the training split)."""
    by_word: dict[str, Counter] = defaultdict(Counter)
    for sentence in train:
        for word, tag in sentence:
            by_word[word][tag] += 1
    overall = Counter()
    for counts in by_word.values():
        overall.update(counts)

    def most_frequent(counts: Counter) -> str:
        return min(counts, key=lambda tag: (-counts[tag], tag))

    return {word: most_frequent(counts) for word, counts in by_word.items()}, most_frequent(overall)


def score_most_frequent_tag(train: list[list[tuple[str, str]]], sentences: list[list[tuple[str, str]]]
                            ) -> dict[str, float]:
    """acc, acc_known, acc_unknown (nan without such tokens), tokens and unknown_tokens of the baseline on
    ``sentences``, its lexicon built on ``train``."""
    lexicon, fallback = most_frequent_tags(train)
    hits, counts = Counter(), Counter()
    for sentence in sentences:
        for word, tag in sentence:
            kind = "known" if word in lexicon else "unknown"
            counts[kind] += 1
            hits[kind] += lexicon.get(word, fallback) == tag
    tokens = counts["known"] + counts["unknown"]
    if not tokens:
        raise ValueError("no tokens were scored")

    def accuracy(kind: str) -> float:
        return hits[kind] / counts[kind] if counts[kind] else math.nan

    return {keys.ACCURACY: (hits["known"] + hits["unknown"]) / tokens, keys.ACCURACY_KNOWN: accuracy("known"),
            keys.ACCURACY_UNKNOWN: accuracy("unknown"), keys.TOKENS: tokens, keys.UNKNOWN_TOKENS: counts["unknown"]}


def tagging_baseline(name: str, data_dir=None) -> dict:
    """The baseline of dataset ``name`` on its valid and test splits, as a summary-like dict."""
    train = data.load_tagged(name, "train", data_dir)
    _, fallback = most_frequent_tags(train)
    return {
        "baseline": BASELINE, "dataset": name, "task": "tagging", "unknown_word_tag": fallback,
        **{split: score_most_frequent_tag(train, data.load_tagged(name, split, data_dir))
           for split in ("valid", "test")},
    }  # fmt: skip
