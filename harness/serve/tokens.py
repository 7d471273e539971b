"""Participants' tokens for ``bench serve``: stored as SHA-256 hashes, compared in constant time.

``serve/tokens.json`` in the workspace (owner-only permissions) maps each participant's name to the
hash of their token and their role: ``participant`` or ``host`` (a host sees private scores before
the deadline). A token is shown once, when it is made; only its hash is kept, so a leaked file does
not let anyone submit. Tokens are 32 random bytes, so a plain SHA-256 is as strong as a slow hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.atomic import write_atomic
from harness.errors import WorkspaceError
from harness.workspace import Workspace, check_name

TOKENS_FILE = "tokens.json"
TOKEN_PREFIX = "bench_"
ROLES = ("participant", "host")


@dataclass(frozen=True)
class Participant:
    name: str
    role: str = "participant"
    created: str = ""

    @property
    def is_host(self) -> bool:
        return self.role == "host"


def serve_dir(workspace: Workspace) -> Path:
    """The server's own state: tokens and final selections (``<workspace>/serve``)."""
    return workspace.root / "serve"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """The participants of a workspace and their hashed tokens."""

    def __init__(self, workspace: Workspace):
        self.path = serve_dir(workspace) / TOKENS_FILE

    def _read(self) -> dict[str, dict]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"cannot read the token file {self.path}: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) and "sha256" in v for v in data.values()):
            raise WorkspaceError(f"{self.path} is not a bench token file")
        return data

    def _write(self, data: dict[str, dict]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.path.parent, 0o700)
            write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise WorkspaceError(f"cannot write the token file {self.path}: {exc.strerror or exc}") from None

    def add(self, name: str, role: str = "participant") -> str:
        """Make a token for a new participant; returns the token (the only time it exists in clear)."""
        from filelock import FileLock

        check_name(name, "participant name")
        if role not in ROLES:
            raise WorkspaceError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=30):
            data = self._read()
            if name in data:
                raise WorkspaceError(f"participant {name!r} already has a token; remove it first to make a new one")
            created = datetime.now(UTC).isoformat(timespec="seconds")
            data[name] = {"sha256": token_hash(token), "role": role, "created": created}
            self._write(data)
        return token

    def remove(self, name: str) -> None:
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=30):
            data = self._read()
            if name not in data:
                raise WorkspaceError(f"no participant {name!r}; known: {', '.join(sorted(data)) or 'none'}")
            del data[name]
            self._write(data)

    def participants(self) -> list[Participant]:
        return [
            Participant(n, v.get("role", "participant"), v.get("created", "")) for n, v in sorted(self._read().items())
        ]

    def identify(self, token: str | None) -> Participant | None:
        """The participant whose token this is, or None. Every stored hash is compared, in constant time."""
        if not token:
            return None
        offered = token_hash(token)
        found = None
        for name, entry in self._read().items():
            if hmac.compare_digest(offered, str(entry["sha256"])):
                found = Participant(name, entry.get("role", "participant"), entry.get("created", ""))
        return found
