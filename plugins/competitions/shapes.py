"""``shapes`` and ``shapes-large``: procedural shapes for larger-scale and speed tests."""

from __future__ import annotations

from harness import CompetitionSpec, hookimpl


def shapes() -> CompetitionSpec:
    """10 classes x 150 images (32 px): per class 15 queries, 15 val, 60 train, 60 gallery."""
    return CompetitionSpec(
        name="shapes",
        dataset="shapes",
        dataset_config={"num_classes": 10, "per_class": 150, "size": 32},
        protocol="seen-classes",
        protocol_config={"query": 15, "val": 15, "train": 60},
        metric="map@k",
        k=100,
        salt="shapes",
        seed=0,
        description="procedural shapes, 10 classes, seen-classes protocol",
    )


def shapes_large() -> CompetitionSpec:
    """100 classes x 320 images (32 px): 1,000 queries, 10,000 train, 20,000 gallery; rendered lazily."""
    return CompetitionSpec(
        name="shapes-large",
        dataset="shapes",
        dataset_config={"num_classes": 100, "per_class": 320, "size": 32},
        protocol="seen-classes",
        protocol_config={"query": 10, "val": 10, "train": 100},
        metric="map@k",
        k=100,
        salt="shapes-large",
        seed=0,
        description="procedural shapes, 100 classes, 32,000 images: exercises streaming",
    )


@hookimpl
def register_competitions(register):
    register("shapes", shapes, description="procedural shapes, 10 classes x 150, map@100")
    register("shapes-large", shapes_large, description="procedural shapes, 100 classes x 320, map@100")
