"""What the built-in poolings share (a helper module: it registers nothing)."""

from __future__ import annotations

from typing import Any

from harness import ConfigError


def channels(in_dim: Any, who: str) -> int:
    """The feature maps' channel count, which the harness passes as the context keyword ``in_dim``."""
    if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim < 1:
        raise ConfigError(f"pooling {who!r} needs the context keyword in_dim (a positive int) but got {in_dim!r}")
    return in_dim
