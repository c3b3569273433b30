"""The file layer: every file next to the tables that is not a Delta table goes through here.

Reports and run folders, the model store, training checkpoints, the training cache's metadata
and validation matrix, the text projection, the simulator's landing marker and the run lock are
read and written with the functions of this module, on any URI the lakehouse may have:

========================  ===========================================================  ========
URI                       file system (pyarrow)                                         kind
========================  ===========================================================  ========
``/x``, ``file:/x``       ``LocalFileSystem``                                           local
``s3a://b/x`` (``s3:``)   ``S3FileSystem`` (settings: :class:`S3Settings`)             object
``gs://b/x``              ``GcsFileSystem`` (Google's default credentials)             object
``hdfs://nn/x``           ``HadoopFileSystem`` (needs libhdfs: ``HADOOP_HOME``, Java)   hdfs
``abfss://c@a.../x``      fsspec's ``adlfs`` through ``PyFileSystem`` (install adlfs)   object
``dbfs:/x``               the ``/dbfs`` mount of a Databricks node                     local
========================  ===========================================================  ========

Why pyarrow and not the JVM's Hadoop ``FileSystem``: training workers (``torch_distributor``,
Horovod) are Python processes without a py4j gateway, and Petastorm reads the training cache
through a pyarrow file system; one client for the driver and the workers means one set of
settings and one behaviour. (Spark itself still writes the tables through Hadoop's s3a.)

Atomicity. :func:`write_bytes` is atomic on every kind: a local or HDFS file is written under a
temporary name in the same folder and renamed over the target; an object store's single PUT is
atomic by itself (a reader sees the old object or the new one). A *folder* is published with
:func:`publish_folder`: on local file systems and HDFS it is written beside the target and
swapped in by rename; object stores have no folder rename, so the target's commit file is
deleted first, the files are written, and the commit file is written last (write-then-commit):
a reader that requires the commit file (every reader here does) never uses a partial folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import posixpath
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import pyarrow.fs as pafs

from synth.errors import ConfigError, SynthError

Kind = Literal["local", "hdfs", "object"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
S3_SCHEMES = ("s3a", "s3", "s3n")
AZURE_SCHEMES = ("abfss", "abfs", "wasbs", "wasb")
SUPPORTED = ("file", *S3_SCHEMES, "gs", "hdfs", *AZURE_SCHEMES, "dbfs")
DBFS_MOUNT = "/dbfs"


class StorageError(SynthError):
    """A store could not be reached, or refused a read or write (the message says which and why)."""


@dataclass(frozen=True)
class S3Settings:
    """How the file layer reaches S3 (and S3-compatible stores such as MinIO).

    Taken, key by key, from the Spark session's Hadoop configuration (``fs.s3a.endpoint``,
    ``fs.s3a.access.key``, ...: :func:`s3_settings_from_hadoop`), so Spark's s3a connector and
    this layer are configured in one place; a key not set there falls back to the standard
    AWS environment (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``), and without keys to
    pyarrow's default chain (``~/.aws``, the instance profile).
    """

    endpoint: str = ""
    region: str = ""
    access_key: str = ""
    secret_key: str = field(default="", repr=False)  # never in logs or messages
    session_token: str = field(default="", repr=False)
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 30.0
    attempts: int = 3

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values (handed to training workers)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


HADOOP_S3_KEYS = {
    "endpoint": "fs.s3a.endpoint",
    "region": "fs.s3a.endpoint.region",
    "access_key": "fs.s3a.access.key",
    "secret_key": "fs.s3a.secret.key",
    "session_token": "fs.s3a.session.token",
}
ENV_S3_KEYS = {
    "endpoint": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "access_key": ("AWS_ACCESS_KEY_ID",),
    "secret_key": ("AWS_SECRET_ACCESS_KEY",),
    "session_token": ("AWS_SESSION_TOKEN",),
}

_settings_lock = threading.Lock()
_s3_settings: S3Settings | None = None
_filesystems: dict[tuple[str, str], pafs.FileSystem] = {}


def configure_s3(settings: S3Settings | Mapping[str, Any] | None) -> None:
    """Use ``settings`` for S3 from now on in this process (None: back to the environment)."""
    global _s3_settings
    if settings is not None and not isinstance(settings, S3Settings):
        settings = S3Settings(**dict(settings))
    with _settings_lock:
        _s3_settings = settings
        _filesystems.clear()


def s3_settings() -> S3Settings:
    """The S3 settings in force: those configured, else the AWS environment's."""
    with _settings_lock:
        configured = _s3_settings
    if configured is not None:
        return configured
    values = {
        name: next((os.environ[k] for k in keys if os.environ.get(k)), "")
        for name, keys in ENV_S3_KEYS.items()
    }
    return S3Settings(
        endpoint=values["endpoint"],
        region=values["region"],
        access_key=values["access_key"],
        secret_key=values["secret_key"],
        session_token=values["session_token"],
    )


