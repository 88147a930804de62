"""docs/results/replication.md: the 2025 replication report, item by item, in its order.

Each item of the report (``REPORT``; its statements, as the project's reference notes restate them, in ``ITEMS``)
gets the command that reproduces it, our figure, the report's statement quoted, and one verdict computed from the
committed results: "holds here", "does not hold here", "not comparable, because ...", or "not run yet". The
grids have one run per point (seed 0); on music an effect counts beyond the seed noise measured at the dataset's
default point (``Margin``), elsewhere beyond a fixed margin and the verdict says "one seed". Below the items,
the full record of every replication grid (its tables, its runs cut by the budget, its machines).
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scipy.stats import studentized_range

from deeprnn.architectures import MODEL_NAMES
from deeprnn.metric_keys import is_accuracy, larger_is_better
from deeprnn.reports.gradflow_figures import plot_against_length
from deeprnn.reports.results_sections import anchor, figure_line, label, points_not_run, table_md
from deeprnn.reports.runs import Run, load_table_runs, metric_value
from deeprnn.reports.table_specs import GRADFLOW_CSV, GridTable, TableSpec

REPORT = ("Cristea et al. 2025 (P.-T. Cristea, D.-F. Cringanu, P.-L. Eftimie, A. Hodoroaga, *Investigating the "
          "robustness and applicability of Deep RNNs*, report, June 2025), a replication of Pascanu, Gulcehre, Cho "
          "& Bengio 2014")
HOLDS, FAILS, NOT_COMPARABLE, NOT_RUN = "holds here", "does not hold here", "not comparable", "not run yet"
MUSIC_MARGIN = 0.05  # nats per frame: an effect on music NLL counts from here where no seed spread was measured
TEXT_MARGIN = 0.01  # relative: an effect on perplexity or bits per character counts from 1%
FEWEST_VALUES = 4  # a sweep is judged from this many of its values, both ends included (all, where it has fewer)


@dataclass(frozen=True)
class Verdict:
    word: str  # HOLDS, FAILS, NOT_COMPARABLE or NOT_RUN
    because: str

    def line(self) -> str:
        return f"**Verdict: {self.word}**" + (f", {self.because}" if self.word == NOT_COMPARABLE
                                                else f": {self.because}")


@dataclass(frozen=True)
class Item:
    heading: str  # the report's item, e.g. "Figure 3"
    varies: str
    tables: tuple[str, ...]  # the tables of tables.toml it reads, each one's figure shown
    metric: str  # the metric of the figures shown
    quote: str  # the report's statement
    judge: Callable[[Results], Verdict]  # from the results of its tables


# --- reading the results -------------------------------------------------------------------------


class Results:
    """The committed results of the replication's tables, each read once."""

    def __init__(self, results_dir: Path, tables: dict[str, TableSpec]):
        self.dir = results_dir
        self.tables = tables
        self._runs: dict[str, list[Run]] = {}
        self._gradflow: dict[str, list[dict]] = {}

    def runs(self, table: str) -> list[Run]:
        if table not in self._runs:
            self._runs[table] = [run for _, run, _ in load_table_runs(self.dir / table)]
        return self._runs[table]

    def gradflow(self, table: str) -> list[dict]:
        if table not in self._gradflow:
            path = self.dir / table / GRADFLOW_CSV
            with path.open(newline="") if path.is_file() else open(os.devnull) as f:
                self._gradflow[table] = [
                    {**row, "depth": int(row["depth"]), "length": int(row["length"]),
                     **{key: float(row[key]) for key in ("loss", "grad_h1", "grad_hT", "param_grad_norm")}}
                    for row in csv.DictReader(f)]
        return self._gradflow[table]

    def has(self, table: str) -> bool:
        return bool(self.gradflow(table) or self.runs(table))


def curve(runs: list[Run], metric: str, key: str, model: str | None = None) -> dict:
    """``metric`` at each run's last epoch (the protocol's: no early stopping) against ``key``, for one model
    (None: every run), sorted by ``key``."""
    points = {}
    for run in runs:
        if (model is None or run.model == model) and key in run.config:
            value = metric_value(run, metric, len(run.epochs))
            if value is not None:
                points[run.config[key]] = value
    return dict(sorted(points.items()))


