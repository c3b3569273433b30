"""infra/: the Databricks job, the Airflow DAG and the SparkApplications, checked by the tools
that run them (infra/validate.py in the locked infra environment) and against the repository."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from synth import __version__
from synth.config.job import load_job_config
from synth.stages import STAGES

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
INFRA_PYTHON = ROOT / ".cache" / "venv-infra" / "bin" / "python"


def validate(infra: Path = INFRA) -> subprocess.CompletedProcess[str]:
    if not INFRA_PYTHON.exists():
        pytest.skip(f"{INFRA_PYTHON} is absent: run bin/bootstrap (bin/test does) to make it")
    return subprocess.run(
        [str(INFRA_PYTHON), str(ROOT / "infra" / "validate.py"), "--infra", str(infra)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    result = validate()
    assert result.returncode == 0, result.stderr[-4000:]
    return dict(json.loads(result.stdout))


def test_rendered_files_are_up_to_date() -> None:
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), str(INFRA / "render.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


class TestDatabricks:
    def test_one_task_per_stage_chained_in_order(self, summary: dict[str, Any]) -> None:
        tasks = summary["databricks"]["tasks"]
        assert [t["task_key"] for t in tasks] == list(STAGES)
        assert [t["depends_on"] for t in tasks] == [[], *([s] for s in STAGES[:-1])]

    def test_train_on_the_gpu_cluster_the_rest_on_cpu(self, summary: dict[str, Any]) -> None:
        clusters = summary["databricks"]["job_clusters"]
        assert "gpu-ml" in clusters["gpu"]["spark_version"]
        assert "gpu" not in clusters["cpu"]["spark_version"]
        assert clusters["gpu"]["spark_conf"]["spark.task.resource.gpu.amount"] == "1"
        for task in summary["databricks"]["tasks"]:
            assert task["job_cluster_key"] == ("gpu" if task["task_key"] == "train" else "cpu")

    def test_tasks_run_the_stage_notebooks_with_an_existing_config(
        self, summary: dict[str, Any]
    ) -> None:
        params = summary["databricks"]["parameters"]
        # a notebook task's working directory is its notebook's folder
        config = load_job_config(ROOT / "notebooks" / params["config"])
        assert config.spark_profile == "databricks"
        assert config.train.backend == "torch_distributor" and config.train.use_gpu
        gpu_workers = json.loads((INFRA / "databricks" / "job.json").read_text())["job_clusters"]
        workers = {c["job_cluster_key"]: c["new_cluster"] for c in gpu_workers}["gpu"]
        assert config.train.num_processes == workers["num_workers"]  # one process per GPU
        for task in summary["databricks"]["tasks"]:
            notebook = ROOT / f"{task['notebook_path']}.py"
            assert notebook.is_file(), notebook
            assert re.fullmatch(rf"notebooks/\d\d_{task['task_key']}", task["notebook_path"])
            widgets = re.search(r"parameters\(dbutils, (\{.*?\})\)", notebook.read_text())
            assert widgets, f"{notebook}: no parameters(dbutils, ...) cell"
            assert set(task["base_parameters"]) <= set(ast.literal_eval(widgets.group(1)))


class TestAirflow:
    def test_the_dag_chains_one_spark_submit_per_stage(self, summary: dict[str, Any]) -> None:
        (dag,) = summary["airflow"].values()
        tasks = dag["tasks"]
        assert [t["task_id"] for t in tasks] == list(STAGES)
        assert [t["upstream"] for t in tasks] == [[], *([s] for s in STAGES[:-1])]
        assert {t["operator"] for t in tasks} == {"SparkSubmitOperator"}
        assert dag["max_active_runs"] == 1

    def test_tasks_name_existing_jobs_config_wheel_and_jars(self, summary: dict[str, Any]) -> None:
        (dag,) = summary["airflow"].values()
        from synth.jars import DELTA_ARTIFACTS

        for task in dag["tasks"]:
            home, _, job = task["application"].rpartition("/jobs/")
            assert (ROOT / "jobs" / job).is_file() and job == f"{task['task_id']}.py"
            flag, config = task["application_args"]
            assert flag == "--config" and config.startswith(home + "/")
            load_job_config(ROOT / config.removeprefix(home + "/"))
            assert task["py_files"] == f"{home}/dist/synth-{__version__}-py3-none-any.whl"
            jars = [Path(j).name for j in task["jars"].split(",")]
            assert jars == [a.file_name for a in DELTA_ARTIFACTS]


class TestKubernetes:
    def test_one_valid_manifest_per_stage(self, summary: dict[str, Any]) -> None:
        manifests = summary["kubernetes"]
        assert [m["name"] for m in manifests.values()] == [f"synth-{s}" for s in STAGES]

    def test_manifests_run_existing_jobs_and_config_in_the_image(
        self, summary: dict[str, Any]
    ) -> None:
        conf = (ROOT / "spark_conf" / "kubernetes.conf").read_text()
        image = re.search(r"spark\.kubernetes\.container\.image\s+\$\{SYNTH_IMAGE:-([^}]+)\}", conf)
        assert image
        for stage, manifest in zip(STAGES, summary["kubernetes"].values(), strict=True):
            assert manifest["image"] == image.group(1) == f"synth-runtime:{__version__}"
            assert manifest["sparkVersion"] == "4.0.1"
            path = manifest["mainApplicationFile"].removeprefix("local:///opt/synth/")
            assert path == f"jobs/{stage}.py" and (ROOT / path).is_file()
            flag, config = manifest["arguments"]
            assert flag == "--config"
            cfg = load_job_config(ROOT / config.removeprefix("/opt/synth/"))
            assert cfg.lakehouse.startswith("/data/")  # the volume every pod mounts at /data

    def test_train_has_a_task_slot_per_horovod_process(self, summary: dict[str, Any]) -> None:
        cfg = load_job_config(ROOT / "configs" / "cluster.yaml")
        executor = summary["kubernetes"]["05-train.yaml"]["executor"]
        assert cfg.train.backend == "horovod"
        assert executor["instances"] * executor["cores"] >= cfg.train.num_processes


class TestValidatorCatchesMistakes:
    """The validator must fail on the mistakes it exists for (on a broken copy of infra/)."""

    @pytest.fixture
    def broken(self, tmp_path: Path) -> Path:
        copy = tmp_path / "infra"
        shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns("__pycache__"))
        return copy

    def test_misspelled_databricks_key(self, broken: Path) -> None:
        path = broken / "databricks" / "job.json"
        job = json.loads(path.read_text())
        job["tasks"][0]["notebook_task"]["notebok_path"] = job["tasks"][0]["notebook_task"].pop(
            "notebook_path"
        )
        job["job_clusters"][1]["new_cluster"]["spark_versoin"] = "17.3.x-gpu-ml-scala2.13"
        path.write_text(json.dumps(job))
        result = validate(broken)
        assert result.returncode == 1
        assert "tasks[0].notebook_task.notebok_path: unknown to the SDK" in result.stderr
        assert "job_clusters[1].new_cluster.spark_versoin: unknown to the SDK" in result.stderr

    def test_dag_that_does_not_import(self, broken: Path) -> None:
        path = broken / "airflow" / "synth_pipeline.py"
        path.write_text(path.read_text().replace("SparkSubmitOperator(", "SparkSubmitOperatr(", 1))
        result = validate(broken)
        assert result.returncode == 1
        assert "synth_pipeline.py" in result.stderr and "SparkSubmitOperatr" in result.stderr

    def test_manifest_with_a_wrong_field(self, broken: Path) -> None:
        path = broken / "kubernetes" / "03-clean.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["spec"]["driver"]["core"] = doc["spec"]["driver"].pop("cores")
        doc["spec"]["type"] = "python"
        path.write_text(yaml.safe_dump(doc))
        result = validate(broken)
        assert result.returncode == 1
        assert "03-clean.yaml: spec.driver: Additional properties" in result.stderr
        assert "03-clean.yaml: spec.type: 'python' is not one of" in result.stderr
