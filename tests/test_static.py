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
