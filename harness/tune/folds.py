"""``bench tune --folds K``: score a trial over K folds of the training side instead of one val split.

The train and val items are pooled and re-split K ways: for an unseen-class competition the folds
are class-disjoint (a fold's val classes are never trained on, as the competition's query classes
are not), otherwise stratified (each fold's val holds every class in proportion). A trial's value
is the mean of its K best-epoch val scores, shown with the interval mean ± t·sd/√K.

Only the public parts of a competition are used (``train()``, ``val()``, ``spec``): the answers are
never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from harness.data.competition import LabeledImages
from harness.errors import TuneError

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from harness.data.competition import Competition

LEVEL = 0.95


class FoldCompetition:
    """Fold ``index`` of ``k``: what ``train.fit`` needs of a competition, train and val drawn from the pool."""

    def __init__(self, parent: Competition, train: LabeledImages, val: LabeledImages, index: int, k: int):
        self.name = f"{parent.name} (fold {index + 1} of {k})"
        self.spec = parent.spec
        self.photos = bool(getattr(parent, "photos", False))
        self.image_shape = getattr(parent, "image_shape", train.image_shape)
        self._train, self._val = train, val

    def train(self) -> LabeledImages:
        return self._train

    def val(self) -> LabeledImages:
        return self._val


def class_disjoint(competition: Competition) -> bool:
    return competition.spec.protocol == "unseen-classes"


def make_folds(competition: Competition, k: int, seed: int = 0) -> list[FoldCompetition]:
    """The ``k`` folds of ``competition``'s train + val items (same folds for every trial of a study)."""

    if k < 2:
        raise TuneError(f"--folds must be at least 2 (or 1: the competition's val split) but got {k}")
    train, val = competition.train(), competition.val()
    labels = np.concatenate([train.labels, val.labels])  # one label space: train's classes, then val-only ones
    names = list(train.class_names) + list(val.class_names[train.num_classes :])
    load = _pooled_loader(train, val)
    ids = np.asarray(list(train.ids) + list(val.ids), dtype=object)
    assignment = _assign(labels, k, seed, class_disjoint(competition), competition.name)
    folds = []
    for index in range(k):
        inside = np.flatnonzero(assignment == index)
        outside = np.flatnonzero(assignment != index)
        classes = np.concatenate([np.unique(labels[outside]), np.setdiff1d(labels[inside], labels[outside])])
        relabel = np.empty(labels.max() + 1, dtype=np.int64)
        relabel[classes] = np.arange(len(classes))
        fold_names = [names[c] for c in classes.tolist()]

        def part(rows: np.ndarray, fold_names: list[str] = fold_names, relabel: np.ndarray = relabel) -> LabeledImages:
            return LabeledImages(ids[rows].tolist(), train.image_shape, rows, load, relabel[labels[rows]], fold_names)

        fold_train = part(outside)
        fold_train.class_names = fold_names[: len(np.unique(labels[outside]))]
        fold_train.num_classes = len(fold_train.class_names)
        folds.append(FoldCompetition(competition, fold_train, part(inside), index, k))
    return folds


def _assign(labels: np.ndarray, k: int, seed: int, disjoint: bool, name: str) -> np.ndarray:
    """Each item's fold."""
    rng = np.random.default_rng(seed)
    if disjoint:
        classes = np.unique(labels)
        if len(classes) < k + 1:
            raise TuneError(
                f"competition {name!r} has {len(classes)} train+val classes: too few for {k} class-disjoint folds "
                f"(each fold needs a class of its own and classes to train on)"
            )
        fold_of_class = np.empty(labels.max() + 1, dtype=np.int64)
        for index, group in enumerate(np.array_split(rng.permutation(classes), k)):
            fold_of_class[group] = index
        return fold_of_class[labels]
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels)
    if counts[counts > 0].max() < k:
        raise TuneError(f"competition {name!r}: no class has {k} train+val items; use fewer --folds")
    assignment = np.empty(len(labels), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(rng.integers(2**31)))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class with fewer than k items lands in fewer folds: fine
        for index, (_, inside) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
            assignment[inside] = index
    return assignment


def _pooled_loader(train: LabeledImages, val: LabeledImages) -> Callable[[np.ndarray], np.ndarray]:
    """Pixels of pooled positions: ``0..len(train)-1`` from train, the rest from val."""
    n = len(train)

    def load(positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        mine = positions < n
        parts = [(mine, train.load(positions[mine]) if mine.any() else None)]
        parts.append((~mine, val.load(positions[~mine] - n) if (~mine).any() else None))
        first = next(images for _, images in parts if images is not None)
        out = np.empty((len(positions), *first.shape[1:]), dtype=first.dtype)
        for where, images in parts:
            if images is not None:
                out[where] = images
        return out

    return load


def fold_interval(values: list[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): mean ± t·sd/√K over the folds' scores (Student's t, K-1 degrees of freedom),
    clipped to [0, 1], the range of every metric: four folds' t is wide, and a score above 1 means nothing."""
    from scipy.stats import t

    scores = np.asarray(values, dtype=np.float64)
    mean = float(scores.mean())
    if len(scores) < 2:
        return mean, mean, mean
    half = float(t.ppf((1 + level) / 2, len(scores) - 1) * scores.std(ddof=1) / np.sqrt(len(scores)))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def trial_interval(trial: FrozenTrial) -> tuple[float, float] | None:
    """A ``--folds`` trial's interval over its folds, or None."""
    interval = trial.user_attrs.get("interval")
    return (float(interval[0]), float(interval[1])) if isinstance(interval, list) and len(interval) == 2 else None
