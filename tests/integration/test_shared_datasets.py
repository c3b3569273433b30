"""The shipped configs of the shared real logs of other shapes, ingest through report, small size.

``configs/{diginetica,uci_online_retail,otto}.yaml`` run as they are (no code per dataset), with
only the sizes shrunk (few epochs, few synthetic rows, two seeds, no text embeddings) so the
three fit in the suite. Each ends with a report whose numbers all come from its metrics.json,
and silver keeps every row that is not a duplicate, a bot or malformed (accounting balanced).
Skipped with the reason where ``../shared/data`` is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from synth.config.base import load_yaml, parse_model
from synth.config.job import JobConfig
from synth.pipeline import run
from synth.report.html import stray_numbers
from tests.conftest import SHARED_DATA, shared_data

pytestmark = [pytest.mark.spark, pytest.mark.data]
REPO = Path(__file__).resolve().parents[2]

SMALL: dict[str, Any] = {
    "features": {"embedding": {"enabled": False}},
    "train": {"train": {"epochs": 3, "batch_size": 256, "seed": 0}},
    "synthesize": {"rows": 400, "block_rows": 200, "conditions": []},
    "recommend": {
        "seeds": [0, 1],
        "models": {
            "als": {"rank": 4, "max_iter": 2, "reg_params": [0.5]},
            "item_knn": {"neighbours": [20]},
        },
    },
    "evaluate": {"privacy": {"rows": 100}, "utility": {"rows": 200}, "fidelity": {"rows": 200}},
}
# What silver may leave out of each: duplicates, bots and malformed rows only (per reason).
EXPECTED: dict[str, dict[str, Any]] = {
    # every row a view; the few removals are repeated views of one item within a second
    "diginetica": {"types": {"view"}, "quarantined": set()},
    # price 0 lines (stock adjustments, free items) are invalid prices; duplicated invoice lines
    "uci_online_retail": {"types": {"purchase", "return"}, "quarantined": {"invalid_price"}},
    "otto": {"types": {"view", "cart", "purchase"}, "quarantined": set()},
}


def _config(name: str, tmp_path: Path) -> JobConfig:
    data = load_yaml(REPO / "configs" / f"{name}.yaml")
    data["lakehouse"] = str(tmp_path / "lh")
    data["source"]["paths"] = [
        str(SHARED_DATA / Path(p).relative_to("../shared/data")) for p in data["source"]["paths"]
    ]
    for key, value in SMALL.items():
        section = data.setdefault(key, {})
        for k, v in value.items():
            section[k] = {**section.get(k, {}), **v} if isinstance(v, dict) else v
    return parse_model(JobConfig, data, where=f"configs/{name}.yaml")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_dataset_config_runs_through_report(spark, tmp_path, name):
    cfg = _config(name, tmp_path)
    for path in cfg.source.paths:  # type: ignore[union-attr]
        shared_data(Path(path).relative_to(SHARED_DATA))
    lines: list[str] = []
    summary = run(spark, cfg, progress=lines.append)
    accounting = summary.stages["clean"]
    assert accounting["balanced"], "\n".join(lines)
    removed = set(accounting["quarantined"]) | set(accounting["removed_duplicates"])
    allowed = EXPECTED[name]["quarantined"] | {
        "exact_duplicate",
        "near_duplicate",
        "bot_user",
        "malformed_row",
    }
    assert removed <= allowed, accounting
    assert accounting["silver_rows"] >= 0.95 * accounting["bronze_rows"]
    silver = spark.read.format("delta").load(accounting["silver_table"])
    types = {r["event_type"] for r in silver.select("event_type").distinct().collect()}
    assert types == EXPECTED[name]["types"]
    written = summary.stages["report"]
    metrics = json.loads(Path(str(written["metrics_json"])).read_text())
    page = Path(str(written["report_html"])).read_text()
    assert page.startswith("<!DOCTYPE html>") and stray_numbers(page, metrics) == []
    assert sorted(metrics["recommend"]["results"]) == ["als", "ease", "item_knn", "popularity"]
    assert "[report] done" in "\n".join(lines)
