"""scripts/recipes_from_search.py: the recipe it writes is the lowest-validation point and resolves to exactly
that run's config (so `deeprnn reproduce --reuse` adopts the run instead of training it again)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_recipe_is_the_best_validation_point_and_resolves_to_its_config(tmp_path, load_script):
    script = load_script("scripts/recipes_from_search.py")
    searches = [REPO / "results" / "jsb-search", REPO / "results" / "jsb-search2"]  # committed run summaries
    points = []
    for search in searches:
        for summary in search.glob("gru_*/summary.json"):
            config = script.Config.from_dict(json.loads((summary.parent / "config.json").read_text())).to_dict()
            result = json.loads(summary.read_text())
            points.append((result["valid"]["nll"], config, result, summary.parent))
    assert len(points) >= 3 and len({p[0] for p in points}) == len(points)
    points.sort(key=lambda p: p[0])
    # a recipe tree like the repository's, so the recipe's `extends = "../../music/jsb.toml"` resolves
    shutil.copytree(REPO / "configs" / "music", tmp_path / "configs" / "music")
    base = script.load_config(tmp_path / "configs" / "music" / "jsb.toml").to_dict()
    text = script.recipe_text("jsb", "gru", points, base)
    recipe = tmp_path / "configs" / "recipes" / "jsb" / "gru.toml"
    recipe.parent.mkdir(parents=True)
    recipe.write_text(text)

    best_valid, best = points[0][0], points[0][1]
    assert script.resolves_to(recipe, best)
    assert not script.resolves_to(recipe, points[-1][1])  # a worse point's config is not what it builds
    header = text.split("extends")[0].splitlines()
    assert 2 <= len(header) <= 4 and "`deeprnn reproduce jsb --only gru`" in header[0]
    assert f"({best_valid:.3f}, the best of {len(points)} points; the test set was not used)" in header[2]
    assert re.search(r"CPU-hours: [0-9.]+", header[1]) and '"test"' not in text
    # a recipe changed by hand no longer resolves to the run, so --drop-stale-runs would drop that run
    recipe.write_text(text.replace(f"hidden_size = {best['model']['hidden_size']}", "hidden_size = 17"))
    assert not script.resolves_to(recipe, best)


def test_every_setting_of_the_chosen_run_is_written_and_a_recipe_that_misses_one_is_refused(tmp_path, load_script):
    import pytest

    script = load_script("scripts/recipes_from_search.py")
    summary_path = next((REPO / "results" / "jsb-search").glob("gru_*/summary.json"))
    config = script.Config.from_dict(json.loads((summary_path.parent / "config.json").read_text())).to_dict()
    # settings no search varied so far, one of them outside the script's ordered list
    config["optim"]["ema_decay"], config["optim"]["weight_decay"] = 0.999, 1e-5
    point = (1.0, config, json.loads(summary_path.read_text()), summary_path.parent)
    shutil.copytree(REPO / "configs" / "music", tmp_path / "configs" / "music")
    base = script.load_config(tmp_path / "configs" / "music" / "jsb.toml").to_dict()
    text = script.recipe_text("jsb", "gru", [point], base)
    recipe = tmp_path / "configs" / "recipes" / "jsb" / "gru.toml"
    recipe.parent.mkdir(parents=True)
    assert "ema_decay = 0.999" in text and "weight_decay = 1e-05" in text
    assert "weights averaged (0.999)" in script.describe(config)
    script.check_resolves(text, recipe, config)  # resolves: no error
    with pytest.raises(SystemExit, match=r"optim\.ema_decay: run 0\.999, recipe None"):
        script.check_resolves(text.replace("ema_decay = 0.999\n", ""), recipe, config)
    assert list(recipe.parent.iterdir()) == []  # the check leaves nothing behind


def test_points_that_differ_only_in_depth_layers_or_budget_are_told_apart(load_script):
    """Every jsb-search7 point is described differently from its model's recipe point (the script's log lists both)."""
    script = load_script("scripts/recipes_from_search.py")
    summaries = sorted((REPO / "results" / "jsb-search7").glob("*/summary.json"))
    assert len(summaries) == 7
    for summary in summaries:
        config = script.Config.from_dict(json.loads((summary.parent / "config.json").read_text())).to_dict()
        text = script.describe(config)
        model = config["model"]
        assert ("transition depth 3" in text) == (model["transition_depth"] == 3)
        assert ("output depth 2" in text) == (model["output_depth"] == 2)
        assert ("3 layers" in text) == (model.get("num_layers") == 3)
        assert text.endswith("at most 200 epochs")
    recipe = script.Config.from_dict(json.loads(next((REPO / "results" / "jsb" / "lstm").glob("seed-0/config.json"))
                                                .read_text())).to_dict()
    assert "layers" not in script.describe(recipe) and "epochs" not in script.describe(recipe)


def test_a_tie_goes_to_the_larger_budget_and_the_gain_is_told_apart(load_script):
    """Piano-midi.de's DT(S)-RNN: search 4's run (at most 100 epochs) stopped by patience at epoch 81, so search 5's
    (at most 400) is the same run, with the same validation NLL; the recipe takes the uncapped one. Search 5's
    gain-0.6 point differs from its recipe-init point only by the gain, which the header must show."""
    script = load_script("scripts/recipes_from_search.py")
    points = []
    for search in ("pianomidi-search4", "pianomidi-search5"):
        for summary in (REPO / "results" / search).glob("dts-rnn_*/summary.json"):
            config = script.Config.from_dict(json.loads((summary.parent / "config.json").read_text())).to_dict()
            points.append((json.loads(summary.read_text())["valid"]["nll"], config, {}, summary.parent))
    ranked = script.best_first(points)
    assert len(ranked) == 3 and ranked[0][0] == ranked[1][0]  # the tie, exactly
    assert [p[1]["train"]["epochs"] for p in ranked[:2]] == [400, 100]
    assert script.best_first(list(reversed(points))) == ranked  # whatever order the searches were read in
    described = [script.describe(p[1]) for p in ranked]
    assert len(set(described)) == 3 and "transition gain 0.6" in described[2]
    assert "transition gain" not in described[0] + described[1]
