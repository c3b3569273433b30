"""Fixtures of the spark-submit tests: the wheel bin/package builds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.jobs.submit import ROOT


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synth wheel, built by bin/package (as a user would) into a temporary folder."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [str(ROOT / "bin" / "package"), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.suffix == ".whl", result.stdout
    return path
