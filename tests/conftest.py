"""Shared fixtures: one session-scoped local Spark session with Delta, tiny data factories."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jvm import SESSION_SHUFFLE_PARTITIONS, SHUFFLE_PARTITIONS_ENV

# On pytest-xdist workers (bin/test runs two on as many cores), torch, numpy's BLAS and their
# children start one OpenMP thread each, and code that asks for more (synth's training sets
# torch's threads to the machine's cores) waits for them passively: OpenMP threads that spin
# while another process holds the cores slowed a torch training test several times over, where
# one thread each did not. Set before torch is imported; a value the caller exported is kept.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if os.environ.get("SYNTH_SHARED_DATA"):
    SHARED_DATA = Path(os.environ["SYNTH_SHARED_DATA"])


def shared_data(*parts: str) -> Path:
    """Return a path under ../shared/data, skipping the test with a clear reason if absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (CI has ../shared/data)")
    return path


# SPARK_SUBMIT_OPTS for the session fixture's JVM; None: the environment's, unchanged
_SESSION_JVM_OPTIONS: str | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Give every Spark driver JVM the tests start the tests' options (tests/jvm.py).

    That is the session below, and each spark-submit, `synth run`, notebook or Airflow task
    subprocess: spark-submit reads SPARK_SUBMIT_OPTS. The subprocesses also get
    SUBPROCESS_JVM_OPTIONS; the session does not. The caller's options come last, so they win.
    Only when a selected test needs Spark (marker ``spark``): the class archive is built on first
    use.
    """
    global _SESSION_JVM_OPTIONS  # noqa: PLW0603 - set once per test process, read by `spark`
    if not any(item.get_closest_marker("spark") for item in session.items):
        return
    from tests.jvm import SUBPROCESS_JVM_OPTIONS, TEST_JVM_OPTIONS, archive_options

    given = os.environ.get("SPARK_SUBMIT_OPTS", "")
    # a collector chosen by the caller stays (a JVM refuses two)
    chosen = re.search(r"-XX:\+Use\w+GC\b", given)
    ours = [o for o in TEST_JVM_OPTIONS if not (chosen and o.startswith("-XX:+Use"))]
    archive = archive_options()
    _SESSION_JVM_OPTIONS = " ".join([*ours, *archive, given]).strip()
    options = [*ours, *archive, *SUBPROCESS_JVM_OPTIONS, given]
    os.environ["SPARK_SUBMIT_OPTS"] = " ".join(options).strip()
    # the tests' small tables in as many shuffle partitions as the session's (2), not the
    # profiles' cluster-sized defaults (`local` 8, `standalone` 64): fewer tasks to schedule,
    # serialize and run (the README's "What bin/test runs"); a value the caller exported is kept
    os.environ.setdefault(SHUFFLE_PARTITIONS_ENV, SESSION_SHUFFLE_PARTITIONS)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from synth.spark import build_session

    tmp = tmp_path_factory.mktemp("spark")
    subprocesses = os.environ.get("SPARK_SUBMIT_OPTS")
    if _SESSION_JVM_OPTIONS is not None:  # the session's JVM, without the subprocess options
        os.environ["SPARK_SUBMIT_OPTS"] = _SESSION_JVM_OPTIONS
    try:
        session = build_session(
            "local",
            app_name="synth-tests",
            overrides={
                "spark.master": "local[2]",
                "spark.sql.shuffle.partitions": SESSION_SHUFFLE_PARTITIONS,
                "spark.default.parallelism": "2",
                "spark.driver.memory": "3g",
                "spark.sql.warehouse.dir": str(tmp / "warehouse"),
                "spark.local.dir": str(tmp / "local"),
                "spark.databricks.delta.snapshotPartitions": "1",
            },
        )
    finally:
        if subprocesses is not None:
            os.environ["SPARK_SUBMIT_OPTS"] = subprocesses
    yield session
    session.stop()


@pytest.fixture(scope="session")
def session_jvm_options() -> str | None:
    """SPARK_SUBMIT_OPTS the `spark` fixture's JVM starts with (None: the environment's)."""
    return _SESSION_JVM_OPTIONS


@pytest.fixture
def lakehouse(tmp_path: Path) -> object:
    from synth.io.delta import Lakehouse

    return Lakehouse(str(tmp_path / "lakehouse"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[object]:
    """moto's S3-compatible server on loopback, for the whole session (tests/s3.py)."""
    from tests.s3 import s3_server as start

    with start() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket, with this process's AWS environment pointing at the test server."""
    from synth.io import files
    from tests.s3 import S3Server

    assert isinstance(s3_server, S3Server)
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    files.configure_s3(None)  # forget clients made for other settings
    yield s3_server.new_bucket()
    files.configure_s3(None)
