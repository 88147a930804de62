"""The sections of RESULTS.md and of its per-benchmark pages, each a function of ``results/`` alone.

``deeprnn reproduce TABLE`` keeps each finished run's small files under ``results/<table>/`` and snapshots
the table definitions (``configs/recipes/tables.toml``) as ``results/tables.json``. Every number of ours is
read from a committed ``summary.json`` / ``metrics.jsonl``, every quoted one from ``deeprnn.reports.published``;
formatting is fixed and sorted, without timestamps or absolute paths. ``deeprnn.reports.results_md`` puts the
sections together into RESULTS.md and the pages under docs/results/.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deeprnn import architectures, metric_keys, stop_reasons
from deeprnn.metric_keys import DECIMALS, UNITS, is_accuracy
from deeprnn.reports.published import QUOTED, SOURCES, get_published
from deeprnn.reports.results_figures import grid_figure, recipe_figure
from deeprnn.reports.runs import Run, RunSet, larger_is_better, load_table_runs, metric_value
from deeprnn.reports.table_specs import GridTable, RecipeTable, TableSpec
from deeprnn.reports.tables import Table, build_table, column_order, format_value, to_markdown

BASELINE_FILE = "baseline.json"  # results/<table>/baseline.json: a baseline's metrics, a row of its table
FIGURES = "figures"  # under results/: the figures of RESULTS.md
NOT_RUN = "not run yet"

# A model published after the paper is labelled as an extension wherever it appears beside the paper's models.
LABELS = {**{name: text + (" (extension)" if name in architectures.extensions() else "")
             for name, text in architectures.labels().items()},
          "dots-rnn-star": "DOT(S)-RNN*", "tcn": "TCN",  # and recipes' own names
          "rnn-matched": "RNN (parameter-matched)", "dots-rnn-nodrop": "DOT(S)-RNN, no dropout"}


def anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def label(name: str) -> str:
    return LABELS.get(name, name)


def fmt(metric: str, value: float) -> str:
    if is_accuracy(metric):
        return f"{100 * value:.{metric_keys.PERCENT_DECIMALS}f}%"
    return f"{value:.{DECIMALS.get(metric.rpartition('.')[2], 3)}f}"


def fmt_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value). ``math.fsum``: correctly rounded, so the
    report does not depend on the Python version (3.12's ``sum`` compensates, 3.11's does not)."""
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def spread(values: list) -> str:
    """``5`` or ``3–7``: the range of integer facts (epochs, parameters) over seeds."""
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def bound(metric: str, target: float) -> str:
    shown = f"{100 * target:g}%" if is_accuracy(metric) else f"{target:g}"
    return f"{'≥' if larger_is_better(metric) else '≤'} {shown}"


def meets(metric: str, value: float, target: float) -> bool:
    return value >= target if larger_is_better(metric) else value <= target


def table_md(lines: list[list[str]], left: tuple[int, ...] = (0,)) -> list[str]:
    """A Markdown table; the columns in ``left`` are left-aligned, the others (numbers) right-aligned."""
    rule = ["---" if i in left else "---:" for i in range(len(lines[0]))]
    return ["| " + " | ".join(cells) + " |" for cells in [lines[0], rule, *lines[1:]]]


# --- reading results/ ------------------------------------------------------------------------------


def machine(env: dict[str, Any]) -> str:
    if not env:
        return "machine not recorded"
    device = env.get("cuda_device") or f"{env.get('cpu_count', '?')} CPUs ({env.get('processor', '?')})"
    threads = env.get("torch_threads")
    return (f"{env.get('platform', '?')}, {device}, torch {env.get('torch', '?')}"
            + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""))


def code_versions(envs: list[dict[str, Any]]) -> str:
    """'deeprnn 0.1.0 at commits a1b2c3d, e4f5a6b' (runs of a table are often made over several sittings)."""
    commits: dict[str, set[str]] = {}
    for env in envs:
        for part in [env, *env.get("resumed_under", [])]:  # a run resumed under other code lists that too
            found = commits.setdefault(str(part.get("deeprnn", "?")), set())
            if part.get("git_commit"):
                found.add(part["git_commit"][:7] + (" with uncommitted changes" if part.get("source_modified") else ""))
    parts = []
    for version, found in sorted(commits.items()):
        listed = ", ".join(sorted(found))
        parts.append(f"deeprnn {version}" + (f" at commit{'s' if len(found) > 1 else ''} {listed}" if found else ""))
    return "; ".join(parts)


