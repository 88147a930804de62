"""Declaring a config option once: its default, its allowed values and its role, in one ``field``.

The lowest layer, beside ``files``: ``models`` declares its options with these and ``training`` composes them
into the run's ``Config``, so neither imports the other for the declarations. No torch here.

Each option is declared by its role, which is what "is this the same run?" asks of it (``Config.identity``):

- ``semantic(default, check)``: it changes what is computed; two runs that differ in it are different runs.
- ``execution(default, check)``: where and how fast the same computation runs (device, threads, prefetch,
  CUDA graph, the data directory); it may change on resume, and a run made with another value is the same run.
- ``budget(default, check)``: how long a run trains (epochs, patience, step caps, stopping rules); it may change
  on resume (a run goes on for longer), but a run trained to another budget is another result.

``check`` is the allowed values (``check_option``): ">= 1", "> 0", an interval "[0, 1)", or a tuple of choices;
none takes any value of the field's type. ``absent_means``: the option was added after runs were stored, and a
stored config that lacks it (written before it existed) means this value, not the default: new configs get the
better default, stored runs keep meaning what they computed.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

ROLE, CHECK, ABSENT_MEANS = "role", "check", "absent_means"
ROLES = ("semantic", "execution", "budget")
_NOT_GIVEN = object()


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message says which key and why."""


def option(default: Any, role: str, check: str | tuple[str, ...] | None = None, *,
           absent_means: Any = _NOT_GIVEN) -> Any:
    """A dataclass field with its role, its allowed values and (for a key added later) what its absence means."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    metadata = {ROLE: role, CHECK: check}
    if absent_means is not _NOT_GIVEN:
        metadata[ABSENT_MEANS] = absent_means
    return dataclasses.field(default=default, metadata=metadata)


def semantic(default: Any, check: str | tuple[str, ...] | None = None, **kwargs: Any) -> Any:
    return option(default, "semantic", check, **kwargs)


def execution(default: Any, check: str | tuple[str, ...] | None = None, **kwargs: Any) -> Any:
    return option(default, "execution", check, **kwargs)


def budget(default: Any, check: str | tuple[str, ...] | None = None, **kwargs: Any) -> Any:
    return option(default, "budget", check, **kwargs)


def checks(section: Any) -> dict[str, str | tuple[str, ...]]:
    """The allowed values of each option of a config dataclass (class or instance) that has any."""
    return {f.name: f.metadata[CHECK] for f in dataclasses.fields(section) if f.metadata.get(CHECK) is not None}


def check_option(key: str, rule: str | tuple[str, ...] | None, value: Any, source: str = "config") -> None:
    """Refuse a value outside ``rule`` (None is left to the type, which allows it or not)."""
    if rule is None or value is None or _allows(rule, value):
        return
    if isinstance(rule, tuple):
        raise ConfigError(f"{source}: '{key}' must be one of {', '.join(rule)}, got {value!r}")
    allowed = f"in {rule}" if rule[0] in "[(" else rule
    raise ConfigError(f"{source}: '{key}' must be {allowed}, got {value!r}")


def _allows(rule: str | tuple[str, ...], value: Any) -> bool:
    if isinstance(rule, tuple):  # choices; "cuda:N" stands for cuda:0, cuda:1, ...
        return value in rule or any(c.endswith(":N") and re.fullmatch(c[:-1] + "[0-9]+", value) for c in rule)
    if rule.startswith(">="):
        return value >= _number(rule[2:])
    if rule.startswith(">"):
        return value > _number(rule[1:])
    low, high = (_number(end.strip("[]()")) for end in rule.split(","))
    above = value >= low if rule.startswith("[") else value > low
    below = value <= high if rule.endswith("]") else value < high
    return above and below


def _number(text: str) -> int | float:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else float(text)  # an int bound compares exactly
