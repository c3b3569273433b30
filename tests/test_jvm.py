"""The JVM options of tests/jvm.py reach the drivers they are meant for."""

from __future__ import annotations

import os

import pytest

from tests.jvm import (
    ROOT,
    SESSION_SHUFFLE_PARTITIONS,
    SHUFFLE_PARTITIONS_ENV,
    SUBPROCESS_JVM_OPTIONS,
    TEST_JVM_OPTIONS,
)

pytestmark = pytest.mark.spark


def test_the_session_has_the_tests_options_and_subprocesses_also_get_theirs(
    spark, session_jvm_options: str | None
) -> None:  # noqa: ANN001
    # this test carries the spark marker, so collection always sets the options
    assert session_jvm_options is not None
    bean = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()  # type: ignore[attr-defined]
    session = set(bean.getInputArguments())
    given = session_jvm_options.split()
    # the session: the tests' options (a collector the caller chose replaces ours) ...
    assert {o for o in TEST_JVM_OPTIONS if not o.startswith("-XX:+Use")} <= session
    # ... without the subprocess-only ones, unless the caller asked for them
    assert not {o for o in SUBPROCESS_JVM_OPTIONS if o not in given} & session, session
    # every driver started later as a process of its own reads them from SPARK_SUBMIT_OPTS
    assert set(SUBPROCESS_JVM_OPTIONS) <= set(os.environ["SPARK_SUBMIT_OPTS"].split())


def test_subprocess_drivers_shuffle_into_as_many_partitions_as_the_session(spark) -> None:  # noqa: ANN001
    assert spark.conf.get("spark.sql.shuffle.partitions") == SESSION_SHUFFLE_PARTITIONS
    # the profiles the tests' drivers run with read the variable, so `synth run`, the jobs, the
    # notebooks and the Airflow tasks the tests start use the session's count
    assert os.environ[SHUFFLE_PARTITIONS_ENV] == SESSION_SHUFFLE_PARTITIONS
    for name in ("local", "standalone"):
        text = (ROOT / "spark_conf" / f"{name}.conf").read_text(encoding="utf-8")
        assert f"${{{SHUFFLE_PARTITIONS_ENV}:-" in text, name
