"""Typed run configuration: four sections, loaded from TOML and overridable from the command line.

A config file may name another one to start from (``extends = "base.toml"``, resolved relative to
the file), so presets share their common settings. Overrides use dotted keys:
``--set model.hidden_size=400 --set optim.name=adam``. Unknown keys and wrong types are errors that
name the valid keys (and suggest the closest one); nothing is silently ignored or converted: a string is
never read as a number, an integer is taken exactly, and a float must be finite.

Each option is declared once, where its section declares it (the ``[model]`` section is ``ModelConfig``, in
``deeprnn.models``): its default, its allowed values (applied to every value that is set) and its role
("semantic", "execution" or "budget"; ``deeprnn.options``), from which ``Config.identity`` answers "is this
the same run?" for resume (``RESUMABLE``), reproduce and sweep (``SAME_RESULT``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

from deeprnn import architectures, presets
from deeprnn.models.config import ModelConfig
from deeprnn.options import ABSENT_MEANS, ROLE, ROLES, ConfigError, budget, check_option, checks, execution, semantic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


# Each option is declared once with its default, its allowed values and its role (deeprnn.options): "semantic"
# (what is computed), "execution" (where and how fast) or "budget" (how long). The roles answer "is this the same
# run?" for resume, reproduce and sweep (Config.identity); TrainConfig's docstring gives the decisions.


@dataclass
class DataConfig:
    name: str = semantic("jsb")
    task: str | None = semantic(None)  # "music", "lm" or "tagging"; None = the dataset's first task
    batch_size: int = semantic(32, ">= 1")
    eval_batch_size: int | None = semantic(None, ">= 1")  # None = batch_size
    bptt: int = semantic(100, ">= 1")  # truncated-BPTT window for language modelling streams
    # music: train on windows of at most this many frames of each batch of pieces, the hidden state carried
    # (detached) from one window to the next, one update per window; None = whole pieces. Evaluation always
    # runs whole pieces. For long pieces, whose gradients through thousands of steps explode.
    music_bptt: int | None = semantic(None, ">= 1")
    # music: train each piece moved up or down by a random number of semitones, at most this many, drawn
    # anew per piece and epoch and limited so no note leaves the 88 keys; 0 = off. Evaluation is untransposed.
    # Data augmentation for small corpora (JSB has 229 training pieces); not used by the published numbers.
    music_transpose: int = semantic(0, "[0, 87]")  # semitones
    # None = $DEEPRNN_DATA, then the per-user cache. Execution: where the files are, not which (the datasets
    # are checked against their checksums).
    data_dir: str | None = execution(None)
    score_first_frame: bool = semantic(True)  # music: predict frame 1 from the initial state (docs/training.md)
    bucket: bool = semantic(True)  # group sequences of similar length into batches
    # tagging only: the word vocabulary, built on the training split: lower-cased or not, at most this many
    # words (none = all), each seen at least tagging_min_count times (rarer ones train <unk>)
    tagging_lowercase: bool = semantic(True)
    tagging_max_words: int | None = semantic(10_000, ">= 1")
    tagging_min_count: int = semantic(1, ">= 1")


@dataclass
class OptimConfig:
    # "sgd" (with momentum), "adam", or "sgd-clipped-momentum": GroundHog's SGD, whose momentum-applied gradient
    # is clipped to clip_norm instead of the gradient (training.optimizers)
    name: str = semantic("adam", ("sgd", "adam", "sgd-clipped-momentum"))
    lr: float = semantic(1e-3, "> 0")
    momentum: float = semantic(0.9, "[0, 1)")
    weight_decay: float = semantic(0.0, ">= 0")
    clip_norm: float | None = semantic(1.0, ">= 0")  # max global gradient norm; None or 0 disables clipping
    lr_decay: float = semantic(1.0, "(0, 1]")  # multiply lr by this after every epoch (exponential decay); 1 = off
    # epochs without validation improvement before lr *= plateau_factor
    plateau_patience: int | None = semantic(None, ">= 0")
    plateau_factor: float = semantic(0.5, "(0, 1)")
    # the relative improvement of the validation metric below which an epoch counts as "without improvement"
    # for the plateau schedule (torch's ReduceLROnPlateau threshold, mode "rel"; its default 1e-4, the value
    # every run before this key meant). 0.003 is the RNNLM toolkit's rule (Mikolov et al. 2011): halve once an
    # epoch improves by less than 0.3%.
    plateau_threshold: float = semantic(1e-4, "[0, 1)")
    weight_noise: float = semantic(0.0, ">= 0")  # std of Gaussian noise added to weights for each training step
    weight_noise_biases: bool = semantic(True)  # false: biases get no weight noise (GroundHog's no_noise_bias)
    # Polyak averaging: validate, select and checkpoint an exponential moving average of the weights with this
    # decay per optimiser step (training goes on from the raw weights); none = off. trainer.weight_average.
    ema_decay: float | None = semantic(None, "(0, 1)")

    @property
    def gradient_clip_norm(self) -> float | None:
        """The bound on the raw gradient's norm: clip_norm, except under sgd-clipped-momentum, whose optimiser
        bounds the momentum-applied gradient by clip_norm instead (the gradient itself is then not clipped)."""
        return None if self.name == "sgd-clipped-momentum" else self.clip_norm


@dataclass
class TrainConfig:
    """How long, where and how a run trains. The roles decided (docs/training.md, "Is this the same run?"):

    - ``threads`` is execution: how many CPU threads compute the same steps; like the device it changes the
      float rounding, not the computation, so a resume may change it and reproduce adopts a run made with
      another value (before the run-identity refactor resume allowed it and reproduce refused it).
    - ``patience`` is budget: when a run stops, not what its epochs compute; a resume may change it, but a run
      with another patience is another result (reproduce and sweeps keep it in the identity).
    - ``max_batches_per_epoch`` is semantic: an epoch of fewer batches changes what every later epoch computes
      (the per-epoch lr decay, the plateau schedule), not only where the run stops.
    - ``deterministic`` is execution: torch's deterministic kernels compute the same steps, reproducibly rounded.
    """

    epochs: int = budget(20, ">= 1")
    patience: int | None = budget(None, ">= 1")  # early stopping: epochs without validation improvement
    # stop once the learning rate (after lr_decay or plateau halving) is below this; none = off (GroundHog's minlr)
    min_lr: float | None = budget(None, "> 0")
    max_steps: int | None = budget(None, ">= 1")  # stop after this many optimiser steps in total (smoke runs)
    max_batches_per_epoch: int | None = semantic(None, ">= 1")  # cap the batches of each training epoch (smoke runs)
    # torch.manual_seed takes 64 bits, numpy's generators no negatives
    seed: int = semantic(0, "[0, 18446744073709551616)")
    device: str = execution("auto", ("auto", "cpu", "cuda", "cuda:N"))  # "auto", "cpu" or "cuda"
    deterministic: bool = execution(False)
    # consecutive non-finite losses/gradients before the run stops
    max_bad_steps: int = budget(10, ">= 1")
    threads: int | None = execution(None, ">= 1")  # torch intra-op threads; None = torch's default
    # make training batches ahead in a background thread (training/prefetch.py), meant for GPUs; off by default
    prefetch: bool = execution(False)
    # record the lm task's training step once as a CUDA graph and replay it (training/graphed.py); CUDA only,
    # off by default
    cuda_graph: bool = execution(False)
    # log to TensorBoard in RUN_DIR/tensorboard (training/runlog.py; needs the tensorboard package); off by default
    tensorboard: bool = execution(False)


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

    def flat(self) -> dict[str, Any]:
        """Every option by its dotted key (``"model.hidden_size": 200``), in declaration order."""
        sections = self.to_dict().items()
        return {f"{section}.{key}": value for section, values in sections for key, value in values.items()}

    def identity(self, ignore: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
        """What makes two configs the same run: ``flat()`` without the options whose role (``ROLES``) or dotted
        key is in ``ignore``. Resume ignores ``RESUMABLE``; reproduce and sweep ``SAME_RESULT``."""
        unknown = [name for name in ignore if name not in ROLES and name not in ROLE_OF]
        if unknown:
            raise ValueError(f"cannot ignore {', '.join(unknown)}: neither a role ({', '.join(ROLES)}) nor a key")
        return {key: value for key, value in self.flat().items() if key not in ignore and ROLE_OF[key] not in ignore}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config", *, stored: bool = True) -> Config:
        """A config from a dict. ``stored`` (a config.json, checkpoint or sweep record): a key it lacks takes
        the value that meant when it was written (its ``absent_means``, deeprnn.options); otherwise (a TOML
        file) its default."""
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


# The role of each dotted key, from its declaration; and the two answers to "is this the same run?":
ROLE_OF = {f"{section.name}.{option.name}": option.metadata[ROLE]
           for section in fields(Config) for option in fields(section.default_factory)}
RESUMABLE = ("execution", "budget")  # a resumed run may go on elsewhere, faster, or for longer
SAME_RESULT = ("execution",)  # a run made elsewhere is the same result; one trained longer is not


def config_differences(old: Config, new: Config,
                       ignore: tuple[str, ...] | list[str] = ()) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for each key whose value differs, apart from those ``ignore`` names."""
    before, after = old.identity(ignore), new.identity(ignore)
    return [(key, before[key], after[key]) for key in before if before[key] != after[key]]


