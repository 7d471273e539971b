"""The folder bench works in: competitions/, submissions/, leaderboards/, runs/, studies/."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness import settings
from harness.errors import WorkspaceError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str, what: str = "name") -> str:
    """Refuse names that could escape the workspace or break file names ('../x', '/etc', 'a b')."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise WorkspaceError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' and '-' (no path separators or '..')"
        )
    return name


def display_path(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """``path`` as shown to users and kept in board rows: relative to ``root`` when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def from_env(cls, root: str | os.PathLike | None = None) -> Workspace:
        """``root`` if given, else ``$BENCH_ROOT``, else the current directory."""
        chosen = root or settings.workspace_root() or os.getcwd()
        path = Path(chosen).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise WorkspaceError(f"workspace root {path} is not a folder")
        return cls(path)

    # Paths only: reading one never creates a folder; whoever writes creates what it needs.
    @property
    def competitions(self) -> Path:
        return self.root / "competitions"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def studies(self) -> Path:
        return self.root / "studies"

    @property
    def leaderboards(self) -> Path:
        return self.root / "leaderboards"

    def competition_dir(self, competition: str) -> Path:
        return self.competitions / check_name(competition, "competition name")

    def submissions_dir(self, competition: str) -> Path:
        return self.root / "submissions" / check_name(competition, "competition name")

    def submission_path(self, competition: str, submission_id: str, suffix: str = ".csv") -> Path:
        """``submissions/<competition>/<submission_id>.csv`` (or ``.parquet``)."""
        return self.submissions_dir(competition) / f"{check_name(submission_id, 'submission id')}{suffix}"

    def leaderboard_path(self, competition: str) -> Path:
        return self.leaderboards / f"{check_name(competition, 'competition name')}.csv"

    def run_dir(self, submission_id: str) -> Path:
        return self.runs / check_name(submission_id, "submission id")


def new_submission_id(prefix: str = "", now: datetime | None = None) -> str:
    """``[<prefix>-]<yyyymmdd-HHMMSS>-<6 hex>`` (UTC): sorts by time, unique without coordination, safe as a
    file name."""
    now = now or datetime.now(UTC)
    stamp = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", prefix).strip(".-")
    return f"{safe}-{stamp}" if safe else stamp
