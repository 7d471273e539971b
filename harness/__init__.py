"""bench: a plugin-based, Kaggle-style competition harness for deep image retrieval.

This module is the public face for plugin authors: a plugin imports only from ``harness``
(``from harness import hookimpl, ConfigError, ImageDataset``), never from its sub-modules.
Names load lazily on first use, so ``import harness`` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness.hookspecs import PROJECT_NAME, hookimpl, hookspec

# public name -> module that defines it
_LAZY = {
    **dict.fromkeys(
        (
            "BenchError",
            "ConfigError",
            "PluginError",
            "UnknownNameError",
            "DuplicateNameError",
            "WorkspaceError",
            "DatasetError",
            "CompetitionError",
            "SubmissionError",
            "TrainingError",
            "LeaderboardError",
            "StudyStorageError",
            "TuneError",
        ),
        "harness.errors",
    ),
    **dict.fromkeys(
        ("ImageDataset", "ArrayDataset", "FileDataset", "is_image_file", "default_data_dir", "to_chw_float"),
        "harness.data.datasets",
    ),
    "data_folders": "harness.settings",
    "CompetitionSpec": "harness.data.spec",
    "DEFAULT_COMPETITION": "harness.data.spec",
    "Method": "harness.methods",
    **dict.fromkeys(
        ("relevance", "relevant_counts", "ranked_labels", "average_precision", "safe_divide"), "harness.metrics"
    ),
    # the contract: what each kind's factory returns, and the optional members the trainer looks for
    **dict.fromkeys(
        (
            "Backbone",
            "Pooling",
            "Head",
            "Loss",
            "Sampler",
            "Indexer",
            "Metric",
            "EpochAware",
            "FeatureMaps",
            "RefreshableSampler",
            "FeedbackSampler",
            "PerSampleLoss",
            "CodeKind",
            "StoredSize",
            "Encoder",
        ),
        "harness.hookspecs",
    ),
    **dict.fromkeys(
        ("require", "check_int", "check_non_negative", "check_positive", "check_choice", "check_context"),
        "harness.registry",
    ),
}

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from harness.data.datasets import (
        ArrayDataset,
        FileDataset,
        ImageDataset,
        default_data_dir,
        is_image_file,
        to_chw_float,
    )
    from harness.data.spec import DEFAULT_COMPETITION, CompetitionSpec
    from harness.errors import (
        BenchError,
        CompetitionError,
        ConfigError,
        DatasetError,
        DuplicateNameError,
        LeaderboardError,
        PluginError,
        StudyStorageError,
        SubmissionError,
        TrainingError,
        TuneError,
        UnknownNameError,
        WorkspaceError,
    )
    from harness.hookspecs import (
        Backbone,
        CodeKind,
        Encoder,
        EpochAware,
        FeatureMaps,
        FeedbackSampler,
        Head,
        Indexer,
        Loss,
        Metric,
        PerSampleLoss,
        Pooling,
        RefreshableSampler,
        Sampler,
        StoredSize,
    )
    from harness.methods import Method
    from harness.metrics import average_precision, ranked_labels, relevance, relevant_counts, safe_divide
    from harness.registry import check_choice, check_context, check_int, check_non_negative, check_positive, require
    from harness.settings import data_folders
