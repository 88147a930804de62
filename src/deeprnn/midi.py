"""Piano-roll <-> MIDI conversion and piano-roll images.

The project's piano-roll is a 0/1 array of shape (T, 88): row t is a time step, column j is
MIDI pitch 21 + j (A0 .. C8). One time step is a note value, given as ``step``: a name
("quarter" = 1 beat, "eighth" = 0.5, "sixteenth" = 0.25) or a number of beats, where a beat
is a quarter note (MIDI's "ticks per beat" are ticks per quarter note).

Writing (``pianoroll_to_midi``) uses the standard Boulanger-Lewandowski decoding: a key that
is on in consecutive frames is one sustained note, so repeated notes of the same pitch merge.

Reading (``midi_to_pianoroll``) works in ticks, never seconds, so tempo changes do not move
the grid. Grid cell t covers ticks [t * s, (t + 1) * s) for s ticks per step, and a note
sounds in frame t when it is on at the cell's midpoint (t + 0.5) * s: note-on <= midpoint <
note-off. The number of frames is the number of cell midpoints before the end of the song
(the last event of any track, end_of_track included). Writing then reading is exact.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from pathlib import Path

import mido
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

LOWEST_PITCH = 21  # A0, column 0 of the piano-roll
N_KEYS = 88
DRUM_CHANNEL = 9  # "channel 10" in the 1-based numbering of the General MIDI standard
STEP_BEATS = {"quarter": 1.0, "eighth": 0.5, "sixteenth": 0.25}
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def step_beats(step: str | float) -> float:
    """The length of one time step in beats (quarter notes)."""
    if isinstance(step, str):
        if step in STEP_BEATS:
            return STEP_BEATS[step]
        try:
            step = float(step)
        except ValueError:
            names = ", ".join(STEP_BEATS)
            raise ValueError(f"unknown time step {step!r}: use {names} or a number of beats") from None
    if not step > 0:
        raise ValueError(f"time step must be a positive number of beats, got {step!r}")
    return float(step)


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch: 60 -> 'C4', 21 -> 'A0'."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _check_roll(roll) -> np.ndarray:
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != N_KEYS:
        raise ValueError(f"piano-roll must have shape (T, {N_KEYS}), got {roll.shape}")
    if not np.isin(roll, (0, 1)).all():
        raise ValueError("piano-roll must contain only 0 and 1")
    return roll.astype(np.uint8)


def pianoroll_to_midi(
    roll,
    path: str | Path | None = None,
    *,
    step: str | float = "eighth",
    tempo_bpm: float = 120,
    velocity: int = 80,
    ticks_per_beat: int = 480,
    program: int = 0,
) -> mido.MidiFile:
    """A one-track MIDI file (channel 1) playing ``roll``; also saved to ``path`` if given.

    A key held over consecutive frames is one sustained note (repeated notes merge). The
    end_of_track event sits at the end of the last frame, so trailing silence is kept.
    """
    roll = _check_roll(roll)
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity must be in 1..127, got {velocity}")  # 0 would mean note-off
    exact_ticks = step_beats(step) * ticks_per_beat
    ticks_per_step = round(exact_ticks)
    if ticks_per_step < 1 or abs(exact_ticks - ticks_per_step) > 1e-6:
        raise ValueError(f"step {step!r} is not a whole number of ticks at ticks_per_beat={ticks_per_beat}")

    # Pad with a silent frame on both sides so every note has an on and an off edge.
    padded = np.zeros((len(roll) + 2, N_KEYS), dtype=np.int8)
    padded[1:-1] = roll
    edges = np.diff(padded, axis=0)  # row t: +1 where a key turns on at frame t, -1 where it turns off
    # Sorting puts note-offs (False) before note-ons at the same tick.
    events = sorted((int(t) * ticks_per_step, bool(edges[t, j] > 0), int(j)) for t, j in np.argwhere(edges))

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    track.append(mido.Message("program_change", program=program, channel=0, time=0))
    last_tick = 0
    for tick, is_on, key in events:
        kind = "note_on" if is_on else "note_off"
        pitch = LOWEST_PITCH + key
        track.append(mido.Message(kind, note=pitch, velocity=velocity, channel=0, time=tick - last_tick))
        last_tick = tick
    track.append(mido.MetaMessage("end_of_track", time=len(roll) * ticks_per_step - last_tick))

    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)
    if path is not None:
        midi.save(path)
    return midi


def _read_midi(path_or_midifile) -> tuple[mido.MidiFile, str]:
    if isinstance(path_or_midifile, mido.MidiFile):
        return path_or_midifile, str(path_or_midifile.filename or "<MidiFile>")
    path = Path(path_or_midifile)
    if not path.is_file():
        raise FileNotFoundError(f"MIDI file not found: {path}")
    try:
        return mido.MidiFile(path), str(path)
    except Exception as exc:  # mido raises OSError, EOFError, KeyError, ... on malformed files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not a readable Standard MIDI File ({reason})") from None


def _notes(midi: mido.MidiFile) -> tuple[list[tuple[int, int, int]], int]:
    """All (pitch, on_tick, off_tick) of non-drum notes, and the song's last tick."""
    notes = []
    end_tick = 0
    for track in midi.tracks:
        tick = 0
        sounding = defaultdict(list)  # (channel, pitch) -> on ticks, oldest first
        for msg in track:
            tick += msg.time
            if msg.type not in ("note_on", "note_off") or msg.channel == DRUM_CHANNEL:
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[key].append(tick)
            elif sounding[key]:  # note_off, or note_on with velocity 0: ends the oldest such note
                notes.append((msg.note, sounding[key].pop(0), tick))
        # A note never switched off is held to the end of its track.
        notes += [(pitch, on, tick) for (_, pitch), ons in sounding.items() for on in ons]
        end_tick = max(end_tick, tick)
    return notes, end_tick


