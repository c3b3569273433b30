"""Gold profile tables -> the generators' flat frame: every column mapped, round trip, training."""

from __future__ import annotations

import numpy as np
import pytest

from synth.config.features import ProfileConfig
from synth.features.profiles import item_profiles, train_split, user_profiles
from synth.models.base import TrainConfig
from synth.models.encoding import TableEncoder
from synth.models.table_frame import model_frame
from synth.models.vae import VAE
from synth.schema import ITEM_PROFILE_SCHEMA, USER_PROFILE_SCHEMA
from tests.factories import make_silver
from tests.unit.features.test_profiles import _events

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def users(spark):  # noqa: ANN001, ANN201
    silver = make_silver(spark, _events())
    return user_profiles(train_split(silver), ProfileConfig()).toPandas()


def test_every_user_profile_column_is_mapped(users):
    mapped = model_frame(users, USER_PROFILE_SCHEMA)
    frame, specs = mapped.frame, mapped.specs
    kinds = {s.name: s.kind for s in specs}
    assert "user_id" not in frame.columns and len(frame) == len(users)
    assert kinds["n_events"] == "count" and kinds["recency_days"] == "continuous"
    assert kinds["category_shares"] == "shares" and kinds["hour_shares"] == "shares"
    assert kinds["top_categories_first"] == "categorical" and kinds["lifecycle"] == "categorical"
    assert kinds["first_seen"] == "timestamp"
    # the first interest tag is the top category; positional shares keep their values
    assert frame.top_categories_first.tolist() == [u[0] for u in users.top_categories]
    assert sum(frame.hour_shares[0].values()) == pytest.approx(1.0)
    # nobody in these events bought twice: the purchase price spread is all null, left out
    assert mapped.all_null == ("purchase_price_std",)
    assert len(frame.columns) + len(mapped.all_null) == len(USER_PROFILE_SCHEMA.fields) - 1


def test_user_frame_round_trips_and_trains(users):
    mapped = model_frame(users, USER_PROFILE_SCHEMA)
    frame, specs = mapped.frame, mapped.specs
    encoder = TableEncoder(specs).fit(frame)
    back = encoder.reverse_transform(encoder.transform(frame).astype(np.float64))
    assert back.n_events.tolist() == frame.n_events.tolist()
    assert back.lifecycle.tolist() == frame.lifecycle.tolist()
    model = VAE(TrainConfig(epochs=2, batch_size=2, validation_fraction=0), latent=4, hidden=(8,))
    rows = model.fit(frame, specs, progress=lambda _: None).sample(5, seed=0)
    assert list(rows.columns) == list(frame.columns)


def test_item_profiles_exclude_ids_text_and_embedding(spark):
    items = item_profiles(train_split(make_silver(spark, _events()))).toPandas()
    mapped = model_frame(items, ITEM_PROFILE_SCHEMA)
    assert {"product_id", "item_text", "text_embedding"}.isdisjoint(mapped.frame.columns)
    assert {s.name for s in mapped.specs} == set(mapped.frame.columns)
