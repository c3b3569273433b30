"""The report stage publishes metrics.json and report.html only after the number check."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from synth.config.job import JobConfig
from synth.errors import InvalidDataError
from synth.io.delta import Lakehouse
from synth.report import stage


def _setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, page: str) -> tuple[Lakehouse, Path]:
    lakehouse = Lakehouse(str(tmp_path / "lh"))
    metrics = {"verdict": {"headline": "No lift."}, "targets_met": 1, "targets_total": 2, "x": 0.5}
    monkeypatch.setattr(stage, "resolve_model", lambda *a: SimpleNamespace(model_dir="m"))
    monkeypatch.setattr(stage, "resolve_run_id", lambda *a: "run-1")
    monkeypatch.setattr(stage, "assemble", lambda *a: metrics)
    monkeypatch.setattr(stage, "render", lambda written: page)
    return lakehouse, Path(lakehouse.run_dir("run-1"))


def _cfg(tmp_path: Path) -> JobConfig:
    return JobConfig.model_validate(
        {"lakehouse": str(tmp_path / "lh"), "source": {"kind": "simulator"}}
    )


def test_both_files_are_published_after_the_check(monkeypatch, tmp_path):
    lakehouse, folder = _setup(monkeypatch, tmp_path, "<p>0.5</p>")
    # Run
    report = stage.run(None, lakehouse, _cfg(tmp_path))  # type: ignore[arg-type]
    # Assert: the page and the JSON, and no temporary files beside them
    assert json.loads((folder / "metrics.json").read_text())["x"] == 0.5
    assert (folder / "report.html").read_text() == "<p>0.5</p>"
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json", "report.html"]
    assert report.targets_met == 1


def test_a_failed_check_leaves_the_earlier_report_as_it_was(monkeypatch, tmp_path):
    lakehouse, folder = _setup(monkeypatch, tmp_path, "<p>0.5 and 0.75</p>")
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("old json")
    (folder / "report.html").write_text("old page")
    # Run
    with pytest.raises(InvalidDataError, match=r"numbers not in metrics.json: \['0.75'\]"):
        stage.run(None, lakehouse, _cfg(tmp_path))  # type: ignore[arg-type]
    # Assert: neither file was touched
    assert (folder / "metrics.json").read_text() == "old json"
    assert (folder / "report.html").read_text() == "old page"
