"""``cluster-anchor``: anchors near k-means centres of the train embeddings, positives and negatives beyond a radius.

MassImageRetrieval's strategy: "choose anchors near cluster centres, and positives and negatives outside a
given radius" of the anchor, so that every triplet starts from a typical item and pairs it with items the
model has not already pulled next to it.
"""

from __future__ import annotations

import numpy as np

from harness import check_int, hookimpl, require
from plugins.samplers._embedded import distances_from, unit_rows
from plugins.samplers.pk import PKSampler


class ClusterAnchorSampler(PKSampler):
    """P×K batches until the first ``refresh``; then batches of consecutive (anchor, positive, negative) triplets.

    On ``refresh`` the L2-normalised train embeddings are clustered with faiss k-means (``clusters``; 0 = one
    per class) and the ``anchors_per_cluster`` items nearest each centre become the anchors. Each triplet takes
    a random anchor, a random same-class item farther than ``radius`` from it and a random other-class item
    farther than ``radius`` (euclidean on the unit sphere, 0..2); when none is that far, any same-class
    (other-class) item.
    """

    def __init__(
        self,
        labels,
        batch_size: int,
        k: int = 4,
        clusters: int = 0,
        anchors_per_cluster: int = 4,
        radius: float = 0.5,
        refresh_every: int = 1,
        seed: int = 0,
    ):
        super().__init__(labels, batch_size, k, seed)
        self.clusters = check_int("clusters", clusters, 0) or len(self.classes)
        require(self.clusters <= len(self.labels), f"clusters {self.clusters} > {len(self.labels)} training items")
        self.anchors_per_cluster = check_int("anchors_per_cluster", anchors_per_cluster, 1)
        self.refresh_every = check_int("refresh_every", refresh_every, 1)
        require(0 <= radius < 2, f"radius must be in [0, 2) (unit-sphere distance) but got {radius!r}")
        require(len(self.classes) >= 2, "cluster-anchor sampling needs at least 2 classes")
        self.radius = float(radius)
        self.embeddings: np.ndarray | None = None
        self.centres: np.ndarray | None = None
        self.anchors: np.ndarray | None = None

    def refresh(self, embeddings) -> None:
        import faiss

        x = unit_rows(embeddings, len(self.labels))
        kmeans = faiss.Kmeans(x.shape[1], self.clusters, niter=20, seed=self.seed + self.epoch, verbose=False)
        kmeans.cp.min_points_per_centroid = 1  # few items per centre is expected here, not worth a warning
        kmeans.train(np.ascontiguousarray(x, dtype=np.float32))
        self.embeddings, self.centres = x, kmeans.centroids.astype(np.float64)
        nearest = [
            np.argsort(np.linalg.norm(x - c, axis=1), kind="stable")[: self.anchors_per_cluster] for c in self.centres
        ]
        self.anchors = np.unique(np.concatenate(nearest))

    def triplet(self, anchor: int, rng: np.random.Generator) -> list[int]:
        d = distances_from(self.embeddings, anchor)
        same = self.labels == self.labels[anchor]
        positives = np.flatnonzero(same & (d > self.radius))
        if not len(positives):
            positives = np.flatnonzero(same & (np.arange(len(same)) != anchor))
        negatives = np.flatnonzero(~same & (d > self.radius))
        if not len(negatives):
            negatives = np.flatnonzero(~same)
        positive = int(rng.choice(positives)) if len(positives) else anchor
        return [anchor, positive, int(rng.choice(negatives))]

    def _batches(self, rng):
        if self.anchors is None:
            yield from super()._batches(rng)
            return
        for _ in range(len(self)):
            batch: list[int] = []
            while len(batch) < self.batch_size:
                batch += self.triplet(int(rng.choice(self.anchors)), rng)
            yield batch[: self.batch_size]


@hookimpl
def register_samplers(register):
    register(
        "cluster-anchor",
        ClusterAnchorSampler,
        description="Anchors near k-means centres, positives and negatives beyond a radius (MassImageRetrieval)",
    )
