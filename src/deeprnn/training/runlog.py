"""What a run logs besides metrics.jsonl: ``metrics.csv`` for spreadsheets, and TensorBoard events (opt-in).

``metrics.csv`` is made from metrics.jsonl after every epoch (and after a resume has dropped the records it
replays), so the two never disagree: one row per record, one column per value, nested values by dotted name
(``valid.nll``).

TensorBoard (``train.tensorboard = true``; the ``tensorboard`` package, ``pip install 'deeprnn[tensorboard]'``)
writes to RUN_DIR/tensorboard, every value against the optimiser step (x axis "step"): each epoch's metrics
(``train/loss``, ``valid/nll``, ..., ``lr``, ``epoch``, gradient norms), the mean training loss of every
``STEP_LOSS_EVERY`` steps (``step/train_loss``) and the resolved config as text. A resumed run appends to the
same folder and first purges what came after its checkpoint (the epoch it replays), so the stream reads as one
uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from deeprnn.files import atomic_write_text, flatten, read_records
from deeprnn.options import ConfigError

STEP_LOSS_EVERY = 10  # optimiser steps per point of step/train_loss
TENSORBOARD_DIR = "tensorboard"


def metrics_csv(records: list[dict[str, Any]]) -> str:
    """The records of metrics.jsonl as CSV: the columns of every record, in the order they first appear."""
    rows = [flatten(record) for record in records]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_metrics_csv(run_dir: Path) -> None:
    """RUN_DIR/metrics.csv from RUN_DIR/metrics.jsonl as it is now."""
    records = read_records(Path(run_dir) / "metrics.jsonl", warn=lambda *_: None)
    atomic_write_text(Path(run_dir) / "metrics.csv", metrics_csv(records))



class TensorBoardLog:
    """The run's TensorBoard event stream; ``after_step`` and ``after_epoch`` feed it, ``close`` ends it."""

    def __init__(self, run_dir: Path, config_json: str, step: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("train.tensorboard needs the tensorboard package: "
                              "pip install tensorboard (or the package's 'tensorboard' extra)") from None
        # purge_step: a resumed run drops the events after its checkpoint (they are replayed); a new run has none
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / TENSORBOARD_DIR), purge_step=step + 1 if step else None)
        if not step:
            self.writer.add_text("config", "    " + config_json.replace("\n", "\n    "), 0)  # as a code block
        self.loss_sum = self.units = 0.0

    def after_step(self, step: int, loss: float, units: float) -> None:
        """Training step ``step`` (global, from 1) had mean loss ``loss`` over ``units`` frames or tokens."""
        if math.isfinite(loss):
            self.loss_sum, self.units = self.loss_sum + loss * units, self.units + units
        if step % STEP_LOSS_EVERY == 0:
            if self.units:
                self.writer.add_scalar("step/train_loss", self.loss_sum / self.units, step)
            self.loss_sum = self.units = 0.0

    def after_epoch(self, record: dict[str, Any]) -> None:
        """An epoch's metrics.jsonl record, at its last step."""
        step = record["step"]
        for split in ("train", "valid"):
            for name, value in record[split].items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.writer.add_scalar(f"{split}/{name}", value, step)
        self.writer.add_scalar("lr", record["lr"], step)
        self.writer.add_scalar("epoch", record["epoch"], step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
