"""Shared helper of the no-network tests: open a fresh network namespace, or skip with why."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def unshare_prefix() -> list[str]:
    """Return the command prefix that opens a new network namespace, or skip with the reason."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip(
            "`unshare` is not installed (util-linux, Linux only): cannot isolate the network"
        )
    # As root a plain network namespace; otherwise a user namespace mapped to root, where allowed.
    attempts = [[unshare, "-n"], [unshare, "-r", "-n"]]
    errors = []
    for prefix in attempts:
        probe = subprocess.run(
            [*prefix, "true"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return prefix
        errors.append(f"`{' '.join(prefix)} true`: {probe.stderr.strip() or probe.returncode}")
    pytest.skip(
        "a new network namespace is not permitted here (needs root or unprivileged user "
        f"namespaces): {'; '.join(errors)}"
    )
