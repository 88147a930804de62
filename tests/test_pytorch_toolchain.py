"""Every registered core under PyTorch's toolchain (docs/pytorch.md): torch.compile with fullgraph=True (backend
aot_eager, so seconds), torch.export with a dynamic sequence length, ONNX through the dynamo exporter, torch.func,
double backward, torch.nn.RNN's dtype check and unbatched input, and autocast. Truth: the same model in eager
mode, or torch.nn.RNN."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo.testing
from torch.export import Dim
from torch.func import functional_call

from deeprnn.models import DTRNN, GRU, LSTM, MODEL_NAMES, RNN, StackedRNN, build_model
from deeprnn.models.fast import DOUBLE_BACKWARD, selected_impl, set_impl
from deeprnn.models.gated import _scan_forward

B, T, D, H = 3, 6, 4, 5
LENGTHS = torch.tensor([6, 2, 5])
TOL = dict(rtol=1e-10, atol=1e-10)
GATED = ("lstm", "gru")  # torch.nn.LSTM / GRU subclasses: a scan under compile and export


def randn(*shape, seed, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def make(name, dtype=torch.float64, **options):
    torch.manual_seed(0)
    options = dict(hidden_size=H, dropout=0.2, **options)
    if name in ("dt-rnn", "dts-rnn", "dot-rnn", "dots-rnn"):
        options.setdefault("transition_depth", 3)
    return build_model(name, "music", input_size=D, **options).to(dtype)


def recurrence_node(model, name: str, exporting: bool) -> str:
    """The node a traced graph holds for the recurrence: the scan for LSTM/GRU, the fused operator for a core with
    a fast path (an ``impl``), the scan while exporting a reference-only core (its loop is inlined under compile,
    so no one node there: "" matches any graph)."""
    if name in GATED:
        return "scan"
    if hasattr(model.core, "impl"):
        return "deeprnn.deep_transition.default"
    return "scan" if exporting else ""


def outputs_and_gradients(model, x, lengths, seed=7):
    """(logits, d loss / d (x, every parameter)); the seed fixes the dropout masks."""
    torch.manual_seed(seed)
    x = x.detach().requires_grad_()
    logits, _ = model(x, lengths=lengths)
    loss = (logits * randn(*logits.shape, seed=1, dtype=logits.dtype)).sum()
    return (logits.detach(), *torch.autograd.grad(loss, [x, *model.parameters()]))


# ---------------------------------------------------------------- torch.compile


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_compile_fullgraph_matches_eager(name, train):
    """One graph (fullgraph=True: a graph break is an error), the fused operator (LSTM/GRU: the scan) in it,
    compiled == eager in float64, outputs and gradients."""
    model = make(name).train(train)
    x = randn(B, T, D, seed=2)
    # with lengths, eager LSTM/GRU draw their inter-layer dropout on the packed data: other masks than a scan's
    lengths = None if name in GATED and train else LENGTHS
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend("aot_eager")
    with torch._dynamo.config.patch(allow_rnn=True):  # dynamo refuses any torch.nn.LSTM/GRU without it
        got = outputs_and_gradients(torch.compile(model, fullgraph=True, backend=counter), x, lengths)
    assert counter.frame_count == 1
    fused = recurrence_node(model, name, exporting=False)
    assert any(fused in str(node.target) for node in counter.graphs[0].graph.nodes)
    for a, b in zip(got, outputs_and_gradients(model, x, lengths), strict=True):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dynamo_explain_finds_no_graph_break(name):
    model = make(name)
    torch._dynamo.reset()
    with torch._dynamo.config.patch(allow_rnn=True):
        explained = torch._dynamo.explain(model)(randn(B, T, D, seed=2), lengths=LENGTHS)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


def test_compiled_training_step_keeps_the_hand_written_backward():
    """In float32 too: AOTAutograd's backward graph calls the registered backward operator."""
    graphs = []

    def capture(graph, example_inputs):
        graphs.append(graph)
        return graph

    backend = torch._dynamo.backends.common.aot_autograd(fw_compiler=capture, bw_compiler=capture)
    model = make("dots-rnn", torch.float32).train()
    x = randn(B, T, D, seed=2, dtype=torch.float32)
    torch._dynamo.reset()
    got = outputs_and_gradients(torch.compile(model, fullgraph=True, backend=backend), x, None)
    targets = [{str(node.target) for node in graph.graph.nodes} for graph in graphs]
    assert any("deeprnn.deep_transition.default" in t for t in targets)
    assert any("deeprnn.deep_transition_backward.default" in t for t in targets)
    for a, b in zip(got, outputs_and_gradients(model, x, None), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_the_operator_passes_torch_library_opcheck():
    """Schema, fake implementation, autograd registration and AOT dispatch of the fused operator."""
    core = DTRNN(D, H, transition_depth=3, shortcut=True, activation=["lp", "relu"], dropout=0.3).double().train()
    x = randn(B, T, D, seed=2).transpose(0, 1).requires_grad_()  # time-major view of a batch-first input
    h0 = randn(B, H, seed=3).requires_grad_()
    step_mask = (torch.arange(T)[:, None] < LENGTHS[None, :]).unsqueeze(-1)
    masks = core.dropout_masks(B, x)
    layers = core.layers
    params = [*(l.weight_hh for l in layers), *(l.weight_shortcut for l in layers[1:]), layers[0].weight_ih,
              *(l.bias for l in layers), layers[0].activation.centres, layers[0].activation.rho]
    for mask in (None, step_mask):
        args = (x, h0, mask, masks, params, ",".join(core.activations), True, False, True, 2)
        torch.library.opcheck(torch.ops.deeprnn.deep_transition.default, args,
                              test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))
        output, h_n, z, states, pooled = torch.ops.deeprnn.deep_transition(*args)
        backward_args = (torch.ones_like(output), torch.ones_like(h_n), x, h0, z,
                         states if mask is not None else output, pooled, mask, masks, params, *args[5:], True, True)
        torch.library.opcheck(torch.ops.deeprnn.deep_transition_backward.default, backward_args,
                              test_utils=("test_schema", "test_faketensor"))
    output = torch.ops.deeprnn.deep_transition(*args)[0]
    (grad,) = torch.autograd.grad(output.square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="impl=.reference."):  # the operator's backward is once-differentiable
        grad.sum().backward()


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_the_scan_of_lstm_and_gru_equals_torchs_kernels(cls, lengths):
    """What compile and export trace for LSTM/GRU, run eagerly: 2 layers, bidirectional, float64."""
    torch.manual_seed(0)
    core = cls(D, H, num_layers=2, batch_first=True, bidirectional=True).double().eval()
    x, hx = randn(B, T, D, seed=2), randn(4, B, H, seed=3)
    hx = (hx, hx.flip(0)) if cls is LSTM else hx
    got, expected = _scan_forward(core, x, hx, lengths), core(x, hx, lengths=lengths)
    for a, b in zip(torch.utils._pytree.tree_leaves(got), torch.utils._pytree.tree_leaves(expected), strict=True):
        torch.testing.assert_close(a, b, **TOL)


