"""Static checks as part of the suite: the lint rules and the type checker pass on the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "synth", "jobs", "bench", "tests", "infra", "notebooks"),
        ("ruff", "format", "--check", "synth", "jobs", "bench", "tests", "infra", "notebooks"),
        ("mypy", "synth"),
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_check_passes(command):
    result = _run(*command)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
