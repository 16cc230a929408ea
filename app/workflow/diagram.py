"""Draw a workflow as SVG, in-process (no external service). States sit in columns by their distance
from the initial state; every transition is an arrow labelled with its title."""

from __future__ import annotations

from collections import deque
from xml.sax.saxutils import escape

from app.workflow.definition import WorkflowDef

BOX_W, BOX_H, COL_GAP, ROW_GAP, MARGIN = 170, 46, 90, 34, 20


def _layers(definition: WorkflowDef) -> dict[str, int]:
    depth = {definition.initial: 0}
    queue = deque([definition.initial])
    while queue:
        state = queue.popleft()
        for t in definition.transitions_from(state):
            if t.to not in depth:
                depth[t.to] = depth[state] + 1
                queue.append(t.to)
    for state in definition.states:  # the loader guarantees reachability; stay total anyway
        depth.setdefault(state, max(depth.values(), default=0) + 1)
    return depth


def _wrap(text: str, width: int = 22) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    lines.append(current)
    return lines[:2]


def render_svg(definition: WorkflowDef) -> str:
    depth = _layers(definition)
    columns: dict[int, list[str]] = {}
    for state in definition.states:
        columns.setdefault(depth[state], []).append(state)
    position: dict[str, tuple[int, int]] = {}
    for col, states in columns.items():
        for row, state in enumerate(states):
            position[state] = (MARGIN + col * (BOX_W + COL_GAP), MARGIN + row * (BOX_H + ROW_GAP))
    width = MARGIN * 2 + (max(columns) + 1) * (BOX_W + COL_GAP) - COL_GAP
    height = MARGIN * 2 + max(len(s) for s in columns.values()) * (BOX_H + ROW_GAP) - ROW_GAP + 20
    title = escape(definition.title)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="wf-title wf-desc" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="workflow-diagram">',
        f'<title id="wf-title">{title}</title>',
        f'<desc id="wf-desc">{len(definition.states)} states and {len(definition.transitions)} transitions; '
        "the same information is listed in the tables below.</desc>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>',
    ]
    for t in definition.transitions.values():
        for source in t.from_states:
            x1, y1 = position[source]
            x2, y2 = position[t.to]
            if source == t.to:
                cx, cy = x1 + BOX_W // 2, y1
                parts.append(f'<path d="M {cx - 20} {cy} C {cx - 30} {cy - 28}, {cx + 30} {cy - 28}, {cx + 20} {cy}" '
                             'fill="none" stroke="#444" marker-end="url(#arrow)"><title>'
                             f"{escape(t.title)}</title></path>")
                continue
            forward = x2 > x1
            sx, sy = (x1 + BOX_W, y1 + BOX_H // 2) if forward else (x1, y1 + BOX_H // 2 + 8)
            ex, ey = (x2, y2 + BOX_H // 2) if forward else (x2 + BOX_W, y2 + BOX_H // 2 + 8)
            if x1 == x2:
                down = y2 > y1
                sx, sy = x1 + BOX_W // 2, y1 + (BOX_H if down else 0)
                ex, ey = x2 + BOX_W // 2, y2 + (0 if down else BOX_H)
            dash = "" if forward or x1 == x2 else ' stroke-dasharray="5 3"'
            parts.append(f'<line x1="{sx}" y1="{sy}" x2="{ex}" y2="{ey}" stroke="#444"{dash} '
                         f'marker-end="url(#arrow)"><title>{escape(t.title)}</title></line>')
    for key, state in definition.states.items():
        x, y = position[key]
        initial = key == definition.initial
        fill = "#e8f1fb" if initial else ("#eef7ee" if state.final else "#ffffff")
        stroke_width = 3 if state.final else 1.5
        parts.append(f'<g class="state" data-state="{escape(key)}">'
                     f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
                     f'stroke="#1f3b57" stroke-width="{stroke_width}"/>')
        lines = _wrap(state.title)
        for i, line in enumerate(lines):
            ty = y + BOX_H // 2 + 5 - (len(lines) - 1) * 8 + i * 16
            parts.append(f'<text x="{x + BOX_W // 2}" y="{ty}" text-anchor="middle" font-size="13" '
                         f'font-family="sans-serif" fill="#111">{escape(line)}</text>')
        marks = []
        if initial:
            marks.append("start")
        if state.final:
            marks.append("final")
        if state.clock_paused:
            marks.append("clock paused")
        if marks:
            parts.append(f'<text x="{x + 6}" y="{y + BOX_H + 13}" font-size="11" font-family="sans-serif" '
                         f'fill="#333">{escape(", ".join(marks))}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
