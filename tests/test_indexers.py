"""Every indexer against a brute-force NumPy search; a contract test over every registered one."""

from __future__ import annotations

import numpy as np
import pytest

from harness.components import create_indexer, registry
from harness.errors import ConfigError

FLOAT_EXACT = ("exact", "faiss-flat")
FLOAT_APPROX = ("faiss-ivf", "faiss-hnsw")
BINARY = ("hamming", "faiss-binary")


def clustered(rng, n, d=32, centers=None):
    centers = rng.standard_normal((20, d)) * 3 if centers is None else centers
    return (centers[rng.integers(0, len(centers), n)] + rng.standard_normal((n, d))).astype(np.float32), centers


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    gallery, centers = clustered(rng, 2000)
    queries, _ = clustered(rng, 150, centers=centers)
    return queries, gallery


def brute_force(queries, gallery, metric):
    q, g = queries.astype(np.float64), gallery.astype(np.float64)
    if metric == "cosine":
        q, g = q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True)
    if metric == "euclidean":
        scores = -((q[:, None, :] - g[None]) ** 2).sum(-1)
    else:
        scores = q @ g.T
    return np.argsort(-scores, axis=1, kind="stable"), scores


def recall(found, reference, k):
    return np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(found, reference)])


@pytest.mark.parametrize("metric", ["ip", "cosine", "euclidean"])
@pytest.mark.parametrize("name", FLOAT_EXACT + FLOAT_APPROX)
def test_float_indexers_agree_with_brute_force(name, metric, data):
    queries, gallery = data
    reference, ref_scores = brute_force(queries, gallery, metric)
    scores, idx = create_indexer(name, metric=metric).build(gallery).search(queries, 10)
    wanted = 1.0 if name in FLOAT_EXACT else 0.9
    assert recall(idx, reference, 10) >= wanted
    if name in FLOAT_EXACT:
        expected = np.take_along_axis(ref_scores, idx, axis=1)
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-3)


def test_exact_streams_in_small_blocks(data):
    queries, gallery = data
    whole = create_indexer("exact", metric="ip").build(gallery[:300]).search(queries[:40], 7)
    blocked = (
        create_indexer("exact", metric="ip", query_block=13, gallery_block=5)
        .build(gallery[:300])
        .search(queries[:40], 7)
    )
    np.testing.assert_array_equal(whole[1], blocked[1])


def hamming_reference(queries, gallery, k):
    dist = ((queries[:, None, :] > 0) != (gallery[None] > 0)).sum(-1)
    positions = np.broadcast_to(np.arange(len(gallery)), dist.shape)
    return np.lexsort((positions, dist), axis=-1)[:, :k], dist


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("bits", [16, 64, 100])
def test_binary_indexers_match_popcount_reference_with_ties_by_position(name, bits):
    rng = np.random.default_rng(bits)
    gallery = np.sign(rng.standard_normal((700, bits))).astype(np.float32)
    queries = np.sign(rng.standard_normal((40, bits))).astype(np.float32)
    gallery[100:110] = gallery[5]  # exact duplicates: ties that only position can order
    queries[0] = gallery[5]
    reference, dist = hamming_reference(queries, gallery, 30)
    scores, idx = create_indexer(name).build(gallery).search(queries, 30)
    np.testing.assert_array_equal(idx, reference)
    np.testing.assert_array_equal(scores, bits - np.take_along_axis(dist, idx, axis=1))
    assert list(idx[0, :11]) == [5, *range(100, 110)]


def test_hamming_accepts_zero_one_codes_and_small_blocks():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 2, (300, 64)).astype(np.float32)
    reference, _ = hamming_reference(codes[:20] * 2 - 1, codes * 2 - 1, 15)
    _, idx = create_indexer("hamming", query_block=7, gallery_block=11).build(codes).search(codes[:20], 15)
    np.testing.assert_array_equal(idx, reference)


def test_exact_on_sign_codes_breaks_ties_by_position():
    rng = np.random.default_rng(2)
    codes = np.sign(rng.standard_normal((500, 16))).astype(np.float32)
    reference, _ = hamming_reference(codes[:30], codes, 40)
    _, idx = create_indexer("exact", metric="ip", gallery_block=64).build(codes).search(codes[:30], 40)
    np.testing.assert_array_equal(idx, reference)


