"""The embedding and hash heads, the hash head's β continuation, and a contract test over every
registered head."""

from __future__ import annotations

import math

import pytest
import torch

from harness.components import create_head, registry
from harness.errors import ConfigError
from harness.hookspecs import Encoder


def features(n=6, dim=5, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("normalize", [True, False])
def test_embedding_head_projects_and_optionally_normalises(normalize):
    head = create_head("embedding", dim=3, normalize=normalize, in_dim=5)
    out = head(features())
    assert head.out_dim == 3 and head.code_kind == "float" and out.shape == (6, 3)
    norms = out.norm(dim=1)
    assert torch.allclose(norms, torch.ones(6)) == normalize
    assert torch.equal(head.encode(features()), out)


def test_hash_codes_are_exactly_plus_or_minus_one_with_sign_zero_as_plus_one():
    head = create_head("hash", bits=8, in_dim=5)
    codes = head.encode(features())
    assert codes.shape == (6, 8) and head.code_kind == "binary" and head.out_dim == 8
    assert set(codes.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(codes, torch.sign(head.linear(features())))  # no exact zeros here
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.zero_()
    assert torch.equal(head.encode(features()), torch.ones(6, 8))


@pytest.mark.parametrize(
    "cfg,expected",
    [
        ({}, lambda e: (1 + e) ** 0.5),
        ({"beta0": 2.0, "gamma": 0.5, "power": 1.0}, lambda e: 2.0 * (1 + 0.5 * e)),
        ({"schedule": "step", "beta_growth": 3.0, "step_every": 2}, lambda e: 3.0 ** (e // 2)),
        ({"schedule": "constant", "beta0": 4.0}, lambda e: 4.0),
    ],
)
def test_hash_beta_follows_its_schedule(cfg, expected):
    head = create_head("hash", bits=4, in_dim=5, **cfg)
    assert head.beta == pytest.approx(expected(0))
    x = features()
    for epoch in range(7):
        head.on_epoch_start(epoch, 7)
        assert head.beta == pytest.approx(expected(epoch))
        assert torch.allclose(head(x), torch.tanh(head.beta * head.linear(x)))


def test_relaxed_codes_approach_the_binary_codes_as_beta_grows():
    head = create_head("hash", bits=16, in_dim=5, gamma=1.0, power=1.0)
    x = features(n=32)
    gaps = []
    for epoch in (0, 10, 100):
        head.on_epoch_start(epoch, 100)
        gaps.append((head(x) - head.encode(x)).abs().mean().item())
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.05


@pytest.mark.parametrize(
    "name,cfg,shown",
    [
        ("embedding", {"dim": 0, "in_dim": 5}, "dim must be a positive int but got 0"),
        ("embedding", {}, "in_dim"),
        ("hash", {"bits": -4, "in_dim": 5}, "-4"),
        ("hash", {"beta0": 0.0, "in_dim": 5}, "0.0"),
        ("hash", {"schedule": "cosine", "in_dim": 5}, "'cosine'"),
        ("hash", {"beta_growth": 0.5, "in_dim": 5}, "0.5"),
    ],
)
def test_bad_settings_are_config_errors(name, cfg, shown):
    with pytest.raises(ConfigError, match=shown):
        create_head(name, **cfg)


@pytest.mark.parametrize("name", registry("heads").names())
def test_every_head_builds_with_defaults_trains_and_encodes(name):
    torch.manual_seed(0)
    head = create_head(name, in_dim=8)
    assert head.code_kind in ("float", "binary") and isinstance(head.out_dim, int)
    if hasattr(head, "on_epoch_start"):
        head.on_epoch_start(1, 3)
    x = torch.randn(4, 8, requires_grad=True)
    out = head(x)
    assert out.shape == (4, head.out_dim) and torch.isfinite(out).all()
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()  # a head without parameters still passes gradients
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters())
    with torch.no_grad():
        codes = head.encode(x) if isinstance(head, Encoder) else head(x)
    assert codes.shape == (4, head.out_dim) and codes.dtype == torch.float32
    if head.code_kind == "binary":
        assert codes.abs().eq(1).all()
    assert not math.isnan(codes.sum().item())
