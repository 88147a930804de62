"""Initialisation by gain (model.transition_gain), GroundHog's scheme (init="groundhog"), and the identity of runs
stored before either existed. Truth: a hand-written linearisation of the step, and a reimplementation of
GroundHog's sample_weights in its own (in, out) layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deeprnn.models import DTRNN, build_model, step_gain
from deeprnn.models.init import TRANSITION_GAIN, groundhog_sample_weights_, init_weights
from deeprnn.training import load_config
from deeprnn.training.config import Config

REPO = Path(__file__).resolve().parents[1]
HIDDEN = 400


def _units(name, a, centres=None, p=None):
    """(value, slope matrix d value / d a) of one layer's units at pre-activation a, by hand."""
    if name == "tanh":
        y = torch.tanh(a)
        return y, torch.diag(1 - y**2)
    if name == "sigmoid":
        y = torch.sigmoid(a)
        return y, torch.diag(y * (1 - y))
    groups = a.reshape(-1, 2)  # pool_size 2
    size = groups.shape[0]
    slope = torch.zeros(size, 2 * size, dtype=a.dtype)
    if name == "maxout":
        y = groups.max(1).values
        at_max = (groups == y[:, None]).to(a.dtype)
        share = at_max / at_max.sum(1, keepdim=True)  # ties share the gradient equally, as autograd's amax
    else:  # L_p with its initial centres 0 and p = 2: y = sqrt(mean a^2), slope a_i / (N y), 0 where y = 0
        y = groups.pow(2).mean(1).sqrt()
        share = torch.where(y[:, None] > 0, groups / (2 * y[:, None].clamp_min(1e-300)), torch.zeros_like(groups))
    for unit in range(size):
        slope[unit, 2 * unit : 2 * unit + 2] = share[unit]
    return y, slope


def hand_gain(core: DTRNN) -> float:
    """Largest singular value of dh_t/dh_(t-1) at x_t = 0, h_(t-1) = 0, chained layer by layer by hand:
    a^l = W_l z^(l-1) + S_l h + b_l, J^l = P_l (W_l J^(l-1) + S_l), with J^0 = I and z^0 = h."""
    z = torch.zeros(core.hidden_size, dtype=torch.float64)
    jacobian = torch.eye(core.hidden_size, dtype=torch.float64)
    for layer, name in zip(core.layers, core.activations):
        weight = layer.weight_hh.detach().double()
        a = weight @ z + layer.bias.detach().double()
        da = weight @ jacobian
        if layer.weight_shortcut is not None:
            da = da + layer.weight_shortcut.detach().double()
        z, slope = _units(name, a)
        jacobian = slope @ da
    return float(torch.linalg.svdvals(jacobian)[0])


def core_with(activation, depth, shortcut, input_to="first", gain=1.3):
    torch.manual_seed(depth)
    last = activation if activation in ("tanh", "sigmoid") else "tanh"  # pooling units: intermediate layers
    core = DTRNN(16, HIDDEN, transition_depth=depth, shortcut=shortcut, activation=activation,
                 last_activation=last, input_to=input_to)
    init_weights(core, "orthogonal", transition_gain=gain)
    return core


CASES = [(activation, depth, shortcut) for activation in ("tanh", "sigmoid", "lp", "maxout")
         for depth in (1, 2, 3, 4) for shortcut in (False, True)
         if not (activation in ("lp", "maxout") and depth == 1)]  # depth 1 has no intermediate layer
L_P_UNREACHABLE = [("lp", depth, False) for depth in (2, 3, 4)]


@pytest.mark.parametrize("activation, depth, shortcut", [c for c in CASES if c not in L_P_UNREACHABLE])
def test_the_gain_at_init_is_the_configured_gain(activation, depth, shortcut):
    core = core_with(activation, depth, shortcut)
    assert hand_gain(core) == pytest.approx(1.3, rel=1e-3)
    assert step_gain(core) == pytest.approx(1.3, rel=1e-3)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_the_gain_holds_with_the_input_fed_to_every_layer(depth):
    core = core_with("tanh", depth, True, input_to="all", gain=0.8)
    assert hand_gain(core) == pytest.approx(0.8, rel=1e-3)


