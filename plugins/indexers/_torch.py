"""Blocked exact search in torch (no hooks here): the GPU path of ``exact`` and ``hamming``.

Scores are higher-is-better; each row keeps the k best, ties broken by the lower gallery position,
so on tie-free data the result equals the CPU path. Memory is bounded by one (query block x
gallery block) score matrix on the device. It runs on any torch device, so CI tests it on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness import ConfigError


def resolve_device(device) -> str:
    """``"cpu"`` or a torch device string; ``None``/``"auto"`` mean the CPU (faiss) path."""
    if device is None or str(device) in ("auto", "cpu"):
        return "cpu"
    import torch

    try:
        kind = torch.device(str(device)).type
    except RuntimeError:
        raise ConfigError(f"device must be cpu, cuda, cuda:N or another torch device but got {device!r}") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device here; use device=cpu")
    return str(device)


def best_k(scores, k: int):
    """Per row, the k highest scores and their columns: score descending, then column ascending."""
    import torch

    n, m = scores.shape
    if m <= k:
        return _order(scores, torch.arange(m, device=scores.device).expand(n, m))
    kth = scores.topk(k, dim=1, sorted=False).values.min(dim=1, keepdim=True).values
    chosen = scores >= kth
    crowded = chosen.sum(dim=1) > k  # more ties with the k-th score than places left: lowest columns win
    if bool(crowded.any()):
        rows = crowded.nonzero().squeeze(1)
        sub, t = scores[rows], kth[rows]
        above, tied = sub > t, sub == t
        need = k - above.sum(dim=1, keepdim=True)
        chosen[rows] = above | (tied & (tied.cumsum(dim=1, dtype=torch.int32) <= need))
    cols = chosen.nonzero()[:, 1].view(n, k)  # row-major, so each row's columns come out ascending
    return _order(scores.gather(1, cols), cols)


def _order(vals, cols):
    """Sort each row by value descending, then column ascending (two stable sorts)."""
    by_col = cols.argsort(dim=1, stable=True)
    vals, cols = vals.gather(1, by_col), cols.gather(1, by_col)
    by_val = vals.argsort(dim=1, descending=True, stable=True)
    return vals.gather(1, by_val), cols.gather(1, by_val)


def blocked_search(
    n_queries: int,
    n_gallery: int,
    k: int,
    query_block: int,
    gallery_block: int,
    scores: Callable[[int, int, int, int], object],
) -> tuple[np.ndarray, np.ndarray]:
    """The k best of ``scores(q0, q1, g0, g1)`` (a torch block) over all blocks, as NumPy arrays.

    Positions in later blocks are higher, so merging the running best with a block's best and
    re-ordering by (score, position) keeps the tie rule exact.
    """
    import torch

    out_vals = np.full((n_queries, k), -np.inf, dtype=np.float32)
    out_idx = np.full((n_queries, k), -1, dtype=np.int64)
    for q0 in range(0, n_queries, query_block):
        q1 = min(q0 + query_block, n_queries)
        best_vals = best_idx = None
        for g0 in range(0, n_gallery, gallery_block):
            g1 = min(g0 + gallery_block, n_gallery)
            vals, cols = best_k(scores(q0, q1, g0, g1), k)
            cols = cols + g0
            if best_vals is not None:
                vals, cols = _order(torch.cat([best_vals, vals], dim=1), torch.cat([best_idx, cols], dim=1))
                vals, cols = vals[:, :k], cols[:, :k]
            best_vals, best_idx = vals, cols
        if best_vals is not None:
            width = best_vals.shape[1]
            out_vals[q0:q1, :width] = best_vals.float().cpu().numpy()
            out_idx[q0:q1, :width] = best_idx.cpu().numpy()
    return out_vals, out_idx


class full_precision:
    """Float32 matmuls without TF32 while searching: GPU scores then equal the CPU path's."""

    def __enter__(self):
        import torch

        self._saved = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")

    def __exit__(self, *exc):
        import torch

        torch.set_float32_matmul_precision(self._saved)
