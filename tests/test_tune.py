"""``bench tune``: Optuna search on val, pruning, shared studies (journal file and PostgreSQL), resume.

Tests marked ``slow`` train for real (one or two tiny epochs on ``digits``); the others replace
``harness.train.loop.fit`` by a fake that reports chosen val scores, so they run in about a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace

import pytest

TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=64"]
POSTGRES_URL = os.environ.get("BENCH_TEST_POSTGRES_URL")


def load_study(workspace, name, storage=None):
    import optuna

    from harness.tune.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(workspace, storage, name).storage)


def states(study):
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def finished(study):
    return states(study).get("COMPLETE", 0) + states(study).get("PRUNED", 0)


@pytest.fixture
def fake_fit(monkeypatch):
    """``fit`` that trains nothing: trials with an even seed score 0.9, odd ones 0.1 (reported per epoch)."""
    calls = []

    def fit(cfg, competition, device=None, on_epoch=None, progress=None):
        calls.append(cfg)
        quality = 0.9 if cfg["seed"] % 2 == 0 else 0.1
        epochs = cfg["train"]["epochs"]
        for epoch in range(1, epochs + 1):
            if on_epoch is not None:
                on_epoch(epoch, quality * epoch / epochs)
        return SimpleNamespace(model=None, best_val=quality, history=[], train_seconds=0.0, best_epoch=epochs)

    monkeypatch.setattr("harness.train.loop.fit", fit)
    return calls


# -- fast: the objective, --set, seeds, totals, errors -------------------------------------------


def test_set_removes_a_parameter_from_the_search(cli, workspace, fake_fit):
    result = cli(
        "tune",
        "--plugin",
        "triplet",
        "--trials",
        "3",
        "--no-submit",
        "--pruner",
        "none",
        "--set",
        "optim.lr=0.005",
        "--set",
        "backbone.width=16",
        "--set",
        "train.epochs=2",
    )
    assert result.exit_code == 0, result.stderr
    study = load_study(workspace, "digits-triplet")
    trials = study.get_trials()
    assert len(trials) == 3
    for t in trials:
        assert "optim.lr" not in t.params and "backbone.width" not in t.params and "train.epochs" not in t.params
        assert "loss.margin" in t.params  # the rest is still searched
    assert {cfg["optim"]["lr"] for cfg in fake_fit} == {0.005}
    assert {cfg["backbone"]["width"] for cfg in fake_fit} == {16}
    assert [cfg["seed"] for cfg in fake_fit] == [0, 1, 2]  # base seed + trial number


def test_pruner_prunes_trials_that_report_bad_intermediate_values(cli, workspace, fake_fit):
    result = cli(
        "tune", "--plugin", "triplet", "--trials", "6", "--no-submit", "--seed", "10", "--set", "train.epochs=3"
    )
    assert result.exit_code == 0, result.stderr
    study = load_study(workspace, "digits-triplet")
    by_number = {t.number: t.state.name for t in study.get_trials()}
    # trials 0 and 1 complete (the pruner's start-up); then every odd (bad) trial is pruned at epoch 1
    assert by_number == {0: "COMPLETE", 1: "COMPLETE", 2: "COMPLETE", 3: "PRUNED", 4: "COMPLETE", 5: "PRUNED"}
    assert study.trials[3].intermediate_values == {1: pytest.approx(0.1 / 3)}
    assert "PRUNED" in result.stdout and "trial   5" in result.stdout
    assert "too few complete trials to rank importances" in result.stdout  # 4 complete of 6: below 10
    assert "optuna-dashboard" in result.stdout
    assert "4 complete, 2 pruned, 0 failed" in result.stdout


def test_trials_is_the_study_total_and_a_rerun_resumes(cli, workspace, fake_fit):
    args = ["tune", "--plugin", "triplet", "--no-submit", "--pruner", "none", *TINY]
    assert cli(*args, "--trials", "2").exit_code == 0
    assert cli(*args, "--trials", "2").exit_code == 0  # already done: no new trial
    assert len(fake_fit) == 2
    assert cli(*args, "--trials", "4").exit_code == 0  # resumes: two more
    study = load_study(workspace, "digits-triplet")
    assert [t.number for t in study.trials] == [0, 1, 2, 3] and finished(study) == 4
    assert [cfg["seed"] for cfg in fake_fit] == [0, 1, 2, 3]


def test_killed_worker_trial_is_failed_and_the_study_goes_on(cli, workspace, fake_fit):
    import optuna

    from harness.tune.storage import HEARTBEAT_KEY, open_storage

    storage = open_storage(workspace, None, "digits-triplet").storage
    study = optuna.create_study(storage=storage, study_name="digits-triplet", direction="maximize")
    dead = study.ask()  # a worker that died mid-trial: RUNNING, last heartbeat an hour ago
    storage.set_trial_system_attr(dead._trial_id, HEARTBEAT_KEY, time.time() - 3600)

    result = cli("tune", "--plugin", "triplet", "--trials", "2", "--no-submit", "--pruner", "none", *TINY)
    assert result.exit_code == 0, result.stderr
    assert "stale trial(s) 0" in result.stdout
    study = load_study(workspace, "digits-triplet")
    assert study.trials[0].state.name == "FAIL"
    assert "no heartbeat" in study.trials[0].user_attrs["failed_because"]
    assert states(study) == {"FAIL": 1, "COMPLETE": 2}


def test_only_silent_running_trials_are_stale(workspace):
    import optuna

    from harness.tune.storage import HEARTBEAT_KEY, Heartbeat, fail_stale_trials, open_storage

    storage = open_storage(workspace, None, "s").storage
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    dead, alive = study.ask(), study.ask()
    storage.set_trial_system_attr(dead._trial_id, HEARTBEAT_KEY, time.time() - 600)
    with Heartbeat(storage, alive._trial_id, interval=0.05):
        time.sleep(0.2)
        assert fail_stale_trials(study, grace=60) == [0]
    assert [t.state.name for t in study.get_trials()] == ["FAIL", "RUNNING"]
    assert study.get_trials()[1].system_attrs[HEARTBEAT_KEY] > time.time() - 5


def test_sqlite_storage_url_and_quiet_output(cli, workspace, fake_fit, tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    result = cli("tune", "--plugin", "triplet", "--trials", "2", "--no-submit", "--storage", url, "--quiet", *TINY)
    assert result.exit_code == 0, result.stderr
    assert "trial   0" not in result.stdout  # --quiet: the summary only
    assert f"optuna-dashboard {url}" in result.stdout
    assert finished(load_study(workspace, "digits-triplet", url)) == 2
    assert not (workspace.root / "studies" / "digits-triplet.journal").exists()


def test_timeout_stops_starting_trials(cli, workspace, fake_fit, monkeypatch):
    import harness.train.loop

    quick = harness.train.loop.fit

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return quick(*args, **kwargs)

    monkeypatch.setattr(harness.train.loop, "fit", slow)
    result = cli("tune", "--plugin", "triplet", "--trials", "50", "--timeout", "0.5", "--no-submit", *TINY)
    assert result.exit_code == 0, result.stderr
    assert "timeout of 0.5 s reached" in result.stdout
    assert 1 <= len(fake_fit) <= 2  # the trial running at the deadline finishes; no new one starts


def test_study_of_another_method_is_refused(cli, workspace, fake_fit):
    args = ["--trials", "1", "--no-submit", "--study", "shared", *TINY]
    assert cli("tune", "--plugin", "triplet", *args).exit_code == 0
    result = cli("tune", "--plugin", "contrastive", *args)
    assert result.exit_code == 1
    assert "tunes method 'triplet'" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--plugin", "nosuch"], "unknown method 'nosuch'"),
        (["--plugin", "triplet", "--set", "optim.lrr=1"], "unknown setting optim.lrr"),
        (["--plugin", "triplet", "--pruner", "sometimes"], "--pruner must be one of"),
        (["--plugin", "triplet", "--trials", "0"], "--trials must be at least 1"),
        (["--plugin", "triplet", "--storage", "nosuchdb://x"], "cannot use study storage nosuchdb://x"),
        (["--plugin", "triplet", "--storage", "postgresql://u:secret@127.0.0.1:1/db"], "cannot use study storage"),
        (["--plugin", "triplet", "--study", "../escape"], "invalid study name"),
    ],
)
def test_user_errors_are_one_line(cli, args, message):
    if "--trials" not in args:
        args = [*args, "--trials", "2"]
    result = cli("tune", *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- slow: real training on digits ----------------------------------------------------------------


@pytest.mark.slow
def test_three_trial_search_on_digits_submits_the_best(cli, workspace):
    from harness.scoring.leaderboard import read_rows

    result = cli("tune", "--plugin", "triplet", "--trials", "3", "--final-seeds", "1", *TINY)
    assert result.exit_code == 0, result.stderr
    study = load_study(workspace, "digits-triplet")
    assert finished(study) == 3
    board = read_rows(workspace.leaderboard_path("digits"))
    rows = [r for r in board if r["study"]]
    assert len(rows) == 1 and len(board) == 2  # the tuned seed, and the default config's seed to compare with
    assert rows[0]["study"] == "digits-triplet" and int(rows[0]["trial"]) == study.best_trial.number
    assert int(rows[0]["seed"]) == 0  # final seeds are 0..N-1: the group joins any other seeds-0..N-1 group
    assert study.user_attrs[f"submission:{study.best_trial.number}"] == rows[0]["submission_id"]
    assert "submitted" in result.stdout and "best: trial" in result.stdout and "verdict:" in result.stdout

    again = cli("tune", "--plugin", "triplet", "--trials", "3", "--final-seeds", "1", *TINY)  # nothing left to do
    assert again.exit_code == 0, again.stderr
    assert "already submitted" in again.stdout
    assert len(read_rows(workspace.leaderboard_path("digits"))) == 2 and finished(study) == 3


HALF_BAD_PLUGIN = """
from harness import hookimpl
from harness.methods import Method
from plugins.methods.triplet import DEFAULTS


