"""The whole default pipeline at 1M, 3M and 10M simulated events: time and peak memory per stage.

Each size runs the main job exactly as ``bin/run`` does (``python -m synth run`` on
``configs/simulator.yaml``, one process, one local Spark session) with only
``source.simulator.events`` changed, into a fresh lakehouse under ``bench/work/pipeline_scale/``.
The stage being run is read from the job's own progress lines (``[stage] started`` / ``done in``),
and the summed RSS of the job's process tree (Python driver, JVM, Python workers) is sampled and
attributed to it.

Baseline: the 1M-event run (the default job). Targets (issue 19):

- ``events_10m.total_seconds <= 2700``: the 10M-event pipeline through ``report`` in 45 minutes;
- ``events_1m.total_seconds <= 360``: the default job in 6 minutes (``bin/run``, set-up done);
- ``events_1m.recommend_seconds <= 120``;
- ``recommend_seconds_per_user_ratio_<n> <= 1``: the recommend stage's time per user at 3M and
  10M events at most its time per user at 1M (it grows at most linearly with users).

Usage::

    .venv/bin/python -m bench.pipeline_scale                          # 1M, 3M, 10M
    .venv/bin/python -m bench.pipeline_scale --events 1000000         # the default job only

Writes ``bench/results/pipeline_scale.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.common import (
    GIB,
    RESULTS,
    ROOT,
    WORK,
    PeakRss,
    Targets,
    print_targets,
    write_result,
)

RESULT = RESULTS / "pipeline_scale.json"
SIZES = (1_000_000, 3_000_000, 10_000_000)
_STARTED = re.compile(r"^\[(\w+)\] started")
_DONE = re.compile(r"^\[(\w+)\] done in ([0-9.]+)s")


def label(events: int) -> str:
    """``events_1m`` for 1,000,000 events."""
    return f"events_{events // 1_000_000}m" if events % 1_000_000 == 0 else f"events_{events}"


def run_size(events: int, work: Path) -> dict[str, float]:
    """Run the default job at ``events`` events; its per-stage seconds and peak RSS (GiB)."""
    folder = work / label(events)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    cfg = yaml.safe_load((ROOT / "configs" / "simulator.yaml").read_text())
    cfg["lakehouse"] = str(folder / "lakehouse")
    cfg["source"]["simulator"]["events"] = events
    job = folder / "job.yaml"
    job.write_text(yaml.safe_dump(cfg, sort_keys=False))
    log_path = folder / "run.log"
    began = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "synth", "run", "--config", str(job)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        out: dict[str, float] = {}
        with PeakRss(child.pid, initial_phase="setup") as peak:
            assert child.stdout is not None
            for line in child.stdout:
                log.write(line)
                log.flush()
                if started := _STARTED.match(line):
                    peak.set_phase(started.group(1))
                elif done := _DONE.match(line):
                    out[f"{done.group(1)}_seconds"] = float(done.group(2))
                    peak.set_phase("between")
            rc = child.wait()
    if rc != 0:
        raise SystemExit(f"{label(events)}: the job failed (exit {rc}); see {log_path}")
    out["total_seconds"] = round(time.perf_counter() - began, 1)
    out["peak_rss_gb"] = round(peak.peak_bytes / GIB, 2)
    for stage, peak_bytes in peak.by_phase.items():
        if stage not in ("setup", "between"):
            out[f"{stage}_peak_rss_gb"] = round(peak_bytes / GIB, 2)
    reports = list((folder / "lakehouse" / "_reports").glob("*/recommend.json"))
    if reports:
        out["recommend_users"] = float(json.loads(reports[0].read_text())["data"]["users"])
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the sizes, write the result file, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--work", type=Path, default=WORK / "pipeline_scale")
    args = parser.parse_args(argv)
    metrics: dict[str, float] = {}
    per_size: dict[int, dict[str, float]] = {}
    for events in sorted(args.events):
        print(f"{label(events)}: running the default job ...", flush=True)  # noqa: T201
        per_size[events] = run_size(events, args.work)
        for key, value in per_size[events].items():
            metrics[f"{label(events)}.{key}"] = value
        print(f"{label(events)}: {json.dumps(per_size[events])}", flush=True)  # noqa: T201
    targets: Targets = {}
    smallest = min(per_size)
    if 10_000_000 in per_size:
        targets["events_10m.total_seconds"] = ("<=", 2700.0)
    if 1_000_000 in per_size:
        targets["events_1m.total_seconds"] = ("<=", 360.0)
        targets["events_1m.recommend_seconds"] = ("<=", 120.0)
    base = per_size[smallest]
    for events, got in per_size.items():
        if events == smallest or "recommend_users" not in got or "recommend_users" not in base:
            continue
        per_user = got["recommend_seconds"] / got["recommend_users"]
        base_per_user = base["recommend_seconds"] / base["recommend_users"]
        key = f"recommend_seconds_per_user_ratio_{label(events)}"
        metrics[key] = round(per_user / base_per_user, 3)
        targets[key] = ("<=", 1.0)
    met = write_result("pipeline_scale", metrics, targets, RESULT)
    print(f"pipeline_scale -> {RESULT}")  # noqa: T201
    print_targets(metrics, targets, met, name_width=52)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
