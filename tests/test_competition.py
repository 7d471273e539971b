"""Competitions: fixed manifests, hidden answers, TOML competitions, and the scorer's torch-free door."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
from PIL import Image

from harness.components import create_dataset
from harness.data.competition import (
    Competition,
    Images,
    LabeledImages,
    competition_names,
    competition_spec,
    open_competition,
)
from harness.data.datasets import ImageDataset
from harness.data.toml_spec import add_competition
from harness.errors import CompetitionError
from harness.scoring.answers import load_answers
from harness.workspace import Workspace

ROLES = ("train", "val", "query", "gallery")


def manifest_path(workspace, name):
    return workspace.root / "competitions" / name / "manifest.csv"


def run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_manifest_is_identical_across_workspaces_and_processes(workspace, tmp_path):
    comp = open_competition(workspace, "digits")
    data = manifest_path(workspace, "digits").read_bytes()
    lines = data.decode().splitlines()
    assert lines[0] == "item_id,label,role" and re.fullmatch(r"digits-\d{4},\d?,\w+", lines[1])
    assert open_competition(workspace, "digits").manifest_sha256 == comp.manifest_sha256
    other = tmp_path / "other"
    # The same build path as open_competition, minus plugin discovery (whose torch import is slow).
    done = run_python(
        f"""
        from pathlib import Path
        from harness.data.competition import _build, _split, item_ids
        from harness.data.datasets import fingerprint
        from plugins.competitions.digits import digits as spec
        from plugins.datasets.digits import digits
        ds = digits()
        folder = Path({str(other / "competitions" / "digits")!r})
        _build(spec(), ds, folder, fingerprint(ds), *_split(spec(), ds, item_ids("digits", len(ds), 0)))
    """,
        PYTHONHASHSEED="123",
    )
    assert done.returncode == 0, done.stderr
    assert (other / "competitions" / "digits" / "manifest.csv").read_bytes() == data


@pytest.mark.parametrize("name", ["digits", "digits-unseen", "shapes"])
def test_roles_are_disjoint_and_every_query_has_a_relevant_gallery_item(workspace, name):
    comp = open_competition(workspace, name)
    ids = [i for role in ROLES for i in getattr(comp, role)().ids]
    assert len(ids) == len(set(ids)) == sum(comp.sizes.values())
    answers = load_answers(workspace, comp.name)
    assert set(answers.query_labels.tolist()) <= set(answers.gallery_labels.tolist())
    rows = [line.split(",") for line in manifest_path(workspace, name).read_text().splitlines()[1:]]
    assert all(len(r) == 3 and (r[1] == "") == (r[2] in ("query", "gallery")) for r in rows)  # no answers here


def test_protocols_keep_their_class_promises(workspace):
    seen = open_competition(workspace, "digits")
    answers = load_answers(workspace, seen.name)
    assert seen.train().num_classes == 10 and set(seen.val().labels.tolist()) == set(range(10))
    assert set(answers.query_labels.tolist()) == set(answers.gallery_labels.tolist()) == set(range(10))
    assert seen.sizes["query"] == 400 and seen.sizes["val"] == 100 and seen.sizes["train"] == 600
    assert np.bincount(answers.query_labels[answers.public]).tolist() == [20] * 10  # stratified public half
    unseen = open_competition(workspace, "digits-unseen")
    answers = load_answers(workspace, unseen.name)
    train, val = unseen.train(), unseen.val()
    assert train.class_names == ["0", "1", "2", "3", "4"] and train.num_classes == 5
    # val holds classes never trained on (selection rewards transfer), labelled after train's classes
    assert val.class_names == ["0", "1", "2", "3", "4", "5", "6"] and set(val.labels.tolist()) == {5, 6}
    assert set(answers.query_labels.tolist()) == set(answers.gallery_labels.tolist()) == {7, 8, 9}


def test_public_share_is_on_target_with_1000_queries(workspace):
    answers = load_answers(workspace, open_competition(workspace, "shapes-large").name)
    assert len(answers.query_ids) == 1000 and abs(answers.public.mean() - 0.3) <= 0.02
    assert len(answers.gallery_ids) == 20_000


def test_item_ids_do_not_reveal_the_dataset_order(workspace):
    # sklearn stores digits cycling 0..9, so ids numbered in that order would give labels away.
    answers = load_answers(workspace, open_competition(workspace, "digits").name)
    numbers = np.array([int(i.split("-")[1]) for i in answers.gallery_ids])
    assert np.mean(numbers % 10 == answers.gallery_labels) < 0.2


def test_a_tampered_manifest_is_refused(workspace):
    open_competition(workspace, "digits")
    path = manifest_path(workspace, "digits")
    text = path.read_text()
    path.write_text(text.replace(",query\n", ",gallery\n", 1))
    for attempt in (lambda: open_competition(workspace, "digits"), lambda: load_answers(workspace, "digits")):
        with pytest.raises(CompetitionError, match="changed since it was written.*delete"):
            attempt()


def _reachable(root, depth=5):
    """Every object reachable from ``root`` through attributes, slots, bound methods, closures and containers."""
    seen, frontier, found = {id(root)}, [root], []
    for _ in range(depth):
        following = []
        for obj in frontier:
            children = list(vars(obj).values()) if hasattr(obj, "__dict__") and not isinstance(obj, type) else []
            children += [
                getattr(obj, n) for c in type(obj).__mro__ for n in getattr(c, "__slots__", ()) if hasattr(obj, n)
            ]
            children += [getattr(obj, "__self__", None)] + [
                c.cell_contents for c in getattr(obj, "__closure__", None) or ()
            ]
            children += (
                list(obj.values()) if isinstance(obj, dict) else list(obj) if isinstance(obj, (list, tuple)) else []
            )
            for child in children:
                if id(child) not in seen and not isinstance(
                    child, (str, int, float, type(None), type, types.ModuleType)
                ):
                    seen.add(id(child))
                    following.append(child)
        found += following
        frontier = following
    return found


def _spy(images, hidden_labels, all_labels):
    """Nothing reachable from an Images object holds labels: by name, by value, or by owner."""
    assert not hasattr(images, "__dict__")
    assert not [n for c in type(images).__mro__ for n in getattr(c, "__slots__", ()) if "label" in n]
    for obj in _reachable(images):
        assert not isinstance(obj, (Competition, LabeledImages, ImageDataset)), type(obj)
        assert not hasattr(obj, "labels"), type(obj)
        if isinstance(obj, np.ndarray) and obj.dtype.kind in "iu":
            for labels in (hidden_labels, all_labels):
                assert obj.shape != labels.shape or not np.array_equal(obj, labels)


def test_query_and_gallery_images_carry_no_labels(workspace):
    comp = open_competition(workspace, "digits")
    answers = load_answers(workspace, comp.name)
    query, gallery = comp.query(), comp.gallery()
    assert type(query) is Images and type(gallery) is Images
    all_labels = create_dataset("digits").labels
    _spy(query, answers.query_labels, all_labels)
    _spy(gallery, answers.gallery_labels, all_labels)
    assert query.ids == answers.query_ids.tolist() and query.load([0, 1]).shape == (2, 3, 8, 8)
    assert sum(len(b) for b in gallery.batches(300)) == len(gallery)
    train, val = comp.train(), comp.val()
    hidden = set(query.ids) | set(gallery.ids)
    for labeled in (train, val):
        assert not hidden & set(labeled.ids) and len(labeled.labels) == len(labeled.ids)
    np.testing.assert_array_equal(comp.images_by_id(query.ids[:3]), query.load([0, 1, 2]))
    with pytest.raises(CompetitionError, match="unknown item id"):
        comp.images_by_id(["digits-9999"])


def test_load_answers_reads_two_files_without_torch_or_plugins(workspace):
    expected = load_answers(workspace, open_competition(workspace, "digits").name)
    done = run_python("""
        import sys
        from harness.scoring.answers import load_answers
        from harness.workspace import Workspace
        a = load_answers(Workspace.from_env(), "digits")
        loaded = [m for m in ("torch", "harness.plugins", "sklearn", "plugins") if m in sys.modules]
        print(a.metric_label, len(a.query_ids), int(a.public.sum()), a.manifest_sha256, loaded)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["map@100", "400", "200", expected.manifest_sha256, "[]"]


