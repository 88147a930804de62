"""Streams for truncated BPTT, length-bucketed batches and padded collation: nothing dropped, masks exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeprnn import data


@pytest.fixture(scope="module")
def ptb_vocab():
    return data.lm_vocab("ptb")


def test_ptb_valid_stream_scores_every_token_and_line_end_once(ptb_vocab):
    stream = data.lm_stream("ptb", "valid", ptb_vocab)
    assert stream.dtype == torch.long and len(stream) - 1 == 73_760
    assert stream[0] == stream[-1] == ptb_vocab.eos_id
    assert int((stream[1:] == ptb_vocab.eos_id).sum()) == 3_370  # one <eos> target per line
    batches = data.LMBatches(stream, batch_size=20, bptt=35)
    assert sum(int(batches.window(i)[2].sum()) for i in range(len(batches))) == 73_760


def test_ptb_char_valid_stream_has_one_target_per_symbol():
    vocab = data.lm_vocab("ptb-char")
    stream = data.lm_stream("ptb-char", "valid", vocab)
    assert len(stream) - 1 == 393_042


@pytest.mark.parametrize("length,batch_size,bptt", [(2, 1, 1), (101, 4, 7), (100, 3, 100), (10, 16, 3)])
def test_lm_batches_keep_every_target_in_order(length, batch_size, bptt):
    stream = torch.arange(length)
    batches = data.LMBatches(stream, batch_size, bptt)
    inputs = torch.cat([batches.window(i)[0] for i in range(len(batches))], dim=1)
    targets = torch.cat([w[1] for w in batches], dim=1)
    mask = torch.cat([w[2] for w in batches], dim=1)
    assert all(w[0].shape[1] <= bptt for w in batches)
    assert int(mask.sum()) == length - 1
    # Rows are contiguous pieces of the stream, so reading them row by row restores it.
    assert torch.equal(inputs[mask], stream[:-1]) and torch.equal(targets[mask], stream[1:])
    assert torch.equal(targets[mask], inputs[mask] + 1)
    with pytest.raises(IndexError):
        batches.window(len(batches))


def test_sequence_batcher_is_deterministic_and_complete():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6, 10]
    batcher = data.SequenceBatcher(lengths, batch_size=3)
    plan = batcher.plan(epoch=2, seed=7)
    assert plan == batcher.plan(epoch=2, seed=7)
    assert plan != batcher.plan(epoch=3, seed=7) or plan != batcher.plan(epoch=2, seed=8)
    assert sorted(i for batch in plan for i in batch) == list(range(len(lengths)))
    assert len(plan) == len(batcher) == 4
    # Bucketing: each batch is a run of the length-sorted order.
    fixed = batcher.plan(epoch=0, seed=0, shuffle=False)
    assert fixed == batcher.plan(epoch=5, seed=9, shuffle=False)
    assert [lengths[i] for batch in fixed for i in batch] == sorted(lengths)
    unbucketed = data.SequenceBatcher(lengths, batch_size=3, bucket=False)
    assert unbucketed.plan(shuffle=False) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10]]
    assert sorted(i for b in unbucketed.plan(epoch=1, seed=1) for i in b) == list(range(len(lengths)))


def test_collate_music_scores_every_frame_of_jsb_test():
    seqs = data.load_music("jsb", "test")
    batcher = data.SequenceBatcher([len(s) for s in seqs], batch_size=16)
    batches = [data.collate_music(seqs, idx) for idx in batcher.plan(epoch=0, seed=0)]
    assert sum(int(b.mask.sum()) for b in batches) == 4_725
    assert sum(float(b.targets.sum()) for b in batches) == 18_367  # notes counted on real frames only
    shifted = [data.collate_music(seqs, idx, score_first_frame=False) for idx in batcher.plan(0, 0)]
    assert sum(int(b.mask.sum()) for b in shifted) == 4_725 - 77


def test_collate_music_shifts_inputs_by_one_frame():
    a = np.eye(88, dtype=np.uint8)[:3]  # frames 0, 1, 2 each with one note
    b = np.eye(88, dtype=np.uint8)[10:12]
    batch = data.collate_music([a, b], [0, 1])
    assert batch.inputs.dtype == torch.float32 and batch.inputs.shape == (2, 3, 88)
    assert batch.lengths.tolist() == [3, 2] and batch.mask.tolist() == [[True] * 3, [True, True, False]]
    assert torch.equal(batch.targets[0], torch.from_numpy(a).float())
    assert batch.inputs[0, 0].sum() == 0 and torch.equal(batch.inputs[0, 1:], torch.from_numpy(a[:2]).float())
    assert batch.targets[1, 2].sum() == 0 and batch.inputs[1, 2].sum() == 0  # padding is zero
    context = data.collate_music([a, b], [0, 1], score_first_frame=False)
    assert context.lengths.tolist() == [2, 1]
    assert torch.equal(context.inputs[0], torch.from_numpy(a[:2]).float())
    assert torch.equal(context.targets[0], torch.from_numpy(a[1:]).float())


def test_collate_tagged_pads_and_masks():
    batch = data.collate_tagged([[5, 6, 7], [8]], [[1, 2, 3], [4]], [1, 0])
    assert batch.tokens.tolist() == [[8, 0, 0], [5, 6, 7]]
    assert batch.tags.tolist() == [[4, 0, 0], [1, 2, 3]]
    assert batch.mask.tolist() == [[True, False, False], [True, True, True]]
    assert batch.lengths.tolist() == [1, 3] and batch.lengths.dtype == torch.long


def test_transposition_moves_every_note_and_never_drops_one():
    roll = np.zeros((3, 88), dtype=np.uint8)
    roll[0, 2] = roll[1, 40] = roll[2, 85] = 1  # lowest note key 2, highest key 85
    assert data.transposition_range(roll, 5) == (-2, 2)
    assert data.transposition_range(roll, 1) == (-1, 1)
    assert data.transposition_range(np.zeros((4, 88), dtype=np.uint8), 5) == (0, 0)  # silence stays put
    up = data.transpose_roll(roll, 2)
    assert [np.flatnonzero(frame).tolist() for frame in up] == [[4], [42], [87]]
    down = data.transpose_roll(roll, -2)
    assert [np.flatnonzero(frame).tolist() for frame in down] == [[0], [38], [83]]
    assert np.array_equal(data.transpose_roll(up, -2), roll) and up.dtype == roll.dtype
    assert np.array_equal(data.transpose_roll(roll, 0), roll)
    for semitones in (3, -3):
        with pytest.raises(ValueError, match="off the 88 keys"):
            data.transpose_roll(roll, semitones)
