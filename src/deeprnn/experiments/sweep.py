"""Grid sweeps on Optuna: every grid point is one ordinary training run, run exactly once.

A sweep is a spec (``sweep_spec``: a base config, fixed overrides, grids of config keys) and an
Optuna study holding one trial per grid point. The coordinator (``deeprnn sweep CONFIG``) creates the
study, stores the spec in it, enqueues the grid points that have no live or finished trial yet, then
works; workers (``deeprnn sweep --worker``) only take WAITING trials. A trial is claimed by the
WAITING -> RUNNING transition of Optuna's storage (row-locked by a database server, serialised by a
lock file on SQLite: ``queue_lock``), so no point runs twice however many workers share the study
(Optuna's GridSampler alone can repeat points across workers).

Layout of a sweep directory ``DIR`` (default ``runs/sweeps/<study>``):
    study.db     the SQLite storage, unless --storage names another one
    sweep.json   the spec, its task and selection metric, the storage URL with its password redacted
    <run name>/  one ordinary run directory per grid point, named from its parameters (``run_name``)

Crashes: a retried point resumes its run directory from the checkpoint. A trial left RUNNING by a dead
worker is failed and re-enqueued: at once when the worker ran on this machine (its process is gone),
otherwise when its heartbeat is older than ``GRACE_PERIOD_S`` (any machine). A point whose run diverged is
final: its trial is FAIL with the ``diverged`` user attribute (shown as DIVERGED) and never retried, since
its run would diverge again.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from deeprnn import stop_reasons
from deeprnn.experiments.sweep_spec import SweepSpec, build_spec, load_preset, point_key, run_name
from deeprnn.experiments.sweep_storage import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    INSTALL_POSTGRES,
    PASSWORD_ENV,
    STORAGE_ENV,
    postgres_driver,
    quiet_experimental,
    redact_url,
    scrub,
    storage_url,
    url_password,
    with_password,
)
from deeprnn.experiments.sweep_storage import open_storage as _open_storage
from deeprnn.files import read_records
from deeprnn.training import TrainingDiverged, train
from deeprnn.training.checkpoint import atomic_write_text
from deeprnn.training.config import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite sweeps there should use --jobs 1
    fcntl = None

__all__ = [
    "INSTALL_POSTGRES", "PASSWORD_ENV", "SweepSpec", "build_spec", "load_preset", "open_storage", "point_key",
    "postgres_driver", "redact_url", "run_name", "run_sweep", "run_worker", "scrub", "storage_url", "url_password",
    "with_password",
]  # fmt: skip

SPEC_ATTR = "deeprnn_sweep"  # study user attribute holding the spec, so workers need only the storage
WORKER_ATTR = "deeprnn_worker"  # trial system attribute: which process runs it (see worker_token)
DIVERGED_ATTR = "diverged"  # trial user attribute of a FAIL trial whose run diverged: why (final, not retried)
MAX_RETRIES = 3  # automatic retries of a point whose worker died; rerunning the coordinator retries again


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """The sweep's storage: trials whose heartbeat stopped are failed and retried (``requeue``)."""
    return _open_storage(url, stale_trial_callback=requeue)


optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep reports its own progress


# --- the study ----------------------------------------------------------------------------------


def _make_pruner(name: str) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner() if name == "median" else optuna.pruners.NopPruner()


def create_study(spec: SweepSpec, storage):
    """Create the study, or load it and check it was created for the same spec."""
    study = optuna.create_study(
        study_name=spec.study, storage=storage, direction=spec.direction, load_if_exists=True,
        sampler=optuna.samplers.RandomSampler(seed=0), pruner=_make_pruner(spec.pruner),
    )  # fmt: skip
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is not None:
        _check_same_spec(SweepSpec.from_dict(stored), spec, f"study '{spec.study}'")
    study.set_user_attr(SPEC_ATTR, spec.to_dict())  # the pruner may change between runs
    return study


def load_study(name: str, storage, shown_url: str):
    """A worker's view of a study created by a coordinator: the study and its spec."""
    if name not in optuna.get_all_study_names(storage):
        raise ConfigError(
            f"no study '{name}' in {shown_url}; start it first with 'deeprnn sweep CONFIG --grid ... --study {name}'"
        )
    study = optuna.load_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    if SPEC_ATTR not in study.user_attrs:
        raise ConfigError(f"study '{name}' was not created by 'deeprnn sweep'")
    spec = SweepSpec.from_dict(study.user_attrs[SPEC_ATTR])
    study.pruner = _make_pruner(spec.pruner)
    return study, spec


