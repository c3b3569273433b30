"""SASRec: sequence rows, a causal network that ignores padding, learning, saving, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from synth.errors import InvalidDataError
from synth.models.base import TrainableModel, TrainConfig
from synth.models.sasrec import SasRecModel, empty_encoder, sequence_rows


def _order(rows: list[list[tuple[int, float]]], n_items: int) -> sp.csr_matrix:
    r, c, v = [], [], []
    for user, pairs in enumerate(rows):
        for item, when in pairs:
            r.append(user)
            c.append(item)
            v.append(when)
    return sp.csr_matrix((v, (r, c)), shape=(len(rows), n_items))


def _model(seed: int = 0, **kw: object) -> SasRecModel:
    params = {"n_items": 30, "max_len": 6, "hidden": 16, "heads": 2, "layers": 2, "dropout": 0.0}
    params.update(kw)
    model = SasRecModel(TrainConfig(epochs=1, batch_size=64, seed=seed), **params)  # type: ignore[arg-type]
    return model.setup(empty_encoder())  # type: ignore[return-value]


def _chains(n_users: int, n_items: int, seed: int) -> sp.csr_matrix:
    """Every user views a run of consecutive items in order (item i is followed by i + 1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_users):
        start, length = int(rng.integers(0, n_items - 8)), int(rng.integers(2, 8))
        rows.append([(start + t, 100.0 + t) for t in range(length)])
    return _order(rows, n_items)


class TestSequenceRows:
    def test_orders_by_time_then_item_keeps_the_last_and_pads_left(self):
        order = _order(
            [[(5, 3.0), (2, 1.0), (9, 2.0)], [(4, 1.0)], [(7, 1.0), (3, 1.0)], []], n_items=10
        )
        # Run
        rows = sequence_rows(order, 2, min_items=1)
        # Assert: tokens are item + 1; user 0's last two by time (9 at 2.0, 5 at 3.0); ties by item
        assert rows.tolist() == [[10, 6], [0, 5], [4, 8]]

    def test_min_items_leaves_short_rows_out(self):
        order = _order([[(1, 1.0)], [(1, 1.0), (2, 2.0)], []], n_items=5)
        assert sequence_rows(order, 3, min_items=2).tolist() == [[0, 2, 3]]
        assert sequence_rows(order, 3, min_items=0).shape == (3, 3)


class TestNetwork:
    def test_every_parameter_gets_a_gradient(self):
        model = _model()
        tokens = torch.tensor([[0, 0, 1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8, 9]])
        loss = model._loss(tokens, torch.Generator().manual_seed(0))
        loss.backward()
        for name, p in model.net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name

    def test_a_position_does_not_see_later_items(self):
        model = _model()
        model.net.eval()
        with torch.no_grad():
            a = model.net(torch.tensor([[0, 0, 3, 4, 5, 6]]))
            b = model.net(torch.tensor([[0, 0, 3, 4, 5, 9]]))
            # Assert: changing the last item leaves earlier states alone
            assert torch.allclose(a[0, :5], b[0, :5], atol=1e-6)
            assert not torch.allclose(a[0, 5], b[0, 5])
            # all-padding rows (no history) stay finite: no query is fully masked
            assert torch.isfinite(model.net(torch.zeros((2, 6), dtype=torch.long))).all()

    def test_learns_which_item_comes_next(self):
        order = _chains(1_500, 60, seed=1)
        rows = torch.from_numpy(sequence_rows(order, 7, min_items=2).astype(np.float32))
        model = _model(n_items=60, hidden=32, heads=1)
        for epoch in range(25):
            model.train_epoch(rows, torch.Generator().manual_seed(epoch))
        # Run: score each user's next item from their history
        test = _chains(300, 60, seed=2)
        scores = model.next_scores(sequence_rows(test, 6))
        last = np.array([test[u].indices.max() for u in range(300)])
        truth = scores[np.arange(300), last + 1]
        rank = (scores > truth[:, None]).sum(axis=1)
        # Assert: the true next item is in the top 5 for most users (random: 5 of 60)
        assert (rank < 5).mean() > 0.8

    def test_rows_of_another_shape_or_catalog_are_refused(self):
        model = _model()
        with pytest.raises(InvalidDataError, match=r"\(n, 7\)"):
            model.train_epoch(torch.zeros((4, 5)), torch.Generator())
        with pytest.raises(InvalidDataError, match="another catalog"):
            model.train_epoch(torch.full((4, 7), 31.0), torch.Generator())

    def test_hidden_must_divide_into_heads(self):
        with pytest.raises(InvalidDataError, match="multiple of heads"):
            _model(hidden=10, heads=4)


class TestSeedsAndSaving:
    def test_same_seed_same_training_other_seed_other_weights(self):
        rows = torch.from_numpy(
            sequence_rows(_chains(200, 30, 3), 7, min_items=2).astype(np.float32)
        )
        a, b, c = _model(seed=4), _model(seed=4), _model(seed=5)
        la = a.train_epoch(rows, torch.Generator().manual_seed(1))
        lb = b.train_epoch(rows, torch.Generator().manual_seed(1))
        c.train_epoch(rows, torch.Generator().manual_seed(1))
        assert la == lb
        for name, value in a.net.state_dict().items():
            assert torch.equal(value, b.net.state_dict()[name]), name
        assert not torch.equal(a.net.items.weight, c.net.items.weight)

    def test_save_and_load_give_the_same_scores(self, tmp_path):
        model = _model()
        rows = torch.from_numpy(
            sequence_rows(_chains(100, 30, 3), 7, min_items=2).astype(np.float32)
        )
        model.train_epoch(rows, torch.Generator().manual_seed(0))
        model.save(tmp_path / "m")
        loaded = TrainableModel.load(tmp_path / "m")
        # Assert
        assert isinstance(loaded, SasRecModel) and loaded._config() == model._config()
        tokens = sequence_rows(_chains(20, 30, 9), 6)
        assert np.array_equal(loaded.next_scores(tokens), model.next_scores(tokens))
