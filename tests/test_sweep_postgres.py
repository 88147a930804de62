"""Two ``deeprnn sweep --worker`` processes share one study on a real, throwaway PostgreSQL server.

The server is a fresh cluster in a temporary directory on 127.0.0.1 and a free port, removed at
the end. ``initdb`` refuses to run as root, so under root (CI) the cluster belongs to the
``postgres`` user of the Debian package.

Skipped where the server binaries or the driver (``pip install -e ".[postgres]"``) are missing, unless
$DEEPRNN_REQUIRE_POSTGRES is set (CI sets it): then it fails. $DEEPRNN_POSTGRES_BINDIR overrides where the
binaries are looked for (empty: nowhere), so that tests/test_readme.py can produce each setting.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest

from deeprnn.experiments import sweep

REPO_ROOT = Path(__file__).resolve().parents[1]
JSB = str(REPO_ROOT / "configs" / "music" / "jsb.toml")
GRID = ["--grid=model.name=rnn,gru", "--grid=model.hidden_size=8,9,10"]
TINY = ["--set=train.epochs=1", "--set=train.max_batches_per_epoch=2", "--set=data.eval_batch_size=128",
        "--set=train.threads=1"]
PASSWORD = "pg-" + secrets.token_hex(8)


BINDIR_ENV = "DEEPRNN_POSTGRES_BINDIR"
REQUIRE_ENV = "DEEPRNN_REQUIRE_POSTGRES"


def postgres_bindir() -> Path | None:
    if BINDIR_ENV in os.environ:
        given = os.environ[BINDIR_ENV]
        return Path(given) if given and (Path(given) / "initdb").is_file() else None
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))  # Debian: not on PATH
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A URL (with the password) of a throwaway PostgreSQL server, stopped and deleted afterwards."""
    bindir = postgres_bindir()
    if bindir is None:
        missing = f"PostgreSQL server binaries not found (apt-get install postgresql, or set ${BINDIR_ENV})"
    elif sweep.postgres_driver() is None:  # what the worker processes (this interpreter) would import
        missing = f"no PostgreSQL driver for Python ({sweep.INSTALL_POSTGRES})"
    else:
        missing = None
    if missing and os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{missing}; ${REQUIRE_ENV} is set, so this test must run")
    if missing:
        pytest.skip(missing)
    root = Path(tempfile.mkdtemp(prefix="deeprnn-pg-"))
    root.chmod(0o755)  # the postgres user must reach the data directory inside
    data, password_file = root / "data", root / "password"
    data.mkdir(mode=0o700)
    password_file.write_text(PASSWORD + "\n")
    as_server_user = []
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        for path in (data, password_file):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_server_user = ["runuser", "-u", "postgres", "--"]
    password_file.chmod(0o600)

    def run(*command):
        subprocess.run([*as_server_user, *map(str, command)], cwd=root, check=True, capture_output=True, timeout=120)

    port = free_port()
    try:
        run(bindir / "initdb", "-D", data, "-U", "sweeper", f"--pwfile={password_file}", "--auth=scram-sha-256",
            "-E", "UTF8")
        with open(data / "postgresql.conf", "a") as conf:  # TCP on loopback only, no Unix socket
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\n")
        run(bindir / "pg_ctl", "-D", data, "-l", data / "server.log", "-w", "-t", "60", "start")
        yield f"postgresql://sweeper:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_run_every_point_exactly_once(postgres_url, tmp_path, data_dir):
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "deeprnn.cli.main", "sweep"]
    url_without_password = postgres_url.replace(f":{PASSWORD}@", "@")
    # The coordinator creates the study and enqueues the grid, with the password from the environment.
    coordinator = subprocess.run(
        [*command, JSB, *GRID, *TINY, "--study", "pg", "--out", str(out), "--storage", url_without_password,
         "--jobs", "0"],
        env={**os.environ, sweep.PASSWORD_ENV: PASSWORD}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert coordinator.returncode == 0, coordinator.stdout + coordinator.stderr
    # Two workers, password in the URL, started together so that they compete for every trial.
    worker_command = [*command, "--worker", "--study", "pg", "--out", str(out), "--storage", postgres_url]
    workers = [subprocess.Popen(worker_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (stdout, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stdout + stderr

    expected = sweep.build_spec(JSB, [g.split("=", 1)[1] for g in GRID], [s.split("=", 1)[1] for s in TINY],
                                study="pg").points()
    study = optuna.load_study(study_name="pg", storage=sweep.open_storage(postgres_url))
    trials = study.get_trials()
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(sweep.point_key(t.params) for t in trials) == sorted(sweep.point_key(p) for p in expected)
    log = coordinator.stdout + coordinator.stderr + "".join(o + e for o, e in outputs)
    for trial in trials:  # each trial trained by exactly one worker
        assert log.count(f"] trial {trial.number}: training") == 1, log
    run_dirs = sorted(d.name for d in out.iterdir() if d.is_dir())
    assert run_dirs == sorted(sweep.run_name(p) for p in expected)
    assert all((out / name / "summary.json").is_file() for name in run_dirs)

    # The password appears in no output, record or run file.
    assert PASSWORD not in log
    assert "sweeper:***@127.0.0.1" in (out / "sweep.json").read_text()
    for path in out.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
