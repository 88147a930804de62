"""``deeprnn data``: info, verify and fetch the benchmark datasets."""

from __future__ import annotations

import json
import sys

from deeprnn.cli.help import DATA_DIR_HELP, examples


def _format_count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "-" if value is None else str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    cells = [header] + [[_format_count(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in cells
    ]


def format_info(info: dict) -> str:
    """A human-readable summary of ``dataset_info``."""
    lines = [f"{info['name']}: {info['description']}"]
    splits = info["splits"]
    if info["family"] == "music":
        header = ["split", "sequences", "steps", "notes", "empty", "length", "max polyphony", "pitches"]
        rows = [
            [
                split,
                s["sequences"],
                s["steps"],
                s["notes"],
                s["empty_steps"],
                f"{s['min_length']}..{s['max_length']}",
                s["max_polyphony"],
                f"{s['lowest_pitch']}..{s['highest_pitch']}",
            ]
            for split, s in splits.items()
        ]
        lines += _table(header, rows)
        lines.append(f"  one frame = one {info['time_step']} note; 88 keys, MIDI 21..108")
    else:
        keys = [
            k
            for k in ("sentences", "tokens", "tokens_with_eos", "types", "oov_tokens", "tags")
            if k in splits["train"]
        ]
        names = {"tokens_with_eos": "tokens+<eos>", "oov_tokens": "<unk>", "tags": "tag types"}
        lines += _table(
            ["split"] + [names.get(k, k) for k in keys],
            [[split] + [s[k] for k in keys] for split, s in splits.items()],
        )
        lines.append("  total: " + ", ".join(f"{k} {_format_count(v)}" for k, v in info["total"].items()))
        if "lm_vocab_size" in info:
            lines.append(f"  language-model vocabulary: {_format_count(info['lm_vocab_size'])}")
        if "tag_count" in info:
            lines.append(
                f"  tagging: {info['tag_count']} tags (training split), "
                f"{_format_count(info['tagging_word_vocab_size'])} words incl. <pad>, <unk>"
            )
    lines.append(f"  licence: {info['licence']}")
    if info["citation"]:  # own folders have none
        lines.append(f"  citation: {info['citation']}")
    return "\n".join(lines)


def run_info(args) -> int:
    from deeprnn.data import DATASETS, dataset_info

    infos, missing = {}, []
    for name in args.names or list(DATASETS):
        try:
            infos[name] = dataset_info(name, args.data_dir)
        except FileNotFoundError as exc:
            if args.names:  # asked for by name: a missing file is an error
                raise
            missing.append(str(exc))
    if args.json:
        print(json.dumps(infos, indent=2))
    elif infos:
        print("\n\n".join(format_info(info) for info in infos.values()))
    for line in missing:
        print(line, file=sys.stderr)
    return 0


def run_verify(args) -> int:
    from deeprnn.data import resolve_data_dir, verify

    rows = verify(args.data_dir, args.names or None)
    print(f"data directory: {resolve_data_dir(args.data_dir)}")
    for relpath, status in rows:
        print(f"{relpath}: {status}")
    bad = [r for r in rows if r[1].startswith("mismatch") or r[1] == "missing"]
    ok = sum(status == "ok" for _, status in rows)
    print(f"{ok} of {len(rows)} files verified" + (f", {len(bad)} failed" if bad else ""))
    return 1 if bad else 0


def run_fetch(args) -> int:
    from deeprnn.data import fetch, resolve_data_dir

    for name in args.names:
        paths = fetch(name, args.data_dir, base_url=args.base_url, progress=not args.quiet)
        print(f"{name}: {len(paths)} file(s) verified in {resolve_data_dir(args.data_dir)}")
    return 0


# deeprnn.data.DATASETS, written out so that building the parser does not import torch (tested equal)
BENCHMARKS = ("jsb", "nottingham", "musedata", "pianomidi", "ptb", "ptb-char", "brown", "conll2000", "treebank")


def add_parser(subparsers):
    names = ", ".join(BENCHMARKS)
    p = subparsers.add_parser(
        "data",
        help="inspect, verify and download the benchmark datasets",
        description=f"Inspect, verify and download the benchmark datasets ({names}) in the data directory "
        "(--data-dir, else $DEEPRNN_DATA, else ~/.cache/deeprnn/data). Your own folders are datasets too: "
        "midi:PATH, text:PATH, chars:PATH, conll:PATH (docs/own-data.md).",
        epilog=examples("deeprnn data info jsb", "deeprnn data verify"),
    )
    p.set_defaults(func=lambda args: p.print_help())
    commands = p.add_subparsers(dest="data_command", metavar="ACTION")

    info = commands.add_parser(
        "info", help="per-split counts, vocabularies, licence and citation",
        description="Per-split counts, vocabularies, licence and citation of datasets.",
        epilog=examples("deeprnn data info jsb ptb --json", "deeprnn data info"),
    )
    info.add_argument("names", nargs="*", metavar="NAME",
                      help=f"datasets: {names}, or midi:PATH, text:PATH, chars:PATH, conll:PATH "
                      "(default: every benchmark present)")
    info.add_argument("--json", action="store_true",
                      help="print JSON, a dict keyed by dataset name (default: tables)")
    info.add_argument("--data-dir", help=DATA_DIR_HELP)
    info.set_defaults(func=run_info)

    check = commands.add_parser(
        "verify", help="check every file's SHA-256 against the sums in the package "
                "(exit code 1 when one is missing or differs)",
        description="Check every file's SHA-256 against the sums kept in the package; files are never changed.",
        epilog=examples("deeprnn data verify", "deeprnn data verify jsb ptb"),
    )
    check.add_argument("names", nargs="*", metavar="NAME", help=f"datasets: {names} (default: all)")
    check.add_argument("--data-dir", help=DATA_DIR_HELP)
    check.set_defaults(func=run_verify)

    get = commands.add_parser(
        "fetch", help="download the missing files of datasets and verify them",
        description="Download the missing files of datasets into the data directory and verify their SHA-256. "
        "Offline? Copy the files in by hand (the paths 'deeprnn data info NAME' and the error name), or "
        "download from a mirror with --base-url / $DEEPRNN_DATA_URL.",
        epilog=examples("deeprnn data fetch jsb",
                        "deeprnn data fetch ptb-char --base-url https://mirror.example.org/deeprnn-data"),
    )
    get.add_argument("names", nargs="+", metavar="NAME", help=f"datasets: {names}")
    get.add_argument("--data-dir", help=DATA_DIR_HELP)
    get.add_argument(
        "--base-url",
        help="mirror to download from: files are {BASE}/{path} "
        "(default: $DEEPRNN_DATA_URL, else the canonical sources)",
    )
    get.add_argument("--quiet", action="store_true", help="no progress bars (default: progress bars)")
    get.set_defaults(func=run_fetch)
