"""Run configuration: method defaults < ``--config file.toml`` < ``--set section.key=value``.

Component sections (``backbone``, ``pooling``, ``head``, ``loss``, ``sampler``, ``indexer``) select a
registered component by ``name``; their other keys must be settings that component's factory
accepts. ``optim`` and ``train`` belong to the harness and are described by dataclasses here.
Unknown keys and wrong types fail before any training starts.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import json
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.components import get_method, registry
from harness.data.spec import DEFAULT_COMPETITION
from harness.errors import ConfigError
from harness.registry import did_you_mean, refuse_unknown_settings

COMPONENT_SECTIONS = {
    "backbone": "backbones",
    "pooling": "poolings",  # optional: without it the backbone pools itself (small-cnn and timm: average)
    "head": "heads",
    "loss": "losses",
    "sampler": "samplers",
    "indexer": "indexers",
}


@dataclass
class OptimConfig:
    name: str = "adamw"  # adam | adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    backbone_lr_scale: float = 1.0  # pretrained backbones often want a smaller rate than the head
    schedule: str = "cosine"  # cosine | constant (per step, over all planned epochs)
    grad_clip: float = 0.0  # max gradient norm; 0 = no clipping


@dataclass
class TrainConfig:
    epochs: int = 10  # 0 = no training: the model as built is embedded and searched (the pixels floor)
    batch_size: int | str = 64  # or "auto": a batch for the device, in the sampler's P x K (harness.train.batching)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    amp: bool = True  # mixed precision on cuda: bfloat16 where the GPU supports it, else float16 with a grad scaler
    deterministic: bool = True  # deterministic kernels; false lets cuDNN/TF32 pick faster, nondeterministic ones
    channels_last: bool = False  # NHWC images and weights (faster convolutions on tensor-core GPUs)
    compile: bool | str = False  # torch.compile the model (or a mode: reduce-overhead = CUDA graphs, max-autotune)
    gather_embeddings: bool = True  # with several processes, in-batch losses see every rank's batch
    patience: int = 0  # val evaluations without improvement before stopping; 0 = never stop early
    eval_every: int = 1
    classification_weight: float = 0.0  # > 0 adds softmax cross-entropy as a multi-task term
    augment: bool = False  # random shifts of up to 1/8 of the image (any dataset)
    transforms: str = "auto"  # photo transforms below: auto (datasets that are photos) | on | off
    crop_scale: float = 0.35  # random resized crop keeps this share of the area at least; 1 = no crop
    flip: bool = True  # random horizontal flip
    color_jitter: float = 0.2  # brightness, contrast and saturation jitter strength; 0 = none
    num_workers: int = 0  # image-decoding processes; 0 = none on CPU, up to 4 for file datasets on CUDA
    embed_batch_size: int = 256
    preload_mb: int = 512  # train/val sets smaller than this are loaded into memory once
    threads: int = 0  # torch CPU threads; 0 = leave torch's default


OPTIMIZERS = ("adam", "adamw", "sgd")
# words a numeric or boolean setting also accepts
WORD_VALUES = {
    ("train", "batch_size", "auto"),
    ("train", "compile", "reduce-overhead"),
    ("train", "compile", "max-autotune"),
}
SCHEDULES = ("cosine", "constant")

HARNESS_SECTIONS: dict[str, type] = {"optim": OptimConfig, "train": TrainConfig}
TOP_LEVEL_SCALARS = {"competition": str, "seed": int}
ALL_KEYS = [*COMPONENT_SECTIONS, *HARNESS_SECTIONS, *TOP_LEVEL_SCALARS]
REQUIRED_SECTIONS = ("backbone", "head", "loss", "sampler", "indexer")
MAX_SEED = 2**62  # torch seeds must fit 64 bits; tune adds trial numbers and an offset to the base seed


@dataclass(frozen=True)
class RunConfig:
    """A run's config, resolved and checked once (:func:`resolve_run_config`) and kept to the end.

    ``components`` maps each component section present (``backbone``, ``pooling``, ``head``, ``loss``,
    ``sampler``, ``indexer``) to its ``{"name": ..., **settings}``; ``train`` and ``optim`` are typed.
    """

    method: str
    competition: str
    seed: int
    components: dict[str, dict[str, Any]]
    train: TrainConfig
    optim: OptimConfig

    def component(self, section: str) -> tuple[str, dict[str, Any]]:
        """A component section as ``(name, settings)`` (a copy)."""
        values = dict(self.components[section])
        return values.pop("name"), values

    def as_dict(self) -> dict[str, Any]:
        """The nested config (no method) that ``config.json`` stores and :func:`config_hash` hashes."""
        return {
            **copy.deepcopy(self.components),
            "competition": self.competition,
            "seed": self.seed,
            "train": dataclasses.asdict(self.train),
            "optim": dataclasses.asdict(self.optim),
        }

    @property
    def hash(self) -> str:
        return config_hash(self.as_dict())

    def with_seed(self, seed: int) -> RunConfig:
        return dataclasses.replace(self, seed=seed)


def parse_value(text: str) -> Any:
    """A ``--set`` value as a TOML scalar; bare words are strings (``loss.name=cosface``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """``["loss.margin=0.2", "seed=3"]`` -> ``{"loss.margin": 0.2, "seed": 3}``."""
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        out[key] = parse_value(value.strip())
    return out


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if len(parts) > 2 or not all(parts):
            raise ConfigError(f"config key {key!r} must be 'section.key' or a top-level key")
        if len(parts) == 1:
            nested[key] = value
        else:
            section = nested.setdefault(parts[0], {})
            if not isinstance(section, dict):
                raise ConfigError(f"config key {key!r} conflicts with a scalar {parts[0]!r}")
            section[parts[1]] = value
    return nested


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def merge(base: dict[str, Any], layer: dict[str, Any], where: str) -> dict[str, Any]:
    """Overlay ``layer`` on ``base``. Naming a different component drops that section's old keys."""
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if key not in ALL_KEYS:
            raise ConfigError(f"unknown config key {key!r} in {where}.{did_you_mean(key, ALL_KEYS)}")
        if key in TOP_LEVEL_SCALARS:
            out[key] = value
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"config section {key!r} in {where} must be a table, got {value!r}")
        section = dict(out.get(key, {}))
        if key in COMPONENT_SECTIONS and "name" in value and value["name"] != section.get("name"):
            section = {}
        section.update(value)
        out[key] = section
    return out


