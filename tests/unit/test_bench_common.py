"""bench/common.py: the result file format every benchmark writes; every benchmark's CLI."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

import bench.common
from bench.common import PeakRss, result_document, run_module, target_met, write_result

BENCHMARKS = (
    "behaviour",
    "calibrate_simulator",
    "features",
    "file_layer",
    "generators",
    "ingest_clean",
    "models_cuda",
    "pipeline_scale",
    "recommend",
    "session_conf",
    "simulate_scale",
    "suite_jvm",
    "synthesis",
    "training",
)


def test_result_file_has_the_house_format(tmp_path):
    targets = {"rate": (">=", 10.0), "seconds": ("<=", 5.0)}
    met = write_result(
        "demo", {"rate": 12.0, "seconds": 6.5, "rows": 3}, targets, tmp_path / "demo.json"
    )
    data = json.loads((tmp_path / "demo.json").read_text())
    assert set(data) == {"benchmark", "measured_at", "machine", "metrics", "targets", "met"}
    assert data["benchmark"] == "demo" and data["measured_at"].endswith("Z")
    assert set(data["machine"]) == {"cores", "memory_gb"}
    assert data["targets"] == {"rate": [">=", 10.0], "seconds": ["<=", 5.0]}
    assert met == data["met"] == {"rate": True, "seconds": False}


@pytest.mark.parametrize(
    ("value", "op", "bound", "want"),
    [
        (1.0, ">=", 1.0, True),
        (1.0, ">", 1.0, False),
        (1.0, "<=", 1.0, True),
        (0.9, "<", 1.0, True),
    ],
)
def test_target_operators(value, op, bound, want):
    assert target_met(value, op, bound) is want


def test_unknown_operator_is_an_error():
    with pytest.raises(ValueError, match="unknown target operator"):
        target_met(1.0, "==", 1.0)


def test_given_met_is_kept_and_machine_is_filled():
    doc = result_document("demo", {"rate": 9.9999999}, {"rate": (">=", 10.0)}, {"rate": True})
    assert doc["met"] == {"rate": True}
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["memory_gb"] > 0


def test_a_child_module_runs_from_another_folder_and_its_memory_is_sampled(tmp_path):
    rc, peak_bytes = run_module("bench.common", cwd=tmp_path)
    assert rc == 0 and peak_bytes > 0


def test_peak_rss_of_this_process_by_phase():
    with PeakRss(interval_s=0.05) as peak, peak.phase("work"):
        pass
    assert peak.peak_bytes > 0 and peak.by_phase["work"] > 0


def test_the_list_names_every_benchmark():
    folder = Path(bench.common.__file__).parent
    scripts = {p.stem for p in folder.glob("*.py")} - {"__init__", "common"}
    assert scripts == set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_imports_and_parses_help(name, capsys):
    module = importlib.import_module(f"bench.{name}")
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_set_phase_attributes_later_samples_to_the_new_phase():
    with PeakRss(interval_s=0.05) as peak:
        peak.set_phase("stage_a")
        peak.set_phase("stage_b")
    assert {"setup", "stage_a", "stage_b"} <= set(peak.by_phase)
    assert peak.current == "stage_b"
