"""The top-level job configuration, loaded from one YAML file.

Example (``configs/simulator.yaml``)::

    lakehouse: ./lakehouse
    source:
      kind: simulator
      simulator: {seed: 42, events: 200000}
    clean:
      dedup: {near_duplicate_window_s: 1.0}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from synth.config.base import StrictModel, load_yaml, parse_model
from synth.config.clean import CleanConfig
from synth.config.evaluate import EvaluateConfig
from synth.config.features import FeaturesConfig
from synth.config.ingest import (
    GenericSource,
    Rees46CosmeticsSource,
    Rees46MultiCategorySource,
    _check_name,
)
from synth.config.recommend import RecommendConfig
from synth.config.simulate import SimulatorConfig
from synth.config.synthesize import SynthesizeConfig
from synth.config.train import TrainStageConfig
from synth.errors import ConfigError
from synth.schema import EVENT_TYPES


class SimulatorSource(StrictModel):
    """The embedded default: simulated REES46-format CSV files, ingested like real ones.

    The simulator writes to ``landing`` (default ``<lakehouse>/landing/<name>``); a landing
    folder already complete for the same simulator settings is reused, so re-running the job
    neither re-simulates nor re-ingests. ``name`` defaults to ``sim_<hash of the settings>`` so
    each distinct configuration has its own bronze table.
    """

    kind: Literal["simulator"] = "simulator"
    name: str | None = None
    landing: str | None = None
    compression: Literal["none", "gzip"] = "none"
    simulator: SimulatorConfig = SimulatorConfig()

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)

    def settings_hash(self) -> str:
        """A short stable hash of the simulator settings (not of name or landing)."""
        payload = json.dumps(
            {
                "simulator": self.simulator.model_dump(mode="json", exclude={"partitions"}),
                "compression": self.compression,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:10]

    def resolved_name(self) -> str:
        """The source name used for tables."""
        return self.name or f"sim_{self.settings_hash()}"


JobSource = Annotated[
    SimulatorSource | Rees46MultiCategorySource | Rees46CosmeticsSource | GenericSource,
    Field(discriminator="kind"),
]


class JobConfig(StrictModel):
    """Everything one pipeline run needs."""

    lakehouse: str = "./lakehouse"
    spark_profile: str = "local"
    source: JobSource
    clean: CleanConfig = CleanConfig()
    features: FeaturesConfig = FeaturesConfig()
    train: TrainStageConfig = TrainStageConfig()
    synthesize: SynthesizeConfig = SynthesizeConfig()
    recommend: RecommendConfig = RecommendConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    @model_validator(mode="after")
    def _event_vocabulary(self) -> JobConfig:
        if not isinstance(self.source, GenericSource):
            return self
        known = self.features.interactions.event_types()
        unknown = sorted(self.source.event_type_targets() - set(known))
        if unknown:
            raise ValueError(
                f"source.event_types: event type(s) {unknown} are neither canonical "
                f"({list(EVENT_TYPES)}) nor declared; declare an extra type with its interaction "
                f"weight in features.interactions.weights (e.g. {unknown[0]}: 1.0)"
            )
        constant = self.source.constant_event_type()
        vocabulary = self.source.vocabulary(known)
        if constant is not None and constant.strip().lower() not in vocabulary:
            raise ValueError(
                f"source.columns.event_type: the constant {constant!r} is not in the event "
                f"vocabulary {sorted(vocabulary)}; use one of them, or map it in "
                f"source.event_types (e.g. {constant}: view)"
            )
        return self


def load_job_config(path: str | Path, *, overrides: dict[str, object] | None = None) -> JobConfig:
    """Load and validate a job config; errors name the file and the key path.

    Relative ``paths`` and ``lakehouse`` values are kept relative to the working directory (as
    spark-submit users expect).
    """
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    data.update(overrides or {})
    return parse_model(JobConfig, data, where=str(path))
