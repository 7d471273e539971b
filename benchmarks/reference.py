"""Regenerate the README's reference table: every built-in method over several seeds, the pixels floor included.

    python benchmarks/reference.py                          # digits, seeds 0-4, every built-in method
    python benchmarks/reference.py --competition digits-unseen --seeds 0-4 --root /tmp/unseen
    python benchmarks/reference.py --fill-old-rows          # rows from before the differs/budget columns

Each (method, seed) is one `bench run` (a submission and a leaderboard row in --root, default the
current directory); the floor is the built-in `pixels` method (raw pixels, exact cosine search).
The script then prints `bench leaderboard --by group --format markdown`,
the table the README shows. Runs already on the board (same seed and group: config hash and code
commit) are skipped, so an interrupted regeneration picks up where it stopped; at a new commit every
run is made again (delete leaderboards/<competition>.csv and submissions/<competition>/ first to
replace the old rows rather than add to them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.train.isa import pin_for_argv  # noqa: E402

pin_for_argv()  # the reference rows are made under the portable pin, like every `bench run`

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--competition", default="digits")
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,1,2 (at least 5 for the README)")
    parser.add_argument("--methods", default="", help="comma-separated (default: every registered method)")
    parser.add_argument("--root", default=".", help="workspace that receives the submissions and rows")
    parser.add_argument("--set", action="append", default=[], help="section.key=value for every run (a recipe)")
    parser.add_argument("--fill-old-rows", action="store_true", help="fill differs/budget of older rows, then stop")
    args = parser.parse_args()
    if args.fill_old_rows:
        fill_old_rows(args.root, args.competition)
        return

    from harness.cli.run_cmd import parse_seeds
    from harness.components import registry
    from harness.fingerprint import git_commit
    from harness.pipeline import RunRequest, resolve_run_config, run
    from harness.scoring.groups import group_id
    from harness.scoring.leaderboard import read_rows
    from harness.workspace import Workspace

    ws = Workspace.from_env(args.root)
    seeds = parse_seeds(args.seeds, None)
    methods = [m for m in args.methods.split(",") if m] or registry("methods").names()
    board = ws.leaderboard_path(args.competition)
    for method in methods:
        for seed in seeds:
            cfg = resolve_run_config(method, competition=args.competition, sets=args.set, seed=seed)
            done = {(r.get("seed"), r.get("group")) for r in read_rows(board)}
            if (str(seed), group_id(cfg.hash, git_commit())) in done:  # same config, seed and code
                print(f"{method} seed {seed}: already on the board", flush=True)
                continue
            started = time.perf_counter()
            result = run(ws, RunRequest(cfg, name="reference"))
            print(f"{method} seed {seed}: public {float(result.row['public']):.4f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    print_table(ws, args.competition)


def fill_old_rows(root: str, competition: str) -> None:
    """Give rows recorded before the ``differs`` and ``budget`` columns existed what can be proved for them.

    Only a row whose config hash equals its method's defaults under today's code gets ``differs =
    defaults`` (the hash covers every setting, so equality proves it) and the pooling those defaults
    name, and only a row that no study chose gets an untuned budget: its own training seconds on the
    device its fingerprint names. Any other row is left empty.
    """
    import json

    from harness.config import resolve_run_config
    from harness.scoring.budget import budget_cell
    from harness.scoring.leaderboard import rewrite_rows
    from harness.workspace import Workspace

    def fill(row: dict) -> bool:
        if row.get("differs") or row.get("study") or row.get("trial"):
            return False
        defaults = resolve_run_config(row["method"], competition=competition)
        if defaults.hash != row["config_hash"]:
            return False
        device = json.loads(row["env"] or "{}").get("device") or "?"
        row["differs"] = "defaults"
        row["pooling"] = defaults.components.get("pooling", {}).get("name", "")
        row["budget"] = budget_cell(0, 0.0, float(row["train_seconds"]), f"cpu ({device})")
        return True

    path = Workspace.from_env(root).leaderboard_path(competition)
    filled = rewrite_rows(path, fill)
    print(f"{path}: filled differs and budget of {filled} row(s)")


def print_table(ws, competition: str) -> None:
    """The README's table, then what limits a single row's interval (the numbers the README quotes)."""
    from typer.testing import CliRunner

    from harness.cli import app
    from harness.scoring.groups import Scores
    from harness.scoring.leaderboard import read_rows

    result = CliRunner().invoke(
        app, ["--root", str(ws.root), "leaderboard", "-c", competition, "--by", "group", "--format", "markdown"]
    )
    print(result.stdout)
    scores = Scores.open(ws, competition)
    rows = [r for r in read_rows(ws.leaderboard_path(competition)) if r.get("name") == "reference"]
    if not rows:
        return
    half_widths = [(float(r["public_high"]) - float(r["public_low"])) / 2 for r in rows]
    spreads = [float(np.std(scores.public(r), ddof=1)) for r in rows if scores.public(r) is not None]
    n_public = int(np.sum(scores.answers.public))
    needed = (1.96 * np.median(spreads) / 0.01) ** 2
    print(
        f"{len(rows)} reference rows, {n_public} public queries: public 95% interval half-width "
        f"min {min(half_widths):.4f}, median {np.median(half_widths):.4f}, max {max(half_widths):.4f}; "
        f"per-query sd median {np.median(spreads):.3f}, so ±0.01 needs about {needed:,.0f} public queries"
    )


if __name__ == "__main__":
    main()
