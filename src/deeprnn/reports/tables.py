"""Result tables in the layout of the replication's Tables 1 and 2: rows = swept value, columns = model.

The best cell of each row is marked (bold in Markdown, ``\\textbf`` in LaTeX, a ``best`` column in CSV); in a
table of one model of ours, whose every row would be marked, the best row's cell is.
Published numbers can be added as extra rows, each labelled with its source. Output is deterministic
(sorted rows and columns, fixed float formatting) so committed tables regenerate byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

from deeprnn import architectures
from deeprnn.reports.published import QUOTED, SOURCES, PublishedSet
from deeprnn.reports.runs import RunSet, diverged, larger_is_better, metric_value

# Column order of the paper's tables; models not listed here follow, alphabetically.
MODEL_ORDER = architectures.MODEL_NAMES
PUBLISHED_MARK = "†"
MISSING = "–"


@dataclass
class Row:
    label: str
    values: dict[str, float]  # column -> number
    quoted: dict[str, str] | None = None  # column -> number as printed, for published rows
    source: str = ""  # SOURCES key, for published rows
    best: str | None = None  # column of the best cell (our rows only)


@dataclass
class Table:
    metric: str
    epoch: int | None
    row_header: str
    columns: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    best_of: str = "row"  # what the marked cell is best of: "row", or "column" in a table of one model of ours

    @property
    def title(self) -> str:
        when = f"at epoch {self.epoch}" if self.epoch is not None else "of the best-validation checkpoint"
        better = "higher" if larger_is_better(self.metric) else "lower"
        return f"{self.metric} {when} ({better} is better)"

    @property
    def stem(self) -> str:
        return f"table_{self.metric}" + (f"_epoch{self.epoch}" if self.epoch is not None else "")


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def sort_key(value):
    """Sort numbers numerically, then everything else by its JSON text (None, strings, lists)."""
    if not is_number(value):
        return (1, 0.0, json.dumps(value, sort_keys=True))
    return (0, float(value), "")


def format_value(value) -> str:
    if value is None:
        return "default"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return value if isinstance(value, str) else json.dumps(value)


def column_order(models) -> list[str]:
    known = [m for m in MODEL_ORDER if m in models]
    return known + sorted(set(models) - set(known))


def row_label(keys: list[str], values: tuple) -> str:
    if not keys:
        return "all runs"
    if len(keys) == 1:
        return format_value(values[0])
    return ", ".join(f"{key.rpartition('.')[2]}={format_value(v)}" for key, v in zip(keys, values))


def published_rows(published: PublishedSet, keys: list[str]) -> list[tuple[tuple, Row]]:
    """(sort position, row) for each source/variant/row-value group of a published set."""
    groups: dict[tuple, dict] = {}
    for quote in published.quotes:
        groups.setdefault((quote.row, quote.source, quote.variant), {})[quote.model] = quote.quoted
    rows = []
    for (row_value, source, variant), quoted in groups.items():
        aligned = row_value is not None and keys == [published.row_key]
        if row_value is None:
            prefix = ""
        elif aligned:
            prefix = format_value(row_value) + " "
        else:
            prefix = f"{published.row_key.rpartition('.')[2]}={format_value(row_value)} "
        label = prefix + source + (f", {variant}" if variant else "")
        position = (sort_key(row_value),) if aligned else None
        rows.append((position, Row(f"{label} {PUBLISHED_MARK}", {m: float(q) for m, q in quoted.items()},
                                   quoted, source)))
    return rows


def build_table(runset: RunSet, metric: str, epoch: int | None = None, published: tuple[PublishedSet, ...] = (),
                warn=print) -> Table:
    keys = runset.swept
    cells: dict[tuple, dict[str, list[float]]] = {}
    failed: set[tuple] = set()  # (row, model) of cells with a diverged run: never marked best
    for run in runset.runs:
        row = tuple(run.config.get(key) for key in keys)
        value = metric_value(run, metric, epoch)
        cells.setdefault(row, {}).setdefault(run.model, [])
        if value is not None:
            cells[row][run.model].append(value)
        if diverged(run.summary):
            failed.add((row, run.model))

    larger = larger_is_better(metric)
    columns = column_order({model for row in cells.values() for model in row}
                           | {q.model for p in published for q in p.quotes})
    ours = []
    for row_values in sorted(cells, key=lambda r: tuple(sort_key(v) for v in r)):
        values = {}
        for model, found in cells[row_values].items():
            if len(found) > 1:
                warn(f"{row_label(keys, row_values)} / {model}: {len(found)} runs, showing their mean")
            if found:
                values[model] = math.fsum(found) / len(found)
        candidates = {model: value for model, value in values.items() if (row_values, model) not in failed}
        best = (max if larger else min)(candidates, key=candidates.get) if candidates else None
        ours.append((tuple(sort_key(v) for v in row_values), Row(row_label(keys, row_values), values, best=best)))
    one_model = len({model for row in cells.values() for model in row}) == 1
    if one_model:
        _mark_the_best_row([row for _, row in ours], larger)

    # Published rows with a swept value of ours sort among our rows (each below ours of the same value);
    # the others (other row keys, single results) go at the end in the order given.
    extra = [item for p in published for item in published_rows(p, keys)]
    aligned = sorted([(pos, 0, i, row) for i, (pos, row) in enumerate(ours)]
                     + [(pos, 1, i, row) for i, (pos, row) in enumerate(extra) if pos is not None],
                     key=lambda item: item[:3])
    rows = [row for *_, row in aligned] + [row for pos, row in extra if pos is None]

    datasets = {str(run.summary.get("dataset", run.config.get("data.name"))) for run in runset.runs}
    notes = []
    for p in published:
        at = f" at epoch {p.epoch}" if p.epoch else ""
        caveats = [] if (p.metric, p.epoch) == (metric, epoch) else [f"{p.metric}{at}, not this table's metric"]
        if datasets != {p.dataset}:
            caveats.append(f"on {p.dataset}, these runs on {', '.join(sorted(datasets))}")
        notes.append(f"{PUBLISHED_MARK} {p.description}" + (f" ({'; '.join(caveats)})" if caveats else "")
                     + f"; {QUOTED}.")
    sources = sorted({r.source for r in rows if r.source})
    notes += [f"{source}: {SOURCES[source]}" for source in sources]
    return Table(metric, epoch, ", ".join(keys) or "runs", columns, rows, notes, "column" if one_model else "row")


def _mark_the_best_row(rows: list[Row], larger: bool) -> None:
    """In a table of one model, the best value over the rows is marked, not every row's only one."""
    marked = [row for row in rows if row.best is not None]
    winner = (max if larger else min)(marked, key=lambda row: row.values[row.best], default=None)
    for row in rows:
        if row is not winner:
            row.best = None


