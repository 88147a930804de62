"""Build a task head around a core, by architecture name.

What each name is (its core class, the options it reads, their defaults and checks) is described once, torch-free,
in ``deeprnn.architectures``; this module imports the core classes it names and builds heads around them.
Adding a core: CONTRIBUTING.md, "Adding a core".
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, fields

from torch import nn

from deeprnn import architectures
from deeprnn.architectures import ARCHITECTURES, MODEL_NAMES, Architecture
from deeprnn.models.config import ModelConfig
from deeprnn.models.heads import LanguageModel, MusicModel, Tagger, WordFeatures
from deeprnn.models.init import init_weights
from deeprnn.options import ConfigError, check_option


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


TASKS = ("music", "lm", "tagging")
__all__ = ["ARCHITECTURES", "MODEL_NAMES", "TASKS", "build_from_config", "build_model", "core_class"]


def core_class(name: str) -> type[nn.Module]:
    """The core class of the architecture called ``name`` (imported from its ``module:Class`` path)."""
    module, _, cls = architectures.architecture(name).core.partition(":")
    return getattr(importlib.import_module(module), cls)


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
    if name in ARCHITECTURES:
        defaults = {f.name: f.default for f in fields(ModelConfig)}
        architectures.refuse_inapplicable(name, options, defaults, source="build_model: ")
    return build_from_config(ModelConfig(name=name, **options), task, input_size=input_size, vocab_size=vocab_size,
                             num_tags=num_tags, feature_vocab_size=feature_vocab_size)


def build_from_config(config: ModelConfig, task: str = "music", *, input_size: int = 88, vocab_size: int | None = None,
                      num_tags: int | None = None, feature_vocab_size: int | None = None) -> nn.Module:
    """The head for ``task`` described by ``config``, sized by the data: ``input_size`` (music: keys),
    ``vocab_size`` (text), ``num_tags`` and ``feature_vocab_size`` (tagging). See ``build_model``."""
    sizes = dict(input_size=input_size, vocab_size=vocab_size, num_tags=num_tags, feature_vocab_size=feature_vocab_size)
    architecture = _check(config, task)
    for option in architecture.checks:
        _resolved(config, architecture, option)
    num_layers = _resolved(config, architecture, "num_layers")
    output_depth = _resolved(config, architecture, "output_depth")
    # The deep output's width defaults to hidden_size, not to the width of o^0 (which is hidden + input size
    # with output_from_input): otherwise reading x_t would silently widen every deep-output layer and the read-out.
    output_size = config.hidden_size if config.output_size is None else config.output_size
    output = dict(output_depth=output_depth, output_size=output_size, output_activation=config.output_activation,
                  pool_size=config.pool_size, dropout=config.dropout, output_from_input=config.output_from_input)
    model = _head(config, task, architecture, _core_config(config, architecture, num_layers), output, **sizes)
    init_weights(model, config.init, config.sparse_nonzeros, config.spectral_radius, config.transition_gain)
    # the arguments, unresolved, of the options this architecture reads: a stored config may hold others (a
    # preset's shared transition_size on an RNN), which change nothing and which build_model would refuse
    options = {key: value for key, value in asdict(config).items()
               if key not in ("name", *TRAINING_KEYS) and architectures.applies(config.name, key)}
    model.hparams = {"name": config.name, "task": task, **sizes, **options}
    return model


def _check(config: ModelConfig, task: str) -> Architecture:
    """The architecture of ``config.name``, once the options that do not fit it or the task are refused."""
    name = config.name
    architectures.architecture(name)  # refuses an unknown name
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    architectures.refuse_for_task(task, asdict(config))
    architecture = ARCHITECTURES[name]
    architectures.refuse_always_checked(name, asdict(config))
    return architecture


def _resolved(config: ModelConfig, architecture: Architecture, option: str):
    """``config``'s value of ``option``, its ``None`` resolved to the architecture's default, checked against
    the architecture's rule for it."""
    value = getattr(config, option)
    value = architecture.defaults.get(option) if value is None else value
    try:
        check_option(option, architecture.checks.get(option), value, source=architecture.name)
    except ConfigError as error:
        raise ValueError(str(error)) from None
    return value


def _core_config(config: ModelConfig, architecture: Architecture, num_layers: int) -> CoreConfig:
    dropout = config.dropout if config.transition_dropout is None else config.transition_dropout
    return CoreConfig(hidden_size=config.hidden_size, num_layers=num_layers, transition_depth=config.transition_depth,
                      transition_size=config.transition_size,
                      shortcut=_resolved(config, architecture, "shortcut") or False,
                      activation=config.activation, pool_size=config.pool_size, dropout=dropout,
                      input_to=config.input_to, bidirectional=config.bidirectional)


def _head(config: ModelConfig, task: str, architecture: Architecture, core_config: CoreConfig, output: dict, *,
          input_size: int, vocab_size: int | None, num_tags: int | None, feature_vocab_size: int | None) -> nn.Module:
    if task == "music":
        return MusicModel(core_class(config.name).from_config(input_size, core_config), num_keys=input_size, **output)
    if vocab_size is None:
        raise ValueError(f"task {task!r} needs vocab_size")
    embedding_size = config.hidden_size if config.embedding_size is None else config.embedding_size
    if task == "lm":
        core = core_class(config.name).from_config(embedding_size, core_config)
        return LanguageModel(core, vocab_size, embedding_size, tie_weights=config.tie_weights, **output)
    if num_tags is None:
        raise ValueError("task 'tagging' needs num_tags")
    features = None
    if config.word_features is not None:
        if feature_vocab_size is None:
            raise ValueError(f"word_features={config.word_features!r} needs feature_vocab_size")
        features = WordFeatures(config.word_features, feature_vocab_size, config.feature_size)
    core = core_class(config.name).from_config(embedding_size + (features.size if features else 0), core_config)
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
