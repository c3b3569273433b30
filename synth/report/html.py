"""``report.html``: one self-contained page rendered from ``metrics.json`` alone.

Inline CSS and SVG, no scripts, no external files; every number on it is a number of that file.

Order: the verdict and the targets first (one minute to read), then recommendation results
per model, variant and segment with seed error bars, interest prediction, utility, privacy,
fidelity plots (marginals, pair correlations), training loss curves, filtering and cleaning.
"""

from __future__ import annotations

import html
import math
import re
from html.parser import HTMLParser
from typing import Any

VARIANT_COLOURS = {"real": "#4c72b0", "fused": "#dd8452", "synthetic": "#55a868"}
REAL_COLOUR, SYN_COLOUR = "#4c72b0", "#dd8452"
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}
.verdict{font-size:1.2em;padding:.8em;border-radius:6px;background:#eef4fb}
.met{color:#1a7f37;font-weight:600}.missed{color:#b42318;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plot{font-size:.85em}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 .8em}
"""


def fmt(value: object) -> str:
    """How every number is printed (the structure test formats metrics.json the same way)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    return html.escape(str(value))


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{h}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _legend(items: dict[str, str]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span style="background:{c}"></span>{_e(n)}' for n, c in items.items())
        + "</div>"
    )


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(label)}">{body}</svg>'
    )


def error_bars(groups: dict[str, dict[str, tuple[float, float]]], label: str) -> str:
    """Horizontal bars (mean) with whiskers (one standard deviation) per group and variant."""
    rows = [
        (g, v, m, s)
        for g, by in groups.items()
        for v, (m, s) in by.items()
        if m is not None and math.isfinite(m)
    ]
    if not rows:
        return ""
    top = max(m + (s or 0) for _, _, m, s in rows) or 1.0
    bar_h, gap, left, width = 14, 8, 90, 320
    parts, y = [], 4
    for group in groups:
        parts.append(f'<text x="0" y="{y + 11}" font-size="11">{_e(group)}</text>')
        for g, v, m, s in rows:
            if g != group:
                continue
            w = width * m / top
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{VARIANT_COLOURS.get(v, "#888")}"/>'
            )
            if s:
                lo, hi = left + width * (m - s) / top, left + width * (m + s) / top
                mid = y + bar_h / 2
                parts.append(
                    f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{mid}" y2="{mid}" stroke="#000"/>'
                )
            y += bar_h + 2
        y += gap
    return _svg(left + width + 20, y, "".join(parts), label)


def bars(real: list[float], synthetic: list[float], label: str) -> str:
    """Grouped bars of real and synthetic shares per bin or category."""
    n = len(real)
    if n == 0:
        return ""
    top = max(max(real), max(synthetic), 1e-9)
    w, h = 240, 110
    step = w / n
    parts = []
    for i, (r, s) in enumerate(zip(real, synthetic, strict=True)):
        x = i * step
        for j, (v, c) in enumerate(((r, REAL_COLOUR), (s, SYN_COLOUR))):
            bh = h * v / top
            parts.append(
                f'<rect x="{x + j * step / 2:.1f}" y="{h - bh:.1f}" '
                f'width="{step / 2 - 1:.1f}" height="{bh:.1f}" fill="{c}"/>'
            )
    return _svg(w, h, "".join(parts), label)