@pytest.mark.parametrize(
    "name, settings, message",
    [
        ("exact", {"metric": "manhattan"}, "metric must be one of .* but got 'manhattan'"),
        ("exact", {"query_block": 0}, "query_block must be an integer >= 1 but got 0"),
        ("hamming", {"gallery_block": -3}, "gallery_block must be an integer >= 1 but got -3"),
        ("faiss-ivf", {"nprobe": 0}, "nprobe must be an integer >= 1 but got 0"),
        ("faiss-ivf", {"nlist": 2.5}, "nlist must be an integer >= 1 but got 2.5"),
        ("faiss-hnsw", {"M": 1}, "M must be an integer >= 2 but got 1"),
        ("faiss-hnsw", {"efSearch": 0}, "efSearch must be an integer >= 1 but got 0"),
    ],
)
def test_constructors_reject_bad_values(name, settings, message):
    with pytest.raises(ConfigError, match=message):
        create_indexer(name, **settings)


INDEXERS = registry("indexers").names()


@pytest.mark.parametrize("name", INDEXERS)
def test_indexer_contract(name):
    rng = np.random.default_rng(3)
    gallery = np.sign(rng.standard_normal((50, 24))).astype(np.float32)
    queries = gallery[:6] + rng.standard_normal((6, 24)).astype(np.float32) * 0.01
    index = create_indexer(name)
    assert index.build(gallery) is index
    assert index.code_kind in ("float", "binary")
    assert isinstance(index.bytes_per_item, int) and index.bytes_per_item > 0
    scores, idx = index.search(queries, 60)  # k > gallery size: padded with -1
    assert scores.shape == idx.shape == (6, 60) and idx.dtype == np.int64
    assert (idx[:, 50:] == -1).all() and (idx[:, :50] >= 0).all()
    assert np.isneginf(scores[:, 50:]).all()
    assert all(len(set(row[:50])) == 50 for row in idx)
    assert (idx[:, 0] == np.arange(6)).all()  # each query's own item first
    order_ok = [np.all(np.diff(s[:50]) <= 0) for s in scores]
    assert all(order_ok)
    tied = scores[:, 1:50] == scores[:, :49]
    assert (np.diff(idx[:, :50], axis=1)[tied] > 0).all()  # ties by gallery position
    again = index.search(queries, 5)
    np.testing.assert_array_equal(again[1], idx[:, :5])
    with pytest.raises(ConfigError, match="k must be an integer >= 1 but got 0"):
        index.search(queries, 0)
    with pytest.raises(ConfigError, match="dimensions"):
        index.search(queries[:, :10], 3)


@pytest.mark.parametrize("name", INDEXERS)
def test_empty_gallery_gives_padding(name):
    index = create_indexer(name).build(np.zeros((0, 8), dtype=np.float32))
    scores, idx = index.search(np.ones((2, 8), dtype=np.float32), 3)
    assert (idx == -1).all() and np.isneginf(scores).all()


# -- the torch path (the GPU path of exact and hamming), run on the CPU -----------------------
def test_torch_float_path_equals_the_faiss_path_on_tie_free_data(data):
    from plugins.indexers.exact import TorchFloatSearch

    queries, gallery = data
    for metric in ("ip", "cosine", "euclidean"):
        index = create_indexer("exact", metric=metric).build(gallery)
        cpu_scores, cpu_idx = index.search(queries, 25)
        stored = gallery / np.linalg.norm(gallery, axis=1, keepdims=True) if metric == "cosine" else gallery
        np.testing.assert_allclose(index._gallery, stored, rtol=1e-6)
        on_torch = TorchFloatSearch(np.ascontiguousarray(stored, dtype=np.float32), metric, "cpu")
        scores, idx = on_torch.search(queries if metric != "cosine" else queries / np.linalg.norm(queries, axis=1,
                                      keepdims=True), 25, query_block=37, gallery_block=301)  # fmt: skip
        np.testing.assert_array_equal(idx, cpu_idx)
        np.testing.assert_allclose(scores, cpu_scores, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("bits", [16, 64, 100])
def test_torch_hamming_path_matches_the_reference_with_ties(bits):
    from plugins.indexers.hamming import TorchHammingSearch

    rng = np.random.default_rng(bits)
    gallery = np.sign(rng.standard_normal((700, bits))).astype(np.float32)
    queries = np.sign(rng.standard_normal((40, bits))).astype(np.float32)
    gallery[100:110] = gallery[5]
    queries[0] = gallery[5]
    reference, dist = hamming_reference(queries, gallery, 30)
    scores, idx = TorchHammingSearch(gallery, "cpu").search(queries, 30, query_block=9, gallery_block=64)
    np.testing.assert_array_equal(idx, reference)
    np.testing.assert_array_equal(scores, bits - np.take_along_axis(dist, idx, axis=1))


def test_torch_top_k_breaks_ties_by_column_inside_a_block():
    import torch

    from plugins.indexers._torch import best_k

    scores = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.0, 3.0], [5.0, 4.0, 4.0, 2.0, 4.0, 1.0]])
    vals, cols = best_k(scores, 3)
    assert cols.tolist() == [[1, 2, 3], [0, 1, 2]]
    assert vals.tolist() == [[3.0, 3.0, 3.0], [5.0, 4.0, 4.0]]


