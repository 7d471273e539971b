"""The hidden answers of a competition: only the scorer reads these labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.manifest import Manifest, competition_folder, read_checked, read_info


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


def answers_from(info: dict, manifest: Manifest, sha: str) -> Answers:
    query, gallery = manifest.roles == "query", manifest.roles == "gallery"
    return Answers(
        competition=str(info["name"]),
        metric=str(info["metric"]),
        k=int(info["k"]),
        query_ids=manifest.ids[query],
        query_labels=manifest.labels[query],
        public=manifest.public[query],
        gallery_ids=manifest.ids[gallery],
        gallery_labels=manifest.labels[gallery],
        manifest_sha256=sha,
    )


def load_answers(workspace, name: str) -> Answers:
    """The hidden answers, from the competition's two files alone (no plugins, no torch once built)."""
    folder = competition_folder(workspace, name)
    info = read_info(folder)
    if info is None:
        from harness.data.competition import open_competition  # builds the manifest: loads plugins

        open_competition(workspace, name)
        info = read_info(folder) or {}
    manifest, sha = read_checked(folder, info)
    return answers_from(info, manifest, sha)
