"""Model and run references: the model id, the model folder a config resolves to, the run id."""

from __future__ import annotations

import json
import re

import pytest

from synth.config.job import JobConfig
from synth.config.train import TrainStageConfig
from synth.errors import InputError
from synth.io.delta import Lakehouse
from synth.refs import ARTIFACT, model_id, resolve_model, resolve_run_id


def _job(**synthesize: object) -> JobConfig:
    return JobConfig.model_validate({"source": {"kind": "simulator"}, "synthesize": synthesize})


def test_model_id_names_table_model_version_and_config_but_not_resume():
    # Setup
    cfg = TrainStageConfig()
    # Run
    ident = model_id(cfg, 3)
    # Assert
    assert re.fullmatch(rf"{cfg.table}-{cfg.model}-v3-[0-9a-f]{{8}}", ident)
    assert model_id(cfg.model_copy(update={"resume": True}), 3) == ident
    assert model_id(cfg, 4) != ident


def test_resolve_model_reads_the_artifact_of_a_configured_model_dir(tmp_path):
    # Setup: a model folder as the train stage writes it
    artifact = {
        "model_id": "user_profiles-vae-v0-abcdef12",
        "table": "user_profiles",
        "table_path": "/lh/gold/user_profiles",
        "delta_version": 0,
        "config": {"holdout_fraction": 0.2, "holdout_seed": 7},
    }
    (tmp_path / ARTIFACT).write_text(json.dumps(artifact))
    cfg = _job(model_dir=str(tmp_path), seed=3)
    # Run: a configured model_dir needs no Spark session
    ref = resolve_model(None, Lakehouse(str(tmp_path / "lh")), cfg)  # type: ignore[arg-type]
    # Assert
    assert (ref.model_dir, ref.model_id, ref.table) == (
        str(tmp_path),
        "user_profiles-vae-v0-abcdef12",
        "user_profiles",
    )
    assert (ref.delta_version, ref.holdout_fraction, ref.holdout_seed) == (0, 0.2, 7)
    assert resolve_run_id(cfg, ref) == "user_profiles-vae-v0-abcdef12-s3"
    assert resolve_run_id(_job(model_dir=str(tmp_path), run_id="mine"), ref) == "mine"


def test_resolve_model_names_the_stage_to_run_when_the_artifact_is_missing(tmp_path):
    cfg = _job(model_dir=str(tmp_path))
    missing = f"no trained model at {tmp_path} \\({ARTIFACT} missing\\)"
    with pytest.raises(InputError, match=missing):
        resolve_model(None, Lakehouse(str(tmp_path)), cfg)  # type: ignore[arg-type]


def test_the_sequence_model_settings_do_not_change_the_profile_model_id() -> None:
    base = TrainStageConfig()
    changed = TrainStageConfig.model_validate({"sequence": {"params": {"hidden": 16}}})
    assert model_id(base, 3) == model_id(changed, 3) == "user_profiles-vae-v3-3efdb1ce"
