"""Fidelity scores: hand-computed cases, and the same numbers as the sdmetrics package."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.stats.fidelity import column_shape, ks_statistic, pair_trend, quality_score

KINDS = {
    "price": "numerical",
    "n_events": "numerical",
    "brand": "categorical",
    "segment": "categorical",
}


def _table(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = rng.lognormal(3 + shift, 1, n)
    return pd.DataFrame(
        {
            "price": price,
            "n_events": np.floor(price / 10 + rng.poisson(2, n)),
            "brand": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "segment": np.where(price > 30, "high", "low"),
        }
    )


def _ks_statistic_before_scipy(a: np.ndarray, b: np.ndarray) -> float:
    """Frozen copy of the hand-written KS statistic that ``scipy.stats.ks_2samp`` replaced."""
    if a.size == 0 or b.size == 0:
        return 1.0
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    gap = (
        np.searchsorted(a, grid, side="right") / a.size
        - np.searchsorted(b, grid, side="right") / b.size
    )
    return float(np.abs(gap).max())


class TestKsAgainstTheOldStatistic:
    @pytest.mark.parametrize("seed", range(5))
    def test_continuous_samples(self, seed):
        rng = np.random.default_rng(seed)
        a = rng.lognormal(3, 1, int(rng.integers(1, 3_000)))
        b = rng.lognormal(3.2, 1.1, int(rng.integers(1, 3_000)))
        assert ks_statistic(a, b) == pytest.approx(_ks_statistic_before_scipy(a, b), abs=1e-9)

    @pytest.mark.parametrize("seed", range(5))
    def test_samples_with_ties(self, seed):
        # counts and rounded prices: many ties inside and across the two samples
        rng = np.random.default_rng(100 + seed)
        for a, b in [
            (rng.poisson(2, 2_000).astype(float), rng.poisson(2.3, 1_500).astype(float)),
            (np.round(rng.normal(0, 1, 800), 1), np.round(rng.normal(0.1, 1, 12_000), 1)),
            (np.zeros(50), np.r_[np.zeros(40), np.ones(10)]),
        ]:
            assert ks_statistic(a, b) == pytest.approx(_ks_statistic_before_scipy(a, b), abs=1e-9)

    def test_edge_cases(self):
        one, empty = np.array([1.0]), np.array([])
        for a, b in [(one, one), (one, np.array([2.0])), (one, empty), (empty, one)]:
            assert ks_statistic(a, b) == _ks_statistic_before_scipy(a, b)


class TestDefinitions:
    def test_ks_and_tv_by_hand(self):
        assert ks_statistic(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])) == 0.0
        assert ks_statistic(np.array([1.0, 2]), np.array([3.0, 4])) == 1.0
        real, synth = pd.Series(["a", "a", "b", "b"]), pd.Series(["a", "a", "a", "c"])
        # |0.5-0.75| + |0.5-0| + |0-0.25| = 1.0 -> TVD 0.5
        assert column_shape(real, synth, "categorical") == pytest.approx(0.5)

    def test_identical_tables_score_one(self):
        t = _table(0, 500)
        score = quality_score(t, t.copy(), KINDS)
        assert score.overall == pytest.approx(1.0)
        assert len(score.per_pair) == 6

    def test_shifted_tables_score_lower(self):
        near = quality_score(_table(0, 2_000), _table(1, 2_000), KINDS).overall
        far = quality_score(_table(0, 2_000), _table(1, 2_000, shift=1.5), KINDS).overall
        assert far < near < 1.0

    def test_constant_column_pairs_are_left_out(self):
        real = pd.DataFrame({"x": [1.0, 2, 3], "y": [5.0, 5, 5]})
        assert pair_trend(real, real, "x", "y", {"x": "numerical", "y": "numerical"}) is None

    def test_only_associated_pairs_count(self):
        score = quality_score(_table(0, 2_000), _table(1, 2_000), KINDS)
        # price drives n_events and segment; brand is independent of everything
        assert "price|brand" not in score.counted_pairs
        assert {"price|n_events", "price|segment"} <= set(score.counted_pairs)


class TestAgainstSdmetrics:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_same_numbers_as_the_quality_report(self, seed):
        from sdmetrics.reports import QualityReport

        # Setup
        real, synth = _table(seed, 1_000), _table(seed + 10, 800, shift=0.3)
        metadata = {"tables": {"t": {"columns": {c: {"sdtype": k} for c, k in KINDS.items()}}}}
        report = QualityReport()
        report.generate({"t": real}, {"t": synth}, metadata, verbose=False)
        # Run
        ours = quality_score(real, synth, KINDS)
        # Assert
        props = report.get_properties().set_index("Property")["Score"]
        assert ours.column_shapes == pytest.approx(props["Column Shapes"], abs=1e-9)
        assert ours.column_pair_trends == pytest.approx(props["Column Pair Trends"], abs=1e-9)
        assert ours.overall == pytest.approx(report.get_score(), abs=1e-9)
