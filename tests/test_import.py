"""Bulk import of posts and people (app/services/imports.py, `breachdesk import …`) and an incident as JSON."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import AuditEvent, Incident, Person, Post, Report, SocialHandle, User
from app.services import imports
from app.services.incidents import OpenRequest, PostInput
from app.services.intake import ReportInput, check_post, report_post
from tests.conftest import PASSWORD, login

NHS = "943 476 5919"  # a valid NHS number (modulus 11)


def _run(app, db, path: Path, *, actor: User, fmt: str | None = None, mapping: dict[str, str] | None = None,
         batch: int = 3, kind: str = "posts") -> list[imports.RowOutcome]:
    """What the CLI does, batch by batch with a commit each (small batches, so rows span several)."""
    registry = app.extensions["breachdesk.workflows"]
    outcomes: list[imports.RowOutcome] = []
    actor_id = actor.id
    with imports.SourceFile(path, imports.detect_format(path, fmt), mapping) as source:
        for rows in imports.batches(source.rows(), batch):
            who = db.get(User, actor_id)
            if kind == "posts":
                outcomes += imports.import_posts_batch(db, registry, rows, actor=who)
            else:
                outcomes += imports.import_people_batch(db, rows, actor=who)
            db.commit()
    db.expire_all()
    return outcomes


def _by_line(outcomes: list[imports.RowOutcome]) -> dict[int, imports.RowOutcome]:
    return {o.row.line: o for o in outcomes}


def _checked(app, outcome: imports.RowOutcome) -> tuple[bool, bool]:  # type: ignore[no-untyped-def]
    """(has personal details, has a suggested clause) for one row's text: the check the command counts."""
    if outcome.review is None:
        return False, False
    with_pii, with_suggestion = imports.review_counts([outcome.review], app.extensions["breachdesk.workflows"])
    return bool(with_pii), bool(with_suggestion)


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


MESSY = (
    "\ufeffPlatform,URL,author_handle,author_name,posted_at,text,reporter,clauses,Extra\r\n"
    # line 2-3: a quoted newline inside the text, an NHS number, UK date format
    'x,https://x.com/Dr_Jones/status/1111111111,@Dr_Jones,Dr Jones,01/03/2026 10:00,"Patient\r\nNHS no '
    f'{NHS} seen today",Brandwatch,rcr:2.8;rcr:2.16,ignored\r\n'
    "myspace,https://myspace.com/post/1,,,,text,Brandwatch,,\r\n"  # 4: unknown platform
    "x,not a url,,,,text,Brandwatch,,\r\n"  # 5: bad address
    "x,https://x.com/a/status/2222222222,,,31/02/2026 10:00,text,Brandwatch,,\r\n"  # 6: no 31 February
    "x,https://x.com/a/status/3333333333,,,2099-01-01T00:00:00Z,text,Brandwatch,,\r\n"  # 7: future
    "x,https://twitter.com/dr_jones/status/1111111111?s=20,,,,again,Brandwatch,,\r\n"  # 8: same post, same reporter
    "x,https://x.com/DR_JONES/status/1111111111/,,,,again,Talkwalker,,\r\n"  # 9: same post, another reporter
    "x,https://x.com/known/status/4444444444,,,2026-03-02T09:00:00+01:00,on file already,Brandwatch,,\r\n"  # 10
    "\r\n"  # 11: a blank line is skipped
    ",https://www.instagram.com/p/AbCdEf123/,insta.person,,2026-03-05,no platform given,,,\r\n"  # 12
    "x,https://x.com/b/status/5555555555,,,2026-03-05,,,rcr:99.99,\r\n"  # 13: unknown clause
)


@pytest.fixture
def comms(make, db) -> User:  # type: ignore[no-untyped-def]
    return db.get(User, make.user("comms", team="communications").id)


def _known_post(app, db, actor: User) -> Incident:  # type: ignore[no-untyped-def]
    registry = app.extensions["breachdesk.workflows"]
    result = report_post(db, registry, OpenRequest(workflow_key="problem-solving", title="Known", post=PostInput(
        platform="x", url="https://x.com/known/status/4444444444")), ReportInput(channel="member_report"),
        actor=actor)
    db.commit()
    return result.incident


