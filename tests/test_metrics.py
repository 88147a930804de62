"""Metric functions against hand computations."""

import math

import pytest
import torch

from deeprnn.training.metrics import MusicMetrics, TokenMetrics


def test_music_nll_is_summed_over_keys_and_frame_weighted():
    # Two sequences, 3 keys. Sequence A has 2 real frames, sequence B has 1 real frame + 1 padded frame.
    logits = torch.tensor([[[0.0, 2.0, -1.0], [1.0, 0.0, 0.0]], [[-2.0, 0.5, 3.0], [9.0, 9.0, 9.0]]])
    targets = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])
    mask = torch.tensor([[True, True], [True, False]])

    def bce(a, y):  # -[y log s(a) + (1-y) log(1 - s(a))], written out
        s = 1.0 / (1.0 + math.exp(-a))
        return -(y * math.log(s) + (1 - y) * math.log(1 - s))

    frame_nlls = [
        bce(0.0, 1) + bce(2.0, 1) + bce(-1.0, 0),
        bce(1.0, 0) + bce(0.0, 0) + bce(0.0, 1),
        bce(-2.0, 0) + bce(0.5, 1) + bce(3.0, 1),
    ]
    metrics = MusicMetrics()
    metrics.update(logits[:1], targets[:1], mask[:1])  # accumulation across batches must not change the result
    metrics.update(logits[1:], targets[1:], mask[1:])
    result = metrics.compute()
    assert result["frames"] == 3
    assert result["nll"] == pytest.approx(sum(frame_nlls) / 3, rel=1e-12)
    assert result["bce_mean"] == pytest.approx(sum(frame_nlls) / 9, rel=1e-12)
    # Predictions (logit > 0): frame1 [F,T,F] vs [T,T,F]: TP1 FN1; frame2 [T,F,F] vs [F,F,T]: FP1 FN1;
    # frame3 [F,T,T] vs [F,T,T]: TP2. Padded frame ignored. TP=3, FP=1, FN=2.
    assert result["frame_acc"] == pytest.approx(3 / 6)


def test_perplexity_and_bits_per_character():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]]))
    targets = torch.tensor([[0, 2, 2]])
    mask = torch.tensor([[True, True, False]])
    mean_ce = (-math.log(0.5) - math.log(0.1)) / 2
    words = TokenMetrics("word")
    words.update(logits, targets, mask)
    w = words.compute()
    assert w["loss"] == pytest.approx(mean_ce)
    assert w["ppl"] == pytest.approx(math.exp(mean_ce))
    assert w["acc"] == pytest.approx(0.5)  # first token right (0.5 is the max), second wrong
    chars = TokenMetrics("char")
    chars.update(logits, targets, mask)
    assert chars.compute()["bpc"] == pytest.approx(mean_ce / math.log(2))


def test_empty_split_is_an_error():
    with pytest.raises(ValueError):
        MusicMetrics().compute()
