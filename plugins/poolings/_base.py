"""What the built-in poolings share (a helper module: it registers nothing)."""

from __future__ import annotations

from typing import Any

from harness import check_context


def channels(in_dim: Any, who: str) -> int:
    """The feature maps' channel count, which the harness passes as the context keyword ``in_dim``."""
    return check_context("in_dim", in_dim, f"pooling {who!r}")
