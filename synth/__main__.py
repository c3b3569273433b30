"""``python -m synth``: the command line (see :mod:`synth.cli`)."""

from __future__ import annotations

import sys

from synth.cli import main

if __name__ == "__main__":
    sys.exit(main())
