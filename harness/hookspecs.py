"""The plugin contract.

Every hook is ``register_<kind>(register)``. The harness owns ``register`` and passes it in;
a plugin calls ``register(name, factory, **meta)`` once per thing it provides. Names are unique
per kind across all plugins: registering a name twice is an error that names both plugins.

A factory receives its config section's settings as keyword arguments and may also declare any
of the context keywords ``num_classes``, ``in_dim`` and ``device``: the harness passes only those
the signature names (or all of them to a factory taking ``**kwargs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

PROJECT_NAME = "bench"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(
    PROJECT_NAME
)  # what plugins decorate their hooks with (``from harness import hookimpl``)

if TYPE_CHECKING:
    import numpy as np
    import torch


class Register(Protocol):
    def __call__(self, name: str, factory: Callable[..., Any], **meta: Any) -> None: ...


@hookspec
def register_backbones(register: Register) -> None:
    """Register image backbones.

    Called once when plugins load. ``factory(**cfg)`` returns an ``nn.Module`` mapping images
    ``(B, 3, H, W)`` to features ``(B, D)``, with an integer attribute ``out_dim`` equal to ``D``.
    A backbone that also gives feature maps (:class:`FeatureMaps`) can be combined with any pooling.
    """


@hookspec
def register_poolings(register: Register) -> None:
    """Register poolings: feature maps to one vector per image.

    ``factory(**cfg, in_dim=C)`` returns an ``nn.Module`` mapping feature maps ``(B, C, h, w)`` to
    features ``(B, out_dim)``, with an integer attribute ``out_dim``. Used when a run's config has a
    ``pooling`` section; the backbone must then be :class:`FeatureMaps`.
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
    A loss that compares the items of a batch with each other (pairs, triplets, mining) registers
    with ``in_batch=True``: when several processes train, the harness then computes it over every
    process's batch (``train.gather_embeddings``, on by default).
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

    ``factory(**cfg)`` returns a ``harness.ImageDataset`` (``harness.data.datasets``): images, integer labels and
    stable, unique item names.
    """


@hookspec
def register_competitions(register: Register) -> None:
    """Register competitions.

    ``factory()`` returns a ``harness.CompetitionSpec`` (``harness.data.spec``): dataset name and settings,
    split protocol, metric, k, public fraction and salt.
    """


@hookspec
def register_methods(register: Register) -> None:
    """Register methods (training recipes).

    ``factory()`` returns a ``harness.Method`` (``harness.methods``): a description, a default config and
    ``search_space(trial) -> overrides`` used by ``bench tune``.
    """


KINDS: tuple[str, ...] = (
    "backbones",
    "poolings",
    "heads",
    "losses",
    "samplers",
    "indexers",
    "metrics",
    "datasets",
    "competitions",
    "methods",
)


# -- what each kind's factory returns ---------------------------------------------------------------
# Structural types: a component needs no base class, only these members. The harness checks the
# optional members below with ``isinstance`` (they are ``runtime_checkable``) instead of bare getattr.


class Backbone(Protocol):
    """``register_backbones``: an ``nn.Module``, images ``(B, 3, H, W)`` -> features ``(B, out_dim)``."""

    out_dim: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class Pooling(Protocol):
    """``register_poolings``: an ``nn.Module``, feature maps ``(B, C, h, w)`` -> features ``(B, out_dim)``."""

    out_dim: int

    def __call__(self, feature_maps: torch.Tensor) -> torch.Tensor: ...


class Head(Protocol):
    """``register_heads``: an ``nn.Module``, features ``(B, in_dim)`` -> embeddings or relaxed codes."""

    out_dim: int

    def __call__(self, features: torch.Tensor) -> torch.Tensor: ...


class Loss(Protocol):
    """``register_losses``: an ``nn.Module`` whose call ``(embeddings (B, D), labels (B,))`` gives a scalar tensor.

    A loss with learnable state (centers, proxies) may set a float attribute ``lr`` to get its own learning rate.
    """

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...


class Sampler(Protocol):
    """``register_samplers``: ``factory(labels, batch_size, **cfg)``; yields batches of train positions."""

    def __iter__(self) -> Iterator[Sequence[int]]: ...

    def __len__(self) -> int:
        """Batches per epoch."""
        ...


class Indexer(Protocol):
    """``register_indexers``: ``build`` on the gallery, then ``search``, best first.

    Scores are "higher is better"; ties are broken by gallery position; missing neighbours are ``-1``.
    """

    def build(self, gallery: np.ndarray) -> Indexer: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


class Metric(Protocol):
    """``register_metrics``: the registered callable itself scores every query of a block at once.

    ``ranked`` is ``(Q, n)`` gallery positions, best first, ``-1`` where a list is short; relevance is
    label equality; a repeated neighbour earns nothing. Returns ``(Q,)`` float64 in [0, 1]. The
    building blocks (``relevance``, ``ranked_labels``) return arrays shared with the other metrics of
    the pass, read-only: derive new arrays from them rather than changing them in place.
    """

    def __call__(
        self, ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, k: int
    ) -> np.ndarray: ...


# -- optional members (DESIGN section 3.1) ----------------------------------------------------------
@runtime_checkable
class EpochAware(Protocol):
    """A head, loss or sampler that wants to know the epoch (HashNet's beta continuation, sampler reseeding).

    Called by the trainer before each epoch with ``epoch`` counted from 0 and the planned ``epochs``.
    """

    def on_epoch_start(self, epoch: int, epochs: int) -> None: ...


@runtime_checkable
class FeatureMaps(Protocol):
    """A backbone that can stop before its own pooling, so that a ``pooling`` section can replace it.

    ``forward_features(images)`` returns ``(B, feature_channels, h, w)``. The model calls it instead of the
    backbone's ``forward`` when the config names a pooling; the backbone's own pooling and projection are then
    not used.
    """

    feature_channels: int

    def forward_features(self, images: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class RefreshableSampler(Protocol):
    """A sampler that mines the current train embeddings (hard negatives, clusters, distance-driven sampling).

    Every ``refresh_every`` epochs (never before the first epoch, when the model is untrained) the trainer
    embeds the whole train split and calls ``refresh(embeddings)`` with a float32 array ``(N, D)`` whose rows
    follow the train positions the sampler yields. ``refresh_every = 0`` switches it off.
    """

    refresh_every: int

    def refresh(self, embeddings: np.ndarray) -> None: ...


@runtime_checkable
class FeedbackSampler(Protocol):
    """A sampler that learns from each batch (e.g. sampling zero-loss items less often).

    After every training step the trainer calls ``observe(positions, per_sample_losses, embeddings)``:
    the batch's train positions ``(B,)`` int64, each sample's loss ``(B,)`` float32 (from a
    :class:`PerSampleLoss`; NaN where the loss gives none) and the batch's embeddings ``(B, D)`` float32,
    all as NumPy arrays detached from the graph.
    """

    def observe(self, positions: np.ndarray, per_sample_losses: np.ndarray, embeddings: np.ndarray) -> None: ...


@runtime_checkable
class PerSampleLoss(Protocol):
    """A loss that can say how much each sample contributed.

    ``per_sample(embeddings, labels)`` returns a ``(B,)`` tensor whose mean is the loss ``forward`` returns
    (a sample in no triplet or pair gets 0). The trainer calls it, once per step, instead of ``forward``
    and trains on its mean; the values go to a :class:`FeedbackSampler` and to the training diagnostics.
    """

    def per_sample(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class CodeKind(Protocol):
    """A head or indexer that says what kind of code it makes: ``"float"`` or ``"binary"`` (leaderboard cost columns).

    A binary head binarises in ``encode(features)`` to exactly +-1.
    """

    code_kind: str


@runtime_checkable
class StoredSize(Protocol):
    """An indexer that knows, after ``build``, how many bytes it stores per gallery item."""

    bytes_per_item: int


@runtime_checkable
class Encoder(Protocol):
    """A head whose indexed output differs from its training output (a hash head's sign(.))."""

    def encode(self, features: torch.Tensor) -> torch.Tensor: ...
