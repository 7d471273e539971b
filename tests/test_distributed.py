"""Several processes: torchrun's environment, the rank sampler, global-batch losses (real gloo ranks), --nproc."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness.components import create_loss
from harness.errors import ConfigError, TrainingError
from harness.train.distributed import RankBatches, Ranks, backend_for, from_environment, rank_seed
from harness.train.launch import first_reason
from plugins.samplers.pk import PKSampler

REPO = Path(__file__).resolve().parents[1]


def repo_env(root: Path) -> dict[str, str]:
    return {**os.environ, "BENCH_ROOT": str(root), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


# -- torchrun's environment --------------------------------------------------------------------
def test_ranks_come_from_torchrun_variables():
    assert from_environment({}) == Ranks(0, 1, 0, 1)
    ranks = from_environment({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert ranks == Ranks(3, 4, 1, 2) and ranks.distributed and not ranks.is_main


@pytest.mark.parametrize(
    "env",
    [{"WORLD_SIZE": "2", "RANK": "2"}, {"WORLD_SIZE": "0"}, {"WORLD_SIZE": "two"}, {"WORLD_SIZE": "2", "RANK": "-1"}],
)
def test_an_inconsistent_torchrun_environment_is_a_config_error(env):
    with pytest.raises(ConfigError, match="torchrun"):
        from_environment(env)


def test_backends_and_rank_seeds():
    assert backend_for("cuda") == "nccl" and backend_for("cpu") == "gloo"
    with pytest.raises(ConfigError, match="cpu or cuda"):
        backend_for("mps")
    assert rank_seed(7, Ranks(0, 2)) == 7 and rank_seed(7, Ranks(1, 2)) == 8


def test_processes_must_fit_the_devices_before_any_starts(monkeypatch):
    from harness.train.distributed import check_ranks_fit

    check_ranks_fit(torch.device("cpu"), 8)  # gloo: as many CPU processes as asked
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_ranks_fit(torch.device("cuda"), 2)
    with pytest.raises(ConfigError, match="3 processes per machine need as many GPUs but this machine has 2"):
        check_ranks_fit(torch.device("cuda"), 3)
    with pytest.raises(ConfigError, match="cpu or cuda"):
        check_ranks_fit(torch.device("mps"), 2)


# -- the rank sampler --------------------------------------------------------------------------
def test_ranks_get_disjoint_whole_pk_batches_of_one_shared_sequence():
    labels = np.repeat(np.arange(10), 12)
    world = 3
    shards = []
    for rank in range(world):
        sampler = RankBatches(PKSampler(labels, 16, k=4, seed=5), Ranks(rank, world))
        sampler.on_epoch_start(2, 4)
        shards.append(list(sampler))
    single = PKSampler(labels, 16, k=4, seed=5)
    single.on_epoch_start(2, 4)
    sequence = list(single)
    rounds = len(sequence) // world
    assert all(len(shard) == rounds for shard in shards)
    for rank, shard in enumerate(shards):
        assert shard == sequence[rank : rounds * world : world]  # batch r, r + W, ... of the one sequence
        for batch in shard:  # P x K kept: 4 classes, 4 images each
            assert sorted(Counter(labels[batch].tolist()).values()) == [4, 4, 4, 4]
    # no two ranks train on the same batch in a round
    for step in range(rounds):
        assert len({tuple(shard[step]) for shard in shards}) == world


def test_the_rank_sampler_has_exactly_the_optional_members_of_the_sampler():
    class Feedback:
        refresh_every = 3

        def __len__(self):
            return 4

        def __iter__(self):
            return iter([[0, 1]] * 4)

        def refresh(self, embeddings):
            pass

        def observe(self, positions, losses, embeddings):
            self.seen = positions

    from harness.hookspecs import EpochAware, FeedbackSampler, RefreshableSampler

    plain = RankBatches(PKSampler(np.repeat(np.arange(4), 4), 8, k=2), Ranks(0, 2))
    assert isinstance(plain, EpochAware) and not isinstance(plain, FeedbackSampler | RefreshableSampler)
    wrapped = RankBatches(Feedback(), Ranks(1, 2))
    assert isinstance(wrapped, FeedbackSampler) and isinstance(wrapped, RefreshableSampler)
    assert not isinstance(wrapped, EpochAware) and wrapped.refresh_every == 3 and len(wrapped) == 2


def test_a_sampler_with_fewer_batches_than_ranks_is_refused():
    with pytest.raises(TrainingError, match="fewer than the 4 processes"):
        RankBatches(PKSampler(np.repeat(np.arange(4), 4), 8, k=2), Ranks(0, 4))


def test_an_incomplete_last_round_is_dropped_so_every_rank_takes_the_same_steps():
    class Short:  # says 5 batches but yields 3
        def __len__(self):
            return 5

        def __iter__(self):
            return iter([[0], [1], [2]])

    counts = [len(list(RankBatches(Short(), Ranks(rank, 2)))) for rank in range(2)]
    assert counts == [1, 1]


def test_in_batch_losses_are_wrapped_for_the_global_batch_unless_switched_off(monkeypatch):
    from harness.components import create_loss
    from harness.pipeline import resolve_run_config
    from harness.train import distributed
    from harness.train.parts import in_batch_loss

    for method, expected in (("triplet", True), ("contrastive", True), ("hashnet", True), ("softmax", False)):
        assert in_batch_loss(resolve_run_config(method), "loss") is expected, method
    assert not in_batch_loss(resolve_run_config("triplet"), "classification")  # the softmax term
    losses = {"loss": create_loss("triplet"), "classification": create_loss("softmax", num_classes=3, in_dim=4)}
    assert distributed.across_ranks(losses, lambda key: key == "loss", True) == losses  # one process: as is
    monkeypatch.setattr(distributed, "current", lambda: Ranks(0, 2))
    wrapped = distributed.across_ranks(losses, lambda key: key == "loss", True)
    assert isinstance(wrapped["loss"], distributed.GlobalBatchLoss) and wrapped["loss"].loss is losses["loss"]
    assert wrapped["classification"] is losses["classification"]
    assert distributed.across_ranks(losses, lambda key: key == "loss", False) == losses  # gather_embeddings off


# -- real ranks (gloo, two processes) ----------------------------------------------------------
def test_two_gloo_ranks_train_like_one_process_on_the_global_batch(tmp_path):
    """One torchrun of tests/ddp_gradients.py (starting ranks is slow), then every check on what it saved."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*command, str(REPO / "tests" / "ddp_gradients.py"), str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # DDP + GlobalBatchLoss: the loss of the whole batch, and the gradient one process computes for it
    for loss in ("triplet", "contrastive", "hashnet"):
        result = torch.load(tmp_path / f"{loss}.pt")
        assert result["loss"].item() == pytest.approx(result["expected_loss"].item(), rel=1e-5), loss
        torch.testing.assert_close(result["grad"], result["expected_grad"], rtol=1e-4, atol=1e-6)
        assert result["per_sample_api"]  # these losses give per-sample values, and the wrapper passes them on
    # per-sample values are the rank's own; their mean has the global mean's gradient
    result = torch.load(tmp_path / "per_sample.pt")
    assert result["per_sample_api"]
    torch.testing.assert_close(result["grad"], result["expected_grad"], rtol=1e-4, atol=1e-6)
    # gather (uneven sizes, rank order), average, shard, broadcast
    result = torch.load(tmp_path / "collectives.pt")
    assert result["world"] == 2
    assert result["rows"].tolist() == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]] and result["where"] == (0, 1)
    assert result["center_grad"].tolist() == [0.5, 0.5, 0.5]
    assert result["shards"] == [[[0, 100], [2, 102], [4, 104]], [[1, 101], [3, 103], [5, 105]]]
    assert result["decided"] == 0.25  # rank 0's value, on every rank


