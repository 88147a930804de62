"""Build a task head around a core, by architecture name.

Adding an architecture: write its core in one file (an ``nn.Module`` with ``from_config(input_size,
config)``, ``hidden_size`` and ``batch_first``) and add one line to ``ARCHITECTURES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from torch import nn

from deeprnn.models.config import ModelConfig
from deeprnn.models.dtrnn import DTRNN
from deeprnn.models.gated import GRU, LSTM
from deeprnn.models.heads import LanguageModel, MusicModel, Tagger, WordFeatures
from deeprnn.models.init import init_weights
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


# Read by the trainer, which has the data (the read-out bias); not part of the architecture.
TRAINING_KEYS = ("output_bias_from_data",)


def build_model(name, task="music", *, input_size=88, vocab_size=None, num_tags=None, feature_vocab_size=None,
                **options) -> nn.Module:
    """A ``task`` head ("music", "lm" or "tagging") around the core called ``name`` (see ``MODEL_NAMES``):
    ``build_from_config(ModelConfig(name, **options), task, ...)``; ``options`` are ``ModelConfig``'s fields
    (hidden_size, transition_depth, dropout, init, ...), their defaults its defaults.

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
    unknown = sorted(set(options) - {f.name for f in fields(ModelConfig)})
    if unknown:
        raise TypeError(f"build_model() got unexpected keyword arguments {', '.join(unknown)}")
    return build_from_config(ModelConfig(name=name, **options), task, input_size=input_size, vocab_size=vocab_size,
                             num_tags=num_tags, feature_vocab_size=feature_vocab_size)


def build_from_config(config: ModelConfig, task: str = "music", *, input_size: int = 88, vocab_size: int | None = None,
                      num_tags: int | None = None, feature_vocab_size: int | None = None) -> nn.Module:
    """The head for ``task`` described by ``config``, sized by the data: ``input_size`` (music: keys),
    ``vocab_size`` (text), ``num_tags`` and ``feature_vocab_size`` (tagging). See ``build_model``."""
    sizes = dict(input_size=input_size, vocab_size=vocab_size, num_tags=num_tags, feature_vocab_size=feature_vocab_size)
    architecture = _check(config, task)
    num_layers = architecture.num_layers if config.num_layers is None else config.num_layers
    if num_layers != 1 and not architecture.stackable:
        raise ValueError(f"{config.name} has a single recurrent layer; num_layers must be 1, got {num_layers}")
    output_depth = architecture.output_depth if config.output_depth is None else config.output_depth
    if architecture.output_depth and output_depth < 1:
        raise ValueError(f"{config.name} has a deep output: output_depth must be >= 1, got {output_depth}")
    # The deep output's width defaults to hidden_size, not to the width of o^0 (which is hidden + input size
    # with output_from_input): otherwise reading x_t would silently widen every deep-output layer and the read-out.
    output_size = config.hidden_size if config.output_size is None else config.output_size
    output = dict(output_depth=output_depth, output_size=output_size, output_activation=config.output_activation,
                  pool_size=config.pool_size, dropout=config.dropout, output_from_input=config.output_from_input)
    model = _head(config, task, architecture, _core_config(config, architecture, num_layers), output, **sizes)
    init_weights(model, config.init, config.sparse_nonzeros, config.spectral_radius, config.transition_gain)
    options = {key: value for key, value in asdict(config).items() if key not in ("name", *TRAINING_KEYS)}
    model.hparams = {"name": config.name, "task": task, **sizes, **options}  # exactly the arguments, unresolved
    return model


def _check(config: ModelConfig, task: str) -> Architecture:
    """The architecture of ``config.name``, once the options that do not fit it or the task are refused."""
    name = config.name
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    if config.bidirectional and task != "tagging":
        raise ValueError(f"a bidirectional core reads the future, which task {task!r} predicts; "
                         "bidirectional is for tagging only")
    if config.word_features is not None and task != "tagging":
        raise ValueError(f"word_features are for tagging only, not task {task!r}")
    architecture = ARCHITECTURES[name]
    deep_transition_only = config.shortcut or config.input_to != "first" or config.transition_dropout is not None
    if architecture.shortcut is None and deep_transition_only:
        raise ValueError(f"shortcut, input_to and transition_dropout apply to deep-transition models only, "
                         f"not {name}")
    return architecture


def _core_config(config: ModelConfig, architecture: Architecture, num_layers: int) -> CoreConfig:
    dropout = config.dropout if config.transition_dropout is None else config.transition_dropout
    return CoreConfig(hidden_size=config.hidden_size, num_layers=num_layers, transition_depth=config.transition_depth,
                      transition_size=config.transition_size,
                      shortcut=architecture.shortcut if config.shortcut is None else config.shortcut,
                      activation=config.activation, pool_size=config.pool_size, dropout=dropout,
                      input_to=config.input_to, bidirectional=config.bidirectional)


def _head(config: ModelConfig, task: str, architecture: Architecture, core_config: CoreConfig, output: dict, *,
          input_size: int, vocab_size: int | None, num_tags: int | None, feature_vocab_size: int | None) -> nn.Module:
    if task == "music":
        return MusicModel(architecture.core(input_size, core_config), num_keys=input_size, **output)
    if vocab_size is None:
        raise ValueError(f"task {task!r} needs vocab_size")
    embedding_size = config.hidden_size if config.embedding_size is None else config.embedding_size
    if task == "lm":
        core = architecture.core(embedding_size, core_config)
        return LanguageModel(core, vocab_size, embedding_size, tie_weights=config.tie_weights, **output)
    if num_tags is None:
        raise ValueError("task 'tagging' needs num_tags")
    features = None
    if config.word_features is not None:
        if feature_vocab_size is None:
            raise ValueError(f"word_features={config.word_features!r} needs feature_vocab_size")
        features = WordFeatures(config.word_features, feature_vocab_size, config.feature_size)
    core = architecture.core(embedding_size + (features.size if features else 0), core_config)
    return Tagger(core, vocab_size, num_tags, embedding_size, word_features=features, **output)


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
