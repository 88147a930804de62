"""deeprnn.data.custom: the user's own MIDI, text and CoNLL folders."""

from __future__ import annotations

import hashlib
import re
import warnings

import numpy as np
import pytest

from deeprnn.data import custom
from deeprnn.midi import pianoroll_to_midi

# Hash values (see custom.hash_unit): bach 0.953 -> test, elgar 0.874 -> valid, the rest < 0.8 -> train.
SIX_FILES = ["bach.mid", "chopin.mid", "elgar.mid", "mozart.mid", "satie.mid", "sub/c.MID"]
SIX_FILES_SPLIT = {
    "train": ["chopin.mid", "mozart.mid", "satie.mid", "sub/c.MID"],
    "valid": ["elgar.mid"],
    "test": ["bach.mid"],
}


def write_midi_folder(folder, relative_paths, step="eighth", seed=0) -> dict[str, np.ndarray]:
    """Random piano-rolls saved as MIDI files; returns relative path -> roll."""
    rng = np.random.default_rng(seed)
    rolls = {}
    for relative_path in relative_paths:
        flips = rng.random((int(rng.integers(10, 40)), 88)) < 0.05
        roll = (np.cumsum(flips, axis=0) % 2).astype(np.uint8)
        roll[0, 39] = 1  # never silent
        (folder / relative_path).parent.mkdir(parents=True, exist_ok=True)
        pianoroll_to_midi(roll, folder / relative_path, step=step)
        rolls[relative_path] = roll
    return rolls


def test_hash_rule_is_sha1_of_the_relative_path():
    expected = int(hashlib.sha1(b"sub/c.MID").hexdigest()[:8], 16) / 2**32
    assert custom.hash_unit("sub/c.MID") == expected
    for split, paths in SIX_FILES_SPLIT.items():
        lo, hi = custom.SPLIT_BANDS[split]
        assert all(lo <= custom.hash_unit(path) < hi for path in paths)


def test_midi_folder_loads_with_the_documented_split(tmp_path):
    rolls = write_midi_folder(tmp_path, SIX_FILES)
    (tmp_path / "notes.txt").write_text("not music")  # other files are not looked at
    name = f"midi:{tmp_path}"
    for split, paths in SIX_FILES_SPLIT.items():
        assert custom.midi_split_files(name, split) == paths
        loaded = custom.load_music(name, split)
        assert len(loaded) == len(paths)
        for path, roll in zip(paths, loaded):
            assert roll.dtype == np.uint8
            np.testing.assert_array_equal(roll, rolls[path])


def test_split_is_stable_when_a_file_is_added(tmp_path):
    write_midi_folder(tmp_path, [*SIX_FILES, "sub/b.midi"])  # hash 0.839 -> valid
    name = f"midi:{tmp_path}"
    assert custom.midi_split_files(name, "train") == SIX_FILES_SPLIT["train"]
    assert custom.midi_split_files(name, "valid") == ["elgar.mid", "sub/b.midi"]
    assert custom.midi_split_files(name, "test") == SIX_FILES_SPLIT["test"]


def test_small_folders_still_get_train_valid_and_test():
    # Hashes: mozart 0.473, chopin 0.478, satie 0.107 -> all train; bach 0.953 -> test.
    two_files = {"train": ["mozart.mid", "satie.mid"], "valid": [], "test": []}
    assert custom.split_files(["satie.mid", "mozart.mid"]) == two_files
    # valid takes the train file nearest its band (chopin), then test the next nearest (mozart).
    assert custom.split_files(["mozart.mid", "chopin.mid", "satie.mid"]) == {
        "train": ["satie.mid"],
        "valid": ["chopin.mid"],
        "test": ["mozart.mid"],
    }
    assert custom.split_files(["mozart.mid", "chopin.mid", "satie.mid", "bach.mid"]) == {
        "train": ["mozart.mid", "satie.mid"],
        "valid": ["chopin.mid"],
        "test": ["bach.mid"],
    }


def test_step_suffix_selects_the_grid(tmp_path):
    rolls = write_midi_folder(tmp_path, SIX_FILES, step="quarter")
    name = f"midi:{tmp_path}#quarter"
    spec = custom.get_spec(name)
    assert (spec.family, spec.tasks, spec.time_step) == ("music", ("music",), "quarter")
    np.testing.assert_array_equal(custom.load_music(name, "test")[0], rolls["bach.mid"])
    # The same files on the default eighth grid have twice the frames.
    assert len(custom.load_music(f"midi:{tmp_path}", "test")[0]) == 2 * len(rolls["bach.mid"])


