"""Ablate bench's seed triplet recipe against pytorch-metric-learning's, one difference at a time (docs/recipes.md).

    python benchmarks/ablation.py --competition fashion-mnist --epochs 6 --seeds 0,1 --jobs 2 --root /tmp/ablation

Every row is the seed triplet recipe (``triplet-hermans``: batch-hard, Euclidean, P×K with k=8, AdamW 3e-3,
weight decay 1e-4, cosine schedule, mean over the non-zero triplets) with one setting changed, except the last
rows: the new ``triplet`` defaults (several changes at once) with cosine distance and as chosen (Euclidean),
and the ``pml-triplet`` reference recipe. Each
(row, seed) is one `bench run` in --root, named ``ablation:<row>``; rows already on the board for that seed are
skipped, so an interrupted ablation picks up where it stopped. The table (mean ± sd over seeds of public
map@k and knn-accuracy@5, and the change against the seed recipe) is printed as Markdown.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED_RECIPE = "triplet-hermans"
# (row, what differs from the seed recipe, method, --set lines)
ROWS = [
    ("seed recipe", "batch-hard, Euclidean, k=8, AdamW 3e-3, wd 1e-4, cosine schedule", SEED_RECIPE, []),
    ("distance", "loss.distance=cosine", SEED_RECIPE, ["loss.distance=cosine"]),
    ("margin", "loss.margin=0.1", SEED_RECIPE, ["loss.margin=0.1"]),
    ("mining", "loss.mining=semihard", SEED_RECIPE, ["loss.mining=semihard"]),
    ("sampler P×K", "sampler.k=4 (P=8)", SEED_RECIPE, ["sampler.k=4"]),
    ("learning rate", "optim.lr=0.001", SEED_RECIPE, ["optim.lr=0.001"]),
    ("schedule", "optim.schedule=constant", SEED_RECIPE, ["optim.schedule=constant"]),
    ("optimiser", "optim.name=adam, optim.weight_decay=0", SEED_RECIPE, ["optim.name=adam", "optim.weight_decay=0"]),
    ("reduction", "loss.average=all (mean over every triplet)", SEED_RECIPE, ["loss.average=all"]),
    ("bench triplet (cosine)", "the new defaults with loss.distance=cosine", "triplet", ["loss.distance=cosine"]),
    ("bench triplet", "the new defaults: semihard, k=4, Adam 1e-3, no weight decay (Euclidean)", "triplet", []),
    ("bench triplet (k=8)", "the new defaults with sampler.k=8", "triplet", ["loss.distance=euclidean", "sampler.k=8"]),
    ("PML triplet", "TripletMarginLoss(0.2, cosine) + semihard miner, MPerClassSampler m=4, Adam 1e-3",
     "pml-triplet", []),
]  # fmt: skip


def one_run(root: str, competition: str, method: str, sets: list[str], seed: int, name: str) -> tuple[float, float]:
    from harness.pipeline import RunRequest, resolve_run_config, run
    from harness.workspace import Workspace

    started = time.perf_counter()
    cfg = resolve_run_config(method, competition=competition, sets=sets, seed=seed)
    result = run(Workspace.from_env(root), RunRequest(cfg, name=name))
    print(
        f"{name} seed {seed}: public {float(result.row['public']):.4f} ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return result.row["public"], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--competition", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", default="0,1", help="e.g. 0-2 or 0,1")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (each uses one thread)")
    parser.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    parser.add_argument("--root", default=".", help="workspace that receives the submissions and rows")
    args = parser.parse_args()

    from harness.cli.run_cmd import parse_seeds
    from harness.scoring.leaderboard import read_rows
    from harness.workspace import Workspace

    ws = Workspace.from_env(args.root)
    seeds = parse_seeds(args.seeds, None)
    wanted = {r for r in args.rows.split(",") if r}
    rows = [row for row in ROWS if not wanted or row[0] in wanted]
    done = {(r.get("name"), r.get("seed")) for r in read_rows(ws.leaderboard_path(args.competition))}
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(one_run, args.root, args.competition, method, [f"train.epochs={args.epochs}", *sets], seed,
                        f"ablation:{label}")
            for label, _, method, sets in rows
            for seed in seeds
            if (f"ablation:{label}", str(seed)) not in done
        ]  # fmt: skip
        for future in futures:
            future.result()
    print_table(ws, args.competition, rows, seeds)


def print_table(ws, competition: str, rows, seeds) -> None:
    from harness.scoring.groups import row_metrics
    from harness.scoring.leaderboard import read_rows

    board = read_rows(ws.leaderboard_path(competition))
    by_name: dict[str, list[dict]] = {}
    for row in board:
        if row.get("seed") is not None and int(row["seed"]) in seeds:
            by_name.setdefault(row.get("name", ""), []).append(row)
    metric = board[0]["metric"] if board else "map@k"
    seed_recipe = [float(r["public"]) for r in by_name.get(f"ablation:{ROWS[0][0]}", [])]
    base = statistics.fmean(seed_recipe) if seed_recipe else float("nan")
    print(f"| row | what differs from the seed recipe | public {metric}, mean ± sd | Δ vs seed recipe "
          "| knn-accuracy@5 | seeds |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, change, _, _ in rows:
        members = by_name.get(f"ablation:{label}", [])
        if not members:
            continue
        public = [float(r["public"]) for r in members]
        knn = [row_metrics(r).get("knn-accuracy@5") for r in members]
        mean = statistics.fmean(public)
        sd = statistics.stdev(public) if len(public) > 1 else 0.0  # one seed: no spread to show
        knn_text = f"{statistics.fmean(knn):.3f}" if all(v is not None for v in knn) else "—"
        spread = f" ± {sd:.3f}" if len(public) > 1 else ""
        print(f"| {label} | {change} | {mean:.3f}{spread} | {mean - base:+.3f} | {knn_text} | {len(public)} |")


if __name__ == "__main__":
    main()
