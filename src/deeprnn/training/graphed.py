"""``train.cuda_graph``: a language-model training step recorded once as a CUDA graph and replayed.

Why: on a GPU the loop cores are launch-bound (about 0.1 ms per time step and layer, forward + backward), and
``benchmarks/cells.py --graphs`` measured the whole step captured as one graph replaying 3.2-5.3x faster on an
H100 (docs/performance.md). Off by default; CUDA only; the ``lm`` task only, because a graph replays fixed
shapes and only its training windows all share one (batch_size x bptt; the shorter last window of an epoch runs
eagerly through ``training_step``). Music and tagging batches are padded to each batch's longest sequence.

Inside the graph: the forward from the carried state, the masked cross-entropy (``token_loss_terms``), the
gradients (``torch.autograd.grad``) and their clipping, and the state to carry. Each input is a static tensor
the step copies the batch into, each output a static tensor the replay rewrites. Outside it, eagerly: the host
reads the loss and gradient norm (one synchronisation per step, which the loss value logged per step needs
anyway), skips the step when either is not finite (as ``training_step`` does, so the optimiser state is
untouched), and otherwise runs the optimiser step, weight averaging and learning-rate schedules as usual. The
weights themselves are updated in place, so the graph keeps reading the current ones.

What differs from an eager run: the capture runs the step a few times first (``cuda_graph_capture``'s warm-up,
without an optimiser step), which draws dropout masks from the CUDA generator, so a run with dropout sees other
masks than the same run without a graph; without dropout the two compute the same numbers up to float rounding.

``capture`` is how the step is recorded: ``cuda_graph_capture`` on a GPU; the CPU tests pass ``eager_capture``,
which "replays" by running the same function again, to check everything around the graph against
``training_step``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from deeprnn.models import detach_hidden
from deeprnn.training.config import Config, ConfigError
from deeprnn.training.step import StepResult
from deeprnn.training.tasks import LanguageModelTask, Task, token_loss_terms

Outputs = tuple[Any, ...]
Capture = Callable[[Callable[[], Outputs]], tuple[Callable[[], None], Outputs]]


def _flat(state) -> list[torch.Tensor]:
    """The tensors of a recurrent state: one tensor, or a tuple such as LSTM's (h, c)."""
    return list(state) if isinstance(state, tuple | list) else [state]


def _unaliased(grads: tuple[torch.Tensor | None, ...]) -> list[torch.Tensor | None]:
    """Copies of gradients that share memory with an earlier one. A backward may return one tensor for two
    parameters (the fast path does for an RNN's two biases, whose gradients are equal); autograd.grad hands it
    back twice, so scaling each in place would scale it twice, and one optimiser would see it changed."""
    seen, out = set(), []
    for g in grads:
        if g is not None:
            if g.untyped_storage().data_ptr() in seen:
                g = g.clone()
            seen.add(g.untyped_storage().data_ptr())
        out.append(g)
    return out


def cuda_graph_capture(body: Callable[[], Outputs], warmups: int = 3) -> tuple[Callable[[], None], Outputs]:
    """Record ``body`` as a CUDA graph; return (replay, the static outputs each replay rewrites).

    The warm-up runs on a side stream, as torch.cuda.graph's documentation asks: it initialises cuBLAS/cuDNN
    handles and workspaces, which must not be created during the capture.
    """
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmups):
            body()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = body()
    return graph.replay, outputs


def eager_capture(body: Callable[[], Outputs]) -> tuple[Callable[[], None], Outputs]:
    """The same contract without a GPU: each replay runs ``body`` and copies its results into the first outputs."""
    outputs = body()

    def replay() -> None:
        for static, fresh in zip(outputs, body()):
            for s, f in zip(_flat(static), _flat(fresh)):
                if s is not None:
                    s.copy_(f)

    return replay, outputs


CAPTURE: dict[str, Capture] = {"cuda": cuda_graph_capture}  # by device type; tests add "cpu": eager_capture


