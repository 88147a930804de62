"""build_model, parameter counts in closed form, initialisation, errors, and a quick learning check."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from deeprnn.architectures import TASK_ONLY
from deeprnn.models import (
    DTRNN,
    GRU,
    LSTM,
    MODEL_NAMES,
    RNN,
    TASKS,
    LanguageModel,
    MusicModel,
    StackedRNN,
    Tagger,
    build_model,
    count_parameters,
    detach_hidden,
)
from deeprnn.models.init import init_weights
from deeprnn.models.registry import core_class

D, H, S, K = 5, 7, 4, 3  # input size, hidden size, transition size, pool size


# ---------------------------------------------------------------- parameter counts, closed form

def rnn_layer(inputs, hidden):
    return hidden * inputs + hidden * hidden + 2 * hidden  # W_ih, W_hh, b_ih, b_hh


def test_parameter_counts_of_cores():
    assert count_parameters(RNN(D, H)) == rnn_layer(D, H)
    assert count_parameters(RNN(D, H, bias=False)) == H * D + H * H
    assert count_parameters(StackedRNN(D, H, num_layers=3)) == rnn_layer(D, H) + 2 * rnn_layer(H, H)
    assert count_parameters(LSTM(D, H, num_layers=2)) == 4 * (rnn_layer(D, H) + rnn_layer(H, H))
    assert count_parameters(GRU(D, H)) == 3 * rnn_layer(D, H)
    # DT-RNN, depth L: layer 1 S(H + D + 1), middle layers S(S + 1), last H(S + 1)
    assert count_parameters(DTRNN(D, H, transition_depth=1)) == H * (H + D + 1)
    assert count_parameters(DTRNN(D, H, 2, S)) == S * (H + D + 1) + H * (S + 1)
    assert count_parameters(DTRNN(D, H, 3, S)) == S * (H + D + 1) + S * (S + 1) + H * (S + 1)
    # DT(S)-RNN: every layer after the first also reads h_{t-1}
    assert count_parameters(DTRNN(D, H, 3, S, shortcut=True)) == (
        S * (H + D + 1) + S * (S + H + 1) + H * (S + H + 1))
    # input_to="all": every layer also reads x_t
    assert count_parameters(DTRNN(D, H, 3, S, shortcut=True, input_to="all")) == (
        S * (H + D + 1) + S * (S + H + D + 1) + H * (S + H + D + 1))
    # L_p units: K linear responses per unit, plus K centres and one rho per unit; maxout: K responses
    lp = K * S * (H + D + 1) + K * S + S
    maxout = K * H * (S + 1)
    assert count_parameters(DTRNN(D, H, 2, S, activation="lp", last_activation="maxout", pool_size=K)) == (
        lp + maxout)


@pytest.mark.parametrize("name", ["rnn", "dots-rnn"])
def test_reading_x_t_widens_only_the_first_output_layer(name):
    # docs/models.md: output_size defaults to hidden_size. With output_from_input o^0 = [h_t; x_t] is wider, but
    # the deep-output layers (and the read-out behind them) keep hidden_size units; a plain read-out (depth 0)
    # reads o^0 directly.
    V, E = 13, 6
    plain = build_model(name, "lm", vocab_size=V, hidden_size=H, embedding_size=E)
    wide = build_model(name, "lm", vocab_size=V, hidden_size=H, embedding_size=E, output_from_input=True)
    if name == "dots-rnn":  # one deep-output layer of H units: only its weight matrix grows, by H x E
        assert count_parameters(wide) - count_parameters(plain) == H * E
        assert wide.output.hidden[0].linear.weight.shape == (H, H + E)
        assert wide.output.readout.weight.shape == (V, H)
    else:  # the read-out itself reads [h_t; x_t]
        assert count_parameters(wide) - count_parameters(plain) == V * E


def test_tied_weights_count_once_and_stay_tied():
    V = 13
    lm = build_model("dot-rnn", "lm", vocab_size=V, hidden_size=H, output_size=6, embedding_size=6,
                     tie_weights=True)
    assert lm.output.readout.weight is lm.embedding.weight
    core = count_parameters(lm.core)
    assert count_parameters(lm) == V * 6 + core + 6 * (H + 1) + V  # read-out: bias only
    assert torch.equal(lm.output.readout.weight, lm.embedding.weight)
    lm.load_state_dict(lm.state_dict())
    assert lm.output.readout.weight is lm.embedding.weight


# ---------------------------------------------------------------- build_model

def test_build_model_is_build_from_config_with_the_options_as_keywords():
    """One declaration of the options: build_model's keywords are ModelConfig's fields and defaults."""
    from deeprnn.models import ModelConfig, build_from_config

    config = ModelConfig(name="gru", hidden_size=8, num_layers=2, dropout=0.1)
    torch.manual_seed(0)
    built = build_from_config(config, "lm", vocab_size=20)
    torch.manual_seed(0)
    wrapped = build_model("gru", "lm", vocab_size=20, hidden_size=8, num_layers=2, dropout=0.1)
    assert built.hparams == wrapped.hparams and "output_bias_from_data" not in built.hparams
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), wrapped.state_dict().values()))
    assert build_model("rnn").hparams["hidden_size"] == ModelConfig().hidden_size
    with pytest.raises(TypeError, match="unexpected keyword arguments hidden"):
        build_model("rnn", hidden=8)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_build_model_defaults_and_hparams_rebuild(name):
    head = build_model(name, hidden_size=8)
    assert isinstance(head, MusicModel) and head.core.batch_first
    assert head.hparams["name"] == name and head.hparams["task"] == "music"
    rebuilt = build_model(**head.hparams)
    assert rebuilt.hparams == head.hparams
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in head.state_dict().items()}
    rebuilt.load_state_dict(head.state_dict())
    expected_core = core_class(name)  # the class the architecture description names
    assert type(head.core) is expected_core
    assert len(head.output.hidden) == (1 if name.startswith("dot") else 0)
    if expected_core is DTRNN:
        assert head.core.shortcut == (name in ("dts-rnn", "dots-rnn"))
        assert head.core.transition_depth == 2
    assert getattr(head.core, "num_layers", 1) == (2 if name == "srnn" else 1)


def test_build_model_tasks_and_options():
    lm = build_model("dots-rnn", "lm", vocab_size=20, hidden_size=8, transition_depth=3, output_depth=2,
                     activation="lp", output_activation="maxout", pool_size=3, dropout=0.5)
    assert isinstance(lm, LanguageModel) and lm.core.transition_depth == 3 and lm.core.shortcut
    assert lm.core.activations == ["lp", "lp", "tanh"] and len(lm.output.hidden) == 2
    assert lm.output.hidden[0].activation.pool_size == 3
    tagger = build_model("srnn", "tagging", vocab_size=20, num_tags=5, num_layers=3, hidden_size=8)
    assert isinstance(tagger, Tagger) and tagger.core.num_layers == 3
    assert build_model("dt-rnn", shortcut=True, hidden_size=4).core.shortcut  # explicit beats the name
    assert build_model("lstm", output_depth=1, hidden_size=4).output.hidden  # any core takes a deep output


@pytest.mark.parametrize("option", sorted(TASK_ONLY))
def test_task_only_options_are_refused_for_every_other_task(option):
    """Walks architectures.TASK_ONLY: each option, set, is refused for every other task, for every model."""
    only, _ = TASK_ONLY[option]
    value = {"bidirectional": True, "word_features": "affix"}[option]
    for task in (t for t in TASKS if t != only):
        for name in MODEL_NAMES:
            with pytest.raises(ValueError, match=f"{option}.* for {only} only"):
                build_model(name, task, vocab_size=20, hidden_size=4, **{option: value})


# ---------------------------------------------------------------- initialisation

def test_orthogonal_init():
    head = build_model("dts-rnn", hidden_size=6, transition_size=6, activation="maxout", transition_gain=None)
    first, last = head.core.layers
    for block in first.weight_hh.split(6):  # maxout: 2 stacked square blocks, each orthogonal
        torch.testing.assert_close(block @ block.T, torch.eye(6), atol=1e-5, rtol=0)
    for weight in (last.weight_hh, last.weight_shortcut):
        torch.testing.assert_close(weight @ weight.T, torch.eye(6), atol=1e-5, rtol=0)
    assert all((p == 0).all() for n, p in head.named_parameters() if n.rsplit(".", 1)[-1].startswith("bias"))
    lstm = build_model("lstm", hidden_size=5).core
    for block in lstm.weight_hh_l0.split(5):
        torch.testing.assert_close(block @ block.T, torch.eye(5), atol=1e-5, rtol=0)


def test_sparse_init():
    torch.manual_seed(0)
    head = build_model("srnn", hidden_size=20, init="sparse", sparse_nonzeros=4, spectral_radius=1.1)
    core = head.core
    for weight in (core.weight_hh_l0, core.weight_hh_l1, core.weight_ih_l0, head.output.readout.weight):
        assert ((weight != 0).sum(1) == 4).all()  # k non-zeros per row
    for weight in (core.weight_hh_l0, core.weight_hh_l1):
        radius = torch.linalg.eigvals(weight.double()).abs().max().item()
        assert radius == pytest.approx(1.1, rel=1e-5)
    dt = build_model("dt-rnn", hidden_size=7, transition_size=3, init="sparse", sparse_nonzeros=2,
                     spectral_radius=0.5, transition_gain=None).core
    top = dt.layers[1].weight_hh  # (7, 3), not made of square blocks: its largest singular value is set
    assert torch.linalg.matrix_norm(top.double(), ord=2).item() == pytest.approx(0.5, rel=1e-5)


def test_orthogonal_init_scaled_to_a_spectral_radius():
    torch.manual_seed(0)
    core = build_model("dts-rnn", hidden_size=6, spectral_radius=0.7, transition_gain=None).core
    for weight in (core.layers[0].weight_hh, core.layers[1].weight_hh, core.layers[1].weight_shortcut):
        eigenvalues = torch.linalg.eigvals(weight.double()).abs()
        torch.testing.assert_close(eigenvalues, torch.full_like(eigenvalues, 0.7), atol=1e-5, rtol=0)
    torch.manual_seed(0)
    unscaled = build_model("dts-rnn", hidden_size=6, transition_gain=None).core
    torch.testing.assert_close(core.layers[0].weight_ih, unscaled.layers[0].weight_ih, atol=0, rtol=0)  # input map
    torch.testing.assert_close(core.layers[1].weight_hh, 0.7 * unscaled.layers[1].weight_hh, atol=1e-7, rtol=0)
    lstm = build_model("lstm", hidden_size=5, spectral_radius=0.5).core
    for block in lstm.weight_hh_l0.split(5):
        torch.testing.assert_close(block @ block.T, 0.25 * torch.eye(5), atol=1e-5, rtol=0)


def test_torch_init_keeps_construction_init():
    torch.manual_seed(0)
    head = build_model("dots-rnn", hidden_size=5, init="torch", transition_gain=None)
    torch.manual_seed(0)
    reference = MusicModel(DTRNN(88, 5, shortcut=True, batch_first=True), output_depth=1)
    for (name, a), (_, b) in zip(head.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b), name
    init_weights(reference, "torch")
    assert all(torch.equal(a, b) for a, b in zip(head.state_dict().values(), reference.state_dict().values()))


# ---------------------------------------------------------------- errors

def error(function, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        function(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_names():
    message = error(build_model, "deep-rnn")
    assert "deep-rnn" in message and all(name in message for name in MODEL_NAMES)
    assert "music" in error(build_model, "rnn", task="speech")
    assert "lp" in error(build_model, "dt-rnn", activation="softsign")
    assert "orthogonal" in error(build_model, "rnn", init="xavier")


@pytest.mark.parametrize("make", [
    lambda: RNN(0, 4), lambda: RNN(4, -1), lambda: StackedRNN(4, 4, num_layers=0), lambda: LSTM(4, 0),
    lambda: GRU(0, 4), lambda: DTRNN(4, 0), lambda: DTRNN(4, 4, transition_size=0),
    lambda: DTRNN(4, 4, pool_size=0),
    lambda: build_model("rnn", hidden_size=0), lambda: build_model("dot-rnn", output_size=0),
    lambda: build_model("lstm", "lm", vocab_size=0), lambda: build_model("gru", input_size=0),
])
def test_non_positive_sizes(make):
    assert "positive" in error(make)


def test_depth_errors():
    assert "transition_depth must be an integer >= 1, got 0" in error(DTRNN, 4, 4, transition_depth=0)
    assert "transition_depth" in error(build_model, "dts-rnn", transition_depth=-1)
    assert "output_depth" in error(build_model, "dots-rnn", output_depth=0)
    assert "output_depth" in error(build_model, "rnn", output_depth=-1)
    assert "num_layers" in error(build_model, "dt-rnn", num_layers=2)
    assert "activation list" in error(DTRNN, 4, 4, transition_depth=3, activation=["tanh"])


@pytest.mark.parametrize("make", [
    lambda: RNN(88, 4), lambda: StackedRNN(88, 4), lambda: DTRNN(88, 4), lambda: LSTM(88, 4),
    lambda: GRU(88, 4),
    lambda: build_model("dots-rnn", hidden_size=4), lambda: build_model("lstm", hidden_size=4),
])
def test_wrong_input_size(make):
    message = error(make(), torch.zeros(3, 2, 87))
    assert "expected input size 88, got 87" in message


def test_other_errors():
    assert "vocab_size" in error(build_model, "rnn", "lm")
    assert "num_tags" in error(build_model, "rnn", "tagging", vocab_size=10)
    message = error(build_model, "rnn", "lm", vocab_size=9, hidden_size=8, embedding_size=6, tie_weights=True)
    assert re.search(r"tie_weights .*\(8\).*\(6\)", message)
    assert "shortcut" in error(build_model, "srnn", shortcut=True)
    assert "activation" in error(build_model, "lstm", activation="relu")
    assert "'activation' must be one of tanh, relu" in error(build_model, "rnn", activation="lp")
    assert "batch-first" in error(MusicModel, RNN(88, 4))
    core = RNN(3, 4)
    assert "lengths" in error(core, torch.zeros(5, 2, 3), lengths=[6, 1])
    assert "lengths" in error(core, torch.zeros(5, 2, 3), lengths=[3])
    assert "hx" in error(core, torch.zeros(5, 2, 3), torch.zeros(1, 3, 4))
    assert "3-D" in error(core, torch.zeros(5, 2, 1, 3))  # 2-D is unbatched input, as in torch.nn.RNN
    assert "dropout" in error(DTRNN, 3, 4, dropout=1.0)
    assert "input_to" in error(DTRNN, 3, 4, input_to="last")


# ---------------------------------------------------------------- dropout, detach_hidden

def test_dtrnn_dropout_mask_is_shared_across_steps():
    torch.manual_seed(0)
    core = DTRNN(2, 3, transition_depth=2, transition_size=50, dropout=0.5)
    x = torch.randn(4, 1, 2)
    seen = []
    core.layers[1].register_forward_hook(lambda module, args, out: seen.append(args[0] == 0))
    core.train()(x)
    assert 5 < seen[0].sum() < 45 and all(torch.equal(s, seen[0]) for s in seen)  # the same units dropped
    core.eval()
    torch.testing.assert_close(core(x)[0], core(x)[0])


def test_transition_dropout_separates_the_recurrent_path_from_the_output():
    torch.manual_seed(0)
    model = build_model("dots-rnn", hidden_size=6, dropout=0.5, transition_dropout=0.0).train()
    x = torch.rand(3, 9, 88)
    # nothing dropped on the recurrent path: the core is deterministic in training mode ...
    torch.testing.assert_close(model.core(x)[0], model.core(x)[0])
    # ... while the output network still drops (two passes differ)
    assert not torch.equal(model(x)[0], model(x)[0])
    both = build_model("dots-rnn", hidden_size=6, dropout=0.5).train()
    assert not torch.equal(both.core(x)[0], both.core(x)[0])  # default: the same dropout on both
    assert build_model(**model.hparams).core.dropout == 0.0
    with pytest.raises(ValueError, match="transition_dropout does not apply to lstm"):
        build_model("lstm", transition_dropout=0.1)
    from deeprnn.models import ModelConfig, build_from_config  # a stored config is refused too, as it always was
    with pytest.raises(ValueError, match="transition_dropout apply to deep-transition models only"):
        build_from_config(ModelConfig("lstm", transition_dropout=0.1))
    with pytest.raises(ValueError, match="dropout"):
        build_model("dts-rnn", transition_dropout=1.0)


def test_detach_hidden():
    h = torch.zeros(1, 2, 3, requires_grad=True) * 2
    assert not detach_hidden(h).requires_grad
    detached = detach_hidden((h, h + 1))
    assert isinstance(detached, tuple) and not any(t.requires_grad for t in detached)
    assert detach_hidden(None) is None


# ---------------------------------------------------------------- learning

@pytest.fixture
def one_thread():
    """Tiny matrix products are no faster on several threads, and on a busy machine they can be many times
    slower (threads waiting for each other); the training loop below runs on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name,options", [
    ("dts-rnn", {}), ("dots-rnn", {}), ("dots-rnn", dict(activation="lp", output_activation="maxout")),
])
def test_deep_transition_models_learn(name, options, one_thread):
    """The 2025 replication's DT(S)/DOT(S) models did not learn; ours must. Each sequence cycles through the
    same 4 random chords from a random phase, so the next frame is predictable from the past."""
    torch.manual_seed(0)
    chords = (torch.rand(4, 88) < 0.15).float()
    phase = torch.randint(4, (8, 1))
    rolls = chords[(torch.arange(17) + phase) % 4]
    inputs, targets = rolls[:, :-1], rolls[:, 1:]
    key_frequency = targets.mean((0, 1)).clamp(1e-3, 1 - 1e-3)
    marginal_loss = F.binary_cross_entropy(key_frequency.expand_as(targets), targets).item()

    torch.manual_seed(1)
    model = build_model(name, hidden_size=16, transition_depth=2, **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        loss = F.binary_cross_entropy_with_logits(model(inputs)[0], targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0] and losses[-1] < 0.5 * marginal_loss, (losses[0], losses[-1])


@pytest.mark.parametrize("name", ["rnn", "lstm", "rhn"])
def test_a_head_from_a_stored_config_with_options_it_does_not_read_rebuilds(name):
    # a preset's shared [set] gives every model transition_size and output_size; a stored config keeps them,
    # and build_model(**head.hparams) must still rebuild the head (gradflow rebuilds a trained run's this way)
    from deeprnn.models.config import ModelConfig
    from deeprnn.models.registry import build_from_config

    head = build_from_config(ModelConfig(name=name, hidden_size=8, transition_size=200, output_size=200))
    assert "transition_size" not in head.hparams and head.hparams["output_size"] == 200  # output_size: common
    rebuilt = build_model(**head.hparams)
    rebuilt.load_state_dict(head.state_dict())
