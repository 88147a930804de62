"""Sequence conventions of every core and head: layouts, padding with lengths, PackedSequence, causality."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from deeprnn.architectures import ARCHITECTURES, MODEL_NAMES
from deeprnn.models import DTRNN, GRU, LSTM, RNN, StackedRNN, build_model

D, H = 3, 4
LENGTHS = [5, 2, 4]
TOL = dict(rtol=0, atol=1e-12)

def registered(name):
    """The core of a registered model, at depth 2 where it has a depth (every name in MODEL_NAMES is covered)."""
    def make(batch_first):
        architecture = ARCHITECTURES[name]
        depth = {architecture.depth_option: 2} if architecture.depth_option else {}
        core = build_model(name, "tagging", vocab_size=5, num_tags=2, embedding_size=D, hidden_size=H, **depth).core
        core.batch_first = batch_first
        return core
    return make


CORES = {
    **{name: registered(name) for name in MODEL_NAMES},
    "rnn-time-major": lambda bf: RNN(D, H, batch_first=bf),
    "srnn-3": lambda bf: StackedRNN(D, H, num_layers=3, batch_first=bf),
    "dts-rnn-lp-maxout": lambda bf: DTRNN(D, H, transition_depth=3, shortcut=True, activation=["lp", "maxout"],
                                          input_to="all", batch_first=bf),
    "lstm-2": lambda bf: LSTM(D, H, num_layers=2, batch_first=bf),
    "gru-2": lambda bf: GRU(D, H, num_layers=2, batch_first=bf),
}


def states(h_n):
    return h_n if isinstance(h_n, tuple) else (h_n,)


def make_core(name, batch_first=True):
    torch.manual_seed(0)
    return CORES[name](batch_first).double().eval()


@pytest.mark.parametrize("name", list(CORES))
def test_output_shapes_and_layouts(name):
    batch_first_core, time_major_core = make_core(name, True), make_core(name, False)
    x = torch.randn(2, 5, D, dtype=torch.float64)  # (B, T, D)
    out_bf, h_bf = batch_first_core(x)
    out_tm, h_tm = time_major_core(x.transpose(0, 1))
    assert out_bf.shape == (2, 5, H) and out_tm.shape == (5, 2, H)
    num_layers = batch_first_core.num_layers
    for h in states(h_bf):
        assert h.shape == (num_layers, 2, H)
    torch.testing.assert_close(out_bf, out_tm.transpose(0, 1), **TOL)
    for a, b in zip(states(h_bf), states(h_tm)):
        torch.testing.assert_close(a, b, **TOL)
    # output is the top layer's state at every step: its last step is the top layer's h_n
    torch.testing.assert_close(out_bf[:, -1], states(h_bf)[0][-1], **TOL)


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("name", list(CORES))
def test_padding_gives_each_sequence_its_own_result(name, with_state):
    core = make_core(name)
    x = torch.randn(len(LENGTHS), max(LENGTHS), D, dtype=torch.float64)
    hx = None
    if with_state:
        hx = tuple(torch.randn_like(h) for h in states(core(x)[1]))
        hx = hx if isinstance(core, LSTM) else hx[0]
    output, h_n = core(x, hx, lengths=torch.tensor(LENGTHS))
    for b, length in enumerate(LENGTHS):
        hx_b = None if hx is None else tuple(h[:, b:b + 1] for h in states(hx))
        hx_b = hx_b if hx_b is None or isinstance(core, LSTM) else hx_b[0]
        alone, h_alone = core(x[b:b + 1, :length], hx_b)
        torch.testing.assert_close(output[b, :length], alone[0], **TOL)
        assert (output[b, length:] == 0).all()
        for batched, single in zip(states(h_n), states(h_alone)):
            torch.testing.assert_close(batched[:, b], single[:, 0], **TOL)


@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("name", list(CORES))
def test_packed_sequence_in_packed_sequence_out(name, enforce_sorted):
    core = make_core(name, batch_first=False)
    lengths = torch.tensor(sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS)
    x = torch.randn(max(LENGTHS), len(LENGTHS), D, dtype=torch.float64)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    packed_output, packed_h = core(packed)
    assert isinstance(packed_output, PackedSequence)
    assert torch.equal(packed_output.batch_sizes, packed.batch_sizes)
    output, h_n = core(x, lengths=lengths)
    unpacked, unpacked_lengths = pad_packed_sequence(packed_output, total_length=x.shape[0])
    assert unpacked_lengths.tolist() == lengths.tolist()
    torch.testing.assert_close(unpacked, output, **TOL)
    for a, b in zip(states(packed_h), states(h_n)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("name", list(CORES))
def test_causality(name):
    core = make_core(name)
    x = torch.randn(2, 6, D, dtype=torch.float64)
    output = core(x)[0]
    for t in range(6):
        changed = x.clone()
        changed[:, t + 1:] = torch.randn_like(changed[:, t + 1:])
        torch.testing.assert_close(core(changed)[0][:, :t + 1], output[:, :t + 1], **TOL)
        assert t == 5 or not torch.allclose(core(changed)[0][:, t + 1:], output[:, t + 1:])


HEADS = {
    "music-dots": dict(name="dots-rnn", task="music", input_size=6, activation="lp",
                       output_activation="maxout", output_from_input=True),
    "lm-dot-tied": dict(name="dot-rnn", task="lm", vocab_size=11, tie_weights=True),
    "tagging-lstm": dict(name="lstm", task="tagging", vocab_size=11, num_tags=4, output_depth=1),
    "music-srnn": dict(name="srnn", task="music", input_size=6),
}


def make_head(key):
    torch.manual_seed(0)
    return build_model(hidden_size=H, **HEADS[key]).double().eval()


def head_input(head, batch, steps):
    if head.hparams["task"] == "music":
        return (torch.rand(batch, steps, head.hparams["input_size"]) < 0.3).double()
    return torch.randint(head.hparams["vocab_size"], (batch, steps))


@pytest.mark.parametrize("key", list(HEADS))
def test_head_padding_and_causality(key):
    head = make_head(key)
    x = head_input(head, len(LENGTHS), max(LENGTHS))
    logits, h_n = head(x, lengths=LENGTHS)
    assert logits.shape[:2] == x.shape[:2]
    for b, length in enumerate(LENGTHS):
        alone, h_alone = head(x[b:b + 1, :length])
        torch.testing.assert_close(logits[b, :length], alone[0], **TOL)
        assert (logits[b, length:] == 0).all()
        for batched, single in zip(states(h_n), states(h_alone)):
            torch.testing.assert_close(batched[:, b], single[:, 0], **TOL)
    full = head(x)[0]
    for t in range(x.shape[1]):
        changed = x.clone()
        changed[:, t + 1:] = head_input(head, x.shape[0], x.shape[1] - t - 1)
        torch.testing.assert_close(head(changed)[0][:, :t + 1], full[:, :t + 1], **TOL)


def test_head_carries_state_across_chunks():
    """Truncated BPTT: running two chunks with the state carried over equals one run over both."""
    head = make_head("tagging-lstm")
    x = head_input(head, 2, 6)
    full = head(x)[0]
    first, state = head(x[:, :4])
    second, _ = head(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), full, **TOL)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["rnn", "dots-rnn", "srnn", "lstm"])
def test_cuda_matches_cpu(name):
    torch.manual_seed(0)
    head = build_model(name, input_size=D, hidden_size=H, activation="lp" if name == "dots-rnn" else "tanh")
    head = head.double().train()  # no dropout is configured; cuDNN's RNN backward refuses eval mode
    x = torch.randn(len(LENGTHS), max(LENGTHS), D, dtype=torch.float64)
    logits, h_n = head(x, lengths=LENGTHS)
    cuda_logits, cuda_h = head.cuda()(x.cuda(), lengths=torch.tensor(LENGTHS).cuda())
    cuda_logits.sum().backward()
    torch.testing.assert_close(cuda_logits.cpu(), logits, rtol=0, atol=1e-10)
    for a, b in zip(states(cuda_h), states(h_n)):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=1e-10)
    packed = pack_padded_sequence(x.cuda(), torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    packed_output, _ = head.core(packed)
    assert packed_output.data.is_cuda
