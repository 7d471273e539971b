"""Competitions declared in TOML, usually over ``folder`` or ``csv`` data.

A file ``competitions/<name>/competition.toml`` in the workspace declares competition ``<name>``
(``bench competitions add FILE`` puts one there). Every key but ``dataset`` is optional::

    description = "Flowers, 20 per class as queries"
    dataset = "folder"                 # any registered dataset
    protocol = "seen-classes"          # seen-classes | unseen-classes | given
    metric = "map@k"                   # map@k | precision@k | recall@k | hit@k | map@r
    k = 100
    public_fraction = 0.3
    salt = "flowers"
    seed = 0
    deadline = 2026-12-31T23:59:00Z    # optional, for `bench serve`: private scores show after it
    daily_submissions = 5              # optional: uploads per participant per UTC day (0 = no limit)
    final_submissions = 2              # optional: how many of a participant's submissions count privately
    public_board = "ladder"            # optional: release a public score only when it beats the best by a margin

    [dataset_config]
    root = "images"                    # relative paths are relative to this file
    size = 64

    [protocol_config]
    query = 20
    val = 0.1
    train = 0.5

Relative ``root``, ``path`` and ``data_dir`` settings are resolved against the competition's
folder when the dataset is opened (so a workspace can move), and against the source file's
folder by ``add_competition``, which writes them absolute.
"""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import date, datetime
from pathlib import Path

from harness.components import registry
from harness.data.manifest import competition_folder
from harness.data.spec import CompetitionSpec
from harness.errors import CompetitionError
from harness.registry import did_you_mean
from harness.workspace import Workspace, check_name

TOML_FILE = "competition.toml"
PATH_KEYS = ("root", "path", "data_dir")
_KEYS = tuple(f.name for f in dataclasses.fields(CompetitionSpec))  # every spec field, nothing else


def toml_files(workspace: Workspace) -> dict[str, Path]:
    """Competition name -> its TOML file, for every ``competitions/*/competition.toml``."""
    folder = Path(workspace.root) / "competitions"
    if not folder.is_dir():
        return {}
    return {p.parent.name: p for p in sorted(folder.glob(f"*/{TOML_FILE}"))}


def _read(path: Path) -> dict:
    try:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise CompetitionError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CompetitionError(f"{path} is not valid TOML: {exc}") from None
    for key in data:
        if key not in _KEYS:
            raise CompetitionError(f"{path}: unknown key {key!r}.{did_you_mean(key, list(_KEYS))}")
    if "dataset" not in data:
        raise CompetitionError(f"{path}: the key 'dataset' is required (e.g. dataset = \"folder\")")
    for section in ("dataset_config", "protocol_config"):
        if not isinstance(data.get(section, {}), dict):
            raise CompetitionError(f"{path}: {section} must be a table")
    data["dataset_config"] = dict(data.get("dataset_config", {}))
    if isinstance(data.get("deadline"), (datetime, date)):  # TOML's own datetime: kept as ISO text
        data["deadline"] = data["deadline"].isoformat()
    return data


def resolve_paths(config: dict, base: Path) -> dict:
    """``config`` with relative ``root``/``path``/``data_dir`` settings made absolute against ``base``."""
    config = dict(config)
    for key in PATH_KEYS:
        if isinstance(config.get(key), str) and not Path(config[key]).expanduser().is_absolute():
            config[key] = str((Path(base) / config[key]).resolve())
    return config


def read_spec(path: Path, name: str | None = None) -> CompetitionSpec:
    """The spec a TOML file declares; ``name`` (its folder's name) wins over a ``name`` key."""
    data = _read(path)
    data["name"] = name or data.get("name") or Path(path).stem
    try:
        return CompetitionSpec(**data).check()
    except TypeError as exc:
        raise CompetitionError(f"{path}: {exc}") from None


def add_competition(workspace: Workspace, file: str | Path, name: str | None = None) -> tuple[CompetitionSpec, Path]:
    """Copy a TOML definition into ``competitions/<name>/competition.toml`` with absolute paths."""
    source = Path(file).expanduser()
    data = _read(source)
    chosen = check_name(name or data.get("name") or source.stem, "competition name")

    if chosen in registry("competitions"):
        raise CompetitionError(f"competition {chosen!r} is already registered by a plugin; choose another name")
    target = competition_folder(workspace, chosen) / TOML_FILE
    if target.exists():
        raise CompetitionError(f"competition {chosen!r} already exists ({target}); delete its folder to replace it")
    data["name"] = chosen
    data["dataset_config"] = resolve_paths(data["dataset_config"], source.parent)
    spec = CompetitionSpec(**data).check()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dump_toml(data), encoding="utf-8")
    return spec, target


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise CompetitionError(f"cannot write {value!r} to TOML")


def dump_toml(data: dict) -> str:
    """TOML for a flat mapping with at most one level of tables (what a competition needs)."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{key}]"] + [f"{k} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
