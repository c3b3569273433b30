"""The synthesize config: strict keys, run ids, cross-field checks."""

from __future__ import annotations

import pytest

from synth.config.base import parse_model
from synth.config.synthesize import EnrichConfig, SynthesizeConfig
from synth.errors import ConfigError


class TestSynthesizeConfig:
    def test_defaults_are_valid(self):
        cfg = SynthesizeConfig()
        assert cfg.rows > 0 and cfg.filters.privacy.quantile == 0.05

    def test_run_id_must_be_an_identifier(self):
        with pytest.raises(ConfigError, match="run_id"):
            parse_model(SynthesizeConfig, {"run_id": "a'b"}, where="x.yaml")
        assert SynthesizeConfig(run_id="nightly-2026.11_30").run_id == "nightly-2026.11_30"

    def test_zero_rows_needs_conditions(self):
        with pytest.raises(ConfigError, match="nothing to make"):
            parse_model(SynthesizeConfig, {"rows": 0}, where="x.yaml")
        cfg = SynthesizeConfig(rows=0, conditions=[{"where": {"lifecycle": "new"}, "rows": 5}])
        assert cfg.conditions[0].rows == 5

    def test_unknown_keys_name_the_path(self):
        with pytest.raises(ConfigError, match=r"filters\.realism\.treshold: unknown key"):
            parse_model(
                SynthesizeConfig, {"filters": {"realism": {"treshold": 0.9}}}, where="x.yaml"
            )

    def test_enrich_target_must_exceed_max(self):
        with pytest.raises(ConfigError, match="target_events"):
            parse_model(EnrichConfig, {"max_events": 3, "target_events": 3}, where="x.yaml")
