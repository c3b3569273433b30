"""The driver-side plan and the lazy-frame contract of ``simulate_events``."""

from __future__ import annotations

import pytest

from synth.config.simulate import DirtConfig, SimulatorConfig
from synth.schema import EVENT_COLUMNS, RAW_RECORD
from synth.simulate import DIRT, plan_simulation, simulate_events, simulate_labeled_events
from synth.simulate.simulator import user_counts
from tests.jvm import generated_code

# The JVM leaves methods above 8,000 bytes of bytecode to the interpreter (DontCompileHugeMethods).
JIT_METHOD_LIMIT = 8_000


class TestPlan:
    @pytest.mark.parametrize("events", [1_000, 50_000, 10_000_000])
    def test_expected_events_match_the_request(self, events):
        plan = plan_simulation(SimulatorConfig(events=events))
        assert plan.expected_events == pytest.approx(events, rel=0.01)

    def test_bot_count_is_exact(self):
        cfg = SimulatorConfig(events=200_000, dirt=DirtConfig(bot_user_rate=0.01))
        n_users, n_bots = user_counts(cfg)
        assert n_bots == round(0.01 * n_users)

    def test_no_bots_when_rate_is_zero(self):
        assert user_counts(SimulatorConfig(events=200_000, dirt=DirtConfig.none()))[1] == 0

    def test_partitions_default_scales_with_users(self):
        assert plan_simulation(SimulatorConfig(events=3_000)).partitions == 1
        assert plan_simulation(SimulatorConfig(events=50_000_000)).partitions > 20
        assert plan_simulation(SimulatorConfig(events=3_000, partitions=7)).partitions == 7

    def test_plan_is_deterministic(self):
        a = plan_simulation(SimulatorConfig(seed=5, events=10_000))
        b = plan_simulation(SimulatorConfig(seed=5, events=10_000))
        assert a.catalog == b.catalog and a.users == b.users and a.n_users == b.n_users


@pytest.mark.spark
class TestFrame:
    def test_schema_is_raw_schema_plus_raw_record(self, spark):
        df = simulate_events(spark, SimulatorConfig(events=1_000, days=2))
        assert df.columns == [*EVENT_COLUMNS, RAW_RECORD]
        assert {f.dataType.simpleString() for f in df.schema.fields} == {"string"}

    def test_labeled_frame_adds_dirt_labels(self, spark):
        df = simulate_labeled_events(spark, SimulatorConfig(events=1_000, days=2))
        assert df.columns == [*EVENT_COLUMNS, RAW_RECORD, DIRT]
        assert df.schema[DIRT].dataType.simpleString() == "array<string>"

    def test_building_the_frame_runs_no_spark_job(self, spark):
        # Setup
        sc = spark.sparkContext
        sc.setJobGroup("simulate-no-action", "must stay empty")
        try:
            # Run
            simulate_events(spark, SimulatorConfig(events=100_000, dirt=DirtConfig()))
        finally:
            sc.setLocalProperty("spark.jobGroup.id", None)
        # Assert
        assert list(sc.statusTracker().getJobIdsForGroup("simulate-no-action")) == []

    def test_generated_methods_fit_the_jit(self, spark):
        """Every whole-stage-codegen method stays JIT-compilable (else the run is ~3x slower)."""
        # Setup: bots and every dirt kind on, so all code paths are in the plan
        cfg = SimulatorConfig(events=200_000, dirt=DirtConfig(bot_user_rate=0.001))
        adaptive = spark.conf.get("spark.sql.adaptive.enabled")
        spark.conf.set("spark.sql.adaptive.enabled", "false")  # AQE plans compile lazily
        try:
            with generated_code(spark):  # the suite's session interprets (tests/jvm.py)
                df = simulate_events(spark, cfg)
                # Run
                stages = df._jdf.queryExecution().debug().codegenToSeq()
                sizes = [stages.apply(i)._3().maxMethodCodeSize() for i in range(stages.size())]
        finally:
            spark.conf.set("spark.sql.adaptive.enabled", adaptive)
        # Assert
        assert len(sizes) >= 3
        assert max(sizes) < JIT_METHOD_LIMIT, sizes
