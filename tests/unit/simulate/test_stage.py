"""Stage ``simulate``: the sources it serves; a landing folder reused for the same settings."""

from __future__ import annotations

import json

import pytest

from synth.config.job import JobConfig, SimulatorSource
from synth.errors import InputError
from synth.io.delta import Lakehouse
from synth.simulate.stage import SIM_MARKER, SimulateReport, run


def test_a_landing_folder_holding_the_same_settings_is_reused(tmp_path):
    # Setup: the marker an earlier run left
    cfg = JobConfig.model_validate(
        {"lakehouse": str(tmp_path / "lh"), "source": {"kind": "simulator", "name": "s"}}
    )
    assert isinstance(cfg.source, SimulatorSource)
    lakehouse = Lakehouse(cfg.lakehouse)
    landing = tmp_path / "lh" / "landing" / "s"
    landing.mkdir(parents=True)
    (landing / SIM_MARKER).write_text(json.dumps({"settings_hash": cfg.source.settings_hash()}))
    # Run: no Spark session is needed to reuse the files
    report = run(None, lakehouse, cfg)  # type: ignore[arg-type]
    # Assert
    assert report == SimulateReport(
        landing=str(landing), settings_hash=cfg.source.settings_hash(), reused=True
    )
    assert report.to_dict() == {
        "landing": str(landing),
        "settings_hash": cfg.source.settings_hash(),
        "reused": True,
    }


def test_another_source_is_refused(tmp_path):
    cfg = JobConfig.model_validate(
        {"source": {"kind": "rees46_multi_category", "paths": [str(tmp_path)]}}
    )
    with pytest.raises(InputError, match="needs `source.kind: simulator`"):
        run(None, Lakehouse(str(tmp_path)), cfg)  # type: ignore[arg-type]
