"""The two parts of a text training step around the model: the token loss and Adam's update, on CPU.

    .venv/bin/python benchmarks/text_step.py                       # PTB word sizes: 32 x 35 tokens, 10k classes
    .venv/bin/python benchmarks/text_step.py --vocab 50 --hidden 1000

At a 10k-word vocabulary the soft-max read-out dominates a step, so how the loss and the optimiser touch the
(B, T, V) logits and the V x H matrices matters. Each part is timed against its previous form, measured in the
same run with repetitions interleaved (median reported), so load from other processes hits both alike:

- loss: the tasks' ``_token_loss`` (cross-entropy with ignore_index on the padded logits) against the boolean
  gather ``cross_entropy(logits[mask], targets[mask])`` it replaced, forward + backward + training hit count;
- Adam: ``trainer._make_optimizer`` (torch's fused kernel) against the default ``torch.optim.Adam`` step,
  on the parameter shapes of an RNN language model (embedding and read-out V x H, recurrence H x H).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from deeprnn.training.config import load_config
from deeprnn.training.tasks import LanguageModelTask
from deeprnn.training.trainer import _make_optimizer


def median_ms(functions: dict, rounds: int, before=lambda: None) -> dict[str, float]:
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            before()
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    logits = torch.randn(args.batch, args.bptt, args.vocab, requires_grad=True)
    targets = torch.randint(0, args.vocab, (args.batch, args.bptt))
    mask = torch.ones(args.batch, args.bptt, dtype=torch.bool)
    mask[-1, args.bptt // 2 :] = False  # the stream's last window is ragged
    task = LanguageModelTask.__new__(LanguageModelTask)  # only its loss is used

    def gathered():
        tokens = int(mask.sum())
        loss = F.cross_entropy(logits[mask], targets[mask], reduction="sum") / tokens
        with torch.no_grad():
            int(((logits.argmax(-1) == targets) & mask).sum())
        loss.backward()

    def ignore_index():
        task._token_loss(logits, targets, mask)[0].backward()

    def clear():
        logits.grad = None

    loss_ms = median_ms({"gather": gathered, "ignore_index": ignore_index}, args.rounds, clear)

    shapes = [(args.vocab, args.hidden), (args.hidden, args.hidden), (args.hidden, args.hidden), (args.hidden,),
              (args.hidden,), (args.vocab, args.hidden), (args.vocab,)]  # fmt: skip

    def model_with_grads():
        model = torch.nn.ParameterList(torch.nn.Parameter(torch.randn(s)) for s in shapes)
        for p in model:
            p.grad = torch.randn_like(p)
        return model

    config = load_config(None, ["optim.name=adam", "optim.lr=0.001"])
    default = torch.optim.Adam(model_with_grads().parameters(), lr=1e-3)
    ours = _make_optimizer(config, model_with_grads())
    adam_ms = median_ms({"default": default.step, "ours": ours.step}, args.rounds)

    print(f"{args.batch} x {args.bptt} tokens, vocabulary {args.vocab}, hidden {args.hidden}, "
          f"{args.threads} thread(s), median of {args.rounds}")  # fmt: skip
    print(f"loss fwd+bwd: gather {loss_ms['gather']:.1f} ms, ignore_index {loss_ms['ignore_index']:.1f} ms, "
          f"ratio {loss_ms['gather'] / loss_ms['ignore_index']:.2f}x")  # fmt: skip
    print(f"Adam step:    default {adam_ms['default']:.1f} ms, ours (fused={ours.param_groups[0]['fused']}) "
          f"{adam_ms['ours']:.1f} ms, ratio {adam_ms['default'] / adam_ms['ours']:.2f}x")  # fmt: skip
    saved = loss_ms["gather"] - loss_ms["ignore_index"] + adam_ms["default"] - adam_ms["ours"]
    print(f"saved per batch: {saved:.0f} ms")


if __name__ == "__main__":
    main()
