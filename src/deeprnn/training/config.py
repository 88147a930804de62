"""Typed run configuration: four sections, loaded from TOML and overridable from the command line.

A config file may name another one to start from (``extends = "base.toml"``, resolved relative to
the file), so presets share their common settings. Overrides use dotted keys:
``--set model.hidden_size=400 --set optim.name=adam``. Unknown keys and wrong types are errors that
name the valid keys (and suggest the closest one); nothing is silently ignored or converted: a string is
never read as a number, an integer is taken exactly, and a float must be finite. Each section's allowed
values are the ``*_CHECKS`` table right below its fields, applied to every value that is set.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

from deeprnn.models.init import TRANSITION_GAIN

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message says which key and why."""


# Marks a field whose absence from a stored config.json (one written before the key existed) means a value
# other than its default: new configs get the better default, stored runs keep meaning what they computed.
ABSENT_MEANS = "absent_means"


def added_key(default: Any, *, absent_means: Any) -> Any:
    """A config key added after runs were stored: ``default`` for new configs (TOML, ``--set``, Python), and
    ``absent_means`` for a stored config (``Config.from_dict``) written before the key existed."""
    return field(default=default, metadata={ABSENT_MEANS: absent_means})


@dataclass
class ModelConfig:
    name: str = "dots-rnn"
    hidden_size: int = 200
    transition_depth: int = 2
    transition_size: int | None = None  # width of intermediate transition layers; None = hidden_size
    shortcut: bool | None = None  # None = implied by the name (dts-/dots- have the shortcut)
    num_layers: int | None = None  # sRNN/LSTM/GRU; None = the model's default
    output_depth: int | None = None  # None = 1 for dot-/dots-, 0 otherwise
    output_size: int | None = None  # None = hidden_size
    activation: str = "tanh"  # intermediate transition layers: tanh, relu, sigmoid, lp, maxout
    output_activation: str = "tanh"  # deep-output layers
    pool_size: int = 2  # group size of L_p and maxout units
    dropout: float = 0.0
    # DT/DOT models: dropout on the transition's intermediate layers, which sit on the recurrent path
    # (one mask per sequence); None = dropout. High values there make gradients explode on long pieces.
    transition_dropout: float | None = None
    embedding_size: int | None = None  # text models; None = hidden_size
    tie_weights: bool = False
    input_to: str = "first"  # "first" or "all" transition layers receive x_t
    output_from_input: bool = False  # deep output also sees x_t
    init: str = "orthogonal"  # "orthogonal", "sparse", "groundhog" or "torch" (deeprnn.models.init)
    # Start the read-out bias at the training data's log-odds (music) or log-frequencies (text), so
    # training begins at the per-key / unigram baseline instead of spending epochs learning it.
    output_bias_from_data: bool = True
    sparse_nonzeros: int = 15
    spectral_radius: float = 1.0
    # Deep-transition models: scale the transition's recurrent matrices so that the step Jacobian dh_t/dh_{t-1}
    # at the origin has this largest singular value (docs/models.md, "Initialisation by gain"); none = keep the
    # scheme's scale. Runs stored before this key existed were made without it.
    transition_gain: float | None = added_key(TRANSITION_GAIN, absent_means=None)
    # tagging only: the core also reads each sentence backwards (torch.nn.RNN's bidirectional=True)
    bidirectional: bool = False
    # tagging only: features of each word's spelling beside its embedding: "affix" (suffixes and word
    # shape) or "chars" (a character CNN), of feature_size units (deeprnn.data.wordfeatures); none = off
    word_features: str | None = None
    feature_size: int = 50


# Allowed values per key (see check_value): "> 0", ">= 1", an interval "[0, 1)", or a tuple of choices.
# A key without an entry takes any value of its type; None passes wherever the type allows it.
MODEL_CHECKS = {
    "hidden_size": ">= 1", "transition_depth": ">= 1", "transition_size": ">= 1", "num_layers": ">= 1",
    "output_depth": ">= 0", "output_size": ">= 1", "pool_size": ">= 1", "dropout": "[0, 1)",
    "transition_dropout": "[0, 1)", "embedding_size": ">= 1", "sparse_nonzeros": ">= 1", "spectral_radius": "> 0",
    "transition_gain": "> 0", "word_features": ("affix", "chars"), "feature_size": ">= 1",
}  # fmt: skip


