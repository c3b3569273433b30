"""``report.html``: one self-contained page rendered from ``metrics.json`` alone.

Inline CSS and SVG, no scripts, no external files; every number on it is a number of that file.

Order: the verdict first (did synthesis help, for whom, against which baseline, how sure) and
the targets (one minute to read), then recommendation results per model, variant and segment
with seed error bars, interest prediction, utility, privacy, fidelity plots (marginals, pair
correlations), behaviour, training loss curves, filtering and cleaning.

Charts are SVG with a ``viewBox`` (they shrink to the page width), axes, a legend and value
labels; tables scroll sideways inside their own box. Value labels are metrics.json numbers
printed with :func:`fmt`. Axis tick labels are the one derived kind of number on the page: an
axis is a ``<g class="axis" data-hi=".." [data-lo=".."]>`` whose ends are metrics.json numbers
(``data-lo`` absent: 0, a bar's baseline) and whose ``<text class="tick">`` labels are exactly
:func:`nice_ticks` of those ends; :func:`stray_numbers` recomputes them (see there).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

VARIANT_COLOURS = {"real": "#4c72b0", "fused": "#dd8452", "synthetic": "#55a868"}
REAL_COLOUR, SYN_COLOUR = "#4c72b0", "#dd8452"
SERIES_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b2")
INK, GRID = "#444", "#e3e3e3"
SCALE = 1.2  # an SVG is drawn this much larger than its viewBox (and shrinks to its box)
TICKS = 4  # about this many tick intervals per axis (nice_ticks)
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;
color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}
.tbl{overflow-x:auto;max-width:100%;margin:.6em 0}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right;
white-space:nowrap}th{background:#f4f4f4}td.l,th.l{text-align:left;white-space:normal}
svg{display:block;max-width:100%;height:auto}
.verdict{padding:.6em 1em;border-radius:6px;background:#eef4fb;max-width:100%}
.verdict .answer{font-size:1.3em;font-weight:600;margin:.3em 0}
.verdict ul{margin:.4em 0;padding-left:1.2em}.verdict li{margin:.25em 0}
.met{color:#1a7f37;font-weight:600}.missed{color:#b42318;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}
.plot{font-size:.85em;min-width:0;max-width:100%}.plot b{display:block;margin-bottom:.2em}
.note{color:#555;font-size:.9em}
"""


def fmt(value: object) -> str:
    """How every number is printed: 3 significant digits (the number check formats the same).

    Integers (and whole floats) in full; other numbers of at least 1000 rounded to a whole
    number rather than written in exponent form; ``None`` and non-finite numbers ``n/a``.
    """
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
        if 1e3 <= abs(value) < 1e15:
            return f"{value:.0f}"
        return f"{value:.3g}"
    return html.escape(str(value))


def _signed(value: object) -> str:
    """``fmt`` with a ``+`` on positive numbers (a lift)."""
    shown = fmt(value)
    return f"+{shown}" if isinstance(value, int | float) and value > 0 else shown


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A table in its own box, which scrolls sideways when the table is wider than the page."""
    head = "".join(f'<th class="{"l" if i < left else ""}">{h}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<div class="tbl"><table><tr>{head}</tr>{body}</table></div>'


# -- charts --------------------------------------------------------------------------------------
def nice_ticks(lo: float, hi: float, count: int = TICKS) -> list[float]:
    """Round tick values on ``[lo, hi]``: the multiples of a 1, 2, 2.5 or 5 × 10^n step inside it.

    The step is the smallest such number of at least ``(hi - lo) / count``. A function of ``lo``
    and ``hi`` alone, so the number check recomputes an axis's ticks from its declared ends.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw * (1 - 1e-9))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [float(f"{k * step:.12g}") + 0.0 for k in range(first, last + 1)]


