from __future__ import annotations

from pathlib import Path

import pytest

from synth.config.clean import CleanConfig, SplitConfig
from synth.config.job import JobConfig, SimulatorSource, load_job_config
from synth.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


class TestLoadJobConfig:
    @pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "configs").glob("*.yaml")))
    def test_load_job_config_example_configs_valid(self, name):
        cfg = load_job_config(REPO / "configs" / f"{name}.yaml")
        assert isinstance(cfg, JobConfig)

    def test_load_job_config_unknown_key_names_path(self, tmp_path):
        path = _write(
            tmp_path, "source: {kind: simulator}\nclean: {dedup: {near_duplicate_windw_s: 2}}\n"
        )
        with pytest.raises(
            ConfigError, match=r"job.yaml: clean.dedup.near_duplicate_windw_s: unknown key"
        ):
            load_job_config(path)

    def test_load_job_config_bad_value_names_path_and_value(self, tmp_path):
        path = _write(
            tmp_path, "source: {kind: simulator}\nclean: {bots: {max_events_per_minute: -3}}\n"
        )
        with pytest.raises(
            ConfigError,
            match=r"clean.bots.max_events_per_minute: .*greater than or equal to 1 \(got -3\)",
        ):
            load_job_config(path)

    def test_load_job_config_unknown_source_kind_lists_allowed(self, tmp_path):
        path = _write(tmp_path, "source: {kind: kafka, paths: [x]}\n")
        with pytest.raises(ConfigError, match=r"source: .*'simulator', 'rees46_multi_category'"):
            load_job_config(path)

    def test_load_job_config_missing_file_and_bad_yaml(self, tmp_path):
        with pytest.raises(ConfigError, match="config file not found"):
            load_job_config(tmp_path / "absent.yaml")
        with pytest.raises(ConfigError, match="not valid YAML"):
            load_job_config(_write(tmp_path, "source: [unclosed\n"))
        with pytest.raises(ConfigError, match="top level must be a mapping"):
            load_job_config(_write(tmp_path, "- a\n- b\n"))

    def test_generic_source_requires_mapping_of_required_columns(self, tmp_path):
        path = _write(
            tmp_path,
            (
                "source: {kind: generic, name: x, paths: [a],"
                " columns: {event_time: t, event_type: e},"
                " event_types: {v: view}}\n"
            ),
        )
        with pytest.raises(
            ConfigError,
            match=r"required canonical column\(s\) not mapped: \['product_id', 'user_id'\]",
        ):
            load_job_config(path)


class TestCleanConfig:
    def test_split_must_sum_to_one(self):
        with pytest.raises(ValueError, match=r"must be 1.0, got 1.1"):
            SplitConfig(train=0.8, validation=0.2, test=0.1)

    def test_price_bounds_ordered(self):
        with pytest.raises(ValueError, match="must be greater than min_price"):
            CleanConfig.model_validate({"prices": {"min_price": 10, "max_price": 5}})


class TestSimulatorSource:
    def test_name_derived_from_settings_not_partitions(self):
        a = SimulatorSource.model_validate({"simulator": {"events": 1000, "partitions": 1}})
        b = SimulatorSource.model_validate({"simulator": {"events": 1000, "partitions": 4}})
        c = SimulatorSource.model_validate({"simulator": {"events": 2000}})
        assert a.resolved_name() == b.resolved_name() != c.resolved_name()
        assert a.resolved_name().startswith("sim_")
