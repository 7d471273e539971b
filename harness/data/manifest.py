"""A competition's two files, and the scorer's door to its answers.

``competitions/<name>/manifest.csv``: ``item_id,label,role,public`` (public is 1/0 for queries,
empty otherwise), one row per used item, sorted by item id, ``\\n`` line endings.
``competitions/<name>/competition.json``: the spec, the manifest's SHA-256, sizes per role and
the dataset's fingerprint. Both are written atomically, once; every later use checks the SHA.

This module imports neither torch nor any plugin: the scorer reads answers through it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import CompetitionError

MANIFEST_FILE = "manifest.csv"
INFO_FILE = "competition.json"
HEADER = "item_id,label,role,public"


@dataclass(frozen=True)
class Manifest:
    """The parsed manifest: parallel arrays, one entry per row."""

    ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int64
    roles: np.ndarray  # (N,) str
    public: np.ndarray  # (N,) bool, False for non-queries


def manifest_bytes(ids, labels, roles, public) -> bytes:
    """The canonical manifest text for rows already in id order."""
    lines = [HEADER]
    for item, label, role, pub in zip(ids, labels, roles, public):
        flag = ("1" if pub else "0") if role == "query" else ""
        lines.append(f"{item},{int(label)},{role},{flag}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_manifest(data: bytes, where: str = MANIFEST_FILE) -> Manifest:
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    header = next(reader, None)
    if header != HEADER.split(","):
        raise CompetitionError(f"{where}: header must be {HEADER}")
    ids, labels, roles, public = [], [], [], []
    for line, row in enumerate(reader, start=2):
        if len(row) != 4:
            raise CompetitionError(f"{where}, line {line}: expected 4 fields, got {len(row)}")
        ids.append(row[0])
        labels.append(int(row[1]))
        roles.append(row[2])
        public.append(row[3] == "1")
    return Manifest(
        np.asarray(ids, dtype=str),
        np.asarray(labels, dtype=np.int64),
        np.asarray(roles, dtype=str),
        np.asarray(public, dtype=bool),
    )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def info_json(info: dict) -> bytes:
    return (json.dumps(info, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_info(folder: Path) -> dict | None:
    path = folder / INFO_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompetitionError(f"cannot read {path}: {exc}; delete the folder to rebuild") from None


def read_checked(folder: Path, info: dict) -> tuple[Manifest, str]:
    """The manifest, refused unless its SHA-256 is the one recorded in competition.json."""
    path = folder / MANIFEST_FILE
    try:
        data = path.read_bytes()
    except OSError:
        raise CompetitionError(f"manifest {path} is missing; delete {folder} to rebuild") from None
    actual, recorded = sha256_bytes(data), str(info.get("manifest_sha256", ""))
    if actual != recorded:
        raise CompetitionError(
            f"manifest {path} changed since it was written (sha {recorded[:12]}, now {actual[:12]}); "
            f"delete {rebuild_hint(folder)} to rebuild"
        )
    return parse_manifest(data, str(path)), actual


def rebuild_hint(folder: Path) -> str:
    """What to delete to rebuild: the folder, unless it holds the competition's own TOML definition."""
    if (folder / "competition.toml").exists():
        return f"{folder / MANIFEST_FILE} and {folder / INFO_FILE}"
    return f"the folder {folder}"


def competition_folder(workspace, name: str) -> Path:
    """``competitions/<name>`` in the workspace, not created."""
    from harness.workspace import check_name

    return Path(workspace.root) / "competitions" / check_name(name, "competition name")
