"""report.html: a self-contained page whose every number is a number of metrics.json.

The verdict comes first and names the strongest real-only baseline; every chart has axes with
ticks, a legend and value labels; tables scroll in their own box.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from synth.report.html import (
    bars,
    curves,
    error_bars,
    fmt,
    heatmap,
    nice_ticks,
    page_numbers,
    render,
    stray_numbers,
)
from synth.report.metrics import targets, verdict
from tests.unit.report.factories import make_metrics

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
VOID = ("meta", "br")  # HTML elements without an end tag


class _Page(HTMLParser):
    """Tags (balanced), attributes, text; per SVG: its text and its axes' tick labels."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []  # open elements: tag, class
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.errors: list[str] = []
        self.svgs: list[dict[str, Any]] = []
        self.table_boxes: list[str] = []  # per <table>: its parent element's class

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self.table_boxes.append(self.stack[-1][1] if self.stack else "")
        if tag == "svg":
            self.svgs.append({"attrs": a, "text": [], "ticks": [], "axes": 0})
        if tag == "g" and a.get("class") == "axis" and self.svgs:
            self.svgs[-1]["axes"] += 1
        if tag not in VOID:
            self.stack.append((tag, a.get("class") or ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][0] == "style":
            return
        self.text.append(data)
        if any(t == "svg" for t, _ in self.stack) and self.svgs:
            tick = self.stack[-1] == ("text", "tick")
            self.svgs[-1]["ticks" if tick else "text"].append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def metrics() -> dict[str, Any]:
    return make_metrics()


def test_page_is_well_formed_and_self_contained(metrics):
    page = render(metrics)
    parser = _parse(page)
    # Assert: balanced tags, one title, every section, no external resource or script
    assert not parser.errors, parser.errors[:5]
    names = [t for t, _ in parser.tags]
    assert names[:2] == ["html", "head"] and names.count("style") == 1
    ids = {a.get("id") for t, a in parser.tags if t == "section"}
    assert set(SECTIONS) <= ids
    assert "script" not in names and "link" not in names and "img" not in names
    assert not re.search(r"(src|href)=", page)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    # verdict error bars, 4 models' error bars, 3 marginals, 2 heatmap pairs, 2 distributions,
    # 2 loss curves
    assert names.count("svg") == 1 + 4 + 3 + 4 + 2 + 2


def test_every_number_on_the_page_is_in_metrics_json(metrics):
    page = render(metrics)
    # Run
    shown = page_numbers(page)
    # Assert: the page shows many numbers, each one of metrics.json (tick labels by their rule)
    assert len(shown) > 300
    assert "0.0532" in shown and "-5.08" in shown and "996329" in shown
    assert "0.213" in shown and "0.0456" in shown  # the behaviour section
    assert "new session 30m-1h" in page  # a gap bin's label
    assert "drawn by the learned sequence model" in page
    assert stray_numbers(page, metrics) == []


def test_a_number_not_in_metrics_json_is_caught(metrics):
    # the check itself can fail: a page with an extra number is rejected
    page = render(metrics).replace("</body>", "<p>speed-up 3.1416</p></body>")
    assert stray_numbers(page, metrics) == ["3.1416"]


def test_a_tick_label_off_the_rule_is_caught(metrics):
    page = render(metrics)
    # Setup: the first tick of the page, and an axis end that is no number of metrics.json
    first = re.search(r'(<text [^>]*class="tick"[^>]*>)([^<]*)</text>', page)
    assert first is not None
    moved = page.replace(first.group(0), f"{first.group(1)}0.0123456</text>", 1)
    end = re.search(r'data-hi="([^"]+)"', page)
    assert end is not None
    rescaled = page.replace(end.group(0), 'data-hi="0.777"', 1)
    # Run / Assert: a tick off the rule is stray; so are the ticks of an axis of a foreign end
    assert stray_numbers(moved, metrics) == ["0.0123456"]
    assert stray_numbers(rescaled, metrics) == ["0", "0.02", "0.04"]  # the verdict chart


def test_numbers_have_three_significant_digits(metrics):
    page = render(metrics)
    # Assert: no number on the page has more than three significant digits unless it is whole
    long = [
        n
        for n in page_numbers(page)
        if "e" not in n and "." in n and len(n.lstrip("-0.").replace(".", "")) > 3
    ]
    assert long == []


def test_verdict_names_the_strongest_real_only_baseline(metrics):
    v = metrics["verdict"]
    # Assert: als has the highest real-only mean for all users of the four models
    assert v["baseline"]["model"] == "als"
    assert set(v["baseline"]["ranking"]) == {"popularity", "als", "item_knn", "ease"}
    assert v["baseline"]["mean"] == pytest.approx(0.0532)
    # its own fused variant: the paired comparison of recommend.json, for all and cold users
    comparisons = metrics["recommend"]["comparisons"]["als"]
    assert v["lift"] == {"all": comparisons["all"], "cold": comparisons["cold"]}
    assert v["lift"]["all"]["verdict"] == "worse" and v["lift"]["cold"]["verdict"] == "better"
    # the best fused model (ease) against the baseline, paired over seeds
    best = v["best_fused"]
    assert best["model"] == "ease"
    assert best["all"]["lift"] == pytest.approx(0.0561 - 0.0532)
    assert best["all"]["verdict"] == "better" and best["all"]["significant"] is True
    assert v["seeds"] == 5 and v["alpha"] == 0.05
    assert v["answer"] == (
        "Yes. Against the strongest real-only baseline (als), adding synthetic data to it hurt "
        "all users and helped cold users. The best model with synthetic data (ease) beats that "
        "baseline for all users and cold users."
    )


def test_verdict_takes_whatever_models_recommend_ran(metrics):
    # Setup: the strongest model under a name the report has never heard of
    rec = metrics["recommend"]
    results = {("sasrec" if m == "als" else m): r for m, r in rec["results"].items()}
    comparisons = {("sasrec" if m == "als" else m): c for m, c in rec["comparisons"].items()}
    # Run
    v = verdict({**rec, "results": results, "comparisons": comparisons})
    # Assert
    assert v["baseline"]["model"] == "sasrec"
    assert set(v["baseline"]["ranking"]) == {"popularity", "sasrec", "item_knn", "ease"}
    assert v["lift"]["all"] == comparisons["sasrec"]["all"]
    assert "baseline (sasrec)" in v["answer"]


def test_verdict_without_results_keeps_the_headline():
    v = verdict({})
    assert v["headline"] == "No real vs real + synthetic comparison was run."
    assert "baseline" not in v
    assert "Did synthesis help?" in render({"verdict": v})


def test_first_screen_says_lift_spread_and_p_value(metrics):
    page = render(metrics)
    first = page[page.index('<section id="verdict">') : page.index('<section id="recommendation"')]
    lift = metrics["verdict"]["lift"]
    best = metrics["verdict"]["best_fused"]
    # Assert: the answer, the baseline, and for all and cold users lift, %, spread and p
    assert "Did synthesis help? Yes." in first
    assert "<b>als</b> trained on real data only" in first
    for c in (lift["all"], lift["cold"], best["all"]):
        shown = (
            f"lift {'+' if c['lift'] > 0 else ''}{fmt(c['lift'])} "
            f"({'+' if c['lift_pct'] > 0 else ''}{fmt(c['lift_pct'])}%), seed spread "
            f"{fmt(c['spread'])}, p = {fmt(c['p_value'])}"
        )
        assert shown in first
    assert "All users</b> (1234)" in first and "Cold / sparse users</b> (321)" in first
    assert "paired t-test over 5 seeds" in first
    assert first.index("Did synthesis help?") < first.index("Targets met")


def test_targets_and_verdict(metrics):
    t = metrics["targets"]
    assert t["als.all_users_not_worse"]["met"] is False  # -0.0027 < -0.00158
    assert t["als.cold_users_lift_pct"]["met"] is True
    assert t["privacy.closer_to_training_share"]["met"] is True
    assert metrics["verdict"]["headline"] == (
        "Real + synthetic beat real-only for als (cold); ease (all, cold); item_knn (all, cold); "
        "it was worse for als (all) (differences larger than the seed spread; elsewhere no lift)."
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
    [
        (0.123456, "0.123"),
        (0.06971, "0.0697"),
        (0.001782, "0.00178"),
        (3.507599824268639e-06, "3.51e-06"),
        (236.4, "236"),
        (18170.04068, "18170"),
        (3.0, "3"),
        (7, "7"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_fmt(value, shown):
    assert fmt(value) == shown


@pytest.mark.parametrize(
    "lo, hi, ticks",
    [
        (0.0, 0.0468, [0.0, 0.02, 0.04]),
        (0.0, 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (-10.7, 3.67, [-10.0, -5.0, 0.0]),
        (1.0, 1.0, [1.0]),
        (0.0, 0.00036, [0.0, 0.0001, 0.0002, 0.0003]),
    ],
)
def test_nice_ticks(lo, hi, ticks):
    assert nice_ticks(lo, hi) == pytest.approx(ticks)


def _svg(chart: str) -> dict[str, Any]:
    parser = _parse(chart)
    assert not parser.errors, parser.errors[:5]
    assert parser.svgs, "no svg"
    return parser.svgs[0]


class TestCharts:
    """Each chart: a viewBox, an axis with ticks, a legend, a label on every value."""

    def test_error_bars_axes_legend_and_values(self):
        chart = error_bars(
            {"all": {"real": (0.0468, 0.00095), "fused": (0.0445, 0.00077)}},
            "als",
            axis_title="NDCG@10",
        )
        svg = _svg(chart)
        text = " ".join(svg["text"])
        assert svg["attrs"]["viewbox"].startswith("0 0 ") and svg["axes"] == 1
        assert svg["ticks"] == ["0", "0.02", "0.04"]
        assert "real" in text and "fused" in text and "NDCG@10" in text  # legend, axis title
        assert "0.0468 ± 0.00095" in text and "0.0445 ± 0.00077" in text

    def test_bars_axes_legend_and_values(self):
        chart = bars([0.81, 0.19], [0.75, 0.25], "n_cart", labels=["0", "1-4"], unit="share")
        svg = _svg(chart)
        assert svg["axes"] == 1 and svg["ticks"] == ["0", "0.25", "0.5", "0.75"]
        labels = [t.strip() for t in svg["text"]]
        for value in ("0.81", "0.19", "0.75", "0.25", "0", "1-4", "real", "synthetic", "share"):
            assert value in labels, value

    def test_heatmap_values_and_key(self):
        svg = _svg(heatmap([[1.0, -0.31], [-0.31, 1.0]], "corr", names=["a", "b"]))
        text = [t.strip() for t in svg["text"]]
        assert text.count("-0.31") == 2 and text.count("1") == 2
        assert {"a", "b", "negative", "positive"} <= set(text)

    def test_curves_one_axis_per_loss(self):
        chart = curves({"kl": [2.66, 3.67], "rec": [-1.9, -10.7]}, "loss", epochs=[1, 2])
        parser = _parse(chart)
        assert len(parser.svgs) == 2 and all(s["axes"] == 1 for s in parser.svgs)
        kl, rec = ([t.strip() for t in s["text"]] for s in parser.svgs)
        assert {"kl", "2.66", "3.67", "1", "2", "epoch"} <= set(kl)
        assert {"rec", "-1.9", "-10.7"} <= set(rec)
        assert parser.svgs[1]["ticks"] == ["-10", "-7.5", "-5", "-2.5"]

    def test_empty_charts_draw_nothing(self):
        assert error_bars({}, "x") == "" and bars([], [], "x") == ""
        assert heatmap([], "x") == "" and curves({"kl": [1.0]}, "x") == ""


def test_tables_scroll_inside_their_box_and_charts_shrink(metrics):
    page = render(metrics)
    parser = _parse(page)
    # Assert: every table sits in a .tbl box, which scrolls sideways; SVGs shrink to the page
    assert parser.table_boxes and set(parser.table_boxes) == {"tbl"}
    css = page[page.index("<style>") : page.index("</style>")]
    assert ".tbl{overflow-x:auto;max-width:100%" in css
    assert "svg{display:block;max-width:100%;height:auto}" in css
    assert all("viewbox" in s["attrs"] for s in parser.svgs)


def test_count_marginal_is_drawn_per_integer_bin(metrics):
    page = render(metrics)
    fidelity = page[page.index('<section id="fidelity">') :]
    chart = fidelity[fidelity.index("<b>n_cart</b>") :]
    svg = _svg(chart[chart.index("<svg") : chart.index("</svg>") + 6])
    labels = [t.strip() for t in svg["text"]]
    assert [x for x in labels if x in ("0", "1", "2", "3-4")] == ["0", "1", "2", "3-4"]
    assert "counts: integer bins" in chart
