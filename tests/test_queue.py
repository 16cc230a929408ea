"""The triage queue: each filter, the due-date sort and its keyset pages, capped counts, bulk assign, XLSX."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app.clock import utcnow
from app.models import AuditEvent, Deadline, Incident, Person, Post, User
from app.services import queue
from app.services.incidents import OpenRequest, PostInput, open_incident
from tests.conftest import csrf_token, login

ROW_LINK = re.compile(r'<th scope="row"><a href="/incidents/(\d+)"')


def _open(app, db, actor, title, **kw):
    registry = app.extensions["breachdesk.workflows"]
    incident = open_incident(db, registry, OpenRequest(workflow_key=kw.pop("workflow", "problem-solving"),
                                                       title=title, **kw), actor=db.get(User, actor.id))
    db.commit()
    return incident.id


def _shown(client, **args):
    response = client.get("/incidents", query_string=args)
    assert response.status_code == 200, (args, response.status_code)
    return {int(i) for i in ROW_LINK.findall(response.get_data(as_text=True))}


def _deadline(db, incident_id, due, status="running", breached=False):
    db.add(Deadline(incident_id=incident_id, key=f"d{due.timestamp()}", title="Respond", why="test",
                    duration="P1D", calendar="england-and-wales", due_at=due, status=status,
                    breached_at=due if breached else None))
    db.commit()


def _clear_deadlines(db):
    for deadline in db.query(Deadline).all():
        db.delete(deadline)
    db.commit()


def test_each_filter_narrows_the_queue(client, app, db, make, signed_in):
    me = signed_in("comms", team="communications")
    other = make.user("comms", team="communications", name="Other Person")
    registry = app.extensions["breachdesk.workflows"]
    clause = next(c.key for c in registry.catalogues.all_current() if c.key == "rcr:2.8")
    subject = Person(name="Dr Example")
    db.add(subject)
    db.commit()
    plain = _open(app, db, me, "Plain", assignee=db.get(User, me.id))
    theirs = _open(app, db, me, "Theirs", assignee=db.get(User, other.id), severity="high")
    nobody = _open(app, db, me, "Nobody's")
    db.get(Incident, nobody).assignee_id = None
    with_clause = _open(app, db, me, "Cited", clauses=[clause], subject=db.get(Person, subject.id))
    on_tiktok = _open(app, db, me, "Video", post=PostInput(platform="tiktok", url="https://tiktok.com/@a/video/1",
                                                           text="a video"))
    press = _open(app, db, me, "Press", workflow="press-referral")
    _clear_deadlines(db)
    _deadline(db, plain, utcnow() - timedelta(hours=2))  # running and past due: overdue
    _deadline(db, theirs, utcnow() + timedelta(days=2))  # running, not yet due
    _deadline(db, press, utcnow() - timedelta(days=3), status="met")  # finished: never overdue
    old = db.get(Incident, press)
    old.created_at = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    closed = _open(app, db, me, "Closed")
    db.get(Incident, closed).closed_at = utcnow()
    db.get(Incident, closed).state = "closed_no_breach"
    db.commit()
    open_ids = {plain, theirs, nobody, with_clause, on_tiktok, press}

    assert _shown(client) == open_ids
    assert _shown(client, workflow="press-referral") == {press}
    assert _shown(client, state="reported") == open_ids - {press} - {i for i in open_ids
                                                                     if db.get(Incident, i).state != "reported"}
    assert _shown(client, assignee="me") == {plain}
    assert _shown(client, assignee=str(other.id)) == {theirs}
    assert nobody in _shown(client, assignee="none") and plain not in _shown(client, assignee="none")
    assert _shown(client, clause=clause) == {with_clause}
    assert _shown(client, severity="high") == {theirs}
    assert _shown(client, overdue="1") == {plain}
    assert _shown(client, platform="tiktok") == {on_tiktok}
    assert _shown(client, subject=str(subject.id)) == {with_clause}
    assert _shown(client, opened_from="01/03/2025", opened_to="31/03/2025") == {press}
    assert _shown(client, opened_from="2025-03-11") == open_ids - {press}
    assert _shown(client, status="closed") == {closed}
    assert _shown(client, status="all") == open_ids | {closed}
    # The chosen assignee and clause stay chosen in the filter form; the bulk list marks nobody.
    html = client.get("/incidents", query_string={"assignee": str(other.id)}).get_data(as_text=True)
    assert f'<option value="{other.id}" selected>Other Person</option>' in html
    assert html.count(f'<option value="{other.id}">Other Person</option>') == 1  # in the bulk list
    html = client.get("/incidents", query_string={"clause": clause}).get_data(as_text=True)
    assert re.search(rf'<option value="{re.escape(clause)}" selected>', html)
    # Filters combine, and the pager keeps them all.
    assert _shown(client, assignee="me", overdue="1", severity="high") == set()
    html = client.get("/incidents", query_string={"opened_to": "31/02/2025"}).get_data(as_text=True)
    assert "give a date as DD/MM/YYYY" in html
    assert client.get("/incidents", query_string={"opened_to": "31/02/2025"}).status_code == 400
    assert "must be on or before" in client.get(
        "/incidents", query_string={"opened_from": "02/03/2025", "opened_to": "01/03/2025"}).get_data(as_text=True)
    # Unknown values are dropped, not trusted; numbers too big for a column are ignored, never a 500.
    assert _shown(client, severity="urgent", platform="myspace", assignee="x", sort="sideways") == open_ids
    huge = "9" * 30
    assert _shown(client, assignee=huge, subject=huge, before=huge) == open_ids
    for cursor in (f"none:{huge}", f"due:2026-01-01T00:00:00+00:00~{huge}", "due:2026-01-01T00:00:00~1"):
        assert client.get("/incidents", query_string={"sort": "due", "after": cursor}).status_code == 200
    for cursor in (f"r:0.5~{huge}", "r:nan~1", "r:1e999~1", "r:x~1"):
        assert client.get("/incidents", query_string={"q": "plain", "before": cursor}).status_code == 200


def test_two_users_of_one_role_and_team_each_see_their_own_queue_through_the_shared_statement(app, db, make):
    """The newest-first page's statement (and the counts') is built once per filter and user shape; each user's id and
    team are parameters, so two reps of one team each get their own cases, and two regional officers their own team's,
    on every page, in whichever order they ask."""
    ann, bob = make.user("rep", team="reps-north"), make.user("rep", team="reps-north")
    south = make.user("rep", team="reps-south")
    theirs = {user.id: {_open(app, db, user, f"{user.email} case {n}", workflow="employer-disciplinary",
                              assignee=db.get(User, user.id)) for n in range(cases)}
              for user, cases in ((ann, 3), (bob, 4), (south, 5))}
    north_officer, south_officer = make.user("regional_officer", team="reps-north"), \
        make.user("regional_officer", team="reps-south")
    theirs[north_officer.id] = theirs[ann.id] | theirs[bob.id]  # their team's, by the team parameter
    theirs[south_officer.id] = theirs[south.id]
    for filters in (queue.QueueFilters(), queue.QueueFilters(assignee="me"), queue.QueueFilters(status="all")):
        for user in (ann, bob, south, ann, north_officer, south_officer, north_officer):
            if filters.assignee == "me" and user.role == "regional_officer":
                continue  # nothing is assigned to them
            shown, cursor, pages = set(), None, 0
            while pages == 0 or cursor:
                found = queue.page(db, filters, user, cursor=cursor, size=2)
                shown |= {row.incident.id for row in found.rows}
                cursor, pages = found.next_cursor, pages + 1
            assert shown == theirs[user.id] and pages == (len(shown) + 1) // 2, (filters, user.email)
    assert queue.page(db, queue.QueueFilters(assignee=str(bob.id)), ann).rows == []  # Bob's, not Ann's to see
    # The counts per state are built once per filter and shape too.
    definition = app.extensions["breachdesk.workflows"].current["employer-disciplinary"]
    states = [(key, state.final) for key, state in definition.states.items()]
    for user in (ann, bob, south, ann, north_officer, south_officer, north_officer):
        by_state = queue.state_counts(db, queue.QueueFilters(workflow="employer-disciplinary"), user, states)
        assert sum(count.count for count in by_state) == len(theirs[user.id]), user.email
        if user.role == "rep":
            mine = queue.state_counts(db, queue.QueueFilters(workflow="employer-disciplinary", assignee="me"), user,
                                      states)
            assert mine == by_state, user.email


def test_a_filter_that_depends_on_the_time_or_the_words_is_asked_afresh_each_view(app, db, make):
    """Only a filter whose SQL is the same at every moment and for every user of a shape keeps its statement:
    "overdue" (due by now) is asked again at each view, so a deadline passing between two views shows."""
    assert queue.QueueFilters().timeless and queue.QueueFilters(workflow="problem-solving", state="x").timeless
    assert not queue.QueueFilters(overdue=True).timeless and not queue.QueueFilters(q="leaked").timeless
    from app.clock import frozen_at

    me = make.user("comms", team="communications")
    incident = _open(app, db, me, "Due tomorrow", assignee=db.get(User, me.id))
    _clear_deadlines(db)
    _deadline(db, incident, utcnow() + timedelta(days=1))
    overdue = queue.QueueFilters(overdue=True)
    assert queue.page(db, overdue, me).rows == []
    with frozen_at(utcnow() + timedelta(days=2)):
        assert [row.incident.id for row in queue.page(db, overdue, me).rows] == [incident]


def test_option_tags_are_escaped_marked_once_and_follow_a_renamed_person():
    from app.web import option_tags

    people = [("7", 'Ann <script>alert(1)</script>'), ("17", "Bo \"Quote\" & Co")]
    html = str(option_tags(people, "17"))
    assert html == ('<option value="7">Ann &lt;script&gt;alert(1)&lt;/script&gt;</option>'
                    '<option value="17" selected>Bo &#34;Quote&#34; &amp; Co</option>')
    assert str(option_tags(people)).count("selected") == 0  # the kept markup was not changed by the first call
    assert str(option_tags(people, "1")).count("selected") == 0  # "1" is not a prefix match of "17"
    assert str(option_tags([(v, n) for v, n in people], '"><script>')).count("selected") == 0
    assert "Ann Renamed" in str(option_tags([("7", "Ann Renamed"), people[1]]))


# The queue's rows as its template wrote them before they were built in Python (app/incidents/rows.py): the
# specification the Python version is held to, cell for cell.
JINJA_ROWS = """{% for row in rows %}{% set i = row.incident %}{% set d = registry.current.get(i.workflow_key) %}<tr>
{% if assignable %}<td>{% if i.id in assignable %}<input type="checkbox" name="incident" value="{{ i.id }}:{{ i.version }}" id="pick-{{ i.id }}"><label for="pick-{{ i.id }}" class="visually-hidden">Select {{ i.reference }}</label>{% endif %}</td>{% endif %}
<th scope="row"><a href="{{ incident_url(i.id) }}">{{ i.reference }}</a>{% if i.restricted %} <span class="tag">restricted</span>{% endif %}</th>
<td class="title">{% if row.readable %}<span class="title-text">{{ row.title_html or i.title }}</span>{% if row.snippet_html %}<br><small class="snippet">{{ row.snippet_html }}</small>{% endif %}{% else %}<span class="muted">Restricted: open to give a reason</span>{% endif %}</td>
<td>{{ d.title if d else i.workflow_key }}</td>
<td>{{ (d.states[i.state].title if d and i.state in d.states else i.state|humanise) }}</td>
<td><span class="sev sev-{{ i.severity }}">{{ i.severity }}</span></td>
<td class="assignee">{{ i.assignee.name if i.assignee else '—' }}</td>
<td>{% if by_due %}{{ row.next_due|local_time('%d %b %Y %H:%M') if row.next_due else '—' }}{% else %}{{ i.created_at|local_time('%d %b %Y') }}{% endif %}</td>
</tr>{% endfor %}"""


def test_queue_rows_are_the_templates_rows_with_every_typed_value_escaped(app):
    from flask import render_template_string
    from markupsafe import Markup

    from app.incidents.rows import queue_rows

    registry = app.extensions["breachdesk.workflows"]
    definition = registry.current["problem-solving"]
    state = next(iter(definition.states))
    hostile = "<script>alert('x')</script> & \"quoted\""
    summer, winter = datetime(2026, 7, 1, 22, 30, tzinfo=UTC), datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def row(ident, *, readable=True, assignee=None, workflow="problem-solving", state=state, restricted=False,
            title=hostile, title_html=None, snippet_html=None, next_due=None, created_at=summer, severity="high"):
        incident = Incident(id=ident, reference=f"PS-2026-{ident}<b>&'\"", title=title, workflow_key=workflow,
                            state=state, severity=severity, version=3, restricted=restricted, created_at=created_at)
        incident.assignee = assignee
        return queue.QueueRow(incident, readable=readable, next_due=next_due, title_html=title_html,
                              snippet_html=snippet_html)

    rows = [
        row(1, assignee=User(name=hostile, email="a@example.org")),
        row(2, readable=False, restricted=True),
        row(3, title_html=Markup("<mark>found</mark> it"), snippet_html=Markup("…the <mark>found</mark> word…"),
            next_due=summer),
        row(4, workflow="retired-workflow", state="first_response", next_due=winter),
        row(5, state="no_such_state", created_at=winter),
        row(7, workflow="<i>retired</i>", state="<u>first_response</u>", severity='"><b>high'),
        row(8, title_html="<b>not Markup</b>", snippet_html="<i>nor this</i>"),  # plain strings by mistake: escaped
        row(6, created_at=summer + timedelta(minutes=45)),  # 00:15 the next day in London: a day of its own
    ]
    with app.test_request_context("/incidents"):
        for assignable in (set(), {1, 3, 6}):
            for by_due in (False, True):
                built = str(queue_rows(rows, registry, assignable, by_due=by_due))
                templated = render_template_string(JINJA_ROWS, rows=rows, registry=registry, assignable=assignable,
                                                   by_due=by_due)
                # html.escape writes quotes as &#x27; and &quot;, markupsafe as &#39; and &#34;: the same characters.
                same = templated.replace("\n", "").replace("&#39;", "&#x27;").replace("&#34;", "&quot;")
                assert built == same, (assignable, by_due)
                assert "<script>" not in built and "<b>" not in built and "<i>" not in built and "<u>" not in built
        built = str(queue_rows(rows, registry, {1}, by_due=False))
    assert built.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;") == 6  # 5 titles, 1 name
    assert "<mark>found</mark> it" in built and "<td>retired-workflow</td><td>First response</td>" in built
    assert "02 Jul 2026" in built and "01 Jul 2026" in built


def test_a_rows_link_is_the_incident_pages_url_under_any_mount_point(app):
    from flask import url_for

    from app.web import incident_url

    for base in ("http://localhost/", "https://cases.example.org/breachdesk/"):
        with app.test_request_context("/incidents", base_url=base):
            for incident_id in (1, 42, 918_273_645_036 + 1):
                assert incident_url(incident_id) == url_for("incidents.show", incident_id=incident_id)
            assert incident_url(7).startswith("/breachdesk/" if "breachdesk" in base else "/incidents/")


def test_filters_survive_the_round_trip_through_the_url():
    filters = queue.QueueFilters.from_args({"workflow": "problem-solving", "assignee": "me", "overdue": "1",
                                           "opened_from": "5/11/2026", "q": "rude", "sort": "due",
                                           "subject": "7", "status": "all"}, ["problem-solving"])
    again = queue.QueueFilters.from_args(filters.as_args(), ["problem-solving"])
    assert again == filters and filters.as_args()["opened_from"] == "05/11/2026"


def _walk(db, filters, actor, size):
    pages, cursor = [], None
    while True:
        page = queue.page(db, filters, actor, cursor=cursor, size=size)
        pages.append([row.incident.id for row in page.rows])
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 50, "the pager never ends"


def test_due_sort_orders_by_the_earliest_running_deadline_and_pages_without_gaps(app, db, make):
    comms = make.user("comms", team="communications")
    ids = [_open(app, db, comms, f"Case {n}") for n in range(11)]
    _clear_deadlines(db)
    base = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    # Two incidents share a due time; one has two running deadlines (its earliest counts); one has only a
    # met deadline (so none running); four have no deadline at all.
    plan = {ids[0]: [5], ids[1]: [1], ids[2]: [3, 0.5], ids[3]: [3], ids[4]: [3], ids[5]: [2], ids[6]: [4]}
    for incident_id, days in plan.items():
        for d in days:
            _deadline(db, incident_id, base + timedelta(days=d))
    _deadline(db, ids[7], base, status="met")
    actor = db.get(User, comms.id)
    filters = queue.QueueFilters(sort="due")
    expected_due = [ids[2], ids[1], ids[5], ids[3], ids[4], ids[6], ids[0]]  # ties: by deadline id
    expected_rest = sorted(set(ids) - set(expected_due), reverse=True)  # then newest first
    for size in (1, 2, 3, 4, 7, 50):
        pages = _walk(db, filters, actor, size)
        flat = [i for p in pages for i in p]
        assert flat == expected_due + expected_rest, size
        assert all(len(p) == size for p in pages[:-1])
    first = queue.page(db, filters, actor, size=50)
    assert first.rows[0].next_due == base + timedelta(days=0.5) and first.rows[-1].next_due is None


def test_newest_and_best_match_sorts_page_without_gaps(app, db, make):
    comms = make.user("comms", team="communications")
    ids = [_open(app, db, comms, f"Walrus report {n}" + (" walrus" * (n % 3))) for n in range(9)]
    actor = db.get(User, comms.id)
    for filters in (queue.QueueFilters(), queue.QueueFilters(q="walrus", sort="newest"),
                    queue.QueueFilters(q="walrus", sort="relevance")):
        for size in (1, 2, 4, 50):
            flat = [i for p in _walk(db, filters, actor, size) for i in p]
            assert sorted(flat) == sorted(ids) and len(flat) == len(set(flat)), (filters.sort, size)
            if filters.sort != "relevance":
                assert flat == sorted(ids, reverse=True)


def test_due_sort_through_the_page_offers_a_next_link(client, app, db, signed_in):
    comms = signed_in("comms", team="communications")
    for n in range(52):
        _open(app, db, comms, f"Case {n}")
    html = client.get("/incidents?sort=due").get_data(as_text=True)
    link = re.search(r'href="(/incidents\?[^"]*after=[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "sort=due" in link
    second = client.get(link).get_data(as_text=True)
    assert len(ROW_LINK.findall(html)) == 50 and len(ROW_LINK.findall(second)) == 2
    assert not set(ROW_LINK.findall(html)) & set(ROW_LINK.findall(second))
    assert client.get("/incidents?sort=due&after=due:garbage~x").status_code == 200


def test_counts_per_state_are_shown_for_a_workflow_and_capped(client, app, db, signed_in, monkeypatch):
    comms = signed_in("comms", team="communications")
    for n in range(3):
        _open(app, db, comms, f"Case {n}")
    _open(app, db, comms, "Press", workflow="press-referral")
    html = client.get("/incidents").get_data(as_text=True)
    assert "Counts by state" not in html  # no workflow chosen: nothing is counted
    html = client.get("/incidents?workflow=problem-solving").get_data(as_text=True)
    assert "Counts by state" in html and re.search(r"Reported: 3<", html)
    monkeypatch.setattr(queue, "COUNT_CAP", 2)
    html = client.get("/incidents?workflow=problem-solving").get_data(as_text=True)
    assert re.search(r"Reported: 2\+<", html)
    counts = queue.state_counts(db, queue.QueueFilters(workflow="problem-solving", state="reported", status="all"),
                                db.get(User, comms.id), [("reported", False), ("closed_no_breach", True)])
    assert [(c.state, c.count, c.capped, c.label) for c in counts] == [
        ("reported", 2, True, "2+"), ("closed_no_breach", 0, False, "0")]
    # Open incidents are never in a final state, closed ones always are: those are not counted at all.
    states = [("reported", False), ("closed_no_breach", True)]
    assert queue.states_to_count(queue.QueueFilters(status="open"), states) == ["reported"]
    assert queue.states_to_count(queue.QueueFilters(status="closed"), states) == ["closed_no_breach"]


# --- bulk assign -----------------------------------------------------------------------------------------

def _assign(client, pairs, assignee, path="/incidents"):
    token = csrf_token(client, path)
    return client.post("/incidents/bulk-assign?status=all", data={
        "csrf_token": token, "assignee": str(assignee), "incident": [f"{i}:{v}" for i, v in pairs]})


def test_bulk_assign_audits_each_change_and_bumps_each_version(client, app, db, make, signed_in):
    me = signed_in("comms", team="communications")
    colleague = make.user("comms", team="communications", name="Colleague")
    a, b = _open(app, db, me, "A"), _open(app, db, me, "B")
    html = client.get("/incidents").get_data(as_text=True)
    assert f'value="{a}:1"' in html and 'id="bulk-assignee"' in html
    response = _assign(client, [(a, 1), (b, 1)], colleague.id)
    assert response.status_code == 302 and "status=all" in response.headers["Location"]
    db.expire_all()
    for incident_id in (a, b):
        incident = db.get(Incident, incident_id)
        assert incident.assignee_id == colleague.id and incident.version == 2
    rows = db.query(AuditEvent).filter_by(action="incident.assigned").order_by(AuditEvent.id).all()
    assert [r.incident_id for r in rows] == [a, b] and rows[0].actor_id == me.id
    assert rows[0].data["to"] == colleague.email and rows[0].data["from"] is None and rows[0].data["bulk"]
    assert "2 incidents assigned to Colleague" in client.get("/incidents").get_data(as_text=True)
    # Unassigning works too.
    _assign(client, [(a, 2)], "none")
    db.expire_all()
    assert db.get(Incident, a).assignee_id is None


def test_bulk_assign_refuses_an_incident_the_user_cannot_see_and_changes_nothing(client, app, db, make, signed_in):
    me = signed_in("comms", team="communications")
    colleague = make.user("comms", team="communications")
    rep = make.user("rep", team="reps-north")
    mine = _open(app, db, me, "Mine")
    member_case = _open(app, db, rep, "Member case", workflow="employer-disciplinary")
    response = _assign(client, [(mine, 1), (member_case, 1)], colleague.id)
    assert response.status_code == 404
    db.expire_all()
    assert db.get(Incident, mine).assignee_id != colleague.id and db.get(Incident, mine).version == 1
    assert db.get(Incident, member_case).version == 1
    assert db.query(AuditEvent).filter_by(action="incident.assigned").count() == 0


def test_bulk_assign_refuses_a_stale_version(client, app, db, make, signed_in):
    me = signed_in("comms", team="communications")
    colleague = make.user("comms", team="communications")
    a, b = _open(app, db, me, "A"), _open(app, db, me, "B")
    incident = db.get(Incident, b)
    incident.severity = "high"
    incident.bump_version()  # someone else changed it after the page was loaded
    db.commit()
    response = _assign(client, [(a, 1), (b, 1)], colleague.id)
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nothing was assigned" in html and "changed by someone else" in html
    db.expire_all()
    assert db.get(Incident, a).version == 1 and db.get(Incident, a).assignee_id is None
    assert db.query(AuditEvent).filter_by(action="incident.assigned").count() == 0


def test_bulk_assign_refuses_roles_that_do_not_assign_and_assignees_who_cannot_hold_it(app, db, make):
    opener = make.user("comms", team="communications")
    case = _open(app, db, opener, "A post")
    # An officer who may read it (they logged it) still may not hand it out.
    officer = make.user("officer")
    officers_case = _open(app, db, officer, "Officer's report", workflow="antagonistic-tag")
    client = app.test_client()
    login(client, db.get(User, officer.id))
    response = _assign(client, [(officers_case, 1)], opener.id)
    assert "Nothing was assigned" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.expire_all()
    assert db.get(Incident, officers_case).version == 1
    # A rep cannot hold a college-side case.
    client = app.test_client()
    login(client, db.get(User, opener.id))
    rep = make.user("rep", team="reps-north")
    response = _assign(client, [(case, 1)], rep.id)
    assert "cannot work on" in client.get(response.headers["Location"]).get_data(as_text=True)
    response = _assign(client, [], opener.id)
    assert "Choose at least one" in client.get(response.headers["Location"]).get_data(as_text=True)
    response = _assign(client, [("x", "y")], opener.id)
    assert "not understood" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.expire_all()
    assert db.get(Incident, case).version == 1


# --- page furniture and the exports ----------------------------------------------------------------------

def test_the_queue_is_an_accessible_table_with_an_empty_state(client, app, db, signed_in):
    comms = signed_in("comms", team="communications")
    html = client.get("/incidents").get_data(as_text=True)
    assert "No incidents match" in html and "<table" not in html
    assert "No incidents match" in client.get("/incidents?severity=critical").get_data(as_text=True)
    assert "Clear the filters" in client.get("/incidents?severity=critical").get_data(as_text=True)
    incident = _open(app, db, comms, "A post")
    html = client.get("/incidents").get_data(as_text=True)
    assert "<caption>" in html and '<th scope="col">Reference</th>' in html and '<th scope="row">' in html
    assert f'<label for="pick-{incident}" class="visually-hidden">' in html
    for name in ("q", "workflow", "state", "assignee", "clause", "severity", "platform", "subject", "opened_from",
                 "opened_to", "status", "sort", "overdue", "bulk-assignee"):
        assert f'<label for="{name}"' in html, name


def test_xlsx_export_is_readable_text_only_and_audited(client, app, db, make, signed_in):
    openpyxl = pytest.importorskip("openpyxl")
    comms = signed_in("comms", team="communications")
    rep = make.user("rep", team="reps-north")
    titles = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2", "@SUM(A1)", "\x01=cmd", "12345", "Plain"]
    for title in titles:
        _open(app, db, comms, title)
    _open(app, db, rep, "Member case", workflow="employer-disciplinary")
    response = client.get("/incidents/export.xlsx?status=all&workflow=problem-solving")
    assert response.status_code == 200 and response.headers["Content-Disposition"].endswith(".xlsx")
    assert response.mimetype.startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]][:2] == ["reference", "title"]
    shown = {row[1].value for row in rows[1:]}
    assert shown == {"'=HYPERLINK(\"http://evil\",\"x\")", "'+1+1", "'-2", "'@SUM(A1)", "'=cmd", "12345", "Plain"}
    # Every written value is a string cell ("12345" above stayed text, not a number); empty cells read as None.
    assert all(cell.data_type == "s" for row in rows for cell in row if cell.value is not None)
    everything = openpyxl.load_workbook(io.BytesIO(client.get("/incidents/export.xlsx?status=all").data)).active
    assert "Member case" not in {row[1].value for row in everything.iter_rows()}
    exports = db.query(AuditEvent).filter_by(action="export").order_by(AuditEvent.id).all()
    assert len(exports) == 2 and exports[0].data["rows"] == len(titles) and "xlsx" in exports[0].object_type
    assert exports[0].data["filters"]["workflow"] == "problem-solving"


def test_post_model_is_searchable_by_platform_only_through_posts(db, app, make):
    # The platform filter looks at the incident's posts, so an incident with two posts is listed once.
    comms = make.user("comms", team="communications")
    incident_id = _open(app, db, comms, "Two posts", post=PostInput(platform="x", url="https://x.com/a/status/9"))
    db.add(Post(incident_id=incident_id, platform="x", url="https://x.com/a/status/10"))
    db.commit()
    page = queue.page(db, queue.QueueFilters(platform="x"), db.get(User, comms.id))
    assert [r.incident.id for r in page.rows] == [incident_id]


def test_overdue_filter_pages_newest_first_without_gaps(app, db, make):
    """Below a page's cursor the overdue deadlines are looked up below it too; every overdue incident is still
    listed once, in order, whatever the page size."""
    comms = make.user("comms", team="communications")
    ids = [_open(app, db, comms, f"Case {n}") for n in range(10)]
    _clear_deadlines(db)
    now = utcnow()
    overdue = [i for n, i in enumerate(ids) if n % 3 != 1]
    for n, incident_id in enumerate(ids):
        _deadline(db, incident_id, now - timedelta(hours=1) if incident_id in overdue else now + timedelta(days=1))
        if n % 4 == 0:  # a second running deadline, one still to come: the incident is listed once
            _deadline(db, incident_id, now + timedelta(days=3))
    actor = db.get(User, comms.id)
    for size in (1, 2, 3, 50):
        flat = [i for p in _walk(db, queue.QueueFilters(overdue=True), actor, size) for i in p]
        assert flat == sorted(overdue, reverse=True), size


class _Statements:
    """Counts the SQL statements the app sends while in use."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def _seen(self, *_args):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)


