"""A participant's data, taken as an outsider takes it: export (or the server's zip), a raw-pixel kNN
in NumPy alone, an upload, and a score like the `pixels` method's; and never an answer in the data."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

starlette = pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from harness.serve.app import create_app  # noqa: E402
from harness.serve.tokens import TokenStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PIXELS_PUBLIC = 0.5946  # the `pixels` rows of the shipped leaderboards/digits.csv (raw-pixel cosine kNN)
ROLES = ("train", "val", "query", "gallery")


def knn_submission(arrays: dict, path: Path, k: int) -> Path:
    """What a participant writes with NumPy alone: cosine similarity of raw pixels, best k first."""
    query = arrays["query_images"].reshape(len(arrays["query_ids"]), -1).astype(np.float64)
    gallery = arrays["gallery_images"].reshape(len(arrays["gallery_ids"]), -1).astype(np.float64)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    order = np.argsort(-(query @ gallery.T), axis=1, kind="stable")[:, :k]
    lines = ["query_id,neighbors"]
    lines += [f"{q},{' '.join(arrays['gallery_ids'][row])}" for q, row in zip(arrays["query_ids"], order)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_export_writes_a_kaggle_data_tab_without_answers(cli, workspace, tmp_path):
    out = tmp_path / "digits-data"
    done = cli("competitions", "export", "digits", str(out))
    assert done.exit_code == 0, done.output
    described = json.loads((out / "data.json").read_text())
    sizes = described["sizes"]
    assert described["metric"] == "map@100" and described["k"] == 100 and "bench submit" in described["how_to_submit"]
    for role in ROLES:
        assert len(list((out / role).glob("*.png"))) == sizes[role]
    with np.load(out / "arrays.npz") as arrays:
        assert sorted(arrays.files) == sorted(f"{r}_{x}" for r in ROLES for x in ("ids", "images"))
        assert arrays["query_images"].dtype == np.uint8 and arrays["query_images"].shape == (sizes["query"], 8, 8)
        assert {f"{i}.png" for i in arrays["gallery_ids"]} == {p.name for p in (out / "gallery").glob("*.png")}
    with open(out / "labels.csv", newline="") as handle:
        labels = list(csv.DictReader(handle))
    assert {row["role"] for row in labels} == {"train", "val"} and len(labels) == sizes["train"] + sizes["val"]
    with open(out / "sample_submission.csv", newline="") as handle:
        sample = list(csv.DictReader(handle))
    assert len(sample) == sizes["query"] and len(sample[0]["neighbors"].split()) == 100
    assert cli("validate", str(out / "sample_submission.csv"), "--competition", "digits").exit_code == 0
    refused = cli("competitions", "export", "digits", str(out))
    assert refused.exit_code == 1 and "not an empty folder" in refused.output


def test_an_outsider_downloads_the_zip_submits_a_numpy_knn_and_scores_like_pixels(workspace, tmp_path):
    token = TokenStore(workspace).add("outsider")
    client = TestClient(create_app(workspace))
    page = client.get("/competitions/digits/data", headers={"accept": "text/html"})
    assert page.status_code == 200 and "/competitions/digits/data.zip" in page.text
    download = client.get("/competitions/digits/data.zip")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    names = set(archive.namelist())
    assert {"digits/arrays.npz", "digits/labels.csv", "digits/sample_submission.csv", "digits/data.json"} <= names
    assert not any("manifest" in name or "answers" in name for name in names)
    with np.load(io.BytesIO(archive.read("digits/arrays.npz"))) as npz:
        arrays = {key: npz[key] for key in npz.files}
    file = knn_submission(arrays, tmp_path / "knn.csv", k=100)
    answer = client.post(
        "/api/competitions/digits/submissions",
        files={"file": ("knn.csv", file.read_bytes(), "text/csv")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    public = answer.json()["row"]["public"]
    assert public == pytest.approx(shipped_pixels_public(), abs=0.01)


def shipped_pixels_public() -> float:
    board = ROOT / "leaderboards" / "digits.csv"
    if board.is_file():
        with open(board, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row.get("method") == "pixels"]
        if rows:
            return float(rows[0]["public"])
    return PIXELS_PUBLIC
