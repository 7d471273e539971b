"""Tuning that cannot fool you: final seeds compared with the defaults, folds, differs and budgets on
the board, one importance evaluator, several objectives.

Fast tests fake ``fit`` or write submissions by hand; the ``slow`` ones train for one tiny epoch on digits.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import write_toy_competition

REPO = Path(__file__).resolve().parent.parent
TINY = ["--set", "train.epochs=1", "--device", "cpu"]


def load_study(workspace, name):
    import optuna

    from harness.tune.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(workspace, None, name).storage)


@pytest.fixture
def fake_fit(monkeypatch):
    """``fit`` that trains nothing: val 0.5 + 0.1·(fold size share), reported each epoch; records each call."""
    calls = []

    def fit(cfg, competition, device=None, on_epoch=None, progress=None):
        calls.append((cfg, competition))
        quality = 0.9 if cfg.seed % 2 == 0 else 0.1
        quality -= 0.01 * len([c for c in calls if c[0].seed == cfg.seed])  # folds differ a little
        for epoch in range(1, cfg.train.epochs + 1):
            if on_epoch is not None:
                on_epoch(epoch, quality)
        return SimpleNamespace(model=None, best_val=quality, history=[], train_seconds=1.5, best_epoch=1)

    monkeypatch.setattr("harness.train.loop.fit", fit)
    return calls


# -- differs and budget ----------------------------------------------------------------------------------
def test_differs_names_each_changed_setting_or_says_defaults():
    from harness.config import differs_text
    from harness.pipeline import resolve_run_config

    triplet, hashnet = resolve_run_config("triplet"), resolve_run_config("hashnet")
    assert differs_text(resolve_run_config("triplet", seed=4, device="cpu"), triplet) == "defaults"
    cfg = resolve_run_config("triplet", sets=["loss.name=contrastive", "optim.lr=0.01"], seed=2)
    assert differs_text(cfg, triplet) == "loss.name=contrastive optim.lr=0.01"
    cfg = resolve_run_config("hashnet", sets=["pooling.name=gem", "optim.weight_decay=0.000123456789"])
    assert differs_text(cfg, hashnet) == "optim.weight_decay=0.0001235 pooling.name=gem"
    assert differs_text({"loss": {"name": "x"}}, {"loss": {"name": "x"}, "pooling": {"name": "gem"}}) == (
        "pooling.name=none"
    )


def test_budget_cells_read_back_and_a_group_counts_its_search_once():
    from harness.scoring.budget import budget_cell, budget_text, group_budget, read_budget

    cell = budget_cell(20, 800.0, 41.2, "cpu (AMD EPYC)")
    assert read_budget(cell) == {
        "trials": 20,
        "tuning_seconds": 800.0,
        "train_seconds": 841.2,
        "device": "cpu (AMD EPYC)",
    }
    assert budget_text(cell) == "20 trials, 841 s on cpu (AMD EPYC)"
    assert budget_text(budget_cell(0, 0, 12, "cpu")) == "untuned, 12 s on cpu"
    assert budget_text("") == "" and read_budget("not json") is None
    group = read_budget(group_budget([budget_cell(20, 800.0, 40.0, "cpu"), budget_cell(20, 800.0, 60.0, "cpu")]))
    assert group == {"trials": 20, "tuning_seconds": 800.0, "train_seconds": 900.0, "device": "cpu"}
    assert group_budget([budget_cell(1, 1, 1, "cpu"), ""]) == ""  # an older member: no group budget


GALLERY = [(f"g{i:02d}", i % 3) for i in range(12)]
QUERIES = [(f"q{i:02d}", i % 3, i % 2) for i in range(30)]


def toy_submission(path, rng):
    from harness.scoring.submission import write_submission

    by_label = {c: [g for g, label in GALLERY if label == c] for c in range(3)}
    rows = []
    for _, label, _ in QUERIES:
        right, wrong = by_label[label], by_label[(label + 1) % 3]
        rows.append([wrong[0], *right[:3]] if rng.random() < 0.3 else right[:4])
    return write_submission(path, [q for q, _, _ in QUERIES], rows)


def test_group_view_marks_one_seed_groups_and_shows_differs_and_budget(cli, workspace, tmp_path):
    from harness.scoring.budget import budget_cell
    from harness.scoring.submit import submit

    write_toy_competition(workspace, GALLERY, QUERIES)
    rng = np.random.default_rng(0)
    for seed in (0, 1, 2):
        fields = {"method": "m", "seed": seed, "config_hash": "many", "differs": "defaults",
                  "budget": budget_cell(0, 0, 10, "cpu")}  # fmt: skip
        submit(workspace, "toy", toy_submission(tmp_path / f"m{seed}.csv", rng), fields=fields)
    fields = {"method": "m", "seed": 0, "config_hash": "lucky", "differs": "optim.lr=0.01",
              "budget": budget_cell(20, 300, 10, "cpu")}  # fmt: skip
    submit(workspace, "toy", toy_submission(tmp_path / "lucky.csv", np.random.default_rng(5)), fields=fields)
    table = cli("leaderboard", "-c", "toy", "--by", "group", "--format", "markdown")
    assert table.exit_code == 0, table.stderr
    lucky = next(line for line in table.stdout.splitlines() if "lucky" in line)
    many = next(line for line in table.stdout.splitlines() if "many" in line)
    assert "1 (one seed)" in lucky and "optim.lr=0.01" in lucky and "20 trials, 310 s on cpu" in lucky
    assert lucky.split("|")[2].strip().endswith("*") and not many.split("|")[2].strip().endswith("*")  # the band
    assert "one seed" not in many and "| 3 |" in many and "defaults" in many and "untuned, 30 s on cpu" in many
    records = json.loads(cli("leaderboard", "-c", "toy", "--by", "group", "--format", "json").stdout)
    by_group = {r["group"].split("-")[0]: r for r in records}
    assert by_group["lucky"]["one_seed"] is True and by_group["many"]["one_seed"] is False
    assert by_group["lucky"]["budget"]["trials"] == 20
    runs = json.loads(cli("leaderboard", "-c", "toy", "--format", "json").stdout)
    assert {r["differs"] for r in runs} == {"defaults", "optim.lr=0.01"}


def test_old_boards_without_the_new_columns_still_read(cli, workspace):
    from harness.scoring.leaderboard import PROBLEM, read_rows

    board = workspace.leaderboard_path("digits")
    board.parent.mkdir(parents=True, exist_ok=True)
    # The shipped board's rows from before this round (commit ad7fe5d), written with that round's header.
    with (REPO / "leaderboards" / "digits.csv").open(newline="", encoding="utf-8") as handle:
        shipped = list(csv.DictReader(handle))
    old_columns = [c for c in shipped[0] if c not in ("pooling", "differs", "budget")]
    with board.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=old_columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(row for row in shipped if row["git_commit"].startswith("ad7fe5d"))
    header = board.read_text().splitlines()[0].split(",")
    assert "differs" not in header and "budget" not in header
    rows = read_rows(board)
    assert rows and not any(row[PROBLEM] for row in rows)
    shown = json.loads(cli("leaderboard", "--format", "json").stdout)
    assert len(shown) == len(rows) and {r["differs"] for r in shown} == {""} and {r["budget"] for r in shown} == {None}


# -- folds -----------------------------------------------------------------------------------------------
def test_class_disjoint_folds_partition_the_classes(workspace):
    from harness.data.competition import open_competition
    from harness.tune.folds import make_folds

    comp = open_competition(workspace, "digits-unseen")
    folds = make_folds(comp, 3, seed=0)
    pooled = len(comp.train()) + len(comp.val())
    seen_val: list[str] = []
    for fold in folds:
        train, val = fold.train(), fold.val()
        assert len(train) + len(val) == pooled
        assert set(np.unique(train.labels)) == set(range(train.num_classes))  # contiguous for softmax heads
        assert not set(np.unique(val.labels)) & set(np.unique(train.labels))  # val classes never trained on
        assert train.load([0]).shape == (1, *train.image_shape)
        seen_val += val.ids
    assert sorted(seen_val) == sorted(comp.train().ids + comp.val().ids)  # each item in one val fold


def test_stratified_folds_hold_every_class(workspace):
    from harness.data.competition import open_competition
    from harness.tune.folds import make_folds

    comp = open_competition(workspace, "digits")
    folds = make_folds(comp, 4, seed=1)
    for fold in folds:
        assert set(np.unique(fold.val().labels)) == set(np.unique(fold.train().labels)) == set(range(10))
    image = folds[0].val().load([3])
    index = comp.train().ids.index(folds[0].val().ids[3]) if folds[0].val().ids[3] in comp.train().ids else None
    if index is not None:
        np.testing.assert_array_equal(image, comp.train().load([index]))


def test_fold_interval_is_mean_plus_minus_t_sd_over_root_k():
    from harness.tune.folds import fold_interval

    mean, low, high = fold_interval([0.6, 0.7, 0.8, 0.9])
    half = 3.182446305284263 * np.std([0.6, 0.7, 0.8, 0.9], ddof=1) / 2  # t(0.975, 3)
    assert mean == pytest.approx(0.75) and low == pytest.approx(0.75 - half) and high == pytest.approx(0.75 + half)


def test_a_fold_interval_stays_inside_the_metric_range():
    from harness.tune.folds import fold_interval

    scores = [1.0, 1.0, 0.4, 0.7]
    mean, low, high = fold_interval(scores)
    half = 3.182446305284263 * np.std(scores, ddof=1) / 2  # 0.457: unclipped, the interval ends at 1.23
    assert mean == pytest.approx(0.775) and low == pytest.approx(0.775 - half) and high == 1.0


def test_folds_score_each_trial_over_k_folds_and_report_per_fold(cli, workspace, fake_fit):
    result = cli("tune", "--plugin", "triplet", "--trials", "2", "--no-submit", "--folds", "3",
                 "--pruner", "none", "--set", "train.epochs=2")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    study = load_study(workspace, "digits-triplet-folds3")
    trial = study.trials[0]
    assert len(fake_fit) == 6 and {c[1].name for c in fake_fit[:3]} == {f"digits (fold {i} of 3)" for i in (1, 2, 3)}
    assert sorted(trial.intermediate_values) == [1, 2, 3, 4, 5, 6]  # fold f, epoch e: step f·2 + e
    folds = trial.user_attrs["fold_values"]
    assert len(folds) == 3 and trial.value == pytest.approx(np.mean(folds))
    low, high = trial.user_attrs["interval"]
    assert low < trial.value < high
    assert f"[{low:.4f}, {high:.4f}]" in result.stdout and "mean of 3 folds" in result.stdout


# -- importances -----------------------------------------------------------------------------------------
def test_tune_and_report_rank_importances_with_one_evaluator(workspace):
    import optuna

    from harness.report.gather import study_data
    from harness.tune.importance import MIN_COMPLETE_TRIALS, importances
    from harness.tune.storage import open_storage

    storage = open_storage(workspace, None, "toy-study").storage
    study = optuna.create_study(study_name="toy-study", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))  # fmt: skip
    study.optimize(lambda t: t.suggest_float("x", 0, 1) * 10 + t.suggest_float("y", 0, 1) * 0.1, n_trials=4)
    few, note = importances(study)
    assert few is None and "too few complete trials" in note and f"at least {MIN_COMPLETE_TRIALS}" in note
    assert "too few complete trials" in study_data(workspace, "toy-study").note
    study.optimize(lambda t: t.suggest_float("x", 0, 1) * 10 + t.suggest_float("y", 0, 1) * 0.1, n_trials=10)
    ranked, _ = importances(study)
    assert list(ranked) == ["x", "y"] and ranked["x"] > 0.9
    assert study_data(workspace, "toy-study").importances == ranked  # the report's numbers are tune's


# -- objectives and errors -------------------------------------------------------------------------------
def test_objectives_parse_against_the_competition_metric():
    from harness.errors import ConfigError
    from harness.tune.objectives import parse_objectives

    parsed = parse_objectives(["map@100", "bytes", "ms"], "map@k", 100)
    assert [(o.key, o.direction) for o in parsed] == [("score", "maximize"), ("bytes", "minimize"), ("ms", "minimize")]
    for bad, message in ((["map@10", "bytes"], "unknown objective 'map@10'"), (["bytes", "bytes"], "twice"),
                         (["map@100"], "at least two")):  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            parse_objectives(bad, "map@k", 100)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--final-seeds", "0"], "--final-seeds must be at least 1"),
        (["--folds", "0"], "--folds must be at least 1"),
        (["--submit-front"], "--submit-front submits a Pareto front: give --objectives too"),
        (["--objectives", "map@100,joules"], "unknown objective 'joules'"),
        (["--sampler", "grid"], "--sampler must be one of tpe, random, nsga2"),
    ],
)
def test_bad_tuning_options_are_one_line(cli, args, message):
    result = cli("tune", "--plugin", "triplet", "--trials", "2", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# -- slow: real training on digits -----------------------------------------------------------------------
@pytest.mark.slow
def test_final_seeds_form_one_group_compared_with_the_defaults(cli, workspace):
    from harness.scoring.budget import read_budget
    from harness.scoring.leaderboard import read_rows

    result = cli("tune", "--plugin", "softmax", "--trials", "2", "--final-seeds", "2", *TINY)
    assert result.exit_code == 0, result.stderr
    study = load_study(workspace, "digits-softmax")
    rows = read_rows(workspace.leaderboard_path("digits"))
    tuned = [r for r in rows if r["study"] == "digits-softmax"]
    defaults = [r for r in rows if not r["study"]]
    assert sorted(int(r["seed"]) for r in tuned) == [0, 1] == sorted(int(r["seed"]) for r in defaults)
    assert len({r["group"] for r in tuned}) == 1 and len({r["config_hash"] for r in tuned}) == 1
    assert {int(r["trial"]) for r in tuned} == {study.best_trial.number}
    assert all(read_budget(r["budget"])["trials"] == 2 for r in tuned)
    assert all(read_budget(r["budget"])["trials"] == 0 for r in defaults)
    assert {r["differs"] for r in defaults} == {"train.epochs=1"} and "optim.lr=" in tuned[0]["differs"]
    stored = study.user_attrs[f"comparison:{study.best_trial.number}"]
    assert stored["verdict"] in ("better", "no detectable difference", "worse")
    assert stored["tuned_group"] == tuned[0]["group"] and stored["default_group"] == defaults[0]["group"]
    low, high = stored["comparison"]["low"], stored["comparison"]["high"]
    assert f"verdict: {stored['verdict']}:" in " ".join(result.stdout.split())
    assert f"[{low:+.4f}, {high:+.4f}]" in result.stdout
    compared = cli("compare", stored["tuned_group"], stored["default_group"])  # the same statistics
    assert f"[{low:+.4f}, {high:+.4f}]" in compared.stdout

    again = cli("tune", "--plugin", "softmax", "--trials", "2", "--final-seeds", "2", *TINY)
    assert again.exit_code == 0 and "already submitted" in again.stdout and "verdict:" not in again.stdout
    assert len(read_rows(workspace.leaderboard_path("digits"))) == 4  # nothing trained twice

    study.set_user_attr(f"comparison:{study.best_trial.number}", None)  # as if stopped before the comparison
    resumed = cli("tune", "--plugin", "softmax", "--trials", "2", "--final-seeds", "2", *TINY)
    assert resumed.exit_code == 0 and f"verdict: {stored['verdict']}:" in " ".join(resumed.stdout.split())
    redone = load_study(workspace, "digits-softmax").user_attrs[f"comparison:{study.best_trial.number}"]
    assert redone["trained_defaults"] == [] and {**redone, "trained_defaults": stored["trained_defaults"]} == stored
    assert len(read_rows(workspace.leaderboard_path("digits"))) == 4  # the default group was on the board


@pytest.mark.slow
def test_a_run_with_set_shows_what_differs(cli, workspace):
    result = cli("run", "--plugin", "triplet", "--set", "loss.name=contrastive", *TINY)
    assert result.exit_code == 0, result.stderr
    row = json.loads(cli("leaderboard", "--format", "json").stdout)[0]
    assert row["method"] == "triplet" and row["loss"] == "contrastive"
    assert row["differs"] == "loss.name=contrastive train.epochs=1"
    assert row["budget"]["trials"] == 0 and row["budget"]["device"].startswith("cpu")


@pytest.mark.slow
def test_objectives_print_and_submit_the_pareto_front(cli, workspace):
    from harness.scoring.leaderboard import read_rows

    result = cli("tune", "--plugin", "hashnet", "--trials", "3", "--objectives", "map@100,bytes,ms",
                 "--submit-front", "--final-seeds", "1", *TINY)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    study = load_study(workspace, "digits-hashnet-pareto")
    front = sorted(t.number for t in study.best_trials)
    assert "Pareto front:" in result.stdout and len(study.directions) == 3
    rows = [r for r in read_rows(workspace.leaderboard_path("digits")) if r["study"]]
    assert sorted(int(r["trial"]) for r in rows) == front and len({r["group"] for r in rows}) == len(front)
    report = cli("report")
    assert report.exit_code == 0, report.stderr
    page = (workspace.root / "reports" / "digits" / "index.html").read_text()
    assert page.index("Score against cost") < page.index("Pareto front of study digits-hashnet-pareto")
    assert (workspace.root / "reports" / "digits" / "study1_front.png").is_file()
