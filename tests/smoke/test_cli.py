"""The main command in a subprocess, on bad input. The whole job through `synth run`, a re-run
that adds nothing included, is tested on an s3a:// lakehouse in
tests/integration/io/test_s3_lakehouse.py, and on a local one stage by stage under spark-submit in
tests/infra/test_airflow_run.py: each whole run is one of the suite's costliest tests, so the
suite runs it there once per path, not here again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.spark


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNTH_DRIVER_MEMORY": "2g", "SYNTH_SHUFFLE_PARTITIONS": "2"}
    return subprocess.run(
        [sys.executable, "-m", "synth", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_bad_config_exits_2_with_message(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("source:\n  kind: simulator\n  simulator: {events: -5}\n")
    result = _run("run", "--config", str(config), cwd=REPO)
    assert result.returncode == 2
    assert (
        "error:" in result.stderr
        and "source.simulator" in result.stderr
        and "events" in result.stderr
    )
    assert not (REPO / "lakehouse" / "_reports" / "never").exists()


def test_cli_missing_input_exits_2_and_writes_nothing(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(
        f"lakehouse: {tmp_path / 'lh'}\n"
        f"source: {{kind: rees46_multi_category, paths: [{tmp_path / 'absent'}]}}\n"
    )
    result = _run("run", "--config", str(config), cwd=REPO)
    assert result.returncode == 2
    assert "input path does not exist" in result.stderr
    assert not (tmp_path / "lh" / "bronze").exists()