def _check_same_spec(old: SweepSpec, new: SweepSpec, where: str) -> None:
    a, b = old.identity(), new.identity()
    if a == b:
        return
    changes = [f"{key}: {a[key]} -> {b[key]}" for key in ("grids", "metric", "direction") if a[key] != b[key]]
    base_a, base_b = a["base_config"], b["base_config"]  # flat: Config.identity
    changes += [f"{key}: {base_a[key]!r} -> {base_b[key]!r}" for key in base_a if base_a[key] != base_b[key]]
    raise ConfigError(
        f"{where} was created for a different sweep ({'; '.join(changes)}); "
        "use another --study and --out for another grid or config"
    )


def _trial_point(trial) -> dict[str, Any]:
    return trial.system_attrs.get("fixed_params", trial.params)


def trial_state(trial) -> str:
    """The trial's state as reported: Optuna's, or DIVERGED for a FAIL trial whose run diverged."""
    return "DIVERGED" if trial.state == TrialState.FAIL and DIVERGED_ATTR in trial.user_attrs else trial.state.name


def enqueue_missing(study, spec: SweepSpec) -> int:
    """Enqueue every grid point without a WAITING, RUNNING, COMPLETE, PRUNED or DIVERGED trial; returns how many.

    Points whose trials all FAILED otherwise (an error, an interrupted run) are enqueued again: their run
    directory resumes from its checkpoint. A diverged run would only diverge again.
    """
    live = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    covered = {point_key(_trial_point(t)) for t in study.get_trials(deepcopy=False)
               if t.state in live or trial_state(t) == "DIVERGED"}
    missing = [point for point in spec.points() if point_key(point) not in covered]
    for point in missing:
        study.enqueue_trial(point, user_attrs={"run_name": run_name(point)})
    return len(missing)


def requeue(study, failed) -> None:
    """Enqueue a fresh trial for the point of a trial whose worker died (Optuna's stale-trial callback)."""
    retries = failed.user_attrs.get("retries", 0)
    if retries >= MAX_RETRIES:
        return
    point = _trial_point(failed)
    study.enqueue_trial(point, user_attrs={"run_name": run_name(point), "retry_of": failed.number,
                                           "retries": retries + 1})


# --- which worker runs a trial, and is it still alive ------------------------------------------


def _proc_stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after ``pid (comm)``: the state is [0], the start time [19]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def worker_token() -> str:
    """``host|pid namespace|pid|start time`` of this process: names a worker across PID reuse and containers."""
    try:
        namespace, start = os.readlink("/proc/self/ns/pid"), _proc_stat(os.getpid())[19]
    except OSError:  # no /proc (macOS): the PID alone
        namespace = start = "-"
    return f"{socket.gethostname()}|{namespace}|{os.getpid()}|{start}"


def worker_died(token: str) -> bool:
    """True only for a worker of this machine (and PID namespace) whose process no longer exists."""
    host, namespace, pid, start = token.split("|")
    if [host, namespace] != worker_token().split("|")[:2]:
        return False  # another machine or container: its heartbeat decides
    if start == "-":
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False
    try:
        stat = _proc_stat(int(pid))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat[0] == "Z" or stat[19] != start  # exited but not reaped, or the PID was reused


def fail_dead_trials(study, storage, claims_serialised: bool = False) -> None:
    """Fail RUNNING trials whose worker is gone, and retry them (``requeue``).

    Optuna's heartbeats catch workers of any machine after GRACE_PERIOD_S; a worker of this machine
    whose process has exited is caught at once, so a killed sweep restarts without waiting.
    ``claims_serialised``: the caller holds the lock that claims take (``queue_lock`` on SQLite), so
    no claim is half-done now and a RUNNING trial without a worker token is one whose claimer died
    between its two writes (``claim_trial``); it is dead at once rather than after the grace period.
    """
    with quiet_experimental():
        optuna.storages.fail_stale_trials(study)
    study_id = storage.get_study_id_from_name(study.study_name)
    now = datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        token = trial.system_attrs.get(WORKER_ATTR)
        if token is not None and not worker_died(token):
            continue
        if token is None and not claims_serialised and (now - trial.datetime_start).total_seconds() < GRACE_PERIOD_S:
            continue  # just claimed; its worker records itself next (a claim never recorded counts as dead later)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            storage.set_trial_user_attr(trial_id, "error", "its worker process died; retried")
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                requeue(study, storage.get_trial(trial_id))
        except UpdateFinishedTrialError:
            pass  # finished meanwhile, or failed by another process (which retries it)


