"""The answers store (DESIGN section 5): what a participant must not see, kept outside the workspace.

``$BENCH_ANSWERS_DIR`` (default: a per-user data folder, e.g. ``~/.local/share/bench/answers``) holds,
per competition and manifest SHA-256, the full manifest (every item's label and each query's
public/private membership) and the definition the split was made from::

    <store>/<competition>/<manifest_sha256>/manifest.csv      0600, folders 0700
    <store>/<competition>/<manifest_sha256>/definition.json

The key is the SHA-256 of that full manifest: the value every leaderboard row records. The data
layer writes an entry when it splits a competition; only the scorer (harness.scoring.answers) reads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from harness import settings
from harness.atomic import write_atomic
from harness.errors import CompetitionError

ANSWERS_DIR_ENV = settings.ANSWERS_DIR
MANIFEST = "manifest.csv"
DEFINITION = "definition.json"


def answers_dir() -> Path:
    """``$BENCH_ANSWERS_DIR``, else the per-user data folder of this platform."""
    chosen = settings.answers_dir()
    if chosen is not None:
        return chosen
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "bench" / "answers"


def entry_dir(competition: str, manifest_sha256: str) -> Path:
    if len(manifest_sha256) != 64 or any(c not in "0123456789abcdef" for c in manifest_sha256):
        raise CompetitionError(f"competition {competition!r}: {manifest_sha256!r} is not a SHA-256")
    return answers_dir() / competition / manifest_sha256


def store_answers(competition: str, manifest_sha256: str, manifest: bytes, definition: dict) -> Path:
    """Keep the full manifest and its definition, owner-only; an entry already there is left as it is."""
    folder = entry_dir(competition, manifest_sha256)
    if (folder / MANIFEST).is_file() and (folder / DEFINITION).is_file():
        return folder
    try:
        _private_folders(folder)
        write_atomic(folder / DEFINITION, (json.dumps(definition, indent=2, sort_keys=True) + "\n").encode())
        write_atomic(folder / MANIFEST, manifest)  # last: its presence marks a complete entry
    except OSError as exc:
        raise CompetitionError(
            f"cannot write the answers of {competition!r} to {folder}: {exc.strerror or exc}; "
            f"set {ANSWERS_DIR_ENV} to a writable folder"
        ) from None
    return folder


def read_stored(competition: str, manifest_sha256: str) -> tuple[bytes, dict]:
    """(full manifest bytes, definition) of an entry, or CompetitionError saying why there is none."""
    folder = entry_dir(competition, manifest_sha256)
    try:
        data = (folder / MANIFEST).read_bytes()
        definition = json.loads((folder / DEFINITION).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompetitionError(
            f"the answers store ({answers_dir()}) holds no answers for competition {competition!r} with "
            f"manifest {manifest_sha256[:12]}: its competition.json was edited, or it was split under another "
            f"{ANSWERS_DIR_ENV}; `bench competitions show {competition}` rebuilds them from the dataset"
        ) from None
    except (OSError, ValueError) as exc:
        raise CompetitionError(f"cannot read the answers of {competition!r} in {folder}: {exc}") from None
    if not isinstance(definition, dict):
        raise CompetitionError(
            f"the answers of {competition!r} in {folder} are damaged: {DEFINITION} holds a JSON "
            f"{type(definition).__name__}, not an object; delete {folder} and run `bench competitions show "
            f"{competition}` to rebuild it"
        )
    _check_private(folder)
    return data, definition


def split_from_dataset(competition: str) -> bool:
    """Whether the store holds answers of ``competition`` that bench split from a dataset (a definition naming
    one), or an entry it cannot read (counted as such). Reads definitions only: no plugin, no manifest."""
    try:
        entries = [path for path in (answers_dir() / competition).iterdir() if path.is_dir()]
    except FileNotFoundError:
        return False
    except OSError:
        return True
    for entry in entries:
        try:
            definition = json.loads((entry / DEFINITION).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return True
        if not isinstance(definition, dict) or definition.get("dataset") is not None:
            return True
    return False


def _check_private(folder: Path) -> None:
    """Refuse an entry that others can read: its permissions were loosened since bench wrote it 0700/0600."""
    if sys.platform == "win32":
        return
    for path in (folder, folder / MANIFEST, folder / DEFINITION):
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise CompetitionError(
                f"the answers store entry {path} is open to other users (mode {mode:04o}); bench keeps it owner-only: "
                f"run `chmod -R go-rwx {folder}` and check who read it"
            )


def _private_folders(folder: Path) -> None:
    """Create ``folder`` and its parents up to the store root, each readable by its owner only."""
    root = answers_dir()
    chain = [folder, *folder.parents]
    for path in reversed(chain[: chain.index(root) + 1] if root in chain else [folder]):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_uid == os.getuid() if hasattr(os, "getuid") else True:
            path.chmod(0o700)
