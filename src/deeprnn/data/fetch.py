"""Download the benchmark files, verified against the SHA-256 sums kept in the package.

Every file is written to a temporary file in its final directory, hashed while it streams, and moved to
its final name (``os.replace``) only if the hash matches; otherwise the temporary file is deleted. A fetch that
was killed leaves its ``.FILE.PID.*.part``: the next fetch of that file deletes those of processes that are
gone (never those of a fetch still running). An
existing file is never overwritten: if it is the canonical file it is kept, if not the fetch refuses.
``ptb.char.*`` files are built locally from the PTB word files and verified the same way.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from deeprnn.data.datadir import EXPECTED_SHA256, ChecksumError, check_sha256, resolve_data_dir, sha256_of
from deeprnn.data.music import MUSIC_SOURCES
from deeprnn.data.registry import BUILT_FROM, DATASETS, FILE_URLS, get_dataset, is_custom
from deeprnn.data.text import char_file_from_word_file

URL_ENV_VAR = "DEEPRNN_DATA_URL"  # a mirror: every file is fetched as {base}/{path relative to the data dir}
DOWNLOAD_TIMEOUT_S = 60


def file_url(relpath: str, base_url: str | None = None) -> str:
    base = base_url or os.environ.get(URL_ENV_VAR)
    return f"{base.rstrip('/')}/{relpath}" if base else FILE_URLS[relpath]


def _write_verified(dest: Path, chunks, expected: str, source: str) -> None:
    """Stream ``chunks`` into a temp file beside ``dest``; move it into place only if its SHA-256 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A fresh hidden name in the same folder (so os.replace is atomic); "xb" keeps the user's umask.
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        digest = hashlib.sha256()
        with open(tmp, "xb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumError(
                f"SHA-256 mismatch for {source}: expected {expected}, actual {actual}; "
                f"nothing was written to {dest}"
            )
        if dest.exists():  # appeared while downloading: never replace a file someone else put there
            raise RuntimeError(f"{dest} appeared during the download; left it untouched")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_parts(dest: Path) -> list[Path]:
    """Delete the partial downloads of ``dest`` left by fetches that were killed (their process is gone)."""
    stale = []
    for part in dest.parent.glob(f".{dest.name}.*.part"):
        pid = part.name[len(dest.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            part.unlink(missing_ok=True)
            stale.append(part)
    return stale


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _download(url: str, dest: Path, expected: str, progress: bool) -> None:
    def chunks():
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    received += len(block)
                    bar.update(len(block))
                    yield block
            if total is not None and received != total:  # http.client does not raise on a cut connection
                raise RuntimeError(f"incomplete download of {url}: got {received} of {total} bytes")

    try:
        _write_verified(dest, chunks(), expected, url)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        raise RuntimeError(
            f"could not download {url} to {dest}: {exc}. Offline? Copy the file to {dest} by hand (`deeprnn data "
            f"verify` checks it), or fetch from a mirror with --base-url BASE or ${URL_ENV_VAR}=BASE (files are "
            "BASE/<dataset>/<file>)"
        ) from None


def _fetch_file(root: Path, relpath: str, base_url: str | None, progress: bool) -> Path:
    dest = root / relpath
    if dest.parent.is_dir():
        remove_stale_parts(dest)
    if dest.exists():
        check_sha256(dest, relpath)  # keep a canonical file; refuse (and leave alone) anything else
        return dest
    expected = EXPECTED_SHA256[relpath]
    if relpath in BUILT_FROM:
        word_file = _fetch_file(root, BUILT_FROM[relpath], base_url, progress)
        _write_verified(dest, [char_file_from_word_file(word_file.read_bytes())], expected, f"{dest} (built)")
    else:
        _download(file_url(relpath, base_url), dest, expected, progress)
    return dest


def fetch(name: str, data_dir=None, base_url: str | None = None, progress: bool = True) -> list[Path]:
    """Download (or build) the files of dataset ``name`` that are missing from the data directory."""
    if is_custom(name):
        raise ValueError(f"'{name}' is a user corpus: it is read from its folder, there is nothing to fetch")
    spec = get_dataset(name)
    root = resolve_data_dir(data_dir)
    # the folders this fetch creates (files are DATASET/FILE): a failed one removes those it left empty
    folders = {root} | {(root / relpath).parent for relpath in spec.files}
    created = sorted((folder for folder in folders if not folder.exists()), key=lambda f: len(f.parts), reverse=True)
    try:
        return [_fetch_file(root, relpath, base_url, progress) for relpath in spec.files]
    except BaseException:
        for folder in created:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def verify(data_dir=None, names: list[str] | None = None) -> list[tuple[str, str]]:
    """(relative path, status) for every file of ``names`` (default: all datasets).

    status is "ok", "missing", or "mismatch: expected <sha>, actual <sha>" (the file is left as it is). A
    music dataset whose loader would read a file without a known checksum (an original ``.pickle``, used when
    the verified files are missing) gets a row for that file too: "unverified: ...".
    """
    root = resolve_data_dir(data_dir)
    names = names or list(DATASETS)
    relpaths = dict.fromkeys(p for name in names for p in get_dataset(name).files)
    rows = []
    for relpath in relpaths:
        path = root / relpath
        if not path.is_file():
            rows.append((relpath, "missing"))
            continue
        expected, actual = EXPECTED_SHA256.get(relpath), sha256_of(path)
        if expected is None:
            rows.append((relpath, f"no known checksum (sha256 {actual})"))
        else:
            rows.append(
                (relpath, "ok" if actual == expected else f"mismatch: expected {expected}, actual {actual}")
            )
    for name in names:
        read = next((r for r in MUSIC_SOURCES.get(name, ()) if (root / r).is_file()), None)
        if read is not None and read not in EXPECTED_SHA256:
            verified = " and ".join(get_dataset(name).files)
            rows.append((read, f"unverified: the loader reads this file, which has no known checksum, because "
                               f"{verified} are missing (sha256 {sha256_of(root / read)})"))
    return rows