@pytest.mark.parametrize("activation, depth, shortcut", L_P_UNREACHABLE)
def test_a_gain_that_no_scale_reaches_is_refused_in_one_line(activation, depth, shortcut):
    # An L_p unit at its centre has slope 0 (autograd's |.|' at 0), so without a shortcut around it the step
    # Jacobian at the origin is 0 at every scale.
    with pytest.raises(ValueError, match="cannot be reached") as info:
        core_with(activation, depth, shortcut)
    assert "\n" not in str(info.value)


def test_each_direction_of_a_bidirectional_transition_gets_the_gain():
    torch.manual_seed(0)
    core = DTRNN(16, 64, transition_depth=2, shortcut=True, bidirectional=True)
    init_weights(core, "orthogonal", transition_gain=0.9)
    assert step_gain(core, 0) == pytest.approx(0.9, rel=1e-3) and step_gain(core, 1) == pytest.approx(0.9, rel=1e-3)
    assert not torch.equal(core.layers[0].weight_hh, core.layers_reverse[0].weight_hh)


def test_only_the_matrices_reading_the_previous_state_are_scaled_by_one_factor():
    torch.manual_seed(0)
    plain = build_model("dts-rnn", hidden_size=32, transition_depth=3, transition_gain=None)
    torch.manual_seed(0)
    scaled = build_model("dts-rnn", hidden_size=32, transition_depth=3, transition_gain=0.9)
    reading_h = {"core.layers.0.weight_hh", "core.layers.1.weight_shortcut", "core.layers.2.weight_shortcut"}
    factors = set()
    for (name, a), (_, b) in zip(plain.named_parameters(), scaled.named_parameters()):
        if name in reading_h:
            factors.add(round(float(b.detach().norm() / a.detach().norm()), 5))
        else:  # W_2, W_3 (also on x_t's path), U, biases, read-out: as the scheme set them
            assert torch.equal(a, b), name
    assert len(factors) == 1 and factors != {1.0}
    # one factor, so the gain is linear in it: the plain model's gain times the factor
    assert step_gain(plain.core) * factors.pop() == pytest.approx(0.9, rel=1e-4)
    assert TRANSITION_GAIN == build_model("dts-rnn", hidden_size=4).hparams["transition_gain"]


def test_the_old_default_has_the_gain_the_issue_measured():
    # before the gain initialisation, at hidden 400 the default depth-2 DT(S) step had largest singular value 2.0
    torch.manual_seed(0)
    core = build_model("dts-rnn", hidden_size=HIDDEN, transition_gain=None).core
    assert step_gain(core) == pytest.approx(2.0, abs=0.02)
    assert step_gain(build_model("lstm", hidden_size=8).core) is None


# ---------------------------------------------------------------- init="groundhog"

def reference_sample_weights(size_in, size_out, sparsity, scale):
    """GroundHog's utils.sample_weights, line by line in its (in, out) layout, drawing the same random numbers
    (torch.randperm for its rng.permutation, uniform values for its rng.uniform)."""
    sparsity = min(size_out, sparsity)
    values = np.zeros((size_in, size_out))
    for dx in range(size_in):
        perm = torch.randperm(size_out).numpy()
        new_vals = torch.empty(sparsity, dtype=torch.float64).uniform_(-1.0, 1.0).numpy() * scale
        vals_norm = np.sqrt((new_vals**2).sum())
        new_vals = scale * new_vals / vals_norm
        values[dx, perm[:sparsity]] = new_vals
    _, v, _ = np.linalg.svd(values)
    return scale * values / v[0]


