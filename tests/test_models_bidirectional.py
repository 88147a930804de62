"""Bidirectional cores (float64): each direction of DTRNN and StackedRNN against one-way cores with the same
weights run on every sequence alone, the reverse direction on the sequence reversed within its length;
the heads, the initialisation, and refusals where a core would read the future. RNN / StackedRNN / LSTM /
GRU against torch.nn.RNN / LSTM / GRU: tests/test_models_torch_equivalence.py; the fast path against the
reference loop: tests/test_fast_cores.py."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from deeprnn.architectures import ARCHITECTURES, MODEL_NAMES
from deeprnn.models import DTRNN, GRU, LSTM, RNN, StackedRNN, build_model

T, B, D, H = 6, 3, 4, 5
LENGTHS = torch.tensor([6, 2, 4])
TOL = dict(rtol=0, atol=1e-10)


def randn(*shape, seed):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def output_and_state_loss(output, h_n):
    """A fixed random functional of a core's output (T, B, 2H) and h_n."""
    return (output * randn(*output.shape, seed=1)).sum() + (h_n * randn(*h_n.shape, seed=2)).sum()


def one_way_reference(direction_cores, x, lengths, h0):
    """The bidirectional result computed without batching or masks: for each sequence b alone (its first
    L_b steps), direction d's one-way core runs over it (d = 0) or over it reversed (d = 1), whose output is
    then put back in time order. Returns (output (T, B, 2H), zero past L_b; h_n (2, B, H))."""
    outputs, finals = torch.zeros(T, B, 2 * H, dtype=torch.float64), []
    for b in range(B):
        seq, state = x[: lengths[b], b : b + 1], []
        for d, core in enumerate(direction_cores):
            out, h_last = core(seq if d == 0 else seq.flip(0), h0[d : d + 1, b : b + 1])
            outputs[: lengths[b], b, d * H : (d + 1) * H] = (out if d == 0 else out.flip(0))[:, 0]
            state.append(h_last[0, 0])
        finals.append(torch.stack(state))
    return outputs, torch.stack(finals, 1)


def assert_same_as_one_way(bidirectional, direction_cores, lengths):
    """Outputs, h_n and the gradients w.r.t. the input, the initial state and every parameter (direction
    d's parameters are those of direction_cores[d])."""
    x, h0 = randn(T, B, D, seed=3).requires_grad_(), randn(2, B, H, seed=4).requires_grad_()
    output, h_n = bidirectional(x, h0, lengths=lengths)
    expected_output, expected_h_n = one_way_reference(direction_cores, x, lengths, h0)
    torch.testing.assert_close(output, expected_output, **TOL)
    torch.testing.assert_close(h_n, expected_h_n, **TOL)
    params = list(bidirectional.parameters())
    references = [p for core in direction_cores for p in core.parameters()]
    grads = torch.autograd.grad(output_and_state_loss(output, h_n), [x, h0, *params])
    expected = torch.autograd.grad(output_and_state_loss(expected_output, expected_h_n), [x, h0, *references])
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("impl", ["reference", "fast"])
@pytest.mark.parametrize("depth, shortcut", [(1, False), (2, False), (2, True), (3, True)])
def test_dtrnn_directions_are_one_way_cores_on_each_sequence_and_its_reverse(depth, shortcut, impl):
    torch.manual_seed(depth)
    core = DTRNN(D, H, transition_depth=depth, shortcut=shortcut, bidirectional=True, impl=impl).double()
    assert {name.split(".")[0] for name, _ in core.named_parameters()} == {"layers", "layers_reverse"}
    directions = []
    for layers in (core.layers, core.layers_reverse):
        one_way = DTRNN(D, H, transition_depth=depth, shortcut=shortcut, impl="reference").double()
        one_way.layers.load_state_dict(layers.state_dict())
        directions.append(one_way)
    # forward and reverse weights differ, so a mix-up of the directions cannot pass
    assert not torch.equal(core.layers[0].weight_hh, core.layers_reverse[0].weight_hh)
    assert_same_as_one_way(core, directions, LENGTHS)
    assert_same_as_one_way(core, directions, torch.full((B,), T))  # every step real


