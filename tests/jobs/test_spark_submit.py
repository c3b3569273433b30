"""`spark-submit --master local[2] jobs/<stage>.py` with synth shipped as a wheel on --py-files."""

from __future__ import annotations

import ast
import subprocess
import zipfile
from pathlib import Path

import pytest

from synth.stages import STAGES
from tests.jobs.submit import ROOT, explain, job_args, small_config, spark_submit

pytestmark = pytest.mark.spark


def test_every_stage_has_a_thin_job() -> None:
    for name in (*STAGES, "pipeline"):
        path = ROOT / "jobs" / f"{name}.py"
        assert path.is_file(), f"missing spark-submit entry point {path}"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "cli_main"
        ]
        assert len(calls) == 1, f"{path}: expected one call of synth.cli.main"
        default = {k.arg: k.value for k in calls[0].keywords}.get("default_command")
        assert isinstance(default, ast.Constant)
        assert default.value == ("run" if name == "pipeline" else name), path


def test_package_refuses_an_unknown_argument() -> None:
    result = subprocess.run(
        [str(ROOT / "bin" / "package"), "--outdir", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "bin/package: unknown argument --outdir (use --out DIR)" in result.stderr


def test_wheel_holds_the_package_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "synth/cli.py" in names and "synth/py.typed" in names
    assert {n.split("/")[0] for n in names} == {"synth", f"{wheel.name.split('-py3')[0]}.dist-info"}


# Out of the default suite: every stage job runs under spark-submit with the shipped wheel in
# tests/infra/test_airflow_run.py, and the pipeline job in tests/jobs/test_standalone_cluster.py.
@pytest.mark.slow
def test_stage_job_runs_under_spark_submit(wheel: Path, tmp_path: Path) -> None:
    config = small_config(tmp_path)
    result = spark_submit(
        job_args("pipeline", config, wheel=wheel, args=["--to", "ingest"]), cwd=tmp_path
    )
    assert result.returncode == 0, explain(result)
    # the driver imported synth from the shipped wheel, not from the checkout (spark-submit merges
    # the Python driver's stderr into its stdout)
    assert f"synth 0.1.0 from {wheel}/synth" in result.stdout, explain(result)
    assert "[simulate] done" in result.stdout and "[ingest] done" in result.stdout
    bronze = list((tmp_path / "lakehouse" / "bronze").glob("*_events/_delta_log/*.json"))
    assert bronze, "ingest wrote no Delta table"

    # one stage job on its own, on the tables the pipeline job left
    result = spark_submit(job_args("clean", config, wheel=wheel), cwd=tmp_path)
    assert result.returncode == 0, explain(result)
    assert "[balanced]" in result.stdout and "[clean] done" in result.stdout
    assert list((tmp_path / "lakehouse" / "silver").glob("*/_delta_log/*.json"))


def test_without_the_delta_jars_the_job_says_how_to_pass_them(wheel: Path, tmp_path: Path) -> None:
    config = small_config(tmp_path)
    result = spark_submit(
        job_args("simulate", config, wheel=wheel, master="local[1]", jars=False), cwd=tmp_path
    )
    assert result.returncode == 2, explain(result)
    assert "error: Delta Lake is not on spark-submit's classpath" in result.stdout
    assert "spark-submit --jars" in result.stdout
    assert not (tmp_path / "lakehouse").exists(), "nothing may be written before the check"
