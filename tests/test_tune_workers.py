"""``bench tune --workers N`` / ``--gpus``: local worker processes on one study, their logs, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.tune.workers import WorkerPool, parse_gpus, visible_gpu, worker_argv, worker_devices

REPO = Path(__file__).resolve().parents[1]


def test_gpus_parse_and_pin_one_worker_each():
    assert parse_gpus("0,1, 3") == [0, 1, 3]
    for bad in ("", "0,,1", "a", "-1", "0,0"):
        with pytest.raises(ConfigError, match="--gpus"):
            parse_gpus(bad)
    assert worker_devices(None, [2, 5]) == [2, 5] and worker_devices(3, None) == [None, None, None]
    with pytest.raises(ConfigError, match="disagree"):
        worker_devices(3, [0, 1])
    with pytest.raises(ConfigError, match="at least 1"):
        worker_devices(0, None)


def test_a_pinned_worker_sees_the_gpu_as_this_process_numbers_it():
    assert visible_gpu(1, None, 4) == "1"
    assert visible_gpu(1, "4,6", 2) == "6"  # index 1 of an already restricted set
    assert visible_gpu(0, "GPU-uuid-a,GPU-uuid-b", 2) == "GPU-uuid-a"
    with pytest.raises(ConfigError, match="shows 2 CUDA device"):
        visible_gpu(2, None, 2)


def test_worker_command_lines_search_only_and_repeat_the_options(tmp_path):
    argv = worker_argv(tmp_path, {"--plugin": "triplet", "--trials": 4, "--storage": None, "--seed": 3}, ["a.b=1"])
    assert argv == [
        "--root",
        str(tmp_path),
        "tune",
        "--no-submit",
        "--plugin",
        "triplet",
        "--trials",
        "4",
        "--seed",
        "3",
        "--set",
        "a.b=1",
    ]


SLEEPER = """
import sys, time
print("up and " + "waiting", flush=True)  # the log's header holds this source: split the marker
try:
    time.sleep(120)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_ctrl_c_interrupts_every_worker_and_each_keeps_its_log(tmp_path):
    pool = WorkerPool(["-c", SLEEPER], [None, None], tmp_path / "logs", command=[sys.executable])
    pool.start()
    logs = [w.log_path for w in pool.workers]
    deadline = time.monotonic() + 60
    while not all("up and waiting" in p.read_text() for p in logs) and time.monotonic() < deadline:
        time.sleep(0.1)

    def ctrl_c():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pool.wait(ctrl_c)
    assert [w.returncode for w in pool.workers] == [130, 130]
    assert [p.name for p in logs] == ["worker-0.log", "worker-1.log"]
    assert all("interrupted" in p.read_text() for p in logs)


def test_a_worker_that_ignores_ctrl_c_is_killed_after_the_grace_period(tmp_path):
    stubborn = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print('up and ' + 'waiting', flush=True); time.sleep(120)"
    )
    pool = WorkerPool(["-c", stubborn], [None], tmp_path / "logs", command=[sys.executable])
    pool.start()
    deadline = time.monotonic() + 60
    while "up and waiting" not in pool.workers[0].log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    pool.stop(grace=0.5)
    assert pool.workers[0].returncode == -signal.SIGKILL


def test_each_gpu_worker_sees_only_its_gpu_and_trains_on_cuda(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    show = "import os, sys; print('sees', os.environ['CUDA_VISIBLE_DEVICES'], 'args', *sys.argv[1:])"
    pool = WorkerPool(["-c", show, "--x"], [1, 0], tmp_path / "logs", gpu_count=2, command=[sys.executable])
    pool.start()
    pool.wait(interval=0.05)
    assert [w.returncode for w in pool.workers] == [0, 0]
    outputs = [w.log_path.read_text().splitlines()[-1] for w in pool.workers]
    assert outputs == ["sees 7 args --x --device cuda", "sees 5 args --x --device cuda"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--gpus", "0"], "CUDA is not available"),
        (["--gpus", "x"], "--gpus must list GPU indices"),
        (["--workers", "3", "--gpus", "0,1"], "disagree"),
    ],
)
def test_bad_worker_options_are_one_line(cli, args, message):
    result = cli("tune", "--plugin", "triplet", "--trials", "2", "--device", "cpu", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_two_workers_finish_one_four_trial_study_and_one_row_is_submitted(isolated_workspace):
    import optuna

    from harness.scoring.leaderboard import read_rows
    from harness.tune.storage import open_storage
    from harness.workspace import Workspace

    env = {**os.environ, "BENCH_ROOT": str(isolated_workspace), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    tiny = ["--device", "cpu", "--set", "train.epochs=1", "--set", "train.batch_size=64", "--seed", "3"]
    tiny += ["--final-seeds", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "tune", "--plugin", "triplet", "--trials", "4", "--workers", "2", *tiny],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ws = Workspace(isolated_workspace)
    study = optuna.load_study(study_name="digits-triplet", storage=open_storage(ws, None, "digits-triplet").storage)
    states = [t.state.name for t in study.get_trials()]
    assert states.count("COMPLETE") + states.count("PRUNED") == 4 and "RUNNING" not in states
    assert {t.user_attrs["worker"].split(":")[1] for t in study.get_trials()} - {str(os.getpid())}  # other processes
    logs = sorted((ws.studies / "digits-triplet.logs").iterdir())
    assert [p.name for p in logs] == ["worker-0.log", "worker-1.log"]
    assert all("not submitted (--no-submit)" in p.read_text() for p in logs)
    rows = [r for r in read_rows(ws.leaderboard_path("digits")) if r["study"]]  # the others: the defaults
    assert len(rows) == 1 and rows[0]["study"] == "digits-triplet"
    assert "2 workers ran" in done.stdout and "submitted" in done.stdout
