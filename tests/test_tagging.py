"""The tagger's inputs and scores: vocabulary options, spelling features, known/unknown accuracy, the
most-frequent-tag baseline (all hand-computed on tiny corpora), and tiny runs with the new options end to
end (training, checkpoints, ``deeprnn tag``), next to a run that keeps every default and an old checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from deeprnn import data
from deeprnn.cli.main import main
from deeprnn.data.wordfeatures import TaggerInputs, spelling_features, word_shape
from deeprnn.experiments.sampling import tag_sentence
from deeprnn.models import WordFeatures
from deeprnn.training import load_config, load_run, train
from deeprnn.training.baselines import most_frequent_tags, score_most_frequent_tag
from deeprnn.training.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from deeprnn.training.config import ConfigError
from deeprnn.training.metrics import TaggingMetrics
from deeprnn.training.tasks import TaggingTask, resolve_task

TRAIN = [[("The", "DT"), ("cat", "NN"), ("sat", "VB")],
         [("the", "DT"), ("Cat", "NP"), ("sat", "VB"), ("cat", "VB"), ("cat", "NN")]]


# ------------------------------------------------------------------------------------ vocabularies


def test_tagging_vocabulary_options():
    words, tags = data.vocab.build_tagging_vocabs(TRAIN)  # the defaults: lower-cased, top 10,000, every word
    assert words.to_list() == ["<pad>", "<unk>", "cat", "sat", "the"]  # cat 4, sat 2, the 2 (ties alphabetical)
    assert tags.to_list() == ["<unk>", "VB", "DT", "NN", "NP"]  # VB 3, DT 2, NN 2, NP 1
    cased, _ = data.vocab.build_tagging_vocabs(TRAIN, lowercase=False)
    assert cased.to_list() == ["<pad>", "<unk>", "cat", "sat", "Cat", "The", "the"]
    frequent, _ = data.vocab.build_tagging_vocabs(TRAIN, lowercase=False, min_count=2)
    assert frequent.to_list() == ["<pad>", "<unk>", "cat", "sat"]
    top, _ = data.vocab.build_tagging_vocabs(TRAIN, max_words=1)
    assert top.to_list() == ["<pad>", "<unk>", "cat"]


def test_word_shapes_and_spelling_features():
    shapes = {"Pascanu": "Xx", "1,000": "d,d", "U.S.": "X.X.", "well-known": "x-x", "CEO": "X", "McDonald": "XxXx",
              "1980s": "dx", ".": "."}
    assert {word: word_shape(word) for word in shapes} == shapes
    assert spelling_features("affix", "Running") == ["suffix1:g", "suffix2:ng", "suffix3:ing", "shape:Xx"]
    assert spelling_features("affix", "at") == ["suffix1:t", "suffix2:at", "suffix3:^at", "shape:x"]
    assert spelling_features("chars", "Cat") == ["C", "a", "t"]
    long = "abcdefghijklmnopqrstuvwxyz"  # 26 characters: the first and last 10
    assert "".join(spelling_features("chars", long)) == "abcdefghijqrstuvwxyz"
    with pytest.raises(ValueError, match="word_features must be one of affix, chars"):
        spelling_features("suffix", "cat")


def test_feature_vocabulary_and_ids():
    train_words = [word for sentence in TRAIN for word, _ in sentence]
    vocab = data.build_feature_vocab("affix", train_words)
    assert vocab.itos[0] == "<pad>" and vocab.itos[1:3] == ["shape:x", "suffix1:t"]  # 6 and 6 of 8 tokens
    inputs = TaggerInputs(data.Vocabulary(["<pad>", "<unk>", "cat"]), lowercase=True, kind="affix", features=vocab)
    ids = inputs.feature_ids(["Cat", "dog"])
    stoi = vocab.stoi
    assert ids[0].tolist() == [stoi["suffix1:t"], stoi["suffix2:at"], stoi["suffix3:cat"], stoi["shape:Xx"]]
    assert ids[1].tolist() == [0, 0, 0, stoi["shape:x"]]  # 'dog's suffixes were never seen in training: absent
    assert inputs.word_ids(["Cat", "dog"]) == [2, 1] and inputs.unknown(["Cat", "dog", "dog"]) == ["dog"]
    chars = TaggerInputs(data.Vocabulary(["<pad>", "<unk>"]), kind="chars",
                         features=data.build_feature_vocab("chars", train_words))
    assert chars.feature_ids(["at", "sat", "Q"]).tolist() == [[chars.features.stoi[c] for c in "at"] + [0],
                                                              [chars.features.stoi[c] for c in "sat"], [0, 0, 0]]


def test_encoded_split_and_batches():
    inputs = TaggerInputs(data.vocab.build_tagging_vocabs(TRAIN)[0], kind="chars",
                          features=data.build_feature_vocab("chars", ["The", "cat"]))
    tags = data.vocab.build_tagging_vocabs(TRAIN)[1]
    split = data.encode_split([[("cat", "NN")], [("The", "DT"), ("Dog", "NN")]], inputs, tags, {"cat", "The"})
    assert split.token_ids == [[2], [4, 1]] and split.spelling_ids == [[0], [1, 2]]
    assert split.known.tolist() == [True, True, False]
    batch = data.collate_split(split, [0, 1])
    assert batch.tokens.tolist() == [[2, 0], [4, 1]] and batch.lengths.tolist() == [1, 2]
    assert batch.known.tolist() == [[True, False], [True, False]]  # padding is never known
    stoi = inputs.features.stoi
    assert batch.features.tolist() == [[[stoi["c"], stoi["a"], stoi["t"]], [0, 0, 0]],  # padding: no features
                                       [[stoi["T"], stoi["h"], stoi["e"]], [0, 0, 0]]]  # D, o, g unseen
    assert data.collate_split(split, [0]).features.shape == (1, 1, 3)


# ------------------------------------------------------------------------------ the features module


def test_affix_features_are_a_sum_of_embeddings():
    module = WordFeatures("affix", 6, 3)
    ids = torch.tensor([[[1, 4, 0], [0, 0, 0]]])
    expected = torch.stack([module.embedding.weight[1] + module.embedding.weight[4], torch.zeros(3)])
    torch.testing.assert_close(module(ids)[0], expected)


def test_char_features_against_a_word_by_word_loop():
    torch.manual_seed(0)
    module = WordFeatures("chars", 9, 4).double()
    ids = torch.tensor([[[3, 1, 8, 0], [5, 0, 0, 0]], [[2, 2, 7, 6], [0, 0, 0, 0]]])
    got = module(ids)
    for b in range(2):
        for t in range(2):
            chars = ids[b, t][ids[b, t] != 0]
            if not len(chars):
                assert torch.equal(got[b, t], torch.zeros(4, dtype=torch.float64))
                continue
            # the word alone: its characters, zero-padded by one at each end, convolved, tanh, max over positions
            embedded = F.pad(module.embedding(chars).t(), (1, 1))
            responses = [torch.tanh(module.conv.bias + (module.conv.weight * embedded[:, i : i + 3]).sum((1, 2)))
                         for i in range(len(chars))]
            torch.testing.assert_close(got[b, t], torch.stack(responses).amax(0))


# ------------------------------------------------------------------------------ scores and baseline


def test_tagging_metrics_known_and_unknown_by_hand():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]], [[0.0, 1.0], [1.0, 0.0], [5.0, 5.0]]])
    targets = torch.tensor([[0, 0, 0], [1, 1, 0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    known = torch.tensor([[True, True, False], [False, True, True]])
    metrics = TaggingMetrics()
    metrics.update(logits, targets, mask, known)
    result = metrics.compute()
    # real tokens: (known, hit) = (T, T), (T, F), (F, T), (F, T), (T, F); the padded step is not counted
    assert result["acc"] == 3 / 5 and result["acc_known"] == 1 / 3 and result["acc_unknown"] == 2 / 2
    assert result["unknown_tokens"] == 2 and result["tokens"] == 5


def test_most_frequent_tag_baseline_by_hand():
    lexicon, fallback = most_frequent_tags(TRAIN)
    # cat: NN 2, VB 1; Cat: NP (case kept); the overall most frequent: NN 2, VB 3 -> VB
    assert lexicon == {"The": "DT", "cat": "NN", "sat": "VB", "the": "DT", "Cat": "NP"}
    assert fallback == "VB"
    tie, _ = most_frequent_tags([[("run", "VB"), ("run", "NN")]])
    assert tie == {"run": "NN"}  # ties: the tag first in alphabetical order
    test = [[("The", "DT"), ("cat", "VB"), ("CAT", "NN")], [("dog", "VB"), ("Cat", "NP"), ("sat", "NN")]]
    result = score_most_frequent_tag(TRAIN, test)
    # The DT ok, cat NN wrong, CAT unknown -> VB wrong, dog unknown -> VB ok, Cat NP ok, sat VB wrong
    assert result == {"acc": 3 / 6, "acc_known": 2 / 4, "acc_unknown": 1 / 2, "tokens": 6, "unknown_tokens": 2}


# ----------------------------------------------------------------------------------- config checks


def test_bidirectional_and_tagging_keys_refused_for_other_tasks():
    with pytest.raises(ConfigError, match="'model.bidirectional' is for tagging only"):
        resolve_task(load_config(None, ["data.name=ptb", "model.bidirectional=true"]))
    with pytest.raises(ConfigError, match="'model.bidirectional' is for tagging only"):
        resolve_task(load_config(None, ["data.name=jsb", "model.bidirectional=true"]))
    for key in ("model.word_features=affix", "data.tagging_lowercase=false", "data.tagging_max_words=none",
                "data.tagging_min_count=2"):
        with pytest.raises(ConfigError, match="applies to tagging only"):
            resolve_task(load_config(None, ["data.name=brown", "data.task=lm", key]))
    with pytest.raises(ConfigError, match="'model.word_features' must be one of affix, chars"):
        load_config(None, ["model.word_features=suffix"])
    with pytest.raises(ConfigError, match="'data.tagging_min_count' must be >= 1"):
        load_config(None, ["data.tagging_min_count=0"])
    tagging = load_config(None, ["data.name=conll2000", "data.task=tagging", "model.bidirectional=true"])
    assert resolve_task(tagging) == "tagging"


# ------------------------------------------------------------------------------------- tiny runs

SENTENCES = ["The cat sat on the mat", "A dog sat on a log", "the Dog saw the cat", "a cat ate the fish"]
TAGS = {"the": "DT", "a": "DT", "cat": "NN", "mat": "NN", "dog": "NN", "log": "NN", "fish": "NN", "on": "IN"}
TINY = ["model.hidden_size=8", "model.embedding_size=8", "model.feature_size=6", "train.threads=1",
        "optim.lr=0.03", "data.batch_size=4", "train.epochs=3", "train.patience=none"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conll")
    text = "\n\n".join("\n".join(f"{w} {TAGS.get(w.lower(), 'VB')}" for w in s.split()) for s in SENTENCES * 3)
    (folder / "train.txt").write_text(text + "\n\nA DT\nbird NN\nsat VB\n")  # 'bird': once, a rare word
    (folder / "valid.txt").write_text(text + "\n")
    (folder / "test.txt").write_text(text + "\n\nThe DT\nzebra NN\nsat VB\n")  # 'zebra': never in training
    return folder


def tiny_run(corpus, run_dir, *overrides):
    config = load_config("configs/tagging/conll2000.toml", [f"data.name=conll:{corpus}", *TINY, *overrides])
    summary = train(config, run_dir, progress=False, log=lambda *_: None)
    return run_dir, summary


@pytest.mark.parametrize("name, features", [("lstm", "affix"), ("dts-rnn", "chars"), ("gru", "chars")])
def test_bidirectional_tagger_with_features_end_to_end(corpus, tmp_path, capsys, name, features):
    run, summary = tiny_run(corpus, tmp_path / "run", f"model.name={name}", "model.bidirectional=true",
                            f"model.word_features={features}", "data.tagging_lowercase=false",
                            "data.tagging_max_words=none", "data.tagging_min_count=2")
    test = summary["test"]
    assert test["unknown_tokens"] == 1  # 'zebra'; every other test word form occurs in training
    known_tokens = test["tokens"] - 1
    assert test["acc"] == pytest.approx((test["acc_known"] * known_tokens + test["acc_unknown"]) / test["tokens"])
    payload = load_checkpoint(checkpoint_path(run, "best"))
    assert payload["feature_vocab"][0] == "<pad>" and "The" in payload["vocab"] and "the" in payload["vocab"]
    model, config = load_run(run)
    assert config.model.bidirectional and model.tagger_inputs.kind == features
    assert not model.tagger_inputs.lowercase
    words = ["The", "bird", "sat", "on", "a", "zebra"]
    assert main(["tag", str(run), " ".join(words)]) == 0
    captured = capsys.readouterr()
    assert "['bird', 'zebra']" in captured.err  # 'bird' occurs once in training, below tagging_min_count
    tags = [line.split("\t")[1] for line in captured.out.splitlines()]
    assert tags == tag_sentence(model, words)
    inputs = model.tagger_inputs  # the same, computed by hand from the checkpoint's vocabularies
    logits, _ = model(torch.tensor([inputs.word_ids(words)]), features=inputs.feature_ids(words)[None])
    assert tags == [model.tags[i] for i in logits[0].argmax(-1).tolist()]
    assert main(["sample", str(run)]) == 2


def test_default_tagger_reads_what_it_read_before(corpus, tmp_path):
    """Every default: the lower-cased top-10k vocabulary and ids of ``encode_tagged``, no features, one
    direction, and the logits of the head run without lengths."""
    run, summary = tiny_run(corpus, tmp_path / "run", "model.name=rnn")
    config = load_config("configs/tagging/conll2000.toml", [f"data.name=conll:{corpus}", *TINY, "model.name=rnn"])
    task = TaggingTask(config, torch.device("cpu"))
    words, tags = data.tagging_vocabs(f"conll:{corpus}")
    assert task.words == words and task.tags == tags
    for split in ("train", "valid", "test"):
        old = data.encode_tagged(data.load_tagged(f"conll:{corpus}", split), words, tags)
        assert (task.splits[split].token_ids, task.splits[split].tag_ids) == old
    assert task.model_kwargs() == {"vocab_size": len(words), "num_tags": len(tags)}
    model, _ = load_run(run)
    batch = task.collate("test", list(range(4)))
    assert torch.equal(task.logits(model.head, batch), model.head(batch.tokens)[0])
    assert set(load_checkpoint(checkpoint_path(run, "best"))) >= {"vocab", "tags"}
    assert "feature_vocab" not in load_checkpoint(checkpoint_path(run, "best"))


def test_checkpoint_made_before_the_new_keys_still_tags(corpus, tmp_path, capsys):
    run, _ = tiny_run(corpus, tmp_path / "run", "model.name=lstm")
    model, _ = load_run(run)
    expected = tag_sentence(model, ["The", "dog", "sat"])
    new_keys = {"model": ("bidirectional", "word_features", "feature_size"),
                "data": ("tagging_lowercase", "tagging_max_words", "tagging_min_count")}
    for name in ("best", "last"):  # as written before these keys existed
        payload = load_checkpoint(checkpoint_path(run, name))
        for section, keys in new_keys.items():
            for key in keys:
                del payload["config"][section][key]
        payload.pop("format_version")
        save_checkpoint(checkpoint_path(run, name), payload)
    stored = json.loads((run / "config.json").read_text())
    for section, keys in new_keys.items():
        for key in keys:
            del stored[section][key]
    (run / "config.json").write_text(json.dumps(stored))
    old_model, config = load_run(run)
    assert not config.model.bidirectional and config.data.tagging_lowercase
    assert tag_sentence(old_model, ["The", "dog", "sat"]) == expected
    assert main(["tag", str(run), "The dog sat"]) == 0
    assert [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()] == expected
