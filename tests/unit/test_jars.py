"""Tests for synth.jars: the checksum-pinned Delta jar cache, with no real network access."""

import hashlib
import io
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from synth import jars
from synth.errors import SetupError
from synth.jars import (
    ALL_ARTIFACTS,
    DELTA_ARTIFACTS,
    S3A_ARTIFACTS,
    connector_jar_paths,
    delta_jar_paths,
    fetch,
)

SPARK_JAR = DELTA_ARTIFACTS[0]
STORAGE_JAR = DELTA_ARTIFACTS[1]


@pytest.fixture(scope="module")
def cached_jars() -> dict[str, Path]:
    """The real jar cache filled by bin/bootstrap, keyed by download URL."""
    paths = [*delta_jar_paths(), *connector_jar_paths()]
    assert len(paths) == len(ALL_ARTIFACTS), "run bin/bootstrap: the jar cache is incomplete"
    return {a.url: p for a, p in zip(ALL_ARTIFACTS, paths, strict=True)}


@pytest.fixture
def jar_copies(tmp_path: Path, cached_jars: dict[str, Path]) -> Path:
    directory = tmp_path / "jars"
    directory.mkdir()
    for source in cached_jars.values():
        shutil.copy2(source, directory / source.name)
    return directory


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail(f"unexpected network access: urlopen{args}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def serve(monkeypatch: pytest.MonkeyPatch, bodies: dict[str, bytes]) -> list[str]:
    """Make urlopen answer from ``bodies`` (URL -> bytes); return the list of requested URLs."""
    requested: list[str] = []

    def fake_urlopen(url: str, timeout: float | None = None) -> io.BytesIO:
        requested.append(url)
        if url not in bodies:
            pytest.fail(f"unexpected download: {url}")
        return io.BytesIO(bodies[url])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return requested


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()  # noqa: S324


def part_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.part"))


class TestFetch:
    def test_fetch_valid_jars_left_untouched(self, jar_copies: Path, no_network: None) -> None:
        before = {p.name: p.stat().st_mtime_ns for p in jar_copies.iterdir()}

        paths = fetch(jar_copies)

        assert paths == [jar_copies / a.file_name for a in ALL_ARTIFACTS]
        assert {p.name: p.stat().st_mtime_ns for p in jar_copies.iterdir()} == before

    def test_fetch_corrupt_jar_replaced(
        self, jar_copies: Path, cached_jars: dict[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        corrupt = jar_copies / SPARK_JAR.file_name
        corrupt.write_bytes(corrupt.read_bytes()[:1000])  # a truncated download
        storage_mtime = (jar_copies / STORAGE_JAR.file_name).stat().st_mtime_ns
        requested = serve(monkeypatch, {SPARK_JAR.url: cached_jars[SPARK_JAR.url].read_bytes()})

        paths = fetch(jar_copies)

        assert requested == [SPARK_JAR.url]
        assert sha1(corrupt) == SPARK_JAR.sha1
        assert (jar_copies / STORAGE_JAR.file_name).stat().st_mtime_ns == storage_mtime
        assert paths == [jar_copies / a.file_name for a in ALL_ARTIFACTS]
        assert part_files(jar_copies) == []

    def test_fetch_missing_jars_downloaded_into_empty_dir(
        self, tmp_path: Path, cached_jars: dict[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        directory = tmp_path / "new" / "cache"
        requested = serve(monkeypatch, {url: p.read_bytes() for url, p in cached_jars.items()})

        fetch(directory)

        assert requested == [a.url for a in ALL_ARTIFACTS]
        assert [sha1(directory / a.file_name) for a in ALL_ARTIFACTS] == [
            a.sha1 for a in ALL_ARTIFACTS
        ]
        assert connector_jar_paths(directory) == [directory / a.file_name for a in S3A_ARTIFACTS]

    def test_fetch_checksum_mismatch_raises_and_leaves_no_part_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        serve(monkeypatch, {SPARK_JAR.url: b"PK\x03\x04 not the pinned jar"})

        with pytest.raises(SetupError, match="checksum mismatch") as excinfo:
            fetch(tmp_path)

        assert SPARK_JAR.sha1 in str(excinfo.value)
        assert part_files(tmp_path) == []
        assert not (tmp_path / SPARK_JAR.file_name).exists()

    def test_fetch_checksum_mismatch_keeps_corrupt_target_out_of_use(
        self, jar_copies: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        target = jar_copies / STORAGE_JAR.file_name
        target.write_bytes(b"corrupt")
        serve(monkeypatch, {STORAGE_JAR.url: b"still wrong"})

        with pytest.raises(SetupError, match="checksum mismatch"):
            fetch(jar_copies)

        assert target.read_bytes() == b"corrupt"  # never replaced by an unverified download
        assert part_files(jar_copies) == []

    def test_fetch_download_error_raises_setup_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def offline(url: str, timeout: float | None = None) -> io.BytesIO:
            raise urllib.error.URLError("Network is unreachable")

        monkeypatch.setattr(urllib.request, "urlopen", offline)

        with pytest.raises(SetupError, match="could not download"):
            fetch(tmp_path)

        assert part_files(tmp_path) == []

    def test_main_download_error_returns_1(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def offline(url: str, timeout: float | None = None) -> io.BytesIO:
            raise urllib.error.URLError("Network is unreachable")

        monkeypatch.setattr(urllib.request, "urlopen", offline)

        assert jars.main(["--dir", str(tmp_path)]) == 1

    def test_main_valid_cache_returns_0(self, jar_copies: Path, no_network: None) -> None:
        assert jars.main(["--dir", str(jar_copies)]) == 0


class TestDeltaJarPaths:
    def test_delta_jar_paths_from_env_dir(
        self, jar_copies: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SYNTH_JARS_DIR", str(jar_copies))

        assert delta_jar_paths() == [jar_copies / a.file_name for a in DELTA_ARTIFACTS]

    def test_delta_jar_paths_missing_names_fetch_command(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SYNTH_JARS_DIR", str(tmp_path))

        with pytest.raises(SetupError) as excinfo:
            delta_jar_paths()

        assert "python -m synth.jars" in str(excinfo.value)
        for artifact in DELTA_ARTIFACTS:
            assert artifact.file_name in str(excinfo.value)


def test_list_prints_the_cached_jars_for_spark_submit(
    jar_copies: Path, no_network: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jars.main(["--list", "--dir", str(jar_copies)]) == 0

    printed = capsys.readouterr().out.strip().split(",")
    assert printed == [str(jar_copies / a.file_name) for a in ALL_ARTIFACTS]


def test_list_of_an_empty_cache_fails_and_fetches_nothing(
    tmp_path: Path, no_network: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert jars.main(["--list", "--dir", str(tmp_path)]) == 1
    assert "python -m synth.jars" in caplog.text
    assert not list(tmp_path.iterdir())
