"""Delta Lake's jars and the s3a connector's: fetched from Maven Central once, at set-up.

A Spark session built by :func:`synth.spark.build_session` only points ``spark.jars`` at this
cache; it never resolves packages (no ``spark.jars.packages``) and so never needs the network.

The s3a connector (for an ``s3a://`` lakehouse) is ``hadoop-aws`` 3.4.1, the Hadoop of PySpark
4.0.1, with the AWS SDK v2 modules it loads (2.24.6, the version it was built against) instead
of the SDK's single ``bundle`` jar: 30 jars. The set was found by running s3a
against an S3-compatible server (Delta write, append, overwrite, read; listing, rename, delete)
and is tested the same way (``tests/integration/io``).

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


SDK = "2.24.6"  # software.amazon.awssdk modules, as hadoop-aws 3.4.1 was built against

# (group, name, version, sha1) of the s3a connector's jars beyond PySpark's own jars/
_S3A = (
    ("org.apache.hadoop", "hadoop-aws", "3.4.1", "641d8fe1d7683cdcc05cc3a794c0374553f6bd6a"),
    ("software.amazon.awssdk", "s3", SDK, "9777140b63d04acd29ebe6e90e12086c9269f514"),
    (
        "software.amazon.awssdk",
        "s3-transfer-manager",
        "2.24.8",  # hadoop-aws 3.4.1's own pin of the transfer manager
        "3d31de77de31d9d623844410d46c07df1f9cfa6e",
    ),
    ("software.amazon.awssdk", "apache-client", SDK, "55e69299b5f7fffef465617ebd4cb22ed438107c"),
    ("software.amazon.awssdk", "netty-nio-client", SDK, "dfae337333d8af57c3e91db0f472be9434f8d83c"),
    ("software.amazon.awssdk", "aws-xml-protocol", SDK, "beff6d22a8f4070a06925842221cbc7806425da3"),
    (
        "software.amazon.awssdk",
        "aws-query-protocol",
        SDK,
        "acee5cc8022ce0d05423591c65008eb7032b2179",
    ),
    ("software.amazon.awssdk", "protocol-core", SDK, "df9863d546593ddf5a26d9dbec70832846cd0e0f"),
    ("software.amazon.awssdk", "sdk-core", SDK, "62f1768e8ddf2892d7200f47f458088631ab1083"),
    ("software.amazon.awssdk", "annotations", SDK, "c1f6f111daca150c4f616e0865c2337c75cac808"),
    ("software.amazon.awssdk", "http-client-spi", SDK, "0e44ec7dcf9b62780bd4b9e8cbfdfadca019001b"),
    ("software.amazon.awssdk", "utils", SDK, "2a61624810254b235440b104eb0cd325812c1c63"),
    ("software.amazon.awssdk", "metrics-spi", SDK, "41f74495b24a69a6e121f3302b2baa6ffa2f7c4c"),
    ("software.amazon.awssdk", "endpoints-spi", SDK, "b805e2eec11210ccf643fd01c5e14e11f47ad14e"),
    ("software.amazon.awssdk", "http-auth-spi", SDK, "4cdd9af87f3516ec3d12387a5da5c3c5dd680a73"),
    ("software.amazon.awssdk", "identity-spi", SDK, "0c957362c1a3524be1d50000153bb92948d81024"),
    ("software.amazon.awssdk", "http-auth-aws", SDK, "573244d9068e7f51c83d2641a1708ac052958f00"),
    ("software.amazon.awssdk", "http-auth", SDK, "e36661ff7fb6534ea1f3afeeb9e1672315acb8ef"),
    ("software.amazon.awssdk", "checksums-spi", SDK, "fa3a16ca18b68468b285c73cfb88d7d0073164b2"),
    ("software.amazon.awssdk", "checksums", SDK, "ba61bfce045f351c0d28d4f98d60e1225b0f86bc"),
    ("software.amazon.awssdk", "profiles", SDK, "f2717a4d481ea81f23450525a6ff73f617e39ed4"),
    ("software.amazon.awssdk", "aws-core", SDK, "d50f6da4b66b701902921b08a7301f5a9ca2f43a"),
    ("software.amazon.awssdk", "regions", SDK, "74293b7c8f8068fa8a6e37fc07bd651a0ead61c7"),
    ("software.amazon.awssdk", "json-utils", SDK, "8b0e0d3ea4e46e88cb68fc9dd23aa9d958e0e974"),
    (
        "software.amazon.awssdk",
        "third-party-jackson-core",
        SDK,
        "37ce8c370c57e0a907d61195339b5eec27e55ad0",
    ),
    ("software.amazon.awssdk", "auth", SDK, "2785868b78813402b89b3321341b5163522ef887"),
    ("software.amazon.awssdk", "arns", SDK, "1d8fc5790dd1849faed41f6573602d255be95943"),
    ("software.amazon.awssdk", "crt-core", SDK, "e047a0de654c07618b23177701fd7f2cf1e61bf6"),
    (
        "software.amazon.eventstream",
        "eventstream",
        "1.0.1",
        "6ff8649dffc5190366ada897ba8525a836297784",
    ),
    (
        "org.reactivestreams",
        "reactive-streams",
        "1.0.4",
        "3864a1320d97d7b045f729a326e1e077661f31b7",
    ),
)
S3A_ARTIFACTS: tuple[Artifact, ...] = tuple(Artifact(*a) for a in _S3A)

CONNECTORS: dict[str, tuple[Artifact, ...]] = {"s3a": S3A_ARTIFACTS}
"""The Hadoop file system connectors the cache can hold, by name."""

CONNECTOR_OF_SCHEME = {"s3a": "s3a", "s3": "s3a", "s3n": "s3a"}
"""Which connector serves a lakehouse URI's scheme (others: the cluster's own, or Hadoop's)."""

ALL_ARTIFACTS: tuple[Artifact, ...] = DELTA_ARTIFACTS + S3A_ARTIFACTS


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


def connector_jar_paths(directory: Path | None = None) -> list[Path]:
    """The cached connector jars (:data:`CONNECTORS`) that are there and complete in name."""
    directory = jars_dir() if directory is None else directory
    out: list[Path] = []
    for artifacts in CONNECTORS.values():
        paths = [directory / a.file_name for a in artifacts]
        if all(p.is_file() for p in paths):
            out.extend(paths)
    return out


def fetch(directory: Path | None = None, *, timeout_s: float = 120.0) -> list[Path]:
    """Download every pinned jar (Delta's and the connectors') that is missing or corrupt.

    Valid ones are left untouched.

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
    for artifact in ALL_ARTIFACTS:
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
        help=(
            "print the cached jars (Delta's and the connectors') comma-separated, for "
            "spark-submit --jars (fetches nothing)"
        ),
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.list:
            listed = [*delta_jar_paths(args.dir), *connector_jar_paths(args.dir)]
            sys.stdout.write(",".join(str(p) for p in listed) + "\n")
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
