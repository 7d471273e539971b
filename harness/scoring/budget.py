"""A leaderboard row's tuning budget (the ``budget`` column): trials, training seconds, device.

A tuned entry shows how much search it received: the trials that chose its configuration, the
seconds they trained plus its own, and the device. A plain ``bench run`` row has 0 trials.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def budget_cell(trials: int, tuning_seconds: float, own_seconds: float, device: str) -> str:
    """The ``budget`` cell (JSON, so that it reads back exactly): the trials that chose the config, the
    seconds they trained, and everything that went into this row (those plus its own training)."""
    tuning = round(float(tuning_seconds), 3)
    return json.dumps(
        {
            "trials": int(trials),
            "tuning_seconds": tuning,
            "train_seconds": round(tuning + float(own_seconds), 3),
            "device": device,
        },
        sort_keys=True,
    )


def group_budget(cells: list[str | None]) -> str:
    """A seed group's budget: its members share one search (counted once) and each trained on its own."""
    budgets = [read_budget(cell) for cell in cells]
    if not budgets or any(b is None for b in budgets):
        return ""
    tuning = max(float(b.get("tuning_seconds") or 0.0) for b in budgets)
    own = sum(float(b.get("train_seconds") or 0.0) - float(b.get("tuning_seconds") or 0.0) for b in budgets)
    devices = sorted({str(b.get("device") or "?") for b in budgets})
    return budget_cell(max(int(b.get("trials") or 0) for b in budgets), tuning, own, ", ".join(devices))


def read_budget(text: str | None) -> dict[str, Any] | None:
    """A row's budget, or None (an older row, or a cell that is not a budget)."""
    try:
        value = json.loads(text) if isinstance(text, str) and text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) and "trials" in value else None


def budget_text(text: str | None) -> str:
    """``20 trials, 812 s on cpu``; ``untuned, 41 s on cpu``; "" for a row without a budget."""
    budget = read_budget(text)
    if budget is None:
        return ""
    trials = int(budget.get("trials") or 0)
    seconds = float(budget.get("train_seconds") or 0.0)
    device = budget.get("device") or "?"
    head = f"{trials} trial{'s' if trials != 1 else ''}" if trials else "untuned"
    return f"{head}, {seconds:.0f} s on {device}"


def device_label(torch_device: torch.device | str, env: dict[str, Any]) -> str:
    """``cpu (AMD EPYC 7B13)``, ``cuda (NVIDIA H200)``: the kind of device and the model the fingerprint names."""
    kind = getattr(torch_device, "type", None) or str(torch_device)
    name = str(env.get("device") or "")
    return f"{kind} ({name})" if name and name != kind else kind
