"""The evaluate stage's marginals: count (whole-number) columns get integer bins, never one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.evaluate.stage import count_edges, marginal
from synth.stats.fidelity import BINS


class TestCountEdges:
    def test_count_edges_few_values_one_bin_each(self):
        # Setup: mostly zeros (deciles all 0), as an n_cart column
        real = np.array([0.0] * 90 + [1.0] * 6 + [2.0] * 3 + [4.0])
        synthetic = np.array([0.0] * 85 + [1.0] * 10 + [3.0] * 5)
        # Run
        edges = count_edges(real, synthetic)
        # Assert: one bin per value seen in either sample, the last edge above the largest
        assert edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]

    def test_count_edges_many_values_on_whole_deciles(self):
        rng = np.random.default_rng(0)
        real = np.floor(rng.lognormal(1.5, 1.0, 5_000))
        synthetic = np.floor(rng.lognormal(1.6, 1.0, 5_000))
        # Run
        edges = count_edges(real, synthetic)
        # Assert: whole numbers, increasing, at most BINS bins, spanning both samples
        assert np.all(edges == np.floor(edges)) and np.all(np.diff(edges) > 0)
        assert 2 <= len(edges) - 1 <= BINS
        assert edges[0] == min(real.min(), synthetic.min())
        assert edges[-1] == max(real.max(), synthetic.max()) + 1

    def test_count_edges_constant_real_still_splits(self):
        # Setup: the real sample is all 0, the synthetic one spreads over many values
        real = np.zeros(100)
        synthetic = np.arange(40, dtype=float)
        # Run / Assert: the combined samples' deciles split it
        assert len(count_edges(real, synthetic)) - 1 >= 2


class TestMarginal:
    def test_marginal_count_column_integer_bins_and_labels(self):
        real = pd.Series([0] * 90 + [1] * 6 + [2] * 3 + [4], dtype="int64")
        synthetic = pd.Series([0] * 85 + [1] * 10 + [3] * 5, dtype="int64")
        # Run
        out = marginal(real, synthetic, "numerical")
        # Assert
        assert out["kind"] == "count"
        assert out["labels"] == ["0", "1", "2", "3", "4"]
        assert out["real"] == pytest.approx([0.9, 0.06, 0.03, 0.0, 0.01])
        assert out["synthetic"] == pytest.approx([0.85, 0.1, 0.0, 0.05, 0.0])

    def test_marginal_count_column_ranges_are_labelled(self):
        rng = np.random.default_rng(1)
        real = pd.Series(rng.poisson(30, 2_000).astype(float))  # whole numbers as floats
        synthetic = pd.Series(rng.poisson(32, 2_000).astype(float))
        # Run
        out = marginal(real, synthetic, "numerical")
        # Assert: a label per bin ("a" or "a-b"), the shares of each sample sum to 1
        assert out["kind"] == "count" and len(out["labels"]) == len(out["real"]) > 2
        first, last = out["edges"][0], out["edges"][-1]
        assert out["labels"][0].startswith(f"{int(first)}-")
        assert out["labels"][-1].endswith(f"-{int(last) - 1}")
        assert sum(out["real"]) == pytest.approx(1.0)
        assert sum(out["synthetic"]) == pytest.approx(1.0)

    def test_marginal_fractional_column_keeps_decile_bins(self):
        rng = np.random.default_rng(2)
        real = pd.Series(rng.lognormal(3, 1, 1_000))
        synthetic = pd.Series(rng.lognormal(3, 1, 1_000))
        # Run
        out = marginal(real, synthetic, "numerical")
        # Assert
        assert out["kind"] == "numeric" and "labels" not in out
        assert len(out["edges"]) == BINS + 1
        assert out["edges"][0] == pytest.approx(real.min())
