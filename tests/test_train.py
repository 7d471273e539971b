"""Training: val-only model selection, epoch hooks, refresh, optimiser groups, determinism, run folder."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from harness.data.competition import Competition, open_competition
from harness.errors import ConfigError
from harness.pipeline import RunRequest, resolve_run_config, run
from harness.train.devices import pick_device, uses_amp
from harness.train.loop import fit
from harness.train.model import build_model
from harness.train.parts import build_losses, build_optimizer
from harness.train.val_split import leave_one_out

FAST = ["train.epochs=1"]

MINING_SAMPLER = """
from harness import hookimpl

REFRESHED = []
EPOCHS = []


class Mining:
    refresh_every = 2

    def __init__(self, labels, batch_size, seed: int = 0):
        self.n, self.batch_size = len(labels), batch_size

    def on_epoch_start(self, epoch, epochs):
        EPOCHS.append((epoch, epochs))

    def refresh(self, embeddings):
        REFRESHED.append(embeddings.shape)

    def __len__(self):
        return self.n // self.batch_size

    def __iter__(self):
        for i in range(len(self)):
            yield list(range(i * self.batch_size, (i + 1) * self.batch_size))


@hookimpl
def register_samplers(register):
    register("test-mining", Mining)
"""


@pytest.fixture
def digits(workspace):
    return open_competition(workspace, "digits")


def test_fit_selects_on_val_and_never_touches_query_gallery_or_answers(digits, monkeypatch):
    def forbidden(self, *args, **kwargs):
        raise AssertionError("training looked at query, gallery or answers")

    for attr in ("query", "gallery", "images_by_id"):
        monkeypatch.setattr(Competition, attr, forbidden)
    monkeypatch.setattr("harness.scoring.answers.load_answers", forbidden)
    cfg = resolve_run_config("hashnet", sets=["train.epochs=2"])
    scores = []
    result = fit(cfg, digits, "cpu", on_epoch=lambda epoch, score: scores.append((epoch, score)))
    assert [e for e, _ in scores] == [1, 2]
    assert result.best_val == max(s for _, s in scores)
    assert result.best_epoch in (1, 2) and len(result.history) == 2
    assert all(0.0 <= s <= 1.0 for _, s in scores)
    assert result.model.head.beta == result.model.head.beta_at(1)  # on_epoch_start reached the head


def test_on_epoch_may_raise_to_stop_training(digits):
    class Pruned(Exception):
        pass

    def prune(epoch, score):
        raise Pruned(epoch)

    with pytest.raises(Pruned):
        fit(resolve_run_config("softmax", sets=["train.epochs=3"]), digits, "cpu", on_epoch=prune)


def test_worker_processes_load_the_same_batches(digits):
    sets = ["train.epochs=1", "train.preload_mb=0"]
    inline = fit(resolve_run_config("softmax", sets=sets), digits, "cpu")
    workers = fit(resolve_run_config("softmax", sets=[*sets, "train.num_workers=1"]), digits, "cpu")
    assert inline.history[0]["train_loss"] == workers.history[0]["train_loss"]


def test_patience_stops_early(digits):
    sets = ["train.epochs=6", "train.patience=1", "optim.lr=1e-9", "optim.schedule=constant"]
    cfg = resolve_run_config("softmax", sets=sets)
    result = fit(cfg, digits, "cpu")
    assert len(result.history) < 6


def test_sampler_hooks_and_refresh_with_train_embeddings(plugins_dir, workspace):
    (plugins_dir / "mining.py").write_text(MINING_SAMPLER)
    comp = open_competition(workspace, "digits")
    cfg = resolve_run_config("triplet", sets=["sampler.name=test-mining", "train.epochs=3"])
    fit(cfg, comp, "cpu")
    plugin = sys.modules["bench_dir_plugins.mining"]
    assert plugin.EPOCHS == [(0, 3), (1, 3), (2, 3)]
    assert [(len(comp.train()), 64)] == plugin.REFRESHED  # every 2 epochs, not on the untrained model


FEEDBACK_PLUGIN = """
import torch
from torch import nn

from harness import hookimpl

OBSERVED = []


class Watching:
    def __init__(self, labels, batch_size):
        self.n, self.batch_size = len(labels), batch_size

    def observe(self, positions, per_sample_losses, embeddings):
        OBSERVED.append((positions.copy(), per_sample_losses.copy(), embeddings.shape))

    def __len__(self):
        return 3

    def __iter__(self):
        for i in range(3):
            yield list(range(i * self.batch_size, (i + 1) * self.batch_size))


class SquaredNorm(nn.Module):
    def __init__(self):
        super().__init__()

    def per_sample(self, embeddings, labels):
        return (embeddings**2).sum(dim=1) * (labels.float() + 1)

    def forward(self, embeddings, labels):
        return self.per_sample(embeddings, labels).mean()


class PlainNorm(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, embeddings, labels):
        return (embeddings**2).sum(dim=1).mean()


@hookimpl
def register_samplers(register):
    register("test-watching", Watching)