@dataclass
class DataConfig:
    name: str = "jsb"
    task: str | None = None  # "music", "lm" or "tagging"; None = the dataset's first task
    batch_size: int = 32
    eval_batch_size: int | None = None  # None = batch_size
    bptt: int = 100  # truncated-BPTT window for language modelling streams
    # music: train on windows of at most this many frames of each batch of pieces, the hidden state carried
    # (detached) from one window to the next, one update per window; None = whole pieces. Evaluation always
    # runs whole pieces. For long pieces, whose gradients through thousands of steps explode.
    music_bptt: int | None = None
    # music: train each piece moved up or down by a random number of semitones, at most this many, drawn
    # anew per piece and epoch and limited so no note leaves the 88 keys; 0 = off. Evaluation is untransposed.
    # Data augmentation for small corpora (JSB has 229 training pieces); not used by the published numbers.
    music_transpose: int = 0
    data_dir: str | None = None  # None = $DEEPRNN_DATA, then the per-user cache
    score_first_frame: bool = True  # music: predict frame 1 from the initial state (see docs/metrics.md)
    bucket: bool = True  # group sequences of similar length into batches
    # tagging only: the word vocabulary, built on the training split: lower-cased or not, at most this many
    # words (none = all), each seen at least tagging_min_count times (rarer ones train <unk>)
    tagging_lowercase: bool = True
    tagging_max_words: int | None = 10_000
    tagging_min_count: int = 1


DATA_CHECKS = {
    "batch_size": ">= 1", "eval_batch_size": ">= 1", "bptt": ">= 1", "music_bptt": ">= 1",
    "music_transpose": "[0, 87]",  # semitones
    "tagging_max_words": ">= 1", "tagging_min_count": ">= 1",
}  # fmt: skip


@dataclass
class OptimConfig:
    name: str = "adam"  # "sgd" (with momentum) or "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    clip_norm: float | None = 1.0  # max global gradient norm; None or 0 disables clipping
    lr_decay: float = 1.0  # multiply lr by this after every epoch (exponential decay); 1 = off
    plateau_patience: int | None = None  # epochs without validation improvement before lr *= plateau_factor
    plateau_factor: float = 0.5
    weight_noise: float = 0.0  # std of Gaussian noise added to weights for each training step
    weight_noise_biases: bool = True  # false: biases get no weight noise (GroundHog's no_noise_bias)
    # Polyak averaging: validate, select and checkpoint an exponential moving average of the weights with this
    # decay per optimiser step (training goes on from the raw weights); none = off. trainer.weight_average.
    ema_decay: float | None = None


OPTIM_CHECKS = {
    "name": ("sgd", "adam"), "lr": "> 0", "momentum": "[0, 1)", "weight_decay": ">= 0", "clip_norm": ">= 0",
    "lr_decay": "(0, 1]", "plateau_patience": ">= 0", "plateau_factor": "(0, 1)", "weight_noise": ">= 0",
    "ema_decay": "(0, 1)",
}  # fmt: skip


@dataclass
class TrainConfig:
    epochs: int = 20
    patience: int | None = None  # early stopping: epochs without validation improvement
    # stop once the learning rate (after lr_decay or plateau halving) is below this; none = off (GroundHog's minlr)
    min_lr: float | None = None
    max_steps: int | None = None  # stop after this many optimiser steps in total (smoke runs)
    max_batches_per_epoch: int | None = None  # cap the batches of each training epoch (smoke runs)
    seed: int = 0
    device: str = "auto"  # "auto", "cpu" or "cuda"
    deterministic: bool = False
    max_bad_steps: int = 10  # consecutive non-finite losses/gradients before the run stops
    threads: int | None = None  # torch intra-op threads; None = torch's default
    # make training batches ahead in a background thread (training/prefetch.py), meant for GPUs; off by default
    prefetch: bool = False
    # record the lm task's training step once as a CUDA graph and replay it (training/graphed.py); CUDA only,
    # off by default
    cuda_graph: bool = False


TRAIN_CHECKS = {
    "epochs": ">= 1", "patience": ">= 1", "max_steps": ">= 1", "max_batches_per_epoch": ">= 1",
    "seed": "[0, 18446744073709551616)",  # torch.manual_seed takes 64 bits, numpy's generators no negatives
    "device": ("auto", "cpu", "cuda", "cuda:N"), "max_bad_steps": ">= 1", "threads": ">= 1", "min_lr": "> 0",
}  # fmt: skip


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config", *, stored: bool = True) -> Config:
        """A config from a dict. ``stored`` (a config.json, checkpoint or sweep record): a key it lacks takes
        the value that meant when it was written (``added_key``); otherwise (a TOML file) its default."""
        config = cls()
        if stored:
            _fill_absent_keys(config, raw)
        for section, values in raw.items():
            _check_key(section, _section_names(), source)
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: [{section}] must be a table of keys, got {values!r}")
            for key, value in values.items():
                set_value(config, f"{section}.{key}", value, source=source)
        return config


