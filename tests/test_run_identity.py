"""Run identity (issue 29): sweep and ``reproduce`` folders made by earlier code keep meaning the same runs.

``tests/fixtures/sweep-v1`` is a finished sweep (its sweep.json, study.db and run files, without checkpoints)
made by the code of before the one-definition refactor, once, with
    DEEPRNN_DATA=../shared/data deeprnn sweep tests/fixtures/run-v1.toml --grid model.hidden_size=4,5 \
        --set train.epochs=1 --study sweep-v1 --out tests/fixtures/sweep-v1
and never rewritten.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest

from deeprnn.cli.main import main
from deeprnn.experiments import sweep
from deeprnn.experiments.reproduce import adopt, load_tables, table_points

ROOT = Path(__file__).resolve().parents[1]
SWEEP_FIXTURE = ROOT / "tests" / "fixtures" / "sweep-v1"
SWEEP_ARGS = ["tests/fixtures/run-v1.toml", "--grid", "model.hidden_size=4,5", "--set", "train.epochs=1",
              "--study", "sweep-v1"]


def _trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    storage = sweep.open_storage(f"sqlite:///{out / 'study.db'}")
    return optuna.load_study(study_name="sweep-v1", storage=storage).get_trials()


def test_an_old_sweep_folder_is_the_same_sweep_and_trains_nothing(tmp_path, data_dir, monkeypatch, capsys):
    out = tmp_path / "sweep-v1"
    shutil.copytree(SWEEP_FIXTURE, out)
    monkeypatch.chdir(ROOT)  # the sweep's base config is recorded relative to the repository
    assert main(["sweep", *SWEEP_ARGS, "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "2 points: 2 complete" in log and "] epoch" not in log
    assert len(_trials(out)) == 2


def test_an_old_sweep_folder_refuses_another_grid(tmp_path, data_dir, monkeypatch):
    out = tmp_path / "sweep-v1"
    shutil.copytree(SWEEP_FIXTURE, out)
    monkeypatch.chdir(ROOT)
    args = [*SWEEP_ARGS, "--out", str(out)]
    args[args.index("model.hidden_size=4,5")] = "model.hidden_size=4,6"
    assert main(["sweep", *args]) == 2


@pytest.mark.parametrize("table", ["replication-table2"])
def test_the_committed_results_are_adopted_by_their_tables(table, tmp_path, monkeypatch):
    """A fresh clone's ``deeprnn reproduce TABLE`` takes the committed runs instead of training them again."""
    monkeypatch.chdir(ROOT)
    points = table_points(load_tables()[table], tmp_path)
    assert adopt(points, [ROOT / "results" / table], log=lambda message: None) == len(points)
