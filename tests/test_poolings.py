"""Poolings against slow reference loops over positions and regions, and the ``pooling`` config section."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.components import create_pooling, registry
from harness.errors import ConfigError
from harness.pipeline import resolve_run_config
from harness.train.model import build_model
from plugins.poolings.rmac import regions

CPU = torch.device("cpu")


def maps(seed=0, b=2, c=5, h=4, w=4):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g, dtype=torch.float64)


def positions(x, i, ch):
    return [float(x[i, ch, r, col]) for r in range(x.shape[2]) for col in range(x.shape[3])]


def test_avg_max_gem_match_loops_over_positions():
    x = maps()
    avg, mac = create_pooling("avg", in_dim=5), create_pooling("max", in_dim=5)
    gem = create_pooling("gem", p=3.0, in_dim=5).double()
    for i in range(2):
        for ch in range(5):
            values = positions(x, i, ch)
            assert float(avg(x)[i, ch]) == pytest.approx(sum(values) / len(values))
            assert float(mac(x)[i, ch]) == pytest.approx(max(values))
            cubes = sum(max(v, 1e-6) ** 3 for v in values) / len(values)
            assert float(gem(x).detach()[i, ch]) == pytest.approx(cubes ** (1 / 3))


def test_gem_p_is_learnt_and_spans_average_to_max():
    x = maps()
    gem = create_pooling("gem", in_dim=5).double()
    gem(x).sum().backward()
    assert gem.p.grad is not None and gem.p.grad.abs().item() > 0
    fixed = create_pooling("gem", p=1.0, learnable=False, in_dim=5).double()
    assert not list(fixed.parameters())
    torch.testing.assert_close(fixed(x), x.mean(dim=(2, 3)))
    steep = create_pooling("gem", p=200.0, learnable=False, in_dim=5).double()
    torch.testing.assert_close(steep(x), x.amax(dim=(2, 3)), atol=0.02, rtol=0)


def test_rmac_regions_of_a_square_map_by_hand():
    # level 1: the whole 4x4 map; level 2: side 2 at starts 0 and 2 (2x2 grid); level 3: side 2 at 0, 1, 2 (3x3)
    expected = [(0, 0, 4)]
    expected += [(t, left, 2) for t in (0, 2) for left in (0, 2)]
    expected += [(t, left, 2) for t in (0, 1, 2) for left in (0, 1, 2)]
    assert regions(4, 4, 3) == expected


def test_rmac_regions_of_a_wide_map_cover_it_and_stay_inside():
    got = regions(6, 10, 3)
    assert all(t >= 0 and t + s <= 6 and left >= 0 and left + s <= 10 for t, left, s in got)
    assert max(left + s for t, left, s in got) == 10  # the longer side is covered to its end


def test_rmac_matches_a_loop_over_regions():
    x = maps(c=3)
    pooled = create_pooling("rmac", in_dim=3)(x)
    for i in range(2):
        total = np.zeros(3)
        for top, left, side in regions(4, 4, 3):
            region = [[positions(x[:, :, top : top + side, left : left + side], i, ch)] for ch in range(3)]
            mac = np.array([max(r[0]) for r in region])
            total += mac / np.linalg.norm(mac)
        np.testing.assert_allclose(pooled[i].numpy(), total / np.linalg.norm(total), rtol=1e-9)


def test_netvlad_matches_a_loop_over_positions_and_clusters():
    x = maps(c=3)
    pool = create_pooling("netvlad", clusters=2, in_dim=3).double()
    got = pool(x).detach().numpy()
    assert pool.out_dim == 6 and got.shape == (2, 6)
    w = pool.assign.weight.detach().numpy()[:, :, 0, 0]
    bias, centres = pool.assign.bias.detach().numpy(), pool.centres.detach().numpy()
    for i in range(2):
        vlad = np.zeros((2, 3))
        for r in range(4):
            for col in range(4):
                d = x[i, :, r, col].numpy()
                d = d / np.linalg.norm(d)
                scores = w @ d + bias
                a = np.exp(scores - scores.max())
                a /= a.sum()
                for k in range(2):
                    vlad[k] += a[k] * (d - centres[k])
        vlad /= np.linalg.norm(vlad, axis=1, keepdims=True)
        flat = vlad.reshape(-1)
        np.testing.assert_allclose(got[i], flat / np.linalg.norm(flat), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", registry("poolings").names())
def test_every_pooling_gives_out_dim_features_with_gradients(name):
    pool = create_pooling(name, in_dim=8)
    x = torch.rand(3, 8, 5, 7, requires_grad=True)
    out = pool(x)
    assert out.shape == (3, pool.out_dim) and torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize(
    "name,cfg,shown",
    [("gem", {"p": 0.5}, "0.5"), ("rmac", {"levels": 0}, "levels"), ("netvlad", {"clusters": 0}, "clusters")],
)
def test_bad_pooling_settings_are_config_errors(name, cfg, shown):
    with pytest.raises(ConfigError, match=shown):
        create_pooling(name, in_dim=4, **cfg)


@pytest.mark.parametrize(
    "sets",
    [
        ["pooling.name=gem"],
        ["pooling.name=netvlad", "pooling.clusters=4"],
        ["pooling.name=rmac", "backbone.name=timm", "backbone.model=test_resnet"],
        ["pooling.name=max", "backbone.name=pixels", "backbone.size=8"],
    ],
)
def test_a_pooling_section_works_with_any_feature_map_backbone(sets):
    cfg = resolve_run_config("triplet", sets=sets)
    model = build_model(cfg.components, num_classes=10, device=CPU).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 8, 8))
    assert out.shape == (2, cfg.components["head"]["dim"])
    assert dict(model.named_children())["pooling"].out_dim == model.head.linear.in_features


def test_configs_without_pooling_keep_the_backbones_own_pooling():
    cfg = resolve_run_config("triplet")
    model = build_model(cfg.components, num_classes=10, device=CPU)
    assert "pooling" not in cfg.components
    assert not any(key.startswith("pooling.") for key in model.state_dict())
    assert {key.split(".")[0] for key in model.state_dict()} == {"backbone", "head"}


def test_learnable_pooling_parameters_are_trained():
    from harness.train.parts import build_optimizer

    cfg = resolve_run_config("triplet", sets=["pooling.name=gem"])
    model = build_model(cfg.components, num_classes=10, device=CPU)
    trained = {id(p) for group in build_optimizer(cfg.optim, model, {}).param_groups for p in group["params"]}
    assert id(model.pooling.p) in trained


PLAIN_BACKBONE = """
import torch
from torch import nn
from harness import hookimpl


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.out_dim = 3

    def forward(self, images):
        return images.mean(dim=(2, 3))


@hookimpl
def register_backbones(register):
    register("test-flat", Flat, description="features only, no maps")
"""


def test_a_pooling_on_a_backbone_without_feature_maps_is_one_clear_error(plugins_dir, cli):
    (plugins_dir / "flat.py").write_text(PLAIN_BACKBONE)
    result = cli("run", "-p", "triplet", "--set", "backbone.name=test-flat", "--set", "pooling.name=gem", "-q")
    assert result.exit_code == 1
    assert "feature maps" in result.stderr and "Traceback" not in result.stderr
