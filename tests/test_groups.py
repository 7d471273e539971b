"""Seed groups, the two-level bootstrap, rank bands, `leaderboard --by group / --metric`, `compare` and the
environment fingerprint, on a tiny competition written into the workspace (no training)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_toy_competition

from harness.fingerprint import FIELDS, differences, environment
from harness.scoring.statistics import rank_bands, summarise_seeds, two_level_bootstrap
from harness.scoring.submission import write_submission

GALLERY = [(f"g{i:02d}", i % 3) for i in range(12)]
QUERIES = [(f"q{i:02d}", i % 3, i % 2) for i in range(30)]


@pytest.fixture
def toy(workspace):
    """competitions/toy: 30 queries (half public) and 12 gallery items in 3 classes; metric map@4."""
    return write_toy_competition(workspace, GALLERY, QUERIES)


def noisy_submission(path, wrong_share: float, seed: int):
    """Each query's list starts with a wrong item with probability ``wrong_share``."""
    rng = np.random.default_rng(seed)
    by_label = {c: [g for g, label in GALLERY if label == c] for c in range(3)}
    rows = []
    for _, label, _ in QUERIES:
        right, wrong = by_label[label], by_label[(label + 1) % 3]
        rows.append([wrong[0], *right[:3]] if rng.random() < wrong_share else right[:4])
    return write_submission(path, [q for q, _, _ in QUERIES], rows)


def submit_group(ws, tmp_path, config_hash: str, method: str, wrong_share: float, seeds=(0, 1, 2)) -> list[dict]:
    from harness.scoring.submit import submit

    rows = []
    for seed in seeds:
        path = noisy_submission(tmp_path / f"{method}-{seed}.csv", wrong_share, seed + 10 * len(method))
        fields = {"method": method, "seed": seed, "config_hash": config_hash}
        rows.append(submit(ws, "toy", path, fields=fields, submission_id=f"{method}-s{seed}").row)
    return rows


# -- statistics ------------------------------------------------------------------------------------------
def test_rank_bands_follow_the_leader_down_the_board():
    entries = [(0.95, 0.93, 0.97), (0.94, 0.92, 0.96), (0.90, 0.88, 0.925), (0.89, 0.86, 0.91), (0.5, 0.4, 0.6)]
    assert rank_bands(entries) == [1, 1, 2, 2, 3]
    assert rank_bands([(0.9, None, None), (0.8, 0.7, 0.9)]) == [None, 1]
    assert rank_bands([]) == []


def test_two_level_bootstrap_holds_the_seed_spread():
    rng = np.random.default_rng(0)
    base = rng.random(200)
    same = [base, base, base]
    spread = [np.clip(base + shift, 0, 1) for shift in (-0.1, 0.0, 0.1)]
    width_same = np.subtract(*np.percentile(two_level_bootstrap(same, seed=1), [97.5, 2.5]))
    width_spread = np.subtract(*np.percentile(two_level_bootstrap(spread, seed=1), [97.5, 2.5]))
    assert width_spread > 2 * width_same  # seeds that disagree widen the interval
    single = two_level_bootstrap([base], seed=3)
    assert abs(single.mean() - base.mean()) < 0.01 and single.std() == pytest.approx(base.std() / np.sqrt(200), rel=0.2)
    np.testing.assert_array_equal(two_level_bootstrap(spread, seed=5), two_level_bootstrap(spread, seed=5))


def test_seed_summary_is_the_rows_mean_and_sd():
    per_seed = [np.full(50, 0.8), np.full(50, 0.9), np.full(50, 1.0)]
    summary = summarise_seeds([0.8, 0.9, 1.0], per_seed)
    assert summary.n_seeds == 3 and summary.mean == pytest.approx(0.9) and summary.sd == pytest.approx(0.1)
    assert summary.low <= summary.mean <= summary.high and summary.low >= 0.8 - 1e-9 and summary.high <= 1.0 + 1e-9
    one = summarise_seeds([0.7], None)
    assert one.n_seeds == 1 and one.sd is None and one.low is None


# -- the board by group and by metric ---------------------------------------------------------------------
def test_leaderboard_by_group_json(cli, toy, tmp_path):
    strong = submit_group(toy, tmp_path, "aaaa", "strong", 0.05)
    submit_group(toy, tmp_path, "bbbb", "weak", 0.7)
    result = cli("leaderboard", "-c", "toy", "--by", "group", "-f", "json")
    assert result.exit_code == 0, result.stderr
    groups = json.loads(result.stdout)
    assert [g["method"] for g in groups] == ["strong", "weak"]
    top = groups[0]
    assert {"group", "method", "n_seeds", "mean", "sd", "low", "high", "band"} <= set(top)
    assert top["n_seeds"] == 3 and top["group"] == strong[0]["group"] and top["group"].startswith("aaaa-")
    assert top["mean"] == pytest.approx(np.mean([float(r["public"]) for r in strong]))
    assert top["low"] <= top["mean"] <= top["high"] and top["band"] == 1 and groups[1]["band"] == 2
    table = cli("leaderboard", "-c", "toy", "--by", "group")
    assert table.exit_code == 0 and "mean ± sd" in table.stdout and "strong" in table.stdout


