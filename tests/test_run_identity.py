"""Run identity: sweep and ``reproduce`` folders made by earlier code keep meaning the same runs.

``tests/fixtures/sweep-v1`` is a finished sweep (its sweep.json, study.db and run files, without checkpoints)
made by the code of before the one-definition refactor, once, with
    DEEPRNN_DATA=../shared/data deeprnn sweep tests/fixtures/run-v1.toml --grid model.hidden_size=4,5 \
        --set train.epochs=1 --study sweep-v1 --out tests/fixtures/sweep-v1
and never rewritten.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import optuna
import pytest

from deeprnn.cli.main import main
from deeprnn.experiments import sweep
from deeprnn.experiments.reproduce import adopt, load_tables, table_points
from deeprnn.models import count_parameters
from deeprnn.options import ROLE, ROLES, option
from deeprnn.training.checkpoint import RESUMABLE_CHANGES, model_from_config
from deeprnn.training.config import RESUMABLE, ROLE_OF, SAME_RESULT, Config, changed_keys, config_differences, validate
from deeprnn.training.tasks import resolve_task

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


def test_an_old_sweep_folder_goes_on_with_other_execution_options(tmp_path, data_dir, monkeypatch, capsys):
    """Threads, device, prefetch are where and how fast a sweep runs, not which runs it means."""
    out = tmp_path / "sweep-v1"
    shutil.copytree(SWEEP_FIXTURE, out)
    monkeypatch.chdir(ROOT)
    assert main(["sweep", *SWEEP_ARGS, "--set", "train.threads=2", "--set", "train.prefetch=true",
                 "--out", str(out)]) == 0
    assert "2 points: 2 complete" in capsys.readouterr().out and len(_trials(out)) == 2


TABLES = ["jsb", "brown-pos", "replication-table2"]  # every table: tests/test_init_gain.py, by identity


@pytest.mark.parametrize("table", TABLES)
def test_the_committed_results_are_adopted_by_their_tables(table, tmp_path, monkeypatch):
    """A fresh clone's ``deeprnn reproduce TABLE`` takes the committed runs instead of training them again. Most
    were made with ``--set train.threads=1`` and their recipes leave threads unset: threads is execution, so the
    same run (before the one-definition refactor, reproduce refused them while resume accepted the change)."""
    monkeypatch.chdir(ROOT)
    # the points of rows added since (not run yet) have no committed run to adopt
    points = [p for p in table_points(load_tables()[table], tmp_path) if (ROOT / "results" / table / p.label).is_dir()]
    assert len(points) >= 18 and adopt(points, [ROOT / "results" / table], log=lambda message: None) == len(points)


def test_every_option_declares_its_role():
    for section in dataclasses.fields(Config):
        for declared in dataclasses.fields(section.default_factory):
            assert declared.metadata.get(ROLE) in ROLES, f"{section.name}.{declared.name} declares no role"
    assert ROLE_OF["train.threads"] == "execution" and ROLE_OF["train.patience"] == "budget"
    with pytest.raises(ValueError, match="unknown role"):
        option(1, "speed")


def test_identity_leaves_out_the_ignored_roles_and_keys():
    config, other = Config(), Config()
    other.train.threads, other.train.epochs = 1, 50
    assert set(config.flat()) == set(ROLE_OF) and config.flat()["model.hidden_size"] == 200
    assert changed_keys(config, other) == ["train.epochs", "train.threads"]
    assert changed_keys(config, other, ignore=SAME_RESULT) == ["train.epochs"]  # reproduce, sweep
    assert changed_keys(config, other, ignore=RESUMABLE) == []  # resume
    default_epochs = Config().train.epochs
    assert config_differences(config, other, ignore=SAME_RESULT) == [("train.epochs", default_epochs, 50)]
    assert "train.epochs" not in config.identity(ignore=("train.epochs",))
    with pytest.raises(ValueError, match="neither a role"):
        config.identity(ignore=("speed",))


def test_resume_reproduce_and_sweep_share_one_rule():
    """The keys a resume may change are exactly the execution and budget options; reproduce and sweep ignore the
    execution ones (there were once three lists, and they disagreed on train.threads)."""
    assert set(RESUMABLE_CHANGES) == {key for key, role in ROLE_OF.items() if role in ("execution", "budget")}
    assert {"train.device", "train.threads", "train.prefetch", "train.cuda_graph"} <= set(RESUMABLE_CHANGES)
    assert {"train.epochs", "train.patience", "train.max_steps"} <= set(RESUMABLE_CHANGES)
    assert SAME_RESULT == ("execution",) and set(RESUMABLE) == {"execution", "budget"}


COMMITTED_CONFIGS = sorted((ROOT / "results").rglob("config.json"))
SIZES = {"music": {"input_size": 88}, "lm": {"vocab_size": 50},
         "tagging": {"vocab_size": 50, "num_tags": 12, "feature_vocab_size": 30}}  # stand-ins for the data's


@pytest.mark.parametrize("path", COMMITTED_CONFIGS, ids=lambda path: str(path.relative_to(ROOT / "results")))
def test_every_committed_config_parses_and_builds_its_model(path):
    config = Config.from_dict(json.loads(path.read_text()), source=str(path))
    validate(config)
    task = resolve_task(config)
    assert count_parameters(model_from_config(config, task, **SIZES[task])) > 0