def _fill_absent_keys(config: Config, raw: dict[str, Any]) -> None:
    for section in fields(config):
        stored_section = raw.get(section.name)
        for option in fields(getattr(config, section.name)):
            if ABSENT_MEANS in option.metadata and option.name not in (stored_section or {}):
                setattr(getattr(config, section.name), option.name, option.metadata[ABSENT_MEANS])


def _section_names() -> list[str]:
    return [f.name for f in fields(Config)]


def _check_key(key: str, valid: list[str], source: str, prefix: str = "") -> None:
    if key not in valid:
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
        raise ConfigError(
            f"{source}: unknown key '{prefix}{key}'{hint}; valid keys: {', '.join(prefix + v for v in valid)}"
        )


def _coerce(value: Any, annotation: Any, key: str, source: str) -> Any:
    """Convert a TOML or command-line value to the field's declared type, or raise ConfigError."""
    types = get_args(annotation) or (annotation,)
    optional = type(None) in types
    base = next(t for t in types if t is not type(None))
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"{source}: '{key}' may not be empty (it must be {base.__name__})")
    bad = ConfigError(f"{source}: '{key}' must be {base.__name__}{' or none' if optional else ''}, got {value!r}")
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad
    if base is int:  # an int as given: never through float (2**53 + 1 stays itself), never from a string
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        try:
            number = float(value)
        except OverflowError:
            raise bad from None
        if not math.isfinite(number):
            raise ConfigError(f"{source}: '{key}' must be a finite number, got {value!r}")
        return number
    if base is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise ConfigError(f"{source}: cannot handle the type of '{key}'")  # pragma: no cover


def set_value(config: Config, dotted_key: str, value: Any, source: str = "--set") -> None:
    """Set ``section.key`` on ``config``, checking the key exists and coercing the type."""
    if "." not in dotted_key:
        sections = ", ".join(_section_names())
        raise ConfigError(f"{source}: expected section.key, got '{dotted_key}' (sections: {sections})")
    section_name, key = dotted_key.split(".", 1)
    _check_key(section_name, _section_names(), source)
    section = getattr(config, section_name)
    hints = get_type_hints(type(section))
    _check_key(key, [f.name for f in fields(section)], source, prefix=f"{section_name}.")
    value = _coerce(value, hints[key], dotted_key, source)
    check_value(dotted_key, value, source)
    setattr(section, key, value)


CHECKS = {"model": MODEL_CHECKS, "data": DATA_CHECKS, "optim": OPTIM_CHECKS, "train": TRAIN_CHECKS}


def _allows(rule: str | tuple[str, ...], value: Any) -> bool:
    if isinstance(rule, tuple):  # choices; "cuda:N" stands for cuda:0, cuda:1, ...
        return value in rule or any(c.endswith(":N") and re.fullmatch(c[:-1] + "[0-9]+", value) for c in rule)
    if rule.startswith(">="):
        return value >= _number(rule[2:])
    if rule.startswith(">"):
        return value > _number(rule[1:])
    low, high = (_number(end.strip("[]()")) for end in rule.split(","))
    above = value >= low if rule.startswith("[") else value > low
    below = value <= high if rule.endswith("]") else value < high
    return above and below


def _number(text: str) -> int | float:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else float(text)  # an int bound compares exactly


def check_value(dotted_key: str, value: Any, source: str = "config") -> None:
    """Refuse a value outside the key's entry in ``CHECKS`` (None is left to the type, which allows it or not)."""
    section, key = dotted_key.split(".", 1)
    rule = CHECKS[section].get(key)
    if rule is None or value is None or _allows(rule, value):
        return
    if isinstance(rule, tuple):
        raise ConfigError(f"{source}: '{dotted_key}' must be one of {', '.join(rule)}, got {value!r}")
    allowed = f"in {rule}" if rule[0] in "[(" else rule
    raise ConfigError(f"{source}: '{dotted_key}' must be {allowed}, got {value!r}")


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value``; the value is parsed as TOML when possible (numbers, booleans, strings)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as dots-rnn
    return key.strip(), value


def _read_toml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    merged = _read_toml(path.parent / base_name, seen + (path,))
    for section, values in raw.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the TOML file (and what it extends), then ``key=value`` overrides in order."""
    config = Config.from_dict(_read_toml(Path(path)), source=str(path), stored=False) if path else Config()
    return apply_overrides(config, overrides)


def apply_overrides(config: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    for text in overrides:
        key, value = parse_override(text)
        set_value(config, key, value)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Check every key against ``CHECKS`` (set_value checks each value it sets; this also covers defaults and
    configs built in code). Checks that span keys live in the model and data packages."""
    for section in _section_names():
        for key, value in dataclasses.asdict(getattr(config, section)).items():
            check_value(f"{section}.{key}", value)
