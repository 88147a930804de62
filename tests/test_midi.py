"""deeprnn.midi: exact piano-roll round trip, reading real-world MIDI, errors, images."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from deeprnn.midi import (
    midi_to_pianoroll,
    note_name,
    pianoroll_to_midi,
    plot_pianoroll,
    step_beats,
)


def roll_from_pitches(frames: list[list[int]]) -> np.ndarray:
    """A piano-roll from the MIDI pitches sounding in each frame."""
    roll = np.zeros((len(frames), 88), dtype=np.uint8)
    for t, pitches in enumerate(frames):
        roll[t, [p - 21 for p in pitches]] = 1
    return roll


def random_roll(rng: np.random.Generator, steps: int) -> np.ndarray:
    """Sustained notes (keys switch with probability 0.1 per frame), a silent gap, a full
    chord of all 88 keys and trailing silence."""
    flips = rng.random((steps, 88)) < 0.1
    roll = (np.cumsum(flips, axis=0) % 2).astype(np.uint8)
    roll[steps // 3 : steps // 3 + 2] = 0
    roll[steps // 2] = 1
    roll[-3:] = 0
    return roll


def note_track(notes: list[tuple[int, int, int]], channel: int = 0, end: int | None = None) -> mido.MidiTrack:
    """A track from (pitch, on_tick, off_tick) notes, with end_of_track at ``end``."""
    ons = [(on, "note_on", pitch) for pitch, on, _ in notes]
    events = sorted(ons + [(off, "note_off", pitch) for pitch, _, off in notes])
    track, last = mido.MidiTrack(), 0
    for tick, kind, pitch in events:
        track.append(mido.Message(kind, note=pitch, velocity=64, channel=channel, time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=(end or last) - last))
    return track


def midi_file(*tracks: mido.MidiTrack, ticks_per_beat: int = 96, type: int = 1) -> mido.MidiFile:
    midi = mido.MidiFile(type=type, ticks_per_beat=ticks_per_beat)
    midi.tracks.extend(tracks)
    return midi


@pytest.mark.parametrize("step", ["quarter", "eighth", "sixteenth", 0.75])
def test_round_trip_is_exact(tmp_path, step):
    rng = np.random.default_rng(8)
    for i, steps in enumerate([1, 7, 40, 200]):
        roll = random_roll(rng, steps) if steps > 5 else roll_from_pitches([[21, 60, 108]] * steps)
        path = tmp_path / f"roll{i}.mid"
        pianoroll_to_midi(roll, path, step=step)
        back = midi_to_pianoroll(path, step=step)
        assert back.dtype == np.uint8
        np.testing.assert_array_equal(back, roll)


def test_written_file_holds_one_note_per_held_key_and_the_tempo():
    roll = roll_from_pitches([[60], [60, 64], [60], [], [64]])
    midi = pianoroll_to_midi(roll, step="quarter", tempo_bpm=90, ticks_per_beat=100, velocity=70, program=5)
    messages = list(midi.tracks[0])
    assert messages[0].type == "set_tempo" and messages[0].tempo == mido.bpm2tempo(90)
    assert messages[1].type == "program_change" and messages[1].program == 5
    notes = [(m.type, m.note, m.time) for m in messages if m.type in ("note_on", "note_off")]
    # C4 is held over frames 0-2: one note. The two E4 frames are separate notes.
    assert notes == [
        ("note_on", 60, 0),
        ("note_on", 64, 100),
        ("note_off", 64, 100),
        ("note_off", 60, 100),
        ("note_on", 64, 100),
        ("note_off", 64, 100),
    ]
    assert all(m.velocity == 70 for m in messages if m.type == "note_on")
    assert messages[-1].type == "end_of_track"


def test_hand_built_midi_reads_into_the_expected_roll():
    # 96 ticks per beat, eighth-note grid: cell t covers ticks [48 t, 48 t + 48), midpoint 48 t + 24.
    notes = [
        (60, 0, 96),  # C4: midpoints 24 and 72 -> frames 0, 1
        (64, 50, 150),  # E4, played late: midpoints 72, 120 -> frames 1, 2
        (67, 130, 160),  # G4, short, covers no midpoint -> nothing
        (69, 160, 176),  # A4, short but covers midpoint 168 -> frame 3
    ]
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=400000), mido.MetaMessage("end_of_track")])
    midi = midi_file(tempo, note_track(notes, end=240))  # end at 240 = 5 cells
    expected = roll_from_pitches([[60], [60, 64], [64], [69], []])
    np.testing.assert_array_equal(midi_to_pianoroll(midi, step="eighth"), expected)
    # Quarter grid: midpoints 48 and 144; the next one, 240, is not before the end, so 2 frames.
    expected = roll_from_pitches([[60], [64, 67]])
    np.testing.assert_array_equal(midi_to_pianoroll(midi, step="quarter"), expected)


def test_type_0_file_and_note_on_with_velocity_zero_as_note_off():
    track = mido.MidiTrack(
        [
            mido.Message("note_on", note=62, velocity=90, time=0),
            mido.Message("note_on", note=62, velocity=0, time=96),  # a note-off, as many files write it
            mido.MetaMessage("end_of_track", time=96),
        ]
    )
    roll = midi_to_pianoroll(midi_file(track, type=0), step="quarter")
    np.testing.assert_array_equal(roll, roll_from_pitches([[62], []]))


def test_drum_channel_is_ignored():
    piano = note_track([(60, 0, 192)])
    drums = note_track([(36, 0, 96), (38, 96, 192)], channel=9)
    roll = midi_to_pianoroll(midi_file(piano, drums), step="quarter")
    np.testing.assert_array_equal(roll, roll_from_pitches([[60], [60]]))


def test_out_of_range_pitches_are_dropped_with_a_count():
    midi = midi_file(note_track([(60, 0, 96), (10, 0, 96), (120, 0, 96)]))
    with pytest.warns(UserWarning, match="dropped 2 notes"):
        roll = midi_to_pianoroll(midi, step="quarter")
    np.testing.assert_array_equal(roll, roll_from_pitches([[60]]))


def test_tempo_changes_do_not_move_the_beat_grid():
    roll = random_roll(np.random.default_rng(3), 30)
    plain = pianoroll_to_midi(roll, step="eighth", ticks_per_beat=96)
    tempo_changes = mido.MidiTrack(
        [mido.MetaMessage("set_tempo", tempo=tempo, time=100) for tempo in (300000, 900000, 450000)]
    )
    with_changes = midi_file(tempo_changes, plain.tracks[0])
    np.testing.assert_array_equal(midi_to_pianoroll(with_changes, step="eighth"), roll)


def test_garbage_bytes_raise_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "garbage.mid"
    path.write_bytes(b"this is not a MIDI file at all")
    with pytest.raises(ValueError, match="garbage.mid"):
        midi_to_pianoroll(path)


def test_truncated_file_raises_a_value_error(tmp_path):
    path = tmp_path / "whole.mid"
    pianoroll_to_midi(random_roll(np.random.default_rng(0), 20), path)
    cut = tmp_path / "cut.mid"
    cut.write_bytes(path.read_bytes()[:30])
    with pytest.raises(ValueError, match="cut.mid"):
        midi_to_pianoroll(cut)


def test_midi_without_notes_raises_a_value_error(tmp_path):
    path = tmp_path / "silent.mid"
    tempo_only = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=500000),
            mido.MetaMessage("end_of_track"),
        ]
    )
    midi_file(tempo_only).save(path)
    with pytest.raises(ValueError, match="silent.mid.*no notes"):
        midi_to_pianoroll(path)
    drums_only = tmp_path / "drums.mid"
    midi_file(note_track([(36, 0, 96)], channel=9)).save(drums_only)
    with pytest.raises(ValueError, match="drums.mid"):
        midi_to_pianoroll(drums_only)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.mid"):
        midi_to_pianoroll(tmp_path / "nowhere.mid")


def test_bad_rolls_and_steps_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        pianoroll_to_midi(np.zeros((4, 87)))
    with pytest.raises(ValueError, match="0 and 1"):
        pianoroll_to_midi(np.full((4, 88), 2))
    with pytest.raises(ValueError, match="unknown time step"):
        step_beats("half-ish")
    with pytest.raises(ValueError, match="whole number of ticks"):
        pianoroll_to_midi(np.zeros((4, 88)), step=0.001)


def test_step_names_and_note_names():
    steps = ("quarter", "eighth", "sixteenth", 0.75, "1.5")
    assert [step_beats(s) for s in steps] == [1, 0.5, 0.25, 0.75, 1.5]
    assert [note_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_pianoroll_writes_an_image(tmp_path, suffix):
    roll = random_roll(np.random.default_rng(1), 64)
    path = plot_pianoroll(roll, tmp_path / f"roll.{suffix}", prime_steps=16, title="sample")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data
    with pytest.raises(ValueError, match="prime_steps"):
        plot_pianoroll(roll, tmp_path / "bad.png", prime_steps=65)
