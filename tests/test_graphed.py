"""train.cuda_graph (deeprnn.training.graphed): the recorded lm training step against training_step.

Without a GPU the step is "recorded" by eager_capture, which replays by running the same function: that checks
everything around the graph (static buffers, the carried state, the hand-over to and from eager steps on the
short last window, clipping, skipped non-finite steps, the trainer's wiring) against the eager path. The CUDA
tests at the end check the real capture and need a GPU.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

from deeprnn.architectures import MODEL_NAMES, applies
from deeprnn.data import LMBatches
from deeprnn.training import ConfigError, load_config, train
from deeprnn.training import graphed as graphed_module
from deeprnn.training.checkpoint import model_from_config
from deeprnn.training.graphed import GraphedLMStep, cuda_graph_capture, eager_capture
from deeprnn.training.tasks import LanguageModelTask
from deeprnn.training.trainer import training_step

VOCAB = 11
SIZES = ["model.hidden_size=6", "model.transition_size=5", "model.output_size=7", "model.embedding_size=4",
         "model.dropout=0", "data.name=ptb", "data.task=lm"]  # fmt: skip


def _stream_task(device, batch_size=3, bptt=5, length=3 * 17 + 1, seed=0) -> LanguageModelTask:
    """An lm task over a random stream: rows of 17 targets, so windows of 5, 5, 5 and a short one of 2."""
    task = LanguageModelTask.__new__(LanguageModelTask)  # no dataset: only the training windows are used
    task.device = device
    stream = torch.randint(VOCAB, (length,), generator=torch.Generator().manual_seed(seed))
    task.train_windows = LMBatches(stream, batch_size, bptt)
    return task


def _model(name, device, dtype=torch.float64):
    sizes = [size for size in SIZES if not size.startswith("model.") or applies(name, size[6:].partition("=")[0])]
    config = load_config(None, [*sizes, f"model.name={name}"])
    torch.manual_seed(1)
    return model_from_config(config, "lm", vocab_size=VOCAB).to(device=device, dtype=dtype).train()


def _train_both(name, device, capture, dtype=torch.float64, epochs=2, clip_norm=0.05):
    """Two copies of a model trained on the same windows: eagerly, and with the graphed step where it applies."""
    eager_model = _model(name, device, dtype)
    graphed_model = copy.deepcopy(eager_model)
    logs = {}
    for label, model in (("eager", eager_model), ("graphed", graphed_model)):
        task = _stream_task(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        step = GraphedLMStep(model, task, clip_norm, capture) if label == "graphed" else None
        logs[label] = []
        for epoch in range(epochs):
            task.begin_epoch()
            carried = None  # each epoch starts from the zero state, as in the trainer
            for batch in task.train_batches(epoch, 0):
                if step is not None and step.accepts(batch):
                    loss, units, carried, before, after, finite = step.step(batch, carried, optimizer)
                    path = "graph"
                else:
                    loss, units, carried, before, after, finite = training_step(
                        model, task, batch, carried, optimizer, clip_norm)
                    path = "eager"
                assert finite
                logs[label].append((path, loss, units, before, after))
            logs[label].append(("accuracy", task.train_accuracy()["acc"]))
    return eager_model, graphed_model, logs


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_graphed_step_trains_like_training_step(name):
    """Float64: every step's loss, token count and gradient norms (clipping active), the training accuracy and the
    final weights agree with the eager loop to 1e-10, the last short window of each epoch running eagerly from
    the graph's carried state and handing its own back."""
    eager_model, graphed_model, logs = _train_both(name, torch.device("cpu"), eager_capture)
    assert [entry[0] for entry in logs["graphed"]] == ["graph"] * 3 + ["eager", "accuracy"] + ["graph"] * 3 + [
        "eager", "accuracy"]
    for (_, *expected), (_, *got) in zip(logs["eager"], logs["graphed"]):
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert any(before > after for _, _, _, before, after in logs["eager"][:3])  # clipping did something
    for (key, expected), got in zip(eager_model.state_dict().items(), graphed_model.state_dict().values()):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12, msg=key)


def test_a_non_finite_step_is_skipped_and_leaves_weights_and_optimiser_alone():
    model = _model("dts-rnn", torch.device("cpu"))
    task = _stream_task(torch.device("cpu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    step = GraphedLMStep(model, task, 1.0, eager_capture)
    batch = next(iter(task.train_batches(0, 0)))
    bias = model.output.readout.bias
    with torch.no_grad():
        bias[3] = float("nan")
    before = copy.deepcopy(model.state_dict())
    loss, units, carried, *_, finite = step.step(batch, None, optimizer)
    assert not finite and carried is None and units == 15
    assert optimizer.state_dict()["state"] == {}
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], equal_nan=True, msg=key)
    with torch.no_grad():
        bias[3] = 0.0
    *_, finite = step.step(batch, None, optimizer)
    assert finite and len(optimizer.state_dict()["state"]) > 0