def test_device_setting_selects_the_torch_path_and_cpu_keeps_faiss():
    index = create_indexer("exact", device="cpu").build(np.eye(4, dtype=np.float32))
    assert index._faiss is not None and index._torch is None
    index = create_indexer("hamming", device="meta")  # any non-CPU torch device takes the torch path
    assert index.device == "meta"


def test_exact_repairs_faiss_ties_over_many_query_blocks():
    rng = np.random.default_rng(5)
    gallery = rng.integers(-1, 2, (3000, 8)).astype(np.float32)  # few distinct scores: ties everywhere
    queries = rng.integers(-1, 2, (90, 8)).astype(np.float32)
    scores = queries @ gallery.T
    positions = np.broadcast_to(np.arange(len(gallery)), scores.shape)
    reference = np.lexsort((positions, -scores), axis=-1)[:, :50]
    _, idx = create_indexer("exact", metric="ip", query_block=32).build(gallery).search(queries, 50)
    np.testing.assert_array_equal(idx, reference)


def test_hamming_ties_hold_beyond_one_faiss_query_batch():
    rng = np.random.default_rng(6)
    gallery = np.sign(rng.standard_normal((400, 8))).astype(np.float32)  # 256 codes: many duplicates
    queries = np.sign(rng.standard_normal((1100, 8))).astype(np.float32)
    reference, _ = hamming_reference(queries, gallery, 20)
    _, idx = create_indexer("hamming").build(gallery).search(queries, 20)
    np.testing.assert_array_equal(idx, reference)


def test_hamming_ties_hold_across_faiss_gallery_blocks():
    """faiss scans 65,536 codes at a time: copies on both sides of that edge keep their position order."""
    rng = np.random.default_rng(7)
    gallery = np.sign(rng.standard_normal((70_000, 32))).astype(np.float32)
    gallery[[3, 65_535, 65_536, 69_999]] = gallery[1]
    queries = np.concatenate([gallery[1:2], np.sign(rng.standard_normal((5, 32))).astype(np.float32)])
    reference, _ = hamming_reference(queries, gallery, 40)
    assert list(reference[0, :5]) == [1, 3, 65_535, 65_536, 69_999]
    _, idx = create_indexer("hamming").build(gallery).search(queries, 40)
    np.testing.assert_array_equal(idx, reference)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_asking_for_cuda_without_one_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA device"):
        create_indexer("exact", device="cuda")
    with pytest.raises(ConfigError, match="device must be"):
        create_indexer("hamming", device="gpu-please")


def test_indexer_device_is_a_setting_of_exact_and_hamming_only():
    from harness.pipeline import resolve_run_config

    cfg = resolve_run_config("triplet", sets=["indexer.device=cuda"])
    assert cfg.components["indexer"]["device"] == "cuda"
    with pytest.raises(ConfigError, match="has no setting 'device'"):
        resolve_run_config("triplet", sets=["indexer.name=faiss-flat", "indexer.device=cuda"])
    assert create_indexer("faiss-flat", device="cuda").metric == "cosine"  # the model's device: ignored
