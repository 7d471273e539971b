"""``python -m harness.cli``: the ``bench`` command; what ``bench run --nproc`` and torchrun start per rank."""

from harness.cli import main

if __name__ == "__main__":
    main()