def test_a_messy_csv(app, db, comms, tmp_path):
    known = _known_post(app, db, comms)
    known_id = known.id
    path = tmp_path / "monitoring.csv"
    path.write_bytes(MESSY.encode("utf-8"))
    lines = _by_line(_run(app, db, path, actor=comms))
    assert sorted(lines) == [2, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    statuses = {line: o.status for line, o in lines.items()}
    assert statuses == {2: "imported", 4: "rejected", 5: "rejected", 6: "rejected", 7: "rejected",
                        8: "already recorded", 9: "joined", 10: "joined", 12: "imported", 13: "rejected"}
    assert "unknown platform" in lines[4].reason
    assert "url" in lines[5].reason and "address" in lines[5].reason
    assert "posted_at" in lines[6].reason and "not a date" in lines[6].reason
    assert "posted_at" in lines[7].reason and "future" in lines[7].reason
    assert "rcr:99.99" in lines[13].reason
    assert _checked(app, lines[2])[0] and not _checked(app, lines[8])[0]
    # the first row: one incident, the text with its newline, the date read as UK time, the author as subject
    post = db.scalar(select(Post).where(Post.platform_post_id == "1111111111"))
    incident = post.incident
    assert post.text == f"Patient\r\nNHS no {NHS} seen today"
    assert post.posted_at.replace(tzinfo=UTC) == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # GMT in March
    assert incident.title == "X (Twitter) post by @Dr_Jones" and incident.workflow_key == "problem-solving"
    assert incident.subject.name == "Dr Jones" and [h.handle for h in incident.subject.handles] == ["@Dr_Jones"]
    assert sorted(c.clause_key for c in incident.clauses) == ["rcr:2.16", "rcr:2.8"]
    assert incident.severity == "medium"  # PII is suggested on the page, never applied by the import
    assert [(r.channel, r.reporter) for r in incident.reports] == [("import", "Brandwatch"), ("import", "Talkwalker")]
    # the post already on file gained an import report instead of a second incident
    assert [r.channel for r in db.get(Incident, known_id).reports] == ["member_report", "import"]
    # the platform was worked out from the Instagram address
    assert db.scalar(select(Post).where(Post.platform_post_id == "AbCdEf123")).platform == "instagram"
    assert _count(db, Incident) == 3 and _count(db, Post) == 3
    assert _count(db, Report) == 5  # known's 1 + 2 on the first post + 1 on known + 1 on instagram
    opened = db.scalars(select(AuditEvent).where(AuditEvent.action == "incident.opened")).all()
    assert len(opened) == 3 and all(e.actor_id == comms.id for e in opened)


def test_running_the_same_file_again_imports_nothing_twice(app, db, comms, tmp_path):
    _known_post(app, db, comms)
    path = tmp_path / "monitoring.csv"
    path.write_bytes(MESSY.encode("utf-8"))
    _run(app, db, path, actor=comms)
    counts = {m.__name__: _count(db, m) for m in (Incident, Post, Report, Person, SocialHandle, AuditEvent)}
    again = _run(app, db, path, actor=comms, batch=500)
    assert {o.status for o in again} == {"already recorded", "rejected"}
    assert sum(o.status == "rejected" for o in again) == 5
    assert {m.__name__: _count(db, m) for m in (Incident, Post, Report, Person, SocialHandle, AuditEvent)} == counts


def test_json_lines_with_a_column_map(app, db, comms, tmp_path):
    path = tmp_path / "export.ndjson"
    records = [
        {"network": "x", "link": "https://x.com/someone/status/7777777777", "author_handle": "@someone",
         "posted_at": "2026-06-01T12:00:00", "text": "call me on 07700 900123", "clauses": ["rcr:2.8"],
         "likes": 4},
        "not an object",
        {"network": "facebook", "link": "https://facebook.com/page/posts/pfbid0123456789", "nested": {"a": {}}},
    ]
    text = "\ufeff" + "\r\n".join(json.dumps(r) for r in records) + "\r\n{broken json\r\n\r\n"
    path.write_text(text, encoding="utf-8")
    mapping = imports.parse_mapping(["Network=platform", "link=url"], imports.POST_COLUMNS)
    lines = _by_line(_run(app, db, path, actor=comms, mapping=mapping))
    assert {line: o.status for line, o in lines.items()} == {1: "imported", 2: "rejected", 3: "rejected",
                                                             4: "rejected"}
    assert "JSON object" in lines[2].reason and "nested" in lines[3].reason and "not valid JSON" in lines[4].reason
    assert _checked(app, lines[1])[0]
    post = db.scalar(select(Post))
    assert post.url == "https://x.com/someone/status/7777777777"
    assert post.posted_at.replace(tzinfo=UTC) == datetime(2026, 6, 1, 11, 0, tzinfo=UTC)  # BST
    assert [c.clause_key for c in post.incident.clauses] == ["rcr:2.8"]
    with pytest.raises(imports.InvalidInput):
        imports.parse_mapping(["link=nowhere"], imports.POST_COLUMNS)
    with pytest.raises(imports.InvalidInput):
        imports.parse_mapping(["no equals sign"], imports.POST_COLUMNS)


def test_an_over_long_cell_rejects_its_row_only(app, db, comms, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("platform,url,text\n"
                    f"x,https://x.com/a/status/123456,{'a' * 200_000}\n"
                    "x,https://x.com/a/status/654321,short\n", encoding="utf-8")
    lines = _by_line(_run(app, db, path, actor=comms))
    assert lines[2].status == "rejected" and "200000 characters" in lines[2].reason
    assert lines[3].status == "imported"


def test_dates():
    assert imports.parse_when("") is None
    assert imports.parse_when("2026-07-01T10:00") == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert imports.parse_when("2026-07-01T10:00Z") == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert imports.parse_when("01/07/2026 10:00") == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert imports.parse_when("1/12/2026") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    for bad in ("yesterday", "13/13/2026 10:00", "2026-02-30", "01/01/1850 10:00", "32/01/2026"):
        with pytest.raises(ValueError):
            imports.parse_when(bad)


def test_the_format_comes_from_the_name_or_the_option(tmp_path):
    assert imports.detect_format(tmp_path / "a.CSV") == "csv"
    assert imports.detect_format(tmp_path / "a.jsonl") == "jsonl"
    assert imports.detect_format(tmp_path / "a.txt", "jsonl") == "jsonl"
    with pytest.raises(imports.ImportFileError):
        imports.detect_format(tmp_path / "a.txt")


PEOPLE = (
    "name,role,email,office,membership_number,x,instagram,handles\r\n"
    "Dr Ann Smith,member,ANN@example.org,Leeds,M123,@drsmith,,linkedin:ann-smith\r\n"
    "Dr Bob Jones,officer,,,M124,,bob.jones,x:@bobjones;tiktok:@bobj\r\n"
    "Carol Email,member,carol@example.org,,M125,,,\r\n"
    "Nobody Known,member,,,M126,,,\r\n"
    "Bad Platform,member,,,M127,,,myspace:@x\r\n"
    "Bad Role,boss,,,M128,@badrole,,\r\n"
)


def test_people_with_handles_and_a_re_run(app, db, comms, tmp_path):
    existing = Person(name="A. Smith", role="contributor")
    existing.handles.append(SocialHandle(platform="x", handle="DrSmith"))
    db.add(existing)
    db.commit()
    existing_id = existing.id
    path = tmp_path / "members.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    lines = _by_line(_run(app, db, path, actor=comms, kind="people"))
    assert {line: o.status for line, o in lines.items()} == {2: "updated", 3: "created", 4: "created",
                                                             5: "rejected", 6: "rejected", 7: "rejected"}
    assert "handle or an e-mail" in lines[5].reason and "myspace" in lines[6].reason and "boss" in lines[7].reason
    ann = db.get(Person, existing_id)  # found by her X handle (other case, with @), updated, not duplicated
    assert (ann.name, ann.role, ann.email, ann.office) == ("Dr Ann Smith", "member", "ann@example.org", "Leeds")
    assert sorted((h.platform, h.handle) for h in ann.handles) == [("linkedin", "ann-smith"), ("x", "DrSmith")]
    assert "M123" not in (ann.notes or "")
    bob = db.scalar(select(Person).where(Person.name == "Dr Bob Jones"))
    assert sorted((h.platform, h.handle) for h in bob.handles) == [("instagram", "bob.jones"), ("tiktok", "@bobj"),
                                                                    ("x", "@bobjones")]
    assert bob.role == "officer"
    updated = db.scalars(select(AuditEvent).where(AuditEvent.action == "person.updated")).all()
    assert len(updated) == 1 and set(updated[0].data["fields"]) >= {"name", "role", "email", "handles"}
    counts = {m.__name__: _count(db, m) for m in (Person, SocialHandle, AuditEvent)}
    again = _by_line(_run(app, db, path, actor=comms, kind="people"))
    assert {line: o.status for line, o in again.items()} == {2: "unchanged", 3: "unchanged", 4: "unchanged",
                                                             5: "rejected", 6: "rejected", 7: "rejected"}
    assert {m.__name__: _count(db, m) for m in (Person, SocialHandle, AuditEvent)} == counts


def test_the_real_command_end_to_end(cli_env, tmp_path):
    made = cli_env("users", "create", "comms@example.org", "--name", "Comms", "--role", "comms", "--team",
                   "communications", "--password-stdin", stdin="a long enough password 1\n")
    assert made.returncode == 0, made.stderr
    assert cli_env("users", "create", "rep@example.org", "--name", "Rep", "--role", "rep", "--password-stdin",
                   stdin="a long enough password 1\n").returncode == 0
    path = tmp_path / "monitoring.csv"
    path.write_bytes(MESSY.replace("not a url", "=HYPERLINK(1)").encode("utf-8"))

    refused = cli_env("import", "posts", str(path), "--as", "rep@example.org")
    assert refused.returncode == 1 and "may not open" in refused.stderr
    no_url = tmp_path / "wrong.csv"
    no_url.write_text("platform,link\r\nx,https://x.com/a/status/123456\r\n", encoding="utf-8")
    missing = cli_env("import", "posts", str(no_url), "--as", "comms@example.org")
    assert missing.returncode == 1 and "no 'url' column" in missing.stderr and "--map" in missing.stderr
    mapped = cli_env("import", "posts", str(no_url), "--as", "comms@example.org", "--map", "link=url")
    assert mapped.returncode == 0 and "Imported 1 new incident(s)" in mapped.stdout

    first = cli_env("import", "posts", str(path), "--as", "comms@example.org")
    assert first.returncode == 0, first.stderr
    assert "Imported 3 new incident(s); 1 joined" in first.stdout
    assert "1 already recorded" in first.stdout and "5 rejected" in first.stdout
    assert "1 row(s) have patient or contact details" in first.stdout and "rows/s" in first.stdout
    assert "Ignoring column(s) Breachdesk does not read: Extra" in first.stderr
    rejects_path = tmp_path / "monitoring.csv.rejects.csv"
    with open(rejects_path, encoding="utf-8", newline="") as handle:
        rejects = list(csv.reader(handle))
    assert rejects[0] == ["line", "reason", "Platform", "URL", "author_handle", "author_name", "posted_at", "text",
                          "reporter", "clauses", "Extra"]
    assert [row[0] for row in rejects[1:]] == ["4", "5", "6", "7", "13"]
    by_line = {row[0]: row for row in rejects[1:]}
    assert by_line["4"][2:4] == ["myspace", "https://myspace.com/post/1"] and "platform" in by_line["4"][1]
    assert by_line["5"][3] == "'=HYPERLINK(1)"  # a formula is made inert for spreadsheets
    assert "31/02/2026" in by_line["6"][1] and "future" in by_line["7"][1] and "rcr:99.99" in by_line["13"][1]

    again = cli_env("import", "posts", str(path), "--as", "comms@example.org")
    assert again.returncode == 0 and "Imported 0 new incident(s); 0 joined" in again.stdout
    assert "5 already recorded" in again.stdout and "5 rejected" in again.stdout

    people = tmp_path / "members.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    added = cli_env("import", "people", str(people))
    assert added.returncode == 0 and "3 person(s) added; 0 updated; 0 already up to date; 3 rejected" in added.stdout
    assert "membership_number" in added.stderr  # said to be ignored, never stored
    rerun = cli_env("import", "people", str(people))
    assert "0 person(s) added; 0 updated; 3 already up to date; 3 rejected" in rerun.stdout


# --- an incident as JSON ---------------------------------------------------------------------------

def test_an_incident_as_json(app, db, client, make):
    registry = app.extensions["breachdesk.workflows"]
    user = make.user("comms", team="communications")
    result = report_post(db, registry, OpenRequest(
        workflow_key="problem-solving", title="A post", clauses=["rcr:2.8"],
        post=PostInput(platform="x", url="https://x.com/a/status/123456", text=f"NHS {NHS}")),
        ReportInput(channel="monitoring", reporter="Brandwatch"), actor=db.get(User, user.id))
    db.commit()
    incident_id, reference = result.incident.id, result.incident.reference
    assert login(client, user, PASSWORD).status_code == 302
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert f"/incidents/{incident_id}/export.json" in page
    response = client.get(f"/incidents/{incident_id}/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == f"attachment; filename={reference}.json"
    body = json.loads(response.get_data(as_text=True))
    assert body["reference"] == reference and body["clauses"] == ["rcr:2.8"]
    assert body["post"]["url"] == "https://x.com/a/status/123456"
    assert body["suggestions"]["pii"][0]["kind"] == "nhs_number"
    assert body["reports"][0]["channel"] == "monitoring" and body["reports"][0]["reporter"] == "Brandwatch"
    assert "incident.opened" in [e["action"] for e in body["audit"]]
    exported = db.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert len(exported) == 1 and exported[0].actor_id == user.id
    assert exported[0].object_type == "incident" and exported[0].data["filters"] == {"reference": reference}

    stranger = make.user("comms", team="press-office")
    other = app.test_client()
    assert login(other, stranger, PASSWORD).status_code == 302
    assert other.get(f"/incidents/{incident_id}/export.json").status_code == 404
    assert other.get("/incidents/999999/export.json").status_code == 404
    db.expire_all()
    assert len(db.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()) == 1
    denied = db.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [e.actor_id for e in denied] == [stranger.id]
    signed_out = app.test_client().get(f"/incidents/{incident_id}/export.json")
    assert signed_out.status_code in (302, 401)


def test_a_file_that_stops_being_utf8_keeps_the_rows_before_it(cli_env, tmp_path):
    assert cli_env("users", "create", "comms@example.org", "--name", "Comms", "--role", "comms", "--team",
                   "communications", "--password-stdin", stdin="a long enough password 1\n").returncode == 0
    path = tmp_path / "latin1.csv"
    # More than the 8 KB decoded at a time, so the bad byte is met after some rows were handled.
    good = "".join(f"x,https://x.com/a/status/{1000000 + n},{'words ' * 70}\r\n" for n in range(30))
    path.write_bytes(b"platform,url,text\r\n" + good.encode() + b"x,https://x.com/caf\xe9/status/1,\r\n")
    result = cli_env("import", "posts", str(path), "--as", "comms@example.org")
    assert result.returncode == 1 and "not UTF-8" in result.stderr and "byte 0xe9" in result.stderr
    again = cli_env("import", "posts", str(path), "--as", "comms@example.org")
    assert "Rows before it were saved" in again.stderr
    # The rows decoded before the bad byte were saved (the ones in the same 8 KB as it could not be read):
    # the fixed file imports only the others.
    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(b"platform,url,text\r\n" + good.encode())
    rerun = cli_env("import", "posts", str(fixed), "--as", "comms@example.org")
    found = re.search(r"Imported (\d+) new .*?; (\d+) already recorded", rerun.stdout)
    assert rerun.returncode == 0 and found, rerun.stdout
    imported, already = int(found.group(1)), int(found.group(2))
    assert already >= 10 and imported + already == 30


# --- the summary's counts, progress lines, and dedupe by platform post id ------------------------------

BREACHING = (
    "platform,url,author_handle,text,reporter\r\n"
    f"x,https://x.com/a1/status/9000000001,@a1,Patient NHS no {NHS} seen today,Brandwatch\r\n"  # PII: rcr:2.8
    "x,https://x.com/a2/status/9000000002,@a2,\"Spoke to the Telegraph journalist about the college's stance\","
    "Brandwatch\r\n"  # the media clause
    "x,https://x.com/a3/status/9000000003,@a3,the ward manager is a useless moron,Brandwatch\r\n"  # insults
    "x,https://x.com/a4/status/9000000004,@a4,Lovely sunny day for the radiology conference,Brandwatch\r\n"
    "x,https://x.com/a5/status/9000000005,@a5,Off to the gym then lunch,Brandwatch\r\n"
    "x,https://x.com/a6/status/9000000006,@a6,,Brandwatch\r\n"  # no text: nothing to suggest
    "x,https://twitter.com/a3/status/9000000003?s=20,,the ward manager is a useless moron,Talkwalker\r\n"  # joined
    "x,https://x.com/a1/status/9000000001,@a1,Patient NHS no {NHS} seen today,Brandwatch\r\n"  # already recorded
)


def test_the_summary_counts_rows_with_suggested_clauses(app, db, comms, tmp_path):
    from app.services.suggestions import for_incident

    path = tmp_path / "breaching.csv"
    path.write_text(BREACHING.replace("{NHS}", NHS), encoding="utf-8")
    lines = _by_line(_run(app, db, path, actor=comms))
    assert {line: o.status for line, o in lines.items()} == {2: "imported", 3: "imported", 4: "imported",
                                                             5: "imported", 6: "imported", 7: "imported",
                                                             8: "joined", 9: "already recorded"}
    # The three breaching posts, and the joined report of one of them; never the already-recorded row.
    assert sorted(line for line, o in lines.items() if _checked(app, o)[1]) == [2, 3, 4, 8]
    assert sorted(line for line, o in lines.items() if _checked(app, o)[0]) == [2]
    # The same as the incident page suggests for each post.
    registry = app.extensions["breachdesk.workflows"]
    for line in (2, 3, 4, 5, 6, 7):
        incident = db.scalar(select(Incident).where(Incident.reference == lines[line].reference))
        assert bool(for_incident(incident, registry.catalogues).clauses) == _checked(app, lines[line])[1]


def test_the_command_prints_progress_lines_and_the_suggested_count(cli_env, tmp_path):
    assert cli_env("users", "create", "comms@example.org", "--name", "Comms", "--role", "comms", "--team",
                   "communications", "--password-stdin", stdin="a long enough password 1\n").returncode == 0
    path = tmp_path / "breaching.csv"
    path.write_text(BREACHING.replace("{NHS}", NHS), encoding="utf-8")
    # Standard error is a pipe here, as when the output goes to a log: lines, not a bar.
    result = cli_env("import", "posts", str(path), "--as", "comms@example.org", "--batch-size", "2",
                     "--progress-every", "3")
    assert result.returncode == 0, result.stderr
    assert "1 row(s) have patient or contact details in their text and 4 have suggested clauses" in result.stdout
    progress = re.findall(r"^Importing breaching\.csv: ([\d,]+) rows \((\d+)%\), ([\d,]+) rows/s$", result.stderr,
                          re.M)
    # At commits (every 2 rows), once 3 and then 6 rows have passed.
    assert [rows for rows, _percent, _rate in progress] == ["4", "6"]
    assert 0 < int(progress[0][1]) <= int(progress[1][1]) <= 100  # of the file read so far (it reads ahead)
    quiet = cli_env("import", "posts", str(path), "--as", "comms@example.org", "--progress-every", "0")
    assert quiet.returncode == 0 and "rows/s" not in quiet.stderr


def test_a_second_process_can_check_the_texts_with_the_same_counts(cli_env, tmp_path):
    assert cli_env("users", "create", "comms@example.org", "--name", "Comms", "--role", "comms", "--team",
                   "communications", "--password-stdin", stdin="a long enough password 1\n").returncode == 0
    path = tmp_path / "breaching.csv"
    path.write_text(BREACHING.replace("{NHS}", NHS), encoding="utf-8")
    # --jobs 2 hands the texts to a second process even for a small file (by default only above 1 MB).
    result = cli_env("import", "posts", str(path), "--as", "comms@example.org", "--jobs", "2", "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    # What the same file gives when checked in one process (the test above).
    assert "1 row(s) have patient or contact details in their text and 4 have suggested clauses" in result.stdout
    again = cli_env("import", "posts", str(path), "--as", "comms@example.org", "--jobs", "2")
    assert again.returncode == 0, again.stderr
    assert "0 row(s) have patient or contact details in their text and 0 have" in again.stdout  # nothing new


def test_when_the_second_process_fails_its_batches_are_checked_here(app, db, comms, tmp_path):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from app.imports_cli import Reviewer

    class DyingPool:
        """The reviewing process dies with batches waiting: the first fails, shutting down cancels the rest."""

        def __init__(self) -> None:
            self.futures: list[Future] = []

        def submit(self, *_args: object) -> Future:
            future: Future = Future()
            if not self.futures:
                future.set_exception(BrokenProcessPool("the reviewing process died"))
            self.futures.append(future)
            return future

        def shutdown(self, **kwargs: object) -> None:
            if kwargs.get("cancel_futures"):
                for future in self.futures:
                    future.cancel()

    path = tmp_path / "breaching.csv"
    path.write_text(BREACHING.replace("{NHS}", NHS), encoding="utf-8")
    outcomes = _run(app, db, path, actor=comms)
    registry = app.extensions["breachdesk.workflows"]
    reviewer = Reviewer(registry, tmp_path, parallel=False)
    pool = reviewer.pool = DyingPool()  # type: ignore[assignment]
    for outcome in outcomes:
        reviewer.add([outcome])
    # The same counts as the command prints for this file when all goes well (the tests above).
    assert reviewer.finish() == (1, 4)
    assert len(pool.futures) == Reviewer.IN_FLIGHT + 1, "batches waited for the second process until it died"
    assert sum(f.cancelled() for f in pool.futures) == Reviewer.IN_FLIGHT, "the waiting ones were checked here"


def test_the_same_platform_post_id_alone_joins_the_incident_on_file(app, db, comms, tmp_path):
    registry = app.extensions["breachdesk.workflows"]
    known = report_post(db, registry, OpenRequest(workflow_key="problem-solving", title="Known", post=check_post(
        PostInput(platform="x", url="https://x.com/known/status/4444444444"))), ReportInput(channel="member_report"),
        actor=comms).incident  # the post id 4444444444, from the address
    db.commit()
    known_id = known.id
    assert known.posts[0].platform_post_id == "4444444444"
    path = tmp_path / "ids.csv"
    # Another address (an archive copy, nothing in it says which post) but the platform's id of the post on file.
    path.write_text("platform,url,platform_post_id,text,reporter\r\n"
                    "x,https://archive.example.org/copy/77,4444444444,archived copy,Archiver\r\n"
                    "x,https://archive.example.org/copy/78,4444444444,archived copy,Archiver\r\n"
                    "instagram,https://archive.example.org/copy/79,4444444444,same id on another platform,Archiver\r\n",
                    encoding="utf-8")
    lines = _by_line(_run(app, db, path, actor=comms))
    assert {line: o.status for line, o in lines.items()} == {2: "joined", 3: "already recorded", 4: "imported"}
    assert lines[2].reference == db.get(Incident, known_id).reference
    reports = db.get(Incident, known_id).reports
    assert [(r.channel, r.reporter, r.post_id) for r in reports][1:] == [("import", "Archiver", reports[0].post_id)]
    assert _count(db, Incident) == 2 and _count(db, Post) == 2
    again = db.scalars(select(AuditEvent).where(AuditEvent.action == "incident.reported_again")).all()
    assert [(e.incident_id, e.data["url"]) for e in again] == [(known_id, "https://archive.example.org/copy/77")]


def test_open_incidents_writes_what_open_incident_writes(app, db, make):
    """The bulk opening (incidents.open_incidents) against the one-incident path, for every workflow."""
    from app.clock import frozen_at
    from app.models import Deadline, IncidentClause
    from app.services.incidents import open_incident, open_incidents

    registry = app.extensions["breachdesk.workflows"]
    admin = db.get(User, make.user("admin").id)
    subject = Person(name="Dr Subject", role="member")
    db.add(subject)
    db.flush()

    def request(key: str, n: int) -> OpenRequest:
        return OpenRequest(workflow_key=key, title=f"Opened {n}", summary="s", subject_id=subject.id,
                           clauses=["rcr:2.8"], post=PostInput(platform="x", url=f"https://x.com/a/status/{n}",
                                                               platform_post_id=str(n), text="text",
                                                               posted_at=datetime(2026, 3, 1, tzinfo=UTC)))

    def rows(incident_id: int) -> dict:
        incident = db.get(Incident, incident_id)
        opened = db.scalar(select(AuditEvent).where(AuditEvent.incident_id == incident_id,
                                                    AuditEvent.action == "incident.opened"))
        return {
            "incident": {k: getattr(incident, k) for k in ("kind", "summary", "side", "workflow_key",
                                                            "workflow_version", "state", "severity", "calendar",
                                                            "restricted", "subject_id", "assignee_id", "team_id",
                                                            "created_by_id", "created_at", "version", "fields")},
            "posts": [(p.platform, p.url.rsplit("/", 1)[0], p.posted_at, p.text_sha256, p.captured_by_id)
                      for p in incident.posts],
            "clauses": [(c.clause_key, c.catalogue_version, c.cited_by_id) for c in
                        db.scalars(select(IncidentClause).where(IncidentClause.incident_id == incident_id))],
            "deadlines": [(d.key, d.title, d.why, d.duration, d.calendar, d.started_at, d.due_at, d.status,
                           d.reminders, d.on_breach, d.paused_seconds) for d in
                          db.scalars(select(Deadline).where(Deadline.incident_id == incident_id).order_by(Deadline.id))],
            "audit": (opened.actor_id, opened.to_state, opened.workflow_version,
                      {**opened.data, "title": None}),
        }

    keys = sorted(registry.current)
    with frozen_at(datetime(2026, 3, 2, 10, 0, tzinfo=UTC)):
        single = [open_incident(db, registry, request(key, 1000 + n), actor=admin, check_role=False).id
                  for n, key in enumerate(keys)]
        bulk = open_incidents(db, registry, [request(key, 2000 + n) for n, key in enumerate(keys)], actor=admin,
                              check_role=False)
    db.commit()
    assert any(registry.get(key).on_open for key in keys)  # some start a deadline on opening
    for key, one, many in zip(keys, single, bulk, strict=True):
        expected, got = rows(one), rows(many.id)
        assert {k: v for k, v in got["incident"].items() if expected["incident"][k] != v} == {}, key
        assert expected == got, key
        assert many.reference.startswith("BD-2026-") and many.post_id is not None
    from app.services.audit import verify_chain

    db.rollback()  # verify_chain reads through a connection of its own
    assert verify_chain(db) is None


def test_the_import_writes_through_a_connection_with_a_small_page_cache(app, db, tmp_path):
    """The dashboards' large SQLite page cache would only hold the pages an import appends to and never reads again
    (bench/RESULTS.md run 19): each batch is written with IMPORT_SQLITE_CACHE_MB."""
    from sqlalchemy import text

    from app import imports_cli

    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("a SQLite setting; PostgreSQL's buffers are the server's")
    path = tmp_path / "posts.csv"
    path.write_text("url\nhttps://x.com/a/status/1\nhttps://x.com/a/status/2\nhttps://x.com/a/status/3\n")
    seen: list[int] = []

    def handle(batch):  # type: ignore[no-untyped-def]
        seen.append(db.execute(text("PRAGMA cache_size")).scalar())
        return []

    assert db.execute(text("PRAGMA cache_size")).scalar() != -imports_cli.IMPORT_SQLITE_CACHE_MB * 1024
    db.rollback()
    source = imports_cli._open(path, None, (), imports.POST_COLUMNS, ("url",))
    imports_cli._run(source, tmp_path / "rejects.csv", 2, "Importing", handle)
    assert seen and set(seen) == {-imports_cli.IMPORT_SQLITE_CACHE_MB * 1024}
