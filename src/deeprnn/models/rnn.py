"""Plain RNN and stacked RNN (sRNN), with torch.nn.RNN's parameter names and shapes."""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from deeprnn.models import fast
from deeprnn.models.checks import check_choice, check_positive, check_probability
from deeprnn.models.sequence import RecurrentCore, run_directions, scan, select_impl


class StackedRNN(RecurrentCore):
    """sRNN: ``num_layers`` plain RNN layers; layer l's input is layer l-1's hidden state (layer 1 reads x).

    Parameters are named and shaped as in ``torch.nn.RNN`` (``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}``: two biases per layer), so state dicts load both ways, and the
    initialisation is torch's, U(-1/sqrt(H), 1/sqrt(H)). As in torch, ``dropout`` is applied to the output
    sequence of every layer except the last (training mode only).

    ``bidirectional``: as in torch, each layer also runs a reverse direction (parameters with the suffix
    ``_reverse``) over each sequence from its last real step back; layer l > 1 and the output read both
    directions' states concatenated (2 * hidden_size), and h_n is (num_layers * 2, B, hidden_size).

    ``impl``: "reference" runs ``cell`` step by step (the definition); "fast" and "auto" (default) run
    ``deeprnn.models.fast`` (same results, tested against it).
    """

    def __init__(self, input_size, hidden_size, num_layers=2, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, impl="auto", bidirectional=False):
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_positive("num_layers", num_layers)
        check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
        check_probability("dropout", dropout)
        check_choice("impl", impl, fast.IMPLS)
        self.impl = impl
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.nonlinearity, self.bias = nonlinearity, bias
        self.batch_first, self.dropout = batch_first, dropout
        self.bidirectional = bool(bidirectional)
        for k in range(num_layers):
            layer_input_size = input_size if k == 0 else hidden_size * self.num_directions
            for suffix in self.suffixes():
                weight_ih = nn.Parameter(torch.empty(hidden_size, layer_input_size))
                self.register_parameter(f"weight_ih_l{k}{suffix}", weight_ih)
                weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
                self.register_parameter(f"weight_hh_l{k}{suffix}", weight_hh)
                if bias:
                    self.register_parameter(f"bias_ih_l{k}{suffix}", nn.Parameter(torch.empty(hidden_size)))
                    self.register_parameter(f"bias_hh_l{k}{suffix}", nn.Parameter(torch.empty(hidden_size)))
        self.reset_parameters()

    def suffixes(self):
        """The parameter-name suffix of each direction, as in torch.nn.RNN: "" and, if bidirectional, "_reverse"."""
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def layer_parameters(self, k, direction=0):
        """(W_ih, W_hh, b_ih, b_hh) of layer k in ``direction`` (1: reverse); the biases are None without
        ``bias``."""
        suffix = self.suffixes()[direction]
        return tuple(getattr(self, f"{name}_l{k}{suffix}", None)
                     for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def cell(self, k, x_t, h_prev, direction=0):
        """One step of layer k: h_t = tanh(W_hh h_{t-1} + W_ih x_t + b_ih + b_hh) (relu with
        ``nonlinearity="relu"``); x_t is the layer below's h_t for k > 0."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_parameters(k, direction)
        pre_activation = F.linear(x_t, weight_ih, bias_ih) + F.linear(h_prev, weight_hh, bias_hh)
        return torch.tanh(pre_activation) if self.nonlinearity == "tanh" else torch.relu(pre_activation)

    @property
    def output_units(self):
        return self.nonlinearity

    @property
    def has_step(self):
        return self.num_layers == 1 and not self.bidirectional

    def step(self, x_t, h, direction=0):
        return self.cell(0, x_t, h, direction=direction)

    def fast_parameters(self):
        """Every tensor ``run_layer_fast`` hands to the fused op, over layers and directions."""
        return [p for k in range(self.num_layers) for d in range(self.num_directions)
                for p in self.layer_parameters(k, d) if p is not None]

    def run(self, x, hx, mask):
        on_fast_path = select_impl(self, self.fast_parameters()) == "fast"
        layer_input, final_states, directions = x, [], self.num_directions
        for k in range(self.num_layers):
            if k > 0:
                layer_input = F.dropout(layer_input, self.dropout, self.training)

            def run_direction(d, seq, h0, k=k):
                if on_fast_path:
                    return self.run_layer_fast(k, d, seq, h0, mask)
                return scan(partial(self.cell, k, direction=d), seq, h0, mask)

            layer_input, finals = run_directions(run_direction, layer_input, hx[k * directions:(k + 1) * directions],
                                                 mask)
            final_states += finals
        return layer_input, torch.stack(final_states)

    def run_layer_fast(self, k, direction, x, h0, mask):
        """One direction of layer k on the fast path (models/fast.py): (output (T, B, H), h_T (B, H)); the input
        projection is one GEMM over the whole input sequence, the two biases one vector."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_parameters(k, direction)
        biases = [bias_ih + bias_hh] if bias_ih is not None else []
        return fast.deep_transition(x, h0, [weight_hh], [], [weight_ih], biases, (self.nonlinearity,), mask)

    @classmethod
    def from_config(cls, input_size, config):
        return cls(input_size, config.hidden_size, num_layers=config.num_layers,
                   nonlinearity=config.activation, batch_first=True, dropout=config.dropout,
                   bidirectional=config.bidirectional)

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"nonlinearity={self.nonlinearity!r}, bias={self.bias}, batch_first={self.batch_first}, "
                f"dropout={self.dropout}" + (", bidirectional=True" if self.bidirectional else ""))


class RNN(StackedRNN):
    """Plain RNN: one layer, h_t = tanh(W_hh h_{t-1} + W_ih x_t + b_ih + b_hh), h_0 = 0 unless given
    (computed by ``StackedRNN.cell``). Same parameters and outputs as ``torch.nn.RNN(num_layers=1)``; as
    there, ``dropout`` acts between layers and so does nothing here (the heads apply their own dropout).
    """

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, impl="auto", bidirectional=False):
        super().__init__(input_size, hidden_size, num_layers=1, nonlinearity=nonlinearity, bias=bias,
                         batch_first=batch_first, dropout=dropout, impl=impl, bidirectional=bidirectional)

    @classmethod
    def from_config(cls, input_size, config):
        return cls(input_size, config.hidden_size, nonlinearity=config.activation, batch_first=True,
                   dropout=config.dropout, bidirectional=config.bidirectional)
