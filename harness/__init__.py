"""bench: a plugin-based, Kaggle-style competition harness for deep image retrieval."""

import pluggy

PROJECT_NAME = "bench"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]