def ends(points: dict) -> tuple[tuple, tuple]:
    """The (key, value) at the smallest and at the largest key."""
    items = list(points.items())
    return items[0], items[-1]


def listing(points: dict, metric: str) -> str:
    if is_accuracy(metric):
        return ", ".join(f"{key}: {100 * value:.2f}%" for key, value in points.items())
    return ", ".join(f"{key}: {value:.3f}" for key, value in points.items())


def effect(higher: float, lower: float, metric: str) -> float:
    """How much ``lower`` is below ``higher``, in the unit the margins use (nats for NLL, else relative)."""
    return higher - lower if metric.endswith("nll") else (higher - lower) / higher


@dataclass(frozen=True)
class Margin:
    """How large an effect must be to count. With a seed standard deviation ``sigma`` measured at the dataset's
    default point, a spread of n single runs counts beyond the 95th percentile of the range of n draws of seed
    noise (Tukey's studentized range; for two runs, 2.77 sigma: a two-sided 95% test of their difference);
    without one, beyond ``fixed`` (MUSIC_MARGIN, TEXT_MARGIN), and the verdict rests on one seed."""

    sigma: float | None
    fixed: float = 0.0
    fixed_text: str = ""  # the fixed margin in its unit ("0.05 nats", "1%")

    def beyond(self, runs: int = 2) -> float:
        if self.sigma is None:
            return self.fixed
        return float(studentized_range.ppf(0.95, runs, math.inf)) * self.sigma

    def text(self, runs: int = 2) -> str:
        if self.sigma is None:
            return f"one seed; an effect counts from {self.fixed_text}"
        what = "a difference of two runs" if runs == 2 else f"a spread of {runs} runs"
        return (f"one run per point; the seed standard deviation at the default point is {self.sigma:.3f} nats, so "
                f"{what} counts beyond {self.beyond(runs):.3f}, 95% of seed noise")


def margin_of(results: Results, tables: tuple[str, ...], metric: str) -> Margin:
    """On music NLL, the largest standard deviation over seeds 0-2 at the default point of the tables' datasets
    (the replication-seeds-* tables), where it was measured; else a fixed margin."""
    if not metric.endswith("nll"):
        return Margin(None, TEXT_MARGIN, f"{TEXT_MARGIN:.0%}")
    fixed = Margin(None, MUSIC_MARGIN, f"{MUSIC_MARGIN:g} nats")
    stds = []
    for table in tables:
        seeds = [name for name in results.tables if name.startswith(SEEDS)
                 and table_dataset(results, name) == table_dataset(results, table)]
        by_model: dict[str, list[float]] = {}
        for run in (results.runs(seeds[0]) if seeds else []):
            by_model.setdefault(run.model, []).append(metric_value(run, metric, len(run.epochs)))
        spreads = [statistics.stdev(values) for values in by_model.values() if len(values) > 2]
        if not spreads:
            return fixed
        stds.append(max(spreads))
    return Margin(max(stds)) if stds else fixed


def one_seed(text: str) -> str:
    return f"{text} (one seed)"


def short(key: str) -> str:
    return key.rpartition(".")[2].replace("_", " ")


# --- the verdicts, one rule each -----------------------------------------------------------------


def best_at(table: str, key: str, metric: str, expected, collapsed: tuple = ()) -> Callable[[Results], Verdict]:
    """The report's best point of a one-model grid is at ``expected``: ours is there or within the margin of it,
    and each of the ``collapsed`` points, where the report's runs fell to a plateau, is worse by the margin."""
    def judge(results: Results) -> Verdict:
        points = curve(results.runs(table), metric, key)
        best = (max if larger_is_better(metric) else min)(points, key=points.get)
        least = margin_of(results, (table,), metric)
        tied = expected in points and worse_by(points[best], points[expected], metric) < least.beyond()
        near = f", within the margin of {expected}" if tied and best != expected else ""
        because = f"our best {metric} is at {short(key)} {best}{near} ({listing(points, metric)})"
        kept = [str(p) for p in collapsed if tied and p in points
                and worse_by(points[expected], points[p], metric) < least.beyond()]
        if kept:
            because += (f"; not worse than at {expected} by the margin at {short(key)} {', '.join(kept)}, "
                        "where the report's fell")
        elif collapsed and tied:
            because += f"; worse than at {expected} by the margin wherever the report's fell"
        return Verdict(HOLDS if tied and not kept else FAILS, f"{because} ({least.text()})")
    return judge


