"""Training: ``fit(cfg, competition, device)`` trains on role=train and selects the model on role=val.

Reads top to bottom: build the parts, then for each epoch call the epoch hooks, train one pass,
score the val split (val items retrieving among val items, leave-one-out) and keep the best
weights. Query and gallery are never touched here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn

from harness.config import OptimConfig, RunConfig, TrainConfig
from harness.data.cutoff import capped_k, val_label
from harness.errors import TrainingError
from harness.hookspecs import EpochAware, FeedbackSampler, PerSampleLoss, RefreshableSampler
from harness.train import distributed
from harness.train.batching import resolve_batch_size
from harness.train.devices import (
    autocast,
    cpu_threads,
    deterministic,
    memory_format,
    pick_device,
    seed_everything,
)
from harness.train.diagnostics import NeighbourStability
from harness.train.embed import EmbedOptions, embed_images, in_memory, load_batches, loader_workers
from harness.train.model import RetrievalModel, build_model
from harness.train.parts import TrainingParts, build_parts
from harness.train.resident import DeviceImages, device_copy, epoch_positions
from harness.train.transforms import train_transform
from harness.train.val_split import leave_one_out, mean_leave_one_out_score

if TYPE_CHECKING:
    from rich.progress import Progress

    from harness.data.competition import Images, LabeledImages
    from harness.data.spec import CompetitionSpec
    from harness.train.embed import ImageSet

log = logging.getLogger("bench.train")
CENSUS_BATCHES = 8  # batches per epoch the census measures: a share, so a sample suffices (every batch cost 4% of
# a digits hashnet run on one CPU thread: benchmarks/train_overhead.py went from 0.92x to 0.94x the plain loop)


class Trainable(Protocol):
    """What ``fit`` reads of a competition: an opened one, or one of tune's folds."""

    spec: CompetitionSpec

    def train(self) -> LabeledImages: ...

    def val(self) -> LabeledImages: ...


@dataclass
class TrainResult:
    model: RetrievalModel
    best_val: float | None  # None when the competition has no usable val split
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    best_epoch: int | None = None


