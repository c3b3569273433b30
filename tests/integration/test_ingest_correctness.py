"""Ingest and clean under re-exports, outliers and concurrent runs (issue 21): each case found by
a bad-input battery, run as a user would (ingest + clean on small files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.clean.pipeline import clean
from synth.config.base import parse_model
from synth.config.clean import CleanConfig
from synth.config.ingest import Rees46MultiCategorySource
from synth.ingest.bronze import ingest
from synth.io.delta import read_table
from tests.factories import write_csv

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]


def _row(time: str, user: int, product: int = 100, price: str = "10.00", kind: str = "view") -> str:
    return (
        f"{time},{kind},{product},2053013555631882655,electronics.phone,acme,{price},{user},s{user}"
    )


class TestImplausibleTimes:
    def test_times_outside_the_window_are_quarantined_as_bad_timestamp(
        self, spark, lakehouse, tmp_path
    ):
        # Setup: ordinary October 2019 events, one dated 9999-12-31, one 1970-01-01
        lines = [_row(f"2019-10-01 00:0{i}:00 UTC", user=i) for i in range(1, 6)]
        lines += [_row("9999-12-31 23:59:59 UTC", user=7), _row("1970-01-01 00:00:01 UTC", user=8)]
        write_csv(tmp_path / "l" / "a.csv", lines)
        source = Rees46MultiCategorySource(name="t", paths=[str(tmp_path / "l")])
        ingest(spark, source, lakehouse)
        # Run
        report = clean(spark, source, CleanConfig(), lakehouse)
        # Assert: both implausible events quarantined, silver spans October 2019 only
        assert report.balanced and report.quarantined == {"bad_timestamp": 2}
        silver = read_table(spark, lakehouse.silver_table()).toPandas()
        assert sorted(silver.user_id) == [1, 2, 3, 4, 5]
        assert silver.event_time.max().year == 2019

    def test_the_window_is_configurable(self, spark, lakehouse, tmp_path):
        lines = [_row("2019-10-01 00:01:00 UTC", user=1), _row("1985-06-01 00:00:00 UTC", user=2)]
        write_csv(tmp_path / "l" / "a.csv", lines)
        source = Rees46MultiCategorySource(name="t", paths=[str(tmp_path / "l")])
        ingest(spark, source, lakehouse)
        cfg = parse_model(CleanConfig, {"timestamps": {"earliest": "1980-01-01"}}, where="clean")
        report = clean(spark, source, cfg, lakehouse)
        assert report.quarantined == {} and report.silver_rows == 2


class TestReexports:
    def test_a_corrected_reexport_replaces_the_earlier_rows(self, spark, lakehouse, tmp_path):
        # Setup: 100 events at 10.00, ingested and cleaned
        path = tmp_path / "l" / "a.csv"
        times = [f"2019-10-01 {i // 60:02d}:{i % 60:02d}:00 UTC" for i in range(100)]
        write_csv(path, [_row(t, user=i % 7 + 1, product=200 + i) for i, t in enumerate(times)])
        source = Rees46MultiCategorySource(name="t", paths=[str(tmp_path / "l")])
        ingest(spark, source, lakehouse)
        clean(spark, source, CleanConfig(), lakehouse)
        # Run: the same file re-exported with corrected prices (a new modification time)
        rows = [
            _row(t, user=i % 7 + 1, product=200 + i, price="12.00") for i, t in enumerate(times)
        ]
        write_csv(path, rows)
        stat = path.stat()
        os.utime(path, (stat.st_atime, stat.st_mtime + 60))
        again = ingest(spark, source, lakehouse)
        report = clean(spark, source, CleanConfig(), lakehouse)
        # Assert: bronze keeps both exports; silver holds the corrected one only, accounted for
        assert again.rows_added == 100 and report.bronze_rows == 200
        assert report.balanced and report.silver_rows == 100
        assert report.removed_duplicates == {"superseded_by_reexport": 100}
        assert report.quarantined == {}
        silver = read_table(spark, lakehouse.silver_table()).toPandas()
        assert set(silver.price) == {12.0}


class TestEmptyFiles:
    def test_a_header_only_file_is_recorded_and_reruns_stay_idempotent(
        self, spark, lakehouse, tmp_path
    ):
        # Setup: a good file beside a header-only one
        folder = tmp_path / "l"
        write_csv(folder / "a.csv", [_row("2019-10-01 00:01:00 UTC", user=1)])
        write_csv(folder / "empty.csv", [])
        source = Rees46MultiCategorySource(name="t", paths=[str(folder)])
        # Run: ingest, rerun, then a second header-only file arrives, then rerun again
        first = ingest(spark, source, lakehouse)
        second = ingest(spark, source, lakehouse)
        write_csv(folder / "empty2.csv", [])
        third = ingest(spark, source, lakehouse)
        fourth = ingest(spark, source, lakehouse)
        # Assert: the empty files are recorded as ingested with 0 rows; reruns add nothing
        assert first.rows_added == 1 and sorted(first.rows_per_file.values()) == [0, 1]
        assert second.new_files == [] and len(second.skipped_files) == 2
        assert third.rows_added == 0 and len(third.new_files) == 1
        assert fourth.new_files == [] and len(fourth.skipped_files) == 3
        assert read_table(spark, lakehouse.bronze_table("t")).count() == 1


class TestConcurrentRuns:
    def test_two_ingests_at_once_one_runs_the_other_is_refused_by_name(self, spark, tmp_path):
        # Setup: a source folder and a job config; two real `synth ingest` processes
        folder = tmp_path / "l"
        write_csv(folder / "a.csv", [_row(f"2019-10-01 00:0{i}:00 UTC", user=i) for i in range(5)])
        config = tmp_path / "job.yaml"
        config.write_text(
            f"lakehouse: {tmp_path / 'lh'}\n"
            f"source: {{kind: rees46_multi_category, name: t, paths: ['{folder}']}}\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "synth", "ingest", "--config", str(config)]
        # Run: both started together
        procs = [
            subprocess.Popen(
                command,
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
        # Assert: one succeeded; the other was refused with the holder named, no traceback;
        # the file is in bronze once
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 2], [r[2][-2000:] for r in results]
        refused = next(err for code, _, err in results if code == 2)
        assert "is in use by 'synth run (ingest to ingest)'" in refused
        assert "Traceback" not in refused and "DELTA_CONCURRENT_APPEND" not in refused
        (table,) = [p for p in (tmp_path / "lh" / "bronze").iterdir() if not p.name.startswith("_")]
        assert read_table(spark, str(table)).count() == 5


class TestInterruptedClean:
    def test_features_refuses_silver_behind_bronze_or_a_half_committed_clean(
        self, spark, lakehouse, tmp_path, monkeypatch
    ):
        from synth.clean import pipeline as clean_pipeline
        from synth.config.features import FeaturesConfig
        from synth.errors import InputError
        from synth.features.pipeline import build_features

        # Setup: a cleaned source, then a second file ingested (bronze v1, silver from v0)
        folder = tmp_path / "l"
        times = [f"2019-10-0{d} 0{h}:00:00 UTC" for d in range(1, 4) for h in range(5)]
        write_csv(
            folder / "a.csv",
            [_row(t, user=i % 4 + 1, product=300 + i % 6) for i, t in enumerate(times)],
        )
        source = Rees46MultiCategorySource(name="t", paths=[str(folder)])
        ingest(spark, source, lakehouse)
        clean(spark, source, CleanConfig(), lakehouse)
        write_csv(folder / "b.csv", [_row("2019-10-03 09:00:00 UTC", user=2, product=301)])
        ingest(spark, source, lakehouse)
        # Run / Assert: features names the stale silver
        with pytest.raises(
            InputError, match=r"built from bronze v0 of .* at v1 now .* run the clean"
        ):
            build_features(spark, lakehouse, FeaturesConfig())
        # Run: a clean killed between its quarantine and silver commits
        real, calls = clean_pipeline.write_table, []

        def dies_on_silver(df, path, **kwargs):
            calls.append(path)
            if path == lakehouse.silver_table():
                raise KeyboardInterrupt("killed")
            return real(df, path, **kwargs)

        monkeypatch.setattr(clean_pipeline, "write_table", dies_on_silver)
        with pytest.raises(KeyboardInterrupt):
            clean(spark, source, CleanConfig(), lakehouse)
        monkeypatch.setattr(clean_pipeline, "write_table", real)
        # Assert: the half-committed clean is named; a clean again makes features run
        with pytest.raises(InputError, match=r"interrupted between its two commits"):
            build_features(spark, lakehouse, FeaturesConfig())
        clean(spark, source, CleanConfig(), lakehouse)
        report = build_features(spark, lakehouse, FeaturesConfig())
        assert report.rebuilt and report.tables["user_profiles"]["rows"] > 0
