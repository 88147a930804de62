"""Batches: contiguous streams for truncated BPTT, and length-bucketed padded batches with masks.

Nothing is ever dropped: padded positions carry ``mask == False`` so metrics count real targets only.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import torch

from deeprnn.data.vocab import Vocabulary


def make_lm_stream(lines: list[list[str]], vocab: Vocabulary) -> torch.Tensor:
    """``[<eos>, line 1..., <eos>, line 2..., <eos>, ...]``: predicting stream[1:] from stream[:-1] scores
    every token and every line end exactly once; the leading ``<eos>`` is the context of the first token."""
    eos = vocab.eos_id
    if eos is None:
        raise ValueError("a language-model vocabulary needs an <eos> token")
    ids = [eos]
    for line in lines:
        ids.extend(vocab.encode(line))
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


class LMBatches:
    """A token stream as ``batch_size`` contiguous rows, cut into windows of at most ``bptt`` steps.

    Row r holds targets r*L .. (r+1)*L - 1 (L = ceil(N / batch_size), N = len(stream) - 1), so the hidden
    state of row r carries over from window i to window i + 1. The tail of the last row is padded
    (mask False); over all windows ``mask.sum() == len(stream) - 1``.
    """

    def __init__(self, stream: torch.Tensor, batch_size: int, bptt: int):
        if batch_size < 1 or bptt < 1:
            raise ValueError(f"batch_size and bptt must be >= 1, got {batch_size} and {bptt}")
        stream = torch.as_tensor(stream, dtype=torch.long).reshape(-1)
        if len(stream) < 2:
            raise ValueError("a language-model stream needs at least 2 tokens")
        self.batch_size, self.bptt = batch_size, bptt
        self.num_targets = len(stream) - 1
        self.row_length = -(-self.num_targets // batch_size)
        padded = batch_size * self.row_length

        def rows(values: torch.Tensor, fill) -> torch.Tensor:
            out = torch.full((padded,), fill, dtype=values.dtype)
            out[: self.num_targets] = values
            return out.view(batch_size, self.row_length)

        self.inputs = rows(stream[:-1], 0)
        self.targets = rows(stream[1:], 0)
        self.mask = rows(torch.ones(self.num_targets, dtype=torch.bool), False)

    def __len__(self) -> int:
        return -(-self.row_length // self.bptt)

    def window(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs, targets, mask) of window i, each (batch_size, t) with t <= bptt."""
        if not 0 <= i < len(self):
            raise IndexError(f"window {i} out of range 0..{len(self) - 1}")
        cut = slice(i * self.bptt, min((i + 1) * self.bptt, self.row_length))
        return self.inputs[:, cut], self.targets[:, cut], self.mask[:, cut]

    def __iter__(self):
        return (self.window(i) for i in range(len(self)))


class SequenceBatcher:
    """Which sequences go in which batch, as a deterministic function of (epoch, seed).

    With ``bucket=True`` sequences are sorted by length (random tie-breaking when shuffling) and cut into
    batches of similar length, so little padding is needed; the batch order is then shuffled. Every index
    appears exactly once per epoch; ``shuffle=False`` gives a fixed order.
    """

    def __init__(self, lengths: list[int], batch_size: int, bucket: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.bucket = batch_size, bucket

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def plan(self, epoch: int = 0, seed: int = 0, shuffle: bool = True) -> list[list[int]]:
        rng = np.random.default_rng([seed, epoch])
        count = len(self.lengths)
        if self.bucket:
            noise = rng.random(count) if shuffle else np.arange(count)
            order = np.lexsort((noise, self.lengths))  # by length, then by the tie-breaker
        else:
            order = rng.permutation(count) if shuffle else np.arange(count)
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, count, self.batch_size)]
        if shuffle and self.bucket:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches


class MusicBatch(NamedTuple):
    inputs: torch.Tensor  # float32 (B, T, 88)
    targets: torch.Tensor  # float32 (B, T, 88)
    mask: torch.Tensor  # bool (B, T): True on real frames
    lengths: torch.Tensor  # long (B,)