def changed_keys(old: Config, new: Config, ignore: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The dotted keys whose values differ between ``old`` and ``new``, apart from those ``ignore`` names."""
    return [key for key, _, _ in config_differences(old, new, ignore)]


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
    value = coerce_value(dotted_key, value, source)
    section_name, key = dotted_key.split(".", 1)
    setattr(getattr(config, section_name), key, value)


def coerce_value(dotted_key: str, value: Any, source: str = "--set") -> Any:
    """``value`` as ``section.key`` stores it (``"none"`` is None, 3 is 3.0 for a float), checked; or ConfigError."""
    if "." not in dotted_key:
        sections = ", ".join(_section_names())
        raise ConfigError(f"{source}: expected section.key, got '{dotted_key}' (sections: {sections})")
    section_name, key = dotted_key.split(".", 1)
    _check_key(section_name, _section_names(), source)
    section_type = get_type_hints(Config)[section_name]
    _check_key(key, [f.name for f in fields(section_type)], source, prefix=f"{section_name}.")
    value = _coerce(value, get_type_hints(section_type)[key], dotted_key, source)
    check_value(dotted_key, value, source)
    return value


# Allowed values per section and key, from each field's declaration (deeprnn.options.check_option).
CHECKS = {"model": checks(ModelConfig), "data": checks(DataConfig), "optim": checks(OptimConfig),
          "train": checks(TrainConfig)}


def check_value(dotted_key: str, value: Any, source: str = "config") -> None:
    """Refuse a value outside the key's entry in ``CHECKS`` (None is left to the type, which allows it or not)."""
    section, key = dotted_key.split(".", 1)
    check_option(dotted_key, CHECKS[section].get(key), value, source)


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
        raise ConfigError(f"config file not found: {path}" + ("" if seen else " (nor a packaged preset: "
                          f"{presets.configs_root()} has none of that name)"))
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"{path}: 'extends' must be the path of a config file (a string), got {base_name!r}")
    merged = _read_toml(path.parent / base_name, seen + (path,))
    for section, values in raw.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the TOML file (and what it extends), then ``key=value`` overrides in order. ``path``: a file,
    or the name of a packaged preset (``demo``, ``music/jsb``; deeprnn.presets)."""
    raw = _read_toml(presets.resolve(path)) if path else {}
    config = Config.from_dict(raw, source=str(path), stored=False) if path else Config()
    config = apply_overrides(config, overrides)
    # a user's TOML is user input too: checked against the model it ends up with, after the overrides
    model_keys = [key for key in raw.get("model", {}) if key != "name"] if isinstance(raw.get("model"), dict) else []
    _refuse_inapplicable(config, model_keys, source=f"{path}: model.")
    return config


def apply_overrides(config: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """``key=value`` overrides in order (user input: a model option the model does not read is refused)."""
    given = []
    for text in overrides:
        key, value = parse_override(text)
        set_value(config, key, value)
        given.append(key)
    validate(config)
    _refuse_inapplicable(config, [key.partition(".")[2] for key in given if key.startswith("model.")])
    return config


def _refuse_inapplicable(config: Config, options: list[str], source: str = "--set model.") -> None:
    """Refuse a model option given with --set or in a user's TOML that the model does not read and that would
    change nothing (deeprnn.architectures); ``source`` starts the one-line error."""
    if not options or config.model.name not in architectures.ARCHITECTURES:
        return
    defaults = {f.name: f.default for f in fields(ModelConfig)}
    try:
        architectures.refuse_inapplicable(config.model.name, {key: getattr(config.model, key) for key in options},
                                          defaults, source=source)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def validate(config: Config) -> None:
    """Check every key against ``CHECKS`` (set_value checks each value it sets; this also covers defaults and
    configs built in code). Checks that span keys live in the model and data packages."""
    for section in _section_names():
        for key, value in dataclasses.asdict(getattr(config, section)).items():
            check_value(f"{section}.{key}", value)
