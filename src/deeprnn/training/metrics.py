"""The literature's metrics, accumulated over a whole split on real (unmasked) frames/tokens only.

Music (Boulanger-Lewandowski et al. 2012; Pascanu et al. 2014):
    nll       = (1/N) Σ_frames Σ_{k=1..88} −[y_k log σ(a_k) + (1−y_k) log(1−σ(a_k))]
                nats per time step, summed over the 88 keys, averaged over all N frames of the split
                (frame-weighted: long pieces weigh more, as in the published tables).
    frame_acc = TP / (TP + FP + FN), counts summed over the split, a key predicted on when σ(a_k) > 0.5
                (Bay et al. 2009).
    bce_mean  = nll / 88, the mean per-key binary cross-entropy the 2025 replication reported;
                not comparable with published tables, given only to relate to that study.
Language modelling:
    loss = mean cross-entropy in nats per token; ppl = exp(loss) (words); bpc = loss / ln 2 (characters);
    acc = next-token accuracy.
Tagging:
    loss = mean cross-entropy per token; acc = token accuracy; acc_known / acc_unknown = the accuracy on the
    tokens whose exact form occurs / does not occur in the training split (unknown_tokens of them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from deeprnn import metric_keys as keys


class MusicMetrics:
    """Accumulates NLL (nats per frame, summed over keys), frame accuracy and mean per-key BCE."""

    def __init__(self) -> None:
        self.nll_sum = 0.0
        self.frames = 0
        self.true_pos = 0
        self.false_pos = 0
        self.false_neg = 0
        self.keys = 0

    def update(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> None:
        """logits, targets: (B, T, K); mask: (B, T) bool, True on real frames."""
        with torch.no_grad():
            mask = mask.bool()
            per_key = F.binary_cross_entropy_with_logits(logits.double(), targets.double(), reduction="none")
            self.nll_sum += per_key.sum(-1)[mask].sum().item()
            self.frames += int(mask.sum().item())
            self.keys = logits.shape[-1]
            predicted = (logits > 0)[mask]
            actual = targets[mask] > 0.5
            self.true_pos += int((predicted & actual).sum().item())
            self.false_pos += int((predicted & ~actual).sum().item())
            self.false_neg += int((~predicted & actual).sum().item())

    def compute(self) -> dict[str, float]:
        if self.frames == 0:
            raise ValueError("no frames were scored")
        nll = self.nll_sum / self.frames
        denominator = self.true_pos + self.false_pos + self.false_neg
        return {
            keys.NLL: nll,
            keys.FRAME_ACCURACY: self.true_pos / denominator if denominator else 0.0,
            keys.BCE_MEAN: nll / self.keys,
            keys.FRAMES: self.frames,
        }


class TokenMetrics:
    """Accumulates cross-entropy and accuracy over tokens; ``level`` picks ppl (word) or bpc (char)."""

    def __init__(self, level: str | None = None) -> None:
        self.level = level  # "word", "char" or None (tagging: loss and accuracy only)
        self.loss_sum = 0.0
        self.tokens = 0
        self.correct = 0

    def update(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> None:
        """logits: (B, T, V); targets: (B, T) long; mask: (B, T) bool."""
        with torch.no_grad():
            mask = mask.bool()
            flat_logits = logits.reshape(-1, logits.shape[-1])
            # Padded positions get ignore_index instead of a boolean gather, which would copy the logits.
            flat_targets = targets.masked_fill(~mask, -100).reshape(-1)
            # float32 within a batch (a few thousand tokens), float64 across batches via Python floats
            self.loss_sum += F.cross_entropy(flat_logits, flat_targets, ignore_index=-100, reduction="sum").item()
            self.tokens += int(mask.sum().item())
            self.correct += int(((flat_logits.argmax(-1) == flat_targets) & mask.reshape(-1)).sum().item())

    def compute(self) -> dict[str, float]:
        if self.tokens == 0:
            raise ValueError("no tokens were scored")
        loss = self.loss_sum / self.tokens
        result = {keys.LOSS: loss, keys.ACCURACY: self.correct / self.tokens, keys.TOKENS: self.tokens}
        if self.level == "word":
            result[keys.PERPLEXITY] = math.exp(loss)
        elif self.level == "char":
            result[keys.BPC] = loss / math.log(2)
        return result


class TaggingMetrics(TokenMetrics):
    """``TokenMetrics`` plus the accuracy on known and on unknown words (``known``: (B, T) bool, True where
    the token's form occurs in the training split)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.known_tokens = self.known_correct = self.unknown_tokens = self.unknown_correct = 0

    def update(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, known: torch.Tensor) -> None:
        super().update(logits, targets, mask)
        with torch.no_grad():
            mask = mask.bool()
            hits = (logits.argmax(-1) == targets) & mask
            known, unknown = known & mask, ~known & mask
            self.known_tokens += int(known.sum())
            self.known_correct += int((hits & known).sum())
            self.unknown_tokens += int(unknown.sum())
            self.unknown_correct += int((hits & unknown).sum())

    def compute(self) -> dict[str, float]:
        result = super().compute()
        nan = float("nan")
        result[keys.ACCURACY_KNOWN] = self.known_correct / self.known_tokens if self.known_tokens else nan
        result[keys.ACCURACY_UNKNOWN] = self.unknown_correct / self.unknown_tokens if self.unknown_tokens else nan
        result[keys.UNKNOWN_TOKENS] = self.unknown_tokens
        return result


# The metric that picks the best epoch, and whether larger is better, per task.
SELECTION_METRIC = {task: (key, keys.larger_is_better(key))
                    for task, key in {"music": keys.NLL, "lm": keys.LOSS, "tagging": keys.ACCURACY}.items()}
