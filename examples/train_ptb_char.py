"""Train a DOT(S)-RNN language model on Penn Treebank characters, with deeprnn's model and data and a plain
PyTorch loop (in the manner of pytorch/examples' word_language_model). Start reading here.

``build_model`` gives the network (Pascanu et al. 2014: a deep transition with shortcuts, and a deep output),
``deeprnn.data`` the vocabulary and the token stream cut into truncated-BPTT windows; the loop below is
ordinary PyTorch. ``deeprnn train configs/lm/ptb-char.toml`` trains the same kind of model with run
directories, checkpoints, exact resume and the evaluation of docs/training.md.

    DEEPRNN_DATA=../shared/data python examples/train_ptb_char.py --epochs 1
    python examples/train_ptb_char.py --data-dir ../shared/data --max-batches 20   # a smoke run
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F

from deeprnn import data
from deeprnn.models import build_model, detach_hidden

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--data-dir", help="data directory (default: $DEEPRNN_DATA, else ~/.cache/deeprnn/data)")
parser.add_argument("--epochs", type=int, default=3, help="passes over the training text (default 3)")
parser.add_argument("--hidden", type=int, default=200, help="hidden units (default 200)")
parser.add_argument("--batch-size", type=int, default=32, help="rows of the text read side by side (default 32)")
parser.add_argument("--bptt", type=int, default=100, help="characters per truncated-BPTT window (default 100)")
parser.add_argument("--lr", type=float, default=0.002, help="Adam's learning rate (default 0.002)")
parser.add_argument("--clip", type=float, default=1.0, help="maximum gradient norm (default 1.0)")
parser.add_argument("--dropout", type=float, default=0.2, help="dropout (default 0.2)")
parser.add_argument("--max-batches", type=int, help="stop each pass after this many windows (default: all)")
parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; small matrices)")
parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)

# The vocabulary is <eos> (each line's end) and the 49 symbols of the training text; "_" separates words.
vocab = data.lm_vocab("ptb-char", args.data_dir)
# Each split is one stream of token ids, [<eos>, line 1..., <eos>, line 2..., ...], laid out as batch_size
# contiguous rows and cut into windows of bptt steps: window i + 1 of a row continues window i.
splits = {split: data.LMBatches(data.lm_stream("ptb-char", split, vocab, args.data_dir), args.batch_size, args.bptt)
          for split in ("train", "valid", "test")}

model = build_model("dots-rnn", task="lm", vocab_size=len(vocab), hidden_size=args.hidden, transition_depth=2,
                    dropout=args.dropout)
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
print(f"DOT(S)-RNN, {sum(p.numel() for p in model.parameters()):,} parameters, {len(vocab)} symbols")


def run(windows, train: bool) -> float:
    """One pass over a split; returns the mean cross-entropy in nats per character (trains when ``train``)."""
    model.train(train)
    state, nats, characters = None, 0.0, 0
    with torch.set_grad_enabled(train):
        for i, (inputs, targets, mask) in enumerate(windows):
            if args.max_batches is not None and i >= args.max_batches:
                break
            # Carry the state on from the previous window, but not its graph (truncated BPTT).
            logits, state = model(inputs, detach_hidden(state))
            loss = F.cross_entropy(logits[mask], targets[mask])  # mask: the padding at the end of the last row
            if train:
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
                optimizer.step()
            nats += loss.item() * int(mask.sum())
            characters += int(mask.sum())
    return nats / characters


def bpc(nats: float) -> float:
    return nats / math.log(2)  # bits per character


for epoch in range(1, args.epochs + 1):
    started = time.perf_counter()
    train_nats = run(splits["train"], train=True)
    valid_nats = run(splits["valid"], train=False)
    print(f"epoch {epoch}  train bpc {bpc(train_nats):.3f}  valid bpc {bpc(valid_nats):.3f}  "
          f"{time.perf_counter() - started:.0f}s")
print(f"test bpc {bpc(run(splits['test'], train=False)):.3f}")


@torch.no_grad()
def sample(length: int, temperature: float = 0.8) -> str:
    """Characters drawn one at a time, each fed back in with the state, starting after an <eos>."""
    model.eval()
    token, state, text = torch.tensor([[vocab.eos_id]]), None, []
    for _ in range(length):
        logits, state = model(token, state)
        token = torch.multinomial(torch.softmax(logits[0, -1] / temperature, dim=-1), 1)[None]
        text.append(vocab.itos[int(token)])
    return "".join(text).replace("_", " ").replace("<eos>", "\n")


print("sample:", sample(200))
