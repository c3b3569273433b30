"""Build (once) and install Horovod 0.28.1 for this project's torch: Gloo, plus NCCL with CUDA.

Horovod 0.28.1 is published as source only, and as released it does not compile against
torch >= 2.1: its torch extension and its bundled Gloo are built as C++14 / C++11, while torch's
headers need C++17 (raising only the extension fails at link time on duplicate Gloo symbols:
Gloo must be C++17 too); its bundled Gloo also declares a CMake minimum that CMake 4 refuses.
This script:

1. downloads the registry's sdist (``--index-url``, default PyPI's simple index) into
   ``.cache/sdists`` and checks its SHA-256 against the pinned one;
2. patches a copy: C++17 for Horovod, its torch extension and Gloo, CMake policy minimum 3.5,
   a ``Release`` build instead of ``RelWithDebInfo`` (a wheel a tenth the size); every patch
   must match exactly once, so a different sdist fails loudly instead of building wrong;
3. builds a wheel against the environment's torch (``uv build --no-build-isolation``) with Gloo
   for CPU collectives, no MPI, no TensorFlow / MXNet, plus NCCL when ``nvcc`` is found (or
   ``--cuda``); the wheel's local version names the patch level, torch version and variant, so
   it is cached in ``.cache/wheels`` and a later run installs it in seconds;
4. installs it with ``--no-deps``: Horovod's ``spark`` extra pins ``pyarrow<11``, which Spark 4
   refuses; its runtime needs (cloudpickle, psutil, pyyaml, cffi, packaging) are in the
   project's locked ``train`` extra instead, and the stack's pins stand;
5. prints ``horovodrun --check-build``.

Usage::

    .venv/bin/python bin/build_horovod.py            # build if not cached, install, check
    .venv/bin/python bin/build_horovod.py --cuda     # force the NCCL build
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = "0.28.1"
SDIST = f"horovod-{VERSION}.tar.gz"
SHA256 = "92a43f5a94c43907a56805bad15f19700c62ffc83b7ca483f9e104e229f67ef0"
PATCH_LEVEL = 1  # bump when PATCHES change: it is part of the cached wheel's version
DEFAULT_INDEX = "https://pypi.org/simple"

# (file, old, new): each must occur exactly once in the sdist
PATCHES: tuple[tuple[str, str, str], ...] = (
    ("CMakeLists.txt", "set(CMAKE_CXX_STANDARD 14)", "set(CMAKE_CXX_STANDARD 17)"),
    ("horovod/torch/CMakeLists.txt", "set(CMAKE_CXX_STANDARD 14)", "set(CMAKE_CXX_STANDARD 17)"),
    ("third_party/gloo/CMakeLists.txt", "-std=c++11", "-std=c++17"),
    (
        "third_party/gloo/CMakeLists.txt",
        "cmake_minimum_required(VERSION 2.8.12 FATAL_ERROR)",
        "cmake_minimum_required(VERSION 3.5 FATAL_ERROR)",
    ),
    (
        "third_party/flatbuffers/CMakeLists.txt",
        "cmake_minimum_required(VERSION 2.8.12)",
        "cmake_minimum_required(VERSION 3.5)",
    ),
    ("setup.py", "else 'RelWithDebInfo'", "else 'Release'"),
)


def log(message: str) -> None:
    """One progress line."""
    print(f"build_horovod: {message}", flush=True)  # noqa: T201


def torch_version(python: str) -> str:
    """The torch version ``python`` imports (without a local label)."""
    out = subprocess.run([python, "-c", "import torch; print(torch.__version__)"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.strip().split("+")[0]


def local_version(torch: str, cuda: bool) -> str:
    """PEP 440 local label: patch level, torch version, variant (one cached wheel for each)."""
    return f"synth{PATCH_LEVEL}.torch{torch}.{'cuda' if cuda else 'cpu'}"


def fetch_sdist(index: str, cache: Path) -> Path:
    """Download the sdist from the simple index (once) and verify its SHA-256."""
    target = cache / SDIST
    if not target.exists():
        page_url = f"{index.rstrip('/')}/horovod/"
        log(f"looking up {SDIST} in {page_url}")
        with urllib.request.urlopen(page_url, timeout=120) as response:  # noqa: S310
            page = response.read().decode("utf-8", "replace")
        match = re.search(r'href="([^"]*' + re.escape(SDIST) + r'[^"]*)"', page)
        if not match:
            raise SystemExit(f"build_horovod: {SDIST} is not listed at {page_url}")
        url = urllib.parse.urljoin(page_url, match.group(1).split("#")[0])
        log(f"downloading {url}")
        cache.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        with urllib.request.urlopen(url, timeout=600) as response, partial.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out)
        partial.rename(target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != SHA256:
        target.unlink()
        raise SystemExit(f"build_horovod: {SDIST} has SHA-256 {digest}, expected {SHA256}; "
                         "the download was removed, run again")  # fmt: skip
    return target


def patch(source: Path) -> None:
    """Apply :data:`PATCHES`; each must match exactly once."""
    for rel, old, new in PATCHES:
        path = source / rel
        text = path.read_text(encoding="utf-8")
        count = text.count(old)
        if count != 1:
            raise SystemExit(f"build_horovod: patch for {rel} expects {old!r} once, found {count}: "
                             f"is this the {VERSION} sdist?")  # fmt: skip
        path.write_text(text.replace(old, new), encoding="utf-8")


def build(sdist: Path, out: Path, python: str, uv: str, local: str, cuda: bool) -> Path:
    """Extract, patch and build the wheel into ``out``; return its path."""
    env = {
        **os.environ,
        "HOROVOD_LOCAL_VERSION": local,
        "HOROVOD_WITH_PYTORCH": "1",
        "HOROVOD_WITHOUT_TENSORFLOW": "1",
        "HOROVOD_WITHOUT_MXNET": "1",
        "HOROVOD_WITH_GLOO": "1",
        "HOROVOD_WITHOUT_MPI": "1",
        "HOROVOD_CPU_OPERATIONS": "GLOO",
        "CMAKE_POLICY_VERSION_MINIMUM": "3.5",  # CMake 4 for any remaining old minimums
        "MAKEFLAGS": f"-j{os.cpu_count() or 2}",
    }
    if cuda:
        env["HOROVOD_GPU_OPERATIONS"] = "NCCL"
        nccl = _nccl_home(python)
        if nccl:
            env.setdefault("HOROVOD_NCCL_HOME", nccl)
    with tempfile.TemporaryDirectory(prefix="horovod-build-") as tmp:
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        source = Path(tmp) / f"horovod-{VERSION}"
        patch(source)
        log(f"building {VERSION}+{local} (a few minutes on 2 cores)")
        start = time.perf_counter()
        subprocess.run([uv, "build", "--wheel", "--no-build-isolation", "--python", python,
                        "--out-dir", str(out), str(source)], env=env, check=True)  # fmt: skip
        log(f"built in {time.perf_counter() - start:.0f} s")
    wheels = sorted(out.glob(f"horovod-{VERSION}+{local.replace('-', '_')}-*.whl"))
    if not wheels:
        raise SystemExit(f"build_horovod: no wheel for {VERSION}+{local} in {out}")
    return wheels[-1]


def installed_version(python: str) -> str | None:
    """The installed horovod version, or None."""
    code = "import importlib.metadata as m; print(m.version('horovod'))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else None


def _nccl_home(python: str) -> str | None:
    """NCCL headers and library from the ``nvidia-nccl`` wheel torch's CUDA build brings."""
    code = "import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    """Build if needed, install, check; return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--uv", default=shutil.which("uv") or str(ROOT / ".cache/tools/uv/bin/uv"))
    parser.add_argument("--index-url", default=os.environ.get("UV_INDEX_URL", DEFAULT_INDEX))
    parser.add_argument("--cache", default=str(ROOT / ".cache"))
    parser.add_argument("--cuda", action="store_true", help="build NCCL ops (default: if nvcc)")
    parser.add_argument("--no-check", action="store_true", help="skip horovodrun --check-build")
    args = parser.parse_args(argv)
    cuda = args.cuda or shutil.which("nvcc") is not None
    torch = torch_version(args.python)
    local = local_version(torch, cuda)
    wheels = Path(args.cache) / "wheels"
    cached = sorted(wheels.glob(f"horovod-{VERSION}+{local}-*.whl"))
    if cached:
        wheel = cached[-1]
        log(f"cached wheel {wheel.name}")
    else:
        wheel = build(fetch_sdist(args.index_url, Path(args.cache) / "sdists"), wheels,
                      args.python, args.uv, local, cuda)  # fmt: skip
    if installed_version(args.python) == f"{VERSION}+{local}":
        log(f"horovod {VERSION}+{local} is installed")
    else:
        subprocess.run([args.uv, "pip", "install", "--python", args.python, "--no-deps",
                        "--reinstall", "--compile-bytecode", str(wheel)], check=True)  # fmt: skip
    if not args.no_check:
        horovodrun = Path(args.python).parent / "horovodrun"
        subprocess.run([str(horovodrun), "--check-build"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
