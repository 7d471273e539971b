"""Competitions: a dataset, a fixed split and a metric, with the query and gallery labels hidden.

A competition comes from a ``register_competitions`` plugin (a :class:`CompetitionSpec`) or from
a TOML file in the workspace (``competitions/<name>/competition.toml``, see
:mod:`harness.data.toml_spec`). On first use :func:`open_competition` splits the dataset and
writes ``manifest.csv`` and ``competition.json`` (see :mod:`harness.data.manifest`); afterwards it
reads them back and refuses a manifest, a definition or a dataset that changed.

Item ids are ``<dataset or its id_prefix>-<number>``, numbered in an order shuffled by a hash of the seed and
the dataset index, so that an id tells nothing about its item's class (many datasets are stored
sorted or cycling by class). ``query()`` and ``gallery()`` give :class:`Images` holding ids and
the dataset's pixel reader only (``ImageDataset.pixels()``: for in-memory datasets one that holds
no labels at all); their labels stay inside the :class:`Competition` and leave it through
``answers()``, the scorer's door.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from harness.atomic import write_atomic
from harness.components import create_dataset, get_competition_spec, registry
from harness.data.answer_store import split_from_dataset, store_answers
from harness.data.datasets import fingerprint
from harness.data.manifest import (
    INFO_FILE,
    MANIFEST_FILE,
    Manifest,
    competition_folder,
    info_json,
    manifest_bytes,
    migrate_if_needed,
    parse_manifest,
    participant_bytes,
    read_checked,
    read_info,
    rebuild_hint,
    sha256_bytes,
)
from harness.data.spec import BINDING_FIELDS, DEFAULT_COMPETITION, CompetitionSpec
from harness.data.splits import public_mask, split
from harness.data.toml_spec import read_spec, resolve_paths, toml_files
from harness.errors import CompetitionError
from harness.registry import did_you_mean


def competition_names(workspace) -> list[str]:
    """Registered competitions and the workspace's TOML ones, sorted."""

    return sorted(set(registry("competitions").names()) | set(toml_files(workspace)))


def competition_spec(workspace, name: str) -> CompetitionSpec:
    """The spec of ``name``: a workspace TOML file or a registered plugin; else "did you mean"."""

    files = toml_files(workspace)
    registered = name in registry("competitions")
    if name in files and registered:
        raise CompetitionError(f"competition {name!r} is defined both by a plugin and by {files[name]}; rename one")
    if name in files:
        return read_spec(files[name], name)
    if not registered:
        raise CompetitionError(f"unknown competition {name!r}.{did_you_mean(str(name), competition_names(workspace))}")
    spec = get_competition_spec(name)
    if not isinstance(spec, CompetitionSpec) or spec.name != name:
        raise CompetitionError(f"competition plugin {name!r} must return a CompetitionSpec named {name!r}")
    return spec.check()


def item_ids(prefix: str, count: int, seed: int) -> np.ndarray:
    """Id of every dataset index: its rank under sha256(seed/index), zero-padded."""
    keys = [hashlib.sha256(f"{seed}/{i}".encode()).digest() for i in range(count)]
    rank = np.empty(count, dtype=np.int64)
    rank[sorted(range(count), key=keys.__getitem__)] = np.arange(count)
    width = max(4, len(str(count - 1)))
    return np.asarray([f"{prefix}-{r:0{width}d}" for r in rank.tolist()], dtype=str)


