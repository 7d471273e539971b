"""Submission files at scale: ``bench validate`` and ``bench submit`` wall time and peak memory.

    python benchmarks/submission.py [--queries 100000 --gallery 440000 --k 100]
                                    [--hashing-queries 1000 --hashing-gallery 54000] [--skip-line-reader]
                                    [--repeats 5] [--csv-only]

Two synthetic competitions are written into a temporary workspace (manifest + definition, as
``bench competitions`` would leave them), with seeded random labels and rankings:

1. a 100,000-query x 100-neighbour CSV (440,000 gallery items): ``bench validate`` (goal <= 3 s)
   and ``bench submit`` (goal <= 5 s wall, <= 1 GB peak), each a fresh process, as a user runs
   them. Baselines in the same run: the line-by-line reader bench used before (still its
   fall-back), and the bare pyarrow floor (read_csv + split_pattern + index_in, no checks). And the
   first ``bench validate`` of a workspace from before the answers store, which moves the ~540,000
   answers into the store first (goal <= 1 GB), into an empty store and into one already holding them.
2. a cifar10-hashing-sized submission (1,000 queries ranking all 54,000 gallery items): written
   by bench (Parquet above 10 million ids), validated and submitted; goal <= 30 s in all and
   <= 2 GB peak.
3. a file with one 50 MB line: its memory over a 2-line file (goal: well under 600 MB).
4. the id lookup alone, on one thread: bench's IdIndex against pyarrow's ``index_in`` on the same
   blocks of neighbour ids (results checked equal).

Validate and submit of the CSV run twice over: as shipped, and with pyarrow's ``index_in`` in place
of bench's IdIndex (the same readers, only the id lookup differs), printed side by side with their
ratios. Peak MB is the child process's maximum resident set and CPU s its user + system time
(``wait4``, what ``/usr/bin/time -v`` reports). Validate, submit and the pyarrow floor run
--repeats times each, taking turns, and the medians are kept (a shared machine's load comes and goes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_competition(workspace: Path, name: str, queries: int, gallery: int, k: int, classes: int, seed: int):
    """competitions/<name>/ with a manifest holding every label (a workspace from before the answers store),
    its answers moved into the store; returns ids. The folder as written is kept in ``unmoved/`` beside it."""
    rng = np.random.default_rng(seed)
    query_ids = np.char.add(f"{name}-q", np.arange(queries).astype(str))
    gallery_ids = np.char.add(f"{name}-g", np.arange(gallery).astype(str))
    lines = ["item_id,label,role,public"]
    lines += [f"{g},{c},gallery," for g, c in zip(gallery_ids.tolist(), rng.integers(0, classes, gallery).tolist())]
    lines += [
        f"{q},{c},query,{p}"
        for q, c, p in zip(
            query_ids.tolist(), rng.integers(0, classes, queries).tolist(), (rng.random(queries) < 0.5).astype(int)
        )
    ]
    data = ("\n".join([lines[0], *sorted(lines[1:])]) + "\n").encode()
    folder = workspace / "competitions" / name
    folder.mkdir(parents=True)
    (folder / "manifest.csv").write_bytes(data)
    info = {"name": name, "metric": "map@k", "k": k, "manifest_sha256": hashlib.sha256(data).hexdigest()}
    (folder / "competition.json").write_text(json.dumps(info))
    shutil.copytree(folder, workspace / "unmoved" / name)
    from harness.data.competition import prepare_answers
    from harness.workspace import Workspace

    prepare_answers(Workspace(workspace), name)  # answers into the store now: no run below pays for the move
    return query_ids, gallery_ids


def random_ranking(queries: int, gallery: int, k: int, seed: int) -> np.ndarray:
    """Distinct gallery positions per row (a shifted random pattern: cheap to draw at any size)."""
    rng = np.random.default_rng(seed)
    pattern = np.stack([rng.choice(gallery, k, replace=False) for _ in range(min(queries, 64))])
    return (pattern[np.arange(queries) % len(pattern)] + np.arange(queries)[:, None] * 7919) % gallery


def medians(repeats: int, commands: dict[str, list[str]], env: dict) -> dict[str, dict]:
    """Each command run ``repeats`` times, the commands taking turns (a load that comes and goes hits
    them alike); per command the median seconds and peak MB, the runs' seconds, and the worst exit code."""
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            runs[name].append(timed(argv, env))
    return {
        name: {
            "seconds": float(np.median([r["seconds"] for r in rs])),
            "cpu": float(np.median([r["cpu"] for r in rs])),
            "peak_mb": float(np.median([r["peak_mb"] for r in rs])),
            "code": max(r["code"] for r in rs),
            "all": [r["seconds"] for r in rs],
        }
        for name, rs in runs.items()
    }


