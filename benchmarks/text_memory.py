"""Peak memory of reading an own text corpus (``text:``, ``chars:``) as a multiple of its longest line.

    .venv/bin/python benchmarks/text_memory.py                    # a 4 MB corpus: one line, then 1,000 lines
    .venv/bin/python benchmarks/text_memory.py --megabytes 8

Each measurement runs in a fresh process: it imports deeprnn, notes its peak resident memory
(``resource.getrusage``'s ``ru_maxrss``), reads the train split with ``deeprnn.data.custom.load_text`` and
notes the peak again. The difference is what reading took at its peak, the parsed sentences included. With
one line the whole file is the longest line, so the difference over the line's size is the documented
multiple; with many short lines it is dominated by the parsed tokens (8 bytes each).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = """
import json, resource, sys
from deeprnn.data import custom
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sentences = custom.load_text(sys.argv[1], "train")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"kib": after - before, "tokens": sum(len(s) for s in sentences)}))
"""


def write_corpus(folder: Path, megabytes: float, lines: int, seed: int = 0) -> int:
    """Random words of 1-9 letters from a 5,000-word vocabulary; returns the longest line's bytes."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 9)))
                  for _ in range(5000)]
    per_line = int(megabytes * 1e6 / lines)
    text, longest = [], 0
    for _ in range(lines):
        words, size = [], 0
        while size < per_line:
            words.append(rng.choice(vocabulary))
            size += len(words[-1]) + 1
        line = " ".join(words)
        longest = max(longest, len(line))
        text.append(line + "\n")
    (folder / "train.txt").write_text("".join(text))
    for split in ("valid", "test"):
        (folder / f"{split}.txt").write_text("a b\n")
    return longest


def measure(name: str) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, name], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=4.0, help="size of the training file (default 4)")
    args = parser.parse_args()
    print(f"{'corpus':<8} {'lines':>6} {'file MB':>8} {'longest line MB':>16} {'tokens':>10} {'peak MB':>8} "
          f"{'peak / longest line':>20}")
    for lines in (1, 1000):
        with tempfile.TemporaryDirectory() as folder:
            longest = write_corpus(Path(folder), args.megabytes, lines)
            size = (Path(folder) / "train.txt").stat().st_size
            for prefix in ("text", "chars"):
                result = measure(f"{prefix}:{folder}")
                peak = result["kib"] * 1024
                print(f"{prefix:<8} {lines:>6} {size / 1e6:>8.2f} {longest / 1e6:>16.3f} {result['tokens']:>10,} "
                      f"{peak / 1e6:>8.1f} {peak / longest:>20.1f}")


if __name__ == "__main__":
    main()