def test_load_answers_only_reads_and_prepare_answers_splits(workspace, monkeypatch):
    from harness.data.competition import prepare_answers
    from harness.plugins import reset_host

    with pytest.raises(CompetitionError, match="never split"):
        load_answers(workspace, "digits-unseen")
    assert not manifest_path(workspace, "digits-unseen").exists()  # the read wrote nothing
    prepare_answers(workspace, "digits-unseen")
    reset_host()
    monkeypatch.setattr("harness.plugins.PluginHost.load", lambda self: pytest.fail("a read loaded plugins"))
    answers = load_answers(workspace, "digits-unseen")
    assert len(answers.query_ids) == 120 and (manifest_path(workspace, "digits-unseen")).exists()


def test_train_labels_are_contiguous_and_val_classes_follow_them(workspace, plugins_dir):
    (plugins_dir / "tiny.py").write_text(
        textwrap.dedent("""
        from harness import hookimpl
        from harness.data.spec import CompetitionSpec

        @hookimpl
        def register_competitions(register):
            register("tiny", lambda: CompetitionSpec(
                name="tiny", dataset="shapes", dataset_config={"num_classes": 8, "per_class": 12, "size": 8},
                protocol="unseen-classes",
                protocol_config={"train_classes": [1, 4, 6, 7], "val_classes": [4, 7], "val": 2, "query": 3}))
    """)
    )
    comp = open_competition(workspace, "tiny")
    train, val = comp.train(), comp.val()
    assert sorted(set(train.labels.tolist())) == [0, 1] and train.num_classes == 2 == comp.num_classes
    assert train.class_names == ["square-001", "checker-006"] and train.labels.dtype == np.int64
    assert val.class_names[:2] == train.class_names and len(val.class_names) == 4
    assert val.class_names[2] == "cross-004" and sorted(val.labels.tolist()) == [2, 2, 3, 3]


