"""The configs travel with the package: presets and recipe tables by name from any folder, and a wheel that ships
them (its install into a fresh virtual environment is the slow test)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from deeprnn import presets
from deeprnn.training import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_lists_every_package_of_src_and_the_configs():
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    inits = (ROOT / "src").rglob("__init__.py")
    found = sorted(".".join(init.parent.relative_to(ROOT / "src").parts) for init in inits)
    assert sorted(listed) == sorted([*found, "deeprnn.configs"])


@pytest.mark.parametrize(("name", "file"), [("demo", "demo.toml"), ("music/jsb", "music/jsb.toml"),
                                            ("configs/demo.toml", "demo.toml"),
                                            ("recipes/jsb/dots-rnn", "recipes/jsb/dots-rnn.toml")])
def test_a_preset_name_means_the_packaged_config_from_any_folder(tmp_path, monkeypatch, name, file):
    monkeypatch.chdir(tmp_path)
    assert presets.resolve(name) == ROOT / "configs" / file
    assert load_config(name) == load_config(ROOT / "configs" / file)


def test_an_existing_path_is_the_file_not_the_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_text("[model]\nhidden_size = 7\n")
    assert load_config("demo").model.hidden_size == 7


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel built from a copy of the project's sources (the worktree stays clean)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for name in ("src", "configs"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("deeprnn-*.whl")
    return wheel


@pytest.mark.slow
def test_a_wheel_installed_outside_the_repository_trains_the_demo_and_lists_the_tables(tmp_path, data_dir):
    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "venv"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"DEEPRNN_DATA": str(data_dir)}
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300, env=env)
    # then the installed torch and the other dependencies, seen after the venv's own packages (no download; added
    # after the install, so that pip does not take this environment's deeprnn for the wheel's)
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def deeprnn(*args: str) -> str:
        result = subprocess.run([venv / "bin" / "deeprnn", *args], cwd=elsewhere, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout

    where = subprocess.run([python, "-c", "import deeprnn; print(deeprnn.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv))
    out = deeprnn("train", "demo", "--run-dir", "run", "--no-progress", "--set", "train.epochs=1",
                  "--set", "train.max_batches_per_epoch=2", "--set", "model.hidden_size=8")
    assert out.strip().splitlines()[-1] == "run written to run; stopped: completed all epochs"
    assert (elsewhere / "run" / "summary.json").is_file()
    tables = deeprnn("reproduce", "--list")
    assert "jsb" in tables and "ptb-char" in tables
    assert "dots-rnn" in deeprnn("train", "configs/music/jsb.toml", "--run-dir", "run2", "--no-progress",
                                 "--set", "train.epochs=1", "--set", "train.max_batches_per_epoch=1",
                                 "--set", "model.name=dots-rnn", "--set", "model.hidden_size=8")
