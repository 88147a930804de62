"""`deeprnn data info --json` against the counts published in ../shared/data/README.md.

The numbers below are copied literally from that README (measured independently of this code):
they are the ground truth, not whatever the loaders happen to return.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from deeprnn.cli.main import main


@pytest.fixture(scope="module")
def info(data_dir) -> dict:
    """One run of the real command over every dataset (the slowest step of the data tests, ~6 s)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["data", "info", "--json", "--data-dir", str(data_dir)]) == 0
    return json.loads(out.getvalue())


# dataset -> split -> (sequences, steps, notes, empty steps, min length, max length, max polyphony)
MUSIC = {
    "jsb": {
        "train": (229, 13_807, 53_824, 18, 25, 129, 4),
        "valid": (76, 4_602, 17_811, 29, 32, 144, 4),
        "test": (77, 4_725, 18_367, 17, 32, 160, 4),
    },
    "nottingham": {
        "train": (694, 176_561, 699_403, 487, 40, 1788, 9),
        "valid": (173, 45_513, 180_192, 51, 96, 1473, 8),
        "test": (170, 44_463, 177_421, 19, 63, 1793, 9),
    },
    "musedata": {
        "train": (524, 245_202, 856_543, 12_962, 9, 3457, 14),
        "valid": (135, 82_755, 287_893, 4_412, 63, 3723, 15),
        "test": (124, 64_339, 211_857, 5_042, 45, 4273, 14),
    },
    "pianomidi": {
        "train": (87, 75_911, 231_089, 4_917, 111, 3857, 12),
        "valid": (12, 8_540, 27_623, 251, 209, 1637, 11),
        "test": (25, 19_036, 56_067, 652, 65, 2645, 10),
    },
}
PITCH_RANGE = {"jsb": (43, 96), "nottingham": (31, 93), "musedata": (21, 105), "pianomidi": (21, 108)}


@pytest.mark.parametrize("name", MUSIC)
def test_music_counts(info, name):
    for split, expected in MUSIC[name].items():
        s = info[name]["splits"][split]
        got = (
            s["sequences"],
            s["steps"],
            s["notes"],
            s["empty_steps"],
            s["min_length"],
            s["max_length"],
            s["max_polyphony"],
        )
        assert got == expected, (name, split)
    total = info[name]["total"]
    assert (total["lowest_pitch"], total["highest_pitch"]) == PITCH_RANGE[name]


def test_ptb_word_counts(info):
    splits = info["ptb"]["splits"]
    assert [splits[s]["sentences"] for s in ("train", "valid", "test")] == [42_068, 3_370, 3_761]
    assert [splits[s]["tokens"] for s in ("train", "valid", "test")] == [887_521, 70_390, 78_669]
    assert [splits[s]["tokens_with_eos"] for s in ("train", "valid", "test")] == [929_589, 73_760, 82_430]
    assert [splits[s]["types"] for s in ("train", "valid", "test")] == [9_999, 6_021, 6_048]
    assert [splits[s]["oov_tokens"] for s in ("train", "valid", "test")] == [0, 0, 0]
    assert info["ptb"]["lm_vocab_size"] == 10_000


def test_ptb_char_counts(info):
    splits = info["ptb-char"]["splits"]
    assert [splits[s]["sentences"] for s in ("train", "valid", "test")] == [42_068, 3_370, 3_761]
    assert [splits[s]["tokens"] for s in ("train", "valid", "test")] == [4_975_414, 389_672, 438_662]
    assert [splits[s]["tokens_with_eos"] for s in ("train", "valid", "test")] == [5_017_482, 393_042, 442_423]
    assert [splits[s]["types"] for s in ("train", "valid", "test")] == [49, 49, 47]
    assert info["ptb-char"]["lm_vocab_size"] == 50  # 49 symbols + the line end


def test_brown_counts(info):
    brown = info["brown"]
    assert brown["total"]["sentences"] == 57_340
    assert brown["total"]["tokens"] == 1_161_192
    # The split rule (docs/data.md) applied to the 500 files; regression values, not published ones.
    assert [brown["splits"][s]["sentences"] for s in ("train", "valid", "test")] == [47_626, 4_970, 4_744]
    assert brown["lm_vocab_size"] == 10_002  # 10,000 words + <unk> + <eos>
    assert brown["tag_count"] == 185


def test_conll2000_counts(info):
    conll = info["conll2000"]
    splits = conll["splits"]
    assert splits["train"]["sentences"] + splits["valid"]["sentences"] == 8_936
    assert splits["valid"]["sentences"] == 1_000
    assert splits["test"]["sentences"] == 2_012
    assert splits["train"]["tokens"] + splits["valid"]["tokens"] == 211_727
    assert splits["test"]["tokens"] == 47_377
    assert conll["tag_count"] == 44
    assert conll["lm_vocab_size"] == 10_002


def test_treebank_counts(info):
    treebank = info["treebank"]
    assert treebank["total"]["sentences"] == 3_914
    assert treebank["total"]["tokens"] == 94_084  # 100,676 leaves minus 6,592 -NONE- traces


def test_info_carries_licence_and_citation(info):
    for name in ("ptb", "brown", "treebank"):
        assert "non-commercial" in info[name]["licence"].lower()
    for entry in info.values():
        assert entry["citation"] and entry["licence"]
