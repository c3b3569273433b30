"""``metrics.json``: every number of a run's report, and the issue's targets checked against them.

Assembled from the stage outputs of one run id (``recommend.json``, ``evaluate.json``), the model
artifact (training history) and the cleaning accounting. The report page is rendered from this
file alone (:mod:`synth.report.html`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synth.io.delta import Lakehouse
from synth.refs import ARTIFACT

# Targets (issue 7): recommendation on held-out real data, and privacy of released rows.
COLD_LIFT_PCT = 5.0
CLOSER_TO_TRAINING_MAX = 0.55
MIA_AUC_MAX = 0.6
EXACT_MATCH_MAX = 0.0


def _local(path: str) -> Path:
    """A lakehouse path as a local one (``file:`` URIs too)."""
    return Path(path.removeprefix("file:"))


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def targets(recommend: dict[str, Any], evaluate: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target: what it checks, its threshold, the measured value and whether it is met."""
    out: dict[str, dict[str, Any]] = {}
    for model, segs in sorted(recommend.get("comparisons", {}).items()):
        every, cold = segs.get("all"), segs.get("cold")
        if every:
            out[f"{model}.all_users_not_worse"] = {
                "label": f"{model}: real + synthetic NDCG not below real-only by more than the "
                "seed spread (all users)",
                "measured": every["lift"],
                "op": ">=",
                "threshold": -every["spread"],
                "met": every["lift"] >= -every["spread"],
            }
        if cold:
            pct = cold["lift_pct"]
            out[f"{model}.cold_users_lift_pct"] = {
                "label": f"{model}: NDCG lift for cold / sparse users, in %, and above the seed "
                "spread",
                "measured": pct,
                "op": ">=",
                "threshold": COLD_LIFT_PCT,
                "met": pct is not None and pct >= COLD_LIFT_PCT and cold["verdict"] == "better",
            }
    privacy = evaluate.get("privacy", {})
    for key, name, limit in (
        (
            "exact_match_share_released",
            "share of released rows equal to a real row",
            EXACT_MATCH_MAX,
        ),
        (
            "closer_to_training_share",
            "share of synthetic rows closer to training than to holdout",
            CLOSER_TO_TRAINING_MAX,
        ),
        ("mia_auc", "membership-inference attack ROC AUC", MIA_AUC_MAX),
    ):
        if evaluate:  # not measured (e.g. no kept rows): reported as missed
            value = privacy.get(key)
            out[f"privacy.{key}"] = {
                "label": name,
                "measured": value,
                "op": "<=",
                "threshold": limit,
                "met": value is not None and value <= limit,
            }
    return out


def verdict(recommend: dict[str, Any]) -> dict[str, Any]:
    """Did synthesis help? Per model and segment, from the paired comparisons."""
    models = {
        m: {seg: c["verdict"] for seg, c in segs.items()}
        for m, segs in sorted(recommend.get("comparisons", {}).items())
    }

    def where(word: str) -> list[str]:
        return [
            f"{m} ({', '.join(s for s, v in segs.items() if v == word)})"
            for m, segs in models.items()
            if word in segs.values()
        ]

    helped, hurt = where("better"), where("worse")
    if not models:
        headline = "No real vs real + synthetic comparison was run."
    elif helped or hurt:
        said = []
        if helped:
            said.append(f"Real + synthetic beat real-only for {'; '.join(helped)}")
        if hurt:
            said.append(f"{'it' if helped else 'Real + synthetic'} was worse for {'; '.join(hurt)}")
        headline = (
            "; ".join(said) + " (differences larger than the seed spread; elsewhere no lift)."
        )
    else:
        headline = "No lift: every difference is within the seed spread."
    return {"headline": headline, "models": models, "helped": helped, "hurt": hurt}


def assemble(lakehouse: Lakehouse, run_id: str, model_dir: str) -> dict[str, Any]:
    """The run's ``metrics.json`` content."""
    recommend = _read(_local(lakehouse.run_file(run_id, "recommend.json")))
    evaluate = _read(_local(lakehouse.run_file(run_id, "evaluate.json")))
    artifact = _read(Path(model_dir) / ARTIFACT)
    checked = targets(recommend, evaluate)
    return {
        "run": {
            "run_id": run_id,
            "model_id": artifact.get("model_id"),
            "table": artifact.get("table"),
        },
        "verdict": verdict(recommend),
        "targets": checked,
        "targets_met": sum(1 for t in checked.values() if t["met"]),
        "targets_total": len(checked),
        "recommend": recommend,
        "evaluate": evaluate,
        "training": {
            "history": artifact.get("history", []),
            "metrics": artifact.get("metrics", {}),
            "epochs": artifact.get("epochs"),
            "backend": artifact.get("backend"),
        },
        "cleaning": _read(_local(lakehouse.report_file("clean_accounting.json"))),
    }