@dataclass(frozen=True)
class _Axis:
    """A value axis: its declared ends (metrics.json numbers as printed) and its ticks."""

    hi: str
    lo: str | None = None
    ticks: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, hi: float, lo: float | None = None) -> _Axis:
        """The axis from 0 (or ``lo``) to ``hi``, both numbers of metrics.json."""
        hi_s, lo_s = fmt(hi), None if lo is None else fmt(lo)
        return cls(hi_s, lo_s, nice_ticks(0.0 if lo_s is None else float(lo_s), float(hi_s)))

    def span(self, lo: float, hi: float) -> tuple[float, float]:
        """The drawn range: the data's and the ticks' (never empty)."""
        lo, hi = min([lo, *self.ticks]), max([hi, *self.ticks])
        return (lo, hi) if hi > lo else (lo, lo + 1.0)

    def group(self, body: str) -> str:
        """The axis's SVG group (``body``: its lines and ``tick`` labels)."""
        lo = "" if self.lo is None else f' data-lo="{self.lo}"'
        return f'<g class="axis" data-hi="{self.hi}"{lo}>{body}</g>'


def _text(
    x: float, y: float, text: str, *, size: float = 10, anchor: str = "start", **attrs: str
) -> str:
    more = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" text-anchor="{anchor}" '
        f'fill="{INK}"{more}>{text}</text>'
    )


def _swatches(items: dict[str, str], x: float, y: float) -> tuple[str, float]:
    """A legend row at ``(x, y)``: coloured squares and names; also its width."""
    parts = []
    for name, colour in items.items():
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}" '
            'stroke="#999" stroke-width="0.5"/>'
        )
        parts.append(_text(x + 14, y, _e(name), size=10.5))
        x += 14 + 6.5 * len(str(name)) + 14
    return "".join(parts), x


def _svg(width: float, height: float, body: str, label: str) -> str:
    """An SVG that keeps its aspect ratio and shrinks to the width of its box."""
    w, h = math.ceil(width), math.ceil(height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{round(w * SCALE)}" '
        f'height="{round(h * SCALE)}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="{_e(label)}">'
        f"<title>{_e(label)}</title>{body}</svg>"
    )


def error_bars(
    groups: dict[str, dict[str, tuple[float | None, float | None]]],
    label: str,
    *,
    axis_title: str = "",
) -> str:
    """Horizontal bars (mean) with whiskers (± one standard deviation) per group and variant.

    Each bar is labelled ``mean ± std``; the x axis runs from 0 to the largest mean (a negative
    smallest mean, if any, extends it to the left); a legend names the variants' colours.
    """
    rows = [
        (g, v, float(m), float(s) if s is not None and math.isfinite(s) else 0.0)
        for g, by in groups.items()
        for v, (m, s) in by.items()
        if m is not None and math.isfinite(m)
    ]
    if not rows:
        return ""
    means = [m for _, _, m, _ in rows]
    smallest = min(means)
    axis = _Axis.of(max(means), smallest if smallest < 0 else None)
    lo, hi = axis.span(min(0.0, *(m - s for _, _, m, s in rows)), max(m + s for _, _, m, s in rows))
    name_w = 8 + 6.5 * max(len(str(g)) for g in groups)
    left, width, value_w = max(70.0, name_w), 250.0, 115.0
    bar_h, top = 13.0, 26.0

    def x(v: float) -> float:
        return left + width * (v - lo) / (hi - lo)

    order = list(VARIANT_COLOURS)
    rows.sort(key=lambda r: order.index(r[1]) if r[1] in order else len(order))
    variants = list(dict.fromkeys(v for _, v, _, _ in rows))
    legend, _ = _swatches({v: VARIANT_COLOURS.get(v, "#888") for v in variants}, left, 14)
    parts, y = [legend], top
    for group in groups:
        mine = [r for r in rows if r[0] == group]
        if not mine:
            continue
        parts.append(
            _text(left - 6, y + bar_h * len(mine) / 2 + 4, _e(group), size=11, anchor="end")
        )
        for _, v, m, s in mine:
            x0, x1 = x(min(0.0, m)), x(max(0.0, m))
            parts.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 0.5):.1f}" '
                f'height="{bar_h - 2:.1f}" fill="{VARIANT_COLOURS.get(v, "#888")}">'
                f"<title>{_e(v)}: {fmt(m)} ± {fmt(s)}</title></rect>"
            )
            mid = y + (bar_h - 2) / 2
            if s:
                parts.append(
                    f'<line x1="{x(m - s):.1f}" x2="{x(m + s):.1f}" y1="{mid:.1f}" '
                    f'y2="{mid:.1f}" stroke="#000" stroke-width="1.2"/>'
                )
            parts.append(
                _text(x(max(m + s, m, 0.0)) + 4, mid + 3.5, f"{fmt(m)} ± {fmt(s)}", size=9.5)
            )
            y += bar_h
        y += 8
    ticks = "".join(
        f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 4:.1f}" y2="{y + 3:.1f}" '
        f'stroke="{GRID}"/>' + _text(x(t), y + 15, fmt(t), size=9.5, anchor="middle", class_="tick")
        for t in axis.ticks
    )
    grid = axis.group(
        ticks + f'<line x1="{left:.1f}" x2="{left + width:.1f}" y1="{y + 3:.1f}" '
        f'y2="{y + 3:.1f}" stroke="{INK}"/>'
    )
    title = _text(left + width / 2, y + 31, _e(axis_title), size=10, anchor="middle")
    # the grid goes under the bars: first in the drawing order
    return _svg(left + width + value_w, y + 38, grid + "".join(parts) + title, label)