def _png_tree(root, classes=3, per_class=6):
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return root


FOLDER_TOML = """
dataset = "folder"
k = 5
salt = "mine"
[dataset_config]
root = "{root}"
size = 8
[protocol_config]
query = 2
val = 1
train = 1
"""


def test_a_toml_competition_over_a_folder(workspace, tmp_path):
    _png_tree(workspace.root / "competitions" / "mine" / "images")
    (workspace.root / "competitions" / "mine" / "competition.toml").write_text(FOLDER_TOML.format(root="images"))
    assert "mine" in competition_names(workspace) and "digits" in competition_names(workspace)
    comp = open_competition(workspace, "mine")
    assert comp.sizes == {"train": 3, "val": 3, "query": 6, "gallery": 6} and comp.image_shape == (3, 8, 8)
    assert comp.query().ids[0].startswith("folder-") and comp.spec.k == 5
    moved = shutil.copytree(workspace.root, tmp_path / "moved")
    assert open_competition(Workspace(moved), "mine").manifest_sha256 == comp.manifest_sha256
    toml = workspace.root / "competitions" / "mine" / "competition.toml"
    toml.write_text(FOLDER_TOML.format(root="images").replace("k = 5", "k = 6"))
    with pytest.raises(CompetitionError, match="redefined"):
        open_competition(workspace, "mine")
    toml.write_text(FOLDER_TOML.format(root="images"))
    _png_tree(workspace.root / "competitions" / "mine" / "images" / "c0" / "more", classes=1, per_class=1)
    with pytest.raises(CompetitionError, match="changed since"):
        open_competition(workspace, "mine")


def test_add_competition_from_a_csv_with_fixed_roles(workspace, tmp_path):
    _png_tree(tmp_path / "data" / "images", classes=2, per_class=3)
    roles = ("train", "query", "gallery")
    rows = ["path,label,role"] + [f"images/c{c}/{i}.png,c{c},{roles[i]}" for c in range(2) for i in range(3)]
    (tmp_path / "data" / "list.csv").write_text("\n".join(rows) + "\n")
    toml = 'dataset = "csv"\nprotocol = "given"\n[dataset_config]\npath = "list.csv"\nsize = 4\n'
    (tmp_path / "data" / "fixed.toml").write_text(toml)
    spec, target = add_competition(workspace, tmp_path / "data" / "fixed.toml")
    assert spec.name == "fixed" and str(tmp_path / "data" / "list.csv") in target.read_text()
    comp = open_competition(workspace, "fixed")
    assert comp.sizes == {"train": 2, "val": 0, "query": 2, "gallery": 2}
    with pytest.raises(CompetitionError, match="already exists"):
        add_competition(workspace, tmp_path / "data" / "fixed.toml")


def test_a_manifest_without_its_json_is_adopted_only_if_identical(workspace):
    sha = open_competition(workspace, "shapes").manifest_sha256
    info = workspace.root / "competitions" / "shapes" / "competition.json"
    info.unlink()
    assert open_competition(workspace, "shapes").manifest_sha256 == sha and info.exists()
    info.unlink()
    path = manifest_path(workspace, "shapes")
    path.write_text(path.read_text().replace(",train\n", ",val\n", 1))
    with pytest.raises(CompetitionError, match="differs from a fresh split"):
        open_competition(workspace, "shapes")


def test_unknown_competition_suggests_names(workspace):
    with pytest.raises(CompetitionError, match="(?i)did you mean 'digits-unseen'"):
        competition_spec(workspace, "digits-unsen")


def test_cifar10_hashing_follows_the_hashing_protocol(workspace):
    spec = competition_spec(workspace, "cifar10-hashing")
    per_class = spec.protocol_config
    assert spec.dataset == "cifar10" and spec.metric == "map@k"
    assert per_class["query"] == 100 and per_class["train"] + per_class["val"] == 500
    assert spec.k == 60_000 - 10 * (100 + 500) == 54_000


@pytest.mark.parametrize("line", ['public_fraction = "x"', 'seed = "abc"', "seed = 1.5", "salt = 3"])
def test_a_toml_value_of_the_wrong_type_is_one_error(workspace, tmp_path, line):
    # review regression: these ended in a ValueError/TypeError traceback
    (tmp_path / "bad.toml").write_text(f'dataset = "digits"\n{line}\n')
    with pytest.raises(CompetitionError, match="must be"):
        add_competition(workspace, tmp_path / "bad.toml")


def test_file_dataset_query_images_carry_no_labels(workspace):
    # review regression: FileDataset.pixels() was the bound load method, its dataset (and labels) one hop away
    _png_tree(workspace.root / "competitions" / "mine" / "images")
    (workspace.root / "competitions" / "mine" / "competition.toml").write_text(FOLDER_TOML.format(root="images"))
    comp = open_competition(workspace, "mine")
    answers = load_answers(workspace, comp.name)
    all_labels = np.repeat(np.arange(3), 6)
    _spy(comp.query(), answers.query_labels, all_labels)
    _spy(comp.gallery(), answers.gallery_labels, all_labels)
    assert comp.query().load([0, 1]).shape == (2, 3, 8, 8)