class GraphedLMStep:
    """``training_step`` for the lm task's full-size windows, as a recorded graph (see the module docstring).

    ``accepts(batch)`` says whether a batch has the recorded shape (the first batch given fixes it);
    ``step(batch, carried, optimizer)`` returns what ``training_step`` returns, a ``StepResult``. ``carried`` may be
    None (start from zeros, the models' initial state), the state this object returned, or a state from an eager
    step.
    """

    def __init__(self, model: torch.nn.Module, task: Task, clip_norm: float | None, capture: Capture):
        self.model, self.task, self.capture = model, task, capture
        self.max_norm = clip_norm if clip_norm else float("inf")
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shape: tuple[int, ...] | None = None
        self.replay: Callable[[], None] | None = None

    def accepts(self, batch) -> bool:
        return self.shape is None or tuple(batch[0].shape) == self.shape

    def _record(self, batch) -> None:
        self.inputs, self.targets, self.mask = (t.clone() for t in batch)
        self.shape = tuple(self.inputs.shape)
        # the state's structure and shapes from a one-step forward in eval mode (no dropout draws); its values
        # are replaced by zeros, which is what the models start from when given no state
        training = self.model.training
        self.model.eval()
        with torch.no_grad():
            _, state = self.model(self.inputs[:, :1], None)
        self.model.train(training)
        self.state = type(state)(torch.zeros_like(t) for t in state) if isinstance(state, tuple) else (
            torch.zeros_like(state))

        def body() -> Outputs:
            logits, new_state = self.model(self.inputs, self.state)
            loss, tokens, hits = token_loss_terms(logits, self.targets, self.mask)
            grads = _unaliased(torch.autograd.grad(loss, self.params, allow_unused=True))
            used = [g for g in grads if g is not None]
            norm = torch.nn.utils.get_total_norm(used)
            # what clip_grad_norm_ does, without reading the norm back: scale by min(1, max_norm / (norm + 1e-6))
            scale = (self.max_norm / (norm + 1e-6)).clamp(max=1.0)
            for g in used:
                g.mul_(scale)
            return loss.detach(), tokens, hits, norm, detach_hidden(new_state), grads

        try:
            self.replay, outputs = self.capture(body)
        except RuntimeError as exc:
            raise RuntimeError(
                f"train.cuda_graph: the training step could not be recorded as a CUDA graph ({exc}). Train without "
                "it (train.cuda_graph = false). A possible cause: the backward of torch.nn.Embedding sorts its "
                "indices, with a host synchronisation, when a batch has more than 3072 tokens (pytorch/pytorch"
                f"#82886); this batch has {self.inputs.numel()}") from exc
        self.loss, self.tokens, self.hits, self.norm, self.new_state, grads = outputs
        # parameters the loss does not reach keep grad None, so the optimiser leaves them alone (as eagerly)
        self.grads = [(p, g) for p, g in zip(self.params, grads) if g is not None]

    def step(self, batch, carried, optimizer: torch.optim.Optimizer) -> StepResult:
        if self.replay is None:
            self._record(batch)
        if carried is None:
            for t in _flat(self.state):
                t.zero_()
        elif carried is not self.state:  # handed over from an eager step
            for t, c in zip(_flat(self.state), _flat(carried)):
                t.copy_(c)
        for static, given in zip((self.inputs, self.targets, self.mask), batch):
            static.copy_(given)
        self.replay()
        loss, tokens, hits, norm = torch.stack([self.loss.double(), self.tokens.double(), self.hits.double(),
                                                self.norm.double()]).tolist()  # the one synchronisation
        tokens = int(tokens)
        self.task._count(int(hits), tokens)
        finite = math.isfinite(loss) and math.isfinite(norm)
        if not finite:
            return StepResult(loss, tokens, None, norm, norm, False)
        for p, g in self.grads:
            p.grad = g  # an eager step in between (the last window) set them to None
        optimizer.step()
        for t, new in zip(_flat(self.state), _flat(self.new_state)):
            t.copy_(new)
        return StepResult(loss, tokens, self.state, norm, min(norm, self.max_norm), True)


def graphed_step(config: Config, task: Task, model: torch.nn.Module, device: torch.device) -> GraphedLMStep | None:
    """The graphed step ``train.cuda_graph`` asks for (None when off), or a ConfigError saying why it cannot run."""
    if not config.train.cuda_graph:
        return None
    if device.type not in CAPTURE:
        raise ConfigError(f"train.cuda_graph records CUDA graphs and needs train.device = cuda; this run is on "
                          f"{device.type}")
    if not isinstance(task, LanguageModelTask):
        raise ConfigError(f"train.cuda_graph needs the lm task, whose training windows all have one shape; "
                          f"{task.name} batches are padded to each batch's longest sequence")
    if config.optim.weight_noise:
        raise ConfigError("train.cuda_graph does not support optim.weight_noise (the noise is drawn outside the "
                          "step); set one of them off")
    return GraphedLMStep(model, task, config.optim.gradient_clip_norm, CAPTURE[device.type])