# --- workers ------------------------------------------------------------------------------------


@contextmanager
def queue_lock(storage):
    """Make failing, retrying and claiming trials atomic on SQLite, which has no row locks.

    On SQLite two processes can both move one trial from WAITING to RUNNING (or both retry one dead
    trial); an SQLite study is used on one machine only, so its workers take turns through a lock file
    next to it. Server databases lock the row themselves.

    Yields whether claims are serialised (True on SQLite): then no claim is half-done while it is held.
    """
    if fcntl is None or not storage.url.startswith("sqlite:///"):
        yield False
        return
    with open(storage.url[len("sqlite:///") :] + ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim_trial(study, storage) -> int | None:
    """Take one WAITING trial and return its id, or None when none is waiting.

    The WAITING -> RUNNING transition is atomic in the storage: it succeeds for one worker only.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    waiting_trials = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    # A retry goes first: its run resumes from its checkpoint, so it is the nearest to a result (in grid
    # order it would wait behind every point not started, hours on a long study).
    for waiting in sorted(waiting_trials, key=lambda trial: ("retry_of" not in trial.user_attrs, trial.number)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, waiting.number)
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                storage.set_trial_system_attr(trial_id, WORKER_ATTR, worker_token())
                storage.record_heartbeat(trial_id)
                return trial_id
        except UpdateFinishedTrialError:
            continue
    return None


@contextmanager
def heartbeat(storage, trial_id: int):
    """Record the trial's heartbeat every HEARTBEAT_INTERVAL_S while it runs."""
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is harmless; the grace period spans several
                pass

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def work(study, storage, spec: SweepSpec, out_dir: Path, log: Callable[[str], None] = print) -> dict[str, int]:
    """Run WAITING trials until none is left; returns how many ended in each state."""
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "DIVERGED": 0}
    with _sigterm_as_interrupt():
        while True:
            with queue_lock(storage) as claims_serialised:
                fail_dead_trials(study, storage, claims_serialised)
                trial_id = claim_trial(study, storage)
            if trial_id is None:
                return counts
            counts[run_trial(study, storage, trial_id, spec, out_dir, log)] += 1


def run_trial(study, storage, trial_id: int, spec: SweepSpec, out_dir: Path, log: Callable[[str], None] = print) -> str:
    """Train (or resume, or just read) the run of a claimed trial and tell the study; returns the state's name."""
    trial = optuna.Trial(study, trial_id)
    point = dict(storage.get_trial(trial_id).system_attrs["fixed_params"])
    choices = spec.choices()
    for key in point:
        trial.suggest_categorical(key, choices[key])  # records the point as the trial's parameters
    name = run_name(point)
    run_dir = out_dir / name

    def say(message: str) -> None:
        for line in str(message).splitlines():
            log(f"[{name}] {line}")

    trial.set_user_attr("run_name", name)
    trial.set_user_attr("run_dir", str(run_dir.resolve()))
    trial.set_user_attr("host", socket.gethostname())
    summary_file = run_dir / "summary.json"
    try:
        with heartbeat(storage, trial_id):
            if summary_file.is_file():
                say(f"trial {trial.number}: finished earlier; reading its summary.json")
                summary = json.loads(summary_file.read_text())
            else:
                resume = (run_dir / "config.json").is_file()
                say(f"trial {trial.number}: {'resuming' if resume else 'training'} {point_key(point)}")
                on_log = _pruning_log(trial, run_dir, spec.metric, say) if spec.pruner != "none" else say
                summary = train(spec.point_config(point), run_dir, resume=resume, progress=False, log=on_log)
        value = summary["valid"][spec.metric]
        for key in ("valid", "test", "epochs", "best_epoch", "params", "wall_time_s"):
            trial.set_user_attr(key, summary[key])
        if stop_reasons.is_diverged(summary["stopped"]):
            raise TrainingDiverged(summary["stopped"])
        if not math.isfinite(value):
            raise ValueError(f"validation {spec.metric} is {value}")
        return _tell(study, trial, say, values=value)
    except optuna.TrialPruned as exc:
        say(f"pruned: {exc}")
        return _tell(study, trial, say, state=TrialState.PRUNED)
    except TrainingDiverged as exc:
        say(f"{exc}; the point is final, not retried")
        trial.set_user_attr(DIVERGED_ATTR, str(exc))
        state = _tell(study, trial, say, state=TrialState.FAIL, error=f"TrainingDiverged: {exc}")
        return "DIVERGED" if state == "FAIL" else state
    except KeyboardInterrupt:
        say("interrupted: the trial is marked failed; rerunning the sweep resumes it from its checkpoint")
        _tell(study, trial, say, state=TrialState.FAIL, error="interrupted")
        raise
    except Exception as exc:  # noqa: BLE001 - one failed point must not stop the sweep
        message = f"{type(exc).__name__}: {exc}"
        say(f"failed: {message}")
        return _tell(study, trial, say, state=TrialState.FAIL, error=message)


