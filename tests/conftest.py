"""Every test works in its own temporary workspace and never touches the repository's folders."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import pytest
from typer.testing import CliRunner

from harness.plugins import reset_host


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path, monkeypatch):
    root = tmp_path / "workspace"
    root.mkdir()
    monkeypatch.setenv("BENCH_ROOT", str(root))
    monkeypatch.setenv("BENCH_ANSWERS_DIR", str(tmp_path / "answers"))  # the answers store, outside the workspace
    monkeypatch.delenv("BENCH_PLUGINS_DIR", raising=False)
    monkeypatch.delenv("BENCH_STRICT", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # A loaded test machine can take minutes to import torch: the probe's limit is tested on its own.
    monkeypatch.setenv("BENCH_PLUGIN_TIMEOUT", "600")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty Hugging Face cache, whatever the machine has
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    reset_host()
    yield root
    reset_host()


@pytest.fixture
def workspace(isolated_workspace):
    from harness.workspace import Workspace

    return Workspace(isolated_workspace)


@pytest.fixture
def cli():
    """Run ``bench ARGS...`` in-process; returns the click Result (exit_code, stdout, stderr)."""
    from harness.cli import app

    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture
def plugins_dir(tmp_path, monkeypatch):
    """A $BENCH_PLUGINS_DIR folder; write plugin files into it before first registry use."""
    folder = tmp_path / "plugins_dir"
    folder.mkdir()
    monkeypatch.setenv("BENCH_PLUGINS_DIR", str(folder))
    reset_host()
    return folder


def write_toy_competition(workspace, gallery, queries, k: int = 4):
    """competitions/toy written by hand (no dataset): ``gallery`` (id, label), ``queries`` (id, label, public)."""
    lines = ["item_id,label,role,public"]
    lines += [f"{item},{label},gallery," for item, label in gallery]
    lines += [f"{item},{label},query,{public}" for item, label, public in queries]
    data = ("\n".join([lines[0], *sorted(lines[1:])]) + "\n").encode()
    folder = workspace.root / "competitions" / "toy"
    folder.mkdir(parents=True)
    (folder / "manifest.csv").write_bytes(data)
    info = {"name": "toy", "metric": "map@k", "k": k, "manifest_sha256": hashlib.sha256(data).hexdigest()}
    (folder / "competition.json").write_text(json.dumps(info))
    return workspace


def pytest_configure(config):
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    # Module-scoped fixtures run before the per-test one above: never the user's own answers store.
    os.environ["BENCH_ANSWERS_DIR"] = tempfile.mkdtemp(prefix="bench-answers-")
    # Rich tables wrap at the terminal width; a wide one keeps assertions on cell text simple.
    os.environ["COLUMNS"] = "240"
