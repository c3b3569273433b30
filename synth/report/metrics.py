"""``metrics.json``: every number of a run's report, and the issue's targets checked against them.

Assembled from the stage outputs of one run id (``recommend.json``, ``evaluate.json``), the model
artifact (training history) and the cleaning accounting. The report page is rendered from this
file alone (:mod:`synth.report.html`).
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from synth.io import files
from synth.io.delta import Lakehouse
from synth.recommend.metrics import paired_test
from synth.refs import ARTIFACT

# Targets (issue 7): recommendation on held-out real data, and privacy of released rows.
COLD_LIFT_PCT = 5.0
CLOSER_TO_TRAINING_MAX = 0.55
MIA_AUC_MAX = 0.6
EXACT_MATCH_MAX = 0.0


def _read(path: str) -> dict[str, Any]:
    """The JSON object at ``path`` (any lakehouse URI); {} when there is none."""
    try:
        data = files.read_json(path)
    except FileNotFoundError:
        return {}
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


# Segments the first screen answers for: every test user, and the cold / sparse ones.
VERDICT_SEGMENTS: tuple[str, ...] = ("all", "cold")
# How each paired verdict reads in the plain-words answer.
_SAID: dict[str, str] = {
    "better": "helped {who}",
    "worse": "hurt {who}",
    "no lift": "made no difference beyond the seed spread for {who}",
}


def _headline_metric(recommend: dict[str, Any]) -> str:
    """The metric the comparisons were made on (``ndcg@<first k>``)."""
    for segs in recommend.get("comparisons", {}).values():
        for c in segs.values():
            if "metric" in c:
                return str(c["metric"])
    k = recommend.get("settings", {}).get("k") or [10]
    return f"ndcg@{k[0]}"


def _cell(recommend: dict[str, Any], model: str, variant: str, seg: str) -> dict[str, Any]:
    """One model / variant / segment's headline-metric summary (``{}`` when not scored)."""
    metric = _headline_metric(recommend)
    cell = recommend.get("results", {}).get(model, {}).get(variant, {}).get(seg, {}).get(metric)
    return cell if isinstance(cell, dict) else {}


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and math.isfinite(value)


def strongest_baseline(recommend: dict[str, Any]) -> str | None:
    """The model whose real-only variant has the highest mean headline NDCG for all users.

    Every model of ``recommend.json``'s ``results`` competes (no fixed list); ties go to the
    first name in sorted order. ``None`` when no real-only variant was scored.
    """
    means = {
        model: _cell(recommend, model, "real", "all").get("mean")
        for model in sorted(recommend.get("results", {}))
    }
    scored = {m: float(v) for m, v in means.items() if _finite(v)}
    return max(scored, key=lambda m: scored[m]) if scored else None


def _against(
    real: dict[str, Any], fused: dict[str, Any], alpha: float | None
) -> dict[str, Any] | None:
    """Paired test of one fused variant's per-seed values against a real-only variant's."""
    r, f = real.get("seeds"), fused.get("seeds")
    if not (isinstance(r, list) and isinstance(f, list)) or len(r) != len(f) or not r:
        return None
    if not all(map(_finite, r + f)):
        return None
    test = paired_test(r, f)
    p = test["p_value"]
    return {
        "real_mean": float(sum(r) / len(r)),
        "fused_mean": float(sum(f) / len(f)),
        **test,
        "significant": None if alpha is None else isinstance(p, float) and p < alpha,
    }


def _answer(model: str, lift: dict[str, dict[str, Any]], best: dict[str, Any]) -> str:
    """The verdict in plain words (no numbers: those are in the fields next to it).

    Synthesis helped a segment when the baseline's fused variant, or the best fused model,
    beats the baseline there by more than the seed spread.
    """
    beats = [s for s in VERDICT_SEGMENTS if best.get(s, {}).get("verdict") == "better"]
    helped = [s for s in VERDICT_SEGMENTS if lift.get(s, {}).get("verdict") == "better"]
    helped = [s for s in VERDICT_SEGMENTS if s in helped or s in beats]
    scored = [s for s in VERDICT_SEGMENTS if s in lift or s in best]
    if scored and len(helped) == len(scored):
        opening = "Yes."
    elif helped:
        opening = "Partly: for " + " and ".join(f"{s} users" for s in helped) + "."
    else:
        opening = "No."
    said = " and ".join(
        _SAID.get(c["verdict"], c["verdict"] + " for {who}").format(who=f"{s} users")
        for s, c in lift.items()
    )
    text = f"{opening} Against the strongest real-only baseline ({model}), adding synthetic data "
    text += f"to it {said}." if said else "to it was not compared."
    if best and best["model"] != model:
        whom = " and ".join(f"{s} users" for s in beats)
        text += f" The best model with synthetic data ({best['model']}) " + (
            f"beats that baseline for {whom}." if beats else "does not beat that baseline."
        )
    return text