def _tell(study, trial, say, values=None, state=None, error: str | None = None) -> str:
    try:
        if error is not None:
            trial.set_user_attr("error", error)
        frozen = study.tell(trial, values, state=state)
    except UpdateFinishedTrialError:
        # Another worker declared this trial dead (a late heartbeat) and retried it; the retry
        # finds this run's summary.json and completes at once.
        say("this trial was failed and retried meanwhile by another worker; the retry reuses this run")
        return "FAIL"
    return frozen.state.name


def _pruning_log(trial, run_dir: Path, metric: str, say: Callable[[str], None]) -> Callable[[str], None]:
    """A ``log`` for ``train`` that reports each finished epoch to the pruner (read from metrics.jsonl).

    ``train`` logs after writing an epoch's metrics and checkpoint, so stopping there loses nothing.
    """
    reported: set[int] = set()  # a claimed trial starts with no intermediate values, even a retry

    def on_log(message: str) -> None:
        say(message)
        records = read_records(run_dir / "metrics.jsonl", warn=say)
        new = [r for r in records if r["epoch"] not in reported and math.isfinite(r["valid"][metric])]
        for record in new:
            trial.report(record["valid"][metric], record["epoch"])
            reported.add(record["epoch"])
        if new and trial.should_prune():
            raise optuna.TrialPruned(f"epoch {max(reported)}: validation {metric} worse than the median")

    return on_log


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler, ``kill``) ends the current trial like Ctrl-C: marked failed, resumable."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_worker_processes(jobs: int, cli_args: list[str], url: str) -> list[int]:
    """Run ``jobs`` processes of ``deeprnn CLI_ARGS`` and wait for them; returns their exit codes.

    A process per worker, not threads: torch's thread pools, memory and any crash stay apart, and a
    worker is the same program as on another machine. The storage URL travels in the environment,
    never on a command line that ``ps`` shows.
    """
    env = dict(os.environ, **{STORAGE_ENV: url})
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))  # no oversubscription
    command = [sys.executable, "-m", "deeprnn.cli.main", *cli_args]
    workers = [subprocess.Popen(command, env=env) for _ in range(jobs)]
    try:
        return [worker.wait() for worker in workers]
    except KeyboardInterrupt:
        for worker in workers:
            worker.terminate()  # each marks its trial failed (resumable) and exits
        for worker in workers:
            worker.wait()
        raise


def spawn_workers(jobs: int, study_name: str, out_dir: Path, url: str) -> list[int]:
    """``jobs`` local ``deeprnn sweep --worker`` processes on the study; their exit codes."""
    return run_worker_processes(jobs, ["sweep", "--worker", "--study", study_name, "--out", str(out_dir)], url)


# --- coordinator and report ---------------------------------------------------------------------


def check_sweep_dir(out_dir: Path, spec: SweepSpec) -> None:
    """Refuse a sweep directory that holds another sweep (its run names would mean other configs)."""
    path = out_dir / "sweep.json"
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    if old.get("study") != spec.study:
        raise ConfigError(f"{out_dir} holds the sweep '{old.get('study')}'; use another --out for '{spec.study}'")
    _check_same_spec(SweepSpec.from_dict({k: v for k, v in old.items() if k != "storage"}), spec, str(path))


