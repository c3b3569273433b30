"""The event sequence model: it learns item-to-item transitions, honours budgets, is seeded,
survives save / load, and falls back (never crashes) on unknown prefix items and types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synth.config.train import TrainConfig
from synth.errors import InvalidDataError
from synth.models.base import WEIGHTS_FILE, Synthesizer, TrainableModel
from synth.models.encoding import ColumnSpec, TableEncoder
from synth.models.sequence import (
    N_BINS,
    EventSequenceModel,
    SequenceVocabulary,
    gap_class,
    gap_seconds,
)

V, C = 200, 8
FIRST_ID = 1_000


def _items(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "product_id": np.arange(FIRST_ID, FIRST_ID + V),
            "category_id": rng.integers(0, C, V),
            "n_events": rng.integers(0, 50, V),
        }
    )


@pytest.fixture(scope="module")
def world() -> dict[str, object]:
    """Users whose next item is a fixed successor of the last one 80% of the time."""
    rng = np.random.default_rng(1)
    vocab = SequenceVocabulary.build(_items(), ["view", "cart", "purchase"])
    successor = rng.permutation(V)
    types, items, gaps, segments = [], [], [], []
    for _ in range(1_500):
        length = int(rng.integers(2, 16))
        seq = [int(rng.integers(V))]
        for _ in range(length - 1):
            seq.append(int(successor[seq[-1]]) if rng.random() < 0.8 else int(rng.integers(V)))
        items.append(vocab.item_index(FIRST_ID + np.array(seq)))
        types.append(vocab.type_index(np.where(rng.random(length) < 0.8, "view", "cart")))
        opens = rng.random(length) < 0.2
        opens[0] = True
        gaps.append(gap_class(rng.exponential(60, length), opens))
        segments.append(str(seq[0] % 3))
    profiles = pd.DataFrame({"segment": segments})
    encoder = TableEncoder([ColumnSpec("segment", "categorical")]).fit(profiles, seed=0)
    model = EventSequenceModel(
        TrainConfig(epochs=30, batch_size=128, lr=5e-3, seed=0, patience=5),
        max_len=16,
        hidden=64,
        vocabulary=vocab,
    )
    model.setup(encoder)
    rows = model.encode_rows(encoder.transform(profiles), types, items, gaps)
    model.fit_rows(rows[:1_350], validation=rows[1_350:])
    return {
        "model": model,
        "encoded": encoder.transform(profiles),
        "successor": successor,
        "vocab": vocab,
    }


def _successor_share(model: EventSequenceModel, out: object, successor: np.ndarray) -> float:
    pid = model.product_ids[out.item] - FIRST_ID  # type: ignore[attr-defined]
    rows = out.row  # type: ignore[attr-defined]
    same_user = rows[1:] == rows[:-1]
    hits = successor[pid[:-1]] == pid[1:]
    return float(hits[same_user].mean())


def test_it_learns_which_item_follows_which(world: dict[str, object]) -> None:
    model, encoded = world["model"], world["encoded"]
    assert isinstance(model, EventSequenceModel)
    out = model.sample_events(encoded[:400], np.arange(400), np.full(400, 8), seed=1)  # type: ignore[index]
    share = _successor_share(model, out, world["successor"])  # type: ignore[arg-type]
    # the data's successor share is 0.8; an order-free generator would reach 1 / V = 0.005
    assert share > 0.5


def test_same_seed_same_events_and_a_user_alone_gets_its_events(
    world: dict[str, object],
) -> None:
    model, encoded = world["model"], world["encoded"]
    assert isinstance(model, EventSequenceModel)
    uid = np.arange(50, dtype=np.int64) * 7
    a = model.sample_events(encoded[:50], uid, np.full(50, 6), seed=5)  # type: ignore[index]
    b = model.sample_events(encoded[:50], uid, np.full(50, 6), seed=5)  # type: ignore[index]
    assert np.array_equal(a.item, b.item) and np.array_equal(a.gap_class, b.gap_class)
    alone = model.sample_events(encoded[7:8], uid[7:8], np.array([6]), seed=5)  # type: ignore[index]
    assert np.array_equal(alone.item, a.item[a.row == 7])
    other = model.sample_events(encoded[:50], uid, np.full(50, 6), seed=6)  # type: ignore[index]
    assert not np.array_equal(a.item, other.item)


def test_type_budget_and_session_breaks_are_met_exactly(world: dict[str, object]) -> None:
    model, encoded = world["model"], world["encoded"]
    assert isinstance(model, EventSequenceModel)
    n = 30
    budget = np.zeros((n, 6), dtype=np.int64)
    budget[:, 0], budget[:, 1] = 5, 2  # 5 views, 2 carts
    breaks = np.arange(n) % 4
    out = model.sample_events(
        encoded[:n],  # type: ignore[index]
        np.arange(n),
        np.full(n, 7),
        seed=2,
        type_budget=budget,
        breaks=breaks,
    )
    names = np.array(model.event_types)[out.event_type]
    for r in range(n):
        mine = out.row == r
        assert (names[mine] == "view").sum() == 5 and (names[mine] == "cart").sum() == 2
        gaps = out.gap_class[mine]
        assert gaps[0] == -1 and (gaps[1:] >= N_BINS).sum() == breaks[r]


def test_a_budget_for_a_type_the_model_never_saw_is_an_error(world: dict[str, object]) -> None:
    model, encoded = world["model"], world["encoded"]
    assert isinstance(model, EventSequenceModel)
    budget = np.zeros((1, 6), dtype=np.int64)
    budget[0, 4] = 2  # favourites: not in this model's vocabulary
    with pytest.raises(InvalidDataError, match="n_favorite"):
        model.sample_events(encoded[:1], np.array([1]), np.array([2]), seed=0, type_budget=budget)  # type: ignore[index]


def test_a_prefix_with_unknown_items_and_types_is_continued(world: dict[str, object]) -> None:
    model, encoded = world["model"], world["encoded"]
    assert isinstance(model, EventSequenceModel)
    prefix = (
        [np.array(["view", "teleport"]), np.array(["view"])],
        [np.array([FIRST_ID + 3, 99_999_999]), np.array([FIRST_ID])],
        [np.array([0, 2]), np.array([0])],
    )
    out = model.sample_events(
        encoded[:2],  # type: ignore[index]
        np.array([1, 2]),
        np.array([3, 4]),
        seed=0,
        prefix=prefix,
    )
    assert list(np.bincount(out.row)) == [3, 4]
    assert out.step[out.row == 0].min() == 2  # prefix events are read, not returned
    assert (out.item < model.n_items).all()  # never the unknown-item token


def test_save_load_round_trip_and_corrupt_weights(world: dict[str, object], tmp_path: Path) -> None:
    model, encoded = world["model"], world["encoded"]
    assert isinstance(model, EventSequenceModel)
    folder = Path(model.save(tmp_path / "m"))
    loaded = TrainableModel.load(folder)
    assert isinstance(loaded, EventSequenceModel)
    assert np.array_equal(loaded.product_ids, model.product_ids)
    a = model.sample_events(encoded[:20], np.arange(20), np.full(20, 5), seed=3)  # type: ignore[index]
    b = loaded.sample_events(encoded[:20], np.arange(20), np.full(20, 5), seed=3)  # type: ignore[index]
    assert np.array_equal(a.item, b.item)
    with pytest.raises(InvalidDataError, match="not a profile generator"):
        Synthesizer.load(folder)
    weights = folder / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(InvalidDataError, match="corrupt, truncated"):
        TrainableModel.load(folder)


def test_gap_classes_round_trip_to_seconds_in_their_bin() -> None:
    gaps = np.array([0, 0.5, 2, 59, 61, 3_599, 86_400 * 40])
    opens = np.array([False, False, True, False, True, False, True])
    classes = gap_class(gaps, opens)
    assert list(classes >= N_BINS) == list(opens)
    seconds = gap_seconds(classes, np.full(len(gaps), 0.5))
    assert (gap_class(seconds, opens) == classes).all()


def test_vocabulary_errors_name_the_problem() -> None:
    with pytest.raises(InvalidDataError, match="empty"):
        SequenceVocabulary.build(_items().iloc[:0], ["view"])
    with pytest.raises(InvalidDataError, match="no event types"):
        SequenceVocabulary.build(_items(), [])
    dup = pd.concat([_items(), _items().iloc[:1]])
    with pytest.raises(InvalidDataError, match="appears twice"):
        SequenceVocabulary.build(dup, ["view"])
    vocab = SequenceVocabulary.build(_items(), ["cart", "zap", "view"])
    assert vocab.event_types == ("view", "cart", "zap")  # canonical first, extras sorted
    assert vocab.item_index(np.array([FIRST_ID, 5]))[1] == V + 1  # unknown item token


def test_users_with_one_event_train_and_zero_counts_draw_nothing() -> None:
    vocab = SequenceVocabulary.build(_items(), ["view"])
    profiles = pd.DataFrame({"segment": ["a", "b"] * 20})
    encoder = TableEncoder([ColumnSpec("segment", "categorical")]).fit(profiles, seed=0)
    model = EventSequenceModel(
        TrainConfig(epochs=2, batch_size=8, seed=0), max_len=4, hidden=8, vocabulary=vocab
    )
    model.setup(encoder)
    one = [np.array([0])] * 40  # every user has a single view
    rows = model.encode_rows(
        encoder.transform(profiles), one, [np.array([3])] * 40, [np.array([N_BINS])] * 40
    )
    model.fit_rows(rows)
    assert np.isfinite(model.history[-1].losses["type"])
    assert model.history[-1].losses["gap"] == 0.0  # no event has a gap to learn
    budget = np.zeros((2, 6), dtype=np.int64)
    out = model.sample_events(
        encoder.transform(profiles.iloc[:2]),
        np.array([1, 2]),
        np.zeros(2),
        seed=0,
        type_budget=budget,
        breaks=np.zeros(2),
    )
    assert len(out.row) == 0


def test_padding_past_the_longest_sequence_changes_no_loss(world: dict[str, object]) -> None:
    # the training loss cuts a batch to its longest sequence: the same users encoded with a
    # larger max_len (more padding) give the same losses to the last digit
    model = world["model"]
    assert isinstance(model, EventSequenceModel)
    wide = EventSequenceModel(
        TrainConfig(epochs=1, batch_size=8, seed=0),
        max_len=40,
        hidden=64,
        vocabulary=world["vocab"],  # type: ignore[arg-type]
    )
    wide.setup(model.encoder)
    for name, module in model._modules().items():
        wide._modules()[name].load_state_dict(module.state_dict())
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 12, 64)
    encoded = np.asarray(world["encoded"])[:64]
    args = (
        [rng.integers(0, 2, n) for n in lengths],
        [rng.integers(0, V, n) for n in lengths],
        [rng.integers(0, 2 * N_BINS, n) for n in lengths],
    )
    narrow_rows, wide_rows = model.encode_rows(encoded, *args), wide.encode_rows(encoded, *args)
    assert wide_rows.shape[1] > narrow_rows.shape[1]
    torch.manual_seed(0)
    a = model.evaluate_loss(torch.from_numpy(narrow_rows), seed=3)
    b = wide.evaluate_loss(torch.from_numpy(wide_rows), seed=3)
    assert a == b