COLLEGE = ("comms", "communications", "problem-solving")
MEMBERS = ("rep", "reps-north", "employer-disciplinary")


@pytest.mark.parametrize(("viewer", "side", "args"), [
    ("comms", COLLEGE, {"sort": "newest"}), ("comms", COLLEGE, {"sort": "due"}),
    ("comms", COLLEGE, {"q": "post", "sort": "relevance"}), ("admin", COLLEGE, {"sort": "newest"}),
    ("director_of_comms", COLLEGE, {"sort": "due"}), ("regional_officer", MEMBERS, {"sort": "newest"}),
])
def test_the_queue_page_reads_as_many_statements_for_many_rows_as_for_few(client, app, db, make, signed_in, viewer,
                                                                         side, args):
    """No statement per row: a row's assignee, its dates and what its permission checks read come with the page's
    own query (and a search's quoted passages from one query for the page)."""
    from app.extensions import db as database

    holder_role, team, workflow = side
    signed_in(viewer, team=team if viewer != "admin" and viewer != "director_of_comms" else None)
    holder = make.user(holder_role, team=team, name="Holder")

    def add(count):
        for n in range(count):
            subject = Person(name=f"Subject {n}")
            db.add(subject)
            db.commit()
            holder_now = db.get(User, holder.id)
            incident_id = _open(app, db, holder_now, f"Post {n}", workflow=workflow, assignee=holder_now,
                                team=holder_now.team, subject=db.get(Person, subject.id))
            _deadline(db, incident_id, utcnow() + timedelta(days=n + 1))

    def statements_for_page():
        db.expire_all()
        with _Statements(database.engine) as seen:
            response = client.get("/incidents", query_string=args)
        assert response.status_code == 200
        return seen.count, len(ROW_LINK.findall(response.get_data(as_text=True)))

    add(2)
    few, rows = statements_for_page()
    assert rows == 2
    add(18)
    many, rows = statements_for_page()
    assert rows == 20
    assert many == few