def worse_by(good: float, other: float, metric: str) -> float:
    """How much worse ``other`` is than ``good``, in the unit the margins use (negative where it is better)."""
    return effect(good, other, metric) if larger_is_better(metric) else effect(other, good, metric)


def training_accuracy_rises(table: str, key: str, model: str) -> Callable[[Results], Verdict]:
    def judge(results: Results) -> Verdict:
        values = curve(results.runs(table), "train.acc", key, model)
        rising = all(b > a for a, b in zip(list(values.values()), list(values.values())[1:]))
        return Verdict(HOLDS if rising else FAILS,
                       one_seed(f"{label(model)}'s training accuracy at the last epoch by {short(key)}: "
                                f"{listing(values, 'train.acc')}"))
    return judge


def insensitive(tables: tuple[str, ...], key: str, metric: str, models: tuple[str, ...]
                ) -> Callable[[Results], Verdict]:
    """Over the swept ``key``, ``metric`` stays within the margin, for every model and table."""
    def judge(results: Results) -> Verdict:
        parts, ok, runs = [], True, 2
        least = margin_of(results, tables, metric)
        for table in tables:
            for model in models:
                values = curve(results.runs(table), metric, key, model)
                if not values:
                    continue
                runs = len(values)
                ok &= effect(max(values.values()), min(values.values()), metric) < least.beyond(runs)
                parts.append(f"{label(model)} ({table_dataset(results, table)}) {listing(values, metric)}")
        return Verdict(HOLDS if ok else FAILS, f"{metric} by {short(key)}: " + "; ".join(parts)
                       + f" ({least.text(runs)})")
    return judge


def larger_helps(tables: tuple[str, ...], key: str, metric: str, helped: tuple[str, ...],
                 not_helped: tuple[str, ...] = (), hurts: bool = False) -> Callable[[Results], Verdict]:
    """At the largest ``key`` ``metric`` is better than at the smallest by the margin for ``helped`` and not
    for ``not_helped``; with ``hurts``, worse by the margin for every model in ``helped``."""
    def judge(results: Results) -> Verdict:
        parts, ok = [], True
        ran = tuple(table for table in tables if results.runs(table))
        least = margin_of(results, ran, metric)
        for table in ran:
            for model in helped + not_helped:
                values = curve(results.runs(table), metric, key, model)
                if not values:
                    continue
                (low, first), (high, last) = ends(values)
                change = effect(last, first, metric) if hurts else effect(first, last, metric)
                ok &= (change >= least.beyond()) == (model in helped)
                parts.append(f"{label(model)} ({table_dataset(results, table)}) {first:.3f} at {low}, "
                             f"{last:.3f} at {high}")
        return Verdict(HOLDS if ok else FAILS, f"{metric} at the smallest and the largest {short(key)}: "
                                               + "; ".join(parts) + f" ({least.text()})")
    return judge


def table_dataset(results: Results, table: str) -> str:
    """The dataset a grid table's title names ("Replication Figure 8: MuseData, ..." -> "MuseData")."""
    return results.tables[table].title.partition(": ")[2].partition(",")[0]


def hidden_saturates(table: str) -> Callable[[Results], Verdict]:
    """Valid NLL falls up to hidden 400 (400 better than every smaller size by the margin) and then stays
    within the margin (600 against 400), for every model of the grid."""
    def judge(results: Results) -> Verdict:
        runs = results.runs(table)
        least = margin_of(results, (table,), "valid.nll")
        held, parts = [], []
        for model in sorted({run.model for run in runs}, key=MODEL_NAMES.index):
            values = curve(runs, "valid.nll", "model.hidden_size", model)
            smaller = [v for size, v in values.items() if size < 400]
            ok = min(smaller) - values[400] >= least.beyond() and abs(values[600] - values[400]) < least.beyond()
            held += [label(model)] if ok else []
            parts.append(f"{label(model)} best at {min(values, key=values.get)}")
        word = HOLDS if len(held) == len(parts) else FAILS
        return Verdict(word, f"it holds for {len(held)} of {len(parts)} models" + (f" ({', '.join(held)})" if held
                                                                                 else "")
                       + "; valid NLL " + "; ".join(parts) + f" ({least.text()})")
    return judge