def test_rows_carry_group_band_panel_and_environment(cli, toy, tmp_path):
    submit_group(toy, tmp_path, "aaaa", "strong", 0.05, seeds=(0,))
    submit(toy, tmp_path)
    rows = json.loads(cli("leaderboard", "-c", "toy", "-f", "json").stdout)
    assert all("band" in r and "group" in r for r in rows)
    run_row = next(r for r in rows if r["submission_id"] == "strong-s0")
    assert run_row["group"].startswith("aaaa-") and len(run_row["metrics"]) >= 6
    assert {"map@r", "precision@1", "hit@1", "mrr@4", "map@4-found", "r-precision"} <= set(run_row["metrics"])
    assert set(FIELDS) <= set(run_row["env"]) and run_row["env"]["numpy"] == np.__version__
    file_row = next(r for r in rows if r["submission_id"] == "plain")
    assert file_row["group"] == "plain"  # a file from `bench submit` is a group of its own
    env_file = toy.root / "runs" / "strong-s0" / "env.json"
    assert json.loads(env_file.read_text())["numpy"] == np.__version__


def submit(ws, tmp_path):
    from harness.scoring.submit import submit as do_submit

    do_submit(ws, "toy", noisy_submission(tmp_path / "plain.csv", 0.3, 99), submission_id="plain")


def test_leaderboard_by_any_metric(cli, toy, tmp_path):
    submit_group(toy, tmp_path, "aaaa", "strong", 0.05, seeds=(0,))
    submit_group(toy, tmp_path, "bbbb", "weak", 0.7, seeds=(0,))
    result = cli("leaderboard", "-c", "toy", "--metric", "hit@1", "-f", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["method"] for r in rows] == ["strong", "weak"] and rows[0]["metric"] == "hit@1"
    assert rows[0]["score"] == pytest.approx(rows[0]["metrics"]["hit@1"]) and rows[0]["low"] <= rows[0]["score"]
    assert cli("leaderboard", "-c", "toy", "--metric", "precision@3", "-f", "markdown").exit_code == 0
    bad = cli("leaderboard", "-c", "toy", "--metric", "ndcg@3")
    assert bad.exit_code == 1 and "unknown metric 'ndcg@3'" in bad.stderr and "Traceback" not in bad.stderr
    too_long = cli("leaderboard", "-c", "toy", "--metric", "hit@10")
    assert too_long.exit_code == 1 and "at most 4 neighbours" in too_long.stderr


def test_compare_groups_and_submissions_with_a_verdict(cli, toy, tmp_path):
    strong = submit_group(toy, tmp_path, "aaaa", "strong", 0.0)
    weak = submit_group(toy, tmp_path, "bbbb", "weak", 0.9)
    result = cli("compare", strong[0]["group"], weak[0]["group"], "-c", "toy")
    assert result.exit_code == 0, result.stderr
    assert "group of 3 seed(s)" in result.stdout and "verdict: A is better" in result.stdout
    board = {g["group"]: g for g in json.loads(cli("leaderboard", "-c", "toy", "--by", "group", "-f", "json").stdout)}
    for group in (strong[0]["group"], weak[0]["group"]):  # each side's spread over seeds, as the board shows it
        assert f"mean {board[group]['mean']:.4f} ± {board[group]['sd']:.4f}" in result.stdout, result.stdout
    result = cli("compare", "weak-s0", strong[0]["group"], "-c", "toy", "--subset", "all")
    assert "verdict: B is better" in result.stdout and "on 30 all queries" in result.stdout
    result = cli("compare", "strong-s0", "strong-s0", "-c", "toy")
    assert "verdict: no detectable difference" in result.stdout and "+0.0000" in result.stdout
    missing = cli("compare", "strong-s0", "nobody", "-c", "toy")
    assert missing.exit_code == 1 and "no submission or group 'nobody'" in missing.stderr


def test_group_views_do_not_import_torch(toy, tmp_path):
    submit_group(toy, tmp_path, "aaaa", "strong", 0.1)
    code = (
        "import sys\nfrom harness.cli import main\n"
        "for argv in (['leaderboard','-c','toy','--by','group'], ['leaderboard','-c','toy','--metric','map@r']):\n"
        "    sys.argv = ['bench', *argv]\n"
        "    try:\n        main()\n    except SystemExit as exc:\n        assert exc.code == 0, exc.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    env = {**os.environ, "BENCH_ROOT": str(toy.root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# -- environment fingerprint ------------------------------------------------------------------------------
def test_environment_fingerprint_fields_and_differences():
    env = environment(device="cpu model x", threads=2, deterministic=True)
    assert set(env) == set(FIELDS) and env["numpy"] == np.__version__ and env["threads"] == 2
    assert env["python"].count(".") == 2 and env["torch"]  # read from metadata, torch not imported
    other = {**env, "threads": 4, "torch": "0.0"}
    assert differences(env, other) == ["torch: " + env["torch"] + " -> 0.0", "threads: 2 -> 4"]
    assert differences(env, dict(env)) == []
