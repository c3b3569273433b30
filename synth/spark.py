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
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from synth.errors import ConfigError, SetupError
from synth.jars import connector_jar_paths, delta_jar_paths, project_root

PROFILES: tuple[str, ...] = ("local", "standalone", "yarn", "kubernetes", "databricks")
_SYNTH_PREFIX = "synth."
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Settings fixed when the driver JVM starts. Under spark-submit, spark-submit owns them (its
# --master, --deploy-mode, --driver-memory, --jars, --py-files ...): a profile never overrides them.
LAUNCH_KEYS: frozenset[str] = frozenset(
    {
        "spark.master",
        "spark.submit.deployMode",
        "spark.submit.pyFiles",
        "spark.driver.memory",
        "spark.driver.cores",
        "spark.driver.extraClassPath",
        "spark.driver.extraJavaOptions",
        "spark.driver.extraLibraryPath",
        "spark.jars",
        "spark.jars.packages",
        "spark.jars.repositories",
        "spark.jars.ivy",
        "spark.files",
        "spark.archives",
    }
)
_DELTA_CLASS = "io.delta.sql.DeltaSparkSessionExtension"

DELTA_SESSION_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Defaults every built session gets unless its profile or overrides set the key.
# - arrow.localRelationThreshold: Spark keeps a pandas frame passed to createDataFrame below
#   this many Arrow bytes (48 MB by default) as a LocalRelation, whose rows every optimizer rule
#   walks again each time the plan is analysed: an MLlib ALS fit on the recommender's 476k
#   (user, item, strength) rows spent over a third of its time planning. Above 1 MB frames become
#   an RDD of Arrow batches instead (bench/session_conf.py measures both).
SESSION_DEFAULTS: dict[str, str] = {
    "spark.sql.execution.arrow.localRelationThreshold": "1MB",
}


def conf_dir() -> Path:
    """Return the folder holding the profiles.

    That is ``$SYNTH_SPARK_CONF_DIR``, else the source checkout's ``spark_conf/``, else
    ``./spark_conf`` (spark-submit run from a checkout, with synth shipped as a wheel).
    """
    env = os.environ.get("SYNTH_SPARK_CONF_DIR")
    if env:
        return Path(env)
    root = project_root()
    if root is not None:
        return root / "spark_conf"
    here = Path.cwd() / "spark_conf"
    if here.is_dir():
        return here
    raise SetupError(
        "cannot find spark_conf/: set SYNTH_SPARK_CONF_DIR to the folder that holds the "
        "profile files, run from the project folder, or pass a path to a .conf file as the "
        "profile"
    )


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


def launched_by_spark_submit() -> bool:
    """Return True when spark-submit started this driver and no SparkContext exists yet.

    spark-submit starts the JVM first and hands its gateway to Python in
    ``PYSPARK_GATEWAY_PORT``; a plain ``python`` process has none and PySpark starts its own JVM.
    """
    return (
        "PYSPARK_GATEWAY_PORT" in os.environ and SparkContext._active_spark_context is None  # noqa: SLF001 - no public accessor
    )


def _submitted_conf() -> dict[str, str]:
    """Return the conf spark-submit started the driver with (its flags, --conf, defaults file)."""
    SparkContext._ensure_initialized()  # noqa: SLF001 - connects to spark-submit's JVM, starts nothing
    return dict(SparkConf(loadDefaults=True).getAll())


def default_warehouse() -> str:
    """The unused catalog warehouse of a synth session: a per-user folder in the temp dir."""
    return str(Path(tempfile.gettempdir()) / f"synth-spark-warehouse-{os.getuid()}")


def session_conf(
    profile: str | os.PathLike[str],
    overrides: Mapping[str, str] | None = None,
    *,
    submitted: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the full Spark conf a profile yields (profile file + Delta + overrides).

    Does not start Spark. ``synth.*`` keys are kept (``build_session`` strips them).

    Args:
        profile: A profile name or a path to a ``.conf`` file.
        overrides: Extra conf applied after the profile.
        submitted: The conf spark-submit launched the driver with, when it did. Then every key
            it set wins over the profile, the profile's :data:`LAUNCH_KEYS` are dropped (the JVM
            is already running), and the Delta jars are expected on spark-submit's ``--jars``.
    """
    conf = read_profile(profile)
    conf.update(overrides or {})
    if conf.get("synth.session.reuse_active", "false").lower() == "true":
        return conf
    for key, value in {**DELTA_SESSION_CONF, **SESSION_DEFAULTS}.items():
        conf.setdefault(key, value)
    # synth's tables are path-based: the catalog's warehouse is unused, but Spark creates it at
    # start-up, by default as ./spark-warehouse wherever the job happens to run
    conf.setdefault("spark.sql.warehouse.dir", default_warehouse())
    if submitted is not None:
        if conf.get("spark.jars.packages") and "spark.jars.packages" not in submitted:
            raise ConfigError(
                "spark.jars.packages is set in the Spark profile: sessions must not resolve "
                "packages at start-up (no network). Pass the cached Delta jars to spark-submit "
                'with --jars "$(python -m synth.jars --list)" instead.'
            )
        conf = {k: v for k, v in conf.items() if k not in LAUNCH_KEYS and k not in submitted}
        if "spark.master" in submitted:
            conf["spark.master"] = submitted["spark.master"]  # for the interpreter rule below
        conf["synth.delta.jars"] = "submitted"
    if conf.get("spark.master", "").startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        # Python workers of a local session use the driver's interpreter (the project's venv),
        # not whatever `python3` is first on PATH (which lacks numpy, torch, ...).
        conf.setdefault("spark.pyspark.python", sys.executable)
    if conf.get("synth.delta.jars", "cache") == "cache":
        # Delta's, and the s3a connector's where the cache holds it (bin/bootstrap fetches it)
        jars = [str(p) for p in (*delta_jar_paths(), *connector_jar_paths())]
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
    if read_profile(profile).get("synth.session.reuse_active", "false").lower() == "true":
        return _active_session(profile)
    submitted = _submitted_conf() if launched_by_spark_submit() else None
    conf = session_conf(profile, overrides, submitted=submitted)
    if submitted is not None:
        _check_delta_on_driver()
        conf.pop("spark.master", None)  # spark-submit's own, already in the JVM
    else:
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


def _active_session(profile: str | os.PathLike[str]) -> SparkSession:
    """The session a managed runtime (Databricks) owns: the active one, else the runtime's."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if "DATABRICKS_RUNTIME_VERSION" in os.environ:
        # A Databricks Python-file task: the cluster's session exists but is not active here.
        return SparkSession.builder.getOrCreate()
    raise SetupError(
        f"profile {profile!r} reuses the active Spark session, but there is none: "
        "run on a Databricks cluster, or pick the `local` profile"
    )


def _check_delta_on_driver() -> None:
    """Under spark-submit, fail early and clearly when the Delta jars are not on the driver."""
    jvm = SparkContext._jvm  # noqa: SLF001
    assert jvm is not None  # _submitted_conf connected to the gateway
    try:
        jvm.java.lang.Thread.currentThread().getContextClassLoader().loadClass(_DELTA_CLASS)
    except Exception as exc:  # py4j raises Py4JJavaError (ClassNotFoundException) here
        try:
            hint = ",".join(str(p) for p in delta_jar_paths())
        except SetupError:
            hint = "$(python -m synth.jars --list)"
        raise SetupError(
            f"Delta Lake is not on spark-submit's classpath ({_DELTA_CLASS} not found). "
            f"Pass the cached Delta jars: spark-submit --jars {hint} ... "
            "(or bake them into $SPARK_HOME/jars, as the container image does)"
        ) from exc
