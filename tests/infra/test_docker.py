"""infra/docker/Dockerfile, read instruction by instruction and checked against the repository.

No Docker engine runs here (nor in CI), so the image is not built by the tests; what they can
check, they do: the base image matches the pinned Spark and Java, Python matches pyproject, the
environment comes from uv.lock, the Delta jars and Horovod are built in, every file copied
exists and passes .dockerignore, and the tag matches what the cluster definitions run.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from synth import __version__

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "docker" / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), " ".join(args.split())))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def args_of(steps: list[tuple[str, str]], keyword: str) -> list[str]:
    return [a for k, a in steps if k == keyword]


def test_parser_joins_continuations_and_drops_comments() -> None:
    text = "# c\nFROM a AS b\nRUN x \\\n    # inside\n    && y\nENV A=1 \\\n    B=2\n"
    assert instructions(text) == [("FROM", "a AS b"), ("RUN", "x && y"), ("ENV", "A=1 B=2")]


def test_base_image_is_the_pinned_spark_on_java_17(steps: list[tuple[str, str]]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pyspark = next(d for d in pyproject["project"]["dependencies"] if d.startswith("pyspark=="))
    spark_version = pyspark.split("==")[1]
    (spark_image,) = [a for a in args_of(steps, "ARG") if a.startswith("SPARK_IMAGE=")]
    assert spark_image == f"SPARK_IMAGE=apache/spark:{spark_version}-scala2.13-java17-ubuntu"
    stages = [a.split() for a in args_of(steps, "FROM")]
    assert [s[-1] for s in stages] == ["uv", "build", "runtime"]  # the last stage is the image
    assert stages[-1][0] == "${SPARK_IMAGE}" and stages[1][0] == "${SPARK_IMAGE}"


def test_uv_and_python_match_the_project(steps: list[tuple[str, str]]) -> None:
    bootstrap = (ROOT / "bin" / "bootstrap").read_text()
    uv_version = re.search(r'^UV_VERSION="([^"]+)"', bootstrap, re.M)
    assert uv_version
    assert f"UV_IMAGE=ghcr.io/astral-sh/uv:{uv_version.group(1)}" in args_of(steps, "ARG")
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11,<3.12"
    runs = " ; ".join(args_of(steps, "RUN"))
    assert "uv python install 3.11" in runs
    sync = re.search(r"uv sync ([^&;]+)", runs)
    assert sync, "no uv sync"
    flags = sync.group(1).split()
    assert "--frozen" in flags and "--no-dev" in flags  # exactly uv.lock, no test tools
    assert {"ml", "train"} <= {flags[i + 1] for i, f in enumerate(flags) if f == "--extra"}


def test_delta_jars_horovod_and_the_wheel_are_built_in(steps: list[tuple[str, str]]) -> None:
    runs = " ; ".join(args_of(steps, "RUN"))
    assert "-m synth.jars --dir /opt/delta-jars" in runs
    assert "COPY --from=build /opt/delta-jars/ /opt/spark/jars/" in [
        f"COPY {a}" for a in args_of(steps, "COPY")
    ]
    assert "bin/build_horovod.py --uv" in runs and (ROOT / "bin" / "build_horovod.py").is_file()
    wheel = f"dist/synth-{__version__}-py3-none-any.whl"
    assert f"--no-deps {wheel}" in runs  # what bin/package writes
    assert "import synth, torch, horovod.torch, petastorm, pyspark" in runs


def test_runtime_environment(steps: list[tuple[str, str]]) -> None:
    env = " ".join(args_of(steps, "ENV"))
    for needed in (
        "PYSPARK_PYTHON=/opt/synth/.venv/bin/python",
        "PYSPARK_DRIVER_PYTHON=/opt/synth/.venv/bin/python",
        "SYNTH_SPARK_CONF_DIR=/opt/synth/spark_conf",
        "SPARK_HOME=/opt/spark",
    ):
        assert needed in env
    assert args_of(steps, "USER")[-1] == "spark"
    assert args_of(steps, "ENTRYPOINT") == ['["/opt/entrypoint.sh"]']
    label = " ".join(args_of(steps, "LABEL"))
    assert f'org.opencontainers.image.version="{__version__}"' in label


def test_every_copied_file_exists_and_passes_dockerignore(steps: list[tuple[str, str]]) -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:  # last matching rule wins, as in Docker
            negate = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negate
        return keep

    sources: list[str] = []
    for args in args_of(steps, "COPY"):
        if args.startswith("--from="):
            continue
        *srcs, _dest = args.split()
        sources += srcs
    assert sources, "no COPY from the build context"
    for source in sources:
        assert included(source), f"{source} is excluded by .dockerignore"
        if source.startswith("dist/"):
            continue  # built by bin/package before `docker build` (the header says so)
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert not included(".venv") and not included(".cache/jars/x.jar")