def s3_settings_from_hadoop(conf: Mapping[str, str]) -> S3Settings:
    """The S3 settings from Hadoop keys (``fs.s3a.*``), each falling back to the environment."""
    env = s3_settings()
    values: dict[str, Any] = {
        name: conf.get(key) or getattr(env, name) for name, key in HADOOP_S3_KEYS.items()
    }
    return dataclasses.replace(env, **values)


# -- resolving a URI ---------------------------------------------------------------------------


def scheme_of(uri: str) -> str:
    """The URI's scheme in lower case; ``""`` for a plain path."""
    return uri.split(":", 1)[0].lower() if _SCHEME.match(uri) and "\\" not in uri else ""


def kind_of(uri: str) -> Kind:
    """Whether ``uri`` is on a local file system, HDFS or an object store."""
    scheme = scheme_of(uri)
    if scheme in ("", "file", "dbfs"):
        return "local"
    if scheme == "hdfs":
        return "hdfs"
    return "object"


def local_path(uri: str) -> str | None:
    """The local file system path of ``uri``; None when it is not on a local file system."""
    scheme = scheme_of(uri)
    if scheme == "":
        return os.path.abspath(os.path.expanduser(uri))
    parsed = urlparse(uri)
    if scheme == "file" and parsed.netloc in ("", "localhost"):
        return unquote(parsed.path) or "/"
    if scheme == "dbfs":
        if not os.path.isdir(DBFS_MOUNT):
            raise StorageError(
                f"{uri}: dbfs: paths are read and written through the {DBFS_MOUNT} mount of a "
                f"Databricks node, and {DBFS_MOUNT} does not exist here. Fix: run on Databricks, "
                "or give the lakehouse as the cloud URI behind it (s3a://, abfss://, gs://)."
            )
        return DBFS_MOUNT + (unquote(parsed.path) or "/")
    return None


def join(base: str, *parts: str) -> str:
    """``base`` and ``parts`` joined with ``/`` (a URI keeps its scheme and authority)."""
    out = base.rstrip("/") if base not in ("/", "") else base
    for part in parts:
        part = part.strip("/")
        if part:
            out = f"{out}/{part}" if out and not out.endswith("/") else f"{out}{part}"
    return out


def name_of(uri: str) -> str:
    """The last part of ``uri``."""
    return posixpath.basename(uri.rstrip("/"))


