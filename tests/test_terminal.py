"""What people read in a terminal: tables that fit without breaking words or ids, and honest exit codes."""

from __future__ import annotations

import re
import shutil

from rich.console import Console

from harness.cli.tables import fitted_table

GROUP = "d6694c8ef0f68cc3-ad7fe5d"
ROWS = [
    {"rank": i + 1, "band": 1, "group": f"{i}{GROUP[1:]}", "method": method, "n": 5,
     "mean ± sd": "0.9862 ± 0.0065", "95% interval": "[0.978, 0.993]", "seeds": "0,1,2,3,4"}
    for i, method in enumerate(["center", "softmax", "mass-retrieval", "contrastive"])
]  # fmt: skip


def render(rows, width: int) -> list[str]:
    console = Console(width=width or 10_000, record=True, color_system=None)
    console.print(fitted_table(rows, "board", width))
    return console.export_text().splitlines()


def test_a_table_at_80_columns_fits_and_breaks_no_word_or_number():
    lines = render(ROWS, 80)
    assert all(len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    for method in ("center", "softmax", "mass-retrieval", "contrastive"):
        assert re.search(rf"\b{method}\b", text), f"{method} was broken over lines"
    assert text.count("0.9862 ± 0.0065") == 4 and text.count("[0.978, 0.993]") == 4
    # An id too long for the width is shortened with an ellipsis, never folded onto a second line.
    assert "…" in text and "f68cc3-ad7fe5d\n" not in text


def test_a_wide_table_keeps_every_value_whole():
    text = "\n".join(render(ROWS, 0))
    assert all(row["group"] in text for row in ROWS) and "0,1,2,3,4" in text


def test_a_wide_terminal_needs_no_shortening():
    text = "\n".join(render(ROWS, 200))
    assert "…" not in text and all(row["group"] in text for row in ROWS)


def test_leaderboard_of_an_unknown_competition_exits_1(cli):
    result = cli("leaderboard", "--competition", "nosuch")
    assert result.exit_code == 1
    assert "unknown competition 'nosuch'" in result.stderr and "Traceback" not in result.stderr


def test_an_empty_board_as_json_is_an_empty_list(cli):
    result = cli("leaderboard", "--format", "json")
    assert result.exit_code == 0 and result.stdout.strip() == "[]"


def test_list_without_a_kind_lists_the_kinds(cli):
    result = cli("list")
    assert result.exit_code == 0
    for kind in ("backbones", "losses", "samplers", "metrics", "competitions", "methods"):
        assert kind in result.stdout
    assert "triplet" in result.stdout


def test_list_shows_one_whole_setting_per_value(cli):
    result = cli("list", "losses")
    assert "center_weight=0.01" in result.stdout and "label_smoothing=0.0" in result.stdout


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and re.match(r"bench \S+", result.stdout)


def test_piped_leaderboard_prints_whole_values(tmp_path):
    import subprocess
    import sys

    from harness.workspace import Workspace  # noqa: F401  (the shipped board is read from a copy)

    root = tmp_path / "ws"
    shutil.copytree("leaderboards", root / "leaderboards")
    shutil.copytree("submissions", root / "submissions")
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "--root", str(root), "leaderboard", "--by", "group"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "PYTHONPATH": "."},
        check=True,
    ).stdout  # fmt: skip
    assert "d6694c8ef0f68cc3-ad7fe5d" in out and "…" not in out
    # Every column whole too: rich caps a print's width at the console's, which once squeezed rank, band
    # and n to nothing and cut the table at 80 columns.
    assert "┃ rank ┃ band ┃ group" in out and "│ 0,1,2,3,4 │ defaults │ untuned, 64 s on cpu" in out