def open_competition(workspace, name: str = DEFAULT_COMPETITION) -> Competition:
    """The competition, its manifest written on first use and checked on every use after."""

    spec = competition_spec(workspace, name)
    folder = competition_folder(workspace, name)
    dataset = create_dataset(spec.dataset, **resolve_paths(spec.dataset_config, folder))
    # A dataset may name a shorter id prefix than its registered name (fashion-mnist: "fm")
    ids = item_ids(getattr(dataset, "id_prefix", None) or spec.dataset, len(dataset), spec.seed)
    dataset_print = fingerprint(dataset)
    info = read_info(folder)
    full, view = _split(spec, dataset, ids)
    if info is None:
        manifest, sha = _build(spec, dataset, folder, dataset_print, full, view)
    else:
        if {k: info.get(k) for k in BINDING_FIELDS} != spec.canonical():
            raise CompetitionError(
                f"competition {name!r} was redefined since its manifest was written; delete "
                f"{rebuild_hint(folder)} to rebuild"
            )
        if info.get("dataset_fingerprint") != dataset_print:
            raise CompetitionError(
                f"dataset {spec.dataset!r} of competition {name!r} changed since its manifest was written "
                f"(items or labels differ); delete {rebuild_hint(folder)} to rebuild"
            )
        manifest, sha = read_checked(folder, info, lambda _info: full)
        # The split is a function of the definition and the dataset: a manifest edited together with the
        # SHA-256s recorded beside it still differs from it.
        if sha != sha256_bytes(full) or sha256_bytes(view) != read_info(folder).get("participant_manifest_sha256"):
            raise CompetitionError(
                f"{folder / MANIFEST_FILE} or {INFO_FILE} was edited: they no longer match competition {name!r}'s "
                f"split; delete {rebuild_hint(folder)} to rebuild"
            )
        store_answers(spec.name, sha, full, spec.canonical())  # a store that lost the entry gets it back
    index = {item: i for i, item in enumerate(ids.tolist())}
    return Competition(
        spec, dataset, manifest, sha, np.asarray([index[i] for i in manifest.ids.tolist()], dtype=np.int64)
    )


def expected_answers(workspace, name: str) -> Callable[[dict], bytes | None]:
    """What a migration may install (see :func:`harness.data.manifest.migrate`): the full manifest the
    competition's definition gives now, recomputed (plugins loaded) when it has a definition bench could
    have split it from: competition.json names a dataset, a TOML file defines it, or the store already holds
    answers of that name split from a dataset (a forger who also drops the dataset from competition.json).
    A hand-made competition (a manifest and its hash, no dataset) has none: None. Its own earlier entries
    in the store load no plugins: torch alone would put 650 MB under a 100,000-query migration."""

    def expected(info: dict) -> bytes | None:
        folder = competition_folder(workspace, name)
        defined = "dataset" in info or (folder / "competition.toml").exists() or split_from_dataset(name)
        return recomputed_full_manifest(workspace, name) if defined else None

    return expected


def recomputed_full_manifest(workspace, name: str) -> bytes | None:
    """The full manifest the competition's definition gives now (its split recomputed from the dataset);
    None for a competition bench has no definition of (neither a plugin nor a TOML file: a hand-made one)."""
    if name not in toml_files(workspace) and name not in registry("competitions"):
        return None
    spec = competition_spec(workspace, name)
    dataset = create_dataset(spec.dataset, **resolve_paths(spec.dataset_config, competition_folder(workspace, name)))
    full, _ = _split(spec, dataset, item_ids(spec.dataset, len(dataset), spec.seed))
    return full


def _split(spec: CompetitionSpec, dataset, ids: np.ndarray) -> tuple[bytes, bytes]:
    """(full manifest, participant's view) of the competition's fixed split."""

    roles = split(dataset.labels, spec.protocol, dict(spec.protocol_config), spec.seed, dataset.roles)
    used = np.flatnonzero(roles != "")
    rows = used[np.argsort(ids[used], kind="stable")]
    row_roles = roles[rows]
    public = np.zeros(len(rows), dtype=bool)
    queries = row_roles == "query"
    public[queries] = public_mask(
        ids[rows][queries], float(spec.public_fraction), spec.salt, dataset.labels[rows][queries]
    )
    row_ids, labels, row_roles = ids[rows].tolist(), dataset.labels[rows].tolist(), row_roles.tolist()
    return manifest_bytes(row_ids, labels, row_roles, public.tolist()), participant_bytes(row_ids, labels, row_roles)


