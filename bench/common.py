"""What every benchmark shares: the result file (``bench/results/<name>.json``) and its targets."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import psutil

Targets = dict[str, tuple[str, float]]


def tree_rss(proc: psutil.Process) -> int | None:
    """Resident bytes of ``proc`` and all its descendants (JVM, Python workers); None if gone."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for child in procs:
        try:
            total += child.memory_info().rss
        except psutil.Error:  # exited between listing and reading
            continue
    return total


def target_met(value: float, op: str, bound: float) -> bool:
    """Whether ``value op bound`` holds (``op`` one of ``>=``, ``>``, ``<=``, ``<``)."""
    checks = {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}
    if op not in checks:
        raise ValueError(f"unknown target operator {op!r}; use one of {sorted(checks)}")
    return bool(checks[op])


def write_result(
    name: str, metrics: dict[str, float], targets: Targets, path: Path
) -> dict[str, bool]:
    """Write the result JSON in the house format; return which targets were met."""
    met = {key: target_met(metrics[key], op, bound) for key, (op, bound) in targets.items()}
    result = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        },
        "metrics": metrics,
        "targets": {k: [op, bound] for k, (op, bound) in targets.items()},
        "met": met,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return met


def print_targets(metrics: dict[str, float], targets: Targets, met: dict[str, bool]) -> None:
    """One line per target: value, bound, MET / MISSED."""
    for key, (op, bound) in targets.items():
        print(f"  {key:<40}{metrics[key]:>12} (target {op} {bound})  "  # noqa: T201
              f"{'MET' if met[key] else 'MISSED'}")  # fmt: skip
