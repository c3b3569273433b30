"""Delta Lake's jars: fetched from Maven Central once, at set-up, into a local cache.

A Spark session built by :func:`synth.spark.build_session` only points ``spark.jars`` at this
cache; it never resolves packages (no ``spark.jars.packages``) and so never needs the network.

Run ``python -m synth.jars`` (the bootstrap does) to fill the cache. Each jar is checked against a
pinned SHA-1, so a truncated or tampered download is refused and fetched again.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from synth.errors import SetupError

log = logging.getLogger(__name__)

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
DELTA_VERSION = "4.0.1"  # matches the delta-spark Python package pinned in pyproject.toml


@dataclass(frozen=True)
class Artifact:
    """One jar on Maven Central, pinned by version and SHA-1."""

    group: str
    name: str
    version: str
    sha1: str

    @property
    def file_name(self) -> str:
        """The jar's file name in the cache."""
        return f"{self.name}-{self.version}.jar"

    @property
    def url(self) -> str:
        """The jar's address on Maven Central."""
        return (
            f"{MAVEN_CENTRAL}/{self.group.replace('.', '/')}/{self.name}"
            f"/{self.version}/{self.file_name}"
        )


# delta-spark's only runtime dependencies not already in PySpark's jars/ (scala-library and
# antlr4-runtime 4.13.1 ship with PySpark 4.0.1; hadoop is "provided").
DELTA_ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(
        "io.delta", "delta-spark_2.13", DELTA_VERSION, "3e469898dc4ed083c735ae360beb063adcd12e9d"
    ),
    Artifact(
        "io.delta", "delta-storage", DELTA_VERSION, "ebc5384d953c1d70d0ce4ceee42892da74051a81"
    ),
)


def project_root() -> Path | None:
    """Return the source checkout holding this package, or None when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def jars_dir() -> Path:
    """Return the jar cache.

    That is ``$SYNTH_JARS_DIR``, else ``<checkout>/.cache/jars``, else ``~/.cache``.
    """
    env = os.environ.get("SYNTH_JARS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    root = project_root()
    if root is not None:
        return root / ".cache" / "jars"
    return Path.home() / ".cache" / "synth" / "jars"


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()  # noqa: S324 - Maven Central publishes SHA-1 checksums
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_valid(path: Path, artifact: Artifact) -> bool:
    return path.is_file() and _sha1(path) == artifact.sha1


def delta_jar_paths(directory: Path | None = None) -> list[Path]:
    """Return the cached Delta jars (in ``directory``, default :func:`jars_dir`), checked to exist.

    Raises:
        SetupError: A jar is missing; the message says how to fetch it.
    """
    directory = jars_dir() if directory is None else directory
    paths = [directory / a.file_name for a in DELTA_ARTIFACTS]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SetupError(
            f"Delta jars missing from {directory}: {', '.join(p.name for p in missing)}. "
            "Run `python -m synth.jars` once with network access (the README's commands do), "
            "or set SYNTH_JARS_DIR to a folder that holds them."
        )
    return paths


def fetch(directory: Path | None = None, *, timeout_s: float = 120.0) -> list[Path]:
    """Download every pinned jar that is missing or corrupt; leave valid ones untouched.

    Args:
        directory: The cache folder (default :func:`jars_dir`).
        timeout_s: Network timeout per download.

    Returns:
        The paths of all pinned jars in the cache.

    Raises:
        SetupError: A download failed or its checksum did not match.
    """
    directory = directory or jars_dir()
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for artifact in DELTA_ARTIFACTS:
        target = directory / artifact.file_name
        if _is_valid(target, artifact):
            log.info("jar up to date: %s", target.name)
            out.append(target)
            continue
        log.info("fetching %s", artifact.url)
        with tempfile.NamedTemporaryFile(dir=directory, delete=False, suffix=".part") as tmp:
            tmp_path = Path(tmp.name)
            try:
                with urllib.request.urlopen(artifact.url, timeout=timeout_s) as resp:  # noqa: S310
                    for block in iter(lambda: resp.read(1 << 20), b""):
                        tmp.write(block)
            except OSError as exc:
                tmp_path.unlink(missing_ok=True)
                raise SetupError(f"could not download {artifact.url}: {exc}") from exc
        if _sha1(tmp_path) != artifact.sha1:
            tmp_path.unlink(missing_ok=True)
            raise SetupError(f"checksum mismatch for {artifact.url}: expected sha1 {artifact.sha1}")
        tmp_path.chmod(0o644)  # readable by other users (a container's Spark user, a shared cache)
        tmp_path.replace(target)
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    """Fill the jar cache (``python -m synth.jars [--dir DIR]``), or ``--list`` it."""
    parser = argparse.ArgumentParser(prog="python -m synth.jars", description=__doc__)
    parser.add_argument(
        "--dir", type=Path, default=None, help="cache folder (default: %(default)s)"
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the cached jars comma-separated, for spark-submit --jars (fetches nothing)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.list:
            sys.stdout.write(",".join(str(p) for p in delta_jar_paths(args.dir)) + "\n")
            return 0
        paths = fetch(args.dir)
    except SetupError as exc:
        log.error("error: %s", exc)
        return 1
    for p in paths:
        log.info("%s", p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
