"""Fast paths of the loop cores (DT-RNN / DT(S)-RNN, hence DOT(S)-RNN, sRNN and RNN): same math, fewer and
larger matrix multiplies, and a hand-written backward through time.

The reference implementation is the per-step ``cell`` of each core run by ``deeprnn.models.sequence.scan``;
everything here is tested against it in float64 (outputs and the gradients w.r.t. input, initial state and
every parameter, to 1e-10: tests/test_fast_cores.py).

One recurrent layer of depth L with blocks of sizes S_1..S_L (``DTRNN``; L = 1 is one sRNN layer) runs as:

- before the loop, one GEMM for all steps: P = X [U_1; ..; U_L]^T + b (only U_1 with ``input_to="first"``);
- per step, L GEMMs: h_{t-1} [W_1; S_2; ..; S_L]^T (layer 1 and every shortcut in one), then z^{l-1} W_l^T
  for l = 2..L, each accumulated in place into that step's block of a (T, B, S_1 + .. + S_L) buffer, which
  then holds the activations z^1..z^L of every step (all the backward needs); activations in place;
- backward through time: per step, the same L GEMMs transposed (dz^{l-1} = da^l W_l and
  dh_{t-1} = [da^1 .. da^L] [W_1; S_2; ..; S_L]); after the loop one GEMM per weight over all T * B rows
  (dW = dA^T Z) instead of one small GEMM per step and weight.

L_p and maxout blocks (``POOLED``, intermediate blocks only) keep their pre-activations in that buffer and
their units in one of their own; their derivatives need both, and are computed for all steps at once before
the backward loop (``deeprnn.models.activations.lp_pool_derivatives`` / ``maxout_derivative``).

Step masks (``lengths``) and the DTRNN's per-sequence dropout masks are honoured exactly as in the reference.
Each function here runs one direction of one layer; a bidirectional core's reverse direction runs the same
function on its sequences reversed within their lengths (``deeprnn.models.sequence.run_directions``).
As in fla's ops, everything here takes tensors and names, never modules: the cores gather their own weights
and units (``DTRNN.run_fast``, ``StackedRNN.run_layer_fast``), so a change of their modules is made there.
The layer is a registered operator, ``torch.ops.deeprnn.deep_transition`` (``deep_transition_op``), with a
fake implementation and its backward as a second operator, so torch.compile (fullgraph), torch.export and
torch.jit.trace keep it as one node; eager calls (torch.func.grad/vjp included) run the same kernels through
``FusedFunction``. Not supported (use ``impl="reference"``):
double backward (a one-line error says so), forward-mode AD (jvp) and vmap. docs/pytorch.md has the details.
Which configurations take which path: ``selected_impl`` and docs/performance.md.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deeprnn.models.activations import lp_pool, lp_pool_derivatives, maxout_derivative

IMPLS = ("auto", "reference", "fast")
FAST_ACTIVATIONS = ("tanh", "relu", "sigmoid")  # pointwise units whose derivative is a function of the output
POOLED = ("lp", "maxout")  # units pooling a group of responses: fast in the intermediate blocks of a transition


def unsupported_reason(core) -> str | None:
    """Why ``core`` cannot run the fast path, or None if it can."""
    activations = getattr(core, "activations", None)  # DTRNN; sRNN/RNN are tanh or relu, always supported
    if activations is not None and activations[-1] not in FAST_ACTIVATIONS:
        # the last block is the state: carried across masked steps, fed back through the shortcuts
        return f"{activations[-1]} units in the last block of the transition (the state) have no fused kernel"
    # hooks on the per-step modules (TransitionLayer, units) expect one call per step; the fused loop makes none
    for module in core.modules():
        if module is not core and (module._forward_hooks or module._forward_pre_hooks):
            return "forward hooks on the per-step modules"
    return None


def selected_impl(core) -> str:
    """"fast" or "reference": what ``core.run`` will use. ``impl="auto"`` picks fast whenever supported;
    ``impl="fast"`` on an unsupported configuration is an error rather than a silent fallback."""
    impl = getattr(core, "impl", "auto")
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}; got {impl!r}")
    reason = unsupported_reason(core)
    if impl == "fast" and reason:
        raise ValueError(f"{type(core).__name__}: impl='fast' is not available: {reason}")
    return "reference" if impl == "reference" or reason else "fast"


def set_impl(model: torch.nn.Module, impl: str) -> torch.nn.Module:
    """Set ``impl`` on every loop core inside ``model`` (a core or a head); returns the model."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)}; got {impl!r}")
    for module in model.modules():
        if hasattr(module, "impl"):
            module.impl = impl
    return model


