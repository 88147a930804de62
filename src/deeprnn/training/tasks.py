"""The three tasks (music, language modelling, tagging): their data, batches, loss and evaluation.

Each task turns a dataset into training batches in a deterministic order (a function of the seed and
the epoch, so a resumed run sees exactly the batches it would have seen), computes the training loss
on a batch, and evaluates a model over a whole split with the literature's metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deeprnn import architectures, data
from deeprnn.metric_keys import ACCURACY, FRAME_ACCURACY
from deeprnn.models import TASKS, detach_hidden
from deeprnn.training.config import Config, ConfigError
from deeprnn.training.metrics import MusicMetrics, TaggingMetrics, TokenMetrics

TAGGING_DATA_ONLY = ("tagging_lowercase", "tagging_max_words", "tagging_min_count")  # the data options of tagging


def resolve_task(config: Config) -> str:
    """The task of a run: ``data.task`` if given, else the dataset's first task; checked against the dataset."""
    spec = data.get_dataset(config.data.name)
    task = config.data.task or spec.tasks[0]
    if task not in TASKS:
        raise ConfigError(f"'data.task' must be one of {', '.join(TASKS)}, got '{task}'")
    if task not in spec.tasks:
        raise ConfigError(
            f"dataset '{config.data.name}' does not support task '{task}' (it supports: {', '.join(spec.tasks)})"
        )
    if task != "music":  # a music-only setting on text would otherwise be silently ignored
        for key in ("music_bptt", "music_transpose"):
            if getattr(config.data, key):
                raise ConfigError(f"'data.{key}' applies to music only, not to task '{task}'")
    _refuse_other_tasks_options(config, task)
    return task


def _refuse_other_tasks_options(config: Config, task: str) -> None:
    """The model options of another task only (``architectures.TASK_ONLY``) and the tagging data options."""
    given = architectures.task_only_given(task, {name: getattr(config.model, name) for name in architectures.TASK_ONLY})
    if "bidirectional" in given:
        raise ConfigError(f"'model.bidirectional' is for tagging only: a bidirectional core reads the future, "
                          f"which task '{task}' predicts")
    for name in given:
        raise ConfigError(f"'model.{name}' applies to {architectures.TASK_ONLY[name][0]} only, not to task '{task}'")
    if task != "tagging":
        defaults = Config().data
        for name in TAGGING_DATA_ONLY:
            if getattr(config.data, name) != getattr(defaults, name):
                raise ConfigError(f"'data.{name}' applies to tagging only, not to task '{task}'")


