"""A realistic ``metrics.json`` content for the report tests (unit and browser), built by hand.

Four recommend models, so that the strongest real-only baseline (``als``) is not the model
whose fused variant scores best (``ease``); the comparisons are the paired tests of
:func:`synth.recommend.metrics.paired_test` over the factory's per-seed values, as the
recommend stage computes them.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from synth.io.delta import finite_json
from synth.recommend.metrics import paired_test
from synth.report.metrics import targets, verdict

SEEDS = [0, 1, 2, 3, 4]
K = [10, 20]
SEGMENTS = ("all", "cold", "long_tail")
VARIANTS = ("real", "fused", "synthetic")
# seed-to-seed noise per variant (unlike patterns: the paired differences vary)
NOISE = {"real": [-2, -1, 0, 1, 2], "fused": [-1, -2, 1, 0, 2], "synthetic": [0, 1, -1, 2, -2]}
STEP = 0.001
# mean NDCG@10 per model, variant and segment (all, cold, long_tail)
NDCG: dict[str, dict[str, tuple[float, float, float]]] = {
    "popularity": {
        "real": (0.0401, 0.0412, 0.0),
        "fused": (0.0393, 0.0404, 0.0),
        "synthetic": (0.0371, 0.0377, 0.0),
    },
    "als": {
        "real": (0.0532, 0.0133, 0.0211),
        "fused": (0.0505, 0.0186, 0.0208),
        "synthetic": (0.0402, 0.0151, 0.0107),
    },
    "item_knn": {
        "real": (0.0301, 0.0119, 0.0257),
        "fused": (0.0336, 0.0174, 0.0256),
        "synthetic": (0.0086, 0.0055, 0.0004),
    },
    "ease": {
        "real": (0.0497, 0.0161, 0.0231),
        "fused": (0.0561, 0.0199, 0.0229),
        "synthetic": (0.0317, 0.0122, 0.0101),
    },
}
# other metrics as multiples of NDCG@10 (realistic orders of magnitude)
SCALE = {"recall": 1.6, "ndcg": 1.0, "map": 0.74, "coverage": 0.23}


def _cell(mean: float, variant: str, factor: float) -> dict[str, Any]:
    values = [round(factor * mean + STEP * factor * n, 6) for n in NOISE[variant]]
    return {
        "seeds": values,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values),
        "min": min(values),
        "max": max(values),
    }


def recommend_json() -> dict[str, Any]:
    """``recommend.json`` with results, paired comparisons, tuning and interest."""
    results = {
        model: {
            variant: {
                seg: {
                    f"{name}@{k}": _cell(
                        means[i], variant, factor * (1.2 if k == 20 and name != "ndcg" else 1.0)
                    )
                    for name, factor in SCALE.items()
                    for k in K
                }
                for i, seg in enumerate(SEGMENTS)
            }
            for variant, means in by_variant.items()
        }
        for model, by_variant in NDCG.items()
    }
    comparisons: dict[str, dict[str, Any]] = {}
    for model, by_variant in results.items():
        for seg in SEGMENTS:
            real = by_variant["real"][seg]["ndcg@10"]["seeds"]
            fused = by_variant["fused"][seg]["ndcg@10"]["seeds"]
            test = paired_test(real, fused)
            comparisons.setdefault(model, {})[seg] = {
                "metric": "ndcg@10",
                "real_mean": statistics.fmean(real),
                "fused_mean": statistics.fmean(fused),
                **test,
                "significant": isinstance(test["p_value"], float) and test["p_value"] < 0.05,
            }
    return {
        "settings": {"k": K, "seeds": SEEDS, "variants": list(VARIANTS), "alpha": 0.05},
        "data": {"test_users": 1234, "test_cold_users": 321, "test_long_tail_users": 77},
        "results": results,
        "chosen": {
            "als": {"real": {"rank": 32, "reg": 0.5}, "fused": {"rank": 32, "reg": 0.05}},
            "ease": {"real": {"l2": 250.0}, "fused": {"l2": 500.0}},
        },
        "comparisons": comparisons,
        "interest": {"real": {"all": {"precision@3": 0.2029, "recall@3": 0.5449, "users": 5000.0}}},
    }


def evaluate_json() -> dict[str, Any]:
    """``evaluate.json`` with privacy, utility, fidelity (a count column too) and behaviour."""
    return {
        "privacy": {
            "exact_match_share_released": 0.0,
            "closer_to_training_share": 0.48,
            "mia_auc": 0.5206,
        },
        "utility": {
            "task": "will the user purchase",
            "train_on_real_auc": 0.8398,
            "train_on_synthetic_auc": 0.8193,
        },
        "fidelity": {
            "quality": 0.89,
            "column_shapes": 0.91,
            "column_pair_trends": 0.87,
            "rows": 5000.0,
            "marginals": {
                "price": {
                    "kind": "numeric",
                    "edges": [1.0, 2.5, 7.25, 236.0],
                    "real": [0.4, 0.35, 0.25],
                    "synthetic": [0.35, 0.4, 0.25],
                },
                "n_cart": {
                    "kind": "count",
                    "edges": [0.0, 1.0, 2.0, 3.0, 5.0],
                    "labels": ["0", "1", "2", "3-4"],
                    "real": [0.81, 0.12, 0.05, 0.02],
                    "synthetic": [0.78, 0.15, 0.04, 0.03],
                },
                "lifecycle": {
                    "kind": "categorical",
                    "labels": ["new", "active"],
                    "real": [0.3, 0.5, 0.2],
                    "synthetic": [0.25, 0.55, 0.2],
                },
            },
            "correlation_columns": ["n_view", "n_cart", "price"],
            "correlation_real": [[1.0, 0.31, -0.12], [0.31, 1.0, 0.05], [-0.12, 0.05, 1.0]],
            "correlation_synthetic": [[1.0, 0.27, -0.2], [0.27, 1.0, 0.0], [-0.2, 0.0, 1.0]],
        },
        "behaviour": {
            "generator": "learned",
            "accuracy": 0.912,
            "accuracy_per_column": {"event_type": 0.97, "gap": 0.81},
            "coherence": 0.77,
            "coherence_per_column": {"event_type": 0.9, "category": 0.64},
            "knn10_overlap": 0.213,
            "knn_items": 812.0,
            "knn10_overlap_real": 0.387,
            "real_users": 5000.0,
            "synthetic_users": 4980.0,
            "real_events": 48211.0,
            "synthetic_events": 50713.0,
            "distributions": {
                "events_per_user": {
                    "labels": ["1", "2-3", "4-7"],
                    "real": [0.5, 0.3, 0.2],
                    "synthetic": [0.45, 0.35, 0.2],
                },
                "gap": {
                    "labels": ["first event", "same session 0s-1s", "new session 30m-1h"],
                    "real": [0.2, 0.5, 0.3],
                    "synthetic": [0.2, 0.4, 0.4],
                },
            },
            "category_transitions": {
                "real": [[0.7, 0.3], [0.2, 0.8]],
                "synthetic": [[0.6, 0.4], [0.25, 0.75]],
            },
            "copied_runs": {
                "3": {
                    "synthetic_share": 0.0123,
                    "holdout_share": 0.0456,
                    "synthetic_users": 3900.0,
                    "holdout_users": 7100.0,
                }
            },
        },
        "filtering": {
            "raw_rows": 55000.0,
            "kept_rows": 45613.0,
            "removed": {"realism_detected": 7332.0},
        },
    }


def make_metrics() -> dict[str, Any]:
    """The run's ``metrics.json`` content as written (JSON round trip: what the page reads)."""
    recommend, evaluate = recommend_json(), evaluate_json()
    checked = targets(recommend, evaluate)
    metrics = finite_json(
        {
            "run": {"run_id": "user_profiles-vae-v0-a4cc8f47-s0", "model_id": "m-v0", "table": "t"},
            "verdict": verdict(recommend),
            "targets": checked,
            "targets_met": sum(t["met"] for t in checked.values()),
            "targets_total": len(checked),
            "recommend": recommend,
            "evaluate": evaluate,
            "training": {
                "history": [
                    {"epoch": 1, "losses": {"kl": 2.66, "reconstruction": -1.9}},
                    {"epoch": 2, "losses": {"kl": 3.67, "reconstruction": -10.7}},
                    {"epoch": 3, "losses": {"kl": 3.41, "reconstruction": -12.2}},
                ],
                "metrics": {"quality": 0.9066},
                "epochs": 3,
                "backend": "local",
            },
            "cleaning": {
                "bronze_rows": 996329,
                "silver_rows": 970954,
                "quarantined": {"bot_user": 14056},
            },
        }
    )
    loaded = json.loads(json.dumps(metrics))
    assert isinstance(loaded, dict)
    return loaded
