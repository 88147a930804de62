"""Published numbers, quoted (not measured here), to show next to ours in report tables.

Each ``Quote`` keeps the number exactly as printed in its source, the source's short name (full citation
in ``SOURCES``), and what it measures in our terms: dataset, split and metric key (``nll`` = negative
log-likelihood in nats per frame, ``bce_mean`` = mean per-key binary cross-entropy, ``ppl``, ``bpc``). The
replication's Table 1 reports a BCE on word-level text, a metric deeprnn does not compute: its key is
``bce`` so it never lines up with one of ours by accident.

A quote may stand beside a model of ours with another name (``ours``: the sigmoid DOT-RNN of Gulcehre et al.
is compared with our DOT(S)-RNN) and may carry a ``protocol`` note when its setting is not ours (Chung et al.
2014 trained models of about 20k parameters on other input encodings): it is shown, but labelled.

Sets are looked up by name (``deeprnn report --published NAME``); ``PUBLISHED`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

QUOTED = "quoted, not measured here"

SOURCES = {
    "Cristea et al. 2025": "P.-T. Cristea, D.-F. Cringanu, P.-L. Eftimie, A. Hodoroaga. Investigating the robustness "
    "and applicability of Deep RNNs. Report, June 2025 (replication of Pascanu et al. 2014).",
    "Pascanu et al. 2013": "R. Pascanu, C. Gulcehre, K. Cho, Y. Bengio. How to Construct Deep Recurrent Neural "
    "Networks. arXiv:1312.6026, 2013 (ICLR 2014).",
    "Gulcehre et al. 2014": "C. Gulcehre, K. Cho, R. Pascanu, Y. Bengio. Learned-Norm Pooling for Deep Feedforward "
    "and Recurrent Neural Networks. ECML-PKDD 2014.",
    "Pascanu, Mikolov & Bengio 2013": "R. Pascanu, T. Mikolov, Y. Bengio. On the difficulty of training recurrent "
    "neural networks. ICML 2013 (arXiv:1211.5063), Table 1.",
    "Chung et al. 2014": "J. Chung, C. Gulcehre, K. Cho, Y. Bengio. Empirical Evaluation of Gated Recurrent Neural "
    "Networks on Sequence Modeling. arXiv:1412.3555, 2014.",
    "Zaremba et al. 2014": "W. Zaremba, I. Sutskever, O. Vinyals. Recurrent Neural Network Regularization. "
    "arXiv:1409.2329, 2014.",
    "Bai et al. 2018": "S. Bai, J. Z. Kolter, V. Koltun. An Empirical Evaluation of Generic Convolutional and "
    "Recurrent Networks for Sequence Modeling. arXiv:1803.01271, 2018.",
}


@dataclass(frozen=True)
class Quote:
    model: str  # our model.name where one matches, else the source's name (e.g. "tcn")
    quoted: str  # the number as printed in the source
    source: str  # a key of SOURCES
    variant: str = ""  # what distinguishes this model from ours, e.g. "L_p units"
    row: int | None = None  # the swept value (hidden size) for grid tables, None for single results
    ours: str = ""  # the model of ours it stands beside, when not ``model``
    protocol: str = ""  # how its setting differs from ours, when it does (shown beside the number)

    @property
    def value(self) -> float:
        return float(self.quoted)

    @property
    def beside(self) -> str:
        """The model of ours this number is compared with."""
        return self.ours or self.model


# Short tags of the sources, for the headline table of RESULTS.md (where a full citation per cell would not fit).
SOURCE_TAGS = {"Cristea et al. 2025": "Cr25", "Pascanu et al. 2013": "P13", "Gulcehre et al. 2014": "G14",
               "Pascanu, Mikolov & Bengio 2013": "PMB13", "Chung et al. 2014": "C14", "Zaremba et al. 2014": "Z14",
               "Bai et al. 2018": "B18"}


@dataclass(frozen=True)
class PublishedSet:
    name: str
    dataset: str  # our dataset name
    metric: str  # our metric key, SPLIT.NAME; the split is the one the source reports
    description: str
    quotes: tuple[Quote, ...]
    row_key: str | None = None  # the config key of ``Quote.row``
    epoch: int | None = None  # the epoch the numbers are taken at (None: the source's best model)


def _grid(source: str, models: tuple[str, ...], rows: dict[int, tuple[str, ...]]) -> tuple[Quote, ...]:
    return tuple(Quote(model, value, source, row=row)
                 for row, values in rows.items() for model, value in zip(models, values, strict=True))


REPLICATION_TABLE1 = PublishedSet(
    "replication-table1", "ptb", "valid.bce", "Cristea et al. 2025, Table 1: PTB word level, validation BCE with "
    "logits (mean per output unit) at epoch 7",
    _grid("Cristea et al. 2025", ("rnn", "dts-rnn", "dots-rnn", "srnn"), {
        100: ("2.4248", "3.1010", "8.7786", "2.4016"),
        200: ("2.7130", "3.1098", "8.6688", "2.6574"),
        300: ("3.2689", "3.2481", "8.5965", "2.7487"),
        400: ("2.4264", "3.1890", "8.5561", "3.4005"),
        500: ("2.6061", "3.3677", "8.5288", "3.0144"),
        600: ("2.5255", "3.1871", "8.5130", "3.3805"),
        700: ("2.6507", "3.1907", "8.4992", "3.0814"),
    }),
    row_key="model.hidden_size", epoch=7,
)

REPLICATION_TABLE2 = PublishedSet(
    "replication-table2", "jsb", "valid.bce_mean", "Cristea et al. 2025, Table 2: JSB Chorales, validation BCE "
    "(mean per key) at epoch 10",
    _grid("Cristea et al. 2025", ("rnn", "dts-rnn", "dots-rnn", "srnn", "lstm", "gru"), {
        10: ("0.2479", "0.2486", "0.7001", "0.2484", "0.2486", "0.2495"),
        50: ("0.2105", "0.2477", "0.6947", "0.2294", "0.2406", "0.2110"),
        100: ("0.1903", "0.2477", "0.6940", "0.2040", "0.2341", "0.1998"),
        150: ("0.1785", "0.2477", "0.6938", "0.1927", "0.2394", "0.1955"),
        200: ("0.1741", "0.2477", "0.6937", "0.1802", "0.2323", "0.1930"),
        400: ("0.1667", "0.2477", "0.6935", "0.1672", "0.2336", "0.1900"),
        600: ("0.1616", "0.2477", "0.6935", "0.1602", "0.2331", "0.1896"),
    }),
    row_key="model.hidden_size", epoch=10,
)

_TEST_NLL = "test-set negative log-likelihood, nats per frame"
# Pascanu, Mikolov & Bengio 2013, Table 1: an RNN trained by SGD with gradient clipping, and with clipping and
# their regulariser, on the same data splits as the deep RNN paper (test set).
_PMB = "Pascanu, Mikolov & Bengio 2013"
_CLIPPED, _REGULARISED = "SGD with clipping", "SGD with clipping and regulariser"
# Chung et al. 2014 trained models of about 20k parameters on other input encodings (105 and 108 dimensions).
_CHUNG_PROTOCOL = "different protocol: about 20k parameters, different inputs"


# The paper's DOT(S)-RNN* adds L_p units, maxout and dropout to DOT(S)-RNN, so its DOT(S)-RNN presumably had no
# dropout: where a table has that row (also the better DOT(S)-RNN on validation), the published number stands beside it.
_UNSTARRED = "dots-rnn-nodrop"


def _pmb(clipped: str, regularised: str) -> tuple[Quote, Quote]:
    return Quote("rnn", clipped, _PMB, _CLIPPED), Quote("rnn", regularised, _PMB, _REGULARISED)

LITERATURE = (
    PublishedSet("jsb-test", "jsb", "test.nll", f"JSB Chorales, {_TEST_NLL}", (
        Quote("dot-rnn", "7.92", "Gulcehre et al. 2014", "L_p units", ours="dots-rnn-star"),
        Quote("dot-rnn", "8.44", "Gulcehre et al. 2014", "sigmoid units", ours=_UNSTARRED),
        Quote("rnn", "8.01", "Gulcehre et al. 2014"),
        Quote("gru", "8.43", "Bai et al. 2018"),
        Quote("lstm", "8.45", "Bai et al. 2018"),
        Quote("rnn", "8.91", "Bai et al. 2018"),
        Quote("tcn", "8.10", "Bai et al. 2018"),
    )),
    PublishedSet("nottingham-test", "nottingham", "test.nll", f"Nottingham, {_TEST_NLL}", (
        Quote("dot-rnn", "2.95", "Gulcehre et al. 2014", "L_p units", ours="dots-rnn-star"),
        Quote("dot-rnn", "3.22", "Gulcehre et al. 2014", "sigmoid units", ours=_UNSTARRED),
        Quote("rnn", "3.09", "Gulcehre et al. 2014"),
        *_pmb("3.48", "3.36"),
        Quote("lstm", "3.29", "Bai et al. 2018"),
        Quote("gru", "3.46", "Bai et al. 2018"),
        Quote("tcn", "3.07", "Bai et al. 2018"),
    )),
    PublishedSet("musedata-test", "musedata", "test.nll", f"MuseData, {_TEST_NLL}", (
        Quote("dot-rnn", "6.59", "Gulcehre et al. 2014", "L_p units", ours="dots-rnn-star"),
        Quote("dot-rnn", "6.97", "Gulcehre et al. 2014", "sigmoid units", ours="dots-rnn"),
        Quote("rnn", "6.75", "Gulcehre et al. 2014"),
        *_pmb("7.00", "6.97"),
        Quote("gru", "5.99", "Chung et al. 2014", protocol=_CHUNG_PROTOCOL),
        Quote("lstm", "6.23", "Chung et al. 2014", protocol=_CHUNG_PROTOCOL),
    )),
    PublishedSet("pianomidi-test", "pianomidi", "test.nll", f"Piano-midi.de, {_TEST_NLL}", (
        *_pmb("7.53", "7.46"),
        Quote("gru", "8.82", "Chung et al. 2014", protocol=_CHUNG_PROTOCOL),
        Quote("lstm", "9.03", "Chung et al. 2014", protocol=_CHUNG_PROTOCOL),
        Quote("rnn", "9.03", "Chung et al. 2014", "tanh units", protocol=_CHUNG_PROTOCOL),
    )),
    PublishedSet("ptb-char-test", "ptb-char", "test.bpc", "Penn Treebank character level, test bits per character", (
        Quote("dots-rnn", "1.39", "Pascanu et al. 2013"),
        Quote("srnn", "1.41", "Pascanu et al. 2013"),
        *_pmb("1.42", "1.41"),
        Quote("lstm", "1.36", "Bai et al. 2018"),
    )),
    PublishedSet("ptb-word-test", "ptb", "test.ppl", "Penn Treebank word level, test perplexity", (
        Quote("dots-rnn", "107.5", "Pascanu et al. 2013"),
        Quote("srnn", "110.0", "Pascanu et al. 2013"),
        Quote("lstm", "114.5", "Zaremba et al. 2014", "small, no dropout"),
    )),
)

PUBLISHED: dict[str, PublishedSet] = {s.name: s for s in (REPLICATION_TABLE1, REPLICATION_TABLE2, *LITERATURE)}


def get_published(name: str) -> PublishedSet:
    if name not in PUBLISHED:
        raise ValueError(f"unknown published set {name!r}; choose from {', '.join(PUBLISHED)}")
    return PUBLISHED[name]
