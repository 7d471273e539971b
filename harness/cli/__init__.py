"""Command line: ``bench``. The only package that prints or exits.

Command modules import heavy libraries (torch) inside their functions, so that ``bench --help``,
``bench leaderboard``, ``bench validate`` and ``bench submit`` start fast.
"""

from harness.cli import (  # noqa: F401  (importing registers the commands)
    compare_cmd,
    competitions_cmd,
    plugins_cmd,
    report_cmd,
    reproduce_cmd,
    run_cmd,
    scoring_cmd,
    serve_cmd,
    tune_cmd,
)
from harness.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
