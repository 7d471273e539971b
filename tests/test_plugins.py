"""Plugin discovery from all three sources, quarantine of broken plugins, strict mode."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import hookspecs
from harness.components import create_loss, registry
from harness.errors import DuplicateNameError, PluginError, UnknownNameError
from harness.plugins import PluginHost, get_host, reset_host
from harness.registry import Registry

GOOD_LOSS = """
    import torch
    from torch import nn
    from harness import hookimpl

    class L1Distance(nn.Module):
        \"\"\"Mean absolute embedding value (a test loss).\"\"\"
        def __init__(self, scale: float = 1.0):
            super().__init__()
            self.scale = scale
        def forward(self, embeddings, labels):
            return self.scale * embeddings.abs().mean()

    @hookimpl
    def register_losses(register):
        register("{name}", L1Distance, description="a loss from a test plugin")
"""


def write_plugin(folder: Path, stem: str, source: str) -> Path:
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(source))
    return path


def record(host: PluginHost, name: str):
    return next(r for r in host.records if r.name == name)


def test_builtin_plugins_are_discovered_recursively():
    host = PluginHost().load()
    builtin = [r for r in host.records if r.source == "built-in"]
    assert builtin, "the built-in plugins package contributed nothing"
    assert all(r.name.startswith("plugins.") for r in builtin)
    assert all(r.ok for r in builtin), [r.error for r in builtin if not r.ok]


def test_a_file_dropped_into_the_builtin_package_is_found(tmp_path, monkeypatch):
    package = tmp_path / "extra_plugins"
    (package / "losses").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "losses" / "__init__.py").write_text("")
    write_plugin(package / "losses", "cosface", GOOD_LOSS.format(name="cosface"))
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PluginHost(builtin_package="extra_plugins").load()
    assert "cosface" in host.registry("losses")
    assert record(host, "extra_plugins.losses.cosface").source == "built-in"


def test_directory_plugin_registers_and_is_usable(plugins_dir):
    write_plugin(plugins_dir, "mine", GOOD_LOSS.format(name="l1-test"))
    loss = create_loss("l1-test", scale=2.0)
    import torch

    assert float(loss(torch.ones(2, 3), torch.tensor([0, 1]))) == pytest.approx(2.0)
    host = get_host()
    assert record(host, "mine").source == "directory"
    assert record(host, "mine").registered == {"losses": ["l1-test"]}


def test_entry_point_plugin_from_an_installed_distribution(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    write_plugin(site, "bench_ep_plugin", GOOD_LOSS.format(name="ep-loss"))
    dist = site / "bench_ep_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-ep-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bench]\nep_plugin = bench_ep_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    reset_host()
    host = get_host()
    assert "ep-loss" in host.registry("losses")
    assert record(host, "ep_plugin").source == "entry point"


def test_duplicate_name_is_an_error_naming_both_plugins(plugins_dir):
    write_plugin(plugins_dir, "first", GOOD_LOSS.format(name="twin"))
    write_plugin(plugins_dir, "second", GOOD_LOSS.format(name="twin"))
    host = get_host()
    assert registry("losses").get("twin").plugin == "first"
    error = record(host, "second").error
    assert "twin" in error and "first" in error and "second" in error
    with pytest.raises(PluginError, match="second"):
        host.raise_if_broken()


def test_registry_refuses_duplicates_directly():
    reg = Registry("losses")
    reg.register("x", dict, plugin="a")
    with pytest.raises(DuplicateNameError, match="'a'.*'b'"):
        reg.register("x", dict, plugin="b")


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError) as info:
        Registry_with(["triplet", "contrastive"]).get("triplett")
    message = str(info.value)
    assert "Did you mean 'triplet'" in message and "Known: contrastive, triplet" in message


def Registry_with(names):
    reg = Registry("losses")
    for name in names:
        reg.register(name, dict, plugin="test")
    return reg


@pytest.mark.parametrize(
    "source, expected",
    [
        ("raise RuntimeError('boom at import')\n", "RuntimeError: boom at import"),
        ("def broken(:\n", "SyntaxError"),
        ("import sys\nsys.exit(3)\n", "SystemExit"),
        (
            "from harness import hookimpl\n@hookimpl\ndef register_loss(register):\n    pass\n",
            "unknown hook 'register_loss'. Did you mean 'register_losses'",
        ),
        (
            "from harness import hookimpl\n@hookimpl\ndef register_losses(register):\n    raise ValueError('bad')\n",
            "register_losses: ValueError: bad",
        ),
        (
            "from harness import hookimpl\n@hookimpl\ndef register_losses(register):\n    "
            "register('has space', dict)\n",
            "invalid losses name",
        ),
    ],
    ids=["raises", "syntax-error", "sys-exit", "misspelled-hook", "hook-raises", "bad-name"],
)
def test_broken_plugin_is_quarantined(plugins_dir, cli, source, expected):
    write_plugin(plugins_dir, "good", GOOD_LOSS.format(name="still-works"))
    write_plugin(plugins_dir, "broken", source)
    host = get_host()
    assert expected in record(host, "broken").error
    assert "still-works" in registry("losses"), "one broken plugin took the others down"
    assert not record(host, "broken").registered

    listed = cli("plugins")
    assert listed.exit_code == 1, "a listing that reports a broken plugin must not exit 0"
    assert "broken" in listed.stdout and "still-works" in listed.stdout
    strict = cli("plugins", "--strict")
    assert strict.exit_code == 1
    assert "broken" in strict.stderr


def test_strict_environment_variable_makes_broken_plugins_fatal(plugins_dir, cli, monkeypatch):
    write_plugin(plugins_dir, "broken", "raise ImportError('missing dependency xyz')\n")
    monkeypatch.setenv("BENCH_STRICT", "1")
    result = cli("list", "losses")
    assert result.exit_code == 1
    assert "missing dependency xyz" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_half_registered_plugin_contributes_nothing(plugins_dir):
    write_plugin(
        plugins_dir,
        "half",
        """
        from harness import hookimpl
        @hookimpl
        def register_losses(register):
            register("half-a", dict)
            raise RuntimeError("after one")
        """,
    )
    assert "half-a" not in registry("losses")


def test_missing_plugins_dir_is_reported_not_fatal(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("BENCH_PLUGINS_DIR", str(tmp_path / "nope"))
    reset_host()
    assert cli("list", "losses").exit_code == 0, "a missing plugins folder must not stop other commands"
    result = cli("plugins")
    assert result.exit_code == 1, "bench plugins reports the problem, so it must not exit 0"
    assert "not a folder" in result.stdout


def test_every_hookspec_is_documented_and_named_after_a_kind():
    for kind in hookspecs.KINDS:
        spec = getattr(hookspecs, f"register_{kind}")
        assert spec.__doc__ and len(spec.__doc__.split()) > 10, f"register_{kind} has no real docstring"
        assert list(spec.__annotations__) == ["register", "return"]


def test_every_hookspec_is_implemented_by_a_builtin_plugin():
    host = PluginHost().load()
    for kind in hookspecs.KINDS:
        assert any(kind in r.registered for r in host.records if r.source == "built-in"), (
            f"no built-in plugin registers {kind}: the hook has no example or test"
        )


def test_loading_is_idempotent():
    host = PluginHost()
    host.load()
    count = len(host.records)
    names = registry("losses").names()
    host.load()
    assert len(host.records) == count
    assert registry("losses").names() == names


def test_cli_help_does_not_import_torch():
    code = "import sys, harness.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
