"""Deep transition RNN: DT-RNN and, with shortcuts, DT(S)-RNN (Pascanu et al. 2014, section 3.2)."""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from deeprnn.models import fast
from deeprnn.models.activations import ACTIVATIONS, get_activation
from deeprnn.models.checks import check_choice, check_integer, check_positive, check_probability
from deeprnn.models.sequence import RecurrentCore, run_directions, scan, select_impl


class TransitionLayer(nn.Module):
    """Layer l of a deep transition: computes z^l of the equations in ``DTRNN`` from z^{l-1}, h_{t-1}, x_t.

    ``weight_hh`` is W_l (reading z^{l-1}, which is h_{t-1} for l = 1); ``weight_shortcut`` is S_l,
    present only for l >= 2 in a DT(S)-RNN (layer 1 already reads h_{t-1}); ``weight_ih`` is U_l, present
    for l = 1 and, with ``input_to="all"``, for every layer; ``bias`` is b_l (one per layer). For L_p and
    maxout units W_l, S_l, U_l and b_l have ``size * pool_size`` rows.
    """

    def __init__(self, below_size, size, activation, pool_size, input_size=None, shortcut_size=None):
        super().__init__()
        self.activation = get_activation(activation, size, pool_size)
        rows = self.activation.input_size
        self.weight_hh = nn.Parameter(torch.empty(rows, below_size))
        self.weight_shortcut = nn.Parameter(torch.empty(rows, shortcut_size)) if shortcut_size else None
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size)) if input_size else None
        self.bias = nn.Parameter(torch.empty(rows))

    def forward(self, below, h_prev, x_t):
        pre_activation = F.linear(below, self.weight_hh, self.bias)
        if self.weight_shortcut is not None:
            pre_activation = pre_activation + F.linear(h_prev, self.weight_shortcut)
        if self.weight_ih is not None:
            pre_activation = pre_activation + F.linear(x_t, self.weight_ih)
        return self.activation(pre_activation)

    def extra_repr(self):
        weights = self.named_parameters(recurse=False)
        return ", ".join(f"{name}={tuple(weight.shape)}" for name, weight in weights)