def behind_rnn(table: str, models: tuple[str, ...]) -> Callable[[Results], Verdict]:
    """In the report's grid the deep-transition models are behind the plain RNN at every hidden size; ours
    against our RNN, size by size (valid NLL at the last epoch)."""
    def judge(results: Results) -> Verdict:
        runs = results.runs(table)
        rnn = curve(runs, "valid.nll", "model.hidden_size", "rnn")
        parts, ok = [], True
        for model in models:
            values = curve(runs, "valid.nll", "model.hidden_size", model)
            ahead = [size for size, value in values.items() if value < rnn.get(size, float("inf"))]
            ok &= not ahead
            parts.append(f"{label(model)} is behind the RNN at {len(values) - len(ahead)} of {len(values)} sizes"
                         + (f", ahead at hidden {', '.join(map(str, ahead))}" if ahead else ""))
        return Verdict(HOLDS if ok else FAILS, one_seed("valid NLL at epoch 10: " + "; ".join(parts)
                                                        + "; unlike the report's, our deep-transition models "
                                                          "train (the record below)"))
    return judge


def not_comparable(because: str) -> Callable[[Results], Verdict]:
    return lambda results: Verdict(NOT_COMPARABLE, because)


def span(values: list[float]) -> str:
    low, high = f"{min(values):.2g}", f"{max(values):.2g}"
    return low if low == high else f"{low}-{high}"


def dts_ratios(rows: list[dict], source: str, others: tuple[str, ...]) -> dict[str, list[float]]:
    """DT(S)-RNN's ‖∂L/∂θ‖ over each other model's, at every (depth, T) of ``source`` both were measured at."""
    norms = {(r["model"], r["depth"], r["length"]): r["param_grad_norm"] for r in rows if r["source"] == source}
    return {other: [norms[("dts-rnn", d, T)] / norms[(other, d, T)] for (m, d, T) in norms
                    if m == "dts-rnn" and (other, d, T) in norms] for other in others}


def gradient_ratio(table: str) -> Callable[[Results], Verdict]:
    """The report: DT(S)-RNN's gradient norms are 3-8x those of sRNN and DOT(S)-RNN (synthetic inputs). Judged
    on our synthetic measurement at initialisation; the ratio after training on MuseData is stated beside it."""
    def judge(results: Results) -> Verdict:
        rows = results.gradflow(table)
        ratios = dts_ratios(rows, "synthetic", ("srnn", "dots-rnn"))
        ok = all(min(values) >= 3 for values in ratios.values())
        spans = [f"{span(v)} times {label(other)}'s" for other, v in ratios.items()]
        text = f"at initialisation our DT(S)-RNN's ‖∂L/∂θ‖ is {' and '.join(spans)} over every depth and T"
        trained = [r for r in rows if r["source"].endswith("-run-trained")]
        if trained:
            after = dts_ratios(trained, trained[0]["source"], ("srnn",))["srnn"]
            if after:
                text += (f"; after 10 epochs on MuseData (depth 2), {span(after)} times sRNN's over T "
                         f"{min(r['length'] for r in trained)}-{max(r['length'] for r in trained)}")
        return Verdict(HOLDS if ok else FAILS, one_seed(text))
    return judge


def all_of(*judges: Callable[[Results], Verdict]) -> Callable[[Results], Verdict]:
    """Holds where every part holds; the reasons joined."""
    def judge(results: Results) -> Verdict:
        verdicts = [j(results) for j in judges]
        word = HOLDS if all(v.word == HOLDS for v in verdicts) else FAILS
        return Verdict(word, "; ".join(v.because for v in verdicts))
    return judge


# --- the report's items, in its order ------------------------------------------------------------

