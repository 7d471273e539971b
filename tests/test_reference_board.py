"""The shipped reference board is a test: one seed-0 row per built-in method reruns to the same bytes.

Each row of leaderboards/digits.csv is retrained in a scratch workspace by `bench reproduce` in a
fresh process (the portable pin of harness.train.isa applies before torch loads, as for any user) and its
submission file must be byte for byte the shipped one. A change that moves training results cannot
land without regenerating the board in the same commit (`python benchmarks/reference.py`).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.train.isa import PINS

REPO = Path(__file__).resolve().parents[1]
BOARD = REPO / "leaderboards" / "digits.csv"


def seed_zero_rows() -> list[dict[str, str]]:
    if not BOARD.is_file():
        return []
    with BOARD.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    first: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.get("seed") == "0" and row.get("method"):
            first.setdefault(row["method"], row)
    return list(first.values())


@pytest.mark.slow
@pytest.mark.parametrize("row", seed_zero_rows(), ids=lambda row: row["method"])
def test_a_shipped_row_reruns_to_the_same_bytes(row, tmp_path):
    workspace = tmp_path / "workspace"
    (workspace / "leaderboards").mkdir(parents=True)
    shutil.copyfile(BOARD, workspace / "leaderboards" / BOARD.name)
    with BOARD.open(newline="", encoding="utf-8") as handle:
        group = [other for other in csv.DictReader(handle) if other.get("group") == row.get("group")]
    for member in group:  # the row's seed group: reproduce sets the rerun against it
        target = workspace / member["submission_path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / member["submission_path"], target)
    env = {key: value for key, value in os.environ.items() if key not in PINS}  # bench pins, not the test
    env.update(BENCH_ANSWERS_DIR=str(tmp_path / "answers"), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "--root", str(workspace), "reproduce", row["submission_id"], "-q"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "identical" in done.stdout, (
        f"{row['submission_id']} ({row['method']}, public {row['public']}) no longer reruns to its shipped "
        f"file: regenerate the board with benchmarks/reference.py in the same commit\n{done.stdout}{done.stderr}"
    )


def test_the_board_has_a_row_for_every_method():
    from harness.components import registry

    assert {row["method"] for row in seed_zero_rows()} == set(registry("methods").names())


@pytest.mark.parametrize("board", sorted((REPO / "leaderboards").glob("*.csv")), ids=lambda path: path.stem)
def test_every_shipped_row_says_what_differs_from_its_defaults_and_its_budget(board):
    from harness.config import resolve_run_config
    from harness.scoring.budget import read_budget

    with board.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        assert row.get("differs") and read_budget(row.get("budget")) is not None, row["submission_id"]
        if row["differs"] == "defaults":  # a claim the config hash can check
            assert resolve_run_config(row["method"], competition=board.stem).hash == row["config_hash"]
