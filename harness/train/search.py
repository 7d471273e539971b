"""Embed query and gallery (no labels), index the gallery and search its top-k for every query, timed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from harness.components import create_indexer
from harness.config import RunConfig
from harness.data.cutoff import capped_k
from harness.hookspecs import CodeKind, Indexer, StoredSize
from harness.train.embed import EmbedOptions, embed_images

if TYPE_CHECKING:
    import torch
    from rich.progress import Progress

    from harness.data.competition import Images
    from harness.data.spec import CompetitionSpec
    from harness.train.model import RetrievalModel


class Searchable(Protocol):
    """What ``embed_and_search`` reads of a competition: an opened one, or tune's val-as-search view."""

    spec: CompetitionSpec

    def query(self) -> Images: ...

    def gallery(self) -> Images: ...


@dataclass(frozen=True)
class SearchResult:
    """Query and gallery ids, each query's ranked gallery positions (-1: none), and what the search cost."""

    query_ids: np.ndarray
    gallery_ids: np.ndarray
    ranked: np.ndarray  # (Q, k) int64
    ms_per_query: float
    embed_seconds: float
    code_kind: str
    bytes_per_item: int


def embed_and_search(
    model: RetrievalModel, comp: Searchable, cfg: RunConfig, device: torch.device, progress: Progress | None = None
) -> SearchResult:
    """Embed query and gallery (no labels), index the gallery, search k = the competition's k."""
    started = time.perf_counter()
    query, gallery = comp.query(), comp.gallery()
    options = EmbedOptions.of(cfg.train, device)
    query_vectors = embed_images(model, query, options, progress, "query embeddings")
    gallery_vectors = embed_images(model, gallery, options, progress, "gallery embeddings")
    embed_seconds = time.perf_counter() - started
    name, settings = cfg.component("indexer")
    settings.setdefault("device", str(device))  # exact and hamming search where the model ran, unless set
    indexer = create_indexer(name, **settings).build(gallery_vectors)
    k = capped_k(int(comp.spec.k), len(gallery))
    indices, ms_per_query = timed_search(indexer, query_vectors, k)
    return SearchResult(
        query_ids=np.asarray(query.ids),
        gallery_ids=np.asarray(gallery.ids),
        ranked=np.asarray(indices, dtype=np.int64),
        ms_per_query=round(ms_per_query, 4),
        embed_seconds=round(embed_seconds, 3),
        code_kind=indexer.code_kind if isinstance(indexer, CodeKind) else model.code_kind,
        bytes_per_item=int(indexer.bytes_per_item if isinstance(indexer, StoredSize) else gallery_vectors.shape[1] * 4),
    )


WARM_UP_QUERIES = 64


def timed_search(indexer: Indexer, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """The indexer's top-k for ``queries`` and its cost in ms per query, one-off start-up excluded.

    A first, untimed search of a few queries pays what happens once per process (CUDA context and kernel
    loading, thread pools, lazy imports) so that the cost column compares searches, not start-ups."""
    if len(queries):
        indexer.search(queries[:WARM_UP_QUERIES], k)
    started = time.perf_counter()
    _, indices = indexer.search(queries, k)
    return indices, (time.perf_counter() - started) * 1000 / max(len(queries), 1)
