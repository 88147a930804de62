"""deeprnn.data: the benchmark corpora, loaded safely from a local folder or downloaded with checksums.

Datasets: music ``jsb``, ``nottingham``, ``musedata``, ``pianomidi``; text ``ptb``, ``ptb-char``;
tagged text ``brown``, ``conll2000``, ``treebank``; user corpora ``midi:PATH``, ``text:PATH``,
``chars:PATH``, ``conll:PATH``. See docs/data.md for sources, splits, vocabularies and licences.

Data directory: ``data_dir`` argument (``--data-dir``) > ``$DEEPRNN_DATA`` > ``~/.cache/deeprnn/data``
(``$XDG_CACHE_HOME``). Loaders never download; ``fetch`` (``deeprnn data fetch NAME``) does.
"""

from deeprnn.data.batching import (
    LMBatches,
    MusicBatch,
    SequenceBatcher,
    TagBatch,
    collate_music,
    collate_tagged,
    make_lm_stream,
    transpose_roll,
    transposition_range,
)
from deeprnn.data.datadir import ChecksumError, resolve_data_dir
from deeprnn.data.fetch import fetch, verify
from deeprnn.data.info import dataset_info
from deeprnn.data.loaders import lm_stream, lm_vocab, load_music, load_tagged, load_text, tagging_vocabs
from deeprnn.data.registry import DATASETS, SPLITS, DatasetSpec, get_dataset
from deeprnn.data.safe_pickle import RestrictedUnpickler, UnsafePickleError
from deeprnn.data.spec import DataFormatError
from deeprnn.data.vocab import Vocabulary, encode_tagged
from deeprnn.data.wordfeatures import (
    FEATURE_KINDS,
    TaggedBatch,
    TaggedSplit,
    TaggerInputs,
    build_feature_vocab,
    collate_split,
    encode_split,
)

__all__ = [
    "DATASETS",
    "FEATURE_KINDS",
    "SPLITS",
    "ChecksumError",
    "DataFormatError",
    "DatasetSpec",
    "LMBatches",
    "MusicBatch",
    "RestrictedUnpickler",
    "SequenceBatcher",
    "TagBatch",
    "TaggedBatch",
    "TaggedSplit",
    "TaggerInputs",
    "UnsafePickleError",
    "Vocabulary",
    "build_feature_vocab",
    "collate_music",
    "collate_split",
    "collate_tagged",
    "dataset_info",
    "encode_split",
    "encode_tagged",
    "fetch",
    "get_dataset",
    "lm_stream",
    "lm_vocab",
    "load_music",
    "load_tagged",
    "load_text",
    "make_lm_stream",
    "resolve_data_dir",
    "tagging_vocabs",
    "transpose_roll",
    "transposition_range",
    "verify",
]