def bars(
    real: Sequence[float],
    synthetic: Sequence[float],
    label: str,
    *,
    labels: Sequence[str] | None = None,
    unit: str = "share",
) -> str:
    """Grouped bars of real and synthetic shares per bin or category, each bar labelled.

    ``labels`` name the bins (x axis); the y axis runs from 0 to the largest share.
    """
    n = len(real)
    if n == 0:
        return ""
    values = [float(v) for v in (*real, *synthetic) if v is not None and math.isfinite(v)]
    if not values:
        return ""
    axis = _Axis.of(max(values))
    lo, hi = axis.span(0.0, max(values))
    names = [str(t) for t in (labels or [])][:n]
    longest = max((len(t) for t in names), default=0)
    bar_w, gap = 11.0, 8.0
    group = 2 * bar_w + gap
    rotate = longest * 6.0 > group
    label_h = longest * 6.0 * 0.7 if rotate else 12.0
    left = max(58.0, longest * 6.0 * 0.75 - group / 2 + 6) if rotate else 58.0
    top, plot_h = 58.0, 130.0
    plot_w = max(150.0, n * group)
    base = top + plot_h

    def y(v: float) -> float:
        return base - plot_h * (v - lo) / (hi - lo)

    legend, legend_end = _swatches({"real": REAL_COLOUR, "synthetic": SYN_COLOUR}, left, 14)
    parts = [legend]
    for i in range(n):
        gx = left + i * group + gap / 2
        for j, (v, colour) in enumerate(((real[i], REAL_COLOUR), (synthetic[i], SYN_COLOUR))):
            if v is None or not math.isfinite(v):
                continue
            bx, top_y = gx + j * bar_w, y(max(float(v), 0.0))
            parts.append(
                f'<rect x="{bx:.1f}" y="{top_y:.1f}" width="{bar_w - 1:.1f}" '
                f'height="{max(base - top_y, 0.0):.1f}" fill="{colour}"/>'
            )
            cx = bx + bar_w / 2 + 3
            parts.append(
                _text(
                    cx,
                    top_y - 3,
                    fmt(v),
                    size=8.5,
                    transform=f"rotate(-90 {cx:.1f} {top_y - 3:.1f})",
                )
            )
        if i < len(names):
            cx, ty = gx + bar_w, base + 13
            turn = {"transform": f"rotate(-40 {cx:.1f} {ty:.1f})"} if rotate else {}
            parts.append(
                _text(cx, ty, _e(names[i]), size=9.5, anchor="end" if rotate else "middle", **turn)
            )
    ticks = "".join(
        f'<line x1="{left - 4:.1f}" x2="{left + plot_w:.1f}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
        f'stroke="{GRID}"/>'
        + _text(left - 7, y(t) + 3.5, fmt(t), size=9.5, anchor="end", class_="tick")
        for t in axis.ticks
    )
    frame = (
        f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top - 6:.1f}" y2="{base:.1f}" stroke="{INK}"/>'
        f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{base:.1f}" y2="{base:.1f}" '
        f'stroke="{INK}"/>'
    )
    unit_label = _text(left + plot_w, 14, _e(unit), size=9.5, anchor="end", font_style="italic")
    if legend_end + 6.5 * len(unit) > left + plot_w:  # no room beside the legend: under it
        unit_label = _text(left, 30, _e(unit), size=9.5, font_style="italic")
    return _svg(
        left + plot_w + 10,
        base + label_h + 10,
        axis.group(ticks) + frame + "".join(parts) + unit_label,
        label,
    )


