"""The identity of every committed run stays what it was: refactors of configs and options never change it.

``tests/fixtures/config-identities.json`` holds, for each ``config.json`` under results/, the SHA-256 of its
identity as ``deeprnn reproduce`` compares it (``Config.identity(SAME_RESULT)``: every semantic and budget key,
with the value that a key it lacks meant when it was written). The test recomputes them with today's code. New
runs are added, and removed runs dropped, with

    python tests/test_config_identity.py --update

which never changes the hash of a run that is still there: a changed identity is a bug in the code, not in the
fixture (a run deliberately rewritten in place is the one exception: ``--replace results/.../config.json``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "config-identities.json"


def identity_hash(config_file: Path) -> str:
    from deeprnn.training.config import SAME_RESULT, Config

    config = Config.from_dict(json.loads(config_file.read_text()), source=str(config_file))
    canonical = json.dumps(config.identity(SAME_RESULT), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def committed_configs() -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / "results").rglob("config.json"))


@pytest.mark.slow
def test_every_committed_config_keeps_its_identity():
    frozen = json.loads(FIXTURE.read_text())
    current = committed_configs()
    missing = [path for path in current if path not in frozen]
    assert not missing, (f"{len(missing)} committed config.json without a frozen identity (e.g. {missing[0]}): "
                         "run python tests/test_config_identity.py --update")
    changed = [path for path in current if identity_hash(ROOT / path) != frozen[path]]
    assert not changed, f"the identity of {len(changed)} committed runs changed, e.g. {changed[:3]}"
    assert len(current) > 300  # the fixture covers the committed results, not an empty folder


def test_the_hash_sees_a_change_of_a_semantic_key_and_not_of_an_execution_key(tmp_path):
    source = ROOT / committed_configs()[0]
    raw = json.loads(source.read_text())
    for section, key, value, same in (("train", "threads", 7, True), ("model", "hidden_size", 3, False)):
        edited = json.loads(json.dumps(raw))
        edited[section][key] = value
        (tmp_path / "config.json").write_text(json.dumps(edited))
        assert (identity_hash(tmp_path / "config.json") == identity_hash(source)) is same, key


def _update(replace: list[str]) -> None:
    frozen = json.loads(FIXTURE.read_text()) if FIXTURE.is_file() else {}
    updated = {}
    for path in committed_configs():
        digest = identity_hash(ROOT / path)
        if path in frozen and frozen[path] != digest and path not in replace:
            sys.exit(f"error: the identity of {path} changed; fix the code (or --replace {path} for a run "
                     "deliberately rewritten in place)")
        updated[path] = digest
    FIXTURE.write_text(json.dumps(updated, indent=1, sort_keys=True) + "\n")
    added, dropped = len(updated.keys() - frozen.keys()), len(frozen.keys() - updated.keys())
    print(f"{FIXTURE.relative_to(ROOT)}: {len(updated)} runs ({added} added, {dropped} dropped)")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--update":
        sys.exit("usage: python tests/test_config_identity.py --update [--replace PATH ...]")
    _update([arg for arg in args[1:] if arg != "--replace"])
