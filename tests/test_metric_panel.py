"""Every registered metric: the plugin contract, a slow hand-written reference loop, and agreement with
pytorch-metric-learning's AccuracyCalculator on the same rankings."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.metrics import PANEL, builtin_metrics, panel_scores, parse_metric, per_query_scores
from harness.plugins import PluginHost


# -- reference loops: one query at a time, straight from the definitions (DESIGN section 6) ------------
def _walk(row, label, g_labels, k):
    """(relevant?) per rank 1..k: padding and repeats are never relevant, but keep their slot."""
    seen, out = set(), []
    for position in list(row[:k]) + [-1] * max(0, k - len(row)):
        out.append(position >= 0 and position not in seen and g_labels[position] == label)
        seen.add(position)
    return out


def _ap(rel, denominator):
    hits, total = 0, 0.0
    for rank, is_rel in enumerate(rel, start=1):
        if is_rel:
            hits += 1
            total += hits / rank
    return total / denominator if denominator else 0.0


def ref_map_at_k(row, label, g, k):
    return _ap(_walk(row, label, g, k), min(int((g == label).sum()), k))


def ref_map_at_r(row, label, g, k):
    r = int((g == label).sum())
    return _ap(_walk(row, label, g, k)[:r], r)


def ref_map_at_k_found(row, label, g, k):
    rel = _walk(row, label, g, k)
    return _ap(rel, sum(rel))


def ref_precision_at_k(row, label, g, k):
    return sum(_walk(row, label, g, k)) / k


def ref_r_precision(row, label, g, k):
    r = int((g == label).sum())
    return sum(_walk(row, label, g, k)[:r]) / r if r else 0.0


def ref_recall_at_k(row, label, g, k):
    m = min(int((g == label).sum()), k)
    return sum(_walk(row, label, g, k)) / m if m else 0.0


def ref_hit_at_k(row, label, g, k):
    return float(any(_walk(row, label, g, k)))


def ref_mrr_at_k(row, label, g, k):
    rel = _walk(row, label, g, k)
    return 1.0 / (rel.index(True) + 1) if True in rel else 0.0


def ref_knn_accuracy_at_k(row, label, g, k):
    votes, first_rank, seen = Counter(), {}, set()
    for rank, position in enumerate(row[:k]):
        if position < 0 or position in seen:
            continue
        seen.add(position)
        votes[int(g[position])] += 1
        first_rank.setdefault(int(g[position]), rank)
    if not votes:
        return 0.0
    best = max(votes.values())
    winner = min((c for c, v in votes.items() if v == best), key=first_rank.__getitem__)
    return float(winner == label)


REFERENCES = {
    "map@k": ref_map_at_k,
    "map@r": ref_map_at_r,
    "map@k-found": ref_map_at_k_found,
    "precision@k": ref_precision_at_k,
    "r-precision": ref_r_precision,
    "recall@k": ref_recall_at_k,
    "hit@k": ref_hit_at_k,
    "mrr@k": ref_mrr_at_k,
    "knn-accuracy@k": ref_knn_accuracy_at_k,
}
HOST = PluginHost().load()
ALL_METRICS = HOST.registry("metrics").names()


def test_every_builtin_metric_has_a_reference_loop():
    assert sorted(REFERENCES) == builtin_metrics().names()


def random_case(seed: int, queries: int = 200, gallery: int = 50, width: int = 30):
    rng = np.random.default_rng(seed)
    g_labels = rng.integers(0, 6, gallery)
    q_labels = rng.choice(g_labels, queries)
    ranked = rng.integers(-1, gallery, (queries, width))  # repeats and padding scattered in
    ranked[: queries // 4] = np.argsort(g_labels[None, :] != q_labels[: queries // 4, None], axis=1, kind="stable")[
        :, :width
    ]  # a quarter of the lists are near perfect
    return ranked, q_labels, g_labels


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("k", [1, 5, 30, 40])
def test_vectorised_metric_matches_its_reference_loop(name, k):
    ranked, q_labels, g_labels = random_case(k)
    if name in ("map@r", "r-precision") and k < np.bincount(g_labels).max():
        with pytest.raises(ConfigError, match="needs k >="):
            per_query_scores(ranked, q_labels, g_labels, name, k)
        return
    expected = [REFERENCES[name](list(row), label, g_labels, k) for row, label in zip(ranked, q_labels)]
    np.testing.assert_allclose(per_query_scores(ranked, q_labels, g_labels, name, k), expected, atol=1e-12)


@pytest.mark.parametrize("classes", [3, 40])  # votes counted per class, or by comparing the k labels
@pytest.mark.parametrize("k", [2, 5])
def test_knn_accuracy_both_ways_of_counting_votes_match_the_reference(classes, k):
    rng = np.random.default_rng(classes + k)
    g_labels = rng.integers(0, classes, 80)
    q_labels = rng.choice(g_labels, 300)
    ranked = rng.integers(-1, 80, (300, 8))
    ranked[:100, :4] = ranked[:100, :1]  # repeats at the top: they vote once
    expected = [REFERENCES["knn-accuracy@k"](list(row), label, g_labels, k) for row, label in zip(ranked, q_labels)]
    np.testing.assert_array_equal(per_query_scores(ranked, q_labels, g_labels, "knn-accuracy@k", k), expected)


@pytest.mark.parametrize("k", [1, 30, 45])
def test_panel_in_one_pass_equals_each_metric_on_its_own(k, monkeypatch):
    """The panel shares each block's labels and relevance between metrics: same scores as one by one."""
    import harness.metrics as metrics

    monkeypatch.setattr(metrics, "_CELLS_PER_BLOCK", 30 * 7)  # many blocks, so entries are replaced
    ranked, q_labels, g_labels = random_case(3, queries=100, gallery=50, width=30)
    panel = panel_scores(ranked, q_labels, g_labels, k)
    for entry in PANEL:
        ref = parse_metric(entry, k)
        alone = HOST.registry("metrics").get(ref.name).factory
        try:
            expected = np.concatenate(
                [alone(ranked[i : i + 1], q_labels[i : i + 1], g_labels, ref.k) for i in range(len(ranked))]
            )
        except ConfigError:
            assert panel[ref.label] is None
            continue
        np.testing.assert_allclose(panel[ref.label], expected, atol=1e-12, err_msg=ref.label)