# -- the launcher's one error line ---------------------------------------------------------------
class _Failure:
    def __init__(self, exitcode, data=None, timestamp=0):
        self.exitcode, self.error_file_data, self.timestamp = exitcode, data or {}, timestamp

    def signal_name(self):
        return "SIGTERM"


def _report(message, kind, when):
    return {"message": {"message": message, "extraInfo": {"bench_kind": kind, "bench_time": when}}}


def test_the_first_user_error_wins_over_follow_on_crashes_and_signals():
    failures = {
        0: _Failure(1, _report("RuntimeError: Connection closed by peer", "crash", 1.0)),
        1: _Failure(1, _report("the training loss became nan", "user", 2.0)),
        2: _Failure(-15),
    }
    assert first_reason(failures) == "rank 1: the training loss became nan"
    assert first_reason({3: _Failure(-15)}) == "rank 3: stopped by signal SIGTERM"
    assert first_reason({2: _Failure(1)}) == "rank 2: exited with code 1"


# -- bench run --nproc -------------------------------------------------------------------------
FAILS_ON_RANK_1 = """
import os

import torch
from torch import nn
from torch import nn

from harness import TrainingError, hookimpl


class FailsOnRank1(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, embeddings, labels):
        if os.environ.get("RANK") == "1":
            raise TrainingError("rank one cannot go on")
        return embeddings.pow(2).mean()


@hookimpl
def register_losses(register):
    register("fails-on-rank-1", FailsOnRank1)
"""


