"""Each built-in loss against a slow reference loop over explicit pairs / triplets (values and
gradients, double precision), plus a contract test over every registered loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import harness
from harness.components import create_loss, registry
from harness.errors import ConfigError

SEEDS = (0, 1, 2)


def make_batch(seed: int, n: int = 10, dim: int = 4, classes: int = 3, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    x = (scale * torch.randn(n, dim, generator=g, dtype=torch.float64)).requires_grad_()
    labels = torch.randint(0, classes, (n,), generator=g)
    return x, labels


def grad_of(loss: torch.Tensor, inputs) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, inputs))


def assert_same(loss, reference, inputs):
    assert torch.allclose(loss, reference, atol=1e-10), (loss.item(), reference.item())
    for got, want in zip(grad_of(loss, inputs), grad_of(reference, inputs)):
        assert torch.allclose(got, want, atol=1e-9)


def distance(u, v, metric):
    if metric == "cosine":
        return 1 - torch.dot(u, v) / (u.norm() * v.norm())
    return (u - v).norm()


def mean(terms, like):
    return torch.stack(terms).mean() if terms else like.sum() * 0


# -- triplet ------------------------------------------------------------------------------------
def triplet_reference(x, labels, margin, mining, metric, average):
    n, lab = len(labels), labels.tolist()
    d = [[distance(x[i], x[j], metric) for j in range(n)] for i in range(n)]
    terms = []
    for a in range(n):
        positives = [p for p in range(n) if p != a and lab[p] == lab[a]]
        negatives = [q for q in range(n) if lab[q] != lab[a]]
        if not positives or not negatives:
            continue
        by_distance = [d[a][j].item() for j in range(n)].__getitem__
        if mining == "hard":
            p, q = max(positives, key=by_distance), min(negatives, key=by_distance)
            terms.append(F.relu(d[a][p] - d[a][q] + margin))
            continue
        for p in positives:
            if mining == "all":
                chosen = negatives
            else:
                farther = [q for q in negatives if d[a][q] > d[a][p]]
                chosen = [min(farther, key=by_distance) if farther else max(negatives, key=by_distance)]
            terms += [F.relu(d[a][p] - d[a][q] + margin) for q in chosen]
    if average == "active":
        terms = [t for t in terms if t > 0]
    return mean(terms, x)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("average", ["active", "all"])
@pytest.mark.parametrize("metric,margin", [("euclidean", 1.0), ("cosine", 0.3)])
@pytest.mark.parametrize("mining", ["all", "hard", "semihard"])
def test_triplet_matches_reference(mining, metric, margin, average, seed):
    x, labels = make_batch(seed)
    loss = create_loss("triplet", margin=margin, mining=mining, distance=metric, average=average)(x, labels)
    assert_same(loss, triplet_reference(x, labels, margin, mining, metric, average), [x])


def test_triplet_without_triplets_is_zero_with_a_graph():
    x, _ = make_batch(0, n=4)
    loss = create_loss("triplet")(x, torch.arange(4))
    loss.backward()
    assert loss.item() == 0 and torch.equal(x.grad, torch.zeros_like(x))


# -- contrastive --------------------------------------------------------------------------------
def contrastive_reference(x, labels, margin, normalize):
    if normalize:
        x = F.normalize(x, dim=1)
    n, terms = len(labels), []
    for i in range(n):
        for j in range(i + 1, n):
            d = (x[i] - x[j]).norm()
            terms.append(d**2 if labels[i] == labels[j] else F.relu(margin - d) ** 2)
    return mean(terms, x)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("normalize,margin", [(False, 3.0), (True, 1.0)])
def test_contrastive_matches_reference(normalize, margin, seed):
    x, labels = make_batch(seed)
    loss = create_loss("contrastive", margin=margin, normalize=normalize)(x, labels)
    assert_same(loss, contrastive_reference(x, labels, margin, normalize), [x])


# -- center -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_center_matches_reference(seed):
    x, labels = make_batch(seed)
    module = create_loss("center", center_weight=0.3, center_lr=0.05, num_classes=3, in_dim=4).double()
    assert module.lr == 0.05
    W, b, c = module.classifier.weight, module.classifier.bias, module.centers
    terms = []
    for i, y in enumerate(labels.tolist()):
        logits = W @ x[i] + b
        nll = -(logits[y] - torch.logsumexp(logits, 0))
        terms.append(nll + 0.3 * 0.5 * ((x[i] - c[y]) ** 2).sum())
    assert_same(module(x, labels), mean(terms, x), [x, W, b, c])


# -- hashnet ------------------------------------------------------------------------------------
def hashnet_reference(h, labels, alpha, balance):
    n, lab = len(labels), labels.tolist()
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    similar = sum(lab[i] == lab[j] for i, j in pairs)
    dissimilar = len(pairs) - similar
    terms = []
    for i, j in pairs:
        s = float(lab[i] == lab[j])
        ip = alpha * torch.dot(h[i], h[j])
        w = (len(pairs) / (similar if s else dissimilar)) if balance else 1.0
        terms.append(w * (torch.log(1 + torch.exp(ip)) - s * ip))
    return torch.stack(terms).sum() / len(pairs)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("alpha,balance", [(0.0, True), (0.7, True), (0.7, False)])
def test_hashnet_matches_reference(alpha, balance, seed):
    z, labels = make_batch(seed, dim=6)
    loss = create_loss("hashnet", alpha=alpha, balance=balance)(torch.tanh(z), labels)
    assert_same(loss, hashnet_reference(torch.tanh(z), labels, alpha or 10 / 6, balance), [z])


def test_hashnet_is_stable_for_large_inner_products():
    z, labels = make_batch(0, dim=6, scale=1e4)
    loss = create_loss("hashnet", alpha=50.0)(z, labels)
    (grad,) = grad_of(loss, [z])
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


# -- softmax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("normalize,temperature,smoothing", [(False, 1.0, 0.0), (False, 0.5, 0.1), (True, 0.1, 0.0)])
def test_softmax_matches_reference(normalize, temperature, smoothing, seed):
    x, labels = make_batch(seed)
    cfg = dict(temperature=temperature, normalize=normalize, label_smoothing=smoothing)
    module = create_loss("softmax", **cfg, num_classes=3, in_dim=4).double()
    W = module.classifier.weight
    terms = []
    for i, y in enumerate(labels.tolist()):
        if normalize:
            logits = torch.stack([torch.dot(x[i], W[c]) / (x[i].norm() * W[c].norm()) for c in range(3)])
        else:
            logits = W @ x[i] + module.classifier.bias
        log_p = torch.log_softmax(logits / temperature, 0)
        terms.append(-(1 - smoothing) * log_p[y] - smoothing * log_p.mean())
    assert_same(module(x, labels), mean(terms, x), [x, W])


# -- settings -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,cfg,shown",
    [
        ("triplet", {"margin": -1.0}, "-1.0"),
        ("triplet", {"mining": "hardest"}, "'hardest'"),
        ("triplet", {"distance": "manhattan"}, "'manhattan'"),
        ("contrastive", {"margin": -0.5}, "-0.5"),
        ("hashnet", {"alpha": -2.0}, "-2.0"),
        ("center", {"center_lr": 0.0, "num_classes": 3, "in_dim": 4}, "0.0"),
        ("center", {"in_dim": 4}, "num_classes"),
        ("softmax", {"num_classes": 3}, "in_dim"),
        ("softmax", {"temperature": 0.0, "num_classes": 3, "in_dim": 4}, "0.0"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_value(name, cfg, shown):
    with pytest.raises(ConfigError, match=shown.replace(".", r"\.")):
        create_loss(name, **cfg)


@pytest.mark.parametrize(
    "name,cfg,message",
    [
        ("triplet", {"margin": -1.0}, "margin cannot be negative but got -1.0"),
        ("triplet", {"margin": "wide"}, "margin must be a number but got 'wide'"),
        ("hashnet", {"alpha": True}, "alpha must be a number but got True"),
        ("triplet", {"mining": "hardest"}, "mining must be one of 'all', 'hard', 'semihard' but got 'hardest'"),
        ("contrastive", {"pairs": "some"}, "pairs must be one of 'all', 'adjacent' but got 'some'"),
        ("softmax", {"temperature": -1, "num_classes": 3, "in_dim": 4}, "temperature must be positive but got -1"),
        ("softmax", {"temperature": float("nan"), "num_classes": 3, "in_dim": 4}, "temperature must be a number"),
        ("center", {"num_classes": True, "in_dim": 4}, "loss 'center' needs the context keyword num_classes"),
    ],
)
def test_losses_word_bad_settings_with_harness_checks(name, cfg, message):
    """The losses check their settings with harness's checks (the one vocabulary every component shares)."""
    with pytest.raises(ConfigError) as caught:
        create_loss(name, **cfg)
    assert str(caught.value).startswith(message)


