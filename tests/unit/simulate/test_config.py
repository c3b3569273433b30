"""Validation of the simulator's configuration models (pure Python, no Spark)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from synth.config.simulate import DirtConfig, SimulatedBehaviourConfig, SimulatorConfig


class TestDirtConfig:
    def test_defaults_are_small_and_realistic(self):
        # Run
        cfg = DirtConfig()
        # Assert: a few per cent of rows in total, every kind on
        assert 0.005 < cfg.row_rate_total < 0.05
        assert all(rate > 0 for rate in cfg.rates().values())

    def test_none_turns_every_kind_off(self):
        assert set(DirtConfig.none().rates().values()) == {0.0}

    @pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
    def test_rate_out_of_range_names_field_and_range(self, value):
        with pytest.raises(ValidationError) as err:
            DirtConfig(bad_price_rate=value)
        assert "DirtConfig.bad_price_rate" in str(err.value)
        assert "allowed [0, 1]" in str(err.value)

    def test_row_rates_adding_above_one_are_rejected(self):
        with pytest.raises(ValidationError, match=r"add up to 1\.2\d\d; allowed at most 1"):
            DirtConfig(exact_duplicate_rate=0.6, near_duplicate_rate=0.6)

    def test_unknown_key_is_rejected(self):
        with pytest.raises(ValidationError, match="extra"):
            DirtConfig(duplicate_rate=0.1)  # type: ignore[call-arg]

    def test_is_frozen(self):
        cfg = DirtConfig()
        with pytest.raises(ValidationError):
            cfg.bad_price_rate = 0.5  # type: ignore[misc]


class TestSimulatedBehaviourConfig:
    def test_cart_outcomes_must_be_exclusive(self):
        with pytest.raises(ValidationError, match="purchase_after_cart \\+ remove_after_cart"):
            SimulatedBehaviourConfig(purchase_after_cart=0.7, remove_after_cart=0.5)

    def test_bot_event_range_must_be_ordered(self):
        with pytest.raises(ValidationError, match="bot_events_min=500 is above bot_events_max=200"):
            SimulatedBehaviourConfig(bot_events_min=500, bot_events_max=200)

    def test_probability_out_of_range_names_field(self):
        with pytest.raises(ValidationError, match=r"SimulatedBehaviourConfig\.revisit_rate=2\.0"):
            SimulatedBehaviourConfig(revisit_rate=2.0)


class TestSimulatorConfig:
    def test_defaults(self):
        cfg = SimulatorConfig()
        assert cfg.seed == 42
        assert cfg.start.isoformat() == "2019-10-01"
        assert cfg.partitions is None

    @pytest.mark.parametrize("days", [0, -3, 5000])
    def test_bad_days_names_field_and_range(self, days):
        with pytest.raises(
            ValidationError,
            match=rf"SimulatorConfig\.days={days} is out of range: allowed 1 to 3660",
        ):
            SimulatorConfig(days=days)

    def test_bad_events_names_field_and_range(self):
        with pytest.raises(
            ValidationError, match=r"SimulatorConfig\.events=0 is out of range: allowed 1 to"
        ):
            SimulatorConfig(events=0)

    def test_bad_items_names_field(self):
        with pytest.raises(ValidationError, match=r"SimulatorConfig\.items=3 is out of range"):
            SimulatorConfig(items=3)

    def test_bad_partitions_names_field(self):
        with pytest.raises(ValidationError, match=r"SimulatorConfig\.partitions=0 is out of range"):
            SimulatorConfig(partitions=0)

    def test_items_derived_from_events_grow_sublinearly(self):
        # Run
        small = SimulatorConfig(events=10_000).resolved_items
        large = SimulatorConfig(events=1_000_000).resolved_items
        # Assert: 25 * sqrt(events); the real October month (42M events) has ~160k products
        assert small == 2_500
        assert large == 25_000
        assert 150_000 < SimulatorConfig(events=42_000_000).resolved_items < 170_000

    def test_explicit_items_win(self):
        assert SimulatorConfig(events=10_000, items=777).resolved_items == 777

    def test_nested_dirt_from_mapping(self):
        cfg = SimulatorConfig.model_validate({"dirt": {"bot_user_rate": 0.01}})
        assert cfg.dirt.bot_user_rate == 0.01
        assert cfg.dirt.bad_price_rate == DirtConfig().bad_price_rate
