"""Training and evaluation: configs, metrics, the training loop, checkpoints and run directories."""

from deeprnn.training.checkpoint import InferenceModel, load_checkpoint, load_run, run_data_dir
from deeprnn.training.config import Config, ConfigError, DataConfig, ModelConfig, OptimConfig, TrainConfig, load_config
from deeprnn.training.evaluate import evaluate_run
from deeprnn.training.metrics import MusicMetrics, TokenMetrics
from deeprnn.training.trainer import TrainingDiverged, train

__all__ = [
    "Config", "ConfigError", "DataConfig", "InferenceModel", "ModelConfig", "MusicMetrics", "OptimConfig",
    "TokenMetrics", "TrainConfig", "TrainingDiverged", "evaluate_run", "load_checkpoint", "load_config",
    "load_run", "run_data_dir", "train",
]  # fmt: skip
