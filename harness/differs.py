"""What a run's resolved config changes from its method's defaults, and what tuning it cost.

Both go on the leaderboard row: ``differs`` (``loss.name=contrastive optim.lr=0.003``, or
``defaults``) so that a row trained with ``--set loss.name=cosface`` no longer reads as plain
"triplet", and ``budget`` (trials, total training seconds, device) so that a tuned entry shows
how much search it received.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULTS = "defaults"
# Settings that say where or how fast a run trains, not what it trains: never a difference.
NOT_A_DIFFERENCE = {"seed", "competition", "train.device", "train.threads", "train.preload_mb", "train.num_workers"}


def flat(cfg: dict[str, Any]) -> dict[str, Any]:
    """``{"loss": {"name": "x", "margin": 1}}`` -> ``{"loss.name": "x", "loss.margin": 1}``."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            out[key] = value
    return out


def setting_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"  # what differs, for people: the config hash keeps the exact value
    return json.dumps(value, separators=(",", ":"))


def differences(method: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The settings of resolved ``cfg`` that differ from ``method``'s resolved defaults (same competition).

    A section the defaults have and ``cfg`` lacks shows as ``<section>.name=none``.
    """
    from harness.pipeline import resolve_run_config

    defaults = resolve_run_config(method, cfg.get("competition"), seed=cfg.get("seed"))
    mine, theirs = flat(cfg), flat(defaults)
    changed = {k: v for k, v in mine.items() if k not in NOT_A_DIFFERENCE and (k not in theirs or theirs[k] != v)}
    for section, value in defaults.items():
        if isinstance(value, dict) and "name" in value and section not in cfg:
            changed[f"{section}.name"] = "none"
    return dict(sorted(changed.items()))


def differs_text(method: str, cfg: dict[str, Any]) -> str:
    """``differences`` as one cell: ``key=value`` pairs separated by spaces, or ``defaults``."""
    changed = differences(method, cfg)
    return " ".join(f"{k}={setting_text(v)}" for k, v in changed.items()) or DEFAULTS


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


def group_budget(cells: list[Any]) -> str:
    """A seed group's budget: its members share one search (counted once) and each trained on its own."""
    budgets = [read_budget(cell) for cell in cells]
    if not budgets or any(b is None for b in budgets):
        return ""
    tuning = max(float(b.get("tuning_seconds") or 0.0) for b in budgets)
    own = sum(float(b.get("train_seconds") or 0.0) - float(b.get("tuning_seconds") or 0.0) for b in budgets)
    devices = sorted({str(b.get("device") or "?") for b in budgets})
    return budget_cell(max(int(b.get("trials") or 0) for b in budgets), tuning, own, ", ".join(devices))


def read_budget(text: Any) -> dict[str, Any] | None:
    """A row's budget, or None (an older row, or a cell that is not a budget)."""
    try:
        value = json.loads(text) if isinstance(text, str) and text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) and "trials" in value else None


def budget_text(text: Any) -> str:
    """``20 trials, 812 s on cpu``; ``untuned, 41 s on cpu``; "" for a row without a budget."""
    budget = read_budget(text)
    if budget is None:
        return ""
    trials = int(budget.get("trials") or 0)
    seconds = float(budget.get("train_seconds") or 0.0)
    device = budget.get("device") or "?"
    head = f"{trials} trial{'s' if trials != 1 else ''}" if trials else "untuned"
    return f"{head}, {seconds:.0f} s on {device}"


def device_label(torch_device: Any, env: dict[str, Any]) -> str:
    """``cpu (AMD EPYC 7B13)``, ``cuda (NVIDIA H200)``: the kind of device and the model the fingerprint names."""
    kind = getattr(torch_device, "type", None) or str(torch_device)
    name = str(env.get("device") or "")
    return f"{kind} ({name})" if name and name != kind else kind
