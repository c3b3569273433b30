"""The conditional WGAN-GP: learning, rare categories via training-by-sampling, conditions,
determinism, save / load, bad settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.errors import InvalidDataError
from synth.models.base import Synthesizer, TrainConfig
from synth.models.encoding import ColumnSpec
from synth.models.gan import GAN
from synth.stats.fidelity import column_shape, quality_score
from tests.unit.models.test_vae import KINDS, SPECS, _table

FAST = TrainConfig(epochs=100, batch_size=300, lr=2e-4, seed=3, validate_every=20, patience=0)
SMALL = {"noise_dim": 32, "generator_hidden": (128, 128), "critic_hidden": (128, 128)}


def _rare_table(n: int = 4_000) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    segment = rng.choice(["common", "rare"], n, p=[0.97, 0.03])
    price = np.where(segment == "rare", rng.normal(900, 30, n), rng.normal(50, 10, n))
    return pd.DataFrame({"price": price, "segment": segment})


@pytest.fixture(scope="module")
def fitted() -> GAN:
    return GAN(FAST, **SMALL).fit(_table(), SPECS, progress=lambda _: None)


class TestGAN:
    def test_learns_the_table(self, fitted):
        score = quality_score(_table(seed=9), fitted.sample(3_000, seed=1), KINDS)
        assert score.overall > 0.8, score
        assert fitted.condition_column == "segment"

    def test_rare_category_learned_through_its_condition(self):
        # Setup: 3% of rows are "rare", with prices far from the rest
        specs = [ColumnSpec("price", "continuous"), ColumnSpec("segment", "categorical")]
        table = _rare_table()
        model = GAN(FAST, **SMALL).fit(table, specs, progress=lambda _: None)
        # Run: condition on the rare category (fixed condition, no rejection)
        rows = model.sample(500, seed=0, conditions={"segment": "rare"})
        # Assert: the rare rows' price distribution is reproduced
        real = table[table.segment == "rare"].price
        assert set(rows.segment) == {"rare"}
        assert column_shape(real, rows.price, "numerical") > 0.6
        share = (model.sample(4_000, seed=1).segment == "rare").mean()
        assert 0.01 < share < 0.06

    def test_same_seed_same_samples_and_model(self, fitted):
        pd.testing.assert_frame_equal(fitted.sample(200, seed=5), fitted.sample(200, seed=5))
        cfg = FAST.model_copy(update={"epochs": 2})
        a = GAN(cfg, **SMALL).fit(_table(n=600), SPECS, progress=lambda _: None)
        b = GAN(cfg, **SMALL).fit(_table(n=600), SPECS, progress=lambda _: None)
        pd.testing.assert_frame_equal(a.sample(100, seed=0), b.sample(100, seed=0))

    def test_save_load_round_trip(self, fitted, tmp_path):
        loaded = Synthesizer.load(fitted.save(tmp_path / "gan"))
        assert isinstance(loaded, GAN) and loaded.condition_column == "segment"
        pd.testing.assert_frame_equal(loaded.sample(300, seed=4), fitted.sample(300, seed=4))

    def test_history(self, fitted):
        history = fitted.loss_history
        assert {"critic", "generator", "validation_score"} <= set(history.columns)
        assert history.validation_score.notna().sum() == 5

    def test_bad_settings(self):
        with pytest.raises(ValueError, match="multiple of pac=10"):
            GAN(TrainConfig(batch_size=64))
        with pytest.raises(InvalidDataError, match="'price' is continuous: it must be categorical"):
            GAN(FAST, condition_column="price", **SMALL).fit(_table(n=300), SPECS)
        with pytest.raises(InvalidDataError, match="'nope' is not one of"):
            GAN(FAST, condition_column="nope", **SMALL).fit(_table(n=300), SPECS)
