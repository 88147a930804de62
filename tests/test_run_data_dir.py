"""A run remembers where it read its data: the commands on it work in a new shell without $DEEPRNN_DATA."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from deeprnn.cli.main import main
from deeprnn.training import load_config, run_data_dir, train

TINY = ["model.name=rnn", "model.hidden_size=8", "data.batch_size=16", "data.eval_batch_size=128", "train.epochs=1",
        "train.max_batches_per_epoch=2", "train.threads=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """A JSB run made with $DEEPRNN_DATA naming the data through another path, as on another machine."""
    root = tmp_path_factory.mktemp("trained")
    (root / "my-data").symlink_to(data_dir)
    before = os.environ.get("DEEPRNN_DATA")
    os.environ["DEEPRNN_DATA"] = str(root / "my-data")
    try:
        train(load_config("configs/demo.toml", TINY), root / "run", progress=False, log=lambda *_: None)
    finally:
        os.environ["DEEPRNN_DATA"] = before
    return root


@pytest.fixture
def new_shell(monkeypatch, tmp_path):
    """No $DEEPRNN_DATA, and an empty per-user cache: nothing but the run's record says where the data is."""
    monkeypatch.delenv("DEEPRNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))


def test_the_run_records_its_data_directory_in_env_json_not_in_its_config(trained):
    run = trained / "run"
    assert json.loads((run / "env.json").read_text())["data_dir"] == str(trained / "my-data")
    assert json.loads((run / "config.json").read_text())["data"]["data_dir"] is None


@pytest.mark.slow
def test_evaluate_sample_and_gradflow_use_the_recorded_directory(trained, new_shell, tmp_path, capsys):
    run = str(trained / "run")
    assert main(["evaluate", run, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = json.loads((trained / "run" / "summary.json").read_text())
    assert result["metrics"]["nll"] == pytest.approx(summary["test"]["nll"], rel=1e-9)
    assert main(["sample", run, "--prime", "test:0:4", "--steps", "4", "--out", str(tmp_path / "samples")]) == 0
    capsys.readouterr()
    # JSB's longest training piece has 129 frames: T = 200 is measured on synthetic inputs only, with a warning
    assert main(["gradflow", "--run-dir", run, "--models", "rnn", "--depths", "2", "--lengths", "5,200",
                 "--hidden", "8", "--batch-size", "2", "--dataset", "jsb", "--out", str(tmp_path / "gradflow"),
                 "--no-progress"]) == 0
    assert "deeprnn: warning: jsb-run-trained: no piece is longer than 129 frames" in capsys.readouterr().err
    rows = json.loads((tmp_path / "gradflow" / "gradflow.json").read_text())["results"]
    lengths = {source: sorted(row["length"] for row in rows if row["source"] == source) for source in
               ("synthetic", "jsb-init", "jsb-run-trained")}
    assert lengths == {"synthetic": [5, 200], "jsb-init": [5], "jsb-run-trained": [5]}  # jsb read there too


def test_the_flag_and_the_environment_come_before_the_record(trained, monkeypatch, data_dir, tmp_path):
    run = trained / "run"
    assert run_data_dir(run, "given") == "given"
    monkeypatch.setenv("DEEPRNN_DATA", str(tmp_path))
    assert run_data_dir(run) is None  # the loaders read $DEEPRNN_DATA
    monkeypatch.delenv("DEEPRNN_DATA")
    assert run_data_dir(run) == str(trained / "my-data")
    configured = tmp_path / "configured"
    shutil.copytree(run, configured)
    config = json.loads((configured / "config.json").read_text())
    config["data"]["data_dir"] = str(data_dir)  # a config that names its directory keeps it
    (configured / "config.json").write_text(json.dumps(config))
    assert run_data_dir(configured) == str(data_dir)


def test_a_recorded_directory_that_is_gone_is_named_with_the_way_out(trained, new_shell, data_dir, tmp_path, capsys):
    moved = tmp_path / "moved-run"
    shutil.copytree(trained / "run", moved)
    env = json.loads((moved / "env.json").read_text())
    (moved / "env.json").write_text(json.dumps({**env, "data_dir": str(tmp_path / "gone")}))
    assert main(["evaluate", str(moved)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"data directory {tmp_path / 'gone'}, recorded in {moved / 'env.json'}" in err
    assert "pass --data-dir DIR or set $DEEPRNN_DATA=DIR" in err
    assert main(["evaluate", str(moved), "--data-dir", str(data_dir)]) == 0


def test_resume_in_a_new_shell_reads_the_recorded_directory(trained, new_shell, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    assert main(["train", "--resume", str(run), "--set", "train.epochs=2", "--no-progress"]) == 0
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert json.loads((run / "env.json").read_text())["data_dir"] == str(trained / "my-data")
    assert "DEEPRNN_DATA" not in os.environ


def test_train_data_dir_is_recorded_but_stays_out_of_the_config(new_shell, data_dir, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "configs/demo.toml", *(f"--set={s}" for s in TINY), "--run-dir", str(run),
                 "--data-dir", str(data_dir), "--no-progress"]) == 0
    assert json.loads((run / "env.json").read_text())["data_dir"] == str(data_dir)
    assert json.loads((run / "config.json").read_text())["data"]["data_dir"] is None
    assert "DEEPRNN_DATA" not in os.environ