FIG1, FIG1_TRAINED = "replication-fig1", "replication-fig1-musedata"
TABLE1, TABLE2 = "replication-table1", "replication-table2"
SEEDS = "replication-seeds-"  # a dataset's default point at three seeds: its seed spread
ITEMS = (
    Item("Figure 1 (section 4.1)", "gradient norms against depth and sequence length, every architecture",
         (FIG1, FIG1_TRAINED), "param_grad_norm",
         "Synthetic inputs X of shape 32 x T x 10, T from 10 to 200, several depths. Reported gradient norms: "
         "DT(S)-RNN 0.06-0.24, sRNN 0.02-0.05, DOT(S)-RNN 0.03-0.05; none below 1e-6 or above 10. Its conclusion: "
         "DT(S)-RNN's gradient norms are 3-8x those of sRNN and DOT(S)-RNN, which it reads as better gradient flow "
         "and learning dynamics for deep transitions than for stacking. On MuseData: DT(S)-RNN 0.0379 vs sRNN "
         "0.0313; DT(S)-RNN on synthetic data 0.0058.", gradient_ratio(FIG1)),
    Item("Figure 2", "RNN hidden size, Penn Treebank character level", ("replication-fig2",), "train.acc",
         "RNN hidden size 100-600, 7 epochs, PTB char level: training accuracy rises with size.",
         training_accuracy_rises("replication-fig2", "model.hidden_size", "rnn")),
    Item("Figure 3", "DT(S)-RNN transition depth, Penn Treebank character level", ("replication-fig3",), "valid.acc",
         "DT(S)-RNN depth 2-8, PTB char level: best validation accuracy 37.10% at depth 2; training plateaus near "
         "19.5% from depth 5.", best_at("replication-fig3", "model.transition_depth", "valid.acc", 2,
                                       collapsed=(5, 6, 7, 8))),
    Item("Figure 4", "DT(S)-RNN transition size, Penn Treebank word level", ("replication-fig4",), "valid.ppl",
         "DT(S)-RNN transition size grid, PTB word level, hidden 200, depth 3: insensitive.",
         insensitive(("replication-fig4",), "model.transition_size", "valid.ppl", ("dts-rnn",))),
    Item("Figure 5", "sRNN hidden size, Penn Treebank word level", (TABLE1,), "train.acc",
         "sRNN hidden 200-700, 2 layers, PTB word level: training accuracy rises; validation not monotonic.",
         training_accuracy_rises(TABLE1, "model.hidden_size", "srnn")),
    Item("Table 1", "hidden size of four models, Penn Treebank word level", (TABLE1,), "valid.ppl",
         "Validation loss (BCE) at epoch 7, PTB word level: RNN 2.4248-3.2689, DT(S)-RNN 3.1010-3.3677, DOT(S)-RNN "
         "8.4992-8.7786, sRNN 2.4016-3.4005 over hidden 100-700.",
         not_comparable("because its numbers are a binary cross-entropy with logits, mean per output unit, of a "
                        "softmax language model, which cannot be converted to perplexity; its DOT(S)-RNN, just "
                        "below ln 10000 = 9.21 (a uniform guess), did not train (its record below shows ours)")),
    Item("Figure 6", "DT(S)-RNN transition depth, CoNLL-2000 word level", ("replication-fig6",), "valid.acc",
         "DT(S)-RNN depth 2-8, CoNLL-2000 word level: best validation accuracy 32.33% (loss 1.9419) at depth 2; "
         "depths 3, 5-8 near 10.56%.",
         best_at("replication-fig6", "model.transition_depth", "valid.acc", 2, collapsed=(3, 5, 6, 7, 8))),
    Item("Figure 7", "DT(S)-RNN hidden size, CoNLL-2000 word level", ("replication-fig7",), "valid.acc",
         "DT(S)-RNN hidden 100-700 (transition 200, depth 3), CoNLL-2000: best validation accuracy 35.17% (loss "
         "1.8454) at hidden 300.", best_at("replication-fig7", "model.hidden_size", "valid.acc", 300)),
    Item("Figure 8", "transition size of DT(S)-RNN and DOT(S)-RNN, MuseData", ("replication-fig8",), "valid.nll",
         "Larger transition size mostly helps DT(S)-RNN, not DOT(S)-RNN.",
         larger_helps(("replication-fig8",), "model.transition_size", "valid.nll", ("dts-rnn",), ("dots-rnn",))),
    Item("Figure 9", "DOT(S)-RNN intermediate output size, Nottingham", ("replication-fig9",), "valid.nll",
         "A larger intermediate output size \"greatly reduced the loss\" for DOT(S)-RNN.",
         larger_helps(("replication-fig9",), "model.output_size", "valid.nll", ("dots-rnn",))),
    Item("Figure 10", "layers of sRNN, LSTM and GRU, JSB Chorales and Nottingham",
         ("replication-fig10", "replication-nottingham-layers"), "valid.nll",
         "More layers hurt sRNN, LSTM and GRU on JSB and Nottingham, with little effect on MuseData.",
         larger_helps(("replication-fig10", "replication-nottingham-layers"), "model.num_layers", "valid.nll",
                      ("srnn", "lstm", "gru"), hurts=True)),
    Item("Section 4.3, first statement", "hidden size of every model, JSB Chorales (Table 2's runs)", (TABLE2,),
         "valid.nll", "Hidden size helps up to ~400, then saturates.", hidden_saturates(TABLE2)),
    Item("Section 4.3, second statement", "DT(S)-RNN and DOT(S)-RNN depths, JSB Chorales",
         ("replication-jsb-transition-depth", "replication-jsb-output-depth"), "valid.nll",
         "Transition/output depth had little effect.",
         all_of(insensitive(("replication-jsb-transition-depth",), "model.transition_depth", "valid.nll",
                            ("dts-rnn", "dots-rnn")),
                insensitive(("replication-jsb-output-depth",), "model.output_depth", "valid.nll", ("dots-rnn",)))),
    Item("Table 2", "hidden size of six models, JSB Chorales", (TABLE2,), "valid.nll",
         "Validation loss (BCE, mean per key) at epoch 10, JSB Chorales: RNN 0.1616-0.2479, sRNN 0.1602-0.2484, "
         "LSTM 0.2323-0.2486, GRU 0.1896-0.2495, DT(S)-RNN 0.2477-0.2486, DOT(S)-RNN 0.6935-0.7001 over hidden "
         "10-600. (Our reading of these numbers: the deep-transition models are behind the RNN at every size.)",
         behind_rnn(TABLE2, ("dts-rnn", "dots-rnn"))),
)


