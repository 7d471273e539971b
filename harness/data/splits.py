"""Split protocols: which items of a dataset are train, val, query or gallery.

``seen-classes`` (deep hashing): every class appears in every role. Per class, ``query``,
``val`` and ``train`` items are taken in that order from a seeded permutation, and ``gallery``
gets the rest (or a given number, leaving the remainder unused).

``unseen-classes`` (metric learning): ``train_classes`` (a list of labels, a count or a
fraction of the classes) are the training side; the other classes give query and gallery. Of the
training side, ``val_classes`` (a list, a count or a fraction of the training side) hold the val
items and are never trained on, so model selection rewards what transfers to new classes, as in
Musgrave et al., "A Metric Learning Reality Check" (2020); ``train`` and ``val`` cap the train and
val items per class (default: all of them).

``given``: the dataset fixes the roles itself (e.g. a ``role`` column of a CSV manifest).

Sizes are per class: an int is a count, a float in (0, 1) a fraction of the class (at least one
item when positive). ``val`` always comes from the training side, never from query or gallery.
Every query has at least one relevant gallery item, or the split is refused. The result depends
only on the labels, the config and the seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from harness.errors import CompetitionError
from harness.registry import did_you_mean

ROLES = ("train", "val", "query", "gallery")
PROTOCOLS = ("seen-classes", "unseen-classes", "given")
_DEFAULTS = {
    "seen-classes": {"query": 0.1, "val": 0.1, "train": 0.4, "gallery": None},
    "unseen-classes": {
        "train_classes": 0.5,
        "val_classes": 0.4,
        "train": None,
        "val": None,
        "query": 0.1,
        "gallery": None,
    },
    "given": {},
}


def protocol_config(protocol: str, config: dict) -> dict:
    """``config`` over the protocol's defaults; unknown protocols and keys are refused."""
    if protocol not in _DEFAULTS:
        raise CompetitionError(f"unknown split protocol {protocol!r}.{did_you_mean(str(protocol), list(PROTOCOLS))}")
    defaults = _DEFAULTS[protocol]
    for key in config:
        if key not in defaults:
            raise CompetitionError(f"protocol {protocol!r} has no setting {key!r}.{did_you_mean(key, list(defaults))}")
    return {**defaults, **config}


def split(
    labels: np.ndarray, protocol: str, config: dict, seed: int, given_roles: np.ndarray | None = None
) -> np.ndarray:
    """Roles for every item: an (N,) array of ``train|val|query|gallery`` or ``""`` (unused)."""
    labels = np.asarray(labels, dtype=np.int64)
    cfg = protocol_config(protocol, config)
    rng = np.random.default_rng(int(seed))
    if protocol == "given":
        if given_roles is None:
            raise CompetitionError("protocol 'given' needs a dataset that fixes roles (e.g. a csv with a role column)")
        roles = np.asarray([str(r) for r in given_roles], dtype=object)
        if len(roles) != len(labels):
            raise CompetitionError(f"{len(roles)} given roles for {len(labels)} items")
    elif protocol == "seen-classes":
        takes = [("query", cfg["query"]), ("val", cfg["val"]), ("train", cfg["train"])]
        roles = _per_class(labels, np.unique(labels), rng, takes, cfg["gallery"])
    else:
        classes = np.unique(labels)
        train_classes = _pick_classes(classes, cfg["train_classes"], rng)
        test_classes = np.setdiff1d(classes, train_classes)
        if len(train_classes) == 0 or len(test_classes) == 0:
            raise CompetitionError("unseen-classes needs at least one training class and one query class")
        val_classes = _pick_classes(train_classes, cfg["val_classes"], rng, "val_classes")
        fit_classes = np.setdiff1d(train_classes, val_classes)
        if len(fit_classes) == 0:
            raise CompetitionError("unseen-classes needs at least one training class besides the val_classes")
        roles = _per_class(labels, fit_classes, rng, [], cfg["train"], rest="train")
        if len(val_classes):
            roles_val = _per_class(labels, val_classes, rng, [], cfg["val"], rest="val")
            roles = np.where(roles_val != "", roles_val, roles)
        roles_test = _per_class(labels, test_classes, rng, [("query", cfg["query"])], cfg["gallery"])
        roles = np.where(roles_test != "", roles_test, roles)
    check_roles(labels, roles, val_seen=protocol != "unseen-classes")
    return roles