TINY_RUN = ["model.hidden_size=8", "model.transition_size=8", "model.output_size=8", "model.embedding_size=8",
            "model.dropout=0", "data.batch_size=16", "data.bptt=20", "train.threads=1", "train.epochs=2",
            "train.max_batches_per_epoch=5", "data.name=ptb-char"]  # fmt: skip


def _logged(run) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("wall_time_s")
        line["train"] = {k: v for k, v in line["train"].items() if not k.endswith("_per_s")}
    return lines


@pytest.mark.slow
def test_the_trainer_runs_the_graphed_step(tmp_path, monkeypatch):
    """The trainer's wiring, with the recording made on the CPU: the same logged numbers as without the option."""
    monkeypatch.setitem(graphed_module.CAPTURE, "cpu", eager_capture)
    used = []
    original = GraphedLMStep.step
    monkeypatch.setattr(GraphedLMStep, "step", lambda self, *args: used.append(1) or original(self, *args))
    for on in (False, True):
        train(load_config(None, [*TINY_RUN, "model.name=dots-rnn", f"train.cuda_graph={str(on).lower()}"]),
              tmp_path / str(on), progress=False, log=lambda *_: None)
    assert len(used) == 10
    eager, graphed = _logged(tmp_path / "False"), _logged(tmp_path / "True")
    assert [line["epoch"] for line in graphed] == [1, 2]
    for expected, got in zip(eager, graphed):
        assert got["train"] == pytest.approx(expected["train"], rel=1e-5)
        assert got["valid"] == pytest.approx(expected["valid"], rel=1e-5)


def test_cuda_graph_refuses_what_it_cannot_run(tmp_path, monkeypatch):
    quiet = {"progress": False, "log": lambda *_: None}
    with pytest.raises(ConfigError, match="needs train.device = cuda"):
        train(load_config(None, [*TINY_RUN, "train.cuda_graph=true", "train.device=cpu"]), tmp_path / "a", **quiet)
    monkeypatch.setitem(graphed_module.CAPTURE, "cpu", eager_capture)  # past the device check, to the others
    for overrides, message in (
        (["data.name=jsb"], "needs the lm task"),
        (["optim.weight_noise=0.01"], "weight_noise"),
    ):
        config = load_config(None, [*TINY_RUN, *overrides, "train.cuda_graph=true", "train.device=cpu"])
        with pytest.raises(ConfigError, match=message):
            train(config, tmp_path / message, **quiet)


def test_a_step_that_cannot_be_recorded_says_what_to_do():
    def failing_capture(body):
        raise RuntimeError("operation not permitted when stream is capturing")

    model = _model("rnn", torch.device("cpu"))
    task = _stream_task(torch.device("cpu"))
    step = GraphedLMStep(model, task, 1.0, failing_capture)
    with pytest.raises(RuntimeError, match="train.cuda_graph = false.*this batch has 15"):
        step.step(next(iter(task.train_batches(0, 0))), None, torch.optim.SGD(model.parameters(), lr=0.1))


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_recorded_cuda_graph_trains_like_training_step(name):
    """The real capture on a GPU (float32): the replayed step against the eager one on the same device."""
    eager_model, graphed_model, logs = _train_both(name, torch.device("cuda"), cuda_graph_capture, torch.float32)
    assert [entry[0] for entry in logs["graphed"]].count("graph") == 6
    for (_, *expected), (_, *got) in zip(logs["eager"], logs["graphed"]):
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-6)
    for (key, expected), got in zip(eager_model.state_dict().items(), graphed_model.state_dict().values()):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5, msg=key)


@needs_cuda
def test_the_trainer_runs_a_cuda_graph(tmp_path):
    for on in (False, True):
        train(load_config(None, [*TINY_RUN, "model.name=dts-rnn", "train.device=cuda",
                                 f"train.cuda_graph={str(on).lower()}"]),
              tmp_path / str(on), progress=False, log=lambda *_: None)
    eager, graphed = _logged(tmp_path / "False"), _logged(tmp_path / "True")
    for expected, got in zip(eager, graphed):
        assert got["valid"] == pytest.approx(expected["valid"], rel=1e-3)

