"""The one Spark session factory.

``build_session(profile)`` reads ``spark_conf/<profile>.conf`` (spark-defaults format with
``${VAR:-default}`` expansion), adds Delta Lake's extensions and the locally cached Delta jars, and
returns a session. No Maven resolution happens at session start, so it works with no network.
Library code never creates sessions: it receives one as an argument.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import SparkSession

from synth.errors import ConfigError, SetupError
from synth.jars import delta_jar_paths, project_root

PROFILES: tuple[str, ...] = ("local", "standalone", "yarn", "kubernetes", "databricks")
_SYNTH_PREFIX = "synth."
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

DELTA_SESSION_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def conf_dir() -> Path:
    """Return the folder holding the profiles: ``$SYNTH_SPARK_CONF_DIR`` or the checkout's."""
    env = os.environ.get("SYNTH_SPARK_CONF_DIR")
    if env:
        return Path(env)
    root = project_root()
    if root is None:
        raise SetupError(
            "cannot find spark_conf/: set SYNTH_SPARK_CONF_DIR to the folder that holds the "
            "profile files, or pass a path to a .conf file as the profile"
        )
    return root / "spark_conf"


def _expand(value: str, path: Path, lineno: int) -> str:
    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{path}:{lineno}: environment variable {name} is not set and has no default"
        )

    return _VAR.sub(repl, value)


def read_profile(profile: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a profile: a name from :data:`PROFILES` or a path to a ``.conf`` file.

    Raises:
        ConfigError: Unknown profile name, or a malformed line (file and line number given).
    """
    candidate = Path(profile)
    if candidate.suffix == ".conf" and candidate.is_file():
        path = candidate
    else:
        path = conf_dir() / f"{profile}.conf"
        if not path.is_file():
            raise ConfigError(
                f"unknown Spark profile {str(profile)!r}: no file {path}. "
                f"Allowed: {', '.join(PROFILES)}, or a path to a .conf file"
            )
    conf: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ConfigError(f"{path}:{lineno}: expected `key value`, got {raw!r}")
        conf[parts[0]] = _expand(parts[1].strip(), path, lineno)
    return conf


def _check_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return
    if shutil.which("java") is None:
        raise SetupError(
            "no Java found: install a Java 17 runtime or set JAVA_HOME (Spark 4 needs it)"
        )


def session_conf(
    profile: str | os.PathLike[str], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the full Spark conf a profile yields (profile file + Delta + overrides).

    Does not start Spark. ``synth.*`` keys are kept (``build_session`` strips them).
    """
    conf = read_profile(profile)
    conf.update(overrides or {})
    if conf.get("synth.session.reuse_active", "false").lower() == "true":
        return conf
    for key, value in DELTA_SESSION_CONF.items():
        conf.setdefault(key, value)
    if conf.get("spark.master", "").startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        # Python workers of a local session use the driver's interpreter (the project's venv),
        # not whatever `python3` is first on PATH (which lacks numpy, torch, ...).
        conf.setdefault("spark.pyspark.python", sys.executable)
    if conf.get("synth.delta.jars", "cache") == "cache":
        jars = [str(p) for p in delta_jar_paths()]
        existing = [j for j in conf.get("spark.jars", "").split(",") if j]
        conf["spark.jars"] = ",".join([*existing, *jars])
    return conf


def build_session(
    profile: str | os.PathLike[str] = "local",
    *,
    app_name: str = "synth",
    overrides: Mapping[str, str] | None = None,
) -> SparkSession:
    """Build (or reuse, for ``databricks``) a Delta-enabled Spark session.

    Args:
        profile: A profile name from ``spark_conf/`` or a path to a ``.conf`` file.
        app_name: The application name shown by the cluster manager.
        overrides: Extra Spark conf applied after the profile.

    Returns:
        The session.

    Raises:
        ConfigError: Unknown profile or malformed profile file.
        SetupError: Java or the cached Delta jars are missing; or the ``databricks`` profile
            found no active session.
    """
    conf = session_conf(profile, overrides)
    if conf.get("synth.session.reuse_active", "false").lower() == "true":
        active = SparkSession.getActiveSession()
        if active is None:
            raise SetupError(
                f"profile {profile!r} reuses the active Spark session, but there is none: "
                "run on a Databricks cluster, or pick the `local` profile"
            )
        return active
    _check_java()
    if conf.get("spark.jars.packages"):
        raise ConfigError(
            "spark.jars.packages is set: sessions must not resolve packages at start-up "
            "(no network). Put the jars in the cache (`python -m synth.jars`) instead."
        )
    if "spark.pyspark.python" in conf and "PYSPARK_PYTHON" not in os.environ:
        # PySpark launches its workers with $PYSPARK_PYTHON only (the conf key is spark-submit's)
        os.environ["PYSPARK_PYTHON"] = conf["spark.pyspark.python"]
    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        if not key.startswith(_SYNTH_PREFIX):
            builder = builder.config(key, value)
    return builder.getOrCreate()
