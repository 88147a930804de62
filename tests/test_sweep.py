"""``deeprnn sweep`` on SQLite: kill-and-restart acceptance, grid errors, password redaction, presets."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from deeprnn.cli.main import main
from deeprnn.experiments import sweep
from deeprnn.experiments.sweep_spec import parse_grid, point_key
from deeprnn.training import ConfigError
from deeprnn.training.checkpoint import model_from_config

REPO_ROOT = Path(__file__).resolve().parents[1]
JSB = str(REPO_ROOT / "configs" / "music" / "jsb.toml")
PRESETS = sorted((REPO_ROOT / "configs" / "sweeps").rglob("*.toml"))
GRID = ["model.name=rnn,gru", "model.hidden_size=8,9,10"]
TINY = ["train.epochs=1", "train.max_batches_per_epoch=2", "data.eval_batch_size=128", "train.threads=1"]


def sweep_command(out: Path, study: str, *extra: str) -> list[str]:
    args = [JSB, *(f"--grid={g}" for g in GRID), *(f"--set={s}" for s in TINY), "--study", study, "--out", str(out)]
    return [sys.executable, "-m", "deeprnn.cli.main", "sweep", *args, *extra]


def load(out: Path, study: str) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=sweep.open_storage(f"sqlite:///{out / 'study.db'}"))


@pytest.mark.slow
def test_killed_sweep_restarts_without_rerunning_or_duplicating(tmp_path, data_dir):
    out = tmp_path / "sweep"
    expected = sweep.build_spec(JSB, GRID, TINY, study="kill").points()
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(sweep_command(out, "kill"), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not list(out.glob("*/summary.json")):
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "no trial finished within 120 s"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finished = {d.name for d in out.iterdir() if (d / "summary.json").is_file()}
    interrupted = {d.name for d in out.iterdir() if (d / "config.json").is_file()} - finished
    assert 1 <= len(finished) < len(expected), "the kill should land in the middle of the sweep"

    second = subprocess.run(sweep_command(out, "kill", "--jobs", "2"), capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stdout + second.stderr

    trials = load(out, "kill").get_trials()
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(point_key(t.params) for t in complete) == sorted(point_key(p) for p in expected)  # each once
    assert all(t.state.is_finished() for t in trials)  # nothing left waiting or running
    assert len(trials) <= len(expected) + 1  # at most the killed trial was retried
    run_dirs = sorted(d.name for d in out.iterdir() if d.is_dir())
    assert run_dirs == sorted(sweep.run_name(p) for p in expected)
    assert all((out / name / "summary.json").is_file() for name in run_dirs)
    for trial in trials:  # no trial was claimed by both workers
        assert second.stdout.count(f"] trial {trial.number}:") <= 1, second.stdout
    for name in finished:  # finished runs are not trained again (at most their summary is read)
        assert f"[{name}] epoch" not in second.stdout
    for name in interrupted:  # the interrupted run continues in its own directory
        assert f"[{name}] resuming" in second.stdout, second.stdout

    # `deeprnn report` on the finished sweep: Markdown table, CSV and learning curves, numbers = summary.json.
    report_dir = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report_dir)]) == 0
    assert (report_dir / "table_valid.nll.md").is_file() and list(report_dir.glob("curves_*.png"))
    with open(report_dir / "table_valid.nll.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    for row in rows:
        for point in expected:
            if str(point["model.hidden_size"]) == row["model.hidden_size"]:
                summary = json.loads((out / sweep.run_name(point) / "summary.json").read_text())
                assert float(row[point["model.name"]]) == summary["valid"]["nll"]

    # A third run enqueues nothing and trains nothing.
    assert main(sweep_command(out, "kill")[3:]) == 0
    assert len(load(out, "kill").get_trials()) == len(trials)

    # The same study cannot be reused for another grid.
    other = sweep_command(out, "kill")[3:]
    other[other.index("--grid=model.hidden_size=8,9,10")] = "--grid=model.hidden_size=8,9"
    assert main(other) == 2


def test_sweep_json_records_spec_and_redacted_storage(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(sweep_command(out, "enqueue", "--jobs", "0")[3:]) == 0
    record = json.loads((out / "sweep.json").read_text())
    assert record["study"] == "enqueue" and record["metric"] == "nll" and record["direction"] == "minimize"
    assert record["grids"] == [[["model.name", ["rnn", "gru"]], ["model.hidden_size", [8, 9, 10]]]]
    assert record["storage"] == f"sqlite:///{(out / 'study.db').resolve()}"
    waiting = load(out, "enqueue").get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 6
    assert "6 enqueued" in capsys.readouterr().out


def test_a_study_stored_before_a_config_key_was_added_is_still_the_same_sweep():
    # A study made by an older version lacks keys added since (at defaults that keep the old behaviour):
    # resuming it must work; a changed value must still be refused.
    spec = sweep.build_spec(JSB, GRID, TINY, study="old")
    stored = spec.to_dict()
    del stored["base_config"]["data"]["music_bptt"]
    sweep._check_same_spec(sweep.SweepSpec.from_dict(stored), spec, "study 'old'")
    stored["base_config"]["data"]["batch_size"] += 1
    with pytest.raises(ConfigError, match="data.batch_size"):
        sweep._check_same_spec(sweep.SweepSpec.from_dict(stored), spec, "study 'old'")


# --- grid parsing and presets --------------------------------------------------------------------


def test_grid_values_are_parsed_like_set():
    assert parse_grid("model.hidden_size=10,50, 100") == ("model.hidden_size", [10, 50, 100])
    assert parse_grid("model.name=rnn,dts-rnn") == ("model.name", ["rnn", "dts-rnn"])
    assert parse_grid("optim.lr=0.1,1e-3") == ("optim.lr", [0.1, 0.001])


@pytest.mark.parametrize(
    "grid, overrides, study, message",
    [
        (["model.hiden_size=8,9"], [], "s", "unknown key 'model.hiden_size' \\(did you mean 'model.hidden_size'\\?\\)"),
        (["model.hidden_size=8,big"], [], "s", "'model.hidden_size' must be int, got 'big'"),
        (["model.hidden_size"], [], "s", "--grid expects key=value1,value2"),
        (["model.hidden_size=8,,9"], [], "s", "empty value"),
        (["model.hidden_size=8", "model.hidden_size=9"], [], "s", "given twice"),
        (["model.hidden_size=8"], ["train.epoch=1"], "s", "did you mean 'train.epochs'"),
        ([], [], "s", "nothing to sweep"),
        (["model.hidden_size=8"], [], None, "--study"),
    ],
)
def test_grid_errors_are_clear(grid, overrides, study, message):
    with pytest.raises(ConfigError, match=message):
        sweep.build_spec(JSB, grid, overrides, study=study)


def test_cli_reports_grid_errors_in_one_line(tmp_path, capsys):
    assert main(["sweep", JSB, "--grid", "model.hiden_size=8", "--study", "s", "--out", str(tmp_path)]) == 2
    assert "did you mean 'model.hidden_size'" in capsys.readouterr().err


def test_direction_follows_the_task():
    spec = sweep.build_spec(REPO_ROOT / "configs" / "tagging" / "conll2000.toml", ["model.hidden_size=8"], study="t")
    assert (spec.task, spec.metric, spec.direction) == ("tagging", "acc", "maximize")


def test_preset_refuses_extra_grid():
    with pytest.raises(ConfigError, match="preset with its own grid"):
        sweep.build_spec(PRESETS[0], ["model.hidden_size=8"])


def test_run_names_are_readable_and_distinct():
    name = sweep.run_name({"model.name": "dts-rnn", "model.hidden_size": 50})
    assert name.startswith("dts-rnn_hidden_size-50_")
    assert sweep.run_name({"data.name": "midi:a/b c"}).startswith("midi-a-b-c_")
    assert sweep.run_name({"optim.lr": 0.1}) != sweep.run_name({"optim.lr": "0.1"})


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_presets_build_and_vary_one_hyperparameter_at_a_time(path):
    spec = sweep.build_spec(path)
    assert spec.study == path.stem
    assert spec.cpu_hours and spec.cpu_hours > 0 and spec.description
    assert f"about {spec.cpu_hours:g} CPU core-hours" in path.read_text()
    for grid in spec.grids:
        varied = [key for key, values in grid if key != "model.name" and len(values) > 1]
        assert len(varied) == 1, f"{path.name}: one hyper-parameter per grid, got {varied}"
    for point in spec.points():  # every point is a model that builds (at a tiny width, as a music model)
        config = spec.point_config(point)
        for key in ("hidden_size", "transition_size", "output_size", "embedding_size"):
            setattr(config.model, key, getattr(config.model, key) and 4)
        model_from_config(config, "music", input_size=88)


# --- storage URLs and secrets --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
        ("postgresql+psycopg2://me:p%40ss@db:5432/sweeps", "postgresql+psycopg2://me:***@db:5432/sweeps"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:////tmp/runs/study.db", "sqlite:////tmp/runs/study.db"),
        ("failed: mysql://root:pw@localhost/x (timeout)", "failed: mysql://root:***@localhost/x (timeout)"),
    ],
)
def test_redact_url(url, shown):
    assert sweep.redact_url(url) == shown


def test_password_from_the_environment(monkeypatch, tmp_path):
    assert sweep.with_password("postgresql://u@h/db", "p@ss/word") == "postgresql://u:p%40ss%2Fword@h/db"
    assert sweep.with_password("postgresql://u:given@h/db", "other") == "postgresql://u:given@h/db"
    monkeypatch.setenv(sweep.PASSWORD_ENV, "pw")
    monkeypatch.setenv("DEEPRNN_STORAGE", "postgresql://u@h/db")
    assert sweep.storage_url(None, tmp_path) == "postgresql://u:pw@h/db"
    assert sweep.storage_url("sqlite:///x.db", tmp_path) == "sqlite:///x.db"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("password_in", ["url", "environment"])
def test_storage_errors_never_show_the_password(password_in, tmp_path, capsys, monkeypatch):
    secret = "Sup3r-Secret-pw"
    user = f"sweeper:{secret}" if password_in == "url" else "sweeper"
    if password_in == "environment":
        monkeypatch.setenv(sweep.PASSWORD_ENV, secret)
    url = f"postgresql://{user}@127.0.0.1:{_closed_port()}/sweeps"
    code = main(["sweep", JSB, "--grid=model.hidden_size=8", "--study=s", f"--out={tmp_path}", f"--storage={url}"])
    captured = capsys.readouterr()
    assert code == 2
    assert "cannot open the storage postgresql://sweeper" in captured.err
    assert secret not in captured.out + captured.err
    assert all(secret not in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize("url", ["postgresql://sweeper:pw@127.0.0.1:1/sweeps", "postgresql+psycopg2://u@h/db"])
def test_a_missing_postgres_driver_says_what_to_install(url, monkeypatch, tmp_path, capsys):
    for module in ("psycopg", "psycopg2"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails, as without the postgres extra
    assert sweep.postgres_driver() is None
    code = main(["sweep", "--worker", "--study", "s", f"--out={tmp_path}", f"--storage={url}"])
    err = capsys.readouterr().err
    assert code == 2
    assert 'no PostgreSQL driver' in err and 'pip install -e ".[postgres]"' in err, err
    assert "Failed to import DB access module" not in err and ":pw@" not in err


def test_worker_needs_an_existing_study(tmp_path, capsys):
    assert main(["sweep", "--worker", "--study", "nope", "--out", str(tmp_path)]) == 2
    assert "no study 'nope'" in capsys.readouterr().err


# --- dead workers and pruning --------------------------------------------------------------------


def test_dead_local_worker_is_recognised():
    assert not sweep.worker_died(sweep.worker_token())
    finished = subprocess.Popen(["true"])
    finished.wait()
    host, namespace, _, start = sweep.worker_token().split("|")
    assert sweep.worker_died(f"{host}|{namespace}|{finished.pid}|{start}")
    assert not sweep.worker_died(f"another-host|{namespace}|{finished.pid}|{start}")  # its heartbeat decides


def test_a_retried_trial_is_claimed_before_the_points_not_started(tmp_path):
    storage = sweep.open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    for hidden in (8, 9, 10):
        study.enqueue_trial({"model.hidden_size": hidden})
    first = storage.get_trial(sweep.claim_trial(study, storage))
    assert first.system_attrs["fixed_params"] == {"model.hidden_size": 8}  # grid order otherwise
    storage.set_trial_state_values(first._trial_id, state=optuna.trial.TrialState.FAIL)
    sweep.requeue(study, first)  # its worker died: a retry, enqueued after the other points
    retry = storage.get_trial(sweep.claim_trial(study, storage))
    assert retry.system_attrs["fixed_params"] == {"model.hidden_size": 8} and retry.user_attrs["retry_of"] == 0
    third = storage.get_trial(sweep.claim_trial(study, storage))
    assert third.system_attrs["fixed_params"] == {"model.hidden_size": 9}


def test_a_claim_killed_before_recording_its_worker_is_retried_at_once_on_sqlite(tmp_path):
    # Found by CI: a sweep killed between a claim's two writes (RUNNING, then the worker token) left the
    # point RUNNING through the restart, so the restarted sweep ended with it never run.
    storage = sweep.open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    study.enqueue_trial({"model.hidden_size": 8})
    half_claimed = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("s"), 0)
    storage.set_trial_state_values(half_claimed, state=optuna.trial.TrialState.RUNNING)  # no worker token

    sweep.fail_dead_trials(study, storage, claims_serialised=False)  # a server database: maybe mid-claim
    assert storage.get_trial(half_claimed).state == optuna.trial.TrialState.RUNNING
    with sweep.queue_lock(storage) as claims_serialised:
        assert claims_serialised
        sweep.fail_dead_trials(study, storage, claims_serialised)
    assert storage.get_trial(half_claimed).state == optuna.trial.TrialState.FAIL
    retry = storage.get_trial(sweep.claim_trial(study, storage))
    assert retry.system_attrs["fixed_params"] == {"model.hidden_size": 8} and retry.user_attrs["retry_of"] == 0
    assert retry.system_attrs[sweep.WORKER_ATTR] == sweep.worker_token()


def test_pruning_log_reports_each_epoch_once(tmp_path):
    class Trial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) >= 2

    trial, lines = Trial(), []
    on_log = sweep._pruning_log(trial, tmp_path, "nll", lines.append)
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"epoch": 1, "valid": {"nll": 9.0}}) + "\n")
    on_log("epoch 1")
    with metrics.open("a") as handle:
        handle.write(json.dumps({"epoch": 2, "valid": {"nll": 8.0}}) + "\n")
    with pytest.raises(optuna.TrialPruned):
        on_log("epoch 2")
    on_log("summary")  # no new epoch: no second decision
    assert trial.reports == [(1, 9.0), (2, 8.0)] and lines == ["epoch 1", "epoch 2", "summary"]


def test_a_diverged_point_is_final_shown_and_never_retried(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = [JSB, "--grid=optim.lr=1e-3,1e9", "--grid=model.name=rnn", *(f"--set={s}" for s in TINY),
            "--set=optim.name=sgd", "--set=optim.clip_norm=0", "--set=model.hidden_size=8", "--study", "div",
            "--out", str(out)]
    assert main(["sweep", *args]) == 0  # a diverged point is a result, not a failure to retry
    report = capsys.readouterr().out
    trials = load(out, "div").get_trials()
    states = {t.params["optim.lr"]: sweep.trial_state(t) for t in trials}
    assert states == {1e-3: "COMPLETE", 1e9: "DIVERGED"}
    diverged = next(t for t in trials if t.params["optim.lr"] == 1e9)
    assert diverged.state == optuna.trial.TrialState.FAIL
    assert diverged.user_attrs["diverged"].startswith("diverged: validation nll")
    assert "1 complete, 1 diverged" in report and "DIVERGED" in report
    # a search's report puts validation only beside its points: they are chosen on it, not on the test set
    header = next(line for line in report.splitlines() if line.startswith("run "))
    assert header.split()[-2:] == ["valid", "nll"] and "test" not in header
    completed = next(line for line in report.splitlines() if "COMPLETE" in line)
    assert len(completed.split()) == 3  # name, state, valid nll
    # rerunning the sweep does not enqueue it again (it would diverge again, for ever)
    assert main(["sweep", *args]) == 0
    assert "0 enqueued" in capsys.readouterr().out and len(load(out, "div").get_trials()) == 2
    # deeprnn report says which run diverged
    assert main(["report", str(out), "--out", str(tmp_path / "report"), "--no-figures"]) == 0
    assert f"{diverged.user_attrs['run_name']} diverged: validation nll" in capsys.readouterr().err


def test_a_refused_sweep_leaves_no_new_folder(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    first = [JSB, "--grid=model.hidden_size=8", *(f"--set={s}" for s in TINY), "--study", "s", "--jobs", "0"]
    assert main(["sweep", *first, "--out", str(tmp_path / "a"), "--storage", storage]) == 0
    other = [JSB, "--grid=model.hidden_size=9", *(f"--set={s}" for s in TINY), "--study", "s", "--jobs", "0"]
    assert main(["sweep", *other, "--out", str(tmp_path / "b"), "--storage", storage]) == 2
    assert "was created for a different sweep" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert (tmp_path / "a" / "sweep.json").is_file()  # an existing sweep folder is left as it was
