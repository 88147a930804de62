"""One contract for every registered core (``deeprnn.architectures.MODEL_NAMES``): a new core is covered by
registering it. Shapes and layouts, lengths and PackedSequence, causality, gradcheck, both directions, state-dict
round trip and rebuild from the hyper-parameters, one step against the sequence, fast against reference, the
core protocol, a closed-form parameter count, and every option/model pair of the description."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch
from torch.autograd import gradcheck
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from deeprnn.architectures import ARCHITECTURES, MODEL_NAMES, applies
from deeprnn.models import DTRNN, ModelConfig, build_model, count_parameters
from deeprnn.models.dtrnn import TransitionLayer
from deeprnn.models.fast import set_impl
from deeprnn.models.sequence import ROLES, select_impl

D, H, DEPTH, C = 3, 4, 2, 88  # input size, hidden size, depth of every deep model, music keys
LENGTHS = [5, 2, 4]
TOL = dict(rtol=0, atol=1e-10)


def make_head(name, task="tagging", bidirectional=False, **options):
    torch.manual_seed(0)
    architecture = ARCHITECTURES[name]
    depth = {architecture.depth_option: DEPTH} if architecture.depth_option else {}
    sizes = dict(vocab_size=7, num_tags=3, embedding_size=D) if task == "tagging" else {}
    return build_model(name, task, hidden_size=H, bidirectional=bidirectional, **sizes, **depth, **options)


def make_core(name, batch_first=True, bidirectional=False):
    core = make_head(name, bidirectional=bidirectional).core.double().eval()
    core.batch_first = batch_first
    return core


def states(h_n):
    return h_n if isinstance(h_n, tuple) else (h_n,)


def directions(core):
    return 2 if core.bidirectional else 1


def randn(*shape, seed=1):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shapes_and_layouts(name, bidirectional):
    if bidirectional and not ARCHITECTURES[name].bidirectional:
        pytest.skip("no reverse direction")
    batch_first, time_major = make_core(name, True, bidirectional), make_core(name, False, bidirectional)
    x = randn(2, 5, D)
    out_bf, h_bf = batch_first(x)
    out_tm, h_tm = time_major(x.transpose(0, 1))
    k = directions(batch_first)
    assert out_bf.shape == (2, 5, k * H) and out_tm.shape == (5, 2, k * H)
    for h in states(h_bf):
        assert h.shape == (batch_first.num_layers * k, 2, H)
    torch.testing.assert_close(out_bf, out_tm.transpose(0, 1), **TOL)
    for a, b in zip(states(h_bf), states(h_tm)):
        torch.testing.assert_close(a, b, **TOL)
    torch.testing.assert_close(out_bf[:, -1, :H], states(h_bf)[0][-k], **TOL)  # top layer, forward direction


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_lengths_give_each_sequence_its_own_result_and_packing_agrees(name, bidirectional):
    if bidirectional and not ARCHITECTURES[name].bidirectional:
        pytest.skip("no reverse direction")
    core = make_core(name, bidirectional=bidirectional)
    x = randn(len(LENGTHS), max(LENGTHS), D)
    out, h_n = core(x, lengths=torch.tensor(LENGTHS))
    for b, length in enumerate(LENGTHS):
        alone, h_alone = core(x[b : b + 1, :length])
        torch.testing.assert_close(out[b, :length], alone[0], **TOL)
        assert out[b, length:].abs().max() == 0 if length < max(LENGTHS) else True
        for h, h1 in zip(states(h_n), states(h_alone)):
            torch.testing.assert_close(h[:, b], h1[:, 0], **TOL)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    packed_out, packed_h = core(packed)
    assert isinstance(packed_out, PackedSequence)
    torch.testing.assert_close(pad_packed_sequence(packed_out, batch_first=True)[0], out, **TOL)
    for a, b in zip(states(packed_h), states(h_n)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_causality_and_its_reverse(name, bidirectional):
    """The forward direction reads the past only; a reverse direction the future only (in one layer: a layer
    above reads both directions of the one below)."""
    if bidirectional and not ARCHITECTURES[name].bidirectional:
        pytest.skip("no reverse direction")
    core = make_core(name, bidirectional=bidirectional)
    if bidirectional and core.num_layers > 1:
        pytest.skip("stacked: each layer above the first reads both directions")
    x = randn(2, 6, D)
    changed = x.clone()
    changed[:, 3] += 1.0
    before, after = core(x)[0], core(changed)[0]
    torch.testing.assert_close(before[:, :3, :H], after[:, :3, :H], **TOL)
    assert not torch.allclose(before[:, 3:, :H], after[:, 3:, :H])
    if bidirectional:
        torch.testing.assert_close(before[:, 4:, H:], after[:, 4:, H:], **TOL)
        assert not torch.allclose(before[:, :4, H:], after[:, :4, H:])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradcheck(name):
    core = make_core(name, batch_first=False)
    names = [n for n, _ in core.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in core.parameters()]
    x = randn(3, 2, D).requires_grad_()

    def function(x, *params):
        output, h_n = functional_call(core, dict(zip(names, params)), (x,), {"lengths": torch.tensor([3, 2])})
        return (output, *states(h_n))

    outputs = function(x, *params)
    loss = sum((o * torch.randn_like(o)).sum() for o in outputs)
    grads = torch.autograd.grad(loss, [x, *params], allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads)  # every parameter takes part
    assert gradcheck(function, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_state_dict_round_trip_and_rebuild_from_hyper_parameters(name):
    head = make_head(name, "lm", vocab_size=9).double().eval()
    torch.manual_seed(5)
    rebuilt = build_model(**head.hparams).double().eval()
    assert not all(torch.equal(a, b) for a, b in zip(head.parameters(), rebuilt.parameters()))
    rebuilt.load_state_dict(head.state_dict())
    tokens = torch.randint(9, (2, 5))
    for a, b in zip(head(tokens), rebuilt(tokens)):
        for x, y in zip(states(a), states(b)):
            torch.testing.assert_close(x, y, **TOL)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_one_step_equals_the_sequence(name):
    core = make_core(name)
    if not core.has_step:
        pytest.skip("no single step on one state tensor")
    x = randn(2, 5, D)
    h, outputs = torch.zeros(2, H, dtype=torch.float64), []
    for t in range(x.shape[1]):
        h = core.step(x[:, t], h)
        outputs.append(h)
    torch.testing.assert_close(torch.stack(outputs, 1), core(x)[0], **TOL)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fast_equals_reference(name):
    head = make_head(name, "lm", vocab_size=9, dropout=0.3).double().train()
    if not hasattr(head.core, "impl"):
        pytest.skip("no fast path")
    tokens, results = torch.randint(9, (3, 5)), {}
    for impl in ("reference", "fast"):
        set_impl(head, impl)
        torch.manual_seed(11)
        logits, _ = head(tokens, lengths=torch.tensor(LENGTHS))
        results[impl] = (logits, *torch.autograd.grad((logits * randn(*logits.shape)).sum(), list(head.parameters())))
    for a, b in zip(results["reference"], results["fast"]):
        torch.testing.assert_close(b, a, **TOL)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_core_protocol(name):
    core = make_core(name, bidirectional=ARCHITECTURES[name].bidirectional)
    assert core.output_units in ("tanh", "relu", "sigmoid", "lp", "maxout")
    roles = core.parameter_roles()
    assert set(roles) == {n for n, _ in core.named_parameters()} and set(roles.values()) <= set(ROLES)
    assert "recurrent" in roles.values()
    depth = getattr(core, "transition_depth", None) or core.num_layers
    assert {core.parameter_layer(n) for n in roles} <= set(range(depth))


class NormalisedLayer(TransitionLayer):
    """A transition layer with a parameter the fused op does not know."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = torch.nn.LayerNorm(self.weight_hh.shape[0])

    def forward(self, below, h_prev, x_t):
        return super().forward(below, h_prev, x_t) + self.norm.bias


