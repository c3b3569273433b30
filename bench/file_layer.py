"""The file layer's client: pyarrow against the JVM's Hadoop FileSystem (through py4j).

``synth/io/files.py`` writes every file that is not a table (reports, models, checkpoints, the
run lock) with pyarrow. The alternative is Hadoop's ``FileSystem`` in the driver's JVM, which
Spark uses for the tables. This benchmark times both on the files the pipeline writes: small
JSON files (a report, a lock, a checkpoint marker: 2 KB) and model weights (8 MB), written,
read back and listed, on a local folder and on an S3-compatible store (moto's server on
loopback, the store of the tests), in one run.

Run: ``python -m bench.file_layer``. Writes ``bench/results/file_layer.json``.

Targets: pyarrow no slower than the JVM client on small files (the common case) on each store;
that is what decides the choice, beside the fact that the training workers have no JVM.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.common import RESULTS, WORK, local_session, print_targets, write_result
from synth.io import files
from tests.s3 import s3_server

SMALL, LARGE = 2_048, 8 * 1024 * 1024
SMALL_FILES, LARGE_FILES = 200, 4


def _timed(step: Callable[[], None]) -> float:
    began = time.perf_counter()
    step()
    return time.perf_counter() - began


def _pyarrow(root: str, data: bytes, count: int) -> dict[str, float]:
    names = [files.join(root, f"f{i}") for i in range(count)]
    write = _timed(lambda: [files.write_bytes(n, data) for n in names])
    read = _timed(lambda: [files.read_bytes(n) for n in names])
    listed = _timed(lambda: files.list_names(root))
    return {"write": write, "read": read, "list": listed}


def _jvm(spark: Any, root: str, data: bytes, count: int) -> dict[str, float]:
    jvm = spark._jvm  # noqa: SLF001
    conf = spark._jsc.hadoopConfiguration()  # noqa: SLF001
    base = jvm.org.apache.hadoop.fs.Path(root)
    fs = base.getFileSystem(conf)
    paths = [jvm.org.apache.hadoop.fs.Path(f"{root}/f{i}") for i in range(count)]
    payload = bytearray(data)

    rename = files.kind_of(root) != "object"  # as the file layer: an object PUT is atomic

    def write() -> None:
        for p in paths:  # local / HDFS: a temporary file, then renamed over the target
            tmp = jvm.org.apache.hadoop.fs.Path(f"{p.toString()}.{uuid.uuid4().hex}.tmp")
            out = fs.create(tmp if rename else p, True)
            out.write(payload)
            out.close()
            if rename:
                if fs.exists(p):
                    fs.delete(p, False)
                fs.rename(tmp, p)

    def read() -> None:
        for p in paths:
            stream = fs.open(p)
            buffer = bytearray(len(data))
            stream.readFully(0, buffer)
            stream.close()

    return {
        "write": _timed(write),
        "read": _timed(read),
        "list": _timed(lambda: fs.listStatus(base)),
    }


def main(argv: list[str] | None = None) -> int:
    """Run both clients on both stores; print and write the result."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.parse_args(argv)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    local_root = WORK / "file_layer"
    metrics: dict[str, float] = {}
    with s3_server() as server:
        for key, value in server.env.items():
            os.environ[key] = value
        files.configure_s3(None)
        bucket = server.new_bucket()
        spark = local_session("bench-file-layer", conf=server.spark_conf)
        try:
            stores = {"local": f"file:{local_root}", "s3": f"s3a://{bucket}/bench"}
            for store, root in stores.items():
                for size_name, size, count in (
                    ("small", SMALL, SMALL_FILES),
                    ("large", LARGE, LARGE_FILES),
                ):
                    data = os.urandom(size)
                    for client in ("pyarrow", "jvm"):
                        folder = f"{root}/{client}-{size_name}"
                        files.remove(folder)
                        if client == "pyarrow":
                            got = _pyarrow(folder, data, count)
                        else:
                            got = _jvm(spark, folder, data, count)
                        for step, seconds in got.items():
                            per = seconds / (count if step != "list" else 1) * 1000
                            metrics[f"{store}_{size_name}_{client}_{step}_ms"] = round(per, 3)
                        files.remove(folder)
        finally:
            spark.stop()
    for store in ("local", "s3"):
        py = sum(metrics[f"{store}_small_pyarrow_{s}_ms"] for s in ("write", "read"))
        jv = sum(metrics[f"{store}_small_jvm_{s}_ms"] for s in ("write", "read"))
        metrics[f"{store}_small_pyarrow_over_jvm"] = round(py / jv, 3)
    targets = {
        "local_small_pyarrow_over_jvm": ("<=", 1.0),
        "s3_small_pyarrow_over_jvm": ("<=", 1.0),
    }
    path = RESULTS / "file_layer.json"
    met = write_result("file_layer", metrics, targets, path)
    for key in sorted(metrics):
        print(f"{key:44s} {metrics[key]:>10}")  # noqa: T201
    print_targets(metrics, targets, met)
    print(f"written: {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
