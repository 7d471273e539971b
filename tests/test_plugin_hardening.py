"""Issue 11: built-in names are never replaced, plugins that hang or exit at import are quarantined,
OS errors and oversized dataset roots are one line, listings print whole values when piped, and a run
whose row cannot be recorded keeps what it trained."""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest

from harness.plugins import PluginHost, get_host

TRIPLET_IMPOSTOR = """
from harness import hookimpl

@hookimpl
def register_losses(register):
    register("triplet", dict, description="not the real triplet loss")
"""


def record(host, name):
    return next(r for r in host.records if r.name == name)


def test_a_directory_plugin_cannot_replace_a_builtin_name(plugins_dir, cli):
    (plugins_dir / "impostor.py").write_text(TRIPLET_IMPOSTOR)
    host = get_host()
    assert host.registry("losses").get("triplet").plugin == "plugins.losses.triplet"
    error = record(host, "impostor").error
    assert "plugins.losses.triplet" in error and "impostor" in error and "built-in is kept" in error
    assert "impostor" in cli("plugins").stdout


def shipped_package(tmp_path, name="shipped_plugins"):
    """A built-in package of one shipped loss, ``triplet``; returns (folder, its shipped-files list)."""
    from harness.data.shipped_plugins import package_files

    package = tmp_path / name
    (package / "losses").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "losses" / "__init__.py").write_text("")
    (package / "losses" / "triplet.py").write_text(TRIPLET_IMPOSTOR.replace("not the real", "the real"))
    return package, package_files(package)


@pytest.mark.parametrize("tracked", [False, True], ids=["untracked", "git-added"])
def test_a_file_dropped_into_the_builtin_package_cannot_replace_a_shipped_name(tmp_path, monkeypatch, tracked):
    package, files = shipped_package(tmp_path)
    (package / "losses" / "aaa_dropped.py").write_text(TRIPLET_IMPOSTOR)  # sorts first
    if tracked and shutil.which("git"):  # git no longer has a say: the shipped list does
        for args in (["init", "-q"], ["add", "-A"]):
            subprocess.run(["git", *args], cwd=package, check=True, capture_output=True)
    monkeypatch.setenv("PATH", "")  # no git on PATH either
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PluginHost(builtin_package="shipped_plugins", shipped_files=files).load()
    entry = host.registry("losses").get("triplet")
    assert entry.plugin == "shipped_plugins.losses.triplet" and entry.meta["description"] == "the real triplet loss"
    dropped = record(host, "shipped_plugins.losses.aaa_dropped")
    assert dropped.source == "dropped in" and "shipped_plugins.losses.triplet" in dropped.error
    assert "built-in is kept" in dropped.error and record(host, "shipped_plugins.losses.triplet").ok


