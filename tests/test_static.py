"""Static checks as part of the suite: the lint rules and the type checker pass on the code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "synth", "jobs", "bench", "tests", "infra", "notebooks"),
        ("ruff", "format", "--check", "synth", "jobs", "bench", "tests", "infra", "notebooks"),
        ("mypy", "synth"),
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_check_passes(command):
    result = _run(*command)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


def test_import_layers_hold():
    """The layers contract of pyproject.toml ([tool.importlinter]): no upward import, anywhere."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"


def _function_level_imports() -> list[str]:
    found = []
    for path in sorted((ROOT / "synth").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            # the function's own body, not nested functions (each is visited itself)
            stack = list(func.body)
            while stack:
                node = stack.pop()
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
                elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    stack.extend(ast.iter_child_nodes(node))
    return found


def test_function_level_imports_are_few():
    """Imports inside functions only for an optional dependency or start-up cost (issue 17)."""
    found = _function_level_imports()
    assert len(found) < 15, "function-level imports in synth/:\n" + "\n".join(found)


_FORMATTER_OFF = ("fmt" + ": skip", "fmt" + ": off")  # split, so this file does not count itself


def test_formatter_is_switched_off_rarely():
    """`# fmt: skip` only where an aligned table of values reads better, each with its reason."""
    marked = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("synth", "jobs", "bench", "tests", "infra", "notebooks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(marker in line for marker in _FORMATTER_OFF)
    ]
    assert len(marked) < 20, "formatter switched off at:\n" + "\n".join(marked)


# Every file beside the tables goes through synth/io/files.py, which speaks every URI a lakehouse
# may have; a local-file call on a lakehouse path would write `s3a:/...` folders on the driver.
LOCAL_FILE_CALLS = {"Path", "open", "PurePath"}
# module functions that touch local files
LOCAL_FILE_MODULES = {
    "os": {"replace", "rename", "link", "remove", "unlink", "makedirs", "rmdir", "mkdir"},
    "shutil": {"rmtree", "copy", "copy2", "copytree", "move"},
    "tempfile": {"mkdtemp", "mkstemp", "NamedTemporaryFile", "TemporaryDirectory"},
    "np": {"save", "load", "savez"},
    "torch": {"save", "load"},
}
# pathlib's methods (on any object but the file layer's modules and pyarrow/Hadoop clients)
PATH_METHODS = {
    "write_text",
    "read_text",
    "write_bytes",
    "read_bytes",
    "mkdir",
    "unlink",
    "iterdir",
    "glob",
    "rglob",
    "touch",
    "is_file",
    "is_dir",
    "rmdir",
}
CLIENTS = ("files.", "storage.", "jvm.", "self._arrow.", "fs.", "self.fs.")
# (module, function) where a local-file call is right, and why
LOCAL_FILES_ALLOWED = {
    ("synth/io/files.py", "*"): "the file layer itself",
    ("synth/jars.py", "*"): "the jar cache on this machine",
    ("synth/spark.py", "*"): "Spark profiles and JAVA_HOME on this machine",
    ("synth/config/base.py", "*"): "the job config file the user names",
    ("synth/docs.py", "*"): "docs/columns.md in the checkout",
    ("synth/features/embed.py", "*"): "the packaged language model's files",
    ("synth/io/delta.py", "check_writable"): "probes a root that is a local folder",
    ("synth/io/lock.py", "__init__"): "the lock file's local path, when the root is local",
    ("synth/io/lock.py", "_create"): "atomic create by hard link (local roots only)",
    ("synth/io/lock.py", "_move_away"): "stale takeover by rename (local roots only)",
}


def _local_file_calls(path: Path) -> list[tuple[int, str, str]]:
    """(line, enclosing function, call) of each local-file call in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = (
                child.name
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                else function
            )
            if isinstance(child, ast.Call):
                func = child.func
                if isinstance(func, ast.Name) and func.id in LOCAL_FILE_CALLS:
                    found.append((child.lineno, name, func.id))
                elif isinstance(func, ast.Attribute):
                    text = ast.unparse(func)
                    base = func.value.id if isinstance(func.value, ast.Name) else ""
                    if func.attr in LOCAL_FILE_MODULES.get(base, ()):
                        found.append((child.lineno, name, text))
                    elif func.attr in PATH_METHODS and not text.startswith(CLIENTS):
                        found.append((child.lineno, name, text))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_no_local_file_calls_on_lakehouse_paths_outside_the_file_layer():
    offenders = []
    for path in sorted((ROOT / "synth").rglob("*.py")):
        module = str(path.relative_to(ROOT))
        for line, function, call in _local_file_calls(path):
            if (module, "*") in LOCAL_FILES_ALLOWED or (module, function) in LOCAL_FILES_ALLOWED:
                continue
            offenders.append(f"{module}:{line} in {function}(): {call}(...)")
    assert not offenders, (
        "files beside the tables must go through synth.io.files (or be allowed, with a reason, "
        "in LOCAL_FILES_ALLOWED):\n" + "\n".join(offenders)
    )


def test_the_local_file_check_finds_what_it_should(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f(d):\n    Path(d).mkdir()\n    open(d)\n    shutil.rmtree(d)\n"
        "    files.write_text(d, 'x')\n    jvm.org.apache.hadoop.fs.Path(d)\n"
    )
    calls = [c for _, _, c in _local_file_calls(probe)]
    assert calls == ["Path(d).mkdir", "Path", "open", "shutil.rmtree"]