@pytest.mark.parametrize("impl", ["reference", "fast"])
def test_stacked_rnn_directions_layer_by_layer(impl):
    """Two layers: layer 2's directions read both of layer 1's outputs; each direction against a one-layer
    RNN with its weights, on each sequence alone (and reversed)."""
    torch.manual_seed(5)
    core = StackedRNN(D, H, num_layers=2, bidirectional=True, impl=impl).double()
    x, h0 = randn(T, B, D, seed=3).requires_grad_(), randn(4, B, H, seed=4).requires_grad_()
    output, h_n = core(x, h0, lengths=LENGTHS)
    layer_input, finals = x, []
    for k in range(2):
        directions = []
        for suffix in ("", "_reverse"):
            rnn = RNN(layer_input.shape[-1], H, impl="reference").double()
            rnn.load_state_dict({f"{name}_l0": core.get_parameter(f"{name}_l{k}{suffix}")
                                 for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
            directions.append(rnn)
        layer_output, layer_h = one_way_reference(directions, layer_input, LENGTHS, h0[2 * k : 2 * k + 2])
        layer_input = layer_output
        finals.append(layer_h)
    torch.testing.assert_close(output, layer_input, **TOL)
    torch.testing.assert_close(h_n, torch.cat(finals), **TOL)


@pytest.mark.parametrize("make", [
    lambda: DTRNN(D, H, transition_depth=2, shortcut=True, bidirectional=True),
    lambda: StackedRNN(D, H, num_layers=2, bidirectional=True),
    lambda: LSTM(D, H, bidirectional=True),
    lambda: GRU(D, H, num_layers=2, bidirectional=True),
], ids=["dts", "srnn", "lstm", "gru"])
def test_padding_and_packing_do_not_change_a_sequence(make):
    """With lengths, each sequence's result is the one it has alone, whatever the padding after it holds."""
    torch.manual_seed(6)
    core = make().double()
    x = randn(T, B, D, seed=3)
    noisy = x.clone()
    for b, length in enumerate(LENGTHS):
        noisy[length:, b] = 100.0
    output, h_n = core(noisy, lengths=LENGTHS)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    for b, length in enumerate(LENGTHS):
        alone, alone_h = core(x[:length, b : b + 1])
        alone_h = alone_h[0] if isinstance(alone_h, tuple) else alone_h
        torch.testing.assert_close(output[:length, b], alone[:, 0], **TOL)
        torch.testing.assert_close(output[length:, b], torch.zeros(T - length, 2 * H, dtype=torch.float64))
        torch.testing.assert_close(h_n[:, b], alone_h[:, 0], **TOL)
    packed = pack_padded_sequence(noisy, LENGTHS, enforce_sorted=False)
    packed_output, _ = core(packed)
    torch.testing.assert_close(packed_output.data, pack_padded_sequence(output, LENGTHS, enforce_sorted=False).data,
                               **TOL)


def test_state_shapes_and_errors():
    core = DTRNN(D, H, bidirectional=True)
    output, h_n = core(torch.zeros(T, B, D))
    assert output.shape == (T, B, 2 * H) and h_n.shape == (2, B, H)
    with pytest.raises(ValueError, match=r"expected hx of shape \(2, 3, 5\)"):
        core(torch.zeros(T, B, D), torch.zeros(1, B, H))
    assert StackedRNN(D, H, num_layers=3, bidirectional=True)(torch.zeros(T, B, D))[1].shape == (6, B, H)


@pytest.mark.parametrize("name", [name for name in MODEL_NAMES if ARCHITECTURES[name].bidirectional])
def test_tagger_reads_both_directions(name):
    """The read-out reads 2H units, and a tag depends on the words after it as well as before it."""
    torch.manual_seed(7)
    tagger = build_model(name, task="tagging", vocab_size=11, num_tags=4, hidden_size=H, embedding_size=3,
                         bidirectional=True).double().eval()
    assert tagger.output.readout.in_features == 2 * H or tagger.output.hidden[0].linear.in_features == 2 * H
    tokens = torch.randint(11, (2, T))
    changed = tokens.clone()
    changed[:, 3] = (tokens[:, 3] + 1) % 11
    before, after = tagger(tokens)[0], tagger(changed)[0]
    assert not torch.allclose(before[:, :3], after[:, :3])  # earlier steps see the later word
    assert not torch.allclose(before[:, 4:], after[:, 4:])


def test_init_treats_the_reverse_direction_as_the_forward_one():
    torch.manual_seed(8)
    head = build_model("dts-rnn", task="tagging", vocab_size=7, num_tags=3, hidden_size=H, transition_depth=3,
                       bidirectional=True, transition_gain=None)  # the scheme alone (the gain: test_init_gain)
    core = head.core
    for forward, reverse in zip(core.layers, core.layers_reverse):
        for name in ("weight_hh", "weight_shortcut"):
            a, b = getattr(forward, name), getattr(reverse, name)
            if a is None:
                continue
            # orthogonal blocks (shortcuts scaled by (L - 1)^(-1/3)): the same singular values in both directions
            torch.testing.assert_close(torch.linalg.svdvals(a.detach()), torch.linalg.svdvals(b.detach()))
            assert not torch.equal(a, b)
        assert torch.count_nonzero(reverse.bias) == 0
    shortcut = core.layers_reverse[1].weight_shortcut.detach()
    torch.testing.assert_close(torch.linalg.svdvals(shortcut), torch.full((H,), 2 ** (-1 / 3)))
    lstm = build_model("lstm", task="tagging", vocab_size=7, num_tags=3, hidden_size=H, bidirectional=True).core
    assert torch.equal(lstm.bias_ih_l0_reverse[H : 2 * H], torch.ones(H))
    assert torch.equal(lstm.bias_ih_l0_reverse, lstm.bias_ih_l0)
    torch.testing.assert_close(torch.linalg.svdvals(lstm.weight_hh_l0_reverse.detach()[:H]), torch.ones(H))


@pytest.mark.parametrize("task, kwargs", [("lm", dict(vocab_size=7)), ("music", {})])
def test_refused_where_the_future_is_predicted(task, kwargs):
    with pytest.raises(ValueError, match="bidirectional core reads the future"):
        build_model("lstm", task=task, bidirectional=True, **kwargs)