def heatmap(
    matrix: Sequence[Sequence[float | None]],
    label: str,
    *,
    names: Sequence[str] | None = None,
    signed: bool = True,
) -> str:
    """A matrix as coloured cells, each labelled with its value; a colour key under it.

    ``signed``: blue negative, white 0, red positive (correlations); otherwise white 0 to red at
    1 (shares). ``names`` label the rows and the columns.
    """
    n = len(matrix)
    if n == 0:
        return ""
    shown = [[fmt(v) for v in row] for row in matrix]
    longest = max(len(s) for row in shown for s in row)
    size = 9.0 if n <= 12 else 8.0
    cell_h = float(max(size + 8, min(40, 520 // n)))
    cell_w = max(cell_h, 0.6 * size * longest + 6)  # wide enough for the value labels
    heads = [str(t) for t in (names or [])][:n]
    name_w = 6.0 * max((len(t) for t in heads), default=0)
    left, top = name_w + 6, name_w * 0.71 + 6  # column names are turned by 45 degrees
    parts = []
    for i, row in enumerate(matrix):
        for j, raw in enumerate(row):
            v = 0.0 if raw is None or not math.isfinite(raw) else max(-1.0, min(1.0, float(raw)))
            fade = 1 - abs(v)
            r, g, b = (
                (255, int(255 * fade), int(255 * fade))
                if v >= 0
                else (int(255 * fade), int(255 * fade), 255)
            )
            x, y = left + j * cell_w, top + i * cell_h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell_w:.1f}" height="{cell_h:.1f}" '
                f'fill="rgb({r},{g},{b})" stroke="#fff" stroke-width="0.5"/>'
            )
            ink = "#fff" if abs(v) > 0.55 else "#222"
            parts.append(
                f'<text x="{x + cell_w / 2:.1f}" y="{y + cell_h / 2 + size / 3:.1f}" '
                f'font-size="{size:.1f}" text-anchor="middle" fill="{ink}">{shown[i][j]}</text>'
            )
    for k, name in enumerate(heads):
        parts.append(_text(left - 4, top + (k + 0.5) * cell_h + 3.5, _e(name), anchor="end"))
        cx = left + (k + 0.5) * cell_w
        parts.append(_text(cx, top - 4, _e(name), transform=f"rotate(-45 {cx:.1f} {top - 4:.1f})"))
    key = (
        {"negative": "rgb(60,60,255)", "none": "#fff", "positive": "rgb(255,60,60)"}
        if signed
        else {"none": "#fff", "half": "rgb(255,128,128)", "all": "rgb(255,0,0)"}
    )
    bottom = top + n * cell_h
    legend, end = _swatches(key, left, bottom + 18)
    width = max(left + n * cell_w + name_w * 0.71 + 6, end)
    return _svg(width, bottom + 26, "".join(parts) + legend, label)


def heatmap_pair(
    real: Sequence[Sequence[float | None]],
    synthetic: Sequence[Sequence[float | None]],
    what: str,
    *,
    names: Sequence[str] | None = None,
    signed: bool = True,
) -> str:
    """Real and synthetic matrices side by side (under each other on a narrow page)."""
    return (
        '<div class="plots"><div class="plot"><b>real</b>'
        + heatmap(real, f"real {what}", names=names, signed=signed)
        + '</div><div class="plot"><b>synthetic</b>'
        + heatmap(synthetic, f"synthetic {what}", names=names, signed=signed)
        + "</div></div>"
    )


def curves(
    series: Mapping[str, Sequence[float | None]], label: str, *, epochs: Sequence[object] = ()
) -> str:
    """One small chart per loss curve over epochs, each on its own y axis (min to max)."""
    charts = []
    for n, (name, values) in enumerate(series.items()):
        vals = [float(v) for v in values if v is not None and math.isfinite(v)]
        if len(vals) < 2:
            continue
        shown = [e for e in epochs if isinstance(e, int | float) and not isinstance(e, bool)]
        chart = _curve(name, vals, SERIES_COLOURS[n % len(SERIES_COLOURS)], shown, label)
        charts.append(f'<div class="plot">{chart}</div>')
    return '<div class="plots">' + "".join(charts) + "</div>" if charts else ""


def _curve(name: str, vals: list[float], colour: str, epochs: list[Any], label: str) -> str:
    """One loss curve: y ticks from its minimum to its maximum, first and last value labelled."""
    axis = _Axis.of(max(vals), min(vals))
    lo, hi = axis.span(min(vals), max(vals))
    left, top, w, h = 58.0, 38.0, 260.0, 110.0

    def x(i: int) -> float:
        return left + w * i / (len(vals) - 1)

    def y(v: float) -> float:
        return top + h - h * (v - lo) / (hi - lo)

    pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
    ticks = "".join(
        f'<line x1="{left - 4:.1f}" x2="{left + w:.1f}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
        f'stroke="{GRID}"/>'
        + _text(left - 7, y(t) + 3.5, fmt(t), size=9.5, anchor="end", class_="tick")
        for t in axis.ticks
    )
    legend, _ = _swatches({name: colour}, left, 14)
    ends = _text(x(0) + 4, y(vals[0]) - 5, fmt(vals[0]), size=9) + _text(
        x(len(vals) - 1) - 2, y(vals[-1]) - 5, fmt(vals[-1]), size=9, anchor="end"
    )
    axis_x = _text(left + w / 2, top + h + 28, "epoch", size=10, anchor="middle")
    if len(epochs) == len(vals):
        axis_x += _text(left, top + h + 14, fmt(epochs[0]), size=9.5, anchor="middle")
        axis_x += _text(left + w, top + h + 14, fmt(epochs[-1]), size=9.5, anchor="middle")
    frame = _frame(left, top, w, h)
    line = (
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}">'
        f"<title>{_e(name)}</title></polyline>"
    )
    body = axis.group(ticks) + frame + line + legend + ends + axis_x
    return _svg(left + w + 12, top + h + 36, body, f"{label}: {name}")


