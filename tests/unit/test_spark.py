"""Tests for synth.spark: profile parsing, the session conf and the session factory's guards."""

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from synth import spark as synth_spark
from synth.errors import ConfigError, SetupError
from synth.jars import DELTA_ARTIFACTS, S3A_ARTIFACTS, jars_dir
from synth.spark import (
    DELTA_SESSION_CONF,
    PROFILES,
    SESSION_DEFAULTS,
    build_session,
    conf_dir,
    read_profile,
    session_conf,
)

_VAR_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def write_conf(directory: Path, text: str, name: str = "custom.conf") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_synth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every variable the shipped profiles reference, so their defaults apply."""
    for path in conf_dir().glob("*.conf"):
        for name in _VAR_NAME.findall(path.read_text(encoding="utf-8")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def empty_jars_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "no-jars"
    directory.mkdir()
    monkeypatch.setenv("SYNTH_JARS_DIR", str(directory))
    return directory


class TestReadProfile:
    def test_read_profile_comments_and_blank_lines_skipped(self, tmp_path: Path) -> None:
        path = write_conf(
            tmp_path,
            "# a comment\n\n   # an indented comment\nspark.master   local[1]\n"
            "spark.app.note   several words  kept\n",
        )

        conf = read_profile(path)

        assert conf == {"spark.master": "local[1]", "spark.app.note": "several words  kept"}

    def test_read_profile_var_expanded_from_env(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SYNTH_TEST_MEM", "3g")
        monkeypatch.setenv("SYNTH_TEST_PARTS", "17")
        path = write_conf(
            tmp_path,
            "spark.driver.memory ${SYNTH_TEST_MEM}\n"
            "spark.sql.shuffle.partitions ${SYNTH_TEST_PARTS:-8}\n"
            "spark.local.dir /tmp/${SYNTH_TEST_MEM}/x\n",
        )

        conf = read_profile(path)

        assert conf == {
            "spark.driver.memory": "3g",
            "spark.sql.shuffle.partitions": "17",
            "spark.local.dir": "/tmp/3g/x",
        }

    def test_read_profile_default_used_when_var_unset(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("SYNTH_TEST_UNSET", raising=False)
        path = write_conf(
            tmp_path,
            "spark.master ${SYNTH_TEST_UNSET:-local[3]}\nspark.jars x${SYNTH_TEST_UNSET:-}y\n",
        )

        conf = read_profile(path)

        assert conf == {"spark.master": "local[3]", "spark.jars": "xy"}

    def test_read_profile_missing_var_without_default_names_file_and_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("SYNTH_TEST_UNSET", raising=False)
        path = write_conf(
            tmp_path, "# header\nspark.master local[1]\nspark.x ${SYNTH_TEST_UNSET}\n"
        )

        with pytest.raises(ConfigError) as excinfo:
            read_profile(path)

        assert f"{path}:3" in str(excinfo.value)
        assert "SYNTH_TEST_UNSET" in str(excinfo.value)

    def test_read_profile_malformed_line_names_file_and_line(self, tmp_path: Path) -> None:
        path = write_conf(tmp_path, "spark.master local[1]\n\nspark.lonely_key\n")

        with pytest.raises(ConfigError, match=re.escape(f"{path}:3")):
            read_profile(path)

    def test_read_profile_unknown_profile_lists_allowed_names(self) -> None:
        with pytest.raises(ConfigError) as excinfo:
            read_profile("no-such-profile")

        message = str(excinfo.value)
        assert "no-such-profile" in message
        for name in PROFILES:
            assert name in message

    def test_read_profile_path_to_conf_file(self, tmp_path: Path) -> None:
        path = write_conf(tmp_path, "spark.master local[1]\n", name="mine.conf")

        assert read_profile(path) == {"spark.master": "local[1]"}
        assert read_profile(str(path)) == {"spark.master": "local[1]"}

    def test_read_profile_conf_dir_from_env(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        write_conf(tmp_path, "spark.master local[5]\n", name="local.conf")
        monkeypatch.setenv("SYNTH_SPARK_CONF_DIR", str(tmp_path))

        assert read_profile("local") == {"spark.master": "local[5]"}

    def test_read_profile_every_shipped_profile_has_a_file(self) -> None:
        assert sorted(p.stem for p in conf_dir().glob("*.conf")) == sorted(PROFILES)

    @pytest.mark.parametrize("profile", PROFILES)
    def test_read_profile_shipped_profile_parses_with_env_unset(
        self, profile: str, no_synth_env: None
    ) -> None:
        conf = read_profile(profile)

        assert conf, f"{profile}.conf is empty"
        assert not [v for v in conf.values() if "${" in v]
        assert "spark.jars.packages" not in conf


class TestSessionConf:
    def test_session_conf_adds_delta_extensions_and_cached_jars(self, no_synth_env: None) -> None:
        conf = session_conf("local")

        for key, value in DELTA_SESSION_CONF.items():
            assert conf[key] == value
        assert conf["spark.jars"].split(",") == [
            str(jars_dir() / a.file_name) for a in (*DELTA_ARTIFACTS, *S3A_ARTIFACTS)
        ]
        assert conf["spark.master"] == "local[2]"
        assert "spark.jars.packages" not in conf

    def test_session_conf_overrides_win_and_existing_jars_kept(self, no_synth_env: None) -> None:
        conf = session_conf(
            "local", overrides={"spark.master": "local[1]", "spark.jars": "/opt/extra.jar"}
        )

        assert conf["spark.master"] == "local[1]"
        jars = conf["spark.jars"].split(",")
        assert jars[0] == "/opt/extra.jar"
        assert jars[1:] == [
            str(jars_dir() / a.file_name) for a in (*DELTA_ARTIFACTS, *S3A_ARTIFACTS)
        ]

    def test_session_conf_adds_the_session_defaults_unless_set(self, no_synth_env: None) -> None:
        key = "spark.sql.execution.arrow.localRelationThreshold"

        assert SESSION_DEFAULTS[key] == "1MB"
        assert session_conf("local")[key] == "1MB"
        assert session_conf("local", overrides={key: "48MB"})[key] == "48MB"

    def test_session_conf_databricks_adds_nothing(self, empty_jars_dir: Path) -> None:
        # No Delta conf and no jar lookup: the cluster provides both (the jar dir here is empty).
        assert session_conf("databricks") == read_profile("databricks")
        assert session_conf("databricks") == {"synth.session.reuse_active": "true"}

    def test_session_conf_missing_jars_raises_setup_error(self, empty_jars_dir: Path) -> None:
        with pytest.raises(SetupError) as excinfo:
            session_conf("local")

        assert "python -m synth.jars" in str(excinfo.value)
        assert str(empty_jars_dir) in str(excinfo.value)


class TestBuildSession:
    def test_build_session_jars_packages_override_raises_config_error(
        self, no_synth_env: None
    ) -> None:
        with pytest.raises(ConfigError, match="spark.jars.packages"):
            build_session(
                "local", overrides={"spark.jars.packages": "io.delta:delta-spark_2.13:4.0.1"}
            )

    def test_build_session_missing_jars_raises_setup_error(self, empty_jars_dir: Path) -> None:
        with pytest.raises(SetupError, match=re.escape("python -m synth.jars")):
            build_session("local")

    def test_build_session_databricks_without_active_session_raises_setup_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))

        with pytest.raises(SetupError, match="no(ne| active)"):
            build_session("databricks")

    def test_build_session_databricks_no_java_needed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        sentinel = object()
        monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: sentinel))

        def no_java() -> None:
            raise AssertionError("the databricks profile must not look for a local Java")

        monkeypatch.setattr(synth_spark, "_check_java", no_java)

        assert build_session("databricks") is sentinel

    @pytest.mark.spark
    def test_build_session_databricks_reuses_active_session(self, spark) -> None:
        assert SparkSession.getActiveSession() is not None

        assert build_session("databricks") is spark

    def test_build_session_no_java_raises_setup_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_synth_env: None
    ) -> None:
        monkeypatch.delenv("JAVA_HOME", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))

        with pytest.raises(SetupError, match="Java 17"):
            build_session("local")


def test_local_python_workers_use_the_driver_interpreter(monkeypatch):
    import sys

    from synth.spark import session_conf

    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    assert session_conf("local")["spark.pyspark.python"] == sys.executable
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/python/bin/python3")
    assert "spark.pyspark.python" not in session_conf("local")
    assert "spark.pyspark.python" not in session_conf("yarn")


class TestUnderSparkSubmit:
    """spark-submit owns the launch settings; a profile only fills what it left unset."""

    SUBMITTED = {
        "spark.master": "spark://10.0.0.5:7077",
        "spark.jars": "/opt/jars/delta-spark_2.13-4.0.1.jar,/opt/jars/delta-storage-4.0.1.jar",
        "spark.sql.shuffle.partitions": "3",
        "spark.submit.pyFiles": "/opt/dist/synth-0.1.0-py3-none-any.whl",
    }

    def test_submitted_keys_win_and_launch_keys_are_dropped(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
        profile = read_profile("local")
        assert "spark.driver.memory" in profile and "spark.sql.shuffle.partitions" in profile

        conf = session_conf("local", submitted=self.SUBMITTED)

        assert conf["spark.master"] == "spark://10.0.0.5:7077"
        assert "spark.sql.shuffle.partitions" not in conf  # spark-submit's 3 stays in force
        assert "spark.driver.memory" not in conf  # the JVM is already running
        assert "spark.jars" not in conf  # the Delta jars come with spark-submit's --jars
        assert "spark.pyspark.python" not in conf  # not local: the cluster's Python
        for key, value in DELTA_SESSION_CONF.items():
            assert conf[key] == value
        assert conf["spark.sql.session.timeZone"] == "UTC"  # the profile fills the rest

    def test_local_master_still_gets_the_driver_interpreter(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import sys

        monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
        conf = session_conf("local", submitted={"spark.master": "local[2]"})
        assert conf["spark.pyspark.python"] == sys.executable

    def test_packages_in_the_profile_are_refused(self, tmp_path: Path) -> None:
        path = write_conf(tmp_path, "spark.jars.packages io.delta:delta-spark_2.13:4.0.1\n")
        with pytest.raises(ConfigError, match=re.escape("python -m synth.jars --list")):
            session_conf(path, submitted={"spark.master": "local[2]"})

    def test_not_launched_by_spark_submit_in_a_plain_process(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
        assert not synth_spark.launched_by_spark_submit()


def test_databricks_python_task_gets_the_runtime_session(monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = object()

    class Builder:
        def getOrCreate(self) -> object:  # noqa: N802 - PySpark's name
            return sentinel

    class FakeSession:
        builder = Builder()

        @classmethod
        def getActiveSession(cls) -> None:  # noqa: N802 - PySpark's name
            return None

    monkeypatch.setattr(synth_spark, "SparkSession", FakeSession)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    with pytest.raises(SetupError, match="no(ne| active)"):
        build_session("databricks")
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    assert build_session("databricks") is sentinel


def test_profiles_found_in_the_working_folder_when_synth_is_not_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # synth imported from a wheel (spark-submit --py-files): no checkout around the package
    monkeypatch.setattr(synth_spark, "project_root", lambda: None)
    monkeypatch.delenv("SYNTH_SPARK_CONF_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SetupError, match=r"cannot find spark_conf/: set SYNTH_SPARK_CONF_DIR"):
        conf_dir()
    (tmp_path / "spark_conf").mkdir()
    assert conf_dir() == tmp_path / "spark_conf"
