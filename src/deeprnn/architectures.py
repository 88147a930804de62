"""Every architecture, described once: its label and place in tables, its family, its depth option, the model
options it reads and their checks, its output units and its core class.

A leaf without torch (like ``options``), so models, experiments and reports all read it: ``build_model``
refuses the options a model does not read, ``deeprnn gradflow`` takes the depth option from here, the
reports take labels, order and the paper's deep RNNs from here. The core class is named by its path
(``module:Class``) and imported by ``deeprnn.models.registry`` only.

Adding a core: a file under models/ and one entry in ``ARCHITECTURES`` (CONTRIBUTING.md, "Adding a core").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What every model reads: the head's options (embedding, deep output, read-out), the initialisation and the
# tagging-only options (bidirectional, word_features: TASK_ONLY).
COMMON = ("name", "hidden_size", "output_depth", "output_size", "output_activation", "pool_size", "dropout",
          "embedding_size", "tie_weights", "output_from_input", "init", "output_bias_from_data", "sparse_nonzeros",
          "spectral_radius", "bidirectional", "word_features", "feature_size")
# The options of a deep transition (Pascanu et al. 2014, section 3.2).
DEEP_TRANSITION = ("transition_depth", "transition_size", "shortcut", "activation", "input_to",
                   "transition_dropout", "transition_gain")
# Options refused where they do not apply even in a stored config.json, at any value but these (they were
# always refused; every other non-applicable option is refused at user input only, since committed runs store
# deep-only options such as transition_size on an LSTM).
ALWAYS_CHECKED = {"shortcut": (None, False), "input_to": ("first",), "transition_dropout": (None,),
                  "num_layers": (None, 1)}
_DEEP_ONLY = "shortcut, input_to and transition_dropout apply to deep-transition models only, not {name}"
ALWAYS_CHECKED_MESSAGE = {"shortcut": _DEEP_ONLY, "input_to": _DEEP_ONLY, "transition_dropout": _DEEP_ONLY,
                          "num_layers": "{name} has a single recurrent layer; num_layers must be 1, got {value}"}
# Model options that apply to one task only, whatever the model, refused for another task at any value but those
# listed (build_from_config, and a run's config through deeprnn.training.tasks).
TASK_ONLY = {"bidirectional": ("tagging", (None, False)), "word_features": ("tagging", (None,))}
TASK_ONLY_MESSAGE = {
    # a bidirectional core reads the future: what the language and music models predict
    "bidirectional": "a bidirectional core reads the future, which task {task!r} predicts; "
                     "bidirectional is for tagging only",
    "word_features": "word_features are for tagging only, not task {task!r}",
}
FAMILIES = {
    "shallow": "one nonlinear step from h_{t-1} to h_t: the paper's baseline",
    "deep": "one of the paper's deep RNNs: its claim is that one of them beats the RNN",
    "gated": "a gated baseline the paper compares with (not a deep RNN of its claim)",
    "extension": "a deep transition published after the paper: reported beside it, not part of its claim",
}


@dataclass(frozen=True)
class Architecture:
    """One model name. ``options``: the model options it reads beyond ``COMMON``; ``defaults``: the values its
    ``None`` options resolve to; ``checks``: rules (``deeprnn.options.check_option``) on resolved values;
    ``units``: the nonlinearity of the core's output h_t ("activation": that option's value)."""

    name: str
    label: str
    family: str
    core: str  # "module:Class", with a from_config(input_size, CoreConfig) classmethod
    depth_option: str | None = None  # what "depth" sets (deeprnn gradflow); None: no depth
    options: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    units: str = "tanh"
    bidirectional: bool = True  # whether the core has a reverse direction

    @property
    def reads(self) -> tuple[str, ...]:
        """Every model option this architecture reads."""
        return COMMON + self.options

    @property
    def in_claim(self) -> bool:
        return self.family == "deep"


def _deep_transition(name: str, label: str, shortcut: bool, output_depth: int) -> Architecture:
    return Architecture(name, label, "deep", "deeprnn.models.dtrnn:DTRNN", "transition_depth", DEEP_TRANSITION,
                        {"shortcut": shortcut, "output_depth": output_depth, "num_layers": 1},
                        {"output_depth": ">= 1"} if output_depth else {}, units="tanh")


# In the order of the paper's tables.
ARCHITECTURES = {a.name: a for a in (
    Architecture("rnn", "RNN", "shallow", "deeprnn.models.rnn:RNN", None, ("activation",),
                 {"num_layers": 1, "output_depth": 0}, {"activation": ("tanh", "relu")}, units="activation"),
    _deep_transition("dt-rnn", "DT-RNN", False, 0),
    _deep_transition("dts-rnn", "DT(S)-RNN", True, 0),
    _deep_transition("dot-rnn", "DOT-RNN", False, 1),
    _deep_transition("dots-rnn", "DOT(S)-RNN", True, 1),
    Architecture("srnn", "sRNN", "deep", "deeprnn.models.rnn:StackedRNN", "num_layers", ("activation", "num_layers"),
                 {"num_layers": 2, "output_depth": 0}, {"activation": ("tanh", "relu")}, units="activation"),
    Architecture("lstm", "LSTM", "gated", "deeprnn.models.gated:LSTM", "num_layers", ("num_layers",),
                 {"num_layers": 1, "output_depth": 0}),
    Architecture("gru", "GRU", "gated", "deeprnn.models.gated:GRU", "num_layers", ("num_layers",),
                 {"num_layers": 1, "output_depth": 0}),
    Architecture("rhn", "RHN", "extension", "deeprnn.models.rhn:RHN", "transition_depth",
                 ("transition_depth", "transition_dropout"), {"num_layers": 1, "output_depth": 0}),
)}
MODEL_NAMES = tuple(ARCHITECTURES)
# The six models of the replication's tables and of every benchmark table: the defaults of gradient-flow runs.
SIX_MODELS = ("rnn", "dts-rnn", "dots-rnn", "srnn", "lstm", "gru")


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")
    return ARCHITECTURES[name]


def labels() -> dict[str, str]:
    return {a.name: a.label for a in ARCHITECTURES.values()}


def in_claim() -> tuple[str, ...]:
    """The paper's deep RNNs, in table order."""
    return tuple(a.name for a in ARCHITECTURES.values() if a.in_claim)


