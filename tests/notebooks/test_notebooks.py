"""The Databricks-source notebooks: their format, and each one run as plain Python."""

from __future__ import annotations

import ast
import json
import re
import runpy
from pathlib import Path

import pytest

from synth.stages import STAGES

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
HEADER = "# Databricks notebook source\n"
CELL = "# COMMAND ----------"


def _stage_notebooks() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.py") if p.stem != "00_walkthrough")


def test_one_notebook_per_stage_plus_a_walkthrough():
    names = [p.stem.split("_", 1)[1] for p in _stage_notebooks()]
    assert names == list(STAGES)
    assert (NOTEBOOKS / "00_walkthrough.py").is_file()


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.py")), ids=lambda p: p.stem)
def test_databricks_source_format_parameters_first_and_only_synth(path):
    text = path.read_text()
    assert text.startswith(HEADER)
    cells = [c.strip() for c in text[len(HEADER) :].split(CELL)]
    code = [c for c in cells if c and not all(ln.startswith("# MAGIC") for ln in c.splitlines())]
    # the first code cell reads the parameters (widgets on Databricks, defaults elsewhere)
    assert re.search(r"parameters\(\s*dbutils,", code[0])
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(ast.parse(text))
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    assert imported and all(str(m).split(".")[0] == "synth" for m in imported), imported


@pytest.mark.spark
def test_each_notebook_runs_as_plain_python(spark, tmp_path, monkeypatch, capsys):
    # Setup: a tiny simulator job; the notebooks read it through SYNTH_NB_* variables
    config = tmp_path / "job.yaml"
    config.write_text(
        f"lakehouse: {tmp_path / 'lh'}\nsource:\n  kind: simulator\n"
        "  simulator: {seed: 3, events: 5000, days: 3}\n"
        "features: {embedding: {enabled: false}}\n"
        "train: {train: {epochs: 3, batch_size: 200, seed: 0, patience: 0,"
        " validation_fraction: 0.0}}\n"
        "synthesize: {rows: 1000, block_rows: 500, filters: {realism: {threshold: 0.999}}}\n"
        "recommend: {seeds: [0, 1], models: {als: {rank: 4, max_iter: 2, reg_params: [0.5]},"
        " item_knn: {neighbours: [20]}}}\n"
        "evaluate: {privacy: {rows: 100}, utility: {rows: 300}, fidelity: {rows: 300}}\n"
    )
    monkeypatch.setenv("SYNTH_NB_CONFIG", str(config))
    # Run: every stage notebook in order, then the walkthrough over the last two stages
    for path in _stage_notebooks():
        runpy.run_path(str(path), run_name="__main__")
    monkeypatch.setenv("SYNTH_NB_FROM_STAGE", "evaluate")
    out = runpy.run_path(str(NOTEBOOKS / "00_walkthrough.py"), run_name="__main__")
    # Assert: every stage reported, and the walkthrough ends with the run's report
    printed = capsys.readouterr().out
    for stage in STAGES:
        assert f"[{stage}] done" in printed
    report = out["summary"].stages["report"]
    assert Path(report["report_html"]).is_file()
    assert json.loads(Path(report["metrics_json"]).read_text())["targets_total"] > 0
    assert f"report: {report['report_html']}" in printed