def fit(
    cfg: RunConfig,
    competition: Trainable,
    device: torch.device | str | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train ``cfg``'s model on ``competition.train()``; return the weights of the best val epoch.

    ``on_epoch(epoch, val_score)`` is called after each evaluated epoch (1-based); it may raise
    (``optuna.TrialPruned``) and that propagates. ``progress`` is a rich Progress or None.
    """
    tc = cfg.train
    device = device if isinstance(device, torch.device) else pick_device(device or tc.device)
    started = time.perf_counter()
    with deterministic(device, tc.deterministic), cpu_threads(tc.threads):
        seed_everything(cfg.seed)
        train = on_device(competition.train(), device, tc.preload_mb)
        val = on_device(competition.val(), device, tc.preload_mb)
        task = ValTask.of(cfg, competition.spec, device)
        if tc.epochs == 0:
            return untrained(cfg, train, val, task, started)
        cfg = resolve_batch_size(cfg, train, device)
        tc = cfg.train
        parts = build_parts(cfg, train, device)
        parts.transform = train_transform(tc, train.image_shape, bool(getattr(competition, "photos", False)))
        log.info(
            "training %s on %d images (%d classes), %d val images, device %s",
            describe(cfg),
            len(train),
            train.num_classes,
            len(val),
            device,
        )

        history: list[dict[str, Any]] = []
        best = BestWeights()
        stability = NeighbourStability()
        epochs_task = progress.add_task("epochs", total=tc.epochs) if progress is not None else None
        for epoch in range(tc.epochs):
            epoch_started = time.perf_counter()
            start_epoch(parts.epoch_aware(), epoch, tc.epochs)
            maybe_refresh(parts, epoch, train, device, tc, progress)
            parts.diagnostics.start_epoch()
            train_loss = train_one_epoch(parts, train, cfg, device, progress, f"epoch {epoch + 1}")
            record = {"epoch": epoch + 1, "train_loss": train_loss, **parts.diagnostics.record()}
            if len(val) and ((epoch + 1) % tc.eval_every == 0 or epoch + 1 == tc.epochs):
                neighbours: list[np.ndarray] = []
                score = partial(val_score, parts.model, val, task, progress=progress, on_ranked=neighbours.append)
                record["val_score"] = distributed.on_main_rank(score)  # every rank takes rank 0's decisions
                best.update(parts.model, epoch + 1, record["val_score"])
                overlap = stability.update(neighbours[0]) if neighbours else None
                if overlap is not None:
                    record["val_neighbour_overlap"] = overlap
            record["seconds"] = round(time.perf_counter() - epoch_started, 3)
            history.append(record)
            shown = (
                f"  {val_label(task.metric, max(capped_k(task.k, len(val) - 1), 1))} {record['val_score']:.4f}"
                if "val_score" in record
                else ""
            )
            log.info("epoch %d/%d  loss %.4f%s  (%.1f s)", epoch + 1, tc.epochs, train_loss, shown, record["seconds"])
            if epochs_task is not None:
                progress.advance(epochs_task)
            if on_epoch is not None and not math.isnan(record.get("val_score", math.nan)):
                on_epoch(epoch + 1, record["val_score"])
            if tc.patience and best.stale >= tc.patience:
                log.info("early stop: no val improvement for %d evaluation(s)", best.stale)
                break
        if epochs_task is not None:
            progress.remove_task(epochs_task)
        best.restore(parts.model)
    parts.model.eval()
    return TrainResult(parts.model, best.score, history, round(time.perf_counter() - started, 3), best.epoch)


def on_device(images: Images, device: torch.device, limit_mb: int) -> ImageSet:
    """A set under ``limit_mb`` lives on the training device (:mod:`harness.train.resident`); a larger one is
    read from its files batch by batch (DataLoader workers on CUDA)."""
    copy = device_copy(images, device, limit_mb)
    return copy if copy is not None else in_memory(images, limit_mb)


def untrained(cfg: RunConfig, train: ImageSet, val: ImageSet, task: ValTask, started: float) -> TrainResult:
    """``train.epochs=0``: the model as built (e.g. ``pixels`` + ``identity``), scored on val once."""
    model = build_model(cfg.components, train.num_classes, task.device).to(task.device).eval()
    score = val_score(model, val, task) if len(val) else None
    if score is not None and math.isnan(score):
        score = None
    log.info("no training (train.epochs=0)%s", f": val {score:.4f}" if score is not None else "")
    return TrainResult(model, score, [], round(time.perf_counter() - started, 3), None)


class BestWeights:
    """The weights of the best val score so far, and how many evaluations have not beaten it."""

    def __init__(self):
        self.score: float | None = None
        self.epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.stale = 0

    def update(self, model: nn.Module, epoch: int, score: float) -> None:
        if math.isnan(score):
            return
        if self.score is not None and score <= self.score:
            self.stale += 1
            return
        self.score, self.epoch, self.stale = score, epoch, 0
        self.state = {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}

    def restore(self, model: nn.Module) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)
            log.info("best epoch %d, val %.4f", self.epoch, self.score)


def start_epoch(parts: list[EpochAware], epoch: int, epochs: int) -> None:
    """Announce the epoch (0-based) to every part that wants it: HashNet's β, sampler seeds..."""
    for part in parts:
        part.on_epoch_start(epoch, epochs)


def describe(cfg: RunConfig) -> str:
    parts = cfg.components
    return " + ".join(parts[s]["name"] for s in ("backbone", "head", "loss", "sampler") if s in parts)


# -- one epoch -------------------------------------------------------------------------------
def train_one_epoch(
    parts: TrainingParts,
    train: ImageSet,
    cfg: RunConfig,
    device: torch.device,
    progress: Progress | None,
    label: str,
) -> float:
    """One pass over the sampler's batches; the mean training loss per image.

    Nothing waits for the device: losses are summed there and read once, at the end of the epoch (on the
    CPU, where reading costs nothing, a non-finite loss still stops the epoch at its step).
    """
    tc, oc = cfg.train, cfg.optim
    parts.model.train()
    device = torch.device(device)
    batches = [np.asarray(batch, dtype=np.int64) for batch in parts.sampler]
    task = progress.add_task(label, total=len(batches)) if progress is not None else None
    fmt = memory_format(tc.channels_last)
    total = torch.zeros((), dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
    count = 0
    census_every = max(1, math.ceil(len(batches) / CENSUS_BATCHES))
    for step, (positions, images, labels) in enumerate(epoch_batches(train, batches, device, tc)):
        if tc.augment:
            images = random_shift(images, parts.generator)
        if parts.transform is not None:
            images = parts.transform(images)
        images = images.contiguous(memory_format=fmt)
        with autocast(device, tc.amp):
            embeddings = parts.forward(images)
        loss = step_loss(parts, positions, embeddings.float(), labels, tc, census=step % census_every == 0)
        if device.type == "cpu" and not torch.isfinite(loss):
            raise TrainingError(f"the training loss became {loss.item()} ({label}); try a lower optim.lr")
        optimize(parts, loss, oc)
        total += loss.detach().to(total.dtype) * len(positions)
        count += len(positions)
        if task is not None:
            progress.advance(task)
    if task is not None:
        progress.remove_task(task)
    mean = float(total) / max(count, 1)
    if not math.isfinite(mean):
        raise TrainingError(f"the training loss became {mean} ({label}); try a lower optim.lr")
    return mean


def epoch_batches(
    train: ImageSet, batches: list[np.ndarray], device: torch.device, tc: TrainConfig
) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """``(positions, images, labels)`` per batch: host positions (for the sampler), device tensors.

    A resident set (:class:`DeviceImages`) is gathered on the device; any other is loaded on the host
    (by DataLoader workers into pinned memory on CUDA) and copied over without waiting.
    """
    if isinstance(train, DeviceImages):
        for positions, index in zip(batches, epoch_positions(batches, device), strict=True):
            yield positions, train.gather(index), train.device_labels.index_select(0, index)
        return
    labels = torch.from_numpy(np.asarray(train.labels, dtype=np.int64))
    workers, pin = loader_workers(tc.num_workers, device, train), device.type == "cuda"
    for positions, pixels in load_batches(train, batches, workers, pin):
        images = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
        yield positions, images.to(device, non_blocking=True), labels[positions].to(device, non_blocking=True)


def step_loss(
    parts: TrainingParts,
    positions: np.ndarray,
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    tc: TrainConfig,
    census: bool = True,
) -> torch.Tensor:
    """The batch's loss; a feedback sampler is shown each sample's share of it, the diagnostics see the batch
    when ``census`` (up to :data:`CENSUS_BATCHES` evenly spread batches per epoch: every third on digits).

    A loss that gives per-sample values is called through ``per_sample`` (once, instead of ``forward``)."""
    loss_fn, sampler = parts.losses["loss"], parts.sampler
    shares = None
    if isinstance(loss_fn, PerSampleLoss):
        per_sample = loss_fn.per_sample(embeddings, labels)
        loss = per_sample.mean()
        shares = per_sample.detach().float()
    else:
        loss = loss_fn(embeddings, labels)
    if isinstance(sampler, FeedbackSampler):  # the one consumer that needs the values on the host, every step
        observed = shares.cpu().numpy() if shares is not None else np.full(len(positions), np.nan, dtype=np.float32)
        sampler.observe(positions, observed, embeddings.detach().float().cpu().numpy())
    if census:
        parts.diagnostics.observe(embeddings, labels, shares)
    if "classification" in parts.losses:
        loss = loss + tc.classification_weight * parts.losses["classification"](embeddings, labels)
    return loss


def optimize(parts: TrainingParts, loss: torch.Tensor, oc: OptimConfig) -> None:
    parts.optimizer.zero_grad(set_to_none=True)
    parts.scaler.scale(loss).backward()
    distributed.average_gradients([p for loss_fn in parts.losses.values() for p in loss_fn.parameters()])
    if oc.grad_clip > 0:
        parts.scaler.unscale_(parts.optimizer)
        params = [p for group in parts.optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, oc.grad_clip)
    parts.scaler.step(parts.optimizer)
    parts.scaler.update()
    if parts.scheduler is not None:
        parts.scheduler.step()


def random_shift(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to 1/8 of its size (edge padding): cheap, label-preserving.

    The offsets come from ``generator`` (on the CPU: the same draws on every device); the crops are one
    gather on the images' device."""
    b, _, h, w = images.shape
    pad = max(1, min(h, w) // 8)
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator).to(images.device, non_blocking=True)
    rows = offsets[:, :1] + torch.arange(h, device=images.device)  # (B, h)
    cols = offsets[:, 1:] + torch.arange(w, device=images.device)  # (B, w)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def maybe_refresh(
    parts: TrainingParts,
    epoch: int,
    train: ImageSet,
    device: torch.device,
    tc: TrainConfig,
    progress: Progress | None,
) -> None:
    """A refreshable sampler mines current train embeddings every ``refresh_every`` epochs (after the first)."""
    sampler = parts.sampler
    if not isinstance(sampler, RefreshableSampler):
        return
    every = int(sampler.refresh_every or 0)
    # Epoch 0 would mine an untrained model's embeddings: the sampler starts without them.
    if every <= 0 or epoch == 0 or epoch % every:
        return
    description = "mining train embeddings"
    sampler.refresh(embed_images(parts.model, train, EmbedOptions.of(tc, device), progress, description, relaxed=True))


# -- model selection on val ------------------------------------------------------------------
@dataclass(frozen=True)
class ValTask:
    """How a run scores its val split: the competition's metric and k, searched with the run's indexer."""

    metric: str
    k: int
    indexer: dict[str, Any]  # the run's indexer section
    embedding: EmbedOptions

    @property
    def device(self) -> torch.device:
        return self.embedding.device

    @classmethod
    def of(cls, cfg: RunConfig, spec: CompetitionSpec, device: torch.device) -> ValTask:
        return cls(spec.metric, int(spec.k), cfg.components["indexer"], EmbedOptions.of(cfg.train, device))


def val_score(
    model: RetrievalModel,
    val: ImageSet,
    task: ValTask,
    progress: Progress | None = None,
    on_ranked: Callable[[np.ndarray], None] | None = None,
) -> float:
    """Mean score of val items retrieving among the other val items with the run's indexer.

    ``on_ranked(ranked)`` receives each item's ranked val neighbours (the diagnostics' stability measure)."""
    embeddings = embed_images(model, val, task.embedding, progress, "val embeddings")
    ranked, k_val = leave_one_out(embeddings, task.indexer, task.k, task.device)
    if on_ranked is not None:
        on_ranked(ranked)
    return mean_leave_one_out_score(ranked, np.asarray(val.labels), task.metric, k_val)
