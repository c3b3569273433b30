"""Config of the evaluate stage: bad values named by key path."""

from __future__ import annotations

import pytest

from synth.config.base import parse_model
from synth.config.job import JobConfig
from synth.errors import ConfigError

SOURCE = {"kind": "simulator"}


def test_evaluate_rows_must_be_positive():
    with pytest.raises(ConfigError, match="evaluate.privacy.rows"):
        parse_model(
            JobConfig, {"source": SOURCE, "evaluate": {"privacy": {"rows": 0}}}, where="job.yaml"
        )