def extensions() -> tuple[str, ...]:
    """The models published after the paper: reported beside its models, never part of its claim."""
    return tuple(a.name for a in ARCHITECTURES.values() if a.family == "extension")


def applies(name: str, option: str) -> bool:
    return option in architecture(name).reads


def neutral(name: str, option: str, default: Any) -> tuple[Any, ...]:
    """The values of ``option`` that change nothing for a model that does not read it: None, its declared
    default and the model's own resolved value."""
    values = (None, default, *ALWAYS_CHECKED.get(option, ()))
    own = architecture(name).defaults
    return values + ((own[option],) if option in own else ())


def refuse_inapplicable(name: str, given: dict[str, Any], defaults: dict[str, Any], source: str = "") -> None:
    """Refuse, in one line, an option given explicitly (``given``) that ``name`` does not read, unless its value
    changes nothing (``neutral``). For user input: build_model's keywords, --set."""
    for option, value in given.items():
        if not applies(name, option) and not _is_neutral(value, neutral(name, option, defaults.get(option))):
            reads = ", ".join(architecture(name).options) or "none beyond the common ones"
            raise ValueError(f"{source}{option} does not apply to {name} (its own options: {reads}); got {value!r}")


def refuse_always_checked(name: str, values: dict[str, Any]) -> None:
    """The options refused wherever they do not apply, stored configs included (``ALWAYS_CHECKED``)."""
    for option, allowed in ALWAYS_CHECKED.items():
        if not applies(name, option) and not _is_neutral(values.get(option), allowed + (None,)):
            raise ValueError(ALWAYS_CHECKED_MESSAGE[option].format(name=name, value=values[option]))


def task_only_given(task: str, values: dict[str, Any]) -> list[str]:
    """The options of ``values`` that apply to another task than ``task`` only (``TASK_ONLY``) and are set."""
    return [option for option, (only, unset) in TASK_ONLY.items() if task != only and values.get(option) not in unset]


def refuse_for_task(task: str, values: dict[str, Any]) -> None:
    """Refuse, in one line, a model option of ``values`` that applies to another task only (``TASK_ONLY``)."""
    for option in task_only_given(task, values):
        raise ValueError(TASK_ONLY_MESSAGE[option].format(task=task))


def _is_neutral(value: Any, allowed: tuple[Any, ...]) -> bool:
    return any(value is other or (value == other and isinstance(value, bool) == isinstance(other, bool))
               for other in allowed)