def test_the_fast_path_refuses_a_parameter_it_does_not_see():
    core = DTRNN(D, H, transition_depth=2).double()
    layer = core.layers[1]
    core.layers[1] = NormalisedLayer(H, H, "tanh", 2).double()
    core.layers[1].load_state_dict(layer.state_dict(), strict=False)
    torch.nn.init.normal_(core.layers[1].norm.bias)
    assert select_impl(core, core.fast_parameters()) == "reference"
    x = randn(5, 2, D)
    auto = core(x)[0]
    core.impl = "reference"
    torch.testing.assert_close(auto, core(x)[0], **TOL)
    core.impl = "fast"
    with pytest.raises(ValueError, match="does not see layers.1.norm"):
        core(x)


def _rnn_layer(inputs, hidden):
    return hidden * inputs + hidden * hidden + 2 * hidden  # W_ih, W_hh, b_ih, b_hh


# The core's parameters in closed form, input size i, hidden H, depth DEPTH (transition_size = H).
CORE_PARAMETERS = {
    "rnn": lambda i: _rnn_layer(i, H),
    "dt-rnn": lambda i: H * (H + i + 1) + H * (H + 1),
    "dts-rnn": lambda i: H * (H + i + 1) + H * (H + H + 1),
    "dot-rnn": lambda i: H * (H + i + 1) + H * (H + 1),
    "dots-rnn": lambda i: H * (H + i + 1) + H * (H + H + 1),
    "srnn": lambda i: _rnn_layer(i, H) + _rnn_layer(H, H),
    "lstm": lambda i: 4 * (_rnn_layer(i, H) + _rnn_layer(H, H)),
    "gru": lambda i: 3 * (_rnn_layer(i, H) + _rnn_layer(H, H)),
    "rhn": lambda i: 2 * H * (H + i + 1) + 2 * H * (H + 1),
}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_count_in_closed_form(name):
    assert name in CORE_PARAMETERS, f"no closed-form parameter count for {name!r}: add it to CORE_PARAMETERS"
    core = CORE_PARAMETERS[name]
    music, lm = make_head(name, "music"), make_head(name, "lm", vocab_size=13, embedding_size=6)
    deep_output = ARCHITECTURES[name].defaults.get("output_depth", 0)

    def readout(outputs):  # deep output layers of H tanh units, then the read-out
        return H * (H + 1) + outputs * (H + 1) if deep_output else outputs * (H + 1)

    assert count_parameters(music.core) == core(C)
    assert count_parameters(music) == core(C) + readout(C)
    assert count_parameters(lm) == 13 * 6 + core(6) + readout(13)


