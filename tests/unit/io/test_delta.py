"""Small report files next to the tables: written whole, or not at all."""

from __future__ import annotations

import json
import math
import os

import pytest

from synth.io import files
from synth.io.delta import write_json, write_text
from synth.io.files import StorageError


def test_write_text_replaces_the_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "runs" / "r1" / "metrics.json"
    write_text(f"file:{target}", "first")
    write_text(str(target), "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(StorageError, match=r"could not write .*metrics.json: disk full"):
        write_text(str(target), "new")
    monkeypatch.setattr(files.os, "replace", os.replace)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_write_json_writes_nan_as_null(tmp_path):
    write_json(str(tmp_path / "a.json"), {"x": math.nan, "y": [1.5]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": None, "y": [1.5]}