def test_unreadable_midi_files_are_skipped_with_a_warning(tmp_path):
    write_midi_folder(tmp_path, SIX_FILES)
    (tmp_path / "broken.mid").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="broken.mid"):
        train = custom.midi_split_files(f"midi:{tmp_path}", "train")
    assert "broken.mid" not in train


def test_midi_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        custom.load_music(f"midi:{tmp_path / 'missing'}", "train")
    (tmp_path / "readme.txt").write_text("no music here")
    with pytest.raises(ValueError, match=r"no usable MIDI files.*\.mid"):
        custom.load_music(f"midi:{tmp_path}", "train")
    with pytest.raises(ValueError, match="unknown time step"):
        custom.get_spec(f"midi:{tmp_path}#whole-ish")
    with pytest.raises(ValueError, match="unknown custom dataset"):
        custom.get_spec(f"wav:{tmp_path}")


def test_midi_info(tmp_path):
    rolls = write_midi_folder(tmp_path, SIX_FILES)
    summary = custom.info(f"midi:{tmp_path}")
    valid_roll = rolls["elgar.mid"]
    assert summary["valid"] == {
        "sequences": 1,
        "steps": len(valid_roll),
        "notes": int((np.diff(valid_roll.astype(int), axis=0, prepend=0) == 1).sum()),
        "max_polyphony": int(valid_roll.sum(axis=1).max()),
    }
    assert summary["train"]["sequences"] == 4


def write_splits(folder, texts: dict[str, str]) -> None:
    for split, text in texts.items():
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")


def test_text_and_chars_folders(tmp_path):
    write_splits(tmp_path, {"train": "the cat  sat\n\nthe dog\n", "valid": " a \t b \n", "test": "c\n"})
    assert custom.load_text(f"text:{tmp_path}", "train") == [["the", "cat", "sat"], ["the", "dog"]]
    assert custom.load_text(f"chars:{tmp_path}", "valid") == [["a", " ", "b"]]
    assert custom.get_spec(f"chars:{tmp_path}").level == "char"
    assert custom.get_spec(f"text:{tmp_path}").tasks == ("lm",)
    assert custom.info(f"text:{tmp_path}")["train"] == {"sentences": 2, "tokens": 5, "vocabulary": 4}
    with pytest.raises(ValueError, match="needs a conll"):
        custom.load_tagged(f"text:{tmp_path}", "train")


def test_conll_folder(tmp_path):
    train = "-DOCSTART- -X- O\n\nThe DT B-NP\ncat NN I-NP\n\n\nRuns VBZ B-VP\n"
    write_splits(tmp_path, {"train": train, "valid": "a DT\n", "test": "b NN\n"})
    name = f"conll:{tmp_path}"
    assert custom.load_tagged(name, "train") == [[("The", "DT"), ("cat", "NN")], [("Runs", "VBZ")]]
    assert custom.load_text(name, "train") == [["The", "cat"], ["Runs"]]
    assert custom.get_spec(name).tasks == ("lm", "tagging")
    assert custom.info(name)["train"]["tags"] == 3


def test_text_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        custom.load_text(f"text:{tmp_path / 'missing'}", "train")
    write_splits(tmp_path, {"train": "x y\n", "valid": "\n \n"})
    with pytest.raises(FileNotFoundError, match="test.txt"):
        custom.load_text(f"text:{tmp_path}", "test")
    with pytest.raises(ValueError, match="valid.txt.*empty|empty.*valid.txt"):
        custom.load_text(f"text:{tmp_path}", "valid")
    with pytest.raises(ValueError, match="unknown split"):
        custom.load_text(f"text:{tmp_path}", "dev")
    (tmp_path / "test.txt").write_text("lonely\n")
    with pytest.raises(ValueError, match="test.txt:1"):
        custom.load_tagged(f"conll:{tmp_path}", "test")


