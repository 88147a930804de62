"""torch.autograd.gradcheck (float64) for every core, every unit type and every head, w.r.t. inputs,
initial states and all parameters."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck
from torch.func import functional_call

from deeprnn.architectures import ARCHITECTURES, MODEL_NAMES
from deeprnn.models import DTRNN, GRU, LSTM, RNN, StackedRNN, build_model, get_activation

B, T, D, H = 2, 3, 2, 3


def flat(outputs):
    out = []
    for o in outputs:
        out.extend(flat(o) if isinstance(o, tuple) else [o])
    return tuple(out)


def check_module(module, inputs, **kwargs):
    """gradcheck of module(*inputs, **kwargs) w.r.t. the floating inputs and every parameter."""
    module = module.double()
    names = [name for name, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    differentiable = [i for i in inputs if i is not None and i.is_floating_point()]
    for i in differentiable:
        i.requires_grad_()

    def function(*args):
        it = iter(args[:len(differentiable)])
        call_inputs = [next(it) if i is not None and i.is_floating_point() else i for i in inputs]
        state = dict(zip(names, args[len(differentiable):]))
        return flat(functional_call(module, state, tuple(call_inputs), kwargs))

    args = (*differentiable, *params)
    # every argument really takes part (a parameter the call ignored would pass gradcheck trivially)
    outputs = function(*args)
    loss = sum((o * torch.randn_like(o)).sum() for o in outputs)
    grads = torch.autograd.grad(loss, args, allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert gradcheck(function, args, eps=1e-6, atol=1e-5, rtol=1e-4)


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def registered(name):
    """The core of a registered model, at depth 2 where it has a depth (every name in MODEL_NAMES is covered)."""
    def make():
        architecture = ARCHITECTURES[name]
        depth = {architecture.depth_option: 2} if architecture.depth_option else {}
        core = build_model(name, "tagging", vocab_size=5, num_tags=2, embedding_size=D, hidden_size=H, **depth).core
        core.batch_first = False  # time-major, as the cores built here
        return core
    return make


CORES = {
    **{name: registered(name) for name in MODEL_NAMES},
    "rnn-plain": lambda: RNN(D, H),
    "rnn-relu": lambda: RNN(D, H, nonlinearity="relu"),
    "srnn-2": lambda: StackedRNN(D, H, num_layers=2),
    "dt-rnn-2": lambda: DTRNN(D, H, transition_depth=2),
    "dts-rnn-3": lambda: DTRNN(D, H, transition_depth=3, transition_size=2, shortcut=True),
    "dts-rnn-input-to-all": lambda: DTRNN(D, H, transition_depth=2, shortcut=True, input_to="all"),
    "dts-rnn-lp-maxout": lambda: DTRNN(D, H, transition_depth=3, shortcut=True, activation=["lp", "maxout"],
                                       last_activation="lp", pool_size=2),
    "dt-rnn-relu-sigmoid": lambda: DTRNN(D, H, transition_depth=3, activation=["relu", "sigmoid"],
                                         last_activation="maxout", pool_size=3),
    "lstm-2": lambda: LSTM(D, H, num_layers=2),
    "gru-1": lambda: GRU(D, H),
}


@pytest.mark.parametrize("name", list(CORES))
def test_gradcheck_core(name):
    torch.manual_seed(0)
    core = CORES[name]()
    num_layers = getattr(core, "num_layers", 1)
    hx = randn(num_layers, B, H)
    if isinstance(core, LSTM):
        hx = (hx, randn(num_layers, B, H))
        check_module(core, (randn(T, B, D),), hx=hx)
    else:
        check_module(core, (randn(T, B, D), hx))


@pytest.mark.parametrize("name", ["rnn", "dts-rnn-lp-maxout", "lstm"])
def test_gradcheck_core_with_lengths(name):
    torch.manual_seed(1)
    check_module(CORES[name](), (randn(T, B, D),), lengths=torch.tensor([3, 2]))


@pytest.mark.parametrize("name", ["tanh", "relu", "sigmoid", "lp", "maxout"])
def test_gradcheck_activation(name):
    torch.manual_seed(2)
    activation = get_activation(name, size=3, pool_size=3)
    if name == "lp":  # away from the initial p = 2 and c = 0, to check their gradients in general position
        with torch.no_grad():
            activation.rho.normal_()
            activation.centres.normal_()
    check_module(activation, (randn(B, activation.input_size),))


HEADS = {
    "music-dots-lp-maxout": dict(name="dots-rnn", task="music", input_size=4, activation="lp",
                                 output_activation="maxout", output_from_input=True),
    "music-dot-depth2-lp": dict(name="dot-rnn", task="music", input_size=4, output_depth=2,
                                output_activation="lp", output_size=2),
    "lm-dots-tied": dict(name="dots-rnn", task="lm", vocab_size=5, embedding_size=3, tie_weights=True),
    "lm-srnn": dict(name="srnn", task="lm", vocab_size=5, embedding_size=2),
    "tagging-lstm": dict(name="lstm", task="tagging", vocab_size=5, num_tags=3, embedding_size=2,
                         output_depth=1, output_activation="relu"),
    "tagging-gru": dict(name="gru", task="tagging", vocab_size=5, num_tags=3, embedding_size=2),
    "music-rnn": dict(name="rnn", task="music", input_size=4),
    "music-dt-rnn": dict(name="dt-rnn", task="music", input_size=4),
}


@pytest.mark.parametrize("key", list(HEADS))
def test_gradcheck_head(key):
    torch.manual_seed(3)
    head = build_model(hidden_size=H, transition_depth=2, **HEADS[key])
    if head.hparams["task"] == "music":
        input = randn(B, T, head.hparams["input_size"])
    else:
        input = torch.randint(head.hparams["vocab_size"], (B, T))
    check_module(head, (input,), lengths=torch.tensor([3, 2]))