def environment_lines(found: list[tuple[str, Run, dict[str, Any]]]) -> list[str]:
    machines = sorted({machine(env) for _, _, env in found})
    versions = code_versions([env for _, _, env in found if env])
    total = math.fsum(run.summary.get("wall_time_s", 0.0) for _, run, _ in found)
    return [f"Machine: {'; '.join(machines)}. Code: {versions or 'not recorded'}. "
            f"Training time of these runs, summed: {fmt_duration(total)}."]


# --- recipe tables: one row per model, mean ± std over seeds -------------------------------------


def figure_line(title: str, png: Path | None, link_from: Path) -> list[str]:
    """A Markdown image of ``png``, linked relative to the directory of the Markdown file."""
    if png is None:
        return []
    return [f"![{title}]({Path(os.path.relpath(png, link_from)).as_posix()})", ""]


@dataclass(frozen=True)
class RecipeRow:
    """The numbers of one recipe's row of a recipe table (what RESULTS.md shows is made from them)."""

    recipe: str  # the model name, e.g. "dts-rnn"
    target: float | None  # the bound on its mean, if any
    runs: tuple[Run, ...]  # its finished runs, by seed
    seeds_run: int = 0  # runs that have the reported metric
    mean: float | None = None  # of the reported metric over those runs; None: not run yet
    std: float | None = None  # sample standard deviation; None for a single run
    valid_mean: float = math.nan  # of the validation metric of the same name
    met: bool | None = None  # every target of the row met; None without a target, or one not judged yet
    wall_s: float = 0.0  # mean wall time per run
    on_gpu: int = 0  # runs made on a GPU: their wall times are not comparable with the CPU runs'
    beat_rnn: bool = False  # a target too: its mean better than the RNN's (judged once both have run)

    @property
    def has_target(self) -> bool:
        return self.target is not None or self.beat_rnn


@dataclass(frozen=True)
class RecipeRows:
    """A recipe table's numbers: one row per recipe (in the table's order) and the best model's."""

    rows: tuple[RecipeRow, ...]
    best: RecipeRow | None  # the row with the best mean; None when no recipe has run
    best_target: float | None  # the table's target for its best model
    best_met: bool | None  # None without that target or without runs
    runs: int  # finished runs of the table

    def counts(self) -> dict[str, int]:
        """Targets stated, met and not run yet (for the summary table at the top of RESULTS.md)."""
        has_best = self.best_target is not None
        return {"targets": sum(row.has_target for row in self.rows) + has_best,
                "met": sum(row.met is True for row in self.rows) + bool(self.best_met),
                "open": sum(row.has_target and row.met is None for row in self.rows)
                + (has_best and self.best is None),
                "runs": self.runs}


def recipe_rows(table: RecipeTable, runs: list[tuple[str, Run, dict[str, Any]]]) -> RecipeRows:
    """The numbers of a recipe table from its finished runs, (name under results/<table>/, run, env) as
    ``load_table_runs`` gives them; a run's recipe is the first part of its name."""
    metric = table.metric
    valid_metric = validation_metric(metric)
    by_recipe = runs_by_recipe(runs)
    env_of = {run.path: env for _, run, env in runs}
    rows = []
    for recipe in table.recipe_names:
        found = tuple(sorted(by_recipe.get(recipe, []), key=lambda r: r.config.get("train.seed", 0)))
        target = table.target(recipe)
        values = [v for v in (metric_value(r, metric) for r in found) if v is not None]
        if not values:
            rows.append(RecipeRow(recipe, target, found))
            continue
        mean, std = mean_std(values)
        valid_values = [v for v in (metric_value(r, valid_metric) for r in found) if v is not None]
        rows.append(RecipeRow(
            recipe, target, found, len(values), mean, std, mean_std(valid_values or [math.nan])[0],
            meets(metric, mean, target) if target is not None else None,
            math.fsum(r.summary.get("wall_time_s", 0.0) for r in found) / len(found),
            sum(bool(env_of[r.path].get("cuda_device")) for r in found)))
    rows = judge_beat_rnn(rows, table.beat_rnn or (), metric)
    ran = [row for row in rows if row.mean is not None]
    best = (max if larger_is_better(metric) else min)(ran, key=lambda row: row.mean) if ran else None
    best_met = meets(metric, best.mean, table.target_best) if best and table.target_best is not None else None
    return RecipeRows(tuple(rows), best, table.target_best, best_met, len(runs))