# ---------------------------------------------------------------- autograd: torch.func, double backward


def test_torch_func_grad_on_the_fast_path_matches_the_reference():
    core = DTRNN(D, H, transition_depth=3, shortcut=True).double()
    assert selected_impl(core) == "fast"
    x, weight = randn(T, B, D, seed=2), randn(T, B, H, seed=3)

    def loss(params, x):
        output, h_n = functional_call(core, params, (x,), {"lengths": LENGTHS})
        return (output * weight).sum() + h_n.square().sum()

    params = {name: p.detach() for name, p in core.named_parameters()}
    got_params, got_x = torch.func.grad(loss, argnums=(0, 1))(params, x)
    set_impl(core, "reference")
    expected = torch.func.grad(loss, argnums=(0, 1))(params, x)
    torch.testing.assert_close(got_x, expected[1], **TOL)
    for name in params:
        torch.testing.assert_close(got_params[name], expected[0][name], **TOL)


def test_double_backward_names_the_reference_path_and_works_there():
    reference = torch.nn.RNN(D, H).double()
    core = RNN(D, H).double()
    core.load_state_dict(reference.state_dict())
    x = randn(T, B, D, seed=2).requires_grad_()
    (grad,) = torch.autograd.grad(core(x)[0].square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError) as error:
        grad.square().sum().backward()
    assert str(error.value) == DOUBLE_BACKWARD and "\n" not in DOUBLE_BACKWARD
    assert 'impl="reference"' in DOUBLE_BACKWARD

    def second_order(module):
        (g,) = torch.autograd.grad(module(x)[0].square().sum(), x, create_graph=True)
        return torch.autograd.grad(g.square().sum(), [x, *module.parameters()])

    for a, b in zip(second_order(set_impl(core, "reference")), second_order(reference), strict=True):
        torch.testing.assert_close(a, b, **TOL)


