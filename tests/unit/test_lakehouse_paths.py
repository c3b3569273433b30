"""A lakehouse root that cannot be written: one ConfigError naming the path and the fix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from synth.errors import ConfigError
from synth.io.delta import Lakehouse, unwritable_table_error

REPO = Path(__file__).resolve().parents[2]


def _refused(path: str) -> bool:
    """True when the kernel refuses a new folder at ``path`` even for root (/proc, /sys)."""
    try:
        os.rmdir(tempfile.mkdtemp(dir=path))
    except OSError:
        return True
    return False


class TestLakehouse:
    @pytest.mark.parametrize(
        ("root", "expected"),
        [
            ("/data/lh", "/data/lh"),
            ("file:/data/lh", "/data/lh"),
            ("file:///data/my%20lh", "/data/my lh"),
            ("file://localhost/data/lh", "/data/lh"),
            ("file://otherhost/data/lh", None),
            ("s3a://bucket/lh", None),
            ("dbfs:/lh", None),
        ],
    )
    def test_local_root(self, root, expected):
        assert Lakehouse(root).local_root() == expected

    def test_check_writable_new_root_leaves_nothing(self, tmp_path):
        # Setup
        lakehouse = Lakehouse(str(tmp_path / "a" / "b" / "lakehouse"))
        # Run
        lakehouse.check_writable()
        Lakehouse(str(tmp_path)).check_writable()  # an existing folder
        # Assert: neither the root nor a probe folder was left behind
        assert list(tmp_path.iterdir()) == []

    def test_check_writable_parent_is_a_file(self, tmp_path):
        # Setup
        (tmp_path / "x").write_text("not a folder")
        lakehouse = Lakehouse(str(tmp_path / "x" / "lakehouse"))
        # Run
        with pytest.raises(ConfigError) as err:
            lakehouse.check_writable()
        # Assert
        assert str(err.value) == (
            f"lakehouse {tmp_path}/x/lakehouse cannot be created: {tmp_path}/x is a file, not a "
            "folder. Fix: choose another `lakehouse:` in the job config (or `--lakehouse` on the "
            "command line), or move that file away."
        )

    def test_check_writable_file_further_up_and_file_uri(self, tmp_path):
        # Setup
        (tmp_path / "x").write_text("")
        lakehouse = Lakehouse(f"file://{tmp_path}/x/deeper/lakehouse")
        # Run / Assert
        with pytest.raises(ConfigError, match=rf"{tmp_path}/x is a file, not a folder"):
            lakehouse.check_writable()

    def test_check_writable_root_is_a_file(self, tmp_path):
        (tmp_path / "lh").write_text("")
        with pytest.raises(ConfigError, match=rf"^lakehouse {tmp_path}/lh is a file, not a folder"):
            Lakehouse(str(tmp_path / "lh")).check_writable()

    @pytest.mark.parametrize(
        ("root", "reason"),
        [
            ("/proc/synth_lakehouse_test", "No such file or directory (ENOENT)"),
            ("/sys/synth_lh/lakehouse", "Operation not permitted (EPERM)"),
        ],
    )
    def test_check_writable_folder_the_kernel_refuses(self, root, reason):
        # Setup: a virtual file system refuses new folders even to root (chmod would not)
        top = "/" + root.split("/")[1]
        if not os.path.isdir(top) or not _refused(top):
            pytest.skip(f"{top} accepts new folders here")
        # Run
        with pytest.raises(ConfigError) as err:
            Lakehouse(root).check_writable()
        # Assert
        message = str(err.value)
        assert message.startswith(f"lakehouse {root} is not writable: cannot create a folder in")
        assert f"in {top}: {reason}" in message
        assert "Fix: choose another `lakehouse:`" in message and "`--lakehouse`" in message
        assert f"grant write permission on {top}" in message

    def test_check_writable_permission_denied(self, tmp_path, monkeypatch):
        # Setup: tests run as root, so a chmod 555 folder would still be writable
        def refuse(**kwargs: object) -> str:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkdtemp", refuse)
        lakehouse = Lakehouse(str(tmp_path / "lakehouse"))
        # Run
        with pytest.raises(ConfigError) as err:
            lakehouse.check_writable()
        # Assert
        assert str(err.value) == (
            f"lakehouse {tmp_path}/lakehouse is not writable: cannot create a folder in "
            f"{tmp_path}: Permission denied (EACCES). Fix: choose another `lakehouse:` in the "
            "job config (or `--lakehouse` on the command line) naming a folder this user can "
            f"write, or grant write permission on {tmp_path}."
        )

    def test_check_writable_skips_non_local_uris(self, monkeypatch):
        def fail(**kwargs: object) -> str:
            raise AssertionError("a non-local lakehouse must not be probed on the driver")

        monkeypatch.setattr(tempfile, "mkdtemp", fail)
        Lakehouse("s3a://bucket/lakehouse").check_writable()
        Lakehouse("hdfs://nn:8020/lakehouse").check_writable()


class TestUnwritableTableError:
    @pytest.mark.parametrize(
        "line",
        [
            "org.apache.hadoop.fs.ParentNotDirectoryException: Parent path is not a directory: "
            "file:/tmp/x",
            "org.apache.hadoop.security.AccessControlException: Permission denied: user=etl, "
            'access=WRITE, inode="/lh":hdfs:supergroup:drwxr-xr-x',
            "java.nio.file.AccessDeniedException: lh/bronze/t: PUT 0-byte object on lh/bronze/t: "
            "com.amazonaws.services.s3.model.AmazonS3Exception: Access Denied",
        ],
    )
    def test_unwritable_table_error_names_path_cause_and_fix(self, line):
        # Setup: the cause somewhere in a long JVM trace
        text = (
            f"An error occurred while calling o1.save.\n: {line}\n\tat org.apache.Foo(Foo.java:1)"
        )
        # Run
        error = unwritable_table_error("s3a://b/lh/bronze/t", text)
        # Assert
        assert error is not None
        message = str(error)
        assert message.startswith(f"cannot write Delta table s3a://b/lh/bronze/t: {line}. Fix:")
        assert "`lakehouse:`" in message and "`--lakehouse`" in message
        assert "at org.apache" not in message

    def test_unwritable_table_error_ignores_other_failures(self):
        text = "org.apache.spark.SparkException: Job aborted: java.lang.OutOfMemoryError"
        assert unwritable_table_error("/lh/t", text) is None

    @pytest.mark.spark
    def test_write_table_under_a_file_is_config_error(self, spark, tmp_path):
        # Setup: Hadoop's local file system, not check_writable, meets the file in the way
        from synth.io.delta import table_exists, write_table

        (tmp_path / "x").write_text("")
        path = f"file:{tmp_path}/x/bronze/t"
        # Run
        with pytest.raises(ConfigError) as err:
            write_table(spark.range(3), path, mode="append")
        # Assert
        message = str(err.value)
        assert message.startswith(f"cannot write Delta table {path}: org.apache.hadoop.fs.")
        assert "ParentNotDirectoryException" in message and "Fix:" in message
        assert not table_exists(spark, path)


class TestCli:
    def test_cli_ingest_with_unwritable_lakehouse_exits_2(self, tmp_path, monkeypatch, capsys):
        # Setup: the generic example config; a file where the lakehouse's parent should be
        from synth import cli

        config = tmp_path / "job.yaml"
        text = (REPO / "configs" / "generic_example.yaml").read_text()
        config.write_text(
            text.replace(
                "tests/data/generic_events.csv", str(REPO / "tests/data/generic_events.csv")
            )
        )
        (tmp_path / "x").write_text("")
        bad = tmp_path / "x" / "lakehouse"
        # The check runs before any stage, so no Spark session is needed: a job reaching Spark
        # would fail on this placeholder instead of exiting 2 with the message.
        monkeypatch.setattr(cli, "build_session", lambda *args, **kwargs: object())
        # Run
        code = cli.main(["ingest", "--config", str(config), "--lakehouse", str(bad)])
        # Assert
        err = capsys.readouterr().err
        assert code == 2
        assert f"error: lakehouse {bad} cannot be created: {tmp_path}/x is a file" in err
        assert "`--lakehouse`" in err and "Traceback" not in err
        assert not bad.exists()


class TestLayout:
    """Every path of the lakehouse comes from one method, with the layout's exact strings."""

    @pytest.mark.parametrize("root", ["/data/lh", "/data/lh/", "s3a://bucket/lh/"])
    def test_every_path_is_under_the_root(self, root):
        # Setup
        from synth.config.job import SimulatorSource

        lakehouse = Lakehouse(root)
        base = root.rstrip("/")
        # Run
        paths = {
            "bronze": lakehouse.bronze_table("shop"),
            "silver": lakehouse.silver_table(),
            "quarantine": lakehouse.quarantine_table(),
            "gold": lakehouse.gold_table("user_profiles"),
            "synthetic": lakehouse.synthetic_table("user_profiles_raw"),
            "fused": lakehouse.fused_table("item_profiles"),
            "reports": lakehouse.reports_dir(),
            "report": lakehouse.report_file("run_summary.json"),
            "run": lakehouse.run_dir("r1"),
            "run_file": lakehouse.run_file("r1", "metrics.json"),
            "model": lakehouse.model_dir("user_profiles", "m1"),
            "cache": lakehouse.train_cache_dir("user_profiles"),
            "projection": lakehouse.text_projection_path(),
            "landing": lakehouse.landing_dir(SimulatorSource(name="sim")),
        }
        # Assert
        assert paths == {
            "bronze": f"{base}/bronze/shop_events",
            "silver": f"{base}/silver/events",
            "quarantine": f"{base}/silver/quarantine",
            "gold": f"{base}/gold/user_profiles",
            "synthetic": f"{base}/synthetic/user_profiles_raw",
            "fused": f"{base}/fused/item_profiles",
            "reports": f"{base}/_reports",
            "report": f"{base}/_reports/run_summary.json",
            "run": f"{base}/_reports/r1",
            "run_file": f"{base}/_reports/r1/metrics.json",
            "model": f"{base}/_models/user_profiles/m1",
            "cache": f"{base}/_cache/train/user_profiles",
            "projection": f"{base}/_artifacts/features/text_projection.json",
            "landing": f"{base}/landing/sim",
        }

    def test_a_configured_landing_folder_wins(self):
        from synth.config.job import SimulatorSource

        source = SimulatorSource(landing="/elsewhere/csv")
        assert Lakehouse("/data/lh").landing_dir(source) == "/elsewhere/csv"

    def test_an_unknown_gold_table_is_refused(self):
        with pytest.raises(ValueError, match="unknown gold table 'nope'"):
            Lakehouse("/data/lh").gold_table("nope")
