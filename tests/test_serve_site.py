"""The site a remote participant uses (issue 23): overview, sign-in, my submissions, final marks, one
row per participant, group ids, favicon, error pages, and the Ladder public board."""

from __future__ import annotations

import json

import pytest
from servekit import bearer, build_competitions, csrf_of, team_toml, upload, write_submission_file

starlette = pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from harness.scoring.leaderboard import read_rows  # noqa: E402
from harness.serve.app import create_app  # noqa: E402
from harness.serve.tokens import TokenStore  # noqa: E402

HTML = {"accept": "text/html"}


@pytest.fixture
def served(workspace):
    build_competitions(workspace.root)
    store = TokenStore(workspace)
    tokens = {name: store.add(name) for name in ("alice", "bob")}
    tokens["boss"] = store.add("boss", "host")
    return workspace, TestClient(create_app(workspace)), tokens


def add_competition(workspace, name: str, text: str) -> None:
    from harness.data.competition import prepare_answers

    folder = workspace.root / "competitions" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "competition.toml").write_text(text)
    prepare_answers(workspace, name)  # the write step: split it (load_answers only reads)


def sign_in(client, token) -> str:
    answer = client.post("/sign-in", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303 and "bench_token" in answer.headers["set-cookie"]
    return csrf_of(client.get("/competitions/team", headers=HTML).text)


def test_sign_in_and_sign_out(served):
    _, client, tokens = served
    page = client.get("/sign-in", headers=HTML)
    assert page.status_code == 200 and 'name="token"' in page.text and 'type="password"' in page.text
    sign_in(client, tokens["bob"])
    assert 'id="me">bob</b>' in client.get("/competitions", headers=HTML).text
    assert client.post("/sign-out", follow_redirects=False).status_code == 303
    assert "signed in as" not in client.get("/competitions", headers=HTML).text


def test_the_401_page_tells_a_participant_to_sign_in_not_to_run_a_host_command(served):
    _, client, _ = served
    page = client.get("/competitions/team/mine", headers=HTML)
    assert page.status_code == 401 and "/sign-in" in page.text and "bench serve token add" not in page.text
    api = client.post("/api/competitions/team/submissions", headers=bearer("wrong"))
    assert api.status_code == 401 and "bench serve token add" not in api.json()["error"]


def test_an_upload_shows_its_result_at_the_top(served, tmp_path):
    workspace, client, tokens = served
    csrf = sign_in(client, tokens["alice"])
    file = write_submission_file(workspace, "team", tmp_path / "s.csv", quality=0.8)
    files = {"file": ("s.csv", file.read_bytes(), "text/csv")}
    done = client.post("/competitions/team/submit", files=files, data={"csrf": csrf}, headers=HTML)
    text = done.text
    (row,) = read_rows(workspace.leaderboard_path("team"))
    assert done.status_code == 200 and 'id="result"' in text and f"{float(row['public']):.4f}" in text
    assert "rank <b>1</b>" in text and "band 1" in text
    assert text.index('id="upload"') < text.index('id="leaderboard"')  # the form sits above the board


def test_my_submissions_lists_only_mine_and_unmark_really_unmarks(served, tmp_path):
    workspace, client, tokens = served
    ids = [
        upload(client, tokens["alice"], write_submission_file(workspace, "team", tmp_path / f"{q}.csv", q)).json()[
            "submission_id"
        ]
        for q in (0.3, 0.9)
    ]
    upload(client, tokens["bob"], write_submission_file(workspace, "team", tmp_path / "b.csv", 0.5))
    csrf = sign_in(client, tokens["alice"])
    mine = client.get("/competitions/team/mine.json").json()["rows"]
    assert {r["submission_id"] for r in mine} == set(ids)
    final_url = f"/competitions/team/submissions/{ids[0]}/final"
    assert client.post(final_url, data={"final": "1", "csrf": csrf}, follow_redirects=False).status_code == 303
    page = client.get(f"/competitions/team/submissions/{ids[0]}", headers=HTML).text
    assert 'id="final">yes' in page and "Unmark as final" in page
    assert client.post(final_url, data={"final": "0", "csrf": csrf}, follow_redirects=False).status_code == 303
    page = client.get(f"/competitions/team/submissions/{ids[0]}", headers=HTML).text
    assert 'id="final">no' in page and "Mark as final" in page
    data = client.get(f"/competitions/team/submissions/{ids[0]}.json").json()["submission"]
    assert data["final"] is False and data["counts"] is True  # none marked: the best two count, as on Kaggle
    assert 'id="mine-' in client.get("/competitions/team/mine", headers=HTML).text


def test_host_rows_are_not_marked_final(served, tmp_path):
    from harness.scoring.submit import submit

    workspace, client, tokens = served
    for seed in (0, 1):
        submit(workspace, "team", write_submission_file(workspace, "team", tmp_path / f"h{seed}.csv", 0.6))
    rows = client.get("/competitions/team/private.json?all=1", headers=bearer(tokens["boss"])).json()["rows"]
    assert len(rows) == 2 and not any(r["final"] for r in rows) and all(r["counts"] for r in rows)
    page = client.get("/competitions/team/private?all=1", headers={**bearer(tokens["boss"]), **HTML}).text
    assert '<span class="tag">final</span>' not in page


def test_one_best_row_per_participant_with_a_toggle_for_all(served, tmp_path):
    workspace, client, tokens = served
    for q in (0.3, 0.9, 0.6):
        upload(client, tokens["alice"], write_submission_file(workspace, "team", tmp_path / f"{q}.csv", q))
    upload(client, tokens["bob"], write_submission_file(workspace, "team", tmp_path / "b.csv", 0.5))
    best = client.get("/competitions/team.json").json()["rows"]
    assert [r["name"] for r in best].count("alice") == 1 and len(best) == 2
    assert best[0]["public"] == max(float(r["public"]) for r in read_rows(workspace.leaderboard_path("team")))
    assert len(client.get("/competitions/team.json?all=1").json()["rows"]) == 4
    assert 'id="toggle-all"' in client.get("/competitions/team", headers=HTML).text


def test_the_group_id_shown_is_the_one_bench_compare_takes(served, tmp_path):
    from harness.scoring.groups import find_group
    from harness.scoring.submit import submit

    workspace, client, _ = served
    for seed in (0, 1):
        file = write_submission_file(workspace, "open", tmp_path / f"s{seed}.csv", 0.7)
        sid = submit(workspace, "open", file, fields={"config_hash": "abcdef0123456789", "seed": seed}).row[
            "submission_id"
        ]
    page = client.get(f"/competitions/open/submissions/{sid}", headers=HTML).text
    shown = page.split('<code id="group">', 1)[1].split("<", 1)[0]
    assert len(find_group(read_rows(workspace.leaderboard_path("open")), shown)) == 2
    assert f">{shown}</code>" in client.get("/competitions/open?by=group", headers=HTML).text


def test_overview_explains_the_metric_rules_sizes_and_deadline(served):
    workspace, client, _ = served
    (workspace.root / "competitions" / "team" / "competition.toml").write_text(team_toml("2099-01-01T00:00:00Z"))
    page = client.get("/competitions/team/overview", headers=HTML).text
    assert "mean average precision" in page and "3 submissions per participant per UTC day" in page
    assert 'id="countdown"' in page and 'datetime="2099-01-01T00:00:00+00:00"' in page and 'id="sizes"' in page
    assert "/competitions/team/data" in page


def test_a_competition_with_few_public_queries_warns_about_wide_intervals(served):
    workspace, client, _ = served
    add_competition(workspace, "tiny", 'dataset = "digits"\nsalt = "tiny"\n[protocol_config]\nquery = 4\n')
    info = json.loads((workspace.root / "competitions" / "tiny" / "competition.json").read_text())
    warning = client.get("/competitions/tiny/overview.json").json()["warning"]
    assert f"scores {info['public_queries']} queries" in warning and "as wide" in warning
    assert client.get("/competitions/digits/overview.json").json()["warning"] == ""


def test_the_competition_list_says_more_than_names(served, tmp_path):
    workspace, client, tokens = served
    upload(client, tokens["alice"], write_submission_file(workspace, "team", tmp_path / "s.csv"))
    team = next(c for c in client.get("/competitions.json").json()["competitions"] if c["name"] == "team")
    assert team["metric"] == "map@100" and team["submissions"] == 1 and team["best_public"] > 0
    assert team["description"] and team["sizes"]["query"] > 0
    assert "1 submission(s) from 1 participant(s)" in client.get("/competitions", headers=HTML).text


def test_favicon(served):
    _, client, _ = served
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert 'rel="icon"' in client.get("/competitions", headers=HTML).text


def test_the_ladder_releases_only_significant_improvements(served, tmp_path):
    workspace, client, tokens = served
    add_competition(
        workspace,
        "ladder",
        team_toml(daily_submissions=0).replace('salt = "team"', 'salt = "team"\npublic_board = "ladder"'),
    )
    first = upload(
        client, tokens["alice"], write_submission_file(workspace, "ladder", tmp_path / "a.csv", 0.5), "ladder"
    )
    assert first.status_code == 201 and first.json()["held"] is False
    released = first.json()["row"]["public"]
    near = upload(
        client, tokens["alice"], write_submission_file(workspace, "ladder", tmp_path / "b.csv", 0.52), "ladder"
    )
    true_near = float(read_rows(workspace.leaderboard_path("ladder"))[1]["public"])
    assert near.json()["held"] is True and near.json()["row"]["public"] == released != true_near
    assert true_near == pytest.approx(released, abs=0.1)  # a small change: within the interval
    rows = client.get("/competitions/ladder.json?all=1").json()["rows"]
    assert {r["public"] for r in rows} == {released} and any(r["held"] for r in rows)
    true_panel = json.loads(read_rows(workspace.leaderboard_path("ladder"))[1]["metrics"])
    shown_panel = next(r for r in rows if r["held"])["metrics"]
    assert shown_panel == json.loads(read_rows(workspace.leaderboard_path("ladder"))[0]["metrics"]) != true_panel
    assert client.get("/competitions/ladder.json?by=group").status_code == 403  # group means are true scores
    listed = next(c for c in client.get("/competitions.json").json()["competitions"] if c["name"] == "ladder")
    assert listed["best_public"] == released
    page = client.get(f"/competitions/ladder/submissions/{near.json()['submission_id']}", headers=HTML).text
    assert "held by the Ladder" in page and f"{true_near:.4f}" not in page
    better = upload(
        client, tokens["alice"], write_submission_file(workspace, "ladder", tmp_path / "c.csv", 1.0), "ladder"
    )
    true_better = float(read_rows(workspace.leaderboard_path("ladder"))[2]["public"])
    assert better.json()["held"] is False and better.json()["row"]["public"] == pytest.approx(true_better)


def test_the_ladder_step_is_half_the_interval_and_at_least_a_thousandth():
    from harness.serve import ladder

    assert ladder.step({"public_low": "0.4", "public_high": "0.5"}) == pytest.approx(0.05)
    assert ladder.step({"public_low": "0.5", "public_high": "0.5"}) == ladder.MIN_STEP
    rows = [
        {"submission_id": "a", "name": "x", "public": "0.50", "public_low": "0.45", "public_high": "0.55"},
        {"submission_id": "b", "name": "x", "public": "0.54", "public_low": "0.49", "public_high": "0.59"},
        {"submission_id": "c", "name": "x", "public": "0.60", "public_low": "0.55", "public_high": "0.65"},
        {"submission_id": "d", "name": "y", "public": "0.52", "public_low": "0.47", "public_high": "0.57"},
    ]
    shown = ladder.apply(rows)
    assert [r["public"] for r in shown] == ["0.50", "0.50", "0.60", "0.52"]
    assert [r["held"] for r in shown] == [False, True, False, False]


def test_public_board_must_be_kaggle_or_ladder(workspace):
    from harness.data.spec import CompetitionSpec
    from harness.errors import CompetitionError

    with pytest.raises(CompetitionError, match="public_board must be one of kaggle, ladder"):
        CompetitionSpec("x", "digits", public_board="lader").check()
