"""A run directory written by the code of before the one-definition refactor still loads, evaluates and
resumes, and a fresh run of its config reproduces its metrics: the refactor changed no behaviour.

``tests/fixtures/run-v1`` was made once with ``deeprnn train tests/fixtures/run-v1.toml`` (see that file) and is
never rewritten; its ``summary.json`` and ``metrics.jsonl`` are what that code measured.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from deeprnn.training import evaluate_run, load_config, load_run, train
from deeprnn.training.config import Config

FIXTURE = Path(__file__).parent / "fixtures" / "run-v1"
FIXTURE_CONFIG = Path(__file__).parent / "fixtures" / "run-v1.toml"
TIMINGS = ("wall_time_s", "frames_per_s", "tokens_per_s", "words_per_s")  # the only fields that may differ


def _records(run_dir: Path) -> list[dict]:
    return [_without_timings(json.loads(line)) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _without_timings(record):
    if isinstance(record, dict):
        return {key: _without_timings(value) for key, value in record.items() if key not in TIMINGS}
    return record


def _assert_close(got, want):
    # rel 1e-6: the same arithmetic on another CPU's vector units may round the last float32 bits differently
    assert json.dumps(_shape(got)) == json.dumps(_shape(want))
    assert _numbers(got) == pytest.approx(_numbers(want), rel=1e-6, abs=1e-9)


def _shape(record):
    if isinstance(record, dict):
        return {key: _shape(value) for key, value in record.items()}
    if isinstance(record, list):
        return [_shape(value) for value in record]
    return type(record).__name__ if isinstance(record, float) else record


def _numbers(record):
    if isinstance(record, (dict, list)):
        values = record.values() if isinstance(record, dict) else record
        return [number for value in values for number in _numbers(value)]
    return [record] if isinstance(record, float) else []


def test_fixture_run_loads_and_evaluates_to_its_recorded_metrics():
    model, config = load_run(FIXTURE)
    assert config.model.name == "dots-rnn" and sum(p.numel() for p in model.parameters()) == 1306
    summary = json.loads((FIXTURE / "summary.json").read_text())
    for split in ("valid", "test"):
        _assert_close(evaluate_run(FIXTURE, split, device="cpu")["metrics"], summary[split])


def test_fixture_run_resumes_exactly_and_a_fresh_run_reproduces_it(tmp_path):
    resumed = tmp_path / "resumed"
    shutil.copytree(FIXTURE, resumed)
    train(load_config(FIXTURE_CONFIG, ["train.epochs=3"]), resumed, resume=True, progress=False,
          log=lambda *_: None)
    fresh = tmp_path / "fresh"
    train(load_config(FIXTURE_CONFIG, ["train.epochs=3"]), fresh, progress=False, log=lambda *_: None)
    recorded, after_resume, from_scratch = _records(FIXTURE), _records(resumed), _records(fresh)
    assert len(recorded) == 2 and len(after_resume) == len(from_scratch) == 3
    _assert_close(after_resume[:2], recorded)  # resuming kept the old records
    _assert_close(from_scratch[:2], recorded)  # the golden check: today's code computes what that code did
    _assert_close(after_resume[2], from_scratch[2])  # and the resumed epoch is the uninterrupted one


def _layout(value):
    """A checkpoint's structure: its keys in order, each tensor's dtype and shape, the other values' types."""
    if isinstance(value, dict):
        return {key: _layout(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, *(_layout(item) for item in value)]
    if isinstance(value, torch.Tensor):
        return str(value.dtype), tuple(value.shape)
    return type(value).__name__


def test_a_fresh_run_writes_the_checkpoints_of_the_fixture(tmp_path):
    """The checkpoint format did not change: the same keys in the same order, tensors of the same dtype and shape,
    the same counters (EMA and the plateau schedule are on, so every piece of the training state is there).
    The stored config may have gained keys since (new behaviour gets new keys): the fixture's keys keep their
    values, and the fixture's config read back means the same run as the fresh one."""
    fresh = tmp_path / "fresh"
    train(load_config(FIXTURE_CONFIG), fresh, progress=False, log=lambda *_: None)
    for name in ("checkpoint_last.pt", "checkpoint_best.pt"):
        recorded, written = (torch.load(run / name, weights_only=True) for run in (FIXTURE, fresh))
        old_config, new_config = recorded.pop("config"), written.pop("config")
        assert {section: {key: new_config[section][key] for key in keys}
                for section, keys in old_config.items()} == old_config
        assert Config.from_dict(old_config).identity() == Config.from_dict(new_config).identity()
        assert _layout(written) == _layout(recorded)
        counters = [{k: v for k, v in payload["trainer"].items() if k not in ("wall_time_s", "best_value")}
                    for payload in (recorded, written)]
        assert counters[1] == counters[0]
        assert written["trainer"]["best_value"] == pytest.approx(recorded["trainer"]["best_value"], rel=1e-6)
        assert written["average_updates"] == recorded["average_updates"]
        assert written["model_kwargs"] == recorded["model_kwargs"]
