"""The front doors: one ``create_<kind>`` per component kind, over registries with every plugin loaded.

Each returns the kind's Protocol from ``harness.hookspecs``: what the trainer, the pipeline and the
scorer may rely on, whichever plugin built it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.hookspecs import Backbone, Head, Indexer, Loss, Pooling, Sampler
from harness.methods import Method
from harness.plugins import get_host
from harness.registry import CONTEXT_KEYWORDS, Registry, check_settings, parameters

if TYPE_CHECKING:
    from harness.data.datasets import ImageDataset  # numpy and the image readers: not needed to create one
    from harness.data.spec import CompetitionSpec


def registry(kind: str) -> Registry:
    """The registry of ``kind``, with every plugin loaded."""
    return get_host().registry(kind)


def build(kind: str, name: str, *args: Any, **cfg: Any) -> Any:
    """Create a component: settings are checked, context keywords passed only where declared."""
    entry = registry(kind).get(name)
    context = {k: cfg.pop(k) for k in CONTEXT_KEYWORDS if k in cfg}
    check_settings(entry, cfg)
    params = {p.name for p in parameters(entry.factory)}
    if entry.accepts_any_setting():
        cfg.update(context)
    else:
        cfg.update({k: v for k, v in context.items() if k in params})
    return entry.factory(*args, **cfg)


def create_backbone(name: str, **cfg: Any) -> Backbone:
    return build("backbones", name, **cfg)


def create_pooling(name: str, **cfg: Any) -> Pooling:
    return build("poolings", name, **cfg)


def create_head(name: str, **cfg: Any) -> Head:
    return build("heads", name, **cfg)


def create_loss(name: str, **cfg: Any) -> Loss:
    return build("losses", name, **cfg)


def create_sampler(name: str, labels: Any, batch_size: int, **cfg: Any) -> Sampler:
    return build("samplers", name, labels, batch_size, **cfg)


def create_indexer(name: str, **cfg: Any) -> Indexer:
    return build("indexers", name, **cfg)


def create_dataset(name: str, **cfg: Any) -> ImageDataset:
    return build("datasets", name, **cfg)


def get_competition_spec(name: str) -> CompetitionSpec:
    return build("competitions", name)


def get_method(name: str) -> Method:
    return build("methods", name)
