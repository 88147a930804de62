"""Task heads: a recurrent core between an input layer and a (deep) read-out. All heads are batch-first.

- ``MusicModel``: 88-key piano-roll frame in, 88 logits out (one sigmoid per key).
- ``LanguageModel``: token embedding -> core -> deep output -> vocabulary logits; optional weight tying.
- ``Tagger``: token embedding [+ ``WordFeatures`` of the spelling] -> core -> deep output -> tag logits.

With a ``DTRNN`` core and ``output_depth`` >= 1 this is the DOT-RNN / DOT(S)-RNN of the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deeprnn.models.activations import get_activation
from deeprnn.models.checks import check_choice, check_integer, check_positive, check_probability


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

    ``bf16_readout`` (off by default; ``set_bf16_readout``): on CPU, compute the last
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


def set_bf16_readout(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Compute the read-out (last linear map of every ``DeepOutput`` in ``model``) under bfloat16 autocast on
    CPU, returning float32 logits; the loss stays in float32. For a config key such as ``train.bf16_readout``.
    Measured effect (10k-word PTB): docs/performance.md."""
    for module in model.modules():
        if isinstance(module, DeepOutput):
            module.bf16_readout = enabled
    return model


class WordFeatures(nn.Module):
    """A vector of ``size`` units per word from its spelling, so a tagger can tell apart words its embedding
    has not seen (read as ``<unk>``). Input: (B, T, K) feature ids per word, 0 = none (padding, or a feature
    not seen in training), from the task's feature vocabulary (``deeprnn.data.wordfeatures``).

    - ``kind="affix"``: K features per word (its suffixes of 1 to 3 characters and its shape, e.g. ``Xx`` or
      ``d,d``), embedded and summed: a linear map of the word's sparse binary feature vector.
    - ``kind="chars"``: the word's K characters embedded in ``size`` units, a convolution of width 3 with
      ``size`` filters, tanh, and the maximum over the word's characters (the character CNN of Ma & Hovy 2016).
    """

    KINDS = ("affix", "chars")

    def __init__(self, kind, num_ids, size):
        super().__init__()
        check_choice("word_features", kind, self.KINDS)
        check_positive("feature_vocab_size", num_ids)
        check_positive("feature_size", size)
        self.kind, self.size = kind, size
        self.embedding = nn.Embedding(num_ids, size)
        self.conv = nn.Conv1d(size, size, kernel_size=3, padding=1) if kind == "chars" else None

    def forward(self, ids):
        present = (ids != 0).unsqueeze(-1)  # (B, T, K, 1)
        embedded = self.embedding(ids) * present  # absent features and padding contribute nothing
        if self.conv is None:
            return embedded.sum(-2)
        batch, steps, chars, size = embedded.shape
        responses = torch.tanh(self.conv(embedded.reshape(batch * steps, chars, size).transpose(1, 2)))
        present = present.reshape(batch * steps, 1, chars)
        pooled = responses.masked_fill(~present, -1.0).amax(-1) * present.any(-1)  # -1: tanh's lower bound
        return pooled.reshape(batch, steps, size)


def num_directions(core) -> int:
    """2 for a bidirectional core (its output is 2 * hidden_size wide), else 1."""
    return 2 if getattr(core, "bidirectional", False) else 1


class SequenceModel(nn.Module):
    """Shared body of the heads: [embedding ->] core -> deep output.

    ``forward(input, hx=None, *, lengths=None) -> (logits (B, T, num_outputs), h_n)``. Dropout applies to
    the embedding (with the word features, if any) and inside the deep output; with ``lengths``, logits past
    a sequence's length are zero, like the core's outputs.
    """


    def __init__(self, core, num_outputs, embedding=None, output_depth=0, output_size=None,
                 output_activation="tanh", pool_size=2, dropout=0.0, output_from_input=False):
        super().__init__()
        if not getattr(core, "batch_first", False):
            raise ValueError("heads are batch-first: build the core with batch_first=True")
        check_probability("dropout", dropout)
        self.embedding, self.core = embedding, core
        self.word_features = None  # a WordFeatures module (taggers only)
        self.dropout, self.output_from_input = dropout, output_from_input
        o0_size = core.hidden_size * num_directions(core) + (core.input_size if output_from_input else 0)  # [h_t; x_t]
        self.output = DeepOutput(o0_size, num_outputs, output_depth, output_size, output_activation,
                                 pool_size, dropout)

    def forward(self, input, hx=None, *, lengths=None, features=None):
        x = input
        if self.embedding is not None:
            x = self.embedding(input)
            if self.word_features is not None:
                if features is None:
                    raise ValueError("this model reads word features: pass features=(B, T, K) feature ids")
                x = torch.cat([x, self.word_features(features)], dim=-1)
            x = F.dropout(x, self.dropout, self.training)
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
    """Sequence tagger: tokens (B, T) in, tag logits (B, T, num_tags) out. With ``word_features`` (a
    ``WordFeatures``), ``forward`` also takes ``features`` (B, T, K) and the core reads [embedding; features]
    (its input size is ``embedding_size + word_features.size``)."""

    def __init__(self, core, vocab_size, num_tags, embedding_size, output_depth=0, output_size=None,
                 output_activation="tanh", pool_size=2, dropout=0.0, output_from_input=False, word_features=None):
        check_positive("vocab_size", vocab_size)
        check_positive("num_tags", num_tags)
        check_positive("embedding_size", embedding_size)
        super().__init__(core, num_tags, nn.Embedding(vocab_size, embedding_size), output_depth,
                         output_size, output_activation, pool_size, dropout, output_from_input)
        if word_features is not None:
            self.word_features = word_features
