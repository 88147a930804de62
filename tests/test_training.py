"""Training loop: run records, resume after SIGKILL, clipping order, bad input, smoke runs."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import deeprnn
from deeprnn.models import MODEL_NAMES, build_model
from deeprnn.training import ConfigError, TrainingDiverged, evaluate_run, load_config, load_run, train
from deeprnn.training.trainer import RUN_FILES, training_step

TINY = [
    "model.hidden_size=8", "model.output_size=8", "model.embedding_size=8",  # transition_size: hidden_size
    "data.batch_size=16", "data.eval_batch_size=64", "data.bptt=20", "train.threads=1",
]  # fmt: skip


def tiny_config(*overrides: str, path: str | None = None):
    return load_config(path, [*TINY, "data.name=jsb", "train.epochs=1", "train.max_batches_per_epoch=2", *overrides])


def test_run_directory_records(tmp_path):
    config = tiny_config("model.name=dts-rnn", "train.epochs=2")
    summary = train(config, tmp_path / "run", progress=False, log=lambda *_: None)
    run = tmp_path / "run"
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    assert json.loads((run / "config.json").read_text()) == config.to_dict()
    env = json.loads((run / "env.json").read_text())
    assert env["torch"] == torch.__version__ and env["seed"] == 0
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert {"lr", "train", "valid", "wall_time_s"} <= set(lines[0])
    assert {"grad_norm_before_clip", "grad_norm_after_clip", "frames_per_s", "frame_acc"} <= set(lines[0]["train"])
    assert 0 <= lines[0]["train"]["frame_acc"] <= 1
    stored = json.loads((run / "summary.json").read_text())
    assert stored == json.loads(json.dumps(summary))
    assert set(stored["valid"]) >= {"nll", "frame_acc", "bce_mean"}
    assert stored["best_epoch"] in (1, 2)
    assert stored["params"] == sum(p.numel() for p in load_run(run)[0].parameters())
    # JSB valid has 4,602 frames: every frame is scored (frame 1 from the initial state).
    assert stored["valid"]["frames"] == 4602 and stored["test"]["frames"] == 4725
    # The reporting rule: test metrics come from the best-validation checkpoint.
    evaluated = evaluate_run(run, split="test", checkpoint="best")
    assert evaluated["metrics"]["nll"] == pytest.approx(stored["test"]["nll"], rel=1e-9)


@pytest.fixture(scope="module")
def dots_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("dots") / "run"
    train(tiny_config("model.name=dots-rnn", "model.dropout=0.3"), run, progress=False, log=lambda *_: None)
    return run


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_load_run_gives_a_model_called_like_build_models(dots_run, batch):
    loaded, config = deeprnn.load_run(dots_run)
    assert not loaded.training and config.model.name == "dots-rnn" and loaded.task == "music"
    built = build_model("dots-rnn", task="music", input_size=88, hidden_size=8, transition_size=8, output_size=8,
                        dropout=0.3).eval()
    built.load_state_dict(torch.load(dots_run / "checkpoint_best.pt", weights_only=True)["model"])
    x = torch.rand(batch, 7, 88).round()
    logits, state = loaded(x)  # the README's `logits, h_n = model(x)`, on a loaded model
    expected_logits, expected_state = built(x)
    assert logits.shape == (batch, 7, 88)  # (was: bare logits, which this line split along the batch)
    torch.testing.assert_close(logits, expected_logits)
    torch.testing.assert_close(state, expected_state)
    first, carried = loaded(x[:, :4])  # the state goes back in, as with build_model's models
    second, _ = loaded(x[:, 4:], carried)
    torch.testing.assert_close(torch.cat([first, second], dim=1), expected_logits)
    lengths = torch.tensor([7, 5, 2][:batch])
    torch.testing.assert_close(loaded(x, lengths=lengths), built(x, lengths=lengths))


def test_refuses_to_mix_runs_and_checks_resume_config(tmp_path):
    run = tmp_path / "run"
    train(tiny_config("model.name=rnn"), run, progress=False, log=lambda *_: None)
    before = (run / "summary.json").read_bytes()
    with pytest.raises(ConfigError, match="already holds a different run"):
        train(tiny_config("model.name=gru"), run, progress=False, log=lambda *_: None)
    with pytest.raises(ConfigError, match="cannot resume with a different config \\(model.name: 'rnn' -> 'gru'"):
        train(tiny_config("model.name=gru"), run, resume=True, progress=False, log=lambda *_: None)
    assert (run / "summary.json").read_bytes() == before  # nothing overwritten
    with pytest.raises(ConfigError, match="no run there"):
        train(None, tmp_path / "empty", resume=True, progress=False, log=lambda *_: None)


def test_a_finished_run_resumed_for_more_epochs_has_no_summary_until_it_ends(tmp_path, monkeypatch):
    from deeprnn.training import trainer

    run, quiet = tmp_path / "run", (lambda *_: None)
    train(tiny_config(), run, progress=False, log=quiet)
    assert json.loads((run / "summary.json").read_text())["epochs"] == 1

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config("train.epochs=2"), run, resume=True, progress=False, log=quiet)
    # the config now asks for 2 epochs: the 1-epoch summary beside it would pass for a finished 2-epoch run
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2
    assert not (run / "summary.json").exists()
    monkeypatch.undo()
    assert train(None, run, resume=True, progress=False, log=quiet)["epochs"] == 2
    assert train(None, run, resume=True, progress=False, log=quiet)["epochs"] == 2  # finished: resumes to itself


def test_resuming_under_other_code_is_recorded_once_in_env_json(tmp_path, monkeypatch):
    from deeprnn.reports.results_md import code_versions
    from deeprnn.training import provenance

    monkeypatch.setattr(provenance, "git_state", lambda: ("c" * 40, False))  # a clean checkout, whatever ours is
    run = tmp_path / "run"
    train(tiny_config("model.name=rnn"), run, progress=False, log=lambda *_: None)
    env = json.loads((run / "env.json").read_text())
    ours = env["git_commit"]
    env["git_commit"] = "f" * 40  # as if the run had been started by an older commit
    (run / "env.json").write_text(json.dumps(env))
    train(None, run, resume=True, progress=False, log=lambda *_: None)
    resumed = json.loads((run / "env.json").read_text())
    assert resumed["git_commit"] == "f" * 40  # the start stays as it was
    assert resumed["resumed_under"] == [{"after_epoch": 1, "git_commit": ours, "deeprnn": env["deeprnn"],
                                         "torch": torch.__version__, "device": env["device"]}]  # cuda on a GPU
    train(None, run, resume=True, progress=False, log=lambda *_: None)  # same code again: nothing to add
    assert json.loads((run / "env.json").read_text()) == resumed
    listed = code_versions([resumed])
    assert "fffffff" in listed and ours[:7] in listed and "uncommitted" not in listed


def test_runs_of_edited_code_say_so_and_every_resume_is_recorded(tmp_path, monkeypatch):
    from deeprnn.reports.results_md import code_versions
    from deeprnn.training import provenance

    monkeypatch.setattr(provenance, "git_state", lambda: ("d" * 40, True))  # src/deeprnn has uncommitted edits
    run = tmp_path / "run"
    train(tiny_config("model.name=rnn", "train.epochs=1"), run, progress=False, log=lambda *_: None)
    assert json.loads((run / "env.json").read_text())["source_modified"] is True
    # The same commit with edits may be other code at each resume, so each one is listed.
    train(None, run, resume=True, progress=False, log=lambda *_: None)
    train(None, run, resume=True, progress=False, log=lambda *_: None)
    env = json.loads((run / "env.json").read_text())
    assert [entry["source_modified"] for entry in env["resumed_under"]] == [True, True]
    assert code_versions([env]) == "deeprnn " + env["deeprnn"] + " at commit ddddddd with uncommitted changes"
    assert code_versions([{"deeprnn": "0.1.0", "git_commit": "e" * 40, "source_modified": False}]) == (
        "deeprnn 0.1.0 at commit eeeeeee")


def test_task_dataset_mismatch_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not support task 'tagging'"):
        train(tiny_config("data.name=ptb", "data.task=tagging"), tmp_path / "r", progress=False, log=lambda *_: None)


@pytest.mark.parametrize("name", ["lstm", "gru", "dts-rnn", "dots-rnn"])
@pytest.mark.parametrize("dataset", ["data.name=jsb", "data.name=conll2000 data.task=tagging"])
def test_padded_batch_loss_equals_the_loss_of_each_sequence_alone(name, dataset):
    # the tasks run padded batches without lengths (no packing); the loss must not see the padding
    from deeprnn.training.checkpoint import model_from_config
    from deeprnn.training.tasks import build_task

    task = build_task(tiny_config(f"model.name={name}", *dataset.split()), torch.device("cpu"))
    torch.manual_seed(0)
    model = model_from_config(task.config, task.name, **task.model_kwargs()).double().eval()
    indices = task.train_batcher.plan(0, 0)[0][:4] + task.train_batcher.plan(0, 0)[-1][:3]
    batch = task.collate("train", indices)
    assert len(set(batch.lengths.tolist())) > 1, "the batch must mix lengths"
    as_double = type(batch)(*(t.double() if t.is_floating_point() else t for t in batch))
    loss, units, _ = task.train_loss(model, as_double, None)
    separate = 0.0
    for i in indices:
        alone = task.collate("train", [i])
        alone = type(alone)(*(t.double() if t.is_floating_point() else t for t in alone))
        piece_loss, piece_units, _ = task.train_loss(model, alone, None)
        separate += float(piece_loss.detach()) * piece_units
    assert units == int(batch.mask.sum())
    assert float(loss.detach()) == pytest.approx(separate / units, rel=1e-12)


def test_token_loss_matches_the_gathered_real_tokens_in_value_gradient_and_hits():
    # The text tasks score padded (B, T, V) logits with ignore_index; the reference scores only the real tokens,
    # gathered with the mask, and counts hits by hand.
    from deeprnn.training.tasks import LanguageModelTask

    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7, dtype=torch.double, requires_grad=True)
    targets = torch.randint(0, 7, (3, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    task = LanguageModelTask.__new__(LanguageModelTask)  # only the loss: no data needed
    loss, tokens = task._token_loss(logits, targets, mask)
    (grad,) = torch.autograd.grad(loss, logits)
    reference = torch.nn.functional.cross_entropy(logits[mask], targets[mask])
    (reference_grad,) = torch.autograd.grad(reference, logits)
    assert tokens == 9
    assert loss.item() == pytest.approx(reference.item(), rel=1e-12)
    torch.testing.assert_close(grad, reference_grad, rtol=1e-12, atol=1e-15)
    assert (grad[~mask] == 0).all()
    hits = sum(int(logits[b, t].argmax() == targets[b, t]) for b in range(3) for t in range(5) if mask[b, t])
    assert task.train_accuracy() == {"acc": hits / 9}


@pytest.mark.parametrize("name", ["dts-rnn", "lstm"])
@pytest.mark.parametrize("score_first_frame", [True, False])
def test_music_bptt_windows_carry_the_state_and_only_cut_the_gradient(name, score_first_frame):
    # Truncated BPTT must change the gradient only: the frame-weighted window losses of a batch of pieces
    # are its whole-piece loss (the state is carried exactly), each window after the first starts from the
    # previous one's state detached, and num_train_batches counts the windows the epoch yields.
    from deeprnn.training.checkpoint import model_from_config
    from deeprnn.training.tasks import MusicWindow, build_task

    config = tiny_config(f"model.name={name}", "data.music_bptt=7", "data.batch_size=3",
                         f"data.score_first_frame={str(score_first_frame).lower()}")
    task = build_task(config, torch.device("cpu"))
    torch.manual_seed(0)
    model = model_from_config(task.config, task.name, **task.model_kwargs()).double().eval()
    windows = list(task.train_batches(0, 0))
    assert len(windows) == task.num_train_batches() > len(task.train_batcher.plan(0, 0))
    assert all(isinstance(w, MusicWindow) and w.frames.inputs.shape[1] <= 7 for w in windows)
    # the first batch of pieces: its windows up to the next first=True
    end = next(i for i, w in enumerate(windows[1:], 1) if w.first)
    first_batch = windows[:end]
    assert first_batch[0].first and len(first_batch) > 1
    whole = task.collate("train", task.train_batcher.plan(0, 0, shuffle=True)[0])
    double = lambda b: type(b)(*(t.double() if t.is_floating_point() else t for t in b))  # noqa: E731
    whole_loss, whole_frames, _ = task.train_loss(model, double(whole), None)
    total, frames, state = 0.0, 0, None
    for window in first_batch:
        window = MusicWindow(double(window.frames), window.first)
        loss, units, state = task.train_loss(model, window, state)
        assert state is not None and all(s.requires_grad for s in (state if isinstance(state, tuple) else [state]))
        total, frames = total + float(loss.detach()) * units, frames + units
    assert frames == whole_frames
    assert total / frames == pytest.approx(float(whole_loss.detach()), rel=1e-12)
    # the gradient stops at the window boundary: the second window's loss does not reach the first's inputs
    inputs = first_batch[0].frames.inputs.double().requires_grad_(True)
    _, state = model(inputs, None)
    loss, _, _ = task.train_loss(model, MusicWindow(double(first_batch[1].frames), False), state)
    loss.backward()
    assert inputs.grad is None


def test_music_bptt_trains_and_is_checked(tmp_path):
    summary = train(tiny_config("model.name=dts-rnn", "data.music_bptt=16"), tmp_path / "run", progress=False,
                    log=lambda *_: None)
    assert math.isfinite(summary["valid"]["nll"])
    with pytest.raises(ConfigError, match="music_bptt"):
        tiny_config("data.music_bptt=0")


def test_clipping_happens_after_backward_and_before_step():
    from deeprnn.training import tasks as tasks_module  # noqa: F401  (the step takes any task-like object)

    events = []
    weight = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    weight.register_hook(lambda grad: events.append("backward") or grad)
    model = torch.nn.Module()
    model.weight = weight

    class Task:
        def train_loss(self, model, batch, state):
            return (model.weight**2).sum() * 10, 1, None

    class Optimizer(torch.optim.SGD):
        def step(self, closure=None):
            # at step time the gradient must already be clipped to norm 1
            events.append(("step", round(float(weight.grad.norm()), 6)))
            return super().step(closure)

    optimizer = Optimizer([weight], lr=0.1)
    original = torch.nn.utils.clip_grad_norm_

    def recording_clip(params, max_norm):
        events.append("clip")
        return original(params, max_norm)

    torch.nn.utils.clip_grad_norm_ = recording_clip
    try:
        result = training_step(model, Task(), None, None, optimizer, clip_norm=1.0)
    finally:
        torch.nn.utils.clip_grad_norm_ = original
    assert events == ["backward", "clip", ("step", 1.0)]
    assert result.finite and result.norm_before == pytest.approx(100.0)  # |20*(3,4)| = 100
    assert result.norm_after == pytest.approx(1.0)


def test_non_finite_losses_are_skipped_counted_and_stop_the_run(tmp_path, monkeypatch):
    from deeprnn.training.tasks import MusicTask

    original = MusicTask.train_loss
    calls = {"n": 0}

    def sometimes_nan(self, model, batch, state):
        loss, units, state = original(self, model, batch, state)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] in bad_calls else loss), units, state

    monkeypatch.setattr(MusicTask, "train_loss", sometimes_nan)
    # An isolated NaN step is skipped and counted; the run goes on.
    bad_calls = {2}
    summary = train(tiny_config("model.name=rnn", "train.max_batches_per_epoch=4"), tmp_path / "a",
                    progress=False, log=lambda *_: None)
    assert summary["skipped_steps"] == 1
    # Consecutive NaN steps stop the run with a message naming epoch and step; no NaN model is marked best.
    calls["n"] = 0
    bad_calls = {1, 2, 3, 4}
    with pytest.raises(TrainingDiverged, match=r"epoch 1 step 3: 3 consecutive non-finite"):
        train(tiny_config("model.name=rnn", "train.max_bad_steps=3", "train.max_batches_per_epoch=4"),
              tmp_path / "b", progress=False, log=lambda *_: None)
    assert not (tmp_path / "b" / "checkpoint_best.pt").exists()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "deeprnn.cli.main", *args]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path):
    config_file = tmp_path / "resume.toml"
    config_file.write_text(
        '[model]\nname = "dts-rnn"\nhidden_size = 16\ndropout = 0.1\n'
        '[data]\nname = "jsb"\nbatch_size = 4\neval_batch_size = 128\n'
        '[optim]\nname = "sgd"\nlr = 0.05\nweight_noise = 0.01\n'
        "[train]\nepochs = 4\nthreads = 1\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    base = ["train", str(config_file), "--deterministic", "--no-progress"]
    reference = tmp_path / "reference"
    subprocess.run(_cli(*base, "--run-dir", str(reference)), check=True, env=env, capture_output=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*base, "--run-dir", str(killed)), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        epochs_done = len(metrics.read_text().splitlines()) if metrics.is_file() else 0
        if epochs_done >= 2 and (killed / "checkpoint_last.pt").exists():
            break
        time.sleep(0.01)
    time.sleep(0.15)  # well inside epoch 3
    assert proc.poll() is None, "run finished before it could be killed; make the test run longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists()
    subprocess.run(_cli("train", "--resume", str(killed), "--no-progress"), check=True, env=env,
                   capture_output=True, timeout=300)

    def comparable(run):
        summary = json.loads((run / "summary.json").read_text())
        summary.pop("wall_time_s")
        return summary

    assert comparable(killed) == comparable(reference)
    drop_time = [
        {k: v for k, v in json.loads(line).items() if k != "wall_time_s" and k != "train"}
        for line in (killed / "metrics.jsonl").read_text().splitlines()
    ]
    assert [m["epoch"] for m in drop_time] == [1, 2, 3, 4]


@pytest.mark.slow
def test_ptb_evaluation_scores_every_token_once(tmp_path):
    config = load_config(None, [*TINY, "model.name=rnn", "data.name=ptb", "train.epochs=1",
                                "train.max_batches_per_epoch=1"])
    summary = train(config, tmp_path / "ptb", progress=False, log=lambda *_: None)
    assert summary["valid"]["tokens"] == 73760 and summary["test"]["tokens"] == 82430
    assert summary["test"]["ppl"] > 1


@pytest.mark.parametrize("name", MODEL_NAMES)  # one test per model and task, so one failure hides no other
@pytest.mark.parametrize("family, dataset", [("music", "jsb"), ("lm", "ptb-char"), ("tagging", "conll2000")])
def test_smoke_one_short_epoch_of_every_model(tmp_path, family, dataset, name):
    config = load_config(
        Path(__file__).parents[1] / "configs" / family / f"{name}.toml",
        [*TINY, f"data.name={dataset}", "train.epochs=1", "train.max_batches_per_epoch=2",
         "data.eval_batch_size=1024"],
    )
    summary = train(config, tmp_path / name, progress=False, log=lambda *_: None)
    key = {"music": "nll", "lm": "bpc", "tagging": "acc"}[family]
    assert summary["test"][key] == summary["test"][key]  # finite, not NaN


def test_cli_train_and_evaluate(tmp_path, capsys):
    from deeprnn.cli.main import main

    run = tmp_path / "cli"
    args = ["train", str(Path(__file__).parents[1] / "configs" / "demo.toml"), "--run-dir", str(run), "--no-progress"]
    args += [f"--set={item}" for item in [*TINY, "train.epochs=1", "train.max_batches_per_epoch=2"]]
    assert main(args) == 0
    assert main(["evaluate", str(run), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{"):])
    assert result["split"] == "test" and "nll" in result["metrics"]
    assert main(["train", "configs/demo.toml", "--set", "model.hidden_sise=3"]) == 2
    assert "did you mean 'model.hidden_size'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nowhere")]) == 2  # not "has the run finished its first epoch?"
    assert f"no run directory {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_cli_bare_resume_continues_the_run_in_run_dir(tmp_path, capsys):
    from deeprnn.cli.main import main

    run = tmp_path / "cli"
    demo = str(Path(__file__).parents[1] / "configs" / "demo.toml")
    sets = [f"--set={item}" for item in [*TINY, "train.max_batches_per_epoch=2"]]
    assert main(["train", demo, "--run-dir", str(run), "--no-progress", *sets, "--set=train.epochs=1"]) == 0
    # `CONFIG --run-dir DIR --resume` (how a job script restarts itself) continues DIR for more epochs.
    assert main(["train", demo, "--run-dir", str(run), "--no-progress", *sets, "--set=train.epochs=2",
                 "--resume"]) == 0
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    capsys.readouterr()
    assert main(["train", demo, "--resume"]) == 2
    assert "--resume without a RUN_DIR needs --run-dir" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(tmp_path / "other"), "--resume", str(run)]) == 2
    assert "name different runs" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(run), "--resume", demo]) == 2
    assert "that is a config file, not a run directory" in capsys.readouterr().err
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # the refused calls touched nothing


def test_corrupt_or_foreign_checkpoints_are_refused_clearly(tmp_path):
    from deeprnn.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    train(tiny_config("model.name=rnn"), run, progress=False, log=lambda *_: None)
    best = run / "checkpoint_best.pt"
    payload = load_checkpoint(best)
    payload["format_version"] = 999
    torch.save(payload, best)
    with pytest.raises(CheckpointError, match="format version 999"):
        load_run(run)
    best.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        evaluate_run(run)
    # a checkpoint whose weights do not fit the stored config (e.g. copied from another run)
    other = tmp_path / "other"
    train(tiny_config("model.name=gru"), other, progress=False, log=lambda *_: None)
    save_checkpoint(run / "checkpoint_last.pt", {**load_checkpoint(other / "checkpoint_last.pt"),
                                                 "config": json.loads((run / "config.json").read_text())})
    with pytest.raises(RuntimeError, match="does not fit the model"):
        train(None, run, resume=True, progress=False, log=lambda *_: None)


def test_readme_first_command_runs_the_demo(tmp_path):
    """The README's first command trains configs/demo.toml; run exactly its deeprnn part, shortened."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    install_line = next(line for line in block.splitlines() if "deeprnn train" in line)
    command = install_line.split("&& ")[-1].split()
    assert command[0].startswith("DEEPRNN_DATA=") and command[1:3] == ["deeprnn", "train"]
    args = command[2:]
    assert "configs/demo.toml" in args
    args[args.index("--run-dir") + 1] = str(tmp_path / "demo")
    args[args.index("configs/demo.toml")] = str(Path(__file__).parents[1] / "configs" / "demo.toml")
    result = subprocess.run(_cli(*args, "--set", "train.epochs=1", "--set", "train.max_batches_per_epoch=2",
                                 "--set", "train.threads=1", "--no-progress"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "test" in result.stdout and "nll" in result.stdout


def test_music_transpose_shifts_each_training_piece_and_nothing_else():
    # Each training piece is moved by its own draw in -3..3 (not all 0), notes kept; the batch order is that
    # of the untransposed run, the draws depend on (seed, epoch) only, and evaluation data is untouched.
    from deeprnn.training.tasks import build_task

    plain = build_task(tiny_config("data.batch_size=4"), torch.device("cpu"))
    moved = build_task(tiny_config("data.batch_size=4", "data.music_transpose=3"), torch.device("cpu"))
    shifts = moved.transpositions(0, 0)
    assert all(-3 <= s <= 3 for s in shifts) and len(set(shifts)) > 1
    assert moved.transpositions(0, 0) == shifts != moved.transpositions(1, 0)
    plan = plain.train_batcher.plan(0, 0, shuffle=True)
    batches = list(zip(plain.train_batches(0, 0), moved.train_batches(0, 0), plan))
    assert len(batches) == len(plan)
    for original, transposed, indices in batches:
        assert torch.equal(original.mask, transposed.mask)
        for row, piece in enumerate(indices):
            expected = torch.roll(original.targets[row], shifts[piece], dims=-1)
            assert torch.equal(transposed.targets[row], expected)
            assert transposed.targets[row].sum() == original.targets[row].sum()  # no note wrapped or dropped
    from deeprnn.training.checkpoint import model_from_config

    torch.manual_seed(0)
    model = model_from_config(plain.config, plain.name, **plain.model_kwargs()).eval()
    assert moved.evaluate(model, "valid") == plain.evaluate(model, "valid")


def test_music_only_settings_are_refused_elsewhere():
    with pytest.raises(ConfigError, match="music_transpose"):
        tiny_config("data.music_transpose=-1")
    with pytest.raises(ConfigError, match="music_transpose"):
        tiny_config("data.music_transpose=88")
    from deeprnn.training.tasks import resolve_task

    for setting in ("data.music_transpose=2", "data.music_bptt=50"):
        with pytest.raises(ConfigError, match="music only"):
            resolve_task(tiny_config("data.name=ptb", setting))


def test_adam_optimizer_is_plain_adam_to_float_rounding():
    # _make_optimizer uses torch's fused Adam kernel for speed; it must be the same update rule (weight decay
    # included) as the reference single-tensor Adam.
    from deeprnn.training.trainer import _make_optimizer

    config = tiny_config("optim.name=adam", "optim.lr=0.01", "optim.weight_decay=0.1")
    torch.manual_seed(0)
    fast, plain = torch.nn.Linear(6, 4), torch.nn.Linear(6, 4)
    plain.load_state_dict(fast.state_dict())
    fast_opt = _make_optimizer(config, fast)
    plain_opt = torch.optim.Adam(plain.parameters(), lr=0.01, weight_decay=0.1, foreach=False)
    assert fast_opt.param_groups[0]["fused"]
    for _ in range(20):
        x = torch.randn(5, 6)
        for model, opt in ((fast, fast_opt), (plain, plain_opt)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    for a, b in zip(fast.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_weight_average_follows_the_warmed_up_exponential_average_by_hand():
    from deeprnn.training.trainer import weight_average

    layer = torch.nn.Linear(1, 1, bias=False)
    average = weight_average(layer, decay=0.28)
    expected = None
    for t, value in enumerate([1.0, 3.0, -2.0, 5.0]):
        with torch.no_grad():
            layer.weight.fill_(value)
        average.update_parameters(layer)
        # first a copy; then d = min(0.28, (1 + t) / (10 + t)): 2/11, 3/12, then capped at 0.28
        d = min(0.28, (1 + t) / (10 + t))
        expected = value if expected is None else d * expected + (1 - d) * value
        assert float(average.module.weight.detach()) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.28 * (0.25 * (2 / 11 + 9 / 11 * 3) + 0.75 * -2) + 0.72 * 5)


def test_ema_decay_reports_the_average_and_resumes_exactly(tmp_path):
    from deeprnn.training.checkpoint import load_checkpoint

    overrides = ("model.name=gru", "optim.ema_decay=0.9", "train.max_batches_per_epoch=3")
    straight = train(tiny_config(*overrides, "train.epochs=2"), tmp_path / "straight", progress=False,
                     log=lambda *_: None)
    train(tiny_config(*overrides, "train.epochs=1"), tmp_path / "split", progress=False, log=lambda *_: None)
    resumed = train(tiny_config(*overrides, "train.epochs=2"), tmp_path / "split", resume=True, progress=False,
                    log=lambda *_: None)
    assert resumed["valid"] == straight["valid"] and resumed["test"] == straight["test"]
    payload = load_checkpoint(tmp_path / "straight" / "checkpoint_last.pt")
    assert payload["average_updates"] == 6
    assert any(not torch.equal(payload["model"][k], payload["trained_model"][k]) for k in payload["model"])
    # what is reported is the average: evaluating the best checkpoint gives the summary's numbers
    evaluated = evaluate_run(tmp_path / "straight", split="test", checkpoint="best")
    assert evaluated["metrics"]["nll"] == pytest.approx(straight["test"]["nll"], rel=1e-9)
    with pytest.raises(ConfigError, match="ema_decay"):
        tiny_config("optim.ema_decay=1.0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name, extra", [("dots-rnn", ()), ("lstm", ("optim.ema_decay=0.9",))])
def test_a_run_trained_on_cuda_evaluates_and_resumes_on_cpu(tmp_path, name, extra):
    """Checkpoints are device-free: a CUDA run's best checkpoint scores the same on CPU, and the run resumes
    there (recorded in env.json). The LSTM's weight average keeps cuDNN's packed weights (no re-packing)."""
    import warnings

    run = tmp_path / name
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*not part of single contiguous chunk.*")
        summary = train(tiny_config(f"model.name={name}", "train.device=cuda", *extra), run, progress=False,
                        log=lambda *_: None)
    assert json.loads((run / "env.json").read_text())["device"].startswith("cuda")
    on_cpu = evaluate_run(run, split="test", checkpoint="best", device="cpu")
    assert on_cpu["metrics"]["nll"] == pytest.approx(summary["test"]["nll"], rel=1e-4)
    resumed = train(tiny_config(f"model.name={name}", "train.device=cpu", "train.epochs=2", *extra), run,
                    resume=True, progress=False, log=lambda *_: None)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2] and math.isfinite(resumed["test"]["nll"])
    resumes = json.loads((run / "env.json").read_text())["resumed_under"]
    assert [(entry["after_epoch"], entry["device"]) for entry in resumes] == [(1, "cpu")]


def test_the_log_mentions_train_threads_only_when_torch_picks_several():
    from deeprnn.training.trainer import threads_hint

    cpu, threads = torch.device("cpu"), torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert "--set train.threads=1" in threads_hint(tiny_config("train.threads=none"), cpu)
        assert threads_hint(tiny_config("train.threads=2"), cpu) == ""  # the user chose
        torch.set_num_threads(1)
        assert threads_hint(tiny_config("train.threads=none"), cpu) == ""
    finally:
        torch.set_num_threads(threads)
