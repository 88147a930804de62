"""The tables of RESULTS.md as typed specs: ``RecipeTable``, ``GridTable`` and ``GradflowTable``.

A table is read from ``configs/recipes/tables.toml`` (``from_toml``, by ``deeprnn reproduce``), written to
``results/tables.json`` without local paths (``to_json``) and read back from there (``from_json``, by
RESULTS.md, which is a function of ``results/`` alone). The snapshot holds what the TOML said, plus the
defaults filled in and, for a grid table, its sweep preset's cost and points; a key the TOML left out stays
out of the snapshot (``optional`` fields), so the snapshot written today equals the one committed.

The spec lives here, below ``deeprnn.experiments``: RESULTS.md needs it and must not import the code that
runs sweeps. What only a sweep preset knows (a grid table's ``cpu_hours`` and ``points``) is filled in by
``deeprnn.experiments.reproduce.load_tables``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from deeprnn.architectures import ARCHITECTURES, SIX_MODELS

SNAPSHOT = "tables.json"  # results/tables.json: the table specs RESULTS.md is made from
GRADFLOW_CSV, GRADFLOW_SETTINGS = "gradflow.csv", "settings.json"  # results/<table>/ of a gradient-flow table


class TableError(ValueError):
    """A table definition that cannot be used (the message names the file and the table)."""


def _optional(default: Any = None) -> Any:
    """A field written to the snapshot only when set, as the TOML had it (absent keys stay absent)."""
    return field(default=default, metadata={"optional": True})


def _derived(default: Any = None) -> Any:
    """A field not written in the TOML: filled in from the sweep preset, kept in the snapshot."""
    return field(default=default, metadata={"toml": False})


def _local() -> Any:
    """Where the TOML file is: resolves the recipe and preset paths; never in the snapshot (no local paths)."""
    return field(default=None, compare=False, metadata={"toml": False, "json": False})


def _from_json_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class _Table:
    kind: ClassVar[str]
    required: ClassVar[tuple[str, ...]]

    name: str
    title: str = ""
    description: str | None = _optional()
    published: tuple[str, ...] = ()  # sets of deeprnn.reports.published
    notes: str = ""

    @classmethod
    def toml_keys(cls) -> tuple[str, ...]:
        """The keys a ``[NAME]`` table of tables.toml may have, in declaration order."""
        return ("kind", *(f.name for f in dataclasses.fields(cls) if f.name != "name" and f.metadata.get("toml", True)))

    @classmethod
    def from_toml(cls, name: str, raw: dict[str, Any], base: Path, where: str) -> _Table:
        """The table ``[name]`` of a tables.toml in directory ``base``; ``where`` starts each error message."""
        unknown = sorted(set(raw) - set(cls.toml_keys()))
        if unknown:
            raise TableError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(cls.toml_keys())}")
        for key in cls.required:
            if key not in raw:
                raise TableError(f"{where}: a {cls.kind} table needs '{key}'")
        values = {key: _from_json_value(value) for key, value in raw.items() if key != "kind"}
        table = cls(name=name, base=base, **values)
        table.check(where)
        return table

    def check(self, where: str) -> None:
        """Checks across keys (each kind its own)."""

    def to_json(self) -> dict[str, Any]:
        """The snapshot entry: every field but the local ones; optional ones only when set."""
        entry: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not f.metadata.get("json", True) or (f.metadata.get("optional") and value is None):
                continue
            entry[f.name] = list(value) if isinstance(value, tuple) else value
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> _Table:
        """A snapshot entry back (``results/tables.json``, as committed)."""
        names = {f.name for f in dataclasses.fields(cls) if f.metadata.get("json", True)}
        unknown = sorted(set(entry) - names - {"kind"})
        if unknown:
            raise TableError(f"{SNAPSHOT} [{entry.get('name')}]: unknown key(s) {', '.join(unknown)}")
        return cls(**{key: _from_json_value(value) for key, value in entry.items() if key != "kind"})


@dataclass(frozen=True)
class RecipeTable(_Table):
    """A published-number table: one recipe (a training config) per model, each run with seeds 0..seeds-1."""

    kind: ClassVar[str] = "recipes"
    required: ClassVar[tuple[str, ...]] = ("recipes", "metric")

    recipes: tuple[str, ...] = ()  # "dataset/model", relative to tables.toml without ".toml"
    seeds: int = 1
    metric: str = ""  # the reported one, e.g. "test.nll" (of the best-validation checkpoint)
    target_each: float | None = _optional()  # for every recipe ...
    target_best: float | None = _optional()  # ... for the best one
    targets: dict[str, float] = field(default_factory=dict)  # per recipe (overrides target_each)
    beat_rnn: tuple[str, ...] | None = _optional()  # recipes whose mean must be better than the RNN's (a target)
    target_source: str | None = _optional()  # where the targets come from (a cited source, or ours), shown
    tried: str | tuple[str, ...] | None = _optional()  # printed under any target not reached; a list: bullets
    cpu_hours: float | None = _optional()
    columns: tuple[str, ...] | None = _optional()  # more metrics shown beside the reported one
    baseline: str | None = _optional()  # a dataset whose most-frequent-tag baseline is a row
    base: Path | None = _local()

    @property
    def recipe_names(self) -> tuple[str, ...]:
        """The recipes by model name ("jsb/rnn" -> "rnn"): their rows and directories under results/."""
        return tuple(dict.fromkeys(Path(r).name for r in self.recipes))

    @property
    def recipe_paths(self) -> dict[str, str]:
        """Each recipe's config file, by model name (only for a table read from its TOML file)."""
        if self.base is None:
            raise TableError(f"table {self.name}: read from {SNAPSHOT}, it has no recipe files")
        return {Path(r).name: str(self.base / f"{r}.toml") for r in self.recipes}

    def target(self, recipe: str) -> float | None:
        return self.targets.get(recipe, self.target_each)

    def check(self, where: str) -> None:
        unknown_targets = sorted((set(self.targets) | set(self.beat_rnn or ())) - set(self.recipe_names))
        if unknown_targets:
            raise TableError(f"{where}: targets for recipes not in it: {', '.join(unknown_targets)}")
        if self.beat_rnn and ("rnn" not in self.recipe_names or "rnn" in self.beat_rnn):
            raise TableError(f"{where}: beat_rnn needs the recipe 'rnn' in the table, and not in beat_rnn")