def _bench(root: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 600):
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        env=env or repo_env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_bench_run_nproc_2_on_cpu_leaves_one_row_above_0_85(isolated_workspace):
    from harness.scoring.leaderboard import read_rows
    from harness.workspace import Workspace

    # the method's own settings (30 epochs): two ranks of 32 images per step reach about 0.99
    done = _bench(isolated_workspace, "run", "--plugin", "hashnet", "--nproc", "2", "--device", "cpu", "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    ws = Workspace(isolated_workspace)
    rows = read_rows(ws.leaderboard_path("digits"))
    assert len(rows) == 1 and float(rows[0]["public"]) >= 0.85
    runs = list(ws.runs.iterdir())
    assert [r.name for r in runs] == [rows[0]["submission_id"]]
    assert len(list(ws.submissions_dir("digits").iterdir())) == 1
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["nproc"] == 2 and metrics["device"] == "cpu"
    assert "2 processes" in (runs[0] / "log.txt").read_text()
    assert "error" not in done.stderr.lower() and "Traceback" not in done.stderr


def with_rank_loss(workspace, tmp_path, source: str, loss: str, **env: str) -> tuple[dict[str, str], list[str]]:
    """(env, args) of a `bench run --nproc 2` of softmax whose loss is ``loss``, from a plugin file of ``source``."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "rank_loss.py").write_text(source)
    env = {**repo_env(workspace), "BENCH_PLUGINS_DIR": str(plugins), **env}
    return env, ["run", "--plugin", "softmax", "--nproc", "2", "--device", "cpu", "-q", "--set", f"loss.name={loss}"]


def test_a_failing_rank_stops_every_rank_with_one_error_line(isolated_workspace, tmp_path):
    env, args = with_rank_loss(isolated_workspace, tmp_path, FAILS_ON_RANK_1, "fails-on-rank-1")
    done = _bench(isolated_workspace, *args, "--set", "train.epochs=1", env=env, timeout=300)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: rank 1: rank one cannot go on"], done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr
    assert not (isolated_workspace / "runs").exists() or not list((isolated_workspace / "runs").iterdir())
    assert not (isolated_workspace / "leaderboards" / "digits.csv").exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--nproc", "0"], {}, "--nproc must be at least 1"),
        (["--nproc", "2"], {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}, "inside torchrun"),
    ],
)
def test_bad_nproc_is_one_line(cli, monkeypatch, args, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = cli("run", "--plugin", "hashnet", "--device", "cpu", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_global_batch_wrapper_claims_per_sample_values_only_when_the_loss_has_them():
    from harness.hookspecs import PerSampleLoss
    from harness.train.distributed import GlobalBatchLoss

    class Plain(nn.Module):
        def forward(self, embeddings, labels):
            return embeddings.sum()

    assert not isinstance(GlobalBatchLoss(Plain()), PerSampleLoss)
    assert isinstance(GlobalBatchLoss(create_loss("triplet")), PerSampleLoss)


def test_a_stopped_multi_process_run_leaves_no_orphan_folders(workspace):
    """Ranks killed before their own clean-up: the launcher's side removes what never trained or was recorded."""
    from harness.pipeline import discard_orphans

    older = workspace.run_dir("older")
    older.mkdir(parents=True)
    with pytest.raises(KeyboardInterrupt), discard_orphans(workspace, "digits"):
        for name, weights in (("killed", False), ("trained", True)):
            workspace.run_dir(name).mkdir(parents=True)
            if weights:
                (workspace.run_dir(name) / "weights.safetensors").write_bytes(b"w")
            workspace.submission_path("digits", name).parent.mkdir(parents=True, exist_ok=True)
            workspace.submission_path("digits", name).write_text("query_id,neighbors\n")
        raise KeyboardInterrupt
    assert older.is_dir() and workspace.run_dir("trained").is_dir()  # trained but unrecorded: kept to submit
    assert workspace.submission_path("digits", "trained").is_file()
    assert not workspace.run_dir("killed").exists() and not workspace.submission_path("digits", "killed").exists()


# -- issue 22: a rank that exits, a rank that is stopped, a launcher that is killed ----------------------
def _crash(message, when=1.0):
    return _report(message, "crash", when)


def test_a_rank_that_just_exits_is_blamed_not_the_rank_that_lost_its_connection():
    lost = "RuntimeError: [gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:41234"
    assert (
        first_reason({0: _Failure(1, _crash(lost, 1.0)), 1: _Failure(3, timestamp=2)}) == "rank 1: exited with code 3"
    )
    reset = "DistBackendError: Connection reset by peer"
    assert first_reason({0: _Failure(1, _crash(reset)), 2: _Failure(-9)}) == "rank 2: stopped by signal SIGTERM"
    assert first_reason({0: _Failure(1, _crash(lost))}) == f"rank 0: {lost}"  # nothing better: still one line
    assert first_reason({0: _Failure(1, _crash("ValueError: bad shape")), 1: _Failure(3)}) == (
        "rank 0: ValueError: bad shape"  # a real crash still wins over a silent exit
    )


def test_a_collective_that_timed_out_is_one_line_naming_the_timeout():
    waited = "DistBackendError: [gloo] Timed out waiting 15000ms for recv operation to complete"
    line = first_reason({0: _Failure(1, _crash(waited))}, 15.0)
    assert line.startswith("rank 0 had no answer from the other ranks for 15 s (BENCH_COLLECTIVE_TIMEOUT)")
    assert "stopped or stuck" in line and "\n" not in line
    killed = first_reason({0: _Failure(1, _crash(waited)), 1: _Failure(-9, timestamp=5)}, 15.0)
    assert killed.startswith("rank 1 stopped answering: rank 0 waited for 15 s (BENCH_COLLECTIVE_TIMEOUT)")


def test_the_collective_timeout_comes_from_the_environment():
    from harness.train.distributed import collective_timeout

    assert collective_timeout({}).total_seconds() == 90
    assert collective_timeout({"BENCH_COLLECTIVE_TIMEOUT": "12.5"}).total_seconds() == 12.5
    for bad in ("soon", "0", "-3", "inf", "nan"):
        with pytest.raises(ConfigError, match="BENCH_COLLECTIVE_TIMEOUT must be a positive number"):
            collective_timeout({"BENCH_COLLECTIVE_TIMEOUT": bad})


ORPHAN = """
import os, sys, time
from harness.train.launch import RankStopped, stop_on_sigterm
try:
    with stop_on_sigterm():
        open(sys.argv[1], "w").write("running")
        time.sleep(120)
except RankStopped as exc:
    open(sys.argv[1], "w").write(str(exc))
"""

LAUNCHER = """
import os, subprocess, sys, time
env = {**os.environ, "BENCH_LAUNCHED_RANKS": "1", "BENCH_LAUNCHER_PID": str(os.getpid())}
rank = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], env=env, start_new_session=True)
print(rank.pid, flush=True)
time.sleep(120)
"""


def _gone(pid, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        state = (
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else ""
        )
        if state == "Z":  # a zombie: exited, waiting for init to reap it
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_rank_stops_when_its_launcher_is_killed(tmp_path):
    """kill -9 of the launcher: its rank (in a session of its own, as torch starts them) gets SIGTERM."""
    import signal

    said = tmp_path / "said.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, ORPHAN, str(said)], env=env, stdout=subprocess.PIPE)
    rank = int(launcher.stdout.readline())
    try:
        deadline = time.monotonic() + 60
        while not (said.exists() and said.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        launcher.kill()
        launcher.wait()
        assert _gone(rank, 20), "the rank outlived its launcher"
        assert said.read_text() == "stopped because another rank failed"  # RankStopped: it cleaned up
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(rank, signal.SIGKILL)


def test_a_rank_whose_launcher_is_gone_records_nothing(monkeypatch):
    from harness.train.launch import RankStopped, check_launcher, follow_launcher

    monkeypatch.setenv("BENCH_LAUNCHED_RANKS", "1")
    monkeypatch.setenv("BENCH_LAUNCHER_PID", str(os.getppid()))
    check_launcher()
    monkeypatch.setenv("BENCH_LAUNCHER_PID", str(os.getppid() + 100_000))  # another parent: it died
    with pytest.raises(RankStopped, match="launcher is gone"):
        check_launcher()
    with pytest.raises(RankStopped, match="launcher is gone"):
        follow_launcher()
    monkeypatch.delenv("BENCH_LAUNCHED_RANKS")  # the user's own torchrun: never checked
    check_launcher()


EXITS_ON_RANK_1 = FAILS_ON_RANK_1.replace('raise TrainingError("rank one cannot go on")', "os._exit(3)")


def _ranks_of(launcher_pid):
    """The launched ranks: the launcher's children, by their RANK variable."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != launcher_pid:
                continue
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        rank = next((v[5:] for v in environ if v.startswith(b"RANK=")), None)
        if rank is not None:
            found[int(rank)] = int(stat.parent.name)
    return found


def _start_training(root, *extra, env=None):
    args = ["run", "--plugin", "softmax", "--nproc", "2", "--device", "cpu", "-q", "--set", "train.epochs=40", *extra]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        env=env or repo_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    ranks = {}
    while time.monotonic() < deadline and launcher.poll() is None:
        ranks = _ranks_of(launcher.pid)
        if len(ranks) == 2 and (root / "runs").is_dir() and any((root / "runs").iterdir()):
            time.sleep(3)  # into the training's steps
            return launcher, ranks
        time.sleep(0.2)
    tree = _process_tree(launcher.pid)  # what the launcher and its ranks wait on (a plugin probe, a rank)
    launcher.kill()
    raise AssertionError(f"the ranks did not start training: {tree}; {launcher.communicate()[1][-2000:]}")


def _process_tree(root_pid):
    """The processes under ``root_pid``: pid, state and the start of the command line of each."""
    parents, found = {root_pid}, []
    for _ in range(3):  # launcher -> ranks -> their children
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")[:120].decode(errors="replace")
            except (OSError, IndexError):
                continue
            pid = int(stat.parent.name)
            if int(fields[1]) in parents and pid not in parents:
                parents.add(pid)
                found.append(f"{pid} {fields[0]} {command}")
    return found


def _kill_all(launcher, ranks):
    import signal

    for pid in [launcher.pid, *ranks.values()]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    launcher.wait()


@pytest.mark.slow
def test_a_rank_that_exits_is_blamed_by_its_number(isolated_workspace, tmp_path):
    env, args = with_rank_loss(isolated_workspace, tmp_path, EXITS_ON_RANK_1, "fails-on-rank-1")
    done = _bench(isolated_workspace, *args, "--set", "train.epochs=1", env=env, timeout=300)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and errors == ["error: rank 1: exited with code 3"], done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the ranks through /proc")
def test_a_stopped_rank_ends_the_job_after_the_collective_timeout(isolated_workspace):
    import signal

    env = {**repo_env(isolated_workspace), "BENCH_COLLECTIVE_TIMEOUT": "15"}
    launcher, ranks = _start_training(isolated_workspace, env=env)
    try:
        os.kill(ranks[1], signal.SIGSTOP)
        stopped = time.monotonic()
        _, stderr = launcher.communicate(timeout=150)
        waited = time.monotonic() - stopped
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert launcher.returncode == 1 and len(errors) == 1, stderr[-3000:]
        assert "rank 1 stopped answering: rank 0 waited for 15 s (BENCH_COLLECTIVE_TIMEOUT)" in errors[0]
        assert waited < 15 + 30 + 30  # the timeout, then the watch ends rank 1 at once (torch alone waits 30 s more)
        assert not (isolated_workspace / "leaderboards" / "digits.csv").exists()
    finally:
        _kill_all(launcher, ranks)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_kill_9_of_the_launcher_stops_every_rank_before_it_records(isolated_workspace):
    launcher, ranks = _start_training(isolated_workspace)
    try:
        launcher.kill()
        launcher.wait()
        assert all(_gone(pid, 30) for pid in ranks.values()), "ranks outlived the launcher"
        assert not (isolated_workspace / "leaderboards" / "digits.csv").exists()
        assert not list((isolated_workspace / "runs").iterdir())  # rank 0 cleaned up its run folder
    finally:
        _kill_all(launcher, ranks)


# -- the launcher's watch: ranks nobody would time out on ----------------------------------------------
def _fake_ranks(run_id, *commands):
    """Children of this process that look like the agent's ranks (RANK, TORCHELASTIC_RUN_ID), each in a session."""
    children = []
    for rank, command in enumerate(commands):
        env = {**os.environ, "RANK": str(rank), "TORCHELASTIC_RUN_ID": run_id}
        children.append(subprocess.Popen(command, env=env, start_new_session=True))
    return children


def _watch_until(watch, seconds, done):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        time.sleep(0.05)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="the watch reads /proc")
def test_the_watch_ends_a_stopped_rank_once_no_rank_is_left_to_time_out_on_it():
    import signal

    from harness.train.rank_watch import RankWatch

    main, other = _fake_ranks("watch-stopped", ["sleep", "2"], ["sleep", "60"])
    try:
        with RankWatch("watch-stopped", 2, limit_seconds=0.5, poll_seconds=0.05) as watch:
            _watch_until(watch, 10, lambda: len(watch.ranks) == 2)
            os.kill(other.pid, signal.SIGSTOP)
            time.sleep(1.0)  # stopped past the limit, but rank 0 still runs: it would time out on rank 1
            assert watch.ended == {} and other.poll() is None
            main.wait()  # rank 0 finished: nobody is left to time out, so the watch ends rank 1
            _watch_until(watch, 10, lambda: other.poll() is not None)
        assert other.returncode == -signal.SIGKILL
        assert watch.ended == {1: "was stopped (process state T) for 0.5 s with no rank left to wait for it"}
    finally:
        for child in (main, other):
            child.kill()
            child.wait()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="the watch reads /proc")
def test_the_watch_ends_a_rank_still_running_a_limit_after_rank_0_finished():
    from harness.train.rank_watch import RankWatch

    main, other = _fake_ranks("watch-stuck", ["sleep", "0.5"], ["sleep", "60"])
    quick = _fake_ranks("watch-quick", ["sleep", "0.5"], ["sleep", "0.6"])
    try:
        with RankWatch("watch-stuck", 2, limit_seconds=1.0, poll_seconds=0.05) as watch:
            main.wait()
            finished = time.monotonic()
            _watch_until(watch, 10, lambda: other.poll() is not None)
            assert time.monotonic() - finished >= 0.9  # not before the limit
        assert watch.ended == {1: "had not finished 1 s after rank 0 did"}
        with RankWatch("watch-quick", 2, limit_seconds=1.0, poll_seconds=0.05) as calm:
            for child in quick:
                child.wait()
            time.sleep(1.5)
        assert calm.ended == {} and [child.returncode for child in quick] == [0, 0]  # ranks that end are left alone
    finally:
        for child in (main, other, *quick):
            child.kill()
            child.wait()


def test_a_rank_the_watch_ended_is_named_with_why():
    stopped = "was stopped (process state T) for 15 s with no rank left to wait for it"
    line = first_reason({1: _Failure(-9, timestamp=5)}, 15.0, {1: stopped})
    assert line == (
        f"rank 1 {stopped} (BENCH_COLLECTIVE_TIMEOUT): the launcher ended it; rank 0 had finished, so its result "
        "above stands"
    )
    alone = first_reason({0: _Failure(-9, timestamp=5)}, 15.0, {0: stopped})
    assert alone == f"rank 0 {stopped} (BENCH_COLLECTIVE_TIMEOUT): the launcher ended it"
    waited = "DistBackendError: [gloo] Timed out waiting 15000ms for recv operation to complete"
    both = first_reason({0: _Failure(1, _crash(waited)), 1: _Failure(-9, timestamp=5)}, 15.0, {1: stopped})
    assert both.startswith("rank 1 stopped answering: rank 0 waited for 15 s (BENCH_COLLECTIVE_TIMEOUT)")
    assert both.endswith(f"then the launcher ended rank 1 (it {stopped})")
    user = first_reason({0: _Failure(1, _report("the training loss became nan", "user", 1.0)), 1: _Failure(-9)}, 15.0)
    assert user == "rank 0: the training loss became nan"  # a real reason still wins


STOPS_ON_RANK_1_AFTER_TRAINING = """
import atexit
import os
import signal

from torch import nn

from harness import hookimpl


class StopsRank1AtExit(nn.Module):
    def __init__(self):
        super().__init__()
        if os.environ.get("RANK") == "1":  # once its share of training is done: stopped, never exits
            atexit.register(os.kill, os.getpid(), signal.SIGSTOP)

    def forward(self, embeddings, labels):
        return embeddings.pow(2).mean()


@hookimpl
def register_losses(register):
    register("stops-rank-1", StopsRank1AtExit)
"""


def _processes_naming(text):
    """Processes whose command line names ``text`` (the test's workspace), with their state."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found[int(cmdline.parent.name)] = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="the watch reads /proc")
def test_a_rank_stopped_after_training_ends_the_job_once_rank_0_has_recorded(isolated_workspace, tmp_path):
    """rank 1 stops (SIGSTOP) after its last collective while rank 0 embeds alone: no collective can time out,
    and torch's launcher would wait for it forever. The watch ends it; rank 0's one row stands, nothing else."""
    import signal

    from harness.scoring.leaderboard import read_rows

    env, args = with_rank_loss(
        isolated_workspace, tmp_path, STOPS_ON_RANK_1_AFTER_TRAINING, "stops-rank-1", BENCH_COLLECTIVE_TIMEOUT="20"
    )
    launcher = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args, "--set", "train.epochs=1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, stderr = launcher.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        stuck = _processes_naming(str(isolated_workspace))
        launcher.kill()
        _, stderr = launcher.communicate()
        raise AssertionError(f"the launcher waited for the stopped rank (states {stuck}): {stderr[-2000:]}") from None
    finally:
        for pid in _processes_naming(str(isolated_workspace)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert launcher.returncode == 1 and len(errors) == 1, stderr[-3000:]
    assert errors[0].startswith("error: rank 1 was stopped (process state T) for 20 s"), errors[0]
    assert "rank 0 had finished, so its result above stands" in errors[0]
    assert "Traceback" not in stderr
    assert _processes_naming(str(isolated_workspace)) == {}  # the stopped rank is gone, not left behind
    rows = read_rows(isolated_workspace / "leaderboards" / "digits.csv")
    assert len(rows) == 1  # recorded once, by rank 0
    runs = sorted(path.name for path in (isolated_workspace / "runs").iterdir())
    assert runs == [rows[0]["submission_id"]]
    kept = list((isolated_workspace / "submissions" / "digits").iterdir())
    assert [path.name.split(".")[0] for path in kept] == [rows[0]["submission_id"]]
    files = [p for p in isolated_workspace.rglob("*") if p.is_file()]
    leftovers = [
        p
        for p in files
        if "tmp" in p.name.lower() or any(part.startswith(".") for part in p.relative_to(isolated_workspace).parts)
    ]
    assert leftovers == [], leftovers  # no half-written file, nothing left staged