def test_an_edited_shipped_file_counts_as_dropped_in(tmp_path, monkeypatch):
    package, files = shipped_package(tmp_path, "edited_plugins")
    (package / "losses" / "triplet.py").write_text(TRIPLET_IMPOSTOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PluginHost(builtin_package="edited_plugins", shipped_files=files).load()
    assert record(host, "edited_plugins.losses.triplet").source == "dropped in"


def test_the_shipped_plugin_list_matches_the_plugins_folder():
    from harness.data.shipped_plugins import MANIFEST, REGENERATE, builtin_root, package_files, shipped

    listed, actual = shipped(), package_files(builtin_root())
    changed = sorted(set(listed.items()) ^ set(actual.items()))
    assert not changed, (
        f"plugins/ changed without regenerating {MANIFEST.name}: run `{REGENERATE}` and commit it "
        f"(differs: {', '.join(sorted({path for path, _ in changed})[:5])})"
    )


HANGS_IN_HOOK = """
from harness import hookimpl

@hookimpl
def register_losses(register):
    {body}
    register("never", dict)
"""


# Run in a child from a copy of the source tree: a file dropped into the checkout's own plugins/ is seen by
# every bench process started from it meanwhile, such as another xdist worker's `bench run --nproc` ranks,
# whose probe then waits out its BENCH_PLUGIN_TIMEOUT (600 s under the test fixture) on the hanging file.
DROPPED_CHECK = """
import json, sys
from typer.testing import CliRunner
import harness, plugins
from harness.cli import app
from harness.plugins import get_host

stem = sys.argv[1]
host = get_host()
record = next(r for r in host.records if r.name == f"plugins.losses.{stem}")
runner = CliRunner()
results = {}
for command in (("list", "losses"), ("competitions",), ("plugins",)):
    result = runner.invoke(app, list(command), catch_exceptions=False)
    results[" ".join(command)] = [result.exit_code, result.stdout, result.stderr]
print(json.dumps({"error": record.error, "losses": sorted(host.registry("losses").names()), "results": results,
                  "imported_from": [harness.__file__, plugins.__file__]}))
"""


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory):
    """harness/ and plugins/ copied: a tree only this test's processes import from."""
    from harness.data.shipped_plugins import builtin_root

    root = tmp_path_factory.mktemp("source")
    for package in ("harness", "plugins"):
        origin = builtin_root().parent / package
        shutil.copytree(origin, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import time\ntime.sleep(3600)\n", "did not finish importing within 3 s"),
        ("import os\nos._exit(3)\n", "ended the process while importing (exit code 3)"),
        (HANGS_IN_HOOK.format(body="import time; time.sleep(3600)"), "did not finish importing within 3 s"),
        (HANGS_IN_HOOK.format(body="import os; os._exit(4)"), "ended the process while importing (exit code 4)"),
    ],
    ids=["hangs", "os-exit", "hook-hangs", "hook-exits"],
)
def test_a_file_dropped_into_plugins_that_hangs_or_exits_is_quarantined(source_copy, source, expected):
    import json
    import os
    import secrets
    import sys

    stem = f"zz_dropped_{secrets.token_hex(4)}"
    path = source_copy / "plugins" / "losses" / f"{stem}.py"
    path.write_text(source)
    try:
        done = subprocess.run(
            [sys.executable, "-c", DROPPED_CHECK, stem],
            env={**os.environ, "PYTHONPATH": str(source_copy), "BENCH_PLUGIN_TIMEOUT": "3"},
            cwd=source_copy, capture_output=True, text=True, timeout=600,  # -c imports from its folder first
        )  # fmt: skip
    finally:
        path.unlink()
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(where.startswith(str(source_copy)) for where in seen["imported_from"]), seen["imported_from"]
    assert expected in seen["error"]
    assert "triplet" in seen["losses"] and "never" not in seen["losses"]
    for command in ("list losses", "competitions"):
        code, stdout, stderr = seen["results"][command]
        assert code == 0 and stdout.strip(), (command, stderr)
    _, stdout, stderr = seen["results"]["plugins"]  # lists every plugin, then exits 1 naming the broken one
    assert stem in stdout and expected in stdout and stem in stderr


GOOD = """
from harness import hookimpl

@hookimpl
def register_losses(register):
    register("{name}", dict)
"""


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import time\ntime.sleep(3600)\n", "did not finish importing within 3 s"),
        ("import os\nos._exit(3)\n", "ended the process while importing (exit code 3)"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "ended the process while importing"),
    ],
    ids=["hangs", "os-exit", "kills-itself"],
)
def test_a_plugin_that_hangs_or_exits_at_import_is_quarantined(plugins_dir, cli, monkeypatch, source, expected):
    monkeypatch.setenv("BENCH_PLUGIN_TIMEOUT", "3")
    (plugins_dir / "a_before.py").write_text(GOOD.format(name="before-it"))
    (plugins_dir / "bad.py").write_text(source)
    (plugins_dir / "z_after.py").write_text(GOOD.format(name="after-it"))
    host = get_host()
    assert expected in record(host, "bad").error
    assert {"before-it", "after-it"} <= set(host.registry("losses").names())
    listed = cli("plugins")
    assert listed.exit_code == 1 and "bad" in listed.stdout and expected in listed.stdout
    assert cli("plugins", "--strict").exit_code == 1