def judge_beat_rnn(rows: list[RecipeRow], beat_rnn: tuple[str, ...], metric: str) -> list[RecipeRow]:
    """The rows of ``beat_rnn`` with that target judged: met when the row's mean is strictly better than the
    RNN's and any bound of its own is met too; open (None) until both the row and the RNN have run."""
    rnn = next((row.mean for row in rows if row.recipe == "rnn"), None)
    judged = []
    for row in rows:
        if row.recipe in beat_rnn:
            beats = None if row.mean is None or rnn is None else row.mean != rnn and meets(metric, row.mean, rnn)
            met = beats if beats is None or row.met is None else beats and row.met
            row = dataclasses.replace(row, beat_rnn=True, met=met)
        judged.append(row)
    return judged


def runs_by_recipe(runs: list[tuple[str, Run, dict[str, Any]]]) -> dict[str, list[Run]]:
    by_recipe: dict[str, list[Run]] = {}
    for name, run, _ in runs:
        by_recipe.setdefault(name.split("/")[0], []).append(run)
    return by_recipe


@dataclass(frozen=True)
class RecipeResult:
    """A recipe table read from results/: its runs, their numbers and its figure (None without runs)."""

    table: RecipeTable
    found: list[tuple[str, Run, dict[str, Any]]]
    numbers: RecipeRows
    png: Path | None = None


def read_recipe_table(table: RecipeTable, results_dir: Path, figure_dir: Path | None) -> RecipeResult:
    """A recipe table's runs and numbers, its figure drawn into ``figure_dir`` (none when None)."""
    found = load_table_runs(results_dir / table.name)
    numbers = recipe_rows(table, found)
    png = (recipe_figure(table, runs_by_recipe(found), LABELS, figure_dir / table.name)
           if figure_dir is not None else None)
    return RecipeResult(table, found, numbers, png)


def recipe_section(result: RecipeResult, results_dir: Path, link_from: Path | None) -> list[str]:
    """A recipe table's full section (on its benchmark's page): table, figure, targets, the runs cut by their
    budget, the claim, the published numbers, the machine and the notes."""
    table, numbers, found = result.table, result.numbers, result.found
    lines = recipe_head(table) + recipe_table(table, numbers, results_dir / table.name / BASELINE_FILE) + [""]
    if link_from is not None:
        lines += figure_line(table.title, result.png, link_from)
    lines += target_lines(table, numbers)
    lines += budget_lines(table, numbers)
    lines += rate_floor_lines(table, numbers)
    lines += claim_lines(table, numbers)
    lines += published_lines(table, table.metric)
    if found:
        lines += environment_lines(found) + [""]
    if table.notes:
        lines += [table.notes.strip(), ""]
    return lines


def recipe_head(table: RecipeTable) -> list[str]:
    """The heading and the paragraph saying how the table is made."""
    split, _, key = table.metric.partition(".")
    better = "higher" if larger_is_better(table.metric) else "lower"
    cost = f" Estimated cost: {table.cpu_hours:g} CPU-hours." if table.cpu_hours is not None else ""
    head = [f"## {table.title}", "",
            f"`deeprnn reproduce {table.name}`: {len(table.recipe_names)} recipes × {table.seeds} seed(s), "
            f"recipes in `configs/recipes/` ({', '.join(f'`{r}.toml`' for r in table.recipes)}). "
            f"Metric: {UNITS.get(key, key)} on the {split} set, of the best-validation checkpoint ({better} is "
            f"better); ours as mean ± sample std over seeds." + cost, ""]
    return head + ([table.description, ""] if table.description else [])


def initialisation(run: Run) -> str:
    """The weight initialisation a run used, from its stored config: the scheme, its non-zeros per row where
    sparse, a spectral radius other than 1 and, for a deep transition, its step gain (a config without
    transition_gain predates it: the scheme's own gain, as with none)."""
    config = run.config
    text = str(config.get("model.init", "orthogonal"))
    if text in ("sparse", "groundhog"):
        text += f" ({config.get('model.sparse_nonzeros')} non-zeros)"
    if config.get("model.spectral_radius", 1.0) != 1.0:
        text += f", radius {config['model.spectral_radius']:g}"
    if run.model in architectures.ARCHITECTURES and architectures.applies(run.model, "transition_gain"):
        gain = config.get("model.transition_gain")
        text += f", gain {gain:g}" if gain is not None else ", its own gain"
    return text