# --- the page ------------------------------------------------------------------------------------


def verdict_of(item: Item, results: Results) -> Verdict:
    """The item's verdict once its first table has results; the tables still to run are named after it."""
    def command(table: str) -> str:
        cost = results.tables[table].cpu_hours if table in results.tables else None
        return f"`deeprnn reproduce {table}`" + (f" ({cost:g} CPU-hours)" if cost else "")

    missing = [table for table in item.tables if table not in results.tables or not results.has(table)]
    lacking = {table: values_lacking(results.tables[table], results.runs(table))
               for table in item.tables if table not in missing}
    todo = [command(table) for table in missing] + [
        f"{command(table)}, run so far at {lacks} (a sweep is judged from {FEWEST_VALUES} of its values, "
        "both ends included)" for table, lacks in lacking.items() if lacks]
    if item.tables[0] in missing or lacking.get(item.tables[0]):
        return Verdict(NOT_RUN, " and ".join(todo))
    verdict = item.judge(results)
    if todo:
        verdict = Verdict(verdict.word, f"{verdict.because}; still to run: {' and '.join(todo)}")
    return verdict


def values_lacking(table: TableSpec, runs: list[Run]) -> str:
    """Which swept values of a grid have run, where too few have for its curve to be judged ("" once enough
    have): for each model, ``FEWEST_VALUES`` values of each swept key (all, where it has fewer), both ends
    included. A part-run grid would otherwise be judged on whichever points finished first."""
    if not isinstance(table, GridTable):
        return ""
    not_run = points_not_run(table, runs)
    lacking = []
    for model in dict.fromkeys(point.get("model.name") for point in table.points):
        points = [point for point in table.points if point.get("model.name") == model]
        for key in sorted({key for point in points for key in point if key != "model.name"}):
            planned = sorted({point[key] for point in points if key in point})
            done = sorted({point[key] for point in points if key in point and point not in not_run})
            if len(planned) < 2 or (len(done) >= min(FEWEST_VALUES, len(planned))
                                    and planned[0] in done and planned[-1] in done):
                continue  # not swept for this model, or enough of it has run
            lacking.append(f"{label(model) + ' ' if model else ''}{short(key)} {', '.join(map(str, done)) or 'none'}"
                           f" of {', '.join(map(str, planned))}")
    return "; ".join(lacking)