def test_harness_checks_return_the_checked_value():
    assert harness.check_non_negative("margin", 0) == 0.0 and isinstance(harness.check_non_negative("m", 1), float)
    assert harness.check_positive("lr", 2) == 2.0
    assert harness.check_choice("mode", "a", ("a", "b")) == "a"
    assert harness.check_context("in_dim", 8, "pooling 'gem'") == 8
    with pytest.raises(ConfigError, match="pooling 'gem' needs the context keyword in_dim .* but got 0"):
        harness.check_context("in_dim", 0, "pooling 'gem'")


# -- contract: every registered loss ------------------------------------------------------------
@pytest.mark.parametrize("name", registry("losses").names())
def test_every_loss_builds_with_defaults_and_trains(name):
    torch.manual_seed(0)
    loss_fn = create_loss(name, num_classes=4, in_dim=8)
    x = torch.randn(16, 8).tanh().requires_grad_()
    labels = torch.arange(16) % 4
    loss = loss_fn(x, labels)
    assert loss.dim() == 0 and math.isfinite(loss.item())
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for p in loss_fn.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    if hasattr(loss_fn, "lr"):
        assert isinstance(loss_fn.lr, float) and loss_fn.lr > 0


# -- per-sample values (sampler feedback, diagnostics) --------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "name,cfg",
    [
        ("triplet", {"mining": "all"}),
        ("triplet", {"mining": "hard"}),
        ("triplet", {"mining": "semihard", "average": "all"}),
        ("contrastive", {"margin": 2.0}),
        ("contrastive", {"pairs": "adjacent", "margin": 2.0}),
        ("hashnet", {}),
        ("center", {}),
        ("softmax", {}),
    ],
)
def test_per_sample_values_average_to_the_loss(name, cfg, seed):
    from harness.hookspecs import PerSampleLoss

    x, labels = make_batch(seed)
    loss_fn = create_loss(name, num_classes=3, in_dim=4, **cfg).double()
    assert isinstance(loss_fn, PerSampleLoss)
    per_sample = loss_fn.per_sample(x, labels)
    assert per_sample.shape == (10,) and (per_sample >= 0).all()
    assert_same(per_sample.mean(), loss_fn(x, labels), [x])


