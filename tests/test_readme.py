"""The README's two commands pass anywhere: CI runs them verbatim, and the PostgreSQL sweep test skips where
the server binaries or the driver are missing (or fails, when $DEEPRNN_REQUIRE_POSTGRES asks it to run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_TEST = REPO_ROOT / "tests" / "test_sweep_postgres.py"
BINDIR_ENV, REQUIRE_ENV = "DEEPRNN_POSTGRES_BINDIR", "DEEPRNN_REQUIRE_POSTGRES"


def readme_commands() -> list[str]:
    """The line after each '# N.' comment of the README's first bash block."""
    block = (REPO_ROOT / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    return [lines[i + 1] for i, line in enumerate(lines) if re.match(r"# \d+\. ", line)]


def test_the_readme_starts_with_install_and_demo_then_the_tests():
    readme = (REPO_ROOT / "README.md").read_text()
    assert readme.index("```bash") < readme.index("\n## ")  # before any section
    install, tests = readme_commands()
    assert 'pip install -e ".[test]"' in install and "deeprnn train configs/demo.toml --run-dir runs/demo" in install
    assert tests.endswith("python -m pytest -q")


def test_ci_runs_the_readme_commands_verbatim():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    lines = ci.splitlines()
    install, tests = readme_commands()
    assert install in lines, ".ci/run must run the README's command 1 as it is written"
    assert tests in lines, ".ci/run must run the README's command 2 as it is written"
    assert lines.index(install) < lines.index(tests)
    # CI's strictness is the project's own variable (most CI services set CI by themselves), set before the tests
    assert f"export {REQUIRE_ENV}=1" in lines[: lines.index(tests)]
    assert not re.search(r"\bexport CI\b", ci)


def _hide_postgres_drivers(folder: Path) -> str:
    """A folder to put first on PYTHONPATH, whose psycopg and psycopg2 fail to import (as when not installed)."""
    folder.mkdir()
    for module in ("psycopg", "psycopg2"):
        (folder / f"{module}.py").write_text("raise ImportError('hidden by tests/test_readme.py')\n")
    return str(folder)


@pytest.mark.parametrize("required", [False, True], ids=["plain", "required"])
@pytest.mark.parametrize("setting", ["no server binaries", "binaries without driver"])
def test_the_postgres_test_skips_where_it_cannot_run(setting, required, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in (REQUIRE_ENV, "CI")}
    env["CI"] = "true"  # as most CI services set it: it must not decide anything
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env[BINDIR_ENV] = str(bindir)  # empty: no server binaries
    if setting == "binaries without driver":
        (bindir / "initdb").write_text("#!/bin/sh\nexit 1\n")  # never run: the driver check comes first
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_hide_postgres_drivers(tmp_path / "hide"),
                                                          env.get("PYTHONPATH")]))
    if required:
        env[REQUIRE_ENV] = "1"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(POSTGRES_TEST)],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    output = result.stdout + result.stderr
    reason = "server binaries not found" if setting == "no server binaries" else 'pip install -e ".[postgres]"'
    assert reason in output, output
    if required:
        assert result.returncode != 0 and "1 error" in output, output
    else:
        assert result.returncode == 0 and "1 skipped" in output, output