def parent_of(uri: str) -> str:
    """``uri`` without its last part."""
    head = uri.rstrip("/").rsplit("/", 1)[0]
    return head if head and not head.endswith(":") else uri


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow file system holding ``uri`` and the path to give it.

    Raises:
        ConfigError: The scheme is not one the lakehouse supports, or its client is not
            installed (the message names the package).
    """
    local = local_path(uri)
    if local is not None:
        return _filesystem("file", ""), local
    scheme = scheme_of(uri)
    parsed = urlparse(uri)
    if scheme in S3_SCHEMES:
        return _filesystem("s3", ""), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if scheme == "gs":
        return _filesystem("gs", ""), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if scheme == "hdfs":
        return _filesystem("hdfs", parsed.netloc), parsed.path or "/"
    if scheme in AZURE_SCHEMES:
        return _filesystem("azure", parsed.netloc), f"{parsed.netloc}{parsed.path}".rstrip("/")
    raise ConfigError(
        f"{uri}: the file layer does not know the scheme {scheme!r}. Supported: "
        f"{', '.join(s + ':' for s in SUPPORTED)} (and plain local paths)."
    )


def _filesystem(kind: str, authority: str) -> pafs.FileSystem:
    key = (kind, authority)
    with _settings_lock:
        cached = _filesystems.get(key)
    if cached is not None:
        return cached
    fs = _make_filesystem(kind, authority)
    with _settings_lock:
        _filesystems[key] = fs
    return fs


def _make_filesystem(kind: str, authority: str) -> pafs.FileSystem:
    if kind == "file":
        return pafs.LocalFileSystem()
    if kind == "s3":
        s = s3_settings()
        endpoint = s.endpoint
        scheme = "https"
        if endpoint.startswith(("http://", "https://")):
            scheme, endpoint = endpoint.split("://", 1)
        return pafs.S3FileSystem(
            access_key=s.access_key or None,
            secret_key=s.secret_key or None,
            session_token=s.session_token or None,
            region=s.region or None,
            endpoint_override=endpoint.rstrip("/") or None,
            scheme=scheme,
            connect_timeout=s.connect_timeout_s,
            request_timeout=s.request_timeout_s,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=s.attempts),
            # the files here are small: uploading each part synchronously saves a thread hop
            background_writes=False,
        )
    if kind == "gs":
        return pafs.GcsFileSystem()
    if kind == "hdfs":
        host, _, port = authority.partition(":")
        try:
            return pafs.HadoopFileSystem(host or "default", int(port or 0))
        except OSError as exc:
            raise StorageError(
                f"hdfs://{authority}: pyarrow could not load libhdfs to reach HDFS from Python: "
                f"{exc}. Fix: set HADOOP_HOME and ARROW_LIBHDFS_DIR (the folder of libhdfs.so) "
                "and CLASSPATH=$(hadoop classpath --glob) on the driver and workers."
            ) from exc
    if kind == "azure":
        try:
            import adlfs  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ConfigError(
                "an abfss:// or wasbs:// lakehouse needs the Python package adlfs for the files "
                "beside the tables (reports, models, checkpoints). Fix: `pip install adlfs` in "
                "the driver's and the workers' environment."
            ) from exc
        account = authority.split("@", 1)[-1].split(".", 1)[0]
        handler = pafs.FSSpecHandler(adlfs.AzureBlobFileSystem(account_name=account))
        return pafs.PyFileSystem(handler)
    raise ConfigError(f"unknown file system kind {kind!r}")


# -- errors --------------------------------------------------------------------------------------

_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"NoSuchBucket|bucket does not exist|UnknownStoreException|Bucket .* not found", re.I
        ),
        "the bucket does not exist. Fix: create it, or correct the bucket in `lakehouse:`",
    ),
    (
        re.compile(
            r"curlCode: (6|7|28)|Couldn't connect|Could not connect|Connection refused|"
            r"Failed to connect|resolve host|UnknownHostException|ConnectException|"
            r"ConnectTimeoutException|Unable to execute HTTP request|timed out|"
            r"Network is unreachable",
            re.I,
        ),
        "the store cannot be reached. Fix: check fs.s3a.endpoint / AWS_ENDPOINT_URL (host, "
        "port, http or https) and the network between this machine and the store",
    ),
    (
        re.compile(
            r"InvalidAccessKeyId|SignatureDoesNotMatch|signature we calculated|ACCESS_DENIED|"
            r"AccessDenied|NoAuthWithAWSException|No AWS Credentials|No credentials|"
            r"Forbidden|Status Code: 403|HTTP status 403",
            re.I,
        ),
        "the store refused the credentials. Fix: set fs.s3a.access.key / fs.s3a.secret.key "
        "(spark_conf) or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or give the machine a role "
        "that may read and write the lakehouse",
    ),
)


_NO_CREDENTIALS = (
    "no S3 credentials were found (none in fs.s3a.access.key / fs.s3a.secret.key, "
    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials). Fix: set "
    "them, or run where an instance role grants access to the lakehouse"
)


def _no_s3_credentials() -> bool:
    """Whether nothing but an instance role could supply S3 credentials to this process."""
    settings = s3_settings()
    if settings.access_key or os.environ.get("AWS_PROFILE"):
        return False
    shared = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.expanduser(
        "~/.aws/credentials"
    )
    return not os.path.isfile(shared)


def storage_error(uri: str, action: str, exc: BaseException) -> StorageError:
    """A :class:`StorageError` for ``action`` on ``uri`` failing with ``exc``, cause named."""
    text = str(exc)
    cause = next((fix for pattern, fix in _CAUSES if pattern.search(text)), None)
    unreachable = cause is not None and cause.startswith("the store cannot be reached")
    if scheme_of(uri) in S3_SCHEMES and not unreachable and _no_s3_credentials():
        cause = _NO_CREDENTIALS
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    detail = f"{cause} ({first[:300]})" if cause else first[:500]
    return StorageError(f"could not {action} {uri}: {detail}")


@contextlib.contextmanager
def _errors(uri: str, action: str) -> Iterator[None]:
    try:
        yield
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, SynthError):
        raise
    except OSError as exc:
        if "Path does not exist" in str(exc) or "NoSuchKey" in str(exc):
            raise FileNotFoundError(f"{uri}: no such file") from exc
        raise storage_error(uri, action, exc) from exc


# -- reading -------------------------------------------------------------------------------------


def _info(uri: str) -> pafs.FileInfo:
    fs, path = resolve(uri)
    with _errors(uri, "look up"):
        return fs.get_file_info(path)


def exists(uri: str) -> bool:
    """Whether a file or folder is at ``uri``."""
    return bool(_info(uri).type != pafs.FileType.NotFound)


def is_file(uri: str) -> bool:
    """Whether a file is at ``uri``."""
    return bool(_info(uri).type == pafs.FileType.File)


def is_dir(uri: str) -> bool:
    """Whether a folder (or, on an object store, any object under the prefix) is at ``uri``."""
    return bool(_info(uri).type == pafs.FileType.Directory)


def read_bytes(uri: str) -> bytes:
    """The content of the file at ``uri``.

    Raises:
        FileNotFoundError: No file there.
        StorageError: The store could not be read (cause named).
    """
    fs, path = resolve(uri)
    with _errors(uri, "read"):
        with fs.open_input_stream(path) as stream:
            return bytes(stream.read())


def read_text(uri: str) -> str:
    """The UTF-8 text of the file at ``uri``."""
    return read_bytes(uri).decode("utf-8")


def read_json(uri: str) -> Any:
    """The JSON document at ``uri``."""
    return json.loads(read_text(uri))


def list_names(uri: str) -> list[str]:
    """The names of the files and folders directly in folder ``uri``, sorted; [] when absent."""
    fs, path = resolve(uri)
    with _errors(uri, "list"):
        try:
            infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        except NotADirectoryError:
            return []
    return sorted(posixpath.basename(i.path.rstrip("/")) for i in infos)


# -- writing -------------------------------------------------------------------------------------


def make_dirs(uri: str) -> None:
    """Create folder ``uri`` and its parents (nothing to do on an object store)."""
    if kind_of(uri) == "object":
        return
    fs, path = resolve(uri)
    with _errors(uri, "create the folder"):
        fs.create_dir(path, recursive=True)


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` as the file ``uri``, atomically (see the module docstring)."""
    fs, path = resolve(uri)
    kind = kind_of(uri)
    if kind == "object":
        with _errors(uri, "write"), fs.open_output_stream(path) as out:
            out.write(data)
        return
    folder = posixpath.dirname(path)
    tmp = posixpath.join(folder, f".{posixpath.basename(path)}.{uuid.uuid4().hex}.tmp")
    with _errors(uri, "write"):
        fs.create_dir(folder, recursive=True)
        try:
            with fs.open_output_stream(tmp) as out:
                out.write(data)
            if kind == "local":
                os.replace(tmp, path)
            else:  # HDFS refuses to rename onto an existing file
                if fs.get_file_info(path).type == pafs.FileType.File:
                    fs.delete_file(path)
                fs.move(tmp, path)
        finally:
            if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                fs.delete_file(tmp)


