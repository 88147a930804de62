"""``dataset_info``: the statistics ``deeprnn data info`` prints (counts per split, vocabularies, terms)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from deeprnn.data.loaders import lm_vocab_from_lines, load_music, load_tagged, load_text
from deeprnn.data.music import LOWEST_PITCH
from deeprnn.data.registry import SPLITS, get_dataset, is_custom
from deeprnn.data.vocab import build_tagging_vocabs


def music_stats(seqs: list[np.ndarray]) -> dict:
    """Sequences, steps (frames), notes (active (step, pitch) pairs), empty steps, lengths, polyphony."""
    lengths = [len(seq) for seq in seqs]
    per_step = np.concatenate([seq.sum(axis=1) for seq in seqs]) if seqs else np.zeros(0)
    pitches = np.flatnonzero(np.any([seq.any(axis=0) for seq in seqs], axis=0)) if seqs else []
    return {
        "sequences": len(seqs),
        "steps": int(sum(lengths)),
        "notes": int(per_step.sum()),
        "empty_steps": int((per_step == 0).sum()),
        "min_length": min(lengths, default=0),
        "max_length": max(lengths, default=0),
        "max_polyphony": int(per_step.max(initial=0)),
        "lowest_pitch": int(pitches[0]) + LOWEST_PITCH if len(pitches) else None,
        "highest_pitch": int(pitches[-1]) + LOWEST_PITCH if len(pitches) else None,
    }


def text_stats(lines: list[list[str]], vocab) -> dict:
    """Sentences (lines), tokens, tokens plus one <eos> per line (= LM targets), types, out-of-vocabulary."""
    counts = Counter(token for line in lines for token in line)
    tokens = sum(counts.values())
    return {
        "sentences": len(lines),
        "tokens": tokens,
        "tokens_with_eos": tokens + len(lines),
        "types": len(counts),
        "oov_tokens": sum(n for token, n in counts.items() if token not in vocab),
    }


def tag_stats(sentences: list[list[tuple[str, str]]]) -> dict:
    return {
        "sentences": len(sentences),
        "tokens": sum(len(s) for s in sentences),
        "tags": len({tag for s in sentences for _, tag in s}),
    }


def _describe(spec) -> dict:
    return {
        "name": spec.name,
        "family": spec.family,
        "tasks": list(spec.tasks),
        "description": spec.description,
        "level": spec.level,
        "time_step": spec.time_step,
        "files": list(spec.files),
        "licence": spec.licence,
        "citation": spec.citation,
    }


def dataset_info(name: str, data_dir=None) -> dict:
    """Everything ``deeprnn data info --json`` prints for one dataset."""
    spec = get_dataset(name)
    info = _describe(spec)
    if spec.family == "music":
        by_split = {split: load_music(name, split, data_dir) for split in SPLITS}
        info["splits"] = {split: music_stats(seqs) for split, seqs in by_split.items()}
        info["total"] = music_stats([seq for seqs in by_split.values() for seq in seqs])
        return info
    splits: dict[str, dict] = {split: {} for split in SPLITS}
    sentences = {}
    if "tagging" in spec.tasks:
        sentences = {split: load_tagged(name, split, data_dir) for split in SPLITS}
        words, tags = build_tagging_vocabs(sentences["train"])
        info["tagging_word_vocab_size"] = len(words)
        info["tag_count"] = len(tags) - 1  # the training tags, without the <unk> placeholder
        info["tags"] = sorted(tags.itos[1:])
        for split in SPLITS:
            splits[split].update(tag_stats(sentences[split]))
    if "lm" in spec.tasks:
        if sentences and not is_custom(name):  # the benchmark LM text is the lower-cased tagged words
            lines = {split: [[w.lower() for w, _ in s] for s in sentences[split]] for split in SPLITS}
        else:
            lines = {split: load_text(name, split, data_dir) for split in SPLITS}
        vocab = lm_vocab_from_lines(name, lines["train"])
        info["lm_vocab_size"] = len(vocab)
        for split in SPLITS:
            splits[split].update(text_stats(lines[split], vocab))
    info["splits"] = splits
    info["total"] = {
        key: sum(splits[split][key] for split in SPLITS)
        for key in ("sentences", "tokens", "tokens_with_eos")
        if key in splits["train"]
    }
    return info
