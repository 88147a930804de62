"""GroundHog's clipped-momentum SGD against an independent reimplementation of its update, and in the trainer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deeprnn.training import load_config, train
from deeprnn.training.optimizers import ClippedMomentumSGD

TINY = ["model.hidden_size=8", "model.transition_size=8", "model.output_size=8", "data.batch_size=16",
        "data.eval_batch_size=64", "train.threads=1", "data.name=jsb", "train.max_batches_per_epoch=3"]


def groundhog_steps(params, gradients, lr, moment, cutoff):
    """pascanur/GroundHog's SGD_momentum, transcribed in numpy: moment_gs = s * moment + g over all
    parameters; where the joint norm is >= cutoff every one is scaled by cutoff / norm; the result is stored as
    s and the parameters step by -lr * s."""
    stored = [np.zeros_like(p) for p in params]
    for step_gradients in gradients:
        moment_gs = [s * moment + g for s, g in zip(stored, step_gradients)]
        norm = np.sqrt(sum(np.sum(x ** 2) for x in moment_gs))
        stored = [g * cutoff / norm if norm >= cutoff else g for g in moment_gs]
        params = [p - lr * s for p, s in zip(params, stored)]
    return params


def run_optimizer(optimizer_class, params, gradients, **settings):
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    optimizer = optimizer_class(tensors, **settings)
    for step_gradients in gradients:
        for t, g in zip(tensors, step_gradients):
            t.grad = torch.tensor(g)
        optimizer.step()
    return [t.detach().numpy() for t in tensors]


def test_clipped_momentum_sgd_is_groundhogs_update():
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    # gradient norms of about 0.3 to 3: the velocity is clipped at some steps and not at others
    gradients = [[rng.normal(size=(3, 4)) * scale, rng.normal(size=5) * scale] for scale in (0.1, 0.1, 1.0, 0.05, 0.3)]
    expected = groundhog_steps(params, gradients, lr=0.7, moment=0.9, cutoff=1.0)
    got = run_optimizer(ClippedMomentumSGD, params, gradients, lr=0.7, momentum=0.9, max_norm=1.0)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    # and it is not torch's SGD after clipping the gradient: that velocity grows beyond the bound
    unclipped = groundhog_steps(params, gradients, lr=0.7, moment=0.9, cutoff=np.inf)
    assert not np.allclose(unclipped[0], expected[0])


def test_without_a_bound_it_is_torch_sgd_with_momentum():
    rng = np.random.default_rng(1)
    params = [rng.normal(size=(4, 2))]
    gradients = [[rng.normal(size=(4, 2))] for _ in range(4)]
    got = run_optimizer(ClippedMomentumSGD, params, gradients, lr=0.1, momentum=0.5, max_norm=None,
                        weight_decay=0.01)
    expected = run_optimizer(torch.optim.SGD, params, gradients, lr=0.1, momentum=0.5, weight_decay=0.01)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)


def test_the_trainer_clips_the_velocity_not_the_gradient_and_resumes_exactly(tmp_path):
    overrides = ["optim.name=sgd-clipped-momentum", "optim.lr=0.5", "optim.momentum=0.995", "optim.clip_norm=0.05"]
    config = load_config(None, [*TINY, *overrides, "train.epochs=2"])
    assert config.optim.gradient_clip_norm is None and config.optim.clip_norm == 0.05
    straight = train(config, tmp_path / "straight", progress=False, log=lambda *_: None)
    epochs = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    for epoch in epochs:  # the raw gradient is left as it is: its norm after "clipping" is its norm
        assert epoch["train"]["grad_norm_after_clip"] == epoch["train"]["grad_norm_before_clip"]
    assert any(epoch["train"]["grad_norm_before_clip"] > 0.05 for epoch in epochs)

    train(load_config(None, [*TINY, *overrides, "train.epochs=1"]), tmp_path / "split", progress=False,
          log=lambda *_: None)
    resumed = train(config, tmp_path / "split", resume=True, progress=False, log=lambda *_: None)
    assert resumed["valid"] == straight["valid"] and resumed["test"] == straight["test"]


@pytest.mark.parametrize("name, bound", [("sgd", 0.5), ("adam", 0.5), ("sgd-clipped-momentum", None)])
def test_gradient_clip_norm_by_optimizer(name, bound):
    assert load_config(None, [f"optim.name={name}", "optim.clip_norm=0.5"]).optim.gradient_clip_norm == bound