def grid_figure_path(table: str, metric: str, figure_dir: Path) -> Path | None:
    """The figure of one of the item's tables for its metric, as that table's grid section below wrote it."""
    png = figure_dir / f"{table}_{metric.replace('.', '_')}.png"
    return png if png.is_file() else None


def gradflow_figure(results: Results, figure_dir: Path) -> Path:
    """The report's Figure 1 layout: ‖∂L/∂θ‖ on a log scale against T, a panel per architecture, a line per
    depth; synthetic inputs at initialisation."""
    records = [r for r in results.gradflow(FIG1) if r["source"] == "synthetic"]
    title = "‖∂L/∂θ‖ against T at initialisation: synthetic inputs 32 × T × 10, last-step squared loss"
    return plot_against_length(records, "param_grad_norm", "‖∂L/∂θ‖", figure_dir / f"{FIG1}_synthetic",
                               title=title)[0]


THEIR_SYNTHETIC = {"dts-rnn": "0.06-0.24", "srnn": "0.02-0.05", "dots-rnn": "0.03-0.05"}  # "gradient norms"


def synthetic_rows(results: Results) -> list[list[str]]:
    """Per architecture, the range over depths and T of our two norms, beside the report's range."""
    rows = [["model", "theirs (quantity not stated)", "ours ‖∂L/∂θ‖", "ours ‖∂L/∂h_1‖"]]
    records = [r for r in results.gradflow(FIG1) if r["source"] == "synthetic"]
    for model in sorted({r["model"] for r in records}, key=MODEL_NAMES.index):
        mine = [r for r in records if r["model"] == model]
        rows.append([label(model), THEIR_SYNTHETIC.get(model, "–"),
                     *(f"{min(r[k] for r in mine):.3g}-{max(r[k] for r in mine):.3g}"
                       for k in ("param_grad_norm", "grad_h1"))])
    return rows


def musedata_rows(results: Results) -> list[list[str]]:
    """‖∂L/∂θ‖ on MuseData, DT(S)-RNN and sRNN at depth 2, at initialisation and trained, by T."""
    norms = {(r["source"].rpartition("-")[2], r["model"], r["length"]): r["param_grad_norm"]
             for r in results.gradflow(FIG1) if r["source"].startswith("musedata-run-") and r["depth"] == 2}
    lengths = sorted({length for _, _, length in norms})
    columns = [(state, model) for model in ("dts-rnn", "srnn") for state in ("init", "trained")]
    header = ["T", *(f"{label(model)}, {'initialised' if state == 'init' else 'after 10 epochs'}"
                     for state, model in columns)]
    rows = [[str(T), *(f"{norms[(s, m, T)]:.4g}" if (s, m, T) in norms else "–" for s, m in columns)]
            for T in lengths]
    return [header, *rows]


def gradflow_body(results: Results, figure_dir: Path | None, page_dir: Path) -> list[str]:
    lines = [
        "The quantity (docs/gradflow.md): the norm of the gradient of a loss at the last step with respect to "
        "all recurrent-core parameters, ‖∂L/∂θ‖ (Frobenius, summed in float64), for a batch of 32. Synthetic: "
        "X ~ N(0, 1) of shape 32 × T × 10, L = ½‖V h_T − y‖² / 32 with a fixed random read-out V and targets y; "
        "MuseData: the model's own next-frame NLL at step T, on windows of the training split. The report does "
        "not say which loss, norm or parameters it used, so only ratios between architectures compare; its "
        "numbers sit beside ours as printed.", ""]
    if results.gradflow(FIG1):
        lines += ["Synthetic inputs at initialisation (the models as training initialises them; the settings are "
                  f"in results/{FIG1}/settings.json), the range over depths 2-8 and T 10-200:", "",
                  *table_md(synthetic_rows(results), left=(0, 1)), ""]
    if figure_dir is not None and results.gradflow(FIG1):
        lines += figure_line("Figure 1, ours: synthetic inputs", gradflow_figure(results, figure_dir), page_dir)
    if any(r["source"].startswith("musedata-run-") for r in results.gradflow(FIG1)):
        rows = [r for r in results.gradflow(FIG1) if r["source"].startswith("musedata-run-")]
        ratios = {state: dts_ratios(rows, f"musedata-run-{state}", ("srnn",))["srnn"] for state in ("init", "trained")}
        lines += ["MuseData, ‖∂L/∂θ‖ at depth 2 (the trained models: 10 epochs of the replication's protocol, "
                  f"`deeprnn reproduce {FIG1_TRAINED}`):", "", *table_md(musedata_rows(results)), "",
                  "The report's MuseData numbers, DT(S)-RNN 0.0379 against sRNN 0.0313 (DT(S)-RNN 1.2 times the "
                  "sRNN), state neither T, nor the loss, nor whether the models were trained; ours, DT(S)-RNN "
                  f"against sRNN: {span(ratios['init'])} times at initialisation, {span(ratios['trained'])} times "
                  "after 10 epochs.", ""]
    return lines


