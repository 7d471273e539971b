"""What the trusted scorer process does (see :mod:`harness.scoring.trusted`): a submit, or ``--verify``.

``--verify`` runs here too, never in the process that asks: a process that has loaded a plugin (or a
patched metric module) would rescore with the same patched code that recorded the score.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from harness.scoring.trusted import answer, run_trusted


def verify_trusted(root: Path, competition: str) -> tuple[int, list[str]]:
    """(rows, findings) of :func:`harness.scoring.verify.verify_board`, worked out by the trusted process."""
    reply = run_trusted({"task": "verify", "root": str(root), "competition": competition})
    return int(reply["rows"]), [str(finding) for finding in reply["findings"]]


def main() -> int:
    request = json.load(sys.stdin)
    if request.get("task") == "verify":
        from harness.scoring.verify import verify_board
        from harness.workspace import Workspace

        def work() -> dict:
            rows, findings = verify_board(Workspace(Path(request["root"])), request["competition"])
            return {"rows": len(rows), "findings": findings}

        return answer(work)
    from harness.scoring import submit

    sys.stdin = io.StringIO(json.dumps(request))  # the submit side reads its request from stdin
    return submit._trusted_main()