@hookimpl
def register_losses(register):
    register("test-per-sample", SquaredNorm)
    register("test-plain", PlainNorm)
"""


@pytest.mark.parametrize("loss", ["test-per-sample", "test-plain"])
def test_a_feedback_sampler_observes_every_batch_with_per_sample_losses(plugins_dir, workspace, loss):
    (plugins_dir / "feedback.py").write_text(FEEDBACK_PLUGIN)
    comp = open_competition(workspace, "digits")
    sets = ["sampler.name=test-watching", f"loss.name={loss}", "train.epochs=2", "train.batch_size=16"]
    fit(resolve_run_config("triplet", sets=sets), comp, "cpu")
    observed = sys.modules["bench_dir_plugins.feedback"].OBSERVED
    assert len(observed) == 6  # 3 batches x 2 epochs
    positions, shares, shape = observed[0]
    assert positions.tolist() == list(range(16)) and shape[0] == 16 and shares.shape == (16,)
    if loss == "test-per-sample":
        labels = comp.train().labels[positions]
        assert np.all(shares >= 0) and np.isfinite(shares).all()
        norms = shares / (labels + 1)  # the plugin weights each sample's squared norm by its label + 1
        assert np.allclose(norms, norms[0], rtol=1e-3) and len(set(shares.round(3).tolist())) > 1
    else:
        assert np.isnan(shares).all()  # the loss gives no per-sample values


def test_loss_parameters_get_their_own_group_and_lr():
    cfg = resolve_run_config("center", sets=["loss.center_lr=0.05", "train.classification_weight=0.5"])
    model = build_model(cfg.components, num_classes=10, device=torch.device("cpu"))
    losses = build_losses(cfg, 10, model.out_dim, "cpu")
    assert set(losses) == {"loss", "classification"}
    groups = build_optimizer(cfg.optim, model, losses).param_groups
    assert [g["lr"] for g in groups] == [cfg.optim.lr, cfg.optim.lr, 0.05, cfg.optim.lr]
    assert groups[2]["weight_decay"] == 0.0


def test_leave_one_out_never_returns_the_query_itself():
    rng = np.random.default_rng(0)
    codes = np.sign(rng.standard_normal((20, 8))).astype(np.float32)
    codes[1] = codes[0]  # identical codes: self need not come first
    ranked, k = leave_one_out(codes, {"name": "hamming"}, k=100)
    assert k == 19 and ranked.shape == (20, 19)
    assert not (ranked == np.arange(20)[:, None]).any()
    assert all(len(set(row)) == 19 for row in ranked.tolist())


def test_bad_harness_values_fail_before_training():
    with pytest.raises(ConfigError, match="optim.name"):
        resolve_run_config("hashnet", sets=["optim.name=lion"])
    with pytest.raises(ConfigError, match="train.epochs"):
        resolve_run_config("hashnet", sets=["train.epochs=-1"])


def test_devices():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    assert not uses_amp(torch.device("cpu"), True) and uses_amp(torch.device("cuda"), True)
    with pytest.raises(ConfigError):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            pick_device("cuda")


def test_same_seed_gives_a_byte_identical_submission_on_cpu(workspace):
    request = RunRequest(resolve_run_config("hashnet", sets=FAST, seed=3, device="cpu"))
    first, second = run(workspace, request), run(workspace, request)
    assert first.submission_id != second.submission_id
    assert first.submission_path.read_bytes() == second.submission_path.read_bytes()
    assert first.row["config_hash"] == second.row["config_hash"]


def test_run_writes_the_run_folder_and_never_calls_answers(workspace, monkeypatch):
    import harness.scoring.submit as submit_module

    real_load_answers = submit_module.load_answers

    def only_when_scoring(ws, competition):
        if not any((ws.root / "submissions" / competition).glob("*.csv")):
            raise AssertionError("the pipeline looked at the answers before its submission was written")
        return real_load_answers(ws, competition)

    monkeypatch.setattr(submit_module, "load_answers", only_when_scoring)
    result = run(workspace, RunRequest(resolve_run_config("softmax", sets=FAST), name="unit test"))
    folder = result.run_dir
    assert folder == workspace.root / "runs" / result.submission_id
    assert result.submission_id.startswith("softmax-")
    for name in ("config.json", "log.txt", "metrics.json", "weights.safetensors", "per_query.csv", "scores.json"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["config"]["train"]["epochs"] == 1 and len(config["config_hash"]) == 16
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["best_epoch"] == 1 and metrics["history"][0]["val_score"] == metrics["best_val"]
    assert metrics["train_seconds"] > 0 and metrics["search_ms_per_query"] >= 0
    assert "epoch 1/1" in (folder / "log.txt").read_text()
    row = result.row
    assert row["method"] == "softmax" and row["backbone"] == "small-cnn" and row["indexer"] == "exact"
    assert row["code_kind"] == "float" and row["name"] == "unit test" and row["seed"] == "0"

    from safetensors.torch import load_model

    model = build_model(config["config"], num_classes=10, device=torch.device("cpu"))
    load_model(model, str(folder / "weights.safetensors"))