def search_space(trial):
    # even trials learn; odd ones cannot (learning rate 1e-9, a 1-d embedding): the pruner stops those
    bad = trial.number % 2 == 1
    return {
        "optim.lr": 1e-9 if bad else 3e-3,
        "head.dim": 1 if bad else 64,
        "optim.weight_decay": trial.suggest_float("optim.weight_decay", 1e-5, 1e-4, log=True),
    }


@hookimpl
def register_methods(register):
    register("halfbad", lambda: Method("half of its trials cannot learn", DEFAULTS, search_space))
"""


@pytest.mark.slow
def test_real_median_pruner_prunes_a_bad_region(cli, workspace, plugins_dir):
    (plugins_dir / "halfbad.py").write_text(HALF_BAD_PLUGIN)
    result = cli(
        "tune",
        "--plugin",
        "halfbad",
        "--trials",
        "4",
        "--no-submit",
        "--set",
        "train.epochs=2",
        "--set",
        "train.batch_size=64",
    )
    assert result.exit_code == 0, result.stderr
    trials = load_study(workspace, "digits-halfbad").trials
    assert [t.state.name for t in trials[:2]] == ["COMPLETE"] * 2  # the pruner's start-up trials
    # After one short epoch a good trial can land just under the median of one good and one bad
    # trial, so trial 2 may go either way; the bad trial 3 is below any good trial and must go.
    assert trials[2].state.name in ("COMPLETE", "PRUNED")
    assert trials[3].state.name == "PRUNED" and list(trials[3].intermediate_values) == [1]


@pytest.mark.slow
def test_search_never_touches_query_gallery_or_answers(cli, workspace, monkeypatch):
    import harness.data.competition as competition

    touched = []

    def spy(name):
        def refuse(*args, **kwargs):
            touched.append(name)
            raise AssertionError(f"the search touched {name}")

        return refuse

    for name in ("query", "gallery", "images_by_id"):
        monkeypatch.setattr(competition.Competition, name, spy(name))
    monkeypatch.setattr("harness.scoring.answers.load_answers", spy("load_answers"))
    monkeypatch.setattr("harness.scoring.submit.load_answers", spy("load_answers"))
    result = cli("tune", "--plugin", "triplet", "--trials", "2", "--no-submit", "--pruner", "none", *TINY)
    assert result.exit_code == 0, result.stderr
    assert touched == []
    assert states(load_study(workspace, "digits-triplet")) == {"COMPLETE": 2}


def _workers(n, args, env=None):
    command = [sys.executable, "-c", "from harness.cli import main; main()", "tune", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)
    ]


def _distributed(workspace, storage_args, study_name, storage=None):
    from harness.data.competition import open_competition
    from harness.scoring.leaderboard import read_rows

    open_competition(workspace, "digits")  # write the manifest once, before the workers start
    n = 4
    args = [
        "--plugin",
        "triplet",
        "--trials",
        str(n),
        "--study",
        study_name,
        "--quiet",
        "--pruner",
        "none",
        "--final-seeds",
        "1",
        *storage_args,
        *TINY,
    ]
    procs = _workers(2, args)
    try:
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    study = load_study(workspace, study_name, storage)
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == max(numbers) + 1  # no duplicates, no gaps
    assert finished(study) == n
    assert all(t.state.name != "RUNNING" for t in trials)
    assert all(t.user_attrs.get("surplus") for t in trials if t.state.name == "FAIL")
    rows = [r for r in read_rows(workspace.leaderboard_path("digits")) if r["study"] == study_name]
    assert len(rows) == 1, "exactly one worker submits the best trial"
    assert int(rows[0]["trial"]) == study.best_trial.number
    return study


@pytest.mark.slow
def test_two_workers_share_a_journal_study(workspace):
    study = _distributed(workspace, [], "digits-triplet")
    assert (workspace.studies / "digits-triplet.journal").is_file()
    assert len({t.user_attrs["worker"] for t in study.trials if "worker" in t.user_attrs}) == 2  # both took part


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(
    not POSTGRES_URL, reason="set BENCH_TEST_POSTGRES_URL (e.g. from .ci/postgres) to run against PostgreSQL"
)
def test_two_workers_share_a_postgres_study(workspace):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    study = _distributed(workspace, ["--storage", POSTGRES_URL], name, POSTGRES_URL)
    assert len({t.user_attrs["worker"] for t in study.trials if "worker" in t.user_attrs}) == 2


def test_a_grace_period_shorter_than_the_heartbeat_is_refused_before_any_study(cli, workspace):
    result = cli("tune", "--plugin", "triplet", "--trials", "2", "--grace-period", "5")
    assert result.exit_code == 1 and "--grace-period must be longer than the heartbeat" in result.stderr
    assert not (workspace.root / "studies").exists()


def test_a_competition_without_a_usable_val_split_is_refused_before_training(workspace, fake_fit, monkeypatch):
    import numpy as np

    from harness.data.competition import Competition
    from harness.errors import TuneError
    from harness.tune.study import TuneRequest, tune

    monkeypatch.setattr(Competition, "val", lambda self: SimpleNamespace(labels=np.arange(5)))
    with pytest.raises(TuneError, match="no usable val split"):
        tune(workspace, TuneRequest("triplet", 2))
    assert fake_fit == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_device_is_refused_before_the_study_is_created(cli, workspace):
    result = cli("tune", "--plugin", "triplet", "--trials", "2", "--device", "cuda")
    assert result.exit_code == 1 and "CUDA is not available" in result.stderr
    assert not (workspace.root / "studies").exists()


def test_replacing_a_component_drops_its_search_space_keys(cli, workspace, fake_fit):
    # triplet searches loss.margin and loss.mining; contrastive has no `mining`, and starts from its own defaults
    result = cli(
        "tune",
        "--plugin",
        "triplet",
        "--trials",
        "2",
        "--no-submit",
        "--pruner",
        "none",
        "--set",
        "loss.name=contrastive",
        *TINY,
    )
    assert result.exit_code == 0, result.stderr
    assert [cfg["loss"] for cfg in fake_fit] == [{"name": "contrastive"}] * 2
    for t in load_study(workspace, "digits-triplet").get_trials():
        assert "loss.mining" not in t.params and "loss.margin" not in t.params
        assert "optim.lr" in t.params and "head.dim" in t.params  # the other sections are still searched
