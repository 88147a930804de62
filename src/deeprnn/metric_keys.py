"""Every metric a run records, declared once: its key in metrics.jsonl and summary.json, label, unit, decimals
in tables, direction, whether it is an accuracy (a fraction, which reports show as a percentage) and whether logs
show it. A torch-free leaf read by training (the keys it writes, logs, summary table), diagnose and the reports
(units, decimals, direction, curves)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    decimals: int  # a loss's in reports (an accuracy is a percentage there, with PERCENT_DECIMALS)
    larger_is_better: bool = False
    accuracy: bool = False  # a fraction of frames, tokens or words predicted
    shown: bool = True  # in log lines, the summary table and diagnose's output
    # the values it can take (low, high, in words), which reports check summaries against; None: not checked
    # (a tagger's unknown-word accuracy is NaN where the split has no unknown words)
    valid_range: tuple[float, float, str] | None = None


NON_NEGATIVE = (0.0, math.inf)
FRACTION = (0.0, 1.0, "an accuracy, in [0, 1]")


# The keys training writes (training/metrics.py, training/baselines.py; their definitions: docs/training.md).
NLL = "nll"  # music: nats per frame, summed over the keys
FRAME_ACCURACY = "frame_acc"  # music: frames predicted exactly
BCE_MEAN = "bce_mean"  # music: nll / 88
PERPLEXITY = "ppl"  # word-level language models
BPC = "bpc"  # character-level language models
LOSS = "loss"  # text: cross-entropy in nats per token
ACCURACY = "acc"  # text: tokens or tags predicted
ACCURACY_KNOWN = "acc_known"  # tagging: on the words whose form occurs in the training split
ACCURACY_UNKNOWN = "acc_unknown"  # tagging: on the others
# Counts recorded beside the metrics (no unit, direction or decimals: not metrics).
FRAMES, TOKENS, UNKNOWN_TOKENS = "frames", "tokens", "unknown_tokens"

PERCENT_DECIMALS = 2  # an accuracy in reports: 100 x the fraction, this many decimals, and "%"

# In the order logs and tables show them.
METRICS = {m.key: m for m in (
    Metric(NLL, "NLL", "NLL, nats per frame", 3, valid_range=(*NON_NEGATIVE, "a negative log-likelihood, >= 0")),
    Metric(FRAME_ACCURACY, "frame accuracy", "frame accuracy", 4, larger_is_better=True, accuracy=True,
           valid_range=FRACTION),
    Metric(BCE_MEAN, "mean BCE", "mean per-key BCE", 4, valid_range=(*NON_NEGATIVE, "a cross-entropy, >= 0")),
    Metric(PERPLEXITY, "perplexity", "perplexity", 1, valid_range=(1.0, math.inf, "a perplexity, >= 1")),
    Metric(BPC, "BPC", "bits per character", 3, valid_range=(*NON_NEGATIVE, "bits per character, >= 0")),
    Metric(LOSS, "loss", "loss, nats", 3, valid_range=(*NON_NEGATIVE, "a loss in nats, >= 0")),
    Metric(ACCURACY, "accuracy", "accuracy", 4, larger_is_better=True, accuracy=True, valid_range=FRACTION),
    Metric(ACCURACY_KNOWN, "known-word accuracy", "accuracy on known words", 4, larger_is_better=True,
           accuracy=True, shown=False),
    Metric(ACCURACY_UNKNOWN, "unknown-word accuracy", "accuracy on unknown words", 4, larger_is_better=True,
           accuracy=True, shown=False),
)}
SHOWN = tuple(m.key for m in METRICS.values() if m.shown)  # the metrics a log line or summary table shows, in order
ACCURACY_KEYS = tuple(m.key for m in METRICS.values() if m.accuracy)
UNITS = {m.key: m.unit for m in METRICS.values()}
DECIMALS = {m.key: m.decimals for m in METRICS.values()}
VALID_RANGES = {m.key: m.valid_range for m in METRICS.values() if m.valid_range}


def larger_is_better(metric: str) -> bool:
    """For a metric key, or a dotted one ("valid.frame_acc"); unknown metrics are losses."""
    found = METRICS.get(metric.rpartition(".")[2])
    return bool(found and found.larger_is_better)


def is_accuracy(metric: str) -> bool:
    """For a metric key, or a dotted one ("test.acc_known"): a fraction, shown in reports as a percentage."""
    found = METRICS.get(metric.rpartition(".")[2])
    return bool(found and found.accuracy)