# ---------------------------------------------------------------- inputs as torch.nn.RNN takes them


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("make_core", [lambda: DTRNN(D, H, shortcut=True), lambda: StackedRNN(D, H)],
                         ids=["dtrnn", "srnn"])
def test_float64_input_into_a_float32_core_raises_as_torch_does(make_core, impl):
    core = make_core()
    core.impl = impl
    with pytest.raises(ValueError) as error:
        core(randn(T, B, D, seed=2))
    with pytest.raises(ValueError) as torch_error:
        torch.nn.RNN(D, H)(randn(T, B, D, seed=2))
    assert str(error.value).split(" ", 1)[1] == str(torch_error.value).split(" ", 1)[1]


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input_as_torch_nn_rnn(batch_first, impl):
    """(T, features) in, (T, H) and (num_layers, H) out, batch_first ignored: equal to torch.nn.RNN."""
    reference = torch.nn.RNN(D, H, num_layers=2, batch_first=batch_first).double()
    core = StackedRNN(D, H, num_layers=2, batch_first=batch_first, impl=impl).double()
    core.load_state_dict(reference.state_dict())
    x, hx = randn(T, D, seed=2), randn(2, H, seed=3)
    for a, b in zip(core(x, hx), reference(x, hx), strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, **TOL)
    with pytest.raises(RuntimeError, match="hx should also be 2-D"):
        core(x, hx[:, None])
    dtrnn = DTRNN(D, H, transition_depth=3, impl=impl).double()
    output, h_n = dtrnn(x, hx[:1])
    expected = dtrnn(x[:, None], hx[:1, None])
    torch.testing.assert_close(output, expected[0][:, 0], **TOL)
    torch.testing.assert_close(h_n, expected[1][:, 0], **TOL)


def test_autocast_bf16_runs_the_fused_recurrence_in_float32():
    """docs/pytorch.md: under CPU autocast the fused recurrence reads its input cast to the weights' dtype and
    runs in it (its outputs equal the float32 run's); the heads' linear maps run in bfloat16."""
    model = make("dots-rnn", torch.float32).eval()
    x = randn(B, T, D, seed=2, dtype=torch.float32)
    expected_core, expected = model.core(x)[0], model(x, lengths=LENGTHS)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        core_output = model.core(x.bfloat16().float())[0]
        logits = model(x, lengths=LENGTHS)[0]
        core_from_bf16 = model.core(x.bfloat16())[0]
    assert core_output.dtype == torch.float32 and logits.dtype == torch.bfloat16
    torch.testing.assert_close(core_output, model.core(x.bfloat16().float())[0], rtol=0, atol=0)
    torch.testing.assert_close(core_from_bf16, core_output, rtol=0, atol=0)
    torch.testing.assert_close(logits.float(), expected, rtol=0, atol=0.05)
    assert (core_output - expected_core).abs().max() < 0.02  # the input's own bf16 rounding only
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x)[0].float().square().sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------- export at any length


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_one_exported_program_serves_unseen_lengths(name):
    model = make(name).eval()
    x = randn(2, 9, D, seed=2)
    program = torch.export.export(model, (x,), dynamic_shapes={"input": {1: Dim("T", min=1, max=4096)}})
    assert any(recurrence_node(model, name, exporting=True) in str(node.target) for node in program.graph.nodes)
    exported = program.module()
    for length in (1, 17, 40):
        y = randn(2, length, D, seed=length)
        with torch.no_grad():
            expected = model(y)
        for a, b in zip(torch.utils._pytree.tree_leaves(exported(y)), torch.utils._pytree.tree_leaves(expected),
                        strict=True):
            torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("name", ["dots-rnn", "srnn"])
