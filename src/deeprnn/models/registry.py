"""Build a task head around a core, by architecture name.

Adding an architecture: write its core in one file (an ``nn.Module`` with ``from_config(input_size,
config)``, ``hidden_size`` and ``batch_first``) and add one line to ``ARCHITECTURES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from deeprnn.models.dtrnn import DTRNN
from deeprnn.models.gated import GRU, LSTM
from deeprnn.models.heads import LanguageModel, MusicModel, Tagger, WordFeatures
from deeprnn.models.init import TRANSITION_GAIN, init_weights
from deeprnn.models.rnn import RNN, StackedRNN


@dataclass(frozen=True)
class Architecture:
    core: Callable  # from_config(input_size, CoreConfig) -> core module
    shortcut: bool | None = None  # default of the shortcut option; None: the core has no such option
    output_depth: int = 0  # default output_depth; where it is >= 1 (DOT models), 0 is refused
    num_layers: int = 1  # default number of layers
    stackable: bool = False  # whether num_layers > 1 is allowed


@dataclass(frozen=True)
class CoreConfig:
    """The core-related options of ``build_model``, resolved (each core's ``from_config`` reads these)."""

    hidden_size: int
    num_layers: int
    transition_depth: int
    transition_size: int | None
    shortcut: bool
    activation: str
    pool_size: int
    dropout: float
    input_to: str
    bidirectional: bool = False


ARCHITECTURES = {
    "rnn": Architecture(RNN.from_config),
    "dt-rnn": Architecture(DTRNN.from_config, shortcut=False),
    "dts-rnn": Architecture(DTRNN.from_config, shortcut=True),
    "dot-rnn": Architecture(DTRNN.from_config, shortcut=False, output_depth=1),
    "dots-rnn": Architecture(DTRNN.from_config, shortcut=True, output_depth=1),
    "srnn": Architecture(StackedRNN.from_config, num_layers=2, stackable=True),
    "lstm": Architecture(LSTM.from_config, stackable=True),
    "gru": Architecture(GRU.from_config, stackable=True),
}
MODEL_NAMES = tuple(ARCHITECTURES)
TASKS = ("music", "lm", "tagging")


def build_model(name, task="music", *, input_size=88, vocab_size=None, num_tags=None, hidden_size=200,
                transition_depth=2, transition_size=None, shortcut=None, num_layers=None, output_depth=None,
                output_size=None, activation="tanh", output_activation="tanh", pool_size=2, dropout=0.0,
                transition_dropout=None,
                embedding_size=None, tie_weights=False, input_to="first", output_from_input=False,
                init="orthogonal", sparse_nonzeros=15, spectral_radius=1.0,
                transition_gain=TRANSITION_GAIN, bidirectional=False, word_features=None, feature_vocab_size=None,
                feature_size=50) -> nn.Module:
    """A ``task`` head ("music", "lm" or "tagging") around the core called ``name`` (see ``MODEL_NAMES``).

    ``None`` options take the architecture's default: ``shortcut`` from the name (dts-/dots- => True),
    ``num_layers`` 2 for srnn and 1 otherwise, ``output_depth`` 1 for dot-/dots-rnn and 0 otherwise,
    ``output_size`` and ``embedding_size`` ``hidden_size``. ``transition_depth``, ``transition_size``,
    ``input_to``, ``shortcut`` and ``transition_dropout`` concern dt*/dot* models only: the last is the dropout
    of the transition's intermediate layers (default ``dropout``), which sit on the recurrent path, while
    ``dropout`` keeps applying to the output network (docs/models.md, "Dropout on the recurrent path").
    ``init``, ``sparse_nonzeros``, ``spectral_radius`` and ``transition_gain`` set the initialisation
    (``deeprnn.models.init``); ``transition_gain`` (None: off) concerns the deep transition of dt*/dot*
    models only, whose step Jacobian at the origin it sets (docs/models.md, "Initialisation by gain").
    ``bidirectional`` (tagging only: a language or music model must not read the future) gives the core a
    reverse direction, as torch.nn.RNN's. ``word_features`` (tagging only): "affix" or "chars" adds a
    ``WordFeatures`` vector of ``feature_size`` units, from ``feature_vocab_size`` feature ids, to each
    word's embedding (None: the embedding alone).
    The head records its arguments in ``.hparams``, so ``build_model(**head.hparams)`` rebuilds it.
    """
    hparams = dict(locals())  # exactly the arguments, before defaults are resolved
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    architecture = ARCHITECTURES[name]
    if bidirectional and task != "tagging":
        raise ValueError(f"a bidirectional core reads the future, which task {task!r} predicts; "
                         "bidirectional is for tagging only")
    if word_features is not None and task != "tagging":
        raise ValueError(f"word_features are for tagging only, not task {task!r}")

    if architecture.shortcut is None and (shortcut or input_to != "first" or transition_dropout is not None):
        raise ValueError(f"shortcut, input_to and transition_dropout apply to deep-transition models only, "
                         f"not {name}")
    num_layers = architecture.num_layers if num_layers is None else num_layers
    if num_layers != 1 and not architecture.stackable:
        raise ValueError(f"{name} has a single recurrent layer; num_layers must be 1, got {num_layers}")
    output_depth = architecture.output_depth if output_depth is None else output_depth
    if architecture.output_depth and output_depth < 1:
        raise ValueError(f"{name} has a deep output: output_depth must be >= 1, got {output_depth}")
    embedding_size = hidden_size if embedding_size is None else embedding_size
    # The deep output's width defaults to hidden_size, not to the width of o^0 (which is hidden + input size
    # with output_from_input): otherwise reading x_t would silently widen every deep-output layer and the read-out.
    output_size = hidden_size if output_size is None else output_size

    config = CoreConfig(hidden_size=hidden_size, num_layers=num_layers, transition_depth=transition_depth,
                        transition_size=transition_size,
                        shortcut=architecture.shortcut if shortcut is None else shortcut,
                        activation=activation, pool_size=pool_size,
                        dropout=dropout if transition_dropout is None else transition_dropout, input_to=input_to,
                        bidirectional=bidirectional)
    output = dict(output_depth=output_depth, output_size=output_size, output_activation=output_activation,
                  pool_size=pool_size, dropout=dropout, output_from_input=output_from_input)
    if task == "music":
        model = MusicModel(architecture.core(input_size, config), num_keys=input_size, **output)
    else:
        if vocab_size is None:
            raise ValueError(f"task {task!r} needs vocab_size")
        if task == "lm":
            core = architecture.core(embedding_size, config)
            model = LanguageModel(core, vocab_size, embedding_size, tie_weights=tie_weights, **output)
        else:
            if num_tags is None:
                raise ValueError("task 'tagging' needs num_tags")
            features = None
            if word_features is not None:
                if feature_vocab_size is None:
                    raise ValueError(f"word_features={word_features!r} needs feature_vocab_size")
                features = WordFeatures(word_features, feature_vocab_size, feature_size)
            core = architecture.core(embedding_size + (features.size if features else 0), config)
            model = Tagger(core, vocab_size, num_tags, embedding_size, word_features=features, **output)
    init_weights(model, init, sparse_nonzeros, spectral_radius, transition_gain)
    model.hparams = hparams
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (a tied weight counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def detach_hidden(h):
    """Detach a recurrent state (a tensor, or a tuple such as LSTM's (h, c)) from its graph, for truncated
    backpropagation through time."""
    if h is None:
        return None
    if isinstance(h, tuple | list):
        return type(h)(detach_hidden(part) for part in h)
    return h.detach()
