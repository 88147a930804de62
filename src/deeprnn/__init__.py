"""deeprnn: deep recurrent neural networks (Pascanu, Gulcehre, Cho & Bengio, ICLR 2014).

Sub-packages, in dependency order (cli -> experiments -> training -> models/data):

- ``deeprnn.models``: recurrent cores (RNN, DT(S)-RNN, sRNN, LSTM, GRU) and task heads.
- ``deeprnn.data``: the benchmark corpora, loaded safely and batched.
- ``deeprnn.training``: configs, metrics, the training loop, run directories, checkpoints.
- ``deeprnn.experiments``: sweeps and gradient-flow analysis.
- ``deeprnn.reports``: tables and figures from run directories.
- ``deeprnn.cli``: the ``deeprnn`` command.
"""

__version__ = "0.1.0"


def load_run(run_dir, checkpoint: str = "best", device: str = "cpu"):
    """Load a trained model from a run directory: returns ``(model, config)``, model in eval mode.

    The model is called like ``build_model``'s: ``logits, state = model(inputs, state=None)``; it also has
    ``task``, ``vocab`` and ``tags`` (see ``deeprnn.training.InferenceModel``).
    """
    from deeprnn.training.checkpoint import load_run as _load_run

    return _load_run(run_dir, checkpoint=checkpoint, device=device)


__all__ = ["__version__", "load_run"]
