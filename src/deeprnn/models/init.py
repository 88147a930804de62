"""Weight initialisation schemes, applied by ``build_model(init=...)``.

Modules are built with torch-style initialisation (torch's own for RNN/sRNN/LSTM/GRU, nn.Linear and
nn.Embedding; torch.nn.RNN's U(-1/sqrt(H), 1/sqrt(H)) for the deep transition). ``init_weights`` then
re-initialises a model by parameter role:

- recurrent matrices: every matrix on the path h_{t-1} -> h_t, i.e. ``weight_hh*`` (torch cores; the W_l
  of a deep transition) and ``weight_shortcut`` (the S_l of a DT(S)-RNN);
- other weight matrices: input-to-hidden ``weight_ih*`` and the heads' linear maps;
- biases (``bias*``): zero, for every scheme except "torch", then each core sets its gates
  (``init_gate_biases_``: LSTM forget gates start open, bias 1);
- embeddings: U(-0.1, 0.1);
- L_p units keep their own initialisation (centres 0, p = 2).

A core's parameters take the role the core gives them (``parameter_roles``, the core protocol in
``deeprnn.models.sequence``); the names above are the roles' defaults, which the heads' parameters follow.

A bidirectional core's reverse direction (``*_reverse``, a DTRNN's ``layers_reverse``) has the same names,
so the same roles.

Schemes:

- ``"orthogonal"`` (default): recurrent matrices orthogonal, times ``spectral_radius`` (default 1: every
  eigenvalue on the unit circle), other matrices Xavier-uniform. A matrix whose row count is a multiple of
  its column count (gate-stacked LSTM/GRU matrices, pooled units) is set block by block, so each square
  block is orthogonal. Why a radius below 1 can be needed: on sparse inputs such as piano-rolls the units
  start near their linear regime, where a DT(S) step's Jacobian is about W_2 W_1 + S_2, a sum of two
  orthogonal matrices, whose spectral radius exceeds 1; over Piano-midi's 1,000-3,800-frame pieces the
  gradient then explodes at initialisation (``deeprnn gradflow --models dts-rnn --depths 2 --lengths
  200,1000,3000 --hidden 300 --dataset pianomidi``: ‖∂L/∂h_1‖ 2e3, 9e13, 8e37). Measured on 8 Piano-midi
  windows at T = 200 / 1000 (hidden 300): radius 1: 2e3 / 9e13, 0.9: 7 / 1.5, 0.8: 2e-3 / 2e-15 (vanishing).
- ``"sparse"`` (Martens 2010): each row gets ``sparse_nonzeros`` non-zero entries drawn from N(0, 1) at
  random columns, all others zero; each recurrent block is then rescaled to spectral radius
  ``spectral_radius`` (its largest |eigenvalue|; its largest singular value if the block is not square).
  This is not the authors' scheme (that is "groundhog"): scaling the eigenvalues leaves the largest singular
  value, which bounds the gain, at about 2-3 times the radius.
- ``"groundhog"`` (the authors' code, pascanur/GroundHog; see ``groundhog_`` and docs/models.md): recurrent
  matrices by GroundHog's ``sample_weights`` (per input unit, ``sparse_nonzeros`` uniform values at random
  outputs, normalised to unit norm; then the whole matrix divided by its largest singular value and times
  ``spectral_radius``, GroundHog's ``rec_scale``); input, embedding and read-out matrices N(0, 0.1), dense
  (``sample_weights_classic`` at its tutorial's ``inp_scale``/``out_scale``); deep-output layers
  ``sample_weights`` at scale 1 on the part reading h_t and ``sample_weights_classic`` N(0, 1) with
  ``sparse_nonzeros`` entries on the part reading x_t (its DOT-RNN tutorial's ``dout_*``); biases zero. The
  shortcut matrices are not rebalanced with depth (GroundHog gives each its own largest singular value).
- ``"torch"``: keep the construction-time initialisation.

Then, with ``transition_gain`` (any scheme; ``set_transition_gain_``), the matrices of a deep transition
that read h_{t-1} (W_1 and the shortcuts S_l) are scaled by one common factor so that the step Jacobian
∂h_t/∂h_{t-1} at x_t = 0, h_{t-1} = 0 has that largest singular value (``step_gain``).

For "orthogonal" and "sparse", the L - 1 shortcut matrices of a DT(S) transition of depth L are scaled by
(L - 1)^(-1/3) so that gradients neither explode nor vanish with depth at initialisation (see
``_balance_shortcut``).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from deeprnn.models.checks import check_choice, check_positive
from deeprnn.models.dtrnn import DTRNN
from deeprnn.models.heads import SequenceModel

INIT_SCHEMES = ("orthogonal", "sparse", "groundhog", "torch")
# The default of ``transition_gain`` for new models (build_model, model.transition_gain); chosen by validation
# probes on music and text (docs/models.md, "Initialisation by gain").
TRANSITION_GAIN = 0.6
RECURRENT = ("weight_hh", "weight_shortcut")  # the matrices on the path h_{t-1} -> h_t
GROUNDHOG_INPUT_STD = 0.1  # GroundHog's DOT-RNN tutorial: inp_scale = out_scale = 0.1 (sample_weights_classic)


def _blocks(weight):
    """Square row blocks of a (k * n, n) matrix; the whole matrix otherwise."""
    rows, columns = weight.shape
    return weight.split(columns) if rows % columns == 0 else (weight,)


def sparse_(weight, nonzeros):
    """Each row of ``weight``: ``nonzeros`` N(0, 1) entries at random columns, zeros elsewhere."""
    rows, columns = weight.shape
    nonzeros = min(nonzeros, columns)
    values = torch.zeros(rows, columns, dtype=torch.float64)
    for row in range(rows):
        values[row, torch.randperm(columns)[:nonzeros]] = torch.randn(nonzeros, dtype=torch.float64)
    with torch.no_grad():
        weight.copy_(values)
    return weight


def rescale_spectral_radius_(weight, radius):
    """Scale ``weight`` so its spectral radius (largest singular value if not square) is ``radius``."""
    with torch.no_grad():
        matrix = weight.detach().to(torch.float64)
        if matrix.shape[0] == matrix.shape[1]:
            current = torch.linalg.eigvals(matrix).abs().max()
        else:
            current = torch.linalg.matrix_norm(matrix, ord=2)
        if current > 0:
            weight.mul_(radius / current.item())
    return weight


def init_weights(model: nn.Module, scheme: str = "orthogonal", sparse_nonzeros: int = 15,
                 spectral_radius: float = 1.0, transition_gain: float | None = None) -> nn.Module:
    """Re-initialise ``model`` in place with ``scheme``, then set each deep transition's gain to
    ``transition_gain`` unless it is None (see the module docstring); returns the model."""
    check_choice("init", scheme, INIT_SCHEMES)
    check_positive("sparse_nonzeros", sparse_nonzeros)
    if not spectral_radius > 0 or not math.isfinite(spectral_radius):
        raise ValueError(f"spectral_radius must be positive, got {spectral_radius!r}")
    if transition_gain is not None and not (transition_gain > 0 and math.isfinite(transition_gain)):
        raise ValueError(f"transition_gain must be positive or None, got {transition_gain!r}")
    if scheme == "groundhog":
        groundhog_(model, sparse_nonzeros, spectral_radius)
    elif scheme != "torch":
        _orthogonal_or_sparse_(model, scheme, sparse_nonzeros, spectral_radius)
    if transition_gain is not None:
        for module in model.modules():
            if isinstance(module, DTRNN):
                set_transition_gain_(module, transition_gain)
    return model


def _each_parameter_once(model: nn.Module):
    """(module, role, parameter) of every parameter; a tied weight once, from the module that registers it
    first (the embedding). The role is the one its core gives it (``parameter_roles``), else by its name:
    "embedding", "bias", "recurrent", "input" (another matrix) or "own" (kept)."""
    done, roles = set(), _core_roles(model)
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) not in done:
                done.add(id(param))
                yield module, roles.get(id(param)) or _role_by_name(module, name, param), param


def _core_roles(model: nn.Module) -> dict[int, str]:
    """The role of each core parameter, by its identity, as its core gives it (``parameter_roles``)."""
    roles = {}
    for module in model.modules():
        if hasattr(module, "parameter_roles"):
            params = dict(module.named_parameters())
            roles.update({id(params[name]): role for name, role in module.parameter_roles().items()})
    return roles


def _role_by_name(module: nn.Module, name: str, param: nn.Parameter) -> str:
    if isinstance(module, nn.Embedding):
        return "embedding"
    if name.startswith("bias"):
        return "bias"
    if name.startswith(RECURRENT):
        return "recurrent"
    return "input" if name.startswith("weight") and param.dim() == 2 else "own"


def _orthogonal_or_sparse_(model: nn.Module, scheme: str, sparse_nonzeros: int, spectral_radius: float) -> None:
    for _, role, param in _each_parameter_once(model):
        with torch.no_grad():
            if role == "embedding":
                nn.init.uniform_(param, -0.1, 0.1)
            elif role == "bias":
                nn.init.zeros_(param)
            elif role == "recurrent":
                for block in _blocks(param):
                    if scheme == "orthogonal":
                        nn.init.orthogonal_(block)
                        if spectral_radius != 1.0:
                            block.mul_(spectral_radius)
                    else:
                        rescale_spectral_radius_(sparse_(block, sparse_nonzeros), spectral_radius)
            elif role == "input":
                if scheme == "orthogonal":
                    nn.init.xavier_uniform_(param)
                else:
                    sparse_(param, sparse_nonzeros)
    for module in model.modules():  # after every matrix is set: a parent is visited before its layers
        _balance_shortcut(module)
        _init_gate_biases(module)


def groundhog_sample_weights_(weight: torch.Tensor, nonzeros: int, scale: float) -> torch.Tensor:
    """GroundHog's ``sample_weights`` (groundhog/utils/utils.py), in torch's (out, in) layout.

    GroundHog stores a matrix as (in, out) and fills it row by row: for each input unit, ``nonzeros``
    (at most the number of outputs) values uniform in (-1, 1) at the first entries of a random permutation of
    the outputs, normalised to unit norm; then the whole matrix is divided by its largest singular value and
    multiplied by ``scale``. Here each *column* is one such input unit. Random draws, per column in order:
    ``torch.randperm(out)``, then ``nonzeros`` uniform values (float64).
    """
    outputs, inputs = weight.shape
    nonzeros = min(nonzeros, outputs)
    values = torch.zeros(outputs, inputs, dtype=torch.float64)
    for column in range(inputs):
        rows = torch.randperm(outputs)[:nonzeros]
        drawn = torch.empty(nonzeros, dtype=torch.float64).uniform_(-1.0, 1.0)
        values[rows, column] = drawn / drawn.norm()
    values *= scale / torch.linalg.matrix_norm(values, ord=2)
    with torch.no_grad():
        weight.copy_(values)
    return weight


def groundhog_sample_weights_classic_(weight: torch.Tensor, nonzeros: int, std: float) -> torch.Tensor:
    """GroundHog's ``sample_weights_classic``: per input unit (column), ``nonzeros`` N(0, std) values at random
    outputs, zeros elsewhere; dense (plain N(0, std)) when ``nonzeros`` covers every output."""
    outputs, inputs = weight.shape
    if nonzeros >= outputs:
        with torch.no_grad():
            return nn.init.normal_(weight, 0.0, std)
    values = torch.zeros(outputs, inputs, dtype=torch.float64)
    for column in range(inputs):
        rows = torch.randperm(outputs)[:nonzeros]
        values[rows, column] = torch.randn(nonzeros, dtype=torch.float64) * std
    with torch.no_grad():
        weight.copy_(values)
    return weight


def groundhog_(model: nn.Module, sparse_nonzeros: int, spectral_radius: float) -> None:
    """``init="groundhog"``: the module docstring's rules, parameter by parameter."""
    for _, role, param in _each_parameter_once(model):
        with torch.no_grad():
            if role == "embedding":
                nn.init.normal_(param, 0.0, GROUNDHOG_INPUT_STD)
            elif role == "bias":
                nn.init.zeros_(param)
            elif role == "recurrent":
                for block in _blocks(param):
                    groundhog_sample_weights_(block, sparse_nonzeros, spectral_radius)
            elif role == "input":
                nn.init.normal_(param, 0.0, GROUNDHOG_INPUT_STD)
    for module in model.modules():
        if isinstance(module, SequenceModel):
            _groundhog_deep_output(module, sparse_nonzeros)
        _init_gate_biases(module)