def test_shared_results_never_outlive_their_block():
    """Outside a scoring pass nothing is kept; inside, a changed array (another block) is recomputed."""
    import harness.metrics as metrics

    ranked, q_labels, g_labels = random_case(4, queries=20, gallery=50, width=10)
    with metrics.shared_blocks():
        first = metrics.relevance(ranked, q_labels, g_labels, 10).copy()
        other = ranked[::-1].copy()
        np.testing.assert_array_equal(
            metrics.relevance(other, q_labels, g_labels, 10), metrics.relevance(other, q_labels, g_labels, 10)
        )
        assert not np.array_equal(metrics.relevance(other, q_labels, g_labels, 10), first)
        shared = metrics.relevance(other, q_labels, g_labels, 10)
        with pytest.raises(ValueError, match="read-only"):  # one metric cannot change the next one's input
            shared &= False
    assert getattr(metrics._shared, "entries", None) is None
    with pytest.raises(ValueError, match="must lie in"):  # the range check holds for every k, shared or not
        metrics.relevance(np.array([[0, 99]]), q_labels[:1], g_labels, 2)
    np.testing.assert_array_equal(metrics.relevance(np.array([[0, 99]]), q_labels[:1], g_labels, 1).shape, (1, 1))


@pytest.mark.parametrize("name", ALL_METRICS)
def test_metric_contract(name):
    """Every registered metric, built-in or not: (Q,) float64 in [0, 1], a missing list scores 0, a
    list of only relevant items scores 1 (or k is refused), and the result depends only on the inputs."""
    per_query = HOST.registry("metrics").get(name).factory
    ranked, q_labels, g_labels = random_case(1, queries=40, gallery=60)
    k = 60
    scores = np.asarray(per_query(ranked, q_labels, g_labels, k))
    assert scores.shape == (40,) and scores.dtype == np.float64
    assert np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_array_equal(per_query(ranked, q_labels, g_labels, k), scores)
    missing = np.full((40, k), -1)
    np.testing.assert_array_equal(per_query(missing, q_labels, g_labels, k), np.zeros(40))
    perfect = np.argsort(g_labels[None, :] != q_labels[:, None], axis=1, kind="stable")
    small_k = int(np.bincount(g_labels).min())
    try:
        np.testing.assert_allclose(per_query(perfect, q_labels, g_labels, small_k), np.ones(40))
    except ConfigError as exc:
        assert "k" in str(exc)


