"""``bench serve`` over real HTTP: parallel uploads, ``bench submit --server``, and a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from servekit import LiveServer, build_competitions, team_toml, write_submission_file

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from harness.data.competition import prepare_answers  # noqa: E402
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
    files = [write_submission_file(workspace, "team", tmp_path / f"s{i}.csv", quality=i / 10) for i in range(1, 7)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(lambda file: post(url, "team", tokens["alice"], file).status_code, files))
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
    again = bench("submit", file, "--competition", "team", "--server", url)  # a retry after a lost answer
    assert again.returncode == 0 and "recorded earlier" in again.stdout and row["submission_id"] in again.stdout
    assert "2 of 3 submissions left today" in again.stdout and len(read_rows(workspace.leaderboard_path("team"))) == 1

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


def _browser(playwright):
    executable = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    return playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])


def _shot(page, tmp_path, name):
    """A screenshot beside the test's files (and in $BENCH_SCREENSHOTS, to look at)."""
    folder = Path(os.environ.get("BENCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _sign_in(page, url, token, then):
    page.goto(f"{url}/sign-in?next={then}")
    page.fill("input[name=token]", token)
    page.click("main button[type=submit]")
    page.wait_for_url(f"**{then}")


def _upload(page, file):
    page.set_input_files("#upload input[name=file]", str(file))
    page.click("#upload button[type=submit]")
    page.wait_for_url("**?submitted=*")
    return page.locator("#result").inner_text()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() and not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_a_participant_signs_in_downloads_uploads_and_picks_a_final(live, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    workspace, url, tokens = live
    file = write_submission_file(workspace, "team", tmp_path / "from-the-browser.csv", quality=0.7)
    with sync_api.sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.goto(f"{url}/competitions/team")
            assert page.locator("#empty").inner_text() == "No submissions yet."
            _sign_in(page, url, tokens["carol"], "/competitions/team")
            assert page.locator("#me").inner_text() == "carol"
            result = _upload(page, file)
            (stored,) = read_rows(workspace.leaderboard_path("team"))
            assert f"{float(stored['public']):.4f}" in result and "rank 1" in result and "band 1" in result
            row = page.locator("#leaderboard tbody tr.new")
            assert row.count() == 1 and "carol" in row.inner_text()
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            _shot(page, tmp_path, "board-1280")
            page.click("nav.tabs >> text=My submissions")
            assert page.locator(f"#mine-{stored['submission_id']}").count() == 1
            page.click(f"#mine-{stored['submission_id']} button")  # mark final
            page.click(f"#mine-{stored['submission_id']} a")
            assert page.locator("#final").inner_text() == "yes"
            page.click("text=Unmark as final")
            assert page.locator("#final").inner_text() == "no"
            page.goto(f"{url}/competitions/team/data")
            with page.expect_download() as download:
                page.click("#download")
            saved = tmp_path / "data.zip"
            download.value.save_as(saved)
            assert "team/arrays.npz" in zipfile.ZipFile(saved).namelist()
            page.goto(f"{url}/competitions/team/overview")
            assert "mean average precision" in page.locator("#metric-words").inner_text()
            assert "about 2.0× as wide" in page.locator("#warning").inner_text()  # 50 public queries, not 200
            _shot(page, tmp_path, "overview-1280")
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() and not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_the_ladder_and_a_phone_in_a_browser(live, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    workspace, url, tokens = live
    folder = workspace.root / "competitions" / "ladder"
    folder.mkdir(parents=True)
    (folder / "competition.toml").write_text(team_toml(daily_submissions=0) + 'public_board = "ladder"\n')
    prepare_answers(workspace, "ladder")  # the host's write step (the read paths never split)
    with sync_api.sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            _sign_in(page, url, tokens["dave"], "/competitions/ladder")
            first = _upload(page, write_submission_file(workspace, "ladder", tmp_path / "a.csv", quality=0.5))
            assert "Ladder" not in first
            second = _upload(page, write_submission_file(workspace, "ladder", tmp_path / "b.csv", quality=0.52))
            assert "Ladder: not significantly better" in second
            score = page.locator("#leaderboard tbody tr td.score").first
            box = score.bounding_box()
            assert score.is_visible() and box["x"] + box["width"] <= 390
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            _shot(page, tmp_path, "ladder-390")
        finally:
            browser.close()
