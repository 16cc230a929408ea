"""Each dashboard section drawn as a chart (app/charts.py) from the numbers app/services/dashboard.py counted."""

from __future__ import annotations

from markupsafe import Markup

from app import charts
from app.charts import Series
from app.services.dashboard import Dashboard, human_duration

OPEN_STATES_DRAWN = 15  # the busiest states drawn; the table lists every one


def _short(month_label: str) -> str:
    month, year = month_label.split()
    return f"{month} {year[2:]}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def draw(dashboard: Dashboard) -> dict[str, Markup]:
    """SVG for each section that has something to draw (an empty section gets a sentence instead)."""
    out: dict[str, str] = {}
    d = dashboard.data
    if "volume" in d and not d["volume"].empty:
        v = d["volume"]
        out["volume"] = charts.column_chart(
            "chart-volume", "Incidents opened and closed per month",
            f"Bars for the last {len(v.months)} months: opened (solid) and closed (hatched), with each count written "
            f"above its bar. {sum(v.opened)} opened and {sum(v.closed)} closed in all.",
            [_short(m.label) for m in v.months], [Series("Opened", v.opened), Series("Closed", v.closed)])
    if d.get("open_states"):
        states = d["open_states"][:OPEN_STATES_DRAWN]
        out["open_states"] = charts.bar_chart(
            "chart-open-states", "Open incidents by state",
            f"One bar per workflow state, busiest first, each labelled with its count "
            f"({sum(s.count for s in d['open_states'])} open in all).",
            [f"{s.workflow_title}: {s.state_title}" for s in states], [Series("Open", [s.count for s in states])])
    if "due" in d and d["due"].rows:
        rows = d["due"].rows
        out["due"] = charts.bar_chart(
            "chart-due", "Overdue and due this week, by workflow",
            f"Two bars per workflow: deadlines overdue (solid) and due in the next seven days (hatched); "
            f"{d['due'].overdue} overdue and {d['due'].due_this_week} due this week in all.",
            [r.workflow_title for r in rows],
            [Series("Overdue", [r.overdue for r in rows]), Series("Due this week", [r.due_this_week for r in rows])])
    if d.get("timings"):
        rows = [t for t in d["timings"] if t.close_p50 is not None]
        if rows:
            out["timings"] = charts.bar_chart(
                "chart-timings", "Time to close, median and 90th percentile",
                "Two bars per workflow: the median time to close (solid) and the 90th percentile (hatched), in days, "
                "each labelled with its time.", [t.workflow_title for t in rows],
                [Series("Median", [t.close_p50 / 86400 for t in rows], [human_duration(t.close_p50) for t in rows]),
                 Series("90th percentile", [(t.close_p90 or 0) / 86400 for t in rows],
                        [human_duration(t.close_p90) for t in rows])])
    if "clauses" in d and not d["clauses"].empty:
        c = d["clauses"]
        out["clauses"] = charts.line_chart(
            "chart-clauses", "Clauses cited per month",
            f"One line per clause, each with its own dash pattern and marker, for the {len(c.series)} most cited "
            "(others summed); the table gives every count.",
            [_short(m.label) for m in c.months], [Series(s.label, s.counts) for s in c.series])
    if "removal" in d and d["removal"].decided:
        r = d["removal"]
        out["removal"] = charts.bar_chart(
            "chart-removal", "Content removal requests: complied with or not",
            f"Two bars: removal verified ({r.complied}) and not complied with ({r.not_complied}); compliance "
            f"rate {_percent(r.rate)}.", ["Removal verified", "Not complied with"],
            [Series("Requests", [r.complied, r.not_complied])])
    if "press" in d and (d["press"].decided or d["press"].waiting):
        p = d["press"]
        out["press"] = charts.bar_chart(
            "chart-press", "Press referrals forwarded within the target",
            f"Bars for referrals forwarded within the target ({p.within}), late ({p.late}), still waiting "
            f"({p.waiting}) and closed without forwarding ({p.not_forwarded}); {_percent(p.rate)} within.",
            ["Within the target", "Late", "Waiting, not yet due", "Closed without forwarding"],
            [Series("Referrals", [p.within, p.late, p.waiting, p.not_forwarded])])
    if "repeat" in d and d["repeat"].people:
        people = d["repeat"].people
        out["repeat"] = charts.bar_chart(
            "chart-repeat", "Repeat subjects", "One bar per person with two or more upheld breaches, labelled with "
            "the number.", [f"{p.name} ({p.role})" for p in people],
            [Series("Upheld breaches", [p.upheld for p in people])])
    return {k: Markup(v) for k, v in out.items()}  # noqa: S704 - app/charts.py escapes every text it draws
