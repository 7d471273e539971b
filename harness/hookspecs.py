"""The plugin contract.

Every hook is ``register_<kind>(register)``. The harness owns ``register`` and passes it in;
a plugin calls ``register(name, factory, **meta)`` once per thing it provides. Names are unique
per kind across all plugins: registering a name twice is an error that names both plugins.

A factory receives its config section's settings as keyword arguments and may also declare any
of the context keywords ``num_classes``, ``in_dim`` and ``device``: the harness passes only those
the signature names (or all of them to a factory taking ``**kwargs``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from harness import hookspec


class Register(Protocol):
    def __call__(self, name: str, factory: Callable[..., Any], **meta: Any) -> None: ...


@hookspec
def register_backbones(register: Register) -> None:
    """Register image backbones.

    Called once when plugins load. ``factory(**cfg)`` returns an ``nn.Module`` mapping images
    ``(B, 3, H, W)`` to features ``(B, D)``, with an integer attribute ``out_dim`` equal to ``D``.
    """


@hookspec
def register_heads(register: Register) -> None:
    """Register heads placed on top of a backbone.

    ``factory(**cfg, in_dim=...)`` returns an ``nn.Module`` mapping features ``(B, in_dim)`` to
    embeddings ``(B, dim)`` (float) or relaxed codes (a hash head). A head that produces binary
    codes exposes ``code_kind = "binary"`` and binarises in ``encode(features)``.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register training losses.

    ``factory(**cfg)`` returns an ``nn.Module`` whose ``forward(embeddings, labels)`` returns a
    scalar tensor. Learnable state (class centers, proxies) lives in the module's parameters.
    """


@hookspec
def register_samplers(register: Register) -> None:
    """Register batch samplers over the training labels.

    Called as ``factory(labels, batch_size, **cfg)``; returns an iterable of index batches
    (lists of ints into the training set) with ``__len__`` giving the batches per epoch.
    """


@hookspec
def register_indexers(register: Register) -> None:
    """Register nearest-neighbour indexers.

    ``factory(**cfg)`` returns an object with ``build(gallery) -> self`` and
    ``search(queries, k) -> (scores, indices)``, both ``(Q, k)`` arrays, best first. Order is
    deterministic: by score, then by gallery position. Missing neighbours are ``-1``.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register retrieval metrics (one family per name, e.g. ``precision@k``, ``map@r``).

    ``register(name, per_query, description=...)``: ``per_query(ranked, query_labels,
    gallery_labels, k)`` receives ranked gallery positions ``(Q, n)`` (best first, ``-1`` = no
    neighbour), integer labels ``(Q,)`` and ``(G,)`` and the cut-off ``k``; it returns ``(Q,)``
    float64 scores. A repeated neighbour earns nothing. Build on ``harness.relevance``. Raise
    ``ConfigError`` when ``k`` cannot support the metric. The scorer uses only the built-in
    ``plugins/metrics`` package; metrics from other plugins are listed and tested, not scored.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets.

    ``factory(**cfg)`` returns a ``harness.datasets.ImageDataset``: images, integer labels and
    stable, unique item names.
    """


@hookspec
def register_competitions(register: Register) -> None:
    """Register competitions.

    ``factory()`` returns a ``harness.competition.CompetitionSpec``: dataset name and settings,
    split protocol, metric, k, public fraction and salt.
    """


@hookspec
def register_methods(register: Register) -> None:
    """Register methods (training recipes).

    ``factory()`` returns a ``harness.methods.Method``: a description, a default config and
    ``search_space(trial) -> overrides`` used by ``bench tune``.
    """


KINDS: tuple[str, ...] = (
    "backbones",
    "heads",
    "losses",
    "samplers",
    "indexers",
    "metrics",
    "datasets",
    "competitions",
    "methods",
)