def recipe_table(table: RecipeTable, numbers: RecipeRows, baseline_file: Path) -> list[str]:
    """The Markdown table: the baseline's row (if any), then one row per recipe."""
    metric, columns = table.metric, list(table.columns or ())
    valid_metric = validation_metric(metric)
    rows = [["model", f"ours {metric}", *columns, "seeds", valid_metric, "params", "initialisation", "best epoch",
             "epochs", "wall time / run", "target", "met?"]]
    rows += baseline_rows(baseline_file, metric, columns, valid_metric)
    for row in numbers.rows:
        shown_target = target_text(metric, row) or "–"
        if row.mean is None:
            rows.append([label(row.recipe), NOT_RUN, *[""] * len(columns), f"0/{table.seeds}", "", "", "", "", "",
                         "", shown_target, NOT_RUN if row.has_target else "–"])
            continue
        runs = row.runs
        where = ("" if not row.on_gpu else " (GPU)" if row.on_gpu == len(runs)
                 else f" ({row.on_gpu} of {len(runs)} on GPU)")
        rows.append([
            label(row.recipe), fmt(metric, row.mean) + (f" ± {fmt(metric, row.std)}" if row.std is not None else ""),
            *[column_mean(runs, column) for column in columns],
            f"{row.seeds_run}/{table.seeds}", fmt(valid_metric, row.valid_mean),
            spread([r.summary["params"] for r in runs]), " / ".join(dict.fromkeys(map(initialisation, runs))),
            spread([r.summary["best_epoch"] for r in runs]),
            spread([r.summary["epochs"] for r in runs]), fmt_duration(row.wall_s) + where, shown_target,
            "–" if not row.has_target else NOT_RUN if row.met is None else "yes" if row.met else "**no**",
        ])
    return table_md(rows, left=(0, 5 + len(columns)))  # the model and its initialisation are words


def target_text(metric: str, row: RecipeRow, rnn: RecipeRow | None = None) -> str:
    """A row's targets, e.g. "≤ 107.5, < RNN"; with the RNN's row, its mean too: "< RNN (123.6)"."""
    parts = [bound(metric, row.target)] if row.target is not None else []
    if row.beat_rnn:
        rnn_mean = f" ({fmt(metric, rnn.mean)})" if rnn is not None and rnn.mean is not None else ""
        parts.append(f"{'>' if larger_is_better(metric) else '<'} RNN{rnn_mean}")
    return ", ".join(parts)


def target_lines(table: RecipeTable, numbers: RecipeRows, full: bool = True) -> list[str]:
    """The best model against its target, the targets missed and the recipes not run; ``full``: with where the
    targets come from and what was tried (on the benchmark's page; RESULTS.md links there)."""
    metric, best = table.metric, numbers.best
    lines = [f"Where the targets come from: {table.target_source}.", ""] if table.target_source and full else []
    rnn = next((row for row in numbers.rows if row.recipe == "rnn"), None)
    missed = [f"{label(row.recipe)}: {fmt(metric, row.mean)}, target {target_text(metric, row, rnn)}"
              for row in numbers.rows if row.met is False]
    if numbers.best_target is not None:
        target = bound(metric, numbers.best_target)
        if best is None:
            lines.append(f"Target for the best model {target}: {NOT_RUN}.")
        else:
            lines.append(f"Best of ours: {label(best.recipe)}, {fmt(metric, best.mean)}; target for the best model "
                         f"{target}: {'met' if numbers.best_met else '**missed**'}.")
            if not numbers.best_met:
                missed.append(f"best model: {fmt(metric, best.mean)} ({label(best.recipe)}), target {target}")
        lines.append("")
    if missed:
        lines += ["**Targets not reached:** " + "; ".join(missed) + ".", ""]
    if full and (missed or table.tried):
        lines += tried_text(table.tried)
    not_run = [label(row.recipe) for row in numbers.rows if row.mean is None]
    if not_run:
        lines += [f"Not run yet: {', '.join(not_run)}.", ""]
    return lines


def tried_text(tried: str | tuple[str, ...] | None) -> list[str]:
    """A table's ``tried``: one line, or a bullet per item (a search, a probe) when it is a list."""
    if not tried:
        return ["What was tried: nothing beyond the recipes above yet.", ""]
    if isinstance(tried, str):
        return [f"What was tried: {tried}", ""]
    return ["What was tried:", "", *(f"- {item}" for item in tried), ""]


def validation_metric(metric: str) -> str:
    """The validation twin of a table's test metric: "test.ppl" -> "valid.ppl"."""
    return "valid." + metric.partition(".")[2]


def run_name(recipe: str, run: Run) -> str:
    """"DT(S)-RNN seed 1": a recipe's run as the budget and floor lines name it."""
    return f"{label(recipe)} seed {run.config.get('train.seed', 0)}"


def cut_by_budget(run: Run) -> bool:
    """A run its budget stopped before early stopping could: it stopped at its train.epochs or train.max_steps,
    not by early stopping, the learning-rate floor or divergence, with its best epoch within its last
    train.patience epochs (without a patience: its last epoch)."""
    if not stop_reasons.is_budget(run.summary.get("stopped")):
        return False
    return run.summary["epochs"] - run.summary["best_epoch"] < (run.config.get("train.patience") or 1)


