"""Reports: every figure renders from a small synthetic competition, the page links them all,
the grid's frames agree with the labels, and ``bench report`` works end to end on digits."""

from __future__ import annotations

import csv
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.metrics import per_query_scores
from harness.report import analysis, grid
from harness.report.html import Section, Table, figure_files, write_page
from harness.report.sections import (
    StudyData,
    SubmissionData,
    cost_section,
    leaderboard_section,
    study_section,
    submission_sections,
    worst_queries_grid,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as img:
        img.verify()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def synthetic(seed: int = 0, queries: int = 12, gallery: int = 30, k: int = 10, classes: int = 3) -> SubmissionData:
    """A tiny scored submission: random ranks with one short list and one repeated neighbour."""
    rng = np.random.default_rng(seed)
    gallery_labels = np.arange(gallery) % classes
    query_labels = np.arange(queries) % classes
    ranked = np.stack([rng.permutation(gallery)[:k] for _ in range(queries)])
    ranked[0, k - 3 :] = -1
    ranked[1, 1] = ranked[1, 0]
    scores = per_query_scores(ranked, query_labels, gallery_labels, "map@k", k)
    return SubmissionData(
        "sub-1",
        f"map@{k}",
        k,
        ranked,
        [f"q-{i:03d}" for i in range(queries)],
        query_labels,
        [f"g-{i:03d}" for i in range(gallery)],
        gallery_labels,
        np.arange(queries) % 2 == 0,
        scores,
        class_names=["cat", "dog", "<owl>"],
    )


def loader(shape=(3, 8, 8)):
    def load(ids):
        return np.stack([np.random.default_rng(zlib.crc32(i.encode())).random(shape, dtype=np.float32) for i in ids])

    return load


def rows() -> list[dict]:
    base = {"metric": "map@10", "time": "2026-01-01T00:00:00", "study": "", "trial": ""}
    return [
        {
            **base,
            "submission_id": "sub-1",
            "name": "float <b>",
            "code_kind": "float",
            "bytes_per_item": "256",
            "search_ms_per_query": "0.5",
            "public": "0.61",
            "public_low": "0.55",
            "public_high": "0.67",
            "private": "0.52",
            "private_low": "0.5",
            "private_high": "0.6",
        },
        {
            **base,
            "submission_id": "sub-2",
            "name": "codes",
            "code_kind": "binary",
            "bytes_per_item": "8",
            "search_ms_per_query": "0.1",
            "public": "0.58",
            "public_low": "0.5",
            "public_high": "0.63",
            "private": "0.7",
            "private_low": "0.6",
            "private_high": "0.8",
            "study": "s1",
            "trial": "3",
        },
        {
            **base,
            "submission_id": "sub-3",
            "name": "no costs",
            "code_kind": "",
            "bytes_per_item": "",
            "search_ms_per_query": "",
            "public": "0.3",
            "private": "0.31",
        },
    ]


def test_fit_cell_scales_small_images_without_blur_and_shrinks_large_ones():
    digit = np.random.default_rng(0).random((3, 8, 8), dtype=np.float32)
    cell = grid.fit_cell(digit)
    assert cell.shape == (grid.CELL, grid.CELL, 3) and cell.dtype == np.uint8
    block = cell[:8, :8]
    assert (block == block[0, 0]).all()  # one source pixel -> one flat 8x8 block
    assert grid.fit_cell(np.ones((3, 120, 90), np.float32)).shape == (grid.CELL, grid.CELL, 3)


def test_grid_frames_agree_with_labels(tmp_path):
    data = synthetic()
    correct = analysis.neighbour_correct(data.ranked, data.query_labels, data.gallery_labels)
    present = data.ranked >= 0
    rows_, cols = 3, 10
    queries = loader()(data.query_ids[:rows_])
    neighbours = np.random.default_rng(1).random((rows_, cols, 3, 8, 8), dtype=np.float32)
    result = grid.neighbour_grid(tmp_path / "grid.png", queries, neighbours, correct[:rows_], present[:rows_])
    assert_png(result.path)
    for r in range(rows_):
        for c in range(cols):
            pos = data.ranked[r, c]
            expected = (
                "missing" if pos < 0 else ("right" if data.gallery_labels[pos] == data.query_labels[r] else "wrong")
            )
            assert result.colours[r][c] == expected
            y0, x0, _, _ = result.boxes[(r, c + 1)]
            colour = {"right": grid.RIGHT, "wrong": grid.WRONG, "missing": grid.BLANK}[expected]
            assert tuple(result.mosaic[y0, x0]) == colour
        assert tuple(result.mosaic[result.boxes[(r, 0)][:2]]) == grid.QUERY
    with Image.open(result.path) as img:
        seen = {c for _, c in img.convert("RGB").getcolors(maxcolors=1 << 20)}
    assert grid.RIGHT in seen and grid.WRONG in seen  # drawn without blending


def test_worst_queries_grid_frames_each_neighbour_by_its_label(tmp_path):
    """Images whose grey level encodes the label: a frame is green exactly when the neighbour's
    grey level equals its query's, and rows go from the lowest score up, public queries only."""
    data = synthetic(queries=20, k=12)
    label_of = dict(zip(data.query_ids, data.query_labels.tolist())) | dict(
        zip(data.gallery_ids, data.gallery_labels.tolist())
    )

    def load(ids):
        return np.stack([np.full((3, 8, 8), 0.2 + 0.3 * label_of[i], np.float32) for i in ids])

    result = worst_queries_grid(data, load, tmp_path / "grid.png")
    public = np.flatnonzero(data.public)
    assert len(result.colours) == grid.MAX_ROWS and len(result.colours[0]) == grid.MAX_COLS
    worst = public[np.argsort(data.scores[public], kind="stable")[: grid.MAX_ROWS]]
    assert [label.split("\n")[0] for label in result.row_labels] == [data.query_ids[q] for q in worst]
    for r, row in enumerate(result.colours):
        y0, x0, y1, x1 = result.boxes[(r, 0)]
        query_grey = result.mosaic[(y0 + y1) // 2, (x0 + x1) // 2, 0]
        for c, colour in enumerate(row):
            y0, x0, y1, x1 = result.boxes[(r, c + 1)]
            if colour == "missing":
                continue
            grey = result.mosaic[(y0 + y1) // 2, (x0 + x1) // 2, 0]
            assert (colour == "right") == (grey == query_grey)
            assert tuple(result.mosaic[y0, x0]) == (grid.RIGHT if colour == "right" else grid.WRONG)


def test_grid_is_bounded_and_handles_large_rgb_images(tmp_path):
    many = np.random.default_rng(0).random((20, 3, 50, 70), dtype=np.float32)
    neighbours = np.random.default_rng(1).random((20, 15, 3, 50, 70), dtype=np.float32)
    result = grid.neighbour_grid(tmp_path / "g.png", many, neighbours, np.ones((20, 15), bool))
    assert len(result.colours) == grid.MAX_ROWS and len(result.colours[0]) == grid.MAX_COLS
    with Image.open(result.path) as img:
        assert img.width < 1400 and img.height < 1000


def test_analysis_numbers():
    data = synthetic()
    from harness.metrics import per_query_scores, relevance, relevant_counts

    rel = relevance(data.ranked, data.query_labels, data.gallery_labels, data.k)
    m = relevant_counts(data.query_labels, data.gallery_labels)
    # the per-class AP bars use the scorer's map@k; check it against a slow loop over ranks
    ap = per_query_scores(data.ranked, data.query_labels, data.gallery_labels, "map@k", data.k)
    slow = []
    for q, row in enumerate(data.ranked):
        hits, total, seen = 0, 0.0, set()
        for rank, g in enumerate(row[: data.k], start=1):
            if g >= 0 and g not in seen and data.gallery_labels[g] == data.query_labels[q]:
                hits += 1
                total += hits / rank
            seen.add(int(g))
        slow.append(total / max(min(m[q], data.k), 1))
    np.testing.assert_allclose(ap, slow)
    ks, precision, recall = analysis.precision_recall_curves(rel, m)
    assert list(ks) == list(range(1, data.k + 1))
    np.testing.assert_allclose(precision[-1], rel.sum(1).mean() / data.k)
    np.testing.assert_allclose(recall[-1], (rel.sum(1) / m).mean())
    assert np.all(np.diff(recall) >= 0)
    worst = analysis.worst_first(data.scores, 4)
    assert list(data.scores[worst]) == sorted(data.scores)[:4]
    front = analysis.pareto_front(np.array([8, 256, 4, 64, np.nan]), np.array([0.5, 0.9, 0.2, 0.4, 1.0]))
    assert front.tolist() == [2, 0, 1]
    classes, means, counts = analysis.per_class_mean(np.array([1, 0, 1]), np.array([1.0, 0.5, 0.0]))
    assert classes.tolist() == [0, 1] and means.tolist() == [0.5, 0.5] and counts.tolist() == [1, 2]


def test_page_shows_every_figure_and_hides_private_scores(tmp_path):
    out = tmp_path / "report"
    data = synthetic()
    sections = [leaderboard_section(rows(), private=False, chosen="sub-1"), cost_section(rows(), out)]
    sections += submission_sections(data, loader(), out, private=False)
    sections.append(
        study_section(StudyData("s1", [0, 1, 2], [0.2, 0.5, 0.4], True, {"lr": 0.7, "margin": 0.3}), out, "study1_")
    )
    sections.append(study_section(StudyData("s2", [0], [0.1]), out, "study2_"))
    page = write_page(out / "index.html", "bench report: <synthetic>", "sub", sections)

    links = parse(page)
    assert {"html", "head", "body", "table", "img"} <= set(links.tags)
    written = sorted(p.name for p in out.glob("*.png"))
    assert sorted(links.images) == written == sorted(figure_files(sections))
    assert {"cost.png", "grid.png", "curves.png", "class_ap.png", "study1_history.png", "study1_importance.png"} == set(
        written
    )
    for name in written:
        assert_png(out / name)
    text = page.read_text(encoding="utf-8")
    assert "float &lt;b&gt;" in text and "&lt;synthetic&gt;" in text and "<b>" not in text
    assert "0.5200" not in text and "private [95% CI]" not in text  # private hidden
    assert "complete trial(s)" in text  # the one-trial study became a note
    assert "http" not in text.replace("http-equiv", "")  # nothing fetched from the network


def test_private_page_shows_shake_up_and_all_queries(tmp_path):
    section = leaderboard_section(rows(), private=True)
    assert section.table.headers[1] == "band" and section.table.headers[8:10] == ["private [95% CI]", "shake-up"]
    assert [r[2] for r in section.table.rows] == ["sub-2", "sub-1", "sub-3"]
    assert section.table.rows[0][9] == "▲1"
    assert all(r[1] in ("-", "1", "2", "3") for r in section.table.rows)
    data = synthetic()
    public_only = submission_sections(data, None, tmp_path / "a")[0].paragraphs[0]
    everything = submission_sections(data, None, tmp_path / "b", private=True)[0].paragraphs[0]
    assert "6 queries" in public_only and "12 queries" in everything


def test_grid_becomes_a_note_when_images_cannot_load(tmp_path):
    from harness.errors import CompetitionError

    def broken(ids):
        raise CompetitionError("dataset gone")

    worst, curves = submission_sections(synthetic(), broken, tmp_path)
    assert not worst.figures and "dataset gone" in worst.notes[0]
    assert [name for name, _ in curves.figures] == ["curves.png", "class_ap.png"]


def test_html_escapes_table_cells(tmp_path):
    table = Table(["a&b"], [["<script>x</script>"]], numeric={0})
    page = write_page(tmp_path / "p.html", "t", "s", [Section("x", table=table, notes=["n<"])])
    text = page.read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text and "a&amp;b" in text


def test_study_data_reads_a_journal_and_skips_what_it_cannot(workspace, tmp_path):
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from harness.report.gather import study_data

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    workspace.studies.mkdir(parents=True, exist_ok=True)
    (workspace.studies / "junk.txt").write_text("not a journal\n")
    storage = JournalStorage(JournalFileBackend(str(workspace.studies / "digits.journal")))
    study = optuna.create_study(study_name="young", storage=storage, direction="minimize")
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=1)
    data = study_data(workspace, "young")  # found past the junk file, but too young to plot
    assert data.values == [study.trials[0].value] and not data.maximize
    assert "1 complete trial(s)" in data.note and data.importances is None
    assert not study_section(data, tmp_path, "y_").figures
    missing = study_data(workspace, "nope")
    assert not missing.values and "not found" in missing.note
    assert not study_section(missing, tmp_path, "m_").figures


def test_report_from_a_leaderboard_whose_submission_files_are_gone(workspace):
    """A hand-written leaderboard: the table and cost plot still render; the details become a note."""
    from harness.errors import SubmissionError
    from harness.report import write_report
    from harness.scoring.leaderboard import COLUMNS

    workspace.leaderboards.mkdir(parents=True, exist_ok=True)
    with open(workspace.leaderboard_path("digits"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in COLUMNS} for r in rows())
    result = write_report(workspace, "digits")
    assert result.submission_id == "sub-1" and result.path == workspace.root / "reports" / "digits" / "index.html"
    assert [p.name for p in result.figures] == ["cost.png"] and "cannot be shown" in result.notes[0]
    assert parse(result.path).images == ["cost.png"]
    with pytest.raises(SubmissionError, match="Did you mean 'sub-2'"):
        write_report(workspace, "digits", submission_id="sub-22")


def test_report_without_leaderboard_is_one_line_error(cli):
    result = cli("report", "--competition", "digits")
    assert result.exit_code == 1
    assert "no submissions on leaderboard digits yet" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- end to end on digits


def _digits_submission(workspace, path: Path) -> Path:
    """Nearest neighbours on raw pixels, computed from the query and gallery images."""
    competition = pytest.importorskip("harness.data.competition")
    submission = pytest.importorskip("harness.scoring.submission")
    comp = competition.open_competition(workspace, "digits")
    query, gallery = comp.query(), comp.gallery()
    xq = query.load(np.arange(len(query))).reshape(len(query), -1)
    xg = gallery.load(np.arange(len(gallery))).reshape(len(gallery), -1)
    dist = (xq**2).sum(1)[:, None] - 2 * xq @ xg.T + (xg**2).sum(1)[None, :]
    order = np.argsort(dist, axis=1, kind="stable")[:, : comp.spec.k]
    return submission.write_submission(path, query.ids, [[gallery.ids[j] for j in row] for row in order])


def _submit(cli, workspace, file: Path, name: str) -> str:
    """``bench submit`` when that command exists, else ``harness.scoring.submit.submit``; the new id."""
    from harness.cli.app import COMMANDS

    if "submit" in COMMANDS:
        result = cli("submit", str(file), "--competition", "digits", "--name", name)
        assert result.exit_code == 0, result.stderr
    else:
        submit = pytest.importorskip("harness.scoring.submit")
        submit.submit(workspace, "digits", file, name=name, fields={"code_kind": "float", "bytes_per_item": 256})
    from harness.scoring.leaderboard import read_rows

    return read_rows(workspace.leaderboard_path("digits"))[-1]["submission_id"]


def test_bench_report_end_to_end_on_digits(cli, workspace, tmp_path):
    file = _digits_submission(workspace, tmp_path / "nn.csv")
    first = _submit(cli, workspace, file, "nn-pixels")

    result = cli("report", "--competition", "digits")
    assert result.exit_code == 0, result.stderr
    out = workspace.root / "reports" / "digits"
    links = parse(out / "index.html")
    assert sorted(links.images) == sorted(p.name for p in out.glob("*.png"))
    assert {"cost.png", "grid.png", "curves.png", "class_ap.png"} <= set(links.images)
    for name in links.images:
        assert_png(out / name)
    assert first in (out / "index.html").read_text()

    # a tuned submission: its leaderboard row names a study kept in the workspace's journal
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from harness.scoring.leaderboard import append_row, read_rows

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    workspace.studies.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(workspace.studies / "journal.log")))
    study = optuna.create_study(study_name="nn-study", storage=storage, direction="maximize")
    study.optimize(lambda t: t.suggest_float("a", 0, 1) - t.suggest_float("b", 0, 1) / 2, n_trials=12)  # ranks: >= 10
    tuned = {
        **read_rows(workspace.leaderboard_path("digits"))[0],
        "submission_id": "tuned-1",
        "study": "nn-study",
        "trial": "2",
    }
    append_row(workspace.leaderboard_path("digits"), tuned)

    custom = tmp_path / "custom"
    result = cli("report", "--competition", "digits", "--out", str(custom), "--submission", first, "--private")
    assert result.exit_code == 0, result.stderr
    text = (custom / "index.html").read_text()
    assert "private [95% CI]" in text and "Study nn-study" in text
    assert {"study1_history.png", "study1_importance.png"} <= set(parse(custom / "index.html").images)

    result = cli("report", "--submission", first + "x")
    assert result.exit_code == 1 and "Did you mean" in result.stderr
    (tmp_path / "a-file").write_text("")
    result = cli("report", "--out", str(tmp_path / "a-file"))
    assert result.exit_code == 1 and "cannot write the report" in result.stderr

    from harness.report import write_run_report

    page = write_run_report(workspace, "digits", first, images=False)  # the grid's wiring is checked above
    assert page == workspace.run_dir(first) / "report" / "index.html"
    assert sorted(parse(page).images) == ["class_ap.png", "curves.png"]
    assert "grid is left out" in page.read_text()


def test_class_ap_axis_starts_just_below_the_worst_class():
    from harness.report.figures import ap_axis_bottom

    assert 0.97 < ap_axis_bottom(np.array([0.977, 0.99, 1.0])) < 0.977
    assert ap_axis_bottom(np.array([0.2, 0.9])) < 0.2 and ap_axis_bottom(np.array([0.01])) == 0.0


def test_pareto_labels_name_method_and_seed():
    from harness.report.sections import point_label

    labels = [point_label({"method": "hashnet", "seed": s, "name": "reference"}) for s in (0, 1)]
    assert labels == ["hashnet s0", "hashnet s1"]
    assert point_label({"method": "triplet", "seed": "", "name": "my try"}) == "triplet (my try)"


def test_a_run_with_only_loss_and_val_gets_its_curve(tmp_path):
    from harness.report.sections import training_section

    history = [{"epoch": e, "train_loss": 1.0 / e, "val_score": 0.5 + 0.01 * e} for e in (1, 2, 3)]
    section = training_section("run-1", history, tmp_path)
    assert section is not None and "loss" in section.figures[0][1]
    assert_png(tmp_path / section.figures[0][0])