def write_sweep_file(out_dir: Path, spec: SweepSpec, url: str) -> None:
    text = json.dumps({**spec.to_dict(), "storage": redact_url(url)}, indent=2) + "\n"
    atomic_write_text(out_dir / "sweep.json", text)


def point_states(study, spec: SweepSpec) -> list[tuple[dict[str, Any], Any]]:
    """Each grid point with its latest trial (None if it has none)."""
    latest = {}
    for trial in study.get_trials(deepcopy=False):  # in number order: the last one wins
        latest[point_key(_trial_point(trial))] = trial
    return [(point, latest.get(point_key(point))) for point in spec.points()]


def format_report(study, spec: SweepSpec, show_test: bool = False) -> str:
    """Each point's state and validation metric; the test metric only with ``show_test`` (a table of results, not a
    search: a search's points are chosen on validation, so its report does not put the test set beside it)."""
    rows = [(run_name(point), trial) for point, trial in point_states(study, spec)]
    splits = ("valid", "test") if show_test else ("valid",)
    states = [trial_state(trial) if trial else "MISSING" for _, trial in rows]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states)))
    width = max(len(name) for name, _ in rows)
    lines = [
        f"study {spec.study}: {len(rows)} points: {counts}",
        "  ".join([f"{'run':<{width}}", f"{'state':<8}", *(f"{split + ' ' + spec.metric:>12}" for split in splits)]),
    ]
    for (name, trial), state in zip(rows, states):
        values = [trial.user_attrs.get(split, {}).get(spec.metric) if trial else None for split in splits]
        shown = [f"{v:>12.4f}" if isinstance(v, float) else f"{'-':>12}" for v in values]
        lines.append("  ".join([f"{name:<{width}}", f"{state:<8}", *shown]))
    return "\n".join(lines)


@contextmanager
def _removed_if_refused(out_dir: Path):
    """Remove ``out_dir`` again when it is new and the block fails (a storage or study that refuses the sweep):
    then it holds nothing but what the block wrote (an SQLite file of a study never used)."""
    new = not out_dir.exists()
    try:
        yield
    except BaseException:
        if new:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise


def run_sweep(spec: SweepSpec, out_dir: Path, url: str, jobs: int = 1, log: Callable[[str], None] = print,
              show_test: bool = False) -> int:
    """The coordinator: create or load the study, enqueue what is missing, work (``jobs`` workers; 0: none), report
    (``format_report``; ``show_test`` adds the test metric).

    Returns an exit code: 1 when, after working, a point is left failed or waiting.
    """
    check_sweep_dir(out_dir, spec)
    with _removed_if_refused(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        storage = open_storage(url)
        study = create_study(spec, storage)
        write_sweep_file(out_dir, spec, url)
    with queue_lock(storage) as claims_serialised:
        # before enqueueing, so a dead worker's point is retried once, not twice
        fail_dead_trials(study, storage, claims_serialised)
        added = enqueue_missing(study, spec)
    log(f"study {spec.study} in {redact_url(url)}: {len(spec.points())} points, {added} enqueued; runs in {out_dir}")
    if jobs == 1:
        work(study, storage, spec, out_dir, log)
    elif jobs > 1:
        spawn_workers(jobs, spec.study, out_dir, url)
    log(format_report(study, spec, show_test))
    unfinished = [t for _, t in point_states(study, spec) if t is not None and trial_state(t) in ("FAIL", "WAITING")]
    if unfinished and jobs:
        log(f"{len(unfinished)} point(s) failed or not run; rerun the same command to retry them "
            "(their runs resume from checkpoints)")
        return 1
    return 0


def run_worker(study_name: str, out_dir: Path, url: str, jobs: int = 1, log: Callable[[str], None] = print) -> int:
    """A worker (``jobs`` of them): run the study's WAITING trials until none is left. 1 if one of them failed."""
    storage = open_storage(url)
    study, spec = load_study(study_name, storage, redact_url(url))
    out_dir.mkdir(parents=True, exist_ok=True)
    if jobs > 1:
        return max(spawn_workers(jobs, study_name, out_dir, url))
    counts = work(study, storage, spec, out_dir, log)
    log(f"worker done: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed, "
        f"{counts['DIVERGED']} diverged")
    return 1 if counts["FAIL"] else 0
