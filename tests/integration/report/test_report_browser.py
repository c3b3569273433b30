"""report.html in a real browser (headless Chromium): it renders, and it fits the page.

The product page has no script. The layout check runs on a temporary copy with one appended
script, which writes the boxes of every chart (``svg``), every table box (``.tbl``) and the page's
width into the DOM; ``--dump-dom`` prints that DOM after the page has loaded. The screenshot is
decoded here (PNG: zlib and the five row filters) to check that it shows a page, not one colour.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synth.report.html import render, stray_numbers
from tests.unit.report.factories import make_metrics

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed: apt-get install chromium"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
VERDICT_BACKGROUND = (0xEE, 0xF4, 0xFB)  # .verdict in synth/report/html.py's CSS
# Appended to the temporary copy only: the boxes as JSON in a <pre id="layout">.
MEASURE = """<script>
const r = (e) => { const b = e.getBoundingClientRect();
  return {left: b.left, right: b.right, width: b.width, height: b.height,
          scroll: e.scrollWidth, client: e.clientWidth, children: e.childElementCount}; };
const out = {page: document.documentElement.clientWidth,
             scroll: document.documentElement.scrollWidth,
             svg: [...document.querySelectorAll("svg")].map(r),
             tbl: [...document.querySelectorAll(".tbl")].map(r),
             rows: [...document.querySelectorAll(".tbl table")].map((t) => t.rows.length)};
const pre = document.createElement("pre"); pre.id = "layout";
pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
</script>"""


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    metrics = make_metrics()
    text = render(metrics)
    assert stray_numbers(text, metrics) == []
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(text, encoding="utf-8")
    return path


def _layout(page: Path, width: int) -> dict[str, Any]:
    probe = page.with_name(f"layout-{width}.html")
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), "utf-8"
    )
    dom = _chromium(f"--window-size={width},2000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    layout: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return layout


@pytest.mark.parametrize("width", [1280, 480])
def test_every_chart_and_table_box_fits_the_page(page, width):
    layout = _layout(page, width)
    wide = layout["page"]
    # Assert: the page itself does not scroll sideways
    assert layout["scroll"] <= wide, layout["scroll"]
    assert len(layout["svg"]) == 16 and len(layout["tbl"]) >= 10
    # every chart and every table box lies inside the page, and is not empty
    for kind in ("svg", "tbl"):
        for i, box in enumerate(layout[kind]):
            where = f"{kind} {i}: {box}"
            assert box["left"] >= 0 and box["right"] <= wide + 0.5, where
            assert box["width"] > 20 and box["height"] > 10 and box["children"] > 0, where
    assert all(rows >= 1 for rows in layout["rows"])
    # a wide table scrolls inside its box (All metrics: 11 columns), not the page
    if width < 1000:
        assert any(box["scroll"] > box["client"] for box in layout["tbl"])


def _png_rows(data: bytes, rows: int) -> tuple[tuple[int, int], np.ndarray]:
    """The size of a PNG (8-bit RGB or RGBA, not interlaced) and its first ``rows`` rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, head = 8, [], b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            head = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + n
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8)
    raw = raw.reshape(height, width * bpp + 1)[:rows]
    out = np.zeros((len(raw), width * bpp), np.uint8)
    prev = np.zeros(width * bpp, np.int64)
    for y, line in enumerate(raw):
        kind, row = int(line[0]), line[1:].astype(np.int64)
        if kind == 0:  # None
            cur = row
        elif kind == 1:  # Sub: a running sum along the row, per channel
            cur = np.cumsum(row.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            cur = (row + prev) % 256
        else:  # Average, Paeth: each byte needs the one left of it, decoded
            got, up = [0] * len(row), prev.tolist()
            for i, x in enumerate(row.tolist()):
                a = got[i - bpp] if i >= bpp else 0
                b, c = up[i], up[i - bpp] if i >= bpp else 0
                if kind == 3:
                    guess = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    guess = a if pa <= pb and pa <= pc else b if pb <= pc else c
                got[i] = (x + guess) % 256
            cur = np.array(got, np.int64)
        out[y], prev = cur, cur
    return (width, height), out.reshape(len(raw), width, bpp)[:, :, :3]


def test_screenshot_shows_the_page(page):
    shot = page.with_name("report.png")
    # Run
    _chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    # Assert: a 1280 x 2000 PNG whose top (title, verdict box) holds text on white and the
    # verdict box's background: more than one colour
    data = shot.read_bytes()
    assert len(data) > 10_000
    size, top = _png_rows(data, 500)
    assert size == (1280, 2000)
    colours = {tuple(int(v) for v in p) for p in np.unique(top.reshape(-1, 3), axis=0)}
    assert len(colours) > 20
    assert (255, 255, 255) in colours and VERDICT_BACKGROUND in colours
    assert any(max(c) < 90 for c in colours)  # dark text