def _groundhog_deep_output(head: SequenceModel, nonzeros: int) -> None:
    """The deep output's hidden layers as in GroundHog's DOT-RNN tutorial: ``sample_weights`` (scale 1) on the
    columns reading h_t (``emb_state``), ``sample_weights_classic`` N(0, 1) on those reading x_t
    (``emb_words_out``, first layer with ``output_from_input`` only)."""
    for index, layer in enumerate(head.output.hidden):
        weight = layer.linear.weight  # layer 1 reads [h_t; x_t] with output_from_input (h_t: 2H if bidirectional)
        reads_input = index == 0 and head.output_from_input
        state_columns = weight.shape[1] - (head.core.input_size if reads_input else 0)
        groundhog_sample_weights_(weight[:, :state_columns], nonzeros, 1.0)
        if state_columns < weight.shape[1]:
            groundhog_sample_weights_classic_(weight[:, state_columns:], nonzeros, 1.0)


def _step_function(core: nn.Module, direction: int = 0):
    """h_{t-1}, x_t -> h_t for a core with a single-tensor state and one step function (the core protocol's
    ``step``, of ``direction`` for a bidirectional core that has one); None otherwise."""
    if not getattr(core, "has_step", False):
        return None
    return lambda x_t, h_prev: core.step(x_t, h_prev, direction=direction)