def item_section(item: Item, verdict: Verdict, results: Results, figure_dir: Path | None, page_dir: Path
                 ) -> list[str]:
    lines = [f"## {item.heading}: {item.varies}", "", f"> {item.quote}", ""]
    records = [f"[{results.tables[t].title}](#{anchor(results.tables[t].title)})" for t in item.tables
               if t in results.tables and t != FIG1]
    if records:
        lines += ["Ours: " + "; ".join(records) + ".", ""]
    if item.tables[0] == FIG1:
        lines += gradflow_body(results, figure_dir, page_dir)
    elif figure_dir is not None and verdict.word != NOT_RUN:
        for table in item.tables:  # an item over two datasets (Figure 10) shows both
            png = grid_figure_path(table, item.metric, figure_dir)
            if png is not None:
                lines += figure_line(results.tables[table].title, png, page_dir)
    return lines + [verdict.line(), ""]


def summary_table(verdicts: list[Verdict]) -> list[str]:
    rows = [["report item", "what it varies", "verdict"]]
    for item, verdict in zip(ITEMS, verdicts):
        rows.append([f"[{item.heading}](#{anchor(item.heading + ': ' + item.varies)})", item.varies, verdict.word])
    return table_md(rows, left=(0, 1, 2))


def replication_items(results: Results, figure_dir: Path | None, page_dir: Path) -> list[str]:
    """The head of docs/results/replication.md: the summary of verdicts and one section per item; the grid
    sections (the full record) follow it. Call after the grid sections were rendered, whose figures it shows."""
    verdicts = [verdict_of(item, results) for item in ITEMS]
    lines = [
        f"{REPORT} (its setup and every number it reports are restated in the project's reference notes; the "
        "quotes below are from there). Its experiments in its order, each with our figure, its statement and a "
        "verdict computed from the committed runs: \"holds here\", \"does not hold here\", \"not comparable\" "
        "(with the reason) or \"not run yet\" (with the command). The protocol is the report's where it states "
        "it: SGD with clipping for 10 epochs on music, Adam for 7 on text, one hyper-parameter varied at a time, "
        "the others at 200 and 2; where it is silent (initialisation, dropout) each grid uses the defaults named "
        "in its record. Every grid has one run per point (seed 0). On music the protocol's seed spread is measured "
        "at each dataset's default point (seeds 0-2, the replication-seeds tables), and an effect counts where it "
        "exceeds 95% of what that seed noise gives (a difference of two runs beyond 2.77 standard deviations, a "
        "spread of n runs beyond the studentized range's 95th percentile); elsewhere a verdict rests on one seed "
        f"(\"one seed\"), and an effect counts from {MUSIC_MARGIN:g} nats per frame on music and "
        f"{TEXT_MARGIN:.0%} on text.", "",
        *summary_table(verdicts), ""]
    for item, verdict in zip(ITEMS, verdicts):
        lines += item_section(item, verdict, results, figure_dir, page_dir)
    return lines


def verdict_counts(results: Results) -> str:
    """"3 hold here, 5 do not hold here, ..." over the report's items (RESULTS.md's line on the page)."""
    words = [verdict_of(item, results).word for item in ITEMS]
    return ", ".join(f"{words.count(word)} {word}" for word in (HOLDS, FAILS, NOT_COMPARABLE, NOT_RUN)
                     if word in words)
