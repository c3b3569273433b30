"""The text embedder works with no network and without the Hugging Face hub.

Each check runs in a subprocess with ``HF_HUB_OFFLINE`` (and the other hub switches) unset, an
empty ``HF_HOME``, and ``huggingface_hub`` / ``transformers`` / ``sentence_transformers`` blocked
from import; an audit hook records every socket connection or name lookup the load makes. One
check also runs under ``unshare -n`` (a fresh network namespace: loopback only, no route out).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.offline import unshare_prefix

# The subprocess asserts on its own, then prints one JSON line for the test to check again.
OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json
    import socket
    import sys

    mode = sys.argv[1]
    BLOCKED = ("huggingface_hub", "transformers", "sentence_transformers")
    for name in BLOCKED:
        sys.modules[name] = None  # any import of them raises ImportError

    report = {"mode": mode}
    if mode == "namespace":
        interfaces = sorted(name for _, name in socket.if_nameindex())
        assert interfaces == ["lo"], f"expected only loopback, found interfaces {interfaces}"
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=3).close()
        except OSError as exc:
            report["offline_error"] = f"{type(exc).__name__}: {exc}"
        else:
            sys.exit("1.1.1.1:443 is reachable: the network namespace is not isolated")
        report["interfaces"] = interfaces

    network_events = []

    def audit(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                     "socket.gethostbyaddr", "urllib.Request"):
            network_events.append(f"{event} {args!r}"[:200])

    sys.addaudithook(audit)

    from synth.features.embed import TextEmbedder

    embedder = TextEmbedder.load()
    vectors = embedder.encode(["A man is eating food.", "A man is eating a piece of bread."])
    cosine = float(vectors[0] @ vectors[1])
    assert abs(cosine - 0.7553) < 1e-3, cosine
    assert not network_events, network_events

    report.update(
        cosine=cosine,
        shape=list(vectors.shape),
        network_events=network_events,
        hub_modules=sorted(
            m for m in sys.modules
            if m.split(".")[0] in BLOCKED and sys.modules[m] is not None
        ),
    )
    print(json.dumps(report))
    """
)

HUB_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME")


def _run(prefix: list[str], mode: str, tmp_path: Path) -> dict:
    script = tmp_path / "offline_embed.py"
    script.write_text(OFFLINE_SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in HUB_SWITCHES}
    env["HF_HOME"] = str(tmp_path / "hf_home")  # an empty hub cache: nothing to find there either
    result = subprocess.run(
        [*prefix, sys.executable, str(script), mode],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"offline embedding run ({mode}) failed (exit {result.returncode})\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-8000:]}"
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["mode"] == mode
    assert report["cosine"] == pytest.approx(0.7553, abs=1e-3)
    assert report["shape"] == [2, 384]
    assert report["network_events"] == []
    assert report["hub_modules"] == []
    return report


def test_embed_without_hub_makes_no_network_calls(tmp_path: Path) -> None:
    _run([], "plain", tmp_path)


def test_embed_in_network_namespace(tmp_path: Path) -> None:
    report = _run(unshare_prefix(), "namespace", tmp_path)

    assert report["interfaces"] == ["lo"]
    assert report["offline_error"]