@dataclass(frozen=True)
class GridTable(_Table):
    """A sweep preset's points, one run each (seed 0): the replication's tables, the recipe searches."""

    kind: ClassVar[str] = "grid"
    required: ClassVar[tuple[str, ...]] = ("sweep", "metrics")

    sweep: str = ""  # the preset, relative to tables.toml
    metrics: tuple[str, ...] = ()
    epoch: int | None = _optional()  # the metrics at this epoch; None: of the best-validation checkpoint
    row_keys: tuple[str, ...] | None = _optional()  # the rows; the columns are the models
    cpu_hours: float | None = _derived()  # the preset's own, stated once there
    points: tuple[dict[str, Any], ...] = _derived(())  # the preset's: which of them have not run yet
    base: Path | None = _local()

    @property
    def sweep_path(self) -> str:
        if self.base is None:
            raise TableError(f"table {self.name}: read from {SNAPSHOT}, it has no sweep preset")
        return str(self.base / self.sweep)


@dataclass(frozen=True)
class GradflowTable(_Table):
    """Gradient norms through time (``deeprnn gradflow``, docs/gradflow.md): every model and depth at every
    length, on synthetic inputs and on a music dataset at initialisation, and the finished runs of the grid
    table ``trained`` (their best checkpoints, each beside its architecture freshly initialised). It trains
    nothing: its results are ``results/NAME/gradflow.csv`` and ``settings.json``, no runs."""

    kind: ClassVar[str] = "gradflow"
    required: ClassVar[tuple[str, ...]] = ("depths", "lengths")

    models: tuple[str, ...] = SIX_MODELS
    depths: tuple[int, ...] = ()  # transition depth (dt*/dot*) or layers (srnn, lstm, gru); the rnn has none
    lengths: tuple[int, ...] = ()  # sequence lengths T
    hidden: int = 200
    batch_size: int = 32
    seed: int = 0
    dataset: str | None = _optional()  # measured at initialisation; absent or "none": synthetic inputs only
    trained: str | None = _optional()  # a grid table of the same tables.toml
    cpu_hours: float | None = _optional()
    base: Path | None = _local()

    @property
    def music_dataset(self) -> str | None:
        return None if self.dataset is None or self.dataset.lower() == "none" else self.dataset

    @property
    def pairs(self) -> int:
        """How many (model, depth) pairs are measured: a model without a depth option (rnn) once."""
        return sum(len(self.depths) if ARCHITECTURES[m].depth_option else 1 for m in self.models)

    def check(self, where: str) -> None:
        unknown = [str(model) for model in self.models if model not in ARCHITECTURES]
        if unknown or not self.models:
            raise TableError(f"{where}: models must name architectures ({', '.join(ARCHITECTURES)}), got "
                             f"{', '.join(unknown) or 'none'}")
        for key in ("depths", "lengths", "hidden", "batch_size"):
            value = getattr(self, key)
            values = value if isinstance(value, tuple) else (value,)
            # bool is an int to Python, not a depth or a length to a reader of tables.toml
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                what = "a list of positive integers" if isinstance(value, tuple) else "a positive integer"
                raise TableError(f"{where}: {key} must be {what}, got {value!r}")


TABLE_KINDS: dict[str, type[_Table]] = {"recipes": RecipeTable, "grid": GridTable, "gradflow": GradflowTable}
TableSpec = RecipeTable | GridTable | GradflowTable  # one table of tables.toml


def table_from_toml(name: str, raw: dict[str, Any], base: Path, where: str) -> TableSpec:
    kind = raw.get("kind", "recipes")
    if kind not in TABLE_KINDS:
        raise TableError(f"{where}: kind must be one of {', '.join(TABLE_KINDS)}, got {kind!r}")
    return TABLE_KINDS[kind].from_toml(name, raw, base, where)


def table_from_json(entry: dict[str, Any]) -> TableSpec:
    return TABLE_KINDS[entry.get("kind", "recipes")].from_json(entry)