def test_a_bad_plugin_timeout_is_one_line(plugins_dir, cli, monkeypatch):
    (plugins_dir / "fine.py").write_text(GOOD.format(name="fine"))
    monkeypatch.setenv("BENCH_PLUGIN_TIMEOUT", "soon")
    result = cli("list", "losses")
    assert result.exit_code == 1 and "BENCH_PLUGIN_TIMEOUT must be a number" in result.stderr


def test_the_trusted_scorer_loads_no_third_party_plugin(plugins_dir, monkeypatch):
    (plugins_dir / "mine.py").write_text(GOOD.format(name="mine"))
    monkeypatch.setenv("BENCH_TRUSTED_SCORER", "1")
    host = PluginHost().load()
    assert all(r.source == "built-in" for r in host.records) and "mine" not in host.registry("losses")


def test_piped_listings_print_whole_values(plugins_dir, cli):
    long_name = "a-really-long-loss-name-" + "x" * 150
    (plugins_dir / "long.py").write_text(GOOD.format(name=long_name))
    for command in (("plugins",), ("list", "losses")):
        result = cli(*command)
        assert result.exit_code == 0 and long_name in result.stdout and "…" not in result.stdout
    listed = cli("competitions")
    assert "cifar10-hashing\t" in listed.stdout and "…" not in listed.stdout


def test_a_dataset_root_at_the_top_of_the_disk_is_refused(cli, workspace, tmp_path):
    toml = 'dataset = "folder"\n[dataset_config]\nroot = "/"\n[protocol_config]\nquery = 1\nval = 1\ntrain = 1\n'
    (tmp_path / "everything.toml").write_text(toml)
    assert cli("competitions", "add", tmp_path / "everything.toml").exit_code == 0
    result = cli("competitions", "show", "everything")
    assert result.exit_code == 1 and "root of a file system" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_dataset_root_that_holds_too_much_is_refused(monkeypatch, tmp_path):
    import plugins.datasets.folder as folder_plugin
    from harness.errors import DatasetError

    for c in range(2):
        (tmp_path / "big" / f"c{c}").mkdir(parents=True)
        for i in range(4):
            (tmp_path / "big" / f"c{c}" / f"{i}.txt").write_text("")
    monkeypatch.setattr(folder_plugin, "MAX_ENTRIES", 5)
    with pytest.raises(DatasetError, match="more than 5 files"):
        folder_plugin.folder(str(tmp_path / "big"))


def test_an_unreadable_class_folder_is_one_error(tmp_path):
    import os

    import plugins.datasets.folder as folder_plugin
    from harness.errors import DatasetError

    (tmp_path / "pics" / "a" / "deeper").mkdir(parents=True)
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    (tmp_path / "pics" / "a" / "deeper").chmod(0)
    try:
        with pytest.raises(DatasetError, match="cannot read"):
            folder_plugin.folder(str(tmp_path / "pics"))
    finally:
        (tmp_path / "pics" / "a" / "deeper").chmod(0o755)


def test_a_run_whose_row_cannot_be_recorded_keeps_its_artifacts(workspace, monkeypatch):
    import harness.scoring.submit as submit_module
    from harness.errors import BenchError, LeaderboardError
    from harness.pipeline import Recording, record_or_keep

    run_dir = workspace.run_dir("r1")
    run_dir.mkdir(parents=True)
    (run_dir / "weights.safetensors").write_bytes(b"w")
    path = workspace.submission_path("digits", "r1")
    path.parent.mkdir(parents=True)
    path.write_text("query_id,neighbors\n")

    def board_full(*args, **kwargs):
        raise LeaderboardError("could not lock leaderboards/digits.csv within 60 s")

    monkeypatch.setattr(submit_module, "submit_isolated", board_full)
    with pytest.raises(
        BenchError, match=textwrap.dedent(r"weights are kept .* `bench submit .*r1\.csv --competition digits`")
    ):
        record_or_keep(workspace, Recording("digits", path, run_dir, "r1"))
    assert (run_dir / "weights.safetensors").exists() and path.exists()
