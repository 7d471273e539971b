"""Contract tests parametrised over everything registered: a new plugin is tested the moment it exists.

Kind-specific behaviour (a loss's gradient, an indexer's recall, a sampler's batches) is tested
in the kind's own test file, also parametrised over the registry; these are the common rules.
"""

from __future__ import annotations

import inspect

import pytest

from harness import hookspecs
from harness.plugins import PluginHost

_HOST = PluginHost().load()
ENTRIES = [
    pytest.param(entry, id=f"{kind}:{entry.name}")
    for kind in hookspecs.KINDS
    for entry in _HOST.registry(kind).entries()
]
SCALARS = (bool, int, float, str, type(None))


def test_every_kind_has_a_builtin_component():
    for kind in hookspecs.KINDS:
        assert len(_HOST.registry(kind)) > 0, f"nothing registers {kind}"


@pytest.mark.parametrize("entry", ENTRIES)
def test_component_is_described(entry):
    assert entry.description, f"{entry.kind} {entry.name!r} has no description or docstring"


@pytest.mark.parametrize("entry", ENTRIES)
def test_settings_have_scalar_defaults(entry):
    """Settings come from TOML and --set, so each must default to a scalar that fixes its type."""
    for key, default in entry.settings().items():
        if default is inspect.Parameter.empty:
            continue
        assert isinstance(default, SCALARS), f"{entry.kind} {entry.name}.{key} defaults to {default!r}"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.values[0].kind in ("methods", "competitions")])
def test_specs_build_without_settings(entry):
    from harness.components import build

    assert build(entry.kind, entry.name) is not None


@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if e.values[0].kind in ("backbones", "poolings", "heads", "losses", "indexers", "samplers")],
)
def test_builds_with_defaults_and_context(entry):
    from harness.components import build

    args = ([0, 0, 1, 1, 2, 2, 3, 3] * 4, 8) if entry.kind == "samplers" else ()
    required = [k for k, v in entry.settings().items() if v is inspect.Parameter.empty]
    assert not required, f"{entry.kind} {entry.name} needs {required}: give every setting a default"
    component = build(entry.kind, entry.name, *args, num_classes=4, in_dim=16, device="cpu")
    if entry.kind in ("backbones", "poolings", "heads"):
        assert isinstance(component.out_dim, int) and component.out_dim > 0
