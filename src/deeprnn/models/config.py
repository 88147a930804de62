"""The model options (the ``[model]`` section of a run's config): each declared once, with its default, its allowed
values and its role (``deeprnn.options``). ``build_from_config`` (models/registry.py) builds a head from one;
``build_model(name, task, **options)`` is the same with the options as keywords. ``training.config.Config``
composes it with the data, optimiser and training sections.

All model options are semantic (they change what is computed). ``None`` options take the architecture's
default (``build_model``'s docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

from deeprnn.models.init import TRANSITION_GAIN
from deeprnn.options import semantic


@dataclass
class ModelConfig:
    name: str = semantic("dots-rnn")
    hidden_size: int = semantic(200, ">= 1")
    transition_depth: int = semantic(2, ">= 1")
    transition_size: int | None = semantic(None, ">= 1")  # width of intermediate transition layers; None = hidden_size
    shortcut: bool | None = semantic(None)  # None = implied by the name (dts-/dots- have the shortcut)
    num_layers: int | None = semantic(None, ">= 1")  # sRNN/LSTM/GRU; None = the model's default
    output_depth: int | None = semantic(None, ">= 0")  # None = 1 for dot-/dots-, 0 otherwise
    output_size: int | None = semantic(None, ">= 1")  # None = hidden_size
    activation: str = semantic("tanh")  # intermediate transition layers: tanh, relu, sigmoid, lp, maxout
    output_activation: str = semantic("tanh")  # deep-output layers
    pool_size: int = semantic(2, ">= 1")  # group size of L_p and maxout units
    dropout: float = semantic(0.0, "[0, 1)")
    # DT/DOT models: dropout on the transition's intermediate layers, which sit on the recurrent path
    # (one mask per sequence); None = dropout. High values there make gradients explode on long pieces.
    transition_dropout: float | None = semantic(None, "[0, 1)")
    embedding_size: int | None = semantic(None, ">= 1")  # text models; None = hidden_size
    tie_weights: bool = semantic(False)
    input_to: str = semantic("first")  # "first" or "all" transition layers receive x_t
    output_from_input: bool = semantic(False)  # deep output also sees x_t
    init: str = semantic("orthogonal")  # "orthogonal", "sparse", "groundhog" or "torch" (deeprnn.models.init)
    # Start the read-out bias at the training data's log-odds (music) or log-frequencies (text), so
    # training begins at the per-key / unigram baseline instead of spending epochs learning it. Applied by the
    # trainer, which has the data; build_from_config ignores it.
    output_bias_from_data: bool = semantic(True)
    sparse_nonzeros: int = semantic(15, ">= 1")
    spectral_radius: float = semantic(1.0, "> 0")
    # Deep-transition models: scale the transition's recurrent matrices so that the step Jacobian dh_t/dh_{t-1}
    # at the origin has this largest singular value (docs/models.md, "Initialisation by gain"); none = keep the
    # scheme's scale. Runs stored before this key existed were made without it.
    transition_gain: float | None = semantic(TRANSITION_GAIN, "> 0", absent_means=None)
    # tagging only: the core also reads each sentence backwards (torch.nn.RNN's bidirectional=True)
    bidirectional: bool = semantic(False)
    # tagging only: features of each word's spelling beside its embedding: "affix" (suffixes and word
    # shape) or "chars" (a character CNN), of feature_size units (deeprnn.data.wordfeatures); none = off
    word_features: str | None = semantic(None, ("affix", "chars"))
    feature_size: int = semantic(50, ">= 1")
