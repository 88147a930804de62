"""The fast paths (deeprnn.models.fast) against the reference loops, in float64: outputs, final states and the
gradients w.r.t. the input, the initial state and every parameter agree to 1e-10."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck
from torch.nn.utils.rnn import pack_padded_sequence

from deeprnn.architectures import applies
from deeprnn.models import DTRNN, RNN, StackedRNN, build_model, fast
from deeprnn.models.fast import Layout, selected_impl, set_impl

T, B, D, H = 5, 3, 3, 4
LENGTHS = torch.tensor([5, 2, 4])
TOL = dict(rtol=1e-10, atol=1e-10)


def randn(*shape, seed):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def run(core, impl, x, hx, seed=0, **kwargs):
    """(output, h_n, d loss / d (x, hx, *parameters)) with impl; same seed, so the same dropout masks."""
    core.impl = impl
    torch.manual_seed(seed)
    output, h_n = core(x, hx, **kwargs)
    data = output.data if hasattr(output, "batch_sizes") else output
    loss = ((data * randn(*data.shape, seed=1).to(data.device)).sum()
            + (h_n * randn(*h_n.shape, seed=2).to(h_n.device)).sum())
    inputs = [t for t in (x, hx) if isinstance(t, torch.Tensor)] + list(core.parameters())
    return (data, h_n, *torch.autograd.grad(loss, inputs))


def assert_same(core, x, hx=None, **kwargs):
    core = core.double()
    for t in (x, hx):
        if isinstance(t, torch.Tensor):
            t.requires_grad_()
    reference = run(core, "reference", x, hx, **kwargs)
    fast_path = run(core, "fast", x, hx, **kwargs)
    assert selected_impl(core) == "fast"
    assert len(reference) == len(fast_path)
    for a, b in zip(reference, fast_path):
        torch.testing.assert_close(b, a, **TOL)


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("shortcut", [False, True], ids=["dt", "dts"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_dtrnn(depth, shortcut, lengths):
    torch.manual_seed(depth)
    core = DTRNN(D, H, transition_depth=depth, shortcut=shortcut)
    assert_same(core, randn(T, B, D, seed=3), randn(1, B, H, seed=4), lengths=lengths)


@pytest.mark.parametrize("case", [
    dict(transition_depth=3, shortcut=True, input_to="all"),
    dict(transition_depth=2, shortcut=False, input_to="all"),
    dict(transition_depth=4, shortcut=True, transition_size=6, activation=["relu", "sigmoid", "tanh"],
         last_activation="sigmoid"),
    dict(transition_depth=3, shortcut=False, transition_size=2, activation="relu", last_activation="relu"),
], ids=["dts-input-to-all", "dt-input-to-all", "mixed-units", "relu-narrow"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_dtrnn_options(case, lengths):
    torch.manual_seed(5)
    assert_same(DTRNN(D, H, **case), randn(T, B, D, seed=3), randn(1, B, H, seed=4), lengths=lengths)


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("depth", [2, 4])
def test_dtrnn_dropout_masks_in_training(depth, lengths):
    torch.manual_seed(6)
    core = DTRNN(D, H, transition_depth=depth, shortcut=True, dropout=0.4).train()
    assert_same(core, randn(T, B, D, seed=3), randn(1, B, H, seed=4), lengths=lengths)


def _random_units(core):
    """L_p orders and centres away from their initial values (p = 2, c = 0), so every term is exercised."""
    with torch.no_grad():
        for layer in (layer for layers in core.directions() for layer in layers):
            if hasattr(layer.activation, "rho"):
                layer.activation.rho.copy_(randn(*layer.activation.rho.shape, seed=8))
                layer.activation.centres.copy_(randn(*layer.activation.centres.shape, seed=9))
    return core


@pytest.mark.parametrize("case", [
    dict(transition_depth=2, shortcut=True, activation="lp"),  # DOT(S)-RNN*'s transition
    dict(transition_depth=3, shortcut=True, activation=["lp", "maxout"], pool_size=3),
    dict(transition_depth=3, shortcut=False, activation=["maxout", "lp"], transition_size=5, input_to="all"),
    dict(transition_depth=4, shortcut=True, activation=["lp", "tanh", "maxout"], last_activation="relu"),
], ids=["lp", "lp-maxout-pool3", "maxout-lp-dt-input-to-all", "mixed-depth4"])
@pytest.mark.parametrize("dropout", [0.0, 0.4], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_dtrnn_pooling_units_in_intermediate_blocks(case, dropout, lengths):
    torch.manual_seed(10)
    core = _random_units(DTRNN(D, H, dropout=dropout, **case)).train()
    assert_same(core, randn(T, B, D, seed=3), randn(1, B, H, seed=4), lengths=lengths)


def test_lp_unit_derivatives_match_autograd():
    from deeprnn.models.activations import LpPool, lp_pool_derivatives, maxout_derivative

    unit = LpPool(3, 4).double()
    with torch.no_grad():
        unit.rho.copy_(randn(3, seed=1))
        unit.centres.copy_(randn(3, 4, seed=2))
    z = randn(5, 12, seed=3).requires_grad_()
    y = unit(z)
    weights = randn(5, 3, seed=4)
    grad_z, grad_centres, grad_rho = torch.autograd.grad((y * weights).sum(), [z, unit.centres, unit.rho])
    d_z, d_p = lp_pool_derivatives(z.detach(), y.detach(), unit.centres.detach(), unit.p.detach())
    torch.testing.assert_close((weights[..., None] * d_z).flatten(-2), grad_z, **TOL)
    torch.testing.assert_close(-(weights[..., None] * d_z).sum(0), grad_centres, **TOL)
    torch.testing.assert_close((weights * d_p).sum(0) * torch.sigmoid(unit.rho.detach()), grad_rho, **TOL)
    tied = torch.tensor([[1.0, 3.0, 3.0, 2.0]], dtype=torch.float64)
    assert maxout_derivative(tied, tied.amax(-1, keepdim=True).squeeze(-1), 1, 4).tolist() == [[[0, 0.5, 0.5, 0]]]


def test_dtrnn_layouts_without_state_and_single_step():
    torch.manual_seed(7)
    core = DTRNN(D, H, transition_depth=3, shortcut=True, batch_first=True)
    assert_same(core, randn(B, T, D, seed=3))  # batch-first: non-contiguous time-major views inside
    assert_same(core, randn(B, 1, D, seed=3), randn(1, B, H, seed=4))  # T = 1
    packed = pack_padded_sequence(randn(B, T, D, seed=3), LENGTHS, batch_first=True, enforce_sorted=False)
    assert_same(core, packed)


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("num_layers, nonlinearity, bias", [(1, "tanh", True), (1, "relu", False),
                                                            (2, "tanh", True), (3, "relu", True)])
def test_stacked_rnn(num_layers, nonlinearity, bias, lengths):
    torch.manual_seed(8)
    core = StackedRNN(D, H, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, dropout=0.3).train()
    assert_same(core, randn(T, B, D, seed=3), randn(num_layers, B, H, seed=4), lengths=lengths)


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("case", [
    dict(transition_depth=1),
    dict(transition_depth=2, shortcut=True),
    dict(transition_depth=3, shortcut=True, input_to="all", dropout=0.4),  # each direction its own masks
    dict(transition_depth=2, activation="lp", dropout=0.3),
], ids=["rnn", "dts", "dts-3-all-dropout", "lp-dropout"])
def test_bidirectional_dtrnn(case, lengths):
    """Both directions: the reverse one runs the same function on sequences reversed within their lengths."""
    torch.manual_seed(16)
    core = _random_units(DTRNN(D, H, bidirectional=True, **case)).train()
    assert_same(core, randn(T, B, D, seed=3), randn(2, B, H, seed=4), lengths=lengths)


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_bidirectional_stacked_rnn(num_layers, lengths):
    torch.manual_seed(17)
    core = StackedRNN(D, H, num_layers=num_layers, dropout=0.3, bidirectional=True).train()
    assert_same(core, randn(T, B, D, seed=3), randn(2 * num_layers, B, H, seed=4), lengths=lengths)
    packed = pack_padded_sequence(randn(B, T, D, seed=3), LENGTHS, batch_first=True, enforce_sorted=False)
    assert_same(core, packed)


def test_rnn_matches_torch_rnn_on_the_fast_path():
    torch.manual_seed(9)
    core, reference = RNN(D, H).double(), torch.nn.RNN(D, H).double()
    reference.load_state_dict(core.state_dict())
    x = randn(T, B, D, seed=3)
    assert selected_impl(core) == "fast"
    for a, b in zip(core(x), reference(x)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("name", ["rnn", "srnn", "dt-rnn", "dts-rnn", "dot-rnn", "dots-rnn"])
def test_heads(name):
    torch.manual_seed(10)
    depth = {"transition_depth": 3} if applies(name, "transition_depth") else {}
    head = build_model(name, task="lm", vocab_size=7, hidden_size=H, embedding_size=3, dropout=0.3,
                       **depth).double().train()
    tokens = torch.randint(7, (B, T))
    results = {}
    for impl in ("reference", "fast"):
        set_impl(head, impl)
        torch.manual_seed(11)
        logits, h_n = head(tokens, lengths=LENGTHS)
        loss = (logits * randn(*logits.shape, seed=1)).sum() + (h_n * randn(*h_n.shape, seed=2)).sum()
        results[impl] = (logits, h_n, *torch.autograd.grad(loss, list(head.parameters())))
    assert selected_impl(head.core) == "fast"
    for a, b in zip(results["reference"], results["fast"]):
        torch.testing.assert_close(b, a, **TOL)


def test_float32_close_to_reference():
    torch.manual_seed(12)
    core = DTRNN(D, 16, transition_depth=3, shortcut=True)
    x = torch.randn(20, B, D)
    core.impl = "reference"
    expected = core(x)[0]
    core.impl = "fast"
    torch.testing.assert_close(core(x)[0], expected, rtol=1e-5, atol=1e-6)


def test_no_grad_and_eval():
    torch.manual_seed(13)
    core = DTRNN(D, H, transition_depth=2, shortcut=True, dropout=0.5).double().eval()
    x = randn(T, B, D, seed=3)
    with torch.no_grad():
        core.impl = "reference"
        expected = core(x, lengths=LENGTHS)
        core.impl = "fast"
        for a, b in zip(core(x, lengths=LENGTHS), expected):
            torch.testing.assert_close(a, b, **TOL)


def test_gradcheck_of_the_function():
    """torch.autograd.gradcheck on the autograd.Function itself: mask, dropout masks, shortcut, input to all."""
    layout = Layout(("relu", "sigmoid", "tanh"), shortcut=True, input_to_all=True, has_bias=True)
    sizes, generator = [3, 2, H], torch.Generator().manual_seed(14)
    below = [H, 3, 2]
    params = [torch.randn(s, b, dtype=torch.float64, generator=generator) for s, b in zip(sizes, below)]
    params += [torch.randn(s, H, dtype=torch.float64, generator=generator) for s in sizes[1:]]
    params += [torch.randn(s, D, dtype=torch.float64, generator=generator) for s in sizes]
    params += [torch.randn(s, dtype=torch.float64, generator=generator) for s in sizes]
    params = [p.requires_grad_() for p in params]
    x, h0 = randn(T, B, D, seed=15).requires_grad_(), randn(B, H, seed=16).requires_grad_()
    step_mask = (torch.arange(T)[:, None] < LENGTHS[None, :]).unsqueeze(-1)
    dropout = [torch.bernoulli(torch.full((B, s), 0.5, dtype=torch.float64), generator=generator) * 2
               for s in sizes[:-1]]

    def function(x, h0, *params):
        return fast.fused_apply(x, h0, step_mask, dropout, layout, *params)
    assert gradcheck(function, (x, h0, *params), eps=1e-6, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------- which path "auto" takes

def test_auto_selects_fast_for_pointwise_units_and_reference_otherwise():
    for units in ("tanh", "relu", "sigmoid", ["relu", "tanh"]):
        depth = 3 if isinstance(units, list) else 2
        assert selected_impl(DTRNN(D, H, transition_depth=depth, activation=units)) == "fast"
    assert selected_impl(DTRNN(D, H, transition_depth=2, last_activation="sigmoid", dropout=0.5)) == "fast"
    assert selected_impl(StackedRNN(D, H, num_layers=3, nonlinearity="relu")) == "fast"
    assert selected_impl(RNN(D, H)) == "fast"
    assert selected_impl(DTRNN(D, H, activation="lp")) == "fast"  # pooling in an intermediate block
    assert selected_impl(DTRNN(D, H, transition_depth=3, activation=["maxout", "lp"])) == "fast"
    assert selected_impl(DTRNN(D, H, last_activation="maxout")) == "reference"  # pooling in the state
    assert selected_impl(DTRNN(D, H, transition_depth=1, last_activation="lp")) == "reference"
    assert selected_impl(DTRNN(D, H, impl="reference")) == "reference"
    assert selected_impl(StackedRNN(D, H, impl="reference")) == "reference"
    hooked = DTRNN(D, H)
    hooked.layers[0].register_forward_hook(lambda *args: None)  # per-step hooks need the per-step loop
    assert selected_impl(hooked) == "reference"
    assert selected_impl(build_model("dots-rnn", activation="lp", output_activation="maxout").core) == "fast"
    assert selected_impl(build_model("dots-rnn", output_activation="maxout").core) == "fast"


def test_impl_errors():
    with pytest.raises(ValueError, match="impl"):
        DTRNN(D, H, impl="compiled")
    with pytest.raises(ValueError, match="lp units in the last block"):
        DTRNN(D, H, last_activation="lp", impl="fast")(torch.zeros(T, B, D))
    with pytest.raises(ValueError, match="impl"):
        set_impl(RNN(D, H), "gpu")


def test_run_routes_through_the_selected_path(monkeypatch):
    calls = []
    original = fast.fused_apply
    monkeypatch.setattr(fast, "fused_apply", lambda *a: calls.append(1) or original(*a))
    x = torch.randn(T, B, D)
    DTRNN(D, H)(x)
    StackedRNN(D, H, num_layers=2)(x)
    assert len(calls) == 3
    DTRNN(D, H, impl="reference")(x)
    DTRNN(D, H, last_activation="maxout")(x)
    assert len(calls) == 3


CUDA_CASES = [
    dict(transition_depth=1, shortcut=False),
    dict(transition_depth=3, shortcut=True),
    dict(transition_depth=2, shortcut=True, activation="lp"),  # DOT(S)-RNN*'s transition
    dict(transition_depth=3, shortcut=True, activation=["lp", "maxout"], pool_size=3),
]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CUDA_CASES, ids=["rnn", "dts-3", "lp", "lp-maxout"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_fast_path_on_cuda_matches_the_reference_on_cpu(case, lengths):
    """Without dropout: the CPU reference loop against the fast path on CUDA tensors (float64); with dropout
    (masks come from the CUDA generator): both paths on CUDA."""
    torch.manual_seed(14)
    core = _random_units(DTRNN(D, H, **case)).double()
    x, hx = randn(T, B, D, seed=3).requires_grad_(), randn(1, B, H, seed=4).requires_grad_()
    reference = run(core, "reference", x, hx, lengths=lengths)
    x_cuda, hx_cuda = (t.detach().cuda().requires_grad_() for t in (x, hx))
    on_cuda = run(core.cuda(), "fast", x_cuda, hx_cuda, lengths=lengths)
    assert all(t.is_cuda for t in on_cuda)
    for a, b in zip(reference, on_cuda):
        torch.testing.assert_close(b.cpu(), a, **TOL)
    core.dropout = 0.4
    assert_same(core.train(), x_cuda.detach(), hx_cuda.detach(), lengths=lengths)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_stacked_rnn_fast_path_on_cuda(lengths):
    torch.manual_seed(15)
    core = StackedRNN(D, H, num_layers=3).double()
    x, hx = randn(T, B, D, seed=3).requires_grad_(), randn(3, B, H, seed=4).requires_grad_()
    reference = run(core, "reference", x, hx, lengths=lengths)
    x_cuda, hx_cuda = (t.detach().cuda().requires_grad_() for t in (x, hx))
    for a, b in zip(reference, run(core.cuda(), "fast", x_cuda, hx_cuda, lengths=lengths)):
        torch.testing.assert_close(b.cpu(), a, **TOL)
