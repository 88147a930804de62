"""Batches made ahead in a background thread (train.prefetch): same items, same order, errors and early exits
handled, and a run trained with it identical to one trained without."""

from __future__ import annotations

import json
import threading
from contextlib import closing

import pytest

from deeprnn.training import load_config, train
from deeprnn.training.prefetch import prefetch


def _prefetch_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "deeprnn-prefetch"]


def test_items_come_in_order_and_the_thread_ends():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetch([])) == []
    assert _prefetch_threads() == []


def test_an_error_while_making_an_item_is_raised_after_the_items_before_it():
    def source():
        yield from range(5)
        raise OSError("corrupt batch 5")

    seen = []
    with pytest.raises(OSError, match="corrupt batch 5"):
        for item in prefetch(source()):
            seen.append(item)
    assert seen == list(range(5))
    assert _prefetch_threads() == []


def test_leaving_early_stops_the_thread_and_closes_the_source():
    made, closed = [], threading.Event()

    def source():
        try:
            for item in range(1000):
                made.append(item)
                yield item
        finally:
            closed.set()

    with closing(prefetch(source(), depth=2)) as items:
        for item in items:
            if item == 3:
                break
    assert closed.is_set() and _prefetch_threads() == []
    assert len(made) <= 3 + 1 + 2 + 1  # the items used, the queue's depth, and the one being made


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        next(prefetch(range(3), depth=0))


@pytest.mark.slow
@pytest.mark.parametrize("dataset,name", [("jsb", "dots-rnn"), ("ptb-char", "dts-rnn")])
def test_a_run_trained_with_prefetch_matches_one_trained_without(tmp_path, dataset, name):
    """On the CPU, where the arithmetic is deterministic, every logged number agrees exactly: the batches are
    the same and come in the same order, and the model's RNG draws (dropout) are not interleaved with them."""
    tiny = ["model.hidden_size=8", "model.transition_size=8", "model.output_size=8", "model.embedding_size=8",
            "data.batch_size=16", "data.bptt=20", "model.dropout=0.3", "train.threads=1", "train.epochs=2",
            "train.max_batches_per_epoch=6", f"data.name={dataset}", f"model.name={name}"]
    runs = {}
    for prefetching in (False, True):
        config = load_config(None, [*tiny, f"train.prefetch={str(prefetching).lower()}"])
        runs[prefetching] = tmp_path / str(prefetching)
        train(config, runs[prefetching], progress=False, log=lambda *_: None)

    def numbers(run):
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        for line in lines:
            line.pop("wall_time_s")
            line["train"] = {k: v for k, v in line["train"].items() if not k.endswith("_per_s")}
        return lines

    assert numbers(runs[False]) == numbers(runs[True])
    summaries = [json.loads((runs[p] / "summary.json").read_text()) for p in (False, True)]
    assert summaries[0]["test"] == summaries[1]["test"]
