"""``bench competitions`` (list), ``bench competitions show NAME`` and ``bench competitions add FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import app, console, print_listing, workspace
from harness.data.competition import competition_names, competition_spec, describe
from harness.data.export import export_competition
from harness.data.manifest import INFO_FILE, MANIFEST_FILE, competition_folder, read_info
from harness.data.spec import CompetitionSpec
from harness.data.toml_spec import add_competition
from harness.errors import BenchError

ROLES = ("train", "val", "query", "gallery")
SUBSETS = ("public", "private")
BALANCE_ROWS = 30

competitions_app = typer.Typer(
    help="List competitions; `show NAME` for details; `add FILE` to declare one from TOML.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(competitions_app, name="competitions")


def _sizes(info: dict | None, spec: CompetitionSpec | None = None) -> str:
    if not info:
        planned = ", ".join(f"{k} {v}" for k, v in (spec.protocol_config if spec else {}).items())
        return f"per class: {planned} (split on first use)" if planned else "(split on first use)"
    sizes = info.get("sizes", {})
    return " · ".join(f"{role} {sizes.get(role, 0):,}" for role in ROLES)


@competitions_app.callback(invoke_without_command=True)
def competitions_command(ctx: typer.Context) -> None:
    """List every competition: dataset, split protocol, sizes per role, metric and k."""
    if ctx.invoked_subcommand is not None:
        return

    ws = workspace()
    table = Table(title="bench competitions")
    for column in ("name", "dataset", "protocol", "sizes", "metric", "k"):
        table.add_column(column, overflow="fold")
    for name in competition_names(ws):
        try:
            spec = competition_spec(ws, name)
            info = read_info(competition_folder(ws, name))
        except BenchError as exc:
            table.add_row(escape(name), "-", "-", f"[red]{escape(str(exc))}[/]", "-", "-")
            continue
        table.add_row(escape(name), escape(spec.dataset), spec.protocol, _sizes(info, spec), spec.metric, f"{spec.k:,}")
    print_listing(table)


@competitions_app.command("show")
def show_command(name: Annotated[str, typer.Argument(help="Competition name.")]) -> None:
    """Sizes per role, class balance, manifest hash and where the files live (splits on first use)."""
    facts = describe(workspace(), name)
    spec, info, folder = facts["spec"], facts["info"], facts["folder"]
    console.print(f"[bold]{escape(spec.name)}[/]  {escape(spec.description)}")
    console.print(f"dataset {escape(spec.dataset)} {escape(str(spec.dataset_config or ''))}")
    console.print(f"protocol {spec.protocol} {escape(str(spec.protocol_config))}, seed {spec.seed}")
    console.print(
        f"metric {spec.metric_label}, public fraction {spec.public_fraction:g} "
        f"({facts['public_queries']} public queries)"
    )
    console.print(f"sizes {_sizes(info)}")
    if spec.deadline or spec.daily_submissions or spec.final_submissions:
        console.print(
            f"bench serve rules: deadline {spec.deadline or 'none'}, "
            f"{spec.daily_submissions or 'unlimited'} submission(s) a day, "
            f"{spec.final_submissions or 'all'} final submission(s) count"
        )
    console.print(f"manifest sha256 {facts['manifest_sha256']}")
    console.print(f"files {escape(str(folder / MANIFEST_FILE))}, {escape(str(folder / INFO_FILE))}")

    balance, classes = facts["balance"], facts["class_names"]
    roles = list(balance)  # train and val: query and gallery labels are the hidden answers
    table = Table(title=f"class balance ({len(classes)} classes; query and gallery labels are hidden)")
    table.add_column("class")
    for role in roles:
        table.add_column(role, justify="right")
    for label, class_name in enumerate(classes[:BALANCE_ROWS]):
        table.add_row(escape(str(class_name)), *(str(balance[r][label]) for r in roles))
    if len(classes) > BALANCE_ROWS:
        table.add_row(f"… {len(classes) - BALANCE_ROWS} more", *("" for _ in roles))
    table.add_row("[bold]min / max[/]", *(_range(balance[r]) for r in roles))
    console.print(table)


def _range(counts: list[int]) -> str:
    used = [c for c in counts if c] or [0]
    return f"{min(used)} / {max(used)}"


@competitions_app.command("add")
def add_command(
    file: Annotated[Path, typer.Argument(help="A competition TOML file (see harness/competition_config.py).")],
    name: Annotated[
        str | None, typer.Option("--name", help="Competition name (default: the file's `name` or stem).")
    ] = None,
) -> None:
    """Declare a competition from a TOML file over `folder` or `csv` data."""
    spec, target = add_competition(workspace(), file, name)
    console.print(
        f"[green]added[/] competition {escape(spec.name)} ({escape(str(target))}); its split is written on first use"
    )


@competitions_app.command("export")
def export_command(
    name: Annotated[str, typer.Argument(help="Competition name.")],
    out: Annotated[Path, typer.Argument(help="A new (or empty) folder to write the participant's data into.")],
) -> None:
    """Write a participant's data: train/val images with labels, query/gallery images without, arrays.npz,
    sample_submission.csv and data.json (as `bench serve`'s data page offers it)."""
    described = export_competition(workspace(), name, out)
    sizes = " · ".join(f"{role} {count:,}" for role, count in described["sizes"].items())
    console.print(f"[green]exported[/] {escape(name)} to {escape(str(out))}: {sizes}; metric {described['metric']}")
    console.print(f"read {escape(str(out / 'data.json'))} for the files and how to submit")
