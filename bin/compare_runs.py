"""Compare two runs' JSON reports (``metrics.json``, ``run_summary.json``, ...) field by field.

For a change that must not change behaviour (a refactor): run ``bin/run`` before and after, then

    .venv/bin/python bin/compare_runs.py BEFORE.json AFTER.json \
        --root-a /old/lakehouse --root-b /new/lakehouse

Every field is compared exactly, except wall-clock times (keys named ``seconds``, ending in
``_seconds`` or ``_s``, and ``measured_at``) and the per-epoch training ``history`` (its
``seconds``); paths are compared after replacing each run's lakehouse root by ``<root>``. Prints
each difference (path, before, after) and exits 1 when there is any, 0 when the runs agree.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

TIME_KEYS = {"seconds", "measured_at"}


def _is_time(key: str) -> bool:
    return key in TIME_KEYS or key.endswith("_seconds") or key.endswith("_s")


def differences(a: Any, b: Any, roots: tuple[str, str], path: str = "") -> list[str]:
    """Return one line per field where ``a`` and ``b`` differ (times and roots left out)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[str] = []
        for key in sorted(set(a) | set(b)):
            if _is_time(key):
                continue
            where = f"{path}.{key}"
            if key not in a or key not in b:
                found.append(f"{where}: only in {'the first' if key in a else 'the second'} run")
                continue
            found += differences(a[key], b[key], roots, where)
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [
            line
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for line in differences(x, y, roots, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    if isinstance(a, str) and isinstance(b, str):
        a, b = a.replace(roots[0], "<root>"), b.replace(roots[1], "<root>")
    return [] if a == b else [f"{path or '<top>'}: {a!r} vs {b!r}"]


def main(argv: list[str] | None = None) -> int:
    """Compare two JSON files; 1 when they differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--root-a", default="\0", help="the first run's lakehouse root")
    parser.add_argument("--root-b", default="\0", help="the second run's lakehouse root")
    parser.add_argument("--show", type=int, default=50, help="differences to print at most")
    args = parser.parse_args(argv)
    first = json.loads(args.first.read_text(encoding="utf-8"))
    second = json.loads(args.second.read_text(encoding="utf-8"))
    found = differences(first, second, (args.root_a, args.root_b))
    for line in found[: args.show]:
        sys.stdout.write(line + "\n")
    sys.stdout.write(f"{len(found)} difference(s) between {args.first} and {args.second}\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
