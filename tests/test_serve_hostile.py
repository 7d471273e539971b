"""What a participant (or another site) sends to ``bench serve`` cannot act for someone else, hold up the
board, reveal answers or host paths, or leave files behind. Each test failed on the code before its fix."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
from servekit import bearer, build_competitions, csrf_of, team_toml, upload, write_submission_file

starlette = pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from harness.scoring.leaderboard import read_rows  # noqa: E402
from harness.serve.app import create_app  # noqa: E402
from harness.serve.tokens import TokenStore, serve_dir  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.fixture
def served(workspace):
    build_competitions(workspace.root)
    store = TokenStore(workspace)
    tokens = {name: store.add(name) for name in ("alice", "bob")}
    tokens["boss"] = store.add("boss", "host")
    return workspace, TestClient(create_app(workspace)), tokens


def signed_in(client, token) -> str:
    """Sign ``client`` in (cookie) and return the CSRF field its pages carry."""
    client.post("/sign-in", data={"token": token}, follow_redirects=False)
    return csrf_of(client.get("/competitions/team", headers={"accept": "text/html"}).text)


def test_another_site_cannot_upload_or_mark_finals_with_the_cookie(served, tmp_path):
    workspace, client, tokens = served
    file = write_submission_file(workspace, "team", tmp_path / "s.csv")
    sid = upload(client, tokens["alice"], file).json()["submission_id"]
    csrf = signed_in(client, tokens["alice"])
    files = {"file": ("s.csv", file.read_bytes(), "text/csv")}
    evil = {"origin": "http://127.0.0.1:9999"}  # another port of the same host: SameSite lets the cookie through
    assert client.post("/competitions/team/submit", files=files, headers=evil).status_code == 403
    assert client.post("/competitions/team/submit", files=files, data={"csrf": csrf}, headers=evil).status_code == 403
    assert client.post("/competitions/team/submit", files=files).status_code == 403  # no CSRF field
    assert client.post(f"/competitions/team/submissions/{sid}/final", data={"final": "1"}).status_code == 403
    assert client.post("/api/competitions/team/submissions", files=files).status_code == 401  # cookie only
    assert client.post(f"/api/competitions/team/submissions/{sid}/final", json={"final": True}).status_code == 401
    assert len(read_rows(workspace.leaderboard_path("team"))) == 1
    other = write_submission_file(workspace, "team", tmp_path / "t.csv", quality=0.5)
    files = {"file": ("t.csv", other.read_bytes(), "text/csv")}
    ok = client.post("/competitions/team/submit", files=files, data={"csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303 and len(read_rows(workspace.leaderboard_path("team"))) == 2


def test_a_slow_invalid_upload_does_not_hold_up_another(workspace, tmp_path, monkeypatch):
    import harness.scoring.submit as submit_module

    build_competitions(workspace.root)
    slow = tmp_path / "slow.csv"
    slow.write_text("query_id,neighbors\nnope,nope\n")
    good = write_submission_file(workspace, "open", tmp_path / "good.csv")
    validating, release = threading.Event(), threading.Event()
    real = submit_module.validate_submission

    def validate(path, answers):
        if Path(path).read_bytes() == slow.read_bytes():
            validating.set()
            release.wait(30)
        return real(path, answers)

    monkeypatch.setattr(submit_module, "validate_submission", validate)
    failures = []

    def slow_upload():
        try:
            submit_module.submit(workspace, "open", slow, name="mallory")
        except Exception as exc:  # the invalid file is refused, in its own time
            failures.append(exc)

    thread = threading.Thread(target=slow_upload)
    thread.start()
    assert validating.wait(30)
    started = time.monotonic()
    try:
        result = submit_module.submit(workspace, "open", good, name="alice")
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join(30)
    assert result.rank == 1 and waited < 20 and failures and "problem" in str(failures[0])
    assert [r["name"] for r in read_rows(workspace.leaderboard_path("open"))] == ["alice"]


def _host_only_figures(workspace, sid):
    folder = workspace.run_dir(sid) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grid.png").write_bytes(PNG)  # as `bench report` draws it for the host: labels and relevance


def test_figures_before_the_deadline_show_participants_no_labels_or_relevance(served, tmp_path):
    workspace, client, tokens = served
    sid = upload(client, tokens["alice"], write_submission_file(workspace, "team", tmp_path / "s.csv")).json()[
        "submission_id"
    ]
    _host_only_figures(workspace, sid)
    for headers in ({}, bearer(tokens["alice"]), bearer(tokens["bob"])):
        shown = client.get(f"/competitions/team/submissions/{sid}.json", headers=headers).json()["figures"]
        assert "grid.png" not in shown and "class_ap.png" not in shown and "curves.png" in shown
        for name in ("grid.png", "class_ap.png"):
            assert (
                client.get(f"/competitions/team/submissions/{sid}/figures/{name}", headers=headers).status_code == 404
            )
    host = client.get(f"/competitions/team/submissions/{sid}.json", headers=bearer(tokens["boss"])).json()
    assert {"grid.png", "class_ap.png"} <= set(host["figures"])
    row_time = read_rows(workspace.leaderboard_path("team"))[0]["time"]
    (workspace.root / "competitions" / "team" / "competition.toml").write_text(team_toml(deadline=row_time))
    assert client.get(f"/competitions/team/submissions/{sid}/figures/grid.png").status_code == 200


def test_an_anonymous_visit_never_draws_a_report(served, tmp_path):
    import shutil

    workspace, client, tokens = served
    sid = upload(client, tokens["alice"], write_submission_file(workspace, "team", tmp_path / "s.csv")).json()[
        "submission_id"
    ]
    shutil.rmtree(workspace.run_dir(sid) / "report")
    for headers in ({}, bearer(tokens["alice"])):
        assert client.get(f"/competitions/team/submissions/{sid}", headers=headers).status_code == 200
        assert not (workspace.run_dir(sid) / "report").exists()
    client.get(f"/competitions/team/submissions/{sid}", headers=bearer(tokens["boss"]))
    assert (workspace.run_dir(sid) / "report" / "curves.png").is_file()


def _post_without_token(app, chunks: int, chunk: bytes) -> tuple[int, int]:
    """POST an upload of ``chunks`` x ``chunk`` bytes with no token; returns (status, chunks the app read)."""
    read = 0
    status = []

    async def receive():
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < chunks}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/competitions/team/submissions",
        "raw_path": b"/api/competitions/team/submissions",
        "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), (b"host", b"testserver")],
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "http_version": "1.1",
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    return status[0], read


def test_a_request_without_a_token_is_refused_before_its_body_is_read(served):
    workspace, _, _ = served
    status, read = _post_without_token(create_app(workspace), chunks=60, chunk=b"x" * 2**20)
    assert status == 401 and read <= 1


def test_an_upload_that_finishes_scoring_after_the_deadline_says_it_does_not_count(served, tmp_path, monkeypatch):
    from harness.serve import rules

    workspace, client, tokens = served
    (workspace.root / "competitions" / "team" / "competition.toml").write_text(
        team_toml(deadline="2026-01-01T00:00:00Z")
    )
    monkeypatch.setattr(rules, "check_open", lambda spec, now=None: None)  # it arrived just before the deadline
    answer = upload(client, tokens["alice"], write_submission_file(workspace, "team", tmp_path / "s.csv"))
    assert answer.status_code == 201 and "does not count for the private board" in answer.json()["late"]


def test_participants_see_no_host_paths_in_errors(served, tmp_path, monkeypatch):
    from harness.data.answer_store import answers_dir

    workspace, client, tokens = served
    store = answers_dir()
    for entry in (store / "team").iterdir():
        for file in entry.iterdir():
            file.unlink()
    answer = upload(client, tokens["alice"], write_submission_file(workspace, "open", tmp_path / "s.csv"))
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert str(store) not in message and str(workspace.root) not in message and "/" + store.parts[1] not in message


def test_a_killed_server_leaves_no_upload_behind(served):
    workspace, _, _ = served
    inbox = serve_dir(workspace) / "uploads"
    stale = [inbox / "tmpabc123", inbox / "upload-999999999-xyz"]
    for folder in stale:
        folder.mkdir(parents=True)
        (folder / "upload.csv").write_bytes(b"x" * 1000)
    mine = inbox / f"upload-{os.getpid()}-live"
    mine.mkdir()
    create_app(workspace)
    assert not any(folder.exists() for folder in stale) and mine.exists()


def test_the_same_file_again_answers_with_the_row_recorded_before(served, tmp_path):
    """A retry after a lost answer (the server killed after appending, see test_serve_kill) or a deliberate
    resubmission of identical bytes: one row, the same answer on the API and the form, no quota used."""
    workspace, client, tokens = served
    files = [write_submission_file(workspace, "team", tmp_path / f"s{q}.csv", q) for q in (0.3, 0.6, 0.9)]
    made = [upload(client, tokens["alice"], file).json() for file in files]  # all 3 of today's submissions
    again = upload(client, tokens["alice"], files[0])
    assert again.status_code == 200, again.text  # not 429: the daily limit is not asked again for a known file
    answer = again.json()
    assert answer["recorded_earlier"] is True and answer["submission_id"] == made[0]["submission_id"]
    assert answer["row"]["public"] == made[0]["row"]["public"] and answer["rank"] == 3  # its rank now: the worst
    assert "recorded earlier" in answer["note"] and answer["quota"]["used_today"] == 3
    csrf = signed_in(client, tokens["alice"])
    form = {"file": ("renamed.csv", files[1].read_bytes(), "text/csv")}  # the name plays no part, the bytes do
    posted = client.post("/competitions/team/submit", files=form, data={"csrf": csrf}, follow_redirects=False)
    target = posted.headers["location"]
    assert posted.status_code == 303 and made[1]["submission_id"] in target and "earlier=1" in target
    page = client.get(target, headers={"accept": "text/html"}).text
    assert 'id="recorded-earlier"' in page and made[1]["submission_id"] in page
    theirs = upload(client, tokens["bob"], files[0])  # the same bytes from someone else are their own upload
    assert theirs.status_code == 201 and theirs.json()["recorded_earlier"] is False
    assert len(read_rows(workspace.leaderboard_path("team"))) == 4


def test_a_killed_submit_leaves_its_staging_to_the_next(served, tmp_path):
    from harness.scoring.submit import STAGING, submit

    workspace, _, _ = served
    stale = workspace.root / STAGING / "999999999-dead"
    stale.mkdir(parents=True)
    (stale / "x.csv").write_bytes(b"x")
    submit(workspace, "open", write_submission_file(workspace, "open", tmp_path / "s.csv"))
    assert not stale.exists() and not any((workspace.root / STAGING).iterdir())


def test_a_token_name_with_a_newline_is_refused(cli, workspace):
    done = cli("serve", "token", "add", "hank\n")
    assert done.exit_code == 1 and "invalid participant name" in done.output
    assert TokenStore(workspace).participants() == []


def test_every_page_forbids_framing(served):
    _, client, _ = served
    for path in ("/competitions", "/competitions/team", "/competitions/nope", "/static/bench.css"):
        headers = client.get(path).headers
        assert headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in headers["content-security-policy"]
