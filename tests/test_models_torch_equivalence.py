"""RNN, StackedRNN, LSTM and GRU against torch.nn.RNN/LSTM/GRU, one-way and bidirectional; DTRNN of depth 1
against RNN (float64)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from deeprnn.models import DTRNN, GRU, LSTM, RNN, StackedRNN

TOL = dict(rtol=0, atol=1e-10)
D, H, B, T = 4, 5, 3, 6


def flat(output, h_n=None):
    """The tensors of a core's output, or of an input and a state, as one list (packed data; LSTM's h, c)."""
    output = output.data if isinstance(output, PackedSequence) else output
    return [output, *(h_n if isinstance(h_n, tuple) else () if h_n is None else (h_n,))]


def run_and_grads(core, input, hx, leaves):
    """Outputs, and gradients of a fixed random functional of them w.r.t. ``leaves`` (the tensors input and
    hx are made from) and every parameter."""
    core.zero_grad()
    for leaf in leaves:
        leaf.grad = None
    input = input() if callable(input) else input  # a fresh graph for each run
    outputs = flat(*core(input, hx))
    generator = torch.Generator().manual_seed(123)
    loss = sum((torch.randn(o.shape, generator=generator, dtype=o.dtype) * o).sum() for o in outputs)
    loss.backward()
    grads = [leaf.grad.clone() for leaf in leaves]
    grads += [core.get_parameter(name).grad.clone() for name, _ in sorted(core.named_parameters())]
    return [o.detach() for o in outputs], grads


def assert_same(ours, reference, input, hx, leaves):
    for got, expected in zip(*[run_and_grads(m, input, hx, leaves) for m in (ours, reference)]):
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, **TOL)


def random_inputs(batch_first, num_layers, lstm=False):
    x = torch.randn((B, T, D) if batch_first else (T, B, D), dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(num_layers, B, H, dtype=torch.float64, requires_grad=True)
    if lstm:
        return x, (h0, torch.randn(num_layers, B, H, dtype=torch.float64, requires_grad=True))
    return x, h0


CASES = [
    ("rnn", lambda bf: RNN(D, H, batch_first=bf), lambda bf: torch.nn.RNN(D, H, batch_first=bf), 1),
    ("rnn-relu-nobias", lambda bf: RNN(D, H, nonlinearity="relu", bias=False, batch_first=bf),
     lambda bf: torch.nn.RNN(D, H, nonlinearity="relu", bias=False, batch_first=bf), 1),
    ("srnn", lambda bf: StackedRNN(D, H, num_layers=3, batch_first=bf),
     lambda bf: torch.nn.RNN(D, H, num_layers=3, batch_first=bf), 3),
    ("lstm", lambda bf: LSTM(D, H, num_layers=2, batch_first=bf),
     lambda bf: torch.nn.LSTM(D, H, num_layers=2, batch_first=bf), 2),
    ("gru", lambda bf: GRU(D, H, num_layers=2, batch_first=bf),
     lambda bf: torch.nn.GRU(D, H, num_layers=2, batch_first=bf), 2),
    # bidirectional: the last number is the state count, num_layers * 2
    ("rnn-bi", lambda bf: RNN(D, H, batch_first=bf, bidirectional=True),
     lambda bf: torch.nn.RNN(D, H, batch_first=bf, bidirectional=True), 2),
    ("srnn-bi", lambda bf: StackedRNN(D, H, num_layers=2, nonlinearity="relu", batch_first=bf, bidirectional=True),
     lambda bf: torch.nn.RNN(D, H, num_layers=2, nonlinearity="relu", batch_first=bf, bidirectional=True), 4),
    ("lstm-bi", lambda bf: LSTM(D, H, num_layers=2, batch_first=bf, bidirectional=True),
     lambda bf: torch.nn.LSTM(D, H, num_layers=2, batch_first=bf, bidirectional=True), 4),
    ("gru-bi", lambda bf: GRU(D, H, batch_first=bf, bidirectional=True),
     lambda bf: torch.nn.GRU(D, H, batch_first=bf, bidirectional=True), 2),
]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("name,make_ours,make_torch,num_layers", CASES, ids=[c[0] for c in CASES])
def test_same_as_torch_both_ways(name, make_ours, make_torch, num_layers, batch_first):
    torch.manual_seed(0)
    x, hx = random_inputs(batch_first, num_layers, lstm=name.startswith("lstm"))
    # torch -> ours
    reference, ours = make_torch(batch_first).double(), make_ours(batch_first).double()
    ours.load_state_dict(reference.state_dict())
    assert_same(ours, reference, x, hx, flat(x, hx))
    # ours -> torch
    ours, reference = make_ours(batch_first).double(), make_torch(batch_first).double()
    reference.load_state_dict(ours.state_dict())
    assert_same(ours, reference, x, hx, flat(x, hx))
    # without an initial state
    assert_same(ours, reference, x, None, [x])


@pytest.mark.parametrize("name,make_ours,make_torch,num_layers", CASES, ids=[c[0] for c in CASES])
def test_packed_and_lengths_same_as_torch_packed(name, make_ours, make_torch, num_layers):
    torch.manual_seed(1)
    reference, ours = make_torch(False).double(), make_ours(False).double()
    ours.load_state_dict(reference.state_dict())
    x, hx = random_inputs(False, num_layers, lstm=name.startswith("lstm"))
    lengths = torch.tensor([4, 6, 2])
    assert_same(ours, reference, lambda: pack_padded_sequence(x, lengths, enforce_sorted=False), hx,
                flat(x, hx))
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    # a padded batch with lengths gives the packed result, unpacked
    ours_padded, ours_h = ours(x, hx, lengths=lengths)
    torch_packed, torch_h = reference(packed, hx)
    ours_as_packed = pack_padded_sequence(ours_padded, lengths, enforce_sorted=False)
    torch.testing.assert_close(ours_as_packed.data, torch_packed.data, **TOL)
    for a, b in zip(flat(ours_padded, ours_h)[1:], flat(torch_packed, torch_h)[1:]):
        torch.testing.assert_close(a, b, **TOL)


def test_state_dict_keys_and_shapes_match_torch():
    for ours, reference in [(RNN(D, H), torch.nn.RNN(D, H)),
                            (StackedRNN(D, H, num_layers=3, bias=False),
                             torch.nn.RNN(D, H, num_layers=3, bias=False)),
                            (LSTM(D, H, 2), torch.nn.LSTM(D, H, 2)), (GRU(D, H), torch.nn.GRU(D, H)),
                            (StackedRNN(D, H, num_layers=3, bidirectional=True),
                             torch.nn.RNN(D, H, num_layers=3, bidirectional=True)),
                            (LSTM(D, H, 2, bidirectional=True), torch.nn.LSTM(D, H, 2, bidirectional=True))]:
        ours_shapes = {k: v.shape for k, v in ours.state_dict().items()}
        assert ours_shapes == {k: v.shape for k, v in reference.state_dict().items()}
        assert list(ours.state_dict()) == list(reference.state_dict())  # the same order, too


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_dtrnn_of_depth_one_is_the_plain_rnn(nonlinearity):
    torch.manual_seed(2)
    rnn = RNN(D, H, nonlinearity=nonlinearity).double()
    dtrnn = DTRNN(D, H, transition_depth=1, last_activation=nonlinearity).double()
    with torch.no_grad():
        layer = dtrnn.layers[0]
        layer.weight_ih.copy_(rnn.weight_ih_l0)
        layer.weight_hh.copy_(rnn.weight_hh_l0)
        layer.bias.copy_(rnn.bias_ih_l0 + rnn.bias_hh_l0)  # the plain RNN's two biases act as one
    x, h0 = random_inputs(False, 1)
    for hx in (None, h0):
        for got, expected in zip(dtrnn(x, hx), rnn(x, hx)):
            torch.testing.assert_close(got, expected, **TOL)
