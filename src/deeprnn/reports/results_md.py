"""RESULTS.md and its pages, generated from ``results/`` alone: the committed run files and ``results/tables.json``.

RESULTS.md is the summary a reader takes in at a glance: a headline table (benchmark x model, ours beside the
published numbers, each tagged by its source, and the paper's claim per benchmark) and a headline figure, then
a short section per benchmark (its recipe table, figure, claim and the searches that were tried). The full
record of a benchmark (where its targets come from, what was tried in full, the runs cut by their budget, the
machines, every search) is its page, ``docs/results/<benchmark>.md``; the replication's tables are
``docs/results/replication.md``. ``results/README.md`` and ``results/runs.csv`` index every committed run.

Everything is a function of ``results/`` (sorted, fixed formatting, no timestamps, no absolute paths), so
``deeprnn report results/ --results-md RESULTS.md`` regenerates every file byte for byte.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from deeprnn.files import atomic_write_text
from deeprnn.metric_keys import UNITS
from deeprnn.reports.published import SOURCE_TAGS, SOURCES, Quote, get_published
from deeprnn.reports.replication import ITEMS, Results, replication_items, verdict_counts
from deeprnn.reports.results_figures import Panel, headline_figure
from deeprnn.reports.results_index import write_index
from deeprnn.reports.results_sections import (
    FIGURES,
    LABELS,
    NOT_RUN,
    RecipeResult,
    anchor,
    claim,
    claim_lines,
    code_versions,
    fmt,
    grid_section,
    label,
    mean_std,
    read_recipe_table,
    recipe_section,
    recipe_table,
    table_md,
    target_lines,
)
from deeprnn.reports.runs import larger_is_better, load_table_runs, metric_value
from deeprnn.reports.table_specs import SNAPSHOT, GridTable, RecipeTable, TableSpec, table_from_json
from deeprnn.reports.tuning import tuning_lines

__all__ = ["code_versions", "mean_std", "render", "render_all", "write_results_md"]  # the first two: old home

PAGES = "docs/results"  # the benchmarks' pages, relative to RESULTS.md's folder
HEADLINE = "headline"  # results/figures/headline.png
GENERATED = "<!-- Generated from results/ by `deeprnn report results/ --results-md RESULTS.md` (also rewritten by " \
            "`deeprnn reproduce TABLE`); do not edit by hand. -->"
# A benchmark's section of RESULTS.md stays within this many lines: more rows or searches later make its list
# of searches one line (they are all on its page), so RESULTS.md keeps to one screen per benchmark.
SECTION_BUDGET = 40
REPLICATION = "replication"  # the group of the replication report's tables: its page is the report's
PAGE_TITLES = {REPLICATION: "The 2025 replication report (Cristea et al. 2025)"}


@dataclass
class Benchmark:
    """A recipe table and the searches that chose its recipes (tables named after it), or a group of grid tables
    without a recipe table (the replication's): one section of RESULTS.md, one page."""

    name: str
    recipe: RecipeTable | None = None
    grids: list[GridTable] = field(default_factory=list)
    measurements: list[TableSpec] = field(default_factory=list)  # tables without runs (gradient flow)

    @property
    def tables(self) -> dict[str, TableSpec]:
        return {table.name: table for table in (*self.grids, *self.measurements)}

    @property
    def title(self) -> str:
        return self.recipe.title if self.recipe else PAGE_TITLES.get(self.name, self.name)

    @property
    def page(self) -> str:
        return f"{PAGES}/{self.name}.md"


@dataclass
class Rendered:
    text: str  # RESULTS.md
    pages: dict[str, str]  # path relative to RESULTS.md's folder -> Markdown


def group_tables(tables: list[TableSpec]) -> list[Benchmark]:
    """Benchmarks in the tables' order: a grid table belongs to the recipe table its name extends
    ("jsb-search3" to "jsb"), else to the group of its name's first word ("replication-table1")."""
    recipes = [table.name for table in tables if isinstance(table, RecipeTable)]
    groups: dict[str, Benchmark] = {}
    for table in tables:
        if isinstance(table, RecipeTable):
            groups.setdefault(table.name, Benchmark(table.name)).recipe = table
            continue
        owners = [name for name in recipes if table.name.startswith(name + "-")]
        owner = max(owners, key=len) if owners else table.name.split("-")[0]
        bench = groups.setdefault(owner, Benchmark(owner))
        (bench.grids if isinstance(table, GridTable) else bench.measurements).append(table)
    return list(groups.values())


def link(target: Path, link_from: Path) -> str:
    return Path(os.path.relpath(target, link_from)).as_posix()


# --- a benchmark's page --------------------------------------------------------------------------


def page_text(bench: Benchmark, result: RecipeResult | None, results_dir: Path, md_dir: Path, md_name: str,
              figure_dir: Path | None) -> str:
    page_dir = md_dir / PAGES
    back = f"{link(md_dir / md_name, page_dir)}#{anchor(bench.title)}"
    lines = [f"# {bench.title}: the full record", "", GENERATED, "",
             f"The summary is in [{md_name}]({back}). This page keeps everything behind it: "
             + ("where the targets come from, what was tried, the published numbers, the machines, and "
                if result else "") + "every search, validation only.", ""]
    contents = ([f"[{bench.recipe.title}: recipes](#{anchor(bench.recipe.title + ': recipes')})"] if result else [])
    contents += [f"[{short_title(grid, bench)}](#{anchor(grid.title)})" for grid in bench.grids]
    lines += [f"- {entry}" for entry in contents] + [""]
    if result is not None:  # a recipe table's searches (the replication's grids vary every model alike)
        lines += tuning_lines(results_dir, [grid.name for grid in bench.grids])
    if result is not None:
        section = recipe_section(result, results_dir, page_dir if figure_dir is not None else None)
        lines += [f"## {bench.recipe.title}: recipes", *section[1:]]
    for grid in bench.grids:
        lines += grid_section(grid, results_dir, (figure_dir, page_dir) if figure_dir is not None else None)[0]
    return "\n".join(lines).rstrip("\n") + "\n"


def replication_page_text(bench: Benchmark, report: Results, md_dir: Path, md_name: str,
                          figure_dir: Path | None) -> str:
    """The replication report's page: its items in its order with their verdicts, then every grid in full."""
    results_dir = report.dir
    page_dir = md_dir / PAGES
    back = f"{link(md_dir / md_name, page_dir)}#{anchor(bench.title)}"
    grids = [line for grid in bench.grids
             for line in grid_section(grid, results_dir, (figure_dir, page_dir) if figure_dir is not None else None)[0]]
    items = replication_items(report, figure_dir, page_dir)
    lines = [f"# {bench.title}", "", GENERATED, "", f"The summary is in [{md_name}]({back}).", "", *items,
             "## The full record of each grid", "",
             *[f"- [{grid.title}](#{anchor(grid.title)})" for grid in bench.grids], "", *grids]
    return "\n".join(lines).rstrip("\n") + "\n"


def short_title(grid: GridTable, bench: Benchmark) -> str:
    """"JSB Chorales: second recipe search, ... (validation only)" -> "second recipe search, ..."."""
    title = grid.title.removesuffix(" (validation only)")
    prefix = f"{bench.title}: "
    return title[len(prefix):] if bench.recipe and title.startswith(prefix) else title


# --- a benchmark's section of RESULTS.md ---------------------------------------------------------


def recipe_summary(bench: Benchmark, result: RecipeResult, results_dir: Path, figure_from: Path | None
                   ) -> list[str]:
    """The short section: how it is made, the recipe table, its figure, the claim, the targets missed and a
    bulleted list of the searches (each linked on the page)."""
    table, numbers = result.table, result.numbers
    split, _, key = table.metric.partition(".")
    better = "higher" if larger_is_better(table.metric) else "lower"
    page = bench.page
    lines = [f"## {bench.title}", "",
             f"`deeprnn reproduce {table.name}`: {len(table.recipe_names)} recipes × {table.seeds} seed(s); "
             f"{UNITS.get(key, key)} on the {split} set of the best-validation checkpoint ({better} is better), "
             f"mean ± sample std over seeds. Where the targets come from, the published numbers, the machines and "
             f"every search: [{page}]({page}).", ""]
    lines += recipe_table(table, numbers, results_dir / table.name / "baseline.json") + [""]
    if figure_from is not None and result.png is not None:
        lines += [f"![{table.title}]({link(result.png, figure_from)})", ""]
    lines += claim_lines(table, numbers) + target_lines(table, numbers, full=False)
    return lines + tried_lines(bench, page, results_dir, SECTION_BUDGET - len(lines))


def tried_lines(bench: Benchmark, page: str, results_dir: Path, room: int) -> list[str]:
    """What was tried, one bullet per search; one line when the bullets would not fit in ``room`` lines."""
    if not bench.grids:
        return [f"What was tried: see [{page}]({page}).", ""]
    bullets = []
    for grid in bench.grids:
        runs = len(load_table_runs(results_dir / grid.name))
        rows = ", ".join(key.rpartition(".")[2] for key in grid.row_keys or ())
        bullets.append(f"- [{short_title(grid, bench)}]({page}#{anchor(grid.title)}): "
                       f"{runs} run{'' if runs == 1 else 's'}" + (f"; rows {rows}" if rows else "") + ".")
    head = "What was tried (validation only; the searches, each on the benchmark's page):"
    if len(bullets) + 2 > room:
        return [f"What was tried: {len(bullets)} searches, validation only, on [{page}]({page}).", ""]
    return [head, "", *bullets, ""]


def grid_summary(bench: Benchmark, results_dir: Path, page: str, report: Results | None = None) -> list[str]:
    """A group without a recipe table (the replication's tables, whose ``report`` gives the verdicts): a heading
    and a list of its tables."""
    lines = [f"## {bench.title}", ""]
    if report is not None:
        counts = verdict_counts(report)
        lines += [f"The report's {len(ITEMS)} experiments in its order, each with our figure, its statement and "
                  f"a verdict ({counts}): [{page}]({page}). Its grids:", ""]
    else:
        lines += [f"Ours beside theirs, table by table: [{page}]({page}).", ""]
    for grid in bench.grids:
        runs = len(load_table_runs(results_dir / grid.name))
        lines.append(f"- [{grid.title}]({page}#{anchor(grid.title)}): {runs} run{'' if runs == 1 else 's'}.")
    return lines + [""]


# --- the headline: one table, one figure ---------------------------------------------------------


def quotes_of(table: RecipeTable) -> tuple[Quote, ...]:
    """The published numbers of a recipe table's own metric (a set of another metric is not comparable)."""
    return tuple(quote for name in table.published for published in [get_published(name)]
                 if published.metric == table.metric for quote in published.quotes)


def _shown(result: RecipeResult, recipe: str) -> bool:
    """Whether the headline has something for ``recipe`` on this benchmark: a run of ours or a quoted number."""
    row = next((row for row in result.numbers.rows if row.recipe == recipe), None)
    return (row is not None and row.mean is not None) or any(q.beside == recipe for q in quotes_of(result.table))


def headline_cell(result: RecipeResult, recipe: str) -> str:
    """Ours (mean ± std, ✓/✗ for a target met or missed) and, beside it, the numbers quoted for that model."""
    row = next((row for row in result.numbers.rows if row.recipe == recipe), None)
    if row is None:
        return ""
    metric = result.table.metric
    ours = NOT_RUN if row.mean is None else fmt(metric, row.mean) + (f" ± {fmt(metric, row.std)}" if row.std else "")
    ours += {True: " ✓", False: " ✗"}.get(row.met, "") if row.has_target else ""
    by_source: dict[str, list[str]] = {}  # a source's variants of one model (SGD with clipping / and regulariser)
    for quote in quotes_of(result.table):
        if quote.beside == recipe:
            tag = SOURCE_TAGS[quote.source] + ("‡" if quote.protocol else "")
            by_source.setdefault(tag, []).append(quote.quoted)
    quoted = [f"{tag} {' / '.join(numbers)}" for tag, numbers in by_source.items()]
    return ours + (" · " + ", ".join(quoted) if quoted else "")


def source_line(source: str, results: list[RecipeResult]) -> str:
    """A source of the headline, tagged; where it gives one model several numbers, what each of them is."""
    variants: dict[str, list[str]] = {}
    for result in results:
        for quote in quotes_of(result.table):
            if quote.source == source and quote.variant:
                variants.setdefault(quote.beside, [])
                if quote.variant not in variants[quote.beside]:
                    variants[quote.beside].append(quote.variant)
    several = [f"{label(model)}: {' / '.join(names)}" for model, names in variants.items() if len(names) > 1]
    return f"- {SOURCE_TAGS[source]}: {SOURCES[source]}" + (f" Its numbers: {'; '.join(several)}." if several else "")


def headline_lines(results: list[RecipeResult], md_dir: Path | None, png: Path | None) -> list[str]:
    """The headline table (benchmark x model, the claim per benchmark), its legend with every source it tags,
    and the headline figure."""
    models = [model for model in dict.fromkeys(recipe for result in results for recipe in result.table.recipe_names)
              if any(_shown(result, model) for result in results)]  # a row not run anywhere yet: its sections say so
    rows = [["benchmark", "metric", *(label(model) for model in models), "the paper's claim"]]
    for result in results:
        found = claim(result.table, result.numbers)
        verdict = found.verdict if found else "–"
        rows.append([f"[{result.table.title}](#{anchor(result.table.title)})", result.table.metric,
                     *(headline_cell(result, model) for model in models), verdict])
    sources = sorted({quote.source for result in results for quote in quotes_of(result.table)})
    lines = [*table_md(rows, left=(0, 1, len(rows[0]) - 1)), "",
             "Ours: test metric of the best-validation checkpoint, mean ± sample std over seeds (NLL, bpc and "
             "perplexity: lower is better; accuracy: higher). ✓ / ✗: a target set from a published number, met / "
             "missed. After ·, the published numbers for that model (quoted, not measured here), tagged by source; "
             "‡ marks a source whose protocol differs from ours (its benchmark's page says how). The paper's claim: "
             "at least one deep RNN beats the regular RNN, checked where published numbers exist.", ""]
    lines += [source_line(source, results) for source in sources] + [""]
    if png is not None and md_dir is not None:
        lines += [f"![Ours against the published numbers, per benchmark]({link(png, md_dir)})", ""]
    return lines


def headline_panels(results: list[RecipeResult]) -> list[Panel]:
    return [Panel(result.table.title, result.table.metric,
                  {recipe: [v for v in (metric_value(run, result.table.metric) for row in result.numbers.rows
                                        if row.recipe == recipe for run in row.runs) if v is not None]
                   for recipe in result.table.recipe_names},
                  quotes_of(result.table)) for result in results]


# --- the whole set of files ----------------------------------------------------------------------


def render_all(results_dir: str | Path, figures: tuple[Path, Path] | None = None, md_name: str = "RESULTS.md"
               ) -> Rendered:
    """RESULTS.md and the pages. ``figures`` = (directory to write the figures to, directory of RESULTS.md);
    None: no figures (links are then made as if RESULTS.md sat beside ``results_dir``)."""
    results_dir = Path(results_dir)
    path = results_dir / SNAPSHOT
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: results/ is written by 'deeprnn reproduce TABLE'")
    tables = [table_from_json(entry) for entry in json.loads(path.read_text())["tables"]]
    figure_dir, md_dir = figures if figures is not None else (None, results_dir.parent)
    figure_from = md_dir if figures is not None else None
    sections, pages, results = [], {}, []
    for bench in group_tables(tables):
        result = read_recipe_table(bench.recipe, results_dir, figure_dir) if bench.recipe else None
        report = Results(results_dir, bench.tables) if bench.name == REPLICATION else None  # read once, for both
        pages[bench.page] = (replication_page_text(bench, report, md_dir, md_name, figure_dir) if report else
                             page_text(bench, result, results_dir, md_dir, md_name, figure_dir))
        if result is None:
            sections += grid_summary(bench, results_dir, bench.page, report)
            continue
        results.append(result)
        sections += recipe_summary(bench, result, results_dir, figure_from)
    png = headline_figure(headline_panels(results), LABELS, figure_dir / HEADLINE) if figure_dir is not None else None
    rel = link(results_dir, md_dir)
    intro = [
        "# Results", "", GENERATED, "",
        "Every number of ours is read from a committed `summary.json` under `results/` (every run: "
        f"[{rel}/runs.csv]({rel}/runs.csv), described in [{rel}/README.md]({rel}/README.md)); every setting was "
        "chosen on validation only. Music NLL is per time step in nats, summed over the 88 keys, every frame "
        "scored ([docs/training.md](docs/training.md)). How to rerun a table and what it costs: "
        "[docs/reproduce.md](docs/reproduce.md). The 2025 replication report, experiment by experiment, with a "
        f"verdict each: [{PAGES}/{REPLICATION}.md]({PAGES}/{REPLICATION}.md).", "",
        *headline_lines(results, md_dir, png),
    ]
    text = "\n".join(intro + sections).rstrip("\n") + "\n"
    return Rendered(text, pages)


def render(results_dir: str | Path, figures: tuple[Path, Path] | None = None) -> str:
    """RESULTS.md's text alone (see ``render_all``)."""
    return render_all(results_dir, figures).text


def write_results_md(results_dir: str | Path, path: str | Path = "RESULTS.md") -> str:
    """Write RESULTS.md, its pages (docs/results/ beside it), their figures (``results_dir``/figures/) and the
    index of runs (``results_dir``/README.md, runs.csv), all regenerated from the same files."""
    results_dir, path = Path(results_dir), Path(path)
    figure_dir = results_dir / FIGURES
    if figure_dir.is_dir():  # figures of tables that no longer have runs must not linger
        for old in figure_dir.iterdir():
            if old.suffix in (".png", ".svg"):
                old.unlink()
    md_dir = path.resolve().parent
    rendered = render_all(results_dir, (figure_dir, md_dir), path.name)
    page_dir = md_dir / PAGES
    if page_dir.is_dir():  # pages of benchmarks no longer in the tables must not linger either
        for old in page_dir.glob("*.md"):
            if GENERATED in old.read_text():
                old.unlink()
    for relative, text in rendered.pages.items():
        (md_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(md_dir / relative, text)
    write_index(results_dir)
    atomic_write_text(path, rendered.text)
    return rendered.text
