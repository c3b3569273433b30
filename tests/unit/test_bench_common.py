"""bench/common.py: the result file format every benchmark writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from common import target_met, write_result  # noqa: E402


def test_result_file_has_the_house_format(tmp_path):
    targets = {"rate": (">=", 10.0), "seconds": ("<=", 5.0)}
    met = write_result("demo", {"rate": 12.0, "seconds": 6.5, "rows": 3}, targets,
                       tmp_path / "demo.json")  # fmt: skip
    data = json.loads((tmp_path / "demo.json").read_text())
    assert set(data) == {"benchmark", "measured_at", "machine", "metrics", "targets", "met"}
    assert data["benchmark"] == "demo" and data["measured_at"].endswith("Z")
    assert set(data["machine"]) == {"cores", "memory_gb"}
    assert data["targets"] == {"rate": [">=", 10.0], "seconds": ["<=", 5.0]}
    assert met == data["met"] == {"rate": True, "seconds": False}


@pytest.mark.parametrize(("value", "op", "bound", "want"), [
    (1.0, ">=", 1.0, True), (1.0, ">", 1.0, False), (1.0, "<=", 1.0, True), (0.9, "<", 1.0, True),
])  # fmt: skip
def test_target_operators(value, op, bound, want):
    assert target_met(value, op, bound) is want


def test_unknown_operator_is_an_error():
    with pytest.raises(ValueError, match="unknown target operator"):
        target_met(1.0, "==", 1.0)
