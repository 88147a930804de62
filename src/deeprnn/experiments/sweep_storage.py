"""Optuna storage for sweeps: the URL (default, password from the environment, redaction) and its options.

A storage password must never reach run records, logs or error messages: it may come from the URL or
from $DEEPRNN_STORAGE_PASSWORD, and every URL shown goes through ``redact_url``.
"""

from __future__ import annotations

import importlib
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import optuna

PASSWORD_ENV = "DEEPRNN_STORAGE_PASSWORD"
STORAGE_ENV = "DEEPRNN_STORAGE"
HEARTBEAT_INTERVAL_S = 30
GRACE_PERIOD_S = 120  # a RUNNING trial without a heartbeat for this long is failed and retried

# The same split as SQLAlchemy's URL parser: the password runs from the first ':' after the user to '@'.
_URL_PASSWORD = re.compile(r"(?P<head>[\w+.-]+://[^:/?#@\s]*:)(?P<password>[^@\s]*)(?P<at>@)")


def redact_url(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``; URLs without a password unchanged."""
    return _URL_PASSWORD.sub(lambda m: m["head"] + "***" + m["at"], url)


def url_password(url: str) -> str | None:
    match = _URL_PASSWORD.search(url)
    return match["password"] if match else None


def with_password(url: str, password: str | None) -> str:
    """Insert ``password`` (from $DEEPRNN_STORAGE_PASSWORD) into a URL that names a user but no password."""
    if not password or url_password(url) is not None:
        return url
    match = re.match(r"(?P<head>[\w+.-]+://)(?P<user>[^:/?#@\s]+)@", url)
    if not match:
        return url
    return f"{match['head']}{match['user']}:{quote(password, safe='')}@{url[match.end():]}"


def scrub(text: str, secrets: list[str | None]) -> str:
    """Remove storage passwords from a message: redact URLs, then any literal secret left."""
    text = redact_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


def storage_url(given: str | None, out_dir: Path) -> str:
    """--storage, else $DEEPRNN_STORAGE, else SQLite in the sweep directory; password from the environment."""
    url = given or os.environ.get(STORAGE_ENV) or f"sqlite:///{(out_dir / 'study.db').resolve()}"
    return with_password(url, os.environ.get(PASSWORD_ENV))


@contextmanager
def quiet_experimental():
    """Heartbeats are an 'experimental' Optuna feature (stable since 2.9); hide that warning only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


POSTGRES_DRIVERS = ("psycopg", "psycopg2")
INSTALL_POSTGRES = 'pip install -e ".[postgres]"'  # the package's extra (psycopg2-binary)


def postgres_driver(candidates: tuple[str, ...] = POSTGRES_DRIVERS) -> str | None:
    """The first of ``candidates`` (PostgreSQL driver modules) that imports here, or None."""
    for module in candidates:
        try:
            importlib.import_module(module)
        except ImportError:  # absent, or present without its C library
            continue
        return module
    return None


def _with_driver(url: str) -> str:
    """SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3, 2.0 as psycopg2: name whichever is installed.

    Without a driver Optuna's error is "Failed to import DB access module"; this one says what to install."""
    scheme = url.partition("://")[0]
    if not scheme.startswith("postgresql"):
        return url
    named = scheme.partition("+")[2]
    driver = postgres_driver((named,) if named else POSTGRES_DRIVERS)
    if driver is None:
        raise RuntimeError(f"no PostgreSQL driver ({named or ' or '.join(POSTGRES_DRIVERS)}) is installed; "
                           f"install one with {INSTALL_POSTGRES} (from the repository) or pip install psycopg2-binary")
    return url if named else f"postgresql+{driver}://" + url[len("postgresql://") :]


def open_storage(url: str, stale_trial_callback=None) -> optuna.storages.RDBStorage:
    """An RDBStorage with heartbeats; ``stale_trial_callback`` gets each trial failed for a late heartbeat."""
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}  # parallel local workers wait for the file lock
    else:
        engine = {"pool_pre_ping": True}  # long trials outlive idle server connections
    try:
        with quiet_experimental():
            return optuna.storages.RDBStorage(
                _with_driver(url),
                engine_kwargs=engine,
                heartbeat_interval=HEARTBEAT_INTERVAL_S,
                grace_period=GRACE_PERIOD_S,
                heartbeat_stale_trial_callback=stale_trial_callback,
            )
    except Exception as exc:  # noqa: BLE001 - driver and server errors: one line, the URL redacted
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(scrub(f"cannot open the storage {redact_url(url)}: {reason}", [url_password(url)])) from None
