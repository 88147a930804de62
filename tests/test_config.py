"""Typed configs: TOML loading, extends, overrides, and clear errors."""

import pytest

from deeprnn.training.config import ConfigError, load_config


def test_toml_extends_and_overrides(tmp_path):
    (tmp_path / "base.toml").write_text('[model]\nname = "dt-rnn"\nhidden_size = 50\n[optim]\nlr = 0.1\n')
    (tmp_path / "run.toml").write_text('extends = "base.toml"\n[model]\nhidden_size = 60\n')
    config = load_config(tmp_path / "run.toml", ["optim.name=sgd", "model.transition_size=30", "train.patience=none"])
    assert config.model.name == "dt-rnn"
    assert config.model.hidden_size == 60
    assert config.optim.lr == 0.1 and config.optim.name == "sgd"
    assert config.model.transition_size == 30
    assert config.train.patience is None
    # --set is user input: a model option the model does not read is refused in one line
    with pytest.raises(ConfigError, match=r"^--set model.transition_size does not apply to rnn [^\n]*$"):
        load_config(tmp_path / "run.toml", ["model.name=rnn", "model.transition_size=30"])


def test_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'model.hidden_size'"):
        load_config(None, ["model.hiden_size=3"])
    (tmp_path / "bad.toml").write_text("[trian]\nepochs = 3\n")
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        load_config(tmp_path / "bad.toml")


def test_wrong_types_and_ranges():
    with pytest.raises(ConfigError, match="model.hidden_size' must be int"):
        load_config(None, ["model.hidden_size=big"])
    with pytest.raises(ConfigError, match="must be >= 1"):
        load_config(None, ["model.hidden_size=0"])
    with pytest.raises(ConfigError, match="optim.name"):
        load_config(None, ["optim.name=rmsprop"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["model.hidden_size"])
    with pytest.raises(ConfigError, match=r"'model.transition_dropout' must be in \[0, 1\)"):
        load_config(None, ["model.transition_dropout=1.0"])
    with pytest.raises(ConfigError, match="'data.music_bptt' must be >= 1"):
        load_config(None, ["data.music_bptt=0"])


def test_every_shipped_config_loads():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[1] / "configs").rglob("*.toml"))
    assert configs, "no configs found"
    for path in configs:
        if "sweeps" in path.parts or "recipes" in path.parts:
            continue
        load_config(path)


@pytest.mark.parametrize("override, message", [
    ('model.hidden_size="32"', "'model.hidden_size' must be int, got '32'"),  # a string is never a number
    ('model.hidden_size="1e2"', "must be int, got '1e2'"),
    ("model.hidden_size=32.0", "must be int, got 32.0"),
    ("optim.lr=nan", "'optim.lr' must be a finite number, got nan"),
    ("optim.lr=inf", "must be a finite number"),
    ("optim.clip_norm=nan", "'optim.clip_norm' must be a finite number"),
    ("optim.momentum=nan", "'optim.momentum' must be a finite number"),
    ("optim.lr_decay=nan", "'optim.lr_decay' must be a finite number"),
    ("optim.clip_norm=-1", r"'optim.clip_norm' must be >= 0, got -1"),
    ("optim.lr_decay=0", r"'optim.lr_decay' must be in \(0, 1\], got 0"),
    ("optim.lr_decay=1.5", r"'optim.lr_decay' must be in \(0, 1\]"),
    ("optim.momentum=1", r"'optim.momentum' must be in \[0, 1\)"),
    ("optim.plateau_factor=1", r"'optim.plateau_factor' must be in \(0, 1\)"),
    ("optim.weight_decay=-0.1", "'optim.weight_decay' must be >= 0"),
    ("train.seed=-1", r"'train.seed' must be in \[0, 18446744073709551616\)"),
    ("train.patience=0", "'train.patience' must be >= 1"),
    ("train.device=gpu", "'train.device' must be one of auto, cpu, cuda, cuda:N, got 'gpu'"),
    ('optim.name="rmsprop"', "'optim.name' must be one of sgd, adam"),
    ("data.music_transpose=88", r"'data.music_transpose' must be in \[0, 87\]"),
])
def test_impossible_settings_are_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_values_are_taken_exactly_and_limits_are_inclusive_where_documented():
    config = load_config(None, ["train.seed=9007199254740993", "optim.lr_decay=1", "optim.clip_norm=0",
                                "train.device=cuda:1", "data.music_transpose=87", "optim.momentum=0"])
    assert config.train.seed == 9007199254740993  # 2**53 + 1: no round trip through float
    assert config.optim.lr_decay == 1.0 and config.optim.clip_norm == 0.0 and config.train.device == "cuda:1"
    assert isinstance(config.optim.lr_decay, float)
    from deeprnn.training.config import Config

    assert Config.from_dict(config.to_dict()).train.seed == 9007199254740993  # and back from config.json
    with pytest.raises(ConfigError, match="stored.json: 'optim.lr' must be a finite number"):
        Config.from_dict({"optim": {"lr": float("nan")}}, source="stored.json")


def test_every_default_passes_its_own_checks():
    from deeprnn.training.config import CHECKS, Config, validate

    validate(Config())
    for section, checks in CHECKS.items():
        fields = Config().to_dict()[section]
        assert set(checks) <= set(fields), f"checks for keys that do not exist: {set(checks) - set(fields)}"


@pytest.mark.slow
def test_every_committed_run_config_still_loads():
    """results/ holds the runs RESULTS.md is made from; each config.json must load under today's checks."""
    import json
    from pathlib import Path

    from deeprnn.training.config import Config, validate

    paths = sorted((Path(__file__).parents[1] / "results").rglob("config.json"))
    assert len(paths) > 300
    for path in paths:
        validate(Config.from_dict(json.loads(path.read_text()), source=str(path)))


def test_a_users_toml_may_not_set_an_option_its_model_does_not_read(tmp_path):
    """User input (a TOML file) is checked as --set is: against the model it ends up with, after the overrides;
    a value that changes nothing (the default) is accepted, so shared base files keep working."""
    path = tmp_path / "lstm.toml"
    path.write_text('[model]\nname = "lstm"\ntransition_depth = 7\n')
    with pytest.raises(ConfigError, match=r"lstm.toml: model.transition_depth does not apply to lstm .*got 7"):
        load_config(path)
    path.write_text('[model]\nname = "lstm"\ntransition_depth = 2\n')  # the declared default: changes nothing
    assert load_config(path).model.name == "lstm"
    path.write_text('[model]\nname = "dts-rnn"\ntransition_depth = 3\n')
    assert load_config(path).model.transition_depth == 3
    with pytest.raises(ConfigError, match="transition_depth does not apply to gru"):
        load_config(path, ["model.name=gru"])  # the model it ends up with decides
