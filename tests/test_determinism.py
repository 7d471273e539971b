"""Portable determinism: the ISA pin (harness.train.isa), the kernel fields of the fingerprint, rows from before
them, and `bench reproduce` speaking `bench compare`'s statistics and words."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_groups import noisy_submission, submit_group, toy  # noqa: F401  (toy is a fixture)

from harness.fingerprint import FIELDS, KERNEL_FIELDS, differences, environment, training_fields
from harness.scoring.statistics import clip_interval, verdict
from harness.train import isa

REPO = Path(__file__).resolve().parents[1]
pinnable = pytest.mark.skipif(not isa.can_pin(), reason="this CPU cannot run AVX2 kernels: bench does not pin")


def bare_env(**extra: str) -> dict[str, str]:
    """This process's environment without any pin: what a user's shell holds."""
    env = {key: value for key, value in os.environ.items() if key not in isa.PINS}
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


def python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# -- the pin --------------------------------------------------------------------------------------------
@pinnable
def test_pin_sets_what_is_unset_and_the_users_own_setting_wins():
    environ = {"MKL_CBWR": "COMPATIBLE"}
    pins = isa.pin(True, environ)
    assert environ["MKL_CBWR"] == "COMPATIBLE" and pins["MKL_CBWR"] == "COMPATIBLE"
    assert environ["ATEN_CPU_CAPABILITY"] == "avx2" and environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert environ["FAISS_SIMD_LEVEL"] == "AVX2"
    assert "ATEN_CPU_CAPABILITY=avx2" in isa.describe(pins) and "MKL_CBWR=COMPATIBLE" in isa.describe(pins)
    off = {}
    assert isa.pin(False, off) == {} and off == {} and isa.describe({}) == "none"


def test_deterministic_is_read_from_the_command_line_before_torch(tmp_path):
    off = tmp_path / "off.toml"
    off.write_text("[train]\ndeterministic = false\nepochs = 1\n")
    on = tmp_path / "on.toml"
    on.write_text("[train]\nepochs = 1\n")
    assert isa.deterministic_from_argv(["run", "--plugin", "hashnet"])
    assert not isa.deterministic_from_argv(["run", "--set", "train.deterministic=false"])
    assert not isa.deterministic_from_argv(["run", "--set=train.deterministic=false"])
    assert not isa.deterministic_from_argv(["tune", "-s", "train.deterministic = off"])
    assert isa.deterministic_from_argv(["run", "--set", "train.deterministic=true"])
    assert not isa.deterministic_from_argv(["run", "--config", str(off)])
    assert not isa.deterministic_from_argv([f"--config={off}"])
    assert isa.deterministic_from_argv(["run", "--config", str(on)])
    assert isa.deterministic_from_argv(["run", "--config", str(off), "--set", "train.deterministic=true"])  # --set wins
    assert isa.deterministic_from_argv(["run", "--config", str(tmp_path / "missing.toml")])  # the parse reports it
    assert isa.deterministic_from_argv(["-s", "tests/test_x.py"])  # pytest's -s is no setting


@pinnable
def test_the_cli_pins_before_torch_loads_and_deterministic_false_unpins():
    probe = (
        "import sys; sys.argv = ['bench', *sys.argv[1:]]; import harness.cli, os, torch; "
        "print(os.environ.get('ATEN_CPU_CAPABILITY', '-'), torch.backends.cpu.get_cpu_capability())"
    )
    fastest = python("import torch; print(torch.backends.cpu.get_cpu_capability())", bare_env())
    assert python(probe, bare_env()) == "avx2 AVX2"
    unpinned = python(probe.replace("sys.argv[1:]", "['run', '--set', 'train.deterministic=false']"), bare_env())
    assert unpinned == f"- {fastest}"  # torch picks the fastest ISA again
    # a user's own explicit setting wins over bench's
    assert python(probe, bare_env(ATEN_CPU_CAPABILITY="default")) == "default DEFAULT"


@pinnable
def test_a_library_caller_is_pinned_or_warned_once():
    pinned = python(
        "import torch; from harness.train.isa import check_torch; print(check_torch(True))", bare_env()
    )  # torch imported but no kernel run yet: the pin still takes
    assert pinned == "AVX2"
    fastest = python("import torch; print(torch.backends.cpu.get_cpu_capability())", bare_env())
    if fastest == "AVX2":
        pytest.skip("this machine's best ISA is the pin: nothing to warn about")
    code = (
        "import warnings, torch; torch.ones(2) + 1\n"
        "from harness.train.isa import check_torch\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always'); check_torch(True); check_torch(True); check_torch(False)\n"
        "print(len(caught), str(caught[0].message)[:40])"
    )
    count, message = python(code, bare_env()).split(" ", 1)
    assert count == "1" and message.startswith(f"torch already dispatches {fastest}")


def test_reference_script_pins_before_numpy():
    text = (REPO / "benchmarks" / "reference.py").read_text()
    assert text.index("pin_for_argv()") < text.index("import numpy")
    cli = (REPO / "harness" / "cli" / "__init__.py").read_text()
    assert cli.index("pin_for_argv()") < cli.index("from harness.cli.app import app")


# -- the fingerprint -------------------------------------------------------------------------------------
def test_the_fingerprint_names_what_picks_the_kernels():
    import torch

    env = environment(**training_fields(torch.device("cpu")))
    assert set(KERNEL_FIELDS) <= set(env) and set(KERNEL_FIELDS) <= set(FIELDS)
    assert env["isa"] == torch.backends.cpu.get_cpu_capability()
    assert env["isa_pins"] == isa.describe(isa.pins_in_effect())
    assert env["blas"].startswith("torch: ") and "numpy: " in env["blas"]
    if torch.backends.mkldnn.is_available():
        assert env["onednn"][:1].isdigit()
    listed = env["cpu_flags"].split()
    assert set(listed) <= isa.cpu_flags() and ("avx2" in listed) == ("avx2" in isa.cpu_flags())
    assert env["cuda"] == env["cudnn"] == env["gpu_driver"] == ""  # a CPU run


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device")
def test_cuda_runs_record_the_gpus_software_and_use_deterministic_kernels():
    import torch

    from harness.train.devices import deterministic

    device = torch.device("cuda")
    fields = training_fields(device)
    assert fields["device"] == torch.cuda.get_device_name(device) and fields["cuda"] == torch.version.cuda
    assert fields["cudnn"] and fields["gpu_driver"]
    with deterministic(device, True):
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"]
        x = torch.randn(512, 512, device=device)
        first = (x @ x).sum(dim=0)
        assert torch.equal(first, (x @ x).sum(dim=0))  # the same kernels, the same bits
    with deterministic(device, False):
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
        assert torch.get_float32_matmul_precision() == "high"


def test_rows_from_before_the_kernel_fields_still_read(cli, isolated_workspace):
    from harness.scoring.groups import row_env

    with (REPO / "leaderboards" / "digits.csv").open(newline="", encoding="utf-8") as handle:
        old = next(csv.DictReader(handle))
    recorded = row_env(old)
    assert recorded["torch"] and not set(KERNEL_FIELDS) & set(recorded)  # shipped before v3
    here = {**recorded, "git_commit": "abc1234", "isa": "AVX2", "isa_pins": "MKL_CBWR=AVX2", "cpu_flags": "avx2"}
    lines = differences(recorded, here)
    assert lines[0] == f"git_commit: {recorded['git_commit']} -> abc1234"
    assert lines[-1].startswith("not recorded by the row") and "isa, isa_pins, cpu_flags" in lines[-1]
    assert differences(here, here) == []
    # the whole shipped board reads in a workspace, every row valid and ranked
    board = isolated_workspace / "leaderboards"
    board.mkdir()
    (board / "digits.csv").write_bytes((REPO / "leaderboards" / "digits.csv").read_bytes())
    (isolated_workspace / "submissions").symlink_to(REPO / "submissions")
    result = cli("leaderboard", "-c", "digits", "-f", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    shipped = (REPO / "leaderboards" / "digits.csv").read_text(encoding="utf-8").count("\n") - 1
    assert len(rows) == shipped and all(row.get("rank") for row in rows) and rows[0]["env"]["torch"]


# -- one vocabulary of verdicts ---------------------------------------------------------------------------
def test_intervals_are_clipped_to_the_metrics_range():
    assert clip_interval(0.9102, 1.0079) == (0.9102, 1.0)
    assert clip_interval(-0.2, 0.3) == (0.0, 0.3)
    assert verdict(0.01, 0.02) == "A is better" and verdict(-0.02, -0.01, "x", "y") == "y is better"
    assert verdict(-0.01, 0.01) == "no detectable difference"


@pytest.mark.parametrize("rerun_wrong_share", [0.05, 0.9])
def test_reproduce_says_what_compare_says_of_the_same_numbers(cli, toy, tmp_path, monkeypatch, rerun_wrong_share):  # noqa: F811
    import harness.reproduce

    rows = submit_group(toy, tmp_path, "aaaa", "strong", 0.05)
    rerun_file = noisy_submission(tmp_path / "rerun-source.csv", rerun_wrong_share, 7)

    def fake_rerun(workspace, request, destination, hooks=None):
        destination.write_bytes(rerun_file.read_bytes())
        return destination, {**environment(), "isa": "AVX2"}

    monkeypatch.setattr(harness.reproduce, "recorded_config", lambda ws, row, competition: None)
    monkeypatch.setattr(harness.reproduce, "rerun_submission", fake_rerun)
    kept = tmp_path / "kept" / "rerun.csv"
    result = cli("reproduce", rows[0]["submission_id"], "-c", "toy", "--keep", str(kept), "-q")
    compared = cli("compare", str(kept), rows[0]["group"], "-c", "toy")
    assert compared.exit_code == 0, compared.stderr
    said, compare_said = " ".join(result.stdout.split()), " ".join(compared.stdout.split())  # rich wraps lines
    words = compare_said.split("verdict: ")[1].strip()
    interval = compare_said.split("95% interval ")[1].split(" A beats")[0]
    assert f"95% interval {interval};" in said  # the same bootstrap, the same numbers
    expected = words.replace("A is better", "the rerun is better").replace(
        "B is better", "the recorded group is better"
    )
    assert said.endswith(f"of bootstrap resamples: {expected}") or f"resamples: {expected} " in said
    if words == "no detectable difference":
        assert result.exit_code == 0 and "not identical, no detectable difference" in said
    else:
        assert result.exit_code == 1 and "different: the recorded group is better" in said
    low, high = (float(x) for x in said.split("seed spread [")[1].split("]")[0].split(", "))
    assert 0.0 <= low <= high <= 1.0


def test_a_byte_identical_rerun_is_identical(cli, toy, tmp_path, monkeypatch):  # noqa: F811
    import harness.reproduce

    rows = submit_group(toy, tmp_path, "aaaa", "strong", 0.3)
    kept = toy.root / rows[1]["submission_path"]

    def same_file(workspace, request, destination, hooks=None):
        destination.write_bytes(kept.read_bytes())
        return destination, environment()

    monkeypatch.setattr(harness.reproduce, "recorded_config", lambda ws, row, competition: None)
    monkeypatch.setattr(harness.reproduce, "rerun_submission", same_file)
    result = cli("reproduce", rows[1]["submission_id"], "-c", "toy", "-q")
    said = " ".join(result.stdout.split())
    assert result.exit_code == 0 and "identical: the rerun's submission file is byte for byte" in said
    assert f"recorded {float(rows[1]['public']):.4f}, rerun {float(rows[1]['public']):.4f}" in said


def test_hard_negatives_break_ties_by_position_whatever_numpys_simd():
    from plugins.samplers.hard_negative import _nearest_by_position

    rng = np.random.default_rng(0)
    for pool in (1, 3, 7):
        tied = rng.integers(0, 6, size=(50, 40)).astype(np.float64)  # many ties at the boundary
        tied[rng.random(tied.shape) < 0.1] = np.inf  # same-class items, as the sampler masks them
        plain = rng.standard_normal((30, 100))
        for d in (tied, plain):
            np.testing.assert_array_equal(_nearest_by_position(d, pool), np.argsort(d, axis=1, kind="stable")[:, :pool])
