"""The folder bench works in: competitions/, submissions/, leaderboards/, runs/, studies/."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import WorkspaceError

ROOT_ENV = "BENCH_ROOT"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str, what: str = "name") -> str:
    """Refuse names that could escape the workspace or break file names ('../x', '/etc', 'a b')."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise WorkspaceError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' and '-' (no path separators or '..')"
        )
    return name


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def from_env(cls, root: str | os.PathLike | None = None) -> Workspace:
        """``root`` if given, else ``$BENCH_ROOT``, else the current directory."""
        chosen = root or os.environ.get(ROOT_ENV) or os.getcwd()
        path = Path(chosen).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise WorkspaceError(f"workspace root {path} is not a folder")
        return cls(path)

    def _folder(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def competitions(self) -> Path:
        return self._folder("competitions")

    @property
    def runs(self) -> Path:
        return self._folder("runs")

    @property
    def studies(self) -> Path:
        return self._folder("studies")

    @property
    def leaderboards(self) -> Path:
        return self._folder("leaderboards")

    def competition_dir(self, competition: str) -> Path:
        return self._folder("competitions", check_name(competition, "competition name"))

    def submissions_dir(self, competition: str) -> Path:
        return self._folder("submissions", check_name(competition, "competition name"))

    def submission_path(self, competition: str, submission_id: str) -> Path:
        return self.submissions_dir(competition) / f"{check_name(submission_id, 'submission id')}.csv"

    def leaderboard_path(self, competition: str) -> Path:
        return self.leaderboards / f"{check_name(competition, 'competition name')}.csv"

    def run_dir(self, submission_id: str) -> Path:
        return self._folder("runs", check_name(submission_id, "submission id"))