def test_worked_example_where_map_at_k_and_map_at_k_found_differ():
    # The README's example: 4 relevant items; the list finds one, at rank 1, and nothing else.
    g_labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    ranked = np.array([[0, 4, 5, 6]])
    assert per_query_scores(ranked, [0], g_labels, "map@k", 4)[0] == pytest.approx(0.25)
    assert per_query_scores(ranked, [0], g_labels, "map@k-found", 4)[0] == pytest.approx(1.0)
    assert per_query_scores(ranked, [0], g_labels, "map@r", 4)[0] == pytest.approx(0.25)


def test_knn_accuracy_ties_go_to_the_earliest_ranked_label():
    g_labels = np.array([0, 0, 1, 1, 2])
    assert per_query_scores(np.array([[2, 0, 3, 1]]), [1], g_labels, "knn-accuracy@k", 4)[0] == 1.0
    assert per_query_scores(np.array([[0, 2, 3, 1]]), [1], g_labels, "knn-accuracy@k", 4)[0] == 0.0


def test_metric_names_parse_with_their_cutoff():
    assert parse_metric("precision@5", 100).label == "precision@5" and parse_metric("precision@5", 100).k == 5
    assert parse_metric("map@k", 100).label == "map@100" and parse_metric("map@r", 100).name == "map@r"
    assert parse_metric("map@10-found", 100).name == "map@k-found"
    with pytest.raises(ConfigError, match="unknown metric 'map@q'"):
        parse_metric("map@q", 100)


def test_the_panel_covers_design_section_6_and_leaves_out_what_k_cannot_support():
    ranked, q_labels, g_labels = random_case(2, gallery=50, width=8)
    panel = panel_scores(ranked, q_labels, g_labels, 8)
    assert len(panel) == len(PANEL) >= 13
    assert {"map@r", "r-precision", "precision@1", "hit@8", "mrr@8", "map@8-found"} <= set(panel)
    assert panel["map@r"] is None  # classes of ~8 items need k >= their size
    assert panel["precision@1"] is not None and len(panel["precision@1"]) == len(q_labels)


def test_pytorch_metric_learning_agrees_on_map_at_r_and_precision_at_1():
    """On the same rankings (exact L2 neighbours of the same embeddings, no ties), the panel's map@r,
    r-precision and precision@1 equal AccuracyCalculator's mean_average_precision_at_r,
    r_precision and precision_at_1."""
    torch = pytest.importorskip("torch")
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 8))
    g_labels = rng.integers(0, 5, 120)
    q_labels = rng.integers(0, 5, 60)
    gallery = (centers[g_labels] + rng.normal(scale=1.2, size=(120, 8))).astype(np.float32)
    queries = (centers[q_labels] + rng.normal(scale=1.2, size=(60, 8))).astype(np.float32)
    distances = ((queries[:, None, :].astype(np.float64) - gallery[None, :, :]) ** 2).sum(-1)
    k = int(np.bincount(g_labels).max())
    ranked = np.argsort(distances, axis=1, kind="stable")[:, :k]

    calculator = AccuracyCalculator(
        include=("mean_average_precision_at_r", "r_precision", "precision_at_1"),
        k="max_bin_count",
        device=torch.device("cpu"),
    )
    theirs = calculator.get_accuracy(
        query=torch.from_numpy(queries), query_labels=torch.from_numpy(q_labels), reference=torch.from_numpy(gallery),
        reference_labels=torch.from_numpy(g_labels), ref_includes_query=False,
    )  # fmt: skip
    ours = {name: per_query_scores(ranked, q_labels, g_labels, name, k).mean() for name in ("map@r", "r-precision")}
    ours["precision@1"] = per_query_scores(ranked, q_labels, g_labels, "precision@k", 1).mean()
    assert ours["map@r"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-6)
    assert ours["r-precision"] == pytest.approx(theirs["r_precision"], abs=1e-6)
    assert ours["precision@1"] == pytest.approx(theirs["precision_at_1"], abs=1e-6)
