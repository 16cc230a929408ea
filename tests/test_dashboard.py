"""Dashboards: each measure against rows made here (both databases), access control, downloads, the empty state."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.charts import Series, bar_chart, column_chart, line_chart
from app.models import AuditEvent, Deadline, Incident, IncidentClause, Person, PersonFlag, User
from app.services import dashboard
from app.services.users import get_or_create_team

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def _registry(app):  # type: ignore[no-untyped-def]
    return app.extensions["breachdesk.workflows"]


def _final(app, workflow: str) -> str:  # type: ignore[no-untyped-def]
    return next(k for k, s in _registry(app).get(workflow).states.items() if s.final)


def _incident(db, workflow="problem-solving", state=None, created=NOW, closed=None, side="college", **kw) -> Incident:
    incident = Incident(reference=f"T-{uuid.uuid4().hex[:10]}", kind="reported_post", title="Test", side=side,
                        workflow_key=workflow, workflow_version="1", state=state or "reported", created_at=created,
                        state_entered_at=created, closed_at=closed, **kw)
    db.add(incident)
    db.flush()
    return incident


def _step(db, incident: Incident, at: datetime, transition: str = "step") -> None:
    db.add(AuditEvent(at=at, actor_label="test", action="incident.transition", incident_id=incident.id,
                      transition=transition, prev_hash="0" * 64, hash=uuid.uuid4().hex * 2))
    if incident.first_action_at is None or at < incident.first_action_at:  # as take_transition records it
        incident.first_action_at = at


def _deadline(db, incident: Incident, key: str, due: datetime, status: str = "running", started=None,
              finished=None) -> None:
    db.add(Deadline(incident_id=incident.id, key=key, title=key, why="test", duration="1 day",
                    calendar="england-and-wales", started_at=started or due - D, due_at=due, status=status,
                    finished_at=finished))


def _build(app, db, viewer: User, audience: str = "admin") -> dashboard.Dashboard:  # type: ignore[no-untyped-def]
    return dashboard.build(db, db.get(User, viewer.id), _registry(app), audience, NOW)


def test_each_measure_counts_the_rows_it_should(app, db, make):
    admin = make.user("admin")
    closed_state = _final(app, "problem-solving")
    contributor, officer, once = Person(name="Casey Contributor"), Person(name="Olly Officer", role="officer"), \
        Person(name="Only Once")
    db.add_all([contributor, officer, once])
    db.flush()
    a = _incident(db, created=datetime(2026, 5, 10, 9, tzinfo=UTC), closed=datetime(2026, 5, 12, 9, tzinfo=UTC),
                  state=closed_state, outcome="informal", severity="low", subject=contributor)
    b = _incident(db, created=datetime(2026, 6, 1, 9, tzinfo=UTC), closed=datetime(2026, 6, 11, 9, tzinfo=UTC),
                  state=closed_state, outcome="warning", severity="high", subject=officer)
    c = _incident(db, created=datetime(2026, 6, 2, 9, tzinfo=UTC))
    _incident(db, created=datetime(2024, 1, 1, tzinfo=UTC), closed=datetime(2026, 6, 3, tzinfo=UTC), state=closed_state)
    _incident(db, created=datetime(2025, 3, 1, tzinfo=UTC))  # before the period, still open
    _incident(db, created=datetime(2026, 6, 5, tzinfo=UTC), restricted=True)  # an admin may not read it: not counted
    _step(db, a, a.created_at + 6 * H)
    _step(db, a, a.created_at + 30 * H)  # a later step: not the first action
    _step(db, b, b.created_at + 2 * H)
    _deadline(db, c, "respond", NOW - H)  # overdue
    _deadline(db, c, "other", NOW + 3 * D)  # due this week
    _deadline(db, c, "later", NOW + 10 * D)  # neither
    _deadline(db, a, "done", NOW - 2 * D, status="met")  # finished: neither
    db.add_all([IncidentClause(incident_id=a.id, clause_key="rcr:2.8", catalogue_version="1", cited_at=a.created_at),
                IncidentClause(incident_id=b.id, clause_key="rcr:2.8", catalogue_version="1", cited_at=b.created_at),
                IncidentClause(incident_id=b.id, clause_key="rcr:2.33", catalogue_version="1", cited_at=b.created_at)])
    # Content removal: one verified after 4 hours, one not complied with (since closed), one still waiting.
    removed = _incident(db, "content-removal", "verified_removed", datetime(2026, 6, 1, 8, tzinfo=UTC),
                        closed=datetime(2026, 6, 1, 14, tzinfo=UTC))
    _deadline(db, removed, "comply", datetime(2026, 6, 2, 10, tzinfo=UTC), "met",
              started=datetime(2026, 6, 1, 10, tzinfo=UTC), finished=datetime(2026, 6, 1, 14, tzinfo=UTC))
    refused = _incident(db, "content-removal", "closed", datetime(2026, 6, 1, 8, tzinfo=UTC),
                        closed=datetime(2026, 6, 4, tzinfo=UTC))
    _step(db, refused, datetime(2026, 6, 2, tzinfo=UTC), "mark_non_compliant")
    _incident(db, "content-removal", "awaiting_compliance", datetime(2026, 6, 10, tzinfo=UTC))
    # Press: forwarded in time, forwarded late, not yet due.
    for due_at, status, finished in ((NOW - 5 * D, "met", NOW - 5 * D - H), (NOW - 4 * D, "met", NOW - 3 * D),
                                     (NOW + 2 * H, "running", None)):
        press = _incident(db, "press-referral", "approach_logged", NOW - 6 * D)
        _deadline(db, press, "forward", due_at, status, finished=finished)
    db.add_all([PersonFlag(person_id=contributor.id, incident_id=a.id, flag="upheld_breach"),
                PersonFlag(person_id=contributor.id, incident_id=b.id, flag="upheld_breach"),
                PersonFlag(person_id=once.id, incident_id=c.id, flag="upheld_breach")])
    db.commit()

    board = _build(app, db, admin)
    months = [m.key for m in board.volume.months]
    assert months[0] == "2025-07" and months[-1] == "2026-06"
    assert dict(zip(months, board.volume.opened, strict=True))["2026-05"] == 1
    # June: b, c, the three content removals and three press approaches (the restricted one is not counted).
    assert dict(zip(months, board.volume.opened, strict=True))["2026-06"] == 2 + 3 + 3
    assert sum(board.volume.opened) == 9
    closed = dict(zip(months, board.volume.closed, strict=True))
    assert closed["2026-05"] == 1 and closed["2026-06"] == 4  # b, the old one, two content removals

    states = {(s.workflow, s.state): s.count for s in board.open_states}
    assert states[("problem-solving", "reported")] == 2  # c and the old open one
    assert board.due.overdue == 1 and board.due.due_this_week == 2  # c's, and the press referral due in 2 hours

    timing = next(t for t in board.timings if t.workflow == "problem-solving")
    assert (timing.closed, timing.close_p50, timing.close_p90) == (2, 2 * 86400, 10 * 86400)
    assert (timing.acted, timing.action_p50, timing.action_p90) == (2, 2 * 3600, 6 * 3600)

    series = {s.key: s for s in board.clauses.series}
    assert series["rcr:2.8"].total == 2 and series["rcr:2.33"].total == 1
    assert series["rcr:2.8"].counts[months.index("2026-05")] == 1

    assert (board.removal.complied, board.removal.not_complied, board.removal.rate) == (1, 1, 0.5)
    assert (board.removal.removal_n, board.removal.removal_p50) == (1, 4 * 3600)
    assert (board.press.within, board.press.late, board.press.waiting, board.press.rate) == (1, 1, 1, 0.5)

    assert [(p.name, p.upheld) for p in board.repeat.people] == [("Casey Contributor", 2)]
    assert board.repeat.total == 1

    grid = {(r.clause, r.severity): r.outcomes for r in board.sanctions.by_clause}
    assert grid == {("rcr:2.8", "low"): {"informal": 1}, ("rcr:2.8", "high"): {"warning": 1},
                    ("rcr:2.33", "high"): {"warning": 1}}
    assert board.sanctions.by_role == {"officer": {"warning": 1}, "contributor": {"informal": 1}}

    header, rows = dashboard.report_rows(board, "volume")
    assert header == ["month", "opened", "closed"] and rows[-1] == ["2026-06", 8, 4]


def test_a_reps_dashboard_counts_only_the_reps_own_cases(app, db, make):
    north, south = get_or_create_team(db, "reps-north"), get_or_create_team(db, "reps-south")
    rep_north, rep_south = make.user("rep", team="reps-north"), make.user("rep", team="reps-south")
    regional = make.user("regional_officer", team="reps-north")
    for rep, team, count in ((rep_north, north, 2), (rep_south, south, 3)):
        for _ in range(count):
            incident = _incident(db, "employer-disciplinary", "referred_to_rep", NOW - 3 * D, side="union", team=team,
                                 assignee_id=rep.id)
            _deadline(db, incident, "respond", NOW - H)
    _incident(db, created=NOW - D)  # a college-side post: no rep sees it
    db.commit()

    def counts(user: User) -> tuple[int, int, int]:
        board = _build(app, db, user, "regional")
        return sum(board.volume.opened), sum(s.count for s in board.open_states), board.due.overdue

    assert counts(rep_north) == (2, 2, 2)
    assert counts(rep_south) == (3, 3, 3)
    assert counts(regional) == (2, 2, 2)  # the regional officer of the north team: only the north team's


def test_an_empty_dashboard_says_so_without_dividing_by_zero(app, db, make, client, signed_in):
    signed_in("admin")
    board = _build(app, db, db.scalar(select(User)))
    assert board.volume.empty and board.open_states == [] and board.due.overdue == 0 and board.timings == []
    assert board.removal.rate is None and board.press.rate is None and board.sanctions.empty
    page = client.get("/dashboard/admin")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Nothing opened or closed in the last twelve months yet." in html
    assert "No outcomes recorded in the period yet." in html and "<svg" not in html


def test_reports_download_as_formula_safe_csv_and_xlsx_and_are_audited(app, db, make, client, signed_in):
    from openpyxl import load_workbook

    signed_in("comms", team="communications")
    person = Person(name="=HYPERLINK(\"http://x\")")
    db.add(person)
    team = get_or_create_team(db, "communications")
    for _ in range(2):
        incident = _incident(db, created=datetime.now(UTC) - D, team=team)
        db.add(PersonFlag(person_id=person.id, incident_id=incident.id, flag="upheld_breach"))
    db.commit()
    response = client.get("/dashboard/comms/repeat.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [["person", "role", "upheld_breaches"], ["'=HYPERLINK(\"http://x\")", "contributor", "2"]]
    response = client.get("/dashboard/comms/repeat.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet.cell(2, 1).value == "'=HYPERLINK(\"http://x\")" and sheet.cell(2, 1).data_type == "s"
    exports = db.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [e.object_type for e in exports] == ["dashboard report (csv)", "dashboard report (xlsx)"]
    assert exports[0].data["filters"] == {"audience": "comms", "report": "repeat"} and exports[0].data["rows"] == 1
    assert client.get("/dashboard/comms/press.csv").status_code == 404  # not on the comms dashboard
    assert client.get("/dashboard/admin/volume.csv").status_code == 403


@pytest.mark.parametrize("role, landing", [("comms", "comms"), ("director_of_comms", "director"),
                                           ("press_office", "director"), ("rep", "regional"),
                                           ("regional_officer", "regional"), ("admin", "admin"),
                                           ("officer", None), ("contributor", None), ("auditor", None)])
def test_dashboard_picks_the_viewers_audience(client, signed_in, role, landing, request):
    if request.node.callspec.params.get("database_url") == "postgresql" and role not in ("comms", "officer"):
        pytest.skip("routing does not depend on the database; two roles suffice there")
    signed_in(role, team="communications" if role == "comms" else None)
    response = client.get("/dashboard")
    if landing is None:
        assert response.status_code == 403
    else:
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/dashboard/{landing}")
    assert client.get("/dashboard/nobody").status_code == 404


def test_the_workflow_facts_the_dashboard_reads_still_exist(app):
    registry = _registry(app)
    # Where they live: beside the running counts that read them (app.models.counts) and the audit trail's index.
    from app.models import counts as facts
    from app.models.audit import NOT_COMPLIED_TRANSITION

    removal, press = registry.get(facts.REMOVAL_WORKFLOW), registry.get(facts.PRESS_WORKFLOW)
    assert facts.REMOVED_STATE in removal.states and facts.COMPLY_DEADLINE in removal.deadlines
    assert NOT_COMPLIED_TRANSITION in removal.transitions
    assert facts.FORWARD_DEADLINE in press.deadlines


def test_months_are_uk_calendar_months():
    months = dashboard.months_to(datetime(2026, 4, 1, 0, 30, tzinfo=UTC))  # 01:30 BST on 1 April
    assert months[-1].key == "2026-04" and months[-1].start == datetime(2026, 3, 31, 23, tzinfo=UTC)
    assert months[0].key == "2025-05" and all(a.end == b.start for a, b in zip(months, months[1:], strict=False))


def test_charts_are_labelled_images_readable_without_colour():
    svgs = [column_chart("c1", "T <1>", "D", ["Jan"], [Series("A", [3]), Series("B", [0])]),
            bar_chart("c2", "T", "D", ["x & y"], [Series("A", [2.5])]),
            line_chart("c3", "T", "D", ["Jan", "Feb"], [Series("A", [1, 2]), Series("B", [0, 1])])]
    for svg in svgs:
        assert 'role="img"' in svg and "aria-labelledby=" in svg and "<title id=" in svg and "<desc id=" in svg
        assert "style=" not in svg and "<script" not in svg
    assert "T &lt;1&gt;" in svgs[0] and ">3</text>" in svgs[0]  # escaped title; the value written on the bar
    assert 'url(#c1-p1)' in svgs[0]  # the second series is patterned, not only another colour
    assert "x &amp; y" in svgs[1] and 'stroke-dasharray="6 3"' in svgs[2]


def test_number_cells_are_in_the_given_order_blank_where_missing_and_escaped():
    from app.web import number_cells

    cells = number_cells({"advice": 3, "warning": "<script>alert(1)</script>"}, ["warning", "removal", "advice"])
    assert str(cells) == ('<td class="num">&lt;script&gt;alert(1)&lt;/script&gt;</td><td class="num"></td>'
                          '<td class="num">3</td>')


def test_the_sanctions_grid_on_the_page_puts_each_count_under_its_outcome(app, db, client, signed_in):
    import re

    from app.clock import utcnow

    signed_in("admin")
    opened = utcnow() - 2 * D
    for outcome, severity in (("warning", "high"), ("warning", "high"), ("informal", "high"), ("informal", "low")):
        incident = _incident(db, created=opened, outcome=outcome, severity=severity)
        db.add(IncidentClause(incident_id=incident.id, clause_key="rcr:2.8", catalogue_version="1", cited_at=opened))
    db.commit()
    html = client.get("/dashboard/admin").get_data(as_text=True)
    table = html[html.index('data-report="sanctions"'):]
    table = table[:table.index("</table>")]
    outcomes = re.findall(r'<th scope="col">([^<]*)</th>', table)[2:-1]  # after Clause and Severity, before Total
    assert outcomes == ["Informal", "Warning"]  # most frequent first, then by name
    rows = re.findall(r'<span class="sev sev-(\w+)">.*?</td>((?:<td class="num">[^<]*</td>)+)</tr>', table, re.S)
    cells = {severity: re.findall(r'<td class="num">([^<]*)</td>', tds) for severity, tds in rows}
    assert cells == {"high": ["1", "2", "3"], "low": ["1", "", "1"]}  # informal, warning, total