def write_text(uri: str, text: str) -> None:
    """Write ``text`` (UTF-8) as the file ``uri``, atomically."""
    write_bytes(uri, text.encode("utf-8"))


def remove(uri: str) -> None:
    """Remove the file or folder (with its content) at ``uri``; nothing when absent."""
    fs, path = resolve(uri)
    with _errors(uri, "remove"):
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            fs.delete_file(path)
        elif info.type == pafs.FileType.Directory:
            fs.delete_dir(path)


def publish_folder(target: str, files: Mapping[str, bytes], *, commit: str) -> None:
    """Publish ``files`` (name -> content) as folder ``target``, whole, ``commit`` last.

    ``commit`` must be one of ``files``; readers treat a folder without it as absent. Files of
    an earlier version of ``target`` that are not in ``files`` are removed. See the module
    docstring for how each kind of store makes this atomic.
    """
    if commit not in files:
        raise ValueError(f"publish_folder: the commit file {commit!r} is not among the files")
    if kind_of(target) == "object":
        remove(join(target, commit))
        for stale in set(list_names(target)) - set(files):
            remove(join(target, stale))
        for name, data in files.items():
            if name != commit:
                write_bytes(join(target, name), data)
        write_bytes(join(target, commit), files[commit])
        return
    fs, path = resolve(target)
    parent, name = posixpath.dirname(path), posixpath.basename(path)
    token = uuid.uuid4().hex
    partial = posixpath.join(parent, f"{name}.partial-{token}")
    old = posixpath.join(parent, f"{name}.old-{token}")
    with _errors(target, "publish"):
        fs.create_dir(parent, recursive=True)
        for leftover in fs.get_file_info(pafs.FileSelector(parent)):
            base = posixpath.basename(leftover.path)
            if base.startswith((f"{name}.partial-", f"{name}.old-")):
                fs.delete_dir(leftover.path)
        try:
            fs.create_dir(partial)
            for file_name, data in files.items():
                with fs.open_output_stream(posixpath.join(partial, file_name)) as out:
                    out.write(data)
            if fs.get_file_info(path).type != pafs.FileType.NotFound:
                fs.move(path, old)
            fs.move(partial, path)
            if fs.get_file_info(old).type != pafs.FileType.NotFound:
                fs.delete_dir(old)
        finally:
            if fs.get_file_info(partial).type != pafs.FileType.NotFound:
                fs.delete_dir(partial)


