"""What a competition is: the spec a ``register_competitions`` factory returns or a TOML file declares."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from harness.data.cutoff import MAX_K, metric_label
from harness.data.splits import protocol_config
from harness.errors import CompetitionError
from harness.metrics import metric_names
from harness.workspace import check_name

DEFAULT_COMPETITION = "digits"
SUBMISSION_FORMATS = ("auto", "csv", "parquet")
# Fields whose change makes an existing manifest wrong for the competition.
BINDING_FIELDS = (
    "dataset",
    "dataset_config",
    "protocol",
    "protocol_config",
    "metric",
    "k",
    "public_fraction",
    "salt",
    "seed",
)
PUBLIC_BOARDS = ("kaggle", "ladder")  # every score shown at once, or only significant improvements


@dataclass(frozen=True)
class CompetitionSpec:
    """What a competition is. ``register_competitions`` factories return one."""

    name: str
    dataset: str
    dataset_config: dict = field(default_factory=dict)
    protocol: str = "seen-classes"
    protocol_config: dict = field(default_factory=dict)
    metric: str = "map@k"
    k: int = 100
    public_fraction: float = 0.3
    salt: str = ""
    seed: int = 0
    description: str = ""
    # Rules of a served competition (``bench serve``); none of them binds the manifest.
    deadline: str = ""  # ISO 8601; private scores show to participants only after it ("" = never)
    daily_submissions: int = 0  # uploads per participant per UTC day (0 = no limit)
    final_submissions: int = 0  # submissions per participant that count for the private board (0 = all)
    public_board: str = "kaggle"  # "ladder": a public score is released only when it beats the best (Blum & Hardt)
    # What `bench run` writes: "auto" (CSV unless huge), "csv" or "parquet" (a few times smaller: boards kept in git)
    submission_format: str = "auto"

    @property
    def metric_label(self) -> str:
        return metric_label(self.metric, self.k)

    def check(self) -> CompetitionSpec:
        check_name(self.name, "competition name")
        if self.metric not in metric_names():
            raise CompetitionError(
                f"competition {self.name!r}: unknown metric {self.metric!r}; use one of {', '.join(metric_names())}"
            )
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise CompetitionError(f"competition {self.name!r}: k must be a positive integer, got {self.k!r}")
        if self.k > MAX_K:  # every submission holds up to (queries x k) ids: bounded, like the memory to read it
            raise CompetitionError(f"competition {self.name!r}: k must be at most {MAX_K:,}, got {self.k:,}")
        for key, kind in (
            ("dataset", str),
            ("protocol", str),
            ("salt", str),
            ("description", str),
            ("dataset_config", dict),
            ("protocol_config", dict),
        ):
            if not isinstance(getattr(self, key), kind):
                raise CompetitionError(
                    f"competition {self.name!r}: {key} must be a {kind.__name__}, got {getattr(self, key)!r}"
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise CompetitionError(f"competition {self.name!r}: seed must be an integer, got {self.seed!r}")
        fraction = self.public_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
            raise CompetitionError(
                f"competition {self.name!r}: public_fraction must be a number in [0, 1], got {fraction!r}"
            )
        for key in ("daily_submissions", "final_submissions"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CompetitionError(
                    f"competition {self.name!r}: {key} must be a whole number >= 0 (0 = no limit), got {value!r}"
                )
        if self.public_board not in PUBLIC_BOARDS:
            raise CompetitionError(
                f"competition {self.name!r}: public_board must be one of {', '.join(PUBLIC_BOARDS)}, "
                f"got {self.public_board!r}"
            )
        if self.submission_format not in SUBMISSION_FORMATS:
            raise CompetitionError(
                f"competition {self.name!r}: submission_format must be one of {', '.join(SUBMISSION_FORMATS)}, "
                f"got {self.submission_format!r}"
            )
        self.deadline_at()
        protocol_config(self.protocol, dict(self.protocol_config))
        return self

    def deadline_at(self) -> datetime | None:
        """The deadline as an aware datetime (a time without a zone is UTC), or None when there is none."""
        if self.deadline == "":
            return None
        try:
            when = datetime.fromisoformat(self.deadline) if isinstance(self.deadline, str) else None
        except ValueError:
            when = None
        if when is None:
            raise CompetitionError(
                f"competition {self.name!r}: deadline must be an ISO 8601 time such as "
                f"'2026-12-31T23:59:00Z', got {self.deadline!r}"
            )
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def canonical(self) -> dict:
        """The fields that bind a manifest, as plain JSON values."""
        return json.loads(json.dumps({k: asdict(self)[k] for k in BINDING_FIELDS}, sort_keys=True))