def _frame(left: float, top: float, w: float, h: float) -> str:
    """A chart's left and bottom axis lines."""
    return (
        f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top:.1f}" y2="{top + h:.1f}" '
        f'stroke="{INK}"/><line x1="{left:.1f}" x2="{left + w:.1f}" y1="{top + h:.1f}" '
        f'y2="{top + h:.1f}" stroke="{INK}"/>'
    )


# -- sections ------------------------------------------------------------------------------------
def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{_e(title)}</h2>{body}</section>'


# How sure, in words, per paired verdict; {alpha}: the significance level of the test.
_SURE: dict[str, str] = {
    "better": "larger than the seed spread",
    "worse": "larger than the seed spread",
    "no lift": "within the seed spread: no lift",
}
_SEGMENT_NAMES = {"all": "All users", "cold": "Cold / sparse users"}
_SEGMENT_USERS = {"all": "test_users", "cold": "test_cold_users"}


def _how_sure(c: dict[str, Any], alpha: object) -> str:
    """The paired comparison's verdict and certainty in words."""
    word = str(c.get("verdict", ""))
    text = f"<b>{_e(word)}</b>: {_e(_SURE.get(word, word))}"
    if word in ("better", "worse") and c.get("significant") is not None and alpha is not None:
        text += (
            f", and p is below {fmt(alpha)}"
            if c["significant"]
            else f", but p is not below {fmt(alpha)} (not sure)"
        )
    return text


