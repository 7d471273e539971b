"""The cut-off k: how far down a ranked list is read, its cap, and how users see it (``map@100``)."""

from __future__ import annotations

MAX_K = 100_000  # the longest neighbour list a competition may ask for


def capped_k(k: int, candidates: int) -> int:
    """The longest list a search can return: k, or fewer when there are only ``candidates`` items to rank."""
    return min(k, candidates)


def metric_label(metric: str, k: int) -> str:
    """The metric as users see it: ``map@k`` at k=100 is ``map@100``; a name without ``@k`` (``map@r``) is kept."""
    return metric.replace("@k", f"@{k}")


def val_label(metric: str, k: int) -> str:
    """The val-split score as training logs and tune both name it, e.g. ``val map@100``."""
    return f"val {metric_label(metric, k)}"
