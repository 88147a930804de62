"""examples/: the newcomer's first file runs on a tiny budget, and its numbers are the library's."""

from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path

import pytest
import torch

from deeprnn.training.metrics import TokenMetrics

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "examples" / "train_ptb_char.py"


def test_the_example_is_short_and_the_readme_links_it():
    assert len(SCRIPT.read_text().splitlines()) < 120
    assert "(examples/train_ptb_char.py)" in (REPO_ROOT / "README.md").read_text()


@pytest.mark.slow
def test_the_ptb_char_example_trains_and_reports_the_librarys_bpc(monkeypatch, capsys, data_dir):
    argv = ["--data-dir", str(data_dir), "--epochs", "2", "--max-batches", "3", "--hidden", "16",
            "--batch-size", "8", "--bptt", "20"]
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *argv])
    threads = torch.get_num_threads()
    try:
        script = runpy.run_path(str(SCRIPT), run_name="__main__")
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert printed.count("valid bpc") == 2 and "test bpc" in printed and "sample: " in printed
    sample = printed.split("sample: ", 1)[1]
    assert len(sample.replace("\n", "")) >= 150  # 200 symbols; <eos> is a line break, "_" a space
    # The example's evaluation, checked against deeprnn's own metric over the same windows.
    model, valid = script["model"], script["splits"]["valid"]
    metrics, state = TokenMetrics("char"), None
    model.eval()
    with torch.no_grad():
        for _, (inputs, targets, mask) in zip(range(3), valid):
            logits, state = model(inputs, state)
            metrics.update(logits, targets, mask)
    nats = script["run"](valid, train=False)
    assert script["bpc"](nats) == pytest.approx(metrics.compute()["bpc"], rel=1e-6)
    assert math.isfinite(nats) and nats < math.log(len(script["vocab"])) + 1