def _comparison(c: dict[str, Any], seeds: object, alpha: object) -> str:
    return (
        f"{fmt(c.get('fused_mean'))} against {fmt(c.get('real_mean'))}: lift "
        f"{_signed(c.get('lift'))} ({_signed(c.get('lift_pct'))}%), seed spread "
        f"{fmt(c.get('spread'))}, p = {fmt(c.get('p_value'))} (paired t-test over "
        f"{fmt(seeds)} seeds). {_how_sure(c, alpha)}."
    )


def _verdict_lines(m: dict[str, Any]) -> str:
    """Baseline, lift for all and cold users, the best model with synthetic data."""
    v = m.get("verdict", {})
    base = v.get("baseline")
    if not base:
        return ""
    metric = _e(str(v.get("metric", "")).upper())
    data = m.get("recommend", {}).get("data", {})
    others = ", ".join(
        f"{_e(name)} {fmt(mean)}" for name, mean in base["ranking"].items() if name != base["model"]
    )
    lines = [
        f"<li><b>Baseline</b>: <b>{_e(base['model'])}</b> trained on real data only, the "
        f"strongest real-only model for all users: {metric} {fmt(base['mean'])} ± "
        f"{fmt(base['std'])}" + (f" (others: {others})" if others else "") + ".</li>"
    ]
    for seg, c in v.get("lift", {}).items():
        users = data.get(_SEGMENT_USERS.get(seg, ""))
        who = _e(_SEGMENT_NAMES.get(seg, f"{seg} users"))
        count = f" ({fmt(users)})" if users is not None else ""
        lines.append(
            f"<li><b>{who}</b>{count}: {_e(base['model'])} with synthetic data "
            + _comparison(c, v.get("seeds"), v.get("alpha"))
            + "</li>"
        )
    best = v.get("best_fused", {})
    if best and best.get("model") != base["model"]:
        for seg, c in best.items():
            if seg == "model":
                continue
            who = _e(_SEGMENT_NAMES.get(seg, f"{seg} users")).lower()
            lines.append(
                f"<li><b>Best with synthetic data</b> ({who}): <b>{_e(best['model'])}</b> "
                f"real + synthetic against the baseline: "
                + _comparison(c, v.get("seeds"), v.get("alpha"))
                + "</li>"
            )
    return "<ul>" + "".join(lines) + "</ul>"


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
    answer = v.get("answer") or v.get("headline", "")
    box = f'<div class="verdict"><p class="answer">Did synthesis help? {_e(answer)}</p>'
    box += _verdict_lines(m)
    if v.get("answer") and v.get("headline"):
        box += f'<p class="note">Every model: {_e(v["headline"])}</p>'
    box += "</div>"
    chart = ""
    base = v.get("baseline")
    rec = m.get("recommend", {})
    if base and rec.get("results"):
        metric = str(v.get("metric", ""))
        segs = rec["results"].get(base["model"], {})
        groups: dict[str, dict[str, tuple[float | None, float | None]]] = {}
        for variant in ("real", "fused"):
            for seg in v.get("lift", {}):
                cell = segs.get(variant, {}).get(seg, {}).get(metric, {})
                groups.setdefault(seg, {})[variant] = (cell.get("mean"), cell.get("std"))
        drawn = error_bars(groups, f"{base['model']} {metric}", axis_title=_axis_title(metric))
        if drawn:
            chart = (
                f'<div class="plot"><b>{_e(base["model"])}: real only vs real + synthetic</b>'
                f"{drawn}</div>"
            )
    body = (
        box
        + chart
        + f"<p>Targets met: {fmt(met)} of {fmt(total)}.</p>"
        + _table(["target", "measured", "target value", ""], rows)
    )
    return _section("verdict", "Verdict", body)


