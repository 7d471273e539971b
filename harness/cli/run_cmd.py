"""``bench run``: train a method, submit its neighbours, score them and print the result."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from harness.cli.app import app, console, err_console, fmt_number, progress_bars, workspace
from harness.cli.report_cmd import print_run_report
from harness.errors import ConfigError
from harness.pipeline import RunHooks, RunRequest, RunResult, discard_orphans, resolve_run_config, run
from harness.scoring.groups import Scores, find_group, row_group, summarise_group
from harness.scoring.leaderboard import read_rows
from harness.train.launch import launch, stop_on_sigterm
from harness.workspace import Workspace, display_path

if TYPE_CHECKING:
    from rich.progress import Progress

    from harness.config import RunConfig
    from harness.train.distributed import Ranks


@app.command("run")
def run_command(
    plugin: Annotated[str, typer.Option("--plugin", "-p", help="Method to run, e.g. hashnet (`bench list methods`).")],
    competition: Annotated[
        str | None, typer.Option("--competition", "-c", help="Competition (default: digits).")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="Override a setting: section.key=value (repeatable).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (above the method's defaults, below --set).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default 0).")] = None,
    seeds: Annotated[
        str | None,
        typer.Option("--seeds", help="Train once per seed, e.g. 0,1,2 or 0-4: one submission and row each, one group."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label shown on the leaderboard.")] = "",
    device: Annotated[
        str | None, typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Train with N processes (DistributedDataParallel through torchrun): one per GPU, or gloo on cpu.",
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log lines only, no progress bars.")] = False,
) -> None:
    """Train METHOD on a competition's train split, submit its top-k neighbours and score them.

    Under torchrun (`torchrun --nproc-per-node 4 -m harness.cli run ...`, one machine or several) every \
process trains its share and rank 0 writes the run, the submission and the leaderboard row.
    """
    from harness.train.distributed import from_environment

    ws = workspace()
    seed_list = [seed] if seeds is None else parse_seeds(seeds, seed)
    sources = {"competition": competition, "config_file": config, "sets": sets or [], "device": device}
    configs = [resolve_run_config(plugin, **sources, seed=each) for each in seed_list]
    ranks = from_environment()  # every config was checked above: a bad one fails before any work
    if nproc != 1:
        argv = ["--root", str(ws.root), "run", "--plugin", plugin, "--name", name]
        for flag, value in (("--competition", competition), ("--config", config), ("--device", device)):
            argv += [flag, str(value)] if value is not None else []
        for item in sets or []:
            argv += ["--set", item]
        argv += ["--quiet"] if quiet else []
        for each, cfg in zip(seed_list, configs, strict=True):
            _launch_ranks(ws, nproc, ranks, cfg, [*argv, "--seed", str(each)] if each is not None else argv)
        return
    results = []
    for cfg in configs:
        with stop_on_sigterm() if ranks.distributed else nullcontext():
            if not ranks.is_main:  # a rank of a distributed run other than 0: it trains, rank 0 speaks
                run(ws, RunRequest(cfg))
                continue
            with progress_bars(quiet) as progress, _logging(progress, quiet):
                result = run(ws, RunRequest(cfg, name=name), RunHooks(progress=progress))
        _summary(result, ws.root)
        results.append(result)
    if len(results) == 1:
        print_run_report(results[0].competition, results[0].submission_id)
    elif results:
        _group_summary(ws, results)


def parse_seeds(text: str, seed: int | None) -> list[int]:
    """``0,1,2`` or ``0-4`` (or both, e.g. ``0-2,7``): distinct non-negative seeds, in order."""

    if seed is not None:
        raise ConfigError("give either --seed or --seeds, not both")
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            low, dash, high = part.partition("-")
            values = range(int(low), int(high) + 1) if dash else [int(part)]
            out += [v for v in values if v not in out]
    except ValueError:
        raise ConfigError(f"--seeds takes integers like 0,1,2 or 0-4, got {text!r}") from None
    if not out or min(out) < 0:
        raise ConfigError(f"--seeds takes non-negative integers like 0,1,2 or 0-4, got {text!r}")
    return out


def _group_summary(ws: Workspace, results: list[RunResult]) -> None:
    competition = results[0].competition
    name = row_group(results[0].row)
    members = find_group(read_rows(ws.leaderboard_path(competition)), name)
    scores = Scores.open(ws, competition)
    summary = summarise_group(members, scores)
    sd = "-" if summary.sd is None else f"{summary.sd:.4f}"
    console.print(
        f"group [bold]{escape(name)}[/]: {summary.n_seeds} seed(s) on the board, {scores.label} public mean "
        f"[bold]{summary.mean:.4f}[/] (sd {sd}) [{fmt_number(summary.low)}, {fmt_number(summary.high)}]; "
        "`bench leaderboard --by group` ranks it"
    )


class _logging:
    """Show the run's log lines on stderr (above the bars when there are bars)."""

    def __init__(self, progress: Progress | None, quiet: bool):
        from rich.logging import RichHandler

        target = progress.console if progress is not None else err_console
        self.handler = RichHandler(
            console=target, show_path=False, show_level=False, markup=False, log_time_format="%Y-%m-%d %H:%M:%S"
        )
        self.logger = logging.getLogger("bench")

    def __enter__(self) -> _logging:
        self.previous = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.previous)


def _summary(result: RunResult, root: Path) -> None:
    row = result.row
    public, low, high = (fmt_number(row.get(k)) for k in ("public", "public_low", "public_high"))
    console.print(
        f"[bold]{escape(result.submission_id)}[/] {escape(str(row.get('metric', '')))} public [bold]{public}[/] "
        f"[{low}, {high}], rank [bold]{result.rank}[/] on the {escape(result.competition)} leaderboard"
    )
    console.print(
        f"  train {fmt_number(row.get('train_seconds'), 1)} s, search "
        f"{fmt_number(row.get('search_ms_per_query'), 3)} ms/query, "
        f"{escape(str(row.get('code_kind', '')))} codes of {row.get('bytes_per_item', '?')} bytes"
    )
    console.print(f"  submission {escape(display_path(result.submission_path, root))}")
    console.print(f"  run folder {escape(display_path(result.run_dir, root))}")


def _launch_ranks(ws: Workspace, nproc: int, ranks: Ranks, cfg: RunConfig, argv: list[str]) -> None:
    """``--nproc N``: the same command (``argv``, resolving to ``cfg``) as N ranks through torchrun's launcher;
    rank 0 prints the result."""
    from harness.train.devices import pick_device
    from harness.train.distributed import check_ranks_fit

    if nproc < 1:
        raise ConfigError(f"--nproc must be at least 1 but got {nproc}")
    if ranks.distributed:
        raise ConfigError(
            f"--nproc {nproc} inside torchrun, which already started {ranks.world_size} processes; drop --nproc"
        )
    check_ranks_fit(pick_device(cfg.train.device), nproc)  # mps, or more processes than GPUs: before starting any
    with discard_orphans(ws, cfg.competition):
        launch(argv, nproc)
