"""Nearest-row distances: by hand, and against a brute-force scipy oracle across chunks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from synth.stats.distance import nearest_distance


def test_nearest_distance():
    d = nearest_distance(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 1.0], [3.0, 0.0]]))
    assert d == pytest.approx([1.0, 4.0])


def test_empty_reference_gives_nan():
    assert np.isnan(nearest_distance(np.zeros((3, 2)), np.zeros((0, 2)))).all()


def test_matches_brute_force_whatever_the_chunk():
    # Setup
    rng = np.random.default_rng(0)
    x, reference = rng.normal(size=(300, 5)), rng.normal(size=(200, 5))
    expected = cdist(x, reference).min(axis=1)
    # Run / Assert: float32 arithmetic, so a float32 tolerance
    for chunk in (7, 64, 2_048):
        assert nearest_distance(x, reference, chunk=chunk) == pytest.approx(expected, abs=1e-4)
