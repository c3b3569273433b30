"""Smoke tests of the entry scripts: bin/bootstrap, bin/test, bin/run and .ci/run.

The real bootstrap runs against the installed checkout (bin/test has just set it up) and must be a
no-op. The wrappers run from a scratch copy with stub tools, so their argument handling is checked
without starting Spark or pytest again.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UP_TO_DATE = "bootstrap: up to date (nothing installed)"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SYNTH_BOOTSTRAP_QUIET"}
    env.update(extra)
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def venv_snapshot() -> dict[str, int]:
    """Modification times of what an install would touch (.venv top levels, uv, the jars)."""
    venv = ROOT / ".venv"
    site = next((venv / "lib").glob("python3*/site-packages"))
    watched = [venv / "pyvenv.cfg", venv / "bin", site, *site.iterdir()]
    watched += sorted((ROOT / ".cache" / "tools" / "uv" / "bin").glob("uv*"))
    watched += sorted((ROOT / ".cache" / "jars").glob("*.jar"))
    return {str(p.relative_to(ROOT)): p.stat().st_mtime_ns for p in watched}


def write_stub(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A copy of the entry scripts with stub bootstrap, python and test command that log calls."""
    repo = tmp_path / "repo"
    for script in ("bin/test", "bin/run", ".ci/run"):
        (repo / script).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / script, repo / script)
    log = repo / "calls.log"
    write_stub(repo / "bin" / "bootstrap", f'echo "bootstrap $PWD" >> {log}\n')
    write_stub(
        repo / ".venv" / "bin" / "python",
        f'echo "python $PWD $*" >> {log}\nexit "${{STUB_RC:-0}}"\n',
    )
    return repo


def calls(repo: Path) -> list[str]:
    return (repo / "calls.log").read_text(encoding="utf-8").splitlines()


class TestBootstrap:
    def test_bootstrap_second_run_installs_nothing(self, tmp_path: Path) -> None:
        # Setup: bin/test bootstrapped already; run once more in case pytest was called directly.
        first = run([str(ROOT / "bin" / "bootstrap")], cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        before = venv_snapshot()

        # Run: from another directory, as a user would.
        second = run([str(ROOT / "bin" / "bootstrap")], cwd=tmp_path)

        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.strip() == UP_TO_DATE
        assert second.stderr == ""
        assert venv_snapshot() == before
        assert (ROOT / ".cache" / "bootstrap.stamp").is_file()

    def test_bootstrap_quiet_up_to_date_prints_nothing(self, tmp_path: Path) -> None:
        result = run(
            [str(ROOT / "bin" / "bootstrap")],
            cwd=tmp_path,
            env=clean_env(SYNTH_BOOTSTRAP_QUIET="1"),
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout == ""

    def test_bootstrap_wrong_python_fails_with_install_hint(self, tmp_path: Path) -> None:
        fake = tmp_path / "python3.10"
        write_stub(fake, 'printf "3.10.14\\t/usr/bin/python3.10\\n"\n')

        result = run(
            [str(ROOT / "bin" / "bootstrap")], cwd=tmp_path, env=clean_env(SYNTH_PYTHON=str(fake))
        )

        assert result.returncode != 0
        assert "Python 3.11 is required" in result.stderr
        assert "3.10.14" in result.stderr
        assert "SYNTH_PYTHON" in result.stderr

    @pytest.mark.parametrize(
        ("version_line", "shown"),
        [
            ('openjdk version "11.0.22" 2024-01-16', "11.0.22"),
            ('java version "1.8.0_392"', "1.8.0_392"),
        ],
    )
    def test_bootstrap_old_java_fails_with_install_hint(
        self, tmp_path: Path, version_line: str, shown: str
    ) -> None:
        bin_dir = tmp_path / "fakebin"
        write_stub(bin_dir / "java", f"echo '{version_line}' >&2\n")
        env = clean_env(
            SYNTH_PYTHON=sys.executable, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        )
        env.pop("JAVA_HOME", None)

        result = run([str(ROOT / "bin" / "bootstrap")], cwd=tmp_path, env=env)

        assert result.returncode != 0
        assert "Java 17 or newer is required" in result.stderr
        assert shown in result.stderr
        assert "JAVA_HOME" in result.stderr


class TestCiRun:
    def test_ci_run_execs_bin_test_from_repo_root(self, scratch_repo: Path, tmp_path: Path) -> None:
        write_stub(
            scratch_repo / "bin" / "test",
            f'echo "bin/test $PWD [$*]" >> {scratch_repo}/calls.log\n',
        )

        result = run([str(scratch_repo / ".ci" / "run")], cwd=tmp_path)

        assert result.returncode == 0, result.stderr
        assert calls(scratch_repo) == [f"bin/test {scratch_repo} []"]

    def test_ci_run_propagates_test_failure(self, scratch_repo: Path, tmp_path: Path) -> None:
        write_stub(scratch_repo / "bin" / "test", "exit 3\n")

        result = run([str(scratch_repo / ".ci" / "run")], cwd=tmp_path)

        assert result.returncode == 3


class TestBinTest:
    def test_bin_test_bootstraps_then_runs_pytest_with_args(
        self, scratch_repo: Path, tmp_path: Path
    ) -> None:
        result = run(
            [str(scratch_repo / "bin" / "test"), "-k", "seeding", "tests/unit"], cwd=tmp_path
        )

        assert result.returncode == 0, result.stderr
        assert calls(scratch_repo) == [
            f"bootstrap {scratch_repo}",
            f"python {scratch_repo} -m pytest -k seeding tests/unit",
        ]

    @pytest.mark.parametrize("rc", [1, 2, 5])
    def test_bin_test_pytest_failure_is_failure(
        self, scratch_repo: Path, tmp_path: Path, rc: int
    ) -> None:
        result = run(
            [str(scratch_repo / "bin" / "test")], cwd=tmp_path, env=clean_env(STUB_RC=str(rc))
        )

        assert result.returncode == rc
        if rc == 5:
            assert "collected no tests" in result.stderr

    def test_bin_test_bootstrap_failure_stops_before_pytest(
        self, scratch_repo: Path, tmp_path: Path
    ) -> None:
        write_stub(scratch_repo / "bin" / "bootstrap", "exit 1\n")

        result = run([str(scratch_repo / "bin" / "test")], cwd=tmp_path)

        assert result.returncode == 1
        assert not (scratch_repo / "calls.log").exists()


class TestBinRun:
    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            ([], "--config configs/simulator.yaml"),
            (["--seed", "7"], "--config configs/simulator.yaml --seed 7"),
            (["--config", "my.yaml"], "--config my.yaml"),
            (["--config=my.yaml", "--seed", "7"], "--config=my.yaml --seed 7"),
        ],
    )
    def test_bin_run_default_config_only_when_none_given(
        self, scratch_repo: Path, tmp_path: Path, args: list[str], expected: str
    ) -> None:
        result = run([str(scratch_repo / "bin" / "run"), *args], cwd=tmp_path)

        assert result.returncode == 0, result.stderr
        assert calls(scratch_repo) == [
            f"bootstrap {scratch_repo}",
            f"python {scratch_repo} -m synth run {expected}",
        ]

    def test_bin_run_propagates_exit_code(self, scratch_repo: Path, tmp_path: Path) -> None:
        result = run([str(scratch_repo / "bin" / "run")], cwd=tmp_path, env=clean_env(STUB_RC="4"))

        assert result.returncode == 4
