"""One writer per run directory (deeprnn.runlock), and --overwrite that replaces a run only once the new one can
start. Writers are real processes here: the lock is the operating system's, per process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deeprnn.experiments.sampling import sample_run
from deeprnn.runlock import RunInUse, lock_path, run_lock
from deeprnn.training import load_config, train
from deeprnn.training.trainer import RUN_FILES

# A music run that trains for about 10 s on one thread: long enough that a second writer, started once the
# first holds the lock, asks for it while the first is still training.
LONG = ["--set", "model.name=rnn", "--set", "model.hidden_size=16", "--set", "train.epochs=150",
        "--set", "train.patience=1000", "--no-progress"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "deeprnn.cli.main", *args]


def _wait_for_holder(run_dir: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until ``proc`` holds ``run_dir``'s lock (it writes its pid into the lock file once it has it)."""
    path, deadline = lock_path(run_dir), time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(path.read_text() or "{}").get("pid") == proc.pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    pytest.fail(f"the first writer never took the lock (exit {proc.poll()})")


def _second_writer_is_refused(run_dir: Path, first_args: list[str], second_args: list[str]) -> subprocess.Popen:
    """Start the first writer, then the second once the first holds the lock; check the second was refused with
    one line naming the first, and return the first (still running)."""
    first = subprocess.Popen(_cli(*first_args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_holder(run_dir, first)
    second = subprocess.run(_cli(*second_args), capture_output=True, text=True, timeout=120)
    assert first.poll() is None, "the first writer ended before the second asked; make LONG longer"
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"is being written by process {first.pid} on host" in lines[0], second.stderr
    return first


@pytest.mark.slow
def test_two_resumes_at_once_one_runs_and_every_epoch_is_recorded_once(tmp_path):
    run = tmp_path / "run"
    subprocess.run(_cli("train", "configs/demo.toml", "--run-dir", str(run), *LONG, "--set", "train.epochs=1"),
                   check=True, capture_output=True, timeout=120)
    resume = ["train", "--resume", str(run), "--set", "train.epochs=150", "--no-progress"]
    first = _second_writer_is_refused(run, resume, resume)
    # the lock file names the sub-command, never its arguments (a storage URL may carry a password)
    assert json.loads(lock_path(run).read_text())["command"] == "deeprnn train"
    assert first.wait(timeout=300) == 0, first.stderr.read()
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 151))
    assert json.loads((run / "summary.json").read_text())["epochs"] == 150


@pytest.mark.slow
def test_two_new_runs_in_one_directory_leave_the_first_whole(tmp_path):
    run = tmp_path / "run"
    new = ["train", "configs/demo.toml", "--run-dir", str(run), *LONG]
    first = _second_writer_is_refused(run, new, [*new, "--set", "model.hidden_size=64"])
    assert first.wait(timeout=300) == 0, first.stderr.read()
    config = json.loads((run / "config.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert config["model"]["hidden_size"] == 16
    # the 16-unit RNN's parameters, counted by hand: W_ih, W_hh, b_ih and b_hh (torch's two biases), the read-out
    assert summary["params"] == 88 * 16 + 16 * 16 + 2 * 16 + (16 * 88 + 88)


def test_a_lock_dies_with_its_process(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom deeprnn.runlock import run_lock\n"
                               f"with run_lock({str(run)!r}, 'the test holder'):\n    print('held', flush=True)\n"
                               "    time.sleep(600)\n"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunInUse, match=f"process {holder.pid} on host .* since .*the test holder"):
        with run_lock(run):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run_lock(run):  # at once: the operating system released the dead process's lock
        pass


def _finished_run(tmp_path: Path) -> Path:
    run = tmp_path / "old"
    train(load_config("configs/demo.toml", ["model.name=rnn", "model.hidden_size=8", "train.epochs=1"]), run,
          progress=False, log=lambda *_: None)
    return run


def _contents(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in RUN_FILES if (run / name).exists()}


@pytest.mark.parametrize("bad", [["--set", "model.name=no-such-model"], ["--data-dir", "/no/such/data"],
                                 ["--set", "data.name=no-such-dataset"]])
def test_overwrite_that_cannot_start_leaves_the_old_run_intact(tmp_path, bad):
    run = _finished_run(tmp_path)
    before = _contents(run)
    result = subprocess.run(_cli("train", "configs/demo.toml", "--run-dir", str(run), "--overwrite", *bad,
                                 "--no-progress"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("deeprnn: error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _contents(run) == before and len(before) == len(RUN_FILES)


def test_overwrite_replaces_the_run_and_leaves_nothing_of_the_old_one(tmp_path):
    run = _finished_run(tmp_path)
    config = load_config("configs/demo.toml", ["model.name=rnn", "model.hidden_size=12", "train.epochs=2"])
    (run / ".replaced-1").mkdir()  # what a kill during an earlier replacement leaves
    summary = train(config, run, overwrite=True, progress=False, log=lambda *_: None)
    assert summary["epochs"] == 2
    assert json.loads((run / "config.json").read_text())["model"]["hidden_size"] == 12
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert not list(run.glob(".replaced-*"))


def test_sampling_into_a_run_waits_for_no_one_and_writes_nothing_while_it_is_written(tmp_path):
    run = _finished_run(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import time\nfrom deeprnn.runlock import run_lock\n"
                               f"with run_lock({str(run)!r}, 'a training run'):\n    print('held', flush=True)\n"
                               "    time.sleep(600)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInUse, match="a training run"):
            sample_run(run, steps=5)
        assert not (run / "samples").exists()
        elsewhere = tmp_path / "elsewhere"
        assert len(sample_run(run, steps=5, out_dir=elsewhere)) == 1  # outside the run: no lock needed
    finally:
        holder.kill()
        holder.wait()
    assert os.path.exists(lock_path(run))