@pytest.mark.parametrize("seed", SEEDS)
def test_triplet_per_sample_shares_each_triplet_among_its_three_items(seed):
    x, labels = make_batch(seed)
    x = x.detach()
    lab, n = labels.tolist(), len(labels)
    shares = [0.0] * n
    triplets = []
    for a in range(n):
        for p in range(n):
            for q in range(n):
                if a != p and lab[a] == lab[p] != lab[q]:
                    loss = max(0.0, float((x[a] - x[p]).norm() - (x[a] - x[q]).norm()) + 1.0)
                    triplets.append((a, p, q, loss))
    active = sum(1 for *_, loss in triplets if loss > 0)
    for a, p, q, loss in triplets:
        for item in (a, p, q):
            shares[item] += loss / active * n / 3
    got = create_loss("triplet", margin=1.0, mining="all").per_sample(x, labels)
    assert torch.allclose(got, torch.tensor(shares, dtype=torch.float64), atol=1e-10)


def test_adjacent_contrastive_scores_only_the_pairs_laid_side_by_side():
    x, labels = make_batch(0)
    terms, shares = [], [0.0] * 10
    for i in range(0, 10, 2):
        d = (x[i] - x[i + 1]).norm()
        term = d**2 if labels[i] == labels[i + 1] else F.relu(2.0 - d) ** 2
        terms.append(term)
        shares[i] += term.item() / 5 * 10 / 2
        shares[i + 1] += term.item() / 5 * 10 / 2
    loss_fn = create_loss("contrastive", margin=2.0, pairs="adjacent")
    assert_same(loss_fn(x, labels), mean(terms, x), [x])
    assert torch.allclose(loss_fn.per_sample(x, labels), torch.tensor(shares, dtype=torch.float64), atol=1e-10)
    with pytest.raises(ConfigError, match="even"):
        loss_fn(x[:9], labels[:9])