def _build(spec: CompetitionSpec, dataset, folder, dataset_print: str, full: bytes, view: bytes):
    path = folder / MANIFEST_FILE
    if path.exists() and path.read_bytes() not in (full, view):
        raise CompetitionError(
            f"manifest {path} exists without {INFO_FILE} and differs from a fresh split; delete it to rebuild"
        )
    sha = sha256_bytes(full)
    store_answers(spec.name, sha, full, spec.canonical())  # the answers first: a workspace never points at none
    answers = parse_manifest(full, "the full manifest")
    write_atomic(path, view)
    manifest = parse_manifest(view, str(path))
    info = {
        **spec.canonical(),
        "name": spec.name,
        "description": spec.description,
        "manifest_sha256": sha,
        "participant_manifest_sha256": sha256_bytes(view),
        "sizes": {r: int(np.sum(manifest.roles == r)) for r in ("train", "val", "query", "gallery")},
        "public_queries": int(answers.public.sum()),
        "num_classes": len(dataset.class_names),
        "class_names": list(dataset.class_names),
        "image_shape": list(dataset.image_shape),
        "dataset_items": len(dataset),
        "dataset_fingerprint": dataset_print,
    }
    write_atomic(folder / INFO_FILE, info_json(info))
    return manifest, sha


class Images:
    """Query or gallery items: ids and pixels, no labels anywhere."""

    __slots__ = ("_indices", "_load", "ids", "image_shape")

    def __init__(self, ids: list[str], image_shape, indices: np.ndarray, load: Callable[[np.ndarray], np.ndarray]):
        self.ids = list(ids)
        self.image_shape = tuple(image_shape)
        self._indices = np.asarray(indices, dtype=np.int64)
        self._load = load

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def resident(self) -> bool:
        """Whether the pixels are already in memory (an in-memory dataset): no copy of them is worth making."""
        return bool(getattr(getattr(self._load, "__self__", self._load), "resident", False))

    def load(self, positions) -> np.ndarray:
        """float32 ``(n, 3, H, W)`` in [0, 1] for positions ``0..len-1`` of this set."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if pos.size and (pos.min() < 0 or pos.max() >= len(self)):
            raise IndexError(f"positions must lie in 0..{len(self) - 1}")
        return self._load(self._indices[pos])

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """The images in order, ``batch_size`` at a time (memory bounded by one batch)."""
        for start in range(0, len(self), batch_size):
            yield self.load(np.arange(start, min(start + batch_size, len(self))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} items, shape {self.image_shape})"


class LabeledImages(Images):
    """Train or val items: ids, pixels and labels (contiguous 0..num_classes-1 over train's classes)."""

    __slots__ = ("_codes", "class_names", "labels", "num_classes")

    def __init__(self, ids, image_shape, indices, load, labels: np.ndarray, class_names: list[str]):
        super().__init__(ids, image_shape, indices, load)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self._codes = None

    def with_codes(self, codes) -> LabeledImages:
        """These items with the dataset's ``codes(indices)``, where it holds 8-bit pixels (see ArrayDataset.codes)."""
        self._codes = codes
        return self

    def codes(self, positions) -> tuple[np.ndarray, np.ndarray] | None:
        """``(uint8 (n, C, H, W), values)`` with ``values[codes]`` == ``load(positions)``; None if not 8-bit."""
        if self._codes is None:
            return None
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        return self._codes(self._indices[pos])


class Competition:
    """An opened competition: train and val with labels, query and gallery without."""

    def __init__(self, spec: CompetitionSpec, dataset, manifest: Manifest, sha: str, indices: np.ndarray):
        self.name = spec.name
        self.spec = spec
        self.manifest_sha256 = sha
        self.image_shape = tuple(dataset.image_shape)
        self.photos = bool(getattr(dataset, "photos", False))  # a plugin's dataset need not derive ImageDataset
        self._dataset = dataset
        self._manifest = manifest
        self._indices = indices
        self._train_classes = np.unique(manifest.labels[manifest.roles == "train"])

    @property
    def sizes(self) -> dict[str, int]:
        return {r: int(np.sum(self._manifest.roles == r)) for r in ("train", "val", "query", "gallery")}

    @property
    def num_classes(self) -> int:
        """Classes seen in training."""
        return len(self._train_classes)

    def _rows(self, role: str) -> np.ndarray:
        return np.flatnonzero(self._manifest.roles == role)

    def _labeled(self, role: str) -> LabeledImages:
        rows = self._rows(role)
        original = self._manifest.labels[rows]
        # train's classes first (0..num_classes-1); val-only classes (unseen-classes) after them
        classes = np.concatenate([self._train_classes, np.setdiff1d(original, self._train_classes)])
        labels = np.argsort(classes)[np.searchsorted(np.sort(classes), original)]
        names = [self._dataset.class_names[c] for c in classes.tolist()]
        ids = self._manifest.ids[rows].tolist()
        images = LabeledImages(ids, self.image_shape, self._indices[rows], self._dataset.load, labels, names)
        return images.with_codes(getattr(self._dataset, "codes", None))

    def train(self) -> LabeledImages:
        return self._labeled("train")

    def val(self) -> LabeledImages:
        return self._labeled("val")

    def _unlabeled(self, role: str) -> Images:
        rows = self._rows(role)
        return Images(self._manifest.ids[rows].tolist(), self.image_shape, self._indices[rows], self._dataset.pixels())

    def query(self) -> Images:
        return self._unlabeled("query")

    def gallery(self) -> Images:
        return self._unlabeled("gallery")

    def images_by_id(self, ids) -> np.ndarray:
        """Pixels of any items by id (reports, after scoring)."""
        position = {item: i for i, item in enumerate(self._manifest.ids.tolist())}
        unknown = [i for i in ids if i not in position]
        if unknown:
            raise CompetitionError(
                f"unknown item id(s) in competition {self.name!r}: {', '.join(map(str, unknown[:5]))}"
            )
        return self._dataset.load(self._indices[[position[i] for i in ids]])

    def __repr__(self) -> str:
        return f"Competition({self.name!r}, {self.sizes})"


def prepare_answers(workspace, name: str) -> None:
    """The write step before the answers are read (``harness.scoring.answers`` only reads): split a
    competition never split in this workspace (loads its dataset's plugin), or move the answers of a
    workspace from before the answers store into the store."""
    if not migrate_answers(workspace, name):
        open_competition(workspace, name)


def migrate_answers(workspace, name: str) -> bool:
    """Move the answers of a workspace from before the answers store into the store, only if they are the
    split the competition's definition gives now (recomputed, plugins loaded, only when a migration is due:
    see :func:`expected_answers`); False when the competition was never split here."""
    folder = competition_folder(workspace, name)
    info = read_info(folder)
    if info is not None:
        migrate_if_needed(folder, info, expected_answers(workspace, name))
    return info is not None


def describe(workspace, name: str) -> dict[str, Any]:
    """What ``bench competitions show`` prints: the spec, files, sizes and class balance (all roles)."""
    spec = competition_spec(workspace, name)
    folder = competition_folder(workspace, name)
    open_competition(workspace, name)  # splits it on first use; checks it, and puts back answers the store lost
    info = read_info(folder) or {}
    manifest, sha = read_checked(folder, info, expected_answers(workspace, name))
    classes = info.get("class_names") or []
    balance = {}
    for role in ("train", "val"):  # query and gallery labels are the answers: not in the workspace
        labels = manifest.labels[manifest.roles == role]
        balance[role] = np.bincount(labels, minlength=len(classes)).tolist()
    return {
        "spec": spec,
        "info": info,
        "folder": folder,
        "manifest_sha256": sha,
        "class_names": classes,
        "balance": balance,
        "public_queries": int(info.get("public_queries", 0)),
    }
