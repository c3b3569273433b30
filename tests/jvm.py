"""The options every Spark driver JVM of the test suite starts with, and the class archive they use.

The suite starts about thirty driver JVMs besides its own session: every spark-submit, `synth run`,
notebook and Airflow task runs in a process of its own, and each spends seconds loading Spark's
classes. A dynamic class-data-sharing archive (JDK 13+: ``-XX:ArchiveClassesAtExit`` to write it,
``-XX:SharedArchiveFile`` to map it) holds those classes parsed and verified, so a JVM maps them
instead. It is built once per machine, by a spark-submit of :mod:`tests.jvm_workload`, under
``.cache/jvm/`` (named by the Java runtime and the PySpark version it was made with). A JVM
whose classpath or runtime does not match the archive ignores it, and the ``-Xlog`` options
keep that quiet: the archive can make a JVM start faster, never fail. ``bench/suite_jvm.py``
measures what it and :data:`TEST_JVM_OPTIONS` save.

With those options no test runs Spark's generated code, except where a test asks for it
(:func:`generated_code`: the simulator's test that its generated methods stay small enough for
the JIT). ``bin/run`` and the benchmarks run with Spark's defaults.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.once import exclusive

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE_DIR = ROOT / ".cache" / "jvm"
WORKLOAD = Path(__file__).resolve().with_name("jvm_workload.py")

# On the tests' small tables, compiling generated code costs more than it saves: Spark
# interprets plans and expressions instead (Spark's own test suites run both modes and expect the
# same results). The parallel collector suits short-lived JVMs on 2 cores. `-Dspark.*` reaches
# Spark as conf (where the profile does not set the key), in the tests' session and in every
# spark-submit.
TEST_JVM_OPTIONS: tuple[str, ...] = (
    "-XX:+UseParallelGC",
    "-Dspark.sql.codegen.wholeStage=false",
    "-Dspark.sql.codegen.factoryMode=NO_CODEGEN",
)
# The drivers the suite starts as processes of their own (each spark-submit, `synth run`, notebook
# or Airflow task) live from seconds to a minute or two: there, compiling hot methods again with
# the optimizing compiler (C2) costs more CPU than its code gives back, and two test workers on
# two cores share that CPU. They use the client compiler (C1) only. The suite's own session lives
# for the whole run and keeps the JVM's default: with C1 only, a file of in-session tests took
# longer. bench/suite_jvm.py measures both kinds of driver.
SUBPROCESS_JVM_OPTIONS: tuple[str, ...] = ("-XX:TieredStopAtLevel=1",)
# The session's shuffle partitions. The drivers started as processes of their own get the same
# count through the variable their profile reads (spark_conf/local.conf, standalone.conf), set
# by tests/conftest.py and kept by tests/jobs/submit.py's environment.
SESSION_SHUFFLE_PARTITIONS = "2"
SHUFFLE_PARTITIONS_ENV = "SYNTH_SHUFFLE_PARTITIONS"
SPARK_CODEGEN: dict[str, str] = {  # Spark's own defaults for the same keys
    "spark.sql.codegen.wholeStage": "true",
    "spark.sql.codegen.factoryMode": "FALLBACK",
}
# a JVM that cannot use the archive says so on stdout by default: keep it quiet
_QUIET = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def _spark_submit() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def archive_path() -> Path:
    """The archive for this machine's Java runtime and PySpark (it may not exist yet)."""
    import pyspark

    runtime = subprocess.run(
        [_java(), "-XshowSettings:properties", "-version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stderr
    wanted = ("java.home =", "java.runtime.version =", "java.vm.version =")
    facts = [line.strip() for line in runtime.splitlines() if line.strip().startswith(wanted)]
    key = hashlib.sha256("\n".join([*facts, pyspark.__version__]).encode()).hexdigest()[:16]
    return ARCHIVE_DIR / f"spark-driver-{key}.jsa"


def build_archive(path: Path, *, timeout_s: float = 300.0) -> None:
    """Write the archive at ``path``: a spark-submit of :mod:`tests.jvm_workload`, written last.

    Raises:
        RuntimeError: The workload failed or wrote no archive (its output is in the message).
    """
    from synth.jars import delta_jar_paths

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        part = Path(tmp) / path.name
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_GATEWAY"))
        }
        env.update(
            SPARK_SUBMIT_OPTS=f"-XX:ArchiveClassesAtExit={part} {' '.join(_QUIET)}",
            PYSPARK_PYTHON=sys.executable,
            PYSPARK_DRIVER_PYTHON=sys.executable,
            PYTHONPATH=str(ROOT),
            SPARK_LOCAL_IP="127.0.0.1",
        )
        jars = ",".join(str(p) for p in delta_jar_paths())
        done = subprocess.run(
            [str(_spark_submit()), "--master", "local[2]", "--driver-memory", "1g", "--jars", jars]
            + [str(WORKLOAD), tmp],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0 or not part.is_file():
            raise RuntimeError(
                f"the class archive's workload ({WORKLOAD.name}) failed with exit code "
                f"{done.returncode}, writing no {part.name}:\n{done.stderr[-3000:]}"
            )
        part.replace(path)


def archive_options() -> tuple[str, ...]:
    """The options that map the archive, built first when it is missing; none if it fails."""
    try:
        path = archive_path()
        with exclusive(ARCHIVE_DIR / ".build.lock"):  # one build when workers start together
            if not path.is_file():
                build_archive(path)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        sys.stderr.write(f"tests/jvm.py: no class archive, JVMs start without one: {exc}\n")
        return ()
    option = f"-XX:SharedArchiveFile={path}"
    return (f'"{option}"' if any(c.isspace() for c in option) else option, *_QUIET)


@contextlib.contextmanager
def generated_code(spark: Any) -> Iterator[None]:  # noqa: ANN401 - a SparkSession
    """Within: ``spark`` generates code as Spark does by default (for a test of that code)."""
    before = {key: spark.conf.get(key) for key in SPARK_CODEGEN}
    for key, value in SPARK_CODEGEN.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)
