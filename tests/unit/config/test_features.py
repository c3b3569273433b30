"""The features config: strict keys with their path, event-type weights, ranges."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from synth.config.base import parse_model
from synth.config.features import EmbeddingConfig, FeaturesConfig, InteractionConfig
from synth.errors import ConfigError


class TestFeaturesConfig:
    def test_defaults_are_valid(self):
        cfg = FeaturesConfig()
        assert cfg.embedding.dim == 32 and cfg.interactions.weights["purchase"] == 5.0

    def test_unknown_key_names_its_path(self):
        with pytest.raises(ConfigError, match=r"job.yaml: embedding.dimm: unknown key"):
            parse_model(FeaturesConfig, {"embedding": {"dimm": 8}}, where="job.yaml")

    def test_weights_must_name_every_event_type(self):
        with pytest.raises(ValidationError, match=r"unknown \['click'\], missing \['purchase'\]"):
            InteractionConfig(weights={"view": 1, "cart": 2, "remove_from_cart": 0, "click": 1})

    @pytest.mark.parametrize("dim", [0, 385])
    def test_embedding_dim_range(self, dim):
        with pytest.raises(ValidationError, match="dim"):
            EmbeddingConfig(dim=dim)
