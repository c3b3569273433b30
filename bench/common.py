"""What every benchmark shares: paths, machine, peak memory, child processes, the result file.

The result file is ``bench/results/<name>.json``: the measured figures, the targets and which
were met, in one format for all (:func:`write_result`). Spark sessions come from
:func:`local_session`.

The benchmarks are modules of the ``bench`` package, run from the repository root as
``python -m bench.<name>``; a step that runs in a child process is started the same way
(:func:`run_module`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "work"
SHARED_DATA = Path(os.environ.get("SYNTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
GIB = 1024**3
SAMPLE_INTERVAL_S = 0.2

Targets = dict[str, tuple[str, float]]

# the real samples the pipeline benchmarks run beside the simulator: (example config, data
# folder relative to the repo root)
REES46_DATASETS: dict[str, tuple[str, str]] = {
    "rees46_multi_category": (
        "configs/rees46_multi_category.yaml",
        "../shared/data/rees46-multi-category-store",
    ),
    "rees46_cosmetics": ("configs/rees46_cosmetics.yaml", "../shared/data/rees46-cosmetics-shop"),
}


def data_absent(name: str, data: str | None) -> bool:
    """Whether a dataset's data folder is missing (says so, the dataset is skipped)."""
    if data is None or (ROOT / data).is_dir():
        return False
    print(f"{name}: {data} is absent; skipped")  # noqa: T201
    return True


def job_config(config: str, lakehouse: Path, behaviour: str) -> dict[str, Any]:
    """An example config with ``synthesize.fusion.behaviour.model`` and the lakehouse set."""
    cfg = yaml.safe_load((ROOT / config).read_text())
    fusion = cfg.setdefault("synthesize", {}).setdefault("fusion", {})
    fusion.setdefault("behaviour", {})["model"] = behaviour
    cfg["lakehouse"] = str(lakehouse)
    return dict(cfg)


# --------------------------------------------------------------------------------------------
# The machine and peak memory
# --------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The result file's ``machine``: logical cores and total memory in GiB (one decimal)."""
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


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


