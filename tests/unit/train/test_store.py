"""A model folder is published whole: the previous one stays when writing the new one fails."""

from __future__ import annotations

import json
import math

import pytest

from synth.io import files
from synth.io.files import StorageError
from synth.models.base import TrainableModel, TrainConfig
from synth.models.sasrec import SasRecModel, empty_encoder
from synth.refs import ARTIFACT
from synth.train.store import publish_model


def _model(seed: int) -> SasRecModel:
    model = SasRecModel(TrainConfig(seed=seed), n_items=5, max_len=3, hidden=4)
    model.setup(empty_encoder())
    return model


def test_publish_replaces_the_folder_whole(tmp_path):
    target = tmp_path / "store" / "model"
    publish_model(_model(1), target, {"run": 1, "score": math.nan})
    publish_model(_model(2), target, {"run": 2})
    # Assert: the second model and its artifact; nothing else beside it
    assert json.loads((target / ARTIFACT).read_text()) == {"run": 2}
    loaded = TrainableModel.load(target)
    assert isinstance(loaded, SasRecModel) and loaded.train.seed == 2
    assert [p.name for p in target.parent.iterdir()] == ["model"]


def test_a_failed_write_keeps_the_previous_model(tmp_path, monkeypatch):
    target = tmp_path / "model"
    publish_model(_model(1), target, {"run": 1})
    broken = _model(2)

    real_resolve = files.resolve

    class FailsOnSecondFile:  # the local file system, but the second file written fails
        def __init__(self, fs: object) -> None:
            self.fs, self.opened = fs, 0

        def __getattr__(self, name: str) -> object:
            return getattr(self.fs, name)

        def open_output_stream(self, path: str) -> object:
            self.opened += 1
            if self.opened == 2:
                raise OSError("disk full")
            return self.fs.open_output_stream(path)

    def resolve(uri: str) -> tuple[object, str]:
        fs, path = real_resolve(uri)
        return FailsOnSecondFile(fs), path

    monkeypatch.setattr(files, "resolve", resolve)
    with pytest.raises(StorageError, match="disk full"):
        publish_model(broken, target, {"run": 2})
    assert json.loads((target / ARTIFACT).read_text()) == {"run": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_leftovers_of_a_crashed_publish_are_removed(tmp_path):
    (tmp_path / "model.partial-abc").mkdir()
    (tmp_path / "model.old-def").mkdir()
    publish_model(_model(1), tmp_path / "model", {"run": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert json.loads((tmp_path / "model" / ARTIFACT).read_text()) == {"run": 1}
