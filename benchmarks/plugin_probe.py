"""What the import probe and the trusted scorer cost on a start, next to a baseline run alongside.

    python benchmarks/plugin_probe.py [--repeat 5]

Each case loads every plugin in a fresh interpreter (`PluginHost().load()`, what `bench plugins`
and `bench run` do) and prints the median wall time and its ratio to the baseline:

- no third-party plugin (the normal start: no probe runs at all) against the same start with the
  probe turned off (`BENCH_PLUGIN_TIMEOUT=0`);
- one `$BENCH_PLUGINS_DIR` plugin that imports torch like a real loss would, probed (the default)
  against not probed;
- `submit` of a perfect digits submission in-process against the trusted scorer process that
  `bench run` uses after loading plugins.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAD = "from harness.plugins import PluginHost; PluginHost().load()"
PLUGIN = """
import torch
from harness import hookimpl

@hookimpl
def register_losses(register):
    register("bench-probe-l1", torch.nn.L1Loss)
"""
SUBMIT = """
import sys, time
from harness.workspace import Workspace
from harness.scoring import submit
from harness.data.competition import open_competition
ws = Workspace.from_env()
comp = open_competition(ws, "digits")
from harness.scoring.answers import load_answers
from harness.scoring.submission import write_submission
answers = load_answers(ws, "digits")
gallery = {}
for gid, label in zip(answers.gallery_ids.tolist(), answers.gallery_labels.tolist()):
    gallery.setdefault(label, []).append(gid)
path = write_submission(ws.root / "perfect.csv", answers.query_ids.tolist(),
                        [gallery[label][:100] for label in answers.query_labels.tolist()])
start = time.perf_counter()
for i in range(int(sys.argv[2])):
    if sys.argv[1] == "here":
        submit.submit(ws, "digits", path)
    else:
        request = {"competition": "digits", "file": str(path), "name": "", "fields": {}, "submission_id": None}
        submit.run_trusted({**request, "root": str(ws.root)})
print((time.perf_counter() - start) / int(sys.argv[2]))
"""


def wall(code: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def paired_medians(code: str, baseline_env: dict, env: dict, repeat: int) -> tuple[float, float]:
    """Medians of baseline and case, run alternately so that a busy machine slows both alike."""
    pairs = [(wall(code, baseline_env), wall(code, env)) for _ in range(repeat)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "BENCH_ROOT": tmp,
            "BENCH_ANSWERS_DIR": str(Path(tmp) / "answers"),
        }
        base.pop("BENCH_PLUGINS_DIR", None)
        folder = Path(tmp) / "plugins"
        folder.mkdir()
        (folder / "probe_l1.py").write_text(PLUGIN)
        with_plugin = {**base, "BENCH_PLUGINS_DIR": str(folder)}
        cases = [
            ("built-in plugins only", {**base, "BENCH_PLUGIN_TIMEOUT": "0"}, base),
            ("plus one directory plugin", {**with_plugin, "BENCH_PLUGIN_TIMEOUT": "0"}, with_plugin),
        ]
        wall(LOAD, base)  # warm the file cache
        title = f"plugin load (median of {args.repeat})"
        print(f"{title:<34} {'no probe':>9} {'probe':>9} {'ratio':>7}")
        for label, baseline_env, probed_env in cases:
            baseline, probed = paired_medians(LOAD, baseline_env, probed_env, args.repeat)
            print(f"{label:<34} {baseline:>8.2f}s {probed:>8.2f}s {probed / baseline:>6.2f}x")
        runs = []
        for where in ("here", "trusted"):
            done = subprocess.run(
                [sys.executable, "-c", SUBMIT, where, str(args.repeat)],
                env=base,
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(float(done.stdout.strip().splitlines()[-1]))
        print(f"{'submit, digits (mean per submit)':<34} {runs[0]:>8.2f}s {runs[1]:>8.2f}s {runs[1] / runs[0]:>6.2f}x")
        print("(columns for submit: in-process, trusted scorer process)")


if __name__ == "__main__":
    main()
