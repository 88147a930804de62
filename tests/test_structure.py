"""The shape of the source tree, checked on its text (ast): functions short enough to read, sub-packages that
import one way only, and no import cycle between modules."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "deeprnn"
MAX_LINES = 60

# The hand-written autograd kernels (forward and backward through time in one function each, which the
# tests check against the reference loop) are allowed to be long.
LONG_FILES = {"models/fast.py"}
# Functions over the limit that are being split elsewhere (same issue, other branches).
LONG_FUNCTIONS = {
}

# What each sub-package (or top-level module) may import from the others: cli -> experiments -> training ->
# models / data, with reports beside training (imported by experiments and cli; it reads run files only, so
# it imports neither training nor experiments). files, midi, options (how a config option is declared:
# its default, check and role), runlock (one writer per run directory) and presets (the packaged configs by
# name) are leaves the writers may use; architectures (what each model name is), metric_keys (what each metric
# is) and stop_reasons (why a run stopped) are torch-free leaves that every layer reads, reports included.
ALLOWED = {
    "cli": {"experiments", "training", "reports", "models", "data", "files", "midi", "options", "runlock", "presets",
            "architectures", "metric_keys", "stop_reasons"},
    "experiments": {"training", "reports", "models", "data", "files", "midi", "options", "runlock", "presets",
                    "architectures", "metric_keys", "stop_reasons"},
    "training": {"models", "data", "files", "midi", "options", "runlock", "presets", "architectures", "metric_keys",
                 "stop_reasons"},
    "reports": {"files", "architectures", "metric_keys", "stop_reasons"},
    "models": {"options", "architectures"},
    "data": {"files", "midi"},
    "files": set(),
    "midi": set(),
    "options": set(),
    "runlock": set(),
    "presets": set(),
    "architectures": set(),
    "metric_keys": set(),
    "stop_reasons": set(),
}


def modules() -> dict[str, Path]:
    """deeprnn's modules by dotted name (a package by its own name, for its __init__.py)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(path: Path, names: dict[str, Path], typing: bool = False) -> set[str]:
    """The deeprnn modules ``path`` imports anywhere in it (function-level imports too: a cycle through a
    deferred import is still a cycle). Those under ``if TYPE_CHECKING:`` never run; ``typing=True`` counts them
    too (a type-only import is a dependency all the same: the two modules cannot be read apart)."""
    out = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in typing_only and not typing:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # "from deeprnn.data import custom" imports the module deeprnn.data.custom
                name = f"{node.module}.{alias.name}"
                out.add(name if name in names else node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {name for name in out if name in names}


def import_graph(typing: bool = False) -> dict[str, set[str]]:
    """Module -> the modules it imports, without the edges to its own enclosing packages (importing a module
    runs its package's __init__ first anyway, so those edges close no cycle of their own); ``typing``: see
    ``imported``."""
    names = modules()
    return {module: {other for other in imported(path, names, typing)
                     if other != module and not module.startswith(other + ".")}
            for module, path in names.items()}


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_function_is_longer_than_60_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in LONG_FILES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES and (rel, node.name) not in LONG_FUNCTIONS:
                    long.append(f"{rel}::{node.name} ({lines} lines)")
    assert not long, "functions over 60 lines: " + ", ".join(long)


def test_sub_packages_import_only_lower_layers():
    wrong = set()
    for module, others in import_graph().items():
        here = subpackage(module)
        if here == "deeprnn":  # the package itself: its version and the re-exports of its public API
            continue
        for other in others:
            there = subpackage(other)
            # "from deeprnn import __version__" reads the version from the root package; allowed everywhere
            if there != here and there != "deeprnn" and there not in ALLOWED[here]:
                wrong.add(f"{module} imports {other}")
    assert not wrong, sorted(wrong)
    assert set(ALLOWED) == {subpackage(m) for m in modules()} - {"deeprnn"}  # every sub-package has its rule


def test_no_import_cycle_between_modules():
    """Imports under ``if TYPE_CHECKING:`` included."""
    graph, state, cycles = import_graph(typing=True), {}, []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":  # on the path that led here: a cycle
                cycles.append(" -> ".join([*path, module][[*path, module].index(other):] + [other]))
            elif other not in state:
                visit(other, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, cycles
