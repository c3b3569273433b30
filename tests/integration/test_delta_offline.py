"""Delta Lake works with no network: a session from the jar cache, in a loopback-only namespace.

The check runs in a subprocess under ``unshare -n`` (a fresh network namespace), so nothing at
session start (no ``spark.jars.packages``, no Ivy/Maven resolution) can reach the network.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.offline import unshare_prefix

pytestmark = pytest.mark.spark

# The subprocess asserts on its own, then prints one JSON line for the test to check again.
OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json
    import socket
    import sys
    from pathlib import Path

    tmp = Path(sys.argv[1])

    # 1. The namespace is offline: loopback only, and no route out.
    interfaces = sorted(name for _, name in socket.if_nameindex())
    assert interfaces == ["lo"], f"expected only loopback, found interfaces {interfaces}"
    try:
        socket.create_connection(("1.1.1.1", 443), timeout=3).close()
    except OSError as exc:
        offline_error = f"{type(exc).__name__}: {exc}"
    else:
        sys.exit("1.1.1.1:443 is reachable: the network namespace is not isolated")

    # 2. A Delta session from the jar cache, with no package resolution.
    from synth.spark import build_session

    spark = build_session(
        "local",
        app_name="synth-delta-offline",
        overrides={
            "spark.master": "local[1]",
            "spark.driver.memory": "640m",
            "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
            "spark.sql.shuffle.partitions": "1",
            "spark.default.parallelism": "1",
            "spark.sql.warehouse.dir": str(tmp / "warehouse"),
            "spark.local.dir": str(tmp / "local"),
            "spark.databricks.delta.snapshotPartitions": "1",
        },
    )
    conf = spark.sparkContext.getConf()
    assert not conf.contains("spark.jars.packages"), conf.get("spark.jars.packages")

    # 3. Write, overwrite, read, and time-travel back to version 0.
    path = str(tmp / "table")
    spark.range(5).write.format("delta").save(path)
    spark.range(100, 103).write.format("delta").mode("overwrite").save(path)
    latest = sorted(r.id for r in spark.read.format("delta").load(path).collect())
    version0 = sorted(
        r.id for r in spark.read.format("delta").option("versionAsOf", 0).load(path).collect()
    )
    versions = sorted(
        r.version for r in spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version").collect()
    )
    assert latest == [100, 101, 102], latest
    assert version0 == [0, 1, 2, 3, 4], version0

    print(json.dumps({
        "interfaces": interfaces,
        "offline_error": offline_error,
        "jars_packages": conf.get("spark.jars.packages", None),
        "jars": conf.get("spark.jars", ""),
        "latest": latest,
        "version0": version0,
        "versions": versions,
    }))
    spark.stop()
    """
)


def _find_ip() -> str:
    """Return the `ip` tool (often in an sbin folder off a non-root PATH), or skip."""
    for candidate in (shutil.which("ip"), "/usr/sbin/ip", "/sbin/ip"):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("`ip` (iproute2) is not installed: cannot bring up loopback in a new namespace")


def test_delta_offline_write_overwrite_read_time_travel(tmp_path: Path) -> None:
    prefix = unshare_prefix()
    ip = _find_ip()
    script = tmp_path / "offline_delta.py"
    script.write_text(OFFLINE_SCRIPT, encoding="utf-8")
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    env.pop("SPARK_CONF_DIR", None)  # only the profile's conf, not a site spark-defaults.conf
    env.pop("SPARK_SUBMIT_OPTS", None)  # only the script's JVM options (its own collector)
    inner = f'{shlex.quote(ip)} link set lo up && exec "$0" "$@"'
    command = [*prefix, "sh", "-c", inner, sys.executable, str(script), str(tmp_path)]

    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=420, check=False
    )

    assert result.returncode == 0, (
        f"offline Delta run failed (exit {result.returncode})\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-8000:]}"
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["interfaces"] == ["lo"]
    assert report["offline_error"]
    assert report["jars_packages"] is None
    assert "delta-spark_2.13" in report["jars"]
    assert report["latest"] == [100, 101, 102]
    assert report["version0"] == [0, 1, 2, 3, 4]
    assert report["versions"] == [0, 1]
