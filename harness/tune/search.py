"""The Optuna pieces of ``bench tune``: samplers, pruners, a trial that honours ``--set``, importances."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna import Trial
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

PRUNERS = ("median", "percentile", "hyperband", "none")
SAMPLERS = ("tpe", "random", "nsga2")


class FixedParamsTrial:
    """An Optuna trial in which the names fixed by ``--set`` are answered, not searched.

    ``suggest_*`` for a fixed name returns the fixed value and registers no distribution, so the
    name never appears in ``trial.params``. So does a name in one of the ``unused`` sections (a
    component the user replaced): it gets a placeholder (the low end, the first choice) that the
    caller drops. Everything else goes to the real trial.
    """

    def __init__(self, trial: Trial, fixed: dict[str, Any], unused: Iterable[str] = ()):
        self._trial, self._fixed, self._unused = trial, fixed, set(unused)

    def _suggest(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self._fixed:
            return self._fixed[name]
        if name.split(".", 1)[0] in self._unused:
            first = args[0] if args else kwargs.get("choices" if kind == "suggest_categorical" else "low")
            return first[0] if kind == "suggest_categorical" else first
        return getattr(self._trial, kind)(name, *args, **kwargs)

    def suggest_float(self, name: str, *a: Any, **k: Any) -> Any:
        return self._suggest("suggest_float", name, *a, **k)

    def suggest_int(self, name: str, *a: Any, **k: Any) -> Any:
        return self._suggest("suggest_int", name, *a, **k)

    def suggest_categorical(self, name: str, *a: Any, **k: Any) -> Any:
        return self._suggest("suggest_categorical", name, *a, **k)

    def suggest_uniform(self, name: str, *a: Any, **k: Any) -> Any:
        return self._suggest("suggest_float", name, *a, **k)

    def suggest_loguniform(self, name: str, low: float, high: float) -> Any:
        return self._suggest("suggest_float", name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> Any:
        return self._suggest("suggest_float", name, low, high, step=q)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._trial, attr)


def make_sampler(kind: str, seed: int) -> BaseSampler:
    import optuna

    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "nsga2":  # multi-objective (``--objectives``); on one objective, a genetic search
        return optuna.samplers.NSGAIISampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant_liar is "experimental" in some versions
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(kind: str, n_trials: int) -> BasePruner:
    """Median / percentile start pruning after a few complete trials (fewer for small studies)."""
    import optuna

    startup = min(5, max(2, n_trials // 5))
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    if kind == "percentile":
        return optuna.pruners.PercentilePruner(25.0, n_startup_trials=startup, n_warmup_steps=0)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
    return optuna.pruners.NopPruner()


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        out[key] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
    return out
