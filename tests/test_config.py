"""Config precedence, component replacement, unknown keys and wrong types."""

from __future__ import annotations

import textwrap

import pytest

from harness import config
from harness.errors import ConfigError, UnknownNameError

COMPONENTS = """
    from harness import hookimpl

    def alpha_loss(margin: float = 0.2, mining: str = "all", num_classes=None):
        \"\"\"A test loss.\"\"\"
        return ("alpha", margin, mining, num_classes)

    def beta_loss(scale: float = 1.0, squared: bool = False):
        return ("beta", scale, squared)

    def anything(**kwargs):
        return kwargs

    @hookimpl
    def register_losses(register):
        register("alpha", alpha_loss)
        register("beta", beta_loss)
        register("free", anything)
"""

DEFAULTS = {"loss": {"name": "alpha", "margin": 0.3}, "train": {"epochs": 5}, "seed": 0}


@pytest.fixture(autouse=True)
def components(plugins_dir):
    (plugins_dir / "components.py").write_text(textwrap.dedent(COMPONENTS))


def test_defaults_then_file_then_set(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text("seed = 7\n[loss]\nmargin = 0.5\nmining = 'hard'\n[train]\nepochs = 3\n")
    cfg = config.resolve(DEFAULTS, file, ["loss.margin=0.9", "train.batch_size=16"])
    assert cfg["loss"] == {"name": "alpha", "margin": 0.9, "mining": "hard"}
    assert cfg["train"]["epochs"] == 3 and cfg["train"]["batch_size"] == 16
    assert cfg["seed"] == 7
    assert cfg["optim"] == config.resolve({}, None, None)["optim"], "harness sections get their defaults"


def test_replacing_a_component_drops_the_old_defaults():
    cfg = config.resolve(DEFAULTS, None, ["loss.name=beta", "loss.scale=2"])
    assert cfg["loss"] == {"name": "beta", "scale": 2.0}


def test_same_name_keeps_defaults():
    cfg = config.resolve(DEFAULTS, None, ["loss.name=alpha"])
    assert cfg["loss"]["margin"] == 0.3


@pytest.mark.parametrize(
    "sets, message",
    [
        (["loss.margn=0.1"], "no setting 'margn'. Did you mean 'margin'"),
        (["loss.name=alpah"], "unknown loss 'alpah'. Did you mean 'alpha'"),
        (["train.epocs=3"], "unknown setting train.epocs. Did you mean 'epochs'"),
        (["traim.epochs=3"], "unknown config key 'traim'"),
        (["loss.margin='wide'"], "loss.margin must be float"),
        (["train.epochs=2.5"], "train.epochs must be int"),
        (["train.amp=1"], "train.amp must be bool"),
        (["seed=abc"], "seed must be int"),
        (["loss.margin"], "expects section.key=value"),
        (["a.b.c=1"], "must be 'section.key'"),
        (["loss.squared=true", "loss.name=beta", "loss.scale=1"], None),
    ],
)
def test_bad_keys_and_types_fail_clearly(sets, message):
    if message is None:
        config.resolve(DEFAULTS, None, sets)
        return
    with pytest.raises((ConfigError, UnknownNameError), match=message.replace(".", r"\.").replace("(", r"\(")):
        config.resolve(DEFAULTS, None, sets)


def test_factory_with_kwargs_accepts_any_setting():
    cfg = config.resolve({"loss": {"name": "free"}}, None, ["loss.whatever=3"])
    assert cfg["loss"] == {"name": "free", "whatever": 3}


def test_values_parse_as_toml_scalars():
    assert config.parse_sets(["a.b=1", "a.c=1.5", "a.d=true", "a.e=word", "a.f='quoted'"]) == {
        "a.b": 1,
        "a.c": 1.5,
        "a.d": True,
        "a.e": "word",
        "a.f": "quoted",
    }


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.resolve(DEFAULTS, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[loss\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.resolve(DEFAULTS, bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[lost]\nmargin = 1\n")
    with pytest.raises(ConfigError, match="unknown config key 'lost' in .*unknown.toml"):
        config.resolve(DEFAULTS, unknown)


def test_config_hash_is_canonical():
    a = config.resolve(DEFAULTS, None, ["loss.margin=0.25"])
    b = config.resolve(DEFAULTS, None, ["loss.margin=0.25"])
    c = config.resolve(DEFAULTS, None, ["loss.margin=0.26"])
    assert config.config_hash(a) == config.config_hash(b) != config.config_hash(c)
    reordered = dict(reversed(list(a.items())))
    assert config.config_hash(reordered) == config.config_hash(a)


def test_config_hash_leaves_out_the_seed():
    a = config.resolve(DEFAULTS, None, ["loss.margin=0.25"])
    assert config.config_hash({**a, "seed": 1}) == config.config_hash({**a, "seed": 2}) == config.config_hash(a)
