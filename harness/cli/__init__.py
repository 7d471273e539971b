"""Command line: ``bench``. The only package that prints or exits.

``bench --help`` lists the commands from ``app.COMMANDS`` and imports none of their modules; a command's
module is imported when that command runs or shows its own help. Torch and the other heavy libraries
load inside the functions that need them (tests/test_architecture.py lists every such import).
"""

# First, before anything imports torch or numpy: the portable instruction set (train.deterministic).
from harness.train.isa import pin_for_argv

pin_for_argv()

import atexit  # noqa: E402
import gc  # noqa: E402

from harness.cli.app import app  # noqa: E402


def main() -> None:
    # At exit, a frozen heap skips the interpreter's last full garbage collection over every module
    # and object: measured 0.2-0.4 s off `bench validate` of a 100,000 x 100 file on 2 cores.
    atexit.register(gc.freeze)
    app()


__all__ = ["app", "main"]