def last_epoch_change(run: Run, metric: str) -> float | None:
    """How much ``metric`` ("valid.nll") changed in the run's last epoch; None with fewer than two epochs."""
    values = [metric_value(run, metric, epoch=record["epoch"]) for record in run.epochs[-2:]]
    return values[1] - values[0] if len(values) == 2 and None not in values else None


def budget_note(run: Run, valid_metric: str) -> str:
    """"still improving: best epoch 100 of 100, its last epoch's change -0.0060", or, when its last epochs did
    not improve, "best epoch 8 of 10, none better in its last 2"."""
    best, epochs = run.summary["best_epoch"], run.summary["epochs"]
    if best < epochs:
        last = "its last epoch" if epochs - best == 1 else f"its last {epochs - best} epochs"
        return f"best epoch {best} of {epochs}, none better in {last}"
    change = last_epoch_change(run, valid_metric)
    if change is None:
        return f"still improving: best epoch {best} of {epochs}"
    shown = format_change(valid_metric, change)
    return f"still improving: best epoch {best} of {epochs}, its last epoch's change {shown}"


def budget_lines(table: RecipeTable, numbers: RecipeRows) -> list[str]:
    """The runs of a recipe table that their budget stopped before early stopping could."""
    valid_metric = validation_metric(table.metric)
    cut = [f"{run_name(row.recipe, run)} ({budget_note(run, valid_metric)})"
           for row in numbers.rows for run in filter(cut_by_budget, row.runs)]
    return stopped_by_budget(cut, valid_metric)


def rate_floor_lines(table: RecipeTable, numbers: RecipeRows) -> list[str]:
    """The runs of a recipe table stopped once the plateau halvings took the rate below train.min_lr, each with
    its last epoch's change: how close to its validation minimum it ended."""
    valid_metric = validation_metric(table.metric)
    stopped = [f"{run_name(row.recipe, run)} ({rate_floor_note(run, valid_metric)})"
               for row in numbers.rows for run in row.runs
               if stop_reasons.is_rate_floor(run.summary.get("stopped"))]
    if not stopped:
        return []
    return ["**Stopped by the learning-rate floor** (the plateau halvings took the rate below train.min_lr): "
            + "; ".join(stopped) + ".", ""]


def rate_floor_note(run: Run, valid_metric: str) -> str:
    """"after epoch 15, its last epoch's change -0.05"."""
    change = last_epoch_change(run, valid_metric)
    note = f"after epoch {run.summary['epochs']}"
    return note if change is None else f"{note}, its last epoch's change {format_change(valid_metric, change)}"


def format_change(valid_metric: str, change: float) -> str:
    """A change of ``valid_metric`` at one more decimal than the metric is shown with (accuracy in points)."""
    name = valid_metric.partition(".")[2]
    return (f"{100 * change:+.3f} points" if is_accuracy(valid_metric)
            else f"{change:+.{DECIMALS.get(name, 3) + 1}f}")


def stopped_by_budget(cut: list[str], valid_metric: str) -> list[str]:
    if not cut:
        return []
    return [f"**Stopped by the budget before early stopping** (train.epochs or train.max_steps reached with the best "
            f"{valid_metric} within the last train.patience epochs): " + "; ".join(cut) + ".", ""]


# The paper's deep RNNs (and our DOT(S)-RNN*, its L_p variant): the models its claim is about.
DEEP_RNNS = (*architectures.in_claim(), "dots-rnn-star", "dots-rnn-nodrop")  # and their recipe variants
MATCHED_RNN = "rnn-matched"  # the RNN recipe at the hidden size that gives it DOT(S)-RNN's parameter count
CLAIM = "at least one deep RNN beats the regular RNN"


@dataclass(frozen=True)
class Claim:
    """The paper's claim in one recipe table: the best deep RNN against the RNN."""

    holds: bool
    margin: str  # "", " (one seed)", " by 10.6 (one seed)", " by 0.211, more than the seed spread (0.018)"
    best: RecipeRow
    rnn: RecipeRow

    @property
    def verdict(self) -> str:
        return ("holds" if self.holds else "**does not hold**") + self.margin