class PeakRss:
    """Samples the summed RSS of a process and all its descendants in a background thread.

    The peak is kept overall (``peak_bytes``) and per named phase (``by_phase``, see
    :meth:`phase`). RSS counts pages shared between processes once per process, so for forked
    Python workers the sum slightly overstates; for one Python process and its JVM it is the real
    footprint.

    Args:
        pid: The process to watch (default: this one).
        interval_s: Seconds between samples.
        initial_phase: The phase samples count towards outside any :meth:`phase` block.
    """

    def __init__(
        self,
        pid: int | None = None,
        interval_s: float = SAMPLE_INTERVAL_S,
        initial_phase: str = "setup",
    ) -> None:
        self._proc = psutil.Process(pid)
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
        self._lock = threading.Lock()
        self.current = initial_phase
        self.peak_bytes = 0
        self.by_phase: dict[str, int] = {}

    def _sample(self) -> None:
        total = tree_rss(self._proc)
        if total is None:
            return
        with self._lock:
            self.peak_bytes = max(self.peak_bytes, total)
            self.by_phase[self.current] = max(self.by_phase.get(self.current, 0), total)

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self._interval):
                return

    def set_phase(self, name: str) -> None:
        """Attribute the samples from now on to ``name`` (for phases another process reports)."""
        self._sample()
        with self._lock:
            self.current = name
        self._sample()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Attribute the samples taken inside the block to ``name`` (one sample at each end)."""
        with self._lock:
            previous, self.current = self.current, name
        self._sample()
        try:
            yield
        finally:
            self._sample()
            with self._lock:
                self.current = previous

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------------------------
# Child processes and Spark sessions
# --------------------------------------------------------------------------------------------


def run_module(module: str, *args: str, cwd: Path | None = None) -> tuple[int, int]:
    """Run ``python -m <module> <args>`` in a child process while sampling its memory.

    The child finds the ``bench`` package from any working folder (``cwd``): the repository
    root leads its ``PYTHONPATH``.

    Returns:
        The child's exit code and the peak RSS in bytes of its process tree.
    """
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    child = subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, env=env)
    with PeakRss(child.pid) as peak:
        rc = child.wait()
    return rc, peak.peak_bytes


def local_session(
    app: str,
    *,
    driver_memory: str | None = None,
    local_dir: Path | None = None,
    warehouse_dir: Path | None = None,
    conf: Mapping[str, str] | None = None,
) -> Any:
    """A Spark session from the ``local`` profile, with the benchmark's own settings on top.

    Args:
        app: The application name.
        driver_memory: ``spark.driver.memory`` (the JVM heap in local mode).
        local_dir: ``spark.local.dir``: shuffle and spill files (not /tmp).
        warehouse_dir: ``spark.sql.warehouse.dir``.
        conf: Any other Spark conf.
    """
    from synth.spark import build_session

    overrides: dict[str, str] = {}
    if driver_memory is not None:
        overrides["spark.driver.memory"] = driver_memory
    if local_dir is not None:
        overrides["spark.local.dir"] = str(local_dir)
    if warehouse_dir is not None:
        overrides["spark.sql.warehouse.dir"] = str(warehouse_dir)
    overrides.update(conf or {})
    return build_session("local", app_name=app, overrides=overrides or None)


# --------------------------------------------------------------------------------------------
# The result file
# --------------------------------------------------------------------------------------------


def target_met(value: float, op: str, bound: float) -> bool:
    """Whether ``value op bound`` holds (``op`` one of ``>=``, ``>``, ``<=``, ``<``)."""
    checks = {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}
    if op not in checks:
        raise ValueError(f"unknown target operator {op!r}; use one of {sorted(checks)}")
    return bool(checks[op])


def targets_met(metrics: Mapping[str, float], targets: Targets) -> dict[str, bool]:
    """Which targets ``metrics`` meets, by target name."""
    return {key: target_met(metrics[key], op, bound) for key, (op, bound) in targets.items()}


def result_document(
    name: str,
    metrics: dict[str, Any],
    targets: Targets,
    met: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """The result file's content in the house format.

    Args:
        name: The benchmark's name (``benchmark``).
        metrics: The measured figures.
        targets: Metric name -> (operator, bound).
        met: Which targets were met (default: judged on ``metrics``).
    """
    return {
        "benchmark": name,
        "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "machine": machine(),
        "metrics": metrics,
        "targets": {k: [op, bound] for k, (op, bound) in targets.items()},
        "met": targets_met(metrics, targets) if met is None else met,
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as indented JSON (parent folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def write_result(
    name: str, metrics: dict[str, float], targets: Targets, path: Path
) -> dict[str, bool]:
    """Write the result JSON in the house format; return which targets were met."""
    result = result_document(name, metrics, targets)
    write_json(path, result)
    met: dict[str, bool] = result["met"]
    return met


def print_targets(
    metrics: Mapping[str, Any],
    targets: Targets,
    met: Mapping[str, bool],
    *,
    name_width: int = 40,
    value_spec: str = ">12",
    bound_spec: str = "",
) -> None:
    """One line per target: name, value, bound, MET / MISSED.

    Args:
        metrics: The measured figures.
        targets: Metric name -> (operator, bound).
        met: Which targets were met.
        name_width: Width of the name column.
        value_spec: Format spec of the value (e.g. ``>14,``).
        bound_spec: Format spec of the bound (e.g. ``,``).
    """
    for key, (op, bound) in targets.items():
        verdict = "MET" if met[key] else "MISSED"
        print(
            f"  {key:<{name_width}}{metrics[key]:{value_spec}} "  # noqa: T201
            f"(target {op} {bound:{bound_spec}})  {verdict}"
        )
