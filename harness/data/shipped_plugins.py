"""Which files of the built-in ``plugins`` package bench ships: each file's path and SHA-256, kept in
``harness/data/shipped_plugins.json``. A file in ``plugins/`` that is not listed with its content is a
file dropped in (or edited): it is probed and loaded like any plugin from outside, after the shipped
ones, and may not take a shipped name. Whether a file is built-in never depends on git.

After changing a file under ``plugins/``, regenerate the list: ``python -m harness.data.shipped_plugins``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import cache
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent / "shipped_plugins.json"
REGENERATE = "python -m harness.data.shipped_plugins"


def package_files(root: Path) -> dict[str, str]:
    """Every ``*.py`` under the package folder ``root``: its path relative to ``root`` (``/``) -> SHA-256."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


@cache
def shipped() -> dict[str, str]:
    """The shipped files of the ``plugins`` package ({} when the list is missing: nothing counts as shipped)."""
    try:
        data = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if isinstance(data, dict) else {}


def is_shipped(path: Path, root: Path, files: dict[str, str] | None = None) -> bool:
    """Whether ``path`` (inside the package folder ``root``) is a shipped file, byte for byte."""
    files = shipped() if files is None else files
    try:
        relative = path.resolve().relative_to(root.resolve()).as_posix()
        return files.get(relative) == hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, ValueError):
        return False


def builtin_root() -> Path:
    import plugins

    return Path(plugins.__file__).resolve().parent


def main() -> int:
    files = package_files(builtin_root())
    MANIFEST.write_text(json.dumps({"regenerate": REGENERATE, "files": files}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {MANIFEST} ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