def claim(table: RecipeTable, numbers: RecipeRows) -> Claim | None:
    """Whether the paper's claim holds in a table that quotes published numbers or asks the deep RNNs to beat the
    RNN (``beat_rnn``): the best deep RNN (mean over seeds) against the RNN, by how much, and whether that gap is
    larger than the two rows' seed spreads (std) together ("one seed" where a row has no spread); None without
    such a table, the RNN's runs or a deep RNN's."""
    by_recipe = {row.recipe: row for row in numbers.rows if row.mean is not None}
    deep = [by_recipe[name] for name in DEEP_RNNS if name in by_recipe]
    if not (table.published or table.beat_rnn) or "rnn" not in by_recipe or not deep:
        return None
    rnn = by_recipe["rnn"]
    better = max if larger_is_better(table.metric) else min
    # the deep model is chosen on validation (its test mean is then read once), as every recipe was
    best = better(deep, key=lambda row: row.mean if math.isnan(row.valid_mean) else row.valid_mean)
    holds = best.mean != rnn.mean and better(best.mean, rnn.mean) == best.mean
    return Claim(holds, _margin(table.metric, best, rnn, holds), best, rnn)


def _margin(metric: str, best: RecipeRow, rnn: RecipeRow, holds: bool) -> str:
    """" by 0.211, more than the seed spread (0.018)", " by 10.6 (one seed)", or for a claim that does not hold
    only whether the rows have seeds to compare."""
    one_seed = not (best.std and rnn.std)
    if not holds:
        return " (one seed)" if one_seed else ""
    gap = f" by {fmt(metric, abs(best.mean - rnn.mean))}"
    if one_seed:
        return gap + " (one seed)"
    spread = best.std + rnn.std
    beyond = "more" if abs(best.mean - rnn.mean) > spread else "less"
    return f"{gap}, {beyond} than the seed spread ({fmt(metric, spread)})"


def claim_lines(table: RecipeTable, numbers: RecipeRows) -> list[str]:
    """The claim line of a recipe table (see ``claim``); none when there is no claim to check."""
    found = claim(table, numbers)
    if found is None:
        return []
    metric = table.metric
    verdict = "holds" if found.holds else "**does not hold**"
    best, rnn = found.best, found.rnn
    line = (f"The paper's claim ({CLAIM}; Pascanu et al. 2013): {verdict} here{found.margin}: {label(best.recipe)} "
            f"{fmt(metric, best.mean)} against the RNN's {fmt(metric, rnn.mean)} (the RNN recipe).")
    matched = next((row for row in numbers.rows if row.recipe == MATCHED_RNN and row.mean is not None), None)
    if matched is not None:  # the same claim against the RNN with as many parameters as DOT(S)-RNN
        better = max if larger_is_better(metric) else min
        holds = best.mean != matched.mean and better(best.mean, matched.mean) == best.mean
        line += (f" Against the parameter-matched RNN ({fmt(metric, matched.mean)}): "
                 f"{'holds' if holds else '**does not hold**'}{_margin(metric, best, matched, holds)}.")
    extensions = [row.recipe for row in numbers.rows if row.recipe in architectures.extensions()]
    if extensions:
        line += (f" {', '.join(label(name) for name in extensions)}: "
                 f"{architectures.FAMILIES['extension']}.")
    return [line, ""]


def column_mean(runs: list[Run], metric: str) -> str:
    """The mean of ``metric`` over the runs that have it (runs made before it existed do not): "–" if none."""
    values = [v for v in (metric_value(r, metric) for r in runs) if v is not None]
    return fmt(metric, mean_std(values)[0]) if values else "–"


def baseline_rows(path: Path, metric: str, columns: list[str], valid_metric: str) -> list[list[str]]:
    """The row of a table's baseline (``results/<table>/baseline.json``), or none without that file."""
    if not path.is_file():
        return []
    baseline = json.loads(path.read_text())

    def value(name: str) -> str:
        split, _, key = name.partition(".")
        number = baseline.get(split, {}).get(key)
        return fmt(name, number) if isinstance(number, int | float) and math.isfinite(number) else "–"

    return [[f"{baseline['baseline']} baseline", value(metric), *[value(c) for c in columns], "–",
             value(valid_metric), "–", "–", "–", "–", "–", "–", "–"]]


def published_lines(table: TableSpec, metric: str) -> list[str]:
    if not table.published:
        return []
    rows = [["model", "published", "source"]]
    notes = []
    for set_name in table.published:
        published = get_published(set_name)
        for quote in published.quotes:
            model = label(quote.model) + "".join(f", {part}" for part in (quote.variant, quote.protocol) if part)
            rows.append([model, quote.quoted, quote.source])
        if published.metric != metric:
            notes.append(f"{set_name} reports {published.metric}, not {metric}")
    sources = sorted({row[2] for row in rows[1:]})
    lines = [f"Published ({QUOTED}):", "", *table_md(rows, left=(0, 2)), ""]
    lines += [f"- {note}." for note in notes]
    lines += [f"- {source}: {SOURCES[source]}" for source in sources] + [""]
    return lines


