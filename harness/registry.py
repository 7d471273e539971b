"""One registry per component kind, and one front door per kind (``create_<kind>``)."""

from __future__ import annotations

import difflib
import inspect
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError

CONTEXT_KEYWORDS = ("num_classes", "in_dim", "device")
# Positional inputs some factories take that are not user settings.
_POSITIONAL_INPUTS = {
    "samplers": ("labels", "batch_size"),
    "metrics": ("ranked", "query_labels", "gallery_labels", "k"),
}
# Context keywords a user may also set: an indexer can search on another device than the model's.
_SETTABLE_CONTEXT = {"indexers": ("device",)}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_METRIC_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]*$")  # metric families are named like map@k


@dataclass(frozen=True)
class Entry:
    """One registered component: its factory and which plugin provided it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        text = self.meta.get("description") or inspect.getdoc(self.factory) or ""
        return text.strip().splitlines()[0] if text.strip() else ""

    def settings(self) -> dict[str, Any]:
        """The user settings the factory accepts, with their defaults (``inspect._empty`` if required)."""
        skip = set(CONTEXT_KEYWORDS) - set(_SETTABLE_CONTEXT.get(self.kind, ()))
        skip |= set(_POSITIONAL_INPUTS.get(self.kind, ()))
        params = parameters(self.factory)
        return {
            p.name: p.default for p in params if p.name not in skip and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        }

    def accepts_any_setting(self) -> bool:
        return any(p.kind is p.VAR_KEYWORD for p in parameters(self.factory))


def parameters(factory: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return []


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} Known: {', '.join(sorted(known)) or '(none)'}."


class Registry:
    """Names to factories for one kind. Duplicate names are refused, naming both plugins."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, factory: Callable[..., Any], plugin: str, **meta: Any) -> Entry:
        pattern = _METRIC_NAME_PATTERN if self.kind == "metrics" else _NAME_PATTERN
        if not isinstance(name, str) or not pattern.match(name):
            raise PluginError(f"plugin {plugin!r} registered an invalid {self.kind} name {name!r}")
        if not callable(factory):
            raise PluginError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory")
        if name in self._entries:
            other = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered by both plugin {other!r} and plugin {plugin!r}"
            )
        entry = Entry(self.kind, name, factory, plugin, dict(meta))
        self._entries[name] = entry
        return entry

    def unregister_plugin(self, plugin: str) -> None:
        self._entries = {n: e for n, e in self._entries.items() if e.plugin != plugin}

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {singular(self.kind)} {name!r}.{did_you_mean(str(name), self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def singular(kind: str) -> str:
    return {"losses": "loss", "indexers": "indexer"}.get(kind, kind.rstrip("s"))


def refuse_unknown_settings(entry: Entry, settings: dict[str, Any], where: str = "") -> None:
    """Refuse a setting the factory does not accept, naming the bad key and the accepted ones."""
    if entry.accepts_any_setting():
        return
    accepted = entry.settings()
    place = f" in {where}" if where else ""
    for key in settings:
        if key not in accepted:
            raise ConfigError(
                f"{singular(entry.kind)} {entry.name!r} has no setting "
                f"{key!r}{place}.{did_you_mean(key, list(accepted))}"
            )


def check_settings(entry: Entry, settings: dict[str, Any], where: str = "") -> None:
    """Refuse unknown settings and missing required ones."""
    refuse_unknown_settings(entry, settings, where)
    if entry.accepts_any_setting():
        return
    missing = [k for k, v in entry.settings().items() if v is inspect.Parameter.empty and k not in settings]
    if missing:
        place = f" in {where}" if where else ""
        raise ConfigError(f"{singular(entry.kind)} {entry.name!r} needs setting(s) {', '.join(missing)}{place}")


# Value checks shared by components: a bad setting fails at construction, naming the value it got.
def require(condition: bool, message: str) -> None:
    """Raise a ConfigError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum`` (bools refused: ``True`` is no count)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    require(ok and value >= minimum, f"{name} must be an integer >= {minimum} but got {value!r}")
    return int(value)


def check_non_negative(name: str, value: Any) -> float:
    """``value`` as a float of at least 0."""
    require(_is_number(value), f"{name} must be a number but got {value!r}")
    require(value >= 0, f"{name} cannot be negative but got {value!r}")
    return float(value)


def check_positive(name: str, value: Any) -> float:
    """``value`` as a float above 0."""
    require(_is_number(value), f"{name} must be a number but got {value!r}")
    require(value > 0, f"{name} must be positive but got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, options: Sequence[str]) -> str:
    """``value`` if it is one of ``options``."""
    require(value in options, f"{name} must be one of {', '.join(map(repr, options))} but got {value!r}")
    return value


def check_context(name: str, value: Any, who: str) -> int:
    """A context keyword (``num_classes``, ``in_dim``) that the harness passes to ``who`` ("loss 'center'")."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1
    require(ok, f"{who} needs the context keyword {name} (a positive int) but got {value!r}")
    return int(value)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value  # NaN is no setting
