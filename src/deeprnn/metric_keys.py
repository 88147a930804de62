"""Every metric a run records, declared once: its key in metrics.jsonl and summary.json, label, unit, decimals
in tables and direction. A torch-free leaf read by training (logs, summary table, the accuracy key), diagnose
and the reports (direction, curves)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    decimals: int
    larger_is_better: bool = False


# In the order logs and tables show them.
METRICS = {m.key: m for m in (
    Metric("nll", "NLL", "NLL, nats per frame", 3),
    Metric("frame_acc", "frame accuracy", "frame accuracy", 4, larger_is_better=True),
    Metric("bce_mean", "mean BCE", "mean per-key BCE", 4),
    Metric("ppl", "perplexity", "perplexity", 1),
    Metric("bpc", "BPC", "bits per character", 3),
    Metric("loss", "loss", "loss, nats", 3),
    Metric("acc", "accuracy", "accuracy", 4, larger_is_better=True),
)}
SHOWN = tuple(METRICS)  # the metrics a log line or summary table shows, in order
FRAME_ACCURACY = "frame_acc"  # music: frames predicted exactly (docs/metrics.md)
ACCURACY = "acc"  # text: tokens or tags predicted
ACCURACY_KEYS = tuple(m.key for m in METRICS.values() if m.larger_is_better)


def larger_is_better(metric: str) -> bool:
    """For a metric key, or a dotted one ("valid.frame_acc"); unknown metrics are losses."""
    found = METRICS.get(metric.rpartition(".")[2])
    return bool(found and found.larger_is_better)
