"""The identity of every committed run stays what it was: refactors of configs and options never change it.

``tests/fixtures/config-identities.json`` holds, for each ``config.json`` under results/, the SHA-256 of its
identity as ``deeprnn reproduce`` compares it (``Config.identity(SAME_RESULT)``: every semantic and budget key,
with the value that a key it lacks meant when it was written), over the keys that existed when the fixture was
made (its ``keys``): an option added later enters no old hash, so adding one (with its ``absent_means``) needs no
change here, while a change to how any frozen key of an old run resolves fails. The test recomputes them with
today's code. New runs are added, and removed runs dropped, with

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


def identity(config_file: Path) -> dict:
    from deeprnn.training.config import SAME_RESULT, Config

    return Config.from_dict(json.loads(config_file.read_text()), source=str(config_file)).identity(SAME_RESULT)


def identity_hash(config_file: Path, keys: list[str]) -> str:
    """SHA-256 of the run's identity over ``keys`` (a frozen key that no longer exists hashes as missing)."""
    found = identity(config_file)
    frozen = {key: found.get(key, "<missing>") for key in keys}
    return hashlib.sha256(json.dumps(frozen, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def committed_configs() -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / "results").rglob("config.json"))


def _fixture() -> tuple[list[str], dict[str, str]]:
    frozen = json.loads(FIXTURE.read_text())
    return frozen["keys"], frozen["runs"]


@pytest.mark.slow
def test_every_committed_config_keeps_its_identity():
    keys, frozen = _fixture()
    current = committed_configs()
    missing = [path for path in current if path not in frozen]
    assert not missing, (f"{len(missing)} committed config.json without a frozen identity (e.g. {missing[0]}): "
                         "run python tests/test_config_identity.py --update")
    changed = [path for path in current if identity_hash(ROOT / path, keys) != frozen[path]]
    assert not changed, f"the identity of {len(changed)} committed runs changed, e.g. {changed[:3]}"
    assert len(current) > 300 and len(keys) > 40  # the fixture covers the committed results and their keys


def test_the_hash_sees_a_change_of_a_semantic_key_and_not_of_an_execution_key_or_a_new_key(tmp_path):
    keys, _ = _fixture()
    source = ROOT / committed_configs()[0]
    raw = json.loads(source.read_text())
    for section, key, value, same in (("train", "threads", 7, True), ("model", "hidden_size", 3, False)):
        edited = json.loads(json.dumps(raw))
        edited[section][key] = value
        (tmp_path / "config.json").write_text(json.dumps(edited))
        assert (identity_hash(tmp_path / "config.json", keys) == identity_hash(source, keys)) is same, key
    # an option added after the fixture was made enters no frozen hash
    assert identity_hash(source, [key for key in keys if key != "model.hidden_size"]) != identity_hash(source, keys)


def _update(replace: list[str]) -> None:
    keys, frozen = _fixture() if FIXTURE.is_file() else (sorted(identity(ROOT / committed_configs()[0])), {})
    updated = {}
    for path in committed_configs():
        digest = identity_hash(ROOT / path, keys)
        if path in frozen and frozen[path] != digest and path not in replace:
            sys.exit(f"error: the identity of {path} changed; fix the code (or --replace {path} for a run "
                     "deliberately rewritten in place)")
        updated[path] = digest
    FIXTURE.write_text(json.dumps({"keys": keys, "runs": updated}, indent=1, sort_keys=True) + "\n")
    added, dropped = len(updated.keys() - frozen.keys()), len(frozen.keys() - updated.keys())
    print(f"{FIXTURE.relative_to(ROOT)}: {len(updated)} runs ({added} added, {dropped} dropped)")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--update":
        sys.exit("usage: python tests/test_config_identity.py --update [--replace PATH ...]")
    _update([arg for arg in args[1:] if arg != "--replace"])