def _cell(row: Row, column: str, exact: bool = False) -> str:
    if row.quoted is not None:
        return row.quoted.get(column, "")
    value = row.values.get(column)
    if value is None:
        return ""
    return repr(value) if exact else f"{value:.4f}"


def to_markdown(table: Table) -> str:
    header = [table.row_header, *table.columns]
    body = []
    for row in table.rows:
        cells = []
        for column in table.columns:
            text = _cell(row, column) or MISSING
            cells.append(f"**{text}**" if column == row.best else text)
        body.append([row.label, *cells])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(cells) for cells in body)]) + "\n"


def to_csv(table: Table) -> str:
    """Numbers at full precision (repr), so they read back exactly; ``best`` names the best column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([table.row_header, *table.columns, "best", "source"])
    for row in table.rows:
        source = f"{row.source} ({QUOTED})" if row.source else ""
        writer.writerow([row.label, *(_cell(row, c, exact=True) for c in table.columns), row.best or "", source])
    return out.getvalue()


def latex_escape(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                    PUBLISHED_MARK: r"$^\dagger$", MISSING: "--"}
    return "".join(replacements.get(char, char) for char in text)


def to_latex(table: Table) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    lines = [r"\begin{tabular}{l" + "r" * len(table.columns) + "}", r"\toprule",
             " & ".join(latex_escape(c) for c in [table.row_header, *table.columns]) + r" \\", r"\midrule"]
    for row in table.rows:
        cells = []
        for column in table.columns:
            text = latex_escape(_cell(row, column) or MISSING)
            cells.append(rf"\textbf{{{text}}}" if column == row.best else text)
        lines.append(" & ".join([latex_escape(row.label), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


FORMATS = {"md": to_markdown, "csv": to_csv, "latex": to_latex}
SUFFIXES = {"md": ".md", "csv": ".csv", "latex": ".tex"}
