"""Watch how saturated a model's hidden state gets in its first training batches.

Trains a recipe with the trainer's own step (`deeprnn.training.trainer.training_step`: forward, loss,
backward, clipping, optimiser step) and prints, every `--every` batches, the mean training loss and the share
of the units of h_t (the recurrent core's output, in training mode) with |h| > 0.99, where tanh passes less
than 2% of the gradient. Nothing is saved. This is how configs/recipes/ptb-word/search2.toml saw that
DOT(S)-RNN's state saturates while it stays on the unigram plateau at Adam 2e-3:

    DEEPRNN_DATA=/work/shared/data .venv/bin/python scripts/saturation.py configs/recipes/ptb-word/dots-rnn.toml \\
        --set optim.lr=0.0003 --batches 100
"""

from __future__ import annotations

import argparse

import torch

from deeprnn.training.checkpoint import model_from_config
from deeprnn.training.config import load_config
from deeprnn.training.tasks import build_task
from deeprnn.training.trainer import _make_optimizer, training_step

SATURATED = 0.99  # tanh'(x) = 1 - tanh(x)^2 < 0.02 beyond this


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a training config, e.g. configs/recipes/ptb-word/dots-rnn.toml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--batches", type=int, default=100, help="training batches (default 100)")
    parser.add_argument("--every", type=int, default=10, help="print every this many batches (default 10)")
    args = parser.parse_args()

    config = load_config(args.config, args.set)
    torch.manual_seed(config.train.seed)
    torch.set_num_threads(config.train.threads or 1)
    task = build_task(config, torch.device("cpu"))
    model = model_from_config(config, task.name, **task.model_kwargs())
    optimizer = _make_optimizer(config, model)
    shares = []
    model.core.register_forward_hook(lambda module, inputs, output: shares.append(
        (output[0].detach().abs() > SATURATED).float().mean().item()))

    print(f"{config.model.name}, {args.config} {' '.join(args.set)}")
    print(f"{'batch':>6} {'loss':>7} {'|h| > 0.99':>11} {'grad norm':>10}")
    losses, state = [], None
    task.begin_epoch()
    for index, batch in enumerate(task.train_batches(1, config.train.seed)):
        if index >= args.batches:
            break
        loss, _, state, norm, _, _ = training_step(model, task, batch, state, optimizer, config.optim.clip_norm,
                                                   config.optim.weight_noise)
        losses.append(float(loss))
        if (index + 1) % args.every == 0:
            print(f"{index + 1:>6} {sum(losses[-args.every:]) / args.every:>7.3f} "
                  f"{sum(shares[-args.every:]) / args.every:>10.1%} {norm:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