# A value other than the default for each option, and what it needs beside it.
SAMPLES = {"hidden_size": 5, "transition_depth": 3, "transition_size": 3, "shortcut": True, "num_layers": 3,
           "output_depth": 2, "output_size": 3, "activation": "relu", "output_activation": "relu", "pool_size": 3,
           "dropout": 0.1, "transition_dropout": 0.2, "embedding_size": 3, "tie_weights": True, "input_to": "all",
           "output_from_input": True, "init": "sparse", "output_bias_from_data": False, "sparse_nonzeros": 3,
           "spectral_radius": 0.9, "transition_gain": 0.5, "bidirectional": True, "word_features": "affix",
           "feature_size": 7}
NEEDS = {"activation": dict(transition_gain=None),  # relu units at the origin: no gain to scale without a shortcut
         "tie_weights": dict(output_size=4, embedding_size=4), "word_features": dict(feature_vocab_size=11)}


def test_every_option_has_a_sample():
    assert set(SAMPLES) == {f.name for f in fields(ModelConfig)} - {"name"}


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("option", sorted(SAMPLES))
def test_every_option_model_pair(name, option):
    """An option the description says the model reads is taken; any other is refused in one line."""
    task = "lm" if option == "tie_weights" else "tagging"
    sizes = dict(vocab_size=7, num_tags=3) if task == "tagging" else dict(vocab_size=7)
    arguments = {"hidden_size": 4, **sizes, **NEEDS.get(option, {}), option: SAMPLES[option]}
    if applies(name, option):
        assert build_model(name, task, **arguments) is not None
    else:
        with pytest.raises(ValueError, match=f"^build_model: {option} does not apply to {name} [^\n]*$"):
            build_model(name, task, **arguments)
