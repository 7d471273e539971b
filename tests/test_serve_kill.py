"""kill -9 of ``bench serve`` between "row appended" and "response written": the row stays, the client
hears nothing, and its retry of the same file is told about that row instead of recording a second one.

The server runs as a real process (``bench serve``). The window is made deterministic in that process
only: its ``submit_isolated`` (the trusted scorer, which appends the row) is wrapped to touch a file
and sleep once it returns, so the test kills the server exactly after the append and before any
byte of the response is written.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from servekit import build_competitions, write_submission_file

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from harness.errors import ServerError  # noqa: E402
from harness.scoring.leaderboard import read_rows  # noqa: E402
from harness.scoring.submit import STAGING  # noqa: E402
from harness.serve.client import submit_remote  # noqa: E402
from harness.serve.tokens import TokenStore, serve_dir  # noqa: E402

HANGS_AFTER_APPEND = """
import sys, time
from pathlib import Path
from harness.serve import board
scored, appended = board.submit_isolated, Path(sys.argv[2])
def scored_then_hang(*args, **kwargs):
    result = scored(*args, **kwargs)
    appended.touch()
    time.sleep(600)
board.submit_isolated = scored_then_hang
from harness.cli import main
sys.argv[1:] = ["serve", "--port", sys.argv[1]]
main()
"""
PLAIN = "import sys\nfrom harness.cli import main\nsys.argv[1:] = ['serve', '--port', sys.argv[1]]\nmain()\n"
START_S = 120  # importing the server on a loaded test machine is slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(script: str, port: int, log: Path, *args: str) -> subprocess.Popen:
    with open(log, "ab") as output:
        server = subprocess.Popen(
            [sys.executable, "-c", script, str(port), *args], env=os.environ.copy(), stdout=output, stderr=output
        )
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/competitions.json", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"bench serve did not start on port {port} (exit code {server.poll()}): {log.read_text()}")


def wait_for(path: Path, client: threading.Thread, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        reached = client.is_alive() and time.monotonic() < deadline
        assert reached, f"the server never reached the window: {log.read_text()}"
        time.sleep(0.05)


@pytest.fixture
def team(workspace):
    build_competitions(workspace.root)
    return workspace, TokenStore(workspace).add("alice")


def test_a_server_killed_after_the_row_and_before_the_answer_is_safe_to_retry(team, tmp_path):
    workspace, token = team
    file = write_submission_file(workspace, "team", tmp_path / "s.csv", quality=0.7)
    appended = tmp_path / "row-appended"
    port = free_port()
    log = tmp_path / "serve.log"
    server = start_server(HANGS_AFTER_APPEND, port, log, str(appended))
    heard: list[object] = []
    first = threading.Thread(target=lambda: heard.append(_try_submit(port, file, token)), daemon=True)
    try:
        first.start()
        wait_for(appended, first, log, 300)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        first.join(timeout=60)
    finally:
        server.kill()
    assert isinstance(heard[0], ServerError), heard  # the client got nothing back
    (row,) = read_rows(workspace.leaderboard_path("team"))  # but the row was recorded
    assert row["name"] == "alice"
    assert any((serve_dir(workspace) / "uploads").iterdir())  # and the dead server's temp upload was left

    server = start_server(PLAIN, port, log)
    try:
        answer = submit_remote(f"http://127.0.0.1:{port}", "team", file, token)  # the retry
        headers = {"Authorization": f"Bearer {token}"}
        mine = httpx.get(f"http://127.0.0.1:{port}/competitions/team/mine.json", headers=headers, timeout=60).json()
    finally:
        server.kill()
        server.wait(timeout=30)
    assert len(read_rows(workspace.leaderboard_path("team"))) == 1
    assert answer.get("recorded_earlier") is True and answer["submission_id"] == row["submission_id"]
    assert "recorded earlier" in answer["note"] and answer["rank"] == 1 and answer["band"] is not None
    assert answer["row"]["public"] == pytest.approx(float(row["public"]))
    assert answer["quota"]["used_today"] == 1 and answer["quota"]["remaining_today"] == 2
    assert [r["submission_id"] for r in mine["rows"]] == [row["submission_id"]]
    assert list((workspace.run_dir(row["submission_id"]) / "report").glob("*.png"))  # the figures the kill missed
    assert not any((serve_dir(workspace) / "uploads").iterdir())
    staging = workspace.root / STAGING
    assert not staging.is_dir() or not any(staging.iterdir())


def _try_submit(port: int, file: Path, token: str) -> object:
    try:
        return submit_remote(f"http://127.0.0.1:{port}", "team", file, token)
    except ServerError as exc:
        return exc
