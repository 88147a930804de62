"""torch.nn.RNN's calling conventions, in one place for every core.

``input`` is (T, B, features), or (B, T, features) with ``batch_first``, or a ``PackedSequence``; the
optional ``lengths`` (B,) gives each sequence's valid steps. Cores run time-major, padded tensors with a
step mask; this module converts to that form and back.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from deeprnn.models import fast


def check_input_size(input, input_size: int, owner: str) -> None:
    data = input.data if isinstance(input, PackedSequence) else input
    if data.dim() == 0 or data.shape[-1] != input_size:
        got = data.shape[-1] if data.dim() else "a scalar"
        raise ValueError(f"{owner}: expected input size {input_size}, got {got}")


def check_lengths(lengths, batch_size: int, max_length: int) -> torch.Tensor:
    """``lengths`` as a CPU int64 tensor, checked against the batch: 1 <= length <= T for each sequence."""
    lengths = torch.as_tensor(lengths).to("cpu", torch.int64).reshape(-1)
    if lengths.numel() != batch_size:
        raise ValueError(f"lengths has {lengths.numel()} entries for a batch of {batch_size}")
    # a check of the values: data-dependent, so skipped while torch.compile or torch.export traces
    if lengths.numel() and not torch.compiler.is_compiling() and (lengths.min() < 1 or lengths.max() > max_length):
        raise ValueError(f"lengths must lie in [1, {max_length}], got {lengths.tolist()}")
    return lengths


def check_dtype(x, module) -> None:
    """torch.nn.RNN's check: a floating input of another dtype than the weights is an error, except inside an
    autocast region (where the fused path runs in the weights' dtype: docs/pytorch.md)."""
    weight = next(module.parameters(), None)
    if weight is None or x.dtype == weight.dtype or torch.is_autocast_enabled(x.device.type):
        return
    raise ValueError(f"{type(module).__name__} input dtype ({x.dtype}) does not match weight dtype ({weight.dtype}). "
                     f"Convert input: input.to({weight.dtype}), or convert model: model.to({x.dtype})")


def to_time_major(input, batch_first: bool, lengths):
    """(x, lengths): x a padded (T, B, features) tensor; lengths None when every step is valid."""
    if isinstance(input, PackedSequence):
        if lengths is not None:
            raise ValueError("pass lengths or a PackedSequence, not both")
        return pad_packed_sequence(input)  # batch in the caller's original order
    if input.dim() != 3:
        layout = "(B, T, features)" if batch_first else "(T, B, features)"
        raise ValueError(f"expected a 3-D input {layout} or a 2-D unbatched one (T, features), "
                         f"got shape {tuple(input.shape)}")
    x = input.transpose(0, 1) if batch_first else input
    if lengths is not None:
        lengths = check_lengths(lengths, x.shape[1], x.shape[0])
    return x, lengths


def from_time_major(output, input, lengths, batch_first: bool):
    """Give ``output`` (T, B, H) the layout of ``input``: batch-first, time-major or packed like it."""
    if isinstance(input, PackedSequence):
        order = input.sorted_indices
        if order is not None:  # pack in the input's sorted order, so batch_sizes and indices carry over
            output, lengths = output.index_select(1, order), lengths[order.cpu()]
        return input._replace(data=pack_padded_sequence(output, lengths).data)
    return output.transpose(0, 1) if batch_first else output


def step_mask(lengths, max_length: int, device) -> torch.Tensor | None:
    """(T, B, 1) booleans, True where step t is within sequence b; None without lengths."""
    if lengths is None:
        return None
    return (torch.arange(max_length)[:, None] < lengths[None, :]).unsqueeze(-1).to(device)


def scan(cell, x, h0, mask):
    """Run ``h_t = cell(x_t, h_{t-1})`` over t = 1..T from ``h0``: returns (outputs (T, B, H), h_T).

    Past a sequence's length (``mask`` False) its state stops updating, so h_T is the state at its last
    valid step, and its output is zero. While torch.export traces, the loop is torch's scan (one node for any
    T, so the exported program keeps a dynamic sequence length); otherwise a Python loop.
    """
    if torch.compiler.is_exporting():
        return scan_op(cell, x, h0, mask)
    h, outputs = h0, []
    for t in range(x.shape[0]):
        h_new = cell(x[t], h)
        if mask is not None:
            h_new, h = torch.where(mask[t], h_new, 0.0), torch.where(mask[t], h_new, h)
        else:
            h = h_new
        outputs.append(h_new)
    return torch.stack(outputs), h


def scan_op(cell, x, h0, mask):
    """``scan`` as torch's scan operator (``torch._higher_order_ops.scan``): the same steps and results."""
    from torch._higher_order_ops.scan import scan as torch_scan

    def step(h, inputs):
        x_t, m_t = inputs
        h_new = cell(x_t, h)
        if mask is None:
            return h_new, h_new.clone()  # a scan's output may not alias its carry
        return torch.where(m_t, h_new, h), torch.where(m_t, h_new, 0.0)

    steps = mask if mask is not None else torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    h, outputs = torch_scan(step, h0, (x, steps))
    return outputs, h


def reverse_within_lengths(x, mask):
    """``x`` (T, B, ...) with each sequence's real steps in reverse order: step t of sequence b becomes step
    L_b - 1 - t, so the reversed sequence starts at its own last real step; steps past L_b stay where they
    are. Its own inverse. ``mask``: the (T, B, 1) step mask, or None when every step is real."""
    if mask is None:
        return x.flip(0)
    steps = torch.arange(x.shape[0], device=x.device)[:, None]
    lengths = mask[:, :, 0].sum(0)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (T, B)
    return x.gather(0, index.view(*index.shape, *[1] * (x.dim() - 2)).expand_as(x))


def run_directions(run_direction, x, h0s, mask):
    """Both directions of a bidirectional layer, as torch.nn.RNN runs them (one direction if ``h0s`` has one
    state): ``run_direction(d, x, h0) -> (output, h_last)`` runs direction d's weights forward in time; the
    reverse direction (d = 1) reads each sequence reversed within its length, and its output is put back in
    time order. Returns (outputs concatenated on the last dim, [h_last of each direction])."""
    outputs, finals = [], []
    for d, h0 in enumerate(h0s):
        if d == 0:
            output, h_last = run_direction(0, x, h0)
        else:
            output, h_last = run_direction(d, reverse_within_lengths(x, mask), h0)
            output = reverse_within_lengths(output, mask)
        outputs.append(output)
        finals.append(h_last)
    return (outputs[0] if len(outputs) == 1 else torch.cat(outputs, -1)), finals


ROLES = ("recurrent", "input", "bias", "own")  # what init_weights does with a core parameter (CoreProtocol)


class CoreProtocol:
    """What the tools read of a core instead of its class or its parameter names (init, diagnose, gradflow).

    - ``output_units``: the nonlinearity that produces h_t ("tanh", "relu", "sigmoid", ...; diagnose measures
      its saturation);
    - ``parameter_roles()``: each parameter (by its name in the core) with its role for ``init_weights``:
      "recurrent" (a matrix on the path h_{t-1} -> h_t, set block by block), "input" (any other matrix), "bias"
      (zero) or "own" (kept as built); the defaults follow torch.nn.RNN's names;
    - ``init_gate_biases_()``: called by ``init_weights`` after a scheme has set every parameter (gates that
      start open or closed: LSTM forget gates, RHN transform gates);
    - ``has_step`` and ``step(x_t, h, direction=0)``: one step of a core with a single state tensor;
    - ``parameter_layer(name)``: the layer a parameter belongs to (gradflow's per-layer norms).
    """

    output_units = "tanh"
    has_step = False

    def parameter_roles(self) -> dict[str, str]:
        return {name: _torch_role(name) for name, _ in self.named_parameters()}

    def init_gate_biases_(self) -> None:
        return None

    def step(self, x_t, h, direction=0):
        raise NotImplementedError(f"{type(self).__name__} has no single step on one state tensor")

    def parameter_layer(self, name: str) -> int:
        """``…_l{k}``: layer k, as torch.nn.RNN names it."""
        found = re.search(r"_l(\d+)$", name)
        return int(found.group(1)) if found else 0


def _torch_role(name: str) -> str:
    leaf = name.rpartition(".")[2]
    if leaf.startswith("bias"):
        return "bias"
    if leaf.startswith(("weight_hh", "weight_shortcut")):
        return "recurrent"
    return "input" if leaf.startswith("weight") else "own"


def unseen_by_fast_path(core: nn.Module, handed) -> list[str]:
    """The names of ``core``'s parameters that are not among the tensors ``handed`` to the fused op."""
    seen = {id(tensor) for tensor in handed}
    return [name for name, param in core.named_parameters() if id(param) not in seen]


def select_impl(core: nn.Module, handed) -> str:
    """``fast.selected_impl(core)``, once the fast path is shown to see every parameter of ``core``: with one
    it does not see, "auto" runs the reference path and "fast" is an error."""
    unseen = unseen_by_fast_path(core, handed)
    if unseen and getattr(core, "impl", "auto") != "reference":
        if core.impl == "fast":
            raise ValueError(f"{type(core).__name__}: impl='fast' is not available: the fused op does not see "
                             f"{', '.join(unseen)}")
        return "reference"
    return fast.selected_impl(core)


class RecurrentCore(CoreProtocol, nn.Module):
    """Base class of the loop-based cores: ``forward(input, hx=None, *, lengths=None) -> (output, h_n)``.

    Subclasses set ``input_size``, ``hidden_size``, ``num_layers``, ``batch_first`` and ``bidirectional``
    and implement ``run(x, hx, mask)`` on a time-major padded input x (T, B, input_size) and a state hx
    (num_layers * num_directions, B, hidden_size), returning the top layer's states
    (T, B, num_directions * hidden_size) and h_n, laid out as in torch.nn.RNN (layer-major: layer 0 forward,
    layer 0 reverse, layer 1 forward, ...).
    """

    bidirectional = False

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def forward(self, input, hx=None, *, lengths=None):
        check_input_size(input, self.input_size, type(self).__name__)
        if not isinstance(input, PackedSequence) and input.dim() == 2:
            return self.forward_unbatched(input, hx, lengths)
        x, lengths = to_time_major(input, self.batch_first, lengths)
        check_dtype(x, self)
        state_shape = (self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
        if hx is None:
            hx = x.new_zeros(state_shape)
        elif tuple(hx.shape) != state_shape:
            raise ValueError(f"{type(self).__name__}: expected hx of shape {state_shape}, "
                             f"got {tuple(hx.shape)}")
        output, h_n = self.run(x, hx, step_mask(lengths, x.shape[0], x.device))
        return from_time_major(output, input, lengths, self.batch_first), h_n

    def forward_unbatched(self, input, hx, lengths):
        """A 2-D (T, features) input, as torch.nn.RNN takes it: a batch of one (``batch_first`` is ignored);
        ``hx`` then is (num_layers * num_directions, hidden_size), and so is h_n."""
        if hx is not None and hx.dim() != 2:
            raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D tensor")
        batch_dim = 0 if self.batch_first else 1
        output, h_n = self.forward(input.unsqueeze(batch_dim), None if hx is None else hx.unsqueeze(1),
                                   lengths=lengths)
        return output.squeeze(batch_dim), h_n.squeeze(1)

    def run(self, x, hx, mask):
        raise NotImplementedError