class DTRNN(RecurrentCore):
    """DT-RNN / DT(S)-RNN: the transition h_{t-1} -> h_t is an L-layer network.

    With ``transition_depth`` L (L = 1 is the plain RNN, with a single bias):

        z^1 = φ_1(W_1 h_{t-1} + U x_t + b_1)
        z^l = φ_l(W_l z^{l-1} + b_l),                  l = 2..L   (DT-RNN, ``shortcut=False``)
        z^l = φ_l(W_l z^{l-1} + S_l h_{t-1} + b_l),    l = 2..L   (DT(S)-RNN, ``shortcut=True``)
        h_t = z^L

    (each layer is a ``TransitionLayer``). The shortcut is the one of the authors' code, GroundHog's
    ``RecurrentMultiLayerShortPath``. With ``input_to="all"`` every layer also adds U_l x_t. Intermediate
    layers have ``transition_size`` units (default ``hidden_size``) with ``activation`` (one name, or a list
    of L-1 names); the last has ``hidden_size`` units with ``last_activation``. ``pool_size`` is the group
    size of L_p and maxout units.

    ``dropout`` applies to the intermediate layers z^1..z^{L-1} (training mode only). Because these sit on
    the recurrent path, each sequence keeps one dropout mask for all its steps (variational dropout, Gal &
    Ghahramani 2016) rather than fresh noise at every step. h_t itself is never dropped here: dropout on
    the core's output is the heads' job.

    Construction-time initialisation is torch.nn.RNN's, U(-1/sqrt(H), 1/sqrt(H)); ``build_model`` then
    applies the documented scheme (``deeprnn.models.init``). h_n has shape (1, B, hidden_size).

    ``bidirectional``: a second transition of the same shape, the sibling module ``layers_reverse``
    (parameters ``layers_reverse.N.weight_hh`` etc., initialised like ``layers``), runs over each sequence
    from its last real step back, with dropout masks of its own; as in torch.nn.RNN, the output is both
    directions' states concatenated (T, B, 2 * hidden_size) and h_n is (2, B, hidden_size), forward first.

    ``impl``: "reference" runs ``cell`` step by step (the definition); "fast" runs ``deeprnn.models.fast``
    (same results, tested against it); "auto" (default) is fast whenever the last block's units are tanh,
    relu or sigmoid (L_p and maxout are fine in the intermediate blocks), reference otherwise.
    """

    num_layers = 1

    def __init__(self, input_size, hidden_size, transition_depth=2, transition_size=None, shortcut=False,
                 activation="tanh", last_activation="tanh", pool_size=2, input_to="first",
                 batch_first=False, dropout=0.0, impl="auto", bidirectional=False):
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_integer("transition_depth", transition_depth, 1)
        transition_size = hidden_size if transition_size is None else transition_size
        check_positive("transition_size", transition_size)
        check_positive("pool_size", pool_size)
        check_choice("input_to", input_to, ("first", "all"))
        check_probability("dropout", dropout)
        check_choice("impl", impl, fast.IMPLS)
        if isinstance(activation, str):
            activation = [activation] * (transition_depth - 1)
        activations = list(activation)
        if len(activations) != transition_depth - 1:
            raise ValueError(f"activation list needs transition_depth - 1 = {transition_depth - 1} names, "
                             f"got {len(activations)}")
        activations.append(last_activation)
        for name in activations:
            check_choice("activation", name, ACTIVATIONS)

        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        self.transition_depth, self.transition_size = transition_depth, transition_size
        self.shortcut = shortcut
        self.input_to, self.dropout, self.activations = input_to, dropout, activations
        self.impl = impl
        self.bidirectional = bool(bidirectional)
        self.layers = self._transition(pool_size)
        if self.bidirectional:
            self.layers_reverse = self._transition(pool_size)
        self.reset_parameters()

    def _transition(self, pool_size):
        """The L ``TransitionLayer`` of one direction."""
        layers = nn.ModuleList()
        for l, layer_activation in enumerate(self.activations):
            first, last = l == 0, l == self.transition_depth - 1
            layers.append(TransitionLayer(
                below_size=self.hidden_size if first else self.transition_size,
                size=self.hidden_size if last else self.transition_size,
                activation=layer_activation,
                pool_size=pool_size,
                input_size=self.input_size if first or self.input_to == "all" else None,
                shortcut_size=self.hidden_size if self.shortcut and not first else None,
            ))
        return layers

    def directions(self):
        """The transition of each direction: ``layers`` and, if bidirectional, ``layers_reverse``."""
        return (self.layers, self.layers_reverse) if self.bidirectional else (self.layers,)

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        for layers in self.directions():
            for layer in layers:
                for weight in layer.parameters(recurse=False):  # not the L_p units' own parameters
                    nn.init.uniform_(weight, -bound, bound)

    def dropout_masks(self, batch_size, like):
        """One mask per intermediate layer, shared by all steps of a sequence; None outside training."""
        if not self.training or self.dropout == 0.0:
            return None
        keep = 1.0 - self.dropout
        return [like.new_empty(batch_size, self.transition_size).bernoulli_(keep) / keep
                for _ in range(self.transition_depth - 1)]

    def cell(self, x_t, h_prev, masks=None, direction=0):
        """One step: h_t = z^L from h_{t-1} and x_t (equations in the class docstring); ``direction`` 1 uses
        ``layers_reverse``."""
        z = h_prev
        for l, layer in enumerate(self.directions()[direction]):
            z = layer(z, h_prev, x_t)
            if masks is not None and l < self.transition_depth - 1:
                z = z * masks[l]
        return z

    @property
    def output_units(self):
        return self.activations[-1]

    has_step = True

    def step(self, x_t, h, direction=0):
        return self.cell(x_t, h, direction=direction)

    def parameter_roles(self):
        roles = {"weight_hh": "recurrent", "weight_shortcut": "recurrent", "weight_ih": "input", "bias": "bias"}
        return {name: roles.get(name.rpartition(".")[2], "own") for name, _ in self.named_parameters()}

    def parameter_layer(self, name):
        found = re.search(r"layers\.(\d+)\.", name)
        return int(found.group(1)) if found else 0

    def fast_parameters(self):
        """Every tensor ``run_fast`` hands to the fused op, over both directions."""
        for layers in self.directions():
            inputs = self.fast_inputs(layers)
            yield from (*inputs["weights_hh"], *inputs["weights_shortcut"], *inputs["weights_ih"],
                        *inputs["biases"], *(tensor for unit in inputs["units"] for tensor in unit))

    def run(self, x, hx, mask):
        on_fast_path = select_impl(self, self.fast_parameters()) == "fast"

        def run_direction(d, seq, h0):
            masks = self.dropout_masks(x.shape[1], x)  # drawn per direction, forward first
            if on_fast_path:
                return self.run_fast(self.directions()[d], seq, h0, mask, masks)
            return scan(lambda x_t, h: self.cell(x_t, h, masks, d), seq, h0, mask)

        output, finals = run_directions(run_direction, x, hx, mask)
        return output, torch.stack(finals)

    def run_fast(self, layers, x, h0, mask, dropout_masks):
        """One direction (its ``layers``) on the fast path: (output (T, B, H), h_T (B, H)). The fused op takes
        tensors only (models/fast.py); the units of each block are known here by their names."""
        inputs = self.fast_inputs(layers)
        return fast.deep_transition(
            x, h0, inputs["weights_hh"], inputs["weights_shortcut"], inputs["weights_ih"], inputs["biases"],
            self.activations, mask, dropout_masks, units=inputs["units"], pool_size=inputs["pool_size"])

    def fast_inputs(self, layers):
        """The tensors (and pool size) of one direction's ``layers`` that ``run_fast`` hands to the fused op."""
        named = list(zip(layers, self.activations))
        return dict(
            weights_hh=[layer.weight_hh for layer in layers],
            weights_shortcut=[layer.weight_shortcut for layer in layers[1:]] if self.shortcut else [],
            weights_ih=[layer.weight_ih for layer in layers if layer.weight_ih is not None],
            biases=[layer.bias for layer in layers],
            units=[(layer.activation.centres, layer.activation.rho) for layer, name in named if name == "lp"],
            pool_size=next((layer.activation.pool_size for layer, name in named if name in fast.POOLED), 2))

    @classmethod
    def from_config(cls, input_size, config):
        return cls(input_size, config.hidden_size, transition_depth=config.transition_depth,
                   transition_size=config.transition_size, shortcut=config.shortcut,
                   activation=config.activation, pool_size=config.pool_size, input_to=config.input_to,
                   batch_first=True, dropout=config.dropout, bidirectional=config.bidirectional)

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, transition_depth={self.transition_depth}, "
                f"transition_size={self.transition_size}, shortcut={self.shortcut}, "
                f"activations={self.activations}, input_to={self.input_to!r}, "
                f"batch_first={self.batch_first}, dropout={self.dropout}"
                + (", bidirectional=True" if self.bidirectional else ""))
