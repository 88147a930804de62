"""Write a music dataset's recipes (configs/recipes/<dataset>/<model>.toml) from its validation-only searches.

For each model of the table, the point with the lowest validation NLL over all the given search directories
becomes the recipe: only the settings that differ from the dataset's base config are written, with a header
of four lines: what it is, the command that runs it, its cost and where the choice came from (every point's
validation NLL is on the benchmark's results page). The test set is never read. Each
written recipe is checked to resolve to exactly the chosen run's config, so `deeprnn reproduce <dataset>
--reuse <search dir>` adopts that run as seed 0 instead of training it again.

    .venv/bin/python scripts/recipes_from_search.py pianomidi runs/reproduce/pianomidi-search \\
        runs/reproduce/pianomidi-search2 [--only dts-rnn,dots-rnn,dots-rnn-star] [--dry-run] \\
        [--drop-stale-runs runs/reproduce]

With --drop-stale-runs OUT, the runs of a rewritten recipe made with its previous settings
(OUT/<dataset>/<model>-seed<s>/ and results/<dataset>/<model>/seed-<s>/) are deleted, which is what
`deeprnn reproduce` asks for after a recipe changes: it then trains them again with the new settings.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from deeprnn import architectures
from deeprnn.experiments.sweep_spec import build_spec
from deeprnn.training.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
TITLES = {**architectures.labels(), "dots-rnn-star": "DOT(S)-RNN* (L_p transition, maxout output, dropout)",
          "rhn": "RHN (an extension, Zilly et al. 2017: not part of the paper's claim)"}
# The settings the searches vary, in the order a recipe lists them; written only where they differ from the base.
# Any other key that differs from the base is written after them, so no setting of the chosen run is left out.
KEYS = {"model": ["name", "output_depth", "activation", "output_activation", "num_layers", "hidden_size", "dropout",
                  "transition_dropout", "spectral_radius"],
        "data": ["batch_size", "music_bptt", "music_transpose"],
        "optim": ["name", "lr", "lr_decay", "weight_noise", "ema_decay", "clip_norm"],
        "train": ["epochs", "patience"]}
PER_RUN = {("train", "seed"), ("train", "threads")}  # set by `deeprnn reproduce` for each run, not by the recipe
DATASETS = {"jsb": "JSB Chorales", "nottingham": "Nottingham", "musedata": "MuseData", "pianomidi": "Piano-midi.de"}
ALWAYS = {("model", "name"), ("model", "hidden_size"), ("model", "dropout"), ("optim", "name"), ("optim", "lr")}
COMMENTS = {("model", "activation"): "L_p units in the transition (Gulcehre et al. 2014)",
            ("model", "output_activation"): "maxout deep output",
            ("model", "spectral_radius"): "configs/recipes/pianomidi/search.toml: gradients explode at init with 1",
            ("model", "transition_gain"): "none: the scheme's own scale, not the gain initialisation's",
            ("data", "music_bptt"): "truncated BPTT: windows of this many frames, the state carried across",
            ("data", "music_transpose"): "training pieces moved by up to this many semitones (docs/training.md)",
            ("model", "transition_dropout"):
                "on the recurrent path; more makes the gradients explode (configs/recipes/pianomidi/search3.toml)"}


def recipe_key(config: dict) -> str:
    model = config["model"]
    return "dots-rnn-star" if model["activation"] == "lp" else model["name"]


def toml_value(value) -> str:
    if value is None:
        return '"none"'  # TOML has no null; the config reads "none" as None
    return json.dumps(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


# Depths and layer counts the recipes use unless a search varies them; a point is described by its differences.
USUAL_DEPTHS = {"transition_depth": 2, "output_depth": 1}
USUAL_LAYERS = {"srnn": 2, "lstm": 1, "gru": 1}


def describe(config: dict) -> str:
    model, name = config["model"], config["model"]["name"]
    shape = ""
    depth = model["transition_depth"]
    if architectures.applies(name, "transition_depth") and depth != USUAL_DEPTHS["transition_depth"]:
        shape += f"transition depth {depth}, "
    if name.startswith("dot") and model.get("output_depth") not in (None, USUAL_DEPTHS["output_depth"]):
        shape += f"output depth {model['output_depth']}, "
    if name in USUAL_LAYERS and model.get("num_layers") not in (None, USUAL_LAYERS[name]):
        shape += f"{model['num_layers']} layers, "
    return (shape
            + f"hidden {model['hidden_size']}, batch {config['data']['batch_size']}, lr {config['optim']['lr']:g}, "
            f"dropout {model['dropout']:g}"
            + (f" ({model['transition_dropout']:g} on the transition)" if model.get("transition_dropout") is not None
               else "")
            + (f", radius {model['spectral_radius']:g}" if model["spectral_radius"] != 1 else "")
            + (f", transition gain {model['transition_gain']:g}" if model.get("transition_gain") is not None
               and architectures.applies(name, "transition_gain") else "")
            + (f", windows of {config['data']['music_bptt']}" if config["data"].get("music_bptt") else "")
            + (f", weight noise {config['optim']['weight_noise']:g}" if config["optim"].get("weight_noise") else "")
            + (f", weights averaged ({config['optim']['ema_decay']:g})" if config["optim"].get("ema_decay") else "")
            + (f", transposed by up to {config['data']['music_transpose']}" if config["data"].get("music_transpose")
               else "")
            + (f", at most {config['train']['epochs']} epochs" if config["train"]["epochs"] != 100 else ""))


def best_first(points: list[tuple[float, dict, dict, Path]]) -> list[tuple[float, dict, dict, Path]]:
    """The points by validation NLL, best first. On a tie (a capped run whose minimum came before its cap is the
    uncapped run, epoch for epoch) the point with the larger budget comes first: the recipe's other seeds may
    need it."""
    return sorted(points, key=lambda point: (point[0], -point[1]["train"]["epochs"]))


def recipe_text(dataset: str, key: str, points: list[tuple[float, dict, dict, Path]], base: dict) -> str:
    best_valid, config, summary, run_dir = points[0]
    searches = ", ".join(sorted({f"results/{d.parent.name}/" for _, _, _, d in points}))
    lines = [f"# {DATASETS.get(dataset, dataset)}, {TITLES[key]}: recipe of RESULTS.md, run by "
             f"`deeprnn reproduce {dataset} --only {key}`.",
             f"# CPU-hours: {summary['wall_time_s'] / 3600:.3f} per seed (1 thread; the search run of this point).",
             f"# Chosen on validation NLL only ({best_valid:.3f}, the best of {len(points)} points; "
             f"the test set was not used) in {searches}",
             f"# by scripts/recipes_from_search.py; docs/results/{dataset}.md shows every point.",
             f'extends = "../../music/{dataset}.toml"']
    for section in config:
        names = KEYS.get(section, []) + [name for name in config[section] if name not in KEYS.get(section, [])
                                         and (section, name) not in PER_RUN]
        body = []
        for name in names:
            value = config[section][name]
            if (section, name) in ALWAYS or value != base[section][name]:
                comment = COMMENTS.get((section, name))
                body.append(f"{name} = {toml_value(value)}" + (f"  # {comment}" if comment else ""))
        if body:
            lines += ["", f"[{section}]", *body]
    return "\n".join(lines) + "\n"


def built_config(path: Path, seed: int = 0) -> dict:
    """The config `deeprnn reproduce` builds for a seed of the recipe at ``path`` (1 thread)."""
    spec = build_spec(path, [f"train.seed={seed}"], ["train.threads=1"], study="check")
    return spec.point_config({"train.seed": seed}).to_dict()


def resolves_to(path: Path, config: dict, seed: int = 0) -> bool:
    """Whether the recipe, as `deeprnn reproduce` builds a seed of it, gives exactly ``config``."""
    return built_config(path, seed) == config


def check_resolves(text: str, path: Path, config: dict) -> None:
    """Refuse a recipe that would not rebuild the chosen run's config (the table would then train something else
    than the point it names); checked on a copy next to ``path`` so its relative ``extends`` resolves."""
    trial = path.with_name(f".{path.stem}.check.toml")
    trial.write_text(text)
    try:
        built = built_config(trial)
    finally:
        trial.unlink()
    differ = [f"{section}.{name}: run {config[section][name]!r}, recipe {built[section][name]!r}"
              for section in config for name in config[section] if built[section][name] != config[section][name]]
    if differ:
        raise SystemExit(f"{path.name}: the recipe would not rebuild the chosen run's config ({'; '.join(differ)})")


def drop_stale_runs(out: Path, dataset: str, key: str, recipe: Path) -> None:
    for seed_dir in sorted((out / dataset).glob(f"{key}-seed*")):
        seed = int(seed_dir.name.rpartition("-seed")[2])
        configs = [Config.from_dict(json.loads(c.read_text())).to_dict() for c in seed_dir.glob("*/config.json")]
        if not configs or all(resolves_to(recipe, config, seed) for config in configs):  # none yet: starting
            continue
        shutil.rmtree(seed_dir)
        kept = ROOT / "results" / dataset / key / f"seed-{seed}"
        if kept.is_dir():
            shutil.rmtree(kept)
        print(f"  dropped {seed_dir} and {kept.relative_to(ROOT)}: made with the recipe's previous settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="music dataset, e.g. pianomidi (configs/music/<dataset>.toml)")
    parser.add_argument("searches", nargs="+", type=Path, help="run directories of the searches")
    parser.add_argument("--only", default="", help="comma-separated recipes to write (default: all found)")
    parser.add_argument("--dry-run", action="store_true", help="print the recipes instead of writing them")
    parser.add_argument("--drop-stale-runs", type=Path, metavar="OUT",
                        help="delete the runs under OUT (and results/) made with a recipe's previous settings")
    args = parser.parse_args()
    base = load_config(ROOT / "configs" / "music" / f"{args.dataset}.toml").to_dict()
    found: dict[str, list] = {}
    for search in args.searches:
        for summary_path in sorted(search.glob("*/summary.json")):
            # resolved, so runs made before a config key was added carry it at its default
            config = Config.from_dict(json.loads((summary_path.parent / "config.json").read_text())).to_dict()
            summary = json.loads(summary_path.read_text())
            found.setdefault(recipe_key(config), []).append((summary["valid"]["nll"], config, summary,
                                                             summary_path.parent))
    only = [name for name in args.only.split(",") if name]
    for key, points in sorted(found.items()):
        if only and key not in only:
            continue
        points = best_first(points)
        text = recipe_text(args.dataset, key, points, base)
        path = ROOT / "configs" / "recipes" / args.dataset / f"{key}.toml"
        check_resolves(text, path, points[0][1])
        if args.dry_run:
            print(f"--- {path}\n{text}")
            continue
        if not path.is_file() or path.read_text() != text:  # unchanged files stay untouched for running readers
            path.write_text(text)
        print(f"{key}: {points[0][0]:.3f} from {points[0][3].name} -> {path.relative_to(ROOT)} (adoptable)")
        for valid, config, _, _ in points:  # the search log, best first (the results pages show every point too)
            print(f"  {describe(config)}: {valid:.3f}")
        if args.drop_stale_runs:
            drop_stale_runs(args.drop_stale_runs, args.dataset, key, path)


if __name__ == "__main__":
    main()