def read_folder(uri: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """The files ``names`` of folder ``uri``.

    Raises:
        FileNotFoundError: One of them is missing (the message names which).
    """
    present = set(list_names(uri))
    missing = [n for n in names if n not in present]
    if missing:
        raise FileNotFoundError(f"{uri}: missing {', '.join(missing)}")
    return {n: read_bytes(join(uri, n)) for n in names}


def probe(root: str) -> None:
    """Write, read back and remove a small object under ``root``.

    A store that is unreachable, refuses the credentials or lacks the bucket fails here, in
    seconds, with its cause named.

    Raises:
        StorageError: The store could not be written or read.
    """
    uri = join(root, f"_synth_probe_{uuid.uuid4().hex}")
    exists(uri)  # a plain lookup first: refused credentials and unreachable stores say so here
    token = uuid.uuid4().hex.encode()
    write_bytes(uri, token)
    try:
        if read_bytes(uri) != token:
            raise StorageError(f"{root}: a probe file read back differs from what was written")
    finally:
        remove(uri)


def npy_bytes(array: Any) -> bytes:
    """``array`` in NumPy's ``.npy`` format."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def read_npy(uri: str) -> Any:
    """The NumPy array stored at ``uri`` (``.npy`` format, no pickles)."""
    import numpy as np

    return np.load(io.BytesIO(read_bytes(uri)), allow_pickle=False)


__all__ = [
    "S3Settings",
    "StorageError",
    "configure_s3",
    "exists",
    "is_dir",
    "is_file",
    "join",
    "kind_of",
    "list_names",
    "local_path",
    "make_dirs",
    "name_of",
    "parent_of",
    "probe",
    "publish_folder",
    "read_bytes",
    "read_folder",
    "read_json",
    "read_npy",
    "read_text",
    "remove",
    "resolve",
    "s3_settings",
    "s3_settings_from_hadoop",
    "scheme_of",
    "storage_error",
    "write_bytes",
    "write_text",
]
