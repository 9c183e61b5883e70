"""Charts for the staff web console's figures page, drawn on the server as inline SVG: no
script, no CDN, readable when printed. Every label is escaped here."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 720
FONT = 15


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def stacked_columns(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    title: str,
    height: int = 280,
) -> Markup:
    """One column per label, stacked by series (name, colour, values); a legend on top."""
    top, bottom, left, right = 46, 34, 44, 10
    plot_h = height - top - bottom
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    peak = max([*totals, 2])
    peak += peak % 2  # even: the middle line falls on a whole number
    slot = (WIDTH - left - right) / max(len(labels), 1)
    bar = min(slot * 0.7, 60)
    parts = [_open(title, height)]
    x = left
    for name, colour, _ in series:  # legend
        parts.append(f'<rect x="{x}" y="8" width="14" height="14" fill="{colour}"/>')
        parts.append(f'<text x="{x + 20}" y="20" font-size="{FONT}">{escape(name)}</text>')
        x += 30 + FONT * max(len(name), 4)
    for tick in (0, peak / 2, peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{_fmt(y)}" y2="{_fmt(y)}"'
            ' stroke="#ccc" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{_fmt(y + 5)}" font-size="{FONT - 2}"'
            f' text-anchor="end">{tick:.0f}</text>'
        )
    for index, label in enumerate(labels):
        cx = left + slot * index + slot / 2
        y = top + plot_h
        for name, colour, values in series:
            h = plot_h * values[index] / peak
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{_fmt(cx - bar / 2)}" y="{_fmt(y)}" width="{_fmt(bar)}"'
                    f' height="{_fmt(h)}" fill="{colour}"><title>{escape(label)} {escape(name)}:'
                    f" {values[index]}</title></rect>"
                )
        parts.append(
            f'<text x="{_fmt(cx)}" y="{height - 10}" font-size="{FONT - 2}"'
            f' text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(
    rows: Sequence[tuple[str, int]], *, title: str, colour: str = "#2b6cb0", empty: str = ""
) -> Markup:
    """One bar per (label, value), longest first as given; the value written after it."""
    row_h, label_w, right = 34, 300, 60
    height = max(len(rows), 1) * row_h + 10
    parts = [_open(title, height)]
    if not rows:
        parts.append(f'<text x="0" y="24" font-size="{FONT}">{escape(empty)}</text>')
    peak = max([value for _, value in rows] + [1])
    for index, (label, value) in enumerate(rows):
        y = 5 + index * row_h
        w = (WIDTH - label_w - right) * value / peak
        short = label if len(label) <= 18 else label[:17] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 21}" font-size="{FONT}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{_fmt(max(w, 2))}" height="{row_h - 10}"'
            f' fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{_fmt(label_w + max(w, 2) + 6)}" y="{y + 21}" font-size="{FONT}">'
            f"{value}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(title: str, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
        f' width="100%" role="img" aria-label="{escape(title)}" class="chart">'
        f"<title>{escape(title)}</title>"
    )