def heatmap(matrix: list[list[float]], label: str) -> str:
    """A correlation matrix as coloured cells (blue negative, red positive)."""
    n = len(matrix)
    if n == 0:
        return ""
    cell = max(8, min(22, 220 // n))
    parts = []
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            v = 0.0 if v is None else max(-1.0, min(1.0, float(v)))
            r, g, b = (
                (255, int(255 * (1 - v)), int(255 * (1 - v)))
                if v >= 0
                else (int(255 * (1 + v)), int(255 * (1 + v)), 255)
            )
            parts.append(
                f'<rect x="{j * cell}" y="{i * cell}" width="{cell}" height="{cell}" '
                f'fill="rgb({r},{g},{b})"/>'
            )
    return _svg(n * cell, n * cell, "".join(parts), label)


def heatmap_pair(real: list[list[float]], synthetic: list[list[float]], what: str) -> str:
    """Real and synthetic matrices side by side."""
    return (
        '<div class="plots"><div class="plot">real'
        + heatmap(real, f"real {what}")
        + '</div><div class="plot">synthetic'
        + heatmap(synthetic, f"synthetic {what}")
        + "</div></div>"
    )


def curves(series: dict[str, list[float]], label: str) -> str:
    """Loss curves, each scaled to its own range (shape over epochs)."""
    parts, w, h = [], 320, 120
    colours = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b2"]
    for n, (name, values) in enumerate(series.items()):
        vals = [v for v in values if v is not None and math.isfinite(v)]
        if len(vals) < 2:
            continue
        lo, hi = min(vals), max(vals)
        span = (hi - lo) or 1.0
        pts = " ".join(
            f"{w * i / (len(vals) - 1):.1f},{h - 4 - (h - 8) * (v - lo) / span:.1f}"
            for i, v in enumerate(vals)
        )
        colour = colours[n % len(colours)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{pts}"><title>{_e(name)}</title></polyline>'
        )
    return _svg(w, h, "".join(parts), label) if parts else ""


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{_e(title)}</h2>{body}</section>'


def _verdict(m: dict[str, Any]) -> str:
    v = m.get("verdict", {})
    met, total = m.get("targets_met", 0), m.get("targets_total", 0)
    rows = []
    for t in m.get("targets", {}).values():
        cls = "met" if t["met"] else "missed"
        rows.append(
            [
                _e(t["label"]),
                fmt(t["measured"]),
                f"{_e(t['op'])} {fmt(t['threshold'])}",
                f'<span class="{cls}">{"met" if t["met"] else "MISSED"}</span>',
            ]
        )
    body = (
        f'<p class="verdict">{_e(v.get("headline", ""))}</p>'
        f"<p>Targets met: {fmt(met)} of {fmt(total)}.</p>"
        + _table(["target", "measured", "target value", ""], rows)
    )
    return _section("verdict", "Verdict", body)


def _recommend(m: dict[str, Any]) -> str:
    rec = m.get("recommend", {})
    if not rec:
        return _section("recommendation", "Recommendation", "<p>Not run.</p>")
    k = rec["settings"]["k"]
    data = rec["data"]
    intro = (
        f"<p>Scored on held-out real test events of {fmt(data['test_users'])} real users "
        f"({fmt(data['test_cold_users'])} cold / sparse, "
        f"{fmt(data['test_long_tail_users'])} with long-tail items); "
        f"seeds {', '.join(fmt(x) for x in rec['settings']['seeds'])} per variant; "
        "parameters chosen on the validation split. Mean and seed standard deviation.</p>"
    )
    parts = [intro]
    comp_rows = []
    for model, segs in rec.get("comparisons", {}).items():
        for seg, c in segs.items():
            comp_rows.append(
                [
                    _e(model),
                    _e(seg),
                    fmt(c["real_mean"]),
                    fmt(c["fused_mean"]),
                    fmt(c["lift_pct"]),
                    fmt(c["spread"]),
                    fmt(c["p_value"]),
                    _e(c["verdict"]),
                ]
            )
    if comp_rows:
        parts.append(
            "<h3>Real-only vs real + synthetic (paired over seeds)</h3>"
            + _table(
                [
                    "model",
                    "segment",
                    f"real NDCG@{fmt(k[0])}",
                    "fused",
                    "lift %",
                    "seed spread",
                    "p-value",
                    "verdict",
                ],
                comp_rows,
                left=2,
            )
        )
    plots = []
    for model, by_variant in rec.get("results", {}).items():
        groups: dict[str, dict[str, tuple[float, float]]] = {}
        for variant, segs in by_variant.items():
            for seg, metrics in segs.items():
                cell = metrics.get(f"ndcg@{k[0]}", {})
                groups.setdefault(seg, {})[variant] = (cell.get("mean"), cell.get("std"))
        plots.append(
            f'<div class="plot"><b>{_e(model)}</b> NDCG@{fmt(k[0])} by segment'
            + error_bars(groups, f"{model} NDCG")
            + "</div>"
        )
    parts.append(
        '<div class="plots">'
        + "".join(plots)
        + "</div>"
        + _legend({v: VARIANT_COLOURS[v] for v in rec["settings"]["variants"]})
    )
    rows = []
    for model, by_variant in rec.get("results", {}).items():
        for variant, segs in by_variant.items():
            for seg, metrics in segs.items():
                cells = []
                for kk in k:
                    for name in ("recall", "ndcg", "map", "coverage"):
                        c = metrics.get(f"{name}@{kk}", {})
                        cells.append(f"{fmt(c.get('mean'))} ± {fmt(c.get('std'))}")
                rows.append([_e(model), _e(variant), _e(seg), *cells])
    header = ["model", "variant", "segment"] + [
        f"{n}@{fmt(kk)}" for kk in k for n in ("Recall", "NDCG", "MAP", "coverage")
    ]
    parts.append("<h3>All metrics</h3>" + _table(header, rows, left=3))
    tune_rows = [
        [_e(model), _e(variant), _e(", ".join(f"{a}={fmt(b)}" for a, b in p.items()))]
        for model, by in rec.get("chosen", {}).items()
        for variant, p in by.items()
    ]
    parts.append(
        "<h3>Chosen on validation</h3>"
        + _table(["model", "variant", "parameters"], tune_rows, left=3)
    )
    interest = rec.get("interest", {})
    if interest:
        irows = [
            [_e(variant), _e(seg), *[fmt(v) for v in vals.values()]]
            for variant, segs in interest.items()
            for seg, vals in segs.items()
        ]
        first = next(iter(next(iter(interest.values())).values()))
        parts.append(
            "<h3>Interest prediction (profile top categories vs held-out categories)"
            "</h3>" + _table(["variant", "segment", *map(_e, first)], irows, left=2)
        )
    return _section("recommendation", "Recommendation", "".join(parts))


def _utility_privacy(m: dict[str, Any]) -> str:
    ev = m.get("evaluate", {})
    u, p = ev.get("utility", {}), ev.get("privacy", {})
    notes = "".join(f"<p>{_e(n)}</p>" for n in ev.get("notes", []))
    urows = [[_e(k), fmt(v)] for k, v in u.items()]
    prows = [[_e(k), fmt(v)] for k, v in p.items()]
    return (
        notes
        + _section(
            "utility",
            "Utility: train on synthetic, test on real",
            _table(["", "value"], urows) if urows else "<p>Not measured.</p>",
        )
        + _section(
            "privacy", "Privacy", _table(["", "value"], prows) if prows else "<p>Not measured.</p>"
        )
    )


def _fidelity(m: dict[str, Any]) -> str:
    f = m.get("evaluate", {}).get("fidelity", {})
    if not f:
        return _section("fidelity", "Fidelity", "<p>Not measured.</p>")
    parts = [
        f"<p>Quality {fmt(f['quality'])} (column shapes {fmt(f['column_shapes'])}, pair "
        f"trends {fmt(f['column_pair_trends'])}) on {fmt(f['rows'])} rows each.</p>",
        _legend({"real": REAL_COLOUR, "synthetic": SYN_COLOUR}),
    ]
    plots = []
    for col, mg in f.get("marginals", {}).items():
        if mg["kind"] == "categorical":
            note = "categories: " + ", ".join(_e(x) for x in mg["labels"]) + ", other"
        else:
            note = f"{_e(mg['kind'])}, {fmt(mg['edges'][0])} to {fmt(mg['edges'][-1])}"
        plots.append(
            f'<div class="plot"><b>{_e(col)}</b><br>'
            + bars(mg["real"], mg["synthetic"], col)
            + f"<br>{note}</div>"
        )
    parts.append('<div class="plots">' + "".join(plots) + "</div>")
    cols = f.get("correlation_columns", [])
    if cols:
        parts.append(
            "<h3>Pair correlations (Pearson; red positive, blue negative)</h3>"
            + heatmap_pair(f["correlation_real"], f["correlation_synthetic"], "correlations")
            + "<p>Columns, in order: "
            + ", ".join(map(_e, cols))
            + "</p>"
        )
    return _section("fidelity", "Fidelity: real vs synthetic", "".join(parts))


def _behaviour(m: dict[str, Any]) -> str:
    b = m.get("evaluate", {}).get("behaviour", {})
    if not b:
        return ""
    if "accuracy" not in b:
        return _section("behaviour", "Behaviour: synthetic users' events", f"<p>{_e(b)}</p>")
    columns = sorted(b.get("accuracy_per_column", {}))
    rows = [
        [_e(c), fmt(b["accuracy_per_column"].get(c)), fmt(b["coherence_per_column"].get(c))]
        for c in columns
    ]
    drawn = {"rules": "the rules", "learned": "the learned sequence model"}
    body = (
        f"<p>Events drawn by {_e(drawn.get(b.get('generator', ''), 'an unrecorded generator'))}. "
        f"{fmt(b['synthetic_users'])} synthetic users ({fmt(b['synthetic_events'])} events) "
        f"against {fmt(b['real_users'])} real train users ({fmt(b['real_events'])} events). "
        f"Accuracy (one minus the total variation distance of binned shares) "
        f"{fmt(b['accuracy'])}, coherence (of the next event given the current one) "
        f"{fmt(b['coherence'])}; share of each item's ten nearest neighbours (item-kNN) kept: "
        f"{fmt(b['knn10_overlap'])} over {fmt(b['knn_items'])} items (between two samples of "
        f"real users: {fmt(b.get('knn10_overlap_real'))}).</p>"
        + _table(["column", "accuracy", "coherence"], rows)
    )
    shapes = b.get("distributions", {})
    if shapes:
        titles = {"events_per_user": "events per user", "gap": "time since the previous event"}
        plots = [
            f'<div class="plot"><b>{_e(titles.get(c, c))}</b><br>'
            + bars(d["real"], d["synthetic"], c)
            + "<br>bins: "
            + ", ".join(_e(x) for x in d["labels"])
            + "</div>"
            for c, d in shapes.items()
        ]
        body += (
            "<h3>Sequence length and gap distributions</h3>"
            + _legend({"real": REAL_COLOUR, "synthetic": SYN_COLOUR})
            + '<div class="plots">'
            + "".join(plots)
            + "</div>"
        )
    moves = b.get("category_transitions", {})
    if moves:
        body += (
            "<h3>Category transitions (share of next events by category; rows: current)</h3>"
            + heatmap_pair(moves["real"], moves["synthetic"], "category transitions")
            + "<p>Rows and columns: the real users' most frequent categories, "
            "most frequent first, then all other categories; darker is a larger share.</p>"
        )
    copies = b.get("copied_runs", {})
    if copies:
        crows = [
            [
                _e(n),
                fmt(c["synthetic_share"]),
                fmt(c["holdout_share"]),
                fmt(c["synthetic_users"]),
                fmt(c["holdout_users"]),
            ]
            for n, c in copies.items()
        ]
        body += "<h3>Runs of n items copied from a training user</h3>" + _table(
            ["n", "synthetic share", "holdout share", "synthetic users", "holdout users"], crows
        )
    return _section("behaviour", "Behaviour: synthetic users' events", body)


def _training(m: dict[str, Any]) -> str:
    t = m.get("training", {})
    history = t.get("history", [])
    series: dict[str, list[float]] = {}
    for entry in history:
        for name, value in entry.get("losses", {}).items():
            series.setdefault(name, []).append(value)
    body = (
        f"<p>{fmt(t.get('epochs'))} epochs ({_e(t.get('backend'))}); each curve scaled to "
        "its own range.</p>"
        + curves(series, "loss curves")
        + _legend(
            {
                n: c
                for n, c in zip(
                    series, ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b2"], strict=False
                )
            }
        )
        + _table(["", "value"], [[_e(k), fmt(v)] for k, v in t.get("metrics", {}).items()])
    )
    return _section("training", "Training", body)


def _accounting(m: dict[str, Any]) -> str:
    filt = m.get("evaluate", {}).get("filtering", {})
    rows = [["raw synthetic rows", fmt(filt.get("raw_rows"))], ["kept", fmt(filt.get("kept_rows"))]]
    rows += [[f"removed: {_e(k)}", fmt(v)] for k, v in filt.get("removed", {}).items()]
    clean = m.get("cleaning", {})
    crows = [
        ["bronze rows", fmt(clean.get("bronze_rows"))],
        ["silver rows", fmt(clean.get("silver_rows"))],
    ]
    crows += [[f"quarantined: {_e(k)}", fmt(v)] for k, v in clean.get("quarantined", {}).items()]
    crows += [[f"removed: {_e(k)}", fmt(v)] for k, v in clean.get("removed_duplicates", {}).items()]
    return _section(
        "accounting",
        "Filtering and cleaning accounting",
        "<h3>Synthetic rows</h3>"
        + _table(["", "rows"], rows)
        + "<h3>Cleaning</h3>"
        + _table(["", "rows"], crows),
    )


def render(metrics: dict[str, Any]) -> str:
    """The whole page."""
    run = metrics.get("run", {})
    title = f"Synthesis report: {run.get('run_id', '')}"
    body = "".join(
        [
            f"<h1>{_e(title)}</h1><p>Model {_e(run.get('model_id'))} of table "
            f"{_e(run.get('table'))}. All numbers: metrics.json next to this file.</p>",
            _verdict(metrics),
            _recommend(metrics),
            _utility_privacy(metrics),
            _fidelity(metrics),
            _behaviour(metrics),
            _training(metrics),
            _accounting(metrics),
        ]
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}'
        f"</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


# -- self-check: every number on the page is a number of metrics.json ----------------------------
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


class _Text(HTMLParser):
    """The page's text nodes (style content left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_style = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False

    def handle_data(self, data: str) -> None:
        if not self.in_style:
            self.parts.append(data)


def allowed_numbers(value: object, out: set[str] | None = None) -> set[str]:
    """Every number of ``value`` (metrics.json) as the page prints it, plus numbers in strings."""
    out = set() if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(NUMBER.findall(str(k)))
            allowed_numbers(v, out)
    elif isinstance(value, list):
        for v in value:
            allowed_numbers(v, out)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int | float):
        out.add(fmt(value))
    else:
        out.update(NUMBER.findall(str(value)))
    return out


def page_numbers(page: str) -> list[str]:
    """The numbers in the page's text."""
    parser = _Text()
    parser.feed(page)
    return NUMBER.findall(" ".join(parser.parts))


def stray_numbers(page: str, metrics: dict[str, Any]) -> list[str]:
    """Numbers on ``page`` that ``metrics`` does not hold (empty: the page is traceable)."""
    return sorted(set(page_numbers(page)) - allowed_numbers(metrics))
