"""Recurrent Highway Network (Zilly, Srivastava, Koutník & Schmidhuber, ICML 2017, arXiv:1607.03474).

A deep transition made of highway layers: recurrence depth L, s_0 = h_{t-1}, and for l = 1..L

    h_l = tanh(R_H,l s_{l-1} + [l = 1] W_H x_t + b_H,l)
    t_l = σ(R_T,l s_{l-1} + [l = 1] W_T x_t + b_T,l)
    s_l = h_l t_l + s_{l-1} (1 - t_l)          (coupled carry gate: c = 1 - t)

and h_t = s_L. As in the authors' code (jzilly/RecurrentHighwayNetworks, ``rhn.py``: ``RHNCell``), the
transform-gate biases start negative (``TRANSFORM_BIAS``, their ``init_bias = -2.0`` for PTB), so each layer
starts by carrying its input through, and the state fed into every layer's maps is dropped with one mask per
sequence (variational dropout, their ``noise_h``), shared by the L layers; the carried state itself is not.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from deeprnn.models.checks import check_integer, check_positive, check_probability
from deeprnn.models.sequence import RecurrentCore, run_directions, scan

TRANSFORM_BIAS = -2.0  # the authors' init_bias for PTB (rhn_train.py); -4.0 for enwik8/text8


class HighwayLayer(nn.Module):
    """Layer l of the highway transition. ``weight_hh`` (2H, H) is [R_H; R_T], ``bias`` (2H,) is [b_H; b_T];
    ``weight_ih`` (2H, input_size) is [W_H; W_T], present for the first layer only."""

    def __init__(self, hidden_size, input_size=None):
        super().__init__()
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size)) if input_size else None
        self.bias = nn.Parameter(torch.empty(2 * hidden_size))

    def forward(self, s, dropped, x_t):
        pre_activation = F.linear(dropped, self.weight_hh, self.bias)
        if self.weight_ih is not None:
            pre_activation = pre_activation + F.linear(x_t, self.weight_ih)
        h, t = pre_activation.chunk(2, dim=-1)
        t = torch.sigmoid(t)
        return torch.tanh(h) * t + s * (1.0 - t)


class RHN(RecurrentCore):
    """RHN core with torch.nn.RNN's conventions (``forward(input, hx=None, *, lengths=None) -> (output, h_n)``,
    h_n (num_directions, B, hidden_size)). ``transition_depth`` is the recurrence depth L. ``dropout``: on the
    state entering each layer (training mode only; one mask per sequence and direction). ``bidirectional``: a
    second transition, ``layers_reverse``, read over each sequence from its last real step back.

    Reference path only (the fused op of models/fast.py has no gates). Construction-time initialisation is
    torch.nn.RNN's U(-1/sqrt(H), 1/sqrt(H)) with the transform biases at ``TRANSFORM_BIAS``; ``build_model``
    then applies the documented scheme, and ``init_gate_biases_`` sets the transform biases again.
    """

    num_layers = 1
    has_step = True
    output_units = "tanh"  # s_L mixes tanh units and s_0, so it stays in (-1, 1)

    def __init__(self, input_size, hidden_size, transition_depth=2, batch_first=False, dropout=0.0,
                 bidirectional=False):
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_integer("transition_depth", transition_depth, 1)
        check_probability("dropout", dropout)
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        self.transition_depth, self.dropout = transition_depth, dropout
        self.bidirectional = bool(bidirectional)
        self.layers = self._transition()
        if self.bidirectional:
            self.layers_reverse = self._transition()
        self.reset_parameters()

    def _transition(self):
        return nn.ModuleList(HighwayLayer(self.hidden_size, self.input_size if l == 0 else None)
                             for l in range(self.transition_depth))

    def directions(self):
        return (self.layers, self.layers_reverse) if self.bidirectional else (self.layers,)

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)
        self.init_gate_biases_()

    def init_gate_biases_(self):
        """Transform gates start mostly closed: b_T = ``TRANSFORM_BIAS`` (the authors' ``init_bias``)."""
        with torch.no_grad():
            for layers in self.directions():
                for layer in layers:
                    layer.bias[self.hidden_size:].fill_(TRANSFORM_BIAS)

    def parameter_roles(self):
        roles = {"weight_hh": "recurrent", "weight_ih": "input", "bias": "bias"}
        return {name: roles[name.rpartition(".")[2]] for name, _ in self.named_parameters()}

    def parameter_layer(self, name):
        found = re.search(r"layers(?:_reverse)?\.(\d+)\.", name)
        return int(found.group(1)) if found else 0

    def dropout_masks(self, batch_size, like):
        """One mask on the state entering the layers, for every step of a sequence; None outside training."""
        if not self.training or self.dropout == 0.0:
            return None
        keep = 1.0 - self.dropout
        return like.new_empty(batch_size, self.hidden_size).bernoulli_(keep) / keep

    def step(self, x_t, h, direction=0, mask=None):
        """h_t = s_L from h_{t-1} = s_0 and x_t (the equations of the module docstring)."""
        s = h
        for layer in self.directions()[direction]:
            s = layer(s, s if mask is None else s * mask, x_t)
        return s

    def run(self, x, hx, mask):
        def run_direction(d, seq, h0):
            masks = self.dropout_masks(x.shape[1], x)  # drawn per direction, forward first
            return scan(lambda x_t, h: self.step(x_t, h, d, masks), seq, h0, mask)

        output, finals = run_directions(run_direction, x, hx, mask)
        return output, torch.stack(finals)

    @classmethod
    def from_config(cls, input_size, config):
        return cls(input_size, config.hidden_size, transition_depth=config.transition_depth, batch_first=True,
                   dropout=config.dropout, bidirectional=config.bidirectional)

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, transition_depth={self.transition_depth}, "
                f"batch_first={self.batch_first}, dropout={self.dropout}"
                + (", bidirectional=True" if self.bidirectional else ""))