def _axis_title(metric: str) -> str:
    """The error bars' x axis: the metric, mean over seeds, whisker one seed std."""
    return f"{metric.upper()} (mean over seeds; whisker: ± one seed standard deviation)"


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
                    _signed(c["lift_pct"]),
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
    metric = f"ndcg@{k[0]}"
    for model, by_variant in rec.get("results", {}).items():
        groups: dict[str, dict[str, tuple[float | None, float | None]]] = {}
        for variant, segs in by_variant.items():
            for seg, metrics in segs.items():
                cell = metrics.get(metric, {})
                groups.setdefault(seg, {})[variant] = (cell.get("mean"), cell.get("std"))
        plots.append(
            f'<div class="plot"><b>{_e(model)}: NDCG@{fmt(k[0])} by segment</b>'
            + error_bars(groups, f"{model} NDCG", axis_title=_axis_title(metric))
            + "</div>"
        )
    parts.append('<div class="plots">' + "".join(plots) + "</div>")
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


def _bin_labels(mg: dict[str, Any]) -> list[str]:
    """A marginal's bin names: its own labels (categories, count bins) or its edge ranges."""
    if mg["kind"] == "categorical":
        return [*map(str, mg["labels"]), "other"]
    if "labels" in mg:
        return [str(x) for x in mg["labels"]]
    edges = mg.get("edges", [])
    return [f"{fmt(a)}–{fmt(b)}" for a, b in zip(edges, edges[1:], strict=False)]


_MARGINAL_NOTES = {
    "categorical": "the real sample's most frequent categories, then all others",
    "count": "counts: integer bins (a range a-b holds a, ..., b)",
    "numeric": "bins on the real sample's deciles",
    "datetime (days)": "days since the Unix epoch, bins on the real sample's deciles",
}


