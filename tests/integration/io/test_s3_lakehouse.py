"""An s3a:// lakehouse end to end, on moto's S3-compatible server (tests/s3.py). This is also the
suite's test of the whole job through `synth run`: its progress, accounting and report, and a
re-run that adds nothing.

Spark writes the tables through Hadoop's s3a connector (the jars bin/bootstrap caches); the
file layer writes everything else through pyarrow. The job runs as a user runs it (`synth run`
in a fresh process), from an empty working folder, which stays empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.io import files
from synth.io.delta import (
    MULTI_CLUSTER_LOG_STORE,
    Lakehouse,
    connect_store,
    single_driver_log_store,
)
from synth.io.files import StorageError
from synth.io.lock import SINGLE_DRIVER_NOTE, LakehouseInUse, RunLock
from synth.report.html import stray_numbers
from synth.stages import STAGES
from synth.train.loop import STOP_AFTER_ENV
from tests.factories import SMALL_PIPELINE_JOB
from tests.s3 import S3Server, free_port

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[3]


def _profile(folder: Path, server: S3Server) -> Path:
    """The `local` Spark profile plus the s3a settings of the test server."""
    text = (ROOT / "spark_conf" / "local.conf").read_text(encoding="utf-8")
    extra = "".join(f"{key} {value}\n" for key, value in server.spark_conf.items())
    path = folder / "s3.conf"
    path.write_text(text + extra, encoding="utf-8")
    return path


def _synth(
    work: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synth", *args],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        text=True,
        capture_output=True,
        timeout=1500,
        check=False,
    )


def _objects(root: str) -> list[str]:
    fs, path = files.resolve(root)
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    return sorted(i.path[len(path) + 1 :] for i in infos if i.type == pafs.FileType.File)


def _bronze_log(objects: list[str]) -> list[str]:
    """The bronze tables' Delta log files among a bucket listing."""
    return [o for o in objects if o.startswith("bronze/") and "/_delta_log/" in o]