@pytest.mark.parametrize("shape, sparsity, scale", [((30, 30), 5, 1.0), ((24, 12), 20, 0.7), ((12, 30), 4, 1.2)])
def test_groundhog_sample_weights_matches_a_reimplementation(shape, sparsity, scale):
    torch.manual_seed(3)
    weight = groundhog_sample_weights_(torch.empty(shape), sparsity, scale)  # torch layout (out, in)
    torch.manual_seed(3)
    expected = reference_sample_weights(shape[1], shape[0], sparsity, scale).T
    np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_groundhog_initialises_each_kind_of_matrix_as_its_code_does():
    torch.manual_seed(0)
    head = build_model("dots-rnn", "lm", vocab_size=500, hidden_size=60, output_from_input=True, init="groundhog",
                       sparse_nonzeros=20, spectral_radius=1.0, transition_gain=None)
    core = head.core
    for weight in (core.layers[0].weight_hh, core.layers[1].weight_hh, core.layers[1].weight_shortcut):
        assert ((weight != 0).sum(0) == 20).all()  # 20 non-zeros per input unit (GroundHog's row)
        assert torch.linalg.matrix_norm(weight.double(), ord=2).item() == pytest.approx(1.0, rel=1e-5)
        norms = weight.double().norm(dim=0)
        torch.testing.assert_close(norms, norms[0].expand_as(norms))  # every input unit normalised alike
    for weight in (head.embedding.weight, core.layers[0].weight_ih, head.output.readout.weight):
        assert (weight != 0).all() and weight.std().item() == pytest.approx(0.1, rel=0.1)  # N(0, 0.1), dense
    deep = head.output.hidden[0].linear.weight  # reads [h_t; x_t]
    assert torch.linalg.matrix_norm(deep[:, :60].double(), ord=2).item() == pytest.approx(1.0, rel=1e-5)
    assert ((deep[:, 60:] != 0).sum(0) == 20).all()  # x_t part: sample_weights_classic, 20 per input unit
    assert all((p == 0).all() for n, p in head.named_parameters() if n.rsplit(".", 1)[-1].startswith("bias"))


# ---------------------------------------------------------------- identity of stored runs

def test_a_stored_config_without_the_new_keys_means_the_old_initialisation():
    # The PTB word DOT(S)-RNN run as committed before the key existed (results/ptb-word/ at 94c3f40); a copy, because
    # the committed results are replaced as their tables are rerun.
    stored_file = Path(__file__).parent / "fixtures" / "config-v1-ptb-word-dots-rnn.json"
    stored = json.loads(stored_file.read_text())
    assert "transition_gain" not in stored["model"]  # written before the key existed
    config = Config.from_dict(stored)
    assert config.model.transition_gain is None and config.optim.weight_noise_biases and config.train.min_lr is None
    assert Config.from_dict(config.to_dict()).to_dict() == config.to_dict()  # and round-trips as it is now
    # The same dict read as a TOML file would be means the new default; the pin in the recipe keeps the match.
    assert Config.from_dict(stored, stored=False).model.transition_gain == TRANSITION_GAIN
    recipe = load_config(REPO / "configs" / "recipes" / "ptb-word" / "dots-rnn.toml")
    assert recipe.model.transition_gain is None
    assert load_config(REPO / "configs" / "lm" / "ptb.toml").model.transition_gain == TRANSITION_GAIN


# Tables whose recipes changed and whose committed runs are the earlier recipes' until they are rerun: PTB word (its
# RNN recipe took spectral radius 0.9) and PTB char (the RNN and DOT(S)-RNN recipes).
RERUN_PENDING = {"ptb-word", "ptb-char"}
# Tables being run: some points not run yet, every committed run one of their points (none now: the replication
# report's grids are all complete).
BEING_RUN: set[str] = set()


def _committed_configs(results: Path) -> list[Config]:
    return [Config.from_dict(json.loads((summary.parent / "config.json").read_text()))
            for summary in results.rglob("summary.json")]


@pytest.mark.slow
def test_every_committed_run_keeps_its_identity_in_reproduce():
    from deeprnn.experiments.reproduce import _budget_free, is_run_of, load_tables, table_points

    # train.threads is execution, so the runs made with --set train.threads=1 are their recipes' runs;
    # a run ended early with --set train.epochs=N is its point's run, cut short (reproduce collects it as such)
    made: dict[str, list[Config]] = {}
    for config in _committed_configs(REPO / "results"):
        made.setdefault(_budget_free(config), []).append(config)

    def committed(config: Config) -> bool:
        return any(is_run_of(run, config) for run in made.get(_budget_free(config), []))

    tables = load_tables(REPO / "configs" / "recipes" / "tables.toml")
    points = [point for table in tables.values() if table.name not in RERUN_PENDING | BEING_RUN
              for point in table_points(table, Path("unused"))]
    missing = [p.label for p in points if not committed(p.spec.point_config(p.point))]
    assert len(points) > 300 and not missing
    for name in BEING_RUN:  # the other way round: a committed run that is no point of its table lost its identity
        configs = [p.spec.point_config(p.point) for p in table_points(tables[name], Path("unused"))]
        strays = [run for run in _committed_configs(REPO / "results" / name)
                  if not any(is_run_of(run, config) for config in configs)]
        assert not strays
