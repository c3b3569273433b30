"""The file layer (synth/io/files.py) on a local folder and on an S3-compatible store."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from synth.errors import ConfigError
from synth.io import files
from synth.io.files import StorageError
from tests.s3 import s3_server


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A folder on each kind of store the tests can reach."""
    if request.param == "local":
        return f"file:{tmp_path}/root"
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3a://{bucket}/root"


def test_uris_resolve_to_their_file_system(tmp_path: Path) -> None:
    assert files.local_path(f"file:{tmp_path}/a") == f"{tmp_path}/a"
    assert files.local_path(f"file://localhost{tmp_path}/a") == f"{tmp_path}/a"
    assert files.local_path("relative/x") == os.path.abspath("relative/x")
    assert files.local_path("s3a://b/k") is None
    assert files.kind_of("s3a://b/k") == files.kind_of("gs://b/k") == "object"
    assert files.kind_of("hdfs://nn:8020/x") == "hdfs"
    assert files.resolve("s3a://bucket/lh/x.json")[1] == "bucket/lh/x.json"
    assert files.join("s3a://b/lh/", "_models", "/m/") == "s3a://b/lh/_models/m"
    assert files.parent_of("s3a://b/lh/m") == "s3a://b/lh"
    assert files.name_of("s3a://b/lh/m/") == "m"


def test_an_unknown_scheme_or_a_missing_client_is_named() -> None:
    with pytest.raises(ConfigError, match=r"does not know the scheme 'ftp'.*Supported: file:"):
        files.resolve("ftp://host/x")
    with pytest.raises(StorageError, match=r"dbfs: paths .* /dbfs mount .* does not exist here"):
        files.resolve("dbfs:/lh/x")
    with pytest.raises(ConfigError, match=r"needs the Python package adlfs.*pip install adlfs"):
        files.resolve("abfss://c@account.dfs.core.windows.net/lh")


def test_write_read_list_remove(root: str) -> None:
    assert not files.exists(root)
    assert files.list_names(root) == []
    files.write_text(files.join(root, "a", "x.json"), '{"v": 1}')
    files.write_bytes(files.join(root, "a", "y.bin"), b"\x00\x01")
    files.write_text(files.join(root, "a", "x.json"), '{"v": 2}')  # replaced
    assert files.read_json(files.join(root, "a", "x.json")) == {"v": 2}
    assert files.read_bytes(files.join(root, "a", "y.bin")) == b"\x00\x01"
    assert files.list_names(files.join(root, "a")) == ["x.json", "y.bin"]  # no temporary files
    assert files.is_dir(files.join(root, "a")) and files.is_file(files.join(root, "a", "y.bin"))
    with pytest.raises(FileNotFoundError):
        files.read_bytes(files.join(root, "a", "missing"))
    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    files.write_bytes(files.join(root, "m.npy"), files.npy_bytes(matrix))
    assert np.array_equal(files.read_npy(files.join(root, "m.npy")), matrix)
    files.remove(files.join(root, "a"))
    files.remove(files.join(root, "a"))  # absent: nothing to do
    assert files.list_names(root) == ["m.npy"]


def test_publish_folder_replaces_a_version_whole(root: str) -> None:
    target = files.join(root, "model")
    files.publish_folder(target, {"w": b"1", "old": b"x", "meta": b"v1"}, commit="meta")
    files.publish_folder(target, {"w": b"2", "meta": b"v2"}, commit="meta")
    assert files.list_names(target) == ["meta", "w"]  # the earlier version's extra file is gone
    assert files.read_folder(target, ("w", "meta")) == {"w": b"2", "meta": b"v2"}
    assert files.list_names(root) == ["model"]  # no .partial- / .old- folders left
    with pytest.raises(FileNotFoundError, match="missing nope"):
        files.read_folder(target, ("w", "nope"))
    with pytest.raises(ValueError, match="commit file 'x' is not among"):
        files.publish_folder(target, {"w": b"3"}, commit="x")


def test_probe_leaves_nothing_behind(root: str) -> None:
    files.probe(root)
    assert files.list_names(root) == []


def test_a_failed_local_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(StorageError, match=r"could not write .*r\.json: disk full"):
        files.write_text(str(target), "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


# -- a store that cannot be used: each cause named -------------------------------------------


def test_a_bucket_that_does_not_exist(s3_bucket: str) -> None:
    with pytest.raises(
        StorageError, match=r"s3a://no-such-bucket-x/lh/.*the bucket does not exist"
    ):
        files.probe("s3a://no-such-bucket-x/lh")


def test_an_unreachable_store_fails_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.s3 import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    files.configure_s3(None)
    began = time.monotonic()
    try:
        with pytest.raises(StorageError, match=r"the store cannot be reached\. Fix: check fs\.s3a"):
            files.probe("s3a://bucket/lh")
    finally:
        files.configure_s3(None)
    assert time.monotonic() - began < 30


@pytest.fixture(scope="module")
def strict_server() -> Iterator[object]:
    """A second server that checks credentials (moto's IAM authentication: it knows no key)."""
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # read by the server process at start
    try:
        with s3_server() as server:
            yield server
    finally:
        del os.environ["INITIAL_NO_AUTH_ACTION_COUNT"]


@pytest.mark.parametrize("keys", ["wrong", "none"])
def test_credentials_refused_or_missing(
    strict_server: object, keys: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", strict_server.endpoint)  # type: ignore[attr-defined]
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance profile to fall back on
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    if keys == "wrong":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONG")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    files.configure_s3(None)
    try:
        expected = {
            "wrong": r"the store refused the credentials\. Fix: set fs\.s3a\.access\.key",
            "none": r"no S3 credentials were found .*AWS_ACCESS_KEY_ID.*Fix: set them",
        }[keys]
        with pytest.raises(StorageError, match=expected):
            files.probe("s3a://any-bucket/lh")
    finally:
        files.configure_s3(None)
