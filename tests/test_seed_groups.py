"""End to end: `bench run --seeds` makes one row per seed and one group; `bench reproduce` reruns a row."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_three_seeds_make_one_group_and_a_rerun_is_identical(cli, isolated_workspace):
    result = cli("run", "--plugin", "hashnet", "--seeds", "0,1,2", "--set", "train.epochs=1", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert "group " in result.stdout and "3 seed(s) on the board" in result.stdout

    rows = json.loads(cli("leaderboard", "-f", "json").stdout)
    assert len(rows) == 3 and sorted(r["seed"] for r in rows) == ["0", "1", "2"]
    assert len({r["group"] for r in rows}) == 1
    for row in rows:
        assert len([v for v in row["metrics"].values() if v is not None]) >= 6
        assert row["env"]["torch"] and row["env"]["device"] and row["env"]["threads"] == 1
    groups = json.loads(cli("leaderboard", "--by", "group", "-f", "json").stdout)
    assert len(groups) == 1
    group = groups[0]
    assert group["n_seeds"] == 3 and group["method"] == "hashnet" and group["group"] == rows[0]["group"]
    assert group["mean"] == pytest.approx(sum(r["public"] for r in rows) / 3)
    assert group["sd"] > 0 and group["low"] <= group["mean"] <= group["high"]

    reproduced = cli("reproduce", rows[0]["submission_id"], "--quiet")
    assert reproduced.exit_code == 0, reproduced.stderr
    assert "identical" in reproduced.stdout
    assert len(json.loads(cli("leaderboard", "-f", "json").stdout)) == 3  # a rerun adds no row


def test_seeds_are_parsed_and_checked_before_any_training(cli, isolated_workspace):
    from harness.cli.run_cmd import parse_seeds

    assert parse_seeds("0-2,7,1", None) == [0, 1, 2, 7]
    for args, message in (
        (["--seeds", "0,x"], "--seeds takes integers"),
        (["--seeds", "0,1", "--seed", "3"], "either --seed or --seeds"),
        (["--seeds", "-1"], "--seeds takes"),
    ):
        result = cli("run", "--plugin", "hashnet", *args)
        assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert not (isolated_workspace / "runs").exists()


def test_reproduce_refuses_what_it_cannot_rerun(cli, workspace, tmp_path):
    assert "is on no leaderboard" in cli("reproduce", "nobody").stderr
    board = workspace.leaderboard_path("digits")
    board.parent.mkdir(parents=True)
    board.write_text("submission_id,method,seed,config_hash\nx1,,,\nx2,hashnet,0,0000\n")
    result = cli("reproduce", "x1")
    assert result.exit_code == 1 and "not made by `bench run`" in result.stderr
    result = cli("reproduce", "x2")
    assert result.exit_code == 1 and "cannot rebuild the config" in result.stderr