# --- grid tables: rows = swept values, columns = models (the replication's layout) ---------------


def variant(run: Run) -> str:
    """The column of a run: its model, starred for the paper's DOT(S)-RNN* (L_p transition, maxout output)."""
    return point_variant({**run.config, "model.name": run.model})


def points_not_run(table: GridTable, runs: list[Run]) -> list[dict[str, Any]]:
    """The points of a grid's preset that no run has the values of."""
    return [point for point in table.points
            if not any(all(run.config.get(key) == value for key, value in point.items()) for run in runs)]


def grid_section(table: GridTable, results_dir: Path, figures: tuple[Path, Path] | None = None
                 ) -> tuple[list[str], dict[str, int]]:
    """A search's (or the replication's) section of its page, and its counts: runs kept, points not run yet."""
    name = table.name
    found = load_table_runs(results_dir / name)
    preset = posixpath.normpath(f"configs/recipes/{table.sweep}")
    lines = [f"## {table.title}", "",
             f"`deeprnn reproduce {name}`: the sweep preset `{preset}` "
             f"(one run per point, seed 0)." + (f" Estimated cost: {table.cpu_hours:g} CPU-hours."
                                                if table.cpu_hours is not None else ""), ""]
    if table.description:
        lines += [table.description, ""]
    counts = {"targets": 0, "met": 0, "open": 0, "runs": len(found)}
    published_sets = tuple(get_published(s) for s in table.published)
    epoch = table.epoch
    shown_beside = {(metric, epoch) for metric in table.metrics} if found else set()
    theirs = []  # published sets that cannot sit beside ours (another metric, or nothing of ours yet)
    for published in published_sets:
        if (published.metric, published.epoch) not in shown_beside:
            theirs += [f"Theirs ({QUOTED}): {published.description}.", "", *published_grid(published), ""]
    if not found:
        lines += ["Not run yet.", "", *theirs]
        if table.notes:
            lines += [table.notes.strip(), ""]
        return lines, counts
    missing = points_not_run(table, [run for _, run, _ in found])
    counts["open"] = len(missing)
    runs = []
    for _, run, _ in found:
        run.config = {**run.config, "model.name": variant(run)}  # DOT(S)-RNN* gets a column of its own
        runs.append(run)
    runset = RunSet(runs, list(table.row_keys or ()), name)
    for metric in table.metrics:
        matching = tuple(p for p in published_sets if (p.metric, p.epoch) == (metric, epoch))
        grid = _relabel(build_table(runset, metric, epoch, matching, warn=lambda message: None))
        when = f"at epoch {epoch}" if epoch is not None else "of the best-validation checkpoint"
        better = "highest" if larger_is_better(metric) else "lowest"
        lines += [f"### {metric} {when}", "",
                  *to_markdown(grid).rstrip("\n").splitlines(), "",
                  f"Rows: {grid.row_header}; the {better} value "
                  f"{'of each row of ours' if grid.best_of == 'row' else 'of ours'} in **bold**"
                  + ("; † rows quoted, not measured here." if matching else "."), ""]
        lines += [f"- {note}" for note in grid.notes] + ([""] if grid.notes else [])
        lines += compare_line(grid, metric)
        if figures is not None:
            figure_dir, link_from = figures
            png = grid_figure(table, runs, metric, LABELS, figure_dir / f"{name}_{metric.replace('.', '_')}")
            lines += figure_line(f"{table.title}: {metric}", png, link_from)
    lines += grid_budget_lines(table, runs)
    if missing:
        lines += [f"Not run yet: {len(missing)} of {len(table.points)} points: "
                  f"{missing_points(missing, list(table.row_keys or ()))}.", ""]
    lines += theirs
    params = [run.summary["params"] for run in runs]
    run_count = f"{len(found)} run" + ("" if len(found) == 1 else "s")
    lines += [f"{run_count}; {spread(params)} parameters.", *environment_lines(found), ""]
    if table.notes:
        lines += [table.notes.strip(), ""]
    return lines, counts


