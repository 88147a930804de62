"""What a run survives (torn records, a full disk, a kill during a write) and what it refuses (divergence,
foreign or unsafe checkpoints), and the one line the command line prints for each expected failure."""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import DiskFull
from deeprnn import files
from deeprnn.cli.main import main
from deeprnn.training import TrainingDiverged, evaluate_run, load_config, load_run, train, trainer
from deeprnn.training import checkpoint as checkpoint_module
from deeprnn.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

TINY = ["model.hidden_size=8", "data.batch_size=16", "data.eval_batch_size=256", "train.threads=1",
        "data.name=jsb", "train.max_batches_per_epoch=2"]  # fmt: skip
QUIET = {"progress": False, "log": lambda *_: None}


def tiny(*overrides: str):
    return load_config(None, [*TINY, "model.name=rnn", "train.epochs=1", *overrides])


def comparable(summary: dict) -> dict:
    return {key: value for key, value in summary.items() if key != "wall_time_s"}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("deeprnn: error: "), err
    return err


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted three-epoch run, for the interrupted ones to match."""
    run = tmp_path_factory.mktemp("reference") / "run"
    return train(tiny("train.epochs=3"), run, **QUIET)


# --- torn records and interrupted writes ---------------------------------------------------------------


def test_a_torn_last_metrics_record_is_dropped_with_a_warning_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    train(tiny(), run, **QUIET)
    good = (run / "metrics.jsonl").read_text()
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 3, "step": 45, "lr": 0.00')  # the disk filled during the append
    logged = []
    summary = train(tiny("train.epochs=2"), run, resume=True, progress=False, log=logged.append)
    warning = next(line for line in logged if "torn" in line)
    assert str(run / "metrics.jsonl") in warning and "line 2" in warning
    assert summary["epochs"] == 2
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert lines[0] == good.strip() and [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_read_records_drops_only_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3, "va')
    warnings = []
    assert files.read_records(path, warn=warnings.append) == [{"epoch": 1}, {"epoch": 2}]
    assert len(warnings) == 1 and "line 3" in warnings[0]
    path.write_bytes(b'{"epoch": 1}\n{"epoch": 2}')  # whole, only its line end is missing: kept
    assert files.read_records(path, warn=warnings.append) == [{"epoch": 1}, {"epoch": 2}]
    path.write_bytes(b'{"epoch": 1}\n{"ep\n{"epoch": 3}\n')  # damage before the end is not a torn write
    with pytest.raises(ValueError, match=rf"{path}:2: damaged record"):
        files.read_records(path)
    # reports read the same way
    from deeprnn.reports.runs import read_metrics

    path.write_bytes(b'{"epoch": 1}\n{"epo')
    with pytest.warns(UserWarning, match="torn last record"):
        assert read_metrics(path) == [{"epoch": 1}]


def test_a_resume_removes_the_temporary_files_of_interrupted_writes(tmp_path):
    run = tmp_path / "run"
    train(tiny(), run, **QUIET)
    stale = [run / ".checkpoint_last.pt.k2j4h1.tmp", run / ".summary.json.x8y7.tmp"]
    for path in stale:
        path.write_bytes(b"")  # what a kill during the save leaves
    logged = []
    train(None, run, resume=True, progress=False, log=logged.append)
    assert not any(path.exists() for path in stale)
    assert sum("left by an interrupted write" in line for line in logged) == 2




def _fill_the_disk_at_append(monkeypatch, number: int) -> None:
    """Make the ``number``-th append to a metrics.jsonl stop part-way with ENOSPC."""
    import builtins

    real_open, appends = builtins.open, []

    def open_filling_the_disk(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if str(path).endswith("metrics.jsonl") and "a" in mode:
            appends.append(path)
            if len(appends) == number:
                return DiskFull(handle)
        return handle

    monkeypatch.setattr(builtins, "open", open_filling_the_disk)


def test_a_full_disk_during_the_metrics_append_loses_nothing(tmp_path, monkeypatch, reference):
    run = tmp_path / "run"
    _fill_the_disk_at_append(monkeypatch, 2)
    with pytest.raises(OSError) as failure:
        train(tiny("train.epochs=3"), run, **QUIET)
    monkeypatch.undo()
    assert failure.value.filename == str(run / "metrics.jsonl") and failure.value.errno == errno.ENOSPC
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1]  # the half-written record was taken back
    resumed = train(None, run, resume=True, **QUIET)
    assert comparable(resumed) == comparable(reference)


def test_a_full_disk_during_the_checkpoint_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, reference):
    run = tmp_path / "run"
    real_save, real_fdopen, saves, armed = checkpoint_module.save_checkpoint, os.fdopen, [], []

    def save_noting_which(path, payload):
        saves.append(path.name)
        armed[:] = [saves.count("checkpoint_last.pt") == 2 and path.name == "checkpoint_last.pt"]
        real_save(path, payload)

    def fdopen_filling_the_disk_when_armed(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        return DiskFull(handle) if armed and armed[0] else handle

    monkeypatch.setattr(trainer, "save_checkpoint", save_noting_which)
    monkeypatch.setattr(os, "fdopen", fdopen_filling_the_disk_when_armed)
    with pytest.raises(OSError) as failure:
        train(tiny("train.epochs=3"), run, **QUIET)
    monkeypatch.undo()
    assert failure.value.filename == str(run / "checkpoint_last.pt") and "No space left" in str(failure.value)
    assert load_checkpoint(run / "checkpoint_last.pt")["trainer"]["epoch"] == 1  # the previous one, whole
    assert not list(run.glob(".*.tmp"))
    resumed = train(None, run, resume=True, **QUIET)
    assert comparable(resumed) == comparable(reference)


def test_the_cli_reports_a_full_disk_in_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    _fill_the_disk_at_append(monkeypatch, 1)
    run = tmp_path / "run"
    demo = str(Path(__file__).parents[1] / "configs" / "demo.toml")
    assert main(["train", demo, "--run-dir", str(run), "--no-progress", *(f"--set={s}" for s in TINY)]) == 2
    err = one_error_line(capsys)
    assert f"{run / 'metrics.jsonl'}: cannot append to it: No space left on device" in err


# --- divergence ----------------------------------------------------------------------------------------


def test_a_diverging_run_stops_as_diverged_with_exit_code_3(tmp_path, capsys):
    run = tmp_path / "run"
    demo = str(Path(__file__).parents[1] / "configs" / "demo.toml")
    sets = [f"--set={s}" for s in [*TINY, "optim.name=sgd", "optim.lr=1e9", "optim.clip_norm=0", "train.epochs=4"]]
    assert main(["train", demo, "--run-dir", str(run), "--no-progress", *sets]) == 3
    out = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped"].startswith("diverged: validation nll") and summary["epochs"] < 4
    assert f"stopped: {summary['stopped']}" in out
    # its last epoch is recorded, above the bound (or not finite)
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert not last["valid"]["nll"] < 2 * 10.95
    # a resume does not train it again
    assert main(["train", "--resume", str(run), "--no-progress"]) == 3


def test_a_non_finite_validation_result_is_divergence(tmp_path, monkeypatch, capsys):
    from deeprnn.training.tasks import MusicTask

    real = MusicTask.evaluate
    monkeypatch.setattr(MusicTask, "evaluate", lambda self, model, split: {**real(self, model, split), "nll": math.nan})
    with pytest.raises(TrainingDiverged, match="no finite validation result.*diverged: validation nll is nan"):
        train(tiny("train.epochs=3"), tmp_path / "run", **QUIET)
    assert [json.loads(line)["epoch"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()] == [1]
    assert TrainingDiverged.exit_code == 3


def test_a_run_on_the_trivial_plateau_has_not_diverged(tmp_path):
    summary = train(tiny("train.epochs=2"), tmp_path / "run", **QUIET)
    assert summary["stopped"] == "completed all epochs"


def test_the_divergence_bound_is_twice_the_unigram_loss_by_hand(data_dir):
    from collections import Counter

    from deeprnn.data import load_music
    from deeprnn.training.tasks import build_task

    # music: per-key training frequencies (add-one smoothed), scored on every validation frame
    train_rolls, valid_rolls = load_music("jsb", "train"), load_music("jsb", "valid")
    on = sum(roll.sum(0) for roll in train_rolls).astype(float)
    p = (on + 1) / (sum(len(roll) for roll in train_rolls) + 2)
    frames = np.concatenate(valid_rolls)
    expected = -(frames * np.log(p) + (1 - frames) * np.log(1 - p)).sum(1).mean()
    config = tiny()
    task = build_task(config, torch.device("cpu"))
    assert task.trivial_losses()["unigram"] == pytest.approx(expected, rel=1e-5)
    assert trainer.divergence_bound(task, config) == pytest.approx(2 * expected, rel=1e-5)
    assert trainer.divergence_bound(task, tiny("model.output_bias_from_data=false")) == pytest.approx(
        2 * 88 * math.log(2))  # such a run starts from all-zero logits
    # PTB words: the unigram validation perplexity is about 687 (here add-one smoothed over the 10k words)
    words = lambda split: [w for line in (data_dir / "ptb" / f"ptb.{split}.txt").read_text().splitlines()  # noqa: E731
                           for w in [*line.split(), "<eos>"]]
    counts = Counter(["<eos>", *words("train")])
    total = sum(counts.values()) + len(counts)
    expected = -np.mean([math.log((counts[w] + 1) / total) for w in words("valid")])
    task = build_task(load_config(None, ["data.name=ptb"]), torch.device("cpu"))
    assert task.trivial_losses()["unigram"] == pytest.approx(expected, rel=1e-5)
    assert 680 < math.exp(expected) < 690


def test_summary_columns_stay_apart_at_any_width():
    summary = {"model": "rnn", "dataset": "jsb", "best_epoch": 1, "epochs": 1, "params": 10, "wall_time_s": 1.0,
               "stopped": "diverged: validation nll 9.3e+09 is above 21.9",
               "valid": {"nll": 9302189585.123, "frame_acc": 0.01, "bce_mean": 105706699.8},
               "test": {"nll": 12.5, "frame_acc": 0.5, "bce_mean": 0.14}}
    table = trainer.summary_table(summary).splitlines()
    assert table[2].split() == ["valid", "9302189585.1230", "0.0100", "105706699.8000"]
    assert table[3].split() == ["test", "12.5000", "0.5000", "0.1400"]
    assert table[-1] == "stopped: diverged: validation nll 9.3e+09 is above 21.9"


# --- checkpoints ---------------------------------------------------------------------------------------


def test_an_empty_checkpoint_is_refused_clearly(tmp_path):
    run = tmp_path / "run"
    train(tiny(), run, **QUIET)
    (run / "checkpoint_best.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"checkpoint_best.pt is empty \(0 bytes\)"):
        load_run(run)


def test_evaluate_refuses_a_checkpoint_of_another_config(tmp_path, capsys):
    run, other = tmp_path / "run", tmp_path / "other"
    train(tiny("model.hidden_size=32"), run, **QUIET)
    train(tiny("model.hidden_size=16"), other, **QUIET)
    (run / "checkpoint_best.pt").write_bytes((other / "checkpoint_best.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"model.hidden_size: 16 in the checkpoint, 32 in config.json"):
        evaluate_run(run)
    with pytest.raises(CheckpointError, match="made with another config"):
        load_run(run)
    assert main(["evaluate", str(run), "--device", "cpu"]) == 2
    assert "made with another config" in one_error_line(capsys)
    # what a resume may change (more epochs) is not another config
    train(tiny("model.hidden_size=16", "train.epochs=2"), other, resume=True, **QUIET)
    evaluate_run(other, checkpoint="best", device="cpu")


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_a_refused_checkpoint_names_the_global_and_never_suggests_loading_it_unsafely(tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny(), run, **QUIET)
    torch.save({"format_version": 1, "model": _Payload()}, run / "checkpoint_best.pt")
    with pytest.raises(CheckpointError) as refused:
        load_run(run)
    message = str(refused.value)
    assert f"{os.system.__module__}.system" in message and "nothing from the file was run" in message
    assert "weights_only" not in message
    assert main(["evaluate", str(run)]) == 2
    assert "weights_only" not in one_error_line(capsys)


def test_save_checkpoint_writes_what_load_checkpoint_reads(tmp_path):
    payload = {"a": torch.arange(5.0), "b": {"c": [1, 2]}}
    save_checkpoint(tmp_path / "x.pt", payload)
    loaded = load_checkpoint(tmp_path / "x.pt")
    assert torch.equal(loaded["a"], payload["a"]) and loaded["b"] == payload["b"] and loaded["format_version"] == 1


# --- one line for every expected failure; a traceback for a bug ----------------------------------------


def test_a_run_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    demo = str(Path(__file__).parents[1] / "configs" / "demo.toml")
    assert main(["train", demo, "--run-dir", str(path), "--no-progress", *(f"--set={s}" for s in TINY)]) == 2
    assert f"run directory {path} is a file" in one_error_line(capsys)


def test_os_errors_name_their_file_and_bugs_keep_their_traceback(monkeypatch, capsys):
    from deeprnn.cli import data_cmd

    def raising(exc):
        def run(args):
            raise exc
        return run

    for exc, shown in [
        (PermissionError(errno.EACCES, "Permission denied", "/data/x.txt"), "/data/x.txt: Permission denied"),
        (FileExistsError(errno.EEXIST, "File exists", "runs/a"), "runs/a: File exists"),
        (NotADirectoryError("dataset path is not a folder: /x"), "dataset path is not a folder: /x"),
        (OverflowError("cannot convert float infinity to integer"), "cannot convert float infinity to integer"),
        (UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte"), "not UTF-8 text"),
    ]:
        monkeypatch.setattr(data_cmd, "run_verify", raising(exc))
        assert main(["data", "verify"]) == 2
        assert shown in one_error_line(capsys)
    monkeypatch.setattr(data_cmd, "run_verify", raising(TypeError("a bug")))
    with pytest.raises(TypeError, match="a bug"):
        main(["data", "verify"])


# --- housekeeping --------------------------------------------------------------------------------------


def test_an_unknown_model_leaves_no_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    demo = str(Path(__file__).parents[1] / "configs" / "demo.toml")
    assert main(["train", demo, "--run-dir", str(run), "--set", "model.name=dts-rnnn", "--no-progress"]) == 2
    one_error_line(capsys)
    assert not run.exists()
