"""Plugin discovery: the built-in ``plugins`` package, entry points in group ``bench``, and
``*.py`` files in ``$BENCH_PLUGINS_DIR``.

A plugin that fails to import, implements an unknown hook or raises while registering is
quarantined: it is listed with its error and contributes nothing, and the rest keep working.
Plugins from outside the package are first imported by a probe process (:mod:`harness.plugin_probe`),
so one that hangs, exits or kills its process at import is quarantined within
``$BENCH_PLUGIN_TIMEOUT`` seconds instead of taking bench down. A name the built-in package
registers is never replaced: the newcomer is refused, naming both. ``strict`` (``--strict`` or
``BENCH_STRICT=1``) turns any such failure into an error. In the trusted scorer process
(``BENCH_TRUSTED_SCORER=1``) only the built-in package loads.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

import pluggy

from harness import PROJECT_NAME, hookspecs, settings
from harness.data.shipped_plugins import is_shipped, package_files, shipped
from harness.errors import BenchError, DuplicateNameError, PluginError
from harness.plugin_probe import probe_imports, probe_timeout
from harness.registry import Registry, did_you_mean

if TYPE_CHECKING:
    # (name, location, (source, import it)): one plugin module found, not yet loaded
    Importer: TypeAlias = tuple[str, Callable[[], ModuleType]]
    Found: TypeAlias = tuple[str, str, Importer]

BUILTIN_PACKAGE = "plugins"
ENTRY_POINT_GROUP = "bench"
DROPPED_IN = "dropped in"  # a file of the built-in package bench does not ship (harness.data.shipped_plugins)
HOOK_NAMES = tuple(f"register_{kind}" for kind in hookspecs.KINDS)


@dataclass
class PluginRecord:
    """What one plugin is, where it came from, what it registered, and why it broke if it did."""

    name: str
    source: str  # "built-in" | "entry point" | "dropped in" | "directory"
    location: str
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


class PluginHost:
    """Loads plugins once and owns the registries they fill."""

    def __init__(
        self,
        plugins_dir: str | os.PathLike | None = None,
        builtin_package: str = BUILTIN_PACKAGE,
        shipped_files: dict[str, str] | None = None,
    ):
        """``shipped_files`` ({path in the package: SHA-256}) says which files of ``builtin_package`` are its
        own; default: harness/data/shipped_plugins.json for ``plugins``, every file for another package."""
        self.builtin_package = builtin_package
        self.shipped_files = shipped_files
        self.plugins_dir = Path(plugins_dir) if plugins_dir else None
        self.records: list[PluginRecord] = []
        self._registries = {kind: Registry(kind) for kind in hookspecs.KINDS}
        self._modules: dict[str, ModuleType] = {}
        self._loaded = False
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)

    # -- public -------------------------------------------------------------------------
    def load(self) -> PluginHost:
        if self._loaded:
            return self
        self._loaded = True
        found = list(self._discover())
        outside = [(name, location, importer) for name, location, importer in found if importer[0] != "built-in"]
        probe = probe_imports(
            [(importer[0] if importer[0] == "directory" else "module", location) for _, location, importer in outside],
            probe_timeout(),
        )
        for name, location, importer in found:
            if importer[0] != "built-in":
                failure = probe.result().get(location)  # waits for the probe only when a newcomer is reached
                if failure:
                    self.records.append(PluginRecord(name, importer[0], location, failure))
                    continue
            self._load_one(name, location, importer)
        self.pm.check_pending()  # every unknown hook was quarantined above; this is the backstop
        for record in self.records:
            if record.ok:
                self._call_hooks(record)
        return self

    def registry(self, kind: str) -> Registry:
        if kind not in self._registries:
            raise PluginError(f"unknown component kind {kind!r}.{did_you_mean(kind, list(hookspecs.KINDS))}")
        self.load()
        return self._registries[kind]

    def broken(self) -> list[PluginRecord]:
        self.load()
        return [r for r in self.records if not r.ok]

    def raise_if_broken(self) -> None:
        broken = self.broken()
        if broken:
            detail = "; ".join(f"{r.name}: {r.error}" for r in broken)
            raise PluginError(f"{len(broken)} plugin(s) failed to load (strict mode): {detail}")

    # -- discovery ------------------------------------------------------------------------
    def _discover(self) -> Iterator[Found]:
        """The shipped modules first (they register first, so a newcomer can never take their names), then
        entry points, files dropped into the package, and ``$BENCH_PLUGINS_DIR`` files."""
        builtin = list(self._builtin_modules())
        yield from (found for found in builtin if found[2][0] == "built-in")
        if settings.trusted_scorer():
            return
        yield from self._entry_points()
        yield from (found for found in builtin if found[2][0] == DROPPED_IN)
        yield from self._directory_files()

    def _builtin_modules(self) -> Iterator[Found]:
        try:
            package = importlib.import_module(self.builtin_package)
        except Exception as exc:  # the package itself broke: nothing built-in is available
            self.records.append(PluginRecord(self.builtin_package, "built-in", "", _describe(exc)))
            return
        prefix = package.__name__ + "."
        root = Path(package.__path__[0])
        files = self.shipped_files
        if files is None:
            files = shipped() if self.builtin_package == BUILTIN_PACKAGE else package_files(root)
        for info in sorted(
            pkgutil.walk_packages(package.__path__, prefix, onerror=lambda _: None), key=lambda i: i.name
        ):
            if info.ispkg:
                continue
            path = Path(getattr(info.module_finder, "path", "")) / (info.name.rsplit(".", 1)[-1] + ".py")
            source = "built-in" if is_shipped(path, root, files) else DROPPED_IN
            yield info.name, info.name, (source, lambda n=info.name: importlib.import_module(n))

    def _entry_points(self) -> Iterator[Found]:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            yield ep.name, ep.value, ("entry point", ep.load)

    def _directory_files(self) -> Iterator[Found]:
        folder = self.plugins_dir or settings.plugins_dir()
        if folder is None:
            return
        if not folder.is_dir():
            self.records.append(
                PluginRecord(str(folder), "directory", str(folder), f"{settings.PLUGINS_DIR} is not a folder")
            )
            return
        for path in sorted(folder.glob("*.py")):
            yield path.stem, str(path), ("directory", lambda p=path: _import_file(p))

    # -- loading ---------------------------------------------------------------------------
    def _load_one(self, name: str, location: str, importer: Importer) -> None:
        source, load = importer
        record = PluginRecord(name, source, location)
        self.records.append(record)
        try:
            module = load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            record.error = _describe(exc)
            return
        unknown = [attr for attr in _hookimpl_names(module) if attr not in HOOK_NAMES]
        if unknown:
            record.error = "; ".join(
                f"implements unknown hook {attr!r}.{did_you_mean(attr, list(HOOK_NAMES))}" for attr in unknown
            )
            return
        if not _hookimpl_names(module):
            return  # a helper module with no hooks: fine, nothing to register
        try:
            self.pm.register(module, name=f"{source}:{name}")
        except Exception as exc:
            record.error = _describe(exc)
            return
        self._modules[record.name] = module

    def _register_callback(self, kind: str, record: PluginRecord) -> hookspecs.Register:
        """The ``register`` a plugin's hook receives: the host owns de-duplication and bookkeeping."""
        registry = self._registries[kind]

        def register(name: str, factory: Callable[..., Any], **meta: Any) -> None:
            if name in registry:
                self._refuse_or_evict(kind, name, record)
            registry.register(name, factory, plugin=record.name, **meta)
            record.registered.setdefault(kind, []).append(name)

        return register

    def _refuse_or_evict(self, kind: str, name: str, newcomer: PluginRecord) -> None:
        """A name registered twice: the built-in keeps it. Raises for the newcomer, unless the holder is a
        file dropped into the built-in package and the newcomer is the package's own (shipped) module."""
        holder = next(r for r in self.records if r.name == self._registries[kind].get(name).plugin)
        if holder.source == "built-in" and newcomer.source != "built-in":
            raise DuplicateNameError(
                f"{kind} {name!r} is a built-in of plugin {holder.name!r}; plugin {newcomer.name!r} may not "
                "replace it (refused, the built-in is kept)"
            )
        raise DuplicateNameError(
            f"{self._registries[kind].kind} {name!r} is registered by both plugin {holder.name!r} and plugin "
            f"{newcomer.name!r}"
        )

    def _quarantine(self, record: PluginRecord, error: str) -> None:
        record.error = error
        for reg in self._registries.values():
            reg.unregister_plugin(record.name)
        record.registered.clear()
        module = self._modules.get(record.name)
        if module is not None and self.pm.is_registered(module):
            self.pm.unregister(module)

    def _call_hooks(self, record: PluginRecord) -> None:
        module = self._modules.get(record.name)
        if module is None:
            return
        plugin_name = self.pm.get_name(module)
        for kind in hookspecs.KINDS:
            caller = getattr(self.pm.hook, f"register_{kind}")
            for impl in caller.get_hookimpls():
                if impl.plugin_name != plugin_name:
                    continue
                try:
                    impl.function(register=self._register_callback(kind, record))
                except Exception as exc:
                    prefix = "" if isinstance(exc, BenchError) else f"register_{kind}: "
                    self._quarantine(record, prefix + _describe(exc))
                    return


def _hookimpl_names(module: ModuleType) -> list[str]:
    marker = f"{PROJECT_NAME}_impl"
    return [attr for attr, value in vars(module).items() if callable(value) and hasattr(value, marker)]


def _import_file(path: Path) -> ModuleType:
    module_name = f"bench_dir_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({Path(exc.filename or '?').name}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use (strict when ``BENCH_STRICT=1``)."""
    global _host
    if _host is None:
        host = PluginHost().load()
        if settings.strict():
            host.raise_if_broken()
        _host = host
    return _host


def reset_host() -> None:
    """Forget loaded plugins (tests; a changed ``$BENCH_PLUGINS_DIR``)."""
    global _host
    _host = None
