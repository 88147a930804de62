"""``deeprnn sample`` (music and text from a trained run) and ``deeprnn tag`` (tags of a sentence)."""

from __future__ import annotations

import sys
import warnings

from deeprnn.cli.help import AFTER_DEMO, RUN_DATA_DIR_HELP, examples


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sample",
        help="sample music (MIDI + PNG) or text from a trained run",
        description="Sample from a run's checkpoint. Music runs write sample_NNN.mid, .png and .json; "
        "language-model runs write sample_NNN.txt and .json. Each JSON sidecar records the run, checkpoint, "
        "seed, temperature, prime and the sample's log-likelihood under the model. See docs/sampling.md.",
        epilog=examples("deeprnn sample runs/demo --num 4 --prime test:0:16 --temperature 0.8",
                        "deeprnn sample runs/demo --steps 64 --temperature 0 --out runs/demo/greedy",
                        after=AFTER_DEMO),
    )
    p.add_argument("run_dir", help="a run directory written by 'deeprnn train'")
    p.add_argument("--steps", type=int, default=100, help="frames or tokens to generate (default 100)")
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="divides the logits; 0 = the most likely frame/token at each step (default 1.0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of sample 0; sample i uses SEED + i (default 0)")
    p.add_argument(
        "--prime",
        metavar="FILE_OR_TEXT",
        help="music: test:INDEX[:STEPS] or FILE.mid[:STEPS] (STEPS default 16); text: a string "
        "(default: no prime, start from silence or a line start)",
    )
    p.add_argument("--num", type=int, default=1, help="number of samples (default 1)")
    p.add_argument("--out", help="output folder (default RUN_DIR/samples; files there are overwritten)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="best = the best-validation checkpoint, last = the latest epoch's (default best)")
    p.add_argument("--tempo", type=float, default=120,
                   help="MIDI tempo in beats (quarter notes) per minute (default 120)")
    p.add_argument("--data-dir", help=RUN_DATA_DIR_HELP + "; read only for test:INDEX primes")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar over the samples (default: a bar when stderr is a terminal)")
    p.set_defaults(func=run_sample)

    t = subparsers.add_parser(
        "tag",
        help="print the tags a tagging run gives a sentence",
        description="Tag a sentence with a tagging run: one 'word<TAB>tag' line per word. Words are split on "
        "whitespace (write punctuation as separate words, as in the corpora) and read as in training: "
        "lower-cased unless the run kept case (data.tagging_lowercase), unknown words as <unk>, with their "
        "spelling features if the tagger has them (model.word_features).",
        epilog=examples("deeprnn train configs/tagging/conll2000.toml --set train.threads=1 "
                        "--run-dir runs/conll2000-tagger",
                        'deeprnn tag runs/conll2000-tagger "The company said it would buy shares ."'),
    )
    t.add_argument("run_dir", help="a tagging run directory written by 'deeprnn train'")
    t.add_argument("sentence", nargs="+", help="the sentence (one argument or several words)")
    t.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="best = the best-validation checkpoint, last = the latest epoch's (default best)")
    t.add_argument("--data-dir", help="accepted like every command's, but not read: a tagger's vocabularies are "
                   "in its checkpoint (default: none)")
    t.set_defaults(func=run_tag)


def _print_warnings(caught) -> None:
    for warning in caught:
        print(f"deeprnn: warning: {warning.message}", file=sys.stderr)


OPTIONS = {"num": "--num", "steps": "--steps", "temperature": "--temperature", "seed": "--seed", "tempo_bpm": "--tempo"}


def _check_options(args) -> None:
    """Refuse, naming the option, what the sampler would refuse in its own words (or only after sampling)."""
    from deeprnn.experiments.sampling import argument_problems

    problems = argument_problems(args.steps, args.temperature, args.num, args.seed, args.tempo)
    if problems:
        name, why = problems[0]
        raise ValueError(f"{OPTIONS[name]} {why}")


def run_sample(args) -> int:
    from deeprnn.data.custom import DEFAULT_STEP
    from deeprnn.experiments.sampling import sample_run

    _check_options(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = sample_run(
            args.run_dir, steps=args.steps, temperature=args.temperature, seed=args.seed, prime=args.prime,
            num=args.num, out_dir=args.out, checkpoint=args.checkpoint, tempo_bpm=args.tempo,
            data_dir=args.data_dir, progress=False if args.no_progress else None,
        )  # fmt: skip
    _print_warnings(caught)
    out = args.out or f"{args.run_dir}/samples"
    for i, record in enumerate(records):
        files = ", ".join(record["files"])
        print(f"{out}/sample_{i:03d}: {files} (log-likelihood {record['log_likelihood_nats']:.2f} nats)")
    step = records[0].get("time_step")
    if step and step != DEFAULT_STEP:  # an own MIDI folder is read on eighth notes unless named otherwise
        print(f"one frame = one {step} note: to read these files back as a dataset, name them midi:{out}#{step}")
    return 0


def run_tag(args) -> int:
    from deeprnn.experiments.sampling import tag_sentence
    from deeprnn.training import load_run

    model, _ = load_run(args.run_dir, checkpoint=args.checkpoint)
    words = " ".join(args.sentence).split()
    unknown = model.tagger_inputs.unknown(words) if model.task == "tagging" else []
    if unknown:
        print(f"deeprnn: warning: words not in the tagger's vocabulary, read as <unk>: {unknown}", file=sys.stderr)
    for word, tag in zip(words, tag_sentence(model, words)):
        print(f"{word}\t{tag}")
    return 0
