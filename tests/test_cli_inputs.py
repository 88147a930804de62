"""The command line in daily use: one line naming the option or file for each bad input, a quiet exit when the
reader of its output goes away, SIGTERM as Ctrl-C, sampling that leaves no torn file, and a training run's last
line saying why it stopped."""

from __future__ import annotations

import builtins
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DiskFull
from deeprnn.cli.main import main
from deeprnn.training import load_config, train

DEMO = str(Path(__file__).parents[1] / "configs" / "demo.toml")
TINY = ["model.name=rnn", "model.hidden_size=8", "data.batch_size=16", "data.eval_batch_size=256",
        "train.threads=1", "data.name=jsb", "train.max_batches_per_epoch=2"]  # fmt: skip


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "deeprnn.cli.main", *args]


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("deeprnn: error: "), captured.err
    return captured.err


@pytest.fixture(scope="module")
def music_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("music") / "run"
    train(load_config(None, [*TINY, "train.epochs=1"]), run, progress=False, log=lambda *_: None)
    return run


# --- config files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5", "true", '["base.toml"]', '{ file = "base.toml" }', '""'])
def test_extends_that_is_not_a_file_name_is_one_line_naming_the_file(tmp_path, capsys, value):
    config = tmp_path / "run.toml"
    config.write_text(f"extends = {value}\n[model]\nhidden_size = 8\n")
    assert main(["train", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = one_error_line(capsys)
    assert str(config) in err and "'extends' must be the path of a config file" in err
    assert not (tmp_path / "run").exists()


def test_a_config_that_is_not_utf8_is_named(tmp_path, capsys):
    config = tmp_path / "latin1.toml"
    config.write_bytes("# Bach chorales, arr. G\u00e9rard\n[model]\nhidden_size = 8\n".encode("latin-1"))
    assert main(["train", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = one_error_line(capsys)
    assert str(config) in err and "not UTF-8" in err


# --- sampling options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "option"), [
    (["--tempo", "0"], "--tempo"), (["--tempo", "nan"], "--tempo"), (["--tempo", "-1"], "--tempo"),
    (["--tempo", "inf"], "--tempo"), (["--tempo", "1e9"], "--tempo"),
    (["--seed", str(2**64)], "--seed"), (["--seed", "-1"], "--seed"),
    (["--seed", str(2**64 - 2), "--num", "3"], "--seed"),
])  # fmt: skip
def test_a_bad_sampling_option_is_named_before_anything_is_sampled(music_run, tmp_path, capsys, args, option):
    out = tmp_path / "samples"
    assert main(["sample", str(music_run), "--steps", "4", "--out", str(out), *args]) == 2
    assert one_error_line(capsys).startswith(f"deeprnn: error: {option} must be ")
    assert not out.exists()


def test_the_extreme_tempos_a_midi_file_can_state_are_written(music_run, tmp_path, capsys):
    import mido

    for tempo in ("3.6", "60000000"):
        out = tmp_path / tempo
        assert main(["sample", str(music_run), "--steps", "4", "--out", str(out), "--tempo", tempo]) == 0
        stated = [m.tempo for m in mido.MidiFile(out / "sample_000.mid").tracks[0] if m.type == "set_tempo"]
        assert stated == [mido.bpm2tempo(float(tempo))]




def test_a_full_disk_while_sampling_names_the_file_and_leaves_no_torn_one(music_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "samples"
    real_open, real_fdopen = builtins.open, os.fdopen

    def open_on_a_full_disk(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return DiskFull(handle) if str(path).startswith(str(out)) and "w" in mode else handle

    monkeypatch.setattr(builtins, "open", open_on_a_full_disk)
    monkeypatch.setattr(os, "fdopen", lambda fd, *args, **kwargs: DiskFull(real_fdopen(fd, *args, **kwargs)))
    assert main(["sample", str(music_run), "--steps", "4", "--out", str(out), "--no-progress"]) == 2
    monkeypatch.undo()
    err = one_error_line(capsys)
    assert f"{out / 'sample_000.mid'}: cannot write it: No space left on device" in err
    assert list(out.iterdir()) == []  # neither an empty sample_000.mid nor a temporary file


# --- the reader of the output goes away -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_closed_pipe_ends_the_command_quietly():
    read, write = os.pipe()
    os.close(read)  # as `deeprnn data info | head -1` once head has its line
    try:
        result = subprocess.run(_cli("data", "info"), stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert result.stderr == "" and result.returncode == 141  # 128 + SIGPIPE, as a Unix tool the pipe closed on


# --- how a training run ends ------------------------------------------------------------------------------------


def test_the_last_line_of_a_training_run_says_why_it_stopped(tmp_path, capsys):
    sets = [f"--set={s}" for s in TINY]
    run = tmp_path / "run"
    assert main(["train", DEMO, "--run-dir", str(run), "--no-progress", *sets, "--set=train.max_steps=3"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"run written to {run}; stopped: reached train.max_steps=3"
    assert json.loads((run / "summary.json").read_text())["stopped"] == "reached train.max_steps=3"
    assert main(["train", DEMO, "--run-dir", str(run), "--no-progress", *sets, "--set=train.epochs=1",
                 "--overwrite"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"run written to {run}; stopped: completed all epochs"


@pytest.mark.slow
def test_sigterm_stops_training_as_ctrl_c_does_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    sets = [arg for s in TINY for arg in ("--set", s)]
    args = ["train", DEMO, "--run-dir", str(run), "--no-progress", *sets, "--set", "train.epochs=10000",
            "--set", "train.patience=10000", "--set", "train.max_batches_per_epoch=1"]
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (run / "checkpoint_last.pt").is_file():
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "deeprnn: interrupted", err
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    resumed = subprocess.run(_cli("train", "--resume", str(run), "--no-progress", "--set",
                                  f"train.epochs={epochs[-1] + 1}"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {run} after epoch" in resumed.stdout
    records = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records == list(range(1, epochs[-1] + 2))  # each epoch once, none lost
