"""Sampling from trained runs: piano-rolls from music models, text from language models, tags from taggers.

Music models give one Bernoulli per key: frame t+1 is drawn key by key from sigmoid(logits / T).
Language models give a softmax over the vocabulary: the next token is drawn from softmax(logits / T).
Temperature 0 means the most likely choice at every step: a key sounds when its probability is above
0.5 (logit > 0), a token is the argmax. The log-likelihood reported with a sample is that of what was
drawn under the model at temperature 1, summed over the generated steps (the prime is not counted).

Conventions of the training data (see deeprnn.training.tasks): a music model reads [0, x_1, ..., x_{T-1}]
and predicts x_1..x_T, so generation starts from an all-zero frame and a prime p_1..p_k is fed as
[0, p_1, ..., p_k]. A language model reads a stream in which ``<eos>`` ends every line, so generation
(and a prime) starts after an ``<eos>``.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from deeprnn import data, midi
from deeprnn.data.vocab import EOS, UNK, Vocabulary
from deeprnn.data.wordfeatures import TaggerInputs
from deeprnn.files import atomic_save, atomic_write_bytes, atomic_write_text
from deeprnn.runlock import run_lock
from deeprnn.training import load_run, run_data_dir

DEFAULT_PRIME_STEPS = 16
PTB_CHAR_SPACE = "_"  # ptb-char writes "_" between words and has no " " symbol
SEEDS = 2**64  # torch.Generator.manual_seed takes seeds in [0, 2**64)
# A MIDI set_tempo holds 1 .. 0xFFFFFF microseconds per beat: the tempos (beats per minute) a file can state
MIN_TEMPO_BPM, MAX_TEMPO_BPM = 60e6 / 0xFFFFFF, 60e6


def argument_problems(steps: int, temperature: float, num: int = 1, seed: int = 0,
                      tempo_bpm: float = 120) -> list[tuple[str, str]]:
    """(argument, why) for each sampling argument that cannot be used, in this order: the library raises the first
    with the argument's name, the command line with its option's (deeprnn.cli.sample_cmd)."""
    problems = [(name, f"must be at least 1, got {value}") for name, value in (("num", num), ("steps", steps))
                if value < 1]
    if not (temperature >= 0 and math.isfinite(temperature)):
        problems.append(("temperature", f"must be a finite number >= 0, got {temperature}"))
    for name, why in (("seed", seed_problem(seed, num)), ("tempo_bpm", tempo_problem(tempo_bpm))):
        if why:
            problems.append((name, why))
    return problems


def check_sampling_args(steps: int, temperature: float, num: int = 1, seed: int = 0, tempo_bpm: float = 120) -> None:
    """Refuse, before any sampling, an argument that cannot be used (or could only fail once samples are drawn)."""
    problems = argument_problems(steps, temperature, num, seed, tempo_bpm)
    if problems:
        name, why = problems[0]
        raise ValueError(f"{name} {why}")


def tempo_problem(tempo_bpm: float) -> str | None:
    """Why a MIDI file cannot have this tempo (beats per minute), or None when it can."""
    if isinstance(tempo_bpm, bool) or not isinstance(tempo_bpm, (int, float)) or not math.isfinite(tempo_bpm):
        return f"must be a finite number of beats per minute, got {tempo_bpm!r}"
    if not MIN_TEMPO_BPM <= tempo_bpm <= MAX_TEMPO_BPM:
        return (f"must be from {MIN_TEMPO_BPM:.2f} to {MAX_TEMPO_BPM:.0f} beats per minute (what a MIDI file can "
                f"state), got {tempo_bpm!r}")
    return None


def seed_problem(seed: int, num: int = 1) -> str | None:
    """Why samples ``seed`` .. ``seed + num - 1`` cannot be drawn (torch seeds are in [0, 2**64)), or None."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEEDS - max(num, 1):
        last = f"2**64 - {num}" if num > 1 else "2**64 - 1"
        return f"must be a whole number from 0 to {last}{' (sample i uses SEED + i)' if num > 1 else ''}, got {seed!r}"
    return None


# ---------------------------------------------------------------------------------------------
# Music


