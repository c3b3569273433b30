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

    def test_weights_fill_canonical_defaults_and_declare_extra_types(self):
        cfg = InteractionConfig(weights={"view": 0.5, "share": 2.0})
        assert cfg.weights["view"] == 0.5 and cfg.weights["purchase"] == 5.0
        assert cfg.weights["favorite"] == 2.0
        assert cfg.extra_types() == ("share",)
        assert cfg.event_types()[-1] == "share" and "favorite" in cfg.event_types()

    def test_weight_names_must_be_type_names(self):
        with pytest.raises(ValidationError, match=r"event type names \['Add To Cart'\]"):
            InteractionConfig(weights={"Add To Cart": 1.0})

    @pytest.mark.parametrize("dim", [0, 385])
    def test_embedding_dim_range(self, dim):
        with pytest.raises(ValidationError, match="dim"):
            EmbeddingConfig(dim=dim)