def resolve(
    defaults: dict[str, Any],
    config_file: str | Path | None = None,
    sets: list[str] | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checked, complete config of a run."""
    cfg = merge({}, defaults, "method defaults")
    if config_file:
        cfg = merge(cfg, load_config_file(config_file), str(config_file))
    if sets:
        flat = sets if isinstance(sets, dict) else parse_sets(sets)
        cfg = merge(cfg, unflatten(flat), "--set")
    return check_config(cfg)


def check_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Check every key and type; fill harness sections with their defaults."""
    out = copy.deepcopy(cfg)
    for section, kind in COMPONENT_SECTIONS.items():
        if section not in out:
            continue
        settings = dict(out[section])
        name = settings.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"config section {section!r} needs a component name ({section}.name)")
        entry = registry(kind).get(name)
        refuse_unknown_settings(entry, settings)
        accepted = entry.settings()
        for key, value in settings.items():
            default = accepted.get(key, inspect.Parameter.empty)
            if default is not inspect.Parameter.empty and default is not None:
                settings[key] = _check_type(f"{section}.{key}", value, type(default))
        out[section] = {"name": name, **settings}
    for section, dc in HARNESS_SECTIONS.items():
        given = dict(out.get(section, {}))
        fields = {f.name: f for f in dataclasses.fields(dc)}
        for key, value in given.items():
            if key not in fields:
                raise ConfigError(f"unknown setting {section}.{key}.{did_you_mean(key, list(fields))}")
            if isinstance(value, str) and (section, key, value) in WORD_VALUES:
                continue
            given[key] = _check_type(f"{section}.{key}", value, type(fields[key].default))
        out[section] = dataclasses.asdict(dc(**given))
    for key, typ in TOP_LEVEL_SCALARS.items():
        if key in out and out[key] is not None:
            out[key] = _check_type(key, out[key], typ)
    return out


def _check_type(key: str, value: object, expected: type) -> object:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (bool, int) and isinstance(value, bool) != (expected is bool):
        raise ConfigError(f"{key} must be {expected.__name__}, got {value!r}")
    if expected in (str, int, float, bool) and not isinstance(value, expected):
        raise ConfigError(f"{key} must be {expected.__name__}, got {value!r} ({type(value).__name__})")
    return value


def resolve_run_config(
    method: str,
    *,
    competition: str | None = None,
    config_file: str | Path | None = None,
    sets: Sequence[str] | dict[str, Any] | None = (),
    seed: int | None = None,
    device: str | None = None,
) -> RunConfig:
    """Method defaults < config file < ``--set``; the explicit ``competition``/``seed``/``device`` win."""
    cfg = resolve(get_method(method).defaults, config_file, sets if isinstance(sets, dict) else list(sets or ()))
    cfg["competition"] = competition or cfg.get("competition") or DEFAULT_COMPETITION
    cfg["seed"] = seed if seed is not None else cfg.get("seed") if cfg.get("seed") is not None else 0
    if device:
        cfg.setdefault("train", {})["device"] = device
    for section in REQUIRED_SECTIONS:
        if section not in cfg:
            raise ConfigError(f"method {method!r} leaves section {section!r} unset; give {section}.name")
    cfg = check_config(cfg)
    if not 0 <= cfg["seed"] < MAX_SEED:
        raise ConfigError(f"seed must be between 0 and {MAX_SEED - 1} but got {cfg['seed']}")
    run_config = RunConfig(
        method=method,
        competition=cfg["competition"],
        seed=cfg["seed"],
        components={section: cfg[section] for section in COMPONENT_SECTIONS if section in cfg},
        train=TrainConfig(**cfg["train"]),
        optim=OptimConfig(**cfg["optim"]),
    )
    check_values(run_config.train, run_config.optim)
    return run_config


