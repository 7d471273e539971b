"""Shared by the ``bench serve`` tests: a built digits competition with serving rules, tokens, submissions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

RULES = {"daily_submissions": 3, "final_submissions": 2}


def team_toml(deadline: str = "", **rules) -> str:
    lines = ['description = "digits, served to the team"', 'dataset = "digits"', 'salt = "team"']
    lines += [f"{key} = {value}" for key, value in {**RULES, **rules}.items()]
    if deadline:
        lines.append(f'deadline = "{deadline}"')
    return "\n".join(lines) + "\n"


def build_competitions(root: Path) -> None:
    """competitions/team (TOML over digits, 3 a day, 2 finals) and competitions/open (no limits), built."""
    from harness.data.competition import prepare_answers
    from harness.workspace import Workspace

    for name, text in (("team", team_toml()), ("open", team_toml(daily_submissions=0, final_submissions=0))):
        folder = root / "competitions" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "competition.toml").write_text(text)
        prepare_answers(Workspace(root), name)


def write_submission_file(workspace, competition: str, path: Path, quality: float = 1.0) -> Path:
    """A submission whose lists put ``quality`` of the queries' true neighbours first (1: perfect)."""
    from harness.scoring.answers import load_answers
    from harness.scoring.submission import write_submission

    answers = load_answers(workspace, competition)
    rng = np.random.default_rng(int(quality * 1000))
    lists = []
    for label in answers.query_labels:
        right = answers.gallery_ids[answers.gallery_labels == label]
        wrong = answers.gallery_ids[answers.gallery_labels != label]
        good = rng.random() < quality
        lists.append([*(right if good else wrong)[: answers.k]])
    return write_submission(path, [str(q) for q in answers.query_ids], lists)


class LiveServer:
    """uvicorn serving the app in a thread on a free port (for real HTTP clients and the browser)."""

    def __init__(self, app):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token, path: Path, competition: str = "team", filename: str | None = None):
    """POST ``path`` to the submissions API as ``token`` (None: anonymous), under ``filename`` if given."""
    files = {"file": (filename or path.name, path.read_bytes(), "text/csv")}
    headers = bearer(token) if token else {}
    return client.post(f"/api/competitions/{competition}/submissions", files=files, headers=headers)


def csrf_of(page: str) -> str:
    """The CSRF field a signed-in page carries."""
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