def step_gain(core: nn.Module, direction: int = 0) -> float | None:
    """The gain of a recurrent step: the largest singular value of ∂h_t/∂h_{t-1} at x_t = 0 and h_{t-1} = 0,
    with the biases as they are and each unit's slope at that point as autograd measures it (φ'(0) for tanh
    with zero biases), in float64 and without dropout. ``direction`` 1: a bidirectional DTRNN's reverse
    transition. None for cores without a single step function on one state tensor (sRNN with several layers,
    a bidirectional RNN, LSTM, GRU)."""
    if _step_function(core) is None:
        return None
    work = copy.deepcopy(core).double().eval()
    return _gain(work, _step_function(work, direction))


def _gain(core: nn.Module, step) -> float:
    x = torch.zeros(1, core.input_size, dtype=torch.float64)
    h = torch.zeros(1, core.hidden_size, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda state: step(x, state), h, vectorize=True)
    return float(torch.linalg.matrix_norm(jacobian.reshape(core.hidden_size, core.hidden_size), ord=2))


def reads_previous_state(layers: nn.Module) -> list[nn.Parameter]:
    """The matrices of a transition that read h_{t-1}: W_1 (layer 1's ``weight_hh``) and every shortcut S_l.

    Every path from h_{t-1} to h_t starts at exactly one of them; W_2..W_L carry x_t's path too."""
    first, *later = layers
    return [first.weight_hh, *(layer.weight_shortcut for layer in later if layer.weight_shortcut is not None)]