class TagBatch(NamedTuple):
    tokens: torch.Tensor  # long (B, T)
    tags: torch.Tensor  # long (B, T)
    mask: torch.Tensor  # bool (B, T)
    lengths: torch.Tensor  # long (B,)


def collate_music(seqs: list[np.ndarray], indices, score_first_frame: bool = True) -> MusicBatch:
    """Pad piano-rolls ``seqs[i] for i in indices`` into a next-frame-prediction batch.

    score_first_frame=True: inputs = [silent frame, x_1..x_{T-1}], targets = x_1..x_T (every frame scored).
    score_first_frame=False: inputs = x_1..x_{T-1}, targets = x_2..x_T (the first frame is only context).
    """
    chosen = [np.asarray(seqs[i]) for i in indices]
    shift = 0 if score_first_frame else 1
    lengths = [max(len(seq) - shift, 0) for seq in chosen]
    width = max(lengths, default=0)
    inputs = np.zeros((len(chosen), width, chosen[0].shape[1] if chosen else 88), dtype=np.float32)
    targets = np.zeros_like(inputs)
    mask = np.zeros((len(chosen), width), dtype=bool)
    for b, (seq, length) in enumerate(zip(chosen, lengths)):
        targets[b, :length] = seq[shift:]
        inputs[b, 1 - shift : length] = seq[: length - 1 + shift]
        mask[b, :length] = True
    return MusicBatch(
        torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(mask), torch.tensor(lengths)
    )


def transposition_range(roll: np.ndarray, max_semitones: int) -> tuple[int, int]:
    """The shifts s with |s| <= max_semitones that keep every note of ``roll`` on the keyboard: (lowest, highest).

    A piece whose lowest note is key 2 can go down 2 keys at most, whatever ``max_semitones`` says, so
    transposition never drops a note; a silent piece is not moved.
    """
    if max_semitones < 0:
        raise ValueError(f"max_semitones must be >= 0, got {max_semitones}")
    keys = np.flatnonzero(np.asarray(roll).any(0))
    if len(keys) == 0:
        return 0, 0
    return max(-max_semitones, -int(keys[0])), min(max_semitones, roll.shape[1] - 1 - int(keys[-1]))


def transpose_roll(roll: np.ndarray, semitones: int) -> np.ndarray:
    """A copy of the piano-roll ``roll`` (T, keys) with every note moved up ``semitones`` keys (down if < 0).

    Raises ``ValueError`` if a note would leave the keyboard (see ``transposition_range``).
    """
    roll = np.asarray(roll)
    keys = roll.shape[1]
    if semitones == 0:
        return roll.copy()
    lowest, highest = transposition_range(roll, abs(semitones))
    if not lowest <= semitones <= highest:
        raise ValueError(f"transposing by {semitones} semitones moves a note off the {keys} keys")
    out = np.zeros_like(roll)
    if semitones > 0:
        out[:, semitones:] = roll[:, : keys - semitones]
    else:
        out[:, : keys + semitones] = roll[:, -semitones:]
    return out


def collate_tagged(
    token_ids: list[list[int]], tag_ids: list[list[int]], indices, pad_id: int = 0
) -> TagBatch:
    """Pad sentences ``indices`` of (token ids, tag ids) with ``pad_id``; mask marks the real tokens."""
    lengths = torch.tensor([len(token_ids[i]) for i in indices], dtype=torch.long)
    width = int(lengths.max()) if len(lengths) else 0
    mask = torch.arange(width)[None, :] < lengths[:, None]
    tokens = torch.full((len(lengths), width), pad_id, dtype=torch.long)
    tags = torch.full((len(lengths), width), pad_id, dtype=torch.long)
    # one copy per batch instead of one per sentence: a boolean mask fills row by row, in sentence order
    tokens[mask] = torch.tensor(list(itertools.chain.from_iterable(token_ids[i] for i in indices)), dtype=torch.long)
    tags[mask] = torch.tensor(list(itertools.chain.from_iterable(tag_ids[i] for i in indices)), dtype=torch.long)
    return TagBatch(tokens, tags, mask, lengths)