@pytest.mark.timeout(1800)
def test_the_default_job_runs_on_an_s3a_lakehouse_and_resumes_after_a_kill_in_train(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    # Setup: an empty bucket, an empty working folder, the job and the profile outside it
    root = f"s3a://{s3_bucket}/lh"
    work = tmp_path / "work"
    work.mkdir()
    config = tmp_path / "job.yaml"
    config.write_text(SMALL_PIPELINE_JOB.format(lakehouse=root), encoding="utf-8")
    profile = _profile(tmp_path, s3_server)
    args = ("run", "--config", str(config), "--spark-profile", str(profile))
    # Run: killed right after train's first checkpoint, then run again from train, resuming
    killed = _synth(work, *args, env={STOP_AFTER_ENV: "1"})
    assert killed.returncode == 137, killed.stdout[-3000:] + killed.stderr[-3000:]
    checkpoints = [o for o in _objects(root) if o.startswith("_models/") and "/checkpoints/" in o]
    assert any(o.endswith("checkpoints/LATEST") for o in checkpoints), checkpoints
    resumed = _synth(work, *args, "--from", "train", "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-5000:]
    # Assert: the run resumed after epoch 1, and everything is in the bucket
    assert "resuming after epoch 1" in resumed.stdout + resumed.stderr
    objects = _objects(root)
    tables = {o.split("/_delta_log/")[0] for o in objects if "/_delta_log/" in o}
    assert {"silver/events", "gold/user_profiles", "gold/item_profiles"} <= tables
    assert any(t.startswith("bronze/") for t in tables)
    assert any(t.startswith("synthetic/") for t in tables) and any(
        t.startswith("fused/") for t in tables
    )
    reports = [o for o in objects if o.startswith("_reports/")]
    assert any(o.endswith("/report.html") for o in reports), reports
    assert any(o.endswith("/metrics.json") for o in reports), reports
    models = [o for o in objects if o.startswith("_models/")]
    assert any(o.endswith("/model/artifact.json") for o in models), models
    assert any(o.endswith("/model/model.safetensors") for o in models), models
    assert any(o.startswith("_cache/train/") for o in objects)
    assert any(o.startswith("landing/") for o in objects)
    assert "_run.lock" not in objects  # released
    summary = json.loads(files.read_text(f"{root}/_reports/run_summary.json"))
    artifact = next(
        o for o in models if o.endswith("/model/artifact.json") and "user_profiles" in o
    )
    trained = json.loads(files.read_text(f"{root}/{artifact}"))
    assert trained["resumed_after"] == 1
    assert "report" in summary["stages"]
    # the run as `synth run` reports it: progress per stage, balanced accounting, the verdict
    train = STAGES.index("train")
    assert all(f"[{stage}] done" in killed.stdout for stage in STAGES[:train]), killed.stdout
    assert all(f"[{stage}] done" in resumed.stdout for stage in STAGES[train:]), resumed.stdout
    assert "[balanced]" in killed.stdout
    accounting = json.loads(files.read_text(f"{root}/_reports/clean_accounting.json"))
    assert accounting["balanced"] and 4000 < accounting["bronze_rows"] < 6500
    assert accounting["silver_rows"] < accounting["bronze_rows"]  # default dirt is removed
    # one report per run id, every number on it from its metrics.json
    written = summary["stages"]["report"]
    assert f"report:    {written['report_html']}" in resumed.stdout
    metrics = json.loads(files.read_text(written["metrics_json"]))
    page = files.read_text(written["report_html"])
    assert page.startswith("<!DOCTYPE html>") and stray_numbers(page, metrics) == []
    results = metrics["recommend"]["results"]
    assert sorted(results) == ["als", "ease", "item_knn", "popularity"]
    # three epochs train a weak model: the filters may reject every synthetic user, and then the
    # synthetic-only variant is left out with a note
    variants = {"fused", "real"} | (
        set()
        if any("no synthetic-only variant" in n for n in metrics["recommend"]["notes"])
        else {"synthetic"}
    )
    assert all(set(v) == variants for v in results.values()), results
    ndcg = results["item_knn"]["real"]["all"]["ndcg@10"]
    assert len(ndcg["seeds"]) == 2 and 0 < ndcg["mean"] <= 1
    assert metrics["recommend"]["data"]["test_cold_users"] > 0
    assert {"privacy.mia_auc", "privacy.closer_to_training_share"} <= set(metrics["targets"])
    privacy = metrics["evaluate"]["privacy"]
    shares = {k: v for k, v in privacy.items() if "share" in k or k.endswith("auc")}
    assert shares and all(0 <= v <= 1 for v in shares.values()), privacy
    # Run: the same job again through ingest, the stages that append (the simulator's landing
    # files, bronze); the later stages replace their outputs, each tested so in tests/integration
    bronze_log = _bronze_log(objects)
    again = _synth(work, *args, "--to", "ingest")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    # Assert: nothing re-simulated or re-ingested, no new bronze version, nothing left behind
    rerun = json.loads(files.read_text(f"{root}/_reports/run_summary.json"))
    assert rerun["stages"]["simulate"]["reused"] is True
    assert rerun["stages"]["ingest"]["rows_added"] == 0
    objects = _objects(root)
    assert _bronze_log(objects) == bronze_log
    assert "_run.lock" not in objects
    assert sorted(p.name for p in work.iterdir()) == []  # nothing written where it ran


# -- a store that cannot be used: each cause named before any stage runs ----------------------


@pytest.fixture
def hadoop(spark: object) -> object:
    """The session's Hadoop configuration, restored after the test."""
    conf = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    keys = (
        "fs.s3a.endpoint",
        "fs.s3a.access.key",
        "fs.s3a.secret.key",
        "fs.s3a.path.style.access",
        "fs.s3a.endpoint.region",
    )
    saved = {k: conf.get(k) for k in keys}
    yield conf
    for key, value in saved.items():
        if value is None:
            conf.unset(key)
        else:
            conf.set(key, value)
    files.configure_s3(None)


def _point(conf: object, endpoint: str, key: str = "synth-test-key", secret: str = "x") -> None:
    conf.set("fs.s3a.endpoint", endpoint)  # type: ignore[attr-defined]
    conf.set("fs.s3a.endpoint.region", "us-east-1")  # type: ignore[attr-defined]
    conf.set("fs.s3a.path.style.access", "true")  # type: ignore[attr-defined]
    conf.set("fs.s3a.access.key", key)  # type: ignore[attr-defined]
    conf.set("fs.s3a.secret.key", secret)  # type: ignore[attr-defined]


def test_a_reachable_bucket_passes(spark, hadoop, s3_server: S3Server, s3_bucket: str) -> None:
    _point(hadoop, s3_server.endpoint)
    connect_store(spark, Lakehouse(f"s3a://{s3_bucket}/lh"))
    assert files.s3_settings().endpoint == s3_server.endpoint  # taken from fs.s3a.*


def test_a_bucket_that_does_not_exist(spark, hadoop, s3_server: S3Server) -> None:
    _point(hadoop, s3_server.endpoint)
    with pytest.raises(StorageError, match=r"s3a://no-such-bucket-y/lh.*the bucket does not exist"):
        connect_store(spark, Lakehouse("s3a://no-such-bucket-y/lh"))


def test_an_unreachable_store(spark, hadoop) -> None:
    _point(hadoop, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StorageError, match=r"from Spark's Hadoop client.*cannot be reached"):
        connect_store(spark, Lakehouse("s3a://bucket-z/lh"))


def test_refused_credentials(spark, hadoop) -> None:
    from tests.s3 import s3_server

    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # a server that checks keys (knows none)
    try:
        with s3_server() as strict:
            _point(hadoop, strict.endpoint, key="AKIAWRONG", secret="wrong")
            with pytest.raises(StorageError, match=r"refused the credentials\. Fix: set fs\.s3a"):
                connect_store(spark, Lakehouse("s3a://bucket-w/lh"))
    finally:
        del os.environ["INITIAL_NO_AUTH_ACTION_COUNT"]


def test_a_scheme_without_a_connector_jar(spark) -> None:
    with pytest.raises(
        Exception, match=r"gs://b/lh: Spark has no Hadoop file system for gs:.*gcs-connector"
    ):
        connect_store(spark, Lakehouse("gs://b/lh"))


# -- Delta on S3: one writing driver ---------------------------------------------------------


def test_s3_uses_the_single_driver_log_store_unless_the_multi_cluster_one_is_set(spark) -> None:
    assert single_driver_log_store(spark, "s3a://b/lh")
    assert not single_driver_log_store(spark, "/tmp/lh")
    spark.conf.set("spark.delta.logStore.s3a.impl", MULTI_CLUSTER_LOG_STORE)
    try:
        assert not single_driver_log_store(spark, "s3a://b/lh")
    finally:
        spark.conf.unset("spark.delta.logStore.s3a.impl")


def test_a_second_run_on_s3_is_refused_with_the_log_store_explained(s3_bucket: str) -> None:
    lakehouse = Lakehouse(f"s3a://{s3_bucket}/lh")
    with RunLock(lakehouse, settle_s=0.2, note=SINGLE_DRIVER_NOTE):
        with pytest.raises(LakehouseInUse) as refused:
            RunLock(lakehouse, settle_s=0.2, note=SINGLE_DRIVER_NOTE).acquire()
    message = str(refused.value)
    assert "is in use by" in message and "S3SingleDriverLogStore" in message
    assert "spark.delta.logStore.s3a.impl=io.delta.storage.S3DynamoDBLogStore" in message
