"""Backbones: shapes on tiny inputs, pretrained weights from a local file, and a fast offline failure."""

from __future__ import annotations

import time

import pytest
import torch

from harness.components import create_backbone, registry
from harness.errors import ConfigError


@pytest.mark.parametrize("name", ["small-cnn", "timm"])
@pytest.mark.parametrize("size", [8, 32])
def test_backbone_maps_images_to_out_dim_features(name, size):
    settings = {"model": "test_resnet"} if name == "timm" else {}
    backbone = create_backbone(name, **settings).eval()
    with torch.no_grad():
        features = backbone(torch.rand(2, 3, size, size))
    assert features.shape == (2, backbone.out_dim)
    assert torch.isfinite(features).all()


def test_every_registered_backbone_has_out_dim():
    for entry in registry("backbones").entries():
        settings = {"model": "test_resnet"} if entry.name == "timm" else {}
        assert create_backbone(entry.name, **settings).out_dim > 0


def test_timm_upsamples_tiny_images_to_input_size():
    seen = []
    backbone = create_backbone("timm", model="test_resnet", input_size=48)
    backbone.net.register_forward_pre_hook(lambda _module, args: seen.append(tuple(args[0].shape[-2:])))
    backbone(torch.rand(1, 3, 8, 8))
    assert seen == [(48, 48)]


def test_timm_pretrained_offline_without_file_fails_fast_and_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="offline.*backbone.weights=PATH"):
        create_backbone("timm", model="test_resnet", pretrained=True)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_timm_loads_a_local_weights_file_ignoring_the_classifier(tmp_path, suffix):
    import timm

    source = timm.create_model("test_resnet", num_classes=7)  # has a classifier the backbone lacks
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    else:
        torch.save(source.state_dict(), path)
    backbone = create_backbone("timm", model="test_resnet", pretrained=True, weights=str(path))
    loaded = backbone.net.state_dict()
    for key, value in loaded.items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_timm_weights_of_another_model_are_refused(tmp_path):
    import timm

    path = tmp_path / "other.pth"
    torch.save(timm.create_model("test_vit", num_classes=0).state_dict(), path)
    with pytest.raises(ConfigError, match="backbone.weights"):
        create_backbone("timm", model="test_resnet", weights=str(path))


def test_timm_missing_weights_file_and_unknown_model_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        create_backbone("timm", model="test_resnet", weights=str(tmp_path / "nope.pth"))
    with pytest.raises(ConfigError, match="Did you mean 'resnet18'"):
        create_backbone("timm", model="resnet1")


def test_small_cnn_rejects_bad_sizes():
    with pytest.raises(ConfigError, match="width"):
        create_backbone("small-cnn", width=0)


def test_offline_probe_is_bounded_when_name_resolution_hangs(monkeypatch):
    import socket

    from plugins.backbones.timm_backbone import _offline

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(3) or [])
    started = time.perf_counter()
    assert _offline(timeout=0.5) is True
    assert time.perf_counter() - started < 2
