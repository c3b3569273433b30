"""Validate the cluster definitions with the tools that run them; print what they define.

Run with the infra environment (``bin/bootstrap`` makes it from uv.lock's ``infra`` group):

    .cache/venv-infra/bin/python infra/validate.py [--infra DIR]

- ``databricks/job.json``: read into the Databricks SDK's ``JobSettings`` data class (the
  Jobs API's create / reset body) and written back; a key the SDK does not know or an enum value
  it does not accept is dropped on the way, so any difference is an error.
- ``airflow/*.py``: parsed by Airflow's own ``DagBag`` (the scheduler's loader): no import
  errors, no cycles.
- ``kubernetes/*.yaml``: each SparkApplication checked with jsonschema against
  ``kubernetes/sparkapplication-v1beta2.schema.json`` (transcribed from the spark-operator's API
  types; unknown keys rejected).

Prints one JSON document (tasks, their order, the files and arguments they run) for the tests to
check against the repository (stage list, jobs/, notebooks/, configs/); exits 1 with one line per
problem on stderr. Needs no network and no cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def _diff(want: Any, got: Any, path: str, out: list[str]) -> None:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want:
            if key not in got:
                out.append(f"{path}.{key}: unknown to the SDK (dropped), or an invalid value")
            else:
                _diff(want[key], got[key], f"{path}.{key}", out)
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            _diff(a, b, f"{path}[{i}]", out)
    elif want != got:
        out.append(f"{path}: {want!r} reads back as {got!r}")


def databricks(folder: Path, errors: list[str]) -> dict[str, Any]:
    """Check the job definition with the SDK's data classes; summarise its tasks."""
    from databricks.sdk.service.jobs import JobSettings

    path = folder / "databricks" / "job.json"
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        errors.append(f"{path}: {exc}")
        return {}
    settings = JobSettings.from_dict(body)
    problems: list[str] = []
    _diff(body, settings.as_dict(), "", problems)
    errors.extend(f"{path}: {p.lstrip('.')}" for p in problems)
    return {
        "job_clusters": {
            c.job_cluster_key: {
                "spark_version": c.new_cluster.spark_version if c.new_cluster else None,
                "spark_conf": (c.new_cluster.spark_conf or {}) if c.new_cluster else {},
            }
            for c in settings.job_clusters or []
        },
        "parameters": {p.name: p.default for p in settings.parameters or []},
        "tasks": [
            {
                "task_key": t.task_key,
                "depends_on": [d.task_key for d in t.depends_on or []],
                "job_cluster_key": t.job_cluster_key,
                "notebook_path": t.notebook_task.notebook_path if t.notebook_task else None,
                "base_parameters": (t.notebook_task.base_parameters or {})
                if t.notebook_task
                else {},
            }
            for t in settings.tasks or []
        ],
    }


def airflow(folder: Path, errors: list[str]) -> dict[str, Any]:
    """Load the DAG folder with Airflow's DagBag; summarise every DAG's tasks."""
    home = tempfile.mkdtemp(prefix="synth-airflow-home-")
    os.environ.setdefault("AIRFLOW_HOME", home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder / "airflow"))
    for file, error in bag.import_errors.items():
        errors.append(f"{file}: {error.strip().splitlines()[-1] if error.strip() else error}")
    if not bag.dags:
        errors.append(f"{folder / 'airflow'}: no DAG found")
    out: dict[str, Any] = {}
    for dag_id, dag in bag.dags.items():
        out[dag_id] = {
            "max_active_runs": dag.max_active_runs,
            "tasks": [
                {
                    "task_id": task.task_id,
                    "operator": type(task).__name__,
                    "upstream": sorted(task.upstream_task_ids),
                    **{
                        name: getattr(task, name, None)
                        for name in ("application", "application_args", "py_files", "jars")
                    },
                }
                for task in dag.topological_sort()
            ],
        }
    return out


def kubernetes(folder: Path, errors: list[str]) -> dict[str, Any]:
    """Check every SparkApplication manifest against the schema; summarise them."""
    import jsonschema
    import yaml

    schema_path = folder / "kubernetes" / "sparkapplication-v1beta2.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    out: dict[str, Any] = {}
    for path in sorted((folder / "kubernetes").glob("*.yaml")):
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        except yaml.YAMLError as exc:
            errors.append(f"{path}: {exc}")
            continue
        if len(docs) != 1:
            errors.append(f"{path}: expected one SparkApplication, found {len(docs)} documents")
            continue
        (doc,) = docs
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
            errors.append(f"{path}: {where}: {error.message}")
        spec = doc.get("spec", {}) if isinstance(doc, dict) else {}
        out[path.name] = {
            "name": doc.get("metadata", {}).get("name") if isinstance(doc, dict) else None,
            "image": spec.get("image"),
            "mainApplicationFile": spec.get("mainApplicationFile"),
            "arguments": spec.get("arguments", []),
            "sparkVersion": spec.get("sparkVersion"),
            "executor": spec.get("executor", {}),
        }
    if not out:
        errors.append(f"{folder / 'kubernetes'}: no manifest found")
    return out


CHECKS = {"databricks": databricks, "airflow": airflow, "kubernetes": kubernetes}


def main(argv: list[str] | None = None) -> int:
    """Run every check; print the summary JSON; return 1 when a check found a problem."""
    parser = argparse.ArgumentParser(prog="infra/validate.py", description=__doc__.split("\n")[0])
    parser.add_argument("--infra", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    errors: list[str] = []
    summary = {name: check(args.infra, errors) for name, check in CHECKS.items()}
    sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    for line in errors:
        sys.stderr.write(f"infra/validate.py: {line}\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
