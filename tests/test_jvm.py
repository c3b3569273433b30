"""The JVM options of tests/jvm.py reach the drivers they are meant for."""

from __future__ import annotations

import os

import pytest

from tests.jvm import SUBPROCESS_JVM_OPTIONS, TEST_JVM_OPTIONS

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