# --- pointwise units: in place on a block of the activation buffer, derivative from the output -------------

# torch's CPU tanh is not vectorised in current builds (about 5 ns per element, 5-10x sigmoid): at batch 32 it
# costs a third to a half of the step's GEMM. tanh(a) = 2 sigmoid(2a) - 1 instead; the 2a is free because the
# weights and bias feeding a tanh block are doubled once per call (exact: a power of two). In float64 this
# matches torch.tanh to ~1e-16 absolute, in float32 to a few ulps.
PRE_SCALE = {"tanh": 2.0, "relu": 1.0, "sigmoid": 1.0, "lp": 1.0, "maxout": 1.0}


def activate(name: str, a: torch.Tensor, out: torch.Tensor, minus_one: torch.Tensor) -> None:
    """out = φ(a) for a pre-activation a scaled by PRE_SCALE (a is overwritten; out may be a). ``minus_one``
    is a tensor -1: a Python scalar operand costs a conversion per call, as much as the arithmetic here."""
    if name == "tanh":
        torch.add(minus_one, a.sigmoid_(), alpha=2.0, out=out)  # -1 + 2s: exact for s >= 1/4 (Sterbenz)
    elif name == "relu":
        torch.clamp_min(a, 0.0, out=out)
    else:
        torch.sigmoid(a, out=out)


def derivative(name: str, z: torch.Tensor, out: torch.Tensor, one: torch.Tensor) -> None:
    """out = dφ/da from z = φ(a), in one pass: the formulas of torch's tanh/relu/sigmoid backward."""
    if name == "tanh":
        torch.addcmul(one, z, z, value=-1.0, out=out)  # 1 - z^2
    elif name == "relu":
        torch.sign(z, out=out)  # z >= 0: 1 where z > 0, else 0
    else:
        torch.addcmul(z, z, z, value=-1.0, out=out)  # z (1 - z)


# --- one deep-transition recurrent layer ------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The static shape of a layer: per-block activations, and which blocks read h_{t-1} and x_t."""

    activations: tuple[str, ...]
    shortcut: bool  # blocks 2..L read h_{t-1} through S_l
    input_to_all: bool  # every block reads x_t (else block 1 only)
    has_bias: bool
    pool_size: int = 2  # group size of the L_p / maxout blocks (intermediate blocks only)

    @property
    def depth(self):
        return len(self.activations)

    @property
    def pooled(self):
        """Indices of the blocks with pooling units."""
        return [l for l, name in enumerate(self.activations) if name in POOLED]

    def split(self, params):
        """(W, S, U, b, units) from the flat parameter tuple (S: blocks 2..L; U: block 1 or all; b or [];
        units: {block: (centres, rho)} of the L_p blocks)."""
        L, params = self.depth, list(params)
        weights_hh, params = params[:L], params[L:]
        num_shortcut = L - 1 if self.shortcut else 0
        weights_shortcut, params = params[:num_shortcut], params[num_shortcut:]
        num_ih = L if self.input_to_all else 1
        weights_ih, params = params[:num_ih], params[num_ih:]
        num_bias = L if self.has_bias else 0
        biases, params = params[:num_bias], params[num_bias:]
        lp_blocks = [l for l, name in enumerate(self.activations) if name == "lp"]
        units = {l: (params[2 * i], params[2 * i + 1]) for i, l in enumerate(lp_blocks)}
        return weights_hh, weights_shortcut, weights_ih, biases, units


