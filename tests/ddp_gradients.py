"""Run by tests/test_distributed.py under torchrun (2 ranks, gloo): DDP + GlobalBatchLoss versus one process.

Each rank trains a linear model on its half of a global batch with a loss that mines in the batch.
Rank 0 writes, for every loss, the loss value and the gradients DDP left on the weights, next to
what one process computes on the whole batch, to ``OUT/<loss>.pt``. A second section checks
RankBatches and average_gradients with real collectives.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from harness.train.distributed import (
    GlobalBatchLoss,
    RankBatches,
    average_gradients,
    current,
    gather_rows,
    on_main_rank,
    process_group,
)
from plugins.losses.contrastive import ContrastiveLoss
from plugins.losses.hashnet import HashNetLoss
from plugins.losses.triplet import TripletLoss


class PerSample(nn.Module):
    """A loss with per-sample values: each item's squared distance to the batch mean of its class."""

    def per_sample(self, embeddings, labels):
        same = (labels[:, None] == labels[None, :]).float()
        centers = same @ embeddings / same.sum(1, keepdim=True)
        return ((embeddings - centers) ** 2).sum(1)

    def forward(self, embeddings, labels):
        return self.per_sample(embeddings, labels).mean()


LOSSES = {
    "triplet": lambda: TripletLoss(margin=0.5, mining="hard"),
    "contrastive": lambda: ContrastiveLoss(),
    "hashnet": lambda: HashNetLoss(),
    "per_sample": lambda: PerSample(),
}


def global_batch(world: int):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8 * world, 5, generator=generator)
    labels = torch.arange(8 * world) % 3
    return x, labels


def main(out: Path) -> None:
    with process_group(torch.device("cpu")) as (ranks, _):
        world, rank = ranks.world_size, ranks.rank
        x, labels = global_batch(world)
        mine = slice(8 * rank, 8 * (rank + 1))
        for name, make in LOSSES.items():
            torch.manual_seed(1)
            model = nn.Linear(5, 4)
            reference = nn.Linear(5, 4)
            reference.load_state_dict(model.state_dict())
            ddp = nn.parallel.DistributedDataParallel(model)
            loss_fn = GlobalBatchLoss(make())
            if name == "per_sample":
                loss = loss_fn.per_sample(ddp(x[mine]), labels[mine]).mean()
                expected = make()(reference(x), labels)
            else:
                loss = loss_fn(ddp(x[mine]), labels[mine])
                expected = make()(reference(x), labels)
            loss.backward()
            expected.backward()
            if ranks.is_main:
                torch.save(
                    {
                        "loss": loss.detach(),
                        "expected_loss": expected.detach(),
                        "grad": model.weight.grad.clone(),
                        "expected_grad": reference.weight.grad.clone(),
                        "per_sample_api": hasattr(loss_fn, "per_sample"),
                    },
                    out / f"{name}.pt",
                )

        # uneven batches gather in rank order
        rows, where = gather_rows(torch.full((rank + 1, 2), float(rank)))
        # a loss parameter's gradient is averaged over ranks
        center = nn.Parameter(torch.zeros(3))
        center.grad = torch.full((3,), float(rank))
        average_gradients([center])
        # the sampler wrapper: whole batches, disjoint between ranks, same count on every rank
        base = [[i, i + 100] for i in range(7)]
        shard = list(RankBatches(Sequenced(base), ranks))
        shards = [None] * world
        dist.all_gather_object(shards, shard)
        decided = on_main_rank(lambda: 0.25 + rank)
        if ranks.is_main:
            torch.save(
                {
                    "rows": rows,
                    "where": (where.start, where.stop),
                    "center_grad": center.grad,
                    "shards": shards,
                    "decided": decided,
                    "world": current().world_size,
                },
                out / "collectives.pt",
            )


class Sequenced:
    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
