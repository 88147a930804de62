"""Task heads: a recurrent core between an input layer and a (deep) read-out. All heads are batch-first.

- ``MusicModel``: 88-key piano-roll frame in, 88 logits out (one sigmoid per key).
- ``LanguageModel``: token embedding -> core -> deep output -> vocabulary logits; optional weight tying.
- ``Tagger``: token embedding -> core -> deep output -> tag logits.

With a ``DTRNN`` core and ``output_depth`` >= 1 this is the DOT-RNN / DOT(S)-RNN of the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deeprnn.models.activations import get_activation
from deeprnn.models.checks import check_integer, check_positive, check_probability


class Dense(nn.Module):
    """One hidden layer of a deep output: o^l = ψ(V_l o^{l-1} + b_l); V_l has ``size * pool_size`` rows
    for L_p and maxout units."""

    def __init__(self, input_size, size, activation="tanh", pool_size=2):
        super().__init__()
        self.activation = get_activation(activation, size, pool_size)
        self.linear = nn.Linear(input_size, self.activation.input_size)

    def forward(self, x):
        return self.activation(self.linear(x))


class DeepOutput(nn.Module):
    """Read-out with ``depth`` hidden layers (``Dense``) of ``hidden_size`` units:

        o^0 = h_t   (or [h_t; x_t] with ``output_from_input`` in the heads)
        o^l = ψ(V_l o^{l-1} + b_l),   l = 1..depth
        logits_t = V_out o^{depth} + c

    ``depth = 0`` is the plain read-out. ``dropout`` is applied to o^0..o^{depth}, i.e. to the input of
    every linear map (training mode only).

    ``bf16_readout`` (off by default; ``deeprnn.models.fast.set_bf16_readout``): on CPU, compute the last
    linear map under bfloat16 autocast and return float32 logits (docs/performance.md: faster for large
    vocabularies on CPUs with bf16 instructions).
    """

    bf16_readout = False

    def __init__(self, input_size, num_outputs, depth=0, hidden_size=None, activation="tanh", pool_size=2,
                 dropout=0.0):
        super().__init__()
        check_integer("output_depth", depth, 0)
        hidden_size = input_size if hidden_size is None else hidden_size
        check_positive("output_size", hidden_size)
        check_positive("num_outputs", num_outputs)
        check_probability("dropout", dropout)
        self.dropout = dropout
        self.hidden = nn.ModuleList(
            Dense(input_size if l == 0 else hidden_size, hidden_size, activation, pool_size)
            for l in range(depth)
        )
        self.readout_size = hidden_size if depth else input_size  # the size of o^{depth}
        self.readout = nn.Linear(self.readout_size, num_outputs)

    def forward(self, o):
        for layer in self.hidden:
            o = layer(F.dropout(o, self.dropout, self.training))
        o = F.dropout(o, self.dropout, self.training)
        if self.bf16_readout and o.device.type == "cpu":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.readout(o).float()
        return self.readout(o)


class SequenceModel(nn.Module):
    """Shared body of the heads: [embedding ->] core -> deep output.

    ``forward(input, hx=None, *, lengths=None) -> (logits (B, T, num_outputs), h_n)``. Dropout applies to
    the embedding and inside the deep output; with ``lengths``, logits past a sequence's length are zero,
    like the core's outputs.
    """

    def __init__(self, core, num_outputs, embedding=None, output_depth=0, output_size=None,
                 output_activation="tanh", pool_size=2, dropout=0.0, output_from_input=False):
        super().__init__()
        if not getattr(core, "batch_first", False):
            raise ValueError("heads are batch-first: build the core with batch_first=True")
        check_probability("dropout", dropout)
        self.embedding, self.core = embedding, core
        self.dropout, self.output_from_input = dropout, output_from_input
        o0_size = core.hidden_size + (core.input_size if output_from_input else 0)  # [h_t; x_t]
        self.output = DeepOutput(o0_size, num_outputs, output_depth, output_size, output_activation,
                                 pool_size, dropout)

    def forward(self, input, hx=None, *, lengths=None):
        x = input
        if self.embedding is not None:
            x = F.dropout(self.embedding(input), self.dropout, self.training)
        h, h_n = self.core(x, hx, lengths=lengths)
        logits = self.output(torch.cat([h, x], dim=-1) if self.output_from_input else h)
        if lengths is not None:
            steps = torch.arange(logits.shape[1], device=logits.device)
            valid = steps < torch.as_tensor(lengths, device=logits.device)[:, None]
            logits = torch.where(valid.unsqueeze(-1), logits, 0.0)
        return logits, h_n


class MusicModel(SequenceModel):
    """Polyphonic music: frames x_t (B, T, 88) in, logits for x_{t+1} out, one sigmoid (Bernoulli) per key."""

    def __init__(self, core, num_keys=88, output_depth=0, output_size=None, output_activation="tanh",
                 pool_size=2, dropout=0.0, output_from_input=False):
        check_positive("num_keys", num_keys)
        super().__init__(core, num_keys, None, output_depth, output_size, output_activation, pool_size,
                         dropout, output_from_input)


class LanguageModel(SequenceModel):
    """Language model: tokens (B, T) in, next-token logits (B, T, vocab_size) out.

    ``tie_weights`` shares the embedding matrix with the read-out (Press & Wolf 2017); it needs the size
    of o^{depth} to equal ``embedding_size``.
    """

    def __init__(self, core, vocab_size, embedding_size, output_depth=0, output_size=None,
                 output_activation="tanh", pool_size=2, dropout=0.0, tie_weights=False,
                 output_from_input=False):
        check_positive("vocab_size", vocab_size)
        check_positive("embedding_size", embedding_size)
        super().__init__(core, vocab_size, nn.Embedding(vocab_size, embedding_size), output_depth,
                         output_size, output_activation, pool_size, dropout, output_from_input)
        if tie_weights:
            if self.output.readout_size != embedding_size:
                raise ValueError(f"tie_weights needs the read-out input size ({self.output.readout_size}) "
                                 f"to equal embedding_size ({embedding_size})")
            self.output.readout.weight = self.embedding.weight


class Tagger(SequenceModel):
    """Sequence tagger: tokens (B, T) in, tag logits (B, T, num_tags) out."""

    def __init__(self, core, vocab_size, num_tags, embedding_size, output_depth=0, output_size=None,
                 output_activation="tanh", pool_size=2, dropout=0.0, output_from_input=False):
        check_positive("vocab_size", vocab_size)
        check_positive("num_tags", num_tags)
        check_positive("embedding_size", embedding_size)
        super().__init__(core, num_tags, nn.Embedding(vocab_size, embedding_size), output_depth,
                         output_size, output_activation, pool_size, dropout, output_from_input)
