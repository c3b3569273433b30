"""The shared loop's pieces without Spark: seeds, checkpoints, restore, optimizer state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from synth.config.train import TrainConfig
from synth.models.base import EpochLog
from synth.models.encoding import ColumnSpec, TableEncoder
from synth.models.gan import GAN
from synth.models.vae import VAE
from synth.train.data import VECTOR
from synth.train.loop import (
    TrainJob,
    best_epoch,
    checkpoint_path,
    epoch_generator,
    kept_rows,
    latest_epoch,
    restore,
    should_stop,
    train_worker,
    write_checkpoint,
)


def _table(n: int = 400) -> tuple[pd.DataFrame, list[ColumnSpec]]:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "n": rng.poisson(2, n).astype(np.int64),
            "x": rng.normal(0, 1, n),
            "c": rng.choice(["a", "b", "c"], n),
        }
    )
    specs = [
        ColumnSpec("n", "count"),
        ColumnSpec("x", "continuous"),
        ColumnSpec("c", "categorical"),
    ]
    return table, specs


def _weights(model) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {
        f"{k}.{n}": t.clone()
        for k, m in model._modules().items()
        for n, t in m.state_dict().items()
    }


class TestSeeds:
    def test_epoch_generators_depend_on_seed_rank_and_epoch_only(self):
        a = torch.rand(4, generator=epoch_generator(1, 0, 3))
        assert torch.equal(a, torch.rand(4, generator=epoch_generator(1, 0, 3)))
        for other in (epoch_generator(2, 0, 3), epoch_generator(1, 1, 3), epoch_generator(1, 0, 4)):
            assert not torch.equal(a, torch.rand(4, generator=other))


@pytest.mark.parametrize("cls", [VAE, GAN])
class TestCheckpoints:
    def test_resume_from_a_checkpoint_continues_exactly(self, cls, tmp_path):
        # Setup: an uninterrupted run of 3 epochs, and one stopped after epoch 1
        table, specs = _table()
        cfg = TrainConfig(epochs=3, batch_size=100, seed=0, patience=0, validation_fraction=0.0)

        def run(epochs: range, model):  # noqa: ANN001, ANN202
            data = model.encode(table)
            for epoch in epochs:
                losses = model.train_epoch(data, epoch_generator(0, 0, epoch))
                model.history.append(EpochLog(epoch, losses, None, 0.0))
                write_checkpoint(model, str(tmp_path / cls.name), epoch)
            return model

        encoder = TableEncoder(specs).fit(table)
        full = run(range(1, 4), cls(cfg).setup(encoder))
        run(range(1, 2), cls(cfg).setup(encoder))
        assert latest_epoch(str(tmp_path / cls.name)) == 1
        # Run: a fresh process restores epoch 1 and trains epochs 2-3
        resumed = cls(cfg).setup(encoder)
        restore(resumed, str(tmp_path / cls.name), 1, "cpu")
        resumed = run(range(2, 4), resumed)
        # Assert: identical weights and history to the uninterrupted run (optimizer state too)
        want, got = _weights(full), _weights(resumed)
        assert want.keys() == got.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
        assert [e.losses for e in resumed.history] == [e.losses for e in full.history]

    def test_only_the_last_two_checkpoints_are_kept(self, cls, tmp_path):
        table, specs = _table(100)
        cfg = TrainConfig(epochs=1, batch_size=50, seed=0, patience=0, validation_fraction=0.0)
        model = cls(cfg).fit(table, specs, progress=lambda _: None)
        for epoch in range(1, 5):
            write_checkpoint(model, str(tmp_path), epoch)
        kept = sorted(p.name for p in tmp_path.glob("epoch-*"))
        assert kept == [Path(checkpoint_path(str(tmp_path), e)).name for e in (3, 4)]
        assert latest_epoch(str(tmp_path)) == 4
        # the best epoch's checkpoint is kept too
        write_checkpoint(model, str(tmp_path), 5, keep=2)
        write_checkpoint(model, str(tmp_path), 6, keep=2)
        kept = sorted(p.name for p in tmp_path.glob("epoch-*"))
        assert kept == [Path(checkpoint_path(str(tmp_path), e)).name for e in (5, 6)]
        write_checkpoint(model, str(tmp_path), 7, keep=6)
        write_checkpoint(model, str(tmp_path), 8, keep=6)
        write_checkpoint(model, str(tmp_path), 9, keep=6)
        kept = sorted(p.name for p in tmp_path.glob("epoch-*"))
        assert kept == [Path(checkpoint_path(str(tmp_path), e)).name for e in (6, 8, 9)]


def _history(scores: list[float | None]) -> list[EpochLog]:
    return [EpochLog(i + 1, {}, s, 0.0) for i, s in enumerate(scores)]


def test_the_best_epoch_and_the_stop_come_from_the_history():
    assert best_epoch(_history([None, None])) == 0
    assert not should_stop(_history([None, None, None]), patience=1)  # nothing scored
    history = _history([3.0, None, 2.0, 2.5, 2.0, 2.4])  # ties: the first of equals
    assert best_epoch(history) == 3
    assert not should_stop(history, patience=4)
    assert should_stop(history, patience=3)  # epochs 4, 5, 6 scored, none below 2.0
    assert not should_stop(history, patience=0)  # 0: never stop early


def test_a_longer_shard_keeps_a_seeded_draw_of_rows_per_epoch():
    kept = kept_rows(1000, 900, seed=3, rank=1, epoch=2)
    assert kept.tolist() == kept_rows(1000, 900, seed=3, rank=1, epoch=2).tolist()
    assert len(kept) == 900 and len(set(kept.tolist())) == 900
    assert kept.tolist() == sorted(kept.tolist()) and 0 <= int(kept.min()) < int(kept.max()) < 1000
    # another epoch or rank leaves other rows out
    assert kept.tolist() != kept_rows(1000, 900, seed=3, rank=1, epoch=3).tolist()
    assert kept.tolist() != kept_rows(1000, 900, seed=3, rank=0, epoch=2).tolist()


class TestShardChecks:
    """The shard is read once, before the first epoch, and checked against the cache's rows."""

    def _job(self, tmp_path: Path, cached: int, rows: int) -> TrainJob:
        table, specs = _table(50)
        encoder = TableEncoder(specs).fit(table)
        cache = tmp_path / "cache"
        cache.mkdir()
        vectors = encoder.transform(table.head(cached)).tolist()
        pq.write_table(
            pa.table({VECTOR: pa.array(vectors, pa.list_(pa.float32()))}), cache / "p.parquet"
        )
        train = TrainConfig(epochs=2, batch_size=10, seed=0, patience=0, validation_fraction=0.0)
        return TrainJob(
            model="vae",
            params={},
            train=train.model_dump(mode="json"),
            encoder_json=encoder.to_json(),
            cache_url=str(cache),
            width=encoder.width,
            rows=rows,
            checkpoint_dir=str(tmp_path / "checkpoints"),
            backend="local",
            resume=False,
        )

    def test_a_shard_short_of_the_cached_rows_is_refused(self, tmp_path):
        with pytest.raises(
            RuntimeError, match=r"hold 40 rows, the cache has 50: a reader lost rows"
        ):
            train_worker(self._job(tmp_path, cached=40, rows=50))

    def test_a_shard_of_one_row_is_refused_with_the_fix(self, tmp_path):
        with pytest.raises(RuntimeError, match=r"has 1 rows .*train\.cache_rows_per_file"):
            train_worker(self._job(tmp_path, cached=1, rows=1))

    def test_a_complete_shard_trains_every_epoch(self, tmp_path):
        result = train_worker(self._job(tmp_path, cached=50, rows=50))
        assert result is not None and result["epochs"] == 2 and result["rows_per_epoch"] == 50
