"""Wall time of `bench --help` (and other torch-free commands) next to `python -c pass`.

    python benchmarks/startup.py [--repeat 7]

Prints the median of each and its ratio to the bare interpreter start, and whether torch was
imported. Run from a workspace with a `digits` competition to include `bench leaderboard`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "bench --help": [sys.executable, "-c", "from harness.cli import main; main()", "--help"],
    "bench leaderboard": [sys.executable, "-c", "from harness.cli import main; main()", "leaderboard"],
    "import torch": [sys.executable, "-c", "import torch"],
}


def wall_time(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imports_torch(argv: list[str]) -> bool:
    code = (
        "import sys, runpy; sys.argv = ['bench', *sys.argv[1:]];\n"
        "from harness.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('TORCH=%s' % ('torch' in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv[3:]], capture_output=True, text=True)
    return "TORCH=True" in proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    baseline = wall_time(COMMANDS["python -c pass"], args.repeat)
    print(f"{'command':<20} {'median s':>9} {'x python':>9}  torch imported")
    for label, argv in COMMANDS.items():
        seconds = baseline if label == "python -c pass" else wall_time(argv, args.repeat)
        torch = "-" if not label.startswith("bench") else str(imports_torch(argv))
        print(f"{label:<20} {seconds:9.3f} {seconds / baseline:9.1f}  {torch}")


if __name__ == "__main__":
    main()
