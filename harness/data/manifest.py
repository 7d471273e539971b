"""A competition's two workspace files, and the full manifest kept in the answers store.

The full manifest is ``item_id,label,role,public`` (public is 1/0 for queries, empty otherwise), one
row per used item, sorted by item id, ``\\n`` line endings. Its SHA-256 names the competition's
answers (``manifest_sha256``, recorded on every leaderboard row); it lives in the answers store
(:mod:`harness.data.answer_store`), never in the workspace.

``competitions/<name>/manifest.csv`` is the participant's view: ``item_id,label,role`` with the
labels of train and val items only. ``competitions/<name>/competition.json``: the spec, both SHA-256s,
sizes per role and the dataset's fingerprint. Both are written atomically, once; every later use
checks them. A workspace written before the answers store (a full manifest in the workspace) moves
its answers to the store on first use.

This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.atomic import write_atomic
from harness.data.answer_store import store_answers
from harness.data.arrow import integers, pyarrow, strings, to_numpy, to_strings
from harness.data.spec import BINDING_FIELDS
from harness.errors import CompetitionError
from harness.workspace import Workspace, check_name

if TYPE_CHECKING:
    from pyarrow import Array

MANIFEST_FILE = "manifest.csv"
# Given competition.json, the full manifest the competition's definition yields; None when it has none.
Expected = Callable[[dict], bytes | None] | None
INFO_FILE = "competition.json"
HEADER = "item_id,label,role,public"
PARTICIPANT_HEADER = "item_id,label,role"
HIDDEN_ROLES = ("query", "gallery")
NO_LABEL = -1  # a query or gallery item in the participant's view
COLUMNAR_ABOVE_BYTES = 1 << 20  # below this, parsing in Python costs less than importing pyarrow


@dataclass(frozen=True)
class Manifest:
    """The parsed manifest: parallel arrays, one entry per row."""

    ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int64; NO_LABEL for query and gallery items in the participant's view
    roles: np.ndarray  # (N,) str
    public: np.ndarray  # (N,) bool, False for non-queries (and for every item in the participant's view)


def manifest_bytes(
    ids: Sequence[str], labels: Sequence[int] | np.ndarray, roles: Sequence[str], public: Sequence[bool] | np.ndarray
) -> bytes:
    """The canonical manifest text for rows already in id order."""
    lines = [HEADER]
    for item, label, role, pub in zip(ids, labels, roles, public):
        flag = ("1" if pub else "0") if role == "query" else ""
        lines.append(f"{item},{int(label)},{role},{flag}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def participant_bytes(ids: Sequence[str], labels: Sequence[int] | np.ndarray, roles: Sequence[str]) -> bytes:
    """The workspace's manifest text: labels of train and val items only, no public/private membership."""
    lines = [PARTICIPANT_HEADER]
    for item, label, role in zip(ids, labels, roles):
        lines.append(f"{item},{'' if role in HIDDEN_ROLES else int(label)},{role}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def participant_view(full: Manifest) -> bytes:
    """:func:`participant_bytes` of a parsed manifest; a large one joined column-wise by pyarrow (a Python
    string per row took a 540,000-row migration to 411 MB at its peak, against 274 MB, in twice the time)."""
    if full.ids.nbytes <= COLUMNAR_ABOVE_BYTES:
        return participant_bytes(full.ids.tolist(), full.labels.tolist(), full.roles.tolist())
    pa = pyarrow()
    import pyarrow.compute as pc

    hidden = pa.array(np.isin(full.roles, HIDDEN_ROLES))
    labels = pc.if_else(hidden, pa.scalar("", pa.string()), pc.cast(integers(full.labels), pa.string()))
    rows = pc.binary_join_element_wise(strings(full.ids), labels, strings(full.roles), pa.scalar(",", pa.string()))
    body = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows), "\n")[0]
    return f"{PARTICIPANT_HEADER}\n".encode() + body.as_buffer().to_pybytes() + b"\n"