def set_transition_gain_(core: DTRNN, gain: float) -> list[float]:
    """Scale the matrices that read h_{t-1} (W_1 and the S_l) in each direction of ``core`` by one factor, so
    that ``step_gain(core, direction) == gain``; returns the factor of each direction.

    At the origin the pre-activations are the biases' (and φ of them, layer after layer), whatever those
    matrices hold, so every unit's slope there is fixed; each path from h_{t-1} to h_t starts with exactly one
    of them, so the step Jacobian, and its largest singular value, is linear in their common factor:
    factor = gain / step_gain(core). W_2..W_L, which also carry x_t to h_t, and U keep the scheme's scale.
    """
    factors = []
    for direction, layers in enumerate(core.directions()):
        current = step_gain(core, direction)
        if not current > 0:
            raise ValueError(f"transition_gain {gain} cannot be reached: the step Jacobian at the origin is 0 "
                             f"(e.g. L_p units at their centres have slope 0 there, and no shortcut passes "
                             f"them); use a shortcut, other units or transition_gain=None")
        with torch.no_grad():
            for weight in reads_previous_state(layers):
                weight.mul_(gain / current)
        factors.append(gain / current)
    return factors


def _balance_shortcut(module: nn.Module) -> None:
    """In a DT(S) transition of depth L, scale each of the L - 1 shortcut matrices S_l by (L - 1)^(-1/3).

    Each shortcut adds a path from h_{t-1} to h_t; with every matrix orthogonal the Jacobian ∂h_t/∂h_{t-1}
    is a sum of L such paths, its gain grows with L and gradients explode through time at initialisation.
    The exponent was chosen by measurement (``deeprnn gradflow --models dts-rnn,dots-rnn --depths 2,3,4,8
    --lengths 50,200 --dataset none``, hidden 200, tanh): ‖∂L/∂h_1‖ at T = 200 and depth 4 / 8 is
    2e6 / 1e9 unscaled, 2e-6 / 7e-11 with (L - 1)^(-1/2), 7 / 25 with (L - 1)^(-1/4), and 0.12 / 0.42 with
    (L - 1)^(-1/3), which keeps every depth from 2 to 8 within 0.09..0.7. Depth 2 is unchanged.
    """
    for name in ("layers", "layers_reverse"):  # each direction of a bidirectional DTRNN is a transition of its own
        shortcuts = [layer.weight_shortcut for layer in getattr(module, name, None) or ()
                     if isinstance(getattr(layer, "weight_shortcut", None), nn.Parameter)]
        if len(shortcuts) > 1:
            with torch.no_grad():
                for weight in shortcuts:
                    weight.mul_(len(shortcuts) ** (-1 / 3))


def _init_gate_biases(module: nn.Module) -> None:
    """The core's own gate biases (the core protocol's ``init_gate_biases_``), after the scheme."""
    if hasattr(module, "init_gate_biases_"):
        module.init_gate_biases_()
