"""Fitting drawn gaps into a window: breaks stretch or shrink, within-session gaps are kept."""

from __future__ import annotations

import numpy as np

from synth.generate.learned import _fit_times

NS = 1_000_000_000


def test_breaks_stretch_to_the_window_end_only_when_asked() -> None:
    # one row: start 0, gaps 0 (first), 10 (within), 100 (a break), 5 (within); room 1,000 s
    gaps = np.array([0.0, 10.0, 100.0, 5.0])
    breaks = np.array([False, False, True, False])
    row = np.zeros(4, dtype=np.int64)
    start, room = np.array([0]), np.array([1_000.0])
    stretched = _fit_times(start, gaps, breaks, row, room, stretch=True) / NS
    assert list(stretched) == [0, 10, 995, 1_000]  # the break takes the slack
    kept = _fit_times(start, gaps, breaks, row, room, stretch=False) / NS
    assert list(kept) == [0, 10, 110, 115]  # room to spare: as drawn


def test_an_overshoot_shrinks_the_breaks_then_everything() -> None:
    gaps = np.array([0.0, 10.0, 100.0, 5.0, 0.0, 60.0])
    breaks = np.array([False, False, True, False, False, False])
    row = np.array([0, 0, 0, 0, 1, 1])
    start, room = np.array([0, 50 * NS]), np.array([65.0, 30.0])
    out = _fit_times(start, gaps, breaks, row, room, stretch=False) / NS
    assert list(out[:4]) == [0, 10, 60, 65]  # the break shrinks to 50 s
    assert list(out[4:]) == [50, 80]  # no break: the 60 s gap shrinks to the 30 s of room
