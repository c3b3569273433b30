"""The main command end to end in a subprocess: every stage, a re-run, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.report.html import stray_numbers

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


def test_cli_run_simulator_end_to_end_and_idempotent(tmp_path):
    # Setup: a small simulator job
    config = tmp_path / "job.yaml"
    config.write_text(
        f"lakehouse: {tmp_path / 'lh'}\nsource:\n  kind: simulator\n"
        "  simulator: {seed: 7, events: 5000, days: 3}\n"
        "synthesize: {rows: 2000, block_rows: 500}\n"
        "recommend: {seeds: [0, 1], models: {als: {rank: 8, max_iter: 3, reg_params: [0.5]},"
        " item_knn: {neighbours: [20, 50]}}}\n"
        "evaluate: {privacy: {rows: 200}, utility: {rows: 500}, fidelity: {rows: 500}}\n"
    )
    # Run: twice, then a bad config
    first = _run("run", "--config", str(config), cwd=REPO)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _run("run", "--config", str(config), cwd=REPO)
    assert second.returncode == 0, second.stderr[-3000:]
    # Assert: progress per stage, balanced accounting, nothing re-simulated or re-ingested
    for stage in (
        "simulate",
        "ingest",
        "clean",
        "features",
        "train",
        "synthesize",
        "filter",
        "fuse",
        "recommend",
        "evaluate",
        "report",
    ):
        assert f"[{stage}] done" in first.stdout
    assert "[balanced]" in first.stdout
    summary = json.loads((tmp_path / "lh" / "_reports" / "run_summary.json").read_text())
    assert summary["stages"]["simulate"]["reused"] is True
    assert summary["stages"]["ingest"]["rows_added"] == 0
    accounting = json.loads((tmp_path / "lh" / "_reports" / "clean_accounting.json").read_text())
    assert accounting["balanced"] and 4000 < accounting["bronze_rows"] < 6500
    assert accounting["silver_rows"] < accounting["bronze_rows"]  # default dirt is removed
    # the verdict: one report per run id, every number on it from its metrics.json
    written = summary["stages"]["report"]
    assert f"report:    {written['report_html']}" in second.stdout
    metrics = json.loads(Path(written["metrics_json"]).read_text())
    page = Path(written["report_html"]).read_text()
    assert page.startswith("<!DOCTYPE html>") and stray_numbers(page, metrics) == []
    results = metrics["recommend"]["results"]
    assert sorted(results) == ["als", "ease", "item_knn", "popularity"]
    assert all(sorted(v) == ["fused", "real", "synthetic"] for v in results.values())
    ndcg = results["item_knn"]["real"]["all"]["ndcg@10"]
    assert len(ndcg["seeds"]) == 2 and 0 < ndcg["mean"] <= 1
    assert metrics["recommend"]["data"]["test_cold_users"] > 0
    assert {"privacy.mia_auc", "privacy.closer_to_training_share"} <= set(metrics["targets"])
    assert 0 <= metrics["evaluate"]["privacy"]["mia_auc"] <= 1


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