def parse_manifest(data: bytes, where: str = MANIFEST_FILE) -> Manifest:
    """A full manifest or a participant's view (hidden labels read as NO_LABEL).

    A large manifest is parsed column-wise by pyarrow; one it cannot parse exactly as the line
    reader would (a malformed row, a label that is not an integer) goes through the line reader,
    which places the problem on its line.
    """
    if len(data) > COLUMNAR_ABOVE_BYTES:
        parsed = _parse_columnar(data)
        if parsed is not None:
            return parsed
    return _parse_lines(data, where)


def _parse_columnar(data: bytes) -> Manifest | None:
    """The manifest through pyarrow's CSV reader (both cores, no Python object per row); None if in doubt."""

    header = data[: data.find(b"\n")]
    if header not in (HEADER.encode(), PARTICIPANT_HEADER.encode()):
        return None
    # bench writes neither quotes nor CRs nor NULs; pyarrow would read a quoted newline split at a
    # block edge, a lone CR as a row end, an empty line as a row, and NumPy drops trailing NULs
    if any(mark in data for mark in (b'"', b"\r", b"\x00", b"\n\n")):
        return None
    pa = pyarrow()
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    names = header.decode().split(",")
    strings = dict.fromkeys(names, pa.string())
    options = pv.ConvertOptions(column_types=strings, strings_can_be_null=False, quoted_strings_can_be_null=False)
    try:
        table = pv.read_csv(
            pa.py_buffer(data),
            read_options=pv.ReadOptions(skip_rows=1, column_names=names),
            parse_options=pv.ParseOptions(ignore_empty_lines=False),
            convert_options=options,
        ).combine_chunks()
        columns = {name: table.column(name).chunk(0) if table.num_rows else pa.array([], pa.string()) for name in names}
        labels, empty, one = columns["label"], pa.scalar("", pa.string()), pa.scalar("1", pa.string())
        no_label = pa.scalar(str(NO_LABEL), pa.string())  # typed scalars: a bare str makes pyarrow import pandas
        labels = pc.if_else(pc.equal(labels, empty), no_label, labels)
        if len(labels) and not pc.all(pc.match_substring_regex(labels, r"^-?[0-9]{1,18}$")).as_py():
            return None  # pyarrow's cast also takes hex ("0x10"); the line reader takes int()'s forms
        labels = pc.cast(labels, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a row of the wrong width: worded by the line reader
    public = to_numpy(pc.equal(columns["public"], one)) if "public" in columns else np.zeros(len(labels), dtype=bool)
    return Manifest(to_strings(columns["item_id"]), to_numpy(labels), _few_strings(columns["role"]), public)


def _few_strings(array: Array) -> np.ndarray:
    """A string array with few distinct values (roles) as NumPy, converting each value once."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(array)
    return to_strings(encoded.dictionary)[to_numpy(encoded.indices)]


def _parse_lines(data: bytes, where: str) -> Manifest:
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8")))
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CompetitionError(f"{where} is not a readable manifest: {exc}") from None
    if header not in (HEADER.split(","), PARTICIPANT_HEADER.split(",")):
        raise CompetitionError(f"{where}: header must be {HEADER} or {PARTICIPANT_HEADER}")
    width = len(header)
    ids, labels, roles, public = [], [], [], []
    line = 2  # where a row the csv module cannot read is reported, if it is the first
    try:
        for line, row in enumerate(reader, start=2):
            if len(row) != width:
                raise CompetitionError(f"{where}, line {line}: expected {width} fields, got {len(row)}")
            ids.append(row[0])
            labels.append(int(row[1]) if row[1] != "" else NO_LABEL)
            roles.append(row[2])
            public.append(width == 4 and row[3] == "1")
    except (ValueError, csv.Error) as exc:
        raise CompetitionError(f"{where}, line {line}: {exc}") from None
    return Manifest(
        np.asarray(ids, dtype=str),
        np.asarray(labels, dtype=np.int64),
        np.asarray(roles, dtype=str),
        np.asarray(public, dtype=bool),
    )


def is_full(data: bytes) -> bool:
    """Whether manifest bytes are a full manifest (hidden labels included), not a participant's view."""
    return data.startswith((HEADER + "\n").encode())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def info_json(info: dict) -> bytes:
    return (json.dumps(info, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_info(folder: Path) -> dict | None:
    path = folder / INFO_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompetitionError(f"cannot read {path}: {exc}; delete the folder to rebuild") from None


def read_checked(folder: Path, info: dict, expected: Expected) -> tuple[Manifest, str]:
    """The participant's manifest and the competition's manifest SHA-256 (the full manifest's).

    Refused unless the file is the one recorded in competition.json. A workspace from before the
    answers store is migrated first: its full manifest moves to the store (see :func:`migrate`).
    """
    info = migrate_if_needed(folder, info, expected)
    data, sha = checked_bytes(folder, info)
    return parse_manifest(data, str(folder / MANIFEST_FILE)), sha


def checked_bytes(folder: Path, info: dict) -> tuple[bytes, str]:
    """The participant manifest's bytes and the manifest SHA-256, read only: a workspace from before the
    answers store is refused (:func:`migrate_if_needed` is the write step that moves its answers)."""
    path = folder / MANIFEST_FILE
    data = _manifest_bytes(path, folder)
    if is_full(data) or "participant_manifest_sha256" not in info:
        raise CompetitionError(
            f"{folder} is from before the answers store; `bench validate` or `bench submit` moves its answers there"
        )
    actual, recorded = sha256_bytes(data), str(info.get("participant_manifest_sha256", ""))
    if actual != recorded:
        raise CompetitionError(
            f"manifest {path} changed since it was written (sha {recorded[:12]}, now {actual[:12]}); "
            f"delete {rebuild_hint(folder)} to rebuild"
        )
    return data, str(info["manifest_sha256"])


def _manifest_bytes(path: Path, folder: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise CompetitionError(f"manifest {path} is missing; delete {rebuild_hint(folder)} to rebuild") from None


def migrate_if_needed(folder: Path, info: dict, expected: Expected) -> dict:
    """The write step for a workspace from before the answers store: move its hidden labels to the store.
    Returns competition.json's (possibly new) contents.

    ``expected(info)`` gives the full manifest the competition's definition yields (None: it has none);
    a migration installs nothing else (see :func:`harness.data.competition.expected_answers`)."""
    data = _manifest_bytes(folder / MANIFEST_FILE, folder)
    if is_full(data) or "participant_manifest_sha256" not in info:
        _, info = migrate(folder, info, data, expected)
    return info


def migrate(folder: Path, info: dict, data: bytes, expected: Expected) -> tuple[bytes, dict]:
    """Move a pre-answers-store workspace's hidden labels to the store; returns the new (file, info)."""

    path = folder / MANIFEST_FILE
    recorded = str(info.get("manifest_sha256", ""))
    if not is_full(data) or sha256_bytes(data) != recorded:
        raise CompetitionError(
            f"manifest {path} does not match {INFO_FILE} (neither a recorded participant manifest nor the "
            f"full manifest of sha {recorded[:12]}); delete {rebuild_hint(folder)} to rebuild"
        )
    full = parse_manifest(data, str(path))
    name = folder.name
    if expected is not None and (wanted := expected(info)) is not None and data != wanted:
        raise CompetitionError(
            f"manifest {path} is not the split competition {folder.name!r}'s definition gives (labels, roles or "
            f"public queries differ); delete {rebuild_hint(folder)} to rebuild"
        )
    store_answers(name, recorded, data, {key: info.get(key) for key in BINDING_FIELDS})
    view = participant_view(full)
    info = {
        **info,
        "participant_manifest_sha256": sha256_bytes(view),
        "public_queries": int(full.public.sum()),
    }
    write_atomic(folder / INFO_FILE, info_json(info))  # first: a crash here leaves a full manifest to migrate again
    write_atomic(path, view)
    return view, info


def rebuild_hint(folder: Path) -> str:
    """What to delete to rebuild: the folder, unless it holds the competition's own TOML definition."""
    if (folder / "competition.toml").exists():
        return f"{folder / MANIFEST_FILE} and {folder / INFO_FILE}"
    return f"the folder {folder}"


def competition_folder(workspace: Workspace, name: str) -> Path:
    """``competitions/<name>`` in the workspace, not created."""

    return Path(workspace.root) / "competitions" / check_name(name, "competition name")
