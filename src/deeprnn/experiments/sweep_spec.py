"""What a sweep runs: a base config, fixed overrides and grids of config keys (``--grid`` or a preset).

A sweep preset (``configs/sweeps/*.toml``) names its base training config, its study, fixed overrides
and either one ``[grid]`` (a product of key values) or several ``[[grid]]`` tables, whose points are
the union of their products, so "one hyper-parameter at a time" fits in one preset:

    base = "../music/jsb.toml"      # relative to the preset
    study = "jsb-layers"
    cpu_hours = 1.5
    [set]
    "train.epochs" = 10
    [[grid]]
    "model.name" = ["srnn", "lstm", "gru"]
    "model.num_layers" = [2, 3, 4, 5, 6, 7, 8]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deeprnn import presets
from deeprnn.training.config import (
    SAME_RESULT,
    Config,
    ConfigError,
    apply_overrides,
    load_config,
    parse_override,
    set_value,
    validate,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

PRUNERS = ("none", "median")
PRESET_KEYS = ("base", "study", "description", "cpu_hours", "set", "grid")


@dataclass
class SweepSpec:
    study: str
    base_config: dict[str, Any]  # resolved config, fixed overrides applied
    grids: list[list[tuple[str, list[Any]]]]  # sub-grids; the points are the union of their products
    task: str
    metric: str  # validation metric the trials report (the run's selection metric)
    direction: str  # "minimize" or "maximize"
    config_path: str | None = None
    cpu_hours: float | None = None
    pruner: str = "none"
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["grids"] = [[[key, values] for key, values in grid] for grid in self.grids]
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SweepSpec:
        raw = dict(raw)
        raw["grids"] = [[(key, list(values)) for key, values in grid] for grid in raw["grids"]]
        return cls(**raw)

    def identity(self) -> dict[str, Any]:
        """What a study's trials mean; a study or sweep directory cannot be reused with a different one.

        The base config is compared as a resolved ``Config``: a study stored before a config key was added
        (its default keeps the old behaviour) still means the same runs. Its execution options
        (``SAME_RESULT``: device, threads, ...) are not part of it: a sweep goes on on another machine, as a
        run resumes there.
        """
        raw = self.to_dict()
        base = Config.from_dict(raw["base_config"], source="sweep base config")
        raw["base_config"] = base.identity(ignore=SAME_RESULT)
        return {key: raw[key] for key in ("base_config", "grids", "metric", "direction")}

    def points(self) -> list[dict[str, Any]]:
        """Grid points in order, each once (sub-grids may overlap)."""
        return grid_points(self.grids)

    def choices(self) -> dict[str, list[Any]]:
        """All values of each key; Optuna needs one categorical distribution per parameter name."""
        choices: dict[str, list[Any]] = {}
        for grid in self.grids:
            for key, values in grid:
                known = choices.setdefault(key, [])
                known.extend(v for v in values if v not in known)
        return choices

    def point_config(self, point: dict[str, Any]) -> Config:
        config = Config.from_dict(self.base_config, source="sweep base config")
        for key, value in point.items():
            set_value(config, key, value, source="grid")
        validate(config)
        return config


def point_key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True)


def run_name(point: dict[str, Any]) -> str:
    """A readable, unique directory name for a point.

    ``{"model.name": "dts-rnn", "model.hidden_size": 50}`` -> ``dts-rnn_hidden_size-50_<6 hex digits>``.
    """
    parts = []
    for key, value in point.items():
        short = key.rsplit(".", 1)[-1]
        parts.append(str(value) if short == "name" else f"{short}-{value}")
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", "_".join(parts))[:80]
    digest = hashlib.sha1(point_key(point).encode()).hexdigest()[:6]  # keeps names unique after slugging
    return f"{slug}_{digest}"


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """``model.hidden_size=10,50,100`` -> ("model.hidden_size", [10, 50, 100]); values parsed like --set."""
    if "=" not in text:
        raise ConfigError(f"--grid expects key=value1,value2,..., got '{text}'")
    key, raw = text.split("=", 1)
    items = [item.strip() for item in raw.split(",")]
    if not all(items):
        raise ConfigError(f"--grid {key}: empty value in '{raw}'")
    return key.strip(), [parse_override(f"{key}={item}")[1] for item in items]


def load_preset(path: Path) -> dict[str, Any]:
    """A sweep preset (``configs/sweeps/*.toml``): base, study, cpu_hours, [set] and one [grid] or several [[grid]]."""
    path = presets.resolve(path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(raw) - set(PRESET_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown preset key(s) {', '.join(unknown)}; valid keys: {', '.join(PRESET_KEYS)}")
    if "base" not in raw or "grid" not in raw:
        raise ConfigError(f"{path}: a sweep preset needs 'base' (a training config) and a [grid] table")
    grids = raw["grid"] if isinstance(raw["grid"], list) else [raw["grid"]]
    for grid in grids:
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{path}: grid key '{key}' needs a non-empty list of values")
    return {
        "base": path.parent / raw["base"],
        "study": raw.get("study"),
        "description": raw.get("description"),
        "cpu_hours": raw.get("cpu_hours"),
        "set": raw.get("set", {}),
        "grids": [list(grid.items()) for grid in grids],
    }


def grid_points(grids: list[list[tuple[str, list[Any]]]]) -> list[dict[str, Any]]:
    """The union of the sub-grids' products, in order, each point once (sub-grids may overlap)."""
    points, seen = [], set()
    for grid in grids:
        keys = [key for key, _ in grid]
        for values in itertools.product(*(values for _, values in grid)):
            point = dict(zip(keys, values))
            if point_key(point) not in seen:
                seen.add(point_key(point))
                points.append(point)
    return points


def is_preset(path: Path) -> bool:
    """Sweep presets have a grid; training configs do not."""
    try:
        return "grid" in tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False  # load_config reports it


def build_spec(
    config_path: str | Path,
    grid_args: list[str] = (),
    overrides: list[str] = (),
    study: str | None = None,
    pruner: str = "none",
) -> SweepSpec:
    """The spec of ``deeprnn sweep CONFIG --grid ... --set ...`` (CONFIG: a training config or a sweep preset).

    Every grid point's config is built and validated here, so a typo fails before anything runs.
    """
    from deeprnn.training.metrics import SELECTION_METRIC
    from deeprnn.training.tasks import resolve_task

    path = presets.resolve(config_path)  # a file, or a packaged config by name
    if is_preset(path):
        if grid_args:
            raise ConfigError(f"{path} is a sweep preset with its own grid; --grid is for training configs")
        preset = load_preset(path)
    else:
        grids = [[parse_grid(text) for text in grid_args]] if grid_args else []
        preset = {"base": path, "study": None, "description": None, "cpu_hours": None, "set": {}, "grids": grids}
    config = load_config(preset["base"])
    for key, value in preset["set"].items():
        set_value(config, key, value, source=f"{path} [set]")
    config = apply_overrides(config, list(overrides))
    study = study or preset["study"]
    if not study:
        raise ConfigError("name the study: --study NAME (sweep presets name their own)")
    if not any(preset["grids"]):
        raise ConfigError("nothing to sweep: give at least one --grid KEY=V1,V2,...")
    for grid in preset["grids"]:
        keys = [key for key, _ in grid]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ConfigError(f"grid key(s) given twice: {', '.join(repeated)}")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got '{pruner}'")

    spec = SweepSpec(
        study=study, base_config=config.to_dict(), grids=preset["grids"], task="", metric="", direction="",
        config_path=str(path), cpu_hours=preset["cpu_hours"], pruner=pruner, description=preset["description"],
    )  # fmt: skip
    tasks = {resolve_task(spec.point_config(point)) for point in spec.points()}
    selections = {SELECTION_METRIC[task] for task in tasks}
    if len(selections) > 1:
        raise ConfigError(f"the grid mixes tasks with different selection metrics ({', '.join(sorted(tasks))})")
    [(metric, larger_is_better)] = selections
    spec.task, spec.metric = sorted(tasks)[0], metric
    spec.direction = "maximize" if larger_is_better else "minimize"
    return spec


