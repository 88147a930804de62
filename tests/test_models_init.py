"""Initialisation defaults that keep deep transitions trainable (measured with the gradient-flow tool)."""

import torch

from deeprnn.experiments.gradflow import synthetic_sweep
from deeprnn.models import build_model


def test_shortcuts_of_deep_transitions_are_scaled_and_lstm_forget_gates_open():
    core = build_model("dts-rnn", hidden_size=6, transition_depth=4, transition_gain=None).core
    shortcuts = [layer.weight_shortcut for layer in core.layers[1:]]
    for weight in shortcuts:  # orthogonal, times (L - 1)^(-1/3) with L - 1 = 3 shortcuts
        torch.testing.assert_close(weight @ weight.T, torch.eye(6) * 3 ** (-2 / 3), atol=1e-5, rtol=0)
    for layer in core.layers[1:]:  # the W_l stay orthogonal
        torch.testing.assert_close(layer.weight_hh @ layer.weight_hh.T, torch.eye(6), atol=1e-5, rtol=0)
    lstm = build_model("lstm", hidden_size=5).core
    torch.testing.assert_close(lstm.bias_ih_l0[5:10], torch.ones(5))  # gate order i, f, g, o
    assert (lstm.bias_ih_l0[:5] == 0).all() and (lstm.bias_hh_l0 == 0).all()


def test_the_shortcut_scaling_keeps_deep_transitions_from_exploding_or_vanishing():
    # Before the shortcut scaling, ‖∂L/∂h_1‖ at depth 8 and T = 100 was ~1e5 (exploding). This is the orthogonal
    # scheme's own scale (transition_gain=None); the gain initialisation trades it for a step gain that does not
    # saturate the state (docs/models.md, "Initialisation by gain").
    results = synthetic_sweep(["dts-rnn"], [2, 8], [100], hidden_size=64, batch_size=8, progress=False,
                              transition_gain=None)
    for m in results:
        assert not m.exploding and not m.vanishing, (m.depth, m.grad_h1)
