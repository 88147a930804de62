"""The loading API on the verified copies: formats, splits, tags and vocabularies."""

from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np
import pytest

from deeprnn import data
from deeprnn.data import music, tagged
from deeprnn.data.vocab import Vocabulary, build_lm_vocab


@cache
def _text(name, split):
    return data.load_text(name, split)


@cache
def _tagged(name, split):
    return data.load_tagged(name, split)


def test_every_benchmark_is_registered():
    assert list(data.DATASETS) == [
        "jsb", "nottingham", "musedata", "pianomidi", "ptb", "ptb-char", "brown", "conll2000", "treebank",
    ]  # fmt: skip
    for name, spec in data.DATASETS.items():
        assert data.get_dataset(name) is spec
        assert spec.files and spec.licence and spec.citation


def test_unknown_name_lists_valid_names_and_suggests_the_closest():
    with pytest.raises(ValueError, match="Did you mean 'nottingham'") as err:
        data.get_dataset("notingham")
    assert "jsb" in str(err.value) and "ptb-char" in str(err.value)
    with pytest.raises(ValueError, match="unknown split"):
        data.load_music("jsb", "dev")


def test_data_dir_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPRNN_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.resolve_data_dir(tmp_path / "given") == tmp_path / "given"
    assert data.resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DEEPRNN_DATA")
    assert data.resolve_data_dir() == tmp_path / "xdg" / "deeprnn" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.resolve_data_dir() == tmp_path / "home" / ".cache" / "deeprnn" / "data"


def test_music_is_88_key_binary_piano_rolls():
    seqs = data.load_music("jsb", "train")
    assert len(seqs) == 229
    assert all(s.ndim == 2 and s.shape[1] == 88 and s.dtype == np.uint8 and s.max() <= 1 for s in seqs)
    # The README's first training frame of JSB, as MIDI pitches: column j is pitch 21 + j.
    assert tuple(np.flatnonzero(seqs[0][0]) + 21) == (60, 72, 79, 88)


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_jsb_mat_pickle_and_json_give_identical_piano_rolls(data_dir, split):
    from_mat = music.read_mat(data_dir / "jsb" / "JSB_Chorales.mat", split)
    from_pickle = music.read_pickle(data_dir / "jsb" / "jsb-chorales-quarter.pkl", split)  # restricted
    from_json = music.read_json(data_dir / "jsb" / "jsb-chorales-quarter.json", split)
    assert len(from_mat) == len(from_pickle) == len(from_json)
    for a, b, c in zip(from_mat, from_pickle, from_json):
        assert a.dtype == b.dtype == c.dtype and np.array_equal(a, b) and np.array_equal(a, c)


def test_ptb_lines_and_vocabulary():
    train = _text("ptb", "train")
    assert train[0][:3] == ["aer", "banknote", "berlitz"]
    vocab = data.lm_vocab("ptb")
    assert len(vocab) == 10_000 and vocab.eos_id == 0 and vocab.itos[0] == "<eos>"
    assert vocab.unk_id is not None  # PTB's own <unk> token; the vocabulary is closed
    assert "<eos>" not in {t for line in train for t in line}


def test_ptb_char_lines_are_symbols_and_match_the_word_file():
    words, chars = _text("ptb", "valid"), _text("ptb-char", "valid")
    assert len(words) == len(chars) == 3_370
    assert all("_".join(w) == "".join(c) for w, c in zip(words, chars))
    vocab = data.lm_vocab("ptb-char")
    assert len(vocab) == 50 and vocab.eos_id == 0 and vocab.unk_id is None
    assert set(vocab.itos[1:]) == set("#$&'*-./0123456789<>N\\_abcdefghijklmnopqrstuvwxyz")


def test_ptb_char_files_are_built_from_the_word_files_by_the_documented_rule(data_dir):
    from deeprnn.data.text import char_file_from_word_file

    for split in ("valid", "test"):
        built = char_file_from_word_file((data_dir / "ptb" / f"ptb.{split}.txt").read_bytes())
        assert built == (data_dir / "ptb" / f"ptb.char.{split}.txt").read_bytes()