def test_one_exported_program_with_lengths_serves_unseen_lengths(name):
    model = make(name).eval()
    program = torch.export.export(model, (randn(3, 9, D, seed=2),), {"lengths": torch.tensor([9, 4, 6])},
                                  dynamic_shapes={"input": {1: Dim("T", min=1, max=4096)}, "lengths": None})
    for length in (2, 17, 40):
        y, lengths = randn(3, length, D, seed=length), torch.tensor([length, 1, length - 1])
        for a, b in zip(program.module()(y, lengths=lengths), model(y, lengths=lengths), strict=True):
            torch.testing.assert_close(a, b, **TOL)


ONNX_NAMES = MODEL_NAMES  # every registered core: one ONNX program each


@pytest.mark.slow
@pytest.mark.parametrize("name", ONNX_NAMES)
def test_onnx_program_serves_unseen_lengths(name, tmp_path):
    """The dynamo exporter on the reference path (a scan while exporting), run by onnxruntime, against the eager
    fast path."""
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    model = make(name, torch.float32).eval()
    exported = set_impl(make(name, torch.float32), "reference").eval()
    program = torch.onnx.export(exported, (randn(2, 9, D, seed=2, dtype=torch.float32),), dynamo=True,
                                dynamic_shapes={"input": {1: Dim("T", min=1, max=4096)}}, verbose=False)
    program.save(tmp_path / "model.onnx")
    session = ort.InferenceSession(tmp_path / "model.onnx")
    for length in (1, 17, 40):
        y = randn(2, length, D, seed=length, dtype=torch.float32)
        got = session.run(None, {session.get_inputs()[0].name: y.numpy()})
        with torch.no_grad():
            expected = torch.utils._pytree.tree_leaves(model(y))
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(torch.from_numpy(a), b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["dots-rnn", "srnn", "gru"])
def test_torchscript_trace_serves_unseen_lengths(name, tmp_path):
    """torch.jit.trace records the fused operator (LSTM/GRU: torch's), not the steps, so the traced (and saved,
    reloaded) module answers any length; torch.jit.script is not supported (docs/pytorch.md)."""
    model = make(name).eval()
    with pytest.warns(torch.jit.TracerWarning):  # the Python-side checks of the input, recorded as constants
        traced = torch.jit.trace(model, (randn(2, 7, D, seed=2),))
    traced.save(tmp_path / "model.pt")
    loaded = torch.jit.load(tmp_path / "model.pt")
    for length in (1, 13, 30):
        y = randn(2, length, D, seed=length)
        for a, b in zip(torch.utils._pytree.tree_leaves(loaded(y)), torch.utils._pytree.tree_leaves(model(y)),
                        strict=True):
            torch.testing.assert_close(a, b, **TOL)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["dots-rnn", "srnn", "lstm"])
def test_on_cuda_compile_export_and_autocast(name):
    """benchmarks/gpu_checks.sh: compiled == eager (training, float64), one exported program at unseen lengths,
    and autocast float16 keeping the fused recurrence in float32."""
    model = make(name).cuda().train()
    x, lengths = randn(B, T, D, seed=2).cuda(), None if name in GATED else LENGTHS
    torch._dynamo.reset()
    with torch._dynamo.config.patch(allow_rnn=True):
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        for a, b in zip(outputs_and_gradients(compiled, x, lengths), outputs_and_gradients(model, x, lengths),
                        strict=True):
            torch.testing.assert_close(a, b, **TOL)
    model.eval()
    program = torch.export.export(model, (x,), dynamic_shapes={"input": {1: Dim("T", min=1, max=4096)}})
    for length in (1, 17, 40):
        y = randn(B, length, D, seed=length).cuda()
        torch.testing.assert_close(program.module()(y)[0], model(y)[0], **TOL)
    if name not in GATED:
        model.float()
        with torch.autocast("cuda", dtype=torch.float16):
            output = model.core(x.float())[0]
        assert output.dtype == torch.float32
        torch.testing.assert_close(output, model.core(x.float())[0], rtol=0, atol=0)