@pytest.mark.parametrize("prefix", ["text", "chars", "conll"])
def test_text_that_is_not_utf8_names_the_file_and_line(tmp_path, prefix, capsys):
    from deeprnn.cli.main import main

    write_splits(tmp_path, {"train": "a DT\nb NN\n", "valid": "a DT\n", "test": "a DT\n"})
    (tmp_path / "valid.txt").write_bytes("a DT\n\ncaf\u00e9 NN\n".encode("utf-8") + b"caf\xe9 NN\n")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'valid.txt'}:4: not UTF-8 text \(byte 4 of the line is 0xe9\)"):
        custom.load_text(f"{prefix}:{tmp_path}", "valid")
    assert main(["data", "info", f"{prefix}:{tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "valid.txt:4: not UTF-8" in err


def test_a_line_over_the_limit_is_refused_and_one_at_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPRNN_MAX_LINE_BYTES", "10")
    write_splits(tmp_path, {"train": "0123456789\r\nab\n" + "x" * 11 + "\n", "valid": "a\n", "test": "a\n"})
    with pytest.raises(ValueError, match=r"train.txt:3: line longer than 10 bytes; raise \$DEEPRNN_MAX_LINE_BYTES"):
        custom.load_text(f"chars:{tmp_path}", "train")
    write_splits(tmp_path, {"train": "0123456789\r\nab\n" + "x" * 10})  # at the limit, without a line end
    assert custom.load_text(f"text:{tmp_path}", "train") == [["0123456789"], ["ab"], ["x" * 10]]
    monkeypatch.setenv("DEEPRNN_MAX_LINE_BYTES", "ten")
    with pytest.raises(ValueError, match=r"\$DEEPRNN_MAX_LINE_BYTES must be a number of bytes"):
        custom.load_text(f"chars:{tmp_path}", "valid")


def test_lines_read_one_at_a_time_split_as_the_whole_text_did(tmp_path):
    """The rule of docs/own-data.md, applied to the whole file at once: str.splitlines, then str.split."""
    text = ("\ufeffLe  caf\u00e9\u00a0noir\tfume\r\n\n  \u3000 \n\u4e2d\u6587 \u6587\u5b57\u2028"
            "next\x0bline\x1cend \u2003 here\n\u00e9t\u00e9\r")
    write_splits(tmp_path, {"train": text, "valid": "a\n", "test": "a\n"})
    lines = text[1:].splitlines()
    assert custom.load_text(f"text:{tmp_path}", "train") == [line.split() for line in lines if line.strip()]
    assert custom.load_text(f"chars:{tmp_path}", "train") == [list(" ".join(line.split())) for line in lines
                                                             if line.strip()]
    sentences = custom.load_text(f"chars:{tmp_path}", "train")
    chinese = [s for s in sentences if "\u6587" in s][0]
    assert chinese[1] is chinese[3]


def test_a_text_path_that_is_a_file_is_one_line(tmp_path, capsys):
    from deeprnn.cli.main import main

    (tmp_path / "corpus.txt").write_text("a b\n")
    assert main(["data", "info", f"text:{tmp_path / 'corpus.txt'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder" in err


def test_samples_of_a_quarter_note_run_read_on_the_default_grid_warn(tmp_path):
    rolls = write_midi_folder(tmp_path, SIX_FILES, step="quarter")  # as `deeprnn sample` writes a JSB run's
    for relative_path in rolls:
        (tmp_path / relative_path).with_suffix(".json").write_text('{"time_step": "quarter"}')
    expected = rf"6 file\(s\) were sampled by deeprnn on quarter-note.*midi:{re.escape(str(tmp_path))}#quarter"
    with pytest.warns(UserWarning, match=expected):
        stretched = custom.load_music(f"midi:{tmp_path}", "test")[0]
    assert len(stretched) == 2 * len(rolls["bach.mid"])  # what the warning is about
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the step named: no warning, the files' own length
        np.testing.assert_array_equal(custom.load_music(f"midi:{tmp_path}#quarter", "test")[0], rolls["bach.mid"])


def test_own_folder_info_prints_no_empty_citation(tmp_path):
    from deeprnn.cli.data_cmd import format_info
    from deeprnn.data import dataset_info

    write_midi_folder(tmp_path, SIX_FILES)
    text = format_info(dataset_info(f"midi:{tmp_path}"))
    assert "licence: your own data" in text and "citation" not in text
    assert "citation: " in format_info(dataset_info("jsb"))
