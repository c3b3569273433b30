"""Helpers of the spark-submit tests: a spark-submit runner, its environment, a small config."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.jvm import SHUFFLE_PARTITIONS_ENV

ROOT = Path(__file__).resolve().parents[2]
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"


def submit_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell gives spark-submit: the venv's Python for the workers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith(("PYSPARK_GATEWAY", "SPARK_", "SYNTH_")) and k != "PYTHONPATH")
        # the tests' JVM options and shuffle partitions (tests/conftest.py)
        or k in ("SPARK_SUBMIT_OPTS", SHUFFLE_PARTITIONS_ENV)
    }
    env.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


def delta_jars() -> str:
    from synth.jars import delta_jar_paths

    return ",".join(str(p) for p in delta_jar_paths())


def job_args(
    job: str,
    config: Path,
    *,
    wheel: Path,
    master: str = "local[2]",
    profile: str = "local",
    jars: bool = True,
    submit: Sequence[str] = (),
    args: Sequence[str] = (),
) -> list[str]:
    """spark-submit's arguments for `jobs/<job>.py --config <config>`, synth as a wheel.

    `submit` adds spark-submit options, `args` the job's own; `jars=False` leaves out the Delta
    jars.
    """
    return [
        "--master",
        master,
        "--driver-memory",
        "1g",
        *submit,
        *(["--jars", delta_jars()] if jars else []),
        "--py-files",
        str(wheel),
        str(ROOT / "jobs" / f"{job}.py"),
        "--config",
        str(config),
        "--spark-profile",
        str(ROOT / "spark_conf" / f"{profile}.conf"),
        *args,
    ]


def spark_submit(
    args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `spark-submit <args>`; the result carries stdout and stderr."""
    return subprocess.run(
        [str(SPARK_SUBMIT), *args],
        cwd=cwd,
        env=env or submit_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """The tail of a failed run's output, for assertion messages."""
    out, err = result.stdout[-3000:], result.stderr[-6000:]
    return f"rc={result.returncode}\nstdout:\n{out}\nstderr:\n{err}"


def small_config(folder: Path, *, events: int = 12_000) -> Path:
    """A simulator job config writing into folder/lakehouse."""
    path = folder / "job.yaml"
    path.write_text(
        f"lakehouse: {folder / 'lakehouse'}\n"
        "source:\n"
        "  kind: simulator\n"
        f"  simulator: {{seed: 5, events: {events}, days: 10}}\n",
        encoding="utf-8",
    )
    return path