def canonical_json(cfg: dict[str, Any]) -> str:
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(cfg: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of a resolved config, seed excluded:
    runs that differ only in their seed share a hash, and with the code commit form a seed group."""
    without_seed = {key: value for key, value in cfg.items() if key != "seed"}
    return hashlib.sha256(canonical_json(without_seed).encode()).hexdigest()[:16]


def check_values(tc: TrainConfig, oc: OptimConfig) -> None:
    """Refuse harness values that types alone do not catch, before anything is built."""
    problems = [*_not_finite(("optim", oc), ("train", tc)), *_optim_problems(oc), *_train_problems(tc)]
    if problems:
        raise ConfigError("; ".join(problems))


def _not_finite(*sections: tuple[str, Any]) -> list[str]:
    return [
        f"{section}.{f.name} must be a finite number but got {getattr(values, f.name)}"
        for section, values in sections
        for f in dataclasses.fields(values)
        if isinstance(getattr(values, f.name), float) and not math.isfinite(getattr(values, f.name))
    ]


def _optim_problems(oc: OptimConfig) -> list[str]:
    problems = []
    if oc.name not in OPTIMIZERS:
        problems.append(f"optim.name must be one of {', '.join(OPTIMIZERS)}, got {oc.name!r}")
    if oc.schedule not in SCHEDULES:
        problems.append(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {oc.schedule!r}")
    if oc.lr <= 0:
        problems.append(f"optim.lr must be positive but got {oc.lr}")
    problems += [
        f"optim.{key} cannot be negative but got {getattr(oc, key)}"
        for key in ("weight_decay", "momentum", "backbone_lr_scale", "grad_clip")
        if getattr(oc, key) < 0
    ]
    return problems


def _train_problems(tc: TrainConfig) -> list[str]:
    problems = []
    for key in ("batch_size", "eval_every", "embed_batch_size"):
        value = getattr(tc, key)
        if isinstance(value, str):
            if ("train", key, value) not in WORD_VALUES:
                problems.append(f"train.{key} must be a whole number, got {value!r}")
        elif value < 1:
            problems.append(f"train.{key} must be at least 1 but got {value}")
    if tc.transforms not in ("auto", "on", "off"):
        problems.append(f"train.transforms must be one of auto, on, off, got {tc.transforms!r}")
    if not 0 < tc.crop_scale <= 1:
        problems.append(f"train.crop_scale must be in (0, 1] but got {tc.crop_scale}")
    if tc.color_jitter < 0:
        problems.append(f"train.color_jitter cannot be negative but got {tc.color_jitter}")
    problems += [
        f"train.{key} cannot be negative but got {getattr(tc, key)}"
        for key in ("epochs", "patience", "num_workers", "threads", "preload_mb")
        if getattr(tc, key) < 0
    ]
    if tc.classification_weight < 0:
        problems.append(f"train.classification_weight cannot be negative but got {tc.classification_weight}")
    return problems


# -- what a run changes from its method's defaults (the leaderboard's ``differs`` column) -------------
DEFAULTS_TEXT = "defaults"
# Settings that say where or how fast a run trains, not what it trains: never a difference.
NOT_A_DIFFERENCE = {"seed", "competition", "train.device", "train.threads", "train.preload_mb", "train.num_workers"}


def flat(cfg: dict[str, Any]) -> dict[str, Any]:
    """``{"loss": {"name": "x", "margin": 1}}`` -> ``{"loss.name": "x", "loss.margin": 1}``."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            out[key] = value
    return out


def setting_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"  # what differs, for people: the config hash keeps the exact value
    return json.dumps(value, separators=(",", ":"))


def differences(cfg: RunConfig | dict[str, Any], defaults: RunConfig | dict[str, Any]) -> dict[str, Any]:
    """The settings of resolved ``cfg`` that differ from its method's resolved ``defaults`` (same competition).

    A section the defaults have and ``cfg`` lacks shows as ``<section>.name=none``.
    """
    cfg, defaults = (c.as_dict() if isinstance(c, RunConfig) else c for c in (cfg, defaults))
    mine, theirs = flat(cfg), flat(defaults)
    changed = {k: v for k, v in mine.items() if k not in NOT_A_DIFFERENCE and (k not in theirs or theirs[k] != v)}
    for section, value in defaults.items():
        if isinstance(value, dict) and "name" in value and section not in cfg:
            changed[f"{section}.name"] = "none"
    return dict(sorted(changed.items()))


def differs_text(cfg: RunConfig | dict[str, Any], defaults: RunConfig | dict[str, Any]) -> str:
    """``differences`` as one cell: ``key=value`` pairs separated by spaces, or ``defaults``."""
    changed = differences(cfg, defaults)
    return " ".join(f"{k}={setting_text(v)}" for k, v in changed.items()) or DEFAULTS_TEXT
