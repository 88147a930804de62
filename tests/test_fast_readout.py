"""The opt-in bfloat16 read-out (deeprnn.models.heads.set_bf16_readout): float32 logits within bf16 rounding of
the float32 read-out, gradients still reach every parameter, and it is off by default."""

from __future__ import annotations

import torch

from deeprnn.models import build_model
from deeprnn.models.heads import set_bf16_readout


def test_bf16_readout_is_close_and_trains():
    torch.manual_seed(0)
    model = build_model("dots-rnn", task="lm", vocab_size=50, hidden_size=16)
    tokens = torch.randint(50, (4, 7))
    assert not model.output.bf16_readout
    expected = model(tokens)[0]
    set_bf16_readout(model)
    assert model.output.bf16_readout
    logits = model(tokens)[0]
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, expected, rtol=0.02, atol=0.02)  # bf16 keeps 8 bits of mantissa
    logits.logsumexp(-1).sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    set_bf16_readout(model, False)
    torch.testing.assert_close(model(tokens)[0], expected, rtol=0, atol=0)
