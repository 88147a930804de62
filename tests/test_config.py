"""Typed configs: TOML loading, extends, overrides, and clear errors."""

import pytest

from deeprnn.training.config import ConfigError, load_config


def test_toml_extends_and_overrides(tmp_path):
    (tmp_path / "base.toml").write_text('[model]\nname = "rnn"\nhidden_size = 50\n[optim]\nlr = 0.1\n')
    (tmp_path / "run.toml").write_text('extends = "base.toml"\n[model]\nhidden_size = 60\n')
    config = load_config(tmp_path / "run.toml", ["optim.name=sgd", "model.transition_size=30", "train.patience=none"])
    assert config.model.name == "rnn"
    assert config.model.hidden_size == 60
    assert config.optim.lr == 0.1 and config.optim.name == "sgd"
    assert config.model.transition_size == 30
    assert config.train.patience is None


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
