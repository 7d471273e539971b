"""Several processes training one model: DistributedDataParallel under torchrun.

``bench run --nproc N`` (or a user's own ``torchrun``, on one machine or many) starts N copies of
the run; torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``) tells
each copy who it is. Processes join one group: nccl on GPUs, gloo on CPUs.

Seeds per rank, so that W processes train like one process with a W times larger batch:

- the model is initialised from the run's seed on every rank (DDP also copies rank 0's weights);
- the sampler's seed is the run's seed on every rank: all ranks draw the same sequence of batches
  and rank r keeps batches r, r + W, r + 2W, ... (:class:`RankBatches`), so each rank sees whole
  batches of the sampler (a P×K batch stays P×K) and no two ranks see the same batch;
- augmentation draws from the run's seed + rank (:func:`rank_seed`), so ranks shift differently.

Only rank 0 scores val, embeds query and gallery, and writes; the others train and leave.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from harness.errors import ConfigError, TrainingError
from harness.train.launch import collective_timeout

if TYPE_CHECKING:
    from harness.hookspecs import Sampler


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: one process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def from_environment(env: dict[str, str] | None = None) -> Ranks:
    """This process's ranks from torchrun's variables; rank 0 of 1 without them."""
    env = dict(os.environ if env is None else env)
    if "WORLD_SIZE" not in env:
        return Ranks()
    try:
        world = int(env["WORLD_SIZE"])
        rank, local = int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", "0"))
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        raise ConfigError(
            f"torchrun's environment is not numbers: WORLD_SIZE={env.get('WORLD_SIZE')!r} RANK={env.get('RANK')!r} "
            f"LOCAL_RANK={env.get('LOCAL_RANK')!r}"
        ) from None
    if world < 1 or not 0 <= rank < world or not 0 <= local < max(local_world, 1):
        raise ConfigError(f"inconsistent torchrun environment: RANK={rank} of WORLD_SIZE={world}, LOCAL_RANK={local}")
    return Ranks(rank, world, local, local_world)


def current() -> Ranks:
    """The ranks of the process group this process has joined (rank 0 of 1 outside one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    env = from_environment()
    return Ranks(dist.get_rank(), dist.get_world_size(), env.local_rank, env.local_world_size)


def backend_for(device_type: str) -> str:
    """nccl between GPUs, gloo between CPU processes."""
    if device_type == "cuda":
        return "nccl"
    if device_type == "cpu":
        return "gloo"
    raise ConfigError(f"several processes train on cpu or cuda, not {device_type!r}; use --device cpu or cuda")


def check_ranks_fit(device: torch.device, processes_per_machine: int) -> None:
    """Refuse, before starting them, processes the device cannot hold: mps, or more processes than GPUs."""
    backend_for(device.type)
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and processes_per_machine > count:
        raise ConfigError(
            f"{processes_per_machine} processes per machine need as many GPUs but this machine has {count}; "
            f"lower --nproc (or torchrun's --nproc-per-node)"
        )


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """A GPU per local rank (``cuda:LOCAL_RANK``), or the CPU."""
    if device.type != "cuda" or not ranks.distributed:
        return device
    check_ranks_fit(device, ranks.local_world_size)
    return torch.device("cuda", ranks.local_rank)


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[tuple[Ranks, torch.device]]:
    """Join the job torchrun started, for as long as the block runs; yields (ranks, this rank's device).

    A single process (no torchrun variables) joins nothing and keeps its device.
    """
    ranks = from_environment()
    if not ranks.distributed or dist.is_initialized():
        yield current() if dist.is_initialized() else ranks, device
        return
    backend = backend_for(device.type)
    timeout = collective_timeout()
    device = rank_device(device, ranks)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=timeout, device_id=device if device.type == "cuda" else None)
    try:
        yield ranks, device
    finally:
        dist.destroy_process_group()