def timed(argv: list[str], env: dict, quiet: bool = False) -> dict:
    """Run a command; its wall seconds, peak resident MB and exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 and not quiet:
        print(f"  {' '.join(argv[-4:])} exited {proc.returncode}: {(err or out).strip()[-500:]}")
    cpu = usage.ru_utime + usage.ru_stime  # what a loaded machine inflates least: the work, not the wait
    return {"seconds": seconds, "cpu": cpu, "peak_mb": usage.ru_maxrss / 1024, "code": proc.returncode}


def first_runs(workspace: Path, name: str, argv: list[str], env: dict, repeats: int) -> dict[str, dict]:
    """``argv`` in fresh copies of the workspace whose answers are still to move into the store (the first
    ``bench validate`` after an upgrade): into an empty store, and into one already holding this competition's
    answers from an earlier workspace. Medians of ``repeats`` runs, each on a fresh copy."""
    runs: dict[str, list[dict]] = {"empty store": [], "earlier answers stored": []}
    for _ in range(repeats):
        for kind, rs in runs.items():
            fresh = workspace / "first-run"
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.copytree(workspace / "unmoved" / name, fresh / "competitions" / name)
            answers = fresh / "answers" if kind == "empty store" else workspace / "answers"
            rs.append(timed(argv, {**env, "BENCH_ROOT": str(fresh), "BENCH_ANSWERS_DIR": str(answers)}))
    return {kind: {**{key: float(np.median([r[key] for r in rs])) for key in ("seconds", "cpu", "peak_mb")},
                   "code": max(r["code"] for r in rs)} for kind, rs in runs.items()}  # fmt: skip


def python_step(code: str, env: dict) -> dict:
    return timed([sys.executable, "-c", code], env)


LINE_READER = """
from harness.scoring.answers import load_answers
from harness.scoring.submission_lines import validate_lines
from harness.workspace import Workspace
import numpy as np, os
a = load_answers(Workspace(os.environ["BENCH_ROOT"]), {name!r})
q = dict(zip(map(str, a.query_ids.tolist()), range(len(a.query_ids))))
g = dict(zip(map(str, a.gallery_ids.tolist()), range(len(a.gallery_ids))))
assert validate_lines({path!r}, a, q, g).ok
"""

# bench's CLI with pyarrow's index_in in place of the hand-written IdIndex (a fresh value-set hash
# table per block of ids): the same readers and checks, only the id lookup differs.
WITH_INDEX_IN = """
import harness.scoring.submission_columnar as columnar
from harness.data.arrow import to_numpy

class IndexIn:
    def __init__(self, ids):
        self.ids = ids

    def positions(self, values):
        return to_numpy(columnar.pc.index_in(values, value_set=self.ids)).astype("int64")

