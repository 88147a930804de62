"""deeprnn.models: recurrent cores with torch.nn.RNN's conventions, and task heads.

Cores: ``RNN``, ``DTRNN`` (DT-RNN / DT(S)-RNN), ``StackedRNN`` (sRNN), ``LSTM``, ``GRU``, ``RHN``. Heads:
``MusicModel``, ``LanguageModel``, ``Tagger`` (DOT(S)-RNN = a DTRNN core with a deep output). Build them by
name with ``build_model``, or from a ``ModelConfig`` with ``build_from_config``. Equations and options: docs/models.md.
"""

from deeprnn.models.activations import ACTIVATIONS, LpPool, Maxout, get_activation
from deeprnn.models.config import ModelConfig
from deeprnn.models.dtrnn import DTRNN
from deeprnn.models.gated import GRU, LSTM
from deeprnn.models.heads import DeepOutput, LanguageModel, MusicModel, Tagger, WordFeatures
from deeprnn.models.init import INIT_SCHEMES, TRANSITION_GAIN, init_weights, step_gain
from deeprnn.models.registry import (
    ARCHITECTURES,
    MODEL_NAMES,
    TASKS,
    build_from_config,
    build_model,
    count_parameters,
    detach_hidden,
)
from deeprnn.models.rhn import RHN
from deeprnn.models.rnn import RNN, StackedRNN

__all__ = [
    "ACTIVATIONS", "ARCHITECTURES", "DTRNN", "GRU", "INIT_SCHEMES", "LSTM", "MODEL_NAMES", "RHN", "RNN", "TASKS",
    "TRANSITION_GAIN", "DeepOutput", "LanguageModel", "LpPool", "Maxout", "ModelConfig", "MusicModel", "StackedRNN",
    "Tagger", "WordFeatures", "build_from_config", "build_model", "count_parameters", "detach_hidden",
    "get_activation", "init_weights", "step_gain",
]
