"""Fashion-MNIST: the idx reader on tiny generated files; the competitions on the real files (skipped without)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import plugins.datasets.fashion_mnist as fm
from harness.components import create_dataset
from harness.errors import DatasetError

SIZES = {"train": 3, "t10k": 2}


def write_idx(folder, gz: bool = True, sizes=SIZES, seed: int = 0):
    """The four idx files of a tiny Fashion-MNIST (``sizes`` images per part) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for part, n in sizes.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        images_name, labels_name = fm.file_names(part)
        for name, magic, array in ((images_name, 0x0803, images), (labels_name, 0x0801, labels)):
            data = magic.to_bytes(4, "big") + b"".join(s.to_bytes(4, "big") for s in array.shape) + array.tobytes()
            path = folder / (f"{name}.gz" if gz else name)
            path.write_bytes(gzip.compress(data) if gz else data)
        written[part] = (images, labels)
    return written


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No Debian folder and no $BENCH_DATA_DIR: only what a test writes is found."""
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian-fashion-mnist")
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    return tmp_path


@pytest.fixture
def real_files():
    try:
        return fm.find_files()
    except DatasetError:
        pytest.skip(f"Fashion-MNIST is not installed (apt-get install {fm.DEBIAN_PACKAGE})")


@pytest.mark.parametrize("gz", [True, False])
def test_reads_train_then_t10k_as_grey_uint8(nowhere, isolated_workspace, gz):
    written = write_idx(isolated_workspace / "data", gz=gz)
    ds = create_dataset("fashion-mnist")
    images = np.concatenate([written["train"][0], written["t10k"][0]])
    labels = np.concatenate([written["train"][1], written["t10k"][1]])
    assert ds.item_names == ["fm-00000", "fm-00001", "fm-00002", "fm-00003", "fm-00004"]
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.images.dtype == np.uint8 and ds.images.shape == (5, 1, 28, 28)  # stored at its own size
    assert ds.image_shape == (3, 28, 28) and ds.class_names[0] == "T-shirt/top" and ds.id_prefix == "fm"
    batch = ds.load([4, 0])
    assert batch.dtype == np.float32 and batch.shape == (2, 3, 28, 28)
    np.testing.assert_array_equal(batch[0, 2], images[4] / np.float32(255))


@pytest.mark.parametrize("where", ["env", "workspace", "workspace-named", "torchvision", "debian"])
def test_every_search_location_is_used(nowhere, isolated_workspace, monkeypatch, where):
    folder = {
        "env": nowhere / "cache",
        "workspace": isolated_workspace / "data",
        "workspace-named": isolated_workspace / "data" / "fashion-mnist",
        "torchvision": isolated_workspace / "data" / "FashionMNIST" / "raw",
        "debian": fm.DEBIAN_DIR,
    }[where]
    if where == "env":
        monkeypatch.setenv("BENCH_DATA_DIR", str(nowhere / "cache"))
    write_idx(folder)
    assert set(fm.find_files().values()) <= set(folder.iterdir())
    assert len(create_dataset("fashion-mnist")) == 5


def test_bench_data_dir_comes_before_the_workspace_and_debian(nowhere, isolated_workspace, monkeypatch):
    write_idx(fm.DEBIAN_DIR, sizes={"train": 1, "t10k": 1})
    write_idx(isolated_workspace / "data", sizes={"train": 2, "t10k": 1})
    assert len(create_dataset("fashion-mnist")) == 3
    monkeypatch.setenv("BENCH_DATA_DIR", str(nowhere / "cache"))
    write_idx(nowhere / "cache" / "FashionMNIST" / "raw", sizes={"train": 4, "t10k": 1})
    assert len(create_dataset("fashion-mnist")) == 5


def test_a_missing_file_names_the_package_and_every_folder(nowhere, isolated_workspace):
    write_idx(isolated_workspace / "data")
    (isolated_workspace / "data" / "t10k-labels-idx1-ubyte.gz").unlink()  # an incomplete folder is passed over
    with pytest.raises(DatasetError) as info:
        create_dataset("fashion-mnist")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "t10k-labels-idx1-ubyte" in message
    for folder in fm.candidate_folders():
        assert str(folder) in message


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[:-5], "corrupt or truncated"),
        (lambda data: b"\x00\x00\x08\x01" + data[4:], "not an idx file"),
        (lambda data: data[:2], "not an idx file"),
    ],
)
def test_a_corrupt_file_is_a_clear_error(nowhere, isolated_workspace, damage, message):
    write_idx(isolated_workspace / "data", gz=False)
    path = isolated_workspace / "data" / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DatasetError, match=message):
        create_dataset("fashion-mnist")


def test_a_broken_gzip_is_a_clear_error(nowhere, isolated_workspace):
    write_idx(isolated_workspace / "data")
    (isolated_workspace / "data" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="cannot read .*t10k-labels"):
        create_dataset("fashion-mnist")


def test_the_cli_says_one_line_and_exits_1_without_the_files(nowhere, cli):
    result = cli("competitions", "show", "fashion-mnist")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "dataset-fashion-mnist" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unseen_classes_caps_train_items_per_class():
    from harness.data.splits import split

    labels = np.repeat(np.arange(6), 20)
    config = {"train_classes": [0, 1, 2], "val_classes": [2], "train": 5, "val": 4, "query": 3, "gallery": 10}
    roles = split(labels, "unseen-classes", config, seed=0)
    assert [int(np.sum((roles == "train") & (labels == c))) for c in range(6)] == [5, 5, 0, 0, 0, 0]
    assert int(np.sum(roles == "val")) == 4 and int(np.sum(roles == "query")) == 9
    uncapped = split(labels, "unseen-classes", {k: v for k, v in config.items() if k != "train"}, seed=0)
    assert int(np.sum(uncapped == "train")) == 40


@pytest.mark.parametrize(
    "name, sizes, classes",
    [
        ("fashion-mnist", {"train": 400, "val": 200, "query": 1000, "gallery": 2000}, None),
        ("fashion-mnist-unseen", {"train": 400, "val": 200, "query": 900, "gallery": 2100}, ([0, 1, 3, 5, 8], [2, 7])),
    ],
)
def test_competition_split_sizes_and_disjoint_roles(real_files, workspace, name, sizes, classes):
    from harness.data.competition import open_competition
    from harness.scoring.answers import load_answers

    comp = open_competition(workspace, name)
    assert comp.sizes == sizes
    train, val, query, gallery = comp.train(), comp.val(), comp.query(), comp.gallery()
    ids = [set(s.ids) for s in (train, val, query, gallery)]
    assert sum(map(len, ids)) == len(set().union(*ids)) == sum(sizes.values())
    assert all(i.startswith("fm-") and len(i) == 8 for i in query.ids[:5])  # short ids: small submissions
    answers = load_answers(workspace, name)
    test_labels = set(np.unique(answers.query_labels)) | set(np.unique(answers.gallery_labels))
    if classes is None:
        assert train.num_classes == 10 and len(set(test_labels)) == 10
    else:
        fit, selected = classes
        assert train.class_names == [fm.CLASSES[c] for c in fit]
        assert sorted(set(val.class_names[i] for i in val.labels)) == sorted(fm.CLASSES[c] for c in selected)
        assert len(test_labels) == 3
    assert abs(int(answers.public.sum()) - sizes["query"] / 2) <= 5


@pytest.mark.slow
def test_pixels_end_to_end_writes_a_verifiable_parquet_row(real_files, cli, workspace):
    result = cli("run", "--plugin", "pixels", "-c", "fashion-mnist")
    assert result.exit_code == 0, result.output
    (submission,) = (workspace.root / "submissions" / "fashion-mnist").iterdir()
    assert submission.suffix == ".parquet" and submission.stat().st_size < 250_000
    verified = cli("leaderboard", "-c", "fashion-mnist", "--verify")
    assert verified.exit_code == 0 and "all 1 row(s) of fashion-mnist rescore" in verified.stdout, verified.output


def test_a_competition_may_ask_for_parquet_submissions():
    from harness.data.spec import CompetitionSpec
    from harness.errors import CompetitionError
    from harness.scoring.submission import submission_suffix

    assert submission_suffix(1_000, 100) == ".csv" and submission_suffix(1_000, 100, "parquet") == ".parquet"
    assert submission_suffix(1_000, 54_000, "csv") == ".csv"
    spec = CompetitionSpec(name="x", dataset="digits", submission_format="feather")
    with pytest.raises(CompetitionError, match="submission_format must be one of auto, csv, parquet"):
        spec.check()