def rank_seed(seed: int, ranks: Ranks | None = None) -> int:
    """The augmentation seed of a rank: the run's seed plus the rank."""
    return int(seed) + (ranks or current()).rank


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The model in DistributedDataParallel when there are several ranks (gradients averaged after backward)."""
    if not current().distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def average_gradients(params: list[nn.Parameter]) -> None:
    """Average the gradients of parameters DDP does not own (a loss's centers or proxies) over the ranks."""
    world = current().world_size
    grads = [p.grad for p in params if p.grad is not None]
    if world < 2 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def on_main_rank(compute: Callable[[], float]) -> float:
    """``compute()`` on rank 0 only; every rank gets rank 0's number (so all take the same decisions)."""
    ranks = current()
    if not ranks.distributed:
        return compute()
    box = [compute() if ranks.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return float(box[0])


# -- the global batch --------------------------------------------------------------------------
def communication_device() -> torch.device:
    """Where tensors must be for a collective: the rank's GPU under nccl, else the CPU."""
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def gather_rows(x: torch.Tensor) -> tuple[torch.Tensor, slice]:
    """Every rank's rows of ``x`` in rank order, and where this rank's rows are in it.

    This rank's rows keep their gradient; the other ranks' rows are constants here (their own
    rank differentiates them). Batches may differ in size between ranks.
    """
    ranks = current()
    if not ranks.distributed:
        return x, slice(0, len(x))
    sizes = torch.tensor([len(x)], device=x.device)
    all_sizes = [torch.zeros_like(sizes) for _ in range(ranks.world_size)]
    dist.all_gather(all_sizes, sizes)
    counts = [int(s.item()) for s in all_sizes]
    padded = x.detach().new_zeros((max(counts), *x.shape[1:]))
    padded[: len(x)] = x.detach()
    parts = [torch.empty_like(padded) for _ in range(ranks.world_size)]
    dist.all_gather(parts, padded.contiguous())
    rows = [part[:n] for part, n in zip(parts, counts, strict=True)]
    rows[ranks.rank] = x
    start = sum(counts[: ranks.rank])
    return torch.cat(rows), slice(start, start + len(x))


def gather_batch(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, slice]:
    """Every rank's embeddings and labels (see :func:`gather_rows`), in one gather of both.

    Labels travel as an extra float64 column, exact for any label below 2**53.
    """
    labels = torch.as_tensor(labels, device=embeddings.device).reshape(-1, 1)
    packed, mine = gather_rows(torch.cat([embeddings.detach().double(), labels.double()], dim=1))
    others = packed[:, :-1].to(embeddings.dtype)
    all_embeddings = torch.cat([others[: mine.start], embeddings, others[mine.stop :]])
    return all_embeddings, packed[:, -1].long(), mine


def scaled_gradient(value: torch.Tensor, factor: float) -> torch.Tensor:
    """``value`` unchanged, with its gradient multiplied by ``factor``."""
    return value + (factor - 1.0) * (value - value.detach())


class GlobalBatchLoss(nn.Module):
    """A loss that compares items within a batch, computed over every rank's batch.

    Each rank gathers all embeddings and labels (its own rows keep their gradient), so mining
    sees the global batch, and the loss value is the global batch's loss on every rank. The
    gradient reaching this rank's embeddings is multiplied by the world size because DDP
    averages over ranks: the average is then the gradient one process would compute for the
    global batch. (A loss's own parameters get the global gradient on every rank unscaled.)
    """

    def __init__(self, loss: nn.Module):
        super().__init__()
        self.loss = loss
        for name in ("lr", "on_epoch_start"):  # what the trainer reads from a loss, when it has it
            if hasattr(loss, name):
                setattr(self, name, getattr(loss, name))
        if hasattr(loss, "per_sample"):
            self.per_sample = self._per_sample

    def _global_batch(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return gather_batch(scaled_gradient(embeddings, current().world_size), labels)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        all_embeddings, all_labels, _ = self._global_batch(embeddings, labels)
        return self.loss(all_embeddings, all_labels)

    def _per_sample(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """This rank's samples' losses within the global batch; their mean has the global mean's gradient."""
        all_embeddings, all_labels, mine = self._global_batch(embeddings, labels)
        values = self.loss.per_sample(all_embeddings, all_labels)
        global_mean = values.mean()
        return values[mine].detach() + (global_mean - global_mean.detach())


def across_ranks(losses: dict[str, nn.Module], in_batch: Callable[[str], bool], enabled: bool) -> dict[str, nn.Module]:
    """Wrap each loss for which ``in_batch(key)`` holds in :class:`GlobalBatchLoss` when several ranks train."""
    if not (enabled and current().distributed):
        return losses
    return {key: GlobalBatchLoss(loss) if in_batch(key) else loss for key, loss in losses.items()}


# -- the sampler -------------------------------------------------------------------------------
class RankBatches:
    """Rank r of W keeps batches r, r + W, r + 2W, ... of a sampler that every rank runs with the same seed.

    Any sampler works: its batches pass through whole, so a P×K sampler's structure is kept. An epoch
    is ``len(sampler) // W`` batches per rank (a last incomplete round is dropped, so that every rank
    takes the same number of steps). The wrapper has the wrapped sampler's optional members: a feedback
    sampler observes the whole global batch on every rank, so all ranks' samplers stay identical.
    """

    def __init__(self, sampler: Sampler, ranks: Ranks):
        self.sampler, self.ranks = sampler, ranks
        if len(sampler) < ranks.world_size:
            raise TrainingError(
                f"the sampler yields {len(sampler)} batch(es) per epoch, fewer than the {ranks.world_size} "
                f"processes; lower train.batch_size or --nproc"
            )
        for name in ("on_epoch_start", "refresh_every", "refresh"):
            if hasattr(sampler, name):
                setattr(self, name, getattr(sampler, name))
        if hasattr(sampler, "observe"):
            self.observe = self._observe_global_batch

    def __len__(self) -> int:
        return len(self.sampler) // self.ranks.world_size

    def __iter__(self) -> Iterator[Any]:
        world, rank, rounds = self.ranks.world_size, self.ranks.rank, len(self)
        taken, batches = 0, iter(self.sampler)
        while taken < rounds:
            group = [batch for _, batch in zip(range(world), batches, strict=False)]
            if len(group) < world:
                return
            taken += 1
            yield group[rank]

    def _observe_global_batch(self, positions: np.ndarray, losses: np.ndarray, embeddings: np.ndarray) -> None:
        device = communication_device()
        positions, losses, embeddings = (
            gather_rows(torch.from_numpy(np.ascontiguousarray(a)).to(device))[0].cpu().numpy()
            for a in (positions, losses, embeddings)
        )
        self.sampler.observe(positions, losses, embeddings)


def shard_batches(sampler: Sampler) -> Sampler:
    """The sampler as this rank's share (:class:`RankBatches`) when several ranks train; else unchanged."""
    ranks = current()
    return RankBatches(sampler, ranks) if ranks.distributed else sampler
