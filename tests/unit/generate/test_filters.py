"""The scorer's detector and distances (numpy), without Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.generate.filters import Constraint, fit_scorer
from synth.models.encoding import ColumnSpec, TableEncoder


def _encoder() -> TableEncoder:
    frame = pd.DataFrame({"x": np.linspace(0, 1, 50), "tag": ["a", "b"] * 25})
    return TableEncoder([ColumnSpec("x", "continuous"), ColumnSpec("tag", "categorical")]).fit(
        frame
    )


class TestScorer:
    def test_dcr_is_the_distance_to_the_closest_reference_row(self):
        # Setup
        reference = np.array([[0.0, 0.0], [3.0, 4.0]])
        scorer = fit_scorer(_encoder(), np.zeros((4, 2)), None, reference, seed=0)
        # Run
        dcr = scorer.dcr(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [6.0, 8.0]]), chunk=3)
        # Assert
        np.testing.assert_allclose(dcr, [0.0, 0.0, 1.0, 5.0], atol=1e-4)

    def test_realism_separates_obviously_synthetic_rows(self):
        # Setup: synthetic rows sit far from the real ones on the first column
        rng = np.random.default_rng(0)
        real = rng.normal(0, 1, (300, 3))
        synth = rng.normal(0, 1, (300, 3)) + np.array([4.0, 0, 0])
        scorer = fit_scorer(_encoder(), real, synth, None, seed=0)
        # Run
        p_real, p_synth = scorer.realism(real), scorer.realism(synth)
        # Assert
        assert p_real.mean() < 0.1 and p_synth.mean() > 0.9
        assert np.isnan(scorer.dcr(real)).all()  # no reference: no distance

    def test_realism_without_a_detector_is_nan(self):
        scorer = fit_scorer(_encoder(), np.zeros((3, 2)), None, None, seed=0)
        assert np.isnan(scorer.realism(np.zeros((2, 2)))).all()


class TestConstraint:
    def test_describe_and_reason(self):
        assert Constraint("order", ("a", "b")).describe() == "a <= b"
        assert Constraint("range", ("x",), {"low": 0, "high": 1}).reason == "validity_range"
        assert Constraint("vocabulary", ("t",), {"size": 3}).describe() == "t in its 3 real values"
