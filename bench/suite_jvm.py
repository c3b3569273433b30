"""The test suite's JVM options: what they save on the suite's small jobs, against Spark's defaults.

``tests/jvm.py`` gives every Spark driver JVM the suite starts (its own session, and each
spark-submit, `synth run` or notebook subprocess) the parallel collector, interpreted Spark
code (whole-stage code generation off, ``factoryMode=NO_CODEGEN``) and a class-data-sharing
archive of Spark's classes; the subprocesses also run with the client compiler only
(``SUBPROCESS_JVM_OPTIONS``). This benchmark times the two shapes of work the suite has, with no
options (the baseline: Spark's and the JVM's defaults), with the tests' options (``tests``: as
the suite's session has them) and with the subprocesses' (``subprocess``), the first shape also
with the archive alone:

- **a cold driver per stage**, as the Airflow DAG test and the spark-submit tests run: one
  spark-submit of ``jobs/<stage>.py`` each for ``filter``, ``fuse`` and ``report`` on a small
  simulated lakehouse (the suite's ``SMALL_PIPELINE_JOB``, prepared first, untimed);
- **one driver for a whole job**, as the suite's session and its `synth run` subprocesses do:
  ``python -m synth run`` of the same job on a fresh lakehouse.

Modes alternate, ``--repeats`` rounds; medians are reported, as wall seconds and as CPU seconds
(the whole machine's busy time while the command ran: run it on an otherwise idle machine). The
suite runs two test workers on two cores, so there the CPU a driver uses is what the other
worker waits for. The archive is built first when missing (its build time is reported, not
compared).

Run: ``python -m bench.suite_jvm``. Writes ``bench/results/suite_jvm.json``.

Targets: the cold stage drivers at least 1.15 times as fast with the tests' options as without;
the whole job at least 1.08 times; the client compiler only (``subprocess`` against ``tests``)
at least 1.15 times less CPU for the cold stage drivers and 1.05 times less for the whole job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.common import RESULTS, ROOT, print_targets, write_result
from synth.jars import delta_jar_paths
from tests.factories import SMALL_PIPELINE_JOB
from tests.jvm import SUBPROCESS_JVM_OPTIONS, TEST_JVM_OPTIONS, archive_options, archive_path

WORK = ROOT / "bench" / "work" / "suite_jvm"
STAGES = ("filter", "fuse", "report")
MODES = ("default", "archive", "tests", "subprocess")
JOB_MODES = ("default", "tests", "subprocess")


def _env(mode: str, archive: tuple[str, ...]) -> dict[str, str]:
    options = {
        "default": (),
        "archive": archive,
        "tests": (*TEST_JVM_OPTIONS, *archive),
        "subprocess": (*TEST_JVM_OPTIONS, *archive, *SUBPROCESS_JVM_OPTIONS),
    }[mode]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_GATEWAY"))}
    env.update(
        SPARK_SUBMIT_OPTS=" ".join(options),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        SYNTH_DRIVER_MEMORY="2g",
        SYNTH_SHUFFLE_PARTITIONS="2",
        PYTHONPATH=str(ROOT),
    )
    return env


def _busy_s() -> float:
    """The machine's busy CPU seconds so far, over all cores."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _timed(command: list[str], env: dict[str, str], what: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``command`` (CPU: the whole machine's busy time meanwhile)."""
    busy, began = _busy_s(), time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - began, _busy_s() - busy
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, cpu


def _config(lakehouse: Path) -> Path:
    path = lakehouse.with_suffix(".yaml")
    path.write_text(SMALL_PIPELINE_JOB.format(lakehouse=lakehouse), encoding="utf-8")
    return path


def _job(mode: str, archive: tuple[str, ...], n: int) -> tuple[float, float]:
    lakehouse = WORK / f"job-{mode}-{n}"
    shutil.rmtree(lakehouse, ignore_errors=True)
    command = [sys.executable, "-m", "synth", "run", "--config", str(_config(lakehouse))]
    timed = _timed(command, _env(mode, archive), f"synth run ({mode})")
    shutil.rmtree(lakehouse, ignore_errors=True)
    return timed


def _stage(stage: str, config: Path, mode: str, archive: tuple[str, ...]) -> tuple[float, float]:
    spark_submit = Path(sys.executable).parent / "spark-submit"
    jars = ",".join(str(p) for p in delta_jar_paths())
    command = [str(spark_submit), "--master", "local[2]", "--jars", jars]
    command += [str(ROOT / "jobs" / f"{stage}.py"), "--config", str(config)]
    return _timed(command, _env(mode, archive), f"spark-submit jobs/{stage}.py ({mode})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="timed rounds of every mode")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    missing = not archive_path().is_file()
    began = time.perf_counter()
    archive = archive_options()  # builds it when missing
    built = time.perf_counter() - began if missing else None
    if not archive:
        raise SystemExit("no class archive could be built (tests/jvm.py said why above)")
    # the stages' lakehouse: the whole small job once, untimed
    lakehouse = WORK / "stages"
    shutil.rmtree(lakehouse, ignore_errors=True)
    config = _config(lakehouse)
    _timed(
        [sys.executable, "-m", "synth", "run", "--config", str(config)],
        _env("default", ()),
        "set-up",
    )
    stage_s: dict[str, list[float]] = {m: [] for m in MODES}
    stage_cpu: dict[str, list[float]] = {m: [] for m in MODES}
    job_s: dict[str, list[float]] = {m: [] for m in JOB_MODES}
    job_cpu: dict[str, list[float]] = {m: [] for m in JOB_MODES}
    for n in range(args.repeats):
        for mode in MODES:
            timed = {s: _stage(s, config, mode, archive) for s in STAGES}
            stage_s[mode].append(sum(wall for wall, _ in timed.values()))
            stage_cpu[mode].append(sum(cpu for _, cpu in timed.values()))
            listed = ", ".join(f"{s} {w:.1f}s (CPU {c:.1f}s)" for s, (w, c) in timed.items())
            print(f"round {n + 1}, {mode}: cold stage drivers {listed}")  # noqa: T201
        for mode in JOB_MODES:
            wall, cpu = _job(mode, archive, n)
            job_s[mode].append(wall)
            job_cpu[mode].append(cpu)
            print(f"round {n + 1}, {mode}: whole job {wall:.1f}s (CPU {cpu:.1f}s)")  # noqa: T201
    median = {m: statistics.median(v) for m, v in stage_s.items()}
    median_cpu = {m: statistics.median(v) for m, v in stage_cpu.items()}
    job = {m: statistics.median(v) for m, v in job_s.items()}
    job_c = {m: statistics.median(v) for m, v in job_cpu.items()}
    metrics = {
        "stage_drivers_s_default": round(median["default"], 1),
        "stage_drivers_s_archive": round(median["archive"], 1),
        "stage_drivers_s_tests": round(median["tests"], 1),
        "stage_drivers_speedup": round(median["default"] / median["tests"], 2),
        "archive_saving_per_driver_s": round(
            (median["default"] - median["archive"]) / len(STAGES), 2
        ),
        "job_s_default": round(job["default"], 1),
        "job_s_tests": round(job["tests"], 1),
        "job_speedup": round(job["default"] / job["tests"], 2),
        # the client compiler only, as the suite's subprocess drivers run
        "stage_drivers_s_subprocess": round(median["subprocess"], 1),
        "stage_drivers_cpu_s_tests": round(median_cpu["tests"], 1),
        "stage_drivers_cpu_s_subprocess": round(median_cpu["subprocess"], 1),
        "stage_drivers_cpu_saving_c1": round(median_cpu["tests"] / median_cpu["subprocess"], 2),
        "job_s_subprocess": round(job["subprocess"], 1),
        "job_cpu_s_tests": round(job_c["tests"], 1),
        "job_cpu_s_subprocess": round(job_c["subprocess"], 1),
        "job_cpu_saving_c1": round(job_c["tests"] / job_c["subprocess"], 2),
        "archive_mb": round(archive_path().stat().st_size / 1e6, 1),
    }
    if built is not None:
        metrics["archive_build_s"] = round(built, 1)
    targets = {
        "stage_drivers_speedup": (">=", 1.15),
        "job_speedup": (">=", 1.08),
        "stage_drivers_cpu_saving_c1": (">=", 1.15),
        "job_cpu_saving_c1": (">=", 1.05),
    }
    met = write_result("suite_jvm", metrics, targets, RESULTS / "suite_jvm.json")
    print_targets(metrics, targets, met)
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
