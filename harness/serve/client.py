"""``bench submit FILE --server URL``: upload a submission to a ``bench serve`` host (standard library only)."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from harness import settings
from harness.errors import ServerError, SubmissionError

TIMEOUT_S = 300  # scoring a large submission on the host takes a while


def submit_remote(server: str, competition: str, file: str | Path, token: str) -> dict[str, Any]:
    """Upload ``file`` to ``server`` as the token's participant; returns the server's JSON answer.

    Raises SubmissionError (with the server's problems and line numbers) for an invalid file and
    ServerError for any other refusal.
    """
    path = Path(file)
    if not path.is_file():
        raise SubmissionError(f"submission file {path} " + ("is not a file" if path.exists() else "does not exist"))
    if not token:
        raise ServerError(
            f"no token: set {settings.TOKEN} to the token the host made with `bench serve token add NAME`"
        )
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SubmissionError(f"cannot read submission file {path}: {exc.strerror or exc}") from None
    body, content_type = _multipart("file", path.name, content)
    url = f"{_base(server)}/api/competitions/{urllib.parse.quote(competition, safe='')}/submissions"
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/json")
    return _send(request, server)


def _send(request: urllib.request.Request, server: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read().decode("utf-8"))
        except ValueError:
            answer = {}
        message = answer.get("error") or f"the server answered {exc.code} {exc.reason}"
        if answer.get("problems"):
            raise SubmissionError(message, answer["problems"], answer.get("problem_count")) from None
        raise ServerError(f"{server}: {message}", exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerError(f"cannot reach the bench server at {server}: {reason}") from None


def _base(server: str) -> str:
    parsed = urllib.parse.urlparse(server)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ServerError(f"--server must be an http(s) address such as http://host:8000, got {server!r}")
    return server.rstrip("/")


def _multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "bench-" + secrets.token_hex(16)
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
