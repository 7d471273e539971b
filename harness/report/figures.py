"""The report's charts: pure plotting functions that take arrays and write one PNG each.

matplotlib runs on the Agg backend with no display; figures are built as ``Figure`` objects (no
pyplot state) and closed by going out of scope. Sizes are bounded whatever the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from harness.report.analysis import pareto_front

RIGHT = (46, 160, 67)  # green: a right neighbour (grid frames, AP bars)
WRONG = (214, 39, 40)  # red: a wrong neighbour
MARKERS = {"float": "o", "binary": "s"}
DPI = 100


def curves_figure(path: Path, ks: np.ndarray, precision: np.ndarray, recall: np.ndarray, title: str = "") -> Path:
    """Mean precision@k and recall@k against k."""
    fig = Figure(figsize=(6.4, 4.0), dpi=DPI)
    ax = fig.add_subplot()
    marker = "o" if len(ks) <= 20 else None
    ax.plot(ks, precision, marker=marker, ms=3, label="precision@k", color="#1f77b4")
    ax.plot(ks, recall, marker=marker, ms=3, label="recall@k (of all relevant)", color="#ff7f0e")
    ax.set(xlabel="k (neighbours retrieved)", ylabel="mean over queries", ylim=(0, 1.02), title=title)
    ax.set_xlim(1, max(int(ks[-1]) if len(ks) else 1, 2))
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return save(fig, path)


def class_ap_figure(
    path: Path,
    classes: np.ndarray,
    ap: np.ndarray,
    counts: np.ndarray,
    class_names: list[str] | None = None,
    title: str = "",
) -> Path:
    """Mean AP per query class as bars, worst class first; labels only while they stay legible."""
    order = np.argsort(np.asarray(ap), kind="stable")
    n = len(order)
    fig = Figure(figsize=(min(max(4.0, 0.35 * n + 1.5), 12.0), 4.0), dpi=DPI)
    ax = fig.add_subplot()
    values = np.asarray(ap)[order]
    ax.bar(np.arange(n), values, color=[_ramp(v) for v in values], width=0.8)
    known = class_names or []
    names = [known[int(c)] if 0 <= int(c) < len(known) else str(c) for c in np.asarray(classes)[order]]
    if n <= 40:
        crowded = n * max(len(name) for name in names) > 40 if names else False
        ax.set_xticks(
            np.arange(n),
            names,
            rotation=60 if crowded else 0,
            ha="right" if crowded else "center",
            rotation_mode="anchor",
            fontsize=8,
        )
    else:
        ax.set_xticks([])
    ax.set_xlabel(f"query class ({n}, worst to best)")
    mean = float(np.average(ap, weights=counts)) if n else 0.0
    ax.axhline(mean, color="black", lw=1, ls="--")
    # The axis starts just below the worst class: on a 0-1 axis classes at 0.97 and 0.99 look alike.
    bottom = ap_axis_bottom(values)
    ax.set(ylabel="AP", ylim=(bottom, 1.0 + 0.02 * (1.0 - bottom)), title=title)
    ax.annotate(f"mean over queries {mean:.3f}", (0, mean), xycoords=("axes fraction", "data"), xytext=(2, 3),
                textcoords="offset points", fontsize=8, bbox={"fc": "white", "ec": "none", "alpha": 0.8})  # fmt: skip
    return save(fig, path)


def ap_axis_bottom(values: np.ndarray) -> float:
    """Where a class-AP axis starts: just below the worst class, so that 0.97 and 0.99 look different."""
    low = float(np.min(values)) if len(values) else 0.0
    return max(0.0, low - 0.1 * max(1.0 - low, 0.02))


@dataclass(frozen=True)
class CostPoints:
    """One point per submission: its label, public score, bytes per item, search ms per query and code kind."""

    labels: list[str]
    scores: np.ndarray
    bytes_per_item: np.ndarray
    search_ms: np.ndarray
    code_kinds: list[str]


def cost_figure(path: Path, points: CostPoints, metric: str = "score") -> Path:
    """Public score against bytes per item and against search ms per query, Pareto fronts drawn.

    One point per submission; float and binary codes get distinct markers. Missing costs (NaN) drop
    the point from that panel only.
    """
    labels, scores, bytes_per_item, search_ms, code_kinds = (
        points.labels,
        points.scores,
        points.bytes_per_item,
        points.search_ms,
        points.code_kinds,
    )

    scores = np.asarray(scores, dtype=np.float64)
    fig = Figure(figsize=(11.0, 4.2), dpi=DPI)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, cost, xlabel in (
        (axes[0], np.asarray(bytes_per_item, np.float64), "bytes per gallery item"),
        (axes[1], np.asarray(search_ms, np.float64), "search ms per query"),
    ):
        ok = np.isfinite(cost) & np.isfinite(scores) & (cost > 0)
        for kind in sorted(set(code_kinds)):
            sel = ok & (np.array(code_kinds) == kind)
            if sel.any():
                marker = MARKERS.get(kind, "^")
                ax.scatter(cost[sel], scores[sel], marker=marker, s=36, alpha=0.8, label=kind or "unknown")
        front = pareto_front(np.where(ok, cost, np.nan), scores)
        if len(front):
            xs = np.append(cost[front], cost[ok].max() * 1.05)  # the front holds until the costliest point
            ys = np.append(scores[front], scores[front[-1]])
            ax.step(xs, ys, where="post", color="black", lw=1, alpha=0.7, label="Pareto front")
            _label_front(ax, [int(i) for i in front[:12]], labels, cost, scores)
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            shown = cost[ok]
            if shown.max() / shown.min() < 30:  # minor labels only where few decades leave them room
                ax.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
            else:
                ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.text(0.5, 0.5, "no submission records this cost", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel=xlabel)
        ax.grid(alpha=0.3, which="both")
        if ok.any():
            ax.legend(loc="best", fontsize=8)
    axes[0].set_ylabel(f"public {metric}")
    return save(fig, path)


def front_figure(
    path: Path,
    numbers: list[int],
    values: np.ndarray,
    objectives: list[str],
    on_front: np.ndarray,
    title: str = "",
) -> Path:
    """A multi-objective study: its score (first column of ``values`` named "score") against each cost.

    One point per complete trial; the Pareto trials (``on_front``) starred and numbered. Drawn in the
    layout of ``cost_figure``, beside which the report shows it.
    """
    values = np.asarray(values, dtype=np.float64)
    score = objectives.index("score")
    costs = [i for i, name in enumerate(objectives) if name != "score"]
    fig = Figure(figsize=(5.5 * len(costs), 4.2), dpi=DPI)
    axes = np.atleast_1d(fig.subplots(1, len(costs), sharey=True))
    labels = {"bytes": "bytes per gallery item", "ms": "search ms per query (val)", "seconds": "training seconds"}
    front = np.asarray(on_front, dtype=bool)
    for ax, column in zip(axes, costs):
        x, y = values[:, column], values[:, score]
        ax.scatter(x[~front], y[~front], s=24, color="#999999", alpha=0.8, label="trial")
        ax.scatter(x[front], y[front], s=80, marker="*", color="#d62728", label="Pareto trial")
        for i in np.flatnonzero(front)[:20]:
            ax.annotate(str(numbers[i]), (x[i], y[i]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if np.all(x > 0):
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
        ax.set(xlabel=labels.get(objectives[column], objectives[column]))
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="best", fontsize=8)
    axes[0].set_ylabel("val score")
    if title:
        fig.suptitle(title)
    return save(fig, path)


def _label_front(ax: Axes, front: list[int], labels: list[str], cost: np.ndarray, scores: np.ndarray) -> None:
    """One label per distinct point of the front, staggered up and down so that neighbours do not overlap."""
    seen: set[str] = set()
    for n, i in enumerate(front):
        text = labels[i][:28]
        if text in seen:
            continue
        seen.add(text)
        offset = (5, 6 if n % 2 == 0 else -11)
        box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7}
        ax.annotate(text, (cost[i], scores[i]), textcoords="offset points", xytext=offset, fontsize=7, bbox=box)


def history_figure(
    path: Path,
    numbers: list[int],
    values: list[float],
    maximize: bool = True,
    title: str = "",
    submitted: list[int] | None = None,
) -> Path:
    """Objective value per complete trial, with the best value so far; ``submitted`` trials starred."""
    values_arr = np.asarray(values, dtype=np.float64)
    best = np.maximum.accumulate(values_arr) if maximize else np.minimum.accumulate(values_arr)
    fig = Figure(figsize=(6.4, 4.0), dpi=DPI)
    ax = fig.add_subplot()
    ax.scatter(numbers, values_arr, s=20, color="#1f77b4", label="trial value")
    ax.step(numbers, best, where="post", color="#d62728", label="best so far")
    marked = [i for i, n in enumerate(numbers) if n in set(submitted or ())]
    if marked:
        ax.scatter(
            [numbers[i] for i in marked],
            values_arr[marked],
            marker="*",
            s=160,
            color="#ff7f0e",
            edgecolor="black",
            zorder=3,
            label="on the leaderboard",
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="trial", ylabel="objective (val score)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return save(fig, path)


TRIPLET_KINDS = (
    ("easy_triplets", "easy", "#2ca02c"),
    ("semihard_triplets", "semi-hard", "#ff7f0e"),
    ("hard_triplets", "hard", "#d62728"),
)


def training_figure(path: Path, history: list[dict], title: str = "") -> Path:
    """Per epoch: shares of easy / semi-hard / hard triplets (stacked) and of zero-loss samples in the
    training batches (left), and the overlap of val top-k neighbours with the previous evaluation (right)."""
    fig = Figure(figsize=(10.0, 7.2), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(2, 2)
    _loss_and_val(fig.add_subplot(grid[0, :]), history)
    census, stability = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    epochs = np.array([int(r["epoch"]) for r in history])
    shares = [np.array([float(r.get(key, np.nan)) for r in history]) for key, _, _ in TRIPLET_KINDS]
    if len(epochs) and not np.isnan(shares[0]).all():
        census.stackplot(
            epochs,
            *[np.nan_to_num(s) for s in shares],
            labels=[n for _, n, _ in TRIPLET_KINDS],
            colors=[c for _, _, c in TRIPLET_KINDS],
            alpha=0.8,
        )
    zero = np.array([float(r.get("zero_loss_samples", np.nan)) for r in history])
    if len(epochs) and not np.isnan(zero).all():
        census.plot(epochs, zero, color="black", marker="o", ms=3, label="zero-loss samples")
    census.set(xlabel="epoch", ylabel="share of the batches' triplets", ylim=(0, 1), title="triplets in the batches")
    if census.get_legend_handles_labels()[0]:
        census.legend(loc="lower left", fontsize=8)
    else:
        census.text(0.5, 0.5, "no triplet census (not a triplet loss)", ha="center", va="center",
                    transform=census.transAxes)  # fmt: skip
    overlap = np.array([float(r.get("val_neighbour_overlap", np.nan)) for r in history])
    shown = ~np.isnan(overlap)
    stability.plot(epochs[shown], overlap[shown], color="#1f77b4", marker="o", ms=3)
    stability.set(
        xlabel="epoch",
        ylabel="top-k overlap with previous evaluation",
        ylim=(0, 1.02),
        title="stability of val neighbours",
    )
    for ax in (census, stability):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save(fig, path)


def _loss_and_val(ax: Axes, history: list[dict]) -> None:
    """Training loss (left axis) and val score (right axis) per epoch; the best val epoch is marked."""
    epochs = np.array([int(r["epoch"]) for r in history])
    loss = np.array([float(r.get("train_loss", np.nan)) for r in history])
    val = np.array([float(r.get("val_score", np.nan)) for r in history])
    ax.plot(epochs, loss, color="#d62728", marker="o", ms=3, label="training loss")
    ax.set(xlabel="epoch", ylabel="training loss", title="loss and val score")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    shown = ~np.isnan(val)
    if shown.any():
        right = ax.twinx()
        right.plot(epochs[shown], val[shown], color="#1f77b4", marker="s", ms=3, label="val score")
        best = int(np.nanargmax(val))
        right.scatter([epochs[best]], [val[best]], marker="*", s=140, color="#ff7f0e", edgecolor="black", zorder=3,
                      label=f"kept: epoch {epochs[best]} ({val[best]:.4f})")  # fmt: skip
        right.set_ylabel("val score")
        handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="lower center", fontsize=8)


def importance_figure(path: Path, importances: dict[str, float], title: str = "") -> Path:
    """Horizontal bars of hyperparameter importances, most important on top."""
    items = sorted(importances.items(), key=lambda kv: kv[1])[-20:]
    fig = Figure(figsize=(6.4, max(1.6, 0.35 * len(items) + 1.0)), dpi=DPI)
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#1f77b4")
    ax.set(xlabel="importance", title=title)
    ax.grid(alpha=0.3, axis="x")
    return save(fig, path)


def _minor_label(value: float, _pos: int) -> str:
    """Label the 2s and 5s between powers of ten on a log axis, plainly (0.2, not 2e-01)."""
    if value <= 0:
        return ""
    lead = round(value / 10 ** np.floor(np.log10(value)))
    return f"{value:g}" if lead in (2, 5) else ""


def _ramp(value: float) -> tuple[float, float, float]:
    """Red (0) to green (1)."""
    v = float(np.clip(value, 0.0, 1.0))
    r0, g0, b0 = (c / 255 for c in WRONG)
    r1, g1, b1 = (c / 255 for c in RIGHT)
    return (r0 + (r1 - r0) * v, g0 + (g1 - g0) * v, b0 + (b1 - b0) * v)


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG (parent folders made) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", format="png", metadata={"Software": None})
    return path
