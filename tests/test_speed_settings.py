"""The CUDA speed settings, run on the CPU: the AMP dtype by GPU capability, the grad scaler, determinism
switches, channels-last training and torch.compile with its fallback."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from harness.train.devices import (
    CompiledOrEager,
    amp_dtype,
    autocast,
    deterministic,
    grad_scaler,
    memory_format,
    needs_grad_scaler,
    precision,
)


@pytest.mark.parametrize(
    ("capability", "expected"),
    [
        ((7, 0), torch.float16),
        ((7, 5), torch.float16),
        ((8, 0), torch.bfloat16),
        ((9, 0), torch.bfloat16),
        (None, torch.float16),
    ],
)
def test_bf16_on_ampere_and_newer_fp16_before(capability, expected):
    assert amp_dtype("cuda", True, capability) == expected
    assert needs_grad_scaler(expected) == (expected == torch.float16)


def test_no_mixed_precision_when_off_or_not_on_cuda():
    assert amp_dtype("cuda", False, (9, 0)) is None
    assert amp_dtype("cpu", True, None) is None and amp_dtype("mps", True, None) is None
    assert not needs_grad_scaler(None)
    cpu = torch.device("cpu")
    assert precision(cpu, True) is None and not grad_scaler(cpu, True).is_enabled()
    assert isinstance(autocast(cpu, True), type(autocast(cpu, False)))  # a null context on the CPU


def test_deterministic_switches_cudnn_and_restores_the_global_flags():
    cuda = torch.device("cuda")  # the switches are global flags: no GPU needed to set them
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    precision_before = torch.get_float32_matmul_precision()
    with deterministic(cuda, enabled=False):
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark and torch.get_float32_matmul_precision() == "high"
    with deterministic(cuda, enabled=True):
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before
    assert torch.get_float32_matmul_precision() == precision_before


def test_channels_last_format():
    assert memory_format(True) == torch.channels_last and memory_format(False) == torch.contiguous_format


def test_a_failing_compile_falls_back_to_eager_with_one_warning(monkeypatch, caplog):
    def broken_compile(module, backend="inductor"):
        def call(*args, **kwargs):
            raise RuntimeError("no C++ compiler found\nlong details")

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    model = CompiledOrEager(layer)
    x = torch.randn(4, 3)
    with caplog.at_level(logging.WARNING, logger="bench.train"):
        out = model(x)
        again = model(x)
    torch.testing.assert_close(out, layer(x))
    torch.testing.assert_close(again, out)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no C++ compiler found" in warnings[0] and "long details" not in warnings[0]


def test_a_compiled_module_computes_what_the_module_does():
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model = CompiledOrEager(layer, backend="eager")  # dynamo's tracing without inductor's C++ build
    x = torch.randn(5, 3)
    torch.testing.assert_close(model(x), layer(x))
    assert model.compiled is not None
    assert list(model.state_dict()) == [f"module.{k}" for k in layer.state_dict()]


@pytest.mark.slow
def test_channels_last_and_compile_settings_train_end_to_end(workspace, monkeypatch):
    from harness.data.competition import open_competition
    from harness.pipeline import resolve_run_config
    from harness.train import devices
    from harness.train.loop import fit

    made = []
    real = devices.CompiledOrEager

    def eager_backend(module):
        made.append(module)
        return real(module, backend="eager")

    monkeypatch.setattr("harness.train.parts.CompiledOrEager", eager_backend)
    sets = ["train.epochs=1", "train.channels_last=true", "train.compile=true", "train.deterministic=false"]
    cfg = resolve_run_config("triplet", sets=sets, device="cpu")
    result = fit(cfg, open_competition(workspace, "digits"), "cpu")
    assert made and result.best_val is not None
    conv = next(m for m in result.model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
