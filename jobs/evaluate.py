"""spark-submit entry point: the evaluate stage.

Run as `spark-submit jobs/evaluate.py --config <yaml>`.
"""

from __future__ import annotations

import sys

from synth.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    """Run `synth evaluate` with these arguments; return the exit code."""
    return cli_main(sys.argv[1:] if argv is None else argv, default_command="evaluate")


if __name__ == "__main__":
    sys.exit(main())
