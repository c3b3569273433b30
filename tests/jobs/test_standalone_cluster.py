"""The cluster path: a Spark standalone master and worker, started from the pyspark distribution.

The test starts both daemons with `sbin/spark-daemon.sh` (the script behind start-master.sh and
start-worker.sh), submits `jobs/pipeline.py` to `spark://` with synth as a wheel on --py-files, and
stops them. The features stage runs a pandas UDF (the item text embeddings), so the executor
imports synth from the wheel Spark shipped to it.

The master binds ports the system chooses (port 0) and the test reads them from its log: a port
chosen here and bound by the master later could be taken in between, by another test worker.
The daemons and the executor run with the suite's subprocess JVM options (tests/jvm.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyspark
import pytest

from tests.jobs.submit import explain, job_args, small_config, spark_submit, submit_env
from tests.jvm import SUBPROCESS_JVM_OPTIONS

pytestmark = pytest.mark.spark

SPARK_HOME = Path(pyspark.__file__).parent
MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


# what the master logs once it is bound (Spark 4.0's Master and WebUI log lines)
MASTER_URL = re.compile(r"Starting Spark master at (spark://\S+)")
MASTER_UI_PORT = re.compile(r"Bound MasterWebUI to \S+ and started at \w+://\S+:(\d+)")


@dataclass(frozen=True)
class Cluster:
    url: str
    ui: str
    work_dir: Path

    def state(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=10) as response:  # noqa: S310
            return dict(json.load(response))


def daemon(action: str, cls: str, env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(SPARK_HOME / "sbin" / "spark-daemon.sh"), action, cls, "1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"spark-daemon.sh {action} {cls}: {result.stderr}"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A master and one worker (2 cores, 3 GiB) on loopback; stopped (and gone) afterwards."""
    base = tmp_path / "standalone"
    env = submit_env(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOG_DIR=str(base / "logs"),
        SPARK_PID_DIR=str(base / "pids"),
        SPARK_CONF_DIR=str(base / "conf"),
        SPARK_IDENT_STRING="synth-test",
        SPARK_DAEMON_MEMORY="512m",
    )
    env["SPARK_DAEMON_JAVA_OPTS"] = " ".join(SUBPROCESS_JVM_OPTIONS)
    (base / "conf").mkdir(parents=True)
    try:
        daemon("start", MASTER, env, "--host", "127.0.0.1", "--port", "0", "--webui-port", "0")
        url, ui_port = master_address(base / "logs", timeout_s=90)
        cluster = Cluster(url, f"http://127.0.0.1:{ui_port}", base / "work")
        daemon(
            "start",
            WORKER,
            env,
            "--host",
            "127.0.0.1",
            "--webui-port",
            "0",
            "--cores",
            "2",
            "--memory",
            "3g",
            "--work-dir",
            str(cluster.work_dir),
            cluster.url,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                if cluster.state().get("aliveworkers") == 1:
                    break
            except OSError:
                pass  # the master's UI is not up yet
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in (base / "logs").glob("*.out"))
                pytest.fail(f"the standalone worker did not register within 90 s:\n{logs}")
            time.sleep(1)
        yield cluster
    finally:
        pids = [int(p.read_text()) for p in (base / "pids").glob("*.pid")]
        daemon("stop", WORKER, env)
        daemon("stop", MASTER, env)
        left = wait_until_gone(pids, timeout_s=60)
    assert not left, f"standalone daemons still running after stop: pids {left}"


def master_address(logs: Path, *, timeout_s: float) -> tuple[str, int]:
    """The master's URL and its web UI's port, read from its log once both are bound."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = "".join(p.read_text() for p in logs.glob(f"*{MASTER}*.out"))
        url, ui = MASTER_URL.search(text), MASTER_UI_PORT.search(text)
        if url and ui:
            return url.group(1), int(ui.group(1))
        if time.monotonic() > deadline:
            pytest.fail(
                f"the standalone master did not log its address within {timeout_s} s:\n"
                f"{text[-3000:]}"
            )
        time.sleep(0.5)


def wait_until_gone(pids: list[int], *, timeout_s: float) -> list[int]:
    """Wait for the processes to exit; return those still alive at the deadline."""
    deadline = time.monotonic() + timeout_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists()]
    return alive


def test_pipeline_runs_on_a_standalone_cluster(
    cluster: Cluster, wheel: Path, tmp_path: Path
) -> None:
    config = small_config(tmp_path, events=10_000)
    result = spark_submit(
        job_args(
            "pipeline",
            config,
            wheel=wheel,
            master=cluster.url,
            profile="standalone",
            submit=[
                "--executor-memory",
                "2g",
                "--total-executor-cores",
                "2",
                "--conf",
                f"spark.executor.extraJavaOptions={' '.join(SUBPROCESS_JVM_OPTIONS)}",
            ],
            args=["--to", "features"],
        ),
        cwd=tmp_path,
    )
    assert result.returncode == 0, explain(result)
    assert f"synth 0.1.0 from {wheel}/synth" in result.stdout, explain(result)
    assert "[features] done" in result.stdout

    apps = cluster.state()["completedapps"]
    assert isinstance(apps, list) and [a["name"] for a in apps] == ["synth-run"], apps
    # the worker received the wheel and the Delta jars for its executor
    shipped = {p.name for p in cluster.work_dir.glob("app-*/*/*")}
    assert wheel.name in shipped and "delta-spark_2.13-4.0.1.jar" in shipped, shipped
    gold = tmp_path / "lakehouse" / "gold"
    for table in ("user_profiles", "item_profiles", "interactions"):
        assert list(gold.glob(f"*{table}*/_delta_log/*.json")), f"no gold {table} table"
