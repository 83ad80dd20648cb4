"""``python -m queue_core``: the ``qtk`` command."""

from __future__ import annotations

import sys


def main() -> None:
    """Run ``qtk`` (the console script of the ``cli`` extra)."""
    try:
        from queue_core.cli import main as command
    except ImportError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        sys.exit(2)
    command(prog_name="qtk")


if __name__ == "__main__":
    main()