def token_loss_terms(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
    """Task._token_loss without reading anything back to the host (so it can run inside a CUDA graph):
    (mean cross-entropy over the real tokens, their count, how many the argmax predicts), all tensors."""
    tokens = mask.sum()
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_targets = targets.masked_fill(~mask, -100).reshape(-1)
    loss = F.cross_entropy(flat_logits, flat_targets, ignore_index=-100, reduction="sum") / tokens
    with torch.no_grad():
        hits = (flat_logits.argmax(-1) == flat_targets).sum()  # -100 never equals argmax
    return loss, tokens, hits


class Task:
    """Interface shared by the tasks; see the module docstring."""

    name: str
    unit: str  # what throughput counts: "frames" or "tokens"

    def model_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def num_train_batches(self) -> int:
        raise NotImplementedError

    def train_batches(self, epoch: int, seed: int) -> Iterator[Any]:
        raise NotImplementedError

    def train_loss(self, model: nn.Module, batch: Any, state: Any) -> tuple[torch.Tensor, int, Any]:
        """Mean loss over the batch's real units, their count, and the state to carry (text streams)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        raise NotImplementedError

    accuracy_key = ACCURACY  # what the training accuracy is called in metrics.jsonl
    loss_key = "loss"  # the validation loss in nats that the trainer's divergence check watches

    def trivial_losses(self) -> dict[str, float]:
        """The validation loss (``loss_key``, nats) of two models that ignore the input: "unigram" predicts the
        training frequencies (add-one smoothed, as ``output_bias``), "uniform" has all-zero logits."""
        raise NotImplementedError

    def begin_epoch(self) -> None:
        self._train_hits, self._train_total = 0, 0

    def train_accuracy(self) -> dict[str, float]:
        """Accuracy over the training batches since ``begin_epoch`` (dropout on: a running estimate)."""
        total = getattr(self, "_train_total", 0)
        return {self.accuracy_key: self._train_hits / total} if total else {}

    def _count(self, hits: int, total: int) -> None:
        self._train_hits = getattr(self, "_train_hits", 0) + hits
        self._train_total = getattr(self, "_train_total", 0) + total

    def _token_loss(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Mean cross-entropy over the real (mask) tokens of (B, T, V) logits, and their count; counts the hits.

        Padded positions get ignore_index rather than a boolean gather (``logits[mask]``): the gather copies the
        logits and its backward writes a zero tensor of their size, about 8% of a PTB word batch (10k classes).
        """
        loss, tokens, hits = token_loss_terms(logits, targets, mask)
        tokens = int(tokens)
        self._count(int(hits), tokens)
        return loss, tokens

    def output_bias(self) -> torch.Tensor | None:
        """The read-out bias matching the training data's marginal statistics (None: keep the model's)."""
        return None

    def extras(self) -> dict[str, Any]:
        """What a checkpoint must carry for the model to be used without the dataset (vocabularies)."""
        return {}


class SequenceBatchTask(Task):
    """Tasks on independent sequences (music pieces, tagged sentences): length-bucketed, padded batches.

    Subclasses set ``self.lengths[split]`` and define ``collate(split, indices)``, ``model_inputs(batch)``,
    ``targets(batch)`` and ``new_metrics()``.
    """

    def _make_batcher(self, split: str, batch_size: int, bucket: bool = True):
        return data.SequenceBatcher(self.lengths[split], batch_size, bucket=bucket)

    def num_train_batches(self) -> int:
        return len(self.train_batcher.plan(0, self.config.train.seed))

    def _to_device(self, batch):
        return type(batch)(*(t.to(self.device) for t in batch))

    def train_batches(self, epoch: int, seed: int) -> Iterator[Any]:
        for indices in self.train_batcher.plan(epoch, seed, shuffle=True):
            yield self._to_device(self.collate("train", indices))

    @torch.no_grad()
    def evaluate(self, model, split):
        metrics = self.new_metrics()
        batch_size = self.config.data.eval_batch_size or self.config.data.batch_size
        for indices in self._make_batcher(split, batch_size).plan(0, 0, shuffle=False):
            batch = self._to_device(self.collate(split, indices))
            metrics.update(self.padded_logits(model, self.model_inputs(batch)), self.targets(batch), batch.mask)
        return metrics.compute()

    @staticmethod
    def padded_logits(model, inputs):
        """Logits of a padded batch of whole sequences, run without ``lengths`` on purpose.

        The models are causal, so the logits on a sequence's real steps do not depend on the padding after
        it, and the final state is not used here; the loss and metrics mask the padded steps. With
        ``lengths``, LSTM and GRU would pack the batch, and torch's packed backward on CPU is 15-20x slower
        on long pieces (one Piano-midi batch of 16, T=701, hidden 300: 20.5 s against 1.2 s).
        """
        logits, _ = model(inputs)
        return logits


class MusicWindow(NamedTuple):
    """Frames [start, start + data.music_bptt) of a batch of pieces (truncated BPTT); ``first``: start == 0."""

    frames: data.MusicBatch
    first: bool


class MusicTask(SequenceBatchTask):
    name = "music"
    unit = "frames"
    accuracy_key = FRAME_ACCURACY

    def __init__(self, config: Config, device: torch.device):
        self.config, self.device = config, device
        self.splits = {
            split: data.load_music(config.data.name, split, config.data.data_dir)
            for split in ("train", "valid", "test")
        }
        self.lengths = {split: [len(seq) for seq in seqs] for split, seqs in self.splits.items()}
        self.train_batcher = self._make_batcher("train", config.data.batch_size, config.data.bucket)
        self.transposition_ranges = [
            data.transposition_range(seq, config.data.music_transpose) for seq in self.splits["train"]
        ]

    def model_kwargs(self) -> dict[str, Any]:
        return {"input_size": 88}

    def transpositions(self, epoch: int, seed: int) -> list[int]:
        """Semitones each training piece is moved by in this epoch (data.music_transpose; all 0 when off).

        A function of (seed, epoch) only, drawn from a stream of its own, so a resumed run sees the same
        transpositions and the batch order does not change when transposition is switched on.
        """
        rng = np.random.default_rng([seed, epoch, 1])  # the batch plan draws from [seed, epoch]
        return [int(rng.integers(low, high + 1)) for low, high in self.transposition_ranges]

    def output_bias(self):
        # log-odds of each key being on in a training frame (add-one smoothed)
        on = sum(torch.as_tensor(seq, dtype=torch.float64).sum(0) for seq in self.splits["train"])
        frames = sum(len(seq) for seq in self.splits["train"])
        p = (on + 1) / (frames + 2)
        return torch.log(p / (1 - p)).float()

    loss_key = "nll"

    def trivial_losses(self):
        p = torch.sigmoid(self.output_bias().double())
        first = 0 if self.config.data.score_first_frame else 1  # the frames evaluation scores
        scored = [torch.as_tensor(seq[first:], dtype=torch.float64) for seq in self.splits["valid"]]
        on, frames = sum(seq.sum(0) for seq in scored), sum(len(seq) for seq in scored)
        unigram = -float((on * p.log() + (frames - on) * (1 - p).log()).sum()) / frames
        return {"unigram": unigram, "uniform": 88 * math.log(2)}

    def collate(self, split: str, indices: list[int]) -> data.MusicBatch:
        return data.collate_music(self.splits[split], indices, score_first_frame=self.config.data.score_first_frame)

    def model_inputs(self, batch):
        return batch.inputs

    def targets(self, batch):
        return batch.targets

    def new_metrics(self):
        return MusicMetrics()

    def num_train_batches(self) -> int:
        window = self.config.data.music_bptt
        plan = self.train_batcher.plan(0, self.config.train.seed)
        if window is None:
            return len(plan)
        shift = 0 if self.config.data.score_first_frame else 1  # collate_music drops the first frame then
        return sum(-(-(max(self.lengths["train"][i] for i in indices) - shift) // window) for indices in plan)

    def train_batches(self, epoch: int, seed: int) -> Iterator[Any]:
        window = self.config.data.music_bptt
        shifts = self.transpositions(epoch, seed) if self.config.data.music_transpose else None
        pieces = self.splits["train"]
        for indices in self.train_batcher.plan(epoch, seed, shuffle=True):
            if shifts is not None:
                pieces = {i: data.transpose_roll(self.splits["train"][i], shifts[i]) for i in indices}
            batch = self._to_device(data.collate_music(pieces, indices, self.config.data.score_first_frame))
            if window is None:
                yield batch
                continue
            for start in range(0, batch.inputs.shape[1], window):
                cut = slice(start, start + window)
                frames = data.MusicBatch(batch.inputs[:, cut], batch.targets[:, cut], batch.mask[:, cut],
                                         batch.mask[:, cut].sum(1))
                yield MusicWindow(frames, start == 0)

    def train_loss(self, model, batch, state):
        if isinstance(batch, MusicWindow):  # truncated BPTT: the state of the previous window, detached
            batch, state = batch.frames, (None if batch.first or state is None else detach_hidden(state))
            logits, state = model(batch.inputs, state)
        else:
            logits, state = self.padded_logits(model, batch.inputs), None
        per_frame = F.binary_cross_entropy_with_logits(logits, batch.targets, reduction="none").sum(-1)
        frames = int(batch.mask.sum())
        with torch.no_grad():  # frame accuracy TP / (TP + FP + FN), as in MusicMetrics
            predicted, actual = (logits > 0)[batch.mask], (batch.targets > 0.5)[batch.mask]
            true_pos = int((predicted & actual).sum())
            self._count(true_pos, true_pos + int((predicted ^ actual).sum()))
        return per_frame[batch.mask].sum() / frames, frames, state


class LanguageModelTask(Task):
    """Next-token prediction on a contiguous stream, truncated BPTT with the state carried across windows."""

    name = "lm"
    unit = "tokens"

    def __init__(self, config: Config, device: torch.device):
        self.config, self.device = config, device
        self.level = data.get_dataset(config.data.name).level or "word"
        self.vocab = data.lm_vocab(config.data.name, config.data.data_dir)
        self.streams = {
            s: data.lm_stream(config.data.name, s, self.vocab, config.data.data_dir) for s in ("train", "valid", "test")
        }
        self.train_windows = data.LMBatches(self.streams["train"], config.data.batch_size, config.data.bptt)

    def model_kwargs(self):
        return {"vocab_size": len(self.vocab)}

    def output_bias(self):
        # log unigram frequencies of the training stream (add-one smoothed); softmax is shift-invariant
        counts = torch.bincount(self.streams["train"], minlength=len(self.vocab)).double() + 1
        return torch.log(counts / counts.sum()).float()

    def trivial_losses(self):
        return {"unigram": _unigram_loss(self.output_bias(), self.streams["valid"][1:]),  # every token is a target
                "uniform": math.log(len(self.vocab))}

    def num_train_batches(self):
        return len(self.train_windows)

    def train_batches(self, epoch, seed):
        # The stream order is the corpus order, as in the literature; nothing to shuffle.
        for i in range(len(self.train_windows)):
            yield tuple(t.to(self.device) for t in self.train_windows.window(i))

    def train_loss(self, model, batch, state):
        inputs, targets, mask = batch
        state = detach_hidden(state) if state is not None else None
        logits, state = model(inputs, state)
        loss, tokens = self._token_loss(logits, targets, mask)
        return loss, tokens, state

    @torch.no_grad()
    def evaluate(self, model, split):
        metrics = TokenMetrics(self.level)
        batch_size = self.config.data.eval_batch_size or self.config.data.batch_size
        windows = data.LMBatches(self.streams[split], batch_size, self.config.data.bptt)
        state = None
        for i in range(len(windows)):
            inputs, targets, mask = (t.to(self.device) for t in windows.window(i))
            logits, state = model(inputs, state)
            metrics.update(logits, targets, mask)
        return metrics.compute()

    def extras(self):
        return {"vocab": self.vocab.to_list()}


class TaggingTask(SequenceBatchTask):
    """Tagging: each sentence's words in (ids, and spelling features with ``model.word_features``), a tag per
    word out. Scored on all tokens and apart on those whose exact form is known from / unknown to the training
    split (``TaggingMetrics``)."""

    name = "tagging"
    unit = "tokens"

    def __init__(self, config: Config, device: torch.device):
        self.config, self.device = config, device
        d, m = config.data, config.model
        self.words, self.tags = data.tagging_vocabs(d.name, d.data_dir, lowercase=d.tagging_lowercase,
                                                    max_words=d.tagging_max_words, min_count=d.tagging_min_count)
        sentences = {split: data.load_tagged(d.name, split, d.data_dir) for split in ("train", "valid", "test")}
        train_words = [word for sentence in sentences["train"] for word, _ in sentence]
        features = data.build_feature_vocab(m.word_features, train_words) if m.word_features else None
        self.inputs = data.TaggerInputs(self.words, d.tagging_lowercase, m.word_features, features)
        train_forms = set(train_words)
        self.splits = {split: data.encode_split(s, self.inputs, self.tags, train_forms)
                       for split, s in sentences.items()}
        self.lengths = {split: [len(s) for s in encoded.token_ids] for split, encoded in self.splits.items()}
        self.train_batcher = self._make_batcher("train", d.batch_size, d.bucket)

    def model_kwargs(self):
        kwargs = {"vocab_size": len(self.words), "num_tags": len(self.tags)}
        if self.inputs.features is not None:
            kwargs["feature_vocab_size"] = len(self.inputs.features)
        return kwargs

    def output_bias(self):
        tag_ids = torch.tensor([t for sentence in self.splits["train"].tag_ids for t in sentence])
        counts = torch.bincount(tag_ids, minlength=len(self.tags)).double() + 1
        return torch.log(counts / counts.sum()).float()

    def trivial_losses(self):
        valid_tags = torch.tensor([t for sentence in self.splits["valid"][1] for t in sentence])
        return {"unigram": _unigram_loss(self.output_bias(), valid_tags), "uniform": math.log(len(self.tags))}

    def collate(self, split, indices):
        return data.collate_split(self.splits[split], indices)

    def logits(self, model, batch):
        """Tag logits of a padded batch. A unidirectional tagger runs without ``lengths`` (see
        ``padded_logits``); a bidirectional one needs them, so that its reverse direction starts at each
        sentence's last word rather than in the padding."""
        kwargs = {"features": batch.features} if self.inputs.features is not None else {}
        if self.config.model.bidirectional:
            kwargs["lengths"] = batch.lengths
        elif not kwargs:
            return self.padded_logits(model, batch.tokens)
        return model(batch.tokens, **kwargs)[0]

    @torch.no_grad()
    def evaluate(self, model, split):
        metrics = TaggingMetrics()
        batch_size = self.config.data.eval_batch_size or self.config.data.batch_size
        for indices in self._make_batcher(split, batch_size).plan(0, 0, shuffle=False):
            batch = self._to_device(self.collate(split, indices))
            metrics.update(self.logits(model, batch), batch.tags, batch.mask, batch.known)
        return metrics.compute()

    def train_loss(self, model, batch, state):
        loss, tokens = self._token_loss(self.logits(model, batch), batch.tags, batch.mask)
        return loss, tokens, None

    def extras(self):
        extras = {"vocab": self.words.to_list(), "tags": self.tags.to_list()}
        if self.inputs.features is not None:
            extras["feature_vocab"] = self.inputs.features.to_list()
        return extras


def _unigram_loss(log_probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross-entropy (nats) of ``targets`` under the fixed distribution ``log_probs``."""
    return -float(log_probs.double()[targets].mean())


TASK_CLASSES = {"music": MusicTask, "lm": LanguageModelTask, "tagging": TaggingTask}


def build_task(config: Config, device: torch.device) -> Task:
    return TASK_CLASSES[resolve_task(config)](config, device)
