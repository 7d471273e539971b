"""The hidden answers of a competition, read from the answers store: only the scorer reads these labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.answer_store import read_stored
from harness.data.cutoff import MAX_K, metric_label
from harness.data.manifest import Manifest, checked_bytes, competition_folder, parse_manifest, read_info, sha256_bytes
from harness.data.spec import BINDING_FIELDS
from harness.errors import CompetitionError
from harness.workspace import Workspace


@dataclass(frozen=True)
class Answers:
    """Everything needed to validate and score a submission, loaded from the answers store.

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
        return metric_label(self.metric, self.k)


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


def competition_terms(workspace: Workspace, name: str) -> tuple[str, str] | None:
    """(metric label, manifest SHA-256) every row of the competition must carry; None if it was never
    split in this workspace. Checks competition.json against the definition kept with the answers. Reads only."""
    folder = competition_folder(workspace, name)
    info = read_info(folder)
    if info is None:
        return None
    checked_bytes(folder, info)
    definition = _checked_definition(name, info)
    return metric_label(str(definition["metric"]), definition["k"]), str(info["manifest_sha256"])


def load_answers(workspace: Workspace, name: str) -> Answers:
    """The hidden answers: the store's entry named by competition.json, refused if either was edited.

    Reads only: a competition never split here, or a workspace from before the answers store, is refused;
    ``harness.data.competition.prepare_answers`` is the write step that splits or migrates it."""
    folder = competition_folder(workspace, name)
    info = read_info(folder)
    if info is None:
        raise CompetitionError(
            f"competition {name!r} was never split in {workspace.root}; `bench validate` or `bench run` splits it"
        )
    _, sha = checked_bytes(folder, info)
    definition = _checked_definition(name, info)
    data, _ = read_stored(name, sha)
    if sha256_bytes(data) != sha:
        raise CompetitionError(f"the stored answers of {name!r} were edited (their SHA-256 is not {sha[:12]})")
    return answers_from({**definition, "name": name}, parse_manifest(data, f"answers of {name}"), sha)


def _checked_definition(name: str, info: dict) -> dict:
    """The definition the answers were split under; CompetitionError if competition.json now says otherwise."""
    _, definition = read_stored(name, str(info.get("manifest_sha256", "")))
    changed = [key for key in BINDING_FIELDS if info.get(key) != definition.get(key)]
    if changed:
        shown = ", ".join(f"{key} {info.get(key)!r} (was {definition.get(key)!r})" for key in changed)
        raise CompetitionError(
            f"competitions/{name}/competition.json was edited: {shown}; restore it or delete "
            f"competitions/{name} to split the competition again"
        )
    metric, k = definition.get("metric"), definition.get("k")  # the metric's name is checked when scoring
    if not isinstance(metric, str) or isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise CompetitionError(f"competition {name!r} has metric {metric!r} and k {k!r}; bench cannot score that")
    return definition