def _count(size: object, n: int, what: str) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
        raise CompetitionError(f"split size {what}={size!r} must be a count (int) or a fraction in (0, 1)")
    if isinstance(size, float) and not float(size).is_integer():
        if size >= 1:
            raise CompetitionError(f"split fraction {what}={size!r} must be below 1")
        return max(1, round(size * n)) if size > 0 else 0
    return int(size)


def _per_class(
    labels: np.ndarray,
    classes: np.ndarray,
    rng: np.random.Generator,
    takes: Sequence[tuple[str, object]],
    gallery: object,
    rest: str = "gallery",
) -> np.ndarray:
    roles = np.full(len(labels), "", dtype=object)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    for c in classes:
        lo, hi = np.searchsorted(sorted_labels, c, "left"), np.searchsorted(sorted_labels, c, "right")
        members = rng.permutation(order[lo:hi])
        n, start = len(members), 0
        for role, size in takes:
            take = _count(size, n, role)
            roles[members[start : start + take]] = role
            start += take
        left = n - start
        wanted = left if gallery is None else _count(gallery, n, rest)
        if left < 0 or wanted > left:
            asked = ", ".join(f"{r}={s}" for r, s in takes)
            raise CompetitionError(f"class {int(c)} has {n} items, too few for {asked}, {rest}={gallery}")
        roles[members[start : start + wanted]] = rest
    return roles


def _pick_classes(
    classes: np.ndarray, chosen: object, rng: np.random.Generator, what: str = "train_classes"
) -> np.ndarray:
    if isinstance(chosen, (list, tuple)):
        picked = np.unique(np.asarray(chosen, dtype=np.int64))
        unknown = np.setdiff1d(picked, classes)
        if len(unknown):
            where = "labels of the dataset" if what == "train_classes" else "among the train_classes"
            raise CompetitionError(f"{what} {unknown.tolist()} are not {where}")
        return picked
    count = _count(chosen, len(classes), what)
    return np.sort(rng.permutation(classes)[:count])


def check_roles(labels: np.ndarray, roles: np.ndarray, val_seen: bool = True) -> None:
    """Known roles only, val classes trained on (unless ``val_seen`` is False), every query class in the gallery."""
    bad = sorted({str(r) for r in roles} - set(ROLES) - {""})
    if bad:
        raise CompetitionError(f"unknown role(s) {', '.join(bad)}; roles are {', '.join(ROLES)}")
    if not np.any(roles == "query"):
        raise CompetitionError("the split has no query items")
    unseen_val = np.setdiff1d(labels[roles == "val"], labels[roles == "train"])
    if val_seen and len(unseen_val):
        raise CompetitionError(
            f"val class(es) {unseen_val.tolist()[:10]} have no train items; val comes from the training side"
        )
    orphans = np.setdiff1d(labels[roles == "query"], labels[roles == "gallery"])
    if len(orphans):
        raise CompetitionError(
            f"queries of class(es) {orphans.tolist()[:10]} have no relevant gallery item; give those "
            "classes gallery items"
        )


def public_mask(
    query_ids: Sequence[str] | np.ndarray, fraction: float, salt: str, labels: np.ndarray | None = None
) -> np.ndarray:
    """Public membership: per class, the ``round(fraction * n_class)`` queries whose sha256(salt + id)
    sorts first, so the public and private subsets hold the classes in the same proportions (a
    subset tilted towards easy classes would shake the board by itself). Without ``labels`` the
    draw is over all queries at once."""
    if not 0.0 <= fraction <= 1.0:
        raise CompetitionError(f"public_fraction must lie in [0, 1], got {fraction}")
    ids = [str(q) for q in query_ids]
    keys = [hashlib.sha256((salt + q).encode()).hexdigest() for q in ids]
    strata = np.zeros(len(ids), dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    if len(strata) != len(ids):
        raise CompetitionError(f"{len(strata)} labels for {len(ids)} queries")
    mask = np.zeros(len(ids), dtype=bool)
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum).tolist()
        order = sorted(members, key=lambda i: (keys[i], ids[i]))
        mask[order[: round(fraction * len(members))]] = True
    return mask