def _block_sizes(layout, weights_hh):
    """(rows, units) of each block: a pooling block has ``pool_size`` responses (rows of W_l) per unit."""
    rows = [w.shape[0] for w in weights_hh]
    pooled = set(layout.pooled)
    return rows, [r // layout.pool_size if l in pooled else r for l, r in enumerate(rows)]


def _cat_scaled(weights, names):
    """Rows of ``weights`` stacked, each block multiplied by its unit's pre-scale (see PRE_SCALE)."""
    return torch.cat([w * PRE_SCALE[name] if PRE_SCALE[name] != 1.0 else w for w, name in zip(weights, names)])


def fused_forward(x, h0, step_mask, dropout_masks, layout, params):
    """The fused forward of one deep-transition layer (see the module docstring): returns (output (T, B, S_L),
    h_T (B, S_L), z, states, pooled), the last three being what ``fused_backward`` needs: the activation
    buffer z (T, B, S_1 + .. + S_L), the states h_1..h_T (T, B, S_L) and the units of each pooling block.
    Without a step mask the output is the states themselves.

    ``step_mask`` (T, B, 1) bool or None: past a sequence's length its state is carried and its output is
    zero (h_t = m_t z^L_t + (1 - m_t) h_{t-1}), exactly as ``scan``. ``dropout_masks``: one (B, S_l) mask per
    intermediate block, shared by all steps (the DTRNN's variational dropout), or None.
    """
    weights_hh, weights_shortcut, weights_ih, biases, units = layout.split(params)
    names, L = layout.activations, layout.depth
    T, B, _ = x.shape
    rows, sizes = _block_sizes(layout, weights_hh)
    bounds = [sum(rows[:l]) for l in range(L + 1)]
    R = bounds[-1]
    h_cols = R if layout.shortcut else rows[0]  # columns fed by h_{t-1}
    in_cols = R if layout.input_to_all else rows[0]  # columns fed by x_t

    # transposed once per call into contiguous copies: MKL's small GEMM is a few % faster on untransposed
    # operands, and .t() inside the loop would cost a dispatcher call per step
    w_h = _cat_scaled([weights_hh[0], *weights_shortcut], names).t().contiguous()
    w_in = _cat_scaled(weights_ih, names if layout.input_to_all else names[:1]).t()
    w_below = [None] + [(w * PRE_SCALE[n]).t().contiguous() for w, n in zip(weights_hh[1:], names[1:])]
    minus_one = x.new_full((1,), -1.0)

    z = x.new_empty(T, B, R)  # pre-activations, then activations z^1..z^L of every step (pooling blocks:
    # their pre-activations stay, the units' outputs go to a buffer of their own)
    if layout.has_bias:
        z.copy_(_cat_scaled(biases, names))
    else:
        z.zero_()
    z.view(T * B, R)[:, :in_cols].addmm_(x.reshape(T * B, -1), w_in)  # input projection of all steps at once

    states = x.new_empty(T, B, sizes[-1])  # h_1..h_T: the output itself without a step mask
    # per-step views made once: unbind is one call, slicing in the loop would be T calls per block
    h = [h0, *states.unbind(0)]  # h[t] = h_{t-1} of step t (0-based)
    z_h = z[:, :, :h_cols].unbind(0)
    blocks = [z[:, :, bounds[l]:bounds[l + 1]].unbind(0) for l in range(L)]
    dropped = [x.new_empty(B, s) for s in sizes[:-1]] if dropout_masks is not None else None
    masks = step_mask.unbind(0) if step_mask is not None else None
    pooled = {l: x.new_empty(T, B, sizes[l]) for l in layout.pooled}
    pooled_steps = {l: buffer.unbind(0) for l, buffer in pooled.items()}
    orders = {l: 1.0 + F.softplus(rho) for l, (_, rho) in units.items()}  # p of each L_p block

    for t in range(T):
        z_h[t].addmm_(h[t], w_h)  # W_1 h_{t-1} and every S_l h_{t-1}: one GEMM
        below = None
        for l in range(L - 1):
            block = blocks[l][t]
            if l:
                block.addmm_(below, w_below[l])
            if l in pooled:
                out = pooled_steps[l][t]
                if names[l] == "lp":
                    out.copy_(lp_pool(block, units[l][0], orders[l]))
                else:
                    torch.amax(block.unflatten(-1, (sizes[l], layout.pool_size)), -1, out=out)
            else:
                activate(names[l], block, block, minus_one)
                out = block
            below = out if dropped is None else torch.mul(out, dropout_masks[l], out=dropped[l])
        block = blocks[L - 1][t]
        if L > 1:
            block.addmm_(below, w_below[L - 1])
        if masks is None:
            activate(names[L - 1], block, h[t + 1], minus_one)  # h_t straight into the state buffer
        else:
            activate(names[L - 1], block, block, minus_one)
            torch.where(masks[t], block, h[t], out=h[t + 1])

    output = states if step_mask is None else z[:, :, bounds[-2]:] * step_mask
    return output, h[T].clone(), z, states, list(pooled.values())


def fused_backward(grad_output, grad_hn, x, h0, z, states, pooled, step_mask, dropout_masks, layout, params,
                   need_x=True, need_h0=True):
    """The hand-written backward through time of ``fused_forward``: (dLoss/dx or None, dLoss/dh0 or None,
    [dLoss/dparam for each of ``params``]) from the gradients of its output and h_T and what it saved."""
    pooled = dict(zip(layout.pooled, pooled))
    weights_hh, weights_shortcut, weights_ih, biases, units = layout.split(params)
    names, L, k = layout.activations, layout.depth, layout.pool_size
    T, B, R = z.shape
    rows, sizes = _block_sizes(layout, weights_hh)
    bounds = [sum(rows[:l]) for l in range(L + 1)]
    h_cols = R if layout.shortcut else rows[0]
    in_cols = R if layout.input_to_all else rows[0]
    w_h = torch.cat([weights_hh[0], *weights_shortcut])
    w_in = torch.cat(weights_ih)
    z_blocks = [z[:, :, bounds[l]:bounds[l + 1]] for l in range(L)]
    if step_mask is None:  # the forward wrote z^L into the states only
        z_blocks[-1] = states
    outputs = [pooled.get(l, z_blocks[l]) for l in range(L)]  # each block's units, as the next block reads

    # dφ/da of every block and step in one batched pass each; the step mask and the dropout masks folded
    # in, so the loop needs a single multiply per block. The loop then overwrites it with dLoss/da, step
    # by step (one buffer instead of two: less memory traffic).
    deriv = grad_a = torch.empty_like(z)
    one = z.new_ones(1)
    order_derivs = {}  # dy/dp of the L_p blocks, for the gradient of their orders
    for l in range(L):
        block = deriv[:, :, bounds[l]:bounds[l + 1]]
        if l in pooled:  # dy/dz per response: (T, B, units, k), times dLoss/dy in the loop
            block = block.unflatten(-1, (sizes[l], k))
            if names[l] == "lp":
                centres, rho = units[l]
                d_z, order_derivs[l] = lp_pool_derivatives(z_blocks[l], pooled[l], centres, 1.0 + F.softplus(rho))
            else:
                d_z = maxout_derivative(z_blocks[l], pooled[l], sizes[l], k)
            block.copy_(d_z)
            if dropout_masks is not None:
                block.mul_(dropout_masks[l].unsqueeze(-1))
            continue
        derivative(names[l], z_blocks[l], block, one)
        if dropout_masks is not None and l < L - 1:
            block.mul_(dropout_masks[l])
    if step_mask is not None:
        deriv[:, :, bounds[-2]:].mul_(step_mask)
        carry = (~step_mask).to(z.dtype).unbind(0)  # dh_{t-1} += (1 - m_t) dh_t

    grad_blocks = [grad_a[:, :, bounds[l]:bounds[l + 1]].unbind(0) for l in range(L)]
    grad_h_cols = grad_a[:, :, :h_cols].unbind(0)
    grad_out = grad_output.unbind(0)
    grad_below = [z.new_empty(B, s) for s in sizes[:-1]]
    grad_unit_outputs = {l: z.new_empty(T, B, sizes[l]) for l in order_derivs}  # dLoss/d(y m), kept for dp
    grad_unit_steps = {l: buffer.unbind(0) for l, buffer in grad_unit_outputs.items()}
    # g: dLoss/dh_t through the recurrence (and, without a step mask, through output t as well)
    if step_mask is None:
        g = grad_hn + grad_out[T - 1]
    else:
        g, total = grad_hn.clone(memory_format=torch.contiguous_format), torch.empty_like(grad_hn)

    for t in range(T - 1, -1, -1):
        if step_mask is not None:
            total = torch.add(g, grad_out[t], out=total)
        else:
            total = g
        grad_blocks[L - 1][t].mul_(total)
        for l in range(L - 1, 0, -1):
            below = l - 1
            grad_y = grad_unit_steps[below][t] if below in grad_unit_steps else grad_below[below]
            torch.mm(grad_blocks[l][t], weights_hh[l], out=grad_y)
            if below in pooled:
                grad_blocks[below][t].unflatten(-1, (sizes[below], k)).mul_(grad_y.unsqueeze(-1))
            else:
                grad_blocks[below][t].mul_(grad_y)
        if step_mask is not None:
            g.mul_(carry[t]).addmm_(grad_h_cols[t], w_h)
        elif t:
            torch.addmm(grad_out[t - 1], grad_h_cols[t], w_h, out=g)  # adds output t-1's gradient for free
        else:
            torch.mm(grad_h_cols[t], w_h, out=g)

    # weight gradients: one GEMM per matrix over all T * B rows (h_0 alone is one more tiny GEMM)
    grad_a_flat = grad_a.view(T * B, R)
    grad_w_h = torch.addmm(grad_a[0, :, :h_cols].t().mm(h0), grad_a_flat[B:, :h_cols].t(),
                           states[:-1].reshape(-1, sizes[-1]))
    grad_hh = [grad_w_h[:rows[0]]]
    for l in range(1, L):
        below = outputs[l - 1] if dropout_masks is None else outputs[l - 1] * dropout_masks[l - 1]
        grad_hh.append(grad_a_flat[:, bounds[l]:bounds[l + 1]].t().mm(below.reshape(T * B, -1)))
    grad_shortcut = list(grad_w_h[rows[0]:].split(rows[1:])) if layout.shortcut else []
    grad_ih = grad_a_flat[:, :in_cols].t().mm(x.reshape(T * B, -1)).split(rows[:len(weights_ih)])
    grad_bias = grad_a_flat.sum(0).split(rows) if layout.has_bias else []
    grad_units = []
    for l, (centres, rho) in units.items():  # dy/dc = -dy/dz; dp/drho = sigmoid(rho)
        grad_units.append(-grad_a[:, :, bounds[l]:bounds[l + 1]].sum((0, 1)).view_as(centres))
        grad_y = grad_unit_outputs[l]
        if dropout_masks is not None:  # the next block read y m
            grad_y = grad_y * dropout_masks[l]
        grad_units.append((grad_y * order_derivs[l]).sum((0, 1)) * torch.sigmoid(rho))
    grad_x = grad_a_flat[:, :in_cols].mm(w_in).view_as(x) if need_x else None
    return grad_x, g if need_h0 else None, [*grad_hh, *grad_shortcut, *grad_ih, *grad_bias, *grad_units]


# --- the fused layer as a registered operator ---------------------------------------------------------------
# torch.library custom ops: torch.compile, torch.export and torch.jit.trace see one node per layer and direction
# (its fake implementation gives the output shapes, symbolic in T) and, for the backward, a second operator, so a
# compiled training step keeps the hand-written backward too. Eager calls take ``FusedFunction``. Both run the
# functions above, so results are those of the autograd.Function this replaced, bit for bit.

LAYOUT_SCHEMA = "str activations, bool shortcut, bool input_to_all, bool has_bias, int pool_size"
DOUBLE_BACKWARD = ("the fused recurrence (deeprnn.models.fast) has no double backward: build the model with "
                   "impl=\"reference\" (or deeprnn.models.fast.set_impl(model, \"reference\")) for "
                   "second-order gradients")


def _layout(activations, shortcut, input_to_all, has_bias, pool_size):
    """The ``Layout`` from the operators' arguments (the units' names joined by commas: one string, which
    TorchScript's tracer can record, unlike a list of strings)."""
    return Layout(tuple(activations.split(",")), shortcut, input_to_all, has_bias, pool_size)


def _without_autocast(device_type):
    """The kernels run in their inputs' dtype: an enclosing autocast region must not lower their GEMMs."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _distinct(tensors):
    """``tensors`` with every one that shares storage with an earlier one copied: an operator's outputs may
    not alias each other (the weight gradients are slices of one GEMM's result)."""
    seen, result = set(), []
    for t in tensors:
        key = t.untyped_storage().data_ptr()
        result.append(t.clone() if key in seen else t)
        seen.add(key)
    return result


@torch.library.custom_op("deeprnn::deep_transition", mutates_args=(), schema=(
    "(Tensor x, Tensor h0, Tensor? step_mask, Tensor[] dropout_masks, Tensor[] params, " + LAYOUT_SCHEMA +
    ") -> (Tensor, Tensor, Tensor, Tensor, Tensor[])"))
def deep_transition_op(x, h0, step_mask, dropout_masks, params, activations, shortcut, input_to_all, has_bias,
                       pool_size):
    """(output, h_T, z, states, pooled) of ``fused_forward``; ``states`` is empty without a step mask (the
    output is the states then). ``dropout_masks`` [] for none."""
    layout = _layout(activations, shortcut, input_to_all, has_bias, pool_size)
    with _without_autocast(x.device.type):
        output, h_n, z, states, pooled = fused_forward(x, h0, step_mask, dropout_masks or None, layout, params)
    return output, h_n, z, states if step_mask is not None else states.new_empty(0), pooled


@deep_transition_op.register_fake
def _(x, h0, step_mask, dropout_masks, params, activations, shortcut, input_to_all, has_bias, pool_size):
    layout = _layout(activations, shortcut, input_to_all, has_bias, pool_size)
    rows, sizes = _block_sizes(layout, params[:layout.depth])
    T, B, _ = x.shape
    states = x.new_empty(T, B, sizes[-1])
    return (x.new_empty(T, B, sizes[-1]), x.new_empty(B, sizes[-1]), x.new_empty(T, B, sum(rows)),
            states if step_mask is not None else x.new_empty(0),
            [x.new_empty(T, B, sizes[l]) for l in layout.pooled])


@torch.library.custom_op("deeprnn::deep_transition_backward", mutates_args=(), schema=(
    "(Tensor grad_output, Tensor grad_hn, Tensor x, Tensor h0, Tensor z, Tensor states, Tensor[] pooled, "
    "Tensor? step_mask, Tensor[] dropout_masks, Tensor[] params, " + LAYOUT_SCHEMA +
    ", bool need_x, bool need_h0) -> (Tensor, Tensor, Tensor[])"))
def deep_transition_backward_op(grad_output, grad_hn, x, h0, z, states, pooled, step_mask, dropout_masks, params,
                                activations, shortcut, input_to_all, has_bias, pool_size, need_x, need_h0):
    """(dLoss/dx, dLoss/dh0, [dLoss/dparam]) of ``fused_backward``; a gradient not needed is empty."""
    layout = _layout(activations, shortcut, input_to_all, has_bias, pool_size)
    with _without_autocast(x.device.type):
        grad_x, grad_h0, grads = fused_backward(grad_output, grad_hn, x, h0, z, states, pooled, step_mask,
                                                dropout_masks or None, layout, params, need_x, need_h0)
    empty = x.new_empty(0)
    return grad_x if need_x else empty, grad_h0 if need_h0 else empty.clone(), _distinct(grads)


@deep_transition_backward_op.register_fake
def _(grad_output, grad_hn, x, h0, z, states, pooled, step_mask, dropout_masks, params, activations, shortcut,
      input_to_all, has_bias, pool_size, need_x, need_h0):
    # contiguous, as the kernel's results, whatever the strides of x, h0 and the parameters
    return (x.new_empty(x.shape if need_x else 0), h0.new_empty(h0.shape if need_h0 else 0),
            [p.new_empty(p.shape) for p in params])


def _setup_context(ctx, inputs, output):
    x, h0, step_mask, dropout_masks, params, *layout = inputs
    out, _, z, states, pooled = output
    ctx.set_materialize_grads(False)  # z, states and pooled are outputs only to be saved: no zeros for them
    ctx.layout, ctx.num_pooled = layout, len(pooled)
    ctx.has_mask, ctx.num_dropout = step_mask is not None, len(dropout_masks)
    ctx.save_for_backward(x, h0, z, states if step_mask is not None else out, *pooled, *dropout_masks, *params,
                          *([step_mask] if step_mask is not None else []))


def _backward(ctx, grad_output, grad_hn, *unused):
    x, h0, z, states, *rest = ctx.saved_tensors
    pooled, rest = rest[:ctx.num_pooled], rest[ctx.num_pooled:]
    dropout_masks, rest = rest[:ctx.num_dropout], rest[ctx.num_dropout:]
    params, step_mask = (rest[:-1], rest[-1]) if ctx.has_mask else (rest, None)
    # what autograd.Function's default (materialised gradients) gave: zeros for an unused output
    grad_output = torch.zeros_like(states) if grad_output is None else grad_output
    grad_hn = torch.zeros_like(h0) if grad_hn is None else grad_hn
    need_x, need_h0 = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    grad_x, grad_h0, grads = deep_transition_backward_op(
        grad_output, grad_hn, x, h0, z, states, pooled, step_mask, dropout_masks, params, *ctx.layout,
        need_x, need_h0)
    return (grad_x if need_x else None, grad_h0 if need_h0 else None, None, [None] * len(dropout_masks), grads,
            None, None, None, None, None)


def _refuse_double_backward(ctx, *grads):
    raise RuntimeError(DOUBLE_BACKWARD)


deep_transition_op.register_autograd(_backward, setup_context=_setup_context)
deep_transition_backward_op.register_autograd(_refuse_double_backward, setup_context=lambda ctx, inputs, output: None)


class FusedFunction(torch.autograd.Function):
    """The eager route to the same kernels: one Python call less than the operator's dispatch (about 0.2 ms per
    layer and direction per training step), and what torch.func transforms (``grad``, ``vjp``) need, an
    autograd.Function with ``setup_context`` (a torch.library operator's has none). torch.compile, torch.export
    and torch.jit.trace see the operator instead (``fused_apply``). The activation buffer, the states and the
    pooling blocks' units are outputs only to be saved for the backward."""

    @staticmethod
    def forward(x, h0, step_mask, dropout_masks, layout, *params):
        with _without_autocast(x.device.type):
            output, h_n, z, states, pooled = fused_forward(x, h0, step_mask, dropout_masks or None, layout, params)
        return output, h_n, z, states if step_mask is not None else None, *pooled

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, h0, step_mask, dropout_masks, layout, *params = inputs
        residuals = [t for t in output[2:] if t is not None]
        ctx.mark_non_differentiable(*residuals)
        ctx.set_materialize_grads(False)
        ctx.layout, ctx.dropout_masks, ctx.step_mask = layout, dropout_masks, step_mask
        states = output[3] if step_mask is not None else output[0]
        ctx.save_for_backward(x, h0, output[2], states, *output[4:], *params)

    @staticmethod
    def backward(ctx, grad_output, grad_hn, *unused):
        x, h0, z, states, *rest = ctx.saved_tensors
        num_pooled = len(ctx.layout.pooled)
        pooled, params = rest[:num_pooled], rest[num_pooled:]
        grad_output = torch.zeros_like(states) if grad_output is None else grad_output
        grad_hn = torch.zeros_like(h0) if grad_hn is None else grad_hn
        need_x, need_h0 = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch._C._are_functorch_transforms_active():  # wrapped tensors: through the operator, not recorded
            with torch.no_grad():
                grad_x, grad_h0, grads = deep_transition_backward_op(
                    grad_output, grad_hn, x, h0, z, states, list(pooled), ctx.step_mask, list(ctx.dropout_masks),
                    list(params), *_op_layout(ctx.layout), need_x, need_h0)
        else:
            with _without_autocast(x.device.type), torch.no_grad():
                grad_x, grad_h0, grads = fused_backward(grad_output, grad_hn, x, h0, z, states, pooled, ctx.step_mask,
                                                        ctx.dropout_masks or None, ctx.layout, params, need_x, need_h0)
            if torch.is_grad_enabled():  # create_graph=True: these gradients must not be differentiated again
                grad_x, grad_h0, *grads = _RefuseDoubleBackward.apply(1 + len(params), grad_output, *params,
                                                                      grad_x, grad_h0, *grads)
        return grad_x if need_x else None, grad_h0 if need_h0 else None, None, None, None, *grads


class _RefuseDoubleBackward(torch.autograd.Function):
    """Identity on the fused backward's gradients, tied into the graph by ``num_anchors`` tensors before them
    (the incoming gradient and the parameters); its own backward raises ``DOUBLE_BACKWARD``."""

    @staticmethod
    def forward(ctx, num_anchors, *tensors):
        return tuple(g.clone() if g is not None else None for g in tensors[num_anchors:])

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(DOUBLE_BACKWARD)


def _op_layout(layout):
    return ",".join(layout.activations), layout.shortcut, layout.input_to_all, layout.has_bias, layout.pool_size


def fused_apply(x, h0, step_mask, dropout_masks, layout, *params):
    """(output (T, B, S_L), h_T (B, S_L)) of one deep-transition layer on the fused path: the registered
    operator ``torch.ops.deeprnn.deep_transition`` while torch.compile, torch.export or torch.jit.trace traces,
    else ``FusedFunction`` (the same kernels); ``dropout_masks`` None or one (B, S_l) mask per intermediate
    block."""
    dropout_masks = list(dropout_masks or ())
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        output, h_n, *_ = deep_transition_op(x, h0, step_mask, dropout_masks, list(params), *_op_layout(layout))
    else:
        output, h_n, *_ = FusedFunction.apply(x, h0, step_mask, dropout_masks, layout, *params)
    return output, h_n


def deep_transition(x, h0, weights_hh, weights_shortcut, weights_ih, biases, activations, step_mask=None,
                    dropout_masks=None, units=(), pool_size=2):
    """Functional form: see ``fused_forward``. ``weights_shortcut`` is [] or S_2..S_L;
    ``weights_ih`` is [U_1] or U_1..U_L; ``biases`` is [] or b_1..b_L; ``units``: (centres, rho) of each
    L_p block in order; ``pool_size``: the group size of the L_p and maxout blocks. Inside an autocast region
    the recurrence runs in the weights' dtype (docs/pytorch.md), x and h0 are cast to it."""
    layout = Layout(tuple(activations), shortcut=bool(weights_shortcut),
                    input_to_all=len(weights_ih) == len(activations), has_bias=bool(biases), pool_size=pool_size)
    params = (*weights_hh, *weights_shortcut, *weights_ih, *biases, *(p for pair in units for p in pair))
    dtype = weights_hh[0].dtype  # e.g. a bfloat16 input from an autocast region: the loop runs in the weights' type
    return fused_apply(x.to(dtype), h0.to(dtype), step_mask, dropout_masks, layout, *params)