def verdict(recommend: dict[str, Any]) -> dict[str, Any]:
    """Did synthesis help, for whom, against which baseline, and how sure?

    ``baseline``: the strongest real-only model (:func:`strongest_baseline`) and every model's
    real-only mean for all users; ``lift``: that model's fused variant against its real-only
    variant per segment (``all``, ``cold``; the paired comparison of ``recommend.json``: lift,
    lift in %, seed spread, p-value, verdict); ``best_fused``: the model whose fused variant scores
    highest for all users, tested against the baseline per segment (paired over seeds);
    ``answer``: the verdict in plain words. ``headline``, ``models``, ``helped`` and ``hurt``:
    the paired verdicts of every model and segment.
    """
    comparisons = recommend.get("comparisons", {})
    models = {
        m: {seg: c["verdict"] for seg, c in segs.items()} for m, segs in sorted(comparisons.items())
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
    out: dict[str, Any] = {"headline": headline, "models": models, "helped": helped, "hurt": hurt}
    base = strongest_baseline(recommend)
    if base is None:
        return out
    settings = recommend.get("settings", {})
    alpha = settings.get("alpha")
    alpha = float(alpha) if _finite(alpha) else None
    real_means = {m: _cell(recommend, m, "real", "all").get("mean") for m in recommend["results"]}
    ranking = dict(  # best first; a model without a finite mean last
        sorted(real_means.items(), key=lambda kv: (-kv[1] if _finite(kv[1]) else math.inf, kv[0]))
    )
    lift = {
        seg: {**comparisons[base][seg], "significant": _significant(comparisons[base][seg], alpha)}
        for seg in VERDICT_SEGMENTS
        if seg in comparisons.get(base, {})
    }
    fused = {
        m: _cell(recommend, m, "fused", "all").get("mean") for m in sorted(recommend["results"])
    }
    fused_means = {m: float(v) for m, v in fused.items() if _finite(v)}
    best: dict[str, Any] = {}
    if fused_means:
        top = max(fused_means, key=lambda m: fused_means[m])
        best = {"model": top}
        for seg in VERDICT_SEGMENTS:
            tested = _against(
                _cell(recommend, base, "real", seg), _cell(recommend, top, "fused", seg), alpha
            )
            if tested is not None:
                best[seg] = tested
    baseline_cell = _cell(recommend, base, "real", "all")
    out.update(
        {
            "metric": _headline_metric(recommend),
            "seeds": len(settings.get("seeds", [])),
            "alpha": alpha,
            "baseline": {
                "model": base,
                "variant": "real",
                "segment": "all",
                "mean": baseline_cell.get("mean"),
                "std": baseline_cell.get("std"),
                "ranking": ranking,
            },
            "lift": lift,
            "best_fused": best,
            "answer": _answer(base, lift, best),
        }
    )
    return out


def _significant(comparison: dict[str, Any], alpha: float | None) -> bool | None:
    """The comparison's own ``significant`` flag, else its p-value below ``alpha``."""
    if "significant" in comparison:
        return bool(comparison["significant"])
    p = comparison.get("p_value")
    return None if alpha is None or not _finite(p) else float(p) < alpha


def assemble(lakehouse: Lakehouse, run_id: str, model_dir: str) -> dict[str, Any]:
    """The run's ``metrics.json`` content."""
    recommend = _read(lakehouse.run_file(run_id, "recommend.json"))
    evaluate = _read(lakehouse.run_file(run_id, "evaluate.json"))
    artifact = _read(files.join(model_dir, ARTIFACT))
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
        "cleaning": _read(lakehouse.report_file("clean_accounting.json")),
    }
