"""``timm``: any timm model as a feature extractor (``backbone.model=resnet18``).

Tiny inputs are upsampled inside the module (most timm models downsample 32×, so 8×8 digits would
vanish). Pretrained weights come from ``weights=PATH``, else from the Hugging Face cache when they are
already there (so ``HF_HUB_OFFLINE=1`` works with weights fetched before), else from the Hub when online.
"""

from __future__ import annotations

import difflib
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import torch
from torch import nn

from harness import ConfigError, hookimpl

MIN_AUTO_SIZE = 32
_OFFLINE_VALUES = ("1", "true", "yes", "on")


class TimmBackbone(nn.Module):
    """Resize (when asked or when tiny), normalise with the model's mean/std, run the timm model."""

    def __init__(self, net: nn.Module, input_size: int, mean, std):
        super().__init__()
        self.net = net
        self.input_size = input_size
        self.out_dim = int(net.num_features)
        self._channels: int | None = None
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self._prepare(images))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """timm's unpooled features ``(B, C, h, w)``, for a ``pooling`` section (convolutional models only)."""
        maps = self.net.forward_features(self._prepare(images))
        if maps.dim() != 4:
            raise ConfigError(
                f"timm:{type(self.net).__name__} gives {maps.dim()}-D features, not feature maps; "
                "a pooling section needs a convolutional model (resnet, vgg, convnext, efficientnet...)"
            )
        return maps

    @property
    def feature_channels(self) -> int:
        """Channels of ``forward_features``, found by one small forward pass (timm's attributes differ per family)."""
        if self._channels is None:
            size = tuple((getattr(self.net, "pretrained_cfg", None) or {}).get("input_size", (3, 224, 224))[1:])
            probe = torch.zeros(1, 3, *size, device=self.mean.device)
            was_training = self.net.training
            self.net.eval()
            with torch.no_grad():
                self._channels = int(self.forward_features(probe).shape[1])
            self.net.train(was_training)
        return self._channels

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        size = self._size(images.shape[-2:])
        if size != tuple(images.shape[-2:]):
            images = nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False)
        return (images - self.mean) / self.std

    def _size(self, hw) -> tuple[int, int]:
        if self.input_size:
            return (self.input_size, self.input_size)
        h, w = int(hw[0]), int(hw[1])
        scale = max(1.0, MIN_AUTO_SIZE / min(h, w))
        return (round(h * scale), round(w * scale))


def timm_backbone(
    model: str = "resnet18", pretrained: bool = False, weights: str = "", input_size: int = 0, drop_rate: float = 0.0
) -> TimmBackbone:
    """Any timm model (setting ``model``); ``input_size`` 0 upsamples images under 32 pixels to 32."""
    import timm

    if not timm.is_model(model):
        close = difflib.get_close_matches(model, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"backbone timm has no model {model!r}.{hint} See timm.list_models().")
    if input_size < 0:
        raise ConfigError(f"backbone.input_size cannot be negative but got {input_size}")
    download = pretrained and not weights
    overlay = {}
    cached = cached_weights(model) if download else None
    if cached is not None:
        overlay = {"file": str(cached)}  # timm loads the file itself: no Hub call at all
    elif download and _offline():
        raise ConfigError(
            f"backbone timm:{model} with pretrained=true needs to download weights, but this machine is "
            "offline and they are not in the Hugging Face cache; pass backbone.weights=PATH (a local "
            ".safetensors or .pth state dict), fetch them once online, or set backbone.pretrained=false"
        )
    try:
        net = timm.create_model(
            model, pretrained=download, num_classes=0, in_chans=3, drop_rate=drop_rate, pretrained_cfg_overlay=overlay
        )
    except Exception as exc:  # hub, network and file errors all mean the same to the user
        raise ConfigError(f"could not create timm:{model} (pretrained={pretrained}): {exc}") from None
    if weights:
        load_weights(net, Path(weights), model)
    cfg = getattr(net, "pretrained_cfg", None) or {}
    mean = cfg.get("mean", (0.485, 0.456, 0.406))
    std = cfg.get("std", (0.229, 0.224, 0.225))
    return TimmBackbone(net, input_size, mean, std)


def hub_cache_dir() -> Path:
    """The Hub cache as the environment names it now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_weights(model: str) -> Path | None:
    """The model's pretrained weight file when it is already in the Hugging Face cache, else None."""
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(model)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        return None
    names = (
        [cfg.hf_hub_filename] if getattr(cfg, "hf_hub_filename", None) else ["model.safetensors", "pytorch_model.bin"]
    )
    for name in names:
        found = try_to_load_from_cache(repo, name, cache_dir=str(hub_cache_dir()))
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def load_weights(net: nn.Module, path: Path, model: str) -> None:
    """Load a local state dict; only the classifier (absent here, num_classes=0) may be left over."""
    if not path.is_file():
        raise ConfigError(f"backbone.weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"cannot read backbone.weights file {path}: {exc}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ConfigError(f"backbone.weights file {path} does not hold a state dict")
    try:
        missing, _unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ConfigError(f"backbone.weights file {path} does not fit timm:{model}: {exc}") from None
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ConfigError(f"backbone.weights file {path} lacks {len(missing)} weight(s) of timm:{model}: {shown}")


def _offline(timeout: float = 3.0) -> bool:
    """True when the Hub is unreachable: HF_HUB_OFFLINE set, or no connection within ``timeout`` seconds.

    The probe runs in a daemon thread because name resolution ignores socket timeouts: a machine
    whose DNS never answers would otherwise hang here. ``HF_ENDPOINT`` (a mirror) is honoured.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES:
        return True
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    try:
        port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    except ValueError:  # a malformed port in HF_ENDPOINT: the Hub client will not reach it either
        return True
    done, reached = threading.Event(), []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            reached.append(True)
        except OSError:
            pass
        finally:
            done.set()

    threading.Thread(target=probe, name="bench-hub-probe", daemon=True).start()
    done.wait(timeout)
    return not reached


@hookimpl
def register_backbones(register):
    register("timm", timm_backbone, description="Any timm model as a feature extractor (setting model)")
