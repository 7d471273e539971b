"""benchmarks/gpu.py: its CPU branch, and every check it runs on a GPU run here on the CPU at small sizes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu.py"


@pytest.fixture(scope="module")
def gpu():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device" in done.stdout


def test_blocked_torch_search_finds_faiss_neighbours(gpu):
    import faiss

    queries, gallery = gpu.search_vectors(37, 16, 0), gpu.search_vectors(500, 16, 1)
    scores, indices = gpu.torch_exact_search(queries, gallery, k=10, device="cpu", block=8)
    index = faiss.IndexFlatIP(16)
    index.add(gallery)
    expected_scores, expected = index.search(queries, 10)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)


def test_search_check_reports_agreement_and_speed(gpu):
    result = gpu.exact_search_speed("cpu", n_queries=40, n_gallery=300, dim=8, k=5)
    assert result["agreement"] == 1.0
    assert result["seconds"] > 0 and result["faiss_cpu_seconds"] > 0
    assert result["speedup"] == pytest.approx(result["faiss_cpu_seconds"] / result["seconds"])


def test_training_check_runs_bench_and_plain_loops_with_amp_and_channels_last(gpu):
    cfg = gpu.training_config("test_resnet", 8, "cpu")  # timm's tiny test ResNet: the resnet50 code path, fast
    assert cfg["train"]["channels_last"] and cfg["train"]["amp"] and cfg["backbone"]["model"] == "test_resnet"
    result = gpu.training_throughput("cpu", model="test_resnet", batch=8, steps=2, size=32)
    assert result["bench_images_per_s"] > 0 and result["plain_images_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["bench_images_per_s"] / result["plain_images_per_s"])


@pytest.mark.slow
def test_hashnet_check_runs_bench_end_to_end(gpu, isolated_workspace):
    result = gpu.hashnet_end_to_end(isolated_workspace, "cpu", sets=["train.epochs=1"])
    assert 0.0 <= result["public"] <= 1.0 and result["seconds"] > 0


def test_small_cnn_check_compares_bench_and_plain_loops_on_grey_8bit_images(gpu):
    rows = gpu.small_cnn_loops("cpu", n=128, variants=[("batch 32", {"train.batch_size": 32})], size=8)
    assert [row["setting"] for row in rows] == ["batch 32"] and rows[0]["batch"] == 32
    assert rows[0]["bench"] > 0 and rows[0]["plain"] > 0
    assert rows[0]["ratio"] == pytest.approx(rows[0]["bench"] / rows[0]["plain"])
    train = gpu.grey_dataset(8)
    assert train.codes([0])[0].dtype == np.uint8 and train.image_shape == (3, 28, 28)


def test_speed_settings_are_measured_on_cuda_only(gpu):
    assert [label for label, _ in gpu.small_cnn_variants("cpu")] == ["batch 32", "batch auto"]
    on_cuda = dict(gpu.small_cnn_variants("cuda"))
    assert on_cuda["auto, compile=reduce-overhead"]["train.compile"] == "reduce-overhead"


def test_fashion_check_skips_with_a_reason_where_the_competition_is_absent(gpu, isolated_workspace):
    rows, skipped = gpu.fashion_end_to_end(isolated_workspace, "cpu", competition="no-such-competition")
    assert rows == [] and "no-such-competition is not available here" in skipped


def test_the_table_aligns_its_columns(gpu):
    lines = gpu.table([{"a": "x", "b": 1234.5}, {"a": "longer", "b": 2.0}], [("a", "name", ""), ("b", "rate", ",.0f")])
    assert lines == ["  name   rate", "     x  1,234", "longer      2"]