def _draw_frame(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One 0/1 frame from per-key logits (88,)."""
    if temperature == 0:
        return (logits > 0).float()
    probs = torch.sigmoid(logits / temperature)
    return (torch.rand(probs.shape, generator=generator, dtype=probs.dtype) < probs).float()


@torch.no_grad()
def sample_music(
    model, steps: int, temperature: float = 1.0, generator: torch.Generator | None = None, prime=None
) -> tuple[np.ndarray, float]:
    """A piano-roll sampled frame by frame: (prime frames + ``steps`` new frames, 88) uint8, and the
    log-likelihood in nats of the new frames under the model at temperature 1."""
    check_sampling_args(steps, temperature)
    prime = np.zeros((0, midi.N_KEYS), np.float32) if prime is None else np.asarray(prime, np.float32)
    if prime.ndim != 2 or prime.shape[1] != midi.N_KEYS or not np.isin(prime, (0, 1)).all():
        raise ValueError(f"a music prime must be a 0/1 piano-roll of shape (T, {midi.N_KEYS}), got {prime.shape}")
    inputs = torch.cat([torch.zeros(1, midi.N_KEYS), torch.from_numpy(prime)])[None]  # [0, p_1..p_k]
    logits, state = model(inputs)
    logits = logits[0, -1]
    frames, log_likelihood = [], 0.0
    for _ in range(steps):
        frame = _draw_frame(logits, temperature, generator)
        log_likelihood -= F.binary_cross_entropy_with_logits(logits, frame, reduction="sum").item()
        frames.append(frame)
        logits, state = model(frame[None, None], state)
        logits = logits[0, -1]
    roll = np.concatenate([prime, torch.stack(frames).numpy()]).astype(np.uint8)
    return roll, log_likelihood


def polyphony_stats(roll: np.ndarray) -> dict:
    """Notes per frame (max, mean) and the lowest/highest MIDI pitch played (None when silent)."""
    notes_per_frame = roll.sum(axis=1)
    pitches = np.flatnonzero(roll.any(axis=0)) + midi.LOWEST_PITCH
    return {
        "max_notes_per_frame": int(notes_per_frame.max(initial=0)),
        "mean_notes_per_frame": float(notes_per_frame.mean()) if len(roll) else 0.0,
        "lowest_pitch": int(pitches[0]) if len(pitches) else None,
        "highest_pitch": int(pitches[-1]) if len(pitches) else None,
    }


def music_time_step(config) -> str:
    """The note value of one frame of the run's dataset (quarter for JSB, eighth for the others)."""
    return data.get_dataset(config.data.name).time_step or "eighth"


def _split_steps(spec: str, default: int) -> tuple[str, int]:
    """'HEAD:STEPS' -> (HEAD, STEPS); anything else -> (spec, default)."""
    head, colon, tail = spec.rpartition(":")
    if colon and tail.isdigit():
        if int(tail) < 1:
            raise ValueError(f"prime {spec!r}: the number of steps must be at least 1")
        return head, int(tail)
    return spec, default


def load_music_prime(spec: str, config, data_dir=None) -> np.ndarray:
    """The prime piano-roll named by ``test:INDEX[:STEPS]`` (the opening STEPS frames of test piece INDEX of
    the run's dataset) or ``FILE.mid[:STEPS]`` (the opening of a MIDI file, from its first note on, read on
    the dataset's time step). STEPS defaults to 16."""
    if spec.startswith("test:"):
        index, steps = _split_steps(spec[len("test:") :], DEFAULT_PRIME_STEPS)
        if not index.isdigit():
            raise ValueError(f"prime {spec!r}: expected test:INDEX[:STEPS] with whole numbers")
        pieces = data.load_music(config.data.name, "test", data_dir or config.data.data_dir)
        if int(index) >= len(pieces):
            raise ValueError(f"prime {spec!r}: the test split of {config.data.name} has {len(pieces)} pieces")
        return np.asarray(pieces[int(index)][:steps], np.uint8)
    path, steps = spec, DEFAULT_PRIME_STEPS
    if not Path(spec).is_file():
        path, steps = _split_steps(spec, DEFAULT_PRIME_STEPS)
    if Path(path).suffix.lower() not in (".mid", ".midi"):
        raise ValueError(f"music prime {spec!r}: use test:INDEX[:STEPS] or a .mid/.midi file [:STEPS]")
    roll = midi.midi_to_pianoroll(path, step=music_time_step(config))
    first_note = int(np.flatnonzero(roll.any(axis=1))[0])  # midi_to_pianoroll guarantees a note
    return roll[first_note : first_note + steps]


# ---------------------------------------------------------------------------------------------
# Text


def text_level(config) -> str:
    return data.get_dataset(config.data.name).level or "word"


def prime_tokens(text: str, vocab: list[str], level: str) -> list[str]:
    """The tokens of a prime text: words split on whitespace or characters; line breaks become ``<eos>``.

    A token not in the vocabulary is tried lower-cased (the Brown/CoNLL/PTB vocabularies are lower-case),
    then becomes ``<unk>`` with a warning naming it; without ``<unk>`` in the vocabulary (ptb-char,
    ptb) it is an error. Characters: each run of whitespace is one space, which is ptb-char's word
    separator "_" for ptb-char.
    """
    known = set(vocab)
    lines = text.splitlines()
    if level == "char":
        # Runs of whitespace become one space, as in the chars: loader; a trailing space is kept on purpose
        # (a prime ending in a space asks for the next word).
        space = PTB_CHAR_SPACE if " " not in known and PTB_CHAR_SPACE in known else " "
        lines = [list(re.sub(r"\s+", space, line)) for line in lines]
    else:
        lines = [line.split() for line in lines]
    tokens = []
    for i, line in enumerate(lines):
        tokens += [EOS] if i else []
        tokens += [token if token in known or token.lower() not in known else token.lower() for token in line]
    unknown = sorted({token for token in tokens if token not in known})
    if not unknown:
        return tokens
    what = "characters" if level == "char" else "words"
    if UNK not in known:
        raise ValueError(f"prime has {what} not in the model's vocabulary (which has no {UNK}): {unknown}")
    warnings.warn(f"prime {what} not in the vocabulary, read as {UNK}: {unknown}", stacklevel=2)
    return [token if token in known else UNK for token in tokens]


def _draw_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> int:
    if temperature == 0:
        return int(logits.argmax())
    # Subtracting the max first keeps tiny temperatures finite (no inf - inf).
    probs = torch.softmax((logits - logits.max()) / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def sample_text(
    model, steps: int, temperature: float = 1.0, generator: torch.Generator | None = None, prime=None
) -> tuple[list[str], float]:
    """``steps`` tokens sampled after ``<eos>`` and the prime tokens (in ``model.vocab``), and their
    log-likelihood in nats under the model at temperature 1."""
    check_sampling_args(steps, temperature)
    stoi = {token: i for i, token in enumerate(model.vocab)}
    if EOS not in stoi:
        raise ValueError(f"the model's vocabulary has no {EOS}")
    ids = [stoi[EOS]] + [stoi[token] for token in prime or []]
    logits, state = model(torch.tensor([ids]))
    logits = logits[0, -1]
    sampled, log_likelihood = [], 0.0
    for _ in range(steps):
        token = _draw_token(logits, temperature, generator)
        log_likelihood += torch.log_softmax(logits, dim=-1)[token].item()
        sampled.append(token)
        logits, state = model(torch.tensor([[token]]), state)
        logits = logits[0, -1]
    return [model.vocab[i] for i in sampled], log_likelihood


def detokenize(tokens: list[str], level: str) -> str:
    """Text of a token list: ``<eos>`` is a line break; words are joined by spaces, characters by nothing
    (ptb-char's "_" is shown as a space)."""
    lines, line = [], []
    for token in tokens:
        if token == EOS:
            lines.append(line)
            line = []
        else:
            line.append(token)
    lines.append(line)
    if level == "char":
        return "\n".join("".join(line).replace(PTB_CHAR_SPACE, " ") for line in lines)
    return "\n".join(" ".join(line) for line in lines)


# ---------------------------------------------------------------------------------------------
# Tagging


@torch.no_grad()
def tag_sentence(model, words: list[str]) -> list[str]:
    """The most likely tag of each word. Words are read as in training (``model.tagger_inputs``): lower-cased
    unless the run kept case, unknown ones as ``<unk>``, with their spelling features if the tagger has them."""
    if model.task != "tagging":
        raise ValueError(f"this run is a {model.task} model, not a tagger")
    if not words:
        raise ValueError("give a sentence to tag")
    inputs = model.tagger_inputs or TaggerInputs(Vocabulary(model.vocab))
    kwargs = {"features": inputs.feature_ids(words)[None]} if inputs.features is not None else {}
    logits, _ = model(torch.tensor([inputs.word_ids(words)]), **kwargs)
    return [model.tags[i] for i in logits[0].argmax(-1).tolist()]


# ---------------------------------------------------------------------------------------------
# Writing samples of a run


def _write_json(path: Path, record: dict) -> None:
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def sample_run(
    run_dir,
    *,
    steps: int = 100,
    temperature: float = 1.0,
    seed: int = 0,
    prime: str | None = None,
    num: int = 1,
    out_dir=None,
    checkpoint: str = "best",
    tempo_bpm: float = 120,
    data_dir=None,
    progress: bool | None = None,
) -> list[dict]:
    """Write ``num`` samples of a music or language-model run to ``out_dir`` (default RUN_DIR/samples):
    ``sample_000.mid/.png/.json`` or ``sample_000.txt/.json``, ...; sample i uses seed ``seed + i``.
    Each file is written whole or not at all (a failure names it). ``progress``: a bar over the samples (None:
    when stderr is a terminal). Returns the JSON sidecars."""
    check_sampling_args(steps, temperature, num, seed, tempo_bpm)
    model, config = _load_generator(run_dir, checkpoint)
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir) / "samples"
    if model.task == "music":
        write = _music_writer(model, config, run_dir, steps, temperature, prime, tempo_bpm, data_dir)
    else:
        write = _text_writer(model, config, steps, temperature, prime)
    into_run = out_dir.resolve().is_relative_to(Path(run_dir).resolve())
    with run_lock(run_dir) if into_run else nullcontext():  # writing into a run: one writer at a time
        out_dir.mkdir(parents=True, exist_ok=True)
        return _write_samples(write, out_dir, num, seed, steps, {
            "run": str(run_dir), "checkpoint": checkpoint, "dataset": config.data.name, "task": model.task,
            "temperature": temperature, "prime": prime}, progress)


def _write_samples(write, out_dir: Path, num: int, seed: int, steps: int, about: dict, progress=None) -> list[dict]:
    """Draw and write ``num`` samples (sample i with seed ``seed + i``); their JSON sidecars."""
    records = []
    quiet = not sys.stderr.isatty() if progress is None else not progress
    for i in tqdm(range(num), desc="sampling", unit="sample", disable=quiet, leave=False):
        generator = torch.Generator().manual_seed(seed + i)
        stem = out_dir / f"sample_{i:03d}"
        record = {key: about[key] for key in ("run", "checkpoint", "dataset", "task")}
        record |= {"seed": seed + i, "temperature": about["temperature"], "prime": about["prime"], "steps": steps}
        written, log_likelihood = write(stem, i, seed + i, generator)
        record |= written
        record |= {
            "log_likelihood_nats": log_likelihood,
            "log_likelihood_nats_per_step": log_likelihood / steps,
            "log_likelihood_note": "sum over the generated steps (prime excluded) of the log-probability "
            "of what was sampled, under the model at temperature 1",
        }
        _write_json(stem.with_suffix(".json"), record)
        records.append(record)
    return records


def _load_generator(run_dir, checkpoint: str):
    """(model, config) of a run that can sample: a music model or a language model reading only the past."""
    model, config = load_run(run_dir, checkpoint=checkpoint)
    if model.task == "tagging":
        raise ValueError(f"{run_dir} is a tagger: use 'deeprnn tag {run_dir} \"a sentence\"'")
    if config.model.bidirectional:  # only taggers can be bidirectional; checked here too, as sampling needs it
        raise ValueError(f"{run_dir} has a bidirectional core, which reads the future: it cannot sample")
    return model, config


def _music_writer(model, config, run_dir, steps: int, temperature: float, prime: str | None, tempo_bpm: float,
                  data_dir):
    """write(stem, index, seed, generator): draw one piece, write it as ``stem``.mid and .png; returns its
    sidecar's music keys and the log-likelihood of the generated frames."""
    time_step = music_time_step(config)
    prime_roll = load_music_prime(prime, config, run_data_dir(run_dir, data_dir)) if prime else None

    def write(stem: Path, index: int, seed: int, generator: torch.Generator) -> tuple[dict, float]:
        roll, log_likelihood = sample_music(model, steps, temperature, generator, prime_roll)
        prime_steps = len(roll) - steps
        piece = midi.pianoroll_to_midi(roll, step=time_step, tempo_bpm=tempo_bpm)
        atomic_write_bytes(stem.with_suffix(".mid"), lambda handle: piece.save(file=handle))
        title = f"{Path(run_dir).name} sample {index} (seed {seed}, T={temperature})"
        atomic_save(stem.with_suffix(".png"),
                     lambda path: midi.plot_pianoroll(roll, path, prime_steps=prime_steps, title=title))
        return {
            "prime_steps": prime_steps,
            "time_step": time_step,
            "tempo_bpm": tempo_bpm,
            "files": [stem.with_suffix(".mid").name, stem.with_suffix(".png").name],
            "polyphony": polyphony_stats(roll[prime_steps:]),  # of the generated frames
        }, log_likelihood

    return write


def _text_writer(model, config, steps: int, temperature: float, prime: str | None):
    """write(stem, index, seed, generator): draw one text, write it (with its prime) as ``stem``.txt; returns its
    sidecar's text keys and the log-likelihood of the generated tokens."""
    level = text_level(config)
    prime_list = prime_tokens(prime, model.vocab, level) if prime else []

    def write(stem: Path, index: int, seed: int, generator: torch.Generator) -> tuple[dict, float]:
        tokens, log_likelihood = sample_text(model, steps, temperature, generator, prime_list)
        atomic_write_text(stem.with_suffix(".txt"), detokenize(prime_list + tokens, level) + "\n")
        return {"level": level, "prime_tokens": prime_list, "files": [stem.with_suffix(".txt").name]}, log_likelihood

    return write