def test_brown_tags_are_stripped_of_affixes():
    cases = {
        "nn-tl": "nn",
        "np$": "np$",
        "fw-nn": "nn",
        "fw-in+nn-tl": "in+nn",
        "nns$-tl-hl": "nns$",
        "---hl": "--",
        "pps+bez": "pps+bez",
        "fw-in+at-t": "in+at",
        "ppss+ber-n": "ppss+ber",
        "*-nc": "*",
    }
    assert {raw: tagged.brown_tag(raw) for raw in cases} == cases
    sentence = _tagged("brown", "train")[0]
    assert sentence[:4] == [("The", "at"), ("Fulton", "np"), ("County", "nn"), ("Grand", "jj")]


def test_brown_split_is_by_file_stratified_by_category(data_dir):
    import zipfile

    cats = zipfile.ZipFile(data_dir / "brown" / "brown.zip").read("brown/cats.txt").decode()
    splits = tagged.brown_file_splits(cats)
    assert Counter(splits.values()) == {"train": 414, "valid": 45, "test": 41}
    assert (splits["ca09"], splits["ca10"], splits["ca19"], splits["ca20"]) == (
        "valid",
        "test",
        "valid",
        "test",
    )
    assert splits["cr09"] == "valid"  # humor: 9 files, no test file
    assert _text("brown", "valid")[0][:2] == ["city", "controller"]  # language modelling: lower-cased


def test_conll2000_valid_is_the_last_1000_training_sentences():
    train, valid = tagged.load_conll2000_chunks("train"), tagged.load_conll2000_chunks("valid")
    assert len(train) == 7_936 and len(valid) == 1_000
    assert train[0][:2] == [("Confidence", "NN", "B-NP"), ("in", "IN", "B-PP")]
    assert _tagged("conll2000", "valid")[0] == [(w, pos) for w, pos, _ in valid[0]]


def test_treebank_drops_empty_elements():
    sentence = _tagged("treebank", "train")[0]
    assert sentence[:3] == [("Pierre", "NNP"), ("Vinken", "NNP"), (",", ",")]
    assert all(tag != "-NONE-" for s in _tagged("treebank", "train") for _, tag in s)


def test_tagging_vocabs_and_encoding():
    words, tags = data.tagging_vocabs("conll2000")
    assert len(words) == 10_002 and words.itos[:2] == ["<pad>", "<unk>"] and words.pad_id == 0
    assert len(tags) == 45 and tags.itos[0] == "<unk>"  # 44 POS tags + a placeholder for unseen tags
    assert all(w == w.lower() for w in words.itos[2:])
    token_ids, tag_ids = data.encode_tagged([[("The", "DT"), ("Zyzzyvas", "NNS")]], words, tags)
    assert token_ids == [[words.stoi["the"], words.unk_id]] and tag_ids == [
        [tags.stoi["DT"], tags.stoi["NNS"]]
    ]


def test_open_vocabulary_keeps_top_words_with_alphabetical_ties():
    lines = [["b", "a", "c", "c", "d", "d"]]
    vocab = build_lm_vocab(lines, closed=False, char_level=False)
    assert vocab.itos == ["<eos>", "<unk>", "c", "d", "a", "b"]
    assert Vocabulary.from_counts(Counter({"b": 1, "a": 1, "z": 2}), ["<unk>"], max_size=2).itos == [
        "<unk>",
        "z",
        "a",
    ]
    conll = data.lm_vocab("conll2000")
    assert len(conll) == 10_002 and conll.itos[:3] == ["<eos>", "<unk>", "the"]


def test_vocabulary_round_trip_and_unknown_tokens():
    vocab = Vocabulary(["<eos>", "a", "b"])
    assert Vocabulary.from_list(vocab.to_list()) == vocab
    assert vocab.encode(["b", "a"]) == [2, 1] and vocab.decode([2, 1]) == ["b", "a"]
    with pytest.raises(ValueError, match="'zz' is not in the vocabulary"):
        vocab.encode(["zz"])
    assert Vocabulary(["<unk>", "a"]).encode(["zz"]) == [0]
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary(["a", "a"])


def test_loaders_refuse_the_wrong_family():
    with pytest.raises(ValueError, match="music dataset"):
        data.load_text("jsb", "train")
    with pytest.raises(ValueError, match="text dataset"):
        data.load_tagged("ptb", "train")
