"""Config of the recommend stage: defaults, and bad values named by key path."""

from __future__ import annotations

import pytest

from synth.config.base import parse_model
from synth.config.job import JobConfig
from synth.errors import ConfigError

SOURCE = {"kind": "simulator"}


def test_defaults_follow_the_protocol():
    cfg = parse_model(JobConfig, {"source": SOURCE}, where="t")
    assert cfg.recommend.seeds == (0, 1, 2, 3, 4)
    assert cfg.recommend.variants == ("real", "fused", "synthetic")
    assert cfg.recommend.k[0] == 10 and cfg.recommend.cold_max_events == 3


@pytest.mark.parametrize(
    "recommend, message",
    [
        ({"seeds": [0]}, "recommend.seeds"),
        ({"seeds": [1, 1]}, "repeated"),
        ({"variants": ["real", "imagined"]}, "recommend.variants"),
        ({"k": [0]}, "recommend.k"),
        ({"models": {"als": {"reg_params": [-1.0]}}}, "reg_params must be > 0"),
        ({"models": {"item_knn": {"neighbours": [10, 10]}}}, "repeated values"),
        ({"models": {"slim": {}}}, "recommend.models.slim: unknown key"),
        ({"models": {"ease": {"l2": [0.0]}}}, "ease.l2 must be > 0"),
        ({"cold_share": 1.0}, "recommend.cold_share"),
    ],
)
def test_bad_values_are_rejected_with_their_key_path(recommend, message):
    with pytest.raises(ConfigError, match=message):
        parse_model(JobConfig, {"source": SOURCE, "recommend": recommend}, where="job.yaml")


@pytest.mark.parametrize(
    ("sasrec", "message"),
    [
        ({"hidden": [32, 30], "heads": 4}, r"hidden values \[30\] are not multiples of heads 4"),
        ({"hidden": [32, 32]}, r"recommend.models.sasrec.hidden: repeated values"),
        ({"hidden": [0]}, r"recommend.models.sasrec.hidden must be >= 1"),
    ],
)
def test_bad_sasrec_settings_are_refused_with_the_fix(sasrec, message):
    from synth.config.recommend import RecommendConfig

    with pytest.raises((ConfigError, ValueError), match=message):
        RecommendConfig.model_validate({"models": {"sasrec": sasrec}})