def midi_to_pianoroll(path_or_midifile, *, step: str | float = "eighth") -> np.ndarray:
    """The (T, 88) uint8 piano-roll of a Standard MIDI File (type 0 or 1), quantised to ``step``.

    Drums (channel 10) are ignored; pitches outside 21..108 are dropped with a warning.
    Raises FileNotFoundError for a missing file and ValueError for an unreadable file or one
    without notes on the grid.
    """
    midi, name = _read_midi(path_or_midifile)
    if midi.type == 2:
        raise ValueError(f"{name}: MIDI type 2 (independent sequences) is not supported")
    ticks_per_step = step_beats(step) * midi.ticks_per_beat
    notes, end_tick = _notes(midi)
    if not notes:
        raise ValueError(f"{name}: no notes (drums on channel 10 are ignored)")

    in_range = [(p, on, off) for p, on, off in notes if LOWEST_PITCH <= p < LOWEST_PITCH + N_KEYS]
    if len(in_range) < len(notes):
        warnings.warn(
            f"{name}: dropped {len(notes) - len(in_range)} notes outside the piano range 21..108",
            stacklevel=2,
        )

    # Frame t is on when on <= (t + 0.5) * s < off, i.e. t in [ceil(on/s - 0.5), ceil(off/s - 0.5)).
    def first_frame_at_or_after(tick):  # the first frame whose midpoint is >= tick
        return math.ceil(tick / ticks_per_step - 0.5)

    roll = np.zeros((first_frame_at_or_after(end_tick), N_KEYS), dtype=np.uint8)
    for pitch, on, off in in_range:
        roll[first_frame_at_or_after(on) : first_frame_at_or_after(off), pitch - LOWEST_PITCH] = 1
    if not roll.any():
        raise ValueError(f"{name}: no notes in the piano range 21..108 sound on the {step!r} grid")
    return roll


def plot_pianoroll(roll, path: str | Path, *, prime_steps: int = 0, title: str | None = None) -> Path:
    """Save an image of ``roll`` (PNG, or SVG/PDF by the suffix of ``path``): time on x, pitch on y.

    The first ``prime_steps`` frames (the priming segment given to a sampler) are shaded and
    end at a vertical line.
    """
    roll = _check_roll(roll)
    if not 0 <= prime_steps <= len(roll):
        raise ValueError(f"prime_steps must be in 0..{len(roll)}, got {prime_steps}")

    # Figure + Agg canvas directly: no pyplot global state, no display needed.
    fig = Figure(figsize=(min(4 + len(roll) / 20, 20), 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    top = LOWEST_PITCH + N_KEYS
    ax.imshow(
        roll.T,
        origin="lower",
        aspect="auto",
        cmap="Greys",
        vmin=0,
        vmax=1,
        interpolation="nearest",
        extent=(0, len(roll), LOWEST_PITCH - 0.5, top - 0.5),
    )
    c_pitches = range(24, top, 12)  # C1 .. C8
    ax.set_yticks(list(c_pitches), [note_name(p) for p in c_pitches])
    ax.set_xlabel("time step")
    ax.set_ylabel("pitch")
    if prime_steps:
        ax.axvspan(0, prime_steps, color="tab:blue", alpha=0.15, label=f"priming ({prime_steps} steps)")
        ax.axvline(prime_steps, color="tab:blue", linestyle="--", label="end of priming")
        ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    fig.savefig(path)
    return Path(path)
