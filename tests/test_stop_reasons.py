"""summary.json's ``stopped``: the strings every committed summary holds, and how each is recognised."""

from __future__ import annotations

import json
from pathlib import Path

from deeprnn import stop_reasons

REPO = Path(__file__).resolve().parents[1]


def test_the_wording_is_that_of_the_committed_summaries():
    assert stop_reasons.patience(3) == "early stopping: no validation improvement for 3 epochs"
    assert stop_reasons.max_steps(400) == "reached train.max_steps=400"
    assert stop_reasons.rate_floor(9.5367e-07, 1e-06) == "learning rate 9.54e-07 below train.min_lr=1e-06"
    assert stop_reasons.diverged("validation nll is nan") == "diverged: validation nll is nan"
    assert stop_reasons.COMPLETED == "completed all epochs"


def test_each_kind_is_recognised_and_no_other():
    kinds = {"patience": stop_reasons.patience(3), "steps": stop_reasons.max_steps(10),
             "floor": stop_reasons.rate_floor(1e-7, 1e-6), "diverged": stop_reasons.diverged("x"),
             "completed": stop_reasons.COMPLETED}
    assert [k for k, s in kinds.items() if stop_reasons.is_diverged(s)] == ["diverged"]
    assert [k for k, s in kinds.items() if stop_reasons.is_rate_floor(s)] == ["floor"]
    assert [k for k, s in kinds.items() if stop_reasons.is_budget(s)] == ["steps", "completed"]
    assert not any(check(None) for check in (stop_reasons.is_diverged, stop_reasons.is_rate_floor,
                                             stop_reasons.is_budget))


def test_every_committed_summary_stopped_for_a_known_reason():
    summaries = list((REPO / "results").rglob("summary.json"))
    assert len(summaries) > 100
    for path in summaries:
        stopped = json.loads(path.read_text()).get("stopped")
        known = (stop_reasons.is_diverged(stopped) or stop_reasons.is_rate_floor(stopped)
                 or stop_reasons.is_budget(stopped) or str(stopped).startswith("early stopping: no validation"))
        assert known, f"{path.relative_to(REPO)}: stopped {stopped!r}"
