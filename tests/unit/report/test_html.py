"""report.html: a self-contained page whose every number is a number of metrics.json."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from synth.io.delta import finite_json
from synth.report.html import fmt, page_numbers, render, stray_numbers
from synth.report.metrics import targets, verdict

SECTIONS = (
    "verdict",
    "recommendation",
    "utility",
    "privacy",
    "fidelity",
    "behaviour",
    "training",
    "accounting",
)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "rect", "line", "br") and not tag.endswith("/"):
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("rect", "line"):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "style":
            return
        self.text.append(data)


def _metrics() -> dict[str, Any]:
    seeds = [0, 1, 2, 3, 4]

    def cell(values: list[float]) -> dict[str, Any]:
        mean = sum(values) / len(values)
        return {
            "seeds": values,
            "mean": mean,
            "std": 0.0123,
            "min": min(values),
            "max": max(values),
        }

    segs = {
        seg: {
            f"{m}@{k}": cell([0.1 + 0.01 * s for s in seeds])
            for m in ("recall", "ndcg", "map", "coverage")
            for k in (10, 20)
        }
        for seg in ("all", "cold", "long_tail")
    }
    recommend = {
        "settings": {"k": [10, 20], "seeds": seeds, "variants": ["real", "fused", "synthetic"]},
        "data": {"test_users": 1234, "test_cold_users": 321, "test_long_tail_users": 77},
        "results": {"als": {v: segs for v in ("real", "fused", "synthetic")}},
        "chosen": {"als": {"real": {"rank": 32, "reg": 0.5}}},
        "comparisons": {
            "als": {
                "all": {
                    "real_mean": 0.0532,
                    "fused_mean": 0.0505,
                    "lift": -0.0027,
                    "lift_pct": -5.07,
                    "spread": 0.0011,
                    "p_value": 0.013,
                    "verdict": "worse",
                },
                "cold": {
                    "real_mean": 0.0133,
                    "fused_mean": 0.0186,
                    "lift": 0.0053,
                    "lift_pct": 40.2,
                    "spread": 0.0009,
                    "p_value": None,
                    "verdict": "better",
                },
            }
        },
        "interest": {"real": {"all": {"precision@3": 0.2029, "recall@3": 0.5449, "users": 5000.0}}},
    }
    evaluate = {
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
                "n_view": {
                    "kind": "numeric",
                    "edges": [1.0, 2.5, 236.0],
                    "real": [0.4, 0.6],
                    "synthetic": [0.35, 0.65],
                },
                "lifecycle": {
                    "kind": "categorical",
                    "labels": ["new", "active"],
                    "real": [0.3, 0.5, 0.2],
                    "synthetic": [0.25, 0.55, 0.2],
                },
            },
            "correlation_columns": ["n_view", "n_cart"],
            "correlation_real": [[1.0, 0.31], [0.31, 1.0]],
            "correlation_synthetic": [[1.0, 0.27], [0.27, 1.0]],
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
    checked = targets(recommend, evaluate)
    return finite_json(
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
                ],
                "metrics": {"quality": 0.9066},
                "epochs": 2,
                "backend": "local",
            },
            "cleaning": {
                "bronze_rows": 996329,
                "silver_rows": 970954,
                "quarantined": {"bot_user": 14056},
            },
        }
    )  # type: ignore[return-value]


def test_page_is_well_formed_and_self_contained():
    page = render(_metrics())
    parser = _Page()
    parser.feed(page)
    # Assert: balanced tags, one title, every section, no external resource or script
    assert not parser.errors, parser.errors[:5]
    names = [t for t, _ in parser.tags]
    assert names[:5] == ["html", "head", "meta", "title", "style"]
    ids = {a.get("id") for t, a in parser.tags if t == "section"}
    assert set(SECTIONS) <= ids
    assert "script" not in names and "link" not in names and "img" not in names
    assert not re.search(r"(src|href)=", page)
    # error bars, marginals x2, heatmaps x2, loss curves; behaviour: distributions, transitions
    assert names.count("svg") >= 9


def test_every_number_on_the_page_is_in_metrics_json():
    metrics = json.loads(json.dumps(_metrics()))  # as written to metrics.json
    page = render(metrics)
    # Run
    shown = page_numbers(page)
    # Assert: the page shows many numbers, each one of metrics.json
    assert len(shown) > 100
    assert "0.0532" in shown and "40.2" in shown and "996329" in shown
    assert "0.213" in shown and "0.0456" in shown  # the behaviour section
    assert "new session 30m-1h" in page  # a gap bin's label
    assert "drawn by the learned sequence model" in page
    assert stray_numbers(page, metrics) == []


def test_a_number_not_in_metrics_json_is_caught():
    # the check itself can fail: a page with an extra number is rejected
    metrics = json.loads(json.dumps(_metrics()))
    page = render(metrics).replace("</body>", "<p>speed-up 3.1416</p></body>")
    assert stray_numbers(page, metrics) == ["3.1416"]


def test_targets_and_verdict():
    m = _metrics()
    t = m["targets"]
    assert t["als.all_users_not_worse"]["met"] is False  # -0.0027 < -0.0011
    assert t["als.cold_users_lift_pct"]["met"] is True
    assert t["privacy.closer_to_training_share"]["met"] is True
    assert m["verdict"]["headline"] == (
        "Real + synthetic beat real-only for als (cold); it was worse for als (all) "
        "(differences larger than the seed spread; elsewhere no lift)."
    )


def test_a_privacy_figure_not_measured_is_a_missed_target():
    evaluate = {"privacy": {"exact_match_share_released": 0.0}, "notes": ["not measured: ..."]}
    checked = targets({}, evaluate)
    assert checked["privacy.exact_match_share_released"]["met"] is True
    assert checked["privacy.mia_auc"] == {
        "label": "membership-inference attack ROC AUC",
        "measured": None,
        "op": "<=",
        "threshold": 0.6,
        "met": False,
    }
    page = render({"evaluate": evaluate, "targets": checked})
    assert "not measured: ..." in page and "MISSED" in page


@pytest.mark.parametrize(
    "value, shown",
    [(0.123456, "0.1235"), (3.0, "3"), (7, "7"), (None, "n/a"), (float("nan"), "n/a")],
)
def test_fmt(value, shown):
    assert fmt(value) == shown