def _fidelity(m: dict[str, Any]) -> str:
    f = m.get("evaluate", {}).get("fidelity", {})
    if not f:
        return _section("fidelity", "Fidelity", "<p>Not measured.</p>")
    parts = [
        f"<p>Quality {fmt(f['quality'])} (column shapes {fmt(f['column_shapes'])}, pair "
        f"trends {fmt(f['column_pair_trends'])}) on {fmt(f['rows'])} rows each. Bars: each bin's "
        "share of the real and of the synthetic rows; values outside the real sample's range "
        "count in the end bins.</p>",
    ]
    plots = []
    for col, mg in f.get("marginals", {}).items():
        note = _MARGINAL_NOTES.get(mg["kind"], _e(mg["kind"]))
        plots.append(
            f'<div class="plot"><b>{_e(col)}</b>'
            + bars(mg["real"], mg["synthetic"], col, labels=_bin_labels(mg), unit="share of rows")
            + f'<span class="note">{note}</span></div>'
        )
    parts.append('<div class="plots">' + "".join(plots) + "</div>")
    cols = f.get("correlation_columns", [])
    if cols:
        parts.append(
            "<h3>Pair correlations (Pearson; red positive, blue negative)</h3>"
            + heatmap_pair(
                f["correlation_real"], f["correlation_synthetic"], "correlations", names=cols
            )
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
        units = {"events_per_user": "share of users", "gap": "share of events"}
        plots = [
            f'<div class="plot"><b>{_e(titles.get(c, c))}</b>'
            + bars(d["real"], d["synthetic"], c, labels=d["labels"], unit=units.get(c, "share"))
            + "</div>"
            for c, d in shapes.items()
        ]
        body += (
            "<h3>Sequence length and gap distributions</h3>"
            + '<div class="plots">'
            + "".join(plots)
            + "</div>"
        )
    moves = b.get("category_transitions", {})
    if moves:
        body += (
            "<h3>Category transitions (share of next events by category; rows: current)</h3>"
            + heatmap_pair(moves["real"], moves["synthetic"], "category transitions", signed=False)
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
    epochs = [entry.get("epoch") for entry in history]
    body = (
        f"<p>{fmt(t.get('epochs'))} epochs ({_e(t.get('backend'))}); each loss on its own "
        "axis.</p>"
        + curves(series, "loss", epochs=epochs)
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
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}'
        f"</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


# -- self-check: every number on the page is a number of metrics.json ----------------------------
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


@dataclass
class _ShownAxis:
    """An axis as the page shows it: declared ends and tick label texts."""

    hi: str | None
    lo: str | None
    labels: list[str] = field(default_factory=list)


class _Text(HTMLParser):
    """The page's text nodes (style content left out); tick labels apart, per axis."""

    def __init__(self) -> None:
        super().__init__()
        self.in_style = False
        self.in_tick = False
        self.parts: list[str] = []
        self.axes: list[_ShownAxis] = []
        self.groups: list[_ShownAxis | None] = []  # open <g>s: the axis each one is, if any

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_style = tag == "style"
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "g":
            axis = _ShownAxis(a.get("data-hi"), a.get("data-lo")) if "axis" in classes else None
            if axis is not None:
                self.axes.append(axis)
            self.groups.append(axis)
        elif tag == "text":
            self.in_tick = "tick" in classes and self._axis() is not None

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False
        if tag == "g" and self.groups:
            self.groups.pop()
        elif tag == "text":
            self.in_tick = False

    def handle_data(self, data: str) -> None:
        axis = self._axis()
        if self.in_tick and axis is not None:
            axis.labels.append(data)
        elif not self.in_style:
            self.parts.append(data)

    def _axis(self) -> _ShownAxis | None:
        return next((g for g in reversed(self.groups) if g is not None), None)


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
    """The numbers in the page's text (tick labels included)."""
    parser = _Text()
    parser.feed(page)
    return NUMBER.findall(" ".join(parser.parts + [t for a in parser.axes for t in a.labels]))


def stray_numbers(page: str, metrics: dict[str, Any]) -> list[str]:
    """Numbers on ``page`` that ``metrics`` does not hold (empty: the page is traceable).

    Every number of the page's text must be a number of ``metrics`` as :func:`fmt` prints it,
    except the tick labels of an axis (``<text class="tick">`` in a ``<g class="axis">``). A
    tick label passes when the axis's ``data-hi`` (and ``data-lo``, if there is one; else 0) are
    numbers of ``metrics`` and the label is one of :func:`nice_ticks` of those ends as printed;
    any other tick label is stray. So an axis shows round numbers derived by that one rule from
    the data, and nothing else.
    """
    allowed = allowed_numbers(metrics)
    parser = _Text()
    parser.feed(page)
    stray = set(NUMBER.findall(" ".join(parser.parts))) - allowed
    for axis in parser.axes:
        expected: set[str] = set()
        if axis.hi in allowed and (axis.lo is None or axis.lo in allowed):
            lo = 0.0 if axis.lo is None else float(axis.lo)
            expected = {fmt(t) for t in nice_ticks(lo, float(str(axis.hi)))}
        stray.update(n for t in axis.labels for n in NUMBER.findall(t) if n not in expected)
    return sorted(stray)