def grid_budget_lines(table: GridTable, runs: list[Run]) -> list[str]:
    """The points of a search that their budget stopped before early stopping could: a recipe chosen over a
    point cut while still improving was chosen at that budget, and the reader should see it."""
    valid_metric = next((metric for metric in table.metrics if metric.startswith("valid.")), None)
    if valid_metric is None:
        return []
    row_keys = list(table.row_keys or ())

    def name(run: Run) -> str:
        # its column (model, starred), its row, and the keys in which its column's points differ
        column = run.config["model.name"]
        siblings = [point for point in table.points if "model.name" not in point or point_variant(point) == column]
        varying = [key for key in dict.fromkeys(key for point in siblings for key in point)
                   if key not in row_keys and len({repr(point.get(key)) for point in siblings}) > 1]
        where = ", ".join(f"{key.rpartition('.')[2]} {format_value(run.config.get(key))}"
                          for key in (*row_keys, *varying))
        return label(column) + (f" at {where}" if where else "")

    if runs and all(run.config.get("train.patience") is None for run in runs):
        return fixed_budget_lines(runs, valid_metric, name)
    cut = [f"{name(run)} ({budget_note(run, valid_metric)})" for run in runs if cut_by_budget(run)]
    return stopped_by_budget(cut, valid_metric)


def fixed_budget_lines(runs: list[Run], valid_metric: str, name: Callable[[Run], str]) -> list[str]:
    """A grid of a fixed-epoch protocol (no early stopping, as the replication's): one line on how many runs
    were still improving at their last epoch, and the largest such change, instead of a note per run."""
    improving = [(change, run) for run in runs if run.summary["best_epoch"] == run.summary["epochs"]
                 for change in [last_epoch_change(run, valid_metric)] if change is not None]
    epochs = sorted({run.summary["epochs"] for run in runs})
    line = (f"No early stopping (a fixed budget of {', '.join(map(str, epochs))} epochs): "
            f"{len(improving)} of {len(runs)} run{'' if len(runs) == 1 else 's'} still improving {valid_metric} at "
            "the last epoch")
    if improving:
        change, run = max(improving, key=lambda pair: abs(pair[0]))
        line += f", by at most {abs(change):.4g} ({name(run)})"
    return [line + ".", ""]


def point_variant(point: dict[str, Any]) -> str:
    """The column of a search point, as ``variant`` gives a run's."""
    star = point.get("model.activation") == "lp" and point.get("model.output_activation") == "maxout"
    return str(point.get("model.name")) + ("-star" if star else "")


def missing_points(points: list[dict[str, Any]], row_keys: list[str]) -> str:
    """Points grouped by everything but their row keys: "DT(S)-RNN at hidden_size 100, 300; sRNN, ..."."""
    def short(key: str) -> str:
        return key.rpartition(".")[2]

    groups: dict[str, list[str]] = {}
    for point in points:
        fixed = [label(str(value)) if key == "model.name" else f"{short(key)} {format_value(value)}"
                 for key, value in point.items() if key not in row_keys]
        rows = "/".join(format_value(point[key]) for key in row_keys if key in point)
        groups.setdefault(", ".join(fixed), []).append(rows)
    row_name = "/".join(short(key) for key in row_keys)
    return "; ".join(f"{group or 'all'} at {row_name} {', '.join(rows)}" if row_name and any(rows) else group
                     for group, rows in groups.items())


def compare_line(grid: Table, metric: str) -> list[str]:
    """How many cells of ours beat the quoted one right below them (same row value, same model)."""
    pairs, ours = [], None
    for row in grid.rows:
        if row.quoted is None:
            ours = row
        elif ours is not None and row.label.startswith(ours.label + " "):
            pairs += [(ours.values[c], row.values[c]) for c in row.values if c in ours.values]
    if not pairs:
        return []
    better = sum(meets(metric, a, b) and a != b for a, b in pairs)
    return [f"Ours is better than theirs in {better} of the {len(pairs)} cells where both exist.", ""]


def published_grid(published) -> list[str]:
    """A published grid (rows = its row value, columns = models) in its own table."""
    rows = sorted({quote.row for quote in published.quotes})
    models = column_order({quote.model for quote in published.quotes})
    cells = {(quote.row, quote.model): quote.quoted for quote in published.quotes}
    header = [published.row_key.rpartition(".")[2] if published.row_key else "", *(label(m) for m in models)]
    body = [[str(row), *(cells.get((row, m), "–") for m in models)] for row in rows]
    return table_md([header, *body]) + ["", f"- {published.quotes[0].source}: {SOURCES[published.quotes[0].source]}"]


def _relabel(grid: Table) -> Table:
    """Columns in the papers' names (DT(S)-RNN, ...) and rows by the short key names (hidden, dropout)."""
    grid.columns = [label(c) for c in grid.columns]
    grid.row_header = ", ".join(key.rpartition(".")[2] for key in grid.row_header.split(", "))
    for row in grid.rows:
        row.values = {label(c): v for c, v in row.values.items()}
        row.quoted = {label(c): v for c, v in row.quoted.items()} if row.quoted is not None else None
        row.best = label(row.best) if row.best else None
    return grid


