"""metrics.csv (made from metrics.jsonl) and the opt-in TensorBoard event stream, read back with TensorBoard's
own reader."""

from __future__ import annotations

import csv
import json
import math

import pytest

from deeprnn.training import Config, load_config, train
from deeprnn.training.config import ROLE_OF
from deeprnn.training.runlog import metrics_csv

TINY = ["model.name=rnn", "model.hidden_size=8", "data.batch_size=16", "data.eval_batch_size=256",
        "train.threads=1", "data.name=jsb", "train.max_batches_per_epoch=3"]  # fmt: skip
QUIET = {"progress": False, "log": lambda *_: None}


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _events(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def _matches(scalars, expected):
    """TensorBoard's scalars are float32: the same steps, the values to float32's precision."""
    assert [e.step for e in scalars] == [step for step, _ in expected]
    assert [e.value for e in scalars] == pytest.approx([value for _, value in expected], rel=1e-6)


def test_metrics_csv_holds_every_value_of_metrics_jsonl(tmp_path):
    run = tmp_path / "run"
    train(load_config(None, [*TINY, "train.epochs=2"]), run, **QUIET)
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    records = _records(run)
    assert len(rows) == len(records) == 2
    for row, record in zip(rows, records):
        assert int(row["epoch"]) == record["epoch"] and float(row["lr"]) == record["lr"]
        for split in ("train", "valid"):
            for name, value in record[split].items():
                assert float(row[f"{split}.{name}"]) == pytest.approx(value, rel=1e-15), (split, name)
    assert not (run / "tensorboard").exists()  # TensorBoard is opt-in


def test_metrics_csv_columns_are_the_union_in_first_seen_order():
    text = metrics_csv([{"epoch": 1, "valid": {"nll": 2.5}}, {"epoch": 2, "valid": {"nll": 2.0, "ppl": 7.0}}])
    assert text == "epoch,valid.nll,valid.ppl\n1,2.5,\n2,2.0,7.0\n"


def test_tensorboard_is_an_execution_option_absent_from_old_configs():
    assert ROLE_OF["train.tensorboard"] == "execution"
    stored = Config().to_dict()
    del stored["train"]["tensorboard"]
    assert Config.from_dict(stored).train.tensorboard is False


def test_a_two_epoch_run_writes_its_metrics_to_tensorboard_and_a_resume_continues_the_stream(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from deeprnn.training import runlog

    monkeypatch.setattr(runlog, "STEP_LOSS_EVERY", 2)
    run = tmp_path / "run"
    train(load_config(None, [*TINY, "train.epochs=2", "train.tensorboard=true"]), run, **QUIET)
    events = _events(run)
    records = _records(run)
    _matches(events.Scalars("valid/nll"), [(r["step"], r["valid"]["nll"]) for r in records])
    assert [e.value for e in events.Scalars("lr")] == pytest.approx([r["lr"] for r in records], rel=1e-6)
    assert [e.value for e in events.Scalars("train/grad_norm_before_clip")] == pytest.approx(
        [r["train"]["grad_norm_before_clip"] for r in records], rel=1e-6)
    assert [e.step for e in events.Scalars("step/train_loss")] == [2, 4, 6]
    assert all(math.isfinite(e.value) and e.value > 0 for e in events.Scalars("step/train_loss"))
    config_text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"hidden_size": 8' in config_text

    train(load_config(None, [*TINY, "train.epochs=3", "train.tensorboard=true"]), run, resume=True, **QUIET)
    events = _events(run)
    records = _records(run)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    _matches(events.Scalars("valid/nll"), [(r["step"], r["valid"]["nll"]) for r in records])
    assert [e.step for e in events.Scalars("epoch")] == [3, 6, 9]
