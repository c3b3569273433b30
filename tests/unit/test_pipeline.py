"""The stage registry and the run loop, with stand-in stages (no Spark session)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from synth import pipeline
from synth.config.job import JobConfig
from synth.io.delta import Lakehouse
from synth.pipeline import REGISTRY, Stage
from synth.stages import STAGES, StageReport


@dataclass
class _Quiet(StageReport):
    stage: str


@dataclass
class _Chatty(StageReport):
    stage: str
    rows: int = 3

    def summary(self) -> str:
        return f"{self.rows} rows\n  by {self.stage}"


def _stand_ins(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every stage's entry point (keeping when it applies / is skipped); return calls."""
    calls: list[str] = []
    for name, stage in REGISTRY.items():

        def fake(
            spark: object, lakehouse: Lakehouse, cfg: JobConfig, name: str = name
        ) -> StageReport:
            calls.append(name)
            return _Quiet(name) if name in ("simulate", "ingest") else _Chatty(name)

        monkeypatch.setitem(REGISTRY, name, Stage(fake, applies=stage.applies, skip=stage.skip))  # type: ignore[arg-type]
    return calls


def _job(tmp_path: Path, **data: object) -> JobConfig:
    return JobConfig.model_validate(
        {"lakehouse": str(tmp_path / "lh"), "source": {"kind": "simulator"}, **data}
    )


def test_the_registry_holds_every_stage_in_order():
    assert tuple(REGISTRY) == STAGES


def test_each_entry_resolves_to_its_stage_function():
    for name, stage in REGISTRY.items():
        assert callable(stage.run), name
        assert stage.run.__module__.startswith(f"synth.{name}.") or (
            stage.run.__module__ == "synth.generate.stage" and stage.run.__name__ == f"run_{name}"
        ), (name, stage.run.__module__, stage.run.__name__)


def test_the_pipeline_loads_torch_only_for_a_stage_that_uses_it():
    # a spark-submit job of one stage (jobs/<stage>.py) loads torch only if that stage needs it
    code = (
        "import sys, synth.pipeline as p; assert 'torch' not in sys.modules, 'eager'; "
        "p.REGISTRY['report'].run; assert 'torch' not in sys.modules, 'report'; "
        "p.REGISTRY['train'].run; assert 'torch' in sys.modules, 'train'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_run_announces_each_stage_and_writes_its_summary(tmp_path, monkeypatch):
    # Setup
    calls = _stand_ins(monkeypatch)
    cfg = _job(tmp_path)
    lines: list[str] = []
    # Run
    summary = pipeline.run(None, cfg, stages=("simulate", "ingest", "clean"), progress=lines.append)  # type: ignore[arg-type]
    # Assert: start, the report's summary lines, the time; nothing for a summary-less report
    assert calls == ["simulate", "ingest", "clean"]
    assert [line for line in lines if " done in " not in line] == [
        "[simulate] started",
        "[ingest] started",
        "[clean] started",
        "[clean] 3 rows",
        "[clean]   by clean",
    ]
    assert [line.split(" done in ")[0] for line in lines if " done in " in line] == [
        "[simulate]",
        "[ingest]",
        "[clean]",
    ]
    written = json.loads(Path(summary.path()).read_text())
    assert summary.path() == f"{tmp_path}/lh/_reports/run_summary.json"
    assert written["stages"] == {
        "simulate": {"stage": "simulate"},
        "ingest": {"stage": "ingest"},
        "clean": {"stage": "clean", "rows": 3},
    }
    assert written["lakehouse"] == f"{tmp_path}/lh" and written["source"].startswith("sim_")
    assert set(written["seconds"]) == {"simulate", "ingest", "clean"}


def test_simulate_is_passed_over_for_another_source_and_recommend_skipped_when_disabled(
    tmp_path, monkeypatch
):
    # Setup
    calls = _stand_ins(monkeypatch)
    cfg = _job(
        tmp_path,
        source={"kind": "rees46_multi_category", "name": "shop", "paths": [str(tmp_path)]},
        recommend={"enabled": False},
    )
    lines: list[str] = []
    # Run
    summary = pipeline.run(None, cfg, progress=lines.append)  # type: ignore[arg-type]
    # Assert
    assert calls == [s for s in STAGES if s not in ("simulate", "recommend")]
    assert "[recommend] skipped (recommend.enabled is false)" in lines
    assert not any(line.startswith("[simulate]") for line in lines)
    assert summary.source == "shop" and "recommend" not in summary.stages


def test_a_report_without_overrides_is_its_fields_and_no_lines():
    assert _Quiet("x").to_dict() == {"stage": "x"}
    assert _Quiet("x").summary() == ""


def test_a_run_holds_the_lakehouse_lock_and_a_second_run_is_refused(tmp_path, monkeypatch):
    from synth.io.lock import LOCK_FILE, LakehouseInUse, RunLock

    # Setup: a stage that looks at the lock while the run holds it
    cfg = _job(tmp_path)
    _stand_ins(monkeypatch)
    seen: list[str] = []

    def ingest(spark: object, lakehouse: Lakehouse, cfg: JobConfig) -> StageReport:
        seen.append(json.loads((tmp_path / "lh" / LOCK_FILE).read_text())["command"])
        with pytest.raises(LakehouseInUse, match=r"synth run \(ingest to ingest\)"):
            RunLock(lakehouse).acquire()  # a second run, while this one holds the lock
        return _Quiet("ingest")

    monkeypatch.setitem(REGISTRY, "ingest", Stage(ingest))  # type: ignore[arg-type]
    # Run
    pipeline.run(None, cfg, stages=("ingest",))  # type: ignore[arg-type]
    # Assert: held during the run, released after
    assert seen == ["synth run (ingest to ingest)"]
    assert not (tmp_path / "lh" / LOCK_FILE).exists()