columnar.IdIndex = IndexIn
from harness.cli import main
main()
"""

PYARROW_FLOOR = """
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pv
from harness.scoring.answers import load_answers
from harness.workspace import Workspace
import os
a = load_answers(Workspace(os.environ["BENCH_ROOT"]), {name!r})
gallery = pa.array(a.gallery_ids.tolist(), type=pa.string())
table = pv.read_csv({path!r})
tokens = pc.list_flatten(pc.split_pattern(table.column("neighbors"), pattern=" "))
assert pc.index_in(tokens, value_set=gallery).null_count == 0
"""

ID_LOOKUP = """
import time, numpy as np, pyarrow.compute as pc, pyarrow.csv as pv, os
from pathlib import Path
from harness.data.arrow import pyarrow, strings, to_numpy
from harness.scoring.answers import load_answers
from harness.scoring.id_index import IdIndex
from harness.scoring.submission_columnar import block_bytes
from harness.workspace import Workspace
pa = pyarrow()
a = load_answers(Workspace(os.environ["BENCH_ROOT"]), {name!r})
gallery = strings(a.gallery_ids)
size = Path({path!r}).stat().st_size
options = pv.ReadOptions(skip_rows=1, column_names=["query_id", "neighbors"], block_size=block_bytes(size))
batches = pv.open_csv({path!r}, read_options=options)
blocks = [pc.list_flatten(pc.split_pattern(b.column(1), pattern=" ")) for b in batches]
start = time.perf_counter()
index = IdIndex(gallery)
ours = [index.positions(tokens) for tokens in blocks]
middle = time.perf_counter()
theirs = [to_numpy(pc.index_in(tokens, value_set=gallery)) for tokens in blocks]
end = time.perf_counter()
assert all((x == y).all() for x, y in zip(ours, theirs))
print(middle - start, end - middle, sum(map(len, blocks)), len(blocks))
"""

WRITE = """
import numpy as np
from harness.scoring.answers import load_answers
from harness.scoring.submission import submission_suffix, write_ranked
from harness.workspace import Workspace
import os, sys
sys.path.insert(0, {bench!r})
from submission import random_ranking
a = load_answers(Workspace(os.environ["BENCH_ROOT"]), {name!r})
ranked = random_ranking(len(a.query_ids), len(a.gallery_ids), {k}, 1)
path = {stem!r} + submission_suffix(*ranked.shape)
write_ranked(path, a.query_ids, a.gallery_ids, ranked)
print(path)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--gallery", type=int, default=440_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--hashing-queries", type=int, default=1_000)
    parser.add_argument("--hashing-gallery", type=int, default=54_000)
    parser.add_argument("--skip-line-reader", action="store_true", help="leave out the slow line-by-line baseline")
    parser.add_argument("--repeats", type=int, default=5, help="runs of validate, submit and the floor; medians kept")
    parser.add_argument("--csv-only", action="store_true", help="only the 100,000 x 100 CSV steps and the id lookup")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-submission-") as tmp:
        ws = Path(tmp)
        # the answers store in the temporary folder too: nothing is left in the user's
        os.environ["BENCH_ANSWERS_DIR"] = str(ws / "answers")
        env = {**os.environ, "BENCH_ROOT": str(ws), "PYTHONPATH": str(ROOT)}
        bench = [sys.executable, "-c", "from harness.cli import main; main()"]  # what the bench script runs
        rows = []

        query_ids, gallery_ids = make_competition(ws, "big", args.queries, args.gallery, args.k, 1000, 0)
        from harness.scoring.submission import write_ranked

        csv_file = write_ranked(ws / "big.csv", query_ids, gallery_ids, random_ranking(args.queries, args.gallery,
                                                                                          args.k, 1))  # fmt: skip
        size = csv_file.stat().st_size / 2**20
        label = f"{args.queries:,} x {args.k} CSV ({size:.0f} MB)"
        print(label, "...", flush=True)
        ours_cli, theirs_cli = bench, [sys.executable, "-c", WITH_INDEX_IN]
        floor_cli = [sys.executable, "-c", PYARROW_FLOOR.format(name="big", path=str(csv_file))]
        csv_args = [str(csv_file), "-c", "big"]
        timings = medians(
            args.repeats,
            {
                "validate": [*ours_cli, "validate", *csv_args],
                "validate, index_in": [*theirs_cli, "validate", *csv_args],
                "submit": [*ours_cli, "submit", *csv_args],
                "submit, index_in": [*theirs_cli, "submit", *csv_args],
                "floor": floor_cli,
            },
            env,
        )
        validate = timings["validate"]
        rows += [
            (f"bench validate, {label}", validate, "<= 3 s"),
            ("  the same, pyarrow index_in for IdIndex", timings["validate, index_in"], "<= 3 s"),
            (f"bench submit, {label}", timings["submit"], "<= 5 s, <= 1 GB"),
            ("  the same, pyarrow index_in for IdIndex", timings["submit, index_in"], "<= 5 s, <= 1 GB"),
            ("  pyarrow floor: read_csv + split + index_in", timings["floor"], ""),
        ]
        for kind, first in first_runs(ws, "big", [*ours_cli, "validate", *csv_args], env, args.repeats).items():
            rows.append((f"  first validate (answers moved), {kind}", first, "<= 1 GB"))
        lookup = subprocess.run(
            [sys.executable, "-c", ID_LOOKUP.format(name="big", path=str(csv_file))],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        ours, theirs, tokens, blocks = float(lookup[0]), float(lookup[1]), int(lookup[2]), int(lookup[3])
        if not args.skip_line_reader and not args.csv_only:
            lines = python_step(LINE_READER.format(name="big", path=str(csv_file)), env)
            rows.append(("  line-by-line reader (bench before)", lines, ""))
        if args.csv_only:
            report(rows, timings, (ours, theirs, tokens, blocks))
            return
        tiny, huge = ws / "tiny.csv", ws / "huge-line.csv"
        tiny.write_text(f"query_id,neighbors\n{query_ids[0]},{gallery_ids[0]}\n")
        token = f"{gallery_ids[1]} ".encode()
        with open(huge, "wb") as handle:  # one line of 50 MB
            handle.write(f"query_id,neighbors\n{query_ids[0]},".encode())
            handle.write(token * ((50 << 20) // len(token)) + b"\n")
        small = timed([*bench, "validate", str(tiny), "-c", "big"], env, quiet=True)
        one_line = timed([*bench, "validate", str(huge), "-c", "big"], env, quiet=True)
        small["code"] = one_line["code"] = 0  # both files are wrong on purpose (missing queries, a long line)
        rows += [
            ("bench validate, a 2-line file (the process's own memory)", small, ""),
            ("bench validate, a file with one 50 MB line", one_line, "< 600 MB more"),
        ]

        hq, hg = args.hashing_queries, args.hashing_gallery
        make_competition(ws, "hashing", hq, hg, hg, 10, 2)
        print(f"{hq:,} x {hg:,} (cifar10-hashing-sized) ...", flush=True)
        code = WRITE.format(bench=str(Path(__file__).parent), name="hashing", k=hg, stem=str(ws / "hashing"))
        write = timed([sys.executable, "-c", code], env)
        path = next(ws.glob("hashing.*"))
        h_validate = timed([*bench, "validate", str(path), "-c", "hashing"], env)
        h_submit = timed([*bench, "submit", str(path), "-c", "hashing"], env)
        total = {
            "seconds": write["seconds"] + h_validate["seconds"] + h_submit["seconds"],
            "cpu": write["cpu"] + h_validate["cpu"] + h_submit["cpu"],
            "peak_mb": max(write["peak_mb"], h_validate["peak_mb"], h_submit["peak_mb"]),
            "code": max(write["code"], h_validate["code"], h_submit["code"]),
        }
        name = f"{path.suffix[1:]}, {path.stat().st_size / 2**20:.0f} MB"
        rows += [
            (f"write {hq:,} x {hg:,} ({name})", write, ""),
            ("bench validate, same file", h_validate, ""),
            (f"bench submit, same file (map@{hg})", h_submit, ""),
            ("write + validate + submit", total, "<= 30 s, <= 2 GB"),
        ]

    report(rows, timings, (ours, theirs, tokens, blocks))
    if not args.skip_line_reader:
        print(f"bench validate vs the line-by-line reader: {lines['seconds'] / validate['seconds']:.1f}x faster")
    print(f"the 50 MB line costs {one_line['peak_mb'] - small['peak_mb']:.0f} MB over a 2-line file")


def report(rows: list[tuple[str, dict, str]], timings: dict[str, dict], lookup: tuple) -> None:
    """The table of steps, the CLI with index_in against the CLI with IdIndex, and the bare id lookup."""
    print(f"{'step':<58} {'seconds':>8} {'CPU s':>8} {'peak MB':>8}  goal")
    for what, r, goal in rows:
        failed = "" if r["code"] == 0 else "  (failed)"
        print(f"{what:<58} {r['seconds']:>8.2f} {r['cpu']:>8.2f} {r['peak_mb']:>8.0f}  {goal}{failed}")
    for step in ("validate", "submit"):
        ours, theirs = timings[step], timings[f"{step}, index_in"]
        print(
            f"bench {step}, index_in / IdIndex: {theirs['seconds'] / ours['seconds']:.2f}x time, "
            f"{theirs['cpu'] / ours['cpu']:.2f}x CPU time, "
            f"{theirs['peak_mb'] / ours['peak_mb']:.2f}x peak memory (medians of "
            f"{', '.join(f'{t:.2f}' for t in theirs['all'])} s and {', '.join(f'{t:.2f}' for t in ours['all'])} s)"
        )
    ours, theirs, tokens, blocks = lookup
    print(
        f"id lookup, {tokens:,} neighbour ids in {blocks} blocks, one thread: IdIndex {ours:.2f} s (table built "
        f"once) vs pyarrow index_in {theirs:.2f} s (a table per block): {theirs / ours:.2f}x"
    )


if __name__ == "__main__":
    main()
