"""Charts drawn as inline SVG by the app (no JavaScript, no outside service; Flask-free).

The content security policy allows no inline styles or scripts, so everything is drawn with SVG
presentation attributes. Charts do not rely on colour: each series has its own fill pattern (solid,
hatched, dotted, …) or line dash and marker shape, every bar carries its value as text, and the
pages put the same numbers in a table. Each chart is ``role="img"`` with a <title> and <desc> that
``aria-labelledby`` points at; text is escaped here, so the result can be marked safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

INK, MUTED, GRID = "#111111", "#555555", "#c9ced6"
COLOURS = ("#1f4e79", "#b35c00", "#2e7d32", "#5a2d82", "#a4161a", "#444444")
PATTERN_NAMES = ("solid", "diagonal hatching", "dots", "cross-hatching", "horizontal lines", "vertical lines")
DASHES = ("", "6 3", "2 3", "10 3 2 3", "1 2", "12 4")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "circle")
FONT = "system-ui, sans-serif"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    labels: Sequence[str] | None = None  # the text shown for each value (default: the number)

    def label(self, i: int) -> str:
        return self.labels[i] if self.labels is not None else _number(self.values[i])


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _defs(cid: str, count: int) -> str:
    parts = []
    for i in range(min(count, len(COLOURS))):
        colour, pid = COLOURS[i], f"{cid}-p{i}"
        head = f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse"'
        if i == 0:
            body = f'{head}><rect width="6" height="6" fill="{colour}"/>'
        elif i == 1:
            body = (f'{head} patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
                    f'<rect width="3" height="6" fill="{colour}"/>')
        elif i == 2:
            body = f'{head}><rect width="6" height="6" fill="#ffffff"/><circle cx="3" cy="3" r="1.8" fill="{colour}"/>'
        elif i == 3:
            body = (f'{head}><rect width="6" height="6" fill="#ffffff"/><path d="M0 0L6 6M6 0L0 6" '
                    f'stroke="{colour}" stroke-width="1.5"/>')
        elif i == 4:
            body = f'{head}><rect width="6" height="6" fill="#ffffff"/><rect width="6" height="2.5" fill="{colour}"/>'
        else:
            body = f'{head}><rect width="6" height="6" fill="#ffffff"/><rect width="2.5" height="6" fill="{colour}"/>'
        parts.append(body + "</pattern>")
    return "<defs>" + "".join(parts) + "</defs>"


def _fill(cid: str, i: int) -> str:
    i %= len(COLOURS)
    return f'fill="url(#{cid}-p{i})" stroke="{COLOURS[i]}" stroke-width="1"'


def _frame(cid: str, title: str, desc: str, width: int, height: int, body: str, series: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_e(cid)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-labelledby="{_e(cid)}-title {_e(cid)}-desc" '
            f'font-family="{FONT}" font-size="12" fill="{INK}">'
            f'<title id="{_e(cid)}-title">{_e(title)}</title><desc id="{_e(cid)}-desc">{_e(desc)}</desc>'
            f'{_defs(_e(cid), series)}{body}</svg>')


def _legend(cid: str, series: Sequence[Series], y: float, x: float = 10) -> str:
    out, cx = [], x
    for i, s in enumerate(series):
        out.append(f'<rect x="{cx}" y="{y - 11}" width="14" height="14" {_fill(cid, i)}/>'
                   f'<text x="{cx + 20}" y="{y}">{_e(s.name)}</text>')
        cx += 36 + 7 * len(s.name)
    return "".join(out)


def _marker(i: int, x: float, y: float) -> str:
    colour, shape = COLOURS[i % 6], MARKERS[i % 6]
    if shape == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}"/>'
    if shape == "triangle":
        return (f'<path d="M{x:.1f} {y - 4.5:.1f}L{x + 4.5:.1f} {y + 3.5:.1f}L{x - 4.5:.1f} {y + 3.5:.1f}Z" '
                f'fill="{colour}"/>')
    if shape == "diamond":
        return (f'<path d="M{x:.1f} {y - 5:.1f}L{x + 5:.1f} {y:.1f}L{x:.1f} {y + 5:.1f}L{x - 5:.1f} {y:.1f}Z" '
                f'fill="{colour}"/>')
    if shape == "cross":
        return (f'<path d="M{x - 4:.1f} {y - 4:.1f}L{x + 4:.1f} {y + 4:.1f}M{x + 4:.1f} {y - 4:.1f}L{x - 4:.1f} '
                f'{y + 4:.1f}" stroke="{colour}" stroke-width="2"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{4 if i == 0 else 3}" fill="{colour if i == 0 else "#ffffff"}" ' \
           f'stroke="{colour}" stroke-width="2"/>'


def _nice_max(value: float) -> float:
    """A round top for the axis whose quarters are round too (four gridlines)."""
    if value <= 0:
        return 4
    if value <= 20:
        return float(-(-int(value) // 4) * 4 if float(value).is_integer() else (int(value) // 4 + 1) * 4)
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 4, 5, 8, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def column_chart(cid: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series],
                 width: int = 760, height: int = 300) -> str:
    """Grouped vertical bars, one group per category, the value written above each bar."""
    left, right, top, bottom = 44, 10, 36, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((v for s in series for v in s.values), default=0))
    group = plot_w / max(1, len(categories))
    bar = min(28.0, (group - 8) / max(1, len(series)))
    body = [_legend(cid, series, 18)]
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_number(value)}</text>')
    for c, category in enumerate(categories):
        x0 = left + c * group + (group - bar * len(series)) / 2
        for i, s in enumerate(series):
            value = s.values[c]
            h = plot_h * value / peak
            x, y = x0 + i * bar, top + plot_h - h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" {_fill(cid, i)}>'
                        f'<title>{_e(category)}, {_e(s.name)}: {_e(s.label(c))}</title></rect>'
                        f'<text x="{x + (bar - 2) / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">'
                        f'{_e(s.label(c))}</text>')
        body.append(f'<text x="{left + c * group + group / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                    f'{_e(category)}</text>')
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="{INK}"/>')
    return _frame(cid, title, desc, width, height, "".join(body), len(series))


def bar_chart(cid: str, title: str, desc: str, labels: Sequence[str], series: Sequence[Series],
              width: int = 760, label_width: int = 300) -> str:
    """Horizontal bars, one row per label (grouped when there are several series), each with its value."""
    row_h = 16 * len(series) + 10
    top = 30 if len(series) > 1 else 8
    height = top + row_h * len(labels) + 8
    plot_w = width - label_width - 80
    peak = max((v for s in series for v in s.values), default=0) or 1
    body = [_legend(cid, series, 18)] if len(series) > 1 else []
    for r, label in enumerate(labels):
        y0 = top + r * row_h
        text = label if len(label) <= 46 else label[:45] + "…"
        body.append(f'<text x="{label_width - 8}" y="{y0 + row_h / 2 + 2:.1f}" text-anchor="end">{_e(text)}'
                    f'<title>{_e(label)}</title></text>')
        for i, s in enumerate(series):
            w = plot_w * s.values[r] / peak
            y = y0 + 4 + i * 16
            body.append(f'<rect x="{label_width}" y="{y}" width="{max(w, 0.5):.1f}" height="13" {_fill(cid, i)}>'
                        f'<title>{_e(label)}, {_e(s.name)}: {_e(s.label(r))}</title></rect>'
                        f'<text x="{label_width + w + 5:.1f}" y="{y + 11}" font-size="11">{_e(s.label(r))}</text>')
    body.append(f'<line x1="{label_width}" y1="{top - 2}" x2="{label_width}" y2="{height - 6}" stroke="{INK}"/>')
    return _frame(cid, title, desc, width, height, "".join(body), len(series))


def line_chart(cid: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series],
               width: int = 760, height: int = 300) -> str:
    """Lines over time, each with its own dash pattern and marker shape, and a legend drawn the same way."""
    left, right, bottom = 44, 10, 40
    top = 20 + 20 * len(series)
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((v for s in series for v in s.values), default=0))
    step = plot_w / max(1, len(categories))
    body = [_legend_offset(series[i:i + 1], 18 + 20 * i, i) for i in range(len(series))]
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_number(value)}</text>')
    for c, category in enumerate(categories):
        body.append(f'<text x="{left + c * step + step / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                    f'{_e(category)}</text>')
    for i, s in enumerate(series):
        points = [(left + c * step + step / 2, top + plot_h - plot_h * v / peak) for c, v in enumerate(s.values)]
        path = " ".join(f"{'M' if n == 0 else 'L'}{x:.1f} {y:.1f}" for n, (x, y) in enumerate(points))
        body.append(f'<path d="{path}" fill="none" stroke="{COLOURS[i % 6]}" stroke-width="2" '
                    f'stroke-dasharray="{DASHES[i % 6]}"/>')
        for c, (x, y) in enumerate(points):
            body.append(f'<g>{_marker(i, x, y)}<title>{_e(categories[c])}, {_e(s.name)}: {_e(s.label(c))}</title></g>')
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="{INK}"/>')
    return _frame(cid, title, desc, width, height, "".join(body), 0)


def _legend_offset(chunk: Sequence[Series], y: float, offset: int) -> str:
    """A legend row for series ``offset``… drawn with the dash and marker of their place in the whole list."""
    out, cx = [], 10.0
    for j, s in enumerate(chunk):
        i = offset + j
        out.append(f'<line x1="{cx}" y1="{y - 4}" x2="{cx + 26}" y2="{y - 4}" stroke="{COLOURS[i % 6]}" '
                   f'stroke-width="2" stroke-dasharray="{DASHES[i % 6]}"/>{_marker(i, cx + 13, y - 4)}')
        cx += 32
        out.append(f'<text x="{cx}" y="{y}">{_e(s.name)}</text>')
        cx += 16 + 7 * len(s.name)
    return "".join(out)
