"""The VAE and the shared generator surface: learning, determinism, conditions, save / load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth.errors import InvalidDataError, NotFittedError
from synth.models.base import MODEL_FILE, Synthesizer, TrainConfig, activate, span_losses
from synth.models.encoding import ColumnSpec, Span
from synth.models.vae import VAE
from synth.stats.fidelity import quality_score

SPECS = [
    ColumnSpec("price", "continuous"),
    ColumnSpec("n_events", "count"),
    ColumnSpec("segment", "categorical"),
]
KINDS = {"price": "numerical", "n_events": "numerical", "segment": "categorical"}


def _table(seed: int = 0, n: int = 3_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    segment = rng.choice(["budget", "premium"], n, p=[0.7, 0.3])
    price = np.where(segment == "premium", rng.lognormal(5, 0.3, n), rng.lognormal(3, 0.3, n))
    n_events = np.where(rng.random(n) < 0.5, 0, rng.poisson(np.where(segment == "premium", 8, 2)))
    return pd.DataFrame({"price": price, "n_events": n_events.astype(np.int64), "segment": segment})


FAST = TrainConfig(epochs=60, batch_size=256, lr=2e-3, seed=3, validate_every=10, patience=0)


@pytest.fixture(scope="module")
def fitted() -> VAE:
    return VAE(FAST, latent=16, hidden=(64, 64)).fit(_table(), SPECS, progress=lambda _: None)


class TestSpans:
    def test_activations_per_span(self):
        spans = [Span(1, "tanh"), Span(3, "softmax"), Span(2, "softmax", discrete=False)]
        raw = __import__("torch").randn(5, 6)
        out = activate(raw, spans)
        assert (out[:, 0].abs() < 1).all()
        assert np.allclose(out[:, 1:4].sum(1).numpy(), 1) and np.allclose(out[:, 4:].sum(1), 1)

    def test_losses_are_zero_only_for_a_perfect_fit(self):
        import torch

        spans = [Span(1, "tanh"), Span(2, "softmax")]
        target = torch.tensor([[0.5, 1.0, 0.0]])
        good = torch.tensor([[float(np.arctanh(0.5)), 20.0, -20.0]])
        bad = torch.tensor([[0.0, -20.0, 20.0]])
        assert float(span_losses(good, target, spans)) < 1e-6
        assert float(span_losses(bad, target, spans)) > 1


class TestVAE:
    def test_learns_the_table(self, fitted):
        synth = fitted.sample(3_000, seed=1)
        score = quality_score(_table(seed=9), synth, KINDS)
        # the conditional structure (price by segment) is learned, not just the marginals
        assert score.overall > 0.8, score
        assert set(synth["segment"]) == {"budget", "premium"}
        assert (synth["n_events"] >= 0).all()

    def test_same_seed_same_samples(self, fitted):
        pd.testing.assert_frame_equal(fitted.sample(200, seed=5), fitted.sample(200, seed=5))
        assert not fitted.sample(200, seed=5).equals(fitted.sample(200, seed=6))

    def test_same_seed_same_model(self):
        cfg = FAST.model_copy(update={"epochs": 3})
        a = VAE(cfg, latent=4, hidden=(16,)).fit(_table(n=500), SPECS, progress=lambda _: None)
        b = VAE(cfg, latent=4, hidden=(16,)).fit(_table(n=500), SPECS, progress=lambda _: None)
        pd.testing.assert_frame_equal(a.sample(100, seed=0), b.sample(100, seed=0))

    def test_loss_history_and_progress(self, fitted):
        history = fitted.loss_history
        assert list(history.epoch) == list(range(1, 61))
        assert history.reconstruction.iloc[-5:].mean() < history.reconstruction.iloc[:5].mean()
        assert history.validation_score.notna().sum() == 6

    def test_conditions(self, fitted):
        rows = fitted.sample(100, seed=2, conditions={"segment": "premium"})
        assert len(rows) == 100 and set(rows.segment) == {"premium"}
        with pytest.raises(InvalidDataError, match=r"unknown condition column\(s\) \['nope'\]"):
            fitted.sample(10, conditions={"nope": 1})
        with pytest.raises(InvalidDataError, match="too rare"):
            fitted.sample(10, conditions={"segment": "luxury"}, max_tries=2)

    def test_save_load_round_trip(self, fitted, tmp_path):
        folder = fitted.save(tmp_path / "m")
        loaded = Synthesizer.load(folder)
        assert isinstance(loaded, VAE)
        pd.testing.assert_frame_equal(loaded.sample(300, seed=4), fitted.sample(300, seed=4))
        assert len(loaded.history) == len(fitted.history)

    def test_load_refuses_other_versions_and_non_models(self, fitted, tmp_path):
        folder = Path(fitted.save(tmp_path / "m"))
        meta = json.loads((folder / MODEL_FILE).read_text())
        meta["format_version"] = 0
        (folder / MODEL_FILE).write_text(json.dumps(meta))
        with pytest.raises(InvalidDataError, match="format version 0.*retrain"):
            Synthesizer.load(folder)
        with pytest.raises(InvalidDataError, match="not a saved model"):
            Synthesizer.load(tmp_path)

    def test_bad_input(self):
        with pytest.raises(InvalidDataError, match="need at least 2"):
            VAE(FAST).fit(_table().iloc[:0], SPECS)
        with pytest.raises(NotFittedError):
            VAE(FAST).sample(5)
        with pytest.raises(ValueError, match="latent=0"):
            VAE(FAST, latent=0)
