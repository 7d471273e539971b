"""The hidden answers of a competition: only the scorer reads these labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Answers:
    """Everything needed to validate and score a submission, loaded from the manifest.

    ``metric`` is one of ``map@k``, ``precision@k``, ``recall@k``, ``hit@k``, ``map@r``;
    ``k`` is the cut-off (and the most neighbours a submission may list per query).
    """

    competition: str
    metric: str
    k: int
    query_ids: np.ndarray  # (Q,) str
    query_labels: np.ndarray  # (Q,) int64
    public: np.ndarray  # (Q,) bool
    gallery_ids: np.ndarray  # (G,) str
    gallery_labels: np.ndarray  # (G,) int64
    manifest_sha256: str

    @property
    def metric_label(self) -> str:
        """The metric as shown to users, e.g. ``map@100``."""
        return self.metric.replace("@k", f"@{self.k}")
