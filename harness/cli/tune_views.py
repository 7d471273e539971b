"""What ``bench tune`` shows: a line per finished trial, a bar over the study, and the summary at the end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from harness.cli.app import console, fmt_number
from harness.cli.tables import mean_sd
from harness.workspace import display_path

if TYPE_CHECKING:
    from rich.progress import Progress

    from harness.tune.request import TrialOutcome, TuneResult
    from harness.tune.verdict import TuneVerdict


class TuneView:
    """One line per finished trial, and one bar over the whole study."""

    STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}

    def __init__(self, progress: Progress | None, quiet: bool, target: int):
        self.progress, self.quiet, self.target, self.task, self.metric = progress, quiet, target, None, "val"

    def start(self, info: dict[str, Any]) -> None:
        if self.quiet:
            return
        console.print(
            f"study [bold]{escape(info['study'])}[/] ({escape(info['method'])} on "
            f"{escape(info['competition'])}) in {escape(info['storage'])}: "
            f"{info['finished']} of {info['n_trials']} trials finished"
        )
        if self.progress is not None:
            self.task = self.progress.add_task(
                "trials", total=self.target, completed=min(info["finished"], self.target)
            )

    def trial_end(self, outcome: TrialOutcome) -> None:
        if self.task is not None:
            for task in list(self.progress.tasks):  # bars a pruned trial's training left behind
                if task.id != self.task:
                    self.progress.remove_task(task.id)
            self.progress.update(self.task, completed=min(outcome.finished, self.target))
        if self.quiet:
            return
        style = self.STYLE.get(outcome.state, "white")
        value = "-" if outcome.value is None else f"{outcome.value:.4f}"
        if outcome.interval is not None:
            value += f" [{outcome.interval[0]:.4f}, {outcome.interval[1]:.4f}]"
        if outcome.values:
            value = " ".join(_short(v) for v in outcome.values)
        params = "  ".join(f"{k}={_short(v)}" for k, v in outcome.params.items())
        note = f"  [dim]{escape(outcome.message)}[/]" if outcome.message and outcome.state != "COMPLETE" else ""
        console.print(
            f"trial {outcome.number:>3}  [{style}]{outcome.state:<8}[/]  val {value}  "
            f"({outcome.seconds:.1f} s)  {escape(params)}{note}"
        )

    def message(self, text: str) -> None:
        if not self.quiet:
            console.print(f"[yellow]{escape(text)}[/]")

    def final_start(self, number: int, sets: dict[str, Any]) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        if not self.quiet:
            seed, of = sets.get("seed", 0), sets.get("of", 1)
            console.print(
                f"training trial {number}'s configuration on seed {seed} ({seed + 1} of {of}), then submitting"
            )


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_tune_summary(result: TuneResult, root: Path, ran: str = "") -> None:
    from rich.table import Table

    counts = result.counts
    ran = ran or f"this worker ran {result.ran_here}"
    console.print(
        f"\n[bold]study {escape(result.study)}[/]: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
        f"{counts['FAIL']} failed"
        + (f", {counts['RUNNING']} running" if counts["RUNNING"] else "")
        + f" (target {result.n_trials}; {ran})"
    )
    if result.front:
        _front(result)
    elif result.best_number is None:
        console.print("no trial completed yet")
    else:
        spread = ""
        if result.best_interval is not None:
            spread = f" [{result.best_interval[0]:.4f}, {result.best_interval[1]:.4f}] over folds"
        console.print(
            f"best: trial [bold]{result.best_number}[/], {escape(result.metric)} [bold]{result.best_value:.4f}[/]"
            + spread
        )
        if result.best_params:
            table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
            table.add_column("parameter")
            table.add_column("best value", justify="right")
            table.add_column("importance", justify="right")
            importances = result.importances or {}
            for name, value in result.best_params.items():
                share = importances.get(name)
                table.add_row(escape(name), escape(_short(value)), "" if share is None else f"{share:.2f}")
            console.print(table)
    if result.importances:
        top = ", ".join(f"{escape(k)} {v:.2f}" for k, v in list(result.importances.items())[:5])
        console.print(f"most important: {top}  [dim]({escape(result.importance_note)})[/]")
    else:
        console.print(f"[dim]parameter importances: {escape(result.importance_note)}[/]")
    console.print(f"stored in {escape(result.storage)}")
    console.print(f"open it with: [bold]{escape(result.dashboard)}[/]")
    if result.runs:
        for run in result.runs:
            row = run.row
            console.print(
                f"submitted [bold]{escape(run.submission_id)}[/] (seed {escape(str(row.get('seed', '')))}) "
                f"{escape(str(row.get('metric', '')))} public [bold]{fmt_number(row.get('public'))}[/] "
                f"[{fmt_number(row.get('public_low'))}, {fmt_number(row.get('public_high'))}], rank "
                f"[bold]{run.rank}[/]; run folder {escape(display_path(run.run_dir, root))}"
            )
        groups = list(dict.fromkeys(str(run.row.get("group", "")) for run in result.runs))
        console.print(
            f"{'one seed group' if len(groups) == 1 else f'{len(groups)} seed groups'} [bold]"
            f"{escape(', '.join(groups))}[/] on the {escape(result.competition)} leaderboard"
        )
    elif result.submit_note:
        console.print(f"[dim]{escape(result.submit_note)}[/]")
    for outcome in result.verdicts or ([result.verdict] if result.verdict is not None else []):
        _verdict(outcome)


VERDICT_STYLE = {"better": "green", "worse": "red", "no detectable difference": "yellow"}
VERDICT_WORDS = {
    "better": "the tuned configuration beats the defaults",
    "worse": "the tuned configuration scores below the defaults",
    "no detectable difference": "the tuned configuration and the defaults cannot be told apart on these seeds",
}


def _verdict(outcome: TuneVerdict) -> None:
    """The tuned group against the default group: ``bench compare``'s numbers and a plain verdict."""
    seeds = ",".join(map(str, outcome.seeds))
    style = VERDICT_STYLE.get(outcome.verdict, "white")
    comparison = outcome.comparison
    if comparison is None:
        console.print(
            f"tuned vs defaults: the best configuration is the method's defaults (group "
            f"{escape(outcome.default_group)}): [bold {style}]{outcome.verdict}[/]"
        )
        return
    console.print(
        f"tuned vs defaults on seeds {seeds} ({comparison.queries} {comparison.subset} queries, "
        f"{escape(comparison.metric)}):\n"
        f"  tuned    {escape(outcome.tuned_group)}  mean {mean_sd(comparison.a_mean, comparison.a_sd)}\n"
        f"  defaults {escape(outcome.default_group)}  mean {mean_sd(comparison.b_mean, comparison.b_sd)}"
        + (f"  (trained now: {len(outcome.trained_defaults)} seed(s))" if outcome.trained_defaults else "")
        + f"\n  tuned - defaults = {comparison.difference:+.4f}, 95% interval [{comparison.low:+.4f}, "
        f"{comparison.high:+.4f}]\n"
        f"  verdict: [bold {style}]{outcome.verdict}[/]: {VERDICT_WORDS[outcome.verdict]}"
        + f"\n  again: bench compare {escape(outcome.tuned_group)} {escape(outcome.default_group)} "
        f"--competition {escape(comparison.competition)}"
    )


def _front(result: TuneResult) -> None:
    """A multi-objective study's Pareto front: one line per trial, its value under each objective."""
    from rich.table import Table

    console.print(f"Pareto front: {len(result.front)} trial(s) ({', '.join(map(escape, result.objectives))})")
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("trial", justify="right")
    for name in result.objectives:
        table.add_column(escape(name), justify="right")
    table.add_column("parameters")
    for outcome in result.front:
        params = "  ".join(f"{k}={_short(v)}" for k, v in outcome.params.items())
        table.add_row(str(outcome.number), *(_short(v) for v in outcome.values or []), escape(params))
    console.print(table)
