"""Weight initialisation schemes, applied by ``build_model(init=...)``.

Modules are built with torch-style initialisation (torch's own for RNN/sRNN/LSTM/GRU, nn.Linear and
nn.Embedding; torch.nn.RNN's U(-1/sqrt(H), 1/sqrt(H)) for the deep transition). ``init_weights`` then
re-initialises a model by parameter role:

- recurrent matrices: every matrix on the path h_{t-1} -> h_t, i.e. ``weight_hh*`` (torch cores; the W_l
  of a deep transition) and ``weight_shortcut`` (the S_l of a DT(S)-RNN);
- other weight matrices: input-to-hidden ``weight_ih*`` and the heads' linear maps;
- biases (``bias*``): zero, for every scheme except "torch", but LSTM forget gates start open (bias 1);
- embeddings: U(-0.1, 0.1);
- L_p units keep their own initialisation (centres 0, p = 2).

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
- ``"sparse"`` (the authors' GroundHog code, after Martens 2010): each row gets ``sparse_nonzeros``
  non-zero entries drawn from N(0, 1) at random columns, all others zero; each recurrent block is then
  rescaled to spectral radius ``spectral_radius`` (its largest |eigenvalue|; its largest singular value if
  the block is not square).
- ``"torch"``: keep the construction-time initialisation.

For "orthogonal" and "sparse", the L - 1 shortcut matrices of a DT(S) transition of depth L are scaled by
(L - 1)^(-1/3) so that gradients neither explode nor vanish with depth at initialisation (see
``_balance_shortcut``).
"""

from __future__ import annotations

import torch
from torch import nn

from deeprnn.models.checks import check_choice, check_positive

INIT_SCHEMES = ("orthogonal", "sparse", "torch")


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
                 spectral_radius: float = 1.0) -> nn.Module:
    """Re-initialise ``model`` in place with ``scheme`` (see the module docstring); returns it."""
    check_choice("init", scheme, INIT_SCHEMES)
    check_positive("sparse_nonzeros", sparse_nonzeros)
    if not spectral_radius > 0:
        raise ValueError(f"spectral_radius must be positive, got {spectral_radius!r}")
    if scheme == "torch":
        return model
    done = set()  # a tied weight is initialised once, by the module that registers it first (the embedding)
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in done:
                continue
            done.add(id(param))
            with torch.no_grad():
                if isinstance(module, nn.Embedding):
                    nn.init.uniform_(param, -0.1, 0.1)
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
                elif name.startswith(("weight_hh", "weight_shortcut")):
                    for block in _blocks(param):
                        if scheme == "orthogonal":
                            nn.init.orthogonal_(block)
                            if spectral_radius != 1.0:
                                block.mul_(spectral_radius)
                        else:
                            rescale_spectral_radius_(sparse_(block, sparse_nonzeros), spectral_radius)
                elif name.startswith("weight") and param.dim() == 2:
                    if scheme == "orthogonal":
                        nn.init.xavier_uniform_(param)
                    else:
                        sparse_(param, sparse_nonzeros)
    for module in model.modules():  # after every matrix is set: a parent is visited before its layers
        _balance_shortcut(module)
        _open_forget_gates(module)
    return model


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


def _open_forget_gates(module: nn.Module) -> None:
    """LSTM forget-gate biases start at 1 (Gers et al. 2000; Jozefowicz et al. 2015), so the cell state
    carries information across steps from the start instead of decaying by half each step."""
    if isinstance(module, nn.LSTM):
        hidden = module.hidden_size
        with torch.no_grad():
            for name, param in module.named_parameters():
                if name.startswith("bias_ih"):
                    param[hidden : 2 * hidden].fill_(1.0)  # gate order i, f, g, o
