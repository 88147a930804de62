"""Gradient-flow measurement: checked against hand-rolled unrolls of the recurrence equations."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deeprnn.architectures import MODEL_NAMES
from deeprnn.cli.main import main
from deeprnn.experiments import gradflow

BATCH, STEPS, INPUTS, HIDDEN = 4, 12, 10, 8


def autograd_norms(hs, loss):
    """‖∂L/∂h_t‖ by autograd on the very tensors the hand-rolled recursion used."""
    return [g.norm().item() for g in torch.autograd.grad(loss, hs)]


def hand_rolled_dts_rnn(core, x):
    """DT(S)-RNN: z^1 = tanh(W_1 h_{t-1} + U x_t + b_1), z^l = tanh(W_l z^{l-1} + S_l h_{t-1} + b_l), h_t = z^L."""
    h, hs = torch.zeros(x.shape[0], core.hidden_size), []
    for t in range(x.shape[1]):
        z = h
        for l, layer in enumerate(core.layers):
            pre = z @ layer.weight_hh.T + layer.bias
            pre = pre + (x[:, t] @ layer.weight_ih.T if l == 0 else h @ layer.weight_shortcut.T)
            z = torch.tanh(pre)
        h = z
        hs.append(h)
    return hs


def hand_rolled_srnn(core, x):
    """sRNN: h^k_t = tanh(W_ih^k h^{k-1}_t + b_ih^k + W_hh^k h^k_{t-1} + b_hh^k), h^0_t = x_t; returns the top layer."""
    states = [torch.zeros(x.shape[0], core.hidden_size) for _ in range(core.num_layers)]
    top = []
    for t in range(x.shape[1]):
        below = x[:, t]
        for k in range(core.num_layers):
            w_ih, w_hh, b_ih, b_hh = core.layer_parameters(k)
            states[k] = torch.tanh(below @ w_ih.T + b_ih + states[k] @ w_hh.T + b_hh)
            below = states[k]
        top.append(states[-1])
    return top


@pytest.mark.parametrize("model, depth, hand_rolled", [("dts-rnn", 3, hand_rolled_dts_rnn),
                                                       ("srnn", 3, hand_rolled_srnn)])
def test_step_gradients_match_a_hand_rolled_unroll(model, depth, hand_rolled):
    core = gradflow.build_head(model, depth, HIDDEN, INPUTS, seed=0).core
    x = gradflow.synthetic_batch(STEPS, BATCH, INPUTS, seed=0)
    loss = gradflow.synthetic_loss(HIDDEN, BATCH, INPUTS, seed=0)

    value, step_norms, param_norm, layer_norms = gradflow.measure(core, x, loss)

    hs = hand_rolled(core, x)
    expected_loss = loss(hs[-1])
    assert value == pytest.approx(expected_loss.item(), rel=1e-5)
    expected = autograd_norms(hs, expected_loss)
    assert np.allclose(step_norms, expected, rtol=1e-4, atol=1e-12)
    # The signal must really decay through the recurrence (not just the direct term at t = T).
    assert step_norms[0] != pytest.approx(step_norms[-1])
    params = list(core.parameters())
    grads = torch.autograd.grad(loss(hand_rolled(core, x)[-1]), params)
    assert param_norm == pytest.approx(torch.sqrt(sum(g.pow(2).sum() for g in grads)).item(), rel=1e-5)
    assert len(layer_norms) == depth
    assert param_norm == pytest.approx(float(np.sqrt(np.sum(np.square(layer_norms)))), rel=1e-6)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_step_by_step_unroll_equals_the_full_forward(model):
    core = gradflow.build_head(model, 2, HIDDEN, INPUTS, seed=1).core
    x = gradflow.synthetic_batch(STEPS, BATCH, INPUTS, seed=1)
    last = gradflow.hidden_part(gradflow.unroll(core, x)[-1])
    _, h_n = core(x)
    assert torch.allclose(last, gradflow.hidden_part(h_n), atol=1e-6)


def test_transition_dropout_keeps_one_mask_per_sequence_through_the_unroll():
    # Training draws one dropout mask per sequence; the step-by-step unroll must see that same mask at
    # every step (else the measured Jacobian product would average masks that training never mixes).
    core = gradflow.build_head("dts-rnn", 2, HIDDEN, INPUTS, seed=1, spectral_radius=0.9,
                               transition_dropout=0.5).core
    x = gradflow.synthetic_batch(STEPS, BATCH, INPUTS, seed=1)
    with gradflow.fixed_dropout_masks(core, x, seed=3):
        assert core.training
        stepped = gradflow.hidden_part(gradflow.unroll(core, x)[-1])
        _, whole = core(x)  # one call, one mask: what training computes
        masks = core.dropout_masks(BATCH, x)
        assert 0 < int((masks[0] == 0).sum()) < masks[0].numel()
    assert not core.training and "dropout_masks" not in vars(core)
    assert torch.allclose(stepped, gradflow.hidden_part(whole), atol=1e-6)
    with torch.no_grad():  # and it is not the eval-mode (no dropout) state
        assert not torch.allclose(stepped, gradflow.hidden_part(core(x)[1]), atol=1e-3)


def test_music_windows_and_loss_give_finite_norms():
    rng = np.random.default_rng(0)
    rolls = [rng.integers(0, 2, size=(n, 88), dtype=np.uint8) for n in (9, 30, 40)]
    batch = gradflow.music_windows(rolls, 10, BATCH, seed=0)
    assert batch.inputs.shape == (BATCH, 10, 88) and torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    head = gradflow.build_head("lstm", 2, HIDDEN, 88, seed=0)
    results = gradflow.music_measurements("toy-init", [("lstm", head)], rolls, [5, 10], BATCH, seed=0, progress=False)
    assert [m.length for m in results] == [5, 10] and all(m.depth == 2 for m in results)
    assert all(np.isfinite(m.step_grad_norms).all() and m.param_grad_norm > 0 for m in results)
    with pytest.raises(ValueError, match="no sequence has more than 50 frames"):
        gradflow.music_windows(rolls, 50, BATCH, seed=0)


def test_flags_and_summary_table():
    def fake(grad_h1):
        return gradflow.Measurement("synthetic", "rnn", 1, 8, 3, 1.0, [grad_h1, 0.5, 1.0], 1.0, [1.0])

    vanishing, fine, exploding = fake(1e-7), fake(1e-2), fake(50.0)
    assert vanishing.vanishing and not vanishing.exploding
    assert not fine.vanishing and not fine.exploding
    assert exploding.exploding and fake(float("nan")).exploding
    assert "1 of 1 measurements flagged" in gradflow.summary_table([vanishing])


def test_cli_writes_csv_json_and_figures(tmp_path, capsys):
    out = tmp_path / "gradflow"
    code = main(["gradflow", "--models", "rnn,dts-rnn", "--depths", "2,3", "--lengths", "4,6", "--hidden", "6",
                 "--batch-size", "3", "--dataset", "none", "--out", str(out), "--no-progress"])
    assert code == 0
    assert "measurements flagged" in capsys.readouterr().out
    with open(out / "gradflow.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["model"], r["depth"], r["length"]) for r in rows] == [
        ("rnn", "1", "4"), ("rnn", "1", "6"), ("dts-rnn", "2", "4"), ("dts-rnn", "2", "6"),
        ("dts-rnn", "3", "4"), ("dts-rnn", "3", "6")]
    document = json.loads((out / "gradflow.json").read_text())
    assert len(document["results"][1]["step_grad_norms"]) == 6
    assert float(rows[1]["grad_h1"]) == pytest.approx(document["results"][1]["step_grad_norms"][0], rel=1e-6)
    with open(out / "gradflow_steps.csv") as handle:
        assert sum(1 for _ in handle) == 1 + 3 * (4 + 6)
    for stem in ("grad_h1_vs_T", "param_grad_vs_T", "grad_vs_distance"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.svg").is_file()


def test_cli_spectral_radius_and_transition_dropout(tmp_path, capsys):
    common = ["gradflow", "--models", "rnn,dts-rnn", "--depths", "2", "--lengths", "6", "--hidden", "6",
              "--batch-size", "3", "--dataset", "none", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert main([*common, "--out", str(tmp_path / "both"), "--spectral-radius", "0.5",
                 "--transition-dropout", "0.5"]) == 0
    plain, both = (json.loads((tmp_path / d / "gradflow.json").read_text()) for d in ("plain", "both"))
    assert both["settings"]["spectral_radius"] == 0.5 and both["settings"]["transition_dropout"] == 0.5
    for a, b in zip(plain["results"], both["results"]):
        assert a["step_grad_norms"][0] != b["step_grad_norms"][0]  # both options reach every model


def test_run_dir_measures_the_trained_run_and_its_architecture_at_init(tmp_path):
    from deeprnn.training import load_config, train

    overrides = ["model.hidden_size=8", "train.epochs=1", "train.max_batches_per_epoch=2", "train.device=\"cpu\""]
    config = load_config(Path(__file__).parents[1] / "configs" / "demo.toml", overrides)
    train(config, tmp_path / "run", progress=False, log=lambda *_: None)
    results = gradflow.run_sweep(tmp_path / "run", [5], batch_size=BATCH, progress=False)
    assert [(m.source, m.model, m.depth, m.hidden) for m in results] == [
        ("jsb-run-init", "dots-rnn", 2, 8), ("jsb-run-trained", "dots-rnn", 2, 8)]
    assert results[0].step_grad_norms != results[1].step_grad_norms
