"""``bench run`` end to end through the CLI, and its refusals before any training."""

from __future__ import annotations

import csv

import pytest
import torch


def leaderboard_rows(root):
    path = root / "leaderboards" / "digits.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_bench_run_hashnet_end_to_end(cli, isolated_workspace):
    result = cli("run", "--plugin", "hashnet", "--set", "train.epochs=1", "--quiet", "--name", "smoke", "--seed", "5")
    assert result.exit_code == 0, result.stderr
    assert "map@100 public" in result.stdout and "rank 1" in result.stdout
    rows = leaderboard_rows(isolated_workspace)
    assert len(rows) == 1
    row = rows[0]
    assert row["method"] == "hashnet" and row["code_kind"] == "binary" and row["bytes_per_item"] == "6"
    assert row["loss"] == "hashnet" and row["sampler"] == "random" and row["indexer"] == "hamming"
    assert row["seed"] == "5" and row["name"] == "smoke" and float(row["train_seconds"]) > 0
    assert (isolated_workspace / row["submission_path"]).is_file()
    assert (isolated_workspace / "runs" / row["submission_id"] / "weights.safetensors").is_file()


def test_bench_run_with_a_config_file_and_progress_bars(cli, isolated_workspace, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[train]\nepochs = 1\nclassification_weight = 0.5\n[head]\nname = "embedding"\ndim = 16\n')
    result = cli("run", "--plugin", "contrastive", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    row = leaderboard_rows(isolated_workspace)[0]
    assert row["loss"] == "contrastive+softmax" and row["backbone"] == "small-cnn"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--plugin", "hashnet", "--set", "train.epocs=1"], "did you mean 'epochs'"),
        (["--plugin", "hashnet", "--set", "loss.margin=0.2"], "loss 'hashnet' has no setting 'margin'"),
        (["--plugin", "hashnet", "--set", "train.epochs=many"], "train.epochs must be int"),
        (["--plugin", "hashnet", "--set", "optim.name=lion"], "optim.name must be one of"),
        (["--plugin", "hashnett"], "did you mean 'hashnet'"),
        (["--plugin", "hashnet", "--config", "missing.toml"], "does not exist"),
        (["--plugin", "hashnet", "--competition", "nope"], "unknown competition 'nope'"),
        (["--plugin", "hashnet", "--device", "tpu"], "unknown device"),
    ],
)
def test_bad_config_exits_1_with_one_line_and_trains_nothing(cli, isolated_workspace, args, message):
    result = cli("run", *args)
    assert result.exit_code == 1
    assert message.lower() in result.stderr.lower()
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    assert not (isolated_workspace / "runs").exists()
    assert leaderboard_rows(isolated_workspace) == []


def test_epochs_on_a_model_without_parameters_is_one_clear_line(cli, isolated_workspace):
    result = cli("run", "--plugin", "pixels", "--set", "train.epochs=6")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: train.epochs=6 but the model (backbone 'pixels' + head 'identity') has nothing to train; "
        "set train.epochs=0 or choose a backbone or head with parameters"
    )
    assert list((isolated_workspace / "runs").glob("*")) == [] and leaderboard_rows(isolated_workspace) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_forcing_a_missing_device_is_a_clear_error(cli, isolated_workspace):
    result = cli("run", "--plugin", "hashnet", "--device", "cuda")
    assert result.exit_code == 1 and "CUDA is not available" in result.stderr
    assert not (isolated_workspace / "runs").exists()


def test_pretrained_offline_without_a_file_fails_fast_and_leaves_no_run(cli, isolated_workspace, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli(
        "run",
        "--plugin",
        "softmax",
        "--set",
        "backbone.name=timm",
        "--set",
        "backbone.model=test_resnet",
        "--set",
        "backbone.pretrained=true",
        "--quiet",
    )
    assert result.exit_code == 1
    assert "offline" in result.stderr and "backbone.weights=PATH" in result.stderr
    assert list((isolated_workspace / "runs").glob("*")) == []
    assert leaderboard_rows(isolated_workspace) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "optim.weight_decay=-1"], "optim.weight_decay cannot be negative"),
        (["--set", "optim.backbone_lr_scale=-1"], "optim.backbone_lr_scale cannot be negative"),
        (["--set", "optim.lr=nan"], "optim.lr must be a finite number"),
        (["--seed", str(2**64)], "seed must be between"),
    ],
)
def test_values_torch_would_refuse_are_config_errors_before_training(cli, isolated_workspace, args, message):
    result = cli("run", "--plugin", "softmax", "--quiet", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (isolated_workspace / "runs").exists()


def test_a_run_that_crashes_leaves_no_run_folder_and_no_submission(cli, isolated_workspace, monkeypatch):
    def broken_submit(*args, **kwargs):
        raise RuntimeError("scorer crashed")

    monkeypatch.setattr("harness.scoring.submit.submit", broken_submit)
    with pytest.raises(RuntimeError, match="scorer crashed"):
        cli("run", "--plugin", "softmax", "--set", "train.epochs=1", "--quiet")
    assert list((isolated_workspace / "runs").glob("*")) == []
    assert list((isolated_workspace / "submissions").rglob("*.csv")) == []
    assert leaderboard_rows(isolated_workspace) == []
