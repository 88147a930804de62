"""LSTM and GRU baselines: torch.nn.LSTM / torch.nn.GRU (fused kernels) with the cores' interface.

Subclasses, so parameter names, state dicts, initialisation and numerics are torch's (``bidirectional`` too);
only ``forward`` gains ``lengths`` and input checks. With ``lengths`` the batch is packed, so a bidirectional
core's reverse direction starts at each sequence's own last real step. Equations: see the torch.nn.LSTM and
torch.nn.GRU documentation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch._higher_order_ops.scan import scan
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from deeprnn.models.checks import check_positive, check_probability
from deeprnn.models.sequence import (
    CoreProtocol,
    check_input_size,
    check_lengths,
    reverse_within_lengths,
    step_mask,
    to_time_major,
)


def _check_sizes(input_size, hidden_size, num_layers, dropout):
    check_positive("input_size", input_size)
    check_positive("hidden_size", hidden_size)
    check_positive("num_layers", num_layers)
    check_probability("dropout", dropout)


def _forward_with_lengths(module, torch_forward, input, hx, lengths):
    """Run a torch RNN on a padded batch with ``lengths`` by packing it: steps past a sequence's length
    give zeros and h_n is the state at its last valid step."""
    check_input_size(input, module.input_size, type(module).__name__)
    if lengths is None or isinstance(input, PackedSequence):
        if lengths is not None:
            raise ValueError("pass lengths or a PackedSequence, not both")
        return torch_forward(input, hx)
    if input.dim() != 3:
        raise ValueError(f"expected a 3-D input, got shape {tuple(input.shape)}")
    time_dim = 1 if module.batch_first else 0
    lengths = check_lengths(lengths, input.shape[1 - time_dim], input.shape[time_dim])
    packed = pack_padded_sequence(input, lengths, batch_first=module.batch_first, enforce_sorted=False)
    output, h_n = torch_forward(packed, hx)
    total_length = input.shape[time_dim]
    output, _ = pad_packed_sequence(output, batch_first=module.batch_first, total_length=total_length)
    return output, h_n


def _scan_direction(module, k, d, x, state, mask):
    """One direction d of layer k over x (T, B, features) as torch's scan of torch's own cell
    (``torch._VF.lstm_cell`` / ``gru_cell``: torch.nn.LSTMCell's and GRUCell's arithmetic): (output, state).
    Past a sequence's length its state is carried and its output is zero, as with packing."""
    suffix = "_reverse" if d else ""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    weights = [getattr(module, f"{name}_l{k}{suffix}", None) for name in names]
    cell = torch._VF.lstm_cell if isinstance(module, nn.LSTM) else torch._VF.gru_cell

    def step(carry, inputs):
        x_t, m_t = inputs
        new = cell(x_t, carry, *weights) if len(carry) == 2 else (cell(x_t, carry[0], *weights),)
        new = tuple(torch.where(m_t, n, old) for n, old in zip(new, carry))
        return new, torch.where(m_t, new[0], 0.0)

    seq = x if d == 0 else reverse_within_lengths(x, mask)
    state, output = scan(step, state, (seq, mask))
    return (output if d == 0 else reverse_within_lengths(output, mask)), state


def _scan_forward(module, input, hx, lengths):
    """torch.nn.LSTM / GRU's forward as a scan over the steps, for torch.compile and torch.export: torch's fused
    RNN kernels are opaque to dynamo and fix the sequence length when exported; a scan is one graph node
    whatever T. Same results as torch's kernels to rounding; ``lengths`` as packing gives them."""
    lstm = isinstance(module, nn.LSTM)
    x, lengths = to_time_major(input, module.batch_first, lengths)
    T, B = x.shape[:2]
    shape = (module.num_layers * (2 if module.bidirectional else 1), B, module.hidden_size)
    if hx is None:
        hx = (x.new_zeros(shape), x.new_zeros(shape)) if lstm else x.new_zeros(shape)
    states = list(zip(*hx)) if lstm else [(h,) for h in hx]
    mask = step_mask(lengths, T, x.device)
    mask = torch.ones(T, B, 1, dtype=torch.bool, device=x.device) if mask is None else mask
    finals, directions = [], 2 if module.bidirectional else 1
    for k in range(module.num_layers):
        if k:
            x = F.dropout(x, module.dropout, module.training)
        outputs = []
        for d in range(directions):
            output, state = _scan_direction(module, k, d, x, states[k * directions + d], mask)
            outputs.append(output)
            finals.append(state)
        x = torch.cat(outputs, -1) if directions > 1 else outputs[0]
    h_n = [torch.stack(parts) for parts in zip(*finals)]
    output = x.transpose(0, 1) if module.batch_first else x
    return output, (tuple(h_n) if lstm else h_n[0])


def _from_config(cls, input_size, config):
    if config.activation != "tanh":
        raise ValueError(f"{cls.__name__} has fixed gate nonlinearities: activation must be 'tanh', "
                         f"got {config.activation!r}")
    # torch warns about dropout with a single layer, where it does nothing anyway
    dropout = config.dropout if config.num_layers > 1 else 0.0
    return cls(input_size, config.hidden_size, num_layers=config.num_layers, batch_first=True,
               dropout=dropout, bidirectional=config.bidirectional)


class _TorchRecurrent(CoreProtocol):
    """The shared part of LSTM and GRU: size checks, ``lengths`` in ``forward``, ``from_config``.

    Mixed in before the torch class, so ``super()`` reaches torch.nn.LSTM / torch.nn.GRU.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, batch_first=False, dropout=0.0,
                 bidirectional=False):
        _check_sizes(input_size, hidden_size, num_layers, dropout)
        super().__init__(input_size, hidden_size, num_layers=num_layers, batch_first=batch_first,
                         dropout=dropout, bidirectional=bool(bidirectional))

    def forward(self, input, hx=None, *, lengths=None):
        traced = torch.compiler.is_compiling() and not isinstance(input, PackedSequence) and input.dim() == 3
        if traced:  # torch.compile / torch.export: a scan, one graph for any T (eager: torch's kernels)
            check_input_size(input, self.input_size, type(self).__name__)
            return _scan_forward(self, input, hx, lengths)
        return _forward_with_lengths(self, super().forward, input, hx, lengths)

    @classmethod
    def from_config(cls, input_size, config):
        return _from_config(cls, input_size, config)


class LSTM(_TorchRecurrent, nn.LSTM):
    """``torch.nn.LSTM`` with ``forward(input, hx=None, *, lengths=None) -> (output, (h_n, c_n))``."""

    def init_gate_biases_(self):
        """Forget-gate biases start at 1 (Gers et al. 2000; Jozefowicz et al. 2015), so the cell state carries
        information across steps from the start instead of decaying by half each step."""
        hidden = self.hidden_size
        with torch.no_grad():
            for name, param in self.named_parameters():
                if name.startswith("bias_ih"):
                    param[hidden : 2 * hidden].fill_(1.0)  # gate order i, f, g, o


class GRU(_TorchRecurrent, nn.GRU):
    """``torch.nn.GRU`` with ``forward(input, hx=None, *, lengths=None) -> (output, h_n)``."""
