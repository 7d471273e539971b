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


def fake_hub_cache(home, model: str, value: float):
    """A Hugging Face cache entry for timm's ``model``, laid out as huggingface_hub writes it."""
    import timm
    from safetensors.torch import save_file

    net = timm.create_model(model.split(".")[0], num_classes=0)
    state = {k: torch.full_like(v, value) if v.is_floating_point() else v for k, v in net.state_dict().items()}
    repo = home / "hub" / f"models--timm--{model}"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "model.safetensors"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)


@pytest.mark.parametrize("name", ["test_resnet.r160_in1k", "test_resnet"])  # a tag, or timm's default one
def test_timm_pretrained_offline_uses_weights_already_in_the_hf_cache(tmp_path, monkeypatch, name):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    fake_hub_cache(tmp_path / "hf", "test_resnet.r160_in1k", 0.25)
    backbone = create_backbone("timm", model=name, pretrained=True)
    weights = [v for k, v in backbone.net.state_dict().items() if v.is_floating_point() and "num_batches" not in k]
    assert all(torch.all(v == 0.25) for v in weights)


def test_timm_feature_maps_for_a_pooling_section():
    backbone = create_backbone("timm", model="test_resnet").eval()
    with torch.no_grad():
        maps = backbone.forward_features(torch.rand(2, 3, 8, 8))
    assert maps.dim() == 4 and maps.shape[:2] == (2, backbone.feature_channels)


def test_pixels_backbone_keeps_cosines_of_the_original_pixels():
    images = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    features = create_backbone("pixels", size=32)(images)
    assert features.shape == (3, 3 * 32 * 32)
    flat = images.flatten(1)
    cos = torch.nn.functional.cosine_similarity
    assert torch.allclose(cos(features[0:1], features[1:2]), cos(flat[0:1], flat[1:2]))
    small = create_backbone("pixels", size=4)(images)  # larger images are averaged down
    assert torch.allclose(small[0, :16], images[0, 0].reshape(4, 2, 4, 2).mean(dim=(1, 3)).flatten())
