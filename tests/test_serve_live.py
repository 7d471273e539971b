"""``bench serve`` over real HTTP: parallel uploads, ``bench submit --server``, and a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from servekit import LiveServer, build_competitions, write_submission_file

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from harness.scoring.leaderboard import read_rows  # noqa: E402
from harness.serve.app import create_app  # noqa: E402
from harness.serve.tokens import TokenStore  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def live(workspace):
    build_competitions(workspace.root)
    store = TokenStore(workspace)
    tokens = {name: store.add(name) for name in ("alice", "bob", "carol", "dave")}
    with LiveServer(create_app(workspace)) as url:
        yield workspace, url, tokens


def post(url, competition, token, path):
    with open(path, "rb") as handle:
        files = {"file": (path.name, handle.read(), "text/csv")}
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{url}/api/competitions/{competition}/submissions", files=files, headers=headers, timeout=120)


def test_parallel_uploads_lose_nothing(live, tmp_path):
    workspace, url, tokens = live
    files = [write_submission_file(workspace, "open", tmp_path / f"s{i}.csv", quality=i / 10) for i in range(8)]
    jobs = [(tokens[name], files[i]) for i, name in enumerate(["alice", "bob", "carol", "dave"] * 2)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda job: post(url, "open", *job), jobs))
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers if a.status_code != 201]
    ids = {a.json()["submission_id"] for a in answers}
    rows = read_rows(workspace.leaderboard_path("open"))
    assert len(rows) == 8 and {r["submission_id"] for r in rows} == ids
    for answer, (_, file) in zip(answers, jobs):
        sid = answer.json()["submission_id"]
        assert workspace.submission_path("open", sid).read_bytes() == file.read_bytes()
        assert (workspace.run_dir(sid) / "per_query.csv").is_file()


def test_parallel_uploads_never_pass_the_daily_limit(live, tmp_path):
    workspace, url, tokens = live
    file = write_submission_file(workspace, "team", tmp_path / "s.csv", quality=0.5)
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(lambda _: post(url, "team", tokens["alice"], file).status_code, range(6)))
    assert statuses == [201, 201, 201, 429, 429, 429]
    assert len(read_rows(workspace.leaderboard_path("team"))) == 3


def test_bench_submit_to_a_server(live, tmp_path):
    workspace, url, tokens = live
    file = write_submission_file(workspace, "team", tmp_path / "s.csv", quality=0.9)
    elsewhere = tmp_path / "elsewhere"  # another machine: its own (empty) workspace
    elsewhere.mkdir()
    env = {**os.environ, "BENCH_TOKEN": tokens["bob"], "BENCH_ROOT": str(elsewhere)}

    def bench(*args):
        return subprocess.run(
            [sys.executable, "-c", "from harness.cli import main; main()", *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = bench("submit", file, "--competition", "team", "--server", url)
    assert done.returncode == 0, done.stderr
    (row,) = read_rows(workspace.leaderboard_path("team"))
    assert row["name"] == "bob" and row["submission_id"] in done.stdout and "rank 1" in done.stdout
    assert "2 of 3 submissions left today" in done.stdout and not (elsewhere / "leaderboards").exists()

    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,neighbors\nq0,g00 g00\n")
    refused = bench("submit", bad, "--competition", "team", "--server", url)
    local = bench("--root", workspace.root, "validate", bad, "--competition", "team")
    assert refused.returncode == 1 and f"{bad}: line 2: unknown query id 'q0'" in refused.stderr
    problems = [line for line in local.stderr.splitlines() if line.startswith(f"{bad}:")]
    assert problems and all(line in refused.stderr for line in problems)
    assert "Traceback" not in refused.stderr

    env["BENCH_TOKEN"] = "wrong"
    denied = bench("submit", file, "--competition", "team", "--server", url)
    assert denied.returncode == 1 and "token is not valid" in denied.stderr and "Traceback" not in denied.stderr
    unreachable = bench("submit", file, "--competition", "team", "--server", "http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach the bench server" in unreachable.stderr


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() and not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_a_browser_opens_the_leaderboard_uploads_and_sees_its_row(live, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    workspace, url, tokens = live
    file = write_submission_file(workspace, "digits", tmp_path / "from-the-browser.csv", quality=0.7)
    executable = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{url}/competitions/digits")
            assert page.locator("#empty").inner_text() == "No submissions yet."
            page.fill("input[name=token]", tokens["carol"])
            page.set_input_files("input[name=file]", str(file))
            page.click("button[type=submit]")
            page.wait_for_url("**/competitions/digits?submitted=*")
            row = page.locator("#leaderboard tbody tr.new")
            assert row.count() == 1 and "carol" in row.inner_text()
            (stored,) = read_rows(workspace.leaderboard_path("digits"))
            assert stored["submission_id"] in row.inner_text() and stored["name"] == "carol"
            page.click("#leaderboard thead a:has-text('public')")  # a sortable column
            assert "sort=-public" in page.url
            page.click(f"text={stored['submission_id']}")
            assert page.locator("#public").inner_text().startswith(f"{float(stored['public']):.4f}")
            assert page.locator("figure img").count() >= 1
        finally:
            browser.close()
